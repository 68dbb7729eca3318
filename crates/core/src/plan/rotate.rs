//! When rotation is due, and what a rotation (or a resumed cutover) does: make room in
//! IAM's two key slots, create the new set (or update the fixed one in place), move every
//! reference onto the key in use, and record the cutover of the sets left behind.

use std::collections::{BTreeMap, BTreeSet};

use time::{Duration, OffsetDateTime};

use crate::config::{Placement, Target};
use crate::model::{AccessKey, KeyStatus, ManagedId, Observed, Slot};
use crate::plan::{
    canary, floor_days, migrate, rotation_age, Current, Due, DueReason, KeyBrief, KeyState, Mode,
    Note, Plan, Refusal, Repair, Repoint, Retire, RetiredKey, View, EARLY,
};
use crate::records::{KeyRecord, Mark};
use crate::secret::AccessKeyId;

/// The current set (with its key's age) and whether rotation is due: when the current key
/// reaches the age rotation starts at (early enough for its deadline), when asked, or when
/// no usable key backs the references. An emergency asks for it when the current key is
/// recorded exposed (and still active).
pub(super) fn rotation_due(
    target: &Target,
    obs: &Observed,
    view: &View,
    now: OffsetDateTime,
    mode: Mode,
) -> (Option<Current>, Due) {
    let key = |id: &AccessKeyId| obs.keys.iter().find(|k| &k.id == id);
    let cur = view.current_set();
    let basis = cur.and_then(|c| {
        c.link
            .key()
            .and_then(key)
            .map(|k| k.created)
            .or(c.set.created)
    });
    let current = cur.map(|c| Current {
        set_id: c.set.id.clone(),
        link: c.link.clone(),
        age_days: basis.map(|b| (now - b).whole_days()),
    });
    let next = basis.map(|b| b.saturating_add(rotation_age(target)));
    let due = |now: bool, reason, next| Due { now, reason, next };
    let exposed_current = cur
        .filter(|c| c.key_state == KeyState::Active)
        .and_then(|c| c.link.key())
        .is_some_and(|k| obs.records.exposed.contains_key(k));
    let requested = match mode {
        Mode::Rotate => true,
        Mode::Emergency => exposed_current,
        Mode::Reconcile | Mode::Retire | Mode::Rollback => false,
    };
    if requested {
        return (current, due(true, DueReason::Requested, next));
    }
    let Some(c) = &current else {
        return (None, due_without_current(target, obs, view));
    };
    let d = match (next, c.age_days) {
        (Some(next_at), Some(age)) => due(
            now.saturating_add(EARLY) >= next_at,
            DueReason::Age {
                set_id: c.set_id.clone(),
                age_days: age,
                rotate_at_days: floor_days(rotation_age(target)),
                max_days: target.max_key_age_days,
            },
            next,
        ),
        _ => due(
            false,
            DueReason::AgeUnknown {
                set_id: c.set_id.clone(),
            },
            None,
        ),
    };
    (current, d)
}

/// Whether rotation is due when no set is current: a broken fixed set gets a new key now;
/// references that name only broken sets need one too; with nothing referenced, there is
/// nothing to rotate yet.
fn due_without_current(target: &Target, obs: &Observed, view: &View) -> Due {
    let due = |now: bool, reason| Due {
        now,
        reason,
        next: None,
    };
    // In place, a fixed set whose key is missing or inactive breaks every reference at
    // once: it gets a new key now.
    let fixed = target
        .fixed_id()
        .and_then(|id| view.sets.iter().find(|s| s.set.id == id));
    let reason = match (&target.placement, fixed) {
        (_, Some(broken)) => {
            let reason = DueReason::FixedSetBroken {
                set_id: broken.set.id.clone(),
                state: broken.key_state,
            };
            return due(true, reason);
        }
        (Placement::Fixed { id }, None) => DueReason::NoFixedSet { set_id: id.clone() },
        (Placement::Managed { prefix }, None) => DueReason::NoSet {
            prefix: prefix.clone(),
            target: target.name.clone(),
        },
    };
    if obs.slots.is_empty() {
        due(false, reason)
    } else {
        due(true, DueReason::OnlyBrokenReferences)
    }
}

/// Rotation when due (room, then the new key), then the references moved onto the key
/// in use, then the records of the sets left behind.
pub(super) fn rotate_and_repoint(
    target: &Target,
    obs: &Observed,
    view: &View,
    now: OffsetDateTime,
    mode: Mode,
    plan: &mut Plan,
) {
    // References are only ever moved onto a set whose key is known to be active.
    let mut destination = view
        .current_set()
        .filter(|c| c.key_state == KeyState::Active)
        .map(|c| c.set.id.clone());
    let due = plan.due.now
        && matches!(mode, Mode::Rotate | Mode::Reconcile | Mode::Emergency)
        && canary::after_failure(target, obs, view, mode, plan);
    let mut rotating = false;
    if due && make_room(target, obs, view, now, plan) {
        if let Some(new_set) = new_key(target, obs, view, now, plan) {
            destination = Some(new_set);
            rotating = true;
        }
    }
    match &destination {
        Some(to) if !canary::cutover(target, obs, view, now, mode, (to, rotating), plan) => {
            repoint_onto(target, &obs.slots, to, plan);
        }
        Some(_) => {}
        None if !obs.slots.is_empty() => plan.notes.push(Note::NoUsableSet),
        None => {}
    }
    if let Some(to) = &destination {
        mark_held(obs, view, to, plan);
    }
    if matches!(mode, Mode::Reconcile | Mode::Rotate) {
        migrate::migrate(target, obs, view, now, plan);
    }
    release_left(obs, view, plan);
}

/// Whether there is a free key slot for the new key, making one if a key this tool
/// retired may go: an inactive key whose certain link is an older, unreferenced set (or
/// the previous key of an in-place set), never sooner than `delete_after_days` after this
/// tool recorded it inactive. Otherwise the plan refuses.
fn make_room(
    target: &Target,
    obs: &Observed,
    view: &View,
    now: OffsetDateTime,
    plan: &mut Plan,
) -> bool {
    let remaining: Vec<&AccessKey> = obs
        .keys
        .iter()
        .filter(|k| !view.orphans.contains(&k.id))
        .collect();
    if remaining.len() < 2 {
        return true;
    }
    let cur_id = view.current_set().map(|c| &c.set.id);
    let retired = view.sets.iter().find_map(|s| {
        let (k, set_id) = match target.placement {
            Placement::Fixed { .. } => (s.previous.as_ref()?, None),
            Placement::Managed { .. } => {
                let unused = s.references.is_empty() && Some(&s.set.id) != cur_id;
                (s.link.certain().filter(|_| unused)?, Some(s.set.id.clone()))
            }
        };
        let k = remaining.iter().find(|r| &r.id == k)?;
        (k.status == KeyStatus::Inactive).then(|| (k.id.clone(), set_id))
    });
    let delete_after = Duration::days(target.delete_after_days.into());
    // A record older than the key's last use is stale (the key was active again after
    // it): it never shortens the delay.
    let deletable_from = |k: &AccessKeyId| {
        let last_use = obs
            .keys
            .iter()
            .find(|x| &x.id == k)
            .and_then(|x| x.last_used.as_ref())
            .map(|u| u.at);
        obs.records
            .deactivated
            .get(k)
            .filter(|t| last_use.is_none_or(|u| u <= **t))
            .map(|t| t.saturating_add(delete_after))
    };
    let slots_full = |retired: Option<RetiredKey>| Refusal::SlotsFull {
        iam_user: target.iam_user.clone(),
        keys: remaining
            .iter()
            .map(|k| KeyBrief {
                key: k.id.clone(),
                status: k.status,
                created: k.created,
                last_used: k.last_used.clone(),
            })
            .collect(),
        retired,
    };
    match retired {
        Some((key, set_id)) if deletable_from(&key).is_some_and(|t| now >= t) => {
            plan.repair.push(Repair::MakeRoom { key, set_id });
            true
        }
        Some((key, _)) => {
            let deletable = deletable_from(&key);
            if deletable.is_none() {
                plan.record(&key, Mark::Deactivated);
            }
            plan.refusal = Some(slots_full(Some(RetiredKey {
                key,
                deletable_from: deletable,
                delete_after_days: target.delete_after_days,
            })));
            false
        }
        None => {
            plan.refusal = Some(slots_full(None));
            false
        }
    }
}

/// The new key's way into SORACOM: the fixed set updated in place (a new set id is not
/// needed: returns `None`), or a new set `<prefix>-<yymmdd>[-<n>]` (returns its id).
fn new_key(
    target: &Target,
    obs: &Observed,
    view: &View,
    now: OffsetDateTime,
    plan: &mut Plan,
) -> Option<String> {
    match &target.placement {
        Placement::Fixed { id } => {
            let Some(fixed) = view.sets.iter().find(|s| &s.set.id == id) else {
                plan.refusal = Some(Refusal::NoFixedSet { set_id: id.clone() });
                return None;
            };
            if fixed.key_state != KeyState::Active {
                plan.notes.push(Note::FixedSetBroken {
                    set_id: id.clone(),
                    key: fixed.link.key().cloned(),
                    state: fixed.key_state,
                });
            }
            // Named as the one to retire later, so only a certain link to a key that
            // still exists; when the current key is gone, the one before it (still being
            // retired) stays named.
            let exists = |k: &&AccessKeyId| obs.keys.iter().any(|x| &x.id == *k);
            let previous = fixed
                .link
                .certain()
                .filter(|_| fixed.key_state != KeyState::Missing)
                .or_else(|| fixed.previous.as_ref().filter(exists))
                .cloned();
            plan.repair.push(Repair::RotateInPlace {
                set_id: id.clone(),
                previous,
            });
            None
        }
        Placement::Managed { prefix } => {
            let taken = |id: &str| obs.sets.iter().any(|s| s.id == id);
            match ManagedId::next_free(prefix, now.date(), taken) {
                Some(new_set_id) => {
                    plan.repair.push(Repair::Rotate {
                        new_set_id: new_set_id.clone(),
                    });
                    Some(new_set_id)
                }
                None => {
                    plan.refusal = Some(Refusal::NoFreeSetId);
                    None
                }
            }
        }
    }
}

/// Every one of `slots` with a reference to another set of the target moves onto `to`.
pub(super) fn repoint_onto<'a>(
    target: &Target,
    slots: impl IntoIterator<Item = &'a Slot>,
    to: &str,
    plan: &mut Plan,
) {
    for slot in slots {
        let from: BTreeSet<&String> = slot
            .refs
            .iter()
            .map(|r| &r.set_id)
            .filter(|id| target.owns(id) && id.as_str() != to)
            .collect();
        if !from.is_empty() {
            plan.cutover.push(Repoint {
                slot: slot.clone(),
                from: from.into_iter().cloned().collect(),
                to: to.to_string(),
            });
        }
    }
}

/// Points each of `slots` from the one set `from` at `to`: a move between two sets known
/// to the caller (a canary or a migration moving on or back, a rollback), where
/// [`repoint_onto`] gathers every set of the target a slot names.
pub(super) fn move_between<'a>(
    slots: impl IntoIterator<Item = &'a Slot>,
    from: &str,
    to: &str,
    plan: &mut Plan,
) {
    for slot in slots {
        plan.cutover.push(Repoint {
            slot: slot.clone(),
            from: vec![from.to_string()],
            to: to.to_string(),
        });
    }
}

/// A key an interrupted run left in flight (or gave up), now in use by its set: record
/// it as held.
fn mark_held(obs: &Observed, view: &View, to: &str, plan: &mut Plan) {
    let Some(set) = view.sets.iter().find(|s| s.set.id == to) else {
        return;
    };
    if let Some(k) = set.link.key().filter(|k| !canary::drops(plan, k)) {
        if matches!(
            obs.records.keys.get(k),
            Some(KeyRecord::InFlight { .. } | KeyRecord::Abandoned { .. })
        ) {
            plan.retire.push(Retire::MarkHeld {
                key: k.clone(),
                set_id: set.set.id.clone(),
            });
        }
    }
}

/// The sets whose every reference moves in this run (a canary moves only some): their
/// keys' cutover is now (recorded once the repointing succeeded). A failed canary's new
/// key is deleted, not released.
fn release_left(obs: &Observed, view: &View, plan: &mut Plan) {
    // Each slot moves at most once in a plan: a set is left when as many slots move off
    // it as reference it (counted, so that ten thousand groups stay linear).
    let mut moving_off: BTreeMap<&String, usize> = BTreeMap::new();
    for r in &plan.cutover {
        for id in &r.from {
            *moving_off.entry(id).or_default() += 1;
        }
    }
    let left: BTreeSet<&String> = moving_off
        .iter()
        .filter(|(id, n)| obs.slots.iter().filter(|s| s.references(id)).count() == **n)
        .map(|(id, _)| *id)
        .collect();
    let released: Vec<AccessKeyId> = view
        .sets
        .iter()
        .filter(|s| left.contains(&s.set.id) && s.key_state != KeyState::Missing)
        .filter_map(|s| s.link.certain().cloned())
        .filter(|k| !canary::drops(plan, k))
        .collect();
    for k in released {
        plan.record(&k, Mark::Released);
    }
}
