//! The Vultr client against the simulator: cursor paging, snapshots end to
//! end with exact request counts (the marker in the description is the only
//! link to the instance), pending detection, faults, and a paced burst that
//! never sees a 429.

use std::time::Duration;

use snapkeeper::clock::Clock;
use snapkeeper::config::{ProviderKind, TargetKind};
use snapkeeper::policy::{Marker, SnapState};
use snapkeeper::provider::{ClientOptions, ErrorKind, Progress, SnapshotName, WaitOutcome};
use snapkeeper::sim::{FaultKind, SimProvider};

use crate::harness::rw_ro_entry;
use crate::provider_support::{
    Case, Logs, Sim, assert_counts, assert_exchanges_valid, fast, wait_quickly,
};

const RW: &str = "SIMVULTRTESTRW0000000000000000000000RW";
const RO: &str = "SIMVULTRTESTRO0000000000000000000000RO";
const VU: SimProvider = SimProvider::Vultr;
const ACCOUNT: &str = "vultr-main";
const WEB: &str = "3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e01";
const DB: &str = "3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e02";

fn seed(extra: usize, rate: &str) -> String {
    let bulk = |i| format!("        - {{label: bulk-{i}}}\n");
    let more: String = (0..extra).map(bulk).collect();
    let entry = rw_ro_entry("vultr", "main", RW, RO);
    format!(
        "settings: {{}}
vultr:
  rate_limit: {rate}
  accounts:
{entry}      instances:
        - {{id: {WEB}, label: web-1, tags: [backup], disk: 55, region: ewr}}
        - {{id: {DB}, label: db-1, tags: [backup]}}
{more}      snapshots:
        - {{description: before-upgrade, source_instance: {DB}, date_created: 2026-01-15T09:30:00Z}}
      load_balancers: [{{label: web-lb, region: ewr, status: active}}]
      firewalls: [{{description: web}}]
      kubernetes_clusters: [{{label: k8s, region: ewr, version: v1.33.0+1}}]
      blocks: [{{label: db-data, region: ewr, size_gb: 100}}]
"
    )
}

fn marker(resource: &str) -> Marker {
    CASE.marker(resource, "nightly")
}

pub const CASE: Case = Case {
    provider: ProviderKind::Vultr,
    sim: VU,
    account: ACCOUNT,
    rw: RW,
    ro: RO,
    seed: |extra| seed(extra, "{}"),
    kind: TargetKind::Instance,
    list: "/instances",
    per_page: 500,
    create: "/snapshots",
    web: WEB,
    db: DB,
    web_listed: |web| assert_eq!((web.name.as_str(), web.disk_gb), ("web-1", 55)),
    sections: &[
        ("instances", 2),
        ("snapshots", 1),
        ("block_storage", 1),
        ("load_balancers", 1),
        ("firewalls", 1),
        ("kubernetes_clusters", 1),
    ],
};

#[tokio::test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
async fn snapshot_create_pending_wait_list_delete() {
    let (sim, client) = CASE.start(0).await;
    let web = CASE.resource(client.as_ref(), WEB).await;
    sim.reset_counts();

    let m = marker(WEB);
    let pending = client
        .create_snapshot(&web, &SnapshotName::Managed(m.clone()), &["ignored".into()])
        .await
        .unwrap();
    let id = pending.snapshot_id.clone().unwrap();
    assert_eq!(pending.name, m.encode());

    // Pending: listed as in progress with its marker, and found by instance.
    let running = crate::provider_support::running(client.as_ref(), ACCOUNT, &web).await;
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].marker.as_ref(), Some(&m));
    let listed = CASE.managed(client.as_ref(), TargetKind::Instance).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, SnapState::InProgress);
    assert_eq!(
        client.poll(&pending).await.unwrap(),
        Progress::Running { percent: None }
    );

    sim.advance(3600);
    let outcome = wait_quickly(client.as_ref(), &pending).await;
    assert_eq!(
        outcome,
        WaitOutcome::Done {
            snapshot_id: id.clone()
        }
    );

    let all = CASE.all(client.as_ref(), TargetKind::Instance).await;
    assert_eq!(all.len(), 2);
    let ours = all.iter().find(|s| s.id == id).unwrap();
    assert_eq!(ours.state, SnapState::Complete);
    assert_eq!(ours.resource_id.as_deref(), Some(WEB));
    assert_eq!(ours.marker.as_ref(), Some(&m));
    let manual = all.iter().find(|s| s.id != id).unwrap();
    assert_eq!(
        (manual.marker.as_ref(), manual.resource_id.as_deref()),
        (None, None)
    );
    assert!(
        crate::provider_support::running(client.as_ref(), ACCOUNT, &web)
            .await
            .is_empty()
    );

    client.delete_snapshot(ours).await.unwrap();
    let want = [
        ("DELETE /snapshots/{snapshot-id}", 1),
        ("GET /snapshots", 4),
        ("GET /snapshots/{snapshot-id}", 2),
        ("POST /snapshots", 1),
    ];
    assert_counts(&sim, RW, &want);
    assert_exchanges_valid(&sim.requests());
}

#[tokio::test]
async fn refusals_and_faults() {
    let (sim, client) = CASE.start(0).await;
    let web = CASE.resource(client.as_ref(), WEB).await;
    let db = CASE.resource(client.as_ref(), DB).await;
    let name = SnapshotName::Managed(marker(WEB));

    sim.fault_on(
        VU,
        "POST",
        "/snapshots",
        Some(WEB),
        FaultKind::Quota,
        Some(1),
    );
    let err = client.create_snapshot(&web, &name, &[]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Quota, "{err}");

    // 503 is Vultr's "slow down": retried even for a create.
    sim.reset_counts();
    sim.fault(VU, "POST", "/snapshots", FaultKind::Status(503), Some(1));
    client.create_snapshot(&web, &name, &[]).await.unwrap();
    assert_eq!(sim.count(RW, "POST /snapshots"), 2);

    // A second while one is pending: busy.
    let err = client.create_snapshot(&web, &name, &[]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Busy, "{err}");
    // 500 on a create: not retried.
    sim.reset_counts();
    sim.fault(VU, "POST", "/snapshots", FaultKind::Status(500), Some(1));
    let err = client
        .create_snapshot(&db, &SnapshotName::Manual("m".into()), &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Server);
    assert_eq!(sim.count(RW, "POST /snapshots"), 1);

    let ro = CASE.client(&sim, RO, &fast(&sim.clock));
    let err = ro.create_snapshot(&db, &name, &[]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Forbidden);
    assert!(
        err.to_string()
            .contains("cannot create a snapshot of instance"),
        "{err}"
    );
    let bad = CASE.client(&sim, "nope", &fast(&sim.clock));
    assert_eq!(
        bad.list_resources(TargetKind::Instance)
            .await
            .unwrap_err()
            .kind,
        ErrorKind::Unauthorized
    );
    // (Reads after transport faults, as for every provider:
    // `provider_cases.rs`.)
}

#[tokio::test]
async fn a_paced_burst_never_hits_the_rate_limit() {
    let logs = Logs::default();
    let _guard = logs.capture();
    // The published 30/s, enforced; the client's default pacing (20/s).
    let sim = Sim::start_with_clock(
        &seed(0, "{per_second: 30}"),
        snapkeeper::clock::Clock::system(),
    )
    .await;
    let opts = ClientOptions {
        limits: None,
        ..fast(&sim.clock)
    };
    let client = sim.client(ProviderKind::Vultr, ACCOUNT, RW, &opts);
    let client = client.as_ref();
    let burst = (0..80).map(|_| client.list_resources(TargetKind::Instance));
    let results = futures_util::future::join_all(burst).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(sim.count(RW, "GET /instances"), 80);
    assert_eq!(sim.rate_limited(), 0, "429s seen");
    assert!(sim.requests().iter().all(|r| r.status != 503));
    assert!(!logs.text().contains(RW));
}

/// Three Vultr accounts (three tokens) on one host, as `run` builds them.
fn three_accounts(rate: &str) -> String {
    let mut accounts = String::new();
    for (i, key) in THREE.iter().enumerate() {
        accounts.push_str(&format!(
            "    - name: team-{i}\n      api_keys: [{{key: {key}}}]\n      instances: [{{label: web-{i}}}]\n"
        ));
    }
    format!("settings: {{}}\nvultr:\n  rate_limit: {rate}\n  accounts:\n{accounts}")
}

const THREE: [&str; 3] = [
    "SIMVULTRTEAM0000000000000000000000000A",
    "SIMVULTRTEAM0000000000000000000000000B",
    "SIMVULTRTEAM0000000000000000000000000C",
];

/// `per_call` concurrent listings from each of three accounts' clients
/// built with `opts(i)`. Returns how many listings failed and how many
/// requests the simulator refused (429 or 503).
async fn three_accounts_list(
    sim: &Sim,
    per_call: usize,
    opts: impl Fn(usize) -> ClientOptions,
) -> (usize, usize) {
    let clients: Vec<_> = THREE
        .iter()
        .enumerate()
        .map(|(i, key)| sim.client(ProviderKind::Vultr, &format!("team-{i}"), key, &opts(i)))
        .collect();
    let calls = clients
        .iter()
        .flat_map(|c| (0..per_call).map(move |_| c.list_resources(TargetKind::Instance)));
    let results = futures_util::future::join_all(calls).await;
    let failed = results
        .iter()
        .filter(|r| r.as_ref().map_or(true, |items| items.len() != 1))
        .count();
    let refused = sim
        .requests()
        .iter()
        .filter(|r| r.status == 429 || r.status == 503)
        .count();
    (failed, refused)
}

/// Vultr counts per source IP: three accounts in one process share one
/// bucket, so their concurrent listings together stay under the enforced
/// 30/s and none is refused. The same three with a pacer each (here by
/// giving each its own `max_pace_wait`, part of the pacer's key) go three
/// times as fast and are refused.
#[tokio::test]
async fn three_accounts_on_one_host_share_the_per_ip_limit() {
    const PER_ACCOUNT: usize = 40;
    let shared = |_| ClientOptions {
        limits: None,
        ..fast(&Clock::system())
    };
    let sim = Sim::start_with_clock(&three_accounts("{per_second: 30}"), Clock::system()).await;
    assert_eq!(three_accounts_list(&sim, PER_ACCOUNT, shared).await, (0, 0));
    for key in THREE {
        assert_eq!(sim.count(key, "GET /instances"), PER_ACCOUNT as u64);
    }
    assert_eq!(sim.requests().len(), 3 * PER_ACCOUNT);

    let sim = Sim::start_with_clock(&three_accounts("{per_second: 30}"), Clock::system()).await;
    let apart = |i: usize| ClientOptions {
        limits: None,
        max_pace_wait: Duration::from_millis(50 + i as u64),
        ..fast(&Clock::system())
    };
    let (_, refused) = three_accounts_list(&sim, PER_ACCOUNT, apart).await;
    assert!(refused > 0, "three pacers never hit the per-ip limit");
}
