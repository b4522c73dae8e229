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
use super::{CommandError, Ctx, combine, connect, fail, kinds_of, text, to_json};
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

/// What `snapkeeper list` shows.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Only these accounts (all when empty).
    pub accounts: Vec<String>,
    /// Only snapshots of this resource (id or name).
    pub resource: Option<String>,
    /// Manual (unmanaged) snapshots too.
    pub all: bool,
    /// Machine-readable output.
    pub json: bool,
    /// Full ids, names and times.
    pub wide: bool,
}

/// Longest manual snapshot name a table shows without `--wide`.
const NAME_WIDTH: usize = 40;

/// `snapkeeper list`: snapshots with resource, created, size, status and
/// whether they are managed, one table per account.
pub async fn list(ctx: &Ctx, opts: &ListOptions) -> u8 {
    let accounts = match ctx.accounts(&opts.accounts) {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    let mut sections = Vec::new();
    let (mut ok, mut failed) = (0, 0);
    for a in accounts {
        match list_account(a, &ctx.client, opts.resource.as_deref(), opts.all).await {
            Ok(mut rows) => {
                ok += 1;
                rows.sort_by(|x, y| (&x.resource_id, x.created).cmp(&(&y.resource_id, y.created)));
                sections.push((a, rows));
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    if opts.json {
        let rows: Vec<&ListRow> = sections.iter().flat_map(|(_, rows)| rows).collect();
        println!("{}", to_json(&rows));
        return combine(ok, failed);
    }
    let what = if opts.all {
        "snapshot"
    } else {
        "managed snapshot"
    };
    for (i, (a, rows)) in sections.iter().enumerate() {
        if i > 0 {
            println!();
        }
        if rows.is_empty() {
            println!("account {} ({}): no {what}s", a.name, a.provider);
            continue;
        }
        println!(
            "account {} ({}): {}",
            a.name,
            a.provider,
            text::count_s(rows.len(), what)
        );
        let mut t = Table::new(&[
            "ID", "RESOURCE", "CREATED", "SIZE", "STATUS", "POLICY", "NAME",
        ]);
        // Snapshot ids and resource ids are told apart each among their own.
        let ids = text::Ids::new(rows.iter().map(|r| r.id.as_str()), opts.wide);
        let resource_ids = text::Ids::new(
            rows.iter().filter_map(|r| r.resource_id.as_deref()),
            opts.wide,
        );
        for r in rows {
            let resource = match (&r.resource_name, &r.resource_id) {
                (Some(n), Some(id)) if opts.wide => {
                    format!("{} ({})", text::escape(n), text::id(id, true))
                }
                (Some(n), Some(_)) => text::name(n, 20, false),
                (None, Some(id)) => format!("{} (gone)", resource_ids.show(id)),
                _ => "-".to_string(),
            };
            // A managed snapshot's name is its marker: account, policy,
            // resource and time, all shown already (in full with --wide).
            let name = if r.managed && !opts.wide {
                String::new()
            } else {
                text::name(&r.name, NAME_WIDTH, opts.wide)
            };
            t.row(vec![
                ids.show(&r.id),
                resource,
                text::time(r.created, opts.wide),
                text::size_gb(r.size_gb),
                r.status.clone(),
                r.policy
                    .as_deref()
                    .map_or_else(|| "-".to_string(), text::escape),
                name,
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
