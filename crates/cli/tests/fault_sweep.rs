//! The fault sweep: every remote call the tool makes — in a rotation, on each of a
//! rotation's failure paths (registration rejected, first move rejected, verification
//! failing), in an in-place rotation and its failure path, in a retirement (deactivation,
//! then deletion), in a rollback, in `rotate-soracom-key`, in an emergency rotation, in
//! each stage of a canary cutover (started, passed, failed and rolled back), in
//! `migrate-to-role` and in the first canary onto its role set —
//! each operation × each occurrence, fails in each of five ways: transport error, HTTP
//! 500, 429 (or IAM throttling) without recovery, a timeout, and the process killed right
//! after the call succeeded. Then the same work is run again without the fault.
//!
//! The points are not listed by hand: a run of each scenario with only its own base faults
//! (none for the plain ones) is recorded — the emulator's requests by operationId, the AWS
//! proxy's calls by action, in order — and every call in it becomes a point, so a call added
//! to the tool is covered without editing this file. A call repeated more than three times
//! in one run (verification polling) contributes its first two and its last occurrence.
//!
//! Each case must show that its fault fired (the emulator or proxy records it; a kill is
//! seen as a held call and a SIGKILL exit), that the faulted run exited as its kind says
//! (1 for a failure, death by SIGKILL for a kill), that every rerun exits 0, that the
//! invariants hold after every run, and that the world ends in the fault-free run's shape.
//! Figures go to `target/reliability/fault_sweep.json` for `scripts/reliability`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{write_figures, Run, World, PREFIX};
use serde_json::{json, Value};
use soracom_emulator::{Fault, FaultBody, FaultKind};
use testkit::aws_proxy::{AwsFault, AwsFaultKind};

/// Cases run at once (each runs the binary two to four times; the machine has 2 cores).
const PARALLEL: usize = 4;
/// Longer than `request_timeout_seconds` below: a call that takes this long times out.
const TIMEOUT_LATENCY: Duration = Duration::from_millis(1_500);
/// A call seen more often than this in one run contributes only some occurrences.
const MAX_OCCURRENCES: u32 = 3;
/// SIGKILL.
const SIGKILL: i32 = 9;
/// When the rerun comes after the faulted run: later than the longest a run can take.
const RERUN_AFTER: time::Duration = time::Duration::hours(3);
/// The in-place target's fixed set.
const FIXED: &str = "aws-funnel-fixed";

/// The old set, made by hand (the seed's scenario).
fn old_set() -> String {
    format!("{PREFIX}-220810")
}

/// Small timeouts and retry bases so that a failing case takes seconds, not minutes.
fn write_config(w: &World, target: &str) {
    write_config_with(w, "", target);
}

/// As [`write_config`], with `soracom` added to the `[soracom]` table.
fn write_config_with(w: &World, soracom: &str, target: &str) {
    let text = format!(
        "[soracom]\n{soracom}page_size = 100\nretry_base_ms = 20\nretry_attempts = 2\nrequest_timeout_seconds = 1\n\n\
         [verify]\nsuccesses = 3\ninterval_ms = 10\ntimeout_seconds = 4\n\n\
         [[targets]]\nname = \"funnel\"\niam_user = \"{}\"\n{target}\n",
        w.user
    );
    std::fs::write(w.config_path(), text).expect("write config");
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    /// `rotate`: create, verify, register, repoint groups and an event handler.
    Rotate,
    /// `rotate` whose registration is definitely rejected: the new key is deleted.
    RegisterRejected,
    /// `rotate` whose first reference write is definitely rejected: set and key deleted.
    FirstMoveRejected,
    /// `rotate` whose new key never verifies: it is deleted.
    VerifyFails,
    /// `retire` after the grace period: deactivate the old key.
    Deactivate,
    /// `retire` after the quiet period: delete the old key, then its set.
    Delete,
    /// `rollback` right after a rotation.
    Rollback,
    /// In place: `rotate` puts a new key into the fixed set.
    InPlace,
    /// In place, the update definitely rejected: the new key is deleted.
    InPlaceRejected,
    /// `rotate-soracom-key` with the key in a soracom-cli profile.
    SoracomKey,
    /// `rotate --emergency`: record the current key exposed, rotate, and deactivate it as
    /// soon as the references left it.
    Emergency,
    /// A rotation through a canary: only the first holder moves.
    CanaryStart,
    /// A canary with positive evidence: the rest moves.
    CanaryPass,
    /// A canary with AWS refusing the new key in SORACOM's logs: it moves back, and the new
    /// key and set go.
    CanaryFail,
    /// `migrate-to-role`: the role (trust, copied policy) and its credential set.
    MigrateToRole,
    /// The first reconcile after it: the event handler moves onto the role set.
    RoleCanary,
}

impl Scenario {
    const ALL: [Scenario; 16] = [
        Scenario::Rotate,
        Scenario::RegisterRejected,
        Scenario::FirstMoveRejected,
        Scenario::VerifyFails,
        Scenario::Deactivate,
        Scenario::Delete,
        Scenario::Rollback,
        Scenario::InPlace,
        Scenario::InPlaceRejected,
        Scenario::SoracomKey,
        Scenario::Emergency,
        Scenario::CanaryStart,
        Scenario::CanaryPass,
        Scenario::CanaryFail,
        Scenario::MigrateToRole,
        Scenario::RoleCanary,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::Rotate => "rotation",
            Scenario::RegisterRejected => "rotation, registration rejected",
            Scenario::FirstMoveRejected => "rotation, first move rejected",
            Scenario::VerifyFails => "rotation, verification failing",
            Scenario::Deactivate => "retirement (deactivate)",
            Scenario::Delete => "retirement (delete)",
            Scenario::Rollback => "rollback",
            Scenario::InPlace => "in-place rotation",
            Scenario::InPlaceRejected => "in-place rotation, update rejected",
            Scenario::SoracomKey => "rotate-soracom-key",
            Scenario::Emergency => "emergency rotation",
            Scenario::CanaryStart => "canary, started",
            Scenario::CanaryPass => "canary, passed",
            Scenario::CanaryFail => "canary, failed",
            Scenario::MigrateToRole => "migrate-to-role",
            Scenario::RoleCanary => "migration, first canary onto the role set",
        }
    }

    fn in_place(self) -> bool {
        matches!(self, Scenario::InPlace | Scenario::InPlaceRejected)
    }

    /// Whether the step's calls need the SORACOM key from the environment (the
    /// soracom-cli profile serves `rotate-soracom-key`).
    fn env_key(self) -> bool {
        self != Scenario::SoracomKey
    }

    /// The day of the world's clock the step runs at.
    fn day(self) -> i64 {
        match self {
            Scenario::Deactivate => 8,
            Scenario::Delete => 16,
            _ => 0,
        }
    }

    /// The run whose calls are faulted: at -vvv, so the logs go through the secret check.
    fn step(self) -> Vec<&'static str> {
        let cmd = match self {
            Scenario::Deactivate | Scenario::Delete => "retire",
            Scenario::Rollback => "rollback",
            Scenario::SoracomKey => "rotate-soracom-key",
            Scenario::Emergency => return vec!["rotate", "--emergency", "-vvv"],
            Scenario::CanaryPass | Scenario::CanaryFail | Scenario::RoleCanary => "reconcile",
            Scenario::MigrateToRole => {
                return vec!["migrate-to-role", "--target", "funnel", "-vvv"];
            }
            _ => "rotate",
        };
        vec![cmd, "-vvv"]
    }

    /// Exit code of the step with only the base faults.
    fn base_exit(self) -> i32 {
        match self {
            Scenario::RegisterRejected
            | Scenario::FirstMoveRejected
            | Scenario::VerifyFails
            | Scenario::InPlaceRejected => 1,
            Scenario::CanaryFail => 3,
            _ => 0,
        }
    }

    /// Whether the scenario's configuration can migrate to a role (SORACOM's account set).
    fn migrates(self) -> bool {
        matches!(self, Scenario::MigrateToRole | Scenario::RoleCanary)
    }

    /// Whether the scenario's target cuts over through a canary.
    fn canary(self) -> bool {
        matches!(
            self,
            Scenario::CanaryStart | Scenario::CanaryPass | Scenario::CanaryFail
        )
    }

    /// The rerun without any fault (JSON output, through the secret check too).
    /// An emergency is finished by the same command (the exposure is recorded on the IAM
    /// user, so it never makes a second key).
    fn rerun(self) -> Vec<&'static str> {
        let cmd = match self {
            Scenario::Rollback => "rollback",
            Scenario::SoracomKey => "rotate-soracom-key",
            Scenario::Emergency => return vec!["rotate", "--emergency", "--output", "json"],
            Scenario::MigrateToRole => {
                return vec!["migrate-to-role", "--target", "funnel", "--output", "json"];
            }
            _ => "reconcile",
        };
        vec![cmd, "--output", "json"]
    }

    /// Whether the step creates a key: a rerun after a fault that undid it all rotates.
    fn rotates(self) -> bool {
        matches!(
            self,
            Scenario::Rotate
                | Scenario::RegisterRejected
                | Scenario::FirstMoveRejected
                | Scenario::VerifyFails
                | Scenario::InPlace
                | Scenario::InPlaceRejected
                | Scenario::Emergency
                | Scenario::CanaryStart
        )
    }

    /// The scenario's own faults, armed before the step of every case.
    fn arm_base(self, w: &World) {
        let reject = |op: &str| Fault {
            operation: op.into(),
            nth: 1,
            times: 1,
            kind: FaultKind::Status {
                status: 400,
                body: FaultBody::Json,
            },
        };
        match self {
            Scenario::RegisterRejected => w.emu.add_fault(reject("createCredential")),
            Scenario::FirstMoveRejected => w.emu.add_fault(reject("putConfigurationParameters")),
            Scenario::InPlaceRejected => w.emu.add_fault(reject("updateCredential")),
            Scenario::VerifyFails => w.proxy.add_fault(AwsFault::always(
                "GetCallerIdentity",
                AwsFaultKind::AccessDenied,
            )),
            _ => {}
        }
    }

    /// Calls the base faults already fail: not points of their own.
    fn base_point(self, side: Side, op: &str, nth: u32) -> bool {
        match (self, side) {
            (Scenario::RegisterRejected, Side::Soracom) => op == "createCredential" && nth == 1,
            (Scenario::FirstMoveRejected, Side::Soracom) => {
                op == "putConfigurationParameters" && nth == 1
            }
            (Scenario::InPlaceRejected, Side::Soracom) => op == "updateCredential" && nth == 1,
            (Scenario::VerifyFails, Side::Aws) => op == "GetCallerIdentity",
            _ => false,
        }
    }

    /// A world in the state just before the step, reached without faults; the world's
    /// clock is at the step's day. `on` says where the runs go.
    async fn setup(self, on: On) -> World {
        let w = match on {
            On::Memory => World::new().await,
            On::Process => World::process_authenticated().await,
        };
        if self.in_place() {
            let (k1, _) = w.seed_set(FIXED).await;
            write_config(
                &w,
                &format!(
                    "strategy = \"in-place\"\ncredential_id = \"{FIXED}\"\nadopt_keys = {{ \"{FIXED}\" = \"{k1}\" }}"
                ),
            );
            return w;
        }
        let k1 = w.seed().await;
        let canary = if self.canary() {
            "\n[targets.canary]\nmin_minutes = 30\nmax_hours = 6\n"
        } else {
            ""
        };
        let target = format!(
            "credential_prefix = \"{PREFIX}\"\nadopt_keys = {{ \"{}\" = \"{k1}\" }}{canary}",
            old_set()
        );
        if self.migrates() {
            write_config_with(&w, "aws_account_id = \"111122223333\"\n", &target);
        } else {
            write_config(&w, &target);
        }
        if self == Scenario::SoracomKey {
            let dir = w.dir.path().join(".soracom");
            std::fs::create_dir_all(&dir).expect("mkdir");
            let profile = dir.join("default.json");
            std::fs::write(
                &profile,
                format!(
                    r#"{{"coverageType":"jp","authKeyId":"{}","authKey":"{}"}}"#,
                    crate::common::AUTH_KEY_ID,
                    crate::common::AUTH_KEY
                ),
            )
            .expect("write profile");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&profile, std::fs::Permissions::from_mode(0o600))
                .expect("chmod");
            return w;
        }
        w.emu.add_event_handler(json!({
            "name": "h", "status": "active", "targetOperatorId": "OP0012345678",
            "ruleConfig": {"type": "SubscriberDailyTrafficRule", "properties": {"inactiveTimeoutDateConst": "BEGINNING_OF_NEXT_DAY", "limitTotalTrafficMegaByte": "1"}},
            "actionConfigList": [{"type": "InvokeAWSLambdaAction", "properties": {"executionDateTimeConst": "IMMEDIATELY", "endpoint": "https://lambda.ap-northeast-1.amazonaws.com", "functionName": "f", "credentialsId": old_set()}}]
        }));
        w.emu.add_vpg(
            "vpg-1",
            json!({"enabled": true, "report": {"enabled": true, "credentialsId": old_set(), "contentType": "json"}}),
        );
        if matches!(
            self,
            Scenario::Deactivate
                | Scenario::Delete
                | Scenario::Rollback
                | Scenario::CanaryPass
                | Scenario::CanaryFail
        ) {
            w.expect(&["rotate"], 0).await;
        }
        if self == Scenario::RoleCanary {
            w.expect(&["migrate-to-role", "--target", "funnel"], 0)
                .await;
        }
        if matches!(self, Scenario::CanaryPass | Scenario::CanaryFail) {
            // An hour of production after the canary moved.
            w.travel_hours(1);
            let new = w.id_for(0);
            match self {
                Scenario::CanaryPass => w.use_set(&new, w.live()),
                _ => w.log_auth_failure("440100000000001", w.live()),
            }
            return w;
        }
        if self == Scenario::Delete {
            w.travel(8);
            w.expect(&["retire"], 0).await;
        }
        w.travel(self.day());
        w
    }

    /// The end every case of the scenario must reach.
    async fn assert_end(self, w: &World) {
        let canary_tags = || async {
            w.user_tags()
                .await
                .into_iter()
                .map(|(k, _)| k)
                .filter(|k| k.contains(":canary"))
                .collect::<Vec<_>>()
        };
        match self {
            Scenario::CanaryStart => {
                w.assert_invariants().await;
                let newest = w
                    .emu
                    .credential_ids()
                    .into_iter()
                    .filter(|id| crate::common::is_managed(id) && *id != old_set())
                    .max()
                    .expect("the canary's set");
                assert_eq!(w.funnel_of("test-1"), json!(newest));
                assert_eq!(w.funnel_of("test-2"), json!(old_set()));
                let tags = canary_tags().await;
                assert!(
                    tags.len() == 1 && tags[0].contains(":canary:"),
                    "the canary is recorded: {tags:?}"
                );
                return;
            }
            Scenario::MigrateToRole | Scenario::RoleCanary => {
                w.assert_converged(&old_set()).await;
                let role_set = format!("{PREFIX}-role");
                let set = w.emu.credential(&role_set).expect("the role set");
                assert_eq!(set.kind, "aws-iam-role-credentials");
                let handler = w.emu.event_handlers()[0]["actionConfigList"][0]["properties"]
                    ["credentialsId"]
                    .clone();
                let canary = w
                    .user_tags()
                    .await
                    .iter()
                    .any(|(k, _)| k == "soracom-key-rotator:role-canary:event-handler");
                if self == Scenario::RoleCanary {
                    assert_eq!(handler, json!(role_set), "the event handler moved first");
                    assert!(canary, "its canary is recorded");
                } else {
                    assert_eq!(handler, json!(old_set()), "migrate-to-role moves nothing");
                    assert!(!canary);
                }
                return;
            }
            Scenario::CanaryFail => {
                w.assert_converged(&old_set()).await;
                assert_eq!(w.keys().await.len(), 1, "the new key is gone");
                let ours: Vec<String> = w
                    .emu
                    .credential_ids()
                    .into_iter()
                    .filter(|id| crate::common::is_managed(id) && *id != old_set())
                    .collect();
                assert!(ours.is_empty(), "the new set is gone: {ours:?}");
                let tags = canary_tags().await;
                assert!(
                    tags.len() == 1 && tags[0].contains(":canary-failed:"),
                    "only the failure stays recorded: {tags:?}"
                );
                return;
            }
            _ => {}
        }
        match self {
            Scenario::Rollback => w.assert_converged(&old_set()).await,
            Scenario::InPlace | Scenario::InPlaceRejected => {
                w.assert_invariants().await;
                let keys = w.keys().await;
                let held = w.key_of_set(FIXED).expect("the fixed set holds a key");
                assert_eq!(keys.len(), 2, "the new key and the previous one: {keys:?}");
                assert!(
                    keys.iter().all(|k| k.status == "Active"),
                    "the previous key is retired later, on evidence: {keys:?}"
                );
                let set = w.emu.credential(FIXED).expect("fixed set");
                assert!(
                    set.description.contains(&format!("accessKeyId={held}"))
                        && set.description.contains("previousAccessKeyId="),
                    "{}",
                    set.description
                );
            }
            Scenario::SoracomKey => {
                let ids = w.emu.auth_key_ids();
                assert!(
                    !ids.contains(&crate::common::AUTH_KEY_ID.to_string()),
                    "the old AuthKey is deleted: {ids:?}"
                );
                // The stored key logs in.
                w.expect_without_env_key(&["plan"], 0).await;
            }
            _ => {
                let newest = w
                    .emu
                    .credential_ids()
                    .into_iter()
                    .filter(|id| crate::common::is_managed(id) && *id != old_set())
                    .max()
                    .expect("a set of the rotation");
                w.assert_converged(&newest).await;
                if self == Scenario::Emergency {
                    let old = w.key_of_set(&old_set()).expect("the old set is kept");
                    let keys = w.keys().await;
                    assert!(
                        keys.iter().any(|k| k.id == old && k.status == "Inactive"),
                        "the exposed key is off at once: {keys:?}"
                    );
                    assert_eq!(keys.len(), 2, "one new key, never a second: {keys:?}");
                }
            }
        }
    }
}

/// Where the runs of a case go: in-process on the fakes, or the real binary against moto
/// and the emulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum On {
    Memory,
    Process,
}

/// Which side a call is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Soracom,
    Aws,
}

/// One remote call of a scenario's step: the `nth` call of `op` on `side`.
#[derive(Clone, Debug)]
struct Point {
    scenario: Scenario,
    side: Side,
    op: String,
    nth: u32,
}

/// How the call fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// The connection closes without an answer, the call not performed (every time).
    Transport,
    /// HTTP 500 (every time).
    Http500,
    /// 429 / IAM `Throttling` (every time: no recovery).
    RateLimited,
    /// No answer within `request_timeout_seconds` (every time).
    Timeout,
    /// The call succeeds, then the process is killed (SIGKILL) before it hears the answer.
    Killed,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::Transport,
        Kind::Http500,
        Kind::RateLimited,
        Kind::Timeout,
        Kind::Killed,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Transport => "transport",
            Kind::Http500 => "http500",
            Kind::RateLimited => "rate-limited",
            Kind::Timeout => "timeout",
            Kind::Killed => "killed-after-success",
        }
    }

    fn soracom(self) -> (FaultKind, u32) {
        match self {
            Kind::Transport => (FaultKind::Drop, 0),
            Kind::Http500 => (
                FaultKind::Status {
                    status: 500,
                    body: FaultBody::Json,
                },
                0,
            ),
            Kind::RateLimited => (
                FaultKind::RateLimited {
                    seconds_before_refresh: 1,
                },
                0,
            ),
            Kind::Timeout => (FaultKind::Latency(TIMEOUT_LATENCY), 0),
            Kind::Killed => (FaultKind::SucceedThenHang, 1),
        }
    }

    fn aws(self) -> (AwsFaultKind, u32) {
        match self {
            Kind::Transport => (AwsFaultKind::Drop, 0),
            Kind::Http500 => (AwsFaultKind::InternalError, 0),
            Kind::RateLimited => (AwsFaultKind::Throttling, 0),
            Kind::Timeout => (AwsFaultKind::Hang, 0),
            Kind::Killed => (AwsFaultKind::SucceedThenHang, 1),
        }
    }

    fn arm(self, w: &World, p: &Point) {
        match p.side {
            Side::Soracom => {
                let (kind, times) = self.soracom();
                w.emu.add_fault(Fault {
                    operation: p.op.clone(),
                    nth: p.nth,
                    times,
                    kind,
                });
            }
            Side::Aws => {
                let (kind, times) = self.aws();
                w.proxy.add_fault(AwsFault {
                    action: p.op.clone(),
                    nth: p.nth,
                    times,
                    kind,
                });
            }
        }
    }

    /// Whether this kind's fault fired on the point's operation.
    fn fired(self, w: &World, p: &Point) -> bool {
        match p.side {
            Side::Soracom => {
                let kind = self.soracom().0;
                w.emu
                    .fired()
                    .iter()
                    .any(|(op, k)| *op == p.op && *k == kind)
            }
            Side::Aws => {
                let kind = self.aws().0;
                w.proxy
                    .calls()
                    .iter()
                    .any(|c| c.action == p.op && c.fault == Some(kind))
            }
        }
    }
}

/// What the end state looks like, without the ids that differ between worlds (key ids):
/// each set with the status of the key it holds, each reference, the keys by status, and
/// how many SORACOM AuthKeys there are.
async fn shape(w: &World) -> Value {
    let keys = w.keys().await;
    let status_of = |key: Option<String>| {
        key.and_then(|k| keys.iter().find(|x| x.id == k).map(|x| x.status.clone()))
            .unwrap_or_else(|| "gone".into())
    };
    let sets: BTreeMap<String, String> = w
        .emu
        .credential_ids()
        .into_iter()
        .map(|id| {
            let st = status_of(w.key_of_set(&id));
            (id, st)
        })
        .collect();
    let mut statuses: Vec<String> = keys.iter().map(|k| k.status.clone()).collect();
    statuses.sort();
    // The tool's own set ids carry the date of the run that made them: a rerun hours later
    // may fall on the next day, so they are compared by their order, not their date.
    let mut managed: Vec<&String> = sets
        .keys()
        .filter(|id| crate::common::is_managed(id))
        .collect();
    managed.sort();
    let name = |id: &str| match managed.iter().position(|m| *m == id) {
        Some(i) if id != old_set() => format!("managed-{i}"),
        _ => id.to_string(),
    };
    let sets: BTreeMap<String, String> = sets.iter().map(|(k, v)| (name(k), v.clone())).collect();
    let references: Vec<String> = w.referenced().iter().map(|r| name(r)).collect();
    json!({"sets": sets, "references": references, "keys": statuses,
           "authKeys": w.emu.auth_key_ids().len()})
}

/// The step with only the base faults: its points, and the end shape after the rerun.
async fn record(scenario: Scenario, on: On) -> (Vec<Point>, Value) {
    eprintln!("recording the base run of {}", scenario.name());
    let w = scenario.setup(on).await;
    scenario.arm_base(&w);
    let (r0, c0) = (w.emu.requests().len(), w.proxy.calls().len());
    let step = w.run_as(&scenario.step(), scenario.env_key()).await;
    assert_eq!(
        step.code,
        scenario.base_exit(),
        "{}: {}\n{}",
        scenario.name(),
        step.stdout,
        step.stderr
    );
    let mut calls: Vec<(Side, String)> = Vec::new();
    for r in &w.emu.requests()[r0..] {
        calls.push((Side::Soracom, r.operation.clone().expect("routed")));
    }
    for c in &w.proxy.calls()[c0..] {
        calls.push((Side::Aws, c.action.clone()));
    }
    let mut total: BTreeMap<(Side, String), u32> = BTreeMap::new();
    for c in &calls {
        *total.entry(c.clone()).or_insert(0) += 1;
    }
    let mut seen: BTreeMap<(Side, String), u32> = BTreeMap::new();
    let mut points = Vec::new();
    for (side, op) in calls {
        let n = seen.entry((side, op.clone())).or_insert(0);
        *n += 1;
        let of = total[&(side, op.clone())];
        let kept = of <= MAX_OCCURRENCES || *n <= 2 || *n == of;
        if kept && !scenario.base_point(side, &op, *n) {
            points.push(Point {
                scenario,
                side,
                op,
                nth: *n,
            });
        }
    }
    w.emu.clear_faults();
    w.proxy.clear_faults();
    rerun(&w, scenario).await;
    scenario.assert_end(&w).await;
    let end = shape(&w).await;
    w.finish().await;
    (points, end)
}

/// The reruns after a faulted (or failing) step: the scenario's rerun, then — when the
/// faulted run undid a rotation completely — a rotation, since it is simply due again.
/// Every run must exit 0 (3 when it finishes a failed canary) and leave the invariants
/// true. Returns them.
async fn rerun(w: &World, scenario: Scenario) -> Vec<Run> {
    // The next scheduled run comes later than the longest a run can take, so that a run
    // killed with a key in flight is over by then.
    w.travel_by(w.offset() + RERUN_AFTER);
    let second = w.run_as(&scenario.rerun(), scenario.env_key()).await;
    // A rerun that finishes a failed canary (moves it back, drops the new key) says again
    // that a person must act.
    let finishes_failure = scenario == Scenario::CanaryFail && second.code == 3;
    assert!(
        second.code == 0 || finishes_failure,
        "rerun exited {}\n{}\n{}",
        second.code,
        second.stdout,
        second.stderr
    );
    w.assert_invariants().await;
    let mut runs = vec![second];
    let undone = if scenario.in_place() {
        w.keys().await.len() < 2
    } else {
        !w.emu
            .credential_ids()
            .iter()
            .any(|id| crate::common::is_managed(id) && *id != old_set())
    };
    if scenario.rotates() && undone {
        let third = w.run(&["rotate", "--output", "json"]).await;
        assert_eq!(
            third.code, 0,
            "rotation after the rerun exited {}\n{}\n{}",
            third.code, third.stdout, third.stderr
        );
        w.assert_invariants().await;
        runs.push(third);
    }
    runs
}

/// One case; panics (with the reason) when it fails. Returns every exit code seen.
async fn case(p: Point, kind: Kind, expected: Value, on: On) -> Vec<i32> {
    let w = p.scenario.setup(on).await;
    p.scenario.arm_base(&w);
    kind.arm(&w, &p);
    let step = p.scenario.step();
    let env_key = p.scenario.env_key();
    let first = if kind == Kind::Killed {
        let side = match p.side {
            Side::Soracom => crate::common::Held::Soracom,
            Side::Aws => crate::common::Held::Aws,
        };
        let (run, held) = w.run_and_kill(&step, side, env_key).await;
        assert!(held, "the call was never held: the fault did not fire");
        assert_eq!(
            run.signal,
            Some(SIGKILL),
            "the run was to be killed; it exited {}\n{}",
            run.code,
            run.stderr
        );
        run
    } else {
        let run = w.run_as(&step, env_key).await;
        assert!(kind.fired(&w, &p), "the fault never fired");
        assert_eq!(
            run.code, 1,
            "a failed call must fail the run (exit 1); it exited {}\n{}\n{}",
            run.code, run.stdout, run.stderr
        );
        run
    };
    w.assert_invariants().await;
    w.emu.clear_faults();
    w.proxy.clear_faults();
    let reruns = rerun(&w, p.scenario).await;
    let codes: Vec<i32> = std::iter::once(first.code)
        .chain(reruns.iter().map(|r| r.code))
        .collect();
    p.scenario.assert_end(&w).await;
    let mut end = shape(&w).await;
    if p.scenario == Scenario::SoracomKey && kind == Kind::Killed && p.op.starts_with("generate") {
        // The run died with the only copy of the new AuthKey's secret: nothing proves that
        // key is the tool's, so it is reported (every later run names it), never deleted.
        let reported = reruns[0].json()["otherKeys"].as_array().map_or(0, Vec::len);
        assert_eq!(reported, 1, "the left-over AuthKey is reported");
        end["authKeys"] = json!(end["authKeys"].as_u64().unwrap_or(0) - 1);
    }
    assert_eq!(end, expected, "end state differs from the fault-free run's");
    w.finish().await;
    codes
}

fn panic_text(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(p) => p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into()),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(start_paused = true)]
async fn every_fault_point_is_safe_and_converges() {
    let started = Instant::now();
    let mut all = Vec::new();
    let mut expected = BTreeMap::new();
    for s in Scenario::ALL {
        let (points, end) = record(s, On::Memory).await;
        assert!(!points.is_empty(), "{}: no call recorded", s.name());
        expected.insert(s, end);
        all.extend(points);
    }
    let limit = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut tasks = Vec::new();
    for p in &all {
        for kind in Kind::ALL {
            let (p, limit) = (p.clone(), limit.clone());
            let end = expected[&p.scenario].clone();
            tasks.push((
                p.clone(),
                kind,
                tokio::spawn(async move {
                    let _permit = limit.acquire_owned().await.expect("semaphore");
                    case(p, kind, end, On::Memory).await
                }),
            ));
        }
    }
    let mut results = Vec::new();
    let mut failures = Vec::new();
    for (p, kind, task) in tasks {
        let outcome = task.await;
        let id = format!(
            "{} / {:?} {} #{} / {}",
            p.scenario.name(),
            p.side,
            p.op,
            p.nth,
            kind.name()
        );
        let base = json!({
            "scenario": p.scenario.name(), "side": format!("{:?}", p.side), "op": p.op,
            "nth": p.nth, "kind": kind.name(),
        });
        let mut row = base.as_object().cloned().unwrap_or_default();
        match outcome {
            Ok(codes) => {
                row.insert("passed".into(), json!(true));
                row.insert("exits".into(), json!(codes));
            }
            Err(e) => {
                let why = panic_text(e);
                failures.push(format!("{id}: {why}"));
                row.insert("passed".into(), json!(false));
                row.insert("why".into(), json!(why));
            }
        }
        results.push(Value::Object(row));
    }
    let mut by_scenario = BTreeMap::new();
    let mut by_operation = BTreeMap::new();
    for p in &all {
        *by_scenario.entry(p.scenario.name()).or_insert(0u32) += 1;
        *by_operation
            .entry(format!("{:?} {}", p.side, p.op))
            .or_insert(0u32) += 1;
    }
    let figures = json!({
        "points": all.len(),
        "pointsByScenario": by_scenario,
        "pointsByOperation": by_operation,
        "scenarios": Scenario::ALL.len(),
        "kinds": Kind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>(),
        "cases": results.len(),
        "passed": results.len() - failures.len(),
        "failed": failures.len(),
        "seconds": started.elapsed().as_secs(),
        "parallel": PARALLEL,
        "results": results,
    });
    write_figures("fault_sweep.json", &figures);
    assert!(
        failures.is_empty(),
        "{} of {} fault cases failed:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n---\n")
    );
}

/// A sample of the sweep through real processes against moto and the emulator: each
/// operation of a rotation that writes, at its first occurrence, fails as the connection
/// closes without an answer, and as the process is killed right after the call
/// succeeded — what only a process shows: a real SIGKILL mid-call, and the HTTP client's
/// and the SDK's own handling of a dropped connection. Two cases at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sample_of_fault_points_through_real_processes() {
    let (points, end) = record(Scenario::Rotate, On::Process).await;
    let writes: Vec<&str> = testkit::world::SORACOM_WRITES
        .iter()
        .chain(testkit::world::IAM_WRITES.iter())
        .chain(["TagUser", "UntagUser"].iter())
        .copied()
        .collect();
    let sample: Vec<Point> = points
        .into_iter()
        .filter(|p| p.nth == 1 && writes.contains(&p.op.as_str()))
        .collect();
    let limit = Arc::new(tokio::sync::Semaphore::new(2));
    let mut tasks = Vec::new();
    for p in &sample {
        for kind in [Kind::Transport, Kind::Killed] {
            let (p, limit, end) = (p.clone(), limit.clone(), end.clone());
            tasks.push((
                format!("{:?} {} / {}", p.side, p.op, kind.name()),
                tokio::spawn(async move {
                    let _permit = limit.acquire_owned().await.expect("semaphore");
                    case(p, kind, end, On::Process).await
                }),
            ));
        }
    }
    let cases = tasks.len();
    let mut failures = Vec::new();
    for (id, task) in tasks {
        if let Err(e) = task.await {
            failures.push(format!("{id}: {}", panic_text(e)));
        }
    }
    assert!(cases >= 8, "only {cases} cases: {sample:?}");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n---\n")
    );
}
