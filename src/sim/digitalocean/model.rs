//! The simulated DigitalOcean's state: droplets, volumes, snapshots, droplet
//! actions, tags and read-only inventory, per account (team), and how each is
//! rendered as the spec's JSON.
//!
//! Owns the rules of the pessimistic case: a droplet snapshot exists only
//! once its action completed (until then it is listed nowhere, the droplet is
//! `locked`), and then carries the action's name and start time. Completion is
//! evaluated lazily by [`State::settle`] whenever state is read. Must never:
//! sleep, read the wall clock (callers pass `now`), or know about HTTP.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// Region slugs the spec's `region_slug` enum allows, with display names.
pub(super) const REGIONS: &[(&str, &str)] = &[
    ("ams1", "Amsterdam 1"),
    ("ams2", "Amsterdam 2"),
    ("ams3", "Amsterdam 3"),
    ("blr1", "Bangalore 1"),
    ("fra1", "Frankfurt 1"),
    ("lon1", "London 1"),
    ("nyc1", "New York 1"),
    ("nyc2", "New York 2"),
    ("nyc3", "New York 3"),
    ("sfo1", "San Francisco 1"),
    ("sfo2", "San Francisco 2"),
    ("sfo3", "San Francisco 3"),
    ("sgp1", "Singapore 1"),
    ("tor1", "Toronto 1"),
    ("syd1", "Sydney 1"),
];

/// How many snapshots one volume may hold (DigitalOcean product limit).
pub(super) const VOLUME_SNAPSHOT_LIMIT: usize = 25;

/// Public distribution images every account sees (not snapshots).
pub(super) struct BaseImage {
    pub id: u64,
    pub slug: &'static str,
    pub name: &'static str,
    pub distribution: &'static str,
    pub created_at: &'static str,
}

/// The simulator's public images.
pub(super) const BASE_IMAGES: &[BaseImage] = &[
    BaseImage {
        id: 160_000_001,
        slug: "ubuntu-24-04-x64",
        name: "24.04 (LTS) x64",
        distribution: "Ubuntu",
        created_at: "2024-04-25T10:00:00Z",
    },
    BaseImage {
        id: 160_000_002,
        slug: "debian-12-x64",
        name: "12 x64",
        distribution: "Debian",
        created_at: "2023-06-12T10:00:00Z",
    },
];

/// A timestamp as the API writes it (`2020-07-21T18:37:44Z`).
pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A random version-4 UUID string.
pub(super) fn uuid() -> String {
    uuid_from(rand::random::<u128>())
}

/// Format 128 bits as a version-4 UUID.
pub(super) fn uuid_from(n: u128) -> String {
    let n = (n & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A droplet.
#[derive(Debug, Clone)]
pub(super) struct Droplet {
    pub account: String,
    pub id: u64,
    pub name: String,
    pub region: String,
    pub size_slug: String,
    pub vcpus: u64,
    pub memory: u64,
    pub disk: u64,
    pub image: String,
    pub status: String,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// A block storage volume.
#[derive(Debug, Clone)]
pub(super) struct Volume {
    pub account: String,
    pub id: String,
    pub name: String,
    pub description: String,
    pub region: String,
    pub size_gigabytes: u64,
    pub droplet_ids: Vec<u64>,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// Droplet or volume snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Droplet,
    Volume,
}

impl Kind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Droplet => "droplet",
            Self::Volume => "volume",
        }
    }
}

/// A finished snapshot (in-progress droplet snapshots are [`Action`]s only).
#[derive(Debug, Clone)]
pub(super) struct Snapshot {
    pub account: String,
    /// Integer text for droplet snapshots (image ids), UUID for volumes.
    pub id: String,
    pub kind: Kind,
    pub resource_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub region: String,
    pub min_disk_size: u64,
    pub size_gigabytes: f64,
    pub tags: Vec<String>,
}

/// Status of a droplet action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ActionStatus {
    InProgress,
    Completed,
    Errored,
}

impl ActionStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in-progress",
            Self::Completed => "completed",
            Self::Errored => "errored",
        }
    }
}

/// A droplet action (only `snapshot` is simulated).
#[derive(Debug, Clone)]
pub(super) struct Action {
    pub account: String,
    pub id: u64,
    pub droplet_id: u64,
    pub kind: String,
    pub status: ActionStatus,
    pub started_at: DateTime<Utc>,
    /// When it will end; `None` when stuck (never ends).
    pub ends_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Ends `errored` instead of `completed`.
    pub fails: bool,
    pub region: String,
    /// The snapshot's name (for `snapshot` actions).
    pub snapshot_name: String,
    /// The image id of the snapshot it made, once completed.
    pub image_id: Option<u64>,
}

/// Inventory kinds served read-only.
pub(super) const INVENTORY_KINDS: &[&str] = &[
    "load_balancers",
    "firewalls",
    "kubernetes_clusters",
    "endpoints",
];

/// All of the simulated DigitalOcean.
#[derive(Debug, Default)]
pub(super) struct State {
    pub next_droplet: u64,
    pub next_action: u64,
    pub next_image: u64,
    pub droplets: Vec<Droplet>,
    pub volumes: Vec<Volume>,
    pub snapshots: Vec<Snapshot>,
    /// Only ever pushed to (ids and order are kept).
    pub actions: Vec<Action>,
    /// Every action before this index is finished: `settle` and `locked`
    /// look only from here (a fleet's 10,000 actions made every request
    /// scan them all).
    pub open_from: usize,
    /// account -> tag names.
    pub tags: BTreeMap<String, BTreeSet<String>>,
    /// account -> kind (response key) -> items.
    pub inventory: BTreeMap<String, BTreeMap<String, Vec<Value>>>,
}

impl State {
    /// An empty state with the simulator's id counters.
    pub(super) fn new() -> Self {
        Self {
            next_droplet: 300_000_001,
            next_action: 1_900_000_001,
            next_image: 170_000_001,
            ..Self::default()
        }
    }

    /// A fresh droplet id.
    pub(super) fn droplet_id(&mut self) -> u64 {
        let id = self.next_droplet;
        self.next_droplet += 1;
        id
    }

    /// A fresh image (droplet snapshot) id.
    pub(super) fn image_id(&mut self) -> u64 {
        let id = self.next_image;
        self.next_image += 1;
        id
    }

    /// A fresh action id.
    pub(super) fn action_id(&mut self) -> u64 {
        let id = self.next_action;
        self.next_action += 1;
        id
    }

    /// Finish every action whose end time has passed: a completed snapshot
    /// action makes its snapshot appear (name = the action's, created at the
    /// action's start); an errored one makes nothing.
    pub(super) fn settle(&mut self, now: DateTime<Utc>) {
        let mut made = Vec::new();
        for i in self.open_from..self.actions.len() {
            let a = &self.actions[i];
            let due = a.status == ActionStatus::InProgress && a.ends_at.is_some_and(|t| t <= now);
            if !due {
                continue;
            }
            let ends_at = a.ends_at;
            if a.fails {
                let a = &mut self.actions[i];
                a.status = ActionStatus::Errored;
                a.completed_at = ends_at;
                continue;
            }
            let image = self.image_id();
            let a = &mut self.actions[i];
            a.status = ActionStatus::Completed;
            a.completed_at = ends_at;
            a.image_id = Some(image);
            made.push((image, a.clone()));
        }
        while self
            .actions
            .get(self.open_from)
            .is_some_and(|a| a.status != ActionStatus::InProgress)
        {
            self.open_from += 1;
        }
        for (image, a) in made {
            let Some(d) = self.droplets.iter().find(|d| d.id == a.droplet_id) else {
                continue;
            };
            let snap = Snapshot {
                account: a.account.clone(),
                id: image.to_string(),
                kind: Kind::Droplet,
                resource_id: d.id.to_string(),
                name: a.snapshot_name.clone(),
                created_at: a.started_at,
                region: d.region.clone(),
                min_disk_size: d.disk,
                size_gigabytes: used_gb(d.disk),
                tags: Vec::new(),
            };
            self.snapshots.push(snap);
        }
    }

    /// Whether a droplet has an action in progress.
    pub(super) fn locked(&self, droplet_id: u64) -> bool {
        self.actions[self.open_from.min(self.actions.len())..]
            .iter()
            .any(|a| a.droplet_id == droplet_id && a.status == ActionStatus::InProgress)
    }

    /// Make sure a tag exists for an account.
    pub(super) fn ensure_tag(&mut self, account: &str, tag: &str) {
        self.tags
            .entry(account.to_string())
            .or_default()
            .insert(tag.to_string());
    }

    /// The droplet `id` of `account`.
    pub(super) fn droplet(&self, account: &str, id: u64) -> Option<&Droplet> {
        self.droplets
            .iter()
            .find(|d| d.id == id && d.account == account)
    }

    /// The volume `id` of `account`.
    pub(super) fn volume(&self, account: &str, id: &str) -> Option<&Volume> {
        self.volumes
            .iter()
            .find(|v| v.id == id && v.account == account)
    }

    /// The snapshot `id` of `account`.
    pub(super) fn snapshot(&self, account: &str, id: &str) -> Option<&Snapshot> {
        self.snapshots
            .iter()
            .find(|s| s.id == id && s.account == account)
    }

    /// Remove the snapshot `id` of `account` (only of kind `only`, when
    /// given); true when one was removed.
    pub(super) fn remove_snapshot(&mut self, account: &str, id: &str, only: Option<Kind>) -> bool {
        let before = self.snapshots.len();
        self.snapshots
            .retain(|s| !(s.id == id && s.account == account && only.is_none_or(|k| s.kind == k)));
        self.snapshots.len() < before
    }

    /// A droplet as the spec's `droplet` object.
    pub(super) fn droplet_json(&self, d: &Droplet) -> Value {
        let rid = d.id.to_string();
        let snapshot_ids: Vec<u64> = self
            .snapshots
            .iter()
            .filter(|s| s.kind == Kind::Droplet && s.resource_id == rid)
            .filter_map(|s| s.id.parse().ok())
            .collect();
        let volume_ids: Vec<&str> = self
            .volumes
            .iter()
            .filter(|v| v.droplet_ids.contains(&d.id))
            .map(|v| v.id.as_str())
            .collect();
        let octet = d.id % 250 + 2;
        json!({
            "id": d.id,
            "name": d.name,
            "memory": d.memory,
            "vcpus": d.vcpus,
            "disk": d.disk,
            "disk_info": [{"type": "local", "size": {"amount": d.disk, "unit": "gib"}}],
            "locked": self.locked(d.id),
            "status": d.status,
            "kernel": null,
            "created_at": ts(d.created_at),
            "features": ["monitoring", "droplet_agent", "private_networking"],
            "backup_ids": [],
            "next_backup_window": null,
            "snapshot_ids": snapshot_ids,
            "image": base_image_json(&d.image),
            "volume_ids": volume_ids,
            "size": size_json(d),
            "size_slug": d.size_slug,
            "networks": {
                "v4": [
                    {"ip_address": format!("203.0.113.{octet}"), "netmask": "255.255.255.0",
                     "gateway": "203.0.113.1", "type": "public"},
                    {"ip_address": format!("10.10.0.{octet}"), "netmask": "255.255.0.0",
                     "gateway": "10.10.0.1", "type": "private"}
                ],
                "v6": []
            },
            "region": region_json(&d.region),
            "tags": d.tags,
            "vpc_uuid": uuid_from(region_index(&d.region) as u128 + 0x5151_0000),
        })
    }

    /// A volume as the spec's `volume_full` object.
    pub(super) fn volume_json(&self, v: &Volume) -> Value {
        json!({
            "id": v.id,
            "droplet_ids": v.droplet_ids,
            "name": v.name,
            "description": v.description,
            "size_gigabytes": v.size_gigabytes,
            "created_at": ts(v.created_at),
            "tags": v.tags,
            "region": region_json(&v.region),
            "filesystem_type": "ext4",
            "filesystem_label": v.name.chars().take(16).collect::<String>(),
        })
    }
}

/// A snapshot as the spec's `snapshots` object (`/v2/snapshots`, string id).
pub(super) fn snapshot_json(s: &Snapshot) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "created_at": ts(s.created_at),
        "regions": [s.region],
        "min_disk_size": s.min_disk_size,
        "size_gigabytes": s.size_gigabytes,
        "resource_id": s.resource_id,
        "resource_type": s.kind.as_str(),
        "tags": s.tags,
    })
}

/// A droplet snapshot as `droplet_snapshot` (`/v2/droplets/{id}/snapshots`,
/// integer id).
pub(super) fn droplet_snapshot_json(s: &Snapshot) -> Value {
    json!({
        "id": s.id.parse::<u64>().unwrap_or_default(),
        "name": s.name,
        "created_at": ts(s.created_at),
        "regions": [s.region],
        "min_disk_size": s.min_disk_size,
        "size_gigabytes": s.size_gigabytes,
        "type": "snapshot",
    })
}

/// A droplet snapshot as a private `image`.
pub(super) fn snapshot_image_json(s: &Snapshot, distribution: &str) -> Value {
    json!({
        "id": s.id.parse::<u64>().unwrap_or_default(),
        "name": s.name,
        "type": "snapshot",
        "distribution": distribution,
        "slug": null,
        "public": false,
        "regions": [s.region],
        "created_at": ts(s.created_at),
        "min_disk_size": s.min_disk_size,
        "size_gigabytes": s.size_gigabytes,
        "description": "",
        "tags": s.tags,
        "status": "available",
        "error_message": "",
    })
}

/// A public base image by slug (the first one when unknown).
pub(super) fn base_image(slug: &str) -> Option<&'static BaseImage> {
    BASE_IMAGES
        .iter()
        .find(|b| b.slug == slug)
        .or_else(|| BASE_IMAGES.first())
}

/// A public base image as an `image` object.
pub(super) fn base_image_json(slug: &str) -> Value {
    let Some(b) = base_image(slug) else {
        return Value::Null;
    };
    json!({
        "id": b.id,
        "name": b.name,
        "type": "base",
        "distribution": b.distribution,
        "slug": b.slug,
        "public": true,
        "regions": REGIONS.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        "created_at": b.created_at,
        "min_disk_size": 7,
        "size_gigabytes": 2.36,
        "description": format!("{} {}", b.distribution, b.name),
        "tags": [],
        "status": "available",
        "error_message": "",
    })
}

fn region_index(slug: &str) -> usize {
    REGIONS.iter().position(|(s, _)| *s == slug).unwrap_or(0)
}

/// A region object.
pub(super) fn region_json(slug: &str) -> Value {
    let name = REGIONS
        .iter()
        .find(|(s, _)| *s == slug)
        .map_or(slug, |(_, n)| *n);
    json!({
        "name": name,
        "slug": slug,
        "features": ["backups", "ipv6", "metadata", "install_agent", "storage", "image_transfer"],
        "available": true,
        "sizes": ["s-1vcpu-1gb", "s-1vcpu-2gb", "s-2vcpu-2gb", "s-2vcpu-4gb", "s-4vcpu-8gb"],
    })
}

fn size_json(d: &Droplet) -> Value {
    let monthly = (d.memory as f64 / 1024.0 * 6.0).round();
    json!({
        "slug": d.size_slug,
        "memory": d.memory,
        "vcpus": d.vcpus,
        "disk": d.disk,
        "transfer": (d.memory as f64 / 1024.0).max(1.0),
        "price_monthly": monthly,
        "price_hourly": (monthly / 672.0 * 1e6).round() / 1e6,
        "regions": [d.region],
        "available": true,
        "description": "Basic",
    })
}

/// The stored size of a snapshot of a disk: about 40% of it, two decimals.
pub(super) fn used_gb(disk: u64) -> f64 {
    (disk as f64 * 0.4 * 100.0).round() / 100.0
}

/// An action as the spec's `action` object.
pub(super) fn action_json(a: &Action) -> Value {
    json!({
        "id": a.id,
        "status": a.status.as_str(),
        "type": a.kind,
        "started_at": ts(a.started_at),
        "completed_at": a.completed_at.map(ts),
        "resource_id": a.droplet_id,
        "resource_type": "droplet",
        "region": region_json(&a.region),
        "region_slug": a.region,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap_or_default()
    }

    fn state_with_droplet() -> State {
        let mut st = State::new();
        st.droplets.push(Droplet {
            account: "a".into(),
            id: 7,
            name: "web".into(),
            region: "nyc3".into(),
            size_slug: "s-1vcpu-1gb".into(),
            vcpus: 1,
            memory: 1024,
            disk: 25,
            image: "ubuntu-24-04-x64".into(),
            status: "active".into(),
            tags: vec![],
            created_at: t(0),
        });
        st
    }

    fn action(st: &mut State, ends: Option<i64>, fails: bool) -> u64 {
        let id = st.action_id();
        st.actions.push(Action {
            account: "a".into(),
            id,
            droplet_id: 7,
            kind: "snapshot".into(),
            status: ActionStatus::InProgress,
            started_at: t(10),
            ends_at: ends.map(t),
            completed_at: None,
            fails,
            region: "nyc3".into(),
            snapshot_name: "snap".into(),
            image_id: None,
        });
        id
    }

    #[test]
    fn settle_cases() {
        // (ends_at, fails, settle at, want status, want snapshots, want locked)
        let cases = [
            (Some(100), false, 99, ActionStatus::InProgress, 0, true),
            (Some(100), false, 100, ActionStatus::Completed, 1, false),
            (Some(100), true, 500, ActionStatus::Errored, 0, false),
            (None, false, 1_000_000, ActionStatus::InProgress, 0, true),
        ];
        for (ends, fails, at, status, snaps, locked) in cases {
            let mut st = state_with_droplet();
            action(&mut st, ends, fails);
            st.settle(t(at));
            assert_eq!(st.actions[0].status, status, "{ends:?} {fails} {at}");
            assert_eq!(st.snapshots.len(), snaps);
            assert_eq!(st.locked(7), locked);
        }
    }

    #[test]
    fn completed_snapshot_takes_action_name_and_start() {
        let mut st = state_with_droplet();
        action(&mut st, Some(100), false);
        st.settle(t(200));
        let s = &st.snapshots[0];
        assert_eq!((s.name.as_str(), s.created_at), ("snap", t(10)));
        assert_eq!(st.actions[0].completed_at, Some(t(100)));
        assert_eq!(
            st.actions[0].image_id.map(|i| i.to_string()),
            Some(s.id.clone())
        );
        // Settling again makes nothing new.
        st.settle(t(300));
        assert_eq!(st.snapshots.len(), 1);
    }

    #[test]
    fn uuid_shape() {
        let u = uuid_from(0);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_eq!(
            u.split('-').map(str::len).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
    }
}
