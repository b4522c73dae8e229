//! The `snapkeeper` binary: parses the command line and hands off to the
//! library. Must never: hold logic a test cannot reach through the library,
//! or print a token.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
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
    /// Read `credential:` tokens from this directory instead of $CREDENTIALS_DIRECTORY.
    #[arg(long, global = true, value_name = "DIR")]
    credentials_dir: Option<PathBuf>,
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
    /// How often the config watch is checked against its directory and
    /// symlink chain (re-armed when they changed).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    watch_check: std::time::Duration,
    /// How often the config file's bytes are compared with the config in
    /// force (a safety net for changes no file event announced).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    content_check: std::time::Duration,
    /// First back-off of a retried HTTP request.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "500ms")]
    http_retry_delay: std::time::Duration,
    /// Give idle memory back to the system once no provider request was
    /// sent for this long (0s: never).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "25s")]
    idle_release: std::time::Duration,
}

impl Tuning {
    fn apply(&self, opts: &mut DaemonOptions) {
        opts.engine.wait.first_interval = self.poll_interval;
        opts.engine.wait.max_interval = self.poll_max.max(self.poll_interval);
        opts.engine.busy_delay = self.busy_delay;
        opts.retry_delay = self.retry_delay;
        opts.watch_check = self.watch_check.max(std::time::Duration::from_millis(100));
        opts.content_check = self
            .content_check
            .max(std::time::Duration::from_millis(100));
        opts.client.retry.base_delay = self.http_retry_delay;
        opts.client.retry.max_delay = opts.client.retry.max_delay.max(self.http_retry_delay);
        opts.release_after = (!self.idle_release.is_zero()).then_some(self.idle_release);
    }
}

/// Which accounts a command works on: one convention for every command.
#[derive(Debug, Clone, Args)]
struct Select {
    /// Only this account (repeat for more; all accounts when absent).
    #[arg(long = "account", value_name = "ACCOUNT")]
    accounts: Vec<String>,
}

impl Select {
    /// The `--account` names plus an old-style positional one.
    fn with(mut self, positional: Option<String>) -> Vec<String> {
        self.accounts.extend(positional);
        self.accounts
    }
}

/// How a command prints what it found.
#[derive(Debug, Clone, Copy, Args)]
struct Output {
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    /// Full ids, names and times (tables fit 100 columns without it).
    #[arg(long)]
    wide: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: one loop per account, reload on change, stop on SIGTERM.
    Run {
        /// Run one full cycle for every account, then exit (0, 1 or 2).
        #[arg(long)]
        once: bool,
        /// With --once: only this account (repeat for more).
        #[arg(long = "account", value_name = "ACCOUNT", requires = "once")]
        accounts: Vec<String>,
        #[command(flatten)]
        tuning: Tuning,
    },
    /// Validate the configuration file and print every problem found.
    Check {
        /// Also read every account's token (without printing it).
        #[arg(long)]
        resolve_secrets: bool,
        /// Also make one read per account with its token: works, 401, 403 or unreachable.
        #[arg(long)]
        online: bool,
    },
    /// Show what would be created and deleted now, touching nothing.
    Plan {
        /// Plan as of this time: 2026-11-30, 2026-11-30T06:00 (UTC), RFC 3339, or +3d.
        #[arg(long)]
        at: Option<String>,
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        out: Output,
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
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Delete one snapshot (asks first; refuses one that retention keeps).
    Delete {
        /// The account name.
        account: String,
        /// The snapshot id, an id prefix as tables show it, or its name.
        snapshot: String,
        /// Do not ask for confirmation (needed when stdin is not a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
        /// Delete a managed snapshot even though retention keeps it.
        #[arg(long)]
        force: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// List snapshots.
    List {
        /// Only this account (the same as --account).
        #[arg(hide = true)]
        account: Option<String>,
        #[command(flatten)]
        select: Select,
        /// Only snapshots of this resource (id or name).
        #[arg(long)]
        resource: Option<String>,
        /// Show manual (unmanaged) snapshots too.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        out: Output,
    },
    /// Apply retention now, with the daemon's floors and caps.
    Prune {
        #[command(flatten)]
        select: Select,
        /// Show what would be deleted, delete nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        out: Output,
    },
    /// Show what each account holds.
    Inventory {
        /// Only this account (the same as --account).
        #[arg(hide = true)]
        account: Option<String>,
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        out: Output,
    },
    /// Is every backup fresh? Exit 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN (Nagios).
    Status {
        /// Only this account (the same as --account).
        #[arg(hide = true)]
        account: Option<String>,
        #[command(flatten)]
        select: Select,
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
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) for snapkeeper(1).
    Man,
}

fn main() -> ExitCode {
    // Before any thread starts (issue 11: the idle daemon's memory).
    snapkeeper::memory::one_arena();
    let cli = Cli::parse();
    snapkeeper::tls::install_crypto_provider();
    if let Some(dir) = &cli.global.credentials_dir {
        config::set_credentials_dir(dir.clone());
    }
    let code = match cli.command {
        Command::Check {
            resolve_secrets,
            online,
        } => {
            if online {
                logging::init_quiet(LogFormat::Text);
            }
            let path = cli.global.config.clone();
            run_async(async move { commands::check(&path, resolve_secrets, online).await })
        }
        Command::Completions { shell } => {
            // Into memory first: writing to a Vec cannot fail, stdout can.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "snapkeeper", &mut script);
            print_bytes("the completion script", &script)
        }
        Command::Man => {
            let mut page = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut page) {
                Ok(()) => print_bytes("the man page", &page),
                Err(e) => {
                    eprintln!("error: cannot render the man page: {e}");
                    exit::NOTHING_DONE
                }
            }
        }
        Command::Run {
            once,
            accounts,
            tuning,
        } => {
            logging::init(cli.global.log_format);
            let path = cli.global.config.clone();
            let mut opts = DaemonOptions::default();
            tuning.apply(&mut opts);
            opts.state_dir = if once {
                Some(state::dir_for_reading(cli.global.state_dir.as_deref()))
            } else {
                state::dir_from_env(cli.global.state_dir.as_deref())
            };
            let fut = async move { run(&path, once, &accounts, opts).await };
            if once {
                run_async(fut)
            } else {
                run_daemon(fut)
            }
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
        Command::Plan { at, select, out } => {
            let clock = match at
                .as_deref()
                .map(|t| commands::plan::parse_at(t, chrono::Utc::now()))
            {
                None => Clock::system(),
                Some(Ok(t)) => Clock::fixed(t),
                Some(Err(e)) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(exit::NOTHING_DONE);
                }
            };
            with_ctx(&cli.global, clock, |ctx| async move {
                commands::plan(&ctx, &select.accounts, out.json, out.wide).await
            })
        }
        Command::Snapshot {
            account,
            resource,
            name,
            policy,
            wait,
            json,
        } => with_ctx(&cli.global, Clock::system(), |ctx| async move {
            let opts = commands::SnapshotOptions {
                account,
                resource,
                name,
                policy,
                wait,
                json,
            };
            commands::snapshot(&ctx, &opts).await
        }),
        Command::Delete {
            account,
            snapshot,
            yes,
            force,
            json,
        } => with_ctx(&cli.global, Clock::system(), |ctx| async move {
            let opts = commands::DeleteOptions {
                account,
                snapshot,
                yes,
                force,
                json,
            };
            commands::delete(&ctx, &opts).await
        }),
        Command::List {
            account,
            select,
            resource,
            all,
            out,
        } => with_ctx(&cli.global, Clock::system(), |ctx| async move {
            let opts = commands::ListOptions {
                accounts: select.with(account),
                resource,
                all,
                json: out.json,
                wide: out.wide,
            };
            commands::list(&ctx, &opts).await
        }),
        Command::Prune {
            select,
            dry_run,
            out,
        } => with_ctx(&cli.global, Clock::system(), |ctx| async move {
            commands::prune(&ctx, &select.accounts, dry_run, out.json, out.wide).await
        }),
        Command::Inventory {
            account,
            select,
            out,
        } => with_ctx(&cli.global, Clock::system(), |ctx| async move {
            commands::inventory(&ctx, &select.with(account), out.json, out.wide).await
        }),
        // issue 12: monitoring commands.
        Command::Status {
            account,
            select,
            json,
        } => with_ctx(&cli.global, Clock::system(), |ctx| async move {
            commands::status::status(&ctx, &select.with(account), json).await
        }),
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

async fn run(path: &Path, once: bool, accounts: &[String], opts: DaemonOptions) -> u8 {
    if once {
        let mut loaded = match config::load(path) {
            Ok(l) => l,
            Err(e) => return config_failed(path, &e),
        };
        if let Some(unknown) = accounts
            .iter()
            .find(|n| !loaded.config.accounts.iter().any(|a| &a.name == *n))
        {
            eprintln!(
                "error: no account named {unknown:?} in {} (accounts: {})",
                path.display(),
                loaded
                    .config
                    .accounts
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            return exit::NOTHING_DONE;
        }
        if !accounts.is_empty() {
            loaded
                .config
                .accounts
                .retain(|a| accounts.contains(&a.name));
        }
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

/// Write generated text to stdout; a closed or full stdout is an error, not a panic.
fn print_bytes(what: &str, bytes: &[u8]) -> u8 {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: cannot write {what} to stdout: {e}");
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

/// The daemon's runtime: one thread. It waits on the network nearly all
/// its life, and its CPU work (parsing a page, deciding what to keep) is
/// short; file reads go to the blocking pool. One thread keeps the idle
/// daemon small (issue 11): no work-stealing workers to park and wake, and
/// one stack.
fn run_daemon(fut: impl std::future::Future<Output = u8>) -> u8 {
    run_on(tokio::runtime::Builder::new_current_thread(), fut)
}

fn run_async(fut: impl std::future::Future<Output = u8>) -> u8 {
    run_on(tokio::runtime::Builder::new_multi_thread(), fut)
}

fn run_on(mut runtime: tokio::runtime::Builder, fut: impl std::future::Future<Output = u8>) -> u8 {
    match runtime.enable_all().build() {
        Ok(rt) => rt.block_on(fut),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            exit::NOTHING_DONE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Each `run` tuning flag as the daemon options it sets: (flag, where
    /// it lands).
    fn landed(opts: &DaemonOptions) -> Vec<(&'static str, Option<Duration>)> {
        vec![
            ("--poll-interval", Some(opts.engine.wait.first_interval)),
            ("--poll-max", Some(opts.engine.wait.max_interval)),
            ("--busy-delay", Some(opts.engine.busy_delay)),
            ("--retry-delay", Some(opts.retry_delay)),
            ("--watch-check", Some(opts.watch_check)),
            ("--content-check", Some(opts.content_check)),
            ("--http-retry-delay", Some(opts.client.retry.base_delay)),
            ("--idle-release", opts.release_after),
        ]
    }

    /// `run`'s tuning from these arguments. The destructuring lists every
    /// field, so a new flag fails to compile until it is looked at here and
    /// added to [`landed`].
    fn tuning(args: &[&str]) -> Tuning {
        let cli =
            Cli::try_parse_from(["snapkeeper", "run"].iter().chain(args)).expect("run parses");
        let Command::Run { tuning, .. } = cli.command else {
            panic!("not run: {:?}", cli.command);
        };
        let Tuning {
            poll_interval: _,
            poll_max: _,
            busy_delay: _,
            retry_delay: _,
            watch_check: _,
            content_check: _,
            http_retry_delay: _,
            idle_release: _,
        } = &tuning;
        tuning
    }

    /// The flags' defaults are the daemon's own (a change to one, such as
    /// the HTTP pool's idle time-out behind `--idle-release`, that the
    /// other does not follow fails here), and each flag lands in its own
    /// option.
    #[test]
    fn tuning_flags_default_to_the_daemons_and_land_in_their_own_options() {
        let mut opts = DaemonOptions::default();
        tuning(&[]).apply(&mut opts);
        assert_eq!(landed(&opts), landed(&DaemonOptions::default()));

        let flags = landed(&opts);
        let mut args = Vec::new();
        let mut want = Vec::new();
        for (i, (flag, _)) in flags.iter().enumerate() {
            let secs = 101 + i as u64;
            args.push(flag.to_string());
            args.push(format!("{secs}s"));
            want.push((*flag, Some(Duration::from_secs(secs))));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut opts = DaemonOptions::default();
        tuning(&args).apply(&mut opts);
        assert_eq!(landed(&opts), want);
    }
}
