//! `snapkeeper check --online`: one cheap authenticated read per account, to
//! tell an operator before the daemon runs whether each token works.
//!
//! Owns the probe (read the token, build the account's client, list the
//! resources of the account's first policy kind once) and how its result is
//! printed: `token works` with the count seen, or the exact failure (token
//! missing, 401, 403, unreachable with the URL, any other status).
//!
//! Must never: write to a provider (no create, delete, tag, or a write sent
//! only to see whether it is refused), print a token, or retry for long: a
//! person is waiting at a shell.

use std::time::Duration;

use crate::config::{Account, Config, ProviderKind, TargetKind};
use crate::exit;
use crate::provider::{self, ClientOptions, ErrorKind, RetryPolicy};

/// What a probe found out about one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The token was accepted for a read.
    Works {
        /// The kind that was listed.
        kind: TargetKind,
        /// How many resources of that kind the token can see.
        visible: usize,
    },
    /// The token could not be read from its source (no request was sent).
    NoToken(String),
    /// The provider (or the network) refused the read.
    Failed {
        /// 401, 403, unreachable, or other.
        reason: Failure,
        /// The full error text (never the token).
        message: String,
    },
}

/// Why an online probe failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 401: the token is wrong, expired or revoked.
    Unauthorized,
    /// 403: the token may not read this kind.
    Forbidden,
    /// No answer: connection refused, DNS, TLS or time-out.
    Unreachable,
    /// Any other answer (5xx after retries, 429, bad JSON …).
    Other,
}

/// One account's probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The account name.
    pub account: String,
    /// Its provider.
    pub provider: ProviderKind,
    /// The API base URL that was asked.
    pub url: String,
    /// The result.
    pub outcome: Outcome,
}

impl Probe {
    /// The line `check --online` prints for this account.
    pub fn line(&self) -> String {
        let head = format!("account {} ({}, {})", self.account, self.provider, self.url);
        match &self.outcome {
            Outcome::Works { kind, visible } => format!(
                "{head}: token works ({visible} {kind}(s) visible); read-only or read-write: {}",
                access_note(self.provider)
            ),
            Outcome::NoToken(why) => format!("{head}: no request sent: {why}"),
            Outcome::Failed { reason, message } => {
                let what = match reason {
                    Failure::Unauthorized => "401 unauthorized, the token is wrong or revoked",
                    Failure::Forbidden => "403 forbidden, the token may not read this account",
                    Failure::Unreachable => "unreachable",
                    Failure::Other => "failed",
                };
                format!("{head}: {what}: {message}")
            }
        }
    }

    /// True when the token works.
    pub fn ok(&self) -> bool {
        matches!(self.outcome, Outcome::Works { .. })
    }
}

/// Why the access level is not reported: none of the three providers
/// answers "what may this token do" to a read, and the probe never writes.
pub fn access_note(provider: ProviderKind) -> &'static str {
    match provider {
        ProviderKind::DigitalOcean => {
            "unknown (DigitalOcean shows a token's scopes only by refusing a write with 403)"
        }
        ProviderKind::Vultr => "unknown (a Vultr key has its user's rights; no read shows them)",
        ProviderKind::Hetzner => {
            "unknown (Hetzner shows a Read token only by refusing a write with token_readonly)"
        }
    }
}

/// The kind a probe lists: the account's first policy's, else the provider's
/// main kind.
fn probe_kind(account: &Account) -> TargetKind {
    account
        .policies
        .first()
        .map(|p| p.targets.kind)
        .unwrap_or(match account.provider {
            ProviderKind::DigitalOcean => TargetKind::Droplet,
            ProviderKind::Vultr => TargetKind::Instance,
            ProviderKind::Hetzner => TargetKind::Server,
        })
}

/// Client options for a probe: `base` with at most two attempts and short
/// time-outs, so an unreachable URL is reported in seconds.
pub fn probe_options(base: &ClientOptions) -> ClientOptions {
    ClientOptions {
        connect_timeout: base.connect_timeout.min(Duration::from_secs(5)),
        request_timeout: base.request_timeout.min(Duration::from_secs(20)),
        retry: RetryPolicy {
            max_attempts: base.retry.max_attempts.min(2),
            max_total_delay: base.retry.max_total_delay.min(Duration::from_secs(5)),
            ..base.retry.clone()
        },
        ..base.clone()
    }
}

/// Probe one account: read its token, then one listing.
pub async fn probe(account: &Account, options: &ClientOptions) -> Probe {
    let outcome = match account.token.read() {
        Err(e) => Outcome::NoToken(e.to_string()),
        Ok(token) => match provider::connect_with(account, token, options) {
            Err(e) => failed(&e),
            Ok(client) => {
                let kind = probe_kind(account);
                match client.list_resources(kind).await {
                    Ok(list) => Outcome::Works {
                        kind,
                        visible: list.len(),
                    },
                    Err(e) => failed(&e),
                }
            }
        },
    };
    Probe {
        account: account.name.clone(),
        provider: account.provider,
        url: account.api_url.clone(),
        outcome,
    }
}

fn failed(e: &provider::Error) -> Outcome {
    let reason = match e.kind {
        ErrorKind::Unauthorized => Failure::Unauthorized,
        ErrorKind::Forbidden => Failure::Forbidden,
        ErrorKind::Transport => Failure::Unreachable,
        _ => Failure::Other,
    };
    Outcome::Failed {
        reason,
        message: e.to_string(),
    }
}

/// Probe every account in file order, print one line each to stdout, and
/// return the exit code: 0 every token works, 1 some do, 2 none does.
pub async fn check_online(config: &Config, options: &ClientOptions) -> u8 {
    let options = probe_options(options);
    let mut working = 0;
    for account in &config.accounts {
        let probe = probe(account, &options).await;
        println!("{}", probe.line());
        working += usize::from(probe.ok());
    }
    let total = config.accounts.len();
    println!("online: {working} of {total} accounts reachable with a working token");
    if working == total {
        exit::OK
    } else if working > 0 {
        exit::PARTIAL
    } else {
        exit::NOTHING_DONE
    }
}
