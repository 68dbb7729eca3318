//! The decisions made while a plan is carried out: pure functions of what the executor
//! just read, so that the executor (the `rotator` crate's `apply`) only carries out and
//! reports. Each answers one question the executor asks between two remote calls
//! (docs/ARCHITECTURE.md, *Where is the rule that decides …*):
//!
//! - which keys an emergency records as exposed ([`emergency_keys`]);
//! - onto which key the references move ([`cutover_key`]), and what a check of that key
//!   says ([`key_check`]) and leads to before the first move and after the last
//!   ([`after_check`]);
//! - whether a holder's 4xx on the role set is a refusal of the role ([`role_refusal`]),
//!   and what a failed cutover leaves behind ([`failed_cutover`]);
//! - whether a set references move off appeared since the observation ([`appeared`]);
//! - where each moved reference goes back to ([`move_back`]), and how long it waits for a
//!   key no run proved ([`back_wait`], [`ready_after_wait`]);
//! - which destructive steps a fresh plan still calls for ([`still_called_for`]), and
//!   whether the run still holds its lease ([`lease_held`]);
//! - whether another run is at work on the target ([`another_run_at_work`]);
//! - what an unclear `CreateAccessKey` left ([`failed_create`]) and what undoing a failed
//!   rotation may delete ([`undo`]);
//! - how a run ends ([`finish`]).

use serde_json::Value;
use time::OffsetDateTime;

use crate::config::Target;
use crate::model::{AccessKey, CredentialSet, KeyStatus, Observed, Ref, Slot};
use crate::plan::{
    holds, resolve, Plan, Repair, Repoint, Retire, View, EMERGENCY_RERUN, IN_FLIGHT_LIMIT,
};
use crate::records::{creating_key, lease_key, KeyRecord, Records};
use crate::report::Outcome;
use crate::secret::AccessKeyId;
use crate::words::Words;

/// The keys an emergency records as exposed on the IAM user: of `exposed`, those the
/// user holds active; without named keys, the current set's key — unless an emergency is
/// still to finish (a recorded exposed key of the target's sets still active, or one
/// recorded less than `EMERGENCY_RERUN` ago), so that a rerun never makes a second key.
/// Keys already recorded are not recorded again.
pub fn emergency_keys(
    target: &Target,
    obs: &Observed,
    exposed: &[AccessKeyId],
    now: OffsetDateTime,
) -> Vec<AccessKeyId> {
    let active = |k: &AccessKeyId| {
        obs.keys
            .iter()
            .any(|x| &x.id == k && x.status == KeyStatus::Active)
    };
    let keys: Vec<AccessKeyId> = if exposed.is_empty() {
        let view = resolve(target, obs, now);
        let unfinished = obs.records.exposed.iter().any(|(k, since)| {
            (active(k) && holds(&view, k)) || now < since.saturating_add(EMERGENCY_RERUN)
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
    keys.into_iter()
        .filter(|k| !obs.records.exposed.contains_key(k))
        .collect()
}

/// The key the references of `plan` move onto: the one this run made (`rotated`), or the
/// one the destination set holds; `None` when nothing moves or the key is unknown.
pub fn cutover_key(plan: &Plan, view: &View, rotated: Option<&AccessKeyId>) -> Option<AccessKeyId> {
    let to = plan.cutover.first().map(|r| r.to.as_str())?;
    match rotated {
        Some(k) => Some(k.clone()),
        None => view
            .sets
            .iter()
            .find(|s| s.set.id == to)
            .and_then(|s| s.link.key().cloned()),
    }
}

/// What IAM says of a key right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyCheck {
    /// It exists and is active.
    Active,
    /// It exists and is inactive (someone deactivated it).
    Inactive,
    /// It does not exist (someone deleted it).
    Gone,
}

impl Words for KeyCheck {
    fn words(&self) -> String {
        match self {
            KeyCheck::Active => "is active".into(),
            KeyCheck::Inactive => "is no longer active (someone deactivated it)".into(),
            KeyCheck::Gone => "no longer exists (someone deleted it)".into(),
        }
    }
}

/// How long to wait before references move onto `key`, which this run did not prove with
/// STS (a key a person put into a set of the target): until it is `window` old — the
/// longest this tool waits for a key of its own to work. IAM takes seconds to accept a new
/// key (found by the simulator, seed 106). `None`: no wait (unknown key, or old enough).
/// Never longer than `window`, whatever the clocks say (a creation date ahead of `now`).
pub fn unproved_wait(
    keys: &[AccessKey],
    key: &AccessKeyId,
    now: OffsetDateTime,
    window: std::time::Duration,
) -> Option<std::time::Duration> {
    let created = keys.iter().find(|k| &k.id == key)?.created;
    let ready = created.saturating_add(time::Duration::try_from(window).ok()?);
    (ready > now).then(|| (ready - now).unsigned_abs().min(window))
}

/// What SORACOM's sets say now of the set references are about to move onto, which held
/// the key by the observation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetCheck {
    /// It exists and holds that key (or names none SORACOM reports).
    Holds,
    /// It no longer exists.
    Gone,
    /// It holds another key now.
    Rewritten,
}

impl Words for SetCheck {
    fn words(&self) -> String {
        match self {
            SetCheck::Holds => "holds the key".into(),
            SetCheck::Gone => "no longer exists (someone deleted it)".into(),
            SetCheck::Rewritten => "now holds another key (someone rewrote it)".into(),
        }
    }
}

/// How long to wait before references move back onto the keys `onto`: the longest
/// [`unproved_wait`] among them, and the whole `window` for a key the observation
/// (`observed`) did not list — one made since, which IAM may not accept yet (found by the
/// simulator, seed 765128 of the first long run: a person put a key made that second into
/// the set references went back to). `None`: no wait.
pub fn back_wait(
    observed: &[AccessKey],
    onto: &[AccessKeyId],
    now: OffsetDateTime,
    window: std::time::Duration,
) -> Option<std::time::Duration> {
    onto.iter()
        .filter_map(|k| match observed.iter().any(|o| &o.id == k) {
            true => unproved_wait(observed, k, now, window),
            false => Some(window),
        })
        .max()
}

/// The ways back ([`move_back`]) read again after a move back waited for the keys
/// `waited`: one onto a key waited for, or onto one that needs no wait ([`back_wait`]),
/// stands; one onto a key that would need a wait now stays unused (no second wait).
pub fn ready_after_wait(
    backs: Vec<Option<(Repoint, AccessKeyId)>>,
    waited: &[AccessKeyId],
    observed: &[AccessKey],
    (now, window): (OffsetDateTime, std::time::Duration),
) -> Vec<Option<(Repoint, AccessKeyId)>> {
    let ready = |k: &AccessKeyId| {
        waited.contains(k) || back_wait(observed, std::slice::from_ref(k), now, window).is_none()
    };
    backs
        .into_iter()
        .map(|b| b.filter(|(_, k)| ready(k)))
        .collect()
}

/// What `sets` (as SORACOM lists them now) say of set `id`, observed holding `key`
/// (found by the simulator, seed 20426: a set deleted after the observation was written
/// into a reference).
pub fn set_check(sets: &[CredentialSet], id: &str, key: &AccessKeyId) -> SetCheck {
    match sets.iter().find(|s| s.id == id) {
        None => SetCheck::Gone,
        Some(s) => match s.key() {
            Some(k) if &k != key => SetCheck::Rewritten,
            _ => SetCheck::Holds,
        },
    }
}

/// A set references move off that the observation (`observed`) did not list and SORACOM
/// lists now (`now`): another run created it meanwhile, and the observation read the sets
/// before it and the holders after another run moved them onto it — a move "back" off it
/// would undo that run's cutover (found by the simulator, seed 564604 of the first long
/// run). The run steps back; the next one observes it all.
pub fn appeared<'a>(
    repoints: &'a [Repoint],
    observed: &[CredentialSet],
    now: &[CredentialSet],
) -> Option<&'a str> {
    let listed = |sets: &[CredentialSet], id: &str| sets.iter().any(|s| s.id == id);
    repoints
        .iter()
        .flat_map(|r| &r.from)
        .find(|id| !listed(observed, id) && listed(now, id))
        .map(String::as_str)
}

/// What the user's keys (`statuses`, as IAM lists them) say of `key`.
pub fn key_check(statuses: &[(AccessKeyId, KeyStatus)], key: &AccessKeyId) -> KeyCheck {
    match statuses.iter().find(|(id, _)| id == key) {
        Some((_, KeyStatus::Active)) => KeyCheck::Active,
        Some(_) => KeyCheck::Inactive,
        None => KeyCheck::Gone,
    }
}

/// What follows a check of the cutover's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterCheck {
    /// The key works: go on.
    GoOn,
    /// The key was switched off or deleted meanwhile: nothing more moves onto it, and what
    /// moved goes back.
    Back,
    /// IAM could not tell: the references stay where they are; the next run checks again.
    Unknown,
}

/// What a check of the cutover's key leads to (`None`: IAM could not be read).
pub fn after_check(check: Option<KeyCheck>) -> AfterCheck {
    match check {
        Some(KeyCheck::Active) => AfterCheck::GoOn,
        Some(KeyCheck::Inactive | KeyCheck::Gone) => AfterCheck::Back,
        None => AfterCheck::Unknown,
    }
}

/// The holder kind that refused the role set, when the failed move `failed` was onto the
/// target's role set and its answer rejected the value (a 4xx): that kind stays on the key
/// for good (docs/ARCHITECTURE.md, *Migrating to a role*).
pub fn role_refusal(target: &Target, failed: &Repoint, rejects_value: bool) -> Option<String> {
    (failed.to == target.role_set_id && rejects_value)
        .then(|| crate::plan::migrate::holder_kind(&failed.slot.holder))
}

/// What a cutover that stopped on a failed write leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailedCutover {
    /// Nothing moved and the write was definitely rejected: the new set and key this run
    /// made go.
    Undo,
    /// Something moved, or the write's outcome is unknown: the new set keeps its key (the
    /// next run resumes the cutover).
    HandOver,
}

/// What a cutover that failed after `moved` moves leaves (`definite`: the failed write was
/// definitely rejected; `rotated`: this run made the key).
pub fn failed_cutover(moved: usize, definite: bool, rotated: bool) -> FailedCutover {
    if moved == 0 && definite && rotated {
        FailedCutover::Undo
    } else {
        FailedCutover::HandOver
    }
}

/// Where each of `moved` goes back to: the newest set it came from that still exists in
/// `sets` (as SORACOM lists them now) and whose key is `active` now (the reverse move, and
/// that key), or `None` (it stays; a human must look). A set someone deleted or rewrote
/// since the observation is judged as it is now (found by the simulator, seed 19873).
pub fn move_back(
    view: &View,
    moved: &[&Repoint],
    (active, sets): (&[AccessKeyId], &[CredentialSet]),
) -> Vec<Option<(Repoint, AccessKeyId)>> {
    let key_of = |set: &str| {
        let now = sets.iter().find(|s| s.id == set)?;
        now.key().or_else(|| {
            view.sets
                .iter()
                .find(|s| s.set.id == set)
                .and_then(|s| s.link.key().cloned())
        })
    };
    moved
        .iter()
        .map(|a| {
            // `view.sets` is oldest first: the newest usable set is the last one.
            view.sets.iter().rev().map(|s| &s.set.id).find_map(|id| {
                let k = key_of(id).filter(|k| a.from.contains(id) && active.contains(k))?;
                Some((reverse(a, id), k))
            })
        })
        .collect()
}

/// The move of `a`'s slot, as it is after `a`, back onto `prev`.
fn reverse(a: &Repoint, prev: &str) -> Repoint {
    let Repoint { slot, from, to } = a;
    let value = from.iter().fold(slot.value.clone(), |v, f| {
        crate::refs::rewrite(&v, &slot.refs, f, to)
    });
    let refs = slot
        .refs
        .iter()
        .map(|r| Ref {
            set_id: if from.contains(&r.set_id) {
                to.clone()
            } else {
                r.set_id.clone()
            },
            ..r.clone()
        })
        .collect();
    Repoint {
        slot: Slot {
            holder: slot.holder.clone(),
            value,
            refs,
        },
        from: vec![to.clone()],
        to: prev.to_string(),
    }
}

/// A step of a phase whose destructive ones are re-checked against fresh state.
pub trait Destructive: PartialEq {
    /// Whether it deletes or deactivates something.
    fn destructive(&self) -> bool;
    /// The set it takes out of service (deactivating or deleting its key, or deleting
    /// the set), if it does.
    fn takes_away(&self) -> Option<&str> {
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

    fn takes_away(&self) -> Option<&str> {
        match self {
            Retire::Deactivate { set_id, .. }
            | Retire::DropCanary { set_id, .. }
            | Retire::DeleteSet { set_id, .. } => Some(set_id),
            Retire::DeleteRetired { set_id, .. } => set_id.as_deref(),
            _ => None,
        }
    }
}

/// Whether each of `steps` may be taken: every step that is not destructive, and each
/// destructive one that the same phase of `again` (a plan from a fresh observation) still
/// holds — except one that takes away a set `again` moves references off (someone moved
/// them onto it meanwhile; a failed canary's set a person pointed a holder at was found by
/// the simulator, docs/RELIABILITY.md).
pub fn still_called_for<T: Destructive>(steps: &[T], fresh: &[T], again: &Plan) -> Vec<bool> {
    let moving_off = |set: &str| {
        again
            .cutover
            .iter()
            .any(|r| r.from.iter().any(|f| f == set))
    };
    steps
        .iter()
        .map(|s| !s.destructive() || (fresh.contains(s) && !s.takes_away().is_some_and(moving_off)))
        .collect()
}

/// Whether this run still holds its lease (`own`, the lease's tag key; `None`: it took
/// none) by `records`, read again at `at` before a destructive step. A lease a person
/// removed or edited, or one older than [`IN_FLIGHT_LIMIT`] (other runs no longer heed
/// it), keeps no other run off any more, so the run takes no destructive step (found by
/// the simulator, seeds 878533 and 897450 of the first long run: a rollback deactivated the
/// key another run was moving references onto).
pub fn lease_held(records: &Records, own: Option<&str>, at: OffsetDateTime) -> bool {
    own.is_none_or(|own| {
        records
            .leases
            .iter()
            .any(|(id, since)| lease_key(id) == own && at < since.saturating_add(IN_FLIGHT_LIMIT))
    })
}

/// Whether, after this run wrote its announcement or lease (tag key `own`), the user's
/// `records` show another run at work: another run's announcement or lease, or a key in
/// flight (of `keys`, the user's keys now), younger than [`IN_FLIGHT_LIMIT`] at `at`. IAM
/// has no lock: both runs write, then read, and either sees the other.
pub fn another_run_at_work(
    records: &Records,
    own: &str,
    keys: &[AccessKeyId],
    at: OffsetDateTime,
) -> bool {
    let young = |t: OffsetDateTime| at < t.saturating_add(IN_FLIGHT_LIMIT);
    let ours = |run: &str| own == creating_key(run) || own == lease_key(run);
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
    other_announcement || other_lease || in_flight
}

/// Whether `records` show another run's lease (a rollback's, a retirement's, or a cutover's
/// onto a key the run did not make), younger
/// than [`IN_FLIGHT_LIMIT`] at `at`, beside this run's own (`own`, its tag key). A run
/// that is about to deactivate or delete leases the target and steps back only for
/// another lease: a key being created is no reason to wait, the fresh plan already keeps
/// what a rotation under way still needs.
pub fn another_lease(records: &Records, own: &str, at: OffsetDateTime) -> bool {
    records
        .leases
        .iter()
        .any(|(run, since)| own != lease_key(run) && at < since.saturating_add(IN_FLIGHT_LIMIT))
}

/// What a `CreateAccessKey` whose answer was lost left, from the user's keys `before` it
/// and `after` (listed again).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailedCreate {
    /// No key was made: the announcement can go.
    NoneMade,
    /// One new key, never used: this run's (the announcement kept other runs from making
    /// one); it is deleted, then the announcement goes.
    Delete(AccessKeyId),
    /// More than one new key, or a used one: not provably this run's. The announcement
    /// stays — the proof a later run needs to delete the key once this run is surely over.
    Unclear,
}

/// What the lost `CreateAccessKey` left (see [`FailedCreate`]).
pub fn failed_create(before: &[AccessKeyId], after: &[AccessKey]) -> FailedCreate {
    let new: Vec<&AccessKey> = after.iter().filter(|k| !before.contains(&k.id)).collect();
    match new.as_slice() {
        [] => FailedCreate::NoneMade,
        [k] if k.last_used.is_none() => FailedCreate::Delete(k.id.clone()),
        _ => FailedCreate::Unclear,
    }
}

/// What undoing a failed rotation may delete, from a fresh observation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Undo {
    /// The set holds the new key and nothing references it: the set, then the key.
    SetAndKey,
    /// References were moved onto the set meanwhile (another run): both are kept.
    KeepReferenced,
    /// The set is not there (or does not hold the key): the key alone.
    KeyOnly,
}

/// What undoing the rotation that made `key` for `set_id` may delete, as `fresh` shows it.
pub fn undo(fresh: &Observed, set_id: &str, key: &AccessKeyId) -> Undo {
    let ours = fresh
        .sets
        .iter()
        .any(|s| s.id == set_id && s.key().as_ref() == Some(key));
    match (ours, fresh.slots.iter().any(|s| s.references(set_id))) {
        (true, true) => Undo::KeepReferenced,
        (true, false) => Undo::SetAndKey,
        (false, _) => Undo::KeyOnly,
    }
}

/// What a run that carried its steps out (or some of them) did, for [`finish`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Done {
    /// Steps taken or tried.
    pub steps: usize,
    /// The first step that failed, in words.
    pub failed: Option<String>,
    /// Destructive steps left out because a fresh observation no longer called for them.
    pub skipped: usize,
}

/// How a run ends: its outcome, its error and what happens next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ending {
    /// The outcome.
    pub outcome: Outcome,
    /// Why it failed or was refused.
    pub error: Option<String>,
    /// What happens next.
    pub next: Option<String>,
}

/// The refusal, the blocked keys and what a canary or migration needs a human for, as one
/// message per line.
pub(crate) fn refusals(plan: &Plan) -> Vec<String> {
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

/// How a run of `plan` that did `done` (every phase carried out) ends: refused when the
/// plan needs a human, failed when a step was skipped or failed, else done (or nothing
/// due), with the first upcoming step as what happens next.
pub fn finish(plan: &Plan, done: &Done) -> Ending {
    if plan.refused() {
        return Ending {
            outcome: Outcome::Refused,
            error: Some(refusals(plan).join("\n")),
            next: Some("a human must act; see the error".into()),
        };
    }
    if done.skipped > 0 {
        return Ending {
            outcome: Outcome::Failed,
            error: Some(format!(
                "{} step(s) were not taken: the state changed since this run observed it",
                done.skipped
            )),
            next: Some("the next run decides again from what it sees".into()),
        };
    }
    if let Some(what) = &done.failed {
        return Ending {
            outcome: Outcome::Failed,
            error: Some(format!("a step failed: {what}")),
            next: Some("the state is safe; the next run finishes what is left".into()),
        };
    }
    Ending {
        outcome: if done.steps == 0 {
            Outcome::NothingDue
        } else {
            Outcome::Done
        },
        error: None,
        // The text report labels it (`next:`); the sentence carries no label of its own.
        next: plan
            .upcoming
            .first()
            .map(|u| format!("{}, from {}", u.step.words(), crate::words::fmt_time(u.due))),
    }
}

/// How a dry run of `plan` ends: refused when it needs a human, else planned (or nothing
/// due).
pub fn dry_ending(plan: &Plan) -> Ending {
    let refusal = refusals(plan);
    let (outcome, error) = match (refusal.is_empty(), plan.is_empty()) {
        (false, _) => (Outcome::Refused, Some(refusal.join("\n"))),
        (true, true) => (Outcome::NothingDue, None),
        (true, false) => (Outcome::Planned, None),
    };
    Ending {
        outcome,
        error,
        next: None,
    }
}

/// What a move writes, given its holder as it is right before the write.
#[derive(Clone, Debug, PartialEq)]
pub enum Fresh {
    /// This value: the holder as read now, only its references to the observed sets
    /// moved (what a person changed beside them stays).
    Write(Value),
    /// Every reference already names the destination: nothing to write.
    Already,
    /// A reference no longer names a set the run observed (or is gone): a person moved
    /// it, and it stays where they put it. What it names now.
    Moved {
        /// The sets the references name now (none when they are gone).
        now: Vec<String>,
    },
}

/// What to write for `action` when its holder reads `now` right before the write
/// (docs/ARCHITECTURE.md, invariant 6: a change a person made after the run read the
/// holder is not undone).
pub fn refresh(action: &Repoint, now: &Value) -> Fresh {
    let at: Vec<(&Ref, Option<String>)> = action
        .slot
        .refs
        .iter()
        .filter(|r| action.from.contains(&r.set_id))
        .map(|r| (r, crate::refs::set_at(now, r)))
        .collect();
    let moved: Vec<String> = at
        .iter()
        .filter(|(_, id)| {
            id.as_ref()
                .is_none_or(|id| *id != action.to && !action.from.contains(id))
        })
        .filter_map(|(_, id)| id.clone())
        .collect();
    if at.iter().any(|(_, id)| id.is_none()) || !moved.is_empty() {
        return Fresh::Moved { now: moved };
    }
    if at
        .iter()
        .all(|(_, id)| id.as_deref() == Some(action.to.as_str()))
    {
        return Fresh::Already;
    }
    let refs: Vec<Ref> = at
        .iter()
        .filter_map(|(r, id)| {
            id.as_ref().map(|id| Ref {
                set_id: id.clone(),
                ..(*r).clone()
            })
        })
        .collect();
    Fresh::Write(action.from.iter().fold(now.clone(), |v, f| {
        crate::refs::rewrite(&v, &refs, f, &action.to)
    }))
}

#[cfg(test)]
mod tests;
