//! Provider clients: one narrow trait the engine and the operator commands
//! use, hiding every difference between DigitalOcean, Vultr and Hetzner.
//!
//! Owns the [`Provider`] trait, the provider-neutral types ([`Resource`],
//! [`Snapshot`], [`Pending`], [`Progress`], [`Inventory`]), the typed
//! [`Error`], the generic [`wait`] loop, and [`connect`], the one place that
//! maps a [`ProviderKind`] to a client. Shared HTTP plumbing lives in `http`;
//! each provider file holds only what differs.
//!
//! Must never: decide what to keep or delete (that is `policy`), print or log
//! a token, or treat a partial listing as complete.

// Provider errors carry the account, operation and the provider's own words;
// they are off the hot path, so their size does not matter.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::config::{Account, ProviderKind, ResourceFacts, TargetKind};
use crate::policy::{Marker, SnapState};

pub mod digitalocean;
pub mod hetzner;
pub mod http;
pub mod pacing;
pub mod paging;
pub mod retry;
pub mod vultr;
mod wait;

pub use http::ClientOptions;
pub use pacing::{Budget, Limit, Recovery};
pub use retry::RetryPolicy;
pub use wait::{WaitOptions, WaitOutcome, wait};

/// A snapshottable resource (droplet, volume, instance, server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Provider id (as text, whatever the provider's type).
    pub id: String,
    /// Name (DigitalOcean name, Vultr label, Hetzner name).
    pub name: String,
    /// What kind of resource it is.
    pub kind: TargetKind,
    /// Tags (DigitalOcean, Vultr).
    pub tags: Vec<String>,
    /// Labels (Hetzner).
    pub labels: BTreeMap<String, String>,
    /// Disk size in GB, used to size wait deadlines.
    pub disk_gb: u64,
    /// The provider says an action is running on it (DigitalOcean/Hetzner `locked`).
    pub locked: bool,
    /// Provider status text (`active`, `running`, …).
    pub status: String,
    /// Region or location slug.
    pub region: String,
}

impl Resource {
    /// What a [`crate::config::Selector`] looks at.
    pub fn facts(&self) -> ResourceFacts<'_> {
        ResourceFacts {
            id: &self.id,
            name: &self.name,
            tags: &self.tags,
            labels: &self.labels,
        }
    }
}

/// A snapshot as the provider lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Provider id.
    pub id: String,
    /// Name or description as the provider shows it.
    pub name: String,
    /// Kind of resource it was taken of.
    pub kind: TargetKind,
    /// Source resource id, when the provider says (DigitalOcean, Hetzner) or
    /// the marker does (Vultr).
    pub resource_id: Option<String>,
    /// Creation time as the provider reports it.
    pub created: DateTime<Utc>,
    /// Size in GB, when known.
    pub size_gb: Option<f64>,
    /// Complete, in progress, or failed.
    pub state: SnapState,
    /// Parsed marker: `Some` only for snapshots snapkeeper created.
    pub marker: Option<Marker>,
    /// Provider delete protection is on (Hetzner).
    pub protected: bool,
    /// Tags (DigitalOcean).
    pub tags: Vec<String>,
}

/// Which snapshots a listing should return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListScope<'a> {
    /// Only snapshots carrying this account's marker (filtered server-side
    /// where the provider can, e.g. Hetzner `label_selector`).
    Managed {
        /// The account name in the marker.
        account: &'a str,
    },
    /// Everything of the kind, ours or not (for `list --all` and reports).
    All,
}

impl ListScope<'_> {
    /// True when a listed snapshot belongs in this scope.
    pub fn admits(&self, snapshot: &Snapshot) -> bool {
        match self {
            Self::All => true,
            Self::Managed { account } => snapshot
                .marker
                .as_ref()
                .is_some_and(|m| m.account == *account),
        }
    }
}

/// What to call a new snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotName {
    /// A managed snapshot: the marker is written in the create call itself.
    Managed(Marker),
    /// A manual snapshot with the user's name: no marker, never pruned.
    Manual(String),
}

impl SnapshotName {
    /// The text written to the provider (name or description).
    pub fn text(&self) -> String {
        match self {
            Self::Managed(marker) => marker.encode(),
            Self::Manual(text) => text.clone(),
        }
    }
}

/// A snapshot that has been asked for and may still be running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The resource.
    pub resource_id: String,
    /// Its kind.
    pub kind: TargetKind,
    /// The name/description written.
    pub name: String,
    /// The snapshot id when the provider gave it at once (Vultr, Hetzner,
    /// DigitalOcean volumes).
    pub snapshot_id: Option<String>,
    /// The action id when the provider works through actions (DigitalOcean
    /// droplets, Hetzner).
    pub action_id: Option<String>,
    /// When the create call was made.
    pub started: DateTime<Utc>,
    /// Disk size in GB, for the wait deadline.
    pub disk_gb: u64,
    /// The create answer already shows the snapshot complete (DigitalOcean
    /// volumes): the one poll needs no wait.
    pub ready: bool,
}

/// One look at a pending snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Still running; percent when the provider reports it.
    Running {
        /// 0–100, when known.
        percent: Option<u8>,
    },
    /// Finished; the snapshot's id.
    Done {
        /// Provider id of the finished snapshot.
        snapshot_id: String,
    },
    /// The provider says it failed.
    Failed {
        /// The provider's words.
        reason: String,
    },
}

/// Something running on a resource right now (a snapshot in progress, or
/// another action that makes the resource busy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InProgress {
    /// The resource.
    pub resource_id: String,
    /// When it started, when known.
    pub since: Option<DateTime<Utc>>,
    /// The marker of the snapshot being taken, when it is one of ours and the
    /// provider shows it (Vultr pending snapshot, Hetzner creating image).
    pub marker: Option<Marker>,
    /// What it is, in the provider's words (`snapshot action 123`, `locked`).
    pub what: String,
}

/// Snapshots of `resource` that the listing shows still being taken, as
/// [`InProgress`], plus `locked` when the provider locks the resource and
/// nothing more specific is known.
pub fn listed_in_progress(resource: &Resource, listed: &[Snapshot]) -> Vec<InProgress> {
    let mut out: Vec<InProgress> = listed
        .iter()
        .filter(|s| s.state == SnapState::InProgress)
        .filter(|s| s.resource_id.as_deref() == Some(resource.id.as_str()))
        .map(|s| InProgress {
            resource_id: resource.id.clone(),
            since: Some(s.created),
            marker: s.marker.clone(),
            what: format!("snapshot {} being taken", s.id),
        })
        .collect();
    if out.is_empty() && resource.locked {
        out.push(InProgress::locked(resource));
    }
    out
}

impl InProgress {
    /// The resource is locked by the provider with nothing more specific known.
    pub fn locked(resource: &Resource) -> Self {
        Self {
            resource_id: resource.id.clone(),
            since: None,
            marker: None,
            what: "locked".into(),
        }
    }
}

/// An account's holdings, by kind, for `inventory`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Inventory {
    /// One section per kind (`droplets`, `volumes`, `snapshots`, `images`,
    /// `load_balancers`, `firewalls`, `kubernetes_clusters`, `cdn_endpoints`, …).
    pub sections: Vec<InventorySection>,
}

/// One kind of resource in an inventory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InventorySection {
    /// Kind name, plural, snake_case.
    pub kind: String,
    /// The items.
    pub items: Vec<InventoryItem>,
}

/// One item in an inventory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InventoryItem {
    /// Provider id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Region or location, when it has one.
    pub region: Option<String>,
    /// Status, when it has one.
    pub status: Option<String>,
}

/// What went wrong talking to a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 401: the token is wrong or revoked.
    Unauthorized,
    /// 403: the token may not do this (read-only token, missing scope).
    Forbidden,
    /// 404.
    NotFound,
    /// The resource is busy (DigitalOcean 422 pending event, Hetzner 423
    /// locked): retry later in the cycle.
    Busy,
    /// The provider protects this snapshot from deletion: skip and report.
    Protected,
    /// A provider quota or limit refused the create.
    Quota,
    /// 429 after retries ran out.
    RateLimited,
    /// 5xx after retries ran out.
    Server,
    /// Time-out or connection failure after retries ran out.
    Transport,
    /// The answer was not what the spec says (bad JSON, missing field).
    Decode,
    /// A listing said how many items it has (DigitalOcean `meta.total`,
    /// Vultr `meta.total`, Hetzner `meta.pagination.total_entries`) and its
    /// pages held fewer: it is not the whole list.
    Incomplete,
    /// Any other refusal (400, 422 …).
    Rejected,
}

/// A typed provider error: never contains the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The class of failure.
    pub kind: ErrorKind,
    /// The account it happened on.
    pub account: String,
    /// What snapkeeper was doing (`list droplets`, `create snapshot of 101`).
    pub operation: String,
    /// HTTP status, when there was a response.
    pub status: Option<u16>,
    /// The provider's error code (`forbidden`, `locked`, …), when given.
    pub code: Option<String>,
    /// The provider's message, or the transport error.
    pub message: String,
    /// The provider's request id, when given.
    pub request_id: Option<String>,
}

impl Error {
    /// Worth retrying later (busy, rate limited, server or transport trouble).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Busy | ErrorKind::RateLimited | ErrorKind::Server | ErrorKind::Transport
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::Unauthorized => write!(
                f,
                "the token for account {} was refused while trying to {} ({} {}): check that it is current and belongs to this account",
                self.account,
                self.operation,
                self.status.unwrap_or(401),
                self.code.as_deref().unwrap_or("unauthorized")
            )?,
            ErrorKind::Forbidden => write!(
                f,
                "the token for account {} cannot {} ({} {}): a read-only token works for plan/list/inventory only",
                self.account,
                self.operation,
                self.status.unwrap_or(403),
                self.code.as_deref().unwrap_or("forbidden")
            )?,
            _ => {
                write!(f, "account {}: {} failed", self.account, self.operation)?;
                if let Some(status) = self.status {
                    write!(f, " ({status}")?;
                    if let Some(code) = &self.code {
                        write!(f, " {code}")?;
                    }
                    write!(f, ")")?;
                }
                write!(f, ": {}", self.message)?;
            }
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Result alias for provider calls.
pub type Result<T> = std::result::Result<T, Error>;

/// One provider account's client. Every method is one logical operation; the
/// implementation pages, retries, paces and maps errors underneath.
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// Which cloud.
    fn kind(&self) -> ProviderKind;

    /// Every resource of `kind` in the account (the caller applies the
    /// policy's selector; implementations may use server-side filters only
    /// when they cannot drop a match).
    async fn list_resources(&self, kind: TargetKind) -> Result<Vec<Resource>>;

    /// Snapshots of resources of `kind`, complete and in progress where the
    /// provider lists them, markers parsed. Fails as a whole if any page fails.
    async fn list_snapshots(&self, kind: TargetKind, scope: ListScope<'_>)
    -> Result<Vec<Snapshot>>;

    /// What is running on the resource now, as cheaply as the provider
    /// lets us tell. `listed` is this cycle's listing of the account's
    /// snapshots of the resource's kind: Vultr's pending snapshots and
    /// Hetzner's creating images are in it, so those two need no request;
    /// DigitalOcean does not list in-progress droplet snapshots, but a
    /// droplet with an uncompleted action is `locked` in the droplet
    /// listing (the spec's Droplet Actions section), so it asks only when
    /// the listing cannot settle it. Called only for resources that are due.
    async fn in_progress(
        &self,
        resource: &Resource,
        listed: &[Snapshot],
    ) -> Result<Vec<InProgress>>;

    /// Start a snapshot; the marker (if managed) is written in this call.
    /// `tags` are extra DigitalOcean tags (ignored elsewhere).
    async fn create_snapshot(
        &self,
        resource: &Resource,
        name: &SnapshotName,
        tags: &[String],
    ) -> Result<Pending>;

    /// Look once at a pending snapshot.
    async fn poll(&self, pending: &Pending) -> Result<Progress>;

    /// Delete a snapshot. Protection is reported as [`ErrorKind::Protected`].
    async fn delete_snapshot(&self, snapshot: &Snapshot) -> Result<()>;

    /// Everything the account holds, by kind, for `inventory`.
    async fn inventory(&self) -> Result<Inventory>;

    /// Provider time minus host time, read from the HTTP `Date` header of
    /// the most recent answer that carried a parseable one (1-second
    /// resolution), against the client's [`crate::clock::Clock`]. `None`
    /// until such an answer has arrived. The default (for test doubles) is
    /// `None`; the three real clients read it in `http`.
    fn clock_skew(&self) -> Option<chrono::TimeDelta> {
        None
    }
}

/// Build the client for an account with default options (the real
/// providers' limits and time-outs). The one place that knows every provider.
///
/// # Errors
/// [`Error`] when the HTTP client cannot be built.
pub fn connect(account: &Account, token: SecretString) -> Result<Box<dyn Provider>> {
    connect_with(account, token, &ClientOptions::default())
}

/// [`connect`] with explicit options (time-outs, retry policy, pacing).
///
/// # Errors
/// [`Error`] when the HTTP client cannot be built.
pub fn connect_with(
    account: &Account,
    token: SecretString,
    options: &ClientOptions,
) -> Result<Box<dyn Provider>> {
    Ok(match account.provider {
        ProviderKind::DigitalOcean => Box::new(digitalocean::DigitalOcean::new(
            &account.name,
            &account.api_url,
            token,
            options,
        )?),
        ProviderKind::Vultr => Box::new(vultr::Vultr::new(
            &account.name,
            &account.api_url,
            token,
            options,
        )?),
        ProviderKind::Hetzner => Box::new(hetzner::Hetzner::new(
            &account.name,
            &account.api_url,
            token,
            options,
        )?),
    })
}

/// Parse a provider timestamp (RFC 3339).
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The error for a kind of resource this provider does not have.
fn unsupported(account: &str, provider: ProviderKind, kind: TargetKind) -> Error {
    Error {
        kind: ErrorKind::Rejected,
        account: account.to_string(),
        operation: format!("work with {}s", kind.as_str()),
        status: None,
        code: None,
        message: format!("{provider} has no {}s", kind.as_str()),
        request_id: None,
    }
}

/// Provider ids arrive as numbers (DigitalOcean droplets, Hetzner) or strings;
/// the neutral types hold text.
fn id_text<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(u64),
    }
    Ok(match <Id as serde::Deserialize>::deserialize(d)? {
        Id::Text(s) => s,
        Id::Number(n) => n.to_string(),
    })
}

/// Like [`id_text`] for optional ids.
fn opt_id_text<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(u64),
    }
    Ok(
        <Option<Id> as serde::Deserialize>::deserialize(d)?.map(|id| match id {
            Id::Text(s) => s,
            Id::Number(n) => n.to_string(),
        }),
    )
}

/// The part of a create answer that is needed to follow the new snapshot:
/// its id. Every other field of a create answer is optional for snapkeeper
/// (and most are optional in the specs), so a 201 that carries the id counts
/// as started whatever else it lacks.
#[derive(Debug, Default, serde::Deserialize)]
struct Created {
    #[serde(default, deserialize_with = "opt_id_text")]
    id: Option<String>,
}

impl Created {
    /// The id of an optional created object.
    fn id_of(created: Option<Created>) -> Option<String> {
        created.and_then(|c| c.id)
    }
}

/// The time to use for a listed snapshot whose provider creation time is
/// missing (or, where the spec gives it no format, unreadable): the marker's
/// time when it is one of ours (written by snapkeeper in the create call),
/// otherwise `listed_at`, the time of the listing, so that it looks newest
/// and is never the first to age out.
fn created_or_fallback(
    created: Option<DateTime<Utc>>,
    marker: Option<&Marker>,
    listed_at: DateTime<Utc>,
) -> DateTime<Utc> {
    created
        .or_else(|| marker.map(|m| m.created))
        .unwrap_or(listed_at)
}

/// Text at a JSON pointer (strings as is, numbers printed).
fn text_at(v: &serde_json::Value, pointer: &str) -> Option<String> {
    match v.pointer(pointer)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// One inventory item read from a listed JSON object.
fn inventory_item(
    v: &serde_json::Value,
    name: &[&str],
    region: &[&str],
    status: &[&str],
) -> InventoryItem {
    let first = |ptrs: &[&str]| ptrs.iter().find_map(|p| text_at(v, p));
    InventoryItem {
        id: text_at(v, "/id").unwrap_or_default(),
        name: first(name).unwrap_or_default(),
        region: first(region),
        status: first(status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_as_text() {
        #[derive(serde::Deserialize)]
        struct T {
            #[serde(deserialize_with = "id_text")]
            id: String,
            #[serde(default, deserialize_with = "opt_id_text")]
            other: Option<String>,
        }
        let cases = [
            (r#"{"id": 101}"#, "101", None),
            (r#"{"id": "abc-1", "other": 7}"#, "abc-1", Some("7")),
            (r#"{"id": "x", "other": null}"#, "x", None),
        ];
        for (json, id, other) in cases {
            let t: T = serde_json::from_str(json).unwrap();
            assert_eq!(t.id, id);
            assert_eq!(t.other.as_deref(), other);
        }
    }

    #[test]
    fn times_parse() {
        assert!(parse_time("2020-10-10T01:56:20+00:00").is_some());
        assert!(parse_time("2026-11-23T06:00:00Z").is_some());
        assert!(parse_time("yesterday").is_none());
    }

    #[test]
    fn inventory_items_read_nested_fields() {
        let v = serde_json::json!({"id": 5, "name": "web", "region": {"slug": "fra1"}, "status": {"state": "running"}});
        let item = inventory_item(
            &v,
            &["/name"],
            &["/region/slug", "/region"],
            &["/status/state", "/status"],
        );
        assert_eq!(
            item,
            InventoryItem {
                id: "5".into(),
                name: "web".into(),
                region: Some("fra1".into()),
                status: Some("running".into())
            }
        );
    }
}
