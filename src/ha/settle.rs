//! Which members count for the rendezvous: the settle rule. PURE: the time
//! is a parameter (a monotonic `Instant`), never read here.
//!
//! Owns the rule that keeps a flapping replica from making accounts bounce:
//! a member that appears counts only once it has been seen continuously for
//! the settle delay; a member that is gone stops counting at once (its lease
//! has already expired, or it left on purpose, so etcd has done the waiting).
//! Must never: let a member count before its delay, or keep counting one
//! that is no longer live.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;

/// The members that count, and the ones waiting to.
#[derive(Debug, Clone)]
pub struct Settle {
    delay: Duration,
    effective: BTreeSet<String>,
    joining: BTreeMap<String, Instant>,
}

/// What one observation changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    /// Members that count from now on (their settle delay passed).
    pub joined: Vec<String>,
    /// Members that no longer count (gone from etcd).
    pub left: Vec<String>,
}

impl Change {
    /// True when the effective set changed.
    pub fn is_empty(&self) -> bool {
        self.joined.is_empty() && self.left.is_empty()
    }
}

impl Settle {
    /// Nobody counts yet.
    pub fn new(delay: Duration) -> Self {
        Self {
            delay,
            effective: BTreeSet::new(),
            joining: BTreeMap::new(),
        }
    }

    /// The members that count.
    pub fn effective(&self) -> &BTreeSet<String> {
        &self.effective
    }

    /// When the next waiting member would start to count, if one waits.
    pub fn next_change(&self) -> Option<Instant> {
        self.joining.values().min().map(|t| *t + self.delay)
    }

    /// Take in the live members as etcd lists them at `now`.
    pub fn observe(&mut self, live: &BTreeSet<String>, now: Instant) -> Change {
        let mut change = Change::default();
        let gone: Vec<String> = self.effective.difference(live).cloned().collect();
        for m in gone {
            self.effective.remove(&m);
            change.left.push(m);
        }
        // A member that went away while waiting starts over when it is back.
        self.joining.retain(|m, _| live.contains(m));
        for m in live {
            if !self.effective.contains(m) && !self.joining.contains_key(m) {
                self.joining.insert(m.clone(), now);
            }
        }
        let ready: Vec<String> = self
            .joining
            .iter()
            .filter(|(_, since)| now.saturating_duration_since(**since) >= self.delay)
            .map(|(m, _)| m.clone())
            .collect();
        for m in ready {
            self.joining.remove(&m);
            self.effective.insert(m.clone());
            change.joined.push(m);
        }
        change
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(m: &[&str]) -> BTreeSet<String> {
        m.iter().map(|s| (*s).to_string()).collect()
    }

    fn v(m: &[&str]) -> Vec<String> {
        m.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn settle_cases() {
        // (what, settle delay in s, observations: (at s, live members,
        // effective after, joined, left))
        type Step = (
            u64,
            &'static [&'static str],
            &'static [&'static str],
            &'static [&'static str],
            &'static [&'static str],
        );
        let cases: &[(&str, u64, &[Step])] = &[
            (
                "a first member counts after the delay",
                5,
                &[
                    (0, &["a"], &[], &[], &[]),
                    (4, &["a"], &[], &[], &[]),
                    (5, &["a"], &["a"], &["a"], &[]),
                ],
            ),
            (
                "zero delay: at once",
                0,
                &[(0, &["a", "b"], &["a", "b"], &["a", "b"], &[])],
            ),
            (
                "a leaver stops counting at once",
                5,
                &[
                    (0, &["a", "b"], &[], &[], &[]),
                    (5, &["a", "b"], &["a", "b"], &["a", "b"], &[]),
                    (6, &["a"], &["a"], &[], &["b"]),
                ],
            ),
            (
                "a flapping member never counts while it flaps",
                5,
                &[
                    (0, &["a"], &[], &[], &[]),
                    (5, &["a"], &["a"], &["a"], &[]),
                    (6, &["a", "b"], &["a"], &[], &[]),
                    (9, &["a"], &["a"], &[], &[]),
                    (10, &["a", "b"], &["a"], &[], &[]),
                    (14, &["a", "b"], &["a"], &[], &[]),
                    (15, &["a", "b"], &["a", "b"], &["b"], &[]),
                ],
            ),
            (
                "a member that left and came back waits again",
                2,
                &[
                    (0, &["a", "b"], &[], &[], &[]),
                    (2, &["a", "b"], &["a", "b"], &["a", "b"], &[]),
                    (3, &["a"], &["a"], &[], &["b"]),
                    (4, &["a", "b"], &["a"], &[], &[]),
                    (6, &["a", "b"], &["a", "b"], &["b"], &[]),
                ],
            ),
            (
                "everyone gone",
                1,
                &[
                    (0, &["a"], &[], &[], &[]),
                    (1, &["a"], &["a"], &["a"], &[]),
                    (2, &[], &[], &[], &["a"]),
                ],
            ),
        ];
        let t0 = Instant::now();
        for (what, delay, steps) in cases {
            let mut s = Settle::new(Duration::from_secs(*delay));
            for (at, live, effective, joined, left) in steps.iter() {
                let c = s.observe(&set(live), t0 + Duration::from_secs(*at));
                assert_eq!(s.effective(), &set(effective), "{what}: at {at}s");
                assert_eq!(c.joined, v(joined), "{what}: joined at {at}s");
                assert_eq!(c.left, v(left), "{what}: left at {at}s");
            }
        }
    }

    #[test]
    fn next_change_is_the_earliest_waiter() {
        let t0 = Instant::now();
        let mut s = Settle::new(Duration::from_secs(5));
        assert_eq!(s.next_change(), None);
        s.observe(&set(&["a"]), t0);
        s.observe(&set(&["a", "b"]), t0 + Duration::from_secs(2));
        assert_eq!(s.next_change(), Some(t0 + Duration::from_secs(5)));
        s.observe(&set(&["a", "b"]), t0 + Duration::from_secs(5));
        assert_eq!(s.next_change(), Some(t0 + Duration::from_secs(7)));
    }
}
