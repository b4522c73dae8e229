//! Helpers for the provider-client tests: an in-process simulator with a
//! fixed clock, clients built through `connect_with` with tiny delays, request
//! counting, request-contract checks, and a tracing capture.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use snapkeeper::clock::Clock;
use snapkeeper::config::{Account, ProviderKind, TargetKind, TokenSource};
use snapkeeper::policy::Marker;
use snapkeeper::provider::{
    ClientOptions, ErrorKind, Limit, ListScope, Provider, Resource, RetryPolicy, Snapshot,
    WaitOptions, connect_with,
};
use snapkeeper::sim::{FaultKind, FaultRule, RecordedRequest, Running, Seed, SimProvider, start};

use crate::spec::Spec;

/// What `Provider::in_progress` says of `r`, given this moment's listing of
/// `account`'s snapshots of its kind (as the engine passes it).
pub async fn running(
    client: &dyn snapkeeper::provider::Provider,
    account: &str,
    r: &snapkeeper::provider::Resource,
) -> Vec<snapkeeper::provider::InProgress> {
    let listed = client
        .list_snapshots(r.kind, snapkeeper::provider::ListScope::Managed { account })
        .await
        .unwrap();
    client.in_progress(r, &listed).await.unwrap()
}

pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// One provider's client under test: its simulator seed and tokens, the
/// account name the client is built with, its main target kind and routes,
/// and the two resources (`web-1`, `db-1`) the tests snapshot. Each
/// `provider_*.rs` file has one; `provider_cases.rs` runs the tests that are
/// the same for every provider over all three.
pub struct Case {
    pub provider: ProviderKind,
    pub sim: SimProvider,
    pub account: &'static str,
    pub rw: &'static str,
    pub ro: &'static str,
    /// The seed, with `extra` more resources of `kind`.
    pub seed: fn(usize) -> String,
    pub kind: TargetKind,
    /// The listing of `kind` (a path template) and the page size it asks for.
    pub list: &'static str,
    pub per_page: usize,
    /// Where a snapshot of `kind` is created (a path template).
    pub create: &'static str,
    pub web: &'static str,
    pub db: &'static str,
    /// Checks of `web` as listed.
    pub web_listed: fn(&Resource),
    /// The inventory's sections and how many items each has.
    pub sections: &'static [(&'static str, usize)],
}

impl Case {
    /// The simulator on `seed(extra)` and a read-write client with [`fast`]
    /// options.
    pub async fn start(&self, extra: usize) -> (Sim, Box<dyn Provider>) {
        let sim = Sim::start(&(self.seed)(extra)).await;
        let client = self.client(&sim, self.rw, &fast(&sim.clock));
        (sim, client)
    }

    /// A client of this case's account with `token`.
    pub fn client(&self, sim: &Sim, token: &str, opts: &ClientOptions) -> Box<dyn Provider> {
        sim.client(self.provider, self.account, token, opts)
    }

    /// A marker of this case's account for `resource` under `policy`.
    pub fn marker(&self, resource: &str, policy: &str) -> Marker {
        Marker {
            account: self.account.into(),
            policy: policy.into(),
            resource_id: resource.into(),
            created: t0(),
        }
    }

    /// This case's account's managed snapshots of `kind`.
    pub async fn managed(&self, client: &dyn Provider, kind: TargetKind) -> Vec<Snapshot> {
        let scope = ListScope::Managed {
            account: self.account,
        };
        client.list_snapshots(kind, scope).await.unwrap()
    }

    /// Every snapshot of `kind`, managed or not.
    pub async fn all(&self, client: &dyn Provider, kind: TargetKind) -> Vec<Snapshot> {
        client.list_snapshots(kind, ListScope::All).await.unwrap()
    }

    /// The resource `id` of this case's kind, as listed.
    pub async fn resource(&self, client: &dyn Provider, id: &str) -> Resource {
        client
            .list_resources(self.kind)
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("{:?}: no {id}", self.provider))
    }
}

/// `sim.counts(token)` is exactly `want` ("METHOD template", count).
pub fn assert_counts(sim: &Sim, token: &str, want: &[(&str, u64)]) {
    let want: Vec<(String, u64)> = want.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    assert_eq!(sim.counts(token), want);
}

/// A running simulator on a fixed clock (moved by `advance`).
pub struct Sim {
    pub run: Running,
    pub clock: Clock,
}

impl Sim {
    pub async fn start(yaml: &str) -> Self {
        Self::start_with_clock(yaml, Clock::fixed(t0())).await
    }

    pub async fn start_with_clock(yaml: &str, clock: Clock) -> Self {
        let seed = Seed::parse(yaml, "provider test seed").unwrap();
        let run = start(seed, "127.0.0.1:0".parse().unwrap(), clock.clone())
            .await
            .unwrap();
        Self { run, clock }
    }

    pub fn advance(&self, secs: i64) {
        self.clock.advance(chrono::Duration::seconds(secs));
    }

    pub fn account(&self, provider: ProviderKind, name: &str) -> Account {
        let sim = match provider {
            ProviderKind::DigitalOcean => SimProvider::Digitalocean,
            ProviderKind::Vultr => SimProvider::Vultr,
            ProviderKind::Hetzner => SimProvider::Hetzner,
        };
        Account {
            name: name.to_string(),
            provider,
            token: TokenSource::Env("UNUSED_IN_TESTS".into()),
            api_url: self.run.base_url(sim),
            policies: Vec::new(),
            prune_orphans: false,
            retired_policies: Vec::new(),
            reload_grace: snapkeeper::config::DEFAULT_RELOAD_GRACE,
        }
    }

    pub fn client(
        &self,
        provider: ProviderKind,
        name: &str,
        token: &str,
        opts: &ClientOptions,
    ) -> Box<dyn Provider> {
        connect_with(
            &self.account(provider, name),
            SecretString::from(token.to_string()),
            opts,
        )
        .unwrap()
    }

    pub fn fault(
        &self,
        provider: SimProvider,
        method: &str,
        path: &str,
        kind: FaultKind,
        count: Option<u32>,
    ) {
        self.fault_on(provider, method, path, None, kind, count);
    }

    pub fn fault_on(
        &self,
        provider: SimProvider,
        method: &str,
        path: &str,
        resource: Option<&str>,
        kind: FaultKind,
        count: Option<u32>,
    ) {
        self.run.core.add_fault(FaultRule {
            provider: Some(provider),
            method: Some(method.to_string()),
            path: Some(path.to_string()),
            resource: resource.map(str::to_string),
            kind,
            count,
        });
    }

    /// How many times `token` sent "METHOD template".
    pub fn count(&self, token: &str, key: &str) -> u64 {
        self.run
            .core
            .counters()
            .get(token)
            .and_then(|m| m.get(key))
            .copied()
            .unwrap_or(0)
    }

    /// Every count for `token`, for exact "these and nothing else" checks.
    pub fn counts(&self, token: &str) -> Vec<(String, u64)> {
        self.run
            .core
            .counters()
            .get(token)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }

    pub fn reset_counts(&self) {
        self.run.core.reset_counters();
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.run.core.requests()
    }

    /// Requests answered 429 (or Vultr's 503).
    pub fn rate_limited(&self) -> usize {
        self.requests().iter().filter(|r| r.status == 429).count()
    }
}

/// Options for tests: millisecond backoff, generous request time-out (a hang
/// guard), pacing effectively off unless a test sets it.
pub fn fast(clock: &Clock) -> ClientOptions {
    ClientOptions {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(20),
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(20),
            max_total_delay: Duration::from_secs(2),
        },
        rate_limit_factor: 1.0,
        limits: Some(vec![Limit {
            capacity: 1e6,
            per_second: 1e6,
        }]),
        max_pace_wait: Duration::from_millis(50),
        clock: clock.clone(),
        observer: None,
        user_agent: None,
        write_guard: None,
    }
}

/// Like [`fast`] with a short request time-out, for the time-out fault.
pub fn short_timeout(clock: &Clock) -> ClientOptions {
    ClientOptions {
        request_timeout: Duration::from_millis(400),
        ..fast(clock)
    }
}

pub fn quick_wait() -> WaitOptions {
    WaitOptions {
        first_interval: Duration::from_millis(5),
        max_interval: Duration::from_millis(20),
        growth: 2.0,
        base_deadline: Duration::from_secs(10),
        per_gb: Duration::ZERO,
    }
}

/// Follow `pending` to its end with [`quick_wait`] and no progress output.
pub async fn wait_quickly(
    client: &dyn Provider,
    pending: &snapkeeper::provider::Pending,
) -> snapkeeper::provider::WaitOutcome {
    snapkeeper::provider::wait(
        client,
        pending,
        &quick_wait(),
        &tokio_util::sync::CancellationToken::new(),
        |_, _| {},
    )
    .await
}

/// Every request the clients sent (query parameters and body) must be what
/// the provider's spec allows. Responses are the simulator's business (and
/// injected faults are deliberately off-spec), so they are not checked here.
pub fn assert_requests_valid(records: &[RecordedRequest]) {
    let mut errors = Vec::new();
    let mut checked = 0;
    for r in records {
        let spec = Spec::load(r.provider);
        if let Err(e) =
            spec.validate_parameters(&r.method, &r.template, &r.path, r.query.as_deref())
        {
            errors.push(format!("{} {} {:?}: {e:?}", r.method, r.path, r.query));
        }
        if let Err(e) = spec.validate_request(&r.method, &r.template, r.request_body.as_ref()) {
            errors.push(format!("{} {} body: {e:?}", r.method, r.path));
        }
        checked += 1;
    }
    assert!(checked > 0, "no requests were recorded");
    assert!(
        errors.is_empty(),
        "requests off the spec:\n{}",
        errors.join("\n")
    );
}

/// Captured tracing output (every level down to TRACE) for the current thread.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Install as the thread's default subscriber until the guard drops.
    pub fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let sink = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        // Callsites first hit by a parallel test while no subscriber of
        // this thread existed may have cached "not interested": ask again
        // (otherwise a capture here misses lines, now and then, under a
        // full parallel run).
        tracing::callsite::rebuild_interest_cache();
        guard
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Requests and the simulator's answers both as the spec says (for tests
/// without injected faults, whose answers are off-spec on purpose).
pub fn assert_exchanges_valid(records: &[RecordedRequest]) {
    assert_requests_valid(records);
    crate::spec::assert_contract(records);
}

/// Issue 4's burst against a simulator with an enforced, scaled-down limit:
/// `burst` concurrent listings of `kind`, paced by `limit`, all succeed with
/// `per_call` items each, are counted under `key` and see zero 429s; the same
/// burst unpaced (the test default bucket of a million) is refused at least
/// once, and every call that fails fails as rate limited. Returns the refused
/// exchanges, for the provider's own header checks.
#[allow(clippy::too_many_arguments)]
pub async fn paced_then_unpaced_burst(
    sim: &Sim,
    provider: ProviderKind,
    account: &str,
    token: &str,
    kind: TargetKind,
    key: &str,
    limit: Limit,
    burst: usize,
    per_call: usize,
) -> Vec<RecordedRequest> {
    let paced = ClientOptions {
        limits: Some(vec![limit]),
        ..fast(&sim.clock)
    };
    let client = sim.client(provider, account, token, &paced);
    let client = client.as_ref();
    let results =
        futures_util::future::join_all((0..burst).map(|_| client.list_resources(kind))).await;
    assert!(results.iter().all(Result::is_ok));
    assert!(results.iter().flatten().all(|r| r.len() == per_call));
    assert_eq!(sim.count(token, key), burst as u64);
    assert_eq!(sim.rate_limited(), 0, "429s seen");
    assert!(sim.requests().iter().all(|r| r.status == 200));
    assert_requests_valid(&sim.requests());

    let unpaced = sim.client(provider, account, token, &fast(&sim.clock));
    let unpaced = unpaced.as_ref();
    let results =
        futures_util::future::join_all((0..burst).map(|_| unpaced.list_resources(kind))).await;
    assert!(
        sim.rate_limited() > 0,
        "an unpaced burst never hit the limit"
    );
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(r.kind, ErrorKind::RateLimited, "{r}");
    }
    sim.requests()
        .into_iter()
        .filter(|r| r.status == 429)
        .collect()
}
