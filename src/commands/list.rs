//! `snapkeeper list`: snapshots with their resource, creation time, size,
//! status and whether this account manages them.
//!
//! Owns the list rows (`ListRow`, stable in `--json`: fields are only ever
//! added) and the table.
//!
//! Must never: write to a provider, or call a snapshot managed unless it
//! carries this account's marker.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::table::Table;
use super::{CommandError, Ctx, combine, connect, fail, kinds_of, local, to_json};
use crate::config::{Account, TargetKind};
use crate::policy::SnapState;
use crate::provider::{ClientOptions, ListScope, Resource, Snapshot};

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
