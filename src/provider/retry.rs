//! Retry rules shared by every provider client: which answers are worth
//! another attempt and how long to wait before it (exponential backoff with
//! jitter, or the server's own `Retry-After` / `RateLimit-Reset`). Pacing
//! (buckets, announced budgets, priorities) lives in `pacing`.
//!
//! Owns only pure decisions. Must never: send a request, read the wall clock
//! (epoch "now" is a parameter), or allow a create to be repeated when the
//! first attempt may have reached the server.

use std::time::Duration;

use reqwest::header::HeaderMap;

use super::pacing::Priority;

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
    /// GET that follows a pending snapshot: safe to repeat, and it yields
    /// to creates and deletes waiting for the same pacer.
    Poll,
    /// DELETE, PUT, tagging: repeating does no harm.
    Idempotent,
    /// A POST that creates something (a snapshot): a repeat could create a
    /// second one, so it is retried only when the answer proves nothing was done.
    Create,
}

impl Call {
    /// Who goes first at the pacer: a poll waits while a create, delete or
    /// tagging call is queued.
    pub fn priority(self) -> Priority {
        match self {
            Self::Create | Self::Idempotent => Priority::Write,
            Self::Read => Priority::Read,
            Self::Poll => Priority::Poll,
        }
    }

    /// A GET, whose 2xx answer must be JSON.
    pub fn is_read(self) -> bool {
        matches!(self, Self::Read | Self::Poll)
    }
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
            (Poll, Status(429), true),
            (Poll, Status(500), true),
            (Poll, Status(404), false),
            (Poll, Timeout, true),
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
}
