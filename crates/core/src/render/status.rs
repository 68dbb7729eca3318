//! `status` as text: per target, its keys, its credential sets, and the outlook.

use crate::status::{StatusReport, TargetStatus};
use crate::wording::describe_link;
use crate::words::{fmt_time, Words};

impl StatusReport {
    /// The report as text.
    pub fn render_text(&self) -> String {
        let mut out = format!("soracom-key-rotator status at {}\n", fmt_time(self.now));
        for e in &self.errors {
            out.push_str(&format!(
                "\ntarget {}: could not be observed: {}\n",
                e.target, e.error
            ));
        }
        for t in &self.targets {
            out.push_str(&format!(
                "\ntarget {} (IAM user {}, {:?})\n",
                t.target, t.iam_user, t.strategy
            ));
            keys_text(t, &mut out);
            sets_text(t, &mut out);
            outlook_text(t, &mut out);
        }
        out
    }
}

/// A target's keys: status, age, last use, the set holding each.
fn keys_text(t: &TargetStatus, out: &mut String) {
    out.push_str("  keys:\n");
    for k in &t.keys {
        let used = match &k.last_used {
            Some(u) => {
                format!("last used {} ({}, {})", fmt_time(u.at), u.service, u.region)
            }
            None => "never used".into(),
        };
        let set = k
            .set
            .as_deref()
            .map(|s| format!(", in {s}"))
            .unwrap_or_default();
        let status = k.status.words();
        out.push_str(&format!(
            "    {} {status:<8} created {} ({} days), {used}{set}\n",
            k.id,
            fmt_time(k.created),
            k.age_days
        ));
    }
}

/// A target's credential sets: which is current, their keys, what references each.
fn sets_text(t: &TargetStatus, out: &mut String) {
    out.push_str("  credential sets:\n");
    for s in &t.sets {
        let key = describe_link(&s.link);
        let used = s.last_used.map(fmt_time).unwrap_or_else(|| "never".into());
        out.push_str(&format!(
            "    {}{} created {}, last used {used}, {key} ({:?})\n",
            s.id,
            if s.current { " [current]" } else { "" },
            s.created.map(fmt_time).unwrap_or_else(|| "?".into()),
            s.key_state
        ));
        for r in &s.references {
            out.push_str(&format!("      referenced by {r}\n"));
        }
    }
}

/// What is due now and later, what is kept or under way, the deadlines, the findings and
/// the notes.
fn outlook_text(t: &TargetStatus, out: &mut String) {
    for d in &t.due_now {
        out.push_str(&format!("  due now: {d}\n"));
    }
    for u in &t.next {
        out.push_str(&format!(
            "  next: {} from {}\n",
            u.step.words(),
            fmt_time(u.due)
        ));
    }
    for b in &t.blocked {
        out.push_str(&format!("  KEPT: {}\n", b.words()));
    }
    if let Some(c) = &t.canary {
        out.push_str(&format!("  canary: {}\n", c.words()));
    }
    if let Some(m) = &t.migration {
        out.push_str(&format!("  migration: {}\n", m.words()));
    }
    for d in &t.deadlines {
        let label = if d.risk.is_some() {
            "AT RISK"
        } else {
            "deadline"
        };
        out.push_str(&format!("  {label}: {}\n", d.words()));
    }
    for f in &t.compliance {
        out.push_str(&format!("  {} [{}]: {}\n", f.code, f.severity, f.message));
    }
    for n in &t.notes {
        out.push_str(&format!("  note: {}\n", n.words()));
    }
}
