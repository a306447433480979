//! Request accounting: what a sync cost. Counts per route template
//! (`GET /v1/environments/{env}/users`), per status, 429s, injected
//! faults, and the concurrency high-water mark.
//!
//! The hot path is one atomic increment on entry and one short mutex
//! section on exit; admin (`/__sim/*`) calls are not counted.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::faults::{ResetConnection, Truncated};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RouteStats {
    pub count: u64,
    /// Status code → count (connection resets are not a status; see `faults`).
    pub by_status: BTreeMap<u16, u64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FaultCounts {
    pub delayed: u64,
    pub rate_limited: u64,
    pub server_errors: u64,
    pub resets: u64,
    pub truncations: u64,
    pub short_pages: u64,
    pub consistency_rejections: u64,
    pub warmup_rejections: u64,
    pub token_expiries: u64,
}

/// A snapshot of the counters (`GET /__sim/stats`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stats {
    /// Requests on both hosts (token endpoint included), admin excluded.
    pub total: u64,
    pub in_flight: u64,
    pub concurrency_high_water: u64,
    /// Number of 429 answers.
    pub rate_limited: u64,
    pub by_status: BTreeMap<u16, u64>,
    /// `"METHOD /route/{template}"` → counts. Unknown paths count as
    /// `"METHOD (unmatched)"`.
    pub routes: BTreeMap<String, RouteStats>,
    pub faults: FaultCounts,
    pub tokens_issued: u64,
}

impl Stats {
    /// Requests to one route template, e.g. `"GET /v1/environments/{env}/users"`.
    pub fn route(&self, key: &str) -> u64 {
        self.routes.get(key).map(|r| r.count).unwrap_or(0)
    }

    pub fn status(&self, code: u16) -> u64 {
        self.by_status.get(&code).copied().unwrap_or(0)
    }
}

#[derive(Default)]
pub struct Accounting {
    inner: Mutex<Stats>,
    in_flight: AtomicUsize,
    high_water: AtomicUsize,
    tokens_issued: AtomicU64,
}

/// Decrements the in-flight gauge when the request ends, however it ends.
pub struct InFlight<'a>(&'a Accounting);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Accounting {
    pub fn begin(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.high_water.fetch_max(now, Ordering::Relaxed);
        InFlight(self)
    }

    pub fn finish(&self, route: String, status: Option<u16>) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        s.total += 1;
        let r = s.routes.entry(route).or_default();
        r.count += 1;
        if let Some(code) = status {
            *r.by_status.entry(code).or_insert(0) += 1;
            *s.by_status.entry(code).or_insert(0) += 1;
            if code == 429 {
                s.rate_limited += 1;
            }
        }
    }

    /// Counts one injected fault in the counter `which` picks.
    pub fn fault(&self, which: impl FnOnce(&mut FaultCounts) -> &mut u64) {
        *which(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()).faults) += 1;
    }

    pub fn token_issued(&self) {
        self.tokens_issued.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Stats {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone();
        s.in_flight = self.in_flight.load(Ordering::Relaxed) as u64;
        s.concurrency_high_water = self.high_water.load(Ordering::Relaxed) as u64;
        s.tokens_issued = self.tokens_issued.load(Ordering::Relaxed);
        s
    }

    pub fn reset(&self) {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = Stats::default();
        self.high_water
            .store(self.in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
        self.tokens_issued.store(0, Ordering::Relaxed);
    }
}

/// Middleware: counts every request of the router it wraps.
pub async fn account(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let route = match req.extensions().get::<MatchedPath>() {
        Some(m) => format!("{} {}", req.method(), m.as_str()),
        None => format!("{} (unmatched)", req.method()),
    };
    let _guard = app.stats.begin();
    let resp = next.run(req).await;
    let status = if resp.extensions().get::<ResetConnection>().is_some() {
        None
    } else {
        Some(resp.status().as_u16())
    };
    if resp.extensions().get::<Truncated>().is_some() {
        app.stats.fault(|f| &mut f.truncations);
    }
    app.stats.finish(route, status);
    resp
}
