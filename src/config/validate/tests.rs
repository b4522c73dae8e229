//! Case tables for validation: config texts and the exact diagnostics, the
//! `defaults` inheritance, `api_url` rules and the quota estimate.

use std::path::Path;

use super::*;
use crate::config::{ConfigError, parse_str};

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
    assert_eq!(a.api_url, "http://127.0.0.1:7070");
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
