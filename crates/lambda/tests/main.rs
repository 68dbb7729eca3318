//! The Lambda function's integration tests, one binary (each module was a test binary of
//! its own): the handler in-process and the `bootstrap` binary against moto and the SORACOM
//! emulator (the harness in [`common`]), and the deployment template.
//!
//! Run one part with a filter, e.g. `cargo test -p rotator-lambda --test lambda handler::`.

mod accounts;
mod common;

mod deadline;
mod handler;
mod runtime_api;
mod template;
