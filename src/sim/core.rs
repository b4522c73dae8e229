//! The simulator's shared machinery: its clock, fault book, request counters,
//! request log, rate-limit primitives, and the middleware every provider
//! router wears.
//!
//! Owns what is the same for all three simulated providers. Must never: know a
//! provider's paths or resources (those live in the provider files, which pass
//! their own error-body function in), or share a type with `crate::provider`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::sync::lock;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;

/// Largest request or response body the middleware buffers.
const BODY_LIMIT: usize = 16 * 1024 * 1024;
/// How many requests the log keeps (oldest dropped first).
const LOG_CAPACITY: usize = 20_000;

/// Which simulated provider a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SimProvider {
    /// DigitalOcean, served under `/digitalocean` (paths keep their `/v2`).
    Digitalocean,
    /// Vultr, served under `/vultr/v2`.
    Vultr,
    /// Hetzner Cloud, served under `/hetzner/v1`.
    Hetzner,
}

impl SimProvider {
    /// The path prefix this provider is nested under; the rest of the path is
    /// exactly the spec's path.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Digitalocean => "/digitalocean",
            Self::Vultr => "/vultr/v2",
            Self::Hetzner => "/hetzner/v1",
        }
    }

    /// Lower-case name, as in seed files and the control API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Digitalocean => "digitalocean",
            Self::Vultr => "vultr",
            Self::Hetzner => "hetzner",
        }
    }
}

/// Global knobs, from the seed's `settings` section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Multiplies every simulated duration (snapshot and action run times).
    /// 1.0 is real-world pace; the demo and tests use much less.
    pub time_scale: f64,
    /// Multiplies every rate limit's capacity and refill rate, so tests can
    /// reach a limit in seconds (0.01 turns 5,000/h into 50/h).
    pub rate_limit_factor: f64,
    /// Multiplies every rate-limit time window: DigitalOcean's minute and
    /// hour windows, and the refill interval of Hetzner's and Vultr's token
    /// buckets (their refill rate is divided by it). Capacity stays as
    /// `rate_limit_factor` makes it, so a test can exhaust a limit and see it
    /// recover in moments: `rate_limit_factor: 0.01, rate_window_scale: 0.001`
    /// turns Hetzner's 3,600/h into 36 requests refilling 10/s. Must be a
    /// positive number; 1.0 (the default) is real-world time.
    pub rate_window_scale: f64,
    /// Simulated seconds a snapshot takes per GB of disk (before `time_scale`).
    pub seconds_per_gb: f64,
    /// Simulated fixed overhead of a snapshot, in seconds (before `time_scale`).
    pub base_seconds: f64,
    /// How far the `Date` header of every answer is off the simulator's own
    /// clock: a humantime duration with an optional sign (`-3h`, `+400d`,
    /// `90s`). Absent: no skew.
    pub date_skew: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            time_scale: 1.0,
            rate_limit_factor: 1.0,
            rate_window_scale: 1.0,
            seconds_per_gb: 2.0,
            base_seconds: 20.0,
            date_skew: None,
        }
    }
}

/// Largest accepted `settings.rate_window_scale` (an hour becomes ~42 days).
pub const MAX_WINDOW_SCALE: f64 = 1000.0;

/// The seed's `settings.rate_window_scale`, checked: a number in (0, 1000].
///
/// # Errors
/// A message naming the setting when it is out of range or not a number.
pub fn window_scale(scale: f64) -> Result<f64, String> {
    if scale > 0.0 && scale <= MAX_WINDOW_SCALE {
        Ok(scale)
    } else {
        Err(format!(
            "settings.rate_window_scale: must be a positive number no larger than {MAX_WINDOW_SCALE}, not {scale}"
        ))
    }
}

/// The seed's `settings.date_skew`, checked: a humantime duration with an
/// optional leading `+` or `-`.
///
/// # Errors
/// A message naming the setting when it does not parse.
pub fn date_skew(text: Option<&str>) -> Result<chrono::TimeDelta, String> {
    let Some(text) = text.map(str::trim) else {
        return Ok(chrono::TimeDelta::zero());
    };
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let bad = |why: String| {
        format!("settings.date_skew: {text:?} is not a signed duration such as -3h or +400d: {why}")
    };
    let d = humantime::parse_duration(rest.trim()).map_err(|e| bad(e.to_string()))?;
    let d = chrono::TimeDelta::from_std(d).map_err(|e| bad(e.to_string()))?;
    Ok(if negative { -d } else { d })
}

/// What a fault does to a matching request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// Answer with this status (500, 502, 503 …) and the provider's error body.
    Status(u16),
    /// Wait this many (real) milliseconds, then serve normally.
    SlowMs(u64),
    /// Never answer (the client's time-out fires).
    Timeout,
    /// Drop the connection without a complete response.
    Reset,
    /// Answer 200 with a body that is not JSON.
    Malformed,
    /// Provider semantics, checked by the provider handlers themselves via
    /// [`Core::take_fault`]: the snapshot's action ends errored/error.
    ActionError,
    /// The snapshot's action or pending status never finishes.
    ActionStuck,
    /// DigitalOcean 422 "pending event" / generic busy answer.
    Busy,
    /// Hetzner 423 `locked`.
    Locked,
    /// A create is refused because a quota is exceeded.
    Quota,
    /// A delete is refused because the image is delete-protected (Hetzner).
    Protected,
    /// Serve normally, then remove these keys from the JSON answer, at every
    /// depth (`fields: [date_created, status]`): an answer that leaves out
    /// fields the spec calls optional, or breaks the spec by leaving out
    /// required ones.
    DropFields {
        /// Key names to remove wherever they occur.
        fields: Vec<String>,
    },
    /// Serve a list page normally, then remove its last `drop` items while
    /// `meta` (the reported total) and the paging links stay as they were.
    ShortPage {
        /// How many items to cut from the end of the page.
        drop: usize,
    },
}

impl FaultKind {
    /// Faults the middleware applies itself; the rest are for handlers.
    fn is_transport(&self) -> bool {
        matches!(
            self,
            Self::Status(_)
                | Self::SlowMs(_)
                | Self::Timeout
                | Self::Reset
                | Self::Malformed
                | Self::DropFields { .. }
                | Self::ShortPage { .. }
        )
    }
}

/// One fault rule: which requests it hits, what it does, how many times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Only this provider (any when absent).
    #[serde(default)]
    pub provider: Option<SimProvider>,
    /// Only this HTTP method, upper case (any when absent).
    #[serde(default)]
    pub method: Option<String>,
    /// Only this route: the spec's path template (`/v2/droplets/{droplet_id}/actions`)
    /// or a concrete path (`/v2/droplets/101/actions`); `*` matches one segment.
    #[serde(default)]
    pub path: Option<String>,
    /// Only requests about this resource id (used by handler-level faults).
    #[serde(default)]
    pub resource: Option<String>,
    /// What happens.
    pub kind: FaultKind,
    /// How many times it fires; forever when absent.
    #[serde(default)]
    pub count: Option<u32>,
}

impl FaultRule {
    fn matches(
        &self,
        provider: SimProvider,
        method: &str,
        template: &str,
        path: &str,
        resource: Option<&str>,
    ) -> bool {
        self.provider.is_none_or(|p| p == provider)
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path
                .as_deref()
                .is_none_or(|p| path_matches(p, template) || path_matches(p, path))
            && self.resource.as_deref().is_none_or(|r| resource == Some(r))
    }
}

fn path_matches(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    let got: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    pat.len() == got.len() && pat.iter().zip(&got).all(|(p, g)| *p == "*" || p == g)
}

/// One request as the simulator saw it, for contract tests and efficiency checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Provider it went to.
    pub provider: SimProvider,
    /// HTTP method.
    pub method: String,
    /// The spec's path template (axum route, provider prefix removed),
    /// e.g. `/v2/droplets/{droplet_id}/actions`.
    pub template: String,
    /// The concrete path, provider prefix removed.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The request body parsed as JSON (None when empty or not JSON).
    pub request_body: Option<serde_json::Value>,
    /// The response status.
    pub status: u16,
    /// The response body parsed as JSON (None when empty or not JSON).
    pub response_body: Option<serde_json::Value>,
    /// The response headers, lower-case names.
    pub response_headers: BTreeMap<String, String>,
    /// When the answer was sent: milliseconds since the simulator started
    /// (its process clock, not the simulated wall clock). For benchmarks
    /// that look at the rate over time.
    #[serde(default)]
    pub answered_ms: u64,
    /// The request's `User-Agent` (issue 15: a replica names itself in it).
    #[serde(default)]
    pub user_agent: Option<String>,
    /// The simulator's clock when the request arrived.
    #[serde(default)]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Shared simulator state. Provider modules keep their own resource state and
/// hold an `Arc<Core>` for everything here.
#[derive(Debug)]
pub struct Core {
    /// Global knobs.
    pub settings: Settings,
    /// The simulator's wall clock (timestamps, action completion). The control
    /// API can move it forward.
    pub clock: Clock,
    /// `settings.date_skew`, parsed (zero when absent or invalid; `build`
    /// refuses an invalid one before a core is made).
    date_skew: chrono::TimeDelta,
    faults: Mutex<Vec<FaultRule>>,
    counters: Mutex<BTreeMap<String, BTreeMap<String, u64>>>,
    /// The newest [`LOG_CAPACITY`] requests (a ring: the oldest drop off).
    log: Mutex<VecDeque<RecordedRequest>>,
    /// When this core was made (what `answered_ms` counts from).
    born: std::time::Instant,
}

impl Core {
    /// A core with these settings, the given clock and initial fault rules.
    pub fn new(settings: Settings, clock: Clock, faults: Vec<FaultRule>) -> Self {
        Self {
            date_skew: date_skew(settings.date_skew.as_deref()).unwrap_or_default(),
            settings,
            clock,
            faults: Mutex::new(faults),
            counters: Mutex::new(BTreeMap::new()),
            log: Mutex::new(VecDeque::new()),
            born: std::time::Instant::now(),
        }
    }

    /// The time every answer's `Date` header shows: the simulator clock
    /// plus `settings.date_skew`.
    pub fn date_header_time(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now() + self.date_skew
    }

    /// How long a snapshot of `size_gb` takes in this simulation.
    pub fn snapshot_duration(&self, size_gb: f64) -> chrono::Duration {
        let secs = (self.settings.base_seconds + self.settings.seconds_per_gb * size_gb.max(0.0))
            * self.settings.time_scale;
        chrono::Duration::milliseconds((secs * 1000.0).round() as i64)
    }

    /// Scale a published rate limit by the seed's factor (never below 1).
    pub fn scaled_limit(&self, published: f64) -> f64 {
        (published * self.settings.rate_limit_factor).max(1.0)
    }

    /// Add a fault rule.
    pub fn add_fault(&self, rule: FaultRule) {
        lock(&self.faults).push(rule);
    }

    /// Remove every fault rule.
    pub fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    /// The current fault rules.
    pub fn faults(&self) -> Vec<FaultRule> {
        lock(&self.faults).clone()
    }

    /// For provider handlers: take (consume one count of) the first rule that
    /// matches this request and whose kind satisfies `want`. A rule's `path`
    /// may name the spec's route `template` or the concrete `path`, as with
    /// transport faults.
    pub fn take_fault(
        &self,
        provider: SimProvider,
        method: &str,
        template: &str,
        path: &str,
        resource: Option<&str>,
        want: impl Fn(&FaultKind) -> bool,
    ) -> Option<FaultKind> {
        take_matching(&mut lock(&self.faults), |r| {
            want(&r.kind) && r.matches(provider, method, template, path, resource)
        })
    }

    /// Request counts: token -> "METHOD template" -> count. Requests without a
    /// bearer token are counted under "-".
    pub fn counters(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        lock(&self.counters).clone()
    }

    /// Forget all counts and the request log.
    pub fn reset_counters(&self) {
        lock(&self.counters).clear();
        lock(&self.log).clear();
    }

    /// The request log, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.log).iter().cloned().collect()
    }

    /// Milliseconds since this core was made.
    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn record(&self, token: &str, entry: RecordedRequest) {
        let key = format!("{} {}", entry.method, entry.template);
        *lock(&self.counters)
            .entry(token.to_string())
            .or_default()
            .entry(key)
            .or_default() += 1;
        let mut log = lock(&self.log);
        if log.len() >= LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(entry);
    }
}

fn take_matching(
    rules: &mut Vec<FaultRule>,
    pred: impl Fn(&FaultRule) -> bool,
) -> Option<FaultKind> {
    let idx = rules.iter().position(pred)?;
    let kind = rules[idx].kind.clone();
    match rules[idx].count {
        Some(n) if n <= 1 => {
            rules.remove(idx);
        }
        Some(n) => rules[idx].count = Some(n - 1),
        None => {}
    }
    Some(kind)
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// Builds a provider's error response from (status, code, message).
pub type ErrorBody = fn(StatusCode, &str, &str) -> Response;

/// The rate-limit headers a provider sends when it refuses a request because
/// the limit of this token (`-` when none) is spent: what an injected 429
/// wears so that it looks like a real one (nothing remaining, a reset, a
/// `retry-after` where the provider sends one), announcing a limit that
/// frees at once. Empty where the provider sends none (Vultr).
pub type SpentLimit = Arc<dyn Fn(&str) -> Vec<(&'static str, String)> + Send + Sync>;

/// State for [`middleware`]: which provider, how it shapes error bodies, and
/// the headers of its spent rate limit.
#[derive(Clone)]
pub struct Layer {
    /// The shared core.
    pub core: Arc<Core>,
    /// The provider this router serves.
    pub provider: SimProvider,
    /// The provider's error-body function.
    pub error: ErrorBody,
    /// The provider's headers for a spent rate limit (injected 429s).
    pub spent: SpentLimit,
}

/// Middleware for every provider route (install with `Router::route_layer`
/// so the matched path template is known): applies transport faults, counts
/// the request, and records request and response for contract tests.
pub async fn middleware(State(layer): State<Layer>, req: Request, next: Next) -> Response {
    let prefix = layer.provider.prefix();
    let method = req.method().as_str().to_string();
    let full_template = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let template = strip(&full_template, prefix);
    let path = strip(req.uri().path(), prefix);
    let query = req.uri().query().map(str::to_string);
    let token = bearer(req.headers()).unwrap_or("-").to_string();
    let user_agent = req
        .headers()
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let at = layer.core.clock.now();

    let (parts, body) = req.into_parts();
    let body_bytes = to_bytes(body, BODY_LIMIT).await.unwrap_or_default();
    let request_body = json_or_none(&body_bytes);
    let req = Request::from_parts(parts, Body::from(body_bytes));

    let fault = take_matching(&mut lock(&layer.core.faults), |r| {
        r.kind.is_transport() && r.matches(layer.provider, &method, &template, &path, None)
    });
    let response = match fault {
        Some(FaultKind::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut resp = (layer.error)(status, "server_error", "injected fault");
            if status == StatusCode::TOO_MANY_REQUESTS {
                for (name, value) in (layer.spent)(&token) {
                    if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
                        resp.headers_mut().insert(name, v);
                    }
                }
            }
            resp
        }
        Some(FaultKind::SlowMs(ms)) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            next.run(req).await
        }
        Some(FaultKind::Timeout) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            next.run(req).await
        }
        Some(FaultKind::Reset) => reset_response(),
        Some(FaultKind::Malformed) => (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            "{\"truncated\": [1, 2,",
        )
            .into_response(),
        Some(kind @ (FaultKind::DropFields { .. } | FaultKind::ShortPage { .. })) => {
            rewrite_json(next.run(req).await, |v| match &kind {
                FaultKind::DropFields { fields } => drop_fields(v, fields),
                FaultKind::ShortPage { drop } => short_page(v, *drop),
                _ => {}
            })
            .await
        }
        _ => next.run(req).await,
    };
    let mut response = response;
    let date = layer
        .core
        .date_header_time()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    if let Ok(value) = axum::http::HeaderValue::from_str(&date) {
        response
            .headers_mut()
            .insert(axum::http::header::DATE, value);
    }

    let (parts, body) = response.into_parts();
    // A body meant to fail is passed on unread and logged with status 0.
    let reset = parts.headers.contains_key("x-sim-reset");
    let (status, bytes, body) = if reset {
        (0, Bytes::new(), body)
    } else {
        let bytes = to_bytes(body, BODY_LIMIT).await.unwrap_or_default();
        (parts.status.as_u16(), bytes.clone(), Body::from(bytes))
    };
    let response_headers = if reset {
        BTreeMap::new()
    } else {
        parts
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect()
    };
    layer.core.record(
        &token,
        RecordedRequest {
            provider: layer.provider,
            method,
            template,
            path,
            query,
            request_body,
            status,
            response_body: json_or_none(&bytes),
            response_headers,
            answered_ms: layer.core.elapsed_ms(),
            user_agent,
            at: Some(at),
        },
    );
    Response::from_parts(parts, body)
}

/// Apply `edit` to a JSON answer's body (other answers pass unchanged).
async fn rewrite_json(response: Response, edit: impl FnOnce(&mut serde_json::Value)) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = to_bytes(body, BODY_LIMIT).await.unwrap_or_default();
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    edit(&mut value);
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let text = serde_json::to_vec(&value).unwrap_or_default();
    Response::from_parts(parts, Body::from(text))
}

/// Remove every key named in `fields`, at any depth.
fn drop_fields(value: &mut serde_json::Value, fields: &[String]) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|k, _| !fields.iter().any(|f| f == k));
            map.values_mut().for_each(|v| drop_fields(v, fields));
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| drop_fields(v, fields)),
        _ => {}
    }
}

/// Cut the last `drop` items of a list page: every top-level array except
/// the paging metadata (`links`, `meta`).
fn short_page(value: &mut serde_json::Value, drop: usize) {
    let Some(map) = value.as_object_mut() else {
        return;
    };
    for (key, v) in map.iter_mut() {
        if key != "links"
            && key != "meta"
            && let Some(items) = v.as_array_mut()
        {
            items.truncate(items.len().saturating_sub(drop));
        }
    }
}

fn strip(path: &str, prefix: &str) -> String {
    path.strip_prefix(prefix).unwrap_or(path).to_string()
}

fn json_or_none(bytes: &Bytes) -> Option<serde_json::Value> {
    if bytes.is_empty() {
        None
    } else {
        serde_json::from_slice(bytes).ok()
    }
}

/// A response whose body fails at once, so the server drops the connection
/// before a complete response reaches the client.
fn reset_response() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected connection reset",
        ))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut()
        .insert("x-sim-reset", axum::http::HeaderValue::from_static("1"));
    resp
}

/// A token bucket: `capacity` requests, refilled continuously at `per_second`.
/// Used for Hetzner's 3,600/h (1/s refill) and Vultr's ~30/s.
#[derive(Debug)]
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(capacity: f64, per_second: f64) -> Self {
        Self {
            capacity,
            per_second,
            tokens: capacity,
            last: Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = now;
    }

    /// Take one token; `false` means the limit is hit.
    pub fn try_take(&mut self) -> bool {
        self.refill();
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// The limit (capacity).
    pub fn limit(&self) -> u64 {
        self.capacity as u64
    }

    /// Whole tokens left.
    pub fn remaining(&mut self) -> u64 {
        self.refill();
        self.tokens.floor() as u64
    }

    /// Seconds until the bucket is full again.
    pub fn secs_until_full(&mut self) -> u64 {
        self.refill();
        ((self.capacity - self.tokens) / self.per_second).ceil() as u64
    }

    /// Seconds until one token is available.
    pub fn secs_until_one(&mut self) -> u64 {
        self.refill();
        if self.tokens >= 1.0 {
            0
        } else {
            ((1.0 - self.tokens) / self.per_second).ceil() as u64
        }
    }
}

/// A sliding window: at most `limit` requests in any `window` (each request
/// counts from when it was made). Used for DigitalOcean's 5,000/h and 250/min.
#[derive(Debug)]
pub struct SlidingWindow {
    limit: usize,
    window: Duration,
    hits: std::collections::VecDeque<Instant>,
}

impl SlidingWindow {
    /// An empty window.
    pub fn new(limit: usize, window: Duration) -> Self {
        Self {
            limit,
            window,
            hits: std::collections::VecDeque::new(),
        }
    }

    fn expire(&mut self, now: Instant) {
        while self
            .hits
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            self.hits.pop_front();
        }
    }

    /// Count one request; `false` means the limit is hit (nothing counted).
    pub fn try_hit(&mut self) -> bool {
        let now = Instant::now();
        self.expire(now);
        if self.hits.len() < self.limit {
            self.hits.push_back(now);
            true
        } else {
            false
        }
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Requests left in the current window.
    pub fn remaining(&mut self) -> usize {
        self.expire(Instant::now());
        self.limit.saturating_sub(self.hits.len())
    }

    /// Time until the oldest counted request expires (zero when none).
    pub fn until_oldest_expires(&mut self) -> Duration {
        let now = Instant::now();
        self.expire(now);
        self.hits
            .front()
            .map(|t| self.window.saturating_sub(now.duration_since(*t)))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_patterns_match_segments() {
        let cases = [
            ("/v2/droplets/*/actions", "/v2/droplets/101/actions", true),
            (
                "/v2/droplets/{droplet_id}/actions",
                "/v2/droplets/{droplet_id}/actions",
                true,
            ),
            ("/v2/droplets/*/actions", "/v2/droplets/101", false),
            ("/snapshots", "/snapshots/", true),
            ("/images/*", "/images", false),
        ];
        for (pattern, path, want) in cases {
            assert_eq!(path_matches(pattern, path), want, "{pattern} vs {path}");
        }
    }

    #[test]
    fn date_skews_are_signed_durations() {
        let cases = [
            (None, Some(chrono::TimeDelta::zero())),
            (Some("-3h"), Some(chrono::TimeDelta::hours(-3))),
            (Some("+400d"), Some(chrono::TimeDelta::days(400))),
            (Some("90s"), Some(chrono::TimeDelta::seconds(90))),
            (Some("soon"), None),
        ];
        for (text, want) in cases {
            assert_eq!(date_skew(text).ok(), want, "{text:?}");
        }
        assert!(
            date_skew(Some("-x"))
                .unwrap_err()
                .contains("settings.date_skew")
        );
    }

    #[test]
    fn response_faults_edit_the_body() {
        let mut v = serde_json::json!({
            "snapshot": {"id": "a", "status": "pending", "date_created": "x"},
            "meta": {"total": 3, "status": "kept?"}
        });
        drop_fields(&mut v, &["status".into(), "date_created".into()]);
        assert_eq!(
            v,
            serde_json::json!({"snapshot": {"id": "a"}, "meta": {"total": 3}})
        );
        let mut page = serde_json::json!({
            "droplets": [1, 2, 3],
            "links": {"pages": {}},
            "meta": {"total": 3}
        });
        short_page(&mut page, 2);
        assert_eq!(page["droplets"], serde_json::json!([1]));
        assert_eq!(page["meta"]["total"], 3);
    }

    #[test]
    fn counted_faults_run_out() {
        let core = Core::new(Settings::default(), Clock::system(), Vec::new());
        core.add_fault(FaultRule {
            provider: Some(SimProvider::Hetzner),
            method: Some("DELETE".into()),
            path: Some("/images/*".into()),
            resource: None,
            kind: FaultKind::Protected,
            count: Some(2),
        });
        let take = || {
            core.take_fault(
                SimProvider::Hetzner,
                "DELETE",
                "/images/{id}",
                "/images/7",
                None,
                |k| *k == FaultKind::Protected,
            )
        };
        assert_eq!(take(), Some(FaultKind::Protected));
        assert_eq!(take(), Some(FaultKind::Protected));
        assert_eq!(take(), None);
    }

    #[test]
    fn sliding_window_refuses_past_limit() {
        let mut w = SlidingWindow::new(3, Duration::from_secs(60));
        assert!(w.try_hit() && w.try_hit() && w.try_hit());
        assert!(!w.try_hit());
        assert_eq!(w.remaining(), 0);
        assert!(w.until_oldest_expires() > Duration::from_secs(59));
    }

    #[test]
    fn token_bucket_refuses_when_empty() {
        let mut b = TokenBucket::new(2.0, 0.001);
        assert!(b.try_take() && b.try_take());
        assert!(!b.try_take());
        assert!(b.secs_until_one() > 0);
    }
}
