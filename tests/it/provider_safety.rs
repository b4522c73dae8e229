//! "Never lose a snapshot", provider side, on all three clients at once:
//! create answers without optional fields still count as started, a
//! listing shorter than the provider's own total fails as incomplete, the
//! provider's clock is read from the `Date` header, seeds can date a managed
//! snapshot any way, and a full snapshot quota is `Quota` until a delete
//! makes room. Every test is one table over the providers and one helper.

use chrono::{DateTime, TimeDelta, Utc};
use snapkeeper::config::{ProviderKind, TargetKind};
use snapkeeper::policy::{Marker, SnapState};
use snapkeeper::provider::{
    ErrorKind, ListScope, Progress, Provider, Resource, Snapshot, SnapshotName, WaitOutcome,
};
use snapkeeper::sim::{FaultKind, SimProvider};

use crate::provider_support::{Sim, fast, t0, wait_quickly};

const DO_RW: &str = "dop_v1_5a0000000000000000000000000000000000000000000000000000000000a1";
const VU_RW: &str = "SIMVULTRSAFERW0000000000000000000000RW";
const HZ_RW: &str = "hzSafetyTestReadWrite0000000000000000000000000000000000000000001";
const VU_WEB: &str = "3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e01";
const VU_DB: &str = "3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e02";
const VOLUME: &str = "11111111-2222-4333-8444-555555555555";

/// One provider and resource kind under test.
#[derive(Clone, Copy)]
struct Case {
    provider: ProviderKind,
    sim: SimProvider,
    account: &'static str,
    token: &'static str,
    kind: TargetKind,
    /// The resource snapshots are taken of (and the seeded one belongs to).
    resource: &'static str,
    /// The create route (POST), as the spec's template.
    create: &'static str,
    /// The route that lists `kind` (GET), as the spec's template.
    list: &'static str,
}

const DO_DROPLET: Case = Case {
    provider: ProviderKind::DigitalOcean,
    sim: SimProvider::Digitalocean,
    account: "do-main",
    token: DO_RW,
    kind: TargetKind::Droplet,
    resource: "101",
    create: "/v2/droplets/{droplet_id}/actions",
    list: "/v2/droplets",
};

const DO_VOLUME: Case = Case {
    kind: TargetKind::Volume,
    resource: VOLUME,
    create: "/v2/volumes/{volume_id}/snapshots",
    list: "/v2/volumes",
    ..DO_DROPLET
};

const VULTR: Case = Case {
    provider: ProviderKind::Vultr,
    sim: SimProvider::Vultr,
    account: "vultr-main",
    token: VU_RW,
    kind: TargetKind::Instance,
    resource: VU_WEB,
    create: "/snapshots",
    list: "/instances",
};

const HETZNER: Case = Case {
    provider: ProviderKind::Hetzner,
    sim: SimProvider::Hetzner,
    account: "hz-main",
    token: HZ_RW,
    kind: TargetKind::Server,
    resource: "101",
    create: "/servers/{id}/actions/create_image",
    list: "/servers",
};

const ALL: [Case; 4] = [DO_DROPLET, DO_VOLUME, VULTR, HETZNER];

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// The marker time the seeded managed snapshot carries, and its (different)
/// provider creation time.
fn marker_time() -> DateTime<Utc> {
    utc("2025-05-05T05:05:00Z")
}

fn provider_time() -> DateTime<Utc> {
    utc("2024-01-02T03:04:05Z")
}

fn marker(case: &Case, created: DateTime<Utc>) -> Marker {
    Marker {
        account: case.account.into(),
        policy: "nightly".into(),
        resource_id: case.resource.into(),
        created,
    }
}

/// A seed for `case`'s provider: two resources, one managed snapshot of
/// `case.resource` dated [`marker_time`] in its marker and
/// [`provider_time`] by the provider, the provider's snapshot limit
/// `limit` where the seed sets one (Vultr per account, Hetzner per
/// project), `settings` verbatim. DigitalOcean volumes get `volume_snaps`
/// more snapshots (its limit is a fixed 25 per volume).
fn seed(case: &Case, settings: &str, limit: Option<usize>, volume_snaps: usize) -> String {
    let m = marker(case, marker_time());
    let text = m.encode();
    let at = provider_time().to_rfc3339();
    let limit = limit.map_or(String::new(), |l| format!("snapshot_limit: {l}"));
    let body = match case.provider {
        ProviderKind::DigitalOcean => {
            let (droplet_snap, volume_snap) = if case.kind == TargetKind::Droplet {
                (
                    format!("[{{id: \"9001\", name: \"{text}\", created_at: {at}}}]"),
                    None,
                )
            } else {
                (
                    "[]".to_string(),
                    Some(format!("{{name: \"{text}\", created_at: {at}}}")),
                )
            };
            let volume_snaps: Vec<String> = volume_snap
                .into_iter()
                .chain((0..volume_snaps).map(|i| format!("{{name: filler-{i}}}")))
                .collect();
            format!(
                r#"
digitalocean:
  accounts:
    - name: team
      tokens: [{{token: {DO_RW}}}]
      droplets:
        - {{id: 101, name: web-1, region: nyc3, snapshots: {droplet_snap}}}
        - {{id: 102, name: db-1, region: nyc3}}
      volumes:
        - {{id: {VOLUME}, name: pgdata, region: nyc3, size_gigabytes: 10, snapshots: [{snaps}]}}
"#,
                snaps = volume_snaps.join(", ")
            )
        }
        ProviderKind::Vultr => format!(
            r#"
vultr:
  accounts:
    - name: main
      api_keys: [{{key: {VU_RW}}}]
      {limit}
      instances:
        - {{id: {VU_WEB}, label: web-1}}
        - {{id: {VU_DB}, label: db-1}}
      snapshots:
        - {{description: "{text}", source_instance: {VU_WEB}, date_created: {at}}}
"#
        ),
        ProviderKind::Hetzner => {
            let labels: Vec<String> = m
                .labels()
                .iter()
                .map(|(k, v)| format!("{k}: \"{v}\""))
                .collect();
            format!(
                r#"
hetzner:
  projects:
    - name: main
      tokens: [{{token: {HZ_RW}}}]
      {limit}
      servers:
        - {{id: 101, name: web-1, server_type: cx22}}
        - {{id: 102, name: db-1, server_type: cx22}}
      images:
        - {{id: 9001, server: web-1, description: "{text}", labels: {{{labels}}}, created: {at}}}
"#,
                labels = labels.join(", ")
            )
        }
    };
    format!("settings: {settings}\n{body}")
}

async fn start(case: &Case, settings: &str, limit: Option<usize>) -> (Sim, Box<dyn Provider>) {
    let sim = Sim::start(&seed(case, settings, limit, 0)).await;
    let client = sim.client(case.provider, case.account, case.token, &fast(&sim.clock));
    (sim, client)
}

async fn resource(client: &dyn Provider, case: &Case) -> Resource {
    client
        .list_resources(case.kind)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.id == case.resource)
        .unwrap()
}

/// This account's managed snapshots of `case.kind`.
async fn managed(client: &dyn Provider, case: &Case) -> Vec<Snapshot> {
    client
        .list_snapshots(
            case.kind,
            ListScope::Managed {
                account: case.account,
            },
        )
        .await
        .unwrap()
}

fn name(case: &Case) -> SnapshotName {
    SnapshotName::Managed(marker(case, t0()))
}

/// The last recorded answer to `method template`, as JSON.
fn last_answer(sim: &Sim, method: &str, template: &str) -> serde_json::Value {
    sim.requests()
        .into_iter()
        .rev()
        .find(|r| r.method == method && r.template == template)
        .and_then(|r| r.response_body)
        .unwrap()
}

fn has_key(v: &serde_json::Value, key: &str) -> bool {
    match v {
        serde_json::Value::Object(m) => m.contains_key(key) || m.values().any(|v| has_key(v, key)),
        serde_json::Value::Array(items) => items.iter().any(|v| has_key(v, key)),
        _ => false,
    }
}

#[tokio::test]
async fn a_create_answer_without_optional_fields_has_started() {
    // (case, fields dropped from the 201, the id that must remain)
    let table: [(Case, &[&str], &str); 4] = [
        (DO_DROPLET, &["status", "started_at", "type"], "action"),
        (
            DO_VOLUME,
            &["created_at", "size_gigabytes", "regions", "tags", "name"],
            "snapshot",
        ),
        (VULTR, &["date_created", "status", "size"], "snapshot"),
        (HETZNER, &["image"], "action"),
    ];
    for (case, fields, followed) in table {
        let (sim, client) = start(&case, "{}", None).await;
        let target = resource(client.as_ref(), &case).await;
        sim.fault(
            case.sim,
            "POST",
            case.create,
            FaultKind::DropFields {
                fields: fields.iter().map(|f| f.to_string()).collect(),
            },
            Some(1),
        );
        let pending = client
            .create_snapshot(&target, &name(&case), &[])
            .await
            .unwrap_or_else(|e| panic!("{:?} {}: {e}", case.provider, case.create));
        let answer = last_answer(&sim, "POST", case.create);
        for f in fields {
            assert!(!has_key(&answer, f), "{f} still in {answer}");
        }
        let id = match followed {
            "action" => pending.action_id.clone(),
            _ => pending.snapshot_id.clone(),
        };
        assert!(id.is_some(), "{:?}: no {followed} id", case.provider);
        // Followed to the end, it is the snapshot the provider made.
        sim.advance(100_000);
        let outcome = wait_quickly(client.as_ref(), &pending).await;
        let WaitOutcome::Done { snapshot_id } = outcome else {
            panic!("{:?}: {outcome:?}", case.provider)
        };
        let listed = managed(client.as_ref(), &case).await;
        let made = listed.iter().find(|s| s.id == snapshot_id).unwrap();
        assert_eq!(made.marker, Some(marker(&case, t0())));
        assert_eq!(made.state, SnapState::Complete);
    }
}

#[tokio::test]
async fn a_poll_answer_without_a_status_is_still_running() {
    // Only where the spec leaves the status optional (Hetzner requires it).
    let table = [
        (DO_DROPLET, "/v2/actions/{action_id}"),
        (VULTR, "/snapshots/{snapshot-id}"),
    ];
    for (case, route) in table {
        let (sim, client) = start(&case, "{}", None).await;
        let target = resource(client.as_ref(), &case).await;
        let pending = client
            .create_snapshot(&target, &name(&case), &[])
            .await
            .unwrap();
        sim.advance(100_000);
        sim.fault(
            case.sim,
            "GET",
            route,
            FaultKind::DropFields {
                fields: vec!["status".into()],
            },
            Some(1),
        );
        let progress = client.poll(&pending).await.unwrap();
        assert_eq!(
            progress,
            Progress::Running { percent: None },
            "{:?}",
            case.provider
        );
        // Without the fault the same snapshot is done.
        assert!(matches!(
            client.poll(&pending).await.unwrap(),
            Progress::Done { .. }
        ));
    }
}

#[tokio::test]
async fn a_listed_vultr_snapshot_without_status_or_date_is_in_progress_at_its_marker_time() {
    let (sim, client) = start(&VULTR, "{}", None).await;
    sim.fault(
        VULTR.sim,
        "GET",
        "/snapshots",
        FaultKind::DropFields {
            fields: vec!["status".into(), "date_created".into()],
        },
        Some(1),
    );
    let listed = client
        .list_snapshots(VULTR.kind, ListScope::All)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, SnapState::InProgress);
    assert_eq!(listed[0].created, marker_time());
}

#[tokio::test]
async fn a_listing_shorter_than_its_total_fails_as_incomplete() {
    for case in [DO_DROPLET, DO_VOLUME, VULTR, HETZNER] {
        let (sim, client) = start(&case, "{}", None).await;
        sim.fault(
            case.sim,
            "GET",
            case.list,
            FaultKind::ShortPage { drop: 1 },
            Some(1),
        );
        let total = if case.kind == TargetKind::Volume {
            1
        } else {
            2
        };
        let err = client.list_resources(case.kind).await.unwrap_err();
        assert_eq!(
            err.kind,
            ErrorKind::Incomplete,
            "{:?}: {err}",
            case.provider
        );
        assert!(
            err.message.contains(&format!(
                "listing incomplete: {} of {total} items",
                total - 1
            )),
            "{err}"
        );
        // Whole again once the fault is spent.
        assert_eq!(client.list_resources(case.kind).await.unwrap().len(), total);
    }
}

#[tokio::test]
async fn the_provider_clock_is_read_from_the_date_header() {
    let table = [
        ("{}", TimeDelta::zero()),
        ("{date_skew: \"-3h\"}", TimeDelta::hours(-3)),
        ("{date_skew: \"+400d\"}", TimeDelta::days(400)),
    ];
    for case in [DO_DROPLET, VULTR, HETZNER] {
        for (settings, want) in table {
            let (sim, client) = start(&case, settings, None).await;
            assert_eq!(client.clock_skew(), None, "no answer yet");
            client.list_resources(case.kind).await.unwrap();
            let skew = client.clock_skew().unwrap();
            assert!(
                (skew - want).abs() <= TimeDelta::seconds(2),
                "{:?} {settings}: {skew}",
                case.provider
            );
            // The header follows the simulator's clock as it moves.
            let date = sim.requests()[0].response_headers["date"].clone();
            let shown = snapkeeper::provider::http::parse_http_date(&date).unwrap();
            assert!(
                (shown - (t0() + want)).abs() <= TimeDelta::seconds(1),
                "{date}"
            );
        }
    }
}

#[tokio::test]
async fn a_seed_dates_a_managed_snapshot_by_marker_and_by_provider_independently() {
    for case in ALL {
        let (_sim, client) = start(&case, "{}", None).await;
        let listed = managed(client.as_ref(), &case).await;
        assert_eq!(listed.len(), 1, "{:?} {:?}", case.provider, case.kind);
        let s = &listed[0];
        assert_eq!(s.marker, Some(marker(&case, marker_time())));
        assert_eq!(s.created, provider_time(), "{:?}", case.provider);
    }
}

#[tokio::test]
async fn a_full_snapshot_quota_is_quota_until_a_delete_makes_room() {
    // Vultr and Hetzner: the seeded limit is the one snapshot already there.
    // DigitalOcean: a volume holds 25 (1 managed + 24 more).
    for case in [DO_VOLUME, VULTR, HETZNER] {
        let sim = Sim::start(&seed(&case, "{}", Some(1), 24)).await;
        let client = sim.client(case.provider, case.account, case.token, &fast(&sim.clock));
        let target = resource(client.as_ref(), &case).await;
        let err = client
            .create_snapshot(&target, &name(&case), &[])
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Quota, "{:?}: {err}", case.provider);
        let ours = managed(client.as_ref(), &case).await;
        assert_eq!(ours.len(), 1);
        client.delete_snapshot(&ours[0]).await.unwrap();
        let pending = client
            .create_snapshot(&target, &name(&case), &[])
            .await
            .unwrap_or_else(|e| panic!("{:?}: {e}", case.provider));
        assert!(pending.snapshot_id.is_some() || pending.action_id.is_some());
    }
}
