//! Deterministic simulation of soracom-key-rotator (docs/RELIABILITY.md, *Simulation*).
//!
//! The real engine ([`rotator::invoke`], as both binaries run it) runs against the
//! in-memory fakes of `testkit::fake` on one thread. A seeded scheduler chooses every
//! step: which waiting call of which run proceeds, and between any two calls whether a
//! person acts, a call fails, a run crashes or time moves. Oracles check the world after
//! every call that may change it, and when it has gone quiet; a failing schedule is its
//! seed (or its recorded draws), replayed exactly, and can be shrunk.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod choice;
mod clock;
mod exec;
mod gate;
mod oracle;
mod person;
mod schedule;
mod world;

use std::sync::{Arc, Mutex, PoisonError};

pub use choice::Choices;
pub use oracle::Violation;
pub use schedule::{Counts, Ran};

/// Runs the schedule of `seed`; with `trace`, the schedule is written out in words.
pub fn simulate(seed: u64, trace: bool) -> Ran {
    run(seed, Choices::seeded(seed), trace)
}

/// Runs the schedule of `seed` with the draws `draws` (a recorded or shrunk schedule).
pub fn replay(seed: u64, draws: Vec<u32>, trace: bool) -> Ran {
    run(seed, Choices::replay(draws), trace)
}

fn run(seed: u64, choices: Choices, trace: bool) -> Ran {
    let log = Arc::new(Mutex::new(String::new()));
    let subscriber = tracing_subscriber::fmt()
        .with_writer(LogWriter(log.clone()))
        .with_ansi(false)
        .without_time()
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        match schedule::Schedule::new(seed, choices, trace) {
            Ok(s) => s.run(&log),
            Err(e) => Ran::setup_failed(e),
        }
    })
}

/// Where the engine's log goes: one buffer per schedule, searched for secrets.
#[derive(Clone)]
struct LogWriter(Arc<Mutex<String>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_str(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Shrinks a failing schedule to a short one that still breaks a promise of kind `kind`
/// ([`shrink_while`]).
pub fn shrink(seed: u64, draws: Vec<u32>, kind: &str, budget: usize) -> Vec<u32> {
    shrink_while(seed, draws, budget, |ran| {
        ran.violations.iter().any(|(_, v)| v.kind() == kind)
    })
}

/// Shrinks a schedule to a short one that still shows what `keeps` looks for, in at most
/// `budget` replays: first the shortest prefix of the draws that still shows it (every later
/// draw benign), then each remaining choice made benign, from the last, where it still
/// does. Returns the draws found.
pub fn shrink_while(
    seed: u64,
    draws: Vec<u32>,
    budget: usize,
    keeps: impl Fn(&Ran) -> bool,
) -> Vec<u32> {
    let tries = std::cell::Cell::new(0);
    let holds = |d: &[u32]| {
        tries.set(tries.get() + 1);
        keeps(&replay(seed, d.to_vec(), false))
    };
    let (mut lo, mut hi) = (0, draws.len());
    while lo < hi && tries.get() < budget / 3 {
        let mid = (lo + hi) / 2;
        if holds(&draws[..mid]) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let mut best = draws[..hi].to_vec();
    for i in (0..best.len()).rev() {
        if tries.get() >= budget {
            break;
        }
        if best[i] == 0 {
            continue;
        }
        let mut candidate = best.clone();
        candidate[i] = 0;
        if holds(&candidate) {
            best = candidate;
        }
    }
    while best.last() == Some(&0) {
        best.pop();
    }
    best
}
