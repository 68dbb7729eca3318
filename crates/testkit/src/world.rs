//! One scenario's world, shared by every harness that drives the tool against emulated
//! services: the CLI's (the real binary), the Lambda's (the handler in-process) and the
//! library's (the executor in-process).
//!
//! A [`World`] is a SORACOM [`Emulator`] that accepts the harness's AuthKey, an
//! [`AwsProxy`] in front of moto (the shared one of `scripts/with-moto`, or one of the
//! world's own that checks signatures and whose clock travels), an IAM user of its own
//! ([`crate::moto::unique`]), the [`Ledger`] of its secrets, and a clock. It arranges what a
//! scenario starts from ([`World::seed_key`]: a first key registered by hand), inspects
//! the state (keys, sets, references), and makes the checks every scenario ends with:
//! every SORACOM request conformed to the official spec ([`World::assert_contract`]) and
//! nothing the code under test wrote holds a secret of the world's history
//! ([`World::assert_no_secret`]). Both checks leave their figures for
//! `scripts/reliability` ([`crate::figures`]).
//!
//! What is specific to a harness stays in its crate's tests: running the binary and
//! tracking each run's effect (CLI); the handler's ports, Secrets Manager, SSM, SNS and the
//! webhook (Lambda). Such a harness wraps a [`World`] and dereferences to it.
//!
//! # The clock
//! The world's epoch is the real time it was made, to the second, so that IAM's, the
//! emulator's and the code's clocks agree as they do in production. [`World::travel`]
//! moves the world's clock: the emulator shows real time plus the offset travelled, a
//! world's own moto moves with it, [`World::current`] is the epoch plus the offset (the
//! fixed `now` a run is given) and [`World::live`] the real time plus the offset (a clock
//! that moves, as a Lambda function's does).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use rotator::Clock;
use serde_json::{json, Value};
use soracom_emulator::Emulator;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::aws_proxy::AwsProxy;
use crate::backend::{Admin, Proxy};
use crate::contract::{assert_conforms, recorded, Spec};
use crate::fake::clock::PausedClock;
use crate::fake::iam::FakeIam;
use crate::fake::soracom::MemoryDial;
use crate::fake::{Script, SeqIds};
use crate::moto::{self, ClockedMoto, Iam, KeyInfo};
use crate::secrets::Ledger;

/// The credential prefix of the worlds' target: its sets are `<PREFIX>-<yymmdd>[-<n>]`.
pub const PREFIX: &str = "aws-soracom-funnel-sample";

/// The SORACOM operations that write; everything else is a read or auth.
pub const SORACOM_WRITES: [&str; 6] = [
    "createCredential",
    "updateCredential",
    "deleteCredential",
    "putConfigurationParameters",
    "updateEventHandler",
    "setInspectionConfiguration",
];

/// The IAM actions that write access keys.
pub const IAM_WRITES: [&str; 3] = ["CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"];

/// Which moto a world uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moto {
    /// The moto of `MOTO_ENDPOINT` (`scripts/with-moto`), shared by every test; its clock
    /// is the real one and it accepts any signature.
    Shared,
    /// A moto of the world's own ([`ClockedMoto::start_authenticated`]) whose clock moves
    /// with the world's and that checks every signature: a key works only with its own
    /// secret, so verification and the secret SORACOM was given mean something.
    Authenticated,
    /// No moto and no socket: the in-memory fakes ([`crate::fake`]), the emulator reached
    /// in memory, and a clock over tokio's paused time (the test's runtime must start
    /// paused). The world's epoch is fixed ([`MEMORY_EPOCH`]), so dates never depend on
    /// the day the test runs.
    Memory,
}

/// The epoch of every in-memory world: a Monday morning, far from midnight.
pub const MEMORY_EPOCH: OffsetDateTime = time::macros::datetime!(2027-01-04 09:00 UTC);

/// The fakes of a world on [`Moto::Memory`]: what the code under test is given.
#[derive(Clone)]
pub struct Fakes {
    /// The time, and every wait.
    pub clock: Arc<PausedClock>,
    /// The hook every fake call goes through: faults, people holding calls.
    pub script: Arc<Script>,
    /// The IAM port.
    pub iam: FakeIam,
    /// SORACOM in memory.
    pub dial: MemoryDial,
    /// Run ids and random bytes, from the world's seed.
    pub ids: Arc<SeqIds>,
}

/// How to make a [`World`].
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The harness's name in the figures (`cli`, `lambda`, …).
    pub harness: &'static str,
    /// Prefix of the IAM user's unique name.
    pub user_prefix: &'static str,
    /// The SORACOM AuthKey (id, secret) the code under test logs in with.
    pub auth_key: (&'static str, &'static str),
    /// When set, the AuthKey is this SAM user's (else the operator's own).
    pub sam_user: Option<&'static str>,
    /// Which moto.
    pub moto: Moto,
}

/// One scenario's world; see the [module documentation](self).
pub struct World {
    /// The SORACOM emulator, in-process (on a socket, or in memory).
    pub emu: Arc<Emulator>,
    /// Where AWS faults are armed and AWS calls counted: the proxy in front of moto, or the
    /// fakes' script.
    pub proxy: Proxy,
    /// Arranges and inspects IAM directly (not through the proxy or the hook).
    pub iam: Admin,
    /// The world's own IAM user, the target's.
    pub user: String,
    /// This world's secrets and everything the code under test wrote.
    pub ledger: Ledger,
    /// The world's own moto, when it has one ([`Moto::Authenticated`]).
    pub clocked: Option<ClockedMoto>,
    /// The in-memory fakes, on [`Moto::Memory`].
    pub fakes: Option<Fakes>,
    harness: &'static str,
    moto_endpoint: String,
    /// The key the code under test signs its own AWS calls with.
    aws_key: (String, String),
    /// The world's epoch.
    t0: OffsetDateTime,
    /// How far the world's clock has travelled from its epoch.
    offset: Mutex<time::Duration>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("harness", &self.harness)
            .field("user", &self.user)
            .field("emu", &self.emu)
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl World {
    /// Starts the emulator (accepting `options.auth_key`), moto when the world has its own,
    /// and the proxy in front of it; creates the world's IAM user. The ledger starts with
    /// the AuthKey's secret and the world's own AWS secret.
    ///
    /// # Panics
    /// When a service does not start or moto refuses the user.
    pub async fn start(options: Options) -> World {
        if options.moto == Moto::Memory {
            return World::in_memory(options).await;
        }
        crate::install_crypto_provider();
        let emu = Emulator::start()
            .await
            .unwrap_or_else(|e| panic!("emulator: {e}"));
        let (key_id, key) = options.auth_key;
        match options.sam_user {
            Some(user) => emu.add_sam_auth_key(key_id, key, user),
            None => emu.add_auth_key(key_id, key),
        }
        let clocked = match options.moto {
            Moto::Authenticated => Some(ClockedMoto::start_authenticated().await),
            Moto::Shared | Moto::Memory => None,
        };
        let (moto_endpoint, aws_key) = match &clocked {
            Some(m) => (m.endpoint(), m.credentials()),
            None => (
                moto::endpoint(),
                (
                    moto::TEST_ACCESS_KEY_ID.to_string(),
                    moto::TEST_SECRET_ACCESS_KEY.to_string(),
                ),
            ),
        };
        let proxy = AwsProxy::start(&moto_endpoint)
            .await
            .unwrap_or_else(|e| panic!("AWS proxy: {e}"));
        let iam = Iam::connect_as(&moto_endpoint, &aws_key.0, &aws_key.1).await;
        let user = moto::unique(options.user_prefix);
        iam.create_user(&user)
            .await
            .unwrap_or_else(|e| panic!("create user: {e}"));
        let ledger = Ledger::new();
        ledger.add(key);
        ledger.add(aws_key.1.clone());
        let now = OffsetDateTime::now_utc();
        World {
            emu: Arc::new(emu),
            proxy: Proxy::Real(Arc::new(proxy)),
            iam: Admin::Moto(Box::new(iam)),
            user,
            ledger,
            clocked,
            fakes: None,
            harness: options.harness,
            moto_endpoint,
            aws_key,
            t0: now.replace_nanosecond(0).unwrap_or(now),
            offset: Mutex::new(time::Duration::ZERO),
        }
    }

    /// A world of the in-memory fakes ([`Moto::Memory`]); its seed comes from its user's
    /// unique name.
    async fn in_memory(options: Options) -> World {
        let user = moto::unique(options.user_prefix);
        let seed = user.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let clock = Arc::new(PausedClock::new(MEMORY_EPOCH));
        let script = Arc::new(Script::new());
        let emu = Arc::new(Emulator::in_memory(seed));
        let (key_id, key) = options.auth_key;
        match options.sam_user {
            Some(u) => emu.add_sam_auth_key(key_id, key, u),
            None => emu.add_auth_key(key_id, key),
        }
        emu.set_now_ms(Some(ms(MEMORY_EPOCH)));
        let fake = FakeIam::new(seed, clock.clone(), script.clone());
        let iam = fake.helper();
        // Scenarios written against moto expect a new key to work at once, as moto's do; a
        // scenario about propagation sets the delay itself.
        iam.set_sts_delay(Duration::ZERO);
        iam.create_user(&user)
            .await
            .unwrap_or_else(|e| panic!("create user: {e}"));
        let ledger = Ledger::new();
        ledger.add(key);
        let dial = MemoryDial::new(std::slice::from_ref(&emu), script.clone(), clock.clone());
        // As in a world on moto, whose epoch is its start rounded down to the second, what
        // the scenario makes comes a moment after the epoch.
        tokio::time::sleep(Duration::from_secs(1)).await;
        World {
            emu,
            proxy: Proxy::Fake(Arc::new(crate::backend::FakeProxy::new(script.clone()))),
            iam: Admin::Fake(iam),
            user,
            ledger,
            clocked: None,
            fakes: Some(Fakes {
                clock,
                script,
                iam: fake,
                dial,
                ids: Arc::new(SeqIds::new(seed)),
            }),
            harness: options.harness,
            moto_endpoint: String::new(),
            aws_key: (String::new(), String::new()),
            t0: MEMORY_EPOCH,
            offset: Mutex::new(time::Duration::ZERO),
        }
    }

    /// The fakes of a world on [`Moto::Memory`].
    ///
    /// # Panics
    /// On a world with moto.
    pub fn fakes(&self) -> &Fakes {
        self.fakes
            .as_ref()
            .unwrap_or_else(|| panic!("this needs a world on Moto::Memory"))
    }

    /// Whether this world runs on the in-memory fakes.
    pub fn in_memory_world(&self) -> bool {
        self.fakes.is_some()
    }

    /// The key (id, secret) the code under test signs its AWS calls with.
    pub fn aws_key(&self) -> (&str, &str) {
        (&self.aws_key.0, &self.aws_key.1)
    }

    /// The address of the world's moto (the proxy's upstream).
    pub fn moto_endpoint(&self) -> &str {
        &self.moto_endpoint
    }

    /// An SDK configuration for the code under test: through the proxy, signed with
    /// [`World::aws_key`].
    pub async fn sdk_config(&self) -> SdkConfig {
        moto::sdk_config_as(&self.proxy.endpoint(), &self.aws_key.0, &self.aws_key.1).await
    }

    /// Whether this world's moto checks signatures.
    pub fn checks_signatures(&self) -> bool {
        self.aws_key.0 != moto::TEST_ACCESS_KEY_ID
    }

    // The clock.

    /// The world's epoch: the real time it was made, to the second.
    pub fn epoch(&self) -> OffsetDateTime {
        self.t0
    }

    /// The world's time `days` after its epoch.
    pub fn time(&self, days: i64) -> OffsetDateTime {
        self.t0 + time::Duration::days(days)
    }

    /// [`World::time`] in RFC 3339 (what `--now` or an event's `now` takes).
    pub fn at(&self, days: i64) -> String {
        rfc3339(self.time(days))
    }

    /// The world's current time: its epoch plus the offset travelled.
    pub fn current(&self) -> OffsetDateTime {
        self.t0 + self.offset()
    }

    /// [`World::current`] in RFC 3339.
    pub fn now(&self) -> String {
        rfc3339(self.current())
    }

    /// A clock that moves: the real time plus the offset travelled (in memory: the fakes'
    /// clock).
    pub fn live(&self) -> OffsetDateTime {
        match &self.fakes {
            Some(f) => f.clock.now(),
            None => OffsetDateTime::now_utc() + self.offset(),
        }
    }

    /// [`World::live`] as a clock for the code under test: the real time plus the offset
    /// travelled, waits in real time.
    pub fn live_clock(&self) -> Live<'_> {
        Live::new(self)
    }

    /// What moto records as the time of a call made now: the real time, plus the offset
    /// travelled when the world has a moto of its own (its clock moves with the world's).
    pub fn moto_now(&self) -> OffsetDateTime {
        match (&self.clocked, &self.fakes) {
            (Some(_), _) | (_, Some(_)) => self.live(),
            (None, None) => OffsetDateTime::now_utc(),
        }
    }

    /// How far the world's clock has travelled.
    pub fn offset(&self) -> time::Duration {
        *lock(&self.offset)
    }

    /// Moves the world's clock to `days` after its epoch; returns [`World::now`].
    pub fn travel(&self, days: i64) -> String {
        self.travel_by(time::Duration::days(days))
    }

    /// As [`World::travel`], to `hours` after the epoch.
    pub fn travel_hours(&self, hours: i64) -> String {
        self.travel_by(time::Duration::hours(hours))
    }

    /// Moves the world's clock to `offset` after its epoch: the emulator's clock shows the
    /// real time plus it, and a moto of the world's own moves with it. Returns
    /// [`World::now`].
    pub fn travel_by(&self, offset: time::Duration) -> String {
        if let Some(moto) = &self.clocked {
            moto.set_offset(Duration::from_secs(offset.whole_seconds().max(0) as u64));
        }
        let before = std::mem::replace(&mut *lock(&self.offset), offset);
        match &self.fakes {
            Some(f) => {
                f.clock.travel(offset - before);
                self.emu.set_now_ms(Some(ms(f.clock.now())));
            }
            None => self
                .emu
                .set_clock_offset_ms(offset.whole_milliseconds() as i64),
        }
        self.now()
    }

    /// The managed id the tool gives a set it creates `days` after the world's epoch.
    pub fn id_for(&self, days: i64) -> String {
        managed_id(self.time(days))
    }

    /// The managed id the tool gives a set it creates at the world's current time.
    pub fn current_id(&self) -> String {
        managed_id(self.current())
    }

    // Arranging.

    /// A first key registered by hand: a key of the world's user (its secret goes into the
    /// ledger) in credential set `set_id` (no link in its description, created now as moto
    /// sees it), and a group named after each of `groups` whose `SoracomFunnel` uses it
    /// ([`funnel`]). Returns the key id and its secret.
    ///
    /// # Panics
    /// When moto refuses the key.
    pub async fn seed_key(&self, set_id: &str, groups: &[&str]) -> (String, String) {
        let (id, secret) = self
            .iam
            .create_access_key(&self.user)
            .await
            .unwrap_or_else(|e| panic!("first key: {e}"));
        self.ledger.add(secret.clone());
        let creds = json!({"accessKeyId": id, "secretAccessKey": secret});
        self.emu
            .put_credential(set_id, "aws-credentials", "", creds, ms(self.moto_now()));
        for g in groups {
            self.emu.add_group(g, funnel(set_id));
        }
        (id, secret)
    }

    /// Signs an STS call with a key of the user, as something outside the tool would (moto
    /// records the use).
    ///
    /// # Panics
    /// When moto refuses the call.
    pub async fn use_key(&self, id: &str, secret: &str) {
        self.iam
            .use_key(id, secret)
            .await
            .unwrap_or_else(|e| panic!("use the key: {e}"));
    }

    /// Marks credential set `set_id` used by SORACOM at `at`.
    pub fn use_set(&self, set_id: &str, at: OffsetDateTime) {
        self.emu.mark_credential_used(set_id, ms(at));
    }

    /// Makes SORACOM log that AWS refused a Funnel request's credentials at `at` (SIM
    /// `imsi`), as it would when a key lacks a permission.
    pub fn log_auth_failure(&self, imsi: &str, at: OffsetDateTime) {
        use soracom_emulator::{LogEntry, LogLevel, LogResourceType, LogService};
        let body = json!({
            "message": "Failed to put record to AWS: UnrecognizedClientException: The security \
                        token included in the request is invalid.",
            "statusCode": 400,
        });
        self.emu.emit_log(LogEntry {
            service: LogService::Funnel,
            resource_type: LogResourceType::Subscriber,
            resource_id: imsi.to_string(),
            time: ms(at),
            log_level: LogLevel::Error,
            body: body.as_object().cloned().unwrap_or_default(),
        });
    }

    /// Remembers a secret the test planted (a third-party value, a webhook URL).
    pub fn plant_secret(&self, secret: &str) {
        self.ledger.add(secret);
    }

    /// Sets a tag on the world's user, as a person (or an earlier run) would.
    ///
    /// # Panics
    /// When moto refuses it.
    pub async fn tag_user(&self, key: &str, value: &str) {
        self.iam
            .tag_user(&self.user, key, value)
            .await
            .unwrap_or_else(|e| panic!("tag the user: {e}"));
    }

    // Inspecting.

    /// The world's user's tags.
    ///
    /// # Panics
    /// When moto refuses the listing.
    pub async fn user_tags(&self) -> Vec<(String, String)> {
        self.iam
            .tags(&self.user)
            .await
            .unwrap_or_else(|e| panic!("list tags: {e}"))
    }

    /// The world's user's access keys.
    ///
    /// # Panics
    /// When moto refuses the listing.
    pub async fn keys(&self) -> Vec<KeyInfo> {
        self.iam
            .list_keys(&self.user)
            .await
            .unwrap_or_else(|e| panic!("list keys: {e}"))
    }

    /// The access key id a credential set holds (from the emulator's store).
    pub fn key_of_set(&self, set_id: &str) -> Option<String> {
        let c = self.emu.credential(set_id)?;
        c.credentials
            .get("accessKeyId")
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// Every credential set id referenced anywhere (groups, event handlers and VPGs'
    /// Junction inspection), sorted.
    pub fn referenced(&self) -> Vec<String> {
        let mut out = Vec::new();
        for g in self.emu.groups() {
            collect_refs(&g["configuration"], &mut out);
        }
        for h in self.emu.event_handlers() {
            collect_refs(&h, &mut out);
        }
        for v in self.emu.vpgs() {
            collect_refs(&v["inspection"], &mut out);
        }
        out.sort();
        out
    }

    /// The set the `SoracomFunnel` of group `group` names.
    ///
    /// # Panics
    /// When there is no such group.
    pub fn funnel_of(&self, group: &str) -> Value {
        self.emu
            .group_by_name(group)
            .unwrap_or_else(|| panic!("no group {group}"))["configuration"]["SoracomFunnel"]
            ["credentialsId"]
            .clone()
    }

    /// SORACOM writes the emulator saw ([`SORACOM_WRITES`]).
    pub fn soracom_writes(&self) -> u64 {
        let counts = self.emu.call_counts();
        SORACOM_WRITES
            .iter()
            .map(|op| counts.get(*op).copied().unwrap_or(0))
            .sum()
    }

    /// IAM key writes the proxy saw ([`IAM_WRITES`]).
    pub fn iam_writes(&self) -> u64 {
        let counts = self.proxy.call_counts();
        IAM_WRITES
            .iter()
            .map(|op| counts.get(*op).copied().unwrap_or(0))
            .sum()
    }

    // Checks.

    /// Text the code under test wrote (output, a log, a response, a message): searched
    /// by [`World::assert_no_secret`].
    pub fn wrote(&self, text: &str) {
        self.ledger.wrote(text.as_bytes());
    }

    /// Every SORACOM request of this world conformed to the official spec, and there was
    /// at least one. Leaves a line in `contract.jsonl`.
    ///
    /// # Panics
    /// When a request does not conform, or none was made.
    pub fn assert_contract(&self) {
        let reqs = self.emu.requests();
        let spec = Spec::load_default();
        let valid = recorded(&reqs).filter(|r| spec.check(r).is_ok()).count();
        let mut ops = std::collections::BTreeMap::<String, u64>::new();
        for r in &reqs {
            *ops.entry(r.operation.clone().unwrap_or_else(|| "-".into()))
                .or_insert(0) += 1;
        }
        crate::figures::append(
            "contract.jsonl",
            &json!({"harness": self.harness, "requests": reqs.len(), "valid": valid, "operations": ops}),
        );
        let report = assert_conforms(spec, recorded(&reqs));
        assert!(report.checked > 0, "no SORACOM request was made");
    }

    /// Nothing the code under test wrote ([`World::wrote`]) holds a secret of this world:
    /// the ones the test handed it, and every one in the world's history (sent to SORACOM
    /// or issued by it, created by IAM — rolled back and deleted ones included). Leaves a
    /// line in `secrets.jsonl`.
    ///
    /// # Panics
    /// When a secret was found (named by its first four characters only).
    pub fn assert_no_secret(&self) {
        match (&self.proxy, &self.fakes) {
            (Proxy::Real(p), _) => self.ledger.harvest(&self.emu, Some(p)),
            (Proxy::Fake(_), Some(f)) => {
                self.ledger.harvest(&self.emu, None);
                for s in f.iam.helper().issued_secrets() {
                    self.ledger.add(s);
                }
            }
            (Proxy::Fake(_), None) => self.ledger.harvest(&self.emu, None),
        }
        let scan = self.ledger.scan();
        crate::figures::append(
            "secrets.jsonl",
            &json!({"harness": self.harness, "secrets": scan.secrets, "bytes": scan.bytes, "found": scan.found.len()}),
        );
        assert!(scan.found.is_empty(), "secrets leaked: {:?}…", scan.found);
    }
}

/// A group configuration whose `SoracomFunnel` sends to AWS IoT with credential set
/// `set`, beside another namespace (`SoracomAir` metadata) that must be left alone.
pub fn funnel(set: &str) -> Value {
    json!({"SoracomFunnel": {
        "credentialsId": set, "enabled": true, "contentType": "application/json",
        "destination": {"provider": "aws", "service": "aws-iot", "resourceUrl": "https://x.iot.ap-northeast-1.amazonaws.com/soracom/%{imsi}"}
    }, "SoracomAir": {"metadata": {"enabled": true}}})
}

/// RFC 3339 of a time.
///
/// # Panics
/// When the time cannot be formatted (a year beyond 9999).
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|e| panic!("format {t}: {e}"))
}

/// Milliseconds since the Unix epoch, as the emulator counts time.
pub fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The managed id the tool gives a set of [`PREFIX`] it creates at time `t`.
pub fn managed_id(t: OffsetDateTime) -> String {
    let d = t.date();
    format!(
        "{PREFIX}-{:02}{:02}{:02}",
        d.year() % 100,
        u8::from(d.month()),
        d.day()
    )
}

/// `<PREFIX>-<yymmdd>[-<n>]`: the worlds' target's own sets (decoys that merely contain
/// the prefix are someone else's).
pub fn is_managed(id: &str) -> bool {
    is_managed_by(PREFIX, id)
}

/// `<prefix>-<yymmdd>[-<n>]`.
pub fn is_managed_by(prefix: &str, id: &str) -> bool {
    let Some(rest) = id.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')) else {
        return false;
    };
    let (date, n) = rest.split_once('-').unwrap_or((rest, "2"));
    date.len() == 6
        && date.bytes().all(|b| b.is_ascii_digit())
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
}

/// Polls `f` every 20 ms for at most `limit`; whether it became true.
pub async fn eventually<F: std::future::Future<Output = bool>>(
    limit: Duration,
    mut f: impl FnMut() -> F,
) -> bool {
    let start = tokio::time::Instant::now();
    loop {
        if f().await {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every credential set id a JSON value references: `credentialsId` members and
/// `$credentialsId` placeholders, at any depth.
fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(s)) = m.get("$credentialsId") {
                out.push(s.clone());
            }
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("credentialsId", Value::String(s)) => out.push(s.clone()),
                    _ => collect_refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// A world's live time as a [`rotator::Clock`]: the real time plus the offset
/// travelled ([`World::live`]); waits are real.
pub struct Live<'w> {
    world: &'w World,
    real: rotator::SystemClock,
}

impl<'w> Live<'w> {
    /// The live clock of `world`.
    pub fn new(world: &'w World) -> Live<'w> {
        Live {
            world,
            real: rotator::SystemClock::new(),
        }
    }
}

impl rotator::Clock for Live<'_> {
    fn now(&self) -> OffsetDateTime {
        self.world.live()
    }

    fn monotonic(&self) -> Duration {
        self.real.monotonic()
    }

    fn sleep(&self, duration: Duration) -> rotator::Sleep<'_> {
        self.real.sleep(duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_ids_are_the_prefix_a_date_and_an_optional_counter() {
        assert!(is_managed(&format!("{PREFIX}-220810")));
        assert!(is_managed(&format!("{PREFIX}-220810-3")));
        assert!(!is_managed(&format!("{PREFIX}-220810-")));
        assert!(!is_managed(&format!("{PREFIX}-2208")));
        assert!(!is_managed(&format!("x-{PREFIX}-220810")));
        assert!(!is_managed(&format!("{PREFIX}-decoy")));
        let t = time::macros::datetime!(2025-03-04 23:59:59 UTC);
        assert_eq!(managed_id(t), format!("{PREFIX}-250304"));
    }

    #[test]
    fn references_are_found_at_any_depth() {
        let v = json!({"a": {"credentialsId": "s1"}, "b": [{"$credentialsId": "s2"}], "c": {"credentialsId": 3}});
        let mut out = Vec::new();
        collect_refs(&v, &mut out);
        out.sort();
        assert_eq!(out, ["s1", "s2"]);
    }
}
