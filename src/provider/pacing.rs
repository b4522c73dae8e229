//! Client-side pacing under every provider client, kept in the provider's
//! own unit: client-side sliding windows for the limits a provider enforces
//! without announcing them (DigitalOcean's 250 per minute, Vultr's 30 per
//! second per IP), the budget a provider announces in its `RateLimit-*`
//! headers (DigitalOcean, Hetzner), the priority that lets creates and
//! deletes go before polls, and the process-wide registry that hands every
//! client of one rate-limit unit (a token, a project, a source IP) the same
//! [`Pacer`].
//!
//! The rules, in the order a request meets them:
//! - a poll waits while a create or delete is queued ([`Priority`]);
//! - every request takes a place in each window [`Limit`] (waits are not
//!   capped: the windows are the hard client-side limits);
//! - the announced budget: while the remaining count (the last answer's
//!   `RateLimit-Remaining`, less the requests sent after that one) is above a
//!   reserve of 5 % of the limit (at least 5), requests go at full speed; at
//!   or below it they are spread until the budget comes back (see
//!   [`Recovery`]); at 0 the next one waits for the reset. These waits are
//!   capped at `max_wait` per request. Before any header, the documented
//!   limit is assumed, whole.
//!
//! Owns the pacer's bookkeeping and who shares a pacer. Must never: send a
//! request, read the wall clock (epoch "now" is a parameter), keep or show a
//! token (the registry key holds a per-process keyed hash of it), or hold a
//! lock across an await. Pacers are per tokio runtime: tokio instants of two
//! runtimes (paused clocks in tests) are not comparable.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::paging::Scheme;
use super::retry::header_num;

/// Share of an announced limit kept in reserve (spent only spread out).
pub const RESERVE_SHARE: f64 = 0.05;
/// The reserve is never smaller than this many requests.
pub const RESERVE_MIN: f64 = 5.0;

/// The rate-limit state a response reports (DigitalOcean and Hetzner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateHeaders {
    /// `RateLimit-Limit`.
    pub limit: u64,
    /// `RateLimit-Remaining`.
    pub remaining: u64,
    /// `RateLimit-Reset`, Unix epoch seconds.
    pub reset: i64,
}

impl RateHeaders {
    /// Read the three headers; `None` unless all are present and numeric.
    pub fn parse(headers: &HeaderMap) -> Option<Self> {
        Some(Self {
            limit: header_num(headers, "ratelimit-limit")?,
            remaining: header_num(headers, "ratelimit-remaining")?,
            reset: header_num(headers, "ratelimit-reset")?,
        })
    }
}

/// A limit the provider enforces without announcing it, kept as a sliding
/// window (as DigitalOcean and the simulator count): at most `capacity`
/// requests in any `capacity ÷ per_second` seconds. The whole capacity may
/// go at once; each request's place comes back one window after it went,
/// or, in a window shorter than a second with up to 64 places (Vultr's),
/// after it was due, when the request went at most [`LATE`] after that (a
/// timer wakes a little after its deadline, and a window that short would
/// lose a measurable share of its rate to it). Any `t` seconds hold at most
/// [`Limit::worst`]`(t)` requests, which must stay under the provider's
/// limit, and the sustained rate is `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// Burst size.
    pub capacity: f64,
    /// Steady rate.
    pub per_second: f64,
}

/// The longest window a [`Limit`] keeps (an absurd limit's window is cut
/// to this, so instants plus it stay far from overflowing).
const LONGEST_WINDOW: Duration = Duration::from_secs(24 * 3600);

impl Limit {
    /// The most requests it lets go in any `secs` seconds:
    /// `⌊capacity⌋ × ⌈(secs + late) ÷ window⌉`, where `late` is how much
    /// earlier than it went a request may count ([`Limit::late`]).
    pub fn worst(self, secs: f64) -> f64 {
        let window = self.window().as_secs_f64();
        let late = self.late().as_secs_f64();
        // (A hair under a whole number of windows is that number.)
        self.places() as f64 * ((secs + late) / window - 1e-9).ceil().max(1.0)
    }

    /// This limit times `factor` (capacity at least 1).
    pub fn scaled(self, factor: f64) -> Self {
        Self {
            capacity: (self.capacity * factor).max(1.0),
            per_second: self.per_second * factor,
        }
    }

    /// Requests in a window (at least 1).
    fn places(self) -> u64 {
        (self.capacity.floor() as u64).max(1)
    }

    /// `capacity ÷ per_second`, at most [`LONGEST_WINDOW`].
    fn window(self) -> Duration {
        if self.per_second > 0.0 {
            Duration::try_from_secs_f64(self.capacity / self.per_second)
                .unwrap_or(LONGEST_WINDOW)
                .min(LONGEST_WINDOW)
        } else {
            LONGEST_WINDOW
        }
    }

    /// Whether each request's time is kept (else slots are counted).
    fn exact(self) -> bool {
        self.places() <= u64::from(SLOTS)
    }

    /// How much earlier than it went a request that went late for its
    /// place may count: [`LATE`] in an exact window shorter than a second,
    /// else nothing (a longer window loses nothing measurable to a late
    /// timer, and keeps its count exact as the requests went).
    pub fn late(self) -> Duration {
        if self.exact() && self.window() < Duration::from_secs(1) {
            LATE
        } else {
            Duration::ZERO
        }
    }
}

/// How a spent announced budget comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Recovery {
    /// Each request counts for a sliding window, and `RateLimit-Reset` is
    /// when the oldest counted one expires (DigitalOcean): at or below the
    /// reserve the remaining requests are spread until the reset, and at 0
    /// the next one waits for it.
    SlidingWindow,
    /// The remaining count refills evenly and `RateLimit-Reset` is when it is
    /// full again (Hetzner): at or below the reserve requests go at the
    /// refill rate (limit − remaining over the time to the reset), so the
    /// reserve stays; at 0 the next one waits for one request's refill.
    Refill,
}

/// A request budget the provider announces in `RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// The documented limit, assumed (whole) until the first header.
    pub limit: f64,
    /// The window the documented limit is counted over.
    pub window: Duration,
    /// How it comes back.
    pub recovery: Recovery,
}

impl Budget {
    /// This budget times `factor` (at least 1 request).
    pub fn scaled(self, factor: f64) -> Self {
        Self {
            limit: (self.limit * factor).max(1.0),
            ..self
        }
    }
}

/// The reserve of an announced limit: 5 % of it, at least 5 requests.
pub fn reserve(limit: f64) -> f64 {
    (limit * RESERVE_SHARE).max(RESERVE_MIN)
}

/// Who goes first when requests wait for the same pacer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Creates, deletes, tagging: never wait for anything but the limits.
    Write,
    /// Listings and other reads.
    Read,
    /// Following a pending snapshot: waits while any write is queued.
    Poll,
}

/// Which request of a pacer this is, in the order they were let go; the
/// answer's rate-limit headers are matched back to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

/// A [`Limit`]'s window. Up to [`SLOTS`] places, each request's time is
/// kept; above that, requests are counted in slots of a 64th of the window
/// (a slot's requests all count until one window after the slot's end, so
/// the count never undercounts), which keeps its memory small at any
/// capacity: the rate such a window allows is 64/65 of `per_second`.
///
/// A request that goes at most [`Limit::late`] after a place came back
/// counts from then: a late wake-up does not lower the rate, and any window
/// that much shorter than the limit's still holds at most the capacity.
#[derive(Debug)]
struct Bucket {
    /// At most this many in a window (at least 1).
    most: u64,
    window: Duration,
    /// Zero when each request's time is kept.
    slot: Duration,
    /// See [`Limit::late`].
    late: Duration,
    /// (slot start, requests in it), oldest first.
    slots: VecDeque<(Instant, u64)>,
    counted: u64,
    /// When the newest place that left the window came back.
    freed: Option<Instant>,
}

/// Slots per window, and the most places kept one by one.
const SLOTS: u32 = 64;

/// How late a request may go for a place and still count from when the
/// place came back, in the windows [`Limit::late`] names.
pub const LATE: Duration = Duration::from_millis(5);

impl Bucket {
    fn new(limit: Limit) -> Self {
        let window = limit.window();
        Self {
            most: limit.places(),
            window,
            slot: if limit.exact() {
                Duration::ZERO
            } else {
                window / SLOTS
            },
            late: limit.late(),
            slots: VecDeque::new(),
            counted: 0,
            freed: None,
        }
    }

    /// When the slot starting at `start` leaves the window.
    fn expiry(&self, start: Instant) -> Instant {
        start + self.slot + self.window
    }

    /// Forget the slots whose requests left the window.
    fn refill(&mut self, now: Instant) {
        while let Some(&(start, n)) = self.slots.front() {
            let back = self.expiry(start);
            if back > now {
                break;
            }
            self.slots.pop_front();
            self.counted -= n;
            self.freed = Some(back);
        }
    }

    fn wait_for_one(&self, now: Instant) -> Duration {
        match self.slots.front() {
            Some(&(start, _)) if self.counted >= self.most => {
                self.expiry(start).saturating_duration_since(now)
            }
            _ => Duration::ZERO,
        }
    }

    fn take(&mut self, now: Instant) {
        let at = match self.freed {
            // At most `late` after a place came back: count from then.
            Some(freed) if freed + self.late >= now => freed,
            _ => now,
        };
        // Never before the newest kept request: the order holds.
        let at = self.slots.back().map_or(at, |&(start, _)| at.max(start));
        match self.slots.back_mut() {
            Some((start, n)) if at < *start + self.slot => *n += 1,
            _ => self.slots.push_back((at, 1)),
        }
        self.counted += 1;
    }
}

/// What the pacer knows of an announced budget.
#[derive(Debug)]
struct BudgetState {
    recovery: Recovery,
    limit: f64,
    /// Estimate: the newest answer's remaining, less requests sent since.
    remaining: f64,
    /// Requests per second coming back ([`Recovery::Refill`] only).
    refill: f64,
    /// When the budget comes back (from the newest header); `None` after a
    /// sliding window's reset passed, until the next header.
    reset: Option<Instant>,
    /// When `remaining` was last brought up to date.
    stamp: Instant,
    /// The newest ticket whose headers were applied.
    applied: Ticket,
    /// When the last request went.
    last_sent: Option<Instant>,
}

impl BudgetState {
    fn new(budget: Budget, now: Instant) -> Self {
        let window = budget.window.as_secs_f64();
        Self {
            recovery: budget.recovery,
            limit: budget.limit,
            remaining: budget.limit,
            refill: if window > 0.0 {
                budget.limit / window
            } else {
                0.0
            },
            // Until a header says otherwise, a request sent now counts for a
            // whole window.
            reset: (budget.recovery == Recovery::SlidingWindow).then(|| now + budget.window),
            stamp: now,
            applied: Ticket(0),
            last_sent: None,
        }
    }

    /// Bring the estimate up to `now`.
    fn catch_up(&mut self, now: Instant) {
        match self.recovery {
            Recovery::Refill => {
                let secs = now.saturating_duration_since(self.stamp).as_secs_f64();
                self.remaining = (self.remaining + secs * self.refill).min(self.limit);
            }
            Recovery::SlidingWindow => {
                // At the reset at least the oldest request is back; the
                // answer to the next one says how many.
                if self.remaining < 1.0 && self.reset.is_some_and(|r| r <= now) {
                    self.remaining = 1.0;
                    self.reset = None;
                }
            }
        }
        self.stamp = now;
    }

    /// How long the next request must wait for the budget (uncapped;
    /// `Duration::MAX` when nothing says when it comes back).
    fn wait(&self, now: Instant) -> Duration {
        if self.remaining > reserve(self.limit) {
            return Duration::ZERO;
        }
        let until_reset = self.reset.map(|r| r.saturating_duration_since(now));
        if self.remaining >= 1.0 {
            let gap = match self.recovery {
                Recovery::SlidingWindow => {
                    until_reset.map_or(Duration::ZERO, |t| t.div_f64(self.remaining.floor() + 1.0))
                }
                Recovery::Refill if self.refill > 0.0 => Duration::from_secs_f64(1.0 / self.refill),
                Recovery::Refill => Duration::ZERO,
            };
            return self
                .last_sent
                .map_or(Duration::ZERO, |t| (t + gap).saturating_duration_since(now));
        }
        match self.recovery {
            Recovery::SlidingWindow => until_reset.unwrap_or(Duration::MAX),
            Recovery::Refill if self.refill > 0.0 => {
                Duration::from_secs_f64((1.0 - self.remaining) / self.refill)
            }
            Recovery::Refill => Duration::MAX,
        }
    }

    fn take(&mut self, now: Instant) {
        self.remaining = (self.remaining - 1.0).max(0.0);
        self.last_sent = Some(now);
    }

    /// Apply the headers of the answer to `ticket`, when no newer answer's
    /// were applied yet. `issued` is the newest ticket handed out: the
    /// requests after `ticket` may not have been counted in `rate` yet, so
    /// they are taken off.
    fn observe(
        &mut self,
        ticket: Ticket,
        issued: Ticket,
        rate: RateHeaders,
        now_epoch: i64,
        now: Instant,
    ) {
        if ticket <= self.applied {
            return;
        }
        self.applied = ticket;
        let in_flight = issued.0.saturating_sub(ticket.0) as f64;
        let until =
            Duration::from_secs(u64::try_from(rate.reset.saturating_sub(now_epoch)).unwrap_or(0));
        self.limit = (rate.limit as f64).max(1.0);
        self.remaining = (rate.remaining as f64 - in_flight).max(0.0);
        self.reset = Some(now + until);
        if self.recovery == Recovery::Refill && rate.limit > rate.remaining {
            let missing = (rate.limit - rate.remaining) as f64;
            self.refill = missing / until.as_secs_f64().max(1.0);
        }
        self.stamp = now;
    }
}

#[derive(Debug)]
struct PacerState {
    buckets: Vec<Bucket>,
    budget: Option<BudgetState>,
    /// Set by [`Pacer::hold`]: nothing goes before this.
    not_before: Option<Instant>,
    /// The newest ticket handed out.
    issued: Ticket,
    /// Writes inside `acquire` right now.
    writes_waiting: usize,
}

enum Step {
    Go(Ticket),
    Sleep(Duration),
    UntilWoken,
}

impl PacerState {
    fn step(&mut self, priority: Priority, now: Instant, budget_deadline: Instant) -> Step {
        if priority == Priority::Poll && self.writes_waiting > 0 {
            return Step::UntilWoken;
        }
        let mut wait = self
            .not_before
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or_default();
        for b in &mut self.buckets {
            b.refill(now);
            wait = wait.max(b.wait_for_one(now));
        }
        if let Some(budget) = &mut self.budget {
            budget.catch_up(now);
            let capped = budget
                .wait(now)
                .min(budget_deadline.saturating_duration_since(now));
            wait = wait.max(capped);
        }
        if !wait.is_zero() {
            return Step::Sleep(wait);
        }
        for b in &mut self.buckets {
            b.take(now);
        }
        if let Some(budget) = &mut self.budget {
            budget.take(now);
        }
        self.not_before = None;
        self.issued = Ticket(self.issued.0 + 1);
        Step::Go(self.issued)
    }
}

/// Pacing for one rate-limit unit (a token, a project, a source IP), shared
/// by every client of that unit (see [`Pacer::shared`]). Uses tokio's clock,
/// so paused-time tests work.
#[derive(Debug)]
pub struct Pacer {
    state: Mutex<PacerState>,
    /// Woken when a header changes the budget and when the write queue
    /// empties.
    wake: Notify,
    max_wait: Duration,
}

/// Counts a write as queued for as long as it is inside `acquire`, also
/// when the caller gives up on it (the future is dropped).
struct Queued<'a>(&'a Pacer);

impl<'a> Queued<'a> {
    fn new(pacer: &'a Pacer) -> Self {
        pacer.lock().writes_waiting += 1;
        Self(pacer)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        let empty = {
            let mut st = self.0.lock();
            st.writes_waiting = st.writes_waiting.saturating_sub(1);
            st.writes_waiting == 0
        };
        if empty {
            self.0.wake.notify_waiters();
        }
    }
}

impl Pacer {
    /// A pacer with full buckets and, when the provider announces one, a
    /// budget assumed whole until the first header. `max_wait` caps what the
    /// budget (and [`Pacer::hold`]) may make one request wait.
    pub fn new(limits: &[Limit], budget: Option<Budget>, max_wait: Duration) -> Self {
        let now = Instant::now();
        Self {
            state: Mutex::new(PacerState {
                buckets: limits.iter().map(|&limit| Bucket::new(limit)).collect(),
                budget: budget.map(|b| BudgetState::new(b, now)),
                not_before: None,
                issued: Ticket(0),
                writes_waiting: 0,
            }),
            wake: Notify::new(),
            max_wait,
        }
    }

    /// The process-wide pacer for one rate-limit unit: clients with the
    /// same provider, API origin (scheme, host, port), `token` (`None` when
    /// the provider counts per source IP, so every account shares),
    /// limits and `max_wait` get the same pacer, on the same tokio runtime.
    /// It lives as long as one of them holds it.
    pub fn shared(
        provider: Scheme,
        origin: &str,
        token: Option<&str>,
        limits: &[Limit],
        budget: Option<Budget>,
        max_wait: Duration,
    ) -> Arc<Self> {
        static PACERS: Registry<PacerKey, Pacer> = Registry::new();
        let key = PacerKey {
            runtime: runtime_id(),
            provider,
            origin: origin.to_string(),
            token: token.map(token_hash),
            limits: limits
                .iter()
                .map(|l| (l.capacity.to_bits(), l.per_second.to_bits()))
                .collect(),
            budget: budget.map(|b| (b.limit.to_bits(), b.window, b.recovery)),
            max_wait,
        };
        PACERS.get_or_make(key, || Self::new(limits, budget, max_wait))
    }

    fn lock(&self) -> MutexGuard<'_, PacerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wait until a request may go, and take its share of every limit.
    pub async fn acquire(&self, priority: Priority) -> Ticket {
        let _queued = (priority == Priority::Write).then(|| Queued::new(self));
        let budget_deadline = Instant::now() + self.max_wait;
        loop {
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let step = self.lock().step(priority, Instant::now(), budget_deadline);
            match step {
                Step::Go(ticket) => return ticket,
                Step::Sleep(wait) => {
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = &mut woken => {}
                    }
                }
                Step::UntilWoken => woken.await,
            }
        }
    }

    /// Read the rate-limit headers of the answer to `ticket`.
    pub fn observe(&self, ticket: Ticket, rate: RateHeaders, now_epoch: i64) {
        {
            let mut st = self.lock();
            let issued = st.issued;
            if let Some(budget) = &mut st.budget {
                budget.observe(ticket, issued, rate, now_epoch, Instant::now());
            }
        }
        self.wake.notify_waiters();
    }

    /// Hold every request back by `delay` (capped at `max_wait`): the
    /// provider said to slow down.
    pub fn hold(&self, delay: Duration) {
        if delay.is_zero() {
            return;
        }
        let until = Instant::now() + delay.min(self.max_wait);
        let mut st = self.lock();
        st.not_before = Some(st.not_before.map_or(until, |t| t.max(until)));
    }
}

/// Who shares a pacer (see [`Pacer::shared`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PacerKey {
    runtime: Option<tokio::runtime::Id>,
    provider: Scheme,
    origin: String,
    token: Option<u64>,
    limits: Vec<(u64, u64)>,
    budget: Option<(u64, Duration, Recovery)>,
    max_wait: Duration,
}

/// A keyed hash of a token: equal tokens meet, and the hash means nothing
/// outside this process.
fn token_hash(token: &str) -> u64 {
    static KEY: OnceLock<RandomState> = OnceLock::new();
    KEY.get_or_init(RandomState::new).hash_one(token)
}

/// The current tokio runtime, when there is one.
pub(crate) fn runtime_id() -> Option<tokio::runtime::Id> {
    tokio::runtime::Handle::try_current().ok().map(|h| h.id())
}

/// A process-wide map from a key to a shared value that lives as long as
/// someone holds it.
pub(crate) struct Registry<K, V> {
    map: OnceLock<Mutex<HashMap<K, Weak<V>>>>,
}

impl<K: Hash + Eq, V> Registry<K, V> {
    /// An empty registry (for a `static`).
    pub(crate) const fn new() -> Self {
        Self {
            map: OnceLock::new(),
        }
    }

    /// The live value for `key`, or a new one from `make`.
    pub(crate) fn get_or_make(&self, key: K, make: impl FnOnce() -> V) -> Arc<V> {
        match self.get_or_try_make(key, || Ok::<V, std::convert::Infallible>(make())) {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }

    /// The live value for `key`, or a new one from `make`, which may fail.
    pub(crate) fn get_or_try_make<E>(
        &self,
        key: K,
        make: impl FnOnce() -> Result<V, E>,
    ) -> Result<Arc<V>, E> {
        let mut map = self
            .map
            .get_or_init(|| Mutex::new(HashMap::new()))
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, v| v.strong_count() > 0);
        if let Some(v) = map.get(&key).and_then(Weak::upgrade) {
            return Ok(v);
        }
        let v = Arc::new(make()?);
        map.insert(key, Arc::downgrade(&v));
        Ok(v)
    }

    /// How many live values there are.
    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        self.map.get().map_or(0, |m| {
            m.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
                .filter(|v| v.strong_count() > 0)
                .count()
        })
    }
}

#[cfg(test)]
mod tests;
