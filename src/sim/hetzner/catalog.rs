//! Fixed Hetzner catalog data: locations, datacenters, server types, system
//! images. Real names and ids where known, so objects look like the real API's.
//!
//! Must never: hold per-project state.

use serde_json::{Value, json};

/// A location (`fsn1`, …).
#[derive(Debug, Clone, Copy)]
pub struct Location {
    /// Id.
    pub id: u64,
    /// Short name.
    pub name: &'static str,
    /// Long description.
    pub description: &'static str,
    /// ISO country.
    pub country: &'static str,
    /// City.
    pub city: &'static str,
    /// Latitude.
    pub latitude: f64,
    /// Longitude.
    pub longitude: f64,
    /// Network zone.
    pub network_zone: &'static str,
    /// The datacenter in it: (id, name).
    pub datacenter: (u64, &'static str),
}

/// Every location the simulator knows.
pub const LOCATIONS: &[Location] = &[
    Location {
        id: 1,
        name: "fsn1",
        description: "Falkenstein DC Park 1",
        country: "DE",
        city: "Falkenstein",
        latitude: 50.47612,
        longitude: 12.370071,
        network_zone: "eu-central",
        datacenter: (4, "fsn1-dc14"),
    },
    Location {
        id: 2,
        name: "nbg1",
        description: "Nuremberg DC Park 1",
        country: "DE",
        city: "Nuremberg",
        latitude: 49.452102,
        longitude: 11.076665,
        network_zone: "eu-central",
        datacenter: (2, "nbg1-dc3"),
    },
    Location {
        id: 3,
        name: "hel1",
        description: "Helsinki DC Park 1",
        country: "FI",
        city: "Helsinki",
        latitude: 60.169855,
        longitude: 24.938379,
        network_zone: "eu-central",
        datacenter: (3, "hel1-dc2"),
    },
    Location {
        id: 4,
        name: "ash",
        description: "Ashburn, VA",
        country: "US",
        city: "Ashburn, VA",
        latitude: 39.045821,
        longitude: -77.487073,
        network_zone: "us-east",
        datacenter: (5, "ash-dc1"),
    },
];

/// A server type.
#[derive(Debug, Clone, Copy)]
pub struct ServerType {
    /// Id.
    pub id: u64,
    /// Name (`cx22`).
    pub name: &'static str,
    /// Cores.
    pub cores: u64,
    /// Memory in GB.
    pub memory: f64,
    /// Disk in GB.
    pub disk: u64,
    /// `x86` or `arm`.
    pub architecture: &'static str,
    /// `shared` or `dedicated`.
    pub cpu_type: &'static str,
    /// Monthly net price, EUR.
    pub monthly: &'static str,
    /// Hourly net price, EUR.
    pub hourly: &'static str,
}

/// Every server type the simulator knows.
pub const SERVER_TYPES: &[ServerType] = &[
    ServerType {
        id: 104,
        name: "cx22",
        cores: 2,
        memory: 4.0,
        disk: 40,
        architecture: "x86",
        cpu_type: "shared",
        monthly: "3.7900000000",
        hourly: "0.0060000000",
    },
    ServerType {
        id: 105,
        name: "cx32",
        cores: 4,
        memory: 8.0,
        disk: 80,
        architecture: "x86",
        cpu_type: "shared",
        monthly: "6.8000000000",
        hourly: "0.0110000000",
    },
    ServerType {
        id: 22,
        name: "cpx11",
        cores: 2,
        memory: 2.0,
        disk: 40,
        architecture: "x86",
        cpu_type: "shared",
        monthly: "4.3500000000",
        hourly: "0.0070000000",
    },
    ServerType {
        id: 45,
        name: "cax11",
        cores: 2,
        memory: 4.0,
        disk: 40,
        architecture: "arm",
        cpu_type: "shared",
        monthly: "3.7900000000",
        hourly: "0.0060000000",
    },
];

/// A system image (shared by every project).
#[derive(Debug, Clone, Copy)]
pub struct SystemImage {
    /// Id.
    pub id: u64,
    /// Name (`ubuntu-24.04`).
    pub name: &'static str,
    /// Description.
    pub description: &'static str,
    /// `os_flavor`.
    pub os_flavor: &'static str,
    /// `os_version`.
    pub os_version: &'static str,
    /// `x86` or `arm`.
    pub architecture: &'static str,
    /// Creation time (RFC 3339).
    pub created: &'static str,
}

/// The system images every project sees in `GET /images`.
pub const SYSTEM_IMAGES: &[SystemImage] = &[
    SystemImage {
        id: 161547269,
        name: "ubuntu-24.04",
        description: "Ubuntu 24.04",
        os_flavor: "ubuntu",
        os_version: "24.04",
        architecture: "x86",
        created: "2024-04-25T14:00:00+00:00",
    },
    SystemImage {
        id: 161547270,
        name: "ubuntu-24.04",
        description: "Ubuntu 24.04",
        os_flavor: "ubuntu",
        os_version: "24.04",
        architecture: "arm",
        created: "2024-04-25T14:00:00+00:00",
    },
    SystemImage {
        id: 114690387,
        name: "debian-12",
        description: "Debian 12",
        os_flavor: "debian",
        os_version: "12",
        architecture: "x86",
        created: "2023-06-13T06:00:00+00:00",
    },
];

/// Look up a location by name.
pub fn location(name: &str) -> Option<&'static Location> {
    LOCATIONS.iter().find(|l| l.name == name)
}

/// Look up a server type by name.
pub fn server_type(name: &str) -> Option<&'static ServerType> {
    SERVER_TYPES.iter().find(|t| t.name == name)
}

/// The system image with this name for this architecture.
pub fn system_image(name: &str, architecture: &str) -> Option<&'static SystemImage> {
    SYSTEM_IMAGES
        .iter()
        .find(|i| i.name == name && i.architecture == architecture)
}

/// A system image by id.
pub fn system_image_by_id(id: u64) -> Option<&'static SystemImage> {
    SYSTEM_IMAGES.iter().find(|i| i.id == id)
}

/// `location` object.
pub fn location_json(l: &Location) -> Value {
    json!({
        "id": l.id,
        "name": l.name,
        "description": l.description,
        "country": l.country,
        "city": l.city,
        "latitude": l.latitude,
        "longitude": l.longitude,
        "network_zone": l.network_zone,
    })
}

/// `data_center` object of a location.
pub fn datacenter_json(l: &Location) -> Value {
    let ids: Vec<u64> = SERVER_TYPES.iter().map(|t| t.id).collect();
    json!({
        "id": l.datacenter.0,
        "name": l.datacenter.1,
        "description": format!("{} virtual DC", l.city),
        "location": location_json(l),
        "server_types": {
            "supported": ids,
            "available": ids,
            "available_for_migration": ids,
        },
    })
}

fn price(net: &str) -> Value {
    let gross = net
        .parse::<f64>()
        .map(|n| format!("{:.10}", n * 1.19))
        .unwrap_or_else(|_| net.to_string());
    json!({ "net": net, "gross": gross })
}

/// `server_type` object.
pub fn server_type_json(t: &ServerType) -> Value {
    let prices: Vec<Value> = LOCATIONS
        .iter()
        .map(|l| {
            json!({
                "location": l.name,
                "price_hourly": price(t.hourly),
                "price_monthly": price(t.monthly),
                "included_traffic": 21_990_232_555_520u64,
                "price_per_tb_traffic": price("1.0000000000"),
            })
        })
        .collect();
    let locations: Vec<Value> = LOCATIONS
        .iter()
        // `available` and `recommended`: added by Hetzner on 2026-04-01
        // (the official `hcloud` Python client needs them); every simulated
        // type is orderable and recommended everywhere.
        .map(|l| {
            json!({
                "id": l.id,
                "name": l.name,
                "deprecation": null,
                "available": true,
                "recommended": true,
            })
        })
        .collect();
    json!({
        "id": t.id,
        "name": t.name,
        "description": t.name.to_uppercase(),
        "category": "cost_optimized",
        "cores": t.cores,
        "memory": t.memory,
        "disk": t.disk,
        "deprecated": false,
        "deprecation": null,
        "prices": prices,
        "storage_type": "local",
        "cpu_type": t.cpu_type,
        "architecture": t.architecture,
        "locations": locations,
    })
}

/// `image` object of a system image.
pub fn system_image_json(i: &SystemImage) -> Value {
    json!({
        "id": i.id,
        "type": "system",
        "status": "available",
        "name": i.name,
        "description": i.description,
        "image_size": null,
        "disk_size": 5,
        "created": i.created,
        "created_from": null,
        "bound_to": null,
        "os_flavor": i.os_flavor,
        "os_version": i.os_version,
        "rapid_deploy": true,
        "protection": { "delete": false },
        "deprecated": null,
        "deleted": null,
        "labels": {},
        "architecture": i.architecture,
    })
}
