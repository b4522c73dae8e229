//! Schedules: is a resource due for a snapshot, and when is it next due.
//!
//! Owns the meaning of `every:` and `cron:` and the DST rules for cron slots.
//! Must never: read the clock (`now` is a parameter), or ask for more than one
//! snapshot at a time: after any downtime the verdict is "due" once, and the
//! snapshot taken then moves the next due time past `now` (no burst).
//!
//! Cron slots are computed on the wall clock of the policy's time zone and then
//! mapped to instants:
//! - a slot that falls into a DST gap (the skipped hour) fires at the first
//!   instant after the gap; several such slots, and a slot right at the end of
//!   the gap, are one firing;
//! - a slot in the repeated hour fires once, at its first occurrence.

use std::time::Duration;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::{CronSchedule, CronStart, GroupKey, Schedule, SnapState, SnapshotInfo, short_duration};

/// Bound on the slots stepped over while looking for the next one (the
/// repeated hour of an every-minute line is 60 of them).
const MAX_SLOT_STEPS: usize = 10_000;
/// Longest DST gap searched (Samoa skipped a whole day in 2011).
const MAX_GAP_MINUTES: i64 = 3 * 24 * 60;

/// The schedule's verdict for one resource at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueState {
    /// A snapshot should be taken now.
    pub due: bool,
    /// When the next snapshot is due (equal to or before `now` when `due`).
    /// [`DateTime::<Utc>::MAX_UTC`] when a cron line never matches again.
    pub next: DateTime<Utc>,
    /// Why, in words, for `plan` and the logs.
    pub reason: String,
}

/// Evaluate a schedule.
///
/// `newest` is the creation time of the newest managed snapshot of the
/// resource, complete or in progress; `started` is when the policy began
/// running (daemon start or the policy's load), the anchor for a cron policy's
/// first slot when no snapshot exists yet.
///
/// - `every: D`: due when there is no snapshot, or the newest is at least `D`
///   old; `next` is `newest + D`.
/// - `cron`: due when a slot has passed since `newest`; `next` is the first
///   slot after `newest`. Without a snapshot: due at once with `start: now`,
///   otherwise at the first slot after `started`.
pub fn evaluate(
    schedule: &Schedule,
    tz: Tz,
    newest: Option<DateTime<Utc>>,
    started: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DueState {
    match schedule {
        Schedule::Every(every) => evaluate_every(*every, newest, now),
        Schedule::Cron(cron) => evaluate_cron(cron, tz, newest, started, now),
    }
}

fn evaluate_every(every: Duration, newest: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DueState {
    let every_text = short_duration(every);
    let Some(newest) = newest else {
        return DueState {
            due: true,
            next: now,
            reason: format!("no managed snapshot yet (every {every_text})"),
        };
    };
    let step = TimeDelta::from_std(every).unwrap_or(TimeDelta::MAX);
    let next = newest
        .checked_add_signed(step)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let age = match (now - newest).to_std() {
        Ok(age) => format!("is {} old", short_duration(age)),
        Err(_) => format!(
            "is dated {} after now",
            short_duration((newest - now).to_std().unwrap_or_default())
        ),
    };
    if next <= now {
        let overdue = (now - next).to_std().unwrap_or_default();
        let catch_up = if overdue >= every && !every.is_zero() {
            "; one catch-up snapshot for the missed runs"
        } else {
            ""
        };
        DueState {
            due: true,
            next,
            reason: format!("newest snapshot {age} (every {every_text}){catch_up}"),
        }
    } else {
        DueState {
            due: false,
            next,
            reason: format!(
                "newest snapshot {age} (every {every_text}); next at {}",
                utc_text(next)
            ),
        }
    }
}

fn evaluate_cron(
    cron: &CronSchedule,
    tz: Tz,
    newest: Option<DateTime<Utc>>,
    started: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DueState {
    let never = |what: &str| DueState {
        due: false,
        next: DateTime::<Utc>::MAX_UTC,
        reason: format!("cron {:?} has no slot after {what}", cron.expr),
    };
    match newest {
        None if cron.start == CronStart::Now => DueState {
            due: true,
            next: now,
            reason: format!("no managed snapshot yet (cron {:?}, start: now)", cron.expr),
        },
        None => match next_slot(cron, tz, started) {
            None => never(&local_text(started, tz)),
            Some(slot) if slot <= now => DueState {
                due: true,
                next: slot,
                reason: format!(
                    "first slot {} after start {} has passed (cron {:?})",
                    local_text(slot, tz),
                    local_text(started, tz),
                    cron.expr
                ),
            },
            Some(slot) => DueState {
                due: false,
                next: slot,
                reason: format!(
                    "no managed snapshot yet; first slot at {} (cron {:?})",
                    local_text(slot, tz),
                    cron.expr
                ),
            },
        },
        Some(newest) => match next_slot(cron, tz, newest) {
            None => never(&format!("the newest snapshot {}", local_text(newest, tz))),
            Some(slot) if slot <= now => {
                let missed = next_slot(cron, tz, slot).is_some_and(|later| later <= now);
                let catch_up = if missed {
                    "; one catch-up snapshot for the missed slots"
                } else {
                    ""
                };
                DueState {
                    due: true,
                    next: slot,
                    reason: format!(
                        "slot {} passed since the newest snapshot {} (cron {:?}){catch_up}",
                        local_text(slot, tz),
                        local_text(newest, tz),
                        cron.expr
                    ),
                }
            }
            Some(slot) => DueState {
                due: false,
                next: slot,
                reason: format!(
                    "newest snapshot {}; next slot at {} (cron {:?})",
                    local_text(newest, tz),
                    local_text(slot, tz),
                    cron.expr
                ),
            },
        },
    }
}

/// The `newest` input of [`evaluate`]: the creation time of the newest
/// snapshot carrying `group`'s marker that is complete or still in progress.
/// Failed snapshots do not count, so a failed run is retried at the next
/// evaluation; snapshots of other groups and unmarked ones never count, nor
/// do suspect ones (a time that cannot be trusted never moves the schedule).
pub fn newest_managed(group: &GroupKey, snapshots: &[SnapshotInfo]) -> Option<DateTime<Utc>> {
    snapshots
        .iter()
        .filter(|s| s.state != SnapState::Failed && s.suspect.is_none())
        .filter(|s| s.marker.as_ref().is_some_and(|m| group.owns(m)))
        .map(|s| s.created)
        .max()
}

/// The first instant strictly after `after` at which a cron slot fires, in
/// time zone `tz`, with the DST rules of this module; `None` when the line
/// never matches again.
pub fn next_slot(cron: &CronSchedule, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local = after.with_timezone(&tz).naive_local();
    // Wall times before `local` map to instants at or before `after`
    // (the mapping is monotonic), so the search can start at `local`.
    let mut cursor = local.with_nanosecond(0)?;
    let mut inclusive = true;
    for _ in 0..MAX_SLOT_STEPS {
        let slot = cron.cron.find_next_occurrence(&cursor, inclusive).ok()?;
        let at = fire_instant(tz, slot)?;
        if at > after {
            return Some(at);
        }
        cursor = slot;
        inclusive = false;
    }
    None
}

/// The instant a wall-clock slot fires: the only one, the earlier of two in
/// the repeated hour, or the first instant after a gap.
fn fire_instant(tz: Tz, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(dt) | LocalResult::Ambiguous(dt, _) => Some(dt.with_timezone(&Utc)),
        LocalResult::None => {
            let start = wall.with_second(0)?;
            (1..=MAX_GAP_MINUTES).find_map(|m| {
                let probe = start.checked_add_signed(TimeDelta::minutes(m))?;
                tz.from_local_datetime(&probe)
                    .earliest()
                    .map(|dt| dt.with_timezone(&Utc))
            })
        }
    }
}

fn utc_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn local_text(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn cron(expr: &str) -> Schedule {
        Schedule::Cron(Box::new(
            CronSchedule::parse(expr, CronStart::NextSlot).unwrap(),
        ))
    }

    fn cron_now(expr: &str) -> Schedule {
        Schedule::Cron(Box::new(CronSchedule::parse(expr, CronStart::Now).unwrap()))
    }

    fn hours(h: u64) -> Duration {
        Duration::from_secs(h * 3600)
    }

    /// (what, schedule, tz, newest, started, now, due, next)
    type Case<'a> = (
        &'a str,
        Schedule,
        Tz,
        Option<&'a str>,
        &'a str,
        &'a str,
        bool,
        &'a str,
    );

    fn run(cases: Vec<Case<'_>>) {
        for (what, schedule, tz, newest, started, now, due, next) in cases {
            let got = evaluate(&schedule, tz, newest.map(utc), utc(started), utc(now));
            assert_eq!(
                (got.due, got.next),
                (due, utc(next)),
                "{what}: reason {:?}",
                got.reason
            );
            assert!(!got.reason.is_empty(), "{what}");
            if got.due {
                assert!(got.next <= utc(now), "{what}: due but next after now");
            } else {
                assert!(
                    got.next > utc(now),
                    "{what}: not due but next not after now"
                );
            }
        }
    }

    #[test]
    fn every_cases() {
        let s = "2026-11-01T00:00:00Z";
        run(vec![
            (
                "none yet",
                Schedule::Every(hours(6)),
                Tz::UTC,
                None,
                s,
                "2026-11-23T00:00:00Z",
                true,
                "2026-11-23T00:00:00Z",
            ),
            (
                "younger",
                Schedule::Every(hours(6)),
                Tz::UTC,
                Some("2026-11-23T00:00:00Z"),
                s,
                "2026-11-23T05:59:59Z",
                false,
                "2026-11-23T06:00:00Z",
            ),
            (
                "exactly",
                Schedule::Every(hours(6)),
                Tz::UTC,
                Some("2026-11-23T00:00:00Z"),
                s,
                "2026-11-23T06:00:00Z",
                true,
                "2026-11-23T06:00:00Z",
            ),
            (
                "older",
                Schedule::Every(hours(6)),
                Tz::UTC,
                Some("2026-11-23T00:00:00Z"),
                s,
                "2026-11-23T07:00:00Z",
                true,
                "2026-11-23T06:00:00Z",
            ),
            (
                "downtime: one catch-up",
                Schedule::Every(hours(6)),
                Tz::UTC,
                Some("2026-11-01T00:00:00Z"),
                s,
                "2026-11-23T07:00:00Z",
                true,
                "2026-11-01T06:00:00Z",
            ),
            (
                "after catch-up not due",
                Schedule::Every(hours(6)),
                Tz::UTC,
                Some("2026-11-23T07:00:00Z"),
                s,
                "2026-11-23T07:00:01Z",
                false,
                "2026-11-23T13:00:00Z",
            ),
            (
                "newest in the future",
                Schedule::Every(hours(6)),
                Tz::UTC,
                Some("2026-11-23T08:00:00Z"),
                s,
                "2026-11-23T07:00:00Z",
                false,
                "2026-11-23T14:00:00Z",
            ),
            (
                "time zone ignored",
                Schedule::Every(hours(24)),
                Tz::Europe__Berlin,
                Some("2026-03-28T12:00:00Z"),
                s,
                "2026-03-29T11:00:00Z",
                false,
                "2026-03-29T12:00:00Z",
            ),
        ]);
    }

    #[test]
    fn cron_cases() {
        let daily = "30 3 * * *";
        run(vec![
            (
                "first run waits for slot",
                cron(daily),
                Tz::UTC,
                None,
                "2026-11-23T10:00:00Z",
                "2026-11-23T10:00:00Z",
                false,
                "2026-11-24T03:30:00Z",
            ),
            (
                "first slot reached",
                cron(daily),
                Tz::UTC,
                None,
                "2026-11-23T10:00:00Z",
                "2026-11-24T03:30:00Z",
                true,
                "2026-11-24T03:30:00Z",
            ),
            (
                "started on a slot waits for the next",
                cron(daily),
                Tz::UTC,
                None,
                "2026-11-23T03:30:00Z",
                "2026-11-23T03:30:00Z",
                false,
                "2026-11-24T03:30:00Z",
            ),
            (
                "start now",
                cron_now(daily),
                Tz::UTC,
                None,
                "2026-11-23T10:00:00Z",
                "2026-11-23T10:00:00Z",
                true,
                "2026-11-23T10:00:00Z",
            ),
            (
                "start now only without snapshot",
                cron_now(daily),
                Tz::UTC,
                Some("2026-11-23T09:00:00Z"),
                "2026-11-23T10:00:00Z",
                "2026-11-23T10:00:00Z",
                false,
                "2026-11-24T03:30:00Z",
            ),
            (
                "slot passed",
                cron(daily),
                Tz::UTC,
                Some("2026-11-22T03:30:05Z"),
                "2026-11-01T00:00:00Z",
                "2026-11-23T03:31:00Z",
                true,
                "2026-11-23T03:30:00Z",
            ),
            (
                "slot not yet",
                cron(daily),
                Tz::UTC,
                Some("2026-11-22T03:30:05Z"),
                "2026-11-01T00:00:00Z",
                "2026-11-23T03:29:59Z",
                false,
                "2026-11-23T03:30:00Z",
            ),
            (
                "snapshot right after slot",
                cron(daily),
                Tz::UTC,
                Some("2026-11-23T03:30:00Z"),
                "2026-11-01T00:00:00Z",
                "2026-11-23T03:30:10Z",
                false,
                "2026-11-24T03:30:00Z",
            ),
            (
                "downtime: one catch-up",
                cron(daily),
                Tz::UTC,
                Some("2026-10-01T03:30:00Z"),
                "2026-11-01T00:00:00Z",
                "2026-11-23T12:00:00Z",
                true,
                "2026-10-02T03:30:00Z",
            ),
            (
                "catch-up taken, not due again",
                cron(daily),
                Tz::UTC,
                Some("2026-11-23T12:00:00Z"),
                "2026-11-01T00:00:00Z",
                "2026-11-23T12:00:01Z",
                false,
                "2026-11-24T03:30:00Z",
            ),
            (
                "time zone Berlin winter",
                cron(daily),
                Tz::Europe__Berlin,
                Some("2026-11-22T02:30:00Z"),
                "2026-11-01T00:00:00Z",
                "2026-11-23T00:00:00Z",
                false,
                "2026-11-23T02:30:00Z",
            ),
            (
                "time zone New York",
                cron(daily),
                Tz::America__New_York,
                Some("2026-11-22T08:30:00Z"),
                "2026-11-01T00:00:00Z",
                "2026-11-23T00:00:00Z",
                false,
                "2026-11-23T08:30:00Z",
            ),
            (
                "sunday as 0",
                cron("0 4 * * 0"),
                Tz::UTC,
                Some("2026-11-22T04:00:00Z"),
                "2026-11-01T00:00:00Z",
                "2026-11-23T00:00:00Z",
                false,
                "2026-11-29T04:00:00Z",
            ),
            (
                "sunday as 7",
                cron("0 4 * * 7"),
                Tz::UTC,
                Some("2026-11-22T04:00:00Z"),
                "2026-11-01T00:00:00Z",
                "2026-11-23T00:00:00Z",
                false,
                "2026-11-29T04:00:00Z",
            ),
            (
                "monday is 1",
                cron("0 4 * * 1"),
                Tz::UTC,
                Some("2026-11-22T04:00:00Z"),
                "2026-11-01T00:00:00Z",
                "2026-11-22T05:00:00Z",
                false,
                "2026-11-23T04:00:00Z",
            ),
            (
                "every 6 hours",
                cron("0 */6 * * *"),
                Tz::UTC,
                Some("2026-11-23T06:00:01Z"),
                "2026-11-01T00:00:00Z",
                "2026-11-23T07:00:00Z",
                false,
                "2026-11-23T12:00:00Z",
            ),
            (
                "first of month",
                cron("0 0 1 * *"),
                Tz::UTC,
                Some("2026-11-01T00:00:00Z"),
                "2026-11-01T00:00:00Z",
                "2026-11-23T07:00:00Z",
                false,
                "2026-12-01T00:00:00Z",
            ),
            (
                "day-of-month or day-of-week",
                cron("0 4 1 * 1"),
                Tz::UTC,
                Some("2026-11-30T04:00:00Z"),
                "2026-11-01T00:00:00Z",
                "2026-11-30T05:00:00Z",
                false,
                "2026-12-01T04:00:00Z",
            ),
            (
                "leap day only",
                cron("0 0 29 2 *"),
                Tz::UTC,
                Some("2026-11-01T00:00:00Z"),
                "2026-11-01T00:00:00Z",
                "2026-11-23T07:00:00Z",
                false,
                "2028-02-29T00:00:00Z",
            ),
        ]);
    }

    #[test]
    fn cron_that_never_matches_is_never_due() {
        let got = evaluate(
            &cron("0 0 31 2 *"),
            Tz::UTC,
            None,
            utc("2026-11-01T00:00:00Z"),
            utc("2026-11-23T00:00:00Z"),
        );
        assert!(!got.due);
        assert_eq!(got.next, DateTime::<Utc>::MAX_UTC);
        assert!(got.reason.contains("no slot"), "{}", got.reason);
    }

    /// Every slot a cron line fires in `[from, to)`, by stepping `next_slot`.
    fn firings(expr: &str, tz: Tz, from: &str, to: &str) -> Vec<DateTime<Utc>> {
        let c = CronSchedule::parse(expr, CronStart::NextSlot).unwrap();
        let mut out = Vec::new();
        let mut t = utc(from) - TimeDelta::seconds(1);
        while let Some(next) = next_slot(&c, tz, t) {
            if next >= utc(to) {
                break;
            }
            out.push(next);
            t = next;
        }
        out
    }

    fn all(list: &[&str]) -> Vec<DateTime<Utc>> {
        list.iter().map(|s| utc(s)).collect()
    }

    #[test]
    fn dst_berlin_spring_forward() {
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00Z).
        let tz = Tz::Europe__Berlin;
        let (from, to) = ("2026-03-28T22:00:00Z", "2026-03-29T03:00:00Z");
        // A daily slot in the skipped hour fires once, right after the gap.
        assert_eq!(
            firings("30 2 * * *", tz, from, to),
            all(&["2026-03-29T01:00:00Z"])
        );
        // Two slots in the gap and the one at its end are one firing.
        assert_eq!(
            firings("0,30 2,3 * * *", tz, from, to),
            all(&["2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"])
        );
        // Hourly: the skipped 02:00 is the 03:00 firing.
        assert_eq!(
            firings("0 * * * *", tz, from, to),
            all(&[
                "2026-03-28T22:00:00Z",
                "2026-03-28T23:00:00Z",
                "2026-03-29T00:00:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-29T02:00:00Z"
            ])
        );
        // Slots outside the gap are untouched, on both sides of the change.
        assert_eq!(
            firings(
                "30 3 * * *",
                tz,
                "2026-03-28T00:00:00Z",
                "2026-03-30T00:00:00Z"
            ),
            all(&["2026-03-28T02:30:00Z", "2026-03-29T01:30:00Z"])
        );
        // The daily slot in the gap fires on the next day at its normal time.
        assert_eq!(
            firings(
                "30 2 * * *",
                tz,
                "2026-03-29T02:00:00Z",
                "2026-03-31T00:00:00Z"
            ),
            all(&["2026-03-30T00:30:00Z"])
        );
    }

    #[test]
    fn dst_berlin_fall_back() {
        // 2026-10-25: 03:00 CEST goes back to 02:00 CET (01:00Z); 02:xx repeats.
        let tz = Tz::Europe__Berlin;
        let (from, to) = ("2026-10-24T22:00:00Z", "2026-10-25T03:00:00Z");
        assert_eq!(
            firings("30 2 * * *", tz, from, to),
            all(&["2026-10-25T00:30:00Z"])
        );
        assert_eq!(
            firings("0 * * * *", tz, from, to),
            all(&[
                "2026-10-24T22:00:00Z",
                "2026-10-24T23:00:00Z",
                "2026-10-25T00:00:00Z",
                "2026-10-25T02:00:00Z"
            ])
        );
        assert_eq!(
            firings("*/30 2 * * *", tz, from, to),
            all(&["2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z"])
        );
        // A snapshot taken in the second 02:xx is not followed by a repeat.
        let c = cron("30 2 * * *");
        let got = evaluate(
            &c,
            tz,
            Some(utc("2026-10-25T00:30:00Z")),
            utc(from),
            utc("2026-10-25T01:45:00Z"),
        );
        assert!(!got.due, "{}", got.reason);
        assert_eq!(got.next, utc("2026-10-26T01:30:00Z"));
    }

    #[test]
    fn dst_new_york_spring_forward() {
        // 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00Z).
        let tz = Tz::America__New_York;
        let (from, to) = ("2026-03-08T04:00:00Z", "2026-03-08T09:00:00Z");
        assert_eq!(
            firings("30 2 * * *", tz, from, to),
            all(&["2026-03-08T07:00:00Z"])
        );
        assert_eq!(
            firings("15 2 * * 0", tz, from, to),
            all(&["2026-03-08T07:00:00Z"])
        );
        assert_eq!(
            firings("0 * * * *", tz, "2026-03-08T05:30:00Z", to),
            all(&[
                "2026-03-08T06:00:00Z",
                "2026-03-08T07:00:00Z",
                "2026-03-08T08:00:00Z"
            ])
        );
        // Due right after the gap, not before.
        let c = cron("30 2 * * *");
        let newest = Some(utc("2026-03-07T07:30:00Z"));
        assert!(!evaluate(&c, tz, newest, utc(from), utc("2026-03-08T06:59:59Z")).due);
        assert!(evaluate(&c, tz, newest, utc(from), utc("2026-03-08T07:00:00Z")).due);
    }

    #[test]
    fn dst_new_york_fall_back() {
        // 2026-11-01: 02:00 EDT goes back to 01:00 EST (06:00Z); 01:xx repeats.
        let tz = Tz::America__New_York;
        let (from, to) = ("2026-11-01T04:00:00Z", "2026-11-01T09:00:00Z");
        assert_eq!(
            firings("30 1 * * *", tz, from, to),
            all(&["2026-11-01T05:30:00Z"])
        );
        assert_eq!(
            firings("0 * * * *", tz, from, to),
            all(&[
                "2026-11-01T04:00:00Z",
                "2026-11-01T05:00:00Z",
                "2026-11-01T07:00:00Z",
                "2026-11-01T08:00:00Z"
            ])
        );
        // From inside the repeated hour, the next 01:30 is the next day's.
        let c = CronSchedule::parse("30 1 * * *", CronStart::NextSlot).unwrap();
        assert_eq!(
            next_slot(&c, tz, utc("2026-11-01T06:10:00Z")),
            Some(utc("2026-11-02T06:30:00Z"))
        );
    }

    /// Why slots are computed on the wall clock here instead of with croner's
    /// own `DateTime<Tz>` search: croner runs a non-fixed line (`0 * * * *`)
    /// on both instants of the repeated hour, and drops a non-fixed line's
    /// slots in the gap (`0,30 2 * * *` would not run that day at all).
    #[test]
    fn croner_alone_would_break_the_dst_rules() {
        let tz = Tz::Europe__Berlin;
        let hourly = CronSchedule::parse("0 * * * *", CronStart::NextSlot).unwrap();
        let start = utc("2026-10-25T00:30:00Z").with_timezone(&tz);
        let croner_next = hourly.cron.find_next_occurrence(&start, false).unwrap();
        assert_eq!(croner_next.with_timezone(&Utc), utc("2026-10-25T01:00:00Z"));
        assert_eq!(
            next_slot(&hourly, tz, utc("2026-10-25T00:30:00Z")),
            Some(utc("2026-10-25T02:00:00Z"))
        );

        let twice = CronSchedule::parse("0,30 2 * * *", CronStart::NextSlot).unwrap();
        let start = utc("2026-03-28T23:00:00Z").with_timezone(&tz);
        let croner_next = twice.cron.find_next_occurrence(&start, false).unwrap();
        assert_eq!(croner_next.with_timezone(&Utc), utc("2026-03-30T00:00:00Z"));
        assert_eq!(
            next_slot(&twice, tz, utc("2026-03-28T23:00:00Z")),
            Some(utc("2026-03-29T01:00:00Z"))
        );
    }

    #[test]
    fn newest_managed_cases() {
        let g = GroupKey {
            account: "a".into(),
            policy: "p".into(),
            resource_id: "1".into(),
        };
        let snap = |id: &str, at: &str, state: SnapState, policy: Option<&str>| SnapshotInfo {
            id: id.into(),
            created: utc(at),
            state,
            marker: policy.map(|p| crate::policy::Marker {
                account: "a".into(),
                policy: p.into(),
                resource_id: "1".into(),
                created: utc(at),
            }),
            suspect: None,
        };
        let cases = [
            (vec![], None),
            (
                vec![snap("x", "2026-11-23T00:00:00Z", SnapState::Complete, None)],
                None,
            ),
            (
                vec![snap(
                    "x",
                    "2026-11-23T00:00:00Z",
                    SnapState::Complete,
                    Some("q"),
                )],
                None,
            ),
            (
                vec![snap(
                    "x",
                    "2026-11-23T00:00:00Z",
                    SnapState::Failed,
                    Some("p"),
                )],
                None,
            ),
            (
                vec![
                    snap("x", "2026-11-22T00:00:00Z", SnapState::Complete, Some("p")),
                    snap(
                        "y",
                        "2026-11-23T00:00:00Z",
                        SnapState::InProgress,
                        Some("p"),
                    ),
                    snap("z", "2026-11-24T00:00:00Z", SnapState::Failed, Some("p")),
                ],
                Some("2026-11-23T00:00:00Z"),
            ),
        ];
        for (snaps, want) in cases {
            assert_eq!(newest_managed(&g, &snaps), want.map(utc), "{snaps:?}");
        }
    }

    #[test]
    fn no_burst_after_downtime() {
        // Replays a daemon that checks every minute after a month of downtime:
        // exactly one snapshot at restart, then the normal rhythm.
        for schedule in [Schedule::Every(hours(6)), cron("0 */6 * * *")] {
            let started = utc("2026-11-01T00:00:00Z");
            let mut newest = Some(utc("2026-10-01T00:00:00Z"));
            let mut taken = Vec::new();
            let mut now = utc("2026-11-23T10:17:00Z");
            let end = now + TimeDelta::hours(12);
            while now < end {
                let state = evaluate(&schedule, Tz::UTC, newest, started, now);
                if state.due {
                    taken.push(now);
                    newest = Some(now);
                }
                now += TimeDelta::minutes(1);
            }
            assert_eq!(taken[0], utc("2026-11-23T10:17:00Z"), "{schedule:?}");
            let gaps: Vec<i64> = taken
                .windows(2)
                .map(|w| (w[1] - w[0]).num_minutes())
                .collect();
            assert!(gaps.iter().all(|g| *g >= 103), "{schedule:?}: {gaps:?}");
            assert!(taken.len() <= 3, "{schedule:?}: {taken:?}");
        }
    }
}
