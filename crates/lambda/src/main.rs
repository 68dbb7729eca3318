//! `bootstrap`: the Lambda entry point (runtime `provided.al2023`).
//!
//! Built once per cold start: the AWS SDK configuration and the IAM/STS, Secrets Manager
//! and SSM clients. Every invocation goes to [`rotator_lambda::handle`]. Environment:
//! `SORACOM_AUTH_SECRET_ID` (the secret holding the SORACOM AuthKey),
//! `ROTATOR_CONFIG_PARAMETER` (SSM parameter with the TOML) or `ROTATOR_CONFIG` (the TOML),
//! and optionally `SORACOM_ENDPOINT` (one of SORACOM's API origins; tests against an
//! emulator also set `ROTATOR_TEST_ALLOW_ANY_SORACOM_ENDPOINT=1`). Logs go to stdout (CloudWatch Logs), as JSON when
//! `AWS_LAMBDA_LOG_FORMAT=JSON`, at `AWS_LAMBDA_LOG_LEVEL` (default info).

use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use rotator::soracom::HttpDial;
use rotator::{AwsIam, Channels, SystemClock};
use rotator_lambda::aws::{RuntimeConfig, SecretsManagerStore};
use rotator_lambda::{handle, Ports};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let var = |k: &str| std::env::var(k).ok();
    let clock = Arc::new(SystemClock::new());
    let iam = AwsIam::from_env().await;
    let sdk = iam.sdk_config().clone();
    let key_store = SecretsManagerStore::new(&sdk, var("SORACOM_AUTH_SECRET_ID"));
    let config =
        RuntimeConfig::from_vars(&sdk, var("ROTATOR_CONFIG_PARAMETER"), var("ROTATOR_CONFIG"));
    let secret_store = |id: &str| SecretsManagerStore::new(&sdk, Some(id.to_string()));
    let ports = Ports {
        iam: &iam,
        key_store: &key_store,
        secret_store: &secret_store,
        config: &config,
        dial: &HttpDial {
            clock: clock.clone(),
        },
        notify: &Channels { sdk: sdk.clone() },
        soracom_endpoint: var("SORACOM_ENDPOINT"),
        allow_any_endpoint: var("ROTATOR_TEST_ALLOW_ANY_SORACOM_ENDPOINT").as_deref() == Some("1"),
        clock: &*clock,
        ids: &rotator::OsIds::default(),
        // Embedded-metric-format lines must be log lines of their own, as written.
        metrics: &|line: &str| println!("{line}"),
    };
    let ports = &ports;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        tracing::info!(request_id = %event.context.request_id, "invocation");
        let result = handle(event.payload, ports).await;
        if let Err(e) = &result {
            tracing::error!(error = %e, error_type = e.error_type(), "invocation failed");
        }
        result
    }))
    .await
}

/// Logging at `AWS_LAMBDA_LOG_LEVEL`, as [`rotator_lambda::log_filter`] says.
fn init_logging() {
    let filter = rotator_lambda::log_filter(std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref());
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .without_time();
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
