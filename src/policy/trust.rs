//! Which snapshot times can be trusted.
//!
//! Owns the rules that keep a lying clock from deleting snapshots: a snapshot
//! whose marker time or provider time lies in the future, or whose two times
//! disagree, is *suspect*: it is kept, reported, and never used as the
//! retention anchor or as the schedule's newest snapshot.
//!
//! Must never: read the clock (`now` is a parameter), or call a provider.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};

/// How far in the future a snapshot time may be before it is suspect (a
/// provider's clock and ours may differ by a little).
pub const FUTURE_TOLERANCE: TimeDelta = TimeDelta::minutes(5);

/// How far a marker time and the provider's creation time may disagree. The
/// marker is written just before the create call, and the provider dates the
/// snapshot at that call (DigitalOcean: the action's start), so a real
/// snapshot's two times are seconds apart.
pub const AGREE_TOLERANCE: TimeDelta = TimeDelta::minutes(10);

/// How far the host clock and the provider's `Date` header may disagree
/// before an account deletes nothing.
pub const SKEW_TOLERANCE: TimeDelta = TimeDelta::minutes(5);

/// Why a snapshot's time cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suspect {
    /// The marker's time lies in the future.
    MarkerInFuture {
        /// The marker's time.
        marker: DateTime<Utc>,
        /// The time of the check.
        now: DateTime<Utc>,
    },
    /// The provider's creation time lies in the future.
    ProviderInFuture {
        /// The provider's creation time.
        provider: DateTime<Utc>,
        /// The time of the check.
        now: DateTime<Utc>,
    },
    /// Marker time and provider creation time disagree.
    Disagree {
        /// The marker's time.
        marker: DateTime<Utc>,
        /// The provider's creation time.
        provider: DateTime<Utc>,
    },
}

impl fmt::Display for Suspect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = |t: &DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        match self {
            Self::MarkerInFuture { marker, now } => write!(
                f,
                "suspect: marker time {} is in the future (now {})",
                t(marker),
                t(now)
            ),
            Self::ProviderInFuture { provider, now } => write!(
                f,
                "suspect: provider creation time {} is in the future (now {})",
                t(provider),
                t(now)
            ),
            Self::Disagree { marker, provider } => write!(
                f,
                "suspect: marker time {} and provider creation time {} disagree",
                t(marker),
                t(provider)
            ),
        }
    }
}

/// Check one snapshot's times at `now`. `None` means they can be trusted.
pub fn suspect(
    marker: Option<DateTime<Utc>>,
    provider: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<Suspect> {
    let future = |t: DateTime<Utc>| t.signed_duration_since(now) > FUTURE_TOLERANCE;
    if let Some(marker) = marker.filter(|&m| future(m)) {
        return Some(Suspect::MarkerInFuture { marker, now });
    }
    if let Some(provider) = provider.filter(|&p| future(p)) {
        return Some(Suspect::ProviderInFuture { provider, now });
    }
    match (marker, provider) {
        (Some(marker), Some(provider))
            if (marker.signed_duration_since(provider)).abs() > AGREE_TOLERANCE =>
        {
            Some(Suspect::Disagree { marker, provider })
        }
        _ => None,
    }
}

/// Whether a measured host-versus-provider clock difference is too large to
/// delete anything.
pub fn skew_too_large(skew: TimeDelta) -> bool {
    skew.abs() > SKEW_TOLERANCE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn suspect_cases() {
        let now = t("2026-12-01T12:00:00Z");
        // (marker, provider, suspect kind or None)
        let cases: [(Option<&str>, Option<&str>, Option<&str>); 10] = [
            (
                Some("2026-12-01T06:00:00Z"),
                Some("2026-12-01T06:00:03Z"),
                None,
            ),
            (None, Some("2026-11-30T06:00:00Z"), None),
            (Some("2026-12-01T06:00:00Z"), None, None),
            (None, None, None),
            // A little ahead is fine (clocks differ by seconds).
            (
                Some("2026-12-01T12:04:00Z"),
                Some("2026-12-01T12:04:00Z"),
                None,
            ),
            // The case: marker a year ahead, provider time real.
            (
                Some("2027-12-01T00:00:00Z"),
                Some("2026-11-30T00:00:00Z"),
                Some("marker"),
            ),
            (
                Some("2026-12-01T06:00:00Z"),
                Some("2026-12-02T06:00:00Z"),
                Some("provider"),
            ),
            (None, Some("2026-12-01T12:06:00Z"), Some("provider")),
            // Written while the host clock was behind: both in the past, apart.
            (
                Some("2025-12-01T06:00:00Z"),
                Some("2026-12-01T06:00:00Z"),
                Some("disagree"),
            ),
            (
                Some("2026-12-01T06:00:00Z"),
                Some("2026-12-01T06:11:00Z"),
                Some("disagree"),
            ),
        ];
        for (marker, provider, want) in cases {
            let got = suspect(marker.map(t), provider.map(t), now);
            let kind = got.as_ref().map(|s| match s {
                Suspect::MarkerInFuture { .. } => "marker",
                Suspect::ProviderInFuture { .. } => "provider",
                Suspect::Disagree { .. } => "disagree",
            });
            assert_eq!(kind, want, "{marker:?} {provider:?}: {got:?}");
            if let Some(s) = got {
                assert!(s.to_string().starts_with("suspect: "), "{s}");
            }
        }
    }

    #[test]
    fn skew_cases() {
        for (secs, want) in [
            (0, false),
            (299, false),
            (-299, false),
            (301, true),
            (-3600, true),
        ] {
            assert_eq!(skew_too_large(TimeDelta::seconds(secs)), want, "{secs}");
        }
    }
}
