//! Retention: which snapshots of one (account, policy, resource) group to keep.
//!
//! Must never: read the clock, count an in-progress or failed snapshot as
//! kept, delete one, or go below the floors.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{KeepRules, Marker, PolicyError};

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
    /// Creation time (from the marker when there is one).
    pub created: DateTime<Utc>,
    /// Lifecycle state.
    pub state: SnapState,
    /// The parsed marker; `None` means not ours.
    pub marker: Option<Marker>,
}

/// Keep or delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Leave it.
    Keep,
    /// Delete it now.
    Delete,
}

/// Why a decision was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Free text placeholder; the policy work defines the real reasons.
    Text(String),
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

/// Decide keep/delete for every snapshot of one group.
///
/// # Errors
/// [`PolicyError::EmptyKeep`] for rules that keep nothing.
pub fn decide(
    rules: &KeepRules,
    max_deletes: u32,
    tz: Tz,
    group: &[SnapshotInfo],
) -> Result<Vec<Decision>, PolicyError> {
    if rules.is_empty() {
        return Err(PolicyError::EmptyKeep);
    }
    let _ = (max_deletes, tz);
    // Placeholder body, replaced by the policy work: keeps everything.
    Ok(group
        .iter()
        .map(|s| Decision {
            id: s.id.clone(),
            action: Action::Keep,
            reasons: Vec::new(),
        })
        .collect())
}
