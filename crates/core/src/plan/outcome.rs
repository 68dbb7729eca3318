//! What a plan tells the operator besides its steps: why it refuses, what it notes, which
//! old key is blocked, what becomes due when, and why rotation is (not) due. Plain values
//! with a stable `code` in JSON; their wording lives in [`crate::wording`].

use serde::Serialize;
use time::OffsetDateTime;

use crate::model::{AuthFailure, Holder, KeyStatus, LastUsed};
use crate::plan::KeyState;
use crate::secret::AccessKeyId;

/// Why a plan does not do what is due: a human must act (exit 3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "camelCase")]
pub(crate) enum Refusal {
    /// Another run is at work on the target (a key in flight, an announcement, a lease).
    #[serde(rename_all = "camelCase")]
    Busy {
        /// Since when.
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
        /// From when a run that died is cleaned up.
        #[serde(with = "time::serde::rfc3339")]
        until: OffsetDateTime,
    },
    /// Both key slots are taken and no key may be deleted to make room.
    #[serde(rename_all = "camelCase")]
    SlotsFull {
        /// The IAM user.
        iam_user: String,
        /// Both keys.
        keys: Vec<KeyBrief>,
        /// A retired key that may go later, if there is one.
        retired: Option<RetiredKey>,
    },
    /// Every id `<prefix>-<yymmdd>[-<n>]` of the day is taken.
    #[serde(rename_all = "camelCase")]
    NoFreeSetId,
    /// In place: the fixed set does not exist.
    #[serde(rename_all = "camelCase")]
    NoFixedSet {
        /// The set's id.
        set_id: String,
    },
    /// The last canary off the current key failed: `reconcile` does not rotate it again
    /// until a person has fixed the cause and runs `rotate`.
    #[serde(rename_all = "camelCase")]
    CanaryFailed {
        /// The current key.
        key: AccessKeyId,
        /// Its set.
        set_id: String,
        /// When the canary failed.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// A rollback that cannot be done.
    #[serde(rename_all = "camelCase")]
    Rollback {
        /// Why.
        why: RollbackRefusal,
    },
}

/// Why a rollback cannot be done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "camelCase")]
pub(crate) enum RollbackRefusal {
    /// In place, the previous secret is gone (SORACOM never returns it).
    InPlace,
    /// No set is in use.
    NoCurrent,
    /// The current set's key is not certain (the tool did not make it).
    #[serde(rename_all = "camelCase")]
    NotOurs {
        /// The current set.
        set_id: String,
    },
    /// No older set to go back to.
    #[serde(rename_all = "camelCase")]
    NoOlder {
        /// The current set.
        set_id: String,
    },
    /// The previous set's key is already inactive or gone.
    #[serde(rename_all = "camelCase")]
    PreviousRetired {
        /// The previous set.
        set_id: String,
    },
    /// Which key the previous set holds is not known.
    #[serde(rename_all = "camelCase")]
    PreviousUnknown {
        /// The previous set.
        set_id: String,
    },
}

/// A key, as a refusal names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KeyBrief {
    /// The key.
    pub(crate) key: AccessKeyId,
    /// Active or inactive.
    pub(crate) status: KeyStatus,
    /// When IAM created it.
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created: OffsetDateTime,
    /// Its last use, if any.
    pub(crate) last_used: Option<LastUsed>,
}

/// A retired key that may be deleted to make room later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RetiredKey {
    /// The key.
    pub(crate) key: AccessKeyId,
    /// From when (`None`: `delete_after_days` after this tool records it inactive).
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) deletable_from: Option<OffsetDateTime>,
    /// `delete_after_days`.
    pub(crate) delete_after_days: u32,
}

/// Something the operator should know.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "camelCase")]
pub(crate) enum Note {
    /// A set whose id looks like ours is of another type: never the tool's.
    #[serde(rename_all = "camelCase")]
    OtherType {
        /// The set.
        set_id: String,
        /// Its type.
        kind: String,
    },
    /// A key of the user that no set holds and this tool did not create: left alone.
    #[serde(rename_all = "camelCase")]
    ForeignKey {
        /// The key.
        key: AccessKeyId,
        /// The IAM user.
        iam_user: String,
        /// Its age.
        age_days: i64,
        /// Its last use.
        last_used: Option<LastUsed>,
    },
    /// A set names no key and the evidence is ambiguous.
    #[serde(rename_all = "camelCase")]
    AmbiguousLink {
        /// The set.
        set_id: String,
    },
    /// A set linked to its key by evidence only: not retired until adopted.
    #[serde(rename_all = "camelCase")]
    EvidenceOnly {
        /// The set.
        set_id: String,
        /// The key.
        key: AccessKeyId,
    },
    /// A holder uses a key of the target through a set that is not the target's: the key
    /// is not retired while it does.
    #[serde(rename_all = "camelCase")]
    HeldElsewhere {
        /// The key.
        key: AccessKeyId,
        /// The set that is not the target's.
        set_id: String,
    },
    /// A hand-made set names a key that no longer exists: reported, never deleted.
    #[serde(rename_all = "camelCase")]
    KeyGone {
        /// The set.
        set_id: String,
        /// The key it names.
        key: AccessKeyId,
    },
    /// References exist but no set of the target has a usable key.
    NoUsableSet,
    /// A rollback that is already done.
    #[serde(rename_all = "camelCase")]
    AlreadyRolledBack {
        /// The set the references are on.
        current: String,
        /// The set whose key is inactive.
        newer: String,
    },
    /// A key this tool deactivated is active again: left active, its retirement restarts.
    #[serde(rename_all = "camelCase")]
    Reactivated {
        /// The key.
        key: AccessKeyId,
        /// Its set.
        set_id: String,
    },
    /// An emergency deactivates an old key that was used after its cutover: whatever used
    /// it will fail from now on.
    #[serde(rename_all = "camelCase")]
    UsedAfterCutover {
        /// The key.
        key: AccessKeyId,
        /// The set that held it.
        set_id: String,
        /// When SORACOM stopped using it.
        #[serde(with = "time::serde::rfc3339")]
        cutover: OffsetDateTime,
        /// IAM's last use of the key.
        key_last_used: Option<LastUsed>,
        /// SORACOM's last use of the set.
        #[serde(with = "time::serde::rfc3339::option")]
        set_last_used: Option<OffsetDateTime>,
    },
    /// A key recorded exposed that no set of the target holds: this tool does not switch
    /// it off; a person must.
    #[serde(rename_all = "camelCase")]
    ExposedUnmanaged {
        /// The key.
        key: AccessKeyId,
    },
    /// A deactivation record older than the key's last use: the delay starts over.
    #[serde(rename_all = "camelCase")]
    StaleDeactivation {
        /// The key.
        key: AccessKeyId,
        /// Its set.
        set_id: String,
    },
    /// In place, the fixed set holds a key that is gone or not active: it gets a new key.
    #[serde(rename_all = "camelCase")]
    FixedSetBroken {
        /// The set.
        set_id: String,
        /// The key it held, if known.
        key: Option<AccessKeyId>,
        /// What is wrong with it.
        state: KeyState,
    },
    /// None of the canary holders named in the configuration references the target's
    /// sets: the first holder is the canary instead.
    #[serde(rename_all = "camelCase")]
    CanaryHoldersAbsent {
        /// The names configured.
        names: Vec<String>,
    },
}

/// An old key that must not be retired: it was used after its cutover.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Blocked {
    /// The key.
    pub(crate) key: AccessKeyId,
    /// The set that held it.
    pub(crate) set_id: String,
    /// When SORACOM stopped using it.
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) cutover: OffsetDateTime,
    /// IAM's last use of the key.
    pub(crate) key_last_used: Option<LastUsed>,
    /// SORACOM's last use of the set.
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) set_last_used: Option<OffsetDateTime>,
}

/// A step that becomes due later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "camelCase")]
pub(crate) enum Next {
    /// Rotate the current key.
    Rotate,
    /// Deactivate an old key.
    #[serde(rename_all = "camelCase")]
    Deactivate {
        /// The key.
        key: AccessKeyId,
        /// Its set.
        set_id: String,
    },
    /// Delete an inactive key (then its set).
    #[serde(rename_all = "camelCase")]
    Delete {
        /// The key.
        key: AccessKeyId,
        /// Its set (`None`: in place, kept).
        set_id: Option<String>,
    },
    /// The canary on `set_id` is decided without evidence (the configured choice).
    #[serde(rename_all = "camelCase")]
    CanaryDecided {
        /// The new set.
        set_id: String,
    },
}

/// A step that becomes due later, and from when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Upcoming {
    /// What will be done.
    #[serde(serialize_with = "crate::words::worded")]
    pub(crate) step: Next,
    /// From when.
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) due: OffsetDateTime,
}

/// Why rotation is (not) due.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "camelCase")]
pub(crate) enum DueReason {
    /// `rotate` was asked.
    Requested,
    /// The current key's age.
    #[serde(rename_all = "camelCase")]
    Age {
        /// The current set.
        set_id: String,
        /// The key's age in whole days.
        age_days: i64,
        /// The age in whole days rotation starts at.
        rotate_at_days: i64,
        /// `max_key_age_days`: the age no active key may reach.
        max_days: u32,
    },
    /// The current key's age is not known.
    #[serde(rename_all = "camelCase")]
    AgeUnknown {
        /// The current set.
        set_id: String,
    },
    /// No set of the target exists yet.
    #[serde(rename_all = "camelCase")]
    NoSet {
        /// The prefix, for `<prefix>-<yymmdd>`.
        prefix: String,
        /// The target, for `rotate --target`.
        target: String,
    },
    /// In place: the fixed set does not exist.
    #[serde(rename_all = "camelCase")]
    NoFixedSet {
        /// The set's id.
        set_id: String,
    },
    /// References name only sets whose key is missing or inactive.
    OnlyBrokenReferences,
    /// Every reference is on the target's role set: it never gets a new key.
    #[serde(rename_all = "camelCase")]
    Migrated {
        /// The role set.
        set_id: String,
    },
    /// In place: the fixed set holds a key that is gone or not active.
    #[serde(rename_all = "camelCase")]
    FixedSetBroken {
        /// The set.
        set_id: String,
        /// What is wrong with its key.
        state: KeyState,
    },
}

/// Whether rotation is due, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Due {
    /// Rotation is due now.
    pub(crate) now: bool,
    /// Why (or why not).
    #[serde(serialize_with = "crate::words::worded")]
    pub(crate) reason: DueReason,
    /// When the current key becomes due, if known.
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) next: Option<OffsetDateTime>,
}

/// How a key stands to its target: the one references use, an older one being retired, or
/// one no set of the target holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum KeyRole {
    /// The current set's key.
    Current,
    /// An older key, or an in-place set's previous one: retired on evidence.
    Old,
    /// No set of the target holds it: this tool neither rotates nor retires it.
    Other,
}

/// How close a key at risk is to its deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Severity {
    /// More than [`URGENT_DAYS`](crate::plan::deadline::URGENT_DAYS) days left.
    Warning,
    /// At most that many days left.
    Urgent,
    /// The key is active at or past its deadline.
    Missed,
}

/// Why a key may still be active at its deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum RiskCause {
    /// Its retirement is blocked: it was used after its cutover.
    Blocked,
    /// Rotation should have started and this run does not rotate (a refusal, a failure
    /// before, a dry run, or a command that does not rotate).
    RotationLate,
    /// Its deactivation, as scheduled now, comes at or after the deadline.
    DeactivationLate,
    /// Nothing this tool plans will deactivate it, and it is past the age rotation starts at.
    NotRetiring,
    /// Its canary found no evidence by `max_hours` and is held for a person.
    CanaryHeld,
    /// Its canary failed: `reconcile` does not rotate it until a person runs `rotate`.
    CanaryFailed,
}

/// A key that may still be active at its deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Risk {
    /// Why.
    #[serde(serialize_with = "crate::words::worded")]
    pub(crate) cause: RiskCause,
    /// How close the deadline is.
    pub(crate) severity: Severity,
}

/// One active key and the age it may not reach: its deadline, when its rotation starts,
/// when its deactivation is due, the days kept free between the two, and whether it is at
/// risk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KeyDeadline {
    /// The key.
    pub(crate) key: AccessKeyId,
    /// The owned set holding it (or that held it), if any.
    pub(crate) set_id: Option<String>,
    /// How it stands to the target.
    pub(crate) role: KeyRole,
    /// Its age in whole days.
    pub(crate) age_days: i64,
    /// When it reaches `max_key_age_days`.
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) deadline: OffsetDateTime,
    /// Whole days from now to the deadline (negative once past).
    pub(crate) days_left: i64,
    /// When its rotation starts (the current key only).
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) rotation_starts: Option<OffsetDateTime>,
    /// When it is to be deactivated, as things stand (`None`: nothing will).
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) deactivation_due: Option<OffsetDateTime>,
    /// Whole days between that deactivation and the deadline.
    pub(crate) slack_days: Option<i64>,
    /// Set when it may still be active at its deadline.
    pub(crate) risk: Option<Risk>,
}

/// Where a canary cutover stands (docs/ARCHITECTURE.md, *The canary*).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum CanaryStage {
    /// The canary references move onto the new set now; the run ends there.
    Starting,
    /// The canary runs; no decision yet.
    Watching,
    /// Positive evidence and `min_minutes` passed: the rest moves now.
    Passed,
    /// No evidence by `max_hours`, and the configuration says proceed: the rest moves now.
    Proceeded,
    /// No evidence by `max_hours`, and the configuration says hold: a person decides.
    Held,
    /// SORACOM logged AWS refusing the new key: the canary moves back and the new key and
    /// set are deleted.
    Failed,
}

impl CanaryStage {
    /// Whether a later run decides (the stage waits for evidence or time).
    pub(crate) fn waiting(self) -> bool {
        matches!(self, CanaryStage::Starting | CanaryStage::Watching)
    }

    /// Whether a person must act (exit 3, escalated like a blocked retirement).
    pub(crate) fn needs_human(self) -> bool {
        matches!(self, CanaryStage::Held | CanaryStage::Failed)
    }
}

/// What production showed since the canary moved.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Evidence {
    /// The new key's last use by a service other than STS, after the canary moved.
    pub(crate) key_used: Option<LastUsed>,
    /// The new set's `lastUsedDateTime`, after the canary moved.
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) set_used: Option<OffsetDateTime>,
    /// SORACOM's error logs of AWS refusing credentials, since the canary moved.
    pub(crate) failures: Vec<AuthFailure>,
}

impl Evidence {
    /// Whether something used the new key (or set) in production.
    pub(crate) fn positive(&self) -> bool {
        self.key_used.is_some() || self.set_used.is_some()
    }
}

/// A target's canary cutover, as this plan sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CanaryState {
    /// Where it stands, and so what this plan does.
    pub(crate) stage: CanaryStage,
    /// The old key (the canary's records are about it).
    pub(crate) key: AccessKeyId,
    /// The set the canary left (and goes back to on failure).
    pub(crate) from_set: String,
    /// The new set.
    pub(crate) to_set: String,
    /// The canary's holders.
    pub(crate) holders: Vec<Holder>,
    /// When the canary moved (`None` while it starts).
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) since: Option<OffsetDateTime>,
    /// When positive evidence is enough (`min_minutes` after `since`).
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) ready_from: Option<OffsetDateTime>,
    /// When the configured choice is made without evidence (`max_hours` after `since`).
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) decide_by: Option<OffsetDateTime>,
    /// The evidence so far.
    pub(crate) evidence: Evidence,
}

/// Where a target's move onto its role set stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum MigrationStage {
    /// References of kinds already proven on the role set move onto it.
    Moving,
    /// A holder kind's canary onto the role set.
    Canary(CanaryStage),
    /// Every kind still on the key refused the role set: the key stays for them.
    Partial,
    /// No reference names a key set: the target never gets a new key, and its keys retire.
    Migrated,
}

/// A target's migration onto its role set, as this plan sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Migration {
    /// Where it stands.
    pub(crate) stage: MigrationStage,
    /// The role set.
    pub(crate) role_set: String,
    /// The holder kind under a canary, if any.
    pub(crate) kind: Option<String>,
    /// Holder kinds that refused the role set (they stay on the key).
    pub(crate) refused: Vec<String>,
    /// When the kind's canary moved.
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) since: Option<OffsetDateTime>,
    /// The evidence so far (the role set's last use, SORACOM's error logs).
    pub(crate) evidence: Evidence,
}

impl Migration {
    /// Whether a person must act (a canary that failed or is held).
    pub(crate) fn needs_human(&self) -> bool {
        matches!(self.stage, MigrationStage::Canary(s) if s.needs_human())
    }
}
