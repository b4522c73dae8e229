//! Schedules: is a resource due for a snapshot, and when is it next due.
//!
//! Must never: read the clock; `now` is a parameter.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::Schedule;

/// The schedule's verdict for one resource at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueState {
    /// A snapshot should be taken now.
    pub due: bool,
    /// When the next snapshot is due (equal to or before `now` when `due`).
    pub next: DateTime<Utc>,
    /// Why, in words, for `plan` and the logs.
    pub reason: String,
}

/// Evaluate a schedule.
///
/// `newest` is the creation time of the newest managed snapshot of the
/// resource, complete or in progress; `started` is when the policy began
/// running (daemon start or the policy's load), the anchor for a cron policy's
/// first slot when no snapshot exists yet.
pub fn evaluate(
    schedule: &Schedule,
    tz: Tz,
    newest: Option<DateTime<Utc>>,
    started: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DueState {
    // Placeholder body, replaced by the policy work.
    let _ = (schedule, tz, newest, started);
    DueState {
        due: false,
        next: now,
        reason: String::new(),
    }
}
