//! Case tables for validation: config texts and the exact diagnostics, the
//! `defaults` inheritance, `api_url` rules and the quota estimate.

use std::path::Path;

use super::*;
use crate::config::{ConfigError, MAX_CONFIG_BYTES, parse_bytes, parse_str};

const HEAD: &str =
    "accounts:\n  - name: a\n    provider: digitalocean\n    token: { env: T }\n    policies:\n";

fn errors(text: &str) -> Vec<String> {
    match parse_str(text, Path::new("c.yaml")) {
        Ok(_) => Vec::new(),
        Err(ConfigError::Invalid { errors, .. }) => {
            errors.iter().map(ToString::to_string).collect()
        }
        Err(e) => vec![e.to_string()],
    }
}

fn config(text: &str) -> Config {
    match parse_str(text, Path::new("c.yaml")) {
        Ok(l) => l.config,
        Err(e) => panic!("{e}: {:?}", errors(text)),
    }
}

#[test]
fn policy_rules_table() {
    // (policy lines under `policies:`, expected errors without the "c.yaml:" prefix)
    let cases: &[(&str, &[&str])] = &[
        (
            "      - { name: p, targets: { kind: droplet, all: true }, every: 6h, keep: { within: 7d } }\n",
            &[],
        ),
        (
            "      - { name: p, targets: { kind: droplet, ids: [1234] }, cron: \"0 3 * * 7\", timezone: Asia/Tokyo, start: now, keep: { daily: 7 } }\n",
            &[],
        ),
        (
            "      - { name: P, targets: { kind: droplet, all: true }, every: 6h, keep: { within: 7d } }\n",
            &[
                "6:17: accounts[0].policies[0].name: invalid policy name `P`: use 1-32 characters a-z, 0-9 and -, starting with a letter or digit",
            ],
        ),
        (
            "      - { name: p, targets: { kind: droplet, all: true }, every: 59s, keep: { within: 7d } }\n",
            &[
                "6:66: accounts[0].policies[0].every: every 59s is shorter than 1 minute (account `a`): allowed only when api_url is a loopback address",
            ],
        ),
        (
            "      - { name: p, targets: { kind: droplet, all: true }, every: 6h, keep: { last: 0 }, max_deletes_per_run: -1 }\n",
            &[
                "6:76: accounts[0].policies[0].keep: keep names no rule with a non-zero value (within, last, hourly, daily, weekly, monthly, yearly); e.g. keep: { within: 7d }",
                "6:110: accounts[0].policies[0].max_deletes_per_run: invalid value: integer `-1`, expected u32",
            ],
        ),
        (
            "      - { name: p, targets: { kind: droplet, all: true, exclude: { all: false } }, every: 6h, keep: { last: 1 } }\n",
            &[
                "6:66: accounts[0].policies[0].targets.exclude: exclude selects nothing: give `all: true`, `ids`, `names` or `tags`",
            ],
        ),
    ];
    for (policy, want) in cases {
        let text = format!("{HEAD}{policy}");
        let got = errors(&text);
        let want: Vec<String> = want.iter().map(|w| format!("c.yaml:{w}")).collect();
        assert_eq!(got, want, "{policy}");
    }
}

#[test]
fn defaults_are_inherited_and_overridden() {
    let text = "defaults:\n  every: 6h\n  timezone: Europe/Berlin\n  keep: { within: 7d, min_keep: 2 }\n  max_deletes_per_run: 3\n  targets: { kind: droplet, all: true }\naccounts:\n  - name: a\n    provider: digitalocean\n    token: { env: T }\n    policies:\n      - name: plain\n      - name: own\n        cron: \"0 4 * * *\"\n        keep: { last: 5 }\n        targets: { kind: volume, names: [\"db-*\"] }\n        max_deletes_per_run: 1\n        timezone: UTC\n";
    let c = config(text);
    let plain = &c.accounts[0].policies[0];
    assert_eq!(
        plain.schedule,
        Schedule::Every(Duration::from_secs(6 * 3600))
    );
    assert_eq!(plain.timezone, Tz::Europe__Berlin);
    assert_eq!(plain.keep.within, Some(Duration::from_secs(7 * 86400)));
    assert_eq!(plain.keep.min_keep, 2);
    assert_eq!(plain.max_deletes_per_run, 3);
    assert_eq!(plain.targets.kind, TargetKind::Droplet);
    assert!(plain.targets.include.all);
    let own = &c.accounts[0].policies[1];
    assert!(
        matches!(&own.schedule, Schedule::Cron(c) if c.expr == "0 4 * * *" && c.start == CronStart::NextSlot)
    );
    // keep replaces as a whole: no within, min_keep back to its default.
    assert_eq!(
        own.keep,
        KeepRules {
            last: 5,
            min_keep: 1,
            ..KeepRules::default()
        }
    );
    assert_eq!(own.max_deletes_per_run, 1);
    assert_eq!(own.timezone, Tz::UTC);
    assert_eq!(own.targets.kind, TargetKind::Volume);
    assert_eq!(own.targets.include.names, vec!["db-*".to_string()]);
    assert_eq!(c.accounts[0].api_url, "https://api.digitalocean.com");
    assert!(!c.accounts[0].prune_orphans);
}

#[test]
fn account_fields_are_checked_types() {
    let text = "accounts:\n  - name: h\n    provider: hetzner\n    token: { credential: hz }\n    api_url: http://127.0.0.1:7070/\n    prune_orphans: true\n    policies:\n      - name: p\n        targets: { kind: server, labels: { tier: 1 }, exclude: { ids: [7] } }\n        every: 1s\n        keep: { hourly: 2 }\n";
    let c = config(text);
    let a = &c.accounts[0];
    assert_eq!(a.provider, ProviderKind::Hetzner);
    assert_eq!(a.token, TokenSource::Credential("hz".into()));
    assert_eq!(a.api_url, "http://127.0.0.1:7070/v1");
    assert!(a.prune_orphans);
    let t = &a.policies[0].targets;
    assert_eq!(t.include.labels.get("tier").map(String::as_str), Some("1"));
    assert_eq!(
        t.exclude.as_ref().map(|x| x.ids.clone()),
        Some(vec!["7".to_string()])
    );
}

#[test]
fn api_url_table() {
    type Case<'a> = (&'a str, Result<(&'a str, bool), &'a str>);
    let cases: &[Case] = &[
        (
            "https://api.example.com/v2/",
            Ok(("https://api.example.com/v2", false)),
        ),
        ("http://127.0.0.1:7070", Ok(("http://127.0.0.1:7070", true))),
        ("http://127.5.5.5", Ok(("http://127.5.5.5", true))),
        ("http://[::1]:8080/", Ok(("http://[::1]:8080", true))),
        ("http://LOCALHOST:1", Ok(("http://LOCALHOST:1", true))),
        ("https://localhost", Ok(("https://localhost", true))),
        (
            "http://10.0.0.1",
            Err("uses http:// to a non-loopback host"),
        ),
        (
            "http://localhost.evil.com",
            Err("uses http:// to a non-loopback host"),
        ),
        ("ftp://x", Err("must start with https://")),
        ("https://", Err("has no host")),
        ("https://u:p@host", Err("must not contain a user name")),
        ("https://host:99999", Err("invalid port")),
        ("http://[::1", Err("unclosed [")),
    ];
    for (url, want) in cases {
        match (check_api_url(url), want) {
            (Ok((u, l)), Ok((wu, wl))) => assert_eq!((u.as_str(), l), (*wu, *wl), "{url}"),
            (Err(e), Err(w)) => assert!(e.contains(w), "{url}: {e}"),
            (got, _) => panic!("{url}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn steady_state_estimate_table() {
    let h = |n: u64| Schedule::Every(Duration::from_secs(n * 3600));
    let keep = |f: fn(&mut KeepRules)| {
        let mut k = KeepRules {
            min_keep: 1,
            ..KeepRules::default()
        };
        f(&mut k);
        k
    };
    let cron = |e: &str| {
        Schedule::Cron(Box::new(
            CronSchedule::parse(e, CronStart::NextSlot).unwrap(),
        ))
    };
    let cases: Vec<(Schedule, KeepRules, u64)> = vec![
        (
            h(6),
            keep(|k| k.within = Some(Duration::from_secs(7 * 86400))),
            29,
        ),
        (
            h(24),
            keep(|k| k.within = Some(Duration::from_secs(7 * 86400))),
            8,
        ),
        (h(1), keep(|k| k.last = 10), 10),
        (h(1), keep(|k| k.hourly = 24), 24),
        (
            h(1),
            keep(|k| {
                k.hourly = 24;
                k.daily = 7
            }),
            29,
        ),
        (
            h(24),
            keep(|k| {
                k.daily = 7;
                k.weekly = 4
            }),
            9,
        ),
        (cron("0 3 * * *"), keep(|k| k.daily = 30), 30),
        (cron("0 3 * * 0"), keep(|k| k.daily = 30), 30),
        (
            h(6),
            keep(|k| {
                k.last = 1;
                k.min_keep = 3
            }),
            3,
        ),
    ];
    // Absurd spans stay bounded and do not overflow.
    let huge = keep(|k| {
        k.within = Some(Duration::from_secs(u64::MAX / 2));
        k.yearly = u32::MAX
    });
    assert!(steady_state_count(&h(1), Tz::UTC, &huge) > DO_VOLUME_SNAPSHOT_QUOTA);
    assert!(steady_state_count(&cron("* * * * *"), Tz::UTC, &huge) > DO_VOLUME_SNAPSHOT_QUOTA);
    for (s, k, want) in cases {
        assert_eq!(steady_state_count(&s, Tz::UTC, &k), want, "{s:?} {k:?}");
    }
}

#[test]
fn helpers_table() {
    for (path, want) in [("a.b[2]", "a.b"), ("a.b", "a"), ("a", ""), ("", "")] {
        assert_eq!(parent(path), want);
    }
    for (msg, want) in [
        (
            "bad at line 3 column 5, while x at line 1 column 2",
            "bad, while x",
        ),
        ("at line one", "at line one"),
        ("plain", "plain"),
    ] {
        assert_eq!(tidy(msg), want);
    }
    for (tag, ok) in [
        ("env:prod", true),
        ("a_b-c", true),
        ("", false),
        ("a b", false),
    ] {
        assert_eq!(is_do_tag(tag), ok, "{tag}");
    }
    assert!(!is_do_tag(&"x".repeat(256)));
}

#[test]
fn monitoring_keys_table() {
    // (text after HEAD's policy, expected errors without the "c.yaml:" prefix)
    let p = "      - { name: p, targets: { kind: droplet, all: true }, every: 6h, keep: { within: 7d } }\n";
    let cases: &[(String, &[&str])] = &[
        (
            format!("{HEAD}{p}metrics: {{ listen: 127.0.0.1:9187 }}\n"),
            &[],
        ),
        (format!("{HEAD}{p}metrics: {{}}\n"), &[]),
        (
            format!("{HEAD}{p}metrics: {{ listen: localhost }}\n"),
            &[
                "7:20: metrics.listen: invalid listen address `localhost`: write ip:port, e.g. 127.0.0.1:9187 or [::1]:9187",
            ],
        ),
        (
            format!("{HEAD}{p}metrics: {{ port: 9187 }}\n"),
            &["7:12: metrics.port: unknown key `port`, expected `listen`"],
        ),
        (
            format!(
                "{HEAD}{p}notify: {{ webhooks: [{{ url: \"https://hooks.example/x\", format: slack }}, {{ url: \"http://127.0.0.1:1/h\" }}] }}\n"
            ),
            &[],
        ),
        (
            format!(
                "{HEAD}{p}notify: {{ webhooks: [{{ url: \"ftp://x/y\" }}, {{ format: xml }}] }}\n"
            ),
            &[
                "7:29: notify.webhooks[0].url: webhook url must be http:// or https:// with a host, found scheme `ftp`",
                "7:44: notify.webhooks[1]: missing key `url`: the address to POST to, e.g. https://hooks.slack.com/services/...",
                "7:54: notify.webhooks[1].format: unknown variant `xml`, expected `json` or `slack`",
            ],
        ),
        (
            format!(
                "{HEAD}      - {{ name: p, targets: {{ kind: droplet, all: true }}, every: 6h, keep: {{ within: 7d }}, alert: {{ warn: 14h, crit: 26h }} }}\n"
            ),
            &[],
        ),
        (
            format!(
                "{HEAD}      - {{ name: p, targets: {{ kind: droplet, all: true }}, every: 6h, keep: {{ within: 7d }}, alert: {{ warn: 26h, crit: 14h }} }}\n"
            ),
            &[
                "6:107: accounts[0].policies[0].alert.warn: alert.warn (1d2h) must be shorter than alert.crit (14h)",
            ],
        ),
        (
            format!(
                "{HEAD}      - {{ name: p, targets: {{ kind: droplet, all: true }}, every: 6h, keep: {{ within: 7d }}, alert: {{ warn: soon }} }}\n"
            ),
            &[
                "6:107: accounts[0].policies[0].alert.warn: invalid duration `soon`: expected number at 0; write e.g. 30m, 6h, 7d or 1w",
            ],
        ),
        (
            format!(
                "{HEAD}      - {{ name: p, targets: {{ kind: droplet, all: true }}, every: 6h, keep: {{ within: 7d }}, alert: {{}} }}\n"
            ),
            &[
                "6:99: accounts[0].policies[0].alert: alert names no threshold: give warn, crit or both, e.g. alert: { warn: 14h, crit: 26h }",
            ],
        ),
    ];
    for (text, want) in cases {
        let got = errors(text);
        let want: Vec<String> = want.iter().map(|w| format!("c.yaml:{w}")).collect();
        assert_eq!(got, want, "{text}");
    }
}

#[test]
fn api_url_is_normalized_per_provider() {
    use ProviderKind::{DigitalOcean as Do, Hetzner as Hz, Vultr as Vu};
    // (provider, as written, the base its client is given, or a part of the error)
    let cases: &[(ProviderKind, &str, Result<&str, &str>)] = &[
        (
            Do,
            "https://api.digitalocean.com",
            Ok("https://api.digitalocean.com"),
        ),
        (
            Do,
            "https://api.digitalocean.com/v2",
            Ok("https://api.digitalocean.com"),
        ),
        (
            Do,
            "https://api.digitalocean.com/v2/",
            Ok("https://api.digitalocean.com"),
        ),
        (
            Do,
            "http://127.0.0.1:7070/digitalocean",
            Ok("http://127.0.0.1:7070/digitalocean"),
        ),
        (
            Do,
            "http://127.0.0.1:7070/digitalocean/v2",
            Ok("http://127.0.0.1:7070/digitalocean"),
        ),
        (
            Vu,
            "https://api.vultr.com/v2",
            Ok("https://api.vultr.com/v2"),
        ),
        (Vu, "https://api.vultr.com", Ok("https://api.vultr.com/v2")),
        (Vu, "https://api.vultr.com/", Ok("https://api.vultr.com/v2")),
        (
            Vu,
            "http://127.0.0.1:7070/vultr",
            Ok("http://127.0.0.1:7070/vultr/v2"),
        ),
        (
            Hz,
            "https://api.hetzner.cloud/v1",
            Ok("https://api.hetzner.cloud/v1"),
        ),
        (
            Hz,
            "https://api.hetzner.cloud",
            Ok("https://api.hetzner.cloud/v1"),
        ),
        (
            Hz,
            "http://[::1]:80/hetzner/v1/",
            Ok("http://[::1]:80/hetzner/v1"),
        ),
        (
            Vu,
            "https://api.vultr.com/v1",
            Err("names API version v1, but snapkeeper speaks vultr API v2"),
        ),
        (
            Hz,
            "https://api.hetzner.cloud/v2",
            Err("names API version v2"),
        ),
        (
            Do,
            "https://api.digitalocean.com/v1",
            Err("names API version v1"),
        ),
        (
            Do,
            "https://api.digitalocean.com/v2?per_page=200",
            Err("has a query string"),
        ),
        (Vu, "https://api.vultr.com/v2/#x", Err("has a fragment")),
        (
            Hz,
            "https://api.hetzner.cloud/v1?",
            Err("has a query string"),
        ),
        (
            Hz,
            "https://token@api.hetzner.cloud/v1",
            Err("must not contain a user name"),
        ),
        (
            Hz,
            "https://api.hetzner.cloud/../v1",
            Err("`..` path segment"),
        ),
        (
            Hz,
            "https://api.hetzner.cloud//v1",
            Err("empty, `.` or `..` path segment"),
        ),
        (Vu, "https://api.vultr.com/v2 ", Err("white space")),
    ];
    for (provider, url, want) in cases {
        let text = format!(
            "accounts:\n  - name: a\n    provider: {provider}\n    token: {{ env: T }}\n    api_url: \"{url}\"\n"
        );
        match (parse_str(&text, Path::new("c.yaml")), want) {
            (Ok(l), Ok(base)) => assert_eq!(l.config.accounts[0].api_url, *base, "{url}"),
            (Err(ConfigError::Invalid { errors, .. }), Err(part)) => {
                assert_eq!(errors.len(), 1, "{url}: {errors:?}");
                assert!(errors[0].message.contains(part), "{url}: {}", errors[0]);
                assert_eq!(errors[0].line, Some(5), "{url}");
            }
            (got, _) => panic!("{provider} {url}: got {got:?}, want {want:?}"),
        }
    }
    // The defaults are the documented forms, and normalize to themselves.
    for p in [Do, Vu, Hz] {
        let base = normalize_api_url(p.default_api_url(), p).unwrap();
        assert_eq!(base, p.default_api_url(), "{p}");
    }
}

#[test]
fn monitoring_keys_are_checked_types() {
    let text = format!(
        "defaults: {{ alert: {{ warn: 20h }} }}\n{HEAD}      - {{ name: p, targets: {{ kind: droplet, all: true }}, every: 6h, keep: {{ within: 7d }} }}\n      - {{ name: q, targets: {{ kind: droplet, all: true }}, every: 6h, keep: {{ within: 7d }}, alert: {{ crit: 2d }} }}\nmetrics: {{}}\nnotify: {{ webhooks: [{{ url: \"https://hooks.example/x\", format: slack }}] }}\n"
    );
    let c = config(&text);
    let hours = |h: u64| Some(Duration::from_secs(h * 3600));
    assert_eq!(c.accounts[0].policies[0].alert.warn, hours(20));
    assert_eq!(c.accounts[0].policies[0].alert.crit, None);
    assert_eq!(c.accounts[0].policies[1].alert.warn, None);
    assert_eq!(c.accounts[0].policies[1].alert.crit, hours(48));
    assert_eq!(
        c.metrics.map(|m| m.listen.to_string()).as_deref(),
        Some("127.0.0.1:9187")
    );
    assert_eq!(c.notify.webhooks.len(), 1);
    assert_eq!(c.notify.webhooks[0].format, WebhookFormat::Slack);
    let none = config(&format!(
        "{HEAD}      - {{ name: p, targets: {{ kind: droplet, all: true }}, every: 6h, keep: {{ within: 7d }} }}\n"
    ));
    assert!(none.metrics.is_none() && none.notify.webhooks.is_empty());
}

#[test]
fn token_shaped_values_are_redacted() {
    let do_token = "dop_v1_4f8e1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";
    let vultr_key = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let hetzner = "jEheVytlAoFl7F8MqUQ7jAo2hOXASztX2ZU6l9mzYxuJ1nUpo0b0LWBqc0dgBfpa";
    for (text, shaped) in [
        (do_token, true),
        (vultr_key, true),
        (hetzner, true),
        ("DO_TOKEN", false),
        ("SNAPKEEPER_DIGITALOCEAN_PRODUCTION_TOKEN", false),
        ("/etc/snapkeeper/do.token", false),
        ("506f78a4-e098-11e5-ad9f-000f53306ae1", false),
        ("accounts[0].policies[0].max_deletes_per_run", false),
        ("abcdefghijklmnopqrstuvwxyzabcdefghij", false),
    ] {
        assert_eq!(is_token_shaped(text), shaped, "{text}");
    }
    assert_eq!(
        redact_tokens(&format!("unknown key `{do_token}`, expected `env`")),
        "unknown key `<redacted>`, expected `env`"
    );
    assert_eq!(
        redact_tokens(&format!("file /run/{hetzner}.txt")),
        "file /run/<redacted>.txt"
    );
    assert_eq!(redact_tokens("accounts[0].token"), "accounts[0].token");
    // Wherever a token lands in a broken file, no diagnostic prints it.
    for text in [
        format!("accounts:\n  - name: a\n    provider: vultr\n    token: {{ env: {vultr_key} }}\n"),
        format!("accounts:\n  - name: a\n    provider: vultr\n    token: {{ {vultr_key}: 1 }}\n"),
        format!("accounts:\n  - name: a\n    provider: vultr\n    token: {{ file: {hetzner} }}\n"),
        format!(
            "accounts:\n  - name: a\n    provider: vultr\n    token: {{ credential: {do_token} }}\n"
        ),
        format!("accounts:\n  - name: a\n    provider: vultr\n    token: {do_token}\n"),
        format!("accounts:\n  - name: {do_token}\n    provider: vultr\n    token: {{ env: T }}\n"),
        format!(
            "accounts:\n  - name: a\n    provider: vultr\n    token: {{ env: T }}\n    {hetzner}: x\n"
        ),
        format!("accounts:\n  - name: a\n    provider: {vultr_key}\n    token: {{ env: T }}\n"),
    ] {
        let got = errors(&text);
        assert!(!got.is_empty(), "{text}");
        for e in &got {
            for secret in [do_token, vultr_key, hetzner] {
                assert!(!e.contains(secret), "{e}");
            }
        }
    }
}

#[test]
fn selector_syntax_table() {
    let hz =
        "accounts:\n  - name: h\n    provider: hetzner\n    token: { env: T }\n    policies:\n";
    let vu = "accounts:\n  - name: v\n    provider: vultr\n    token: { env: T }\n    policies:\n";
    let pol = |targets: &str| {
        format!("      - {{ name: p, targets: {targets}, every: 6h, keep: {{ last: 2 }} }}\n")
    };
    // (account head, targets, the messages expected, in order)
    let cases: &[(&str, &str, &[&str])] = &[
        (HEAD, "{ kind: droplet, ids: [1, \"42\"] }", &[]),
        (
            HEAD,
            "{ kind: droplet, ids: [abc] }",
            &["invalid droplet id `abc`: digitalocean droplet ids are positive whole numbers"],
        ),
        (
            HEAD,
            "{ kind: droplet, ids: [-3] }",
            &["invalid droplet id `-3`"],
        ),
        (
            HEAD,
            "{ kind: volume, ids: [506f78a4-e098-11e5-ad9f-000f53306ae1] }",
            &[],
        ),
        (
            HEAD,
            "{ kind: volume, ids: [1234] }",
            &["invalid volume id `1234`: digitalocean volume ids are lowercase UUIDs"],
        ),
        (
            vu,
            "{ kind: instance, ids: [cb676a46-66fd-4dfb-b839-443f2e6c0b60] }",
            &[],
        ),
        (
            vu,
            "{ kind: instance, ids: [CB676A46-66FD-4DFB-B839-443F2E6C0B60] }",
            &["invalid instance id"],
        ),
        (
            hz,
            "{ kind: server, ids: [42], exclude: { ids: [web] } }",
            &["invalid server id `web`: hetzner server ids are positive whole numbers"],
        ),
        (
            HEAD,
            "{ kind: droplet, tags: [\"env:prod\", k8s_node] }",
            &[],
        ),
        (
            HEAD,
            "{ kind: droplet, tags: [\"a b\"] }",
            &["invalid tag `a b`: digitalocean tags are 1-255 characters"],
        ),
        (vu, "{ kind: instance, tags: [\"any text at all\"] }", &[]),
        (
            vu,
            "{ kind: instance, tags: [\" \"] }",
            &["invalid tag ` `: a tag is never empty"],
        ),
        (
            hz,
            "{ kind: server, labels: { env: prod, example.com/tier: \"1\", empty: \"\", hetzner.cloud/x: y } }",
            &[],
        ),
        (
            hz,
            "{ kind: server, labels: { -env: prod } }",
            &["invalid label key `-env`"],
        ),
        (
            hz,
            "{ kind: server, labels: { Example.com/tier: x } }",
            &["invalid label key `Example.com/tier`: the part before `/` must be a DNS subdomain"],
        ),
        (
            hz,
            "{ kind: server, labels: { env: \"prod east\" } }",
            &["invalid label value `prod east` for `env`"],
        ),
        (
            hz,
            &format!("{{ kind: server, labels: {{ env: {} }} }}", "a".repeat(64)),
            &["invalid label value"],
        ),
        (
            HEAD,
            "{ kind: droplet, names: [\"web-*\", \"db.example.com\", \"[A-Z]*\", \"{a,b}-c\"] }",
            &[],
        ),
        (
            HEAD,
            "{ kind: droplet, names: [\"web server-*\"] }",
            &[
                "name glob `web server-*` can never match: digitalocean droplet names hold only letters, digits, `.` and `-`, not ` `",
            ],
        ),
        (
            HEAD,
            "{ kind: volume, names: [\"Db-*\"] }",
            &[
                "name glob `Db-*` can never match: digitalocean volume names hold only lowercase letters, digits and `-`, not `D`",
            ],
        ),
        (
            HEAD,
            "{ kind: droplet, names: [\"\"] }",
            &["empty name glob"],
        ),
        (
            hz,
            "{ kind: server, names: [\"web_*\"] }",
            &["hetzner server names hold only letters, digits, `.` and `-`, not `_`"],
        ),
        (vu, "{ kind: instance, names: [\"My Web Box *\"] }", &[]),
    ];
    for (head, targets, want) in cases {
        let text = format!("{head}{}", pol(targets));
        let got = errors(&text);
        assert_eq!(got.len(), want.len(), "{targets}: {got:?}");
        for (g, w) in got.iter().zip(want.iter()) {
            assert!(g.contains(w), "{targets}: {g}");
        }
    }
}

#[test]
fn cron_that_never_fires_is_refused() {
    for (line, never) in [
        ("0 3 30 2 *", true),
        ("0 3 31 4,6,9,11 *", true),
        ("0 3 29 2 *", false),
        ("0 3 31 * *", false),
        ("0 3 30 2 1", false),
        ("30 3 * * *", false),
    ] {
        let text = format!(
            "{HEAD}      - {{ name: p, targets: {{ kind: droplet, all: true }}, cron: \"{line}\", keep: {{ last: 2 }} }}\n"
        );
        let got = errors(&text);
        if never {
            assert_eq!(got.len(), 1, "{line}: {got:?}");
            assert!(
                got[0].contains("matches no date: it would never fire"),
                "{}",
                got[0]
            );
        } else {
            assert_eq!(got, Vec::<String>::new(), "{line}");
        }
    }
}

#[test]
fn file_shape_errors_are_located() {
    let ok = format!(
        "{HEAD}      - {{ name: p, targets: {{ kind: droplet, all: true }}, every: 6h, keep: {{ last: 2 }} }}\n"
    );
    let deep = format!("{ok}x: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let cases: Vec<(String, &str)> = vec![
        (
            format!("{ok}---\naccounts: []\n"),
            "c.yaml:7:1: a second yaml document starts here: the config is one document (remove the `---` line and what follows, or merge it)",
        ),
        (
            format!("{ok}accounts: []\n"),
            "c.yaml:7:1: accounts: duplicate key: `accounts` is already set at line 1",
        ),
        (
            deep,
            "c.yaml:7:259: lists and mappings are nested deeper than 32 levels",
        ),
        (
            format!("{ok}defaults: {{ max_deletes_per_run: 123456789012345678901234567890 }}\n"),
            "c.yaml:7:34: defaults.max_deletes_per_run: the number `123456789012345678901234567890` is too large for any setting",
        ),
    ];
    for (text, want) in cases {
        let started = std::time::Instant::now();
        let got = errors(&text);
        assert!(started.elapsed().as_secs() < 3, "{want}: slow");
        assert_eq!(got, vec![want.to_string()]);
    }
    let mut bytes = ok.clone().into_bytes();
    bytes.extend_from_slice(b"# caf\xe9\n");
    match parse_bytes(&bytes, Path::new("c.yaml")) {
        Err(ConfigError::Invalid { errors, .. }) => assert_eq!(
            errors[0].to_string(),
            "c.yaml:7:6: the file is not valid UTF-8: save it as UTF-8"
        ),
        other => panic!("{other:?}"),
    }
    let big = format!("{ok}#{}\n", "x".repeat(MAX_CONFIG_BYTES));
    assert!(matches!(
        parse_str(&big, Path::new("c.yaml")),
        Err(ConfigError::TooLarge { .. })
    ));
}

#[test]
fn a_refused_value_has_no_follow_up_errors() {
    let text = format!(
        "{HEAD}      - {{ name: p, targets: {{ kind: droplet, all: [true] }}, every: [6h], keep: {{ last: many }} }}\n"
    );
    let got = errors(&text);
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|e| e.contains("invalid type")), "{got:?}");
}
