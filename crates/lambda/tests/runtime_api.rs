//! The `bootstrap` binary itself, driven through a fake Lambda Runtime API on 127.0.0.1:
//! one invocation that succeeds (a plan against moto and the emulator) and one that fails
//! (an unknown command, reported as a `NonRetryable` error).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::World;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{json, Value};
use testkit::moto;

/// What the function posted: request id, `response` or `error`, the error-type header,
/// and the body.
type Posted = (String, String, Option<String>, Value);

#[derive(Default)]
struct Fake {
    events: Mutex<VecDeque<(String, Value)>>,
    results: Mutex<Vec<Posted>>,
}

async fn next(State(f): State<Arc<Fake>>) -> impl IntoResponse {
    let ev = f
        .events
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pop_front();
    match ev {
        Some((id, body)) => {
            let deadline = (time::OffsetDateTime::now_utc().unix_timestamp() + 300) * 1000;
            let mut h = HeaderMap::new();
            h.insert("lambda-runtime-aws-request-id", id.parse().expect("header"));
            h.insert(
                "lambda-runtime-deadline-ms",
                deadline.to_string().parse().expect("header"),
            );
            h.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:rotator"
                    .parse()
                    .expect("header"),
            );
            (StatusCode::OK, h, body.to_string()).into_response()
        }
        None => {
            // No more events: hold the poll until the test ends the process.
            tokio::time::sleep(Duration::from_secs(60)).await;
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

async fn result(
    State(f): State<Arc<Fake>>,
    Path((id, kind)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let error_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = serde_json::from_str(&body).unwrap_or(Value::String(body));
    f.results
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((id, kind, error_type, body));
    StatusCode::ACCEPTED
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_serves_a_success_and_an_error_through_the_runtime_api() {
    let w = World::new().await;
    w.seed().await;
    let fake = Arc::new(Fake::default());
    fake.events
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend([
            (
                "req-ok".to_string(),
                json!({"command": "plan", "target": "funnel"}),
            ),
            ("req-bad".to_string(), json!({"command": "explode"})),
        ]);
    let app = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(result))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let home = tempfile::tempdir().expect("tempdir");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "rotator")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_ENDPOINT_URL", w.proxy.endpoint())
        .env("AWS_LAMBDA_LOG_LEVEL", "trace")
        .env("AWS_ACCESS_KEY_ID", moto::TEST_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", moto::TEST_SECRET_ACCESS_KEY)
        .env("AWS_REGION", moto::REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
        .env("HOME", home.path())
        .env("SORACOM_ENDPOINT", w.emu.endpoint())
        .env("SORACOM_AUTH_SECRET_ID", &w.secret_id)
        .env("ROTATOR_CONFIG_PARAMETER", &w.parameter)
        .env("ROTATOR_TEST_ALLOW_ANY_SORACOM_ENDPOINT", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start bootstrap");

    let done = crate::common::eventually(Duration::from_secs(60), || async {
        fake.results.lock().unwrap_or_else(|e| e.into_inner()).len() >= 2
    })
    .await;
    let _ = child.start_kill();
    let out = child.wait_with_output().await.expect("output");
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        done,
        "the runtime did not answer both events; logs:\n{logs}"
    );

    let results = fake
        .results
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let ok = results
        .iter()
        .find(|r| r.0 == "req-ok")
        .expect("req-ok answered");
    assert_eq!(ok.1, "response", "{ok:?}");
    assert_eq!(ok.3["command"], json!("plan"), "{ok:?}");
    assert_eq!(ok.3["targets"][0]["target"], json!("funnel"), "{ok:?}");
    let bad = results
        .iter()
        .find(|r| r.0 == "req-bad")
        .expect("req-bad answered");
    assert_eq!(bad.1, "error", "{bad:?}");
    assert_eq!(bad.3["errorType"], json!("NonRetryable"), "{bad:?}");
    assert!(
        bad.3["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("bad request")),
        "{bad:?}"
    );
    w.wrote(&logs);
    w.wrote(&format!("{results:?}"));
    w.assert_no_secret().await;
}
