//! The emulated operator's data and the emulator's settings, behind one mutex.
//!
//! `State` owns credential sets (with their secrets), groups, event handlers, VPGs, error
//! logs, AuthKeys and issued tokens, the clock, and the test-facing knobs (faults, rate limit, latency, error
//! envelope, paging) plus the request log. Pure pieces (paging, configuration merge, the JSON the
//! API shows) live here as functions so they can be unit-tested without HTTP.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::faults::FaultSet;
use crate::logs::{log_key, LogEntry};
use crate::paging::PagingMode;
use crate::ratelimit::RateLimiter;
use crate::reply::ErrorEnvelope;

/// A credential set as stored, secret included (test assertions only; the API never shows it).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCredential {
    /// The caller-chosen id (`credentialsId`).
    pub id: String,
    /// The `type`, e.g. `aws-credentials`.
    pub kind: String,
    /// The description; empty when none was given.
    pub description: String,
    /// The `credentials` object as sent, secrets included.
    pub credentials: Value,
    /// `createDateTime`, epoch ms.
    pub create_ms: i64,
    /// `updateDateTime`, epoch ms.
    pub update_ms: i64,
    /// `lastUsedDateTime`, epoch ms; 0 when never used.
    pub last_used_ms: i64,
}

impl StoredCredential {
    /// The `CredentialsModel` the API returns; `credentials` is [`credentials_view`], which
    /// shows the access key id only if `show_key_id`.
    pub(crate) fn model(&self, show_key_id: bool) -> Value {
        let mut m = json!({
            "credentialsId": self.id,
            "type": self.kind,
            "credentials": credentials_view(&self.kind, &self.credentials, show_key_id),
            "createDateTime": self.create_ms,
            "updateDateTime": self.update_ms,
            "lastUsedDateTime": self.last_used_ms,
        });
        if !self.description.is_empty() {
            m["description"] = Value::String(self.description.clone());
        }
        m
    }
}

/// The `credentials` object the API shows for a stored set. It never holds a secret.
///
/// For `aws-credentials` the real API returns the access key id: SORACOM's Swift SDK parses
/// `credentials.accessKeyId` from list answers and its sandbox test expects a created set to
/// echo it (soracom/soracom-sdk-swift: `Sources/Credential.swift`,
/// `Tests/SoracomAPITests/Request+CredentialsTests.swift`). It is
/// left out when the stored set has none, or when `show_key_id` is off (the knob that models
/// an answer without it). For every other type neither the spec nor the facts say which
/// fields come back, so none do: `{}`. That includes `aws-iam-role-credentials`, whose
/// `roleArn` would identify it but is not documented as echoed (and `externalId` guards the
/// role, so it stays hidden anyway).
pub(crate) fn credentials_view(kind: &str, credentials: &Value, show_key_id: bool) -> Value {
    let mut out = Map::new();
    if kind == "aws-credentials" && show_key_id {
        if let Some(id) = credentials.get("accessKeyId").filter(|v| v.is_string()) {
            out.insert("accessKeyId".into(), id.clone());
        }
    }
    Value::Object(out)
}

/// One request as received on the API side, with the status that was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `PUT`.
    pub method: String,
    /// Path as received, e.g. `/v1/groups/abc/configuration/SoracomFunnel`.
    pub path: String,
    /// Raw query string, without `?`.
    pub query: Option<String>,
    /// Every header received, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// Raw body, if non-empty.
    pub body: Option<Vec<u8>>,
    /// The operationId the request was routed to; `None` when it matched no route.
    pub operation: Option<String>,
    /// Status sent; 0 when the connection was closed without an answer.
    pub status: u16,
    /// When it was received; for a routed call, when the rate limit counted it.
    pub at: std::time::Instant,
    /// The injected fault this call got, if one fired (a 429 without one came from the
    /// rate limit).
    pub fault: Option<crate::faults::FaultKind>,
}

/// A group as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Group {
    /// `groupId`.
    pub id: String,
    /// `createdTime`, epoch ms.
    pub created_ms: i64,
    /// `lastModifiedTime`, epoch ms.
    pub modified_ms: i64,
    /// `tags`; always holds `name`.
    pub tags: Map<String, Value>,
    /// `configuration`: namespace → object.
    pub configuration: Map<String, Value>,
}

impl Group {
    /// The `Group` JSON the API returns.
    pub fn model(&self, operator_id: &str) -> Value {
        json!({
            "groupId": self.id,
            "operatorId": operator_id,
            "createdTime": self.created_ms,
            "lastModifiedTime": self.modified_ms,
            "tags": self.tags,
            "configuration": self.configuration,
        })
    }

    /// The `name` tag.
    pub fn name(&self) -> Option<&str> {
        self.tags.get("name").and_then(Value::as_str)
    }
}

/// A VPG as stored: what the emulated operations show and change.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Vpg {
    /// `vpgId`.
    pub id: String,
    /// `createdTime`, epoch ms.
    pub created_ms: i64,
    /// `lastModifiedTime`, epoch ms.
    pub modified_ms: i64,
    /// `tags`; always holds `name` (empty, as for an unnamed resource).
    pub tags: Map<String, Value>,
    /// `inspection` (a `JunctionInspectionConfiguration`) as last set; `None` if never set.
    pub inspection: Option<Map<String, Value>>,
}

impl Vpg {
    /// The `VirtualPrivateGateway` JSON the API returns. Only fields the emulator knows
    /// are shown (the schema requires none); `junctionEnabled` follows `inspection.enabled`.
    pub fn model(&self, operator_id: &str) -> Value {
        let junction = self
            .inspection
            .as_ref()
            .and_then(|i| i.get("enabled"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut m = json!({
            "vpgId": self.id,
            "operatorId": operator_id,
            "createdTime": self.created_ms,
            "lastModifiedTime": self.modified_ms,
            "status": "running",
            "tags": self.tags,
            "junctionEnabled": junction,
        });
        if let Some(inspection) = &self.inspection {
            m["inspection"] = Value::Object(inspection.clone());
        }
        m
    }
}

/// An AuthKey the emulator accepts. No `Debug`: it holds a secret.
#[derive(Clone)]
pub(crate) struct AuthKey {
    /// The `authKey` secret.
    pub secret: String,
    /// Set for a SAM user's key; returned as `userName`.
    pub user_name: Option<String>,
    /// When it was added or generated, epoch ms.
    pub created_ms: i64,
}

/// An issued API key / token pair. No `Debug`: it holds a secret.
#[derive(Clone)]
pub(crate) struct Token {
    /// The token paired with the API key.
    pub token: String,
    /// Expiry on the emulator clock, epoch ms.
    pub expires_ms: i64,
    /// Expired by `Emulator::expire_tokens`, whatever the clock says.
    pub revoked: bool,
}

/// Tokens kept before expired ones are pruned.
const TOKEN_PRUNE_THRESHOLD: usize = 10_000;

/// Everything the emulator knows. No `Debug`: it holds secrets.
pub(crate) struct State {
    /// The one emulated operator.
    pub operator_id: String,
    /// Accepted AuthKeys by `authKeyId`.
    pub auth_keys: HashMap<String, AuthKey>,
    /// Issued tokens by API key.
    pub tokens: HashMap<String, Token>,
    /// Lifetime of tokens when the auth request sets none.
    pub token_ttl: Duration,
    /// The fixed clock, if set.
    pub fixed_now_ms: Option<i64>,
    /// Added to the system time when the clock is not fixed (a clock that moves, ahead).
    pub clock_offset_ms: i64,
    /// Credential sets by id.
    pub credentials: BTreeMap<String, StoredCredential>,
    /// Groups by groupId.
    pub groups: BTreeMap<String, Group>,
    /// Event handlers (EventHandlerModel JSON) by handlerId.
    pub event_handlers: BTreeMap<String, Value>,
    /// VPGs by vpgId.
    pub vpgs: BTreeMap<String, Vpg>,
    /// Error logs by [`crate::logs::log_key`], so newest first.
    pub logs: BTreeMap<String, LogEntry>,
    /// Leave `credentials.accessKeyId` out of credential answers.
    pub omit_access_key_id: bool,
    /// Holders that refuse `aws-iam-role-credentials` sets (`POST /_emulator/role-refusals`).
    pub role_refusals: Vec<crate::faults::RoleRefusal>,
    /// Most items per page of a paged list.
    pub page_size: usize,
    /// The largest `limit` a paged list accepts; `None` for no maximum.
    pub max_limit: Option<usize>,
    /// How paged lists lead to the next page.
    pub paging: PagingMode,
    /// Armed faults.
    pub faults: FaultSet,
    /// Rate limit and its counters.
    pub rate: RateLimiter,
    /// Delay added to every API call.
    pub latency: Duration,
    /// Error body shape.
    pub envelope: ErrorEnvelope,
    /// The request log.
    pub requests: Vec<RecordedRequest>,
    /// Calls per operationId.
    pub counts: BTreeMap<String, u64>,
    /// Calls performed and then held unanswered by a `SucceedThenHang` fault.
    pub held: u64,
    /// Each injected fault that fired: the operation and the kind, in order, recorded when
    /// it fires (a call whose answer never arrived included).
    pub fired: Vec<(String, crate::faults::FaultKind)>,
    /// Every AuthKey secret the emulator accepted or generated, deleted ones included:
    /// tests look for them in what the client printed.
    pub issued_auth_keys: Vec<String>,
    /// Random per emulator, so ids differ between runs.
    id_prefix: u32,
    /// Source of id uniqueness.
    id_counter: u64,
    /// The seed of the random source (a keyed hash: no RNG dependency needed).
    seed: u64,
}

impl Default for State {
    fn default() -> Self {
        State::seeded(RandomState::new().build_hasher().finish())
    }
}

impl State {
    /// A state whose ids and tokens come from `seed`: the same calls give the same answers.
    pub fn seeded(seed: u64) -> State {
        let id_prefix = (seed & 0xffff_ffff) as u32;
        State {
            operator_id: "OP0012345678".into(),
            auth_keys: HashMap::new(),
            tokens: HashMap::new(),
            token_ttl: Duration::from_secs(86_400),
            fixed_now_ms: None,
            clock_offset_ms: 0,
            credentials: BTreeMap::new(),
            groups: BTreeMap::new(),
            event_handlers: BTreeMap::new(),
            vpgs: BTreeMap::new(),
            logs: BTreeMap::new(),
            omit_access_key_id: false,
            role_refusals: Vec::new(),
            page_size: 100,
            max_limit: None,
            paging: PagingMode::default(),
            faults: FaultSet::default(),
            rate: RateLimiter::default(),
            latency: Duration::ZERO,
            envelope: ErrorEnvelope::Plain,
            requests: Vec::new(),
            counts: BTreeMap::new(),
            held: 0,
            fired: Vec::new(),
            issued_auth_keys: Vec::new(),
            id_prefix,
            id_counter: 0,
            seed,
        }
    }
}

impl State {
    /// The emulator clock, epoch ms.
    pub fn now_ms(&self) -> i64 {
        self.fixed_now_ms.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0)
                .saturating_add(self.clock_offset_ms)
        })
    }

    /// A UUID-shaped id. Ids sort in creation order, which keeps test output predictable.
    pub fn next_id(&mut self) -> String {
        self.id_counter += 1;
        format!(
            "{:08x}-0000-4000-8000-{:012x}",
            self.id_prefix, self.id_counter
        )
    }

    /// 128 random bits as hex.
    pub fn random_hex(&mut self) -> String {
        self.id_counter += 1;
        let mut out = String::with_capacity(32);
        for salt in 0..2u64 {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            h.write_u64(self.seed);
            h.write_u64(self.id_counter);
            h.write_u64(salt);
            out.push_str(&format!("{:016x}", h.finish()));
        }
        out
    }

    /// Issues an API key / token pair living `ttl_ms`.
    pub fn issue_token(&mut self, ttl_ms: i64) -> (String, String) {
        let now = self.now_ms();
        if self.tokens.len() >= TOKEN_PRUNE_THRESHOLD {
            self.tokens.retain(|_, t| !t.revoked && t.expires_ms > now);
        }
        let api_key = format!("api-{}", self.random_hex());
        let token = format!("tok-{}{}", self.random_hex(), self.random_hex());
        self.tokens.insert(
            api_key.clone(),
            Token {
                token: token.clone(),
                expires_ms: now.saturating_add(ttl_ms),
                revoked: false,
            },
        );
        (api_key, token)
    }

    /// Adds a group named `name`; returns its id.
    pub fn add_group(&mut self, name: &str, configuration: Value) -> String {
        let id = self.next_id();
        let now = self.now_ms();
        let mut tags = Map::new();
        tags.insert("name".into(), Value::String(name.to_owned()));
        let configuration = match configuration {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        self.groups.insert(
            id.clone(),
            Group {
                id: id.clone(),
                created_ms: now,
                modified_ms: now,
                tags,
                configuration,
            },
        );
        id
    }

    /// Adds an event handler, keeping its `handlerId` if it has one; returns the id.
    pub fn add_event_handler(&mut self, handler: Value) -> String {
        let mut handler = match handler {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let id = match handler.get("handlerId").and_then(Value::as_str) {
            Some(id) => id.to_owned(),
            None => self.next_id(),
        };
        handler.insert("handlerId".into(), Value::String(id.clone()));
        self.event_handlers
            .insert(id.clone(), Value::Object(handler));
        id
    }

    /// Adds (or replaces) a VPG with the given inspection configuration (`None`: none).
    pub fn add_vpg(&mut self, id: &str, inspection: Option<Map<String, Value>>) {
        let now = self.now_ms();
        let mut tags = Map::new();
        tags.insert("name".into(), Value::String(String::new()));
        self.vpgs.insert(
            id.to_owned(),
            Vpg {
                id: id.to_owned(),
                created_ms: now,
                modified_ms: now,
                tags,
                inspection,
            },
        );
    }

    /// All VPGs as API JSON, by vpgId.
    pub fn vpg_models(&self) -> Vec<Value> {
        self.vpgs
            .values()
            .map(|v| v.model(&self.operator_id))
            .collect()
    }

    /// Stores an error log entry.
    pub fn emit_log(&mut self, entry: LogEntry) {
        self.id_counter += 1;
        self.logs
            .insert(log_key(entry.time, self.id_counter), entry);
    }

    /// All error logs as API JSON, newest first.
    pub fn log_models(&self) -> Vec<Value> {
        self.logs
            .values()
            .map(|e| e.model(&self.operator_id))
            .collect()
    }

    /// All groups as API JSON, by groupId.
    pub fn group_models(&self) -> Vec<Value> {
        self.groups
            .values()
            .map(|g| g.model(&self.operator_id))
            .collect()
    }
}

/// One page of ids from a sorted list: those after `after`, at most `size`; and the key for
/// the next page (the last id returned) when more remain.
pub(crate) fn page<'a>(
    ids: impl Iterator<Item = &'a String>,
    after: Option<&str>,
    size: usize,
) -> (Vec<&'a String>, Option<String>) {
    let mut rest = ids.filter(|id| after.is_none_or(|a| id.as_str() > a));
    let items: Vec<&String> = rest.by_ref().take(size).collect();
    let next = match (items.last(), rest.next()) {
        (Some(last), Some(_)) => Some((*last).clone()),
        _ => None,
    };
    (items, next)
}

/// Sets the given top-level keys of one namespace, creating it if needed; other keys and
/// namespaces stay as they are.
pub(crate) fn merge_configuration(
    configuration: &mut Map<String, Value>,
    namespace: &str,
    pairs: Vec<(String, Value)>,
) {
    let slot = configuration
        .entry(namespace.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    if let Value::Object(ns) = slot {
        for (k, v) in pairs {
            ns.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("g{i:02}")).collect()
    }

    #[test]
    fn paging() {
        let all = ids(5);
        let (p1, k1) = page(all.iter(), None, 2);
        assert_eq!(p1, [&all[0], &all[1]]);
        assert_eq!(k1.as_deref(), Some("g02"));
        let (p2, k2) = page(all.iter(), k1.as_deref(), 2);
        assert_eq!(p2, [&all[2], &all[3]]);
        let (p3, k3) = page(all.iter(), k2.as_deref(), 2);
        assert_eq!((p3, k3), (vec![&all[4]], None));
        let (exact, none) = page(all.iter(), None, 5);
        assert_eq!((exact.len(), none), (5, None));
        let (empty, none) = page(all.iter(), Some("zz"), 5);
        assert!(empty.is_empty() && none.is_none());
    }

    #[test]
    fn merge_touches_only_given_keys() {
        let mut cfg = json!({
            "SoracomFunnel": {"credentialsId": "old", "enabled": true, "destination": {"a": 1}},
            "SoracomAir": {"x": 1},
        });
        let Some(map) = cfg.as_object_mut() else {
            panic!("object")
        };
        merge_configuration(
            map,
            "SoracomFunnel",
            vec![
                ("credentialsId".into(), json!("new")),
                ("added".into(), json!(2)),
            ],
        );
        merge_configuration(
            map,
            "SoracomFunk",
            vec![("k".into(), json!({"$credentialsId": "c"}))],
        );
        assert_eq!(
            cfg,
            json!({
                "SoracomFunnel": {"credentialsId": "new", "enabled": true, "destination": {"a": 1}, "added": 2},
                "SoracomAir": {"x": 1},
                "SoracomFunk": {"k": {"$credentialsId": "c"}},
            })
        );
    }

    /// Every type with the spec's example fields (`components/examples`), secret values
    /// marked: only an AWS set's access key id may show.
    #[test]
    fn credentials_view_shows_no_secret() {
        let examples = [
            ("api-token-credentials", json!({"token": "SECRET"})),
            (
                "aws-credentials",
                json!({"accessKeyId": "AKIA1", "secretAccessKey": "SECRET"}),
            ),
            (
                "aws-iam-role-credentials",
                json!({"roleArn": "SECRET", "externalId": "SECRET"}),
            ),
            (
                "azure-credentials",
                json!({"key": "SECRET", "policyName": "SECRET"}),
            ),
            ("psk", json!({"key": "SECRET"})),
            (
                "username-password-credentials",
                json!({"username": "SECRET", "password": "SECRET"}),
            ),
            (
                "x509",
                json!({"ca": "SECRET", "cert": "SECRET", "key": "SECRET"}),
            ),
            // A non-AWS set that happens to hold an accessKeyId shows nothing either.
            ("psk", json!({"accessKeyId": "SECRET", "key": "SECRET"})),
        ];
        for (kind, credentials) in examples {
            for show in [true, false] {
                let view = credentials_view(kind, &credentials, show);
                assert!(!view.to_string().contains("SECRET"), "{kind}: {view}");
                let expected = if kind == "aws-credentials" && show {
                    json!({"accessKeyId": "AKIA1"})
                } else {
                    json!({})
                };
                assert_eq!(view, expected, "{kind} show={show}");
            }
        }
        // No access key id stored (or not a string): nothing to show.
        assert_eq!(
            credentials_view("aws-credentials", &json!({"secretAccessKey": "S"}), true),
            json!({})
        );
        assert_eq!(
            credentials_view("aws-credentials", &json!({"accessKeyId": 7}), true),
            json!({})
        );
    }

    #[test]
    fn secrets_not_in_model_and_ids_sort_in_order() {
        let c = StoredCredential {
            id: "c".into(),
            kind: "aws-credentials".into(),
            description: String::new(),
            credentials: json!({"secretAccessKey": "s"}),
            create_ms: 1,
            update_ms: 2,
            last_used_ms: 0,
        };
        assert_eq!(c.model(true)["credentials"], json!({}));
        assert!(c.model(true).get("description").is_none());
        let mut st = State::default();
        let a = st.next_id();
        let b = st.next_id();
        assert!(a < b);
        assert_ne!(st.random_hex(), st.random_hex());
    }
}
