//! Every sentence the tool says about a plan, in one place: its steps, refusals, notes,
//! blocked keys, upcoming steps and why rotation is (not) due. The text report, the JSON
//! (`message` beside each value's `code`), `status` and the notifications all word them
//! here, so rules and tests work on the typed values and never on the wording. The
//! reports that place these sentences are laid out in [`crate::render`].

use crate::discover::NotProposed;
use crate::model::{KeyStatus, LastUsed};
use crate::plan::{
    Blocked, DueReason, KeyDeadline, KeyState, Link, Next, Note, Refusal, Repair, Repoint, Retire,
    RiskCause, RollbackRefusal, Severity, Step,
};
use crate::records::Mark;
use crate::secret::AccessKeyId;

use crate::words::fmt_time;
/// The trait every sentence here implements (its home is `crate::words`), re-exported
/// where callers of the wording look for it.
pub use crate::words::Words;

/// The runbook entries (docs/runbooks.md) the tool's text sends a person to, one per
/// cause. Text names them whole (`see docs/runbooks.md#…`), so that a test can hold every
/// one in the sources to a heading that exists (crates/core/tests/docs.rs).
pub(crate) mod runbook {
    /// Another run holds the target.
    pub(crate) const BUSY: &str = "docs/runbooks.md#another-run-is-at-work";
    /// The IAM user has two keys and none may go.
    pub(crate) const SLOTS_FULL: &str = "docs/runbooks.md#both-key-slots-are-taken";
    /// Every set id of the day is taken.
    pub(crate) const NO_FREE_SET_ID: &str = "docs/runbooks.md#no-free-credential-set-id-today";
    /// The fixed set of an in-place target is missing.
    pub(crate) const NO_FIXED_SET: &str =
        "docs/runbooks.md#the-fixed-credential-set-does-not-exist";
    /// An old key used after its cutover.
    pub(crate) const BLOCKED: &str = "docs/runbooks.md#an-old-key-was-used-after-its-cutover";
    /// A rotation's canary failed.
    pub(crate) const CANARY_FAILED: &str = "docs/runbooks.md#a-canary-failed";
    /// A due rotation waits after a failed canary.
    pub(crate) const ROTATION_HELD: &str =
        "docs/runbooks.md#rotation-is-held-after-a-failed-canary";
    /// A rotation's canary found no evidence either way.
    pub(crate) const CANARY_HELD: &str = "docs/runbooks.md#a-canary-is-held-without-evidence";
    /// AWS refused the role for a holder kind.
    pub(crate) const ROLE_CANARY_FAILED: &str = "docs/runbooks.md#a-role-canary-failed";
    /// A holder kind's canary onto the role set found no evidence either way.
    pub(crate) const ROLE_CANARY_HELD: &str =
        "docs/runbooks.md#a-role-canary-is-held-without-evidence";
    /// Rollback of an in-place set.
    pub(crate) const ROLLBACK_IN_PLACE: &str = "docs/runbooks.md#rollback-refused-in-place";
    /// Rollback without a current set.
    pub(crate) const ROLLBACK_NO_CURRENT: &str = "docs/runbooks.md#rollback-refused-no-current-set";
    /// Rollback of a set the tool did not make.
    pub(crate) const ROLLBACK_NOT_OURS: &str =
        "docs/runbooks.md#rollback-refused-the-current-set-was-not-made-by-the-tool";
    /// Rollback without an older set.
    pub(crate) const ROLLBACK_NO_OLDER: &str = "docs/runbooks.md#rollback-refused-no-older-set";
    /// Rollback onto a retired key.
    pub(crate) const ROLLBACK_RETIRED: &str =
        "docs/runbooks.md#rollback-refused-the-previous-key-is-retired";
    /// Rollback onto a set whose key is not known.
    pub(crate) const ROLLBACK_UNKNOWN: &str =
        "docs/runbooks.md#rollback-refused-the-previous-key-is-unknown";
    /// References SORACOM documents as accepting role credentials.
    pub(crate) const ROLE_CREDENTIALS: &str = "docs/runbooks.md#advice-role-credentials";
    /// References that may accept role credentials (not documented).
    pub(crate) const ROLE_CREDENTIALS_UNVERIFIED: &str =
        "docs/runbooks.md#advice-role-credentials-may-work";
    /// An active key older than Security Hub's IAM.3 allows.
    pub(crate) const IAM3: &str = "docs/runbooks.md#finding-iam3";
}

/// Which key a set holds, and how that is known.
pub(crate) fn describe_link(link: &Link) -> String {
    match link {
        Link::Api(k) => format!("key {k} (reported by SORACOM)"),
        Link::Description(k) => format!("key {k} (named in its description)"),
        Link::Adopted(k) => format!("key {k} (from adopt_keys)"),
        Link::Evidence(k) => format!("key {k} (linked by evidence)"),
        Link::Unknown => "key unknown".to_string(),
    }
}

/// Which key a set holds, and how that is known, for a table's cell.
pub(crate) fn key_of(link: &Link) -> String {
    match link {
        Link::Api(k) => format!("{k} (SORACOM)"),
        Link::Description(k) => format!("{k} (description)"),
        Link::Adopted(k) => format!("{k} (adopt_keys)"),
        Link::Evidence(k) => format!("{k} (evidence)"),
        Link::Unknown => "unknown".to_string(),
    }
}

/// One line describing a step.
pub fn describe(step: Step<'_>) -> String {
    match step {
        Step::Repair(r) => r.words(),
        Step::Repoint(r) => r.words(),
        Step::Retire(r) => r.words(),
    }
}

impl Words for Repair {
    fn words(&self) -> String {
        match self {
            Repair::DeleteOrphanKey { key } => {
                format!("delete access key {key}, left by an interrupted run (its secret is lost)")
            }
            Repair::MakeRoom {
                key,
                set_id: Some(set_id),
            } => {
                format!("make room: delete retired inactive key {key} and its unused set {set_id}")
            }
            Repair::MakeRoom { key, set_id: None } => {
                format!("make room: delete retired inactive key {key}")
            }
            Repair::Rotate { new_set_id } => format!(
                "rotate: create an access key, verify it with STS, register it as {new_set_id}"
            ),
            Repair::RotateInPlace { set_id, .. } => format!(
                "rotate in place: create an access key, verify it with STS, put it into {set_id}"
            ),
            Repair::ForgetCutover { key } => format!(
                "remove the cutover record of key {key}: its set is referenced again (recorded \
                 anew once no reference is left)"
            ),
            Repair::StartCanary { key } => format!(
                "record that a canary moves off the set of key {key} now (evidence counts from here)"
            ),
            Repair::FailCanary { key } => format!(
                "record that the canary off the set of key {key} failed (before it moves back)"
            ),
            Repair::StartRoleCanary { kind } => format!(
                "record that a canary of the {kind} holders moves onto the role set now"
            ),
            Repair::RefuseRole { kind } => format!(
                "record that the {kind} holders refused the role set (they stay on the key)"
            ),
        }
    }
}

impl Words for Repoint {
    fn words(&self) -> String {
        format!(
            "repoint {}: {} -> {}",
            self.slot.holder,
            self.from.join(", "),
            self.to
        )
    }
}

/// A move left undone: someone moved the reference after the run read the holder, and it
/// stays where they put it (docs/ARCHITECTURE.md, invariant 6).
pub struct LeftAlone<'a> {
    /// The move.
    pub action: &'a Repoint,
    /// What the references name now (none: they are gone).
    pub now: &'a [String],
}

impl Words for LeftAlone<'_> {
    fn words(&self) -> String {
        let now = if self.now.is_empty() {
            "no set any more".to_string()
        } else {
            self.now.join(", ")
        };
        format!(
            "left {} where someone put it after this run read it (it now names {now}); \
             not moved to {}",
            self.action.slot.holder, self.action.to
        )
    }
}

impl Words for Retire {
    fn words(&self) -> String {
        match self {
            Retire::Deactivate { key, set_id } => {
                format!("deactivate access key {key} of {set_id}")
            }
            Retire::DeleteRetired {
                key,
                set_id: Some(set_id),
            } => format!("delete inactive access key {key}, then its set {set_id}"),
            Retire::DeleteRetired { key, set_id: None } => {
                format!("delete inactive access key {key}")
            }
            Retire::Record {
                key,
                mark: Mark::Released,
            } => format!("record that the set of key {key} has no reference left (its cutover)"),
            Retire::Record {
                key,
                mark: Mark::Deactivated,
            } => format!("record that key {key} is inactive (the delete delay counts from now)"),
            Retire::Record {
                key,
                mark: Mark::Exposed,
            } => format!("record that key {key} is exposed (an emergency retires it at once)"),
            Retire::Record {
                key,
                mark: Mark::Canary,
            } => format!("record that a canary moved off the set of key {key}"),
            Retire::Record {
                key,
                mark: Mark::CanaryFailed,
            } => format!("record that the canary off the set of key {key} failed"),
            Retire::EndRoleCanary { kind } => {
                format!("remove the record of the {kind} holders' canary onto the role set")
            }
            Retire::DropCanary { key, set_id } => {
                format!("delete the failed canary's access key {key}, then its set {set_id}")
            }
            Retire::DeleteSet { set_id, .. } => {
                format!("delete credential set {set_id}, whose key no longer exists")
            }
            Retire::Forget { key } => {
                format!("remove the records of access key {key}, which no longer exists")
            }
            Retire::Unrecord {
                key,
                mark: Mark::Deactivated,
            } => format!("remove the record that key {key} is inactive: it is active again"),
            Retire::Unrecord {
                key,
                mark: Mark::Released,
            } => format!("remove the cutover record of key {key}: its set is referenced again"),
            Retire::Unrecord {
                key,
                mark: Mark::Exposed,
            } => format!("remove the record that key {key} is exposed"),
            Retire::Unrecord {
                key,
                mark: Mark::Canary,
            } => format!("remove the canary record of key {key}: the canary is over"),
            Retire::Unrecord {
                key,
                mark: Mark::CanaryFailed,
            } => format!(
                "remove the record that the canary off key {key} failed: a rotation was asked for"
            ),
            Retire::ForgetRun { tag } => format!("remove the record {tag} of a run that ended"),
            Retire::MarkHeld { key, set_id } => {
                format!("record that credential set {set_id} holds access key {key}")
            }
        }
    }
}

impl Words for Refusal {
    fn words(&self) -> String {
        match self {
            Refusal::Busy { since, until } => format!(
                "another run has been rotating this target since {} (a key in flight); this run \
                 changes nothing. If that run died, its key is cleaned up from {}: see {}",
                fmt_time(*since),
                fmt_time(*until),
                runbook::BUSY
            ),
            Refusal::SlotsFull {
                iam_user,
                keys,
                retired,
            } => {
                let list: Vec<String> = keys
                    .iter()
                    .map(|k| {
                        let used = match &k.last_used {
                            Some(u) => format!(
                                "last used {} ({}, {})",
                                fmt_time(u.at),
                                u.service,
                                u.region
                            ),
                            None => "never used".into(),
                        };
                        let status = k.status.words();
                        format!(
                            "{} ({status}, created {}, {used})",
                            k.key,
                            fmt_time(k.created)
                        )
                    })
                    .collect();
                let mut text = format!(
                    "IAM user {iam_user} already has two access keys: {}. Only an inactive key that \
                     soracom-key-rotator retired may be deleted to make room.",
                    list.join("; ")
                );
                if let Some(r) = retired {
                    let when = match r.deletable_from {
                        Some(t) => format!("from {}", fmt_time(t)),
                        None => format!(
                            "{} days after this tool records it inactive",
                            r.delete_after_days
                        ),
                    };
                    text.push_str(&format!(
                        " The retired key {} may be deleted to make room only {when} \
                         (delete_after_days).",
                        r.key
                    ));
                }
                text.push_str(&format!(" See {}", runbook::SLOTS_FULL));
                text
            }
            Refusal::NoFreeSetId => format!(
                "no free credential set id on this date: see {}",
                runbook::NO_FREE_SET_ID
            ),
            Refusal::NoFixedSet { set_id } => format!(
                "credential set {set_id} does not exist or holds no usable key; create it by \
                 hand once, then rotate: see {}",
                runbook::NO_FIXED_SET
            ),
            Refusal::Rollback { why } => format!(
                "rollback refused: {}: see {}",
                why.words(),
                rollback_runbook(why)
            ),
            Refusal::CanaryFailed { key, set_id, at } => format!(
                "the canary off key {key} of {set_id} failed at {}: reconcile does not rotate \
                 it again until a person fixes what made AWS refuse the new key and runs \
                 `soracom-key-rotator rotate`: see {}",
                fmt_time(*at),
                runbook::ROTATION_HELD
            ),
        }
    }
}

/// The runbook entry of a refused rollback.
fn rollback_runbook(why: &RollbackRefusal) -> &'static str {
    match why {
        RollbackRefusal::InPlace => runbook::ROLLBACK_IN_PLACE,
        RollbackRefusal::NoCurrent => runbook::ROLLBACK_NO_CURRENT,
        RollbackRefusal::NotOurs { .. } => runbook::ROLLBACK_NOT_OURS,
        RollbackRefusal::NoOlder { .. } => runbook::ROLLBACK_NO_OLDER,
        RollbackRefusal::PreviousRetired { .. } => runbook::ROLLBACK_RETIRED,
        RollbackRefusal::PreviousUnknown { .. } => runbook::ROLLBACK_UNKNOWN,
    }
}

impl Words for RollbackRefusal {
    fn words(&self) -> String {
        match self {
            RollbackRefusal::InPlace => {
                "an in-place set cannot go back: SORACOM never returns the previous secret".into()
            }
            RollbackRefusal::NoCurrent => "there is no current credential set".into(),
            RollbackRefusal::NotOurs { set_id } => {
                format!("the current set {set_id} was not made by soracom-key-rotator")
            }
            RollbackRefusal::NoOlder { set_id } => format!("there is no set older than {set_id}"),
            RollbackRefusal::PreviousRetired { set_id } => format!(
                "the key of the previous set {set_id} is already inactive or deleted; rotate instead"
            ),
            RollbackRefusal::PreviousUnknown { set_id } => {
                format!("which key the previous set {set_id} holds is not known")
            }
        }
    }
}

fn state_words(state: KeyState) -> &'static str {
    match state {
        KeyState::Missing => "gone",
        _ => "not active",
    }
}

impl Words for Note {
    fn words(&self) -> String {
        match self {
            Note::OtherType { set_id, kind } => format!(
                "credential set {set_id} is of type {kind}: only {} sets are managed; it is left \
                 alone",
                crate::plan::AWS_CREDENTIALS
            ),
            Note::ForeignKey {
                key,
                iam_user,
                age_days,
                last_used,
            } => format!(
                "key {key} of {iam_user} ({age_days} days old, {}) is not held by any \
                 credential set of this target and was not created by a run of \
                 soracom-key-rotator; it is left alone",
                last_use(last_used.as_ref())
            ),
            Note::AmbiguousLink { set_id } => format!(
                "credential set {set_id} names no access key and the evidence is ambiguous; \
                 record its key in adopt_keys"
            ),
            Note::EvidenceOnly { set_id, key } => format!(
                "set {set_id} is linked to key {key} by evidence only; add it to adopt_keys to \
                 let it be retired"
            ),
            Note::HeldElsewhere { key, set_id } => format!(
                "key {key} is used through set {set_id}, which is not this target's; it is not \
                 retired while a holder names that set"
            ),
            Note::KeyGone { set_id, key } => format!(
                "set {set_id} names key {key}, which no longer exists; check adopt_keys, or \
                 delete the set by hand"
            ),
            Note::NoUsableSet => {
                "references exist but no credential set of this target has a usable key".into()
            }
            Note::AlreadyRolledBack { current, newer } => format!(
                "already rolled back: references are on {current} and the key of {newer} is \
                 inactive"
            ),
            Note::Reactivated { key, set_id } => format!(
                "key {key} of {set_id} is active again after soracom-key-rotator deactivated it; \
                 it is left active and its retirement starts over"
            ),
            Note::UsedAfterCutover {
                key,
                set_id,
                cutover,
                key_last_used,
                set_last_used,
            } => format!(
                "old key {key} of {set_id} was used after the cutover at {} ({}); the emergency \
                 deactivates it anyway: whatever still uses it fails from now on",
                fmt_time(*cutover),
                use_after(set_id, *cutover, key_last_used.as_ref(), *set_last_used)
            ),
            Note::ExposedUnmanaged { key } => format!(
                "key {key} is recorded exposed but no credential set of this target holds it: \
                 soracom-key-rotator does not switch it off; deactivate it by hand"
            ),
            Note::StaleDeactivation { key, set_id } => format!(
                "key {key} of {set_id} was used after it was recorded inactive; its delete delay \
                 starts over"
            ),
            Note::FixedSetBroken { set_id, key, state } => format!(
                "credential set {set_id} held key {}, which is {}; it gets a new key",
                key.as_ref()
                    .map_or("(unknown)".to_string(), |k| k.to_string()),
                state_words(*state)
            ),
            Note::CanaryHoldersAbsent { names } => format!(
                "none of the canary holders ({}) references this target's sets; the first \
                 holder is the canary instead",
                names.join(", ")
            ),
        }
    }
}

/// A key's last use as IAM reports it: when, by which service, in which region.
fn last_use(last_used: Option<&LastUsed>) -> String {
    match last_used {
        Some(u) => format!(
            "last used {} by {} in {}",
            fmt_time(u.at),
            u.service,
            u.region
        ),
        None => "never used".to_string(),
    }
}

impl Words for Blocked {
    fn words(&self) -> String {
        format!(
            "old key {} of {} was used after the cutover at {}: {}. It stays active until a \
             person switches it off, even once that use stops: see {}",
            self.key,
            self.set_id,
            fmt_time(self.cutover),
            use_after(
                &self.set_id,
                self.cutover,
                self.key_last_used.as_ref(),
                self.set_last_used
            ),
            runbook::BLOCKED
        )
    }
}

/// Who used a key after its cutover: IAM's last use (service, region, time) and SORACOM's
/// last use of the set.
pub(crate) fn use_after(
    set_id: &str,
    cutover: time::OffsetDateTime,
    key_last_used: Option<&crate::model::LastUsed>,
    set_last_used: Option<time::OffsetDateTime>,
) -> String {
    let mut evidence = Vec::new();
    if let Some(u) = key_last_used.filter(|u| u.at > cutover) {
        evidence.push(format!(
            "IAM shows it used {} by {} in {}",
            fmt_time(u.at),
            u.service,
            u.region
        ));
    }
    if let Some(t) = set_last_used.filter(|t| *t > cutover) {
        evidence.push(format!("SORACOM shows set {set_id} used {}", fmt_time(t)));
    }
    evidence.join("; ")
}

impl Words for Next {
    fn words(&self) -> String {
        match self {
            Next::Rotate => "rotate the current key".into(),
            Next::Deactivate { key, set_id } => format!("deactivate key {key} of {set_id}"),
            Next::Delete {
                key,
                set_id: Some(s),
            } => format!("delete key {key}, then set {s}"),
            Next::Delete { key, set_id: None } => format!("delete key {key}"),
            Next::CanaryDecided { set_id } => {
                format!("decide the canary on {set_id} without evidence (canary.without_evidence)")
            }
        }
    }
}

impl Words for DueReason {
    fn words(&self) -> String {
        match self {
            DueReason::Requested => "rotation requested".into(),
            DueReason::Age {
                set_id,
                age_days,
                rotate_at_days,
                max_days,
            } => format!(
                "key of {set_id} is {age_days} days old; rotation starts at {rotate_at_days} \
                 days so that the old key is off before {max_days}"
            ),
            DueReason::AgeUnknown { set_id } => {
                format!("the age of the key of {set_id} is unknown")
            }
            DueReason::NoSet { prefix, target } => format!(
                "no credential set {prefix}-<yymmdd> exists; run `rotate --target {target}` to \
                 create the first, or adopt the set in use"
            ),
            DueReason::NoFixedSet { set_id } => {
                format!("credential set {set_id} does not exist; create it by hand once")
            }
            DueReason::OnlyBrokenReferences => {
                "references name only sets whose key is missing or inactive".into()
            }
            DueReason::Migrated { set_id } => format!(
                "migrated: every reference is on the role set {set_id}; the target never gets \
                 a new key"
            ),
            DueReason::FixedSetBroken { set_id, state } => format!(
                "credential set {set_id} holds a key that is {}: it gets a new, verified key",
                state_words(*state)
            ),
        }
    }
}

impl Words for RiskCause {
    fn words(&self) -> String {
        match self {
            RiskCause::Blocked => "its retirement is blocked: it was used after its cutover",
            RiskCause::RotationLate => "its rotation should have started and has not",
            RiskCause::DeactivationLate => "its deactivation falls at or after its deadline",
            RiskCause::NotRetiring => {
                "nothing this tool plans will deactivate it (no set of the target holds it, or \
                 its retirement cannot start)"
            }
            RiskCause::CanaryHeld => {
                "its canary found no evidence either way and is held for a person to decide"
            }
            RiskCause::CanaryFailed => {
                "its canary failed, and reconcile does not rotate it again until a person \
                 runs rotate"
            }
        }
        .into()
    }
}

impl Words for Severity {
    fn words(&self) -> String {
        match self {
            Severity::Warning => "deadline at risk",
            Severity::Urgent => "deadline URGENT",
            Severity::Missed => "deadline MISSED",
        }
        .into()
    }
}

impl Words for KeyDeadline {
    fn words(&self) -> String {
        let days = match self.days_left {
            d if d < 0 => format!("{} days past", -d),
            1 => "1 day left".to_string(),
            d => format!("{d} days left"),
        };
        let mut line = format!(
            "key {}{}: deadline {} ({days})",
            self.key,
            self.set_id
                .as_ref()
                .map(|s| format!(" of {s}"))
                .unwrap_or_default(),
            fmt_time(self.deadline)
        );
        if let Some(t) = self.rotation_starts {
            line.push_str(&format!("; rotation starts {}", fmt_time(t)));
        }
        match (self.deactivation_due, self.slack_days) {
            (Some(t), Some(s)) => line.push_str(&format!(
                "; deactivation due {} ({s} days before the deadline)",
                fmt_time(t)
            )),
            _ => line.push_str("; no deactivation planned"),
        }
        if let Some(r) = &self.risk {
            line.push_str(&format!(". {}: {}", r.severity.words(), r.cause.words()));
        }
        line
    }
}

impl Words for crate::plan::Migration {
    fn words(&self) -> String {
        use crate::plan::MigrationStage as M;
        let mut text = match (&self.stage, &self.kind) {
            (M::Migrated, _) => format!(
                "migrated: every reference is on the role set {}; no new key is ever made, \
                 and the keys are retired on evidence",
                self.role_set
            ),
            (M::Partial, _) => format!(
                "partly migrated onto {}: the holders left on the key refused the role set",
                self.role_set
            ),
            (M::Moving, _) => format!("moving references onto the role set {}", self.role_set),
            (M::Canary(stage), kind) => format!(
                "canary of the {} holders onto the role set {}: {}",
                kind.as_deref().unwrap_or("?"),
                self.role_set,
                role_stage(*stage)
            ),
        };
        if let Some(since) = self.since {
            text.push_str(&format!("; since {}", fmt_time(since)));
        }
        if let Some(t) = self.evidence.set_used {
            text.push_str(&format!("; role set used at {}", fmt_time(t)));
        }
        if let Some(f) = self.evidence.failures.first() {
            text.push_str(&format!("; {}", f.words()));
        }
        if !self.refused.is_empty() {
            text.push_str(&format!(
                "; refused the role set (stay on the key): {}",
                self.refused.join(", ")
            ));
        }
        text
    }
}

/// Where a holder kind's canary onto the role set stands. Not a rotation's canary: there
/// is no new key, and nothing to roll back; a held one is let through or given up.
fn role_stage(stage: crate::plan::CanaryStage) -> String {
    use crate::plan::CanaryStage as S;
    match stage {
        S::Starting => {
            "starting: one holder moves onto the role set now, the rest wait for evidence"
        }
        S::Watching => "watching: waiting for evidence from production",
        S::Passed => {
            "passed: the role set worked in production; the kind's other holders move \
             now"
        }
        S::Proceeded => {
            "no evidence by max_hours; proceeding as configured: the kind's other \
             holders move now"
        }
        S::Held => {
            return format!(
                "HELD: no evidence by max_hours; a person lets it proceed or gives the \
                 migration up: see {}",
                runbook::ROLE_CANARY_HELD
            )
        }
        S::Failed => {
            return format!(
                "FAILED: AWS refused the role in production; the kind moves back to the key \
                 and stays there: see {}",
                runbook::ROLE_CANARY_FAILED
            )
        }
    }
    .into()
}

impl Words for crate::plan::CanaryStage {
    fn words(&self) -> String {
        use crate::plan::CanaryStage as S;
        match self {
            S::Starting => "starting: the canary moves now, the rest waits for evidence",
            S::Watching => "watching: waiting for evidence from production",
            S::Passed => "passed: the new key worked in production; the rest moves now",
            S::Proceeded => {
                "no evidence by max_hours; proceeding as configured: the rest moves now"
            }
            S::Held => {
                return format!(
                    "HELD: no evidence by max_hours; a person decides whether the rest moves: \
                     see {}",
                    runbook::CANARY_HELD
                )
            }
            S::Failed => {
                return format!(
                    "FAILED: AWS refused the new key; the canary moves back and the new key and \
                     set are deleted: see {}",
                    runbook::CANARY_FAILED
                )
            }
        }
        .into()
    }
}

impl Words for crate::model::AuthFailure {
    fn words(&self) -> String {
        let on = self
            .resource_id
            .as_deref()
            .map(|r| format!(" for {r}"))
            .unwrap_or_default();
        format!(
            "{} logged {}{on} at {}",
            self.service,
            self.error,
            fmt_time(self.at)
        )
    }
}

impl Words for crate::plan::CanaryState {
    fn words(&self) -> String {
        let holders: Vec<String> = self.holders.iter().map(|h| h.to_string()).collect();
        let mut text = format!(
            "{} -> {} on {}: {}",
            self.from_set,
            self.to_set,
            holders.join(", "),
            self.stage.words()
        );
        if let Some(since) = self.since {
            text.push_str(&format!("; since {}", fmt_time(since)));
        }
        let e = &self.evidence;
        let mut seen = Vec::new();
        if let Some(u) = &e.key_used {
            seen.push(format!(
                "new key used by {} in {} at {}",
                u.service,
                u.region,
                fmt_time(u.at)
            ));
        }
        if let Some(t) = e.set_used {
            seen.push(format!("new set used at {}", fmt_time(t)));
        }
        let n = e.failures.len();
        if let Some(f) = e.failures.first() {
            let more = if n > 1 {
                format!(" (and {} more)", n - 1)
            } else {
                String::new()
            };
            seen.push(format!("{}{more}", f.words()));
        }
        if seen.is_empty() {
            text.push_str("; evidence: none yet");
        } else {
            text.push_str(&format!("; evidence: {}", seen.join("; ")));
        }
        if self.stage.waiting() {
            if let Some(r) = self.ready_from {
                text.push_str(&format!(
                    "; the rest moves on evidence from {}",
                    fmt_time(r)
                ));
            }
            if let Some(d) = self.decide_by {
                text.push_str(&format!("; without evidence decided at {}", fmt_time(d)));
            }
        }
        text
    }
}

/// A key older than Security Hub's IAM.3 allows.
pub(crate) fn iam3_finding(key: &AccessKeyId, age_days: i64, max_days: i64) -> String {
    format!(
        "active key {key} is {age_days} days old; Security Hub IAM.3 fails active keys older \
         than {max_days} days: see {}",
        runbook::IAM3
    )
}

/// Advice where SORACOM documents role credentials (an event handler's Lambda action), for
/// `every` reference of target `target` or some.
pub(crate) fn role_advice(every: bool, target: &str) -> String {
    let which = if every {
        "every reference is an event handler"
    } else {
        "some references are event handlers"
    };
    format!(
        "{which}, documented to take role credentials: `migrate-to-role \
         --target {target}`; see {}",
        runbook::ROLE_CREDENTIALS
    )
}

/// Advice where role credentials are not documented (`kinds` of reference), tried only
/// through a canary; Funk's cites the SORACOM Labs example that uses them.
pub(crate) fn role_probe_advice(kinds: &[String], funk: bool, target: &str) -> String {
    let example = if funk {
        "; a SORACOM Labs example uses them with Funk"
    } else {
        ""
    };
    format!(
        "{} may take role credentials (undocumented{example}): `migrate-to-role --target \
         {target}` tries them through a canary; see {}",
        kinds.join(", "),
        runbook::ROLE_CREDENTIALS_UNVERIFIED
    )
}

impl Words for crate::config::AccountSource {
    fn words(&self) -> String {
        use crate::config::{AccountSource, Coverage};
        match self {
            AccountSource::Configured => "from the configuration ([soracom] aws_account_id)",
            AccountSource::Default(Coverage::Jp) => {
                "the default for Japan coverage, from SORACOM Labs' example \
                 soracom-labs/soracom-button-integrate-line-works-message-bot-example (the \
                 account SORACOM Funk's role trusts) and a SORACOM engineer's published trust \
                 policy; docs/configuration.md#soracoms-aws-account"
            }
            AccountSource::Default(Coverage::G) => {
                "the default for global coverage, from two independent community \
                 repositories (no official page found); \
                 docs/configuration.md#soracoms-aws-account"
            }
        }
        .into()
    }
}

impl Words for crate::config::Strategy {
    fn words(&self) -> String {
        match self {
            crate::config::Strategy::Repoint => "repoint",
            crate::config::Strategy::InPlace => "in place",
        }
        .into()
    }
}

impl Words for KeyState {
    fn words(&self) -> String {
        match self {
            KeyState::Active => "active",
            KeyState::Inactive => "inactive",
            KeyState::Missing => "gone",
            KeyState::Unknown => "unknown",
        }
        .into()
    }
}

impl Words for KeyStatus {
    fn words(&self) -> String {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Inactive => "inactive",
        }
        .into()
    }
}

impl Words for NotProposed {
    fn words(&self) -> String {
        match self {
            NotProposed::OtherAccount { set, key } => format!(
                "set {set}: its key {key} belongs to no IAM user of this account (another account's key?); rotate it there"
            ),
            NotProposed::KeyUnknown { set } => format!(
                "set {set}: SORACOM reports no access key id for it; name its key in adopt_keys of the right target by hand"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{CanaryStage, Evidence, Migration, MigrationStage};

    fn role_canary(stage: CanaryStage) -> String {
        Migration {
            stage: MigrationStage::Canary(stage),
            role_set: "funnel-role".into(),
            kind: Some("event-handler".into()),
            refused: Vec::new(),
            since: None,
            evidence: Evidence::default(),
        }
        .words()
    }

    /// A canary onto the role set has no new key and nothing to roll back: its words say
    /// neither, and one that needs a person points to the role canary's runbook entry.
    #[test]
    fn a_role_canary_is_worded_as_a_role_set() {
        use CanaryStage as S;
        for stage in [
            S::Starting,
            S::Watching,
            S::Passed,
            S::Proceeded,
            S::Held,
            S::Failed,
        ] {
            let text = role_canary(stage);
            assert!(!text.contains("new key"), "{stage:?}: {text}");
            assert!(!text.contains("rollback"), "{stage:?}: {text}");
        }
        assert!(role_canary(S::Passed).contains("the role set worked in production"));
        let held = role_canary(S::Held);
        assert!(held.ends_with(runbook::ROLE_CANARY_HELD), "{held}");
        let failed = role_canary(S::Failed);
        assert!(failed.ends_with(runbook::ROLE_CANARY_FAILED), "{failed}");
    }
}
