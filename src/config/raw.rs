//! The config file as written: serde structs with `deny_unknown_fields` and
//! snake_case names, deserialized with `yaml_serde`.
//!
//! Every field is optional here, so that validation can say "missing key"
//! itself and so that one bad key never hides the others (see
//! `validate::Ctx::parse_struct`, which deserializes key by key on failure).
//! Nested lists and mappings that hold further structs stay as
//! [`yaml_serde::Value`] and are parsed one level at a time for the same
//! reason. Must never: be seen outside `config` (the engine gets the checked
//! types), or hold a token value.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use serde::de::{self, Visitor};
use yaml_serde::Value;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct RawConfig {
    pub accounts: Option<Vec<Value>>,
    pub defaults: Option<Value>,
    /// `ha:` (issue 15): declared so the key is known; `validate/ha.rs`
    /// reads it from the tree itself.
    #[allow(dead_code)]
    pub ha: Option<Value>,
    pub metrics: Option<Value>,
    pub notify: Option<Value>,
}

/// `metrics:`: where `run` serves `/metrics`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct RawMetrics {
    pub listen: Option<String>,
}

/// `notify:`: where state changes are sent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct RawNotify {
    pub webhooks: Option<Vec<Value>>,
}

/// One `notify.webhooks[]` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct RawWebhook {
    pub url: Option<String>,
    pub format: Option<RawWebhookFormat>,
}

/// `format:` of a webhook.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawWebhookFormat {
    Json,
    Slack,
}

/// `alert:` of a policy (or of `defaults`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct RawAlert {
    pub warn: Option<String>,
    pub crit: Option<String>,
}

/// `defaults:`: what policies inherit.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct RawDefaults {
    pub targets: Option<Value>,
    pub every: Option<String>,
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub start: Option<RawStart>,
    pub keep: Option<Value>,
    pub max_deletes_per_run: Option<u32>,
    pub alert: Option<Value>,
}

/// One `accounts[]` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct RawAccount {
    pub name: Option<String>,
    pub provider: Option<RawProvider>,
    pub token: Option<Value>,
    pub api_url: Option<String>,
    pub prune_orphans: Option<bool>,
    pub retired_policies: Option<Vec<String>>,
    pub reload_grace: Option<String>,
    pub policies: Option<Vec<Value>>,
}

/// `provider:`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawProvider {
    Digitalocean,
    Vultr,
    Hetzner,
}

/// `token:`: exactly one of `{env: NAME}`, `{file: PATH}`, `{credential: NAME}`
/// (a struct rather than an enum so that "give exactly one" can be said
/// plainly, and because yaml_serde reads enums only from YAML tags).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct RawToken {
    pub env: Option<String>,
    pub file: Option<PathBuf>,
    pub credential: Option<String>,
}

/// One `policies[]` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct RawPolicy {
    pub name: Option<String>,
    pub targets: Option<Value>,
    pub every: Option<String>,
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub start: Option<RawStart>,
    pub keep: Option<Value>,
    pub max_deletes_per_run: Option<u32>,
    pub snapshot_tags: Option<Vec<String>>,
    pub alert: Option<Value>,
}

/// `start:` (cron only).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawStart {
    Now,
    NextSlot,
}

/// `targets:`: a kind, the include selector's keys, and `exclude`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct RawTargets {
    pub kind: Option<RawKind>,
    pub all: Option<bool>,
    pub ids: Option<Vec<Scalar>>,
    pub names: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, Scalar>>,
    pub exclude: Option<Value>,
}

/// `exclude:`: the selector keys alone.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct RawSelector {
    pub all: Option<bool>,
    pub ids: Option<Vec<Scalar>>,
    pub names: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, Scalar>>,
}

/// `kind:`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawKind {
    Droplet,
    Volume,
    Instance,
    Server,
}

/// `keep:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct RawKeep {
    pub within: Option<String>,
    pub last: Option<u32>,
    pub hourly: Option<u32>,
    pub daily: Option<u32>,
    pub weekly: Option<u32>,
    pub monthly: Option<u32>,
    pub yearly: Option<u32>,
    pub min_keep: Option<u32>,
}

/// A string that may be written as a number (`ids: [12345]`, `tier: 1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `ha:` (issue 15).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct RawHa {
    pub replica_id: Option<String>,
    pub etcd: Option<Value>,
}

/// `ha.etcd:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct RawEtcd {
    pub endpoints: Option<Vec<String>>,
    pub prefix: Option<String>,
    pub lease_ttl: Option<Scalar>,
    pub settle: Option<Scalar>,
    pub tls: Option<Value>,
    pub auth: Option<Value>,
}

/// `ha.etcd.tls:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct RawEtcdTls {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<Value>,
    pub server_name: Option<String>,
}

/// `ha.etcd.auth:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct RawEtcdAuth {
    pub user: Option<String>,
    pub password: Option<Value>,
}
