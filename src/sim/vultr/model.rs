//! The simulated Vultr world: accounts, their API keys, instances, snapshots
//! and read-only inventory, and how each renders as the spec's JSON object.
//!
//! Owns lazy completion of pending snapshots. Must never: put a source
//! instance id into a rendered snapshot (Vultr's snapshot object has none;
//! only the state dump shows it), or read the wall clock itself (`now` is a
//! parameter).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Vultr's timestamp format, as in the spec examples (`2020-10-10T01:56:20+00:00`).
pub fn vultr_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// A new lower-case UUID v4, Vultr's id format for instances, snapshots,
/// load balancers, firewall groups, clusters and block storage.
pub fn new_uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// One API key.
#[derive(Debug, Clone)]
pub struct Key {
    /// Index of the account in [`World::accounts`].
    pub account: usize,
    /// A sub-user with only `subscriptions_view`: writes are refused with 403.
    pub read_only: bool,
}

/// A VPS instance (fields as in the spec's `instance` schema and examples).
#[derive(Debug, Clone)]
pub struct Instance {
    /// Creation order, for cursors.
    pub seq: u64,
    /// UUID.
    pub id: String,
    /// User label.
    pub label: String,
    /// Host name.
    pub hostname: String,
    /// Tags (`tags[]`).
    pub tags: Vec<String>,
    /// Region id (`ewr`, `fra`, …).
    pub region: String,
    /// Disk size in GB.
    pub disk: u64,
    /// RAM in MB.
    pub ram: u64,
    /// vCPUs.
    pub vcpu_count: u64,
    /// Plan id.
    pub plan: String,
    /// OS name.
    pub os: String,
    /// OS id.
    pub os_id: i64,
    /// Application id.
    pub app_id: i64,
    /// Main IPv4.
    pub main_ip: String,
    /// Linked firewall group, or "".
    pub firewall_group_id: String,
    /// `active|pending|suspended|resizing`.
    pub status: String,
    /// `running|stopped`.
    pub power_status: String,
    /// `none|locked|installingbooting|ok`.
    pub server_status: String,
    /// Created.
    pub date_created: DateTime<Utc>,
}

impl Instance {
    /// The spec's `instance` object.
    pub fn render(&self) -> Value {
        json!({
            "id": self.id,
            "os": self.os,
            "ram": self.ram,
            "disk": self.disk,
            "main_ip": self.main_ip,
            "vcpu_count": self.vcpu_count,
            "region": self.region,
            "plan": self.plan,
            "date_created": vultr_time(self.date_created),
            "status": self.status,
            "allowed_bandwidth": 1000,
            "netmask_v4": "255.255.254.0",
            "gateway_v4": gateway(&self.main_ip),
            "power_status": self.power_status,
            "server_status": self.server_status,
            "v6_networks": [],
            "label": self.label,
            "internal_ip": "",
            "kvm": format!("https://my.vultr.com/subs/vps/novnc/api.php?data=sim{}", &self.id[..8.min(self.id.len())]),
            "hostname": self.hostname,
            "os_id": self.os_id,
            "app_id": self.app_id,
            "image_id": "",
            "firewall_group_id": self.firewall_group_id,
            "features": [],
            "tags": self.tags,
            "user_scheme": "root",
        })
    }
}

fn gateway(ip: &str) -> String {
    match ip.rsplit_once('.') {
        Some((net, _)) => format!("{net}.1"),
        None => String::new(),
    }
}

/// What will become of a pending snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// Becomes `complete` at `complete_at`.
    Complete,
    /// Injected `action_error`: vanishes at `complete_at` (Vultr has no
    /// failure status; a failed snapshot is simply gone).
    Vanish,
    /// Injected `action_stuck`: stays `pending` for ever.
    Stuck,
}

/// A snapshot.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Creation order, for cursors.
    pub seq: u64,
    /// UUID.
    pub id: String,
    /// User text; the only link back to an instance that Vultr gives.
    pub description: String,
    /// Created.
    pub date_created: DateTime<Utc>,
    /// Size in bytes once complete.
    pub full_size: u64,
    /// `pending` or `complete`.
    pub complete: bool,
    /// When a pending snapshot settles.
    pub settle_at: Option<DateTime<Utc>>,
    /// What happens then.
    pub fate: Fate,
    /// OS id of the source.
    pub os_id: i64,
    /// Application id of the source.
    pub app_id: i64,
    /// Internal only (state dump): the instance it was taken from.
    pub source_instance: Option<String>,
}

impl Snapshot {
    /// The spec's `snapshot` object. No instance id. The examples (and the
    /// live API) also show `compressed_size`, which the schema does not
    /// declare; the simulator follows the schema and leaves it out.
    pub fn render(&self) -> Value {
        let (size, status) = if self.complete {
            (self.full_size, "complete")
        } else {
            (0, "pending")
        };
        json!({
            "id": self.id,
            "date_created": vultr_time(self.date_created),
            "description": self.description,
            "size": size,
            "status": status,
            "os_id": self.os_id,
            "app_id": self.app_id,
        })
    }

    /// Everything, for the state dump.
    pub fn dump(&self) -> Value {
        let mut v = self.render();
        if let Value::Object(m) = &mut v {
            m.insert("source_instance".into(), json!(self.source_instance));
            m.insert("fate".into(), json!(self.fate));
            m.insert(
                "settle_at".into(),
                json!(self.settle_at.map(|t| t.to_rfc3339())),
            );
        }
        v
    }
}

/// A read-only inventory item, already rendered.
#[derive(Debug, Clone)]
pub struct Item {
    /// Creation order, for cursors.
    pub seq: u64,
    /// Its id.
    pub id: String,
    /// The spec object.
    pub json: Value,
}

/// One Vultr account.
#[derive(Debug, Clone, Default)]
pub struct Account {
    /// Seed name.
    pub name: String,
    /// Instances, in creation order.
    pub instances: Vec<Instance>,
    /// Snapshots, in creation order.
    pub snapshots: Vec<Snapshot>,
    /// Most snapshots the account may hold (creates beyond it: 400).
    pub snapshot_limit: Option<usize>,
    /// `/load-balancers`.
    pub load_balancers: Vec<Item>,
    /// `/firewalls`.
    pub firewalls: Vec<Item>,
    /// `/kubernetes/clusters`.
    pub clusters: Vec<Item>,
    /// `/blocks`.
    pub blocks: Vec<Item>,
}

impl Account {
    /// Settle every pending snapshot whose time has come.
    pub fn settle(&mut self, now: DateTime<Utc>) {
        self.snapshots.retain_mut(|s| {
            if s.complete {
                return true;
            }
            match (s.fate, s.settle_at) {
                (Fate::Complete, Some(t)) if t <= now => {
                    s.complete = true;
                    true
                }
                (Fate::Vanish, Some(t)) if t <= now => false,
                _ => true,
            }
        });
    }

    /// Whether `instance` has a snapshot still pending.
    pub fn has_pending(&self, instance: &str) -> bool {
        self.snapshots
            .iter()
            .any(|s| !s.complete && s.source_instance.as_deref() == Some(instance))
    }

    fn dump(&self) -> Value {
        let items = |v: &[Item]| v.iter().map(|i| i.json.clone()).collect::<Vec<_>>();
        json!({
            "name": self.name,
            "snapshot_limit": self.snapshot_limit,
            "instances": self.instances.iter().map(Instance::render).collect::<Vec<_>>(),
            "snapshots": self.snapshots.iter().map(Snapshot::dump).collect::<Vec<_>>(),
            "load_balancers": items(&self.load_balancers),
            "firewalls": items(&self.firewalls),
            "kubernetes_clusters": items(&self.clusters),
            "blocks": items(&self.blocks),
        })
    }
}

/// All simulated Vultr state.
#[derive(Debug, Default)]
pub struct World {
    /// Accounts.
    pub accounts: Vec<Account>,
    /// API key text -> key.
    pub keys: HashMap<String, Key>,
    /// Every id ever issued -> its creation sequence number (cursors).
    pub seq_of: HashMap<String, u64>,
    next_seq: u64,
}

impl World {
    /// Register a new id and return its sequence number.
    pub fn issue(&mut self, id: &str) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.seq_of.insert(id.to_string(), seq);
        seq
    }

    /// Whether an id is already in use.
    pub fn known(&self, id: &str) -> bool {
        self.seq_of.contains_key(id)
    }

    /// The state dump (after settling everything at `now`).
    pub fn dump(&mut self, now: DateTime<Utc>) -> Value {
        for a in &mut self.accounts {
            a.settle(now);
        }
        json!({ "accounts": self.accounts.iter().map(Account::dump).collect::<Vec<_>>() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(fate: Fate, settle_at: Option<DateTime<Utc>>) -> Snapshot {
        Snapshot {
            seq: 0,
            id: new_uuid(),
            description: "d".into(),
            date_created: DateTime::UNIX_EPOCH,
            full_size: 8,
            complete: false,
            settle_at,
            fate,
            os_id: 1,
            app_id: 0,
            source_instance: Some("i".into()),
        }
    }

    #[test]
    fn settling_follows_fate() {
        let t = |s: i64| DateTime::UNIX_EPOCH + chrono::Duration::seconds(s);
        // (fate, settle_at, now, still listed, complete)
        let cases = [
            (Fate::Complete, Some(t(10)), t(5), true, false),
            (Fate::Complete, Some(t(10)), t(10), true, true),
            (Fate::Vanish, Some(t(10)), t(5), true, false),
            (Fate::Vanish, Some(t(10)), t(11), false, false),
            (Fate::Stuck, None, t(1_000_000), true, false),
        ];
        for (fate, at, now, listed, complete) in cases {
            let mut a = Account {
                snapshots: vec![snap(fate, at)],
                ..Account::default()
            };
            a.settle(now);
            assert_eq!(a.snapshots.len() == 1, listed, "{fate:?}");
            if listed {
                assert_eq!(a.snapshots[0].complete, complete, "{fate:?}");
                assert_eq!(a.has_pending("i"), !complete);
            }
        }
    }

    #[test]
    fn rendered_snapshot_has_no_instance_link_and_zero_size_while_pending() {
        let s = snap(Fate::Complete, None);
        let v = s.render();
        assert_eq!(v["status"], "pending");
        assert_eq!(v["size"], 0);
        assert!(v.get("instance_id").is_none() && v.get("source_instance").is_none());
        assert_eq!(s.dump()["source_instance"], "i");
    }

    #[test]
    fn uuid_and_time_formats() {
        let id = new_uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        assert_eq!(
            vultr_time(DateTime::UNIX_EPOCH),
            "1970-01-01T00:00:00+00:00"
        );
    }
}
