//! The DigitalOcean client against the simulator: paging, droplet and volume
//! snapshots end to end with exact request counts, in-progress detection,
//! busy/quota/forbidden answers, every transport fault, redaction, and a
//! paced burst under the enforced (scaled) rate limit that never sees a 429.

use snapkeeper::config::{ProviderKind, TargetKind};
use snapkeeper::policy::{Marker, SnapState};
use snapkeeper::provider::{ErrorKind, Progress, SnapshotName, WaitOutcome};
use snapkeeper::sim::{FaultKind, SimProvider};

use crate::harness::rw_ro_entry;
use crate::provider_support::{
    Case, Logs, Sim, assert_counts, assert_exchanges_valid, assert_requests_valid, fast,
    short_timeout, wait_quickly,
};

const RW: &str = "dop_v1_9c0000000000000000000000000000000000000000000000000000000000a1";
const RO: &str = "dop_v1_9c0000000000000000000000000000000000000000000000000000000000a2";
const DO: SimProvider = SimProvider::Digitalocean;
const ACCOUNT: &str = "do-main";

fn seed(extra: usize) -> String {
    let more: String = (0..extra)
        .map(|i| format!("        - {{id: {}, name: bulk-{i}}}\n", 10_000 + i))
        .collect();
    let entry = rw_ro_entry("digitalocean", "team", RW, RO);
    format!(
        r#"
settings: {{}}
digitalocean:
  accounts:
{entry}      droplets:
        - {{id: 101, name: web-1, region: nyc3, tags: [backup], snapshots: [{{id: "9001", name: before-upgrade, created_at: 2026-01-01T00:00:00Z}}]}}
        - {{id: 102, name: db-1, region: nyc3, disk: 80, tags: [backup]}}
{more}      volumes:
        - id: 11111111-2222-4333-8444-555555555555
          name: pgdata
          region: nyc3
          size_gigabytes: 100
          tags: [backup]
      load_balancers: [{{name: lb-1, droplets: [web-1]}}]
      firewalls: [{{name: fw-1}}]
      kubernetes_clusters: [{{name: k8s-1}}]
      cdn_endpoints: [{{origin: assets.nyc3.digitaloceanspaces.com}}]
"#
    )
}

fn marker(resource: &str) -> Marker {
    CASE.marker(resource, "six-hourly")
}

pub const CASE: Case = Case {
    provider: ProviderKind::DigitalOcean,
    sim: DO,
    account: ACCOUNT,
    rw: RW,
    ro: RO,
    seed,
    kind: TargetKind::Droplet,
    list: "/v2/droplets",
    per_page: 200,
    create: "/v2/droplets/{droplet_id}/actions",
    web: "101",
    db: "102",
    web_listed: |web| {
        assert_eq!(
            (web.name.as_str(), web.region.as_str(), web.tags.clone()),
            ("web-1", "nyc3", vec!["backup".to_string()])
        );
    },
    sections: &[
        ("droplets", 2),
        ("volumes", 1),
        ("snapshots", 1),
        // The one private image is that droplet snapshot: it is listed
        // under snapshots only, not twice.
        ("images", 0),
        ("load_balancers", 1),
        ("firewalls", 1),
        ("kubernetes_clusters", 1),
        ("cdn_endpoints", 1),
    ],
};

#[tokio::test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
async fn droplet_snapshot_create_wait_list_tag_delete() {
    let (sim, client) = CASE.start(0).await;
    let web = CASE.resource(client.as_ref(), "101").await;
    assert!(!web.locked);
    assert!(
        crate::provider_support::running(client.as_ref(), ACCOUNT, &web)
            .await
            .is_empty()
    );
    sim.reset_counts();

    let m = marker("101");
    let pending = client
        .create_snapshot(
            &web,
            &SnapshotName::Managed(m.clone()),
            &["snapkeeper".into()],
        )
        .await
        .unwrap();
    assert_eq!(pending.name, m.encode());
    assert!(pending.action_id.is_some());
    assert_eq!(pending.snapshot_id, None);

    // While it runs: the droplet is locked, the snapshot is listed nowhere
    // (DigitalOcean's pessimistic case). The droplet listing's `locked`
    // settles "is one running?" without a request for its actions.
    let web = CASE.resource(client.as_ref(), "101").await;
    assert!(web.locked);
    let running = crate::provider_support::running(client.as_ref(), ACCOUNT, &web).await;
    assert_eq!(running.len(), 1, "{running:?}");
    assert_eq!(running[0].what, "locked");
    assert_eq!(running[0].marker, None);
    let managed = CASE.managed(client.as_ref(), TargetKind::Droplet).await;
    assert!(managed.is_empty());
    assert_eq!(
        client.poll(&pending).await.unwrap(),
        Progress::Running { percent: None }
    );

    sim.advance(600);
    let outcome = wait_quickly(client.as_ref(), &pending).await;
    let WaitOutcome::Done { snapshot_id } = outcome else {
        panic!("{outcome:?}")
    };

    let managed = CASE.managed(client.as_ref(), TargetKind::Droplet).await;
    assert_eq!(managed.len(), 1);
    let snap = &managed[0];
    assert_eq!(snap.id, snapshot_id);
    assert_eq!(snap.marker.as_ref(), Some(&m));
    assert_eq!(snap.resource_id.as_deref(), Some("101"));
    assert_eq!(snap.state, SnapState::Complete);
    assert!(snap.tags.contains(&"snapkeeper".to_string()), "{snap:?}");
    // The manual one is listed under All only.
    let all = CASE.all(client.as_ref(), TargetKind::Droplet).await;
    assert_eq!(all.len(), 2);
    assert!(
        all.iter()
            .any(|s| s.name == "before-upgrade" && s.marker.is_none())
    );

    client.delete_snapshot(snap).await.unwrap();
    let left = CASE.all(client.as_ref(), TargetKind::Droplet).await;
    assert_eq!(left.len(), 1);

    // The minimum for each step, and nothing else: no droplet's actions are
    // read (its `locked` flag answered "is one running?").
    let want = [
        ("DELETE /v2/snapshots/{snapshot_id}", 1),
        ("GET /v2/actions/{action_id}", 2),
        ("GET /v2/droplets", 1),
        ("GET /v2/droplets/{droplet_id}/snapshots", 1),
        ("GET /v2/snapshots", 5),
        ("POST /v2/droplets/{droplet_id}/actions", 1),
        ("POST /v2/tags", 1),
        ("POST /v2/tags/{tag_id}/resources", 1),
    ];
    assert_counts(&sim, RW, &want);
    assert_exchanges_valid(&sim.requests());
}

#[tokio::test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
async fn volume_snapshots_are_synchronous_and_tagged_at_creation() {
    let (sim, client) = CASE.start(0).await;
    let vols = client.list_resources(TargetKind::Volume).await.unwrap();
    assert_eq!(vols.len(), 1);
    let vol = &vols[0];
    assert_eq!(vol.disk_gb, 100);
    assert!(
        crate::provider_support::running(client.as_ref(), ACCOUNT, vol)
            .await
            .is_empty()
    );
    sim.reset_counts();
    let m = marker(&vol.id);
    let pending = client
        .create_snapshot(vol, &SnapshotName::Managed(m.clone()), &["keep".into()])
        .await
        .unwrap();
    let id = pending.snapshot_id.clone().unwrap();
    assert_eq!(
        client.poll(&pending).await.unwrap(),
        Progress::Done {
            snapshot_id: id.clone()
        }
    );
    let managed = CASE.managed(client.as_ref(), TargetKind::Volume).await;
    assert_eq!(managed.len(), 1);
    assert_eq!(managed[0].id, id);
    assert_eq!(managed[0].marker.as_ref(), Some(&m));
    assert_eq!(managed[0].tags, vec!["keep".to_string()]);
    assert_eq!(
        sim.counts(RW),
        vec![
            ("GET /v2/snapshots".to_string(), 1),
            ("POST /v2/volumes/{volume_id}/snapshots".to_string(), 1)
        ]
    );
    assert_exchanges_valid(&sim.requests());
}

#[tokio::test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
async fn busy_quota_and_read_only_answers_are_typed_and_not_retried() {
    let (sim, client) = CASE.start(0).await;
    let web = CASE.resource(client.as_ref(), "101").await;
    let name = SnapshotName::Managed(marker("101"));
    sim.reset_counts();

    sim.fault(
        DO,
        "POST",
        "/v2/droplets/{droplet_id}/actions",
        FaultKind::Busy,
        Some(1),
    );
    let err = client.create_snapshot(&web, &name, &[]).await.unwrap_err();
    assert_eq!((err.kind, err.status), (ErrorKind::Busy, Some(422)));
    assert!(err.is_retryable());

    sim.fault(
        DO,
        "POST",
        "/v2/droplets/{droplet_id}/actions",
        FaultKind::Quota,
        Some(1),
    );
    let err = client.create_snapshot(&web, &name, &[]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Quota);

    // A real second create while the first runs: 422 pending event.
    client.create_snapshot(&web, &name, &[]).await.unwrap();
    let err = client.create_snapshot(&web, &name, &[]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Busy);
    assert_eq!(sim.count(RW, "POST /v2/droplets/{droplet_id}/actions"), 4);

    let ro = CASE.client(&sim, RO, &fast(&sim.clock));
    let err = ro.create_snapshot(&web, &name, &[]).await.unwrap_err();
    assert_eq!((err.kind, err.status), (ErrorKind::Forbidden, Some(403)));
    let text = err.to_string();
    assert!(
        text.starts_with(
            "the token for account do-main cannot create a snapshot of droplet 101 (403 forbidden)"
        ),
        "{text}"
    );
    assert!(!text.contains(RO) && !format!("{err:?}").contains(RO));
    assert_eq!(sim.count(RO, "POST /v2/droplets/{droplet_id}/actions"), 1);

    let bad = CASE.client(&sim, "dop_v1_wrong", &fast(&sim.clock));
    let err = bad.list_resources(TargetKind::Droplet).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized);
    assert!(err.to_string().contains("list droplets"), "{err}");
    assert_requests_valid(&sim.requests());
}

#[tokio::test]
async fn creates_are_retried_only_when_nothing_was_done() {
    let sim = Sim::start(&seed(0)).await;
    let client = CASE.client(&sim, RW, &short_timeout(&sim.clock));
    let web = CASE.resource(client.as_ref(), "101").await;
    let name = SnapshotName::Managed(marker("101"));
    let path = "/v2/droplets/{droplet_id}/actions";

    // 500 may have done it: no retry.
    sim.reset_counts();
    sim.fault(DO, "POST", path, FaultKind::Status(500), Some(1));
    let err = client.create_snapshot(&web, &name, &[]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Server);
    assert_eq!(sim.count(RW, "POST /v2/droplets/{droplet_id}/actions"), 1);

    // A time-out may have reached the server: no retry.
    sim.fault(DO, "POST", path, FaultKind::Timeout, Some(1));
    let err = client.create_snapshot(&web, &name, &[]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transport);
    // A broken connection likewise.
    sim.fault(DO, "POST", path, FaultKind::Reset, Some(1));
    let err = client.create_snapshot(&web, &name, &[]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transport);
    let state: Vec<_> = crate::provider_support::running(client.as_ref(), ACCOUNT, &web).await;
    assert!(
        state.is_empty(),
        "no action may have been started: {state:?}"
    );

    // 429 and 503 say nothing was done: retried, one snapshot.
    sim.reset_counts();
    sim.fault(DO, "POST", path, FaultKind::Status(429), Some(1));
    sim.fault(DO, "POST", path, FaultKind::Status(503), Some(1));
    client.create_snapshot(&web, &name, &[]).await.unwrap();
    assert_eq!(sim.count(RW, "POST /v2/droplets/{droplet_id}/actions"), 3);
    let web = CASE.resource(client.as_ref(), "101").await;
    assert_eq!(
        crate::provider_support::running(client.as_ref(), ACCOUNT, &web)
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn the_token_never_reaches_logs_or_errors() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let sim = Sim::start(&seed(0)).await;
    let client = CASE.client(&sim, RW, &short_timeout(&sim.clock));
    sim.fault(DO, "GET", "/v2/droplets", FaultKind::Status(500), Some(2));
    sim.fault(DO, "GET", "/v2/volumes", FaultKind::Reset, None);
    let web = CASE.resource(client.as_ref(), "101").await;
    let err = client.list_resources(TargetKind::Volume).await.unwrap_err();
    let mut texts = vec![err.to_string(), format!("{err:?}")];
    sim.fault(
        DO,
        "POST",
        "/v2/droplets/{droplet_id}/actions",
        FaultKind::Timeout,
        Some(1),
    );
    let err = client
        .create_snapshot(&web, &SnapshotName::Manual("manual-1".into()), &[])
        .await
        .unwrap_err();
    texts.push(err.to_string());
    texts.push(format!("{err:?}"));
    let log = logs.text();
    assert!(log.contains("provider request retried"), "{log}");
    assert!(log.contains("provider request"), "{log}");
    assert!(!log.contains(RW), "token in logs");
    for t in texts {
        assert!(!t.contains(RW), "token in {t}");
    }
}
