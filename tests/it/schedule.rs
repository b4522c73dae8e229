//! Issue 11: each resource on its own clock. A stuck snapshot delays no
//! other resource of its account, a pass runs only when something is due,
//! and a pass costs the minimum of requests. Everything is counted in the
//! simulator's request log and the daemon's own lines, never timed.

use crate::daemon::{Line, World, config, is_create, policy, requests};
use crate::harness::{DO_TEAM, HETZNER_PROJ, digitalocean, hetzner, seed};

fn seed_stuck() -> String {
    seed(
        r#"
settings: { time_scale: 0.001 }
faults:
  # Every droplet snapshot hangs: its action never completes.
  - { provider: digitalocean, method: POST, path: "/v2/droplets/{droplet_id}/actions", kind: action_stuck }
"#,
        &[digitalocean(&[(
            "team",
            DO_TEAM,
            r#"
      droplets: [{ id: 301, name: web-1, tags: [backup] }]
      volumes: [{ id: 5e1d0001-0000-4000-8000-00000000d0a1, name: pgdata, size_gigabytes: 10, tags: [backup] }]
"#,
        )])],
    )
}

fn seed_one() -> String {
    seed(
        "settings: { time_scale: 0.001 }",
        &[hetzner(&[(
            "proj",
            HETZNER_PROJ,
            "      servers: [{ id: 42000101, name: srv-1 }]\n",
        )])],
    )
}

fn complete(account: &'static str, policy: &'static str) -> impl Fn(&Line) -> bool {
    move |l: &Line| {
        l.is_about("snapshot complete", account) && l.get("policy").as_deref() == Some(policy)
    }
}

#[test]
fn a_stuck_snapshot_delays_no_other_resource_of_its_account_issue_11() {
    // Today's defect: a cycle waited for every snapshot it started, so a
    // droplet snapshot stuck for its whole deadline (10 min) held the
    // account's volume, due every 2 s, at one snapshot.
    let w = World::new(&seed_stuck());
    w.write_config(&config(&[w.account(
        "do-a",
        "digitalocean",
        "team",
        &[
            policy("drops", "droplet", "tags: [backup]", "1h", "last: 2"),
            policy("vols", "volume", "tags: [backup]", "2s", "last: 3"),
        ],
    )]));
    let mut d = w.start();
    d.wait_count_after(0, 5, "five volume snapshots", complete("do-a", "vols"));
    // Meanwhile the droplet's one snapshot is still followed: not created
    // again, not given up on.
    let droplet_creates = requests(&w.sim)
        .iter()
        .filter(|r| is_create(r) && r.template == "/v2/droplets/{droplet_id}/actions")
        .count();
    assert_eq!(droplet_creates, 1, "{}", d.tail(30));
    assert_eq!(
        d.count(|l| l.is_about("snapshot not confirmed", "do-a")),
        0,
        "{}",
        d.tail(30)
    );
    d.stop();
}

#[test]
fn a_pass_runs_only_when_a_resource_is_due_issue_11() {
    // Today's defect: after a cycle that created, the loop woke again after
    // the retry delay for a pass that did nothing (60 s by default: so
    // `every: 10s` fired 55 s late). Now it sleeps until the next due time:
    // one pass, one listing of each kind, per snapshot.
    let w = World::new(&seed_one());
    w.write_config(&config(&[w.srv("hz-a", "all: true", "2s", "last: 2")]));
    let mut d = w.start();
    d.wait_count_after(0, 4, "four snapshots", complete("hz-a", "srv"));
    let log = requests(&w.sim);
    let creates = log.iter().filter(|r| is_create(r)).count();
    let server_listings = log
        .iter()
        .filter(|r| r.method == "GET" && r.template == "/servers")
        .count();
    // The pass that is making the next snapshot may have listed already.
    assert!(
        server_listings <= creates + 1,
        "{server_listings} passes for {creates} snapshots\n{}",
        d.tail(40)
    );
    // No per-server reads at all: "is one running?" came from the listings.
    assert_eq!(
        log.iter()
            .filter(|r| r.template == "/servers/{id}/actions" && r.method == "GET")
            .count(),
        0
    );
    d.stop();
}
