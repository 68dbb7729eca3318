//! The SORACOM emulator's integration tests, one binary (each module was a test binary of
//! its own), with the shared helpers in [`common`].
//!
//! Run one part with a filter, e.g. `cargo test -p soracom-emulator --test emulator faults::`.

mod common;

mod admin_and_binary;
mod api;
mod faults;
