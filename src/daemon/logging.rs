//! Logging setup: journald when its socket exists, else stderr (text or JSON).
//!
//! Owns the tracing subscriber. Must never: log a token (tokens never reach a
//! field: they live in `SecretString`), or fail the daemon because journald
//! is missing.

use std::path::Path;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Where and how to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// journald when its socket exists, else human-readable stderr.
    #[default]
    Auto,
    /// Human-readable lines on stderr.
    Text,
    /// One JSON object per line on stderr.
    Json,
    /// journald only.
    Journald,
}

/// Colour only for a terminal, and never with `NO_COLOR` set.
fn color() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

const JOURNALD_SOCKET: &str = "/run/systemd/journal/socket";

/// For one-shot commands: warnings and errors only (unless `RUST_LOG` says
/// otherwise), so the command's own output stays readable.
pub fn init_quiet(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = if format == LogFormat::Json {
        tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(escaping_fields())
                    .with_timer(Seconds)
                    .with_target(false)
                    .with_writer(std::io::stderr)
                    .with_ansi(false),
            )
            .try_init()
    };
}

/// Text-format time stamps to the second, in UTC (`2026-12-01T10:33:49Z`):
/// the journal and `--log-format json` keep finer ones.
struct Seconds;

impl tracing_subscriber::fmt::time::FormatTime for Seconds {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        write!(w, "{}", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"))
    }
}

/// Fields of the text format, escaped: a snapshot name or a provider's
/// message with a newline, a NUL or an escape sequence is printed as `\n`,
/// `\0`, `\u{1b}`, never raw (the JSON format escapes by itself, and
/// journald keeps each field apart).
fn escaping_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let text = crate::text::guard(format!("{value:?}"));
        if field.name() == "message" {
            write!(w, "{text}")
        } else {
            write!(w, "{}={text}", field.name())
        }
    })
    .delimited(" ")
}

/// Install the global subscriber. `RUST_LOG` overrides the default level
/// (`info`). Returns which sink was chosen, for a first log line.
pub fn init(format: LogFormat) -> &'static str {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let want_journald = match format {
        LogFormat::Journald => true,
        LogFormat::Auto => {
            Path::new(JOURNALD_SOCKET).exists() && std::env::var_os("JOURNAL_STREAM").is_some()
        }
        LogFormat::Text | LogFormat::Json => false,
    };
    if want_journald && let Ok(layer) = tracing_journald::layer() {
        let layer = layer.with_syslog_identifier("snapkeeper".to_string());
        if tracing_subscriber::registry()
            .with(filter())
            .with(layer)
            .try_init()
            .is_ok()
        {
            return "journald";
        }
    }
    let result = if format == LogFormat::Json {
        tracing_subscriber::registry()
            .with(filter())
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        tracing_subscriber::registry()
            .with(filter())
            .with(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(escaping_fields())
                    .with_timer(Seconds)
                    .with_target(false)
                    .with_writer(std::io::stderr)
                    .with_ansi(color()),
            )
            .try_init()
    };
    let _ = result;
    if format == LogFormat::Json {
        "json"
    } else {
        "stderr"
    }
}
