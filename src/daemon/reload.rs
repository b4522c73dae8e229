//! Reloading the config file: read, compare, validate, diff by account.
//!
//! Owns [`diff`] (pure) and [`Reloader`], which holds the last good config
//! and its bytes. Must never: replace the running config with one that failed
//! to parse or validate, or report a change when the file's content did not
//! change.

use std::path::{Path, PathBuf};

use crate::config::{self, Account, Config, Diagnostic};

/// How the accounts of two configs differ, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountDiff {
    /// In the new config only.
    pub added: Vec<String>,
    /// In the old config only.
    pub removed: Vec<String>,
    /// In both, with a different checked config (token *source*, policies, …).
    pub changed: Vec<String>,
    /// In both, identical.
    pub unchanged: Vec<String>,
}

impl AccountDiff {
    /// True when nothing was added, removed or changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// One summary line: `2 added (a, b), 1 changed (c), 0 removed, 3 unchanged`.
    pub fn summary(&self) -> String {
        fn part(n: &[String], what: &str) -> String {
            if n.is_empty() {
                format!("0 {what}")
            } else {
                format!("{} {what} ({})", n.len(), n.join(", "))
            }
        }
        format!(
            "{}, {}, {}, {} unchanged",
            part(&self.added, "added"),
            part(&self.changed, "changed"),
            part(&self.removed, "removed"),
            self.unchanged.len()
        )
    }
}

/// Compare two account lists by name. Order within each list follows the
/// new file (added, changed, unchanged) or the old file (removed).
pub fn diff(old: &[Account], new: &[Account]) -> AccountDiff {
    let mut out = AccountDiff::default();
    for n in new {
        match old.iter().find(|o| o.name == n.name) {
            None => out.added.push(n.name.clone()),
            Some(o) if o == n => out.unchanged.push(n.name.clone()),
            Some(_) => out.changed.push(n.name.clone()),
        }
    }
    for o in old {
        if !new.iter().any(|n| n.name == o.name) {
            out.removed.push(o.name.clone());
        }
    }
    out
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq)]
pub enum ReloadOutcome {
    /// The file's bytes are the same as the running config's: nothing to do.
    Unchanged,
    /// The file could not be read or is invalid; the old config keeps running.
    Rejected(Vec<String>),
    /// The new config is in force.
    Applied {
        /// How the accounts changed.
        diff: AccountDiff,
        /// Warnings from validation.
        warnings: Vec<Diagnostic>,
    },
}

/// Holds the last good config and the bytes it came from.
#[derive(Debug)]
pub struct Reloader {
    path: PathBuf,
    bytes: Vec<u8>,
    current: Config,
}

impl Reloader {
    /// Start from a config that has already been loaded from `bytes`.
    pub fn new(path: &Path, bytes: Vec<u8>, current: Config) -> Self {
        Self {
            path: path.to_path_buf(),
            bytes,
            current,
        }
    }

    /// The config in force.
    pub fn current(&self) -> &Config {
        &self.current
    }

    /// The bytes of the config in force.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The text of the config in force (it passed as UTF-8 to be in force).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// Re-read the file and apply it if it is valid and different.
    pub fn reload(&mut self) -> ReloadOutcome {
        let read = read_and_parse(&self.path, &self.bytes);
        self.apply(read)
    }

    /// [`Reloader::reload`] with the reading and parsing on a blocking
    /// thread, so that they never hold up the runtime's worker threads.
    pub async fn reload_off_runtime(&mut self) -> ReloadOutcome {
        let path = self.path.clone();
        let old = self.bytes.clone();
        match tokio::task::spawn_blocking(move || read_and_parse(&path, &old)).await {
            Ok(read) => self.apply(read),
            Err(e) => ReloadOutcome::Rejected(vec![format!(
                "cannot reload config file {}: the reading task failed: {e}",
                self.path.display()
            )]),
        }
    }

    fn apply(&mut self, read: Read) -> ReloadOutcome {
        match read {
            Read::Unchanged => ReloadOutcome::Unchanged,
            Read::Rejected(errors) => ReloadOutcome::Rejected(errors),
            Read::Loaded(bytes, loaded) => {
                let diff = diff(&self.current.accounts, &loaded.config.accounts);
                self.bytes = bytes;
                self.current = loaded.config;
                ReloadOutcome::Applied {
                    diff,
                    warnings: loaded.warnings,
                }
            }
        }
    }
}

/// What reading the file found, before it is applied.
enum Read {
    Unchanged,
    Rejected(Vec<String>),
    Loaded(Vec<u8>, Box<config::Loaded>),
}

/// Read the file within the config module's bounds and check it, unless
/// its bytes are `old`'s.
fn read_and_parse(path: &Path, old: &[u8]) -> Read {
    let bytes = match config::read(path) {
        Ok(b) => b,
        Err(e) => return Read::Rejected(vec![e.to_string()]),
    };
    if bytes == old {
        return Read::Unchanged;
    }
    match config::parse_bytes(&bytes, path) {
        Ok(loaded) => Read::Loaded(bytes, Box::new(loaded)),
        Err(config::ConfigError::Invalid { errors, .. }) => {
            Read::Rejected(errors.iter().map(ToString::to_string).collect())
        }
        Err(e) => Read::Rejected(vec![e.to_string()]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ProviderKind, TokenSource};

    fn account(name: &str, token_env: &str) -> Account {
        Account {
            name: name.to_string(),
            provider: ProviderKind::Hetzner,
            token: TokenSource::Env(token_env.to_string()),
            api_url: ProviderKind::Hetzner.default_api_url().to_string(),
            policies: Vec::new(),
            prune_orphans: false,
            retired_policies: Vec::new(),
            reload_grace: crate::config::DEFAULT_RELOAD_GRACE,
        }
    }

    #[test]
    fn diff_cases() {
        let a = account("a", "A");
        let a2 = account("a", "A2");
        let b = account("b", "B");
        let c = account("c", "C");
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // (old, new, added, removed, changed, unchanged)
        type Case<'a> = (
            Vec<Account>,
            Vec<Account>,
            Vec<&'a str>,
            Vec<&'a str>,
            Vec<&'a str>,
            Vec<&'a str>,
        );
        let cases: Vec<Case> = vec![
            (vec![], vec![a.clone()], vec!["a"], vec![], vec![], vec![]),
            (vec![a.clone()], vec![], vec![], vec!["a"], vec![], vec![]),
            (
                vec![a.clone()],
                vec![a.clone()],
                vec![],
                vec![],
                vec![],
                vec!["a"],
            ),
            (
                vec![a.clone()],
                vec![a2.clone()],
                vec![],
                vec![],
                vec!["a"],
                vec![],
            ),
            (
                vec![a.clone(), b.clone()],
                vec![b.clone(), c.clone(), a2.clone()],
                vec!["c"],
                vec![],
                vec!["a"],
                vec!["b"],
            ),
            (
                vec![a.clone(), b.clone()],
                vec![b.clone()],
                vec![],
                vec!["a"],
                vec![],
                vec!["b"],
            ),
        ];
        for (i, (old, new, added, removed, changed, unchanged)) in cases.into_iter().enumerate() {
            let d = diff(&old, &new);
            assert_eq!(d.added, names(&added), "case {i} added");
            assert_eq!(d.removed, names(&removed), "case {i} removed");
            assert_eq!(d.changed, names(&changed), "case {i} changed");
            assert_eq!(d.unchanged, names(&unchanged), "case {i} unchanged");
        }
    }

    #[test]
    fn summary_names_what_changed() {
        let d = AccountDiff {
            added: vec!["new".into()],
            removed: vec![],
            changed: vec!["x".into(), "y".into()],
            unchanged: vec!["z".into()],
        };
        assert_eq!(
            d.summary(),
            "1 added (new), 2 changed (x, y), 0 removed, 1 unchanged"
        );
        assert!(!d.is_empty());
        assert!(AccountDiff::default().is_empty());
    }
}
