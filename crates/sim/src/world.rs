//! The simulated world of one schedule: the fake IAM and the emulator in memory, the
//! targets that live in them, the configuration the runs read, and what the simulator
//! knows that the tool must not need to: whose each key and set is, and which values are
//! secrets.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::FutureExt;
use rotator::{Clock, Deliver, Delivery, Error, SoracomAccess};
use rotator_core::config::{NotifySettings, SoracomOverride};
use rotator_core::endpoint::{AuthKey, Endpoint};
use rotator_core::notify::{payload, Notice};
use rotator_core::{Config, Secret};
use serde_json::{json, Value};
use soracom_emulator::Emulator;
use testkit::fake::iam::FakeIam;
use testkit::fake::Proceed;
use time::OffsetDateTime;

use crate::choice::Choices;
use crate::clock::SimClock;

/// When every schedule starts: a Monday morning, UTC, far from a day's end.
pub const EPOCH_UNIX: i64 = 1_799_053_200; // 2027-01-04 09:00 UTC
/// The operator's AuthKey the runs log in with.
const AUTH_KEY_ID: &str = "keyId-sim-operator";
/// Its secret: a secret of the world.
const AUTH_KEY: &str = "secret-sim-operator-auth-key-8f3a1c9e7b";
/// The webhook the configuration notifies: its path is a secret of the world.
const WEBHOOK: &str = "https://hooks.example.invalid/services/T0SIM/B0SIM/webhook-token-5d1e9a";
/// A third party's webhook URL, in an event handler's other action.
const THIRD_PARTY_URL: &str =
    "https://partner.example.invalid/ingest?token=third-party-url-token-77c2";
/// A third party's value in a group's other namespace.
const THIRD_PARTY_VALUE: &str = "third-party-group-password-4b8e21";
/// `max_key_age_days` of every target (the default).
pub const MAX_KEY_AGE_DAYS: i64 = 90;

/// One target as the simulator set it up.
#[derive(Clone, Debug)]
pub struct TargetSpec {
    /// The target's name.
    pub name: String,
    /// Its IAM user.
    pub user: String,
    /// Its credential prefix (sets `<prefix>-…` are its own).
    pub prefix: String,
    /// The fixed set of an in-place target.
    pub fixed_set: Option<String>,
    /// Whether a canary cutover is configured.
    pub canary: bool,
}

impl TargetSpec {
    /// Whether `set` is one of this target's own sets by name (existing or not).
    pub fn owns_name(&self, set: &str) -> bool {
        self.fixed_set.as_deref() == Some(set)
            || set
                .strip_prefix(&self.prefix)
                .is_some_and(|rest| rest.starts_with('-'))
    }
}

/// Notices the runs sent, as each channel would carry them.
#[derive(Clone, Default)]
pub struct Recorder {
    sent: Arc<Mutex<String>>,
}

impl Recorder {
    /// Everything sent so far.
    pub fn text(&self) -> String {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Deliver for Recorder {
    fn deliver<'a>(
        &'a self,
        settings: &'a NotifySettings,
        notices: &'a [Notice],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = (Delivery, Vec<bool>)> + Send + 'a>>
    {
        let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        for n in notices {
            sent.push_str(&n.subject);
            sent.push('\n');
            sent.push_str(&n.text);
            sent.push('\n');
            sent.push_str(&payload(settings.webhook_format, n).to_string());
            sent.push('\n');
        }
        let d = Delivery {
            sent: notices.len(),
            failed: 0,
        };
        Box::pin(std::future::ready((d, vec![true; notices.len()])))
    }
}

/// Every target's SORACOM operator: the world's emulator and AuthKey.
#[derive(Clone)]
pub struct Operator(pub Endpoint);

impl SoracomAccess for Operator {
    async fn credentials(&self, _: &SoracomOverride) -> Result<(Endpoint, AuthKey), Error> {
        Ok((
            self.0.clone(),
            AuthKey {
                id: AUTH_KEY_ID.into(),
                secret: Secret::new(AUTH_KEY),
            },
        ))
    }
}

/// The world of one schedule.
pub struct SimWorld {
    /// Simulated time.
    pub clock: Arc<SimClock>,
    /// IAM (the port every run clones with its own hook).
    pub iam: FakeIam,
    /// SORACOM.
    pub emu: Arc<Emulator>,
    /// The targets.
    pub targets: Vec<TargetSpec>,
    /// What every run reads.
    pub config: Arc<Config>,
    /// Notices sent.
    pub notices: Recorder,
    /// The keys the targets started with (made by hand before the tool ran; its own to
    /// retire once a set of its names them).
    pub seed_keys: BTreeSet<String>,
    /// Values that must never be written anywhere (the IAM secrets are added at the end).
    pub planted: Vec<String>,
}

/// Polls `f` once: the fakes' helpers answer at once.
pub fn at_once<T>(f: impl std::future::Future<Output = T>) -> Option<T> {
    f.now_or_never()
}

fn ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl SimWorld {
    /// The world a seed chooses: one or two targets, each repointing or in place, with or
    /// without a canary; each target's IAM user holds one key, made by hand, held by a set
    /// of the target's names and referenced by two groups, an event handler (beside a third
    /// party's webhook) and, for the first target, a VPG's inspection.
    pub fn new(seed: u64, choices: &mut Choices) -> Result<SimWorld, String> {
        let start = OffsetDateTime::from_unix_timestamp(EPOCH_UNIX).map_err(|e| e.to_string())?;
        let clock = SimClock::new(start);
        let dyn_clock: Arc<dyn Clock> = clock.clone();
        let iam = FakeIam::new(seed, dyn_clock, Arc::new(Proceed));
        let helper = iam.helper();
        // AWS as it is: a new key fails STS for a few seconds; last use shows hours late.
        helper.set_sts_delay(Duration::from_secs(5));
        helper.set_last_used_lag(Duration::from_secs(4 * 3600)); // LAST_USE_LAG
        let emu = Arc::new(Emulator::in_memory(seed));
        emu.add_auth_key(AUTH_KEY_ID, AUTH_KEY);
        emu.set_now_ms(Some(ms(start)));
        let count = 1 + choices.below(2);
        let mut seed_keys = BTreeSet::new();
        let mut targets = Vec::new();
        for i in 1..=count {
            let in_place = choices.chance(250);
            let canary = !in_place && choices.chance(300);
            targets.push(add_target(
                &iam,
                &emu,
                &clock,
                &mut seed_keys,
                i,
                in_place,
                canary,
            )?);
        }
        let config = Config::from_toml(&config_text(&targets), Path::new("sim.toml"))
            .map_err(|e| e.to_string())?;
        Ok(SimWorld {
            clock,
            iam,
            emu,
            targets,
            config: Arc::new(config),
            notices: Recorder::default(),
            seed_keys,
            planted: vec![
                AUTH_KEY.to_string(),
                WEBHOOK.to_string(),
                THIRD_PARTY_URL.to_string(),
                THIRD_PARTY_VALUE.to_string(),
            ],
        })
    }

    /// The operator every run logs in as.
    pub fn operator(&self) -> Operator {
        Operator(Endpoint(self.emu.endpoint()))
    }

    /// Every value that must never be written: the planted ones and every secret IAM ever
    /// issued.
    pub fn secrets(&self) -> Vec<String> {
        let mut all = self.planted.clone();
        all.extend(self.iam.helper().issued_secrets());
        all
    }

    /// Lets `by` pass in the whole world: timers of the runs fire, SORACOM's clock moves.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
        self.sync_emulator();
    }

    /// The simulated time now.
    pub fn clock_now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Sets SORACOM's clock to the simulated time.
    pub fn sync_emulator(&self) {
        self.emu.set_now_ms(Some(ms(self.clock.now())));
    }
}

/// Sets up target `i` in IAM and SORACOM.
fn add_target(
    iam: &FakeIam,
    emu: &Emulator,
    clock: &SimClock,
    seed_keys: &mut BTreeSet<String>,
    i: usize,
    in_place: bool,
    canary: bool,
) -> Result<TargetSpec, String> {
    let name = format!("t{i}");
    let user = format!("sim-user-{i}");
    let prefix = format!("sim-{name}");
    let helper = iam.helper();
    at_once(helper.create_user(&user))
        .ok_or("IAM helper pending")?
        .map_err(|e| e.to_string())?;
    let (key, secret) = at_once(helper.create_access_key(&user))
        .ok_or("IAM helper pending")?
        .map_err(|e| e.to_string())?;
    seed_keys.insert(key.clone());
    let set = if in_place {
        format!("{prefix}-fixed")
    } else {
        format!("{prefix}-270104")
    };
    emu.put_credential(
        &set,
        "aws-credentials",
        "made by hand",
        json!({"accessKeyId": key, "secretAccessKey": secret}),
        ms(clock.now()),
    );
    for g in ["a", "b"] {
        emu.add_group(&format!("{name}-{g}"), group_config(&set));
    }
    emu.add_event_handler(handler_config(&name, &set));
    if i == 1 {
        emu.add_vpg(
            &format!("vpg-{name}"),
            json!({"enabled": true, "report": {"enabled": true, "credentialsId": set, "contentType": "json"}}),
        );
    }
    Ok(TargetSpec {
        name,
        user,
        prefix,
        fixed_set: in_place.then_some(set),
        canary,
    })
}

/// The configuration file every run reads.
fn config_text(targets: &[TargetSpec]) -> String {
    let mut text = format!(
        "[soracom]\npage_size = 100\nretry_base_ms = 200\nrequest_timeout_seconds = 10\n\
         concurrency = 2\n\n[verify]\nsuccesses = 3\ninterval_ms = 1000\ntimeout_seconds = 60\n\n\
         [notify]\nwebhook_url = \"{WEBHOOK}\"\n"
    );
    for t in targets {
        text.push_str(&format!(
            "\n[[targets]]\nname = \"{}\"\niam_user = \"{}\"\n",
            t.name, t.user
        ));
        match &t.fixed_set {
            Some(fixed) => text.push_str(&format!(
                "strategy = \"in-place\"\ncredential_id = \"{fixed}\"\n"
            )),
            None => text.push_str(&format!("credential_prefix = \"{}\"\n", t.prefix)),
        }
        if t.canary {
            text.push_str(&format!(
                "[targets.canary]\nholders = [\"{}-a\"]\nmin_minutes = 30\nmax_hours = 6\n",
                t.name
            ));
        }
    }
    text
}

/// A group's configuration: Funnel through `set`, beside a third party's value.
fn group_config(set: &str) -> Value {
    json!({
        "SoracomFunnel": {
            "credentialsId": set, "enabled": true, "contentType": "application/json",
            "destination": {"provider": "aws", "service": "kinesis", "resourceUrl": "https://kinesis.ap-northeast-1.amazonaws.com/sim"}
        },
        "SoracomAir": {"metadata": {"enabled": true}, "userdata": THIRD_PARTY_VALUE}
    })
}

/// An event handler of target `name`: a Lambda action through `set`, and a third party's
/// webhook.
fn handler_config(name: &str, set: &str) -> Value {
    json!({
        "name": format!("{name}-h"), "status": "active", "targetOperatorId": "OP0012345678",
        "ruleConfig": {"type": "SubscriberDailyTrafficRule", "properties": {"inactiveTimeoutDateConst": "BEGINNING_OF_NEXT_DAY", "limitTotalTrafficMegaByte": "100"}},
        "actionConfigList": [
            {"type": "InvokeAWSLambdaAction", "properties": {"executionDateTimeConst": "IMMEDIATELY", "endpoint": "https://lambda.ap-northeast-1.amazonaws.com", "functionName": "f", "credentialsId": set}},
            {"type": "ExecuteWebRequestAction", "properties": {"executionDateTimeConst": "IMMEDIATELY", "url": THIRD_PARTY_URL, "httpMethod": "POST", "contentType": "application/json", "body": "{}"}}
        ]
    })
}
