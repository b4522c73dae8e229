//! A cycle report as people read it: the text that `plan` and `prune` print
//! per account (schedule, create, the snapshot table, orphans).
//!
//! Owns wording and layout only. Must never: decide anything (the report
//! already says what was or would be done), or talk to a provider.

use super::local;
use super::table::Table;
use crate::engine::{CreateStatus, CycleReport, DeleteStatus, OrphanReason, PruneStatus};

/// Print a cycle report as people read it (used by `plan` and `prune`).
pub(super) fn print_cycle(r: &CycleReport, show_due: bool) {
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
