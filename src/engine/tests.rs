//! Engine safety rules against a scripted fake provider and a fixed clock.
//!
//! Each test names the DESIGN.md safety rule it proves. The fake records every
//! call, so "no write" and "no delete of X" are checked on what the engine
//! actually asked for, not on the report alone. Waits and busy delays run on
//! tokio's paused clock, so no test takes real time.

// Provider errors are large by design (see `provider`); case tables of
// function pointers read better inline than behind type aliases.
#![allow(clippy::result_large_err, clippy::type_complexity)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::config::{ProviderKind, Selector, Targets, TokenSource};
use crate::exit;
use crate::policy::Schedule;
use crate::provider::{Error, InProgress, Inventory, Pending, Result};

// ---------------------------------------------------------------- fixtures

const ACCOUNT: &str = "acct";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 15, 12, 0, 0).unwrap()
}

fn ago(hours: i64) -> DateTime<Utc> {
    t0() - TimeDelta::hours(hours)
}

fn days_ago(days: i64) -> DateTime<Utc> {
    t0() - TimeDelta::days(days)
}

fn err(kind: ErrorKind, status: Option<u16>, operation: &str) -> Error {
    Error {
        kind,
        account: ACCOUNT.into(),
        operation: operation.into(),
        status,
        code: None,
        message: "scripted".into(),
        request_id: None,
    }
}

fn res(kind: TargetKind, id: &str) -> Resource {
    Resource {
        id: id.into(),
        name: format!("name-{id}"),
        kind,
        tags: Vec::new(),
        labels: BTreeMap::new(),
        disk_gb: 0,
        locked: false,
        status: "active".into(),
        region: "fra1".into(),
    }
}

fn marker(account: &str, policy: &str, resource: &str, created: DateTime<Utc>) -> Marker {
    Marker::new(account, policy, resource, created).unwrap()
}

/// A snapshot carrying `m` (our marker unless the test says otherwise).
fn marked(kind: TargetKind, id: &str, m: Marker, state: SnapState) -> Snapshot {
    Snapshot {
        id: id.into(),
        name: m.encode(),
        kind,
        resource_id: Some(m.resource_id.clone()),
        created: m.created,
        size_gb: None,
        state,
        marker: Some(m),
        protected: false,
        tags: Vec::new(),
    }
}

/// A complete snapshot of this account's `policy` on `resource`.
fn ours(kind: TargetKind, id: &str, policy: &str, resource: &str, at: DateTime<Utc>) -> Snapshot {
    marked(
        kind,
        id,
        marker(ACCOUNT, policy, resource, at),
        SnapState::Complete,
    )
}

fn policy(name: &str, kind: TargetKind, every: Duration, keep: KeepRules) -> Policy {
    Policy {
        name: name.into(),
        targets: Targets {
            kind,
            include: Selector {
                all: true,
                ..Selector::default()
            },
            exclude: None,
        },
        schedule: Schedule::Every(every),
        timezone: chrono_tz::UTC,
        keep,
        max_deletes_per_run: 10,
        snapshot_tags: Vec::new(),
        alert: Default::default(), // issue 12: freshness override (none)
    }
}

fn hours(h: u64) -> Duration {
    Duration::from_secs(h * 3600)
}

fn last(n: u32) -> KeepRules {
    KeepRules {
        last: n,
        min_keep: 1,
        ..KeepRules::default()
    }
}

fn account(provider: ProviderKind, policies: Vec<Policy>) -> Account {
    Account {
        name: ACCOUNT.into(),
        provider,
        token: TokenSource::Env("SNAPKEEPER_TEST_TOKEN".into()),
        api_url: "http://127.0.0.1:9".into(),
        policies,
        prune_orphans: false,
        retired_policies: Vec::new(),
        reload_grace: crate::config::DEFAULT_RELOAD_GRACE,
    }
}

fn opts() -> EngineOptions {
    EngineOptions {
        started: days_ago(365),
        concurrency: 1,
        busy_retries: 3,
        busy_delay: Duration::from_secs(30),
        wait: WaitOptions {
            first_interval: Duration::from_secs(5),
            max_interval: Duration::from_secs(60),
            growth: 1.5,
            base_deadline: Duration::from_secs(600),
            per_gb: Duration::ZERO,
        },
        ..EngineOptions::default()
    }
}

// ---------------------------------------------------------------- the fake

/// One call the engine made.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    ListResources(TargetKind),
    ListSnapshots(TargetKind),
    InProgress(String),
    Create { resource: String, name: String },
    Poll(String),
    Delete(String),
}

impl Call {
    fn is_write(&self) -> bool {
        matches!(self, Call::Create { .. } | Call::Delete(_))
    }
}

type Hook = Box<dyn Fn(&Call) -> bool + Send + Sync>;

/// A provider with scripted state and failures that records every call.
///
/// Scripts are queues per resource; the last answer of a queue repeats, so a
/// single `Busy` means "busy for ever" and a single `Running` never finishes.
/// Anything not scripted succeeds: creates return a pending snapshot
/// `new-<resource>`, polls say it is done, deletes work.
#[derive(Default)]
struct Fake {
    resources: BTreeMap<TargetKind, Result<Vec<Resource>>>,
    snapshots: BTreeMap<TargetKind, Result<Vec<Snapshot>>>,
    in_progress: BTreeMap<String, Result<Vec<InProgress>>>,
    creates: Mutex<BTreeMap<String, VecDeque<Result<()>>>>,
    polls: Mutex<BTreeMap<String, VecDeque<Result<Progress>>>>,
    deletes: BTreeMap<String, Result<()>>,
    calls: Mutex<Vec<Call>>,
    /// Cancel the token right after the first call the predicate accepts
    /// (a SIGTERM arriving while that call is on the wire).
    cancel: Option<(Hook, CancellationToken)>,
    /// What `clock_skew` answers (provider minus host).
    skew: Option<TimeDelta>,
    /// Snapshots that take this long (paused tokio time) from their create:
    /// polls say running before, done after.
    takes: BTreeMap<String, Duration>,
    created_at: Mutex<BTreeMap<String, tokio::time::Instant>>,
}

impl Fake {
    fn new() -> Self {
        Self::default()
    }

    fn resources(mut self, kind: TargetKind, r: Result<Vec<Resource>>) -> Self {
        self.resources.insert(kind, r);
        self
    }

    fn snapshots(mut self, kind: TargetKind, s: Result<Vec<Snapshot>>) -> Self {
        self.snapshots.insert(kind, s);
        self
    }

    fn in_progress(mut self, resource: &str, p: Result<Vec<InProgress>>) -> Self {
        self.in_progress.insert(resource.into(), p);
        self
    }

    fn creates(self, resource: &str, answers: Vec<Result<()>>) -> Self {
        self.creates
            .lock()
            .unwrap()
            .insert(resource.into(), answers.into());
        self
    }

    fn polls(self, resource: &str, answers: Vec<Result<Progress>>) -> Self {
        self.polls
            .lock()
            .unwrap()
            .insert(resource.into(), answers.into());
        self
    }

    fn takes(mut self, resource: &str, d: Duration) -> Self {
        self.takes.insert(resource.into(), d);
        self
    }

    /// How many times each resource's snapshot was looked at.
    fn polls_per_resource(&self) -> BTreeMap<String, usize> {
        let mut n = BTreeMap::new();
        for c in self.calls() {
            if let Call::Poll(r) = c {
                *n.entry(r).or_default() += 1;
            }
        }
        n
    }

    fn delete_answer(mut self, snapshot: &str, answer: Result<()>) -> Self {
        self.deletes.insert(snapshot.into(), answer);
        self
    }

    fn cancel_after(
        mut self,
        token: &CancellationToken,
        when: impl Fn(&Call) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.cancel = Some((Box::new(when), token.clone()));
        self
    }

    fn record(&self, call: Call) {
        if let Some((when, token)) = &self.cancel
            && when(&call)
        {
            token.cancel();
        }
        self.calls.lock().unwrap().push(call);
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn writes(&self) -> Vec<Call> {
        self.calls().into_iter().filter(Call::is_write).collect()
    }

    fn deleted(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Delete(id) => Some(id),
                _ => None,
            })
            .collect()
    }

    fn created(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Create { resource, .. } => Some(resource),
                _ => None,
            })
            .collect()
    }

    fn count(&self, want: &Call) -> usize {
        self.calls().iter().filter(|c| *c == want).count()
    }
}

/// The next scripted answer; the last one repeats.
fn next<T: Clone>(queue: Option<&mut VecDeque<T>>) -> Option<T> {
    let queue = queue?;
    if queue.len() > 1 {
        queue.pop_front()
    } else {
        queue.front().cloned()
    }
}

#[async_trait::async_trait]
impl Provider for Fake {
    fn kind(&self) -> ProviderKind {
        ProviderKind::DigitalOcean
    }

    async fn list_resources(&self, kind: TargetKind) -> Result<Vec<Resource>> {
        self.record(Call::ListResources(kind));
        self.resources.get(&kind).cloned().unwrap_or(Ok(Vec::new()))
    }

    async fn list_snapshots(
        &self,
        kind: TargetKind,
        scope: ListScope<'_>,
    ) -> Result<Vec<Snapshot>> {
        assert_eq!(
            scope,
            ListScope::Managed { account: ACCOUNT },
            "the engine lists only its account's snapshots"
        );
        self.record(Call::ListSnapshots(kind));
        self.snapshots.get(&kind).cloned().unwrap_or(Ok(Vec::new()))
    }

    async fn in_progress(
        &self,
        resource: &Resource,
        _listed: &[Snapshot],
    ) -> Result<Vec<InProgress>> {
        self.record(Call::InProgress(resource.id.clone()));
        self.in_progress
            .get(&resource.id)
            .cloned()
            .unwrap_or(Ok(Vec::new()))
    }

    async fn create_snapshot(
        &self,
        resource: &Resource,
        name: &SnapshotName,
        _tags: &[String],
    ) -> Result<Pending> {
        let name = match name {
            SnapshotName::Managed(m) => m.encode(),
            SnapshotName::Manual(n) => n.clone(),
        };
        self.record(Call::Create {
            resource: resource.id.clone(),
            name: name.clone(),
        });
        let answer = next(self.creates.lock().unwrap().get_mut(&resource.id)).unwrap_or(Ok(()));
        self.created_at
            .lock()
            .unwrap()
            .insert(resource.id.clone(), tokio::time::Instant::now());
        answer.map(|()| Pending {
            resource_id: resource.id.clone(),
            kind: resource.kind,
            name,
            snapshot_id: Some(format!("new-{}", resource.id)),
            action_id: None,
            started: t0(),
            disk_gb: resource.disk_gb,
            ready: false,
        })
    }

    async fn poll(&self, pending: &Pending) -> Result<Progress> {
        self.record(Call::Poll(pending.resource_id.clone()));
        if let Some(takes) = self.takes.get(&pending.resource_id) {
            let since = self.created_at.lock().unwrap()[&pending.resource_id].elapsed();
            return Ok(if since < *takes {
                Progress::Running { percent: None }
            } else {
                Progress::Done {
                    snapshot_id: format!("new-{}", pending.resource_id),
                }
            });
        }
        next(self.polls.lock().unwrap().get_mut(&pending.resource_id)).unwrap_or_else(|| {
            Ok(Progress::Done {
                snapshot_id: format!("new-{}", pending.resource_id),
            })
        })
    }

    async fn delete_snapshot(&self, snapshot: &Snapshot) -> Result<()> {
        self.record(Call::Delete(snapshot.id.clone()));
        self.deletes.get(&snapshot.id).cloned().unwrap_or(Ok(()))
    }

    async fn inventory(&self) -> Result<Inventory> {
        Ok(Inventory::default())
    }

    fn clock_skew(&self) -> Option<TimeDelta> {
        self.skew
    }
}

async fn cycle(account: &Account, fake: &Fake, opts: &EngineOptions) -> CycleReport {
    run_cycle(
        account,
        fake,
        &Clock::fixed(t0()),
        opts,
        &CancellationToken::new(),
    )
    .await
}

fn resource<'a>(report: &'a CycleReport, policy: &str, id: &str) -> &'a ResourceReport {
    report
        .resources
        .iter()
        .find(|r| r.policy == policy && r.resource_id == id)
        .unwrap_or_else(|| panic!("no report for {policy}/{id}: {report:#?}"))
}

fn line<'a>(r: &'a ResourceReport, id: &str) -> &'a SnapshotLine {
    r.snapshots
        .iter()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("no line for {id}: {r:#?}"))
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn ids(v: &[&str]) -> Vec<String> {
    sorted(v.iter().map(ToString::to_string).collect())
}

/// `n` complete snapshots of ours, `d-1` (newest, `first` hours ago) to
/// `d-n`, one every `step` hours.
fn series(
    kind: TargetKind,
    prefix: &str,
    policy: &str,
    resource: &str,
    first: i64,
    step: i64,
    n: i64,
) -> Vec<Snapshot> {
    (1..=n)
        .map(|i| {
            ours(
                kind,
                &format!("{prefix}-{i}"),
                policy,
                resource,
                ago(first + (i - 1) * step),
            )
        })
        .collect()
}

const D: TargetKind = TargetKind::Droplet;
const V: TargetKind = TargetKind::Volume;

// ------------------------------------------------- rule 1: only our marker

#[tokio::test(start_paused = true)]
async fn never_deletes_unmarked_or_another_groups_snapshot() {
    // Every snapshot below is old enough that `last: 1` would expire it if it
    // were ours; only the ones of (acct, p, r1) may go.
    let old = |h: i64| ago(100 + h);
    let unmarked = |id: &str, name: &str| Snapshot {
        id: id.into(),
        name: name.into(),
        kind: D,
        resource_id: Some("r1".into()),
        created: old(0),
        size_gb: None,
        state: SnapState::Complete,
        marker: None,
        protected: false,
        tags: Vec::new(),
    };
    let cases: Vec<(&str, Snapshot, bool)> = vec![
        (
            "ours, expired",
            ours(D, "ours-old", "p", "r1", old(1)),
            true,
        ),
        (
            "ours, newest",
            ours(D, "ours-new", "p", "r1", ago(1)),
            false,
        ),
        (
            "no marker",
            unmarked("plain", "backup-before-upgrade"),
            false,
        ),
        (
            "marker-like name without a parsed marker",
            unmarked("lookalike", "snapkeeper:acct:p:r1:20260101T000000Z-copy"),
            false,
        ),
        (
            "another account's marker",
            marked(
                D,
                "other-acct",
                marker("other", "p", "r1", old(2)),
                SnapState::Complete,
            ),
            false,
        ),
        (
            "another policy's marker",
            ours(D, "other-policy", "q", "r1", old(3)),
            false,
        ),
        (
            "another resource's marker",
            ours(D, "other-res", "p", "r2", old(4)),
            false,
        ),
    ];
    for prune_orphans in [false, true] {
        let snaps = cases.iter().map(|(_, s, _)| s.clone()).collect();
        let fake = Fake::new()
            .resources(D, Ok(vec![res(D, "r1")]))
            .snapshots(D, Ok(snaps));
        let mut acct = account(
            ProviderKind::DigitalOcean,
            vec![policy("p", D, hours(6), last(1))],
        );
        acct.prune_orphans = prune_orphans;
        let report = cycle(&acct, &fake, &opts()).await;
        let deleted = fake.deleted();
        for (what, s, may_delete) in &cases {
            // With prune_orphans the other policy's and resource's groups are
            // orphans; each is a group of one, whose newest is never deleted.
            assert_eq!(
                deleted.contains(&s.id),
                *may_delete,
                "{what} (prune_orphans {prune_orphans}): deleted {deleted:?}"
            );
        }
        let r = resource(&report, "p", "r1");
        let listed: Vec<_> = r.snapshots.iter().map(|s| s.id.as_str()).collect();
        for foreign in [
            "plain",
            "lookalike",
            "other-acct",
            "other-policy",
            "other-res",
        ] {
            assert!(
                !listed.contains(&foreign),
                "{foreign} must not be judged in p/r1's group: {listed:?}"
            );
        }
    }
}

// --------------------------------------- rule 3: no prune after a bad create

#[tokio::test(start_paused = true)]
async fn no_prune_for_a_resource_whose_create_did_not_succeed() {
    type Script = fn(Fake) -> Fake;
    let cases: Vec<(&str, Script, fn(&CreateStatus) -> bool)> = vec![
        (
            "provider says failed",
            |f| {
                f.polls(
                    "r1",
                    vec![Ok(Progress::Failed {
                        reason: "disk error".into(),
                    })],
                )
            },
            |c| matches!(c, CreateStatus::Failed(_)),
        ),
        (
            "create call refused",
            |f| {
                f.creates(
                    "r1",
                    vec![Err(err(ErrorKind::Rejected, Some(422), "create snapshot"))],
                )
            },
            |c| matches!(c, CreateStatus::Error(_)),
        ),
        (
            "busy after every retry",
            |f| {
                f.creates(
                    "r1",
                    vec![Err(err(ErrorKind::Busy, Some(422), "create snapshot"))],
                )
            },
            |c| matches!(c, CreateStatus::Busy(_)),
        ),
        (
            "still running at the deadline",
            |f| f.polls("r1", vec![Ok(Progress::Running { percent: Some(40) })]),
            |c| matches!(c, CreateStatus::Unconfirmed(r) if r.contains("still not finished")),
        ),
        (
            "poll keeps failing transiently until the deadline",
            |f| f.polls("r1", vec![Err(err(ErrorKind::Server, Some(503), "poll"))]),
            |c| matches!(c, CreateStatus::Unconfirmed(_)),
        ),
        (
            "poll refused",
            |f| {
                f.polls(
                    "r1",
                    vec![Err(err(ErrorKind::Forbidden, Some(403), "poll"))],
                )
            },
            |c| matches!(c, CreateStatus::Unconfirmed(_)),
        ),
        (
            "cannot tell what is running",
            |f| {
                f.in_progress(
                    "r1",
                    Err(err(ErrorKind::Server, Some(500), "list droplet actions")),
                )
            },
            |c| matches!(c, CreateStatus::Error(_)),
        ),
    ];
    for (what, script, status_ok) in cases {
        // Both resources are due (newest 7h old, every 6h) and have three
        // snapshots that `last: 1` would expire.
        let mut snaps = series(D, "a", "p", "r1", 7, 24, 4);
        snaps.extend(series(D, "b", "p", "r2", 7, 24, 4));
        let fake = script(
            Fake::new()
                .resources(D, Ok(vec![res(D, "r1"), res(D, "r2")]))
                .snapshots(D, Ok(snaps)),
        );
        let acct = account(
            ProviderKind::DigitalOcean,
            vec![policy("p", D, hours(6), last(1))],
        );
        let report = cycle(&acct, &fake, &opts()).await;
        let r1 = resource(&report, "p", "r1");
        assert!(status_ok(&r1.create), "{what}: {:?}", r1.create);
        assert!(
            matches!(r1.prune, PruneStatus::Skipped(_)),
            "{what}: {:?}",
            r1.prune
        );
        assert!(
            r1.snapshots.iter().all(|s| s.delete.is_none()),
            "{what}: {r1:#?}"
        );
        let deleted = fake.deleted();
        assert!(
            deleted.iter().all(|id| id.starts_with("b-")),
            "{what}: r1's snapshots must stay: {deleted:?}"
        );
        // The other resource in the same cycle is pruned as usual: its new
        // snapshot plus `last: 1` expire all four older ones.
        let r2 = resource(&report, "p", "r2");
        assert_eq!(
            r2.create,
            CreateStatus::Created {
                snapshot_id: "new-r2".into()
            },
            "{what}"
        );
        assert_eq!(r2.prune, PruneStatus::Done { deleted: 4 }, "{what}");
        assert_eq!(
            sorted(deleted),
            ids(&["b-1", "b-2", "b-3", "b-4"]),
            "{what}"
        );
    }
}

// ------------------------------- polls: the first look at the expected end

/// Five droplets of different sizes, all due, each snapshot taking 3 s per
/// (GB + 10); `stuck` never finishes.
fn sized(stuck: Option<&str>) -> Fake {
    let disks = [("r1", 10), ("r2", 40), ("r3", 90), ("r4", 190), ("r5", 40)];
    let mut fake = Fake::new().resources(
        D,
        Ok(disks
            .iter()
            .map(|(id, gb)| Resource {
                disk_gb: *gb,
                ..res(D, id)
            })
            .collect()),
    );
    for (id, gb) in disks {
        let takes = if stuck == Some(id) {
            Duration::from_secs(100 * 3600)
        } else {
            Duration::from_secs(3 * (gb + 10))
        };
        fake = fake.takes(id, takes);
    }
    fake
}

/// The first cycle of an account over `sized(stuck)`: nothing learned.
async fn first_cycle(fake: &Fake) -> CycleReport {
    let acct = account(
        ProviderKind::DigitalOcean,
        vec![policy("p", D, hours(6), last(3))],
    );
    let o = EngineOptions {
        wait: WaitOptions::default(),
        ..opts()
    };
    cycle(&acct, fake, &o).await
}

#[tokio::test(start_paused = true)]
async fn a_first_cycle_follows_one_probe_and_looks_at_the_others_once() {
    // Nothing learned yet: the smallest snapshot is looked at on the growing
    // schedule (5, 10, 17.5, 28.75, 45.6, 70.9 s: done, 60 s, at the sixth
    // look), and
    // what it teaches puts every other first look at its expected end.
    let fake = sized(None);
    let report = first_cycle(&fake).await;
    let polls = fake.polls_per_resource();
    for id in ["r1", "r2", "r3", "r4", "r5"] {
        assert!(
            matches!(
                resource(&report, "p", id).create,
                CreateStatus::Created { .. }
            ),
            "{id}: {report:#?}"
        );
        let want = if id == "r1" { 6 } else { 1 };
        assert_eq!(polls.get(id), Some(&want), "{id}: {polls:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_stuck_probe_delays_the_others_first_look_but_never_skips_it() {
    // r1, the probe, never finishes: the others are looked at an eighth of
    // their deadline after their create at the latest (r2: (10 min + 40 ×
    // 3 min) / 8), once each, and are confirmed; r1 ends unconfirmed.
    let fake = sized(Some("r1"));
    let report = first_cycle(&fake).await;
    assert!(
        matches!(&resource(&report, "p", "r1").create, CreateStatus::Unconfirmed(r) if r.contains("still not finished")),
        "{report:#?}"
    );
    let polls = fake.polls_per_resource();
    for id in ["r2", "r3", "r4", "r5"] {
        assert!(
            matches!(
                resource(&report, "p", id).create,
                CreateStatus::Created { .. }
            ),
            "{id}: {report:#?}"
        );
        assert_eq!(polls.get(id), Some(&1), "{id}: {polls:?}");
    }
}

#[test]
fn speed_learns_only_from_what_a_look_can_tell() {
    let secs = Duration::from_secs;
    let t0 = tokio::time::Instant::now();
    // A snapshot created at `at`, done `done` s later, last seen running
    // `running` s after its create.
    let seen = |at: u64, done: u64, running: Option<u64>| Observed {
        disk_gb: 10,
        done_after: secs(done),
        running_after: running.map(secs),
        seen: t0 + secs(at + done),
    };
    // (what, observations, expected end of a 10 GB snapshot, at the latest)
    let cases: Vec<(&str, Vec<Observed>, Option<Duration>, Option<Duration>)> = vec![
        ("nothing seen", vec![], None, None),
        (
            "done at the first look: an upper bound only (the look may be late)",
            vec![seen(0, 60, None)],
            None,
            Some(secs(60)),
        ),
        (
            "the tightest upper bound wins",
            vec![seen(0, 60, None), seen(0, 300, None), seen(0, 50, None)],
            None,
            Some(secs(50)),
        ),
        (
            "running at 40 s, done at 60 s: 60 s",
            vec![seen(0, 60, Some(40))],
            Some(secs(60)),
            None,
        ),
        (
            "an estimate, then done at the first look however late: 10 % lower",
            vec![seen(0, 40, Some(30)), seen(0, 400, None)],
            Some(secs(36)),
            None,
        ),
        (
            "a burst done at the first look lowers it once",
            vec![
                seen(0, 40, Some(30)),
                seen(100, 40, None),
                seen(100, 41, None),
                seen(100, 42, None),
                seen(101, 40, None),
            ],
            Some(secs(36)),
            None,
        ),
        (
            "and again once a snapshot's duration has passed",
            vec![
                seen(0, 40, Some(30)),
                seen(100, 40, None),
                seen(140, 40, None),
            ],
            Some(Duration::from_secs_f64(32.4)),
            None,
        ),
        (
            "an estimate, then seen running: halfway to the new figure",
            vec![seen(0, 40, Some(30)), seen(0, 80, Some(70))],
            Some(secs(60)),
            None,
        ),
    ];
    for (what, seen, expected, at_most) in cases {
        let mut speed = Speed::default();
        for o in seen {
            speed.observe(o);
        }
        let round = |d: Option<Duration>| d.map(|d| (d.as_secs_f64() * 10.0).round() / 10.0);
        assert_eq!(round(speed.expected(10)), round(expected), "{what}");
        assert_eq!(round(speed.at_most(10)), round(at_most), "{what}");
        assert_eq!(speed.known(), expected.is_some(), "{what}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_long_pass_does_not_delay_the_looks_at_what_it_started() {
    // r2 is busy for a minute (two busy answers 30 s apart), so the pass
    // lasts a minute; r1's snapshot takes 10 s. It is confirmed and r1
    // pruned while the pass is still waiting on r2.
    let busy = || Err(err(ErrorKind::Busy, Some(422), "create snapshot"));
    let fake = Fake::new()
        .resources(D, Ok(vec![res(D, "r1"), res(D, "r2")]))
        .snapshots(D, Ok(series(D, "a", "p", "r1", 7, 24, 2)))
        .creates("r2", vec![busy(), busy(), Ok(())])
        .takes("r1", Duration::from_secs(10));
    let acct = account(
        ProviderKind::DigitalOcean,
        vec![policy("p", D, hours(6), last(1))],
    );
    let report = cycle(&acct, &fake, &opts()).await;
    assert_eq!(
        resource(&report, "p", "r1").prune,
        PruneStatus::Done { deleted: 2 },
        "{report:#?}"
    );
    let calls = fake.calls();
    let first_delete = calls.iter().position(|c| matches!(c, Call::Delete(_)));
    let last_r2_create = calls
        .iter()
        .rposition(|c| matches!(c, Call::Create { resource, .. } if resource == "r2"));
    assert!(
        first_delete.is_some() && first_delete < last_r2_create,
        "r1 pruned before the pass ended: {calls:?}"
    );
}

// ---------------------------------------- rule 3: no prune on a bad listing

#[tokio::test(start_paused = true)]
async fn failed_listing_blocks_create_and_prune_for_its_kind_only() {
    let cases: Vec<(&str, Fake)> = vec![
        (
            "droplet list 401",
            Fake::new().resources(
                D,
                Err(err(ErrorKind::Unauthorized, Some(401), "list droplets")),
            ),
        ),
        (
            "droplet list 5xx",
            Fake::new().resources(D, Err(err(ErrorKind::Server, Some(503), "list droplets"))),
        ),
        (
            "droplet snapshots 403",
            Fake::new().snapshots(
                D,
                Err(err(
                    ErrorKind::Forbidden,
                    Some(403),
                    "list droplet snapshots",
                )),
            ),
        ),
        (
            "droplet snapshots page 3 fails",
            Fake::new().snapshots(
                D,
                Err(err(
                    ErrorKind::Transport,
                    None,
                    "list droplet snapshots (page 3)",
                )),
            ),
        ),
    ];
    for (what, fake) in cases {
        // Fill in whatever the case did not break: droplets and volumes
        // with expired snapshots, both due.
        let mut fake = fake;
        fake.resources.entry(D).or_insert(Ok(vec![res(D, "d1")]));
        fake.snapshots
            .entry(D)
            .or_insert(Ok(series(D, "d", "pd", "d1", 7, 24, 3)));
        fake.resources.insert(V, Ok(vec![res(V, "v1")]));
        fake.snapshots
            .insert(V, Ok(series(V, "v", "pv", "v1", 7, 24, 3)));
        let mut acct = account(
            ProviderKind::DigitalOcean,
            vec![
                policy("pd", D, hours(6), last(1)),
                policy("pv", V, hours(6), last(1)),
            ],
        );
        // Even with orphan pruning on, nothing of the broken kind may go.
        acct.prune_orphans = true;
        let report = cycle(&acct, &fake, &opts()).await;

        assert_eq!(report.skipped_policies, vec!["pd".to_string()], "{what}");
        assert_eq!(report.errors.len(), 1, "{what}: {:?}", report.errors);
        assert!(
            report.errors[0].contains("droplet"),
            "{what}: {:?}",
            report.errors
        );
        assert!(report.resources.iter().all(|r| r.policy != "pd"), "{what}");
        assert!(
            report.orphans.iter().all(|o| o.policy != "pd"),
            "{what}: a broken listing makes no orphans: {:?}",
            report.orphans
        );
        assert_eq!(fake.created(), vec!["v1".to_string()], "{what}");
        assert_eq!(
            sorted(fake.deleted()),
            ids(&["v-1", "v-2", "v-3"]),
            "{what}"
        );
        assert_eq!(report.exit_code(), exit::PARTIAL, "{what}");
    }
}

#[tokio::test(start_paused = true)]
async fn every_listing_failing_is_nothing_done() {
    let fake = Fake::new()
        .resources(
            D,
            Err(err(ErrorKind::Unauthorized, Some(401), "list droplets")),
        )
        .snapshots(
            V,
            Err(err(
                ErrorKind::Unauthorized,
                Some(401),
                "list volume snapshots",
            )),
        );
    let acct = account(
        ProviderKind::DigitalOcean,
        vec![
            policy("pd", D, hours(6), last(1)),
            policy("pv", V, hours(6), last(1)),
        ],
    );
    let report = cycle(&acct, &fake, &opts()).await;
    assert!(fake.writes().is_empty());
    assert_eq!(report.skipped_policies, ["pd", "pv"]);
    assert_eq!(report.exit_code(), exit::NOTHING_DONE);
    assert_eq!(report.counts(), (0, 0, 2));
}

#[tokio::test(start_paused = true)]
async fn untargeted_kind_listing_failure_is_not_a_cycle_failure() {
    // Only droplets are targeted; a token without volume scopes cannot list
    // volume snapshots. That costs the volume orphan report, not the cycle.
    let fake = Fake::new()
        .resources(D, Ok(vec![res(D, "d1")]))
        .snapshots(D, Ok(series(D, "d", "pd", "d1", 7, 24, 3)))
        .snapshots(
            V,
            Err(err(
                ErrorKind::Forbidden,
                Some(403),
                "list volume snapshots",
            )),
        );
    let acct = account(
        ProviderKind::DigitalOcean,
        vec![policy("pd", D, hours(6), last(1))],
    );
    let report = cycle(&acct, &fake, &opts()).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.skipped_policies.is_empty());
    assert_eq!(fake.created(), vec!["d1".to_string()]);
    assert_eq!(report.exit_code(), exit::OK);
}

// ----------------------------------------------------------- rule 4: floors

#[tokio::test(start_paused = true)]
async fn floors_hold_end_to_end() {
    struct Case {
        what: &'static str,
        keep: KeepRules,
        /// Hours ago of the group's snapshots: (id, hours, state).
        snaps: Vec<(&'static str, i64, SnapState)>,
        /// Hours between snapshots of the schedule (1000: not due).
        every: u64,
        deleted: &'static [&'static str],
    }
    let c = SnapState::Complete;
    let cases = [
        Case {
            what: "min_keep 3 over last 1",
            keep: KeepRules {
                last: 1,
                min_keep: 3,
                ..KeepRules::default()
            },
            snaps: vec![
                ("s1", 1, c),
                ("s2", 2, c),
                ("s3", 3, c),
                ("s4", 4, c),
                ("s5", 5, c),
            ],
            every: 1000,
            deleted: &["s4", "s5"],
        },
        Case {
            what: "in-progress and failed ones do not count towards min_keep",
            keep: KeepRules {
                last: 1,
                min_keep: 2,
                ..KeepRules::default()
            },
            snaps: vec![
                ("run", 0, SnapState::InProgress),
                ("bad", 1, SnapState::Failed),
                ("s1", 2, c),
                ("s2", 3, c),
                ("s3", 4, c),
            ],
            every: 1000,
            deleted: &["s3"],
        },
        Case {
            what: "the newest complete survives a window that holds nothing",
            keep: KeepRules {
                within: Some(Duration::from_secs(1)),
                min_keep: 0,
                ..KeepRules::default()
            },
            snaps: vec![
                ("run", 0, SnapState::InProgress),
                ("s1", 50, c),
                ("s2", 60, c),
            ],
            every: 1000,
            deleted: &["s2"],
        },
        Case {
            what: "a new snapshot counts once it is confirmed",
            keep: KeepRules {
                last: 1,
                min_keep: 2,
                ..KeepRules::default()
            },
            snaps: vec![("s1", 7, c), ("s2", 8, c), ("s3", 9, c)],
            every: 6,
            deleted: &["s2", "s3"],
        },
    ];
    for case in cases {
        let snaps = case
            .snaps
            .iter()
            .map(|(id, h, state)| marked(D, id, marker(ACCOUNT, "p", "r1", ago(*h)), *state))
            .collect();
        let fake = Fake::new()
            .resources(D, Ok(vec![res(D, "r1")]))
            .snapshots(D, Ok(snaps));
        let acct = account(
            ProviderKind::DigitalOcean,
            vec![policy("p", D, hours(case.every), case.keep.clone())],
        );
        let report = cycle(&acct, &fake, &opts()).await;
        assert_eq!(sorted(fake.deleted()), ids(case.deleted), "{}", case.what);
        let r = resource(&report, "p", "r1");
        let kept_complete = r
            .snapshots
            .iter()
            .filter(|s| s.state == "complete" && s.action == "keep")
            .count();
        assert!(
            kept_complete >= case.keep.min_keep.max(1) as usize,
            "{}: {r:#?}",
            case.what
        );
    }
}

// ------------------------------------------------- rule 5: anchored windows

#[tokio::test(start_paused = true)]
async fn age_window_is_anchored_at_the_newest_complete_snapshot() {
    // Daily snapshots from 30 to 44 days ago; the schedule (every 45 days)
    // is not due, so nothing new arrives. "Keep 7 days" keeps the week
    // before the newest (days 30..=37), not "nothing, all are older than a
    // week".
    let snaps = (30..=44)
        .map(|d| ours(D, &format!("d{d}"), "p", "r1", days_ago(d)))
        .collect();
    let fake = Fake::new()
        .resources(D, Ok(vec![res(D, "r1")]))
        .snapshots(D, Ok(snaps));
    let keep = KeepRules {
        within: Some(Duration::from_secs(7 * 86_400)),
        min_keep: 1,
        ..KeepRules::default()
    };
    let acct = account(
        ProviderKind::DigitalOcean,
        vec![policy("p", D, hours(45 * 24), keep)],
    );
    let report = cycle(&acct, &fake, &opts()).await;
    let r = resource(&report, "p", "r1");
    assert_eq!(r.create, CreateStatus::NotDue);
    let want: Vec<String> = (38..=44).map(|d| format!("d{d}")).collect();
    assert_eq!(sorted(fake.deleted()), sorted(want));
    for d in 30..=37 {
        assert_eq!(line(r, &format!("d{d}")).action, "keep", "day {d}");
    }
}

// -------------------------------------------------------- rule 9: busy

#[tokio::test(start_paused = true)]
async fn busy_is_retried_after_the_delay_then_created() {
    let busy = || Err(err(ErrorKind::Busy, Some(422), "create snapshot"));
    let fake = Fake::new()
        .resources(D, Ok(vec![res(D, "r1")]))
        .snapshots(D, Ok(series(D, "s", "p", "r1", 7, 24, 3)))
        .creates("r1", vec![busy(), busy(), Ok(())]);
    let acct = account(
        ProviderKind::DigitalOcean,
        vec![policy("p", D, hours(6), last(1))],
    );
    let start = tokio::time::Instant::now();
    let report = cycle(&acct, &fake, &opts()).await;
    // Two pauses of busy_delay, then the first look at the snapshot after
    // the first poll interval.
    assert_eq!(start.elapsed(), Duration::from_secs(65));
    assert_eq!(fake.created(), ["r1", "r1", "r1"]);
    let r = resource(&report, "p", "r1");
    assert_eq!(
        r.create,
        CreateStatus::Created {
            snapshot_id: "new-r1".into()
        }
    );
    assert_eq!(r.prune, PruneStatus::Done { deleted: 3 });
    assert_eq!(report.exit_code(), exit::OK);
}

#[tokio::test(start_paused = true)]
async fn busy_after_all_retries_is_left_for_the_next_cycle_without_prune() {
    let busy = || Err(err(ErrorKind::Busy, Some(423), "create image"));
    let fake = Fake::new()
        .resources(D, Ok(vec![res(D, "r1")]))
        .snapshots(D, Ok(series(D, "s", "p", "r1", 7, 24, 3)))
        .creates("r1", vec![busy()]);
    let acct = account(
        ProviderKind::DigitalOcean,
        vec![policy("p", D, hours(6), last(1))],
    );
    let o = EngineOptions {
        busy_retries: 2,
        busy_delay: Duration::from_secs(45),
        ..opts()
    };
    let start = tokio::time::Instant::now();
    let report = cycle(&acct, &fake, &o).await;
    assert_eq!(start.elapsed(), Duration::from_secs(90));
    assert_eq!(fake.created().len(), 3, "first try plus two retries");
    assert!(fake.deleted().is_empty());
    let r = resource(&report, "p", "r1");
    assert!(matches!(r.create, CreateStatus::Busy(_)), "{:?}", r.create);
    assert!(matches!(r.prune, PruneStatus::Skipped(_)));
    assert_eq!(report.exit_code(), exit::NOTHING_DONE);

    // Next cycle the resource is free again: created, then pruned.
    let fake = Fake::new()
        .resources(D, Ok(vec![res(D, "r1")]))
        .snapshots(D, Ok(series(D, "s", "p", "r1", 7, 24, 3)));
    let report = cycle(&acct, &fake, &o).await;
    assert_eq!(
        resource(&report, "p", "r1").prune,
        PruneStatus::Done { deleted: 3 }
    );
}

// ------------------------------------------------- rule 7: in progress

#[tokio::test(start_paused = true)]
async fn in_progress_snapshots_are_not_started_again() {
    let running = |what: &str, m: Option<Marker>| InProgress {
        resource_id: "r1".into(),
        since: Some(ago(1)),
        marker: m,
        what: what.into(),
    };
    struct Case {
        what: &'static str,
        kind: TargetKind,
        provider: ProviderKind,
        listed: Vec<Snapshot>,
        running: Vec<InProgress>,
        /// `Some(next)` when `newest` must have come from the running one.
        not_due_until: Option<DateTime<Utc>>,
    }
    let cases = [
        Case {
            what: "digitalocean locked droplet, no marker, no snapshot yet",
            kind: D,
            provider: ProviderKind::DigitalOcean,
            listed: Vec::new(),
            running: vec![running("locked", None)],
            not_due_until: None,
        },
        Case {
            what: "vultr pending snapshot with our marker, listed",
            kind: TargetKind::Instance,
            provider: ProviderKind::Vultr,
            listed: vec![
                marked(
                    TargetKind::Instance,
                    "pending",
                    marker(ACCOUNT, "p", "r1", ago(1)),
                    SnapState::InProgress,
                ),
                ours(TargetKind::Instance, "old", "p", "r1", ago(30)),
            ],
            running: vec![running(
                "pending snapshot",
                Some(marker(ACCOUNT, "p", "r1", ago(1))),
            )],
            not_due_until: Some(ago(1) + TimeDelta::hours(6)),
        },
        Case {
            what: "hetzner creating image with our marker, not listed",
            kind: TargetKind::Server,
            provider: ProviderKind::Hetzner,
            listed: vec![ours(TargetKind::Server, "old", "p", "r1", ago(30))],
            running: vec![running(
                "creating image",
                Some(marker(ACCOUNT, "p", "r1", ago(1))),
            )],
            not_due_until: Some(ago(1) + TimeDelta::hours(6)),
        },
        Case {
            what: "another policy's snapshot running on the resource",
            kind: TargetKind::Server,
            provider: ProviderKind::Hetzner,
            listed: vec![ours(TargetKind::Server, "old", "p", "r1", ago(30))],
            running: vec![running(
                "creating image",
                Some(marker(ACCOUNT, "other", "r1", ago(1))),
            )],
            not_due_until: None,
        },
    ];
    for case in cases {
        let fake = Fake::new()
            .resources(case.kind, Ok(vec![res(case.kind, "r1")]))
            .snapshots(case.kind, Ok(case.listed.clone()))
            .in_progress("r1", Ok(case.running.clone()));
        let acct = account(
            case.provider,
            vec![policy("p", case.kind, hours(6), last(1))],
        );
        let report = cycle(&acct, &fake, &opts()).await;
        assert!(fake.created().is_empty(), "{}", case.what);
        let r = resource(&report, "p", "r1");
        let due = r.due.as_ref().unwrap();
        match case.not_due_until {
            Some(next) => {
                assert!(!due.due, "{}: {due:?}", case.what);
                assert_eq!(due.next, next, "{}", case.what);
                assert_eq!(r.create, CreateStatus::NotDue, "{}", case.what);
            }
            None => {
                assert!(due.due, "{}: {due:?}", case.what);
                assert!(
                    matches!(r.create, CreateStatus::InProgress(_)),
                    "{}: {:?}",
                    case.what,
                    r.create
                );
            }
        }
        // An in-progress snapshot is never deleted, and a running snapshot
        // does not make the cycle a failure.
        assert!(!fake.deleted().contains(&"pending".to_string()));
        assert_eq!(report.exit_code(), exit::OK, "{}", case.what);
    }
}

// -------------------------------------- rule 9: protection, 404 and failure

#[tokio::test(start_paused = true)]
async fn delete_outcomes() {
    let protected = {
        let mut s = ours(D, "flagged", "p", "r1", ago(50));
        s.protected = true;
        s
    };
    let snaps = vec![
        ours(D, "keep", "p", "r1", ago(1)),
        protected,
        ours(D, "refused", "p", "r1", ago(51)),
        ours(D, "gone", "p", "r1", ago(52)),
        ours(D, "fine", "p", "r1", ago(53)),
    ];
    let fake = Fake::new()
        .resources(D, Ok(vec![res(D, "r1")]))
        .snapshots(D, Ok(snaps))
        .delete_answer(
            "refused",
            Err(err(ErrorKind::Protected, Some(423), "delete image")),
        )
        .delete_answer(
            "gone",
            Err(err(ErrorKind::NotFound, Some(404), "delete snapshot")),
        );
    let acct = account(
        ProviderKind::DigitalOcean,
        vec![policy("p", D, hours(6), last(1))],
    );
    let report = cycle(&acct, &fake, &opts()).await;
    // The listed-protected one is not even tried.
    assert_eq!(sorted(fake.deleted()), ids(&["refused", "gone", "fine"]));
    let r = resource(&report, "p", "r1");
    let cases = [
        ("flagged", DeleteStatus::Protected),
        ("refused", DeleteStatus::Protected),
        ("gone", DeleteStatus::Deleted),
        ("fine", DeleteStatus::Deleted),
    ];
    for (id, want) in cases {
        assert_eq!(line(r, id).delete, Some(want), "{id}");
    }
    assert_eq!(line(r, "keep").delete, None);
    assert_eq!(r.prune, PruneStatus::Done { deleted: 2 });
    assert!(!r.failed());
    assert_eq!(report.exit_code(), exit::OK);
    assert_eq!(report.counts(), (0, 2, 0));
}

// ------------------------------------------------------- rule 10: orphans

#[tokio::test(start_paused = true)]
async fn orphans_are_kept_and_reported_unless_opted_in() {
    // r1 exists and is targeted; r2 exists but is excluded; r9 is gone;
    // "retired" is a policy no longer in the file.
    let snaps = vec![
        ours(D, "live-1", "p", "r1", ago(1)),
        ours(D, "excl-1", "p", "r2", ago(10)),
        ours(D, "excl-2", "p", "r2", ago(100)),
        ours(D, "gone-1", "p", "r9", ago(10)),
        ours(D, "gone-2", "p", "r9", ago(100)),
        ours(D, "gone-3", "p", "r9", ago(200)),
        ours(D, "ret-1", "retired", "r1", ago(10)),
        ours(D, "ret-2", "retired", "r1", ago(100)),
    ];
    let mut p = policy("p", D, hours(6), last(1));
    p.targets.exclude = Some(Selector {
        ids: vec!["r2".into()],
        ..Selector::default()
    });
    let cases = [
        // (prune_orphans, retired_policies, dry_run, deleted or would delete)
        // Only a gone resource under a policy this file has, and a policy the
        // file names as retired, are ever pruned: an excluded resource and an
        // unknown policy (perhaps another installation's) are kept.
        (false, false, false, ids(&[])),
        (false, true, false, ids(&[])),
        (true, false, true, ids(&["gone-2", "gone-3"])),
        (true, false, false, ids(&["gone-2", "gone-3"])),
        (true, true, true, ids(&["gone-2", "gone-3", "ret-2"])),
        (true, true, false, ids(&["gone-2", "gone-3", "ret-2"])),
    ];
    for (prune_orphans, retire, dry_run, want) in cases {
        let fake = Fake::new()
            .resources(D, Ok(vec![res(D, "r1"), res(D, "r2")]))
            .snapshots(D, Ok(snaps.clone()));
        let mut acct = account(ProviderKind::DigitalOcean, vec![p.clone()]);
        acct.prune_orphans = prune_orphans;
        if retire {
            acct.retired_policies = vec!["retired".into()];
        }
        let o = EngineOptions { dry_run, ..opts() };
        let report = cycle(&acct, &fake, &o).await;
        let what = format!("prune_orphans {prune_orphans}, retired {retire}, dry_run {dry_run}");
        let retired_reason = if retire {
            OrphanReason::PolicyRetired
        } else {
            OrphanReason::PolicyRemoved
        };
        let want_reasons = [
            ("p", "r2", OrphanReason::NoLongerTargeted, 2),
            ("p", "r9", OrphanReason::ResourceGone, 3),
            ("retired", "r1", retired_reason, 2),
        ];
        let got: Vec<_> = report
            .orphans
            .iter()
            .map(|o| {
                (
                    o.policy.as_str(),
                    o.resource_id.as_str(),
                    o.reason,
                    o.snapshots.len(),
                )
            })
            .collect();
        assert_eq!(got, want_reasons, "{what}");
        let want_deleted = if dry_run { ids(&[]) } else { want.clone() };
        assert_eq!(sorted(fake.deleted()), want_deleted, "{what}");
        let reported: Vec<String> = report
            .orphans
            .iter()
            .flat_map(|o| o.deleted.clone())
            .collect();
        assert_eq!(sorted(reported), want_deleted, "{what}");
        if dry_run {
            // A plan shows what opting in would delete.
            let would: Vec<String> = report
                .orphans
                .iter()
                .flat_map(|o| o.would_delete.clone())
                .collect();
            assert_eq!(sorted(would), want, "{what}");
        }
        assert_eq!(report.exit_code(), exit::OK, "{what}");
    }
}

#[tokio::test(start_paused = true)]
async fn orphan_delete_failures_are_counted_and_protection_reported() {
    let mut flagged = ours(D, "gone-2", "p", "r9", ago(100));
    flagged.protected = true;
    let snaps = vec![
        ours(D, "live-1", "p", "r1", ago(1)),
        ours(D, "gone-1", "p", "r9", ago(10)),
        flagged,
        ours(D, "gone-3", "p", "r9", ago(200)),
        ours(D, "gone-4", "p", "r9", ago(300)),
    ];
    let fake = Fake::new()
        .resources(D, Ok(vec![res(D, "r1")]))
        .snapshots(D, Ok(snaps))
        .delete_answer(
            "gone-3",
            Err(err(ErrorKind::Server, Some(500), "delete snapshot")),
        );
    let mut acct = account(
        ProviderKind::DigitalOcean,
        vec![policy("p", D, hours(6), last(1))],
    );
    acct.prune_orphans = true;
    let report = cycle(&acct, &fake, &opts()).await;
    assert_eq!(sorted(fake.deleted()), ids(&["gone-3", "gone-4"]));
    let o = &report.orphans[0];
    assert_eq!(o.deleted, ["gone-4"]);
    assert_eq!(o.protected, ["gone-2"]);
    assert_eq!(o.failed.len(), 1, "{o:#?}");
    assert!(o.failed[0].contains("gone-3"), "{:?}", o.failed);
    assert_eq!(report.counts(), (0, 1, 1));
    assert_eq!(report.exit_code(), exit::PARTIAL);
}

// -------------------------------------------------- rule 11: deletion cap

#[tokio::test(start_paused = true)]
async fn deletion_cap_holds_oldest_first() {
    for (cap, want) in [(0u32, 0usize), (2, 2), (10, 10), (20, 15)] {
        // s-1 is newest (1h); s-16 oldest. `last: 1` expires s-2..s-16.
        let fake = Fake::new()
            .resources(D, Ok(vec![res(D, "r1")]))
            .snapshots(D, Ok(series(D, "s", "p", "r1", 1, 24, 16)));
        let mut p = policy("p", D, hours(6), last(1));
        p.max_deletes_per_run = cap;
        let acct = account(ProviderKind::DigitalOcean, vec![p]);
        let report = cycle(&acct, &fake, &opts()).await;
        let want_ids: Vec<String> = (0..want).map(|i| format!("s-{}", 16 - i)).collect();
        assert_eq!(sorted(fake.deleted()), sorted(want_ids), "cap {cap}");
        let r = resource(&report, "p", "r1");
        let capped = r
            .snapshots
            .iter()
            .filter(|s| s.reasons.iter().any(|x| x.contains("deletion cap")))
            .count();
        assert_eq!(capped, 15 - want, "cap {cap}");
    }
}

// --------------------------------------------------------- dry run (plan)

#[tokio::test(start_paused = true)]
async fn dry_run_writes_nothing_and_plans_what_a_run_does() {
    // Due (newest 7h old); `last: 2` with the new snapshot keeps the new one
    // and s-1, so s-2 and s-3 go. Without counting the new one only s-3
    // would.
    let build = || {
        Fake::new()
            .resources(D, Ok(vec![res(D, "r1")]))
            .snapshots(D, Ok(series(D, "s", "p", "r1", 7, 24, 3)))
    };
    let acct = account(
        ProviderKind::DigitalOcean,
        vec![policy("p", D, hours(6), last(2))],
    );
    let plan_fake = build();
    let plan = cycle(
        &acct,
        &plan_fake,
        &EngineOptions {
            dry_run: true,
            ..opts()
        },
    )
    .await;
    assert!(plan.dry_run);
    assert_eq!(plan_fake.writes(), Vec::<Call>::new());
    assert!(
        plan_fake
            .calls()
            .iter()
            .all(|c| !matches!(c, Call::Poll(_))),
        "nothing to poll in a plan"
    );
    let r = resource(&plan, "p", "r1");
    assert_eq!(
        r.create,
        CreateStatus::WouldCreate(marker(ACCOUNT, "p", "r1", t0()).encode())
    );
    let new = line(r, "(new)");
    assert_eq!((new.action, new.created), ("keep", t0()));
    let would: Vec<String> = r
        .snapshots
        .iter()
        .filter(|s| s.delete == Some(DeleteStatus::WouldDelete))
        .map(|s| s.id.clone())
        .collect();
    assert_eq!(sorted(would.clone()), ids(&["s-2", "s-3"]));
    assert_eq!(plan.counts(), (0, 0, 0));
    assert_eq!(plan.exit_code(), exit::OK);

    // The real run on the same state does exactly that.
    let run_fake = build();
    cycle(&acct, &run_fake, &opts()).await;
    assert_eq!(run_fake.created(), ["r1"]);
    assert_eq!(sorted(run_fake.deleted()), sorted(would));
}

// ------------------------------------------------------- cancellation

#[tokio::test(start_paused = true)]
async fn cancelled_before_the_cycle_writes_nothing() {
    let fake = Fake::new().resources(D, Ok(vec![res(D, "r1")])).snapshots(
        D,
        Ok([
            series(D, "s", "p", "r1", 7, 24, 3),
            series(D, "o", "p", "r9", 7, 24, 3),
        ]
        .concat()),
    );
    let mut acct = account(
        ProviderKind::DigitalOcean,
        vec![policy("p", D, hours(6), last(1))],
    );
    acct.prune_orphans = true;
    let cancel = CancellationToken::new();
    cancel.cancel();
    let report = run_cycle(&acct, &fake, &Clock::fixed(t0()), &opts(), &cancel).await;
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
    assert_eq!(resource(&report, "p", "r1").create, CreateStatus::Stopped);
    assert!(report.orphans.iter().all(|o| o.deleted.is_empty()));
}

#[tokio::test(start_paused = true)]
async fn cancel_stops_at_safe_points() {
    type When = fn(&Call) -> bool;
    struct Case {
        what: &'static str,
        when: When,
        busy: bool,
        running: bool,
        /// Calls to create / delete the engine may still make.
        creates: &'static [&'static str],
        deletes: usize,
        r1: fn(&CreateStatus) -> bool,
        /// Waiting holds no slot: r2 was created before the stop came.
        r2_started: bool,
    }
    let cases = [
        Case {
            what: "stop arrives while checking what is running",
            when: |c| *c == Call::InProgress("r1".into()),
            busy: false,
            running: false,
            creates: &[],
            deletes: 0,
            r1: |c| *c == CreateStatus::Stopped,
            r2_started: false,
        },
        Case {
            what: "stop arrives while waiting for the snapshot",
            when: |c| matches!(c, Call::Poll(_)),
            busy: false,
            running: true,
            creates: &["r1", "r2"],
            deletes: 0,
            r1: |c| matches!(c, CreateStatus::Unconfirmed(r) if r.contains("shutdown")),
            r2_started: true,
        },
        Case {
            what: "stop arrives while the resource is busy",
            when: |c| matches!(c, Call::Create { .. }),
            busy: true,
            running: false,
            creates: &["r1"],
            deletes: 0,
            r1: |c| *c == CreateStatus::Stopped,
            r2_started: false,
        },
        Case {
            what: "stop arrives during the first delete",
            when: |c| matches!(c, Call::Delete(_)),
            busy: false,
            running: false,
            creates: &["r1", "r2"],
            deletes: 1,
            r1: |c| matches!(c, CreateStatus::Created { .. }),
            r2_started: true,
        },
    ];
    for case in cases {
        let cancel = CancellationToken::new();
        let mut fake = Fake::new()
            .resources(D, Ok(vec![res(D, "r1"), res(D, "r2")]))
            .snapshots(
                D,
                Ok([
                    series(D, "a", "p", "r1", 7, 24, 3),
                    series(D, "b", "p", "r2", 7, 24, 3),
                ]
                .concat()),
            )
            .cancel_after(&cancel, case.when);
        if case.running {
            fake = fake.polls("r1", vec![Ok(Progress::Running { percent: None })]);
        }
        if case.busy {
            fake = fake.creates(
                "r1",
                vec![Err(err(ErrorKind::Busy, Some(422), "create snapshot"))],
            );
        }
        let report = run_cycle(
            &account(
                ProviderKind::DigitalOcean,
                vec![policy("p", D, hours(6), last(1))],
            ),
            &fake,
            &Clock::fixed(t0()),
            &opts(),
            &cancel,
        )
        .await;
        assert_eq!(fake.created(), case.creates, "{}", case.what);
        assert_eq!(fake.deleted().len(), case.deletes, "{}", case.what);
        let r1 = resource(&report, "p", "r1");
        assert!((case.r1)(&r1.create), "{}: {:?}", case.what, r1.create);
        if case.deletes > 0 {
            let stopped = r1
                .snapshots
                .iter()
                .filter(|s| matches!(s.delete, Some(DeleteStatus::NotAttempted(_))))
                .count();
            assert_eq!(stopped, 2, "{}: {r1:#?}", case.what);
        }
        let r2 = resource(&report, "p", "r2");
        if case.r2_started {
            // Started in the same pass, then left at the stop like r1.
            assert!(
                matches!(&r2.create, CreateStatus::Unconfirmed(r) if r.contains("shutdown")),
                "{}: {:?}",
                case.what,
                r2.create
            );
        } else {
            // concurrency 1: r2 had not started, so it is left alone entirely.
            assert_eq!(r2.create, CreateStatus::Stopped, "{}", case.what);
            assert_eq!(
                fake.count(&Call::InProgress("r2".into())),
                0,
                "{}",
                case.what
            );
        }
    }
}

// ------------------------------------------------ exit codes and counts

#[tokio::test(start_paused = true)]
async fn exit_codes_and_counts() {
    type Setup = fn() -> Fake;
    let one_policy = || {
        account(
            ProviderKind::DigitalOcean,
            vec![policy("p", D, hours(6), last(1))],
        )
    };
    let cases: Vec<(&str, Setup, u8, (usize, usize, usize))> = vec![
        (
            "all ok: two created, four deleted",
            || {
                Fake::new()
                    .resources(D, Ok(vec![res(D, "r1"), res(D, "r2")]))
                    .snapshots(
                        D,
                        Ok([
                            series(D, "a", "p", "r1", 7, 24, 2),
                            series(D, "b", "p", "r2", 7, 24, 2),
                        ]
                        .concat()),
                    )
            },
            exit::OK,
            (2, 4, 0),
        ),
        ("nothing to do is fine", Fake::new, exit::OK, (0, 0, 0)),
        (
            "not due and nothing expired",
            || {
                Fake::new()
                    .resources(D, Ok(vec![res(D, "r1")]))
                    .snapshots(D, Ok(series(D, "a", "p", "r1", 1, 24, 1)))
            },
            exit::OK,
            (0, 0, 0),
        ),
        (
            "partial: one resource's create fails",
            || {
                Fake::new()
                    .resources(D, Ok(vec![res(D, "r1"), res(D, "r2")]))
                    .creates(
                        "r1",
                        vec![Err(err(ErrorKind::Rejected, Some(422), "create snapshot"))],
                    )
            },
            exit::PARTIAL,
            (1, 0, 1),
        ),
        (
            "partial: created, but one delete failed",
            || {
                Fake::new()
                    .resources(D, Ok(vec![res(D, "r1")]))
                    .snapshots(D, Ok(series(D, "a", "p", "r1", 7, 24, 3)))
                    .delete_answer(
                        "a-2",
                        Err(err(ErrorKind::Server, Some(500), "delete snapshot")),
                    )
            },
            exit::PARTIAL,
            (1, 2, 1),
        ),
        (
            "nothing done: the only resource failed",
            || {
                Fake::new().resources(D, Ok(vec![res(D, "r1")])).polls(
                    "r1",
                    vec![Ok(Progress::Failed {
                        reason: "provider error".into(),
                    })],
                )
            },
            exit::NOTHING_DONE,
            (0, 0, 1),
        ),
        (
            "nothing done: listing refused",
            || {
                Fake::new().resources(
                    D,
                    Err(err(ErrorKind::Unauthorized, Some(401), "list droplets")),
                )
            },
            exit::NOTHING_DONE,
            (0, 0, 1),
        ),
    ];
    for (what, setup, code, counts) in cases {
        let fake = setup();
        let acct = one_policy();
        let report = cycle(&acct, &fake, &opts()).await;
        assert_eq!(report.exit_code(), code, "{what}: {report:#?}");
        assert_eq!(report.counts(), counts, "{what}");
    }
}

// ---------------------------------- one failing resource never stops others

#[tokio::test(start_paused = true)]
async fn one_failing_resource_never_stops_the_others() {
    // r1..r4 fail in four different ways and come first; r5 is fine.
    let all: Vec<Resource> = ["r1", "r2", "r3", "r4", "r5"]
        .iter()
        .map(|id| res(D, id))
        .collect();
    let snaps: Vec<Snapshot> = ["r1", "r2", "r3", "r4", "r5"]
        .iter()
        .flat_map(|r| series(D, &format!("{r}s"), "p", r, 7, 24, 2))
        .collect();
    for concurrency in [1, 4] {
        let fake = Fake::new()
            .resources(D, Ok(all.clone()))
            .snapshots(D, Ok(snaps.clone()))
            .in_progress(
                "r1",
                Err(err(ErrorKind::Transport, None, "list droplet actions")),
            )
            .creates(
                "r2",
                vec![Err(err(ErrorKind::Rejected, Some(422), "create snapshot"))],
            )
            .polls("r3", vec![Ok(Progress::Failed { reason: "x".into() })])
            .delete_answer(
                "r4s-1",
                Err(err(ErrorKind::Server, Some(500), "delete snapshot")),
            );
        let acct = account(
            ProviderKind::DigitalOcean,
            vec![policy("p", D, hours(6), last(1))],
        );
        let o = EngineOptions {
            concurrency,
            ..opts()
        };
        let report = cycle(&acct, &fake, &o).await;
        let r5 = resource(&report, "p", "r5");
        assert!(
            matches!(r5.create, CreateStatus::Created { .. }),
            "concurrency {concurrency}"
        );
        assert_eq!(r5.prune, PruneStatus::Done { deleted: 2 });
        let failed: Vec<_> = report
            .resources
            .iter()
            .filter(|r| r.failed())
            .map(|r| r.resource_id.as_str())
            .collect();
        assert_eq!(
            failed,
            ["r1", "r2", "r3", "r4"],
            "concurrency {concurrency}"
        );
        assert_eq!(report.exit_code(), exit::PARTIAL);
        assert_eq!(report.resources.len(), 5);
    }
}

#[tokio::test(start_paused = true)]
async fn retention_that_refuses_to_decide_is_a_failure_and_deletes_nothing() {
    // Validation refuses empty keep rules; should one slip through, the
    // engine deletes nothing and says so in the exit code.
    let fake = Fake::new()
        .resources(D, Ok(vec![res(D, "r1")]))
        .snapshots(D, Ok(series(D, "s", "p", "r1", 1, 24, 3)));
    let acct = account(
        ProviderKind::DigitalOcean,
        vec![policy("p", D, hours(6), KeepRules::default())],
    );
    let report = cycle(&acct, &fake, &opts()).await;
    assert!(fake.deleted().is_empty());
    let r = resource(&report, "p", "r1");
    assert!(matches!(r.prune, PruneStatus::Skipped(_)), "{:?}", r.prune);
    assert!(r.failed());
    assert_eq!(report.exit_code(), exit::NOTHING_DONE);
}

// ------------------------------------------- rule 14: clocks can lie (issue 10)

/// A snapshot whose marker says `marker_at` and whose provider time is `at`.
fn dated(id: &str, resource: &str, marker_at: DateTime<Utc>, at: DateTime<Utc>) -> Snapshot {
    let mut s = ours(D, id, "p", resource, marker_at);
    s.created = at;
    s
}

#[tokio::test(start_paused = true)]
async fn a_marker_from_the_future_is_never_the_anchor_nor_the_newest() {
    // One marker says a year ahead (written while a host clock was wrong);
    // its provider time is real. Three real snapshots, 1h, 7h and 13h old.
    let liar = dated("liar", "r1", t0() + TimeDelta::days(365), ago(30));
    let snaps = vec![
        liar,
        ours(D, "a", "p", "r1", ago(1)),
        ours(D, "b", "p", "r1", ago(7)),
        ours(D, "c", "p", "r1", ago(13)),
    ];
    for keep in [
        KeepRules {
            within: Some(hours(24)),
            min_keep: 1,
            ..KeepRules::default()
        },
        KeepRules {
            within: Some(hours(1)),
            min_keep: 2,
            ..KeepRules::default()
        },
    ] {
        let fake = Fake::new()
            .resources(D, Ok(vec![res(D, "r1")]))
            .snapshots(D, Ok(snaps.clone()));
        let acct = account(
            ProviderKind::DigitalOcean,
            vec![policy("p", D, hours(6), keep.clone())],
        );
        let report = cycle(&acct, &fake, &opts()).await;
        let r = resource(&report, "p", "r1");
        // The schedule runs from the truly newest (1h old), not from 2027.
        let due = r.due.as_ref().unwrap();
        assert!(!due.due, "{keep:?}: {due:?}");
        assert_eq!(due.next, ago(1) + TimeDelta::hours(6), "{keep:?}");
        let deleted = fake.deleted();
        assert!(
            !deleted.contains(&"liar".to_string()),
            "{keep:?}: {deleted:?}"
        );
        assert!(
            !deleted.contains(&"a".to_string()),
            "{keep:?}: the newest went: {deleted:?}"
        );
        if keep.min_keep == 2 {
            assert_eq!(sorted(deleted), ids(&["c"]), "min_keep 2 keeps a and b");
        } else {
            assert!(deleted.is_empty(), "within 24h keeps all: {deleted:?}");
        }
        let l = line(r, "liar");
        assert_eq!(l.action, "keep");
        assert!(
            l.reasons
                .iter()
                .any(|x| x.contains("marker time 2027-06-15")),
            "{:?}",
            l.reasons
        );
    }
}

#[tokio::test(start_paused = true)]
async fn clocks_that_disagree_hold_every_deletion_but_creates_go_on() {
    // (skew, deletes happen)
    for (skew, deletes) in [
        (None, true),
        (Some(TimeDelta::seconds(90)), true),
        (Some(TimeDelta::hours(-3)), false),
        (Some(TimeDelta::days(400)), false),
    ] {
        // The provider dates its snapshots on its own clock, host + skew;
        // the cycle then runs on that clock, so they are not suspect.
        let at = |t: DateTime<Utc>| t + skew.unwrap_or_default();
        let snaps = vec![
            ours(D, "old-1", "p", "r1", at(days_ago(3))),
            ours(D, "old-2", "p", "r1", at(days_ago(2))),
            ours(D, "x", "p", "r2", at(ago(1))),
            ours(D, "x-old", "p", "r2", at(days_ago(5))),
        ];
        let mut fake = Fake::new()
            .resources(D, Ok(vec![res(D, "r1"), res(D, "r2")]))
            .snapshots(D, Ok(snaps.clone()));
        fake.skew = skew;
        let acct = account(
            ProviderKind::DigitalOcean,
            vec![policy("p", D, hours(6), last(1))],
        );
        let report = cycle(&acct, &fake, &opts()).await;
        assert_eq!(
            fake.created(),
            vec!["r1".to_string()],
            "{skew:?}: r1 is due"
        );
        if deletes {
            assert_eq!(
                sorted(fake.deleted()),
                ids(&["old-1", "old-2", "x-old"]),
                "{skew:?}"
            );
            assert!(report.warnings.is_empty(), "{skew:?}");
        } else {
            assert!(fake.deleted().is_empty(), "{skew:?}: {:?}", fake.deleted());
            assert!(
                report.warnings[0].contains("host clock and provider clock disagree"),
                "{:?}",
                report.warnings
            );
            let r = resource(&report, "p", "r2");
            assert!(matches!(
                line(r, "x-old").delete,
                Some(DeleteStatus::Held { until: None, .. })
            ));
            assert_eq!(report.exit_code(), exit::OK, "a hold is not a failure");
        }
    }
}

// ------------------------------- rule 15: a reload never deletes by surprise

#[tokio::test(start_paused = true)]
async fn a_reload_holds_only_the_deletions_it_makes_newly_due() {
    // Five snapshots a day apart. The old config keeps the last 4 (so "d4"
    // and "d5" are due under it anyway); the new one keeps the last 1.
    let snaps: Vec<Snapshot> = (1..=5)
        .map(|d| ours(D, &format!("d{d}"), "p", "r1", days_ago(d)))
        .chain([ours(D, "new", "p", "r1", ago(1))])
        .collect();
    let old = account(
        ProviderKind::DigitalOcean,
        vec![policy("p", D, hours(6), last(4))],
    );
    let new = account(
        ProviderKind::DigitalOcean,
        vec![policy("p", D, hours(6), last(1))],
    );
    let until = t0() + TimeDelta::minutes(15);
    // (grace, deleted now, held)
    let cases = [
        (None, ids(&["d1", "d2", "d3", "d4", "d5"]), ids(&[])),
        (
            Some(Grace {
                until,
                baseline: Some(old.clone()),
            }),
            ids(&["d4", "d5"]),
            ids(&["d1", "d2", "d3"]),
        ),
        // An account the reload added: its file before deleted nothing.
        (
            Some(Grace {
                until,
                baseline: None,
            }),
            ids(&[]),
            ids(&["d1", "d2", "d3", "d4", "d5"]),
        ),
        // The grace period is over.
        (
            Some(Grace {
                until: t0(),
                baseline: Some(old.clone()),
            }),
            ids(&["d1", "d2", "d3", "d4", "d5"]),
            ids(&[]),
        ),
    ];
    for (grace, want_deleted, want_held) in cases {
        for dry_run in [false, true] {
            let fake = Fake::new()
                .resources(D, Ok(vec![res(D, "r1")]))
                .snapshots(D, Ok(snaps.clone()));
            let o = EngineOptions {
                grace: grace.clone(),
                dry_run,
                ..opts()
            };
            let report = cycle(&new, &fake, &o).await;
            let what = format!("{grace:?} dry_run {dry_run}");
            let r = resource(&report, "p", "r1");
            let held: Vec<String> = r
                .snapshots
                .iter()
                .filter(|l| matches!(l.delete, Some(DeleteStatus::Held { until: Some(u), .. }) if u == until))
                .map(|l| l.id.clone())
                .collect();
            assert_eq!(sorted(held), want_held, "{what}");
            if dry_run {
                assert!(fake.deleted().is_empty(), "{what}");
                let would: Vec<String> = r
                    .snapshots
                    .iter()
                    .filter(|l| l.delete == Some(DeleteStatus::WouldDelete))
                    .map(|l| l.id.clone())
                    .collect();
                assert_eq!(sorted(would), want_deleted, "{what}");
            } else {
                assert_eq!(sorted(fake.deleted()), want_deleted, "{what}");
            }
        }
    }
}

// ------------------------------ rule 16: a full quota is not a dead end

#[tokio::test(start_paused = true)]
async fn a_full_quota_makes_room_with_every_floor_then_tries_once_more() {
    let quota = || Err(err(ErrorKind::Quota, Some(422), "create snapshot"));
    let snaps: Vec<Snapshot> = (1..=4)
        .map(|d| ours(D, &format!("d{d}"), "p", "r1", days_ago(d)))
        .collect();
    // (keep, skew, creates answered, want deleted, want creates, created)
    let cases = [
        // last 2: two go, the second try works, and once it is complete
        // retention keeps the new one and the newest old one.
        (
            last(2),
            None,
            vec![quota(), Ok(())],
            ids(&["d2", "d3", "d4"]),
            2,
            true,
        ),
        // Retention keeps all four: no room, no second try.
        (last(10), None, vec![quota()], ids(&[]), 1, false),
        // Clocks disagree: deletions are held, so no room and no retry.
        (
            last(2),
            Some(TimeDelta::hours(2)),
            vec![quota()],
            ids(&[]),
            1,
            false,
        ),
        // Still full after making room: reported, not retried again.
        (
            last(2),
            None,
            vec![quota(), quota()],
            ids(&["d3", "d4"]),
            2,
            false,
        ),
    ];
    for (keep, skew, answers, want_deleted, want_creates, created) in cases {
        let what = format!("{keep:?} skew {skew:?}");
        // With a skew the provider's times are on its clock (see rule 14).
        let snaps: Vec<Snapshot> = snaps
            .iter()
            .cloned()
            .map(|mut s| {
                let at = s.created + skew.unwrap_or_default();
                s = ours(D, &s.id, "p", "r1", at);
                s
            })
            .collect();
        let mut fake = Fake::new()
            .resources(D, Ok(vec![res(D, "r1")]))
            .snapshots(D, Ok(snaps))
            .creates("r1", answers);
        fake.skew = skew;
        let acct = account(
            ProviderKind::DigitalOcean,
            vec![policy("p", D, hours(6), keep)],
        );
        let report = cycle(&acct, &fake, &opts()).await;
        assert_eq!(sorted(fake.deleted()), want_deleted, "{what}");
        assert_eq!(fake.created().len(), want_creates, "{what}");
        let r = resource(&report, "p", "r1");
        assert_eq!(
            matches!(r.create, CreateStatus::Created { .. }),
            created,
            "{what}: {:?}",
            r.create
        );
        if !created {
            assert!(
                matches!(r.create, CreateStatus::Quota(_)),
                "{what}: {:?}",
                r.create
            );
            assert!(r.failed(), "{what}");
        }
        // The newest complete snapshot is never deleted to make room.
        assert!(!fake.deleted().contains(&"d1".to_string()), "{what}");
    }
}

// ------------------- issue 10 item 5: an accepted create is never "failed"

#[tokio::test(start_paused = true)]
async fn an_accepted_create_whose_answer_cannot_be_followed_is_unconfirmed_not_failed() {
    // A 2xx whose body could not be read (or carries no id to follow) means
    // the provider took the create: the snapshot is on its way. Reported as
    // unconfirmed (no prune this cycle, looked at again next cycle), never
    // as a failed create that a later cycle would simply repeat.
    let snaps = vec![
        ours(D, "d2", "p", "r1", days_ago(2)),
        ours(D, "d3", "p", "r1", days_ago(3)),
    ];
    let fake = Fake::new()
        .resources(D, Ok(vec![res(D, "r1")]))
        .snapshots(D, Ok(snaps))
        .creates(
            "r1",
            vec![Err(err(ErrorKind::Decode, Some(201), "create snapshot"))],
        );
    let acct = account(
        ProviderKind::DigitalOcean,
        vec![policy("p", D, hours(6), last(1))],
    );
    let report = cycle(&acct, &fake, &opts()).await;
    let r = resource(&report, "p", "r1");
    assert!(
        matches!(r.create, CreateStatus::Unconfirmed(_)),
        "{:?}",
        r.create
    );
    assert_eq!(fake.created().len(), 1, "created once, not again");
    assert!(
        fake.deleted().is_empty(),
        "no prune on an unconfirmed create"
    );
}

// ------------- issue 14 item 1: a policy that selects nothing is not silent

#[tokio::test(start_paused = true)]
async fn a_policy_that_selects_no_resource_warns_in_every_pass() {
    let fake = Fake::new()
        .resources(D, Ok(vec![res(D, "r1")]))
        .snapshots(D, Ok(Vec::new()));
    let p = policy("p", D, hours(6), last(2));
    let mut none = policy("none", D, hours(6), last(2));
    none.targets.include = Selector {
        names: vec!["nothing-*".into()],
        ..Selector::default()
    };
    let acct = account(ProviderKind::DigitalOcean, vec![p, none]);
    for _ in 0..2 {
        let report = cycle(&acct, &fake, &opts()).await;
        let said: Vec<&String> = report
            .warnings
            .iter()
            .filter(|w| w.contains("policy none selects no droplet"))
            .collect();
        assert_eq!(said.len(), 1, "{:?}", report.warnings);
        assert!(!report.warnings.iter().any(|w| w.contains("policy p ")));
        assert_eq!(report.failures(), 0, "a warning, not a failure");
    }
}

#[tokio::test(start_paused = true)]
async fn deletions_made_to_free_a_full_quota_count_against_the_per_run_cap() {
    let quota = || Err(err(ErrorKind::Quota, Some(422), "create snapshot"));
    let snaps: Vec<Snapshot> = (1..=4)
        .map(|d| ours(D, &format!("d{d}"), "p", "r1", days_ago(d)))
        .collect();
    // (cap, want deleted in the whole cycle)
    // With room in the cap, last: 1 keeps only the new one in the end.
    for (cap, want) in [(2, 2), (10, 4)] {
        let fake = Fake::new()
            .resources(D, Ok(vec![res(D, "r1")]))
            .snapshots(D, Ok(snaps.clone()))
            .creates("r1", vec![quota(), Ok(())]);
        let mut p = policy("p", D, hours(6), last(1));
        p.max_deletes_per_run = cap;
        let acct = account(ProviderKind::DigitalOcean, vec![p]);
        let report = cycle(&acct, &fake, &opts()).await;
        assert_eq!(fake.deleted().len(), want, "cap {cap}");
        let r = resource(&report, "p", "r1");
        assert!(
            matches!(r.create, CreateStatus::Created { .. }),
            "{:?}",
            r.create
        );
    }
}
