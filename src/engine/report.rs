//! What a cycle did (or, in dry-run, would do): per resource, per snapshot,
//! orphans and errors. Logs, `plan` output and exit codes are built from it.
//!
//! Must never: hold a token, or lose a failure (every error is counted).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{Policy, TargetKind};
use crate::exit;
use crate::policy::{Action, Decision, DueState, SnapState, SnapshotInfo};
use crate::provider::{Resource, Snapshot};

/// The outcome of one account's cycle.
#[derive(Debug, Clone, Serialize)]
pub struct CycleReport {
    /// Account name.
    pub account: String,
    /// When the cycle started (its "now").
    pub started: DateTime<Utc>,
    /// When it ended.
    pub finished: Option<DateTime<Utc>>,
    /// True when nothing was written.
    pub dry_run: bool,
    /// One entry per (policy, targeted resource).
    pub resources: Vec<ResourceReport>,
    /// Our snapshots that no current policy/resource claims.
    pub orphans: Vec<OrphanGroup>,
    /// Policies skipped entirely because a listing failed.
    pub skipped_policies: Vec<String>,
    /// Account-level errors (listings).
    pub errors: Vec<String>,
    /// Account-level warnings that are not failures (a clock that disagrees
    /// with the provider's, suspect snapshot times).
    pub warnings: Vec<String>,
}

impl CycleReport {
    /// An empty report.
    pub fn new(account: &str, started: DateTime<Utc>, dry_run: bool) -> Self {
        Self {
            account: account.to_string(),
            started,
            finished: None,
            dry_run,
            resources: Vec::new(),
            orphans: Vec::new(),
            skipped_policies: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// How many units of work failed (listing errors count once each, as
    /// does every failed deletion of an orphan).
    pub fn failures(&self) -> usize {
        self.errors.len()
            + self.resources.iter().filter(|r| r.failed()).count()
            + self.orphans.iter().map(|o| o.failed.len()).sum::<usize>()
    }

    /// Exit code for one-shot commands: 0 all good, 1 some failed, 2 nothing
    /// could be done. A resource that failed only in part (created, or
    /// deleted some, then one delete failed) still did something: 1, not 2.
    pub fn exit_code(&self) -> u8 {
        let failed = self.failures();
        let (created, deleted, _) = self.counts();
        if failed == 0 {
            exit::OK
        } else if created + deleted > 0 || self.resources.iter().any(|r| !r.failed()) {
            exit::PARTIAL
        } else {
            exit::NOTHING_DONE
        }
    }

    /// The earliest next-due time over all resources.
    pub fn next_due(&self) -> Option<(DateTime<Utc>, &ResourceReport)> {
        self.resources
            .iter()
            .filter_map(|r| r.due.as_ref().map(|d| (d.next, r)))
            .min_by_key(|(t, _)| *t)
    }

    /// Snapshots created, deleted, and failures, for one summary log line.
    pub fn counts(&self) -> (usize, usize, usize) {
        let created = self
            .resources
            .iter()
            .filter(|r| matches!(r.create, CreateStatus::Created { .. }))
            .count();
        let deleted = self
            .resources
            .iter()
            .flat_map(|r| &r.snapshots)
            .filter(|s| s.delete == Some(DeleteStatus::Deleted))
            .count()
            + self.orphans.iter().map(|o| o.deleted.len()).sum::<usize>();
        (created, deleted, self.failures())
    }
}

/// One policy on one resource.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceReport {
    /// Policy name.
    pub policy: String,
    /// Resource kind.
    #[serde(serialize_with = "ser_kind")]
    pub kind: TargetKind,
    /// Resource id.
    pub resource_id: String,
    /// Resource name.
    pub resource_name: String,
    /// The schedule's verdict.
    #[serde(serialize_with = "ser_due")]
    pub due: Option<DueState>,
    /// What happened about a new snapshot.
    pub create: CreateStatus,
    /// What happened about retention.
    pub prune: PruneStatus,
    /// Every managed snapshot of the group, with its decision.
    pub snapshots: Vec<SnapshotLine>,
    /// Errors on this resource.
    pub errors: Vec<String>,
}

fn ser_kind<S: serde::Serializer>(k: &TargetKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(k.as_str())
}

fn ser_due<S: serde::Serializer>(due: &Option<DueState>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Due<'a> {
        due: bool,
        next: DateTime<Utc>,
        reason: &'a str,
    }
    due.as_ref()
        .map(|d| Due {
            due: d.due,
            next: d.next,
            reason: &d.reason,
        })
        .serialize(s)
}

impl ResourceReport {
    /// A report with nothing done yet.
    pub fn new(policy: &Policy, resource: &Resource) -> Self {
        Self {
            policy: policy.name.clone(),
            kind: resource.kind,
            resource_id: resource.id.clone(),
            resource_name: resource.name.clone(),
            due: None,
            create: CreateStatus::NotDue,
            prune: PruneStatus::Skipped("not reached".to_string()),
            snapshots: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// True when something went wrong for this resource.
    pub fn failed(&self) -> bool {
        !self.errors.is_empty()
            || matches!(
                self.create,
                CreateStatus::Failed(_)
                    | CreateStatus::Error(_)
                    | CreateStatus::Busy(_)
                    | CreateStatus::Quota(_)
            )
            || self
                .snapshots
                .iter()
                .any(|s| matches!(s.delete, Some(DeleteStatus::Failed(_))))
    }
}

/// What happened about a new snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
pub enum CreateStatus {
    /// Not due (or creation not asked for).
    NotDue,
    /// Due, but one is already being taken.
    InProgress(String),
    /// Dry run: would be created with this marker.
    WouldCreate(String),
    /// Created and confirmed complete.
    Created {
        /// The new snapshot's id.
        snapshot_id: String,
    },
    /// The provider says it failed.
    Failed(String),
    /// Asked for, but not confirmed (deadline or stop): looked at next cycle.
    Unconfirmed(String),
    /// The resource stayed busy: next cycle.
    Busy(String),
    /// The create call failed.
    Error(String),
    /// The provider refused the create: the resource or account is at its
    /// snapshot limit (retention was run to make room when it could).
    Quota(String),
    /// The daemon is stopping.
    Stopped,
}

impl CreateStatus {
    /// Why retention must not run for the resource this cycle, if it must not.
    pub fn blocks_prune(&self) -> Option<String> {
        match self {
            Self::Failed(r) => Some(format!("snapshot failed: {r}")),
            Self::Unconfirmed(r) => Some(format!("snapshot not confirmed: {r}")),
            Self::Busy(_) => Some("resource busy, snapshot not taken".to_string()),
            Self::Error(e) | Self::Quota(e) => Some(format!("snapshot not taken: {e}")),
            Self::Stopped => Some("stopping".to_string()),
            Self::NotDue | Self::InProgress(_) | Self::WouldCreate(_) | Self::Created { .. } => {
                None
            }
        }
    }
}

/// What happened about retention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
pub enum PruneStatus {
    /// Retention ran.
    Done {
        /// Snapshots deleted.
        deleted: usize,
    },
    /// Retention did not run, and why.
    Skipped(String),
}

/// What happened to one snapshot marked for deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
pub enum DeleteStatus {
    /// Deleted (or already gone).
    Deleted,
    /// Dry run: would be deleted.
    WouldDelete,
    /// Provider delete protection: skipped.
    Protected,
    /// Not attempted, and why.
    NotAttempted(String),
    /// Held back: the clocks disagree (no `until`), or a reload made the
    /// deletion newly due and its grace period ends at `until`.
    Held {
        /// When the hold ends, when it is a reload's grace period.
        until: Option<DateTime<Utc>>,
        /// Why, in words.
        why: String,
    },
    /// The delete call failed.
    Failed(String),
}

/// One snapshot of a group with its decision.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotLine {
    /// Provider id (`(new)` for the one a dry run would create).
    pub id: String,
    /// Name or description.
    pub name: String,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// `complete`, `in_progress` or `failed`.
    pub state: &'static str,
    /// `keep` or `delete`.
    pub action: &'static str,
    /// Why, in words.
    pub reasons: Vec<String>,
    /// For deletions: what happened.
    pub delete: Option<DeleteStatus>,
    /// Size in GB as listed, when known (issue 12: metrics; not in `--json`).
    #[serde(skip_serializing)]
    pub size_gb: Option<f64>,
    /// Its times cannot be trusted (issue 12: freshness ignores it; not in `--json`).
    #[serde(skip_serializing)]
    pub suspect: bool,
}

fn state_str(s: SnapState) -> &'static str {
    match s {
        SnapState::Complete => "complete",
        SnapState::InProgress => "in_progress",
        SnapState::Failed => "failed",
    }
}

impl SnapshotLine {
    /// A line built from a retention decision.
    pub fn from_decision(
        d: &Decision,
        info: Option<&SnapshotInfo>,
        snapshot: Option<&Snapshot>,
    ) -> Self {
        Self {
            id: d.id.clone(),
            name: snapshot.map_or_else(
                || {
                    info.and_then(|i| i.marker.as_ref())
                        .map(|m| m.encode())
                        .unwrap_or_default()
                },
                |s| s.name.clone(),
            ),
            created: info.map_or_else(
                || snapshot.map_or(DateTime::<Utc>::MIN_UTC, |s| s.created),
                |i| i.created,
            ),
            state: state_str(info.map_or(SnapState::Complete, |i| i.state)),
            action: match d.action {
                Action::Keep => "keep",
                Action::Delete => "delete",
            },
            reasons: d.reasons.iter().map(ToString::to_string).collect(),
            delete: None,
            size_gb: snapshot.and_then(|s| s.size_gb),
            suspect: info.is_some_and(|i| i.suspect.is_some()),
        }
    }

    /// A line for a snapshot kept because retention did not run.
    pub fn kept_unjudged(s: &Snapshot) -> Self {
        Self {
            id: s.id.clone(),
            name: s.name.clone(),
            created: s.created,
            state: state_str(s.state),
            action: "keep",
            reasons: vec!["retention did not run for this resource this cycle".to_string()],
            delete: None,
            size_gb: s.size_gb,
            suspect: false,
        }
    }
}

/// Why a group of our snapshots is orphaned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrphanReason {
    /// The policy named in the marker is not in the config and not named in
    /// `retired_policies`: removed, renamed, or another installation's policy
    /// under the same account name. Never pruned.
    PolicyRemoved,
    /// The policy is named in `retired_policies`: with `prune_orphans` its
    /// snapshots go down to the newest complete one.
    PolicyRetired,
    /// The resource no longer exists.
    ResourceGone,
    /// The resource exists but the policy no longer selects it.
    NoLongerTargeted,
}

impl OrphanReason {
    /// Whether `prune_orphans: true` may let retention delete such snapshots:
    /// only a gone resource under a policy this file still has, or a policy
    /// the file names as retired. A policy the file does not know may be
    /// another installation's, so its snapshots are never ours to delete.
    pub fn prunable(self) -> bool {
        matches!(self, Self::ResourceGone | Self::PolicyRetired)
    }
}

impl std::fmt::Display for OrphanReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::PolicyRemoved => {
                "policy not in this file (removed, renamed, or another installation's)"
            }
            Self::PolicyRetired => "policy retired",
            Self::ResourceGone => "resource no longer exists",
            Self::NoLongerTargeted => "resource no longer selected by the policy",
        })
    }
}

/// Our snapshots of one (policy, resource) pair that nothing claims.
#[derive(Debug, Clone, Serialize)]
pub struct OrphanGroup {
    /// Policy name from the marker.
    pub policy: String,
    /// Resource id from the marker.
    pub resource_id: String,
    /// Resource kind.
    #[serde(serialize_with = "ser_kind")]
    pub kind: TargetKind,
    /// Why orphaned.
    pub reason: OrphanReason,
    /// The snapshots.
    #[serde(serialize_with = "ser_snapshot_ids")]
    pub snapshots: Vec<Snapshot>,
    /// Ids deleted (only with `prune_orphans: true`).
    pub deleted: Vec<String>,
    /// Dry run with `prune_orphans: true`: ids a run would delete.
    pub would_delete: Vec<String>,
    /// Ids retention would delete but the provider protects: skipped.
    pub protected: Vec<String>,
    /// Ids whose deletion is held (clocks disagree, or a reload's grace).
    pub held: Vec<String>,
    /// Failed deletions, one message each (counted as failures).
    pub failed: Vec<String>,
}

fn ser_snapshot_ids<S: serde::Serializer>(v: &[Snapshot], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Short<'a> {
        id: &'a str,
        name: &'a str,
        created: DateTime<Utc>,
    }
    s.collect_seq(v.iter().map(|x| Short {
        id: &x.id,
        name: &x.name,
        created: x.created,
    }))
}
