//! Operator commands (issue "(6/6) Operator commands"): `plan`, `snapshot`,
//! `list`, `prune` and `inventory`, the real binary against `snapkeeper sim`,
//! on all three providers: read-only tokens, `plan --at`, `prune --dry-run`
//! writing nothing (the simulator's counters and state prove it), manual
//! snapshots surviving `prune`, `--json` field lists, and exit codes.
//!
//! Every scenario seeds managed snapshots at known ages relative to now:
//! policy `six-hourly` (`every: 6h`, `keep: {within: 1d}`,
//! `max_deletes_per_run: 3`) on `web-1` and `db-1`:
//! - web-1: 1h, 7h, 13h, 19h (kept), 2d, 3d (expired);
//! - db-1: 2h (kept), 4d (expired);
//! - web-1 also has a manual snapshot `before-upgrade` (30d) and one with
//!   another account's marker (10d): neither may ever be touched.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use snapkeeper::clock::Clock;
use snapkeeper::policy::Marker;

use crate::harness::{Dir, Ran, SimProcess, run, snapkeeper, wait_for};

/// The config's account name (part of every marker we seed).
const ACCOUNT: &str = "acct";
const POLICY: &str = "six-hourly";
/// The read-only message every refused write must carry.
const READ_ONLY: &str = "a read-only token works for plan/list/inventory only";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum P {
    Do,
    Vultr,
    Hetzner,
}

const ALL: [P; 3] = [P::Do, P::Vultr, P::Hetzner];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Res {
    Web,
    Db,
    Scratch,
}

impl P {
    fn name(self) -> &'static str {
        match self {
            P::Do => "digitalocean",
            P::Vultr => "vultr",
            P::Hetzner => "hetzner",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            P::Do => "droplet",
            P::Vultr => "instance",
            P::Hetzner => "server",
        }
    }

    fn targets(self) -> &'static str {
        match self {
            P::Do => "{ kind: droplet, tags: [backup] }",
            P::Vultr => "{ kind: instance, tags: [backup] }",
            P::Hetzner => "{ kind: server, labels: { backup: \"true\" } }",
        }
    }

    fn id(self, r: Res) -> &'static str {
        match (self, r) {
            (P::Do, Res::Web) => "301000101",
            (P::Do, Res::Db) => "301000102",
            (P::Do, Res::Scratch) => "301000103",
            (P::Vultr, Res::Web) => "3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e01",
            (P::Vultr, Res::Db) => "3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e02",
            (P::Vultr, Res::Scratch) => "3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e03",
            (P::Hetzner, Res::Web) => "42000101",
            (P::Hetzner, Res::Db) => "42000102",
            (P::Hetzner, Res::Scratch) => "42000103",
        }
    }

    /// Read-write and read-only tokens of the simulated account.
    fn tokens(self) -> (&'static str, &'static str) {
        match self {
            P::Do => (
                "dop_v1_c0de000000000000000000000000000000000000000000000000000000000001",
                "dop_v1_c0de000000000000000000000000000000000000000000000000000000000002",
            ),
            P::Vultr => (
                "CMDTESTVULTRRW000000000000000000000RW",
                "CMDTESTVULTRRO000000000000000000000RO",
            ),
            P::Hetzner => (
                "cmdtestHetznerReadWrite00000000000000000000000000000000000000001",
                "cmdtestHetznerReadOnly000000000000000000000000000000000000000002",
            ),
        }
    }
}

fn res_name(r: Res) -> &'static str {
    match r {
        Res::Web => "web-1",
        Res::Db => "db-1",
        Res::Scratch => "scratch",
    }
}

fn now() -> DateTime<Utc> {
    Clock::system().now().trunc_subsecs(0)
}

/// A snapshot in the seed.
#[derive(Debug, Clone)]
struct Snap {
    res: Res,
    /// The name/description; for marked ones, the marker text.
    text: String,
    /// Hetzner labels (the marker's, for marked snapshots).
    labels: BTreeMap<String, String>,
    created: DateTime<Utc>,
}

fn managed(p: P, account: &str, res: Res, age: chrono::Duration) -> Snap {
    marked(p, account, POLICY, res, age)
}

fn marked(p: P, account: &str, policy: &str, res: Res, age: chrono::Duration) -> Snap {
    let m = Marker {
        account: account.into(),
        policy: policy.into(),
        resource_id: p.id(res).into(),
        created: now() - age,
    };
    Snap {
        res,
        text: m.encode(),
        labels: m.labels(),
        created: m.created,
    }
}

fn manual(res: Res, name: &str, age: chrono::Duration) -> Snap {
    Snap {
        res,
        text: name.into(),
        labels: BTreeMap::new(),
        created: now() - age,
    }
}

fn h(n: i64) -> chrono::Duration {
    chrono::Duration::hours(n)
}

fn d(n: i64) -> chrono::Duration {
    chrono::Duration::days(n)
}

/// The scenario of the module docs, marked for config account `account`.
fn scenario(p: P, account: &str) -> Vec<Snap> {
    vec![
        managed(p, account, Res::Web, h(1)),
        managed(p, account, Res::Web, h(7)),
        managed(p, account, Res::Web, h(13)),
        managed(p, account, Res::Web, h(19)),
        managed(p, account, Res::Web, d(2)),
        managed(p, account, Res::Web, d(3)),
        managed(p, account, Res::Db, h(2)),
        managed(p, account, Res::Db, d(4)),
        manual(Res::Web, "before-upgrade", d(30)),
        managed(p, "other", Res::Web, d(10)),
    ]
}

/// Names of the seeded snapshots of `account` that retention expires now
/// (older than a day; the newest of each resource is at most 2h old).
fn expired(snaps: &[Snap], account: &str) -> BTreeSet<String> {
    snaps
        .iter()
        .filter(|s| {
            s.text.starts_with(&format!("snapkeeper:{account}:"))
                && now() - s.created > chrono::Duration::days(1)
        })
        .map(|s| s.text.clone())
        .collect()
}

fn yaml_map(m: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = m.iter().map(|(k, v)| format!("{k}: \"{v}\"")).collect();
    format!("{{ {} }}", pairs.join(", "))
}

/// One provider's seed section (top-level key included).
fn section(p: P, snaps: &[Snap]) -> String {
    let (rw, ro) = p.tokens();
    let of = |r: Res| snaps.iter().filter(move |s| s.res == r);
    let ts = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    match p {
        P::Do => {
            let mut out = format!(
                "digitalocean:\n  accounts:\n    - name: team\n      tokens:\n        - {{ token: {rw} }}\n        - {{ token: {ro}, read_only: true }}\n      droplets:\n"
            );
            for r in [Res::Web, Res::Db, Res::Scratch] {
                let tags = if r == Res::Scratch { "[]" } else { "[backup]" };
                out.push_str(&format!(
                    "        - id: {}\n          name: {}\n          region: fra1\n          tags: {tags}\n          snapshots:\n",
                    p.id(r),
                    res_name(r)
                ));
                let mut any = false;
                for s in of(r) {
                    any = true;
                    out.push_str(&format!(
                        "            - {{ name: \"{}\", created_at: {}, size_gigabytes: 1.5 }}\n",
                        s.text,
                        ts(s.created)
                    ));
                }
                if !any {
                    out.push_str("            []\n");
                }
            }
            out
        }
        P::Vultr => {
            let mut out = format!(
                "vultr:\n  accounts:\n    - name: team\n      api_keys:\n        - {{ key: {rw} }}\n        - {{ key: {ro}, read_only: true }}\n      instances:\n"
            );
            for r in [Res::Web, Res::Db, Res::Scratch] {
                let tags = if r == Res::Scratch { "[]" } else { "[backup]" };
                out.push_str(&format!(
                    "        - {{ id: {}, label: {}, tags: {tags} }}\n",
                    p.id(r),
                    res_name(r)
                ));
            }
            out.push_str("      snapshots:\n");
            if snaps.is_empty() {
                out.push_str("        []\n");
            }
            for s in snaps {
                out.push_str(&format!(
                    "        - {{ description: \"{}\", source_instance: {}, date_created: {} }}\n",
                    s.text,
                    p.id(s.res),
                    ts(s.created)
                ));
            }
            out
        }
        P::Hetzner => {
            let mut out = format!(
                "hetzner:\n  projects:\n    - name: team\n      tokens:\n        - {{ token: {rw} }}\n        - {{ token: {ro}, read_only: true }}\n      servers:\n"
            );
            for r in [Res::Web, Res::Db, Res::Scratch] {
                let labels = if r == Res::Scratch {
                    "{}"
                } else {
                    "{ backup: \"true\" }"
                };
                out.push_str(&format!(
                    "        - {{ id: {}, name: {}, labels: {labels} }}\n",
                    p.id(r),
                    res_name(r)
                ));
            }
            out.push_str("      images:\n");
            if snaps.is_empty() {
                out.push_str("        []\n");
            }
            for s in snaps {
                out.push_str(&format!(
                    "        - {{ description: \"{}\", labels: {}, server: {}, created: {} }}\n",
                    s.text,
                    yaml_map(&s.labels),
                    res_name(s.res),
                    ts(s.created)
                ));
            }
            out
        }
    }
}

/// A whole seed: fast snapshots, and the given providers' sections.
fn seed(parts: &[(P, Vec<Snap>)]) -> String {
    let mut out = String::from("settings: { time_scale: 0.001 }\n");
    for (p, snaps) in parts {
        out.push_str(&section(*p, snaps));
    }
    out
}

/// A config account block (token in a file in `dir`).
fn account_yaml(dir: &Dir, sim: &SimProcess, p: P, name: &str, token: &str) -> String {
    let file = dir.write(&format!("{name}.token"), token);
    set_private(&file);
    format!(
        "  - name: {name}\n    provider: {}\n    token: {{ file: {} }}\n    api_url: {}\n    policies:\n      - name: {POLICY}\n        targets: {}\n        every: 6h\n        keep: {{ within: 1d }}\n        max_deletes_per_run: 3\n",
        p.name(),
        file.display(),
        sim.url(p.name()),
        p.targets()
    )
}

fn set_private(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn write_config(dir: &Dir, blocks: &[String]) -> PathBuf {
    dir.write("config.yaml", &format!("accounts:\n{}", blocks.concat()))
}

/// One provider, one account `acct`, with the read-write or read-only token.
struct Setup {
    p: P,
    /// What the simulator was seeded with.
    snaps: Vec<Snap>,
    sim: SimProcess,
    /// Holds the token file and config for the test's lifetime.
    _dir: Dir,
    config: PathBuf,
}

impl Setup {
    fn new(p: P, snaps: Vec<Snap>, read_only: bool) -> Self {
        Self::with(p, snaps, read_only, "")
    }

    /// `extra` is added to the account block (e.g. `prune_orphans: true`).
    fn with(p: P, snaps: Vec<Snap>, read_only: bool, extra: &str) -> Self {
        Self::with_settings(p, snaps, read_only, extra, "")
    }

    /// [`Setup::with`] plus simulator settings (e.g. `date_skew: "-3h"`).
    fn with_settings(p: P, snaps: Vec<Snap>, read_only: bool, extra: &str, settings: &str) -> Self {
        Self::with_seed(p, snaps, read_only, extra, |text| {
            text.replacen(
                "settings: { time_scale: 0.001 }",
                &format!("settings: {{ time_scale: 0.001{settings} }}"),
                1,
            )
        })
    }

    /// Like [`Setup::with`], with the seed text edited by `edit` first.
    fn with_seed(
        p: P,
        snaps: Vec<Snap>,
        read_only: bool,
        extra: &str,
        edit: impl FnOnce(String) -> String,
    ) -> Self {
        let text = edit(seed(&[(p, snaps.clone())]));
        let sim = SimProcess::start(Some(&text));
        let dir = Dir::new();
        let (rw, ro) = p.tokens();
        let token = if read_only { ro } else { rw };
        let block = account_yaml(&dir, &sim, p, ACCOUNT, token).replacen(
            "    policies:\n",
            &format!("{extra}    policies:\n"),
            1,
        );
        let config = write_config(&dir, &[block]);
        Self {
            p,
            snaps,
            sim,
            _dir: dir,
            config,
        }
    }

    fn run(&self, args: &[&str]) -> Ran {
        sk(&self.config, args)
    }

    fn expired(&self) -> BTreeSet<String> {
        expired(&self.snaps, ACCOUNT)
    }

    /// Run with `--json`, expect `code`, and parse stdout.
    fn json(&self, args: &[&str], code: i32) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let ran = self.run(&all);
        assert_eq!(ran.code, code, "{:?} {args:?}: {}", self.p, show(&ran));
        parse(&ran)
    }

    fn state(&self) -> Value {
        control(
            &self.sim,
            reqwest::Method::GET,
            &format!("/state/{}", self.p.name()),
        )
    }

    /// Names of every snapshot `list --all` shows, with their `managed` flag.
    fn listed(&self) -> BTreeMap<String, bool> {
        let rows = self.json(&["list", "--all"], 0);
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap().to_string(),
                    r["managed"].as_bool().unwrap(),
                )
            })
            .collect()
    }
}

fn sk(config: &std::path::Path, args: &[&str]) -> Ran {
    let mut cmd = snapkeeper();
    cmd.arg("--config").arg(config).args(args);
    run(&mut cmd)
}

fn show(r: &Ran) -> String {
    format!(
        "exit {}\n--- stdout\n{}\n--- stderr\n{}",
        r.code, r.stdout, r.stderr
    )
}

fn parse(r: &Ran) -> Value {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", show(r)))
}

/// A request to the simulator's control API (`/_sim` + `path`).
fn control(sim: &SimProcess, method: reqwest::Method, path: &str) -> Value {
    let url = format!("{}{path}", sim.url("control"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let resp = reqwest::Client::new()
            .request(method, &url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert!(resp.status().is_success(), "{url}: {}", resp.status());
        let text = resp.text().await.unwrap();
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    })
}

/// Every counted request as "METHOD template", over all tokens.
fn counted(sim: &SimProcess) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let all = control(sim, reqwest::Method::GET, "/counters");
    for per_token in all.as_object().unwrap().values() {
        for (k, v) in per_token.as_object().unwrap() {
            *out.entry(k.clone()).or_default() += v.as_u64().unwrap();
        }
    }
    out
}

fn writes(counts: &BTreeMap<String, u64>) -> Vec<String> {
    counts
        .keys()
        .filter(|k| !k.starts_with("GET ") && !k.starts_with("HEAD "))
        .cloned()
        .collect()
}

/// The keys of a JSON object, sorted.
fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

fn sorted<'a>(v: &[&'a str]) -> Vec<&'a str> {
    let mut v = v.to_vec();
    v.sort_unstable();
    v
}

/// The resource reports of one account in `plan --json` output.
fn plan_resources(plan: &Value) -> Vec<Value> {
    plan["accounts"][0]["report"]["resources"]
        .as_array()
        .unwrap_or_else(|| panic!("no resources in {plan:#}"))
        .clone()
}

fn resource<'a>(resources: &'a [Value], id: &str) -> &'a Value {
    resources
        .iter()
        .find(|r| r["resource_id"] == id)
        .unwrap_or_else(|| panic!("no resource {id} in {resources:#?}"))
}

/// Names of the snapshots a resource report marks for deletion.
fn deleted_names(r: &Value) -> BTreeSet<String> {
    r["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] == "delete")
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

// ------------------------------------------------------------------ tests

#[test]
fn read_only_token_works_for_plan_list_inventory_only() {
    for p in ALL {
        let s = Setup::new(p, scenario(p, ACCOUNT), true);
        let before = s.state();
        for args in [&["plan"][..], &["list"], &["list", "--all"], &["inventory"]] {
            let ran = s.run(args);
            assert_eq!(ran.code, 0, "{p:?} {args:?}: {}", show(&ran));
        }

        let ran = s.run(&["snapshot", ACCOUNT, "web-1", "--name", "ro-test"]);
        assert_eq!(ran.code, 2, "{p:?} snapshot: {}", show(&ran));
        assert!(
            ran.stderr.contains(&format!("account {ACCOUNT}")) && ran.stderr.contains(READ_ONLY),
            "{p:?} snapshot message: {}",
            show(&ran)
        );

        let ran = s.run(&["prune"]);
        assert_eq!(ran.code, 2, "{p:?} prune: {}", show(&ran));
        let errors: Vec<&str> = ran
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect();
        assert!(
            !errors.is_empty(),
            "{p:?} prune: no error line: {}",
            show(&ran)
        );
        for e in errors {
            assert!(
                e.contains(&format!("account {ACCOUNT}")) && e.contains(READ_ONLY),
                "{p:?} prune error line {e:?}"
            );
        }
        assert!(ran.stdout.contains("deleted 0 snapshots"), "{}", show(&ran));
        assert_eq!(s.state(), before, "{p:?}: a read-only token changed state");
    }
}

#[test]
fn plan_at_a_week_ahead_shows_deletions_capped_by_max_deletes() {
    for p in ALL {
        let s = Setup::new(p, scenario(p, ACCOUNT), false);
        let web = p.id(Res::Web);
        let db = p.id(Res::Db);

        // Now: nothing due (newest are 1h and 2h old), the expired ones go.
        let plan = s.json(&["plan"], 0);
        let rs = plan_resources(&plan);
        assert_eq!(rs.len(), 2, "{p:?}: {rs:#?}");
        for r in &rs {
            assert_eq!(r["due"]["due"], false, "{p:?}: {r:#}");
            assert_eq!(r["create"]["status"], "not_due", "{p:?}: {r:#}");
        }
        let want = s.expired();
        let got: BTreeSet<String> = deleted_names(resource(&rs, web))
            .union(&deleted_names(resource(&rs, db)))
            .cloned()
            .collect();
        assert_eq!(got, want, "{p:?}: deletions now");

        // A week ahead: the hypothetical new snapshot is the newest, so every
        // seeded one is outside `within: 1d`; the cap (3) bounds each resource.
        let at = (now() + chrono::Duration::days(7)).to_rfc3339();
        let plan = s.json(&["plan", "--at", &at], 0);
        let rs = plan_resources(&plan);
        let w = resource(&rs, web);
        assert_eq!(w["due"]["due"], true, "{p:?}: {w:#}");
        assert_eq!(w["create"]["status"], "would_create", "{p:?}: {w:#}");
        let name = w["create"]["detail"].as_str().unwrap();
        assert!(
            name.starts_with(&format!("snapkeeper:{ACCOUNT}:{POLICY}:{web}:")),
            "{name}"
        );
        let snaps = w["snapshots"].as_array().unwrap();
        // The six seeded ones plus "(new)".
        assert_eq!(snaps.len(), 7, "{p:?}: {w:#}");
        let deletes: Vec<&Value> = snaps.iter().filter(|x| x["action"] == "delete").collect();
        assert_eq!(deletes.len(), 3, "{p:?}: capped at 3: {w:#}");
        for x in &deletes {
            assert_eq!(x["delete"]["status"], "would_delete", "{x:#}");
        }
        // Oldest go first: the three deleted are the three oldest.
        let mut created: Vec<&str> = snaps
            .iter()
            .filter(|x| x["id"] != "(new)")
            .map(|x| x["created"].as_str().unwrap())
            .collect();
        created.sort_unstable();
        let oldest: BTreeSet<&str> = created[..3].iter().copied().collect();
        let got: BTreeSet<&str> = deletes
            .iter()
            .map(|x| x["created"].as_str().unwrap())
            .collect();
        assert_eq!(got, oldest, "{p:?}");
        let capped = snaps
            .iter()
            .filter(|x| {
                x["action"] == "keep"
                    && x["reasons"].as_array().unwrap().iter().any(|r| {
                        r.as_str()
                            .unwrap()
                            .contains("deletion cap reached (3 per run)")
                    })
            })
            .count();
        assert_eq!(capped, 3, "{p:?}: {w:#}");
        let dbr = resource(&rs, db);
        assert_eq!(deleted_names(dbr).len(), 2, "{p:?}: {dbr:#}");

        // The same plan for people.
        let ran = s.run(&["plan", "--at", &at]);
        assert_eq!(ran.code, 0, "{}", show(&ran));
        assert!(
            ran.stdout.contains("(nothing is changed)"),
            "{}",
            show(&ran)
        );
        assert!(ran.stdout.contains("due now"), "{}", show(&ran));
        // The new snapshot's name is its marker, which repeats what the
        // plan shows already: in full only with --wide.
        assert!(
            ran.stdout.contains("create: would create one now"),
            "{}",
            show(&ran)
        );
        let wide = s.run(&["plan", "--at", &at, "--wide"]);
        assert_eq!(wide.code, 0, "{}", show(&wide));
        assert!(
            wide.stdout.contains(&format!(
                "create: would create snapkeeper:{ACCOUNT}:{POLICY}:{web}:"
            )),
            "{}",
            show(&wide)
        );
        let delete_rows = ran
            .stdout
            .lines()
            .filter(|l| l.split_whitespace().any(|w| w == "delete"))
            .count();
        assert_eq!(delete_rows, 5, "{}", show(&ran));
        assert!(
            ran.stdout.contains("deletion cap reached (3 per run)"),
            "{}",
            show(&ran)
        );
        assert!(
            ran.stdout
                .contains("unmanaged: 2 snapshots without this account's marker"),
            "{}",
            show(&ran)
        );

        // Planning wrote nothing.
        assert_eq!(writes(&counted(&s.sim)), Vec::<String>::new(), "{p:?}");
    }
}

#[test]
fn plan_at_takes_a_date_a_zoneless_time_or_a_relative_one_and_rejects_the_rest() {
    let s = Setup::new(P::Do, Vec::new(), false);
    let ran = s.run(&["plan", "--at", "next tuesday"]);
    assert_eq!(ran.code, 2, "{}", show(&ran));
    assert!(
        ran.stderr.contains("is not a time: give 2026-11-30"),
        "{}",
        show(&ran)
    );
    for (at, want) in [
        ("2030-01-02", "2030-01-02T00:00:00Z"),
        ("2030-01-02T06:30", "2030-01-02T06:30:00Z"),
        ("2030-01-02T08:30:00+02:00", "2030-01-02T06:30:00Z"),
    ] {
        let plan = s.json(&["plan", "--at", at], 0);
        assert_eq!(plan["at"], want, "--at {at}");
    }
    let plan = s.json(&["plan", "--at", "+3d"], 0);
    let at: DateTime<Utc> = plan["at"].as_str().unwrap().parse().unwrap();
    let off = at - now();
    assert!(
        off > chrono::Duration::days(3) - chrono::Duration::minutes(1)
            && off < chrono::Duration::days(3) + chrono::Duration::minutes(1),
        "+3d planned at {at}"
    );
}

#[test]
fn prune_dry_run_changes_nothing() {
    for p in ALL {
        let s = Setup::new(p, scenario(p, ACCOUNT), false);
        let before = s.state();
        control(&s.sim, reqwest::Method::DELETE, "/counters");

        let ran = s.run(&["prune", "--dry-run"]);
        assert_eq!(ran.code, 0, "{p:?}: {}", show(&ran));
        assert!(
            ran.stdout.contains("dry run: nothing is deleted"),
            "{}",
            show(&ran)
        );
        assert!(
            ran.stdout.contains("would delete 3 snapshots"),
            "{}",
            show(&ran)
        );

        let reports = s.json(&["prune", "--dry-run"], 0);
        let r = &reports[0];
        assert_eq!(r["dry_run"], true);
        let mut would = BTreeSet::new();
        for res in r["resources"].as_array().unwrap() {
            assert_eq!(res["create"]["status"], "not_due", "prune never creates");
            would.extend(deleted_names(res));
        }
        assert_eq!(would, s.expired(), "{p:?}");

        let counts = counted(&s.sim);
        assert!(!counts.is_empty(), "{p:?}: the dry run read nothing?");
        assert_eq!(writes(&counts), Vec::<String>::new(), "{p:?}: {counts:?}");
        assert_eq!(s.state(), before, "{p:?}: state changed");
    }
}

#[test]
fn prune_deletes_expired_marked_snapshots_and_never_a_manual_one() {
    for p in ALL {
        let s = Setup::new(p, scenario(p, ACCOUNT), false);
        let before = s.listed();
        assert_eq!(before.len(), 10, "{p:?}: {before:?}");

        let reports = s.json(&["prune"], 0);
        let r = &reports[0];
        assert_eq!(r["dry_run"], false);
        let mut deleted = BTreeSet::new();
        for res in r["resources"].as_array().unwrap() {
            for x in res["snapshots"].as_array().unwrap() {
                if x["action"] == "delete" {
                    assert_eq!(x["delete"]["status"], "deleted", "{x:#}");
                    deleted.insert(x["name"].as_str().unwrap().to_string());
                }
            }
        }
        let expired = s.expired();
        assert_eq!(deleted, expired, "{p:?}");

        let after = s.listed();
        let want: BTreeMap<String, bool> = before
            .into_iter()
            .filter(|(name, _)| !expired.contains(name))
            .collect();
        assert_eq!(after, want, "{p:?}");
        assert_eq!(
            after.get("before-upgrade"),
            Some(&false),
            "{p:?}: manual kept"
        );
        let foreign = after
            .keys()
            .filter(|n| n.starts_with("snapkeeper:other:"))
            .count();
        assert_eq!(foreign, 1, "{p:?}: another account's snapshot kept");

        // Once more: nothing left to do.
        let ran = s.run(&["prune"]);
        assert_eq!(ran.code, 0, "{}", show(&ran));
        assert!(ran.stdout.contains("deleted 0 snapshots"), "{}", show(&ran));
    }
}

#[test]
fn snapshot_manual_by_name_and_id_and_managed_with_wait() {
    for p in ALL {
        let s = Setup::new(p, Vec::new(), false);

        // Manual, by resource name, not waiting.
        let ran = s.run(&["snapshot", ACCOUNT, "web-1", "--name", "pre-deploy"]);
        assert_eq!(ran.code, 0, "{p:?}: {}", show(&ran));
        assert!(
            ran.stdout.starts_with("started snapshot \"pre-deploy\""),
            "{}",
            show(&ran)
        );
        wait_for(Duration::from_secs(60), "pre-deploy to be listed", || {
            let rows = s.json(&["list", "--all"], 0);
            rows.as_array()
                .unwrap()
                .iter()
                .find(|r| r["name"] == "pre-deploy" && r["status"] == "complete")
                .map(|r| assert_eq!(r["managed"], false, "{r:#}"))
        });

        // Manual, by resource id, waiting.
        let db = p.id(Res::Db);
        let ran = s.run(&["snapshot", ACCOUNT, db, "--name", "by-id", "--wait"]);
        assert_eq!(ran.code, 0, "{p:?}: {}", show(&ran));
        assert!(ran.stdout.contains(&format!("({db})")), "{}", show(&ran));
        assert!(ran.stdout.contains(" complete"), "{}", show(&ran));

        // Managed, waiting: progress on stderr, then listed as managed.
        let ran = s.run(&["snapshot", ACCOUNT, "web-1", "--policy", POLICY, "--wait"]);
        assert_eq!(ran.code, 0, "{p:?}: {}", show(&ran));
        let web = p.id(Res::Web);
        let prefix = format!("snapkeeper:{ACCOUNT}:{POLICY}:{web}:");
        assert!(
            ran.stdout
                .starts_with(&format!("started snapshot \"{prefix}")),
            "{}",
            show(&ran)
        );
        assert!(
            ran.stderr.lines().any(|l| l.starts_with("  0s: ")),
            "no progress shown: {}",
            show(&ran)
        );
        assert!(ran.stdout.contains(" complete"), "{}", show(&ran));

        let rows = s.json(&["list", "--resource", "web-1"], 0);
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), 1, "{p:?}: only the managed one: {rows:#?}");
        assert!(rows[0]["name"].as_str().unwrap().starts_with(&prefix));
        assert_eq!(rows[0]["managed"], true);
        assert_eq!(rows[0]["policy"], POLICY);
        assert_eq!(rows[0]["resource_id"], web);
        assert_eq!(rows[0]["resource_name"], "web-1");
        let all = s.listed();
        assert_eq!(all.get("pre-deploy"), Some(&false));
        assert_eq!(all.get("by-id"), Some(&false));
        assert_eq!(all.len(), 3, "{all:?}");

        // The managed snapshot is what the schedule sees: nothing due.
        let plan = s.json(&["plan"], 0);
        let w = resource(&plan_resources(&plan), web).clone();
        assert_eq!(w["due"]["due"], false, "{p:?}: {w:#}");
    }
}

#[test]
fn snapshot_refuses_unknown_names_and_untargeted_managed_snapshots() {
    let s = Setup::new(P::Hetzner, Vec::new(), false);
    let ran = s.run(&["snapshot", ACCOUNT, "no-such-server"]);
    assert_eq!(ran.code, 2, "{}", show(&ran));
    assert!(ran.stderr.contains("\"no-such-server\""), "{}", show(&ran));
    let ran = s.run(&["snapshot", ACCOUNT, "web-1", "--policy", "nope"]);
    assert_eq!(ran.code, 2, "{}", show(&ran));
    assert!(
        ran.stderr.contains("has no policy \"nope\""),
        "{}",
        show(&ran)
    );
    // A managed snapshot of a resource the policy does not select would be
    // an orphan no retention ever looks at.
    let ran = s.run(&["snapshot", ACCOUNT, "scratch", "--policy", POLICY]);
    assert_eq!(ran.code, 2, "{}", show(&ran));
    assert!(
        ran.stderr.contains(
            "policy six-hourly of account acct does not select server scratch (42000103)"
        ),
        "{}",
        show(&ran)
    );
    let ran = s.run(&["snapshot", "nobody", "web-1"]);
    assert_eq!(ran.code, 2, "{}", show(&ran));
    assert!(
        ran.stderr.contains("no account named \"nobody\""),
        "{}",
        show(&ran)
    );
    let ran = s.run(&[
        "snapshot", ACCOUNT, "web-1", "--name", "x", "--policy", POLICY,
    ]);
    assert_ne!(ran.code, 0, "--name with --policy: {}", show(&ran));
    // Issue 10: a manual snapshot stays manual. A name that parses as a
    // marker (any account's) or starts like one is refused before any call.
    let web = hetzner_web_marker();
    for name in [
        web.as_str(),
        "snapkeeper:other:daily:42000101:20261130T060000Z",
        " SNAPKEEPER:acct:x",
    ] {
        let ran = s.run(&["snapshot", ACCOUNT, "web-1", "--name", name]);
        assert_eq!(ran.code, 2, "{name:?}: {}", show(&ran));
        assert!(
            ran.stderr.contains("looks like a snapkeeper marker"),
            "{name:?}: {}",
            show(&ran)
        );
    }
    assert_eq!(writes(&counted(&s.sim)), Vec::<String>::new());
}

/// A marker of this test's account, policy and Hetzner web-1, as `snapshot
/// --policy` would write it.
fn hetzner_web_marker() -> String {
    Marker {
        account: ACCOUNT.into(),
        policy: POLICY.into(),
        resource_id: P::Hetzner.id(Res::Web).into(),
        created: now(),
    }
    .encode()
}

#[test]
fn list_shows_managed_by_default_all_with_manual_and_filters_by_resource() {
    for p in ALL {
        let s = Setup::new(p, scenario(p, ACCOUNT), false);
        let web = p.id(Res::Web);
        let db = p.id(Res::Db);

        let rows = s.json(&["list"], 0);
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), 8, "{p:?}: {rows:#?}");
        for r in rows {
            assert_eq!(r["managed"], true, "{r:#}");
            assert_eq!(r["policy"], POLICY, "{r:#}");
            assert_eq!(r["account"], ACCOUNT);
            assert_eq!(r["provider"], p.name());
            assert_eq!(r["kind"], p.kind());
            assert_eq!(r["status"], "complete");
            let id = r["resource_id"].as_str().unwrap();
            assert!(id == web || id == db, "{r:#}");
            let name = if id == web { "web-1" } else { "db-1" };
            assert_eq!(r["resource_name"], name, "{r:#}");
        }

        let all = s.json(&["list", "--all"], 0);
        let all = all.as_array().unwrap();
        assert_eq!(all.len(), 10, "{p:?}: {all:#?}");
        let manual = all.iter().find(|r| r["name"] == "before-upgrade").unwrap();
        assert_eq!(manual["managed"], false);
        assert_eq!(manual["policy"], Value::Null);
        let foreign = all
            .iter()
            .find(|r| r["name"].as_str().unwrap().starts_with("snapkeeper:other:"))
            .unwrap();
        assert_eq!(
            foreign["managed"], false,
            "another account's marker: {foreign:#}"
        );

        for (what, want) in [("web-1", 6), (web, 6), ("db-1", 2), (db, 2), ("scratch", 0)] {
            let rows = s.json(&["list", "--resource", what], 0);
            let rows = rows.as_array().unwrap();
            assert_eq!(rows.len(), want, "{p:?} --resource {what}: {rows:#?}");
            assert!(rows.iter().all(|r| r["managed"] == true));
        }

        // The table for people: one per account under a heading line.
        let ran = s.run(&["list"]);
        assert_eq!(ran.code, 0, "{}", show(&ran));
        let mut lines = ran.stdout.lines();
        assert_eq!(
            lines.next(),
            Some(format!("account {ACCOUNT} ({}): 8 managed snapshots", p.name()).as_str()),
            "{}",
            show(&ran)
        );
        let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(
            header,
            [
                "ID", "RESOURCE", "CREATED", "SIZE", "STATUS", "POLICY", "NAME"
            ]
        );
        assert_eq!(ran.stdout.lines().count(), 10, "{}", show(&ran));
        assert!(!ran.stdout.contains("before-upgrade"), "{}", show(&ran));
        // A managed snapshot's name (its marker) shows only with --wide.
        assert!(!ran.stdout.contains("snapkeeper:"), "{}", show(&ran));
        let wide = s.run(&["list", "--wide"]);
        assert!(
            wide.stdout.contains(&format!("web-1 ({web})")),
            "{}",
            show(&wide)
        );
        assert!(wide.stdout.contains("snapkeeper:"), "{}", show(&wide));
        let ran = s.run(&["list", "--all"]);
        let manual = ran
            .stdout
            .lines()
            .find(|l| l.ends_with("before-upgrade"))
            .unwrap_or_else(|| panic!("no manual row: {}", show(&ran)));
        assert!(
            manual.contains(" - "),
            "no policy for a manual one: {manual:?}"
        );
        let ran = s.run(&["list", "--resource", "scratch"]);
        assert_eq!(ran.code, 0, "{}", show(&ran));
        assert_eq!(
            ran.stdout.trim(),
            format!("account {ACCOUNT} ({}): no managed snapshots", p.name()),
            "{}",
            show(&ran)
        );
    }
}

/// One sim with all three providers, one account each.
struct Three {
    sim: SimProcess,
    dir: Dir,
    blocks: Vec<String>,
}

impl Three {
    fn new() -> Self {
        let parts: Vec<(P, Vec<Snap>)> = ALL
            .iter()
            .map(|p| (*p, scenario(*p, &Self::account(*p))))
            .collect();
        let sim = SimProcess::start(Some(&seed(&parts)));
        let dir = Dir::new();
        let blocks = ALL
            .iter()
            .map(|p| account_yaml(&dir, &sim, *p, &Self::account(*p), p.tokens().0))
            .collect();
        Self { sim, dir, blocks }
    }

    fn account(p: P) -> String {
        format!("{ACCOUNT}-{}", p.name())
    }
}

#[test]
fn inventory_shows_counts_and_a_table_per_account() {
    let t = Three::new();
    let config = write_config(&t.dir, &t.blocks);
    let ran = sk(&config, &["inventory"]);
    assert_eq!(ran.code, 0, "{}", show(&ran));
    for p in ALL {
        let head = format!("account {ACCOUNT}-{} ({}): ", p.name(), p.name());
        let line = ran
            .stdout
            .lines()
            .find(|l| l.starts_with(&head))
            .unwrap_or_else(|| panic!("no {head:?} line: {}", show(&ran)));
        let plural = format!("3 {}s", p.kind());
        assert!(line.contains(&plural), "{line:?} lacks {plural:?}");
        for name in ["web-1", "db-1", "scratch"] {
            assert!(ran.stdout.contains(name), "{}", show(&ran));
        }
    }
    let headers = ran
        .stdout
        .lines()
        .filter(|l| {
            l.split_whitespace().collect::<Vec<_>>() == ["KIND", "ID", "NAME", "REGION", "STATUS"]
        })
        .count();
    assert_eq!(headers, 3, "one table per account: {}", show(&ran));

    // One account only.
    let ran = sk(&config, &["inventory", &format!("{ACCOUNT}-vultr")]);
    assert_eq!(ran.code, 0, "{}", show(&ran));
    assert_eq!(
        ran.stdout
            .lines()
            .filter(|l| l.starts_with("account "))
            .count(),
        1,
        "{}",
        show(&ran)
    );

    // JSON: counts agree with the seed (snapshots: 10 seeded per account).
    let inv = parse(&sk(&config, &["inventory", "--json"]));
    for p in ALL {
        let a = inv
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["provider"] == p.name())
            .unwrap();
        let section = |kind: &str| {
            a["sections"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["kind"] == kind)
                .map(|s| s["items"].as_array().unwrap().len())
        };
        assert_eq!(section(&format!("{}s", p.kind())), Some(3), "{p:?}: {a:#}");
        let snaps = section("snapshots").or_else(|| section("images"));
        assert_eq!(snaps, Some(10), "{p:?}: {a:#}");
    }
}

#[test]
fn json_output_of_plan_list_prune_and_inventory_has_the_documented_fields() {
    let t = Three::new();
    let config = write_config(&t.dir, &t.blocks);
    let json = |args: &[&str]| {
        let mut all = args.to_vec();
        all.push("--json");
        let ran = sk(&config, &all);
        assert_eq!(ran.code, 0, "{args:?}: {}", show(&ran));
        parse(&ran)
    };
    let at = (now() + chrono::Duration::days(7)).to_rfc3339();

    let plan = json(&["plan", "--at", &at]);
    assert_eq!(keys(&plan), ["accounts", "at", "warnings"]);
    assert!(
        plan["at"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .is_ok()
    );
    let accounts = plan["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 3);
    for a in accounts {
        assert_eq!(
            keys(a),
            sorted(&["account", "provider", "error", "unmanaged", "report"])
        );
        assert_eq!(a["error"], Value::Null);
        assert_eq!(a["unmanaged"], 2, "{a:#}");
        check_report(&a["report"], true);
    }

    let rows = json(&["list", "--all"]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 30);
    for r in rows {
        assert_eq!(
            keys(r),
            sorted(&[
                "account",
                "provider",
                "kind",
                "id",
                "name",
                "resource_id",
                "resource_name",
                "created",
                "size_gb",
                "status",
                "managed",
                "policy",
            ])
        );
        assert!(
            r["created"]
                .as_str()
                .unwrap()
                .parse::<DateTime<Utc>>()
                .is_ok()
        );
    }

    let inv = json(&["inventory"]);
    for a in inv.as_array().unwrap() {
        assert_eq!(
            keys(a),
            sorted(&["account", "provider", "error", "sections"])
        );
        for s in a["sections"].as_array().unwrap() {
            assert_eq!(keys(s), ["items", "kind"]);
            for it in s["items"].as_array().unwrap() {
                assert_eq!(keys(it), sorted(&["id", "name", "region", "status"]));
            }
        }
    }

    let reports = json(&["prune", "--dry-run"]);
    assert_eq!(reports.as_array().unwrap().len(), 3);
    for r in reports.as_array().unwrap() {
        check_report(r, true);
    }
    let reports = json(&["prune"]);
    for r in reports.as_array().unwrap() {
        check_report(r, false);
        let deleted: usize = r["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["prune"]["detail"]["deleted"].as_u64().unwrap() as usize)
            .sum();
        assert_eq!(deleted, 3, "{r:#}");
    }
}

/// A `CycleReport` as `plan` and `prune` print it.
fn check_report(r: &Value, dry_run: bool) {
    assert_eq!(
        keys(r),
        sorted(&[
            "account",
            "started",
            "finished",
            "dry_run",
            "resources",
            "orphans",
            "skipped_policies",
            "errors",
            "warnings",
        ])
    );
    assert_eq!(r["dry_run"], dry_run);
    assert_eq!(r["errors"], Value::Array(Vec::new()), "{r:#}");
    let resources = r["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 2, "{r:#}");
    for res in resources {
        assert_eq!(
            keys(res),
            sorted(&[
                "policy",
                "kind",
                "resource_id",
                "resource_name",
                "due",
                "create",
                "prune",
                "snapshots",
                "errors",
            ])
        );
        assert_eq!(keys(&res["due"]), ["due", "next", "reason"]);
        assert!(res["create"]["status"].is_string(), "{res:#}");
        assert!(res["prune"]["status"].is_string(), "{res:#}");
        for s in res["snapshots"].as_array().unwrap() {
            assert_eq!(
                keys(s),
                sorted(&[
                    "id", "name", "created", "state", "action", "reasons", "delete"
                ])
            );
            let action = s["action"].as_str().unwrap();
            assert!(action == "keep" || action == "delete", "{s:#}");
        }
    }
}

#[test]
fn exit_codes_ok_partial_nothing_done_and_config_error() {
    let t = Three::new();
    let good = write_config(&t.dir, &t.blocks);
    let mut with_bad = t.blocks.clone();
    with_bad.push(account_yaml(
        &t.dir,
        &t.sim,
        P::Do,
        "bad-token",
        "dop_v1_ffff000000000000000000000000000000000000000000000000000000000000",
    ));
    let partial = t
        .dir
        .write("partial.yaml", &format!("accounts:\n{}", with_bad.concat()));
    let only_bad = t
        .dir
        .write("only-bad.yaml", &format!("accounts:\n{}", with_bad[3]));
    let invalid = t.dir.write(
        "invalid.yaml",
        "accounts:\n  - name: Bad Name\n    provider: nimbus\n",
    );

    let commands: [&[&str]; 5] = [
        &["plan"],
        &["list"],
        &["inventory"],
        &["prune", "--dry-run"],
        &["plan", "--json"],
    ];
    for args in commands {
        let ran = sk(&good, args);
        assert_eq!(ran.code, 0, "good {args:?}: {}", show(&ran));

        let ran = sk(&partial, args);
        assert_eq!(ran.code, 1, "partial {args:?}: {}", show(&ran));
        let text = format!("{}{}", ran.stdout, ran.stderr);
        assert!(
            text.contains("the token for account bad-token was refused"),
            "partial {args:?}: {}",
            show(&ran)
        );

        let ran = sk(&only_bad, args);
        assert_eq!(ran.code, 2, "only bad {args:?}: {}", show(&ran));

        let ran = sk(&invalid, args);
        assert_eq!(ran.code, 78, "invalid {args:?}: {}", show(&ran));
        assert!(ran.stderr.contains("error: "), "{}", show(&ran));
        assert!(ran.stdout.is_empty(), "{}", show(&ran));
    }
    let ran = sk(&invalid, &["snapshot", "a", "b"]);
    assert_eq!(ran.code, 78, "{}", show(&ran));
    let ran = sk(
        &only_bad,
        &["snapshot", "bad-token", "web-1", "--name", "x"],
    );
    assert_eq!(ran.code, 2, "{}", show(&ran));
    assert!(
        ran.stderr
            .contains("the token for account bad-token was refused"),
        "{}",
        show(&ran)
    );
    let ran = sk(&good, &["list", "no-such-account"]);
    assert_eq!(ran.code, 2, "{}", show(&ran));
    assert!(ran.stderr.contains("no account named"), "{}", show(&ran));

    // prune for real: the good accounts delete, the bad one fails.
    let ran = sk(&partial, &["prune"]);
    assert_eq!(ran.code, 1, "{}", show(&ran));
    assert_eq!(
        ran.stdout.matches("deleted 3 snapshots").count(),
        3,
        "{}",
        show(&ran)
    );
    // No token ever shows.
    for tok in t.sim.tokens.iter().map(|x| x.token.as_str()) {
        assert!(!ran.stdout.contains(tok) && !ran.stderr.contains(tok));
    }
}

#[test]
fn another_installations_policy_is_never_pruned_unless_retired_issue_10() {
    // Two hosts manage one cloud account under the same account name. Host
    // B's policy `host-b-hourly` is unknown to host A's file: with
    // `prune_orphans: true` alone host A must keep every one of them; only a
    // policy named in `retired_policies` is pruned (down to its newest).
    for p in ALL {
        let web = p.id(Res::Web);
        let snaps = vec![
            managed(p, ACCOUNT, Res::Web, h(1)),
            marked(p, ACCOUNT, "host-b-hourly", Res::Web, d(3)),
            marked(p, ACCOUNT, "host-b-hourly", Res::Web, d(4)),
            marked(p, ACCOUNT, "host-b-hourly", Res::Web, d(5)),
        ];
        // Full ids in report lines: `--wide` below.
        let line = format!(
            "  orphans: 3 snapshots of {} {web} from policy host-b-hourly: policy not in this file (removed, renamed, or another installation's); ",
            p.kind()
        );
        let kept = format!(
            "{line}kept (name the policy in retired_policies to let prune_orphans remove them)\n"
        );

        // Default, and prune_orphans alone: kept, and plan and prune say so.
        for extra in ["", "    prune_orphans: true\n"] {
            let s = Setup::with(p, snaps.clone(), false, extra);
            for args in [&["plan", "--wide"][..], &["prune", "--wide"]] {
                let ran = s.run(args);
                assert_eq!(ran.code, 0, "{p:?} {args:?}: {}", show(&ran));
                assert!(
                    ran.stdout.contains(&kept),
                    "{p:?} {extra} {args:?}: {}",
                    show(&ran)
                );
            }
            assert_eq!(s.listed().len(), 4, "{p:?} {extra}: nothing deleted");
        }
        // check says why an account name must be unique when prune_orphans is on.
        let s = Setup::with(p, snaps.clone(), false, "    prune_orphans: true\n");
        let ran = s.run(&["check"]);
        assert_eq!(ran.code, 0, "{}", show(&ran));
        assert!(
            ran.stderr
                .contains("must be unique per cloud account across every snapkeeper installation"),
            "{p:?}: {}",
            show(&ran)
        );

        // Retired by name: the plan shows exactly what a run deletes; a run
        // keeps the newest of the group (a retired policy keeps `last: 1`).
        let s = Setup::with(
            p,
            snaps,
            false,
            "    prune_orphans: true\n    retired_policies: [host-b-hourly]\n",
        );
        let line = line.replace(
            "policy not in this file (removed, renamed, or another installation's)",
            "policy retired",
        );
        let ran = s.run(&["plan", "--wide"]);
        assert_eq!(ran.code, 0, "{}", show(&ran));
        assert!(
            ran.stdout
                .contains(&format!("{line}2 would be deleted (prune_orphans)")),
            "{p:?}: {}",
            show(&ran)
        );
        let ran = s.run(&["prune", "--wide"]);
        assert_eq!(ran.code, 0, "{}", show(&ran));
        assert!(
            ran.stdout
                .contains(&format!("{line}2 deleted (prune_orphans)")),
            "{p:?}: {}",
            show(&ran)
        );
        let left: Vec<String> = s
            .listed()
            .into_keys()
            .filter(|n| n.contains(":host-b-hourly:"))
            .collect();
        assert_eq!(left.len(), 1, "{p:?}: {left:?}");
    }
}

#[test]
fn a_lying_clock_never_costs_a_snapshot_issue_10() {
    for p in ALL {
        // A marker that says a year ahead, written once while a host clock
        // was wrong; its provider time is yesterday. Three real snapshots.
        let mut liar = managed(p, ACCOUNT, Res::Web, h(-24 * 365));
        let real_at = now() - h(30);
        liar.created = real_at;
        let snaps = vec![
            liar.clone(),
            managed(p, ACCOUNT, Res::Web, h(1)),
            managed(p, ACCOUNT, Res::Web, h(7)),
            managed(p, ACCOUNT, Res::Web, d(2)),
        ];
        let s = Setup::new(p, snaps.clone(), false);
        let ran = s.run(&["prune"]);
        assert_eq!(ran.code, 0, "{p:?}: {}", show(&ran));
        let listed = s.listed();
        assert!(
            listed.contains_key(&liar.text),
            "{p:?}: the suspect is kept: {listed:?}"
        );
        // Only the 2-day-old one expires (within 1d of the truly newest).
        assert_eq!(
            listed
                .keys()
                .filter(|n| n.starts_with("snapkeeper:acct:"))
                .count(),
            3,
            "{p:?}: {}",
            show(&ran)
        );
        assert!(
            ran.stdout.contains("suspect: marker time"),
            "{p:?}: {}",
            show(&ran)
        );
        let plan = s.run(&["plan"]);
        assert!(
            !plan.stdout.contains("next due 2027"),
            "{p:?}: {}",
            show(&plan)
        );

        // The provider's Date says three hours earlier than the host: no
        // deletion in the account, said so, until the clocks agree.
        let s = Setup::with_settings(p, snaps, false, "", ", date_skew: \"-3h\"");
        let ran = s.run(&["prune"]);
        assert_eq!(ran.code, 0, "{p:?}: {}", show(&ran));
        assert!(
            ran.stdout
                .contains("host clock and provider clock disagree"),
            "{p:?}: {}",
            show(&ran)
        );
        assert_eq!(s.listed().len(), 4, "{p:?}: nothing deleted");
    }
}

#[test]
fn a_full_quota_runs_retention_then_takes_the_snapshot_issue_10() {
    // Today's defect: at the provider's snapshot limit the create failed,
    // retention was skipped with it ("never prune after a failed create"),
    // and the resource never got another snapshot. Now retention makes room
    // (every floor holds) and the create is tried once more. Vultr counts
    // snapshots per account and Hetzner images per project; DigitalOcean's
    // limit is per volume (engine and provider tests cover it).
    for p in [P::Vultr, P::Hetzner] {
        // web: due (newest 7 h old, every 6h), three of four expired
        // (within 1d of the newest); db: fresh, not due. Five in all, at
        // the limit of five.
        let snaps = vec![
            managed(p, ACCOUNT, Res::Web, h(7)),
            managed(p, ACCOUNT, Res::Web, d(2)),
            managed(p, ACCOUNT, Res::Web, d(3)),
            managed(p, ACCOUNT, Res::Web, d(4)),
            managed(p, ACCOUNT, Res::Db, h(1)),
        ];
        let s = Setup::with_seed(p, snaps, false, "", |t| {
            t.replacen(
                "    - name: team\n",
                "    - name: team\n      snapshot_limit: 5\n",
                1,
            )
        });
        let ran = s.run(&["run", "--once", "--log-format", "json"]);
        assert_eq!(ran.code, 0, "{p:?}: {}", show(&ran));
        assert!(
            ran.stderr.contains("at the provider's snapshot limit"),
            "{p:?}: {}",
            show(&ran)
        );
        let web = p.id(Res::Web);
        let prefix = format!("snapkeeper:{ACCOUNT}:{POLICY}:{web}:");
        let listed = s.listed();
        let ours: Vec<&String> = listed.keys().filter(|n| n.starts_with(&prefix)).collect();
        assert_eq!(
            ours.len(),
            2,
            "{p:?}: the newest old one and the new one: {listed:?}"
        );
        assert_eq!(listed.len(), 3, "{p:?}: {listed:?}");
    }
}

/// Issue 13: provider-controlled text never reaches the terminal raw.
#[test]
fn list_all_escapes_control_characters_in_snapshot_names() {
    // YAML escapes in the seed: NUL, TAB, newline, ESC, a bidi override.
    let evil = r"evil\0nul\ttab\nline\e[31mred\u202Eabc";
    let raw = "evil\0nul\ttab\nline\u{1b}[31mred\u{202e}abc";
    let shown = r"evil\0nul\ttab\nline\u{1b}[31mred\u{202e}abc";
    for p in ALL {
        let s = Setup::new(
            p,
            vec![
                managed(p, ACCOUNT, Res::Web, h(1)),
                manual(Res::Web, evil, d(5)),
            ],
            false,
        );
        for args in [&["list", "--all"][..], &["list", "--all", "--wide"]] {
            let ran = s.run(args);
            assert_eq!(ran.code, 0, "{p:?}: {}", show(&ran));
            assert!(
                !ran.stdout.chars().any(|c| c.is_control() && c != '\n'),
                "{p:?} {args:?} printed a raw control character: {:?}",
                ran.stdout
            );
            assert!(
                !ran.stdout.contains('\u{202e}'),
                "{p:?}: bidi override printed"
            );
            // Heading, header and two rows: the name's newline split nothing.
            assert_eq!(ran.stdout.lines().count(), 4, "{p:?}: {}", show(&ran));
            // The default cuts long names; --wide shows all of it.
            let want = if args.len() == 3 { shown } else { &shown[..30] };
            assert!(ran.stdout.contains(want), "{p:?}: {}", show(&ran));
        }
        // JSON carries the provider's bytes (JSON escapes them itself).
        let rows = s.json(&["list", "--all"], 0);
        assert!(
            rows.as_array().unwrap().iter().any(|r| r["name"] == raw),
            "{p:?}: {rows:#}"
        );
    }
}

/// Issue 13: `--account A`, repeatable, on plan, list, inventory, prune and
/// `run --once`; the old positional forms of list and inventory still work.
#[test]
fn account_flag_is_repeatable_on_every_command() {
    let t = Three::new();
    let config = write_config(&t.dir, &t.blocks);
    let two = [Three::account(P::Vultr), Three::account(P::Hetzner)];
    let args = |cmd: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
        for a in &two {
            v.push("--account".into());
            v.push(a.clone());
        }
        v.push("--json".into());
        v
    };
    let accounts_of = |v: &Value, path: &str| -> BTreeSet<String> {
        let list = if path.is_empty() { v } else { &v[path] };
        list.as_array()
            .unwrap()
            .iter()
            .map(|x| x["account"].as_str().unwrap().to_string())
            .collect()
    };
    let want: BTreeSet<String> = two.iter().cloned().collect();
    for (cmd, path) in [
        (&["plan"][..], "accounts"),
        (&["list"], ""),
        (&["inventory"], ""),
        (&["prune", "--dry-run"], ""),
    ] {
        let a = args(cmd);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let ran = sk(&config, &a);
        assert_eq!(ran.code, 0, "{cmd:?}: {}", show(&ran));
        assert_eq!(accounts_of(&parse(&ran), path), want, "{cmd:?}");
        let ran = sk(&config, &[cmd[0], "--account", "nope"]);
        assert_eq!(ran.code, 2, "{cmd:?}: {}", show(&ran));
        assert!(
            ran.stderr.contains("no account named \"nope\""),
            "{}",
            show(&ran)
        );
    }
    // Old positional forms.
    let v = Three::account(P::Vultr);
    for cmd in ["list", "inventory"] {
        let ran = sk(&config, &[cmd, &v, "--json"]);
        assert_eq!(ran.code, 0, "{cmd}: {}", show(&ran));
        let got = accounts_of(&parse(&ran), "");
        assert_eq!(got, BTreeSet::from([v.clone()]), "{cmd}");
    }
    // run --once works on the named account only: the expired snapshots of
    // Vultr go (3, the cap), DigitalOcean's stay.
    let count = |account: &str| {
        let ran = sk(&config, &["list", "--account", account, "--json"]);
        parse(&ran).as_array().unwrap().len()
    };
    let d = Three::account(P::Do);
    let (do_before, v_before) = (count(&d), count(&v));
    let ran = sk(
        &config,
        &["run", "--once", "--account", &v, "--log-format", "text"],
    );
    assert_eq!(ran.code, 0, "{}", show(&ran));
    assert_eq!(count(&d), do_before, "run --once touched another account");
    assert_eq!(count(&v), v_before - 3, "{}", show(&ran));
    let ran = sk(&config, &["run", "--account", &v]);
    assert_eq!(ran.code, 2, "--account needs --once: {}", show(&ran));
}

/// Issue 13: every default table fits 100 columns on the demo seed.
#[test]
fn tables_fit_100_columns_on_the_demo_seed() {
    let sim = SimProcess::start(None);
    let dir = Dir::new();
    let token = |provider: &str| {
        let t = sim
            .tokens
            .iter()
            .find(|t| t.provider == provider && !t.read_only)
            .unwrap();
        let f = dir.write(&format!("{provider}.token"), &t.token);
        set_private(&f);
        f.display().to_string()
    };
    let config = dir.write(
        "config.yaml",
        &format!(
            r#"accounts:
  - name: do-demo
    provider: digitalocean
    token: {{ file: {} }}
    api_url: {}
    policies:
      - {{ name: droplets, targets: {{ kind: droplet, tags: [backup] }}, every: 6h, keep: {{ within: 7d }} }}
      - {{ name: volumes, targets: {{ kind: volume, tags: [backup] }}, every: 6h, keep: {{ last: 2 }} }}
  - name: vultr-demo
    provider: vultr
    token: {{ file: {} }}
    api_url: {}
    policies:
      - {{ name: instances, targets: {{ kind: instance, tags: [backup] }}, every: 6h, keep: {{ last: 3 }} }}
  - name: hetzner-demo
    provider: hetzner
    token: {{ file: {} }}
    api_url: {}
    policies:
      - {{ name: servers, targets: {{ kind: server, labels: {{ backup: "true" }} }}, every: 6h, keep: {{ within: 7d }} }}
"#,
            token("digitalocean"),
            sim.url("digitalocean"),
            token("vultr"),
            sim.url("vultr"),
            token("hetzner"),
            sim.url("hetzner"),
        ),
    );
    for args in [
        &["list", "--all"][..],
        &["list"],
        &["plan"],
        &["prune", "--dry-run"],
        &["inventory"],
    ] {
        let ran = sk(&config, args);
        assert_eq!(ran.code, 0, "{args:?}: {}", show(&ran));
        assert!(ran.stdout.lines().count() > 3, "{args:?}: {}", show(&ran));
        let widest = ran
            .stdout
            .lines()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0);
        assert!(widest <= 100, "{args:?}: {widest} columns:\n{}", ran.stdout);
    }
    // --wide shows the full ids the default shortens.
    let ran = sk(&config, &["inventory", "--wide"]);
    assert!(
        ran.stdout.contains("5e1d0001-0000-4000-8000-00000000d0a1"),
        "{}",
        ran.stdout
    );
    let ran = sk(&config, &["inventory"]);
    assert!(
        !ran.stdout.contains("5e1d0001-0000-4000-8000-00000000d0a1"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("1 load balancer,"),
        "plural: {}",
        ran.stdout
    );
}

/// Issue 13: `delete ACCOUNT SNAPSHOT` asks (or needs --yes), refuses what
/// retention keeps unless --force, and what carries another account's marker.
#[test]
fn delete_asks_refuses_what_retention_keeps_and_deletes_the_rest() {
    for p in ALL {
        let s = Setup::new(p, scenario(p, ACCOUNT), false);
        let id_of = |name: &str| -> String {
            let rows = s.json(&["list", "--all"], 0);
            rows.as_array()
                .unwrap()
                .iter()
                .find(|r| r["name"] == name)
                .map(|r| r["id"].as_str().unwrap().to_string())
                .unwrap_or_else(|| panic!("{p:?}: no {name} in {rows:#}"))
        };
        let names: Vec<String> = s.snaps.iter().map(|x| x.text.clone()).collect();
        // scenario(): [0] web 1h (newest, kept), [5] web 3d (expired),
        // [8] manual, [9] another account's marker.
        let (newest, expired, manual_name, foreign) = (&names[0], &names[5], &names[8], &names[9]);

        let kept = id_of(newest);
        // Retention would let it go, but nobody said yes.
        let ran = s.run(&["delete", ACCOUNT, &id_of(expired)]);
        assert_eq!(ran.code, 2, "{p:?}: {}", show(&ran));
        assert!(
            ran.stderr.contains("stdin is not a terminal, pass --yes"),
            "{}",
            show(&ran)
        );
        let ran = s.run(&["delete", ACCOUNT, &kept, "--yes"]);
        assert_eq!(ran.code, 2, "{p:?}: {}", show(&ran));
        assert!(
            ran.stderr
                .contains("retention of policy six-hourly keeps it (newest complete"),
            "{p:?}: {}",
            show(&ran)
        );
        let ran = s.run(&["delete", ACCOUNT, &id_of(foreign), "--yes"]);
        assert_eq!(ran.code, 2, "{p:?}: {}", show(&ran));
        assert!(
            ran.stderr.contains("carries account other's marker"),
            "{}",
            show(&ran)
        );
        assert_eq!(s.listed().len(), 10, "{p:?}: a refusal deleted something");

        // Expired: deleted, by an id prefix as the tables show it.
        let id = id_of(expired);
        let prefix = if id.chars().count() > 10 {
            format!("{}…", id.chars().take(8).collect::<String>())
        } else {
            id.clone()
        };
        let ran = s.run(&["delete", ACCOUNT, &prefix, "--yes", "--json"]);
        assert_eq!(ran.code, 0, "{p:?}: {}", show(&ran));
        let out = parse(&ran);
        assert_eq!(out["id"], id.as_str());
        assert_eq!(out["deleted"], true);
        assert_eq!(out["managed"], true);
        // A manual one by name; the kept one with --force.
        let ran = s.run(&["delete", ACCOUNT, manual_name, "--yes"]);
        assert_eq!(ran.code, 0, "{p:?}: {}", show(&ran));
        let ran = s.run(&["delete", ACCOUNT, &kept, "--yes", "--force"]);
        assert_eq!(ran.code, 0, "{p:?}: {}", show(&ran));
        assert!(
            ran.stderr.contains("deleting because of --force"),
            "{}",
            show(&ran)
        );
        let left = s.listed();
        assert_eq!(left.len(), 7, "{p:?}: {left:?}");
        for gone in [newest, expired, manual_name] {
            assert!(!left.contains_key(gone), "{p:?}: {gone} still there");
        }
        let ran = s.run(&["delete", ACCOUNT, "no-such-snapshot", "--yes"]);
        assert_eq!(ran.code, 2, "{p:?}: {}", show(&ran));
    }
}

/// Issue 13: `snapshot --json`, and a warning when the name is taken.
#[test]
fn snapshot_json_and_a_warning_for_a_name_already_taken() {
    for p in ALL {
        let s = Setup::new(p, scenario(p, ACCOUNT), false);
        let ran = s.run(&[
            "snapshot",
            ACCOUNT,
            "web-1",
            "--name",
            "before-upgrade",
            "--json",
        ]);
        assert_eq!(ran.code, 0, "{p:?}: {}", show(&ran));
        assert!(
            ran.stderr
                .contains("already has 1 snapshot named \"before-upgrade\""),
            "{p:?}: {}",
            show(&ran)
        );
        let out = parse(&ran);
        assert_eq!(out["status"], "started", "{out:#}");
        assert_eq!(out["name"], "before-upgrade");
        assert_eq!(out["resource_id"], p.id(Res::Web));
        assert_eq!(out["same_name"].as_array().unwrap().len(), 1, "{out:#}");
        let ran = s.run(&[
            "snapshot", ACCOUNT, "db-1", "--name", "fresh", "--json", "--wait",
        ]);
        assert_eq!(ran.code, 0, "{p:?}: {}", show(&ran));
        assert!(!ran.stderr.contains("warning"), "{p:?}: {}", show(&ran));
        let out = parse(&ran);
        assert_eq!(out["status"], "complete", "{out:#}");
        assert!(out["snapshot_id"].is_string(), "{out:#}");
    }
}

/// Requests by `METHOD template`, as the simulator logged them.
fn request_counts(sim: &SimProcess) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in crate::daemon::requests(sim) {
        *out.entry(format!("{} {}", r.method, r.template))
            .or_default() += 1;
    }
    out
}

#[test]
fn a_cycle_costs_exactly_the_minimum_of_requests_issue_11() {
    // Two resources due, each with one snapshot to expire once the new one
    // is complete: one listing of each kind, one create and one delete per
    // resource, and the polls (a snapshot of the simulator finishes within
    // the first poll interval: one look each; a DigitalOcean droplet's look
    // reads the action, then the droplet's snapshots to learn the new id).
    // Nothing per resource beyond that: no "is one running?" reads (the
    // listings settle it), nothing for untargeted resources.
    // Then a pass with nothing due: the listings only.
    type Want = &'static [(&'static str, usize)];
    let cases: [(P, Want, Want); 3] = [
        (
            P::Do,
            &[
                ("DELETE /v2/snapshots/{snapshot_id}", 2),
                ("GET /v2/actions/{action_id}", 2),
                ("GET /v2/droplets", 1),
                ("GET /v2/droplets/{droplet_id}/snapshots", 2),
                ("GET /v2/snapshots", 2),
                ("POST /v2/droplets/{droplet_id}/actions", 2),
            ],
            &[("GET /v2/droplets", 1), ("GET /v2/snapshots", 2)],
        ),
        (
            P::Vultr,
            &[
                ("DELETE /snapshots/{snapshot-id}", 2),
                ("GET /instances", 1),
                ("GET /snapshots", 1),
                ("GET /snapshots/{snapshot-id}", 2),
                ("POST /snapshots", 2),
            ],
            &[("GET /instances", 1), ("GET /snapshots", 1)],
        ),
        (
            P::Hetzner,
            &[
                ("DELETE /images/{id}", 2),
                ("GET /actions/{id}", 2),
                ("GET /images", 1),
                ("GET /servers", 1),
                ("POST /servers/{id}/actions/create_image", 2),
            ],
            &[("GET /images", 1), ("GET /servers", 1)],
        ),
    ];
    for (p, busy, idle) in cases {
        let due = vec![
            managed(p, ACCOUNT, Res::Web, h(7)),
            managed(p, ACCOUNT, Res::Web, d(2)),
            managed(p, ACCOUNT, Res::Db, h(8)),
            managed(p, ACCOUNT, Res::Db, d(3)),
        ];
        let s = Setup::with(p, due, false, "");
        let ran = s.run(&["run", "--once", "--poll-interval", "300ms"]);
        assert_eq!(ran.code, 0, "{p:?}: {}", show(&ran));
        let want: BTreeMap<String, usize> = busy.iter().map(|(k, n)| (k.to_string(), *n)).collect();
        assert_eq!(request_counts(&s.sim), want, "{p:?}: {}", show(&ran));

        let fresh = vec![
            managed(p, ACCOUNT, Res::Web, h(1)),
            managed(p, ACCOUNT, Res::Db, h(1)),
        ];
        let s = Setup::with(p, fresh, false, "");
        let ran = s.run(&["run", "--once"]);
        assert_eq!(ran.code, 0, "{p:?}: {}", show(&ran));
        let want: BTreeMap<String, usize> = idle.iter().map(|(k, n)| (k.to_string(), *n)).collect();
        assert_eq!(request_counts(&s.sim), want, "{p:?} idle: {}", show(&ran));
    }
}
