//! SORACOM-style rate limiting: per operator, per path template, per window.
//!
//! The emulator has one operator, so a counter per path template is enough. Windows use
//! monotonic time (`Instant`), not the emulator clock, so that tests can freeze timestamps
//! and still see a window refresh. Callers pass `now` in, which keeps this unit-testable.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A rate limit: at most `limit` calls per `window` for each path template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    /// Calls allowed per window, per operator, per path template.
    pub limit: u32,
    /// Window length (milliseconds in JSON, as `windowMs`).
    #[serde(rename = "windowMs", with = "crate::faults::duration_ms")]
    pub window: Duration,
}

/// The verdict for one call, with the values of the `X-Soracom-Ratelimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// False when this call is over the limit.
    pub allowed: bool,
    /// `X-Soracom-Ratelimit-Limit`.
    pub limit: u32,
    /// `X-Soracom-Ratelimit-Remaining`.
    pub remaining: u32,
    /// `X-Soracom-Ratelimit-Seconds-Before-Refresh`.
    pub seconds_before_refresh: u64,
}

impl Verdict {
    /// The three rate-limit headers.
    pub fn headers(&self) -> [(String, String); 3] {
        rate_headers(self.limit, self.remaining, self.seconds_before_refresh)
    }
}

/// The `X-Soracom-Ratelimit-*` headers with the given values.
pub(crate) fn rate_headers(limit: u32, remaining: u32, seconds: u64) -> [(String, String); 3] {
    [
        ("x-soracom-ratelimit-limit".into(), limit.to_string()),
        (
            "x-soracom-ratelimit-remaining".into(),
            remaining.to_string(),
        ),
        (
            "x-soracom-ratelimit-seconds-before-refresh".into(),
            seconds.to_string(),
        ),
    ]
}

/// Counters per path template.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    config: Option<RateLimit>,
    windows: HashMap<String, (Instant, u32)>,
}

impl RateLimiter {
    /// The current limit, if any.
    pub fn config(&self) -> Option<RateLimit> {
        self.config
    }

    /// Replaces the limit and forgets all counters.
    pub fn set(&mut self, config: Option<RateLimit>) {
        self.config = config;
        self.windows.clear();
    }

    /// Counts one call; `None` when no limit is set.
    pub fn check(&mut self, template: &str, now: Instant) -> Option<Verdict> {
        let config = self.config?;
        let entry = self.windows.entry(template.to_owned()).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= config.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        let left = config
            .window
            .saturating_sub(now.saturating_duration_since(entry.0));
        let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        Some(Verdict {
            allowed: entry.1 <= config.limit,
            limit: config.limit,
            remaining: config.limit.saturating_sub(entry.1),
            seconds_before_refresh: seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_template_and_refreshes() {
        let mut rl = RateLimiter::default();
        let t0 = Instant::now();
        assert_eq!(rl.check("/v1/groups", t0), None);
        rl.set(Some(RateLimit {
            limit: 2,
            window: Duration::from_secs(60),
        }));
        let v1 = rl.check("/v1/groups", t0);
        assert_eq!(
            v1.map(|v| (v.allowed, v.remaining, v.seconds_before_refresh)),
            Some((true, 1, 60))
        );
        let later = t0 + Duration::from_millis(30_500);
        assert_eq!(rl.check("/v1/groups", later).map(|v| v.remaining), Some(0));
        let v3 = rl.check("/v1/groups", later);
        assert_eq!(
            v3.map(|v| (v.allowed, v.remaining, v.seconds_before_refresh)),
            Some((false, 0, 30))
        );
        assert_eq!(
            rl.check("/v1/credentials", later).map(|v| v.allowed),
            Some(true)
        );
        let next = t0 + Duration::from_secs(60);
        assert_eq!(
            rl.check("/v1/groups", next)
                .map(|v| (v.allowed, v.remaining)),
            Some((true, 1))
        );
    }
}
