//! The Hetzner client against the simulator: page/per_page paging, snapshot
//! images end to end with exact request counts, label-selector listing with
//! the labels-and-description agreement rule, running actions, locked /
//! protected / quota / read-only answers, faults, and a paced burst under
//! the enforced (scaled) rate limit that never sees a 429.

use snapkeeper::config::{ProviderKind, TargetKind};
use snapkeeper::policy::{Marker, SnapState};
use snapkeeper::provider::{ErrorKind, Progress, SnapshotName, WaitOutcome};
use snapkeeper::sim::{FaultKind, SimProvider};

use crate::harness::rw_ro_entry;
use crate::provider_support::{
    Case, Logs, Sim, assert_counts, assert_exchanges_valid, assert_requests_valid, fast,
    wait_quickly,
};

const RW: &str = "hzProviderTestReadWrite00000000000000000000000000000000000000001";
const RO: &str = "hzProviderTestReadOnly000000000000000000000000000000000000000002";
const HZ: SimProvider = SimProvider::Hetzner;
const ACCOUNT: &str = "hz-main";
const CREATE: &str = "/servers/{id}/actions/create_image";

fn marker(resource: &str, policy: &str) -> Marker {
    CASE.marker(resource, policy)
}

pub const CASE: Case = Case {
    provider: ProviderKind::Hetzner,
    sim: HZ,
    account: ACCOUNT,
    rw: RW,
    ro: RO,
    seed,
    kind: TargetKind::Server,
    list: "/servers",
    per_page: 50,
    create: CREATE,
    web: "101",
    db: "102",
    web_listed: |web| {
        assert_eq!(web.labels.get("backup").map(String::as_str), Some("true"));
        assert_eq!(web.disk_gb, 40);
    },
    sections: &[
        ("servers", 2),
        ("volumes", 1),
        ("snapshots", 4),
        ("load_balancers", 1),
        ("firewalls", 1),
    ],
};

fn labels_yaml(m: &Marker) -> String {
    let pairs: Vec<String> = m
        .labels()
        .iter()
        .map(|(k, v)| format!("{k}: \"{v}\""))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

fn seed(extra: usize) -> String {
    let more: String = (0..extra)
        .map(|i| format!("        - {{ name: bulk-{i:03} }}\n"))
        .collect();
    let good = marker("101", "old");
    let mismatched_labels = marker("101", "other");
    let entry = rw_ro_entry("hetzner", "main", RW, RO);
    format!(
        r#"
settings: {{}}
hetzner:
  projects:
{entry}      servers:
        - {{ id: 101, name: web-1, labels: {{ backup: "true" }}, server_type: cx22 }}
        - {{ id: 102, name: db-1, server_type: cx32 }}
{more}      images:
        - {{ id: 9001, server: web-1, description: before-upgrade, age: 3d }}
        - {{ id: 9002, server: db-1, description: keep-me, protected: true, age: 5d }}
        - {{ id: 9003, server: web-1, description: "{good_text}", labels: {good_labels}, age: 2d }}
        - {{ id: 9004, server: web-1, description: "{good_text}", labels: {bad_labels}, age: 1d }}
      volumes: [{{ id: 501, name: db-data, size: 100, server: db-1 }}]
      load_balancers: [{{ id: 601, name: lb-web }}]
      firewalls: [{{ id: 701, name: fw }}]
"#,
        good_text = good.encode(),
        good_labels = labels_yaml(&good),
        bad_labels = labels_yaml(&mismatched_labels),
    )
}

#[tokio::test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
async fn managed_listing_needs_labels_and_description_to_agree() {
    let (sim, client) = CASE.start(0).await;
    let managed = CASE.managed(client.as_ref(), TargetKind::Server).await;
    let ids: Vec<&str> = managed.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, vec!["9003"]);
    assert_eq!(managed[0].marker, Some(marker("101", "old")));
    assert_eq!(managed[0].resource_id.as_deref(), Some("101"));
    let all = CASE.all(client.as_ref(), TargetKind::Server).await;
    assert_eq!(all.len(), 4);
    assert!(
        all.iter()
            .find(|s| s.id == "9004")
            .unwrap()
            .marker
            .is_none()
    );
    assert!(all.iter().find(|s| s.id == "9002").unwrap().protected);
    let q = sim.requests()[0].query.clone().unwrap_or_default();
    assert!(
        q.contains("label_selector=snapkeeper%2Faccount%3Dhz-main"),
        "{q}"
    );
    assert_exchanges_valid(&sim.requests());
}

#[tokio::test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
async fn create_image_wait_list_delete() {
    let (sim, client) = CASE.start(0).await;
    let db = CASE.resource(client.as_ref(), "102").await;
    assert!(
        crate::provider_support::running(client.as_ref(), ACCOUNT, &db)
            .await
            .is_empty()
    );
    sim.reset_counts();

    let m = marker("102", "daily");
    let pending = client
        .create_snapshot(&db, &SnapshotName::Managed(m.clone()), &[])
        .await
        .unwrap();
    let image_id = pending.snapshot_id.clone().unwrap();
    assert!(pending.action_id.is_some());

    let running = crate::provider_support::running(client.as_ref(), ACCOUNT, &db).await;
    // Our own image being created is in the listing, with its marker: no
    // request per server.
    assert!(
        running
            .iter()
            .any(|r| r.what.contains(&image_id) && r.marker.as_ref() == Some(&m)),
        "{running:?}"
    );
    assert!(
        running.iter().any(|r| r.marker.as_ref() == Some(&m)),
        "{running:?}"
    );
    let listed = CASE.managed(client.as_ref(), TargetKind::Server).await;
    let ours = listed.iter().find(|s| s.id == image_id).unwrap();
    assert_eq!(ours.state, SnapState::InProgress);
    assert!(matches!(
        client.poll(&pending).await.unwrap(),
        Progress::Running { .. }
    ));

    sim.advance(3600);
    let outcome = wait_quickly(client.as_ref(), &pending).await;
    assert_eq!(
        outcome,
        WaitOutcome::Done {
            snapshot_id: image_id.clone()
        }
    );
    let listed = CASE.managed(client.as_ref(), TargetKind::Server).await;
    let ours = listed.iter().find(|s| s.id == image_id).unwrap();
    assert_eq!(ours.state, SnapState::Complete);
    assert_eq!(ours.marker.as_ref(), Some(&m));
    assert_eq!(ours.resource_id.as_deref(), Some("102"));
    client.delete_snapshot(ours).await.unwrap();

    let want = [
        ("DELETE /images/{id}", 1),
        ("GET /actions/{id}", 2),
        ("GET /images", 3),
        ("POST /servers/{id}/actions/create_image", 1),
    ];
    assert_counts(&sim, RW, &want);
    assert_exchanges_valid(&sim.requests());
}

#[tokio::test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
async fn locked_protected_quota_and_read_only() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let (sim, client) = CASE.start(0).await;
    let web = CASE.resource(client.as_ref(), "101").await;
    let name = SnapshotName::Managed(marker("101", "daily"));

    sim.fault(HZ, "POST", CREATE, FaultKind::Locked, Some(1));
    let err = client.create_snapshot(&web, &name, &[]).await.unwrap_err();
    assert_eq!(
        (err.kind, err.status, err.code.as_deref()),
        (ErrorKind::Busy, Some(423), Some("locked"))
    );
    sim.fault(HZ, "POST", CREATE, FaultKind::Quota, Some(1));
    let err = client.create_snapshot(&web, &name, &[]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Quota);

    // Protection: known from the listing (no request) or from the answer.
    let all = CASE.all(client.as_ref(), TargetKind::Server).await;
    sim.reset_counts();
    let protected = all.iter().find(|s| s.id == "9002").unwrap();
    let err = client.delete_snapshot(protected).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Protected);
    assert_eq!(sim.count(RW, "DELETE /images/{id}"), 0);
    let manual = all.iter().find(|s| s.id == "9001").unwrap();
    sim.fault(HZ, "DELETE", "/images/{id}", FaultKind::Protected, Some(1));
    let err = client.delete_snapshot(manual).await.unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_deref()),
        (ErrorKind::Protected, Some("protected"))
    );
    assert_eq!(sim.count(RW, "DELETE /images/{id}"), 1);

    let ro = CASE.client(&sim, RO, &fast(&sim.clock));
    let err = ro.create_snapshot(&web, &name, &[]).await.unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_deref()),
        (ErrorKind::Forbidden, Some("token_readonly"))
    );
    let text = err.to_string();
    assert!(
        text.contains("cannot create a snapshot of server 101"),
        "{text}"
    );
    assert!(!text.contains(RO));

    // A real second create while the first runs: 423 locked, not retried.
    client.create_snapshot(&web, &name, &[]).await.unwrap();
    sim.reset_counts();
    let err = client.create_snapshot(&web, &name, &[]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Busy);
    assert_eq!(sim.count(RW, "POST /servers/{id}/actions/create_image"), 1);
    assert!(!logs.text().contains(RW) && !logs.text().contains(RO));
    assert_requests_valid(&sim.requests());
}

#[tokio::test]
async fn polls_survive_faults_and_a_502_create_is_not_retried() {
    // (Failed and stuck actions and reads after faults, as for every
    // provider: `provider_cases.rs`.)
    let (sim, client) = CASE.start(0).await;
    let web = CASE.resource(client.as_ref(), "101").await;
    let failing = (Some("101"), FaultKind::ActionError);
    sim.fault_on(HZ, "POST", CREATE, failing.0, failing.1, Some(1));
    let name = SnapshotName::Managed(marker("101", "daily"));
    let failing = client.create_snapshot(&web, &name, &[]).await.unwrap();
    sim.advance(7200);
    // Polls survive transient faults inside the wait.
    sim.fault(HZ, "GET", "/actions/{id}", FaultKind::Status(503), Some(6));
    let outcome = wait_quickly(client.as_ref(), &failing).await;
    assert!(matches!(outcome, WaitOutcome::Failed { .. }), "{outcome:?}");

    // A 502 on create_image may have created it: not retried.
    sim.reset_counts();
    let idle = CASE.resource(client.as_ref(), "101").await;
    sim.fault(HZ, "POST", CREATE, FaultKind::Status(502), Some(1));
    let err = client
        .create_snapshot(&idle, &SnapshotName::Manual("x".into()), &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Server);
    assert_eq!(sim.count(RW, "POST /servers/{id}/actions/create_image"), 1);
}

/// Hetzner counts per project, and a token belongs to one project: two
/// accounts with the same token share one pacer and, spending the budget
/// the headers announce (no client-side bucket), their concurrent listings
/// together see no 429. With a pacer each (here by giving each its own
/// `max_pace_wait`, part of the pacer's key) both spend the same budget
/// twice and are refused.
#[tokio::test]
async fn two_accounts_with_one_token_share_the_project_budget() {
    const PER_ACCOUNT: usize = 40;
    // 3,600/h refilling 1/s at factor 0.01 and window scale 0.0004: a
    // budget of 36 refilling 25/s, announced in the headers.
    let yaml = seed(0).replace(
        "settings: {}",
        "settings: {rate_limit_factor: 0.01, rate_window_scale: 0.0004}",
    );
    let opts = |wait_ms: u64| snapkeeper::provider::ClientOptions {
        limits: None,
        rate_limit_factor: 0.01,
        max_pace_wait: std::time::Duration::from_millis(wait_ms),
        ..fast(&snapkeeper::clock::Clock::system())
    };
    let burst = |sim: &Sim, waits: [u64; 2]| {
        let clients: Vec<_> = ["hz-one", "hz-two"]
            .iter()
            .zip(waits)
            .map(|(name, w)| sim.client(ProviderKind::Hetzner, name, RW, &opts(w)))
            .collect();
        async move {
            let calls = clients
                .iter()
                .flat_map(|c| (0..PER_ACCOUNT).map(move |_| c.list_resources(TargetKind::Server)));
            futures_util::future::join_all(calls)
                .await
                .iter()
                .filter(|r| r.is_err())
                .count()
        }
    };

    let sim = Sim::start_with_clock(&yaml, snapkeeper::clock::Clock::system()).await;
    assert_eq!(burst(&sim, [5000, 5000]).await, 0);
    assert_eq!(sim.count(RW, "GET /servers"), 2 * PER_ACCOUNT as u64);
    assert_eq!(sim.rate_limited(), 0, "429s seen");

    let sim = Sim::start_with_clock(&yaml, snapkeeper::clock::Clock::system()).await;
    burst(&sim, [5000, 5001]).await;
    assert!(
        sim.rate_limited() > 0,
        "two pacers never hit the project limit"
    );
}
