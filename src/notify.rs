//! Notifications: webhooks on state changes.
//!
//! Owns the change detection ([`Book`]: a resource turns WARN, CRIT or
//! failing, or recovers; nothing while it stays as it was), the two body
//! formats (`json`: snapkeeper's event; `slack`: `{"text": …}`, which
//! Mattermost, Rocket.Chat and Discord's `/slack` endpoint also take), and
//! delivery ([`spawn`]: a channel and one task, with retries and back-off).
//!
//! Must never: block or slow the engine (events go through a bounded
//! channel with `try_send`; a full channel drops the event with a warning),
//! put a token in a body (bodies are built from names, ids, levels and
//! provider error texts, which never hold one), or log a webhook's full URL
//! (Slack's holds a secret): logs name its host only.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::{Config, Webhook, WebhookFormat};
use crate::exit;
use crate::health::{FailReason, ResourceHealth};
use crate::policy::freshness::Level;

/// How many events may wait for delivery before new ones are dropped.
const QUEUE: usize = 256;

/// What a delivery ran into.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The HTTP client could not be built.
    #[error("cannot set up the webhook client: {0}")]
    Client(String),
    /// Every attempt failed; the last reason.
    #[error("webhook {host}: gave up after {attempts} attempts: {last}")]
    GaveUp {
        /// The webhook's host (never the whole URL).
        host: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
}

/// What kind of message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A resource turned WARN, CRIT or failing (or got worse).
    Problem,
    /// A resource is OK again.
    Recovery,
    /// `snapkeeper notify-test`.
    Test,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Problem, recovery or test.
    pub kind: EventKind,
    /// Account name.
    pub account: String,
    /// Policy name.
    pub policy: String,
    /// Resource id.
    pub resource_id: String,
    /// Resource name.
    pub resource_name: String,
    /// `OK`, `WARN` or `CRIT` now.
    pub level: &'static str,
    /// The level before, when there was one.
    pub previous: Option<&'static str>,
    /// Why the last cycle failed, when it did.
    pub failing: Option<FailReason>,
    /// The reason in words.
    pub reason: String,
    /// When it was seen.
    pub at: DateTime<Utc>,
}

impl Event {
    /// The one-line text of a Slack-style body.
    pub fn text(&self) -> String {
        match self.kind {
            EventKind::Test => format!("snapkeeper: test message ({})", self.reason),
            EventKind::Problem => format!(
                "snapkeeper {}: {}/{} (policy {}): {}",
                self.level, self.account, self.resource_name, self.policy, self.reason
            ),
            EventKind::Recovery => format!(
                "snapkeeper RECOVERED: {}/{} (policy {}) is OK again: {}",
                self.account, self.resource_name, self.policy, self.reason
            ),
        }
    }
}

/// The body for a webhook of `format`.
pub fn body(format: WebhookFormat, e: &Event) -> serde_json::Value {
    match format {
        WebhookFormat::Slack => serde_json::json!({ "text": e.text() }),
        WebhookFormat::Json => serde_json::json!({
            "source": "snapkeeper",
            "version": env!("CARGO_PKG_VERSION"),
            "event": e,
            "text": e.text(),
        }),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cond {
    level: Level,
    failing: Option<FailReason>,
}

impl Cond {
    fn of(h: &ResourceHealth) -> Self {
        Self {
            level: h.level(),
            failing: h.failing,
        }
    }

    fn ok(self) -> bool {
        self.level == Level::Ok && self.failing.is_none()
    }
}

/// The last known condition of every resource: turns health snapshots
/// into state-change events. Pure: no I/O, no clock.
#[derive(Debug, Default)]
pub struct Book {
    states: BTreeMap<(String, String, String), Cond>,
}

impl Book {
    /// The events `health` (one account's resources after a cycle) makes
    /// since the last update. A resource first seen in trouble is a problem;
    /// first seen OK, nothing. Resources missing from `health` keep their
    /// state (a failed listing says nothing about them).
    pub fn update(&mut self, health: &[ResourceHealth], at: DateTime<Utc>) -> Vec<Event> {
        let mut out = Vec::new();
        for h in health {
            let key = (h.account.clone(), h.policy.clone(), h.resource_id.clone());
            let now = Cond::of(h);
            let before = self.states.insert(key, now);
            let kind = match before {
                None if now.ok() => None,
                None => Some(EventKind::Problem),
                Some(b) if b == now => None,
                Some(b) if now.ok() && !b.ok() => Some(EventKind::Recovery),
                // Better but not OK (CRIT -> WARN) is not worth a message;
                // worse, or failing for another reason, is.
                Some(b) if now.level < b.level && now.failing == b.failing => None,
                Some(_) if now.ok() => None,
                Some(_) => Some(EventKind::Problem),
            };
            if let Some(kind) = kind {
                out.push(Event {
                    kind,
                    account: h.account.clone(),
                    policy: h.policy.clone(),
                    resource_id: h.resource_id.clone(),
                    resource_name: h.resource_name.clone(),
                    level: now.level.as_str(),
                    previous: before.map(|b| b.level.as_str()),
                    failing: h.failing,
                    reason: h.reason(),
                    at,
                });
            }
        }
        out
    }

    /// An account went away: forget its resources.
    pub fn forget(&mut self, account: &str) {
        self.states.retain(|(a, _, _), _| a != account);
    }
}

/// Delivery knobs.
#[derive(Debug, Clone)]
pub struct NotifyOptions {
    /// Attempts per message and webhook.
    pub attempts: u32,
    /// Pause after the first failed attempt (doubles each time).
    pub first_delay: Duration,
    /// Time allowed for one request.
    pub timeout: Duration,
}

impl Default for NotifyOptions {
    fn default() -> Self {
        Self {
            attempts: 5,
            first_delay: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
        }
    }
}

/// The engine's end of the channel. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct Sender {
    tx: mpsc::Sender<Event>,
}

impl Sender {
    /// Queue an event; never waits. A full queue drops it, with a warning.
    pub fn send(&self, e: Event) {
        if let Err(e) = self.tx.try_send(e) {
            tracing::warn!(error = %e, "notification dropped: the webhook queue is full or closed");
        }
    }
}

/// Start the delivery task for `webhooks`; it ends when `cancel` fires
/// (events still queued then are dropped: the provider state they describe
/// is looked at again at the next start).
///
/// # Errors
/// [`NotifyError::Client`] when the HTTP client cannot be built.
pub fn spawn(
    webhooks: Vec<Webhook>,
    opts: NotifyOptions,
    cancel: CancellationToken,
) -> Result<Sender, NotifyError> {
    let client = client(&opts)?;
    let (tx, mut rx) = mpsc::channel::<Event>(QUEUE);
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                () = cancel.cancelled() => break,
                e = rx.recv() => match e {
                    Some(e) => e,
                    None => break,
                },
            };
            for hook in &webhooks {
                let sent = tokio::select! {
                    () = cancel.cancelled() => return,
                    r = deliver(&client, hook, &event, &opts) => r,
                };
                match sent {
                    Ok(()) => tracing::info!(
                        webhook = %host_of(&hook.url),
                        account = %event.account,
                        resource = %event.resource_name,
                        level = event.level,
                        "notification sent"
                    ),
                    Err(e) => tracing::warn!(error = %e, "notification not delivered"),
                }
            }
        }
    });
    Ok(Sender { tx })
}

fn client(opts: &NotifyOptions) -> Result<reqwest::Client, NotifyError> {
    reqwest::Client::builder()
        .user_agent(crate::provider::http::USER_AGENT)
        .timeout(opts.timeout)
        .build()
        .map_err(|e| NotifyError::Client(e.without_url().to_string()))
}

/// The host of a URL, for logs (the path may hold a secret).
pub fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_string(),
            })
        })
        .unwrap_or_else(|| "(invalid url)".to_string())
}

/// POST one event to one webhook, retrying failures (transport errors, 429
/// and 5xx) with doubling pauses. Other 4xx answers are final.
///
/// # Errors
/// [`NotifyError::GaveUp`] when no attempt succeeded.
pub async fn deliver(
    client: &reqwest::Client,
    hook: &Webhook,
    event: &Event,
    opts: &NotifyOptions,
) -> Result<(), NotifyError> {
    let payload = body(hook.format, event);
    let attempts = opts.attempts.max(1);
    let mut delay = opts.first_delay;
    let mut last = String::new();
    for attempt in 1..=attempts {
        match client.post(&hook.url).json(&payload).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => {
                let status = r.status().as_u16();
                last = format!("answered {status}");
                if !(status == 429 || status >= 500) {
                    return Err(NotifyError::GaveUp {
                        host: host_of(&hook.url),
                        attempts: attempt,
                        last,
                    });
                }
            }
            Err(e) => last = e.without_url().to_string(),
        }
        if attempt < attempts {
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
    }
    Err(NotifyError::GaveUp {
        host: host_of(&hook.url),
        attempts,
        last,
    })
}

/// `snapkeeper notify-test`: one test message to every webhook, each
/// delivered (with retries) or reported. Exit 0 all sent, 1 some, 2 none
/// (or no webhook configured).
pub async fn test_message(config: &Config, clock: &Clock) -> u8 {
    if config.notify.webhooks.is_empty() {
        eprintln!(
            "error: {}: no webhooks under notify: (add notify: {{ webhooks: [{{ url: ..., format: json }}] }})",
            config.path.display()
        );
        return exit::NOTHING_DONE;
    }
    let opts = NotifyOptions {
        attempts: 3,
        first_delay: Duration::from_secs(1),
        ..NotifyOptions::default()
    };
    let client = match client(&opts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::NOTHING_DONE;
        }
    };
    let host = std::env::var("HOSTNAME").unwrap_or_default();
    let event = Event {
        kind: EventKind::Test,
        account: String::new(),
        policy: String::new(),
        resource_id: String::new(),
        resource_name: String::new(),
        level: Level::Ok.as_str(),
        previous: None,
        failing: None,
        reason: if host.is_empty() {
            "notifications work".to_string()
        } else {
            format!("notifications from {host} work")
        },
        at: clock.now(),
    };
    let (mut ok, mut failed) = (0, 0);
    for hook in &config.notify.webhooks {
        match deliver(&client, hook, &event, &opts).await {
            Ok(()) => {
                println!("sent: {}", host_of(&hook.url));
                ok += 1;
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    match (ok, failed) {
        (_, 0) => exit::OK,
        (0, _) => exit::NOTHING_DONE,
        _ => exit::PARTIAL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TargetKind;
    use crate::policy::freshness::{self, Thresholds};

    fn health(level: Level, failing: Option<FailReason>) -> ResourceHealth {
        let th = Thresholds {
            warn: Duration::from_secs(3600),
            crit: Duration::from_secs(7200),
            basis: String::new(),
        };
        let now = DateTime::<Utc>::UNIX_EPOCH + chrono::TimeDelta::days(20_000);
        let newest = match level {
            Level::Ok => Some(now),
            Level::Warn => Some(now - chrono::TimeDelta::minutes(90)),
            Level::Crit => None,
        };
        ResourceHealth {
            account: "a".into(),
            policy: "p".into(),
            kind: TargetKind::Droplet,
            resource_id: "1".into(),
            resource_name: "web-1".into(),
            newest_complete: newest,
            complete: 1,
            in_progress: 0,
            failed: 0,
            size_bytes: 0.0,
            freshness: freshness::evaluate(&th, newest, now),
            thresholds: th,
            failing,
            failure: failing.map(|_| "the token for account a cannot create".to_string()),
        }
    }

    #[test]
    fn state_changes_table() {
        use EventKind::{Problem, Recovery};
        let auth = Some(FailReason::Auth);
        let busy = Some(FailReason::Busy);
        // (steps of (level, failing), the events expected after each step)
        type Step = (Level, Option<FailReason>);
        type Case<'a> = (&'a str, &'a [Step], &'a [Option<EventKind>]);
        let cases: &[Case<'_>] = &[
            (
                "ok stays quiet",
                &[(Level::Ok, None), (Level::Ok, None)],
                &[None, None],
            ),
            (
                "fail then recover",
                &[
                    (Level::Ok, None),
                    (Level::Ok, auth),
                    (Level::Ok, auth),
                    (Level::Ok, None),
                ],
                &[None, Some(Problem), None, Some(Recovery)],
            ),
            (
                "first seen in trouble",
                &[(Level::Crit, None)],
                &[Some(Problem)],
            ),
            (
                "worse is news, better is not",
                &[
                    (Level::Warn, None),
                    (Level::Crit, None),
                    (Level::Warn, None),
                    (Level::Ok, None),
                ],
                &[Some(Problem), Some(Problem), None, Some(Recovery)],
            ),
            (
                "another failure reason is news",
                &[(Level::Ok, auth), (Level::Ok, busy), (Level::Ok, busy)],
                &[Some(Problem), Some(Problem), None],
            ),
        ];
        for (name, steps, want) in cases {
            let mut book = Book::default();
            for (i, ((level, failing), want)) in steps.iter().zip(want.iter()).enumerate() {
                let events = book.update(&[health(*level, *failing)], DateTime::<Utc>::UNIX_EPOCH);
                assert_eq!(
                    events.iter().map(|e| e.kind).collect::<Vec<_>>(),
                    want.iter().copied().collect::<Vec<_>>(),
                    "{name}, step {i}"
                );
            }
        }
    }

    #[test]
    fn bodies() {
        let mut book = Book::default();
        let e = book
            .update(
                &[health(Level::Ok, Some(FailReason::Auth))],
                DateTime::<Utc>::UNIX_EPOCH,
            )
            .remove(0);
        let slack = body(WebhookFormat::Slack, &e);
        assert_eq!(slack.as_object().map(|o| o.len()), Some(1));
        let text = slack["text"].as_str().unwrap_or_default();
        assert!(
            text.starts_with("snapkeeper WARN: a/web-1 (policy p): failing (auth)"),
            "{text}"
        );
        let json = body(WebhookFormat::Json, &e);
        assert_eq!(json["event"]["kind"], "problem");
        assert_eq!(json["event"]["failing"], "auth");
        assert_eq!(json["event"]["resource_name"], "web-1");
    }

    #[test]
    fn hosts_only() {
        assert_eq!(
            host_of("https://hooks.slack.com/services/T0/B0/SECRET"),
            "hooks.slack.com"
        );
        assert_eq!(host_of("http://127.0.0.1:8080/x"), "127.0.0.1:8080");
    }
}
