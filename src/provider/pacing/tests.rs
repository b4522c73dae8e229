use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::sync::lock;
use reqwest::header::HeaderValue;

const HOUR: Duration = Duration::from_secs(3600);

fn digitalocean() -> Budget {
    Budget {
        limit: 5000.0,
        window: HOUR,
        recovery: Recovery::SlidingWindow,
    }
}

fn hetzner() -> Budget {
    Budget {
        limit: 3600.0,
        window: HOUR,
        recovery: Recovery::Refill,
    }
}

fn rate(limit: u64, remaining: u64, reset: i64) -> RateHeaders {
    RateHeaders {
        limit,
        remaining,
        reset,
    }
}

/// How many requests go before tokio's (paused) clock moves, up to `most`.
async fn at_full_speed(pacer: &Pacer, most: usize) -> usize {
    let t0 = Instant::now();
    let mut n = 0;
    while n < most {
        pacer.acquire(Priority::Read).await;
        if Instant::now() != t0 {
            break;
        }
        n += 1;
    }
    n
}

#[test]
fn rate_headers_parse() {
    let mut h = HeaderMap::new();
    for (k, v) in [
        ("ratelimit-limit", "5000"),
        ("RateLimit-Remaining", "4999"),
        ("ratelimit-reset", "100"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    assert_eq!(RateHeaders::parse(&h), Some(rate(5000, 4999, 100)));
    h.insert("ratelimit-reset", HeaderValue::from_static("soon"));
    assert_eq!(RateHeaders::parse(&h), None);
}

#[test]
fn reserves() {
    for (limit, want) in [(5000.0, 250.0), (3600.0, 180.0), (36.0, 5.0), (1.0, 5.0)] {
        assert!((reserve(limit) - want).abs() < 1e-9, "{limit}");
    }
}

/// The budget's wait for the next request, by recovery, remaining count,
/// seconds to the reset and seconds since the last request.
#[test]
fn budget_waits() {
    use Recovery::*;
    let cases: &[(Recovery, u64, u64, i64, u64, Duration)] = &[
        // Above the reserve: full speed, whatever the reset.
        (SlidingWindow, 5000, 4999, 3600, 0, Duration::ZERO),
        (SlidingWindow, 5000, 251, 3600, 0, Duration::ZERO),
        (Refill, 3600, 181, 3600, 0, Duration::ZERO),
        (Refill, 36, 6, 2, 0, Duration::ZERO),
        // At the reserve: spread the remaining until the reset.
        (SlidingWindow, 5000, 250, 251, 0, Duration::from_secs(1)),
        (SlidingWindow, 5000, 99, 1000, 0, Duration::from_secs(10)),
        (SlidingWindow, 5000, 99, 1000, 4, Duration::from_secs(6)),
        (SlidingWindow, 5000, 99, 1000, 30, Duration::ZERO),
        // ... or go at the refill rate: 3,600 − 180 over 3,420 s.
        (Refill, 3600, 180, 3420, 0, Duration::from_secs(1)),
        (Refill, 3600, 100, 7000, 0, Duration::from_secs(2)),
        // Nothing left: the reset, or one request's refill.
        (SlidingWindow, 5000, 0, 30, 0, Duration::from_secs(30)),
        (SlidingWindow, 5000, 0, 0, 0, Duration::ZERO),
        (Refill, 3600, 0, 3600, 0, Duration::from_secs(1)),
    ];
    for &(recovery, limit, remaining, reset, ago, want) in cases {
        let now = Instant::now();
        let mut b = BudgetState::new(
            Budget {
                limit: 1.0,
                window: HOUR,
                recovery,
            },
            now,
        );
        b.observe(Ticket(1), Ticket(1), rate(limit, remaining, reset), 0, now);
        b.last_sent = Some(now - Duration::from_secs(ago));
        b.catch_up(now);
        let got = b.wait(now);
        assert!(
            got.abs_diff(want) < Duration::from_millis(2),
            "{recovery:?} {limit} {remaining} reset {reset} ago {ago}: {got:?}"
        );
    }
}

/// Before any header the documented budget is assumed whole; after one,
/// the announced remaining count less the reserve goes at once. Hetzner in
/// particular does not start at one request a second.
#[tokio::test(start_paused = true)]
async fn a_burst_within_the_announced_budget_goes_at_full_speed() {
    let cases: &[(Budget, Option<RateHeaders>, usize)] = &[
        (digitalocean(), None, 5000 - 250),
        (hetzner(), None, 3600 - 180),
        (digitalocean(), Some(rate(5000, 1000, 600)), 1000 - 250),
        (hetzner(), Some(rate(3600, 3000, 600)), 3000 - 180),
        (hetzner().scaled(0.01), Some(rate(36, 20, 1)), 20 - 5),
    ];
    for &(budget, header, want) in cases {
        let pacer = Pacer::new(&[], Some(budget), Duration::from_secs(60));
        if let Some(h) = header {
            let ticket = pacer.acquire(Priority::Read).await;
            pacer.observe(ticket, h, 0);
        }
        assert_eq!(
            at_full_speed(&pacer, 10_000).await,
            want,
            "{budget:?} {header:?}"
        );
    }
}

/// An answer counts what the provider had seen: the requests let go after
/// it are taken off, and an older answer arriving late changes nothing.
#[tokio::test(start_paused = true)]
async fn requests_in_flight_count_against_the_budget() {
    let pacer = Pacer::new(&[], Some(digitalocean()), Duration::from_secs(60));
    let mut tickets = Vec::new();
    for _ in 0..10 {
        tickets.push(pacer.acquire(Priority::Read).await);
    }
    // The answer to the fifth: 260 left then, and five more went since.
    pacer.observe(tickets[4], rate(5000, 260, 600), 0);
    // A late answer to the second changes nothing.
    pacer.observe(tickets[1], rate(5000, 4990, 600), 0);
    assert_eq!(at_full_speed(&pacer, 100).await, 5);
}

/// At 0 remaining the next request waits for the reset (sliding window)
/// or for one request's refill, and never longer than `max_wait`.
#[tokio::test(start_paused = true)]
async fn an_exhausted_budget_waits_for_the_reset() {
    // (budget, max_wait, reset in s, done after s, not done after s)
    let cases: &[(Budget, u64, i64, u64, u64)] = &[
        (digitalocean(), 60, 30, 31, 29),
        (digitalocean(), 10, 30, 11, 9),
        (hetzner(), 60, 3600, 2, 0),
    ];
    for &(budget, max_wait, reset, done, not_done) in cases {
        let pacer = Arc::new(Pacer::new(&[], Some(budget), Duration::from_secs(max_wait)));
        let ticket = pacer.acquire(Priority::Read).await;
        pacer.observe(ticket, rate(budget.limit as u64, 0, reset), 0);
        let gone = Arc::new(AtomicUsize::new(0));
        let task = {
            let (pacer, gone) = (pacer.clone(), gone.clone());
            tokio::spawn(async move {
                pacer.acquire(Priority::Write).await;
                gone.fetch_add(1, Ordering::SeqCst);
            })
        };
        tokio::time::sleep(Duration::from_millis(not_done * 1000 + 500)).await;
        assert_eq!(
            gone.load(Ordering::SeqCst),
            0,
            "{budget:?} after {not_done}s"
        );
        tokio::time::sleep(Duration::from_secs(done - not_done)).await;
        assert_eq!(gone.load(Ordering::SeqCst), 1, "{budget:?} after {done}s");
        task.await.unwrap();
    }
}

/// Hetzner's budget refills evenly: with none left, requests go at the
/// refill rate the headers imply (here one a second), not at the reset.
#[tokio::test(start_paused = true)]
async fn an_exhausted_refill_budget_goes_at_the_refill_rate() {
    let pacer = Arc::new(Pacer::new(&[], Some(hetzner()), Duration::from_secs(60)));
    let ticket = pacer.acquire(Priority::Read).await;
    pacer.observe(ticket, rate(3600, 0, 3600), 0);
    let gone = Arc::new(AtomicUsize::new(0));
    let task = {
        let (pacer, gone) = (pacer.clone(), gone.clone());
        tokio::spawn(async move {
            loop {
                pacer.acquire(Priority::Read).await;
                gone.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    assert_eq!(gone.load(Ordering::SeqCst), 10);
    task.abort();
}

/// A header that shows the budget back lets waiting requests go at once.
#[tokio::test(start_paused = true)]
async fn a_new_header_wakes_the_waiting() {
    let pacer = Arc::new(Pacer::new(
        &[],
        Some(digitalocean()),
        Duration::from_secs(60),
    ));
    let first = pacer.acquire(Priority::Read).await;
    let second = pacer.acquire(Priority::Read).await;
    pacer.observe(first, rate(5000, 0, 50), 0);
    let t0 = Instant::now();
    let task = {
        let pacer = pacer.clone();
        tokio::spawn(async move { pacer.acquire(Priority::Read).await })
    };
    // The waiter is asleep on the 50 s reset when the next answer comes.
    tokio::time::sleep(Duration::from_secs(1)).await;
    pacer.observe(second, rate(5000, 4000, 50), 0);
    task.await.unwrap();
    assert_eq!(Instant::now(), t0 + Duration::from_secs(1));
}

/// Polls wait while creates and deletes queue, whichever came first; a
/// write given up on does not hold them back.
#[tokio::test(start_paused = true)]
async fn polls_wait_while_writes_queue() {
    let one = Limit {
        capacity: 1.0,
        per_second: 1.0,
    };
    let pacer = Arc::new(Pacer::new(&[one], None, Duration::from_secs(60)));
    pacer.acquire(Priority::Write).await;
    let order = Arc::new(Mutex::new(Vec::new()));
    let go = |priority: Priority, name: &'static str| {
        let (pacer, order) = (pacer.clone(), order.clone());
        tokio::spawn(async move {
            pacer.acquire(priority).await;
            order.lock().unwrap().push(name);
        })
    };
    let mut tasks = vec![go(Priority::Poll, "poll")];
    tokio::task::yield_now().await;
    for name in ["create", "delete", "tag"] {
        tasks.push(go(Priority::Write, name));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let order = order.lock().unwrap().clone();
    assert_eq!(order.len(), 4);
    assert_eq!(order[3], "poll", "{order:?}");

    // A queued write that is dropped leaves the queue.
    let write = pacer.acquire(Priority::Write);
    let gave_up = tokio::time::timeout(Duration::from_millis(10), write).await;
    assert!(gave_up.is_err());
    assert_eq!(pacer.lock().writes_waiting, 0);
    pacer.acquire(Priority::Poll).await;
}

#[tokio::test(start_paused = true)]
async fn buckets_spend_the_burst_then_refill() {
    let pacer = Pacer::new(
        &[Limit {
            capacity: 3.0,
            per_second: 2.0,
        }],
        None,
        Duration::from_secs(60),
    );
    assert_eq!(at_full_speed(&pacer, 100).await, 3);
    pacer.hold(Duration::from_secs(5));
    let t1 = Instant::now();
    pacer.acquire(Priority::Read).await;
    assert!(Instant::now() - t1 >= Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn the_tightest_bucket_decides() {
    let pacer = Pacer::new(
        &[
            Limit {
                capacity: 100.0,
                per_second: 100.0,
            },
            Limit {
                capacity: 2.0,
                per_second: 1.0,
            },
        ],
        Some(digitalocean()),
        Duration::from_secs(60),
    );
    assert_eq!(at_full_speed(&pacer, 100).await, 2);
}

#[test]
fn limits_scale() {
    let l = Limit {
        capacity: 40.0,
        per_second: 3.0,
    }
    .scaled(0.01);
    assert_eq!(l.capacity, 1.0);
    assert!((l.per_second - 0.03).abs() < 1e-9);
    assert_eq!(hetzner().scaled(0.01).limit, 36.0);
    assert_eq!(hetzner().scaled(0.0001).limit, 1.0);
}

/// Who shares: same provider, origin, token (or none), limits and wait on
/// one runtime share one pacer; anything else does not; a pacer nobody
/// holds is gone.
#[tokio::test]
async fn the_registry_shares_per_unit() {
    let vultr = [Limit {
        capacity: 3.0,
        per_second: 27.0,
    }];
    let wait = Duration::from_secs(60);
    let origin = "https://api.vultr.com";
    let a = Pacer::shared(Scheme::Vultr, origin, None, &vultr, None, wait);
    let b = Pacer::shared(Scheme::Vultr, origin, None, &vultr, None, wait);
    assert!(Arc::ptr_eq(&a, &b));
    let other_host = Pacer::shared(Scheme::Vultr, "https://x.test", None, &vultr, None, wait);
    assert!(!Arc::ptr_eq(&a, &other_host));
    let other_limits = Pacer::shared(Scheme::Vultr, origin, None, &vultr[..0], None, wait);
    assert!(!Arc::ptr_eq(&a, &other_limits));

    let hz = "https://api.hetzner.cloud";
    let h = |token| Pacer::shared(Scheme::Hetzner, hz, Some(token), &[], Some(hetzner()), wait);
    let (p1, p2, p3) = (h("project-one"), h("project-one"), h("project-two"));
    assert!(Arc::ptr_eq(&p1, &p2));
    assert!(!Arc::ptr_eq(&p1, &p3));
    let shorter = Pacer::shared(
        Scheme::Hetzner,
        hz,
        Some("project-one"),
        &[],
        Some(hetzner()),
        Duration::from_secs(1),
    );
    assert!(!Arc::ptr_eq(&p1, &shorter));
}

#[test]
fn a_registry_entry_lives_while_held() {
    static R: Registry<&'static str, u32> = Registry::new();
    let a = R.get_or_make("a", || 1);
    let again = R.get_or_make("a", || 2);
    assert_eq!((*a, *again), (1, 1));
    let b = R.get_or_make("b", || 3);
    assert_eq!(R.live(), 2);
    drop((a, again));
    assert_eq!(R.live(), 1);
    assert_eq!(*R.get_or_make("a", || 4), 4);
    let failed: Result<Arc<u32>, &str> = R.get_or_try_make("c", || Err("no"));
    assert_eq!(failed, Err("no"));
    drop(b);
    assert_eq!(R.live(), 0);
}

/// A limit is a sliding window: the whole capacity at once, then each place
/// comes back one window after it was taken; no window ever holds more
/// than the capacity, and the rate over a long run is the limit's: exactly
/// with places kept one by one, within a 64th above that.
#[tokio::test(start_paused = true)]
async fn a_limit_is_a_sliding_window() {
    let window = Duration::from_secs(60);
    // (capacity, the most 20 windows may take beyond 19)
    let cases = [
        (10u32, Duration::from_millis(1)),
        (100, window * 19 / 64 + Duration::from_secs(1)),
    ];
    for (capacity, slack) in cases {
        let limit = Limit {
            capacity: f64::from(capacity),
            per_second: f64::from(capacity) / 60.0,
        };
        let cap = capacity as usize;
        let pacer = Pacer::new(&[limit], None, Duration::from_secs(60));
        let t0 = Instant::now();
        let mut sent = Vec::new();
        for _ in 0..20 * cap {
            pacer.acquire(Priority::Read).await;
            sent.push(Instant::now());
        }
        assert!(
            sent[..cap].iter().all(|t| *t == t0),
            "{capacity}: the whole window at once"
        );
        assert!(sent[cap] >= t0 + window, "{capacity}");
        for (i, t) in sent.iter().enumerate() {
            let within = sent[i..].iter().take_while(|u| **u < *t + window).count();
            assert!(
                within <= cap,
                "{capacity}: {within} in the minute from #{i}"
            );
        }
        // 20 windows' worth: 19 more windows after the first.
        let took = sent[20 * cap - 1] - t0;
        assert!(took <= window * 19 + slack, "{capacity}: {took:?}");
        assert!(took >= window * 19, "{capacity}: {took:?}");
    }
}

/// What a limit lets go at worst, and where a late request counts from
/// when its place came back: only in exact windows shorter than a second.
#[test]
fn worst_cases_and_late_credit() {
    let minute = |capacity: f64| Limit {
        capacity,
        per_second: capacity / 60.0,
    };
    let second = |capacity: f64, per_second: f64| Limit {
        capacity,
        per_second,
    };
    // (limit, seconds, worst, late credit)
    let cases = [
        (minute(10.0), 60.0, 10.0, Duration::ZERO),
        (minute(10.0), 61.0, 20.0, Duration::ZERO),
        (minute(100.0), 60.0, 100.0, Duration::ZERO),
        (minute(248.0), 60.0, 248.0, Duration::ZERO),
        (second(1.0, 28.0), 1.0, 29.0, LATE),
        (second(3.0, 28.0), 1.0, 30.0, LATE),
        (second(3.0, 27.0), 1.0, 30.0, LATE),
        (second(3.0, 27.0), 0.99, 27.0, LATE),
        // Slotted, however short: no credit.
        (second(100.0, 1000.0), 1.0, 1000.0, Duration::ZERO),
        // A second long: no credit.
        (second(10.0, 10.0), 1.0, 10.0, Duration::ZERO),
    ];
    for (limit, secs, worst, late) in cases {
        assert_eq!(limit.worst(secs), worst, "{limit:?} over {secs} s");
        assert_eq!(limit.late(), late, "{limit:?}");
    }
    // An absurd limit keeps a window instants can be added to.
    let absurd = Bucket::new(second(1e18, 1e-12));
    assert_eq!(absurd.window, LONGEST_WINDOW);
}

/// Timers wake late (tokio's by up to a millisecond, for one): a request
/// that went late for its place counts from when the place came back, so
/// the lateness does not add up over a long run, while no window a hair
/// shorter than the limit's holds more than the capacity and no second more
/// than [`Limit::worst`] says. With Vultr's own limit.
#[tokio::test(start_paused = true)]
async fn late_wake_ups_do_not_lower_the_rate() {
    let limit = crate::provider::http::default_pacing(Scheme::Vultr).buckets[0];
    let pacer = Arc::new(Pacer::new(&[limit], None, Duration::from_secs(60)));
    let t0 = Instant::now();
    // Four callers at once, as the engine's request slots are.
    let sent = Arc::new(Mutex::new(Vec::new()));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (pacer, sent) = (pacer.clone(), sent.clone());
            tokio::spawn(async move {
                for _ in 0..140 {
                    pacer.acquire(Priority::Write).await;
                    lock(&sent).push(Instant::now());
                }
            })
        })
        .collect();
    for c in callers {
        c.await.expect("caller");
    }
    let mut sent = lock(&sent).clone();
    sent.sort();
    assert_eq!(sent.len(), 560);
    let cap = limit.capacity as usize;
    let window = Duration::from_secs_f64(limit.capacity / limit.per_second);
    // 560 requests: this many windows after the first one's.
    let windows = (560 / cap - 1) as u32;
    let took = sent[559] - t0;
    assert!(took <= window * windows + LATE, "{took:?}");
    assert!(took >= window * windows - LATE, "{took:?}");
    for (i, t) in sent.iter().enumerate() {
        let short = sent[i..]
            .iter()
            .take_while(|u| **u < *t + window - LATE)
            .count();
        assert!(short <= cap, "{short} requests in a window from #{i}");
        let second = sent[i..]
            .iter()
            .take_while(|u| **u < *t + Duration::from_secs(1))
            .count();
        assert!(
            second as f64 <= limit.worst(1.0),
            "{second} in the second from #{i}"
        );
    }
    assert!(limit.worst(1.0) <= 30.0);
}
