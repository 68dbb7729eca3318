//! SORACOM in memory: the real client ([`rotator::soracom::SoracomClient`]) over a
//! [`Memory`] transport that hands each request to an emulator's request pipeline
//! ([`soracom_emulator::Emulator::exchange`]) without a socket.
//!
//! Everything an answer holds — paging headers, rate-limit headers, error envelopes, the
//! emulator's own faults — is the emulator's; the transport adds the [`Hook`] (refuse,
//! act then fail, act then hang, hold for a person) and takes its time from the run's
//! [`Clock`]. A hung call ends after the client's request timeout, as reqwest's would.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rotator::soracom::transport::{Headers, Request, Response, Transport, MAX_RESPONSE_BYTES};
use rotator::soracom::{Dial, SoracomClient};
use rotator::{Clock, Error, Result};
use rotator_core::config::SoracomSettings;
use rotator_core::endpoint::{AuthKey, Endpoint};
use soracom_emulator::{Emulator, MemoryAnswer, MemoryRequest, Timer};

use super::{Call, Failure, Hook, Port, Verdict};

/// One request to an in-memory emulator: the transport of a client in memory.
#[derive(Clone)]
pub struct Memory {
    emu: Option<Arc<Emulator>>,
    hook: Arc<dyn Hook>,
    clock: Arc<dyn Clock>,
    /// The client's request timeout: how long a hung call takes to fail.
    timeout: Duration,
    /// The monotonic instant the clock's zero stands for (the emulator's rate limit counts
    /// in `Instant`s).
    base: Instant,
}

impl Memory {
    /// A transport to `emu` (`None`: nothing answers at that endpoint).
    pub fn new(
        emu: Option<Arc<Emulator>>,
        hook: Arc<dyn Hook>,
        clock: Arc<dyn Clock>,
        timeout: Duration,
    ) -> Memory {
        Memory {
            emu,
            hook,
            clock,
            timeout,
            base: Instant::now(),
        }
    }

    /// The call as the emulator takes it.
    fn request(req: &Request<'_>) -> MemoryRequest {
        let query = (!req.query.is_empty())
            .then(|| {
                reqwest::Url::parse_with_params("http://memory.invalid/", req.query)
                    .ok()
                    .and_then(|u| u.query().map(str::to_string))
            })
            .flatten();
        let mut headers: Vec<(String, String)> = vec![("accept".into(), "application/json".into())];
        if req.body.is_some() {
            headers.push(("content-type".into(), "application/json".into()));
        }
        headers.extend(
            req.headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_string())),
        );
        MemoryRequest {
            method: req.method.as_str().to_string(),
            path: req.path.to_string(),
            query,
            headers,
            body: req.body.clone().unwrap_or_default(),
        }
    }

    /// No answer: after the request timeout, as the HTTP client would give up.
    async fn no_answer(&self, op: &'static str, why: &str) -> Error {
        self.clock.sleep(self.timeout).await;
        Error::SoracomTransport {
            op,
            message: why.to_string(),
        }
    }

    /// The answer a failure gives.
    async fn fail(&self, op: &'static str, failure: Failure) -> Result<Response> {
        match failure {
            Failure::Timeout => Err(self.no_answer(op, "timed out").await),
            Failure::Status { status, code } => Ok(Response {
                status,
                headers: Headers::new([("content-type".into(), "application/json".into())]),
                body: serde_json::json!({"code": code, "message": "injected failure"})
                    .to_string()
                    .into_bytes(),
            }),
        }
    }
}

impl Transport for Memory {
    async fn send(&self, req: Request<'_>) -> Result<Response> {
        let op = req.op;
        let call = Call {
            port: Port::Soracom,
            op: op.to_string(),
            subject: req.path.to_string(),
            signer: None,
        };
        let verdict = self.hook.on_call(&call).await;
        if let Verdict::Refuse(f) = verdict {
            return self.fail(op, f).await;
        }
        let Some(emu) = &self.emu else {
            return Err(Error::SoracomTransport {
                op,
                message: "could not connect".into(),
            });
        };
        let ms = self.clock.now().unix_timestamp_nanos() / 1_000_000;
        emu.set_now_ms(Some(i64::try_from(ms).unwrap_or(i64::MAX)));
        let clock = self.clock.clone();
        let sleep = move |d: Duration| -> soracom_emulator::Sleep {
            let c = clock.clone();
            Box::pin(async move { c.sleep(d).await })
        };
        let base = self.base;
        let mono = self.clock.clone();
        let now = move || base + mono.monotonic();
        let exchange = emu.exchange(
            Memory::request(&req),
            Timer {
                sleep: &sleep,
                now: &now,
            },
        );
        // The client's request timeout, as reqwest bounds a call: an answer slower than it
        // (a latency fault) is no answer, and the call is not performed.
        let answer = tokio::select! {
            biased;
            a = exchange => a,
            () = self.clock.sleep(self.timeout) => {
                return Err(Error::SoracomTransport {
                    op,
                    message: "timed out".into(),
                })
            }
        };
        match (verdict, answer) {
            // Nothing of SORACOM's answers is altered: the call acts.
            (Verdict::ActThenFail(f), _) => self.fail(op, f).await,
            (Verdict::ActThenHang, _) | (_, MemoryAnswer::Hung) => {
                Err(self.no_answer(op, "timed out").await)
            }
            (_, MemoryAnswer::Dropped) => Err(Error::SoracomTransport {
                op,
                message: "request failed: connection closed before an answer".into(),
            }),
            // As the HTTP transport refuses it, unread.
            (_, MemoryAnswer::Reply { body, .. }) if body.len() > MAX_RESPONSE_BYTES => {
                Err(Error::SoracomTooLarge {
                    op,
                    limit: MAX_RESPONSE_BYTES,
                })
            }
            (
                _,
                MemoryAnswer::Reply {
                    status,
                    headers,
                    body,
                },
            ) => Ok(Response {
                status,
                headers: Headers::new(headers),
                body,
            }),
        }
    }
}

/// Dials in-memory emulators by endpoint: each SORACOM operator of a test is an emulator of
/// its own; an endpoint of none is one nothing answers at.
#[derive(Clone)]
pub struct MemoryDial {
    emulators: Arc<std::sync::Mutex<BTreeMap<String, Arc<Emulator>>>>,
    hook: Arc<dyn Hook>,
    clock: Arc<dyn Clock>,
}

impl MemoryDial {
    /// A dial to `emulators` (each at its [`Emulator::endpoint`]).
    pub fn new(emulators: &[Arc<Emulator>], hook: Arc<dyn Hook>, clock: Arc<dyn Clock>) -> Self {
        MemoryDial {
            emulators: Arc::new(std::sync::Mutex::new(
                emulators
                    .iter()
                    .map(|e| (e.endpoint(), e.clone()))
                    .collect(),
            )),
            hook,
            clock,
        }
    }

    /// Makes `emu` reachable at its endpoint too (another SORACOM operator); every clone of
    /// this dial reaches it.
    pub fn add(&self, emu: Arc<Emulator>) {
        self.emulators
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(emu.endpoint(), emu);
    }
}

impl Dial for MemoryDial {
    type Transport = Memory;

    fn dial(
        &self,
        endpoint: &Endpoint,
        key: AuthKey,
        settings: &SoracomSettings,
    ) -> Result<SoracomClient<Memory>> {
        let emu = self
            .emulators
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&endpoint.0)
            .cloned();
        let transport = Memory::new(
            emu,
            self.hook.clone(),
            self.clock.clone(),
            settings.request_timeout,
        );
        Ok(SoracomClient::over(
            transport,
            key,
            settings.clone(),
            self.clock.clone(),
        ))
    }
}
