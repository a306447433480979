//! Adaptive request concurrency and pacing for one connector instance.
//!
//! Decision: the host, not each connector, owns back-pressure. All requests
//! of an instance share one limiter: additive increase on success,
//! multiplicative decrease on 429 (TCP-style AIMD), a shared pause that honours
//! `Retry-After` for every in-flight caller, and an optional steady rate.
//! One tenant's throttling never slows another's: limiters are per instance.
//!
//! Decision: requests get their slot by the age of their call, oldest call
//! first, and in the order they asked within a call. So calls finish one
//! after another instead of all progressing together: at any moment few
//! calls are half done, and half-done calls are what a crash throws away
//! (the sync engine commits per call). Ordering by call, not by request,
//! also keeps a call that pages one cursor after another (a long listing)
//! from waiting behind every batch that younger calls queued while its
//! last page was in flight. Throughput is the same: every slot stays busy.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::Notify;

#[derive(Default)]
struct State {
    limit: f64,
    in_flight: usize,
    paused_until: Option<Instant>,
    next_slot: Option<Instant>,
    /// Requests waiting for a slot, next first: ((call rank, ticket), its
    /// wake-up).
    waiting: VecDeque<((u64, u64), Arc<Notify>)>,
    next_ticket: u64,
}

impl State {
    /// Wakes the oldest waiter, whose turn it is to look for a slot.
    fn wake_first(&self) {
        if let Some((_, wake)) = self.waiting.front() {
            wake.notify_one();
        }
    }
}

pub struct AdaptiveLimiter {
    max: usize,
    per_request: Option<Duration>,
    state: Mutex<State>,
}

/// Held while a request is in flight.
pub struct Permit<'a> {
    limiter: &'a AdaptiveLimiter,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut s = self.limiter.state.lock().unwrap();
        s.in_flight -= 1;
        s.wake_first();
    }
}

/// A place in the queue; leaving it (a request dropped while it waits)
/// hands the turn to the next waiter.
struct Place<'a> {
    limiter: &'a AdaptiveLimiter,
    ticket: u64,
    served: bool,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if self.served {
            return;
        }
        let mut s = self.limiter.state.lock().unwrap();
        let was_first = s
            .waiting
            .front()
            .is_some_and(|((_, t), _)| *t == self.ticket);
        s.waiting.retain(|((_, t), _)| *t != self.ticket);
        if was_first {
            s.wake_first();
        }
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
                ..State::default()
            }),
        }
    }

    /// Waits for its turn (behind the requests of older calls, lower
    /// `call_rank`, and those its own call asked for before), a free slot,
    /// any shared pause, and the pacing slot.
    pub async fn acquire_for(&self, call_rank: u64) -> Permit<'_> {
        enum Next {
            Go(Duration),
            Sleep(Duration),
            WaitForTurn,
        }
        let wake = Arc::new(Notify::new());
        let mut place = {
            let mut s = self.state.lock().unwrap();
            let ticket = s.next_ticket;
            s.next_ticket += 1;
            let key = (call_rank, ticket);
            let at = s.waiting.partition_point(|(k, _)| *k < key);
            s.waiting.insert(at, (key, wake.clone()));
            if at == 0 {
                // Ahead of the waiter that was first: its turn now.
                s.wake_first();
            }
            Place {
                limiter: self,
                ticket,
                served: false,
            }
        };
        loop {
            let next = {
                let mut s = self.state.lock().unwrap();
                let now = Instant::now();
                let first = s
                    .waiting
                    .front()
                    .is_some_and(|((_, t), _)| *t == place.ticket);
                match s.paused_until {
                    _ if !first => Next::WaitForTurn,
                    Some(until) if until > now => Next::Sleep(until - now),
                    _ if (s.in_flight as f64) < s.limit.floor().max(1.0) => {
                        s.in_flight += 1;
                        s.waiting.pop_front();
                        place.served = true;
                        // The next waiter may find a slot free too.
                        s.wake_first();
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
                    _ => Next::WaitForTurn,
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
                Next::WaitForTurn => wake.notified().await,
            }
        }
    }

    /// A request succeeded: grow the window by about one per window of successes.
    pub fn on_success(&self) {
        let mut s = self.state.lock().unwrap();
        let before = s.limit.floor();
        s.limit = (s.limit + 1.0 / s.limit.max(1.0)).min(self.max as f64);
        if s.limit.floor() > before {
            s.wake_first();
        }
    }

    /// The upstream throttled us: halve the window and pause everyone.
    pub fn on_throttle(&self, retry_after: Duration) {
        let mut s = self.state.lock().unwrap();
        s.limit = (s.limit / 2.0).max(1.0);
        let until = Instant::now() + retry_after;
        s.paused_until = Some(s.paused_until.map_or(until, |p| p.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    impl AdaptiveLimiter {
        /// A request of one call: the order asked decides.
        async fn acquire(&self) -> Permit<'_> {
            self.acquire_for(0).await
        }

        fn current_limit(&self) -> f64 {
            self.state.lock().unwrap().limit
        }
    }

    #[tokio::test]
    async fn an_older_calls_requests_go_before_a_younger_calls() {
        let l = Arc::new(AdaptiveLimiter::new(1, None));
        let held = l.acquire_for(0).await;
        let served = Arc::new(Mutex::new(Vec::new()));
        let ask = |rank: u64| {
            let (l, served) = (l.clone(), served.clone());
            tokio::spawn(async move {
                let _p = l.acquire_for(rank).await;
                served.lock().unwrap().push(rank);
                tokio::time::sleep(Duration::from_millis(2)).await;
            })
        };
        // A younger call asks first, twice; then an older one.
        let young = [ask(7), ask(7)];
        tokio::time::sleep(Duration::from_millis(20)).await;
        let old = ask(3);
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(held);
        for t in young.into_iter().chain([old]) {
            t.await.unwrap();
        }
        assert_eq!(*served.lock().unwrap(), [3, 7, 7]);
    }

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

    /// Slots go to requests in the order they asked: a batch asked for
    /// first is served before one asked for later, and a request dropped
    /// while it waits gives up its place without stalling the queue.
    #[tokio::test]
    async fn slots_go_in_the_order_asked() {
        let l = Arc::new(AdaptiveLimiter::new(2, None));
        let order = Arc::new(Mutex::new(Vec::new()));
        let held = l.acquire().await;
        let held2 = l.acquire().await;
        let mut tasks = Vec::new();
        for i in 0..12 {
            let (limiter, order) = (l.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _p = limiter.acquire().await;
                order.lock().unwrap().push(i);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }));
            // Each task has taken its place before the next one asks.
            while l.state.lock().unwrap().waiting.len() < i + 1 {
                tokio::task::yield_now().await;
            }
        }
        // A waiter that gives up leaves without holding the others back.
        let gave_up = tokio::time::timeout(Duration::from_millis(5), l.acquire()).await;
        assert!(gave_up.is_err());
        drop(held);
        drop(held2);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..12).collect::<Vec<_>>());
        assert!(l.state.lock().unwrap().waiting.is_empty());
        // And the limiter is free again.
        let _a = l.acquire().await;
        let _b = l.acquire().await;
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
