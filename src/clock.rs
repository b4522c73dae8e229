//! The one source of wall-clock time.
//!
//! Owns [`Clock`]: every part of snapkeeper that needs "now" (schedules,
//! retention, markers) gets it from a `Clock` value handed down from `main`,
//! so tests can pin or move time. Must never: be bypassed by a direct
//! `Utc::now()` call elsewhere in the crate.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};

/// A wall clock that tests can pin or move.
///
/// `Clock::system()` reads the real time, shifted by an optional offset;
/// `Clock::fixed(t)` stands still until [`Clock::advance`] or [`Clock::set`].
/// Clones share state, so advancing one clone moves them all.
#[derive(Clone, Debug)]
pub struct Clock {
    inner: Arc<Mutex<Mode>>,
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    System { offset: Duration },
    Fixed(DateTime<Utc>),
}

impl Clock {
    /// The real wall clock.
    pub fn system() -> Self {
        Self::with_mode(Mode::System {
            offset: Duration::zero(),
        })
    }

    /// The real wall clock shifted by `offset` (used by `plan --at` style
    /// what-ifs and by tests that run the binary "in the future").
    pub fn offset(offset: Duration) -> Self {
        Self::with_mode(Mode::System { offset })
    }

    /// A clock that stands still at `at`.
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Self::with_mode(Mode::Fixed(at))
    }

    fn with_mode(mode: Mode) -> Self {
        Self {
            inner: Arc::new(Mutex::new(mode)),
        }
    }

    /// The current time of this clock.
    pub fn now(&self) -> DateTime<Utc> {
        match *self.inner.lock().unwrap_or_else(PoisonError::into_inner) {
            #[allow(clippy::disallowed_methods)]
            Mode::System { offset } => Utc::now() + offset,
            Mode::Fixed(at) => at,
        }
    }

    /// Move the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut mode = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        *mode = match *mode {
            Mode::System { offset } => Mode::System {
                offset: offset + by,
            },
            Mode::Fixed(at) => Mode::Fixed(at + by),
        };
    }

    /// Pin the clock at `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.inner.lock().unwrap_or_else(PoisonError::into_inner) = Mode::Fixed(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single();
        let Some(t0) = t0 else { panic!("valid date") };
        let clock = Clock::fixed(t0);
        let shared = clock.clone();
        assert_eq!(clock.now(), t0);
        shared.advance(Duration::hours(6));
        assert_eq!(clock.now(), t0 + Duration::hours(6));
        clock.set(t0);
        assert_eq!(shared.now(), t0);
    }

    #[test]
    fn offset_clock_is_ahead_of_system() {
        let ahead = Clock::offset(Duration::days(7));
        let diff = ahead.now() - Clock::system().now();
        assert!(diff > Duration::days(6) && diff <= Duration::days(7));
    }
}
