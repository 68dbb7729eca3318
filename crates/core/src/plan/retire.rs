//! Retirement, on evidence: when an old key is deactivated, when it is deleted (and its
//! set), when a retirement is blocked or starts over, and the records that time it.
//!
//! An old key — held by an older set nothing references, or named as an in-place set's
//! previous key — is deactivated once its cutover is `retire_after_days` old (never less
//! than `settle_minutes`) and neither IAM nor SORACOM shows use after the cutover plus the
//! settle window; it is deleted `delete_after_days` after this tool deactivated it. A key
//! used after its cutover is blocked (reported, exit 3). People win: a key active again
//! after this tool deactivated it restarts its retirement; a stale record never shortens a
//! delay. Without a record, a delay starts when a run first sees the key's state.

use std::collections::BTreeSet;

use time::{Duration, OffsetDateTime};

use crate::config::{Placement, Target};
use crate::model::{AccessKey, KeyStatus, Observed};
use crate::plan::migrate;
use crate::plan::{
    grace, Blocked, KeyState, Link, Next, Note, Plan, Repair, Retire, SetView, Upcoming, View,
    EARLY,
};
use crate::records::Mark;
use crate::secret::AccessKeyId;

/// The retire rules for every owned set but the current one, then the records that no
/// longer describe anything.
pub(super) fn retire(
    target: &Target,
    obs: &Observed,
    view: &View,
    now: OffsetDateTime,
    plan: &mut Plan,
) {
    undo_returned_cutovers(obs, view, plan);
    let making_room: Vec<AccessKeyId> = plan
        .repair
        .iter()
        .filter_map(|r| match r {
            Repair::MakeRoom { key, .. } => Some(key.clone()),
            _ => None,
        })
        .collect();
    // Keys that something in use still holds are never retired, whatever set they are in
    // — a set that is not the target's included (found by the simulator, seed 12866).
    // Once migrated onto the role set, the current key set is in use no more.
    let current = view.current.filter(|_| !migrate::migrated(target, obs));
    let mut in_use: BTreeSet<&AccessKeyId> = view
        .sets
        .iter()
        .enumerate()
        .filter(|(i, s)| !s.references.is_empty() || Some(*i) == current)
        .filter_map(|(_, s)| s.link.key())
        .collect();
    in_use.extend(obs.held_elsewhere.iter().map(|(k, _)| k));
    for old in old_keys(target, obs, view, plan) {
        let Some(access) = obs.keys.iter().find(|k| k.id == old.key) else {
            continue;
        };
        if let Some((key, set_id)) = obs.held_elsewhere.iter().find(|(k, _)| *k == old.key) {
            plan.notes.push(Note::HeldElsewhere {
                key: key.clone(),
                set_id: set_id.clone(),
            });
        }
        if in_use.contains(&old.key) || making_room.contains(&old.key) {
            continue;
        }
        judge(target, obs, now, &old, access, plan);
    }
    forget_stale(obs, view, plan);
}

/// In an emergency, the exposed keys this run's cutover leaves behind (or an in-place
/// update replaces) are deactivated as soon as it is done: the executor reaches the retire
/// phase only after every reference moved and the new key was confirmed active.
pub(super) fn retire_released(obs: &Observed, view: &View, plan: &mut Plan) {
    let left: BTreeSet<&String> = plan.cutover.iter().flat_map(|r| &r.from).collect();
    let destinations: BTreeSet<&String> = plan.cutover.iter().map(|r| &r.to).collect();
    // A key the destination set also holds stays on.
    let kept: BTreeSet<&AccessKeyId> = view
        .sets
        .iter()
        .filter(|s| destinations.contains(&s.set.id))
        .filter_map(|s| s.link.key())
        .collect();
    let active = |k: &AccessKeyId| {
        obs.records.exposed.contains_key(k)
            && obs
                .keys
                .iter()
                .any(|x| &x.id == k && x.status == KeyStatus::Active)
    };
    let mut off: Vec<(AccessKeyId, String)> = view
        .sets
        .iter()
        .filter(|s| left.contains(&s.set.id))
        .filter_map(|s| s.link.certain().map(|k| (k.clone(), s.set.id.clone())))
        .collect();
    off.extend(plan.repair.iter().filter_map(|r| match r {
        Repair::RotateInPlace {
            set_id,
            previous: Some(p),
        } => Some((p.clone(), set_id.clone())),
        _ => None,
    }));
    for (key, set_id) in off {
        if !active(&key) || kept.contains(&key) {
            continue;
        }
        let step = Retire::Deactivate { key, set_id };
        if !plan.retire.contains(&step) {
            plan.retire.push(step);
        }
    }
}

/// An old key to retire: the set that held it (none in place), when SORACOM stopped using
/// it (None: not recorded yet), and SORACOM's last use of that set.
struct OldKey {
    key: AccessKeyId,
    set_id: Option<String>,
    /// The set's id, for messages (the fixed set in place).
    label: String,
    cutover: Option<OffsetDateTime>,
    set_last_used: Option<OffsetDateTime>,
}

impl OldKey {
    /// Whether IAM shows the key, or SORACOM its set, used after `after` (the cutover plus
    /// the settle window).
    fn used_after(&self, access: &AccessKey, after: OffsetDateTime) -> bool {
        access.last_used.as_ref().is_some_and(|u| u.at > after)
            || self.set_last_used.is_some_and(|t| t > after)
    }
}

/// A cutover recorded for a key whose set is referenced again (a rollback, a person) no
/// longer holds: it would cut the next grace period short.
fn undo_returned_cutovers(obs: &Observed, view: &View, plan: &mut Plan) {
    for s in view.sets.iter().filter(|s| !s.references.is_empty()) {
        let released_now = |k: &AccessKeyId| {
            plan.retire.contains(&Retire::Record {
                key: k.clone(),
                mark: Mark::Released,
            })
        };
        if let Some(k) = s
            .link
            .certain()
            .filter(|k| obs.records.released.contains_key(*k) && !released_now(k))
        {
            plan.retire.push(Retire::Unrecord {
                key: k.clone(),
                mark: Mark::Released,
            });
        }
    }
}

/// A cutover recorded for a key whose set the plan moves references off: the set is
/// referenced again since, so the record goes first of all ([`Repair::ForgetCutover`]:
/// before any key is made or reference moves), and the plan's own record (when every
/// reference leaves) replaces it once the moves are done.
pub(super) fn forget_returned_cutovers(obs: &Observed, view: &View, plan: &mut Plan) {
    let left: BTreeSet<&String> = plan.cutover.iter().flat_map(|r| &r.from).collect();
    let keys: Vec<AccessKeyId> = view
        .sets
        .iter()
        .filter(|s| left.contains(&s.set.id))
        .filter_map(|s| s.link.certain())
        .filter(|k| obs.records.released.contains_key(*k))
        .cloned()
        .collect();
    for key in keys {
        plan.retire.retain(|r| {
            *r != Retire::Unrecord {
                key: key.clone(),
                mark: Mark::Released,
            }
        });
        let step = Repair::ForgetCutover { key };
        if !plan.repair.contains(&step) {
            plan.repair.insert(0, step);
        }
    }
}

/// The old keys and their cutovers. Along the way: a set whose key is gone is deleted
/// when this tool made it or retired its key (else reported), and a set linked by
/// evidence only is reported.
fn old_keys(target: &Target, obs: &Observed, view: &View, plan: &mut Plan) -> Vec<OldKey> {
    if let Placement::Fixed { id } = &target.placement {
        return previous_in_place(id, obs, view).into_iter().collect();
    }
    let mut olds = Vec::new();
    let current = view.current.filter(|_| !migrate::migrated(target, obs));
    for (i, s) in view.sets.iter().enumerate() {
        if Some(i) == current || !s.references.is_empty() {
            continue;
        }
        let Some(k) = s.link.certain() else {
            if let Link::Evidence(k) = &s.link {
                plan.notes.push(Note::EvidenceOnly {
                    set_id: s.set.id.clone(),
                    key: k.clone(),
                });
            }
            continue;
        };
        if s.key_state == KeyState::Missing {
            key_gone(obs, s, k, plan);
            continue;
        }
        // The cutover is when the last reference left (recorded), and never before the set
        // that replaced it appeared.
        let next_created = view.sets.get(i + 1).and_then(|n| n.set.created);
        let cutover = obs
            .records
            .released
            .get(k)
            .map(|r| next_created.map_or(*r, |n| n.max(*r)));
        olds.push(OldKey {
            key: k.clone(),
            set_id: Some(s.set.id.clone()),
            label: s.set.id.clone(),
            cutover,
            set_last_used: s.set.last_used,
        });
    }
    olds
}

/// In place, the old key is the one the fixed set `id` held before its last update.
fn previous_in_place(id: &str, obs: &Observed, view: &View) -> Option<OldKey> {
    let (c, prev) = view
        .current_set()
        .and_then(|c| c.previous.as_ref().map(|p| (c, p)))?;
    // The update put the new key in; a later record (a retirement started over)
    // counts from its own time.
    let updated = c.set.updated.or(c.set.created);
    let recorded = obs.records.released.get(prev).copied();
    Some(OldKey {
        key: prev.clone(),
        set_id: None,
        label: id.to_string(),
        cutover: match (updated, recorded) {
            (Some(u), Some(r)) => Some(u.max(r)),
            (u, r) => u.or(r),
        },
        set_last_used: None,
    })
}

/// An old set whose key `k` is gone: deleted if this tool made it, or one whose key this
/// tool retired or recorded (its records are still on the user: a retirement or a
/// rotation cut short). A hand-made set's key may just be mistyped in adopt_keys: that is
/// reported, never acted on.
fn key_gone(obs: &Observed, s: &SetView, k: &AccessKeyId, plan: &mut Plan) {
    let recorded = obs.records.deactivated.contains_key(k)
        || obs.records.released.contains_key(k)
        || obs.records.keys.contains_key(k);
    let delete = match &s.link {
        Link::Description(_) => true,
        Link::Api(_) => recorded || s.set.linked_key().as_ref() == Some(k),
        Link::Adopted(_) => recorded,
        Link::Evidence(_) | Link::Unknown => false,
    };
    if delete {
        plan.retire.push(Retire::DeleteSet {
            set_id: s.set.id.clone(),
            key: k.clone(),
        });
    } else {
        plan.notes.push(Note::KeyGone {
            set_id: s.set.id.clone(),
            key: k.clone(),
        });
    }
}

/// What is due for one old key: deactivation or deletion now, later, blocked by use, or a
/// record that starts a delay.
fn judge(
    target: &Target,
    obs: &Observed,
    now: OffsetDateTime,
    old: &OldKey,
    access: &AccessKey,
    plan: &mut Plan,
) {
    match access.status {
        KeyStatus::Active if obs.records.exposed.contains_key(&old.key) => {
            switch_off_exposed(target, old, access, plan)
        }
        KeyStatus::Active => deactivation(target, obs, now, old, access, plan),
        KeyStatus::Inactive => deletion(target, obs, now, old, access, plan),
    }
}

/// The key is exposed: it goes now, whichever run sees it first (an emergency cut short
/// is finished by the next scheduled run). Use since its cutover is reported, not waited
/// on.
fn switch_off_exposed(target: &Target, old: &OldKey, access: &AccessKey, plan: &mut Plan) {
    let k = &old.key;
    let settle = Duration::minutes(target.settle_minutes.into());
    match old.cutover {
        Some(cutover) => {
            if old.used_after(access, cutover.saturating_add(settle)) {
                plan.notes.push(Note::UsedAfterCutover {
                    key: k.clone(),
                    set_id: old.label.clone(),
                    cutover,
                    key_last_used: access.last_used.clone(),
                    set_last_used: old.set_last_used,
                });
            }
        }
        None => plan.record(k, Mark::Released),
    }
    plan.retire.push(Retire::Deactivate {
        key: k.clone(),
        set_id: old.label.clone(),
    });
}

/// When an active old key is deactivated: its cutover plus the grace period, unless it
/// was used after the cutover (blocked). An old key is never deactivated before its
/// cutover plus the settle window, whatever retire_after_days says.
fn deactivation(
    target: &Target,
    obs: &Observed,
    now: OffsetDateTime,
    old: &OldKey,
    access: &AccessKey,
    plan: &mut Plan,
) {
    let k = &old.key;
    let settle = Duration::minutes(target.settle_minutes.into());
    let grace = grace(target);
    let deactivate = Next::Deactivate {
        key: k.clone(),
        set_id: old.label.clone(),
    };
    // People win: a key active again after this tool deactivated it stays active;
    // its retirement starts over from now.
    let reactivated = obs.records.deactivated.contains_key(k);
    if reactivated {
        plan.notes.push(Note::Reactivated {
            key: k.clone(),
            set_id: old.label.clone(),
        });
        plan.retire.push(Retire::Unrecord {
            key: k.clone(),
            mark: Mark::Deactivated,
        });
    }
    let Some(cutover) = old.cutover.filter(|_| !reactivated) else {
        // No record of when references left (an interrupted run, or a set from
        // before this tool), or a re-activation: the grace period starts now.
        plan.record(k, Mark::Released);
        plan.upcoming.push(Upcoming {
            step: deactivate,
            due: now.saturating_add(grace),
        });
        return;
    };
    let after = cutover.saturating_add(settle);
    if old.used_after(access, after) {
        plan.blocked.push(Blocked {
            key: k.clone(),
            set_id: old.label.clone(),
            cutover,
            key_last_used: access.last_used.clone(),
            set_last_used: old.set_last_used,
        });
        return;
    }
    // A run an hour early (a scheduler's flexible window, a run that started just
    // before the cutover's time of day) does not put the deactivation off by a day;
    // the settle window is never cut short.
    let due = cutover.saturating_add(grace);
    if now.saturating_add(EARLY) >= due && now >= after {
        plan.retire.push(Retire::Deactivate {
            key: k.clone(),
            set_id: old.label.clone(),
        });
    } else {
        plan.upcoming.push(Upcoming {
            step: deactivate,
            due,
        });
    }
}

/// When an inactive old key is deleted: `delete_after_days` after this tool recorded it
/// inactive.
fn deletion(
    target: &Target,
    obs: &Observed,
    now: OffsetDateTime,
    old: &OldKey,
    access: &AccessKey,
    plan: &mut Plan,
) {
    let k = &old.key;
    let delete_after = Duration::days(target.delete_after_days.into());
    let delete = Next::Delete {
        key: k.clone(),
        set_id: old.set_id.clone(),
    };
    // A record older than the key's last use is stale: the key was active again
    // after it (someone re-activated it, then deactivated it again), so the delay
    // counts from now, never from the old record. Without the record (deactivated
    // by hand, or the record failed), the delay counts from the first run that sees
    // the key inactive: never cut short.
    let stale = |since: &OffsetDateTime| access.last_used.as_ref().is_some_and(|u| u.at > *since);
    let recorded = obs.records.deactivated.get(k).copied();
    let Some(since) = recorded.filter(|t| !stale(t)) else {
        if recorded.is_some() {
            plan.notes.push(Note::StaleDeactivation {
                key: k.clone(),
                set_id: old.label.clone(),
            });
        }
        plan.record(k, Mark::Deactivated);
        plan.upcoming.push(Upcoming {
            step: delete,
            due: now.saturating_add(delete_after),
        });
        return;
    };
    let due = since.saturating_add(delete_after);
    if now >= due {
        plan.retire.push(Retire::DeleteRetired {
            key: k.clone(),
            set_id: old.set_id.clone(),
        });
    } else {
        plan.upcoming.push(Upcoming { step: delete, due });
    }
}

/// Records of keys that are gone and that no owned set names (cutover, deactivation, the
/// key's own record): nothing needs them any more.
fn forget_stale(obs: &Observed, view: &View, plan: &mut Plan) {
    let named: BTreeSet<&AccessKeyId> = view
        .sets
        .iter()
        .flat_map(|s| s.link.key().into_iter().chain(s.previous.as_ref()))
        .collect();
    let recorded: BTreeSet<&AccessKeyId> = obs
        .records
        .released
        .keys()
        .chain(obs.records.deactivated.keys())
        .chain(obs.records.exposed.keys())
        .chain(obs.records.keys.keys())
        .collect();
    for k in recorded {
        let exists = obs.keys.iter().any(|x| &x.id == k);
        let deleted_here = plan.retire.iter().any(|a| {
            matches!(a, Retire::DeleteSet { key, .. } | Retire::DeleteRetired { key, .. } if key == k)
        }) || plan
            .repair
            .iter()
            .any(|r| matches!(r, Repair::MakeRoom { key, .. } if key == k));
        if !exists && !named.contains(k) && !deleted_here {
            plan.retire.push(Retire::Forget { key: k.clone() });
        }
    }
}
