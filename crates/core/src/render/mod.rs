//! Every report the tool prints as text, laid out in one place: a file per report.
//!
//! - `run.rs`: a run of `plan`, `reconcile`, `rotate`, `retire` or `rollback`
//!   ([`RunReport::render_text`](crate::report::RunReport::render_text)).
//! - `status.rs`: `status`
//!   ([`StatusReport::render_text`](crate::status::StatusReport::render_text)).
//! - `discovery.rs`: `discover`
//!   ([`Discovery::render_text`](crate::discover::Discovery::render_text)), and what `init`
//!   says it wrote ([`written`]).
//! - `migration.rs`: `migrate-to-role`
//!   ([`MigrationReport::render_text`](crate::migration::MigrationReport::render_text)).
//! - `key_rotation.rs`: `rotate-soracom-key`
//!   ([`KeyRotation::render_text`](crate::selfkey::KeyRotation::render_text)).
//! - `policy.rs`: `policy`, its documents under their headings ([`policy_documents`]).
//! - `table.rs`: the two shapes `status` and `discover` are laid out in (tables and
//!   labelled lines), fitted to the terminal's width when the CLI gives one.
//!
//! The reports are data (serialised as they are for `--output json` and the Lambda); this
//! module lays them out for a terminal or a log. The sentences about a plan's values are
//! [`crate::wording`]'s ([`Words`](crate::words::Words)); the layout here places them.

mod discovery;
mod key_rotation;
mod migration;
mod policy;
mod run;
mod status;
mod table;

pub use discovery::written;
pub use policy::policy_documents;
