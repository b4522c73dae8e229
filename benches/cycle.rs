//! `cargo bench --bench cycle`: issue 11's benchmark. Runs the real engine
//! and the real provider clients against the in-process simulator (and the
//! real daemon binary for the schedule, memory and start-up figures), counts
//! every request from the simulator's own log, and prints one table with the
//! three providers side by side and the goal beside each figure.
//!
//! Time is compressed, never faked: a run "at speed-up k" divides every rate
//! window (simulator `rate_window_scale = 1/k`, client buckets refilling k
//! times faster with the same burst), every snapshot duration (`time_scale =
//! 1/k` of the simulator's realistic `seconds_per_gb`/`base_seconds`) and
//! every poll interval by k, so the run is the real-world one played k times
//! faster; its wall time is reported multiplied back by k.
//!
//! Owns the scenarios, their sizes (constants below, each overridable by an
//! environment variable of the same name), the counting and the table. Must
//! never: assert a timing (it prints them; the tests assert counts), talk to
//! anything but loopback, or reach into the engine, daemon or provider code
//! beyond their public API.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, Utc};
use secrecy::SecretString;
use snapkeeper::clock::Clock;
use snapkeeper::config::{self, Account};
use snapkeeper::engine::{self, CycleReport, EngineOptions, Follow, Speed};
use snapkeeper::policy::Marker;
use snapkeeper::provider::http::default_pacing;
use snapkeeper::provider::paging::{DO_PER_PAGE, HETZNER_PER_PAGE, Scheme, VULTR_PER_PAGE};
use snapkeeper::provider::{
    ClientOptions, Limit, Provider, RetryPolicy, WaitOptions, connect_with,
};
use snapkeeper::sim::{Core, RecordedRequest, Running, Seed, SimProvider, start};
use tokio_util::sync::CancellationToken;

// ---- sizes (each overridable by an environment variable of this name) ----

/// Resources per provider in the steady-cycle run (requests and polls).
const BENCH_CYCLE_RESOURCES: usize = 50;
/// Cycles in that run; the last one is reported.
const BENCH_CYCLES: usize = 3;
/// Speed-up of the steady-cycle run (real limits, realistic snapshot speeds).
const BENCH_CYCLE_SPEEDUP: f64 = 100.0;
/// Resources in the rate-limit-floor run, per provider: enough that the
/// limit, not the snapshots' durations or the fixed reserve, binds (Vultr's
/// 30/s lets 1,000 instances' requests go in less time than their
/// snapshots take; Hetzner's 3,600 at once cover the first 1,200 servers).
const BENCH_FLOOR_DO: usize = 1000;
const BENCH_FLOOR_VULTR: usize = 6000;
const BENCH_FLOOR_HETZNER: usize = 2500;
/// Speed-up of the floor run, per provider.
const BENCH_FLOOR_SPEEDUP_DO: f64 = 32.0;
const BENCH_FLOOR_SPEEDUP_VULTR: f64 = 8.0;
const BENCH_FLOOR_SPEEDUP_HETZNER: f64 = 40.0;
/// Resources and snapshots per resource in the idle pass (real limits, real time).
const BENCH_IDLE_RESOURCES: usize = 100;
const BENCH_IDLE_SNAPSHOTS: usize = 6;
/// The fleet run: accounts × resources, unthrottled, fast snapshots.
const BENCH_FLEET_ACCOUNTS: usize = 100;
const BENCH_FLEET_RESOURCES: usize = 100;
/// Fleet snapshot speed-up (`time_scale = 1/this`, poll intervals likewise).
const BENCH_FLEET_SPEEDUP: f64 = 1000.0;
/// How long the daemon runs with `every: 10s` (schedule lateness).
const BENCH_LATENESS_SECS: usize = 45;
/// The idle daemon: accounts and resources per account.
const BENCH_MEMORY_ACCOUNTS: usize = 100;
const BENCH_MEMORY_RESOURCES: usize = 2;

fn size(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `BENCH_ONLY=steady,floor` runs only those scenarios (steady, floor,
/// idle, fleet, daemon); `BENCH_PROVIDERS=do,hetzner` only those providers
/// (do, vultr, hetzner). Unset: everything. For looking at one figure.
fn wanted(var: &str, item: &str) -> bool {
    std::env::var(var)
        .map(|v| v.split(',').any(|w| w.trim() == item))
        .unwrap_or(true)
}

fn factor(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v: &f64| *v > 0.0)
        .unwrap_or(default)
}

// ---- providers ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum P {
    Do,
    Vultr,
    Hetzner,
}

const ALL: [P; 3] = [P::Do, P::Vultr, P::Hetzner];

/// What a request was, for counting against the minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Listing,
    Create,
    Delete,
    Poll,
    Other,
}

impl P {
    fn title(self) -> &'static str {
        match self {
            P::Do => "DigitalOcean",
            P::Vultr => "Vultr",
            P::Hetzner => "Hetzner",
        }
    }

    fn short(self) -> &'static str {
        match self {
            P::Do => "do",
            P::Vultr => "vultr",
            P::Hetzner => "hetzner",
        }
    }

    fn name(self) -> &'static str {
        match self {
            P::Do => "digitalocean",
            P::Vultr => "vultr",
            P::Hetzner => "hetzner",
        }
    }

    fn sim(self) -> SimProvider {
        match self {
            P::Do => SimProvider::Digitalocean,
            P::Vultr => SimProvider::Vultr,
            P::Hetzner => SimProvider::Hetzner,
        }
    }

    fn scheme(self) -> Scheme {
        match self {
            P::Do => Scheme::DigitalOcean,
            P::Vultr => Scheme::Vultr,
            P::Hetzner => Scheme::Hetzner,
        }
    }

    fn targets(self) -> &'static str {
        match self {
            P::Do => "{ kind: droplet, all: true }",
            P::Vultr => "{ kind: instance, all: true }",
            P::Hetzner => "{ kind: server, all: true }",
        }
    }

    /// The largest page the spec allows (what the minimum counts with).
    fn per_page(self) -> usize {
        match self {
            P::Do => DO_PER_PAGE as usize,
            P::Vultr => VULTR_PER_PAGE as usize,
            P::Hetzner => HETZNER_PER_PAGE as usize,
        }
    }

    /// Snapshot listings per cycle besides the targeted kind's: the engine
    /// lists every kind of the provider (orphans), DigitalOcean has two.
    fn other_snapshot_kinds(self) -> usize {
        match self {
            P::Do => 1,
            P::Vultr | P::Hetzner => 0,
        }
    }

    /// The published limit as (burst, sustained requests per second): what
    /// may go at once, and the rate after that.
    fn limit(self) -> (f64, f64) {
        match self {
            P::Do => (250.0, 250.0 / 60.0),
            P::Vultr => (30.0, 30.0),
            P::Hetzner => (3600.0, 1.0),
        }
    }

    fn limit_text(self) -> &'static str {
        match self {
            P::Do => "250/min",
            P::Vultr => "30/s",
            P::Hetzner => "3600/h",
        }
    }

    fn classify(self, method: &str, template: &str) -> Class {
        match (self, method, template) {
            (P::Do, "GET", "/v2/droplets" | "/v2/snapshots" | "/v2/volumes")
            | (P::Vultr, "GET", "/instances" | "/snapshots")
            | (P::Hetzner, "GET", "/servers" | "/images") => Class::Listing,
            (P::Do, "POST", "/v2/droplets/{droplet_id}/actions")
            | (P::Vultr, "POST", "/snapshots")
            | (P::Hetzner, "POST", "/servers/{id}/actions/create_image") => Class::Create,
            (P::Do, "DELETE", "/v2/snapshots/{snapshot_id}")
            | (P::Vultr, "DELETE", "/snapshots/{snapshot-id}")
            | (P::Hetzner, "DELETE", "/images/{id}") => Class::Delete,
            // Following a started snapshot: DigitalOcean reads the action,
            // then the droplet's snapshots once to learn the new id.
            (P::Do, "GET", "/v2/actions/{action_id}" | "/v2/droplets/{droplet_id}/snapshots")
            | (P::Vultr, "GET", "/snapshots/{snapshot-id}")
            | (P::Hetzner, "GET", "/actions/{id}" | "/images/{id}") => Class::Poll,
            _ => Class::Other,
        }
    }

    fn token(self, account: usize) -> String {
        match self {
            P::Do => format!("dop_v1_{account:064x}"),
            P::Vultr => format!("BENCHVULTR{account:026}"),
            P::Hetzner => format!("benchHetzner{account:052}"),
        }
    }

    fn resource_id(self, account: usize, i: usize) -> String {
        let n = account * 100_000 + i;
        match self {
            P::Do => format!("{}", 300_000_000 + n),
            P::Vultr => format!("b0000000-0000-4000-8000-{n:012}"),
            P::Hetzner => format!("{}", 40_000_000 + n),
        }
    }

    fn sim_url(self, sim: &Running) -> String {
        sim.base_url(self.sim())
    }
}

// ---- seeds and configs ----

/// One simulated account: `resources` resources with realistic disk sizes,
/// each with `snapshots` managed snapshots of the config account `name`,
/// the newest `newest_age` old and one hour apart.
#[derive(Clone)]
struct Shape {
    accounts: usize,
    resources: usize,
    snapshots: usize,
    newest_age: chrono::Duration,
}

fn disk_gb(i: usize) -> u64 {
    [25, 50, 80, 160][i % 4]
}

fn account_name(a: usize) -> String {
    format!("bench{a}")
}

const POLICY: &str = "steady";

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn seed_yaml(p: P, shape: &Shape, settings: &str) -> String {
    let now = Utc::now();
    let mut out = format!("settings: {settings}\n{}:\n", p.name());
    out.push_str(if p == P::Hetzner {
        "  projects:\n"
    } else {
        "  accounts:\n"
    });
    for a in 0..shape.accounts {
        let markers = |i: usize| {
            (0..shape.snapshots).map(move |s| Marker {
                account: account_name(a),
                policy: POLICY.into(),
                resource_id: p.resource_id(a, i),
                created: now - shape.newest_age - chrono::Duration::hours(s as i64),
            })
        };
        let token = p.token(a);
        match p {
            P::Do => {
                let _ = write!(
                    out,
                    "    - name: team{a}\n      tokens:\n        - {{ token: {token} }}\n      droplets:\n"
                );
                for i in 0..shape.resources {
                    let _ = write!(
                        out,
                        "        - id: {}\n          name: web-{i}\n          disk: {}\n          snapshots:",
                        p.resource_id(a, i),
                        disk_gb(i)
                    );
                    if shape.snapshots == 0 {
                        out.push_str(" []\n");
                        continue;
                    }
                    out.push('\n');
                    for m in markers(i) {
                        let _ = writeln!(
                            out,
                            "            - {{ name: \"{}\", created_at: {}, size_gigabytes: 1.5 }}",
                            m.encode(),
                            ts(m.created)
                        );
                    }
                }
            }
            // The same shape: the resources, then the snapshots (images)
            // as one list of the account's.
            P::Vultr | P::Hetzner => {
                let (head, section) = match p {
                    P::Vultr => (
                        format!(
                            "    - name: team{a}\n      api_keys:\n        - {{ key: {token} }}\n      instances:\n"
                        ),
                        "snapshots",
                    ),
                    _ => (
                        format!(
                            "    - name: project{a}\n      tokens:\n        - {{ token: {token} }}\n      servers:\n"
                        ),
                        "images",
                    ),
                };
                out.push_str(&head);
                for i in 0..shape.resources {
                    let (id, disk) = (p.resource_id(a, i), disk_gb(i));
                    let _ = match p {
                        P::Vultr => writeln!(
                            out,
                            "        - {{ id: {id}, label: web-{i}, disk: {disk} }}"
                        ),
                        _ => writeln!(
                            out,
                            "        - {{ id: {id}, name: srv-{i}, disk_gb: {disk} }}"
                        ),
                    };
                }
                let _ = write!(out, "      {section}:");
                if shape.snapshots == 0 || shape.resources == 0 {
                    out.push_str(" []\n");
                    continue;
                }
                out.push('\n');
                for i in 0..shape.resources {
                    for m in markers(i) {
                        let (desc, at) = (m.encode(), ts(m.created));
                        let _ = match p {
                            P::Vultr => writeln!(
                                out,
                                "        - {{ description: \"{desc}\", source_instance: {}, date_created: {at} }}",
                                p.resource_id(a, i)
                            ),
                            _ => {
                                let labels: Vec<String> = m
                                    .labels()
                                    .iter()
                                    .map(|(k, v)| format!("{k}: \"{v}\""))
                                    .collect();
                                writeln!(
                                    out,
                                    "        - {{ description: \"{desc}\", labels: {{ {} }}, server: srv-{i}, created: {at} }}",
                                    labels.join(", ")
                                )
                            }
                        };
                    }
                }
            }
        }
    }
    out
}

/// Config text for `accounts` accounts of `p` at `url`; tokens from
/// `SK_BENCH_TOKEN_<n>`.
fn config_yaml(p: P, url: &str, accounts: usize, every: &str, keep: &str) -> String {
    let mut out = String::from("accounts:\n");
    for a in 0..accounts {
        let _ = write!(
            out,
            "  - name: {}\n    provider: {}\n    token: {{ env: SK_BENCH_TOKEN_{a} }}\n    api_url: {url}\n    policies:\n      - name: {POLICY}\n        targets: {}\n        every: {every}\n        keep: {keep}\n",
            account_name(a),
            p.name(),
            p.targets()
        );
    }
    out
}

fn accounts(p: P, sim: &Running, n: usize, every: &str, keep: &str) -> Vec<Account> {
    let text = config_yaml(p, &p.sim_url(sim), n, every, keep);
    match config::parse_str(&text, Path::new("bench.yaml")) {
        Ok(loaded) => loaded.config.accounts,
        Err(e) => panic!("bench config refused: {e:?}"),
    }
}

async fn sim_for(p: P, shape: &Shape, settings: &str) -> Running {
    let yaml = seed_yaml(p, shape, settings);
    let seed = Seed::parse(&yaml, "bench seed").expect("bench seed");
    start(seed, "127.0.0.1:0".parse().unwrap(), Clock::system())
        .await
        .expect("simulator")
}

/// Simulator settings for a run at speed-up `k` under the real limits.
fn compressed_settings(k: f64) -> String {
    format!(
        "{{ time_scale: {}, rate_window_scale: {} }}",
        1.0 / k,
        1.0 / k
    )
}

/// Client options for a run at speed-up `k`: the provider's own buckets,
/// same burst, k times the refill; waits and back-offs divided by k.
fn compressed_client(p: P, k: f64) -> ClientOptions {
    let d = ClientOptions::default();
    let limits = default_pacing(p.scheme())
        .buckets
        .into_iter()
        .map(|l| Limit {
            capacity: l.capacity,
            per_second: l.per_second * k,
        })
        .collect();
    ClientOptions {
        limits: Some(limits),
        max_pace_wait: d.max_pace_wait.div_f64(k),
        retry: RetryPolicy {
            base_delay: d.retry.base_delay.div_f64(k),
            max_delay: d.retry.max_delay.div_f64(k),
            max_total_delay: d.retry.max_total_delay.div_f64(k),
            ..d.retry
        },
        ..d
    }
}

/// The default poll schedule, k times faster.
fn compressed_wait(k: f64) -> WaitOptions {
    let d = WaitOptions::default();
    WaitOptions {
        first_interval: d.first_interval.div_f64(k),
        max_interval: d.max_interval.div_f64(k),
        base_deadline: d.base_deadline.div_f64(k),
        per_gb: d.per_gb.div_f64(k),
        ..d
    }
}

fn connect(p: P, account: &Account, opts: &ClientOptions) -> Box<dyn Provider> {
    let a: usize = account
        .name
        .trim_start_matches("bench")
        .parse()
        .expect("bench account name");
    connect_with(account, SecretString::from(p.token(a)), opts).expect("client")
}

// ---- counting ----

#[derive(Debug, Default, Clone)]
struct Tally {
    total: usize,
    listing: usize,
    create: usize,
    delete: usize,
    poll: usize,
    polls_by: BTreeMap<String, usize>,
    other: BTreeMap<String, usize>,
    limited: usize,
}

impl Tally {
    fn of(p: P, log: &[RecordedRequest]) -> Self {
        let mut t = Tally::default();
        for r in log.iter().filter(|r| r.provider == p.sim()) {
            t.add(p, &r.method, &r.template, 1);
            if r.status == 429 || (p == P::Vultr && r.status == 503) {
                t.limited += 1;
            }
        }
        t
    }

    /// From the counters (no statuses: the log keeps only the newest 20,000).
    fn of_counters(p: P, core: &Core) -> Self {
        let mut t = Tally::default();
        for per_token in core.counters().values() {
            for (key, n) in per_token {
                let (method, template) = key.split_once(' ').unwrap_or((key, ""));
                t.add(p, method, template, *n as usize);
            }
        }
        t
    }

    fn add(&mut self, p: P, method: &str, template: &str, n: usize) {
        self.total += n;
        match p.classify(method, template) {
            Class::Listing => self.listing += n,
            Class::Create => self.create += n,
            Class::Delete => self.delete += n,
            Class::Poll => {
                self.poll += n;
                *self
                    .polls_by
                    .entry(format!("{method} {template}"))
                    .or_default() += n;
            }
            Class::Other => {
                *self
                    .other
                    .entry(format!("{method} {template}"))
                    .or_default() += n
            }
        }
    }

    fn non_poll(&self) -> usize {
        self.total - self.poll
    }

    fn others(&self) -> String {
        if self.other.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = self
            .other
            .iter()
            .map(|(k, n)| format!("{k} ×{n}"))
            .collect();
        format!(" [beyond the minimum: {}]", parts.join(", "))
    }
}

fn pages(items: usize, per_page: usize) -> usize {
    items.div_ceil(per_page).max(1)
}

/// The minimum of a cycle: every listing page, one create per due resource,
/// one delete per expired snapshot.
fn minimum(p: P, resources: usize, listed_snapshots: usize, due: usize, expired: usize) -> usize {
    let listings = pages(resources, p.per_page())
        + pages(listed_snapshots, p.per_page())
        + p.other_snapshot_kinds();
    listings + due + expired
}

fn listing_pages(p: P, resources: usize, listed_snapshots: usize) -> usize {
    minimum(p, resources, listed_snapshots, 0, 0)
}

// ---- one cycle, as the daemon's account loop runs it ----

/// A pass with every started snapshot followed from its start, then to its
/// end, with the account's `speed` (which the daemon keeps per account
/// across cycles; `engine::run_cycle` starts a new one each call, so the
/// steady run uses `pass_following` and `poll_follows` like
/// `daemon::account_loop` does).
async fn daemon_cycle(
    account: &Account,
    provider: &dyn Provider,
    opts: &EngineOptions,
    speed: &mut Speed,
) -> CycleReport {
    let clock = Clock::system();
    let cancel = CancellationToken::new();
    let mut follows: Vec<Follow> = Vec::new();
    let engine::During {
        mut report,
        settled,
        ..
    } = engine::pass_following(
        account,
        provider,
        &clock,
        opts,
        &cancel,
        &mut follows,
        speed,
    )
    .await;
    report.resources.extend(settled);
    while !follows.is_empty() {
        if let Some(next) = follows.iter().map(Follow::next_poll).min() {
            tokio::time::sleep_until(next).await;
        }
        let done = engine::poll_follows(provider, &mut follows, opts, &cancel, speed).await;
        report.resources.extend(done);
    }
    report
}

fn check(report: &CycleReport, what: &str) {
    let (_, _, failed) = report.counts();
    if failed > 0 || !report.errors.is_empty() {
        eprintln!(
            "warning: {what}: {failed} failed resources, errors {:?}",
            report.errors
        );
    }
}

// ---- scenarios ----

/// The steady cycle: every resource due, one expired snapshot each, real
/// limits and realistic snapshot speeds compressed by k.
struct Steady {
    minimum: usize,
    last: Tally,
    polls_first: f64,
    polls_last: f64,
    limited: usize,
}

async fn steady(p: P, n: usize, cycles: usize, k: f64) -> Steady {
    let shape = Shape {
        accounts: 1,
        resources: n,
        snapshots: 1,
        newest_age: chrono::Duration::days(1),
    };
    let sim = sim_for(p, &shape, &compressed_settings(k)).await;
    let account = &accounts(p, &sim, 1, "1s", "{ last: 1 }")[0];
    let client = connect(p, account, &compressed_client(p, k));
    let opts = EngineOptions {
        wait: compressed_wait(k),
        busy_delay: Duration::from_secs(30).div_f64(k),
        ..EngineOptions::default()
    };
    let mut speed = Speed::default();
    let mut tallies = Vec::new();
    let mut limited = 0;
    for c in 0..cycles {
        if c > 0 {
            // Every resource due again (`every: 1s`, markers in whole seconds).
            tokio::time::sleep(Duration::from_millis(2100)).await;
        }
        sim.core.reset_counters();
        let report = daemon_cycle(account, client.as_ref(), &opts, &mut speed).await;
        check(&report, &format!("{} steady cycle {}", p.title(), c + 1));
        let t = Tally::of(p, &sim.core.requests());
        eprintln!(
            "bench:   cycle {}: {} creates, {} deletes, polls {:?}",
            c + 1,
            t.create,
            t.delete,
            t.polls_by
        );
        limited += t.limited;
        tallies.push(t);
    }
    sim.stop().await;
    let per = |t: &Tally| t.poll as f64 / t.create.max(1) as f64;
    let last = tallies.last().cloned().unwrap_or_default();
    Steady {
        // At the start of every cycle each resource has one snapshot.
        minimum: minimum(p, n, n, n, n),
        polls_first: tallies.first().map(per).unwrap_or_default(),
        polls_last: per(&last),
        last,
        limited,
    }
}

/// One cycle over many resources under the real limits (compressed by k).
struct Floor {
    resources: usize,
    k: f64,
    tally: Tally,
    minimum: usize,
    /// Real-world seconds (measured × k).
    wall: f64,
    /// The rate-limit floor: (requests − the burst) ÷ the sustained rate.
    floor: f64,
    /// What the snapshots' own durations allow at best: the last create
    /// plus the shortest snapshot, the first create plus the longest.
    snapshots: f64,
}

/// The simulator's realistic durations (20 s + 2 s/GB) of the bench's
/// shortest and longest disks.
fn durations() -> (f64, f64) {
    let secs = |gb: u64| 20.0 + 2.0 * gb as f64;
    let gbs = (0..4).map(disk_gb);
    (
        gbs.clone().map(secs).fold(f64::MAX, f64::min),
        gbs.map(secs).fold(0.0, f64::max),
    )
}

async fn floor(p: P, n: usize, k: f64) -> Floor {
    let shape = Shape {
        accounts: 1,
        resources: n,
        snapshots: 1,
        newest_age: chrono::Duration::days(1),
    };
    let sim = sim_for(p, &shape, &compressed_settings(k)).await;
    let account = &accounts(p, &sim, 1, "1h", "{ last: 1 }")[0];
    let client = connect(p, account, &compressed_client(p, k));
    let opts = EngineOptions {
        wait: compressed_wait(k),
        busy_delay: Duration::from_secs(30).div_f64(k),
        ..EngineOptions::default()
    };
    sim.core.reset_counters();
    let t0 = Instant::now();
    let report = engine::run_cycle(
        account,
        client.as_ref(),
        &Clock::system(),
        &opts,
        &CancellationToken::new(),
    )
    .await;
    let wall = t0.elapsed().as_secs_f64() * k;
    check(&report, &format!("{} floor cycle", p.title()));
    let requests = sim.core.requests();
    let tally = Tally::of(p, &requests);
    eprintln!(
        "bench:   {:.1} s measured, {} requests, polls {:?}",
        wall / k,
        tally.total,
        tally.polls_by
    );
    eprintln!(
        "bench:   requests per real-time minute: {:?}",
        per_minute(&requests, k)
    );
    sim.stop().await;
    let (burst, rate) = p.limit();
    let t0 = requests.iter().map(|r| r.answered_ms).min().unwrap_or(0);
    let creates: Vec<f64> = requests
        .iter()
        .filter(|r| p.classify(&r.method, &r.template) == Class::Create)
        .map(|r| (r.answered_ms - t0) as f64 * k / 1000.0)
        .collect();
    let (shortest, longest) = durations();
    let first = creates.iter().copied().fold(f64::MAX, f64::min);
    let last = creates.iter().copied().fold(0.0, f64::max);
    Floor {
        resources: n,
        k,
        minimum: minimum(p, n, n, n, n),
        floor: (tally.total as f64 - burst).max(0.0) / rate,
        snapshots: if creates.is_empty() {
            0.0
        } else {
            (last + shortest).max(first + longest)
        },
        tally,
        wall,
    }
}

/// Requests answered in each real-time-equivalent minute of a run at
/// speed-up `k`, from its first request: where the budget went unused.
fn per_minute(requests: &[RecordedRequest], k: f64) -> Vec<usize> {
    let Some(t0) = requests.iter().map(|r| r.answered_ms).min() else {
        return Vec::new();
    };
    let mut minutes = Vec::new();
    for r in requests {
        let m = ((r.answered_ms - t0) as f64 * k / 60_000.0) as usize;
        if minutes.len() <= m {
            minutes.resize(m + 1, 0);
        }
        minutes[m] += 1;
    }
    minutes
}

/// A pass with nothing due, real limits, real time.
struct Idle {
    tally: Tally,
    pages: usize,
    wall: Duration,
}

async fn idle(p: P, n: usize, snaps: usize) -> Idle {
    let shape = Shape {
        accounts: 1,
        resources: n,
        snapshots: snaps,
        newest_age: chrono::Duration::minutes(10),
    };
    let sim = sim_for(p, &shape, "{}").await;
    let account = &accounts(p, &sim, 1, "1h", &format!("{{ last: {snaps} }}"))[0];
    let client = connect(p, account, &ClientOptions::default());
    sim.core.reset_counters();
    let t0 = Instant::now();
    let report = engine::run_cycle(
        account,
        client.as_ref(),
        &Clock::system(),
        &EngineOptions::default(),
        &CancellationToken::new(),
    )
    .await;
    let wall = t0.elapsed();
    check(&report, &format!("{} idle pass", p.title()));
    let tally = Tally::of(p, &sim.core.requests());
    sim.stop().await;
    Idle {
        tally,
        pages: listing_pages(p, n, n * snaps),
        wall,
    }
}

/// Many accounts at once, unthrottled, fast snapshots: one cycle each.
struct Fleet {
    wall: Duration,
    tally: Tally,
    created: usize,
}

async fn fleet(p: P, accounts_n: usize, n: usize, k: f64) -> Fleet {
    let shape = Shape {
        accounts: accounts_n,
        resources: n,
        snapshots: 0,
        newest_age: chrono::Duration::zero(),
    };
    let settings = format!("{{ time_scale: {}, rate_limit_factor: 1000 }}", 1.0 / k);
    let sim = sim_for(p, &shape, &settings).await;
    let accts = accounts(p, &sim, accounts_n, "1h", "{ last: 3 }");
    let copts = ClientOptions {
        rate_limit_factor: 1000.0,
        ..ClientOptions::default()
    };
    let clients: Vec<Box<dyn Provider>> = accts.iter().map(|a| connect(p, a, &copts)).collect();
    let opts = EngineOptions {
        wait: compressed_wait(k),
        ..EngineOptions::default()
    };
    sim.core.reset_counters();
    let t0 = Instant::now();
    let clock = Clock::system();
    let cancel = CancellationToken::new();
    let reports = futures_util::future::join_all(
        accts
            .iter()
            .zip(&clients)
            .map(|(a, c)| engine::run_cycle(a, c.as_ref(), &clock, &opts, &cancel)),
    )
    .await;
    let wall = t0.elapsed();
    let created = reports.iter().map(|r| r.counts().0).sum();
    for r in &reports {
        check(r, &format!("{} fleet", p.title()));
    }
    let tally = Tally::of_counters(p, &sim.core);
    sim.stop().await;
    Fleet {
        wall,
        tally,
        created,
    }
}

// ---- the daemon binary ----

/// The daemon the bench runs: `BENCH_BIN` when set (for example the
/// `cargo build --release` binary users get: the bench's own build of it
/// also carries what the dev-dependencies switch on, aws-lc among them,
/// which makes it 20 MB instead of 14.5), else the bench build's.
fn bin() -> String {
    std::env::var("BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_snapkeeper").to_string())
}

struct Daemon {
    child: Child,
    log: std::path::PathBuf,
    stop_notify: std::sync::Arc<std::sync::atomic::AtomicBool>,
    _dir: tempfile::TempDir,
}

impl Daemon {
    fn start(config_text: &str, accounts_n: usize, p: P) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, config_text).expect("config");
        let log = dir.path().join("log.json");
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).expect("state dir");
        // As the unit runs it: a notify socket (drained here) and the
        // unit's WatchdogSec=120s, so STATUS= and WATCHDOG=1 go out.
        let notify = dir.path().join("notify.sock");
        let socket = std::os::unix::net::UnixDatagram::bind(&notify).expect("notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .expect("notify socket time-out");
        let stop_notify = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = stop_notify.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = socket.recv(&mut buf);
            }
        });
        let mut cmd = Command::new(bin());
        cmd.arg("--config")
            .arg(&config)
            .arg("--state-dir")
            .arg(&state)
            .args(["--log-format", "json", "run"])
            .env("RUST_LOG", "info")
            .env("NOTIFY_SOCKET", &notify)
            .env("WATCHDOG_USEC", "120000000")
            .env_remove("WATCHDOG_PID")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        for a in 0..accounts_n {
            cmd.env(format!("SK_BENCH_TOKEN_{a}"), p.token(a));
        }
        let child = cmd.spawn().expect("snapkeeper run");
        Self {
            child,
            log,
            stop_notify,
            _dir: dir,
        }
    }

    /// RSS and peak RSS (MiB), threads and file descriptors.
    fn proc_status(&self) -> (f64, f64, usize, usize) {
        let pid = self.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0);
        eprintln!(
            "bench:   idle daemon: RssAnon {:.1} MiB, RssFile {:.1} MiB",
            field("RssAnon:") / 1024.0,
            field("RssFile:") / 1024.0
        );
        (
            field("VmRSS:") / 1024.0,
            field("VmHWM:") / 1024.0,
            field("Threads:") as usize,
            fds,
        )
    }

    fn lines(&self) -> Vec<serde_json::Value> {
        let Ok(f) = std::fs::File::open(&self.log) else {
            return Vec::new();
        };
        BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop_notify
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `every: 10s` on one Hetzner server: creation time minus due time, for
/// every create after the first.
async fn lateness(secs: usize) -> Vec<f64> {
    let p = P::Hetzner;
    let shape = Shape {
        accounts: 1,
        resources: 1,
        snapshots: 0,
        newest_age: chrono::Duration::zero(),
    };
    // A snapshot takes about 1 s; real limits.
    let sim = sim_for(p, &shape, "{ time_scale: 0.01 }").await;
    let text = config_yaml(p, &p.sim_url(&sim), 1, "10s", "{ last: 3 }");
    let daemon = Daemon::start(&text, 1, p);
    tokio::time::sleep(Duration::from_secs(secs as u64)).await;
    let mut creates: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for v in daemon.lines() {
        if v["fields"]["message"] != "creating snapshot" {
            continue;
        }
        let at = v["timestamp"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        // The marker's time is the line's `at`.
        let marked = v["fields"]["at"]
            .as_str()
            .and_then(|t| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%SZ").ok())
            .map(|t| t.and_utc());
        if let (Some(at), Some(marked)) = (at, marked) {
            creates.push((at, marked));
        }
    }
    drop(daemon);
    sim.stop().await;
    creates
        .windows(2)
        .map(|w| {
            let due = w[0].1 + chrono::Duration::seconds(10);
            (w[1].0 - due).num_milliseconds() as f64 / 1000.0
        })
        .collect()
}

struct Memory {
    rss_mib: f64,
    released_mib: f64,
    peak_mib: f64,
    threads: usize,
    fds: usize,
    startup: Tally,
    pages: usize,
}

/// The idle daemon: many Hetzner projects, a few servers each, nothing due;
/// measured 35 s after its last start-up request (once it gave idle memory
/// back) and a minute later.
async fn memory(accounts_n: usize, n: usize) -> Memory {
    let p = P::Hetzner;
    let shape = Shape {
        accounts: accounts_n,
        resources: n,
        snapshots: 1,
        newest_age: chrono::Duration::minutes(5),
    };
    let sim = sim_for(p, &shape, "{}").await;
    let text = config_yaml(p, &p.sim_url(&sim), accounts_n, "1h", "{ last: 3 }");
    sim.core.reset_counters();
    let daemon = Daemon::start(&text, accounts_n, p);
    // Settled: no new request for 3 s (at most 60 s).
    let t0 = Instant::now();
    let mut last = (0, Instant::now());
    while t0.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let seen = Tally::of_counters(p, &sim.core).total;
        if seen != last.0 {
            last = (seen, Instant::now());
        } else if seen > 0 && last.1.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    // Idle, as it is between cycles: past the HTTP pool's idle time-out
    // (20 s), when the start-up's connections are closed, past the point
    // where the daemon gives idle memory back (25 s without a request,
    // checked every 5 s; src/memory.rs), and past one turn of each of its
    // periodic checks (the longest: the config's bytes, every 60 s), which
    // map again what they use.
    tokio::time::sleep(Duration::from_secs(35)).await;
    let (released_mib, _, _, _) = daemon.proc_status();
    tokio::time::sleep(Duration::from_secs(65)).await;
    let (rss_mib, peak_mib, threads, fds) = daemon.proc_status();
    let startup = Tally::of_counters(p, &sim.core);
    drop(daemon);
    sim.stop().await;
    Memory {
        rss_mib,
        released_mib,
        peak_mib,
        threads,
        fds,
        startup,
        pages: accounts_n * listing_pages(p, n, n),
    }
}

// ---- the table ----

struct Table {
    rows: Vec<[String; 5]>,
}

impl Table {
    fn row(&mut self, what: &str, cells: [String; 3], goal: &str) {
        self.rows.push([
            what.to_string(),
            cells[0].clone(),
            cells[1].clone(),
            cells[2].clone(),
            goal.to_string(),
        ]);
    }

    fn print(&self) {
        let head = ["", "DigitalOcean", "Vultr", "Hetzner", "goal (issue 11)"];
        let mut out = String::new();
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        out.push_str(&line(&head.map(String::from)));
        out.push_str("|---|---|---|---|---|\n");
        for r in &self.rows {
            out.push_str(&line(r));
        }
        print!("{out}");
    }
}

fn per_provider<T>(items: &[(P, T)], f: impl Fn(P, &T) -> String) -> [String; 3] {
    ALL.map(|p| {
        items
            .iter()
            .find(|(q, _)| *q == p)
            .map_or_else(|| "–".to_string(), |(_, t)| f(p, t))
    })
}

fn only_hetzner(text: String) -> [String; 3] {
    ["–".into(), "–".into(), text]
}

fn secs(s: f64) -> String {
    if s >= 120.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{s:.1} s")
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    snapkeeper::tls::install_crypto_provider();
    // `cargo bench` passes `--bench`; nothing to filter.
    let started = Instant::now();
    let cycle_n = size("BENCH_CYCLE_RESOURCES", BENCH_CYCLE_RESOURCES);
    let cycles = size("BENCH_CYCLES", BENCH_CYCLES).max(1);
    let cycle_k = factor("BENCH_CYCLE_SPEEDUP", BENCH_CYCLE_SPEEDUP);
    let floors = [
        (
            P::Do,
            size("BENCH_FLOOR_DO", BENCH_FLOOR_DO),
            factor("BENCH_FLOOR_SPEEDUP_DO", BENCH_FLOOR_SPEEDUP_DO),
        ),
        (
            P::Vultr,
            size("BENCH_FLOOR_VULTR", BENCH_FLOOR_VULTR),
            factor("BENCH_FLOOR_SPEEDUP_VULTR", BENCH_FLOOR_SPEEDUP_VULTR),
        ),
        (
            P::Hetzner,
            size("BENCH_FLOOR_HETZNER", BENCH_FLOOR_HETZNER),
            factor("BENCH_FLOOR_SPEEDUP_HETZNER", BENCH_FLOOR_SPEEDUP_HETZNER),
        ),
    ];
    let idle_n = size("BENCH_IDLE_RESOURCES", BENCH_IDLE_RESOURCES);
    let idle_snaps = size("BENCH_IDLE_SNAPSHOTS", BENCH_IDLE_SNAPSHOTS).max(1);
    let fleet_a = size("BENCH_FLEET_ACCOUNTS", BENCH_FLEET_ACCOUNTS);
    let fleet_n = size("BENCH_FLEET_RESOURCES", BENCH_FLEET_RESOURCES);
    let fleet_k = factor("BENCH_FLEET_SPEEDUP", BENCH_FLEET_SPEEDUP);
    let late_secs = size("BENCH_LATENESS_SECS", BENCH_LATENESS_SECS);
    let mem_a = size("BENCH_MEMORY_ACCOUNTS", BENCH_MEMORY_ACCOUNTS);
    let mem_n = size("BENCH_MEMORY_RESOURCES", BENCH_MEMORY_RESOURCES);

    let providers: Vec<P> = ALL
        .into_iter()
        .filter(|p| wanted("BENCH_PROVIDERS", p.short()))
        .collect();
    // The daemon runs (real time) go on in the background meanwhile.
    let daemons = wanted("BENCH_ONLY", "daemon").then(|| {
        tokio::spawn(async move {
            let mem = memory(mem_a, mem_n).await;
            let late = lateness(late_secs).await;
            (mem, late)
        })
    });

    let mut steadies = Vec::new();
    for &p in providers.iter().filter(|_| wanted("BENCH_ONLY", "steady")) {
        eprintln!("bench: {} steady cycles ({cycle_n} resources)", p.title());
        steadies.push((p, steady(p, cycle_n, cycles, cycle_k).await));
    }
    let mut floor_runs = Vec::new();
    for (p, n, k) in floors {
        if !providers.contains(&p) || !wanted("BENCH_ONLY", "floor") {
            continue;
        }
        eprintln!(
            "bench: {} one cycle over {n} resources, real limits at speed-up {k}",
            p.title()
        );
        floor_runs.push((p, floor(p, n, k).await));
    }
    let mut idles = Vec::new();
    for &p in providers.iter().filter(|_| wanted("BENCH_ONLY", "idle")) {
        eprintln!("bench: {} idle pass", p.title());
        idles.push((p, idle(p, idle_n, idle_snaps).await));
    }
    let mut fleets = Vec::new();
    for &p in providers.iter().filter(|_| wanted("BENCH_ONLY", "fleet")) {
        eprintln!("bench: {} {fleet_a} accounts × {fleet_n}", p.title());
        fleets.push((p, fleet(p, fleet_a, fleet_n, fleet_k).await));
    }
    let daemon_runs = match daemons {
        Some(d) => {
            eprintln!("bench: waiting for the daemon runs");
            Some(d.await.expect("daemon runs"))
        }
        None => None,
    };

    let mut t = Table { rows: Vec::new() };
    t.row(
        &format!(
            "steady cycle ({cycle_n} due, 1 expired each, cycle {cycles} of {cycles}): requests polls aside / minimum"
        ),
        per_provider(&steadies, |_, s| {
            format!(
                "{} / {} = {:.2}×{}",
                s.last.non_poll(),
                s.minimum,
                s.last.non_poll() as f64 / s.minimum as f64,
                s.last.others()
            )
        }),
        "≤ 1.1×",
    );
    t.row(
        "polls per snapshot, realistic speeds (cycle 1 → steady)",
        per_provider(&steadies, |_, s| {
            format!("{:.2} → {:.2}", s.polls_first, s.polls_last)
        }),
        "≤ 3",
    );
    t.row(
        "one cycle under real limits: resources (speed-up)",
        per_provider(&floor_runs, |p, f| {
            format!("{} (×{}, limit {})", f.resources, f.k, p.limit_text())
        }),
        "DigitalOcean 1,000",
    );
    t.row(
        "  requests: polls aside / minimum; polls",
        per_provider(&floor_runs, |_, f| {
            format!(
                "{} / {} = {:.2}×; {}{}",
                f.tally.non_poll(),
                f.minimum,
                f.tally.non_poll() as f64 / f.minimum as f64,
                f.tally.poll,
                f.tally.others()
            )
        }),
        "≤ 1.1×",
    );
    t.row(
        "  wall (real-time equivalent) / rate-limit floor",
        per_provider(&floor_runs, |_, f| {
            if f.floor > 0.0 {
                format!(
                    "{} / {} = {:.2}×",
                    secs(f.wall),
                    secs(f.floor),
                    f.wall / f.floor
                )
            } else {
                format!("{} / 0 (all within the burst)", secs(f.wall))
            }
        }),
        "≤ 1.25× (DigitalOcean 1,000)",
    );
    t.row(
        "  wall / what the snapshots' durations allow",
        per_provider(&floor_runs, |_, f| {
            format!(
                "{} / {} = {:.2}×{}",
                secs(f.wall),
                secs(f.snapshots),
                f.wall / f.snapshots.max(1e-9),
                if f.snapshots > f.floor {
                    " (the binding floor)"
                } else {
                    ""
                }
            )
        }),
        "–",
    );
    t.row(
        "  share of the budget used",
        per_provider(&floor_runs, |_, f| {
            if f.floor > 0.0 && f.floor >= f.snapshots {
                format!("{:.0} %", 100.0 * f.floor / f.wall)
            } else if f.floor > 0.0 {
                format!(
                    "{:.0} % (snapshot time binds, not the limit)",
                    100.0 * f.floor / f.wall
                )
            } else {
                "n/a (within the burst)".into()
            }
        }),
        "≥ 90 % (when the limit binds)",
    );
    let limited: Vec<(P, usize)> = ALL
        .iter()
        .map(|&p| {
            let s = steadies
                .iter()
                .find(|(q, _)| *q == p)
                .map_or(0, |(_, s)| s.limited);
            let f = floor_runs
                .iter()
                .find(|(q, _)| *q == p)
                .map_or(0, |(_, f)| f.tally.limited);
            let i = idles
                .iter()
                .find(|(q, _)| *q == p)
                .map_or(0, |(_, i)| i.tally.limited);
            (p, s + f + i)
        })
        .collect();
    t.row(
        "responses 429 under enforced real limits (all runs above)",
        per_provider(&limited, |_, n| n.to_string()),
        "0",
    );
    t.row(
        &format!(
            "idle pass ({idle_n} resources × {idle_snaps} snapshots, nothing due): requests / listing pages"
        ),
        per_provider(&idles, |_, i| {
            format!(
                "{} / {} = {:.2}×{}",
                i.tally.total,
                i.pages,
                i.tally.total as f64 / i.pages as f64,
                i.tally.others()
            )
        }),
        "≤ 1.1×",
    );
    t.row(
        "  its time, real limits",
        per_provider(&idles, |_, i| format!("{:.2} s", i.wall.as_secs_f64())),
        "< 5 s (Hetzner, 100)",
    );
    t.row(
        &format!(
            "{fleet_a} accounts × {fleet_n}, unthrottled, snapshots ×{fleet_k} fast: one cycle"
        ),
        per_provider(&fleets, |_, f| {
            format!(
                "{:.1} s ({} requests, {} created)",
                f.wall.as_secs_f64(),
                f.tally.total,
                f.created
            )
        }),
        "< 10 s",
    );
    if let Some((mem, late)) = &daemon_runs {
        let late_text = if late.is_empty() {
            "no second create seen".to_string()
        } else {
            let max = late.iter().copied().fold(f64::MIN, f64::max);
            let mean = late.iter().sum::<f64>() / late.len() as f64;
            format!(
                "mean {mean:+.2} s, worst {max:+.2} s ({} creates)",
                late.len()
            )
        };
        t.row(
            "`snapkeeper run`, every: 10s: creation − due time",
            only_hetzner(late_text),
            "≤ 1 s",
        );
        t.row(
            &format!("idle `snapkeeper run`, {mem_a} accounts × {mem_n}: RSS, threads, fds"),
            only_hetzner(format!(
                "{:.1} MiB, {} threads, {} fds",
                mem.rss_mib, mem.threads, mem.fds
            )),
            "≤ 10 MiB",
        );
        t.row(
            "  its RSS right after it gave memory back; its peak, during start-up (VmHWM)",
            only_hetzner(format!(
                "{:.1} MiB; {:.1} MiB",
                mem.released_mib, mem.peak_mib
            )),
            "–",
        );
        t.row(
            "  its start-up requests / listing pages",
            only_hetzner(format!(
                "{} / {}{}",
                mem.startup.total,
                mem.pages,
                mem.startup.others()
            )),
            "the listing pages only",
        );
    }
    println!();
    t.print();
    println!();
    println!(
        "(whole run {:.0} s; wall times under real limits are measured × the speed-up)",
        started.elapsed().as_secs_f64()
    );
}
