//! What `migrate-to-role` did, or would do, for one target: the report both binaries
//! print (docs/ARCHITECTURE.md, *Migrating to a role*). The decision is
//! [`crate::role::plan`]; carrying it out is the `rotator` crate's. Its text
//! (`MigrationReport::render_text`) is laid out in [`crate::render`] with every other
//! report, so this module needs nothing of the rendering.

use serde::Serialize;

use crate::role::Migration;

/// How a migration run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MigrationOutcome {
    /// A dry run: what would be done.
    Planned,
    /// Role and set were already in place.
    NothingToDo,
    /// Every step was done.
    Done,
    /// The role or set of that name is someone else's; nothing was changed.
    Refused,
    /// A step failed; what was done stays, and a rerun adopts it and goes on.
    Failed,
}

/// One step a run took.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MigrationStep {
    /// What it did.
    pub step: String,
    /// Whether it worked.
    pub ok: bool,
    /// Why not, if it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The role set a migration registered: what the canary moves references onto.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleSet {
    /// The credential set's id (`aws-iam-role-credentials`).
    pub credential_id: String,
    /// The role it names.
    pub role_arn: String,
}

/// What `migrate-to-role` did, or would do, for one target. Holds no secret: the external
/// id is redacted in the trust policy and never carried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationReport {
    /// The target's name.
    pub target: String,
    /// Its IAM user.
    pub iam_user: String,
    /// Whether nothing was to be changed.
    pub dry_run: bool,
    /// How it ended.
    pub outcome: MigrationOutcome,
    /// What was decided.
    pub plan: Migration,
    /// The role's ARN, once it exists.
    pub role_arn: Option<String>,
    /// The role set, once it is registered.
    pub role_set: Option<RoleSet>,
    /// The steps taken, in order.
    pub steps: Vec<MigrationStep>,
    /// Why the run was refused or failed.
    pub error: Option<String>,
    /// What happens next.
    pub next: String,
}

impl MigrationReport {
    /// The exit code: 0 done or nothing to do, 1 failed (a rerun resumes), 3 refused.
    pub fn exit_code(&self) -> u8 {
        match self.outcome {
            MigrationOutcome::Planned | MigrationOutcome::NothingToDo | MigrationOutcome::Done => 0,
            MigrationOutcome::Failed => 1,
            MigrationOutcome::Refused => 3,
        }
    }
}
