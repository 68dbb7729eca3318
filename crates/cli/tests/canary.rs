//! The canary cutover end to end (README, *The canary*): the real binary against moto and
//! the emulator, runs hours apart. A rotation moves only the canary; production evidence
//! (the new set's last use, SORACOM's error logs) decides whether the rest follows or the
//! canary moves back and the new key and set go; without evidence the configured choice
//! is made at `max_hours`. Two runs overlapping in a canary stage are safe. Every test ends
//! with the world's checks (invariants, contract, secrets).

use crate::common::{World, PREFIX};
use serde_json::{json, Value};
use soracom_emulator::{Fault, FaultKind};

const IMSI: &str = "440100000000001";

fn old_set() -> String {
    format!("{PREFIX}-220810")
}

/// A clocked world whose hand-made set (groups test-1, test-2 and a VPG's inspection) is
/// adopted, with a canary of `min_minutes = 30`, `max_hours = 6` and `without_evidence`.
async fn world(without_evidence: &str) -> (World, String) {
    let w = World::clocked().await;
    let k1 = w.seed().await;
    w.emu.add_vpg(
        "vpg-1",
        json!({"enabled": true, "report": {"enabled": true, "credentialsId": old_set(), "contentType": "json"}}),
    );
    configure(&w, &k1, without_evidence);
    (w, k1)
}

fn configure(w: &World, k1: &str, without_evidence: &str) {
    w.write_config(&format!(
        "adopt_keys = {{ \"{}\" = \"{k1}\" }}\n[targets.canary]\nmin_minutes = 30\nmax_hours = 6\nwithout_evidence = \"{without_evidence}\"\n",
        old_set()
    ));
}

fn on(w: &World, group: &str) -> Value {
    w.funnel_of(group)
}

async fn tags(w: &World) -> Vec<String> {
    w.user_tags()
        .await
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k.contains(":canary"))
        .collect()
}

/// Day 91: `reconcile` rotates through the canary — test-1 moves, the rest stays — and
/// says so. Returns the new set.
async fn canary_started(w: &World, k1: &str) -> String {
    let now = w.travel(91);
    let run = w.expect(&["reconcile", "--now", &now], 0).await;
    assert!(run.stdout.contains("canary"), "{}", run.stdout);
    let new = w.id_for(91);
    assert_eq!(on(w, "test-1"), json!(new));
    assert_eq!(on(w, "test-2"), json!(old_set()));
    assert_eq!(
        w.emu
            .vpg_inspection("vpg-1")
            .map(|i| i["report"]["credentialsId"].clone()),
        Some(json!(old_set()))
    );
    assert_eq!(tags(w).await, [format!("soracom-key-rotator:canary:{k1}")]);
    w.assert_invariants().await;
    new
}

fn hours_after_day_91(w: &World, hours: i64) -> String {
    w.travel_by(time::Duration::days(91) + time::Duration::hours(hours))
}

#[tokio::test(start_paused = true)]
async fn positive_evidence_moves_the_rest_after_min_minutes() {
    let (w, k1) = world("hold").await;
    let new = canary_started(&w, &k1).await;

    // An hour on, nothing used the new set yet: the canary waits, and status says so.
    let now = hours_after_day_91(&w, 1);
    let run = w
        .expect(&["status", "--now", &now, "--output", "json"], 0)
        .await;
    let canary = &run.json()["targets"][0]["canary"];
    assert_eq!(canary["stage"], "watching", "{canary}");
    assert!(
        canary["message"]
            .as_str()
            .is_some_and(|m| m.contains("none yet")),
        "{canary}"
    );
    w.expect(&["reconcile", "--now", &now], 0).await;
    assert_eq!(on(&w, "test-2"), json!(old_set()));

    // SORACOM used the new set in production: the rest moves.
    w.use_set(&new, w.live());
    let now = hours_after_day_91(&w, 2);
    let run = w.expect(&["reconcile", "--now", &now], 0).await;
    assert!(run.stdout.contains("passed"), "{}", run.stdout);
    w.assert_converged(&new).await;
    assert!(tags(&w).await.is_empty(), "{:?}", tags(&w).await);
    let released = w
        .user_tags()
        .await
        .iter()
        .any(|(k, _)| k == &format!("soracom-key-rotator:released:{k1}"));
    assert!(released, "the old key's cutover is recorded");
    w.finish().await;
}

#[tokio::test(start_paused = true)]
async fn error_logs_move_the_canary_back_and_remove_the_new_key_and_set() {
    let (w, k1) = world("proceed").await;
    let new = canary_started(&w, &k1).await;
    let k2 = w.key_of_set(&new).expect("new key");

    // AWS refused the new key for a Funnel request; an older error does not count.
    w.log_auth_failure("440100000000009", w.time(90));
    hours_after_day_91(&w, 1);
    w.log_auth_failure(IMSI, w.live());
    let now = hours_after_day_91(&w, 2);
    let run = w.expect(&["reconcile", "--now", &now], 3).await;
    let text = format!("{}{}", run.stdout, run.stderr);
    assert!(
        text.contains("UnrecognizedClientException") && text.contains(IMSI),
        "the evidence is quoted:\n{text}"
    );
    assert!(
        !text.contains("security token"),
        "never the log's text:\n{text}"
    );
    w.assert_converged(&old_set()).await;
    assert!(
        !w.emu.credential_ids().contains(&new),
        "the new set is gone"
    );
    let keys = w.keys().await;
    assert!(
        keys.len() == 1 && keys[0].id == k1 && keys[0].status == "Active",
        "the new key {k2} is gone, the old one active: {keys:?}"
    );
    assert_eq!(
        tags(&w).await,
        [format!("soracom-key-rotator:canary-failed:{k1}")]
    );

    // Reconcile does not try again by itself; a person's `rotate` does.
    let now = hours_after_day_91(&w, 3);
    let run = w.expect(&["reconcile", "--now", &now], 3).await;
    assert!(run.stdout.contains("canary"), "{}", run.stdout);
    assert_eq!(w.keys().await.len(), 1, "no new key");
    let run = w
        .expect(&["plan", "--now", &now, "--output", "json"], 3)
        .await;
    let plan = &run.json()["targets"][0]["plan"];
    assert_eq!(plan["refusal"]["code"], "canaryFailed", "{plan}");
    w.expect(&["rotate", "--now", &now], 0).await;
    assert_eq!(on(&w, "test-1"), json!(w.current_id()));
    assert_eq!(tags(&w).await, [format!("soracom-key-rotator:canary:{k1}")]);
    w.finish().await;
}

#[tokio::test(start_paused = true)]
async fn without_evidence_max_hours_holds_or_proceeds_as_configured() {
    let (w, k1) = world("hold").await;
    let new = canary_started(&w, &k1).await;
    let now = hours_after_day_91(&w, 7);
    let run = w.expect(&["reconcile", "--now", &now], 3).await;
    assert!(run.stdout.contains("HELD"), "{}", run.stdout);
    assert_eq!(on(&w, "test-2"), json!(old_set()));
    let status = w
        .expect(&["status", "--now", &now, "--output", "json"], 0)
        .await;
    let deadlines = status.json()["targets"][0]["deadlines"].clone();
    let held = deadlines.as_array().into_iter().flatten().find(|d| {
        d["key"]
            .as_str()
            .is_some_and(|k| k.ends_with(&k1[k1.len() - 4..]))
    });
    assert!(
        held.is_some_and(
            |d| d["risk"]["cause"]["code"] == "canaryHeld" || d["risk"]["cause"] == "canaryHeld"
        ),
        "a held canary is a risk to the old key's deadline: {deadlines}"
    );

    configure(&w, &k1, "proceed");
    let run = w.expect(&["reconcile", "--now", &now], 0).await;
    assert!(run.stdout.contains("proceeding"), "{}", run.stdout);
    w.assert_converged(&new).await;
    w.finish().await;
}

/// Two runs overlap while the rest moves (the first held at its second reference write)
/// and while a failed canary moves back (the first held at its key's deletion): the end is
/// the one a single run reaches.
#[tokio::test(start_paused = true)]
async fn two_runs_overlapping_in_a_canary_stage_are_safe() {
    let (w, k1) = world("hold").await;
    let new = canary_started(&w, &k1).await;
    w.use_set(&new, w.live());
    let now = hours_after_day_91(&w, 2);
    w.emu.add_fault(Fault {
        operation: "putConfigurationParameters".into(),
        nth: 1,
        times: 1,
        kind: FaultKind::Latency(std::time::Duration::from_secs(3)),
    });
    let a = w.spawn(&["reconcile", "--now", &now]).await;
    let b = w.run(&["reconcile", "--now", &now]).await;
    let a = w.wait(a).await;
    // The one that finds the other at work steps back (exit 3, saying so).
    for r in [&a, &b] {
        let stepped_back = r.code == 3 && r.stdout.contains("another run ");
        assert!(
            [0, 1].contains(&r.code) || stepped_back,
            "{}\n{}",
            r.stdout,
            r.stderr
        );
    }
    w.emu.clear_faults();
    w.expect(&["reconcile", "--now", &now], 0).await;
    w.assert_converged(&new).await;
    assert!(tags(&w).await.is_empty());
    w.finish().await;

    let (w, k1) = world("hold").await;
    let new = canary_started(&w, &k1).await;
    hours_after_day_91(&w, 1);
    w.log_auth_failure(IMSI, w.live());
    let now = hours_after_day_91(&w, 2);
    w.emu.add_fault(Fault {
        operation: "deleteCredential".into(),
        nth: 1,
        times: 1,
        kind: FaultKind::Latency(std::time::Duration::from_secs(3)),
    });
    let a = w.spawn(&["reconcile", "--now", &now]).await;
    let b = w.run(&["reconcile", "--now", &now]).await;
    let a = w.wait(a).await;
    for r in [&a, &b] {
        assert!([1, 3].contains(&r.code), "{}\n{}", r.stdout, r.stderr);
    }
    w.emu.clear_faults();
    w.expect(&["reconcile", "--now", &now], 3).await;
    w.assert_converged(&old_set()).await;
    assert!(!w.emu.credential_ids().contains(&new));
    assert_eq!(w.keys().await.len(), 1);
    w.finish().await;
}
