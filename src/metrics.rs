//! Prometheus metrics: the families, how a cycle report, a reload and an
//! HTTP answer move them, and the `/metrics` endpoint.
//!
//! Owns every metric name and label (see docs/monitoring.md), the
//! [`Metrics`] registry with its `observe_*` entry points, the removal of a
//! vanished resource's series (cardinality stays bounded by what the
//! provider holds), and [`serve`], the axum server on `metrics.listen`.
//!
//! Must never: put a token, a URL or an error text in a label (labels are
//! names, ids and small fixed sets), block a caller (every update is an
//! atomic or a short lock), or decide freshness itself (that is
//! `policy::freshness`, through `health`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::engine::{CreateStatus, CycleReport, DeleteStatus, WorkKey};
use crate::health::{FailReason, ResourceHealth};
use crate::policy::freshness::Level;
use crate::provider::http::{RequestEvent, RequestObserver};
use crate::provider::paging::Scheme;

type FGauge = Gauge<f64, AtomicU64>;

/// Errors of the metrics endpoint.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The listen address could not be bound.
    #[error("cannot serve metrics on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Labels of a per-resource series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct ResourceLabels {
    /// Account name.
    pub account: String,
    /// Policy name.
    pub policy: String,
    /// Resource id.
    pub resource: String,
    /// Resource name.
    pub resource_name: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    account: String,
    policy: String,
    resource: String,
    resource_name: String,
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AccountLabels {
    account: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PolicyLabels {
    account: String,
    policy: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    account: String,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    provider: &'static str,
    account: String,
    endpoint: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: &'static str,
    account: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReplicaLabels {
    replica: String,
}

/// Issue 15: how this replica stands in etcd, for [`Metrics::observe_ha`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaState {
    /// This replica's id.
    pub replica: String,
    /// A lease renewed within half its time to live.
    pub etcd_reachable: bool,
    /// Members that count for the rendezvous.
    pub members: usize,
    /// Each account of the config: does this replica hold its owner key?
    pub owned: Vec<(String, bool)>,
}

fn cycle_histogram() -> Histogram {
    // 0.1 s to 2 h: a quiet cycle is a few listings, a busy one waits for
    // DigitalOcean's ~2 min/GB.
    Histogram::new([
        0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0,
    ])
}

/// The metrics registry and its families. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    last_success: Family<ResourceLabels, FGauge>,
    age: Family<ResourceLabels, FGauge>,
    snapshots: Family<StateLabels, Gauge>,
    size: Family<ResourceLabels, FGauge>,
    freshness: Family<ResourceLabels, Gauge>,
    failing: Family<ResourceLabels, Gauge>,
    warn_seconds: Family<PolicyLabels, FGauge>,
    crit_seconds: Family<PolicyLabels, FGauge>,
    created: Family<PolicyLabels, Counter>,
    completed: Family<PolicyLabels, Counter>,
    deleted: Family<PolicyLabels, Counter>,
    failures: Family<FailureLabels, Counter>,
    held: Family<AccountLabels, Gauge>,
    suspect: Family<AccountLabels, Gauge>,
    cycles: Family<AccountLabels, Counter>,
    cycle_failures: Family<AccountLabels, Counter>,
    cycle_duration: Family<AccountLabels, Histogram, fn() -> Histogram>,
    last_cycle: Family<AccountLabels, FGauge>,
    requests: Family<RequestLabels, Counter>,
    retries: Family<ProviderLabels, Counter>,
    rate_limited: Family<ProviderLabels, Counter>,
    rate_remaining: Family<ProviderLabels, Gauge>,
    reload_success: Gauge,
    reload_time: FGauge,
    reload_errors: Gauge,
    ha_replica: Family<ReplicaLabels, Gauge>,
    ha_reachable: Family<ReplicaLabels, Gauge>,
    ha_members: Family<ReplicaLabels, Gauge>,
    ha_owned: Family<AccountLabels, Gauge>,
    /// Accounts with an `ha_owned` series now.
    ha_accounts: Mutex<BTreeSet<String>>,
    /// Per account: the resource and policy series it has now, so that the
    /// ones that went away can be removed.
    seen: Mutex<BTreeMap<String, Seen>>,
}

#[derive(Debug, Default)]
struct Seen {
    resources: BTreeSet<ResourceLabels>,
    policies: BTreeSet<String>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every family, registered; `snapkeeper_build_info` set.
    pub fn new() -> Self {
        let mut r = Registry::default();
        let m = Self {
            last_success: Family::default(),
            age: Family::default(),
            snapshots: Family::default(),
            size: Family::default(),
            freshness: Family::default(),
            failing: Family::default(),
            warn_seconds: Family::default(),
            crit_seconds: Family::default(),
            created: Family::default(),
            completed: Family::default(),
            deleted: Family::default(),
            failures: Family::default(),
            held: Family::default(),
            suspect: Family::default(),
            cycles: Family::default(),
            cycle_failures: Family::default(),
            cycle_duration: Family::new_with_constructor(cycle_histogram),
            last_cycle: Family::default(),
            requests: Family::default(),
            retries: Family::default(),
            rate_limited: Family::default(),
            rate_remaining: Family::default(),
            reload_success: Gauge::default(),
            reload_time: FGauge::default(),
            reload_errors: Gauge::default(),
            ha_replica: Family::default(),
            ha_reachable: Family::default(),
            ha_members: Family::default(),
            ha_owned: Family::default(),
            ha_accounts: Mutex::new(BTreeSet::new()),
            seen: Mutex::new(BTreeMap::new()),
            registry: Registry::default(),
        };
        let build: Family<BuildLabels, Gauge> = Family::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        r.register(
            "snapkeeper_build_info",
            "Always 1; the version in a label",
            build,
        );
        r.register(
            "snapkeeper_last_success_timestamp_seconds",
            "Creation time of the newest complete managed snapshot (provider state)",
            m.last_success.clone(),
        );
        r.register(
            "snapkeeper_snapshot_age_seconds",
            "Age of the newest complete managed snapshot at the end of the last cycle",
            m.age.clone(),
        );
        r.register(
            "snapkeeper_snapshots",
            "Managed snapshots by state (complete, in_progress, failed)",
            m.snapshots.clone(),
        );
        r.register(
            "snapkeeper_snapshot_size_bytes",
            "Sum of the listed sizes of the managed snapshots",
            m.size.clone(),
        );
        r.register(
            "snapkeeper_freshness",
            "Freshness verdict: 0 OK, 1 WARN, 2 CRIT",
            m.freshness.clone(),
        );
        r.register(
            "snapkeeper_resource_failing",
            "1 when the last cycle failed for this resource",
            m.failing.clone(),
        );
        r.register(
            "snapkeeper_freshness_warn_seconds",
            "Age above which a policy's newest snapshot is WARN",
            m.warn_seconds.clone(),
        );
        r.register(
            "snapkeeper_freshness_crit_seconds",
            "Age above which a policy's newest snapshot is CRIT",
            m.crit_seconds.clone(),
        );
        r.register(
            "snapkeeper_snapshots_created",
            "Snapshot creates the provider accepted",
            m.created.clone(),
        );
        r.register(
            "snapkeeper_snapshots_completed",
            "Snapshots confirmed complete",
            m.completed.clone(),
        );
        r.register(
            "snapkeeper_snapshots_deleted",
            "Snapshots deleted by retention",
            m.deleted.clone(),
        );
        r.register(
            "snapkeeper_failures",
            "Failed units of work by reason",
            m.failures.clone(),
        );
        r.register(
            "snapkeeper_deletions_held",
            "Deletions held back in the last cycle (reload grace, clock skew)",
            m.held.clone(),
        );
        r.register(
            "snapkeeper_suspect_snapshots",
            "Managed snapshots whose times cannot be trusted, in the last cycle",
            m.suspect.clone(),
        );
        r.register("snapkeeper_cycles", "Account cycles run", m.cycles.clone());
        r.register(
            "snapkeeper_cycle_failures",
            "Account cycles with at least one failure",
            m.cycle_failures.clone(),
        );
        r.register(
            "snapkeeper_cycle_duration_seconds",
            "How long an account cycle took",
            m.cycle_duration.clone(),
        );
        r.register(
            "snapkeeper_last_cycle_timestamp_seconds",
            "When the account's last cycle ended",
            m.last_cycle.clone(),
        );
        r.register(
            "snapkeeper_http_requests",
            "Provider API answers by provider, account, endpoint class and status",
            m.requests.clone(),
        );
        r.register(
            "snapkeeper_http_retries",
            "Provider API requests that were retries",
            m.retries.clone(),
        );
        r.register(
            "snapkeeper_http_rate_limited",
            "Provider API answers with status 429",
            m.rate_limited.clone(),
        );
        r.register(
            "snapkeeper_rate_limit_remaining",
            "RateLimit-Remaining of the provider's last answer",
            m.rate_remaining.clone(),
        );
        r.register(
            "snapkeeper_config_last_reload_success",
            "1 when the last reload was applied (or found nothing changed), 0 when rejected",
            m.reload_success.clone(),
        );
        r.register(
            "snapkeeper_config_last_reload_timestamp_seconds",
            "When the config was last loaded or reloaded",
            m.reload_time.clone(),
        );
        r.register(
            "snapkeeper_config_reload_errors",
            "Errors in the file the last reload rejected (0 when it was applied)",
            m.reload_errors.clone(),
        );
        m.register_ha(&mut r);
        Self { registry: r, ..m }
    }

    /// Issue 15: the ha families. They have no series until the daemon
    /// runs with `ha:` (an empty family prints only its HELP and TYPE).
    fn register_ha(&self, r: &mut Registry) {
        r.register(
            "snapkeeper_ha_replica_info",
            "Always 1 with ha: set; this replica's id in a label",
            self.ha_replica.clone(),
        );
        r.register(
            "snapkeeper_ha_etcd_reachable",
            "1 while this replica's etcd lease was renewed within half its time to live (it may write), else 0",
            self.ha_reachable.clone(),
        );
        r.register(
            "snapkeeper_ha_members",
            "Replicas that count for the rendezvous, as this replica sees them (0 while etcd is unreachable)",
            self.ha_members.clone(),
        );
        r.register(
            "snapkeeper_ha_owned",
            "1 while this replica holds the account's owner key in etcd (it works the account), else 0",
            self.ha_owned.clone(),
        );
    }

    /// Issue 15: this replica's standing in etcd (a daemon without `ha:`
    /// never calls it, so it has no ha series).
    pub fn observe_ha(&self, state: &HaState) {
        let mut accounts = self
            .ha_accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let replica = ReplicaLabels {
            replica: state.replica.clone(),
        };
        self.ha_replica.get_or_create(&replica).set(1);
        self.ha_reachable
            .get_or_create(&replica)
            .set(i64::from(state.etcd_reachable));
        self.ha_members
            .get_or_create(&replica)
            .set(i64::try_from(state.members).unwrap_or(i64::MAX));
        let now: BTreeSet<String> = state.owned.iter().map(|(a, _)| a.clone()).collect();
        for gone in accounts.difference(&now) {
            self.ha_owned.remove(&AccountLabels {
                account: gone.clone(),
            });
        }
        for (account, owned) in &state.owned {
            self.ha_owned
                .get_or_create(&AccountLabels {
                    account: account.clone(),
                })
                .set(i64::from(*owned));
        }
        *accounts = now;
    }

    /// The page in the classic Prometheus text format (0.0.4), for
    /// clients that do not ask for OpenMetrics (curl, `promtool check
    /// metrics`, older scrapers).
    pub fn encode_text(&self) -> String {
        to_text_format(&self.encode())
    }

    /// The page, OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "metrics encoding failed");
        }
        out
    }

    /// The config was loaded at start (`now`): a success.
    pub fn observe_start(&self, now: DateTime<Utc>) {
        self.observe_reload(true, 0, now);
    }

    /// A reload was applied (`ok`) or rejected with `errors` errors.
    pub fn observe_reload(&self, ok: bool, errors: usize, now: DateTime<Utc>) {
        self.reload_success.set(i64::from(ok));
        self.reload_errors
            .set(i64::try_from(errors).unwrap_or(i64::MAX));
        self.reload_time.set(epoch(now));
    }

    /// One account cycle ended with `report`; `health` is its per-resource
    /// view (see [`crate::health::from_report`]). Series of resources and
    /// policies of the account that the cycle no longer saw are removed,
    /// unless a listing failed (then what is unknown keeps its last value)
    /// or the pair is in `followed` (its snapshot is still being followed,
    /// so the pass left it out).
    pub fn observe_cycle(
        &self,
        report: &CycleReport,
        health: &[ResourceHealth],
        followed: &[WorkKey],
        now: DateTime<Utc>,
    ) {
        let account = AccountLabels {
            account: report.account.clone(),
        };
        self.cycles.get_or_create(&account).inc();
        if report.failures() > 0 {
            self.cycle_failures.get_or_create(&account).inc();
        }
        if let Some(end) = report.finished {
            let secs = (end - report.started).num_milliseconds() as f64 / 1000.0;
            self.cycle_duration
                .get_or_create(&account)
                .observe(secs.max(0.0));
        }
        self.last_cycle.get_or_create(&account).set(epoch(now));

        // Every counter series exists from the first cycle on, at 0, so
        // that `increase()` sees the first failure.
        for reason in FailReason::ALL {
            let _ = self.failures.get_or_create(&FailureLabels {
                account: report.account.clone(),
                reason: reason.as_str(),
            });
        }
        let (mut held, mut suspect) = (0i64, 0i64);
        for r in &report.resources {
            let pl = PolicyLabels {
                account: report.account.clone(),
                policy: r.policy.clone(),
            };
            for family in [&self.created, &self.completed, &self.deleted] {
                let _ = family.get_or_create(&pl);
            }
            match &r.create {
                CreateStatus::Created { .. } => {
                    self.created.get_or_create(&pl).inc();
                    self.completed.get_or_create(&pl).inc();
                }
                CreateStatus::Unconfirmed(_) | CreateStatus::Failed(_) => {
                    self.created.get_or_create(&pl).inc();
                }
                _ => {}
            }
            for s in &r.snapshots {
                match &s.delete {
                    Some(DeleteStatus::Deleted) => {
                        self.deleted.get_or_create(&pl).inc();
                    }
                    Some(DeleteStatus::Held { .. }) => held += 1,
                    _ => {}
                }
                suspect += i64::from(s.suspect);
            }
            if let Some((reason, _)) = crate::health::failure_of(r) {
                self.fail(&report.account, reason);
            }
        }
        for e in &report.errors {
            self.fail(&report.account, FailReason::classify(e));
        }
        for o in &report.orphans {
            held += i64::try_from(o.held.len()).unwrap_or(0);
            for f in &o.failed {
                self.fail(&report.account, FailReason::classify(f));
            }
        }
        self.held.get_or_create(&account).set(held);
        self.suspect.get_or_create(&account).set(suspect);

        let mut now_resources = BTreeSet::new();
        let mut now_policies = BTreeSet::new();
        for h in health {
            let l = labels_of(h);
            self.set_resource(&l, h, now);
            now_resources.insert(l);
            if now_policies.insert(h.policy.clone()) {
                let pl = PolicyLabels {
                    account: h.account.clone(),
                    policy: h.policy.clone(),
                };
                self.warn_seconds
                    .get_or_create(&pl)
                    .set(h.thresholds.warn.as_secs_f64());
                self.crit_seconds
                    .get_or_create(&pl)
                    .set(h.thresholds.crit.as_secs_f64());
            }
        }
        let complete_listing = report.errors.is_empty() && report.skipped_policies.is_empty();
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = seen.entry(report.account.clone()).or_default();
        if complete_listing {
            // A resource whose snapshot is still followed was left out of
            // this pass: it is not gone.
            let still: BTreeSet<ResourceLabels> = entry
                .resources
                .iter()
                .filter(|l| followed.contains(&(l.policy.clone(), l.resource.clone())))
                .cloned()
                .collect();
            for l in &still {
                now_policies.insert(l.policy.clone());
            }
            now_resources.extend(still);
            for gone in entry.resources.difference(&now_resources) {
                self.remove_resource(gone);
            }
            for gone in entry.policies.difference(&now_policies) {
                self.remove_policy(&report.account, gone);
            }
            entry.resources = now_resources;
            entry.policies = now_policies;
        } else {
            entry.resources.extend(now_resources);
            entry.policies.extend(now_policies);
        }
    }

    /// An account went away (removed from the config): all its resource
    /// and policy series go. Its counters stay (they only ever grow).
    pub fn forget_account(&self, account: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = seen.remove(account) {
            for l in &entry.resources {
                self.remove_resource(l);
            }
            for p in &entry.policies {
                self.remove_policy(account, p);
            }
        }
        let a = AccountLabels {
            account: account.to_string(),
        };
        self.held.remove(&a);
        self.suspect.remove(&a);
        self.last_cycle.remove(&a);
    }

    fn fail(&self, account: &str, reason: FailReason) {
        self.failures
            .get_or_create(&FailureLabels {
                account: account.to_string(),
                reason: reason.as_str(),
            })
            .inc();
    }

    fn set_resource(&self, l: &ResourceLabels, h: &ResourceHealth, now: DateTime<Utc>) {
        match h.newest_complete {
            Some(t) => {
                self.last_success.get_or_create(l).set(epoch(t));
                self.age
                    .get_or_create(l)
                    .set((now - t).num_milliseconds().max(0) as f64 / 1000.0);
            }
            None => {
                // No complete snapshot: no timestamp, rather than a fake 0.
                self.last_success.remove(l);
                self.age.remove(l);
            }
        }
        for (state, n) in [
            ("complete", h.complete),
            ("in_progress", h.in_progress),
            ("failed", h.failed),
        ] {
            self.snapshots
                .get_or_create(&state_labels(l, state))
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        self.size.get_or_create(l).set(h.size_bytes);
        self.freshness.get_or_create(l).set(match h.level() {
            Level::Ok => 0,
            Level::Warn => 1,
            Level::Crit => 2,
        });
        self.failing
            .get_or_create(l)
            .set(i64::from(h.failing.is_some()));
    }

    fn remove_resource(&self, l: &ResourceLabels) {
        self.last_success.remove(l);
        self.age.remove(l);
        self.size.remove(l);
        self.freshness.remove(l);
        self.failing.remove(l);
        for state in ["complete", "in_progress", "failed"] {
            self.snapshots.remove(&state_labels(l, state));
        }
    }

    fn remove_policy(&self, account: &str, policy: &str) {
        let pl = PolicyLabels {
            account: account.to_string(),
            policy: policy.to_string(),
        };
        self.warn_seconds.remove(&pl);
        self.crit_seconds.remove(&pl);
    }
}

impl RequestObserver for Metrics {
    fn observe(&self, e: &RequestEvent<'_>) {
        let provider = provider_name(e.scheme);
        self.requests
            .get_or_create(&RequestLabels {
                provider,
                account: e.account.to_string(),
                endpoint: endpoint_class(e.method.as_str(), e.path),
                status: e.status.to_string(),
            })
            .inc();
        let pl = ProviderLabels {
            provider,
            account: e.account.to_string(),
        };
        let retries = self.retries.get_or_create(&pl);
        if e.attempt > 1 {
            retries.inc();
        }
        drop(retries);
        let limited = self.rate_limited.get_or_create(&pl);
        if e.status == 429 {
            limited.inc();
        }
        drop(limited);
        if let Some(n) = e.rate_remaining {
            self.rate_remaining
                .get_or_create(&pl)
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}

fn labels_of(h: &ResourceHealth) -> ResourceLabels {
    ResourceLabels {
        account: h.account.clone(),
        policy: h.policy.clone(),
        resource: h.resource_id.clone(),
        resource_name: h.resource_name.clone(),
    }
}

fn state_labels(l: &ResourceLabels, state: &'static str) -> StateLabels {
    StateLabels {
        account: l.account.clone(),
        policy: l.policy.clone(),
        resource: l.resource.clone(),
        resource_name: l.resource_name.clone(),
        state,
    }
}

fn epoch(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

fn provider_name(s: Scheme) -> &'static str {
    match s {
        Scheme::DigitalOcean => "digitalocean",
        Scheme::Vultr => "vultr",
        Scheme::Hetzner => "hetzner",
    }
}

/// `GET /v2/droplets/:id/actions`: the method and the path with every
/// segment that holds a digit replaced by `:id` (ids, UUIDs), so the label
/// set stays as small as the API.
pub fn endpoint_class(method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path
        .split('/')
        .map(|seg| {
            if seg.bytes().any(|b| b.is_ascii_digit()) && !is_version(seg) {
                ":id"
            } else {
                seg
            }
        })
        .collect();
    format!("{method} {}", segments.join("/"))
}

fn is_version(seg: &str) -> bool {
    seg.len() <= 3 && seg.starts_with('v') && seg[1..].bytes().all(|b| b.is_ascii_digit())
}

/// OpenMetrics text to the classic Prometheus text format: a counter family
/// `x` (samples `x_total`) is announced as `x_total`, and the `# EOF` and
/// `# UNIT` lines go. Everything else is the same in both.
pub fn to_text_format(open: &str) -> String {
    let counters: BTreeSet<&str> = open
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open.len());
    for line in open.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{p}{name}_total {tail}"))
        });
        match renamed {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Serve `/metrics` on `addr` until `cancel`; returns the bound address
/// (port 0 picks one) once listening.
///
/// # Errors
/// [`MetricsError::Bind`] when the address cannot be bound.
pub async fn serve(
    metrics: Arc<Metrics>,
    addr: SocketAddr,
    cancel: CancellationToken,
) -> Result<SocketAddr, MetricsError> {
    use axum::http::header;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| MetricsError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| MetricsError::Bind { addr, source })?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let m = metrics.clone();
            async move {
                // Prometheus asks for OpenMetrics; anything else gets the
                // classic text format.
                let open = headers
                    .get_all(header::ACCEPT)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .any(|v| v.contains("application/openmetrics-text"));
                if open {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        m.encode(),
                    )
                } else {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        m.encode_text(),
                    )
                }
            }
        }),
    );
    tokio::spawn(async move {
        let stop = cancel.cancelled_owned();
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_classes() {
        let cases = [
            ("GET", "/v2/droplets", "GET /v2/droplets"),
            (
                "GET",
                "/v2/droplets/301/snapshots",
                "GET /v2/droplets/:id/snapshots",
            ),
            (
                "POST",
                "/v2/droplets/301/actions",
                "POST /v2/droplets/:id/actions",
            ),
            (
                "DELETE",
                "/snapshots/3c1e4b0a-5d2f-4e8a-9b7c-1a2b3c4d5e01",
                "DELETE /snapshots/:id",
            ),
            ("GET", "/images?type=snapshot", "GET /images"),
            (
                "GET",
                "/v1/servers/42/actions/7",
                "GET /v1/servers/:id/actions/:id",
            ),
        ];
        for (m, p, want) in cases {
            assert_eq!(endpoint_class(m, p), want, "{p}");
        }
    }

    #[test]
    fn text_format_renames_counter_families_only() {
        let open = "# HELP a_cycles Cycles.\n# TYPE a_cycles counter\na_cycles_total{x=\"1\"} 2\n# HELP a_age Age.\n# TYPE a_age gauge\na_age 3.5\n# EOF\n";
        let want = "# HELP a_cycles_total Cycles.\n# TYPE a_cycles_total counter\na_cycles_total{x=\"1\"} 2\n# HELP a_age Age.\n# TYPE a_age gauge\na_age 3.5\n";
        assert_eq!(to_text_format(open), want);
    }

    fn health(resource: &str) -> ResourceHealth {
        use crate::policy::freshness::{self, Thresholds};
        let th = Thresholds {
            warn: std::time::Duration::from_secs(3600),
            crit: std::time::Duration::from_secs(7200),
            basis: String::new(),
        };
        let now = DateTime::<Utc>::UNIX_EPOCH;
        ResourceHealth {
            account: "a".into(),
            policy: "p".into(),
            kind: crate::config::TargetKind::Droplet,
            resource_id: resource.into(),
            resource_name: format!("name-{resource}"),
            newest_complete: Some(now),
            complete: 1,
            in_progress: 0,
            failed: 0,
            size_bytes: 0.0,
            freshness: freshness::evaluate(&th, Some(now), now),
            thresholds: th,
            failing: None,
            failure: None,
        }
    }

    #[test]
    fn series_go_when_a_resource_goes_but_not_while_it_is_followed() {
        let m = Metrics::new();
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let report = CycleReport::new("a", now, false);
        let has = |m: &Metrics, id: &str| m.encode().contains(&format!("resource=\"{id}\""));
        // (health seen, followed, expect resource 1 present, expect 2 present)
        let steps: &[(&[&str], &[&str], bool, bool)] = &[
            (&["1", "2"], &[], true, true),
            // 1's snapshot is being followed: the pass left it out.
            (&["2"], &["1"], true, true),
            // Not followed and not seen: gone.
            (&["2"], &[], false, true),
            (&[], &[], false, false),
        ];
        for (i, (seen, followed, one, two)) in steps.iter().enumerate() {
            let h: Vec<ResourceHealth> = seen.iter().map(|r| health(r)).collect();
            let f: Vec<WorkKey> = followed
                .iter()
                .map(|r| ("p".to_string(), r.to_string()))
                .collect();
            m.observe_cycle(&report, &h, &f, now);
            assert_eq!((has(&m, "1"), has(&m, "2")), (*one, *two), "step {i}");
        }
        m.observe_cycle(&report, &[health("3")], &[], now);
        m.forget_account("a");
        assert!(!has(&m, "3"), "a removed account keeps no resource series");
    }

    #[test]
    fn a_fresh_registry_has_build_info_and_reload_state() {
        let m = Metrics::new();
        m.observe_start(DateTime::<Utc>::UNIX_EPOCH);
        let page = m.encode();
        assert!(page.contains("snapkeeper_build_info{version=\""), "{page}");
        assert!(
            page.contains("snapkeeper_config_last_reload_success 1"),
            "{page}"
        );
        assert!(page.ends_with("# EOF\n"), "{page}");
    }

    #[test]
    fn ha_series_follow_ownership_and_the_accounts_of_the_config() {
        let m = Metrics::new();
        assert!(
            !m.encode().contains("snapkeeper_ha_owned{"),
            "no ha series without ha"
        );
        let state = |reachable: bool, owned: &[(&str, bool)]| HaState {
            replica: "ra".into(),
            etcd_reachable: reachable,
            members: 2,
            owned: owned.iter().map(|(a, o)| ((*a).to_string(), *o)).collect(),
        };
        m.observe_ha(&state(true, &[("a", true), ("b", false)]));
        let page = m.encode();
        for want in [
            "snapkeeper_ha_replica_info{replica=\"ra\"} 1",
            "snapkeeper_ha_etcd_reachable{replica=\"ra\"} 1",
            "snapkeeper_ha_members{replica=\"ra\"} 2",
            "snapkeeper_ha_owned{account=\"a\"} 1",
            "snapkeeper_ha_owned{account=\"b\"} 0",
        ] {
            assert!(page.contains(want), "{want}\n{page}");
        }
        // b left the config; etcd went away: nothing owned.
        m.observe_ha(&state(false, &[("a", false)]));
        let page = m.encode();
        assert!(
            page.contains("snapkeeper_ha_owned{account=\"a\"} 0"),
            "{page}"
        );
        assert!(
            page.contains("snapkeeper_ha_etcd_reachable{replica=\"ra\"} 0"),
            "{page}"
        );
        assert!(!page.contains("account=\"b\""), "{page}");
    }
}
