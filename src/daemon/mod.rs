//! The daemon: a supervisor with one task per account, hot reload, graceful
//! shutdown, systemd notifications and logging setup.
//!
//! Owns the task tree (a root `CancellationToken`, a `TaskTracker`, a child
//! token and a `watch` channel per account), the one reload path (file
//! watcher and SIGHUP both send [`Control::Reload`]), and shutdown with a
//! deadline below systemd's `TimeoutStopSec`.
//!
//! Must never: stop because a reload is invalid (the last good config keeps
//! running), restart an account whose checked config did not change, or
//! cancel work anywhere but at the engine's safe points.

pub mod logging;
pub mod reload;
pub mod systemd;
pub mod watch;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::clock::Clock;
use crate::config::{self, Account};
use crate::engine::{self, CycleReport, EngineOptions, Grace};
use crate::provider::{self, ClientOptions, Provider};
pub use reload::{AccountDiff, ReloadOutcome, Reloader, diff};
pub use watch::ReloadCause;

/// Messages to the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Re-read the config file.
    Reload(ReloadCause),
    /// Stop.
    Shutdown,
}

/// Errors that stop the daemon from starting. Once running, nothing stops it
/// but a shutdown request.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The config file is missing or invalid at start.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A signal handler could not be installed.
    #[error("cannot install the {signal} handler: {source}")]
    Signal {
        /// Which signal.
        signal: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// Issue 12: the metrics address cannot be served.
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
}

/// Knobs for the daemon.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// The one wall clock.
    pub clock: Clock,
    /// Per-cycle engine options (`started` is set per account loop).
    pub engine: EngineOptions,
    /// HTTP client knobs (time-outs, retries, pacing).
    pub client: ClientOptions,
    /// Shortest pause between cycles after trouble (doubles with each failed
    /// cycle, up to 8 times this).
    pub retry_delay: Duration,
    /// Longest sleep before re-checking schedules (guards against clock jumps).
    pub max_sleep: Duration,
    /// How long shutdown waits for account tasks to reach a safe point.
    /// Keep it below the unit's `TimeoutStopSec` (30 s).
    pub shutdown_grace: Duration,
    /// Watch the config file for changes.
    pub watch_file: bool,
    /// Issue 12: metrics, notifications and the health part of `STATUS=`.
    pub monitor: Arc<crate::monitor::Monitor>,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        Self {
            clock: Clock::system(),
            engine: EngineOptions::default(),
            client: ClientOptions::default(),
            retry_delay: Duration::from_secs(60),
            max_sleep: Duration::from_secs(3600),
            shutdown_grace: Duration::from_secs(20),
            watch_file: true,
            monitor: Arc::default(),
        }
    }
}

/// What the supervisor knows about each account loop, for `STATUS=` lines
/// and the watchdog.
#[derive(Debug, Default)]
struct Board {
    next: BTreeMap<String, Option<(DateTime<Utc>, String)>>,
    cycles: u64,
}

type SharedBoard = Arc<Mutex<Board>>;

fn board(b: &SharedBoard) -> std::sync::MutexGuard<'_, Board> {
    b.lock().unwrap_or_else(PoisonError::into_inner)
}

struct AccountTask {
    cancel: CancellationToken,
    config: tokio::sync::watch::Sender<Account>,
    /// Finished while not cancelled means the loop died (a panic).
    handle: tokio::task::JoinHandle<()>,
}

struct Supervisor {
    opts: DaemonOptions,
    root: CancellationToken,
    tracker: TaskTracker,
    tasks: BTreeMap<String, AccountTask>,
    board: SharedBoard,
    notifier: systemd::Notifier,
    /// Errors of the last rejected reload, until a reload finds the file
    /// good again (shown in `STATUS=`).
    rejected: Option<usize>,
    /// Accounts a reload removed, with their last settings and when, so that
    /// one that comes back within its grace period (a half-written file)
    /// is compared with what it ran before rather than with nothing.
    removed: BTreeMap<String, (Account, DateTime<Utc>)>,
}

impl Supervisor {
    fn spawn(&mut self, account: Account, grace: Option<Grace>) {
        let name = account.name.clone();
        let cancel = self.root.child_token();
        let (tx, rx) = tokio::sync::watch::channel(account);
        let span = info_span!("account", account = %name);
        let handle = self.tracker.spawn(
            account_loop(
                rx,
                self.opts.clone(),
                cancel.clone(),
                self.board.clone(),
                grace,
            )
            .instrument(span),
        );
        self.tasks.insert(
            name,
            AccountTask {
                cancel,
                config: tx,
                handle,
            },
        );
    }

    fn stop(&mut self, name: &str) {
        if let Some(task) = self.tasks.remove(name) {
            task.cancel.cancel();
        }
        board(&self.board).next.remove(name);
        self.opts.monitor.forget_account(name); // issue 12: its series go
    }

    fn apply(&mut self, diff: &AccountDiff, accounts: &[Account]) {
        let now = self.opts.clock.now();
        self.removed.retain(|_, (a, at)| now < *at + grace_of(a));
        for name in &diff.removed {
            info!(account = %name, "account removed: stopping its loop at the next safe point");
            if let Some(task) = self.tasks.get(name) {
                let last = task.config.borrow().clone();
                self.removed.insert(name.clone(), (last, now));
            }
            self.stop(name);
        }
        for name in &diff.changed {
            if let (Some(task), Some(account)) = (
                self.tasks.get(name),
                accounts.iter().find(|a| &a.name == name),
            ) {
                info!(account = %name, "account changed: new settings apply at the next safe point");
                let _ = task.config.send(account.clone());
            }
        }
        for name in &diff.added {
            if let Some(account) = accounts.iter().find(|a| &a.name == name) {
                info!(account = %name, "account added: starting its loop");
                // Deletions of an account the file did not have a moment ago
                // wait the grace period like any other change.
                let grace = (!account.reload_grace.is_zero()).then(|| Grace {
                    until: now + grace_of(account),
                    baseline: self.removed.remove(name).map(|(a, _)| a),
                });
                self.spawn(account.clone(), grace);
            }
        }
    }

    /// Healthy means: every account loop still runs (none has died).
    fn healthy(&self) -> bool {
        self.tasks.values().all(|t| !t.handle.is_finished())
    }

    /// The `STATUS=` line: a rejected reload first, then accounts and the
    /// nearest snapshot.
    fn status(&self) -> String {
        let s = self.fleet_status();
        match self.rejected {
            Some(1) => format!("reload rejected: 1 error; {s}"),
            Some(n) => format!("reload rejected: {n} errors; {s}"),
            None => s,
        }
    }

    fn fleet_status(&self) -> String {
        let b = board(&self.board);
        let n = self.tasks.len();
        let mut accounts = if n == 1 {
            "1 account".to_string()
        } else {
            format!("{n} accounts")
        };
        // Issue 12: failing resources and stale backups are told, not hidden.
        if let Some(health) = self.opts.monitor.status_line() {
            accounts = format!("{accounts}, {health}");
        }
        let next = b
            .next
            .iter()
            .filter_map(|(a, v)| v.as_ref().map(|(t, what)| (*t, a, what)))
            .min_by_key(|(t, _, _)| *t);
        match next {
            Some((t, account, what)) => {
                let wait = (t - self.opts.clock.now()).max(chrono::Duration::zero());
                format!(
                    "{accounts}, next snapshot {account}/{what} in {}",
                    short_duration(wait)
                )
            }
            None => format!("{accounts}, {} cycles done", b.cycles),
        }
    }
}

/// `2h13m`, `45s`, `3d4h`.
pub fn short_duration(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    let (days, hours, mins, secs) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d{hours}h")
    } else if hours > 0 {
        format!("{hours}h{mins:02}m")
    } else if mins > 0 {
        format!("{mins}m{secs:02}s")
    } else {
        format!("{secs}s")
    }
}

/// Run the daemon until `shutdown` resolves (SIGTERM/SIGINT in `main`) or a
/// [`Control::Shutdown`] arrives. SIGHUP is registered here, once, before
/// `READY=1`.
///
/// # Errors
/// [`DaemonError`] only at start (invalid config, no signal handler).
pub async fn run(
    config_path: &Path,
    mut opts: DaemonOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let notifier = systemd::Notifier::from_env();
    let bytes = std::fs::read(config_path).map_err(|source| config::ConfigError::Read {
        path: config_path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes.clone()).map_err(|_| config::ConfigError::Read {
        path: config_path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the file is not valid UTF-8",
        ),
    })?;
    let loaded = config::parse_str(&text, config_path)?;
    for w in &loaded.warnings {
        warn!(warning = %w, "config warning");
    }
    // Issue 12: metrics server, webhooks and request metrics, before READY=1.
    let monitor_stop = CancellationToken::new();
    opts.monitor
        .start(&loaded.config, &monitor_stop, opts.clock.now())
        .await?;
    opts.client.observer = Some(opts.monitor.request_observer());
    let mut reloader = Reloader::new(config_path, bytes, loaded.config);

    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).map_err(
        |source| DaemonError::Signal {
            signal: "SIGHUP",
            source,
        },
    )?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watcher = start_watcher(config_path, &opts, tx.clone());

    let mut sup = Supervisor {
        opts: opts.clone(),
        root: CancellationToken::new(),
        tracker: TaskTracker::new(),
        tasks: BTreeMap::new(),
        board: Arc::new(Mutex::new(Board::default())),
        notifier,
        rejected: None,
        removed: BTreeMap::new(),
    };
    for account in reloader.current().accounts.clone() {
        sup.spawn(account, None);
    }
    info!(
        accounts = sup.tasks.len(),
        config = %config_path.display(),
        "snapkeeper started"
    );
    sup.notifier.ready(&sup.status());

    let watchdog = sup.notifier.watchdog_interval();
    let mut tick = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(30)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut watcher_retry = tokio::time::interval(Duration::from_secs(30));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = hup.recv() => reload_now(&mut sup, &mut reloader, ReloadCause::Sighup),
            msg = rx.recv() => match msg {
                Some(Control::Reload(cause)) => reload_now(&mut sup, &mut reloader, cause),
                Some(Control::Shutdown) | None => break,
            },
            _ = tick.tick() => {
                // Healthy means: this loop turns and no account task has died.
                if watchdog.is_some() && sup.healthy() {
                    sup.notifier.watchdog();
                }
                sup.notifier.status(&sup.status());
            }
            _ = watcher_retry.tick(), if watcher.is_none() && opts.watch_file => {
                watcher = start_watcher(config_path, &opts, tx.clone());
                if watcher.is_some() {
                    // Changes may have been missed while the watcher was down.
                    reload_now(&mut sup, &mut reloader, ReloadCause::FileChanged);
                }
            }
        }
    }

    info!("stopping: no new work; in-flight snapshots are confirmed or left for the next start");
    sup.notifier.stopping("stopping");
    sup.root.cancel();
    sup.tracker.close();
    if tokio::time::timeout(opts.shutdown_grace, sup.tracker.wait())
        .await
        .is_err()
    {
        warn!(
            grace_s = opts.shutdown_grace.as_secs(),
            "account loops did not stop in time; exiting anyway (the provider holds all state)"
        );
    }
    monitor_stop.cancel(); // issue 12
    info!("stopped");
    Ok(())
}

fn start_watcher(
    path: &Path,
    opts: &DaemonOptions,
    tx: mpsc::UnboundedSender<Control>,
) -> Option<watch::ConfigWatcher> {
    if !opts.watch_file {
        return None;
    }
    match watch::watch(path, tx) {
        Ok(w) => Some(w),
        Err(e) => {
            warn!(error = %e, "config file watcher not running; SIGHUP still reloads, will retry");
            None
        }
    }
}

fn reload_now(sup: &mut Supervisor, reloader: &mut Reloader, cause: ReloadCause) {
    sup.notifier.reloading();
    let outcome = reloader.reload();
    let now = sup.opts.clock.now();
    sup.opts
        .monitor
        .observe_reload(&outcome, reloader.current(), now); // issue 12
    match outcome {
        ReloadOutcome::Unchanged => {
            // The file holds the running config again (after a bad edit was
            // undone, say): nothing is rejected any more.
            sup.rejected = None;
            debug!(cause = cause.as_str(), "config unchanged");
        }
        ReloadOutcome::Rejected(errors) => {
            for e in &errors {
                error!(error = %e, "config error");
            }
            error!(
                cause = cause.as_str(),
                errors = errors.len(),
                "config reload rejected: the running config stays in force"
            );
            sup.rejected = Some(errors.len());
        }
        ReloadOutcome::Applied { diff, warnings } => {
            for w in &warnings {
                warn!(warning = %w, "config warning");
            }
            sup.rejected = None;
            info!(cause = cause.as_str(), changes = %diff.summary(), "config reloaded");
            let accounts = reloader.current().accounts.clone();
            sup.apply(&diff, &accounts);
        }
    }
    sup.notifier.ready(&sup.status());
}

/// Connect an account's client: read its token, build the provider.
fn connect(account: &Account, options: &ClientOptions) -> Result<Box<dyn Provider>, String> {
    if let Some((path, mode)) = account.token.loose_permissions() {
        warn!(
            file = %path.display(),
            mode = format!("{mode:o}"),
            "token file is readable by group or others; chmod 600 it"
        );
    }
    let token = account.token.read().map_err(|e| e.to_string())?;
    provider::connect_with(account, token, options).map_err(|e| e.to_string())
}

fn grace_of(account: &Account) -> chrono::Duration {
    chrono::Duration::from_std(account.reload_grace).unwrap_or(chrono::Duration::MAX)
}

/// The grace period after `old` became `new` at `now`: deletions the change
/// makes newly due wait until `now + new.reload_grace`. A change inside a
/// running grace period starts it again, still compared with the settings
/// that were deleting before it (so two quick edits cannot skip the wait);
/// a change back to those settings ends it.
fn next_grace(
    running: Option<&Grace>,
    old: &Account,
    new: &Account,
    now: DateTime<Utc>,
) -> Option<Grace> {
    if new.reload_grace.is_zero() {
        return None;
    }
    let baseline = match running.filter(|g| now < g.until) {
        Some(g) => g.baseline.clone(),
        None => Some(old.clone()),
    };
    if baseline.as_ref() == Some(new) {
        return None;
    }
    Some(Grace {
        until: now + grace_of(new),
        baseline,
    })
}

/// One account's loop (mini-redis's expiry loop): run a cycle, work out the
/// next due time, then sleep until then, a config change, or cancellation.
async fn account_loop(
    mut rx: tokio::sync::watch::Receiver<Account>,
    opts: DaemonOptions,
    cancel: CancellationToken,
    board_: SharedBoard,
    grace: Option<Grace>,
) {
    let clock = opts.clock.clone();
    let mut account = rx.borrow_and_update().clone();
    let mut engine_opts = EngineOptions {
        started: clock.now(),
        grace,
        ..opts.engine.clone()
    };
    let mut client: Option<Box<dyn Provider>> = None;
    let mut bad_cycles: u32 = 0;
    while !cancel.is_cancelled() {
        let mut next_wake =
            clock.now() + chrono::Duration::from_std(opts.max_sleep).unwrap_or_default();
        if client.is_none() {
            match connect(&account, &opts.client) {
                Ok(c) => client = Some(c),
                Err(e) => error!(error = %e, "cannot start the account"),
            }
        }
        if let Some(c) = client.as_deref() {
            let report = engine::run_cycle(&account, c, &clock, &engine_opts, &cancel).await;
            log_cycle(&report);
            opts.monitor.observe_cycle(&account, &report, clock.now()); // issue 12
            let next = report.next_due().map(|(t, r)| (t, r.resource_name.clone()));
            if let Some((t, _)) = &next {
                next_wake = next_wake.min(*t);
            }
            let mut b = board(&board_);
            b.cycles += 1;
            // A removed account's entry is gone from the board (the
            // supervisor cancels, then removes it, under this lock): a cycle
            // that ends after that must not bring it back.
            if !cancel.is_cancelled() {
                b.next.insert(account.name.clone(), next);
            }
            drop(b);
            if report.failures() > 0 {
                bad_cycles = bad_cycles.saturating_add(1);
            } else {
                bad_cycles = 0;
            }
        } else {
            bad_cycles = bad_cycles.saturating_add(1);
        }
        let now = clock.now();
        // Held deletions happen when the grace period ends: wake then.
        match &engine_opts.grace {
            Some(g) if now < g.until => next_wake = next_wake.min(g.until),
            Some(_) => engine_opts.grace = None,
            None => {}
        }
        if bad_cycles > 0 {
            let backoff = opts.retry_delay * 2u32.saturating_pow(bad_cycles.min(4) - 1);
            next_wake =
                next_wake.min(now + chrono::Duration::from_std(backoff).unwrap_or_default());
        }
        // Something due now but not taken (in progress, busy): look again
        // after the retry delay, never in a tight loop.
        let floor = now + chrono::Duration::from_std(opts.retry_delay).unwrap_or_default();
        if next_wake <= now {
            next_wake = floor;
        }
        let sleep = (next_wake - now).to_std().unwrap_or_default();
        debug!(sleep_s = sleep.as_secs(), next = %next_wake, "sleeping until next due time");
        tokio::select! {
            () = tokio::time::sleep(sleep) => {}
            () = cancel.cancelled() => break,
            changed = rx.changed() => {
                if changed.is_err() {
                    break;
                }
                let old = std::mem::replace(&mut account, rx.borrow_and_update().clone());
                client = None;
                engine_opts.started = clock.now();
                engine_opts.grace = next_grace(engine_opts.grace.as_ref(), &old, &account, clock.now());
                if let Some(g) = &engine_opts.grace {
                    info!(until = %g.until, "deletions this change makes newly due wait until the grace period ends (reload_grace)");
                }
                bad_cycles = 0;
                info!("account config changed: running with the new settings");
                // Show what the new settings will delete before they do.
                if let Ok(c) = connect(&account, &opts.client) {
                    let preview = EngineOptions {
                        dry_run: true,
                        ..engine_opts.clone()
                    };
                    let plan = engine::run_cycle(&account, c.as_ref(), &clock, &preview, &cancel).await;
                    log_reload_preview(&plan);
                    client = Some(c);
                }
            }
        }
    }
    debug!("account loop stopped");
}

/// After a config change: one line per snapshot the new settings will delete
/// in the next cycle, and a summary (DESIGN rule 11).
fn log_reload_preview(plan: &CycleReport) {
    let mut n = 0;
    for r in &plan.resources {
        for s in r
            .snapshots
            .iter()
            .filter(|s| s.delete == Some(engine::DeleteStatus::WouldDelete))
        {
            n += 1;
            warn!(
                policy = %r.policy,
                resource = %r.resource_id,
                snapshot = %s.id,
                reasons = %s.reasons.join("; "),
                "the new settings will delete this snapshot in the next cycle"
            );
        }
    }
    let orphans: usize = plan.orphans.iter().map(|o| o.would_delete.len()).sum();
    info!(
        deletions = n + orphans,
        "reload preview: snapshots the new settings will delete"
    );
}

fn log_cycle(report: &CycleReport) {
    let (created, deleted, failed) = report.counts();
    let orphans: usize = report.orphans.iter().map(|o| o.snapshots.len()).sum();
    if failed > 0 {
        warn!(
            created,
            deleted,
            failed,
            orphans,
            resources = report.resources.len(),
            "cycle finished with failures"
        );
    } else {
        info!(
            created,
            deleted,
            orphans,
            resources = report.resources.len(),
            "cycle finished"
        );
    }
}

/// `run --once`: one cycle for every account (concurrently), then an exit
/// code: 0 all good, 1 some failed, 2 nothing could be done.
pub async fn run_once(config: &config::Config, opts: &DaemonOptions) -> (u8, Vec<CycleReport>) {
    let cancel = CancellationToken::new();
    let engine_opts = EngineOptions {
        started: opts.clock.now(),
        ..opts.engine.clone()
    };
    let runs = config.accounts.iter().map(|account| {
        let cancel = cancel.clone();
        let engine_opts = engine_opts.clone();
        let clock = opts.clock.clone();
        let client_opts = opts.client.clone();
        async move {
            let span = info_span!("account", account = %account.name);
            async {
                match connect(account, &client_opts) {
                    Ok(c) => {
                        let r =
                            engine::run_cycle(account, c.as_ref(), &clock, &engine_opts, &cancel)
                                .await;
                        log_cycle(&r);
                        Ok(r)
                    }
                    Err(e) => {
                        error!(error = %e, "cannot start the account");
                        Err(e)
                    }
                }
            }
            .instrument(span)
            .await
        }
    });
    let results = futures_util::future::join_all(runs).await;
    let mut reports = Vec::new();
    let (mut ok, mut bad) = (0usize, 0usize);
    for r in results {
        match r {
            Ok(report) => {
                match report.exit_code() {
                    0 => ok += 1,
                    1 => {
                        ok += 1;
                        bad += 1;
                    }
                    _ => bad += 1,
                }
                reports.push(report);
            }
            Err(_) => bad += 1,
        }
    }
    let code = if bad == 0 {
        crate::exit::OK
    } else if ok > 0 {
        crate::exit::PARTIAL
    } else {
        crate::exit::NOTHING_DONE
    };
    (code, reports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_RELOAD_GRACE, ProviderKind, TokenSource};

    fn account(keep_note: &str, grace: std::time::Duration) -> Account {
        Account {
            name: "a".into(),
            provider: ProviderKind::Hetzner,
            token: TokenSource::Env(keep_note.into()),
            api_url: ProviderKind::Hetzner.default_api_url().into(),
            policies: Vec::new(),
            prune_orphans: false,
            retired_policies: Vec::new(),
            reload_grace: grace,
        }
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn grace_cases() {
        let t = |m: i64| DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::minutes(m);
        let (a, b, c) = (
            account("A", DEFAULT_RELOAD_GRACE),
            account("B", DEFAULT_RELOAD_GRACE),
            account("C", DEFAULT_RELOAD_GRACE),
        );
        let running = |until: i64, base: &Account| Grace {
            until: t(until),
            baseline: Some(base.clone()),
        };
        // (running grace, old, new, now, want (until, baseline))
        let cases: Vec<(
            Option<Grace>,
            &Account,
            Account,
            i64,
            Option<(i64, &Account)>,
        )> = vec![
            // A first change: compared with the old settings for 15 min.
            (None, &a, b.clone(), 0, Some((15, &a))),
            // A second change inside the grace: the wait starts again, still
            // against the settings that were deleting before the first.
            (Some(running(15, &a)), &b, c.clone(), 5, Some((20, &a))),
            // After the grace ended, the running settings are the baseline.
            (Some(running(15, &a)), &b, c.clone(), 30, Some((45, &b))),
            // Back to the settings of before: nothing is newly due.
            (Some(running(15, &a)), &b, a.clone(), 5, None),
            // reload_grace: 0 turns the hold off.
            (None, &a, account("B", std::time::Duration::ZERO), 0, None),
        ];
        for (i, (run, old, new, now, want)) in cases.into_iter().enumerate() {
            let got = next_grace(run.as_ref(), old, &new, t(now));
            let want = want.map(|(until, base)| Grace {
                until: t(until),
                baseline: Some(base.clone()),
            });
            assert_eq!(got, want, "case {i}");
        }
    }
}
