//! [`PausedClock`]: a run's clock in simulated time, over tokio's paused time.
//!
//! In a test whose runtime starts paused (`#[tokio::test(start_paused = true)]`), tokio's
//! timer moves only when every task waits on it, and then at once to the next deadline: a
//! verification pause, a retry's backoff or a rate-limit wait of the engine passes in no
//! real time, in the order a real clock would give. [`PausedClock::travel`] moves the wall
//! clock by days (a new key ageing, a canary's limit passing) without moving the timer.

use std::sync::Mutex;
use std::time::Duration;

use rotator::{Clock, Sleep};
use time::OffsetDateTime;
use tokio::time::Instant;

/// A clock over tokio's (paused) timer, starting at a given wall time.
#[derive(Debug)]
pub struct PausedClock {
    start_wall: OffsetDateTime,
    start: Instant,
    offset: Mutex<time::Duration>,
}

impl PausedClock {
    /// A clock that reads `start` now.
    pub fn new(start: OffsetDateTime) -> PausedClock {
        PausedClock {
            start_wall: start,
            start: Instant::now(),
            offset: Mutex::new(time::Duration::ZERO),
        }
    }

    /// Moves the wall clock by `by` (the timer stays: nothing waiting wakes because of it).
    pub fn travel(&self, by: time::Duration) {
        let mut o = self
            .offset
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *o += by;
    }

    /// How far [`PausedClock::travel`] has moved the wall clock.
    pub fn travelled(&self) -> time::Duration {
        *self
            .offset
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Clock for PausedClock {
    fn now(&self) -> OffsetDateTime {
        let elapsed = time::Duration::try_from(self.monotonic()).unwrap_or(time::Duration::ZERO);
        self.start_wall + self.travelled() + elapsed
    }

    fn monotonic(&self) -> Duration {
        Instant::now().saturating_duration_since(self.start)
    }

    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        Box::pin(tokio::time::sleep(duration))
    }
}
