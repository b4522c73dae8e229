//! Validation: from the parsed YAML tree to the checked [`Config`], with
//! every error found (not just the first) and warnings, each located by
//! line:column where the index has it and always by key path.
//!
//! Owns the schema rules (names, provider/kind pairs, selectors, schedules,
//! retention, `defaults` inheritance, the quota estimate). Must never: read a
//! token (only a token file's permission bits), read the clock, or stop at the
//! first error.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::de::DeserializeOwned;
use yaml_serde::{Mapping, Value};

use super::locate::{Locations, join};
use super::raw::{
    RawAccount, RawAlert, RawConfig, RawDefaults, RawKeep, RawKind, RawMetrics, RawNotify,
    RawPolicy, RawProvider, RawSelector, RawStart, RawTargets, RawToken, RawWebhook,
    RawWebhookFormat, Scalar,
};
use super::{
    Account, Config, DEFAULT_METRICS_LISTEN, DEFAULT_RELOAD_GRACE, Diagnostic, MetricsConfig,
    NotifyConfig, Policy, ProviderKind, Selector, TargetKind, Targets, TokenSource, Webhook,
    WebhookFormat,
};
use crate::policy::freshness::AlertOverride;
use crate::policy::marker::is_name;
use crate::policy::{CronSchedule, CronStart, KeepRules, PolicyError, Schedule};

/// The shortest `every` for a real provider; shorter is only allowed against
/// a loopback `api_url` (the simulator and the demo).
pub const MIN_EVERY: Duration = Duration::from_secs(60);
/// Default per-resource deletion cap per run.
pub const DEFAULT_MAX_DELETES: u32 = 10;
/// DigitalOcean allows this many snapshots per volume.
pub const DO_VOLUME_SNAPSHOT_QUOTA: u64 = 25;

/// What validation found.
pub(crate) struct Checked {
    /// The checked config (complete only when `errors` is empty).
    pub config: Config,
    /// Every error, sorted by position.
    pub errors: Vec<Diagnostic>,
    /// Every warning, sorted by position.
    pub warnings: Vec<Diagnostic>,
}

/// Check a parsed document.
pub(crate) fn validate(root: &Value, locs: &Locations, file: &Path) -> Checked {
    let mut cx = Ctx {
        file,
        locs,
        errors: Vec::new(),
        warnings: Vec::new(),
        refused: BTreeSet::new(),
    };
    let (accounts, metrics, notify) = cx.config(root);
    // `ha:` (issue 15), checked in validate/ha.rs.
    let ha = cx.ha(root);
    Checked {
        config: Config {
            path: file.to_path_buf(),
            accounts,
            metrics,
            notify,
            ha,
        },
        errors: finish(cx.errors),
        warnings: finish(cx.warnings),
    }
}

/// Sort by position (unlocated last, stable otherwise) and drop repeats
/// (an error in `defaults` is found once per policy that inherits it).
fn finish(mut list: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut seen = BTreeSet::new();
    list.retain(|d| seen.insert((d.line, d.column, d.key.clone(), d.message.clone())));
    list.sort_by_key(|d| (d.line.is_none(), d.line, d.column));
    list
}

struct Ctx<'a> {
    file: &'a Path,
    locs: &'a Locations,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    /// Key paths whose value was present but refused by serde (so that no
    /// "missing key" is reported for them as well).
    refused: BTreeSet<String>,
}

/// The provider-specific facts a policy is checked against.
struct AccountCx<'a> {
    name: &'a str,
    provider: Option<ProviderKind>,
    loopback: bool,
}

/// A schedule as written, before `start` is applied.
#[derive(Clone)]
enum Spec {
    Every(Duration, String),
    Cron(String),
}

/// `defaults:` after checking the parts that do not depend on an account.
#[derive(Default)]
struct Defaults {
    /// `Some(None)`: written but invalid (already reported).
    spec: Option<Option<Spec>>,
    timezone: Option<Tz>,
    start: Option<CronStart>,
    keep: Option<Option<KeepRules>>,
    max_deletes: Option<u32>,
    targets: Option<Value>,
    alert: Option<AlertOverride>,
}

impl Ctx<'_> {
    fn diag(&self, path: &str, at_key: bool, message: String) -> Diagnostic {
        let mut probe = path.to_string();
        let pos = loop {
            let found = if at_key && probe == path {
                self.locs.key(&probe)
            } else {
                self.locs.value(&probe)
            };
            if found.is_some() || probe.is_empty() {
                break found;
            }
            probe = parent(&probe);
        };
        Diagnostic {
            file: self.file.to_path_buf(),
            line: pos.map(|p| p.0),
            column: pos.map(|p| p.1),
            key: redact_tokens(path),
            message: redact_tokens(&message),
        }
    }

    /// A "missing key" error for `key` under `path`, unless the key was
    /// there and already refused.
    fn missing(&mut self, path: &str, key: &str, message: impl Into<String>) {
        if !self.refused.contains(&join(path, key)) {
            self.error(path, message);
        }
    }

    /// True when serde refused the value at `path` or at a key below it
    /// (so that no error that only follows from that one is reported).
    fn refused_under(&self, path: &str) -> bool {
        let prefix = format!("{path}.");
        self.refused
            .iter()
            .any(|r| r == path || r.starts_with(&prefix))
    }

    /// An error located at the value of `path`.
    fn error(&mut self, path: &str, message: impl Into<String>) {
        let d = self.diag(path, false, message.into());
        self.errors.push(d);
    }

    /// An error located at the key of `path` (unknown keys, duplicates).
    fn error_at_key(&mut self, path: &str, message: impl Into<String>) {
        let d = self.diag(path, true, message.into());
        self.errors.push(d);
    }

    fn warn(&mut self, path: &str, message: impl Into<String>) {
        let d = self.diag(path, false, message.into());
        self.warnings.push(d);
    }

    /// Deserialize a mapping into a raw struct. When serde refuses the whole,
    /// try each key on its own so that every bad key is reported, then build
    /// the struct from the good keys.
    fn parse_struct<T: DeserializeOwned + Default>(
        &mut self,
        value: &Value,
        path: &str,
        what: &str,
    ) -> Option<T> {
        let Value::Mapping(map) = value else {
            self.error(
                path,
                format!(
                    "{what} must be a mapping of keys, found {}",
                    describe(value)
                ),
            );
            return None;
        };
        if let Ok(t) = yaml_serde::from_value::<T>(value.clone()) {
            return Some(t);
        }
        let mut clean = Mapping::new();
        for (k, v) in map {
            let Some(name) = k.as_str() else {
                self.error(path, format!("keys of {what} must be strings"));
                continue;
            };
            let sub = join(path, name);
            let mut single = Mapping::new();
            single.insert(k.clone(), v.clone());
            match yaml_serde::from_value::<T>(Value::Mapping(single)) {
                Ok(_) => {
                    clean.insert(k.clone(), v.clone());
                }
                Err(e) => {
                    self.refused.insert(sub.clone());
                    let msg = tidy(&e.to_string());
                    if let Some(rest) = msg.strip_prefix("unknown field") {
                        self.error_at_key(&sub, format!("unknown key{rest}"));
                    } else {
                        self.error(&sub, msg);
                    }
                }
            }
        }
        match yaml_serde::from_value::<T>(Value::Mapping(clean)) {
            Ok(t) => Some(t),
            Err(e) => {
                self.error(path, tidy(&e.to_string()));
                None
            }
        }
    }

    fn config(&mut self, root: &Value) -> (Vec<Account>, Option<MetricsConfig>, NotifyConfig) {
        if root.is_null() {
            self.error(
                "",
                "the file is empty: expected a mapping with an `accounts` list",
            );
            return (Vec::new(), None, NotifyConfig::default());
        }
        let Some(raw) = self.parse_struct::<RawConfig>(root, "", "the file") else {
            return (Vec::new(), None, NotifyConfig::default());
        };
        let metrics = raw.metrics.as_ref().and_then(|v| self.metrics(v));
        let notify = raw
            .notify
            .as_ref()
            .map(|v| self.notify(v))
            .unwrap_or_default();
        let defaults = match &raw.defaults {
            Some(v) => self.defaults(v),
            None => Defaults::default(),
        };
        let missing = raw.accounts.is_none();
        let list = raw.accounts.unwrap_or_default();
        if missing {
            self.missing(
                "",
                "accounts",
                "missing key `accounts`: list at least one account (name, provider, token, policies)",
            );
        } else if list.is_empty() {
            self.error(
                "accounts",
                "accounts is empty: list at least one account (name, provider, token, policies)",
            );
        }
        let mut accounts = Vec::new();
        let mut names: HashMap<String, String> = HashMap::new();
        for (i, v) in list.iter().enumerate() {
            let path = format!("accounts[{i}]");
            let Some(raw) = self.parse_struct::<RawAccount>(v, &path, "an account") else {
                continue;
            };
            if let Some(name) = &raw.name {
                self.unique(&mut names, name, &join(&path, "name"), "account");
            }
            if let Some(acc) = self.account(raw, &path, &defaults) {
                accounts.push(acc);
            }
        }
        (accounts, metrics, notify)
    }

    /// `metrics:`; `{}` turns it on at the default address.
    fn metrics(&mut self, value: &Value) -> Option<MetricsConfig> {
        let raw = self.parse_struct::<RawMetrics>(value, "metrics", "metrics")?;
        let text = raw
            .listen
            .as_deref()
            .unwrap_or(DEFAULT_METRICS_LISTEN)
            .trim();
        match text.parse::<std::net::SocketAddr>() {
            Ok(listen) => {
                if !listen.ip().is_loopback() {
                    self.warn(
                        "metrics.listen",
                        format!("metrics are served on {listen}, beyond this host, without authentication: put a firewall or a proxy in front"),
                    );
                }
                Some(MetricsConfig { listen })
            }
            Err(_) => {
                self.error(
                    "metrics.listen",
                    format!("invalid listen address `{text}`: write ip:port, e.g. {DEFAULT_METRICS_LISTEN} or [::1]:9187"),
                );
                None
            }
        }
    }

    /// `notify:`.
    fn notify(&mut self, value: &Value) -> NotifyConfig {
        let mut out = NotifyConfig::default();
        let Some(raw) = self.parse_struct::<RawNotify>(value, "notify", "notify") else {
            return out;
        };
        for (i, v) in raw.webhooks.unwrap_or_default().iter().enumerate() {
            let path = format!("notify.webhooks[{i}]");
            let Some(raw) = self.parse_struct::<RawWebhook>(v, &path, "a webhook") else {
                continue;
            };
            let Some(url) = raw.url else {
                self.missing(
                    &path,
                    "url",
                    "missing key `url`: the address to POST to, e.g. https://hooks.slack.com/services/...",
                );
                continue;
            };
            let upath = join(&path, "url");
            match reqwest::Url::parse(url.trim()) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                    out.webhooks.push(Webhook {
                        url: url.trim().to_string(),
                        format: match raw.format {
                            Some(RawWebhookFormat::Slack) => WebhookFormat::Slack,
                            Some(RawWebhookFormat::Json) | None => WebhookFormat::Json,
                        },
                    });
                }
                Ok(u) => self.error(
                    &upath,
                    format!(
                        "webhook url must be http:// or https:// with a host, found scheme `{}`",
                        u.scheme()
                    ),
                ),
                Err(e) => self.error(&upath, format!("invalid webhook url: {e}")),
            }
        }
        out
    }

    /// `alert:` at `path`; None when invalid (reported). A threshold given
    /// twice must have warn below crit.
    fn alert(&mut self, value: &Value, path: &str) -> Option<AlertOverride> {
        let raw = self.parse_struct::<RawAlert>(value, path, "alert")?;
        let warn = raw
            .warn
            .as_deref()
            .map(|t| self.duration(t, &join(path, "warn")));
        let crit = raw
            .crit
            .as_deref()
            .map(|t| self.duration(t, &join(path, "crit")));
        if warn.is_none() && crit.is_none() {
            self.error(path, "alert names no threshold: give warn, crit or both, e.g. alert: { warn: 14h, crit: 26h }");
            return None;
        }
        let (warn, crit) = match (warn, crit) {
            (Some(None), _) | (_, Some(None)) => return None,
            (w, c) => (w.flatten(), c.flatten()),
        };
        if let (Some(w), Some(c)) = (warn, crit)
            && w >= c
        {
            self.error(
                &join(path, "warn"),
                format!(
                    "alert.warn ({}) must be shorter than alert.crit ({})",
                    crate::policy::short_duration(w),
                    crate::policy::short_duration(c)
                ),
            );
            return None;
        }
        Some(AlertOverride { warn, crit })
    }

    /// Report a duplicate name, pointing at the first one.
    fn unique(&mut self, seen: &mut HashMap<String, String>, name: &str, path: &str, what: &str) {
        if let Some(first) = seen.get(name) {
            let at = match self.locs.value(first) {
                Some((line, _)) => format!("line {line}"),
                None => first.clone(),
            };
            self.error(
                path,
                format!("duplicate {what} name `{name}` (first used at {at}): {what} names must be unique"),
            );
        } else {
            seen.insert(name.to_string(), path.to_string());
        }
    }

    fn defaults(&mut self, value: &Value) -> Defaults {
        let mut out = Defaults::default();
        let Some(raw) = self.parse_struct::<RawDefaults>(value, "defaults", "defaults") else {
            return out;
        };
        let spec = self.spec(raw.every.as_deref(), raw.cron.as_deref(), "defaults");
        if raw.start.is_some() && !matches!(spec, Some(Some(Spec::Cron(_)))) {
            self.error_at_key(
                "defaults.start",
                "start is only for cron schedules: set `cron` in defaults or remove `start`",
            );
        }
        out.spec = spec;
        out.start = raw.start.map(start);
        out.timezone = raw
            .timezone
            .as_deref()
            .and_then(|tz| self.timezone(tz, "defaults.timezone"));
        out.keep = raw.keep.as_ref().map(|v| self.keep(v, "defaults.keep"));
        out.alert = raw
            .alert
            .as_ref()
            .and_then(|v| self.alert(v, "defaults.alert"));
        if let Some(n) = raw.max_deletes_per_run {
            out.max_deletes = Some(self.max_deletes(n, "defaults.max_deletes_per_run"));
        }
        out.targets = raw.targets;
        out
    }

    /// `every`/`cron` as written at `path`: None when neither is given,
    /// Some(None) when invalid (reported).
    fn spec(
        &mut self,
        every: Option<&str>,
        cron: Option<&str>,
        path: &str,
    ) -> Option<Option<Spec>> {
        match (every, cron) {
            (None, None) => None,
            (Some(_), Some(_)) => {
                self.error_at_key(
                    &join(path, "cron"),
                    "both `every` and `cron` are set: use one of them",
                );
                Some(None)
            }
            (Some(text), None) => {
                let p = join(path, "every");
                Some(self.duration(text, &p).map(|d| Spec::Every(d, p)))
            }
            (None, Some(expr)) => {
                let p = join(path, "cron");
                match CronSchedule::parse(expr, CronStart::NextSlot) {
                    Ok(c) if cron_never_fires(&c) => {
                        self.error(
                            &p,
                            format!(
                                "cron line \"{expr}\" matches no date: it would never fire (check the day of month against the month); e.g. \"30 3 * * *\" is 03:30 every day"
                            ),
                        );
                        Some(None)
                    }
                    Ok(_) => Some(Some(Spec::Cron(expr.to_string()))),
                    Err(e) => {
                        self.error(
                            &p,
                            format!(
                                "{}; e.g. \"30 3 * * *\" is 03:30 every day",
                                e.to_string().trim_end_matches('.')
                            ),
                        );
                        Some(None)
                    }
                }
            }
        }
    }

    fn duration(&mut self, text: &str, path: &str) -> Option<Duration> {
        match humantime::parse_duration(text.trim()) {
            Ok(d) if d.is_zero() => {
                self.error(
                    path,
                    format!("duration `{text}` is zero: give a length such as 30m, 6h or 7d"),
                );
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.error(
                    path,
                    format!("invalid duration `{text}`: {e}; write e.g. 30m, 6h, 7d or 1w"),
                );
                None
            }
        }
    }

    fn timezone(&mut self, text: &str, path: &str) -> Option<Tz> {
        match text.parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                self.error(
                    path,
                    format!(
                        "unknown time zone `{text}`: use an IANA name such as UTC or Europe/Berlin"
                    ),
                );
                None
            }
        }
    }

    fn max_deletes(&mut self, n: u32, path: &str) -> u32 {
        if n == 0 {
            self.error(path, "max_deletes_per_run must be at least 1");
            return DEFAULT_MAX_DELETES;
        }
        n
    }

    /// `keep:` at `path`; None when invalid (reported).
    fn keep(&mut self, value: &Value, path: &str) -> Option<KeepRules> {
        let raw = self.parse_struct::<RawKeep>(value, path, "keep")?;
        let mut ok = true;
        let within = match &raw.within {
            Some(text) => {
                // Zero is allowed here: it means "rule not used", like 0 elsewhere.
                let p = join(path, "within");
                match humantime::parse_duration(text.trim()) {
                    Ok(d) => Some(d),
                    Err(_) => {
                        ok = false;
                        self.duration(text, &p)
                    }
                }
            }
            None => None,
        };
        let rules = KeepRules {
            within,
            last: raw.last.unwrap_or(0),
            hourly: raw.hourly.unwrap_or(0),
            daily: raw.daily.unwrap_or(0),
            weekly: raw.weekly.unwrap_or(0),
            monthly: raw.monthly.unwrap_or(0),
            yearly: raw.yearly.unwrap_or(0),
            min_keep: raw.min_keep.unwrap_or(1),
        };
        if ok && rules.is_empty() && !self.refused_under(path) {
            self.error(
                path,
                format!("{}; e.g. keep: {{ within: 7d }}", PolicyError::EmptyKeep),
            );
            ok = false;
        }
        if rules.min_keep == 0 {
            self.error(
                &join(path, "min_keep"),
                "min_keep must be at least 1 (the newest complete snapshot is always kept)",
            );
            ok = false;
        }
        ok.then_some(rules)
    }

    fn account(&mut self, raw: RawAccount, path: &str, defaults: &Defaults) -> Option<Account> {
        let name = match &raw.name {
            None => {
                self.missing(
                    path,
                    "name",
                    "missing key `name`: every account needs a unique name",
                );
                None
            }
            Some(n) if !is_name(n) => {
                self.error(&join(path, "name"), bad_name("account", n));
                None
            }
            Some(n) => Some(n.clone()),
        };
        let provider = raw.provider.map(provider);
        if provider.is_none() && raw.provider.is_none() {
            self.missing(
                path,
                "provider",
                "missing key `provider`: one of digitalocean, vultr, hetzner",
            );
        }
        let token = match raw.token {
            None => {
                self.missing(
                    path,
                    "token",
                    "missing key `token`: give one of {env: NAME}, {file: PATH}, {credential: NAME}",
                );
                None
            }
            Some(t) => self.token(&t, &join(path, "token")),
        };
        let (api_url, loopback) = match (&raw.api_url, provider) {
            (Some(url), p) => match self.api_url(url, p, &join(path, "api_url")) {
                Some((u, l)) => (Some(u), l),
                None => (None, false),
            },
            (None, Some(p)) => (Some(p.default_api_url().to_string()), false),
            (None, None) => (None, false),
        };
        let acx = AccountCx {
            name: name
                .as_deref()
                .unwrap_or(raw.name.as_deref().unwrap_or("?")),
            provider,
            loopback,
        };
        let mut policies = Vec::new();
        let mut names = HashMap::new();
        for (i, v) in raw.policies.unwrap_or_default().iter().enumerate() {
            let ppath = format!("{path}.policies[{i}]");
            let Some(rp) = self.parse_struct::<RawPolicy>(v, &ppath, "a policy") else {
                continue;
            };
            if let Some(n) = &rp.name {
                self.unique(&mut names, n, &join(&ppath, "name"), "policy");
            }
            if let Some(p) = self.policy(rp, &ppath, &acx, defaults) {
                policies.push(p);
            }
        }
        let prune_orphans = raw.prune_orphans.unwrap_or(false);
        if prune_orphans {
            self.warn(
                &join(path, "prune_orphans"),
                format!(
                    "prune_orphans deletes snapshots marked with account name `{}` whose resource is gone: \
                     this name must be unique per cloud account across every snapkeeper installation \
                     (policies of another installation are safe unless named in retired_policies)",
                    acx.name
                ),
            );
        }
        let mut retired = Vec::new();
        for (i, r) in raw.retired_policies.unwrap_or_default().iter().enumerate() {
            let rpath = format!("{path}.retired_policies[{i}]");
            if !is_name(r) {
                self.error(&rpath, bad_name("retired policy", r));
            } else if policies.iter().any(|p: &Policy| &p.name == r) || names.contains_key(r) {
                self.error(
                    &rpath,
                    format!("policy `{r}` is both retired and in policies: remove one of them"),
                );
            } else if retired.contains(r) {
                self.error(&rpath, format!("policy `{r}` is retired twice"));
            } else {
                retired.push(r.clone());
            }
        }
        if !retired.is_empty() && !prune_orphans {
            self.warn(
                &join(path, "retired_policies"),
                "retired_policies has no effect without prune_orphans: true (their snapshots are kept and reported)",
            );
        }
        let reload_grace = match raw.reload_grace.as_deref().map(str::trim) {
            None => DEFAULT_RELOAD_GRACE,
            Some("0") => Duration::ZERO,
            Some(text) => match humantime::parse_duration(text) {
                Ok(d) => d,
                Err(e) => {
                    self.error(
                        &join(path, "reload_grace"),
                        format!("invalid duration `{text}`: {e}; write e.g. 15m, 1h, or 0 to turn the hold off"),
                    );
                    DEFAULT_RELOAD_GRACE
                }
            },
        };
        Some(Account {
            name: name?,
            provider: provider?,
            token: token?,
            api_url: api_url?,
            policies,
            prune_orphans,
            retired_policies: retired,
            reload_grace,
        })
    }

    fn token(&mut self, value: &Value, path: &str) -> Option<TokenSource> {
        let raw = self.parse_struct::<RawToken>(value, path, "token")?;
        let pasted = [
            ("env", raw.env.clone()),
            (
                "file",
                raw.file.as_ref().map(|f| f.to_string_lossy().into_owned()),
            ),
            ("credential", raw.credential.clone()),
        ]
        .into_iter()
        .find_map(|(key, v)| v.filter(|v| is_token_shaped(v)).map(|_| key));
        if let Some(key) = pasted {
            self.error(
                &join(path, key),
                format!(
                    "the value of `{key}` looks like an API token itself (not printed): `{key}` names where the token is; put the token in a file or variable and name that here, and revoke the token if this file was shared"
                ),
            );
            return None;
        }
        let source = match (raw.env, raw.file, raw.credential) {
            (Some(name), None, None) => {
                if name.is_empty() || name.contains('=') || name.contains('\0') {
                    self.error(
                        &join(path, "env"),
                        format!("invalid environment variable name `{name}`"),
                    );
                    return None;
                }
                TokenSource::Env(name)
            }
            (None, Some(file), None) => {
                if file.as_os_str().is_empty() {
                    self.error(&join(path, "file"), "token file path is empty");
                    return None;
                }
                TokenSource::File(file)
            }
            (None, None, Some(name)) => {
                if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                    self.error(
                        &join(path, "credential"),
                        format!("invalid credential name `{name}`: a plain file name without `/`, as in LoadCredential=NAME:PATH"),
                    );
                    return None;
                }
                TokenSource::Credential(name)
            }
            _ => {
                let prefix = format!("{path}.");
                if self.refused.iter().any(|r| r.starts_with(&prefix)) {
                    return None;
                }
                self.error(
                    path,
                    "give exactly one of {env: NAME}, {file: PATH}, {credential: NAME}",
                );
                return None;
            }
        };
        if let Some((file, mode)) = source.loose_permissions() {
            self.warn(
                path,
                format!(
                    "token file {} is readable by group or others (mode {:o}): run chmod 600 on it",
                    file.display(),
                    mode & 0o777
                ),
            );
        }
        Some(source)
    }

    /// The base the provider's client expects (see [`normalize_api_url`]),
    /// and whether its host is loopback.
    fn api_url(
        &mut self,
        url: &str,
        provider: Option<ProviderKind>,
        path: &str,
    ) -> Option<(String, bool)> {
        let checked = check_api_url(url).and_then(|(u, loopback)| match provider {
            Some(p) => normalize_api_url(&u, p).map(|u| (u, loopback)),
            None => Ok((u, loopback)),
        });
        match checked {
            Ok(v) => Some(v),
            Err(msg) => {
                self.error(path, msg);
                None
            }
        }
    }

    fn policy(
        &mut self,
        raw: RawPolicy,
        path: &str,
        acx: &AccountCx<'_>,
        defaults: &Defaults,
    ) -> Option<Policy> {
        let name = match &raw.name {
            None => {
                self.missing(
                    path,
                    "name",
                    "missing key `name`: every policy needs a name, unique within its account",
                );
                None
            }
            Some(n) if !is_name(n) => {
                self.error(&join(path, "name"), bad_name("policy", n));
                None
            }
            Some(n) => Some(n.clone()),
        };

        // Targets: the policy's own, else the defaults' (checked against this account).
        let targets = match (&raw.targets, &defaults.targets) {
            (Some(v), _) => self.targets(v, &join(path, "targets"), acx),
            (None, Some(v)) => self.targets(v, "defaults.targets", acx),
            (None, None) => {
                self.missing(path, "targets", "missing key `targets` (here or in `defaults`): e.g. targets: { kind: droplet, all: true }");
                None
            }
        };

        // Schedule: the policy's every/cron replaces the defaults' as a whole.
        let own = self.spec(raw.every.as_deref(), raw.cron.as_deref(), path);
        let spec = match (own, &defaults.spec) {
            (Some(s), _) => s,
            (None, Some(s)) => s.clone(),
            (None, None) => {
                if !self.refused_under(&join(path, "every"))
                    && !self.refused_under(&join(path, "cron"))
                {
                    self.error(
                        path,
                        "no schedule: set `every` (e.g. every: 6h) or `cron` (e.g. cron: \"30 3 * * *\"), here or in `defaults`",
                    );
                }
                None
            }
        };
        if raw.start.is_some() && !matches!(spec, Some(Spec::Cron(_))) && spec.is_some() {
            self.error_at_key(
                &join(path, "start"),
                "start is only for cron schedules: remove it or use `cron`",
            );
        }
        let timezone = match &raw.timezone {
            Some(tz) => self.timezone(tz, &join(path, "timezone")),
            None => Some(defaults.timezone.unwrap_or(Tz::UTC)),
        };
        let schedule = match spec {
            Some(Spec::Every(d, from)) => {
                if d < MIN_EVERY && !acx.loopback {
                    self.error(
                        &from,
                        format!(
                            "every {} is shorter than 1 minute (account `{}`): allowed only when api_url is a loopback address",
                            humantime::format_duration(d),
                            acx.name
                        ),
                    );
                    None
                } else {
                    Some(Schedule::Every(d))
                }
            }
            Some(Spec::Cron(expr)) => {
                let start = raw.start.map(start).or(defaults.start).unwrap_or_default();
                CronSchedule::parse(&expr, start)
                    .ok()
                    .map(|c| Schedule::Cron(Box::new(c)))
            }
            None => None,
        };

        let keep = match (&raw.keep, &defaults.keep) {
            (Some(v), _) => self.keep(v, &join(path, "keep")),
            (None, Some(k)) => k.clone(),
            (None, None) => {
                self.missing(
                    path,
                    "keep",
                    "missing key `keep` (here or in `defaults`): e.g. keep: { within: 7d }",
                );
                None
            }
        };
        let max_deletes_per_run = match raw.max_deletes_per_run {
            Some(n) => self.max_deletes(n, &join(path, "max_deletes_per_run")),
            None => defaults.max_deletes.unwrap_or(DEFAULT_MAX_DELETES),
        };
        // The policy's alert replaces the defaults' as a whole.
        let alert = match &raw.alert {
            Some(v) => self.alert(v, &join(path, "alert")),
            None => Some(defaults.alert.unwrap_or_default()),
        };
        let snapshot_tags = raw.snapshot_tags.unwrap_or_default();
        let tags_path = join(path, "snapshot_tags");
        if !snapshot_tags.is_empty()
            && acx
                .provider
                .is_some_and(|p| p != ProviderKind::DigitalOcean)
        {
            self.error(
                &tags_path,
                format!(
                    "snapshot_tags are only supported on digitalocean, not {} (account `{}`)",
                    acx.provider.map_or("", |p| p.as_str()),
                    acx.name
                ),
            );
        }
        for (i, tag) in snapshot_tags.iter().enumerate() {
            if !is_do_tag(tag) {
                self.error(
                    &format!("{tags_path}[{i}]"),
                    format!("invalid snapshot tag `{tag}`: use 1-255 characters a-z, A-Z, 0-9, _, - and :"),
                );
            }
        }

        if let (Some(t), Some(s), Some(k), Some(tz)) = (&targets, &schedule, &keep, timezone)
            && t.kind == TargetKind::Volume
        {
            let n = steady_state_count(s, tz, k);
            if n > DO_VOLUME_SNAPSHOT_QUOTA {
                self.warn(
                    path,
                    format!(
                        "keeps about {n} snapshots per volume in steady state, above digitalocean's limit of {DO_VOLUME_SNAPSHOT_QUOTA} per volume: new snapshots will fail once it is reached"
                    ),
                );
            }
        }

        Some(Policy {
            name: name?,
            targets: targets?,
            schedule: schedule?,
            timezone: timezone?,
            keep: keep?,
            max_deletes_per_run,
            snapshot_tags,
            alert: alert?,
        })
    }

    fn targets(&mut self, value: &Value, path: &str, acx: &AccountCx<'_>) -> Option<Targets> {
        let raw = self.parse_struct::<RawTargets>(value, path, "targets")?;
        let kind = match raw.kind {
            None => {
                self.missing(
                    path,
                    "kind",
                    "missing key `kind`: droplet or volume (digitalocean), instance (vultr), server (hetzner)",
                );
                None
            }
            Some(k) => {
                let k = kind(k);
                match acx.provider {
                    Some(p) if k.provider() != p => {
                        self.error(
                            &join(path, "kind"),
                            format!(
                                "kind `{k}` is a {} kind, but account `{}` is {p}: {p} allows {}",
                                k.provider(),
                                acx.name,
                                kinds_of(p)
                            ),
                        );
                        None
                    }
                    _ => Some(k),
                }
            }
        };
        let include = self.selector(
            RawSelector {
                all: raw.all,
                ids: raw.ids,
                names: raw.names,
                tags: raw.tags,
                labels: raw.labels,
            },
            path,
            acx,
            kind,
            false,
        );
        let exclude = match &raw.exclude {
            None => Some(None),
            Some(v) => {
                let p = join(path, "exclude");
                self.parse_struct::<RawSelector>(v, &p, "exclude")
                    .and_then(|s| self.selector(s, &p, acx, kind, true))
                    .map(Some)
            }
        };
        Some(Targets {
            kind: kind?,
            include: include?,
            exclude: exclude?,
        })
    }

    fn selector(
        &mut self,
        raw: RawSelector,
        path: &str,
        acx: &AccountCx<'_>,
        kind: Option<TargetKind>,
        exclude: bool,
    ) -> Option<Selector> {
        let mut ok = true;
        let ids: Vec<String> = raw
            .ids
            .unwrap_or_default()
            .into_iter()
            .map(|Scalar(s)| s)
            .collect();
        for (i, id) in ids.iter().enumerate() {
            if id.trim().is_empty() {
                self.error(&format!("{path}.ids[{i}]"), "empty resource id");
                ok = false;
            } else if let Some(k) = kind
                && let Err(rule) = id_rule(k, id)
            {
                self.error(
                    &format!("{path}.ids[{i}]"),
                    format!("invalid {k} id `{id}`: {rule}"),
                );
                ok = false;
            }
        }
        let names = raw.names.unwrap_or_default();
        for (i, glob) in names.iter().enumerate() {
            if let Err(e) = globset::Glob::new(glob) {
                self.error(
                    &format!("{path}.names[{i}]"),
                    format!("invalid name glob `{glob}`: {}", e.kind()),
                );
                ok = false;
            } else if glob.is_empty() {
                self.error(
                    &format!("{path}.names[{i}]"),
                    "empty name glob: it matches no name; use `*` for every name",
                );
                ok = false;
            } else if let Some(k) = kind
                && let Some((allowed, bad)) = glob_never_matches(k, glob)
            {
                self.error(
                    &format!("{path}.names[{i}]"),
                    format!(
                        "name glob `{glob}` can never match: {} {k} names hold only {allowed}, not `{bad}`",
                        k.provider()
                    ),
                );
                ok = false;
            }
        }
        let tags = raw.tags.unwrap_or_default();
        let labels: BTreeMap<String, String> = raw
            .labels
            .unwrap_or_default()
            .into_iter()
            .map(|(k, Scalar(v))| (k, v))
            .collect();
        let hetzner = acx.provider == Some(ProviderKind::Hetzner);
        for (i, tag) in tags.iter().enumerate() {
            let bad = match acx.provider {
                Some(ProviderKind::DigitalOcean) if !is_do_tag(tag) => {
                    Some("digitalocean tags are 1-255 characters a-z, A-Z, 0-9, _, - and :")
                }
                _ if tag.trim().is_empty() => Some("a tag is never empty"),
                _ => None,
            };
            if let Some(rule) = bad {
                self.error(
                    &format!("{path}.tags[{i}]"),
                    format!("invalid tag `{tag}`: {rule}"),
                );
                ok = false;
            }
        }
        if hetzner {
            for (k, v) in &labels {
                let at = join(&join(path, "labels"), k);
                if let Err(rule) = hetzner_label_key(k) {
                    self.error_at_key(&at, format!("invalid label key `{k}`: {rule}"));
                    ok = false;
                } else if !is_label_value(v) {
                    self.error(
                        &at,
                        format!(
                            "invalid label value `{v}` for `{k}`: hetzner label values are empty or 1-63 characters a-z, A-Z, 0-9, -, _ and ., starting and ending with a letter or digit"
                        ),
                    );
                    ok = false;
                }
            }
        }
        if !tags.is_empty() && hetzner {
            self.error(
                &join(path, "tags"),
                format!(
                    "tags are not supported on hetzner (account `{}`): select by labels instead",
                    acx.name
                ),
            );
            ok = false;
        }
        if !labels.is_empty() && acx.provider.is_some_and(|p| p != ProviderKind::Hetzner) {
            self.error(
                &join(path, "labels"),
                format!(
                    "labels are only supported on hetzner, not {} (account `{}`): select by tags instead",
                    acx.provider.map_or("", |p| p.as_str()),
                    acx.name
                ),
            );
            ok = false;
        }
        let all = raw.all.unwrap_or(false);
        if exclude && all {
            self.error(
                &join(path, "all"),
                "exclude with `all: true` would exclude every resource: name what to exclude instead",
            );
            ok = false;
        }
        let empty =
            !all && ids.is_empty() && names.is_empty() && tags.is_empty() && labels.is_empty();
        let refused = ["all", "ids", "names", "tags", "labels"]
            .iter()
            .any(|k| self.refused_under(&join(path, k)));
        if empty && ok && !refused {
            let what = if exclude { "exclude" } else { "targets" };
            let by = if hetzner { "labels" } else { "tags" };
            self.error(
                path,
                format!("{what} selects nothing: give `all: true`, `ids`, `names` or `{by}`"),
            );
            ok = false;
        }
        ok.then_some(Selector {
            all,
            ids,
            names,
            tags,
            labels,
        })
    }
}

/// True when a cron line matches no date in the next eight years (which
/// holds two leap days, so `29 2` is a date).
fn cron_never_fires(c: &CronSchedule) -> bool {
    let Some(from) = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single() else {
        return false;
    };
    let Some(until) = Utc.with_ymd_and_hms(2033, 1, 1, 0, 0, 0).single() else {
        return false;
    };
    crate::policy::next_slot(c, Tz::UTC, from).is_none_or(|t| t >= until)
}

fn provider(p: RawProvider) -> ProviderKind {
    match p {
        RawProvider::Digitalocean => ProviderKind::DigitalOcean,
        RawProvider::Vultr => ProviderKind::Vultr,
        RawProvider::Hetzner => ProviderKind::Hetzner,
    }
}

fn kind(k: RawKind) -> TargetKind {
    match k {
        RawKind::Droplet => TargetKind::Droplet,
        RawKind::Volume => TargetKind::Volume,
        RawKind::Instance => TargetKind::Instance,
        RawKind::Server => TargetKind::Server,
    }
}

fn start(s: RawStart) -> CronStart {
    match s {
        RawStart::Now => CronStart::Now,
        RawStart::NextSlot => CronStart::NextSlot,
    }
}

fn kinds_of(p: ProviderKind) -> &'static str {
    match p {
        ProviderKind::DigitalOcean => "droplet, volume",
        ProviderKind::Vultr => "instance",
        ProviderKind::Hetzner => "server",
    }
}

fn bad_name(what: &str, name: &str) -> String {
    format!(
        "invalid {what} name `{name}`: use 1-32 characters a-z, 0-9 and -, starting with a letter or digit"
    )
}

/// What a resource id of `kind` looks like (the providers' id types):
/// droplet and server ids are positive integers (Hetzner's an int64),
/// volume and instance ids lowercase UUIDs. Any other id never matches.
fn id_rule(kind: TargetKind, id: &str) -> Result<(), String> {
    match kind {
        TargetKind::Droplet | TargetKind::Server => match id.parse::<i64>() {
            Ok(n) if n > 0 => Ok(()),
            _ => Err(format!(
                "{} {kind} ids are positive whole numbers",
                kind.provider()
            )),
        },
        TargetKind::Volume | TargetKind::Instance => {
            if is_uuid(id) {
                Ok(())
            } else {
                Err(format!(
                    "{} {kind} ids are lowercase UUIDs such as 506f78a4-e098-11e5-ad9f-000f53306ae1",
                    kind.provider()
                ))
            }
        }
    }
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')))
}

/// When a name glob contains a literal character that names of `kind`
/// never hold (DigitalOcean droplets: `^[a-zA-Z0-9]?[a-z0-9A-Z.\-]*[a-z0-9A-Z]$`;
/// volumes: lowercase letters, digits and `-`; Hetzner servers: RFC 1123
/// host names), the rule and the character. Character classes and `{a,b}`
/// alternatives are not looked into. Vultr labels are free text.
fn glob_never_matches(kind: TargetKind, glob: &str) -> Option<(&'static str, char)> {
    let (allowed, rule): (fn(char) -> bool, &'static str) = match kind {
        TargetKind::Droplet | TargetKind::Server => (
            |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'),
            "letters, digits, `.` and `-`",
        ),
        TargetKind::Volume => (
            |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
            "lowercase letters, digits and `-`",
        ),
        TargetKind::Instance => return None,
    };
    let mut chars = glob.chars();
    let mut depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '[' if depth == 0 => {
                // Skip the class; a `]` first in it (after `!`) is literal.
                let mut inside = String::new();
                for d in chars.by_ref() {
                    if d == ']' && !inside.is_empty() && inside != "!" {
                        break;
                    }
                    inside.push(d);
                }
            }
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            '*' | '?' => {}
            _ if depth > 0 => {}
            '\\' => {
                if let Some(d) = chars.next()
                    && !allowed(d)
                {
                    return Some((rule, d));
                }
            }
            c if !allowed(c) => return Some((rule, c)),
            _ => {}
        }
    }
    None
}

/// A Hetzner label key: optional DNS-subdomain prefix and `/`, then a name
/// with the value rules (not empty); the `hetzner.cloud/` prefix is
/// Hetzner's own and allowed in a selector.
fn hetzner_label_key(key: &str) -> Result<(), &'static str> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        let dns = p.len() <= 253
            && p.split('.').all(|part| {
                !part.is_empty()
                    && part.len() <= 63
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            });
        if !dns {
            return Err("the part before `/` must be a DNS subdomain such as example.com");
        }
    }
    if name.is_empty() || !is_label_value(name) {
        return Err(
            "hetzner label keys are an optional DNS-subdomain prefix and `/`, then 1-63 characters a-z, A-Z, 0-9, -, _ and ., starting and ending with a letter or digit",
        );
    }
    Ok(())
}

/// Hetzner's label value rule:
/// `^(()|[a-z0-9A-Z]|([a-z0-9A-Z][a-z0-9A-Z\._-]{0,61}[a-z0-9A-Z]))$`.
fn is_label_value(v: &str) -> bool {
    let ends = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    v.is_empty()
        || (v.len() <= 63
            && ends(v.chars().next())
            && ends(v.chars().last())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
}

/// DigitalOcean tag rule: `^[a-zA-Z0-9_\-:]+$`, at most 255 characters.
fn is_do_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 255
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':'))
}

/// The parent of a key path: `a.b[2]` -> `a.b`, `a.b` -> `a`, `a` -> ``.
fn parent(path: &str) -> String {
    if path.ends_with(']')
        && let Some(i) = path.rfind('[')
    {
        return path[..i].to_string();
    }
    match path.rfind('.') {
        Some(i) => path[..i].to_string(),
        None => String::new(),
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// Drop the parser's own " at line N column M" (we print our own position).
pub(crate) fn tidy(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find(" at line ") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + " at line ".len()..];
        let skip = tail
            .split_once(" column ")
            .map(|(line, after)| {
                let digits = after.chars().take_while(char::is_ascii_digit).count();
                (line.chars().all(|c| c.is_ascii_digit()) && digits > 0)
                    .then_some(line.len() + " column ".len() + digits)
            })
            .unwrap_or(None);
        match skip {
            Some(n) => rest = &tail[n..],
            None => {
                out.push_str(" at line ");
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Check an `api_url`: https anywhere, http only to a loopback host; no
/// credentials, query string or fragment in the URL (the clients append
/// paths and queries to it). Returns it without a trailing slash, and
/// whether the host is loopback.
pub(crate) fn check_api_url(url: &str) -> Result<(String, bool), String> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "api_url `{}` holds white space or a control character",
            url.escape_debug()
        ));
    }
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!(
            "api_url `{url}` must start with https:// (or http:// for a loopback host)"
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err("api_url must not contain a user name or password".to_string());
    }
    if url.contains('?') {
        return Err(format!(
            "api_url `{url}` has a query string (`?...`): give the base URL alone, e.g. https://api.digitalocean.com/v2"
        ));
    }
    if url.contains('#') {
        return Err(format!(
            "api_url `{url}` has a fragment (`#...`): give the base URL alone, e.g. https://api.digitalocean.com/v2"
        ));
    }
    if rest[authority.len()..]
        .split('/')
        .any(|seg| seg == "." || seg == "..")
        || rest[authority.len()..].contains("//")
    {
        return Err(format!(
            "api_url `{url}` has an empty, `.` or `..` path segment"
        ));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return Err(format!("api_url `{url}` has an unclosed [ in its host")),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("api_url `{url}` has no host"));
    }
    if let Some(p) = port
        && p.parse::<u16>().is_err()
    {
        return Err(format!("api_url `{url}` has an invalid port `{p}`"));
    }
    if authority.starts_with('[') && host.parse::<Ipv6Addr>().is_err() {
        return Err(format!("api_url `{url}` has an invalid IPv6 host `{host}`"));
    }
    let loopback = is_loopback(host);
    if !https && !loopback {
        return Err(format!(
            "api_url `{url}` uses http:// to a non-loopback host: use https:// (http:// is allowed only for 127.0.0.0/8, ::1 and localhost)"
        ));
    }
    Ok((url.trim_end_matches('/').to_string(), loopback))
}

/// The one documented form of `api_url` is the provider's versioned API
/// root (`https://api.digitalocean.com/v2`, `https://api.vultr.com/v2`,
/// `https://api.hetzner.cloud/v1`); the form without the version is accepted
/// as well. Returns the base each client appends its paths to: DigitalOcean's
/// client writes `/v2/...` itself, Vultr's and Hetzner's expect the version
/// in the base. A different version (`/v1` for Vultr) is refused: no request
/// to it could work.
pub(crate) fn normalize_api_url(url: &str, provider: ProviderKind) -> Result<String, String> {
    let url = url.trim_end_matches('/');
    let version = match provider {
        ProviderKind::DigitalOcean | ProviderKind::Vultr => "v2",
        ProviderKind::Hetzner => "v1",
    };
    let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    let last = after_scheme
        .split_once('/')
        .and_then(|(_, p)| p.rsplit('/').next());
    let root = match last {
        Some(seg) if seg == version => &url[..url.len() - seg.len() - 1],
        Some(seg) if is_api_version(seg) => {
            return Err(format!(
                "api_url `{url}` names API version {seg}, but snapkeeper speaks {provider} API {version}: end it with /{version} or leave the version out"
            ));
        }
        _ => url,
    };
    Ok(match provider {
        ProviderKind::DigitalOcean => root.to_string(),
        ProviderKind::Vultr | ProviderKind::Hetzner => format!("{root}/{version}"),
    })
}

/// `v1`, `v2`, `v10` ...
fn is_api_version(seg: &str) -> bool {
    seg.strip_prefix('v')
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// True for text that looks like an API token rather than a variable name,
/// a file name or a credential name: a DigitalOcean `do?_v1_` token, or a
/// run of at least 32 letters and digits that mixes both (Vultr keys are 36,
/// Hetzner tokens 64, DigitalOcean's 64 hex after the prefix).
pub(crate) fn is_token_shaped(s: &str) -> bool {
    let s = s.trim();
    ["dop_v1_", "doo_v1_", "dor_v1_", "dos_v1_"]
        .iter()
        .any(|p| s.starts_with(p))
        || s.split(|c: char| !c.is_ascii_alphanumeric())
            .any(long_mixed_run)
}

fn long_mixed_run(run: &str) -> bool {
    run.len() >= 32
        && run.chars().any(|c| c.is_ascii_digit())
        && run.chars().any(|c| c.is_ascii_alphabetic())
}

/// Replace every token-shaped word of `text` by `<redacted>`, so that a
/// token pasted where a name belongs is never printed back.
pub(crate) fn redact_tokens(text: &str) -> String {
    if !is_token_shaped(text) && !text.contains("_v1_") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if is_token_shaped(word) {
            out.push_str("<redacted>");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// How many snapshots a policy holds per resource once it has run for long
/// enough: the union of its keep rules over a synthetic, regular history.
/// An estimate for the quota warning (calendar buckets in `tz`).
pub(crate) fn steady_state_count(schedule: &Schedule, tz: Tz, keep: &KeepRules) -> u64 {
    // Enough to tell "above the quota"; beyond it the count says "at least".
    const CAP: usize = 20_000;
    const HOUR: u64 = 3600;
    let Some(anchor) = Utc.with_ymd_and_hms(2025, 6, 30, 0, 0, 0).single() else {
        return 0;
    };
    let step_guess = match schedule {
        Schedule::Every(d) => *d,
        Schedule::Cron(_) => Duration::from_secs(HOUR),
    };
    let spans = [
        keep.within.unwrap_or_default(),
        step_guess.saturating_mul(keep.last),
        Duration::from_secs(HOUR * u64::from(keep.hourly)),
        Duration::from_secs(24 * HOUR * u64::from(keep.daily)),
        Duration::from_secs(7 * 24 * HOUR * (u64::from(keep.weekly) + 1)),
        Duration::from_secs(31 * 24 * HOUR * (u64::from(keep.monthly) + 1)),
        Duration::from_secs(366 * 24 * HOUR * (u64::from(keep.yearly) + 1)),
    ];
    let horizon = spans
        .into_iter()
        .max()
        .unwrap_or_default()
        .saturating_add(step_guess);
    let oldest = chrono::Duration::from_std(horizon)
        .ok()
        .and_then(|h| anchor.checked_sub_signed(h))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    // Newest first.
    let times: Vec<DateTime<Utc>> = match schedule {
        Schedule::Every(d) => {
            let Ok(step) = chrono::Duration::from_std(*d) else {
                return 1;
            };
            std::iter::successors(Some(anchor), |t| t.checked_sub_signed(step))
                .take_while(|t| *t >= oldest)
                .take(CAP)
                .collect()
        }
        Schedule::Cron(c) => c
            .cron
            .iter_before(anchor.with_timezone(&tz))
            .map(|t| t.with_timezone(&Utc))
            .take_while(|t| *t >= oldest)
            .take(CAP)
            .collect(),
    };
    let Some(newest) = times.first().copied() else {
        return 0;
    };
    let mut kept = vec![false; times.len()];
    if let Some(w) = keep.within.filter(|w| !w.is_zero()) {
        // A span beyond chrono's range keeps everything.
        let from = chrono::Duration::from_std(w)
            .ok()
            .and_then(|w| newest.checked_sub_signed(w));
        for (i, t) in times.iter().enumerate() {
            kept[i] |= from.is_none_or(|from| *t >= from);
        }
    }
    for k in kept.iter_mut().take(keep.last as usize) {
        *k = true;
    }
    type Key = fn(&DateTime<Tz>) -> (i32, u32, u32, u32);
    let buckets: [(u32, Key); 5] = [
        (keep.hourly, |t| (t.year(), t.ordinal(), t.hour(), 0)),
        (keep.daily, |t| (t.year(), t.ordinal(), 0, 0)),
        (keep.weekly, |t| {
            (t.iso_week().year(), t.iso_week().week(), 0, 0)
        }),
        (keep.monthly, |t| (t.year(), t.month(), 0, 0)),
        (keep.yearly, |t| (t.year(), 0, 0, 0)),
    ];
    for (n, key) in buckets {
        let mut seen = BTreeSet::new();
        for (i, t) in times.iter().enumerate() {
            if seen.len() >= n as usize {
                break;
            }
            if seen.insert(key(&t.with_timezone(&tz))) {
                kept[i] = true;
            }
        }
    }
    let count = kept.iter().filter(|k| **k).count() as u64;
    count.max(u64::from(keep.min_keep).min(times.len() as u64))
}

// `ha:` (issue 15).
mod ha;

#[cfg(test)]
mod tests;
