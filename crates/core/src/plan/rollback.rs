//! Rollback: every reference on the current set goes back to the set before it, then the
//! current key is deactivated — only while that previous set's key is still active, and
//! never in place (SORACOM never returns the previous secret).

use crate::config::{Placement, Target};
use crate::model::Observed;
use crate::plan::rotate::move_between;
use crate::plan::{KeyState, Note, Plan, Refusal, Retire, RollbackRefusal, View};

/// Plans the rollback, or says why it cannot be done.
pub(super) fn rollback(target: &Target, obs: &Observed, view: &View, plan: &mut Plan) {
    let refuse = |plan: &mut Plan, why| plan.refusal = Some(Refusal::Rollback { why });
    if matches!(target.placement, Placement::Fixed { .. }) {
        return refuse(plan, RollbackRefusal::InPlace);
    }
    let Some(ci) = view.current else {
        return refuse(plan, RollbackRefusal::NoCurrent);
    };
    let cur = &view.sets[ci];
    // Run again after it finished (or after a crash right at its end): the set after the
    // current one is unreferenced and its key inactive — that is the rolled-back state.
    if let Some(newer) = view.sets.get(ci + 1) {
        if newer.references.is_empty()
            && newer.key_state == KeyState::Inactive
            && newer.link.certain().is_some()
        {
            plan.notes.push(Note::AlreadyRolledBack {
                current: cur.set.id.clone(),
                newer: newer.set.id.clone(),
            });
            return;
        }
    }
    let set_id = cur.set.id.clone();
    let Some(cur_key) = cur.link.certain() else {
        return refuse(plan, RollbackRefusal::NotOurs { set_id });
    };
    let Some(prev) = ci.checked_sub(1).and_then(|i| view.sets.get(i)) else {
        return refuse(plan, RollbackRefusal::NoOlder { set_id });
    };
    let prev_id = prev.set.id.clone();
    match prev.key_state {
        KeyState::Active if prev.link.key() != Some(cur_key) => {}
        KeyState::Inactive | KeyState::Missing => {
            return refuse(plan, RollbackRefusal::PreviousRetired { set_id: prev_id });
        }
        _ => return refuse(plan, RollbackRefusal::PreviousUnknown { set_id: prev_id }),
    }
    move_between(
        obs.slots.iter().filter(|s| s.references(&cur.set.id)),
        &cur.set.id,
        &prev.set.id,
        plan,
    );
    plan.retire.push(Retire::Deactivate {
        key: cur_key.clone(),
        set_id: cur.set.id.clone(),
    });
}
