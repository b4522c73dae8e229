//! `snapkeeper check`: validate the configuration file and print every
//! problem found; with `--resolve-secrets` read each token, with `--online`
//! also make one read per account (see [`super::online`]).
//!
//! Owns the check's output ("ok: N accounts, M policies", each error with its
//! file:line:column) and its exit code (0, or 78 for a config problem).
//!
//! Must never: print a token, or write to a provider.

use std::path::Path;

use super::text;
use crate::config;
use crate::exit;
use crate::provider::ClientOptions;

/// `snapkeeper check`. Runs inside the async runtime: `--online` needs it.
pub async fn check(path: &Path, resolve_secrets: bool, online: bool) -> u8 {
    let loaded = match config::load(path) {
        Ok(loaded) => loaded,
        Err(config::ConfigError::Invalid { errors, .. }) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            eprintln!(
                "{}: {} found, nothing changed",
                path.display(),
                text::count_s(errors.len(), "error")
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
                let at = loaded.token_diagnostic(&account.name, e.to_string());
                eprintln!("error: {at} (account {})", account.name);
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
        "ok: {}, {}",
        text::count_s(loaded.config.accounts.len(), "account"),
        text::count(policies, "policy", "policies")
    );
    if !online {
        return exit::OK;
    }
    super::online::check_online(&loaded.config, &ClientOptions::default()).await
}
