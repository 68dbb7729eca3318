//! The pager over a list made up in the test, and over the SORACOM client against the
//! emulator: either paging header, the `limit` fallback, broken answers.

use std::time::Duration;

use serde_json::json;
use soracom_emulator::{Emulator, PagingMode};
use testkit::contract::{assert_conforms, recorded, Spec};

use super::*;
use crate::config::SoracomSettings;
use crate::secret::Secret;
use crate::soracom::{AuthKey, Endpoint, SoracomApi, SoracomClient};

/// A list of `n` items, `per` a page, keys `k<i>`; `next` can override the next key of
/// a page (by the index of its first item).
async fn walk(
    pager: &mut Pager,
    n: usize,
    per: usize,
    next: impl Fn(usize) -> Option<Option<String>>,
    refuse_above: Option<u32>,
) -> (Result<usize>, Vec<usize>, Vec<u32>) {
    let mut asked = Vec::new();
    let mut got = Vec::new();
    let asked_ref = &mut asked;
    let r = pager
        .each(
            "listGroups",
            |after: Option<String>, limit| {
                asked_ref.push(limit);
                let from = after
                    .and_then(|k| k.trim_start_matches('k').parse::<usize>().ok())
                    .unwrap_or(0);
                let refused = refuse_above.is_some_and(|max| limit > max);
                let page = (from..(from + per).min(n)).collect::<Vec<_>>();
                let key = next(from)
                    .unwrap_or_else(|| (from + per < n).then(|| format!("k{}", from + per)));
                async move {
                    if refused {
                        return Err(Error::SoracomStatus(StatusError {
                            op: "listGroups",
                            status: 400,
                            code: None,
                            message: "limit".into(),
                        }));
                    }
                    Ok((page, key))
                }
            },
            |i| {
                got.push(i);
                Walk::More
            },
        )
        .await;
    (r, got, asked)
}

#[tokio::test]
async fn every_page_is_read_once() {
    let mut pager = Pager::new(1000);
    let (r, got, asked) = walk(&mut pager, 7, 3, |_| None, None).await;
    assert_eq!(r.ok(), Some(3));
    assert_eq!(got, (0..7).collect::<Vec<_>>());
    assert_eq!(asked, [1000; 3]);
}

#[tokio::test]
async fn a_refused_limit_falls_back_for_the_rest_of_the_run() {
    let mut pager = Pager::new(1000);
    let (r, got, asked) = walk(&mut pager, 7, 3, |_| None, Some(100)).await;
    assert_eq!(r.ok(), Some(3));
    assert_eq!(got.len(), 7);
    assert_eq!(asked, [1000, 100, 100, 100]);
    assert_eq!(pager.limit(), 100);
    // A 400 at the fallback size is an error, not another fallback.
    let (r, _, asked) = walk(&mut pager, 7, 3, |_| None, Some(10)).await;
    assert!(matches!(
        r,
        Err(Error::SoracomStatus(StatusError { status: 400, .. }))
    ));
    assert_eq!(asked, [100]);
}

#[tokio::test]
async fn a_key_read_before_is_an_error_not_a_loop() {
    let mut pager = Pager::new(10);
    // Page 3 leads back to page 2.
    let cycle = |from| (from == 6).then(|| Some("k3".to_string()));
    let (r, got, asked) = walk(&mut pager, 20, 3, cycle, None).await;
    assert!(
        matches!(
            r,
            Err(Error::SoracomPaging {
                problem: PagingProblem::KeyRepeated,
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!((got.len(), asked.len()), (9, 3));
}

#[tokio::test]
async fn a_list_that_never_ends_is_bounded() {
    let mut pager = Pager::new(10);
    // Every page leads to a new key: the bound ends it.
    let (r, _, asked) = walk(&mut pager, usize::MAX, 1, |_| None, None).await;
    assert!(
        matches!(
            r,
            Err(Error::SoracomPaging {
                problem: PagingProblem::TooManyPages { max: MAX_PAGES },
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(asked.len(), MAX_PAGES);
}

fn settings() -> SoracomSettings {
    SoracomSettings {
        coverage: None,
        profile: None,
        page_size: 100,
        concurrency: 4,
        request_timeout: Duration::from_secs(5),
        retry_attempts: 4,
        retry_base: Duration::from_millis(10),
    }
}

/// The emulator on a socket, and a client of it over HTTP.
async fn setup() -> (Emulator, SoracomClient) {
    let emu = Emulator::start().await.expect("emulator");
    emu.add_auth_key("keyId-c", "secret-c");
    let key = AuthKey {
        id: "keyId-c".into(),
        secret: Secret::new("secret-c"),
    };
    let client = SoracomClient::new(
        Endpoint(emu.endpoint()),
        key,
        settings(),
        std::sync::Arc::new(crate::clock::SystemClock::new()),
    )
    .expect("client");
    (emu, client)
}

/// Every group id over every page, walked by `pager` as a run walks them.
async fn all_groups(client: &SoracomClient, pager: &mut Pager) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    pager
        .each(
            "listGroups",
            |after, limit| async move {
                let page = client.list_groups(after.as_deref(), limit).await?;
                Ok((page.groups, page.next))
            },
            |g| {
                ids.push(g.id);
                Walk::More
            },
        )
        .await?;
    Ok(ids)
}

/// Every VPG id over every page, walked by `pager`.
async fn all_vpgs(client: &SoracomClient, pager: &mut Pager) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    pager
        .each(
            "listVirtualPrivateGateways",
            |after, limit| async move {
                let page = client.list_vpgs(after.as_deref(), limit).await?;
                Ok((page.vpgs, page.next))
            },
            |v| {
                ids.extend(v["vpgId"].as_str().map(str::to_string));
                Walk::More
            },
        )
        .await?;
    Ok(ids)
}

/// The `limit` and `last_evaluated_key` of each request to `path`, in order.
fn paging_queries(emu: &Emulator, path: &str) -> Vec<(Option<String>, Option<String>)> {
    emu.requests()
        .into_iter()
        .filter(|r| r.path == path)
        .map(|r| {
            let query = r.query.unwrap_or_default();
            let param = |name: &str| {
                query.split('&').find_map(|p| {
                    p.strip_prefix(name)
                        .and_then(|v| v.strip_prefix('='))
                        .map(str::to_string)
                })
            };
            (param("limit"), param("last_evaluated_key"))
        })
        .collect()
}

/// Every request the client sent conforms to SORACOM's spec.
fn assert_contract(emu: &Emulator) {
    let reqs = emu.requests();
    let report = assert_conforms(Spec::load_default(), recorded(&reqs));
    assert_eq!(report.checked, reqs.len());
}

/// The emulator with seven groups and five VPGs, three a page, paging in `mode`; a client
/// of it; the groups' ids, sorted.
async fn three_a_page(mode: PagingMode) -> (Emulator, SoracomClient, Vec<String>) {
    let (emu, client) = setup().await;
    let mut groups: Vec<String> = (0..7)
        .map(|i| emu.add_group(&format!("g{i}"), json!({})))
        .collect();
    groups.sort();
    for i in 0..5 {
        emu.add_vpg(&format!("vpg-{i}"), json!({"enabled": false}));
    }
    emu.set_page_size(3);
    emu.set_paging_mode(mode);
    (emu, client, groups)
}

#[tokio::test]
async fn link_only_paging_reads_every_page() {
    let (emu, client, groups) = three_a_page(PagingMode::Link).await;
    let mut pager = Pager::new(100);
    let mut got = all_groups(&client, &mut pager).await.expect("groups");
    got.sort();
    assert_eq!(got, groups);
    let vpgs = all_vpgs(&client, &mut pager).await.expect("vpgs");
    assert_eq!(vpgs.len(), 5, "{vpgs:?}");
    // Three pages of groups and two of VPGs, each after the first asked with the key the
    // Link header carried; no answer had an x-soracom-next-key.
    let asked = paging_queries(&emu, "/v1/groups");
    assert_eq!(asked.len(), 3, "{asked:?}");
    assert!(asked[0].1.is_none() && asked[1..].iter().all(|q| q.1.is_some()));
    assert_eq!(
        paging_queries(&emu, "/v1/virtual_private_gateways").len(),
        2
    );
    assert!(emu
        .requests()
        .iter()
        .all(|r| r.status == 200 || r.path == "/v1/auth"));
    assert_contract(&emu);
}

/// An empty `x-soracom-next-key` on the last page ends a listing of groups and of VPGs
/// after every page was read, as SORACOM's own clients read it.
#[tokio::test]
async fn an_empty_next_key_on_the_last_page_ends_the_listing() {
    let (emu, client, groups) = three_a_page(PagingMode::EmptyOnLastPage).await;
    let mut pager = Pager::new(100);
    let mut got = all_groups(&client, &mut pager).await.expect("groups");
    got.sort();
    assert_eq!(got, groups);
    assert_eq!(all_vpgs(&client, &mut pager).await.expect("vpgs").len(), 5);
    assert_eq!(paging_queries(&emu, "/v1/groups").len(), 3);
    assert_eq!(
        paging_queries(&emu, "/v1/virtual_private_gateways").len(),
        2
    );
    assert_contract(&emu);
}

#[tokio::test]
async fn both_headers_agreeing_read_every_page() {
    let (emu, client) = setup().await;
    for i in 0..7 {
        emu.add_group(&format!("g{i}"), json!({}));
    }
    emu.set_page_size(2);
    emu.set_paging_mode(PagingMode::Both);
    let got = all_groups(&client, &mut Pager::new(100))
        .await
        .expect("groups");
    assert_eq!(got.len(), 7);
    assert_eq!(emu.call_counts().get("listGroups").copied(), Some(4));
    assert_contract(&emu);
}

#[tokio::test]
async fn a_refused_limit_falls_back_to_100_for_the_rest_of_the_run() {
    let (emu, client) = setup().await;
    for i in 0..7 {
        emu.add_group(&format!("g{i}"), json!({}));
    }
    for i in 0..4 {
        emu.add_vpg(&format!("vpg-{i}"), json!({"enabled": false}));
    }
    emu.set_page_size(3);
    // As an API that caps `limit`: 1,000 is refused with a 400, 100 is not.
    emu.set_max_limit(Some(100));
    let mut pager = Pager::new(1000);
    let groups = all_groups(&client, &mut pager).await.expect("groups");
    assert_eq!(groups.len(), 7);
    assert_eq!(pager.limit(), 100);
    let limits = |path| {
        paging_queries(&emu, path)
            .into_iter()
            .map(|(limit, _)| limit.unwrap_or_default())
            .collect::<Vec<_>>()
    };
    assert_eq!(limits("/v1/groups"), ["1000", "100", "100", "100"]);
    let refused: Vec<u16> = emu
        .requests()
        .iter()
        .map(|r| r.status)
        .filter(|s| *s == 400)
        .collect();
    assert_eq!(refused, [400], "one refusal, then the fallback");
    // The VPG listing of the same run is asked with the fallback at once.
    assert_eq!(all_vpgs(&client, &mut pager).await.expect("vpgs").len(), 4);
    assert_eq!(limits("/v1/virtual_private_gateways"), ["100", "100"]);
    // A server that refuses even the fallback is an error, not a short list.
    emu.set_max_limit(Some(10));
    let err = all_groups(&client, &mut Pager::new(1000))
        .await
        .expect_err("100 is refused too");
    assert!(
        matches!(
            err,
            Error::SoracomStatus(StatusError {
                op: "listGroups",
                status: 400,
                ..
            })
        ),
        "{err}"
    );
    assert_contract(&emu);
}

#[tokio::test]
async fn a_broken_next_page_is_an_error_never_a_short_list() {
    let (emu, client) = setup().await;
    for i in 0..7 {
        emu.add_group(&format!("g{i}"), json!({}));
    }
    emu.set_page_size(3);
    for (mode, problem, calls) in [
        (PagingMode::LinkWithoutKey, PagingProblem::LinkWithoutKey, 1),
        (PagingMode::RepeatKey, PagingProblem::KeyRepeated, 2),
    ] {
        emu.set_paging_mode(mode);
        let before = emu.call_counts().get("listGroups").copied().unwrap_or(0);
        let err = all_groups(&client, &mut Pager::new(100))
            .await
            .expect_err("more pages without a usable key");
        match &err {
            Error::SoracomPaging { op, problem: p } => {
                assert_eq!((*op, p), ("listGroups", &problem), "{mode:?}")
            }
            other => panic!("{mode:?}: {other}"),
        }
        assert!(!err.is_retryable(), "{err}");
        // Found on the answer itself: no retry, no page past it.
        let after = emu.call_counts().get("listGroups").copied().unwrap_or(0);
        assert_eq!(after - before, calls, "{mode:?}");
    }
    assert_contract(&emu);
}
