//! Every report the tool prints as text, laid out in one place: a file per report.
//!
//! - `run.rs`: a run of `plan`, `reconcile`, `rotate`, `retire` or `rollback`
//!   ([`RunReport::render_text`](crate::report::RunReport::render_text)).
//! - `status.rs`: `status`
//!   ([`StatusReport::render_text`](crate::status::StatusReport::render_text)).
//!
//! The reports are data (serialised as they are for `--output json` and the Lambda); this
//! module lays them out for a terminal or a log. The sentences about a plan's values are
//! [`crate::wording`]'s ([`Words`](crate::words::Words)); the layout here places them.

mod run;
mod status;
