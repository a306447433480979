//! One rule for how long the host waits before retrying.
//!
//! Decision: every retry loop of the host (an outbound HTTP request, a sync
//! task, ConductorOne's Hello, a failing tenant's next sync) waits
//! `first * 2^(attempt-1)`, capped at `max`, with jitter, so clients that
//! failed together do not retry together. A server that says when to come
//! back (`Retry-After`) is believed over the formula, up to a cap of its own:
//! it knows its load, and a hostile or broken one cannot park a caller for
//! hours.
//!
//! Jitter is "equal": a wait is between half the step and the whole step,
//! so a retry never comes much sooner than the step says.

use std::time::Duration;

/// Exponential backoff with a cap and jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    retry_after_max: Duration,
}

impl Backoff {
    /// Steps of `first`, doubling up to `max`, jittered; a server's
    /// `Retry-After` is honoured up to `max`.
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            retry_after_max: max,
        }
    }

    /// The longest `Retry-After` believed; a longer one is cut to this.
    pub const fn with_retry_after_max(mut self, max: Duration) -> Self {
        self.retry_after_max = max;
        self
    }

    /// The step before retry `attempt` (1 for the first retry), before
    /// jitter: `first * 2^(attempt-1)`, at most `max`.
    pub fn step(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(32);
        self.first
            .checked_mul(1u32 << doublings.min(31))
            .unwrap_or(Duration::MAX)
            .min(self.max)
    }

    /// The wait before retry `attempt`: uniform in `[step / 2, step]`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let step = self.step(attempt);
        step / 2 + (step / 2).mul_f64(rand::random::<f64>())
    }

    /// The wait before retry `attempt` when the server may have said how
    /// long to wait: its word (up to the `Retry-After` cap), else
    /// [`Self::delay`].
    pub fn delay_or_retry_after(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(wait) => wait.min(self.retry_after_max),
            None => self.delay(attempt),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn steps_double_from_the_first_up_to_the_cap() {
        let b = Backoff::new(250 * MS, 8_000 * MS);
        let steps: Vec<u128> = (1..=8).map(|n| b.step(n).as_millis()).collect();
        assert_eq!(steps, [250, 500, 1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
        // Attempt 0 is treated as the first; huge attempts stay at the cap.
        assert_eq!(b.step(0), 250 * MS);
        assert_eq!(b.step(u32::MAX), 8_000 * MS);
        let long = Backoff::new(Duration::from_secs(u64::MAX / 4), Duration::MAX);
        assert_eq!(long.step(40), Duration::MAX);
    }

    #[test]
    fn jitter_stays_inside_its_band() {
        let equal = Backoff::new(MS * 1_000, MS * 60_000);
        for _ in 0..2_000 {
            let e = equal.delay(3);
            assert!((2_000 * MS..=4_000 * MS).contains(&e), "{e:?}");
        }
        // Two waits differ: the jitter is random, not a fixed offset.
        let waits: std::collections::BTreeSet<Duration> = (0..50).map(|_| equal.delay(5)).collect();
        assert!(waits.len() > 1);
    }

    #[test]
    fn a_servers_retry_after_wins_up_to_its_cap() {
        let b = Backoff::new(MS * 250, MS * 8_000).with_retry_after_max(Duration::from_secs(60));
        let seven = Duration::from_secs(7);
        assert_eq!(b.delay_or_retry_after(1, Some(seven)), seven);
        assert_eq!(
            b.delay_or_retry_after(1, Some(Duration::ZERO)),
            Duration::ZERO
        );
        assert_eq!(
            b.delay_or_retry_after(1, Some(Duration::from_secs(3_600))),
            Duration::from_secs(60)
        );
        let wait = b.delay_or_retry_after(2, None);
        assert!((250 * MS..=500 * MS).contains(&wait), "{wait:?}");
        // Without its own cap, Retry-After is cut at the backoff's cap.
        let plain = Backoff::new(MS, Duration::from_secs(5));
        assert_eq!(
            plain.delay_or_retry_after(1, Some(Duration::from_secs(30))),
            Duration::from_secs(5)
        );
    }
}
