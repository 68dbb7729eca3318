//! Notifications: a ladder of messages over SNS and/or a webhook, so that an unattended run
//! tells someone what happened and, above all, when a human must act.
//!
//! [`notices`] is a pure function of a [`RunReport`] and the `[notify]` settings. Each
//! [`Rung`] is on or off in `[notify]`: a rotation due soon, a rotation done (with its
//! cutover), an old key deactivated, an old key deleted, a retirement blocked by use after
//! the cutover (who used the key: service, region, time), a run that failed or was refused,
//! and a key at risk of being active at its deadline (warning, then urgent, then missed).
//! A message about a risk carries its `Severity`; one about a failure carries the
//! severity of the key closest to its deadline.
//!
//! One event makes one message: the rungs that describe a state (due soon, blocked, failed,
//! deadline) remember on the target's IAM user what they last told ([`remember`]), so a
//! scheduler that runs hourly, or retries, does not repeat them; a failure is told at most
//! once a day, a risk again only when its severity grows. The rungs that describe a change
//! are told by the one run that made it. Only runs that may write remember; a dry run tells
//! what is not remembered yet. Messages are built only from the report, which never holds
//! a secret.
//!
//! Delivery (SNS, webhook) is the `rotator` crate's: a failure there is logged and
//! counted, never raised.

use serde::Serialize;
use std::collections::BTreeSet;
use time::OffsetDateTime;

use crate::config::{NotifySettings, Rung, WebhookFormat};
use crate::plan::{
    severity, CanaryStage, KeyDeadline, KeyRole, Note, Plan, Risk, RiskCause, Severity, EARLY,
};
use crate::records::notified_tag;
use crate::report::{Change, Outcome, RunReport, TargetReport};
use crate::secret::AccessKeyId;
use crate::wording::use_after;
use crate::words::{fmt_time, Words};

/// Longest SNS subject (SNS allows 100 characters).
const MAX_SUBJECT: usize = 100;

/// One message about one target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    /// The target it is about.
    pub target: String,
    /// The rung that sends it.
    pub rung: Rung,
    /// How close the deadline is, when a deadline is at stake.
    pub(crate) severity: Option<Severity>,
    /// What it is about, as remembered on the IAM user: a key id, `key=severity`, or the day.
    pub(crate) event: String,
    /// A one-line subject (at most 100 characters, for SNS).
    pub subject: String,
    /// The message: what happened, the keys (masked), what to do.
    pub text: String,
}

/// Whether `rung` describes a state that lasts (and so remembers what it told) rather than
/// a change a single run made. The emergency rung remembers for its lasting event (an
/// exposed key this tool does not switch off); its change is made, and told, once anyway.
fn remembers(rung: Rung) -> bool {
    matches!(
        rung,
        Rung::DueSoon | Rung::Blocked | Rung::Failed | Rung::Deadline | Rung::Emergency
    )
}

/// The level of a remembered event: `key=severity` has one; other events are equal or not.
fn level(event: &str) -> (&str, Option<Severity>) {
    match event.split_once('=') {
        Some((subject, "warning")) => (subject, Some(Severity::Warning)),
        Some((subject, "urgent")) => (subject, Some(Severity::Urgent)),
        Some((subject, "missed")) => (subject, Some(Severity::Missed)),
        _ => (event, None),
    }
}

/// Whether `told` already covers `event`: the same event, or the same key at a severity as
/// high or higher.
fn covers(told: &str, event: &str) -> bool {
    match (level(told), level(event)) {
        ((a, Some(x)), (b, Some(y))) => a == b && x >= y,
        _ => told == event,
    }
}

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Warning => "warning",
        Severity::Urgent => "urgent",
        Severity::Missed => "missed",
    }
}

/// Every event of the ladder a target's run shows, told or not, with the rung's settings
/// applied: what [`notices`] sends unless remembered, and what [`remember`] keeps.
fn events(report: &RunReport, t: &TargetReport, settings: &NotifySettings) -> Vec<Notice> {
    let now = report.now;
    let Some(plan) = t.plan.as_ref() else {
        // Nothing could be observed: only the failure can be told.
        return failure(report, t, None).into_iter().collect();
    };
    let mut out = Vec::new();
    out.extend(failure(report, t, pressing(plan, now)));
    out.extend(exposed_unmanaged(t, plan));
    out.extend(blocked(t, plan, now));
    out.extend(canary_needs_human(t, plan, now));
    out.extend(migration_needs_human(t, plan));
    out.extend(plan.at_risk().map(|(d, risk)| at_risk(t, d, risk)));
    out.extend(due_soon(t, plan, now, settings));
    out.extend(t.changes.iter().map(|c| change(t, plan, c)));
    out.retain(|n| settings.on(n.rung));
    out
}

/// The key closest to its deadline among those that need this tool to act: the severity
/// a failure is told with.
fn pressing(plan: &Plan, now: OffsetDateTime) -> Option<&KeyDeadline> {
    plan.deadlines
        .iter()
        .filter(|d| {
            d.role == KeyRole::Old
                || d.rotation_starts
                    .is_some_and(|s| s <= now.saturating_add(EARLY))
                || d.risk.is_some()
        })
        .min_by_key(|d| d.deadline)
}

/// Exposed keys that no set of the target holds: this tool does not switch them off, so a
/// person must.
fn exposed_unmanaged<'a>(t: &'a TargetReport, plan: &'a Plan) -> impl Iterator<Item = Notice> + 'a {
    plan.notes.iter().filter_map(move |n| {
        let Note::ExposedUnmanaged { key } = n else {
            return None;
        };
        Some(message(
            t,
            Rung::Emergency,
            Some(Severity::Urgent),
            key.as_str().to_string(),
            format!("exposed key {key} is not this tool's to switch off"),
            format!("Emergency: {}.", n.words()),
            None,
            "deactivate the key by hand (IAM console or aws iam update-access-key), then \
             find what uses it",
        ))
    })
}

/// Old keys whose retirement is blocked: used after their cutover.
fn blocked<'a>(
    t: &'a TargetReport,
    plan: &'a Plan,
    now: OffsetDateTime,
) -> impl Iterator<Item = Notice> + 'a {
    plan.blocked.iter().map(move |b| {
        let d = plan.deadlines.iter().find(|d| d.key == b.key);
        message(
            t,
            Rung::Blocked,
            d.map(|d| severity(d.deadline, now)),
            b.key.as_str().to_string(),
            format!("old key {} still in use after its cutover", b.key),
            format!(
                "Old key {} of {} was used after its cutover at {}: {}.",
                b.key,
                b.set_id,
                fmt_time(b.cutover),
                use_after(
                    &b.set_id,
                    b.cutover,
                    b.key_last_used.as_ref(),
                    b.set_last_used
                )
            ),
            d,
            "find what still uses the key (the service and region above; CloudTrail for the \
             access key id) and point it at the new credential set, then switch the key off: \
             the tool keeps it active, as it was used after its cutover",
        )
    })
}

/// A canary that failed or is held: a person decides what follows.
fn canary_needs_human(t: &TargetReport, plan: &Plan, now: OffsetDateTime) -> Option<Notice> {
    let c = plan.canary.as_ref().filter(|c| c.stage.needs_human())?;
    let d = plan.deadlines.iter().find(|d| d.key == c.key);
    let (event, headline, todo) = match c.stage {
        CanaryStage::Failed => (
            "canary-failed",
            format!("canary of {} FAILED and was rolled back", c.to_set),
            "fix what made AWS refuse the new key (its policy, a permissions boundary, an \
             SCP, a source-IP condition), then run `soracom-key-rotator rotate`",
        ),
        _ => (
            "canary-held",
            format!("canary of {} held: no evidence", c.to_set),
            "check that the canary's data arrives, then let the rest move \
             (canary.without_evidence = \"proceed\") or give the new key up (rollback)",
        ),
    };
    Some(message(
        t,
        Rung::Blocked,
        d.map(|d| severity(d.deadline, now)),
        format!("{}={event}", c.key.as_str()),
        headline,
        format!("Canary {}.", c.words()),
        d,
        todo,
    ))
}

/// A migration onto the role set that waits for a person: AWS refused the role, or its
/// canary is held.
fn migration_needs_human(t: &TargetReport, plan: &Plan) -> Option<Notice> {
    let m = plan.migration.as_ref().filter(|m| m.needs_human())?;
    let kind = m.kind.as_deref().unwrap_or("?");
    Some(message(
        t,
        Rung::Blocked,
        None,
        format!("role={kind}"),
        format!("canary of the {kind} holders onto the role set needs a person"),
        format!("Migration: {}.", m.words()),
        None,
        "if AWS refused the role: give the role what the holders need, remove the \
         role-refused record from the IAM user and run reconcile; if the canary is held: \
         check that its data arrives, then let it proceed (canary.without_evidence) or \
         give the migration up (delete the role set)",
    ))
}

/// A key that may still be active at its deadline, or is past it.
fn at_risk(t: &TargetReport, d: &KeyDeadline, risk: Risk) -> Notice {
    let headline = match risk.severity {
        Severity::Missed => format!(
            "{}: key {} is active past its deadline",
            risk.severity.words(),
            d.key
        ),
        _ => format!(
            "{}: key {} must be off within {} days",
            risk.severity.words(),
            d.key,
            d.days_left.max(0)
        ),
    };
    message(
        t,
        Rung::Deadline,
        Some(risk.severity),
        format!("{}={}", d.key.as_str(), severity_name(risk.severity)),
        headline,
        format!("{}.", risk.cause.words()),
        Some(d),
        risk_todo(risk.cause),
    )
}

/// What a person does about a key at risk, by what puts it at risk.
fn risk_todo(cause: RiskCause) -> &'static str {
    match cause {
        RiskCause::Blocked => {
            "find what still uses the key and point it at the new credential set, then \
             switch the key off (the tool does not, as it was used after its cutover)"
        }
        RiskCause::RotationLate => {
            "run `soracom-key-rotator reconcile` (or check that the scheduled run is \
             enabled), and read any refusal or failure it reports"
        }
        RiskCause::DeactivationLate => {
            "if nothing uses the key any more, run `soracom-key-rotator rotate \
             --emergency` to deactivate it now; otherwise accept the finding or move \
             what uses it first"
        }
        RiskCause::NotRetiring => {
            "this tool will not deactivate the key: rotate or remove it by hand, or \
             adopt its credential set into a target"
        }
        RiskCause::CanaryHeld => {
            "check that the canary's data arrives, then let the rest move \
             (canary.without_evidence = \"proceed\") or give the new key up (rollback)"
        }
        RiskCause::CanaryFailed => {
            "fix what made AWS refuse the new key, then run `soracom-key-rotator rotate`"
        }
    }
}

/// The current key's rotation, when it starts within `due_warning_days` (and is not due
/// now).
fn due_soon(
    t: &TargetReport,
    plan: &Plan,
    now: OffsetDateTime,
    settings: &NotifySettings,
) -> Option<Notice> {
    if settings.due_warning_days == 0 || plan.due.now {
        return None;
    }
    let window = time::Duration::days(i64::from(settings.due_warning_days));
    let d = plan.deadlines.iter().find(|d| {
        d.role == KeyRole::Current
            && d.rotation_starts
                .is_some_and(|s| s > now && s <= now.saturating_add(window))
    })?;
    let starts = d.rotation_starts.map(fmt_time).unwrap_or_default();
    Some(message(
        t,
        Rung::DueSoon,
        None,
        d.key.as_str().to_string(),
        format!("rotation of key {} starts {starts}", d.key),
        format!("The rotation of key {} starts {starts}.", d.key),
        Some(d),
        "nothing, if reconcile runs on a schedule: it rotates the key then; otherwise \
         run `soracom-key-rotator reconcile` after that time",
    ))
}

/// A change this run made: a rotation, a deactivation (by an emergency or on evidence), a
/// deletion.
fn change(t: &TargetReport, plan: &Plan, c: &Change) -> Notice {
    match c {
        Change::Rotated {
            key,
            set_id,
            previous,
        } => rotated(t, plan, key, set_id, previous.as_ref()),
        Change::Deactivated {
            key,
            set_id,
            exposed: true,
        } => exposed_deactivated(t, plan, key, set_id),
        Change::Deactivated { key, set_id, .. } => message(
            t,
            Rung::Deactivated,
            None,
            key.as_str().to_string(),
            format!("old key {key} of {set_id} deactivated"),
            format!(
                "Old key {key} of {set_id} was deactivated: nothing used it since its cutover."
            ),
            None,
            "nothing; it is deleted after delete_after_days unless someone re-activates it \
             (then its retirement starts over)",
        ),
        Change::Deleted { key, set_id } => message(
            t,
            Rung::Deleted,
            None,
            key.as_str().to_string(),
            format!("retired key {key} deleted"),
            match set_id {
                Some(s) => format!("Retired key {key} was deleted, and its set {s} after it."),
                None => format!("Retired key {key} was deleted."),
            },
            None,
            "nothing",
        ),
    }
}

/// A rotation done: the new key, how many references moved, and when the old key goes.
fn rotated(
    t: &TargetReport,
    plan: &Plan,
    key: &AccessKeyId,
    set_id: &str,
    previous: Option<&AccessKeyId>,
) -> Notice {
    let old = previous.and_then(|p| plan.deadlines.iter().find(|d| &d.key == p));
    let retire = match old.and_then(|d| d.deactivation_due) {
        Some(t) => format!("; it is deactivated from {} on evidence", fmt_time(t)),
        None => String::new(),
    };
    let was = previous
        .map(|p| format!(" Old key {p} stays active for now{retire}."))
        .unwrap_or_default();
    message(
        t,
        Rung::Rotated,
        None,
        key.as_str().to_string(),
        format!("key rotated: {set_id} holds new key {key}"),
        format!(
            "New key {key} was verified with STS and {set_id} holds it; {} of {} \
             references moved onto it.{was}",
            t.references.moved, t.references.total
        ),
        None,
        "nothing",
    )
}

/// An exposed key an emergency deactivated, with any use after its cutover.
fn exposed_deactivated(t: &TargetReport, plan: &Plan, key: &AccessKeyId, set_id: &str) -> Notice {
    let used: Vec<String> = plan
        .notes
        .iter()
        .filter(|n| matches!(n, Note::UsedAfterCutover { key: k, .. } if k == key))
        .map(Words::words)
        .collect();
    message(
        t,
        Rung::Emergency,
        None,
        key.as_str().to_string(),
        format!("exposed key {key} of {set_id} deactivated"),
        format!(
            "Emergency: exposed key {key} of {set_id} was deactivated once every \
             reference had moved off it.{}",
            used.iter().map(|u| format!(" {u}.")).collect::<String>()
        ),
        None,
        "check CloudTrail for what the exposed key did while it was public; remove \
         the quarantine policy AWS may have attached to the user once you have; the \
         key is deleted after delete_after_days",
    )
}

/// The failure (or refusal) of a run, told at most once a day.
fn failure(report: &RunReport, t: &TargetReport, pressing: Option<&KeyDeadline>) -> Option<Notice> {
    // Refused only because an old key is blocked, or a canary failed or is held: the
    // blocked rung tells that.
    let only_blocked = t.plan.as_ref().is_some_and(|p| {
        p.refusal.is_none()
            && (!p.blocked.is_empty()
                || p.canary.as_ref().is_some_and(|c| c.stage.needs_human())
                || p.migration.as_ref().is_some_and(|m| m.needs_human()))
    });
    let (headline, todo) = match t.outcome {
        Outcome::Failed => (
            format!("{} FAILED", report.command),
            t.next.clone().unwrap_or_else(|| {
                "the state is safe; fix the cause and the next run resumes".into()
            }),
        ),
        Outcome::Refused if !only_blocked => (
            format!("{} REFUSED by a safety rule", report.command),
            "a human must act: read the reason, fix it, then run reconcile again".into(),
        ),
        _ => return None,
    };
    let day = report.now.date();
    Some(message(
        t,
        Rung::Failed,
        pressing.and_then(|d| d.risk.map(|r| r.severity)),
        format!(
            "{:04}-{:02}-{:02}",
            day.year(),
            u8::from(day.month()),
            day.day()
        ),
        headline,
        t.error
            .as_ref()
            .map(|e| format!("What happened: {e}"))
            .unwrap_or_default(),
        pressing,
        &todo,
    ))
}

/// Words one message: the headline, what happened, the target's keys and plan, the deadline
/// at stake and what to do.
#[allow(clippy::too_many_arguments)] // one place words every message alike
fn message(
    t: &TargetReport,
    rung: Rung,
    severity: Option<Severity>,
    event: String,
    headline: String,
    what: String,
    deadline: Option<&KeyDeadline>,
    todo: &str,
) -> Notice {
    let mut text = format!(
        "soracom-key-rotator: target {} (IAM user {}): {headline}.\n",
        t.target, t.iam_user
    );
    if !what.is_empty() {
        text.push_str(&format!("{what}\n"));
    }
    if let Some(d) = deadline {
        text.push_str(&format!("Deadline: {}.\n", d.words()));
    }
    if let Some(p) = &t.plan {
        match &p.current {
            Some(c) => {
                let key = match c.link.key() {
                    Some(k) => format!("key {k}"),
                    None => "an unknown key".into(),
                };
                let age = c
                    .age_days
                    .map(|d| format!(", {d} days old"))
                    .unwrap_or_default();
                text.push_str(&format!(
                    "Current: credential set {} holds {key}{age}.\n",
                    c.set_id
                ));
            }
            None => text.push_str("Current: no credential set is in use.\n"),
        }
        text.push_str(&format!(
            "Rotation: {} ({}).\n",
            if p.due.now { "due" } else { "not due" },
            p.due.reason.words()
        ));
    }
    if !t.steps.is_empty() {
        text.push_str("Steps:\n");
        for s in &t.steps {
            text.push_str(&format!("  {s}\n"));
        }
    }
    text.push_str(&format!("What to do: {todo}\n"));
    // A stable line to filter mail or chat by: the rung, and the severity when it has one.
    let code = match severity {
        Some(s) => format!("{}/{}", rung.name(), severity_name(s)),
        None => rung.name().to_string(),
    };
    text.push_str(&format!("Notice: {code}\n"));
    let tag = match severity {
        Some(Severity::Urgent) => "[URGENT] ",
        Some(Severity::Missed) => "[MISSED] ",
        _ => "",
    };
    let subject = truncate(
        &format!("{tag}soracom-key-rotator: {}: {headline}", t.target),
        MAX_SUBJECT,
    );
    Notice {
        target: t.target.clone(),
        rung,
        severity,
        event,
        subject,
        text,
    }
}

/// The messages a run deserves under `settings`, in target order: every event of an enabled
/// rung that its target's IAM user does not remember telling.
pub fn notices(report: &RunReport, settings: &NotifySettings) -> Vec<Notice> {
    report
        .targets
        .iter()
        .flat_map(|t| {
            events(report, t, settings).into_iter().filter(|n| {
                !remembers(n.rung)
                    || !t
                        .notified
                        .events(n.rung.name())
                        .any(|e| covers(e, &n.event))
            })
        })
        .collect()
}

/// What a target's IAM user should remember after this run: for each rung that remembers,
/// the events still true that were told before or were delivered now (`delivered`). Only the
/// tags that change: `(key, Some(value))` to write, `(key, None)` to remove.
pub fn remember(
    report: &RunReport,
    t: &TargetReport,
    settings: &NotifySettings,
    delivered: &[&Notice],
) -> Vec<(String, Option<String>)> {
    let live = events(report, t, settings);
    Rung::ALL
        .into_iter()
        .filter(|r| remembers(*r))
        .filter_map(|rung| {
            let before: BTreeSet<&str> = t.notified.events(rung.name()).collect();
            let after: BTreeSet<&str> = live
                .iter()
                .filter(|n| n.rung == rung)
                .filter_map(|n| {
                    if delivered
                        .iter()
                        .any(|d| d.rung == rung && d.event == n.event)
                    {
                        Some(n.event.as_str())
                    } else {
                        before.iter().copied().find(|b| covers(b, &n.event))
                    }
                })
                .collect();
            (after != before).then(|| notified_tag(rung.name(), after.iter().copied()))
        })
        .collect()
}

/// Cuts `s` to at most `max` characters (SNS subjects must also be one line).
fn truncate(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect()
}

/// The webhook body for `notice`. Slack reads `text` (with `*bold*`); a Teams workflow
/// webhook reads a message whose attachment is an Adaptive Card.
pub fn payload(format: WebhookFormat, notice: &Notice) -> serde_json::Value {
    match format {
        WebhookFormat::Slack => {
            serde_json::json!({"text": format!("*{}*\n{}", notice.subject, notice.text)})
        }
        WebhookFormat::Teams => {
            let color = match notice.severity {
                Some(Severity::Urgent | Severity::Missed) => "Attention",
                Some(Severity::Warning) => "Warning",
                None if notice.rung == Rung::Failed => "Attention",
                None => "Default",
            };
            let lines: Vec<serde_json::Value> = notice
                .text
                .lines()
                .map(|l| serde_json::json!({"type": "TextBlock", "text": l, "wrap": true}))
                .collect();
            let mut body = vec![serde_json::json!({
                "type": "TextBlock",
                "text": notice.subject,
                "weight": "Bolder",
                "size": "Medium",
                "color": color,
                "wrap": true
            })];
            body.extend(lines);
            serde_json::json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": null,
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": body
                    }
                }]
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Placement, Target};
    use crate::model::{
        AccessKey, CredentialSet, Holder, KeyStatus, LastUsed, Observed, Ref, Shape, Slot,
    };
    use crate::plan::{plan, Mode};
    use crate::records::Records;
    use crate::report::{Moves, Step};
    use crate::secret::AccessKeyId;
    use time::macros::datetime;
    use time::{Duration, OffsetDateTime};

    const NOW: OffsetDateTime = datetime!(2026-11-28 03:00 UTC);
    const K1: &str = "AKIAIOSFODNN7EXAMPLE";
    const K2: &str = "AKIAIOSFODNN7EXAMPL2";

    fn target() -> Target {
        Target {
            canary: None,
            role_set_id: "p-role".into(),
            account: None,
            soracom: Default::default(),
            name: "funnel".into(),
            iam_user: "funnel-user".into(),
            placement: Placement::Managed {
                prefix: "aws-x".into(),
            },
            max_key_age_days: 90,
            deadline_margin_days: 3,
            retire_after_days: 7,
            delete_after_days: 7,
            settle_minutes: 60,
            adopt: vec![],
            adopt_keys: Default::default(),
        }
    }

    fn key(id: &str, created: OffsetDateTime, used: Option<OffsetDateTime>) -> AccessKey {
        AccessKey {
            id: AccessKeyId::new(id),
            status: KeyStatus::Active,
            created,
            last_used: used.map(|at| LastUsed {
                at,
                service: "iot".into(),
                region: "ap-northeast-1".into(),
            }),
        }
    }

    fn set(id: &str, k: &str, created: OffsetDateTime) -> CredentialSet {
        CredentialSet {
            id: id.into(),
            kind: "aws-credentials".into(),
            description: String::new(),
            created: Some(created),
            updated: None,
            last_used: None,
            api_key: Some(AccessKeyId::new(k)),
        }
    }

    fn funnel(set_id: &str) -> Slot {
        Slot {
            holder: Holder::GroupKey {
                group_id: "g1".into(),
                group_name: None,
                namespace: "SoracomFunnel".into(),
                key: "credentialsId".into(),
            },
            value: serde_json::json!(set_id),
            refs: vec![Ref {
                path: vec![],
                shape: Shape::String,
                set_id: set_id.into(),
            }],
        }
    }

    /// K1, `age` old, alone in aws-x-260901.
    fn current(age: Duration) -> Observed {
        Observed {
            auth_failures: Vec::new(),
            keys: vec![key(K1, NOW - age, None)],
            sets: vec![set("aws-x-260901", K1, NOW - age)],
            slots: vec![funnel("aws-x-260901")],
            records: Records::default(),
            held_elsewhere: Vec::new(),
        }
    }

    /// K1 (`age` old) cut over to K2 at day 80 of its life and used a day after.
    fn blocked(age: Duration) -> Observed {
        let created = NOW - age;
        let cutover = created + Duration::days(80);
        Observed {
            held_elsewhere: Vec::new(),
            auth_failures: Vec::new(),
            keys: vec![
                key(K1, created, Some(cutover + Duration::days(1))),
                key(K2, cutover, None),
            ],
            sets: vec![
                set("aws-x-260801", K1, created),
                set("aws-x-261020", K2, cutover),
            ],
            slots: vec![funnel("aws-x-261020")],
            records: Records {
                released: [(AccessKeyId::new(K1), cutover)].into_iter().collect(),
                ..Default::default()
            },
        }
    }

    fn run(obs: &Observed, now: OffsetDateTime, outcome: Outcome, told: &Records) -> RunReport {
        run_for(&target(), obs, now, outcome, told)
    }

    fn run_for(
        t: &Target,
        obs: &Observed,
        now: OffsetDateTime,
        outcome: Outcome,
        told: &Records,
    ) -> RunReport {
        let p = plan(t, obs, now, Mode::Reconcile);
        RunReport {
            command: "reconcile".into(),
            now,
            dry_run: false,
            targets: vec![TargetReport {
                target: t.name.clone(),
                iam_user: t.iam_user.clone(),
                outcome,
                plan: Some(p),
                steps: vec![Step {
                    what: format!("created access key {}", AccessKeyId::new(K1)),
                    ok: outcome != Outcome::Failed,
                }],
                references: Moves::default(),
                error: (outcome == Outcome::Failed).then(|| "AWS CreateAccessKey: boom".into()),
                next: None,
                changes: Vec::new(),
                notified: told.notified.clone(),
            }],
        }
    }

    /// What the IAM user remembers after `report`, everything delivered.
    fn after(report: &RunReport, settings: &NotifySettings, before: &Records) -> Records {
        let sent = notices(report, settings);
        let sent: Vec<&Notice> = sent.iter().collect();
        let mut tags: Vec<(String, String)> = before
            .notified
            .0
            .iter()
            .map(|(r, e)| notified_tag(r, e.iter().map(String::as_str)))
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        for (k, v) in remember(report, &report.targets[0], settings, &sent) {
            tags.retain(|(x, _)| x != &k);
            if let Some(v) = v {
                tags.push((k, v));
            }
        }
        Records::parse(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    fn rungs(ns: &[Notice]) -> Vec<(Rung, Option<Severity>)> {
        ns.iter().map(|n| (n.rung, n.severity)).collect()
    }

    #[test]
    fn due_soon_is_told_once_per_key() {
        let s = NotifySettings::default();
        let mut told = Records::default();
        // Rotation starts at day 80: a key 70 days old is 10 days away, 75 is 5.
        let r = run(
            &current(Duration::days(70)),
            NOW,
            Outcome::NothingDue,
            &told,
        );
        assert!(notices(&r, &s).is_empty());
        for day in 0..4 {
            let r = run(
                &current(Duration::days(75)),
                NOW + Duration::hours(day),
                Outcome::NothingDue,
                &told,
            );
            let got = notices(&r, &s);
            let want = if day == 0 {
                vec![(Rung::DueSoon, None)]
            } else {
                vec![]
            };
            assert_eq!(rungs(&got), want, "run {day}");
            told = after(&r, &s, &told);
        }
        assert!(told.notified.has("due_soon", K1));
        // Off: nothing, and nothing remembered.
        let mut off = s.clone();
        off.rungs.remove(&Rung::DueSoon);
        let fresh = run(
            &current(Duration::days(75)),
            NOW,
            Outcome::NothingDue,
            &Records::default(),
        );
        assert!(notices(&fresh, &off).is_empty());
        assert!(after(&fresh, &off, &Records::default())
            .notified
            .0
            .is_empty());
    }

    /// A canary that AWS refused is told once on the blocked rung, with the evidence
    /// (service, error, SIM, time) and never a key id in full.
    #[test]
    fn a_failed_canary_is_told_once_with_its_evidence() {
        let t = Target {
            canary: Some(crate::config::Canary {
                holders: crate::config::CanaryHolders::First,
                min_minutes: 30,
                max_hours: 6,
                without_evidence: crate::config::WithoutEvidence::Hold,
            }),
            ..target()
        };
        let since = NOW - Duration::hours(2);
        let obs = Observed {
            held_elsewhere: Vec::new(),
            keys: vec![
                key(K1, NOW - Duration::days(80), None),
                key(K2, since, None),
            ],
            sets: vec![
                set("aws-x-260909", K1, NOW - Duration::days(80)),
                set("aws-x-261128", K2, since),
            ],
            slots: vec![funnel("aws-x-261128"), {
                let mut g = funnel("aws-x-260909");
                g.holder = Holder::GroupKey {
                    group_id: "g2".into(),
                    group_name: None,
                    namespace: "SoracomFunnel".into(),
                    key: "credentialsId".into(),
                };
                g
            }],
            records: Records {
                canary: [(AccessKeyId::new(K1), since)].into_iter().collect(),
                ..Default::default()
            },
            auth_failures: vec![crate::model::AuthFailure {
                service: "Funnel".into(),
                at: NOW - Duration::minutes(10),
                error: "UnrecognizedClientException",
                resource_id: Some("440100000000001".into()),
            }],
        };
        let s = NotifySettings::default();
        let r = run_for(&t, &obs, NOW, Outcome::Refused, &Records::default());
        let sent = notices(&r, &s);
        let canary: Vec<&Notice> = sent.iter().filter(|n| n.rung == Rung::Blocked).collect();
        assert_eq!(canary.len(), 1, "{sent:?}");
        let text = &canary[0].text;
        assert!(
            text.contains("UnrecognizedClientException")
                && text.contains("440100000000001")
                && !text.contains(K1)
                && !text.contains(K2),
            "{text}"
        );
        // Refused because of the canary only: the failed rung does not say it again.
        assert!(!sent.iter().any(|n| n.rung == Rung::Failed), "{sent:?}");
        let told = after(&r, &s, &Records::default());
        let again = run_for(&t, &obs, NOW + Duration::hours(1), Outcome::Refused, &told);
        assert!(notices(&again, &s).iter().all(|n| n.rung != Rung::Blocked));
    }

    #[test]
    fn a_blocked_key_is_told_once_then_each_severity_once() {
        let s = NotifySettings::default();
        let mut told = Records::default();
        let mut seen = Vec::new();
        // Daily from day 81 of K1's life to day 95, plus a retry an hour after each run.
        for day in 81..=95 {
            for retry in [0, 1] {
                let now = NOW + Duration::hours(retry);
                let r = run(&blocked(Duration::days(day)), now, Outcome::Refused, &told);
                for n in notices(&r, &s) {
                    seen.push((day, n.rung, n.severity));
                    assert!(
                        !n.text.contains(K1) && !n.subject.contains(K1),
                        "{}",
                        n.text
                    );
                }
                told = after(&r, &s, &told);
            }
        }
        assert_eq!(
            seen,
            [
                (81, Rung::Blocked, Some(Severity::Warning)),
                (81, Rung::Deadline, Some(Severity::Warning)),
                (87, Rung::Deadline, Some(Severity::Urgent)),
                (90, Rung::Deadline, Some(Severity::Missed)),
            ]
        );
    }

    #[test]
    fn a_failure_is_told_at_most_once_a_day_with_the_deadline_at_stake() {
        let s = NotifySettings::default();
        let mut told = Records::default();
        let obs = current(Duration::days(88));
        let mut got = Vec::new();
        for hour in [0, 1, 2, 24, 25] {
            let r = run(&obs, NOW + Duration::hours(hour), Outcome::Failed, &told);
            for n in notices(&r, &s) {
                got.push((hour, n.rung, n.severity));
            }
            told = after(&r, &s, &told);
        }
        // The key is 88 days old: two days left, urgent; and even rotated now, its grace
        // period ends after its deadline (told once).
        assert_eq!(
            got,
            [
                (0, Rung::Failed, Some(Severity::Urgent)),
                (0, Rung::Deadline, Some(Severity::Urgent)),
                (24, Rung::Failed, Some(Severity::Urgent)),
            ]
        );
        let r = run(&obs, NOW, Outcome::Failed, &Records::default());
        let n = &notices(&r, &s)[0];
        assert!(n.subject.starts_with("[URGENT]") && n.subject.contains("FAILED"));
        assert!(n.subject.chars().count() <= MAX_SUBJECT);
        for needle in [
            "funnel-user",
            "CreateAccessKey: boom",
            "AKIA************MPLE",
            "aws-x-260901",
            "Deadline: key",
            "What to do:",
        ] {
            assert!(n.text.contains(needle), "{needle} missing:\n{}", n.text);
        }
        assert!(!n.text.contains(K1), "{}", n.text);
    }

    #[test]
    fn a_failure_far_from_the_deadline_carries_no_severity() {
        let s = NotifySettings::default();
        let r = run(
            &current(Duration::days(20)),
            NOW,
            Outcome::Failed,
            &Records::default(),
        );
        let got = notices(&r, &s);
        assert_eq!(rungs(&got), [(Rung::Failed, None)]);
        assert!(!got[0].subject.starts_with('['), "{}", got[0].subject);
    }

    #[test]
    fn an_exposed_key_this_tool_does_not_hold_is_told_once_urgently() {
        let s = NotifySettings::default();
        let k3 = "AKIAIOSFODNN7EXAMPL3";
        let mut obs = current(Duration::days(20));
        obs.keys.push(key(k3, NOW - Duration::days(3), None));
        obs.records
            .exposed
            .insert(AccessKeyId::new(k3), NOW - Duration::hours(1));
        let mut told = Records::default();
        let mut got = Vec::new();
        for hour in [0, 1, 25] {
            let r = run(
                &obs,
                NOW + Duration::hours(hour),
                Outcome::NothingDue,
                &told,
            );
            for n in notices(&r, &s) {
                assert!(n.text.contains("deactivate the key by hand"), "{}", n.text);
                assert!(
                    !n.text.contains(k3) && !n.subject.contains(k3),
                    "{}",
                    n.text
                );
                got.push((hour, n.rung, n.severity));
            }
            told = after(&r, &s, &told);
        }
        assert_eq!(got, [(0, Rung::Emergency, Some(Severity::Urgent))]);
    }

    #[test]
    fn changes_are_told_by_the_run_that_made_them_when_their_rung_is_on() {
        let mut r = run(
            &current(Duration::days(80)),
            NOW,
            Outcome::Done,
            &Records::default(),
        );
        r.targets[0].references = Moves { total: 3, moved: 3 };
        r.targets[0].changes = vec![
            Change::Rotated {
                key: AccessKeyId::new(K2),
                set_id: "aws-x-261128".into(),
                previous: Some(AccessKeyId::new(K1)),
            },
            Change::Deactivated {
                key: AccessKeyId::new(K1),
                set_id: "aws-x-260901".into(),
                exposed: false,
            },
            Change::Deleted {
                key: AccessKeyId::new(K1),
                set_id: Some("aws-x-260901".into()),
            },
        ];
        assert!(
            notices(&r, &NotifySettings::default()).is_empty(),
            "off by default"
        );
        let all = NotifySettings {
            rungs: Rung::ALL.into_iter().collect(),
            ..NotifySettings::default()
        };
        let got = notices(&r, &all);
        assert_eq!(
            rungs(&got),
            [
                (Rung::Rotated, None),
                (Rung::Deactivated, None),
                (Rung::Deleted, None)
            ]
        );
        assert!(
            got[0].text.contains("3 of 3 references moved"),
            "{}",
            got[0].text
        );
        assert!(got[0].text.contains("deactivated from"), "{}", got[0].text);
        assert!(remember(&r, &r.targets[0], &all, &got.iter().collect::<Vec<_>>()).is_empty());
        // An emergency's deactivation is told by default.
        r.targets[0].changes = vec![Change::Deactivated {
            key: AccessKeyId::new(K1),
            set_id: "aws-x-260901".into(),
            exposed: true,
        }];
        let got = notices(&r, &NotifySettings::default());
        assert_eq!(rungs(&got), [(Rung::Emergency, None)]);
        assert!(got[0].text.contains("CloudTrail"), "{}", got[0].text);
    }

    #[test]
    fn slack_and_teams_payloads() {
        let r = run(
            &current(Duration::days(88)),
            NOW,
            Outcome::Failed,
            &Records::default(),
        );
        let n = &notices(&r, &NotifySettings::default())[0];
        let slack = payload(WebhookFormat::Slack, n);
        assert!(slack["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("*[URGENT]")));
        let teams = payload(WebhookFormat::Teams, n);
        assert_eq!(teams["type"], "message");
        let card = &teams["attachments"][0];
        assert_eq!(
            card["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(card["content"]["type"], "AdaptiveCard");
        let body = card["content"]["body"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(body[0]["text"], n.subject.as_str());
        assert_eq!(body[0]["color"], "Attention");
        assert_eq!(body.len(), 1 + n.text.lines().count());
        assert!(!teams.to_string().contains(K1));
    }
}
