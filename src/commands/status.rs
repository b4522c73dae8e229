//! `snapkeeper status`: is every protected resource's newest snapshot fresh
//! enough? A Nagios/Icinga/Zabbix plugin as is.
//!
//! Owns the status table, its `--json` form and the plugin exit code: 0 OK,
//! 1 WARNING, 2 CRITICAL, 3 UNKNOWN (an account could not be read: provider
//! unreachable, token refused, listing incomplete). Severity wins over
//! UNKNOWN: a CRIT resource on one account makes the answer 2 even when
//! another account is unreachable, since that is the one to act on.
//!
//! With `ha:` in the config (issue 15) it also shows which replica holds
//! each account's owner key, read once from etcd under the daemon's
//! prefix; etcd out of reach makes the owner unknown, never the verdict.
//!
//! Must never: write to a provider or to etcd (it only lists resources and
//! managed snapshots, so a read-only token is enough, and reads the owner
//! keys), print a token or the etcd password, let ownership change the
//! exit code, or judge freshness any other way than `policy::freshness`
//! does.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::table::Table;
use super::{Ctx, connect, fail, local, to_json};
use crate::config::{Account, TargetKind};
use crate::health::{self, ResourceHealth, SnapFact};
use crate::policy::freshness::Level;
use crate::policy::trust;
use crate::provider::{ListScope, Provider, Resource, Snapshot};

/// Nagios plugin exit codes.
pub mod code {
    /// All fresh.
    pub const OK: u8 = 0;
    /// Some resource is past its warn threshold.
    pub const WARNING: u8 = 1;
    /// Some resource is past its crit threshold or has no snapshot.
    pub const CRITICAL: u8 = 2;
    /// Some account could not be read.
    pub const UNKNOWN: u8 = 3;
}

#[derive(Serialize)]
struct StatusJson<'a> {
    state: &'static str,
    exit_code: u8,
    summary: &'a str,
    at: DateTime<Utc>,
    accounts: &'a [AccountStatus],
}

/// One account's answer.
#[derive(Debug, Serialize)]
pub struct AccountStatus {
    /// Account name.
    pub account: String,
    /// Provider name.
    pub provider: String,
    /// Why the account could not be read (UNKNOWN), if it could not.
    pub error: Option<String>,
    /// One entry per policy and selected resource.
    pub resources: Vec<ResourceHealth>,
    /// Issue 15: who holds the account's owner key; only with `ha:`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
}

/// Issue 15: an account's owner in etcd, as `status` read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owner {
    /// The replica holding the owner key; `None` when no replica holds it
    /// or when it could not be read (then `error` says why).
    pub replica: Option<String>,
    /// Why the owner is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Owner {
    /// The table's OWNER cell.
    fn cell(&self) -> String {
        match (&self.replica, &self.error) {
            (Some(r), _) => r.clone(),
            (None, None) => "none".into(),
            (None, Some(_)) => "unknown".into(),
        }
    }
}

/// Issue 15: the owner of each of `accounts` from etcd, or the same
/// "unknown" for all when etcd cannot be read (or this build has no etcd
/// client).
pub async fn owners_of(ha: &crate::config::Ha, accounts: &[&str]) -> Vec<Owner> {
    let read = match crate::ha::owners(ha).await {
        Ok(owners) => Ok(owners),
        Err(crate::ha::HaError::NotBuilt) => Err(
            "ownership cannot be shown: this snapkeeper was built without the `ha` feature (cargo build --release --features ha)"
                .to_string(),
        ),
        Err(e) => Err(format!("owner unknown: {e}")),
    };
    accounts
        .iter()
        .map(|a| match &read {
            Ok(owners) => Owner {
                replica: owners.get(*a).cloned(),
                error: None,
            },
            Err(e) => Owner {
                replica: None,
                error: Some(e.clone()),
            },
        })
        .collect()
}

/// Read one account's state and judge every selected resource.
pub async fn account_status(
    account: &Account,
    client: &dyn Provider,
    now: DateTime<Utc>,
) -> AccountStatus {
    let mut out = AccountStatus {
        account: account.name.clone(),
        provider: account.provider.to_string(),
        error: None,
        resources: Vec::new(),
        owner: None,
    };
    let mut resources: BTreeMap<TargetKind, Vec<Resource>> = BTreeMap::new();
    let mut snapshots: BTreeMap<TargetKind, Vec<Snapshot>> = BTreeMap::new();
    for policy in &account.policies {
        let kind = policy.targets.kind;
        if let std::collections::btree_map::Entry::Vacant(slot) = resources.entry(kind) {
            let listed = match client.list_resources(kind).await {
                Ok(r) => r,
                Err(e) => {
                    out.error = Some(e.to_string());
                    return out;
                }
            };
            let snaps = match client
                .list_snapshots(
                    kind,
                    ListScope::Managed {
                        account: &account.name,
                    },
                )
                .await
            {
                Ok(s) => s,
                Err(e) => {
                    out.error = Some(e.to_string());
                    return out;
                }
            };
            slot.insert(listed);
            snapshots.insert(kind, snaps);
        }
        let th = health::thresholds_of(policy, now);
        let listed = resources.get(&kind).map(Vec::as_slice).unwrap_or_default();
        let snaps = snapshots.get(&kind).map(Vec::as_slice).unwrap_or_default();
        for r in listed.iter().filter(|r| policy.targets.matches(r.facts())) {
            let facts: Vec<SnapFact> = snaps
                .iter()
                .filter(|s| {
                    s.marker.as_ref().is_some_and(|m| {
                        m.account == account.name
                            && m.policy == policy.name
                            && m.resource_id == r.id
                    })
                })
                .map(|s| SnapFact {
                    created: s.created,
                    state: s.state,
                    size_gb: s.size_gb,
                    suspect: trust::suspect(
                        s.marker.as_ref().map(|m| m.created),
                        Some(s.created),
                        now,
                    )
                    .is_some(),
                })
                .collect();
            out.resources.push(health::assess(
                &account.name,
                policy,
                &th,
                (r.kind, &r.id, &r.name),
                &facts,
                now,
            ));
        }
    }
    out
}

/// The plugin state over all accounts, its exit code and a one-line summary.
pub fn verdict(accounts: &[AccountStatus]) -> (&'static str, u8, String) {
    let all: Vec<&ResourceHealth> = accounts.iter().flat_map(|a| &a.resources).collect();
    let n = |l: Level| all.iter().filter(|h| h.level() == l).count();
    let (crit, warn) = (n(Level::Crit), n(Level::Warn));
    let unknown: Vec<&AccountStatus> = accounts.iter().filter(|a| a.error.is_some()).collect();
    let mut parts = Vec::new();
    if crit > 0 {
        parts.push(format!("{crit} CRIT"));
    }
    if warn > 0 {
        parts.push(format!("{warn} WARN"));
    }
    if !unknown.is_empty() {
        let names: Vec<&str> = unknown.iter().map(|a| a.account.as_str()).collect();
        parts.push(format!("{} unreadable ({})", names.len(), names.join(", ")));
    }
    let ok = all.len() - crit - warn;
    let summary = if parts.is_empty() {
        format!("{ok} of {} resources fresh", all.len())
    } else {
        format!(
            "{}; {ok} of {} resources fresh",
            parts.join(", "),
            all.len()
        )
    };
    let (state, exit) = if crit > 0 {
        ("CRITICAL", code::CRITICAL)
    } else if warn > 0 {
        ("WARNING", code::WARNING)
    } else if !unknown.is_empty() {
        ("UNKNOWN", code::UNKNOWN)
    } else {
        ("OK", code::OK)
    };
    (state, exit, summary)
}

/// `snapkeeper status [--account ACCOUNT]... [--json]`.
pub async fn status(ctx: &Ctx, only: &[String], json: bool) -> u8 {
    let accounts = match ctx.accounts(only) {
        Ok(a) => a,
        Err(e) => {
            fail(&e);
            return code::UNKNOWN;
        }
    };
    let now = ctx.clock.now();
    let mut answers = Vec::new();
    for a in accounts {
        let answer = match connect(a, &ctx.client) {
            Ok(client) => account_status(a, client.as_ref(), now).await,
            Err(e) => AccountStatus {
                account: a.name.clone(),
                provider: a.provider.to_string(),
                error: Some(e.to_string()),
                resources: Vec::new(),
                owner: None,
            },
        };
        answers.push(answer);
    }
    // Issue 15: who owns what, with `ha:` only.
    let ha = ctx.config.ha.as_ref();
    if let Some(ha) = ha {
        let names: Vec<&str> = answers.iter().map(|a| a.account.as_str()).collect();
        let owners = owners_of(ha, &names).await;
        for (a, o) in answers.iter_mut().zip(owners) {
            a.owner = Some(o);
        }
    }
    let (state, exit, summary) = verdict(&answers);
    if json {
        println!(
            "{}",
            to_json(&StatusJson {
                state,
                exit_code: exit,
                summary: &summary,
                at: now,
                accounts: &answers,
            })
        );
        return exit;
    }
    // First line: the plugin output Nagios shows.
    println!("SNAPKEEPER {state} - {summary}");
    let mut header = vec![
        "ACCOUNT", "POLICY", "RESOURCE", "NEWEST", "AGE", "STATE", "REASON",
    ];
    if ha.is_some() {
        header.insert(1, "OWNER");
    }
    let mut t = Table::new(&header);
    // With `ha:`, the owner follows the account name.
    let row = |account: &AccountStatus, mut cells: Vec<String>| {
        if let Some(o) = &account.owner {
            cells.insert(1, o.cell());
        }
        cells
    };
    // A line for the account itself, with no resource.
    let account_line = |account: &AccountStatus, state: &str, reason: &str| {
        let mut cells = vec![account.account.clone()];
        cells.extend(["-"; 4].map(String::from));
        cells.extend([state.to_string(), reason.to_string()]);
        row(account, cells)
    };
    for a in &answers {
        if let Some(e) = &a.error {
            t.row(account_line(a, "UNKNOWN", e));
        }
        if a.resources.is_empty() && a.error.is_none() && a.owner.is_some() {
            // An account with nothing selected still shows its owner.
            t.row(account_line(a, "-", "no resource selected"));
        }
        for h in &a.resources {
            t.row(row(
                a,
                vec![
                    h.account.clone(),
                    h.policy.clone(),
                    format!("{} ({})", h.resource_name, h.resource_id),
                    h.newest_complete.map_or_else(|| "-".to_string(), local),
                    h.freshness
                        .age
                        .map_or_else(|| "-".to_string(), crate::policy::short_duration),
                    h.level().to_string(),
                    h.reason(),
                ],
            ));
        }
    }
    print!("{}", t.render());
    // Issue 15: why the owners are unknown, once (the same for every account).
    if let Some(e) = answers
        .iter()
        .find_map(|a| a.owner.as_ref().and_then(|o| o.error.as_ref()))
    {
        println!("{e}");
    }
    exit
}
