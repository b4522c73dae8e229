//! The daemon's one monitoring hook: what the supervisor and the account
//! loops tell after each cycle and reload goes here, and from here to the
//! metrics, the notifications and the `STATUS=` line.
//!
//! Owns [`Monitor`]: the latest [`ResourceHealth`] per account, the
//! notification [`Book`](crate::notify::Book) and sender, and the start of
//! the metrics server and the webhook task. The daemon calls it in a few
//! places only (start, after an account cycle, on reload, when an account
//! is removed, when it builds `STATUS=`), so that its own code stays about
//! supervising.
//!
//! Must never: block an account loop (every call takes a short lock and
//! returns; webhooks go through a channel), or change what the engine does.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::config::{Account, Config, Webhook};
use crate::daemon::ReloadOutcome;
use crate::engine::{CycleReport, WorkKey};
use crate::health::{self, ResourceHealth};
use crate::metrics::{self, Metrics, MetricsError};
use crate::notify::{self, Book, NotifyOptions};
use crate::policy::freshness::Level;
use crate::provider::http::RequestObserver;

/// The monitoring hub. Share it as `Arc<Monitor>`.
#[derive(Debug, Default)]
pub struct Monitor {
    /// The metrics registry (also the HTTP request observer).
    pub metrics: Arc<Metrics>,
    /// Delivery knobs for webhooks (tests shorten them).
    pub notify_options: NotifyOptions,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    health: BTreeMap<String, Vec<ResourceHealth>>,
    book: Book,
    webhooks: Vec<Webhook>,
    sender: Option<notify::Sender>,
    sender_stop: Option<CancellationToken>,
    root: Option<CancellationToken>,
}

impl Monitor {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Start what `config` asks for: the metrics server on `metrics.listen`
    /// and the webhook task for `notify.webhooks`. Both stop with `cancel`.
    /// Returns the address metrics are served on, if they are.
    ///
    /// # Errors
    /// [`MetricsError`] when the metrics address cannot be bound.
    pub async fn start(
        self: &Arc<Self>,
        config: &Config,
        cancel: &CancellationToken,
        now: DateTime<Utc>,
    ) -> Result<Option<SocketAddr>, MetricsError> {
        self.metrics.observe_start(now);
        self.inner().root = Some(cancel.clone());
        self.set_webhooks(&config.notify.webhooks);
        let Some(m) = &config.metrics else {
            return Ok(None);
        };
        let bound = metrics::serve(self.metrics.clone(), m.listen, cancel.child_token()).await?;
        tracing::info!(listen = %bound, "metrics served at /metrics");
        Ok(Some(bound))
    }

    /// What the HTTP clients report to (see `ClientOptions::observer`).
    pub fn request_observer(&self) -> Arc<dyn RequestObserver> {
        self.metrics.clone()
    }

    /// (Re)start the webhook task when the list changed.
    fn set_webhooks(&self, hooks: &[Webhook]) {
        let mut inner = self.inner();
        if inner.webhooks == hooks && (inner.sender.is_some() || hooks.is_empty()) {
            return;
        }
        if let Some(stop) = inner.sender_stop.take() {
            stop.cancel();
        }
        inner.sender = None;
        inner.webhooks = hooks.to_vec();
        if hooks.is_empty() {
            return;
        }
        let stop = inner
            .root
            .as_ref()
            .map_or_else(CancellationToken::new, CancellationToken::child_token);
        match notify::spawn(hooks.to_vec(), self.notify_options.clone(), stop.clone()) {
            Ok(s) => {
                inner.sender = Some(s);
                inner.sender_stop = Some(stop);
            }
            Err(e) => tracing::error!(error = %e, "notifications are off"),
        }
    }

    /// An account cycle (a pass, once the snapshots it started have
    /// settled) ended with `report`. `followed` are the (policy, resource)
    /// pairs whose snapshot is still being followed: a pass leaves them out,
    /// so they keep their last values instead of counting as gone.
    pub fn observe_cycle(
        &self,
        account: &Account,
        report: &CycleReport,
        followed: &[WorkKey],
        now: DateTime<Utc>,
    ) {
        let health = health::from_report(account, report, now);
        self.metrics.observe_cycle(report, &health, followed, now);
        let mut inner = self.inner();
        let events = inner.book.update(&health, now);
        if let Some(sender) = &inner.sender {
            for e in events {
                sender.send(e);
            }
        }
        // Keep what a failed listing could not see from the last cycle.
        if report.errors.is_empty() && report.skipped_policies.is_empty() {
            let kept: Vec<ResourceHealth> = inner
                .health
                .remove(&account.name)
                .unwrap_or_default()
                .into_iter()
                .filter(|o| {
                    followed.contains(&(o.policy.clone(), o.resource_id.clone()))
                        && !health
                            .iter()
                            .any(|h| h.policy == o.policy && h.resource_id == o.resource_id)
                })
                .collect();
            let mut all = health;
            all.extend(kept);
            inner.health.insert(account.name.clone(), all);
        } else {
            let entry = inner.health.entry(account.name.clone()).or_default();
            for h in health {
                match entry
                    .iter_mut()
                    .find(|o| o.policy == h.policy && o.resource_id == h.resource_id)
                {
                    Some(o) => *o = h,
                    None => entry.push(h),
                }
            }
        }
    }

    /// A reload happened; `current` is the config in force after it.
    pub fn observe_reload(&self, outcome: &ReloadOutcome, current: &Config, now: DateTime<Utc>) {
        match outcome {
            ReloadOutcome::Unchanged => self.metrics.observe_reload(true, 0, now),
            ReloadOutcome::Rejected(errors) => {
                self.metrics.observe_reload(false, errors.len(), now);
            }
            ReloadOutcome::Applied { .. } => {
                self.metrics.observe_reload(true, 0, now);
                self.set_webhooks(&current.notify.webhooks);
            }
        }
    }

    /// An account was removed from the config.
    pub fn forget_account(&self, name: &str) {
        self.metrics.forget_account(name);
        let mut inner = self.inner();
        inner.health.remove(name);
        inner.book.forget(name);
    }

    /// The health part of `STATUS=`: `2 resources failing: do-main/web-1
    /// auth, vu-a/app-1 quota; 1 CRIT, 1 WARN`; `None` when all is well.
    pub fn status_line(&self) -> Option<String> {
        let inner = self.inner();
        let all: Vec<&ResourceHealth> = inner.health.values().flatten().collect();
        let failing: Vec<&&ResourceHealth> = all.iter().filter(|h| h.failing.is_some()).collect();
        let count = |l: Level| all.iter().filter(|h| h.level() == l).count();
        let (crit, warn) = (count(Level::Crit), count(Level::Warn));
        let mut parts = Vec::new();
        if !failing.is_empty() {
            let mut names: Vec<String> = failing
                .iter()
                .take(3)
                .map(|h| {
                    format!(
                        "{} {}",
                        h.label(),
                        h.failing.map(|r| r.as_str()).unwrap_or_default()
                    )
                })
                .collect();
            if failing.len() > 3 {
                names.push(format!("and {} more", failing.len() - 3));
            }
            parts.push(format!(
                "{} failing: {}",
                plural(failing.len(), "resource"),
                names.join(", ")
            ));
        }
        let mut levels = Vec::new();
        if crit > 0 {
            levels.push(format!("{crit} CRIT"));
        }
        if warn > 0 {
            levels.push(format!("{warn} WARN"));
        }
        if !levels.is_empty() {
            parts.push(levels.join(", "));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
