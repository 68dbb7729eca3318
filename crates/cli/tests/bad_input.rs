//! Bad input: configuration files broken one key at a time, soracom-cli profiles
//! that are not JSON or readable by others, SORACOM answers that are HTML, truncated, of the
//! wrong type, 50 MiB or empty, unexpected statuses on every call, and IAM errors on every
//! action. Each must give a message naming what was wrong, the documented exit code (2 for
//! configuration and credentials, 1 for a failed remote call, 3 for a safety refusal), a
//! safe state (docs/ARCHITECTURE.md's invariants, and a rerun without the fault converges), and never
//! a panic (the harness asserts that for every run). Figures go to
//! `target/reliability/bad_input.jsonl` for `scripts/reliability`.

use std::future::Future;
use std::sync::Arc;

use crate::common::{append_figures, World, PREFIX};
use serde_json::json;
use soracom_emulator::{Fault, FaultBody, FaultKind};
use testkit::aws_proxy::{AwsFault, AwsFaultKind};

/// Cases run at once.
const PARALLEL: usize = 4;

/// Runs named cases with bounded concurrency; records tried/handled under `category` and
/// fails listing every case that was not handled.
async fn run_cases<F>(category: &str, cases: Vec<(String, F)>)
where
    F: Future<Output = ()> + Send + 'static,
{
    let limit = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut tasks = Vec::new();
    for (name, fut) in cases {
        let limit = limit.clone();
        tasks.push((
            name,
            tokio::spawn(async move {
                let _permit = limit.acquire_owned().await.expect("semaphore");
                fut.await
            }),
        ));
    }
    let tried = tasks.len();
    let mut failed = Vec::new();
    for (name, task) in tasks {
        if let Err(e) = task.await {
            let why = match e.try_into_panic() {
                Ok(p) => p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default(),
                Err(e) => e.to_string(),
            };
            failed.push(format!("{name}: {why}"));
        }
    }
    append_figures(
        "bad_input.jsonl",
        &json!({"category": category, "tried": tried, "handled": tried - failed.len()}),
    );
    assert!(
        failed.is_empty(),
        "{} of {tried} {category} cases not handled:\n{}",
        failed.len(),
        failed.join("\n---\n")
    );
}

/// A key of the good configuration and what values it takes.
#[derive(Clone, Copy)]
enum Ty {
    Int(i64, i64),
    Str,
    Enum,
    List,
    Map,
}

/// One table of the configuration: its header and its keys (name, good value, type).
type Table = (&'static str, Vec<(&'static str, String, Ty)>);

/// The good configuration, table by table; `USER` is replaced by the world's user.
fn good() -> Vec<Table> {
    let s = |v: &str| format!("{v:?}");
    vec![
        (
            "[soracom]",
            vec![
                ("coverage", s("jp"), Ty::Enum),
                ("page_size", "100".into(), Ty::Int(1, 1000)),
                ("concurrency", "4".into(), Ty::Int(1, 64)),
                ("request_timeout_seconds", "30".into(), Ty::Int(1, 300)),
                ("retry_attempts", "5".into(), Ty::Int(1, 10)),
                ("retry_base_ms", "20".into(), Ty::Int(1, 60_000)),
                ("aws_account_id", s("111122223333"), Ty::Str),
            ],
        ),
        (
            "[verify]",
            vec![
                ("successes", "3".into(), Ty::Int(1, 20)),
                ("interval_ms", "10".into(), Ty::Int(0, 60_000)),
                ("timeout_seconds", "20".into(), Ty::Int(1, 3600)),
            ],
        ),
        (
            "[[targets]]",
            vec![
                ("name", s("funnel"), Ty::Str),
                ("iam_user", s("USER"), Ty::Str),
                ("credential_prefix", s(PREFIX), Ty::Str),
                ("max_key_age_days", "90".into(), Ty::Int(1, 3650)),
                ("retire_after_days", "7".into(), Ty::Int(0, 365)),
                ("delete_after_days", "7".into(), Ty::Int(0, 365)),
                ("settle_minutes", "60".into(), Ty::Int(0, 10_080)),
                ("adopt", "[]".into(), Ty::List),
                ("adopt_keys", "{}".into(), Ty::Map),
                ("strategy", s("repoint"), Ty::Enum),
                ("role_name", s("funnel-role"), Ty::Str),
                ("role_credential_id", s(&format!("{PREFIX}-role")), Ty::Str),
            ],
        ),
    ]
}

/// The good configuration with `key` replaced by `value` (`None`: removed) and `extra`
/// appended to `table`.
fn render(user: &str, key: Option<(&str, Option<&str>)>, extra: Option<(&str, &str)>) -> String {
    let mut out = String::new();
    for (table, keys) in good() {
        out.push_str(table);
        out.push('\n');
        for (k, v, _) in keys {
            match key {
                Some((target, None)) if target == k => continue,
                Some((target, Some(bad))) if target == k => {
                    out.push_str(&format!("{k} = {bad}\n"));
                }
                _ => out.push_str(&format!("{k} = {}\n", v.replace("USER", user))),
            }
        }
        if let Some((t, line)) = extra {
            if t == table {
                out.push_str(line);
                out.push('\n');
            }
        }
        out.push('\n');
    }
    out
}

/// Every key broken in every way that applies; each must exit 2 naming the key.
#[tokio::test(start_paused = true)]
async fn every_config_key_broken_in_turn_exits_2_naming_it() {
    let w = World::new().await;
    w.seed().await;
    let user = w.user.clone();
    // (what, config text, text the message must contain)
    let mut cases: Vec<(String, String, String)> = Vec::new();
    for (_, keys) in good() {
        for (k, _, ty) in keys {
            let mut bad: Vec<String> = match ty {
                Ty::Int(min, max) => {
                    let mut v = vec![
                        "\"seven\"".to_string(),
                        (max + 1).to_string(),
                        "-1".into(),
                        "4294967296".into(),
                        "1.5".into(),
                    ];
                    if min > 0 {
                        v.push((min - 1).to_string());
                    }
                    v
                }
                Ty::Str => vec![
                    "7".into(),
                    "\"\"".into(),
                    "\"bad/value with spaces\"".into(),
                ],
                Ty::Enum => vec!["7".into(), "\"nonsense\"".into()],
                Ty::List => vec!["\"x\"".into(), "[\"bad/id\"]".into(), "[7]".into()],
                Ty::Map => vec!["\"x\"".into(), "{ \"bad/id\" = \"AKIA\" }".into()],
            };
            for v in bad.drain(..) {
                cases.push((
                    format!("{k} = {v}"),
                    render(&user, Some((k, Some(&v))), None),
                    k.to_string(),
                ));
            }
        }
    }
    for required in ["name", "iam_user", "credential_prefix"] {
        cases.push((
            format!("{required} missing"),
            render(&user, Some((required, None)), None),
            required.to_string(),
        ));
    }
    for (table, _) in good() {
        cases.push((
            format!("unknown key in {table}"),
            render(&user, None, Some((table, "bogus_key = 1"))),
            "bogus_key".into(),
        ));
    }
    let whole: [(&str, &str, &str); 6] = [
        ("empty file", "", "targets"),
        ("no targets", "[soracom]\ncoverage = \"jp\"\n", "targets"),
        ("not TOML", "this is { not toml", "config"),
        ("unknown table", "[bogus]\nx = 1\n", "bogus"),
        ("truncated", "[soracom]\ncoverage = \"j", "config"),
        (
            "duplicate key",
            "[soracom]\npage_size = 1\npage_size = 2\n",
            "page_size",
        ),
    ];
    for (what, text, needle) in whole {
        cases.push((what.into(), text.into(), needle.into()));
    }
    cases.push((
        "binary garbage".into(),
        String::from_utf8_lossy(&[0xff, 0xfe, 0x00, 0x9c, 0x80]).into_owned(),
        "config".into(),
    ));
    // One world, one file: the runs are quick (no remote call) and run one after another.
    let tried = cases.len();
    let mut failed = Vec::new();
    for (what, text, needle) in cases {
        std::fs::write(w.config_path(), &text).expect("write config");
        let run = w.run(&["plan"]).await;
        let named = run.stderr.contains(&needle) && run.stderr.contains("config");
        if run.code != 2 || !named {
            failed.push(format!(
                "{what}: exit {} (want 2), message names {needle:?}: {named}\n{}",
                run.code, run.stderr
            ));
        }
    }
    assert_eq!(
        w.soracom_writes() + w.iam_writes(),
        0,
        "nothing was changed"
    );
    assert!(w.emu.requests().is_empty(), "no SORACOM call was made");
    w.assert_no_secret();
    append_figures(
        "bad_input.jsonl",
        &json!({"category": "config", "tried": tried, "handled": tried - failed.len()}),
    );
    assert!(
        failed.is_empty(),
        "{} of {tried} broken configs not handled:\n{}",
        failed.len(),
        failed.join("\n---\n")
    );
}

/// soracom-cli profiles that cannot be used: exit 2, naming the profile, never its secret.
#[tokio::test(start_paused = true)]
async fn broken_profiles_exit_2_without_printing_them() {
    const SECRET: &str = "secret-profile-must-not-print-0123";
    let good = format!(r#"{{"authKeyId":"keyId-p","authKey":"{SECRET}"}}"#);
    let cases: Vec<(&str, Vec<u8>, u32, &str)> = vec![
        (
            "truncated JSON",
            good.as_bytes()[..30].to_vec(),
            0o600,
            "JSON",
        ),
        ("empty file", Vec::new(), 0o600, "JSON"),
        ("not JSON", b"authKeyId=keyId-p\n".to_vec(), 0o600, "JSON"),
        ("binary", vec![0xff, 0x00, 0xfe, 0x7b], 0o600, "JSON"),
        (
            "wrong types",
            br#"{"authKeyId":5,"authKey":true}"#.to_vec(),
            0o600,
            "profile",
        ),
        (
            "no auth key",
            br#"{"coverageType":"jp"}"#.to_vec(),
            0o600,
            "authKey",
        ),
        (
            "not an object",
            format!(r#"["{SECRET}"]"#).into_bytes(),
            0o600,
            "profile",
        ),
        (
            "readable by group",
            good.clone().into_bytes(),
            0o640,
            "chmod 600",
        ),
        (
            "readable by all",
            good.clone().into_bytes(),
            0o644,
            "chmod 600",
        ),
        (
            "bad endpoint",
            format!(r#"{{"authKeyId":"keyId-p","authKey":"{SECRET}","endpoint":"ftp://x"}}"#)
                .into_bytes(),
            0o600,
            "endpoint",
        ),
    ];
    let w = World::new().await;
    w.ledger.add(SECRET);
    w.seed().await;
    let dir = w.dir.path().join(".soracom");
    std::fs::create_dir_all(&dir).expect("profile dir");
    let path = dir.join("default.json");
    let tried = cases.len();
    let mut failed = Vec::new();
    for (what, bytes, mode, needle) in cases {
        std::fs::write(&path, &bytes).expect("write profile");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        }
        // The bad endpoint is only read when nothing else names one.
        let run = if what == "bad endpoint" {
            // Without SORACOM_ENDPOINT a regression could reach for the real API (here:
            // nothing answers there): it must end before any request.
            let requests = w.emu.requests().len();
            let mut machine = w.machine(false);
            machine.vars.remove("SORACOM_ENDPOINT");
            let run = w.run_on(machine, &["plan"]).await;
            assert_eq!(w.emu.requests().len(), requests, "no request was made");
            run
        } else {
            w.run_without_env_key(&["plan"]).await
        };
        if run.code != 2 || !run.stderr.contains(needle) || run.stderr.contains(SECRET) {
            failed.push(format!(
                "{what}: exit {} (want 2), names {needle:?}: {}\n{}",
                run.code,
                run.stderr.contains(needle),
                run.stderr
            ));
        }
    }
    assert!(
        !w.ledger.output().contains(SECRET),
        "a profile's secret was printed"
    );
    assert_eq!(w.soracom_writes() + w.iam_writes(), 0);
    append_figures(
        "bad_input.jsonl",
        &json!({"category": "profile", "tried": tried, "handled": tried - failed.len()}),
    );
    assert!(failed.is_empty(), "{}", failed.join("\n---\n"));
}

/// A world with the seed's scenario and an event handler, so every call kind is made.
async fn scenario() -> World {
    let w = World::new().await;
    w.seed().await;
    w.emu.add_event_handler(json!({
        "name": "h", "status": "active", "targetOperatorId": "OP0012345678",
        "ruleConfig": {"type": "SubscriberDailyTrafficRule", "properties": {"inactiveTimeoutDateConst": "BEGINNING_OF_NEXT_DAY", "limitTotalTrafficMegaByte": "1"}},
        "actionConfigList": [{"type": "InvokeAWSLambdaAction", "properties": {"executionDateTimeConst": "IMMEDIATELY", "endpoint": "https://lambda.ap-northeast-1.amazonaws.com", "functionName": "f", "credentialsId": format!("{PREFIX}-220810")}}]
    }));
    w
}

/// The operations (SORACOM) and actions (IAM/STS) a fault-free rotation calls.
async fn calls_of_a_rotation() -> (Vec<String>, Vec<String>) {
    let w = scenario().await;
    w.expect(&["rotate"], 0).await;
    let mut ops: Vec<String> = w.emu.call_counts().into_keys().collect();
    ops.sort();
    let mut actions: Vec<String> = w.proxy.call_counts().into_keys().collect();
    actions.sort();
    w.finish().await;
    (ops, actions)
}

/// After the faulted run: the state is safe and a rerun without the fault converges.
async fn safe_and_converges(w: &World) {
    w.assert_invariants().await;
    w.emu.clear_faults();
    w.proxy.clear_faults();
    let run = w.run(&["reconcile"]).await;
    assert_eq!(run.code, 0, "rerun\n{}\n{}", run.stdout, run.stderr);
    if w.emu.credential(&w.id_for(0)).is_none() {
        w.expect(&["rotate"], 0).await;
    }
    w.assert_converged(&w.id_for(0)).await;
    w.finish().await;
}

/// Every SORACOM operation of a rotation answered with each bad body (status 200) and each
/// unexpected status (JSON error body; 502 as an HTML page): exit 1 naming the operation.
#[tokio::test(start_paused = true)]
async fn bad_soracom_answers_on_every_call_fail_safely() {
    let (ops, _) = calls_of_a_rotation().await;
    let mut answers: Vec<(u16, FaultBody)> = [
        FaultBody::Html,
        FaultBody::Truncated,
        FaultBody::WrongType,
        FaultBody::Huge,
        FaultBody::Empty,
    ]
    .into_iter()
    .map(|b| (200, b))
    .collect();
    for status in [400, 401, 403, 404, 409, 500, 503] {
        answers.push((status, FaultBody::Json));
    }
    answers.push((502, FaultBody::Html));
    let mut cases = Vec::new();
    for op in &ops {
        for (status, body) in answers.clone() {
            let op = op.clone();
            cases.push((format!("{op} {status} {body:?}"), async move {
                let w = scenario().await;
                w.emu.add_fault(Fault {
                    operation: op.clone(),
                    nth: 1,
                    times: 0,
                    kind: FaultKind::Status { status, body },
                });
                let run = w.run(&["rotate"]).await;
                let all = format!("{}{}", run.stdout, run.stderr);
                // updateEventHandler's answer is not read: a 2xx with any body is success.
                let body_unread = op == "updateEventHandler" && status == 200;
                if body_unread {
                    assert!([0, 1].contains(&run.code), "exit {}\n{all}", run.code);
                } else {
                    assert_eq!(run.code, 1, "exit code\n{all}");
                    assert!(all.contains(&op), "the message names {op}:\n{all}");
                    assert!(
                        all.lines().count() < 400 && all.len() < 200_000,
                        "the message is bounded ({} bytes)",
                        all.len()
                    );
                }
                safe_and_converges(&w).await;
            }));
        }
    }
    run_cases("soracom-response", cases).await;
}

/// Every IAM/STS action of a rotation failing with each IAM error, every time: exit 1 (or
/// 3 for a refusal), naming the action and the error; a rerun converges.
#[tokio::test(start_paused = true)]
async fn iam_errors_on_every_action_fail_safely() {
    let (_, actions) = calls_of_a_rotation().await;
    let kinds = [
        (AwsFaultKind::AccessDenied, "AccessDenied"),
        (AwsFaultKind::LimitExceeded, "LimitExceeded"),
        (AwsFaultKind::NoSuchEntity, "NoSuchEntity"),
        (AwsFaultKind::Throttling, "Throttling"),
    ];
    let mut cases = Vec::new();
    for action in &actions {
        for (kind, code) in kinds {
            let action = action.clone();
            cases.push((format!("{action} {code}"), async move {
                let w = scenario().await;
                w.proxy.add_fault(AwsFault::always(&action, kind));
                let run = w.run(&["rotate"]).await;
                let all = format!("{}{}", run.stdout, run.stderr);
                assert!([1, 3].contains(&run.code), "exit {}\n{all}", run.code);
                assert!(
                    all.contains(&action)
                        || (action == "GetCallerIdentity" && all.contains("verify")),
                    "the message names {action}:\n{all}"
                );
                safe_and_converges(&w).await;
            }));
        }
    }
    run_cases("iam-error", cases).await;
}
