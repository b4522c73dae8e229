//! The one HTTP layer under all three provider clients: bearer auth, user
//! agent, time-outs, pacing, retries with backoff, pagination, error mapping
//! into [`Error`], redaction, and per-request debug logs.
//!
//! One `reqwest::Client` (connection pool, TLS configuration, root store)
//! serves every account of the process (per tokio runtime and pair of
//! time-outs), and every account of one rate-limit unit shares one
//! [`Pacer`]: DigitalOcean per token, Hetzner per project (a token belongs to
//! one project, so accounts with the same token share), Vultr per source IP
//! (every Vultr account of the process, per API origin). The pacing rules
//! themselves are in `pacing`.
//!
//! Owns how a request is sent and how an answer becomes a value or a typed
//! error, and (issue 15) the per-client user agent and write guard of a
//! replica. Must never: put the token anywhere but the (sensitive)
//! `Authorization` header, retry a create that may have reached the server,
//! send an attempt of a write its guard refused, follow a pagination link to
//! another host, or return part of a listing as if it were all of it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use reqwest::Method;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::pacing::{Budget, Limit, Pacer, RateHeaders, Recovery, Registry, runtime_id};
use super::paging::Scheme;
use super::retry::{Call, Outcome, RetryPolicy, retryable, server_hint};
use super::{Error, ErrorKind, Result};
use crate::clock::Clock;

/// The user agent every request carries.
pub const USER_AGENT: &str = concat!("snapkeeper/", env!("CARGO_PKG_VERSION"));

/// Knobs for a provider client. The defaults are for the real providers;
/// tests shrink the delays and scale the pacing to a scaled-down simulator.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for one whole request (connect, send, answer).
    pub request_timeout: Duration,
    /// Retry and backoff rules.
    pub retry: RetryPolicy,
    /// Multiplies the provider's default client-side limits (bucket capacity
    /// and rate, and the documented budget assumed before the first
    /// `RateLimit-*` header); 0.01 matches a simulator seeded with
    /// `rate_limit_factor: 0.01`.
    pub rate_limit_factor: f64,
    /// Replaces the provider's default token buckets entirely (after which
    /// `rate_limit_factor` still applies). The announced budget is kept
    /// whatever the buckets.
    pub limits: Option<Vec<Limit>>,
    /// Longest a request waits for the announced budget (or a 429's hint
    /// to the other requests of its pacer).
    pub max_pace_wait: Duration,
    /// Wall clock, for `RateLimit-Reset` epochs and `Pending::started`.
    pub clock: Clock,
    /// Hears of every answer (issue 12: request metrics); none by default.
    pub observer: Option<std::sync::Arc<dyn RequestObserver>>,
    /// Replaces [`USER_AGENT`] on every request (issue 15: a replica names
    /// itself, `snapkeeper/0.1.0 (replica host-a)`); none by default.
    pub user_agent: Option<String>,
    /// Asked right before every attempt of a create or delete, retries
    /// included (issue 15: the account's fence); a refusal ends the request
    /// unsent. None by default.
    pub write_guard: Option<WriteGuard>,
}

/// A check that a write may still be sent now: `Err` says why not. Asked
/// by [`Http::send`] before each attempt of a write, after any wait.
#[derive(Clone)]
pub struct WriteGuard(Arc<dyn Fn() -> std::result::Result<(), String> + Send + Sync>);

impl WriteGuard {
    /// A guard from a check.
    pub fn new(
        check: impl Fn() -> std::result::Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        Self(Arc::new(check))
    }

    fn check(&self) -> std::result::Result<(), String> {
        (self.0)()
    }
}

impl std::fmt::Debug for WriteGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteGuard")
    }
}

/// Something that wants to hear of every provider answer (the metrics).
/// Called once per HTTP answer, retries included, from [`Http::send`].
pub trait RequestObserver: Send + Sync + std::fmt::Debug {
    /// One answer arrived.
    fn observe(&self, event: &RequestEvent<'_>);
}

/// One provider answer, as a [`RequestObserver`] sees it (never the token).
#[derive(Debug)]
pub struct RequestEvent<'a> {
    /// Which provider's API.
    pub scheme: Scheme,
    /// The account.
    pub account: &'a str,
    /// The HTTP method.
    pub method: &'a Method,
    /// The path below the base URL, with ids in it (`/v2/droplets/101`).
    pub path: &'a str,
    /// The HTTP status.
    pub status: u16,
    /// 1 for the first try, 2 and up for retries.
    pub attempt: u32,
    /// `RateLimit-Remaining`, when the answer had the rate-limit headers.
    pub rate_remaining: Option<u64>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            rate_limit_factor: 1.0,
            limits: None,
            max_pace_wait: Duration::from_secs(60),
            clock: Clock::system(),
            observer: None,
            user_agent: None,
            write_guard: None,
        }
    }
}

/// Who shares one provider's pacer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedBy {
    /// Every client with the same token (and API origin).
    Token,
    /// Every client of the process that talks to the same API origin: the
    /// provider counts per source IP.
    SourceIp,
}

/// How one provider's rate limit is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Pacing {
    /// Client-side buckets for limits the provider enforces but does not
    /// announce.
    pub buckets: Vec<Limit>,
    /// The budget the provider announces in `RateLimit-*` headers, as
    /// documented (assumed until the first header).
    pub budget: Option<Budget>,
    /// The provider's unit of counting.
    pub shared_by: SharedBy,
}

/// Each provider's pacing, from its published limits.
pub fn default_pacing(scheme: Scheme) -> Pacing {
    const HOUR: Duration = Duration::from_secs(3600);
    match scheme {
        // 5,000/h per token, sliding, announced in the headers; 250/min,
        // not announced: a sliding window of 248 a minute (a margin of 2
        // for clock jitter), the whole of it at once when nothing went in
        // the last minute.
        Scheme::DigitalOcean => Pacing {
            buckets: vec![Limit {
                capacity: 248.0,
                per_second: 248.0 / 60.0,
            }],
            budget: Some(Budget {
                limit: 5000.0,
                window: HOUR,
                recovery: Recovery::SlidingWindow,
            }),
            shared_by: SharedBy::Token,
        },
        // About 30/s per source IP, no headers, its kind unknown: one every
        // 1/28 s (28/s, 93 % of it), evenly, with no burst. Any second holds
        // 28 of them as they leave the pacer, at most 29 (a request up to
        // `pacing::LATE` late for its place counts from when it came back);
        // 31 in a row leave over at least 1.066 s, so more than 30 reach
        // Vultr in a second only if the first of them takes 66 ms longer to
        // get there than the last (a new connection's TLS handshake, which
        // comes after the pacer, can).
        Scheme::Vultr => Pacing {
            buckets: vec![Limit {
                capacity: 1.0,
                per_second: 28.0,
            }],
            budget: None,
            shared_by: SharedBy::SourceIp,
        },
        // 3,600/h per project refilling 1/s, bursts allowed, announced in
        // the headers: no client-side bucket in the way.
        Scheme::Hetzner => Pacing {
            buckets: Vec::new(),
            budget: Some(Budget {
                limit: 3600.0,
                window: HOUR,
                recovery: Recovery::Refill,
            }),
            shared_by: SharedBy::Token,
        },
    }
}

/// Requests sent by this process, every attempt counted.
static SENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many provider requests this process has sent (attempts, retries
/// included): the daemon watches it to know when it has gone quiet.
pub fn requests_sent() -> u64 {
    SENT.load(std::sync::atomic::Ordering::Relaxed)
}

/// Idle connections kept per provider host, for all accounts together.
const POOL_IDLE_PER_HOST: usize = 4;
/// How long an idle connection is kept.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(20);

/// Which shared `reqwest::Client` a client uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    runtime: Option<tokio::runtime::Id>,
    connect_timeout: Duration,
    request_timeout: Duration,
}

/// The process's HTTP client for these time-outs: built once, shared by
/// every account (per tokio runtime, since its connections live on one),
/// dropped when no account holds it.
fn shared_client(
    opts: &ClientOptions,
) -> std::result::Result<Arc<reqwest::Client>, reqwest::Error> {
    static CLIENTS: Registry<ClientKey, reqwest::Client> = Registry::new();
    let key = ClientKey {
        runtime: runtime_id(),
        connect_timeout: opts.connect_timeout,
        request_timeout: opts.request_timeout,
    };
    CLIENTS.get_or_try_make(key, || {
        reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(opts.connect_timeout)
            .timeout(opts.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            // A cycle's requests come in a burst, then nothing for minutes
            // or hours: a few connections per host stay for the next burst
            // for a while, not one per account for reqwest's 90 s (an idle
            // daemon holds no sockets and no buffers).
            .pool_max_idle_per_host(POOL_IDLE_PER_HOST)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build()
    })
}

/// Scheme, host and port of a base URL: the part rate limits are kept per.
fn origin(base: &str) -> String {
    match reqwest::Url::parse(base) {
        Ok(url) => format!(
            "{}://{}:{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or_default()
        ),
        Err(_) => base.to_string(),
    }
}

/// A successful answer.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status (2xx, or 404 for a repeated delete).
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// One account's connection to one provider.
pub struct Http {
    client: Arc<reqwest::Client>,
    base: String,
    token: SecretString,
    account: String,
    scheme: Scheme,
    pacer: Arc<Pacer>,
    retry: RetryPolicy,
    clock: Clock,
    /// Provider time minus host time from the last parseable `Date` header.
    skew: std::sync::Mutex<Option<TimeDelta>>,
    /// Issue 12: hears of every answer.
    observer: Option<std::sync::Arc<dyn RequestObserver>>,
    /// Issue 15: this replica's user agent, when it differs from the
    /// shared client's.
    user_agent: Option<String>,
    /// Issue 15: asked before each attempt of a write.
    write_guard: Option<WriteGuard>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("base", &self.base)
            .field("account", &self.account)
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl Http {
    /// Build the client. `base` is the API base URL without a trailing
    /// slash. The HTTP client and the pacer are the shared ones (see the
    /// module documentation).
    ///
    /// # Errors
    /// [`ErrorKind::Transport`] when reqwest cannot build a client.
    pub fn new(
        scheme: Scheme,
        account: &str,
        base: &str,
        token: SecretString,
        opts: &ClientOptions,
    ) -> Result<Self> {
        let client = shared_client(opts).map_err(|e| Error {
            kind: ErrorKind::Transport,
            account: account.to_string(),
            operation: "set up the http client".into(),
            status: None,
            code: None,
            message: e.without_url().to_string(),
            request_id: None,
        })?;
        let pacing = default_pacing(scheme);
        let limits: Vec<Limit> = opts
            .limits
            .clone()
            .unwrap_or(pacing.buckets)
            .into_iter()
            .map(|l| l.scaled(opts.rate_limit_factor))
            .collect();
        let budget = pacing.budget.map(|b| b.scaled(opts.rate_limit_factor));
        let base = base.trim_end_matches('/').to_string();
        let unit_token = match pacing.shared_by {
            SharedBy::Token => Some(token.expose_secret()),
            SharedBy::SourceIp => None,
        };
        let pacer = Pacer::shared(
            scheme,
            &origin(&base),
            unit_token,
            &limits,
            budget,
            opts.max_pace_wait,
        );
        Ok(Self {
            client,
            base,
            token,
            account: account.to_string(),
            scheme,
            pacer,
            retry: opts.retry.clone(),
            clock: opts.clock.clone(),
            skew: std::sync::Mutex::new(None),
            observer: opts.observer.clone(),
            user_agent: opts.user_agent.clone(),
            write_guard: opts.write_guard.clone(),
        })
    }

    /// Provider time minus host time, from the `Date` header of the most
    /// recent answer that had a parseable one; `None` before any did.
    pub fn clock_skew(&self) -> Option<TimeDelta> {
        *self
            .skew
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Take a reading of the provider's clock from an answer's headers; an
    /// answer without a (parseable) `Date` leaves the last reading.
    fn read_date(&self, headers: &HeaderMap) {
        let Some(date) = headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_http_date)
        else {
            return;
        };
        let skew = date - self.clock.now();
        *self
            .skew
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(skew);
    }

    /// The id a create answer must carry for the new snapshot to be
    /// followed; without it the create cannot be confirmed.
    ///
    /// # Errors
    /// [`ErrorKind::Decode`] naming the missing id.
    pub fn followable(&self, operation: &str, id: Option<String>, what: &str) -> Result<String> {
        id.filter(|id| !id.is_empty()).ok_or_else(|| {
            self.error(
                operation,
                ErrorKind::Decode,
                format!("the answer carries no {what} id to follow the snapshot by"),
            )
        })
    }

    /// The account this client works for.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The wall clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// An error about `operation` on this account.
    pub fn error(&self, operation: &str, kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            account: self.account.clone(),
            operation: operation.to_string(),
            status: None,
            code: None,
            message: self.redact(message.into()),
            request_id: None,
        }
    }

    /// Remove the token from text that came from outside (a server echoing
    /// it, a transport error quoting it).
    fn redact(&self, text: String) -> String {
        let token = self.token.expose_secret();
        if token.len() >= 4 && text.contains(token) {
            text.replace(token, "[redacted]")
        } else {
            text
        }
    }

    /// Send one logical request, with pacing and retries. 2xx answers come
    /// back as [`Reply`]; anything else as a typed [`Error`].
    pub async fn send(
        &self,
        operation: &str,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
        call: Call,
    ) -> Result<Reply> {
        let url = format!("{}{}", self.base, path);
        let mut waited = Duration::ZERO;
        let mut attempt: u32 = 0;
        let mut last: Option<Error> = None;
        loop {
            attempt += 1;
            let ticket = self.pacer.acquire(call.priority()).await;
            // Issue 15: a write (and each retry of it) goes out only while
            // the guard allows it, asked after every wait.
            if let (false, Some(guard)) = (call.is_read(), &self.write_guard)
                && let Err(why) = guard.check()
            {
                tracing::warn!(account = %self.account, method = %method, path, attempt, why = %why, "provider write not sent: the write guard refused it");
                return Err(match last {
                    Some(prev) => Error {
                        message: format!("{}; not retried: {why}", prev.message),
                        ..prev
                    },
                    None => self.error(operation, ErrorKind::Rejected, format!("not sent: {why}")),
                });
            }
            let mut request = self
                .client
                .request(method.clone(), &url)
                .bearer_auth(self.token.expose_secret());
            if let Some(agent) = &self.user_agent {
                request = request.header(reqwest::header::USER_AGENT, agent);
            }
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            SENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (outcome, hint, failure) = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    self.read_date(&headers);
                    let rate = RateHeaders::parse(&headers);
                    let rate_remaining = rate.as_ref().map(|r| r.remaining);
                    if let Some(rate) = rate {
                        self.pacer.observe(ticket, rate, self.now_epoch());
                    }
                    // Issue 12: the one place an answer's status is known.
                    if let Some(o) = &self.observer {
                        o.observe(&RequestEvent {
                            scheme: self.scheme,
                            account: &self.account,
                            method: &method,
                            path,
                            status,
                            attempt,
                            rate_remaining,
                        });
                    }
                    match response.bytes().await {
                        Ok(bytes) => {
                            tracing::debug!(
                                account = %self.account,
                                method = %method,
                                path,
                                status,
                                attempt,
                                "provider request"
                            );
                            let bytes = bytes.to_vec();
                            if (200..300).contains(&status) {
                                if call.is_read() && !is_json(&bytes) {
                                    let e = Error {
                                        status: Some(status),
                                        ..self.error(
                                            operation,
                                            ErrorKind::Decode,
                                            "the answer is not valid json",
                                        )
                                    };
                                    (Outcome::Broken, None, e)
                                } else {
                                    return Ok(Reply {
                                        status,
                                        body: bytes,
                                    });
                                }
                            } else if status == 404 && method == Method::DELETE && attempt > 1 {
                                // An earlier attempt that we could not hear
                                // back from did the delete.
                                return Ok(Reply {
                                    status,
                                    body: Vec::new(),
                                });
                            } else {
                                let hint = server_hint(status, &headers, self.now_epoch());
                                let e = self.status_error(operation, status, &headers, &bytes);
                                if let (ErrorKind::RateLimited, Some(h)) = (e.kind, hint) {
                                    // Everyone sharing this limit slows down.
                                    self.pacer.hold(h);
                                }
                                (Outcome::Status(status), hint, e)
                            }
                        }
                        Err(e) => {
                            tracing::debug!(
                                account = %self.account,
                                method = %method,
                                path,
                                status,
                                attempt,
                                "provider request broke while reading the answer"
                            );
                            let err = Error {
                                status: Some(status),
                                ..self.error(operation, ErrorKind::Transport, transport_text(e))
                            };
                            (Outcome::Broken, None, err)
                        }
                    }
                }
                Err(e) => {
                    let outcome = if e.is_connect() {
                        Outcome::Connect
                    } else if e.is_timeout() {
                        Outcome::Timeout
                    } else {
                        Outcome::Broken
                    };
                    tracing::debug!(
                        account = %self.account,
                        method = %method,
                        path,
                        attempt,
                        outcome = ?outcome,
                        "provider request failed"
                    );
                    let err = self.error(operation, ErrorKind::Transport, transport_text(e));
                    (outcome, None, err)
                }
            };
            if attempt >= self.retry.max_attempts.max(1) || !retryable(call, outcome) {
                return Err(failure);
            }
            let delay = match hint {
                Some(h) if h > self.retry.max_delay => return Err(failure),
                Some(h) => h,
                None => self.retry.jittered(attempt, rand::random::<f64>()),
            };
            if waited + delay > self.retry.max_total_delay {
                return Err(failure);
            }
            tracing::warn!(
                account = %self.account,
                method = %method,
                path,
                attempt,
                outcome = ?outcome,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "provider request retried"
            );
            tokio::time::sleep(delay).await;
            waited += delay;
            last = Some(failure);
        }
    }

    fn now_epoch(&self) -> i64 {
        self.clock.now().timestamp()
    }

    fn status_error(
        &self,
        operation: &str,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Error {
        let mapped = map_error(self.scheme, status, body);
        let request_id = mapped.request_id.or_else(|| {
            ["x-request-id", "x-correlation-id"].iter().find_map(|h| {
                headers
                    .get(*h)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            })
        });
        Error {
            kind: mapped.kind,
            account: self.account.clone(),
            operation: operation.to_string(),
            status: Some(status),
            code: mapped.code,
            message: self.redact(mapped.message),
            request_id,
        }
    }

    /// GET and decode.
    pub async fn get<T: DeserializeOwned>(
        &self,
        operation: &str,
        path: &str,
        query: &[(String, String)],
    ) -> Result<T> {
        self.get_as(Call::Read, operation, path, query).await
    }

    /// GET and decode, for following a pending snapshot: it waits while a
    /// create or delete sharing the pacer is queued.
    pub async fn get_poll<T: DeserializeOwned>(
        &self,
        operation: &str,
        path: &str,
        query: &[(String, String)],
    ) -> Result<T> {
        self.get_as(Call::Poll, operation, path, query).await
    }

    async fn get_as<T: DeserializeOwned>(
        &self,
        call: Call,
        operation: &str,
        path: &str,
        query: &[(String, String)],
    ) -> Result<T> {
        let reply = self
            .send(operation, Method::GET, path, query, None, call)
            .await?;
        self.decode(operation, &reply.body)
    }

    /// POST a JSON body and decode the answer.
    pub async fn post<T: DeserializeOwned>(
        &self,
        operation: &str,
        path: &str,
        body: &Value,
        call: Call,
    ) -> Result<T> {
        let reply = self
            .send(operation, Method::POST, path, &[], Some(body), call)
            .await?;
        self.decode(operation, &reply.body)
    }

    /// POST a JSON body, ignoring any answer body.
    pub async fn post_no_content(
        &self,
        operation: &str,
        path: &str,
        body: &Value,
        call: Call,
    ) -> Result<()> {
        self.send(operation, Method::POST, path, &[], Some(body), call)
            .await
            .map(|_| ())
    }

    /// DELETE (a 404 after an unanswered first attempt counts as done).
    pub async fn delete(&self, operation: &str, path: &str) -> Result<()> {
        self.send(operation, Method::DELETE, path, &[], None, Call::Idempotent)
            .await
            .map(|_| ())
    }

    /// Decode a body into `T`.
    pub fn decode<T: DeserializeOwned>(&self, operation: &str, body: &[u8]) -> Result<T> {
        serde_json::from_slice(body).map_err(|e| {
            self.error(
                operation,
                ErrorKind::Decode,
                format!("unexpected answer: {e}"),
            )
        })
    }

    /// Every item of a paged listing, in order. Any page failing fails the
    /// whole listing, and so do pages that add up to fewer items than the
    /// total the provider reports ([`ErrorKind::Incomplete`]): a partial
    /// list must never look complete.
    pub async fn list<T: DeserializeOwned>(
        &self,
        operation: &str,
        path: &str,
        query: &[(String, String)],
        key: &str,
    ) -> Result<Vec<T>> {
        let mut items = Vec::new();
        let mut paging = self.scheme.first();
        let mut walk = super::paging::Walk::new();
        // The total the provider last reported, when it reports one.
        let mut total = None;
        loop {
            let mut q: Vec<(String, String)> = query
                .iter()
                .filter(|(k, _)| !paging.iter().any(|(pk, _)| pk == k))
                .cloned()
                .collect();
            q.extend(paging.iter().cloned());
            match walk.step(&q) {
                Ok(()) => {}
                Err(super::paging::Stop::Repeated) => {
                    return Err(self.error(
                        operation,
                        ErrorKind::Decode,
                        format!(
                            "the next page of {path} does not advance: the provider sent a cursor or link already followed"
                        ),
                    ));
                }
                Err(super::paging::Stop::Cap(cap)) => {
                    return Err(self.error(
                        operation,
                        ErrorKind::Incomplete,
                        format!(
                            "listing incomplete: {path} still had more after {cap} pages, stopped following"
                        ),
                    ));
                }
            }
            let body: Value = self.get(operation, path, &q).await?;
            let page = body.get(key).and_then(Value::as_array).ok_or_else(|| {
                self.error(
                    operation,
                    ErrorKind::Decode,
                    format!("the answer has no `{key}` list"),
                )
            })?;
            for item in page {
                items.push(serde_json::from_value(item.clone()).map_err(|e| {
                    self.error(
                        operation,
                        ErrorKind::Decode,
                        format!("unexpected item in `{key}`: {e}"),
                    )
                })?);
            }
            total = self.scheme.total(&body).or(total);
            match self.scheme.next(&body) {
                Ok(Some(next)) => paging = next,
                Ok(None) => return self.complete(operation, items, total),
                Err(e) => return Err(self.error(operation, ErrorKind::Decode, e)),
            }
        }
    }
}

impl Http {
    /// A finished listing, unless the provider's own total says items are
    /// missing: fewer items than the total fail the whole listing.
    fn complete<T>(&self, operation: &str, items: Vec<T>, total: Option<u64>) -> Result<Vec<T>> {
        let got = u64::try_from(items.len()).unwrap_or(u64::MAX);
        match total {
            Some(total) if got < total => Err(self.error(
                operation,
                ErrorKind::Incomplete,
                format!("listing incomplete: {got} of {total} items"),
            )),
            _ => Ok(items),
        }
    }
}

/// An HTTP `Date` value (RFC 7231 section 7.1.1.1): the preferred
/// IMF-fixdate, or the obsolete RFC 850 and asctime forms; always UTC.
pub fn parse_http_date(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc2822(text) {
        return Some(t.with_timezone(&Utc));
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc())
}

fn is_json(bytes: &[u8]) -> bool {
    bytes.is_empty() || serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
}

/// A transport error as text: reqwest's message without the URL, plus its
/// causes (none of which carry headers).
fn transport_text(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// What a provider's error answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedError {
    /// The class.
    pub kind: ErrorKind,
    /// The provider's code, when it gives one.
    pub code: Option<String>,
    /// The provider's message (or the body's start, or the status reason).
    pub message: String,
    /// The provider's request id, when in the body.
    pub request_id: Option<String>,
}

/// Map a non-2xx answer to a kind, code, message and request id, reading each
/// provider's error body shape: DigitalOcean `{"id","message","request_id"}`,
/// Vultr `{"error","status"}`, Hetzner `{"error":{"code","message","details"}}`.
pub fn map_error(scheme: Scheme, status: u16, body: &[u8]) -> MappedError {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let (code, message, request_id) = match (scheme, &json) {
        (Scheme::DigitalOcean, Some(j)) => (
            text(j.get("id")),
            text(j.get("message")),
            text(j.get("request_id")),
        ),
        (Scheme::Vultr, Some(j)) => (None, text(j.get("error")), None),
        (Scheme::Hetzner, Some(j)) => (
            text(j.pointer("/error/code")),
            text(j.pointer("/error/message")),
            None,
        ),
        (_, None) => (None, None, None),
    };
    let message = message.unwrap_or_else(|| {
        let raw = String::from_utf8_lossy(body);
        let raw = raw.trim();
        if raw.is_empty() {
            reqwest::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("no message")
                .to_lowercase()
        } else {
            raw.chars().take(200).collect()
        }
    });
    let kind = classify(scheme, status, code.as_deref(), &message);
    MappedError {
        kind,
        code,
        message,
        request_id,
    }
}

fn classify(scheme: Scheme, status: u16, code: Option<&str>, message: &str) -> ErrorKind {
    let lower = message.to_lowercase();
    // "quota", "limit", and DigitalOcean's per-volume cap ("has reached the
    // maximum of 25 snapshots").
    let quota_words = lower.contains("quota")
        || lower.contains("limit")
        || (lower.contains("maximum") && lower.contains("snapshot"));
    if scheme == Scheme::Hetzner {
        match code {
            Some("token_readonly" | "forbidden") => return ErrorKind::Forbidden,
            Some("unauthorized") => return ErrorKind::Unauthorized,
            Some("locked" | "resource_locked" | "conflict") => return ErrorKind::Busy,
            Some("protected") => return ErrorKind::Protected,
            Some("resource_limit_exceeded") => return ErrorKind::Quota,
            Some("rate_limit_exceeded") => return ErrorKind::RateLimited,
            Some("not_found") => return ErrorKind::NotFound,
            _ => {}
        }
    }
    match status {
        401 => ErrorKind::Unauthorized,
        403 if quota_words && !lower.contains("access") => ErrorKind::Quota,
        403 => ErrorKind::Forbidden,
        404 => ErrorKind::NotFound,
        423 => ErrorKind::Busy,
        429 => ErrorKind::RateLimited,
        // Vultr answers 503 when it means "slow down".
        503 if scheme == Scheme::Vultr => ErrorKind::RateLimited,
        500..=599 => ErrorKind::Server,
        _ if lower.contains("pending event") || lower.contains("locked") => ErrorKind::Busy,
        _ if lower.contains("in progress") || lower.contains("already has") => ErrorKind::Busy,
        _ if quota_words => ErrorKind::Quota,
        _ => ErrorKind::Rejected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn digitalocean_errors() {
        let cases: &[(u16, &str, ErrorKind, Option<&str>, &str)] = &[
            (
                401,
                r#"{"id":"unauthorized","message":"Unable to authenticate you."}"#,
                ErrorKind::Unauthorized,
                Some("unauthorized"),
                "Unable to authenticate you.",
            ),
            (
                403,
                r#"{"id":"forbidden","message":"You do not have access for the attempted action.","request_id":"r-1"}"#,
                ErrorKind::Forbidden,
                Some("forbidden"),
                "You do not have access for the attempted action.",
            ),
            (
                422,
                r#"{"id":"unprocessable_entity","message":"Droplet already has a pending event."}"#,
                ErrorKind::Busy,
                Some("unprocessable_entity"),
                "Droplet already has a pending event.",
            ),
            (
                422,
                r#"{"id":"unprocessable_entity","message":"You have reached the snapshot limit for this volume."}"#,
                ErrorKind::Quota,
                Some("unprocessable_entity"),
                "You have reached the snapshot limit for this volume.",
            ),
            (
                422,
                r#"{"id":"unprocessable_entity","message":"volume 5e1d has reached the maximum of 25 snapshots; delete one before taking another"}"#,
                ErrorKind::Quota,
                Some("unprocessable_entity"),
                "volume 5e1d has reached the maximum of 25 snapshots; delete one before taking another",
            ),
            (
                422,
                r#"{"id":"unprocessable_entity","message":"Name is invalid."}"#,
                ErrorKind::Rejected,
                Some("unprocessable_entity"),
                "Name is invalid.",
            ),
            (
                404,
                r#"{"id":"not_found","message":"The resource you were accessing could not be found."}"#,
                ErrorKind::NotFound,
                Some("not_found"),
                "The resource you were accessing could not be found.",
            ),
            (
                429,
                r#"{"id":"too_many_requests","message":"API Rate limit exceeded."}"#,
                ErrorKind::RateLimited,
                Some("too_many_requests"),
                "API Rate limit exceeded.",
            ),
            (
                500,
                r#"{"id":"server_error","message":"Unexpected server-side error"}"#,
                ErrorKind::Server,
                Some("server_error"),
                "Unexpected server-side error",
            ),
            (
                502,
                "<html>bad gateway</html>",
                ErrorKind::Server,
                None,
                "<html>bad gateway</html>",
            ),
            (504, "", ErrorKind::Server, None, "gateway timeout"),
        ];
        for (status, body, kind, code, message) in cases {
            let got = map_error(Scheme::DigitalOcean, *status, body.as_bytes());
            assert_eq!(got.kind, *kind, "{status} {body}");
            assert_eq!(got.code.as_deref(), *code, "{status} {body}");
            assert_eq!(got.message, *message, "{status} {body}");
        }
        let got = map_error(
            Scheme::DigitalOcean,
            403,
            br#"{"id":"forbidden","message":"x","request_id":"r-1"}"#,
        );
        assert_eq!(got.request_id.as_deref(), Some("r-1"));
    }

    #[test]
    fn vultr_errors() {
        let cases: &[(u16, &str, ErrorKind, &str)] = &[
            (
                401,
                r#"{"error":"Invalid API token.","status":401}"#,
                ErrorKind::Unauthorized,
                "Invalid API token.",
            ),
            (
                403,
                r#"{"error":"Not allowed.","status":403}"#,
                ErrorKind::Forbidden,
                "Not allowed.",
            ),
            (
                400,
                r#"{"error":"Snapshot quota exceeded.","status":400}"#,
                ErrorKind::Quota,
                "Snapshot quota exceeded.",
            ),
            (
                400,
                r#"{"error":"Server is locked, snapshot in progress.","status":400}"#,
                ErrorKind::Busy,
                "Server is locked, snapshot in progress.",
            ),
            (
                429,
                r#"{"error":"Rate limit reached","status":429}"#,
                ErrorKind::RateLimited,
                "Rate limit reached",
            ),
            (503, "", ErrorKind::RateLimited, "service unavailable"),
            (
                500,
                r#"{"error":"oops","status":500}"#,
                ErrorKind::Server,
                "oops",
            ),
            (
                404,
                r#"{"error":"Invalid snapshot ID","status":404}"#,
                ErrorKind::NotFound,
                "Invalid snapshot ID",
            ),
        ];
        for (status, body, kind, message) in cases {
            let got = map_error(Scheme::Vultr, *status, body.as_bytes());
            assert_eq!(got.kind, *kind, "{status} {body}");
            assert_eq!(got.code, None);
            assert_eq!(got.message, *message, "{status} {body}");
        }
    }

    #[test]
    fn hetzner_errors() {
        let body = |code: &str| {
            format!(r#"{{"error":{{"code":"{code}","message":"m {code}","details":null}}}}"#)
        };
        let cases: &[(u16, &str, ErrorKind)] = &[
            (401, "unauthorized", ErrorKind::Unauthorized),
            (403, "token_readonly", ErrorKind::Forbidden),
            (403, "forbidden", ErrorKind::Forbidden),
            (423, "locked", ErrorKind::Busy),
            (409, "conflict", ErrorKind::Busy),
            (403, "protected", ErrorKind::Protected),
            (422, "protected", ErrorKind::Protected),
            (403, "resource_limit_exceeded", ErrorKind::Quota),
            (429, "rate_limit_exceeded", ErrorKind::RateLimited),
            (404, "not_found", ErrorKind::NotFound),
            (400, "invalid_input", ErrorKind::Rejected),
            (500, "server_error", ErrorKind::Server),
            (503, "unavailable", ErrorKind::Server),
        ];
        for (status, code, kind) in cases {
            let got = map_error(Scheme::Hetzner, *status, body(code).as_bytes());
            assert_eq!(got.kind, *kind, "{status} {code}");
            assert_eq!(got.code.as_deref(), Some(*code));
            assert_eq!(got.message, format!("m {code}"));
        }
        assert_eq!(map_error(Scheme::Hetzner, 423, b"").kind, ErrorKind::Busy);
    }

    #[test]
    fn forbidden_message_reads_well() {
        let e = Error {
            kind: ErrorKind::Forbidden,
            account: "do-main".into(),
            operation: "create a snapshot of droplet 101".into(),
            status: Some(403),
            code: Some("forbidden".into()),
            message: "You do not have access for the attempted action.".into(),
            request_id: None,
        };
        assert_eq!(
            e.to_string(),
            "the token for account do-main cannot create a snapshot of droplet 101 (403 forbidden): a read-only token works for plan/list/inventory only"
        );
    }

    /// A one-connection-per-answer HTTP server on loopback: serves `answers`
    /// in order (then 500s) and keeps the raw requests it saw.
    async fn serve(
        answers: Vec<String>,
    ) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            let mut answers = answers.into_iter();
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = vec![0u8; 16 * 1024];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                let answer = answers.next().unwrap_or_else(|| reply(500, &[], "{}"));
                let _ = sock.write_all(answer.as_bytes()).await;
                let _ = sock.shutdown().await;
            }
        });
        (format!("http://{addr}"), seen)
    }

    fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> String {
        let mut text = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            text.push_str(&format!("{k}: {v}\r\n"));
        }
        text.push_str("\r\n");
        text.push_str(body);
        text
    }

    const TOKEN: &str = "dop_v1_secret_token_value_0123456789";

    /// A client of `scheme` for account `name` with `token` and `opts`.
    fn http_with(
        scheme: Scheme,
        name: &str,
        base: &str,
        token: &str,
        opts: &ClientOptions,
    ) -> Http {
        Http::new(
            scheme,
            name,
            base,
            SecretString::from(token.to_string()),
            opts,
        )
        .unwrap()
    }

    /// DigitalOcean account `do-main` with [`TOKEN`] and `opts`.
    fn do_main(base: &str, opts: &ClientOptions) -> Http {
        http_with(Scheme::DigitalOcean, "do-main", base, TOKEN, opts)
    }

    fn client(base: &str, retry: RetryPolicy) -> Http {
        let opts = ClientOptions {
            retry,
            limits: Some(vec![Limit {
                capacity: 1e6,
                per_second: 1e6,
            }]),
            ..ClientOptions::default()
        };
        do_main(base, &opts)
    }

    fn quick() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_secs(2),
            max_total_delay: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn sends_bearer_and_user_agent_and_honours_retry_after() {
        let (base, seen) = serve(vec![
            reply(
                429,
                &[("retry-after", "0")],
                r#"{"id":"too_many_requests","message":"slow"}"#,
            ),
            reply(200, &[], r#"{"ok": true}"#),
        ])
        .await;
        let http = client(&base, quick());
        let v: Value = http
            .get("list droplets", "/v2/droplets", &[])
            .await
            .unwrap();
        assert_eq!(v["ok"], true);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        let first = seen[0].to_lowercase();
        assert!(first.contains(&format!("authorization: bearer {}", TOKEN.to_lowercase())));
        assert!(first.contains(&format!("user-agent: {}", USER_AGENT.to_lowercase())));
    }

    fn account(scheme: Scheme, name: &str, base: &str, token: &str) -> Http {
        http_with(scheme, name, base, token, &ClientOptions::default())
    }

    /// Pacers are shared per the provider's unit: Vultr per source IP
    /// (every account, whatever its token), DigitalOcean and Hetzner per
    /// token; never across API origins. One HTTP client serves them all.
    #[tokio::test]
    async fn accounts_share_per_the_providers_unit() {
        let vultr = "https://api.vultr.com/v2";
        let v: Vec<Http> = ["a", "b", "c"]
            .iter()
            .map(|t| account(Scheme::Vultr, &format!("vultr-{t}"), vultr, t))
            .collect();
        assert!(Arc::ptr_eq(&v[0].pacer, &v[1].pacer));
        assert!(Arc::ptr_eq(&v[0].pacer, &v[2].pacer));
        let proxy = account(Scheme::Vultr, "vultr-d", "http://127.0.0.1:9/v2", "a");
        assert!(!Arc::ptr_eq(&v[0].pacer, &proxy.pacer));

        let hz = "https://api.hetzner.cloud/v1";
        let cases = [
            (Scheme::Hetzner, hz, "project-1", "project-1", true),
            (Scheme::Hetzner, hz, "project-1", "project-2", false),
            (
                Scheme::DigitalOcean,
                "https://api.digitalocean.com",
                "t1",
                "t1",
                true,
            ),
            (
                Scheme::DigitalOcean,
                "https://api.digitalocean.com",
                "t1",
                "t2",
                false,
            ),
        ];
        for (scheme, base, one, two, shared) in cases {
            let a = account(scheme, "one", base, one);
            let b = account(scheme, "two", base, two);
            assert_eq!(
                Arc::ptr_eq(&a.pacer, &b.pacer),
                shared,
                "{scheme:?} {one} {two}"
            );
            assert!(Arc::ptr_eq(&a.client, &v[0].client), "{scheme:?}");
        }
        // Other time-outs, another client.
        let opts = ClientOptions {
            request_timeout: Duration::from_secs(5),
            ..ClientOptions::default()
        };
        let other = http_with(Scheme::Vultr, "vultr-e", vultr, "e", &opts);
        assert!(!Arc::ptr_eq(&other.client, &v[0].client));
        assert!(Arc::ptr_eq(&other.pacer, &v[0].pacer));
    }

    #[test]
    fn origins() {
        let cases = [
            ("https://api.vultr.com/v2", "https://api.vultr.com:443"),
            ("http://127.0.0.1:7070/vultr/v2", "http://127.0.0.1:7070"),
            (
                "HTTPS://API.Hetzner.Cloud:443/v1",
                "https://api.hetzner.cloud:443",
            ),
            ("not a url", "not a url"),
        ];
        for (base, want) in cases {
            assert_eq!(origin(base), want, "{base}");
        }
    }

    /// Within the worst window of each limit the client's limits stay under
    /// it: DigitalOcean's minute at most 250, Vultr's second at most 30, and
    /// use at least 90 % of it.
    #[test]
    fn default_buckets_stay_under_the_published_limits() {
        let cases = [
            (Scheme::DigitalOcean, 60.0, 250.0),
            (Scheme::Vultr, 1.0, 30.0),
        ];
        for (scheme, window, limit) in cases {
            for b in default_pacing(scheme).buckets {
                let worst = b.worst(window);
                assert!(worst <= limit, "{scheme:?} {b:?}: {worst}");
                assert!(
                    b.per_second * window >= 0.9 * limit,
                    "{scheme:?} {b:?}: {worst}"
                );
            }
        }
        assert!(default_pacing(Scheme::Hetzner).buckets.is_empty());
    }

    #[test]
    fn http_dates_in_all_three_forms() {
        let want = chrono::DateTime::parse_from_rfc3339("1994-11-06T08:49:37Z")
            .unwrap()
            .with_timezone(&Utc);
        for text in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(text), Some(want), "{text}");
        }
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[tokio::test]
    async fn the_clock_skew_is_the_last_date_header_read() {
        let host = chrono::DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let (base, _) = serve(vec![
            reply(200, &[("date", "Sun, 01 Mar 2026 09:00:00 GMT")], "{}"),
            reply(200, &[], "{}"),
            reply(200, &[("date", "not a date")], "{}"),
            reply(200, &[("date", "Sun, 01 Mar 2026 12:00:30 GMT")], "{}"),
        ])
        .await;
        let opts = ClientOptions {
            clock: Clock::fixed(host),
            retry: quick(),
            ..ClientOptions::default()
        };
        let http = do_main(&base, &opts);
        assert_eq!(http.clock_skew(), None);
        let want = [-3 * 3600, -3 * 3600, -3 * 3600, 30];
        for secs in want {
            http.get::<Value>("list droplets", "/v2/droplets", &[])
                .await
                .unwrap();
            assert_eq!(http.clock_skew(), Some(TimeDelta::seconds(secs)));
        }
    }

    #[tokio::test]
    async fn a_long_server_hint_ends_the_retries() {
        let (base, seen) = serve(vec![reply(
            429,
            &[("retry-after", "3600")],
            r#"{"id":"too_many_requests","message":"API Rate limit exceeded."}"#,
        )])
        .await;
        let http = client(&base, quick());
        let err = http
            .get::<Value>("list droplets", "/v2/droplets", &[])
            .await
            .unwrap_err();
        assert_eq!((err.kind, err.status), (ErrorKind::RateLimited, Some(429)));
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_echoed_token_is_redacted() {
        let body = format!(
            r#"{{"id":"bad_request","message":"token {TOKEN} is odd","request_id":"r-9"}}"#
        );
        let (base, _) = serve(vec![reply(400, &[], &body)]).await;
        let http = client(&base, quick());
        let err = http
            .post::<Value>(
                "create a snapshot of droplet 1",
                "/v2/x",
                &json!({}),
                Call::Create,
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Rejected);
        assert_eq!(err.message, "token [redacted] is odd");
        assert_eq!(err.request_id.as_deref(), Some("r-9"));
        assert!(!err.to_string().contains(TOKEN));
        assert!(!format!("{http:?}").contains(TOKEN));
    }

    #[tokio::test]
    async fn a_connection_refused_is_a_transport_error_without_the_token() {
        // Bind and drop to get a port nobody listens on.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let http = client(&format!("http://127.0.0.1:{port}"), quick());
        let err = http
            .get::<Value>("list droplets", "/v2/droplets", &[])
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Transport);
        assert!(!err.to_string().contains(TOKEN) && !format!("{err:?}").contains(TOKEN));
    }

    /// Issue 15: a write's guard is asked before every attempt, after every
    /// wait: a retry of a delete (after a 503) or of a create (after a 429)
    /// whose guard refuses is not sent, and the error says why; a guard
    /// that refuses at once sends nothing. Reads never ask it. A replica's
    /// user agent replaces the shared one.
    #[tokio::test]
    async fn a_write_guard_is_asked_before_each_attempt() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        // (what, first answer, allowed attempts, call, requests seen, kind)
        let busy = reply(503, &[], r#"{"id":"server_error","message":"down"}"#);
        let limited = reply(
            429,
            &[("retry-after", "0")],
            r#"{"id":"too_many_requests","message":"slow"}"#,
        );
        let cases = [
            (
                "delete retried after a 503",
                busy.clone(),
                1,
                Call::Idempotent,
                1,
                ErrorKind::Server,
            ),
            (
                "create retried after a 429",
                limited,
                1,
                Call::Create,
                1,
                ErrorKind::RateLimited,
            ),
            (
                "refused before the first attempt",
                busy.clone(),
                0,
                Call::Idempotent,
                0,
                ErrorKind::Rejected,
            ),
        ];
        for (what, first, allowed, call, sent, kind) in cases {
            let (base, seen) = serve(vec![first, reply(200, &[], "{}")]).await;
            let asked = Arc::new(AtomicUsize::new(0));
            let counter = asked.clone();
            let opts = ClientOptions {
                retry: quick(),
                limits: Some(vec![Limit {
                    capacity: 1e6,
                    per_second: 1e6,
                }]),
                user_agent: Some(format!("{USER_AGENT} (replica ra)")),
                write_guard: Some(WriteGuard::new(move || {
                    if counter.fetch_add(1, Ordering::SeqCst) < allowed {
                        Ok(())
                    } else {
                        Err(
                            "ownership lost: this replica no longer holds the account's owner key"
                                .into(),
                        )
                    }
                })),
                ..ClientOptions::default()
            };
            let http = do_main(&base, &opts);
            let err = match call {
                Call::Create => http
                    .post::<Value>(
                        "create snapshot of 1",
                        "/v2/droplets/1/actions",
                        &json!({}),
                        call,
                    )
                    .await
                    .unwrap_err(),
                _ => http
                    .delete("delete snapshot 7", "/v2/snapshots/7")
                    .await
                    .unwrap_err(),
            };
            let seen = seen.lock().unwrap().clone();
            assert_eq!(seen.len(), sent, "{what}: requests sent");
            assert_eq!(err.kind, kind, "{what}: {err}");
            assert_eq!(
                asked.load(Ordering::SeqCst),
                allowed + 1,
                "{what}: guard asks"
            );
            let said = if sent == 0 {
                "not sent: ownership lost"
            } else {
                "not retried: ownership lost"
            };
            assert!(err.message.contains(said), "{what}: {}", err.message);
            for r in &seen {
                assert!(
                    r.to_lowercase().contains(&format!(
                        "user-agent: {} (replica ra)",
                        USER_AGENT.to_lowercase()
                    )),
                    "{what}: {r}"
                );
            }
            // Reads never ask the guard.
            let before = asked.load(Ordering::SeqCst);
            let _ = http
                .get::<Value>("list droplets", "/v2/droplets", &[])
                .await;
            assert_eq!(
                asked.load(Ordering::SeqCst),
                before,
                "{what}: a read asked the guard"
            );
        }
    }
}
