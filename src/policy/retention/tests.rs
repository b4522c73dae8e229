//! Retention tests: case tables per rule, floors, cap, reasons, property
//! tests over random groups and policies, and a one-year simulation.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::policy::{CronSchedule, CronStart, Schedule, evaluate};

const DAY: u64 = 86_400;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

fn group() -> GroupKey {
    GroupKey {
        account: "do-main".into(),
        policy: "six-hourly".into(),
        resource_id: "42".into(),
    }
}

fn marker_for(g: &GroupKey, created: DateTime<Utc>) -> Marker {
    Marker {
        account: g.account.clone(),
        policy: g.policy.clone(),
        resource_id: g.resource_id.clone(),
        created,
    }
}

fn ours(id: &str, created: &str) -> SnapshotInfo {
    ours_at(id, utc(created), SnapState::Complete)
}

fn ours_at(id: &str, created: DateTime<Utc>, state: SnapState) -> SnapshotInfo {
    SnapshotInfo {
        id: id.into(),
        created,
        state,
        marker: Some(marker_for(&group(), created)),
        suspect: None,
    }
}

fn rules() -> KeepRules {
    KeepRules {
        min_keep: 1,
        ..KeepRules::default()
    }
}

fn days(n: u64) -> Duration {
    Duration::from_secs(n * DAY)
}

/// Ids kept among this group's complete snapshots (the rest: deleted).
fn kept(decisions: &[Decision]) -> BTreeSet<String> {
    decisions
        .iter()
        .filter(|d| d.action == Action::Keep)
        .map(|d| d.id.clone())
        .collect()
}

fn deleted(decisions: &[Decision]) -> BTreeSet<String> {
    decisions
        .iter()
        .filter(|d| d.action == Action::Delete)
        .map(|d| d.id.clone())
        .collect()
}

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// (what, rules, tz, snapshots (id, created), kept ids)
type Case = (
    &'static str,
    KeepRules,
    Tz,
    Vec<(&'static str, &'static str)>,
    Vec<&'static str>,
);

fn run(cases: Vec<Case>) {
    for (what, rules, tz, snaps, want) in cases {
        let group_snaps: Vec<SnapshotInfo> = snaps.iter().map(|(id, t)| ours(id, t)).collect();
        let got = decide(&group(), &rules, 1000, tz, &group_snaps).unwrap();
        assert_eq!(kept(&got), ids(&want), "{what}: {got:#?}");
        for d in &got {
            assert!(!d.reasons.is_empty(), "{what}: {} has no reason", d.id);
        }
    }
}

#[test]
fn within_cases() {
    let snaps = vec![
        ("a", "2026-11-23T00:00:00Z"),
        ("b", "2026-11-20T00:00:00Z"),
        ("c", "2026-11-16T00:00:00Z"),
        ("d", "2026-11-15T23:59:59Z"),
        ("e", "2026-10-01T00:00:00Z"),
    ];
    let r = |d: u64| KeepRules {
        within: Some(days(d)),
        ..rules()
    };
    run(vec![
        (
            "7d keeps the boundary",
            r(7),
            Tz::UTC,
            snaps.clone(),
            vec!["a", "b", "c"],
        ),
        (
            "1d keeps only newest",
            r(1),
            Tz::UTC,
            snaps.clone(),
            vec!["a"],
        ),
        (
            "60d keeps all",
            r(60),
            Tz::UTC,
            snaps.clone(),
            vec!["a", "b", "c", "d", "e"],
        ),
        (
            "anchored at newest, not now: a month-old group is kept",
            r(7),
            Tz::UTC,
            vec![
                ("x", "2025-01-10T00:00:00Z"),
                ("y", "2025-01-05T00:00:00Z"),
                ("z", "2024-12-01T00:00:00Z"),
            ],
            vec!["x", "y"],
        ),
    ]);
}

#[test]
fn last_cases() {
    let snaps = vec![
        ("a", "2026-11-23T00:00:00Z"),
        ("b", "2026-11-22T00:00:00Z"),
        ("c", "2026-11-21T00:00:00Z"),
        ("d", "2026-11-20T00:00:00Z"),
    ];
    let r = |n: u32| KeepRules { last: n, ..rules() };
    run(vec![
        ("last 1", r(1), Tz::UTC, snaps.clone(), vec!["a"]),
        ("last 3", r(3), Tz::UTC, snaps.clone(), vec!["a", "b", "c"]),
        (
            "last more than exist",
            r(10),
            Tz::UTC,
            snaps.clone(),
            vec!["a", "b", "c", "d"],
        ),
        (
            "same time: tie broken by id",
            r(1),
            Tz::UTC,
            vec![("p", "2026-11-23T00:00:00Z"), ("q", "2026-11-23T00:00:00Z")],
            vec!["q"],
        ),
    ]);
}

#[test]
fn hourly_cases() {
    let r = |n: u32| KeepRules {
        hourly: n,
        ..rules()
    };
    let snaps = vec![
        ("a", "2026-11-23T10:50:00Z"),
        ("b", "2026-11-23T10:10:00Z"),
        ("c", "2026-11-23T09:59:59Z"),
        ("d", "2026-11-23T09:00:00Z"),
        ("e", "2026-11-23T07:30:00Z"),
    ];
    run(vec![
        ("hourly 1", r(1), Tz::UTC, snaps.clone(), vec!["a"]),
        (
            "hourly 2: newest of each hour",
            r(2),
            Tz::UTC,
            snaps.clone(),
            vec!["a", "c"],
        ),
        (
            "hourly 3 skips the empty hour",
            r(3),
            Tz::UTC,
            snaps.clone(),
            vec!["a", "c", "e"],
        ),
        // India is +05:30: 10:10Z and 09:59Z are 15:40 and 15:29 local, one hour.
        (
            "hourly 2 in Kolkata",
            r(2),
            Tz::Asia__Kolkata,
            snaps.clone(),
            vec!["a", "b"],
        ),
        // The repeated hour in Berlin (02:xx CEST, then 02:xx CET) is two buckets.
        (
            "hourly over fall back",
            r(3),
            Tz::Europe__Berlin,
            vec![
                ("x", "2026-10-25T01:40:00Z"),
                ("y", "2026-10-25T01:10:00Z"),
                ("z", "2026-10-25T00:40:00Z"),
                ("w", "2026-10-25T00:10:00Z"),
            ],
            vec!["x", "z"],
        ),
    ]);
}

#[test]
fn daily_cases() {
    let r = |n: u32| KeepRules {
        daily: n,
        ..rules()
    };
    let snaps = vec![
        ("a", "2026-11-23T18:00:00Z"),
        ("b", "2026-11-23T06:00:00Z"),
        ("c", "2026-11-22T23:30:00Z"),
        ("d", "2026-11-22T12:00:00Z"),
        ("e", "2026-11-20T12:00:00Z"),
    ];
    run(vec![
        ("daily 1", r(1), Tz::UTC, snaps.clone(), vec!["a"]),
        ("daily 2", r(2), Tz::UTC, snaps.clone(), vec!["a", "c"]),
        (
            "daily 3 counts days that have one",
            r(3),
            Tz::UTC,
            snaps.clone(),
            vec!["a", "c", "e"],
        ),
        // In Berlin 23:30Z on the 22nd is 00:30 on the 23rd.
        (
            "daily 2 in Berlin",
            r(2),
            Tz::Europe__Berlin,
            snaps.clone(),
            vec!["a", "d"],
        ),
        // In New York 06:00Z on the 23rd is 01:00 on the 23rd, 23:30Z the 22nd is 18:30.
        (
            "daily 3 in New York",
            r(3),
            Tz::America__New_York,
            snaps.clone(),
            vec!["a", "c", "e"],
        ),
    ]);
}

#[test]
fn weekly_cases() {
    let r = |n: u32| KeepRules {
        weekly: n,
        ..rules()
    };
    // 2026-11-23 is a Monday; 2026-11-22 a Sunday.
    let snaps = vec![
        ("mon", "2026-11-23T12:00:00Z"),
        ("sun", "2026-11-22T12:00:00Z"),
        ("mon-before", "2026-11-16T12:00:00Z"),
        ("sun-2", "2026-11-15T12:00:00Z"),
        ("old", "2026-10-01T12:00:00Z"),
    ];
    run(vec![
        ("weekly 1", r(1), Tz::UTC, snaps.clone(), vec!["mon"]),
        (
            "weekly 2: monday starts the week",
            r(2),
            Tz::UTC,
            snaps.clone(),
            vec!["mon", "sun"],
        ),
        (
            "weekly 4",
            r(4),
            Tz::UTC,
            snaps.clone(),
            vec!["mon", "sun", "sun-2", "old"],
        ),
        // Sunday 23:30 in UTC is Monday 00:30 in Berlin: same week as Monday.
        (
            "weekly in Berlin",
            r(2),
            Tz::Europe__Berlin,
            vec![
                ("m", "2026-11-23T12:00:00Z"),
                ("s", "2026-11-22T23:30:00Z"),
                ("t", "2026-11-22T12:00:00Z"),
            ],
            vec!["m", "t"],
        ),
        // ISO week-year: 2026-12-31 (Thu) and 2027-01-01 (Fri) are both 2026-W53.
        (
            "iso week across new year",
            r(2),
            Tz::UTC,
            vec![
                ("jan1", "2027-01-01T12:00:00Z"),
                ("dec31", "2026-12-31T12:00:00Z"),
                ("dec27", "2026-12-27T12:00:00Z"),
            ],
            vec!["jan1", "dec27"],
        ),
    ]);
}

#[test]
fn monthly_cases() {
    let r = |n: u32| KeepRules {
        monthly: n,
        ..rules()
    };
    let snaps = vec![
        ("nov", "2026-11-23T00:00:00Z"),
        ("oct-end", "2026-10-31T12:00:00Z"),
        ("oct", "2026-10-01T00:00:00Z"),
        ("aug", "2026-08-15T00:00:00Z"),
    ];
    run(vec![
        ("monthly 1", r(1), Tz::UTC, snaps.clone(), vec!["nov"]),
        (
            "monthly 2",
            r(2),
            Tz::UTC,
            snaps.clone(),
            vec!["nov", "oct-end"],
        ),
        (
            "monthly 3 skips empty september",
            r(3),
            Tz::UTC,
            snaps.clone(),
            vec!["nov", "oct-end", "aug"],
        ),
        // 2026-10-31T23:30Z is November 1st in Berlin.
        (
            "monthly in Berlin",
            r(2),
            Tz::Europe__Berlin,
            vec![
                ("a", "2026-11-02T00:00:00Z"),
                ("b", "2026-10-31T23:30:00Z"),
                ("c", "2026-10-31T12:00:00Z"),
            ],
            vec!["a", "c"],
        ),
    ]);
}

#[test]
fn yearly_cases() {
    let r = |n: u32| KeepRules {
        yearly: n,
        ..rules()
    };
    let snaps = vec![
        ("y26", "2026-11-23T00:00:00Z"),
        ("y25-end", "2025-12-31T12:00:00Z"),
        ("y25", "2025-06-01T00:00:00Z"),
        ("y23", "2023-06-01T00:00:00Z"),
    ];
    run(vec![
        ("yearly 1", r(1), Tz::UTC, snaps.clone(), vec!["y26"]),
        (
            "yearly 2",
            r(2),
            Tz::UTC,
            snaps.clone(),
            vec!["y26", "y25-end"],
        ),
        (
            "yearly 3 skips 2024",
            r(3),
            Tz::UTC,
            snaps.clone(),
            vec!["y26", "y25-end", "y23"],
        ),
        // 2025-12-31T23:30Z is 2026 in Berlin.
        (
            "yearly in Berlin",
            r(2),
            Tz::Europe__Berlin,
            vec![
                ("a", "2026-02-01T00:00:00Z"),
                ("b", "2025-12-31T23:30:00Z"),
                ("c", "2025-12-31T12:00:00Z"),
            ],
            vec!["a", "c"],
        ),
    ]);
}

#[test]
fn union_of_rules() {
    let r = KeepRules {
        within: Some(days(2)),
        last: 4,
        daily: 5,
        ..rules()
    };
    // Six-hourly for 8 days: within keeps 2 days (9 snapshots), last adds
    // nothing new, daily adds the newest of 3 older days.
    let base = utc("2026-11-23T18:00:00Z");
    let snaps: Vec<SnapshotInfo> = (0..32)
        .map(|k| {
            ours_at(
                &format!("s{k:02}"),
                base - TimeDelta::hours(6 * k),
                SnapState::Complete,
            )
        })
        .collect();
    let got = decide(&group(), &r, 100, Tz::UTC, &snaps).unwrap();
    let mut want: BTreeSet<String> = (0..=8).map(|k| format!("s{k:02}")).collect();
    // Days, newest first: 23rd (s00), 22nd (s04), 21st (s08), 20th (s12), 19th (s16).
    want.extend(["s12", "s16"].map(String::from));
    assert_eq!(kept(&got), want);
    let s00 = &got[0];
    assert_eq!(
        s00.to_string(),
        "s00: keep (newest complete; within 2d of newest; last 4 (#1); daily bucket 2026-11-23)"
    );
    assert_eq!(got[12].to_string(), "s12: keep (daily bucket 2026-11-20)");
    assert_eq!(
        got[31].to_string(),
        "s31: delete (older than 2d, not among the last 4 and in no bucket)"
    );
}

#[test]
fn floors_and_states() {
    let g = group();
    let r = KeepRules {
        last: 1,
        min_keep: 3,
        ..KeepRules::default()
    };
    let mut foreign = ours("foreign", "2026-11-01T00:00:00Z");
    foreign.marker = Some(Marker {
        policy: "other".into(),
        ..marker_for(&g, utc("2026-11-01T00:00:00Z"))
    });
    let mut unmarked = ours("unmarked", "2026-10-01T00:00:00Z");
    unmarked.marker = None;
    let snaps = vec![
        ours_at(
            "running",
            utc("2026-11-23T12:00:00Z"),
            SnapState::InProgress,
        ),
        ours_at("broken", utc("2026-11-23T06:00:00Z"), SnapState::Failed),
        ours_at("broken-old", utc("2026-01-01T06:00:00Z"), SnapState::Failed),
        ours("a", "2026-11-23T00:00:00Z"),
        ours("b", "2026-11-22T00:00:00Z"),
        ours("c", "2026-11-21T00:00:00Z"),
        ours("d", "2026-11-20T00:00:00Z"),
        foreign,
        unmarked,
    ];
    let got = decide(&g, &r, 10, Tz::UTC, &snaps).unwrap();
    let text: Vec<String> = got.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "running: keep (in progress)",
            "broken: keep (failed)",
            "broken-old: keep (failed)",
            "a: keep (newest complete; last 1 (#1))",
            "b: keep (min_keep floor (3))",
            "c: keep (min_keep floor (3))",
            "d: delete (not among the last 1)",
            "foreign: keep (not managed by this policy)",
            "unmarked: keep (not managed by this policy)",
        ]
    );
}

#[test]
fn newest_complete_kept_even_outside_rules() {
    // A bucket rule with min_keep 0 still keeps the newest complete snapshot;
    // an in-progress newer one is not the anchor.
    let r = KeepRules {
        within: Some(days(1)),
        min_keep: 0,
        ..KeepRules::default()
    };
    let snaps = vec![
        ours_at("new", utc("2026-11-23T00:00:00Z"), SnapState::InProgress),
        ours("done", "2026-11-10T00:00:00Z"),
        ours("done-1", "2026-11-09T12:00:00Z"),
        ours("done-2", "2026-11-08T00:00:00Z"),
    ];
    let got = decide(&group(), &r, 10, Tz::UTC, &snaps).unwrap();
    assert_eq!(kept(&got), ids(&["new", "done", "done-1"]));
    assert_eq!(got[1].reasons[0], Reason::NewestComplete);
}

#[test]
fn only_foreign_and_unfinished_means_no_deletion() {
    let snaps = vec![
        ours_at("a", utc("2026-11-23T00:00:00Z"), SnapState::Failed),
        ours_at("b", utc("2026-11-20T00:00:00Z"), SnapState::InProgress),
    ];
    let r = KeepRules { last: 1, ..rules() };
    let got = decide(&group(), &r, 10, Tz::UTC, &snaps).unwrap();
    assert!(deleted(&got).is_empty());
    assert!(decide(&group(), &r, 10, Tz::UTC, &[]).unwrap().is_empty());
}

#[test]
fn cap_deletes_oldest_first() {
    let r = KeepRules { last: 2, ..rules() };
    let base = utc("2026-11-23T00:00:00Z");
    let snaps: Vec<SnapshotInfo> = (0..8)
        .map(|k| {
            ours_at(
                &format!("s{k}"),
                base - TimeDelta::days(k),
                SnapState::Complete,
            )
        })
        .collect();
    let got = decide(&group(), &r, 3, Tz::UTC, &snaps).unwrap();
    assert_eq!(deleted(&got), ids(&["s5", "s6", "s7"]));
    assert_eq!(
        got[4].to_string(),
        "s4: keep (deletion cap reached (3 per run); not among the last 2)"
    );
    assert_eq!(got[2].action, Action::Keep);
    assert_eq!(got[2].reasons[0], Reason::DeletionCap(3));
    // Cap zero deletes nothing.
    let none = decide(&group(), &r, 0, Tz::UTC, &snaps).unwrap();
    assert!(deleted(&none).is_empty());
}

#[test]
fn empty_rules_are_an_error() {
    let snaps = vec![ours("a", "2026-11-23T00:00:00Z")];
    for r in [
        KeepRules::default(),
        KeepRules {
            min_keep: 5,
            ..KeepRules::default()
        },
        KeepRules {
            within: Some(Duration::ZERO),
            ..rules()
        },
    ] {
        assert_eq!(
            decide(&group(), &r, 10, Tz::UTC, &snaps),
            Err(PolicyError::EmptyKeep),
            "{r:?}"
        );
    }
}

#[test]
fn reason_text_cases() {
    let cases: Vec<(Reason, &str)> = vec![
        (Reason::Within(days(7)), "within 7d of newest"),
        (
            Reason::Within(Duration::from_secs(36 * 3600)),
            "within 1d12h of newest",
        ),
        (Reason::Last { n: 3, rank: 2 }, "last 3 (#2)"),
        (
            Reason::Bucket {
                period: Period::Daily,
                label: "2026-11-20".into(),
            },
            "daily bucket 2026-11-20",
        ),
        (Reason::MinKeep(2), "min_keep floor (2)"),
        (Reason::NewestComplete, "newest complete"),
        (Reason::InProgress, "in progress"),
        (Reason::Failed, "failed"),
        (Reason::NotManaged, "not managed by this policy"),
        (Reason::DeletionCap(10), "deletion cap reached (10 per run)"),
        (
            Reason::Expired {
                within: Some(days(7)),
                last: 0,
                buckets: true,
            },
            "older than 7d and in no bucket",
        ),
        (
            Reason::Expired {
                within: Some(days(7)),
                last: 0,
                buckets: false,
            },
            "older than 7d",
        ),
        (
            Reason::Expired {
                within: None,
                last: 0,
                buckets: true,
            },
            "in no bucket",
        ),
    ];
    for (reason, want) in cases {
        assert_eq!(reason.to_string(), want);
    }
}

#[test]
fn bucket_label_cases() {
    let t = utc("2026-11-20T14:30:00Z");
    let cases = [
        (Period::Hourly, Tz::UTC, "2026-11-20T14+00:00"),
        (Period::Hourly, Tz::Europe__Berlin, "2026-11-20T15+01:00"),
        (Period::Daily, Tz::UTC, "2026-11-20"),
        (Period::Weekly, Tz::UTC, "2026-W47"),
        (Period::Monthly, Tz::UTC, "2026-11"),
        (Period::Yearly, Tz::UTC, "2026"),
        (Period::Daily, Tz::Pacific__Auckland, "2026-11-21"),
    ];
    for (period, tz, want) in cases {
        assert_eq!(period.bucket(t, tz), want, "{period} {tz}");
    }
}

// ---------------------------------------------------------------- properties

#[derive(Debug, Clone, Copy)]
enum Owner {
    Ours,
    Unmarked,
    OtherAccount,
    OtherPolicy,
    OtherResource,
}

fn snapshot_set() -> impl Strategy<Value = Vec<SnapshotInfo>> {
    let one = (
        0i64..(400 * DAY as i64),
        prop_oneof![
            6 => Just(SnapState::Complete),
            1 => Just(SnapState::InProgress),
            1 => Just(SnapState::Failed),
        ],
        prop_oneof![
            8 => Just(Owner::Ours),
            1 => Just(Owner::Unmarked),
            1 => Just(Owner::OtherAccount),
            1 => Just(Owner::OtherPolicy),
            1 => Just(Owner::OtherResource),
        ],
    );
    proptest::collection::vec(one, 0..60).prop_map(|items| {
        let base = utc("2025-01-01T00:00:00Z");
        let g = group();
        items
            .into_iter()
            .enumerate()
            .map(|(k, (secs, state, owner))| {
                let created = base + TimeDelta::seconds(secs);
                let mut m = marker_for(&g, created);
                match owner {
                    Owner::Ours | Owner::Unmarked => {}
                    Owner::OtherAccount => m.account = "other".into(),
                    Owner::OtherPolicy => m.policy = "other".into(),
                    Owner::OtherResource => m.resource_id = "43".into(),
                }
                SnapshotInfo {
                    id: format!("id{k}"),
                    created,
                    state,
                    marker: (!matches!(owner, Owner::Unmarked)).then_some(m),
                    suspect: None,
                }
            })
            .collect()
    })
}

fn keep_rules() -> impl Strategy<Value = KeepRules> {
    (
        proptest::option::of(0u64..(40 * DAY)),
        (0u32..6, 0u32..6, 0u32..6, 0u32..6, 0u32..6, 0u32..4),
        0u32..6,
    )
        .prop_map(
            |(within, (last, hourly, daily, weekly, monthly, yearly), min_keep)| {
                let mut r = KeepRules {
                    within: within.map(Duration::from_secs),
                    last,
                    hourly,
                    daily,
                    weekly,
                    monthly,
                    yearly,
                    min_keep,
                };
                if r.is_empty() {
                    r.daily = 1;
                }
                r
            },
        )
}

fn time_zone() -> impl Strategy<Value = Tz> {
    prop_oneof![
        Just(Tz::UTC),
        Just(Tz::Europe__Berlin),
        Just(Tz::America__New_York),
        Just(Tz::Asia__Kolkata),
    ]
}

fn is_ours_complete(s: &SnapshotInfo) -> bool {
    s.state == SnapState::Complete && s.marker.as_ref().is_some_and(|m| group().owns(m))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn prop_safety(snaps in snapshot_set(), r in keep_rules(), cap in 0u32..12, tz in time_zone()) {
        let got = decide(&group(), &r, cap, tz, &snaps).unwrap();
        prop_assert_eq!(got.len(), snaps.len());
        let complete: Vec<&SnapshotInfo> = snaps.iter().filter(|s| is_ours_complete(s)).collect();
        let mut kept_complete = 0usize;
        let mut deletes = 0u32;
        for (s, d) in snaps.iter().zip(&got) {
            prop_assert_eq!(&s.id, &d.id);
            prop_assert!(!d.reasons.is_empty());
            if d.action == Action::Delete {
                deletes += 1;
                // Only our own complete snapshots are ever selected.
                prop_assert!(is_ours_complete(s), "selected {:?}", s);
            } else if is_ours_complete(s) {
                kept_complete += 1;
            }
        }
        prop_assert!(deletes <= cap);
        prop_assert!(kept_complete >= (r.min_keep as usize).min(complete.len()));
        // The newest complete snapshot (latest time, then highest id) is kept.
        if let Some(newest) = complete.iter().max_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id))) {
            let d = got.iter().find(|d| d.id == newest.id).unwrap();
            prop_assert_eq!(d.action, Action::Keep);
            prop_assert!(d.reasons.contains(&Reason::NewestComplete));
        }
    }

    #[test]
    fn prop_order_does_not_matter(
        (snaps, shuffled) in snapshot_set().prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        r in keep_rules(),
        cap in 0u32..12,
        tz in time_zone(),
    ) {
        let by_id = |list: Vec<Decision>| -> BTreeMap<String, Decision> {
            list.into_iter().map(|d| (d.id.clone(), d)).collect()
        };
        let a = by_id(decide(&group(), &r, cap, tz, &snaps).unwrap());
        let b = by_id(decide(&group(), &r, cap, tz, &shuffled).unwrap());
        prop_assert_eq!(a, b);
    }

    #[test]
    fn prop_second_run_deletes_only_what_the_cap_held(
        snaps in snapshot_set(),
        r in keep_rules(),
        cap in 0u32..12,
        tz in time_zone(),
    ) {
        let first = decide(&group(), &r, cap, tz, &snaps).unwrap();
        let held: BTreeSet<String> = first
            .iter()
            .filter(|d| d.reasons.iter().any(|x| matches!(x, Reason::DeletionCap(_))))
            .map(|d| d.id.clone())
            .collect();
        let gone = deleted(&first);
        let rest: Vec<SnapshotInfo> = snaps.into_iter().filter(|s| !gone.contains(&s.id)).collect();
        let second = decide(&group(), &r, cap, tz, &rest).unwrap();
        let again = deleted(&second);
        prop_assert!(again.is_subset(&held), "again {:?} held {:?}", again, held);
        if held.is_empty() {
            prop_assert_eq!(second, first.into_iter().filter(|d| !gone.contains(&d.id)).collect::<Vec<_>>());
        }
    }
}

// ---------------------------------------------------------------- simulation

/// Replays a daemon for a year the way it runs: evaluate the schedule; when
/// due, take a snapshot (complete at once) and apply retention; otherwise
/// sleep until the schedule's `next` and wake `wake_delay` late. Returns the
/// group after each snapshot, keyed by the snapshot time.
fn simulate(
    schedule: &Schedule,
    r: &KeepRules,
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    wake_delay: TimeDelta,
) -> BTreeMap<DateTime<Utc>, Vec<SnapshotInfo>> {
    let mut group_snaps: Vec<SnapshotInfo> = Vec::new();
    let mut history = BTreeMap::new();
    let mut now = from;
    let mut n = 0;
    while now <= to {
        let newest = group_snaps.iter().map(|s| s.created).max();
        let state = evaluate(schedule, tz, newest, from, now);
        if !state.due {
            assert!(
                state.next > now,
                "not due, yet next {} is not after {now}",
                state.next
            );
            now = state.next + wake_delay;
            continue;
        }
        group_snaps.push(ours_at(&format!("s{n:05}"), now, SnapState::Complete));
        n += 1;
        let decisions = decide(&group(), r, 10, tz, &group_snaps).unwrap();
        let gone = deleted(&decisions);
        group_snaps.retain(|s| !gone.contains(&s.id));
        history.insert(now, group_snaps.clone());
    }
    history
}

#[test]
fn simulate_every_6h_keep_7d() {
    let from = utc("2026-01-01T00:00:00Z");
    let to = utc("2026-12-31T23:59:00Z");
    let r = KeepRules {
        within: Some(days(7)),
        ..rules()
    };
    let every = Schedule::Every(Duration::from_secs(6 * 3600));
    // Waking on time, snapshots are exactly 6h apart and the 7-day window
    // holds 29; waking 4 minutes late, they drift to 6h04m apart and it holds 28.
    for (delay, want) in [(TimeDelta::zero(), 29), (TimeDelta::minutes(4), 28)] {
        let history = simulate(&every, &r, Tz::UTC, from, to, delay);
        let after_first_week = from + TimeDelta::days(8);
        for (at, snaps) in history.range(after_first_week..) {
            assert_eq!(snaps.len(), want, "delay {delay}, at {at}");
        }
        let last = history.values().next_back().unwrap();
        assert!((28..=29).contains(&last.len()));
        assert_eq!(last.len(), want);
    }
}

#[test]
fn simulate_daily_weekly_monthly() {
    let from = utc("2026-01-01T00:00:00Z");
    let to = utc("2026-12-31T23:59:00Z");
    let r = KeepRules {
        daily: 7,
        weekly: 4,
        monthly: 12,
        ..rules()
    };
    let cron = Schedule::Cron(Box::new(
        CronSchedule::parse("0 3 * * *", CronStart::NextSlot).unwrap(),
    ));
    let history = simulate(&cron, &r, Tz::UTC, from, to, TimeDelta::zero());
    let days_kept = |at: &str| -> Vec<String> {
        history[&utc(at)]
            .iter()
            .map(|s| s.created.format("%m-%d").to_string())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    // Sunday 2026-03-15: days Mar 9-15; weeks ending Mar 8, Mar 1, Feb 22;
    // months Feb (28th) and Jan (31st).
    assert_eq!(
        days_kept("2026-03-15T03:00:00Z"),
        [
            "01-31", "02-22", "02-28", "03-01", "03-08", "03-09", "03-10", "03-11", "03-12",
            "03-13", "03-14", "03-15"
        ]
    );
    // Thursday 2026-12-31 (ISO 2026-W53): days Dec 25-31; weeks ending Dec 27,
    // Dec 20, Dec 13; the last day of every month.
    assert_eq!(
        days_kept("2026-12-31T03:00:00Z"),
        [
            "01-31", "02-28", "03-31", "04-30", "05-31", "06-30", "07-31", "08-31", "09-30",
            "10-31", "11-30", "12-13", "12-20", "12-25", "12-26", "12-27", "12-28", "12-29",
            "12-30", "12-31"
        ]
    );
    // In steady state the group never grows past 7 + 3 + 11 + 1.
    assert!(history.values().all(|g| g.len() <= 22));
    assert_eq!(history.len(), 365);
}

#[test]
fn daemon_down_for_a_month_keeps_the_last_week() {
    // Snapshots stopped on 2026-10-23; a decision on any later day keeps the
    // last 7 days that exist.
    let r = KeepRules {
        within: Some(days(7)),
        ..rules()
    };
    let base = utc("2026-10-23T00:00:00Z");
    let snaps: Vec<SnapshotInfo> = (0..40)
        .map(|k| {
            ours_at(
                &format!("s{k:02}"),
                base - TimeDelta::hours(6 * k),
                SnapState::Complete,
            )
        })
        .collect();
    let got = decide(&group(), &r, 100, Tz::UTC, &snaps).unwrap();
    assert_eq!(kept(&got).len(), 29);
    assert_eq!(deleted(&got).len(), 11);
}
