//! `ha:` in a build without the `ha` feature: `check` warns, `run` refuses
//! to start (it would otherwise work every account on every replica),
//! `status` judges freshness as always and says ownership cannot be shown;
//! without `ha:` nothing about etcd is needed (every other test). With the
//! feature and etcd out of reach, `status` says the owner is unknown and
//! keeps its verdict.

use crate::daemon::{World, config, policy};
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

/// `status` on the config with `ha:` and on the same config without it:
/// the same verdict and exit code; only the OWNER column (and `owner` in
/// `--json`) is added, with why the owner is unknown.
fn status_with_and_without_ha(want: &str) {
    let (w, path) = world_with_ha();
    let text = std::fs::read_to_string(&path).unwrap();
    let plain_text = text.split("ha:\n").next().unwrap().to_string();
    let plain = w.dir.path().join("etc/plain.yaml");
    std::fs::write(&plain, &plain_text).unwrap();
    let without = run(snapkeeper().arg("status").arg("--config").arg(&plain));
    let with = run(snapkeeper().arg("status").arg("--config").arg(&path));
    assert_eq!(with.code, without.code, "{}{}", with.stdout, with.stderr);
    assert_eq!(
        with.stdout.lines().next(),
        without.stdout.lines().next(),
        "the plugin line"
    );
    assert!(!without.stdout.contains("OWNER"), "{}", without.stdout);
    let header = with.stdout.lines().nth(1).unwrap_or_default();
    assert!(header.starts_with("ACCOUNT  OWNER"), "{}", with.stdout);
    assert!(with.stdout.contains("hz-a     unknown"), "{}", with.stdout);
    assert!(with.stdout.contains(want), "{}", with.stdout);
    let json = run(snapkeeper()
        .arg("status")
        .arg("--json")
        .arg("--config")
        .arg(&path));
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let owner = &v["accounts"][0]["owner"];
    assert!(owner["replica"].is_null(), "{owner}");
    assert!(owner["error"].as_str().unwrap().contains(want), "{owner}");
    let plain_json = run(snapkeeper()
        .arg("status")
        .arg("--json")
        .arg("--config")
        .arg(&plain));
    let v: serde_json::Value = serde_json::from_str(&plain_json.stdout).unwrap();
    assert!(v["accounts"][0].get("owner").is_none(), "{v}");
}

#[cfg(not(feature = "ha"))]
#[test]
fn status_with_ha_without_the_feature_says_ownership_cannot_be_shown() {
    status_with_and_without_ha(
        "ownership cannot be shown: this snapkeeper was built without the `ha` feature",
    );
}

#[cfg(feature = "ha")]
#[test]
fn status_with_ha_and_etcd_unreachable_says_owner_unknown() {
    status_with_and_without_ha(
        "owner unknown: cannot read the owner keys /snapkeeper/owners/ from etcd at http://127.0.0.1:9",
    );
}
