//! From file bytes to a checked [`Config`]: read (bounded), parse,
//! validate, locate errors.
//!
//! Owns the input bounds: only a regular file is read (a FIFO, socket or
//! device is refused before it is opened for reading), at most
//! [`MAX_CONFIG_BYTES`], nested at most [`MAX_DEPTH`] levels, one document,
//! UTF-8. Every bound is checked before the YAML deserializer sees the text,
//! so a hostile file costs one linear pass. Must never: stop at the first
//! schema error (collect them all), block on a path that is not a regular
//! file, or read a token.

use std::fmt;
use std::path::{Path, PathBuf};

use super::Config;
use super::locate::{Locations, Pos, Scan};
use super::validate::{redact_tokens, tidy, validate};

/// The largest config file read: a real one is a few KiB.
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;
/// The deepest nesting of lists and mappings accepted (the schema needs 8).
pub const MAX_DEPTH: usize = 32;

/// One located problem (error or warning) in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, where known.
    pub line: Option<usize>,
    /// 1-based column, where known.
    pub column: Option<usize>,
    /// Key path such as `accounts[1].policies[0].keep` (may be empty).
    pub key: String,
    /// What is wrong and what is allowed; lower case, no final period.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A config that passed validation, with its warnings.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The checked config.
    pub config: Config,
    /// Problems that do not stop it from running.
    pub warnings: Vec<Diagnostic>,
    /// Where each key sits, for problems found after loading.
    locs: Locations,
}

impl Loaded {
    /// A problem with the token of account `account` (reading it, say),
    /// located at that account's `token` key.
    pub fn token_diagnostic(&self, account: &str, message: String) -> Diagnostic {
        let i = self.config.accounts.iter().position(|a| a.name == account);
        let key = i.map_or_else(String::new, |i| format!("accounts[{i}].token"));
        let pos = self.locs.key(&key);
        Diagnostic {
            file: self.config.path.clone(),
            line: pos.map(|p| p.0),
            column: pos.map(|p| p.1),
            key,
            message: redact_tokens(&message),
        }
    }
}

/// Loading a config failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The path is not a regular file (a FIFO, socket, device or directory).
    #[error("cannot read config file {path}: it is {what}, not a regular file")]
    NotAFile {
        /// The file.
        path: PathBuf,
        /// What it is instead ("a FIFO", "a socket", ...).
        what: &'static str,
    },
    /// The file is larger than [`MAX_CONFIG_BYTES`].
    #[error("cannot read config file {path}: it is larger than {} KiB", MAX_CONFIG_BYTES / 1024)]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The file was read but is not valid; every problem is listed (each
    /// names the file, so the summary does not).
    #[error("{} found", plural(errors.len()))]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Every error found.
        errors: Vec<Diagnostic>,
    },
}

fn plural(n: usize) -> String {
    if n == 1 {
        "1 error".to_string()
    } else {
        format!("{n} errors")
    }
}

/// Read and check a config file.
///
/// # Errors
/// [`ConfigError`] when the file cannot be read or is invalid.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    parse_bytes(&read(path)?, path)
}

/// Read a config file's bytes within the bounds: a regular file (after
/// following symlinks) of at most [`MAX_CONFIG_BYTES`].
///
/// # Errors
/// [`ConfigError::Read`], [`ConfigError::NotAFile`] or [`ConfigError::TooLarge`].
pub fn read(path: &Path) -> Result<Vec<u8>, ConfigError> {
    use std::io::Read;
    let io = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    // Look before opening: opening a FIFO for reading blocks until a
    // writer appears. The type is checked again on the open file in case
    // the path was replaced in between (then the open itself may block,
    // which needs someone racing us on purpose).
    let regular = |meta: &std::fs::Metadata| match file_kind(meta) {
        None => Ok(()),
        Some(what) => Err(ConfigError::NotAFile {
            path: path.to_path_buf(),
            what,
        }),
    };
    regular(&std::fs::metadata(path).map_err(io)?)?;
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    regular(&meta)?;
    let too_large = || ConfigError::TooLarge {
        path: path.to_path_buf(),
    };
    if meta.len() > MAX_CONFIG_BYTES as u64 {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > MAX_CONFIG_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// None for a regular file, else what it is.
fn file_kind(meta: &std::fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_block_device() || t.is_char_device() {
        Some("a device")
    } else {
        Some("a special file")
    }
}

/// Check config bytes that came from `path`: UTF-8 (else the first bad
/// byte's line and column), then [`parse_str`].
///
/// # Errors
/// [`ConfigError::Invalid`] with every problem found.
pub fn parse_bytes(bytes: &[u8], path: &Path) -> Result<Loaded, ConfigError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_str(text, path),
        Err(e) => {
            let good = &bytes[..e.valid_up_to()];
            let line = good.iter().filter(|b| **b == b'\n').count() + 1;
            let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
            Err(invalid(
                path,
                vec![yaml_error(
                    path,
                    Some((line, column)),
                    "the file is not valid UTF-8: save it as UTF-8".to_string(),
                )],
            ))
        }
    }
}

fn invalid(path: &Path, errors: Vec<Diagnostic>) -> ConfigError {
    ConfigError::Invalid {
        file: path.to_path_buf(),
        errors,
    }
}

/// A located problem with the file as a whole (not with one key).
fn yaml_error(path: &Path, pos: Option<Pos>, message: String) -> Diagnostic {
    Diagnostic {
        file: path.to_path_buf(),
        line: pos.map(|p| p.0),
        column: pos.map(|p| p.1),
        key: String::new(),
        message: redact_tokens(&message),
    }
}

/// Check config text that came from `path`.
///
/// The bounds (size, depth, one document) and duplicate keys are checked
/// first, in one linear pass. A YAML syntax error stops there (the parser
/// cannot go on); otherwise every schema error in the file is collected and
/// returned at once.
///
/// # Errors
/// [`ConfigError::Invalid`] with every problem found.
pub fn parse_str(text: &str, path: &Path) -> Result<Loaded, ConfigError> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let (locs, scan) = Locations::index(text, MAX_DEPTH);
    let early: Vec<Diagnostic> = match scan {
        Scan::TooDeep(pos) => vec![yaml_error(
            path,
            Some(pos),
            format!("lists and mappings are nested deeper than {MAX_DEPTH} levels"),
        )],
        Scan::SecondDocument(pos) => vec![yaml_error(
            path,
            Some(pos),
            "a second yaml document starts here: the config is one document (remove the `---` line and what follows, or merge it)".to_string(),
        )],
        Scan::Complete | Scan::SyntaxError => locs
            .duplicates()
            .iter()
            .map(|(key, first, pos)| Diagnostic {
                file: path.to_path_buf(),
                line: Some(pos.0),
                column: Some(pos.1),
                key: redact_tokens(key),
                message: format!(
                    "duplicate key: `{}` is already set at line {}",
                    redact_tokens(key.rsplit('.').next().unwrap_or(key)),
                    first.0
                ),
            })
            .collect(),
    };
    if !early.is_empty() {
        return Err(invalid(path, early));
    }
    let root: yaml_serde::Value = match yaml_serde::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let loc = e.location();
            let msg = tidy(&e.to_string());
            let pos = loc.as_ref().map(|l| (l.line(), l.column()));
            let mut d = yaml_error(path, pos, format!("invalid yaml: {msg}"));
            // yaml_serde's words for an integer it cannot hold:
            // "KEY: invalid type: integer `N` as u128, expected any YAML value".
            if let Some((head, _)) = msg.split_once(" as u128, expected any YAML value")
                && let Some((key, number)) = head.rsplit_once("invalid type: integer ")
            {
                d.key = redact_tokens(key.trim_end_matches([':', ' ']));
                d.message = format!("the number {number} is too large for any setting");
            }
            return Err(invalid(path, vec![d]));
        }
    };
    let checked = validate(&root, &locs, path);
    if checked.errors.is_empty() {
        Ok(Loaded {
            config: checked.config,
            warnings: checked.warnings,
            locs,
        })
    } else {
        Err(ConfigError::Invalid {
            file: path.to_path_buf(),
            errors: checked.errors,
        })
    }
}
