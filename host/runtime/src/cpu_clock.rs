//! Guest CPU time, measured rather than estimated.
//!
//! Decision: the epoch ticks that enforce the per-call CPU budget count
//! 10 ms slices of time spent inside wasm, too coarse to report or compare.
//! What operators and benchmarks need is the CPU a call really burns, so a
//! call's future is wrapped in [`CpuMetered`], which reads the calling
//! thread's CPU clock around every poll. A call hops between tokio workers
//! across awaits, but each poll runs on one thread, so the sum of per-poll
//! deltas is the call's CPU: guest code plus the host glue it runs inline
//! (bindings, request building), and none of the time spent waiting on I/O.
//!
//! The same measure enforces the CPU budget. Threat: a guest that spends
//! its CPU where no epoch tick sees it, inside host calls (each `put-*`
//! makes the host lift and check its records), ran several times its
//! budget; and counting ticks charged a tick to every await that spanned
//! one, so a guest waiting on many slow answers was stopped for CPU it
//! never used. So a [`CallCpu`] shared with the Store tells the epoch
//! callback the call's CPU so far, the current poll included: guest code
//! and the host's work on the call's thread, never time spent pending.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

/// CPU time consumed so far by the calling thread.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID
    // exists on every Linux and macOS the host supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// One call's CPU so far, readable from inside the call (the epoch
/// callback runs within a poll, on the polling thread).
#[derive(Debug, Default)]
pub struct CallCpu {
    /// Nanoseconds of the polls that have ended.
    ended: AtomicU64,
    /// The polling thread's CPU clock when the current poll began, in
    /// nanoseconds; 0 between polls.
    poll_began: AtomicU64,
}

impl CallCpu {
    /// The call's CPU so far. Called from inside a poll, it includes the
    /// current poll up to now (the clock read is the calling thread's, and
    /// a poll runs on one thread); between polls, the ended polls only.
    pub fn spent(&self) -> Duration {
        let ended = self.ended.load(Ordering::Relaxed);
        let began = self.poll_began.load(Ordering::Relaxed);
        let current = if began == 0 {
            0
        } else {
            nanos(thread_cpu_time()).saturating_sub(began)
        };
        Duration::from_nanos(ended.saturating_add(current))
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A future that also reports the CPU time its polls consumed.
pub struct CpuMetered<F> {
    inner: Pin<Box<F>>,
    meter: Arc<CallCpu>,
}

impl<F: Future> CpuMetered<F> {
    /// Meters into `meter`, which others may read while the call runs.
    pub fn with_meter(inner: F, meter: Arc<CallCpu>) -> Self {
        Self {
            inner: Box::pin(inner),
            meter,
        }
    }
}

impl<F: Future> Future for CpuMetered<F> {
    type Output = (F::Output, Duration);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // At least 1 ns, so 0 keeps meaning "not in a poll".
        let before = nanos(thread_cpu_time()).max(1);
        self.meter.poll_began.store(before, Ordering::Relaxed);
        let polled = self.inner.as_mut().poll(cx);
        let delta = nanos(thread_cpu_time()).saturating_sub(before);
        self.meter.poll_began.store(0, Ordering::Relaxed);
        self.meter.ended.fetch_add(delta, Ordering::Relaxed);
        let spent = self.meter.spent();
        polled.map(|out| (out, spent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_work_done_in_polls_but_not_sleeping() {
        let sleeping = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let ((), spent) = CpuMetered::with_meter(sleeping, Arc::default()).await;
        assert!(spent < Duration::from_millis(25), "sleeping cost {spent:?}");

        let busy = async {
            let mut x = 0u64;
            for i in 0..20_000_000u64 {
                x = std::hint::black_box(x.wrapping_add(i * i));
            }
            tokio::task::yield_now().await;
            x
        };
        let (sum, spent) = CpuMetered::with_meter(busy, Arc::default()).await;
        assert_ne!(sum, 1);
        assert!(spent > Duration::from_millis(1), "busy loop cost {spent:?}");
    }

    /// Read from inside a poll, the meter includes the poll so far; what a
    /// call spends pending is never counted.
    #[tokio::test]
    async fn the_meter_counts_the_current_poll_and_not_waiting() {
        let meter = Arc::new(CallCpu::default());
        let inside = meter.clone();
        let ((during, after_sleep), total) = CpuMetered::with_meter(
            async move {
                let mut x = 0u64;
                for i in 0..20_000_000u64 {
                    x = std::hint::black_box(x.wrapping_add(i * i));
                }
                let during = inside.spent();
                tokio::time::sleep(Duration::from_millis(100)).await;
                let after_sleep = inside.spent();
                std::hint::black_box(x);
                (during, after_sleep)
            },
            meter.clone(),
        )
        .await;
        assert!(
            during > Duration::from_millis(1),
            "busy loop cost {during:?}"
        );
        // The 100 ms pending cost (almost) nothing.
        assert!(
            after_sleep < during + Duration::from_millis(50),
            "{during:?} then {after_sleep:?}"
        );
        assert!(total >= after_sleep);
        assert_eq!(meter.spent(), total, "between polls: the ended polls");
    }
}
