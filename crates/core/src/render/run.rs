//! A run's report as text: per target, the plan, the steps done, how it ended, each under
//! its label (`current:`, `rotation:`, `plan:`, … `result:`, `error:`, `next:`), long texts
//! wrapped under their own column within the terminal's width when it is known.

use super::table::labelled;
use crate::plan::Plan;
use crate::report::{Outcome, RunReport, Step};
use crate::wording::{describe, describe_link};
use crate::words::{fmt_time, Words};

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", if self.ok { "ok  " } else { "FAIL" }, self.what)
    }
}

impl RunReport {
    /// The report as text for a terminal (within `width` columns when given) or a log
    /// (`None`: a line per entry).
    pub fn render_text(&self, width: Option<u16>) -> String {
        let mut out = format!(
            "soracom-key-rotator {}{} at {}\n",
            self.command,
            if self.dry_run {
                " (dry run: nothing changed)"
            } else {
                ""
            },
            fmt_time(self.now)
        );
        for t in &self.targets {
            out.push_str(&format!(
                "\ntarget {} (IAM user {})\n",
                t.target, t.iam_user
            ));
            let mut rows = Vec::new();
            if let Some(plan) = &t.plan {
                plan_rows(plan, &mut rows);
            }
            for (i, s) in t.steps.iter().enumerate() {
                rows.push((if i == 0 { "done:" } else { "" }.to_string(), s.to_string()));
            }
            let result = match t.outcome {
                Outcome::NothingDue => "nothing due".to_string(),
                Outcome::Planned => "planned (run `reconcile` to apply)".to_string(),
                Outcome::Done => "done".to_string(),
                Outcome::Refused => "REFUSED".to_string(),
                Outcome::Failed => "FAILED".to_string(),
            };
            let refs = if t.references.total > 0 {
                format!(
                    " ({}/{} references moved)",
                    t.references.moved, t.references.total
                )
            } else {
                String::new()
            };
            rows.push(("result:".into(), format!("{result}{refs}")));
            if let Some(e) = &t.error {
                // One reason a line (a refusal can have several).
                for (i, line) in e.lines().enumerate() {
                    rows.push((if i == 0 { "error:" } else { "" }.into(), line.into()));
                }
            }
            if let Some(n) = &t.next {
                rows.push(("next:".into(), n.clone()));
            }
            out.push_str(&labelled(&rows, width));
        }
        out
    }
}

/// The plan's rows: the current set, whether rotation is due, the steps, and what is
/// refused, kept, under way, later, noted and at risk.
fn plan_rows(plan: &Plan, rows: &mut Vec<(String, String)>) {
    let mut row = |label: &str, text: String| rows.push((label.to_string(), text));
    match &plan.current {
        Some(c) => {
            let key = describe_link(&c.link);
            let age = c
                .age_days
                .map(|d| format!(", {d} days old"))
                .unwrap_or_default();
            row("current:", format!("{} ({key}{age})", c.set_id));
        }
        None => row("current:", "none".into()),
    }
    let next = plan
        .due
        .next
        .map(|n| format!("; due {}", fmt_time(n)))
        .unwrap_or_default();
    row(
        "rotation:",
        format!(
            "{} ({}{next})",
            if plan.due.now { "due" } else { "not due" },
            plan.due.reason.words()
        ),
    );
    if plan.is_empty() {
        row("plan:", "nothing to do".into());
    } else {
        for (i, a) in plan.steps().enumerate() {
            row(
                if i == 0 { "plan:" } else { "" },
                format!("- {}", describe(a)),
            );
        }
    }
    if let Some(r) = &plan.refusal {
        row("refused:", r.words());
    }
    for b in &plan.blocked {
        row("KEPT:", b.words());
    }
    if let Some(c) = &plan.canary {
        row("canary:", c.words());
    }
    if let Some(m) = &plan.migration {
        row("migration:", m.words());
    }
    for u in &plan.upcoming {
        row(
            "later:",
            format!("{}, from {}", u.step.words(), fmt_time(u.due)),
        );
    }
    for n in &plan.notes {
        row("note:", n.words());
    }
    for d in &plan.deadlines {
        let label = if d.risk.is_some() {
            "AT RISK:"
        } else {
            "deadline:"
        };
        row(label, d.words());
    }
}
