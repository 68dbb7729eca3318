//! Load: a rotation over 10,000 groups, every one referencing the set, with a
//! rate limit, latency on every call and bursts of 429 (a "storm" the client must wait
//! out) completes, converges, and never sends more calls per rate-limit window than the
//! emulator advertises (`X-Soracom-Ratelimit-Limit`), counted from the emulator's own
//! record of when each call arrived. Figures go to `target/reliability/load.json`.
//!
//! The per-window bound depends on the client pacing itself to the advertised limit
//! (`rotator::soracom::client` does); without it, calls already in flight when the window
//! runs out go over the limit.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::{funnel, write_figures, World, PREFIX};
use serde_json::json;
use soracom_emulator::{Fault, FaultKind, RateLimit};

const GROUPS: usize = 10_000;
const LIMIT: u32 = 2_000;
const WINDOW: Duration = Duration::from_secs(2);

#[tokio::test(start_paused = true)]
async fn ten_thousand_groups_rotate_within_the_rate_limit() {
    let w = World::new().await;
    let old = format!("{PREFIX}-220810");
    let (k1, _) = w.seed_set(&old).await;
    for i in 2..GROUPS {
        w.emu.add_group(&format!("load-{i}"), funnel(&old));
    }
    w.write_config_with(
        "concurrency = 8\nretry_attempts = 10",
        &format!("adopt_keys = {{ \"{old}\" = \"{k1}\" }}"),
    );
    w.emu.set_rate_limit(Some(RateLimit {
        limit: LIMIT,
        window: WINDOW,
    }));
    w.emu.set_latency(Duration::from_millis(2));
    // Storms: bursts of 429 with Remaining 0, on reads and on writes.
    let storms = [
        ("listGroups", 10, 3),
        ("putConfigurationParameters", 100, 5),
        ("putConfigurationParameters", 4_000, 5),
        ("putConfigurationParameters", 8_000, 5),
    ];
    for (op, nth, times) in storms {
        w.emu.add_fault(Fault {
            operation: op.into(),
            nth,
            times,
            kind: FaultKind::RateLimited {
                seconds_before_refresh: 1,
            },
        });
    }
    let started = Instant::now();
    let run = w.run(&["rotate"]).await;
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    w.assert_converged(&w.id_for(0)).await;

    // Replay the emulator's windows per path template: a window opens at the first call
    // after the previous one ended and lasts WINDOW.
    let reqs = w.emu.requests();
    let mut by_template: BTreeMap<&'static str, Vec<Instant>> = BTreeMap::new();
    let (mut status_429, mut injected, mut limiter): (u32, u32, u32) = (0, 0, 0);
    for r in &reqs {
        if r.status == 429 {
            status_429 += 1;
            match r.fault {
                Some(FaultKind::RateLimited { .. }) => injected += 1,
                _ => limiter += 1,
            }
        }
        if r.fault.is_some() {
            // Answered by an injected fault before the rate limit saw it: not counted
            // against the advertised limit.
            continue;
        }
        let template = match r.operation.as_deref() {
            Some("listGroups") => "/groups",
            Some("putConfigurationParameters") => "/groups/{id}/configuration/{ns}",
            Some("listCredentials") => "/credentials",
            Some("createCredential") => "/credentials/{id}",
            _ => continue,
        };
        by_template.entry(template).or_default().push(r.at);
    }
    let mut max_per_window = BTreeMap::new();
    for (template, mut times) in by_template {
        times.sort();
        let (mut start, mut count, mut max) = (None::<Instant>, 0u32, 0u32);
        for t in times {
            match start {
                Some(s) if t.saturating_duration_since(s) < WINDOW => count += 1,
                _ => {
                    start = Some(t);
                    count = 1;
                }
            }
            max = max.max(count);
        }
        max_per_window.insert(template, max);
    }
    let writes = w
        .emu
        .call_counts()
        .get("putConfigurationParameters")
        .copied()
        .unwrap_or(0);
    let figures = json!({
        "groups": GROUPS, "referencing": GROUPS, "writes": writes, "calls": reqs.len(),
        "limit": LIMIT, "windowMs": WINDOW.as_millis() as u64, "latencyMs": 2,
        "maxPerWindow": max_per_window, "status429": status_429,
        "injected429": injected, "limiter429": limiter,
        "seconds": seconds,
    });
    write_figures("load.json", &figures);
    w.finish().await;
    assert_eq!(
        injected, 18,
        "every armed 429 was sent (3 + 5 + 5 + 5)\n{figures:#}"
    );
    assert_eq!(
        limiter, 0,
        "the client paces itself: the rate limit never refused a call\n{figures:#}"
    );
    for (template, max) in &max_per_window {
        assert!(
            *max <= LIMIT,
            "{template}: {max} calls in one {WINDOW:?} window, over the advertised {LIMIT} \
             (the client must pace itself to the limit)\n{figures:#}"
        );
    }
}
