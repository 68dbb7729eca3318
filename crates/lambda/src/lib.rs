//! soracom-key-rotator as an AWS Lambda function: the handler, kept free of the runtime.
//!
//! [`handle`] is a plain async function generic over the ports — IAM ([`IamApi`]), where
//! the SORACOM AuthKey is kept ([`KeyStore`]) and where the configuration comes from
//! ([`ConfigSource`]) — so tests call it directly against moto and the emulator, and
//! `main.rs` only builds the real clients once per cold start and hands the handler to
//! `lambda_runtime`. SORACOM is logged in to per invocation: a scheduled run is rare and
//! an API token has a lifetime.
//!
//! Event: `{"command": "reconcile"|"rotate"|"plan"|"status"|"rotate-soracom-key",
//! "target"?: NAME, "force"?: bool, "emergency"?: bool, "now"?: RFC3339}`. `force` turns
//! `reconcile` into `rotate`; `emergency` (with `rotate`) deactivates the old key as soon as
//! the cutover is done. An AWS Health event of an exposed access key
//! (`AWS_RISK_CREDENTIALS_EXPOSED`, as EventBridge delivers it) is an emergency rotation of
//! the targets whose IAM user holds that key. `now`
//! plans (or reports status) as if it were that time, and is refused for every command that
//! writes: whoever may invoke the function must not be able to skip a delay. The result is
//! the run's report (JSON); each target's figures also go out as a CloudWatch
//! embedded-metric-format line ([`metric_lines`]). A run whose
//! outcome is *failed* or *refused* is returned as a Lambda error after notifying, so that
//! the function's error alarm fires: [`HandlerError::error_type`] says whether a retry can
//! help (`Retryable`) or a human must act (`NonRetryable`).

use std::future::Future;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use rotator::{
    invoke, rotate_soracom_key, Clients, Command, IamApi, InvokeError, KeyStore, NoProgress,
    Outcome, Request as Run, SoracomAccess,
};
use rotator_core::config::SoracomOverride;
use rotator_core::endpoint::Endpoint;
use rotator_core::report::RunReport;
use rotator_core::secret::AccessKeyId;
use rotator_core::Config;

pub mod aws;

/// What the function is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LambdaCommand {
    /// Do what is due (the scheduled command); with `force`, rotate now.
    Reconcile,
    /// Rotate now; with `emergency`, deactivate the old key once the cutover is done.
    Rotate,
    /// Show what reconcile would do; change nothing.
    Plan,
    /// Keys, sets, references, due dates and compliance (the CLI's `status`).
    Status,
    /// Replace the SORACOM AuthKey kept in Secrets Manager.
    RotateSoracomKey,
}

/// The invocation event.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The command.
    pub command: LambdaCommand,
    /// Only this target (all when absent).
    pub target: Option<String>,
    /// With `reconcile`: rotate even if not due.
    #[serde(default)]
    pub force: bool,
    /// With `rotate`: the key is exposed; deactivate it as soon as the cutover is done.
    #[serde(default)]
    pub emergency: bool,
    /// With `emergency`: the exposed access key ids (the current key of each target when
    /// empty), as `rotate --emergency --key`.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Plan as if it were this time (RFC 3339): `plan` and `status` only.
    pub now: Option<String>,
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The event is not a valid request.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The function is not set up right (environment, configuration).
    #[error("configuration: {0}")]
    Config(String),
    /// A library call failed before a report could be made.
    #[error(transparent)]
    Rotator(#[from] rotator::Error),
    /// The run ended failed or refused; the report was logged and notified.
    #[error("{summary}")]
    Outcome {
        /// Each failed or refused target with its error.
        summary: String,
        /// Failed (the next run resumes) rather than refused (a human must act).
        retryable: bool,
    },
}

impl HandlerError {
    /// Whether invoking again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            HandlerError::BadRequest(_) | HandlerError::Config(_) => false,
            HandlerError::Rotator(e) => e.is_retryable(),
            HandlerError::Outcome { retryable, .. } => *retryable,
        }
    }

    /// The Lambda error type: `Retryable` or `NonRetryable`.
    pub fn error_type(&self) -> &'static str {
        if self.is_retryable() {
            "Retryable"
        } else {
            "NonRetryable"
        }
    }
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().into(),
            error_message: e.to_string(),
        }
    }
}

/// Where the TOML configuration comes from.
pub trait ConfigSource: Send + Sync {
    /// A name for messages (the parameter name or the variable).
    fn name(&self) -> String;
    /// The configuration text.
    fn load(&self) -> impl Future<Output = Result<String, HandlerError>> + Send;
}

/// Configuration given inline (environment variable `ROTATOR_CONFIG`), or its absence.
#[derive(Clone, Debug)]
pub struct InlineConfig(pub Option<String>);

impl ConfigSource for InlineConfig {
    fn name(&self) -> String {
        "ROTATOR_CONFIG".into()
    }

    async fn load(&self) -> Result<String, HandlerError> {
        self.0.clone().ok_or_else(|| {
            HandlerError::Config(
                "set ROTATOR_CONFIG_PARAMETER (an SSM parameter holding the TOML configuration) \
                 or ROTATOR_CONFIG (the TOML itself)"
                    .into(),
            )
        })
    }
}

/// What the handler works with; built once per cold start.
pub struct Ports<'a, I, K, C, D> {
    /// IAM and STS.
    pub iam: &'a I,
    /// Where the SORACOM AuthKey is kept.
    pub key_store: &'a K,
    /// The store of another operator's AuthKey: a target's `soracom_secret` (a secret name
    /// or ARN).
    pub secret_store: &'a (dyn Fn(&str) -> K + Send + Sync),
    /// Where the configuration comes from.
    pub config: &'a C,
    /// How SORACOM is reached.
    pub dial: &'a D,
    /// Where notices go (SNS and the webhook).
    pub notify: &'a dyn rotator::Deliver,
    /// `SORACOM_ENDPOINT`, which overrides the configured coverage: one of SORACOM's own
    /// API origins, unless `allow_any_endpoint`.
    pub soracom_endpoint: Option<String>,
    /// Accept any https (or loopback) `SORACOM_ENDPOINT`: an explicit test setting
    /// (`ROTATOR_TEST_ALLOW_ANY_SORACOM_ENDPOINT=1`), never the default.
    pub allow_any_endpoint: bool,
    /// The time and every wait (the system clock in production; tests move it).
    pub clock: &'a dyn rotator::Clock,
    /// Run ids and random bytes.
    pub ids: &'a dyn rotator::Ids,
    /// Where the embedded-metric-format lines go (stdout, which CloudWatch Logs reads).
    pub metrics: &'a (dyn Fn(&str) + Send + Sync),
}

/// The AWS Health event type of an access key found exposed in public.
pub const EXPOSED: &str = "AWS_RISK_CREDENTIALS_EXPOSED";

/// The access keys an AWS Health event names as exposed, if the event is one (`None`: it is
/// not an AWS Health event, so it is a request).
fn exposed_keys(event: &Value) -> Option<Result<Vec<AccessKeyId>, HandlerError>> {
    if event.get("source").and_then(Value::as_str) != Some("aws.health") {
        return None;
    }
    let detail = event.get("detail");
    let code = detail
        .and_then(|d| d.get("eventTypeCode"))
        .and_then(Value::as_str);
    if code != Some(EXPOSED) {
        return Some(Err(HandlerError::BadRequest(format!(
            "an AWS Health event other than {EXPOSED}: nothing to do"
        ))));
    }
    let keys: Vec<AccessKeyId> = detail
        .and_then(|d| d.get("affectedEntities"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("entityValue").and_then(Value::as_str))
        .filter_map(AccessKeyId::parse)
        .collect();
    Some(if keys.is_empty() {
        Err(HandlerError::BadRequest(format!(
            "the {EXPOSED} event names no access key id"
        )))
    } else {
        Ok(keys)
    })
}

/// The CloudWatch namespace of the function's metrics.
pub const NAMESPACE: &str = "SoracomKeyRotator";

/// The metrics of [`metric_lines`] and their units: every one a line may carry (the key's
/// age and the days to the deadline only when the target has an active key). The
/// templates' alarms and dashboard are held to these names (crates/lambda/tests/template.rs).
pub const METRICS: [(&str, &str); 6] = [
    ("ReferencesMoved", "Count"),
    ("RunFailed", "Count"),
    ("RunRefused", "Count"),
    ("KeysAtRisk", "Count"),
    ("OldestActiveKeyAgeDays", "None"),
    ("DaysToDeadline", "None"),
];

/// One embedded-metric-format line per target of `report`: the age of its oldest active
/// key, the days to its nearest deadline (whole days, rounded down), its keys at risk, the
/// references the run moved, and whether it failed or was refused; by target, and for the
/// whole service (the template's alarms read the target's).
pub fn metric_lines(report: &RunReport, config: &Config) -> Vec<String> {
    let at = report.now.unix_timestamp() * 1000;
    report
        .targets
        .iter()
        .map(|t| {
            let max = config
                .targets
                .iter()
                .find(|c| c.name == t.target)
                .map_or(0, |c| c.max_key_age_days);
            let m = t.metrics(report.now, max);
            let mut line = serde_json::json!({
                "Service": "soracom-key-rotator",
                "Target": t.target,
                "Command": report.command,
                "Outcome": t.outcome,
                "ReferencesMoved": t.references.moved,
                "RunFailed": u8::from(t.outcome == rotator_core::report::Outcome::Failed),
                "RunRefused": u8::from(t.outcome == rotator_core::report::Outcome::Refused),
                "KeysAtRisk": m.keys_at_risk,
            });
            if let Some(age) = m.oldest_active_key_age_days {
                line["OldestActiveKeyAgeDays"] = age.into();
            }
            if let Some(days) = m.days_to_deadline {
                line["DaysToDeadline"] = days.into();
            }
            let metrics: Vec<Value> = METRICS
                .iter()
                .filter(|(n, _)| line.get(n).is_some())
                .map(|(n, u)| serde_json::json!({"Name": n, "Unit": u}))
                .collect();
            line["_aws"] = serde_json::json!({
                "Timestamp": at,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Target"], ["Service"]],
                    "Metrics": metrics,
                }],
            });
            line.to_string()
        })
        .collect()
}

/// Handles one invocation: parse the event, load the configuration, log in to SORACOM,
/// run the command, notify, and return the report.
pub async fn handle<I: IamApi, K: KeyStore, C: ConfigSource, D: rotator::soracom::Dial>(
    event: Value,
    ports: &Ports<'_, I, K, C, D>,
) -> Result<Value, HandlerError> {
    let (req, exposed) = request_of(event)?;
    let named = named_keys(&req)?;
    let now = time_of(&req, ports.clock)?;
    let text = ports.config.load().await?;
    let config = Config::from_toml(&text, Path::new(&ports.config.name()))
        .map_err(|e| HandlerError::Config(e.to_string()))?;
    let endpoint = endpoint(
        ports.soracom_endpoint.as_deref(),
        &config,
        ports.allow_any_endpoint,
    )?;
    let request = match (req.command, exposed) {
        (_, Some(keys)) => Run::Emergency {
            keys,
            dry_run: false,
        },
        (LambdaCommand::Reconcile, None) if req.force => run(Command::Rotate),
        (LambdaCommand::Reconcile, None) => run(Command::Reconcile),
        (LambdaCommand::Rotate, None) if req.emergency => Run::Emergency {
            keys: named,
            dry_run: false,
        },
        (LambdaCommand::Rotate, None) => run(Command::Rotate),
        (LambdaCommand::Plan, None) => run(Command::Plan),
        (LambdaCommand::Status, None) => Run::Status,
        (LambdaCommand::RotateSoracomKey, None) => {
            let done =
                rotate_soracom_key(ports.dial, &endpoint, &config.soracom, ports.key_store).await?;
            tracing::info!(result = %serde_json::to_string(&done).unwrap_or_default(), "rotate-soracom-key");
            return serde_json::to_value(&done).map_err(|e| HandlerError::Config(e.to_string()));
        }
    };
    let access = Operators {
        endpoint,
        ports,
        config: &config,
    };
    let outcome = run_request(
        ports,
        &access,
        (&config, req.target.as_deref()),
        request,
        now,
    )
    .await?;
    let report = match outcome {
        Outcome::Status(status) => {
            return serde_json::to_value(&status).map_err(|e| HandlerError::Config(e.to_string()))
        }
        Outcome::Run(report) => report,
    };
    respond(&report, &config, ports.metrics)
}

/// The request an event makes, and the keys an AWS Health event names as exposed (then
/// the request is an emergency rotation of every target holding one).
fn request_of(event: Value) -> Result<(Request, Option<Vec<AccessKeyId>>), HandlerError> {
    let exposed = match exposed_keys(&event) {
        Some(keys) => Some(keys?),
        None => None,
    };
    let req: Request = match exposed {
        Some(_) => Request {
            command: LambdaCommand::Rotate,
            target: None,
            force: false,
            emergency: true,
            keys: Vec::new(),
            now: None,
        },
        None => {
            serde_json::from_value(event).map_err(|e| HandlerError::BadRequest(e.to_string()))?
        }
    };
    if req.emergency && req.command != LambdaCommand::Rotate {
        return Err(HandlerError::BadRequest(
            "emergency is accepted only with the rotate command".into(),
        ));
    }
    if !req.keys.is_empty() && !req.emergency {
        return Err(HandlerError::BadRequest(
            "keys are accepted only with emergency".into(),
        ));
    }
    Ok((req, exposed))
}

/// The exposed keys a request names (`keys`), each an access key id.
fn named_keys(req: &Request) -> Result<Vec<AccessKeyId>, HandlerError> {
    req.keys
        .iter()
        .map(|k| {
            AccessKeyId::parse(k).ok_or_else(|| {
                HandlerError::BadRequest("keys: an entry is not an access key id".into())
            })
        })
        .collect()
}

/// The time a request runs at: the clock's, or its `now` — which only `plan` and `status`
/// may give (whoever may invoke the function must not be able to skip a delay).
fn time_of(req: &Request, clock: &dyn rotator::Clock) -> Result<OffsetDateTime, HandlerError> {
    let writes = matches!(
        req.command,
        LambdaCommand::Reconcile | LambdaCommand::Rotate | LambdaCommand::RotateSoracomKey
    );
    match &req.now {
        Some(_) if writes => Err(HandlerError::BadRequest(
            "now is accepted only for plan and status: a command that writes runs at the \
             real time (the delays it records must not be skipped)"
                .into(),
        )),
        Some(s) => OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map_err(|_| HandlerError::BadRequest("now is not an RFC 3339 time".into())),
        None => Ok(clock.now()),
    }
}

/// Runs `request` for the target named `target` (all when `None`) with the function's
/// ports.
async fn run_request<I: IamApi, K: KeyStore, C: ConfigSource, D: rotator::soracom::Dial>(
    ports: &Ports<'_, I, K, C, D>,
    access: &Operators<'_, '_, I, K, C, D>,
    (config, target): (&Config, Option<&str>),
    request: Run,
    now: OffsetDateTime,
) -> Result<Outcome, HandlerError> {
    let clients = Clients {
        iam: ports.iam,
        soracom: access,
        dial: ports.dial,
        notify: ports.notify,
        progress: &NoProgress,
        clock: ports.clock,
        ids: ports.ids,
    };
    invoke(config, target, request, now, clients)
        .await
        .map_err(|e| match e {
            InvokeError::NoSuchTarget(m) => HandlerError::BadRequest(m),
            InvokeError::Failed(e) => HandlerError::Rotator(e),
            e @ InvokeError::NotOurs(_) => HandlerError::Outcome {
                summary: e.to_string(),
                retryable: false,
            },
        })
}

/// The response to a run: its metric lines written, its report (exit 0), or a Lambda
/// error (`Retryable` when it failed, `NonRetryable` when a safety rule refused).
fn respond(
    report: &rotator_core::report::RunReport,
    config: &Config,
    metrics: &(dyn Fn(&str) + Send + Sync),
) -> Result<Value, HandlerError> {
    for line in metric_lines(report, config) {
        metrics(&line);
    }
    let json = serde_json::to_value(report).map_err(|e| HandlerError::Config(e.to_string()))?;
    tracing::info!(report = %json, exit_code = report.exit_code(), "run finished");
    match report.exit_code() {
        0 => Ok(json),
        code => {
            let summary = report
                .targets
                .iter()
                .filter_map(|t| {
                    t.error
                        .as_ref()
                        .map(|e| format!("target {} {:?}: {e}", t.target, t.outcome))
                })
                .collect::<Vec<_>>()
                .join("; ");
            Err(HandlerError::Outcome {
                summary,
                retryable: code == 1,
            })
        }
    }
}

/// Each SORACOM operator's endpoint and AuthKey in the function: the run's own endpoint
/// and secret, or a target's `soracom_endpoint`/`soracom_coverage` (held to the same
/// allowlist as `SORACOM_ENDPOINT`) and `soracom_secret`. Profiles are not read here.
struct Operators<'a, 'p, I, K, C, D> {
    endpoint: Endpoint,
    ports: &'a Ports<'p, I, K, C, D>,
    config: &'a Config,
}

impl<I: IamApi, K: KeyStore, C: ConfigSource, D: Sync> SoracomAccess
    for Operators<'_, '_, I, K, C, D>
{
    async fn credentials(
        &self,
        over: &SoracomOverride,
    ) -> Result<(Endpoint, rotator_core::endpoint::AuthKey), rotator::Error> {
        use rotator::soracom::auth;
        if over.profile.is_some() {
            return Err(rotator::Error::SoracomCredentials(
                "soracom_profile: the Lambda function reads no soracom-cli profile; give the \
                 target soracom_secret (and soracom_coverage or soracom_endpoint)"
                    .into(),
            ));
        }
        let endpoint = if over.endpoint.is_none() && over.coverage.is_none() {
            self.endpoint.clone()
        } else {
            let coverage = over.coverage.or(self.config.soracom.coverage);
            let ep = auth::endpoint(over.endpoint.as_deref(), coverage, None)?;
            if !self.ports.allow_any_endpoint && !rotator_core::endpoint::is_soracom(&ep) {
                return Err(rotator::Error::SoracomCredentials(format!(
                    "soracom_endpoint is not one of SORACOM's API origins ({})",
                    rotator_core::endpoint::SORACOM_ORIGINS.join(", ")
                )));
            }
            ep
        };
        let key = match &over.secret {
            Some(id) => (self.ports.secret_store)(id).load().await?.key,
            None => self.ports.key_store.load().await?.key,
        };
        Ok((endpoint, key))
    }
}

/// A command that writes unless it is `plan`.
fn run(command: Command) -> Run {
    Run::Run {
        command,
        dry_run: false,
    }
}

/// The function's log filter: our crates at `level` (`AWS_LAMBDA_LOG_LEVEL`: trace, debug,
/// info, warn or error; info when absent or unknown), every other crate at `warn`, so that
/// no dependency's request dump can reach the log.
pub fn log_filter(level: Option<&str>) -> tracing_subscriber::EnvFilter {
    let level = level
        .map(str::to_lowercase)
        .filter(|l| ["trace", "debug", "info", "warn", "error"].contains(&l.as_str()))
        .unwrap_or_else(|| "info".into());
    tracing_subscriber::EnvFilter::new(format!(
        "warn,rotator={level},rotator_lambda={level},bootstrap={level}"
    ))
}

/// `SORACOM_ENDPOINT` (an origin, `/v1` optional) or the configured coverage (default jp).
/// The function sends its AuthKey and new AWS secrets there, so only SORACOM's own API
/// origins are accepted unless `allow_any` (a test setting).
fn endpoint(
    over: Option<&str>,
    config: &Config,
    allow_any: bool,
) -> Result<Endpoint, HandlerError> {
    use rotator::soracom::auth;
    let ep = auth::endpoint(over, config.soracom.coverage, None)
        .map_err(|e| HandlerError::Config(e.to_string()))?;
    if !allow_any && !rotator_core::endpoint::is_soracom(&ep) {
        return Err(HandlerError::Config(format!(
            "SORACOM_ENDPOINT is not one of SORACOM's API origins ({})",
            rotator_core::endpoint::SORACOM_ORIGINS.join(", ")
        )));
    }
    Ok(ep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_strictly() {
        let r: Result<Request, _> = serde_json::from_value(
            serde_json::json!({"command": "reconcile", "target": "funnel", "force": true}),
        );
        assert!(r.is_ok_and(|r| r.force && r.command == LambdaCommand::Reconcile));
        let r: Result<Request, _> =
            serde_json::from_value(serde_json::json!({"command": "rotate-soracom-key"}));
        assert!(r.is_ok_and(|r| r.command == LambdaCommand::RotateSoracomKey));
        for bad in [
            serde_json::json!({"command": "destroy"}),
            serde_json::json!({"command": "plan", "extra": 1}),
            serde_json::json!({}),
        ] {
            assert!(serde_json::from_value::<Request>(bad).is_err());
        }
    }

    /// A target's own endpoint is held to the function's allowlist, as `SORACOM_ENDPOINT`
    /// is; a profile is refused (the function reads none). Nothing is contacted: the
    /// checks come before the secret is read.
    #[tokio::test(flavor = "current_thread")]
    async fn a_targets_endpoint_is_held_to_the_allowlist() {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let iam = rotator::AwsIam::new(sdk.clone());
        let store = aws::SecretsManagerStore::new(&sdk, None);
        let stores = |id: &str| aws::SecretsManagerStore::new(&sdk, Some(id.to_string()));
        let source = InlineConfig(None);
        let ports = Ports {
            iam: &iam,
            key_store: &store,
            secret_store: &stores,
            config: &source,
            dial: &rotator::soracom::HttpDial {
                clock: std::sync::Arc::new(rotator::SystemClock::new()),
            },
            notify: &rotator::Channels { sdk: sdk.clone() },
            soracom_endpoint: None,
            allow_any_endpoint: false,
            clock: &rotator::SystemClock::new(),
            ids: &rotator::OsIds::default(),
            metrics: &|_: &str| {},
        };
        let config = Config::from_toml(
            "[[targets]]\nname = \"a\"\niam_user = \"u\"\ncredential_prefix = \"p\"\n",
            Path::new("t.toml"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let access = Operators {
            endpoint: Endpoint("https://api.soracom.io".into()),
            ports: &ports,
            config: &config,
        };
        let over = |endpoint: &str| SoracomOverride {
            endpoint: Some(endpoint.into()),
            secret: Some("other".into()),
            ..SoracomOverride::default()
        };
        for (o, needle) in [
            (
                over("http://127.0.0.1:9"),
                "soracom_endpoint is not one of SORACOM's",
            ),
            (
                over("https://example.com"),
                "soracom_endpoint is not one of SORACOM's",
            ),
            (
                SoracomOverride {
                    profile: Some("b".into()),
                    ..SoracomOverride::default()
                },
                "soracom_profile",
            ),
        ] {
            let e = access
                .credentials(&o)
                .await
                .err()
                .unwrap_or_else(|| panic!("accepted {o:?}"));
            assert!(e.to_string().contains(needle), "{e}");
        }
    }

    #[test]
    fn error_types_say_whether_a_retry_helps() {
        let d: lambda_runtime::Diagnostic = HandlerError::BadRequest("x".into()).into();
        assert_eq!(d.error_type, "NonRetryable");
        let e = HandlerError::Rotator(rotator::Error::SoracomTransport {
            op: "listGroups",
            message: "timed out".into(),
        });
        assert_eq!(e.error_type(), "Retryable");
        let e = HandlerError::Outcome {
            summary: "refused".into(),
            retryable: false,
        };
        assert_eq!(e.error_type(), "NonRetryable");
    }
}
