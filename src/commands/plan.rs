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
use super::{Ctx, combine, connect, fail, kinds_of, text, to_json};
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
pub async fn plan(ctx: &Ctx, accounts: &[String], json: bool, wide: bool) -> u8 {
    let accounts = match ctx.accounts(accounts) {
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
                let opts = ctx.with_grace(&opts, a);
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
    println!("plan at {} (nothing is changed)", text::time(now, true));
    for p in &plans {
        println!();
        println!("account {} ({})", p.account, p.provider);
        if let Some(e) = &p.error {
            println!("  error: {}", text::guard(e.clone()));
            continue;
        }
        if let Some(r) = &p.report {
            print_cycle(r, true, wide);
        }
        if p.unmanaged > 0 {
            println!(
                "  unmanaged: {} without this account's marker (never touched)",
                text::count_s(p.unmanaged, "snapshot")
            );
        }
    }
    if !warnings.is_empty() {
        println!();
        for w in &warnings {
            println!("warning: {}", text::guard(w.clone()));
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

/// `--at`: an RFC 3339 time, a date (midnight UTC), a date-time without a
/// zone (UTC), or a time relative to `now` (`+3d`, `+12h`, `-1w`, `+1d 6h`).
///
/// # Errors
/// A message that shows the accepted forms.
pub fn parse_at(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "--at {text:?} is not a time: give 2026-11-30, 2026-11-30T06:00 (UTC), 2026-11-30T06:00:00+01:00 or +3d"
        )
    };
    if let Some((sign, rest)) = t
        .strip_prefix('+')
        .map(|r| (1, r))
        .or_else(|| t.strip_prefix('-').map(|r| (-1, r)))
    {
        let d = humantime::parse_duration(rest.trim()).map_err(|_| bad())?;
        let d = chrono::TimeDelta::from_std(d).map_err(|_| bad())?;
        let at = if sign > 0 {
            now.checked_add_signed(d)
        } else {
            now.checked_sub_signed(d)
        };
        return at.ok_or_else(bad);
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(at) = chrono::NaiveDateTime::parse_from_str(t, format) {
            return Ok(at.and_utc());
        }
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return day
            .and_hms_opt(0, 0, 0)
            .map(|at| at.and_utc())
            .ok_or_else(bad);
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_forms() {
        let now = DateTime::parse_from_rfc3339("2026-11-30T06:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let cases = [
            ("2026-12-07T06:00:00Z", Some("2026-12-07T06:00:00Z")),
            ("2026-12-07T08:00:00+02:00", Some("2026-12-07T06:00:00Z")),
            ("2026-12-07", Some("2026-12-07T00:00:00Z")),
            ("2026-12-07T06:30", Some("2026-12-07T06:30:00Z")),
            ("2026-12-07 06:30:15", Some("2026-12-07T06:30:15Z")),
            ("+3d", Some("2026-12-03T06:00:00Z")),
            ("+12h", Some("2026-11-30T18:00:00Z")),
            ("+1d 6h", Some("2026-12-01T12:00:00Z")),
            ("-1w", Some("2026-11-23T06:00:00Z")),
            ("tomorrow", None),
            ("+3 parsecs", None),
            ("2026-13-01", None),
            ("", None),
        ];
        for (input, want) in cases {
            let got = parse_at(input, now)
                .ok()
                .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
            assert_eq!(got.as_deref(), want, "--at {input:?}");
        }
    }
}
