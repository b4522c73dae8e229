//! `snapkeeper check --online` against `snapkeeper sim` (the built-in demo
//! fleet): a good token, a read-only token, a bad token and an unreachable
//! URL, each reported on its own line with the exit code that sums them up,
//! tokens from env, file and `--credentials-dir`, and never a write.

use serde_json::Value;

use crate::harness::{Dir, Ran, SimProcess, run, snapkeeper};

const BAD: &str = "SKTESTBADTOKEN0000000000000000000000";

fn account(name: &str, provider: &str, token: &str, url: &str, kind: &str) -> String {
    format!(
        "  - name: {name}\n    provider: {provider}\n    token: {token}\n    api_url: {url}\n    policies:\n      - name: daily\n        targets: {{ kind: {kind}, all: true }}\n        every: 24h\n        keep: {{ last: 3 }}\n"
    )
}

fn check_online(dir: &Dir, extra: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut cmd = snapkeeper();
    cmd.current_dir(dir.path())
        .args(["check", "--online", "--config", "config.yaml"])
        .args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

/// Every request the simulator saw, as (method, path).
fn requests(sim: &SimProcess) -> Vec<(String, String)> {
    let url = format!("{}/requests", sim.url("control"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let v: Value = rt.block_on(async {
        let resp = reqwest::get(&url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert!(resp.status().is_success(), "{url}: {}", resp.status());
        resp.json().await.unwrap()
    });
    v.as_array()
        .unwrap_or_else(|| panic!("/_sim/requests is not a list: {v}"))
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap_or_default().to_string(),
                r["path"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn good_read_only_bad_and_unreachable_are_told_apart() {
    let sim = SimProcess::start(None);
    let dir = Dir::new();
    let creds = dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("do-rw"), sim.token("digitalocean", false)).unwrap();
    let hz_file = dir.write("hz.token", sim.token("hetzner", false));
    std::fs::set_permissions(
        &hz_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let do_url = sim.url("digitalocean");
    let vu_url = sim.url("vultr");
    let hz_url = sim.url("hetzner");
    let down = "http://127.0.0.1:1/hetzner/v1";
    let config = [
        "accounts:\n".to_string(),
        account(
            "do-rw",
            "digitalocean",
            "{ credential: do-rw }",
            do_url,
            "droplet",
        ),
        account(
            "do-ro",
            "digitalocean",
            "{ env: SK_DO_RO }",
            do_url,
            "droplet",
        ),
        account("vu-ro", "vultr", "{ env: SK_VU_RO }", vu_url, "instance"),
        account("vu-bad", "vultr", "{ env: SK_BAD }", vu_url, "instance"),
        account(
            "hz-rw",
            "hetzner",
            &format!("{{ file: {} }}", hz_file.display()),
            hz_url,
            "server",
        ),
        account("hz-bad", "hetzner", "{ env: SK_BAD }", hz_url, "server"),
        account("hz-down", "hetzner", "{ env: SK_BAD }", down, "server"),
    ]
    .concat();
    dir.write("config.yaml", &config);

    let creds_arg = creds.display().to_string();
    let ran = check_online(
        &dir,
        &["--credentials-dir", &creds_arg],
        &[
            ("SK_DO_RO", sim.token("digitalocean", true)),
            ("SK_VU_RO", sim.token("vultr", true)),
            ("SK_BAD", BAD),
        ],
    );
    assert_eq!(
        ran.code, 1,
        "some work, some do not: partial\n{}{}",
        ran.stdout, ran.stderr
    );
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 9, "{}", ran.stdout);
    assert_eq!(lines[0], "ok: 7 accounts, 7 policies");
    let do_note = "read-only or read-write: unknown (DigitalOcean shows a token's scopes only by refusing a write with 403)";
    let vu_note =
        "read-only or read-write: unknown (a Vultr key has its user's rights; no read shows them)";
    let hz_note = "read-only or read-write: unknown (Hetzner shows a Read token only by refusing a write with token_readonly)";
    let works = |line: &str, head: &str, note: &str| {
        assert!(
            line.starts_with(&format!("{head}: token works (")) && line.ends_with(note),
            "{line}"
        );
    };
    works(
        lines[1],
        &format!("account do-rw (digitalocean, {do_url})"),
        do_note,
    );
    works(
        lines[2],
        &format!("account do-ro (digitalocean, {do_url})"),
        do_note,
    );
    works(
        lines[3],
        &format!("account vu-ro (vultr, {vu_url})"),
        vu_note,
    );
    assert!(
        lines[4].starts_with(&format!(
            "account vu-bad (vultr, {vu_url}): 401 unauthorized, the token is wrong or revoked: "
        )),
        "{}",
        lines[4]
    );
    works(
        lines[5],
        &format!("account hz-rw (hetzner, {hz_url})"),
        hz_note,
    );
    assert!(
        lines[6].starts_with(&format!(
            "account hz-bad (hetzner, {hz_url}): 401 unauthorized, the token is wrong or revoked: "
        )),
        "{}",
        lines[6]
    );
    assert!(
        lines[7].starts_with(&format!("account hz-down (hetzner, {down}): unreachable: ")),
        "{}",
        lines[7]
    );
    assert_eq!(
        lines[8],
        "online: 4 of 7 accounts reachable with a working token"
    );

    // The same count whatever the token: read-only and read-write look alike.
    let count = |line: &str| {
        line.split(" token works (")
            .nth(1)
            .map(|r| r.split(' ').next().unwrap().to_string())
    };
    assert_eq!(count(lines[1]), count(lines[2]));

    // Never a token in the output, never a write at the provider.
    for t in &sim.tokens {
        assert!(!ran.stdout.contains(&t.token) && !ran.stderr.contains(&t.token));
    }
    assert!(!ran.stdout.contains(BAD) && !ran.stderr.contains(BAD));
    let seen = requests(&sim);
    assert!(!seen.is_empty());
    let writes: Vec<_> = seen.iter().filter(|(m, _)| m != "GET").collect();
    assert!(writes.is_empty(), "check --online wrote: {writes:?}");
}

#[test]
fn all_good_exits_0_and_none_exits_2() {
    let sim = SimProcess::start(None);
    let dir = Dir::new();
    let config = [
        "accounts:\n".to_string(),
        account(
            "do-main",
            "digitalocean",
            "{ env: SK_DO }",
            sim.url("digitalocean"),
            "droplet",
        ),
        account(
            "vultr-main",
            "vultr",
            "{ env: SK_VU }",
            sim.url("vultr"),
            "instance",
        ),
        account(
            "hetzner-main",
            "hetzner",
            "{ env: SK_HZ }",
            sim.url("hetzner"),
            "server",
        ),
    ]
    .concat();
    dir.write("config.yaml", &config);
    let ran = check_online(
        &dir,
        &[],
        &[
            ("SK_DO", sim.token("digitalocean", false)),
            ("SK_VU", sim.token("vultr", false)),
            ("SK_HZ", sim.token("hetzner", false)),
        ],
    );
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    assert_eq!(
        ran.stdout.matches(": token works (").count(),
        3,
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .ends_with("online: 3 of 3 accounts reachable with a working token\n")
    );

    // No token at all: each account says which source is missing, no request is sent.
    let ran = check_online(&dir, &[], &[]);
    assert_eq!(ran.code, 2, "{}{}", ran.stdout, ran.stderr);
    assert_eq!(
        ran.stdout
            .matches(": no request sent: token environment variable SK_")
            .count(),
        3,
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .ends_with("online: 0 of 3 accounts reachable with a working token\n")
    );
}

#[test]
fn credentials_dir_feeds_credential_tokens_to_check() {
    let dir = Dir::new();
    let creds = dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("hz"), "SKTESTSECRET").unwrap();
    std::fs::set_permissions(
        creds.join("hz"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    dir.write(
        "config.yaml",
        &[
            "accounts:\n".to_string(),
            account(
                "hz",
                "hetzner",
                "{ credential: hz }",
                "http://127.0.0.1:1/v1",
                "server",
            ),
        ]
        .concat(),
    );
    let mut cmd = snapkeeper();
    cmd.current_dir(dir.path())
        .args(["check", "--resolve-secrets", "--config", "config.yaml"]);
    let without = run(&mut cmd);
    assert_eq!(without.code, 78, "{}", without.stderr);
    assert!(
        without.stderr.contains("--credentials-dir"),
        "{}",
        without.stderr
    );
    let with = run(cmd.arg("--credentials-dir").arg(&creds));
    assert_eq!(with.code, 0, "{}", with.stderr);
    assert_eq!(with.stdout, "ok: 1 account, 1 policy\n");
    assert!(!with.stdout.contains("SKTESTSECRET") && !with.stderr.contains("SKTESTSECRET"));
}
