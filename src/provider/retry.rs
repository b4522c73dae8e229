//! Retry and pacing rules shared by every provider client: which answers are
//! worth another attempt, how long to wait before it (exponential backoff
//! with jitter, or the server's own `Retry-After` / `RateLimit-Reset`), and
//! the client-side token buckets that keep an account under its provider's
//! published rate limit.
//!
//! Owns only pure decisions and the pacer's bookkeeping. Must never: send a
//! request, read the wall clock (epoch "now" is a parameter), or allow a
//! create to be repeated when the first attempt may have reached the server.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::time::Instant;

/// How often and how long to retry a failed request.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included (at least 1).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles for each further attempt.
    pub base_delay: Duration,
    /// No single wait is longer than this (server hints included).
    pub max_delay: Duration,
    /// The waits of one request add up to at most this; a server hint that
    /// would exceed it ends the retries instead.
    pub max_total_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            max_total_delay: Duration::from_secs(180),
        }
    }
}

impl RetryPolicy {
    /// Backoff before attempt `attempt + 1` after `attempt` failures (1-based),
    /// without jitter: `base * 2^(attempt-1)`, capped at `max_delay`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The backoff with "equal jitter": uniformly between half and all of it,
    /// so that many clients do not retry in lock-step. `unit` is in [0, 1).
    pub fn jittered(&self, attempt: u32, unit: f64) -> Duration {
        let full = self.backoff(attempt);
        let half = full / 2;
        half + full.saturating_sub(half).mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// What kind of call is being made: decides what may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// GET: safe to repeat.
    Read,
    /// DELETE, PUT, tagging: repeating does no harm.
    Idempotent,
    /// A POST that creates something (a snapshot): a repeat could create a
    /// second one, so it is retried only when the answer proves nothing was done.
    Create,
}

/// How an attempt ended, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The server answered with this non-2xx status.
    Status(u16),
    /// The request timed out (it may have reached the server).
    Timeout,
    /// The connection could not be made (the request never left).
    Connect,
    /// The connection broke mid-way, or a 2xx body was cut short or garbled.
    Broken,
}

/// Is another attempt allowed after `outcome`?
///
/// Reads and idempotent calls retry on 429, any 5xx, time-outs and
/// connection trouble. Creates retry only on 429 and 503 (the server says it
/// did nothing) and on connection failures before anything was sent; a
/// time-out or a broken connection after sending may have created the
/// snapshot, so the next cycle sees it instead of us creating a twin.
pub fn retryable(call: Call, outcome: Outcome) -> bool {
    match (call, outcome) {
        (_, Outcome::Status(429 | 503)) | (_, Outcome::Connect) => true,
        (Call::Create, _) => false,
        (_, Outcome::Status(s)) => (500..=599).contains(&s),
        (_, Outcome::Timeout | Outcome::Broken) => true,
    }
}

/// The server's own idea of when to try again: `Retry-After` (seconds), or,
/// on a 429 whose `RateLimit-Remaining` is 0 (or absent), `RateLimit-Reset`
/// (Unix epoch seconds) relative to `now_epoch`. A 429 that still shows
/// requests remaining (a burst limit) gets ordinary backoff instead.
pub fn server_hint(status: u16, headers: &HeaderMap, now_epoch: i64) -> Option<Duration> {
    if let Some(secs) = header_num::<f64>(headers, "retry-after") {
        return Some(Duration::from_secs_f64(secs.clamp(0.0, 86_400.0)));
    }
    let exhausted = header_num::<u64>(headers, "ratelimit-remaining").is_none_or(|r| r == 0);
    if status == 429 && exhausted {
        let reset = header_num::<i64>(headers, "ratelimit-reset")?;
        return Some(Duration::from_secs(
            u64::try_from(reset.saturating_sub(now_epoch)).unwrap_or(0),
        ));
    }
    None
}

/// A number from a header (names are case-insensitive in `HeaderMap`).
pub fn header_num<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The rate-limit state a response reports (DigitalOcean and Hetzner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateHeaders {
    /// `RateLimit-Limit`.
    pub limit: u64,
    /// `RateLimit-Remaining`.
    pub remaining: u64,
    /// `RateLimit-Reset`, Unix epoch seconds.
    pub reset: i64,
}

impl RateHeaders {
    /// Read the three headers; `None` unless all are present and numeric.
    pub fn parse(headers: &HeaderMap) -> Option<Self> {
        Some(Self {
            limit: header_num(headers, "ratelimit-limit")?,
            remaining: header_num(headers, "ratelimit-remaining")?,
            reset: header_num(headers, "ratelimit-reset")?,
        })
    }

    /// How long to hold back the next request: nothing while more than a
    /// tenth of the limit (and at least 5) is left; below that, spread the
    /// remaining requests evenly until the reset.
    pub fn spacing(&self, now_epoch: i64) -> Duration {
        let low = (self.limit / 10).max(5);
        if self.remaining > low {
            return Duration::ZERO;
        }
        let until = u64::try_from(self.reset.saturating_sub(now_epoch)).unwrap_or(0);
        Duration::from_secs(until) / u32::try_from(self.remaining + 1).unwrap_or(u32::MAX)
    }
}

/// One token bucket: `capacity` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// Burst size.
    pub capacity: f64,
    /// Steady rate.
    pub per_second: f64,
}

impl Limit {
    /// This limit times `factor` (capacity at least 1).
    pub fn scaled(self, factor: f64) -> Self {
        Self {
            capacity: (self.capacity * factor).max(1.0),
            per_second: self.per_second * factor,
        }
    }
}

#[derive(Debug)]
struct Bucket {
    limit: Limit,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        let secs = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + secs * self.limit.per_second).min(self.limit.capacity);
        self.last = now;
    }

    fn wait_for_one(&self) -> Duration {
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else if self.limit.per_second <= 0.0 {
            Duration::from_secs(3600)
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.limit.per_second)
        }
    }
}

/// Client-side pacing for one account: every request takes one token from
/// each bucket, and the server's rate-limit headers can push the next request
/// back further. Uses tokio's clock, so paused-time tests work.
#[derive(Debug)]
pub struct Pacer {
    state: Mutex<PacerState>,
    max_wait: Duration,
}

#[derive(Debug)]
struct PacerState {
    buckets: Vec<Bucket>,
    not_before: Option<Instant>,
}

impl Pacer {
    /// A pacer with full buckets. `max_wait` caps a header-driven hold-back.
    pub fn new(limits: &[Limit], max_wait: Duration) -> Self {
        let now = Instant::now();
        Self {
            state: Mutex::new(PacerState {
                buckets: limits
                    .iter()
                    .map(|&limit| Bucket {
                        limit,
                        tokens: limit.capacity,
                        last: now,
                    })
                    .collect(),
                not_before: None,
            }),
            max_wait,
        }
    }

    /// Wait until a request may go, and take its tokens.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                let now = Instant::now();
                let held = st
                    .not_before
                    .map(|t| t.saturating_duration_since(now))
                    .unwrap_or_default();
                let mut wait = held;
                for b in &mut st.buckets {
                    b.refill(now);
                    wait = wait.max(b.wait_for_one());
                }
                if wait.is_zero() {
                    for b in &mut st.buckets {
                        b.tokens -= 1.0;
                    }
                    st.not_before = None;
                    return;
                }
                wait
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Hold the next request back by `delay` (capped at `max_wait`).
    pub fn hold(&self, delay: Duration) {
        if delay.is_zero() {
            return;
        }
        let until = Instant::now() + delay.min(self.max_wait);
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.not_before = Some(st.not_before.map_or(until, |t| t.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(700),
            max_total_delay: Duration::from_secs(10),
        };
        let cases = [(1, 100), (2, 200), (3, 400), (4, 700), (5, 700), (60, 700)];
        for (attempt, ms) in cases {
            assert_eq!(
                p.backoff(attempt),
                Duration::from_millis(ms),
                "attempt {attempt}"
            );
        }
        assert_eq!(p.jittered(3, 0.0), Duration::from_millis(200));
        assert_eq!(p.jittered(3, 1.0), Duration::from_millis(400));
        let mid = p.jittered(3, 0.5);
        assert!(mid > Duration::from_millis(200) && mid < Duration::from_millis(400));
    }

    #[test]
    fn retry_table() {
        use Call::*;
        use Outcome::*;
        let cases = [
            (Read, Status(429), true),
            (Read, Status(500), true),
            (Read, Status(503), true),
            (Read, Status(404), false),
            (Read, Status(422), false),
            (Read, Timeout, true),
            (Read, Connect, true),
            (Read, Broken, true),
            (Idempotent, Status(502), true),
            (Idempotent, Status(423), false),
            (Create, Status(429), true),
            (Create, Status(503), true),
            (Create, Status(500), false),
            (Create, Status(502), false),
            (Create, Timeout, false),
            (Create, Broken, false),
            (Create, Connect, true),
            (Create, Status(401), false),
        ];
        for (call, outcome, want) in cases {
            assert_eq!(retryable(call, outcome), want, "{call:?} {outcome:?}");
        }
    }

    #[test]
    fn server_hints() {
        let now = 1_000_000;
        let cases = [
            (429, vec![("retry-after", "7")], Some(7)),
            (503, vec![("retry-after", "2")], Some(2)),
            (429, vec![("ratelimit-reset", "1000030")], Some(30)),
            (429, vec![("RateLimit-Reset", "999990")], Some(0)),
            (
                429,
                vec![("ratelimit-reset", "1000030"), ("ratelimit-remaining", "0")],
                Some(30),
            ),
            (
                429,
                vec![
                    ("ratelimit-reset", "1000030"),
                    ("ratelimit-remaining", "12"),
                ],
                None,
            ),
            (500, vec![("ratelimit-reset", "1000030")], None),
            (429, vec![("retry-after", "soon")], None),
            (429, vec![], None),
        ];
        for (status, pairs, want) in cases {
            let got = server_hint(status, &headers(&pairs), now);
            assert_eq!(got, want.map(Duration::from_secs), "{status} {pairs:?}");
        }
    }

    #[test]
    fn rate_headers_spacing() {
        let h = headers(&[
            ("ratelimit-limit", "5000"),
            ("ratelimit-remaining", "4999"),
            ("ratelimit-reset", "100"),
        ]);
        let rh = RateHeaders::parse(&h).unwrap();
        assert_eq!(rh.spacing(0), Duration::ZERO);
        let cases = [
            (3600, 400, 3599, 0, Duration::ZERO),
            (3600, 359, 3600, 0, Duration::from_secs(10)),
            (3600, 360, 100, 0, Duration::from_millis(277)),
            (3600, 0, 60, 0, Duration::from_secs(60)),
            (3600, 0, 60, 90, Duration::ZERO),
            (10, 5, 12, 0, Duration::from_secs(2)),
            (10, 6, 12, 0, Duration::ZERO),
        ];
        for (limit, remaining, reset, now, want) in cases {
            let rh = RateHeaders {
                limit,
                remaining,
                reset,
            };
            let got = rh.spacing(now);
            let diff = got.abs_diff(want);
            assert!(diff < Duration::from_millis(2), "{rh:?} at {now}: {got:?}");
        }
        assert_eq!(
            RateHeaders::parse(&headers(&[("ratelimit-limit", "1")])),
            None
        );
    }

    #[tokio::test(start_paused = true)]
    async fn pacer_spends_burst_then_refills() {
        let pacer = Pacer::new(
            &[Limit {
                capacity: 3.0,
                per_second: 2.0,
            }],
            Duration::from_secs(60),
        );
        let t0 = Instant::now();
        for _ in 0..3 {
            pacer.acquire().await;
        }
        assert_eq!(Instant::now(), t0, "a full bucket does not wait");
        pacer.acquire().await;
        let waited = Instant::now() - t0;
        assert!(waited >= Duration::from_millis(499) && waited <= Duration::from_millis(510));
        pacer.hold(Duration::from_secs(5));
        let t1 = Instant::now();
        pacer.acquire().await;
        assert!(Instant::now() - t1 >= Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn pacer_uses_the_tightest_bucket() {
        let pacer = Pacer::new(
            &[
                Limit {
                    capacity: 100.0,
                    per_second: 100.0,
                },
                Limit {
                    capacity: 1.0,
                    per_second: 1.0,
                },
            ],
            Duration::from_secs(60),
        );
        let t0 = Instant::now();
        for _ in 0..4 {
            pacer.acquire().await;
        }
        let waited = Instant::now() - t0;
        assert!(waited >= Duration::from_millis(2999), "{waited:?}");
    }

    #[test]
    fn limits_scale() {
        let l = Limit {
            capacity: 40.0,
            per_second: 3.0,
        }
        .scaled(0.01);
        assert_eq!(l.capacity, 1.0);
        assert!((l.per_second - 0.03).abs() < 1e-9);
    }
}
