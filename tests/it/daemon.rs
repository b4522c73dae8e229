//! The daemon end to end: the real `snapkeeper run` against a `snapkeeper sim`
//! child process, a temp directory per test. This file holds the shared
//! helpers (a running daemon with its captured log, the simulator's control
//! API, its state as one list of snapshots) and the lifecycle and token tests;
//! `daemon_reload.rs` and `daemon_signals.rs` hold the rest.
//!
//! No timing assertions: every wait is for an observable state (a log line, the
//! simulator's state or request log), with a generous hang guard.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{
    DO_TEAM, Dir, HETZNER_PROJ, SimProcess, VULTR_MAIN, digitalocean, hetzner, seed, snapkeeper,
    vultr,
};

/// Hang guard for any one wait. Never a timing assertion: only there so a
/// broken daemon fails the test instead of hanging it.
pub const HANG: Duration = Duration::from_secs(150);

/// Tuning flags that make the daemon react in about a second.
pub const FAST: &[&str] = &[
    "--poll-interval",
    "200ms",
    "--poll-max",
    "1s",
    "--busy-delay",
    "300ms",
    "--retry-delay",
    "1s",
    "--http-retry-delay",
    "50ms",
];

// ---------------------------------------------------------------------------
// Log lines

/// One line the daemon wrote (JSON when `--log-format json`).
#[derive(Debug, Clone)]
pub struct Line {
    pub raw: String,
    pub json: Option<Value>,
}

impl Line {
    fn parse(raw: String) -> Self {
        let json = serde_json::from_str::<Value>(&raw)
            .ok()
            .filter(Value::is_object);
        Self { raw, json }
    }

    pub fn message(&self) -> &str {
        self.json
            .as_ref()
            .and_then(|j| j["fields"]["message"].as_str())
            .unwrap_or("")
    }

    /// The line's RFC 3339 timestamp, as written.
    pub fn timestamp(&self) -> &str {
        self.json
            .as_ref()
            .and_then(|j| j["timestamp"].as_str())
            .unwrap_or("")
    }

    pub fn level(&self) -> &str {
        self.json
            .as_ref()
            .and_then(|j| j["level"].as_str())
            .unwrap_or("")
    }

    /// An event field.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.json.as_ref().and_then(|j| j["fields"].get(name))
    }

    pub fn field_str(&self, name: &str) -> Option<&str> {
        self.field(name).and_then(Value::as_str)
    }

    pub fn field_u64(&self, name: &str) -> Option<u64> {
        self.field(name).and_then(Value::as_u64)
    }

    /// A field of the event or of any span it is in (innermost wins).
    pub fn get(&self, name: &str) -> Option<String> {
        let j = self.json.as_ref()?;
        if let Some(v) = j["fields"].get(name) {
            return Some(text(v));
        }
        j["spans"]
            .as_array()?
            .iter()
            .rev()
            .find_map(|s| s.get(name).map(text))
    }

    /// The account this line is about (event field or account span).
    pub fn account(&self) -> Option<String> {
        self.get("account")
    }

    pub fn is(&self, message: &str) -> bool {
        self.message() == message
    }

    pub fn is_about(&self, message: &str, account: &str) -> bool {
        self.message() == message && self.account().as_deref() == Some(account)
    }
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

// ---------------------------------------------------------------------------
// The daemon process

/// A running `snapkeeper run`, its output captured line by line; killed on drop.
pub struct Daemon {
    child: Child,
    lines: Arc<Mutex<Vec<Line>>>,
    status: Option<ExitStatus>,
}

impl Daemon {
    /// `snapkeeper run --config <config> --log-format json` with [`FAST`] tuning.
    pub fn start(config: &Path) -> Self {
        Self::start_with(config, "json", &[], &[])
    }

    pub fn start_with(
        config: &Path,
        format: &str,
        env: &[(&str, &str)],
        extra_args: &[&str],
    ) -> Self {
        let mut cmd = snapkeeper();
        cmd.arg("run")
            .arg("--config")
            .arg(config)
            .args(["--log-format", format])
            .args(FAST)
            .args(extra_args)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM")
            .env_remove("WATCHDOG_USEC")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the daemon: {e}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        spawn_reader(stdout, lines.clone());
        spawn_reader(stderr, lines.clone());
        Self {
            child,
            lines,
            status: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send a signal by name (`HUP`, `TERM`, `KILL`) with kill(1).
    pub fn signal(&self, sig: &str) {
        let st = std::process::Command::new("kill")
            .args(["-s", sig, &self.pid().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("kill -s {sig}: {e}"));
        assert!(st.success(), "kill -s {sig} {} failed", self.pid());
    }

    /// Everything captured so far.
    pub fn lines(&self) -> Vec<Line> {
        self.lines.lock().unwrap().clone()
    }

    /// Number of lines so far: a mark for [`Daemon::wait_after`].
    pub fn mark(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    /// All captured output as one text.
    pub fn output(&self) -> String {
        self.lines()
            .iter()
            .map(|l| l.raw.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn count(&self, pred: impl Fn(&Line) -> bool) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| pred(l))
            .count()
    }

    pub fn count_after(&self, mark: usize, pred: impl Fn(&Line) -> bool) -> usize {
        self.lines.lock().unwrap()[mark..]
            .iter()
            .filter(|l| pred(l))
            .count()
    }

    /// Wait for a line (from the start of the output) matching `pred`.
    pub fn wait(&mut self, what: &str, pred: impl Fn(&Line) -> bool) -> Line {
        self.wait_after(0, what, pred)
    }

    /// Wait for a line at or after `mark` matching `pred`.
    pub fn wait_after(&mut self, mark: usize, what: &str, pred: impl Fn(&Line) -> bool) -> Line {
        self.wait_until(what, |d| {
            d.lines.lock().unwrap()[mark..]
                .iter()
                .find(|l| pred(l))
                .cloned()
        })
    }

    /// Wait until `n` lines at or after `mark` match `pred`.
    pub fn wait_count_after(
        &mut self,
        mark: usize,
        n: usize,
        what: &str,
        pred: impl Fn(&Line) -> bool,
    ) {
        self.wait_until(what, |d| (d.count_after(mark, &pred) >= n).then_some(()));
    }

    /// Poll `f` until it gives `Some`; panic with the log tail on the hang
    /// guard or when the daemon exits first.
    pub fn wait_until<T>(&mut self, what: &str, mut f: impl FnMut(&Self) -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = f(self) {
                return v;
            }
            if let Some(st) = self.try_status() {
                // One last look: the line may have arrived with the exit.
                std::thread::sleep(Duration::from_millis(200));
                if let Some(v) = f(self) {
                    return v;
                }
                panic!(
                    "daemon exited ({st}) while waiting for {what}\n{}",
                    self.tail(60)
                );
            }
            if start.elapsed() > HANG {
                panic!("timed out waiting for {what}\n{}", self.tail(60));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last `n` lines, for failure messages.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.lines();
        let from = lines.len().saturating_sub(n);
        format!(
            "--- last {} daemon lines ---\n{}",
            lines.len() - from,
            lines[from..]
                .iter()
                .map(|l| l.raw.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        )
    }

    fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// True while the process runs.
    pub fn running(&mut self) -> bool {
        self.try_status().is_none()
    }

    /// Wait for the process to exit (hang guard [`HANG`]).
    pub fn wait_exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(st) = self.try_status() {
                // Let the reader threads drain the pipes.
                std::thread::sleep(Duration::from_millis(200));
                return st;
            }
            if start.elapsed() > HANG {
                panic!("daemon did not exit\n{}", self.tail(60));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then wait; asserts exit code 0 and the "stopped" line.
    pub fn stop(&mut self) {
        self.signal("TERM");
        let st = self.wait_exit();
        assert_eq!(st.code(), Some(0), "exit status {st}\n{}", self.tail(40));
        assert!(
            self.count(|l| l.is("stopped")) == 1,
            "no `stopped` line\n{}",
            self.tail(40)
        );
    }

    /// Assert that no token the simulator knows appears in the output, whole
    /// or as a 12-character piece.
    pub fn assert_no_tokens(&self, tokens: &[String]) {
        let out = self.output();
        for t in tokens {
            assert!(!out.contains(t.as_str()), "a token leaked into the log");
            for piece in t.as_bytes().chunks(12).filter(|c| c.len() == 12) {
                let piece = std::str::from_utf8(piece).unwrap();
                assert!(
                    !out.contains(piece),
                    "a piece of a token ({piece}) leaked into the log"
                );
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn spawn_reader(stream: impl Read + Send + 'static, lines: Arc<Mutex<Vec<Line>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            lines.lock().unwrap().push(Line::parse(line));
        }
    });
}

// ---------------------------------------------------------------------------
// The simulator's control API

/// A plain HTTP request to the simulator (control API only).
pub fn http(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let mut req = client.request(method.parse().unwrap(), url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    })
}

/// Add a fault rule at run time.
pub fn add_fault(sim: &SimProcess, rule: Value) {
    let (status, _) = http(
        "POST",
        &format!("{}/faults", sim.url("control")),
        Some(rule),
    );
    assert_eq!(status, 201, "fault not accepted");
}

/// Remove every fault rule.
pub fn clear_faults(sim: &SimProcess) {
    let (status, _) = http("DELETE", &format!("{}/faults", sim.url("control")), None);
    assert_eq!(status, 204);
}

/// One request from the simulator's log.
#[derive(Debug, Clone)]
pub struct Req {
    pub provider: String,
    pub method: String,
    pub template: String,
    pub path: String,
    pub status: u16,
    /// The request body as JSON text ("null" without one).
    pub body: String,
    /// The request's user agent ("" without one).
    pub user_agent: String,
    /// When the simulator received it.
    pub at: Option<chrono::DateTime<chrono::Utc>>,
}

pub fn requests(sim: &SimProcess) -> Vec<Req> {
    let (status, v) = http("GET", &format!("{}/requests", sim.url("control")), None);
    assert_eq!(status, 200);
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| Req {
            provider: r["provider"].as_str().unwrap_or("").to_string(),
            method: r["method"].as_str().unwrap_or("").to_string(),
            template: r["template"].as_str().unwrap_or("").to_string(),
            path: r["path"].as_str().unwrap_or("").to_string(),
            status: r["status"].as_u64().unwrap_or(0) as u16,
            body: r["request_body"].to_string(),
            user_agent: r["user_agent"].as_str().unwrap_or("").to_string(),
            at: r["at"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&chrono::Utc)),
        })
        .collect()
}

/// Requests that start a snapshot, per provider (the three create routes).
pub fn is_create(r: &Req) -> bool {
    r.method == "POST"
        && (r.template == "/v2/droplets/{droplet_id}/actions"
            || r.template == "/v2/volumes/{volume_id}/snapshots"
            || r.template == "/snapshots"
            || r.template.ends_with("/actions/create_image"))
}

/// A snapshot in the simulator, whatever the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimSnap {
    pub provider: String,
    pub id: String,
    /// Name (DigitalOcean) or description (Vultr, Hetzner).
    pub name: String,
    pub resource: String,
    /// Complete / available (DigitalOcean lists only finished ones).
    pub done: bool,
}

impl SimSnap {
    /// Managed by `account`'s `policy` for `resource`?
    pub fn managed_by(&self, account: &str, policy: &str, resource: &str) -> bool {
        self.name
            .starts_with(&format!("snapkeeper:{account}:{policy}:{resource}:"))
    }

    pub fn managed(&self) -> bool {
        self.name.starts_with("snapkeeper:")
    }
}

/// Every snapshot the simulator holds, across providers and accounts.
pub fn sim_snapshots(sim: &SimProcess) -> Vec<SimSnap> {
    let (status, all) = http("GET", &format!("{}/state", sim.url("control")), None);
    assert_eq!(status, 200);
    let mut out = Vec::new();
    if let Some(accounts) = all["digitalocean"]["accounts"].as_object() {
        for a in accounts.values() {
            for s in a["snapshots"].as_array().into_iter().flatten() {
                out.push(SimSnap {
                    provider: "digitalocean".into(),
                    id: text(&s["id"]),
                    name: text(&s["name"]),
                    resource: text(&s["resource_id"]),
                    done: true,
                });
            }
        }
    }
    for a in all["vultr"]["accounts"].as_array().into_iter().flatten() {
        for s in a["snapshots"].as_array().into_iter().flatten() {
            out.push(SimSnap {
                provider: "vultr".into(),
                id: text(&s["id"]),
                name: text(&s["description"]),
                resource: text(&s["source_instance"]),
                done: s["status"] == "complete",
            });
        }
    }
    for p in all["hetzner"]["projects"].as_array().into_iter().flatten() {
        for s in p["images"].as_array().into_iter().flatten() {
            if s["type"] != "snapshot" {
                continue;
            }
            out.push(SimSnap {
                provider: "hetzner".into(),
                id: text(&s["id"]),
                name: text(&s["description"]),
                resource: text(&s["created_from"]["id"]),
                done: s["status"] == "available",
            });
        }
    }
    out
}

// ---------------------------------------------------------------------------
// A test's world: a simulator, a temp dir, token files, a config file

pub struct World {
    pub dir: Dir,
    pub sim: SimProcess,
}

impl World {
    pub fn new(seed: &str) -> Self {
        let dir = Dir::new();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        Self {
            dir,
            sim: SimProcess::start(Some(seed)),
        }
    }

    /// The config file's path (`<tmp>/etc/config.yaml`).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("etc/config.yaml")
    }

    /// Write the config in place.
    pub fn write_config(&self, text: &str) -> PathBuf {
        let path = self.config_path();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Every token the simulator accepts.
    pub fn tokens(&self) -> Vec<String> {
        self.sim.tokens.iter().map(|t| t.token.clone()).collect()
    }

    /// A token file (mode 600) holding the simulator's read-write token of
    /// `sim_account` at `provider`.
    pub fn token_file(&self, provider: &str, sim_account: &str) -> PathBuf {
        let token = self
            .sim
            .tokens
            .iter()
            .find(|t| t.provider == provider && t.account == sim_account && !t.read_only)
            .unwrap_or_else(|| panic!("no {provider} token for {sim_account}"))
            .token
            .clone();
        self.secret_file(&format!("{provider}-{sim_account}.token"), &token)
    }

    /// A mode-600 file in `<tmp>/secrets/`.
    pub fn secret_file(&self, name: &str, text: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.write(&format!("secrets/{name}"), text);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    /// One account's YAML (two-space list item under `accounts:`). `policies`
    /// are complete flow mappings, one per entry.
    pub fn account(
        &self,
        name: &str,
        provider: &str,
        sim_account: &str,
        policies: &[String],
    ) -> String {
        let token = self.token_file(provider, sim_account);
        let mut s = format!(
            "  - name: {name}\n    provider: {provider}\n    token: {{ file: {} }}\n    api_url: {}\n    policies:\n",
            token.display(),
            self.sim.url(provider)
        );
        if policies.is_empty() {
            s = s.replace("    policies:\n", "    policies: []\n");
        }
        for p in policies {
            s.push_str(&format!("      - {p}\n"));
        }
        s
    }

    pub fn start(&self) -> Daemon {
        Daemon::start(&self.config_path())
    }

    /// An account `name` of the fleet's DigitalOcean `team` with the one
    /// policy `drops` (of droplets).
    pub fn drops(&self, name: &str, selector: &str, every: &str, keep: &str) -> String {
        let p = policy("drops", "droplet", selector, every, keep);
        self.account(name, "digitalocean", "team", &[p])
    }

    /// An account `name` of the fleet's Vultr `main` with the one policy
    /// `inst` (of instances).
    pub fn inst(&self, name: &str, selector: &str, every: &str, keep: &str) -> String {
        let p = policy("inst", "instance", selector, every, keep);
        self.account(name, "vultr", "main", &[p])
    }

    /// An account `name` of the fleet's Hetzner `proj` with the one policy
    /// `srv` (of servers).
    pub fn srv(&self, name: &str, selector: &str, every: &str, keep: &str) -> String {
        let p = policy("srv", "server", selector, every, keep);
        self.account(name, "hetzner", "proj", &[p])
    }

    /// Start the daemon with a notify socket of the test's own
    /// (`NOTIFY_SOCKET` at `<tmp>/notify.sock`) and these other variables.
    pub fn start_notified(&self, env: &[(&str, &str)]) -> (Daemon, NotifySocket) {
        let path = self.dir.path().join("notify.sock");
        let socket = NotifySocket::bind(&path);
        let mut vars = vec![("NOTIFY_SOCKET", path.to_str().unwrap())];
        vars.extend_from_slice(env);
        (
            Daemon::start_with(&self.config_path(), "json", &vars, &[]),
            socket,
        )
    }
}

// ---------------------------------------------------------------------------
// The systemd notify socket

/// Collects the sd_notify datagrams sent to a socket the test owns. A thread
/// drains it all along: a full socket queue would block the daemon's sends
/// (and so its main loop) while the test looks elsewhere.
pub struct NotifySocket {
    got: Arc<Mutex<Vec<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl NotifySocket {
    pub fn bind(path: &Path) -> Self {
        let sock = std::os::unix::net::UnixDatagram::bind(path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (sink, done) = (got.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(n) = sock.recv(&mut buf) {
                    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                    sink.lock().unwrap().push(msg);
                }
            }
        });
        Self { got, stop }
    }

    /// Every message so far.
    pub fn got(&self) -> Vec<String> {
        self.got.lock().unwrap().clone()
    }

    /// Number of messages so far: a mark for [`NotifySocket::wait`].
    pub fn mark(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    /// Wait for a message at or after index `from` that satisfies `pred`;
    /// returns its index.
    pub fn wait(&self, from: usize, what: &str, pred: impl Fn(&str) -> bool) -> usize {
        let start = Instant::now();
        loop {
            let got = self.got();
            if let Some(i) = got[from.min(got.len())..].iter().position(|m| pred(m)) {
                return from + i;
            }
            assert!(
                start.elapsed() < HANG,
                "timed out waiting for {what}; got {got:#?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The `STATUS=` of the first `READY=1` at or after `from`, and its index.
    pub fn ready_status(&self, from: usize, what: &str) -> (usize, String) {
        let i = self.wait(from, what, |m| has(m, "READY=1"));
        let status = value(&self.got()[i], "STATUS").unwrap_or("").to_string();
        (i, status)
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Whether the datagram `msg` has the line `line`.
pub fn has(msg: &str, line: &str) -> bool {
    msg.lines().any(|l| l == line)
}

/// The value of `key=` in the datagram `msg`.
pub fn value<'a>(msg: &'a str, key: &str) -> Option<&'a str> {
    msg.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// `{ name: .., targets: { kind: .., <selector> }, every: .., keep: { .. } }`.
pub fn policy(name: &str, kind: &str, selector: &str, every: &str, keep: &str) -> String {
    format!(
        "{{ name: {name}, targets: {{ kind: {kind}, {selector} }}, every: {every}, keep: {{ {keep} }} }}"
    )
}

/// Build a config from account snippets.
pub fn config(accounts: &[String]) -> String {
    format!("accounts:\n{}", accounts.concat())
}

// ---------------------------------------------------------------------------
// Tests

/// A seed with all three providers: targeted and untargeted resources, and a
/// manual snapshot on each, which must survive everything.
pub fn seed_all() -> String {
    seed(
        "settings: { time_scale: 0.01 }",
        &[
            digitalocean(&[(
                "team",
                DO_TEAM,
                r#"
      droplets:
        - { id: 301, name: web-1, tags: [backup], snapshots: [{ name: manual-web-1 }] }
        - { id: 302, name: scratch, snapshots: [{ name: manual-scratch }] }
      volumes:
        - { id: 5e1d0001-0000-4000-8000-00000000d0a1, name: pgdata, size_gigabytes: 10, tags: [backup], snapshots: [{ name: manual-pgdata }] }
"#,
            )]),
            vultr(&[(
                "main",
                VULTR_MAIN,
                r#"
      instances:
        - { id: 3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e01, label: app-1, tags: [backup] }
        - { id: 3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e02, label: app-2, tags: [backup] }
        - { id: 3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e03, label: tmp-1 }
      snapshots:
        - { description: manual-app-1, source_instance: 3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e01 }
"#,
            )]),
            hetzner(&[(
                "proj",
                HETZNER_PROJ,
                r#"
      servers:
        - { id: 42000101, name: srv-1, labels: { backup: "true" } }
        - { id: 42000102, name: srv-2 }
      images:
        - { description: manual-srv-1, server: srv-1 }
        - { description: manual-srv-2, server: srv-2 }
"#,
            )]),
        ],
    )
}

fn all_accounts(w: &World, every: &str) -> String {
    config(&[
        w.account(
            "do-a",
            "digitalocean",
            "team",
            &[
                policy("drops", "droplet", "tags: [backup]", every, "last: 2"),
                policy("vols", "volume", "tags: [backup]", every, "last: 3"),
            ],
        ),
        w.inst("vu-a", "tags: [backup]", every, "last: 2"),
        w.srv("hz-a", r#"labels: { backup: "true" }"#, every, "last: 2"),
    ])
}

/// (account, policy, resource id, keep last N)
const TARGETS: &[(&str, &str, &str, usize)] = &[
    ("do-a", "drops", "301", 2),
    ("do-a", "vols", "5e1d0001-0000-4000-8000-00000000d0a1", 3),
    ("vu-a", "inst", "3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e01", 2),
    ("vu-a", "inst", "3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e02", 2),
    ("hz-a", "srv", "42000101", 2),
];

const MANUAL: &[&str] = &[
    "manual-web-1",
    "manual-scratch",
    "manual-pgdata",
    "manual-app-1",
    "manual-srv-1",
    "manual-srv-2",
];

#[test]
fn lifecycle_on_all_three_providers_keeps_exactly_what_the_policies_say() {
    let w = World::new(&seed_all());
    w.write_config(&all_accounts(&w, "2s"));
    let mut d = w.start();
    d.wait("the start line", |l| {
        l.is("snapkeeper started") && l.field_u64("accounts") == Some(3)
    });

    // Enough cycles that every group has been pruned at least once: one more
    // completed snapshot than the policy keeps.
    for (account, policy, resource, keep) in TARGETS {
        d.wait_until(
            &format!("{} snapshots of {account}/{policy}/{resource}", keep + 1),
            |d| {
                (d.count(|l| {
                    l.is_about("snapshot complete", account)
                        && l.get("policy").as_deref() == Some(*policy)
                        && l.get("resource").as_deref() == Some(*resource)
                }) > *keep)
                    .then_some(())
            },
        );
    }

    // Stop creating (every 1h, same policies): the next cycle of each account
    // only prunes, so the state settles at exactly what the policies keep.
    let mark = d.mark();
    w.write_config(&all_accounts(&w, "1h"));
    d.wait_after(mark, "the reload", |l| l.is("config reloaded"));
    for account in ["do-a", "vu-a", "hz-a"] {
        let changed = d.wait_after(mark, &format!("{account} to take the change"), |l| {
            l.is_about(
                "account config changed: running with the new settings",
                account,
            )
        });
        let _ = changed;
        d.wait_until(&format!("a quiet cycle of {account}"), |d| {
            let lines = d.lines();
            let at = lines[mark..].iter().position(|l| {
                l.is_about(
                    "account config changed: running with the new settings",
                    account,
                )
            })? + mark;
            lines[at..]
                .iter()
                .find(|l| l.is_about("cycle finished", account))
                .map(|l| assert_eq!(l.field_u64("created"), Some(0), "{}", l.raw))
        });
    }

    // A snapshot started just before the change is still followed (each
    // resource on its own clock): once it is complete its own retention
    // runs, and the state settles at exactly what the policies keep.
    let settled = |snaps: &[SimSnap]| {
        TARGETS.iter().all(|(account, policy, resource, keep)| {
            let mine: Vec<&SimSnap> = snaps
                .iter()
                .filter(|s| s.managed_by(account, policy, resource))
                .collect();
            mine.len() == *keep && mine.iter().all(|s| s.done)
        })
    };
    d.wait_until("every group at exactly its keep", |_| {
        let snaps = sim_snapshots(&w.sim);
        settled(&snaps).then_some(())
    });
    let snaps = sim_snapshots(&w.sim);
    // Nothing for untargeted resources, nothing unexpected anywhere.
    let expected: usize = TARGETS.iter().map(|t| t.3).sum();
    assert_eq!(
        snaps.iter().filter(|s| s.managed()).count(),
        expected,
        "{snaps:#?}"
    );
    for name in MANUAL {
        assert!(
            snaps.iter().any(|s| s.name == *name),
            "manual snapshot {name} is gone: {snaps:#?}"
        );
    }
    d.stop();
    d.assert_no_tokens(&w.tokens());
}

#[test]
fn tokens_never_appear_in_the_logs_even_on_errors_and_debug() {
    let w = World::new(&seed_all());
    // A token the simulator does not know (401 on every call), next to good ones.
    let bad = w.secret_file(
        "bad.token",
        "dop_v1_2aabfe228f219e9cb0eb53f16947ccf25ec84d8dbc74254770f58904dba41ecc",
    );
    let mut cfg = all_accounts(&w, "2s");
    cfg.push_str(&format!(
        "  - name: do-bad\n    provider: digitalocean\n    token: {{ file: {} }}\n    api_url: {}\n    policies:\n      - {}\n",
        bad.display(),
        w.sim.url("digitalocean"),
        policy("drops", "droplet", "all: true", "2s", "last: 2")
    ));
    w.write_config(&cfg);
    let mut tokens = w.tokens();
    tokens.push(std::fs::read_to_string(&bad).unwrap());
    for format in ["json", "text"] {
        let mut d = Daemon::start_with(&w.config_path(), format, &[("RUST_LOG", "debug")], &[]);
        // The failing account has been tried, and every good one has
        // finished a snapshot.
        d.wait_until("the bad account's error", |d| {
            (d.count(|l| l.raw.contains("do-bad") && l.raw.contains("401")) > 0).then_some(())
        });
        for account in ["do-a", "vu-a", "hz-a"] {
            d.wait_until(&format!("a snapshot by {account}"), |d| {
                (d.count(|l| l.raw.contains(account) && l.raw.contains("snapshot complete")) > 0)
                    .then_some(())
            });
        }
        d.signal("TERM");
        assert_eq!(d.wait_exit().code(), Some(0));
        d.assert_no_tokens(&tokens);
    }
}

#[test]
fn provider_strings_never_reach_the_text_log_raw_issue_13() {
    // A droplet name with an escape sequence, a newline and a NUL: the text
    // log shows them escaped (no terminal injection, no forged log line).
    let w = World::new(&seed(
        "settings: { time_scale: 0.001 }",
        &[digitalocean(&[(
            "team",
            DO_TEAM,
            r#"
      droplets:
        - { id: 301, name: "web\e[31m-1\nFORGED line\0", tags: [backup] }
"#,
        )])],
    ));
    w.write_config(&config(&[w.drops(
        "do-a",
        "tags: [backup]",
        "1h",
        "last: 2",
    )]));
    let mut cmd = snapkeeper();
    let out = cmd
        .args([
            "run",
            "--once",
            "--log-format",
            "text",
            "--poll-interval",
            "200ms",
            "--config",
        ])
        .arg(w.config_path())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(log.contains("snapshot complete"), "{log}");
    assert!(!log.contains('\u{1b}') && !log.contains('\0'), "{log:?}");
    assert!(
        !log.lines().any(|l| l.starts_with("FORGED")),
        "a provider string forged a log line: {log}"
    );
    assert!(log.contains("\\u{1b}[31m-1\\nFORGED line\\0"), "{log}");
    // Lines fit a wide terminal: the ids once (in the span), no module
    // path. The hostile name itself is measured as the plain name it
    // pretends to be.
    let widest = log
        .lines()
        .map(|l| {
            l.replace("web\\u{1b}[31m-1\\nFORGED line\\0", "web-1")
                .chars()
                .count()
        })
        .max()
        .unwrap_or(0);
    assert!(widest <= 160, "{widest} columns:\n{log}");
}

/// `/proc/<pid>/status` field in KiB.
fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Issue 11: once no provider request went out for `--idle-release`, the
/// daemon gives idle memory back: the executable's pages it touched, and
/// the allocator's free ones. It keeps working after, and does it again
/// after the next burst.
#[test]
fn the_quiet_daemon_gives_its_idle_memory_back() {
    let w = World::new(&seed_all());
    w.write_config(&config(&[w.srv("hz", "all: true", "6s", "last: 3")]));
    let mut d = Daemon::start_with(
        &w.config_path(),
        "json",
        &[("RUST_LOG", "snapkeeper=debug")],
        &["--idle-release", "2s"],
    );
    let is_release = |l: &Line| l.is("quiet: idle memory given back");
    // The most of the executable mapped before the release, sampled all
    // along (it only grows until then).
    let mut file_before = 0;
    let released = d.wait_until("a release", |d| {
        file_before = file_before.max(proc_kib(d.pid(), "RssFile:"));
        d.lines().into_iter().find(|l| is_release(l))
    });
    assert!(released.field("trimmed").is_some(), "{}", released.raw);
    assert_eq!(released.field("code_skipped"), None, "{}", released.raw);
    let code_kib = released.field_u64("code_kib").unwrap_or(0);
    assert!(code_kib > 0, "{}", released.raw);
    let file_after = proc_kib(d.pid(), "RssFile:");
    assert!(
        file_after < file_before,
        "RssFile {file_before} KiB before the release, {file_after} KiB after ({code_kib} KiB advised out)"
    );
    // Still working: the next pass runs, and the quiet after it releases
    // again.
    let mark = d.mark();
    let pass = d.wait_after(mark, "a pass after the release", |l| {
        l.is_about("cycle finished", "hz")
    });
    let after_pass = d
        .lines()
        .iter()
        .position(|l| l.raw == pass.raw)
        .unwrap_or(mark);
    d.wait_after(after_pass, "a release after that pass", is_release);
    d.signal("TERM");
    assert_eq!(d.wait_exit().code(), Some(0));
    assert_eq!(d.count(|l| l.level() == "ERROR"), 0, "{}", d.output());
}
