//! High availability (issue 15) end to end: several real `snapkeeper run`
//! processes (replicas) against one simulator and one REAL etcd, started
//! per test on free loopback ports with a temp data dir.
//!
//! Checked: every account has exactly one owner key, held by its rendezvous
//! owner; two replicas never both write to one account (every create and
//! delete a replica logs falls inside that replica's ownership period of the
//! account, the periods of one account never overlap, and the simulator's
//! request log holds exactly the writes the replicas logged, and each
//! create and delete in it carries the user agent of the one replica that
//! owned the account when it arrived); a killed owner's accounts move within
//! the lease TTL plus a margin, with no duplicate snapshot; a replica whose
//! etcd stops answering stops writing within ttl/2. And the operator's
//! view: `status` and the metrics show who owns what (and that the owner is
//! unknown while etcd is frozen); a changed `ha:` on reload keeps the
//! running settings and says a restart is needed; TLS and user/password
//! auth against a real etcd, with a wrong password named, never printed.
//!
//! Needs `etcd` and `etcdctl` on PATH (Debian: etcd-server, etcd-client)
//! and, for TLS, `openssl`: under CI=true a missing one fails the test;
//! elsewhere the test says so loudly and returns.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::daemon::{Daemon, Line, World, config, is_create, policy, requests};
use crate::harness::{Dir, wait_for};

/// Lease TTL of the tests: short, so that a failover takes seconds.
const TTL: Duration = Duration::from_secs(4);
/// Settle delay of the tests.
const SETTLE: &str = "1s";
/// What a takeover may take beyond the TTL: a poll tick, the new owner's
/// first listing, log and scheduling noise on a busy 2-core machine.
const MARGIN: Duration = Duration::from_secs(4);

// ---------------------------------------------------------------------------
// A real etcd

/// An `etcd` child process on free loopback ports, killed on drop.
pub struct Etcd {
    child: Child,
    pub url: String,
    _dir: Dir,
    stopped: bool,
    /// With client TLS: the CA's PEM file (the test's own CA).
    pub ca: Option<std::path::PathBuf>,
    /// With auth enabled: the root user's password.
    root_password: Option<String>,
}

/// Is `tool` installed? Under CI=true a missing one fails the test;
/// elsewhere the test says so loudly and does not run.
fn installed(tool: &str, args: &[&str], package: &str) -> bool {
    let found = Command::new(tool)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is not installed: CI must install it (apt-get install {package}), see .ci/run"
        );
        eprintln!(
            "\n!!!!! SKIPPED: {tool} is not installed (apt-get install {package}); this high-availability test did NOT run !!!!!\n"
        );
    }
    found
}

/// Run `openssl` with `args` in `dir`; panics with its output on failure.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl: {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it, in `dir`:
/// `ca.pem`, `server.pem`, `server.key`.
fn make_certs(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        dir,
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=snapkeeper test ca",
            ],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

impl Etcd {
    /// Start etcd, or `None` (said loudly) when it is not installed outside
    /// CI; under CI=true a missing etcd fails the test.
    pub fn start() -> Option<Self> {
        Self::start_with(false)
    }

    /// With `tls`, clients must speak TLS to a server certificate of the
    /// test's own CA ([`Etcd::ca`]); needs `openssl`.
    pub fn start_with(tls: bool) -> Option<Self> {
        if !installed("etcd", &["--version"], "etcd-server") {
            return None;
        }
        if tls
            && !(installed("openssl", &["version"], "openssl")
                && installed("etcdctl", &["version"], "etcd-client"))
        {
            return None;
        }
        let dir = Dir::new();
        let (client, peer) = (free_port(), free_port());
        let scheme = if tls { "https" } else { "http" };
        let url = format!("{scheme}://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let mut cmd = Command::new("etcd");
        if tls {
            make_certs(dir.path());
            cmd.arg("--cert-file")
                .arg(dir.path().join("server.pem"))
                .arg("--key-file")
                .arg(dir.path().join("server.key"));
        }
        let child = cmd
            .args(["--name", "t"])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen-client-urls", &url])
            .args(["--advertise-client-urls", &url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("t={peer_url}")])
            .args(["--logger", "zap", "--log-level", "error"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start etcd: {e}"));
        let ca = tls.then(|| dir.path().join("ca.pem"));
        let etcd = Self {
            child,
            url,
            _dir: dir,
            stopped: false,
            ca,
            root_password: None,
        };
        wait_for(Duration::from_secs(30), "etcd to answer", || {
            etcd.try_keys("/").ok()
        });
        Some(etcd)
    }

    /// `etcdctl` against this etcd (with its CA, as root once auth is on).
    fn etcdctl(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new("etcdctl");
        cmd.arg(format!("--endpoints={}", self.url))
            .arg("--command-timeout=3s")
            .env("ETCDCTL_API", "3");
        if let Some(ca) = &self.ca {
            cmd.arg(format!("--cacert={}", ca.display()));
        }
        if let Some(pw) = &self.root_password {
            cmd.arg(format!("--user=root:{pw}"));
        }
        let out = cmd
            .args(args)
            .output()
            .map_err(|e| format!("cannot run etcdctl: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "etcdctl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Turn etcd's auth on: a root user, and a user `user` that may read
    /// and write `/snapkeeper/` only.
    pub fn enable_auth(&mut self, user: &str, password: &str) {
        let root = "root-pw-not-for-snapkeeper";
        let root_pw = format!("--new-user-password={root}");
        let user_pw = format!("--new-user-password={password}");
        let steps: [&[&str]; 7] = [
            &["user", "add", "root", &root_pw],
            &["user", "grant-role", "root", "root"],
            &["role", "add", "snapkeeper"],
            &[
                "role",
                "grant-permission",
                "snapkeeper",
                "--prefix=true",
                "readwrite",
                "/snapkeeper/",
            ],
            &["user", "add", user, &user_pw],
            &["user", "grant-role", user, "snapkeeper"],
            &["auth", "enable"],
        ];
        for args in steps {
            self.etcdctl(args).unwrap_or_else(|e| panic!("{e}"));
        }
        self.root_password = Some(root.to_string());
    }

    fn try_keys(&self, prefix: &str) -> Result<BTreeMap<String, String>, String> {
        if self.ca.is_some() || self.root_password.is_some() {
            let out = self.etcdctl(&["get", "--prefix", prefix])?;
            let lines: Vec<&str> = out.lines().collect();
            return Ok(lines
                .chunks(2)
                .filter(|kv| kv.len() == 2)
                .map(|kv| (kv[0].to_string(), kv[1].to_string()))
                .collect());
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let work = async {
                let mut c = etcd_client::Client::connect([self.url.as_str()], None).await?;
                let r = c
                    .get(prefix, Some(etcd_client::GetOptions::new().with_prefix()))
                    .await?;
                let mut out = BTreeMap::new();
                for kv in r.kvs() {
                    out.insert(
                        kv.key_str().unwrap_or("?").to_string(),
                        kv.value_str().unwrap_or("?").to_string(),
                    );
                }
                Ok::<_, etcd_client::Error>(out)
            };
            match tokio::time::timeout(Duration::from_secs(3), work).await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err("etcd did not answer".into()),
            }
        })
    }

    /// Every key under `prefix` with its value.
    pub fn keys(&self, prefix: &str) -> BTreeMap<String, String> {
        self.try_keys(prefix)
            .unwrap_or_else(|e| panic!("etcd get {prefix}: {e}"))
    }

    /// account -> holding replica, from `/snapkeeper/owners/`.
    pub fn owners(&self) -> BTreeMap<String, String> {
        self.keys("/snapkeeper/owners/")
            .into_iter()
            .map(|(k, v)| (k.trim_start_matches("/snapkeeper/owners/").to_string(), v))
            .collect()
    }

    /// Live replica ids, from `/snapkeeper/members/`.
    pub fn members(&self) -> BTreeSet<String> {
        self.keys("/snapkeeper/members/")
            .into_keys()
            .map(|k| k.trim_start_matches("/snapkeeper/members/").to_string())
            .collect()
    }

    fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args(["-s", sig, &self.child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("kill -s {sig}: {e}"));
        assert!(st.success());
    }

    /// Freeze etcd (SIGSTOP): connections stay open and nothing answers,
    /// the nastier way to lose it.
    pub fn freeze(&mut self) {
        self.signal("STOP");
        self.stopped = true;
    }

    pub fn thaw(&mut self) {
        self.signal("CONT");
        self.stopped = false;
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        if self.stopped {
            self.signal("CONT");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// Replicas

/// A seed with `n` accounts per provider, one resource each; `snap_seconds`
/// is how long a snapshot takes (real seconds).
fn seed(n: usize, snap_seconds: f64) -> String {
    let mut s = format!(
        "settings: {{ time_scale: 1.0, base_seconds: {snap_seconds}, seconds_per_gb: 0 }}\n"
    );
    s.push_str("digitalocean:\n  accounts:\n");
    for i in 0..n {
        s.push_str(&format!(
            "    - name: team{i}\n      tokens: [{{ token: dop_v1_{:064x} }}]\n      droplets:\n        - {{ id: {}, name: web-{i}, tags: [backup] }}\n",
            0xd0_0000 + i,
            301 + i
        ));
    }
    s.push_str("vultr:\n  accounts:\n");
    for i in 0..n {
        s.push_str(&format!(
            "    - name: main{i}\n      api_keys: [{{ key: ZZGEOZDMENCKHVMDGAKJIG8XNBE3NNYJOQ{i:02} }}]\n      instances:\n        - {{ id: 3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e{i:02}, label: app-{i}, tags: [backup] }}\n"
        ));
    }
    s.push_str("hetzner:\n  projects:\n");
    for i in 0..n {
        s.push_str(&format!(
            "    - name: proj{i}\n      tokens: [{{ token: MxEhh2FDEEtfjgVvVqE1SkHbn88HxjSI6bWHtP3fS2qHx6kwXoIIXGvOoNZYW2{i:02} }}]\n      servers:\n        - {{ id: {}, name: srv-{i}, labels: {{ backup: \"true\" }} }}\n",
            42_000_101 + i
        ));
    }
    s
}

/// The accounts of [`seed`] as config snippets: `do-i`, `vu-i`, `hz-i`.
fn accounts(w: &World, n: usize, every: &str, keep: &str) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(w.account(
            &format!("do-{i}"),
            "digitalocean",
            &format!("team{i}"),
            &[policy("drops", "droplet", "tags: [backup]", every, keep)],
        ));
        out.push(w.account(
            &format!("vu-{i}"),
            "vultr",
            &format!("main{i}"),
            &[policy("inst", "instance", "tags: [backup]", every, keep)],
        ));
        out.push(w.account(
            &format!("hz-{i}"),
            "hetzner",
            &format!("proj{i}"),
            &[policy(
                "srv",
                "server",
                r#"labels: { backup: "true" }"#,
                every,
                keep,
            )],
        ));
    }
    out
}

fn names(n: usize) -> Vec<String> {
    (0..n)
        .flat_map(|i| [format!("do-{i}"), format!("vu-{i}"), format!("hz-{i}")])
        .collect()
}

fn ha_section(etcd: &Etcd) -> String {
    format!(
        "ha:\n  etcd:\n    endpoints: [{}]\n    lease_ttl: {}s\n    settle: {SETTLE}\n",
        etcd.url,
        TTL.as_secs()
    )
}

/// Write `<tmp>/etc/<name>.yaml`: the accounts, `ha:` with `replica_id`.
fn write_replica_config(
    w: &World,
    etcd: &Etcd,
    id: &str,
    accounts: &[String],
) -> std::path::PathBuf {
    let text = format!(
        "{}{}  replica_id: {id}\n",
        config(accounts),
        ha_section(etcd)
    );
    let path = w.dir.path().join(format!("etc/{id}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn start_replica(config: &Path) -> Daemon {
    Daemon::start(config)
}

/// Wait until every account's owner key is held by its rendezvous owner
/// among `live`, and the members in etcd are exactly `live`.
fn wait_balanced(
    etcd: &Etcd,
    accounts: &[String],
    live: &[&str],
    what: &str,
) -> BTreeMap<String, String> {
    wait_for(Duration::from_secs(60), what, || {
        if etcd.members() != live.iter().map(|s| (*s).to_string()).collect() {
            return None;
        }
        let owners = etcd.owners();
        let ok = accounts.iter().all(|a| {
            owners.get(a).map(String::as_str)
                == snapkeeper::ha::rendezvous::owner(a, live.iter().copied())
        });
        (ok && owners.len() == accounts.len()).then_some(owners)
    })
}

/// An ownership period: (from, until).
type Period = (DateTime<Utc>, DateTime<Utc>);

/// A write (create or delete) a replica logged.
#[derive(Debug, Clone)]
struct Write {
    at: DateTime<Utc>,
    account: String,
    what: String,
}

fn ts(l: &Line) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(l.timestamp())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("bad timestamp {:?}: {e}", l.timestamp()))
}

fn writes(d: &Daemon) -> Vec<Write> {
    d.lines()
        .iter()
        .filter(|l| l.is("creating snapshot") || l.is("deleting snapshot"))
        .map(|l| Write {
            at: ts(l),
            account: l.account().unwrap_or_default(),
            what: l.message().to_string(),
        })
        .collect()
}

/// Ownership periods of one replica: account -> [(from, until)], from its
/// "ownership acquired" to its "ownership released" or "ownership lost"
/// (a loop told to stop may finish the write it is in until then); a period
/// still open when the replica stopped or was killed ends at its last line.
fn periods(d: &Daemon) -> BTreeMap<String, Vec<Period>> {
    periods_until(d, None)
}

/// [`periods`], with a period still open ending at `end` when given (a
/// replica killed at `end` said nothing more, but its last request may
/// have arrived after its last line).
fn periods_until(d: &Daemon, end: Option<DateTime<Utc>>) -> BTreeMap<String, Vec<Period>> {
    let lines = d.lines();
    let Some(last) = lines.iter().rev().find(|l| l.json.is_some()).map(ts) else {
        return BTreeMap::new();
    };
    let last = end.unwrap_or(last).max(last);
    let mut open: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    let mut out: BTreeMap<String, Vec<Period>> = BTreeMap::new();
    for l in &lines {
        let Some(account) = l.account() else { continue };
        let m = l.message();
        if m.starts_with("ownership acquired") {
            assert!(
                !open.contains_key(&account),
                "acquired {account} twice without losing it\n{}",
                d.tail(60)
            );
            open.insert(account, ts(l));
        } else if (m.starts_with("ownership released") || m.starts_with("ownership lost"))
            && let Some(from) = open.remove(&account)
        {
            out.entry(account).or_default().push((from, ts(l)));
        }
    }
    for (account, from) in open {
        out.entry(account).or_default().push((from, last));
    }
    out
}

/// The heart of it: no two replicas ever wrote to one account at once, and
/// each write lay inside its replica's ownership period.
fn assert_one_writer(replicas: &[(&str, &Daemon)]) {
    type Owned = (String, DateTime<Utc>, DateTime<Utc>);
    let mut all_periods: BTreeMap<String, Vec<Owned>> = BTreeMap::new();
    for (id, d) in replicas {
        let ps = periods(d);
        for w in writes(d) {
            let inside = ps
                .get(&w.account)
                .is_some_and(|v| v.iter().any(|(a, b)| *a <= w.at && w.at <= *b));
            assert!(
                inside,
                "replica {id} wrote ({}) to {} at {} outside its ownership\n{}",
                w.what,
                w.account,
                w.at,
                d.tail(80)
            );
        }
        for (account, v) in ps {
            for (a, b) in v {
                all_periods
                    .entry(account.clone())
                    .or_default()
                    .push((id.to_string(), a, b));
            }
        }
    }
    for (account, mut v) in all_periods {
        v.sort_by_key(|p| p.1);
        for pair in v.windows(2) {
            let (r1, _, end1) = &pair[0];
            let (r2, start2, _) = &pair[1];
            assert!(
                end1 <= start2,
                "{account}: {r1} owned it until {end1}, {r2} from {start2}: overlap"
            );
        }
    }
}

/// A replica that kept its lease the whole time: never fenced, never lost.
fn assert_lease_kept(id: &str, d: &Daemon) {
    let bad = d.count(|l| {
        l.message().starts_with("etcd unreachable") || l.message().starts_with("etcd lease lost")
    });
    assert_eq!(bad, 0, "{id} lost touch with etcd\n{}", d.tail(40));
}

/// Wait (up to `secs`) until `n` managed snapshots are done: the first
/// snapshot of every account, nothing running any more.
fn wait_first_snapshots(w: &World, n: usize, secs: u64) {
    wait_for(
        Duration::from_secs(secs),
        "the first snapshots to finish",
        || {
            let done = crate::daemon::sim_snapshots(&w.sim)
                .iter()
                .filter(|s| s.managed() && s.done)
                .count();
            (done == n).then_some(())
        },
    );
}

/// The simulator saw exactly the creates the replicas logged (none
/// bypassed a replica's log, so none bypassed its fence).
fn assert_sim_log_matches(w: &World, replicas: &[(&str, &Daemon)]) {
    let logged: usize = replicas
        .iter()
        .map(|(_, d)| {
            writes(d)
                .iter()
                .filter(|w| w.what == "creating snapshot")
                .count()
        })
        .sum();
    let seen = requests(&w.sim).iter().filter(|r| is_create(r)).count();
    assert_eq!(
        seen, logged,
        "creates in the simulator vs creates the replicas logged"
    );
}

/// The replica a request's user agent names: `snapkeeper/V (replica ID)`.
fn replica_of(user_agent: &str) -> Option<&str> {
    let want = format!("snapkeeper/{} (replica ", env!("CARGO_PKG_VERSION"));
    user_agent.strip_prefix(want.as_str())?.strip_suffix(')')
}

/// The account of [`seed`]'s resources a create is for (`n` per provider).
fn account_of_create(r: &crate::daemon::Req, n: usize) -> Option<String> {
    (0..n).find_map(|i| {
        let hit = [
            (format!("/{}/", 301 + i), format!("do-{i}")),
            (
                format!("3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e{i:02}"),
                format!("vu-{i}"),
            ),
            (format!("/{}/", 42_000_101 + i), format!("hz-{i}")),
        ];
        hit.into_iter()
            .find(|(id, _)| r.path.contains(id.as_str()) || r.body.contains(id.as_str()))
            .map(|(_, account)| account)
    })
}

/// Issue 15: the simulator's own request log proves one writer per
/// ownership period. Each create and delete it received names a replica in
/// its user agent; that replica held the account's ownership (from the
/// replicas' logs) when the request arrived, and no other replica did. A
/// delete's account comes from the snapshot id the replicas logged.
fn assert_sim_writes_by_owner(
    w: &World,
    replicas: &[(&str, &Daemon)],
    n: usize,
    killed: Option<(&str, DateTime<Utc>)>,
) {
    let mut owned: BTreeMap<String, Vec<(String, Period)>> = BTreeMap::new();
    let mut snapshot_account: BTreeMap<String, String> = BTreeMap::new();
    for (id, d) in replicas {
        let end = killed.filter(|(k, _)| k == id).map(|(_, t)| t);
        for (account, ps) in periods_until(d, end) {
            for p in ps {
                owned
                    .entry(account.clone())
                    .or_default()
                    .push((id.to_string(), p));
            }
        }
        for l in d.lines().iter().filter(|l| l.is("deleting snapshot")) {
            if let (Some(s), Some(a)) = (l.get("snapshot"), l.account()) {
                snapshot_account.insert(s, a);
            }
        }
    }
    let mut checked = 0;
    for r in requests(&w.sim) {
        let account = if is_create(&r) {
            account_of_create(&r, n)
        } else if r.method == "DELETE" {
            snapshot_account
                .iter()
                .find(|(s, _)| r.path.ends_with(&format!("/{s}")))
                .map(|(_, a)| a.clone())
        } else {
            continue;
        };
        let account = account.unwrap_or_else(|| panic!("a write of no known account: {r:?}"));
        let by = replica_of(&r.user_agent)
            .unwrap_or_else(|| panic!("a write without a replica's user agent: {r:?}"));
        let at = r.at.unwrap_or_else(|| panic!("no arrival time: {r:?}"));
        let holders: Vec<&str> = owned
            .get(&account)
            .map(|v| {
                v.iter()
                    .filter(|(_, (from, until))| *from <= at && at <= *until)
                    .map(|(id, _)| id.as_str())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            holders,
            [by],
            "{} {} for {account} at {at} came from {by}, owners then: {holders:?}",
            r.method,
            r.path
        );
        checked += 1;
    }
    assert!(checked > 0, "no write in the simulator's log");
    eprintln!("{checked} writes in the simulator's log, each from the account's one owner");
}

// ---------------------------------------------------------------------------
// Tests

#[test]
fn two_then_three_replicas_one_owner_per_account_and_one_writer() {
    let Some(etcd) = Etcd::start() else { return };
    let w = World::new(&seed(3, 0.3));
    let names = names(3);
    // Every 3 s, keep 2: creates and deletes all the time.
    let accts = accounts(&w, 3, "3s", "last: 2");
    let ca = write_replica_config(&w, &etcd, "ra", &accts);
    let cb = write_replica_config(&w, &etcd, "rb", &accts);
    let cc = write_replica_config(&w, &etcd, "rc", &accts);

    let mut a = start_replica(&ca);
    let owners = wait_balanced(&etcd, &names, &["ra"], "ra to own every account");
    assert!(owners.values().all(|o| o == "ra"));
    a.wait("ra to write", |l| l.is("creating snapshot"));

    let mut b = start_replica(&cb);
    let owners = wait_balanced(
        &etcd,
        &names,
        &["ra", "rb"],
        "the accounts to spread over ra and rb",
    );
    let held: BTreeSet<&String> = owners.values().collect();
    assert_eq!(held.len(), 2, "both replicas own accounts: {owners:?}");
    // Let both work a few cycles.
    std::thread::sleep(Duration::from_secs(6));

    let mut c = start_replica(&cc);
    let owners = wait_balanced(
        &etcd,
        &names,
        &["ra", "rb", "rc"],
        "the accounts to spread over three replicas",
    );
    let held: BTreeSet<&String> = owners.values().collect();
    assert_eq!(held.len(), 3, "all three replicas own accounts: {owners:?}");
    std::thread::sleep(Duration::from_secs(6));
    // Each replica says what it owns in the log with its replica id.
    for (id, d) in [("ra", &a), ("rb", &b), ("rc", &c)] {
        assert!(
            d.count(|l| l.is("ownership acquired: starting the account's loop")
                && l.get("replica").as_deref() == Some(id))
                > 0,
            "{id} logged no acquisition"
        );
    }

    // A graceful stop revokes the lease: rc's accounts move at once.
    c.stop();
    wait_balanced(&etcd, &names, &["ra", "rb"], "rc's accounts to move back");
    std::thread::sleep(Duration::from_secs(3));
    a.stop();
    b.stop();
    assert!(
        c.count(|l| l.is("left the replicas: lease revoked, the accounts move at once")) == 1,
        "{}",
        c.tail(20)
    );
    let replicas = [("ra", &a), ("rb", &b), ("rc", &c)];
    for (id, d) in replicas {
        assert_lease_kept(id, d);
    }
    assert_one_writer(&replicas);
    assert_sim_log_matches(&w, &replicas);
    assert_sim_writes_by_owner(&w, &replicas, 3, None);
    // Every account was snapshotted and pruned by someone.
    for (id, d) in replicas {
        assert!(
            d.count(|l| l.is("deleting snapshot")) > 0,
            "{id} deleted nothing"
        );
    }
    for (_, d) in replicas {
        d.assert_no_tokens(&w.tokens());
    }
}

#[test]
fn killed_owner_mid_snapshot_is_replaced_within_the_ttl_without_a_duplicate() {
    let Some(etcd) = Etcd::start() else { return };
    // Snapshots take 10 s; one an hour, so each account gets one.
    let w = World::new(&seed(2, 10.0));
    let all = accounts(&w, 2, "1h", "last: 3");
    let names = names(2);
    // The replicas start with every account but hz-1; it is added once the
    // accounts are balanced, so that its first snapshot starts while its
    // owner is known.
    let (first, late): (Vec<String>, Vec<String>) = all
        .iter()
        .cloned()
        .partition(|a| !a.contains("name: hz-1\n"));
    let ids = ["ra", "rb", "rc"];
    let mut ds: BTreeMap<&str, Daemon> = BTreeMap::new();
    for id in ids {
        let path = write_replica_config(&w, &etcd, id, &first);
        ds.insert(id, start_replica(&path));
    }
    let first_names: Vec<String> = names.iter().filter(|n| *n != "hz-1").cloned().collect();
    wait_balanced(
        &etcd,
        &first_names,
        &ids,
        "the accounts to spread over three replicas",
    );
    // Wait until every first snapshot is done (nothing runs any more).
    wait_first_snapshots(&w, first_names.len(), 90);
    // Add hz-1 everywhere; its owner starts a 10 s snapshot.
    let owner = snapkeeper::ha::rendezvous::owner("hz-1", ids.iter().copied())
        .unwrap()
        .to_string();
    let marks: BTreeMap<&str, usize> = ds.iter().map(|(id, d)| (*id, d.mark())).collect();
    for id in ids {
        write_replica_config(&w, &etcd, id, &[first.clone(), late.clone()].concat());
    }
    let d = ds.get_mut(owner.as_str()).unwrap();
    d.wait_after(
        marks[owner.as_str()],
        "the owner to start hz-1's snapshot",
        |l| l.is_about("creating snapshot", "hz-1"),
    );
    std::thread::sleep(Duration::from_millis(500));
    // kill -9 in the middle of the snapshot.
    d.signal("KILL");
    let killed = Instant::now();
    let killed_at = Utc::now();
    d.wait_exit();
    let rest: Vec<&str> = ids.iter().copied().filter(|i| *i != owner).collect();
    let heir = snapkeeper::ha::rendezvous::owner("hz-1", rest.iter().copied())
        .unwrap()
        .to_string();
    let h = ds.get_mut(heir.as_str()).unwrap();
    h.wait_after(marks[heir.as_str()], "the heir to take hz-1 over", |l| {
        l.is_about("ownership acquired: starting the account's loop", "hz-1")
    });
    let took = killed.elapsed();
    let left = h.wait_after(
        marks[heir.as_str()],
        "the heir to see the owner leave",
        |l| {
            l.is("replica membership changed")
                && l.field("left")
                    .is_some_and(|v| v.to_string().contains(owner.as_str()))
        },
    );
    eprintln!(
        "the heir saw {owner} leave {} ms after the kill",
        (ts(&left) - killed_at).num_milliseconds()
    );
    eprintln!(
        "failover of hz-1 took {} ms (lease ttl {} s)",
        took.as_millis(),
        TTL.as_secs()
    );
    assert!(
        took <= TTL + MARGIN,
        "takeover took {took:?}, more than the ttl {TTL:?} + {MARGIN:?}"
    );
    // The heir sees the snapshot in progress and never starts another.
    wait_for(
        Duration::from_secs(60),
        "hz-1's one snapshot to complete",
        || {
            let snaps: Vec<_> = crate::daemon::sim_snapshots(&w.sim)
                .into_iter()
                .filter(|s| s.managed_by("hz-1", "srv", "42000102"))
                .collect();
            assert!(snaps.len() <= 1, "a duplicate snapshot: {snaps:?}");
            (snaps.len() == 1 && snaps[0].done).then_some(())
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    let creates_hz1 = requests(&w.sim)
        .iter()
        .filter(|r| is_create(r) && r.path.contains("42000102"))
        .count();
    assert_eq!(creates_hz1, 1, "exactly one create for hz-1");
    let all_names: Vec<String> = names.clone();
    wait_balanced(
        &etcd,
        &all_names,
        &rest,
        "the dead owner's accounts to move",
    );
    for id in &rest {
        ds.get_mut(id).unwrap().stop();
    }
    let replicas: Vec<(&str, &Daemon)> = ds.iter().map(|(id, d)| (*id, d)).collect();
    for (id, d) in &replicas {
        assert_lease_kept(id, d);
    }
    assert_one_writer(&replicas);
    assert_sim_log_matches(&w, &replicas);
    assert_sim_writes_by_owner(&w, &replicas, 2, Some((owner.as_str(), killed_at)));
}

#[test]
fn frozen_etcd_stops_writes_within_half_the_ttl() {
    let Some(mut etcd) = Etcd::start() else {
        return;
    };
    let w = World::new(&seed(1, 0.2));
    // A write every second or so on each account.
    let accts = accounts(&w, 1, "1s", "last: 1");
    let ca = write_replica_config(&w, &etcd, "ra", &accts);
    let cb = write_replica_config(&w, &etcd, "rb", &accts);
    let mut a = start_replica(&ca);
    let mut b = start_replica(&cb);
    wait_balanced(
        &etcd,
        &names(1),
        &["ra", "rb"],
        "the accounts to spread over ra and rb",
    );
    a.wait("ra to delete", |l| l.is("deleting snapshot"));
    b.wait("rb to delete", |l| l.is("deleting snapshot"));

    etcd.freeze();
    let frozen = Utc::now();
    let (ma, mb) = (a.mark(), b.mark());
    for d in [&mut a, &mut b] {
        d.wait_after(0, "etcd unreachable", |l| {
            l.is("etcd unreachable: no writes from this replica; stopping every account loop")
        });
    }
    let fenced = Utc::now();
    // Writes stopped at ttl/2 after the last renewal at the latest (the
    // last renewal was before the freeze).
    let limit =
        frozen + chrono::Duration::from_std(TTL / 2).unwrap() + chrono::Duration::milliseconds(300);
    assert!(
        fenced <= limit + chrono::Duration::seconds(1),
        "the fence came late: {fenced} > {limit}"
    );
    let sim_writes = |w: &World| {
        requests(&w.sim)
            .iter()
            .filter(|r| is_create(r) || r.method == "DELETE")
            .count()
    };
    let before = sim_writes(&w);
    // Stay frozen past the whole TTL: nothing is written, by anyone.
    std::thread::sleep(TTL + Duration::from_secs(2));
    assert_eq!(
        sim_writes(&w),
        before,
        "a write reached the provider while etcd was frozen"
    );
    for (id, d, m) in [("ra", &a, ma), ("rb", &b, mb)] {
        let late: Vec<String> = d.lines()[m..]
            .iter()
            .filter(|l| (l.is("creating snapshot") || l.is("deleting snapshot")) && ts(l) > limit)
            .map(|l| l.raw.clone())
            .collect();
        assert!(late.is_empty(), "{id} wrote after ttl/2: {late:?}");
    }

    // Back: the replicas join again and work resumes.
    etcd.thaw();
    let (ma, mb) = (a.mark(), b.mark());
    a.wait_after(ma, "ra to write again", |l| {
        l.is("creating snapshot") || l.is("deleting snapshot")
    });
    b.wait_after(mb, "rb to write again", |l| {
        l.is("creating snapshot") || l.is("deleting snapshot")
    });
    wait_balanced(&etcd, &names(1), &["ra", "rb"], "balanced again");
    a.stop();
    b.stop();
    let replicas = [("ra", &a), ("rb", &b)];
    assert_one_writer(&replicas);
    assert_sim_log_matches(&w, &replicas);
    assert_sim_writes_by_owner(&w, &replicas, 1, None);
}

// ---------------------------------------------------------------------------
// Operator view, reload, TLS and auth (issue 15, the rest)

/// `<tmp>/etc/<id>.yaml` with `top` before the accounts and `ha` (the
/// whole `ha:` section) after them.
fn write_config_with(
    w: &World,
    id: &str,
    top: &str,
    accounts: &[String],
    ha: &str,
) -> std::path::PathBuf {
    let path = w.dir.path().join(format!("etc/{id}.yaml"));
    std::fs::write(&path, format!("{top}{}{ha}", config(accounts))).unwrap();
    path
}

/// `snapkeeper status` (and `--json`) against `config` with `env`.
fn status(config: &Path, json: bool, env: &[(&str, &str)]) -> crate::harness::Ran {
    let mut cmd = crate::harness::snapkeeper();
    cmd.arg("status").arg("--config").arg(config);
    if json {
        cmd.arg("--json");
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    crate::harness::run(&mut cmd)
}

/// account -> OWNER cell of `status`'s table.
fn owner_cells(out: &str) -> BTreeMap<String, String> {
    let mut lines = out.lines();
    let header = lines.nth(1).unwrap_or_default();
    assert!(
        header.starts_with("ACCOUNT") && header.contains(" OWNER "),
        "{out}"
    );
    lines
        .filter_map(|l| {
            let mut cells = l.split_whitespace();
            Some((cells.next()?.to_string(), cells.next()?.to_string()))
        })
        .collect()
}

/// The value of the series `name{labels}` on a metrics page.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

fn scrape(url: &str) -> String {
    crate::monitoring::get_accepting(url, "text/plain").2
}

#[test]
fn status_and_metrics_show_which_replica_owns_which_account() {
    let Some(mut etcd) = Etcd::start() else {
        return;
    };
    let w = World::new(&seed(2, 0.2));
    let names = names(2);
    let accts = accounts(&w, 2, "1h", "last: 3");
    let metrics = "metrics: { listen: \"127.0.0.1:0\" }\n";
    let ha = |id: &str| format!("{}  replica_id: {id}\n", ha_section(&etcd));
    let ca = write_config_with(&w, "ra", metrics, &accts, &ha("ra"));
    let cb = write_config_with(&w, "rb", metrics, &accts, &ha("rb"));
    let mut a = start_replica(&ca);
    let mut b = start_replica(&cb);
    let (url_a, url_b) = (
        crate::monitoring::metrics_url(&mut a),
        crate::monitoring::metrics_url(&mut b),
    );
    let owners = wait_balanced(
        &etcd,
        &names,
        &["ra", "rb"],
        "the accounts to spread over ra and rb",
    );
    wait_first_snapshots(&w, names.len(), 60);

    // The table: an OWNER column after ACCOUNT, what etcd says.
    let table = status(&ca, false, &[]);
    eprintln!("$ snapkeeper status\n{}", table.stdout);
    assert_eq!(table.code, 0, "{}{}", table.stdout, table.stderr);
    assert_eq!(owner_cells(&table.stdout), owners, "{}", table.stdout);
    // --json: accounts[].owner.replica.
    let json = status(&cb, true, &[]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let from_json: BTreeMap<String, String> = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["account"].as_str().unwrap().to_string(),
                a["owner"]["replica"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    assert_eq!(from_json, owners, "{}", json.stdout);

    // The metrics of each replica: its id, etcd reachable, 1 for exactly
    // the accounts it owns.
    for (id, url) in [("ra", &url_a), ("rb", &url_b)] {
        let page = wait_for(Duration::from_secs(20), "the ownership metrics", || {
            let page = scrape(url);
            names
                .iter()
                .all(|n| {
                    let want = f64::from(u8::from(owners[n] == id));
                    sample(&page, &format!("snapkeeper_ha_owned{{account=\"{n}\"}}")) == Some(want)
                })
                .then_some(page)
        });
        for series in [
            format!("snapkeeper_ha_replica_info{{replica=\"{id}\"}}"),
            format!("snapkeeper_ha_etcd_reachable{{replica=\"{id}\"}}"),
        ] {
            assert_eq!(sample(&page, &series), Some(1.0), "{series}\n{page}");
        }
        assert_eq!(
            sample(&page, &format!("snapkeeper_ha_members{{replica=\"{id}\"}}")),
            Some(2.0),
            "{page}"
        );
        // Every ha metric the shipped alert rules use is served.
        let rules = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/prometheus/snapkeeper.rules.yml"),
        )
        .unwrap();
        for word in rules.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("snapkeeper_ha_") {
                assert!(
                    page.contains(&format!("\n{word}{{")),
                    "the rules use {word}, not served:\n{page}"
                );
            }
        }
    }

    // etcd frozen: status still judges freshness (same exit code) and says
    // for each account that its owner is unknown; the metrics say etcd is
    // out of reach and nothing is owned.
    etcd.freeze();
    let frozen = status(&ca, false, &[]);
    eprintln!("$ snapkeeper status (etcd frozen)\n{}", frozen.stdout);
    assert_eq!(
        frozen.code, table.code,
        "{}{}",
        frozen.stdout, frozen.stderr
    );
    let cells = owner_cells(&frozen.stdout);
    assert!(
        names
            .iter()
            .all(|n| cells.get(n).map(String::as_str) == Some("unknown")),
        "{}",
        frozen.stdout
    );
    assert!(
        frozen.stdout.contains("owner unknown: cannot read the owner keys /snapkeeper/owners/ from etcd at http://127.0.0.1:"),
        "{}",
        frozen.stdout
    );
    let frozen_json = status(&ca, true, &[]);
    let v: serde_json::Value = serde_json::from_str(&frozen_json.stdout).unwrap();
    for acc in v["accounts"].as_array().unwrap() {
        assert!(acc["owner"]["replica"].is_null(), "{acc}");
        assert!(
            acc["owner"]["error"]
                .as_str()
                .unwrap()
                .contains("owner unknown"),
            "{acc}"
        );
    }
    let page = wait_for(
        Duration::from_secs(20),
        "etcd unreachable in the metrics",
        || {
            let page = scrape(&url_a);
            (sample(&page, "snapkeeper_ha_etcd_reachable{replica=\"ra\"}") == Some(0.0))
                .then_some(page)
        },
    );
    for n in &names {
        assert_eq!(
            sample(&page, &format!("snapkeeper_ha_owned{{account=\"{n}\"}}")),
            Some(0.0),
            "{page}"
        );
    }
    etcd.thaw();
    a.stop();
    b.stop();
}

#[test]
fn a_changed_ha_section_on_reload_keeps_the_running_settings_and_says_restart() {
    let Some(etcd) = Etcd::start() else { return };
    let w = World::new(&seed(1, 0.2));
    let names = names(1);
    let accts = accounts(&w, 1, "2s", "last: 2");
    let running = format!("{}  replica_id: ra\n", ha_section(&etcd));
    let path = write_config_with(&w, "ra", "", &accts, &running);
    let sock_path = w.dir.path().join("notify.sock");
    let n = crate::daemon::NotifySocket::bind(&sock_path);
    let mut d = Daemon::start_with(
        &path,
        "json",
        &[("NOTIFY_SOCKET", sock_path.to_str().unwrap())],
        &[],
    );
    let before = wait_balanced(&etcd, &names, &["ra"], "ra to own every account");
    d.wait("ra to write", |l| l.is("creating snapshot"));

    // Another endpoint and a longer ttl: kept as they run, a WARN names
    // them, STATUS= says a restart is needed, no account stops.
    let changed = running
        .replace(
            &format!("endpoints: [{}]", etcd.url),
            &format!("endpoints: [{}, http://127.0.0.1:9]", etcd.url),
        )
        .replace("lease_ttl: 4s", "lease_ttl: 6s");
    assert_ne!(changed, running);
    let m = d.mark();
    write_config_with(&w, "ra", "", &accts, &changed);
    d.signal("HUP");
    let warned = d.wait_after(m, "the ha change to be refused for now", |l| {
        l.is("ha settings changed in the file: the running ones stay in force until a restart (systemctl restart snapkeeper); the accounts keep running")
    });
    assert_eq!(warned.level(), "WARN");
    assert_eq!(
        warned.get("changed").as_deref(),
        Some("ha.etcd.endpoints, ha.etcd.lease_ttl")
    );
    let said = n.wait(0, "STATUS= to say restart", |msg| {
        crate::daemon::value(msg, "STATUS").is_some_and(|s| {
            s.starts_with("ha settings changed in the file (ha.etcd.endpoints, ha.etcd.lease_ttl): restart to apply; replica ra: owner of 3 of 3 accounts")
        })
    });
    // Work goes on under the running settings.
    let m2 = d.mark();
    d.wait_after(m2, "ra to write after the reload", |l| {
        l.is("creating snapshot")
    });
    assert_eq!(etcd.owners(), before, "ownership moved on reload");
    assert_eq!(
        d.count_after(m, |l| l.message().starts_with("handing the account over")
            || l.message().starts_with("ownership lost")
            || l.message().starts_with("account removed")),
        0,
        "an account stopped because of the ha change\n{}",
        d.tail(40)
    );

    // The file back as it runs: nothing pending any more.
    write_config_with(&w, "ra", "", &accts, &running);
    d.signal("HUP");
    d.wait_after(m2, "the pending change to clear", |l| {
        l.is("ha: the file holds the running ha settings again: no restart needed")
    });
    n.wait(said + 1, "STATUS= without the restart note", |msg| {
        crate::daemon::value(msg, "STATUS")
            .is_some_and(|s| s.starts_with("replica ra: owner of 3 of 3 accounts"))
    });
    d.stop();
    assert_lease_kept("ra", &d);
}

#[test]
fn tls_and_auth_against_a_real_etcd_and_a_wrong_password_named_not_printed() {
    let Some(mut etcd) = Etcd::start_with(true) else {
        return;
    };
    let password = "s3cret-etcd-pass-7f3a9c";
    let wrong = "wrong-etcd-pass-44b1e0";
    etcd.enable_auth("snapkeeper", password);
    let ca = etcd.ca.clone().unwrap();
    let w = World::new(&seed(1, 0.2));
    let names = names(1);
    let accts = accounts(&w, 1, "1h", "last: 2");
    let ha = |id: &str, password: &str| {
        format!(
            "ha:\n  replica_id: {id}\n  etcd:\n    endpoints: [{}]\n    lease_ttl: {}s\n    settle: {SETTLE}\n    tls: {{ ca: {} }}\n    auth: {{ user: snapkeeper, password: {password} }}\n",
            etcd.url,
            TTL.as_secs(),
            ca.display()
        )
    };
    // The password from the environment, as a token would be.
    let good = write_config_with(&w, "ra", "", &accts, &ha("ra", "{ env: ETCD_PASSWORD }"));
    let env = [("ETCD_PASSWORD", password)];
    let mut a = Daemon::start_with(&good, "json", &env, &[]);
    let owners = wait_balanced(
        &etcd,
        &names,
        &["ra"],
        "ra to own every account over tls with auth",
    );
    assert!(owners.values().all(|o| o == "ra"), "{owners:?}");
    a.wait("ra to write", |l| l.is("creating snapshot"));
    wait_first_snapshots(&w, names.len(), 60);
    // status reads the owners the same way.
    let st = status(&good, false, &env);
    assert_eq!(st.code, 0, "{}{}", st.stdout, st.stderr);
    assert!(
        names
            .iter()
            .all(|n| owner_cells(&st.stdout).get(n).map(String::as_str) == Some("ra")),
        "{}{}",
        st.stdout,
        st.stderr
    );

    // A wrong password (from a file): the replica owns nothing, writes
    // nothing, and says which key to look at; no password is printed.
    let file = w.secret_file("etcd-password", wrong);
    let bad = write_config_with(
        &w,
        "rb",
        "",
        &accts,
        &ha("rb", &format!("{{ file: {} }}", file.display())),
    );
    let mut b = start_replica(&bad);
    let refused = b.wait("rb to be refused", |l| {
        l.message()
            .starts_with("etcd unreachable: this replica owns nothing")
    });
    let error = refused.get("error").unwrap_or_default();
    eprintln!("a wrong password: {error}");
    assert!(
        error
            .contains("etcd refused the user snapkeeper and the password of ha.etcd.auth.password"),
        "{error}"
    );
    let st_bad = status(&bad, false, &[]);
    assert_eq!(st_bad.code, st.code, "{}{}", st_bad.stdout, st_bad.stderr);
    assert!(
        st_bad.stdout.contains("ha.etcd.auth.password"),
        "{}{}",
        st_bad.stdout,
        st_bad.stderr
    );
    // A CA that did not sign etcd's certificate: the handshake fails and
    // the error names the key to look at.
    let other = w.dir.path().join("other-ca");
    std::fs::create_dir_all(&other).unwrap();
    make_certs(&other);
    let wrong_ca = ha("rc", "{ env: ETCD_PASSWORD }").replace(
        &ca.display().to_string(),
        &other.join("ca.pem").display().to_string(),
    );
    let bad_ca = write_config_with(&w, "rc", "", &accts, &wrong_ca);
    let mut c = Daemon::start_with(&bad_ca, "json", &env, &[]);
    let refused = c.wait("rc to fail the tls handshake", |l| {
        l.message()
            .starts_with("etcd unreachable: this replica owns nothing")
    });
    let error = refused.get("error").unwrap_or_default();
    eprintln!("a wrong ca: {error}");
    assert!(error.contains("check ha.etcd.tls.ca"), "{error}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(etcd.members(), BTreeSet::from(["ra".to_string()]));
    assert_eq!(b.count(|l| l.is("creating snapshot")), 0);
    assert_eq!(c.count(|l| l.is("creating snapshot")), 0);
    a.stop();
    b.stop();
    c.stop();
    assert!(!c.output().contains(password), "a password was printed");
    for out in [
        a.output(),
        b.output(),
        st.stdout,
        st.stderr,
        st_bad.stdout,
        st_bad.stderr,
    ] {
        assert!(
            !out.contains(password) && !out.contains(wrong),
            "a password was printed:\n{out}"
        );
    }
    a.assert_no_tokens(&w.tokens());
    b.assert_no_tokens(&w.tokens());
}
