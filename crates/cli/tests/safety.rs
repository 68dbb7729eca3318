//! Safe when runs overlap, people act and inputs are hostile: two processes of the same
//! target started so that they overlap at each dangerous point, a person deleting or
//! re-activating keys between (and during) runs, sets of another type with our ids, forged
//! descriptions, endpoints that are not SORACOM's, and third parties' secrets beside the
//! references. Every scenario ends with the world's checks (invariants, contract, secrets).

use std::time::Duration;

use crate::common::{eventually, funnel, Spawned, World, PREFIX};
use serde_json::{json, Value};
use soracom_emulator::{Fault, FaultKind};
use testkit::aws_proxy::{AwsFault, AwsFaultKind};

/// How long the first run is held at its point while the second runs.
const HOLD: Duration = Duration::from_secs(4);
/// How long a test waits for the first run to reach its point.
const REACH: Duration = Duration::from_secs(30);

fn old_set() -> String {
    format!("{PREFIX}-220810")
}

/// A seeded world whose hand-made set's key is known (SORACOM reports it) with an event
/// handler too.
async fn seeded() -> (World, String) {
    seeded_on(World::new().await).await
}

/// [`seeded`], on the world `w`.
async fn seeded_on(w: World) -> (World, String) {
    let k1 = w.seed().await;
    w.emu.add_group("test-3", funnel(&old_set()));
    (w, k1)
}

/// A `rollback`, started and held at its second group write (its lease taken, references
/// moving back) until [`HOLD`] has passed.
async fn rollback_held_at_its_second_move(w: &World) -> Spawned {
    w.emu.add_fault(Fault {
        operation: "putConfigurationParameters".into(),
        nth: 2,
        times: 1,
        kind: FaultKind::Latency(HOLD),
    });
    let fired = w.emu.fired().len();
    let r = w.spawn(&["rollback"]).await;
    let reached = eventually(REACH, || async { w.emu.fired().len() > fired }).await;
    assert!(reached, "the rollback never reached repointing");
    r
}

/// The end every overlap must reach after one more `reconcile`: invariants, no reference
/// on a set whose key is missing or inactive, at most one set of ours that no key backs.
async fn settles(w: &World) {
    w.travel_hours(3);
    let r = w.run(&["reconcile"]).await;
    assert!(
        [0, 3].contains(&r.code),
        "reconcile after the overlap exited {}\n{}",
        r.code,
        r.stdout
    );
    w.assert_invariants().await;
    w.finish().await;
}

/// Run A is held in verification (its key is in flight) while run B rotates: B leaves the
/// target to A (exit 3) and deletes nothing; A finishes.
#[tokio::test(start_paused = true)]
async fn a_second_run_during_verification_leaves_the_first_alone() {
    during_verification(seeded().await.0).await;
}

/// The same with two real processes of the binary against moto and the emulator, held
/// for real seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_during_verification_leave_each_other_alone() {
    during_verification(seeded_on(World::process_authenticated().await).await.0).await;
}

async fn during_verification(w: World) {
    w.proxy.add_fault(AwsFault::next(
        "GetCallerIdentity",
        1,
        AwsFaultKind::Delay(HOLD),
    ));
    let a = w.spawn(&["rotate"]).await;
    let reached = eventually(REACH, || async {
        w.user_tags()
            .await
            .iter()
            .any(|(_, v)| v.contains("/in-flight/"))
    })
    .await;
    assert!(reached, "run A never put its key in flight");
    let b = w.run(&["rotate"]).await;
    assert_eq!(b.code, 3, "B must leave the target to A:\n{}", b.stdout);
    assert!(
        b.stdout.contains("another run has been rotating"),
        "{}",
        b.stdout
    );
    let a = w.wait(a).await;
    assert_eq!(a.code, 0, "A:\n{}\n{}", a.stdout, a.stderr);
    w.assert_converged(&w.id_for(0)).await;
    settles(&w).await;
}

/// Run A is held while creating its set; run B (a scheduled reconcile) sees A's key in
/// flight and changes nothing; A finishes.
#[tokio::test(start_paused = true)]
async fn a_second_run_during_registration_leaves_the_first_alone() {
    let (w, _) = seeded().await;
    w.emu.add_fault(Fault {
        operation: "createCredential".into(),
        nth: 1,
        times: 1,
        kind: FaultKind::Latency(HOLD),
    });
    let a = w.spawn(&["rotate"]).await;
    let reached = eventually(REACH, || async {
        w.emu.fired().iter().any(|(op, _)| op == "createCredential")
    })
    .await;
    assert!(reached, "run A never reached registration");
    let b = w.run(&["reconcile"]).await;
    assert_eq!(b.code, 3, "{}", b.stdout);
    let a = w.wait(a).await;
    assert_eq!(a.code, 0, "A:\n{}\n{}", a.stdout, a.stderr);
    w.assert_converged(&w.id_for(0)).await;
    settles(&w).await;
}

/// Run A is held between its first and second reference write: its key stays in flight
/// until the cutover is done, so run B (a scheduled reconcile) changes nothing; A finishes.
#[tokio::test(start_paused = true)]
async fn a_second_run_during_repointing_leaves_the_first_alone() {
    let (w, _) = seeded().await;
    w.emu.add_fault(Fault {
        operation: "putConfigurationParameters".into(),
        nth: 2,
        times: 1,
        kind: FaultKind::Latency(HOLD),
    });
    let a = w.spawn(&["rotate"]).await;
    let reached = eventually(REACH, || async {
        w.emu
            .fired()
            .iter()
            .any(|(op, _)| op == "putConfigurationParameters")
    })
    .await;
    assert!(reached, "run A never reached repointing");
    let b = w.run(&["reconcile"]).await;
    assert_eq!(b.code, 3, "B:\n{}\n{}", b.stdout, b.stderr);
    let a = w.wait(a).await;
    assert_eq!(a.code, 0, "A:\n{}\n{}", a.stdout, a.stderr);
    w.assert_converged(&w.id_for(0)).await;
    assert_eq!(w.keys().await.len(), 2, "no key was deleted or added");
    settles(&w).await;
}

/// A rollback while a rotation is still moving references: the rotation's key is in
/// flight, so the rollback changes nothing; no reference ends on a set whose key is
/// inactive. Then the other way round: a rotation while a rollback holds its lease.
#[tokio::test(start_paused = true)]
async fn a_rollback_during_a_rotation_never_strands_a_reference() {
    let (w, _) = seeded().await;
    w.emu.add_fault(Fault {
        operation: "putConfigurationParameters".into(),
        nth: 2,
        times: 1,
        kind: FaultKind::Latency(HOLD),
    });
    let a = w.spawn(&["rotate"]).await;
    let reached = eventually(REACH, || async {
        w.emu
            .fired()
            .iter()
            .any(|(op, _)| op == "putConfigurationParameters")
    })
    .await;
    assert!(reached, "run A never reached repointing");
    let b = w.run(&["rollback"]).await;
    assert_eq!(b.code, 3, "B:\n{}", b.stdout);
    let a = w.wait(a).await;
    assert_eq!(a.code, 0, "A:\n{}\n{}", a.stdout, a.stderr);
    w.assert_invariants().await;

    // A rollback held while it moves references back; a rotation meanwhile changes nothing.
    let r = rollback_held_at_its_second_move(&w).await;
    let b = w.run(&["reconcile"]).await;
    assert_eq!(b.code, 3, "B:\n{}", b.stdout);
    let r = w.wait(r).await;
    assert_eq!(r.code, 0, "rollback:\n{}\n{}", r.stdout, r.stderr);
    for g in ["test-1", "test-2", "test-3"] {
        assert_eq!(w.funnel_of(g), json!(old_set()), "{g} rolled back");
    }
    w.assert_invariants().await;
    settles(&w).await;
}

/// A person removes a rollback's lease while it moves references back: the lease no longer
/// keeps other runs off, so the rollback deactivates nothing (its re-check finds the lease
/// gone) and says so; the key it would have switched off stays active. Found by the
/// simulator (seeds 878533 and 897450 of the first long run: another run moved references
/// onto that key meanwhile).
#[tokio::test(start_paused = true)]
async fn a_rollback_whose_lease_a_person_removed_deactivates_nothing() {
    let (w, _) = seeded().await;
    let a = w.run(&["rotate"]).await;
    assert_eq!(a.code, 0, "{}\n{}", a.stdout, a.stderr);
    let new_key = w.key_of_set(&w.id_for(0)).expect("the new set holds a key");
    let r = rollback_held_at_its_second_move(&w).await;
    let tags = w.iam.tags(&w.user).await.expect("the user's tags");
    let lease: Vec<String> = tags
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("soracom-key-rotator:run:"))
        .collect();
    assert_eq!(lease.len(), 1, "the rollback holds one lease");
    w.iam
        .fake()
        .untag_user(&w.user, &lease)
        .await
        .expect("a person removes the lease");
    let r = w.wait(r).await;
    assert!(
        r.stdout
            .contains("not done, the state changed since this run observed it: deactivate"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    let keys = w.keys().await;
    let new = keys.iter().find(|k| k.id == new_key).expect("the new key");
    assert_eq!(new.status, "Active", "the key stays active:\n{}", r.stdout);
    for g in ["test-1", "test-2", "test-3"] {
        assert_eq!(w.funnel_of(g), json!(old_set()), "{g} rolled back");
    }
    w.assert_invariants().await;
}

/// The key a run moves references onto is deleted by a person while the run writes: the
/// run checks it after the last move, moves every reference back to the previous set
/// (whose key is active) and fails loudly.
#[tokio::test(start_paused = true)]
async fn a_key_deleted_during_the_cutover_sends_the_references_back() {
    let (w, k1) = seeded().await;
    w.emu.add_fault(Fault {
        operation: "putConfigurationParameters".into(),
        nth: 2,
        times: 1,
        kind: FaultKind::Latency(HOLD),
    });
    let a = w.spawn(&["rotate"]).await;
    let reached = eventually(REACH, || async {
        w.emu
            .fired()
            .iter()
            .any(|(op, _)| op == "putConfigurationParameters")
    })
    .await;
    assert!(reached, "the run never reached repointing");
    let new_key = w.key_of_set(&w.id_for(0)).expect("the new set holds a key");
    w.iam
        .delete_access_key(&w.user, &new_key)
        .await
        .expect("a person deletes the new key");
    let a = w.wait(a).await;
    assert_eq!(a.code, 1, "{}\n{}", a.stdout, a.stderr);
    assert!(a.stdout.contains("no longer exists"), "{}", a.stdout);
    assert!(a.stdout.contains("moved back"), "{}", a.stdout);
    for g in ["test-1", "test-2", "test-3"] {
        assert_eq!(
            w.funnel_of(g),
            json!(old_set()),
            "{g} is back on the old set"
        );
    }
    let keys: Vec<String> = w.keys().await.into_iter().map(|k| k.id).collect();
    assert_eq!(keys, vec![k1]);
    settles(&w).await;
}

/// The key of the set references are about to move onto is deactivated by a person
/// before the first move: nothing moves, the new set and key are removed.
#[tokio::test(start_paused = true)]
async fn a_key_deactivated_before_the_first_move_moves_nothing() {
    let (w, _) = seeded().await;
    w.emu.add_fault(Fault {
        operation: "createCredential".into(),
        nth: 1,
        times: 1,
        kind: FaultKind::Latency(Duration::from_secs(2)),
    });
    let groups = w.emu.groups();
    let a = w.spawn(&["rotate"]).await;
    let reached = eventually(REACH, || async {
        w.emu.fired().iter().any(|(op, _)| op == "createCredential")
    })
    .await;
    assert!(reached);
    let tags = w.user_tags().await;
    let new_key = tags
        .iter()
        .find(|(_, v)| v.contains("/in-flight/"))
        .map(|(k, _)| k.clone())
        .expect("the new key is recorded in flight");
    w.iam
        .set_key_status(&w.user, &new_key, false)
        .await
        .expect("a person deactivates the new key");
    let a = w.wait(a).await;
    assert_eq!(a.code, 1, "{}\n{}", a.stdout, a.stderr);
    assert!(a.stdout.contains("no longer active"), "{}", a.stdout);
    assert_eq!(w.emu.groups(), groups, "no reference moved");
    settles(&w).await;
}

/// In place: a person deleted the key the fixed set holds (say during an incident). Every
/// reference is broken; the next run puts a new, verified key into the set and says what
/// was wrong.
#[tokio::test(start_paused = true)]
async fn in_place_heals_a_set_whose_key_is_gone_or_inactive() {
    for deleted in [true, false] {
        let w = World::new().await;
        let fixed = "aws-funnel-fixed";
        let (k1, _) = w.seed_set(fixed).await;
        w.write_config_target(&format!(
            "strategy = \"in-place\"\ncredential_id = \"{fixed}\""
        ));
        if deleted {
            w.iam.delete_access_key(&w.user, &k1).await.expect("delete");
        } else {
            w.iam
                .set_key_status(&w.user, &k1, false)
                .await
                .expect("off");
        }
        let run = w.expect(&["reconcile"], 0).await;
        let what = if deleted {
            "which is gone"
        } else {
            "which is not active"
        };
        assert!(run.stdout.contains(what), "{}", run.stdout);
        let k2 = w.key_of_set(fixed).expect("the set holds a key");
        assert_ne!(k2, k1);
        let keys = w.keys().await;
        assert!(
            keys.iter().any(|k| k.id == k2 && k.status == "Active"),
            "{keys:?}"
        );
        w.finish().await;
    }
}

/// A set of another type whose id matches the prefix (IAM role credentials, the move
/// `status` recommends) is never current, never repointed from, never deleted.
#[tokio::test(start_paused = true)]
async fn a_role_credentials_set_with_our_id_is_never_the_tools() {
    let w = World::clocked().await;
    w.seed().await;
    let role = format!("{PREFIX}-261120");
    w.emu.put_credential(
        &role,
        "aws-iam-role-credentials",
        "",
        json!({"roleArn": "arn:aws:iam::123456789012:role/soracom", "externalId": "ext-id-0123456789abcdef"}),
        1_763_600_000_000,
    );
    w.ledger.add("ext-id-0123456789abcdef");
    w.emu.add_group("roles", funnel(&role));
    let plan = w.expect(&["plan"], 0).await;
    assert!(
        plan.stdout.contains(&format!(
            "credential set {role} is of type aws-iam-role-credentials"
        )),
        "{}",
        plan.stdout
    );
    w.travel(100);
    w.expect(&["reconcile"], 0).await;
    assert_eq!(
        w.funnel_of("roles"),
        json!(role),
        "the role reference never moves"
    );
    w.travel(120);
    w.expect(&["reconcile"], 0).await;
    w.travel(140);
    w.expect(&["reconcile"], 0).await;
    assert!(
        w.emu.credential(&role).is_some(),
        "the role set is never deleted"
    );
    assert_eq!(w.funnel_of("roles"), json!(role));
    w.finish().await;
}

/// What SORACOM reports wins over the description: a forged `accessKeyId=` naming another
/// key of the user does not make that key the set's (and retirement never touches it).
#[tokio::test(start_paused = true)]
async fn a_forged_description_does_not_steer_the_tool() {
    let w = World::new().await;
    let k1 = w.seed().await;
    let (other, secret) = w.iam.create_access_key(&w.user).await.expect("other");
    w.ledger.add(secret);
    let c = w.emu.credential(&old_set()).expect("seed set");
    w.emu.put_credential(
        &c.id,
        &c.kind,
        &format!("accessKeyId={other}"),
        c.credentials.clone(),
        c.create_ms,
    );
    let doc = w.expect(&["--output", "json", "status"], 0).await.json();
    let sets = &doc["targets"][0]["sets"];
    let mask = |k: &str| format!("AKIA************{}", &k[k.len() - 4..]);
    assert_eq!(
        sets[0]["link"],
        json!({"by": "api", "key": mask(&k1)}),
        "{sets}"
    );
    w.finish().await;
}

/// People win: a key a person re-activated after the tool deactivated it stays active; the
/// run says so, drops the old record and starts that key's retirement over.
#[tokio::test(start_paused = true)]
async fn a_reactivated_key_stays_active_and_its_retirement_starts_over() {
    let w = World::clocked().await;
    let k1 = w.seed().await;
    w.travel(91);
    w.expect(&["reconcile"], 0).await;
    w.travel(99);
    let run = w.expect(&["reconcile"], 0).await;
    assert!(
        run.stdout.contains("deactivated access key"),
        "{}",
        run.stdout
    );
    // A person needs the old key back.
    w.iam.set_key_status(&w.user, &k1, true).await.expect("on");
    w.travel(100);
    let run = w.expect(&["reconcile"], 0).await;
    assert!(run.stdout.contains("is active again"), "{}", run.stdout);
    async fn status(w: &World, id: &str) -> Option<String> {
        w.keys()
            .await
            .into_iter()
            .find(|k| k.id == id)
            .map(|k| k.status)
    }
    assert_eq!(status(&w, &k1).await.as_deref(), Some("Active"));
    // A full grace period from when the run saw it active again.
    w.travel(106);
    w.expect(&["reconcile"], 0).await;
    assert_eq!(
        status(&w, &k1).await.as_deref(),
        Some("Active"),
        "not before day 107"
    );
    w.travel(108);
    w.expect(&["reconcile"], 0).await;
    assert_eq!(status(&w, &k1).await.as_deref(), Some("Inactive"));
    // Deleted only delete_after_days after that deactivation.
    w.travel(114);
    w.expect(&["reconcile"], 0).await;
    assert_eq!(status(&w, &k1).await.as_deref(), Some("Inactive"));
    w.travel(116);
    w.expect(&["reconcile"], 0).await;
    assert_eq!(status(&w, &k1).await, None);
    w.finish().await;
}

/// Third parties' values beside a reference (a webhook URL, a bearer token, a header in
/// another action of the handler; a password in the group's configuration) appear in no
/// output, log or report; and a `webhook_url` placed where the parser rejects it is not
/// quoted by the error.
#[tokio::test(start_paused = true)]
async fn third_party_values_are_never_printed() {
    let (w, _) = seeded().await;
    let url = "https://hooks.example.com/services/T0000/B0000/third-party-webhook-token";
    let bearer = "Bearer third-party-bearer-0123456789abcdef";
    let header = "x-third-party-header-value-0123456789";
    let password = "third-party-beam-password-0123456789";
    for s in [url, bearer, header, password] {
        w.plant_secret(s);
    }
    w.emu.add_event_handler(json!({
        "name": "h", "status": "active", "targetOperatorId": "OP0012345678",
        "ruleConfig": {"type": "SubscriberDailyTrafficRule", "properties": {"inactiveTimeoutDateConst": "BEGINNING_OF_NEXT_DAY", "limitTotalTrafficMegaByte": "1"}},
        "actionConfigList": [
            {"type": "InvokeAWSLambdaAction", "properties": {"executionDateTimeConst": "IMMEDIATELY", "endpoint": "https://lambda.ap-northeast-1.amazonaws.com", "functionName": "f", "credentialsId": old_set()}},
            {"type": "ExecuteWebRequestAction", "properties": {"executionDateTimeConst": "IMMEDIATELY", "url": url, "httpMethod": "POST", "contentType": "application/json", "headers": {"Authorization": bearer, "X-Extra": header}, "body": "{}"}}
        ]
    }));
    let mut config = funnel(&old_set());
    config["SoracomFunnel"]["password"] = Value::String(password.into());
    w.emu.add_group("beam-like", config);
    w.run(&["-vvv", "--output", "json", "plan"]).await;
    w.expect(&["-vvv", "--output", "json", "rotate"], 0).await;
    w.run(&["-vvv", "status"]).await;
    // A webhook_url in the wrong table is rejected without being quoted.
    let good = std::fs::read_to_string(w.config_path()).expect("config");
    std::fs::write(
        w.config_path(),
        good.replace("[verify]", &format!("webhook_url = \"{url}\"\n\n[verify]")),
    )
    .expect("config");
    let bad = w.run(&["plan"]).await;
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("line "), "{}", bad.stderr);
    std::fs::write(w.config_path(), good).expect("config");
    w.finish().await;
}

/// Endpoints: plain http to anything but a loopback host is refused before any request,
/// and a redirect is never followed (it would carry the auth key and token). Only the
/// binary's real HTTP client, against a real server, shows the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_https_and_redirects_are_not_followed() {
    let w = World::process().await;
    w.seed().await;
    let before = w.emu.requests().len();
    let args = w.with_now(&["plan"]);
    let snapshot = w.snapshot().await;
    let mut cmd = w.command_raw(&args, true);
    cmd.env("SORACOM_ENDPOINT", "http://api.soracom.io");
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("bounded")
        .expect("ran");
    let run = w.after_run(&args, snapshot, &out).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("loopback"), "{}", run.stderr);

    // A server that answers every call with a redirect to the emulator.
    let target = w.emu.endpoint();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let to = format!("{target}{uri}");
        async move {
            (
                axum::http::StatusCode::TEMPORARY_REDIRECT,
                [(axum::http::header::LOCATION, to)],
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let snapshot = w.snapshot().await;
    let mut cmd = w.command_raw(&args, true);
    cmd.env("SORACOM_ENDPOINT", format!("http://{addr}"));
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("bounded")
        .expect("ran");
    let run = w.after_run(&args, snapshot, &out).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        w.emu.requests().len(),
        before,
        "the redirect was not followed: the emulator saw nothing"
    );
    // The emulator itself still serves.
    w.expect(&["plan"], 0).await;
    w.finish().await;
}

/// A failed tag write (IAM allows 50 tags per user and answers `LimitExceeded`; moto does
/// not enforce the limit, so the proxy answers as IAM would) is a clear error, and the run
/// is safe: no key is created without its record.
#[tokio::test(start_paused = true)]
async fn a_full_set_of_user_tags_is_a_clear_error() {
    let w = World::new().await;
    w.seed().await;
    w.proxy
        .add_fault(AwsFault::always("TagUser", AwsFaultKind::LimitExceeded));
    let groups = w.emu.groups();
    let run = w.run(&["rotate"]).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("50 per user"), "{}", run.stdout);
    assert_eq!(w.emu.groups(), groups);
    assert_eq!(w.keys().await.len(), 1, "no key was created");
    w.finish().await;
}
