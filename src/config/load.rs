//! From file bytes to a checked [`Config`]: parse, validate, locate errors.
//!
//! Must never: stop at the first error (collect them all), or read a token.

use std::fmt;
use std::path::{Path, PathBuf};

use super::Config;
use super::locate::Locations;
use super::validate::{tidy, validate};

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
    /// The file was read but is not valid; every problem is listed.
    #[error("{} in {}", plural(errors.len()), file.display())]
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
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_str(&text, path)
}

/// Check config text that came from `path`.
///
/// A YAML syntax error stops there (the parser cannot go on); otherwise
/// every schema error in the file is collected and returned at once.
///
/// # Errors
/// [`ConfigError::Invalid`] with every problem found.
pub fn parse_str(text: &str, path: &Path) -> Result<Loaded, ConfigError> {
    let root: yaml_serde::Value = match yaml_serde::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let loc = e.location();
            return Err(ConfigError::Invalid {
                file: path.to_path_buf(),
                errors: vec![Diagnostic {
                    file: path.to_path_buf(),
                    line: loc.as_ref().map(|l| l.line()),
                    column: loc.as_ref().map(|l| l.column()),
                    key: String::new(),
                    message: format!("invalid yaml: {}", tidy(&e.to_string())),
                }],
            });
        }
    };
    let locs = Locations::index(text);
    let checked = validate(&root, &locs, path);
    if checked.errors.is_empty() {
        Ok(Loaded {
            config: checked.config,
            warnings: checked.warnings,
        })
    } else {
        Err(ConfigError::Invalid {
            file: path.to_path_buf(),
            errors: checked.errors,
        })
    }
}
