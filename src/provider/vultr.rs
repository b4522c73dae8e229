//! Vultr API v2 client: instances, their snapshots, and the account
//! inventory.
//!
//! Owns what is Vultr-specific: the snapshot has no instance id, so the
//! marker in the description is the only link back to the instance (manual
//! snapshots therefore have no resource id); snapshot status `pending` →
//! `complete`; in-progress detection through pending snapshots whose marker
//! names the instance. Must never: write anything but the marker as a managed
//! snapshot's description, or repeat a create that may have reached Vultr.

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{ClientOptions, Http};
use super::paging::Scheme;
use super::retry::Call;
use super::{
    Created, ErrorKind, InProgress, Inventory, InventorySection, ListScope, Pending, Progress,
    Provider, Resource, Result, Snapshot, SnapshotName, created_or_fallback, id_text,
    inventory_item, listed_in_progress, parse_time, unsupported,
};
use crate::config::{ProviderKind, TargetKind};
use crate::policy::{Marker, SnapState};

/// A Vultr account's client.
#[derive(Debug)]
pub struct Vultr {
    http: Http,
}

// Vultr's schemas require no field at all: everything has a safe default
// except the id, without which nothing can be acted on.

/// `instance`.
#[derive(Debug, Deserialize)]
struct Instance {
    #[serde(deserialize_with = "id_text")]
    id: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    disk: u64,
    #[serde(default)]
    status: String,
    #[serde(default)]
    server_status: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// `snapshot`. A missing `status` is `pending` (in progress, poll it,
/// never complete); a missing or unreadable `date_created` (the spec gives it
/// no format) falls back as [`created_or_fallback`] says.
#[derive(Debug, Deserialize)]
struct VultrSnapshot {
    #[serde(deserialize_with = "id_text")]
    id: String,
    #[serde(default)]
    date_created: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    status: Option<String>,
}

impl VultrSnapshot {
    fn status(&self) -> &str {
        self.status.as_deref().unwrap_or("pending")
    }
}

/// `GET /snapshots/{id}`: `snapshot` is optional in the spec.
#[derive(Debug, Deserialize)]
struct SnapshotReply {
    #[serde(default)]
    snapshot: Option<VultrSnapshot>,
}

/// The 201 of `POST /snapshots`: only the snapshot id is needed.
#[derive(Debug, Deserialize)]
struct SnapshotCreated {
    #[serde(default)]
    snapshot: Option<Created>,
}

const GB: f64 = 1024.0 * 1024.0 * 1024.0;

impl Vultr {
    /// A client for `account` at `base` (e.g. `https://api.vultr.com/v2`).
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
            http: Http::new(Scheme::Vultr, account, base, token, options)?,
        })
    }

    fn check_kind(&self, kind: TargetKind) -> Result<()> {
        if kind == TargetKind::Instance {
            Ok(())
        } else {
            Err(unsupported(self.http.account(), ProviderKind::Vultr, kind))
        }
    }

    async fn all_snapshots(&self) -> Result<Vec<Snapshot>> {
        let op = "list snapshots";
        let raw: Vec<VultrSnapshot> = self.http.list(op, "/snapshots", &[], "snapshots").await?;
        let listed_at = self.http.clock().now();
        let mut out = Vec::with_capacity(raw.len());
        for s in raw {
            let state = match s.status() {
                "complete" => SnapState::Complete,
                "pending" => SnapState::InProgress,
                // Being removed: not a snapshot any more.
                "deleted" => continue,
                _ => SnapState::Failed,
            };
            let date = s.date_created.as_deref().and_then(parse_time);
            if date.is_none() {
                tracing::warn!(
                    account = %self.http.account(),
                    snapshot = %s.id,
                    date_created = ?s.date_created,
                    "snapshot has no readable date_created, using its marker's time or the listing time"
                );
            }
            let marker = Marker::parse(&s.description);
            let created = created_or_fallback(date, marker.as_ref(), listed_at);
            out.push(Snapshot {
                resource_id: marker.as_ref().map(|m| m.resource_id.clone()),
                marker,
                id: s.id,
                name: s.description,
                kind: TargetKind::Instance,
                created,
                size_gb: s.size.filter(|&b| b > 0).map(|b| b as f64 / GB),
                state,
                protected: false,
                tags: Vec::new(),
            });
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl Provider for Vultr {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Vultr
    }

    fn clock_skew(&self) -> Option<chrono::TimeDelta> {
        self.http.clock_skew()
    }

    async fn list_resources(&self, kind: TargetKind) -> Result<Vec<Resource>> {
        self.check_kind(kind)?;
        let instances: Vec<Instance> = self
            .http
            .list("list instances", "/instances", &[], "instances")
            .await?;
        Ok(instances
            .into_iter()
            .map(|i| Resource {
                id: i.id,
                name: i.label,
                kind,
                tags: i.tags.unwrap_or_default(),
                labels: Default::default(),
                disk_gb: i.disk,
                locked: i.server_status == "locked",
                status: i.status,
                region: i.region,
            })
            .collect())
    }

    async fn list_snapshots(
        &self,
        kind: TargetKind,
        scope: ListScope<'_>,
    ) -> Result<Vec<Snapshot>> {
        self.check_kind(kind)?;
        let mut all = self.all_snapshots().await?;
        all.retain(|s| scope.admits(s));
        Ok(all)
    }

    async fn in_progress(
        &self,
        resource: &Resource,
        listed: &[Snapshot],
    ) -> Result<Vec<InProgress>> {
        self.check_kind(resource.kind)?;
        // Pending snapshots are in the listing; a locked instance is
        // `server_status: locked` in the instance listing.
        Ok(listed_in_progress(resource, listed))
    }

    async fn create_snapshot(
        &self,
        resource: &Resource,
        name: &SnapshotName,
        _tags: &[String],
    ) -> Result<Pending> {
        self.check_kind(resource.kind)?;
        let text = name.text();
        let started = self.http.clock().now();
        let op = format!("create a snapshot of instance {}", resource.id);
        let body = json!({ "instance_id": resource.id, "description": text });
        let reply: SnapshotCreated = self
            .http
            .post(&op, "/snapshots", &body, Call::Create)
            .await?;
        let id = self
            .http
            .followable(&op, Created::id_of(reply.snapshot), "snapshot")?;
        Ok(Pending {
            resource_id: resource.id.clone(),
            kind: resource.kind,
            name: text,
            snapshot_id: Some(id),
            action_id: None,
            started,
            disk_gb: resource.disk_gb,
            ready: false,
        })
    }

    async fn poll(&self, pending: &Pending) -> Result<Progress> {
        let op = format!("check the snapshot of instance {}", pending.resource_id);
        let Some(id) = &pending.snapshot_id else {
            return Err(self.http.error(
                &op,
                ErrorKind::Rejected,
                "pending snapshot has no snapshot id",
            ));
        };
        let reply: SnapshotReply = match self
            .http
            .get_poll(&op, &format!("/snapshots/{id}"), &[])
            .await
        {
            Ok(reply) => reply,
            // Vultr has no failure status: a snapshot that failed is
            // simply gone, and so is one deleted while being taken.
            Err(e) if e.kind == ErrorKind::NotFound => {
                return Ok(Progress::Failed {
                    reason: format!("snapshot {id} no longer exists"),
                });
            }
            Err(e) => return Err(e),
        };
        let status = reply
            .snapshot
            .as_ref()
            .map_or("pending", VultrSnapshot::status);
        match status {
            "pending" => Ok(Progress::Running { percent: None }),
            "complete" => Ok(Progress::Done {
                snapshot_id: id.clone(),
            }),
            "deleted" => Ok(Progress::Failed {
                reason: format!("snapshot {id} was deleted while being taken"),
            }),
            other => Ok(Progress::Failed {
                reason: format!("snapshot {id} has status {other:?}"),
            }),
        }
    }

    async fn delete_snapshot(&self, snapshot: &Snapshot) -> Result<()> {
        let op = format!("delete snapshot {}", snapshot.id);
        self.http
            .delete(&op, &format!("/snapshots/{}", snapshot.id))
            .await
    }

    async fn inventory(&self) -> Result<Inventory> {
        let mut inventory = Inventory::default();
        let sections: &[(&str, &str, &str, &[&str], &[&str], &[&str])] = &[
            (
                "instances",
                "/instances",
                "instances",
                &["/label", "/hostname"],
                &["/region"],
                &["/status"],
            ),
            (
                "snapshots",
                "/snapshots",
                "snapshots",
                &["/description"],
                &[],
                &["/status"],
            ),
            (
                "block_storage",
                "/blocks",
                "blocks",
                &["/label"],
                &["/region"],
                &["/status"],
            ),
            (
                "load_balancers",
                "/load-balancers",
                "load_balancers",
                &["/label"],
                &["/region"],
                &["/status"],
            ),
            (
                "firewalls",
                "/firewalls",
                "firewall_groups",
                &["/description"],
                &[],
                &[],
            ),
        ];
        for (kind, path, key, name, region, status) in sections {
            let op = format!("list {}", kind.replace('_', " "));
            let items: Vec<Value> = self.http.list(&op, path, &[], key).await?;
            inventory.sections.push(InventorySection {
                kind: kind.to_string(),
                items: items
                    .iter()
                    .map(|v| inventory_item(v, name, region, status))
                    .collect(),
            });
        }
        // The cluster list takes no paging parameters.
        let op = "list kubernetes clusters";
        let body: Value = self.http.get(op, "/kubernetes/clusters", &[]).await?;
        let clusters = body
            .get("vke_clusters")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                self.http.error(
                    op,
                    ErrorKind::Decode,
                    "the answer has no `vke_clusters` list",
                )
            })?;
        inventory.sections.push(InventorySection {
            kind: "kubernetes_clusters".into(),
            items: clusters
                .iter()
                .map(|v| inventory_item(v, &["/label"], &["/region"], &["/status"]))
                .collect(),
        });
        Ok(inventory)
    }
}
