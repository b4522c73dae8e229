//! Watching the config file for changes.
//!
//! Owns the notify watcher: it watches the file's PARENT directory (editors
//! save by rename, which makes a watch on the file itself go deaf), keeps only
//! events that can change the config file's content (by its name), debounces
//! them on a thread of its own, and sends one [`Control::Reload`] per burst,
//! and only once the file's bytes have stayed the same for [`STABLE`]: a file
//! written in steps (a valid prefix, a pause, the rest) is never applied
//! half-written when the pause is shorter than that.
//!
//! The watch follows the config path's symlink chain (a Kubernetes ConfigMap
//! mount swaps a `..data` symlink, never the file's own name): every
//! directory the chain passes through is watched, for the names the chain
//! uses there. [`ConfigWatcher::is_current`] tells the daemon when the
//! chain or a watched directory changed under it (the directory removed and
//! made again, a symlink pointed elsewhere), so it can watch anew; the
//! daemon also compares the file's bytes once a minute, a safety net that
//! costs one read when nothing changed.
//!
//! Must never: parse the file (the reload path does that), watch
//! recursively, or react to the file merely being opened or read: the reload
//! itself reads the file, and an open counted as a change turns every reload
//! into the cause of the next one (a reload, and with a bad config an error,
//! every debounce interval, forever).

use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc::UnboundedSender;

use super::Control;

/// How long events must be quiet before a reload (editors write in bursts).
pub const DEBOUNCE: Duration = Duration::from_millis(500);

/// After the events went quiet, how long the file's bytes must stay the same
/// (compared by content, and with no further event) before the reload.
pub const STABLE: Duration = Duration::from_secs(2);

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

/// A running watcher; dropping it stops watching (and ends its debounce
/// thread).
pub struct ConfigWatcher {
    _watcher: RecommendedWatcher,
    config: PathBuf,
    /// The chain and the identity of its directories when the watch began.
    marks: Vec<Mark>,
}

/// One link of the chain: a directory (with its device and inode) and the
/// name in it that the path goes through.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mark {
    dir: PathBuf,
    name: std::ffi::OsString,
    id: Option<(u64, u64)>,
}

impl ConfigWatcher {
    /// False when the chain this watch follows is not the config path's
    /// chain any more, or a watched directory is not the one watched (it
    /// was removed, or removed and made again): time to watch anew.
    pub fn is_current(&self) -> bool {
        chain(&self.config) == self.marks
    }
}

fn dir_id(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

/// The directories and names the config path goes through: the file's own
/// directory and name, then, for each symlink on the way (at most 16, like
/// the kernel's limit is about), the first component of its target in the
/// directory it lives in (`..data` of a ConfigMap) and the target itself.
fn chain(config: &Path) -> Vec<Mark> {
    let mut out = Vec::new();
    let mut push = |dir: &Path, name: &std::ffi::OsStr| {
        let m = Mark {
            dir: dir.to_path_buf(),
            name: name.to_owned(),
            id: dir_id(dir),
        };
        if !out.contains(&m) {
            out.push(m);
        }
    };
    let mut path = config.to_path_buf();
    for _ in 0..16 {
        let (dir, name) = split(&path);
        push(&dir, &name);
        let Ok(target) = std::fs::read_link(&path) else {
            break;
        };
        let target = dir.join(target);
        // A relative target's first hop in this directory (`..data/x`).
        if let Ok(rest) = target.strip_prefix(&dir)
            && let Some(std::path::Component::Normal(first)) = rest.components().next()
        {
            push(&dir, first);
            // The hop itself may be a symlink (`..data` -> `..2026_…`).
            let hop = dir.join(first);
            if let Ok(t) = std::fs::read_link(&hop) {
                let resolved = dir.join(t);
                let (d, n) = split(&resolved);
                push(&d, &n);
            }
        }
        path = target;
    }
    out
}

fn split(path: &Path) -> (PathBuf, std::ffi::OsString) {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let name = path.file_name().map(ToOwned::to_owned).unwrap_or_default();
    (dir, name)
}

/// Can an event of this kind change what the file holds? Opening, reading
/// and closing a file opened for reading cannot; everything else (create,
/// write, close after writing, rename, delete, metadata, unknown) might.
pub fn may_change_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Watch `config`'s directory and send [`Control::Reload`] on changes to it.
///
/// # Errors
/// [`WatchError`] when the directory cannot be watched.
pub fn watch(config: &Path, tx: UnboundedSender<Control>) -> Result<ConfigWatcher, WatchError> {
    let config = std::path::absolute(config).unwrap_or_else(|_| config.to_path_buf());
    let marks = chain(&config);
    let wanted: Vec<(PathBuf, std::ffi::OsString)> = marks
        .iter()
        .map(|m| (m.dir.clone(), m.name.clone()))
        .collect();
    let (hits, rx) = std_mpsc::channel::<()>();
    let handler = move |result: notify::Result<notify::Event>| match result {
        Ok(event) => {
            if may_change_content(&event.kind)
                && event.paths.iter().any(|p| {
                    let (d, n) = split(p);
                    wanted.iter().any(|(wd, wn)| *wn == n && *wd == d)
                })
            {
                let _ = hits.send(());
            }
        }
        Err(e) => tracing::warn!(error = %e, "config watcher error"),
    };
    let first_dir = marks
        .first()
        .map(|m| m.dir.clone())
        .unwrap_or_else(|| PathBuf::from("."));
    let mut watcher = notify::recommended_watcher(handler).map_err(|source| WatchError::Watch {
        dir: first_dir.clone(),
        source,
    })?;
    let mut dirs: Vec<&PathBuf> = marks.iter().map(|m| &m.dir).collect();
    dirs.dedup();
    for dir in dirs {
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(|source| WatchError::Watch {
                dir: dir.clone(),
                source,
            })?;
    }
    let path = config.clone();
    std::thread::Builder::new()
        .name("config-watch".into())
        .spawn(move || debounce(&rx, &tx, &path, DEBOUNCE, STABLE))
        .map_err(|e| WatchError::Watch {
            dir: first_dir,
            source: notify::Error::io(e),
        })?;
    Ok(ConfigWatcher {
        _watcher: watcher,
        config,
        marks,
    })
}

/// The once-a-minute safety net: when the file's bytes differ from
/// `applied` and then stay the same for [`STABLE`], ask for a reload.
/// Blocking (two reads and a sleep): run it off the runtime's workers.
pub fn check_content(path: &Path, applied: &[u8], tx: &UnboundedSender<Control>) {
    let read = || std::fs::read(path).ok();
    let Some(now) = read() else { return };
    if now == applied {
        return;
    }
    std::thread::sleep(STABLE);
    if read().as_deref() == Some(now.as_slice()) {
        let _ = tx.send(Control::Reload(ReloadCause::Periodic));
    }
}

/// One reload per burst: after a hit, wait until `quiet` passes without
/// another, then until the file's bytes have stayed the same for `stable`
/// with no further hit (a writer that pauses mid-file starts the wait
/// again). Ends when the watcher (the sending side) is dropped or the
/// supervisor is gone.
fn debounce(
    rx: &std_mpsc::Receiver<()>,
    tx: &UnboundedSender<Control>,
    path: &Path,
    quiet: Duration,
    stable: Duration,
) {
    // A read error (the file is gone for a moment) compares as "no bytes";
    // the reload itself reports it if it lasts.
    let read = || std::fs::read(path).ok();
    while rx.recv().is_ok() {
        loop {
            match rx.recv_timeout(quiet) {
                Ok(()) => continue,
                Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
            }
            let before = read();
            match rx.recv_timeout(stable) {
                Ok(()) => continue,
                Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
            }
            if read() == before {
                break;
            }
            tracing::debug!("config file still changing: waiting until it is stable");
        }
        if tx.send(Control::Reload(ReloadCause::FileChanged)).is_err() {
            return;
        }
    }
}

/// Why a reload was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadCause {
    /// The watcher saw the file change.
    FileChanged,
    /// SIGHUP (`systemctl reload`).
    Sighup,
    /// The periodic content check found the file changed (an event the
    /// watcher could not see).
    Periodic,
    /// The watch began anew (its directory or symlink chain changed).
    Rewatch,
}

impl ReloadCause {
    /// For logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FileChanged => "file changed",
            Self::Sighup => "SIGHUP",
            Self::Periodic => "periodic content check",
            Self::Rewatch => "watch renewed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, MetadataKind, ModifyKind, RemoveKind, RenameMode};

    #[test]
    fn the_content_check_asks_for_a_reload_only_for_changed_stable_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "new").unwrap();
        // (applied bytes, want a reload)
        for (applied, want) in [(&b"old"[..], true), (&b"new"[..], false)] {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            check_content(&path, applied, &tx);
            let got = rx.try_recv().ok();
            assert_eq!(
                got,
                want.then_some(Control::Reload(ReloadCause::Periodic)),
                "{applied:?}"
            );
        }
        // A missing file asks for nothing (the reload would only fail).
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        check_content(&dir.path().join("gone.yaml"), b"x", &tx);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn the_chain_of_a_configmap_mount_names_the_data_symlink() {
        // <dir>/config.yaml -> ..data/config.yaml, ..data -> ..2026_a
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("..2026_a")).unwrap();
        std::fs::write(d.join("..2026_a/config.yaml"), "a").unwrap();
        std::os::unix::fs::symlink("..2026_a", d.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/config.yaml", d.join("config.yaml")).unwrap();
        let names: Vec<String> = chain(&d.join("config.yaml"))
            .iter()
            .map(|m| m.name.to_string_lossy().into_owned())
            .collect();
        assert!(names.contains(&"config.yaml".to_string()), "{names:?}");
        assert!(names.contains(&"..data".to_string()), "{names:?}");
        // A swap of `..data` changes the chain: the watch is not current.
        let before = chain(&d.join("config.yaml"));
        std::fs::create_dir(d.join("..2026_b")).unwrap();
        std::fs::write(d.join("..2026_b/config.yaml"), "b").unwrap();
        std::os::unix::fs::symlink("..2026_b", d.join("..data_tmp")).unwrap();
        std::fs::rename(d.join("..data_tmp"), d.join("..data")).unwrap();
        assert_ne!(chain(&d.join("config.yaml")), before);
    }

    #[test]
    fn only_events_that_can_change_the_content_count() {
        let cases = [
            (EventKind::Access(AccessKind::Open(AccessMode::Any)), false),
            (EventKind::Access(AccessKind::Open(AccessMode::Read)), false),
            (EventKind::Access(AccessKind::Read), false),
            (
                EventKind::Access(AccessKind::Close(AccessMode::Read)),
                false,
            ),
            (EventKind::Access(AccessKind::Any), false),
            (
                EventKind::Access(AccessKind::Close(AccessMode::Write)),
                true,
            ),
            (EventKind::Create(CreateKind::File), true),
            (EventKind::Modify(ModifyKind::Data(DataChange::Any)), true),
            (EventKind::Modify(ModifyKind::Name(RenameMode::To)), true),
            (
                EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
                true,
            ),
            (EventKind::Remove(RemoveKind::File), true),
            (EventKind::Any, true),
            (EventKind::Other, true),
        ];
        for (kind, want) in cases {
            assert_eq!(may_change_content(&kind), want, "{kind:?}");
        }
    }

    #[test]
    fn a_burst_makes_one_reload_and_a_closed_watcher_ends_the_thread() {
        let (hits, rx) = std_mpsc::channel();
        let (tx, mut out) = tokio::sync::mpsc::unbounded_channel();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        let p = path.clone();
        let ms = Duration::from_millis;
        let t = std::thread::spawn(move || debounce(&rx, &tx, &p, ms(50), ms(50)));
        for _ in 0..5 {
            hits.send(()).unwrap();
        }
        drop(hits);
        t.join().unwrap();
        // The burst was cut short by the close: no reload is owed for it,
        // and nothing else arrived.
        assert!(out.try_recv().is_err());

        let (hits, rx) = std_mpsc::channel();
        let (tx, mut out) = tokio::sync::mpsc::unbounded_channel();
        let p = path.clone();
        let t = std::thread::spawn(move || debounce(&rx, &tx, &p, ms(50), ms(50)));
        for _ in 0..5 {
            hits.send(()).unwrap();
        }
        // Wait for the one reload of the burst, then close.
        let got = loop {
            if let Ok(c) = out.try_recv() {
                break c;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(got, Control::Reload(ReloadCause::FileChanged));
        drop(hits);
        t.join().unwrap();
        assert!(out.try_recv().is_err(), "one burst, one reload");
    }

    #[test]
    fn a_file_that_keeps_changing_without_events_is_not_reloaded_until_stable() {
        // A writer that appends without an event we count (or whose events
        // were already drained): the bytes differ across the stable window,
        // so the reload waits for a window in which they stay the same.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "a").unwrap();
        let (hits, rx) = std_mpsc::channel();
        let (tx, mut out) = tokio::sync::mpsc::unbounded_channel();
        let p = path.clone();
        let ms = Duration::from_millis;
        let t = std::thread::spawn(move || debounce(&rx, &tx, &p, ms(20), ms(300)));
        hits.send(()).unwrap();
        // Keep changing the bytes, with no hit, for about a second.
        for i in 0..10 {
            std::thread::sleep(ms(100));
            std::fs::write(&path, format!("a{i}")).unwrap();
            assert!(
                out.try_recv().is_err(),
                "reloaded while still changing ({i})"
            );
        }
        let got = loop {
            if let Ok(c) = out.try_recv() {
                break c;
            }
            std::thread::sleep(ms(10));
        };
        assert_eq!(got, Control::Reload(ReloadCause::FileChanged));
        drop(hits);
        t.join().unwrap();
    }
}
