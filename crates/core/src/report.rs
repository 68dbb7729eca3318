//! What a run did: a serialisable report and its exit code.
//!
//! The same [`RunReport`] is printed as text by the CLI (laid out in
//! [`crate::render`]), as JSON with `--output json`, and returned by the Lambda entry
//! point. Key ids in it are masked; it never holds a secret.

use serde::Serialize;
use time::OffsetDateTime;

use crate::plan::{KeyDeadline, Plan};
use crate::records::Notified;
use crate::secret::AccessKeyId;

/// How one target's run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Nothing was due.
    NothingDue,
    /// Dry run: the plan was shown, nothing changed.
    Planned,
    /// Every action was carried out.
    Done,
    /// A safety rule refused what was due; a human must act (exit 3).
    Refused,
    /// An action failed; the state is safe and the next run resumes (exit 1).
    Failed,
}

/// One carried-out (or failed) step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// What was done, for humans (masked key ids).
    pub what: String,
    /// Whether it succeeded.
    pub ok: bool,
}

/// References counted for the cutover.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Moves {
    /// References to repoint in this run.
    pub total: usize,
    /// References confirmed moved.
    pub moved: usize,
}

/// A change a run made that the notification ladder tells people about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "camelCase")]
pub enum Change {
    /// A new key was verified and every reference moved onto it.
    #[serde(rename_all = "camelCase")]
    Rotated {
        /// The new key.
        key: AccessKeyId,
        /// The set holding it.
        set_id: String,
        /// The key it replaces.
        previous: Option<AccessKeyId>,
    },
    /// An old key was deactivated.
    #[serde(rename_all = "camelCase")]
    Deactivated {
        /// The key.
        key: AccessKeyId,
        /// The set that held it.
        set_id: String,
        /// By an emergency: the key was recorded exposed.
        exposed: bool,
    },
    /// A retired key was deleted (its set follows).
    #[serde(rename_all = "camelCase")]
    Deleted {
        /// The key.
        key: AccessKeyId,
        /// Its set (`None`: in place, kept).
        set_id: Option<String>,
    },
}

/// The figures a target is watched by (the Lambda's metrics, `status --output json`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyMetrics {
    /// Age in whole days of the oldest active key (`None`: no active key).
    pub oldest_active_key_age_days: Option<i64>,
    /// Whole days until the nearest deadline of an active key, rounded down (as
    /// `daysLeft`): a key with 2.5 days left shows 2, one past its deadline −1 or less, so
    /// an alarm below the margin fires as soon as fewer days than the margin are left.
    pub days_to_deadline: Option<i64>,
    /// Active keys at risk of reaching their deadline.
    pub keys_at_risk: usize,
}

impl KeyMetrics {
    /// The figures of the active keys in `deadlines`, leaving out the keys in `gone`
    /// (deactivated or deleted by the run that made them).
    pub(crate) fn of(
        deadlines: &[KeyDeadline],
        gone: &[&AccessKeyId],
        now: OffsetDateTime,
    ) -> KeyMetrics {
        let active: Vec<&KeyDeadline> = deadlines
            .iter()
            .filter(|d| !gone.contains(&&d.key))
            .collect();
        KeyMetrics {
            oldest_active_key_age_days: active.iter().map(|d| d.age_days).max(),
            days_to_deadline: active
                .iter()
                .map(|d| crate::plan::floor_days(d.deadline - now))
                .min(),
            keys_at_risk: active.iter().filter(|d| d.risk.is_some()).count(),
        }
    }
}

/// One target's part of a run.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetReport {
    /// Target name.
    pub target: String,
    /// IAM user.
    pub iam_user: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The plan that was followed (or shown).
    pub plan: Option<Plan>,
    /// Steps carried out, in order.
    pub steps: Vec<Step>,
    /// Repointing progress.
    pub references: Moves,
    /// The failure or refusal, if any.
    pub error: Option<String>,
    /// What happens next or what the operator should do.
    pub next: Option<String>,
    /// What this run changed that people are told about.
    pub changes: Vec<Change>,
    /// What the notification ladder already told people (read from the IAM user).
    #[serde(skip)]
    pub notified: Notified,
}

/// The report of one run of a command.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// The command (`plan`, `reconcile`, `rotate`).
    pub command: String,
    /// The time the run planned with.
    #[serde(with = "time::serde::rfc3339")]
    pub now: OffsetDateTime,
    /// True when nothing may be written.
    pub dry_run: bool,
    /// One entry per target.
    pub targets: Vec<TargetReport>,
}

impl TargetReport {
    /// The target's figures after this run: its plan's keys, less those it retired, and the
    /// key it made (`max_key_age_days` is the target's).
    pub fn metrics(&self, now: OffsetDateTime, max_key_age_days: u32) -> KeyMetrics {
        let gone: Vec<&AccessKeyId> = self
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::Deactivated { key, .. } | Change::Deleted { key, .. } => Some(key),
                Change::Rotated { .. } => None,
            })
            .collect();
        let mut m = self
            .plan
            .as_ref()
            .map(|p| KeyMetrics::of(&p.deadlines, &gone, now))
            .unwrap_or_default();
        if self
            .changes
            .iter()
            .any(|c| matches!(c, Change::Rotated { .. }))
        {
            let fresh = i64::from(max_key_age_days);
            m.oldest_active_key_age_days = m.oldest_active_key_age_days.max(Some(0));
            m.days_to_deadline = Some(m.days_to_deadline.map_or(fresh, |d| d.min(fresh)));
        }
        m
    }
}

impl RunReport {
    /// The process exit code (docs/commands.md, *Exit codes*): 3 if any target was refused,
    /// else 1 if any failed, else 0. A refusal wins because it needs a human; a failure heals on rerun.
    pub fn exit_code(&self) -> u8 {
        if self.targets.iter().any(|t| t.outcome == Outcome::Refused) {
            3
        } else if self.targets.iter().any(|t| t.outcome == Outcome::Failed) {
            1
        } else {
            0
        }
    }
}
