//! One account's cycle: list targets -> list managed snapshots -> decide
//! (policy) -> create -> wait -> prune, returning a report.
//!
//! Owns the order of operations and the safety rules that need provider state
//! (no prune after a failed, busy or unconfirmed create, or after an
//! incomplete listing; orphans kept unless the account opts in; protected
//! snapshots skipped). The same code serves `run` and, with `dry_run`, `plan`
//! and `prune --dry-run`, so a plan is exactly what a run would do.
//!
//! Must never: know a provider's API details (it sees only the `Provider`
//! trait), decide retention itself (that is `policy::decide`), delete a
//! snapshot without our marker, or read the wall clock except through `Clock`.

pub mod report;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::clock::Clock;
use crate::config::{Account, Policy, TargetKind};
use crate::policy::{self, Action, GroupKey, KeepRules, Marker, SnapState, SnapshotInfo, trust};
use crate::provider::{
    self, ErrorKind, InProgress, ListScope, Pending, Progress, Provider, Resource, Snapshot,
    SnapshotName, WaitOptions,
};

pub use report::{
    CreateStatus, CycleReport, DeleteStatus, OrphanGroup, OrphanReason, PruneStatus,
    ResourceReport, SnapshotLine,
};

/// Knobs for one cycle.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// When the account's loop started: a cron policy's first slot is the
    /// first one after this (unless `start: now`).
    pub started: DateTime<Utc>,
    /// Make no writes; report what would be done.
    pub dry_run: bool,
    /// Create no snapshots (used by `prune`).
    pub skip_create: bool,
    /// Resources worked on at once within the account.
    pub concurrency: usize,
    /// How often to try again when the resource is busy (DigitalOcean 422,
    /// Hetzner 423) before leaving it to the next cycle.
    pub busy_retries: u32,
    /// Pause between busy retries.
    pub busy_delay: Duration,
    /// Polling of pending snapshots.
    pub wait: WaitOptions,
    /// A reload's grace period, while one runs for this account.
    pub grace: Option<Grace>,
    /// High availability (issue 15): asked right before each create and
    /// delete; `Err` means this replica may no longer write for the account
    /// (ownership lost, or etcd lease not renewed), and the write is skipped.
    pub fence: Option<crate::ha::Fence>,
}

/// The grace period after a reload changed an account: deletions that the
/// config from before the change would not have made wait until `until`.
#[derive(Debug, Clone, PartialEq)]
pub struct Grace {
    /// When held deletions may happen.
    pub until: DateTime<Utc>,
    /// The account as it was before the change; `None` when the reload added
    /// the account (the file before deleted nothing of it).
    pub baseline: Option<Account>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            started: DateTime::<Utc>::MIN_UTC,
            dry_run: false,
            skip_create: false,
            concurrency: 4,
            busy_retries: 3,
            busy_delay: Duration::from_secs(30),
            wait: WaitOptions::default(),
            grace: None,
            fence: None,
        }
    }
}

/// The kinds an account of this provider can hold snapshots of.
fn provider_kinds(account: &Account) -> Vec<TargetKind> {
    [
        TargetKind::Droplet,
        TargetKind::Volume,
        TargetKind::Instance,
        TargetKind::Server,
    ]
    .into_iter()
    .filter(|k| k.provider() == account.provider)
    .collect()
}

/// What one listing pass found for one kind.
struct KindState {
    resources: Result<Vec<Resource>, provider::Error>,
    snapshots: Result<Vec<Snapshot>, provider::Error>,
}

/// One unit of work: one policy on one resource.
struct Work<'a> {
    policy: &'a Policy,
    resource: &'a Resource,
    group: Vec<&'a Snapshot>,
    /// Every listed snapshot of the account of the resource's kind (what
    /// `Provider::in_progress` reads).
    listed: &'a [Snapshot],
}

/// A (policy, resource id) pair: one resource's own clock.
pub type WorkKey = (String, String);

/// What a pass settled, and the snapshots it started.
#[derive(Debug)]
pub struct Pass {
    /// Every resource the pass settled (not due, pruned, failed, busy …),
    /// orphans, listing errors and warnings. Resources whose snapshot was
    /// started are not in it: their report comes when the snapshot is
    /// confirmed (see [`poll_follows`]).
    pub report: CycleReport,
    /// Snapshots started in this pass, to be followed.
    pub started: Vec<Follow>,
}

/// A snapshot the engine started and follows until it is complete, failed
/// or past its deadline; then the resource's own retention runs.
#[derive(Debug)]
pub struct Follow {
    key: WorkKey,
    account: String,
    policy: Policy,
    pending: Pending,
    marker: Marker,
    group: Vec<Snapshot>,
    infos: Vec<SnapshotInfo>,
    holds: Holds,
    rep: ResourceReport,
    /// The schedule's verdict once this snapshot exists.
    due_after: policy::DueState,
    span: tracing::Span,
    created_at: Instant,
    /// When this snapshot is looked at next: `scheduled`, moved later by
    /// what the account knows of its speed (see [`reschedule`]).
    next_poll: Instant,
    /// Its own look schedule: the first interval, then growing.
    scheduled: Instant,
    interval: Duration,
    deadline: Instant,
    polls: u32,
    /// From the create to the last look that saw it still running.
    running_after: Option<Duration>,
    last_said: Duration,
    /// Deletions already made for this resource in this cycle (making room
    /// at a full quota): the per-run cap counts them.
    cap_used: u32,
}

impl Follow {
    /// The (policy, resource id) this snapshot belongs to.
    pub fn key(&self) -> &WorkKey {
        &self.key
    }

    /// When this snapshot is looked at next.
    pub fn next_poll(&self) -> Instant {
        self.next_poll
    }
}

/// How long snapshots of this account take, learned from the ones it
/// followed: the first look at a new snapshot happens when it is expected
/// to be done, not right after the create.
///
/// Only a snapshot seen running and then done tells its duration; one
/// done at its first look says only that it took no longer than that (the
/// look may have come long after its end, for example after a long pass):
/// it lowers an estimate a little, or, before there is one, an upper bound.
#[derive(Debug, Clone, Default)]
pub struct Speed {
    /// Seconds per (GB + [`FIXED_GB`]) of disk, smoothed.
    secs_per_gb: Option<f64>,
    /// No snapshot took longer than this, seconds per (GB + [`FIXED_GB`]).
    at_most: Option<f64>,
    /// When a snapshot done at its first look last lowered the estimate.
    lowered: Option<Instant>,
}

/// A snapshot's fixed cost, in GB of disk: even an empty disk takes a while.
const FIXED_GB: f64 = 10.0;

/// What one finished snapshot showed of the account's speed.
#[derive(Debug, Clone, Copy)]
pub struct Observed {
    /// Its disk, GB.
    pub disk_gb: u64,
    /// From its create to the look that saw it done.
    pub done_after: Duration,
    /// From its create to the last look that saw it still running.
    pub running_after: Option<Duration>,
    /// When the look that saw it done was.
    pub seen: Instant,
}

impl Speed {
    /// Whether the account has an estimate.
    pub fn known(&self) -> bool {
        self.secs_per_gb.is_some()
    }

    /// When a snapshot of `disk_gb` is expected to be done, when known.
    pub fn expected(&self, disk_gb: u64) -> Option<Duration> {
        Self::scaled(self.secs_per_gb?, disk_gb)
    }

    /// When a snapshot of `disk_gb` should be done at the latest, from the
    /// slowest of the ones seen done at their first look.
    pub fn at_most(&self, disk_gb: u64) -> Option<Duration> {
        Self::scaled(self.at_most?, disk_gb)
    }

    fn scaled(secs_per_gb: f64, disk_gb: u64) -> Option<Duration> {
        Duration::try_from_secs_f64(secs_per_gb * (disk_gb as f64 + FIXED_GB)).ok()
    }

    /// One snapshot was seen done.
    pub fn observe(&mut self, o: Observed) {
        let per = |d: Duration| d.as_secs_f64() / (o.disk_gb as f64 + FIXED_GB);
        let done = per(o.done_after);
        let sample = match (o.running_after, self.secs_per_gb) {
            // Running at one look, done at the next: the later end (a
            // little late at the next first look costs nothing; a little
            // early costs a look).
            (Some(_), _) => done,
            // Done at the first look, which came at the expected end or
            // later: the estimate is not too low, and may be too high. It
            // comes down 10 %, but once per snapshot duration at the most
            // (the snapshots of one burst all say the same; a thousand of
            // them must not lower it a thousand times).
            (None, Some(old)) => {
                let due = self
                    .lowered
                    .is_none_or(|at| o.seen.saturating_duration_since(at) >= o.done_after);
                if due {
                    self.lowered = Some(o.seen);
                    self.secs_per_gb = Some(0.9 * old);
                }
                return;
            }
            // Done at the first look, nothing known: an upper bound only.
            (None, None) => {
                self.at_most = Some(self.at_most.map_or(done, |m| m.min(done)));
                return;
            }
        };
        self.secs_per_gb = Some(match self.secs_per_gb {
            None => sample,
            Some(old) => 0.5 * old + 0.5 * sample,
        });
    }
}

/// Run one cycle for `account` to its end: a pass, with every snapshot it
/// starts followed from its start (while the pass goes on) until it is
/// settled and its resource pruned. `run --once`, `plan` and `prune` use
/// this; the daemon runs [`pass_following`] and [`poll_follows`] itself, so
/// one stuck snapshot delays nothing else. Never panics on provider
/// trouble: every failure lands in the report.
pub async fn run_cycle(
    account: &Account,
    provider: &dyn Provider,
    clock: &Clock,
    opts: &EngineOptions,
    cancel: &CancellationToken,
) -> CycleReport {
    let mut follows = Vec::new();
    let mut speed = Speed::default();
    let During {
        mut report,
        settled,
        ..
    } = pass_following(
        account,
        provider,
        clock,
        opts,
        cancel,
        &mut follows,
        &mut speed,
    )
    .await;
    report.resources.extend(settled);
    while !follows.is_empty() {
        let next = follows.iter().map(Follow::next_poll).min();
        if let Some(next) = next {
            tokio::select! {
                () = tokio::time::sleep_until(next) => {}
                () = cancel.cancelled() => {}
            }
        }
        let done = poll_follows(provider, &mut follows, opts, cancel, &mut speed).await;
        report.resources.extend(done);
    }
    report
        .resources
        .sort_by(|a, b| (&a.policy, &a.resource_id).cmp(&(&b.policy, &b.resource_id)));
    report.finished = Some(clock.now());
    report
}

/// What [`pass_following`] did.
#[derive(Debug)]
pub struct During {
    /// The pass's report (see [`Pass::report`]).
    pub report: CycleReport,
    /// The (policy, resource) of every snapshot the pass started.
    pub started: Vec<WorkKey>,
    /// Followed snapshots (started before or during the pass) settled
    /// while the pass went on.
    pub settled: Vec<ResourceReport>,
}

/// A pass (see [`pass`]) over the resources not in `follows`, while the
/// snapshots in `follows`, and each one the pass starts as soon as it is
/// started, are looked at on their schedule: a long pass (a thousand
/// creates at a provider's rate limit take minutes) delays no look, and
/// the account's speed is learned from the first snapshots while the later
/// ones are still being created. What is still running stays in `follows`.
pub async fn pass_following(
    account: &Account,
    provider: &dyn Provider,
    clock: &Clock,
    opts: &EngineOptions,
    cancel: &CancellationToken,
    follows: &mut Vec<Follow>,
    speed: &mut Speed,
) -> During {
    let following: BTreeSet<WorkKey> = follows.iter().map(|f| f.key.clone()).collect();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let the_pass = pass_sending(account, provider, clock, opts, cancel, &following, Some(tx));
    let follow = async {
        let mut started = Vec::new();
        let mut settled = Vec::new();
        let mut open = true;
        // Until the pass ends (what still runs then stays in `follows`).
        while open {
            while let Ok(f) = rx.try_recv() {
                started.push(f.key.clone());
                follows.push(f);
            }
            reschedule(follows, speed);
            let next = follows.iter().map(Follow::next_poll).min();
            // The next look or the next start, whichever comes first.
            tokio::select! {
                f = rx.recv() => match f {
                    Some(f) => {
                        started.push(f.key.clone());
                        follows.push(f);
                    }
                    None => open = false,
                },
                () = sleep_until_or_never(next) => {}
            }
            if cancel.is_cancelled() || next.is_some_and(|n| n <= Instant::now()) {
                settled.extend(poll_follows(provider, follows, opts, cancel, speed).await);
            }
        }
        (started, settled)
    };
    let (pass, (mut started, settled)) = tokio::join!(the_pass, follow);
    // (Only if the follower had gone: the pass kept them.)
    for f in pass.started {
        started.push(f.key.clone());
        follows.push(f);
    }
    During {
        report: pass.report,
        started,
        settled,
    }
}

/// Sleep until `at`; without one, for ever.
async fn sleep_until_or_never(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// One pass over `account`: the listings, then for each policy on each
/// resource not in `following`: a create when due (and nothing runs on the
/// resource), else its retention. Creates are started, not waited for: the
/// started snapshots come back in [`Pass::started`].
pub async fn pass(
    account: &Account,
    provider: &dyn Provider,
    clock: &Clock,
    opts: &EngineOptions,
    cancel: &CancellationToken,
    following: &BTreeSet<WorkKey>,
) -> Pass {
    pass_sending(account, provider, clock, opts, cancel, following, None).await
}

/// [`pass`], handing each started snapshot to `started` as soon as it is
/// started when given (then [`Pass::started`] is empty).
async fn pass_sending(
    account: &Account,
    provider: &dyn Provider,
    clock: &Clock,
    opts: &EngineOptions,
    cancel: &CancellationToken,
    following: &BTreeSet<WorkKey>,
    started_to: Option<tokio::sync::mpsc::UnboundedSender<Follow>>,
) -> Pass {
    let mut report = CycleReport::new(&account.name, clock.now(), opts.dry_run);

    // 1. Listings, once per kind: resources and this account's managed snapshots.
    let mut kinds: BTreeMap<TargetKind, KindState> = BTreeMap::new();
    for kind in provider_kinds(account) {
        let needed = account.policies.iter().any(|p| p.targets.kind == kind);
        let resources = if needed {
            provider.list_resources(kind).await
        } else {
            Ok(Vec::new())
        };
        let snapshots = provider
            .list_snapshots(
                kind,
                ListScope::Managed {
                    account: &account.name,
                },
            )
            .await;
        for (what, err) in [
            ("resources", resources.as_ref().err()),
            ("snapshots", snapshots.as_ref().err()),
        ] {
            if let Some(e) = err {
                if needed {
                    error!(kind = %kind, error = %e, "listing failed: no snapshot or prune for {what} of this kind this cycle");
                    report.errors.push(format!("list {kind} {what}: {e}"));
                } else {
                    // No policy targets this kind: the listing only feeds the
                    // orphan report, which is incomplete, not the cycle failed
                    // (a token may well lack the scope for this kind).
                    warn!(kind = %kind, error = %e, "cannot list {what} of this kind: orphans of it are not reported this cycle");
                }
            }
        }
        kinds.insert(
            kind,
            KindState {
                resources,
                snapshots,
            },
        );
    }

    // The listings carried the provider's `Date`: when the host clock
    // disagrees with it, nothing is deleted in this account, and the cycle
    // runs on the provider's clock (the clock of every creation time that
    // retention reads), so markers written now agree with the provider's.
    let mut now = clock.now();
    let mut holds = Holds::default();
    if let Some(skew) = provider.clock_skew()
        && trust::skew_too_large(skew)
    {
        let why = format!(
            "host clock and provider clock disagree by {}: no deletions in this account until they agree",
            signed_duration(skew)
        );
        warn!(skew_s = skew.num_seconds(), "{why}");
        report.warnings.push(why.clone());
        now += skew;
        holds.clock = Some(why);
    }
    if let Some(g) = opts.grace.as_ref().filter(|g| now < g.until) {
        holds.grace_until = Some(g.until);
        holds.baseline_deletes = Some(baseline_deletes(g.baseline.as_ref(), &kinds, now));
    }

    // 2. Units of work: each policy on each resource it targets.
    let mut works = Vec::new();
    let mut targeted: BTreeSet<(String, String)> = BTreeSet::new();
    for policy in &account.policies {
        let Some(state) = kinds.get(&policy.targets.kind) else {
            continue;
        };
        let (Ok(resources), Ok(snapshots)) = (&state.resources, &state.snapshots) else {
            report.skipped_policies.push(policy.name.clone());
            continue;
        };
        let selected: Vec<&Resource> = resources
            .iter()
            .filter(|r| policy.targets.matches(r.facts()))
            .collect();
        if selected.is_empty() {
            // Not an error (resources come and go), but never silent.
            let why = format!(
                "policy {} selects no {} of this account: nothing to snapshot",
                policy.name, policy.targets.kind
            );
            warn!(policy = %policy.name, "{why}");
            report.warnings.push(why);
        }
        for resource in selected {
            let key = (policy.name.clone(), resource.id.clone());
            targeted.insert(key.clone());
            // Its snapshot is being followed: retention runs when that is
            // confirmed, not now.
            if following.contains(&key) {
                continue;
            }
            let owner = group_key(account, &policy.name, &resource.id);
            let group = snapshots
                .iter()
                .filter(|s| s.marker.as_ref().is_some_and(|m| owner.owns(m)))
                .collect();
            works.push(Work {
                policy,
                resource,
                group,
                listed: snapshots,
            });
        }
    }

    // 3. Do the work, a few requests at a time. Nothing here waits for a
    // snapshot: a started one is followed after the pass.
    // The futures are built eagerly (not in a lazy `map`), which keeps the
    // stream's type free of higher-ranked lifetimes so the pass stays `Send`.
    let futures: Vec<_> = works
        .into_iter()
        .map(|w| {
            let span = info_span!("resource", policy = %w.policy.name, resource = %w.resource.id, name = %w.resource.name);
            work_on(account, provider, now, opts, cancel, &holds, w, span.clone()).instrument(span)
        })
        .collect();
    let mut results = futures_util::stream::iter(futures).buffer_unordered(opts.concurrency.max(1));
    let mut started = Vec::new();
    while let Some(r) = results.next().await {
        match r {
            Worked::Settled(rep) => report.resources.push(*rep),
            Worked::Started(f) => match &started_to {
                // A follower that is gone takes nothing more: keep it here.
                Some(tx) => {
                    if let Err(back) = tx.send(*f) {
                        started.push(back.0);
                    }
                }
                None => started.push(*f),
            },
        }
    }
    drop(results);
    drop(started_to);
    report
        .resources
        .sort_by(|a, b| (&a.policy, &a.resource_id).cmp(&(&b.policy, &b.resource_id)));

    // 4. Orphans: our snapshots that no current (policy, resource) pair claims.
    report.orphans = orphans(account, &kinds, &targeted);
    for o in &report.orphans {
        for s in &o.snapshots {
            if let Some(why) = suspect_of(s, now) {
                warn!(policy = %o.policy, resource = %o.resource_id, snapshot = %s.id, reason = %why, "snapshot time cannot be trusted: kept");
            }
        }
    }
    if account.prune_orphans && !cancel.is_cancelled() {
        prune_orphans(account, provider, now, opts, cancel, &holds, &mut report).await;
    } else {
        for o in &report.orphans {
            info!(
                policy = %o.policy,
                resource = %o.resource_id,
                reason = %o.reason,
                count = o.snapshots.len(),
                "orphaned snapshots kept (set prune_orphans: true to let retention remove them)"
            );
        }
    }
    report.finished = Some(clock.now());
    Pass { report, started }
}

/// What working on one resource came to.
enum Worked {
    /// Done for this pass.
    Settled(Box<ResourceReport>),
    /// A snapshot was started: follow it.
    Started(Box<Follow>),
}

/// When the schedule next wants a snapshot of this resource: from the newest
/// managed snapshot that is complete or being taken (its marker time when
/// its times agree, which is the same for every resource of one pass, so
/// resources snapshotted together stay together whatever the provider's
/// pace), never a suspect one.
fn newest_managed(
    account: &Account,
    policy: &Policy,
    infos: &[SnapshotInfo],
    in_progress: &[InProgress],
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    infos
        .iter()
        .filter(|i| i.state != SnapState::Failed && i.suspect.is_none())
        .map(|i| {
            i.marker
                .as_ref()
                .map_or(i.created, |m| m.created.min(i.created))
        })
        .chain(in_progress.iter().filter_map(|p| {
            p.marker
                .as_ref()
                .filter(|m| m.account == account.name && m.policy == policy.name)
                .filter(|m| trust::suspect(Some(m.created), p.since, now).is_none())
                .map(|m| p.since.map_or(m.created, |s| s.min(m.created)))
        }))
        .max()
}

#[allow(clippy::too_many_arguments)]
async fn work_on(
    account: &Account,
    provider: &dyn Provider,
    now: DateTime<Utc>,
    opts: &EngineOptions,
    cancel: &CancellationToken,
    holds: &Holds,
    w: Work<'_>,
    span: tracing::Span,
) -> Worked {
    let policy = w.policy;
    let resource = w.resource;
    let mut rep = ResourceReport::new(policy, resource);
    let settled = |rep: ResourceReport| Worked::Settled(Box::new(rep));
    if cancel.is_cancelled() {
        rep.create = CreateStatus::Stopped;
        rep.prune = PruneStatus::Skipped("stopping".to_string());
        return settled(rep);
    }

    // Retention and the schedule work with the provider's creation times; a
    // snapshot whose times cannot be trusted is kept and moves neither.
    let mut infos: Vec<SnapshotInfo> = w.group.iter().map(|s| info_of(s, now)).collect();
    for i in &infos {
        if let Some(why) = &i.suspect {
            warn!(snapshot = %i.id, reason = %why, "snapshot time cannot be trusted: kept, and never the newest or the retention anchor");
        }
    }
    let schedule_at =
        |newest| policy::evaluate(&policy.schedule, policy.timezone, newest, opts.started, now);
    rep.due = Some(schedule_at(newest_managed(
        account,
        policy,
        &infos,
        &[],
        now,
    )));
    let due = rep.due.as_ref().is_some_and(|d| d.due) && !opts.skip_create;

    // What is running on the resource now? Asked only when a snapshot is
    // due, and as cheaply as the provider allows (see the trait): this is
    // how a restart mid-snapshot avoids a duplicate.
    let in_progress = if due {
        match provider.in_progress(resource, w.listed).await {
            Ok(v) => v,
            Err(e) => {
                error!(error = %e, "cannot tell what is running on the resource");
                rep.errors.push(e.to_string());
                rep.create = CreateStatus::Error(e.to_string());
                rep.prune = PruneStatus::Skipped("could not check for running snapshots".into());
                return settled(rep);
            }
        }
    } else {
        Vec::new()
    };
    if !in_progress.is_empty() {
        rep.due = Some(schedule_at(newest_managed(
            account,
            policy,
            &infos,
            &in_progress,
            now,
        )));
    }
    let due = due && rep.due.as_ref().is_some_and(|d| d.due);

    let mut new_snapshot: Option<SnapshotInfo> = None;
    if !due {
        rep.create = CreateStatus::NotDue;
    } else if let Some(p) = in_progress.first() {
        info!(what = %p.what, "snapshot due, but one is already in progress: not starting another");
        rep.create = CreateStatus::InProgress(p.what.clone());
    } else {
        let marker = match Marker::new(&account.name, &policy.name, &resource.id, now) {
            Ok(m) => m,
            Err(e) => {
                error!(error = %e, "cannot mark a snapshot of this resource");
                rep.create = CreateStatus::Error(e.to_string());
                rep.prune = PruneStatus::Skipped("no snapshot taken".into());
                return settled(rep);
            }
        };
        if opts.dry_run {
            rep.create = CreateStatus::WouldCreate(marker.encode());
            new_snapshot = Some(SnapshotInfo {
                id: "(new)".to_string(),
                created: marker.created,
                state: SnapState::Complete,
                marker: Some(marker),
                suspect: None,
            });
        } else {
            let key = group_key(account, &policy.name, &resource.id);
            let mut started = start_create(provider, resource, policy, &marker, opts, cancel).await;
            let (mut kept, mut used): (Option<BTreeSet<String>>, u32) = (None, 0);
            if let Err(CreateStatus::Quota(why)) = &started {
                // A full quota is not a dead end: retention (every floor
                // holds) may make room, then one more try. Retention has
                // then run for this resource this pass.
                warn!(reason = %why, "at the provider's snapshot limit: running retention to make room, then trying once more");
                let rules = GroupRules::of(policy);
                prune_group(
                    provider, &key, &rules, &w.group, &infos, opts, cancel, holds, &mut rep,
                )
                .await;
                started = match rep.prune {
                    PruneStatus::Done { deleted } if deleted > 0 => {
                        start_create(provider, resource, policy, &marker, opts, cancel).await
                    }
                    _ => {
                        let why = format!(
                            "{why}; retention freed no room (lower keep, or raise the provider's limit)"
                        );
                        error!(reason = %why, "snapshot not taken: at the provider's snapshot limit");
                        Err(CreateStatus::Quota(why))
                    }
                };
                // The group as it is now: what retention kept; the
                // deletions it made count against the per-run cap.
                let k: BTreeSet<String> = rep
                    .snapshots
                    .iter()
                    .filter(|l| l.delete != Some(DeleteStatus::Deleted))
                    .map(|l| l.id.clone())
                    .collect();
                infos.retain(|i| k.contains(&i.id));
                used = match rep.prune {
                    PruneStatus::Done { deleted } => u32::try_from(deleted).unwrap_or(u32::MAX),
                    PruneStatus::Skipped(_) => 0,
                };
                kept = Some(k);
            }
            match started {
                Ok(pending) => {
                    rep.snapshots.clear();
                    let group = w
                        .group
                        .iter()
                        .filter(|s| kept.as_ref().is_none_or(|k| k.contains(&s.id)))
                        .map(|s| (*s).clone())
                        .collect();
                    let mut worked = follow(
                        account,
                        policy,
                        resource,
                        pending,
                        marker,
                        group,
                        infos,
                        holds,
                        rep,
                        opts,
                        schedule_at,
                        span,
                    );
                    if let Worked::Started(f) = &mut worked {
                        f.cap_used = used;
                    }
                    return worked;
                }
                // Retention already ran for this resource (making room).
                Err(status) if kept.is_some() => {
                    rep.create = status;
                    return settled(rep);
                }
                Err(status) => rep.create = status,
            }
        }
    }

    // Never prune on a bad day.
    if let Some(why) = rep.create.blocks_prune() {
        warn!(reason = %why, "no prune for this resource this cycle");
        rep.prune = PruneStatus::Skipped(why);
        rep.snapshots = w
            .group
            .iter()
            .map(|s| SnapshotLine::kept_unjudged(s))
            .collect();
        return settled(rep);
    }
    if cancel.is_cancelled() {
        rep.prune = PruneStatus::Skipped("stopping".to_string());
        return settled(rep);
    }

    infos.extend(new_snapshot);
    let key = group_key(account, &policy.name, &resource.id);
    let rules = GroupRules::of(policy);
    prune_group(
        provider, &key, &rules, &w.group, &infos, opts, cancel, holds, &mut rep,
    )
    .await;
    settled(rep)
}

/// A started snapshot, ready to be followed: the first look when it is
/// expected to be done (at once for a create that answered complete).
#[allow(clippy::too_many_arguments)]
fn follow(
    account: &Account,
    policy: &Policy,
    resource: &Resource,
    pending: Pending,
    marker: Marker,
    group: Vec<Snapshot>,
    infos: Vec<SnapshotInfo>,
    holds: &Holds,
    mut rep: ResourceReport,
    opts: &EngineOptions,
    schedule_at: impl Fn(Option<DateTime<Utc>>) -> policy::DueState,
    span: tracing::Span,
) -> Worked {
    info!(
        action = pending.action_id.as_deref(),
        snapshot = pending.snapshot_id.as_deref(),
        disk_gb = pending.disk_gb,
        "waiting for snapshot"
    );
    let created_at = Instant::now();
    let first = if pending.ready {
        Duration::ZERO
    } else {
        opts.wait.first_interval
    };
    rep.create = CreateStatus::Unconfirmed("not confirmed yet".into());
    Worked::Started(Box::new(Follow {
        key: (policy.name.clone(), resource.id.clone()),
        account: account.name.clone(),
        policy: policy.clone(),
        deadline: created_at + opts.wait.deadline(pending.disk_gb),
        pending,
        due_after: schedule_at(Some(marker.created)),
        marker,
        group,
        infos,
        holds: holds.clone(),
        rep,
        span,
        created_at,
        next_poll: created_at + first,
        scheduled: created_at + first,
        interval: opts.wait.first_interval,
        polls: 0,
        running_after: None,
        last_said: Duration::ZERO,
        cap_used: 0,
    }))
}

/// Start a snapshot (busy: a few more tries after a pause). `Err` carries
/// the create's final status when none was started.
async fn start_create(
    provider: &dyn Provider,
    resource: &Resource,
    policy: &Policy,
    marker: &Marker,
    opts: &EngineOptions,
    cancel: &CancellationToken,
) -> Result<Pending, CreateStatus> {
    let name = SnapshotName::Managed(marker.clone());
    let mut attempt = 0;
    loop {
        // A stop that arrived while we looked at the resource (or slept on a
        // busy answer) means no new create: the next run decides afresh.
        if cancel.is_cancelled() {
            return Err(CreateStatus::Stopped);
        }
        // ha (issue 15): ownership is checked right before the write.
        if let Some(Err(why)) = opts.fence.as_ref().map(crate::ha::Fence::check) {
            warn!(why = %why, "ownership lost: snapshot not created");
            return Err(CreateStatus::Stopped);
        }
        // The span names the account, policy and resource; the marker adds
        // only its time.
        info!(at = %marker.created.format("%Y-%m-%dT%H:%M:%SZ"), "creating snapshot");
        match provider
            .create_snapshot(resource, &name, &policy.snapshot_tags)
            .await
        {
            Ok(p) => return Ok(p),
            Err(e) if e.kind == ErrorKind::Busy && attempt < opts.busy_retries => {
                attempt += 1;
                info!(attempt, error = %e, "resource busy, will try again later in this cycle");
                tokio::select! {
                    () = tokio::time::sleep(opts.busy_delay) => {}
                    () = cancel.cancelled() => return Err(CreateStatus::Stopped),
                }
            }
            Err(e) if e.kind == ErrorKind::Busy => {
                warn!(error = %e, "resource still busy, leaving it to the next cycle");
                return Err(CreateStatus::Busy(e.to_string()));
            }
            Err(e) if e.kind == ErrorKind::Quota => {
                warn!(error = %e, "snapshot create refused: at the provider's snapshot limit");
                return Err(CreateStatus::Quota(e.to_string()));
            }
            // An answer that cannot be read comes only with a 2xx: the
            // provider took the create and the snapshot is on its way. Not
            // a failure that the next cycle would repeat: unconfirmed, and
            // the next cycle sees it in the listing (or the resource busy).
            Err(e) if e.kind == ErrorKind::Decode => {
                warn!(error = %e, "the provider accepted the create but its answer cannot be followed; it will be looked at again next cycle, not retried");
                return Err(CreateStatus::Unconfirmed(format!(
                    "accepted, answer unreadable: {e}"
                )));
            }
            Err(e) => {
                error!(error = %e, "snapshot create failed");
                return Err(CreateStatus::Error(e.to_string()));
            }
        }
    }
}

/// Look at every followed snapshot whose time has come (all of them once
/// `cancel` fired), a few at a time; each one settled leaves `follows` and
/// comes back as its resource's report, its retention done when it is
/// complete. The ones still running get their next look: at the expected
/// end from `speed`, then at growing intervals, never past the deadline.
pub async fn poll_follows(
    provider: &dyn Provider,
    follows: &mut Vec<Follow>,
    opts: &EngineOptions,
    cancel: &CancellationToken,
    speed: &mut Speed,
) -> Vec<ResourceReport> {
    // Snapshots started since the last call get their first look at the
    // expected end, not after the first poll interval.
    reschedule(follows, speed);
    let now = Instant::now();
    let stopping = cancel.is_cancelled();
    let (ready, waiting): (Vec<Follow>, Vec<Follow>) = std::mem::take(follows)
        .into_iter()
        .partition(|f| stopping || f.next_poll <= now);
    *follows = waiting;
    let futures: Vec<_> = ready
        .into_iter()
        .map(|f| {
            let span = f.span.clone();
            step(provider, Box::new(f), opts, cancel).instrument(span)
        })
        .collect();
    let steps: Vec<Step> = futures_util::stream::iter(futures)
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    let mut done = Vec::new();
    for s in steps {
        match s {
            Step::Waiting(f) => follows.push(*f),
            Step::Settled {
                report,
                observed: Some(o),
            } => {
                speed.observe(o);
                done.push(*report);
            }
            Step::Settled { report, .. } => done.push(*report),
        }
    }
    // What one snapshot taught about the account's speed moves the next
    // look of the others to when they are expected to be done.
    reschedule(follows, speed);
    done
}

/// No look before a snapshot is expected to be done (from what the account
/// learned), never past its deadline; a snapshot already late keeps its
/// schedule.
///
/// Before the account has seen any snapshot finish, its speed is unknown:
/// one snapshot, the probe (one already looked at, else the smallest disk,
/// then the oldest), is looked
/// at on its own schedule, and the others wait until the probe's end
/// teaches the speed, but never longer than an eighth of their deadline (a
/// stuck probe delays their first look, it never leaves them unlooked at)
/// nor past the time by which the slowest snapshot seen done was done.
fn reschedule(follows: &mut [Follow], speed: &Speed) {
    let probe = if speed.known() {
        None
    } else {
        follows
            .iter()
            .filter(|f| !f.pending.ready)
            .min_by(|a, b| {
                (a.polls == 0, a.pending.disk_gb, a.created_at, &a.key).cmp(&(
                    b.polls == 0,
                    b.pending.disk_gb,
                    b.created_at,
                    &b.key,
                ))
            })
            .map(|f| f.key.clone())
    };
    for f in follows.iter_mut() {
        let mut at = f.scheduled;
        if !f.pending.ready {
            if let Some(expected) = speed.expected(f.pending.disk_gb) {
                at = at.max(f.created_at + expected);
            } else if probe.as_ref().is_some_and(|p| *p != f.key) {
                let mut wait = (f.deadline - f.created_at) / 8;
                if let Some(latest) = speed.at_most(f.pending.disk_gb) {
                    wait = wait.min(latest);
                }
                at = at.max(f.created_at + wait);
            }
        }
        f.next_poll = at.min(f.deadline);
    }
}

enum Step {
    Waiting(Box<Follow>),
    Settled {
        report: Box<ResourceReport>,
        /// (disk GB, time to done, looks) of a snapshot seen complete.
        observed: Option<Observed>,
    },
}

async fn step(
    provider: &dyn Provider,
    mut f: Box<Follow>,
    opts: &EngineOptions,
    cancel: &CancellationToken,
) -> Step {
    let unconfirmed = |mut f: Box<Follow>, why: String| {
        warn!(why = %why, "snapshot not confirmed; it will be looked at again next cycle, not retried");
        f.rep.create = CreateStatus::Unconfirmed(why.clone());
        let no_prune = format!("snapshot not confirmed: {why}");
        warn!(reason = %no_prune, "no prune for this resource this cycle");
        f.rep.prune = PruneStatus::Skipped(no_prune);
        f.rep.snapshots = f.group.iter().map(SnapshotLine::kept_unjudged).collect();
        Step::Settled {
            report: Box::new(f.rep),
            observed: None,
        }
    };
    if cancel.is_cancelled() {
        return unconfirmed(f, "stopped waiting at shutdown".into());
    }
    f.polls += 1;
    let result = tokio::select! {
        () = cancel.cancelled() => return unconfirmed(f, "stopped waiting at shutdown".into()),
        r = provider.poll(&f.pending) => r,
    };
    let now = Instant::now();
    let waited = now - f.created_at;
    match result {
        Ok(Progress::Done { snapshot_id }) => {
            info!(snapshot = %snapshot_id, waited_s = waited.as_secs(), polls = f.polls, "snapshot complete");
            let observed = (!f.pending.ready).then_some(Observed {
                disk_gb: f.pending.disk_gb,
                done_after: waited,
                running_after: f.running_after,
                seen: now,
            });
            f.rep.create = CreateStatus::Created {
                snapshot_id: snapshot_id.clone(),
            };
            f.rep.due = Some(f.due_after.clone());
            if cancel.is_cancelled() {
                f.rep.prune = PruneStatus::Skipped("stopping".to_string());
            } else {
                let mut infos = f.infos.clone();
                infos.push(SnapshotInfo {
                    id: snapshot_id,
                    created: f.marker.created,
                    state: SnapState::Complete,
                    marker: Some(f.marker.clone()),
                    suspect: None,
                });
                let key = GroupKey {
                    account: f.account.clone(),
                    policy: f.policy.name.clone(),
                    resource_id: f.pending.resource_id.clone(),
                };
                let group: Vec<&Snapshot> = f.group.iter().collect();
                let mut rep = f.rep.clone();
                let mut rules = GroupRules::of(&f.policy);
                rules.max_deletes = rules.max_deletes.saturating_sub(f.cap_used);
                if rules.max_deletes == 0 {
                    rep.prune = PruneStatus::Skipped(
                        "the per-run deletion cap was used making room for this snapshot".into(),
                    );
                    rep.snapshots = f.group.iter().map(SnapshotLine::kept_unjudged).collect();
                } else {
                    prune_group(
                        provider, &key, &rules, &group, &infos, opts, cancel, &f.holds, &mut rep,
                    )
                    .await;
                }
                f.rep = rep;
            }
            return Step::Settled {
                report: Box::new(f.rep),
                observed,
            };
        }
        Ok(Progress::Failed { reason }) => {
            error!(reason = %reason, "snapshot failed");
            f.rep.create = CreateStatus::Failed(reason.clone());
            let no_prune = format!("snapshot failed: {reason}");
            warn!(reason = %no_prune, "no prune for this resource this cycle");
            f.rep.prune = PruneStatus::Skipped(no_prune);
            f.rep.snapshots = f.group.iter().map(SnapshotLine::kept_unjudged).collect();
            return Step::Settled {
                report: Box::new(f.rep),
                observed: None,
            };
        }
        Ok(Progress::Running { percent }) => {
            f.running_after = Some(waited);
            // Long waits are normal (DigitalOcean ~2 min/GB, Vultr up to
            // ~30 min): say how it goes about once a minute.
            if waited >= f.last_said + Duration::from_secs(60) {
                f.last_said = waited;
                info!(
                    waited_s = waited.as_secs(),
                    percent = percent.map(u64::from),
                    "snapshot in progress"
                );
            }
        }
        Err(e) if e.is_retryable() => {
            warn!(error = %e, "snapshot poll failed, will look again");
        }
        Err(e) => return unconfirmed(f, format!("cannot poll: {e}")),
    }
    if now >= f.deadline {
        return unconfirmed(f, format!("still not finished after {}s", waited.as_secs()));
    }
    // The next look: the first interval after a look that came too early,
    // then growing.
    if f.polls > 1 {
        f.interval = opts.wait.next_interval(f.interval);
    }
    f.scheduled = (now + f.interval).min(f.deadline);
    f.next_poll = f.scheduled;
    Step::Waiting(f)
}

/// What retention needs of a snapshot: the provider's creation time (the
/// marker's time was written by a host clock that may have lied), and whether
/// its times can be trusted at `now`.
fn info_of(s: &Snapshot, now: DateTime<Utc>) -> SnapshotInfo {
    SnapshotInfo {
        id: s.id.clone(),
        created: s.created,
        state: s.state,
        marker: s.marker.clone(),
        suspect: suspect_of(s, now),
    }
}

fn suspect_of(s: &Snapshot, now: DateTime<Utc>) -> Option<policy::Suspect> {
    trust::suspect(s.marker.as_ref().map(|m| m.created), Some(s.created), now)
}

/// `+3h 0m` / `-400d`: a signed clock difference for the logs.
fn signed_duration(d: chrono::TimeDelta) -> String {
    let sign = if d < chrono::TimeDelta::zero() {
        "-"
    } else {
        "+"
    };
    let secs = d.num_seconds().unsigned_abs();
    format!(
        "{sign}{}",
        humantime::format_duration(Duration::from_secs(secs))
    )
}

/// Deletions that must wait this cycle.
#[derive(Debug, Default, Clone)]
struct Holds {
    /// The clocks disagree: nothing is deleted.
    clock: Option<String>,
    /// A reload's grace period runs until then.
    grace_until: Option<DateTime<Utc>>,
    /// During a grace period: what the config from before the reload would
    /// delete this cycle (those deletions go ahead).
    baseline_deletes: Option<BTreeSet<String>>,
}

impl Holds {
    /// Why the deletion of `id` must wait, if it must.
    fn hold(&self, id: &str) -> Option<DeleteStatus> {
        if let Some(why) = &self.clock {
            return Some(DeleteStatus::Held {
                until: None,
                why: why.clone(),
            });
        }
        match (&self.baseline_deletes, self.grace_until) {
            (Some(allowed), Some(until)) if !allowed.contains(id) => Some(DeleteStatus::Held {
                until: Some(until),
                why: format!(
                    "newly due after a config reload: held until {}",
                    until.format("%Y-%m-%dT%H:%M:%SZ")
                ),
            }),
            _ => None,
        }
    }
}

/// A group's retention settings.
struct GroupRules<'a> {
    keep: &'a KeepRules,
    max_deletes: u32,
    tz: chrono_tz::Tz,
}

impl<'a> GroupRules<'a> {
    fn of(policy: &'a Policy) -> Self {
        Self {
            keep: &policy.keep,
            max_deletes: policy.max_deletes_per_run,
            tz: policy.timezone,
        }
    }
}

fn group_key(account: &Account, policy: &str, resource_id: &str) -> GroupKey {
    GroupKey {
        account: account.name.clone(),
        policy: policy.to_string(),
        resource_id: resource_id.to_string(),
    }
}

/// Ids of the snapshots that `baseline` (the config before a reload) would
/// delete this cycle from these listings, policies and orphans alike. A
/// baseline of `None` (an account the reload added) deletes nothing.
fn baseline_deletes(
    baseline: Option<&Account>,
    kinds: &BTreeMap<TargetKind, KindState>,
    now: DateTime<Utc>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(account) = baseline else {
        return out;
    };
    let mut decide_group = |key: &GroupKey, rules: &GroupRules<'_>, snaps: &[&Snapshot]| {
        let infos: Vec<SnapshotInfo> = snaps.iter().map(|s| info_of(s, now)).collect();
        if let Ok(decisions) = policy::decide(key, rules.keep, rules.max_deletes, rules.tz, &infos)
        {
            out.extend(
                decisions
                    .into_iter()
                    .filter(|d| d.action == Action::Delete)
                    .map(|d| d.id),
            );
        }
    };
    let mut targeted = BTreeSet::new();
    for policy in &account.policies {
        let Some(KindState {
            resources: Ok(resources),
            snapshots: Ok(snapshots),
        }) = kinds.get(&policy.targets.kind)
        else {
            continue;
        };
        for resource in resources
            .iter()
            .filter(|r| policy.targets.matches(r.facts()))
        {
            targeted.insert((policy.name.clone(), resource.id.clone()));
            let key = group_key(account, &policy.name, &resource.id);
            let group: Vec<&Snapshot> = snapshots
                .iter()
                .filter(|s| s.marker.as_ref().is_some_and(|m| key.owns(m)))
                .collect();
            decide_group(&key, &GroupRules::of(policy), &group);
        }
    }
    if account.prune_orphans {
        for o in orphans(account, kinds, &targeted) {
            if !o.reason.prunable() {
                continue;
            }
            let (keep, cap, tz) = orphan_rules(account, &o.policy);
            let key = group_key(account, &o.policy, &o.resource_id);
            let group: Vec<&Snapshot> = o.snapshots.iter().collect();
            let rules = GroupRules {
                keep: &keep,
                max_deletes: cap,
                tz,
            };
            decide_group(&key, &rules, &group);
        }
    }
    out
}

/// Retention for an orphan group: its policy's, or for a retired policy the
/// newest complete snapshot only, with the default cap.
fn orphan_rules(account: &Account, policy: &str) -> (KeepRules, u32, chrono_tz::Tz) {
    match account.policies.iter().find(|p| p.name == policy) {
        Some(p) => (p.keep.clone(), p.max_deletes_per_run, p.timezone),
        None => (
            KeepRules {
                last: 1,
                min_keep: 1,
                ..KeepRules::default()
            },
            10,
            chrono_tz::UTC,
        ),
    }
}

#[allow(clippy::too_many_arguments)]
async fn prune_group(
    provider: &dyn Provider,
    key: &GroupKey,
    rules: &GroupRules<'_>,
    group: &[&Snapshot],
    infos: &[SnapshotInfo],
    opts: &EngineOptions,
    cancel: &CancellationToken,
    holds: &Holds,
    rep: &mut ResourceReport,
) {
    let decisions = match policy::decide(key, rules.keep, rules.max_deletes, rules.tz, infos) {
        Ok(d) => d,
        Err(e) => {
            error!(error = %e, "retention refused to decide");
            rep.errors.push(format!("retention: {e}"));
            rep.prune = PruneStatus::Skipped(e.to_string());
            return;
        }
    };
    let mut deleted = 0;
    for d in &decisions {
        let info = infos.iter().find(|i| i.id == d.id);
        let snapshot = group.iter().find(|s| s.id == d.id).copied();
        let mut line = SnapshotLine::from_decision(d, info, snapshot);
        if d.action == Action::Delete {
            // Belt and braces: retention only ever sees our own group, but a
            // snapshot without our marker is never deleted, whatever it says.
            match snapshot {
                Some(s) if s.marker.is_some() => {
                    if let Some(held) = holds.hold(&s.id) {
                        log_held(s, &held);
                        line.delete = Some(held);
                    } else if opts.dry_run {
                        line.delete = Some(DeleteStatus::WouldDelete);
                    } else if cancel.is_cancelled() {
                        line.delete = Some(DeleteStatus::NotAttempted("stopping".into()));
                    } else if s.protected {
                        info!(snapshot = %s.id, "snapshot is delete-protected at the provider: skipped");
                        line.delete = Some(DeleteStatus::Protected);
                    } else {
                        line.delete = Some(delete_one(provider, s, opts).await);
                        if line.delete == Some(DeleteStatus::Deleted) {
                            deleted += 1;
                        }
                    }
                }
                _ => {
                    line.delete = Some(DeleteStatus::NotAttempted(
                        "not a listed snapshot of ours".into(),
                    ));
                }
            }
        }
        rep.snapshots.push(line);
    }
    rep.prune = PruneStatus::Done { deleted };
}

fn log_held(s: &Snapshot, held: &DeleteStatus) {
    if let DeleteStatus::Held { until, why } = held {
        let until = until.map(|u| u.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        warn!(snapshot = %s.id, until = until.as_deref(), why = %why, "deletion held");
    }
}

async fn delete_one(provider: &dyn Provider, s: &Snapshot, opts: &EngineOptions) -> DeleteStatus {
    // ha (issue 15): ownership is checked right before the write.
    if let Some(Err(why)) = opts.fence.as_ref().map(crate::ha::Fence::check) {
        warn!(snapshot = %s.id, why = %why, "ownership lost: snapshot not deleted");
        return DeleteStatus::NotAttempted(format!("ownership lost: {why}"));
    }
    info!(snapshot = %s.id, created = %s.created.format("%Y-%m-%dT%H:%M:%SZ"), "deleting snapshot");
    match provider.delete_snapshot(s).await {
        Ok(()) => {
            info!(snapshot = %s.id, "deleted snapshot");
            DeleteStatus::Deleted
        }
        Err(e) if e.kind == ErrorKind::Protected => {
            info!(snapshot = %s.id, "snapshot is delete-protected at the provider: skipped");
            DeleteStatus::Protected
        }
        Err(e) if e.kind == ErrorKind::NotFound => {
            debug!(snapshot = %s.id, "snapshot already gone");
            DeleteStatus::Deleted
        }
        Err(e) => {
            error!(snapshot = %s.id, error = %e, "delete failed");
            DeleteStatus::Failed(e.to_string())
        }
    }
}

/// Managed snapshots of this account that no current (policy, resource) pair claims.
fn orphans(
    account: &Account,
    kinds: &BTreeMap<TargetKind, KindState>,
    targeted: &BTreeSet<(String, String)>,
) -> Vec<OrphanGroup> {
    let mut groups: BTreeMap<(String, String), OrphanGroup> = BTreeMap::new();
    for (kind, state) in kinds {
        let Ok(snapshots) = &state.snapshots else {
            continue;
        };
        for s in snapshots {
            let Some(m) = &s.marker else { continue };
            if m.account != account.name
                || targeted.contains(&(m.policy.clone(), m.resource_id.clone()))
            {
                continue;
            }
            let policy = account.policies.iter().find(|p| p.name == m.policy);
            // Resources are listed for every kind a policy targets, so a
            // policy of this kind implies the resource list is real.
            let reason = match policy {
                None if account.retired_policies.contains(&m.policy) => OrphanReason::PolicyRetired,
                None => OrphanReason::PolicyRemoved,
                Some(p) if p.targets.kind != *kind => OrphanReason::PolicyRemoved,
                Some(_) => match &state.resources {
                    Err(_) => continue,
                    Ok(rs) if rs.iter().any(|r| r.id == m.resource_id) => {
                        OrphanReason::NoLongerTargeted
                    }
                    Ok(_) => OrphanReason::ResourceGone,
                },
            };
            groups
                .entry((m.policy.clone(), m.resource_id.clone()))
                .or_insert_with(|| OrphanGroup {
                    policy: m.policy.clone(),
                    resource_id: m.resource_id.clone(),
                    kind: *kind,
                    reason,
                    snapshots: Vec::new(),
                    deleted: Vec::new(),
                    would_delete: Vec::new(),
                    protected: Vec::new(),
                    held: Vec::new(),
                    failed: Vec::new(),
                })
                .snapshots
                .push(s.clone());
        }
    }
    groups.into_values().collect()
}

/// Opt-in pruning of orphans: a group whose policy still exists follows that
/// policy's retention; a group whose policy is gone keeps only its newest
/// complete snapshot. Floors and the per-run cap apply as everywhere.
async fn prune_orphans(
    account: &Account,
    provider: &dyn Provider,
    now: DateTime<Utc>,
    opts: &EngineOptions,
    cancel: &CancellationToken,
    holds: &Holds,
    report: &mut CycleReport,
) {
    for o in &mut report.orphans {
        if !o.reason.prunable() {
            info!(
                policy = %o.policy,
                resource = %o.resource_id,
                reason = %o.reason,
                count = o.snapshots.len(),
                "orphaned snapshots kept"
            );
            continue;
        }
        let (keep, cap, tz) = orphan_rules(account, &o.policy);
        let key = group_key(account, &o.policy, &o.resource_id);
        let infos: Vec<SnapshotInfo> = o.snapshots.iter().map(|s| info_of(s, now)).collect();
        let decisions = match policy::decide(&key, &keep, cap, tz, &infos) {
            Ok(d) => d,
            Err(e) => {
                error!(policy = %o.policy, resource = %o.resource_id, error = %e, "retention refused to decide on orphans");
                o.failed
                    .push(format!("orphans of {} {}: {e}", o.policy, o.resource_id));
                continue;
            }
        };
        for d in decisions.iter().filter(|d| d.action == Action::Delete) {
            let Some(s) = o.snapshots.iter().find(|s| s.id == d.id) else {
                continue;
            };
            if s.marker.is_none() {
                continue;
            }
            if let Some(held) = holds.hold(&s.id) {
                log_held(s, &held);
                o.held.push(s.id.clone());
                continue;
            }
            if opts.dry_run {
                o.would_delete.push(s.id.clone());
                continue;
            }
            if cancel.is_cancelled() {
                continue;
            }
            if s.protected {
                info!(snapshot = %s.id, "orphaned snapshot is delete-protected at the provider: skipped");
                o.protected.push(s.id.clone());
                continue;
            }
            match delete_one(provider, s, opts).await {
                DeleteStatus::Deleted => o.deleted.push(s.id.clone()),
                DeleteStatus::Protected => o.protected.push(s.id.clone()),
                DeleteStatus::Failed(e) => o.failed.push(format!("snapshot {}: {e}", s.id)),
                DeleteStatus::WouldDelete
                | DeleteStatus::NotAttempted(_)
                | DeleteStatus::Held { .. } => {}
            }
        }
    }
}

#[cfg(test)]
mod tests;
