//! Operator commands: `plan`, `snapshot`, `list`, `prune`, `inventory`.
//!
//! Owns what each command prints (aligned tables, or stable `--json`) and its
//! exit code: 0 all good, 1 partial, 2 nothing done, 78 config (the caller
//! maps config errors). Every command goes through the same config, provider
//! clients, engine and policy core as the daemon.
//!
//! Must never: write to a provider in `plan`, `list`, `inventory` or
//! `prune --dry-run`; print a token; or implement a second retention logic.

pub mod status; // issue 12: `snapkeeper status` (its own file)
pub mod table;

use std::collections::BTreeMap;

use chrono::{DateTime, Local, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::{Account, Config, Diagnostic, TargetKind};
use crate::engine::{
    self, CreateStatus, CycleReport, DeleteStatus, EngineOptions, OrphanReason, PruneStatus,
};
use crate::exit;
use crate::policy::{Marker, SnapState, marker};
use crate::provider::{
    self, ClientOptions, ListScope, Progress, Provider, Resource, Snapshot, SnapshotName,
    WaitOutcome,
};
use table::Table;

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
    pub graces: std::collections::BTreeMap<String, engine::Grace>,
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

    fn accounts(&self, only: Option<&str>) -> Result<Vec<&Account>, CommandError> {
        match only {
            None => Ok(self.config.accounts.iter().collect()),
            Some(name) => self
                .config
                .accounts
                .iter()
                .find(|a| a.name == name)
                .map(|a| vec![a])
                .ok_or_else(|| CommandError::UnknownAccount {
                    name: name.to_string(),
                    file: self.config.path.display().to_string(),
                    known: self
                        .config
                        .accounts
                        .iter()
                        .map(|a| a.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
        }
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

// ---------------------------------------------------------------- plan

#[derive(Serialize)]
struct PlanJson {
    at: DateTime<Utc>,
    accounts: Vec<AccountPlan>,
    warnings: Vec<String>,
}

#[derive(Serialize)]
struct AccountPlan {
    account: String,
    provider: String,
    error: Option<String>,
    unmanaged: usize,
    report: Option<CycleReport>,
}

/// `snapkeeper plan`: what `run` would do now (or at `--at`), writing nothing.
pub async fn plan(ctx: &Ctx, account: Option<&str>, json: bool) -> u8 {
    let accounts = match ctx.accounts(account) {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    let now = ctx.clock.now();
    let opts = EngineOptions {
        started: now,
        dry_run: true,
        ..ctx.engine.clone()
    };
    let cancel = CancellationToken::new();
    let mut plans = Vec::new();
    for a in accounts {
        let mut p = AccountPlan {
            account: a.name.clone(),
            provider: a.provider.to_string(),
            error: None,
            unmanaged: 0,
            report: None,
        };
        match connect(a, &ctx.client) {
            Err(e) => p.error = Some(e.to_string()),
            Ok(client) => {
                let opts = ctx.with_grace(&opts, a);
                let report =
                    engine::run_cycle(a, client.as_ref(), &ctx.clock, &opts, &cancel).await;
                p.unmanaged = count_unmanaged(a, client.as_ref()).await;
                p.report = Some(report);
            }
        }
        plans.push(p);
    }
    let (mut ok, mut failed) = (0, 0);
    for p in &plans {
        match p.report.as_ref().map(CycleReport::exit_code) {
            Some(exit::OK) => ok += 1,
            Some(exit::PARTIAL) => {
                ok += 1;
                failed += 1;
            }
            _ => failed += 1,
        }
    }
    let code = combine(ok, failed);
    let warnings: Vec<String> = ctx.warnings.iter().map(ToString::to_string).collect();
    if json {
        println!(
            "{}",
            to_json(&PlanJson {
                at: now,
                accounts: plans,
                warnings,
            })
        );
        return code;
    }
    println!("plan at {} (nothing is changed)", local(now));
    for p in &plans {
        println!();
        println!("account {} ({})", p.account, p.provider);
        if let Some(e) = &p.error {
            println!("  error: {e}");
            continue;
        }
        if let Some(r) = &p.report {
            print_cycle(r, true);
        }
        if p.unmanaged > 0 {
            println!(
                "  unmanaged: {} snapshot(s) without this account's marker (never touched)",
                p.unmanaged
            );
        }
    }
    if !warnings.is_empty() {
        println!();
        for w in &warnings {
            println!("warning: {w}");
        }
    }
    code
}

async fn count_unmanaged(account: &Account, client: &dyn Provider) -> usize {
    let mut n = 0;
    for kind in kinds_of(account) {
        if let Ok(all) = client.list_snapshots(kind, ListScope::All).await {
            n += all
                .iter()
                .filter(|s| s.marker.as_ref().is_none_or(|m| m.account != account.name))
                .count();
        }
    }
    n
}

/// Print a cycle report as people read it (used by `plan` and `prune`).
fn print_cycle(r: &CycleReport, show_due: bool) {
    for e in &r.errors {
        println!("  error: {e}");
    }
    for w in &r.warnings {
        println!("  warning: {w}");
    }
    for res in &r.resources {
        println!(
            "  {} {} ({})  policy {}",
            res.kind, res.resource_name, res.resource_id, res.policy
        );
        if show_due && let Some(d) = &res.due {
            let when = if d.due {
                "due now".to_string()
            } else {
                format!("next due {}", local(d.next))
            };
            println!("    schedule: {when} ({})", d.reason);
        }
        match &res.create {
            CreateStatus::NotDue => {}
            CreateStatus::WouldCreate(name) => println!("    create: would create {name}"),
            CreateStatus::InProgress(what) => {
                println!("    create: not now, one is in progress ({what})")
            }
            CreateStatus::Created { snapshot_id } => println!("    create: created {snapshot_id}"),
            other => println!("    create: {}", create_text(other)),
        }
        if let PruneStatus::Skipped(why) = &res.prune {
            println!("    prune: skipped ({why})");
        }
        if !res.snapshots.is_empty() {
            let mut t = Table::new(&["SNAPSHOT", "CREATED", "STATE", "ACTION", "REASONS"]);
            // Oldest first, whatever order the provider listed them in.
            let mut rows: Vec<_> = res.snapshots.iter().collect();
            rows.sort_by_key(|s| s.created);
            for s in rows {
                let action = match &s.delete {
                    Some(DeleteStatus::WouldDelete) => "delete".to_string(),
                    Some(DeleteStatus::Deleted) => "deleted".to_string(),
                    Some(DeleteStatus::Protected) => "keep (protected)".to_string(),
                    Some(DeleteStatus::NotAttempted(w)) => format!("keep ({w})"),
                    Some(DeleteStatus::Held {
                        until: Some(until), ..
                    }) => format!("held until {}", local(*until)),
                    Some(DeleteStatus::Held { until: None, .. }) => "held (clock)".to_string(),
                    Some(DeleteStatus::Failed(_)) => "delete failed (see error)".to_string(),
                    None => s.action.to_string(),
                };
                t.row(vec![
                    s.id.clone(),
                    local(s.created),
                    s.state.to_string(),
                    action,
                    s.reasons.join("; "),
                ]);
            }
            for line in t.render().lines() {
                println!("    {line}");
            }
        }
    }
    for o in &r.orphans {
        let mut fate = Vec::new();
        if !o.would_delete.is_empty() {
            fate.push(format!(
                "{} would be deleted (prune_orphans)",
                o.would_delete.len()
            ));
        }
        if !o.deleted.is_empty() {
            fate.push(format!("{} deleted (prune_orphans)", o.deleted.len()));
        }
        if !o.held.is_empty() {
            fate.push(format!("{} deletion(s) held", o.held.len()));
        }
        if !o.protected.is_empty() {
            fate.push(format!("{} delete-protected, skipped", o.protected.len()));
        }
        if !o.failed.is_empty() {
            fate.push(format!("{} failed to delete", o.failed.len()));
        }
        let fate = if fate.is_empty() && o.reason == OrphanReason::PolicyRemoved {
            "kept (name the policy in retired_policies to let prune_orphans remove them)"
                .to_string()
        } else if fate.is_empty() {
            "kept".to_string()
        } else {
            fate.join(", ")
        };
        println!(
            "  orphans: {} snapshot(s) of {} {} from policy {}: {}; {fate}",
            o.snapshots.len(),
            o.kind,
            o.resource_id,
            o.policy,
            o.reason,
        );
    }
}

fn create_text(c: &CreateStatus) -> String {
    match c {
        CreateStatus::Failed(r) => format!("failed: {r}"),
        CreateStatus::Unconfirmed(r) => format!("not confirmed: {r}"),
        CreateStatus::Busy(r) => format!("resource busy: {r}"),
        CreateStatus::Error(e) => format!("error: {e}"),
        CreateStatus::Quota(e) => format!("at the snapshot limit: {e}"),
        CreateStatus::Stopped => "stopped".to_string(),
        CreateStatus::NotDue => "not due".to_string(),
        CreateStatus::InProgress(w) => format!("in progress: {w}"),
        CreateStatus::WouldCreate(n) => format!("would create {n}"),
        CreateStatus::Created { snapshot_id } => format!("created {snapshot_id}"),
    }
}

// ---------------------------------------------------------------- prune

/// `snapkeeper prune`: retention now, with the daemon's floors and caps; no
/// snapshot is created.
pub async fn prune(ctx: &Ctx, account: Option<&str>, dry_run: bool, json: bool) -> u8 {
    let accounts = match ctx.accounts(account) {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    let opts = EngineOptions {
        started: ctx.clock.now(),
        dry_run,
        skip_create: true,
        ..ctx.engine.clone()
    };
    let cancel = CancellationToken::new();
    let mut reports = Vec::new();
    let (mut ok, mut failed) = (0, 0);
    for a in accounts {
        match connect(a, &ctx.client) {
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
            Ok(client) => {
                let opts = ctx.with_grace(&opts, a);
                let r = engine::run_cycle(a, client.as_ref(), &ctx.clock, &opts, &cancel).await;
                match r.exit_code() {
                    exit::OK => ok += 1,
                    exit::PARTIAL => {
                        ok += 1;
                        failed += 1;
                    }
                    _ => failed += 1,
                }
                reports.push(r);
            }
        }
    }
    if json {
        println!("{}", to_json(&reports));
    } else {
        for r in &reports {
            println!(
                "account {}{}",
                r.account,
                if dry_run {
                    " (dry run: nothing is deleted)"
                } else {
                    ""
                }
            );
            print_cycle(r, false);
            let (_, deleted, _) = r.counts();
            let would = r
                .resources
                .iter()
                .flat_map(|x| &x.snapshots)
                .filter(|s| s.delete == Some(DeleteStatus::WouldDelete))
                .count()
                + r.orphans
                    .iter()
                    .map(|o| o.would_delete.len())
                    .sum::<usize>();
            if dry_run {
                println!("  would delete {would} snapshot(s)");
            } else {
                println!("  deleted {deleted} snapshot(s)");
            }
        }
        for r in &reports {
            for res in &r.resources {
                for s in &res.snapshots {
                    if let Some(DeleteStatus::Failed(e)) = &s.delete {
                        eprintln!("error: {e}");
                    }
                }
            }
        }
    }
    combine(ok, failed)
}

// ---------------------------------------------------------------- snapshot

/// Find a resource of the account by id or (unique) name.
async fn find_resource(
    account: &Account,
    client: &dyn Provider,
    wanted: &str,
    kind: Option<TargetKind>,
) -> Result<Resource, CommandError> {
    let mut by_name = Vec::new();
    for k in kinds_of(account) {
        if kind.is_some_and(|want| want != k) {
            continue;
        }
        for r in client.list_resources(k).await? {
            if r.id == wanted {
                return Ok(r);
            }
            if r.name == wanted {
                by_name.push(r);
            }
        }
    }
    match by_name.len() {
        0 => Err(CommandError::UnknownResource {
            account: account.name.clone(),
            resource: wanted.to_string(),
        }),
        1 => Ok(by_name.remove(0)),
        n => Err(CommandError::AmbiguousResource {
            account: account.name.clone(),
            resource: wanted.to_string(),
            count: n,
            ids: by_name
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// `snapkeeper snapshot`: take a snapshot now, managed (`--policy`) or manual.
pub async fn snapshot(
    ctx: &Ctx,
    account: &str,
    resource: &str,
    name: Option<&str>,
    policy: Option<&str>,
    wait: bool,
) -> u8 {
    // A manual snapshot stays manual: refuse a name before anything is sent.
    if let Some(n) = name.filter(|n| marker::looks_like_marker(n)) {
        return fail(&CommandError::MarkerLikeName {
            name: n.to_string(),
        });
    }
    let a = match ctx.accounts(Some(account)) {
        Ok(a) => a[0],
        Err(e) => return fail(&e),
    };
    let client = match connect(a, &ctx.client) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let policy = match policy {
        None => None,
        Some(p) => match a.policies.iter().find(|x| x.name == p) {
            Some(p) => Some(p),
            None => {
                return fail(&CommandError::UnknownPolicy {
                    account: a.name.clone(),
                    policy: p.to_string(),
                    known: a
                        .policies
                        .iter()
                        .map(|x| x.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        },
    };
    let r = match find_resource(a, client.as_ref(), resource, None).await {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let now = ctx.clock.now();
    let (snapshot_name, tags) = match policy {
        Some(p) => {
            if p.targets.kind != r.kind {
                return fail(&CommandError::WrongKind {
                    account: a.name.clone(),
                    policy: p.name.clone(),
                    resource: r.name.clone(),
                    want: p.targets.kind,
                    got: r.kind,
                });
            }
            if !p.targets.matches(r.facts()) {
                return fail(&CommandError::NotTargeted {
                    account: a.name.clone(),
                    policy: p.name.clone(),
                    kind: r.kind,
                    resource: r.name.clone(),
                    id: r.id.clone(),
                });
            }
            match Marker::new(&a.name, &p.name, &r.id, now) {
                Ok(m) => (SnapshotName::Managed(m), p.snapshot_tags.clone()),
                Err(e) => {
                    return fail(&CommandError::Marker {
                        account: a.name.clone(),
                        message: e.to_string(),
                    });
                }
            }
        }
        None => {
            let n = name.map_or_else(
                || format!("{}-{}", r.name, now.format("%Y%m%d-%H%M%S")),
                str::to_string,
            );
            (SnapshotName::Manual(n), Vec::new())
        }
    };
    let shown = match &snapshot_name {
        SnapshotName::Managed(m) => m.encode(),
        SnapshotName::Manual(n) => n.clone(),
    };
    let pending = match client.create_snapshot(&r, &snapshot_name, &tags).await {
        Ok(p) => p,
        Err(e) => return fail(&CommandError::from(e)),
    };
    println!(
        "started snapshot {shown:?} of {} {} ({}){}",
        r.kind,
        r.name,
        r.id,
        pending
            .snapshot_id
            .as_deref()
            .map(|id| format!(", snapshot id {id}"))
            .unwrap_or_default()
    );
    if !wait {
        return exit::OK;
    }
    let cancel = CancellationToken::new();
    let show = |p: &Progress, waited: std::time::Duration| {
        eprintln!("  {}s: {}", waited.as_secs(), progress_text(p));
    };
    let outcome = tokio::select! {
        o = provider::wait(client.as_ref(), &pending, &ctx.engine.wait, &cancel, show) => o,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("stopped waiting; the snapshot goes on at the provider");
            return exit::PARTIAL;
        }
    };
    match outcome {
        WaitOutcome::Done { snapshot_id } => {
            println!("snapshot {snapshot_id} complete");
            exit::OK
        }
        WaitOutcome::Failed { reason } => {
            eprintln!("error: snapshot failed: {reason}");
            exit::PARTIAL
        }
        WaitOutcome::Unknown { reason } => {
            eprintln!("snapshot not confirmed yet ({reason}); check later with `snapkeeper list`");
            exit::PARTIAL
        }
    }
}

/// Progress text for `snapshot --wait`.
pub fn progress_text(p: &Progress) -> String {
    match p {
        Progress::Running { percent: Some(n) } => format!("running, {n}%"),
        Progress::Running { percent: None } => "running".to_string(),
        Progress::Done { snapshot_id } => format!("done ({snapshot_id})"),
        Progress::Failed { reason } => format!("failed ({reason})"),
    }
}

// ---------------------------------------------------------------- list

/// One row of `snapkeeper list --json`. Stable: fields are only ever added.
#[derive(Debug, Serialize)]
pub struct ListRow {
    /// Account name.
    pub account: String,
    /// Provider name.
    pub provider: String,
    /// Resource kind the snapshot was taken of.
    pub kind: String,
    /// Snapshot id.
    pub id: String,
    /// Name or description.
    pub name: String,
    /// Source resource id, when known.
    pub resource_id: Option<String>,
    /// Source resource name, when it still exists.
    pub resource_name: Option<String>,
    /// Creation time, UTC.
    pub created: DateTime<Utc>,
    /// Size in GB, when known.
    pub size_gb: Option<f64>,
    /// `complete`, `in_progress` or `failed`.
    pub status: String,
    /// Carries this account's marker.
    pub managed: bool,
    /// The policy in the marker.
    pub policy: Option<String>,
}

/// `snapkeeper list`: snapshots with resource, created, size, status and
/// whether they are managed.
pub async fn list(
    ctx: &Ctx,
    account: Option<&str>,
    resource: Option<&str>,
    all: bool,
    json: bool,
) -> u8 {
    let accounts = match ctx.accounts(account) {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    let mut rows = Vec::new();
    let (mut ok, mut failed) = (0, 0);
    for a in accounts {
        match list_account(a, &ctx.client, resource, all).await {
            Ok(mut r) => {
                ok += 1;
                rows.append(&mut r);
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    rows.sort_by(|x, y| {
        (&x.account, &x.resource_id, x.created).cmp(&(&y.account, &y.resource_id, y.created))
    });
    if json {
        println!("{}", to_json(&rows));
    } else if rows.is_empty() {
        println!("no {}snapshots", if all { "" } else { "managed " });
    } else {
        let mut t = Table::new(&[
            "ACCOUNT", "ID", "NAME", "RESOURCE", "CREATED", "SIZE", "STATUS", "MANAGED",
        ]);
        for r in &rows {
            t.row(vec![
                r.account.clone(),
                r.id.clone(),
                r.name.clone(),
                match (&r.resource_name, &r.resource_id) {
                    (Some(n), Some(id)) => format!("{n} ({id})"),
                    (None, Some(id)) => format!("{id} (gone)"),
                    _ => "-".to_string(),
                },
                local(r.created),
                r.size_gb
                    .map_or_else(|| "-".to_string(), |g| format!("{g:.1} GB")),
                r.status.clone(),
                r.policy
                    .as_ref()
                    .map_or_else(|| "manual".to_string(), |p| format!("policy {p}")),
            ]);
        }
        print!("{}", t.render());
    }
    combine(ok, failed)
}

async fn list_account(
    a: &Account,
    options: &ClientOptions,
    resource: Option<&str>,
    all: bool,
) -> Result<Vec<ListRow>, CommandError> {
    let client = connect(a, options)?;
    let mut rows = Vec::new();
    for kind in kinds_of(a) {
        let resources: BTreeMap<String, Resource> = client
            .list_resources(kind)
            .await?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        let scope = if all {
            ListScope::All
        } else {
            ListScope::Managed { account: &a.name }
        };
        for s in client.list_snapshots(kind, scope).await? {
            let ours = s.marker.as_ref().filter(|m| m.account == a.name);
            if !all && ours.is_none() {
                continue;
            }
            let rid = s
                .resource_id
                .clone()
                .or_else(|| s.marker.as_ref().map(|m| m.resource_id.clone()));
            let rname = rid
                .as_ref()
                .and_then(|id| resources.get(id))
                .map(|r| r.name.clone());
            if let Some(want) = resource
                && rid.as_deref() != Some(want)
                && rname.as_deref() != Some(want)
            {
                continue;
            }
            rows.push(row_of(
                a,
                kind,
                &s,
                rid,
                rname,
                ours.map(|m| m.policy.clone()),
            ));
        }
    }
    Ok(rows)
}

fn row_of(
    a: &Account,
    kind: TargetKind,
    s: &Snapshot,
    resource_id: Option<String>,
    resource_name: Option<String>,
    policy: Option<String>,
) -> ListRow {
    ListRow {
        account: a.name.clone(),
        provider: a.provider.to_string(),
        kind: kind.to_string(),
        id: s.id.clone(),
        name: s.name.clone(),
        resource_id,
        resource_name,
        created: s.created,
        size_gb: s.size_gb,
        status: match s.state {
            SnapState::Complete => "complete",
            SnapState::InProgress => "in_progress",
            SnapState::Failed => "failed",
        }
        .to_string(),
        managed: policy.is_some(),
        policy,
    }
}

// ---------------------------------------------------------------- inventory

#[derive(Serialize)]
struct InventoryJson {
    account: String,
    provider: String,
    error: Option<String>,
    sections: Vec<provider::InventorySection>,
}

/// `snapkeeper inventory`: what each account holds, by kind.
pub async fn inventory(ctx: &Ctx, account: Option<&str>, json: bool) -> u8 {
    let accounts = match ctx.accounts(account) {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    let mut out = Vec::new();
    for a in accounts {
        let mut item = InventoryJson {
            account: a.name.clone(),
            provider: a.provider.to_string(),
            error: None,
            sections: Vec::new(),
        };
        match connect(a, &ctx.client) {
            Err(e) => item.error = Some(e.to_string()),
            Ok(client) => match client.inventory().await {
                Ok(inv) => item.sections = inv.sections,
                Err(e) => item.error = Some(e.to_string()),
            },
        }
        out.push(item);
    }
    let failed = out.iter().filter(|i| i.error.is_some()).count();
    let code = combine(out.len() - failed, failed);
    if json {
        println!("{}", to_json(&out));
        return code;
    }
    for (i, item) in out.iter().enumerate() {
        if i > 0 {
            println!();
        }
        if let Some(e) = &item.error {
            println!("account {} ({}): error: {e}", item.account, item.provider);
            continue;
        }
        let counts: Vec<String> = item
            .sections
            .iter()
            .map(|s| format!("{} {}", s.items.len(), s.kind.replace('_', " ")))
            .collect();
        println!(
            "account {} ({}): {}",
            item.account,
            item.provider,
            counts.join(", ")
        );
        let mut t = Table::new(&["KIND", "ID", "NAME", "REGION", "STATUS"]);
        for s in &item.sections {
            for it in &s.items {
                t.row(vec![
                    s.kind.clone(),
                    it.id.clone(),
                    it.name.clone(),
                    it.region.clone().unwrap_or_default(),
                    it.status.clone().unwrap_or_default(),
                ]);
            }
        }
        if !t.is_empty() {
            print!("{}", t.render());
        }
    }
    code
}
