//! testkit's integration tests, one binary (each module was a test binary of its own).
//!
//! Run one part with a filter, e.g. `cargo test -p testkit --test testkit aws_proxy::`.

mod aws_proxy;
mod conformance_iam;
mod conformance_soracom;
mod contract;
mod moto;
