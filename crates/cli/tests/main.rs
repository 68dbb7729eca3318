//! The CLI's integration tests, one binary (each module was a test binary of its own):
//! the real `soracom-key-rotator` binary against moto (through the AWS fault proxy) and
//! the SORACOM emulator, driven by the harness in [`common`].
//!
//! Run one part with a filter, e.g. `cargo test -p soracom-key-rotator --test cli fault_sweep::`.

mod common;

mod accounts;
mod bad_input;
mod canary;
mod discover;
mod e2e;
mod fault_sweep;
mod lifecycle;
mod load;
mod migrate;
mod rotate_soracom_key;
mod safety;
mod scale;
