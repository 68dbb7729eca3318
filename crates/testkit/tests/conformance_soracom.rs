//! The SORACOM port's behaviours, each written once and run through the real client on
//! both paths a test can take to the emulator: [`SoracomClient<Http>`] against an emulator
//! on a 127.0.0.1 socket (`conformance_soracom::http::…`, in real time) and
//! [`SoracomClient<Memory>`] against an in-memory one (`conformance_soracom::memory::…`,
//! in simulated time), so the in-memory path cannot drift from what the client meets on
//! the wire. `conformance_soracom::same_requests::…` runs each behaviour on both paths
//! once more and compares what the two emulators recorded, request by request.
//!
//! The suite found three differences, since brought in line: the in-memory transport now
//! refuses an answer over the client's bound as HTTP does, the in-memory emulator refuses a
//! request body over the server's bound, and a call held without an answer is recorded by
//! neither. What still differs — the headers reqwest adds of its own — is asserted as such.
//!
//! Run: `cargo test -p testkit --test testkit conformance_soracom` (no moto needed).

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rotator::soracom::{Dial, HttpDial, Identity, SoracomApi, SoracomClient, Transport};
use rotator::{Clock, Error, PagingProblem, SystemClock};
use rotator_core::config::SoracomSettings;
use rotator_core::endpoint::{AuthKey, Endpoint};
use rotator_core::model::CredentialSet;
use rotator_core::wire::{BodyError, StatusError};
use rotator_core::{AccessKeyId, NewAccessKey, Secret};
use serde_json::{json, Map, Value};
use soracom_emulator::{
    Emulator, ErrorEnvelope, Fault, FaultBody, FaultKind, LogEntry, LogLevel, LogResourceType,
    LogService, PagingMode, RateLimit, RecordedRequest,
};
use testkit::fake::clock::PausedClock;
use testkit::fake::soracom::MemoryDial;
use testkit::fake::Proceed;
use time::macros::datetime;
use time::OffsetDateTime;

type BoxError = Box<dyn std::error::Error>;
type TestResult = Result<(), BoxError>;

/// The AuthKey both clients log in with.
const KEY_ID: &str = "keyId-conformance";
const KEY: &str = "secret-conformance-0123456789";
/// The in-memory emulator's seed.
const SEED: u64 = 0x50_4a_43_4f_4d;
/// The longest listing the behaviours walk: every walk below ends well before it.
const MAX_PAGES: usize = 20;
/// The emulator's operator.
const OPERATOR: &str = "OP0012345678";
/// An AWS key a set holds.
const AKIA_1: &str = "AKIAIOSFODNN7EXAMPLE";
const AKIA_2: &str = "AKIAI44QH8DHBEXAMPLE";
const SECRET_1: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const SECRET_2: &str = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY";

/// The same settings on both paths: retries bounded (4 attempts), backoff tiny (10 ms,
/// doubling), one request at most 2 s (ample for a loopback socket under a loaded test run).
fn settings() -> SoracomSettings {
    SoracomSettings {
        coverage: None,
        profile: None,
        page_size: 100,
        concurrency: 4,
        request_timeout: Duration::from_secs(2),
        retry_attempts: 4,
        retry_base: Duration::from_millis(10),
    }
}

fn auth_key() -> AuthKey {
    AuthKey {
        id: KEY_ID.into(),
        secret: Secret::new(KEY),
    }
}

/// What a behaviour arranges and inspects beside the client: the emulator, and the
/// client's clock (real on the wire, paused in memory).
struct Env {
    emu: Arc<Emulator>,
    clock: Arc<dyn Clock>,
}

impl Env {
    /// The operation of every request the emulator recorded, in order (`-`: unrouted).
    fn ops(&self) -> Vec<String> {
        self.emu
            .requests()
            .iter()
            .map(|r| r.operation.clone().unwrap_or_else(|| "-".into()))
            .collect()
    }

    /// The recorded requests of `op`.
    fn requests_of(&self, op: &str) -> Vec<RecordedRequest> {
        self.emu
            .requests()
            .into_iter()
            .filter(|r| r.operation.as_deref() == Some(op))
            .collect()
    }

    /// The statuses the emulator answered `op` with, in order.
    fn statuses(&self, op: &str) -> Vec<u16> {
        self.requests_of(op).iter().map(|r| r.status).collect()
    }

    /// How many calls of `op` the emulator saw (faulted ones included).
    fn count(&self, op: &str) -> u64 {
        self.emu.call_counts().get(op).copied().unwrap_or(0)
    }

    /// The client clock's monotonic time.
    fn mono(&self) -> Duration {
        self.clock.monotonic()
    }

    fn fault(&self, op: &str, nth: u32, times: u32, kind: FaultKind) {
        self.emu.add_fault(Fault {
            operation: op.into(),
            nth,
            times,
            kind,
        });
    }
}

/// The wire: the real client over HTTP to an emulator on a 127.0.0.1 socket, real time.
async fn wire() -> Result<(SoracomClient<rotator::soracom::Http>, Env), BoxError> {
    let emu = Arc::new(Emulator::start().await?);
    emu.add_auth_key(KEY_ID, KEY);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let dial = HttpDial {
        clock: clock.clone(),
    };
    let client = dial.dial(&Endpoint(emu.endpoint()), auth_key(), &settings())?;
    let env = Env { emu, clock };
    Ok((client, env))
}

/// In memory: the same client over [`testkit::fake::soracom::Memory`] to an in-memory
/// emulator, every call proceeding, on a paused clock (needs a paused runtime).
fn memory() -> Result<(SoracomClient<testkit::fake::soracom::Memory>, Env), BoxError> {
    let clock = Arc::new(PausedClock::new(datetime!(2030-01-01 00:00 UTC)));
    let emu = Arc::new(Emulator::in_memory(SEED));
    emu.add_auth_key(KEY_ID, KEY);
    let dial = MemoryDial::new(std::slice::from_ref(&emu), Arc::new(Proceed), clock.clone());
    let client = dial.dial(&Endpoint(emu.endpoint()), auth_key(), &settings())?;
    let env = Env { emu, clock };
    Ok((client, env))
}

fn new_key(id: &str, secret: &str) -> NewAccessKey {
    NewAccessKey {
        id: AccessKeyId::new(id),
        secret: Secret::new(secret),
    }
}

/// The status error `r` is; panics on a success or another error.
#[track_caller]
fn status<T: Debug>(r: rotator::Result<T>) -> (StatusError, bool) {
    match r {
        Err(e @ Error::SoracomStatus(_)) => {
            let definite = e.is_definite_rejection();
            let Error::SoracomStatus(s) = e else {
                unreachable!()
            };
            (s, definite)
        }
        other => panic!("expected a SORACOM status error, got {other:?}"),
    }
}

/// The parts of a status error a behaviour checks: operation, status, code.
fn parts(e: &StatusError) -> (&'static str, u16, Option<&str>) {
    (e.op, e.status, e.code.as_deref())
}

/// Reads every page of a list: `fetch(after)` reads the page after `after`; at most
/// [`MAX_PAGES`] pages. Returns the items and the number of pages.
async fn walk<T, F, Fut>(op: &'static str, mut fetch: F) -> rotator::Result<(Vec<T>, usize)>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = rotator::Result<(Vec<T>, Option<String>)>>,
{
    let mut after = None;
    let mut items = Vec::new();
    for pages in 1..=MAX_PAGES {
        let (page, next) = fetch(after.take()).await?;
        items.extend(page);
        match next {
            None => return Ok((items, pages)),
            Some(key) => after = Some(key),
        }
    }
    Err(Error::SoracomPaging {
        op,
        problem: PagingProblem::TooManyPages { max: MAX_PAGES },
    })
}

async fn all_groups(
    api: &impl SoracomApi,
    limit: u32,
) -> rotator::Result<(Vec<rotator_core::model::Group>, usize)> {
    walk("listGroups", |after| async move {
        let page = api.list_groups(after.as_deref(), limit).await?;
        Ok((page.groups, page.next))
    })
    .await
}

/// `last_evaluated_key` of each request of `op`, in order (`None`: the first page).
fn keys_asked(env: &Env, op: &str) -> Vec<Option<String>> {
    env.requests_of(op)
        .iter()
        .map(|r| {
            let q = r.query.clone().unwrap_or_default();
            q.split('&')
                .find_map(|p| p.strip_prefix("last_evaluated_key="))
                .map(str::to_string)
        })
        .collect()
}

// --- Login and tokens ------------------------------------------------------------------

async fn a_login_and_a_call<T: Transport>(c: &SoracomClient<T>, env: &Env) -> TestResult {
    c.login().await?;
    assert!(c.list_credentials().await?.is_empty());
    assert_eq!(env.ops(), ["auth", "listCredentials"]);
    let reqs = env.emu.requests();
    let header = |r: &RecordedRequest, name: &str| {
        r.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    // The login sends the key in its body, no session headers; the call the session.
    let login: Value = serde_json::from_slice(reqs[0].body.as_deref().unwrap_or_default())?;
    assert_eq!(login, json!({"authKeyId": KEY_ID, "authKey": KEY}));
    assert_eq!(header(&reqs[0], "x-soracom-token"), None);
    assert_eq!(
        header(&reqs[0], "content-type").as_deref(),
        Some("application/json")
    );
    let call = &reqs[1];
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("GET", "/v1/credentials")
    );
    assert!(header(call, "x-soracom-api-key").is_some_and(|v| v.starts_with("api-")));
    assert!(header(call, "x-soracom-token").is_some_and(|v| v.starts_with("tok-")));
    assert_eq!(header(call, "x-soracom-lang").as_deref(), Some("en"));
    assert_eq!(header(call, "accept").as_deref(), Some("application/json"));
    assert_eq!(call.body, None);
    // The session is kept: a second call logs in no more.
    c.list_event_handlers().await?;
    assert_eq!(env.count("auth"), 1);
    // Whom a key logs in as; a wrong key is refused, and the refusal quotes no secret.
    let me = c.identify(&auth_key()).await?;
    let root = Identity {
        operator_id: OPERATOR.into(),
        user_name: None,
    };
    assert_eq!(me, root);
    let wrong = AuthKey {
        id: KEY_ID.into(),
        secret: Secret::new("not-the-secret"),
    };
    let (e, definite) = status(c.identify(&wrong).await);
    assert_eq!(parts(&e), ("auth", 401, Some("AUTH0001")));
    assert!(definite && !e.to_string().contains("not-the-secret"), "{e}");
    assert_eq!(env.count("auth"), 3, "an identify is one attempt");
    Ok(())
}

async fn an_expired_token_is_met_by_one_relogin(api: &impl SoracomApi, env: &Env) -> TestResult {
    api.list_credentials().await?;
    // A token rejected mid-run: one login more, and the call goes through.
    env.fault("listGroups", 1, 1, FaultKind::ExpiredToken);
    assert!(api.list_groups(None, 10).await?.groups.is_empty());
    assert_eq!(env.count("auth"), 2);
    // Every token expired at once: the same.
    env.emu.expire_tokens();
    assert!(api.list_event_handlers().await?.is_empty());
    assert_eq!(env.count("auth"), 3);
    // A token that keeps being rejected is renewed once, not forever.
    env.fault("listCredentials", 1, 0, FaultKind::ExpiredToken);
    let (e, definite) = status(api.list_credentials().await);
    assert_eq!(parts(&e), ("listCredentials", 401, Some("AUTH0010")));
    assert!(definite, "{e}");
    assert_eq!(env.count("auth"), 4);
    env.emu.clear_faults();
    assert_eq!(
        env.ops(),
        [
            "auth",
            "listCredentials",
            "listGroups",
            "auth",
            "listGroups",
            "listEventHandlers",
            "auth",
            "listEventHandlers",
            "listCredentials",
            "auth",
            "listCredentials",
        ]
    );
    assert_eq!(env.statuses("listGroups"), [401, 200]);
    assert_eq!(env.statuses("listCredentials"), [200, 401, 401]);
    Ok(())
}

async fn a_token_past_its_lifetime_is_renewed(api: &impl SoracomApi, env: &Env) -> TestResult {
    // The emulator's clock is the client's: real on the wire, the paused clock in memory
    // (each in-memory call sets it).
    env.emu.set_token_ttl(Duration::from_secs(1));
    api.list_credentials().await?;
    api.list_credentials().await?;
    assert_eq!(env.count("auth"), 1, "the token still lives");
    env.clock.sleep(Duration::from_millis(1200)).await;
    api.list_credentials().await?;
    assert_eq!(env.count("auth"), 2, "one login for the lapsed token");
    assert_eq!(env.statuses("listCredentials"), [200, 200, 401, 200]);
    Ok(())
}

// --- Credential sets -------------------------------------------------------------------

/// 2022-08-10T00:00:00Z, as SORACOM writes times (epoch ms).
const CREATED_MS: i64 = 1_660_089_600_000;

async fn credential_sets_are_listed_with_the_key_id_shown_or_hidden(
    api: &impl SoracomApi,
    env: &Env,
) -> TestResult {
    let emu = &env.emu;
    emu.put_credential(
        "aws-funnel-220810",
        "aws-credentials",
        "Managed by soracom-key-rotator. accessKeyId=AKIAIOSFODNN7EXAMPLE",
        json!({"accessKeyId": AKIA_1, "secretAccessKey": SECRET_1}),
        CREATED_MS,
    );
    emu.mark_credential_used("aws-funnel-220810", CREATED_MS + 86_400_000);
    emu.put_credential(
        "role-funnel",
        "aws-iam-role-credentials",
        "",
        json!({"roleArn": "arn:aws:iam::123456789012:role/r", "externalId": "ext-secret"}),
        CREATED_MS,
    );
    let sets = api.list_credentials().await?;
    let created = datetime!(2022-08-10 00:00 UTC);
    let aws = CredentialSet {
        id: "aws-funnel-220810".into(),
        kind: "aws-credentials".into(),
        description: "Managed by soracom-key-rotator. accessKeyId=AKIAIOSFODNN7EXAMPLE".into(),
        created: Some(created),
        updated: Some(created),
        last_used: Some(datetime!(2022-08-11 00:00 UTC)),
        api_key: Some(AccessKeyId::new(AKIA_1)),
    };
    let role = CredentialSet {
        id: "role-funnel".into(),
        kind: "aws-iam-role-credentials".into(),
        description: String::new(),
        created: Some(created),
        updated: Some(created),
        last_used: None,
        api_key: None,
    };
    assert_eq!(sets, [aws.clone(), role.clone()]);
    let shown = format!("{sets:?}");
    assert!(
        !shown.contains(SECRET_1) && !shown.contains("ext-secret"),
        "{shown}"
    );
    // An answer without credentials.accessKeyId: the set is read, its key unknown.
    emu.set_omit_access_key_id(true);
    let hidden = api.list_credentials().await?;
    let aws_hidden = CredentialSet {
        api_key: None,
        ..aws
    };
    assert_eq!(hidden, [aws_hidden, role]);
    assert_eq!(env.ops(), ["auth", "listCredentials", "listCredentials"]);
    Ok(())
}

async fn credential_sets_are_created_updated_and_deleted(
    api: &impl SoracomApi,
    env: &Env,
) -> TestResult {
    let emu = &env.emu;
    let k1 = new_key(AKIA_1, SECRET_1);
    let made = api.create_credential("aws-x-300101", "first", &k1).await?;
    assert_eq!(
        (
            made.id.as_str(),
            made.kind.as_str(),
            made.description.as_str()
        ),
        ("aws-x-300101", "aws-credentials", "first")
    );
    assert_eq!(made.api_key, Some(k1.id.clone()));
    assert!(made.created.is_some() && made.last_used.is_none());
    // The secret goes in, never back out: not in the answer, not in a listing.
    let stored = emu.credential("aws-x-300101").ok_or("not stored")?;
    assert_eq!(
        stored.credentials,
        json!({"accessKeyId": AKIA_1, "secretAccessKey": SECRET_1})
    );
    let listed = api.list_credentials().await?;
    let seen = format!("{made:?} {listed:?}");
    assert!(!seen.contains(SECRET_1), "{seen}");
    assert_eq!(listed, std::slice::from_ref(&made));
    // A set of that id already there: refused (the server's text unquoted, the request
    // carried a secret), and certainly not applied.
    let (e, definite) = status(api.create_credential("aws-x-300101", "again", &k1).await);
    assert_eq!(parts(&e), ("createCredential", 400, Some("CRD0002")));
    assert!(definite && e.message.contains("not shown"), "{e}");
    assert_eq!(env.count("createCredential"), 2, "a 400 is not retried");

    let k2 = new_key(AKIA_2, SECRET_2);
    let updated = api.update_credential("aws-x-300101", "second", &k2).await?;
    assert_eq!(updated.api_key, Some(k2.id.clone()));
    assert_eq!(updated.description, "second");
    assert!(!format!("{updated:?}").contains(SECRET_2));
    let stored = emu.credential("aws-x-300101").ok_or("gone")?;
    assert_eq!(stored.credentials["secretAccessKey"], json!(SECRET_2));
    let (e, definite) = status(api.update_credential("aws-none", "d", &k2).await);
    assert_eq!(parts(&e), ("updateCredential", 404, Some("CRD0001")));
    assert!(definite, "{e}");

    let role = api
        .create_role_credential(
            "role-x",
            "role",
            "arn:aws:iam::123456789012:role/soracom",
            &Secret::new("ext-0123"),
        )
        .await?;
    assert_eq!(
        (role.kind.as_str(), role.api_key.as_ref()),
        ("aws-iam-role-credentials", None)
    );
    let stored = emu.credential("role-x").ok_or("role set not stored")?;
    assert_eq!(stored.credentials["externalId"], json!("ext-0123"));

    // An answer without credentials.accessKeyId: a create's echo has no key either.
    emu.set_omit_access_key_id(true);
    let quiet = api.create_credential("aws-y-300101", "", &k1).await?;
    assert_eq!(quiet.api_key, None);

    api.delete_credential("aws-x-300101").await?;
    assert!(emu.credential("aws-x-300101").is_none());
    // Gone already, or never there: deleted as far as it goes.
    api.delete_credential("aws-x-300101").await?;
    api.delete_credential("never-was").await?;
    assert_eq!(env.statuses("deleteCredential"), [204, 404, 404]);
    assert_eq!(emu.credential_ids(), ["aws-y-300101", "role-x"]);
    assert_eq!(
        env.ops(),
        [
            "auth",
            "createCredential",
            "listCredentials",
            "createCredential",
            "updateCredential",
            "updateCredential",
            "createCredential",
            "createCredential",
            "deleteCredential",
            "deleteCredential",
            "deleteCredential",
        ]
    );
    Ok(())
}

// --- Groups and paging -----------------------------------------------------------------

/// Seven groups, three a page: three pages.
fn seven_groups(env: &Env) -> Vec<String> {
    for i in 0..7 {
        let cfg = json!({"SoracomAir": {"metadata": {"enabled": i % 2 == 0}}});
        env.emu.add_group(&format!("g{i}"), cfg);
    }
    env.emu.set_page_size(3);
    env.emu
        .groups()
        .iter()
        .filter_map(|g| g["groupId"].as_str().map(str::to_string))
        .collect()
}

async fn groups_are_paged_in_every_paging_mode(api: &impl SoracomApi, env: &Env) -> TestResult {
    let ids = seven_groups(env);
    // An empty x-soracom-next-key on the last page ends the listing, as SORACOM's own
    // clients read it.
    let modes = [
        PagingMode::Documented,
        PagingMode::NextKey,
        PagingMode::Link,
        PagingMode::Both,
        PagingMode::EmptyOnLastPage,
    ];
    for mode in modes {
        env.emu.set_paging_mode(mode);
        env.emu.reset_stats();
        let (groups, pages) = all_groups(api, 100).await?;
        let got: Vec<&str> = groups.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(got, ids, "{mode:?}");
        assert_eq!(pages, 3, "{mode:?}");
        let names: Vec<_> = groups.iter().filter_map(|g| g.name.clone()).collect();
        assert_eq!(
            names,
            ["g0", "g1", "g2", "g3", "g4", "g5", "g6"],
            "{mode:?}"
        );
        assert_eq!(
            groups[1].configuration.get("SoracomAir"),
            Some(&json!({"metadata": {"enabled": false}}))
        );
        // Each later page asked after the last group of the page before.
        let want = [None, Some(ids[2].clone()), Some(ids[5].clone())];
        assert_eq!(keys_asked(env, "listGroups"), want, "{mode:?}");
    }
    // A `limit` below the emulator's page size pages by it.
    let (groups, pages) = all_groups(api, 2).await?;
    assert_eq!((groups.len(), pages), (7, 4));
    let limits: Vec<String> = env
        .requests_of("listGroups")
        .iter()
        .filter_map(|r| r.query.clone())
        .collect();
    assert!(
        limits.iter().skip(3).all(|q| q.starts_with("limit=2")),
        "{limits:?}"
    );
    Ok(())
}

async fn a_broken_next_page_is_the_clients_paging_error(
    api: &impl SoracomApi,
    env: &Env,
) -> TestResult {
    seven_groups(env);
    let cases = [
        (PagingMode::LinkWithoutKey, PagingProblem::LinkWithoutKey, 1),
        (PagingMode::RepeatKey, PagingProblem::KeyRepeated, 2),
    ];
    for (mode, want, calls) in cases {
        env.emu.set_paging_mode(mode);
        let before = env.count("listGroups");
        let err = all_groups(api, 100).await.expect_err("a broken listing");
        match &err {
            Error::SoracomPaging { op, problem } => {
                assert_eq!((*op, problem), ("listGroups", &want), "{mode:?}");
            }
            other => panic!("{mode:?}: {other}"),
        }
        assert!(!err.is_retryable() && !err.is_definite_rejection(), "{err}");
        // Found on the answer itself: no retry, no page past it.
        assert_eq!(env.count("listGroups") - before, calls, "{mode:?}");
    }
    assert_eq!(env.statuses("listGroups"), [200, 200, 200]);
    Ok(())
}

async fn a_group_configuration_is_put_and_echoed(api: &impl SoracomApi, env: &Env) -> TestResult {
    let funnel = json!({
        "credentialsId": "aws-old",
        "enabled": true,
        "destination": {"provider": "aws", "service": "aws-iot", "resourceUrl": "https://x.iot/%{imsi}"},
    });
    let air = json!({"metadata": {"enabled": true}});
    let id = env.emu.add_group(
        "funnel-1",
        json!({"SoracomFunnel": funnel, "SoracomAir": air}),
    );
    let echoed = api
        .put_group_config(&id, "SoracomFunnel", "credentialsId", &json!("aws-new"))
        .await?;
    assert_eq!(
        (echoed.id.as_str(), echoed.name.as_deref()),
        (id.as_str(), Some("funnel-1"))
    );
    let mut want = funnel.clone();
    want["credentialsId"] = json!("aws-new");
    assert_eq!(echoed.configuration.get("SoracomFunnel"), Some(&want));
    assert_eq!(echoed.configuration.get("SoracomAir"), Some(&air));
    // The echo is what the emulator holds.
    let held = env.emu.group_by_name("funnel-1").ok_or("group gone")?;
    assert_eq!(
        Value::Object(echoed.configuration.clone()),
        held["configuration"]
    );
    // An object value, into a namespace the group did not have.
    let funk = json!({"$credentialsId": "aws-new"});
    let echoed = api
        .put_group_config(&id, "SoracomFunk", "credentials", &funk)
        .await?;
    assert_eq!(
        echoed.configuration.get("SoracomFunk"),
        Some(&json!({"credentials": funk}))
    );
    let body: Value = serde_json::from_slice(
        env.requests_of("putConfigurationParameters")[1]
            .body
            .as_deref()
            .unwrap_or_default(),
    )?;
    assert_eq!(body, json!([{"key": "credentials", "value": funk}]));
    // A namespace SORACOM does not have, and a group that is not: refused, not applied.
    let (e, definite) = status(
        api.put_group_config(&id, "SoracomNope", "k", &json!(1))
            .await,
    );
    assert_eq!(
        parts(&e),
        ("putConfigurationParameters", 400, Some("GRP0002"))
    );
    assert!(definite, "{e}");
    let (e, definite) = status(
        api.put_group_config("no-such-group", "SoracomFunnel", "k", &json!(1))
            .await,
    );
    assert_eq!(
        parts(&e),
        ("putConfigurationParameters", 404, Some("GRP0001"))
    );
    assert!(definite, "{e}");
    assert_eq!(
        env.statuses("putConfigurationParameters"),
        [200, 200, 400, 404]
    );
    let held = env.emu.group_by_name("funnel-1").ok_or("group gone")?;
    let namespaces: Vec<&String> = held["configuration"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert_eq!(namespaces, ["SoracomAir", "SoracomFunk", "SoracomFunnel"]);
    Ok(())
}

// --- Event handlers, VPGs, logs --------------------------------------------------------

async fn event_handlers_are_listed_and_updated(api: &impl SoracomApi, env: &Env) -> TestResult {
    let handler = |credentials: &str| {
        json!({
            "name": "notify",
            "description": "to the webhook",
            "targetOperatorId": OPERATOR,
            "status": "active",
            "ruleConfig": {"type": "SubscriberSpeedClassAttributeRule", "properties": {"targetSpeedClass": "s1.minimum"}},
            "actionConfigList": [{
                "type": "InvokeAWSLambdaAction",
                "properties": {"executionDateTimeConst": "IMMEDIATELY", "credentialsId": credentials, "functionName": "f"},
            }],
        })
    };
    let mut stored = handler("aws-old");
    stored["handlerId"] = json!("h-1");
    env.emu.add_event_handler(stored.clone());
    assert_eq!(api.list_event_handlers().await?, [stored]);
    let body = handler("aws-new");
    api.update_event_handler("h-1", &body).await?;
    let mut want = body.clone();
    want["handlerId"] = json!("h-1");
    assert_eq!(env.emu.event_handlers(), [want.clone()]);
    assert_eq!(api.list_event_handlers().await?, [want]);
    // SORACOM's spec gives 400 (not 404) for an unknown handler on update.
    let (e, definite) = status(api.update_event_handler("h-none", &body).await);
    assert_eq!(parts(&e), ("updateEventHandler", 400, Some("EVT0001")));
    assert!(definite, "{e}");
    let (e, _) = status(api.update_event_handler("h-1", &json!({"name": "x"})).await);
    assert_eq!(parts(&e), ("updateEventHandler", 400, Some("COM0001")));
    assert_eq!(
        env.ops(),
        [
            "auth",
            "listEventHandlers",
            "updateEventHandler",
            "listEventHandlers",
            "updateEventHandler",
            "updateEventHandler",
        ]
    );
    Ok(())
}

async fn vpgs_are_paged_and_their_inspection_set(api: &impl SoracomApi, env: &Env) -> TestResult {
    for i in 0..5 {
        env.emu
            .add_vpg(&format!("vpg-{i}"), json!({"enabled": false}));
    }
    env.emu.set_page_size(2);
    let (vpgs, pages) = walk("listVirtualPrivateGateways", |after| async move {
        let page = api.list_vpgs(after.as_deref(), 100).await?;
        Ok((page.vpgs, page.next))
    })
    .await?;
    let ids: Vec<&str> = vpgs.iter().filter_map(|v| v["vpgId"].as_str()).collect();
    assert_eq!(
        (ids, pages),
        (vec!["vpg-0", "vpg-1", "vpg-2", "vpg-3", "vpg-4"], 3)
    );
    assert_eq!(vpgs[0], env.emu.vpg("vpg-0").ok_or("no vpg-0")?);
    assert_eq!(
        keys_asked(env, "listVirtualPrivateGateways"),
        [None, Some("vpg-1".into()), Some("vpg-3".into())]
    );
    let inspection = json!({
        "enabled": true,
        "report": {"credentialsId": "aws-new", "enabled": true, "destination": {"provider": "aws", "service": "kinesis"}},
    });
    api.set_inspection("vpg-2", &inspection).await?;
    assert_eq!(env.emu.vpg_inspection("vpg-2"), Some(inspection.clone()));
    let page = api.list_vpgs(Some("vpg-1"), 1).await?;
    assert_eq!(page.vpgs[0]["inspection"], inspection);
    assert_eq!(page.vpgs[0]["junctionEnabled"], json!(true));
    assert_eq!(page.next.as_deref(), Some("vpg-2"));
    let (e, definite) = status(api.set_inspection("vpg-none", &inspection).await);
    assert_eq!(
        parts(&e),
        ("setInspectionConfiguration", 404, Some("VPG0001"))
    );
    assert!(definite, "{e}");
    Ok(())
}

/// 2030-01-02T00:00:00Z, epoch ms: when the logs below were written.
const LOG_T0: i64 = 1_893_542_400_000;

fn log(service: LogService, imsi: &str, at_ms: i64) -> LogEntry {
    let mut body = Map::new();
    body.insert("message".into(), json!("Could not send data"));
    body.insert("credentialsId".into(), json!("aws-old"));
    LogEntry {
        service,
        resource_type: LogResourceType::Subscriber,
        resource_id: imsi.into(),
        time: at_ms,
        log_level: LogLevel::Error,
        body,
    }
}

async fn logs_are_paged(api: &impl SoracomApi, env: &Env) -> TestResult {
    let minute = 60_000;
    // One before `from`, five Funnel entries after it, one of another service.
    env.emu
        .emit_log(log(LogService::Funnel, "440100000000000", LOG_T0 - minute));
    for i in 1..=5 {
        let imsi = format!("44010000000000{i}");
        env.emu
            .emit_log(log(LogService::Funnel, &imsi, LOG_T0 + i * minute));
    }
    env.emu.emit_log(log(
        LogService::Funk,
        "440100000000009",
        LOG_T0 + 9 * minute,
    ));
    env.emu.set_page_size(2);
    let from = OffsetDateTime::from_unix_timestamp_nanos(i128::from(LOG_T0) * 1_000_000)?;
    let (entries, pages) = walk("getLogs", |after| async move {
        let page = api.list_logs("Funnel", from, after.as_deref(), 100).await?;
        Ok((page.entries, page.next))
    })
    .await?;
    assert_eq!(pages, 3);
    // Newest first, as the emulator lists them.
    let imsis: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.resource_id.as_deref())
        .collect();
    assert_eq!(
        imsis,
        [
            "440100000000005",
            "440100000000004",
            "440100000000003",
            "440100000000002",
            "440100000000001"
        ]
    );
    let first = &entries[0];
    assert_eq!(first.service, "Funnel");
    let at =
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(LOG_T0 + 5 * minute) * 1_000_000)?;
    assert_eq!(first.at, Some(at));
    assert_eq!(first.body["credentialsId"], json!("aws-old"));
    let queries: Vec<String> = env
        .requests_of("getLogs")
        .iter()
        .filter_map(|r| r.query.clone())
        .collect();
    assert!(
        queries[0].starts_with(&format!("service=Funnel&from={LOG_T0}&limit=100")),
        "{queries:?}"
    );
    // Logs are documented with both next-page headers; either alone is read the same.
    for mode in [PagingMode::Link, PagingMode::NextKey] {
        env.emu.set_paging_mode(mode);
        let (again, _) = walk("getLogs", |after| async move {
            let page = api.list_logs("Funnel", from, after.as_deref(), 100).await?;
            Ok((page.entries, page.next))
        })
        .await?;
        assert_eq!(again, entries, "{mode:?}");
    }
    Ok(())
}

// --- Errors ----------------------------------------------------------------------------

async fn a_400_is_read_in_either_error_envelope(api: &impl SoracomApi, env: &Env) -> TestResult {
    env.emu.set_max_limit(Some(5));
    for envelope in [ErrorEnvelope::Plain, ErrorEnvelope::ApiCallError] {
        env.emu.set_error_envelope(envelope);
        let before = env.count("listGroups");
        let (e, definite) = status(api.list_groups(None, 10).await);
        assert_eq!(
            parts(&e),
            ("listGroups", 400, Some("COM0001")),
            "{envelope:?}"
        );
        assert_eq!(
            e.to_string(),
            "SORACOM listGroups: HTTP 400 COM0001: limit must be at most 5",
            "{envelope:?}"
        );
        assert!(definite, "{envelope:?}");
        assert_eq!(env.count("listGroups") - before, 1, "a 400 is not retried");
        // An injected 400, in the same envelope.
        env.fault(
            "listEventHandlers",
            1,
            1,
            FaultKind::Status {
                status: 400,
                body: FaultBody::Json,
            },
        );
        let (e, definite) = status(api.list_event_handlers().await);
        assert_eq!(
            e.to_string(),
            "SORACOM listEventHandlers: HTTP 400 EMU0001: injected fault",
            "{envelope:?}"
        );
        assert!(definite);
        // The envelope of a real 404 too (delete takes it as gone; update does not).
        let (e, _) = status(
            api.update_credential("none", "", &new_key(AKIA_1, SECRET_1))
                .await,
        );
        assert_eq!(
            parts(&e),
            ("updateCredential", 404, Some("CRD0001")),
            "{envelope:?}"
        );
    }
    Ok(())
}

async fn an_html_502_is_retried_then_quoted(api: &impl SoracomApi, env: &Env) -> TestResult {
    let html = FaultKind::Status {
        status: 502,
        body: FaultBody::Html,
    };
    env.fault("listCredentials", 1, 0, html.clone());
    let start = env.mono();
    let r = api.list_credentials().await;
    let waited = env.mono() - start;
    let (e, definite) = status(r);
    assert_eq!(
        e.to_string(),
        "SORACOM listCredentials: HTTP 502: non-SORACOM body (text/html): <html> <head><title>502 Bad Gateway</title></head> <body> <center><h1>502 Bad Gateway</h1></center> </body> </html>"
    );
    assert!(!definite);
    // Every attempt (4), the backoff between them (10 + 20 + 40 ms).
    assert_eq!(env.statuses("listCredentials"), [502; 4]);
    assert!(waited >= Duration::from_millis(70), "{waited:?}");
    // A create is not sent again after a 5xx: the caller lists, then decides.
    env.emu.clear_faults();
    env.fault("createCredential", 1, 0, html);
    let (e, definite) = status(
        api.create_credential("aws-z", "", &new_key(AKIA_1, SECRET_1))
            .await,
    );
    assert_eq!(parts(&e), ("createCredential", 502, None));
    // The request carried a secret: the page is not quoted.
    assert!(!definite && !e.to_string().contains("html"), "{e}");
    assert_eq!(env.count("createCredential"), 1);
    Ok(())
}

async fn a_truncated_body_is_an_error_not_a_panic(api: &impl SoracomApi, env: &Env) -> TestResult {
    // A success whose body ends early: no retry (the call was done), a body error.
    let g = env.emu.add_group("g", json!({}));
    env.fault(
        "putConfigurationParameters",
        1,
        0,
        FaultKind::Status {
            status: 200,
            body: FaultBody::Truncated,
        },
    );
    match api.put_group_config(&g, "SoracomAir", "k", &json!(1)).await {
        Err(Error::SoracomBody(BodyError { op, detail })) => {
            assert_eq!(op, "putConfigurationParameters");
            assert_eq!(detail, "truncated JSON (line 1, column 22)");
        }
        other => panic!("expected a body error, got {other:?}"),
    }
    assert_eq!(env.count("putConfigurationParameters"), 1);
    // The same half body where a list is due: of the wrong shape from its first byte.
    env.fault(
        "listEventHandlers",
        1,
        1,
        FaultKind::Status {
            status: 200,
            body: FaultBody::Truncated,
        },
    );
    match api.list_event_handlers().await {
        Err(Error::SoracomBody(BodyError { op, detail })) => {
            assert_eq!(op, "listEventHandlers");
            assert_eq!(detail, "JSON of the wrong shape (line 1, column 0)");
        }
        other => panic!("expected a body error, got {other:?}"),
    }
    // An error whose body ends early: quoted as it is, retried as a 5xx is.
    env.fault(
        "listCredentials",
        1,
        0,
        FaultKind::Status {
            status: 500,
            body: FaultBody::Truncated,
        },
    );
    let (e, _) = status(api.list_credentials().await);
    assert_eq!(
        e.to_string(),
        r#"SORACOM listCredentials: HTTP 500: non-SORACOM body (application/json): {"code":"EMU0001","mes"#
    );
    assert_eq!(env.count("listCredentials"), 4);
    // An error without a body.
    env.fault(
        "listGroups",
        1,
        1,
        FaultKind::Status {
            status: 404,
            body: FaultBody::Empty,
        },
    );
    let (e, definite) = status(api.list_groups(None, 10).await);
    assert_eq!(e.to_string(), "SORACOM listGroups: HTTP 404: empty body");
    assert!(definite);
    // Valid JSON of the wrong shape.
    env.fault(
        "listGroups",
        1,
        1,
        FaultKind::Status {
            status: 200,
            body: FaultBody::WrongType,
        },
    );
    match api.list_groups(None, 10).await {
        Err(Error::SoracomBody(BodyError { op, detail })) => {
            assert_eq!(op, "listGroups");
            assert!(detail.starts_with("JSON of the wrong shape"), "{detail}");
        }
        other => panic!("expected a body error, got {other:?}"),
    }
    Ok(())
}

async fn a_huge_body_is_refused_unread(api: &impl SoracomApi, env: &Env) -> TestResult {
    // A 50 MiB answer, over the client's 16 MiB bound: to a success, and to a 5xx (once:
    // a later attempt is answered as usual).
    let huge = |status| FaultKind::Status {
        status,
        body: FaultBody::Huge,
    };
    env.fault("listEventHandlers", 1, 0, huge(200));
    let ok = api.list_event_handlers().await;
    env.fault("listCredentials", 1, 1, huge(502));
    let failed = api.list_credentials().await;
    let bound = 16 << 20;
    match ok {
        Err(Error::SoracomTooLarge { op, limit }) => {
            assert_eq!((op, limit), ("listEventHandlers", bound));
        }
        other => panic!("expected a refusal of the body, got {other:?}"),
    }
    // Refused unread, and not retried (the same answer would come again).
    match failed {
        Err(e @ Error::SoracomTooLarge { .. }) => {
            assert!(!e.is_retryable() && !e.is_definite_rejection(), "{e}");
            assert_eq!(
                e.to_string(),
                format!("SORACOM listCredentials: response larger than {bound} bytes; refused")
            );
        }
        other => panic!("expected a refusal of the body, got {other:?}"),
    }
    assert_eq!(env.statuses("listCredentials"), [502]);
    assert_eq!(env.statuses("listEventHandlers"), [200]);
    Ok(())
}

async fn a_429_is_retried_within_bounds(api: &impl SoracomApi, env: &Env) -> TestResult {
    // Without rate-limit headers: the bounded backoff, then the 429.
    env.fault(
        "listGroups",
        1,
        0,
        FaultKind::Status {
            status: 429,
            body: FaultBody::Json,
        },
    );
    let start = env.mono();
    let r = api.list_groups(None, 10).await;
    let waited = env.mono() - start;
    let (e, definite) = status(r);
    assert_eq!(
        e.to_string(),
        "SORACOM listGroups: HTTP 429 EMU0001: injected fault (rate limited: limit ?, retry in ? s)"
    );
    assert!(definite && e.status == 429, "a 429 was not processed");
    assert_eq!(env.statuses("listGroups"), [429; 4]);
    assert!(waited >= Duration::from_millis(70), "{waited:?}");
    // With them: each attempt after the advertised refresh (1 s), then the 429.
    env.fault(
        "listEventHandlers",
        1,
        0,
        FaultKind::RateLimited {
            seconds_before_refresh: 1,
        },
    );
    let start = env.mono();
    let r = api.list_event_handlers().await;
    let waited = env.mono() - start;
    let (e, _) = status(r);
    assert_eq!(
        e.to_string(),
        "SORACOM listEventHandlers: HTTP 429 COM0429: rate limit exceeded (rate limited: limit 60, retry in 1 s)"
    );
    assert_eq!(env.statuses("listEventHandlers"), [429; 4]);
    assert!(waited >= Duration::from_secs(3), "{waited:?}");
    // A 429 was not processed: even a create is sent again after it.
    env.fault(
        "createCredential",
        1,
        1,
        FaultKind::RateLimited {
            seconds_before_refresh: 0,
        },
    );
    let made = api
        .create_credential("aws-after-429", "", &new_key(AKIA_1, SECRET_1))
        .await?;
    assert_eq!(made.id, "aws-after-429");
    assert_eq!(env.statuses("createCredential"), [429, 201]);
    Ok(())
}

async fn a_rejection_is_definite_an_unanswered_call_is_not(
    api: &impl SoracomApi,
    env: &Env,
) -> TestResult {
    let k = new_key(AKIA_1, SECRET_1);
    // Definite: a 4xx to the only attempt.
    api.create_credential("aws-a", "", &k).await?;
    let (e, definite) = status(api.create_credential("aws-a", "", &k).await);
    assert!(definite && e.status == 400, "{e}");
    // Unknown: a 5xx to a create (not retried) may have been applied.
    env.fault(
        "createCredential",
        1,
        1,
        FaultKind::Status {
            status: 500,
            body: FaultBody::Json,
        },
    );
    let err = api
        .create_credential("aws-b", "", &k)
        .await
        .expect_err("500");
    assert!(!err.is_definite_rejection() && err.is_retryable(), "{err}");
    // Unknown: no answer at all, to a create that was (or was not) applied.
    env.fault("createCredential", 1, 1, FaultKind::Drop);
    let err = api
        .create_credential("aws-c", "", &k)
        .await
        .expect_err("dropped");
    assert!(
        matches!(
            err,
            Error::SoracomTransport {
                op: "createCredential",
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.is_definite_rejection());
    env.fault("createCredential", 1, 1, FaultKind::SucceedThenDrop);
    let err = api
        .create_credential("aws-d", "", &k)
        .await
        .expect_err("dropped");
    assert!(!err.is_definite_rejection(), "{err}");
    assert_eq!(
        env.emu.credential_ids(),
        ["aws-a", "aws-d"],
        "the dropped create that acted is there; the others are not"
    );
    assert_eq!(env.statuses("createCredential"), [201, 400, 500, 0, 0]);
    // Unknown: a 4xx after an unanswered attempt proves nothing about the first.
    let g = env
        .emu
        .add_group("g", json!({"SoracomFunnel": {"credentialsId": "aws-a"}}));
    env.fault(
        "putConfigurationParameters",
        1,
        1,
        FaultKind::SucceedThenDrop,
    );
    env.fault(
        "putConfigurationParameters",
        2,
        1,
        FaultKind::Status {
            status: 400,
            body: FaultBody::Json,
        },
    );
    let err = api
        .put_group_config(&g, "SoracomFunnel", "credentialsId", &json!("aws-d"))
        .await
        .expect_err("400 on the retry");
    assert!(matches!(err, Error::SoracomTransport { .. }), "{err}");
    assert!(!err.is_definite_rejection(), "{err}");
    assert!(err.to_string().contains("outcome is unknown"), "{err}");
    let held = env.emu.group_by_name("g").ok_or("group gone")?;
    assert_eq!(
        held["configuration"]["SoracomFunnel"]["credentialsId"],
        json!("aws-d")
    );
    // An idempotent call that lost its answers is sent again, and goes through.
    env.fault("listGroups", 1, 2, FaultKind::Drop);
    assert_eq!(api.list_groups(None, 10).await?.groups.len(), 1);
    assert_eq!(env.statuses("listGroups"), [0, 0, 200]);
    Ok(())
}

async fn a_call_slower_than_the_timeout_is_abandoned(
    api: &impl SoracomApi,
    env: &Env,
) -> TestResult {
    // The first attempt is answered after 3 s, past the client's 2 s: given up on,
    // sent again, and the second answered.
    env.fault(
        "listEventHandlers",
        1,
        1,
        FaultKind::Latency(Duration::from_secs(3)),
    );
    let start = env.mono();
    assert!(api.list_event_handlers().await?.is_empty());
    let waited = env.mono() - start;
    assert!(waited >= Duration::from_secs(2), "{waited:?}");
    assert_eq!(env.count("listEventHandlers"), 2);
    // A slow create is given up on too, and not sent again: its outcome is unknown.
    env.fault(
        "createCredential",
        1,
        1,
        FaultKind::Latency(Duration::from_secs(3)),
    );
    let r = api
        .create_credential("aws-slow", "", &new_key(AKIA_1, SECRET_1))
        .await;
    match r {
        Err(e @ Error::SoracomTransport { .. }) => assert!(!e.is_definite_rejection(), "{e}"),
        other => panic!("expected no answer, got {other:?}"),
    }
    // Past the slow answers, neither abandoned attempt was performed or recorded: in
    // memory the exchange is dropped at the client's timeout, on the wire the server
    // drops the handler with the connection the client closed.
    env.clock.sleep(Duration::from_millis(1500)).await;
    assert_eq!(env.statuses("listEventHandlers"), [200]);
    assert_eq!(env.statuses("createCredential"), Vec::<u16>::new());
    assert_eq!(env.count("createCredential"), 1);
    assert!(env.emu.credential("aws-slow").is_none());
    Ok(())
}

async fn a_call_that_acts_then_hangs_is_sent_again(api: &impl SoracomApi, env: &Env) -> TestResult {
    let g = env
        .emu
        .add_group("g", json!({"SoracomFunnel": {"credentialsId": "aws-a"}}));
    // Applied, then never answered: the client gives up after its timeout and, the call
    // being idempotent, sends it again.
    env.fault(
        "putConfigurationParameters",
        1,
        1,
        FaultKind::SucceedThenHang,
    );
    let start = env.mono();
    let echoed = api
        .put_group_config(&g, "SoracomFunnel", "credentialsId", &json!("aws-b"))
        .await?;
    let waited = env.mono() - start;
    assert!(waited >= Duration::from_secs(2), "{waited:?}");
    assert_eq!(
        echoed.configuration["SoracomFunnel"]["credentialsId"],
        json!("aws-b")
    );
    assert_eq!(env.emu.held(), 1);
    assert_eq!(env.count("putConfigurationParameters"), 2);
    let seen = env.statuses("putConfigurationParameters");
    assert_eq!(seen, [200]);
    Ok(())
}

async fn a_burst_within_an_advertised_rate_limit_draws_no_429(
    api: &impl SoracomApi,
    env: &Env,
) -> TestResult {
    env.emu.set_rate_limit(Some(RateLimit {
        limit: 3,
        window: Duration::from_secs(1),
    }));
    let start = env.mono();
    let burst = tokio::join!(
        api.list_credentials(),
        api.list_credentials(),
        api.list_credentials(),
        api.list_credentials(),
        api.list_credentials(),
        api.list_credentials(),
        api.list_credentials(),
    );
    let waited = env.mono() - start;
    for r in [
        burst.0, burst.1, burst.2, burst.3, burst.4, burst.5, burst.6,
    ] {
        r?;
    }
    // Paced by the headers: every call within the limit, none sent twice; seven calls at
    // three a window fill three windows.
    assert_eq!(env.statuses("listCredentials"), [200; 7]);
    assert!(waited >= Duration::from_secs(2), "{waited:?}");
    // Sequential calls too, on another path (its own limit).
    for _ in 0..4 {
        api.list_event_handlers().await?;
    }
    assert_eq!(env.statuses("listEventHandlers"), [200; 4]);
    assert!(env.emu.requests().iter().all(|r| r.status != 429));
    Ok(())
}

async fn an_oversized_request_body_is_refused(api: &impl SoracomApi, env: &Env) -> TestResult {
    // The emulator's server reads at most 1 MiB of a request.
    env.emu.add_event_handler(json!({"handlerId": "h-1"}));
    let big = "x".repeat(1 << 20);
    let body = json!({
        "name": "big", "status": "active", "ruleConfig": {"type": "x", "properties": {}},
        "actionConfigList": [], "description": big,
    });
    let r = api.update_event_handler("h-1", &body).await;
    let recorded: Vec<(String, u16)> = env
        .emu
        .requests()
        .iter()
        .map(|r| (r.operation.clone().unwrap_or_else(|| "-".into()), r.status))
        .collect();
    let (e, definite) = status(r);
    assert_eq!(parts(&e), ("updateEventHandler", 413, Some("COM0002")));
    assert!(definite);
    // Refused before it is routed: recorded without an operation.
    assert_eq!(recorded, [("auth".into(), 200), ("-".into(), 413)]);
    assert_eq!(env.emu.event_handlers(), [json!({"handlerId": "h-1"})]);
    Ok(())
}

// --- AuthKeys --------------------------------------------------------------------------

async fn auth_keys_are_listed_generated_and_deleted<T: Transport>(
    c: &SoracomClient<T>,
    env: &Env,
) -> TestResult {
    let root = c.identify(&auth_key()).await?;
    assert_eq!(c.list_auth_key_ids(&root).await?, [KEY_ID]);
    let made = c.generate_auth_key(&root).await?;
    assert!(
        made.id.starts_with("keyId-") && made.id != KEY_ID,
        "{}",
        made.id
    );
    assert_eq!(c.identify(&made).await?, root);
    let mut both = vec![KEY_ID.to_string(), made.id.clone()];
    both.sort();
    assert_eq!(c.list_auth_key_ids(&root).await?, both);
    c.delete_auth_key(&root, &made.id).await?;
    // Gone already: deleted as far as it goes.
    c.delete_auth_key(&root, &made.id).await?;
    assert_eq!(env.emu.auth_key_ids(), [KEY_ID]);
    let (e, definite) = status(c.identify(&made).await);
    assert!(definite && e.status == 401, "{e}");
    // A SAM user's key: its own keys, under the user's path.
    env.emu
        .add_sam_auth_key("keyId-sam", "secret-sam", "rotator");
    let sam_key = AuthKey {
        id: "keyId-sam".into(),
        secret: Secret::new("secret-sam"),
    };
    let sam = c.identify(&sam_key).await?;
    assert_eq!(sam.user_name.as_deref(), Some("rotator"));
    assert_eq!(c.list_auth_key_ids(&sam).await?, ["keyId-sam"]);
    let second = c.generate_auth_key(&sam).await?;
    c.delete_auth_key(&sam, &second.id).await?;
    assert_eq!(
        env.ops(),
        [
            "auth",
            "auth",
            "listOperatorAuthKeys",
            "generateOperatorAuthKey",
            "auth",
            "listOperatorAuthKeys",
            "deleteOperatorAuthKey",
            "deleteOperatorAuthKey",
            "auth",
            "auth",
            "listUserAuthKeys",
            "generateUserAuthKey",
            "deleteUserAuthKey",
        ]
    );
    assert_eq!(env.statuses("deleteOperatorAuthKey"), [204, 404]);
    assert_eq!(env.statuses("generateUserAuthKey"), [200]);
    assert_eq!(env.statuses("generateOperatorAuthKey"), [201]);
    Ok(())
}

// --- The two paths side by side --------------------------------------------------------

/// A recorded request as both paths must agree on it: what the client sent (method,
/// path, query, body, the headers it sets) and what the emulator did (operation, status,
/// fault). Ids the emulator made are replaced by stand-ins (each emulator makes its own).
#[derive(Debug, PartialEq)]
struct Sent {
    method: String,
    operation: Option<String>,
    path: String,
    query: Option<String>,
    /// Not compared for `auth`, whose body may hold a key generated by the emulator.
    body: Option<String>,
    /// The headers the client sets, with their values (the session's by presence only).
    headers: Vec<(String, String)>,
    status: u16,
    fault: Option<FaultKind>,
}

/// The headers the client itself sets on every request.
const CLIENT_HEADERS: &[&str] = &[
    "accept",
    "content-type",
    "x-soracom-lang",
    "x-soracom-api-key",
    "x-soracom-token",
];

/// Whether `s` is an id the emulator made (`xxxxxxxx-0000-4000-8000-nnnnnnnnnnnn`).
fn is_made_id(s: &[u8]) -> bool {
    s.len() == 36
        && s.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
        && &s[8..24] == b"-0000-4000-8000-"
}

/// `s` with the emulator's ids (groups: `G-<n>`) and generated AuthKey ids (`keyId-*`)
/// replaced.
fn stand_ins(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    // Each turn consumes at least one byte.
    while i < b.len() {
        if b.len() - i >= 36 && is_made_id(&b[i..i + 36]) {
            out.push_str("G-");
            out.push_str(&s[i + 24..i + 36]);
            i += 36;
        } else if s[i..].starts_with("keyId-")
            && b.len() - i >= 38
            && b[i + 6..i + 38].iter().all(u8::is_ascii_hexdigit)
        {
            out.push_str("keyId-*");
            i += 38;
        } else {
            let c = s[i..].chars().next().unwrap_or('?');
            out.push(c);
            i += c.len_utf8().max(1);
        }
    }
    out
}

fn sent(r: &RecordedRequest) -> Sent {
    let auth = r.operation.as_deref() == Some("auth");
    let mut headers: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(k, _)| CLIENT_HEADERS.contains(&k.as_str()))
        .map(|(k, v)| {
            let v = if k.starts_with("x-soracom-api") || k == "x-soracom-token" {
                "…".to_string()
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    // The order of headers means nothing in HTTP.
    headers.sort();
    Sent {
        method: r.method.clone(),
        operation: r.operation.clone(),
        path: stand_ins(&r.path),
        query: r.query.as_deref().map(stand_ins),
        body: r.body.as_deref().map(|b| {
            if auth {
                "…".into()
            } else {
                stand_ins(&String::from_utf8_lossy(b))
            }
        }),
        headers,
        status: r.status,
        fault: r.fault.clone(),
    }
}

/// The header names of a request that the client does not set (the transport's own).
fn transport_headers(r: &RecordedRequest) -> Vec<String> {
    let mut names: Vec<String> = r
        .headers
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| !CLIENT_HEADERS.contains(&k.as_str()))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Both emulators recorded the same requests, in the same order; the transports differ
/// only in the headers they add.
#[track_caller]
fn assert_same_requests(wire: &[RecordedRequest], memory: &[RecordedRequest]) {
    let w: Vec<Sent> = wire.iter().map(sent).collect();
    let m: Vec<Sent> = memory.iter().map(sent).collect();
    let ops = |v: &[Sent]| v.iter().map(|s| s.operation.clone()).collect::<Vec<_>>();
    assert_eq!(ops(&w), ops(&m), "the operations, wire then memory");
    for (i, (w, m)) in w.iter().zip(&m).enumerate() {
        assert_eq!(w, m, "request {i}, wire then memory");
    }
    // The transports' own headers: reqwest adds these; `Memory` adds none.
    for (w, m) in wire.iter().zip(memory) {
        let mut http_only = vec!["host", "user-agent"];
        // A body sends its length, kept or not (a refused one is not kept).
        if w.body.is_some() || w.status == 413 {
            http_only.insert(0, "content-length");
        }
        assert_eq!(transport_headers(w), http_only, "{} {}", w.method, w.path);
        // `Memory` sends no `host`: the emulator's `Link` is then a path, not a URL (the
        // client takes only its key either way).
        assert_eq!(
            transport_headers(m),
            Vec::<String>::new(),
            "Memory now adds headers of its own: update this note"
        );
    }
}

fn runtime(paused: bool) -> std::io::Result<tokio::runtime::Runtime> {
    let mut b = tokio::runtime::Builder::new_current_thread();
    b.enable_all();
    if paused {
        b.start_paused(true);
    }
    b.build()
}

/// One test per behaviour and path: `http::<behaviour>`, `memory::<behaviour>`, and
/// `same_requests::<behaviour>` (both paths, their recorded requests compared).
macro_rules! conformance {
    (compared: $($name:ident),* ; not_compared: $($other:ident),* $(,)?) => {
        conformance!(@paths $($name,)* $($other,)*);
        conformance!(@compare $($name,)*);
    };
    (@paths $($name:ident,)*) => {
        /// Each behaviour through `SoracomClient<Http>` to an emulator on a socket.
        mod http {
            $(
                #[tokio::test]
                async fn $name() -> super::TestResult {
                    let (client, env) = super::wire().await?;
                    super::$name(&client, &env).await
                }
            )*
        }
        /// Each behaviour through `SoracomClient<Memory>` to an in-memory emulator, in
        /// simulated time.
        mod memory {
            $(
                #[tokio::test(start_paused = true)]
                async fn $name() -> super::TestResult {
                    let (client, env) = super::memory()?;
                    super::$name(&client, &env).await
                }
            )*
        }
    };
    (@compare $($name:ident,)*) => {
        /// Each behaviour on both paths, what the two emulators recorded compared.
        mod same_requests {
            $(
                #[test]
                fn $name() -> super::TestResult {
                    let wire = super::runtime(false)?.block_on(async {
                        let (client, env) = super::wire().await?;
                        super::$name(&client, &env).await?;
                        Ok::<_, super::BoxError>(env.emu.requests())
                    })?;
                    let memory = super::runtime(true)?.block_on(async {
                        let (client, env) = super::memory()?;
                        super::$name(&client, &env).await?;
                        Ok::<_, super::BoxError>(env.emu.requests())
                    })?;
                    super::assert_same_requests(&wire, &memory);
                    Ok(())
                }
            )*
        }
    };
}

conformance! {
    compared:
    a_login_and_a_call,
    an_expired_token_is_met_by_one_relogin,
    a_token_past_its_lifetime_is_renewed,
    credential_sets_are_listed_with_the_key_id_shown_or_hidden,
    credential_sets_are_created_updated_and_deleted,
    groups_are_paged_in_every_paging_mode,
    a_broken_next_page_is_the_clients_paging_error,
    a_group_configuration_is_put_and_echoed,
    event_handlers_are_listed_and_updated,
    vpgs_are_paged_and_their_inspection_set,
    logs_are_paged,
    a_400_is_read_in_either_error_envelope,
    an_html_502_is_retried_then_quoted,
    a_truncated_body_is_an_error_not_a_panic,
    a_429_is_retried_within_bounds,
    a_rejection_is_definite_an_unanswered_call_is_not,
    a_call_slower_than_the_timeout_is_abandoned,
    a_burst_within_an_advertised_rate_limit_draws_no_429,
    auth_keys_are_listed_generated_and_deleted,
    a_huge_body_is_refused_unread,
    a_call_that_acts_then_hangs_is_sent_again,
    an_oversized_request_body_is_refused;
    not_compared:
}
