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
