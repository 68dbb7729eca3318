//! One run of a command, as the CLI and the Lambda function both do it: select the targets,
//! log in to SORACOM, observe, plan and (unless it is a dry run) apply, or report the
//! status; then notify. Each binary only adds where its inputs come from (arguments and a
//! profile; an event, a secret and a parameter) and how the outcome leaves (text or JSON
//! and an exit code; a response or a Lambda error).

use aws_config::SdkConfig;
use time::OffsetDateTime;

use crate::apply::{Command, Engine, Progress};
use crate::config::Config;
use crate::error::Error;
use crate::iam::IamApi;
use crate::notify::Notifiers;
use crate::report::RunReport;
use crate::soracom::{AuthKey, Endpoint, SoracomClient};
use crate::status::StatusReport;

/// What to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// A command; `dry_run` forbids every write (`plan` never writes).
    Run {
        /// The command.
        command: Command,
        /// Show the plan, change nothing.
        dry_run: bool,
    },
    /// Keys, sets, references, due dates and compliance; changes nothing.
    Status,
}

/// What came of it.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The report of a command.
    Run(RunReport),
    /// The status of the targets.
    Status(StatusReport),
}

impl Outcome {
    /// The process exit code: a command's (0, 1 failed, 3 refused); for status, 1 if a
    /// target could not be observed.
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Run(r) => r.exit_code(),
            Outcome::Status(s) if s.errors.is_empty() => 0,
            Outcome::Status(_) => 1,
        }
    }
}

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// No target of that name (a usage error).
    #[error("{0}")]
    NoSuchTarget(String),
    /// A call failed before any report could be made (nothing was changed).
    #[error(transparent)]
    Failed(#[from] Error),
}

/// The clients a run needs, built by the binary.
pub struct Clients<'a, I> {
    /// IAM and STS.
    pub iam: &'a I,
    /// SORACOM's API origin.
    pub endpoint: Endpoint,
    /// The AuthKey to log in with.
    pub key: AuthKey,
    /// The AWS configuration the notification clients use.
    pub sdk: &'a SdkConfig,
    /// Where repointing progress goes.
    pub progress: &'a dyn Progress,
}

/// Runs `request` for the target named `target` (all when `None`) at `now`.
pub async fn invoke<I: IamApi>(
    config: &Config,
    target: Option<&str>,
    request: Request,
    now: OffsetDateTime,
    clients: Clients<'_, I>,
) -> Result<Outcome, InvokeError> {
    let targets = config.select(target).map_err(InvokeError::NoSuchTarget)?;
    let soracom = SoracomClient::new(clients.endpoint, clients.key, config.soracom.clone())?;
    soracom.login().await?;
    let engine = Engine {
        iam: clients.iam,
        soracom: &soracom,
        config,
        progress: clients.progress,
    };
    let (command, dry_run) = match request {
        Request::Status => return Ok(Outcome::Status(engine.status(&targets, now).await?)),
        Request::Run { command, dry_run } => (command, dry_run),
    };
    let report = engine.run(command, &targets, now, dry_run).await?;
    tracing::info!(
        command = %report.command,
        exit_code = report.exit_code(),
        "run finished"
    );
    if config.notify.enabled() {
        // Logged inside; a failed notification never changes the outcome or exit code.
        match Notifiers::from_settings(&config.notify, clients.sdk) {
            Ok(n) => {
                let d = n.deliver(&report, &config.notify).await;
                tracing::info!(sent = d.sent, failed = d.failed, "notifications");
            }
            Err(e) => tracing::warn!(error = %e, "notifications not set up"),
        }
    }
    Ok(Outcome::Run(report))
}
