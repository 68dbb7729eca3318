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
use crate::model::{AccessKey, KeyStatus, Observed};
use crate::plan::migrate;
use crate::plan::{
    CanaryStage, CanaryState, KeyDeadline, KeyRole, Mode, Next, Plan, Refusal, Repair, Retire,
    Risk, RiskCause, SetView, Severity, View,
};

/// A key at risk with at most this many days left is urgent.
pub(crate) const URGENT_DAYS: i64 = 3;

/// A step due within this long counts as due now. A scheduler that fires at the same time
/// every day would otherwise slip a day each cycle: the key a run makes is dated a few
/// seconds after the run began, so the next cycle's run comes those seconds too early.
pub(crate) const EARLY: Duration = Duration::hours(1);

/// The wait between a cutover and the old key's deactivation: `retire_after_days`, never
/// less than the settle window.
pub(crate) fn grace(target: &Target) -> Duration {
    Duration::days(target.retire_after_days.into())
        .max(Duration::minutes(target.settle_minutes.into()))
}

/// The longest the cutover itself may take: a canary's `max_hours` (zero without one).
pub(crate) fn cutover_time(target: &Target) -> Duration {
    target.canary.as_ref().map_or(Duration::ZERO, |c| c.max())
}

/// The age a key's rotation starts at: the cutover (a canary's longest), then the grace
/// period, then its deactivation comes `deadline_margin_days` before the deadline. The
/// configuration guarantees it is positive.
pub(crate) fn rotation_age(target: &Target) -> Duration {
    Duration::days(target.max_key_age_days.into())
        - cutover_time(target)
        - grace(target)
        - Duration::days(target.deadline_margin_days.into())
}

/// When a key created at `created` reaches `max_key_age_days`.
pub(crate) fn deadline_of(target: &Target, created: OffsetDateTime) -> OffsetDateTime {
    created.saturating_add(Duration::days(target.max_key_age_days.into()))
}

/// How close `deadline` is at `now`.
pub(crate) fn severity(deadline: OffsetDateTime, now: OffsetDateTime) -> Severity {
    if now >= deadline {
        Severity::Missed
    } else if deadline - now <= Duration::days(URGENT_DAYS) {
        Severity::Urgent
    } else {
        Severity::Warning
    }
}

/// Whole days in `d`, rounded down (a deadline half a day ago is one day past).
pub(crate) fn floor_days(d: Duration) -> i64 {
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
    // Once migrated, the key set in use is an old one, retired like the others (in every
    // mode: an emergency or `retire` plans no migration step, yet the target is migrated).
    let current = view
        .current_set()
        .filter(|_| !migrate::migrated(target, obs));
    obs.keys
        .iter()
        .filter(|k| k.status == KeyStatus::Active && !view.orphans.contains(&k.id))
        .map(|k| key_deadline(target, view, current, now, plan, k))
        .collect()
}

/// When a key's rotation starts and its deactivation is due as things stand, and what
/// puts it at risk, before its deadline is compared with them.
struct Schedule {
    rotation_starts: Option<OffsetDateTime>,
    deactivation_due: Option<OffsetDateTime>,
    cause: Option<RiskCause>,
}

/// One active key's deadline, schedule, slack and risk under `plan`; `current` is the
/// set in use (none once migrated).
fn key_deadline(
    target: &Target,
    view: &View,
    current: Option<&SetView>,
    now: OffsetDateTime,
    plan: &Plan,
    k: &AccessKey,
) -> KeyDeadline {
    let deadline = deadline_of(target, k.created);
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
    let s = match role {
        // Once the cutover is done (an emergency deactivates the exposed key then).
        _ if deactivating => Schedule {
            rotation_starts: None,
            deactivation_due: Some(now),
            cause: None,
        },
        KeyRole::Current => current_schedule(target, now, plan, k),
        KeyRole::Old | KeyRole::Other => old_schedule(target, now, plan, k, set_id.as_deref()),
    };
    let late = s.deactivation_due.is_some_and(|d| d >= deadline);
    let cause = s.cause.or(late.then_some(RiskCause::DeactivationLate));
    KeyDeadline {
        key: k.id.clone(),
        set_id,
        role,
        age_days: floor_days(now - k.created),
        deadline,
        days_left: floor_days(deadline - now),
        rotation_starts: s.rotation_starts,
        deactivation_due: s.deactivation_due,
        slack_days: s.deactivation_due.map(|d| floor_days(deadline - d)),
        risk: cause.map(|cause| Risk {
            cause,
            severity: severity(deadline, now),
        }),
    }
}

/// The current key's schedule: its rotation starts when due (or now, in a rotating run),
/// and it goes off a grace period after the cutover; a rotation that should have started
/// and has not is a risk.
fn current_schedule(target: &Target, now: OffsetDateTime, plan: &Plan, k: &AccessKey) -> Schedule {
    let grace = grace(target);
    let rotating = plan
        .repair
        .iter()
        .any(|r| matches!(r, Repair::Rotate { .. } | Repair::RotateInPlace { .. }));
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
        Schedule {
            rotation_starts: Some(starts),
            deactivation_due: Some(now.saturating_add(cutover).saturating_add(grace)),
            cause: None,
        }
    } else if now.saturating_add(EARLY) >= starts {
        let cause = match plan.refusal {
            Some(Refusal::CanaryFailed { .. }) => RiskCause::CanaryFailed,
            _ => RiskCause::RotationLate,
        };
        Schedule {
            rotation_starts: Some(starts),
            deactivation_due: Some(now.saturating_add(grace)),
            cause: Some(cause),
        }
    } else {
        Schedule {
            rotation_starts: Some(starts),
            deactivation_due: Some(starts.saturating_add(grace)),
            cause: None,
        }
    }
}

/// An old (or no set's) key's schedule: when its canary, its planned deactivation or the
/// cutover off its set `set_id` lets it go off; a held or failed canary, a blocked
/// retirement, or nothing planned past the age rotation starts at is a risk.
fn old_schedule(
    target: &Target,
    now: OffsetDateTime,
    plan: &Plan,
    k: &AccessKey,
    set_id: Option<&str>,
) -> Schedule {
    let grace = grace(target);
    let past_start = now.saturating_add(EARLY) >= k.created.saturating_add(rotation_age(target));
    let upcoming = plan.upcoming.iter().find_map(|u| match &u.step {
        Next::Deactivate { key, .. } if key == &k.id => Some(u.due),
        _ => None,
    });
    let moving_off =
        set_id.is_some_and(|id| plan.cutover.iter().any(|r| r.from.iter().any(|f| f == id)));
    let canary = plan.canary.as_ref().filter(|c| c.key == k.id);
    let rest_moves =
        |c: &&CanaryState| matches!(c.stage, CanaryStage::Passed | CanaryStage::Proceeded);
    let (deactivation_due, cause) = if let Some(c) = canary.filter(|c| !rest_moves(c)) {
        match c.stage {
            CanaryStage::Held => (None, Some(RiskCause::CanaryHeld)),
            CanaryStage::Failed => (None, past_start.then_some(RiskCause::CanaryFailed)),
            // Waiting: the rest moves by `decide_by` at the latest (or is held, which is
            // told).
            _ => (c.decide_by.map(|d| d.saturating_add(grace)), None),
        }
    } else if plan.blocked.iter().any(|b| b.key == k.id) {
        (None, Some(RiskCause::Blocked))
    } else if let Some(due) = upcoming {
        (Some(due), None)
    } else if moving_off {
        (Some(now.saturating_add(grace)), None)
    } else {
        (None, past_start.then_some(RiskCause::NotRetiring))
    };
    Schedule {
        rotation_starts: None,
        deactivation_due,
        cause,
    }
}
