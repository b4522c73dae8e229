//! The checked `ha:` section: replicas that share the accounts through etcd
//! (issue 15, docs/ha.md).
//!
//! Owns the types [`Ha`], [`Etcd`], [`EtcdTls`] and [`EtcdAuth`], and the
//! defaults of the section. Validation lives in `validate/ha.rs`; the etcd
//! side in `crate::ha`. Must never: hold a password or a private key (only
//! where they come from, as a [`TokenSource`]), or connect to anything.

use std::path::PathBuf;
use std::time::Duration;

use super::TokenSource;

/// Default of [`Etcd::prefix`].
pub const DEFAULT_HA_PREFIX: &str = "/snapkeeper/";
/// Default of [`Etcd::lease_ttl`].
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(15);
/// Default of [`Etcd::settle`].
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(5);
/// Shortest `lease_ttl` accepted (etcd's own floor is about 1.5 s; writes
/// stop at half of it, so shorter leaves no room for a network hiccup).
pub const MIN_LEASE_TTL: Duration = Duration::from_secs(2);

/// `ha:`: present means this process is one of several replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ha {
    /// This replica's name in etcd and in the log; `None`: host name and
    /// process id, decided when the daemon starts.
    pub replica_id: Option<String>,
    /// Where the replicas meet.
    pub etcd: Etcd,
}

/// `ha.etcd:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Etcd {
    /// `http://host:port` or `https://host:port`, one per etcd member.
    pub endpoints: Vec<String>,
    /// Key prefix of this installation, always ending in `/`
    /// (`/snapkeeper/` by default): members under `PREFIX/members/`, account
    /// owners under `PREFIX/owners/`.
    pub prefix: String,
    /// The lease's time to live, whole seconds (default 15 s). A replica
    /// that cannot renew stops writing at half of it; a dead replica's
    /// accounts move after it.
    pub lease_ttl: Duration,
    /// How long a new member must stay before accounts move to it (default
    /// 5 s), so that a flapping replica does not make accounts bounce. A
    /// member that left is acted on at once: its lease already expired.
    pub settle: Duration,
    /// TLS towards etcd (required with `https://` endpoints).
    pub tls: Option<EtcdTls>,
    /// etcd user and password (etcd's auth), if the cluster has auth on.
    pub auth: Option<EtcdAuth>,
}

/// `ha.etcd.tls:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdTls {
    /// PEM file of the CA that signed the etcd servers' certificates.
    pub ca: PathBuf,
    /// PEM client certificate (client-certificate auth), with `key`.
    pub cert: Option<PathBuf>,
    /// Where the PEM private key of `cert` comes from (never the key).
    pub key: Option<TokenSource>,
    /// The name to check the server certificate against, when it is not
    /// the endpoint's host.
    pub server_name: Option<String>,
}

/// `ha.etcd.auth:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdAuth {
    /// etcd user name.
    pub user: String,
    /// Where the password comes from (never the password).
    pub password: TokenSource,
}

/// `A-Za-z0-9._-`, 1-64 characters, starting with a letter or digit.
pub fn is_replica_id(id: &str) -> bool {
    id.len() <= 64
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}
