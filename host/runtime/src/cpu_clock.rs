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

use std::future::Future;
use std::pin::Pin;
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

/// A future that also reports the CPU time its polls consumed.
pub struct CpuMetered<F> {
    inner: Pin<Box<F>>,
    spent: Duration,
}

impl<F: Future> CpuMetered<F> {
    pub fn new(inner: F) -> Self {
        Self {
            inner: Box::pin(inner),
            spent: Duration::ZERO,
        }
    }
}

impl<F: Future> Future for CpuMetered<F> {
    type Output = (F::Output, Duration);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let before = thread_cpu_time();
        let polled = self.inner.as_mut().poll(cx);
        let delta = thread_cpu_time().saturating_sub(before);
        self.spent += delta;
        polled.map(|out| (out, self.spent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_work_done_in_polls_but_not_sleeping() {
        let ((), spent) = CpuMetered::new(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
        })
        .await;
        assert!(spent < Duration::from_millis(25), "sleeping cost {spent:?}");

        let (sum, spent) = CpuMetered::new(async {
            let mut x = 0u64;
            for i in 0..20_000_000u64 {
                x = std::hint::black_box(x.wrapping_add(i * i));
            }
            tokio::task::yield_now().await;
            x
        })
        .await;
        assert_ne!(sum, 1);
        assert!(spent > Duration::from_millis(1), "busy loop cost {spent:?}");
    }
}
