//! Carrying plans out: the workflow of one run, and one method per phase.
//!
//! [`Engine::run`] observes first ([`crate::observe`]), plans each target with the pure
//! [`crate::plan::plan`], and — unless it is a dry run — carries the plan out in its
//! phases: [`repair`] (orphans, room, the new key: created, recorded as the tool's and in
//! flight, verified, registered), [`cutover`] (the references: the first alone, then with
//! bounded concurrency; the key checked right before the first move and after the last)
//! and [`retire`] (records, deactivations, deletions). Every decision between two remote
//! calls is a pure function of [`rotator_core::execution`]: the executor only carries out
//! and reports ([`run::TargetRun`]). Every destructive step is taken only if a plan from a
//! fresh observation still calls for it.

mod cutover;
mod keys;
mod recheck;
mod repair;
mod retire;
mod run;

use rotator_core::execution::{dry_ending, emergency_keys};
use time::OffsetDateTime;

use crate::clock::{Clock, RunClock};
use crate::config::{Config, Target};
use crate::error::Result;
use crate::iam::IamApi;
use crate::ids::Ids;
use crate::model::Observed;
use crate::observe::Observer;
use crate::plan::{plan, Mode, Plan};
use crate::records::{lease_tag, mark_tag, Mark, Notified, Records};
use crate::report::{Moves, Outcome, RunReport, TargetReport};
use crate::secret::AccessKeyId;
use crate::soracom::SoracomApi;
use crate::status::{status, StatusReport, TargetError};

use self::keys::Rotated;
use self::run::{Stop, TargetRun};

/// Progress of long steps (repointing); the CLI draws a bar on a terminal.
pub trait Progress: Send + Sync {
    /// A step of `total` units begins.
    fn start(&self, label: &str, total: u64);
    /// One unit is done.
    fn advance(&self);
    /// The step ended.
    fn finish(&self);
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self) {}
    fn finish(&self) {}
}

/// The command being run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Show what reconcile would do; change nothing.
    Plan,
    /// Do what is due: repair, rotate if due, retire if due.
    Reconcile,
    /// Rotate now even if not due.
    Rotate,
    /// Only the retire steps that are due.
    Retire,
    /// Point every reference back to the previous set and deactivate the new key.
    Rollback,
    /// An exposed key: rotate now and deactivate the old key once the cutover is done.
    Emergency,
}

impl Command {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Command::Plan => "plan",
            Command::Reconcile => "reconcile",
            Command::Rotate => "rotate",
            Command::Retire => "retire",
            Command::Rollback => "rollback",
            Command::Emergency => "rotate --emergency",
        }
    }

    fn mode(self) -> Mode {
        match self {
            Command::Plan | Command::Reconcile => Mode::Reconcile,
            Command::Rotate => Mode::Rotate,
            Command::Retire => Mode::Retire,
            Command::Rollback => Mode::Rollback,
            Command::Emergency => Mode::Emergency,
        }
    }
}

/// The workflow over the two ports.
pub(crate) struct Engine<'a, I, S> {
    /// IAM and STS.
    pub(crate) iam: &'a I,
    /// SORACOM.
    pub(crate) soracom: &'a S,
    /// Validated configuration.
    pub(crate) config: &'a Config,
    /// Where repointing progress goes.
    pub(crate) progress: &'a dyn Progress,
    /// The time, and every wait.
    pub(crate) clock: &'a dyn Clock,
    /// Run ids and random bytes.
    pub(crate) ids: &'a dyn Ids,
}

/// The report of a target that failed before it could be planned: nothing was changed.
pub(crate) fn unplanned(
    target: &Target,
    error: String,
    next: &str,
    notified: Notified,
) -> TargetReport {
    TargetReport {
        target: target.name.clone(),
        iam_user: target.iam_user.clone(),
        outcome: Outcome::Failed,
        plan: None,
        steps: Vec::new(),
        references: Moves::default(),
        error: Some(error),
        next: Some(next.into()),
        changes: Vec::new(),
        notified,
    }
}

/// The report of a dry run of `plan`: what would be done, nothing done.
fn dry_report(target: &Target, plan: Plan) -> TargetReport {
    let end = dry_ending(&plan);
    TargetReport {
        target: target.name.clone(),
        iam_user: target.iam_user.clone(),
        outcome: end.outcome,
        references: Moves {
            total: plan.cutover.len(),
            moved: 0,
        },
        plan: Some(plan),
        steps: Vec::new(),
        error: end.error,
        next: end.next,
        changes: Vec::new(),
        notified: Default::default(),
    }
}

impl<I: IamApi, S: SoracomApi> Engine<'_, I, S> {
    /// What this engine observes with.
    fn observer(&self) -> Observer<'_, I, S> {
        Observer {
            iam: self.iam,
            soracom: self.soracom,
            page_size: self.config.soracom.page_size,
        }
    }

    /// The status of `targets` at `now`; changes nothing.
    pub(crate) async fn status(
        &self,
        targets: &[&Target],
        now: OffsetDateTime,
    ) -> Result<StatusReport> {
        let observed = self.observer().observe(targets).await?;
        let mut report = StatusReport {
            now,
            targets: Vec::new(),
            errors: Vec::new(),
        };
        for (target, obs) in targets.iter().zip(observed) {
            match obs {
                Ok(obs) => report.targets.push(status(target, &obs, now)),
                Err(e) => report.errors.push(TargetError {
                    target: target.name.clone(),
                    error: e.to_string(),
                }),
            }
        }
        Ok(report)
    }

    /// Runs `command` for `targets` at `now`. `dry_run` forbids every write.
    pub(crate) async fn run(
        &self,
        command: Command,
        targets: &[&Target],
        now: OffsetDateTime,
        dry_run: bool,
    ) -> Result<RunReport> {
        self.run_exposing(command, targets, &[], now, dry_run).await
    }

    /// An emergency rotation of `targets` at `now`: each target's exposed keys (which
    /// ones: [`emergency_keys`]) are recorded as exposed on the IAM user first, so that a
    /// rerun after a failure finishes the same emergency; then the target is planned in
    /// [`Mode::Emergency`].
    pub(crate) async fn emergency(
        &self,
        targets: &[&Target],
        exposed: &[AccessKeyId],
        now: OffsetDateTime,
        dry_run: bool,
    ) -> Result<RunReport> {
        self.run_exposing(Command::Emergency, targets, exposed, now, dry_run)
            .await
    }

    /// What the notification ladder told about a target whose observation failed (nothing,
    /// when the user's tags cannot be read either).
    async fn notified(&self, user: &str) -> Notified {
        match self.iam.tags(user).await {
            Ok(tags) => Records::parse(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))).notified,
            Err(e) => {
                tracing::warn!(error = %e, "reading what was told failed");
                Default::default()
            }
        }
    }

    /// Records the exposure of an emergency on the target's IAM user (unless `dry_run`)
    /// and in `obs`.
    async fn expose(
        &self,
        target: &Target,
        obs: &mut Observed,
        exposed: &[AccessKeyId],
        now: OffsetDateTime,
        dry_run: bool,
    ) -> Result<()> {
        for k in emergency_keys(target, obs, exposed, now) {
            if !dry_run {
                let (tag, value) = mark_tag(Mark::Exposed, &k, now);
                self.iam.tag(&target.iam_user, &tag, &value).await?;
                tracing::warn!(target = %target.name, key = %k, "recorded the key as exposed");
            }
            obs.records.exposed.insert(k, now);
        }
        Ok(())
    }

    async fn run_exposing(
        &self,
        command: Command,
        targets: &[&Target],
        exposed: &[AccessKeyId],
        now: OffsetDateTime,
        dry_run: bool,
    ) -> Result<RunReport> {
        let dry_run = dry_run || command == Command::Plan;
        // The run's clock: `now` when it started, moving with the wall clock from there, so
        // that what it records is never dated before it happened.
        let clock = RunClock::new(self.clock, now);
        // SORACOM's side is shared: when it fails, every target failed, and each is reported
        // (and told, once a day) like any other failure.
        let observed: Vec<std::result::Result<Observed, String>> =
            match self.observer().observe(targets).await {
                Ok(each) => each
                    .into_iter()
                    .map(|o| o.map_err(|e| e.to_string()))
                    .collect(),
                Err(e) => {
                    let e = e.to_string();
                    targets.iter().map(|_| Err(e.clone())).collect()
                }
            };
        let mut reports = Vec::with_capacity(targets.len());
        for (target, obs) in targets.iter().zip(observed) {
            let report = match obs {
                // What was told is read on its own, so that an outage of SORACOM is told once
                // a day, not on every run.
                Err(e) => unplanned(
                    target,
                    format!("observing: {e}"),
                    "nothing was changed; fix the cause and run again",
                    self.notified(&target.iam_user).await,
                ),
                Ok(obs) => {
                    self.target_run(command, target, obs, (exposed, clock, dry_run))
                        .await
                }
            };
            reports.push(report);
        }
        Ok(RunReport {
            command: command.name().into(),
            now,
            dry_run,
            targets: reports,
        })
    }

    /// One observed target's part of a run: the exposure recorded (an emergency), the plan,
    /// and — unless `dry_run` — its phases.
    async fn target_run(
        &self,
        command: Command,
        target: &Target,
        mut obs: Observed,
        (exposed, clock, dry_run): (&[AccessKeyId], RunClock<'_>, bool),
    ) -> TargetReport {
        let now = clock.start();
        if command == Command::Emergency {
            if let Err(e) = self.expose(target, &mut obs, exposed, now, dry_run).await {
                return unplanned(
                    target,
                    format!("recording the exposed key: {e}"),
                    "nothing was changed; run the emergency rotation again",
                    obs.records.notified.clone(),
                );
            }
        }
        let p = plan(target, &obs, now, command.mode());
        let notified = obs.records.notified.clone();
        let mut report = if dry_run {
            dry_report(target, p)
        } else {
            let run = TargetRun::new(target, &obs, p, clock, command.mode());
            self.execute(run).await
        };
        report.notified = notified;
        report
    }

    /// Carries out one target's plan, phase by phase: repair (and the new key), a rollback's
    /// lease, the cutover, retirement. A failure stops the run (the next one resumes);
    /// retiring comes last so that a failed cutover never loses the old key.
    #[tracing::instrument(name = "target", skip_all, fields(target = %run.target.name))]
    async fn execute(&self, mut run: TargetRun<'_>) -> TargetReport {
        let rotated = match self.repair(&mut run).await {
            Ok(r) => r,
            Err(stop) => return run.stopped(stop),
        };
        let lease = match self.lease(&mut run, rotated.as_ref()).await {
            Ok(l) => l,
            Err(stop) => return run.stopped(stop),
        };
        let done = match self.cutover(&mut run, rotated.as_ref()).await {
            Ok(()) => self.retire(&mut run, lease.as_deref()).await,
            Err(stop) => Err(stop),
        };
        let mut report = match done {
            Ok(()) => run.finished(),
            Err(stop) => run.stopped(stop),
        };
        if let Some(k) = lease {
            self.release_lease(&run_user(&report), &k, &mut report)
                .await;
        }
        report
    }

    /// The run's lease, taken before the cutover and held to the end: a rollback's while it
    /// moves references back and deactivates the key (exclusive: any other run at work makes
    /// it step back); and the lease of a run that moves references onto a key it did not
    /// make (a canary, a resumed cutover), so that a rollback or a retirement cannot
    /// deactivate that key between its re-check and the move (found by the simulator, seed
    /// 3653; docs/ARCHITECTURE.md, invariants 1 and 3). A run that made its key needs none: its
    /// key in flight keeps a rollback off. Without one, the retire phase leases for itself.
    async fn lease(
        &self,
        run: &mut TargetRun<'_>,
        rotated: Option<&Rotated>,
    ) -> std::result::Result<Option<String>, Stop> {
        let (what, exclusive) = if run.mode == Mode::Rollback && !run.plan.is_empty() {
            ("leasing the target for the rollback", true)
        } else if rotated.is_none() && !run.plan.cutover.is_empty() {
            ("leasing the target to move references", false)
        } else {
            return Ok(None);
        };
        let next = "no reference was moved and nothing retired; run again later";
        self.lease_for(run, (what, next), exclusive).await.map(Some)
    }

    /// Leases the target for this run (`what` the run is about to do, and what an operator
    /// does `next` if it cannot); `exclusive`: any other run at work makes it step back,
    /// not only another lease. Its lease's tag key, or a stop when it must step back or the
    /// lease cannot be written.
    async fn lease_for(
        &self,
        run: &TargetRun<'_>,
        (what, next): (&str, &str),
        exclusive: bool,
    ) -> std::result::Result<String, Stop> {
        let keys: Vec<AccessKeyId> = run.obs.keys.iter().map(|k| k.id.clone()).collect();
        let id = self.ids.run_id(run.clock.start().unix_timestamp());
        let (k, v) = lease_tag(&id, run.clock.now());
        let user = run.target.iam_user.clone();
        let keys = exclusive.then_some(keys.as_slice());
        match self.claim(&user, (&k, &v), keys, run.clock.now()).await {
            Ok(true) => Ok(k),
            Ok(false) => Err(Stop::busy(what, next)),
            Err(e) => Err(Stop::failed(what, e, next)),
        }
    }

    /// Removes this run's lease; a failure fails the run, as any failed call does (other
    /// runs wait for the lease to lapse).
    async fn release_lease(&self, user: &str, key: &str, report: &mut TargetReport) {
        if let Err(e) = self.iam.untag(user, &[key.to_string()]).await {
            report.steps.push(crate::report::Step {
                what: format!("removing this run's lease from the IAM user: {e}"),
                ok: false,
            });
            report.outcome = Outcome::Failed;
            // An earlier failure stays the run's error; this one is in its steps.
            if report.error.is_none() {
                report.error = Some(format!("removing this run's lease failed: {e}"));
            }
        }
    }
}

/// The IAM user a report is about.
fn run_user(report: &TargetReport) -> String {
    report.iam_user.clone()
}
