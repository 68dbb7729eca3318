//! Client-side pacing for SORACOM's advertised rate limits, per path template.
//!
//! SORACOM counts calls per operator and path in fixed windows and says so in three response
//! headers: `X-Soracom-Ratelimit-Limit`, `-Remaining` and `-Seconds-Before-Refresh` (whole
//! seconds). [`Limiter`] keeps, per path template, what the last answers said plus the calls
//! still in flight, and lets a call go only when it is surely within the limit:
//!
//! - **Unknown** (nothing seen yet, or the advertised refresh has passed): one *probe* call
//!   at a time, sent only when no other call of that template is in flight. Its answer
//!   counts every call of ours that reached the server before it, so it states the window
//!   exactly.
//! - **Limited** (the probe answered with the headers): a call goes while
//!   `remaining − in flight > 0`. Answers to calls sent in this state only ever lower
//!   `remaining` (answers can arrive out of order; the lowest is the newest count), and an
//!   answer without the headers, or no answer at all, lowers it by one (the server may have
//!   counted it). The refresh instant is the probe's arrival plus the advertised seconds:
//!   never earlier than the server's window end, since the server rounds the seconds up and
//!   computed them before the answer travelled. After it the state is Unknown again.
//! - **Unlimited** (the probe's 2xx or 429 answer had no headers): no pacing; a 429 is then
//!   met with the caller's bounded backoff.
//!
//! Calls of ours that reach the server after its window ended land in the next window,
//! which the next probe counts. Waiting is bounded by [`MAX_PACING_WAIT`]; past it the call
//! is sent anyway and a 429, if any, goes through the caller's bounded retries.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use super::transport::Headers;
use crate::clock::Clock;

/// A point in the client clock's monotonic time ([`Clock::monotonic`]).
type Instant = Duration;

/// Longest wait honoured from a `Seconds-Before-Refresh` header.
const MAX_REFRESH: Duration = Duration::from_secs(120);
/// Longest a call waits for the limiter before it is sent anyway.
pub(crate) const MAX_PACING_WAIT: Duration = Duration::from_secs(600);

/// What the limiter knows of one path template.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Mode {
    /// Nothing known, or the window may have refreshed: probe.
    #[default]
    Unknown,
    /// The server advertises no limit for this path.
    Unlimited,
    /// Within a window known from a probe.
    Limited {
        /// Calls the server will still accept in this window (the lowest count seen).
        remaining: u32,
        /// When the window has surely refreshed.
        refresh_at: Instant,
    },
}

#[derive(Debug, Default)]
struct Bucket {
    mode: Mode,
    in_flight: u32,
    /// Bumped whenever `mode` is set from a probe; answers to calls of older epochs are ignored.
    epoch: u64,
}

/// Leave to send one call, handed back with what its answer said.
#[derive(Debug)]
struct Ticket {
    template: &'static str,
    epoch: u64,
    probe: bool,
}

/// What a call's answer said about the rate limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// An answer with `Remaining` and `Seconds-Before-Refresh`.
    Headers {
        /// `X-Soracom-Ratelimit-Remaining`.
        remaining: u32,
        /// `X-Soracom-Ratelimit-Seconds-Before-Refresh`.
        seconds: u64,
    },
    /// An answer without them; `counts` when its status (2xx, 429) shows the path's policy.
    NoHeaders {
        /// Whether this answer may decide that the path is unlimited.
        counts: bool,
    },
    /// No answer (transport error, or the call was abandoned).
    NoAnswer,
}

impl Seen {
    /// Reads the rate-limit headers of an answer with `status`.
    pub(crate) fn from_answer(status: u16, headers: &Headers) -> Seen {
        let num = |name: &str| headers.get(name)?.trim().parse::<u64>().ok();
        match (
            num("x-soracom-ratelimit-remaining"),
            num("x-soracom-ratelimit-seconds-before-refresh"),
        ) {
            (Some(remaining), Some(seconds)) => Seen::Headers {
                remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
                seconds,
            },
            _ => Seen::NoHeaders {
                counts: (200..300).contains(&status) || status == 429,
            },
        }
    }
}

/// Per path template pacing; shared by all calls of one client.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    buckets: Mutex<HashMap<&'static str, Bucket>>,
    changed: Notify,
}

/// A call's leave to go; report its answer with [`Permit::done`]. Dropped unanswered, it
/// counts as [`Seen::NoAnswer`].
pub(crate) struct Permit<'a> {
    limiter: &'a Limiter,
    clock: &'a dyn Clock,
    ticket: Option<Ticket>,
}

impl Permit<'_> {
    /// Records what the answer said and frees the slot.
    pub(crate) fn done(mut self, seen: Seen) {
        if let Some(t) = self.ticket.take() {
            self.limiter.release(t, seen, self.clock.monotonic());
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.ticket.take() {
            self.limiter
                .release(t, Seen::NoAnswer, self.clock.monotonic());
        }
    }
}

/// Whether a call may go now.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Go {
        epoch: u64,
        probe: bool,
    },
    /// Wait for another call's answer, or until this instant.
    Wait(Option<Instant>),
}

impl Limiter {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, Bucket>> {
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until a call of `template` is surely within the advertised limit (at most
    /// [`MAX_PACING_WAIT`]), and counts it as in flight.
    pub(crate) async fn acquire<'a>(
        &'a self,
        template: &'static str,
        clock: &'a dyn Clock,
    ) -> Permit<'a> {
        let deadline = clock.monotonic() + MAX_PACING_WAIT;
        // Each round ends with an answer of another call or a refresh: bounded by the deadline.
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            // Register before looking, so an answer between the look and the wait is not missed.
            notified.as_mut().enable();
            let now = clock.monotonic();
            let verdict = if now >= deadline {
                self.force(template)
            } else {
                self.try_acquire(template, now)
            };
            match verdict {
                Verdict::Go { epoch, probe } => {
                    return Permit {
                        limiter: self,
                        clock,
                        ticket: Some(Ticket {
                            template,
                            epoch,
                            probe,
                        }),
                    }
                }
                Verdict::Wait(until) => {
                    let wake = until.map_or(deadline, |u| u.min(deadline));
                    tracing::debug!(
                        template,
                        wait_ms = wake.saturating_sub(now).as_millis() as u64,
                        "rate limit: waiting"
                    );
                    // Biased: the same wake-ups give the same order, run after run.
                    tokio::select! {
                        biased;
                        () = &mut notified => {}
                        () = clock.sleep(wake.saturating_sub(now)) => {}
                    }
                }
            }
        }
    }

    /// Counts a call as in flight without asking (the wait took too long).
    fn force(&self, template: &'static str) -> Verdict {
        let mut buckets = self.lock();
        let b = buckets.entry(template).or_default();
        b.in_flight = b.in_flight.saturating_add(1);
        tracing::warn!(template, "rate limit: waited too long; sending anyway");
        Verdict::Go {
            epoch: b.epoch,
            probe: false,
        }
    }

    fn try_acquire(&self, template: &'static str, now: Instant) -> Verdict {
        let mut buckets = self.lock();
        let b = buckets.entry(template).or_default();
        let mode = match b.mode {
            Mode::Limited { refresh_at, .. } if now >= refresh_at => Mode::Unknown,
            m => m,
        };
        let verdict = match mode {
            Mode::Unlimited => Verdict::Go {
                epoch: b.epoch,
                probe: false,
            },
            Mode::Unknown if b.in_flight == 0 => Verdict::Go {
                epoch: b.epoch,
                probe: true,
            },
            Mode::Unknown => Verdict::Wait(None),
            Mode::Limited {
                remaining,
                refresh_at,
            } => {
                if remaining > b.in_flight {
                    Verdict::Go {
                        epoch: b.epoch,
                        probe: false,
                    }
                } else {
                    Verdict::Wait(Some(refresh_at))
                }
            }
        };
        if matches!(verdict, Verdict::Go { .. }) {
            b.in_flight = b.in_flight.saturating_add(1);
        }
        verdict
    }

    fn release(&self, ticket: Ticket, seen: Seen, now: Instant) {
        {
            let mut buckets = self.lock();
            let b = buckets.entry(ticket.template).or_default();
            b.in_flight = b.in_flight.saturating_sub(1);
            if ticket.probe {
                let next = match seen {
                    Seen::Headers { remaining, seconds } => Some(Mode::Limited {
                        remaining,
                        refresh_at: now + Duration::from_secs(seconds).min(MAX_REFRESH),
                    }),
                    Seen::NoHeaders { counts: true } => Some(Mode::Unlimited),
                    Seen::NoHeaders { counts: false } | Seen::NoAnswer => None,
                };
                if let Some(mode) = next {
                    b.mode = mode;
                    b.epoch += 1;
                }
            } else if ticket.epoch == b.epoch {
                match (&mut b.mode, seen) {
                    (Mode::Limited { remaining, .. }, Seen::Headers { remaining: r, .. }) => {
                        *remaining = (*remaining).min(r);
                    }
                    (Mode::Limited { remaining, .. }, _) => {
                        *remaining = remaining.saturating_sub(1);
                    }
                    (Mode::Unlimited, Seen::Headers { .. }) => {
                        // The server started advertising a limit: learn it with a probe.
                        b.mode = Mode::Unknown;
                        b.epoch += 1;
                    }
                    _ => {}
                }
            }
        }
        self.changed.notify_waiters();
    }

    /// Whether the server advertised a limit for `template` (a 429 then waits in
    /// [`Limiter::acquire`] rather than backing off).
    pub(crate) fn is_limited(&self, template: &'static str) -> bool {
        matches!(
            self.lock().get(template).map(|b| b.mode),
            Some(Mode::Limited { .. })
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "/groups/{group_id}/configuration/{namespace}";

    fn go(l: &Limiter, now: Instant) -> Ticket {
        match l.try_acquire(T, now) {
            Verdict::Go { epoch, probe } => Ticket {
                template: T,
                epoch,
                probe,
            },
            Verdict::Wait(w) => panic!("expected to go, told to wait {w:?}"),
        }
    }

    fn headers(remaining: u32, seconds: u64) -> Seen {
        Seen::Headers { remaining, seconds }
    }

    #[test]
    fn probes_alone_then_paces_by_remaining_minus_in_flight() {
        let l = Limiter::default();
        let t0 = Duration::from_secs(1000);
        let probe = go(&l, t0);
        assert!(probe.probe);
        assert_eq!(l.try_acquire(T, t0), Verdict::Wait(None));
        l.release(probe, headers(3, 1), t0);
        let refresh = t0 + Duration::from_secs(1);
        let a = go(&l, t0);
        let b = go(&l, t0);
        let c = go(&l, t0);
        assert!(!a.probe && !b.probe && !c.probe);
        // Three in flight, three remaining: the fourth waits for the refresh.
        assert_eq!(l.try_acquire(T, t0), Verdict::Wait(Some(refresh)));
        // An answer out of order (a higher count than known) does not raise `remaining`.
        l.release(a, headers(2, 1), t0);
        l.release(b, headers(1, 1), t0);
        assert_eq!(l.try_acquire(T, t0), Verdict::Wait(Some(refresh)));
        l.release(c, Seen::NoAnswer, t0);
        assert_eq!(l.try_acquire(T, t0), Verdict::Wait(Some(refresh)));
        // After the refresh: one probe again.
        let p2 = go(&l, refresh);
        assert!(p2.probe);
        assert_eq!(l.try_acquire(T, refresh), Verdict::Wait(None));
        l.release(p2, headers(4, 1), refresh);
        assert!(l.is_limited(T));
        assert!(!go(&l, refresh).probe);
    }

    #[test]
    fn a_path_without_headers_is_not_paced() {
        let l = Limiter::default();
        let t0 = Duration::from_secs(1000);
        let p = go(&l, t0);
        // A 401 without headers says nothing about the path's policy: probe again.
        l.release(p, Seen::NoHeaders { counts: false }, t0);
        let p = go(&l, t0);
        assert!(p.probe);
        l.release(p, Seen::NoHeaders { counts: true }, t0);
        let many: Vec<Ticket> = (0..10).map(|_| go(&l, t0)).collect();
        assert!(!l.is_limited(T));
        // Headers appear later: pacing starts with a probe once the calls are answered.
        let mut it = many.into_iter();
        if let Some(first) = it.next() {
            l.release(first, headers(0, 5), t0);
        }
        assert_eq!(l.try_acquire(T, t0), Verdict::Wait(None));
        for t in it {
            l.release(t, Seen::NoHeaders { counts: true }, t0);
        }
        assert!(go(&l, t0).probe);
    }

    #[test]
    fn other_templates_are_independent() {
        let l = Limiter::default();
        let t0 = Duration::from_secs(1000);
        let p = go(&l, t0);
        l.release(p, headers(0, 60), t0);
        assert!(matches!(l.try_acquire(T, t0), Verdict::Wait(Some(_))));
        assert!(matches!(
            l.try_acquire("/groups", t0),
            Verdict::Go { probe: true, .. }
        ));
    }

    #[test]
    fn reads_the_headers() {
        let none = Headers::default();
        assert_eq!(
            Seen::from_answer(200, &none),
            Seen::NoHeaders { counts: true }
        );
        assert_eq!(
            Seen::from_answer(500, &none),
            Seen::NoHeaders { counts: false }
        );
        let h = Headers::new([
            ("X-Soracom-Ratelimit-Remaining".to_string(), "4".to_string()),
            (
                "x-soracom-ratelimit-seconds-before-refresh".to_string(),
                " 7".to_string(),
            ),
        ]);
        assert_eq!(Seen::from_answer(429, &h), headers(4, 7));
    }
}
