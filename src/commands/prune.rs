//! `snapkeeper prune`: retention now, with the daemon's floors and caps; no
//! snapshot is created.
//!
//! Owns the per-account prune run and its text and `--json` output.
//!
//! Must never: create a snapshot, delete anything under `--dry-run`, or
//! implement a second retention logic (the engine and `policy` decide).

use tokio_util::sync::CancellationToken;

use super::report::print_cycle;
use super::{Ctx, combine, connect, fail, text, to_json};
use crate::engine::{self, DeleteStatus, EngineOptions};
use crate::exit;

/// `snapkeeper prune`: retention now, with the daemon's floors and caps; no
/// snapshot is created.
pub async fn prune(ctx: &Ctx, accounts: &[String], dry_run: bool, json: bool, wide: bool) -> u8 {
    let accounts = match ctx.accounts(accounts) {
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
            print_cycle(r, false, wide);
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
                println!("  would delete {}", text::count_s(would, "snapshot"));
            } else {
                println!("  deleted {}", text::count_s(deleted, "snapshot"));
            }
        }
        for r in &reports {
            for res in &r.resources {
                for s in &res.snapshots {
                    if let Some(DeleteStatus::Failed(e)) = &s.delete {
                        eprintln!("error: {}", text::guard(e.clone()));
                    }
                }
            }
        }
    }
    combine(ok, failed)
}
