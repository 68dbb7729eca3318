//! One run of a command, as the CLI and the Lambda function both do it: select the targets,
//! log in to SORACOM, observe, plan and (unless it is a dry run) apply, or report the
//! status; then notify. Each binary only adds where its inputs come from (arguments and a
//! profile; an event, a secret and a parameter) and how the outcome leaves (text or JSON
//! and an exit code; a response or a Lambda error).

use aws_config::SdkConfig;
use time::OffsetDateTime;

use crate::apply::{Command, Engine, Progress};
use crate::config::{Config, Target};
use crate::error::Error;
use crate::iam::IamApi;
use crate::model::KeyStatus;
use crate::notify::{self, Notifiers};
use crate::report::RunReport;
use crate::secret::AccessKeyId;
use crate::soracom::{AuthKey, Endpoint, SoracomClient};
use crate::status::StatusReport;

/// What to run.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// An emergency rotation (`rotate --emergency`; an AWS Health
    /// `AWS_RISK_CREDENTIALS_EXPOSED` event): with `keys`, of every target whose IAM user
    /// holds one of them active; without, of the current key of every target selected.
    Emergency {
        /// The exposed keys (none: the current key).
        keys: Vec<AccessKeyId>,
        /// Show the plan, change nothing.
        dry_run: bool,
    },
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
    /// An exposed key that no target's IAM user holds: a human must deal with it.
    #[error(
        "exposed access key(s) {} belong to no target's IAM user: nothing was rotated; \
         deactivate them by hand",
        .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    NotOurs(Vec<AccessKeyId>),
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
    let report = match request {
        Request::Status => return Ok(Outcome::Status(engine.status(&targets, now).await?)),
        Request::Run {
            command: Command::Emergency,
            dry_run,
        } => engine.emergency(&targets, &[], now, dry_run).await?,
        Request::Run { command, dry_run } => engine.run(command, &targets, now, dry_run).await?,
        Request::Emergency { keys, dry_run } if keys.is_empty() => {
            engine.emergency(&targets, &[], now, dry_run).await?
        }
        Request::Emergency { keys, dry_run } => {
            let (hit, known) = holders(clients.iam, &targets, &keys).await?;
            if known.is_empty() {
                return Err(InvokeError::NotOurs(keys));
            }
            // A key already inactive everywhere needs nothing more (a repeated event).
            tracing::warn!(targets = ?hit.iter().map(|t| &t.name).collect::<Vec<_>>(), "exposed key: emergency rotation");
            engine.emergency(&hit, &keys, now, dry_run).await?
        }
    };
    tracing::info!(
        command = %report.command,
        exit_code = report.exit_code(),
        "run finished"
    );
    if config.notify.enabled() {
        // Logged inside; a failed notification never changes the outcome or exit code.
        match Notifiers::from_settings(&config.notify, clients.sdk) {
            Ok(n) => tell(&n, &report, config, clients.iam).await,
            Err(e) => tracing::warn!(error = %e, "notifications not set up"),
        }
    }
    Ok(Outcome::Run(report))
}

/// `migrate-to-role` for the target named `target`, as both binaries run it: check that
/// the configuration has what the role needs (before logging in), log in, then
/// [`crate::migrate::migrate_to_role`]. A configuration error is
/// `InvokeError::Failed(Error::Config(_))`.
pub async fn migrate<I: IamApi>(
    config: &Config,
    target: &str,
    dry_run: bool,
    clients: Clients<'_, I>,
) -> Result<crate::migrate::MigrationReport, InvokeError> {
    let targets = config
        .select(Some(target))
        .map_err(InvokeError::NoSuchTarget)?;
    let Some(target) = targets.first() else {
        return Err(InvokeError::NoSuchTarget(format!(
            "no target named {target:?}"
        )));
    };
    config.role_of(target).map_err(Error::Config)?;
    let soracom = SoracomClient::new(clients.endpoint, clients.key, config.soracom.clone())?;
    soracom.login().await?;
    let report =
        crate::migrate::migrate_to_role(clients.iam, &soracom, config, target, dry_run).await?;
    tracing::info!(target_name = %report.target, exit_code = report.exit_code(), "migrate-to-role finished");
    Ok(report)
}

/// The targets whose IAM user holds one of `keys` active, and those that hold one at all.
async fn holders<'t, I: IamApi>(
    iam: &I,
    targets: &[&'t Target],
    keys: &[AccessKeyId],
) -> Result<(Vec<&'t Target>, Vec<&'t Target>), Error> {
    let mut hit = Vec::new();
    let mut known = Vec::new();
    for t in targets {
        let held = iam.key_statuses(&t.iam_user).await?;
        let mine: Vec<&(AccessKeyId, KeyStatus)> =
            held.iter().filter(|(k, _)| keys.contains(k)).collect();
        if !mine.is_empty() {
            known.push(*t);
        }
        if mine.iter().any(|(_, s)| *s == KeyStatus::Active) {
            hit.push(*t);
        }
    }
    Ok((hit, known))
}

/// Sends the ladder's messages, then (unless the run was dry) has each target's IAM user
/// remember what was told, so the next run does not tell it again. A record that cannot be
/// written is logged: the worst it does is one message more.
async fn tell<I: IamApi>(n: &Notifiers, report: &RunReport, config: &Config, iam: &I) {
    let notices = notify::notices(report, &config.notify);
    let (d, told) = n.deliver(&notices).await;
    tracing::info!(sent = d.sent, failed = d.failed, "notifications");
    if report.dry_run {
        return;
    }
    for t in &report.targets {
        let delivered: Vec<&notify::Notice> = notices
            .iter()
            .zip(&told)
            .filter(|(n, ok)| **ok && n.target == t.target)
            .map(|(n, _)| n)
            .collect();
        for (key, value) in notify::remember(report, t, &config.notify, &delivered) {
            let written = match &value {
                Some(v) => iam.tag(&t.iam_user, &key, v).await,
                None => iam.untag(&t.iam_user, std::slice::from_ref(&key)).await,
            };
            if let Err(e) = written {
                tracing::warn!(target_name = %t.target, error = %e, "could not record what was told");
            }
        }
    }
}
