//! Every limit a guest call runs under, with where its number comes from.
//!
//! Threat: a connector component is untrusted code. Each resource it can make
//! the host spend (CPU, memory, wall time, bytes the host must copy or store,
//! log lines) has a cap here, and breaking one ends the call with a typed
//! error instead of degrading the host or other tenants.

use std::time::Duration;

/// Limits for one connector instance (a tenant's component and config).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Guest linear memory per Store. A PingOne page of 1,000 users decodes to
    /// ~2 MiB of JSON plus its records; 64 MiB leaves 30x headroom while letting
    /// one host hold hundreds of concurrent calls in a 2 GiB budget.
    pub memory_bytes: usize,
    /// Guest CPU time per call, counted in epoch ticks while wasm runs. A page
    /// of 200 users maps in ~2 ms natively; 2 s covers slow machines 100x over
    /// and still stops a spinning guest quickly.
    pub cpu_per_call: Duration,
    /// Wall-clock time per call, including HTTP the host does for it. A call may
    /// wait out PingOne's `Retry-After` (up to 60 s) and make a batch of 256
    /// requests at the rate limit, so 300 s.
    pub wall_per_call: Duration,
    /// Response body cap. PingOne's largest page (1,000 users with custom
    /// attributes) is ~4 MiB; 16 MiB is 4x that.
    pub response_body_bytes: usize,
    /// Response headers: count and total bytes. Real APIs send ~20 headers
    /// under 4 KiB; hyper's own default cap is 100 headers.
    pub response_headers: usize,
    pub response_header_bytes: usize,
    /// Request headers and body a guest may send. PingOne create-user bodies
    /// are < 4 KiB; 1 MiB allows bulk bodies of other APIs.
    pub request_headers: usize,
    pub request_body_bytes: usize,
    /// Requests in one `send-batch` call: bounds host memory for in-flight
    /// bodies (256 x 16 MiB worst case is the memory cap's business, the
    /// count bounds task fan-out).
    pub batch_requests: usize,
    /// Records per call across all `put-*`: a page of 1,000 users plus their
    /// role and population grants is ~3,000; 50,000 allows a fat page.
    pub upload_records_per_call: usize,
    /// Bytes of one record's free-form fields (profiles, metadata JSON). Baton
    /// tolerates big profiles, but anything over 256 KiB is a bug or an attack.
    pub upload_record_bytes: usize,
    /// Log volume per call. A healthy connector logs a few lines per page;
    /// 1,000 lines / 256 KiB is generous and caps a spamming guest.
    pub log_lines_per_call: usize,
    pub log_bytes_per_call: usize,
    /// Captured guest stderr (panic messages) per call.
    pub stderr_bytes: usize,
    /// Concurrent outbound requests per connector instance (adaptive: halved
    /// on 429, grown back on success). PingOne's documented per-client limit is
    /// ~100 req/s; 16 in flight at 50-150 ms latency is in that range.
    pub max_concurrent_requests: usize,
    /// Optional steady request rate per instance (requests per second).
    pub requests_per_second: Option<f64>,
    /// Page tokens the host stores in its checkpoint (Baton caps at 1 MiB).
    pub page_token_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            cpu_per_call: Duration::from_secs(2),
            wall_per_call: Duration::from_secs(300),
            response_body_bytes: 16 << 20,
            response_headers: 100,
            response_header_bytes: 64 << 10,
            request_headers: 64,
            request_body_bytes: 1 << 20,
            batch_requests: 256,
            upload_records_per_call: 50_000,
            upload_record_bytes: 256 << 10,
            log_lines_per_call: 1_000,
            log_bytes_per_call: 256 << 10,
            stderr_bytes: 64 << 10,
            max_concurrent_requests: 16,
            requests_per_second: None,
            page_token_bytes: 64 << 10,
        }
    }
}

/// Epoch tick: the granularity of CPU accounting and of yields to tokio.
/// 10 ms is what Spin and Zed use: cheap (one atomic add per tick) and fine
/// enough that a 2 s budget is accurate to 0.5%.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Wasm stack per call. Rust guests use < 100 KiB; 1 MiB is wasmtime's
/// default and turns runaway recursion into a clean `StackOverflow` trap.
pub const MAX_WASM_STACK: usize = 1 << 20;

/// Resource handles (secrets) one call may hold open: a connector needs one
/// or two, so 64 stops handle-table exhaustion without getting in the way.
pub const MAX_RESOURCE_HANDLES: usize = 64;
