//! Simulated Vultr API v2, served under `/vultr/v2` with the spec's paths
//! (`/instances`, `/snapshots`, …) and the spec's bodies and status codes.
//!
//! Owns Vultr's routes, its key check (401 / 403), its per-source-IP token
//! bucket (429 or 503, no rate-limit headers), snapshot create → pending →
//! complete, cursor paging, and the read-only inventory lists. The seed
//! section and every assumption made where the spec is silent are described
//! in docs/sim-vultr.md.
//!
//! Must never: share code with `crate::provider`, put an instance id into a
//! snapshot object (Vultr has none; only the state dump shows the source),
//! hold its state lock across an `.await`, or sleep outside injected faults.

mod model;
mod page;
mod seed;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crate::sync::lock;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Extension, Path, Query, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::core::{self, Core, FaultKind, SimProvider, TokenBucket};
use super::{Served, TokenInfo};
use model::{Account, Fate, Item, Snapshot, World, new_uuid};

/// The built-in demo seed for the `vultr:` section: one account with a
/// read-write and a read-only key, three instances tagged `backup` (the demo
/// policies' targets), one untagged scratch box, a manual snapshot that must
/// survive, and a little inventory.
pub const DEMO_SEED: &str = r#"
rate_limit:
  per_second: 30
  status: 429
accounts:
  - name: demo
    api_keys:
      - key: SIMVULTRDEMORW00000000000000000000RW
      - key: SIMVULTRDEMORO00000000000000000000RO
        read_only: true
    instances:
      - id: 3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e01
        label: web-1
        hostname: web-1.example.com
        tags: [backup, web]
        region: ewr
        disk: 55
        plan: vc2-1c-2gb
        ram: 2048
      - id: 3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e02
        label: web-2
        hostname: web-2.example.com
        tags: [backup, web]
        region: ewr
        disk: 55
        plan: vc2-1c-2gb
        ram: 2048
      - id: 3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e03
        label: db-1
        hostname: db-1.example.com
        tags: [backup, db]
        region: fra
        disk: 160
        plan: vc2-4c-8gb
        ram: 8192
        vcpu_count: 4
      - id: 3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e04
        label: scratch
        hostname: scratch.example.com
        tags: [dev]
        region: ams
        disk: 25
    snapshots:
      - id: 9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b01
        description: before-upgrade
        source_instance: 3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e03
        date_created: 2026-01-15T09:30:00Z
    load_balancers:
      - label: web-lb
        region: ewr
        instances:
          - 3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e01
          - 3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e02
    firewalls:
      - description: web
        instance_count: 2
        rule_count: 3
    blocks:
      - label: db-data
        region: fra
        size_gb: 100
        attached_to_instance: 3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e03
"#;

/// Vultr's error body: `{"error": <text>, "status": <int>}` (the core's
/// `code` argument has no place in it).
fn vultr_error(status: StatusCode, code: &str, message: &str) -> Response {
    // An injected 429 says what a real one says.
    let message = if code == "server_error" && status == StatusCode::TOO_MANY_REQUESTS {
        RATE_LIMITED
    } else {
        message
    };
    let body = json!({ "error": message, "status": status.as_u16() });
    (status, axum::Json(body)).into_response()
}

/// An error answer from a handler.
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl ApiError {
    fn bad_request(msg: impl Into<String>) -> Self {
        Self(StatusCode::BAD_REQUEST, msg.into())
    }
    fn not_found(msg: impl Into<String>) -> Self {
        Self(StatusCode::NOT_FOUND, msg.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        vultr_error(self.0, "", &self.1)
    }
}

impl From<page::PageError> for ApiError {
    fn from(e: page::PageError) -> Self {
        Self::bad_request(e.0)
    }
}

/// The text of a 429 (or the seed's 503) for a spent rate limit.
const RATE_LIMITED: &str = "Rate limit exceeded.";

/// The text of a 401 (as the live API words it).
const INVALID_TOKEN: &str = "Invalid API token.";
/// The text of a 403 for a key whose sub-user lacks the ACL for a write
/// (assumption: the spec lists 403 "not allowed" without a body).
const FORBIDDEN: &str =
    "Unauthorized: this API key's user does not have permission to perform this action.";

/// Rate-limit settings after scaling.
#[derive(Debug, Clone, Copy)]
struct Rate {
    capacity: f64,
    per_second: f64,
    status: StatusCode,
}

impl Rate {
    /// The seed's published per-second limit, scaled: capacity by
    /// `rate_limit_factor` (at least 1), refill by it too and divided by
    /// `window_scale` (the refill interval, one second, times the scale).
    fn new(core: &Core, raw: &seed::RawRateLimit, window_scale: f64) -> Self {
        let scaled = raw.per_second * core.settings.rate_limit_factor / window_scale;
        Self {
            capacity: core.scaled_limit(raw.per_second),
            per_second: if scaled > 0.0 { scaled } else { 0.001 },
            status: StatusCode::from_u16(raw.status).unwrap_or(StatusCode::TOO_MANY_REQUESTS),
        }
    }

    fn bucket(&self) -> TokenBucket {
        TokenBucket::new(self.capacity, self.per_second)
    }
}

use crate::sim::core::window_scale;

/// Shared handler state.
#[derive(Clone)]
struct Vultr {
    core: Arc<Core>,
    world: Arc<Mutex<World>>,
    buckets: Arc<Mutex<HashMap<String, TokenBucket>>>,
    rate: Rate,
}

/// Who is calling (set by [`gate`]).
#[derive(Debug, Clone, Copy)]
struct Caller {
    account: usize,
}

/// Build the Vultr router from the seed's `vultr:` section.
///
/// # Errors
/// A message naming what is wrong in the seed section.
pub fn serve(core: Arc<Core>, seed: Option<&yaml_serde::Value>) -> Result<Served, String> {
    let scale = window_scale(core.settings.rate_window_scale)?;
    let (raw_rate, world) = seed::load(&core, seed)?;
    let rate = Rate::new(&core, &raw_rate, scale);
    let mut tokens: Vec<TokenInfo> = world
        .keys
        .iter()
        .map(|(k, key)| TokenInfo {
            account: world
                .accounts
                .get(key.account)
                .map(|a| a.name.clone())
                .unwrap_or_default(),
            token: k.clone(),
            read_only: key.read_only,
        })
        .collect();
    tokens.sort_by(|a, b| {
        (&a.account, a.read_only, &a.token).cmp(&(&b.account, b.read_only, &b.token))
    });
    let v = Vultr {
        core: core.clone(),
        world: Arc::new(Mutex::new(world)),
        buckets: Arc::new(Mutex::new(HashMap::new())),
        rate,
    };
    let router = Router::new()
        .route("/instances", get(list_instances))
        .route("/instances/{instance-id}", get(get_instance))
        .route("/snapshots", get(list_snapshots).post(create_snapshot))
        .route(
            "/snapshots/{snapshot-id}",
            get(get_snapshot)
                .put(update_snapshot)
                .delete(delete_snapshot),
        )
        .route("/load-balancers", get(list_load_balancers))
        .route("/firewalls", get(list_firewalls))
        .route("/kubernetes/clusters", get(list_clusters))
        .route("/blocks", get(list_blocks))
        .route_layer(from_fn_with_state(v.clone(), gate))
        .route_layer(from_fn_with_state(
            core::Layer {
                core: core.clone(),
                provider: SimProvider::Vultr,
                error: vultr_error,
                // Vultr's refusals carry no rate-limit headers.
                spent: Arc::new(|_: &str| Vec::new()),
            },
            core::middleware,
        ))
        // Unknown paths and methods: Vultr's error body too.
        .fallback(|| async { vultr_error(StatusCode::NOT_FOUND, "", "Not found.") })
        .method_not_allowed_fallback(|| async {
            vultr_error(StatusCode::METHOD_NOT_ALLOWED, "", "Method not allowed.")
        })
        .with_state(v.clone());
    let world = v.world.clone();
    let clock = core.clock.clone();
    Ok(Served {
        router,
        tokens,
        state: Arc::new(move || lock(&world).dump(clock.now())),
    })
}

/// Rate limit (per source IP, before the key is looked at, as Vultr counts
/// per IP), then the key check, then the read-only check for writes.
async fn gate(State(v): State<Vultr>, mut req: Request, next: Next) -> Response {
    // The listener may not record peer addresses (mod.rs serves without
    // connect info); then every request shares one bucket, which on loopback
    // is the same thing.
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "local".to_string());
    let allowed = lock(&v.buckets)
        .entry(ip)
        .or_insert_with(|| v.rate.bucket())
        .try_take();
    if !allowed {
        return vultr_error(v.rate.status, "", RATE_LIMITED);
    }
    let key = core::bearer(req.headers()).and_then(|t| lock(&v.world).keys.get(t).cloned());
    let Some(key) = key else {
        return vultr_error(StatusCode::UNAUTHORIZED, "", INVALID_TOKEN);
    };
    let write = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if write && key.read_only {
        return vultr_error(StatusCode::FORBIDDEN, "", FORBIDDEN);
    }
    req.extensions_mut().insert(Caller {
        account: key.account,
    });
    next.run(req).await
}

type Q = Result<Query<Vec<(String, String)>>, QueryRejection>;

fn query(q: Q) -> Result<Vec<(String, String)>, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|_| ApiError::bad_request("Invalid query string."))
}

fn filter<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Settle the caller's account and run `f` on it, under the lock.
fn with_account<T>(
    v: &Vultr,
    caller: Caller,
    f: impl FnOnce(&mut Account, &mut WorldRest) -> T,
) -> T {
    let now = v.core.clock.now();
    let mut world = lock(&v.world);
    let World {
        accounts, seq_of, ..
    } = &mut *world;
    let mut rest = WorldRest { seq_of };
    match accounts.get_mut(caller.account) {
        Some(acct) => {
            acct.settle(now);
            f(acct, &mut rest)
        }
        // Keys only ever point at seeded accounts; an empty account stands in.
        None => f(&mut Account::default(), &mut rest),
    }
}

/// The parts of [`World`] a handler needs beside its account.
struct WorldRest<'a> {
    seq_of: &'a mut HashMap<String, u64>,
}

/// Page a filtered list of (id, sequence, item) into `{<key>: [...],
/// meta}`: only the page's items are written out, by `render`.
fn paged<T>(
    key: &str,
    items: &[(&str, u64, T)],
    q: &[(String, String)],
    seq_of: &HashMap<String, u64>,
    render: impl Fn(&T) -> Value,
) -> Result<Value, ApiError> {
    let (per_page, cursor) = page::parse(q)?;
    let ids: Vec<(&str, u64)> = items.iter().map(|(i, s, _)| (*i, *s)).collect();
    let (range, meta) = page::page(&ids, per_page, cursor.as_ref(), seq_of)?;
    let list: Vec<Value> = items[range].iter().map(|(_, _, t)| render(t)).collect();
    Ok(json!({ key: list, "meta": meta }))
}

async fn list_instances(
    State(v): State<Vultr>,
    Extension(c): Extension<Caller>,
    q: Q,
) -> Result<axum::Json<Value>, ApiError> {
    let q = query(q)?;
    // Every filter is an exact match (the spec says only "Filter by …";
    // assumption, see docs/sim-vultr.md). `tag` matches any one of `tags`.
    let tag = filter(&q, "tag");
    let label = filter(&q, "label");
    let main_ip = filter(&q, "main_ip");
    let region = filter(&q, "region");
    let fw = filter(&q, "firewall_group_id");
    with_account(&v, c, |a, w| {
        let items: Vec<_> = a
            .instances
            .iter()
            .filter(|i| tag.is_none_or(|t| i.tags.iter().any(|x| x == t)))
            .filter(|i| label.is_none_or(|l| i.label == l))
            .filter(|i| main_ip.is_none_or(|m| i.main_ip == m))
            .filter(|i| region.is_none_or(|r| i.region == r))
            .filter(|i| fw.is_none_or(|f| i.firewall_group_id == f))
            .map(|i| (i.id.as_str(), i.seq, i))
            .collect();
        paged("instances", &items, &q, w.seq_of, |i| i.render()).map(axum::Json)
    })
}

async fn get_instance(
    State(v): State<Vultr>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    with_account(&v, c, |a, _| {
        a.instances
            .iter()
            .find(|i| i.id == id)
            .map(|i| axum::Json(json!({ "instance": i.render() })))
            .ok_or_else(|| ApiError::not_found("Instance not found."))
    })
}

async fn list_snapshots(
    State(v): State<Vultr>,
    Extension(c): Extension<Caller>,
    q: Q,
) -> Result<axum::Json<Value>, ApiError> {
    let q = query(q)?;
    // `description` is an exact, case-sensitive match (the spec leaves the
    // semantics open; assumption, see docs/sim-vultr.md).
    let description = filter(&q, "description");
    with_account(&v, c, |a, w| {
        let items: Vec<_> = a
            .snapshots
            .iter()
            .filter(|s| description.is_none_or(|d| s.description == d))
            .map(|s| (s.id.as_str(), s.seq, s))
            .collect();
        paged("snapshots", &items, &q, w.seq_of, |s| s.render()).map(axum::Json)
    })
}

async fn get_snapshot(
    State(v): State<Vultr>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    with_account(&v, c, |a, _| {
        a.snapshots
            .iter()
            .find(|s| s.id == id)
            .map(|s| axum::Json(json!({ "snapshot": s.render() })))
            .ok_or_else(|| ApiError::not_found("Snapshot not found."))
    })
}

/// Parse a JSON object body; anything else is a 400.
fn json_object(body: &Bytes) -> Result<serde_json::Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ApiError::bad_request(
            "Invalid JSON body: expected a JSON object.",
        )),
    }
}

/// An optional string field; present but not a string is a 400.
fn opt_string(m: &serde_json::Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(format!(
            "Invalid {name}: must be a string."
        ))),
    }
}

async fn create_snapshot(
    State(v): State<Vultr>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let m = json_object(&body)?;
    let instance_id = opt_string(&m, "instance_id")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("Invalid instance_id: instance_id is required."))?;
    let description = opt_string(&m, "description")?.unwrap_or_default();
    let now = v.core.clock.now();
    let core = v.core.clone();
    let take = |want: fn(&FaultKind) -> bool| {
        core.take_fault(
            SimProvider::Vultr,
            "POST",
            "/snapshots",
            "/snapshots",
            Some(&instance_id),
            want,
        )
    };
    let mut world = lock(&v.world);
    let World { accounts, .. } = &mut *world;
    let Some(acct) = accounts.get_mut(c.account) else {
        return Err(ApiError::bad_request(
            "Invalid instance_id: no such instance.",
        ));
    };
    acct.settle(now);
    let Some(inst) = acct.instances.iter().find(|i| i.id == instance_id).cloned() else {
        // The spec declares 400 (not 404) for this operation.
        return Err(ApiError::bad_request(
            "Invalid instance_id: no such instance.",
        ));
    };
    if inst.status != "active" {
        return Err(ApiError::bad_request(format!(
            "Unable to create snapshot: instance status is {}.",
            inst.status
        )));
    }
    // Assumption: one pending snapshot per instance; a second create is refused.
    if acct.has_pending(&inst.id) {
        return Err(ApiError::bad_request(
            "Unable to create snapshot: a snapshot of this instance is already in progress.",
        ));
    }
    let over_limit = acct.snapshot_limit.filter(|l| acct.snapshots.len() >= *l);
    let quota_fault = take(|k| matches!(k, FaultKind::Quota)).is_some();
    if quota_fault || over_limit.is_some() {
        let limit = acct
            .snapshot_limit
            .map(|l| format!(" ({l})"))
            .unwrap_or_default();
        return Err(ApiError::bad_request(format!(
            "Unable to create snapshot: you have reached your snapshot limit{limit}. Delete snapshots you no longer need."
        )));
    }
    let fate = match take(|k| matches!(k, FaultKind::ActionError | FaultKind::ActionStuck)) {
        Some(FaultKind::ActionError) => Fate::Vanish,
        Some(FaultKind::ActionStuck) => Fate::Stuck,
        _ => Fate::Complete,
    };
    // Never the id of anything seeded or made before (a v4 UUID all but
    // never repeats; the check makes it never).
    let mut id = new_uuid();
    while world.known(&id) {
        id = new_uuid();
    }
    let seq = world.issue(&id);
    let snap = Snapshot {
        seq,
        id,
        description,
        date_created: now,
        full_size: inst.disk * 1024 * 1024 * 1024,
        complete: false,
        settle_at: (fate != Fate::Stuck).then(|| now + v.core.snapshot_duration(inst.disk as f64)),
        fate,
        os_id: inst.os_id,
        app_id: inst.app_id,
        source_instance: Some(inst.id.clone()),
    };
    let body = json!({ "snapshot": snap.render() });
    if let Some(acct) = world.accounts.get_mut(c.account) {
        acct.snapshots.push(snap);
    }
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

async fn update_snapshot(
    State(v): State<Vultr>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let m = json_object(&body)?;
    let description = opt_string(&m, "description")?
        .ok_or_else(|| ApiError::bad_request("Invalid description: description is required."))?;
    with_account(&v, c, |a, _| {
        let s = a
            .snapshots
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or_else(|| ApiError::not_found("Snapshot not found."))?;
        s.description = description;
        Ok(StatusCode::NO_CONTENT)
    })
}

async fn delete_snapshot(
    State(v): State<Vultr>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    // Assumption: a pending snapshot may be deleted too.
    with_account(&v, c, |a, _| {
        let before = a.snapshots.len();
        a.snapshots.retain(|s| s.id != id);
        if a.snapshots.len() == before {
            Err(ApiError::not_found("Snapshot not found."))
        } else {
            Ok(StatusCode::NO_CONTENT)
        }
    })
}

fn list_items(
    v: &Vultr,
    c: Caller,
    q: Q,
    key: &str,
    pick: fn(&Account) -> &[Item],
) -> Result<axum::Json<Value>, ApiError> {
    let q = query(q)?;
    with_account(v, c, |a, w| {
        let items: Vec<_> = pick(a)
            .iter()
            .map(|i| (i.id.as_str(), i.seq, &i.json))
            .collect();
        paged(key, &items, &q, w.seq_of, |j| (*j).clone()).map(axum::Json)
    })
}

async fn list_load_balancers(
    State(v): State<Vultr>,
    Extension(c): Extension<Caller>,
    q: Q,
) -> Result<axum::Json<Value>, ApiError> {
    list_items(&v, c, q, "load_balancers", |a| &a.load_balancers)
}

async fn list_firewalls(
    State(v): State<Vultr>,
    Extension(c): Extension<Caller>,
    q: Q,
) -> Result<axum::Json<Value>, ApiError> {
    list_items(&v, c, q, "firewall_groups", |a| &a.firewalls)
}

/// The spec declares no paging parameters here and its response schema has
/// only `vke_clusters` (the example's `meta` is not declared), so the
/// simulator returns every cluster in one answer and ignores the query.
async fn list_clusters(
    State(v): State<Vultr>,
    Extension(c): Extension<Caller>,
) -> axum::Json<Value> {
    with_account(&v, c, |a, _| {
        let list: Vec<Value> = a.clusters.iter().map(|i| i.json.clone()).collect();
        axum::Json(json!({ "vke_clusters": list }))
    })
}

async fn list_blocks(
    State(v): State<Vultr>,
    Extension(c): Extension<Caller>,
    q: Q,
) -> Result<axum::Json<Value>, ApiError> {
    list_items(&v, c, q, "blocks", |a| &a.blocks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::sim::Settings;

    #[test]
    fn demo_seed_loads_with_one_rw_and_one_ro_key() {
        let core = Arc::new(Core::new(Settings::default(), Clock::system(), Vec::new()));
        let seed: yaml_serde::Value = yaml_serde::from_str(DEMO_SEED).unwrap();
        let served = serve(core, Some(&seed)).unwrap();
        assert_eq!(served.tokens.len(), 2);
        assert!(served.tokens.iter().any(|t| t.read_only));
        assert!(served.tokens.iter().any(|t| !t.read_only));
        for t in &served.tokens {
            assert_eq!(t.token.len(), 36, "{}", t.token);
            assert!(
                t.token
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            );
        }
        let state = (served.state)();
        assert_eq!(
            state["accounts"][0]["instances"].as_array().unwrap().len(),
            4
        );
    }

    #[test]
    fn seed_errors_name_the_field() {
        let core = Arc::new(Core::new(Settings::default(), Clock::system(), Vec::new()));
        let cases = [
            ("accounts: [{name: a, bogus: 1}]", "bogus"),
            ("rate_limit: {status: 500}", "rate_limit.status"),
            ("rate_limit: {per_second: 0}", "rate_limit.per_second"),
            (
                "accounts: [{name: a, api_keys: [{key: K}]}, {name: b, api_keys: [{key: K}]}]",
                "accounts[1].api_keys[0].key",
            ),
            ("accounts: [{name: a}, {name: a}]", "accounts[1].name"),
            (
                "accounts: [{name: a, instances: [{id: x, label: l}], snapshots: [{id: x}]}]",
                "snapshots[0].id",
            ),
            (
                "accounts: [{name: a, snapshots: [{status: errored}]}]",
                "snapshots[0].status",
            ),
        ];
        for (text, want) in cases {
            let seed: yaml_serde::Value = yaml_serde::from_str(text).unwrap();
            let err = serve(core.clone(), Some(&seed)).err().unwrap_or_default();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn scaled_bucket_refuses_past_capacity_and_recovers() {
        // 30/s at factor 0.5 and window scale 0.01: 15 requests, refilling
        // 1,500/s (10 ms for the whole bucket).
        let settings = Settings {
            rate_limit_factor: 0.5,
            rate_window_scale: 0.01,
            ..Settings::default()
        };
        let core = Core::new(settings, Clock::system(), Vec::new());
        let rate = Rate::new(&core, &seed::RawRateLimit::default(), 0.01);
        assert_eq!(rate.capacity, 15.0);
        assert!((rate.per_second - 1500.0).abs() < 1e-6, "{rate:?}");
        let mut b = rate.bucket();
        let start = std::time::Instant::now();
        let mut taken = 0u32;
        while taken < 1_000_000 && b.try_take() {
            taken += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        assert!(taken >= 15, "{taken}");
        assert!(
            f64::from(taken) <= 16.0 + secs * 1500.0,
            "{taken} in {secs} s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(b.remaining(), 15);
        // Unscaled the refill is the published rate times the factor.
        let plain = Rate::new(&core, &seed::RawRateLimit::default(), 1.0);
        assert!((plain.per_second - 15.0).abs() < 1e-9, "{plain:?}");
    }

    #[test]
    fn window_scale_must_be_positive_and_bounded() {
        for (scale, ok) in [
            (1.0, true),
            (0.001, true),
            (0.0, false),
            (-1.0, false),
            (2e3, false),
        ] {
            assert_eq!(window_scale(scale).is_ok(), ok, "{scale}");
        }
        let settings = Settings {
            rate_window_scale: f64::NAN,
            ..Settings::default()
        };
        let core = Arc::new(Core::new(settings, Clock::system(), Vec::new()));
        let err = serve(core, None).err().unwrap_or_default();
        assert!(err.contains("settings.rate_window_scale"), "{err}");
    }
}
