//! Simulated Hetzner Cloud API v1, served under `/hetzner/v1` with the spec's
//! paths (`/servers`, `/images`, `/actions`, …).
//!
//! Owns the Hetzner side of the simulator: projects and their tokens, servers,
//! snapshot/backup images made by `create_image` actions that finish after
//! the configured duration, the read-only inventory, label selectors,
//! pagination (`meta.pagination` + `Link`), the per-project token-bucket rate
//! limit with `RateLimit-*` headers, the official error body and code/status
//! table, and the semantic faults (`ActionError`, `ActionStuck`, `Locked`,
//! `Quota`, `Protected`). Must never: share code with `crate::provider`, read
//! time other than through `core.clock`, or hold its state lock across an
//! `.await`. See `docs/sim-hetzner.md` for the seed format and every choice
//! made where the spec is silent.

pub mod catalog;
pub mod model;
pub mod query;
pub mod seed;
pub mod selector;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::Served;
use super::core::{self, Core, FaultKind, SimProvider, TokenBucket};
use model::{Action, Image, Item, Outcome, Project};
use query::{Paging, Query};
use selector::Selector;

/// The built-in demo seed for this provider's section: one project with a
/// read-write and a read-only token, three servers (two labelled
/// `backup=true`), two manual snapshots that must survive, and a little
/// inventory.
pub const DEMO_SEED: &str = r#"
projects:
  - name: demo-project
    tokens:
      - token: simulatedHetznerDemoReadWriteToken000000000000000000000000000000
      - token: simulatedHetznerDemoReadOnlyToken0000000000000000000000000000000
        read_only: true
    servers:
      - id: 42000101
        name: web-1
        labels: { backup: "true", role: web }
        server_type: cx22
        location: fsn1
      - id: 42000102
        name: db-1
        labels: { backup: "true", role: db }
        server_type: cx32
        location: nbg1
        backups: true
      - id: 42000103
        name: scratch
        labels: { role: scratch }
        server_type: cpx11
        location: hel1
        status: "off"
    images:
      - id: 210000101
        server: web-1
        description: before-upgrade
        labels: { note: manual }
        age: 20d
      - id: 210000102
        server: db-1
        description: before-migration-to-pg16
        age: 45d
        protected: true
    volumes:
      - name: db-data
        size: 100
        location: nbg1
        server: db-1
        labels: { role: db }
    load_balancers:
      - name: lb-web
        labels: { role: web }
    firewalls:
      - name: fw-default
    networks:
      - name: private
        ip: 10.0.0.0/16
    floating_ips:
      - name: web-ip
        server: web-1
    primary_ips:
      - name: web-1-v4
        server: web-1
"#;

/// The published limit: 3,600 requests per hour per project, refilling one
/// per second.
const PER_HOUR: f64 = 3600.0;

use crate::sim::core::window_scale;

/// One project's bucket: 3,600 × `rate_limit_factor` requests, refilled in
/// full once per hour × `window_scale` (1/s at the published numbers), so
/// `RateLimit-Reset` follows the scaled refill too.
fn project_bucket(core: &Core, window_scale: f64) -> TokenBucket {
    let capacity = core.scaled_limit(PER_HOUR);
    TokenBucket::new(capacity, capacity / (PER_HOUR * window_scale))
}

/// Status for `token_readonly`. The official error table (docs.hetzner.cloud,
/// "Errors") lists it under 401, next to `unauthorized`; see the docs file.
const TOKEN_READONLY_STATUS: StatusCode = StatusCode::UNAUTHORIZED;

struct Hz {
    core: Arc<Core>,
    tokens: BTreeMap<String, (usize, bool)>,
    state: Mutex<HzState>,
}

struct HzState {
    projects: Vec<Project>,
    ids: seed::Ids,
    buckets: Vec<TokenBucket>,
    anonymous: TokenBucket,
}

impl Hz {
    fn lock(&self) -> MutexGuard<'_, HzState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lock, bring the project up to `now`, and run `f` on it.
    fn with<T>(&self, project: usize, f: impl FnOnce(&mut Project, &mut seed::Ids) -> T) -> T {
        let now = self.core.clock.now();
        let mut st = self.lock();
        let HzState { projects, ids, .. } = &mut *st;
        match projects.get_mut(project) {
            Some(p) => {
                p.tick(now);
                f(p, ids)
            }
            // Unreachable: the gate only lets known projects through.
            None => f(&mut Project::default(), ids),
        }
    }

    /// The rate limit of `token`'s project (the shared bucket for unknown
    /// tokens) without taking from it: (limit, remaining, reset epoch).
    fn peek(&self, token: &str) -> (u64, u64, i64) {
        let project = self.tokens.get(token).map(|(p, _)| *p);
        let now = self.core.clock.now().timestamp();
        let mut st = self.lock();
        let bucket = match project.filter(|p| *p < st.buckets.len()) {
            Some(p) => &mut st.buckets[p],
            None => &mut st.anonymous,
        };
        let secs = i64::try_from(bucket.secs_until_full()).unwrap_or(i64::MAX / 2);
        (bucket.limit(), bucket.remaining(), now + secs)
    }

    fn fault(
        &self,
        method: &str,
        template: &str,
        path: &str,
        resource: u64,
        want: impl Fn(&FaultKind) -> bool,
    ) -> Option<FaultKind> {
        let res = resource.to_string();
        self.core.take_fault(
            SimProvider::Hetzner,
            method,
            template,
            path,
            Some(&res),
            want,
        )
    }
}

/// Which project the request's token belongs to (set by the gate).
#[derive(Debug, Clone, Copy)]
struct Ctx {
    project: usize,
}

/// Build this provider's router from its seed section.
///
/// # Errors
/// A message naming what is wrong in the seed section.
pub fn serve(core: Arc<Core>, seed: Option<&yaml_serde::Value>) -> Result<Served, String> {
    let checked = seed::check(seed, core.clock.now())?;
    let scale = window_scale(core.settings.rate_window_scale)?;
    let bucket = || project_bucket(&core, scale);
    let hz = Arc::new(Hz {
        core: core.clone(),
        tokens: checked.tokens,
        state: Mutex::new(HzState {
            buckets: checked.projects.iter().map(|_| bucket()).collect(),
            anonymous: bucket(),
            projects: checked.projects,
            ids: checked.ids,
        }),
    });
    let router = Router::new()
        .route("/servers", get(list_servers))
        .route("/servers/{id}", get(get_server))
        .route("/servers/actions", get(list_actions::<false>))
        .route("/servers/actions/{id}", get(get_action))
        .route("/servers/{id}/actions", get(list_server_actions))
        .route("/servers/{id}/actions/{action_id}", get(get_server_action))
        .route("/servers/{id}/actions/create_image", post(create_image))
        .route("/actions", get(get_multiple_actions))
        .route("/actions/{id}", get(get_action))
        .route("/images", get(list_images))
        .route("/images/actions", get(list_actions::<true>))
        .route(
            "/images/{id}",
            get(get_image).put(put_image).delete(delete_image),
        )
        .route("/volumes", get(list_volumes))
        .route("/volumes/{id}", get(get_volume))
        .route("/load_balancers", get(list_load_balancers))
        .route("/load_balancers/{id}", get(get_load_balancer))
        .route("/firewalls", get(list_firewalls))
        .route("/firewalls/{id}", get(get_firewall))
        .route("/networks", get(list_networks))
        .route("/networks/{id}", get(get_network))
        .route("/floating_ips", get(list_floating_ips))
        .route("/floating_ips/{id}", get(get_floating_ip))
        .route("/primary_ips", get(list_primary_ips))
        .route("/primary_ips/{id}", get(get_primary_ip))
        .route_layer(from_fn_with_state(hz.clone(), gate))
        .route_layer(from_fn_with_state(
            core::Layer {
                core,
                provider: SimProvider::Hetzner,
                error: error_body,
                spent: {
                    let hz = hz.clone();
                    // A limit spent that frees at once (reset now): a real
                    // refusal's headers without the wait; the bucket's own
                    // refusals announce the real one.
                    Arc::new(move |token: &str| {
                        let (limit, _, _) = hz.peek(token);
                        rate_headers(limit, 0, hz.core.clock.now().timestamp())
                    })
                },
            },
            core::middleware,
        ))
        // Unknown paths and methods: the official error body, with the
        // rate-limit headers (peeked, not counted).
        .fallback(unknown_route)
        .method_not_allowed_fallback(unknown_method)
        .with_state(hz.clone());
    let dump = hz.clone();
    Ok(Served {
        router,
        tokens: checked.infos,
        state: Arc::new(move || state_json(&dump)),
    })
}

fn state_json(hz: &Hz) -> Value {
    let now = hz.core.clock.now();
    let mut st = hz.lock();
    let projects: Vec<Value> = st
        .projects
        .iter_mut()
        .map(|p| {
            p.tick(now);
            json!({
                "name": p.name,
                "snapshot_limit": p.snapshot_limit,
                "servers": p.servers.iter().map(|s| p.server_json(s)).collect::<Vec<_>>(),
                "images": p.images.iter().map(model::image_json).collect::<Vec<_>>(),
                "actions": p.actions.iter().map(|a| model::action_json(a, now)).collect::<Vec<_>>(),
                "volumes": p.volumes.iter().map(model::volume_json).collect::<Vec<_>>(),
                "load_balancers": p.load_balancers.iter().map(model::load_balancer_json).collect::<Vec<_>>(),
                "firewalls": p.firewalls.iter().map(model::firewall_json).collect::<Vec<_>>(),
                "networks": p.networks.iter().map(model::network_json).collect::<Vec<_>>(),
                "floating_ips": p.floating_ips.iter().map(model::floating_ip_json).collect::<Vec<_>>(),
                "primary_ips": p.primary_ips.iter().map(model::primary_ip_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "projects": projects })
}

// ---------------------------------------------------------------- errors

/// An error answer: rendered as the official body
/// `{"error": {"code", "message", "details"}}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Value,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        body_of(self.status, self.code, &self.message, self.details)
    }
}

fn body_of(status: StatusCode, code: &str, message: &str, details: Value) -> Response {
    (
        status,
        axum::Json(json!({ "error": { "code": code, "message": message, "details": details } })),
    )
        .into_response()
}

fn err(status: StatusCode, code: &'static str, message: &str, details: Value) -> ApiError {
    ApiError {
        status,
        code,
        message: message.to_string(),
        details,
    }
}

/// The body for transport-level injected statuses (core middleware): the code
/// the official table pairs with that status.
fn error_body(status: StatusCode, code: &str, message: &str) -> Response {
    let (code, message) = match (code, status.as_u16()) {
        ("server_error", 429) => ("rate_limit_exceeded", RATE_LIMITED),
        ("server_error", 503) => ("unavailable", message),
        ("server_error", 504) => ("timeout", message),
        ("server_error", 502) => ("bad_gateway", message),
        (c, _) => (c, message),
    };
    body_of(status, code, message, json!({}))
}

/// The message of a 429 (injected or real).
const RATE_LIMITED: &str = "limit of requests per hour reached";

/// The `RateLimit-*` headers of one answer.
fn rate_headers(limit: u64, remaining: u64, reset: i64) -> Vec<(&'static str, String)> {
    vec![
        ("ratelimit-limit", limit.to_string()),
        ("ratelimit-remaining", remaining.to_string()),
        ("ratelimit-reset", reset.to_string()),
    ]
}

fn with_headers(mut resp: Response, headers: Vec<(&'static str, String)>) -> Response {
    let h = resp.headers_mut();
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    resp
}

/// A path the API does not have: 404 `not_found`, rate-limit headers peeked.
async fn unknown_route(State(hz): State<Arc<Hz>>, headers: HeaderMap) -> Response {
    refusal(
        &hz,
        &headers,
        StatusCode::NOT_FOUND,
        "not_found",
        "the requested resource was not found",
    )
}

/// A known path with a method it does not take: 405 with the error body
/// (the official table lists no code for it; `method_not_allowed` is the
/// simulator's choice, see docs/sim-hetzner.md).
async fn unknown_method(State(hz): State<Arc<Hz>>, headers: HeaderMap) -> Response {
    refusal(
        &hz,
        &headers,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "the method is not allowed for this resource",
    )
}

/// An error answer outside the served routes, with the caller's rate-limit
/// headers peeked (not spent).
fn refusal(
    hz: &Hz,
    headers: &HeaderMap,
    status: StatusCode,
    code: &'static str,
    message: &'static str,
) -> Response {
    let (limit, remaining, reset) = hz.peek(core::bearer(headers).unwrap_or("-"));
    let resp = err(status, code, message, json!({})).into_response();
    with_headers(resp, rate_headers(limit, remaining, reset))
}

/// `invalid_input` (422 in the official table) naming the field.
fn invalid(field: &str, message: &str) -> ApiError {
    err(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
        &format!("invalid input in field '{field}'"),
        json!({ "fields": [{ "name": field, "messages": [message] }] }),
    )
}

fn not_found(kind: &str, id: u64) -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("{kind} with ID '{id}' not found"),
        json!({}),
    )
}

/// A path id: the spec says int64; anything else is `invalid_input`.
fn path_id(raw: &str, field: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .map_err(|_| invalid(field, "must be an integer"))
}

type Res = Result<Response, ApiError>;

fn done(r: Res) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

// ---------------------------------------------------------------- gate

/// Rate limit (every request, per project; a shared bucket for requests
/// without a known token), then auth, then the read-only check. Adds the
/// `RateLimit-*` headers to whatever the handler answers.
async fn gate(State(hz): State<Arc<Hz>>, mut req: Request, next: Next) -> Response {
    let found = core::bearer(req.headers()).and_then(|t| hz.tokens.get(t).copied());
    let now = hz.core.clock.now().timestamp();
    let (allowed, limit, remaining, reset) = {
        let mut st = hz.lock();
        let bucket = match found.and_then(|(p, _)| st.buckets.get_mut(p).map(|_| p)) {
            Some(p) => &mut st.buckets[p],
            None => &mut st.anonymous,
        };
        let allowed = bucket.try_take();
        let secs = i64::try_from(bucket.secs_until_full()).unwrap_or(i64::MAX / 2);
        (allowed, bucket.limit(), bucket.remaining(), now + secs)
    };
    let resp = if !allowed {
        err(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_exceeded",
            RATE_LIMITED,
            json!({}),
        )
        .into_response()
    } else {
        match found {
            None => err(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "unable to authenticate",
                json!({}),
            )
            .into_response(),
            Some((_, true)) if req.method() != Method::GET && req.method() != Method::HEAD => err(
                TOKEN_READONLY_STATUS,
                "token_readonly",
                "The token is only allowed to perform GET requests",
                json!({}),
            )
            .into_response(),
            Some((project, _)) => {
                req.extensions_mut().insert(Ctx { project });
                next.run(req).await
            }
        }
    };
    with_headers(resp, rate_headers(limit, remaining, reset))
}

// ---------------------------------------------------------------- lists

fn labels_of(v: &Value) -> model::Labels {
    v["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Check every value of a repeatable enum parameter.
fn enum_values(q: &Query, key: &str, allowed: &[&str]) -> Result<Vec<String>, ApiError> {
    q.all(key)
        .into_iter()
        .map(|v| {
            if allowed.contains(&v) {
                Ok(v.to_string())
            } else {
                Err(invalid(
                    key,
                    &format!("'{v}' is not one of {}", allowed.join(", ")),
                ))
            }
        })
        .collect()
}

/// `name`, `label_selector` and (when `statuses` is given) `status` filters.
fn common_filters(
    items: Vec<Value>,
    q: &Query,
    statuses: Option<&[&str]>,
) -> Result<Vec<Value>, ApiError> {
    let selector = match q.one("label_selector") {
        Some(text) => Some(Selector::parse(text).map_err(|e| invalid("label_selector", &e))?),
        None => None,
    };
    let wanted = match statuses {
        Some(allowed) => enum_values(q, "status", allowed)?,
        None => Vec::new(),
    };
    let name = q.one("name");
    Ok(items
        .into_iter()
        .filter(|v| name.is_none_or(|n| v["name"].as_str() == Some(n)))
        .filter(|v| selector.as_ref().is_none_or(|s| s.matches(&labels_of(v))))
        .filter(|v| {
            wanted.is_empty()
                || v["status"]
                    .as_str()
                    .is_some_and(|s| wanted.iter().any(|w| w == s))
        })
        .collect())
}

/// Sort, page and answer `{key: [...], meta}` with a `Link` header.
fn page(
    key: &str,
    items: Vec<Value>,
    q: &Query,
    sortable: &[&str],
    headers: &HeaderMap,
    uri: &Uri,
) -> Res {
    page_of(key, items, q, sortable, headers, uri, Some)
}

/// [`page`] over items that hold only what filters and sorts read: `whole`
/// writes out each item of the page (`None` leaves it out).
fn page_of(
    key: &str,
    mut items: Vec<Value>,
    q: &Query,
    sortable: &[&str],
    headers: &HeaderMap,
    uri: &Uri,
    whole: impl FnMut(Value) -> Option<Value>,
) -> Res {
    let keys = query::sort_keys(q, sortable).map_err(|(f, m)| invalid(&f, &m))?;
    let paging = Paging::from_query(q).map_err(|(f, m)| invalid(&f, &m))?;
    items.sort_by(|a, b| query::compare(a, b, &keys));
    let (items, meta, links) = paging.apply(items);
    let items: Vec<Value> = items.into_iter().filter_map(whole).collect();
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let base = format!(
        "http://{host}{}{}",
        SimProvider::Hetzner.prefix(),
        uri.path()
    );
    let mut resp = axum::Json(json!({ key: items, "meta": meta })).into_response();
    if let Ok(v) = HeaderValue::from_str(&links.header(&base, q)) {
        resp.headers_mut().insert(axum::http::header::LINK, v);
    }
    Ok(resp)
}

const SORT_BASIC: &[&str] = &["id", "name", "created"];
const SORT_IP: &[&str] = &["id", "created"];
const SORT_ACTIONS: &[&str] = &["id", "command", "status", "started", "finished"];
const SERVER_STATUSES: &[&str] = &[
    "running",
    "initializing",
    "starting",
    "stopping",
    "off",
    "deleting",
    "migrating",
    "rebuilding",
    "unknown",
];
const ACTION_STATUSES: &[&str] = &["running", "success", "error"];

// ---------------------------------------------------------------- servers

async fn list_servers(
    State(hz): State<Arc<Hz>>,
    Extension(ctx): Extension<Ctx>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let q = Query::parse(uri.query());
    done(hz.with(ctx.project, |p, _| {
        // Filtered and sorted on the fields the query can name; only the
        // page's servers are written out whole (a server's JSON carries its
        // type, data centre and location: a page of 50 out of thousands
        // would otherwise cost thousands).
        let keys = p
            .servers
            .iter()
            .map(|s| {
                json!({
                    "id": s.id,
                    "name": s.name,
                    "status": s.status,
                    "created": model::ts(s.created),
                    "labels": s.labels,
                })
            })
            .collect();
        let items = common_filters(keys, &q, Some(SERVER_STATUSES))?;
        page_of("servers", items, &q, SORT_BASIC, &headers, &uri, |key| {
            key["id"]
                .as_u64()
                .and_then(|id| p.server(id))
                .map(|s| p.server_json(s))
        })
    }))
}

async fn get_server(
    State(hz): State<Arc<Hz>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Response {
    done(path_id(&id, "id").and_then(|id| {
        hz.with(ctx.project, |p, _| match p.server(id) {
            Some(s) => Ok(axum::Json(json!({ "server": p.server_json(s) })).into_response()),
            None => Err(not_found("server", id)),
        })
    }))
}

// ---------------------------------------------------------------- actions

/// Whose actions a listing shows.
#[derive(Debug, Clone, Copy)]
enum Of {
    /// Every server's (`/servers/actions`, takes `id=`).
    Servers,
    /// One server's (`/servers/{id}/actions`).
    Server(u64),
    /// Those that touch an image (`/images/actions`, takes `id=`).
    Images,
}

fn actions_list(hz: &Hz, ctx: Ctx, of: Of, uri: &Uri, headers: &HeaderMap) -> Res {
    let q = Query::parse(uri.query());
    let server = match of {
        Of::Server(id) => Some(id),
        Of::Servers | Of::Images => None,
    };
    let ids = if !matches!(of, Of::Server(_)) {
        q.all("id")
            .into_iter()
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| invalid("id", "must be an integer"))
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    let now = hz.core.clock.now();
    let items = hz.with(ctx.project, |p, _| {
        if let Some(sid) = server
            && p.server(sid).is_none()
        {
            return Err(not_found("server", sid));
        }
        Ok(p.actions
            .iter()
            .filter(|a| server.is_none_or(|s| a.server == s))
            .filter(|a| !matches!(of, Of::Images) || a.image.is_some())
            .filter(|a| ids.is_empty() || ids.contains(&a.id))
            .map(|a| model::action_json(a, now))
            .collect::<Vec<_>>())
    })?;
    let items = common_filters(items, &Query(Vec::new()), None)?;
    let wanted = enum_values(&q, "status", ACTION_STATUSES)?;
    let items = items
        .into_iter()
        .filter(|v| {
            wanted.is_empty()
                || v["status"]
                    .as_str()
                    .is_some_and(|s| wanted.iter().any(|w| w == s))
        })
        .collect();
    page("actions", items, &q, SORT_ACTIONS, headers, uri)
}

/// `GET /servers/actions` (every server's), and with `IMAGES` `GET
/// /images/actions`: the actions that touch an image (here the
/// `create_image` actions, whose resources name the image they make).
async fn list_actions<const IMAGES: bool>(
    State(hz): State<Arc<Hz>>,
    Extension(ctx): Extension<Ctx>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let of = if IMAGES { Of::Images } else { Of::Servers };
    done(actions_list(&hz, ctx, of, &uri, &headers))
}

async fn list_server_actions(
    State(hz): State<Arc<Hz>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    done(path_id(&id, "id").and_then(|id| actions_list(&hz, ctx, Of::Server(id), &uri, &headers)))
}

fn one_action(hz: &Hz, ctx: Ctx, id: u64, server: Option<u64>) -> Res {
    let now = hz.core.clock.now();
    hz.with(ctx.project, |p, _| {
        if let Some(sid) = server
            && p.server(sid).is_none()
        {
            return Err(not_found("server", sid));
        }
        p.actions
            .iter()
            .find(|a| a.id == id && server.is_none_or(|s| a.server == s))
            .map(|a| axum::Json(json!({ "action": model::action_json(a, now) })).into_response())
            .ok_or_else(|| not_found("action", id))
    })
}

async fn get_action(
    State(hz): State<Arc<Hz>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Response {
    done(path_id(&id, "id").and_then(|id| one_action(&hz, ctx, id, None)))
}

async fn get_server_action(
    State(hz): State<Arc<Hz>>,
    Extension(ctx): Extension<Ctx>,
    Path((id, action_id)): Path<(String, String)>,
) -> Response {
    done(path_id(&id, "id").and_then(|sid| {
        path_id(&action_id, "action_id").and_then(|aid| one_action(&hz, ctx, aid, Some(sid)))
    }))
}

/// `GET /actions?id=…`: the spec makes `id` required (listing every action
/// was removed in January 2025); unknown ids are left out.
async fn get_multiple_actions(
    State(hz): State<Arc<Hz>>,
    Extension(ctx): Extension<Ctx>,
    uri: Uri,
) -> Response {
    let q = Query::parse(uri.query());
    let raw = q.all("id");
    if raw.is_empty() {
        return invalid("id", "is required").into_response();
    }
    let ids = match raw
        .into_iter()
        .map(|v| v.parse::<u64>())
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(ids) => ids,
        Err(_) => return invalid("id", "must be an integer").into_response(),
    };
    let now = hz.core.clock.now();
    let actions = hz.with(ctx.project, |p, _| {
        p.actions
            .iter()
            .filter(|a| ids.contains(&a.id))
            .map(|a| model::action_json(a, now))
            .collect::<Vec<_>>()
    });
    axum::Json(json!({ "actions": actions })).into_response()
}

// ---------------------------------------------------------------- create_image

fn body_object(body: &Bytes) -> Result<serde_json::Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        err(
            StatusCode::BAD_REQUEST,
            "json_error",
            &format!("invalid JSON in request body: {e}"),
            json!({}),
        )
    })?;
    match value {
        Value::Object(m) => Ok(m),
        _ => Err(invalid("body", "must be a JSON object")),
    }
}

fn body_labels(body: &serde_json::Map<String, Value>) -> Result<Option<model::Labels>, ApiError> {
    let Some(raw) = body.get("labels") else {
        return Ok(None);
    };
    let Some(map) = raw.as_object() else {
        return Err(invalid("labels", "must be an object of strings"));
    };
    let mut labels = model::Labels::new();
    for (k, v) in map {
        let Some(v) = v.as_str() else {
            return Err(invalid(
                "labels",
                &format!("value of '{k}' must be a string"),
            ));
        };
        labels.insert(k.clone(), v.to_string());
    }
    selector::check_labels(&labels).map_err(|bad| invalid("labels", &bad.join("; ")))?;
    Ok(Some(labels))
}

fn body_string(
    body: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(key, "must be a string")),
    }
}

async fn create_image(
    State(hz): State<Arc<Hz>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    done(create_image_inner(&hz, ctx, &id, &uri, &body))
}

fn create_image_inner(hz: &Hz, ctx: Ctx, id: &str, uri: &Uri, body: &Bytes) -> Res {
    const TEMPLATE: &str = "/servers/{id}/actions/create_image";
    let server_id = path_id(id, "id")?;
    let body = body_object(body)?;
    let kind = body_string(&body, "type")?.unwrap_or_else(|| "snapshot".into());
    if kind != "snapshot" && kind != "backup" {
        return Err(invalid("type", "must be one of backup, snapshot"));
    }
    let description = body_string(&body, "description")?;
    let labels = body_labels(&body)?.unwrap_or_default();
    let now = hz.core.clock.now();
    let path = uri.path().to_string();
    hz.with(ctx.project, |p, ids| {
        let Some(server) = p.server(server_id).cloned() else {
            return Err(not_found("server", server_id));
        };
        let locked = hz
            .fault("POST", TEMPLATE, &path, server_id, |k| {
                *k == FaultKind::Locked
            })
            .is_some()
            || p.locked(server_id);
        if locked {
            return Err(err(
                StatusCode::LOCKED,
                "locked",
                "server is locked: another action is running",
                json!({}),
            ));
        }
        if kind == "backup" && !server.backups {
            return Err(err(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unsupported_error",
                "backups are not enabled for this server",
                json!({}),
            ));
        }
        // The project's image quota counts snapshots and backups (system
        // images belong to Hetzner, not to the project).
        let at_limit = p
            .snapshot_limit
            .is_some_and(|limit| p.images.len() >= limit);
        if at_limit
            || hz
                .fault("POST", TEMPLATE, &path, server_id, |k| {
                    *k == FaultKind::Quota
                })
                .is_some()
        {
            return Err(err(
                StatusCode::FORBIDDEN,
                "resource_limit_exceeded",
                "image limit exceeded",
                json!({ "limits": [{ "name": "image_limit" }] }),
            ));
        }
        let outcome = match hz.fault("POST", TEMPLATE, &path, server_id, |k| {
            matches!(k, FaultKind::ActionError | FaultKind::ActionStuck)
        }) {
            Some(FaultKind::ActionError) => Outcome::Error,
            Some(FaultKind::ActionStuck) => Outcome::Stuck,
            _ => Outcome::Success,
        };
        let image_id = ids.image;
        ids.image += 1;
        let action_id = ids.action;
        ids.action += 1;
        let image = Image {
            id: image_id,
            kind: kind.clone(),
            status: "creating".into(),
            description: description
                .unwrap_or_else(|| format!("{}-{}", server.name, now.format("%Y%m%d%H%M%S"))),
            labels,
            created: now,
            created_from: Some((server.id, server.name.clone())),
            bound_to: (kind == "backup").then_some(server.id),
            disk_size: server.disk_gb as f64,
            image_size: None,
            protected: false,
            architecture: server.server_type.architecture.to_string(),
            os_flavor: server
                .image
                .and_then(catalog::system_image_by_id)
                .map_or("unknown", |i| i.os_flavor)
                .to_string(),
            os_version: server
                .image
                .and_then(catalog::system_image_by_id)
                .map(|i| i.os_version.to_string()),
            deprecated: None,
        };
        let action = Action {
            id: action_id,
            command: "create_image".into(),
            server: server.id,
            image: Some(image_id),
            started: now,
            duration: hz.core.snapshot_duration(server.disk_gb as f64),
            outcome,
            status: "running".into(),
            finished: None,
        };
        let body = json!({
            "action": model::action_json(&action, now),
            "image": model::image_json(&image),
        });
        p.images.push(image);
        p.actions.push(action);
        Ok((StatusCode::CREATED, axum::Json(body)).into_response())
    })
}

// ---------------------------------------------------------------- images

fn all_images(p: &Project) -> Vec<Value> {
    catalog::SYSTEM_IMAGES
        .iter()
        .map(catalog::system_image_json)
        .chain(p.images.iter().map(model::image_json))
        .collect()
}

async fn list_images(
    State(hz): State<Arc<Hz>>,
    Extension(ctx): Extension<Ctx>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    done(list_images_inner(&hz, ctx, &uri, &headers))
}

fn list_images_inner(hz: &Hz, ctx: Ctx, uri: &Uri, headers: &HeaderMap) -> Res {
    let q = Query::parse(uri.query());
    let types = enum_values(&q, "type", &["system", "app", "snapshot", "backup"])?;
    let arch = enum_values(&q, "architecture", &["x86", "arm"])?;
    let include_deprecated = match q.one("include_deprecated") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(invalid("include_deprecated", "must be true or false")),
    };
    let bound: Vec<&str> = q.all("bound_to");
    let items = hz.with(ctx.project, |p, _| all_images(p));
    let items = common_filters(items, &q, Some(&["available", "creating", "unavailable"]))?
        .into_iter()
        .filter(|v| types.is_empty() || types.iter().any(|t| v["type"] == t.as_str()))
        .filter(|v| arch.is_empty() || arch.iter().any(|a| v["architecture"] == a.as_str()))
        .filter(|v| include_deprecated || v["deprecated"].is_null())
        .filter(|v| {
            bound.is_empty()
                || v["bound_to"]
                    .as_u64()
                    .is_some_and(|b| bound.contains(&b.to_string().as_str()))
        })
        .collect();
    page("images", items, &q, SORT_BASIC, headers, uri)
}

async fn get_image(
    State(hz): State<Arc<Hz>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Response {
    done(path_id(&id, "id").and_then(|id| {
        hz.with(ctx.project, |p, _| {
            all_images(p)
                .into_iter()
                .find(|v| v["id"].as_u64() == Some(id))
                .map(|v| axum::Json(json!({ "image": v })).into_response())
                .ok_or_else(|| not_found("image", id))
        })
    }))
}

fn unsupported_for_system(id: u64) -> Option<ApiError> {
    catalog::system_image_by_id(id).map(|_| {
        err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_error",
            "only images of type snapshot and backup can be changed or deleted",
            json!({}),
        )
    })
}

async fn put_image(
    State(hz): State<Arc<Hz>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    done(put_image_inner(&hz, ctx, &id, &body))
}

fn put_image_inner(hz: &Hz, ctx: Ctx, id: &str, body: &Bytes) -> Res {
    let id = path_id(id, "id")?;
    let body = body_object(body)?;
    let description = body_string(&body, "description")?;
    let kind = body_string(&body, "type")?;
    if kind.as_deref().is_some_and(|k| k != "snapshot") {
        return Err(invalid("type", "must be snapshot"));
    }
    let labels = body_labels(&body)?;
    if let Some(resp) = unsupported_for_system(id) {
        return Err(resp);
    }
    hz.with(ctx.project, |p, _| {
        let Some(img) = p.images.iter_mut().find(|i| i.id == id) else {
            return Err(not_found("image", id));
        };
        if let Some(d) = description {
            img.description = d;
        }
        if let Some(l) = labels {
            img.labels = l;
        }
        if kind.is_some() {
            img.kind = "snapshot".into();
            img.bound_to = None;
        }
        Ok(axum::Json(json!({ "image": model::image_json(img) })).into_response())
    })
}

async fn delete_image(
    State(hz): State<Arc<Hz>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    done(delete_image_inner(&hz, ctx, &id, &uri))
}

fn delete_image_inner(hz: &Hz, ctx: Ctx, id: &str, uri: &Uri) -> Res {
    let id = path_id(id, "id")?;
    if let Some(resp) = unsupported_for_system(id) {
        return Err(resp);
    }
    let path = uri.path().to_string();
    hz.with(ctx.project, |p, _| {
        let Some(pos) = p.images.iter().position(|i| i.id == id) else {
            return Err(not_found("image", id));
        };
        let injected = hz
            .fault("DELETE", "/images/{id}", &path, id, |k| {
                *k == FaultKind::Protected
            })
            .is_some();
        if injected || p.images[pos].protected {
            return Err(err(
                StatusCode::LOCKED,
                "protected",
                "image is delete protected",
                json!({}),
            ));
        }
        if p.images[pos].status == "creating" {
            return Err(err(
                StatusCode::LOCKED,
                "locked",
                "image is locked: it is still being created",
                json!({}),
            ));
        }
        p.images.remove(pos);
        Ok(StatusCode::NO_CONTENT.into_response())
    })
}

// ---------------------------------------------------------------- inventory

/// One read-only inventory collection.
struct Inventory {
    /// List key (`volumes`).
    key: &'static str,
    /// Single-object key (`volume`).
    one: &'static str,
    pick: fn(&Project) -> &Vec<Item>,
    render: fn(&Item) -> Value,
    sortable: &'static [&'static str],
    statuses: Option<&'static [&'static str]>,
}

impl Inventory {
    fn list(&self, hz: &Hz, ctx: Ctx, uri: &Uri, headers: &HeaderMap) -> Response {
        let q = Query::parse(uri.query());
        let items = hz.with(ctx.project, |p, _| {
            (self.pick)(p).iter().map(self.render).collect::<Vec<_>>()
        });
        done(
            common_filters(items, &q, self.statuses)
                .and_then(|items| page(self.key, items, &q, self.sortable, headers, uri)),
        )
    }

    fn get(&self, hz: &Hz, ctx: Ctx, id: &str) -> Response {
        done(path_id(id, "id").and_then(|id| {
            hz.with(ctx.project, |p, _| {
                (self.pick)(p)
                    .iter()
                    .find(|i| i.id == id)
                    .map(|i| axum::Json(json!({ self.one: (self.render)(i) })).into_response())
                    .ok_or_else(|| not_found(self.one, id))
            })
        }))
    }
}

macro_rules! inventory {
    ($list:ident, $get:ident, $inv:expr) => {
        async fn $list(
            State(hz): State<Arc<Hz>>,
            Extension(ctx): Extension<Ctx>,
            uri: Uri,
            headers: HeaderMap,
        ) -> Response {
            $inv.list(&hz, ctx, &uri, &headers)
        }

        async fn $get(
            State(hz): State<Arc<Hz>>,
            Extension(ctx): Extension<Ctx>,
            Path(id): Path<String>,
        ) -> Response {
            $inv.get(&hz, ctx, &id)
        }
    };
}

inventory!(
    list_volumes,
    get_volume,
    Inventory {
        key: "volumes",
        one: "volume",
        pick: |p| &p.volumes,
        render: model::volume_json,
        sortable: SORT_BASIC,
        statuses: Some(&["available", "creating"]),
    }
);
inventory!(
    list_load_balancers,
    get_load_balancer,
    Inventory {
        key: "load_balancers",
        one: "load_balancer",
        pick: |p| &p.load_balancers,
        render: model::load_balancer_json,
        sortable: SORT_BASIC,
        statuses: None,
    }
);
inventory!(
    list_firewalls,
    get_firewall,
    Inventory {
        key: "firewalls",
        one: "firewall",
        pick: |p| &p.firewalls,
        render: model::firewall_json,
        sortable: SORT_BASIC,
        statuses: None,
    }
);
inventory!(
    list_networks,
    get_network,
    Inventory {
        key: "networks",
        one: "network",
        pick: |p| &p.networks,
        render: model::network_json,
        sortable: SORT_BASIC,
        statuses: None,
    }
);
inventory!(
    list_floating_ips,
    get_floating_ip,
    Inventory {
        key: "floating_ips",
        one: "floating_ip",
        pick: |p| &p.floating_ips,
        render: model::floating_ip_json,
        sortable: SORT_IP,
        statuses: None,
    }
);
inventory!(
    list_primary_ips,
    get_primary_ip,
    Inventory {
        key: "primary_ips",
        one: "primary_ip",
        pick: |p| &p.primary_ips,
        render: model::primary_ip_json,
        sortable: SORT_IP,
        statuses: None,
    }
);

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::clock::Clock;
    use crate::sim::Settings;

    fn core(rate_limit_factor: f64, rate_window_scale: f64) -> Core {
        let settings = Settings {
            rate_limit_factor,
            rate_window_scale,
            ..Settings::default()
        };
        Core::new(settings, Clock::system(), Vec::new())
    }

    #[test]
    fn scaled_bucket_refuses_past_capacity_and_recovers() {
        // 3,600/h at factor 0.01 and window scale 0.00001: 36 requests,
        // refilling 1,000/s (unscaled it would be 0.01/s).
        let c = core(0.01, 0.00001);
        let mut b = project_bucket(&c, c.settings.rate_window_scale);
        assert_eq!(b.limit(), 36);
        let start = Instant::now();
        let mut taken = 0u32;
        while taken < 100_000 && b.try_take() {
            taken += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        assert!(taken >= 36, "{taken}");
        // Whatever ran in between refilled at most 1,000/s.
        assert!(
            f64::from(taken) <= 37.0 + secs * 1000.0,
            "{taken} in {secs} s"
        );
        // The scaled refill interval (36 ms for the whole bucket) later it
        // is full again, and the reset header says so in whole seconds.
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(b.remaining(), 36);
        assert_eq!(b.secs_until_full(), 0);
    }

    #[test]
    fn unscaled_bucket_is_the_published_one() {
        let c = core(1.0, 1.0);
        let mut b = project_bucket(&c, 1.0);
        assert_eq!(b.limit(), 3600);
        for _ in 0..10 {
            assert!(b.try_take());
        }
        // Ten tokens short: at 1/s, full again within ten seconds (fewer if
        // this thread was held up in between).
        assert!((1..=10).contains(&b.secs_until_full()));
    }

    #[test]
    fn window_scale_must_be_positive_and_bounded() {
        let cases = [
            (1.0, true),
            (0.001, true),
            (1000.0, true),
            (0.0, false),
            (-0.5, false),
            (1e4, false),
            (f64::NAN, false),
        ];
        for (scale, ok) in cases {
            assert_eq!(window_scale(scale).is_ok(), ok, "{scale}");
        }
        let c = Arc::new(core(1.0, 0.0));
        let err = serve(c, None).err().unwrap_or_default();
        assert!(err.contains("settings.rate_window_scale"), "{err}");
    }
}
