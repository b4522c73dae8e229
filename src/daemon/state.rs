//! Reload grace periods that outlive a process: the one piece of local state.
//!
//! Owns the rule that turns a config change into grace periods
//! ([`transition`]), and the small file in the state directory
//! (`$STATE_DIRECTORY`, systemd's `StateDirectory=`) that keeps them: the
//! config text the daemon last applied, and per account the time its held
//! deletions may happen and the config text its baseline comes from. With
//! it, a restart inside a grace period keeps the held deletions held, a file
//! edited while the daemon was stopped is compared with what ran before, and
//! `plan` or `run --once` in another process hold what the daemon holds.
//!
//! Must never: hold anything about snapshots (the provider is the source of
//! truth), hold a token (config text names token sources only), or stop the
//! daemon because the file cannot be read or written (it says so and goes on
//! without it).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{self, Account};
use crate::engine::Grace;

/// The state file's name inside the state directory.
pub const FILE_NAME: &str = "reload-grace.json";
const VERSION: u32 = 1;

/// A running grace period, with the config text its baseline was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    /// What the engine needs.
    pub grace: Grace,
    /// The whole config text the baseline account came from; `None` when
    /// the baseline is "nothing" (an account that a change added).
    pub source: Option<Arc<str>>,
}

/// Grace periods by account name: accounts in the file, and accounts a
/// change removed (so one that comes back is compared with what ran before).
pub type Graces = BTreeMap<String, Held>;

/// What the state directory says.
#[derive(Debug, Clone)]
pub struct Saved {
    /// The accounts of the config the daemon last applied.
    pub applied: Vec<Account>,
    /// That config's text.
    pub applied_text: Arc<str>,
    /// The grace periods that were running.
    pub graces: Graces,
}

/// Reading or writing the state file failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file exists but cannot be read.
    #[error("cannot read daemon state {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds something else than state this version wrote.
    #[error("daemon state {path} cannot be used: {why}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The file cannot be written.
    #[error("cannot write daemon state {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct File {
    version: u32,
    applied: String,
    graces: BTreeMap<String, Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    until: DateTime<Utc>,
    baseline: Option<String>,
}

fn grace_of(account: &Account) -> chrono::Duration {
    chrono::Duration::from_std(account.reload_grace).unwrap_or(chrono::Duration::MAX)
}

/// The grace periods after the accounts of `prev` (read from `prev_text`)
/// became those of `next` at `now`, given the ones `running` then.
///
/// - A changed account waits `reload_grace` from now. Inside a running grace
///   period the baseline stays the settings from before it began (two quick
///   edits cannot skip the wait); a change back to those settings ends it.
/// - An added account waits too, compared with nothing (or, when a change
///   removed it moments ago, with what it ran then).
/// - A removed account keeps a grace period of its own for a re-add.
/// - An unchanged account keeps what it had; `reload_grace: 0` turns it off.
pub fn transition(
    prev: &[Account],
    prev_text: &Arc<str>,
    running: &Graces,
    next: &[Account],
    now: DateTime<Utc>,
) -> Graces {
    let active = |name: &str| running.get(name).filter(|h| now < h.grace.until);
    let mut out = Graces::new();
    for new in next {
        let name = new.name.as_str();
        let old = prev.iter().find(|a| a.name == name);
        if old == Some(new) {
            if let Some(h) = active(name) {
                out.insert(name.to_string(), h.clone());
            }
            continue;
        }
        if new.reload_grace.is_zero() {
            continue;
        }
        let (baseline, source) = match (active(name), old) {
            (Some(h), _) => (h.grace.baseline.clone(), h.source.clone()),
            (None, Some(old)) => (Some(old.clone()), Some(prev_text.clone())),
            (None, None) => (None, None),
        };
        if baseline.as_ref() == Some(new) {
            continue;
        }
        out.insert(
            name.to_string(),
            Held {
                grace: Grace {
                    until: now + grace_of(new),
                    baseline,
                },
                source,
            },
        );
    }
    for old in prev
        .iter()
        .filter(|o| !next.iter().any(|n| n.name == o.name))
    {
        let held = match active(&old.name) {
            Some(h) => h.clone(),
            None if old.reload_grace.is_zero() => continue,
            None => Held {
                grace: Grace {
                    until: now + grace_of(old),
                    baseline: Some(old.clone()),
                },
                source: Some(prev_text.clone()),
            },
        };
        out.insert(old.name.clone(), held);
    }
    out
}

/// The state directory of this process: `--state-dir`, else systemd's
/// `$STATE_DIRECTORY` (its first entry).
pub fn dir_from_env(flag: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = flag {
        return Some(p.to_path_buf());
    }
    let env = std::env::var_os("STATE_DIRECTORY")?;
    let first = env.to_string_lossy().split(':').next()?.to_string();
    (!first.is_empty()).then(|| PathBuf::from(first))
}

/// The state directory an operator command reads: as for the daemon, else
/// the one the shipped unit uses.
pub fn dir_for_reading(flag: Option<&Path>) -> PathBuf {
    dir_from_env(flag).unwrap_or_else(|| PathBuf::from(DEFAULT_DIR))
}

/// The shipped unit's `StateDirectory=snapkeeper`.
pub const DEFAULT_DIR: &str = "/var/lib/snapkeeper";

/// Read the state directory's file; `Ok(None)` when there is none.
///
/// # Errors
/// [`StateError`] when the file exists but cannot be read or used.
pub fn load(dir: &Path) -> Result<Option<Saved>, StateError> {
    let path = dir.join(FILE_NAME);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StateError::Read { path, source }),
    };
    let corrupt = |why: String| StateError::Corrupt {
        path: path.clone(),
        why,
    };
    let file: File = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
    if file.version != VERSION {
        return Err(corrupt(format!(
            "version {} (this snapkeeper writes {VERSION})",
            file.version
        )));
    }
    let applied = accounts_of(&file.applied, &path)
        .ok_or_else(|| corrupt("its applied config no longer passes the checks".into()))?;
    let applied_text: Arc<str> = Arc::from(file.applied.as_str());
    let mut graces = Graces::new();
    for (name, entry) in file.graces {
        let source = entry.baseline.map(|t| {
            if *t == *applied_text {
                applied_text.clone()
            } else {
                Arc::from(t.as_str())
            }
        });
        // A baseline that no longer parses deletes nothing: every deletion
        // waits for the end of the grace period (the safe side).
        let baseline = source
            .as_deref()
            .and_then(|t| accounts_of(t, &path))
            .and_then(|accounts| accounts.into_iter().find(|a| a.name == name));
        graces.insert(
            name,
            Held {
                grace: Grace {
                    until: entry.until,
                    baseline,
                },
                source,
            },
        );
    }
    Ok(Some(Saved {
        applied,
        applied_text,
        graces,
    }))
}

fn accounts_of(text: &str, path: &Path) -> Option<Vec<Account>> {
    config::parse_str(text, path)
        .ok()
        .map(|l| l.config.accounts)
}

/// Write the state: the config text now applied and the grace periods
/// still running at `now`. Written to a temporary file, then renamed, so a
/// crash leaves the old file or the new one, never half of one.
///
/// # Errors
/// [`StateError::Write`] when the directory cannot be written.
pub fn save(
    dir: &Path,
    applied_text: &str,
    graces: &Graces,
    now: DateTime<Utc>,
) -> Result<(), StateError> {
    let path = dir.join(FILE_NAME);
    let file = File {
        version: VERSION,
        applied: applied_text.to_string(),
        graces: graces
            .iter()
            .filter(|(_, h)| now < h.grace.until)
            .map(|(name, h)| {
                (
                    name.clone(),
                    Entry {
                        until: h.grace.until,
                        baseline: h.source.as_deref().map(str::to_string),
                    },
                )
            })
            .collect(),
    };
    let write_err = |source| StateError::Write {
        path: path.clone(),
        source,
    };
    let body = serde_json::to_vec_pretty(&file)
        .map_err(|e| write_err(std::io::Error::other(e.to_string())))?;
    let tmp = dir.join(format!(".{FILE_NAME}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(write_err)?;
    // Like the config file: the service user writes it, its group reads it.
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o640))
            .map_err(write_err)?;
    }
    f.write_all(&body).map_err(write_err)?;
    f.sync_all().map_err(write_err)?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(write_err)
}

/// The grace periods another process (`plan`, `run --once`, `prune`) must
/// honour at `now` for the accounts in `current`: those the daemon runs,
/// plus those a reload of `current` would start. No state: none.
pub fn graces_for(saved: Option<&Saved>, current: &[Account], now: DateTime<Utc>) -> Graces {
    match saved {
        None => Graces::new(),
        Some(s) => transition(&s.applied, &s.applied_text, &s.graces, current, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_RELOAD_GRACE, ProviderKind, TokenSource};

    fn account(name: &str, keep_note: &str, grace: std::time::Duration) -> Account {
        Account {
            name: name.into(),
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
    fn transition_cases() {
        let t = |m: i64| DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::minutes(m);
        let g = DEFAULT_RELOAD_GRACE;
        let (a, b, c) = (
            account("x", "A", g),
            account("x", "B", g),
            account("x", "C", g),
        );
        let text: Arc<str> = Arc::from("old text");
        let running = |until: i64, base: Option<&Account>| {
            let mut m = Graces::new();
            m.insert(
                "x".to_string(),
                Held {
                    grace: Grace {
                        until: t(until),
                        baseline: base.cloned(),
                    },
                    source: base.map(|_| Arc::from("first text")),
                },
            );
            m
        };
        // (running, prev, next, now, want: (until, baseline) for account x)
        let cases: Vec<(
            Graces,
            Vec<Account>,
            Vec<Account>,
            i64,
            Option<(i64, Option<&Account>)>,
        )> = vec![
            // A first change: compared with the old settings for 15 min.
            (
                Graces::new(),
                vec![a.clone()],
                vec![b.clone()],
                0,
                Some((15, Some(&a))),
            ),
            // A second change inside the grace: the wait starts again, still
            // against the settings that were deleting before the first.
            (
                running(15, Some(&a)),
                vec![b.clone()],
                vec![c.clone()],
                5,
                Some((20, Some(&a))),
            ),
            // After the grace ended, the running settings are the baseline.
            (
                running(15, Some(&a)),
                vec![b.clone()],
                vec![c.clone()],
                30,
                Some((45, Some(&b))),
            ),
            // Back to the settings of before: nothing is newly due.
            (
                running(15, Some(&a)),
                vec![b.clone()],
                vec![a.clone()],
                5,
                None,
            ),
            // reload_grace: 0 turns the hold off.
            (
                Graces::new(),
                vec![a.clone()],
                vec![account("x", "B", std::time::Duration::ZERO)],
                0,
                None,
            ),
            // Unchanged: a running grace goes on as it was.
            (
                running(15, Some(&a)),
                vec![b.clone()],
                vec![b.clone()],
                5,
                Some((15, Some(&a))),
            ),
            // Unchanged and nothing running: nothing.
            (Graces::new(), vec![a.clone()], vec![a.clone()], 5, None),
            // Added: compared with nothing.
            (Graces::new(), vec![], vec![a.clone()], 0, Some((15, None))),
            // Removed: remembered, so that a re-add compares with it.
            (
                Graces::new(),
                vec![a.clone()],
                vec![],
                0,
                Some((15, Some(&a))),
            ),
            // Re-added inside the removal's grace, changed: against the old.
            (
                running(15, Some(&a)),
                vec![],
                vec![b.clone()],
                5,
                Some((20, Some(&a))),
            ),
            // Re-added unchanged: nothing newly due.
            (running(15, Some(&a)), vec![], vec![a.clone()], 5, None),
        ];
        for (i, (run, prev, next, now, want)) in cases.into_iter().enumerate() {
            let got = transition(&prev, &text, &run, &next, t(now));
            let got = got
                .get("x")
                .map(|h| (h.grace.until, h.grace.baseline.clone()));
            let want = want.map(|(until, base)| (t(until), base.cloned()));
            assert_eq!(got, want, "case {i}");
        }
    }

    #[test]
    fn a_saved_state_reads_back_and_a_baseline_that_no_longer_parses_holds_everything() {
        let dir = tempfile::tempdir().unwrap();
        let text = "accounts:\n  - name: x\n    provider: hetzner\n    token: { env: T }\n    policies:\n      - name: p\n        targets: { kind: server, all: true }\n        every: 6h\n        keep: { last: 3 }\n";
        let loaded = config::parse_str(text, Path::new("t.yaml")).unwrap();
        let applied = loaded.config.accounts;
        let now = Utc::now();
        let mut graces = Graces::new();
        let source: Arc<str> = Arc::from(text);
        graces.insert(
            "x".into(),
            Held {
                grace: Grace {
                    until: now + chrono::Duration::minutes(10),
                    baseline: Some(applied[0].clone()),
                },
                source: Some(source.clone()),
            },
        );
        graces.insert(
            "gone".into(),
            Held {
                grace: Grace {
                    until: now - chrono::Duration::minutes(1),
                    baseline: None,
                },
                source: None,
            },
        );
        save(dir.path(), text, &graces, now).unwrap();
        let back = load(dir.path()).unwrap().unwrap();
        assert_eq!(back.applied, applied);
        assert_eq!(back.graces.len(), 1, "ended graces are not saved");
        assert_eq!(back.graces["x"], graces["x"]);

        // A baseline text that no longer parses: the grace holds, with
        // nothing allowed.
        let raw = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&raw).unwrap();
        v["graces"]["x"]["baseline"] = serde_json::Value::String("accounts: [".into());
        std::fs::write(dir.path().join(FILE_NAME), v.to_string()).unwrap();
        let back = load(dir.path()).unwrap().unwrap();
        assert_eq!(back.graces["x"].grace.baseline, None);
        assert_eq!(back.graces["x"].grace.until, graces["x"].grace.until);

        // Garbage is an error that names the file, never a panic.
        std::fs::write(dir.path().join(FILE_NAME), "{not json").unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains(FILE_NAME), "{e}");
        // No file: no state.
        let empty = tempfile::tempdir().unwrap();
        assert!(load(empty.path()).unwrap().is_none());
    }
}
