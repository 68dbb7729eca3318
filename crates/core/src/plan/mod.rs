//! The planner: a pure function from observed state, policy and time to a plan.
//!
//! [`plan`] decides, for one target, what a command must do now. Each rule family has a
//! file of its own (docs/ARCHITECTURE.md lists which rule lives where):
//! - `resolve` ([`resolve()`]): which key each credential set holds, which set is
//!   current, which keys are a dead run's orphans (deleted) or someone else's (reported),
//!   whether a run is at work on the target (then nothing else happens);
//! - `rotate`: whether rotation is due, making room in IAM's two key slots, the new set
//!   or the in-place update, and moving every reference onto the key in use;
//! - `rollback`: back to the previous set while its key is active;
//! - `retire`: deactivating old keys on evidence and deleting them later, and the
//!   records that time it;
//! - `deadline`: the age no active key may reach, when rotation starts so that the old
//!   key is off before it, and which keys are at risk.
//!
//! A plan is typed through and through: its steps come in three phases ([`Repair`],
//! [`Repoint`], [`Retire`]) that the executor matches exhaustively, and every refusal,
//! note, blocked key and upcoming step is a value with a stable `code` in JSON, worded in
//! one place ([`crate::wording`]). Nothing here performs I/O; the `rotator` crate's `apply` carries
//! plans out.

mod canary;
mod deadline;
pub(crate) mod migrate;
mod outcome;
mod resolve;
mod retire;
mod rollback;
mod rotate;
#[cfg(test)]
mod tests;

use serde::Serialize;
use time::OffsetDateTime;

use crate::config::Target;
use crate::model::{Observed, Slot};
use crate::records::Mark;
use crate::secret::AccessKeyId;

pub use canary::{auth_failure, log_service, MAX_FAILURES};
pub(crate) use deadline::{floor_days, grace, rotation_age, severity, EARLY};
pub(crate) use outcome::{
    Blocked, CanaryStage, CanaryState, Due, DueReason, Evidence, KeyBrief, KeyDeadline, KeyRole,
    Migration, MigrationStage, Next, Note, Refusal, RetiredKey, Risk, RiskCause, RollbackRefusal,
    Severity, Upcoming,
};
pub use resolve::{resolve, KeyState, Link, SetView, View, AWS_CREDENTIALS, IN_FLIGHT_LIMIT};

/// What the planner was asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Repair, rotate if due, retire what is due.
    Reconcile,
    /// Repair and rotate now, due or not.
    Rotate,
    /// Only the retire steps that are due.
    Retire,
    /// Undo the last cutover while the previous set's key is still active.
    Rollback,
    /// The keys recorded exposed ([`Mark::Exposed`]) go at once: the current one is
    /// rotated, every reference moves, and each exposed key is deactivated as soon as the
    /// cutover is done, without waiting for `retire_after_days`; use after the cutover is
    /// reported, not waited on. Deletion keeps to `delete_after_days`; everything else is
    /// as in reconcile.
    Emergency,
}

/// The credential set the target currently uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Current {
    /// Set id.
    pub(crate) set_id: String,
    /// How its key is known.
    pub link: Link,
    /// Age in whole days of the key (or of the set when the key is unknown).
    pub(crate) age_days: Option<i64>,
}

/// A step before any reference moves: repairs, room in the key slots, a new key.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Repair {
    /// Delete the key of a run that died: this tool recorded it in flight (or announced
    /// it) longer ago than a run can take, and no set holds it. Its secret is lost.
    #[serde(rename_all = "camelCase")]
    DeleteOrphanKey {
        /// The key.
        key: AccessKeyId,
    },
    /// Free a key slot: delete an inactive key this tool retired, then its unused set.
    #[serde(rename_all = "camelCase")]
    MakeRoom {
        /// The inactive key.
        key: AccessKeyId,
        /// Its credential set, referenced by nothing (`None`: an in-place set, kept).
        set_id: Option<String>,
    },
    /// Create a key, verify it, and register it as a new credential set.
    #[serde(rename_all = "camelCase")]
    Rotate {
        /// Id of the set to create.
        new_set_id: String,
    },
    /// Record on the IAM user that a canary moves off `key`'s set now (before it moves).
    #[serde(rename_all = "camelCase")]
    StartCanary {
        /// The old key.
        key: AccessKeyId,
    },
    /// Record on the IAM user that the canary off `key`'s set failed (before it moves back).
    #[serde(rename_all = "camelCase")]
    FailCanary {
        /// The old key.
        key: AccessKeyId,
    },
    /// Record on the IAM user that `kind`'s canary onto the role set moves now.
    #[serde(rename_all = "camelCase")]
    StartRoleCanary {
        /// The holder kind.
        kind: String,
    },
    /// Record on the IAM user that `kind` refused the role set (before it moves back).
    #[serde(rename_all = "camelCase")]
    RefuseRole {
        /// The holder kind.
        kind: String,
    },
    /// Remove the cutover record of `key` before references move off its set again: the
    /// set was referenced again since that record (a rollback, a person), so it no longer
    /// says when the last reference left. It is recorded anew when no reference is left
    /// (by this run when all of them move, else by the first run that sees the set
    /// unreferenced); a run that dies in between leaves no record — never an old time that
    /// would make the key look used after its cutover (found by the simulator, seed 107635
    /// of the first long run). Taken first, before any key is made.
    #[serde(rename_all = "camelCase")]
    ForgetCutover {
        /// The key whose set references leave.
        key: AccessKeyId,
    },
    /// Create a key, verify it, and put it into the existing set (in-place strategy).
    #[serde(rename_all = "camelCase")]
    RotateInPlace {
        /// The set whose key is replaced.
        set_id: String,
        /// The key it holds now, named in the description as the one to retire.
        previous: Option<AccessKeyId>,
    },
}

/// Point one slot's references at `to` (the cutover).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Repoint {
    /// The slot, as read (its value is never shown).
    pub slot: Slot,
    /// The set ids it references now.
    pub from: Vec<String>,
    /// The set it will reference.
    pub to: String,
}

/// A step after the cutover: retiring old keys and sets, and the records on the IAM user.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Retire {
    /// Record on the IAM user when something happened to a key (the evidence retirement
    /// is timed by).
    #[serde(rename_all = "camelCase")]
    Record {
        /// The key.
        key: AccessKeyId,
        /// What happened to it, now.
        mark: Mark,
    },
    /// Remove one record of a key that no longer holds (a re-activated key's deactivation,
    /// a cutover undone because references came back).
    #[serde(rename_all = "camelCase")]
    Unrecord {
        /// The key.
        key: AccessKeyId,
        /// The record removed.
        mark: Mark,
    },
    /// Record that a key this tool had in flight is now held by its set (a cutover an
    /// interrupted run left, now finished).
    #[serde(rename_all = "camelCase")]
    MarkHeld {
        /// The key.
        key: AccessKeyId,
        /// The set holding it.
        set_id: String,
    },
    /// Deactivate an old key: its cutover is old enough and nothing used it since.
    #[serde(rename_all = "camelCase")]
    Deactivate {
        /// The key.
        key: AccessKeyId,
        /// The set that held it.
        set_id: String,
    },
    /// Delete a key deactivated long enough ago, then its set.
    #[serde(rename_all = "camelCase")]
    DeleteRetired {
        /// The inactive key.
        key: AccessKeyId,
        /// Its set, deleted after the key (`None`: an in-place set, kept).
        set_id: Option<String>,
    },
    /// Remove the record of `kind`'s canary onto the role set: it is over.
    #[serde(rename_all = "camelCase")]
    EndRoleCanary {
        /// The holder kind.
        kind: String,
    },
    /// Delete a failed canary's new key, then its set (nothing references it any more),
    /// then the key's records.
    #[serde(rename_all = "camelCase")]
    DropCanary {
        /// The new key.
        key: AccessKeyId,
        /// Its set.
        set_id: String,
    },
    /// Delete an unreferenced set whose key no longer exists, then forget that key's records.
    #[serde(rename_all = "camelCase")]
    DeleteSet {
        /// The set.
        set_id: String,
        /// The key it named.
        key: AccessKeyId,
    },
    /// Remove the records (user tags) of a key that no longer exists and that no set of
    /// the target names: left by a run whose removal of them failed.
    #[serde(rename_all = "camelCase")]
    Forget {
        /// The key the records are about.
        key: AccessKeyId,
    },
    /// Remove the announcement (or lease) of a run that is long over, or a leftover.
    #[serde(rename_all = "camelCase")]
    ForgetRun {
        /// The record's tag key.
        tag: String,
    },
}

impl Repair {
    /// Whether the step deletes something: it is taken only when a fresh observation
    /// still calls for it.
    pub(crate) fn is_destructive(&self) -> bool {
        matches!(
            self,
            Repair::DeleteOrphanKey { .. } | Repair::MakeRoom { .. }
        )
    }
}

impl Retire {
    /// Whether the step deletes or deactivates something: it is taken only when a fresh
    /// observation still calls for it.
    pub(crate) fn is_destructive(&self) -> bool {
        matches!(
            self,
            Retire::Deactivate { .. }
                | Retire::DeleteRetired { .. }
                | Retire::DeleteSet { .. }
                | Retire::DropCanary { .. }
        )
    }
}

/// Any step of a plan, for describing and counting them in order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Step<'a> {
    /// Before the cutover.
    Repair(&'a Repair),
    /// The cutover.
    Repoint(&'a Repoint),
    /// After the cutover.
    Retire(&'a Retire),
}

/// The plan for one target.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Target name.
    pub(crate) target: String,
    /// The set in use, if any.
    pub current: Option<Current>,
    /// The rotation decision.
    pub(crate) due: Due,
    /// Phase 1: repairs and the new key, before any reference moves.
    pub repair: Vec<Repair>,
    /// Phase 2: the references to move.
    pub cutover: Vec<Repoint>,
    /// Phase 3: retiring and records, once the cutover is done.
    pub retire: Vec<Retire>,
    /// Set when a safety rule forbids what is due; the operator must act.
    #[serde(serialize_with = "crate::words::worded_option")]
    pub(crate) refusal: Option<Refusal>,
    /// Old keys used after their cutover: never touched, reported (exit 3).
    #[serde(serialize_with = "crate::words::worded_all")]
    pub(crate) blocked: Vec<Blocked>,
    /// Steps that become due later, with their dates.
    pub(crate) upcoming: Vec<Upcoming>,
    /// Things the operator should know.
    #[serde(serialize_with = "crate::words::worded_all")]
    pub(crate) notes: Vec<Note>,
    /// Every active key's deadline under this plan, and the keys at risk.
    pub(crate) deadlines: Vec<KeyDeadline>,
    /// The canary cutover, when the target's cutover goes through one.
    #[serde(serialize_with = "crate::words::worded_option")]
    pub(crate) canary: Option<CanaryState>,
    /// The move onto the target's role set, once `migrate-to-role` made it.
    #[serde(serialize_with = "crate::words::worded_option")]
    pub(crate) migration: Option<Migration>,
}

impl Plan {
    /// Whether a safety rule stopped something that was due.
    pub(crate) fn refused(&self) -> bool {
        self.refusal.is_some()
            || !self.blocked.is_empty()
            || self.canary.as_ref().is_some_and(|c| c.stage.needs_human())
            || self.migration.as_ref().is_some_and(Migration::needs_human)
    }

    /// Every step, in the order they are carried out.
    pub(crate) fn steps(&self) -> impl Iterator<Item = Step<'_>> {
        self.repair
            .iter()
            .map(Step::Repair)
            .chain(self.cutover.iter().map(Step::Repoint))
            .chain(self.retire.iter().map(Step::Retire))
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.repair.is_empty() && self.cutover.is_empty() && self.retire.is_empty()
    }

    /// The keys that may still be active at their deadline.
    pub(crate) fn at_risk(&self) -> impl Iterator<Item = (&KeyDeadline, Risk)> {
        self.deadlines.iter().filter_map(|d| d.risk.map(|r| (d, r)))
    }

    /// Adds a record of `mark` about `key` unless the plan already has it.
    fn record(&mut self, key: &AccessKeyId, mark: Mark) {
        let step = Retire::Record {
            key: key.clone(),
            mark,
        };
        if !self.retire.contains(&step) {
            self.retire.push(step);
        }
    }
}

/// How long after an exposure was recorded `rotate --emergency` without named keys takes
/// itself for a rerun of the same emergency (and records nothing new).
pub(crate) const EMERGENCY_RERUN: time::Duration = time::Duration::days(1);

/// Whether a set of the target holds `key` (or held it before an in-place rotation).
pub(crate) fn holds(view: &View, key: &AccessKeyId) -> bool {
    view.sets
        .iter()
        .any(|s| s.link.key() == Some(key) || s.previous.as_ref() == Some(key))
}

/// Plans one target. Pure: same input, same plan.
///
/// A recorded exposure is an emergency until it is finished: `reconcile` plans as
/// `rotate --emergency` while an exposed key of the target's sets is still active.
pub fn plan(target: &Target, obs: &Observed, now: OffsetDateTime, mode: Mode) -> Plan {
    let view = resolve(target, obs, now);
    let active = |k: &AccessKeyId| {
        obs.keys
            .iter()
            .any(|x| &x.id == k && x.status == crate::model::KeyStatus::Active)
    };
    let exposed_active: Vec<&AccessKeyId> =
        obs.records.exposed.keys().filter(|k| active(k)).collect();
    let mode = match mode {
        Mode::Reconcile if exposed_active.iter().any(|k| holds(&view, k)) => Mode::Emergency,
        m => m,
    };
    let (current, due) = rotate::rotation_due(target, obs, &view, now, mode);
    let mut plan = Plan {
        target: target.name.clone(),
        current,
        due,
        repair: Vec::new(),
        cutover: Vec::new(),
        retire: Vec::new(),
        refusal: None,
        blocked: Vec::new(),
        upcoming: Vec::new(),
        notes: view.notes.clone(),
        deadlines: Vec::new(),
        canary: None,
        migration: None,
    };
    if !migrate::needs_key(target, obs) {
        plan.due = Due {
            now: false,
            reason: DueReason::Migrated {
                set_id: target.role_set_id.clone(),
            },
            next: None,
        };
    }
    // An exposed key no set of the target holds is not this tool's to switch off.
    for k in exposed_active.iter().filter(|k| !holds(&view, k)) {
        plan.notes
            .push(Note::ExposedUnmanaged { key: (*k).clone() });
    }
    match (mode, view.busy) {
        (_, Some(since)) => {
            plan.refusal = Some(Refusal::Busy {
                since,
                until: since.saturating_add(IN_FLIGHT_LIMIT),
            });
        }
        (Mode::Rollback, None) => rollback::rollback(target, obs, &view, &mut plan),
        (Mode::Retire, None) => retire::retire(target, obs, &view, now, &mut plan),
        (Mode::Rotate | Mode::Reconcile | Mode::Emergency, None) => {
            resolve::clean_up(&view, &mut plan);
            rotate::rotate_and_repoint(target, obs, &view, now, mode, &mut plan);
            match mode {
                Mode::Reconcile => retire::retire(target, obs, &view, now, &mut plan),
                Mode::Emergency => {
                    retire::retire(target, obs, &view, now, &mut plan);
                    retire::retire_released(obs, &view, &mut plan);
                }
                _ => {}
            }
        }
    }
    retire::forget_returned_cutovers(obs, &view, &mut plan);
    if let Some(next) = plan.due.next.filter(|_| !plan.due.now) {
        plan.upcoming.insert(
            0,
            Upcoming {
                step: Next::Rotate,
                due: next,
            },
        );
    }
    plan.deadlines = deadline::deadlines(target, obs, &view, now, mode, &plan);
    plan
}
