//! The simulated DigitalOcean API v2, served under `/digitalocean` with the
//! spec's paths (`/v2/droplets`, `/v2/snapshots`, ...).
//!
//! Owns DigitalOcean's behaviour: droplets and volumes, droplet snapshot
//! actions (the droplet is `locked` while one runs and a second action gets
//! 422; the snapshot is listed nowhere until the action completes), volume
//! snapshots (returned finished, at most 25 per volume), snapshot listing and
//! deletion, tags, read-only inventory, page links, per-token rate limits
//! (5,000/h and 250/min sliding windows with `ratelimit-*` headers on every
//! response), read-only tokens (403) and DigitalOcean's error bodies.
//!
//! Must never: share code with `crate::provider`, sleep in a handler, hold the
//! state lock across an `.await`, or read time other than `core.clock`.

mod model;
mod paging;
mod ratelimit;
mod seed;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::sync::lock;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use super::core::{self, Core, FaultKind, SimProvider};
use super::{Served, TokenInfo};
use model::{
    Action, ActionStatus, BASE_IMAGES, Kind, Snapshot, State, VOLUME_SNAPSHOT_LIMIT, action_json,
    droplet_snapshot_json, snapshot_image_json, snapshot_json, used_gb, uuid,
};
use ratelimit::Limits;

/// The built-in demo seed for the `digitalocean:` section: one team with a
/// read-write and a read-only token, two droplets and a volume tagged
/// `backup`, one untagged droplet, two manual snapshots that must survive,
/// and a little inventory.
pub const DEMO_SEED: &str = r#"
accounts:
  - name: demo-team
    tokens:
      - token: dop_v1_51a0000000000000000000000000000000000000000000000000000000000001
      - token: dop_v1_51a0000000000000000000000000000000000000000000000000000000000002
        read_only: true
    droplets:
      - id: 301000101
        name: web-1
        region: fra1
        size_slug: s-1vcpu-2gb
        memory: 2048
        disk: 50
        tags: [backup, web]
        snapshots:
          - id: "171000001"
            name: before-upgrade
            created_at: 2025-01-15T09:30:00Z
      - id: 301000102
        name: db-1
        region: fra1
        size_slug: s-2vcpu-4gb
        vcpus: 2
        memory: 4096
        disk: 80
        tags: [backup, db]
      - id: 301000103
        name: scratch-1
        region: ams3
        tags: [scratch]
    volumes:
      - id: 5e1d0001-0000-4000-8000-00000000d0a1
        name: pgdata
        region: fra1
        size_gigabytes: 100
        attached_to: db-1
        description: PostgreSQL data
        tags: [backup]
        snapshots:
          - id: 5e1d0002-0000-4000-8000-00000000d0a1
            name: before-migration
            created_at: 2025-02-01T12:00:00Z
      - id: 5e1d0003-0000-4000-8000-00000000d0a1
        name: tmp-cache
        region: ams3
        size_gigabytes: 10
    load_balancers:
      - name: web-lb
        region: fra1
        droplets: [web-1]
    firewalls:
      - name: ssh-only
        tags: [backup]
    kubernetes_clusters:
      - name: k8s-demo
        region: fra1
    cdn_endpoints:
      - origin: demo-assets.fra1.digitaloceanspaces.com
"#;

/// Which account a request acts for (set by the gate middleware).
#[derive(Clone)]
struct Caller {
    account: String,
}

#[derive(Clone)]
struct App {
    core: Arc<Core>,
    state: Arc<Mutex<State>>,
    tokens: Arc<HashMap<String, TokenInfo>>,
    limits: Arc<Mutex<HashMap<String, Limits>>>,
}

impl App {
    /// The state with every due action settled.
    fn settled(&self) -> MutexGuard<'_, State> {
        let mut st = lock(&self.state);
        st.settle(self.core.clock.now());
        st
    }

    /// Rate-limit header values for a token without counting a request.
    fn peek(&self, key: String) -> ratelimit::Headers {
        let now = self.core.clock.now();
        let mut limits = lock(&self.limits);
        limits
            .entry(key)
            .or_insert_with(|| self.new_limits())
            .peek(now)
    }

    fn new_limits(&self) -> Limits {
        let hour = self.core.scaled_limit(ratelimit::PER_HOUR).floor() as usize;
        let minute = self.core.scaled_limit(ratelimit::PER_MINUTE).floor() as usize;
        Limits::new(hour, minute, self.core.settings.rate_window_scale)
    }
}

/// A DigitalOcean error body `{"id", "message", "request_id"}`. Also the
/// error-body function handed to the core middleware.
fn error(status: StatusCode, id: &str, message: &str) -> Response {
    let id = if id == "server_error" && status != StatusCode::INTERNAL_SERVER_ERROR {
        // Injected statuses: the id corresponds to the status code.
        match status.as_u16() {
            502 => "bad_gateway",
            503 => "service_unavailable",
            504 => "gateway_timeout",
            429 => "too_many_requests",
            _ => "server_error",
        }
    } else {
        id
    };
    let message = if id == "too_many_requests" {
        "API Rate limit exceeded."
    } else {
        message
    };
    (
        status,
        Json(json!({"id": id, "message": message, "request_id": uuid()})),
    )
        .into_response()
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        "The resource you were accessing could not be found.",
    )
}

fn bad_request(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "bad_request", message)
}

fn unprocessable(message: &str) -> Response {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unprocessable_entity",
        message,
    )
}

/// Take a handler-level fault for a POST, matching rules written with the
/// concrete path (`/v2/droplets/101/actions`) or with the spec's template
/// (`/v2/droplets/{droplet_id}/actions`).
fn take_fault(
    core: &Core,
    path: &str,
    template: &str,
    resource: &str,
    want: fn(&FaultKind) -> bool,
) -> Option<FaultKind> {
    core.take_fault(
        SimProvider::Digitalocean,
        "POST",
        template,
        path,
        Some(resource),
        want,
    )
}

/// What DigitalOcean answers when a droplet already runs an action.
const PENDING_EVENT: &str = "Droplet already has a pending event.";

/// Build the DigitalOcean router from its seed section.
///
/// # Errors
/// A message naming what is wrong in the seed section.
pub fn serve(core: Arc<Core>, seed: Option<&yaml_serde::Value>) -> Result<super::Served, String> {
    ratelimit::window_scale(core.settings.rate_window_scale)?;
    let (tokens, state) = seed::load(&core, seed)?;
    let app = App {
        core: core.clone(),
        state: Arc::new(Mutex::new(state)),
        tokens: Arc::new(
            tokens
                .iter()
                .map(|t| (t.token.clone(), t.clone()))
                .collect(),
        ),
        limits: Arc::new(Mutex::new(HashMap::new())),
    };
    let dump = app.clone();
    let router = Router::new()
        .route("/v2/droplets", get(list_droplets))
        .route("/v2/droplets/{droplet_id}", get(get_droplet))
        .route(
            "/v2/droplets/{droplet_id}/actions",
            get(list_droplet_actions).post(post_droplet_action),
        )
        .route(
            "/v2/droplets/{droplet_id}/actions/{action_id}",
            get(get_droplet_action),
        )
        .route(
            "/v2/droplets/{droplet_id}/snapshots",
            get(list_droplet_snapshots),
        )
        .route("/v2/actions", get(list_actions))
        .route("/v2/actions/{action_id}", get(get_action))
        .route("/v2/volumes", get(list_volumes))
        .route("/v2/volumes/{volume_id}", get(get_volume))
        .route(
            "/v2/volumes/{volume_id}/snapshots",
            get(list_volume_snapshots).post(post_volume_snapshot),
        )
        .route(
            "/v2/volumes/snapshots/{snapshot_id}",
            get(get_volume_snapshot).delete(delete_volume_snapshot),
        )
        .route("/v2/snapshots", get(list_snapshots))
        .route(
            "/v2/snapshots/{snapshot_id}",
            get(get_snapshot).delete(delete_snapshot),
        )
        .route("/v2/tags", get(list_tags).post(post_tag))
        .route("/v2/tags/{tag_id}", get(get_tag).delete(delete_tag))
        .route(
            "/v2/tags/{tag_id}/resources",
            post(post_tag_resources).delete(delete_tag_resources),
        )
        .route("/v2/images", get(list_images))
        .route("/v2/load_balancers", get(list_inventory("load_balancers")))
        .route("/v2/firewalls", get(list_inventory("firewalls")))
        .route(
            "/v2/kubernetes/clusters",
            get(list_inventory("kubernetes_clusters")),
        )
        .route("/v2/cdn/endpoints", get(list_inventory("endpoints")))
        .with_state(app.clone())
        // Innermost: rate limits, auth, scopes (recorded by the core layer).
        .route_layer(from_fn_with_state(app.clone(), gate))
        .route_layer(from_fn_with_state(
            core::Layer {
                core,
                provider: SimProvider::Digitalocean,
                error,
                spent: {
                    let app = app.clone();
                    Arc::new(move |token: &str| {
                        // A limit spent that frees at once: the headers of a
                        // real refusal, with no wait, so a fault costs a
                        // client its header handling but not an hour. The
                        // limiter's own refusals announce the real wait.
                        let h = app.peek(token.to_string());
                        let now = app.core.clock.now().timestamp();
                        spent_headers(h.limit, now, now)
                    })
                },
            },
            core::middleware,
        ))
        // Outermost: rate-limit headers on answers the gate never saw
        // (injected transport faults).
        .route_layer(from_fn_with_state(app.clone(), fill_headers))
        // Unknown paths and methods: DO's error body, with the rate-limit
        // headers too.
        .fallback({
            let app = app.clone();
            move |headers: HeaderMap| {
                let app = app.clone();
                async move {
                    let key = core::bearer(&headers).unwrap_or("-").to_string();
                    let mut resp = not_found();
                    set_rate_headers(&mut resp, app.peek(key));
                    resp
                }
            }
        })
        .method_not_allowed_fallback(move |headers: HeaderMap| {
            let app = app.clone();
            async move {
                let key = core::bearer(&headers).unwrap_or("-").to_string();
                let mut resp = error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "The method is not allowed for the requested URL.",
                );
                set_rate_headers(&mut resp, app.peek(key));
                resp
            }
        });
    Ok(Served {
        router,
        tokens,
        state: Arc::new(move || state_dump(&dump)),
    })
}

fn state_dump(app: &App) -> Value {
    let st = app.settled();
    let mut accounts = Map::new();
    for name in st.inventory.keys() {
        let droplets: Vec<Value> = st
            .droplets
            .iter()
            .filter(|d| &d.account == name)
            .map(|d| st.droplet_json(d))
            .collect();
        let volumes: Vec<Value> = st
            .volumes
            .iter()
            .filter(|v| &v.account == name)
            .map(|v| st.volume_json(v))
            .collect();
        let snapshots: Vec<Value> = st
            .snapshots
            .iter()
            .filter(|s| &s.account == name)
            .map(snapshot_json)
            .collect();
        let actions: Vec<Value> = st
            .actions
            .iter()
            .filter(|a| &a.account == name)
            .map(|a| {
                let mut v = action_json(a);
                if let Some(o) = v.as_object_mut() {
                    o.insert("snapshot_name".into(), json!(a.snapshot_name));
                    o.insert("snapshot_id".into(), json!(a.image_id));
                }
                v
            })
            .collect();
        let tags: Vec<&String> = st
            .tags
            .get(name)
            .map(|t| t.iter().collect())
            .unwrap_or_default();
        accounts.insert(
            name.clone(),
            json!({
                "droplets": droplets,
                "volumes": volumes,
                "snapshots": snapshots,
                "actions": actions,
                "tags": tags,
                "inventory": st.inventory.get(name),
            }),
        );
    }
    json!({ "accounts": accounts })
}

/// What a refusal for a spent limit carries: the limit, nothing remaining,
/// the reset, and `retry-after` (whole seconds until the reset).
fn spent_headers(limit: u64, reset: i64, now: i64) -> Vec<(&'static str, String)> {
    vec![
        ("ratelimit-limit", limit.to_string()),
        ("ratelimit-remaining", "0".to_string()),
        ("ratelimit-reset", reset.to_string()),
        ("retry-after", (reset - now).max(0).to_string()),
    ]
}

fn set_rate_headers(resp: &mut Response, h: ratelimit::Headers) {
    let headers = resp.headers_mut();
    for (name, value) in [
        ("ratelimit-limit", h.limit.to_string()),
        ("ratelimit-remaining", h.remaining.to_string()),
        ("ratelimit-reset", h.reset.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    if let Some(secs) = h.retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        headers.insert("retry-after", v);
    }
}

/// Rate limits (per presented token), then authentication, then read-only
/// tokens refused for writes.
async fn gate(AxState(app): AxState<App>, mut req: Request, next: Next) -> Response {
    let token = core::bearer(req.headers()).map(str::to_string);
    let key = token.clone().unwrap_or_else(|| "-".to_string());
    let now = app.core.clock.now();
    let (allowed, headers) = {
        let mut limits = lock(&app.limits);
        let entry = limits.entry(key).or_insert_with(|| app.new_limits());
        entry.check(now)
    };
    let mut resp = if !allowed {
        error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "API Rate limit exceeded.",
        )
    } else {
        match token.as_deref().and_then(|t| app.tokens.get(t)) {
            None => error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Unable to authenticate you.",
            ),
            Some(info)
                if info.read_only && !matches!(*req.method(), Method::GET | Method::HEAD) =>
            {
                error(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "You do not have access for the attempted action.",
                )
            }
            Some(info) => {
                req.extensions_mut().insert(Caller {
                    account: info.account.clone(),
                });
                next.run(req).await
            }
        }
    };
    set_rate_headers(&mut resp, headers);
    resp
}

async fn fill_headers(AxState(app): AxState<App>, req: Request, next: Next) -> Response {
    let key = core::bearer(req.headers()).unwrap_or("-").to_string();
    let mut resp = next.run(req).await;
    if !resp.headers().contains_key("ratelimit-limit") {
        set_rate_headers(&mut resp, app.peek(key));
    }
    resp
}

type Q = Query<Vec<(String, String)>>;

/// A paginated list answer: `{key: [...], "links": ..., "meta": {"total"}}`.
fn paged(
    headers: &HeaderMap,
    uri: &Uri,
    query: &[(String, String)],
    key: &str,
    items: Vec<Value>,
) -> Response {
    let req = match paging::parse(query) {
        Ok(r) => r,
        Err(m) => return bad_request(&m),
    };
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let base = format!(
        "http://{host}{}{}",
        SimProvider::Digitalocean.prefix(),
        uri.path()
    );
    let total = items.len() as u64;
    let page = paging::slice(&items, req);
    let mut body = Map::new();
    body.insert(key.to_string(), Value::Array(page));
    body.insert("links".into(), paging::links(&base, query, req, total));
    body.insert("meta".into(), json!({ "total": total }));
    Json(Value::Object(body)).into_response()
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn ok(key: &str, value: Value) -> Response {
    Json(json!({ key: value })).into_response()
}

// ---- droplets ----

async fn list_droplets(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Q,
) -> Response {
    let tag = param(&q, "tag_name");
    let name = param(&q, "name");
    let kind = param(&q, "type");
    if tag.is_some() && (name.is_some() || kind.is_some()) {
        return bad_request("tag_name can not be combined with name or type");
    }
    if kind.is_some_and(|k| k != "droplets" && k != "gpus") {
        return bad_request("type must be droplets or gpus");
    }
    let st = app.settled();
    let items = st
        .droplets
        .iter()
        .filter(|d| d.account == c.account)
        // No GPU droplets are simulated.
        .filter(|_| kind != Some("gpus"))
        .filter(|d| tag.is_none_or(|t| d.tags.iter().any(|x| x == t)))
        .filter(|d| name.is_none_or(|n| d.name.eq_ignore_ascii_case(n)))
        .map(|d| st.droplet_json(d))
        .collect();
    drop(st);
    paged(&headers, &uri, &q, "droplets", items)
}

fn droplet_id(raw: &str) -> Option<u64> {
    raw.parse::<u64>().ok().filter(|n| *n >= 1)
}

async fn get_droplet(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let st = app.settled();
    match droplet_id(&id).and_then(|id| st.droplet(&c.account, id)) {
        Some(d) => ok("droplet", st.droplet_json(d)),
        None => not_found(),
    }
}

async fn list_droplet_snapshots(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    Query(q): Q,
) -> Response {
    let st = app.settled();
    let Some(d) = droplet_id(&id).and_then(|id| st.droplet(&c.account, id)) else {
        return not_found();
    };
    let rid = d.id.to_string();
    let items = sorted(&st, |s| s.kind == Kind::Droplet && s.resource_id == rid)
        .into_iter()
        .map(droplet_snapshot_json)
        .collect();
    drop(st);
    paged(&headers, &uri, &q, "snapshots", items)
}

// ---- actions ----

const DROPLET_ACTION_TYPES: &[&str] = &[
    "enable_backups",
    "disable_backups",
    "change_backup_policy",
    "reboot",
    "power_cycle",
    "shutdown",
    "power_off",
    "power_on",
    "restore",
    "password_reset",
    "resize",
    "rebuild",
    "rename",
    "change_kernel",
    "enable_ipv6",
    "snapshot",
];

async fn post_droplet_action(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let now = app.core.clock.now();
    let (droplet, region, disk, default_name) = {
        let st = app.settled();
        match droplet_id(&id).and_then(|id| st.droplet(&c.account, id)) {
            Some(d) => (
                d.id,
                d.region.clone(),
                d.disk,
                format!("{}-{}", d.name, now.timestamp_millis()),
            ),
            None => return not_found(),
        }
    };
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("error parsing request body");
    };
    let kind = match body.get("type") {
        Some(Value::String(k)) => k.clone(),
        _ => return unprocessable("type is required and must be a string"),
    };
    if !DROPLET_ACTION_TYPES.contains(&kind.as_str()) {
        return unprocessable(&format!("{kind:?} is not a valid droplet action type"));
    }
    if kind != "snapshot" {
        return unprocessable(&format!(
            "the simulator does not simulate droplet action type {kind:?} (only snapshot)"
        ));
    }
    let name = match body.get("name") {
        None | Some(Value::Null) => default_name,
        Some(Value::String(n)) if !n.trim().is_empty() => n.clone(),
        Some(_) => return unprocessable("name must be a non-empty string"),
    };
    let path = format!("/v2/droplets/{droplet}/actions");
    let rid = droplet.to_string();
    let fault = |want: fn(&FaultKind) -> bool| {
        take_fault(
            &app.core,
            &path,
            "/v2/droplets/{droplet_id}/actions",
            &rid,
            want,
        )
    };
    if fault(|k| *k == FaultKind::Busy).is_some() {
        return unprocessable(PENDING_EVENT);
    }
    let mut st = app.settled();
    if st.locked(droplet) {
        return unprocessable(PENDING_EVENT);
    }
    if fault(|k| *k == FaultKind::Quota).is_some() {
        return unprocessable(
            "You have reached the snapshot limit for your account. Delete snapshots or contact support to raise it.",
        );
    }
    let outcome = fault(|k| matches!(k, FaultKind::ActionError | FaultKind::ActionStuck));
    let id = st.action_id();
    let action = Action {
        account: c.account.clone(),
        id,
        droplet_id: droplet,
        kind,
        status: ActionStatus::InProgress,
        started_at: now,
        ends_at: match outcome {
            Some(FaultKind::ActionStuck) => None,
            _ => Some(now + app.core.snapshot_duration(disk as f64)),
        },
        completed_at: None,
        fails: outcome == Some(FaultKind::ActionError),
        region,
        snapshot_name: name,
        image_id: None,
    };
    let json = action_json(&action);
    st.actions.push(action);
    // A zero duration completes at once.
    st.settle(now);
    let json = st
        .actions
        .iter()
        .find(|a| a.id == id)
        .map_or(json, action_json);
    (StatusCode::CREATED, Json(json!({ "action": json }))).into_response()
}

fn newest_first(st: &State, pred: impl Fn(&Action) -> bool) -> Vec<Value> {
    let mut v: Vec<&Action> = st.actions.iter().filter(|a| pred(a)).collect();
    v.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(b.id.cmp(&a.id)));
    v.into_iter().map(action_json).collect()
}

async fn list_droplet_actions(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    Query(q): Q,
) -> Response {
    let st = app.settled();
    let Some(d) = droplet_id(&id).and_then(|id| st.droplet(&c.account, id)) else {
        return not_found();
    };
    let did = d.id;
    let items = newest_first(&st, |a| a.droplet_id == did && a.account == c.account);
    drop(st);
    paged(&headers, &uri, &q, "actions", items)
}

async fn get_droplet_action(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    Path((droplet, action)): Path<(String, String)>,
) -> Response {
    let st = app.settled();
    let (Some(did), Some(aid)) = (droplet_id(&droplet), droplet_id(&action)) else {
        return not_found();
    };
    match st
        .actions
        .iter()
        .find(|a| a.id == aid && a.droplet_id == did && a.account == c.account)
    {
        Some(a) => ok("action", action_json(a)),
        None => not_found(),
    }
}

async fn list_actions(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Q,
) -> Response {
    let items = newest_first(&app.settled(), |a| a.account == c.account);
    paged(&headers, &uri, &q, "actions", items)
}

async fn get_action(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(action): Path<String>,
) -> Response {
    let st = app.settled();
    let Some(aid) = droplet_id(&action) else {
        return not_found();
    };
    // Newest first: a poll asks about an action just made (ids are unique).
    match st
        .actions
        .iter()
        .rev()
        .find(|a| a.id == aid && a.account == c.account)
    {
        Some(a) => ok("action", action_json(a)),
        None => not_found(),
    }
}

// ---- volumes ----

async fn list_volumes(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Q,
) -> Response {
    // The spec has no tag filter for volumes: `tag_name` is ignored like any
    // other unknown parameter, so a client must filter tags itself.
    let name = param(&q, "name");
    let region = param(&q, "region");
    let st = app.settled();
    let items = st
        .volumes
        .iter()
        .filter(|v| v.account == c.account)
        .filter(|v| name.is_none_or(|n| v.name == n))
        .filter(|v| region.is_none_or(|r| v.region == r))
        .map(|v| st.volume_json(v))
        .collect();
    drop(st);
    paged(&headers, &uri, &q, "volumes", items)
}

async fn get_volume(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let st = app.settled();
    match st.volume(&c.account, &id) {
        Some(v) => ok("volume", st.volume_json(v)),
        None => not_found(),
    }
}

fn sorted(st: &State, pred: impl Fn(&Snapshot) -> bool) -> Vec<&Snapshot> {
    let mut v: Vec<&Snapshot> = st.snapshots.iter().filter(|s| pred(s)).collect();
    // Oldest first; equal times keep creation order (the sort is stable).
    v.sort_by_key(|s| s.created_at);
    v
}

async fn list_volume_snapshots(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    Query(q): Q,
) -> Response {
    let st = app.settled();
    if st.volume(&c.account, &id).is_none() {
        return not_found();
    }
    let items = sorted(&st, |s| s.kind == Kind::Volume && s.resource_id == id)
        .into_iter()
        .map(snapshot_json)
        .collect();
    drop(st);
    paged(&headers, &uri, &q, "snapshots", items)
}

async fn post_volume_snapshot(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let now = app.core.clock.now();
    if app.settled().volume(&c.account, &id).is_none() {
        return not_found();
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("error parsing request body");
    };
    let name = match body.get("name") {
        Some(Value::String(n)) if !n.trim().is_empty() => n.clone(),
        _ => return bad_request("name is required"),
    };
    let tags: Vec<String> = match body.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => {
            let tags: Vec<String> = a
                .iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect();
            if tags.len() != a.len() || !tags.iter().all(|t| seed::valid_tag(t)) {
                return bad_request(
                    "tags must be names of letters, digits, ':', '-' and '_' (at most 255)",
                );
            }
            tags
        }
        Some(_) => return bad_request("tags must be an array of strings"),
    };
    let path = format!("/v2/volumes/{id}/snapshots");
    if take_fault(
        &app.core,
        &path,
        "/v2/volumes/{volume_id}/snapshots",
        &id,
        |k| *k == FaultKind::Quota,
    )
    .is_some()
    {
        return unprocessable(
            "You have reached the snapshot limit for your account. Delete snapshots or contact support to raise it.",
        );
    }
    let mut st = app.settled();
    let Some(v) = st.volume(&c.account, &id).cloned() else {
        return not_found();
    };
    let count = st
        .snapshots
        .iter()
        .filter(|s| s.kind == Kind::Volume && s.resource_id == id)
        .count();
    if count >= VOLUME_SNAPSHOT_LIMIT {
        return unprocessable(&format!(
            "volume {id} has reached the maximum of {VOLUME_SNAPSHOT_LIMIT} snapshots; delete one before taking another"
        ));
    }
    for t in &tags {
        st.ensure_tag(&c.account, t);
    }
    // Never the id of a seeded or earlier snapshot (of any account).
    let mut snapshot_id = uuid();
    while st.snapshots.iter().any(|s| s.id == snapshot_id) {
        snapshot_id = uuid();
    }
    let snap = Snapshot {
        account: c.account.clone(),
        id: snapshot_id,
        kind: Kind::Volume,
        resource_id: id,
        name,
        created_at: now,
        region: v.region.clone(),
        min_disk_size: v.size_gigabytes,
        size_gigabytes: used_gb(v.size_gigabytes),
        tags,
    };
    let json = snapshot_json(&snap);
    st.snapshots.push(snap);
    (StatusCode::CREATED, Json(json!({ "snapshot": json }))).into_response()
}

// ---- snapshots ----

async fn list_snapshots(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Q,
) -> Response {
    let kind = match param(&q, "resource_type") {
        None => None,
        Some("droplet") => Some(Kind::Droplet),
        Some("volume") => Some(Kind::Volume),
        Some(other) => {
            return bad_request(&format!(
                "resource_type must be droplet or volume, got {other:?}"
            ));
        }
    };
    let st = app.settled();
    let items = sorted(&st, |s| {
        s.account == c.account && kind.is_none_or(|k| s.kind == k)
    })
    .into_iter()
    .map(snapshot_json)
    .collect();
    drop(st);
    paged(&headers, &uri, &q, "snapshots", items)
}

/// `GET /v2/volumes/snapshots/{snapshot_id}`: volume snapshots only.
async fn get_volume_snapshot(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let st = app.settled();
    match st.snapshot(&c.account, &id) {
        Some(s) if s.kind == Kind::Volume => ok("snapshot", snapshot_json(s)),
        _ => not_found(),
    }
}

/// `DELETE /v2/volumes/snapshots/{snapshot_id}`: volume snapshots only.
async fn delete_volume_snapshot(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    if app
        .settled()
        .remove_snapshot(&c.account, &id, Some(Kind::Volume))
    {
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found()
    }
}

fn is_base_image(id: &str) -> bool {
    BASE_IMAGES.iter().any(|b| b.id.to_string() == id)
}

fn not_a_snapshot() -> Response {
    bad_request("the resource is not a snapshot")
}

async fn get_snapshot(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let st = app.settled();
    match st.snapshot(&c.account, &id) {
        Some(s) => ok("snapshot", snapshot_json(s)),
        None if is_base_image(&id) => not_a_snapshot(),
        None => not_found(),
    }
}

async fn delete_snapshot(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    if app.settled().remove_snapshot(&c.account, &id, None) {
        StatusCode::NO_CONTENT.into_response()
    } else if is_base_image(&id) {
        not_a_snapshot()
    } else {
        not_found()
    }
}

// ---- tags ----

fn tag_json(st: &State, account: &str, name: &str) -> Value {
    let has = |tags: &[String]| tags.iter().any(|t| t == name);
    let droplets = st
        .droplets
        .iter()
        .filter(|d| d.account == account && has(&d.tags))
        .count();
    let volumes = st
        .volumes
        .iter()
        .filter(|v| v.account == account && has(&v.tags))
        .count();
    let count_snaps = |k: Kind| {
        st.snapshots
            .iter()
            .filter(|s| s.account == account && s.kind == k && has(&s.tags))
            .count()
    };
    let images = count_snaps(Kind::Droplet);
    let volume_snapshots = count_snaps(Kind::Volume);
    json!({
        "name": name,
        "resources": {
            "count": droplets + volumes + images + volume_snapshots,
            "droplets": {"count": droplets},
            // The spec's `tags` schema spells this key `imgages` (its own
            // example says `images`); the simulator follows the schema.
            "imgages": {"count": images},
            "volumes": {"count": volumes},
            "volume_snapshots": {"count": volume_snapshots},
            "databases": {"count": 0},
        }
    })
}

async fn list_tags(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Q,
) -> Response {
    let st = app.settled();
    let items = st
        .tags
        .get(&c.account)
        .map(|tags| tags.iter().map(|t| tag_json(&st, &c.account, t)).collect())
        .unwrap_or_default();
    drop(st);
    paged(&headers, &uri, &q, "tags", items)
}

/// The spec's answer to a bad tag name: 400 with `error_with_root_causes`
/// and an `x-request-id` header.
fn tag_bad_request(name: &str) -> Response {
    let msg =
        format!("Error validating resource tag: \"tag-name {name:?} contains invalid characters\"");
    let mut resp = (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "error": msg,
            "messages": null,
            "root_causes": [format!("rpc error: code = InvalidArgument desc = {msg}")],
        })),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&uuid()) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

async fn post_tag(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    body: Bytes,
) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return tag_bad_request("");
    };
    let Some(name) = body.get("name").and_then(Value::as_str) else {
        return tag_bad_request("");
    };
    if !seed::valid_tag(name) {
        return tag_bad_request(name);
    }
    let mut st = app.settled();
    // Creating a tag that exists answers 201 with the existing tag (the
    // spec declares no conflict answer; the real API is idempotent here).
    st.ensure_tag(&c.account, name);
    let tag = tag_json(&st, &c.account, name);
    (StatusCode::CREATED, Json(json!({ "tag": tag }))).into_response()
}

fn tag_exists(st: &State, account: &str, name: &str) -> bool {
    st.tags.get(account).is_some_and(|t| t.contains(name))
}

async fn get_tag(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(tag): Path<String>,
) -> Response {
    let st = app.settled();
    if tag_exists(&st, &c.account, &tag) {
        ok("tag", tag_json(&st, &c.account, &tag))
    } else {
        not_found()
    }
}

async fn post_tag_resources(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(tag): Path<String>,
    body: Bytes,
) -> Response {
    tag_resources(&app, &c, &tag, &body, true)
}

/// `DELETE /v2/tags/{tag_id}/resources`: untag the resources (204; a
/// resource that does not carry the tag is no error).
async fn delete_tag_resources(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(tag): Path<String>,
    body: Bytes,
) -> Response {
    tag_resources(&app, &c, &tag, &body, false)
}

/// `DELETE /v2/tags/{tag_id}`: the tag goes, and with it from every
/// resource of the account that carried it (204).
async fn delete_tag(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(tag): Path<String>,
) -> Response {
    let mut st = app.settled();
    if !tag_exists(&st, &c.account, &tag) {
        return not_found();
    }
    if let Some(tags) = st.tags.get_mut(&c.account) {
        tags.remove(&tag);
    }
    let untag = |tags: &mut Vec<String>| tags.retain(|t| *t != tag);
    st.droplets
        .iter_mut()
        .filter(|d| d.account == c.account)
        .for_each(|d| untag(&mut d.tags));
    st.volumes
        .iter_mut()
        .filter(|v| v.account == c.account)
        .for_each(|v| untag(&mut v.tags));
    st.snapshots
        .iter_mut()
        .filter(|s| s.account == c.account)
        .for_each(|s| untag(&mut s.tags));
    StatusCode::NO_CONTENT.into_response()
}

/// Tag (`add`) or untag the resources named in a `{"resources": [...]}`
/// body: all or nothing, 404 when the tag or any resource is unknown.
fn tag_resources(app: &App, c: &Caller, tag: &str, body: &Bytes, add: bool) -> Response {
    let tag = tag.to_string();
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return bad_request("error parsing request body");
    };
    let Some(Value::Array(resources)) = body.get("resources") else {
        return bad_request("resources is required and must be an array");
    };
    let mut wanted = Vec::new();
    for r in resources {
        let (Some(id), Some(kind)) = (
            r.get("resource_id").and_then(Value::as_str),
            r.get("resource_type").and_then(Value::as_str),
        ) else {
            return bad_request("each resource needs resource_id and resource_type strings");
        };
        if !["droplet", "image", "volume", "volume_snapshot"].contains(&kind) {
            return bad_request(&format!(
                "resource_type must be droplet, image, volume or volume_snapshot, got {kind:?}"
            ));
        }
        wanted.push((id.to_string(), kind.to_string()));
    }
    let mut st = app.settled();
    if !tag_exists(&st, &c.account, &tag) {
        return not_found();
    }
    // Check every resource first: all or nothing.
    for (id, kind) in &wanted {
        let found = match kind.as_str() {
            "droplet" => droplet_id(id)
                .and_then(|n| st.droplet(&c.account, n))
                .is_some(),
            "volume" => st.volume(&c.account, id).is_some(),
            "image" => st
                .snapshot(&c.account, id)
                .is_some_and(|s| s.kind == Kind::Droplet),
            _ => st
                .snapshot(&c.account, id)
                .is_some_and(|s| s.kind == Kind::Volume),
        };
        if !found {
            return error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("{kind} {id} could not be found"),
            );
        }
    }
    let add = |tags: &mut Vec<String>| {
        if !add {
            tags.retain(|t| *t != tag);
        } else if !tags.contains(&tag) {
            tags.push(tag.clone());
        }
    };
    for (id, kind) in &wanted {
        match kind.as_str() {
            "droplet" => {
                for d in st
                    .droplets
                    .iter_mut()
                    .filter(|d| d.account == c.account && d.id.to_string() == *id)
                {
                    add(&mut d.tags);
                }
            }
            "volume" => {
                for v in st
                    .volumes
                    .iter_mut()
                    .filter(|v| v.account == c.account && v.id == *id)
                {
                    add(&mut v.tags);
                }
            }
            _ => {
                for s in st
                    .snapshots
                    .iter_mut()
                    .filter(|s| s.account == c.account && s.id == *id)
                {
                    add(&mut s.tags);
                }
            }
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

// ---- images and inventory ----

async fn list_images(
    AxState(app): AxState<App>,
    axum::Extension(c): axum::Extension<Caller>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Q,
) -> Response {
    let private = match param(&q, "private") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return bad_request(&format!("private must be true or false, got {other:?}"));
        }
    };
    let kind = param(&q, "type");
    if kind.is_some_and(|k| k != "application" && k != "distribution") {
        return bad_request("type must be application or distribution");
    }
    let tag = param(&q, "tag_name");
    let st = app.settled();
    let mut items: Vec<Value> = Vec::new();
    // Public distribution images: not with private=true or a tag filter
    // (they carry no tags), and never under type=application.
    if !private && tag.is_none() && kind != Some("application") {
        items.extend(BASE_IMAGES.iter().map(|b| model::base_image_json(b.slug)));
    }
    // Droplet snapshots are private images; the type filter (application /
    // distribution) never selects them.
    if kind.is_none() {
        for s in sorted(&st, |s| {
            s.account == c.account
                && s.kind == Kind::Droplet
                && tag.is_none_or(|t| s.tags.iter().any(|x| x == t))
        }) {
            let distribution = s
                .resource_id
                .parse::<u64>()
                .ok()
                .and_then(|d| st.droplet(&c.account, d))
                .and_then(|d| model::base_image(&d.image))
                .map_or("Unknown", |b| b.distribution);
            items.push(snapshot_image_json(s, distribution));
        }
    }
    drop(st);
    paged(&headers, &uri, &q, "images", items)
}

fn inventory(app: &App, account: &str, kind: &str) -> Vec<Value> {
    debug_assert!(model::INVENTORY_KINDS.contains(&kind));
    lock(&app.state)
        .inventory
        .get(account)
        .and_then(|m| m.get(kind))
        .cloned()
        .unwrap_or_default()
}

/// The read-only inventory lists (load balancers, firewalls, Kubernetes
/// clusters, CDN endpoints): seeded items under `key`, paged.
fn list_inventory(
    key: &'static str,
) -> impl Fn(AxState<App>, axum::Extension<Caller>, HeaderMap, Uri, Q) -> std::future::Ready<Response>
+ Clone
+ Send
+ Sync
+ 'static {
    move |AxState(app): AxState<App>,
          axum::Extension(c): axum::Extension<Caller>,
          headers: HeaderMap,
          uri: Uri,
          Query(q): Q| {
        let items = inventory(&app, &c.account, key);
        std::future::ready(paged(&headers, &uri, &q, key, items))
    }
}
