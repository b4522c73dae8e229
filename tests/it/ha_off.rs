//! `ha:` in a build without the `ha` feature: `check` warns, `run` refuses
//! to start (it would otherwise work every account on every replica), and
//! without `ha:` nothing about etcd is needed (every other test).

use crate::daemon::{World, config, policy};
#[cfg(not(feature = "ha"))]
use crate::harness::{run, snapkeeper};

const SEED: &str = "hetzner:\n  projects:\n    - name: proj\n      tokens: [{ token: MxEhh2FDEEtfjgVvVqE1SkHbn88HxjSI6bWHtP3fS2qHx6kwXoIIXGvOoNZYW2mZ }]\n      servers:\n        - { id: 42000101, name: srv-1 }\n";

fn world_with_ha() -> (World, std::path::PathBuf) {
    let w = World::new(SEED);
    let acct = w.account(
        "hz-a",
        "hetzner",
        "proj",
        &[policy("srv", "server", "all: true", "1h", "last: 2")],
    );
    let text = format!(
        "{}ha:\n  replica_id: ra\n  etcd: {{ endpoints: [http://127.0.0.1:9] }}\n",
        config(&[acct])
    );
    let path = w.write_config(&text);
    (w, path)
}

#[cfg(not(feature = "ha"))]
#[test]
fn ha_without_the_feature_is_refused_by_run_and_warned_by_check() {
    let (w, path) = world_with_ha();
    let checked = run(snapkeeper().arg("check").arg("--config").arg(&path));
    assert_eq!(checked.code, 0, "{}", checked.stderr);
    let all = format!("{}{}", checked.stdout, checked.stderr);
    assert!(all.contains("built without the `ha` feature"), "{all}");
    let ran = run(snapkeeper().arg("run").arg("--config").arg(&path));
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains(
            "ha is set in the config but this snapkeeper was built without the `ha` feature"
        ),
        "{}",
        ran.stderr
    );
    assert!(
        crate::daemon::requests(&w.sim).is_empty(),
        "nothing may reach the provider"
    );
}

#[cfg(feature = "ha")]
#[test]
fn ha_with_etcd_unreachable_writes_nothing_and_says_so() {
    // A port nothing listens on: the replica owns nothing, writes nothing.
    let (w, path) = world_with_ha();
    let mut d = crate::daemon::Daemon::start(&path);
    d.wait("etcd unreachable", |l| {
        l.message()
            .starts_with("etcd unreachable: this replica owns nothing")
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    d.stop();
    assert!(
        crate::daemon::requests(&w.sim).is_empty(),
        "nothing may reach the provider without etcd"
    );
    assert_eq!(d.count(|l| l.is("creating snapshot")), 0);
}
