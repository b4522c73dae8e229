//! Freshness: how old a policy's newest complete snapshot may get before
//! someone should hear about it.
//!
//! Owns the expected freshness of a policy ([`thresholds`]: warn at 2
//! intervals, crit at 3 by default; a cron line's interval is the longest gap
//! between its slots; `alert: { warn, crit }` overrides either), and the
//! verdict for one resource ([`evaluate`]: OK, WARN or CRIT with a reason).
//! `snapkeeper status`, the metrics and the notifications all use it, so they
//! always agree.
//!
//! Must never: do I/O, read the clock (`now` is a parameter), or call a
//! provider.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::trust::FUTURE_TOLERANCE;
use super::{Schedule, next_slot, short_duration};

/// Default warn threshold, in schedule intervals.
pub const WARN_INTERVALS: u32 = 2;
/// Default crit threshold, in schedule intervals.
pub const CRIT_INTERVALS: u32 = 3;
/// How many cron slots are looked at to find the longest gap (a year of a
/// daily line, a few hours of an every-minute line).
const GAP_SLOTS: usize = 512;

/// `alert:` of a policy as checked: either threshold may be given alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AlertOverride {
    /// WARN when the newest complete snapshot is older than this.
    pub warn: Option<Duration>,
    /// CRIT when the newest complete snapshot is older than this.
    pub crit: Option<Duration>,
}

/// A policy's expected freshness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds {
    /// Older than this is WARN.
    pub warn: Duration,
    /// Older than this is CRIT.
    pub crit: Duration,
    /// Where the numbers come from, in words (`2 and 3 times every 6h`).
    pub basis: String,
}

/// The verdict for one resource under one policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Fresh enough.
    Ok,
    /// Older than the warn threshold.
    Warn,
    /// Older than the crit threshold, or no complete snapshot at all.
    Crit,
}

impl Level {
    /// `OK`, `WARN`, `CRIT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Warn => "WARN",
            Self::Crit => "CRIT",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// [`evaluate`]'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freshness {
    /// OK, WARN or CRIT.
    pub level: Level,
    /// Age of the newest complete snapshot (`None` when there is none).
    pub age: Option<Duration>,
    /// Why, in words.
    pub reason: String,
}

/// The interval a schedule promises: `every`, or for a cron line the longest
/// gap between consecutive slots among the [`GAP_SLOTS`] slots after
/// `now - 366 days` (so a weekday-only line is judged by its weekend gap and
/// a DST change by its 25-hour day). `None` when a cron line fires fewer than
/// twice in that window.
pub fn interval(schedule: &Schedule, tz: Tz, now: DateTime<Utc>) -> Option<Duration> {
    match schedule {
        Schedule::Every(d) => Some(*d),
        Schedule::Cron(cron) => {
            let mut at = now - TimeDelta::days(366);
            let mut prev: Option<DateTime<Utc>> = None;
            let mut longest: Option<TimeDelta> = None;
            for _ in 0..GAP_SLOTS {
                let Some(slot) = next_slot(cron, tz, at) else {
                    break;
                };
                if let Some(p) = prev {
                    let gap = slot - p;
                    longest = Some(longest.map_or(gap, |l| l.max(gap)));
                }
                prev = Some(slot);
                at = slot;
            }
            longest.and_then(|g| g.to_std().ok())
        }
    }
}

/// A policy's thresholds at `now`: the override where given, else 2 and 3
/// schedule intervals. A lone `warn` gets a crit of at least one interval
/// more; a lone `crit` a warn of at most two thirds of it. A cron line that
/// (almost) never fires falls back to 2 and 3 days.
pub fn thresholds(
    schedule: &Schedule,
    tz: Tz,
    alert: &AlertOverride,
    now: DateTime<Utc>,
) -> Thresholds {
    let (step, what) = match (schedule, interval(schedule, tz, now)) {
        (Schedule::Every(d), _) => (*d, format!("every {}", short_duration(*d))),
        (Schedule::Cron(c), Some(gap)) => (
            gap,
            format!(
                "the longest gap of cron {:?}, {}",
                c.expr,
                short_duration(gap)
            ),
        ),
        (Schedule::Cron(c), None) => (
            Duration::from_secs(86_400),
            format!("1d (cron {:?} fires too rarely to measure)", c.expr),
        ),
    };
    let default_warn = step.saturating_mul(WARN_INTERVALS);
    let default_crit = step.saturating_mul(CRIT_INTERVALS);
    match (alert.warn, alert.crit) {
        (None, None) => Thresholds {
            warn: default_warn,
            crit: default_crit,
            basis: format!("{WARN_INTERVALS} and {CRIT_INTERVALS} times {what}"),
        },
        (Some(warn), Some(crit)) => Thresholds {
            warn,
            crit,
            basis: "alert in the config".to_string(),
        },
        (Some(warn), None) => Thresholds {
            warn,
            crit: default_crit.max(warn.saturating_add(step)),
            basis: format!("alert.warn in the config; crit from {what}"),
        },
        (None, Some(crit)) => Thresholds {
            warn: default_warn.min(crit.mul_f64(2.0 / 3.0)),
            crit,
            basis: format!("alert.crit in the config; warn from {what}"),
        },
    }
}

/// The verdict for a resource whose newest trusted complete snapshot was
/// created at `newest` (`None`: there is none). Ages exactly at a threshold
/// are still the lower level. A snapshot dated in the future beyond the
/// trust tolerance is WARN: its age cannot be known.
pub fn evaluate(th: &Thresholds, newest: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Freshness {
    let Some(newest) = newest else {
        return Freshness {
            level: Level::Crit,
            age: None,
            reason: "no complete snapshot".to_string(),
        };
    };
    let delta = now - newest;
    if -delta > FUTURE_TOLERANCE {
        return Freshness {
            level: Level::Warn,
            age: None,
            reason: format!(
                "newest complete snapshot is dated {} in the future: its age is unknown",
                short_duration((-delta).to_std().unwrap_or_default())
            ),
        };
    }
    let age = delta.to_std().unwrap_or_default();
    let (level, reason) = if age > th.crit {
        (
            Level::Crit,
            format!(
                "newest complete snapshot is {} old, older than {} (crit; {})",
                short_duration(age),
                short_duration(th.crit),
                th.basis
            ),
        )
    } else if age > th.warn {
        (
            Level::Warn,
            format!(
                "newest complete snapshot is {} old, older than {} (warn; {})",
                short_duration(age),
                short_duration(th.warn),
                th.basis
            ),
        )
    } else {
        (
            Level::Ok,
            format!(
                "newest complete snapshot is {} old (warn after {})",
                short_duration(age),
                short_duration(th.warn)
            ),
        )
    };
    Freshness {
        level,
        age: Some(age),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{CronSchedule, CronStart};
    use chrono::TimeZone;

    fn h(n: u64) -> Duration {
        Duration::from_secs(n * 3600)
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn cron(expr: &str) -> Schedule {
        match CronSchedule::parse(expr, CronStart::NextSlot) {
            Ok(c) => Schedule::Cron(Box::new(c)),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn intervals() {
        let cases: &[(&str, Schedule, Tz, Option<Duration>)] = &[
            ("every 6h", Schedule::Every(h(6)), Tz::UTC, Some(h(6))),
            ("daily cron", cron("30 3 * * *"), Tz::UTC, Some(h(24))),
            ("twice a day", cron("0 3,15 * * *"), Tz::UTC, Some(h(12))),
            ("uneven slots", cron("0 1,7 * * *"), Tz::UTC, Some(h(18))),
            ("weekdays only", cron("0 3 * * 1-5"), Tz::UTC, Some(h(72))),
            // The autumn DST change makes one day 25 hours long.
            (
                "daily in Berlin",
                cron("30 3 * * *"),
                chrono_tz::Europe::Berlin,
                Some(h(25)),
            ),
            ("monthly", cron("0 0 1 * *"), Tz::UTC, Some(h(31 * 24))),
            ("never again", cron("0 0 30 2 *"), Tz::UTC, None),
        ];
        for (name, schedule, tz, want) in cases {
            assert_eq!(interval(schedule, *tz, now()), *want, "{name}");
        }
    }

    #[test]
    fn threshold_cases() {
        let every6 = Schedule::Every(h(6));
        let cases: &[(&str, &Schedule, AlertOverride, Duration, Duration)] = &[
            ("defaults", &every6, AlertOverride::default(), h(12), h(18)),
            (
                "both overridden",
                &every6,
                AlertOverride {
                    warn: Some(h(14)),
                    crit: Some(h(26)),
                },
                h(14),
                h(26),
            ),
            (
                "warn alone, crit stays at 3 intervals",
                &every6,
                AlertOverride {
                    warn: Some(h(8)),
                    crit: None,
                },
                h(8),
                h(18),
            ),
            (
                "warn alone above the default crit",
                &every6,
                AlertOverride {
                    warn: Some(h(20)),
                    crit: None,
                },
                h(20),
                h(26),
            ),
            (
                "crit alone below the default warn",
                &every6,
                AlertOverride {
                    warn: None,
                    crit: h(9).into(),
                },
                h(6),
                h(9),
            ),
        ];
        for (name, schedule, alert, warn, crit) in cases {
            let t = thresholds(schedule, Tz::UTC, alert, now());
            assert_eq!((t.warn, t.crit), (*warn, *crit), "{name}");
        }
        let t = thresholds(
            &cron("30 3 * * *"),
            Tz::UTC,
            &AlertOverride::default(),
            now(),
        );
        assert_eq!((t.warn, t.crit), (h(48), h(72)));
        assert!(t.basis.contains("30 3 * * *"), "{}", t.basis);
    }

    #[test]
    fn evaluate_cases() {
        let th = Thresholds {
            warn: h(12),
            crit: h(18),
            basis: "2 and 3 times every 6h".into(),
        };
        let ago = |m: i64| Some(now() - TimeDelta::minutes(m));
        let cases: &[(&str, Option<DateTime<Utc>>, Level, &str)] = &[
            ("none at all", None, Level::Crit, "no complete snapshot"),
            ("just taken", ago(0), Level::Ok, "0s old"),
            (
                "one interval",
                ago(6 * 60),
                Level::Ok,
                "6h old (warn after 12h)",
            ),
            ("exactly at warn", ago(12 * 60), Level::Ok, "12h old"),
            (
                "past warn",
                ago(12 * 60 + 1),
                Level::Warn,
                "older than 12h (warn",
            ),
            ("exactly at crit", ago(18 * 60), Level::Warn, "18h old"),
            (
                "past crit",
                ago(18 * 60 + 1),
                Level::Crit,
                "older than 18h (crit",
            ),
            ("days old", ago(3 * 24 * 60), Level::Crit, "3d old"),
            ("a little ahead (clock drift)", ago(-2), Level::Ok, "0s old"),
            (
                "far in the future",
                ago(-120),
                Level::Warn,
                "2h in the future",
            ),
        ];
        for (name, newest, level, text) in cases {
            let f = evaluate(&th, *newest, now());
            assert_eq!(f.level, *level, "{name}: {}", f.reason);
            assert!(f.reason.contains(text), "{name}: {}", f.reason);
        }
    }

    #[test]
    fn levels_order_by_severity() {
        assert!(Level::Ok < Level::Warn && Level::Warn < Level::Crit);
        assert_eq!(
            [Level::Warn, Level::Ok, Level::Crit].iter().max(),
            Some(&Level::Crit)
        );
    }
}
