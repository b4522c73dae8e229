//! The simulated Hetzner projects: servers, images, actions and the read-only
//! inventory, how time moves them on, and how they render as spec objects.
//!
//! Must never: read the wall clock (callers pass `now`) or know HTTP.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::catalog::{self, Location, ServerType};

/// Labels as the API carries them.
pub type Labels = BTreeMap<String, String>;

/// Hetzner timestamps: RFC 3339 with a `+00:00` offset, whole seconds.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// A server.
#[derive(Debug, Clone)]
pub struct Server {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Status (`running`, `off`, …).
    pub status: String,
    /// Labels.
    pub labels: Labels,
    /// Created.
    pub created: DateTime<Utc>,
    /// Location.
    pub location: &'static Location,
    /// Server type.
    pub server_type: &'static ServerType,
    /// `primary_disk_size` in GB.
    pub disk_gb: u64,
    /// Backups enabled (`backup_window` set).
    pub backups: bool,
    /// The system image it was created from.
    pub image: Option<u64>,
    /// Delete/rebuild protection.
    pub protected: bool,
    /// Public IPv4 address.
    pub ipv4: String,
}

/// A snapshot or backup image owned by a project.
#[derive(Debug, Clone)]
pub struct Image {
    /// Id.
    pub id: u64,
    /// `snapshot` or `backup`.
    pub kind: String,
    /// `creating`, `available` or `unavailable`.
    pub status: String,
    /// Description.
    pub description: String,
    /// Labels.
    pub labels: Labels,
    /// Created.
    pub created: DateTime<Utc>,
    /// Source server (id, name).
    pub created_from: Option<(u64, String)>,
    /// Server id for backups.
    pub bound_to: Option<u64>,
    /// Disk size (GB).
    pub disk_size: f64,
    /// Billed size (GB), unknown while creating.
    pub image_size: Option<f64>,
    /// `protection.delete`.
    pub protected: bool,
    /// `x86` / `arm`.
    pub architecture: String,
    /// `os_flavor`.
    pub os_flavor: String,
    /// `os_version`.
    pub os_version: Option<String>,
    /// Deprecation time.
    pub deprecated: Option<DateTime<Utc>>,
}

/// How an action will end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `success`.
    Success,
    /// `error` (injected `ActionError`).
    Error,
    /// Never finishes (injected `ActionStuck`).
    Stuck,
}

/// An action.
#[derive(Debug, Clone)]
pub struct Action {
    /// Id.
    pub id: u64,
    /// `create_image`.
    pub command: String,
    /// The server it runs on.
    pub server: u64,
    /// The image it creates, if any.
    pub image: Option<u64>,
    /// Started.
    pub started: DateTime<Utc>,
    /// How long it takes.
    pub duration: chrono::Duration,
    /// How it ends.
    pub outcome: Outcome,
    /// `running`, `success` or `error`.
    pub status: String,
    /// Finished.
    pub finished: Option<DateTime<Utc>>,
}

/// A read-only inventory item (volume, load balancer, firewall, network,
/// floating IP, primary IP).
#[derive(Debug, Clone)]
pub struct Item {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// Created.
    pub created: DateTime<Utc>,
    /// Location.
    pub location: &'static Location,
    /// Attached server (volume, floating/primary IP).
    pub server: Option<u64>,
    /// Size in GB (volumes).
    pub size: u64,
    /// IP address or range (IPs, networks).
    pub ip: String,
    /// Delete protection.
    pub protected: bool,
}

/// One project: a token's view of the world.
#[derive(Debug, Clone, Default)]
pub struct Project {
    /// Name.
    pub name: String,
    /// Servers.
    pub servers: Vec<Server>,
    /// Snapshot and backup images.
    pub images: Vec<Image>,
    /// Image quota (seed `snapshot_limit`): creates are refused at it.
    pub snapshot_limit: Option<usize>,
    /// Actions.
    pub actions: Vec<Action>,
    /// Volumes.
    pub volumes: Vec<Item>,
    /// Load balancers.
    pub load_balancers: Vec<Item>,
    /// Firewalls.
    pub firewalls: Vec<Item>,
    /// Networks.
    pub networks: Vec<Item>,
    /// Floating IPs.
    pub floating_ips: Vec<Item>,
    /// Primary IPs.
    pub primary_ips: Vec<Item>,
}

impl Project {
    /// Move every action whose time has come to its end state.
    pub fn tick(&mut self, now: DateTime<Utc>) {
        let mut remove = Vec::new();
        for a in &mut self.actions {
            if a.status != "running" || a.outcome == Outcome::Stuck {
                continue;
            }
            let end = a.started + a.duration;
            if end > now {
                continue;
            }
            a.finished = Some(end);
            match a.outcome {
                Outcome::Success => {
                    a.status = "success".into();
                    if let Some(img) = a
                        .image
                        .and_then(|id| self.images.iter_mut().find(|i| i.id == id))
                    {
                        img.status = "available".into();
                        img.image_size = Some((img.disk_size * 0.25 * 100.0).round() / 100.0);
                    }
                }
                Outcome::Error | Outcome::Stuck => {
                    a.status = "error".into();
                    // A failed create_image leaves no image behind.
                    remove.extend(a.image);
                }
            }
        }
        self.images.retain(|i| !remove.contains(&i.id));
    }

    /// Whether an action is running on this server.
    pub fn locked(&self, server: u64) -> bool {
        self.actions
            .iter()
            .any(|a| a.server == server && a.status == "running")
    }

    /// A server by id.
    pub fn server(&self, id: u64) -> Option<&Server> {
        self.servers.iter().find(|s| s.id == id)
    }

    /// `server` object.
    pub fn server_json(&self, s: &Server) -> Value {
        let image = s.image.and_then(catalog::system_image_by_id);
        let volumes: Vec<u64> = self
            .volumes
            .iter()
            .filter(|v| v.server == Some(s.id))
            .map(|v| v.id)
            .collect();
        let floating: Vec<u64> = self
            .floating_ips
            .iter()
            .filter(|v| v.server == Some(s.id))
            .map(|v| v.id)
            .collect();
        json!({
            "id": s.id,
            "name": s.name,
            "status": s.status,
            "created": ts(s.created),
            "public_net": {
                "ipv4": {
                    "id": s.id + 10_000_000,
                    "ip": s.ipv4,
                    "blocked": false,
                    "dns_ptr": format!("static.{}.clients.your-server.de", s.ipv4.split('.').rev().collect::<Vec<_>>().join(".")),
                },
                "ipv6": {
                    "id": s.id + 20_000_000,
                    "ip": format!("2a01:4f8:c0c:{:x}::/64", s.id % 0xffff),
                    "blocked": false,
                    "dns_ptr": [],
                },
                "floating_ips": floating,
                "firewalls": [],
            },
            "private_net": [],
            "server_type": catalog::server_type_json(s.server_type),
            "datacenter": catalog::datacenter_json(s.location),
            "location": catalog::location_json(s.location),
            "image": image.map(catalog::system_image_json),
            "iso": null,
            "rescue_enabled": false,
            "locked": self.locked(s.id),
            "backup_window": if s.backups { json!("22-02") } else { Value::Null },
            "outgoing_traffic": 0,
            "ingoing_traffic": 0,
            "included_traffic": 21_990_232_555_520u64,
            "protection": { "delete": s.protected, "rebuild": s.protected },
            "labels": s.labels,
            "volumes": volumes,
            "load_balancers": [],
            "primary_disk_size": s.disk_gb,
            "placement_group": null,
        })
    }
}

/// `image` object of a project image.
pub fn image_json(i: &Image) -> Value {
    json!({
        "id": i.id,
        "type": i.kind,
        "status": i.status,
        "name": null,
        "description": i.description,
        "image_size": i.image_size,
        "disk_size": i.disk_size,
        "created": ts(i.created),
        "created_from": i.created_from.as_ref().map(|(id, name)| json!({ "id": id, "name": name })),
        "bound_to": i.bound_to,
        "os_flavor": i.os_flavor,
        "os_version": i.os_version,
        "rapid_deploy": false,
        "protection": { "delete": i.protected },
        "deprecated": i.deprecated.map(ts),
        "deleted": null,
        "labels": i.labels,
        "architecture": i.architecture,
    })
}

/// `action` object, with `progress` derived from `now`.
pub fn action_json(a: &Action, now: DateTime<Utc>) -> Value {
    let progress = if a.status == "running" {
        let total = a.duration.num_milliseconds().max(1) as f64;
        let done = (now - a.started).num_milliseconds().max(0) as f64;
        ((done / total) * 100.0).floor().clamp(0.0, 99.0) as i64
    } else {
        100
    };
    let mut resources = vec![json!({ "id": a.server, "type": "server" })];
    if let Some(img) = a.image {
        resources.push(json!({ "id": img, "type": "image" }));
    }
    json!({
        "id": a.id,
        "command": a.command,
        "status": a.status,
        "progress": progress,
        "started": ts(a.started),
        "finished": a.finished.map(ts),
        "resources": resources,
        "error": if a.status == "error" {
            json!({ "code": "action_failed", "message": "Action failed" })
        } else {
            Value::Null
        },
    })
}

/// `volume` object.
pub fn volume_json(v: &Item) -> Value {
    json!({
        "id": v.id,
        "name": v.name,
        "created": ts(v.created),
        "server": v.server,
        "location": catalog::location_json(v.location),
        "size": v.size,
        "linux_device": format!("/dev/disk/by-id/scsi-0HC_Volume_{}", v.id),
        "protection": { "delete": v.protected },
        "labels": v.labels,
        "status": "available",
        "format": "ext4",
    })
}

/// `load_balancer` object.
pub fn load_balancer_json(v: &Item) -> Value {
    json!({
        "id": v.id,
        "name": v.name,
        "public_net": {
            "enabled": true,
            "ipv4": { "ip": v.ip, "dns_ptr": null },
            "ipv6": { "ip": null, "dns_ptr": null },
        },
        "private_net": [],
        "location": catalog::location_json(v.location),
        "load_balancer_type": {
            "id": 1,
            "name": "lb11",
            "description": "LB11",
            "max_connections": 10000,
            "max_services": 5,
            "max_targets": 25,
            "max_assigned_certificates": 10,
            "deprecated": null,
            "prices": [],
        },
        "protection": { "delete": v.protected },
        "labels": v.labels,
        "targets": [],
        "services": [],
        "algorithm": { "type": "round_robin" },
        "outgoing_traffic": 0,
        "ingoing_traffic": 0,
        "included_traffic": 21_990_232_555_520u64,
        "created": ts(v.created),
    })
}

/// `firewall` object.
pub fn firewall_json(v: &Item) -> Value {
    json!({
        "id": v.id,
        "name": v.name,
        "labels": v.labels,
        "created": ts(v.created),
        "rules": [{
            "direction": "in",
            "protocol": "tcp",
            "port": "22",
            "source_ips": ["0.0.0.0/0", "::/0"],
            "destination_ips": [],
            "description": "ssh",
        }],
        "applied_to": [],
    })
}

/// `network` object.
pub fn network_json(v: &Item) -> Value {
    json!({
        "id": v.id,
        "name": v.name,
        "ip_range": v.ip,
        "subnets": [],
        "routes": [],
        "servers": [],
        "load_balancers": [],
        "protection": { "delete": v.protected },
        "labels": v.labels,
        "created": ts(v.created),
        "expose_routes_to_vswitch": false,
    })
}

/// `floating_ip` object.
pub fn floating_ip_json(v: &Item) -> Value {
    json!({
        "id": v.id,
        "name": v.name,
        "description": null,
        "ip": v.ip,
        "type": "ipv4",
        "server": v.server,
        "dns_ptr": [{ "ip": v.ip, "dns_ptr": "static.example.your-server.de" }],
        "home_location": catalog::location_json(v.location),
        "blocked": false,
        "protection": { "delete": v.protected },
        "labels": v.labels,
        "created": ts(v.created),
    })
}

/// `primary_ip` object.
pub fn primary_ip_json(v: &Item) -> Value {
    json!({
        "id": v.id,
        "name": v.name,
        "ip": v.ip,
        "type": "ipv4",
        "assignee_id": v.server,
        "assignee_type": "server",
        "auto_delete": false,
        "blocked": false,
        "dns_ptr": [{ "ip": v.ip, "dns_ptr": "static.example.your-server.de" }],
        "datacenter": catalog::datacenter_json(v.location),
        "location": catalog::location_json(v.location),
        "protection": { "delete": v.protected },
        "labels": v.labels,
        "created": ts(v.created),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn project(outcome: Outcome) -> Project {
        let image = Image {
            id: 7,
            kind: "snapshot".into(),
            status: "creating".into(),
            description: "x".into(),
            labels: Labels::new(),
            created: at(0),
            created_from: Some((1, "web".into())),
            bound_to: None,
            disk_size: 40.0,
            image_size: None,
            protected: false,
            architecture: "x86".into(),
            os_flavor: "ubuntu".into(),
            os_version: None,
            deprecated: None,
        };
        Project {
            images: vec![image],
            actions: vec![Action {
                id: 9,
                command: "create_image".into(),
                server: 1,
                image: Some(7),
                started: at(0),
                duration: chrono::Duration::seconds(100),
                outcome,
                status: "running".into(),
                finished: None,
            }],
            ..Project::default()
        }
    }

    #[test]
    fn actions_end_as_their_outcome_says() {
        let cases = [
            (Outcome::Success, 50, "running", Some("creating"), 50),
            (Outcome::Success, 100, "success", Some("available"), 100),
            (Outcome::Error, 100, "error", None, 100),
            (Outcome::Stuck, 10_000, "running", Some("creating"), 99),
        ];
        for (outcome, secs, status, image, progress) in cases {
            let mut p = project(outcome);
            p.tick(at(secs));
            assert_eq!(p.actions[0].status, status, "{outcome:?}");
            assert_eq!(
                p.images.first().map(|i| i.status.as_str()),
                image,
                "{outcome:?}"
            );
            assert_eq!(p.locked(1), status == "running", "{outcome:?}");
            let j = action_json(&p.actions[0], at(secs));
            assert_eq!(j["progress"], progress, "{outcome:?}");
            assert_eq!(j["finished"].is_null(), status == "running");
            assert_eq!(j["error"].is_null(), status != "error");
        }
    }

    #[test]
    fn timestamps_use_offset_form() {
        assert_eq!(ts(at(0)), "2027-01-15T08:00:00+00:00");
    }
}
