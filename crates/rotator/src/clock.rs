//! Where a run's time and waits come from: the one [`Clock`] a run is given.
//!
//! Every read of the time and every wait of the engine and of the SORACOM client goes
//! through it — the run's own clock (docs/ARCHITECTURE.md, *The model*), the pauses of a
//! new key's verification, retry backoff, rate-limit pacing, the in-flight write deadline —
//! so a test or the simulator can run a whole rotation in simulated time, and nothing the
//! engine decides depends on the machine's clock. [`SystemClock`] is the real one.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use time::OffsetDateTime;

/// A future the clock completes after a wait.
pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// The time, and waiting.
pub trait Clock: Send + Sync {
    /// The wall-clock time now (UTC).
    fn now(&self) -> OffsetDateTime;
    /// Time since an arbitrary start that never goes back: for measuring how long
    /// something took.
    fn monotonic(&self) -> Duration;
    /// Waits `duration`.
    fn sleep(&self, duration: Duration) -> Sleep<'_>;
}

/// The machine's clock and tokio's timer.
#[derive(Debug)]
pub struct SystemClock {
    start: std::time::Instant,
}

impl SystemClock {
    /// The machine's clock; its monotonic time starts now.
    pub fn new() -> SystemClock {
        SystemClock {
            start: std::time::Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn monotonic(&self) -> Duration {
        self.start.elapsed()
    }

    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A run's own time: it starts at `start` (the `now` a run is given, which may be moved by
/// `--now`) and moves with `clock` from there, so that what a run records is never dated
/// before it happened.
#[derive(Clone, Copy)]
pub(crate) struct RunClock<'a> {
    clock: &'a dyn Clock,
    start: OffsetDateTime,
    started: Duration,
}

impl<'a> RunClock<'a> {
    /// A run clock reading `start` now.
    pub(crate) fn new(clock: &'a dyn Clock, start: OffsetDateTime) -> RunClock<'a> {
        RunClock {
            clock,
            start,
            started: clock.monotonic(),
        }
    }

    /// The run's time now.
    pub(crate) fn now(&self) -> OffsetDateTime {
        let elapsed = self.clock.monotonic().saturating_sub(self.started);
        self.start
            .saturating_add(time::Duration::try_from(elapsed).unwrap_or(time::Duration::ZERO))
    }

    /// The run's time when it started.
    pub(crate) fn start(&self) -> OffsetDateTime {
        self.start
    }

    /// How long the run has taken so far.
    pub(crate) fn elapsed(&self) -> Duration {
        self.clock.monotonic().saturating_sub(self.started)
    }
}

impl std::fmt::Debug for RunClock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunClock")
            .field("start", &self.start)
            .field("elapsed", &self.elapsed())
            .finish()
    }
}
