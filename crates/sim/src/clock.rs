//! [`SimClock`]: simulated time that moves only when the simulator moves it.
//!
//! Every read of the time and every wait of the engine, the SORACOM client, the fake IAM
//! and the emulator go through the one [`rotator::Clock`] a run is given; here it is a
//! clock whose waits are timers the simulator fires when it chooses to let time pass, so a
//! run never sleeps in real time and the same seed gives the same times.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rotator::{Clock, Sleep};
use time::OffsetDateTime;

/// The simulated clock; clones share it.
#[derive(Debug)]
pub struct SimClock {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    start: OffsetDateTime,
    mono: Duration,
    timers: BTreeMap<(Duration, u64), Waker>,
    seq: u64,
}

impl SimClock {
    /// A clock reading `start`, no time elapsed.
    pub fn new(start: OffsetDateTime) -> Arc<SimClock> {
        Arc::new(SimClock {
            inner: Mutex::new(Inner {
                start,
                mono: Duration::ZERO,
                timers: BTreeMap::new(),
                seq: 0,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// When the earliest pending wait ends, if any wait is pending.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.lock().timers.keys().next().map(|(d, _)| *d)
    }

    /// Time elapsed since the start.
    pub fn elapsed(&self) -> Duration {
        self.lock().mono
    }

    /// Lets `by` pass: every wait that ends by then is woken.
    pub fn advance(&self, by: Duration) {
        let wakers = {
            let mut inner = self.lock();
            inner.mono = inner.mono.saturating_add(by);
            let now = inner.mono;
            let due: Vec<(Duration, u64)> = inner
                .timers
                .range(..=(now, u64::MAX))
                .map(|(k, _)| *k)
                .collect();
            due.into_iter()
                .filter_map(|k| inner.timers.remove(&k))
                .collect::<Vec<Waker>>()
        };
        for w in wakers {
            w.wake();
        }
    }

    /// Lets time pass to the end of the earliest pending wait; whether there was one.
    pub fn advance_to_next(&self) -> bool {
        let Some(deadline) = self.next_deadline() else {
            return false;
        };
        let now = self.elapsed();
        self.advance(deadline.saturating_sub(now));
        true
    }
}

impl Clock for SimClock {
    fn now(&self) -> OffsetDateTime {
        let inner = self.lock();
        inner.start + time::Duration::try_from(inner.mono).unwrap_or(time::Duration::ZERO)
    }

    fn monotonic(&self) -> Duration {
        self.lock().mono
    }

    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        let deadline = self.lock().mono.saturating_add(duration);
        Box::pin(Timer {
            clock: self,
            deadline,
            key: None,
        })
    }
}

/// One wait: pending until the clock reaches `deadline`.
struct Timer<'a> {
    clock: &'a SimClock,
    deadline: Duration,
    key: Option<(Duration, u64)>,
}

impl Future for Timer<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.clock.lock();
        if inner.mono >= self.deadline {
            if let Some(k) = self.key {
                inner.timers.remove(&k);
            }
            return Poll::Ready(());
        }
        let key = match self.key {
            Some(k) => k,
            None => {
                inner.seq += 1;
                (self.deadline, inner.seq)
            }
        };
        inner.timers.insert(key, cx.waker().clone());
        drop(inner);
        self.key = Some(key);
        Poll::Pending
    }
}

impl Drop for Timer<'_> {
    fn drop(&mut self) {
        if let Some(k) = self.key {
            self.clock.lock().timers.remove(&k);
        }
    }
}
