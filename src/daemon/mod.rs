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
pub mod state;
pub mod systemd;
pub mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::clock::Clock;
use crate::config::{self, Account};
use crate::engine::{self, CycleReport, EngineOptions, Follow, Grace, Speed, WorkKey};
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
    /// `ha:` is set but cannot start (issue 15).
    #[error(transparent)]
    Ha(#[from] crate::ha::HaError),
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
    /// How often the watch is checked against the config's directory and
    /// symlink chain (re-armed when they changed).
    pub watch_check: Duration,
    /// How often the file's bytes are compared with the config in force (a
    /// safety net for changes no event announced).
    pub content_check: Duration,
    /// Where reload grace periods are kept across restarts (`--state-dir`,
    /// `$STATE_DIRECTORY`); `None` keeps them in memory only.
    pub state_dir: Option<std::path::PathBuf>,
    /// Issue 12: metrics, notifications and the health part of `STATUS=`.
    pub monitor: Arc<crate::monitor::Monitor>,
    /// Issue 11: give idle memory back ([`crate::memory`]) once no provider
    /// request was sent for this long; `None` never does.
    pub release_after: Option<Duration>,
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
            watch_check: Duration::from_secs(5),
            content_check: Duration::from_secs(60),
            state_dir: None,
            monitor: Arc::default(),
            // Past the HTTP pool's idle time-out, when the burst's
            // connections and their buffers are gone.
            release_after: Some(crate::provider::http::POOL_IDLE_TIMEOUT + Duration::from_secs(5)),
        }
    }
}

/// What the supervisor knows about each account loop, for `STATUS=` lines
/// and the watchdog.
#[derive(Debug, Default)]
struct Board {
    next: BTreeMap<String, Option<(DateTime<Utc>, String)>>,
    cycles: u64,
    /// Accounts that cannot run as the file says, and why (`STATUS=`).
    problems: BTreeMap<String, String>,
}

type SharedBoard = Arc<Mutex<Board>>;

fn board(b: &SharedBoard) -> std::sync::MutexGuard<'_, Board> {
    b.lock().unwrap_or_else(PoisonError::into_inner)
}

struct AccountTask {
    cancel: CancellationToken,
    config: tokio::sync::watch::Sender<(Account, Option<Grace>)>,
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
    /// Reload grace periods running, by account (removed accounts too, so
    /// that one that comes back within its grace period, a half-written
    /// file, is compared with what it ran before rather than with nothing).
    graces: state::Graces,
    /// Where the grace periods are kept across restarts, if anywhere.
    state_dir: Option<std::path::PathBuf>,
    /// ha (issue 15): with `ha:`, the etcd side that says which accounts
    /// this replica may run; `None` runs every account.
    ha: Option<crate::ha::HaLink>,
    /// ha (issue 15): the `ha:` section in force (read at start; a reload
    /// does not change it).
    running_ha: Option<config::Ha>,
    /// ha (issue 15): the keys of `ha:` that the file changed since the
    /// start, waiting for a restart (`STATUS=`).
    ha_pending: Vec<&'static str>,
}

impl Supervisor {
    fn spawn(&mut self, account: Account) {
        let name = account.name.clone();
        // ha (issue 15): a loop runs only while this replica holds the
        // account's owner key, and asks its fence before every write.
        let mut opts = self.opts.clone();
        if let Some(ha) = &self.ha {
            if !ha.holds(&name) {
                return;
            }
            let fence = ha.fence(&name);
            opts.engine.fence = Some(fence.clone());
            // A retry inside the HTTP layer asks the fence again.
            opts.client.write_guard = Some(crate::provider::http::WriteGuard::new(move || {
                fence.check()
            }));
        }
        let replica = self.ha.as_ref().map(crate::ha::HaLink::replica_id);
        let cancel = self.root.child_token();
        let grace = self.grace_of(&name);
        let (tx, rx) = tokio::sync::watch::channel((account, grace));
        let span = info_span!("account", account = %name, replica);
        let handle = self
            .tracker
            .spawn(account_loop(rx, opts, cancel.clone(), self.board.clone()).instrument(span));
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
            // ha (issue 15): the owner key is released only once this task
            // has ended.
            if let Some(ha) = &self.ha {
                ha.stopped(name, task.handle);
            }
        }
        let mut b = board(&self.board);
        b.next.remove(name);
        b.problems.remove(name);
        drop(b);
        self.opts.monitor.forget_account(name); // issue 12: its series go
    }

    fn grace_of(&self, name: &str) -> Option<Grace> {
        self.graces.get(name).map(|h| h.grace.clone())
    }

    /// Apply a reload: `prev` (read from `prev_text`) became `accounts`,
    /// now the file's text `text`.
    fn apply(
        &mut self,
        diff: &AccountDiff,
        prev: &[Account],
        prev_text: &Arc<str>,
        accounts: &[Account],
        text: &str,
    ) {
        let now = self.opts.clock.now();
        self.graces = state::transition(prev, prev_text, &self.graces, accounts, now);
        self.save_state(text);
        for name in &diff.removed {
            info!(account = %name, "account removed: stopping its loop at the next safe point");
            self.stop(name);
        }
        for name in &diff.changed {
            if let (Some(task), Some(account)) = (
                self.tasks.get(name),
                accounts.iter().find(|a| &a.name == name),
            ) {
                info!(account = %name, "account changed: new settings apply at the next safe point");
                let grace = self.grace_of(name);
                if let Some(g) = &grace {
                    info!(account = %name, until = %g.until, "deletions this change makes newly due wait until the grace period ends (reload_grace)");
                }
                let _ = task.config.send((account.clone(), grace));
            }
        }
        for name in &diff.added {
            if let Some(account) = accounts.iter().find(|a| &a.name == name) {
                info!(account = %name, "account added: starting its loop");
                // Deletions of an account the file did not have a moment ago
                // wait the grace period like any other change.
                self.spawn(account.clone());
            }
        }
        // ha (issue 15): ownership follows the config's accounts.
        if let Some(ha) = &self.ha {
            ha.set_accounts(accounts.iter().map(|a| a.name.clone()).collect());
        }
    }

    /// Keep the grace periods across a restart; a state directory that
    /// cannot be written costs only that.
    fn save_state(&self, text: &str) {
        let Some(dir) = &self.state_dir else { return };
        if let Err(e) = state::save(dir, text, &self.graces, self.opts.clock.now()) {
            warn!(error = %e, "a restart during a reload grace period would not keep its held deletions");
        }
    }

    /// Healthy means: every account loop still runs (none has died).
    fn healthy(&self) -> bool {
        self.tasks.values().all(|t| !t.handle.is_finished())
    }

    /// The `STATUS=` line: a rejected reload first, then accounts and the
    /// nearest snapshot.
    fn status(&self) -> String {
        let mut s = self.fleet_status();
        let problems: Vec<String> = board(&self.board)
            .problems
            .iter()
            .map(|(a, why)| format!("{a}: {why}"))
            .collect();
        if !problems.is_empty() {
            s = format!("{s}; {}", problems.join("; "));
        }
        // ha (issue 15): "replica a: owner of 12 of 30 accounts; ...".
        if let Some(ha) = &self.ha {
            s = format!("{}; {s}", ha.status(self.tasks.len()));
        }
        if !self.ha_pending.is_empty() {
            s = format!(
                "ha settings changed in the file ({}): restart to apply; {s}",
                self.ha_pending.join(", ")
            );
        }
        match self.rejected {
            Some(1) => format!("reload rejected: 1 error; {s}"),
            Some(n) => format!("reload rejected: {n} errors; {s}"),
            None => s,
        }
    }

    /// ha (issue 15): the metrics of this replica's standing in etcd.
    fn observe_ha(&self) {
        if let Some(ha) = &self.ha {
            let v = ha.view();
            self.opts
                .monitor
                .metrics
                .observe_ha(&crate::metrics::HaState {
                    replica: v.replica,
                    etcd_reachable: v.etcd_reachable,
                    members: v.members,
                    owned: v.owned,
                });
        }
    }

    /// ha (issue 15): a reload whose `ha:` differs from the one in force
    /// keeps the running settings (restarting the etcd side under running
    /// loops could let two replicas write to one account); it says so.
    fn check_ha_change(&mut self, file: Option<&config::Ha>) {
        let changed = crate::ha::changed_keys(self.running_ha.as_ref(), file);
        if changed.is_empty() {
            if !self.ha_pending.is_empty() {
                info!("ha: the file holds the running ha settings again: no restart needed");
            }
        } else {
            warn!(
                changed = %changed.join(", "),
                "ha settings changed in the file: the running ones stay in force until a restart (systemctl restart snapkeeper); the accounts keep running"
            );
        }
        self.ha_pending = changed;
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
    let bytes = config::read(config_path)?;
    // Only the config stays (the key locations go at once).
    let config::Loaded {
        config, warnings, ..
    } = config::parse_bytes(&bytes, config_path)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    for w in &warnings {
        warn!(warning = %w, "config warning");
    }
    // Issue 12: metrics server, webhooks and request metrics, before READY=1.
    let monitor_stop = CancellationToken::new();
    opts.monitor
        .start(&config, &monitor_stop, opts.clock.now())
        .await?;
    opts.client.observer = Some(opts.monitor.request_observer());
    let mut reloader = Reloader::new(config_path, bytes, config);

    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).map_err(
        |source| DaemonError::Signal {
            signal: "SIGHUP",
            source,
        },
    )?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watch_down = false;
    let mut watcher = start_watcher(config_path, &opts, tx.clone(), &mut watch_down);

    // ha (issue 15): with `ha:`, the etcd side decides which accounts run
    // here; it connects in the background and owns nothing until it can.
    let (ha, mut ha_commands) = match &reloader.current().ha {
        Some(cfg) => {
            let names = reloader.current().accounts.iter().map(|a| a.name.clone());
            let (link, rx) = crate::ha::start(cfg, names.collect())?;
            info!(replica = %link.replica_id(), endpoints = ?cfg.etcd.endpoints, prefix = %cfg.etcd.prefix, "high availability: accounts run on the replica that holds their owner key in etcd");
            (Some(link), Some(rx))
        }
        None => (None, None),
    };
    // ha (issue 15): every provider request names the replica.
    if let Some(link) = &ha {
        opts.client.user_agent = Some(crate::ha::user_agent(link.replica_id()));
    }
    let running_ha = reloader.current().ha.clone();
    let mut sup = Supervisor {
        opts: opts.clone(),
        root: CancellationToken::new(),
        tracker: TaskTracker::new(),
        tasks: BTreeMap::new(),
        board: Arc::new(Mutex::new(Board::default())),
        notifier,
        rejected: None,
        graces: state::Graces::new(),
        state_dir: opts.state_dir.clone(),
        ha,
        running_ha,
        ha_pending: Vec::new(),
    };
    sup.graces = start_graces(opts.state_dir.as_deref(), reloader.current(), &opts.clock);
    sup.save_state(&text);
    for account in reloader.current().accounts.clone() {
        sup.spawn(account);
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
    // The watch is checked every few seconds (its directory or symlink
    // chain may have changed under it) and the file's bytes once a minute.
    let later = |d: Duration| tokio::time::interval_at(tokio::time::Instant::now() + d, d);
    let mut watch_check = later(opts.watch_check);
    let mut content_check = later(opts.content_check);
    // ha (issue 15): the ownership metrics follow etcd within a second.
    let mut ha_tick = tokio::time::interval(Duration::from_secs(1));
    ha_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Issue 11: idle memory goes back to the system after each burst.
    let sent = crate::provider::http::requests_sent;
    let mut quiet = opts
        .release_after
        .map(|after| crate::memory::Quiet::new(after, sent(), std::time::Instant::now()));
    let mut quiet_check = later(
        opts.release_after
            .unwrap_or(Duration::MAX)
            .min(Duration::from_secs(5)),
    );
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = hup.recv() => reload_now(&mut sup, &mut reloader, ReloadCause::Sighup).await,
            msg = rx.recv() => match msg {
                Some(Control::Reload(cause)) => reload_now(&mut sup, &mut reloader, cause).await,
                Some(Control::Shutdown) | None => break,
            },
            Some(cmd) = ha_command(&mut ha_commands) => {
                apply_ha(&mut sup, &reloader, cmd);
                sup.observe_ha();
            }
            _ = ha_tick.tick(), if sup.ha.is_some() => sup.observe_ha(),
            _ = tick.tick() => {
                // Healthy means: this loop turns and no account task has died.
                if watchdog.is_some() && sup.healthy() {
                    sup.notifier.watchdog();
                }
                sup.notifier.status(&sup.status());
            }
            _ = watch_check.tick(), if opts.watch_file => {
                if watcher.as_ref().is_none_or(|w| !w.is_current()) {
                    let was_running = watcher.take().is_some();
                    if was_running {
                        info!("the config's directory or symlink chain changed: watching it anew");
                    }
                    watcher = start_watcher(config_path, &opts, tx.clone(), &mut watch_down);
                    if watcher.is_some() {
                        // Changes may have been missed while the watch was down.
                        reload_now(&mut sup, &mut reloader, ReloadCause::Rewatch).await;
                    }
                }
            }
            _ = quiet_check.tick(), if quiet.is_some() => {
                if quiet.as_mut().is_some_and(|q| q.due(sent(), std::time::Instant::now())) {
                    tokio::task::spawn_blocking(|| {
                        let r = crate::memory::release();
                        debug!(trimmed = r.trimmed, code_kib = r.code_kib, code_skipped = r.code_skipped, "quiet: idle memory given back");
                    });
                }
            }
            _ = content_check.tick(), if opts.watch_file => {
                let (path, applied, tx) = (config_path.to_path_buf(), reloader.bytes().to_vec(), tx.clone());
                tokio::task::spawn_blocking(move || watch::check_content(&path, &applied, &tx));
            }
        }
    }

    info!("stopping: no new work; in-flight snapshots are confirmed or left for the next start");
    sup.notifier.stopping("stopping");
    sup.root.cancel();
    sup.tracker.close();
    let stopped_in_time = tokio::time::timeout(opts.shutdown_grace, sup.tracker.wait())
        .await
        .is_ok();
    if !stopped_in_time {
        warn!(
            grace_s = opts.shutdown_grace.as_secs(),
            "account loops did not stop in time; exiting anyway (the provider holds all state)"
        );
    }
    monitor_stop.cancel(); // issue 12
    // ha (issue 15): revoke the lease (the others take over at once) only
    // when no loop can still write; else it expires.
    if let Some(ha) = &sup.ha {
        ha.shutdown(stopped_in_time).await;
    }
    info!("stopped");
    Ok(())
}

/// ha (issue 15): the next command of the etcd side; never without `ha:`.
async fn ha_command(
    rx: &mut Option<mpsc::UnboundedReceiver<crate::ha::Command>>,
) -> Option<crate::ha::Command> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// ha (issue 15): start or stop an account's loop as ownership moves (the
/// etcd side logs why).
fn apply_ha(sup: &mut Supervisor, reloader: &Reloader, cmd: crate::ha::Command) {
    match cmd {
        crate::ha::Command::Start { account } => {
            let found = reloader
                .current()
                .accounts
                .iter()
                .find(|a| a.name == account);
            if let (false, Some(a)) = (sup.tasks.contains_key(&account), found) {
                sup.spawn(a.clone());
            }
        }
        crate::ha::Command::Stop { account, ack } => {
            sup.stop(&account);
            let _ = ack.send(());
        }
    }
    sup.notifier.status(&sup.status());
}

fn start_watcher(
    path: &Path,
    opts: &DaemonOptions,
    tx: mpsc::UnboundedSender<Control>,
    said: &mut bool,
) -> Option<watch::ConfigWatcher> {
    if !opts.watch_file {
        return None;
    }
    match watch::watch(path, tx) {
        Ok(w) => {
            if std::mem::take(said) {
                info!("config file watcher running again");
            }
            Some(w)
        }
        Err(e) => {
            // Said once per outage, not at every retry.
            if !std::mem::replace(said, true) {
                warn!(error = %e, "config file watcher not running; SIGHUP still reloads, and the file is compared once a minute; will retry");
            }
            None
        }
    }
}

/// The grace periods at start: those a previous run left running, and those
/// that edits made while it was stopped start now.
fn start_graces(dir: Option<&Path>, config: &config::Config, clock: &Clock) -> state::Graces {
    let Some(dir) = dir else {
        return state::Graces::new();
    };
    match state::load(dir) {
        Ok(saved) => {
            let graces = state::graces_for(saved.as_ref(), &config.accounts, clock.now());
            for (name, h) in &graces {
                if config.accounts.iter().any(|a| &a.name == name) {
                    info!(account = %name, until = %h.grace.until, "reload grace period in force from before the start: deletions it holds wait until then");
                }
            }
            graces
        }
        Err(e) => {
            warn!(error = %e, "starting without the saved reload grace periods");
            state::Graces::new()
        }
    }
}

async fn reload_now(sup: &mut Supervisor, reloader: &mut Reloader, cause: ReloadCause) {
    sup.notifier.reloading();
    let prev = reloader.current().accounts.clone();
    let prev_text: Arc<str> = Arc::from(reloader.text());
    let outcome = reloader.reload_off_runtime().await;
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
            sup.apply(&diff, &prev, &prev_text, &accounts, &reloader.text());
            sup.check_ha_change(reloader.current().ha.as_ref());
        }
    }
    sup.notifier.ready(&sup.status());
}

/// Connect an account's client: read its token, build the provider.
fn connect(account: &Account, options: &ClientOptions) -> Result<Box<dyn Provider>, String> {
    let token = account.token.read().map_err(|e| e.to_string())?;
    connect_with_token(account, token, options)
}

fn connect_with_token(
    account: &Account,
    token: secrecy::SecretString,
    options: &ClientOptions,
) -> Result<Box<dyn Provider>, String> {
    if let Some((path, mode)) = account.token.loose_permissions() {
        warn!(
            file = %path.display(),
            mode = format!("{mode:o}"),
            "token file is readable by group or others; chmod 600 it"
        );
    }
    provider::connect_with(account, token, options).map_err(|e| e.to_string())
}

/// A fingerprint of a token, to notice that it was rotated (kept in memory
/// only; never printed).
fn token_print(token: &secrecy::SecretString) -> u64 {
    use secrecy::ExposeSecret;
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    token.expose_secret().hash(&mut h);
    h.finish()
}

/// The account's client, built anew when its token changed since it was
/// built (a rotated token file is picked up at the next pass, without a
/// reload). A token that cannot be read again keeps the client of the one
/// read before, with a warning.
fn refresh_client(
    client: &mut Option<(Box<dyn Provider>, u64)>,
    account: &Account,
    options: &ClientOptions,
) {
    match account.token.read() {
        Ok(token) => {
            let print = token_print(&token);
            if client.as_ref().is_some_and(|(_, p)| *p == print) {
                return;
            }
            let rotated = client.is_some();
            match connect_with_token(account, token, options) {
                Ok(c) => {
                    if rotated {
                        info!("the account's token changed: requests now use the new one");
                    }
                    *client = Some((c, print));
                }
                Err(e) => error!(error = %e, "cannot start the account"),
            }
        }
        Err(e) if client.is_some() => {
            warn!(error = %e, "cannot read the account's token again: going on with the one read before");
        }
        Err(e) => error!(error = %e, "cannot start the account"),
    }
}

/// A pass whose started snapshots are not all settled yet: its summary is
/// logged once they are.
struct OpenCycle {
    report: CycleReport,
    outstanding: BTreeSet<WorkKey>,
}

/// One account's loop (mini-redis's expiry loop, with each resource on its
/// own clock): a pass when a resource is due, then every started snapshot
/// followed on one poll schedule while the loop sleeps until the next due
/// time, the next look at a snapshot, a config change, or cancellation. A
/// resource being followed is left out of passes, so one stuck snapshot
/// delays nothing else; its own retention runs once it is confirmed.
async fn account_loop(
    mut rx: tokio::sync::watch::Receiver<(Account, Option<Grace>)>,
    opts: DaemonOptions,
    cancel: CancellationToken,
    board_: SharedBoard,
) {
    let clock = opts.clock.clone();
    let (mut account, grace) = rx.borrow_and_update().clone();
    let mut engine_opts = EngineOptions {
        started: clock.now(),
        grace,
        ..opts.engine.clone()
    };
    let chrono_of = |d: Duration| chrono::Duration::from_std(d).unwrap_or_default();
    let mut client: Option<(Box<dyn Provider>, u64)> = None;
    // Settings a reload gave whose token cannot be read yet: the account
    // goes on with the settings before, and tries the new token each pass.
    let mut waiting: Option<(Account, Option<Grace>)> = None;
    let mut bad_cycles: u32 = 0;
    let mut follows: Vec<Follow> = Vec::new();
    let mut open: Vec<OpenCycle> = Vec::new();
    let mut speed = Speed::default();
    let mut next_pass = clock.now();
    while !cancel.is_cancelled() {
        let now = clock.now();
        if now >= next_pass {
            next_pass = now + chrono_of(opts.max_sleep);
            if let Some((new, grace)) = waiting.take() {
                match new.token.read() {
                    Ok(token) => {
                        info!(
                            "the new settings' token can be read now: running with the new settings"
                        );
                        account = new;
                        engine_opts.grace = grace;
                        engine_opts.started = clock.now();
                        board(&board_).problems.remove(&account.name);
                        client = Box::pin(preview(
                            &account,
                            token,
                            &opts,
                            &engine_opts,
                            &clock,
                            &cancel,
                        ))
                        .await;
                    }
                    Err(e) => {
                        warn!(error = %e, "the new settings' token still cannot be read: going on with the previous settings");
                        waiting = Some((new, grace));
                    }
                }
            }
            refresh_client(&mut client, &account, &opts.client);
            {
                let mut b = board(&board_);
                if client.is_none() {
                    b.problems
                        .insert(account.name.clone(), "cannot start: token or client".into());
                } else if waiting.is_none() {
                    b.problems.remove(&account.name);
                }
            }
            if let Some((c, _)) = client.as_ref().map(|(c, p)| (c.as_ref(), p)) {
                // What runs is looked at while the pass goes on. The pass
                // (and each call below that does requests) is boxed: a
                // sleeping loop then holds a pointer, not the pass's state
                // (issue 11: 100 idle accounts held 5.4 KB each).
                let pass = Box::pin(engine::pass_following(
                    &account,
                    c,
                    &clock,
                    &engine_opts,
                    &cancel,
                    &mut follows,
                    &mut speed,
                ))
                .await;
                if let Some((t, _)) = pass.report.next_due() {
                    next_pass = next_pass.min(t);
                }
                // Something due now but not taken (in progress, busy): look
                // again after the retry delay, never in a tight loop.
                let now = clock.now();
                if next_pass <= now {
                    next_pass = now + chrono_of(opts.retry_delay);
                }
                open.push(OpenCycle {
                    outstanding: pass.started.into_iter().collect(),
                    report: pass.report,
                });
                for r in pass.settled {
                    next_pass = next_pass.min(due_again(&r, &clock, &opts));
                    settle(&mut open, r);
                }
            } else {
                bad_cycles = bad_cycles.saturating_add(1);
                next_pass = next_pass.min(clock.now() + backoff(&opts, bad_cycles));
            }
        }
        // Follow what runs; each settled snapshot reports to its pass.
        if let Some((c, _)) = client.as_ref()
            && follows.iter().any(|f| f.next_poll() <= Instant::now())
        {
            let c = c.as_ref();
            let settled = Box::pin(engine::poll_follows(
                c,
                &mut follows,
                &engine_opts,
                &cancel,
                &mut speed,
            ))
            .await;
            for r in settled {
                next_pass = next_pass.min(due_again(&r, &clock, &opts));
                settle(&mut open, r);
            }
        }
        let closed;
        (closed, open) = open.into_iter().partition(|o| o.outstanding.is_empty());
        for o in closed {
            // Issue 12: metrics, notifications, STATUS= (resources still
            // being followed keep their last values).
            let followed: Vec<WorkKey> = follows.iter().map(|f| f.key().clone()).collect();
            opts.monitor
                .observe_cycle(&account, &o.report, &followed, clock.now());
            let failed = finish_cycle(o.report, &account, &cancel, &board_);
            if failed {
                bad_cycles = bad_cycles.saturating_add(1);
                next_pass = next_pass.min(clock.now() + backoff(&opts, bad_cycles));
            } else {
                bad_cycles = 0;
            }
        }

        let now = clock.now();
        // Held deletions happen when the grace period ends: a pass then.
        match &engine_opts.grace {
            Some(g) if now < g.until => next_pass = next_pass.min(g.until),
            Some(_) => engine_opts.grace = None,
            None => {}
        }
        let wake = next_pass;
        let mut sleep = (wake - now).to_std().unwrap_or_default();
        if let Some(poll) = follows.iter().map(Follow::next_poll).min() {
            sleep = sleep.min(poll.saturating_duration_since(Instant::now()));
        }
        debug!(sleep_s = sleep.as_secs(), next = %wake, following = follows.len(), "sleeping until the next due time or look");
        tokio::select! {
            () = tokio::time::sleep(sleep) => {}
            () = cancel.cancelled() => break,
            changed = rx.changed() => {
                if changed.is_err() {
                    break;
                }
                let (new, grace) = rx.borrow_and_update().clone();
                next_pass = clock.now();
                bad_cycles = 0;
                let token = match new.token.read() {
                    Ok(t) => t,
                    Err(e) => {
                        // The account keeps running as it was; the change
                        // waits for its token (tried again each pass).
                        error!(error = %e, "account changed, but the new settings' token cannot be read: going on with the previous settings until it can");
                        board(&board_).problems.insert(
                            new.name.clone(),
                            "new settings wait for a readable token".into(),
                        );
                        waiting = Some((new, grace));
                        continue;
                    }
                };
                waiting = None;
                account = new;
                engine_opts.grace = grace;
                engine_opts.started = clock.now();
                info!("account config changed: running with the new settings");
                client = Box::pin(preview(&account, token, &opts, &engine_opts, &clock, &cancel)).await;
            }
        }
    }
    // A stop leaves running snapshots to the provider: each is reported as
    // not confirmed, and the next start sees it in progress.
    if let Some((c, _)) = client.as_ref()
        && !follows.is_empty()
    {
        let c = c.as_ref();
        let settled = Box::pin(engine::poll_follows(
            c,
            &mut follows,
            &engine_opts,
            &cancel,
            &mut speed,
        ))
        .await;
        for r in settled {
            settle(&mut open, r);
        }
        for o in open {
            finish_cycle(o.report, &account, &cancel, &board_);
        }
    }
    debug!("account loop stopped");
}

/// New settings are in force: a client for their token, after a dry run
/// that logs what they will delete before they do (a reload preview).
async fn preview(
    account: &Account,
    token: secrecy::SecretString,
    opts: &DaemonOptions,
    engine_opts: &EngineOptions,
    clock: &Clock,
    cancel: &CancellationToken,
) -> Option<(Box<dyn Provider>, u64)> {
    let c = connect_with_token(account, token.clone(), &opts.client).ok()?;
    let dry = EngineOptions {
        dry_run: true,
        ..engine_opts.clone()
    };
    let plan = engine::run_cycle(account, c.as_ref(), clock, &dry, cancel).await;
    log_reload_preview(&plan);
    Some((c, token_print(&token)))
}

/// The pause before the next pass after `bad` failed cycles in a row.
fn backoff(opts: &DaemonOptions, bad: u32) -> chrono::Duration {
    let d = opts.retry_delay * 2u32.saturating_pow(bad.clamp(1, 4) - 1);
    chrono::Duration::from_std(d).unwrap_or_default()
}

/// When a resource whose snapshot settled is due again: its schedule's
/// next time, or after the retry delay when that is already past.
fn due_again(r: &engine::ResourceReport, clock: &Clock, opts: &DaemonOptions) -> DateTime<Utc> {
    let now = clock.now();
    let retry = now + chrono::Duration::from_std(opts.retry_delay).unwrap_or_default();
    match &r.due {
        Some(d) if d.next > now => d.next,
        Some(_) => retry,
        None => DateTime::<Utc>::MAX_UTC,
    }
}

/// A settled snapshot's report joins the pass that started it.
fn settle(open: &mut [OpenCycle], r: engine::ResourceReport) {
    let key = (r.policy.clone(), r.resource_id.clone());
    if let Some(o) = open.iter_mut().find(|o| o.outstanding.contains(&key)) {
        o.outstanding.remove(&key);
        o.report.resources.push(r);
    }
}

/// Log a cycle that is complete and show its next due time; true when
/// something in it failed.
fn finish_cycle(
    mut report: CycleReport,
    account: &Account,
    cancel: &CancellationToken,
    board_: &SharedBoard,
) -> bool {
    report
        .resources
        .sort_by(|a, b| (&a.policy, &a.resource_id).cmp(&(&b.policy, &b.resource_id)));
    log_cycle(&report);
    let next = report.next_due().map(|(t, r)| (t, r.resource_name.clone()));
    let mut b = board(board_);
    b.cycles += 1;
    // A removed account's entry is gone from the board (the supervisor
    // cancels, then removes it, under this lock): a cycle that ends after
    // that must not bring it back.
    if !cancel.is_cancelled() {
        b.next.insert(account.name.clone(), next);
    }
    drop(b);
    report.failures() > 0
}

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
    // ha (issue 15): `--once` does not ask etcd who owns what.
    if config.ha.is_some() {
        warn!(
            "run --once works every account of the file without asking etcd (ha: applies to the daemon only): do not run it on every replica"
        );
    }
    let cancel = CancellationToken::new();
    let engine_opts = EngineOptions {
        started: opts.clock.now(),
        ..opts.engine.clone()
    };
    // A daemon's reload grace periods hold here too.
    let graces = match opts.state_dir.as_deref().map(state::load) {
        Some(Ok(saved)) => state::graces_for(saved.as_ref(), &config.accounts, opts.clock.now()),
        Some(Err(e)) => {
            warn!(error = %e, "running without the daemon's reload grace periods");
            state::Graces::new()
        }
        None => state::Graces::new(),
    };
    let runs = config.accounts.iter().map(|account| {
        let cancel = cancel.clone();
        let engine_opts = EngineOptions {
            grace: graces.get(&account.name).map(|h| h.grace.clone()),
            ..engine_opts.clone()
        };
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
