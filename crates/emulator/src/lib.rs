//! A stateful emulator of the SORACOM API subset soracom-key-rotator uses, with fault
//! injection.
//!
//! Tests start it in-process with [`Emulator::start`] (127.0.0.1, a free port), seed data,
//! arm faults, point the client at [`Emulator::endpoint`] and afterwards inspect state and
//! the recorded requests. The `soracom-emulator` binary serves the same thing for demos,
//! with an admin API under `/_emulator`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod admin;
mod faults;
mod handlers;
mod logs;
mod paging;
mod ratelimit;
mod reply;
mod routes;
mod server;
mod state;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use faults::{Fault, FaultBody, FaultKind, RoleRefusal, HOLD_LIMIT, HUGE_BODY};
pub use logs::{LogEntry, LogLevel, LogResourceType, LogService};
pub use paging::PagingMode;
pub use ratelimit::RateLimit;
pub use reply::ErrorEnvelope;
pub use state::{RecordedRequest, StoredCredential};

use server::{lock, Shared};
use state::AuthKey;

/// Creation time of the seeded credential set: 2022-08-10T00:00:00Z.
const SEED_CREATED_MS: i64 = 1_660_089_600_000;
/// The seed's credential set id (the original post's naming).
const SEED_SET_ID: &str = "aws-soracom-funnel-sample-220810";

/// The seed's SoracomFunnel configuration, using the seed's credential set.
fn seed_funnel_config() -> Value {
    json!({
        "credentialsId": SEED_SET_ID,
        "enabled": true,
        "contentType": "application/json",
        "destination": {
            "provider": "aws",
            "service": "aws-iot",
            "resourceUrl": "https://xxxx.iot.ap-northeast-1.amazonaws.com/soracom/%{imsi}",
        },
    })
}

/// A running emulator. Dropping it stops the server too; [`Emulator::shutdown`] also waits.
pub struct Emulator {
    addr: SocketAddr,
    shared: Shared,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// A request handed to an in-memory emulator ([`Emulator::exchange`]).
#[derive(Clone, Default)]
pub struct MemoryRequest {
    /// HTTP method, e.g. `PUT`.
    pub method: String,
    /// Path, e.g. `/v1/groups`.
    pub path: String,
    /// Raw query string, without `?`, percent-encoded as on the wire.
    pub query: Option<String>,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
}

/// What an in-memory emulator did with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemoryAnswer {
    /// An answer.
    Reply {
        /// HTTP status.
        status: u16,
        /// Headers, `content-type` among them when there is a body.
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// The connection was closed without an answer.
    Dropped,
    /// The call was performed and then never answered (a `SucceedThenHang` fault).
    Hung,
}

pub use server::{Sleep, Timer};

/// Pseudo-ports of in-memory emulators, so each has an endpoint of its own.
static MEMORY_PORTS: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(1);

impl Emulator {
    /// Binds 127.0.0.1:0 and serves in a tokio task.
    pub async fn start() -> std::io::Result<Emulator> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Binds the given address and serves in a tokio task.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Emulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Shared::default();
        let app = server::app(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let serve = axum::serve(
            server::KillableListener(listener),
            app.into_make_service_with_connect_info::<server::Conn>(),
        )
        .with_graceful_shutdown(async move {
            let _ = rx.await;
        });
        let task = tokio::spawn(async move {
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "emulator server stopped with an error");
            }
        });
        tracing::info!(%addr, "SORACOM emulator listening");
        Ok(Emulator {
            addr,
            shared,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// An emulator without a listener, reached only with [`Emulator::exchange`]; its ids
    /// and tokens come from `seed`, so the same calls give the same answers. Its
    /// [`Emulator::endpoint`] names it (a loopback origin nothing listens on).
    pub fn in_memory(seed: u64) -> Emulator {
        let port = MEMORY_PORTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Emulator {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            shared: std::sync::Arc::new(std::sync::Mutex::new(state::State::seeded(seed))),
            shutdown: None,
            task: None,
        }
    }

    /// Handles `request` as the server would — latency, routing, faults, the operation —
    /// and records it, waiting and reading the time with `timer`.
    pub async fn exchange(&self, request: MemoryRequest, timer: Timer<'_>) -> MemoryAnswer {
        let mut record = RecordedRequest {
            method: request.method,
            path: request.path,
            query: request.query,
            headers: request
                .headers
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            body: (!request.body.is_empty()).then_some(request.body),
            operation: None,
            status: 0,
            at: (timer.now)(),
            fault: None,
        };
        if record
            .body
            .as_ref()
            .is_some_and(|b| b.len() > server::MAX_BODY)
        {
            // As the server refuses it, before routing it (and without keeping it).
            record.body = None;
            let envelope = lock(&self.shared).envelope;
            let reply =
                reply::ApiError::new(413, reply::codes::BODY_TOO_LARGE, "request body too large")
                    .into_reply(envelope);
            record.status = reply.status;
            lock(&self.shared).requests.push(record);
            let (status, headers, body) = server::to_parts(reply);
            return MemoryAnswer::Reply {
                status,
                headers,
                body,
            };
        }
        let outcome = server::process(&self.shared, &mut record, timer).await;
        let answer = match outcome {
            server::Outcome::Answer(reply) => {
                record.status = reply.status;
                let (status, headers, body) = server::to_parts(reply);
                MemoryAnswer::Reply {
                    status,
                    headers,
                    body,
                }
            }
            server::Outcome::Drop => MemoryAnswer::Dropped,
            // On the wire a held call is never recorded: the client gives up first and the
            // server drops it. The same here.
            server::Outcome::Hang => return MemoryAnswer::Hung,
        };
        lock(&self.shared).requests.push(record);
        answer
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The origin without `/v1`, e.g. `http://127.0.0.1:41234`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The emulated operator's id.
    pub fn operator_id(&self) -> String {
        lock(&self.shared).operator_id.clone()
    }

    /// Accepts this AuthKey as a root user's key (the auth response has no `userName`).
    pub fn add_auth_key(&self, auth_key_id: &str, auth_key: &str) {
        self.insert_auth_key(auth_key_id, auth_key, None);
    }

    /// Accepts this AuthKey as a SAM user's key (the auth response includes `userName`).
    pub fn add_sam_auth_key(&self, auth_key_id: &str, auth_key: &str, user_name: &str) {
        self.insert_auth_key(auth_key_id, auth_key, Some(user_name.to_owned()));
    }

    fn insert_auth_key(&self, id: &str, secret: &str, user_name: Option<String>) {
        let mut st = lock(&self.shared);
        let now_ms = st.now_ms();
        st.issued_auth_keys.push(secret.to_owned());
        st.auth_keys.insert(
            id.to_owned(),
            AuthKey {
                secret: secret.to_owned(),
                user_name,
                created_ms: now_ms,
            },
        );
    }

    /// The ids of the AuthKeys the emulator accepts, sorted.
    pub fn auth_key_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = lock(&self.shared).auth_keys.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Seeds the original project's scenario: credential set
    /// `aws-soracom-funnel-sample-220810` holding the given AWS key, and groups `test-1` and
    /// `test-2` whose SoracomFunnel configuration uses it.
    pub fn seed_funnel_sample(&self, access_key_id: &str, secret_access_key: &str) {
        self.seed_credential(access_key_id, secret_access_key);
        for name in ["test-1", "test-2"] {
            self.add_group(name, json!({"SoracomFunnel": seed_funnel_config()}));
        }
    }

    /// The seed's credential set, created on the seed's date.
    fn seed_credential(&self, access_key_id: &str, secret_access_key: &str) {
        self.put_credential(
            SEED_SET_ID,
            "aws-credentials",
            "",
            json!({"accessKeyId": access_key_id, "secretAccessKey": secret_access_key}),
            SEED_CREATED_MS,
        );
    }

    /// Seeds a scale scenario: credential set `aws-soracom-funnel-sample-220810` holding the
    /// given AWS key, and `groups` groups named `scale-00001`, … of which `referencing`
    /// (spread evenly over the list, so over every page) use it in their SoracomFunnel
    /// configuration; the others have only a SoracomAir configuration. `referencing` is
    /// capped at `groups`.
    pub fn seed_scale(
        &self,
        access_key_id: &str,
        secret_access_key: &str,
        groups: usize,
        referencing: usize,
    ) {
        self.seed_credential(access_key_id, secret_access_key);
        let referencing = referencing.min(groups);
        let mut st = lock(&self.shared);
        for i in 0..groups {
            // Group i references when the running share of referencing groups steps up.
            let refers = (i + 1) * referencing / groups.max(1) > i * referencing / groups.max(1);
            let mut configuration = json!({"SoracomAir": {"metadata": {"enabled": true}}});
            if refers {
                configuration["SoracomFunnel"] = seed_funnel_config();
            }
            st.add_group(&format!("scale-{:05}", i + 1), configuration);
        }
    }

    /// Adds a group tagged `{name}` with the given configuration (namespace → object);
    /// returns its groupId. A non-object configuration counts as empty.
    pub fn add_group(&self, name: &str, configuration: Value) -> String {
        lock(&self.shared).add_group(name, configuration)
    }

    /// Adds an event handler; it gets a generated `handlerId` unless it has one. Returns the id.
    pub fn add_event_handler(&self, handler: Value) -> String {
        lock(&self.shared).add_event_handler(handler)
    }

    /// Stores a credential set directly, bypassing the API, created (and updated) at `created_ms`.
    pub fn put_credential(
        &self,
        id: &str,
        kind: &str,
        description: &str,
        credentials: Value,
        created_ms: i64,
    ) {
        lock(&self.shared).credentials.insert(
            id.to_owned(),
            StoredCredential {
                id: id.to_owned(),
                kind: kind.to_owned(),
                description: description.to_owned(),
                credentials,
                create_ms: created_ms,
                update_ms: created_ms,
                last_used_ms: 0,
            },
        );
    }

    /// Deletes a credential set directly, as a person in the console would; whether it was
    /// there.
    pub fn remove_credential(&self, id: &str) -> bool {
        lock(&self.shared).credentials.remove(id).is_some()
    }

    /// Replaces namespace `namespace` of group `group_id`'s configuration with `value`, as a
    /// person in the console would (the group's `lastModifiedTime` moves); whether the group
    /// was there.
    pub fn set_group_namespace(&self, group_id: &str, namespace: &str, value: Value) -> bool {
        let mut st = lock(&self.shared);
        let now = st.now_ms();
        let Some(group) = st.groups.get_mut(group_id) else {
            return false;
        };
        group.configuration.insert(namespace.to_owned(), value);
        group.modified_ms = now;
        true
    }

    /// The ids of all credential sets, sorted.
    pub fn credential_ids(&self) -> Vec<String> {
        lock(&self.shared).credentials.keys().cloned().collect()
    }

    /// One credential set as stored, secret included.
    pub fn credential(&self, id: &str) -> Option<StoredCredential> {
        lock(&self.shared).credentials.get(id).cloned()
    }

    /// Every group as the API shows it, ordered by groupId.
    pub fn groups(&self) -> Vec<Value> {
        lock(&self.shared).group_models()
    }

    /// The first group (by groupId) whose `name` tag is `name`.
    pub fn group_by_name(&self, name: &str) -> Option<Value> {
        let st = lock(&self.shared);
        st.groups
            .values()
            .find(|g| g.name() == Some(name))
            .map(|g| g.model(&st.operator_id))
    }

    /// Every event handler, ordered by handlerId.
    pub fn event_handlers(&self) -> Vec<Value> {
        lock(&self.shared)
            .event_handlers
            .values()
            .cloned()
            .collect()
    }

    /// Adds a VPG `vpg_id` (replacing one of that id) whose Junction inspection
    /// configuration (`JunctionInspectionConfiguration`: `enabled`, and `report` holding a
    /// Funnel configuration with `credentialsId`) is `inspection`; anything but an object
    /// means none is set.
    pub fn add_vpg(&self, vpg_id: &str, inspection: Value) {
        let inspection = match inspection {
            Value::Object(m) => Some(m),
            _ => None,
        };
        lock(&self.shared).add_vpg(vpg_id, inspection);
    }

    /// Every VPG as the API shows it, ordered by vpgId.
    pub fn vpgs(&self) -> Vec<Value> {
        lock(&self.shared).vpg_models()
    }

    /// One VPG as the API shows it.
    pub fn vpg(&self, vpg_id: &str) -> Option<Value> {
        let st = lock(&self.shared);
        st.vpgs.get(vpg_id).map(|v| v.model(&st.operator_id))
    }

    /// A VPG's inspection configuration as last set; `None` when the VPG does not exist or
    /// has none.
    pub fn vpg_inspection(&self, vpg_id: &str) -> Option<Value> {
        lock(&self.shared)
            .vpgs
            .get(vpg_id)
            .and_then(|v| v.inspection.clone())
            .map(Value::Object)
    }

    /// Writes an error log entry, as a SORACOM service would; `GET /v1/logs` lists it.
    pub fn emit_log(&self, entry: LogEntry) {
        lock(&self.shared).emit_log(entry);
    }

    /// Every error log entry as the API shows it, newest first.
    pub fn logs(&self) -> Vec<Value> {
        lock(&self.shared).log_models()
    }

    /// The most items one page of a paged list (`GET /v1/groups`, …) holds (default 100);
    /// `limit` can lower it.
    pub fn set_page_size(&self, n: usize) {
        lock(&self.shared).page_size = n.max(1);
    }

    /// Refuses (400) a paged list's `limit` above `max` from now on; `None` (the default)
    /// accepts any positive `limit`. Models an API that refuses a large `limit`.
    pub fn set_max_limit(&self, max: Option<usize>) {
        lock(&self.shared).max_limit = max;
    }

    /// How paged lists lead to the next page from now on (default
    /// [`PagingMode::Documented`]).
    pub fn set_paging_mode(&self, mode: PagingMode) {
        lock(&self.shared).paging = mode;
    }

    /// Fixes the emulator clock (epoch ms) used for timestamps and token expiry; `None`
    /// returns to system time.
    pub fn set_now_ms(&self, now: Option<i64>) {
        lock(&self.shared).fixed_now_ms = now;
    }

    /// Moves the emulator clock: system time plus `offset_ms` (it keeps moving, as a clock
    /// a test travels with does); unfixes a fixed clock.
    pub fn set_clock_offset_ms(&self, offset_ms: i64) {
        let mut st = lock(&self.shared);
        st.fixed_now_ms = None;
        st.clock_offset_ms = offset_ms;
    }

    /// The lifetime of tokens issued from now on when the auth request does not set one
    /// (default 24 h).
    pub fn set_token_ttl(&self, ttl: Duration) {
        lock(&self.shared).token_ttl = ttl;
    }

    /// Expires every token issued so far.
    pub fn expire_tokens(&self) {
        for token in lock(&self.shared).tokens.values_mut() {
            token.revoked = true;
        }
    }

    /// Sets a credential set's `lastUsedDateTime` (traffic through it at `at_ms`); unknown
    /// ids are ignored.
    pub fn mark_credential_used(&self, id: &str, at_ms: i64) {
        if let Some(c) = lock(&self.shared).credentials.get_mut(id) {
            c.last_used_ms = at_ms;
        }
    }

    /// Leaves `credentials.accessKeyId` out of every credential answer from now on (`true`),
    /// or shows it again (`false`, the default). Models an API answer without it.
    pub fn set_omit_access_key_id(&self, omit: bool) {
        lock(&self.shared).omit_access_key_id = omit;
    }

    /// From now on these holders refuse role credential sets (400, not performed); an empty
    /// list accepts them everywhere again.
    pub fn set_role_refusals(&self, refusals: Vec<RoleRefusal>) {
        lock(&self.shared).role_refusals = refusals;
    }

    /// Arms a fault; its `nth` counts matching calls from now on.
    pub fn add_fault(&self, fault: Fault) {
        lock(&self.shared).faults.add(fault);
    }

    /// Disarms every fault.
    pub fn clear_faults(&self) {
        lock(&self.shared).faults.clear();
    }

    /// Sets or removes the rate limit; counters start afresh.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        lock(&self.shared).rate.set(limit);
    }

    /// A delay added to every `/v1` call.
    pub fn set_latency(&self, per_call: Duration) {
        lock(&self.shared).latency = per_call;
    }

    /// The shape of error bodies from now on.
    pub fn set_error_envelope(&self, e: ErrorEnvelope) {
        lock(&self.shared).envelope = e;
    }

    /// Every API request so far (admin calls excluded), in order of completion.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared).requests.clone()
    }

    /// The last request recorded for `operation`, if any (without copying the rest).
    pub fn last_request(&self, operation: &str) -> Option<RecordedRequest> {
        lock(&self.shared)
            .requests
            .iter()
            .rev()
            .find(|r| r.operation.as_deref() == Some(operation))
            .cloned()
    }

    /// Calls per operationId, faulted calls included, unrouted calls excluded.
    pub fn call_counts(&self) -> BTreeMap<String, u64> {
        lock(&self.shared).counts.clone()
    }

    /// Calls a `SucceedThenHang` fault performed and is holding (or held) unanswered.
    pub fn held(&self) -> u64 {
        lock(&self.shared).held
    }

    /// Each injected fault that fired so far: the operation and the kind, in order
    /// (recorded when it fires, so a call whose answer never arrived is there too).
    pub fn fired(&self) -> Vec<(String, FaultKind)> {
        lock(&self.shared).fired.clone()
    }

    /// Every AuthKey secret accepted or generated so far, deleted ones included (for the
    /// tests' search for secrets in output).
    pub fn issued_auth_keys(&self) -> Vec<String> {
        lock(&self.shared).issued_auth_keys.clone()
    }

    /// Clears the request log and the call counts.
    pub fn reset_stats(&self) {
        let mut st = lock(&self.shared);
        st.requests.clear();
        st.counts.clear();
    }

    /// Stops serving and waits (briefly) for open connections to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(server::SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

// Hand-written so that printing an `Emulator` never shows the secrets it holds.
impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
