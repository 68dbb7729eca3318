//! The HTTP side: the listener, the `/v1` request pipeline and turning replies into responses.
//!
//! Every `/v1` request goes through one handler that reads it whole, routes it, applies
//! latency and faults, lets `handlers` answer, and records it. Connections are wrapped so a
//! fault can close one without sending a byte: once killed, the stream refuses writes and
//! hyper drops the connection.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::faults::{FaultBody, FaultKind};
use crate::handlers::{self, token_expired, Call};
use crate::ratelimit::rate_headers;
use crate::reply::{codes, ApiError, Body, ErrorEnvelope, Reply};
use crate::routes::{resolve, Resolved};
use crate::state::{RecordedRequest, State};

/// The shared state.
pub(crate) type Shared = Arc<Mutex<State>>;

/// Locks the state; a panicked holder cannot leave it half-updated in a way that matters here.
pub(crate) fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Largest request body read.
pub(crate) const MAX_BODY: usize = 1 << 20;

/// `X-Soracom-Ratelimit-Limit` sent by a `RateLimited` fault when no rate limit is set.
const DEFAULT_FAULT_LIMIT: u32 = 60;

/// A switch that closes one connection without an answer.
#[derive(Debug, Clone, Default)]
pub(crate) struct KillSwitch(Arc<AtomicBool>);

impl KillSwitch {
    fn kill(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn killed(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A TCP stream that stops reading and refuses writes once its switch is flipped.
pub(crate) struct KillableStream {
    inner: TcpStream,
    switch: KillSwitch,
}

fn killed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection dropped by fault injection",
    )
}

impl AsyncRead for KillableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.switch.killed() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.switch.killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.switch.killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Per-connection information handed to handlers: the kill switch.
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    switch: KillSwitch,
}

/// A TCP listener whose connections can be killed.
pub(crate) struct KillableListener(pub TcpListener);

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = (SocketAddr, KillSwitch);

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // axum's TcpListener impl retries failed accepts itself.
        let (inner, peer) = Listener::accept(&mut self.0).await;
        let switch = KillSwitch::default();
        (
            KillableStream {
                inner,
                switch: switch.clone(),
            },
            (peer, switch),
        )
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok((self.0.local_addr()?, KillSwitch::default()))
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        Conn {
            switch: stream.remote_addr().1.clone(),
        }
    }
}

/// The whole app: admin routes plus the `/v1` pipeline for everything else.
pub(crate) fn app(shared: Shared) -> Router {
    Router::new()
        .nest("/_emulator", crate::admin::router())
        .fallback(api)
        .with_state(shared)
}

/// What to do with a call.
pub(crate) enum Outcome {
    Answer(Reply),
    /// Close the connection without answering.
    Drop,
    /// The call was performed; hold the connection without answering (counted in `held`).
    Hang,
}

/// A wait of the pipeline (a latency fault).
pub type Sleep = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The pipeline's time: tokio's timer and the machine's monotonic clock on the wire, the
/// caller's clock in memory.
#[derive(Clone, Copy)]
pub struct Timer<'a> {
    /// Waits.
    pub sleep: &'a (dyn Fn(Duration) -> Sleep + Sync),
    /// The monotonic time now.
    pub now: &'a (dyn Fn() -> Instant + Sync),
}

const WIRE: Timer<'static> = Timer {
    sleep: &|d| Box::pin(tokio::time::sleep(d)),
    now: &Instant::now,
};

async fn api(
    AxumState(shared): AxumState<Shared>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let mut record = RecordedRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: None,
        operation: None,
        status: 0,
        at: Instant::now(),
        fault: None,
    };
    let outcome = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => {
            record.body = (!bytes.is_empty()).then(|| bytes.to_vec());
            match process(&shared, &mut record, WIRE).await {
                Outcome::Hang => {
                    // The client is killed meanwhile; if it is not, give up holding after
                    // the bound.
                    tokio::time::sleep(crate::faults::HOLD_LIMIT).await;
                    Outcome::Drop
                }
                other => other,
            }
        }
        Err(_) => {
            let envelope = lock(&shared).envelope;
            Outcome::Answer(
                ApiError::new(413, codes::BODY_TOO_LARGE, "request body too large")
                    .into_reply(envelope),
            )
        }
    };
    let response = match outcome {
        Outcome::Answer(reply) => {
            record.status = reply.status;
            to_response(reply)
        }
        Outcome::Drop | Outcome::Hang => {
            conn.switch.kill();
            record.status = 0;
            // Never written: the killed stream refuses it and hyper closes the connection.
            to_response(Reply::empty(500))
        }
    };
    tracing::debug!(
        method = %record.method,
        path = %record.path,
        operation = record.operation.as_deref().unwrap_or("-"),
        status = record.status,
        "api call"
    );
    lock(&shared).requests.push(record);
    response
}

/// The `/v1` pipeline of one call, on the wire or in memory: latency, routing, faults, the
/// operation. `record.at` becomes the time the operation ran (the rate limit counts by it).
pub(crate) async fn process(
    shared: &Shared,
    record: &mut RecordedRequest,
    timer: Timer<'_>,
) -> Outcome {
    let latency = lock(shared).latency;
    if !latency.is_zero() {
        (timer.sleep)(latency).await;
    }
    let route = match resolve(&record.method, &record.path) {
        Resolved::Found(route) => route,
        Resolved::MethodNotAllowed => {
            let envelope = lock(shared).envelope;
            return Outcome::Answer(
                ApiError::new(405, codes::METHOD_NOT_ALLOWED, "method not allowed")
                    .into_reply(envelope),
            );
        }
        Resolved::NotFound => {
            let envelope = lock(shared).envelope;
            return Outcome::Answer(
                ApiError::new(
                    404,
                    codes::NO_SUCH_ROUTE,
                    format!("no such API: {} {}", record.method, record.path),
                )
                .into_reply(envelope),
            );
        }
    };
    record.operation = Some(route.operation.to_owned());
    let (fault, envelope, limit) = {
        let mut st = lock(shared);
        *st.counts.entry(route.operation.to_owned()).or_insert(0) += 1;
        let fault = st.faults.on_call(route.operation);
        if let Some(kind) = &fault {
            st.fired.push((route.operation.to_owned(), kind.clone()));
        }
        (fault, st.envelope, st.rate.config().map(|r| r.limit))
    };
    record.fault.clone_from(&fault);
    let mut drop_after = false;
    let mut hang_after = false;
    match fault {
        None => {}
        Some(FaultKind::Status { status, body }) => {
            return Outcome::Answer(fault_reply(status, body, envelope))
        }
        Some(FaultKind::RateLimited {
            seconds_before_refresh,
        }) => {
            let mut reply =
                ApiError::new(429, codes::RATE_LIMITED, "rate limit exceeded").into_reply(envelope);
            reply.headers.extend(rate_headers(
                limit.unwrap_or(DEFAULT_FAULT_LIMIT),
                0,
                u64::from(seconds_before_refresh),
            ));
            return Outcome::Answer(reply);
        }
        Some(FaultKind::Latency(delay)) => (timer.sleep)(delay).await,
        Some(FaultKind::Drop) => return Outcome::Drop,
        Some(FaultKind::ExpiredToken) => {
            return Outcome::Answer(token_expired().into_reply(envelope))
        }
        Some(FaultKind::SucceedThenDrop) => drop_after = true,
        Some(FaultKind::SucceedThenHang) => hang_after = true,
    }
    record.at = (timer.now)();
    let reply = {
        let mut st = lock(shared);
        handlers::handle(
            &mut st,
            &Call {
                route: &route,
                headers: &record.headers,
                query: record.query.as_deref(),
                body: record.body.as_deref().unwrap_or_default(),
                now: record.at,
            },
        )
    };
    if hang_after {
        lock(shared).held += 1;
        return Outcome::Hang;
    }
    if drop_after {
        Outcome::Drop
    } else {
        Outcome::Answer(reply)
    }
}

/// The answer of a `FaultKind::Status` fault.
fn fault_reply(status: u16, body: FaultBody, envelope: ErrorEnvelope) -> Reply {
    let error = ApiError::new(status, codes::INJECTED, "injected fault");
    match body {
        FaultBody::Json => error.into_reply(envelope),
        FaultBody::Empty => Reply::empty(status),
        FaultBody::Html => {
            let reason = StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Error");
            let title = format!("{status} {reason}");
            Reply {
                status,
                headers: Vec::new(),
                body: Body::Raw {
                    content_type: "text/html",
                    bytes: format!(
                        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
                    )
                    .into_bytes(),
                },
            }
        }
        FaultBody::WrongType => Reply {
            status,
            headers: Vec::new(),
            body: Body::Raw {
                content_type: "application/json",
                bytes: br#"{"apiKey":7,"token":[],"credentialsId":42,"groupId":{},"configuration":"x","code":false}"#.to_vec(),
            },
        },
        FaultBody::Huge => {
            let mut bytes = Vec::with_capacity(crate::faults::HUGE_BODY);
            bytes.extend_from_slice(b"{\"message\":\"");
            bytes.resize(crate::faults::HUGE_BODY - 2, b'a');
            bytes.extend_from_slice(b"\"}");
            Reply {
                status,
                headers: Vec::new(),
                body: Body::Raw {
                    content_type: "application/json",
                    bytes,
                },
            }
        }
        FaultBody::Truncated => {
            let mut bytes = error.body(envelope).to_string().into_bytes();
            bytes.truncate(bytes.len() / 2);
            Reply {
                status,
                headers: Vec::new(),
                body: Body::Raw {
                    content_type: "application/json",
                    bytes,
                },
            }
        }
    }
}

/// A reply's status, headers (`content-type` first, when there is a body) and body bytes.
pub(crate) fn to_parts(reply: Reply) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let (content_type, bytes) = match reply.body {
        Body::Empty => (None, Vec::new()),
        Body::Json(v) => (Some("application/json"), v.to_string().into_bytes()),
        Body::Raw {
            content_type,
            bytes,
        } => (Some(content_type), bytes),
    };
    let mut headers: Vec<(String, String)> = content_type
        .map(|ct| ("content-type".to_string(), ct.to_string()))
        .into_iter()
        .collect();
    headers.extend(reply.headers);
    (reply.status, headers, bytes)
}

/// Turns a reply into an axum response; invalid statuses or headers degrade, never panic.
pub(crate) fn to_response(reply: Reply) -> Response {
    let (status, pairs, bytes) = to_parts(reply);
    let mut response = Response::new(axum::body::Body::from(bytes));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in pairs {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.append(n, v);
        }
    }
    response
}

/// How long `shutdown` waits for open connections before aborting the server task.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
