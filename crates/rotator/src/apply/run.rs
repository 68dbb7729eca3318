//! One target's run while it is carried out: what it works from (the target, what it
//! observed, its plan, its clock, its mode) and the report it builds, step by step.

use rotator_core::execution::{finish, Done};

use crate::clock::RunClock;
use crate::config::Target;
use crate::error::Error;
use crate::model::Observed;
use crate::plan::{Mode, Plan, Step};
use crate::report::{Change, Moves, Outcome, Step as DoneStep, TargetReport};
use crate::wording::describe;

/// What a run that stepped back says: another run is changing the target.
pub(super) const BUSY: &str = "another run started changing this target at the same time; this \
     one stepped back here (the next run goes on)";

/// Why a phase ended the run early.
pub(super) struct Stop {
    /// The step it stopped at.
    what: String,
    /// Why.
    cause: Cause,
    /// What happens next.
    next: String,
}

/// Why a run stopped.
enum Cause {
    /// A call failed, or what it found stops the run: why.
    Failed(String),
    /// Another run is at work on the target: this one stepped back (refused).
    Busy,
}

impl Stop {
    /// The run stopped at `what` because a call failed with `e`.
    pub(super) fn failed(what: impl Into<String>, e: Error, next: impl Into<String>) -> Stop {
        Stop::found(what, e.to_string(), next)
    }

    /// The run stopped at `what` because of what it found (`why`): a key switched off
    /// meanwhile, say.
    pub(super) fn found(
        what: impl Into<String>,
        why: impl Into<String>,
        next: impl Into<String>,
    ) -> Stop {
        Stop {
            what: what.into(),
            cause: Cause::Failed(why.into()),
            next: next.into(),
        }
    }

    /// The run stepped back at `what`: another run is at work on the target.
    pub(super) fn busy(what: impl Into<String>, next: impl Into<String>) -> Stop {
        Stop {
            what: what.into(),
            cause: Cause::Busy,
            next: next.into(),
        }
    }
}

/// One target's run: its inputs and the report under construction.
pub(super) struct TargetRun<'a> {
    /// The target.
    pub(crate) target: &'a Target,
    /// What the run observed.
    pub(crate) obs: &'a Observed,
    /// The plan it carries out.
    pub(crate) plan: Plan,
    /// The run's clock.
    pub(crate) clock: RunClock<'a>,
    /// What the plan was made for.
    pub(crate) mode: Mode,
    /// References moved, of how many.
    pub(crate) moves: Moves,
    /// What people are told this run changed.
    pub(crate) changes: Vec<Change>,
    steps: Vec<DoneStep>,
    /// Destructive steps left out because a fresh observation no longer called for them.
    skipped: usize,
}

impl<'a> TargetRun<'a> {
    /// A run of `plan` for `target`, which observed `obs`.
    pub(crate) fn new(
        target: &'a Target,
        obs: &'a Observed,
        plan: Plan,
        clock: RunClock<'a>,
        mode: Mode,
    ) -> TargetRun<'a> {
        TargetRun {
            target,
            obs,
            plan,
            clock,
            mode,
            moves: Moves::default(),
            changes: Vec::new(),
            steps: Vec::new(),
            skipped: 0,
        }
    }

    /// The IAM user the run acts on.
    pub(crate) fn user(&self) -> &'a str {
        &self.target.iam_user
    }

    /// A planned step not taken: the state it was planned on changed.
    pub(crate) fn skip(&mut self, action: Step<'_>) {
        self.skipped += 1;
        self.step(
            format!(
                "not done, the state changed since this run observed it: {}",
                describe(action)
            ),
            false,
        );
    }

    /// A step taken (`ok`) or tried.
    pub(crate) fn step(&mut self, what: String, ok: bool) {
        if ok {
            tracing::info!(target = %self.target.name, "{what}");
        } else {
            tracing::warn!(target = %self.target.name, "failed: {what}");
        }
        self.steps.push(DoneStep { what, ok });
    }

    /// A step taken.
    pub(crate) fn ok(&mut self, what: String) {
        self.step(what, true);
    }

    /// A step that failed with `e`.
    pub(crate) fn fail(&mut self, what: String, e: &Error) {
        self.step(format!("{what}: {e}"), false);
    }

    /// The report of a run that stopped early.
    pub(crate) fn stopped(mut self, stop: Stop) -> TargetReport {
        let (outcome, error) = match &stop.cause {
            Cause::Failed(why) => (Outcome::Failed, why.clone()),
            Cause::Busy => (Outcome::Refused, BUSY.to_string()),
        };
        self.step(format!("{}: {error}", stop.what), false);
        self.report(outcome, Some(error), Some(stop.next))
    }

    /// The report of a run that carried every phase out.
    pub(crate) fn finished(self) -> TargetReport {
        let done = Done {
            steps: self.steps.len(),
            failed: self.steps.iter().find(|s| !s.ok).map(|s| s.what.clone()),
            skipped: self.skipped,
        };
        let end = finish(&self.plan, &done);
        self.report(end.outcome, end.error, end.next)
    }

    fn report(self, outcome: Outcome, error: Option<String>, next: Option<String>) -> TargetReport {
        TargetReport {
            target: self.target.name.clone(),
            iam_user: self.target.iam_user.clone(),
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
