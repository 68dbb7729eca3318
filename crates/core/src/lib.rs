//! The deciding core of soracom-key-rotator: everything that decides, and nothing that acts.
//!
//! A run observes IAM and SORACOM, plans with a pure function of what it saw, the
//! configuration and the time, then carries the plan out (the `rotator` crate). This crate
//! holds the deciding half; it depends on no async runtime, network client or SDK, so the
//! compiler keeps it pure (docs/ARCHITECTURE.md, *Crates and what they may depend on*).
//!
//! # Layout
//! - [`config`]: the TOML configuration, validated in one place.
//! - [`model`], [`secret`]: domain types; secrets and key ids that print safely.
//! - [`records`]: what the tool records on the IAM user (tags), so no local state is needed.
//! - [`refs`]: finding and rewriting references in SORACOM JSON.
//! - [`plan`]: the planner; [`execution`]: the decisions made while a plan is carried out.
//! - [`report`], [`status`]: what a run did; keys, sets, references and due dates.
//! - [`notify`]: which message of the notification ladder a run sends, and what it remembers.
//! - [`wording`]: every sentence about a plan, in one place; `words`: the [`Words`](wording::Words)
//!   trait and its serde helpers, on their own so that the worded types and the wording need
//!   not import each other.
//! - [`render`]: every report the tool prints as text, laid out in one place.
//! - [`policy`]: the least privilege the tool needs, derived from the configuration.
//! - [`role`], [`migration`]: `migrate-to-role`: the decision, and its report.
//! - `selfkey`: what `rotate-soracom-key` did ([`KeyRotation`]; the `rotator` crate
//!   carries it out).
//! - [`discover`]: what `discover` proposes from what it read.
//! - [`endpoint`], [`profile`], [`wire`]: SORACOM's origins, the soracom-cli profile's
//!   format, SORACOM's answers read without I/O.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod config;
pub mod discover;
pub mod endpoint;
pub mod execution;
pub mod migration;
pub mod model;
pub mod notify;
pub mod plan;
pub mod policy;
pub mod profile;
pub mod records;
pub mod refs;
pub mod render;
pub mod report;
pub mod role;
pub mod secret;
mod selfkey;
pub mod status;
pub mod wire;
pub mod wording;
pub(crate) mod words;

pub use config::{Config, ConfigError, Target};
pub use secret::{AccessKeyId, NewAccessKey, Secret};
pub use selfkey::KeyRotation;
