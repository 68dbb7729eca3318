//! Scale scenarios: the binary makes exactly the calls a rotation needs, paces itself by an
//! advertised rate limit so that it draws no 429, and still finishes through a storm of
//! 429s without rate-limit headers. Counts, never timings: speed is shown by `bench/run`.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::{funnel, World, PREFIX};
use serde_json::json;
use soracom_emulator::{Fault, FaultBody, FaultKind, RateLimit};

/// Adds groups until the world has `groups` in all, `referencing` of them (test-1 and
/// test-2 included) on the seeded set, interleaved so that every page has some.
fn grow(w: &World, groups: usize, referencing: usize) {
    let seeded = format!("{PREFIX}-220810");
    let (mut refs, mut total) = (2, 2);
    while total < groups {
        let refers = refs < referencing && (total % 3 == 0 || groups - total <= referencing - refs);
        if refers {
            w.emu.add_group(&format!("ref-{total}"), funnel(&seeded));
            refs += 1;
        } else {
            w.emu.add_group(
                &format!("plain-{total}"),
                json!({"SoracomAir": {"metadata": {"enabled": true}}}),
            );
        }
        total += 1;
    }
    assert_eq!(refs, referencing, "test setup");
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), *v)).collect()
}

fn statuses_429(w: &World) -> usize {
    w.emu.requests().iter().filter(|r| r.status == 429).count()
}

/// G groups of which R reference the target: 1 auth, 1 listCredentials, ceil(G/page)
/// listGroups to observe and as many again right before the first move (a slot someone
/// changed since is left to them), 1 listEventHandlers, 1 listVirtualPrivateGateways (one page: there are
/// none), 1 createCredential (the set this run made is not listed again), R PUTs (their
/// responses confirm
/// the writes: no reads after them); on AWS: observing, 1 ListAccessKeys, 1
/// GetAccessKeyLastUsed per key and 1 ListUserTags (the tool's records); before creating,
/// 1 ListAccessKeys (the keys there are) and a TagUser announcing the run, then a
/// ListUserTags (did another run announce itself first?), then 1 ListAccessKeys and a
/// TagUser writing the keys into the announcement; 1 CreateAccessKey, a TagUser
/// recording the key in flight and an UntagUser removing the announcement; one
/// GetCallerIdentity per required verification success; a TagUser once the set holds the
/// key; 1 ListAccessKeys right before the first move and 1 after the last; a TagUser
/// recording the old key's cutover.
#[tokio::test(start_paused = true)]
async fn a_rotation_makes_exactly_the_calls_it_needs() {
    let w = World::new().await;
    w.seed().await;
    let (groups, referencing, page) = (250, 60, 100);
    grow(&w, groups, referencing);
    w.write_config_with("concurrency = 8", "");
    w.expect(&["rotate"], 0).await;

    let pages = groups.div_ceil(page) as u64;
    assert_eq!(
        w.emu.call_counts(),
        counts(&[
            ("auth", 1),
            ("listCredentials", 1),
            ("listGroups", 2 * pages),
            ("listEventHandlers", 1),
            ("listVirtualPrivateGateways", 1),
            ("createCredential", 1),
            ("putConfigurationParameters", referencing as u64),
        ])
    );
    assert_eq!(
        w.proxy.call_counts(),
        counts(&[
            ("ListAccessKeys", 5),
            ("GetAccessKeyLastUsed", 1),
            ("ListUserTags", 2),
            ("TagUser", 5),
            ("UntagUser", 1),
            ("CreateAccessKey", 1),
            ("GetCallerIdentity", 3),
        ])
    );
    w.assert_converged(&w.id_for(0)).await;
    w.finish().await;
}

/// With a limit advertised (5 calls per 1 s window) and 8 writes at once, the client waits
/// for the window instead of drawing a 429, and finishes.
#[tokio::test(start_paused = true)]
async fn an_advertised_limit_draws_no_429() {
    let w = World::new().await;
    w.seed().await;
    let referencing = 30;
    grow(&w, 45, referencing);
    w.write_config_with("concurrency = 8", "");
    w.emu.set_rate_limit(Some(RateLimit {
        limit: 5,
        window: Duration::from_secs(1),
    }));
    w.expect(&["rotate"], 0).await;
    assert_eq!(statuses_429(&w), 0, "a call drew a 429");
    let counts = w.emu.call_counts();
    assert_eq!(
        counts.get("putConfigurationParameters").copied(),
        Some(referencing as u64),
        "no write was sent twice"
    );
    w.assert_converged(&w.id_for(0)).await;
    w.finish().await;
}

/// Without rate-limit headers, 429s are met with bounded backoff and the run finishes.
#[tokio::test(start_paused = true)]
async fn a_429_storm_without_headers_is_backed_off() {
    let w = World::new().await;
    w.seed().await;
    let referencing = 30;
    grow(&w, 40, referencing);
    w.write_config_with("concurrency = 8\nretry_attempts = 10", "");
    let storm = 12;
    w.emu.add_fault(Fault {
        operation: "putConfigurationParameters".into(),
        nth: 2,
        times: storm,
        kind: FaultKind::Status {
            status: 429,
            body: FaultBody::Json,
        },
    });
    w.expect(&["rotate"], 0).await;
    assert_eq!(statuses_429(&w), storm as usize);
    assert_eq!(
        w.emu
            .call_counts()
            .get("putConfigurationParameters")
            .copied(),
        Some(referencing as u64 + u64::from(storm))
    );
    w.assert_converged(&w.id_for(0)).await;
    w.finish().await;
}
