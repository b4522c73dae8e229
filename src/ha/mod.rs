//! High availability: replicas that share the accounts through etcd
//! (issue 15, docs/ha.md).
//!
//! Owns the one rule "each account is worked by at most one replica at a
//! time", enforced by etcd: each replica keeps a lease and registers
//! `PREFIX/members/<id>` under it; an account's owner is chosen by
//! rendezvous hashing over the live members ([`rendezvous`], after the
//! settle rule of [`settle`]), and a replica works an account only while it
//! holds `PREFIX/owners/<account>` bound to its lease (created by a
//! create-if-absent transaction). The etcd side (`membership`, feature `ha`)
//! tells the supervisor which loops to start and stop through [`Command`]s
//! on a [`HaLink`]; the engine asks a [`Fence`] before every create and
//! delete.
//!
//! Must never: let a replica write without a lease renewed within half its
//! time to live, release a key it does not hold, start a loop for an account
//! whose key it does not hold, or delete a key while that account's loop may
//! still write. Without `ha:` in the config nothing here runs.

#[cfg(feature = "ha")]
mod membership;
pub mod rendezvous;
pub mod settle;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use crate::sync::lock;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::{Ha, TokenError};

/// A cheap check, right before each write, that this replica may still
/// write for the account: `Err` says why not.
#[derive(Clone)]
pub struct Fence(Arc<dyn Fn() -> Result<(), String> + Send + Sync>);

impl Fence {
    /// A fence from a check.
    pub fn new(check: impl Fn() -> Result<(), String> + Send + Sync + 'static) -> Self {
        Self(Arc::new(check))
    }

    /// `Ok` while writes are allowed; `Err` with the reason otherwise.
    ///
    /// # Errors
    /// Why this replica may not write now (ownership lost, lease stale).
    pub fn check(&self) -> Result<(), String> {
        (self.0)()
    }
}

impl fmt::Debug for Fence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fence")
    }
}

/// What the etcd side asks of the supervisor.
#[derive(Debug)]
pub enum Command {
    /// This replica now holds the account's key: start its loop.
    Start {
        /// The account.
        account: String,
    },
    /// Stop the account's loop at its next safe point and hand its task to
    /// [`HaLink::stopped`]; then answer on `ack` (with no loop running,
    /// answer at once). The key is released only after the loop ended.
    Stop {
        /// The account.
        account: String,
        /// Answered once the loop was told to stop.
        ack: oneshot::Sender<()>,
    },
}

/// Starting high availability failed.
#[derive(Debug, thiserror::Error)]
pub enum HaError {
    /// The binary has no etcd client.
    #[error(
        "ha is set in the config but this snapkeeper was built without the `ha` feature (cargo build --release --features ha)"
    )]
    NotBuilt,
    /// The etcd password or TLS key could not be read.
    #[error("cannot read the etcd {what}: {source}")]
    Secret {
        /// Which one.
        what: &'static str,
        /// Why.
        source: TokenError,
    },
    /// A TLS file could not be read.
    #[error("cannot read {path}: {source}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// etcd could not be asked (`snapkeeper status`).
    #[error("cannot read the owner keys {prefix}owners/ from etcd at {endpoints}: {why}")]
    Etcd {
        /// `ha.etcd.endpoints`, joined.
        endpoints: String,
        /// `ha.etcd.prefix`.
        prefix: String,
        /// Why (never the password).
        why: String,
    },
}

/// How the etcd side is doing, for `STATUS=` and the fence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Not connected yet (or reconnecting after a lost lease).
    Connecting(String),
    /// Lease kept; `members` counting for the rendezvous.
    Ok {
        /// Live members that count (settled).
        members: usize,
    },
    /// No renewal for half the lease's time to live: no writes.
    Unreachable(String),
}

/// State shared by the etcd side, the fences and the supervisor.
#[derive(Debug)]
struct Shared {
    replica: String,
    half_ttl: Duration,
    /// When the request of the last renewal that etcd confirmed was sent:
    /// the lease lives at least `ttl` past it.
    renewed: Mutex<Option<Instant>>,
    /// Accounts whose owner key this replica holds under its current lease.
    held: Mutex<BTreeMap<String, i64>>,
    health: Mutex<Health>,
    /// Account names of the running config.
    accounts: Mutex<Vec<String>>,
    /// Tasks of stopped account loops, until the etcd side has seen them end.
    stopped: Mutex<BTreeMap<String, Vec<JoinHandle<()>>>>,
}

impl Shared {
    /// Why this replica may not write for `account` now, if it may not.
    fn fence(&self, account: &str) -> Result<(), String> {
        match *lock(&self.renewed) {
            None => return Err("no etcd lease".into()),
            Some(t) if t.elapsed() >= self.half_ttl => {
                return Err(format!(
                    "etcd lease not renewed for {}s (half its time to live)",
                    t.elapsed().as_secs()
                ));
            }
            Some(_) => {}
        }
        if lock(&self.held).contains_key(account) {
            Ok(())
        } else {
            Err("this replica no longer holds the account's owner key".into())
        }
    }
}

/// Messages from the supervisor to the etcd side.
#[derive(Debug)]
#[cfg_attr(not(feature = "ha"), allow(dead_code))]
enum ToEtcd {
    /// The config's accounts changed.
    Accounts,
    /// The daemon stops; `revoke` when every account loop has ended (then
    /// the lease is revoked so the others take over at once).
    Shutdown {
        revoke: bool,
        done: oneshot::Sender<()>,
    },
}

/// The supervisor's end of high availability.
#[derive(Debug, Clone)]
pub struct HaLink {
    shared: Arc<Shared>,
    to_etcd: mpsc::UnboundedSender<ToEtcd>,
}

impl HaLink {
    /// This replica's id.
    pub fn replica_id(&self) -> &str {
        &self.shared.replica
    }

    /// What the metrics show (issue 15): etcd reachable (a lease renewed
    /// within ttl/2), the members that count, and for each account of the
    /// config whether this replica holds its owner key.
    pub fn view(&self) -> View {
        let reachable = matches!(*lock(&self.shared.health), Health::Ok { .. })
            && lock(&self.shared.renewed).is_some_and(|t| t.elapsed() < self.shared.half_ttl);
        let members = match *lock(&self.shared.health) {
            Health::Ok { members } => members,
            _ => 0,
        };
        let held = lock(&self.shared.held);
        let owned = lock(&self.shared.accounts)
            .iter()
            .map(|a| (a.clone(), reachable && held.contains_key(a)))
            .collect();
        View {
            replica: self.shared.replica.clone(),
            etcd_reachable: reachable,
            members,
            owned,
        }
    }

    /// The fence the engine asks before each write for `account`.
    pub fn fence(&self, account: &str) -> Fence {
        let shared = self.shared.clone();
        let account = account.to_string();
        Fence::new(move || shared.fence(&account))
    }

    /// True while this replica holds the account's key (its loop may run).
    pub fn holds(&self, account: &str) -> bool {
        lock(&self.shared.held).contains_key(account)
    }

    /// The accounts of the running config (at start and after each reload).
    pub fn set_accounts(&self, names: Vec<String>) {
        *lock(&self.shared.accounts) = names;
        let _ = self.to_etcd.send(ToEtcd::Accounts);
    }

    /// An account loop was told to stop: its key is released only after
    /// this task has ended.
    pub fn stopped(&self, account: &str, task: JoinHandle<()>) {
        lock(&self.shared.stopped)
            .entry(account.to_string())
            .or_default()
            .push(task);
    }

    /// `replica a: owner of 12 of 30 accounts`, or why it owns nothing.
    pub fn status(&self, running: usize) -> String {
        let total = lock(&self.shared.accounts).len();
        let replica = &self.shared.replica;
        match &*lock(&self.shared.health) {
            Health::Ok { .. } => {
                format!("replica {replica}: owner of {running} of {total} accounts")
            }
            Health::Connecting(why) => {
                format!(
                    "replica {replica}: connecting to etcd ({why}), owner of {running} of {total} accounts"
                )
            }
            Health::Unreachable(why) => format!(
                "replica {replica}: etcd unreachable ({why}): no writes, owner of {running} of {total} accounts"
            ),
        }
    }

    /// Leave: revoke the lease when `revoke` (every loop ended, so the other
    /// replicas may take over at once), else let it expire. Waits at most
    /// a few seconds.
    pub async fn shutdown(&self, revoke: bool) {
        let (done, wait) = oneshot::channel();
        if self.to_etcd.send(ToEtcd::Shutdown { revoke, done }).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
        }
    }
}

/// How this replica stands, for the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// This replica's id.
    pub replica: String,
    /// A lease renewed within half its time to live.
    pub etcd_reachable: bool,
    /// Members that count for the rendezvous (0 while etcd is unreachable).
    pub members: usize,
    /// Each account of the config: does this replica hold its owner key?
    pub owned: Vec<(String, bool)>,
}

/// The user agent of a replica's provider requests:
/// `snapkeeper/0.1.0 (replica host-a)`.
pub fn user_agent(replica: &str) -> String {
    format!("{} (replica {replica})", crate::provider::http::USER_AGENT)
}

/// The keys of `ha:` that differ between the running settings and a
/// reloaded file (`ha`, when the section was added or removed), in file
/// order; names only, never a value.
pub fn changed_keys(running: Option<&Ha>, file: Option<&Ha>) -> Vec<&'static str> {
    let (a, b) = match (running, file) {
        (None, None) => return Vec::new(),
        (Some(a), Some(b)) => (a, b),
        _ => return vec!["ha"],
    };
    let (x, y) = (&a.etcd, &b.etcd);
    let mut out = Vec::new();
    let mut differs = |key: &'static str, changed: bool| {
        if changed {
            out.push(key);
        }
    };
    differs("ha.replica_id", a.replica_id != b.replica_id);
    differs("ha.etcd.endpoints", x.endpoints != y.endpoints);
    differs("ha.etcd.prefix", x.prefix != y.prefix);
    differs("ha.etcd.lease_ttl", x.lease_ttl != y.lease_ttl);
    differs("ha.etcd.settle", x.settle != y.settle);
    differs("ha.etcd.tls", x.tls != y.tls);
    differs("ha.etcd.auth", x.auth != y.auth);
    out
}

/// Who holds each account's owner key: account -> replica id, read once
/// from `PREFIX/owners/` (for `snapkeeper status`; bounded by a few
/// seconds, never a write).
///
/// # Errors
/// [`HaError::NotBuilt`] without the `ha` feature; [`HaError::Etcd`] when
/// etcd cannot be reached or refuses; [`HaError::Secret`] or
/// [`HaError::File`] when the password or a TLS file cannot be read.
pub async fn owners(ha: &Ha) -> Result<BTreeMap<String, String>, HaError> {
    read_owners(ha).await
}

#[cfg(feature = "ha")]
async fn read_owners(ha: &Ha) -> Result<BTreeMap<String, String>, HaError> {
    membership::read_owners(ha).await
}

#[cfg(not(feature = "ha"))]
async fn read_owners(_ha: &Ha) -> Result<BTreeMap<String, String>, HaError> {
    Err(HaError::NotBuilt)
}

/// The id of this replica: `ha.replica_id`, or host name and process id.
pub fn replica_id(ha: &Ha) -> String {
    ha.replica_id.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| {
                h.trim()
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                            c
                        } else {
                            '-'
                        }
                    })
                    .collect::<String>()
            })
            .map(|h| h.chars().take(48).collect::<String>())
            .filter(|h| h.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()))
            .unwrap_or_else(|| "snapkeeper".to_string());
        format!("{host}-{}", std::process::id())
    })
}

/// Start the etcd side for `ha` with the config's `accounts`: it connects
/// (and keeps reconnecting) in the background; nothing is owned, so nothing
/// written, until it holds a lease and keys. The supervisor reads its
/// [`Command`]s from the receiver.
///
/// # Errors
/// [`HaError`] when the binary has no etcd client or a secret cannot be read.
pub fn start(
    ha: &Ha,
    accounts: Vec<String>,
) -> Result<(HaLink, mpsc::UnboundedReceiver<Command>), HaError> {
    let (to_etcd, from_sup) = mpsc::unbounded_channel();
    let (to_sup, commands) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        replica: replica_id(ha),
        half_ttl: ha.etcd.lease_ttl / 2,
        renewed: Mutex::new(None),
        held: Mutex::new(BTreeMap::new()),
        health: Mutex::new(Health::Connecting("starting".into())),
        accounts: Mutex::new(accounts),
        stopped: Mutex::new(BTreeMap::new()),
    });
    spawn_etcd_side(ha, shared.clone(), from_sup, to_sup)?;
    Ok((HaLink { shared, to_etcd }, commands))
}

#[cfg(feature = "ha")]
fn spawn_etcd_side(
    ha: &Ha,
    shared: Arc<Shared>,
    from_sup: mpsc::UnboundedReceiver<ToEtcd>,
    to_sup: mpsc::UnboundedSender<Command>,
) -> Result<(), HaError> {
    let options = membership::Options::from_config(ha)?;
    tokio::spawn(membership::run(options, shared, from_sup, to_sup));
    Ok(())
}

#[cfg(not(feature = "ha"))]
fn spawn_etcd_side(
    _ha: &Ha,
    _shared: Arc<Shared>,
    _from_sup: mpsc::UnboundedReceiver<ToEtcd>,
    _to_sup: mpsc::UnboundedSender<Command>,
) -> Result<(), HaError> {
    Err(HaError::NotBuilt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(half_ttl: Duration) -> Shared {
        Shared {
            replica: "r1".into(),
            half_ttl,
            renewed: Mutex::new(None),
            held: Mutex::new(BTreeMap::new()),
            health: Mutex::new(Health::Connecting("test".into())),
            accounts: Mutex::new(vec!["a".into(), "b".into()]),
            stopped: Mutex::new(BTreeMap::new()),
        }
    }

    #[test]
    fn fence_cases() {
        // (what, renewed this long ago, held accounts, account, allowed)
        type Case = (
            &'static str,
            Option<u64>,
            &'static [&'static str],
            &'static str,
            bool,
        );
        let cases: &[Case] = &[
            ("no lease yet", None, &["a"], "a", false),
            ("fresh lease, key held", Some(0), &["a"], "a", true),
            ("fresh lease, key not held", Some(0), &["a"], "b", false),
            ("renewal older than ttl/2", Some(6), &["a"], "a", false),
            ("renewal just inside ttl/2", Some(4), &["a"], "a", true),
        ];
        for (what, ago, held, account, ok) in cases {
            let s = shared(Duration::from_secs(5));
            *lock(&s.renewed) =
                ago.and_then(|a| Instant::now().checked_sub(Duration::from_secs(a)));
            for h in *held {
                lock(&s.held).insert((*h).to_string(), 1);
            }
            assert_eq!(
                s.fence(account).is_ok(),
                *ok,
                "{what}: {:?}",
                s.fence(account)
            );
        }
    }

    #[test]
    fn status_lines() {
        // (health, loops running, STATUS= part)
        let cases = [
            (
                Health::Ok { members: 2 },
                1,
                "replica r1: owner of 1 of 2 accounts",
            ),
            (
                Health::Unreachable("no answer".into()),
                0,
                "replica r1: etcd unreachable (no answer): no writes, owner of 0 of 2 accounts",
            ),
            (
                Health::Connecting("starting".into()),
                0,
                "replica r1: connecting to etcd (starting), owner of 0 of 2 accounts",
            ),
        ];
        for (health, running, want) in cases {
            let s = shared(Duration::from_secs(5));
            *lock(&s.health) = health;
            let (to_etcd, _rx) = mpsc::unbounded_channel();
            let link = HaLink {
                shared: Arc::new(s),
                to_etcd,
            };
            assert_eq!(link.status(running), want);
        }
    }

    /// `ha:` with one local endpoint, the default prefix and times.
    fn ha_with(replica_id: Option<&str>) -> Ha {
        Ha {
            replica_id: replica_id.map(str::to_string),
            etcd: crate::config::Etcd {
                endpoints: vec!["http://127.0.0.1:2379".into()],
                prefix: "/snapkeeper/".into(),
                lease_ttl: Duration::from_secs(15),
                settle: Duration::from_secs(5),
                tls: None,
                auth: None,
            },
        }
    }

    #[test]
    fn changed_keys_name_what_differs_never_a_value() {
        let base = ha_with(Some("ra"));
        let mut other = base.clone();
        other.etcd.lease_ttl = Duration::from_secs(10);
        other.etcd.endpoints.push("http://127.0.0.1:2380".into());
        other.etcd.auth = Some(crate::config::EtcdAuth {
            user: "u".into(),
            password: crate::config::TokenSource::Env("ETCD_PASSWORD".into()),
        });
        let cases: [(Option<&Ha>, Option<&Ha>, &[&str]); 5] = [
            (None, None, &[]),
            (Some(&base), Some(&base), &[]),
            (None, Some(&base), &["ha"]),
            (Some(&base), None, &["ha"]),
            (
                Some(&base),
                Some(&other),
                &["ha.etcd.endpoints", "ha.etcd.lease_ttl", "ha.etcd.auth"],
            ),
        ];
        for (running, file, want) in cases {
            assert_eq!(changed_keys(running, file), want, "{running:?} -> {file:?}");
        }
        assert_eq!(
            user_agent("ra"),
            format!("snapkeeper/{} (replica ra)", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn default_replica_id_is_host_and_pid() {
        let ha = ha_with(None);
        let id = replica_id(&ha);
        assert!(id.ends_with(&format!("-{}", std::process::id())), "{id}");
        assert!(crate::config::is_replica_id(&id), "{id}");
        let named = Ha {
            replica_id: Some("host-a".into()),
            ..ha
        };
        assert_eq!(replica_id(&named), "host-a");
    }
}
