//! Adaptive request concurrency and pacing for one connector instance.
//!
//! Decision: the host, not each connector, owns back-pressure. All requests
//! of an instance share one limiter: additive increase on success,
//! multiplicative decrease on 429 (TCP-style AIMD), a shared pause that honours
//! `Retry-After` for every in-flight caller, and an optional steady rate.
//! One tenant's throttling never slows another's: limiters are per instance.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::Notify;

struct State {
    limit: f64,
    in_flight: usize,
    paused_until: Option<Instant>,
    next_slot: Option<Instant>,
}

pub struct AdaptiveLimiter {
    max: usize,
    per_request: Option<Duration>,
    state: Mutex<State>,
    freed: Notify,
}

/// Held while a request is in flight.
pub struct Permit<'a> {
    limiter: &'a AdaptiveLimiter,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut s = self.limiter.state.lock().unwrap();
        s.in_flight -= 1;
        drop(s);
        self.limiter.freed.notify_waiters();
    }
}

impl AdaptiveLimiter {
    pub fn new(max_concurrency: usize, requests_per_second: Option<f64>) -> Self {
        let max = max_concurrency.max(1);
        Self {
            max,
            per_request: requests_per_second
                .filter(|r| *r > 0.0)
                .map(|r| Duration::from_secs_f64(1.0 / r)),
            state: Mutex::new(State {
                limit: max as f64,
                in_flight: 0,
                paused_until: None,
                next_slot: None,
            }),
            freed: Notify::new(),
        }
    }

    /// Waits for a free slot, any shared pause, and the pacing slot.
    pub async fn acquire(&self) -> Permit<'_> {
        enum Next {
            Go(Duration),
            Sleep(Duration),
            WaitForFree,
        }
        loop {
            let notified = self.freed.notified();
            let next = {
                let mut s = self.state.lock().unwrap();
                let now = Instant::now();
                match s.paused_until {
                    Some(until) if until > now => Next::Sleep(until - now),
                    _ if (s.in_flight as f64) < s.limit.floor().max(1.0) => {
                        s.in_flight += 1;
                        let pace = match self.per_request {
                            Some(step) => {
                                let slot = s.next_slot.map_or(now, |n| n.max(now));
                                s.next_slot = Some(slot + step);
                                slot.saturating_duration_since(now)
                            }
                            None => Duration::ZERO,
                        };
                        Next::Go(pace)
                    }
                    _ => Next::WaitForFree,
                }
            };
            match next {
                Next::Go(pace) => {
                    let permit = Permit { limiter: self };
                    if !pace.is_zero() {
                        tokio::time::sleep(pace).await;
                    }
                    return permit;
                }
                Next::Sleep(d) => tokio::time::sleep(d).await,
                Next::WaitForFree => notified.await,
            }
        }
    }

    /// A request succeeded: grow the window by about one per window of successes.
    pub fn on_success(&self) {
        let mut s = self.state.lock().unwrap();
        s.limit = (s.limit + 1.0 / s.limit.max(1.0)).min(self.max as f64);
    }

    /// The upstream throttled us: halve the window and pause everyone.
    pub fn on_throttle(&self, retry_after: Duration) {
        let mut s = self.state.lock().unwrap();
        s.limit = (s.limit / 2.0).max(1.0);
        let until = Instant::now() + retry_after;
        s.paused_until = Some(s.paused_until.map_or(until, |p| p.max(until)));
    }

    pub fn current_limit(&self) -> f64 {
        self.state.lock().unwrap().limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn never_exceeds_the_window() {
        let l = Arc::new(AdaptiveLimiter::new(3, None));
        let live = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (l, live, peak) = (l.clone(), live.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                let _p = l.acquire().await;
                let n = live.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
                live.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn aimd_halves_and_regrows() {
        let l = AdaptiveLimiter::new(16, None);
        l.on_throttle(Duration::ZERO);
        assert_eq!(l.current_limit(), 8.0);
        l.on_throttle(Duration::ZERO);
        l.on_throttle(Duration::ZERO);
        l.on_throttle(Duration::ZERO);
        l.on_throttle(Duration::ZERO);
        assert_eq!(l.current_limit(), 1.0);
        for _ in 0..200 {
            l.on_success();
        }
        assert_eq!(l.current_limit(), 16.0);
    }

    #[tokio::test(start_paused = true)]
    async fn throttle_pauses_new_requests() {
        let l = AdaptiveLimiter::new(4, None);
        l.on_throttle(Duration::from_secs(2));
        let t0 = tokio::time::Instant::now();
        let _p = l.acquire().await;
        assert!(t0.elapsed() >= Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn pacing_spaces_requests() {
        let l = AdaptiveLimiter::new(8, Some(10.0));
        let t0 = tokio::time::Instant::now();
        for _ in 0..5 {
            let _p = l.acquire().await;
        }
        // Five requests at 10/s: the fifth leaves 400 ms after the first.
        assert!(t0.elapsed() >= Duration::from_millis(400));
    }
}
