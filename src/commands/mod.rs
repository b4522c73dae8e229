//! Operator commands: `check`, `plan`, `snapshot`, `list`, `prune`, `status`,
//! `inventory`, one file each; this file holds what they share (the context,
//! errors, account selection, connecting, exit-code arithmetic).
//!
//! Owns what each command prints (aligned tables, or stable `--json`) and its
//! exit code: 0 all good, 1 partial, 2 nothing done, 78 config (the caller
//! maps config errors). Every command goes through the same config, provider
//! clients, engine and policy core as the daemon.
//!
//! Must never: write to a provider in `plan`, `list`, `inventory` or
//! `prune --dry-run`; print a token; or implement a second retention logic.

pub mod check;
pub mod delete;
pub mod inventory;
pub mod list;
pub mod online;
pub mod plan;
pub mod prune;
mod report;
pub mod snapshot;
pub mod status; // issue 12: `snapkeeper status` (its own file)
pub mod table;
pub mod text;

pub use check::check;
pub use delete::{DeleteOptions, delete};
pub use inventory::inventory;
pub use list::{ListOptions, ListRow, list};
pub use plan::plan;
pub use prune::prune;
pub use snapshot::{SnapshotOptions, progress_text, snapshot};

use chrono::{DateTime, Local, Utc};
use serde::Serialize;

use crate::clock::Clock;
use crate::config::{Account, Config, Diagnostic, TargetKind};
use crate::engine::EngineOptions;
use crate::exit;
use crate::provider::{self, ClientOptions, Provider};

/// Errors a command reports before or instead of doing its work.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// `--account` or ACCOUNT names no account in the config.
    #[error("no account named {name:?} in {file} (accounts: {known})")]
    UnknownAccount {
        /// The name given.
        name: String,
        /// The config file.
        file: String,
        /// The names that exist.
        known: String,
    },
    /// The resource was not found by id or name.
    #[error(
        "account {account}: no droplet, volume, instance or server with id or name {resource:?}"
    )]
    UnknownResource {
        /// The account.
        account: String,
        /// What was asked for.
        resource: String,
    },
    /// More than one resource has that name.
    #[error(
        "account {account}: {count} resources are named {resource:?}; give the id instead ({ids})"
    )]
    AmbiguousResource {
        /// The account.
        account: String,
        /// The name.
        resource: String,
        /// How many.
        count: usize,
        /// Their ids.
        ids: String,
    },
    /// `--policy` names no policy of the account.
    #[error("account {account} has no policy {policy:?} (policies: {known})")]
    UnknownPolicy {
        /// The account.
        account: String,
        /// The policy asked for.
        policy: String,
        /// The ones that exist.
        known: String,
    },
    /// The policy targets another kind of resource.
    #[error("policy {policy} of account {account} snapshots {want}s, but {resource} is a {got}")]
    WrongKind {
        /// The account.
        account: String,
        /// The policy.
        policy: String,
        /// The resource.
        resource: String,
        /// The policy's kind.
        want: TargetKind,
        /// The resource's kind.
        got: TargetKind,
    },
    /// The policy does not select the resource: a managed snapshot of it
    /// would be an orphan that retention never looks at.
    #[error(
        "policy {policy} of account {account} does not select {kind} {resource} ({id}); a snapshot under it would never be pruned (use --name for a manual one)"
    )]
    NotTargeted {
        /// The account.
        account: String,
        /// The policy.
        policy: String,
        /// The resource kind.
        kind: TargetKind,
        /// The resource name.
        resource: String,
        /// The resource id.
        id: String,
    },
    /// A manual snapshot name that retention would take for a marker.
    #[error(
        "manual snapshot name {name:?} looks like a snapkeeper marker: retention would take it for a managed snapshot and delete it; choose a name that does not start with `snapkeeper:` (or use --policy for a managed snapshot)"
    )]
    MarkerLikeName {
        /// The name given.
        name: String,
    },
    /// No snapshot of the account has that id, id prefix or name.
    #[error("account {account}: no snapshot with id, id prefix or name {snapshot:?}")]
    UnknownSnapshot {
        /// The account.
        account: String,
        /// What was asked for.
        snapshot: String,
    },
    /// More than one snapshot matches.
    #[error("account {account}: {count} snapshots match {snapshot:?}; give the full id ({ids})")]
    AmbiguousSnapshot {
        /// The account.
        account: String,
        /// What was asked for.
        snapshot: String,
        /// How many.
        count: usize,
        /// Their ids.
        ids: String,
    },
    /// `delete` will not delete this snapshot.
    #[error("not deleting snapshot {id}: {why}")]
    DeleteRefused {
        /// The snapshot id.
        id: String,
        /// Why not.
        why: String,
    },
    /// `delete` without `--yes` where nobody can answer.
    #[error("not deleting without confirmation: stdin is not a terminal, pass --yes")]
    NotConfirmed,
    /// The token could not be read or the client built.
    #[error("account {account}: {message}")]
    Connect {
        /// The account.
        account: String,
        /// What went wrong.
        message: String,
    },
    /// A provider call failed (boxed: it carries the provider's own words).
    #[error(transparent)]
    Provider(Box<provider::Error>),
    /// The marker could not be built.
    #[error("account {account}: {message}")]
    Marker {
        /// The account.
        account: String,
        /// Why.
        message: String,
    },
}

impl From<provider::Error> for CommandError {
    fn from(e: provider::Error) -> Self {
        Self::Provider(Box::new(e))
    }
}

/// Shared inputs of every command.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The checked config.
    pub config: Config,
    /// Its warnings (quota and token-file warnings show in `plan`).
    pub warnings: Vec<Diagnostic>,
    /// The daemon's reload grace periods by account (from its state
    /// directory): `plan` shows what they hold, `prune` honours them.
    pub graces: std::collections::BTreeMap<String, crate::engine::Grace>,
    /// The one clock (`plan --at` pins it).
    pub clock: Clock,
    /// Engine knobs (waits, busy retries).
    pub engine: EngineOptions,
    /// HTTP client knobs (time-outs, retries, pacing).
    pub client: ClientOptions,
}

impl Ctx {
    /// `opts` with the daemon's grace period for `account`, if one runs.
    fn with_grace(&self, opts: &EngineOptions, account: &Account) -> EngineOptions {
        EngineOptions {
            grace: self.graces.get(&account.name).cloned(),
            ..opts.clone()
        }
    }

    /// The accounts named by `--account` (repeatable), in config order; all
    /// of them when none is named.
    fn accounts(&self, only: &[String]) -> Result<Vec<&Account>, CommandError> {
        if let Some(name) = only
            .iter()
            .find(|n| !self.config.accounts.iter().any(|a| &a.name == *n))
        {
            return Err(CommandError::UnknownAccount {
                name: name.clone(),
                file: self.config.path.display().to_string(),
                known: self
                    .config
                    .accounts
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok(self
            .config
            .accounts
            .iter()
            .filter(|a| only.is_empty() || only.contains(&a.name))
            .collect())
    }

    /// The one account a command such as `snapshot` or `delete` acts on.
    fn account(&self, name: &str) -> Result<&Account, CommandError> {
        let mut found = self.accounts(std::slice::from_ref(&name.to_string()))?;
        found.pop().ok_or_else(|| CommandError::UnknownAccount {
            name: name.to_string(),
            file: self.config.path.display().to_string(),
            known: String::new(),
        })
    }
}

/// Read the account's token and build its client.
pub fn connect(
    account: &Account,
    options: &ClientOptions,
) -> Result<Box<dyn Provider>, CommandError> {
    let err = |message: String| CommandError::Connect {
        account: account.name.clone(),
        message,
    };
    let token = account.token.read().map_err(|e| err(e.to_string()))?;
    provider::connect_with(account, token, options).map_err(|e| err(e.to_string()))
}

/// The resource kinds an account's provider has.
pub fn kinds_of(account: &Account) -> Vec<TargetKind> {
    [
        TargetKind::Droplet,
        TargetKind::Volume,
        TargetKind::Instance,
        TargetKind::Server,
    ]
    .into_iter()
    .filter(|k| k.provider() == account.provider)
    .collect()
}

/// A time for people: local time with its offset.
pub fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M:%S %:z")
        .to_string()
}

fn fail(e: &CommandError) -> u8 {
    eprintln!("error: {e}");
    exit::NOTHING_DONE
}

/// Combine per-account outcomes: all ok 0, some ok 1, none ok 2.
fn combine(ok: usize, failed: usize) -> u8 {
    match (ok, failed) {
        (_, 0) => exit::OK,
        (0, _) => exit::NOTHING_DONE,
        _ => exit::PARTIAL,
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
