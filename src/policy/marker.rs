//! The marker snapkeeper writes on every snapshot it creates.
//!
//! Owns the one text format and its exact parser. Must never: accept a string
//! that merely contains a marker (parsing is whole-string), or read the clock.
//!
//! Format: `snapkeeper:<account>:<policy>:<resource id>:<YYYYMMDDTHHMMSSZ>`,
//! for example `snapkeeper:do-main:six-hourly:3164444:20261123T060000Z`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};

/// The fixed first field of every marker.
pub const PREFIX: &str = "snapkeeper";
const TIME_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// Label key (Hetzner) holding the account name.
pub const LABEL_ACCOUNT: &str = "snapkeeper/account";
/// Label key (Hetzner) holding the policy name.
pub const LABEL_POLICY: &str = "snapkeeper/policy";
/// Label key (Hetzner) holding the resource id.
pub const LABEL_RESOURCE: &str = "snapkeeper/resource";
/// Label key (Hetzner) holding the creation time (`YYYYMMDDTHHMMSSZ`).
pub const LABEL_CREATED: &str = "snapkeeper/created";

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

    /// The marker as provider labels (Hetzner), for server-side filtering with
    /// `label_selector=snapkeeper/account=<account>`.
    pub fn labels(&self) -> BTreeMap<String, String> {
        [
            (LABEL_ACCOUNT, self.account.clone()),
            (LABEL_POLICY, self.policy.clone()),
            (LABEL_RESOURCE, self.resource_id.clone()),
            (LABEL_CREATED, self.created.format(TIME_FORMAT).to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Read a marker back from labels; `None` unless all four are present and
    /// valid. Callers that also have the description should require both to agree.
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Option<Marker> {
        let text = format!(
            "{PREFIX}:{}:{}:{}:{}",
            labels.get(LABEL_ACCOUNT)?,
            labels.get(LABEL_POLICY)?,
            labels.get(LABEL_RESOURCE)?,
            labels.get(LABEL_CREATED)?
        );
        Marker::parse(&text)
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
