//! `snapkeeper delete ACCOUNT SNAPSHOT`: delete one snapshot, the control
//! panels' "Delete" button, with the safety rules of the daemon in front.
//!
//! Owns finding the snapshot (id, unique id prefix as tables show it, or
//! unique name), the refusals, the confirmation and the output.
//!
//! Must never: delete without a confirmation (a "yes" on a terminal, or
//! `--yes`); delete a snapshot with provider delete protection; delete,
//! without `--force`, a managed snapshot that retention keeps (the decision
//! is `policy::decide`'s, with the policy's own rules and floors, never a
//! second retention logic), an orphan (kept by the daemon until retired), or a
//! snapshot carrying another account's marker.

use std::io::{BufRead, IsTerminal, Write};

use serde::Serialize;

use super::{CommandError, Ctx, connect, fail, kinds_of, text, to_json};
use crate::config::Account;
use crate::exit;
use crate::policy::{self, Action, GroupKey, SnapshotInfo, trust};
use crate::provider::{ListScope, Provider, Snapshot};

/// What `snapkeeper delete` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// The account.
    pub account: String,
    /// Snapshot id, unique id prefix, or unique name.
    pub snapshot: String,
    /// Do not ask.
    pub yes: bool,
    /// Delete a managed snapshot even though retention keeps it.
    pub force: bool,
    /// Machine-readable output.
    pub json: bool,
}

#[derive(Serialize)]
struct Deleted<'a> {
    account: &'a str,
    id: &'a str,
    name: &'a str,
    kind: String,
    resource_id: Option<&'a str>,
    managed: bool,
    policy: Option<&'a str>,
    forced: bool,
    deleted: bool,
}

/// `snapkeeper delete`.
pub async fn delete(ctx: &Ctx, opts: &DeleteOptions) -> u8 {
    let a = match ctx.account(&opts.account) {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    let client = match connect(a, &ctx.client) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let (snapshot, listing) = match find_snapshot(a, client.as_ref(), &opts.snapshot).await {
        Ok(found) => found,
        Err(e) => return fail(&e),
    };
    let s = &snapshot;
    if s.protected {
        return fail(&CommandError::DeleteRefused {
            id: s.id.clone(),
            why: "delete protection is on at the provider; turn it off there first".to_string(),
        });
    }
    let managed = s.marker.as_ref().is_some_and(|m| m.account == a.name);
    if let Err(why) = retention_allows(ctx, a, client.as_ref(), s, &listing).await {
        if !opts.force {
            return fail(&CommandError::DeleteRefused {
                id: s.id.clone(),
                why: format!("{why}; add --force to delete it anyway"),
            });
        }
        eprintln!("warning: {why}; deleting because of --force");
    }
    let what = format!(
        "{} snapshot {} {:?}{}",
        s.kind,
        s.id,
        text::escape(&s.name),
        s.resource_id
            .as_deref()
            .map(|r| format!(" of {}", text::escape(r)))
            .unwrap_or_default()
    );
    if !opts.yes {
        match confirm(&format!("delete {what} in account {}?", a.name)) {
            Ok(true) => {}
            Ok(false) => {
                eprintln!("not deleted");
                return exit::NOTHING_DONE;
            }
            Err(e) => return fail(&e),
        }
    }
    if let Err(e) = client.delete_snapshot(s).await {
        return fail(&CommandError::from(e));
    }
    if opts.json {
        println!(
            "{}",
            to_json(&Deleted {
                account: &a.name,
                id: &s.id,
                name: &s.name,
                kind: s.kind.to_string(),
                resource_id: s.resource_id.as_deref(),
                managed,
                policy: s
                    .marker
                    .as_ref()
                    .filter(|_| managed)
                    .map(|m| m.policy.as_str()),
                forced: opts.force,
                deleted: true,
            })
        );
    } else {
        println!("deleted {what}");
    }
    exit::OK
}

/// The snapshot by exact id, else by unique id prefix (a trailing `…` as in
/// the tables is dropped), else by unique name; with the listing of its kind.
async fn find_snapshot(
    a: &Account,
    client: &dyn Provider,
    wanted: &str,
) -> Result<(Snapshot, Vec<Snapshot>), CommandError> {
    let prefix = wanted.trim_end_matches('…');
    let mut listings = Vec::new();
    for kind in kinds_of(a) {
        let listing = client.list_snapshots(kind, ListScope::All).await?;
        if let Some(s) = listing.iter().find(|s| s.id == wanted) {
            let s = s.clone();
            return Ok((s, listing));
        }
        listings.push(listing);
    }
    let pick = |matches: Vec<(usize, usize)>| -> Option<Result<(usize, usize), CommandError>> {
        match matches.len() {
            0 => None,
            1 => Some(Ok(matches[0])),
            n => Some(Err(CommandError::AmbiguousSnapshot {
                account: a.name.clone(),
                snapshot: wanted.to_string(),
                count: n,
                ids: matches
                    .iter()
                    .map(|&(l, i)| listings[l][i].id.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            })),
        }
    };
    let find = |f: &dyn Fn(&Snapshot) -> bool| -> Vec<(usize, usize)> {
        listings
            .iter()
            .enumerate()
            .flat_map(|(l, list)| {
                list.iter()
                    .enumerate()
                    .filter(|(_, s)| f(s))
                    .map(move |(i, _)| (l, i))
            })
            .collect()
    };
    let by_prefix = if prefix.is_empty() {
        Vec::new()
    } else {
        find(&|s: &Snapshot| s.id.starts_with(prefix))
    };
    let found = match pick(by_prefix) {
        Some(r) => r?,
        None => match pick(find(&|s: &Snapshot| s.name == wanted)) {
            Some(r) => r?,
            None => {
                return Err(CommandError::UnknownSnapshot {
                    account: a.name.clone(),
                    snapshot: wanted.to_string(),
                });
            }
        },
    };
    let (l, i) = found;
    let listing = listings.swap_remove(l);
    let s = listing[i].clone();
    Ok((s, listing))
}

/// `Ok` when retention would let this snapshot go (or it is not managed by
/// this account); `Err` says why it is kept.
async fn retention_allows(
    ctx: &Ctx,
    a: &Account,
    client: &dyn Provider,
    s: &Snapshot,
    listing: &[Snapshot],
) -> Result<(), String> {
    let Some(m) = &s.marker else {
        return Ok(());
    };
    if m.account != a.name {
        return Err(format!(
            "it carries account {}'s marker: another installation's managed snapshot",
            text::escape(&m.account)
        ));
    }
    let Some(p) = a.policies.iter().find(|p| p.name == m.policy) else {
        return Err(format!(
            "its policy {} is not in the config: the daemon keeps such orphans",
            m.policy
        ));
    };
    let resources = client.list_resources(s.kind).await.map_err(|e| {
        format!("its resources could not be listed ({e}), so retention cannot tell")
    })?;
    let targeted = resources
        .iter()
        .any(|r| r.id == m.resource_id && p.targets.matches(r.facts()));
    if !targeted {
        return Err(format!(
            "resource {} is gone or no longer selected by policy {}: the daemon keeps such orphans",
            m.resource_id, p.name
        ));
    }
    let key = GroupKey {
        account: a.name.clone(),
        policy: p.name.clone(),
        resource_id: m.resource_id.clone(),
    };
    let now = ctx.clock.now();
    let infos: Vec<SnapshotInfo> = listing
        .iter()
        .filter(|x| x.marker.as_ref().is_some_and(|xm| key.owns(xm)))
        .map(|x| SnapshotInfo {
            id: x.id.clone(),
            created: x.created,
            state: x.state,
            marker: x.marker.clone(),
            suspect: trust::suspect(x.marker.as_ref().map(|xm| xm.created), Some(x.created), now),
        })
        .collect();
    // One deletion asked for by name: the per-run cap does not apply, every
    // keep rule and floor does.
    let decisions = policy::decide(&key, &p.keep, u32::MAX, p.timezone, &infos)
        .map_err(|e| format!("retention refused to decide: {e}"))?;
    match decisions.iter().find(|d| d.id == s.id) {
        Some(d) if d.action == Action::Delete => Ok(()),
        Some(d) => Err(format!(
            "retention of policy {} keeps it ({})",
            p.name,
            d.reasons
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )),
        None => Err("retention did not decide on it".to_string()),
    }
}

/// Ask on the terminal; refuse when stdin is not one.
fn confirm(question: &str) -> Result<bool, CommandError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CommandError::NotConfirmed);
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|_| CommandError::NotConfirmed)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}
