//! soracom-key-rotator's acting half: rotate the AWS access keys SORACOM holds, safely.
//!
//! SORACOM services reach AWS with an IAM user's access key kept in SORACOM's
//! credentials store. This crate observes the keys (IAM) and the credential sets and
//! their references (SORACOM), plans what is due with [`rotator_core`]'s pure planner,
//! and applies the plan step by step so that a failure at any point leaves a state the
//! next run repairs.
//!
//! # Layout
//! The modules are private; what the binaries and the tests use is re-exported here.
//! - `iam`, [`soracom`]: the two ports ([`IamApi`], [`soracom::SoracomApi`]) and their real
//!   adapters ([`AwsIam`]; [`soracom::SoracomClient`] over [`soracom::Http`]).
//! - `observe`: what IAM and SORACOM say now, the first step of every run.
//! - `apply`: carry a plan out, phase by phase ([`Command`]).
//! - `invoke`: one run of a command as both binaries make it (select, log in, run,
//!   notify): [`invoke()`], and [`migrate()`] for `migrate-to-role`.
//! - `discover`: reading what `discover` proposes from ([`discover()`]).
//! - `selfkey`: `rotate-soracom-key`, replacing the tool's own SORACOM AuthKey
//!   ([`rotate_soracom_key`]).
//! - `migrate`: `migrate-to-role`, carried out.
//! - `notify`: delivering the ladder's messages (SNS, webhook: [`Channels`]).
//! - `clock`, `ids`: the injected time ([`Clock`]) and run ids ([`Ids`]).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod apply;
mod clock;
mod discover;
mod error;
mod iam;
mod ids;
mod invoke;
mod migrate;
mod notify;
mod observe;
mod selfkey;
pub mod soracom;

pub use apply::{Command, NoProgress, Progress};
pub use clock::{Clock, Sleep, SystemClock};
pub use discover::discover;
pub use error::{aws_error_text, aws_retryable, Error, PagingProblem, Result};
pub use iam::{decode_document, AwsIam, IamApi, DEFAULT_ATTEMPT_TIMEOUT, MAX_USER_PAGES};
pub use ids::{Ids, OsIds};
pub use invoke::{invoke, migrate, Clients, InvokeError, Outcome, Request, SoracomAccess};
pub use notify::{Channels, Deliver, Delivery};
pub use selfkey::{rotate_soracom_key, KeyStore, ProfileStore, Stored, REPLACED_FIELD};
// The core's modules, for this crate's own paths (`crate::plan::…`); users import them from
// `rotator_core` itself.
use rotator_core::{config, model, plan, records, refs, report, secret, status, wording};
