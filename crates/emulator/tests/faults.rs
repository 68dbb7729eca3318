//! Fault injection, latency and rate limiting, seen from an HTTP client.

use std::time::{Duration, Instant};

use crate::common::{send, Env};
use reqwest::Method;
use serde_json::json;
use soracom_emulator::{ErrorEnvelope, Fault, FaultBody, FaultKind, RateLimit};

fn fault(operation: &str, nth: u32, times: u32, kind: FaultKind) -> Fault {
    Fault {
        operation: operation.into(),
        nth,
        times,
        kind,
    }
}

fn status(code: u16, body: FaultBody) -> FaultKind {
    FaultKind::Status { status: code, body }
}

fn create_body() -> serde_json::Value {
    json!({"type": "aws-credentials", "credentials": {"accessKeyId": "A", "secretAccessKey": "S"}})
}

#[tokio::test]
async fn status_faults_with_each_body() {
    let env = Env::new().await;
    let cases = [
        (FaultBody::Json, Some("application/json")),
        (FaultBody::Html, Some("text/html")),
        (FaultBody::Truncated, Some("application/json")),
        (FaultBody::Empty, None),
        (FaultBody::WrongType, Some("application/json")),
        (FaultBody::Huge, Some("application/json")),
    ];
    for (body, content_type) in cases {
        env.emu
            .add_fault(fault("listCredentials", 1, 1, status(502, body)));
        let resp = env
            .req(Method::GET, "/credentials")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resp.status(), 502, "{body:?}");
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        assert_eq!(ct.as_deref(), content_type, "{body:?}");
        let text = resp.text().await.unwrap_or_else(|e| panic!("{e}"));
        let parsed = serde_json::from_str::<serde_json::Value>(&text);
        match body {
            FaultBody::Json => {
                assert_eq!(parsed.ok().map(|v| v["code"].is_string()), Some(true));
            }
            FaultBody::Html => {
                assert!(text.contains("502 Bad Gateway") && text.starts_with("<html>"))
            }
            FaultBody::Truncated => {
                assert!(
                    parsed.is_err() && text.starts_with('{') && !text.is_empty(),
                    "{text}"
                )
            }
            FaultBody::Empty => assert!(text.is_empty()),
            FaultBody::WrongType => {
                assert_eq!(
                    parsed.ok().map(|v| v["credentialsId"].is_number()),
                    Some(true)
                )
            }
            FaultBody::Huge => assert_eq!(text.len(), soracom_emulator::HUGE_BODY),
        }
        // Spent after one call.
        assert_eq!(send(env.req(Method::GET, "/credentials")).await.0, 200);
    }
    env.emu.set_error_envelope(ErrorEnvelope::ApiCallError);
    env.emu
        .add_fault(fault("*", 1, 1, status(503, FaultBody::Json)));
    let (code, body) = send(env.req(Method::GET, "/groups")).await;
    assert_eq!((code, body["httpStatus"].clone()), (503, json!(503)));
    // The faulted call never ran: a faulted create stores nothing.
    env.emu.add_fault(fault(
        "createCredential",
        1,
        1,
        status(500, FaultBody::Json),
    ));
    let (code, _) = send(env.req(Method::POST, "/credentials/c").json(&create_body())).await;
    assert_eq!(code, 500);
    assert!(env.emu.credential_ids().is_empty());
}

#[tokio::test]
async fn rate_limited_fault_headers() {
    let env = Env::new().await;
    env.emu.add_fault(fault(
        "listGroups",
        1,
        1,
        FaultKind::RateLimited {
            seconds_before_refresh: 7,
        },
    ));
    let resp = env
        .req(Method::GET, "/groups")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status(), 429);
    let h = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert!(h("x-soracom-ratelimit-limit").is_some());
    assert_eq!(h("x-soracom-ratelimit-remaining").as_deref(), Some("0"));
    assert_eq!(
        h("x-soracom-ratelimit-seconds-before-refresh").as_deref(),
        Some("7")
    );
}

#[tokio::test]
async fn latency_fault_and_per_call_latency() {
    let env = Env::new().await;
    env.emu.add_fault(fault(
        "listGroups",
        1,
        1,
        FaultKind::Latency(Duration::from_millis(300)),
    ));
    let t = Instant::now();
    assert_eq!(send(env.req(Method::GET, "/groups")).await.0, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));

    env.emu.set_latency(Duration::from_millis(200));
    let t = Instant::now();
    assert_eq!(send(env.req(Method::GET, "/credentials")).await.0, 200);
    assert!(t.elapsed() >= Duration::from_millis(200));
    env.emu.set_latency(Duration::ZERO);
}

#[tokio::test]
async fn drop_closes_without_answer_and_changes_nothing() {
    let env = Env::new().await;
    env.emu.reset_stats();
    env.emu
        .add_fault(fault("createCredential", 1, 1, FaultKind::Drop));
    let result = env
        .req(Method::POST, "/credentials/c")
        .json(&create_body())
        .send()
        .await;
    assert!(
        result.is_err(),
        "expected a transport error, got {result:?}"
    );
    assert!(env.emu.credential_ids().is_empty());
    let reqs = env.emu.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        (reqs[0].status, reqs[0].operation.as_deref()),
        (0, Some("createCredential"))
    );
    assert_eq!(env.emu.call_counts().get("createCredential"), Some(&1));
    // The next call works again.
    let (code, _) = send(env.req(Method::POST, "/credentials/c").json(&create_body())).await;
    assert_eq!(code, 201);
}

#[tokio::test]
async fn succeed_then_drop_changes_state() {
    let env = Env::new().await;
    env.emu
        .add_fault(fault("createCredential", 1, 1, FaultKind::SucceedThenDrop));
    let result = env
        .req(Method::POST, "/credentials/c")
        .json(&create_body())
        .send()
        .await;
    assert!(
        result.is_err(),
        "expected a transport error, got {result:?}"
    );
    assert_eq!(env.emu.credential_ids(), ["c"]);
    assert_eq!(env.emu.requests().last().map(|r| r.status), Some(0));
    // A retry of the create now finds the set.
    let (code, body) = send(env.req(Method::POST, "/credentials/c").json(&create_body())).await;
    assert_eq!((code, body["code"].clone()), (400, json!("CRD0002")));
}

#[tokio::test]
async fn expired_token_fault() {
    let env = Env::new().await;
    env.emu
        .add_fault(fault("getGroup", 1, 1, FaultKind::ExpiredToken));
    let (code, body) = send(env.req(Method::GET, "/groups/none")).await;
    assert_eq!((code, body["code"].clone()), (401, json!("AUTH0010")));
    assert_eq!(send(env.req(Method::GET, "/groups/none")).await.0, 404);
}

#[tokio::test]
async fn nth_and_times_counting() {
    let env = Env::new().await;
    env.emu.reset_stats();
    env.emu
        .add_fault(fault("listGroups", 2, 2, status(500, FaultBody::Empty)));
    let mut codes = Vec::new();
    for _ in 0..5 {
        // Other operations do not count towards `nth`.
        let _ = send(env.req(Method::GET, "/credentials")).await;
        codes.push(send(env.req(Method::GET, "/groups")).await.0);
    }
    assert_eq!(codes, [200, 500, 500, 200, 200]);
    assert_eq!(env.emu.call_counts().get("listGroups"), Some(&5));
    let statuses: Vec<u16> = env
        .emu
        .requests()
        .iter()
        .filter(|r| r.operation.as_deref() == Some("listGroups"))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, codes);

    // times = 0: forever, until cleared. Auth can be faulted too.
    env.emu
        .add_fault(fault("auth", 1, 0, status(503, FaultBody::Html)));
    for _ in 0..3 {
        let (code, _) = send(env.http.post(env.url("/auth")).json(&json!({}))).await;
        assert_eq!(code, 503);
    }
    env.emu.clear_faults();
    let (code, _) = send(env.http.post(env.url("/auth")).json(&json!({}))).await;
    assert_eq!(code, 401);
}

#[tokio::test]
async fn rate_limit_and_recovery() {
    let env = Env::new().await;
    env.emu.set_rate_limit(Some(RateLimit {
        limit: 2,
        window: Duration::from_secs(1),
    }));
    let mut seen = Vec::new();
    for _ in 0..3 {
        let resp = env
            .req(Method::GET, "/groups")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let h = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .unwrap_or_default()
        };
        seen.push((
            resp.status().as_u16(),
            h("x-soracom-ratelimit-limit"),
            h("x-soracom-ratelimit-remaining"),
            h("x-soracom-ratelimit-seconds-before-refresh"),
        ));
    }
    let statuses: Vec<u16> = seen.iter().map(|s| s.0).collect();
    assert_eq!(statuses, [200, 200, 429], "{seen:?}");
    assert!(seen.iter().all(|s| s.1 == "2" && s.3 == "1"), "{seen:?}");
    let remaining: Vec<&str> = seen.iter().map(|s| s.2.as_str()).collect();
    assert_eq!(remaining, ["1", "0", "0"]);

    // Another path template has its own counter; auth is exempt.
    assert_eq!(send(env.req(Method::GET, "/credentials")).await.0, 200);
    for _ in 0..3 {
        let (code, _) = send(env.http.post(env.url("/auth")).json(&json!({}))).await;
        assert_eq!(code, 401);
    }

    // Recovery after the window, polled with a bound.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut recovered = false;
    for _ in 0..50 {
        if send(env.req(Method::GET, "/groups")).await.0 == 200 {
            recovered = true;
            break;
        }
        if Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered);
    env.emu.set_rate_limit(None);
    let resp = env
        .req(Method::GET, "/groups")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!resp.headers().contains_key("x-soracom-ratelimit-limit"));
}
