//! The `snapkeeper` binary: parses the command line and hands off to the
//! library. Must never: hold logic a test cannot reach through the library,
//! or print a token.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use snapkeeper::clock::Clock;
use snapkeeper::commands::{self, Ctx};
use snapkeeper::daemon::logging::{self, LogFormat};
use snapkeeper::daemon::{self, DaemonError, DaemonOptions, state};
use snapkeeper::engine::EngineOptions;
use snapkeeper::provider::ClientOptions;
use snapkeeper::{config, exit, sim};

/// Scheduled snapshots and retention for DigitalOcean, Vultr and Hetzner Cloud.
#[derive(Debug, Parser)]
#[command(name = "snapkeeper", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct Global {
    /// The configuration file.
    #[arg(
        long,
        global = true,
        env = "SNAPKEEPER_CONFIG",
        default_value = "/etc/snapkeeper/config.yaml"
    )]
    config: PathBuf,
    /// Where reload grace periods are kept across restarts (the daemon
    /// writes it; plan, prune and run --once read it). Default:
    /// $STATE_DIRECTORY as systemd sets it; commands then fall back to
    /// /var/lib/snapkeeper.
    #[arg(long, global = true)]
    state_dir: Option<PathBuf>,
    /// Where logs go: auto (journald under systemd, else stderr), text, json, journald.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto)]
    log_format: LogFormat,
}

/// Timing knobs for `run`; the defaults suit real providers.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Tuning")]
struct Tuning {
    /// First pause between polls of a pending snapshot (grows to --poll-max).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    poll_interval: std::time::Duration,
    /// Longest pause between polls of a pending snapshot.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    poll_max: std::time::Duration,
    /// Pause before trying a busy resource again within a cycle.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    busy_delay: std::time::Duration,
    /// Pause before the next cycle after a failed one (doubles, up to 8x).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    retry_delay: std::time::Duration,
    /// First back-off of a retried HTTP request.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "500ms")]
    http_retry_delay: std::time::Duration,
}

impl Tuning {
    fn apply(&self, opts: &mut DaemonOptions) {
        opts.engine.wait.first_interval = self.poll_interval;
        opts.engine.wait.max_interval = self.poll_max.max(self.poll_interval);
        opts.engine.busy_delay = self.busy_delay;
        opts.retry_delay = self.retry_delay;
        opts.client.retry.base_delay = self.http_retry_delay;
        opts.client.retry.max_delay = opts.client.retry.max_delay.max(self.http_retry_delay);
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: one loop per account, reload on change, stop on SIGTERM.
    Run {
        /// Run one full cycle for every account, then exit (0, 1 or 2).
        #[arg(long)]
        once: bool,
        #[command(flatten)]
        tuning: Tuning,
    },
    /// Validate the configuration file and print every problem found.
    Check {
        /// Also read every account's token (without printing it).
        #[arg(long)]
        resolve_secrets: bool,
    },
    /// Show what would be created and deleted now, touching nothing.
    Plan {
        /// Plan as of this time (RFC 3339) instead of now.
        #[arg(long)]
        at: Option<String>,
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Take a snapshot now.
    Snapshot {
        /// The account name.
        account: String,
        /// The resource id or name.
        resource: String,
        /// The snapshot name (manual snapshots; a managed one is named by its marker).
        #[arg(long, conflicts_with = "policy")]
        name: Option<String>,
        /// Make it a managed snapshot of this policy.
        #[arg(long)]
        policy: Option<String>,
        /// Wait until the snapshot is complete.
        #[arg(long)]
        wait: bool,
    },
    /// List snapshots.
    List {
        /// Only this account.
        account: Option<String>,
        /// Only snapshots of this resource (id or name).
        #[arg(long)]
        resource: Option<String>,
        /// Show manual (unmanaged) snapshots too.
        #[arg(long)]
        all: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Apply retention now, with the daemon's floors and caps.
    Prune {
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
        /// Show what would be deleted, delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show what each account holds.
    Inventory {
        /// Only this account.
        account: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Is every backup fresh? Nagios exit codes: 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN.
    Status {
        /// Only this account.
        account: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Send one test message to every webhook in `notify:`.
    NotifyTest,
    /// Serve the built-in provider simulator.
    Sim {
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:7070")]
        listen: SocketAddr,
        /// Seed file (YAML); the built-in demo seed when absent.
        #[arg(long)]
        seed: Option<PathBuf>,
    },
    /// Run the daemon against the built-in simulator for about a minute.
    Demo {
        /// How long to run.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check { resolve_secrets } => check(&cli.global.config, resolve_secrets),
        Command::Run { once, tuning } => {
            logging::init(cli.global.log_format);
            let path = cli.global.config.clone();
            let mut opts = DaemonOptions::default();
            tuning.apply(&mut opts);
            opts.state_dir = if once {
                Some(state::dir_for_reading(cli.global.state_dir.as_deref()))
            } else {
                state::dir_from_env(cli.global.state_dir.as_deref())
            };
            run_async(async move { run(&path, once, opts).await })
        }
        Command::Sim { listen, seed } => run_async(async move {
            let shutdown = match shutdown_signals() {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("error: cannot install signal handlers: {e}");
                    return exit::NOTHING_DONE;
                }
            };
            match sim::run(listen, seed.as_deref(), shutdown).await {
                Ok(()) => exit::OK,
                Err(e) => {
                    eprintln!("error: {e}");
                    exit::NOTHING_DONE
                }
            }
        }),
        Command::Plan { at, account, json } => {
            let clock = match at.as_deref().map(chrono::DateTime::parse_from_rfc3339) {
                None => Clock::system(),
                Some(Ok(t)) => Clock::fixed(t.with_timezone(&chrono::Utc)),
                Some(Err(e)) => {
                    eprintln!(
                        "error: --at {:?} is not an RFC 3339 time (2026-11-30T06:00:00Z): {e}",
                        at.unwrap_or_default()
                    );
                    return ExitCode::from(exit::NOTHING_DONE);
                }
            };
            with_ctx(&cli.global, clock, |ctx| async move {
                commands::plan(&ctx, account.as_deref(), json).await
            })
        }
        Command::Snapshot {
            account,
            resource,
            name,
            policy,
            wait,
        } => with_ctx(&cli.global, Clock::system(), |ctx| async move {
            commands::snapshot(
                &ctx,
                &account,
                &resource,
                name.as_deref(),
                policy.as_deref(),
                wait,
            )
            .await
        }),
        Command::List {
            account,
            resource,
            all,
            json,
        } => with_ctx(&cli.global, Clock::system(), |ctx| async move {
            commands::list(&ctx, account.as_deref(), resource.as_deref(), all, json).await
        }),
        Command::Prune {
            account,
            dry_run,
            json,
        } => with_ctx(&cli.global, Clock::system(), |ctx| async move {
            commands::prune(&ctx, account.as_deref(), dry_run, json).await
        }),
        Command::Inventory { account, json } => {
            with_ctx(&cli.global, Clock::system(), |ctx| async move {
                commands::inventory(&ctx, account.as_deref(), json).await
            })
        }
        // issue 12: monitoring commands.
        Command::Status { account, json } => {
            with_ctx(&cli.global, Clock::system(), |ctx| async move {
                commands::status::status(&ctx, account.as_deref(), json).await
            })
        }
        Command::NotifyTest => with_ctx(&cli.global, Clock::system(), |ctx| async move {
            snapkeeper::notify::test_message(&ctx.config, &ctx.clock).await
        }),
        Command::Demo { seconds } => {
            logging::init(LogFormat::Text);
            run_async(async move {
                let stop = async {
                    let _ = tokio::signal::ctrl_c().await;
                };
                match snapkeeper::demo::run(std::time::Duration::from_secs(seconds), stop).await {
                    Ok(code) => code,
                    Err(e) => {
                        eprintln!("error: {e}");
                        exit::NOTHING_DONE
                    }
                }
            })
        }
    };
    ExitCode::from(code)
}

async fn run(path: &Path, once: bool, opts: DaemonOptions) -> u8 {
    if once {
        let loaded = match config::load(path) {
            Ok(l) => l,
            Err(e) => return config_failed(path, &e),
        };
        return daemon::run_once(&loaded.config, &opts).await.0;
    }
    // SIGTERM and SIGINT are registered here, before the daemon says READY=1.
    let shutdown = match shutdown_signals() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: cannot install signal handlers: {e}");
            return exit::NOTHING_DONE;
        }
    };
    match daemon::run(path, opts, shutdown).await {
        Ok(()) => exit::OK,
        Err(DaemonError::Config(e)) => config_failed(path, &e),
        Err(e) => {
            eprintln!("error: {e}");
            exit::NOTHING_DONE
        }
    }
}

/// Print a config error the way `check` does and return exit code 78.
fn config_failed(path: &Path, e: &config::ConfigError) -> u8 {
    match e {
        config::ConfigError::Invalid { errors, .. } => {
            for d in errors {
                eprintln!("error: {d}");
            }
            eprintln!("{}: {e}", path.display());
        }
        other => eprintln!("error: {other}"),
    }
    exit::CONFIG
}

/// SIGTERM or SIGINT, registered now; resolves when either arrives.
fn shutdown_signals() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// Load the config (exit 78 on error), set up logging on stderr, and run an
/// operator command.
fn with_ctx<F, Fut>(global: &Global, clock: Clock, f: F) -> u8
where
    F: FnOnce(Ctx) -> Fut,
    Fut: std::future::Future<Output = u8>,
{
    let loaded = match config::load(&global.config) {
        Ok(l) => l,
        Err(e) => return config_failed(&global.config, &e),
    };
    let format = match global.log_format {
        LogFormat::Auto | LogFormat::Journald => LogFormat::Text,
        other => other,
    };
    logging::init_quiet(format);
    let graces = operator_graces(global, &loaded.config, &clock);
    let ctx = Ctx {
        config: loaded.config,
        warnings: loaded.warnings,
        graces,
        clock,
        engine: EngineOptions::default(),
        client: ClientOptions::default(),
    };
    run_async(f(ctx))
}

/// The daemon's reload grace periods, which `plan` shows and `prune`
/// honours like the daemon does.
fn operator_graces(
    global: &Global,
    config: &config::Config,
    clock: &Clock,
) -> std::collections::BTreeMap<String, snapkeeper::engine::Grace> {
    let dir = state::dir_for_reading(global.state_dir.as_deref());
    match state::load(&dir) {
        Ok(saved) => state::graces_for(saved.as_ref(), &config.accounts, clock.now())
            .into_iter()
            .map(|(name, h)| (name, h.grace))
            .collect(),
        Err(e) => {
            eprintln!(
                "warning: {e}; deletions a running daemon holds after a reload are not shown"
            );
            Default::default()
        }
    }
}

fn run_async(fut: impl std::future::Future<Output = u8>) -> u8 {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(fut),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            exit::NOTHING_DONE
        }
    }
}

fn check(path: &Path, resolve_secrets: bool) -> u8 {
    let loaded = match config::load(path) {
        Ok(loaded) => loaded,
        Err(config::ConfigError::Invalid { errors, .. }) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            eprintln!(
                "{}: {} found, nothing changed",
                path.display(),
                if errors.len() == 1 {
                    "1 error".to_string()
                } else {
                    format!("{} errors", errors.len())
                }
            );
            return exit::CONFIG;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit::CONFIG;
        }
    };
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    let mut failed = false;
    if resolve_secrets {
        for account in &loaded.config.accounts {
            if let Err(e) = account.token.read() {
                eprintln!("error: account {}: {e}", account.name);
                failed = true;
            }
        }
    }
    if failed {
        return exit::CONFIG;
    }
    let policies: usize = loaded
        .config
        .accounts
        .iter()
        .map(|a| a.policies.len())
        .sum();
    println!(
        "ok: {} accounts, {} policies",
        loaded.config.accounts.len(),
        policies
    );
    exit::OK
}
