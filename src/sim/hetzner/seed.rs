//! The `hetzner:` seed section: projects with tokens, servers, images and
//! inventory. Raw serde types (unknown fields refused) and their checking
//! into [`super::model`] state.
//!
//! Must never: accept a seed it cannot honour silently (every problem is an
//! error message that names the field).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::catalog;
use super::model::{Image, Item, Labels, Project, Server};
use crate::sim::TokenInfo;

/// The whole section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSection {
    /// Projects.
    #[serde(default)]
    pub projects: Vec<RawProject>,
}

/// One project.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProject {
    /// Name (unique).
    pub name: String,
    /// API tokens.
    #[serde(default)]
    pub tokens: Vec<RawToken>,
    /// Servers.
    #[serde(default)]
    pub servers: Vec<RawServer>,
    /// Snapshot/backup images.
    #[serde(default)]
    pub images: Vec<RawImage>,
    /// The project's image quota: `create_image` is refused with 403
    /// `resource_limit_exceeded` while it holds this many snapshot and
    /// backup images (none when absent).
    #[serde(default)]
    pub snapshot_limit: Option<usize>,
    /// Volumes.
    #[serde(default)]
    pub volumes: Vec<RawItem>,
    /// Load balancers.
    #[serde(default)]
    pub load_balancers: Vec<RawItem>,
    /// Firewalls.
    #[serde(default)]
    pub firewalls: Vec<RawItem>,
    /// Networks.
    #[serde(default)]
    pub networks: Vec<RawItem>,
    /// Floating IPs.
    #[serde(default)]
    pub floating_ips: Vec<RawItem>,
    /// Primary IPs.
    #[serde(default)]
    pub primary_ips: Vec<RawItem>,
}

/// A token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToken {
    /// The token text.
    pub token: String,
    /// Read-only ("Read" permission).
    #[serde(default)]
    pub read_only: bool,
}

/// A time: absolute (`created`) or relative to start-up (`age`, humantime).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWhen {
    /// RFC 3339.
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    /// How long before start-up (`3d`, `6h`).
    #[serde(default)]
    pub age: Option<String>,
}

/// Server id or name.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum NameOrId {
    /// By id.
    Id(u64),
    /// By name.
    Name(String),
}

/// A server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Id (generated when absent).
    #[serde(default)]
    pub id: Option<u64>,
    /// Name.
    pub name: String,
    /// Status (default `running`).
    #[serde(default)]
    pub status: Option<String>,
    /// Labels.
    #[serde(default)]
    pub labels: Labels,
    /// Server type (default `cx22`).
    #[serde(default)]
    pub server_type: Option<String>,
    /// Location (default `fsn1`).
    #[serde(default)]
    pub location: Option<String>,
    /// Disk size in GB (default: the type's).
    #[serde(default)]
    pub disk_gb: Option<u64>,
    /// Backups enabled.
    #[serde(default)]
    pub backups: bool,
    /// System image name (default `ubuntu-24.04`).
    #[serde(default)]
    pub image: Option<String>,
    /// Delete/rebuild protection.
    #[serde(default)]
    pub protected: bool,
    /// Created: RFC 3339.
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    /// Or: age at start-up.
    #[serde(default)]
    pub age: Option<String>,
}

/// The `created_from` of an image whose server is gone.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCreatedFrom {
    /// Server id.
    pub id: u64,
    /// Server name.
    pub name: String,
}

/// A snapshot or backup image.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawImage {
    /// Id (generated when absent).
    #[serde(default)]
    pub id: Option<u64>,
    /// `snapshot` (default) or `backup`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// `available` (default), `creating` or `unavailable`.
    #[serde(default)]
    pub status: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Labels.
    #[serde(default)]
    pub labels: Labels,
    /// Source server in this project (id or name).
    #[serde(default)]
    pub server: Option<NameOrId>,
    /// Or: a source server that no longer exists.
    #[serde(default)]
    pub created_from: Option<RawCreatedFrom>,
    /// `protection.delete`.
    #[serde(default)]
    pub protected: bool,
    /// Disk size in GB (default: the server's, else 20).
    #[serde(default)]
    pub disk_gb: Option<f64>,
    /// Created: RFC 3339.
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    /// Or: age at start-up.
    #[serde(default)]
    pub age: Option<String>,
}

/// An inventory item (volume, load balancer, firewall, network, floating or
/// primary IP); fields that do not apply to a kind are ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawItem {
    /// Id (generated when absent).
    #[serde(default)]
    pub id: Option<u64>,
    /// Name.
    pub name: String,
    /// Labels.
    #[serde(default)]
    pub labels: Labels,
    /// Location (default `fsn1`).
    #[serde(default)]
    pub location: Option<String>,
    /// Attached server (id or name).
    #[serde(default)]
    pub server: Option<NameOrId>,
    /// Size in GB (volumes; default 10).
    #[serde(default)]
    pub size: Option<u64>,
    /// IP address or range (default generated).
    #[serde(default)]
    pub ip: Option<String>,
    /// Delete protection.
    #[serde(default)]
    pub protected: bool,
}

/// Id generators, one per kind, starting past every seeded id.
#[derive(Debug, Clone)]
pub struct Ids {
    /// Servers.
    pub server: u64,
    /// Images.
    pub image: u64,
    /// Actions.
    pub action: u64,
    /// Everything in the inventory.
    pub item: u64,
}

impl Default for Ids {
    fn default() -> Self {
        Self {
            server: 42_000_001,
            image: 210_000_001,
            action: 1_900_000_001,
            item: 3_100_001,
        }
    }
}

/// `counter`, or one past the largest of `used` when that is further.
fn past(counter: u64, used: &BTreeSet<u64>) -> u64 {
    used.last()
        .map_or(counter, |max| counter.max(max.saturating_add(1)))
}

fn take(counter: &mut u64, used: &BTreeSet<u64>) -> u64 {
    while used.contains(counter) {
        *counter += 1;
    }
    let id = *counter;
    *counter += 1;
    id
}

/// Checked seed: projects, tokens (with project index), and id generators.
pub struct Checked {
    /// Projects.
    pub projects: Vec<Project>,
    /// Token -> (project index, read-only).
    pub tokens: BTreeMap<String, (usize, bool)>,
    /// For `Served::tokens`.
    pub infos: Vec<TokenInfo>,
    /// Next ids.
    pub ids: Ids,
}

fn when(
    created: Option<DateTime<Utc>>,
    age: Option<&str>,
    default_age: chrono::Duration,
    now: DateTime<Utc>,
    at: &str,
) -> Result<DateTime<Utc>, String> {
    match (created, age) {
        (Some(_), Some(_)) => Err(format!("{at}: give created or age, not both")),
        (Some(c), None) => Ok(c),
        (None, Some(a)) => {
            let d = humantime::parse_duration(a).map_err(|e| format!("{at}.age: {e}"))?;
            let d = chrono::Duration::from_std(d).map_err(|e| format!("{at}.age: {e}"))?;
            Ok(now - d)
        }
        (None, None) => Ok(now - default_age),
    }
}

fn check_labels(labels: &Labels, at: &str) -> Result<(), String> {
    super::selector::check_labels(labels).map_err(|bad| format!("{at}.labels: {}", bad.join("; ")))
}

fn location(name: Option<&str>, at: &str) -> Result<&'static catalog::Location, String> {
    let name = name.unwrap_or("fsn1");
    catalog::location(name).ok_or_else(|| {
        let known: Vec<&str> = catalog::LOCATIONS.iter().map(|l| l.name).collect();
        format!(
            "{at}.location: unknown location '{name}' (known: {})",
            known.join(", ")
        )
    })
}

/// Check a raw section into state. `now` anchors `age` values.
pub fn check(value: Option<&yaml_serde::Value>, now: DateTime<Utc>) -> Result<Checked, String> {
    let raw: RawSection = match value {
        None => RawSection::default(),
        Some(v) => yaml_serde::from_value(v.clone()).map_err(|e| e.to_string())?,
    };
    let mut used_servers = BTreeSet::new();
    let mut used_images = BTreeSet::new();
    let mut used_items = BTreeSet::new();
    for (pi, p) in raw.projects.iter().enumerate() {
        for (i, s) in p.servers.iter().enumerate() {
            if let Some(id) = s.id
                && !used_servers.insert(id)
            {
                return Err(format!("projects[{pi}].servers[{i}].id: duplicate id {id}"));
            }
        }
        for (i, s) in p.images.iter().enumerate() {
            if let Some(id) = s.id
                && (!used_images.insert(id) || catalog::system_image_by_id(id).is_some())
            {
                return Err(format!("projects[{pi}].images[{i}].id: duplicate id {id}"));
            }
        }
        for list in [
            &p.volumes,
            &p.load_balancers,
            &p.firewalls,
            &p.networks,
            &p.floating_ips,
            &p.primary_ips,
        ] {
            // Ids only need to be unique per kind; generated ones avoid all.
            used_items.extend(list.iter().filter_map(|it| it.id));
        }
    }
    let used_item_ids = used_items;
    let mut ids = Ids::default();
    let mut projects = Vec::new();
    let mut tokens = BTreeMap::new();
    let mut infos = Vec::new();
    let mut names = BTreeSet::new();
    for (pi, rp) in raw.projects.into_iter().enumerate() {
        let at = format!("projects[{pi}]");
        if !names.insert(rp.name.clone()) {
            return Err(format!("{at}.name: duplicate project '{}'", rp.name));
        }
        for (ti, t) in rp.tokens.iter().enumerate() {
            if t.token.is_empty() {
                return Err(format!("{at}.tokens[{ti}].token: empty"));
            }
            if tokens.insert(t.token.clone(), (pi, t.read_only)).is_some() {
                return Err(format!("{at}.tokens[{ti}].token: used twice"));
            }
            infos.push(TokenInfo {
                account: rp.name.clone(),
                token: t.token.clone(),
                read_only: t.read_only,
            });
        }
        let mut p = Project {
            name: rp.name.clone(),
            snapshot_limit: rp.snapshot_limit,
            ..Project::default()
        };
        for (si, rs) in rp.servers.into_iter().enumerate() {
            let at = format!("{at}.servers[{si}]");
            let status = rs.status.unwrap_or_else(|| "running".into());
            const STATUSES: &[&str] = &[
                "running",
                "initializing",
                "starting",
                "stopping",
                "off",
                "deleting",
                "migrating",
                "rebuilding",
                "unknown",
            ];
            if !STATUSES.contains(&status.as_str()) {
                return Err(format!("{at}.status: unknown status '{status}'"));
            }
            let tname = rs.server_type.unwrap_or_else(|| "cx22".into());
            let server_type = catalog::server_type(&tname)
                .ok_or_else(|| format!("{at}.server_type: unknown server type '{tname}'"))?;
            let iname = rs.image.unwrap_or_else(|| "ubuntu-24.04".into());
            let image =
                catalog::system_image(&iname, server_type.architecture).ok_or_else(|| {
                    format!(
                        "{at}.image: no system image '{iname}' for {}",
                        server_type.architecture
                    )
                })?;
            check_labels(&rs.labels, &at)?;
            let id = match rs.id {
                Some(id) => id,
                None => take(&mut ids.server, &used_servers),
            };
            p.servers.push(Server {
                id,
                name: rs.name,
                status,
                labels: rs.labels,
                created: when(
                    rs.created,
                    rs.age.as_deref(),
                    chrono::Duration::days(90),
                    now,
                    &at,
                )?,
                location: location(rs.location.as_deref(), &at)?,
                server_type,
                disk_gb: rs.disk_gb.unwrap_or(server_type.disk),
                backups: rs.backups,
                image: Some(image.id),
                protected: rs.protected,
                ipv4: format!("203.0.113.{}", 10 + (id % 240)),
            });
        }
        for (ii, ri) in rp.images.into_iter().enumerate() {
            let at = format!("{at}.images[{ii}]");
            let kind = ri.kind.unwrap_or_else(|| "snapshot".into());
            if kind != "snapshot" && kind != "backup" {
                return Err(format!(
                    "{at}.type: must be snapshot or backup, not '{kind}'"
                ));
            }
            let status = ri.status.unwrap_or_else(|| "available".into());
            if !["available", "creating", "unavailable"].contains(&status.as_str()) {
                return Err(format!("{at}.status: unknown status '{status}'"));
            }
            check_labels(&ri.labels, &at)?;
            let source = match (&ri.server, &ri.created_from) {
                (Some(_), Some(_)) => {
                    return Err(format!("{at}: give server or created_from, not both"));
                }
                (Some(s), None) => {
                    let found = find_server(&p.servers, s)
                        .ok_or_else(|| format!("{at}.server: no such server in this project"))?;
                    Some((
                        found.id,
                        found.name.clone(),
                        found.disk_gb,
                        found.server_type,
                    ))
                }
                (None, Some(c)) => Some((c.id, c.name.clone(), 20, &catalog::SERVER_TYPES[0])),
                (None, None) => None,
            };
            if kind == "backup" && ri.server.is_none() {
                return Err(format!("{at}.server: a backup image needs its server"));
            }
            let disk = ri
                .disk_gb
                .unwrap_or_else(|| source.as_ref().map_or(20.0, |s| s.2 as f64));
            let id = match ri.id {
                Some(id) => id,
                None => take(&mut ids.image, &used_images),
            };
            p.images.push(Image {
                id,
                kind: kind.clone(),
                status: status.clone(),
                description: ri.description,
                labels: ri.labels,
                created: when(
                    ri.created,
                    ri.age.as_deref(),
                    chrono::Duration::days(1),
                    now,
                    &at,
                )?,
                created_from: source.as_ref().map(|s| (s.0, s.1.clone())),
                bound_to: if kind == "backup" {
                    source.as_ref().map(|s| s.0)
                } else {
                    None
                },
                disk_size: disk,
                image_size: (status == "available").then(|| (disk * 0.25 * 100.0).round() / 100.0),
                protected: ri.protected,
                architecture: source
                    .as_ref()
                    .map_or("x86", |s| s.3.architecture)
                    .to_string(),
                os_flavor: "ubuntu".into(),
                os_version: Some("24.04".into()),
                deprecated: None,
            });
        }
        let mut n = 0u64;
        let mut items = |list: Vec<RawItem>, kind: &str, servers: &[Server]| {
            let mut out = Vec::new();
            for (i, r) in list.into_iter().enumerate() {
                let at = format!("{at}.{kind}[{i}]");
                check_labels(&r.labels, &at)?;
                let server = match &r.server {
                    Some(s) => Some(
                        find_server(servers, s)
                            .ok_or_else(|| format!("{at}.server: no such server in this project"))?
                            .id,
                    ),
                    None => None,
                };
                n += 1;
                let id = match r.id {
                    Some(id) => id,
                    None => take(&mut ids.item, &used_item_ids),
                };
                let default_ip = if kind == "networks" {
                    format!("10.{}.0.0/16", n % 250)
                } else {
                    format!("198.51.100.{}", n % 250)
                };
                out.push(Item {
                    id,
                    name: r.name,
                    labels: r.labels,
                    created: now - chrono::Duration::days(60),
                    location: location(r.location.as_deref(), &at)?,
                    server,
                    size: r.size.unwrap_or(10),
                    ip: r.ip.unwrap_or(default_ip),
                    protected: r.protected,
                });
            }
            Ok::<_, String>(out)
        };
        p.volumes = items(rp.volumes, "volumes", &p.servers)?;
        p.load_balancers = items(rp.load_balancers, "load_balancers", &p.servers)?;
        p.firewalls = items(rp.firewalls, "firewalls", &p.servers)?;
        p.networks = items(rp.networks, "networks", &p.servers)?;
        p.floating_ips = items(rp.floating_ips, "floating_ips", &p.servers)?;
        p.primary_ips = items(rp.primary_ips, "primary_ips", &p.servers)?;
        projects.push(p);
    }
    // Ids handed out at run time start past every seeded id of their kind,
    // whatever the defaults: a seeded image 210000001 (or the documented
    // example 210000101) must never get a twin.
    ids.server = past(ids.server, &used_servers);
    ids.image = past(ids.image, &used_images);
    ids.item = past(ids.item, &used_item_ids);
    Ok(Checked {
        projects,
        tokens,
        infos,
        ids,
    })
}

fn find_server<'a>(servers: &'a [Server], key: &NameOrId) -> Option<&'a Server> {
    servers.iter().find(|s| match key {
        NameOrId::Id(id) => s.id == *id,
        NameOrId::Name(n) => &s.name == n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(yaml: &str) -> Result<Checked, String> {
        let v: yaml_serde::Value = yaml_serde::from_str(yaml).unwrap();
        check(
            Some(&v),
            DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        )
    }

    #[test]
    fn bad_seeds_name_the_field() {
        let cases = [
            ("projects: [{name: a, bogus: 1}]", "bogus"),
            (
                "projects: [{name: a, servers: [{name: s, status: flying}]}]",
                "status",
            ),
            (
                "projects: [{name: a, servers: [{name: s, location: mars}]}]",
                "location",
            ),
            (
                "projects: [{name: a, servers: [{name: s, server_type: cx999}]}]",
                "server_type",
            ),
            ("projects: [{name: a, images: [{server: nope}]}]", "server"),
            ("projects: [{name: a, images: [{type: system}]}]", "type"),
            ("projects: [{name: a, images: [{type: backup}]}]", "server"),
            (
                "projects: [{name: a, servers: [{name: s, labels: {'-x': y}}]}]",
                "labels",
            ),
            (
                "projects: [{name: a, servers: [{name: s, age: soon}]}]",
                "age",
            ),
            (
                "projects: [{name: a, tokens: [{token: t}]}, {name: b, tokens: [{token: t}]}]",
                "token",
            ),
            ("projects: [{name: a}, {name: a}]", "name"),
            (
                "projects: [{name: a, servers: [{id: 1, name: x}, {id: 1, name: y}]}]",
                "id",
            ),
        ];
        for (yaml, field) in cases {
            match checked(yaml) {
                Ok(_) => panic!("{yaml} should be refused"),
                Err(e) => assert!(e.contains(field), "{yaml}: {e}"),
            }
        }
    }

    #[test]
    fn generated_ids_skip_seeded_ones() {
        let c = checked(
            "projects: [{name: a, servers: [{id: 42000001, name: x}, {name: y}], \
             images: [{server: y, age: 2d}, {created_from: {id: 5, name: gone}}]}]",
        )
        .unwrap();
        let p = &c.projects[0];
        assert_eq!(p.servers[1].id, 42_000_002);
        assert_eq!(p.images[0].created_from, Some((42_000_002, "y".into())));
        assert_eq!(
            p.images[0].created,
            DateTime::from_timestamp(1_800_000_000 - 2 * 86_400, 0).unwrap()
        );
        assert_eq!(p.images[1].created_from, Some((5, "gone".into())));
    }
}
