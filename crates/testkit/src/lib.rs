//! Test support for soracom-key-rotator.
//!
//! - [`moto`]: reach the moto IAM/STS emulator that `scripts/with-moto` starts, with the real
//!   AWS SDK, and a small [`moto::Iam`] helper to arrange and inspect IAM state.
//! - [`aws_proxy`]: an HTTP proxy in front of moto that injects AWS faults per action.
//! - [`backend`]: one face for moto and the proxy, or the in-memory fakes.
//! - [`contract`]: checks SORACOM API requests against the official OpenAPI spec.
//! - [`fake`]: in-memory fakes of both ports, a hook on every call, a clock in simulated time.
//! - [`figures`]: where tests leave the figures `scripts/reliability` reports.
//! - [`secrets`]: a world's secrets from its whole history, and the search for them in
//!   everything the code under test wrote.
//! - [`world`]: one scenario's world (emulator, proxy in front of moto, IAM user, ledger,
//!   clock) with the checks every scenario ends with; the CLI's, the Lambda's and the
//!   library's harnesses are built on it.
#![deny(missing_docs)]

pub mod aws_proxy;
pub mod backend;
pub mod contract;
pub mod fake;
pub mod figures;
pub mod moto;
pub mod secrets;
pub mod world;

/// Installs rustls' ring crypto provider for reqwest (built with `rustls-no-provider`).
/// Safe to call any number of times; only the first call installs it.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
