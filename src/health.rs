//! Health of each protected resource: one view of "is this backup all
//! right?" that `snapkeeper status`, the metrics, the notifications and the
//! daemon's `STATUS=` line all share.
//!
//! Owns [`ResourceHealth`] (per account, policy and resource: newest complete
//! snapshot, counts, size, freshness, and whether the last cycle failed and
//! why), built either from a provider listing ([`assess`]) or from a cycle
//! report ([`from_report`]), and [`FailReason`], the bounded set of failure
//! classes used as metric labels.
//!
//! Must never: do I/O, read the clock (`now` is a parameter), or carry a
//! token (it only copies provider error texts, which never hold one).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{Account, Policy, TargetKind};
use crate::engine::{CreateStatus, CycleReport, DeleteStatus, ResourceReport};
use crate::policy::SnapState;
use crate::policy::freshness::{self, Freshness, Level, Thresholds};

/// Why a resource's last cycle failed: a small fixed set (metric labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailReason {
    /// The token was refused (401) or may not do this (403, read-only token).
    Auth,
    /// The resource stayed busy (DigitalOcean 422 pending event, Hetzner 423).
    Busy,
    /// The provider's snapshot quota refused the create.
    Quota,
    /// The snapshot was not confirmed in time (it may still finish).
    Timeout,
    /// 429 after the retries ran out.
    RateLimited,
    /// The provider says the snapshot failed.
    SnapshotFailed,
    /// Any other provider or transport error.
    ProviderError,
}

impl FailReason {
    /// Every reason, for metric families that list them all.
    pub const ALL: [FailReason; 7] = [
        Self::Auth,
        Self::Busy,
        Self::Quota,
        Self::Timeout,
        Self::RateLimited,
        Self::SnapshotFailed,
        Self::ProviderError,
    ];

    /// The label value (`auth`, `rate_limited`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Busy => "busy",
            Self::Quota => "quota",
            Self::Timeout => "timeout",
            Self::RateLimited => "rate_limited",
            Self::SnapshotFailed => "snapshot_failed",
            Self::ProviderError => "provider_error",
        }
    }

    /// Classify a provider error text as the engine reports it. The texts
    /// come from `provider::Error`'s `Display`, which names 401/403 refusals
    /// in words and puts the HTTP status in parentheses.
    pub fn classify(text: &str) -> Self {
        let t = text.to_ascii_lowercase();
        if t.contains("the token for account") || t.contains("(401") || t.contains("(403") {
            Self::Auth
        } else if t.contains("(429") || t.contains("rate limit") {
            Self::RateLimited
        } else if t.contains("(423") || t.contains("busy") || t.contains("pending event") {
            Self::Busy
        } else if t.contains("quota") || t.contains("snapshot limit") {
            Self::Quota
        } else if t.contains("timed out") || t.contains("time-out") || t.contains("timeout") {
            Self::Timeout
        } else {
            Self::ProviderError
        }
    }
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One snapshot as far as health is concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SnapFact {
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Complete, in progress or failed.
    pub state: SnapState,
    /// Size in GB, when known.
    pub size_gb: Option<f64>,
    /// Its times cannot be trusted: never the newest.
    pub suspect: bool,
}

/// A resource under one policy: the numbers and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceHealth {
    /// Account name.
    pub account: String,
    /// Policy name.
    pub policy: String,
    /// Resource kind.
    #[serde(serialize_with = "ser_kind")]
    pub kind: TargetKind,
    /// Resource id.
    pub resource_id: String,
    /// Resource name.
    pub resource_name: String,
    /// Creation time of the newest trusted complete managed snapshot.
    pub newest_complete: Option<DateTime<Utc>>,
    /// Managed snapshots by state.
    pub complete: usize,
    /// In progress.
    pub in_progress: usize,
    /// Failed.
    pub failed: usize,
    /// Sum of the known sizes, in bytes (GB as the providers mean it: 2^30).
    pub size_bytes: f64,
    /// OK/WARN/CRIT by age.
    #[serde(serialize_with = "ser_freshness")]
    pub freshness: Freshness,
    /// The thresholds used.
    #[serde(skip)]
    pub thresholds: Thresholds,
    /// The last cycle failed for this resource, and why (daemon only).
    pub failing: Option<FailReason>,
    /// The failure in the provider's words.
    pub failure: Option<String>,
}

impl ResourceHealth {
    /// `account/resource_name`, as `STATUS=` and messages show it.
    pub fn label(&self) -> String {
        format!("{}/{}", self.account, self.resource_name)
    }

    /// The level to alert on: the age verdict, raised to WARN at least when
    /// the last cycle failed (a fresh snapshot goes stale if nothing changes).
    pub fn level(&self) -> Level {
        match self.failing {
            Some(_) => self.freshness.level.max(Level::Warn),
            None => self.freshness.level,
        }
    }

    /// The reason in one line: the failure first, then the age.
    pub fn reason(&self) -> String {
        match (&self.failing, &self.failure) {
            (Some(r), Some(text)) => format!("failing ({r}): {text}; {}", self.freshness.reason),
            (Some(r), None) => format!("failing ({r}); {}", self.freshness.reason),
            _ => self.freshness.reason.clone(),
        }
    }
}

fn ser_kind<S: serde::Serializer>(k: &TargetKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(k.as_str())
}

fn ser_freshness<S: serde::Serializer>(f: &Freshness, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct F<'a> {
        level: &'static str,
        age_seconds: Option<u64>,
        reason: &'a str,
    }
    F {
        level: f.level.as_str(),
        age_seconds: f.age.map(|a| a.as_secs()),
        reason: &f.reason,
    }
    .serialize(s)
}

/// The health of one resource under `policy` from its managed snapshots.
pub fn assess(
    account: &str,
    policy: &Policy,
    thresholds: &Thresholds,
    resource: (TargetKind, &str, &str),
    snaps: &[SnapFact],
    now: DateTime<Utc>,
) -> ResourceHealth {
    let (kind, id, name) = resource;
    let count = |st: SnapState| snaps.iter().filter(|s| s.state == st).count();
    let newest_complete = snaps
        .iter()
        .filter(|s| s.state == SnapState::Complete && !s.suspect)
        .map(|s| s.created)
        .max();
    let size_bytes = snaps
        .iter()
        .filter_map(|s| s.size_gb)
        .map(|gb| gb * 1_073_741_824.0)
        // `sum()` of no floats is -0.0.
        .fold(0.0, |a, b| a + b);
    ResourceHealth {
        account: account.to_string(),
        policy: policy.name.clone(),
        kind,
        resource_id: id.to_string(),
        resource_name: name.to_string(),
        newest_complete,
        complete: count(SnapState::Complete),
        in_progress: count(SnapState::InProgress),
        failed: count(SnapState::Failed),
        size_bytes,
        freshness: freshness::evaluate(thresholds, newest_complete, now),
        thresholds: thresholds.clone(),
        failing: None,
        failure: None,
    }
}

/// A policy's thresholds (see [`freshness::thresholds`]).
pub fn thresholds_of(policy: &Policy, now: DateTime<Utc>) -> Thresholds {
    freshness::thresholds(&policy.schedule, policy.timezone, &policy.alert, now)
}

/// Why a resource report counts as failing, if it does.
pub fn failure_of(r: &ResourceReport) -> Option<(FailReason, String)> {
    match &r.create {
        CreateStatus::Busy(t) => return Some((FailReason::Busy, t.clone())),
        CreateStatus::Quota(t) => return Some((FailReason::Quota, t.clone())),
        CreateStatus::Failed(t) => return Some((FailReason::SnapshotFailed, t.clone())),
        CreateStatus::Error(t) => return Some((FailReason::classify(t), t.clone())),
        _ => {}
    }
    if let Some(e) = r.errors.first() {
        return Some((FailReason::classify(e), e.clone()));
    }
    r.snapshots.iter().find_map(|s| match &s.delete {
        Some(DeleteStatus::Failed(t)) => Some((FailReason::classify(t), t.clone())),
        _ => None,
    })
}

/// The health of every resource a cycle looked at. Resources whose policy
/// is no longer in `account` are left out.
pub fn from_report(
    account: &Account,
    report: &CycleReport,
    now: DateTime<Utc>,
) -> Vec<ResourceHealth> {
    let mut out = Vec::new();
    for policy in &account.policies {
        let th = thresholds_of(policy, now);
        for r in report.resources.iter().filter(|r| r.policy == policy.name) {
            // A dry run's "(new)" does not exist, and a deleted snapshot is gone.
            let snaps: Vec<SnapFact> = r
                .snapshots
                .iter()
                .filter(|s| s.id != "(new)" && s.delete != Some(DeleteStatus::Deleted))
                .map(|s| SnapFact {
                    created: s.created,
                    state: match s.state {
                        "complete" => SnapState::Complete,
                        "in_progress" => SnapState::InProgress,
                        _ => SnapState::Failed,
                    },
                    size_gb: s.size_gb,
                    suspect: s.suspect,
                })
                .collect();
            let mut h = assess(
                &account.name,
                policy,
                &th,
                (r.kind, &r.resource_id, &r.resource_name),
                &snaps,
                now,
            );
            if let Some((reason, text)) = failure_of(r) {
                h.failing = Some(reason);
                h.failure = Some(text);
            }
            out.push(h);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_table() {
        let cases: &[(&str, FailReason)] = &[
            (
                "the token for account do-main cannot create snapshot of 101 (403 forbidden): a read-only token works for plan/list/inventory only",
                FailReason::Auth,
            ),
            (
                "the token for account x was refused while trying to list droplets (401 unauthorized): check",
                FailReason::Auth,
            ),
            (
                "account x: list droplets failed (429 too_many_requests): slow down",
                FailReason::RateLimited,
            ),
            ("account x: create failed (423 locked)", FailReason::Busy),
            (
                "account x: create failed (503): oops",
                FailReason::ProviderError,
            ),
            ("request timed out", FailReason::Timeout),
        ];
        for (text, want) in cases {
            assert_eq!(FailReason::classify(text), *want, "{text}");
        }
    }

    #[test]
    fn a_failing_resource_is_at_least_warn() {
        let th = Thresholds {
            warn: std::time::Duration::from_secs(3600),
            crit: std::time::Duration::from_secs(7200),
            basis: String::new(),
        };
        let now = DateTime::<Utc>::UNIX_EPOCH + chrono::TimeDelta::days(20_000);
        let mut h = ResourceHealth {
            account: "a".into(),
            policy: "p".into(),
            kind: TargetKind::Droplet,
            resource_id: "1".into(),
            resource_name: "web-1".into(),
            newest_complete: Some(now),
            complete: 1,
            in_progress: 0,
            failed: 0,
            size_bytes: 0.0,
            freshness: freshness::evaluate(&th, Some(now), now),
            thresholds: th.clone(),
            failing: None,
            failure: None,
        };
        assert_eq!(h.level(), Level::Ok);
        h.failing = Some(FailReason::Auth);
        assert_eq!(h.level(), Level::Warn);
        assert!(h.reason().starts_with("failing (auth)"), "{}", h.reason());
        h.freshness = freshness::evaluate(&th, None, now);
        assert_eq!(h.level(), Level::Crit);
    }
}
