//! DigitalOcean API v2 client: droplets and volumes, their snapshots, and the
//! account inventory.
//!
//! Owns what is DigitalOcean-specific: paths, body shapes, the droplet
//! snapshot action and how its snapshot is found afterwards (the action does
//! not name it), volume snapshots (synchronous, tagged at creation), and
//! in-progress detection through the droplet's `locked` flag and running
//! actions, because in-progress droplet snapshots are assumed not to be
//! listed. Must never: send anything but the marker as a managed snapshot's
//! name, or repeat a snapshot create that may have reached the server.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{ClientOptions, Http};
use super::paging::Scheme;
use super::retry::Call;
use super::{
    Created, ErrorKind, InProgress, Inventory, InventorySection, ListScope, Pending, Progress,
    Provider, Resource, Result, Snapshot, SnapshotName, id_text, inventory_item,
    listed_in_progress, opt_id_text, parse_time, unsupported,
};
use crate::config::{ProviderKind, TargetKind};
use crate::policy::{Marker, SnapState};

/// A DigitalOcean account's client.
#[derive(Debug)]
pub struct DigitalOcean {
    http: Http,
    /// Tags to put on droplet snapshots once their action finishes, by
    /// action id (the action does not take tags, and the snapshot id is only
    /// known afterwards). Lost on restart: the marker in the name is what
    /// counts, the tags are a convenience.
    tags_after: Mutex<HashMap<String, Vec<String>>>,
}

// Field by field as the spec's `required` lists say: a required field is
// required here, an optional one has a safe default. Ids are the exception:
// an object without one cannot be acted on, so it is required even where the
// spec leaves it optional (volumes, actions).

#[derive(Debug, Deserialize)]
struct Region {
    slug: String,
}

/// `droplet`: every field used here is required by the spec.
#[derive(Debug, Deserialize)]
struct Droplet {
    #[serde(deserialize_with = "id_text")]
    id: String,
    name: String,
    disk: u64,
    locked: bool,
    status: String,
    tags: Vec<String>,
    region: Region,
}

/// `volume_full`: the spec requires no field at all.
#[derive(Debug, Deserialize)]
struct Volume {
    #[serde(deserialize_with = "id_text")]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    size_gigabytes: u64,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    region: Option<Region>,
}

/// `snapshots` (of `/v2/snapshots`): id, name, created_at, size_gigabytes,
/// resource_id and tags (nullable) are required.
#[derive(Debug, Deserialize)]
struct DoSnapshot {
    #[serde(deserialize_with = "id_text")]
    id: String,
    name: String,
    created_at: String,
    size_gigabytes: f64,
    #[serde(deserialize_with = "id_text")]
    resource_id: String,
    tags: Option<Vec<String>>,
}

/// `droplet_snapshot` (of `/v2/droplets/{id}/snapshots`): id, name and
/// created_at are required; it has no resource id or tags.
#[derive(Debug, Deserialize)]
struct DropletSnapshot {
    #[serde(deserialize_with = "id_text")]
    id: String,
    name: String,
    created_at: String,
}

/// One page of a droplet's actions.
#[derive(Debug, Deserialize)]
struct ActionPage {
    #[serde(default)]
    actions: Vec<Action>,
}

/// `action`: the spec requires no field. A missing status reads as "still
/// running" unless `completed_at` says it ended.
#[derive(Debug, Deserialize)]
struct Action {
    #[serde(default, deserialize_with = "opt_id_text")]
    id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    started_at: Option<String>,
    #[serde(default)]
    completed_at: Option<String>,
}

impl Action {
    /// Still running, or (status missing) not known to have ended.
    fn running(&self) -> bool {
        match self.status.as_deref() {
            Some(status) => status == "in-progress",
            None => self.completed_at.is_none(),
        }
    }
}

/// `GET /v2/actions/{id}`: `action` is optional in the spec.
#[derive(Debug, Deserialize)]
struct ActionReply {
    #[serde(default)]
    action: Option<Action>,
}

/// The 201 of a droplet snapshot action: only the action id is needed.
#[derive(Debug, Deserialize)]
struct ActionCreated {
    #[serde(default)]
    action: Option<Created>,
}

/// The 201 of a volume snapshot: only the snapshot id is needed.
#[derive(Debug, Deserialize)]
struct SnapshotCreated {
    #[serde(default)]
    snapshot: Option<Created>,
}

fn resource_type(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::Volume => "volume",
        _ => "droplet",
    }
}

fn region_slug(region: Option<Region>) -> String {
    region.map(|r| r.slug).unwrap_or_default()
}

/// Poll answer of an action: a missing status is "still running, poll again"
/// (never "done").
fn action_status(action: Option<&Action>) -> &str {
    action
        .and_then(|a| a.status.as_deref())
        .unwrap_or("in-progress")
}

impl DigitalOcean {
    /// A client for `account` at `base` (e.g. `https://api.digitalocean.com`;
    /// paths add `/v2/...`).
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
            http: Http::new(Scheme::DigitalOcean, account, base, token, options)?,
            tags_after: Mutex::new(HashMap::new()),
        })
    }

    fn check_kind(&self, kind: TargetKind) -> Result<()> {
        match kind {
            TargetKind::Droplet | TargetKind::Volume => Ok(()),
            other => Err(unsupported(
                self.http.account(),
                ProviderKind::DigitalOcean,
                other,
            )),
        }
    }

    fn snapshot_of(&self, kind: TargetKind, s: DoSnapshot, op: &str) -> Result<Snapshot> {
        let created = parse_time(&s.created_at).ok_or_else(|| {
            self.http.error(
                op,
                ErrorKind::Decode,
                format!("snapshot {} has a bad created_at {:?}", s.id, s.created_at),
            )
        })?;
        Ok(Snapshot {
            marker: Marker::parse(&s.name),
            id: s.id,
            name: s.name,
            kind,
            resource_id: Some(s.resource_id),
            created,
            size_gb: Some(s.size_gigabytes),
            state: SnapState::Complete,
            protected: false,
            tags: s.tags.unwrap_or_default(),
        })
    }

    /// Find the snapshot a finished droplet action made, by name.
    async fn find_droplet_snapshot(&self, pending: &Pending) -> Result<Option<String>> {
        let op = format!("find the new snapshot of droplet {}", pending.resource_id);
        let path = format!("/v2/droplets/{}/snapshots", pending.resource_id);
        let snaps: Vec<DropletSnapshot> = self.http.list(&op, &path, &[], "snapshots").await?;
        // Several with the same (manual) name: the newest is ours.
        Ok(snaps
            .into_iter()
            .filter(|s| s.name == pending.name)
            .max_by_key(|s| parse_time(&s.created_at))
            .map(|s| s.id))
    }

    /// Tag a droplet snapshot (an image). Tag creation is repeatable.
    async fn tag_image(&self, snapshot_id: &str, tags: &[String]) -> Result<()> {
        for tag in tags {
            let op = format!("tag snapshot {snapshot_id}");
            match self
                .http
                .post_no_content(&op, "/v2/tags", &json!({ "name": tag }), Call::Idempotent)
                .await
            {
                Ok(()) => {}
                // An existing tag is fine.
                Err(e) if e.kind == ErrorKind::Rejected => {}
                Err(e) => return Err(e),
            }
            let body = json!({
                "resources": [{ "resource_id": snapshot_id, "resource_type": "image" }]
            });
            self.http
                .post_no_content(
                    &op,
                    &format!("/v2/tags/{tag}/resources"),
                    &body,
                    Call::Idempotent,
                )
                .await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Provider for DigitalOcean {
    fn kind(&self) -> ProviderKind {
        ProviderKind::DigitalOcean
    }

    fn clock_skew(&self) -> Option<chrono::TimeDelta> {
        self.http.clock_skew()
    }

    async fn list_resources(&self, kind: TargetKind) -> Result<Vec<Resource>> {
        self.check_kind(kind)?;
        if kind == TargetKind::Droplet {
            let droplets: Vec<Droplet> = self
                .http
                .list("list droplets", "/v2/droplets", &[], "droplets")
                .await?;
            Ok(droplets
                .into_iter()
                .map(|d| Resource {
                    id: d.id,
                    name: d.name,
                    kind,
                    tags: d.tags,
                    labels: Default::default(),
                    disk_gb: d.disk,
                    locked: d.locked,
                    status: d.status,
                    region: d.region.slug,
                })
                .collect())
        } else {
            let volumes: Vec<Volume> = self
                .http
                .list("list volumes", "/v2/volumes", &[], "volumes")
                .await?;
            Ok(volumes
                .into_iter()
                .map(|v| Resource {
                    id: v.id,
                    name: v.name,
                    kind,
                    tags: v.tags.unwrap_or_default(),
                    labels: Default::default(),
                    disk_gb: v.size_gigabytes,
                    locked: false,
                    status: String::new(),
                    region: region_slug(v.region),
                })
                .collect())
        }
    }

    async fn list_snapshots(
        &self,
        kind: TargetKind,
        scope: ListScope<'_>,
    ) -> Result<Vec<Snapshot>> {
        self.check_kind(kind)?;
        let op = format!("list {} snapshots", resource_type(kind));
        let query = [("resource_type".to_string(), resource_type(kind).to_string())];
        let raw: Vec<DoSnapshot> = self
            .http
            .list(&op, "/v2/snapshots", &query, "snapshots")
            .await?;
        let mut out = Vec::with_capacity(raw.len());
        for s in raw {
            let snap = self.snapshot_of(kind, s, &op)?;
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
        if resource.kind == TargetKind::Volume {
            // Volume snapshots are taken synchronously: nothing ever runs.
            return Ok(Vec::new());
        }
        // An uncompleted droplet action locks the droplet (spec, Droplet
        // Actions): the listing settles it for droplets in a settled state.
        let running = listed_in_progress(resource, listed);
        if !running.is_empty() || matches!(resource.status.as_str(), "active" | "off" | "archive") {
            return Ok(running);
        }
        // A droplet still `new` (or in a state this client does not know):
        // ask. Actions come newest first and one runs at a time, so the
        // first page settles it.
        let op = format!("check droplet {} for running actions", resource.id);
        let path = format!("/v2/droplets/{}/actions", resource.id);
        let query = [("per_page".to_string(), "20".to_string())];
        let page: ActionPage = self.http.get(&op, &path, &query).await?;
        let mut out: Vec<InProgress> = page
            .actions
            .into_iter()
            .filter(Action::running)
            .map(|a| InProgress {
                resource_id: resource.id.clone(),
                since: a.started_at.as_deref().and_then(parse_time),
                // The action does not carry the snapshot's name.
                marker: None,
                what: format!("{} action {}", a.kind, a.id.as_deref().unwrap_or("?")),
            })
            .collect();
        if out.is_empty() && resource.locked {
            out.push(InProgress::locked(resource));
        }
        Ok(out)
    }

    async fn create_snapshot(
        &self,
        resource: &Resource,
        name: &SnapshotName,
        tags: &[String],
    ) -> Result<Pending> {
        self.check_kind(resource.kind)?;
        let text = name.text();
        let started = self.http.clock().now();
        let op = format!(
            "create a snapshot of {} {}",
            resource_type(resource.kind),
            resource.id
        );
        if resource.kind == TargetKind::Volume {
            let mut body = json!({ "name": text });
            if !tags.is_empty() {
                body["tags"] = json!(tags);
            }
            let path = format!("/v2/volumes/{}/snapshots", resource.id);
            let reply: SnapshotCreated = self.http.post(&op, &path, &body, Call::Create).await?;
            let id = self
                .http
                .followable(&op, Created::id_of(reply.snapshot), "snapshot")?;
            return Ok(Pending {
                resource_id: resource.id.clone(),
                kind: resource.kind,
                name: text,
                snapshot_id: Some(id),
                action_id: None,
                started,
                disk_gb: resource.disk_gb,
                ready: true,
            });
        }
        let body = json!({ "type": "snapshot", "name": text });
        let path = format!("/v2/droplets/{}/actions", resource.id);
        let reply: ActionCreated = self.http.post(&op, &path, &body, Call::Create).await?;
        let action_id = self
            .http
            .followable(&op, Created::id_of(reply.action), "action")?;
        if !tags.is_empty() {
            self.tags_after
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(action_id.clone(), tags.to_vec());
        }
        Ok(Pending {
            resource_id: resource.id.clone(),
            kind: resource.kind,
            name: text,
            snapshot_id: None,
            action_id: Some(action_id),
            started,
            disk_gb: resource.disk_gb,
            ready: false,
        })
    }

    async fn poll(&self, pending: &Pending) -> Result<Progress> {
        let op = format!(
            "check the snapshot of {} {}",
            resource_type(pending.kind),
            pending.resource_id
        );
        let Some(action_id) = &pending.action_id else {
            // Volume snapshots are complete when the create call returns.
            return match &pending.snapshot_id {
                Some(id) => Ok(Progress::Done {
                    snapshot_id: id.clone(),
                }),
                None => Err(self.http.error(
                    &op,
                    ErrorKind::Rejected,
                    "pending snapshot has neither an action nor a snapshot id",
                )),
            };
        };
        let reply: ActionReply = self
            .http
            .get_poll(&op, &format!("/v2/actions/{action_id}"), &[])
            .await?;
        match action_status(reply.action.as_ref()) {
            "in-progress" => Ok(Progress::Running { percent: None }),
            "errored" => Ok(Progress::Failed {
                reason: format!("snapshot action {action_id} errored"),
            }),
            "completed" => {
                let Some(id) = self.find_droplet_snapshot(pending).await? else {
                    // Finished, but not listed yet: look again.
                    return Ok(Progress::Running { percent: Some(100) });
                };
                let tags = self
                    .tags_after
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(action_id);
                if let Some(tags) = tags
                    && let Err(e) = self.tag_image(&id, &tags).await
                {
                    tracing::warn!(
                        account = %self.http.account(),
                        snapshot = %id,
                        error = %e,
                        "snapshot taken but not tagged"
                    );
                }
                Ok(Progress::Done { snapshot_id: id })
            }
            other => Err(self.http.error(
                &op,
                ErrorKind::Decode,
                format!("unknown action status {other:?}"),
            )),
        }
    }

    async fn delete_snapshot(&self, snapshot: &Snapshot) -> Result<()> {
        let op = format!("delete snapshot {}", snapshot.id);
        self.http
            .delete(&op, &format!("/v2/snapshots/{}", snapshot.id))
            .await
    }

    async fn inventory(&self) -> Result<Inventory> {
        // (section, path, query, key, name, region, status pointers)
        type Spec = (
            &'static str,
            &'static str,
            &'static [(&'static str, &'static str)],
            &'static str,
            &'static [&'static str],
            &'static [&'static str],
            &'static [&'static str],
        );
        const SECTIONS: &[Spec] = &[
            (
                "droplets",
                "/v2/droplets",
                &[],
                "droplets",
                &["/name"],
                &["/region/slug"],
                &["/status"],
            ),
            (
                "volumes",
                "/v2/volumes",
                &[],
                "volumes",
                &["/name"],
                &["/region/slug"],
                &[],
            ),
            (
                "snapshots",
                "/v2/snapshots",
                &[],
                "snapshots",
                &["/name"],
                &["/regions/0"],
                &[],
            ),
            (
                "images",
                "/v2/images",
                &[("private", "true")],
                "images",
                &["/name"],
                &["/regions/0"],
                &["/status"],
            ),
            (
                "load_balancers",
                "/v2/load_balancers",
                &[],
                "load_balancers",
                &["/name"],
                &["/region/slug"],
                &["/status"],
            ),
            (
                "firewalls",
                "/v2/firewalls",
                &[],
                "firewalls",
                &["/name"],
                &[],
                &["/status"],
            ),
            (
                "kubernetes_clusters",
                "/v2/kubernetes/clusters",
                &[],
                "kubernetes_clusters",
                &["/name"],
                &["/region"],
                &["/status/state"],
            ),
            (
                "cdn_endpoints",
                "/v2/cdn/endpoints",
                &[],
                "endpoints",
                &["/endpoint", "/origin"],
                &[],
                &[],
            ),
        ];
        let mut inventory = Inventory::default();
        for (kind, path, query, key, name, region, status) in SECTIONS {
            let op = format!("list {}", kind.replace('_', " "));
            let query: Vec<(String, String)> = query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let mut items: Vec<Value> = self.http.list(&op, path, &query, key).await?;
            if *kind == "images" {
                // Droplet snapshots are private images too; they are already
                // in the snapshots section, so images shows the rest (custom
                // images and backups).
                items.retain(|v| v.get("type").and_then(Value::as_str) != Some("snapshot"));
            }
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
