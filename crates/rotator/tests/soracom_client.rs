//! The SORACOM client against the emulator: status and body mapping, retries, re-login,
//! rate limits, the next page's key, and what is never retried. The pager over the
//! emulator (either header, the `limit` fallback, broken answers) is tested beside it
//! (`src/soracom/paging/tests.rs`).

use std::time::Duration;

use rotator::soracom::{Dial, HttpDial, SoracomApi, SoracomClient};
use rotator::Error;
use rotator_core::config::SoracomSettings;
use rotator_core::endpoint::{AuthKey, Endpoint};
use rotator_core::wire::{BodyError, StatusError};
use rotator_core::{AccessKeyId, NewAccessKey, Secret};
use serde_json::json;
use soracom_emulator::{Emulator, ErrorEnvelope, Fault, FaultBody, FaultKind};

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

/// Clients over HTTP, waiting on the system clock.
fn dial() -> HttpDial {
    HttpDial {
        clock: std::sync::Arc::new(rotator::SystemClock::new()),
    }
}

async fn setup() -> (Emulator, SoracomClient) {
    let emu = Emulator::start().await.expect("emulator");
    emu.add_auth_key("keyId-c", "secret-c");
    let key = AuthKey {
        id: "keyId-c".into(),
        secret: Secret::new("secret-c"),
    };
    let client = dial()
        .dial(&Endpoint(emu.endpoint()), key, &settings())
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
    let client = dial()
        .dial(&Endpoint(emu.endpoint()), key, &settings())
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
