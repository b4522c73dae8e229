//! The marker snapkeeper writes on every snapshot it creates.
//!
//! Owns the one text format and its exact parser. Must never: accept a string
//! that merely contains a marker (parsing is whole-string), or read the clock.
//!
//! Format: `snapkeeper:<account>:<policy>:<resource id>:<YYYYMMDDTHHMMSSZ>`,
//! for example `snapkeeper:do-main:six-hourly:3164444:20261123T060000Z`.

use chrono::{DateTime, NaiveDateTime, Utc};

/// The fixed first field of every marker.
pub const PREFIX: &str = "snapkeeper";
const TIME_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// Who made a snapshot, for which policy and resource, and when (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Marker {
    /// Account name from the config.
    pub account: String,
    /// Policy name from the config.
    pub policy: String,
    /// Provider id of the resource the snapshot was taken of.
    pub resource_id: String,
    /// Creation time, UTC, whole seconds.
    pub created: DateTime<Utc>,
}

impl Marker {
    /// The marker as text, for a snapshot name or description.
    pub fn encode(&self) -> String {
        format!(
            "{PREFIX}:{}:{}:{}:{}",
            self.account,
            self.policy,
            self.resource_id,
            self.created.format(TIME_FORMAT)
        )
    }

    /// Parse a whole string as a marker; anything else is `None` (not ours).
    pub fn parse(text: &str) -> Option<Marker> {
        let mut parts = text.split(':');
        let (prefix, account, policy, resource_id, created) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if parts.next().is_some() || prefix != PREFIX {
            return None;
        }
        if !is_name(account) || !is_name(policy) || !is_resource_id(resource_id) {
            return None;
        }
        let created = NaiveDateTime::parse_from_str(created, TIME_FORMAT)
            .ok()?
            .and_utc();
        let marker = Marker {
            account: account.to_string(),
            policy: policy.to_string(),
            resource_id: resource_id.to_string(),
            created,
        };
        // Exactness: the text must be exactly what we would have written.
        (marker.encode() == text).then_some(marker)
    }
}

/// Account and policy names: `[a-z0-9][a-z0-9-]*`, at most 32 characters.
pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_resource_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}
