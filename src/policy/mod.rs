//! The policy core: when a resource is due for a snapshot, which snapshots a
//! retention policy keeps, and the marker that says a snapshot is ours.
//!
//! Owns [`Schedule`], [`KeepRules`], [`marker::Marker`], schedule evaluation
//! ([`schedule`]), retention decisions ([`retention`]) and expected
//! freshness ([`freshness`]).
//!
//! Must never: do I/O, read the clock (`now` is always a parameter), call a
//! provider, or decide anything from an empty or all-zero [`KeepRules`].

pub mod freshness;
pub mod marker;
pub mod retention;
pub mod schedule;
pub mod trust;

use std::time::Duration;

pub use marker::{GroupKey, Marker, MarkerError};
pub use retention::{Action, Decision, Period, Reason, SnapState, SnapshotInfo, decide};
pub use schedule::{DueState, evaluate, newest_managed, next_slot};
pub use trust::Suspect;

/// Errors from the policy core (bad input that validation should have caught).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// The cron line did not parse as a standard 5-field crontab.
    #[error("invalid cron line {expr:?}: {reason}")]
    BadCron {
        /// The line as written.
        expr: String,
        /// What the parser said.
        reason: String,
    },
    /// The retention rules keep nothing.
    #[error(
        "keep names no rule with a non-zero value (within, last, hourly, daily, weekly, monthly, yearly)"
    )]
    EmptyKeep,
}

/// When a cron policy takes its first snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CronStart {
    /// At once, when the policy first runs and has no snapshot yet.
    Now,
    /// At the first cron slot after the policy started (the default).
    #[default]
    NextSlot,
}

/// A parsed 5-field crontab line (Sunday is 0 or 7).
#[derive(Debug, Clone, PartialEq)]
pub struct CronSchedule {
    /// The line as the user wrote it.
    pub expr: String,
    /// The parsed pattern.
    pub cron: croner::Cron,
    /// First-run behaviour.
    pub start: CronStart,
}

impl CronSchedule {
    /// Parse a standard 5-field crontab line. Seconds fields are refused.
    ///
    /// # Errors
    /// [`PolicyError::BadCron`] when the line is not a valid 5-field crontab.
    pub fn parse(expr: &str, start: CronStart) -> Result<Self, PolicyError> {
        let bad = |reason: String| PolicyError::BadCron {
            expr: expr.to_string(),
            reason,
        };
        let fields = expr.split_whitespace().count();
        if fields != 5 {
            return Err(bad(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), found {fields}"
            )));
        }
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .build()
            .parse(expr)
            .map_err(|e| bad(e.to_string().to_lowercase()))?;
        Ok(Self {
            expr: expr.to_string(),
            cron,
            start,
        })
    }
}

/// How often a policy takes snapshots.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// A fixed interval since the newest managed snapshot.
    Every(Duration),
    /// Cron slots in the policy's time zone.
    Cron(Box<CronSchedule>),
}

/// Retention rules, combined as a union: a snapshot is kept if any rule keeps it.
///
/// Zero means "rule not used". Every window and bucket count is anchored at the
/// newest complete snapshot of the group, never at wall-clock now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeepRules {
    /// Keep everything created within this span before the newest complete snapshot.
    pub within: Option<Duration>,
    /// Keep the newest N complete snapshots.
    pub last: u32,
    /// Keep the newest snapshot of each of the last N hours that have one.
    pub hourly: u32,
    /// Keep the newest snapshot of each of the last N days that have one.
    pub daily: u32,
    /// Keep the newest snapshot of each of the last N ISO weeks that have one.
    pub weekly: u32,
    /// Keep the newest snapshot of each of the last N months that have one.
    pub monthly: u32,
    /// Keep the newest snapshot of each of the last N years that have one.
    pub yearly: u32,
    /// Never keep fewer complete snapshots than this (default 1).
    pub min_keep: u32,
}

impl KeepRules {
    /// True when no rule keeps anything (all absent or zero). `min_keep` alone
    /// does not count: a policy must say what it keeps.
    pub fn is_empty(&self) -> bool {
        self.within.is_none_or(|d| d.is_zero())
            && self.last == 0
            && self.hourly == 0
            && self.daily == 0
            && self.weekly == 0
            && self.monthly == 0
            && self.yearly == 0
    }
}

/// A duration in the short form users write in the config (`7d`, `6h`,
/// `1d12h`, `90s` is `1m30s`), for reasons and log lines. Sub-second parts are
/// dropped; zero is `0s`.
pub fn short_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_duration_cases() {
        let cases = [
            (0, "0s"),
            (1, "1s"),
            (90, "1m30s"),
            (3_600, "1h"),
            (6 * 3_600, "6h"),
            (86_400, "1d"),
            (7 * 86_400, "7d"),
            (36 * 3_600, "1d12h"),
            (86_400 + 61, "1d1m1s"),
        ];
        for (secs, want) in cases {
            assert_eq!(short_duration(Duration::from_secs(secs)), want, "{secs}s");
        }
    }

    #[test]
    fn keep_rules_empty_cases() {
        let base = KeepRules {
            min_keep: 3,
            ..KeepRules::default()
        };
        assert!(base.is_empty(), "min_keep alone keeps nothing by rule");
        let zero_within = KeepRules {
            within: Some(Duration::ZERO),
            ..base.clone()
        };
        assert!(zero_within.is_empty());
        let cases: [(&str, KeepRules); 7] = [
            (
                "within",
                KeepRules {
                    within: Some(Duration::from_secs(1)),
                    ..base.clone()
                },
            ),
            (
                "last",
                KeepRules {
                    last: 1,
                    ..base.clone()
                },
            ),
            (
                "hourly",
                KeepRules {
                    hourly: 1,
                    ..base.clone()
                },
            ),
            (
                "daily",
                KeepRules {
                    daily: 1,
                    ..base.clone()
                },
            ),
            (
                "weekly",
                KeepRules {
                    weekly: 1,
                    ..base.clone()
                },
            ),
            (
                "monthly",
                KeepRules {
                    monthly: 1,
                    ..base.clone()
                },
            ),
            (
                "yearly",
                KeepRules {
                    yearly: 1,
                    ..base.clone()
                },
            ),
        ];
        for (name, rules) in cases {
            assert!(!rules.is_empty(), "{name}");
        }
    }

    #[test]
    fn cron_parse_cases() {
        assert!(CronSchedule::parse("30 3 * * *", CronStart::NextSlot).is_ok());
        assert!(CronSchedule::parse("0 0 * * 7", CronStart::NextSlot).is_ok());
        assert!(CronSchedule::parse("0 0 * * 0", CronStart::Now).is_ok());
        let err = CronSchedule::parse("0 30 3 * * *", CronStart::NextSlot)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "invalid cron line \"0 30 3 * * *\": expected 5 fields (minute hour day-of-month month day-of-week), found 6"
            )
        );
        assert!(CronSchedule::parse("61 * * * *", CronStart::NextSlot).is_err());
        assert!(CronSchedule::parse("", CronStart::NextSlot).is_err());
    }
}
