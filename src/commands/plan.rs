//! `snapkeeper plan`: what `run` would do now (or at `--at`), writing nothing.
//!
//! Owns the plan's collection (a dry-run cycle per account plus the count of
//! snapshots without this account's marker) and its text and `--json` output.
//!
//! Must never: write to a provider, or decide retention itself (the engine and
//! the policy core do, in dry-run mode).

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::report::print_cycle;
use super::{Ctx, combine, connect, fail, kinds_of, local, to_json};
use crate::config::Account;
use crate::engine::{self, CycleReport, EngineOptions};
use crate::exit;
use crate::provider::{ListScope, Provider};

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
