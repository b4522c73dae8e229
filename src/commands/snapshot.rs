//! `snapkeeper snapshot`: take one snapshot now, managed (`--policy`, named by
//! its marker) or manual (`--name`), and optionally wait for it.
//!
//! Owns finding the resource by id or unique name, the checks before a create
//! (a manual name that looks like a marker, a policy that does not select the
//! resource), and the progress shown while waiting.
//!
//! Must never: send a create before those checks pass, or give a manual
//! snapshot a name that retention would take for a marker.

use tokio_util::sync::CancellationToken;

use super::{CommandError, Ctx, connect, fail, kinds_of};
use crate::config::{Account, TargetKind};
use crate::exit;
use crate::policy::{Marker, marker};
use crate::provider::{self, Progress, Provider, Resource, SnapshotName, WaitOutcome};

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
