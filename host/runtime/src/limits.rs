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
    /// Guest memory per Store: all its linear memories and tables together
    /// (`state::MemoryGuard`). A PingOne page of 1,000 users decodes to
    /// ~2 MiB of JSON plus its records; 64 MiB leaves 30x headroom while letting
    /// one host hold hundreds of concurrent calls in a 2 GiB budget.
    pub memory_bytes: usize,
    /// CPU time per call: the call's measured thread CPU, guest code and the
    /// host's work inside its imports, not time waiting on I/O (checked at
    /// each epoch tick, see `cpu_clock`). A page
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
    /// Total bytes of one request's header names and values. A real request
    /// carries well under 8 KiB of headers (common servers refuse more than
    /// 8-16 KiB per line); 64 KiB, as for responses, and no header of any
    /// size can make the host copy and forward more than that.
    pub request_header_bytes: usize,
    /// Requests in one `send-batch` call: the count bounds task fan-out;
    /// `response_bytes_per_call` bounds the bodies they hold.
    pub batch_requests: usize,
    /// Response bodies one call holds in host memory at once (a batch's
    /// together): each request reserves its body's bytes before reading
    /// them, and the one that would go over gets `body-too-large`. A batch's
    /// bodies are all copied into guest memory at once, so more than the
    /// guest's 64 MiB could never be delivered; PingOne's largest body is a
    /// page of 1,000 users (~4 MiB), and its batches are of member and
    /// role-assignment listings, much smaller pages.
    pub response_bytes_per_call: usize,
    /// Records per call across all `put-*`: a page of 1,000 users plus their
    /// role and population grants is ~3,000; 50,000 allows a fat page.
    pub upload_records_per_call: usize,
    /// Bytes of one record: every string it carries (ids, names, external
    /// id, emails, aliases, employee ids, profile or metadata JSON, ...).
    /// Baton tolerates big profiles, but anything over 256 KiB is a bug or
    /// an attack.
    pub upload_record_bytes: usize,
    /// Bytes of all records one call puts, counted as the host holds them:
    /// every string of every record and grant set plus each record's own
    /// struct (`capabilities::upload`), a set counting as the grants it
    /// expands to. At those costs a PingOne user is ~1.5 KiB (a 520-byte
    /// struct, ids, emails, a profile under 1 KiB) and a membership ~350
    /// bytes (a grant's struct, the principal id, the set's shared strings):
    /// a page of 1,000 users is ~1.5 MiB, a call of 16 groups' member pages
    /// of 1,000 ~5.5 MiB. 64 MiB is over 10x the larger, and with the
    /// record cap it bounds what a call buffers.
    pub upload_bytes_per_call: usize,
    /// Bytes the host may copy out of guest memory for one import call's
    /// arguments, counted as the host holds them (wasmtime's hostcall fuel:
    /// each string's bytes, each list's elements at their host size). The
    /// canonical ABI lets list elements alias the same guest bytes, so
    /// without this a guest could make one argument far larger than its
    /// memory. 64 MiB, the per-call upload budget: no put over it could be
    /// accepted anyway, and a batch of PingOne requests is a few KiB.
    pub import_argument_bytes: usize,
    /// The same bytes summed over every call of one sync (the sync engine
    /// counts them as it commits, and keeps the count across resumes). A
    /// one-million-user PingOne tenant (50k groups, 10M memberships) is
    /// ~1.5 GiB of users and ~3.5 GiB of grants at the costs above, ~5 GiB;
    /// 64 GiB, 12x that, bounds the working file a component can make one
    /// sync write.
    pub upload_bytes_per_sync: u64,
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
            request_header_bytes: 64 << 10,
            batch_requests: 256,
            response_bytes_per_call: 64 << 20,
            upload_records_per_call: 50_000,
            upload_record_bytes: 256 << 10,
            upload_bytes_per_call: 64 << 20,
            import_argument_bytes: 64 << 20,
            upload_bytes_per_sync: 64 << 30,
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
