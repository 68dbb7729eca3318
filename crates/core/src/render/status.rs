//! `status` as text: per target, a line naming it, then its keys, its credential sets,
//! what references them and its keys' deadlines as tables, then what is due, kept, under
//! way, found and noted as labelled lines. A table's times are in UTC, as its headers say.

use super::table::{labelled, Grid};
use crate::plan::KeyDeadline;
use crate::status::{StatusReport, TargetStatus};
use crate::wording::key_of;
use crate::words::{fmt_minute, fmt_time, Words};

impl StatusReport {
    /// The report as text, its tables within `width` columns when given (a terminal's),
    /// else each row on one line.
    pub fn render_text(&self, width: Option<u16>) -> String {
        let mut out = format!("soracom-key-rotator status at {}\n", fmt_time(self.now));
        for e in &self.errors {
            out.push_str(&format!(
                "\ntarget {}: could not be observed: {}\n",
                e.target, e.error
            ));
        }
        for t in &self.targets {
            out.push_str(&format!(
                "\ntarget {}: IAM user {}, {}\n",
                t.target,
                t.iam_user,
                t.strategy.words()
            ));
            keys_text(t, width, &mut out);
            sets_text(t, width, &mut out);
            references_text(t, width, &mut out);
            deadlines_text(&t.deadlines, width, &mut out);
            let lines = outlook(t);
            if !lines.is_empty() {
                out.push('\n');
                out.push_str(&labelled(&lines, width));
            }
        }
        out
    }
}

/// A target's keys: status, creation and age, last use.
fn keys_text(t: &TargetStatus, width: Option<u16>, out: &mut String) {
    if t.keys.is_empty() {
        out.push_str("  no access key\n");
        return;
    }
    let mut tab = Grid::new(&["KEY", "STATUS", "CREATED (UTC)", "AGE", "LAST USED (UTC)"]);
    for k in &t.keys {
        let used = match &k.last_used {
            Some(u) => format!("{} ({}, {})", fmt_minute(u.at), u.service, u.region),
            None => "never".into(),
        };
        tab.row(vec![
            k.id.to_string(),
            k.status.words(),
            fmt_minute(k.created),
            days(k.age_days),
            used,
        ]);
    }
    out.push_str(&tab.render(width));
}

/// A target's credential sets: the current one, the key each holds (and how that is
/// known), its state and the set's last use.
fn sets_text(t: &TargetStatus, width: Option<u16>, out: &mut String) {
    if t.sets.is_empty() {
        out.push_str("\n  no credential set\n");
        return;
    }
    let mut tab = Grid::new(&["CREDENTIAL SET", "KEY", "KEY STATE", "LAST USED (UTC)"]);
    for s in &t.sets {
        let id = if s.current {
            format!("{} (current)", s.id)
        } else {
            s.id.clone()
        };
        tab.row(vec![
            id,
            key_of(&s.link),
            s.key_state.words(),
            s.last_used
                .map(fmt_minute)
                .unwrap_or_else(|| "never".into()),
        ]);
    }
    out.push('\n');
    out.push_str(&tab.render(width));
}

/// What references the target's sets, and which set each names.
fn references_text(t: &TargetStatus, width: Option<u16>, out: &mut String) {
    let mut tab = Grid::new(&["REFERENCE", "CREDENTIAL SET"]);
    for s in &t.sets {
        for r in &s.references {
            tab.row(vec![r.clone(), s.id.clone()]);
        }
    }
    if !tab.is_empty() {
        out.push('\n');
        out.push_str(&tab.render(width));
    }
}

/// Every active key's deadline: how far off it is, when its rotation starts, when its
/// deactivation is due and the days that leaves (the risk of missing it is a line of the
/// outlook).
fn deadlines_text(deadlines: &[KeyDeadline], width: Option<u16>, out: &mut String) {
    if deadlines.is_empty() {
        return;
    }
    let mut tab = Grid::new(&[
        "KEY",
        "DEADLINE (UTC)",
        "LEFT",
        "ROTATION STARTS (UTC)",
        "DEACTIVATION DUE (UTC)",
        "SPARE",
    ]);
    for d in deadlines {
        let left = match d.days_left {
            n if n < 0 => format!("{} past", days(-n)),
            n => days(n),
        };
        let spare = match d.slack_days {
            Some(s) if s < 0 => format!("{} late", days(-s)),
            Some(s) => days(s),
            None => "-".into(),
        };
        tab.row(vec![
            d.key.to_string(),
            fmt_minute(d.deadline),
            left,
            d.rotation_starts
                .map(fmt_minute)
                .unwrap_or_else(|| "-".into()),
            d.deactivation_due
                .map(fmt_minute)
                .unwrap_or_else(|| "none planned".into()),
            spare,
        ]);
    }
    out.push('\n');
    out.push_str(&tab.render(width));
}

/// What is due now and later, what is kept or under way or at risk, the findings and the
/// notes, each under its label.
fn outlook(t: &TargetStatus) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |label: &str, text: String| rows.push((label.to_string(), text));
    for d in &t.due_now {
        row("due now:", d.clone());
    }
    for u in &t.next {
        row(
            "next:",
            format!("{}, from {}", u.step.words(), fmt_time(u.due)),
        );
    }
    for b in &t.blocked {
        row("KEPT:", b.words());
    }
    if let Some(c) = &t.canary {
        row("canary:", c.words());
    }
    if let Some(m) = &t.migration {
        row("migration:", m.words());
    }
    for d in &t.deadlines {
        if let Some(r) = &d.risk {
            row(
                "AT RISK:",
                format!("key {}: {}: {}", d.key, r.severity.words(), r.cause.words()),
            );
        }
    }
    for f in &t.compliance {
        // A failed control is named in its message (Security Hub IAM.3).
        let label = if f.severity == "fail" {
            "FAIL:"
        } else {
            "advice:"
        };
        row(label, f.message.clone());
    }
    for n in &t.notes {
        row("note:", n.words());
    }
    rows
}

/// Whole days, as a table shows them.
fn days(n: i64) -> String {
    if n == 1 {
        "1 day".into()
    } else {
        format!("{n} days")
    }
}
