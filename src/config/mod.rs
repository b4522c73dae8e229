//! Configuration: the YAML schema, its validation, and token sources.
//!
//! Owns the checked types the rest of the program uses ([`Config`],
//! [`Account`], [`Policy`], [`Targets`], [`Selector`], [`TokenSource`]) and
//! the path from file bytes to them. Must never: hold a token value (only
//! where it comes from), print one, or let the engine see raw serde structs.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono_tz::Tz;
use secrecy::SecretString;

use crate::policy::{KeepRules, Schedule};

// `ha:` (issue 15): the checked types of the section.
mod ha;
mod load;
mod locate;
mod raw;
mod validate;
pub use ha::{
    DEFAULT_HA_PREFIX, DEFAULT_LEASE_TTL, DEFAULT_SETTLE, Etcd, EtcdAuth, EtcdTls, Ha,
    MIN_LEASE_TTL, is_replica_id,
};
pub use load::{
    ConfigError, Diagnostic, Loaded, MAX_CONFIG_BYTES, MAX_DEPTH, load, parse_bytes, parse_str,
    read,
};
use validate::redact_tokens;
pub use validate::{DEFAULT_MAX_DELETES, DO_VOLUME_SNAPSHOT_QUOTA, MIN_EVERY};

/// A checked configuration file.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where it was read from.
    pub path: PathBuf,
    /// Accounts, in file order; names are unique.
    pub accounts: Vec<Account>,
    /// `ha:` (issue 15): replicas sharing the accounts through etcd; `None`
    /// (the default) is one process working every account.
    pub ha: Option<Ha>,
    /// `metrics:`: serve Prometheus metrics here (off when `None`).
    pub metrics: Option<MetricsConfig>,
    /// `notify:`: where state changes are sent (none by default).
    pub notify: NotifyConfig,
}

/// `metrics:` as checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Address `snapkeeper run` serves `/metrics` on (default 127.0.0.1:9187).
    pub listen: std::net::SocketAddr,
}

/// Default of [`MetricsConfig::listen`].
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9187";

/// `notify:` as checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotifyConfig {
    /// Webhooks, in file order.
    pub webhooks: Vec<Webhook>,
}

/// One webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// `http://` or `https://` URL (may hold a secret path: never logged whole).
    pub url: String,
    /// Body shape.
    pub format: WebhookFormat,
}

/// What a webhook body looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// snapkeeper's own JSON event.
    Json,
    /// Slack-compatible `{"text": ...}` (also Mattermost, Rocket.Chat, Discord's Slack endpoint).
    Slack,
}

/// The cloud behind an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProviderKind {
    /// DigitalOcean API v2.
    DigitalOcean,
    /// Vultr API v2.
    Vultr,
    /// Hetzner Cloud API v1.
    Hetzner,
}

impl ProviderKind {
    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DigitalOcean => "digitalocean",
            Self::Vultr => "vultr",
            Self::Hetzner => "hetzner",
        }
    }

    /// The provider's public API base URL, used when `api_url` is not set.
    pub fn default_api_url(self) -> &'static str {
        match self {
            Self::DigitalOcean => "https://api.digitalocean.com",
            Self::Vultr => "https://api.vultr.com/v2",
            Self::Hetzner => "https://api.hetzner.cloud/v1",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One provider account (DigitalOcean team, Vultr account, Hetzner project).
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// Unique name, `[a-z0-9][a-z0-9-]*`; part of every marker.
    pub name: String,
    /// Which cloud.
    pub provider: ProviderKind,
    /// Where the token comes from (never the token itself).
    pub token: TokenSource,
    /// API base URL: `api_url` from the file, or the provider's default.
    pub api_url: String,
    /// Policies, in file order; names unique within the account.
    pub policies: Vec<Policy>,
    /// Opt-in: let retention delete snapshots of this account whose resource
    /// or policy no longer exists (default false: orphans are kept and reported).
    pub prune_orphans: bool,
    /// Policies removed from the file whose snapshots `prune_orphans` may
    /// delete (down to the newest complete one). A marker's policy that is
    /// neither here nor in `policies` may belong to another installation that
    /// uses the same account name, so its snapshots are never deleted.
    pub retired_policies: Vec<String>,
    /// How long deletions that a reload makes newly due wait before they
    /// happen (default 15 minutes; zero turns the hold off).
    pub reload_grace: std::time::Duration,
}

/// Default of [`Account::reload_grace`].
pub const DEFAULT_RELOAD_GRACE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// One snapshot policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Stable id, `[a-z0-9][a-z0-9-]*`; part of every marker.
    pub name: String,
    /// Which resources.
    pub targets: Targets,
    /// How often.
    pub schedule: Schedule,
    /// Time zone for cron slots and calendar buckets (default UTC).
    pub timezone: Tz,
    /// How long to keep.
    pub keep: KeepRules,
    /// At most this many deletions per resource per run (default 10).
    pub max_deletes_per_run: u32,
    /// Extra tags put on each snapshot (DigitalOcean only; empty elsewhere).
    pub snapshot_tags: Vec<String>,
    /// `alert:`: freshness thresholds that replace the schedule's defaults.
    pub alert: crate::policy::freshness::AlertOverride,
}

/// The kind of resource a policy snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TargetKind {
    /// DigitalOcean droplet.
    Droplet,
    /// DigitalOcean block storage volume.
    Volume,
    /// Vultr instance.
    Instance,
    /// Hetzner Cloud server.
    Server,
}

impl TargetKind {
    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Droplet => "droplet",
            Self::Volume => "volume",
            Self::Instance => "instance",
            Self::Server => "server",
        }
    }

    /// The provider that has this kind.
    pub fn provider(self) -> ProviderKind {
        match self {
            Self::Droplet | Self::Volume => ProviderKind::DigitalOcean,
            Self::Instance => ProviderKind::Vultr,
            Self::Server => ProviderKind::Hetzner,
        }
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which resources of one kind a policy covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    /// Resource kind.
    pub kind: TargetKind,
    /// Resources matching this are included...
    pub include: Selector,
    /// ...unless they match this.
    pub exclude: Option<Selector>,
}

/// A resource selector. A resource matches when any one given criterion
/// matches (`all`, an id, a name glob, a tag, or every label pair).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    /// Every resource of the kind.
    pub all: bool,
    /// Exact provider ids.
    pub ids: Vec<String>,
    /// Name globs (`web-*`).
    pub names: Vec<String>,
    /// Tags (DigitalOcean, Vultr).
    pub tags: Vec<String>,
    /// Labels (Hetzner): all pairs must match.
    pub labels: BTreeMap<String, String>,
}

/// What a selector looks at on a resource.
#[derive(Debug, Clone, Copy)]
pub struct ResourceFacts<'a> {
    /// Provider id.
    pub id: &'a str,
    /// Name (DigitalOcean name, Vultr label, Hetzner name).
    pub name: &'a str,
    /// Tags.
    pub tags: &'a [String],
    /// Labels.
    pub labels: &'a BTreeMap<String, String>,
}

impl Targets {
    /// True when the resource is included and not excluded.
    pub fn matches(&self, r: ResourceFacts<'_>) -> bool {
        self.include.matches(r) && !self.exclude.as_ref().is_some_and(|x| x.matches(r))
    }
}

impl Selector {
    /// True when any criterion of the selector matches the resource.
    pub fn matches(&self, r: ResourceFacts<'_>) -> bool {
        self.all
            || self.ids.iter().any(|id| id == r.id)
            || self.names.iter().any(|g| glob_matches(g, r.name))
            || self.tags.iter().any(|t| r.tags.contains(t))
            || (!self.labels.is_empty()
                && self.labels.iter().all(|(k, v)| r.labels.get(k) == Some(v)))
    }
}

fn glob_matches(glob: &str, name: &str) -> bool {
    globset::Glob::new(glob).is_ok_and(|g| g.compile_matcher().is_match(name))
}

/// Where an account's token comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// An environment variable's name.
    Env(String),
    /// A file holding the token (surrounding white space is trimmed).
    File(PathBuf),
    /// A systemd credential name, read from `$CREDENTIALS_DIRECTORY/NAME`
    /// (or `--credentials-dir DIR/NAME` from a shell).
    Credential(String),
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "env:{}", redact_tokens(name)),
            Self::File(path) => write!(f, "file:{}", shown(path)),
            Self::Credential(name) => write!(f, "credential:{}", redact_tokens(name)),
        }
    }
}

/// A path for a message, with any token-shaped part redacted.
fn shown(path: &Path) -> String {
    redact_tokens(&path.display().to_string())
}

/// Reading a token failed. No message holds a token: names and paths that
/// look like one are redacted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The variable is unset or empty.
    #[error("token environment variable {} is not set or empty", redact_tokens(.0))]
    EnvMissing(String),
    /// The file could not be read.
    #[error("cannot read token file {}: {source}", shown(path))]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("token file {} is empty", shown(.0))]
    FileEmpty(PathBuf),
    /// The value holds a character no token has: a line break inside it
    /// (two lines pasted), a control character, a space, a non-ASCII letter.
    #[error(
        "token from {from} holds {what} at character {at}: a token is one line of printable ASCII (only surrounding white space is trimmed)"
    )]
    Malformed {
        /// `environment variable NAME`, `file PATH`.
        from: String,
        /// `a line break`, `a control character`, ...
        what: &'static str,
        /// 1-based position in the trimmed value.
        at: usize,
    },
    /// Neither `--credentials-dir` nor `$CREDENTIALS_DIRECTORY` is set (not
    /// running under systemd with LoadCredential=).
    #[error(
        "token credential {} needs $CREDENTIALS_DIRECTORY (systemd LoadCredential=) or --credentials-dir, and neither is set",
        redact_tokens(.0)
    )]
    NoCredentialsDirectory(String),
}

/// Set by `--credentials-dir`: where `credential:` tokens are read from by
/// commands run from a shell, in place of `$CREDENTIALS_DIRECTORY`.
static CREDENTIALS_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Read `credential:` tokens from `dir` for the rest of the process (the
/// `--credentials-dir` flag), ahead of `$CREDENTIALS_DIRECTORY`. Only the
/// first call counts; returns false when a directory was already set.
pub fn set_credentials_dir(dir: PathBuf) -> bool {
    CREDENTIALS_DIR.set(dir).is_ok()
}

/// `--credentials-dir` when given, else `$CREDENTIALS_DIRECTORY`.
fn credentials_dir() -> Option<PathBuf> {
    CREDENTIALS_DIR
        .get()
        .cloned()
        .or_else(|| std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from))
}

impl TokenSource {
    /// Read the token. The value only ever lives in a `SecretString`.
    ///
    /// # Errors
    /// [`TokenError`] naming the source (never the value) when it cannot be read.
    pub fn read(&self) -> Result<SecretString, TokenError> {
        match self {
            Self::Env(name) => match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => {
                    well_formed(v.trim(), || {
                        format!("environment variable {}", redact_tokens(name))
                    })?;
                    Ok(SecretString::from(v.trim().to_string()))
                }
                _ => Err(TokenError::EnvMissing(name.clone())),
            },
            Self::File(path) => read_token_file(path),
            Self::Credential(name) => {
                let dir = credentials_dir()
                    .ok_or_else(|| TokenError::NoCredentialsDirectory(name.clone()))?;
                read_token_file(&dir.join(name))
            }
        }
    }

    /// The token file and its mode when it exists and group or others may
    /// read or write it (mode & 0o077): a warning, not an error. Looks only at
    /// the permission bits, never at the content. `None` for `env`, for a
    /// missing file, and for a credential outside systemd.
    pub fn loose_permissions(&self) -> Option<(PathBuf, u32)> {
        use std::os::unix::fs::PermissionsExt;
        let path = match self {
            Self::Env(_) => return None,
            Self::File(path) => path.clone(),
            Self::Credential(name) => credentials_dir()?.join(name),
        };
        let mode = std::fs::metadata(&path).ok()?.permissions().mode();
        (mode & 0o077 != 0).then_some((path, mode))
    }
}

/// A token file larger than this is not a token file.
const TOKEN_FILE_MAX: u64 = 64 * 1024;

fn read_token_file(path: &Path) -> Result<SecretString, TokenError> {
    use std::io::Read;
    let fail = |source| TokenError::File {
        path: path.to_path_buf(),
        source,
    };
    // Looked at before it is opened: opening a FIFO for reading waits for
    // a writer, and a device may never end.
    let meta = std::fs::metadata(path).map_err(fail)?;
    if !meta.is_file() {
        return Err(fail(std::io::Error::other(
            "not a regular file (a FIFO, socket, device or directory is never read)",
        )));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(TOKEN_FILE_MAX + 1).read_to_end(&mut bytes))
        .map_err(fail)?;
    if bytes.len() as u64 > TOKEN_FILE_MAX {
        return Err(fail(std::io::Error::other(format!(
            "larger than {} KiB: not a token file",
            TOKEN_FILE_MAX / 1024
        ))));
    }
    let text =
        String::from_utf8(bytes).map_err(|_| fail(std::io::Error::other("not UTF-8 text")))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(TokenError::FileEmpty(path.to_path_buf()));
    }
    well_formed(token, || format!("file {}", shown(path)))?;
    Ok(SecretString::from(token.to_string()))
}

/// Refuse a token with a character no provider's token has, before it
/// reaches an HTTP header (where it would fail every request, retried).
fn well_formed(token: &str, from: impl FnOnce() -> String) -> Result<(), TokenError> {
    let Some((i, c)) = token
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii_graphic())
    else {
        return Ok(());
    };
    let what = match c {
        '\n' | '\r' => "a line break",
        ' ' | '\t' => "white space",
        c if c.is_control() => "a control character",
        _ => "a non-ASCII character",
    };
    Err(TokenError::Malformed {
        from: from(),
        what,
        at: i + 1,
    })
}

#[cfg(test)]
mod token_file_tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn only_a_small_regular_file_is_read_as_a_token() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("good"), "tok123\n").unwrap();
        std::fs::write(d.join("huge"), "a".repeat(70 * 1024)).unwrap();
        std::fs::create_dir(d.join("dir")).unwrap();
        let fifo = d.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        // (file, Ok(token) or a part of the error)
        let cases: [(&str, Result<&str, &str>); 4] = [
            ("good", Ok("tok123")),
            ("huge", Err("larger than 64 KiB")),
            ("dir", Err("not a regular file")),
            // Would hang on open without the check.
            ("fifo", Err("not a regular file")),
        ];
        for (name, want) in cases {
            let got = TokenSource::File(d.join(name)).read();
            match (got, want) {
                (Ok(t), Ok(w)) => assert_eq!(t.expose_secret(), w, "{name}"),
                (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{name}: {e}"),
                (got, want) => panic!("{name}: got {:?}, want {want:?}", got.map(|_| "a token")),
            }
        }
    }
}
