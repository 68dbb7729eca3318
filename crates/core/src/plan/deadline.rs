//! The compliance deadline: no active key may reach `max_key_age_days` (Security Hub IAM.3
//! and AWS Config's `access-keys-rotated` measure the age of active keys; so do the
//! reapers that switch old keys off). The schedule works backwards from it: the old key is
//! deactivated the grace period (`retire_after_days`, never less than `settle_minutes`)
//! after the cutover, so rotation starts that long, plus `deadline_margin_days` kept free
//! for failed runs, before the deadline.
//!
//! [`deadlines`] shows, for every active key, its deadline, when its rotation starts, when
//! its deactivation is due as things stand, the slack between the two, and a [`Risk`] when
//! it may still be active at its deadline: its retirement is blocked, its rotation is late,
//! its deactivation falls after the deadline, or nothing will deactivate it.

use time::{Duration, OffsetDateTime};

use crate::config::Target;
use crate::model::{KeyStatus, Observed};
use crate::plan::migrate;
use crate::plan::{
    CanaryStage, CanaryState, KeyDeadline, KeyRole, Mode, Next, Plan, Refusal, Repair, Retire,
    Risk, RiskCause, Severity, View,
};

/// A key at risk with at most this many days left is urgent.
pub const URGENT_DAYS: i64 = 3;

/// A step due within this long counts as due now. A scheduler that fires at the same time
/// every day would otherwise slip a day each cycle: the key a run makes is dated a few
/// seconds after the run began, so the next cycle's run comes those seconds too early.
pub const EARLY: Duration = Duration::hours(1);

/// The wait between a cutover and the old key's deactivation: `retire_after_days`, never
/// less than the settle window.
pub fn grace(target: &Target) -> Duration {
    Duration::days(target.retire_after_days.into())
        .max(Duration::minutes(target.settle_minutes.into()))
}

/// The longest the cutover itself may take: a canary's `max_hours` (zero without one).
pub fn cutover_time(target: &Target) -> Duration {
    target.canary.as_ref().map_or(Duration::ZERO, |c| c.max())
}

/// The age a key's rotation starts at: the cutover (a canary's longest), then the grace
/// period, then its deactivation comes `deadline_margin_days` before the deadline. The
/// configuration guarantees it is positive.
pub fn rotation_age(target: &Target) -> Duration {
    Duration::days(target.max_key_age_days.into())
        - cutover_time(target)
        - grace(target)
        - Duration::days(target.deadline_margin_days.into())
}

/// When a key created at `created` reaches `max_key_age_days`.
pub fn deadline_of(target: &Target, created: OffsetDateTime) -> OffsetDateTime {
    created.saturating_add(Duration::days(target.max_key_age_days.into()))
}

/// How close `deadline` is at `now`.
pub fn severity(deadline: OffsetDateTime, now: OffsetDateTime) -> Severity {
    if now >= deadline {
        Severity::Missed
    } else if deadline - now <= Duration::days(URGENT_DAYS) {
        Severity::Urgent
    } else {
        Severity::Warning
    }
}

/// Whole days in `d`, rounded down (a deadline half a day ago is one day past).
pub fn floor_days(d: Duration) -> i64 {
    d.whole_seconds().div_euclid(86_400)
}

/// The deadline of every active key of the target under `plan`.
pub(super) fn deadlines(
    target: &Target,
    obs: &Observed,
    view: &View,
    now: OffsetDateTime,
    mode: Mode,
    plan: &Plan,
) -> Vec<KeyDeadline> {
    if mode == Mode::Rollback {
        // A rollback changes which set is current: the next run shows the schedule.
        return Vec::new();
    }
    let grace = grace(target);
    // Once migrated, the key set in use is an old one, retired like the others (in every
    // mode: an emergency or `retire` plans no migration step, yet the target is migrated).
    let current = view
        .current_set()
        .filter(|_| !migrate::migrated(target, obs));
    let rotating = plan
        .repair
        .iter()
        .any(|r| matches!(r, Repair::Rotate { .. } | Repair::RotateInPlace { .. }));
    obs.keys
        .iter()
        .filter(|k| k.status == KeyStatus::Active && !view.orphans.contains(&k.id))
        .map(|k| {
            let deadline = deadline_of(target, k.created);
            let past_start =
                now.saturating_add(EARLY) >= k.created.saturating_add(rotation_age(target));
            let is_current = current.is_some_and(|c| c.link.key() == Some(&k.id));
            let held_by = view
                .sets
                .iter()
                .find(|s| s.link.key() == Some(&k.id) || s.previous.as_ref() == Some(&k.id));
            let role = match (is_current, held_by) {
                (true, _) => KeyRole::Current,
                (false, Some(_)) => KeyRole::Old,
                (false, None) => KeyRole::Other,
            };
            let held_by = if is_current { current } else { held_by };
            let set_id = held_by.map(|s| s.set.id.clone());
            let deactivating = plan
                .retire
                .iter()
                .any(|r| matches!(r, Retire::Deactivate { key, .. } if key == &k.id));
            let (rotation_starts, deactivation_due, cause) = match role {
                // Once the cutover is done (an emergency deactivates the exposed key then).
                _ if deactivating => (None, Some(now), None),
                KeyRole::Current => {
                    let starts = plan
                        .due
                        .next
                        .unwrap_or_else(|| k.created.saturating_add(rotation_age(target)));
                    if rotating {
                        // The rest of the cutover may wait for a canary's decision.
                        let cutover = plan
                            .canary
                            .as_ref()
                            .map_or(Duration::ZERO, |_| cutover_time(target));
                        (
                            Some(starts),
                            Some(now.saturating_add(cutover).saturating_add(grace)),
                            None,
                        )
                    } else if now.saturating_add(EARLY) >= starts {
                        let cause = match plan.refusal {
                            Some(Refusal::CanaryFailed { .. }) => RiskCause::CanaryFailed,
                            _ => RiskCause::RotationLate,
                        };
                        (Some(starts), Some(now.saturating_add(grace)), Some(cause))
                    } else {
                        (Some(starts), Some(starts.saturating_add(grace)), None)
                    }
                }
                KeyRole::Old | KeyRole::Other => {
                    let upcoming = plan.upcoming.iter().find_map(|u| match &u.step {
                        Next::Deactivate { key, .. } if key == &k.id => Some(u.due),
                        _ => None,
                    });
                    let moving_off = set_id.as_ref().is_some_and(|id| {
                        plan.cutover.iter().any(|r| r.from.iter().any(|f| f == id))
                    });
                    let canary = plan.canary.as_ref().filter(|c| c.key == k.id);
                    let rest_moves = |c: &&CanaryState| {
                        matches!(c.stage, CanaryStage::Passed | CanaryStage::Proceeded)
                    };
                    if let Some(c) = canary.filter(|c| !rest_moves(c)) {
                        match c.stage {
                            CanaryStage::Held => (None, None, Some(RiskCause::CanaryHeld)),
                            CanaryStage::Failed => {
                                (None, None, past_start.then_some(RiskCause::CanaryFailed))
                            }
                            // Waiting: the rest moves by `decide_by` at the latest (or is
                            // held, which is told).
                            _ => (None, c.decide_by.map(|d| d.saturating_add(grace)), None),
                        }
                    } else if plan.blocked.iter().any(|b| b.key == k.id) {
                        (None, None, Some(RiskCause::Blocked))
                    } else if let Some(due) = upcoming {
                        (None, Some(due), None)
                    } else if moving_off {
                        (None, Some(now.saturating_add(grace)), None)
                    } else {
                        (None, None, past_start.then_some(RiskCause::NotRetiring))
                    }
                }
            };
            let late = deactivation_due.is_some_and(|d| d >= deadline);
            let cause = cause.or(late.then_some(RiskCause::DeactivationLate));
            KeyDeadline {
                key: k.id.clone(),
                set_id,
                role,
                age_days: floor_days(now - k.created),
                deadline,
                days_left: floor_days(deadline - now),
                rotation_starts,
                deactivation_due,
                slack_days: deactivation_due.map(|d| floor_days(deadline - d)),
                risk: cause.map(|cause| Risk {
                    cause,
                    severity: severity(deadline, now),
                }),
            }
        })
        .collect()
}
