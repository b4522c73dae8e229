//! The Vultr client against the simulator: cursor paging, snapshots end to
//! end with exact request counts (the marker in the description is the only
//! link to the instance), pending detection, faults, and a paced burst that
//! never sees a 429.

use std::time::Duration;

use snapkeeper::clock::Clock;
use snapkeeper::config::{ProviderKind, TargetKind};
use snapkeeper::policy::{Marker, SnapState};
use snapkeeper::provider::{
    ClientOptions, ErrorKind, ListScope, Progress, Provider, Resource, SnapshotName, WaitOutcome,
    wait,
};
use snapkeeper::sim::{FaultKind, SimProvider};
use tokio_util::sync::CancellationToken;

use crate::provider_support::{
    Logs, Sim, assert_exchanges_valid, assert_requests_valid, fast, quick_wait, t0,
};

const RW: &str = "SIMVULTRTESTRW0000000000000000000000RW";
const RO: &str = "SIMVULTRTESTRO0000000000000000000000RO";
const VU: SimProvider = SimProvider::Vultr;
const ACCOUNT: &str = "vultr-main";
const WEB: &str = "3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e01";
const DB: &str = "3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e02";

fn seed(extra: usize, rate: &str) -> String {
    let mut more = String::new();
    for i in 0..extra {
        more.push_str(&format!("        - {{label: bulk-{i}}}\n"));
    }
    format!(
        r#"
settings: {{}}
vultr:
  rate_limit: {rate}
  accounts:
    - name: main
      api_keys:
        - key: {RW}
        - key: {RO}
          read_only: true
      instances:
        - {{id: {WEB}, label: web-1, tags: [backup], disk: 55, region: ewr}}
        - {{id: {DB}, label: db-1, tags: [backup]}}
{more}      snapshots:
        - {{description: before-upgrade, source_instance: {DB}, date_created: 2026-01-15T09:30:00Z}}
      load_balancers: [{{label: web-lb, region: ewr, status: active}}]
      firewalls: [{{description: web}}]
      kubernetes_clusters: [{{label: k8s, region: ewr, version: v1.33.0+1}}]
      blocks: [{{label: db-data, region: ewr, size_gb: 100}}]
"#
    )
}

fn marker(resource: &str) -> Marker {
    Marker {
        account: ACCOUNT.into(),
        policy: "nightly".into(),
        resource_id: resource.into(),
        created: t0(),
    }
}

async fn instance(client: &dyn Provider, id: &str) -> Resource {
    client
        .list_resources(TargetKind::Instance)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.id == id)
        .unwrap()
}

#[tokio::test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
async fn lists_every_cursor_page_at_500() {
    let sim = Sim::start(&seed(1600, "{}")).await;
    let client = sim.client(ProviderKind::Vultr, ACCOUNT, RW, &fast(&sim.clock));
    let all = client.list_resources(TargetKind::Instance).await.unwrap();
    assert_eq!(all.len(), 1602);
    let ids: std::collections::BTreeSet<_> = all.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids.len(), 1602, "no item twice");
    let web = all.iter().find(|r| r.id == WEB).unwrap();
    assert_eq!((web.name.as_str(), web.disk_gb), ("web-1", 55));
    assert_eq!(sim.counts(RW), vec![("GET /instances".to_string(), 4)]);
    assert!(
        sim.requests()
            .iter()
            .all(|r| r.query.as_deref().unwrap_or("").contains("per_page=500"))
    );
    // A failing page fails the whole listing.
    sim.fault(VU, "GET", "/instances", FaultKind::Status(500), None);
    let err = client
        .list_resources(TargetKind::Instance)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Server);
    assert_requests_valid(&sim.requests());
}

#[tokio::test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
async fn snapshot_create_pending_wait_list_delete() {
    let sim = Sim::start(&seed(0, "{}")).await;
    let client = sim.client(ProviderKind::Vultr, ACCOUNT, RW, &fast(&sim.clock));
    let web = instance(client.as_ref(), WEB).await;
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
    let listed = client
        .list_snapshots(
            TargetKind::Instance,
            ListScope::Managed { account: ACCOUNT },
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, SnapState::InProgress);
    assert_eq!(
        client.poll(&pending).await.unwrap(),
        Progress::Running { percent: None }
    );

    sim.advance(3600);
    let outcome = wait(
        client.as_ref(),
        &pending,
        &quick_wait(),
        &CancellationToken::new(),
        |_, _| {},
    )
    .await;
    assert_eq!(
        outcome,
        WaitOutcome::Done {
            snapshot_id: id.clone()
        }
    );

    let all = client
        .list_snapshots(TargetKind::Instance, ListScope::All)
        .await
        .unwrap();
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
    let want: Vec<(String, u64)> = want.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    assert_eq!(sim.counts(RW), want);
    assert_exchanges_valid(&sim.requests());
}

#[tokio::test]
async fn refusals_and_faults() {
    let sim = Sim::start(&seed(0, "{}")).await;
    let client = sim.client(ProviderKind::Vultr, ACCOUNT, RW, &fast(&sim.clock));
    let web = instance(client.as_ref(), WEB).await;
    let db = instance(client.as_ref(), DB).await;
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

    let ro = sim.client(ProviderKind::Vultr, ACCOUNT, RO, &fast(&sim.clock));
    let err = ro.create_snapshot(&db, &name, &[]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Forbidden);
    assert!(
        err.to_string()
            .contains("cannot create a snapshot of instance"),
        "{err}"
    );
    let bad = sim.client(ProviderKind::Vultr, ACCOUNT, "nope", &fast(&sim.clock));
    assert_eq!(
        bad.list_resources(TargetKind::Instance)
            .await
            .unwrap_err()
            .kind,
        ErrorKind::Unauthorized
    );

    // Reads survive transport faults.
    for kind in [
        FaultKind::Status(429),
        FaultKind::Status(502),
        FaultKind::Reset,
        FaultKind::Malformed,
        FaultKind::SlowMs(50),
    ] {
        sim.fault(VU, "GET", "/snapshots", kind.clone(), Some(1));
        let got = client
            .list_snapshots(TargetKind::Instance, ListScope::All)
            .await;
        assert!(got.is_ok(), "{kind:?}: {got:?}");
    }
}

#[tokio::test]
async fn failed_and_stuck_snapshots() {
    let sim = Sim::start(&seed(0, "{}")).await;
    let client = sim.client(ProviderKind::Vultr, ACCOUNT, RW, &fast(&sim.clock));
    let web = instance(client.as_ref(), WEB).await;
    let db = instance(client.as_ref(), DB).await;
    sim.fault_on(
        VU,
        "POST",
        "/snapshots",
        Some(WEB),
        FaultKind::ActionError,
        Some(1),
    );
    sim.fault_on(
        VU,
        "POST",
        "/snapshots",
        Some(DB),
        FaultKind::ActionStuck,
        Some(1),
    );
    let failing = client
        .create_snapshot(&web, &SnapshotName::Managed(marker(WEB)), &[])
        .await
        .unwrap();
    let stuck = client
        .create_snapshot(&db, &SnapshotName::Managed(marker(DB)), &[])
        .await
        .unwrap();
    sim.advance(7200);
    let cancel = CancellationToken::new();
    let outcome = wait(client.as_ref(), &failing, &quick_wait(), &cancel, |_, _| {}).await;
    assert!(matches!(outcome, WaitOutcome::Failed { .. }), "{outcome:?}");
    let mut opts = quick_wait();
    opts.base_deadline = std::time::Duration::from_millis(100);
    let outcome = wait(client.as_ref(), &stuck, &opts, &cancel, |_, _| {}).await;
    assert!(
        matches!(outcome, WaitOutcome::Unknown { .. }),
        "{outcome:?}"
    );
    // Still pending, so the next cycle sees it and does not start another.
    let running = crate::provider_support::running(client.as_ref(), ACCOUNT, &db).await;
    assert_eq!(running.len(), 1);
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

#[tokio::test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
async fn inventory_has_every_section() {
    let sim = Sim::start(&seed(0, "{}")).await;
    let client = sim.client(ProviderKind::Vultr, ACCOUNT, RW, &fast(&sim.clock));
    assert_eq!(client.kind(), ProviderKind::Vultr);
    let inv = client.inventory().await.unwrap();
    let kinds: Vec<(&str, usize)> = inv
        .sections
        .iter()
        .map(|s| (s.kind.as_str(), s.items.len()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("instances", 2),
            ("snapshots", 1),
            ("block_storage", 1),
            ("load_balancers", 1),
            ("firewalls", 1),
            ("kubernetes_clusters", 1),
        ]
    );
    assert_exchanges_valid(&sim.requests());
}
