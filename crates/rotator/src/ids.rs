//! Where the identifiers and random values a run makes come from: the one [`Ids`] a run is
//! given, so that the simulator can make them from its seed. [`OsIds`] is the real one.

use std::sync::atomic::{AtomicU64, Ordering};

/// A source of run ids and random bytes.
pub trait Ids: Send + Sync {
    /// An id for this run's announcement or lease on the IAM user, different from any other
    /// run's that may overlap it (`unix_seconds` is the run's time).
    fn run_id(&self, unix_seconds: i64) -> String;
    /// Fills `buf` with random bytes (a role's external id), or says why it cannot.
    fn fill(&self, buf: &mut [u8]) -> Result<(), String>;
}

/// Run ids from the time, the process and a counter; random bytes from the OS.
#[derive(Debug, Default)]
pub struct OsIds {
    counter: AtomicU64,
}

impl Ids for OsIds {
    fn run_id(&self, unix_seconds: i64) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        format!("{unix_seconds}-{}-{nanos}-{n}", std::process::id())
    }

    fn fill(&self, buf: &mut [u8]) -> Result<(), String> {
        getrandom::fill(buf).map_err(|e| e.to_string())
    }
}
