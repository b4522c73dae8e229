//! DigitalOcean's per-token rate limits: 5,000 requests per hour and 250 per
//! minute, each a sliding window (every request counts for one window length
//! from when it was made), both scaled by `settings.rate_limit_factor`, and
//! both window lengths multiplied by `settings.rate_window_scale`.
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
pub(super) use crate::sim::core::window_scale;

/// `base` times `scale`, in whole milliseconds, at least one.
fn scaled_span(base: Duration, scale: f64) -> Duration {
    let ms = (base.num_milliseconds() as f64 * scale).round();
    let ms = if ms >= 1.0 && ms.is_finite() {
        ms.min(i64::MAX as f64 / 4.0) as i64
    } else {
        1
    };
    Duration::try_milliseconds(ms).unwrap_or(base)
}

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

/// `t` in Unix seconds, rounded up.
fn ceil_secs(t: DateTime<Utc>) -> i64 {
    t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0)
}

/// Header values for one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Headers {
    /// `ratelimit-limit`: the hourly limit.
    pub limit: u64,
    /// `ratelimit-remaining`: requests left in the hour (0 when refused).
    pub remaining: u64,
    /// `ratelimit-reset`: Unix seconds when the oldest counted request expires
    /// (rounded up, so a scaled window is free by then).
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
    /// Windows of `per_hour` and `per_minute` requests (already scaled),
    /// an hour and a minute long times `window_scale`.
    pub(super) fn new(per_hour: usize, per_minute: usize, window_scale: f64) -> Self {
        Self {
            hour: Window::new(
                per_hour.max(1),
                scaled_span(Duration::hours(1), window_scale),
            ),
            minute: Window::new(
                per_minute.max(1),
                scaled_span(Duration::minutes(1), window_scale),
            ),
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
            reset: ceil_secs(self.hour.oldest_expiry(now)),
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
        let mut l = Limits::new(10, 2, 1.0);
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
        let mut l = Limits::new(3, 3, 1.0);
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
        let mut l = Limits::new(5, 5, 1.0);
        assert_eq!(l.peek(t0()).remaining, 5);
        assert_eq!(l.peek(t0()).remaining, 5);
    }

    #[test]
    fn scaled_windows_refuse_past_capacity_and_recover() {
        // rate_limit_factor 0.1 and rate_window_scale 0.001: 500 per 3.6 s
        // and 25 per 60 ms.
        let mut l = Limits::new(500, 25, 0.001);
        let now = t0();
        for _ in 0..25 {
            assert!(l.check(now).0);
        }
        let (ok, h) = l.check(now + Duration::milliseconds(59));
        assert!(!ok);
        // The header stays in whole seconds: at least one.
        assert_eq!(h.retry_after, Some(1));
        // The reset follows the scaled hour.
        assert_eq!(h.reset, now.timestamp() + 4);
        let (ok, h) = l.check(now + Duration::milliseconds(60));
        assert!(ok, "the scaled minute has passed");
        assert_eq!(h.remaining, 500 - 26);

        // The scaled hour: fill it 25 at a time, one scaled minute apart.
        let mut l = Limits::new(50, 25, 0.001);
        for i in 0..50 {
            assert!(l.check(now + Duration::milliseconds(60 * (i / 25))).0);
        }
        let (ok, h) = l.check(now + Duration::milliseconds(200));
        assert!(!ok);
        assert_eq!((h.remaining, h.retry_after), (0, None));
        assert!(!l.check(now + Duration::milliseconds(3599)).0);
        assert!(l.check(now + Duration::milliseconds(3600)).0);
    }

    #[test]
    fn window_scale_cases() {
        let cases = [
            (1.0, true),
            (0.001, true),
            (1000.0, true),
            (0.0, false),
            (-1.0, false),
            (1000.5, false),
            (f64::NAN, false),
            (f64::INFINITY, false),
        ];
        for (scale, ok) in cases {
            let got = window_scale(scale);
            assert_eq!(got.is_ok(), ok, "{scale}");
            if let Err(e) = got {
                assert!(e.contains("settings.rate_window_scale"), "{e}");
            }
        }
        // Tiny scales still leave a window of a millisecond.
        let mut l = Limits::new(1, 1, 1e-12);
        assert!(l.check(t0()).0);
        assert!(!l.check(t0()).0);
        assert!(l.check(t0() + Duration::milliseconds(1)).0);
    }
}
