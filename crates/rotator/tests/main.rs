//! The library's integration tests, one binary (each module was a test binary of its own).
//! Run one part with a filter, e.g. `cargo test -p rotator --test rotator recovery::`.

mod clients;
mod recovery;
mod role;
mod selfkey;
mod soracom_client;
