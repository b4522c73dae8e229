//! `snapkeeper snapshot`: take one snapshot now, managed (`--policy`, named by
//! its marker) or manual (`--name`), and optionally wait for it.
//!
//! Owns finding the resource by id or unique name, the checks before a create
//! (a manual name that looks like a marker, a policy that does not select the
//! resource), and the progress shown while waiting.
//!
//! Must never: send a create before those checks pass, or give a manual
//! snapshot a name that retention would take for a marker.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{CommandError, Ctx, connect, fail, kinds_of, text, to_json};
use crate::config::{Account, TargetKind};
use crate::exit;
use crate::policy::{Marker, marker};
use crate::provider::{self, ListScope, Progress, Provider, Resource, SnapshotName, WaitOutcome};

/// Find a resource of the account by id or (unique) name.
pub(super) async fn find_resource(
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

/// What `snapkeeper snapshot` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct SnapshotOptions {
    /// The account.
    pub account: String,
    /// Resource id or name.
    pub resource: String,
    /// A manual snapshot's name.
    pub name: Option<String>,
    /// Make it a managed snapshot of this policy.
    pub policy: Option<String>,
    /// Wait until it is complete.
    pub wait: bool,
    /// Machine-readable output (one object on stdout at the end).
    pub json: bool,
}

/// `snapkeeper snapshot --json`. Stable: fields are only ever added.
#[derive(Debug, Serialize)]
struct SnapshotJson {
    account: String,
    kind: String,
    resource_id: String,
    resource_name: String,
    name: String,
    managed: bool,
    policy: Option<String>,
    snapshot_id: Option<String>,
    started: DateTime<Utc>,
    /// `started` (no --wait), `complete`, `failed`, `unknown` or `stopped`.
    status: String,
    reason: Option<String>,
    /// Snapshots of the resource that already had this name.
    same_name: Vec<String>,
}

/// `snapkeeper snapshot`: take a snapshot now, managed (`--policy`) or manual.
pub async fn snapshot(ctx: &Ctx, opts: &SnapshotOptions) -> u8 {
    let (account, resource) = (opts.account.as_str(), opts.resource.as_str());
    let (name, policy, wait) = (opts.name.as_deref(), opts.policy.as_deref(), opts.wait);
    // A manual snapshot stays manual: refuse a name before anything is sent.
    if let Some(n) = name.filter(|n| marker::looks_like_marker(n)) {
        return fail(&CommandError::MarkerLikeName {
            name: n.to_string(),
        });
    }
    let a = match ctx.account(account) {
        Ok(a) => a,
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
    // Same name on the same resource: allowed (the providers allow it), but
    // said, since a person picking one later cannot tell them apart.
    let same_name = same_name(client.as_ref(), &r, &shown).await;
    if !same_name.is_empty() {
        eprintln!(
            "warning: {} {} already has {} named {:?} ({}); taking another",
            r.kind,
            text::escape(&r.name),
            text::count_s(same_name.len(), "snapshot"),
            text::escape(&shown),
            same_name.join(", ")
        );
    }
    let pending = match client.create_snapshot(&r, &snapshot_name, &tags).await {
        Ok(p) => p,
        Err(e) => return fail(&CommandError::from(e)),
    };
    let mut out = SnapshotJson {
        account: a.name.clone(),
        kind: r.kind.to_string(),
        resource_id: r.id.clone(),
        resource_name: r.name.clone(),
        name: shown.clone(),
        managed: policy.is_some(),
        policy: policy.map(|p| p.name.clone()),
        snapshot_id: pending.snapshot_id.clone(),
        started: now,
        status: "started".to_string(),
        reason: None,
        same_name,
    };
    if !opts.json {
        println!(
            "started snapshot {:?} of {} {} ({}){}",
            text::escape(&shown),
            r.kind,
            text::escape(&r.name),
            r.id,
            pending
                .snapshot_id
                .as_deref()
                .map(|id| format!(", snapshot id {id}"))
                .unwrap_or_default()
        );
    }
    if !wait {
        if opts.json {
            println!("{}", to_json(&out));
        }
        return exit::OK;
    }
    let cancel = CancellationToken::new();
    let show = |p: &Progress, waited: std::time::Duration| {
        eprintln!("  {}s: {}", waited.as_secs(), progress_text(p));
    };
    let outcome = tokio::select! {
        o = provider::wait(client.as_ref(), &pending, &ctx.engine.wait, &cancel, show) => Some(o),
        _ = tokio::signal::ctrl_c() => None,
    };
    let code = match outcome {
        None => {
            eprintln!("stopped waiting; the snapshot goes on at the provider");
            out.status = "stopped".to_string();
            exit::PARTIAL
        }
        Some(WaitOutcome::Done { snapshot_id }) => {
            if !opts.json {
                println!("snapshot {snapshot_id} complete");
            }
            out.snapshot_id = Some(snapshot_id);
            out.status = "complete".to_string();
            exit::OK
        }
        Some(WaitOutcome::Failed { reason }) => {
            eprintln!("error: snapshot failed: {}", text::guard(reason.clone()));
            out.status = "failed".to_string();
            out.reason = Some(reason);
            exit::PARTIAL
        }
        Some(WaitOutcome::Unknown { reason }) => {
            eprintln!(
                "snapshot not confirmed yet ({}); check later with `snapkeeper list`",
                text::guard(reason.clone())
            );
            out.status = "unknown".to_string();
            out.reason = Some(reason);
            exit::PARTIAL
        }
    };
    if opts.json {
        println!("{}", to_json(&out));
    }
    code
}

/// Ids of the resource's snapshots already named `name` (none when the
/// listing fails: the warning is a courtesy, not a gate).
async fn same_name(client: &dyn Provider, r: &Resource, name: &str) -> Vec<String> {
    match client.list_snapshots(r.kind, ListScope::All).await {
        Ok(list) => list
            .into_iter()
            .filter(|s| {
                // Vultr does not say which instance a manual snapshot was
                // taken of: one of unknown origin may be this resource's.
                let source = s
                    .resource_id
                    .as_deref()
                    .or(s.marker.as_ref().map(|m| m.resource_id.as_str()));
                s.name == name && source.is_none_or(|id| id == r.id)
            })
            .map(|s| s.id)
            .collect(),
        Err(_) => Vec::new(),
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
