//! The `digitalocean:` seed section: accounts (teams) with tokens, droplets,
//! volumes, their pre-existing snapshots, and read-only inventory, turned into
//! the initial [`State`].
//!
//! Owns the seed format and its validation (messages name the field). Must
//! never: accept unknown fields, or let a token belong to two accounts.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::model::{
    Action, ActionStatus, Droplet, Kind, REGIONS, Snapshot, State, Volume, base_image, ts, used_gb,
    uuid, uuid_from,
};
use crate::sim::TokenInfo;
use crate::sim::core::Core;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    #[serde(default)]
    accounts: Vec<SeedAccount>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedAccount {
    name: String,
    #[serde(default)]
    tokens: Vec<SeedToken>,
    #[serde(default)]
    droplets: Vec<SeedDroplet>,
    #[serde(default)]
    volumes: Vec<SeedVolume>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    load_balancers: Vec<SeedLoadBalancer>,
    #[serde(default)]
    firewalls: Vec<SeedFirewall>,
    #[serde(default)]
    kubernetes_clusters: Vec<SeedCluster>,
    #[serde(default)]
    cdn_endpoints: Vec<SeedCdn>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedToken {
    token: String,
    #[serde(default)]
    read_only: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedDroplet {
    #[serde(default)]
    id: Option<u64>,
    name: String,
    #[serde(default = "default_region")]
    region: String,
    #[serde(default = "default_size")]
    size_slug: String,
    #[serde(default = "one")]
    vcpus: u64,
    #[serde(default = "default_memory")]
    memory: u64,
    #[serde(default = "default_disk")]
    disk: u64,
    #[serde(default = "default_image")]
    image: String,
    #[serde(default = "default_status")]
    status: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    snapshots: Vec<SeedSnapshot>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedVolume {
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default = "default_region")]
    region: String,
    #[serde(default = "default_volume_size")]
    size_gigabytes: u64,
    #[serde(default)]
    description: String,
    /// Name of the droplet (same account) it is attached to.
    #[serde(default)]
    attached_to: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    snapshots: Vec<SeedSnapshot>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
enum SeedStatus {
    #[default]
    Available,
    InProgress,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedSnapshot {
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    size_gigabytes: Option<f64>,
    #[serde(default)]
    tags: Vec<String>,
    /// `in_progress` (droplets only): a snapshot action started at
    /// `created_at` that is still running.
    #[serde(default)]
    status: SeedStatus,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedLoadBalancer {
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default = "default_region")]
    region: String,
    #[serde(default)]
    droplets: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFirewall {
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedCluster {
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default = "default_region")]
    region: String,
    #[serde(default = "default_k8s")]
    version: String,
    #[serde(default = "three")]
    nodes: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedCdn {
    #[serde(default)]
    id: Option<String>,
    origin: String,
    #[serde(default = "default_ttl")]
    ttl: u64,
}

fn default_region() -> String {
    "nyc3".into()
}
fn default_size() -> String {
    "s-1vcpu-1gb".into()
}
fn default_image() -> String {
    "ubuntu-24-04-x64".into()
}
fn default_status() -> String {
    "active".into()
}
fn default_k8s() -> String {
    "1.31.1-do.3".into()
}
fn one() -> u64 {
    1
}
fn three() -> u64 {
    3
}
fn default_memory() -> u64 {
    1024
}
fn default_disk() -> u64 {
    25
}
fn default_volume_size() -> u64 {
    100
}
fn default_ttl() -> u64 {
    3600
}

/// Tag names the API accepts (`tag_id` pattern, at most 255 characters).
pub(super) fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 255
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':'))
}

fn check_region(field: &str, region: &str) -> Result<(), String> {
    if REGIONS.iter().any(|(s, _)| *s == region) {
        Ok(())
    } else {
        Err(format!(
            "{field}: unknown region {region:?} (the spec's region_slug enum: {})",
            REGIONS
                .iter()
                .map(|(s, _)| *s)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

fn check_tags(field: &str, tags: &[String]) -> Result<(), String> {
    match tags.iter().find(|t| !valid_tag(t)) {
        Some(t) => Err(format!(
            "{field}: invalid tag {t:?} (letters, digits, ':', '-', '_'; at most 255)"
        )),
        None => Ok(()),
    }
}

/// Parse the seed section into tokens and the initial state.
///
/// # Errors
/// A message naming the offending field.
pub(super) fn load(
    core: &Core,
    seed: Option<&yaml_serde::Value>,
) -> Result<(Vec<TokenInfo>, State), String> {
    let section: Section = match seed {
        None => Section::default(),
        Some(v) => yaml_serde::from_value(v.clone()).map_err(|e| format!("digitalocean: {e}"))?,
    };
    let now = core.clock.now();
    let mut st = State::new();
    let mut tokens: Vec<TokenInfo> = Vec::new();
    let mut names = BTreeSet::new();
    let mut droplet_ids = BTreeSet::new();
    let mut volume_ids = BTreeSet::new();
    let mut snapshot_ids = BTreeSet::new();
    for (ai, acc) in section.accounts.into_iter().enumerate() {
        let at = format!("accounts[{ai}]");
        if acc.name.is_empty() || !names.insert(acc.name.clone()) {
            return Err(format!(
                "{at}.name: account name {:?} is empty or used twice",
                acc.name
            ));
        }
        for (ti, t) in acc.tokens.iter().enumerate() {
            if t.token.is_empty() || tokens.iter().any(|x| x.token == t.token) {
                return Err(format!(
                    "{at}.tokens[{ti}].token: empty, or already belongs to an account"
                ));
            }
            tokens.push(TokenInfo {
                account: acc.name.clone(),
                token: t.token.clone(),
                read_only: t.read_only,
            });
        }
        check_tags(&format!("{at}.tags"), &acc.tags)?;
        for t in &acc.tags {
            st.ensure_tag(&acc.name, t);
        }
        for (di, d) in acc.droplets.iter().enumerate() {
            let f = format!("{at}.droplets[{di}]");
            check_region(&format!("{f}.region"), &d.region)?;
            check_tags(&format!("{f}.tags"), &d.tags)?;
            if !["new", "active", "off", "archive"].contains(&d.status.as_str()) {
                return Err(format!(
                    "{f}.status: {:?} is not one of new, active, off, archive",
                    d.status
                ));
            }
            if base_image(&d.image).is_none_or(|b| b.slug != d.image) {
                return Err(format!(
                    "{f}.image: unknown image slug {:?} (ubuntu-24-04-x64 or debian-12-x64)",
                    d.image
                ));
            }
            let id = match d.id {
                Some(0) => return Err(format!("{f}.id: must be at least 1")),
                Some(id) => id,
                None => st.droplet_id(),
            };
            if !droplet_ids.insert(id) {
                return Err(format!("{f}.id: droplet id {id} used twice"));
            }
            let created = d.created_at.unwrap_or(now - Duration::days(90));
            for t in &d.tags {
                st.ensure_tag(&acc.name, t);
            }
            st.droplets.push(Droplet {
                account: acc.name.clone(),
                id,
                name: d.name.clone(),
                region: d.region.clone(),
                size_slug: d.size_slug.clone(),
                vcpus: d.vcpus,
                memory: d.memory,
                disk: d.disk,
                image: d.image.clone(),
                status: d.status.clone(),
                tags: d.tags.clone(),
                created_at: created,
            });
            for (si, s) in d.snapshots.iter().enumerate() {
                let sf = format!("{f}.snapshots[{si}]");
                check_tags(&format!("{sf}.tags"), &s.tags)?;
                let at_time = s.created_at.unwrap_or(now - Duration::days(1));
                if s.status == SeedStatus::InProgress {
                    if s.id.is_some() {
                        return Err(format!(
                            "{sf}.id: an in-progress droplet snapshot has no id until it completes"
                        ));
                    }
                    let aid = st.action_id();
                    st.actions.push(Action {
                        account: acc.name.clone(),
                        id: aid,
                        droplet_id: id,
                        kind: "snapshot".into(),
                        status: ActionStatus::InProgress,
                        started_at: at_time,
                        ends_at: Some(at_time + core.snapshot_duration(d.disk as f64)),
                        completed_at: None,
                        fails: false,
                        region: d.region.clone(),
                        snapshot_name: s.name.clone(),
                        image_id: None,
                    });
                    continue;
                }
                let sid = match &s.id {
                    Some(x) if x.parse::<u64>().is_ok_and(|n| n > 0) => x.clone(),
                    Some(x) => {
                        return Err(format!(
                            "{sf}.id: droplet snapshot ids are integers, got {x:?}"
                        ));
                    }
                    None => st.image_id().to_string(),
                };
                if !snapshot_ids.insert(sid.clone()) {
                    return Err(format!("{sf}.id: snapshot id {sid} used twice"));
                }
                for t in &s.tags {
                    st.ensure_tag(&acc.name, t);
                }
                st.snapshots.push(Snapshot {
                    account: acc.name.clone(),
                    id: sid,
                    kind: Kind::Droplet,
                    resource_id: id.to_string(),
                    name: s.name.clone(),
                    created_at: at_time,
                    region: d.region.clone(),
                    min_disk_size: d.disk,
                    size_gigabytes: s.size_gigabytes.unwrap_or(used_gb(d.disk)),
                    tags: s.tags.clone(),
                });
            }
        }
        for (vi, v) in acc.volumes.iter().enumerate() {
            let f = format!("{at}.volumes[{vi}]");
            check_region(&format!("{f}.region"), &v.region)?;
            check_tags(&format!("{f}.tags"), &v.tags)?;
            let id = v.id.clone().unwrap_or_else(uuid);
            if !volume_ids.insert(id.clone()) {
                return Err(format!("{f}.id: volume id {id} used twice"));
            }
            let droplet_ids: Vec<u64> = match &v.attached_to {
                None => Vec::new(),
                Some(name) => {
                    let d = st
                        .droplets
                        .iter()
                        .find(|d| d.account == acc.name && &d.name == name)
                        .ok_or_else(|| {
                            format!("{f}.attached_to: no droplet named {name:?} in this account")
                        })?;
                    if d.region != v.region {
                        return Err(format!(
                            "{f}.attached_to: droplet {name:?} is in {}, the volume in {}",
                            d.region, v.region
                        ));
                    }
                    vec![d.id]
                }
            };
            if v.snapshots.len() > super::model::VOLUME_SNAPSHOT_LIMIT {
                return Err(format!(
                    "{f}.snapshots: at most {} snapshots per volume",
                    super::model::VOLUME_SNAPSHOT_LIMIT
                ));
            }
            for t in &v.tags {
                st.ensure_tag(&acc.name, t);
            }
            st.volumes.push(Volume {
                account: acc.name.clone(),
                id: id.clone(),
                name: v.name.clone(),
                description: v.description.clone(),
                region: v.region.clone(),
                size_gigabytes: v.size_gigabytes,
                droplet_ids,
                tags: v.tags.clone(),
                created_at: v.created_at.unwrap_or(now - Duration::days(60)),
            });
            for (si, s) in v.snapshots.iter().enumerate() {
                let sf = format!("{f}.snapshots[{si}]");
                check_tags(&format!("{sf}.tags"), &s.tags)?;
                if s.status == SeedStatus::InProgress {
                    return Err(format!(
                        "{sf}.status: volume snapshots are created complete (no in_progress)"
                    ));
                }
                let sid = s.id.clone().unwrap_or_else(uuid);
                if !snapshot_ids.insert(sid.clone()) {
                    return Err(format!("{sf}.id: snapshot id {sid} used twice"));
                }
                for t in &s.tags {
                    st.ensure_tag(&acc.name, t);
                }
                st.snapshots.push(Snapshot {
                    account: acc.name.clone(),
                    id: sid,
                    kind: Kind::Volume,
                    resource_id: id.clone(),
                    name: s.name.clone(),
                    created_at: s.created_at.unwrap_or(now - Duration::days(1)),
                    region: v.region.clone(),
                    min_disk_size: v.size_gigabytes,
                    size_gigabytes: s.size_gigabytes.unwrap_or(used_gb(v.size_gigabytes)),
                    tags: s.tags.clone(),
                });
            }
        }
        let inv = inventory(&st, &acc, &at, now)?;
        st.inventory.insert(acc.name.clone(), inv);
    }
    // Keep generated ids clear of seeded ones.
    if let Some(max) = droplet_ids.iter().max() {
        st.next_droplet = st.next_droplet.max(max + 1);
    }
    if let Some(max) = snapshot_ids
        .iter()
        .filter_map(|s| s.parse::<u64>().ok())
        .max()
    {
        st.next_image = st.next_image.max(max + 1);
    }
    Ok((tokens, st))
}

fn droplet_ids_by_name(
    st: &State,
    account: &str,
    field: &str,
    names: &[String],
) -> Result<Vec<u64>, String> {
    names
        .iter()
        .map(|n| {
            st.droplets
                .iter()
                .find(|d| d.account == account && &d.name == n)
                .map(|d| d.id)
                .ok_or_else(|| format!("{field}: no droplet named {n:?} in this account"))
        })
        .collect()
}

fn inventory(
    st: &State,
    acc: &SeedAccount,
    at: &str,
    now: DateTime<Utc>,
) -> Result<std::collections::BTreeMap<String, Vec<Value>>, String> {
    let created = ts(now - Duration::days(30));
    let mut inv = std::collections::BTreeMap::new();
    let mut lbs = Vec::new();
    for (i, lb) in acc.load_balancers.iter().enumerate() {
        let f = format!("{at}.load_balancers[{i}]");
        check_region(&format!("{f}.region"), &lb.region)?;
        let ids = droplet_ids_by_name(st, &acc.name, &format!("{f}.droplets"), &lb.droplets)?;
        lbs.push(json!({
            "id": lb.id.clone().unwrap_or_else(uuid),
            "name": lb.name,
            "ip": format!("203.0.113.{}", 200 + i % 50),
            "size_unit": 1,
            "algorithm": "round_robin",
            "status": "active",
            "created_at": created,
            "forwarding_rules": [{"entry_protocol": "http", "entry_port": 80,
                                   "target_protocol": "http", "target_port": 80}],
            "health_check": {"protocol": "http", "port": 80, "path": "/",
                             "check_interval_seconds": 10, "response_timeout_seconds": 5,
                             "unhealthy_threshold": 5, "healthy_threshold": 3},
            "sticky_sessions": {"type": "none"},
            "redirect_http_to_https": false,
            "enable_proxy_protocol": false,
            "enable_backend_keepalive": false,
            "vpc_uuid": uuid_from(0x5151_0000),
            "region": super::model::region_json(&lb.region),
            "droplet_ids": ids,
        }));
    }
    inv.insert("load_balancers".to_string(), lbs);
    let mut fws = Vec::new();
    for (i, fw) in acc.firewalls.iter().enumerate() {
        check_tags(&format!("{at}.firewalls[{i}].tags"), &fw.tags)?;
        fws.push(json!({
            "id": fw.id.clone().unwrap_or_else(uuid),
            "status": "succeeded",
            "created_at": created,
            "pending_changes": [],
            "name": fw.name,
            "droplet_ids": [],
            "tags": fw.tags,
            "inbound_rules": [{"protocol": "tcp", "ports": "22",
                               "sources": {"addresses": ["0.0.0.0/0", "::/0"]}}],
            "outbound_rules": [{"protocol": "tcp", "ports": "all",
                                "destinations": {"addresses": ["0.0.0.0/0", "::/0"]}}],
        }));
    }
    inv.insert("firewalls".to_string(), fws);
    let mut clusters = Vec::new();
    for (i, c) in acc.kubernetes_clusters.iter().enumerate() {
        check_region(&format!("{at}.kubernetes_clusters[{i}].region"), &c.region)?;
        let id = c.id.clone().unwrap_or_else(uuid);
        clusters.push(json!({
            "id": id,
            "name": c.name,
            "region": c.region,
            "version": c.version,
            "cluster_subnet": "10.244.0.0/16",
            "service_subnet": "10.245.0.0/16",
            "ipv4": format!("203.0.113.{}", 150 + i % 50),
            "endpoint": format!("https://{id}.k8s.ondigitalocean.com"),
            "tags": ["k8s", format!("k8s:{id}")],
            "node_pools": [{"size": "s-2vcpu-4gb", "id": uuid(), "name": format!("{}-pool", c.name),
                            "count": c.nodes, "tags": [], "labels": null, "taints": [],
                            "auto_scale": false, "min_nodes": 0, "max_nodes": 0, "nodes": []}],
            "maintenance_policy": {"start_time": "00:00", "duration": "4h0m0s", "day": "any"},
            "auto_upgrade": false,
            "status": {"state": "running", "message": "Cluster is running"},
            "created_at": created,
            "updated_at": created,
            "surge_upgrade": true,
            "ha": false,
            "registry_enabled": false,
        }));
    }
    inv.insert("kubernetes_clusters".to_string(), clusters);
    let mut cdns = Vec::new();
    for (i, c) in acc.cdn_endpoints.iter().enumerate() {
        if ![60, 600, 3600, 86400, 604800].contains(&c.ttl) {
            return Err(format!(
                "{at}.cdn_endpoints[{i}].ttl: must be one of 60, 600, 3600, 86400, 604800"
            ));
        }
        cdns.push(json!({
            "id": c.id.clone().unwrap_or_else(uuid),
            "origin": c.origin,
            "endpoint": c.origin.replacen(".digitaloceanspaces.com", ".cdn.digitaloceanspaces.com", 1),
            "ttl": c.ttl,
            "created_at": created,
        }));
    }
    inv.insert("endpoints".to_string(), cdns);
    Ok(inv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::sim::core::Settings;

    fn core() -> Core {
        Core::new(Settings::default(), Clock::system(), Vec::new())
    }

    fn load_text(text: &str) -> Result<(Vec<TokenInfo>, State), String> {
        let v: yaml_serde::Value = yaml_serde::from_str(text).map_err(|e| e.to_string())?;
        load(&core(), Some(&v))
    }

    #[test]
    fn demo_seed_loads() {
        let (tokens, st) = load_text(super::super::DEMO_SEED).unwrap();
        assert_eq!(tokens.len(), 2);
        assert!(tokens.iter().any(|t| t.read_only));
        assert!(st.droplets.len() >= 3);
        assert!(!st.snapshots.is_empty());
    }

    #[test]
    fn bad_seeds_name_the_field() {
        let cases = [
            ("accounts: [{name: a, bogus: 1}]", "bogus"),
            (
                "accounts: [{name: a, droplets: [{name: d, region: mars1}]}]",
                "accounts[0].droplets[0].region",
            ),
            (
                "accounts: [{name: a, tokens: [{token: t}]}, {name: b, tokens: [{token: t}]}]",
                "accounts[1].tokens[0].token",
            ),
            (
                "accounts: [{name: a, droplets: [{name: d, tags: ['no spaces']}]}]",
                "accounts[0].droplets[0].tags",
            ),
            (
                "accounts: [{name: a, volumes: [{name: v, attached_to: nope}]}]",
                "accounts[0].volumes[0].attached_to",
            ),
            (
                "accounts: [{name: a, droplets: [{name: d, snapshots: [{name: s, id: abc}]}]}]",
                "accounts[0].droplets[0].snapshots[0].id",
            ),
            ("accounts: [{name: a}, {name: a}]", "accounts[1].name"),
        ];
        for (text, want) in cases {
            let err = load_text(text).err().unwrap_or_default();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn tag_names() {
        let cases = [
            ("backup", true),
            ("env:prod", true),
            ("a_b-c", true),
            ("", false),
            ("with space", false),
            ("ünï", false),
        ];
        for (tag, want) in cases {
            assert_eq!(valid_tag(tag), want, "{tag}");
        }
        assert!(valid_tag(&"x".repeat(255)));
        assert!(!valid_tag(&"x".repeat(256)));
    }
}
