//! soracom-key-rotator's acting half: rotate the AWS access keys SORACOM holds, safely.
//!
//! SORACOM services reach AWS with an IAM user's access key kept in SORACOM's
//! credentials store. This crate observes the keys (IAM) and the credential sets and
//! their references (SORACOM), plans what is due with [`rotator_core`]'s pure planner,
//! and applies the plan step by step so that a failure at any point leaves a state the
//! next run repairs.
//!
//! # Layout
//! - [`iam`], [`soracom`]: the two ports (`IamApi`, `SoracomApi`) and their real adapters.
//! - [`observe`]: what IAM and SORACOM say now, the first step of every run.
//! - [`apply`]: carry a plan out, phase by phase.
//! - [`invoke`]: one run of a command as both binaries make it (select, log in, run, notify).
//! - [`discover`]: reading what `discover` proposes from.
//! - [`selfkey`]: `rotate-soracom-key`, replacing the tool's own SORACOM AuthKey.
//! - [`migrate`]: `migrate-to-role`, carried out.
//! - [`notify`]: delivering the ladder's messages (SNS, webhook).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod apply;
pub mod clock;
pub mod discover;
pub mod error;
pub mod iam;
pub mod ids;
pub mod invoke;
pub(crate) mod migrate;
pub mod notify;
pub(crate) mod observe;
pub mod selfkey;
pub mod soracom;

pub use error::{Error, Result};
// The core's modules, for this crate's own paths (`crate::plan::…`); users import them from
// `rotator_core` itself.
use rotator_core::{config, model, plan, records, refs, report, secret, status, wording};
