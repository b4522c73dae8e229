//! Rendezvous (highest random weight) hashing: which live replica owns an
//! account. PURE: no I/O, no clock.
//!
//! Owns the hash and the tie rule, which every replica (and every version of
//! snapkeeper that shares an etcd prefix) must compute alike: FNV-1a 64 over
//! `member NUL account`, then the splitmix64 finalizer; the highest score
//! wins, a tie goes to the smaller member id. Must never: depend on a hasher
//! whose output may change between Rust releases (`DefaultHasher`), or on
//! the order the members are given in.

/// The owner of `account` among `members`, `None` when there is none.
pub fn owner<'a, I>(account: &str, members: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    members
        .into_iter()
        .map(|m| (score(m, account), m))
        // Highest score; on a tie the smaller id (so `max_by` on the
        // reversed id order).
        .max_by(|(sa, ma), (sb, mb)| sa.cmp(sb).then_with(|| mb.cmp(ma)))
        .map(|(_, m)| m)
}

/// The weight of `member` for `account`.
pub fn score(member: &str, account: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for b in member
        .as_bytes()
        .iter()
        .chain(&[0u8])
        .chain(account.as_bytes())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(PRIME);
    }
    // splitmix64's finalizer: FNV alone mixes the last bytes poorly.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn accounts(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("acct-{i}")).collect()
    }

    fn spread(members: &[&str], accts: &[String]) -> BTreeMap<String, String> {
        accts
            .iter()
            .map(|a| {
                let o = owner(a, members.iter().copied()).unwrap_or("-");
                (a.clone(), o.to_string())
            })
            .collect()
    }

    #[test]
    fn owner_cases() {
        // (members, account, owner): pinned values, so that a change of the
        // hash (which would move accounts between mixed-version replicas)
        // fails here first.
        let cases: &[(&[&str], &str, Option<&str>)] = &[
            (&[], "do-main", None),
            (&["a"], "do-main", Some("a")),
            (&["a", "b"], "do-main", Some("a")),
            (&["b", "a"], "do-main", Some("a")),
            (&["a", "b", "c"], "do-main", Some("c")),
            (&["a", "b", "c"], "vultr-1", Some("c")),
            (&["a", "b", "c"], "hetzner-x", Some("a")),
            (&["a", "a"], "hetzner-x", Some("a")),
        ];
        for (members, account, want) in cases {
            assert_eq!(
                owner(account, members.iter().copied()),
                *want,
                "{account} over {members:?}"
            );
        }
    }

    #[test]
    fn score_is_pinned() {
        // The exact numbers: every replica of every version must agree.
        assert_eq!(score("a", "do-main"), 6_483_689_016_885_024_411);
        assert_ne!(score("a", "do-main"), score("do-main", "a"));
        assert_ne!(score("ab", "c"), score("a", "bc"), "the NUL separates");
    }

    #[test]
    fn order_of_members_does_not_matter() {
        let accts = accounts(200);
        let a = spread(&["r1", "r2", "r3"], &accts);
        let b = spread(&["r3", "r1", "r2"], &accts);
        assert_eq!(a, b);
    }

    #[test]
    fn spread_is_even_enough() {
        let accts = accounts(300);
        let s = spread(&["r1", "r2", "r3"], &accts);
        for m in ["r1", "r2", "r3"] {
            let n = s.values().filter(|o| *o == m).count();
            assert!((70..=130).contains(&n), "{m} owns {n} of 300");
        }
    }

    #[test]
    fn only_the_leavers_accounts_move() {
        // Removing a member moves exactly its accounts; adding one moves
        // accounts only to the new member.
        let accts = accounts(300);
        let three = spread(&["r1", "r2", "r3"], &accts);
        let two = spread(&["r1", "r2"], &accts);
        for a in &accts {
            if three[a] != "r3" {
                assert_eq!(three[a], two[a], "{a} moved though its owner stayed");
            }
        }
        let four = spread(&["r1", "r2", "r3", "r4"], &accts);
        for a in &accts {
            if four[a] != three[a] {
                assert_eq!(four[a], "r4", "{a} moved between old members");
            }
        }
    }
}
