//! Moving references off the key onto the target's role set, once `migrate-to-role` has
//! made it (docs/ARCHITECTURE.md, *Migrating to a role*): one holder kind at a time,
//! documented role-capable kinds first, each through a canary judged like a rotation's.
//! A kind that refuses the role set (a 4xx on the write, recorded by the executor, or AWS
//! refusing it in SORACOM's logs) stays on the key for good and is reported. When no
//! reference is left on a key set, the target is migrated: it never gets a new key, and
//! its keys are retired through the normal evidence-gated path.
//!
//! State is read back from SORACOM and IAM: which slots name the role set, and two records
//! per holder kind on the IAM user (`role-canary:<kind>`, `role-refused:<kind>`).

use time::OffsetDateTime;

use crate::config::{Canary, CanaryHolders, Target, WithoutEvidence};
use crate::model::{Holder, Observed, Slot};
use crate::plan::canary::log_service;
use crate::plan::rotate::move_between;
use crate::plan::{
    CanaryStage, Evidence, KeyState, Migration, MigrationStage, Plan, Repair, Retire, View,
};
use crate::role::{linked_role, ROLE_CREDENTIALS};

/// A holder's kind: event handlers, VPG inspection, or a group namespace.
pub(crate) fn holder_kind(h: &Holder) -> String {
    match h {
        Holder::EventHandler { .. } => "event-handler".into(),
        Holder::VpgInspection { .. } => "vpg-inspection".into(),
        Holder::GroupKey { namespace, .. } => format!("group.{namespace}"),
    }
}

/// Whether SORACOM documents that this kind accepts `aws-iam-role-credentials` (the
/// event handler's `InvokeAWSLambdaAction`: spec `ActionConfigProperty`, SORACOM's blog of
/// 2020-10-13). Such kinds move first.
fn documented(kind: &str) -> bool {
    kind == "event-handler"
}

/// The canary settings a migration uses: the target's, or the defaults.
fn settings(target: &Target) -> Canary {
    target.canary.clone().unwrap_or(Canary {
        holders: CanaryHolders::First,
        min_minutes: crate::config::settings::CANARY_MIN_MINUTES.default,
        max_hours: crate::config::settings::CANARY_MAX_HOURS.default,
        without_evidence: WithoutEvidence::Hold,
    })
}

/// Whether the target's role set exists as `migrate-to-role` registers it (of type
/// `aws-iam-role-credentials`, its description naming the role): then its references are
/// moving (or moved). A set of that id made by hand is not a reason to move anything.
pub(crate) fn role_set_exists(target: &Target, obs: &Observed) -> bool {
    obs.sets.iter().any(|s| {
        s.id == target.role_set_id && s.kind == ROLE_CREDENTIALS && linked_role(s).is_some()
    })
}

/// Whether the target is migrated: its role set exists and is referenced, and no
/// reference names one of its key sets.
pub(crate) fn migrated(target: &Target, obs: &Observed) -> bool {
    role_set_exists(target, obs)
        && obs.slots.iter().any(|s| s.references(&target.role_set_id))
        && !obs
            .slots
            .iter()
            .any(|s| s.refs.iter().any(|r| target.owns(&r.set_id)))
}

/// References still naming the role set after a person deleted it name a set that does not
/// exist, and SORACOM's services fail on them: they go back to the key set in use, when its
/// key is known to be active. A set of that id that exists (ours or not) is left alone.
fn back_from_a_deleted_role_set(target: &Target, obs: &Observed, view: &View, plan: &mut Plan) {
    let role = target.role_set_id.as_str();
    if obs.sets.iter().any(|s| s.id == role) {
        return;
    }
    let Some(current) = view
        .current_set()
        .filter(|c| c.key_state == KeyState::Active)
    else {
        return;
    };
    let planned: std::collections::BTreeSet<&Holder> =
        plan.cutover.iter().map(|r| &r.slot.holder).collect();
    let stranded: Vec<&Slot> = obs
        .slots
        .iter()
        .filter(|s| s.references(role) && !planned.contains(&s.holder))
        .collect();
    move_between(stranded, role, &current.set.id, plan);
}

/// Whether the target still needs a key: its role set does not exist, or a reference on a
/// key set is of a kind not yet on the role set (or that refused it). References of kinds
/// already on the role set (a person pointed one back, a new group) move onto it instead.
pub(crate) fn needs_key(target: &Target, obs: &Observed) -> bool {
    if !role_set_exists(target, obs) {
        return true;
    }
    // The kinds on the role set whose canary is over, gathered once (linear in the slots).
    // A kind still under its canary needs the key for the holders that wait on it.
    let proven: std::collections::BTreeSet<String> = obs
        .slots
        .iter()
        .filter(|s| s.references(&target.role_set_id))
        .map(|s| holder_kind(&s.holder))
        .filter(|k| !obs.records.role_canary.contains_key(k))
        .collect();
    proven.is_empty()
        || obs
            .slots
            .iter()
            .filter(|s| s.refs.iter().any(|r| target.owns(&r.set_id)))
            .map(|s| holder_kind(&s.holder))
            .any(|k| !proven.contains(&k) || obs.records.role_refused.contains_key(&k))
}

/// Plans the next step of the migration onto the role set, for the slots whose key
/// references are all on `current` (the key set in use) and that this plan moves nowhere
/// else. Does nothing without the role set, or while a rotation's canary runs.
pub(super) fn migrate(
    target: &Target,
    obs: &Observed,
    view: &View,
    now: OffsetDateTime,
    plan: &mut Plan,
) {
    if plan.canary.is_some() {
        return;
    }
    if !role_set_exists(target, obs) {
        back_from_a_deleted_role_set(target, obs, view, plan);
        return;
    }
    let role = target.role_set_id.clone();
    let refused = &obs.records.role_refused;
    let state = |stage: MigrationStage| Migration {
        stage,
        role_set: role.clone(),
        kind: None,
        refused: refused.keys().cloned().collect(),
        since: None,
        evidence: Evidence::default(),
    };
    if migrated(target, obs) {
        plan.migration = Some(state(MigrationStage::Migrated));
        return;
    }
    // References move back or wait only on a key set whose key is known to be active.
    let Some(current) = view
        .current_set()
        .filter(|c| c.key_state == KeyState::Active)
        .map(|c| c.set.id.clone())
    else {
        return;
    };
    let sides = Sides::of(target, obs, plan, role.clone(), current);
    let mut state = state(MigrationStage::Moving);
    send_refused_back(obs, &sides, plan);
    match running_role_canary(obs) {
        Some((kind, since)) => {
            judge_role_canary(target, obs, now, &sides, (kind, since), &mut state, plan)
        }
        None => next_kind(obs, &sides, &mut state, plan),
    }
    plan.migration = Some(state);
}

/// The slots a step of the migration moves between.
struct Sides<'a> {
    /// The role set's id.
    role: String,
    /// The key set in use.
    current: String,
    /// Slots whose key references are all on `current`, that the plan moves nowhere else.
    on_key: Vec<&'a Slot>,
    /// Slots that reference the role set.
    on_role: Vec<&'a Slot>,
}

impl<'a> Sides<'a> {
    fn of(
        target: &Target,
        obs: &'a Observed,
        plan: &Plan,
        role: String,
        current: String,
    ) -> Sides<'a> {
        let planned: std::collections::BTreeSet<&Holder> =
            plan.cutover.iter().map(|r| &r.slot.holder).collect();
        let on_key = |s: &&Slot| {
            !planned.contains(&s.holder)
                && s.refs.iter().any(|r| target.owns(&r.set_id))
                && s.refs
                    .iter()
                    .all(|r| !target.owns(&r.set_id) || r.set_id == current)
        };
        Sides {
            on_key: obs.slots.iter().filter(on_key).collect(),
            on_role: obs.slots.iter().filter(|s| s.references(&role)).collect(),
            role,
            current,
        }
    }
}

/// The slots of holder kind `kind` among `slots`.
fn of_kind(slots: &[&Slot], kind: &str) -> Vec<Slot> {
    slots
        .iter()
        .filter(|s| holder_kind(&s.holder) == kind)
        .map(|s| (*s).clone())
        .collect()
}

/// A kind that refused the role set goes back to the key (a run that recorded the
/// refusal may have stopped before moving it), and its canary is over.
fn send_refused_back(obs: &Observed, sides: &Sides, plan: &mut Plan) {
    for kind in obs.records.role_refused.keys() {
        move_between(
            &of_kind(&sides.on_role, kind),
            &sides.role,
            &sides.current,
            plan,
        );
        if obs.records.role_canary.contains_key(kind) {
            plan.retire
                .push(Retire::EndRoleCanary { kind: kind.clone() });
        }
    }
}

/// The kind under a canary onto the role set, and since when: only one runs at a time,
/// and a kind that refused the role set has none.
fn running_role_canary(obs: &Observed) -> Option<(String, OffsetDateTime)> {
    obs.records
        .role_canary
        .iter()
        .find(|(k, _)| !obs.records.role_refused.contains_key(*k))
        .map(|(k, t)| (k.clone(), *t))
}

/// Judges the kind under a canary from its evidence, and plans what follows: its first
/// move (again), back to the key for good, or the rest of its holders onto the role set.
fn judge_role_canary(
    target: &Target,
    obs: &Observed,
    now: OffsetDateTime,
    sides: &Sides,
    (kind, since): (String, OffsetDateTime),
    state: &mut Migration,
    plan: &mut Plan,
) {
    state.kind = Some(kind.clone());
    state.since = Some(since);
    let on_role = of_kind(&sides.on_role, &kind);
    let waiting = of_kind(&sides.on_key, &kind);
    state.evidence = role_evidence(obs, &sides.role, &on_role, since);
    let stage = if on_role.is_empty() {
        // The canary's first move never happened (or a run stopped before it).
        CanaryStage::Starting
    } else {
        role_canary_stage(&settings(target), now, since, &state.evidence)
    };
    state.stage = MigrationStage::Canary(stage);
    let (role, current) = (sides.role.as_str(), sides.current.as_str());
    match stage {
        CanaryStage::Starting => {
            // Evidence counts from this move: the canary is recorded again, so a
            // canary a person moved back is not judged on the time before.
            plan.repair
                .push(Repair::StartRoleCanary { kind: kind.clone() });
            state.since = None;
            move_between(&waiting[..waiting.len().min(1)], current, role, plan)
        }
        CanaryStage::Failed => {
            plan.repair.push(Repair::RefuseRole { kind: kind.clone() });
            move_between(&on_role, role, current, plan);
            plan.retire.push(Retire::EndRoleCanary { kind });
        }
        CanaryStage::Passed | CanaryStage::Proceeded => {
            move_between(&waiting, current, role, plan);
            plan.retire.push(Retire::EndRoleCanary { kind });
        }
        CanaryStage::Watching | CanaryStage::Held => {}
    }
}

/// The evidence about a canary on the role set since `since`: the set's last use, and
/// the authentication failures logged by the services of the holders on it.
fn role_evidence(obs: &Observed, role: &str, on_role: &[Slot], since: OffsetDateTime) -> Evidence {
    let set_used = obs
        .sets
        .iter()
        .find(|s| s.id == role)
        .and_then(|s| s.last_used)
        .filter(|t| *t > since);
    let services: Vec<&str> = on_role
        .iter()
        .filter_map(|s| log_service(&s.holder))
        .collect();
    Evidence {
        key_used: None,
        set_used,
        failures: obs
            .auth_failures
            .iter()
            .filter(|f| f.at >= since && services.contains(&f.service.as_str()))
            .cloned()
            .collect(),
    }
}

/// The stage of a canary that moved at `since`, by its evidence and `cfg`'s times.
fn role_canary_stage(
    cfg: &Canary,
    now: OffsetDateTime,
    since: OffsetDateTime,
    evidence: &Evidence,
) -> CanaryStage {
    let ready = now >= since.saturating_add(time::Duration::minutes(cfg.min_minutes.into()));
    let timed_out = now >= since.saturating_add(cfg.max());
    if !evidence.failures.is_empty() {
        CanaryStage::Failed
    } else if evidence.positive() && ready {
        CanaryStage::Passed
    } else if timed_out && cfg.without_evidence == WithoutEvidence::Proceed {
        CanaryStage::Proceeded
    } else if timed_out {
        CanaryStage::Held
    } else {
        CanaryStage::Watching
    }
}

/// With no canary running: a kind already on the role set (its canary passed) takes new
/// or returned references at once; the next kind, documented ones first, starts its
/// canary. When every kind left on the key refused the role set, the key stays for them.
fn next_kind(obs: &Observed, sides: &Sides, state: &mut Migration, plan: &mut Plan) {
    let refused = &obs.records.role_refused;
    let (role, current) = (sides.role.as_str(), sides.current.as_str());
    let proven = |k: &str| sides.on_role.iter().any(|s| holder_kind(&s.holder) == k);
    let mut kinds: Vec<String> = Vec::new();
    for s in &sides.on_key {
        let k = holder_kind(&s.holder);
        if !kinds.contains(&k) && !refused.contains_key(&k) {
            kinds.push(k);
        }
    }
    let (ready, pending): (Vec<String>, Vec<String>) = kinds.into_iter().partition(|k| proven(k));
    for k in &ready {
        move_between(&of_kind(&sides.on_key, k), current, role, plan);
    }
    let next = pending
        .iter()
        .find(|k| documented(k))
        .or_else(|| pending.first())
        .cloned();
    if let Some(kind) = next {
        plan.repair
            .push(Repair::StartRoleCanary { kind: kind.clone() });
        let first = of_kind(&sides.on_key, &kind);
        move_between(&first[..first.len().min(1)], current, role, plan);
        state.stage = MigrationStage::Canary(CanaryStage::Starting);
        state.kind = Some(kind);
    } else if ready.is_empty() {
        // Every kind left on the key refused the role set: the key stays for them.
        state.stage = MigrationStage::Partial;
    }
}
