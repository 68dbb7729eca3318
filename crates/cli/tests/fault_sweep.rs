//! The fault sweep (issue 5): every remote call the tool makes during a rotation, a
//! retirement (deactivation, then deletion) and a rollback, each operation kind × each
//! occurrence, fails in each of five ways — transport error, HTTP 500, 429 (or IAM
//! throttling) without recovery, a timeout, and the process killed right after the call
//! succeeded — and then the same work is run again without the fault.
//!
//! The points are not listed by hand: a fault-free run of each scenario is recorded (the
//! emulator's requests by operationId, the AWS proxy's calls by action, in order) and every
//! call in it becomes a point, so a call added to the tool is covered without editing this
//! file. After each case DESIGN §3's invariants hold, the rerun exits 0, the world has
//! converged (new key active and referenced everywhere, at most 2 keys, no orphan set or
//! key) and its shape equals the fault-free run's. Figures go to
//! `target/reliability/fault_sweep.json` for `scripts/reliability`.

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{figures_dir, id_for, Run, World, PREFIX};
use serde_json::{json, Value};
use soracom_emulator::{Fault, FaultBody, FaultKind};
use testkit::aws_proxy::{AwsFault, AwsFaultKind};
use tokio::io::AsyncReadExt;

/// Cases run at once (each runs the binary two to four times; the machine has 2 cores).
const PARALLEL: usize = 4;
/// Longer than `request_timeout_seconds` below: a call that takes this long times out.
const TIMEOUT_LATENCY: Duration = Duration::from_millis(1_500);

/// The old set, made by hand (the seed's scenario).
fn old_set() -> String {
    format!("{PREFIX}-220810")
}

/// Small timeouts and retry bases so that a failing case takes seconds, not minutes.
fn write_config(w: &World, k1: &str) {
    let text = format!(
        "[soracom]\npage_size = 100\nretry_base_ms = 20\nretry_attempts = 2\nrequest_timeout_seconds = 1\n\n\
         [verify]\nsuccesses = 3\ninterval_ms = 10\ntimeout_seconds = 4\n\n\
         [[targets]]\nname = \"funnel\"\niam_user = \"{}\"\ncredential_prefix = \"{PREFIX}\"\n\
         adopt_keys = {{ \"{}\" = \"{k1}\" }}\n",
        w.user,
        old_set()
    );
    std::fs::write(w.config_path(), text).expect("write config");
}

fn days(n: i64) -> String {
    common::days_from_now(n)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    /// `rotate`: create, verify, register, repoint groups and an event handler.
    Rotate,
    /// `retire` after the grace period: deactivate the old key.
    Deactivate,
    /// `retire` after the quiet period: delete the old key, then its set.
    Delete,
    /// `rollback` right after a rotation.
    Rollback,
}

impl Scenario {
    const ALL: [Scenario; 4] = [
        Scenario::Rotate,
        Scenario::Deactivate,
        Scenario::Delete,
        Scenario::Rollback,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::Rotate => "rotation",
            Scenario::Deactivate => "retirement (deactivate)",
            Scenario::Delete => "retirement (delete)",
            Scenario::Rollback => "rollback",
        }
    }

    /// The run whose calls are faulted: at -vvv, so the logs go through the secret check.
    fn step(self) -> Vec<String> {
        let v: Vec<String> = match self {
            Scenario::Rotate => vec!["rotate".into()],
            Scenario::Deactivate => vec!["retire".into(), "--now".into(), days(8)],
            Scenario::Delete => vec!["retire".into(), "--now".into(), days(16)],
            Scenario::Rollback => vec!["rollback".into()],
        };
        v.into_iter().chain(["-vvv".to_string()]).collect()
    }

    /// The rerun without the fault (JSON output, through the secret check too).
    fn rerun(self) -> Vec<String> {
        let v: Vec<String> = match self {
            Scenario::Rotate => vec!["reconcile".into()],
            Scenario::Deactivate => vec!["reconcile".into(), "--now".into(), days(8)],
            Scenario::Delete => vec!["reconcile".into(), "--now".into(), days(16)],
            Scenario::Rollback => vec!["rollback".into()],
        };
        v.into_iter()
            .chain(["--output".to_string(), "json".to_string()])
            .collect()
    }

    /// The set every reference is on at the end.
    fn final_set(self) -> String {
        match self {
            Scenario::Rollback => old_set(),
            _ => id_for(0),
        }
    }

    /// A world in the state just before the step, reached without faults.
    async fn setup(self) -> World {
        let w = World::new().await;
        let k1 = w.seed().await;
        write_config(&w, &k1);
        w.emu.add_event_handler(json!({
            "name": "h", "status": "active", "targetOperatorId": "OP0012345678",
            "ruleConfig": {"type": "SubscriberDailyTrafficRule", "properties": {"inactiveTimeoutDateConst": "BEGINNING_OF_NEXT_DAY", "limitTotalTrafficMegaByte": "1"}},
            "actionConfigList": [{"type": "InvokeAWSLambdaAction", "properties": {"executionDateTimeConst": "IMMEDIATELY", "endpoint": "https://lambda.ap-northeast-1.amazonaws.com", "functionName": "f", "credentialsId": old_set()}}]
        }));
        if self != Scenario::Rotate {
            w.expect(&["rotate"], 0).await;
        }
        if self == Scenario::Delete {
            w.expect(&["retire", "--now", &days(8)], 0).await;
        }
        w
    }
}

/// Which side a call is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

    fn arm(self, w: &World, p: &Point) {
        match p.side {
            Side::Soracom => {
                let (kind, times) = match self {
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
                };
                w.emu.add_fault(Fault {
                    operation: p.op.clone(),
                    nth: p.nth,
                    times,
                    kind,
                });
            }
            Side::Aws => {
                let (kind, times) = match self {
                    Kind::Transport => (AwsFaultKind::Drop, 0),
                    Kind::Http500 => (AwsFaultKind::InternalError, 0),
                    Kind::RateLimited => (AwsFaultKind::Throttling, 0),
                    Kind::Timeout => (AwsFaultKind::Hang, 0),
                    Kind::Killed => (AwsFaultKind::SucceedThenHang, 1),
                };
                w.proxy.add_fault(AwsFault {
                    action: p.op.clone(),
                    nth: p.nth,
                    times,
                    kind,
                });
            }
        }
    }
}

/// What the end state looks like, without the ids that differ between worlds (key ids):
/// each set with the status of the key it holds, each reference, the keys by status.
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
    json!({"sets": sets, "references": w.referenced(), "keys": statuses})
}

/// Runs the binary, and kills it (SIGKILL) as soon as `side` holds a call back: a faulted
/// call was performed and its answer is being withheld. Bounded: 60 s of 10 ms polls.
async fn run_and_kill(w: &World, args: &[&str], side: Side) -> Run {
    let held = || match side {
        Side::Soracom => w.emu.held(),
        Side::Aws => w.proxy.held(),
    };
    let before = held();
    let mut cmd = w.command(args, true);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn the binary");
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out_task = tokio::spawn(async move {
        let mut b = Vec::new();
        let _ = out_pipe.read_to_end(&mut b).await;
        b
    });
    let err_task = tokio::spawn(async move {
        let mut b = Vec::new();
        let _ = err_pipe.read_to_end(&mut b).await;
        b
    });
    for _ in 0..6_000 {
        if held() > before {
            let _ = child.start_kill();
            break;
        }
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = tokio::time::timeout(Duration::from_secs(120), child.wait())
        .await
        .expect("the binary ended")
        .expect("wait");
    let out = std::process::Output {
        status,
        stdout: out_task.await.unwrap_or_default(),
        stderr: err_task.await.unwrap_or_default(),
    };
    w.record_output(&out)
}

/// The points of a scenario's step, from a fault-free run; also its end shape.
async fn record(scenario: Scenario) -> (Vec<Point>, Value) {
    let w = scenario.setup().await;
    let (r0, c0) = (w.emu.requests().len(), w.proxy.calls().len());
    let step = scenario.step();
    let args: Vec<&str> = step.iter().map(String::as_str).collect();
    w.expect(&args, 0).await;
    let mut seen: BTreeMap<(u8, String), u32> = BTreeMap::new();
    let mut points = Vec::new();
    let mut push = |side: Side, op: String| {
        let n = seen
            .entry((side as u8, op.clone()))
            .and_modify(|n| *n += 1)
            .or_insert(1);
        points.push(Point {
            scenario,
            side,
            op,
            nth: *n,
        });
    };
    for r in &w.emu.requests()[r0..] {
        push(Side::Soracom, r.operation.clone().expect("routed"));
    }
    for c in &w.proxy.calls()[c0..] {
        push(Side::Aws, c.action.clone());
    }
    let rerun = scenario.rerun();
    let args: Vec<&str> = rerun.iter().map(String::as_str).collect();
    w.expect(&args, 0).await;
    w.assert_converged(&scenario.final_set()).await;
    let end = shape(&w).await;
    w.finish().await;
    (points, end)
}

/// One case; panics (with the reason) when it fails.
async fn case(p: Point, kind: Kind, expected: Value) -> (i32, i32) {
    let w = p.scenario.setup().await;
    kind.arm(&w, &p);
    let step = p.scenario.step();
    let args: Vec<&str> = step.iter().map(String::as_str).collect();
    let first = if kind == Kind::Killed {
        run_and_kill(&w, &args, p.side).await
    } else {
        w.run(&args).await
    };
    assert!(
        [-1, 0, 1, 3].contains(&first.code),
        "faulted run exited {}\n{}",
        first.code,
        first.stderr
    );
    w.assert_invariants().await;
    w.emu.clear_faults();
    w.proxy.clear_faults();
    let rerun = p.scenario.rerun();
    let args: Vec<&str> = rerun.iter().map(String::as_str).collect();
    let mut second = w.run(&args).await;
    // A rotation the faulted run undid completely is simply due again: rotate once more.
    if p.scenario == Scenario::Rotate && w.emu.credential(&id_for(0)).is_none() {
        second = w.run(&["rotate", "--output", "json"]).await;
    }
    assert_eq!(
        second.code, 0,
        "rerun exited {}\nfaulted run ({}):\n{}\nrerun:\n{}\n{}",
        second.code, first.code, first.stderr, second.stdout, second.stderr
    );
    w.assert_converged(&p.scenario.final_set()).await;
    let end = shape(&w).await;
    assert_eq!(end, expected, "end state differs from the fault-free run's");
    w.finish().await;
    (first.code, second.code)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_point_is_safe_and_converges() {
    let started = Instant::now();
    let mut all = Vec::new();
    let mut expected = BTreeMap::new();
    for s in Scenario::ALL {
        let (points, end) = record(s).await;
        expected.insert(s.name(), end);
        all.extend(points);
    }
    let limit = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut tasks = Vec::new();
    for p in &all {
        for kind in Kind::ALL {
            let (p, limit) = (p.clone(), limit.clone());
            let end = expected[p.scenario.name()].clone();
            tasks.push((
                p.clone(),
                kind,
                tokio::spawn(async move {
                    let _permit = limit.acquire_owned().await.expect("semaphore");
                    case(p, kind, end).await
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
        match outcome {
            Ok((first, rerun)) => results.push(json!({
                "scenario": p.scenario.name(), "side": format!("{:?}", p.side), "op": p.op,
                "nth": p.nth, "kind": kind.name(), "passed": true,
                "firstExit": first, "rerunExit": rerun,
            })),
            Err(e) => {
                let why = panic_text(e);
                failures.push(format!("{id}: {why}"));
                results.push(json!({
                    "scenario": p.scenario.name(), "side": format!("{:?}", p.side), "op": p.op,
                    "nth": p.nth, "kind": kind.name(), "passed": false, "why": why,
                }));
            }
        }
    }
    let mut by_scenario = BTreeMap::new();
    for p in &all {
        *by_scenario.entry(p.scenario.name()).or_insert(0u32) += 1;
    }
    let figures = json!({
        "points": all.len(),
        "pointsByScenario": by_scenario,
        "kinds": Kind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>(),
        "cases": results.len(),
        "passed": results.len() - failures.len(),
        "failed": failures.len(),
        "seconds": started.elapsed().as_secs(),
        "parallel": PARALLEL,
        "results": results,
    });
    let dir = figures_dir();
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        dir.join("fault_sweep.json"),
        serde_json::to_string_pretty(&figures).unwrap_or_default(),
    );
    assert!(
        failures.is_empty(),
        "{} of {} fault cases failed:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n---\n")
    );
}
