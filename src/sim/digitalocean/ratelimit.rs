//! DigitalOcean's per-token rate limits: 5,000 requests per hour and 250 per
//! minute, each a sliding window (every request counts for one window length
//! from when it was made), both scaled by `settings.rate_limit_factor`.
//!
//! Owns the windows and the header values. Runs on the simulator clock
//! (`Core::clock`) rather than `core::SlidingWindow`'s `Instant`, so tests and
//! `/_sim/clock/advance` can move a window on without real waiting and
//! `ratelimit-reset` is in the same time as every other timestamp. Must never:
//! read the wall clock itself (`now` is a parameter).

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};

/// Published limit per hour.
pub(super) const PER_HOUR: f64 = 5000.0;
/// Published burst limit per minute.
pub(super) const PER_MINUTE: f64 = 250.0;

#[derive(Debug)]
struct Window {
    limit: usize,
    span: Duration,
    hits: VecDeque<DateTime<Utc>>,
}

impl Window {
    fn new(limit: usize, span: Duration) -> Self {
        Self {
            limit,
            span,
            hits: VecDeque::new(),
        }
    }

    fn expire(&mut self, now: DateTime<Utc>) {
        while self.hits.front().is_some_and(|t| now - *t >= self.span) {
            self.hits.pop_front();
        }
    }

    fn full(&self) -> bool {
        self.hits.len() >= self.limit
    }

    /// When the oldest counted request leaves the window (now when none).
    fn oldest_expiry(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.hits.front().map_or(now, |t| *t + self.span)
    }
}

/// Header values for one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Headers {
    /// `ratelimit-limit`: the hourly limit.
    pub limit: u64,
    /// `ratelimit-remaining`: requests left in the hour (0 when refused).
    pub remaining: u64,
    /// `ratelimit-reset`: Unix seconds when the oldest counted request expires.
    pub reset: i64,
    /// `retry-after` seconds, only when the per-minute burst limit refused.
    pub retry_after: Option<u64>,
}

/// One token's two windows.
#[derive(Debug)]
pub(super) struct Limits {
    hour: Window,
    minute: Window,
}

impl Limits {
    /// Windows of `per_hour` and `per_minute` requests (already scaled).
    pub(super) fn new(per_hour: usize, per_minute: usize) -> Self {
        Self {
            hour: Window::new(per_hour.max(1), Duration::hours(1)),
            minute: Window::new(per_minute.max(1), Duration::minutes(1)),
        }
    }

    fn headers(&self, now: DateTime<Utc>, retry_after: Option<u64>) -> Headers {
        let refused = retry_after.is_some() || self.hour.full();
        Headers {
            limit: self.hour.limit as u64,
            remaining: if refused {
                0
            } else {
                (self.hour.limit - self.hour.hits.len()) as u64
            },
            reset: self.hour.oldest_expiry(now).timestamp(),
            retry_after,
        }
    }

    /// Count one request at `now`; `(false, _)` means refused (429), and the
    /// refused request is not counted.
    pub(super) fn check(&mut self, now: DateTime<Utc>) -> (bool, Headers) {
        self.hour.expire(now);
        self.minute.expire(now);
        if self.hour.full() {
            return (false, self.headers(now, None));
        }
        if self.minute.full() {
            let wait = (self.minute.oldest_expiry(now) - now).num_milliseconds();
            let secs = u64::try_from((wait + 999) / 1000).unwrap_or(1).max(1);
            return (false, self.headers(now, Some(secs)));
        }
        self.hour.hits.push_back(now);
        self.minute.hits.push_back(now);
        (true, self.headers(now, None))
    }

    /// Header values without counting anything (for answers that did not
    /// pass through [`Limits::check`], such as injected faults).
    pub(super) fn peek(&mut self, now: DateTime<Utc>) -> Headers {
        self.hour.expire(now);
        self.minute.expire(now);
        self.headers(now, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn burst_limit_refuses_with_retry_after() {
        let mut l = Limits::new(10, 2);
        let now = t0();
        assert!(l.check(now).0);
        let (ok, h) = l.check(now + Duration::seconds(10));
        assert!(ok);
        assert_eq!(
            (h.limit, h.remaining, h.reset),
            (10, 8, now.timestamp() + 3600)
        );
        let (ok, h) = l.check(now + Duration::seconds(20));
        assert!(!ok);
        assert_eq!(h.remaining, 0);
        assert_eq!(h.retry_after, Some(40));
        // After the minute has passed the burst window is free again.
        assert!(l.check(now + Duration::seconds(61)).0);
    }

    #[test]
    fn hourly_limit_refuses_without_retry_after_and_slides() {
        let mut l = Limits::new(3, 3);
        let now = t0();
        for i in 0..3 {
            assert!(l.check(now + Duration::minutes(i * 2)).0);
        }
        let (ok, h) = l.check(now + Duration::minutes(10));
        assert!(!ok);
        assert_eq!(h.retry_after, None);
        assert_eq!(h.reset, now.timestamp() + 3600);
        // The first request expires after one hour; one slot frees up.
        let (ok, h) = l.check(now + Duration::minutes(60));
        assert!(ok);
        assert_eq!(h.remaining, 0);
        assert_eq!(h.reset, (now + Duration::minutes(62)).timestamp());
        assert!(!l.check(now + Duration::minutes(61)).0);
    }

    #[test]
    fn peek_counts_nothing() {
        let mut l = Limits::new(5, 5);
        assert_eq!(l.peek(t0()).remaining, 5);
        assert_eq!(l.peek(t0()).remaining, 5);
    }
}
