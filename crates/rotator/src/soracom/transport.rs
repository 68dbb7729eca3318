//! How a SORACOM request travels: the [`Transport`] the client sends through, and
//! [`Http`], the real one over reqwest.
//!
//! The client (`super::client`) decides everything about a call — login, pacing, retries,
//! the mapping of answers to errors; a transport only carries one request and brings back
//! its status, headers and body (or says it got none). Tests and the simulator put an
//! in-memory transport to the emulator in its place (`testkit::fake::soracom`), so the
//! client under test is the real one.

use std::future::Future;
use std::time::Duration;

use rotator_core::endpoint::Endpoint;

use crate::error::{Error, Result};

/// Largest response body read. The biggest legitimate answer is a page of groups (at most
/// 1,000 groups with their configuration); anything larger is refused, never buffered.
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;

/// An HTTP method the client uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// One request. No `Debug`: its headers and body may hold secrets.
pub struct Request<'a> {
    /// The operation (spec operationId), for errors.
    pub op: &'static str,
    /// The method.
    pub method: Method,
    /// The path under the origin, starting with `/v1`.
    pub path: &'a str,
    /// Query parameters, unencoded.
    pub query: &'a [(&'a str, String)],
    /// Headers beyond `Accept` and `Content-Type` (the API key and token among them).
    pub headers: Vec<(&'static str, &'a str)>,
    /// A JSON body.
    pub body: Option<Vec<u8>>,
}

/// An answer's headers, names in lower case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// Headers from name–value pairs (names are lower-cased).
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Headers {
        Headers(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        )
    }

    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub(crate) fn all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An answer.
#[derive(Clone, Debug, Default)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Its headers.
    pub headers: Headers,
    /// Its body, at most [`MAX_RESPONSE_BYTES`].
    pub body: Vec<u8>,
}

/// Carries one request and brings back its answer; no answer (a connection that failed,
/// timed out or was dropped) is an [`Error::SoracomTransport`].
pub trait Transport: Send + Sync {
    /// Sends `request`.
    fn send(&self, request: Request<'_>) -> impl Future<Output = Result<Response>> + Send;
}

/// The real transport: HTTPS (or HTTP to a loopback emulator) with reqwest, no redirects,
/// bounded time and body.
pub struct Http {
    http: reqwest::Client,
    base: String,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http").field("base", &self.base).finish()
    }
}

impl Http {
    /// A transport to `endpoint`, each request bounded by `timeout`.
    pub(crate) fn new(endpoint: Endpoint, timeout: Duration) -> Result<Http> {
        // reqwest is built without a default crypto provider; ring is the one linked in.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // Redirects are never followed: they would carry the API key and token headers (and,
        // on 307/308, a body with a secret) to wherever the answer points.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("soracom-key-rotator/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::SoracomTransport {
                op: "client",
                message: e.to_string(),
            })?;
        Ok(Http {
            http,
            base: endpoint.0,
        })
    }
}

impl Transport for Http {
    async fn send(&self, request: Request<'_>) -> Result<Response> {
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, request.path))
            .header("Accept", "application/json");
        if !request.query.is_empty() {
            req = req.query(request.query);
        }
        for (name, value) in &request.headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = request.body {
            req = req.header("Content-Type", "application/json").body(body);
        }
        let op = request.op;
        let resp = req.send().await.map_err(|e| Error::SoracomTransport {
            op,
            message: transport_message(&e),
        })?;
        let status = resp.status().as_u16();
        let headers = Headers::new(resp.headers().iter().map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        }));
        let body = read_bounded(op, resp).await?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// The transport error without anything from the request but its URL path.
fn transport_message(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "response body incomplete"
    } else {
        "request failed"
    };
    let mut msg = kind.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// Reads a response body of at most [`MAX_RESPONSE_BYTES`]; a larger one is an error
/// before it is buffered (the request timeout bounds the time).
async fn read_bounded(op: &'static str, mut resp: reqwest::Response) -> Result<Vec<u8>> {
    let too_large = || Error::SoracomTooLarge {
        op,
        limit: MAX_RESPONSE_BYTES,
    };
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    // Each chunk adds bytes and the total is capped, so this ends.
    while let Some(chunk) = resp.chunk().await.map_err(|e| Error::SoracomTransport {
        op,
        message: transport_message(&e),
    })? {
        if body.len().saturating_add(chunk.len()) > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
