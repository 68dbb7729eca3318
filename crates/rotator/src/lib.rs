//! soracom-key-rotator's library: rotate the AWS access keys SORACOM holds, safely.
//!
//! SORACOM services reach AWS with an IAM user's access key kept in SORACOM's
//! credentials store. This crate observes the keys (IAM) and the credential sets and
//! their references (SORACOM), plans what is due with a pure function, and applies the
//! plan step by step so that a failure at any point leaves a state the next run repairs.
//!
//! # Layout
//! - [`config`]: the TOML configuration, validated in one place.
//! - [`model`], [`secret`]: domain types; secrets and key ids that print safely.
//! - [`records`]: what the tool records on the IAM user (tags), so no local state is needed.
//! - [`refs`]: finding and rewriting references in SORACOM JSON.
//! - [`plan`]: the pure planner.
//! - [`iam`], [`soracom`]: the two ports (`IamApi`, `SoracomApi`) and their real adapters.
//! - [`observe`]: what IAM and SORACOM say now, the first step of every run.
//! - [`apply`]: carry a plan out, phase by phase; [`report`]: what a run did.
//! - [`invoke`]: one run of a command as both binaries make it (select, log in, run, notify).
//! - [`status`]: keys, sets, references, due dates and compliance of each target.
//! - [`discover`]: `discover` and `init`, first contact: what is there, and a proposed configuration.
//! - [`policy`]: the least privilege the tool needs, derived from the configuration.
//! - [`selfkey`]: `rotate-soracom-key`, replacing the tool's own SORACOM AuthKey.
//! - [`role`], [`migrate`]: `migrate-to-role`, an IAM role in place of the key: the pure
//!   decision, then carrying it out.
//! - [`wording`]: every sentence about a plan, in one place.
//! - [`notify`]: messages to a human (SNS, webhook) when a run needs attention.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod apply;
pub mod config;
pub mod discover;
pub mod error;
pub mod iam;
pub mod invoke;
pub mod migrate;
pub mod model;
pub mod notify;
pub mod observe;
pub mod plan;
pub mod policy;
pub mod records;
pub mod refs;
pub mod report;
pub mod role;
pub mod secret;
pub mod selfkey;
pub mod soracom;
pub mod status;
pub mod wording;

pub use config::{Config, ConfigError, Target};
pub use error::{Error, Result};
pub use secret::{AccessKeyId, NewAccessKey, Secret};
