//! Watching the config file for changes.
//!
//! Owns the notify watcher: it watches the file's PARENT directory (editors
//! save by rename, which makes a watch on the file itself go deaf), keeps only
//! events for the config file's name, debounces them, and sends one
//! [`Control::Reload`] per burst. Must never: parse the file (the reload path
//! does that), or watch recursively.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer, notify};
use tokio::sync::mpsc::UnboundedSender;

use super::Control;

/// How long events must be quiet before a reload (editors write in bursts).
pub const DEBOUNCE: Duration = Duration::from_millis(500);

/// Errors starting the watcher.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The watcher could not be created or could not watch the directory.
    #[error("cannot watch {dir} for config changes: {source}")]
    Watch {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: notify::Error,
    },
}

/// A running watcher; dropping it stops watching.
pub struct ConfigWatcher {
    _debouncer: Debouncer<notify::RecommendedWatcher>,
}

/// Watch `config`'s directory and send [`Control::Reload`] on changes to it.
///
/// # Errors
/// [`WatchError`] when the directory cannot be watched.
pub fn watch(config: &Path, tx: UnboundedSender<Control>) -> Result<ConfigWatcher, WatchError> {
    let config = std::path::absolute(config).unwrap_or_else(|_| config.to_path_buf());
    let dir = config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let name = config.file_name().map(ToOwned::to_owned);
    let handler = move |result: DebounceEventResult| match result {
        Ok(events) => {
            if events.iter().any(|e| e.path.file_name() == name.as_deref()) {
                let _ = tx.send(Control::Reload(ReloadCause::FileChanged));
            }
        }
        Err(e) => tracing::warn!(error = %e, "config watcher error"),
    };
    let mut debouncer = new_debouncer(DEBOUNCE, handler).map_err(|source| WatchError::Watch {
        dir: dir.clone(),
        source,
    })?;
    debouncer
        .watcher()
        .watch(&dir, notify::RecursiveMode::NonRecursive)
        .map_err(|source| WatchError::Watch {
            dir: dir.clone(),
            source,
        })?;
    Ok(ConfigWatcher {
        _debouncer: debouncer,
    })
}

/// Why a reload was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadCause {
    /// The watcher saw the file change.
    FileChanged,
    /// SIGHUP (`systemctl reload`).
    Sighup,
}

impl ReloadCause {
    /// For logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FileChanged => "file changed",
            Self::Sighup => "SIGHUP",
        }
    }
}
