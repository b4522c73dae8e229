//! Retention: which snapshots of one (account, policy, resource) group to keep.
//!
//! Owns the keep rules' meaning, the floors and the deletion cap, and the
//! reasons given for every decision. Must never: read the clock (there is no
//! `now` here at all: every window is anchored at the newest complete
//! snapshot), count an in-progress or failed snapshot as kept, delete one,
//! select a snapshot without this group's marker, or go below the floors.
//!
//! The rules are a union, in the style of restic and rustic: the complete
//! snapshots of the group are walked newest first, and a snapshot is kept when
//! any rule keeps it.
//! - `within: D` keeps every snapshot created at most `D` before the newest
//!   complete one;
//! - `last: N` keeps the newest N;
//! - `hourly/daily/weekly/monthly/yearly: N` keep, for each of the newest N
//!   calendar buckets (in the policy's time zone; ISO weeks) that hold a
//!   snapshot, the newest snapshot in that bucket.
//!
//! Then the floors (the newest complete snapshot; `min_keep`), then the cap:
//! at most `max_deletes` deletions, oldest first.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use chrono_tz::Tz;

use super::{GroupKey, KeepRules, Marker, PolicyError, Suspect, short_duration};

/// Lifecycle state of a snapshot as the provider reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SnapState {
    /// Finished and usable.
    Complete,
    /// Still being taken.
    InProgress,
    /// The provider says it failed.
    Failed,
}

/// What retention needs to know about one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// Provider id.
    pub id: String,
    /// Creation time: the provider's, where it gives one (a marker's time
    /// was written by a host clock that may have lied).
    pub created: DateTime<Utc>,
    /// Lifecycle state.
    pub state: SnapState,
    /// The parsed marker; `None` means not ours.
    pub marker: Option<Marker>,
    /// Its times cannot be trusted ([`super::trust::suspect`]): kept, never
    /// counted, never the anchor of the age windows.
    pub suspect: Option<Suspect>,
}

/// Keep or delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Leave it.
    Keep,
    /// Delete it now.
    Delete,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Keep => "keep",
            Action::Delete => "delete",
        })
    }
}

/// A calendar bucket size for the `hourly` … `yearly` rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Period {
    /// One wall-clock hour (with its UTC offset, so a repeated DST hour is two buckets).
    Hourly,
    /// One calendar day.
    Daily,
    /// One ISO 8601 week (Monday to Sunday; the year is the ISO week-year).
    Weekly,
    /// One calendar month.
    Monthly,
    /// One calendar year.
    Yearly,
}

impl Period {
    /// All periods, shortest first.
    pub const ALL: [Period; 5] = [
        Period::Hourly,
        Period::Daily,
        Period::Weekly,
        Period::Monthly,
        Period::Yearly,
    ];

    /// The rule's name in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Hourly => "hourly",
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
            Period::Yearly => "yearly",
        }
    }

    /// How many buckets of this period `rules` keep.
    pub fn count(self, rules: &KeepRules) -> u32 {
        match self {
            Period::Hourly => rules.hourly,
            Period::Daily => rules.daily,
            Period::Weekly => rules.weekly,
            Period::Monthly => rules.monthly,
            Period::Yearly => rules.yearly,
        }
    }

    /// The bucket `t` falls in, as seen in `tz`: `2026-11-20T14+01:00`,
    /// `2026-11-20`, `2026-W47`, `2026-11`, `2026`. Equal labels mean the same
    /// bucket.
    pub fn bucket(self, t: DateTime<Utc>, tz: Tz) -> String {
        let local = t.with_timezone(&tz);
        match self {
            Period::Hourly => format!("{}", local.format("%Y-%m-%dT%H%:z")),
            Period::Daily => format!("{}", local.format("%Y-%m-%d")),
            Period::Weekly => {
                let week = local.iso_week();
                format!("{:04}-W{:02}", week.year(), week.week())
            }
            Period::Monthly => format!("{:04}-{:02}", local.year(), local.month()),
            Period::Yearly => format!("{:04}", local.year()),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a decision was made. `Display` gives the words `plan` and the logs print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Created within the `within` window before the newest complete snapshot.
    Within(Duration),
    /// Among the newest `n` complete snapshots, at `rank` (1 = newest).
    Last {
        /// The rule's N.
        n: u32,
        /// Position, newest first, starting at 1.
        rank: u32,
    },
    /// The newest snapshot of a kept calendar bucket.
    Bucket {
        /// Bucket size.
        period: Period,
        /// The bucket, as [`Period::bucket`] writes it.
        label: String,
    },
    /// Kept to stay at `min_keep` complete snapshots.
    MinKeep(u32),
    /// The newest complete snapshot is never deleted.
    NewestComplete,
    /// Still being taken: never counted, never deleted.
    InProgress,
    /// Failed at the provider: never counted, never deleted by retention.
    Failed,
    /// Its times cannot be trusted: kept, never counted, never the anchor.
    Suspect(Suspect),
    /// No marker of this (account, policy, resource): never selected.
    NotManaged,
    /// Would be deleted, but this run already reached the deletion cap.
    DeletionCap(u32),
    /// No rule keeps it; says which rules it fell outside of.
    Expired {
        /// The `within` window, when the rule is used.
        within: Option<Duration>,
        /// The `last` count, 0 when unused.
        last: u32,
        /// Whether any calendar bucket rule is used.
        buckets: bool,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Within(d) => write!(f, "within {} of newest", short_duration(*d)),
            Reason::Last { n, rank } => write!(f, "last {n} (#{rank})"),
            Reason::Bucket { period, label } => write!(f, "{period} bucket {label}"),
            Reason::MinKeep(n) => write!(f, "min_keep floor ({n})"),
            Reason::NewestComplete => f.write_str("newest complete"),
            Reason::InProgress => f.write_str("in progress"),
            Reason::Failed => f.write_str("failed"),
            Reason::Suspect(s) => write!(f, "{s}"),
            Reason::NotManaged => f.write_str("not managed by this policy"),
            Reason::DeletionCap(max) => write!(f, "deletion cap reached ({max} per run)"),
            Reason::Expired {
                within,
                last,
                buckets,
            } => {
                let mut parts = Vec::new();
                if let Some(d) = within {
                    parts.push(format!("older than {}", short_duration(*d)));
                }
                if *last > 0 {
                    parts.push(format!("not among the last {last}"));
                }
                if *buckets {
                    parts.push("in no bucket".to_string());
                }
                match parts.split_last() {
                    None => f.write_str("kept by no rule"),
                    Some((only, [])) => f.write_str(only),
                    Some((tail, head)) => write!(f, "{} and {tail}", head.join(", ")),
                }
            }
        }
    }
}

/// One decision per snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Provider id of the snapshot.
    pub id: String,
    /// Keep or delete.
    pub action: Action,
    /// Every reason that applies.
    pub reasons: Vec<Reason>,
}

impl fmt::Display for Decision {
    /// `ID: keep (within 7d of newest; last 3 (#2))`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (", self.id, self.action)?;
        for (i, reason) in self.reasons.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{reason}")?;
        }
        f.write_str(")")
    }
}

/// Decide keep/delete for every snapshot of one group.
///
/// `group` is the (account, policy, resource) whose marker a snapshot must
/// carry to be considered at all; everything else in `snapshots` is kept with
/// [`Reason::NotManaged`]. Decisions come back in the order of `snapshots` and
/// do not depend on that order. `tz` is the policy's time zone for calendar
/// buckets; `max_deletes` caps the deletions of this run.
///
/// # Errors
/// [`PolicyError::EmptyKeep`] for rules that keep nothing.
pub fn decide(
    group: &GroupKey,
    rules: &KeepRules,
    max_deletes: u32,
    tz: Tz,
    snapshots: &[SnapshotInfo],
) -> Result<Vec<Decision>, PolicyError> {
    if rules.is_empty() {
        return Err(PolicyError::EmptyKeep);
    }
    let mut reasons: Vec<Vec<Reason>> = vec![Vec::new(); snapshots.len()];

    // Indices of this group's complete snapshots, newest first; ties broken by
    // id so that the input order never matters.
    let mut complete: Vec<usize> = Vec::new();
    for (i, s) in snapshots.iter().enumerate() {
        let ours = s.marker.as_ref().is_some_and(|m| group.owns(m));
        match (ours, s.state) {
            (false, _) => reasons[i].push(Reason::NotManaged),
            (true, _) if s.suspect.is_some() => {
                if let Some(why) = &s.suspect {
                    reasons[i].push(Reason::Suspect(why.clone()));
                }
            }
            (true, SnapState::InProgress) => reasons[i].push(Reason::InProgress),
            (true, SnapState::Failed) => reasons[i].push(Reason::Failed),
            (true, SnapState::Complete) => complete.push(i),
        }
    }
    complete.sort_by(|&a, &b| {
        let (a, b) = (&snapshots[a], &snapshots[b]);
        b.created.cmp(&a.created).then_with(|| b.id.cmp(&a.id))
    });

    if let Some(&newest) = complete.first() {
        let anchor = snapshots[newest].created;
        reasons[newest].push(Reason::NewestComplete);

        if let Some(within) = rules.within.filter(|d| !d.is_zero()) {
            let window = TimeDelta::from_std(within).unwrap_or(TimeDelta::MAX);
            let oldest = anchor.checked_sub_signed(window);
            for &i in &complete {
                if oldest.is_none_or(|oldest| snapshots[i].created >= oldest) {
                    reasons[i].push(Reason::Within(within));
                }
            }
        }

        for (rank, &i) in complete.iter().take(rules.last as usize).enumerate() {
            reasons[i].push(Reason::Last {
                n: rules.last,
                rank: u32::try_from(rank + 1).unwrap_or(u32::MAX),
            });
        }

        for period in Period::ALL {
            let n = period.count(rules) as usize;
            if n == 0 {
                continue;
            }
            // Newest first, so the first snapshot met in a bucket is its newest.
            let mut seen = HashSet::new();
            for &i in &complete {
                if seen.len() >= n {
                    break;
                }
                let label = period.bucket(snapshots[i].created, tz);
                if seen.insert(label.clone()) {
                    reasons[i].push(Reason::Bucket { period, label });
                }
            }
        }

        // Floor: at least min_keep complete snapshots, the newest ones first.
        let mut kept = complete.iter().filter(|&&i| !reasons[i].is_empty()).count();
        for &i in &complete {
            if kept >= rules.min_keep as usize {
                break;
            }
            if reasons[i].is_empty() {
                reasons[i].push(Reason::MinKeep(rules.min_keep));
                kept += 1;
            }
        }
    }

    // Everything complete and unkept expires; the cap lets the oldest go first.
    let expired = Reason::Expired {
        within: rules.within.filter(|d| !d.is_zero()),
        last: rules.last,
        buckets: Period::ALL.iter().any(|p| p.count(rules) > 0),
    };
    let mut delete = vec![false; snapshots.len()];
    let mut deletes = 0usize;
    for &i in complete.iter().rev() {
        if reasons[i].is_empty() {
            reasons[i].push(expired.clone());
            if deletes < max_deletes as usize {
                delete[i] = true;
                deletes += 1;
            } else {
                reasons[i].insert(0, Reason::DeletionCap(max_deletes));
            }
        }
    }

    Ok(snapshots
        .iter()
        .zip(reasons)
        .zip(delete)
        .map(|((s, reasons), delete)| Decision {
            id: s.id.clone(),
            action: if delete { Action::Delete } else { Action::Keep },
            reasons,
        })
        .collect())
}

#[cfg(test)]
mod tests;
