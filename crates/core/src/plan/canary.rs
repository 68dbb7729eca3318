//! The canary: a rotation first moves a few references onto the new key and ends the run;
//! later runs judge them from production evidence, then move the rest, or move the canary
//! back and drop the new key (docs/ARCHITECTURE.md, *The canary*).
//!
//! The stage is never kept locally. It is read back from what SORACOM and IAM show: which
//! slots reference the new set, and two marks on the IAM user about the old key —
//! [`Mark::Canary`] (written before the canary moves; evidence counts from then) and
//! [`Mark::CanaryFailed`] (written before it moves back).

use serde_json::Value;
use time::OffsetDateTime;

use crate::config::{CanaryHolders, Target, WithoutEvidence};
use crate::model::{AuthFailure, Holder, Observed, Slot};
use crate::plan::rotate::{move_between, repoint_onto};
use crate::plan::{
    CanaryStage, CanaryState, Evidence, KeyState, Mode, Next, Note, Plan, Refusal, Repair, Retire,
    SetView, Upcoming, View,
};
use crate::records::{KeyRecord, Mark};
use crate::secret::AccessKeyId;

/// The AWS errors that say a request's credentials were refused, longest first (so that
/// `AccessDeniedException` is named rather than `AccessDenied`).
const AUTH_ERRORS: [&str; 10] = [
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "AccessDeniedException",
    "InvalidClientTokenId",
    "UnauthorizedException",
    "ExpiredTokenException",
    "ForbiddenException",
    "AccessDenied",
    "ExpiredToken",
];

/// Nesting deeper than this in a log entry's body is not searched.
const MAX_DEPTH: usize = 16;

/// Error log entries kept per target as evidence (the first ones are enough).
pub const MAX_FAILURES: usize = 20;

/// The AWS authentication or authorisation failure an error log entry's body reports, if
/// any: one of `AUTH_ERRORS` in a string, or an HTTP 401/403 in a member whose name says
/// status. The body's format is not documented, so every string in it is searched.
pub fn auth_failure(body: &Value) -> Option<&'static str> {
    fn walk(v: &Value, key: &str, depth: usize) -> Option<&'static str> {
        if depth > MAX_DEPTH {
            return None;
        }
        match v {
            Value::String(s) => AUTH_ERRORS.iter().copied().find(|e| s.contains(e)),
            Value::Number(n) if key.to_ascii_lowercase().contains("status") => match n.as_u64() {
                Some(401) => Some("HTTP 401"),
                Some(403) => Some("HTTP 403"),
                _ => None,
            },
            Value::Array(items) => items.iter().find_map(|i| walk(i, key, depth + 1)),
            Value::Object(map) => map.iter().find_map(|(k, v)| walk(v, k, depth + 1)),
            _ => None,
        }
    }
    walk(body, "", 0)
}

/// The SORACOM service whose error logs speak for `holder` (`getLogs`' `service`): a
/// group namespace `Soracom<Service>`, and Funnel for a VPG's Junction inspection report.
/// Event handlers log nowhere the API shows.
pub fn log_service(holder: &Holder) -> Option<&'static str> {
    const SERVICES: [&str; 8] = [
        "Air", "Beam", "Funk", "Funnel", "Harvest", "Napter", "Orbit", "Unified",
    ];
    match holder {
        Holder::GroupKey { namespace, .. } => {
            let name = namespace.strip_prefix("Soracom")?;
            SERVICES.iter().copied().find(|s| *s == name)
        }
        Holder::VpgInspection { .. } => Some("Funnel"),
        Holder::EventHandler { .. } => None,
    }
}

/// A rotation refused because the last canary off the current key failed: `reconcile`
/// does not try again until a person runs `rotate` (which forgets the failure). Returns
/// whether rotation may go ahead.
pub(super) fn after_failure(
    target: &Target,
    obs: &Observed,
    view: &View,
    mode: Mode,
    plan: &mut Plan,
) -> bool {
    let Some(cur) = view
        .current_set()
        .filter(|c| c.key_state == KeyState::Active)
    else {
        return true;
    };
    let Some(key) = cur.link.certain() else {
        return true;
    };
    let Some(at) = obs.records.canary_failed.get(key).copied() else {
        return true;
    };
    match mode {
        Mode::Reconcile if target.canary.is_some() => {
            plan.refusal = Some(Refusal::CanaryFailed {
                key: key.clone(),
                set_id: cur.set.id.clone(),
                at,
            });
            false
        }
        // Asked for by a person (or an emergency): the failure is forgotten once this
        // rotation's cutover starts.
        _ => {
            plan.retire.push(Retire::Unrecord {
                key: key.clone(),
                mark: Mark::CanaryFailed,
            });
            true
        }
    }
}

/// What the canary makes of the cutover onto `to` (`rotating`: the set is made in this
/// run). Returns whether it planned the cutover; otherwise every reference moves at once.
pub(super) fn cutover(
    target: &Target,
    obs: &Observed,
    view: &View,
    now: OffsetDateTime,
    mode: Mode,
    (to, rotating): (&str, bool),
    plan: &mut Plan,
) -> bool {
    let on_new: Vec<&Slot> = obs.slots.iter().filter(|s| s.references(to)).collect();
    let (cfg, from) = match (&target.canary, mode, left_set(target, obs, view, to)) {
        (Some(cfg), Mode::Reconcile | Mode::Rotate, Some(from)) => (cfg, from),
        _ => {
            forget_finished(obs, plan);
            return false;
        }
    };
    let Some(key) = from.link.certain() else {
        return false;
    };
    let since = obs.records.canary.get(key).copied();
    let failed = failed_since(obs, key, since, rotating);
    let chosen = choose(target, obs, to, plan);
    let mut state = CanaryState {
        stage: CanaryStage::Starting,
        key: key.clone(),
        from_set: from.set.id.clone(),
        to_set: to.to_string(),
        holders: holders_of(&chosen, &on_new),
        since,
        ready_from: since.map(|s| s.saturating_add(minutes(cfg.min_minutes))),
        decide_by: since.map(|s| s.saturating_add(cfg.max())),
        evidence: Evidence::default(),
    };
    let to_view = view.sets.iter().find(|s| s.set.id == to);
    match (since, failed, on_new.is_empty() || rotating) {
        // The canary failed: back, and the new key goes.
        (_, Some(_), _) => fail(obs, &on_new, from, to_view, &mut state, plan),
        // Nothing on the new set yet: the canary (re)starts now.
        (_, None, true) => {
            plan.repair.push(Repair::StartCanary { key: key.clone() });
            repoint_onto(target, chosen.iter().copied(), to, plan);
            state.since = None;
            state.ready_from = None;
            state.decide_by = Some(now.saturating_add(cfg.max()));
        }
        // References on the new set without a canary: an interrupted full cutover, or a
        // person's move; the rest follows.
        (None, None, false) => return false,
        (Some(since), None, false) => {
            state.evidence = evidence(obs, to_view, since, &state.holders);
            judge(
                target,
                obs,
                now,
                (&chosen, &on_new, from, to_view),
                &mut state,
                plan,
            );
        }
    }
    if let Some(by) = state.decide_by.filter(|_| state.stage.waiting()) {
        plan.upcoming.push(Upcoming {
            step: Next::CanaryDecided {
                set_id: to.to_string(),
            },
            due: by,
        });
    }
    plan.canary = Some(state);
    true
}

/// The set the canary leaves: the newest of the target's sets with a known, active key
/// that a reference still names (a reference to one of the target's sets other than `to`).
fn left_set<'v>(target: &Target, obs: &Observed, view: &'v View, to: &str) -> Option<&'v SetView> {
    let moving: Vec<&Slot> = obs
        .slots
        .iter()
        .filter(|s| {
            s.refs
                .iter()
                .any(|r| r.set_id != to && target.owns(&r.set_id))
        })
        .collect();
    view.sets.iter().rev().find(|s| {
        s.set.id != to
            && s.key_state == KeyState::Active
            && s.link.certain().is_some()
            && moving.iter().any(|m| m.references(&s.set.id))
    })
}

/// When the canary off `key` failed, if it failed since it started (`since`). A key made
/// in this run (`rotating`: a person's `rotate` after a failure) always starts a canary of
/// its own, whatever records an earlier run failed to remove.
fn failed_since(
    obs: &Observed,
    key: &AccessKeyId,
    since: Option<OffsetDateTime>,
    rotating: bool,
) -> Option<OffsetDateTime> {
    obs.records
        .canary_failed
        .get(key)
        .copied()
        .filter(|f| since.is_some_and(|s| *f >= s))
        .filter(|_| !rotating)
}

/// The canary's holders: the chosen ones and those already on the new set, each once.
fn holders_of(chosen: &[&Slot], on_new: &[&Slot]) -> Vec<Holder> {
    chosen
        .iter()
        .chain(on_new.iter())
        .map(|s| &s.holder)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .cloned()
        .collect()
}

/// Judges a canary that has run since `since` from its evidence, and plans what follows.
fn judge(
    target: &Target,
    obs: &Observed,
    now: OffsetDateTime,
    (chosen, on_new, from, to_view): (&[&Slot], &[&Slot], &SetView, Option<&SetView>),
    state: &mut CanaryState,
    plan: &mut Plan,
) {
    let Some(cfg) = &target.canary else {
        return;
    };
    let to = state.to_set.clone();
    let positive = state.evidence.positive();
    let ready = state.ready_from.is_some_and(|r| now >= r);
    let timed_out = state.decide_by.is_some_and(|d| now >= d);
    if !state.evidence.failures.is_empty() {
        plan.repair.push(Repair::FailCanary {
            key: state.key.clone(),
        });
        fail(obs, on_new, from, to_view, state, plan);
    } else if (positive && ready) || (timed_out && cfg.without_evidence == WithoutEvidence::Proceed)
    {
        state.stage = if positive {
            CanaryStage::Passed
        } else {
            CanaryStage::Proceeded
        };
        repoint_onto(target, &obs.slots, &to, plan);
        plan.retire.push(Retire::Unrecord {
            key: state.key.clone(),
            mark: Mark::Canary,
        });
    } else if timed_out {
        state.stage = CanaryStage::Held;
    } else {
        // A canary holder that did not move yet (a run stopped between them) moves now.
        state.stage = CanaryStage::Watching;
        repoint_onto(target, chosen.iter().copied(), &to, plan);
    }
}

/// The canary failed: every reference on the new set moves back to `from`, then the new
/// key and set are deleted and the canary's record is removed (its failure stays).
fn fail(
    obs: &Observed,
    on_new: &[&Slot],
    from: &SetView,
    to_view: Option<&SetView>,
    state: &mut CanaryState,
    plan: &mut Plan,
) {
    state.stage = CanaryStage::Failed;
    if state.evidence.failures.is_empty() {
        // A failure an earlier run recorded: quote what the logs still show of it.
        state.evidence.failures = failures(obs, state.since, &state.holders);
    }
    move_between(on_new.iter().copied(), &state.to_set, &from.set.id, plan);
    // The new set is this tool's (a managed id) and its key is the one this tool made for
    // it (its record says so): both go. A key a person put there is left, only moved off.
    if let Some(new_key) = to_view.and_then(|s| s.link.certain()) {
        let made_for_it = matches!(
            obs.records.keys.get(new_key),
            Some(KeyRecord::InFlight { set_id, .. } | KeyRecord::HeldBy { set_id, .. })
                if *set_id == state.to_set
        );
        if new_key != &state.key && made_for_it {
            plan.retire.push(Retire::DropCanary {
                key: new_key.clone(),
                set_id: state.to_set.clone(),
            });
        }
    }
    plan.retire.push(Retire::Unrecord {
        key: state.key.clone(),
        mark: Mark::Canary,
    });
}

/// The evidence since `since`: the new key's last use by a service other than STS (the
/// verification's own calls are STS), the new set's last use, and SORACOM's error logs of
/// the canary holders' services (the logs are the operator's: another service's failures
/// say nothing of this canary).
fn evidence(
    obs: &Observed,
    to_view: Option<&SetView>,
    since: OffsetDateTime,
    holders: &[Holder],
) -> Evidence {
    let new_key = to_view.and_then(|s| s.link.key());
    let key_used = new_key
        .and_then(|k| obs.keys.iter().find(|x| &x.id == k))
        .and_then(|k| k.last_used.clone())
        .filter(|u| u.at > since && !u.service.eq_ignore_ascii_case("sts"));
    let set_used = to_view.and_then(|s| s.set.last_used).filter(|t| *t > since);
    Evidence {
        key_used,
        set_used,
        failures: failures(obs, Some(since), holders),
    }
}

/// The authentication failures SORACOM logged for the services of `holders` (since
/// `since`, when known): the logs are the operator's, and another service's failures say
/// nothing of this canary.
fn failures(obs: &Observed, since: Option<OffsetDateTime>, holders: &[Holder]) -> Vec<AuthFailure> {
    let services: Vec<&str> = holders.iter().filter_map(log_service).collect();
    obs.auth_failures
        .iter()
        .filter(|f| since.is_none_or(|s| f.at >= s) && services.contains(&f.service.as_str()))
        .cloned()
        .collect()
}

/// The canary's slots: the named holders that reference one of the target's sets, or the
/// first such slot (also when none of the named ones does, with a note).
fn choose<'a>(target: &Target, obs: &'a Observed, to: &str, plan: &mut Plan) -> Vec<&'a Slot> {
    // Slots with a reference to a key set of the target (not only to its role set).
    let ours: Vec<&Slot> = obs
        .slots
        .iter()
        .filter(|s| s.refs.iter().any(|r| target.owns(&r.set_id)))
        .collect();
    let Some(cfg) = &target.canary else {
        return Vec::new();
    };
    if let CanaryHolders::Named(names) = &cfg.holders {
        let named: Vec<&Slot> = ours
            .iter()
            .copied()
            .filter(|s| cfg.names(&s.holder))
            .collect();
        if !named.is_empty() {
            return named;
        }
        plan.notes.push(Note::CanaryHoldersAbsent {
            names: names.clone(),
        });
    }
    // Listing order is stable; a slot already on the new set is the first one's stand-in.
    let first = ours
        .iter()
        .copied()
        .find(|s| s.references(to))
        .or_else(|| ours.first().copied());
    first.into_iter().collect()
}

/// Without a canary stage (none configured, an emergency, or no reference left on a set
/// with a known, active key), canary records describe nothing: they go.
fn forget_finished(obs: &Observed, plan: &mut Plan) {
    for key in obs.records.canary.keys() {
        let step = Retire::Unrecord {
            key: key.clone(),
            mark: Mark::Canary,
        };
        if !plan.retire.contains(&step) {
            plan.retire.push(step);
        }
    }
}

fn minutes(m: u32) -> time::Duration {
    time::Duration::minutes(m.into())
}

/// Whether the plan drops `key` (a failed canary's new key).
pub(super) fn drops(plan: &Plan, key: &AccessKeyId) -> bool {
    plan.retire
        .iter()
        .any(|r| matches!(r, Retire::DropCanary { key: k, .. } if k == key))
}
