//! The `vultr:` section of a simulator seed: its serde shape
//! (`deny_unknown_fields` everywhere) and its checked conversion into the
//! simulated [`World`]. docs/sim-vultr.md is the user reference.
//!
//! Must never: accept a seed that would make two keys, ids or account names
//! collide; errors are messages that name the offending field.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::model::{Account, Fate, Instance, Item, Key, Snapshot, World, new_uuid, vultr_time};
use crate::sim::core::Core;

/// The whole section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSection {
    /// Rate limit knobs.
    #[serde(default)]
    pub rate_limit: RawRateLimit,
    /// Accounts.
    #[serde(default)]
    pub accounts: Vec<RawAccount>,
}

/// `rate_limit:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRateLimit {
    /// Published requests per second per source IP (before the seed's
    /// `settings.rate_limit_factor`).
    pub per_second: f64,
    /// Status when over the limit: 429 (API docs) or 503 (current web page).
    pub status: u16,
}

impl Default for RawRateLimit {
    fn default() -> Self {
        Self {
            per_second: 30.0,
            status: 429,
        }
    }
}

/// One account.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccount {
    name: String,
    #[serde(default)]
    api_keys: Vec<RawKey>,
    #[serde(default)]
    snapshot_limit: Option<usize>,
    #[serde(default)]
    instances: Vec<RawInstance>,
    #[serde(default)]
    snapshots: Vec<RawSnapshot>,
    #[serde(default)]
    load_balancers: Vec<RawLoadBalancer>,
    #[serde(default)]
    firewalls: Vec<RawFirewall>,
    #[serde(default)]
    kubernetes_clusters: Vec<RawCluster>,
    #[serde(default)]
    blocks: Vec<RawBlock>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    key: String,
    #[serde(default)]
    read_only: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstance {
    #[serde(default)]
    id: Option<String>,
    label: String,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default = "default_region")]
    region: String,
    #[serde(default = "default_disk")]
    disk: u64,
    #[serde(default = "default_ram")]
    ram: u64,
    #[serde(default = "one")]
    vcpu_count: u64,
    #[serde(default = "default_plan")]
    plan: String,
    #[serde(default = "default_os")]
    os: String,
    #[serde(default = "default_os_id")]
    os_id: i64,
    #[serde(default)]
    app_id: i64,
    #[serde(default)]
    main_ip: Option<String>,
    #[serde(default)]
    firewall_group_id: String,
    #[serde(default = "default_status")]
    status: String,
    #[serde(default = "default_power")]
    power_status: String,
    #[serde(default = "default_server_status")]
    server_status: String,
    #[serde(default)]
    date_created: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSnapshot {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    description: String,
    /// Internal link (state dump only); also gives size and os defaults.
    #[serde(default)]
    source_instance: Option<String>,
    #[serde(default)]
    size_gb: Option<u64>,
    #[serde(default = "default_snapshot_status")]
    status: String,
    #[serde(default)]
    date_created: Option<DateTime<Utc>>,
    #[serde(default)]
    os_id: Option<i64>,
    #[serde(default)]
    app_id: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoadBalancer {
    #[serde(default)]
    id: Option<String>,
    label: String,
    #[serde(default = "default_region")]
    region: String,
    #[serde(default = "default_status")]
    status: String,
    #[serde(default)]
    instances: Vec<String>,
    #[serde(default)]
    date_created: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFirewall {
    #[serde(default)]
    id: Option<String>,
    description: String,
    #[serde(default)]
    instance_count: u64,
    #[serde(default)]
    rule_count: u64,
    #[serde(default)]
    date_created: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    #[serde(default)]
    id: Option<String>,
    label: String,
    #[serde(default = "default_region")]
    region: String,
    #[serde(default = "default_k8s_version")]
    version: String,
    #[serde(default = "default_status")]
    status: String,
    #[serde(default = "default_nodes")]
    node_quantity: u64,
    #[serde(default)]
    date_created: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBlock {
    #[serde(default)]
    id: Option<String>,
    label: String,
    #[serde(default = "default_region")]
    region: String,
    #[serde(default = "default_block_size")]
    size_gb: u64,
    #[serde(default = "default_status")]
    status: String,
    #[serde(default)]
    attached_to_instance: String,
    #[serde(default)]
    date_created: Option<DateTime<Utc>>,
}

fn default_region() -> String {
    "ewr".into()
}
fn default_disk() -> u64 {
    25
}
fn default_ram() -> u64 {
    1024
}
fn one() -> u64 {
    1
}
fn default_plan() -> String {
    "vc2-1c-1gb".into()
}
fn default_os() -> String {
    "Ubuntu 24.04 LTS x64".into()
}
fn default_os_id() -> i64 {
    2284
}
fn default_status() -> String {
    "active".into()
}
fn default_power() -> String {
    "running".into()
}
fn default_server_status() -> String {
    "ok".into()
}
fn default_snapshot_status() -> String {
    "complete".into()
}
fn default_k8s_version() -> String {
    "v1.33.0+1".into()
}
fn default_nodes() -> u64 {
    3
}
fn default_block_size() -> u64 {
    10
}

const GB: u64 = 1024 * 1024 * 1024;

/// Parse and check the section. `None` means an empty world.
///
/// # Errors
/// A message naming the field that is wrong.
pub fn load(
    core: &Core,
    value: Option<&yaml_serde::Value>,
) -> Result<(RawRateLimit, World), String> {
    let raw: RawSection = match value {
        None => RawSection::default(),
        Some(v) => yaml_serde::from_value(v.clone()).map_err(|e| format!("vultr: {e}"))?,
    };
    if !(raw.rate_limit.per_second > 0.0 && raw.rate_limit.per_second.is_finite()) {
        return Err("vultr.rate_limit.per_second: must be a positive number".into());
    }
    if !matches!(raw.rate_limit.status, 429 | 503) {
        return Err(format!(
            "vultr.rate_limit.status: must be 429 or 503, not {}",
            raw.rate_limit.status
        ));
    }
    let now = core.clock.now();
    let mut world = World::default();
    for (ai, ra) in raw.accounts.into_iter().enumerate() {
        let at = format!("vultr.accounts[{ai}]");
        if ra.name.is_empty() {
            return Err(format!("{at}.name: must not be empty"));
        }
        if world.accounts.iter().any(|a| a.name == ra.name) {
            return Err(format!("{at}.name: duplicate account name {:?}", ra.name));
        }
        for (ki, k) in ra.api_keys.iter().enumerate() {
            if k.key.is_empty() {
                return Err(format!("{at}.api_keys[{ki}].key: must not be empty"));
            }
            if world.keys.contains_key(&k.key) {
                return Err(format!(
                    "{at}.api_keys[{ki}].key: this key is already declared"
                ));
            }
            world.keys.insert(
                k.key.clone(),
                Key {
                    account: ai,
                    read_only: k.read_only,
                },
            );
        }
        let mut acct = Account {
            name: ra.name.clone(),
            snapshot_limit: ra.snapshot_limit,
            ..Account::default()
        };
        let taken: Vec<String> = ra
            .instances
            .iter()
            .filter_map(|i| i.main_ip.clone())
            .collect();
        let mut host = 10u32;
        for (i, ri) in ra.instances.into_iter().enumerate() {
            let id = take_id(&mut world, ri.id, &format!("{at}.instances[{i}].id"))?;
            let seq = world.issue(&id);
            acct.instances.push(Instance {
                seq,
                hostname: ri.hostname.unwrap_or_else(|| ri.label.clone()),
                label: ri.label,
                tags: ri.tags,
                region: ri.region,
                disk: ri.disk,
                ram: ri.ram,
                vcpu_count: ri.vcpu_count,
                plan: ri.plan,
                os: ri.os,
                os_id: ri.os_id,
                app_id: ri.app_id,
                main_ip: ri.main_ip.unwrap_or_else(|| free_ip(&taken, &mut host)),
                firewall_group_id: ri.firewall_group_id,
                status: ri.status,
                power_status: ri.power_status,
                server_status: ri.server_status,
                date_created: ri.date_created.unwrap_or(now),
                id,
            });
        }
        for (i, rs) in ra.snapshots.into_iter().enumerate() {
            let field = format!("{at}.snapshots[{i}]");
            let complete = match rs.status.as_str() {
                "complete" => true,
                "pending" => false,
                other => {
                    return Err(format!(
                        "{field}.status: must be complete or pending, not {other:?}"
                    ));
                }
            };
            let source = rs
                .source_instance
                .as_deref()
                .and_then(|s| acct.instances.iter().find(|x| x.id == s));
            let size_gb = rs.size_gb.or(source.map(|s| s.disk)).unwrap_or(25);
            let os_id = rs.os_id.or(source.map(|s| s.os_id)).unwrap_or(2284);
            let app_id = rs.app_id.or(source.map(|s| s.app_id)).unwrap_or(0);
            let date_created = rs.date_created.unwrap_or(now);
            let id = take_id(&mut world, rs.id, &format!("{field}.id"))?;
            let seq = world.issue(&id);
            acct.snapshots.push(Snapshot {
                seq,
                id,
                description: rs.description,
                date_created,
                full_size: size_gb * GB,
                complete,
                settle_at: (!complete)
                    .then(|| date_created + core.snapshot_duration(size_gb as f64)),
                fate: Fate::Complete,
                os_id,
                app_id,
                source_instance: rs.source_instance,
            });
        }
        for (i, r) in ra.load_balancers.into_iter().enumerate() {
            let id = take_id(&mut world, r.id, &format!("{at}.load_balancers[{i}].id"))?;
            let seq = world.issue(&id);
            let json = json!({
                "id": id,
                "date_created": vultr_time(r.date_created.unwrap_or(now)),
                "region": r.region,
                "label": r.label,
                "status": r.status,
                "ipv4": format!("198.51.100.{}", 10 + (seq % 240)),
                "ipv6": "",
                "generic_info": {
                    "balancing_algorithm": "roundrobin",
                    "ssl_redirect": false,
                    "sticky_sessions": { "cookie_name": "" },
                    "proxy_protocol": false,
                    "private_network": ""
                },
                "health_check": {
                    "protocol": "http", "port": 80, "path": "/health",
                    "check_interval": 10, "response_timeout": 5,
                    "unhealthy_threshold": 3, "healthy_threshold": 3
                },
                "has_ssl": false,
                "http2": false,
                "nodes": 1,
                // The schema names this `forward_rules` (the example says
                // `forwarding_rules`) and misspells the backend protocol
                // field; the simulator follows the schema and omits that one.
                "forward_rules": [{
                    "id": format!("{:016x}", seq + 0x73d8_5156_c2c3_0000),
                    "frontend_protocol": "http", "frontend_port": 80,
                    "backend_port": 80
                }],
                "firewall_rules": [],
                "instances": r.instances,
            });
            acct.load_balancers.push(Item { seq, id, json });
        }
        for (i, r) in ra.firewalls.into_iter().enumerate() {
            let id = take_id(&mut world, r.id, &format!("{at}.firewalls[{i}].id"))?;
            let seq = world.issue(&id);
            let created = vultr_time(r.date_created.unwrap_or(now));
            let json = json!({
                "id": id,
                "description": r.description,
                "date_created": created,
                "date_modified": created,
                "instance_count": r.instance_count,
                "rule_count": r.rule_count,
                "max_rule_count": 50,
            });
            acct.firewalls.push(Item { seq, id, json });
        }
        for (i, r) in ra.kubernetes_clusters.into_iter().enumerate() {
            let id = take_id(
                &mut world,
                r.id,
                &format!("{at}.kubernetes_clusters[{i}].id"),
            )?;
            let seq = world.issue(&id);
            let created = vultr_time(r.date_created.unwrap_or(now));
            let nodes: Vec<_> = (0..r.node_quantity)
                .map(|n| {
                    json!({
                        "id": new_uuid(),
                        "label": format!("{}-pool-{n}", r.label),
                        "date_created": created,
                    })
                })
                .collect();
            let json = json!({
                "id": id,
                "firewall_group_id": "",
                "label": r.label,
                "date_created": created,
                "cluster_subnet": "10.244.0.0/16",
                "service_subnet": "10.96.0.0/12",
                "ip": format!("203.0.113.{}", 10 + (seq % 240)),
                "endpoint": format!("{id}.vultr-k8s.com"),
                "version": r.version,
                "region": r.region,
                "status": r.status,
                "ha_controlplanes": false,
                "node_pools": [{
                    "id": new_uuid(),
                    "date_created": created,
                    "date_updated": created,
                    "label": format!("{}-pool", r.label),
                    "tag": "",
                    "plan": "vc2-2c-4gb",
                    "status": "active",
                    "node_quantity": r.node_quantity,
                    "min_nodes": r.node_quantity,
                    "max_nodes": r.node_quantity,
                    "auto_scaler": false,
                    "nodes": nodes,
                }],
            });
            acct.clusters.push(Item { seq, id, json });
        }
        for (i, r) in ra.blocks.into_iter().enumerate() {
            let id = take_id(&mut world, r.id, &format!("{at}.blocks[{i}].id"))?;
            let seq = world.issue(&id);
            let json = json!({
                "id": id,
                "date_created": vultr_time(r.date_created.unwrap_or(now)),
                "cost": (r.size_gb / 10).max(1),
                "status": r.status,
                "size_gb": r.size_gb,
                "region": r.region,
                "attached_to_instance": r.attached_to_instance,
                "label": r.label,
                "mount_id": format!("{}-{}", r.region, id.replace('-', "").get(..14).unwrap_or("")),
            });
            acct.blocks.push(Item { seq, id, json });
        }
        world.accounts.push(acct);
    }
    Ok((raw.rate_limit, world))
}

/// The next address in 192.0.2.0/24 (TEST-NET-1) not declared in the seed.
fn free_ip(taken: &[String], host: &mut u32) -> String {
    loop {
        let ip = format!("192.0.2.{}", 10 + (*host % 240));
        *host += 1;
        if !taken.contains(&ip) || *host > 10_000 {
            return ip;
        }
    }
}

fn take_id(world: &mut World, id: Option<String>, field: &str) -> Result<String, String> {
    match id {
        None => Ok(new_uuid()),
        Some(id) if id.is_empty() => Err(format!("{field}: must not be empty")),
        Some(id) if world.known(&id) => Err(format!("{field}: duplicate id {id:?}")),
        Some(id) => Ok(id),
    }
}
