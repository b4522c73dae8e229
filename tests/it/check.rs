//! `snapkeeper check`: the broken-config corpus (each file's exact located
//! errors and exit 78), the example config and every documented config
//! passing, warnings, `--resolve-secrets`, and tokens never leaking.

use std::path::{Path, PathBuf};

use crate::harness::{Dir, run, snapkeeper};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run `check` on `file` from `dir`, without any token variables set.
fn check(dir: &Path, file: &str, extra: &[&str]) -> crate::harness::Ran {
    let mut cmd = snapkeeper();
    cmd.current_dir(dir)
        .args(["check", "--config", file])
        .args(extra)
        .env_remove("DO_TOKEN")
        .env_remove("VULTR_TOKEN")
        .env_remove("HCLOUD_TOKEN");
    run(&mut cmd)
}

#[test]
fn every_broken_config_gives_its_exact_located_errors() {
    let dir = root().join("tests/configs/bad");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "corpus has only {} files", files.len());
    for file in files {
        let name = file.file_name().unwrap().to_str().unwrap();
        let expected = std::fs::read_to_string(file.with_extension("expected"))
            .unwrap_or_else(|e| panic!("{name}: no .expected file: {e}"));
        let expected: Vec<&str> = expected.lines().collect();
        assert!(!expected.is_empty(), "{name}: empty .expected");
        let ran = check(&dir, name, &[]);
        assert_eq!(ran.code, 78, "{name}: exit code; stderr:\n{}", ran.stderr);
        let got: Vec<&str> = ran
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect();
        assert_eq!(got, expected, "{name}: errors differ");
        let n = expected.len();
        let summary = if n == 1 {
            format!("{name}: 1 error found, nothing changed")
        } else {
            format!("{name}: {n} errors found, nothing changed")
        };
        assert_eq!(ran.stderr.lines().last(), Some(summary.as_str()), "{name}");
        assert!(ran.stdout.is_empty(), "{name}: stdout {:?}", ran.stdout);
    }
}

#[test]
fn example_config_passes_without_tokens() {
    let ran = check(&root(), "config.example.yaml", &[]);
    assert_eq!(ran.code, 0, "stderr:\n{}", ran.stderr);
    assert_eq!(ran.stdout, "ok: 3 accounts, 5 policies\n");
    assert_eq!(ran.stderr, "", "the example should not warn");
}

/// Every ```yaml block that holds `accounts:` in README.md and docs/*.md.
fn documented_configs() -> Vec<(String, String)> {
    let mut files = vec![root().join("README.md")];
    if let Ok(rd) = std::fs::read_dir(root().join("docs")) {
        let mut docs: Vec<PathBuf> = rd
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "md"))
            .collect();
        docs.sort();
        files.extend(docs);
    }
    let mut blocks = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let mut current: Option<(usize, String)> = None;
        for (i, line) in text.lines().enumerate() {
            match &mut current {
                None if line.trim_start() == "```yaml" => current = Some((i + 1, String::new())),
                Some((start, body)) if line.trim_start() == "```" => {
                    // Only snapkeeper configs (top-level `accounts:`), not
                    // simulator seeds whose provider sections nest `accounts:`.
                    if body.lines().any(|l| l.starts_with("accounts:")) {
                        blocks.push((format!("{}:{start}", file.display()), body.clone()));
                    }
                    current = None;
                }
                Some((_, body)) => {
                    body.push_str(line);
                    body.push('\n');
                }
                None => {}
            }
        }
    }
    blocks
}

#[test]
fn every_documented_config_passes() {
    let blocks = documented_configs();
    assert!(
        blocks.iter().any(|(at, _)| at.contains("docs/config.md")),
        "docs/config.md has no yaml config block"
    );
    let dir = Dir::new();
    for (at, body) in blocks {
        dir.write("doc.yaml", &body);
        let ran = check(dir.path(), "doc.yaml", &[]);
        assert_eq!(ran.code, 0, "{at}: {}\n{body}", ran.stderr);
        assert!(ran.stdout.starts_with("ok: "), "{at}");
    }
}

const SECRET: &str = "dop_v1_SUPERSECRET0123456789abcdef";

fn token_config(dir: &Dir, token_file: &Path) -> PathBuf {
    dir.write(
        "config.yaml",
        &format!(
            "accounts:\n  - name: do\n    provider: digitalocean\n    token: {{ file: {} }}\n    policies:\n      - name: p\n        targets: {{ kind: droplet, all: true }}\n        every: 6h\n        keep: {{ within: 7d }}\n  - name: vu\n    provider: vultr\n    token: {{ env: SK_TEST_VULTR }}\n  - name: hz\n    provider: hetzner\n    token: {{ credential: hz-token }}\n",
            token_file.display()
        ),
    )
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn resolve_secrets_reads_every_token_and_prints_none() {
    let dir = Dir::new();
    let file = dir.write("do.token", &format!("{SECRET}\n"));
    set_mode(&file, 0o600);
    let creds = dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("hz-token"), SECRET).unwrap();
    set_mode(&creds.join("hz-token"), 0o600);
    token_config(&dir, &file);

    // Without --resolve-secrets no token is needed.
    let ran = check(dir.path(), "config.yaml", &[]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.stdout, "ok: 3 accounts, 1 policy\n");

    let mut cmd = snapkeeper();
    cmd.current_dir(dir.path())
        .args(["check", "--config", "config.yaml", "--resolve-secrets"])
        .env("SK_TEST_VULTR", SECRET)
        .env("CREDENTIALS_DIRECTORY", &creds);
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(!ran.stdout.contains(SECRET) && !ran.stderr.contains(SECRET));

    // Missing sources: each is named, exit 78, the value of the others never shown.
    let mut cmd = snapkeeper();
    cmd.current_dir(dir.path())
        .args(["check", "--config", "config.yaml", "--resolve-secrets"]);
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 78);
    assert_eq!(
        ran.stderr,
        "error: config.yaml:12:5: accounts[1].token: token environment variable SK_TEST_VULTR is not set or empty (account vu)\n\
         error: config.yaml:15:5: accounts[2].token: token credential hz-token needs $CREDENTIALS_DIRECTORY (systemd LoadCredential=) or --credentials-dir, and neither is set (account hz)\n"
    );
    assert!(!ran.stdout.contains(SECRET));
}

#[test]
fn group_readable_token_file_warns_without_failing() {
    let dir = Dir::new();
    let file = dir.write("do.token", SECRET);
    set_mode(&file, 0o644);
    token_config(&dir, &file);
    let ran = check(dir.path(), "config.yaml", &[]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(
        ran.stderr,
        format!(
            "warning: config.yaml:4:12: accounts[0].token: token file {} is readable by group or others (mode 644): run chmod 600 on it\n",
            file.display()
        )
    );
    assert!(!ran.stdout.contains(SECRET) && !ran.stderr.contains(SECRET));
}

#[test]
fn tokens_never_appear_in_errors_or_debug() {
    let dir = Dir::new();
    let file = dir.write("do.token", SECRET);
    set_mode(&file, 0o600);
    // A config that is wrong in many places, next to a token in a file and in the environment.
    let path = dir.write(
        "bad.yaml",
        &format!(
            "accounts:\n  - name: do\n    provider: digitalocean\n    token: {{ file: {} }}\n    policies:\n      - name: p\n        targets: {{ kind: server, all: true }}\n        every: 5 parsecs\n        keep: {{}}\n  - name: vu\n    provider: vultr\n    token: {{ env: SK_TEST_VULTR, credential: x }}\n",
            file.display()
        ),
    );
    let mut cmd = snapkeeper();
    cmd.args(["check", "--resolve-secrets", "--config"])
        .arg(&path)
        .env("SK_TEST_VULTR", SECRET);
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 78);
    assert!(ran.stderr.contains("4 errors found"), "{}", ran.stderr);
    assert!(!ran.stderr.contains(SECRET) && !ran.stdout.contains(SECRET));

    // A token file that does not hold a token but a bad value: still never printed.
    let good = token_config(&dir, &file);
    std::fs::write(&file, "   \n").unwrap();
    let mut cmd = snapkeeper();
    cmd.args(["check", "--resolve-secrets", "--config"])
        .arg(&good)
        .env("SK_TEST_VULTR", SECRET);
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 78);
    assert!(ran.stderr.contains("is empty"), "{}", ran.stderr);
    assert!(!ran.stderr.contains(SECRET));

    // Debug of every checked type holds the source, never the value.
    std::fs::write(&file, SECRET).unwrap();
    let loaded = snapkeeper::config::load(&good).unwrap();
    let debug = format!("{loaded:?}");
    assert!(debug.contains("file:"), "{debug}");
    assert!(!debug.contains(SECRET));
    for account in &loaded.config.accounts {
        assert!(!format!("{account:?} {:?}", account.token).contains(SECRET));
    }
    let token = loaded.config.accounts[0].token.read().unwrap();
    assert!(!format!("{token:?}").contains(SECRET));
}

#[test]
fn short_every_is_allowed_against_loopback_only() {
    let dir = Dir::new();
    let text = |url: &str| {
        format!(
            "accounts:\n  - name: sim\n    provider: hetzner\n    token: {{ env: HCLOUD_TOKEN }}\n    api_url: {url}\n    policies:\n      - name: fast\n        targets: {{ kind: server, all: true }}\n        every: 10s\n        keep: {{ last: 3 }}\n"
        )
    };
    for url in [
        "http://127.0.0.1:7070/",
        "http://localhost:1",
        "http://[::1]:80",
    ] {
        dir.write("c.yaml", &text(url));
        let ran = check(dir.path(), "c.yaml", &[]);
        assert_eq!(ran.code, 0, "{url}: {}", ran.stderr);
    }
    dir.write("c.yaml", &text("https://api.hetzner.cloud/v1"));
    let ran = check(dir.path(), "c.yaml", &[]);
    assert_eq!(ran.code, 78);
    assert!(
        ran.stderr.contains(
            "c.yaml:9:16: accounts[0].policies[0].every: every 10s is shorter than 1 minute"
        ),
        "{}",
        ran.stderr
    );
}

#[test]
fn volume_quota_warning() {
    let dir = Dir::new();
    dir.write(
        "c.yaml",
        "accounts:\n  - name: do\n    provider: digitalocean\n    token: { env: DO_TOKEN }\n    policies:\n      - name: vols\n        targets: { kind: volume, all: true }\n        every: 6h\n        keep: { within: 7d }\n      - name: small\n        targets: { kind: volume, all: true }\n        every: 1d\n        keep: { within: 7d, weekly: 4 }\n",
    );
    let ran = check(dir.path(), "c.yaml", &[]);
    assert_eq!(ran.code, 0);
    assert_eq!(
        ran.stderr,
        "warning: c.yaml:6:9: accounts[0].policies[0]: keeps about 29 snapshots per volume in steady state, above digitalocean's limit of 25 per volume: new snapshots will fail once it is reached\n"
    );
    assert_eq!(ran.stdout, "ok: 1 account, 2 policies\n");
}

#[test]
fn missing_file_is_a_config_error() {
    let dir = Dir::new();
    let ran = check(dir.path(), "nope.yaml", &[]);
    assert_eq!(ran.code, 78);
    assert!(
        ran.stderr
            .starts_with("error: cannot read config file nope.yaml: "),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_path_that_is_not_a_regular_file_is_refused_at_once() {
    let dir = Dir::new();
    let fifo = dir.path().join("fifo.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let _socket = std::os::unix::net::UnixListener::bind(dir.path().join("sock.yaml")).unwrap();
    std::fs::create_dir(dir.path().join("dir.yaml")).unwrap();
    std::os::unix::fs::symlink(&fifo, dir.path().join("link.yaml")).unwrap();
    for (file, what) in [
        ("fifo.yaml", "a FIFO"),
        ("sock.yaml", "a socket"),
        ("dir.yaml", "a directory"),
        ("link.yaml", "a FIFO"),
        ("/dev/null", "a device"),
    ] {
        let started = std::time::Instant::now();
        let ran = check(dir.path(), file, &[]);
        assert!(
            started.elapsed().as_secs() < 10,
            "{file}: took {:?}",
            started.elapsed()
        );
        assert_eq!(ran.code, 78, "{file}: {}", ran.stderr);
        assert_eq!(
            ran.stderr,
            format!("error: cannot read config file {file}: it is {what}, not a regular file\n")
        );
    }
}

#[test]
fn a_huge_or_deeply_nested_config_is_refused_at_once() {
    let dir = Dir::new();
    let huge = format!("accounts: []\n#{}\n", "x".repeat(2 << 20));
    dir.write("huge.yaml", &huge);
    // 200 KB of nested brackets took 36 s to refuse.
    let deep = format!("accounts: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    dir.write("deep.yaml", &deep);
    for (file, want) in [
        (
            "huge.yaml",
            "error: cannot read config file huge.yaml: it is larger than 1024 KiB\n".to_string(),
        ),
        (
            "deep.yaml",
            "error: deep.yaml:1:266: lists and mappings are nested deeper than 32 levels\n\
             deep.yaml: 1 error found, nothing changed\n"
                .to_string(),
        ),
    ] {
        let started = std::time::Instant::now();
        let ran = check(dir.path(), file, &[]);
        assert!(
            started.elapsed().as_secs() < 5,
            "{file}: took {:?}",
            started.elapsed()
        );
        assert_eq!(ran.code, 78, "{file}");
        assert_eq!(ran.stderr, want, "{file}");
    }
}

#[test]
fn a_token_with_a_line_break_or_control_character_is_refused_when_read() {
    let dir = Dir::new();
    let file = dir.write("do.token", "");
    set_mode(&file, 0o600);
    token_config(&dir, &file);
    let creds = dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("hz-token"), SECRET).unwrap();
    set_mode(&creds.join("hz-token"), 0o600);
    for (content, env, want) in [
        (
            format!("{SECRET}\n{SECRET}\n"),
            SECRET.to_string(),
            format!(
                "error: config.yaml:4:5: accounts[0].token: token from file {} holds a line break at character 35: a token is one line of printable ASCII (only surrounding white space is trimmed) (account do)\n",
                file.display()
            ),
        ),
        (
            format!("  {SECRET}\n"),
            format!("{SECRET}\u{7}"),
            "error: config.yaml:12:5: accounts[1].token: token from environment variable SK_TEST_VULTR holds a control character at character 35: a token is one line of printable ASCII (only surrounding white space is trimmed) (account vu)\n".to_string(),
        ),
    ] {
        std::fs::write(&file, content).unwrap();
        let mut cmd = snapkeeper();
        cmd.current_dir(dir.path())
            .args(["check", "--config", "config.yaml", "--resolve-secrets"])
            .env("SK_TEST_VULTR", env)
            .env("CREDENTIALS_DIRECTORY", &creds);
        let ran = run(&mut cmd);
        assert_eq!(ran.code, 78, "{}", ran.stderr);
        assert_eq!(ran.stderr, want);
        assert!(!ran.stderr.contains(SECRET) && !ran.stdout.contains(SECRET));
    }
}

#[test]
fn a_token_pasted_as_a_source_name_is_never_printed() {
    let dir = Dir::new();
    let token = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    dir.write(
        "c.yaml",
        &format!(
            "accounts:\n  - name: vu\n    provider: vultr\n    token: {{ env: {token} }}\n  - name: hz\n    provider: hetzner\n    token: {{ {token}: x }}\n"
        ),
    );
    let ran = check(dir.path(), "c.yaml", &["--resolve-secrets"]);
    assert_eq!(ran.code, 78);
    assert!(!ran.stderr.contains(token), "{}", ran.stderr);
    assert!(ran.stderr.contains("c.yaml:4:19: accounts[0].token.env: the value of `env` looks like an API token itself (not printed)"), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("c.yaml:7:14: accounts[1].token.<redacted>: unknown key `<redacted>`"),
        "{}",
        ran.stderr
    );
}
