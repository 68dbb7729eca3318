//! `migrate-to-role` as text: the role, its trust policy and policies, the role set, the
//! steps and how the run ended.

use std::fmt::Write as _;

use crate::migration::{MigrationOutcome, MigrationReport};
use crate::role::{
    Migration as RoleMigration, PolicyAction, RoleAction, SetAction, ROLE_CREDENTIALS,
    TAG_EXTERNAL_ID,
};
use crate::words::Words;

use super::table::wrapped;

/// How far a JSON document is indented under its line.
const JSON_INDENT: &str = "      ";

impl MigrationReport {
    /// `migrate-to-role`'s report as text, for a human: the role, its trust policy
    /// (external id redacted), every policy it gets, the groups whose policies it does
    /// not, the set, the steps; within `width` columns when given, a long line broken at
    /// its spaces (the JSON documents, indented six, left whole).
    pub fn render_text(&self, width: Option<u16>) -> String {
        let mut out = String::new();
        let dry = if self.dry_run { " (dry run)" } else { "" };
        let _ = writeln!(
            out,
            "target {} (IAM user {}): migrate-to-role{dry}",
            self.target, self.iam_user
        );
        role_lines(&mut out, &self.plan);
        policy_lines(&mut out, &self.plan);
        set_line(&mut out, &self.plan);
        run_lines(&mut out, self);
        wrapped(&out, width, |line| line.starts_with(JSON_INDENT))
    }
}

/// The role: what happens to it, its trust policy and its permissions boundary.
fn role_lines(out: &mut String, p: &RoleMigration) {
    let role = match &p.role {
        RoleAction::Create => "create".to_string(),
        RoleAction::Adopt { arn, .. } => format!("adopt {arn} (made by an earlier run)"),
        RoleAction::Foreign { arn, reason } => format!("NOT THIS TOOL'S: {arn}: {reason}"),
    };
    let _ = writeln!(out, "  IAM role {}: {role}", p.role_name);
    let _ = writeln!(
        out,
        "    SORACOM's AWS account {}: {}",
        p.soracom_account_id,
        p.soracom_account_source.words()
    );
    let _ = writeln!(
        out,
        "    trust policy (the external id is generated once, kept in tag {} and never shown):\n{}",
        TAG_EXTERNAL_ID,
        indented_json(&p.trust_policy)
    );
    if let Some(b) = &p.permissions_boundary {
        let _ = writeln!(
            out,
            "    permissions boundary {b}: the user's, so the role can do no more than the user could"
        );
    }
}

/// The user's policies the role gets (inline ones in full), and the groups it does not
/// get the policies of.
fn policy_lines(out: &mut String, p: &RoleMigration) {
    if p.inline_policies.is_empty() && p.attached_policies.is_empty() {
        let _ = writeln!(out, "    the user has no inline or attached policy to copy");
    }
    for i in &p.inline_policies {
        let _ = writeln!(
            out,
            "    inline policy {}: {}\n{}",
            i.name,
            policy_action(i.action, "put (copied from the user)"),
            indented_json(&i.document)
        );
    }
    for a in &p.attached_policies {
        let _ = writeln!(
            out,
            "    managed policy {} ({}): {}",
            a.name,
            a.arn,
            policy_action(a.action, "attach (attached to the user)")
        );
    }
    if !p.groups_not_copied.is_empty() {
        let _ = writeln!(
            out,
            "    not copied: the policies of group(s) {} also apply to the user; a role is in no group, so attach what it needs by hand",
            p.groups_not_copied.join(", ")
        );
    }
}

/// The role's credential set and what happens to it.
fn set_line(out: &mut String, p: &RoleMigration) {
    let set = match &p.credential_set {
        SetAction::Create => "register (roleArn + externalId)".to_string(),
        SetAction::Present => "present (registered by an earlier run)".to_string(),
        SetAction::Foreign { reason } => format!("NOT THIS TOOL'S: {reason}"),
    };
    let _ = writeln!(
        out,
        "  credential set {} ({ROLE_CREDENTIALS}): {set}",
        p.credential_id
    );
}

/// The steps the run took, how it ended, and what happens next.
fn run_lines(out: &mut String, r: &MigrationReport) {
    for s in &r.steps {
        match &s.error {
            None => {
                let _ = writeln!(out, "  ok    {}", s.step);
            }
            Some(e) => {
                let _ = writeln!(out, "  FAIL  {}: {e}", s.step);
            }
        }
    }
    let outcome = match r.outcome {
        MigrationOutcome::Planned => "planned",
        MigrationOutcome::NothingToDo => "nothing to do",
        MigrationOutcome::Done => "done",
        MigrationOutcome::Refused => "REFUSED",
        MigrationOutcome::Failed => "FAILED",
    };
    match &r.error {
        Some(e) => {
            let _ = writeln!(out, "  {outcome}: {e}");
        }
        None => {
            let _ = writeln!(out, "  {outcome}");
        }
    }
    let _ = writeln!(out, "  next: {}", r.next);
}

/// What happens to one of the user's policies: kept when the role has it, else `verb`.
fn policy_action(a: PolicyAction, verb: &'static str) -> &'static str {
    match a {
        PolicyAction::Present => "present, kept as it is",
        PolicyAction::Add => verb,
    }
}

/// A JSON document, pretty-printed and indented under its line.
fn indented_json(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v)
        .unwrap_or_else(|_| v.to_string())
        .lines()
        .map(|l| format!("{JSON_INDENT}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
