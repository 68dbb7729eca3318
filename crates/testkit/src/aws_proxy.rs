//! An HTTP proxy in front of moto that injects AWS faults, per Query-protocol action.
//!
//! The code under test gets the proxy's address as its `AWS_ENDPOINT_URL`. The proxy forwards
//! each request unchanged (method, path, query, headers including `Host` and the SigV4
//! `Authorization`, body) to the upstream and relays the answer, unless a fault added with
//! [`AwsProxy::add_fault`] matches: then it answers with an IAM error document, or closes the
//! connection. It records every call (action, status, signing key) so tests can assert what
//! the code did, e.g. that the new key was used for STS verification.
//!
//! It speaks just enough HTTP/1.1 for the AWS SDK: one request per connection
//! (`Connection: close`), `Content-Length` bodies. It never panics on what a client sends.

use crate::contract::percent_decode;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Largest request head (request line + headers) accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted.
const MAX_BODY: usize = 8 * 1024 * 1024;
/// Time a client gets to send its whole request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time the upstream gets to answer.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on one connection's whole life (read, upstream, write).
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);

/// What a fault does to a matching call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsFaultKind {
    /// 500 `InternalFailure` (the SDK retries it).
    InternalError,
    /// 400 `Throttling` (the SDK retries it).
    Throttling,
    /// 403 `AccessDenied`.
    AccessDenied,
    /// 409 `LimitExceeded`.
    LimitExceeded,
    /// 404 `NoSuchEntity`.
    NoSuchEntity,
    /// Close the connection without an answer; the upstream is not called (the SDK retries).
    Drop,
    /// Forward to the upstream (so its state changes), then close the connection without
    /// relaying the answer: the client cannot know that the call succeeded.
    SucceedThenDrop,
    /// Do not forward; hold the connection without answering for at most [`HOLD_LIMIT`]
    /// (a server that never answers: the client's own timeout must fire).
    Hang,
    /// Forward to the upstream (its state changes), count the call in [`AwsProxy::held`],
    /// then hold the connection without answering for at most [`HOLD_LIMIT`]: a test kills
    /// the client meanwhile, which models a process that died right after its call
    /// succeeded.
    SucceedThenHang,
    /// Forward to the upstream and relay the answer with every `SecretAccessKey` in it
    /// replaced by another of the same length: the client holds a key id with a wrong
    /// secret (what a registration that sends a wrong secret looks like to IAM).
    AlterSecret,
    /// Wait this long, then forward and relay as usual: holds the client at this call
    /// (for a test that acts meanwhile, as a second run or a person would).
    Delay(Duration),
    /// Answer with this status and a body that is no AWS error document (what a load
    /// balancer or a proxy in between answers), with a request id header
    /// (`unparseable-<status>`): the SDK cannot read a code from it. The upstream is not
    /// called.
    Unparseable(u16),
}

/// The body of an [`AwsFaultKind::Unparseable`] answer: HTML, as a proxy would send.
pub const UNPARSEABLE_BODY: &str =
    "<html><head><title>Bad answer</title></head><body>upstream said no</body></html>";

/// The longest a `Hang` or `SucceedThenHang` call holds its connection.
pub const HOLD_LIMIT: Duration = Duration::from_secs(30);

impl AwsFaultKind {
    /// HTTP status, error code and type of the error document, for the error kinds.
    fn error(self) -> Option<(u16, &'static str, &'static str)> {
        match self {
            AwsFaultKind::InternalError => Some((500, "InternalFailure", "Receiver")),
            AwsFaultKind::Throttling => Some((400, "Throttling", "Sender")),
            AwsFaultKind::AccessDenied => Some((403, "AccessDenied", "Sender")),
            AwsFaultKind::LimitExceeded => Some((409, "LimitExceeded", "Sender")),
            AwsFaultKind::NoSuchEntity => Some((404, "NoSuchEntity", "Sender")),
            AwsFaultKind::Drop
            | AwsFaultKind::SucceedThenDrop
            | AwsFaultKind::Hang
            | AwsFaultKind::SucceedThenHang
            | AwsFaultKind::AlterSecret
            | AwsFaultKind::Delay(_)
            | AwsFaultKind::Unparseable(_) => None,
        }
    }
}

/// A fault to inject: calls `nth ..= nth + times - 1` among the calls matching `action`,
/// counted from when the fault was added, get `kind`.
///
/// The AWS SDK itself retries (3 attempts with the default retry config) on 5xx,
/// `Throttling` and dropped connections, and each attempt is a call here. To make such a
/// failure visible to the code under test, use `times >= 3` or `times = 0` (forever);
/// `times = 1` tests that the SDK's own retry absorbs it. `AccessDenied`, `LimitExceeded` and
/// `NoSuchEntity` are not retried. `SucceedThenDrop` is retried like `Drop`, and the retry
/// then meets the changed state (e.g. a second key): `times = 1` models "it happened but the
/// client never heard".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsFault {
    /// Query action, e.g. `CreateAccessKey`, or `*` for every call.
    pub action: String,
    /// 1-based index of the first matching call that fails (0 acts as 1).
    pub nth: u32,
    /// Number of consecutive matching calls that fail; 0 means every one from `nth` on.
    pub times: u32,
    /// What happens to those calls.
    pub kind: AwsFaultKind,
}

impl AwsFault {
    /// Every call of `action` from now on gets `kind`.
    pub fn always(action: &str, kind: AwsFaultKind) -> AwsFault {
        AwsFault {
            action: action.to_string(),
            nth: 1,
            times: 0,
            kind,
        }
    }

    /// The next `times` calls of `action` get `kind`.
    pub fn next(action: &str, times: u32, kind: AwsFaultKind) -> AwsFault {
        AwsFault {
            action: action.to_string(),
            nth: 1,
            times,
            kind,
        }
    }
}

/// One call seen by the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsCall {
    /// Query action (`Action=` of the form body or query), or `""` if none.
    pub action: String,
    /// HTTP status the client got; 0 when the connection was dropped.
    pub status: u16,
    /// Access key id from the SigV4 `Authorization` header (`Credential=<id>/…`).
    pub access_key_id: Option<String>,
    /// The fault applied, if any.
    pub fault: Option<AwsFaultKind>,
    /// The error code of the answer (`<Code>` of an IAM/STS error document), if it was one.
    pub error_code: Option<String>,
    /// Every `SecretAccessKey` the upstream answered with (a `CreateAccessKey`), whether or
    /// not the client got the answer, and any replacement an `AlterSecret` fault sent: the
    /// secrets tests look for in what the client printed.
    pub secrets: Vec<String>,
}

struct ActiveFault {
    fault: AwsFault,
    seen: u32,
}

#[derive(Default)]
struct State {
    faults: Vec<ActiveFault>,
    calls: Vec<AwsCall>,
    held: u64,
}

struct Shared {
    upstream: String,
    http: reqwest::Client,
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another connection task panicked; the data is still fine.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts this call against every fault for its action; returns the first that fires.
    fn fault_for(&self, action: &str) -> Option<AwsFaultKind> {
        let mut state = self.state();
        let mut fired = None;
        for f in state.faults.iter_mut() {
            if f.fault.action != "*" && f.fault.action != action {
                continue;
            }
            f.seen = f.seen.saturating_add(1);
            let start = f.fault.nth.max(1);
            let in_window =
                f.seen >= start && (f.fault.times == 0 || f.seen - start < f.fault.times);
            if in_window && fired.is_none() {
                fired = Some(f.fault.kind);
            }
        }
        fired
    }

    fn record(&self, call: AwsCall) {
        self.state().calls.push(call);
    }
}

/// The fault proxy. Stops when [`AwsProxy::shutdown`] is called or it is dropped.
pub struct AwsProxy {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for AwsProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.upstream)
            .finish()
    }
}

impl AwsProxy {
    /// Starts a proxy on 127.0.0.1 (a free port) forwarding to `upstream`, e.g. moto's
    /// `http://127.0.0.1:PORT`.
    pub async fn start(upstream: &str) -> std::io::Result<AwsProxy> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(UPSTREAM_TIMEOUT)
            .build()
            .map_err(std::io::Error::other)?;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            http,
            state: Mutex::new(State::default()),
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, shared.clone(), stopped));
        Ok(AwsProxy {
            addr,
            shared,
            stop,
            task: Some(task),
        })
    }

    /// The proxy's address, `http://127.0.0.1:PORT`, to use as `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a fault; its call count starts now. Faults are checked in the order added and
    /// the first that fires applies (all matching faults count the call).
    pub fn add_fault(&self, fault: AwsFault) {
        self.shared
            .state()
            .faults
            .push(ActiveFault { fault, seen: 0 });
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.shared.state().faults.clear();
    }

    /// Every call so far, in order of arrival.
    pub fn calls(&self) -> Vec<AwsCall> {
        self.shared.state().calls.clone()
    }

    /// Calls a `SucceedThenHang` fault forwarded and is holding (or held) unanswered.
    pub fn held(&self) -> u64 {
        self.shared.state().held
    }

    /// Number of calls per action so far.
    pub fn call_counts(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for call in self.shared.state().calls.iter() {
            *counts.entry(call.action.clone()).or_insert(0) += 1;
        }
        counts
    }

    /// Stops accepting connections and waits (at most 5 s) for the accept loop to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for AwsProxy {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            accepted = listener.accept() => {
                // Accept errors (e.g. too many open files) are transient: keep serving.
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(tokio::time::timeout(CONNECTION_TIMEOUT, handle(stream, shared.clone())));
                }
            }
        }
    }
}

/// A parsed request, as received.
struct Incoming {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

async fn handle(mut stream: TcpStream, shared: Arc<Shared>) {
    let req = match tokio::time::timeout(READ_TIMEOUT, read_request(&mut stream)).await {
        Ok(Ok(req)) => req,
        Ok(Err(ReadError::Closed)) | Err(_) => return,
        Ok(Err(ReadError::Bad(status, reason))) => {
            let _ = write_plain(&mut stream, status, reason).await;
            return;
        }
    };
    let action = query_action(&req);
    let access_key_id = header(&req.headers, "authorization").and_then(credential_key_id);
    let fault = shared.fault_for(&action);
    let call = |status: u16, error_code: Option<String>, secrets: Vec<String>| AwsCall {
        action: action.clone(),
        status,
        access_key_id: access_key_id.clone(),
        fault,
        error_code,
        secrets,
    };
    // What the client gets: `None` = the connection is dropped.
    let answer: Option<Answer> = match fault {
        Some(AwsFaultKind::Drop) => None,
        Some(AwsFaultKind::SucceedThenDrop) => {
            let upstream = forward(&shared, &req).await.ok();
            shared.record(call(
                0,
                None,
                upstream.map(|a| secrets_in(&a.body)).unwrap_or_default(),
            ));
            let _ = stream.shutdown().await;
            return;
        }
        Some(AwsFaultKind::Hang) => {
            shared.record(call(0, None, Vec::new()));
            tokio::time::sleep(HOLD_LIMIT).await;
            return;
        }
        Some(AwsFaultKind::SucceedThenHang) => {
            let upstream = forward(&shared, &req).await.ok();
            shared.record(call(
                0,
                None,
                upstream.map(|a| secrets_in(&a.body)).unwrap_or_default(),
            ));
            shared.state().held += 1;
            tokio::time::sleep(HOLD_LIMIT).await;
            return;
        }
        Some(AwsFaultKind::Delay(d)) => {
            tokio::time::sleep(d.min(HOLD_LIMIT)).await;
            Some(match forward(&shared, &req).await {
                Ok(response) => response,
                Err(e) => upstream_failed(&e),
            })
        }
        Some(AwsFaultKind::AlterSecret) => Some(match forward(&shared, &req).await {
            Ok(mut response) => {
                response.body = alter_secrets(&response.body);
                response
            }
            Err(e) => upstream_failed(&e),
        }),
        Some(AwsFaultKind::Unparseable(status)) => Some(Answer {
            status,
            headers: vec![
                ("content-type".to_string(), "text/html".to_string()),
                (
                    "x-amzn-requestid".to_string(),
                    format!("unparseable-{status}"),
                ),
            ],
            body: UNPARSEABLE_BODY.as_bytes().to_vec(),
        }),
        Some(kind) => kind.error().map(|(status, code, kind_type)| Answer {
            status,
            // As IAM does, the request id in a header too (the SDK reads it from there).
            headers: vec![
                ("content-type".to_string(), "text/xml".to_string()),
                (
                    "x-amzn-requestid".to_string(),
                    "testkit-aws-proxy-fault".to_string(),
                ),
            ],
            body: error_document(code, kind_type).into_bytes(),
        }),
        None => Some(match forward(&shared, &req).await {
            Ok(response) => response,
            Err(e) => upstream_failed(&e),
        }),
    };
    // Recorded before answering, so a test that got its answer also sees the call.
    let recorded = match &answer {
        None => call(0, None, Vec::new()),
        Some(a) => {
            let mut secrets = secrets_in(&a.body);
            if fault == Some(AwsFaultKind::AlterSecret) {
                // The original secrets went to the upstream's answer before the change.
                secrets.extend(secrets_in(&unalter_secrets(&a.body)));
            }
            call(a.status, tag_value(&a.body, "Code"), secrets)
        }
    };
    shared.record(recorded);
    if let Some(a) = answer {
        let _ = write_response(&mut stream, a.status, &a.headers, &a.body).await;
    }
    let _ = stream.shutdown().await;
}

fn upstream_failed(e: &str) -> Answer {
    Answer {
        status: 502,
        headers: vec![("content-type".to_string(), "text/plain".to_string())],
        body: format!("upstream failed: {e}").into_bytes(),
    }
}

/// The text of the first `<tag>…</tag>` in an XML body.
fn tag_value(body: &[u8], tag: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let open = format!("<{tag}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find('<')? + start;
    Some(text[start..end].to_string())
}

/// Every `<SecretAccessKey>` value in an XML body.
fn secrets_in(body: &[u8]) -> Vec<String> {
    let Ok(text) = std::str::from_utf8(body) else {
        return Vec::new();
    };
    let open = "<SecretAccessKey>";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(open) {
        rest = &rest[i + open.len()..];
        let Some(end) = rest.find('<') else { break };
        out.push(rest[..end].to_string());
        rest = &rest[end..];
    }
    out
}

/// Maps every character of a secret to another in the same class (a letter to the next
/// letter, a digit to the next digit), so the result has the secret's length and shape.
fn shift_secret(secret: &str, forward: bool) -> String {
    let rotate = |c: char, base: u8, n: u8| {
        let i = c as u8 - base;
        let j = if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        };
        (base + j) as char
    };
    secret
        .chars()
        .map(|c| match c {
            'a'..='z' => rotate(c, b'a', 26),
            'A'..='Z' => rotate(c, b'A', 26),
            '0'..='9' => rotate(c, b'0', 10),
            other => other,
        })
        .collect()
}

fn replace_secrets(body: &[u8], forward: bool) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(body) else {
        return body.to_vec();
    };
    let mut out = text.to_string();
    for secret in secrets_in(body) {
        out = out.replace(
            &format!("<SecretAccessKey>{secret}<"),
            &format!("<SecretAccessKey>{}<", shift_secret(&secret, forward)),
        );
    }
    out.into_bytes()
}

fn alter_secrets(body: &[u8]) -> Vec<u8> {
    replace_secrets(body, true)
}

fn unalter_secrets(body: &[u8]) -> Vec<u8> {
    replace_secrets(body, false)
}

enum ReadError {
    /// The client went away before sending a whole request.
    Closed,
    /// The request is malformed or too large: answer with this status.
    Bad(u16, &'static str),
}

async fn read_request(stream: &mut TcpStream) -> Result<Incoming, ReadError> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(pos) = find(&buf, b"\r\n\r\n") {
            break pos;
        }
        if buf.len() > MAX_HEAD {
            return Err(ReadError::Bad(431, "request head too large"));
        }
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|_| ReadError::Closed)?;
        if n == 0 {
            return Err(ReadError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| ReadError::Bad(400, "request head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target) = match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v))
            if !m.is_empty() && t.starts_with('/') && v.starts_with("HTTP/") =>
        {
            (m.to_string(), t.to_string())
        }
        _ => return Err(ReadError::Bad(400, "malformed request line")),
    };
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(ReadError::Bad(400, "malformed header line"));
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    if header(&headers, "transfer-encoding").is_some() {
        return Err(ReadError::Bad(
            501,
            "chunked request bodies are not supported",
        ));
    }
    let length = match header(&headers, "content-length") {
        None => 0,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| ReadError::Bad(400, "bad content-length"))?,
    };
    if length > MAX_BODY {
        return Err(ReadError::Bad(413, "request body too large"));
    }
    let mut body = buf.split_off(head_end + 4);
    while body.len() < length {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|_| ReadError::Closed)?;
        if n == 0 {
            return Err(ReadError::Closed);
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok(Incoming {
        method,
        target,
        headers,
        body,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Hop-by-hop headers (and the length, which is recomputed) are not relayed.
fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "content-length"
    )
}

/// A response to send back.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

async fn forward(shared: &Shared, req: &Incoming) -> Result<Answer, String> {
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).map_err(|e| e.to_string())?;
    let url = format!("{}{}", shared.upstream, req.target);
    let mut builder = shared.http.request(method, url);
    for (name, value) in &req.headers {
        if !is_hop_by_hop(name) {
            // Host is kept as the client sent it: it is part of the SigV4 signature.
            builder = builder.header(name.as_str(), value.as_str());
        }
    }
    let resp = builder
        .body(req.body.clone())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .filter(|(n, _)| !is_hop_by_hop(n.as_str()))
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    Ok(Answer {
        status,
        headers,
        body: body.to_vec(),
    })
}

async fn write_response(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await
}

async fn write_plain(stream: &mut TcpStream, status: u16, text: &str) -> std::io::Result<()> {
    let headers = [("content-type".to_string(), "text/plain".to_string())];
    write_response(stream, status, &headers, text.as_bytes()).await
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        _ => "Status",
    }
}

/// An error in the IAM Query XML shape the SDK parses.
fn error_document(code: &str, kind: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\
         <Error><Type>{kind}</Type><Code>{code}</Code>\
         <Message>injected by testkit::aws_proxy: {code}</Message></Error>\
         <RequestId>testkit-aws-proxy-fault</RequestId></ErrorResponse>"
    )
}

/// The `Action` of an AWS Query request: from the form body, else from the query string.
fn query_action(req: &Incoming) -> String {
    let from_body = std::str::from_utf8(&req.body)
        .ok()
        .and_then(|b| form_value(b, "Action"));
    let from_query = || {
        req.target
            .split_once('?')
            .and_then(|(_, q)| form_value(q, "Action"))
    };
    from_body.or_else(from_query).unwrap_or_default()
}

fn form_value(form: &str, key: &str) -> Option<String> {
    form.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (percent_decode(k, true) == key).then(|| percent_decode(v, true))
    })
}

/// `AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/iam/aws4_request, …` → `AKID`.
fn credential_key_id(authorization: &str) -> Option<String> {
    let start = authorization.find("Credential=")? + "Credential=".len();
    let rest = &authorization[start..];
    let id = rest.split(['/', ',', ' ']).next()?;
    (!id.is_empty()).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_credential_and_form() {
        assert_eq!(
            credential_key_id(
                "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261128/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=ab"
            )
            .as_deref(),
            Some("AKIAEXAMPLE")
        );
        assert_eq!(credential_key_id("Bearer x"), None);
        assert_eq!(
            form_value(
                "Version=2010-05-08&Action=CreateAccessKey&UserName=a%2Bb",
                "Action"
            )
            .as_deref(),
            Some("CreateAccessKey")
        );
        assert_eq!(percent_decode("a%2Bb+c%zz%4", true), "a+b c%zz%4");
    }

    #[test]
    fn finds_and_alters_secrets() {
        let body = b"<CreateAccessKeyResult><AccessKey><AccessKeyId>AKIA1</AccessKeyId>\
            <SecretAccessKey>abZ9/x</SecretAccessKey></AccessKey></CreateAccessKeyResult>";
        assert_eq!(secrets_in(body), ["abZ9/x"]);
        let altered = alter_secrets(body);
        assert_eq!(secrets_in(&altered), ["bcA0/y"]);
        assert_eq!(secrets_in(&unalter_secrets(&altered)), ["abZ9/x"]);
        assert_eq!(
            tag_value(b"<Error><Code>LimitExceeded</Code></Error>", "Code").as_deref(),
            Some("LimitExceeded")
        );
    }
}
