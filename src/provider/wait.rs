//! Waiting for a snapshot to finish: poll with growing intervals until done,
//! failed, cancelled, or a deadline sized to the disk.
//!
//! Owns the polling loop shared by every provider. Must never: report a
//! time-out or a cancellation as a failure (it is "unknown": look again next
//! cycle, do not create again), or read the wall clock (it uses tokio's
//! clock, so paused-time tests can drive it).

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Pending, Progress, Provider};

/// How to poll and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitOptions {
    /// Wait before the first look.
    pub first_interval: Duration,
    /// Intervals grow by `growth` up to this.
    pub max_interval: Duration,
    /// Interval multiplier after each look (at least 1).
    pub growth: f64,
    /// Deadline for any snapshot ...
    pub base_deadline: Duration,
    /// ... plus this much per GB of disk.
    pub per_gb: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            first_interval: Duration::from_secs(5),
            max_interval: Duration::from_secs(60),
            growth: 1.5,
            base_deadline: Duration::from_secs(10 * 60),
            per_gb: Duration::from_secs(3 * 60),
        }
    }
}

impl WaitOptions {
    /// The deadline for a disk of `disk_gb`.
    pub fn deadline(&self, disk_gb: u64) -> Duration {
        self.base_deadline.saturating_add(
            self.per_gb
                .saturating_mul(u32::try_from(disk_gb).unwrap_or(u32::MAX)),
        )
    }

    /// The interval after `interval`.
    pub fn next_interval(&self, interval: Duration) -> Duration {
        interval
            .mul_f64(self.growth.max(1.0))
            .min(self.max_interval)
            .max(self.first_interval.min(self.max_interval))
    }
}

/// How a wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The snapshot is complete.
    Done {
        /// Its provider id.
        snapshot_id: String,
    },
    /// The provider says it failed.
    Failed {
        /// The provider's words.
        reason: String,
    },
    /// We do not know: the deadline passed, the wait was cancelled, or the
    /// provider could not be asked. Do not create again; look next cycle.
    Unknown {
        /// Why we do not know.
        reason: String,
    },
}

/// Poll `pending` until it finishes. `on_progress` sees every answer with the
/// time waited so far. Transient poll errors (busy, rate limited, server or
/// transport trouble) are tolerated until the deadline; any other error ends
/// the wait as [`WaitOutcome::Unknown`], as do the deadline and `cancel`.
pub async fn wait(
    provider: &dyn Provider,
    pending: &Pending,
    opts: &WaitOptions,
    cancel: &CancellationToken,
    mut on_progress: impl FnMut(&Progress, Duration),
) -> WaitOutcome {
    let start = Instant::now();
    let deadline = start + opts.deadline(pending.disk_gb);
    let mut interval = opts.first_interval;
    let mut first = true;
    loop {
        // Volume snapshots and other synchronous creates finish at once, so
        // the first look happens without a delay.
        if !first {
            let now = Instant::now();
            if now >= deadline {
                return WaitOutcome::Unknown {
                    reason: format!("still not finished after {}s", (now - start).as_secs()),
                };
            }
            let sleep_until = (now + interval).min(deadline);
            tokio::select! {
                () = cancel.cancelled() => {
                    return WaitOutcome::Unknown { reason: "stopped waiting at shutdown".into() };
                }
                () = tokio::time::sleep_until(sleep_until) => {}
            }
            interval = opts.next_interval(interval);
        }
        first = false;
        let result = tokio::select! {
            () = cancel.cancelled() => {
                return WaitOutcome::Unknown { reason: "stopped waiting at shutdown".into() };
            }
            r = provider.poll(pending) => r,
        };
        match result {
            Ok(progress) => {
                on_progress(&progress, start.elapsed());
                match progress {
                    Progress::Running { .. } => {}
                    Progress::Done { snapshot_id } => return WaitOutcome::Done { snapshot_id },
                    Progress::Failed { reason } => return WaitOutcome::Failed { reason },
                }
            }
            Err(e) if e.is_retryable() => {
                tracing::warn!(
                    account = %e.account,
                    resource = %pending.resource_id,
                    error = %e,
                    "snapshot poll failed, will look again"
                );
                if Instant::now() >= deadline {
                    return WaitOutcome::Unknown {
                        reason: format!("deadline passed; last poll failed: {e}"),
                    };
                }
            }
            Err(e) => {
                return WaitOutcome::Unknown {
                    reason: format!("cannot poll: {e}"),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use chrono::TimeZone;

    use super::*;
    use crate::config::{ProviderKind, TargetKind};
    use crate::provider::{
        Error, ErrorKind, InProgress, Inventory, ListScope, Resource, Result, Snapshot,
        SnapshotName,
    };

    /// Answers polls from a script and records when each poll happened.
    struct Scripted {
        answers: Mutex<Vec<Result<Progress>>>,
        at: Mutex<Vec<Duration>>,
        start: Instant,
    }

    fn err(kind: ErrorKind) -> Error {
        Error {
            kind,
            account: "a".into(),
            operation: "check the snapshot".into(),
            status: None,
            code: None,
            message: "scripted".into(),
            request_id: None,
        }
    }

    #[async_trait::async_trait]
    impl Provider for Scripted {
        fn kind(&self) -> ProviderKind {
            ProviderKind::Hetzner
        }
        async fn list_resources(&self, _: TargetKind) -> Result<Vec<Resource>> {
            Err(err(ErrorKind::Rejected))
        }
        async fn list_snapshots(&self, _: TargetKind, _: ListScope<'_>) -> Result<Vec<Snapshot>> {
            Err(err(ErrorKind::Rejected))
        }
        async fn in_progress(&self, _: &Resource, _: &[Snapshot]) -> Result<Vec<InProgress>> {
            Err(err(ErrorKind::Rejected))
        }
        async fn create_snapshot(
            &self,
            _: &Resource,
            _: &SnapshotName,
            _: &[String],
        ) -> Result<Pending> {
            Err(err(ErrorKind::Rejected))
        }
        async fn poll(&self, _: &Pending) -> Result<Progress> {
            self.at.lock().unwrap().push(self.start.elapsed());
            let mut answers = self.answers.lock().unwrap();
            if answers.is_empty() {
                Ok(Progress::Running { percent: None })
            } else {
                answers.remove(0)
            }
        }
        async fn delete_snapshot(&self, _: &Snapshot) -> Result<()> {
            Err(err(ErrorKind::Rejected))
        }
        async fn inventory(&self) -> Result<Inventory> {
            Err(err(ErrorKind::Rejected))
        }
    }

    fn scripted(answers: Vec<Result<Progress>>) -> Scripted {
        Scripted {
            answers: Mutex::new(answers),
            at: Mutex::new(Vec::new()),
            start: Instant::now(),
        }
    }

    fn pending(disk_gb: u64) -> Pending {
        Pending {
            resource_id: "42".into(),
            kind: TargetKind::Server,
            name: "n".into(),
            snapshot_id: Some("7".into()),
            action_id: Some("8".into()),
            started: chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            disk_gb,
            ready: false,
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn deadline_and_intervals() {
        let o = WaitOptions::default();
        assert_eq!(o.deadline(0), secs(600));
        assert_eq!(o.deadline(40), secs(600 + 40 * 180));
        let mut i = o.first_interval;
        let mut seen = vec![i];
        for _ in 0..8 {
            i = o.next_interval(i);
            seen.push(i);
        }
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
        assert_eq!(seen.last(), Some(&secs(60)));
    }

    #[tokio::test(start_paused = true)]
    async fn polls_with_growing_intervals_until_done() {
        let p = scripted(vec![
            Ok(Progress::Running { percent: Some(10) }),
            Ok(Progress::Running { percent: Some(50) }),
            Err(err(ErrorKind::Server)),
            Ok(Progress::Running { percent: Some(90) }),
            Ok(Progress::Done {
                snapshot_id: "7".into(),
            }),
        ]);
        let mut seen = Vec::new();
        let outcome = wait(
            &p,
            &pending(10),
            &WaitOptions::default(),
            &CancellationToken::new(),
            |progress, _| seen.push(progress.clone()),
        )
        .await;
        assert_eq!(
            outcome,
            WaitOutcome::Done {
                snapshot_id: "7".into()
            }
        );
        assert_eq!(seen.len(), 4, "the failed poll is not reported as progress");
        let at = p.at.lock().unwrap().clone();
        // First look at once, then 5 s, 7.5 s, 11.25 s, 16.875 s apart.
        let gaps: Vec<u128> = at.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
        assert_eq!(at[0], Duration::ZERO);
        assert_eq!(gaps, vec![5000, 7500, 11250, 16875]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_is_unknown_never_failed() {
        let p = scripted(Vec::new());
        let opts = WaitOptions {
            base_deadline: secs(120),
            per_gb: secs(10),
            ..WaitOptions::default()
        };
        let outcome = wait(&p, &pending(3), &opts, &CancellationToken::new(), |_, _| {}).await;
        assert!(
            matches!(outcome, WaitOutcome::Unknown { .. }),
            "{outcome:?}"
        );
        let last = *p.at.lock().unwrap().last().unwrap();
        assert!(last <= secs(150), "{last:?}");
        assert!(last >= secs(100), "{last:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn failures_cancellation_and_hard_errors() {
        let p = scripted(vec![Ok(Progress::Failed {
            reason: "disk error".into(),
        })]);
        let cancel = CancellationToken::new();
        let outcome = wait(&p, &pending(1), &WaitOptions::default(), &cancel, |_, _| {}).await;
        assert_eq!(
            outcome,
            WaitOutcome::Failed {
                reason: "disk error".into()
            }
        );

        let p = scripted(vec![Err(err(ErrorKind::Unauthorized))]);
        let outcome = wait(&p, &pending(1), &WaitOptions::default(), &cancel, |_, _| {}).await;
        assert!(matches!(outcome, WaitOutcome::Unknown { .. }));
        assert_eq!(p.at.lock().unwrap().len(), 1);

        let p = scripted(Vec::new());
        let stop = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(secs(30)).await;
            stop.cancel();
        });
        let outcome = wait(
            &p,
            &pending(100),
            &WaitOptions::default(),
            &cancel,
            |_, _| {},
        )
        .await;
        assert_eq!(
            outcome,
            WaitOutcome::Unknown {
                reason: "stopped waiting at shutdown".into()
            }
        );
        assert!(p.at.lock().unwrap().len() <= 4);
    }
}
