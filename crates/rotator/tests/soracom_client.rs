//! The SORACOM client against the emulator: status and body mapping, retries, re-login,
//! rate limits, paging (either header, the `limit` fallback, broken answers), and what is
//! never retried.

use std::time::Duration;

use rotator::error::{BodyError, PagingProblem, StatusError};
use rotator::soracom::{AuthKey, Endpoint, Pager, SoracomApi, SoracomClient, Walk};
use rotator::Error;
use rotator_core::config::SoracomSettings;
use rotator_core::{AccessKeyId, NewAccessKey, Secret};
use serde_json::json;
use soracom_emulator::{Emulator, ErrorEnvelope, Fault, FaultBody, FaultKind, PagingMode};
use testkit::contract::{assert_conforms, recorded, Spec};

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
        std::sync::Arc::new(rotator::clock::SystemClock::new()),
    )
    .expect("client");
    (emu, client)
}

fn new_key() -> NewAccessKey {
    NewAccessKey {
        id: AccessKeyId::new("AKIAIOSFODNN7EXAMPLE"),
        secret: Secret::new("wJalrXUtnFEMI"),
    }
}

fn fault(op: &str, nth: u32, times: u32, kind: FaultKind) -> Fault {
    Fault {
        operation: op.into(),
        nth,
        times,
        kind,
    }
}

#[tokio::test]
async fn wrong_auth_key_is_a_clear_error() {
    let (emu, _) = setup().await;
    let key = AuthKey {
        id: "keyId-c".into(),
        secret: Secret::new("wrong"),
    };
    let client = SoracomClient::new(
        Endpoint(emu.endpoint()),
        key,
        settings(),
        std::sync::Arc::new(rotator::clock::SystemClock::new()),
    )
    .expect("client");
    let err = client.login().await.expect_err("login must fail");
    assert!(
        matches!(
            err,
            Error::SoracomStatus(StatusError {
                op: "auth",
                status: 401,
                ..
            })
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("wrong"));
}

#[tokio::test]
async fn both_error_envelopes_and_html_are_mapped() {
    let (emu, client) = setup().await;
    emu.set_error_envelope(ErrorEnvelope::ApiCallError);
    let err = client.delete_credential("nope").await;
    assert!(err.is_ok(), "404 on delete means already gone: {err:?}");
    let err = client
        .update_credential("nope", "d", &new_key())
        .await
        .expect_err("unknown set");
    assert!(
        matches!(
            &err,
            Error::SoracomStatus(StatusError {
                status: 404,
                code: Some(_),
                ..
            })
        ),
        "{err}"
    );
    emu.add_fault(fault(
        "listCredentials",
        1,
        0,
        FaultKind::Status {
            status: 502,
            body: FaultBody::Html,
        },
    ));
    let err = client.list_credentials().await.expect_err("502");
    let text = err.to_string();
    assert!(
        text.contains("listCredentials") && text.contains("502") && text.contains("text/html"),
        "{text}"
    );
    // Idempotent reads were retried up to the bound.
    assert_eq!(emu.call_counts().get("listCredentials").copied(), Some(4));
}

#[tokio::test]
async fn truncated_success_bodies_are_errors_not_panics() {
    let (emu, client) = setup().await;
    emu.add_fault(fault(
        "listEventHandlers",
        1,
        0,
        FaultKind::Status {
            status: 200,
            body: FaultBody::Truncated,
        },
    ));
    let err = client.list_event_handlers().await.expect_err("truncated");
    assert!(
        matches!(
            err,
            Error::SoracomBody(BodyError {
                op: "listEventHandlers",
                ..
            })
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_create_is_never_retried_blindly() {
    let (emu, client) = setup().await;
    emu.add_fault(fault(
        "createCredential",
        1,
        1,
        FaultKind::Status {
            status: 500,
            body: FaultBody::Json,
        },
    ));
    let err = client
        .create_credential("p-261128", "d", &new_key())
        .await
        .expect_err("500");
    assert!(
        matches!(err, Error::SoracomStatus(StatusError { status: 500, .. })),
        "{err}"
    );
    assert_eq!(emu.call_counts().get("createCredential").copied(), Some(1));
    // A 429 means the request was not processed, so even a create is sent again.
    emu.add_fault(fault(
        "createCredential",
        1,
        1,
        FaultKind::RateLimited {
            seconds_before_refresh: 0,
        },
    ));
    let set = client
        .create_credential("p-261128", "d", &new_key())
        .await
        .expect("created after 429");
    assert_eq!(set.id, "p-261128");
    assert_eq!(emu.call_counts().get("createCredential").copied(), Some(3));
    let stored = emu.credential("p-261128").expect("stored");
    assert_eq!(
        stored.credentials["secretAccessKey"],
        json!("wJalrXUtnFEMI")
    );
}

#[tokio::test]
async fn dropped_connections_are_retried_for_idempotent_calls() {
    let (emu, client) = setup().await;
    emu.add_fault(fault("listGroups", 1, 2, FaultKind::Drop));
    let page = client.list_groups(None, 10).await.expect("third try");
    assert!(page.groups.is_empty());
    assert_eq!(emu.call_counts().get("listGroups").copied(), Some(3));
}

#[tokio::test]
async fn an_expired_token_is_renewed_once() {
    let (emu, client) = setup().await;
    client.list_credentials().await.expect("first");
    emu.expire_tokens();
    client.list_credentials().await.expect("after expiry");
    assert_eq!(emu.call_counts().get("auth").copied(), Some(2));
    // A token that keeps being rejected is not renewed forever.
    emu.add_fault(fault("listCredentials", 1, 0, FaultKind::ExpiredToken));
    let err = client.list_credentials().await.expect_err("always 401");
    assert!(
        matches!(err, Error::SoracomStatus(StatusError { status: 401, .. })),
        "{err}"
    );
    assert_eq!(emu.call_counts().get("auth").copied(), Some(3));
}

#[tokio::test]
async fn pages_follow_the_next_key() {
    let (emu, client) = setup().await;
    for i in 0..7 {
        emu.add_group(&format!("g{i}"), json!({}));
    }
    emu.set_page_size(3);
    let mut after = None;
    let mut names = Vec::new();
    for _ in 0..10 {
        let page = client
            .list_groups(after.as_deref(), 100)
            .await
            .expect("page");
        names.extend(page.groups.iter().filter_map(|g| g.name.clone()));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(names.len(), 7, "{names:?}");
    assert_eq!(emu.call_counts().get("listGroups").copied(), Some(3));
}

#[tokio::test]
async fn an_advertised_rate_limit_is_waited_for() {
    let (emu, client) = setup().await;
    emu.set_rate_limit(Some(soracom_emulator::RateLimit {
        limit: 2,
        window: Duration::from_secs(1),
    }));
    for _ in 0..5 {
        client
            .list_credentials()
            .await
            .expect("within the limit after waiting");
    }
    // With the headers honoured, no call should have drawn a 429.
    let limited = emu.requests().iter().filter(|r| r.status == 429).count();
    assert_eq!(limited, 0);
}

#[tokio::test]
async fn a_rejection_after_an_unanswered_attempt_is_not_definite() {
    let (emu, client) = setup().await;
    let g = emu.add_group("g", json!({"SoracomAir": {}}));
    // The first attempt may have been applied (no answer); a 400 on the retry does not
    // prove the write did not happen, so the caller must not roll back on it.
    emu.add_fault(fault(
        "putConfigurationParameters",
        1,
        1,
        FaultKind::SucceedThenDrop,
    ));
    emu.add_fault(fault(
        "putConfigurationParameters",
        2,
        1,
        FaultKind::Status {
            status: 400,
            body: FaultBody::Json,
        },
    ));
    let err = client
        .put_group_config(&g, "SoracomFunnel", "credentialsId", &json!("x"))
        .await
        .expect_err("400 on the retry");
    assert!(!err.is_definite_rejection(), "{err}");
    assert!(err.to_string().contains("outcome is unknown"), "{err}");
}

/// Every group id over every page, walked by `pager` as a run walks them.
async fn all_groups(client: &SoracomClient, pager: &mut Pager) -> rotator::Result<Vec<String>> {
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
async fn all_vpgs(client: &SoracomClient, pager: &mut Pager) -> rotator::Result<Vec<String>> {
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

#[tokio::test]
async fn link_only_paging_reads_every_page() {
    let (emu, client) = setup().await;
    let mut groups: Vec<String> = (0..7)
        .map(|i| emu.add_group(&format!("g{i}"), json!({})))
        .collect();
    groups.sort();
    for i in 0..5 {
        emu.add_vpg(&format!("vpg-{i}"), json!({"enabled": false}));
    }
    emu.set_page_size(3);
    emu.set_paging_mode(PagingMode::Link);
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
        (PagingMode::EmptyNextKey, PagingProblem::EmptyNextKey, 1),
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
