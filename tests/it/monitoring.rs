//! Monitoring (issue 12): `snapkeeper status` exit codes for OK, WARN, CRIT
//! and UNKNOWN against the simulator with a read-only token; a scrape of the
//! real daemon's `/metrics` parsed with `prometheus-parse` and checked
//! against the simulator's state (and by `promtool check metrics`); series of
//! a resource that went away are removed; webhooks: one failure and one
//! recovery message, neither holding a token; the shipped alert rules
//! through `promtool check rules` and `promtool test rules`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use snapkeeper::policy::Marker;

use crate::daemon::{Daemon, World, add_fault, sim_snapshots};
use crate::harness::{Dir, SimProcess, run, snapkeeper, wait_for};

const RW: &str = "dop_v1_0b5e000000000000000000000000000000000000000000000000000000000001";
const RO: &str = "dop_v1_0b5e000000000000000000000000000000000000000000000000000000000002";
const WEB: &str = "301000101";
const POLICY: &str = "six-hourly";

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

fn marker(account: &str, age: chrono::Duration) -> Marker {
    Marker {
        account: account.into(),
        policy: POLICY.into(),
        resource_id: WEB.into(),
        created: now() - age,
    }
}

/// A DigitalOcean seed: droplet web-1 with these managed snapshots.
fn seed(snaps: &[Marker]) -> String {
    let ts = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut s = format!(
        "settings: {{ time_scale: 0.001 }}\ndigitalocean:\n  accounts:\n    - name: team\n      tokens:\n        - {{ token: {RW} }}\n        - {{ token: {RO}, read_only: true }}\n      droplets:\n        - id: {WEB}\n          name: web-1\n          region: fra1\n          tags: [backup]\n          snapshots:\n"
    );
    if snaps.is_empty() {
        s.push_str("            []\n");
    }
    for m in snaps {
        s.push_str(&format!(
            "            - {{ name: \"{}\", created_at: {}, size_gigabytes: 1.5 }}\n",
            m.encode(),
            ts(m.created)
        ));
    }
    s
}

fn token_file(dir: &Dir, name: &str, token: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.write(&format!("{name}.token"), token);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn account(dir: &Dir, name: &str, url: &str, token: &str, every: &str, extra: &str) -> String {
    let file = token_file(dir, name, token);
    format!(
        "  - name: {name}\n    provider: digitalocean\n    token: {{ file: {} }}\n    api_url: {url}\n    policies:\n      - {{ name: {POLICY}, targets: {{ kind: droplet, ids: [{WEB}] }}, every: {every}, keep: {{ last: 3 }}{extra} }}\n",
        file.display()
    )
}

fn status(config: &Path, args: &[&str]) -> crate::harness::Ran {
    run(snapkeeper()
        .arg("status")
        .arg("--config")
        .arg(config)
        .args(args))
}

#[test]
fn issue_12_status_exit_codes_ok_warn_crit_unknown_with_a_read_only_token() {
    let h = chrono::Duration::hours;
    let sim = SimProcess::start(Some(&seed(&[
        marker("fresh", h(1)),
        marker("stale", h(13)),
        marker("dead", h(19)),
        marker("lenient", h(13)),
    ])));
    let dir = Dir::new();
    let url = sim.url("digitalocean").to_string();
    let blocks = [
        account(&dir, "fresh", &url, RO, "6h", ""),
        account(&dir, "stale", &url, RO, "6h", ""),
        account(&dir, "dead", &url, RO, "6h", ""),
        account(&dir, "never", &url, RO, "6h", ""),
        // The override makes 13h fine.
        account(
            &dir,
            "lenient",
            &url,
            RO,
            "6h",
            ", alert: { warn: 14h, crit: 26h }",
        ),
        // Nothing listens on port 1: the provider is unreachable.
        account(&dir, "down", "http://127.0.0.1:1", RO, "6h", ""),
    ];
    let config = dir.write("config.yaml", &format!("accounts:\n{}", blocks.concat()));

    let cases: &[(&str, i32, &str, &str)] = &[
        ("fresh", 0, "SNAPKEEPER OK - 1 of 1 resources fresh", "OK"),
        (
            "stale",
            1,
            "SNAPKEEPER WARNING - 1 WARN",
            "older than 12h (warn",
        ),
        (
            "dead",
            2,
            "SNAPKEEPER CRITICAL - 1 CRIT",
            "older than 18h (crit",
        ),
        (
            "never",
            2,
            "SNAPKEEPER CRITICAL - 1 CRIT",
            "no complete snapshot",
        ),
        ("lenient", 0, "SNAPKEEPER OK", "old (warn after 14h)"),
        (
            "down",
            3,
            "SNAPKEEPER UNKNOWN - 1 unreadable (down)",
            "UNKNOWN",
        ),
    ];
    for (acct, code, first, row) in cases {
        let r = status(&config, &[acct]);
        assert_eq!(r.code, *code, "{acct}:\n{}\n{}", r.stdout, r.stderr);
        let mut lines = r.stdout.lines();
        assert!(
            lines.next().unwrap_or("").starts_with(first),
            "{acct}:\n{}",
            r.stdout
        );
        assert!(
            lines.next().unwrap_or("").starts_with("ACCOUNT  POLICY"),
            "{acct}:\n{}",
            r.stdout
        );
        assert!(r.stdout.contains(row), "{acct}:\n{}", r.stdout);
        for t in [RW, RO] {
            assert!(
                !r.stdout.contains(t) && !r.stderr.contains(t),
                "token shown"
            );
        }
    }

    // All accounts: CRIT wins over WARN and UNKNOWN; --json says the same.
    let r = status(&config, &["--json"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["state"], "CRITICAL");
    assert_eq!(v["exit_code"], 2);
    let accounts = v["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 6);
    let by: BTreeMap<&str, &Value> = accounts
        .iter()
        .map(|a| (a["account"].as_str().unwrap(), a))
        .collect();
    let res = &by["stale"]["resources"][0];
    assert_eq!(res["resource_id"], WEB);
    assert_eq!(res["resource_name"], "web-1");
    assert_eq!(res["policy"], POLICY);
    assert_eq!(res["freshness"]["level"], "WARN");
    assert_eq!(res["complete"], 1);
    let age = res["freshness"]["age_seconds"].as_u64().unwrap();
    assert!((13 * 3600..13 * 3600 + 120).contains(&age), "{age}");
    assert!(by["down"]["error"].as_str().unwrap().contains("down"));
    assert!(by["never"]["resources"][0]["newest_complete"].is_null());

    // Nothing was written: a read-only token was enough, and no snapshot came or went.
    assert_eq!(sim_snapshots(&sim).len(), 4);
}

// ---------------------------------------------------------------------------
// promtool

/// `promtool`, or `None` with a loud note; under `CI=true` its absence fails.
pub fn promtool() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let msg = "promtool not found: install the Debian package `prometheus` (apt-get install -y prometheus); the metrics and alert-rule checks did NOT run";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("\n!!!!!!!! SKIPPED: {msg} !!!!!!!!\n");
    }
    found
}

fn contrib() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/prometheus")
}

#[test]
fn issue_12_shipped_alert_rules_pass_promtool_check_and_unit_tests() {
    let Some(promtool) = promtool() else { return };
    let r = run(std::process::Command::new(&promtool)
        .args(["check", "rules"])
        .arg(contrib().join("snapkeeper.rules.yml")));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let r = run(std::process::Command::new(&promtool)
        .args(["test", "rules"])
        .arg(contrib().join("tests.yml")));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("SUCCESS"), "{}", r.stdout);
}

// ---------------------------------------------------------------------------
// The daemon's /metrics

fn get(url: &str) -> (u16, String, String) {
    get_accepting(url, "*/*")
}

pub fn get_accepting(url: &str, accept: &str) -> (u16, String, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let resp = reqwest::Client::new()
            .get(url)
            .header("accept", accept)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (status, ctype, resp.text().await.unwrap_or_default())
    })
}

pub fn metrics_url(d: &mut Daemon) -> String {
    let line = d.wait("metrics served", |l| l.is("metrics served at /metrics"));
    format!("http://{}/metrics", line.get("listen").unwrap())
}

/// Samples of `name` whose labels include every pair of `want`.
fn samples<'a>(
    page: &'a prometheus_parse::Scrape,
    name: &str,
    want: &[(&str, &str)],
) -> Vec<&'a prometheus_parse::Sample> {
    page.samples
        .iter()
        .filter(|s| s.metric == name && want.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
        .collect()
}

fn value(s: &prometheus_parse::Sample) -> f64 {
    match s.value {
        prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Untyped(v) => v,
        _ => f64::NAN,
    }
}

fn parse(text: &str) -> prometheus_parse::Scrape {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).unwrap_or_else(|e| panic!("{e}:\n{text}"))
}

#[test]
fn issue_12_metrics_scrape_of_the_daemon_matches_the_simulator() {
    let newest = marker("acct", chrono::Duration::minutes(30));
    let older = marker("acct", chrono::Duration::hours(3));
    let w = World::new(&seed(&[newest.clone(), older]));
    let url = w.sim.url("digitalocean").to_string();
    let body = account(&w.dir, "acct", &url, RW, "6h", "");
    w.write_config(&format!(
        "metrics: {{ listen: \"127.0.0.1:0\" }}\naccounts:\n{body}"
    ));
    let mut d = w.start();
    let url = metrics_url(&mut d);
    d.wait("a cycle", |l| l.is("cycle finished"));

    // What Prometheus asks for: OpenMetrics.
    let (status, ctype, open) = get_accepting(&url, "application/openmetrics-text; version=1.0.0");
    assert_eq!(status, 200);
    assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
    assert!(open.ends_with("# EOF\n"), "{open}");
    assert!(open.contains("# TYPE snapkeeper_cycles counter"), "{open}");
    // Anything else: the classic text format, which prometheus-parse and promtool read.
    let (status, ctype, text) = get(&url);
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let page = parse(&text);
    let me = [
        ("account", "acct"),
        ("policy", POLICY),
        ("resource", WEB),
        ("resource_name", "web-1"),
    ];
    let one = |name: &str, extra: &[(&str, &str)]| -> f64 {
        let mut want = me.to_vec();
        want.extend_from_slice(extra);
        let found = samples(&page, name, &want);
        assert_eq!(found.len(), 1, "{name} {extra:?}:\n{text}");
        value(found[0])
    };
    // The simulator holds two complete managed snapshots of web-1.
    let sim_count = sim_snapshots(&w.sim)
        .iter()
        .filter(|s| s.managed_by("acct", POLICY, WEB) && s.done)
        .count();
    assert_eq!(sim_count, 2);
    assert_eq!(
        one("snapkeeper_last_success_timestamp_seconds", &[]),
        newest.created.timestamp() as f64
    );
    let age = one("snapkeeper_snapshot_age_seconds", &[]);
    assert!((1800.0..1800.0 + 120.0).contains(&age), "{age}");
    assert_eq!(
        one("snapkeeper_snapshots", &[("state", "complete")]),
        sim_count as f64
    );
    assert_eq!(
        one("snapkeeper_snapshots", &[("state", "in_progress")]),
        0.0
    );
    assert_eq!(
        one("snapkeeper_snapshot_size_bytes", &[]),
        2.0 * 1.5 * 1_073_741_824.0
    );
    assert_eq!(one("snapkeeper_freshness", &[]), 0.0);
    assert_eq!(one("snapkeeper_resource_failing", &[]), 0.0);
    let th = samples(
        &page,
        "snapkeeper_freshness_warn_seconds",
        &[("account", "acct")],
    );
    assert_eq!(th.len(), 1);
    assert_eq!(value(th[0]), 12.0 * 3600.0);
    assert_eq!(samples(&page, "snapkeeper_build_info", &[]).len(), 1);
    assert_eq!(
        value(samples(&page, "snapkeeper_config_last_reload_success", &[])[0]),
        1.0
    );
    let listed = samples(
        &page,
        "snapkeeper_http_requests_total",
        &[
            ("provider", "digitalocean"),
            ("endpoint", "GET /v2/droplets"),
            ("status", "200"),
        ],
    );
    assert!(
        listed.len() == 1 && value(listed[0]) >= 1.0,
        "no droplet listing counted:\n{text}"
    );
    assert_eq!(
        value(samples(&page, "snapkeeper_cycles_total", &[("account", "acct")])[0]),
        1.0
    );
    assert!(!text.contains(RW), "a token on the metrics page");

    // Every metric the shipped rules and dashboard use is one the daemon serves.
    let families: std::collections::BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    for file in [
        contrib().join("snapkeeper.rules.yml"),
        contrib().join("../grafana/snapkeeper-dashboard.json"),
    ] {
        let body = std::fs::read_to_string(&file).unwrap();
        for word in body.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            // The ha families have series only with `ha:` (the ha tests
            // check those against a replica's page).
            if !word.starts_with("snapkeeper_") || word.starts_with("snapkeeper_ha_") {
                continue;
            }
            let base = word.strip_suffix("_bucket").unwrap_or(word);
            assert!(
                families.contains(word) || families.contains(base),
                "{} uses {word}, which the daemon does not serve",
                file.display()
            );
        }
    }

    if let Some(promtool) = promtool() {
        let page_file = w.dir.write("scrape.txt", &text);
        let r = run(std::process::Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(std::fs::File::open(&page_file).unwrap()));
        assert_eq!(
            r.code, 0,
            "promtool check metrics:\n{}\n{}",
            r.stdout, r.stderr
        );
    }

    // The policy stops selecting web-1: its series go away (bounded cardinality).
    let mark = d.mark();
    let body = body.replace(&format!("ids: [{WEB}]"), "ids: [999]");
    w.write_config(&format!(
        "metrics: {{ listen: \"127.0.0.1:0\" }}\naccounts:\n{body}"
    ));
    d.wait_after(mark, "a cycle after the reload", |l| l.is("cycle finished"));
    let (_, _, text) = get(&url);
    assert!(
        !text.contains("resource=\"301000101\""),
        "web-1's series are still there:\n{text}"
    );
    d.stop();
}

// ---------------------------------------------------------------------------
// Webhooks

/// A tiny HTTP/1.1 receiver on 127.0.0.1:0 that answers 200 and keeps
/// (path, body) of every POST.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<(String, String)>>>,
}

impl Receiver {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let keep = got.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let keep = keep.clone();
                std::thread::spawn(move || serve(conn, &keep));
            }
        });
        Self { port, got }
    }

    fn got(&self) -> Vec<(String, String)> {
        self.got.lock().unwrap().clone()
    }
}

fn serve(conn: std::net::TcpStream, keep: &Mutex<Vec<(String, String)>>) {
    let mut out = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    loop {
        let mut first = String::new();
        if r.read_line(&mut first).unwrap_or(0) == 0 {
            return;
        }
        let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        keep.lock()
            .unwrap()
            .push((path, String::from_utf8_lossy(&body).into_owned()));
        let _ = out.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    }
}

#[test]
fn issue_12_webhooks_one_failure_one_recovery_without_the_token() {
    let w = World::new(&seed(&[marker("acct", chrono::Duration::seconds(30))]));
    let rx = Receiver::start();
    // Every create fails (500) three times over, then works again.
    add_fault(
        &w.sim,
        serde_json::json!({
            "provider": "digitalocean",
            "method": "POST",
            "path": "/v2/droplets/{droplet_id}/actions",
            "kind": { "status": 500 },
            "count": 3
        }),
    );
    let url = w.sim.url("digitalocean").to_string();
    let body = account(
        &w.dir,
        "acct",
        &url,
        RW,
        "2s",
        ", alert: { warn: 1h, crit: 2h }",
    );
    w.write_config(&format!(
        "notify:\n  webhooks:\n    - {{ url: \"http://127.0.0.1:{p}/json\", format: json }}\n    - {{ url: \"http://127.0.0.1:{p}/slack\", format: slack }}\naccounts:\n{body}",
        p = rx.port
    ));
    let mut d = w.start();
    // A failed cycle, then the snapshot taken once the fault is spent.
    d.wait("a failed cycle", |l| l.is("cycle finished with failures"));
    wait_for(Duration::from_secs(60), "the recovery message", || {
        (rx.got().len() >= 4).then_some(())
    });
    // A few more good cycles: still nothing new.
    let mark = d.mark();
    d.wait_count_after(mark, 2, "two more cycles", |l| l.is("cycle finished"));
    std::thread::sleep(Duration::from_millis(500));
    d.stop();

    let got = rx.got();
    let of = |path: &str| -> Vec<String> {
        got.iter()
            .filter(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
            .collect()
    };
    let (json, slack) = (of("/json"), of("/slack"));
    assert_eq!(json.len(), 2, "json messages: {json:#?}");
    assert_eq!(slack.len(), 2, "slack messages: {slack:#?}");
    let first: Value = serde_json::from_str(&json[0]).unwrap();
    let second: Value = serde_json::from_str(&json[1]).unwrap();
    assert_eq!(first["event"]["kind"], "problem", "{first:#}");
    assert_eq!(first["event"]["failing"], "provider_error", "{first:#}");
    assert_eq!(first["event"]["resource_name"], "web-1");
    assert_eq!(first["event"]["level"], "WARN");
    assert_eq!(second["event"]["kind"], "recovery", "{second:#}");
    assert_eq!(second["event"]["level"], "OK");
    let s0: Value = serde_json::from_str(&slack[0]).unwrap();
    let s1: Value = serde_json::from_str(&slack[1]).unwrap();
    assert!(
        s0["text"].as_str().unwrap().starts_with(
            "snapkeeper WARN: acct/web-1 (policy six-hourly): failing (provider_error)"
        ),
        "{s0}"
    );
    assert!(
        s1["text"]
            .as_str()
            .unwrap()
            .starts_with("snapkeeper RECOVERED: acct/web-1"),
        "{s1}"
    );
    for (_, b) in &got {
        for t in w.tokens() {
            assert!(!b.contains(&t), "a token in a webhook body: {b}");
        }
        assert!(!b.contains(RW));
    }
    d.assert_no_tokens(&w.tokens());
}

#[test]
fn issue_12_notify_test_sends_one_message() {
    let rx = Receiver::start();
    let dir = Dir::new();
    let config = dir.write(
        "config.yaml",
        &format!(
            "notify: {{ webhooks: [{{ url: \"http://127.0.0.1:{}/hook\", format: slack }}] }}\naccounts:\n{}",
            rx.port,
            account(&dir, "acct", "http://127.0.0.1:1", RO, "6h", "")
        ),
    );
    let r = run(snapkeeper().arg("notify-test").arg("--config").arg(&config));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.stdout.trim(), format!("sent: 127.0.0.1:{}", rx.port));
    let got = rx.got();
    assert_eq!(got.len(), 1);
    let v: Value = serde_json::from_str(&got[0].1).unwrap();
    assert!(
        v["text"]
            .as_str()
            .unwrap()
            .starts_with("snapkeeper: test message"),
        "{v}"
    );
}

#[test]
fn issue_12_status_line_tells_of_failing_backups() {
    // A read-only token: every create is refused (403), listings work.
    let w = World::new(&seed(&[marker("acct", chrono::Duration::seconds(30))]));
    let url = w.sim.url("digitalocean").to_string();
    w.write_config(&format!(
        "accounts:\n{}",
        account(
            &w.dir,
            "acct",
            &url,
            RO,
            "2s",
            ", alert: { warn: 1h, crit: 2h }"
        )
    ));
    let (mut d, n) = w.start_notified(&[]);
    n.ready_status(0, "READY=1");
    d.wait("a failed cycle", |l| l.is("cycle finished with failures"));
    let from = n.mark();
    d.signal("HUP");
    let (_, status) = n.ready_status(from, "READY=1 after SIGHUP");
    assert!(
        status.starts_with("1 account, 1 resource failing: acct/web-1 auth; 1 WARN, "),
        "{status:?}"
    );
    d.stop();
}
