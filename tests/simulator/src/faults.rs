//! Fault injection (checklist item 25 and the fault list): latency
//! with jitter, a per-client token-bucket rate limit answering 429 with an
//! integer `Retry-After`, 5xx (random or in deterministic bursts),
//! connections closed without a response, bodies cut short after a full
//! `Content-Length`, token expiry mid-run, and the new-environment window.
//! Short pages and the post-create consistency window are applied by the
//! handlers, which know what they are serving.
//!
//! Every random choice is `unit_f64(seed, n, purpose)` where `n` counts
//! `/v1` requests since the faults were last applied, so a sequential
//! client meets exactly the same faults on every run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, stream};

use crate::AppState;
use crate::auth::bearer_token;
use crate::config::Faults;
use crate::errors::ApiError;
use crate::util::unit_f64;

/// Response marker: the server closes the connection instead of answering.
#[derive(Clone, Copy, Debug)]
pub struct ResetConnection;

/// Response marker: the body was cut short (for accounting).
#[derive(Clone, Copy, Debug)]
pub struct Truncated;

pub struct FaultState {
    current: RwLock<(Faults, Instant)>,
    base_seed: u64,
    /// `/v1` requests since the faults were applied.
    seq: AtomicU64,
    /// Draws made by handlers (short pages).
    draws: AtomicU64,
    /// Rate-limit buckets per client: tokens left, last refill.
    buckets: Mutex<HashMap<usize, (f64, Instant)>>,
}

const PURPOSE_JITTER: u64 = 1;
const PURPOSE_ERROR: u64 = 2;
const PURPOSE_RESET: u64 = 3;
const PURPOSE_TRUNCATE: u64 = 4;
const PURPOSE_SHORT: u64 = 5;

impl FaultState {
    pub fn new(faults: Faults, base_seed: u64) -> Self {
        FaultState {
            current: RwLock::new((faults, Instant::now())),
            base_seed,
            seq: AtomicU64::new(0),
            draws: AtomicU64::new(0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self) -> Faults {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    /// Replaces the faults; counters, buckets and windows restart.
    pub fn set(&self, f: Faults) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = (f, Instant::now());
        self.seq.store(0, Ordering::Relaxed);
        self.draws.store(0, Ordering::Relaxed);
        self.buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    fn seed(&self, f: &Faults) -> u64 {
        f.seed.unwrap_or(self.base_seed)
    }

    /// While a new-environment window is configured, the wall-clock instant
    /// (ms) the environment was "created": when the faults were applied.
    /// `GET /environments/{env}` reports it as `createdAt`, the fact Ping's
    /// SDK reads to tell the window (DOCS-8830) from a real 403/404.
    pub fn warmup_created_ms(&self) -> Option<i64> {
        let g = self.current.read().unwrap_or_else(|e| e.into_inner());
        (g.0.environment_warmup_ms > 0)
            .then(|| crate::util::now_ms() - g.1.elapsed().as_millis() as i64)
    }

    /// Inside the window of `ms` (a new environment, the actor's own role
    /// still propagating) that opened when the faults were applied?
    pub fn in_window(&self, ms: impl Fn(&Faults) -> u64) -> bool {
        let g = self.current.read().unwrap_or_else(|e| e.into_inner());
        let ms = ms(&g.0);
        ms > 0 && g.1.elapsed() < Duration::from_millis(ms)
    }

    /// A short page size for a page of `size` (`None` = serve it whole).
    pub fn short_page(&self, f: &Faults, size: usize) -> Option<usize> {
        if !f.short_pages || size < 2 {
            return None;
        }
        let n = self.draws.fetch_add(1, Ordering::Relaxed);
        let u = unit_f64(self.seed(f), n, PURPOSE_SHORT);
        Some(1 + (u * (size - 1) as f64) as usize)
    }

    /// Takes a token from `client`'s bucket, or says how long to wait.
    fn take(&self, f: &Faults, client: usize) -> Result<(), f64> {
        let Some(rate) = f.rate_limit_per_sec.filter(|r| *r > 0.0) else {
            return Ok(());
        };
        let cap = f.rate_limit_burst.unwrap_or(rate).max(1.0);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = buckets.entry(client).or_insert((cap, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(cap);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err((1.0 - *tokens) / rate)
        }
    }
}

fn reset_response() -> Response {
    let mut r = Response::new(Body::empty());
    r.extensions_mut().insert(ResetConnection);
    r
}

/// Announces the full length, sends half, then fails the stream so the
/// connection is cut mid-body.
async fn truncate(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return reset_response();
    };
    if bytes.len() < 2 {
        return Response::from_parts(parts, Body::from(bytes));
    }
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    parts.extensions.insert(Truncated);
    let first = bytes.slice(..bytes.len() / 2);
    // The pause lets hyper flush the head and the first half before the
    // error aborts the connection (it does not flush on error).
    let cut = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err(std::io::Error::other("simulated truncation"))
    };
    let stream = stream::iter([Ok(first)]).chain(stream::once(cut));
    Response::from_parts(parts, Body::from_stream(stream))
}

/// Sleeps the configured latency plus the jitter drawn for request `n`.
async fn delay(app: &AppState, f: &Faults, n: u64, purpose: u64) {
    if f.latency_ms > 0 || f.jitter_ms > 0 {
        let jitter = (unit_f64(app.faults.seed(f), n, purpose) * f.jitter_ms as f64) as u64;
        tokio::time::sleep(Duration::from_millis(f.latency_ms + jitter)).await;
        app.stats.fault(|c| &mut c.delayed);
    }
}

/// Latency only (the auth host: a slow token endpoint, nothing else).
pub async fn delay_only(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let n = app.faults.seq.load(Ordering::Relaxed);
    delay(&app, &app.faults.get(), n, PURPOSE_JITTER ^ 0x100).await;
    next.run(req).await
}

/// Middleware for the API host.
pub async fn inject(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let f = app.faults.get();
    if f.is_quiet() {
        return next.run(req).await;
    }
    let fs = &app.faults;
    let n = fs.seq.fetch_add(1, Ordering::Relaxed);
    let seed = fs.seed(&f);

    delay(&app, &f, n, PURPOSE_JITTER).await;

    if f.expire_tokens_after_requests == Some(n) {
        app.tokens.expire_all();
        app.stats.fault(|f| &mut f.token_expiries);
    }

    if f.rate_limit_per_sec.is_some() {
        // Buckets are per client; a request without a valid token shares one.
        let client = bearer_token(req.headers())
            .ok()
            .and_then(|t| app.tokens.lookup(t))
            .map(|t| t.client)
            .unwrap_or(usize::MAX);
        if let Err(wait) = fs.take(&f, client) {
            app.stats.fault(|f| &mut f.rate_limited);
            return ApiError::rate_limited(wait).into_response();
        }
    }

    let burst = f
        .error_burst
        .filter(|b| b.every > 0 && n % b.every < b.length);
    if let Some(b) = burst {
        app.stats.fault(|f| &mut f.server_errors);
        return ApiError::server_error(b.status).into_response();
    }
    if f.error_rate > 0.0 && unit_f64(seed, n, PURPOSE_ERROR) < f.error_rate {
        app.stats.fault(|f| &mut f.server_errors);
        return ApiError::server_error(f.error_status).into_response();
    }

    if f.reset_rate > 0.0 && unit_f64(seed, n, PURPOSE_RESET) < f.reset_rate {
        app.stats.fault(|f| &mut f.resets);
        if f.reset_after_processing {
            let _ = next.run(req).await;
        }
        return reset_response();
    }

    let resp = next.run(req).await;
    if f.truncate_rate > 0.0 && unit_f64(seed, n, PURPOSE_TRUNCATE) < f.truncate_rate {
        return truncate(resp).await;
    }
    resp
}
