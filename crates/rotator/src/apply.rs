//! Carrying plans out: the workflow of one run and the executor of each phase.
//!
//! [`Engine::run`] observes first ([`crate::observe`]), plans each target with the pure
//! [`crate::plan::plan`], and — unless it is a dry run — executes the plan in its three
//! phases, each matched exhaustively: [`Repair`] (orphans, room, the new key: created,
//! recorded as the tool's and in flight, verified, registered), the cutover ([`Repoint`]:
//! the first reference alone, then bounded concurrency; the key checked right before the
//! first move and after the last), and [`Retire`] (records, deactivations, deletions).
//! Every destructive step is taken only if a plan from a fresh observation still calls
//! for it. If the first reference write is definitely rejected (a 4xx answer), the new set
//! and key are deleted; any other failure after registration leaves them for the next run
//! to resume from.

use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use serde_json::Value;
use time::OffsetDateTime;

use crate::clock::{Clock, RunClock};
use crate::config::{Config, Target};
use crate::error::{Error, Result};
use crate::iam::IamApi;
use crate::ids::Ids;
use crate::model::{in_place_description, link_description, Holder, KeyStatus, Observed, Slot};
use crate::observe::Observer;
use crate::plan::{plan, Mode, Plan, Repair, Repoint, Retire, Step};
use crate::records::{
    creating_key, creating_tag, key_tag, lease_key, lease_tag, mark_tag, role_tag, tags_of,
    KeyRecord, Mark, Records,
};
use crate::refs::{points_to, rewrite};
use crate::report::{describe, Change, Moves, Outcome, RunReport, Step as DoneStep, TargetReport};
use crate::secret::{AccessKeyId, NewAccessKey};
use crate::soracom::SoracomApi;
use crate::status::{status, StatusReport, TargetError};
use crate::wording::Words;

/// How long after creating a key a run may still write it into SORACOM: well within
/// [`crate::plan::IN_FLIGHT_LIMIT`], after which another run may take it for an orphan.
const WRITE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(105 * 60);
/// Attempts to create the credential set (each after listing to see whether it exists).
const CREATE_ATTEMPTS: u32 = 3;

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
pub struct Engine<'a, I, S> {
    /// IAM and STS.
    pub iam: &'a I,
    /// SORACOM.
    pub soracom: &'a S,
    /// Validated configuration.
    pub config: &'a Config,
    /// Where repointing progress goes.
    pub progress: &'a dyn Progress,
    /// The time, and every wait.
    pub clock: &'a dyn Clock,
    /// Run ids and random bytes.
    pub ids: &'a dyn Ids,
}

/// The report of a target that failed before it could be planned: nothing was changed.
pub(crate) fn unplanned(
    target: &Target,
    error: String,
    next: &str,
    notified: crate::records::Notified,
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
    pub async fn status(&self, targets: &[&Target], now: OffsetDateTime) -> Result<StatusReport> {
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
    pub async fn run(
        &self,
        command: Command,
        targets: &[&Target],
        now: OffsetDateTime,
        dry_run: bool,
    ) -> Result<RunReport> {
        self.run_exposing(command, targets, &[], now, dry_run).await
    }

    /// An emergency rotation of `targets` at `now`: each target's exposed keys — those of
    /// `exposed` its IAM user holds active; when `exposed` is empty, its current key, unless
    /// an exposure is already recorded on the user (then this run finishes that emergency)
    /// — are recorded as exposed on the IAM user first, so that a rerun after a failure
    /// finishes the same emergency; then the target is planned in [`Mode::Emergency`].
    pub async fn emergency(
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
    async fn notified(&self, user: &str) -> crate::records::Notified {
        match self.iam.tags(user).await {
            Ok(tags) => Records::parse(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))).notified,
            Err(e) => {
                tracing::warn!(error = %e, "reading what was told failed");
                Default::default()
            }
        }
    }

    /// Records the exposure of an emergency on the target's IAM user (unless `dry_run`)
    /// and in `obs`. Without named keys, the current key is recorded unless an emergency is
    /// still to finish: a recorded exposed key of the target's sets still active, or one
    /// recorded less than [`EMERGENCY_RERUN`](crate::plan::EMERGENCY_RERUN) ago (a rerun of
    /// the same emergency never makes a second key).
    async fn expose(
        &self,
        target: &Target,
        obs: &mut Observed,
        exposed: &[AccessKeyId],
        now: OffsetDateTime,
        dry_run: bool,
    ) -> Result<()> {
        let active = |k: &AccessKeyId| {
            obs.keys
                .iter()
                .any(|x| &x.id == k && x.status == KeyStatus::Active)
        };
        let keys: Vec<AccessKeyId> = if exposed.is_empty() {
            let view = crate::plan::resolve(target, obs, now);
            let unfinished = obs.records.exposed.iter().any(|(k, since)| {
                (active(k) && crate::plan::holds(&view, k))
                    || now < since.saturating_add(crate::plan::EMERGENCY_RERUN)
            });
            if unfinished {
                Vec::new()
            } else {
                view.current_set()
                    .and_then(|c| c.link.key())
                    .filter(|k| active(k))
                    .cloned()
                    .into_iter()
                    .collect()
            }
        } else {
            exposed.iter().filter(|k| active(k)).cloned().collect()
        };
        for k in keys {
            if obs.records.exposed.contains_key(&k) {
                continue;
            }
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
                Ok(mut obs) => {
                    if command == Command::Emergency {
                        if let Err(e) = self.expose(target, &mut obs, exposed, now, dry_run).await {
                            reports.push(unplanned(
                                target,
                                format!("recording the exposed key: {e}"),
                                "nothing was changed; run the emergency rotation again",
                                obs.records.notified.clone(),
                            ));
                            continue;
                        }
                    }
                    let p = plan(target, &obs, now, command.mode());
                    let mut report = if dry_run {
                        dry_report(target, p)
                    } else {
                        self.execute(target, &obs, p, clock, command.mode()).await
                    };
                    report.notified = obs.records.notified.clone();
                    report
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

    /// Carries out one target's plan in three phases: repair, make room and rotate;
    /// repoint; retire. A failure stops the run (the next one resumes); retiring comes last
    /// so that a failed cutover never loses the old key. Every destructive step is first
    /// checked against a fresh observation, and the key references move onto is checked
    /// right before the first move and after the last.
    #[tracing::instrument(name = "target", skip_all, fields(target = %target.name))]
    async fn execute(
        &self,
        target: &Target,
        obs: &Observed,
        plan: Plan,
        run_clock: RunClock<'_>,
        mode: Mode,
    ) -> TargetReport {
        // The run's own time: it started at `now` and moves with the wall clock.
        let now = run_clock.start();
        let clock = || run_clock.now();
        let mut run = TargetRun::new(target, &plan);
        let user = target.iam_user.as_str();
        let mut rotated: Option<(String, NewAccessKey)> = None;
        let fail = |mut run: TargetRun, what: String, e: Error, next: &str| {
            run.fail(what, &e);
            let outcome = if matches!(e, Error::Busy(_)) {
                Outcome::Refused
            } else {
                Outcome::Failed
            };
            run.finish(outcome, Some(e.to_string()), Some(next.to_string()))
        };

        let allowed = match self
            .recheck(target, &plan.repair, |p| &p.repair, now, mode, None)
            .await
        {
            Ok(a) => a,
            Err(e) => {
                return fail(
                    run,
                    "observing again before deleting a key".into(),
                    e,
                    "nothing was changed; the next run tries again",
                )
            }
        };
        for (action, allowed) in plan.repair.iter().zip(allowed) {
            if !allowed {
                run.skip(Step::Repair(action));
                continue;
            }
            let result = match action {
                Repair::DeleteOrphanKey { key } => match self.iam.delete_key(user, key).await {
                    Ok(()) => {
                        run.ok(format!("deleted access key {key}, left by a run that died (its secret was lost)"));
                        self.forget(user, key, &mut run).await
                    }
                    Err(e) => Err(e),
                },
                Repair::MakeRoom { key, set_id } => {
                    self.delete_retired(user, key, set_id.as_deref(), &mut run)
                        .await
                }
                Repair::Rotate { new_set_id } => {
                    match self.rotate(target, new_set_id, clock(), &mut run).await {
                        Ok(key) => {
                            rotated = Some((new_set_id.clone(), key));
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                }
                Repair::RotateInPlace { set_id, previous } => {
                    self.rotate_in_place(target, set_id, previous.as_ref(), clock(), &mut run)
                        .await
                }
                Repair::StartCanary { key } => {
                    let tag = mark_tag(Mark::Canary, key, clock());
                    self.record(user, tag, action, &mut run).await
                }
                Repair::FailCanary { key } => {
                    let tag = mark_tag(Mark::CanaryFailed, key, clock());
                    self.record(user, tag, action, &mut run).await
                }
                Repair::StartRoleCanary { kind } => {
                    let tag = role_tag(kind, false, clock());
                    self.record(user, tag, action, &mut run).await
                }
                Repair::RefuseRole { kind } => {
                    let tag = role_tag(kind, true, clock());
                    self.record(user, tag, action, &mut run).await
                }
            };
            if let Err(e) = result {
                return fail(
                    run,
                    action.words(),
                    e,
                    "state is safe: no reference was moved; the next reconcile starts over",
                );
            }
        }

        // A rollback leases the target while it moves references back and deactivates the
        // key: other runs leave it alone meanwhile.
        let lease = if mode == Mode::Rollback && !plan.is_empty() {
            let keys: Vec<AccessKeyId> = obs.keys.iter().map(|k| k.id.clone()).collect();
            let (k, v) = lease_tag(&self.ids.run_id(now.unix_timestamp()), clock());
            match self.claim(user, &k, &v, &keys, clock()).await {
                Ok(()) => Some(k),
                Err(e) => {
                    return fail(
                        run,
                        "leasing the target for the rollback".into(),
                        e,
                        "nothing was changed; run again later",
                    )
                }
            }
        } else {
            None
        };
        let mut report = async {
            let repoints: Vec<&Repoint> = plan.cutover.iter().collect();
            run.moves.total = repoints.len();
            let view = crate::plan::resolve(target, obs, now);
            let destination = repoints.first().map(|r| r.to.clone());
            // The key references move onto: the new one, or the one the destination set holds.
            let dest_key = match (&rotated, &destination) {
                (Some((_, k)), _) => Some(k.id.clone()),
                (None, Some(to)) => view
                    .sets
                    .iter()
                    .find(|s| &s.set.id == to)
                    .and_then(|s| s.link.key().cloned()),
                (None, None) => None,
            };
            if let (Some(to), Some(k)) = (&destination, &dest_key) {
                if let Err(e) = self.key_still_active(user, k).await {
                    if let Some((set_id, key)) = &rotated {
                        self.undo(target, set_id, key, &mut run).await;
                    }
                    return fail(
                        run,
                        format!("checking key {k} of {to} right before the first move"),
                        e,
                        "no reference was moved; the next reconcile starts over",
                    );
                }
            }
            let (moved, failure) = self
                .repoint_all(&repoints, rotated.is_some(), &mut run)
                .await;
            run.moves.moved = moved.len();
            // After the last move (or the one that failed): references that moved onto a key
            // that someone deleted or deactivated meanwhile go back where they came from.
            if let (Some(to), Some(k), false) = (&destination, &dest_key, moved.is_empty()) {
                match self.key_still_active(user, k).await {
                    Ok(()) => {}
                    Err(e @ Error::Unconfirmed(_)) => {
                        let back = self.move_back(user, &view, &moved, &mut run).await;
                        return fail(
                            run,
                            format!("checking key {k} of {to} after the last move"),
                            e,
                            &back,
                        );
                    }
                    Err(e) => {
                        // Not known either way: the references stay; the next run checks again.
                        self.hand_over(user, rotated.as_ref(), clock(), &mut run)
                            .await;
                        return fail(
                            run,
                            format!("checking key {k} of {to} after the last move"),
                            e,
                            "the next reconcile checks the key again and finishes the cutover",
                        );
                    }
                }
            }
            // A holder that refuses the role set with a 4xx stays on the key, for good: its
            // kind is recorded as refused and its canary ends (nothing moved onto the role).
            let failure = match failure {
                Some((a, e)) if a.to == target.role_set_id && e.rejects_the_value() => {
                    let kind = crate::plan::migrate::holder_kind(&a.slot.holder);
                    let tag = role_tag(&kind, true, clock());
                    match self.record(user, tag, &Refused(a), &mut run).await {
                        Ok(()) => {
                            let (canary, _) = role_tag(&kind, false, now);
                            match self.iam.untag(user, &[canary]).await {
                                Ok(()) => None,
                                Err(e) => Some((a, e)),
                            }
                        }
                        Err(e) => Some((a, e)),
                    }
                }
                other => other,
            };
            if let Some((a, e)) = failure {
                let what = a.words();
                if moved.is_empty() && e.is_definite_rejection() {
                    if let Some((set_id, key)) = &rotated {
                        self.undo(target, set_id, key, &mut run).await;
                        return fail(
                            run,
                            what,
                            e,
                            "no reference was moved; the new set and key were deleted; run again",
                        );
                    }
                }
                // The set holds the new key: the next run may resume the cutover at once.
                self.hand_over(user, rotated.as_ref(), clock(), &mut run)
                    .await;
                let next = format!(
                    "{} of {} references moved; the next reconcile resumes the cutover (no new key)",
                    moved.len(),
                    run.moves.total
                );
                return fail(run, what, e, &next);
            }
            // The cutover is done: from now on the set holds the key, and other runs may act.
            if let Some((set_id, key)) = &rotated {
                let held = KeyRecord::HeldBy {
                    set_id: set_id.clone(),
                    since: clock(),
                };
                if let Err(e) = self.record_key(user, &key.id, &held).await {
                    return fail(
                        run,
                        format!("recording that {set_id} holds access key {}", key.id),
                        e,
                        "every reference moved; the next run (in two hours at the latest) records the rest",
                    );
                }
                run.changes.push(Change::Rotated {
                    key: key.id.clone(),
                    set_id: set_id.clone(),
                    previous: plan.current.as_ref().and_then(|c| c.link.key().cloned()),
                });
            }

            let allowed = match self
                .recheck(target, &plan.retire, |p| &p.retire, now, mode, lease.as_deref())
                .await
            {
                Ok(a) => a,
                Err(e) => {
                    return fail(
                        run,
                        "observing again before retiring".into(),
                        e,
                        "nothing was retired; the next run tries again",
                    )
                }
            };
            for (action, allowed) in plan.retire.iter().zip(allowed) {
                if !allowed {
                    run.skip(Step::Retire(action));
                    continue;
                }
                let done = action.words();
                let result = match action {
                    Retire::Deactivate { key, set_id } => {
                        let exposed = mode == Mode::Emergency && obs.records.exposed.contains_key(key);
                        self.deactivate(user, (key, exposed), set_id, clock(), &mut run)
                            .await
                    }
                    Retire::DeleteRetired { key, set_id } => {
                        self.delete_retired(user, key, set_id.as_deref(), &mut run)
                            .await
                    }
                    Retire::Record { key, mark } => {
                        let tag = mark_tag(*mark, key, clock());
                        self.record(user, tag, action, &mut run).await
                    }
                    Retire::DropCanary { key, set_id } => {
                        self.drop_canary(user, key, set_id, &mut run).await
                    }
                    Retire::EndRoleCanary { kind } => {
                        let (k, _) = role_tag(kind, false, now);
                        self.iam
                            .untag(user, &[k])
                            .await
                            .map(|()| run.ok(done))
                    }
                    Retire::Unrecord { key, mark } => {
                        let (k, _) = mark_tag(*mark, key, now);
                        self.iam
                            .untag(user, &[k])
                            .await
                            .map(|()| run.ok(done))
                    }
                    Retire::MarkHeld { key, set_id } => {
                        let record = KeyRecord::HeldBy {
                            set_id: set_id.clone(),
                            since: clock(),
                        };
                        self.record_key(user, key, &record)
                            .await
                            .map(|()| run.ok(done))
                    }
                    Retire::DeleteSet { set_id, key } => {
                        self.delete_retired_set(user, key, set_id, &mut run).await
                    }
                    Retire::Forget { key } => self
                        .iam
                        .untag(user, &tags_of(key))
                        .await
                        .map(|()| run.ok(done)),
                    Retire::ForgetRun { tag } => self
                        .iam
                        .untag(user, std::slice::from_ref(tag))
                        .await
                        .map(|()| run.ok(done)),
                };
                if let Err(e) = result {
                    return fail(
                        run,
                        action.words(),
                        e,
                        "the next run retries this retire step",
                    );
                }
            }

            if plan.refused() {
                let reasons = refusals(&plan);
                return run.finish(
                    Outcome::Refused,
                    Some(reasons.join("\n")),
                    Some("a human must act; see the error".into()),
                );
            }
            if run.skipped > 0 {
                let skipped = run.skipped;
                return run.finish(
                    Outcome::Failed,
                    Some(format!(
                        "{skipped} step(s) were not taken: the state changed since this run observed it"
                    )),
                    Some("the next run decides again from what it sees".into()),
                );
            }
            if let Some(failed) = run.steps.iter().find(|s| !s.ok) {
                let what = failed.what.clone();
                return run.finish(
                    Outcome::Failed,
                    Some(format!("a step failed: {what}")),
                    Some("the state is safe; the next run finishes what is left".into()),
                );
            }
            let outcome = if run.steps.is_empty() {
                Outcome::NothingDue
            } else {
                Outcome::Done
            };
            let next = plan
                .upcoming
                .first()
                .map(|u| {
                    format!(
                        "next: {} from {}",
                        u.step.words(),
                        crate::plan::fmt_time(u.due)
                    )
                });
            run.finish(outcome, None, next)
        }
        .await;
        if let Some(k) = lease {
            if let Err(e) = self.iam.untag(user, std::slice::from_ref(&k)).await {
                report.steps.push(DoneStep {
                    what: format!("removing this run's lease from the IAM user: {e}"),
                    ok: false,
                });
                if report.outcome != Outcome::Refused {
                    report.outcome = Outcome::Failed;
                    report.error = Some(format!("removing this run's lease failed: {e}"));
                }
            }
        }
        report
    }

    /// The destructive steps among `actions` (deleting or deactivating a key, deleting a
    /// set) that a plan made from a fresh observation still calls for; every other step is
    /// allowed as it is. A deactivation is also dropped when the fresh plan would move
    /// references off that key's set (someone moved them onto it meanwhile).
    async fn recheck<T: Destructive>(
        &self,
        target: &Target,
        steps: &[T],
        phase: impl Fn(&Plan) -> &Vec<T>,
        now: OffsetDateTime,
        mode: Mode,
        own_lease: Option<&str>,
    ) -> Result<Vec<bool>> {
        if !steps.iter().any(Destructive::destructive) {
            return Ok(vec![true; steps.len()]);
        }
        let mut fresh = self.observer().observe_one(target).await?;
        // This run's own lease is not another run at work.
        fresh
            .records
            .leases
            .retain(|(run, _)| Some(lease_key(run).as_str()) != own_lease);
        let again = plan(target, &fresh, now, mode);
        let moving_off = |set: &str| {
            again
                .cutover
                .iter()
                .any(|r| r.from.iter().any(|f| f == set))
        };
        let still = phase(&again);
        Ok(steps
            .iter()
            .map(|s| {
                !s.destructive() || (still.contains(s) && !s.deactivates().is_some_and(&moving_off))
            })
            .collect())
    }

    /// A run that stops during its cutover records that the new set holds its key, so the
    /// next run may resume the cutover at once (a run that dies leaves the key in flight,
    /// and other runs wait out the limit).
    async fn hand_over(
        &self,
        user: &str,
        rotated: Option<&(String, NewAccessKey)>,
        at: OffsetDateTime,
        run: &mut TargetRun,
    ) {
        let Some((set_id, key)) = rotated else {
            return;
        };
        let held = KeyRecord::HeldBy {
            set_id: set_id.clone(),
            since: at,
        };
        if let Err(e) = self.record_key(user, &key.id, &held).await {
            run.fail(
                format!("recording that {set_id} holds access key {}", key.id),
                &e,
            );
        }
    }

    /// Fails unless `key` of the target's user exists and is active, as IAM says now
    /// (`Error::Unconfirmed` when it is not: gone or inactive; another error when IAM could
    /// not tell).
    async fn key_still_active(&self, user: &str, key: &AccessKeyId) -> Result<()> {
        let keys = self.iam.key_statuses(user).await?;
        match keys.iter().find(|(id, _)| id == key) {
            Some((_, KeyStatus::Active)) => Ok(()),
            Some(_) => Err(Error::Unconfirmed(format!(
                "access key {key} is no longer active (someone deactivated it)"
            ))),
            None => Err(Error::Unconfirmed(format!(
                "access key {key} no longer exists (someone deleted it)"
            ))),
        }
    }

    /// Moves the references `moved` back to the newest set each came from whose key is
    /// active now. Returns what to tell the operator.
    async fn move_back(
        &self,
        user: &str,
        view: &crate::plan::View,
        moved: &[&Repoint],
        run: &mut TargetRun,
    ) -> String {
        let active: Vec<AccessKeyId> = self
            .iam
            .key_statuses(user)
            .await
            .map(|ks| {
                ks.into_iter()
                    .filter(|(_, s)| *s == KeyStatus::Active)
                    .map(|(id, _)| id)
                    .collect()
            })
            .unwrap_or_default();
        let key_of = |set: &str| {
            view.sets
                .iter()
                .find(|s| s.set.id == set)
                .and_then(|s| s.link.key().cloned())
        };
        let (mut back, mut stuck) = (0, 0);
        for a in moved {
            let Repoint { slot, from, to } = a;
            // `view.sets` is oldest first: the newest usable set is the last one.
            let target_set =
                view.sets.iter().rev().map(|s| &s.set.id).find(|id| {
                    from.contains(id) && key_of(id).is_some_and(|k| active.contains(&k))
                });
            let Some(prev) = target_set else {
                stuck += 1;
                continue;
            };
            let value = from
                .iter()
                .fold(slot.value.clone(), |v, f| rewrite(&v, &slot.refs, f, to));
            let refs = slot
                .refs
                .iter()
                .map(|r| crate::model::Ref {
                    set_id: if from.contains(&r.set_id) {
                        to.clone()
                    } else {
                        r.set_id.clone()
                    },
                    ..r.clone()
                })
                .collect();
            let reverse = Repoint {
                slot: Slot {
                    holder: slot.holder.clone(),
                    value,
                    refs,
                },
                from: vec![to.clone()],
                to: prev.clone(),
            };
            match self.repoint_one(&reverse).await {
                Ok(()) => {
                    back += 1;
                    run.ok(format!("moved back: {}", reverse.words()));
                }
                Err(e) => {
                    stuck += 1;
                    run.fail(reverse.words(), &e);
                }
            }
        }
        format!(
            "{back} reference(s) moved back to the previous set; {stuck} could not be: \
             a human must check them now"
        )
    }
    /// Deactivates a retired key (`exposed`: by an emergency) and records when on the IAM
    /// user (for the delete delay).
    async fn deactivate(
        &self,
        user: &str,
        (key, exposed): (&AccessKeyId, bool),
        set_id: &str,
        at: OffsetDateTime,
        run: &mut TargetRun,
    ) -> Result<()> {
        self.iam
            .set_key_status(user, key, KeyStatus::Inactive)
            .await?;
        run.ok(format!("deactivated access key {key} of {set_id}"));
        run.changes.push(Change::Deactivated {
            key: key.clone(),
            set_id: set_id.to_string(),
            exposed,
        });
        // Without the record the next run records the time it first sees the key inactive,
        // so the delete delay is never cut short; still, the failure is the run's.
        let (k, v) = mark_tag(Mark::Deactivated, key, at);
        self.iam.tag(user, &k, &v).await
    }

    /// Writes one record (`tag`: key and value) on the IAM user; the step `what` is reported.
    async fn record(
        &self,
        user: &str,
        (k, v): (String, String),
        what: &impl Words,
        run: &mut TargetRun,
    ) -> Result<()> {
        self.iam.tag(user, &k, &v).await?;
        run.ok(what.words());
        Ok(())
    }

    /// Deletes a failed canary's new key, then its set, then the key's records: the canary
    /// has moved back, so nothing references either.
    async fn drop_canary(
        &self,
        user: &str,
        key: &AccessKeyId,
        set_id: &str,
        run: &mut TargetRun,
    ) -> Result<()> {
        self.iam.delete_key(user, key).await?;
        run.ok(format!("deleted the failed canary's access key {key}"));
        self.delete_retired_set(user, key, set_id, run).await
    }

    /// Deletes an inactive key, then its set, then the key's records.
    async fn delete_retired(
        &self,
        user: &str,
        key: &AccessKeyId,
        set_id: Option<&str>,
        run: &mut TargetRun,
    ) -> Result<()> {
        self.iam.delete_key(user, key).await?;
        run.ok(format!("deleted retired access key {key}"));
        run.changes.push(Change::Deleted {
            key: key.clone(),
            set_id: set_id.map(str::to_string),
        });
        match set_id {
            Some(set_id) => self.delete_retired_set(user, key, set_id, run).await,
            None => self.forget(user, key, run).await,
        }
    }

    /// Deletes the set of a retired key, then the key's records. The records go last: while
    /// the set remains, they are the proof that this tool retired its key.
    async fn delete_retired_set(
        &self,
        user: &str,
        key: &AccessKeyId,
        set_id: &str,
        run: &mut TargetRun,
    ) -> Result<()> {
        self.soracom.delete_credential(set_id).await?;
        run.ok(format!("deleted unused credential set {set_id}"));
        self.forget(user, key, run).await
    }

    /// Removes every record of a key that is gone. A failure fails the run: the records are
    /// harmless once nothing names the key, and the next run removes them
    /// ([`Retire::Forget`]), but the tags count toward IAM's limit of 50 per user.
    async fn forget(&self, user: &str, key: &AccessKeyId, run: &mut TargetRun) -> Result<()> {
        self.iam.untag(user, &tags_of(key)).await?;
        run.ok(format!("removed the records of access key {key}"));
        Ok(())
    }

    /// Writes a key's own record (its state, and which set it is for).
    async fn record_key(&self, user: &str, key: &AccessKeyId, record: &KeyRecord) -> Result<()> {
        let (k, v) = key_tag(key, record);
        self.iam.tag(user, &k, &v).await
    }

    /// Announces the run's key, creates it, records it as this tool's and in flight, and
    /// verifies it; on failure, whatever was created is deleted.
    ///
    /// The announcement (the user's keys before, under a run id) is written before
    /// `CreateAccessKey`, so that a run dying before it hears the answer still leaves proof
    /// that the new key is its own: a later run deletes it once the announcement is older
    /// than [`crate::plan::IN_FLIGHT_LIMIT`]. A key without such proof is never deleted.
    async fn new_verified_key(
        &self,
        target: &Target,
        set_id: &str,
        at: OffsetDateTime,
        run: &mut TargetRun,
    ) -> Result<(NewAccessKey, std::time::Duration)> {
        let user = target.iam_user.as_str();
        let before: Vec<AccessKeyId> = self
            .iam
            .key_statuses(user)
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let run_id = self.ids.run_id(at.unix_timestamp());
        let (tag_key, tag_value) = creating_tag(&run_id, at, &before);
        self.claim(user, &tag_key, &tag_value, &before, at).await?;
        let created = self.iam.create_key(user).await;
        let born = self.clock.monotonic();
        let key = match created {
            Ok(k) => k,
            Err(e) if e.is_definite_rejection() => {
                // IAM refused: no key was created.
                self.release(user, &tag_key, run).await;
                return Err(e);
            }
            Err(e) => {
                // The key may exist without our having seen its secret. One new key, never
                // used, is this run's (the announcement keeps other runs from creating
                // one): delete it. If that cannot be told, the announcement stays — the
                // proof a later run needs to delete that key once this run is surely over.
                if let Ok(keys) = self.iam.list_keys(user).await {
                    let new: Vec<&AccessKeyId> = keys
                        .iter()
                        .filter(|k| !before.contains(&k.id))
                        .map(|k| &k.id)
                        .collect();
                    let unused = keys
                        .iter()
                        .filter(|k| !before.contains(&k.id))
                        .all(|k| k.last_used.is_none());
                    match (new.as_slice(), unused) {
                        ([], _) => self.release(user, &tag_key, run).await,
                        ([k], true) => {
                            let r = self.iam.delete_key(user, k).await;
                            run.step(
                                format!("deleted access key {k} created by the failed call"),
                                r.is_ok(),
                            );
                            if r.is_ok() {
                                self.release(user, &tag_key, run).await;
                            }
                        }
                        _ => {}
                    }
                }
                return Err(e);
            }
        };
        run.ok(format!("created access key {}", key.id));
        let record = KeyRecord::InFlight {
            since: at,
            set_id: set_id.to_string(),
        };
        if let Err(e) = self.record_key(user, &key.id, &record).await {
            // The announcement still proves the key is this run's; delete it now.
            let r = self.iam.delete_key(user, &key.id).await;
            run.step(
                format!("deleted new access key {} (rollback)", key.id),
                r.is_ok(),
            );
            if r.is_ok() {
                self.release(user, &tag_key, run).await;
            }
            return Err(e);
        }
        // The key's own record now says it is this run's: the announcement can go.
        self.release(user, &tag_key, run).await;
        if let Err(e) = self.verify(user, &key).await {
            let r = self.discard_key(user, &key.id).await;
            run.step(
                format!("deleted unverified access key {}", key.id),
                r.is_ok(),
            );
            return Err(e);
        }
        run.ok(format!(
            "verified access key {} with sts:GetCallerIdentity",
            key.id
        ));
        Ok((key, born))
    }

    /// Gives the key up if the run has taken so long since creating it that another run
    /// could soon take it for a dead run's orphan: it must never reach SORACOM then.
    async fn within_deadline(
        &self,
        user: &str,
        key: &NewAccessKey,
        born: std::time::Duration,
        run: &mut TargetRun,
    ) -> Result<()> {
        if self.clock.monotonic().saturating_sub(born) < WRITE_DEADLINE {
            return Ok(());
        }
        let r = self.discard_key(user, &key.id).await;
        run.step(
            format!("deleted new access key {} (too late to use)", key.id),
            r.is_ok(),
        );
        Err(Error::Unconfirmed(format!(
            "the new key {} is older than this run may hold a key in flight; it was given up",
            key.id
        )))
    }

    /// Announces (or leases) the target for this run, then steps back if any other run's
    /// announcement, lease or key in flight younger than the limit is there: IAM has no
    /// lock, so both runs write and then read, and either sees the other (both may step
    /// back; the next run goes on).
    async fn claim(
        &self,
        user: &str,
        tag_key: &str,
        tag_value: &str,
        keys: &[AccessKeyId],
        at: OffsetDateTime,
    ) -> Result<()> {
        self.iam.tag(user, tag_key, tag_value).await?;
        let tags = match self.iam.tags(user).await {
            Ok(t) => t,
            Err(e) => {
                let _ = self.iam.untag(user, &[tag_key.to_string()]).await;
                return Err(e);
            }
        };
        let records = Records::parse(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let young = |t: OffsetDateTime| at < t.saturating_add(crate::plan::IN_FLIGHT_LIMIT);
        let ours = |run: &str| tag_key == creating_key(run) || tag_key == lease_key(run);
        let other_announcement = records
            .creating
            .iter()
            .any(|c| !ours(&c.run) && young(c.since));
        let other_lease = records
            .leases
            .iter()
            .any(|(run, since)| !ours(run) && young(*since));
        // A record of a key that no longer exists is a leftover, not a run at work.
        let in_flight = records.keys.iter().any(|(k, r)| {
            keys.contains(k) && matches!(r, KeyRecord::InFlight { since, .. } if young(*since))
        });
        if other_announcement || other_lease || in_flight {
            let _ = self.iam.untag(user, &[tag_key.to_string()]).await;
            return Err(Error::Busy(
                "another run started changing this target at the same time; this one changed \
                 nothing (the next run goes on)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Removes this run's announcement or lease; a failure fails the run (a later run
    /// removes the leftover).
    async fn release(&self, user: &str, tag_key: &str, run: &mut TargetRun) {
        if let Err(e) = self.iam.untag(user, &[tag_key.to_string()]).await {
            run.fail("removing this run's record from the IAM user".into(), &e);
        }
    }

    /// Deletes a key this run created and gives up, then its record. The record says
    /// "abandoned" first, so that if the deletion fails a later run deletes the key at once
    /// (no run will use it).
    async fn discard_key(&self, user: &str, key: &AccessKeyId) -> Result<()> {
        let abandoned = KeyRecord::Abandoned {
            since: self.clock.now(),
        };
        if let Err(e) = self.record_key(user, key, &abandoned).await {
            tracing::warn!(error = %e, key = %key, "recording the key as abandoned failed");
        }
        self.iam.delete_key(user, key).await?;
        self.iam.untag(user, &tags_of(key)).await
    }

    /// Create → verify → register. On failure everything this created is removed.
    async fn rotate(
        &self,
        target: &Target,
        set_id: &str,
        at: OffsetDateTime,
        run: &mut TargetRun,
    ) -> Result<NewAccessKey> {
        let (key, born) = self.new_verified_key(target, set_id, at, run).await?;
        self.within_deadline(&target.iam_user, &key, born, run)
            .await?;
        if let Err(e) = self.create_set(set_id, &key).await {
            self.undo(target, set_id, &key, run).await;
            return Err(e);
        }
        run.ok(format!(
            "created credential set {set_id} holding {}",
            key.id
        ));
        // The key stays in flight until the cutover is done: other runs leave the target
        // alone meanwhile.
        Ok(key)
    }

    /// Create → verify → put the key into the existing set; every reference switches at
    /// once. If the update cannot be confirmed, the new key is deleted.
    async fn rotate_in_place(
        &self,
        target: &Target,
        set_id: &str,
        previous: Option<&AccessKeyId>,
        at: OffsetDateTime,
        run: &mut TargetRun,
    ) -> Result<()> {
        let user = target.iam_user.as_str();
        let (key, born) = self.new_verified_key(target, set_id, at, run).await?;
        self.within_deadline(user, &key, born, run).await?;
        let description = in_place_description(&key.id, previous);
        let err = match self
            .soracom
            .update_credential(set_id, &description, &key)
            .await
        {
            Ok(set) if set.key().as_ref() == Some(&key.id) => None,
            Ok(_) => Some(Error::Unconfirmed(format!(
                "updateCredential of {set_id} did not show the new key"
            ))),
            Err(e) => Some(e),
        };
        // Every reference uses this one set: the new key may be deleted only when the set is
        // known not to hold it. A definite rejection says so; otherwise the listing must.
        let holds_new = match &err {
            None => Some(true),
            Some(e) if e.is_definite_rejection() => Some(false),
            Some(_) => match self.soracom.list_credentials().await {
                Ok(sets) => Some(
                    sets.iter()
                        .any(|s| s.id == set_id && s.key().as_ref() == Some(&key.id)),
                ),
                Err(_) => None,
            },
        };
        match (holds_new, err) {
            (Some(true), _) => {
                run.ok(format!(
                    "put access key {} into credential set {set_id}",
                    key.id
                ));
                let held = KeyRecord::HeldBy {
                    set_id: set_id.to_string(),
                    since: at,
                };
                self.record_key(user, &key.id, &held).await?;
                run.changes.push(Change::Rotated {
                    key: key.id.clone(),
                    set_id: set_id.to_string(),
                    previous: previous.cloned(),
                });
                Ok(())
            }
            (Some(false), Some(e)) => {
                let r = self.discard_key(user, &key.id).await;
                run.step(
                    format!("deleted new access key {} (rollback)", key.id),
                    r.is_ok(),
                );
                Err(e)
            }
            (_, e) => {
                run.step(
                    format!(
                        "kept new access key {}: whether {set_id} holds it is unknown; the next run finds out",
                        key.id
                    ),
                    false,
                );
                Err(e.unwrap_or_else(|| Error::Unconfirmed(format!("updating {set_id}"))))
            }
        }
    }

    /// Polls STS with the new key until it succeeds `successes` times in a row as the
    /// target's user, within the timeout (a new key takes seconds to work everywhere).
    async fn verify(&self, user: &str, key: &NewAccessKey) -> Result<()> {
        let v = &self.config.verify;
        let start = self.clock.monotonic();
        let elapsed = || self.clock.monotonic().saturating_sub(start);
        let max_attempts =
            v.timeout.as_millis() / v.interval.as_millis().max(1) + u128::from(v.successes) + 1;
        let (mut streak, mut attempts) = (0u32, 0u128);
        let mut last = String::from("no attempt");
        loop {
            attempts += 1;
            match self.iam.caller_arn(key).await {
                Ok(arn) if arn_is_user(&arn, user) => streak += 1,
                Ok(arn) => {
                    streak = 0;
                    last = format!("the key authenticates as {arn}, not as user {user}");
                }
                Err(e) => {
                    streak = 0;
                    last = e.to_string();
                }
            }
            if streak >= v.successes {
                tracing::info!(key = %key.id, attempts, "new key verified");
                return Ok(());
            }
            if elapsed() + v.interval > v.timeout || attempts >= max_attempts.min(10_000) {
                return Err(Error::Verify {
                    key: key.id.clone(),
                    detail: format!(
                        "{streak} of {} successes in a row after {attempts} attempts in {} s; last: {last}",
                        v.successes,
                        elapsed().as_secs()
                    ),
                });
            }
            self.clock.sleep(v.interval).await;
        }
    }

    /// Creates the set; after an unclear failure, lists to see whether it exists.
    async fn create_set(&self, set_id: &str, key: &NewAccessKey) -> Result<()> {
        let description = link_description(&key.id);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let err = match self
                .soracom
                .create_credential(set_id, &description, key)
                .await
            {
                Ok(set) if set.id == set_id => return Ok(()),
                Ok(set) => {
                    return Err(Error::Unconfirmed(format!(
                        "createCredential answered with set {} instead of {set_id}",
                        set.id
                    )))
                }
                Err(e) => e,
            };
            // Without the listing nothing can be decided: the create's own error stands.
            let Ok(sets) = self.soracom.list_credentials().await else {
                return Err(err);
            };
            match sets.iter().find(|s| s.id == set_id) {
                Some(s) if s.key().as_ref() == Some(&key.id) => return Ok(()),
                Some(_) => return Err(err),
                None if err.is_retryable() && attempt < CREATE_ATTEMPTS => {
                    tracing::warn!(set_id, attempt, error = %err, "credential set not created; trying again");
                    self.clock.sleep(self.config.soracom.retry_base).await;
                }
                None => return Err(err),
            }
        }
    }

    /// Removes what a failed rotation created: the set, then the key and its record. The
    /// decision is checked against a fresh observation: the set is deleted only when it is
    /// ours and nothing references it (another run may have moved references onto it),
    /// and the key only when no set holds it any more.
    async fn undo(&self, target: &Target, set_id: &str, key: &NewAccessKey, run: &mut TargetRun) {
        let user = target.iam_user.as_str();
        let fresh = match self.observer().observe_one(target).await {
            Ok(o) => o,
            Err(e) => {
                run.fail(
                    format!("observing again to roll back {set_id}; the new set and key are kept"),
                    &e,
                );
                return;
            }
        };
        let ours = fresh
            .sets
            .iter()
            .any(|s| s.id == set_id && s.key().as_ref() == Some(&key.id));
        if ours && fresh.slots.iter().any(|s| s.references(set_id)) {
            run.step(
                format!(
                    "kept new credential set {set_id} and key {}: references were moved onto it meanwhile",
                    key.id
                ),
                false,
            );
            return;
        }
        if ours {
            let r = self.soracom.delete_credential(set_id).await;
            run.step(
                format!("deleted new credential set {set_id} (rollback)"),
                r.is_ok(),
            );
            if r.is_err() {
                return;
            }
        }
        let r = self.discard_key(user, &key.id).await;
        run.step(
            format!("deleted new access key {} (rollback)", key.id),
            r.is_ok(),
        );
    }

    /// Repoints every slot: the first alone when `canary` (so a failure before any move is
    /// clean), the rest with bounded concurrency; stops starting new writes after a failure.
    async fn repoint_all<'p>(
        &self,
        actions: &[&'p Repoint],
        canary: bool,
        run: &mut TargetRun,
    ) -> (Vec<&'p Repoint>, Option<(&'p Repoint, Error)>) {
        if actions.is_empty() {
            return (Vec::new(), None);
        }
        self.progress.start("repointing", actions.len() as u64);
        let mut moved: Vec<&'p Repoint> = Vec::new();
        let mut rest = actions;
        if canary {
            if let Some((first, tail)) = actions.split_first() {
                if let Err(e) = self.repoint_one(first).await {
                    self.progress.finish();
                    return (moved, Some((first, e)));
                }
                moved.push(first);
                self.progress.advance();
                rest = tail;
            }
        }
        let stop = AtomicBool::new(false);
        // The futures are made before they are streamed: a stream over a closure that makes
        // them would not be provably `Send` (rustc's higher-ranked lifetime limitation).
        let pending: Vec<_> = rest
            .iter()
            .map(|a| self.repoint_unless_stopped(a, &stop))
            .collect();
        let results: Vec<(&'p Repoint, Option<Result<()>>)> = futures::stream::iter(pending)
            .buffer_unordered(self.config.soracom.concurrency)
            .collect()
            .await;
        self.progress.finish();
        let mut failure = None;
        for (a, r) in results {
            match r {
                Some(Ok(())) => moved.push(a),
                Some(Err(e)) if failure.is_none() => failure = Some((a, e)),
                Some(Err(e)) => run.fail(a.words(), &e),
                None => {}
            }
        }
        run.ok(format!(
            "repointed {} of {} references",
            moved.len(),
            actions.len()
        ));
        (moved, failure)
    }

    /// Moves `a` unless another move failed (`stop`); a failure stops the moves not yet
    /// started.
    async fn repoint_unless_stopped<'p>(
        &self,
        a: &'p Repoint,
        stop: &AtomicBool,
    ) -> (&'p Repoint, Option<Result<()>>) {
        if stop.load(Ordering::SeqCst) {
            return (a, None);
        }
        let r = self.repoint_one(a).await;
        match &r {
            Ok(()) => self.progress.advance(),
            Err(_) => stop.store(true, Ordering::SeqCst),
        }
        (a, Some(r))
    }

    async fn repoint_one(&self, action: &Repoint) -> Result<()> {
        let Repoint { slot, from, to } = action;
        let value = from
            .iter()
            .fold(slot.value.clone(), |v, f| rewrite(&v, &slot.refs, f, to));
        match &slot.holder {
            Holder::GroupKey {
                group_id,
                namespace,
                key,
                ..
            } => {
                let group = self
                    .soracom
                    .put_group_config(group_id, namespace, key, &value)
                    .await?;
                let echoed = group
                    .configuration
                    .get(namespace)
                    .and_then(|ns| ns.get(key));
                let confirmed =
                    echoed.is_some_and(|v| from.iter().all(|f| points_to(v, &slot.refs, f, to)));
                if !confirmed {
                    return Err(Error::Unconfirmed(format!(
                        "{}: the response does not show {to}",
                        slot.holder
                    )));
                }
            }
            Holder::EventHandler { handler_id, .. } => {
                let mut body = value;
                if let Value::Object(m) = &mut body {
                    m.remove("handlerId");
                }
                self.soracom.update_event_handler(handler_id, &body).await?;
            }
            Holder::VpgInspection { vpg_id, .. } => {
                self.soracom.set_inspection(vpg_id, &value).await?;
            }
        }
        tracing::info!(holder = %slot.holder, to = %to, "repointed");
        Ok(())
    }
}

/// Whether `arn` is the IAM user `user` (any path, any account).
fn arn_is_user(arn: &str, user: &str) -> bool {
    arn.starts_with("arn:") && arn.contains(":user/") && arn.rsplit('/').next() == Some(user)
}

/// A step of a phase whose destructive ones are re-checked against fresh state.
trait Destructive: PartialEq {
    /// Whether it deletes or deactivates something.
    fn destructive(&self) -> bool;
    /// The set whose key it deactivates, if it does.
    fn deactivates(&self) -> Option<&str> {
        None
    }
}

impl Destructive for Repair {
    fn destructive(&self) -> bool {
        self.is_destructive()
    }
}

impl Destructive for Retire {
    fn destructive(&self) -> bool {
        self.is_destructive()
    }

    fn deactivates(&self) -> Option<&str> {
        match self {
            Retire::Deactivate { set_id, .. } => Some(set_id),
            _ => None,
        }
    }
}

/// The refusal and the blocked keys of a plan, as one message.
fn refusals(plan: &Plan) -> Vec<String> {
    plan.refusal
        .iter()
        .map(Words::words)
        .chain(plan.blocked.iter().map(Words::words))
        .chain(
            plan.canary
                .iter()
                .filter(|c| c.stage.needs_human())
                .map(|c| format!("canary {}", c.words())),
        )
        .chain(
            plan.migration
                .iter()
                .filter(|m| m.needs_human())
                .map(Words::words),
        )
        .collect()
}

fn dry_report(target: &Target, plan: Plan) -> TargetReport {
    let refusal = refusals(&plan);
    let (outcome, error) = match (refusal.is_empty(), plan.is_empty()) {
        (false, _) => (Outcome::Refused, Some(refusal.join("\n"))),
        (true, true) => (Outcome::NothingDue, None),
        (true, false) => (Outcome::Planned, None),
    };
    let moves = Moves {
        total: plan.cutover.len(),
        moved: 0,
    };
    TargetReport {
        target: target.name.clone(),
        iam_user: target.iam_user.clone(),
        outcome,
        plan: Some(plan),
        steps: Vec::new(),
        references: moves,
        error,
        next: None,
        changes: Vec::new(),
        notified: Default::default(),
    }
}

/// The report under construction for one target.
struct TargetRun {
    target: String,
    iam_user: String,
    plan: Plan,
    steps: Vec<DoneStep>,
    moves: Moves,
    /// Destructive steps left out because a fresh observation no longer called for them.
    skipped: usize,
    /// What people are told this run changed.
    changes: Vec<Change>,
}

impl TargetRun {
    fn new(target: &Target, plan: &Plan) -> TargetRun {
        TargetRun {
            target: target.name.clone(),
            iam_user: target.iam_user.clone(),
            plan: plan.clone(),
            steps: Vec::new(),
            moves: Moves::default(),
            skipped: 0,
            changes: Vec::new(),
        }
    }

    /// A planned step not taken: the state it was planned on changed.
    fn skip(&mut self, action: Step<'_>) {
        self.skipped += 1;
        self.step(
            format!(
                "not done, the state changed since this run observed it: {}",
                describe(action)
            ),
            false,
        );
    }

    fn step(&mut self, what: String, ok: bool) {
        if ok {
            tracing::info!(target = %self.target, "{what}");
        } else {
            tracing::warn!(target = %self.target, "failed: {what}");
        }
        self.steps.push(DoneStep { what, ok });
    }

    fn ok(&mut self, what: String) {
        self.step(what, true);
    }

    fn fail(&mut self, what: String, e: &Error) {
        self.step(format!("{what}: {e}"), false);
    }

    fn finish(self, outcome: Outcome, error: Option<String>, next: Option<String>) -> TargetReport {
        TargetReport {
            target: self.target,
            iam_user: self.iam_user,
            outcome,
            plan: Some(self.plan),
            steps: self.steps,
            references: self.moves,
            error,
            next,
            changes: self.changes,
            notified: Default::default(),
        }
    }
}

/// A holder's refusal of the role set, as a step of the run.
struct Refused<'a>(&'a Repoint);

impl Words for Refused<'_> {
    fn words(&self) -> String {
        format!(
            "{} refused the role set {}: it stays on the key (its kind is recorded as refused)",
            self.0.slot.holder, self.0.to
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_must_name_the_user() {
        assert!(arn_is_user("arn:aws:iam::123456789012:user/u1", "u1"));
        assert!(arn_is_user(
            "arn:aws:iam::123456789012:user/path/to/u1",
            "u1"
        ));
        assert!(!arn_is_user("arn:aws:sts::123456789012:user/moto", "u1"));
        assert!(!arn_is_user("arn:aws:iam::123456789012:user/u10", "u1"));
        assert!(!arn_is_user("arn:aws:sts::1:assumed-role/r/u1", "u1"));
    }
}
