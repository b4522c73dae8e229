//! A stateful simulator of the DigitalOcean, Vultr and Hetzner Cloud HTTP
//! APIs on loopback, with fault injection, rate limits and request counters.
//! It serves `snapkeeper sim`, `snapkeeper demo`, the tests and benchmarks.
//!
//! One listener; each provider under its own prefix, below which paths are
//! exactly the spec's: DigitalOcean `/digitalocean/v2/...`, Vultr
//! `/vultr/v2/...`, Hetzner `/hetzner/v1/...`. The control API is `/_sim/...`.
//!
//! Must never: share types or code with `crate::provider` (each side is
//! written from the specs on its own, so a misreading shows up as a failing
//! test), or be needed by the product outside `sim` and `demo`.

pub mod core;
pub mod digitalocean;
pub mod hetzner;
pub mod vultr;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
pub use core::{Core, FaultKind, FaultRule, RecordedRequest, Settings, SimProvider};

/// Errors starting the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The seed file could not be read.
    #[error("cannot read seed file {path}: {source}")]
    ReadSeed {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The seed is not valid.
    #[error("invalid seed {origin}: {message}")]
    BadSeed {
        /// File name, or "built-in demo seed".
        origin: String,
        /// What is wrong (with line and column when the parser gives them).
        message: String,
    },
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A seed: settings, faults, and each provider's accounts and resources.
/// Provider sections are kept as YAML and read by each provider module.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Global knobs.
    #[serde(default)]
    pub settings: Settings,
    /// Fault rules active from the start.
    #[serde(default)]
    pub faults: Vec<FaultRule>,
    /// DigitalOcean section (see `digitalocean.rs`).
    #[serde(default)]
    pub digitalocean: Option<yaml_serde::Value>,
    /// Vultr section (see `vultr.rs`).
    #[serde(default)]
    pub vultr: Option<yaml_serde::Value>,
    /// Hetzner section (see `hetzner.rs`).
    #[serde(default)]
    pub hetzner: Option<yaml_serde::Value>,
}

impl Seed {
    /// Parse seed YAML; `origin` names it in errors.
    ///
    /// # Errors
    /// [`SimError::BadSeed`] with the parser's location.
    pub fn parse(text: &str, origin: &str) -> Result<Self, SimError> {
        yaml_serde::from_str(text).map_err(|e| SimError::BadSeed {
            origin: origin.to_string(),
            message: e.to_string(),
        })
    }

    /// Read a seed file.
    ///
    /// # Errors
    /// [`SimError`] when it cannot be read or parsed.
    pub fn from_path(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::ReadSeed {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The built-in demo seed: every provider's demo section, real-world pace.
    ///
    /// # Errors
    /// [`SimError::BadSeed`] if a built-in section does not parse (a bug).
    pub fn demo() -> Result<Self, SimError> {
        let section = |text: &str, name: &str| -> Result<Option<yaml_serde::Value>, SimError> {
            yaml_serde::from_str(text)
                .map(Some)
                .map_err(|e| SimError::BadSeed {
                    origin: format!("built-in demo seed ({name})"),
                    message: e.to_string(),
                })
        };
        Ok(Self {
            settings: Settings::default(),
            faults: Vec::new(),
            digitalocean: section(digitalocean::DEMO_SEED, "digitalocean")?,
            vultr: section(vultr::DEMO_SEED, "vultr")?,
            hetzner: section(hetzner::DEMO_SEED, "hetzner")?,
        })
    }
}

/// A token the simulator accepts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenInfo {
    /// The account (DigitalOcean team, Vultr account, Hetzner project) it belongs to.
    pub account: String,
    /// The token text.
    pub token: String,
    /// Writes are refused with it.
    pub read_only: bool,
}

/// Dumps a provider's current state as JSON, for tests and the control API.
pub type StateFn = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// What a provider module hands back: its router (paths as in the spec, to be
/// nested under the provider's prefix), its tokens, and a state dump.
pub struct Served {
    /// The provider's routes, already wearing [`core::middleware`].
    pub router: Router,
    /// Tokens that work against it.
    pub tokens: Vec<TokenInfo>,
    /// Current state as JSON (`GET /_sim/state`).
    pub state: StateFn,
}

/// A running simulator.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// Shared state (faults, counters, clock).
    pub core: Arc<Core>,
    /// Tokens per provider.
    pub tokens: BTreeMap<SimProvider, Vec<TokenInfo>>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// The base URL a config's `api_url` should use for this provider.
    pub fn base_url(&self, provider: SimProvider) -> String {
        format!("http://{}{}", self.addr, provider.prefix())
    }

    /// The control API's base URL.
    pub fn control_url(&self) -> String {
        format!("http://{}/_sim", self.addr)
    }

    /// Stop serving and wait for the server task to end.
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }

    /// The startup banner: base URLs and tokens, one per line.
    pub fn banner(&self) -> String {
        let mut out = format!("snapkeeper sim listening on http://{}\n", self.addr);
        for p in [
            SimProvider::Digitalocean,
            SimProvider::Vultr,
            SimProvider::Hetzner,
        ] {
            out.push_str(&format!("url {} {}\n", p.as_str(), self.base_url(p)));
        }
        out.push_str(&format!("url control {}\n", self.control_url()));
        for (p, tokens) in &self.tokens {
            for t in tokens {
                let mode = if t.read_only {
                    "read-only"
                } else {
                    "read-write"
                };
                out.push_str(&format!(
                    "token {} {} {mode} {}\n",
                    p.as_str(),
                    t.account,
                    t.token
                ));
            }
        }
        out
    }
}

#[derive(Clone)]
struct Control {
    core: Arc<Core>,
    states: Arc<BTreeMap<SimProvider, StateFn>>,
}

/// The whole simulator, built but not yet listening.
pub struct Built {
    /// Every provider's routes plus the control API.
    pub router: Router,
    /// Shared state.
    pub core: Arc<Core>,
    /// Tokens per provider.
    pub tokens: BTreeMap<SimProvider, Vec<TokenInfo>>,
}

/// Build the whole router for a seed (all providers plus the control API).
///
/// # Errors
/// [`SimError::BadSeed`] when a provider section is invalid.
pub fn build(seed: Seed, clock: Clock) -> Result<Built, SimError> {
    core::date_skew(seed.settings.date_skew.as_deref()).map_err(|message| SimError::BadSeed {
        origin: "section settings".into(),
        message,
    })?;
    let core = Arc::new(Core::new(seed.settings.clone(), clock, seed.faults.clone()));
    let bad = |p: SimProvider, message: String| SimError::BadSeed {
        origin: format!("section {}", p.as_str()),
        message,
    };
    let served = [
        (
            SimProvider::Digitalocean,
            digitalocean::serve(core.clone(), seed.digitalocean.as_ref())
                .map_err(|m| bad(SimProvider::Digitalocean, m))?,
        ),
        (
            SimProvider::Vultr,
            vultr::serve(core.clone(), seed.vultr.as_ref())
                .map_err(|m| bad(SimProvider::Vultr, m))?,
        ),
        (
            SimProvider::Hetzner,
            hetzner::serve(core.clone(), seed.hetzner.as_ref())
                .map_err(|m| bad(SimProvider::Hetzner, m))?,
        ),
    ];
    let mut router = Router::new();
    let mut tokens = BTreeMap::new();
    let mut states = BTreeMap::new();
    for (p, s) in served {
        router = router.nest(p.prefix(), s.router);
        tokens.insert(p, s.tokens);
        states.insert(p, s.state);
    }
    let control = Control {
        core: core.clone(),
        states: Arc::new(states),
    };
    let control_routes = Router::new()
        .route("/_sim/health", get(|| async { "ok" }))
        .route(
            "/_sim/faults",
            get(get_faults).post(post_fault).delete(delete_faults),
        )
        .route("/_sim/counters", get(get_counters).delete(delete_counters))
        .route("/_sim/requests", get(get_requests))
        .route("/_sim/clock", get(get_clock))
        .route("/_sim/clock/advance", post(post_advance))
        .route("/_sim/state", get(get_state))
        .route("/_sim/state/{provider}", get(get_provider_state))
        .with_state(control);
    Ok(Built {
        router: router.merge(control_routes),
        core,
        tokens,
    })
}

async fn get_faults(State(c): State<Control>) -> Json<Vec<FaultRule>> {
    Json(c.core.faults())
}

async fn post_fault(State(c): State<Control>, Json(rule): Json<FaultRule>) -> StatusCode {
    c.core.add_fault(rule);
    StatusCode::CREATED
}

async fn delete_faults(State(c): State<Control>) -> StatusCode {
    c.core.clear_faults();
    StatusCode::NO_CONTENT
}

async fn get_counters(State(c): State<Control>) -> Json<BTreeMap<String, BTreeMap<String, u64>>> {
    Json(c.core.counters())
}

async fn delete_counters(State(c): State<Control>) -> StatusCode {
    c.core.reset_counters();
    StatusCode::NO_CONTENT
}

async fn get_requests(State(c): State<Control>) -> Json<Vec<RecordedRequest>> {
    Json(c.core.requests())
}

async fn get_clock(State(c): State<Control>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "now": c.core.clock.now().to_rfc3339() }))
}

#[derive(Deserialize)]
struct Advance {
    seconds: i64,
}

async fn post_advance(State(c): State<Control>, Json(a): Json<Advance>) -> Json<serde_json::Value> {
    c.core.clock.advance(chrono::Duration::seconds(a.seconds));
    Json(serde_json::json!({ "now": c.core.clock.now().to_rfc3339() }))
}

async fn get_state(State(c): State<Control>) -> Json<serde_json::Value> {
    let all: serde_json::Map<String, serde_json::Value> = c
        .states
        .iter()
        .map(|(p, f)| (p.as_str().to_string(), f()))
        .collect();
    Json(serde_json::Value::Object(all))
}

async fn get_provider_state(
    State(c): State<Control>,
    axum::extract::Path(provider): axum::extract::Path<String>,
) -> Response {
    match c.states.iter().find(|(p, _)| p.as_str() == provider) {
        Some((_, f)) => Json(f()).into_response(),
        None => (StatusCode::NOT_FOUND, "no such provider").into_response(),
    }
}

/// Start serving `seed` on `listen` (port 0 picks a free port).
///
/// # Errors
/// [`SimError`] when the seed is invalid or the address cannot be bound.
pub async fn start(seed: Seed, listen: SocketAddr, clock: Clock) -> Result<Running, SimError> {
    let Built {
        router,
        core,
        tokens,
    } = build(seed, clock)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: listen,
        source,
    })?;
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
            stop.cancelled().await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "simulator server stopped");
        }
    });
    Ok(Running {
        addr,
        core,
        tokens,
        cancel,
        task,
    })
}

/// `snapkeeper sim`: serve until `shutdown` resolves, printing the banner.
///
/// # Errors
/// [`SimError`] when the seed is invalid or the address cannot be bound.
pub async fn run(
    listen: SocketAddr,
    seed: Option<&Path>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SimError> {
    let seed = match seed {
        Some(path) => Seed::from_path(path)?,
        None => Seed::demo()?,
    };
    let running = start(seed, listen, Clock::system()).await?;
    print!("{}", running.banner());
    println!("ready");
    shutdown.await;
    running.stop().await;
    Ok(())
}
