//! The daemon under signals and faults: kill -9 in the middle of a snapshot
//! and a restart, SIGTERM during a long wait, provider faults that must stay
//! within one account, and the systemd notify protocol.

use crate::daemon::{Line, World, config, has, is_create, requests, sim_snapshots, value};
use crate::harness::{
    DO_TEAM, HETZNER_PROJ, ONE_SERVER, VULTR_MAIN, digitalocean, hetzner, seed, vultr,
};

fn about(message: &'static str, account: &'static str) -> impl Fn(&Line) -> bool {
    move |l: &Line| l.is_about(message, account)
}

fn creates(w: &World, provider: &str) -> usize {
    requests(&w.sim)
        .iter()
        .filter(|r| r.provider == provider && is_create(r))
        .count()
}

fn seed_slow() -> String {
    seed(
        r#"
settings: { time_scale: 0.01 }
faults:
  - { provider: digitalocean, method: POST, path: "/v2/droplets/{droplet_id}/actions", resource: "301", kind: action_stuck }
  - { provider: hetzner, method: POST, path: "/servers/{id}/actions/create_image", resource: "42000101", kind: action_stuck }
"#,
        &[
            digitalocean(&[(
                "team",
                DO_TEAM,
                "      droplets: [{ id: 301, name: web-1, tags: [backup] }]\n",
            )]),
            vultr(&[(
                "main",
                VULTR_MAIN,
                r#"
      instances:
        # (20 s + 2 s/GB x 600 GB) x 0.01: about 12 s per snapshot.
        - { id: 3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e01, label: big-1, tags: [backup], disk: 600 }
"#,
            )]),
            hetzner(&[("proj", HETZNER_PROJ, ONE_SERVER)]),
        ],
    )
}

fn slow_config(w: &World, every: &str) -> String {
    config(&[
        w.drops("do-a", "all: true", every, "last: 2"),
        w.inst("vu-a", "all: true", every, "last: 2"),
        w.srv("hz-a", "all: true", every, "last: 2"),
    ])
}

#[test]
fn kill_9_mid_snapshot_then_restart_makes_no_duplicate() {
    let w = World::new(&seed_slow());
    w.write_config(&slow_config(&w, "1h"));
    let mut first = w.start();
    for account in ["do-a", "vu-a", "hz-a"] {
        first.wait(
            &format!("{account} waiting for its snapshot"),
            about("waiting for snapshot", account),
        );
    }
    first.signal("KILL");
    let st = first.wait_exit();
    assert_eq!(st.code(), None, "killed by a signal: {st}");
    assert_eq!(creates(&w, "digitalocean"), 1);
    assert_eq!(creates(&w, "vultr"), 1);
    assert_eq!(creates(&w, "hetzner"), 1);

    let mut second = w.start();
    // DigitalOcean lists a droplet snapshot nowhere until it is done, so the
    // restarted daemon finds it as a running action, again and again.
    second.wait_count_after(
        0,
        2,
        "do-a to see the running snapshot twice",
        about(
            "snapshot due, but one is already in progress: not starting another",
            "do-a",
        ),
    );
    // Vultr and Hetzner list the pending snapshot with its marker.
    second.wait("a cycle of vu-a", about("cycle finished", "vu-a"));
    second.wait("a cycle of hz-a", about("cycle finished", "hz-a"));
    assert_eq!(second.count(|l| l.is("creating snapshot")), 0);
    // The slow Vultr snapshot completes on its own: exactly one, no second.
    second.wait_until("the Vultr snapshot to complete", |_| {
        let snaps = sim_snapshots(&w.sim);
        let mine: Vec<_> = snaps.iter().filter(|s| s.provider == "vultr").collect();
        assert_eq!(mine.len(), 1, "{mine:?}");
        mine[0].done.then_some(())
    });
    let hz: Vec<_> = sim_snapshots(&w.sim)
        .into_iter()
        .filter(|s| s.provider == "hetzner")
        .collect();
    assert_eq!(hz.len(), 1, "{hz:?}");
    assert!(hz[0].managed_by("hz-a", "srv", "42000101"));
    assert_eq!(creates(&w, "digitalocean"), 1);
    assert_eq!(creates(&w, "vultr"), 1);
    assert_eq!(creates(&w, "hetzner"), 1);
    second.stop();
}

#[test]
fn sigterm_during_a_long_wait_exits_0_and_leaves_the_snapshot_for_the_next_start() {
    let w = World::new(&seed_slow());
    // do-a waits on a snapshot that never finishes; hz-b targets nothing and
    // sleeps for an hour.
    w.write_config(&config(&[
        w.drops("do-a", "all: true", "1h", "last: 2"),
        w.srv("hz-b", "names: [nothing-*]", "1h", "last: 2"),
    ]));
    let mut d = w.start();
    d.wait("do-a waiting", about("waiting for snapshot", "do-a"));
    d.wait("a cycle of hz-b", about("cycle finished", "hz-b"));
    let mark = d.mark();
    d.signal("TERM");
    let st = d.wait_exit();
    assert_eq!(st.code(), Some(0), "{st}\n{}", d.tail(30));
    let after: Vec<Line> = d.lines()[mark..].to_vec();
    let pos = |m: &str| after.iter().position(|l| l.message().starts_with(m));
    let stopping = pos("stopping: no new work").expect("stopping line");
    let unconfirmed = pos("snapshot not confirmed").expect("the wait was left");
    let stopped = pos("stopped").expect("stopped line");
    assert!(
        stopping < unconfirmed && unconfirmed < stopped,
        "{after:#?}"
    );
    assert_eq!(
        after[unconfirmed].field_str("why"),
        Some("stopped waiting at shutdown")
    );
    assert_eq!(creates(&w, "digitalocean"), 1);
}

fn seed_faults() -> String {
    seed(
        r#"
settings: { time_scale: 0.01 }
faults:
  # Every droplet snapshot of do-f fails; every Vultr snapshot listing is a 500.
  - { provider: digitalocean, method: POST, path: "/v2/droplets/{droplet_id}/actions", kind: action_error }
  - { provider: vultr, method: GET, path: "/snapshots", kind: !status 500 }
"#,
        &[
            digitalocean(&[(
                "team",
                DO_TEAM,
                r#"
      droplets:
        - id: 301
          name: web-1
          tags: [backup]
          snapshots:
            - { name: "snapkeeper:do-f:drops:301:20260101T000000Z", created_at: 2026-01-01T00:00:00Z }
            - { name: "snapkeeper:do-f:drops:301:20260102T000000Z", created_at: 2026-01-02T00:00:00Z }
            - { name: "snapkeeper:do-f:drops:301:20260103T000000Z", created_at: 2026-01-03T00:00:00Z }
"#,
            )]),
            vultr(&[(
                "main",
                VULTR_MAIN,
                r#"
      instances: [{ id: 3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e01, label: app-1, tags: [backup] }]
      snapshots:
        - { description: "snapkeeper:vu-f:inst:3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e01:20260101T000000Z", date_created: 2026-01-01T00:00:00Z }
        - { description: "snapkeeper:vu-f:inst:3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e01:20260102T000000Z", date_created: 2026-01-02T00:00:00Z }
"#,
            )]),
            hetzner(&[("proj", HETZNER_PROJ, ONE_SERVER)]),
        ],
    )
}

#[test]
fn provider_faults_stay_in_their_account_and_block_pruning() {
    let w = World::new(&seed_faults());
    w.write_config(&config(&[
        w.drops("do-f", "tags: [backup]", "2s", "last: 1"),
        w.inst("vu-f", "tags: [backup]", "2s", "last: 1"),
        w.srv("hz-ok", "all: true", "2s", "last: 1"),
    ]));
    let mut d = w.start();
    for account in ["do-f", "vu-f"] {
        d.wait_count_after(
            0,
            2,
            &format!("two failed cycles of {account}"),
            about("cycle finished with failures", account),
        );
    }
    d.wait("a failed droplet snapshot", |l| {
        l.is_about("snapshot failed", "do-f")
    });
    d.wait("do-f keeping its snapshots", |l| {
        l.is_about("no prune for this resource this cycle", "do-f")
    });
    d.wait("vu-f's listing error", |l| {
        l.account().as_deref() == Some("vu-f") && l.message().starts_with("listing failed")
    });
    // Meanwhile the healthy account goes on creating and pruning.
    d.wait_count_after(0, 3, "hz-ok snapshots", about("snapshot complete", "hz-ok"));
    d.wait("hz-ok pruning", about("deleted snapshot", "hz-ok"));
    assert!(d.running());

    let reqs = requests(&w.sim);
    let deletes = |p: &str| {
        reqs.iter()
            .filter(|r| r.provider == p && r.method == "DELETE")
            .count()
    };
    assert_eq!(
        deletes("digitalocean"),
        0,
        "a failed create must block pruning"
    );
    assert_eq!(
        deletes("vultr"),
        0,
        "an incomplete listing must block pruning"
    );
    assert!(deletes("hetzner") >= 1);
    let snaps = sim_snapshots(&w.sim);
    assert_eq!(
        snaps
            .iter()
            .filter(|s| s.managed_by("do-f", "drops", "301"))
            .count(),
        3
    );
    assert_eq!(
        snaps
            .iter()
            .filter(|s| s.provider == "vultr" && s.managed())
            .count(),
        2
    );
    d.stop();
    d.assert_no_tokens(&w.tokens());
}

#[test]
fn systemd_notify_ready_status_reloading_and_stopping() {
    let w = World::new(&seed_faults());
    w.write_config(&config(&[
        w.srv("hz-ok", "all: true", "2s", "last: 2"),
        w.srv("hz-two", "names: [nothing-*]", "1h", "last: 2"),
    ]));
    let (mut d, n) = w.start_notified(&[]);
    let (_, status) = n.ready_status(0, "READY=1");
    assert!(status.starts_with("2 accounts, "), "{status:?}");

    // Once both loops have a next due time, the status names the nearest.
    d.wait("a cycle of hz-ok", about("cycle finished", "hz-ok"));
    d.wait("a cycle of hz-two", about("cycle finished", "hz-two"));
    let from = n.mark();
    d.signal("HUP");
    let reloading = n.wait(from, "RELOADING=1", |m| has(m, "RELOADING=1"));
    let got = &n.got()[reloading];
    let usec: u64 = value(got, "MONOTONIC_USEC")
        .unwrap_or_else(|| panic!("no MONOTONIC_USEC in {got:?}"))
        .parse()
        .unwrap();
    assert!(usec > 0);
    let (_, status) = n.ready_status(reloading + 1, "READY=1 after the reload");
    assert!(
        status.starts_with("2 accounts, next snapshot hz-ok/srv-1 in "),
        "{status:?}"
    );

    // A bad edit: the status says so (and the old config keeps running)
    // until the file is good again.
    let good = std::fs::read_to_string(w.config_path()).unwrap();
    let from = n.mark();
    w.write_config(&good.replace("every: 2s", "every: 2 parsecs"));
    let (_, status) = n.ready_status(from, "READY=1 after the bad edit");
    assert!(
        status.starts_with("reload rejected: 1 error; 2 accounts, "),
        "{status:?}"
    );
    let from = n.mark();
    w.write_config(&good);
    let (_, status) = n.ready_status(from, "READY=1 after the repair");
    assert!(status.starts_with("2 accounts, "), "{status:?}");

    let from = n.mark();
    d.signal("TERM");
    n.wait(from, "STOPPING=1", |m| has(m, "STOPPING=1"));
    let st = d.wait_exit();
    assert_eq!(st.code(), Some(0));
}

#[test]
fn a_notify_socket_nobody_reads_never_stalls_the_daemon() {
    // The socket's queue fills within a second (the watchdog pings every
    // 50 ms) and is never read: reloads, cycles and SIGTERM go on.
    let w = World::new(&seed_faults());
    w.write_config(&config(&[w.srv("hz-ok", "all: true", "2s", "last: 2")]));
    let path = w.dir.path().join("deaf.sock");
    let _deaf = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    let mut d = crate::daemon::Daemon::start_with(
        &w.config_path(),
        "json",
        &[
            ("NOTIFY_SOCKET", path.to_str().unwrap()),
            ("WATCHDOG_USEC", "100000"),
        ],
        &[],
    );
    d.wait("a cycle", about("cycle finished", "hz-ok"));
    std::thread::sleep(std::time::Duration::from_secs(2));
    w.write_config(&config(&[w.srv("hz-ok", "all: true", "3s", "last: 2")]));
    d.signal("HUP");
    d.wait("the reload", |l| l.message().starts_with("config reloaded"));
    let mark = d.mark();
    d.wait_after(
        mark,
        "a cycle after the reload",
        about("cycle finished", "hz-ok"),
    );
    d.stop();
}
