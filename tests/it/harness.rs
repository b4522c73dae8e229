//! Shared test helpers: run the real binary, start the simulator as a child
//! process on 127.0.0.1:0, a temp dir per test, and the specs' location.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_snapkeeper"))
}

/// A `snapkeeper` command with a clean environment for config lookups.
pub fn snapkeeper() -> Command {
    let mut cmd = Command::new(bin());
    cmd.env_remove("SNAPKEEPER_CONFIG")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env("NO_COLOR", "1");
    cmd
}

/// Run a command to completion, with stdout/stderr captured as text.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Ran {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    Ran {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// A temp directory that lives as long as the test.
pub struct Dir {
    tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Self {
        Self {
            tmp: tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}")),
        }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Write a file (relative to the dir) and return its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.tmp.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir: {e}"));
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }
}

/// The vendored copy of the providers' OpenAPI documents (with their
/// sources, licenses and checksums).
pub fn vendored_specs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs")
}

/// Where the providers' OpenAPI documents are read from: `$SNAPKEEPER_SPECS_DIR`
/// when set (an override), else the vendored `tests/specs`. Whether they are
/// there is decided at build time (`build.rs`): without them every contract
/// test is ignored, or under `CI=true` fails.
pub fn specs_dir() -> PathBuf {
    std::env::var_os("SNAPKEEPER_SPECS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(vendored_specs_dir)
}

/// A `snapkeeper sim` child process, killed on drop.
pub struct SimProcess {
    child: Child,
    /// Base URL per provider name ("digitalocean", "vultr", "hetzner") and "control".
    pub urls: BTreeMap<String, String>,
    /// (provider, account, read_only) -> token.
    pub tokens: Vec<SimToken>,
    _dir: Option<Dir>,
}

#[derive(Debug, Clone)]
pub struct SimToken {
    pub provider: String,
    pub account: String,
    pub read_only: bool,
    pub token: String,
}

impl SimProcess {
    /// Start the simulator with the given seed YAML (None: built-in demo seed).
    pub fn start(seed: Option<&str>) -> Self {
        let dir = seed.map(|text| {
            let d = Dir::new();
            d.write("seed.yaml", text);
            d
        });
        let mut cmd = snapkeeper();
        cmd.args(["sim", "--listen", "127.0.0.1:0"]);
        if let Some(d) = &dir {
            cmd.arg("--seed").arg(d.path().join("seed.yaml"));
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start sim: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut urls = BTreeMap::new();
        let mut tokens = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap_or_else(|e| panic!("sim stdout: {e}"));
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["url", name, url] => {
                    urls.insert(name.to_string(), url.to_string());
                }
                ["token", provider, account, mode, token] => tokens.push(SimToken {
                    provider: provider.to_string(),
                    account: account.to_string(),
                    read_only: *mode == "read-only",
                    token: token.to_string(),
                }),
                ["ready"] => break,
                _ => {}
            }
        }
        assert!(urls.contains_key("control"), "sim did not print its urls");
        Self {
            child,
            urls,
            tokens,
            _dir: dir,
        }
    }

    pub fn url(&self, provider: &str) -> &str {
        self.urls
            .get(provider)
            .unwrap_or_else(|| panic!("no url for {provider}"))
    }

    /// The first token of this provider with this mode.
    pub fn token(&self, provider: &str, read_only: bool) -> &str {
        self.tokens
            .iter()
            .find(|t| t.provider == provider && t.read_only == read_only)
            .map(|t| t.token.as_str())
            .unwrap_or_else(|| panic!("no {provider} token (read_only={read_only})"))
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Poll `f` until it returns Some, or panic after `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------
// Seeds for a `snapkeeper sim` child process

/// The credentials of the daemon tests' small fleet: a DigitalOcean account
/// `team`, a Vultr account `main` and a Hetzner project `proj`. Each test's
/// seed names only its own settings, faults and resources; [`digitalocean`],
/// [`vultr`] and [`hetzner`] build the provider sections around them.
pub const DO_TEAM: &str = "dop_v1_a4c123b1612dd272d1371c17149d439536b3216fdaeeb975729fae923d5a4fd1";
pub const VULTR_MAIN: &str = "ZZGEOZDMENCKHVMDGAKJIG8XNBE3NNYJOQ9W";
pub const HETZNER_PROJ: &str = "MxEhh2FDEEtfjgVvVqE1SkHbn88HxjSI6bWHtP3fS2qHx6kwXoIIXGvOoNZYW2mZ";

/// A seed: `head` (its `settings:` and any `faults:`), then the sections.
pub fn seed(head: &str, sections: &[String]) -> String {
    format!("{}\n{}", head.trim_end(), sections.concat())
}

/// One provider section: `provider:` / `list:`, then an entry per
/// `(name, token, resources)` whose credential line is `credential` with
/// the token for `{}`. `resources` is the entry's own YAML, six spaces in
/// (a leading newline is dropped, so a raw string can start on its own line).
fn section(provider: &str, list: &str, credential: &str, entries: &[(&str, &str, &str)]) -> String {
    let mut s = format!("{provider}:\n  {list}:\n");
    for (name, token, resources) in entries {
        s.push_str(&format!(
            "    - name: {name}\n      {}\n{}",
            credential.replace("{}", token),
            resources.trim_start_matches('\n')
        ));
    }
    s
}

/// `digitalocean:` with these accounts.
pub fn digitalocean(accounts: &[(&str, &str, &str)]) -> String {
    section(
        "digitalocean",
        "accounts",
        "tokens: [{ token: {} }]",
        accounts,
    )
}

/// `vultr:` with these accounts.
pub fn vultr(accounts: &[(&str, &str, &str)]) -> String {
    section("vultr", "accounts", "api_keys: [{ key: {} }]", accounts)
}

/// `hetzner:` with these projects.
pub fn hetzner(projects: &[(&str, &str, &str)]) -> String {
    section("hetzner", "projects", "tokens: [{ token: {} }]", projects)
}

/// A Hetzner project's resources: one server, srv-1 (42000101), labelled
/// `backup: "true"`.
pub const ONE_SERVER: &str =
    "      servers: [{ id: 42000101, name: srv-1, labels: { backup: \"true\" } }]\n";

/// A seed's list entry `name` (four spaces in) with a read-write and a
/// read-only token, as `provider` spells its credentials; the entry's
/// resources follow, six spaces in.
pub fn rw_ro_entry(provider: &str, name: &str, rw: &str, ro: &str) -> String {
    let creds = if provider == "vultr" {
        format!("api_keys:\n        - key: {rw}\n        - key: {ro}\n          read_only: true")
    } else {
        format!(
            "tokens:\n        - {{ token: {rw} }}\n        - {{ token: {ro}, read_only: true }}"
        )
    };
    format!("    - name: {name}\n      {creds}\n")
}
