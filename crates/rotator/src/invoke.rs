//! One run of a command, as the CLI and the Lambda function both do it: select the targets,
//! log in to SORACOM, observe, plan and (unless it is a dry run) apply, or report the
//! status; then notify. Each binary only adds where its inputs come from (arguments and a
//! profile; an event, a secret and a parameter) and how the outcome leaves (text or JSON
//! and an exit code; a response or a Lambda error).

use time::OffsetDateTime;

use crate::apply::{unplanned, Command, Engine, Progress};
use crate::config::{AssumeRole, Config, SoracomOverride, Target};
use crate::error::Error;
use crate::iam::IamApi;
use crate::model::KeyStatus;
use crate::notify::Deliver;
use crate::report::RunReport;
use crate::secret::AccessKeyId;
use crate::soracom::{AuthKey, Dial, Endpoint, SoracomClient};
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

/// Where each SORACOM operator's endpoint and AuthKey come from; the binaries differ
/// (environment and profiles; Secrets Manager and the Lambda's endpoint allowlist).
pub trait SoracomAccess: Send + Sync {
    /// The endpoint and AuthKey for targets with `over` (the default override: the run's
    /// own). An override's endpoint obeys the same rules as the run's own.
    fn credentials(
        &self,
        over: &SoracomOverride,
    ) -> impl std::future::Future<Output = Result<(Endpoint, AuthKey), Error>> + Send;
}

/// The clients a run needs, built by the binary.
pub struct Clients<'a, I, A, D> {
    /// IAM and STS of the caller's own account (targets with `assume_role_arn` get a
    /// client of their own from it).
    pub iam: &'a I,
    /// Each SORACOM operator's endpoint and AuthKey.
    pub soracom: &'a A,
    /// How SORACOM is reached (HTTP, or in memory in tests).
    pub dial: &'a D,
    /// Where notices go.
    pub notify: &'a dyn Deliver,
    /// Where repointing progress goes.
    pub progress: &'a dyn Progress,
    /// The time, and every wait.
    pub clock: &'a dyn crate::clock::Clock,
    /// Run ids and random bytes.
    pub ids: &'a dyn crate::ids::Ids,
}

/// Targets that share an AWS account (the caller's, or one role) and a SORACOM operator:
/// one IAM client, one SORACOM login and one observation serve them.
struct Group<'t> {
    account: Option<&'t AssumeRole>,
    soracom: &'t SoracomOverride,
    targets: Vec<&'t Target>,
}

/// `targets` grouped by account and operator, in the order their first target comes.
fn groups<'t>(targets: &[&'t Target]) -> Vec<Group<'t>> {
    let mut out: Vec<Group<'t>> = Vec::new();
    for t in targets {
        match out
            .iter_mut()
            .find(|g| g.account == t.account.as_ref() && *g.soracom == t.soracom)
        {
            Some(g) => g.targets.push(t),
            None => out.push(Group {
                account: t.account.as_ref(),
                soracom: &t.soracom,
                targets: vec![t],
            }),
        }
    }
    out
}

/// A group's IAM port: the caller's own, or one acting as the group's role.
enum Account<'a, I> {
    Own(&'a I),
    Assumed(I),
}

impl<I> Account<'_, I> {
    fn get(&self) -> &I {
        match self {
            Account::Own(i) => i,
            Account::Assumed(i) => i,
        }
    }
}

/// A group's IAM port and logged-in SORACOM client, or why there is none (then each of
/// its targets fails with that error; the other groups run).
async fn connect<'a, I: IamApi, A: SoracomAccess, D: Dial>(
    config: &Config,
    group: &Group<'_>,
    clients: &Clients<'a, I, A, D>,
) -> Result<(Account<'a, I>, SoracomClient<D::Transport>, Endpoint), Error> {
    let iam = match group.account {
        None => Account::Own(clients.iam),
        Some(role) => Account::Assumed(clients.iam.assume(role).await?),
    };
    let (endpoint, key) = clients.soracom.credentials(group.soracom).await?;
    let soracom = clients.dial.dial(&endpoint, key, &config.soracom)?;
    soracom.login().await?;
    Ok((iam, soracom, endpoint))
}

/// Runs `request` for the target named `target` (all when `None`) at `now`. Targets are
/// run group by group (one AWS account and one SORACOM operator each); when there is more
/// than one group, a group that cannot be reached (its role not assumed, its login
/// refused) fails its own targets only.
pub async fn invoke<I: IamApi, A: SoracomAccess, D: Dial>(
    config: &Config,
    target: Option<&str>,
    request: Request,
    now: OffsetDateTime,
    clients: Clients<'_, I, A, D>,
) -> Result<Outcome, InvokeError> {
    let targets = config.select(target).map_err(InvokeError::NoSuchTarget)?;
    let groups = groups(&targets);
    let alone = groups.len() == 1;
    let mut runs: Vec<RunReport> = Vec::new();
    let mut statuses: Vec<StatusReport> = Vec::new();
    // Which IAM port each target's records are written with (the notification ladder).
    let mut accounts: Vec<Account<'_, I>> = Vec::new();
    let mut ports: Vec<(String, usize)> = Vec::new();
    let mut known_any = false;
    for group in &groups {
        let connected = match connect(config, group, &clients).await {
            Ok(c) => Ok(c),
            Err(e) if alone => return Err(e.into()),
            Err(e) => Err(e),
        };
        let (iam, soracom) = match connected {
            Ok((iam, soracom, _)) => (iam, soracom),
            Err(e) => {
                tracing::warn!(targets = ?group.targets.iter().map(|t| &t.name).collect::<Vec<_>>(), error = %e, "account or operator not reached");
                // Its targets may hold a named exposed key: the run cannot say none does.
                known_any = true;
                unreached(&request, group, &e, now, &mut runs, &mut statuses);
                continue;
            }
        };
        let engine = Engine {
            iam: iam.get(),
            soracom: &soracom,
            config,
            progress: clients.progress,
            clock: clients.clock,
            ids: clients.ids,
        };
        let ran = run_group(&engine, &request, &group.targets, now, &mut known_any).await;
        match ran {
            Ok(Some(Outcome::Run(r))) => runs.push(r),
            Ok(Some(Outcome::Status(s))) => statuses.push(s),
            Ok(None) => {}
            Err(e) if alone => return Err(e.into()),
            Err(e) => {
                known_any = true;
                unreached(&request, group, &e, now, &mut runs, &mut statuses);
            }
        }
        for t in &group.targets {
            ports.push((t.name.clone(), accounts.len()));
        }
        accounts.push(iam);
    }
    if request == Request::Status {
        return Ok(Outcome::Status(merge_statuses(statuses, now)));
    }
    if let Request::Emergency { keys, .. } = &request {
        if !keys.is_empty() && !known_any {
            return Err(InvokeError::NotOurs(keys.clone()));
        }
    }
    let report = merge(&request, runs, now);
    tracing::info!(
        command = %report.command,
        exit_code = report.exit_code(),
        "run finished"
    );
    if config.notify.enabled() {
        // Logged inside; a failed notification never changes the outcome or exit code.
        tell(clients.notify, &report, config, (&ports, &accounts)).await;
    }
    Ok(Outcome::Run(report))
}

/// One group's part of `request`; `None` when an emergency with named keys concerns none
/// of its targets. `known_any` is set when one of its targets holds a named key.
async fn run_group<I: IamApi, S: crate::soracom::SoracomApi>(
    engine: &Engine<'_, I, S>,
    request: &Request,
    targets: &[&Target],
    now: OffsetDateTime,
    known_any: &mut bool,
) -> Result<Option<Outcome>, Error> {
    let report = match request {
        Request::Status => return Ok(Some(Outcome::Status(engine.status(targets, now).await?))),
        Request::Run {
            command: Command::Emergency,
            dry_run,
        } => engine.emergency(targets, &[], now, *dry_run).await?,
        Request::Run { command, dry_run } => engine.run(*command, targets, now, *dry_run).await?,
        Request::Emergency { keys, dry_run } if keys.is_empty() => {
            engine.emergency(targets, &[], now, *dry_run).await?
        }
        Request::Emergency { keys, dry_run } => {
            let (hit, known) = holders(engine.iam, targets, keys).await?;
            if known.is_empty() {
                return Ok(None);
            }
            *known_any = true;
            // A key already inactive everywhere needs nothing more (a repeated event).
            tracing::warn!(targets = ?hit.iter().map(|t| &t.name).collect::<Vec<_>>(), "exposed key: emergency rotation");
            engine.emergency(&hit, keys, now, *dry_run).await?
        }
    };
    Ok(Some(Outcome::Run(report)))
}

/// The command name and dry-run flag `request` reports with.
fn shape(request: &Request) -> (Command, bool) {
    match request {
        Request::Run { command, dry_run } => (*command, *dry_run || *command == Command::Plan),
        Request::Emergency { dry_run, .. } => (Command::Emergency, *dry_run),
        Request::Status => (Command::Plan, true),
    }
}

/// A group that could not be reached or observed: for status, each target is an error;
/// for a command, each target failed and nothing was changed.
fn unreached(
    request: &Request,
    group: &Group<'_>,
    e: &Error,
    now: OffsetDateTime,
    runs: &mut Vec<RunReport>,
    statuses: &mut Vec<StatusReport>,
) {
    if *request == Request::Status {
        statuses.push(StatusReport {
            now,
            targets: Vec::new(),
            errors: group
                .targets
                .iter()
                .map(|t| crate::status::TargetError {
                    target: t.name.clone(),
                    error: e.to_string(),
                })
                .collect(),
        });
        return;
    }
    let (command, dry_run) = shape(request);
    runs.push(RunReport {
        command: command.name().into(),
        now,
        dry_run,
        targets: group
            .targets
            .iter()
            .map(|t| {
                unplanned(
                    t,
                    format!("reaching or observing its AWS account and SORACOM operator: {e}"),
                    "nothing was changed; fix the cause and run again",
                    Default::default(),
                )
            })
            .collect(),
    });
}

/// The groups' reports as one, targets in the order they ran.
fn merge(request: &Request, runs: Vec<RunReport>, now: OffsetDateTime) -> RunReport {
    let (command, dry_run) = shape(request);
    let mut all = RunReport {
        command: command.name().into(),
        now,
        dry_run,
        targets: Vec::new(),
    };
    for r in runs {
        all.command = r.command;
        all.dry_run = r.dry_run;
        all.targets.extend(r.targets);
    }
    all
}

/// The status of every group's targets, as one report.
fn merge_statuses(statuses: Vec<StatusReport>, now: OffsetDateTime) -> StatusReport {
    let mut all = StatusReport {
        now,
        targets: Vec::new(),
        errors: Vec::new(),
    };
    for s in statuses {
        all.targets.extend(s.targets);
        all.errors.extend(s.errors);
    }
    all
}

/// `migrate-to-role` for the target named `target`, as both binaries run it: check that
/// the configuration has what the role needs (before logging in), log in, then
/// `crate::migrate::migrate_to_role`. A configuration error is
/// `InvokeError::Failed(Error::Config(_))`.
pub async fn migrate<I: IamApi, A: SoracomAccess, D: Dial>(
    config: &Config,
    target: &str,
    dry_run: bool,
    clients: Clients<'_, I, A, D>,
) -> Result<rotator_core::migration::MigrationReport, InvokeError> {
    let targets = config
        .select(Some(target))
        .map_err(InvokeError::NoSuchTarget)?;
    let Some(target) = targets.first() else {
        return Err(InvokeError::NoSuchTarget(format!(
            "no target named {target:?}"
        )));
    };
    let group = Group {
        account: target.account.as_ref(),
        soracom: &target.soracom,
        targets: vec![target],
    };
    let (iam, soracom, endpoint) = connect(config, &group, &clients).await?;
    // The role trusts the account of the coverage whose API the run reached.
    let settings = config
        .role_of(target, Some(&endpoint.0))
        .map_err(Error::Config)?;
    let report = crate::migrate::migrate_to_role(
        iam.get(),
        &soracom,
        (target, &settings),
        dry_run,
        clients.ids,
    )
    .await?;
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
async fn tell<I: IamApi>(
    n: &dyn Deliver,
    report: &RunReport,
    config: &Config,
    (ports, accounts): (&[(String, usize)], &[Account<'_, I>]),
) {
    let notices = rotator_core::notify::notices(report, &config.notify);
    let (d, told) = n.deliver(&config.notify, &notices).await;
    tracing::info!(sent = d.sent, failed = d.failed, "notifications");
    if report.dry_run {
        return;
    }
    for t in &report.targets {
        let delivered: Vec<&rotator_core::notify::Notice> = notices
            .iter()
            .zip(&told)
            .filter(|(n, ok)| **ok && n.target == t.target)
            .map(|(n, _)| n)
            .collect();
        let port = ports
            .iter()
            .find(|(n, _)| *n == t.target)
            .and_then(|(_, i)| accounts.get(*i));
        let Some(iam) = port.map(Account::get) else {
            continue;
        };
        for (key, value) in rotator_core::notify::remember(report, t, &config.notify, &delivered) {
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
