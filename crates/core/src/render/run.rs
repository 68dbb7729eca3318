//! A run's report as text: per target, the plan, the steps done, how it ended.

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
    /// The report as text for a terminal or a log.
    pub fn render_text(&self) -> String {
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
            if let Some(plan) = &t.plan {
                render_plan(&mut out, plan);
            }
            if !t.steps.is_empty() {
                out.push_str("  done:\n");
                for s in &t.steps {
                    out.push_str(&format!(
                        "    {s}
"
                    ));
                }
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
            out.push_str(&format!("  result: {result}{refs}\n"));
            if let Some(e) = &t.error {
                out.push_str(&format!("  error: {e}\n"));
            }
            if let Some(n) = &t.next {
                out.push_str(&format!("  next: {n}\n"));
            }
        }
        out
    }
}

/// The plan's lines: the current set, whether rotation is due, the steps, and what is
/// refused, kept, under way, later, noted and at risk.
fn render_plan(out: &mut String, plan: &Plan) {
    match &plan.current {
        Some(c) => {
            let key = describe_link(&c.link);
            let age = c
                .age_days
                .map(|d| format!(", {d} days old"))
                .unwrap_or_default();
            out.push_str(&format!("  current: {} ({key}{age})\n", c.set_id));
        }
        None => out.push_str("  current: none\n"),
    }
    let next = plan
        .due
        .next
        .map(|n| format!("; due {}", fmt_time(n)))
        .unwrap_or_default();
    out.push_str(&format!(
        "  rotation: {} ({}{next})\n",
        if plan.due.now { "due" } else { "not due" },
        plan.due.reason.words()
    ));
    if plan.is_empty() {
        out.push_str("  plan: nothing to do\n");
    } else {
        out.push_str("  plan:\n");
        for a in plan.steps() {
            out.push_str(&format!("    - {}\n", describe(a)));
        }
    }
    if let Some(r) = &plan.refusal {
        out.push_str(&format!("  refused: {}\n", r.words()));
    }
    for b in &plan.blocked {
        out.push_str(&format!("  KEPT: {}\n", b.words()));
    }
    if let Some(c) = &plan.canary {
        out.push_str(&format!("  canary: {}\n", c.words()));
    }
    if let Some(m) = &plan.migration {
        out.push_str(&format!("  migration: {}\n", m.words()));
    }
    for u in &plan.upcoming {
        out.push_str(&format!(
            "  later: {} (from {})\n",
            u.step.words(),
            fmt_time(u.due)
        ));
    }
    for n in &plan.notes {
        out.push_str(&format!("  note: {}\n", n.words()));
    }
    for d in &plan.deadlines {
        let label = if d.risk.is_some() {
            "AT RISK"
        } else {
            "deadline"
        };
        out.push_str(&format!("  {label}: {}\n", d.words()));
    }
}
