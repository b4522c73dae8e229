//! Hetzner Cloud API v1 client: servers, their snapshot images, and the
//! project inventory.
//!
//! Owns what is Hetzner-specific: the marker is written both as labels (for
//! server-side `label_selector` filtering) and as the description, and a
//! managed image is accepted only when the two agree; `create_image` returns
//! the image id and an action at once; 423 `locked` is busy, `protected` is
//! delete protection. Must never: accept a snapshot as ours on labels or
//! description alone, or repeat a create that may have reached Hetzner.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{ClientOptions, Http};
use super::paging::Scheme;
use super::retry::Call;
use super::{
    Created, ErrorKind, InProgress, Inventory, InventorySection, ListScope, Pending, Progress,
    Provider, Resource, Result, Snapshot, SnapshotName, id_text, inventory_item,
    listed_in_progress, parse_time, unsupported,
};
use crate::config::{ProviderKind, TargetKind};
use crate::policy::marker::LABEL_ACCOUNT;
use crate::policy::{Marker, SnapState};

/// A Hetzner Cloud project's client.
#[derive(Debug)]
pub struct Hetzner {
    http: Http,
}

// Field by field as the spec's `required` lists say: a required field is
// required here (nullable ones are `Option`), an optional one has a safe
// default. The create answer is the exception: it counts as started as soon
// as it carries the action id.

#[derive(Debug, Deserialize)]
struct Location {
    #[serde(default)]
    name: String,
}

/// `server`: id, name, status, labels, locked and primary_disk_size are
/// required; location and datacenter only serve the region, so a missing one
/// leaves it empty.
#[derive(Debug, Deserialize)]
struct Server {
    #[serde(deserialize_with = "id_text")]
    id: String,
    name: String,
    status: String,
    labels: BTreeMap<String, String>,
    locked: bool,
    primary_disk_size: u64,
    #[serde(default)]
    location: Option<Location>,
    #[serde(default)]
    datacenter: Option<Datacenter>,
}

#[derive(Debug, Deserialize)]
struct Datacenter {
    #[serde(default)]
    location: Option<Location>,
}

#[derive(Debug, Deserialize)]
struct CreatedFrom {
    #[serde(deserialize_with = "id_text")]
    id: String,
}

#[derive(Debug, Deserialize)]
struct Protection {
    delete: bool,
}

/// `image`: id, description, labels, created, created_from (nullable),
/// image_size (nullable), status and protection are required.
#[derive(Debug, Deserialize)]
struct Image {
    #[serde(deserialize_with = "id_text")]
    id: String,
    description: String,
    labels: BTreeMap<String, String>,
    created: String,
    created_from: Option<CreatedFrom>,
    image_size: Option<f64>,
    status: String,
    protection: Protection,
}

#[derive(Debug, Deserialize)]
struct ActionError {
    code: String,
    message: String,
}

#[derive(Debug, Deserialize)]
struct ActionResource {
    #[serde(deserialize_with = "id_text")]
    id: String,
    #[serde(rename = "type")]
    kind: String,
}

/// `action`: command, error (nullable), id, progress (int32), resources,
/// started and status are required (decoded to hold the answer to the spec,
/// even where this client reads no more than the status).
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Action {
    #[serde(deserialize_with = "id_text")]
    id: String,
    command: String,
    status: String,
    progress: i32,
    started: String,
    error: Option<ActionError>,
    resources: Vec<ActionResource>,
}

impl Action {
    /// Progress for display: the spec's int32, clamped to 0–100.
    fn percent(&self) -> u8 {
        u8::try_from(self.progress.clamp(0, 100)).unwrap_or(100)
    }

    /// The image the action names among its resources.
    fn image_id(&self) -> Option<String> {
        self.resources
            .iter()
            .find(|r| r.kind == "image")
            .map(|r| r.id.clone())
    }
}

#[derive(Debug, Deserialize)]
struct ActionReply {
    action: Action,
}

/// The 201 of `create_image`: the spec requires neither `action` nor
/// `image`; the action id is needed to follow it, the image id is taken
/// when present (and otherwise found from the action when it ends).
#[derive(Debug, Deserialize)]
struct CreateReply {
    #[serde(default)]
    action: Option<Created>,
    #[serde(default)]
    image: Option<Created>,
}

/// The marker of an image: only when description and labels say the same.
fn image_marker(description: Option<&str>, labels: &BTreeMap<String, String>) -> Option<Marker> {
    let from_text = Marker::parse(description?)?;
    let from_labels = Marker::from_labels(labels)?;
    (from_text == from_labels).then_some(from_text)
}

impl Hetzner {
    /// A client for `account` at `base` (e.g. `https://api.hetzner.cloud/v1`).
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(
        account: &str,
        base: &str,
        token: SecretString,
        options: &ClientOptions,
    ) -> Result<Self> {
        Ok(Self {
            http: Http::new(Scheme::Hetzner, account, base, token, options)?,
        })
    }

    fn check_kind(&self, kind: TargetKind) -> Result<()> {
        if kind == TargetKind::Server {
            Ok(())
        } else {
            Err(unsupported(
                self.http.account(),
                ProviderKind::Hetzner,
                kind,
            ))
        }
    }

    fn snapshot_of(&self, image: Image, op: &str) -> Result<Snapshot> {
        let created = parse_time(&image.created).ok_or_else(|| {
            self.http.error(
                op,
                ErrorKind::Decode,
                format!("image {} has a bad created {:?}", image.id, image.created),
            )
        })?;
        let marker = image_marker(Some(&image.description), &image.labels);
        if marker.is_none() && Marker::from_labels(&image.labels).is_some() {
            tracing::warn!(
                account = %self.http.account(),
                image = %image.id,
                "image labels and description disagree, not treated as managed"
            );
        }
        let state = match image.status.as_str() {
            "available" => SnapState::Complete,
            "creating" => SnapState::InProgress,
            _ => SnapState::Failed,
        };
        Ok(Snapshot {
            id: image.id,
            name: image.description,
            kind: TargetKind::Server,
            resource_id: image.created_from.map(|c| c.id),
            created,
            size_gb: image.image_size,
            state,
            marker,
            protected: image.protection.delete,
            tags: Vec::new(),
        })
    }
}

#[async_trait::async_trait]
impl Provider for Hetzner {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Hetzner
    }

    fn clock_skew(&self) -> Option<chrono::TimeDelta> {
        self.http.clock_skew()
    }

    async fn list_resources(&self, kind: TargetKind) -> Result<Vec<Resource>> {
        self.check_kind(kind)?;
        let servers: Vec<Server> = self
            .http
            .list("list servers", "/servers", &[], "servers")
            .await?;
        Ok(servers
            .into_iter()
            .map(|s| {
                let region = s
                    .location
                    .or_else(|| s.datacenter.and_then(|d| d.location))
                    .map(|l| l.name)
                    .unwrap_or_default();
                Resource {
                    id: s.id,
                    name: s.name,
                    kind,
                    tags: Vec::new(),
                    labels: s.labels,
                    disk_gb: s.primary_disk_size,
                    locked: s.locked,
                    status: s.status,
                    region,
                }
            })
            .collect())
    }

    async fn list_snapshots(
        &self,
        kind: TargetKind,
        scope: ListScope<'_>,
    ) -> Result<Vec<Snapshot>> {
        self.check_kind(kind)?;
        let op = "list snapshots";
        let mut query = vec![("type".to_string(), "snapshot".to_string())];
        if let ListScope::Managed { account } = scope {
            query.push((
                "label_selector".into(),
                format!("{LABEL_ACCOUNT}={account}"),
            ));
        }
        let images: Vec<Image> = self.http.list(op, "/images", &query, "images").await?;
        let mut out = Vec::with_capacity(images.len());
        for image in images {
            let snap = self.snapshot_of(image, op)?;
            if scope.admits(&snap) {
                out.push(snap);
            }
        }
        Ok(out)
    }

    async fn in_progress(
        &self,
        resource: &Resource,
        listed: &[Snapshot],
    ) -> Result<Vec<InProgress>> {
        self.check_kind(resource.kind)?;
        // Our own images being created are in the listing (status
        // `creating`, with our labels); any other action running on the
        // server answers the create with 423 `locked`, which is busy.
        Ok(listed_in_progress(resource, listed))
    }

    async fn create_snapshot(
        &self,
        resource: &Resource,
        name: &SnapshotName,
        _tags: &[String],
    ) -> Result<Pending> {
        self.check_kind(resource.kind)?;
        let (text, body) = match name {
            SnapshotName::Managed(marker) => {
                let text = marker.encode();
                let body =
                    json!({ "type": "snapshot", "description": text, "labels": marker.labels() });
                (text, body)
            }
            SnapshotName::Manual(text) => (
                text.clone(),
                json!({ "type": "snapshot", "description": text }),
            ),
        };
        let started = self.http.clock().now();
        let op = format!("create a snapshot of server {}", resource.id);
        let path = format!("/servers/{}/actions/create_image", resource.id);
        let reply: CreateReply = self.http.post(&op, &path, &body, Call::Create).await?;
        let action_id = self
            .http
            .followable(&op, Created::id_of(reply.action), "action")?;
        Ok(Pending {
            resource_id: resource.id.clone(),
            kind: resource.kind,
            name: text,
            snapshot_id: Created::id_of(reply.image),
            action_id: Some(action_id),
            started,
            disk_gb: resource.disk_gb,
            ready: false,
        })
    }

    async fn poll(&self, pending: &Pending) -> Result<Progress> {
        let op = format!("check the snapshot of server {}", pending.resource_id);
        let Some(action_id) = &pending.action_id else {
            return Err(self.http.error(
                &op,
                ErrorKind::Rejected,
                "pending snapshot lacks its action id",
            ));
        };
        let reply: ActionReply = self
            .http
            .get_poll(&op, &format!("/actions/{action_id}"), &[])
            .await?;
        let action = reply.action;
        match action.status.as_str() {
            "running" => Ok(Progress::Running {
                percent: Some(action.percent()),
            }),
            "success" => match pending.snapshot_id.clone().or_else(|| action.image_id()) {
                Some(snapshot_id) => Ok(Progress::Done { snapshot_id }),
                None => Err(self.http.error(
                    &op,
                    ErrorKind::Decode,
                    format!("action {action_id} succeeded but names no image"),
                )),
            },
            "error" => Ok(Progress::Failed {
                reason: match action.error {
                    Some(e) => format!("{}: {}", e.code, e.message),
                    None => format!("action {action_id} failed"),
                },
            }),
            other => Err(self.http.error(
                &op,
                ErrorKind::Decode,
                format!("unknown action status {other:?}"),
            )),
        }
    }

    async fn delete_snapshot(&self, snapshot: &Snapshot) -> Result<()> {
        let op = format!("delete snapshot {}", snapshot.id);
        if snapshot.protected {
            return Err(self.http.error(
                &op,
                ErrorKind::Protected,
                "delete protection is on for this image",
            ));
        }
        self.http
            .delete(&op, &format!("/images/{}", snapshot.id))
            .await
    }

    async fn inventory(&self) -> Result<Inventory> {
        let mut inventory = Inventory::default();
        let sections: &[(&str, &str, &[(&str, &str)], &str, &[&str], &[&str], &[&str])] = &[
            (
                "servers",
                "/servers",
                &[],
                "servers",
                &["/name"],
                &["/location/name", "/datacenter/location/name"],
                &["/status"],
            ),
            (
                "volumes",
                "/volumes",
                &[],
                "volumes",
                &["/name"],
                &["/location/name"],
                &["/status"],
            ),
            (
                "snapshots",
                "/images",
                &[("type", "snapshot")],
                "images",
                &["/description"],
                &[],
                &["/status"],
            ),
            (
                "load_balancers",
                "/load_balancers",
                &[],
                "load_balancers",
                &["/name"],
                &["/location/name"],
                &[],
            ),
            (
                "firewalls",
                "/firewalls",
                &[],
                "firewalls",
                &["/name"],
                &[],
                &[],
            ),
        ];
        for (kind, path, query, key, name, region, status) in sections {
            let op = format!("list {}", kind.replace('_', " "));
            let query: Vec<(String, String)> = query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let items: Vec<Value> = self.http.list(&op, path, &query, key).await?;
            inventory.sections.push(InventorySection {
                kind: kind.to_string(),
                items: items
                    .iter()
                    .map(|v| inventory_item(v, name, region, status))
                    .collect(),
            });
        }
        Ok(inventory)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn progress_is_the_specs_int32_clamped_for_display() {
        let action = |progress: &str| -> Action {
            serde_json::from_str(&format!(
                r#"{{"id": 1, "command": "create_image", "status": "running", "progress": {progress},
                    "started": "2026-03-01T12:00:00+00:00", "finished": null, "error": null,
                    "resources": [{{"id": 101, "type": "server"}}, {{"id": 9, "type": "image"}}]}}"#
            ))
            .unwrap()
        };
        for (progress, shown) in [("0", 0), ("42", 42), ("100", 100), ("300", 100), ("-5", 0)] {
            assert_eq!(action(progress).percent(), shown, "{progress}");
        }
        assert_eq!(action("1").image_id().as_deref(), Some("9"));
        let create: CreateReply = serde_json::from_str(r#"{"action": {"id": 7}}"#).unwrap();
        assert_eq!(Created::id_of(create.action).as_deref(), Some("7"));
        assert_eq!(Created::id_of(create.image), None);
    }

    #[test]
    fn markers_need_labels_and_description_to_agree() {
        let m = Marker {
            account: "hz".into(),
            policy: "daily".into(),
            resource_id: "42".into(),
            created: chrono::Utc.with_ymd_and_hms(2026, 11, 23, 6, 0, 0).unwrap(),
        };
        let other = Marker {
            resource_id: "43".into(),
            ..m.clone()
        };
        let text = m.encode();
        let cases = [
            (Some(text.as_str()), m.labels(), Some(m.clone())),
            (None, m.labels(), None),
            (Some(text.as_str()), BTreeMap::new(), None),
            (Some(text.as_str()), other.labels(), None),
            (Some("my manual snapshot"), m.labels(), None),
        ];
        for (desc, labels, want) in cases {
            assert_eq!(image_marker(desc, &labels), want, "{desc:?}");
        }
    }
}
