//! A cycle report as people read it: the text that `plan` and `prune` print
//! per account (schedule, create, the snapshot table, orphans).
//!
//! Owns wording and layout only. Must never: decide anything (the report
//! already says what was or would be done), or talk to a provider.

use super::table::Table;
use super::text;
use crate::engine::{CreateStatus, CycleReport, DeleteStatus, OrphanReason, PruneStatus};

/// Print a cycle report as people read it (used by `plan` and `prune`).
pub(super) fn print_cycle(r: &CycleReport, show_due: bool, wide: bool) {
    for e in &r.errors {
        println!("  error: {}", text::guard(e.clone()));
    }
    for w in &r.warnings {
        println!("  warning: {}", text::guard(w.clone()));
    }
    // Snapshot ids and resource ids are told apart each among their own.
    let ids = text::Ids::new(
        r.resources
            .iter()
            .flat_map(|res| res.snapshots.iter().map(|s| s.id.as_str())),
        wide,
    );
    let resource_ids = text::Ids::new(
        r.resources
            .iter()
            .map(|res| res.resource_id.as_str())
            .chain(r.orphans.iter().map(|o| o.resource_id.as_str())),
        wide,
    );
    for res in &r.resources {
        println!(
            "  {} {} ({})  policy {}",
            res.kind,
            text::escape(&res.resource_name),
            resource_ids.show(&res.resource_id),
            res.policy
        );
        if show_due && let Some(d) = &res.due {
            let when = if d.due {
                "due now".to_string()
            } else {
                format!("next due {}", text::time(d.next, wide))
            };
            println!("    schedule: {when} ({})", d.reason);
        }
        match &res.create {
            CreateStatus::NotDue => {}
            // The new name is the marker: account, policy, resource, time.
            CreateStatus::WouldCreate(name) if wide => {
                println!("    create: would create {}", text::escape(name))
            }
            CreateStatus::WouldCreate(_) => println!("    create: would create one now"),
            CreateStatus::InProgress(what) => {
                println!("    create: not now, one is in progress ({what})")
            }
            CreateStatus::Created { snapshot_id } => println!("    create: created {snapshot_id}"),
            other => println!("    create: {}", text::guard(create_text(other))),
        }
        if let PruneStatus::Skipped(why) = &res.prune {
            println!("    prune: skipped ({})", text::guard(why.clone()));
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
                    }) => format!("held until {}", text::time(*until, wide)),
                    Some(DeleteStatus::Held { until: None, .. }) => "held (clock)".to_string(),
                    Some(DeleteStatus::Failed(_)) => "delete failed (see error)".to_string(),
                    None => s.action.to_string(),
                };
                t.row(vec![
                    ids.show(&s.id),
                    text::time(s.created, wide),
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
            fate.push(format!(
                "{} held",
                text::count(o.held.len(), "deletion", "deletions")
            ));
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
            "  orphans: {} of {} {} from policy {}: {}; {fate}",
            text::count_s(o.snapshots.len(), "snapshot"),
            o.kind,
            resource_ids.show(&o.resource_id),
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
