//! Hot reload of the running daemon: every way a config can change (in-place
//! write, rename-over, delete and recreate, SIGHUP, an invalid edit, an edit
//! of one account, a removed policy, identical bytes), each checked by what
//! the daemon then does, not only by what it logs.

use crate::daemon::{
    Daemon, Line, NotifySocket, World, config, has, policy, requests, sim_snapshots, value,
};
use crate::harness::{DO_TEAM, HETZNER_PROJ, digitalocean, hetzner, seed};

/// Hetzner projects p1 (srv-1 with a manual image, srv-2) and p2 (other-1),
/// and the DigitalOcean account `team` (web-1).
fn seed_two_projects() -> String {
    seed(
        "settings: { time_scale: 0.01 }",
        &[
            hetzner(&[
                (
                    "p1",
                    HETZNER_PROJ,
                    r#"
      servers:
        - { id: 42000101, name: srv-1, labels: { backup: "true" } }
        - { id: 42000102, name: srv-2, labels: { extra: "true" } }
      images: [{ description: manual-srv-1, server: srv-1 }]
"#,
                ),
                (
                    "p2",
                    P2_TOKEN,
                    "      servers: [{ id: 42000201, name: other-1, labels: { backup: \"true\" } }]\n",
                ),
            ]),
            digitalocean(&[(
                "team",
                DO_TEAM,
                "      droplets: [{ id: 301, name: web-1, tags: [backup], snapshots: [{ name: manual-web-1 }] }]\n",
            )]),
        ],
    )
}

const P2_TOKEN: &str = "6vwfRE5e32A8Yb3FKaNQyyLaMeffOhq4AUvy7VSLDCD1IfHWGbtMfEbo9ShFXNQ6";

fn p_a(every: &str, keep: &str) -> String {
    policy("p-a", "server", "names: [srv-1]", every, keep)
}

fn p_b() -> String {
    policy("p-b", "server", "names: [srv-2]", "2s", "last: 2")
}

fn alpha(w: &World, policies: &[String]) -> String {
    w.account("alpha", "hetzner", "p1", policies)
}

fn beta(w: &World) -> String {
    w.account(
        "beta",
        "hetzner",
        "p2",
        &[policy("p-o", "server", "all: true", "2s", "last: 2")],
    )
}

fn gamma(w: &World, every: &str) -> String {
    w.drops("gamma", "tags: [backup]", every, "last: 5")
}

fn complete(account: &str, policy: &'static str) -> impl Fn(&Line) -> bool {
    let account = account.to_string();
    move |l: &Line| {
        l.is_about("snapshot complete", &account) && l.get("policy").as_deref() == Some(policy)
    }
}

fn reloaded(cause: &'static str) -> impl Fn(&Line) -> bool {
    move |l: &Line| l.is("config reloaded") && l.field_str("cause") == Some(cause)
}

/// Restart or change notices that name `account`.
fn touched(l: &Line, account: &str) -> bool {
    l.account().as_deref() == Some(account)
        && [
            "account changed: new settings apply at the next safe point",
            "account config changed: running with the new settings",
            "account added: starting its loop",
            "account removed: stopping its loop at the next safe point",
        ]
        .contains(&l.message())
}

/// Hetzner create_image requests for one server, from the simulator's log.
fn creates_for(w: &World, server: &str) -> usize {
    let path = format!("/servers/{server}/actions/create_image");
    requests(&w.sim)
        .iter()
        .filter(|r| r.method == "POST" && r.path == path)
        .count()
}

#[test]
fn in_place_write_adds_a_policy_that_starts_creating() {
    let w = World::new(&seed_two_projects());
    w.write_config(&config(&[alpha(&w, &[p_a("2s", "last: 2")])]));
    let mut d = w.start();
    d.wait("a first p-a snapshot", complete("alpha", "p-a"));
    assert_eq!(creates_for(&w, "42000102"), 0);

    let mark = d.mark();
    w.write_config(&config(&[alpha(&w, &[p_a("2s", "last: 2"), p_b()])]));
    let l = d.wait_after(mark, "the reload", reloaded("file changed"));
    assert_eq!(
        l.field_str("changes"),
        Some("0 added, 1 changed (alpha), 0 removed, 0 unchanged")
    );
    d.wait_after(mark, "a p-b snapshot", complete("alpha", "p-b"));
    assert!(creates_for(&w, "42000102") >= 1);
    // p-a goes on as before.
    d.wait_count_after(mark, 2, "p-a to go on", complete("alpha", "p-a"));
    d.stop();
}

#[test]
fn rename_over_removes_an_account_whose_loop_stops() {
    let w = World::new(&seed_two_projects());
    w.write_config(&config(&[alpha(&w, &[p_a("2s", "last: 2")]), beta(&w)]));
    let mut d = w.start();
    d.wait("a snapshot by alpha", complete("alpha", "p-a"));
    d.wait("a snapshot by beta", complete("beta", "p-o"));

    // Write a temporary file beside it and rename it over the config.
    let tmp = w.dir.path().join("etc/.config.yaml.tmp");
    std::fs::write(&tmp, config(&[alpha(&w, &[p_a("2s", "last: 2")])])).unwrap();
    let mark = d.mark();
    std::fs::rename(&tmp, w.config_path()).unwrap();
    let l = d.wait_after(mark, "the reload", reloaded("file changed"));
    assert_eq!(
        l.field_str("changes"),
        Some("0 added, 0 changed, 1 removed (beta), 1 unchanged")
    );
    d.wait_after(mark, "beta's stop notice", |l| {
        l.is_about(
            "account removed: stopping its loop at the next safe point",
            "beta",
        )
    });
    // Let a cycle in flight end, then compare beta's creates across two more
    // snapshots of alpha: a live beta would have made more by then.
    d.wait_count_after(mark, 2, "alpha to go on", complete("alpha", "p-a"));
    let before = creates_for(&w, "42000201");
    let mark2 = d.mark();
    d.wait_count_after(mark2, 2, "alpha to go on", complete("alpha", "p-a"));
    assert_eq!(creates_for(&w, "42000201"), before, "beta still creates");
    assert_eq!(
        d.count_after(mark2, |l| l.account().as_deref() == Some("beta")),
        0
    );
    d.stop();
}

#[test]
fn delete_and_recreate_applies_a_changed_every() {
    let w = World::new(&seed_two_projects());
    w.write_config(&config(&[gamma(&w, "1h")]));
    let mut d = w.start();
    d.wait("gamma's first snapshot", complete("gamma", "drops"));
    d.wait("a cycle of gamma", |l| {
        l.is_about("cycle finished", "gamma")
    });

    let mark = d.mark();
    std::fs::remove_file(w.config_path()).unwrap();
    let l = d.wait_after(mark, "the rejected reload", |l| {
        l.is("config error")
            && l.field_str("error")
                .is_some_and(|e| e.contains("cannot read config file"))
    });
    let _ = l;
    d.wait_after(mark, "the rejection summary", |l| {
        l.message().starts_with("config reload rejected") && l.field_u64("errors") == Some(1)
    });
    assert!(d.running());
    // With every: 1h, one snapshot so far.
    assert_eq!(d.count(complete("gamma", "drops")), 1);

    let mark = d.mark();
    w.write_config(&config(&[gamma(&w, "2s")]));
    let l = d.wait_after(mark, "the reload", reloaded("file changed"));
    assert_eq!(
        l.field_str("changes"),
        Some("0 added, 1 changed (gamma), 0 removed, 0 unchanged")
    );
    d.wait_count_after(mark, 2, "snapshots every 2s", complete("gamma", "drops"));
    d.stop();
}

#[test]
fn sighup_reloads_a_change_the_watcher_cannot_see() {
    // The config path is a symlink to a file in another directory: editing
    // the target makes no event in the watched directory, so only SIGHUP
    // (systemctl reload) picks the change up.
    let w = World::new(&seed_two_projects());
    let real = w.dir.path().join("real/config.yaml");
    std::fs::create_dir_all(real.parent().unwrap()).unwrap();
    std::fs::write(&real, config(&[alpha(&w, &[p_a("2s", "last: 2")])])).unwrap();
    std::os::unix::fs::symlink(&real, w.config_path()).unwrap();
    let mut d = w.start();
    d.wait("a snapshot by alpha", complete("alpha", "p-a"));

    let mark = d.mark();
    std::fs::write(
        &real,
        config(&[alpha(&w, &[p_a("2s", "last: 2")]), beta(&w)]),
    )
    .unwrap();
    d.signal("HUP");
    let l = d.wait_after(mark, "the reload", reloaded("SIGHUP"));
    assert_eq!(
        l.field_str("changes"),
        Some("1 added (beta), 0 changed, 0 removed, 1 unchanged")
    );
    d.wait_after(mark, "beta's start", |l| {
        l.is_about("account added: starting its loop", "beta")
    });
    d.wait_after(mark, "a snapshot by beta", complete("beta", "p-o"));
    assert_eq!(d.count_after(mark, |l| touched(l, "alpha")), 0);
    d.stop();
}

#[test]
fn invalid_edit_is_logged_with_line_and_column_and_the_old_config_keeps_working() {
    let w = World::new(&seed_two_projects());
    let good = config(&[alpha(&w, &[p_a("2s", "last: 2")])]);
    w.write_config(&good);
    let mut d = w.start();
    d.wait("a snapshot by alpha", complete("alpha", "p-a"));

    let bad = config(&[alpha(&w, &[p_a("2 parsecs", "last: 2")])]);
    let (line, col) = bad
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find("2 parsecs").map(|c| (i + 1, c + 1)))
        .unwrap();
    let mark = d.mark();
    w.write_config(&bad);
    let err = d.wait_after(mark, "the config error", |l| l.is("config error"));
    let text = err.field_str("error").unwrap();
    let want = format!("config.yaml:{line}:{col}: accounts[0].policies[0].every: invalid duration");
    assert!(text.contains(&want), "{text:?} lacks {want:?}");
    assert_eq!(err.level(), "ERROR");
    let summary = d.wait_after(mark, "the rejection", |l| {
        l.message().starts_with("config reload rejected")
    });
    assert_eq!(summary.field_u64("errors"), Some(1));
    assert_eq!(summary.field_str("cause"), Some("file changed"));

    // The old config goes on: more snapshots, and they are still every 2s.
    let mark2 = d.mark();
    d.wait_count_after(mark2, 2, "alpha to go on", complete("alpha", "p-a"));
    assert!(d.running());
    assert_eq!(d.count_after(mark, |l| l.is("config reloaded")), 0);
    // Reported once for the edit, not again on every debounce interval.
    assert!(
        d.count_after(mark, |l| l.message().starts_with("config reload rejected")) <= 2,
        "{}",
        d.tail(40)
    );

    // Putting the good bytes back is no change at all.
    let mark3 = d.mark();
    w.write_config(&good);
    d.wait_count_after(mark3, 2, "alpha to go on", complete("alpha", "p-a"));
    assert_eq!(d.count_after(mark, |l| l.is("config reloaded")), 0);
    assert_eq!(d.count_after(mark, |l| touched(l, "alpha")), 0);
    d.stop();
}

#[test]
fn editing_one_account_does_not_restart_the_other() {
    let w = World::new(&seed_two_projects());
    w.write_config(&config(&[alpha(&w, &[p_a("2s", "last: 2")]), beta(&w)]));
    let mut d = w.start();
    d.wait("a snapshot by alpha", complete("alpha", "p-a"));
    d.wait("a snapshot by beta", complete("beta", "p-o"));

    let mark = d.mark();
    w.write_config(&config(&[alpha(&w, &[p_a("2s", "last: 3")]), beta(&w)]));
    let l = d.wait_after(mark, "the reload", reloaded("file changed"));
    assert_eq!(
        l.field_str("changes"),
        Some("0 added, 1 changed (alpha), 0 removed, 1 unchanged")
    );
    d.wait_after(mark, "alpha to take the change", |l| {
        l.is_about(
            "account config changed: running with the new settings",
            "alpha",
        )
    });
    // beta goes on, untouched; alpha keeps three now.
    d.wait_count_after(mark, 2, "beta to go on", complete("beta", "p-o"));
    d.wait_until("alpha to keep three", |_| {
        let n = sim_snapshots(&w.sim)
            .iter()
            .filter(|s| s.managed_by("alpha", "p-a", "42000101") && s.done)
            .count();
        (n >= 3).then_some(())
    });
    assert_eq!(d.count_after(mark, |l| l.is("config reloaded")), 1);
    assert_eq!(d.count_after(mark, |l| touched(l, "beta")), 0);
    d.stop();
}

#[test]
fn removing_a_policy_keeps_its_snapshots_as_orphans() {
    let w = World::new(&seed_two_projects());
    w.write_config(&config(&[alpha(&w, &[p_a("2s", "last: 2"), p_b()])]));
    let mut d = w.start();
    d.wait_count_after(0, 2, "two p-b snapshots", complete("alpha", "p-b"));

    let mark = d.mark();
    w.write_config(&config(&[alpha(&w, &[p_a("2s", "last: 2")])]));
    d.wait_after(mark, "the reload", reloaded("file changed"));
    let orphan = d.wait_after(mark, "the orphan notice", |l| {
        l.is_about(
            "orphaned snapshots kept (set prune_orphans: true to let retention remove them)",
            "alpha",
        ) && l.field_str("policy") == Some("p-b")
    });
    assert_eq!(orphan.field_str("resource"), Some("42000102"));
    assert_eq!(
        orphan.field_str("reason"),
        Some("policy not in this file (removed, renamed, or another installation's)")
    );
    let kept: Vec<String> = sim_snapshots(&w.sim)
        .into_iter()
        .filter(|s| s.managed_by("alpha", "p-b", "42000102"))
        .map(|s| s.id)
        .collect();
    assert_eq!(orphan.field_u64("count"), Some(kept.len() as u64));
    assert!(kept.len() >= 2, "{kept:?}");
    let created = creates_for(&w, "42000102");

    // More cycles: the orphans stay, reported each time, never deleted.
    let mark2 = d.mark();
    d.wait_count_after(mark2, 2, "p-a to go on", complete("alpha", "p-a"));
    d.wait_count_after(mark2, 1, "the orphans reported again", |l| {
        l.message().starts_with("orphaned snapshots kept") && l.field_str("policy") == Some("p-b")
    });
    let now: Vec<String> = sim_snapshots(&w.sim)
        .into_iter()
        .filter(|s| s.managed_by("alpha", "p-b", "42000102"))
        .map(|s| s.id)
        .collect();
    assert_eq!(now, kept);
    for id in &kept {
        let path = format!("/images/{id}");
        assert!(
            !requests(&w.sim)
                .iter()
                .any(|r| r.method == "DELETE" && r.path == path),
            "orphan {id} was deleted"
        );
    }
    assert_eq!(creates_for(&w, "42000102"), created, "p-b still creates");
    d.stop();
}

#[test]
fn rewriting_identical_bytes_does_nothing() {
    let w = World::new(&seed_two_projects());
    let text = config(&[alpha(&w, &[p_a("2s", "last: 2")]), beta(&w)]);
    w.write_config(&text);
    let mut d = Daemon::start_with(
        &w.config_path(),
        "json",
        &[("RUST_LOG", "info,snapkeeper::daemon=debug")],
        &[],
    );
    d.wait("a snapshot by alpha", complete("alpha", "p-a"));

    let mark = d.mark();
    w.write_config(&text);
    d.wait_after(mark, "the no-change notice", |l| {
        l.is("config unchanged") && l.field_str("cause") == Some("file changed")
    });
    d.wait_count_after(mark, 2, "alpha to go on", complete("alpha", "p-a"));
    // The reload's own read of the file is no change: one notice for the
    // write (two, should the write's events straddle a debounce window),
    // not one every debounce interval.
    assert!(
        d.count_after(mark, |l| l.is("config unchanged")) <= 2,
        "{}",
        d.tail(40)
    );
    assert_eq!(d.count_after(mark, |l| l.is("config reloaded")), 0);
    assert_eq!(
        d.count_after(mark, |l| l.message().starts_with("config reload rejected")),
        0
    );
    assert_eq!(
        d.count_after(mark, |l| touched(l, "alpha") || touched(l, "beta")),
        0
    );
    d.stop();
}

/// The account block with a short `reload_grace`, so a test sees the hold end.
fn with_grace(block: String, grace: &str) -> String {
    block.replacen(
        "    policies:\n",
        &format!("    reload_grace: {grace}\n    policies:\n"),
        1,
    )
}

#[test]
fn a_reload_holds_what_it_makes_newly_due_and_says_until_when_issue_10() {
    // Today's defect: the preview WARN and the deletions came in the same
    // millisecond. Now the deletions a reload makes newly due wait the grace
    // period, each listed with its time, and happen only after it.
    let w = World::new(&seed_two_projects());
    w.write_config(&config(&[with_grace(
        alpha(&w, &[p_a("2s", "last: 4")]),
        "6s",
    )]));
    let mut d = w.start();
    d.wait_count_after(0, 4, "four p-a snapshots", complete("alpha", "p-a"));

    // Keep only the newest and stop creating: the next cycle only prunes.
    let mark = d.mark();
    w.write_config(&config(&[with_grace(
        alpha(&w, &[p_a("1h", "last: 1")]),
        "6s",
    )]));
    d.wait_after(mark, "the reload preview", |l| {
        l.is_about(
            "reload preview: snapshots the new settings will delete",
            "alpha",
        )
    });
    let field = |l: &Line| l.field_str("snapshot").map(str::to_string);
    let held_lines: Vec<Line> = d.lines()[mark..]
        .iter()
        .filter(|l| l.is_about("deletion held", "alpha"))
        .cloned()
        .collect();
    let mut held: Vec<String> = held_lines.iter().filter_map(field).collect();
    held.sort();
    held.dedup();
    assert!(held.len() >= 3, "{held:?}\n{}", d.tail(40));
    assert!(
        held_lines.iter().all(|l| l.field_str("until").is_some()),
        "every held deletion says when: {}",
        d.tail(40)
    );
    // Held means held: while the grace runs, none of them is deleted (the
    // old settings may still finish a cycle that deletes what they expire).
    let at_hold = d.mark();
    let is_held_deleted = |l: &Line| {
        l.is_about("deleted snapshot", "alpha") && field(l).is_some_and(|id| held.contains(&id))
    };
    assert_eq!(d.count_after(mark, is_held_deleted), 0, "{}", d.tail(40));

    // After the grace period the deletions happen, exactly those held.
    d.wait_count_after(at_hold, held.len(), "the deletions", is_held_deleted);
    let lines = d.lines();
    let until = held_lines[0]
        .field_str("until")
        .unwrap_or_default()
        .to_string();
    for l in lines[mark..].iter().filter(|l| is_held_deleted(l)) {
        // Not before the time the log gave.
        let second = |t: &str| t.get(..19).unwrap_or(t).to_string();
        assert!(
            second(l.timestamp()) >= second(&until),
            "{l:?} before {until}"
        );
    }
    d.stop();
}

#[test]
fn a_file_written_in_two_steps_is_applied_once_whole_issue_10() {
    // A valid prefix (only alpha, `last: 3`), a pause of 1.5 s, then the
    // rest (`last: 30`, and beta): the daemon applies the whole file once
    // and deletes nothing on the way.
    let w = World::new(&seed_two_projects());
    let whole = config(&[alpha(&w, &[p_a("2s", "last: 30")]), beta(&w)]);
    w.write_config(&whole);
    let mut d = w.start();
    d.wait_count_after(0, 4, "four p-a snapshots", complete("alpha", "p-a"));

    let mark = d.mark();
    let changed = whole.replace("last: 30", "last: 29");
    let prefix = config(&[alpha(&w, &[p_a("2s", "last: 3")])]);
    assert!(changed.len() > prefix.len());
    {
        use std::io::Write;
        let mut f = std::fs::File::create(w.config_path()).unwrap();
        f.write_all(prefix.as_bytes()).unwrap();
        f.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        // The rest: rewrite from the start so the file ends as `changed`.
        drop(f);
        std::fs::write(w.config_path(), &changed).unwrap();
    }
    d.wait_after(mark, "the reload", reloaded("file changed"));
    d.wait_count_after(mark, 2, "alpha to go on", complete("alpha", "p-a"));
    assert_eq!(
        d.count_after(mark, |l| l.is("config reloaded")),
        1,
        "{}",
        d.tail(40)
    );
    assert_eq!(
        d.count_after(mark, |l| l.message().starts_with("account removed")),
        0,
        "the half-written file was never applied: {}",
        d.tail(40)
    );
    assert_eq!(
        d.count_after(mark, |l| l.is_about("deleted snapshot", "alpha")),
        0
    );
    d.stop();
}

#[test]
fn a_restart_inside_a_grace_period_keeps_the_hold_and_plan_shows_it_issue_10() {
    // Today's defect: the grace period lived in memory only. A restart (an
    // upgrade, a crash) inside it applied the new retention at once, and
    // `plan` in another process showed the deletions as plain "delete".
    // Now the daemon keeps its grace periods in its state directory.
    let w = World::new(&seed_two_projects());
    let state = w.dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let state_arg = state.to_str().unwrap().to_string();
    let args = ["--state-dir", state_arg.as_str()];
    w.write_config(&config(&[with_grace(
        alpha(&w, &[p_a("2s", "last: 4")]),
        "1h",
    )]));
    let mut d = Daemon::start_with(&w.config_path(), "json", &[], &args);
    d.wait_count_after(0, 4, "four p-a snapshots", complete("alpha", "p-a"));
    let mark = d.mark();
    w.write_config(&config(&[with_grace(
        alpha(&w, &[p_a("1h", "last: 1")]),
        "1h",
    )]));
    d.wait_after(mark, "a held deletion", |l| {
        l.is_about("deletion held", "alpha")
    });
    // kill -9: no orderly shutdown writes anything.
    d.signal("KILL");
    let _ = d.wait_exit();
    let ours = |s: &crate::daemon::SimSnap| s.managed_by("alpha", "p-a", "42000101");
    let before = sim_snapshots(&w.sim).iter().filter(|s| ours(s)).count();
    assert!(before >= 4, "{before}");

    // `plan`, another process: the deletions show as held, with the time.
    let out = crate::harness::snapkeeper()
        .args(["plan", "--json", "--config"])
        .arg(w.config_path())
        .args(args)
        .output()
        .unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let text = plan.to_string();
    let held = text.matches("\"status\":\"held\"").count();
    assert!(held >= 3, "{held} held in {text}");
    assert!(!text.contains("would_delete"), "{text}");
    assert!(text.contains("\"until\":\""), "{text}");

    // The restarted daemon holds them too, and deletes nothing.
    let mut d = Daemon::start_with(&w.config_path(), "json", &[], &args);
    d.wait("the grace period from before the start", |l| {
        l.message()
            .starts_with("reload grace period in force from before the start")
    });
    d.wait("a held deletion after the restart", |l| {
        l.is_about("deletion held", "alpha")
    });
    assert_eq!(
        d.count(|l| l.is_about("deleted snapshot", "alpha")),
        0,
        "{}",
        d.tail(30)
    );
    d.stop();
    let after = sim_snapshots(&w.sim).iter().filter(|s| ours(s)).count();
    assert_eq!(after, before);

    // `run --once` honours it as well.
    let out = crate::harness::snapkeeper()
        .args(["run", "--once", "--log-format", "json", "--config"])
        .arg(w.config_path())
        .args(args)
        .output()
        .unwrap();
    let log =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("deletion held"), "{log}");
    assert!(!log.contains("deleted snapshot"), "{log}");
    assert_eq!(
        sim_snapshots(&w.sim).iter().filter(|s| ours(s)).count(),
        before
    );
}

#[test]
fn a_rotated_token_file_is_used_at_the_next_pass_without_a_reload_issue_14() {
    // Today's defect: the token was read once when the account started, so
    // a rotated token file needed a restart. Start with a revoked (unknown)
    // token: every pass fails with 401. Rotate the file: the next pass uses
    // the new token, and the account takes its snapshots.
    let w = World::new(&seed_two_projects());
    let real = std::fs::read_to_string(w.token_file("hetzner", "p1")).unwrap();
    let file = w.secret_file("rotating.token", &"x".repeat(64));
    let block = alpha(&w, &[p_a("2s", "last: 4")]).replace(
        &w.token_file("hetzner", "p1").display().to_string(),
        &file.display().to_string(),
    );
    w.write_config(&config(&[block]));
    let mut d = w.start();
    d.wait("a failed pass", |l| {
        l.is_about("cycle finished with failures", "alpha")
    });
    assert_eq!(d.count(complete("alpha", "p-a")), 0);
    let mark = d.mark();
    std::fs::write(&file, &real).unwrap();
    d.wait_after(mark, "the new token in use", |l| {
        l.is_about(
            "the account's token changed: requests now use the new one",
            "alpha",
        )
    });
    d.wait_count_after(
        mark,
        1,
        "a snapshot with the new token",
        complete("alpha", "p-a"),
    );
    assert_eq!(
        d.count_after(mark, |l| l.is("config reloaded")),
        0,
        "no reload was needed"
    );
    d.stop();
}

#[test]
fn a_change_whose_token_cannot_be_read_keeps_the_account_on_its_old_settings_issue_14() {
    // Today's defect: the account stopped ("cannot start the account") and
    // STATUS said all was well. Now it goes on with the settings before,
    // says why, and takes the new settings once their token can be read.
    let w = World::new(&seed_two_projects());
    w.write_config(&config(&[alpha(&w, &[p_a("2s", "last: 4")])]));
    let mut d = w.start();
    d.wait("a first snapshot", complete("alpha", "p-a"));
    let missing = w.dir.path().join("secrets/not-yet.token");
    let changed = alpha(&w, &[p_a("2s", "last: 3")]).replace(
        &w.token_file("hetzner", "p1").display().to_string(),
        &missing.display().to_string(),
    );
    let mark = d.mark();
    w.write_config(&config(&[changed]));
    d.wait_after(mark, "the refusal to switch", |l| {
        l.is_about(
            "account changed, but the new settings' token cannot be read: going on with the previous settings until it can",
            "alpha",
        )
    });
    // Still taking snapshots on the old settings.
    d.wait_count_after(
        mark,
        2,
        "snapshots on the old settings",
        complete("alpha", "p-a"),
    );
    assert_eq!(
        d.count_after(mark, |l| l.is_about("cannot start the account", "alpha")),
        0,
        "{}",
        d.tail(30)
    );
    // The token appears: the new settings apply.
    let real = std::fs::read_to_string(w.token_file("hetzner", "p1")).unwrap();
    let at = d.mark();
    let _ = w.secret_file("not-yet.token", &real);
    d.wait_after(at, "the switch", |l| {
        l.is_about(
            "the new settings' token can be read now: running with the new settings",
            "alpha",
        )
    });
    d.stop();
}

#[test]
fn the_watch_survives_its_directory_removed_and_made_again_issue_14() {
    // Today's defect: removing and re-creating the config's directory
    // silenced the watcher for good.
    let w = World::new(&seed_two_projects());
    w.write_config(&config(&[gamma(&w, "1h")]));
    let mut d = Daemon::start_with(&w.config_path(), "json", &[], &["--watch-check", "300ms"]);
    d.wait("gamma's first snapshot", complete("gamma", "drops"));
    let etc = w.config_path().parent().unwrap().to_path_buf();
    let text = std::fs::read_to_string(w.config_path()).unwrap();
    let mark = d.mark();
    std::fs::remove_dir_all(&etc).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(800));
    std::fs::create_dir_all(&etc).unwrap();
    w.write_config(&text.replace("every: 1h", "every: 2h"));
    d.wait_after(mark, "the reload of the file in the new directory", |l| {
        l.is("config reloaded")
    });
    // And the new watch sees the next edit as an edit.
    let mark = d.mark();
    w.write_config(&text.replace("every: 1h", "every: 3h"));
    d.wait_after(mark, "the next edit", reloaded("file changed"));
    d.stop();
}

#[test]
fn a_configmap_symlink_swap_is_seen_issue_14() {
    // Kubernetes mounts a ConfigMap as config.yaml -> ..data/config.yaml,
    // ..data -> ..<timestamp>, and updates it by swapping `..data`: the file
    // named config.yaml never gets an event of its own.
    let w = World::new(&seed_two_projects());
    let etc = w.config_path().parent().unwrap().to_path_buf();
    let first = config(&[gamma(&w, "1h")]);
    std::fs::create_dir(etc.join("..2026_a")).unwrap();
    std::fs::write(etc.join("..2026_a/config.yaml"), &first).unwrap();
    std::os::unix::fs::symlink("..2026_a", etc.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/config.yaml", w.config_path()).unwrap();
    let mut d = Daemon::start_with(&w.config_path(), "json", &[], &["--watch-check", "300ms"]);
    d.wait("gamma's first snapshot", complete("gamma", "drops"));
    let mark = d.mark();
    std::fs::create_dir(etc.join("..2026_b")).unwrap();
    std::fs::write(
        etc.join("..2026_b/config.yaml"),
        first.replace("every: 1h", "every: 2h"),
    )
    .unwrap();
    std::os::unix::fs::symlink("..2026_b", etc.join("..data_tmp")).unwrap();
    std::fs::rename(etc.join("..data_tmp"), etc.join("..data")).unwrap();
    d.wait_after(mark, "the reload after the swap", |l| {
        l.is("config reloaded")
    });
    d.wait_after(mark, "gamma taking the change", |l| {
        l.is_about(
            "account config changed: running with the new settings",
            "gamma",
        )
    });
    d.stop();
}

/// Feed the watchdog every second (`WatchdogSec=2`): `STATUS=` comes with
/// each ping too.
const WATCHDOG: (&str, &str) = ("WATCHDOG_USEC", "2000000");

/// Whether the datagram carries a `STATUS=` that satisfies `pred`.
fn status_is(m: &str, pred: impl Fn(&str) -> bool) -> bool {
    value(m, "STATUS").is_some_and(pred)
}

/// Wait for `n` more `WATCHDOG=1` pings at or after `from`.
fn watchdog_pings(n: &NotifySocket, from: usize, count: usize, what: &str) {
    let mut at = from;
    for i in 1..=count {
        let what = format!("WATCHDOG=1 number {i} {what}");
        at = n.wait(at, &what, |m| has(m, "WATCHDOG=1")) + 1;
    }
}

#[test]
fn an_oversized_or_deeply_nested_file_is_refused_and_the_watchdog_goes_on_issue_14() {
    // A file over the 1 MiB cap, or brackets nested far deeper than the
    // schema needs, is refused before it is parsed whole: the old config
    // goes on, and the main loop keeps feeding the watchdog and telling
    // STATUS= the whole time the bad file is in place.
    let w = World::new(&seed_two_projects());
    let good = config(&[alpha(&w, &[p_a("2s", "last: 2")])]);
    w.write_config(&good);
    let (mut d, n) = w.start_notified(&[WATCHDOG]);
    n.ready_status(0, "READY=1");
    d.wait("a snapshot by alpha", complete("alpha", "p-a"));

    let huge = format!("{good}# {}\n", "x".repeat(1024 * 1024));
    let deep = 200_000;
    let nested = format!("{good}extra: {}{}\n", "[".repeat(deep), "]".repeat(deep));
    for (bad, why) in [
        (huge, "it is larger than 1024 KiB"),
        (nested, "nested deeper than 32 levels"),
    ] {
        let (mark, from) = (d.mark(), n.mark());
        w.write_config(&bad);
        let err = d.wait_after(mark, "the config error", |l| l.is("config error"));
        let text = err.field_str("error").unwrap_or_default();
        assert!(text.contains(why), "{text:?} lacks {why:?}");
        let (rejected, status) = n.ready_status(from, "READY=1 after the bad file");
        assert!(
            status.starts_with("reload rejected: 1 error; 1 account"),
            "{status:?}"
        );
        // With the bad file in place: alpha goes on, the watchdog is fed,
        // and every STATUS= says the reload was rejected.
        d.wait_count_after(mark, 2, "alpha to go on", complete("alpha", "p-a"));
        watchdog_pings(&n, rejected, 3, "with the bad file in place");
        let statuses: Vec<String> = n.got()[rejected..]
            .iter()
            .filter_map(|m| value(m, "STATUS").map(str::to_string))
            .collect();
        assert!(statuses.len() >= 3, "{statuses:#?}");
        assert!(
            statuses.iter().all(|s| s.starts_with("reload rejected: ")),
            "{statuses:#?}"
        );
        assert!(d.running());
        assert_eq!(d.count_after(mark, |l| l.is("config reloaded")), 0);
        assert_eq!(d.count_after(mark, |l| touched(l, "alpha")), 0);

        // The good bytes back: no change to apply, and nothing rejected.
        let from = n.mark();
        w.write_config(&good);
        n.wait(from, "a STATUS= without the rejection", |m| {
            status_is(m, |s| s.starts_with("1 account"))
        });
    }
    d.wait_count_after(d.mark(), 1, "alpha to go on", complete("alpha", "p-a"));
    d.stop();
}

#[test]
fn a_change_waiting_for_its_token_is_in_status_and_applies_once_it_can_issue_14() {
    // The change adds p-b (srv-2), so which settings run shows in what the
    // daemon creates: nothing of srv-2 while the new token cannot be read,
    // p-a all along, and p-b once the token file appears.
    let w = World::new(&seed_two_projects());
    w.write_config(&config(&[alpha(&w, &[p_a("2s", "last: 2")])]));
    let (mut d, n) = w.start_notified(&[WATCHDOG]);
    d.wait("a first snapshot", complete("alpha", "p-a"));
    let later = w.dir.path().join("secrets/later.token");
    let changed = alpha(&w, &[p_a("2s", "last: 2"), p_b()]).replace(
        &w.token_file("hetzner", "p1").display().to_string(),
        &later.display().to_string(),
    );
    let (mark, from) = (d.mark(), n.mark());
    w.write_config(&config(&[changed]));
    d.wait_after(mark, "the reload", reloaded("file changed"));
    let refused = d.wait_after(mark, "the refusal to switch", |l| {
        l.is_about(
            "account changed, but the new settings' token cannot be read: going on with the previous settings until it can",
            "alpha",
        )
    });
    let text = refused.field_str("error").unwrap_or_default();
    assert!(
        text.contains("cannot read token file") && text.contains("later.token"),
        "{text:?}"
    );
    let waits = |s: &str| s.contains("alpha: new settings wait for a readable token");
    n.wait(from, "STATUS= naming alpha's waiting settings", |m| {
        status_is(m, waits)
    });

    // The old settings go on, and each pass tries the new token again.
    d.wait_count_after(mark, 2, "p-a on the old settings", complete("alpha", "p-a"));
    d.wait_after(mark, "a retry of the new token", |l| {
        l.is_about(
            "the new settings' token still cannot be read: going on with the previous settings",
            "alpha",
        )
    });
    let from = n.mark();
    n.wait(from, "STATUS= still naming alpha", |m| status_is(m, waits));
    assert_eq!(creates_for(&w, "42000102"), 0, "p-b ran without its token");
    assert_eq!(d.count_after(mark, complete("alpha", "p-b")), 0);

    // The token appears: the next pass takes the new settings.
    let real = std::fs::read_to_string(w.token_file("hetzner", "p1")).unwrap();
    let at = d.mark();
    w.secret_file("later.token", &real);
    d.wait_after(at, "the switch", |l| {
        l.is_about(
            "the new settings' token can be read now: running with the new settings",
            "alpha",
        )
    });
    // Like a change applied at once, it first shows what it will delete.
    d.wait_after(at, "the reload preview of the switched settings", |l| {
        l.is_about(
            "reload preview: snapshots the new settings will delete",
            "alpha",
        )
    });
    d.wait_after(at, "a p-b snapshot", complete("alpha", "p-b"));
    assert!(creates_for(&w, "42000102") >= 1);
    let from = n.mark();
    n.wait(from, "STATUS= without alpha's waiting settings", |m| {
        status_is(m, |s| s.starts_with("1 account") && !s.contains("alpha:"))
    });
    d.stop();
}
