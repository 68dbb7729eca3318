//! The compliance deadline over simulated time: the handler in-process, run once a day by
//! the world's moving clock on the in-memory fakes (their clock is the world's, so a key
//! made "on day 160" is 0 days old on day 160), with every rung of the ladder on.
//!
//! Each day's run must succeed, no active key may be as old as `max_key_age_days` after it,
//! the metrics it emits must show no key at risk and at least the margin left, and each rung
//! must be told exactly on the day the schedule (docs/ARCHITECTURE.md, *the deadline*) says.
//! When the old key stays in use after the cutover, the tool never deactivates it and the
//! deadline rung climbs from warning to urgent to missed, once each.

use std::sync::{Arc, Mutex};

use crate::common::{invoke_with, World, PREFIX};
use rotator_lambda::HandlerError;
use serde_json::{json, Value};
use testkit::world::Moto;

/// What one day's run did: its result, the notices it sent (their `Notice:` codes) and the
/// metric line it emitted.
struct Day {
    result: Result<Value, HandlerError>,
    notices: Vec<String>,
    metrics: Value,
}

/// A world on its own moto with a first key in `<prefix>-220810` (used by group test-1)
/// that the target adopts, configured with `notify` and `target` lines; the key and its
/// secret.
async fn world(notify: &str, target: &str) -> (World, String, String) {
    let w = World::with(Moto::Memory).await;
    let old = format!("{PREFIX}-220810");
    let (k1, secret) = w.seed_key(&old, &["test-1"]).await;
    let target = format!("adopt_keys = {{ \"{old}\" = \"{k1}\" }}\n{target}");
    w.put_config_text(&w.config_with(notify, &target)).await;
    (w, k1, secret)
}

/// Moves the world to `day` and runs the scheduled reconcile once.
async fn run_day(w: &World, day: i64) -> Day {
    w.travel(day);
    let told = w.webhook.texts().len();
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = lines.clone();
    let metrics = move |l: &str| {
        sink.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(l.to_string())
    };
    let result = invoke_with(w, json!({"command": "reconcile"}), &metrics).await;
    match &result {
        Ok(v) => w.wrote(&v.to_string()),
        Err(e) => w.wrote(&e.to_string()),
    }
    let notices = w.webhook.texts()[told..]
        .iter()
        .filter_map(|t| t.lines().find_map(|l| l.strip_prefix("Notice: ")))
        .map(str::to_string)
        .collect();
    let lines = lines.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(
        lines.len(),
        1,
        "day {day}: one metric line per target: {lines:?}"
    );
    let metrics = serde_json::from_str(&lines[0]).unwrap_or_else(|e| panic!("{e}: {lines:?}"));
    Day {
        result,
        notices,
        metrics,
    }
}

/// Every active key of the user is younger than `max_days` (as the world's clock reads).
async fn assert_no_active_key_at(w: &World, day: i64, max_days: i64) {
    let now = std::time::SystemTime::from(w.live());
    for k in w.keys().await {
        let age = now.duration_since(k.created).unwrap_or_default();
        assert!(
            k.status != "Active" || age < std::time::Duration::from_secs(max_days as u64 * 86_400),
            "day {day}: active key {} is {} days old",
            k.id,
            age.as_secs() / 86_400
        );
    }
}

/// Runs days `0..=last` and checks each day as the module says; returns every notice with
/// its day.
async fn simulate(w: &World, last: i64, max_days: i64, margin: i64) -> Vec<(i64, String)> {
    let mut told = Vec::new();
    for day in 0..=last {
        let d = run_day(w, day).await;
        let out = d
            .result
            .unwrap_or_else(|e| panic!("day {day}: the run failed: {e}"));
        let outcome = &out["targets"][0]["outcome"];
        assert!(
            *outcome == json!("done") || *outcome == json!("nothingDue"),
            "day {day}: {out}"
        );
        assert_no_active_key_at(w, day, max_days).await;
        assert_eq!(
            d.metrics["KeysAtRisk"],
            json!(0),
            "day {day}: {}",
            d.metrics
        );
        let left = d.metrics["DaysToDeadline"].as_i64();
        assert!(
            left.is_some_and(|l| l >= margin),
            "day {day}: {} days to the deadline, the margin is {margin}: {}",
            left.unwrap_or(i64::MIN),
            d.metrics
        );
        told.extend(d.notices.into_iter().map(|n| (day, n)));
    }
    told
}

/// The rungs a schedule rotating every `every` days tells up to `last`: due soon `warn`
/// days before each rotation, the rotation, the old key's deactivation `retire` days after
/// and its deletion `delete` days after that.
fn expected(every: i64, warn: i64, retire: i64, delete: i64, last: i64) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut at = every;
    while at - warn <= last {
        for (day, rung) in [
            (at - warn, "due_soon"),
            (at, "rotated"),
            (at + retire, "deactivated"),
            (at + retire + delete, "deleted"),
        ] {
            if day <= last {
                out.push((day, rung.to_string()));
            }
        }
        at += every;
    }
    out.sort();
    out
}

#[tokio::test(start_paused = true)]
async fn a_daily_schedule_over_400_days_never_reaches_the_deadline_and_tells_each_rung_once() {
    // The defaults: max 90, retire 7, delete 7, margin 3, warning 7 → rotation at 80 days.
    let (w, _, _) = world("on_success = true\n", "").await;
    let mut told = simulate(&w, 400, 90, 3).await;
    told.sort();
    assert_eq!(told, expected(80, 7, 7, 7, 400));
    w.assert_no_secret().await;
    w.assert_contract();
}

#[tokio::test(start_paused = true)]
async fn a_tight_policy_rotates_on_its_own_schedule_and_keeps_its_margin() {
    // max 30, retire 3, margin 2 → rotation at 30 − 3 − 2 = 25 days.
    let (w, _, _) = world(
        "on_success = true\ndue_warning_days = 5\n",
        "max_key_age_days = 30\nretire_after_days = 3\ndelete_after_days = 2\ndeadline_margin_days = 2\n",
    )
    .await;
    let mut told = simulate(&w, 100, 30, 2).await;
    told.sort();
    assert_eq!(told, expected(25, 5, 3, 2, 100));
    w.assert_no_secret().await;
    w.assert_contract();
}

#[tokio::test(start_paused = true)]
async fn an_old_key_in_use_after_the_cutover_is_never_deactivated_and_the_deadline_climbs() {
    let (w, k1, secret) = world("on_success = true\n", "").await;
    let mut told = Vec::new();
    for day in 0..=95 {
        if day > 80 {
            // Something outside SORACOM still signs with the old key, that day.
            w.travel(day);
            w.use_key(&k1, &secret).await;
        }
        let d = run_day(&w, day).await;
        if day > 80 {
            let err = d
                .result
                .err()
                .unwrap_or_else(|| panic!("day {day}: a blocked retirement is refused"));
            assert_eq!(err.error_type(), "NonRetryable", "day {day}: {err}");
            assert_eq!(
                d.metrics["KeysAtRisk"],
                json!(1),
                "day {day}: {}",
                d.metrics
            );
            assert_eq!(
                d.metrics["DaysToDeadline"].as_i64(),
                // Whole days left, rounded down (the key is a moment younger than `day`).
                Some(89 - day),
                "day {day}: {}",
                d.metrics
            );
        } else {
            d.result
                .unwrap_or_else(|e| panic!("day {day}: the run failed: {e}"));
            assert_eq!(
                d.metrics["KeysAtRisk"],
                json!(0),
                "day {day}: {}",
                d.metrics
            );
        }
        let old = w.keys().await.into_iter().find(|k| k.id == k1);
        assert_eq!(
            old.map(|k| k.status).as_deref(),
            Some("Active"),
            "day {day}: the old key is never deactivated or deleted while in use"
        );
        told.extend(d.notices.into_iter().map(|n| (day, n)));
    }
    told.sort();
    let want: Vec<(i64, String)> = [
        (73, "due_soon"),
        (80, "rotated"),
        // The blocked key's message carries its deadline's severity.
        (81, "blocked/warning"),
        (81, "deadline/warning"),
        (87, "deadline/urgent"),
        (90, "deadline/missed"),
    ]
    .into_iter()
    .map(|(d, n)| (d, n.to_string()))
    .collect();
    assert_eq!(told, want);
    w.assert_no_secret().await;
    w.assert_contract();
}
