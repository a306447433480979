//! What one Store holds: the per-call state and the instance it serves.
//!
//! Decision: a Store is never shared between tenants or reused after a trap
//! or an error; only the pages of one sync run may reuse one (see
//! `engine::WarmInstances`). The Store's data is split into the instance
//! context (shared, read-mostly: limits, HTTP client, secrets) and the call
//! state (this call's counters, buffered uploads, and the typed cause of a
//! failure the host detected), which is replaced at the start of every call,
//! so nothing of one call's accounting leaks into the next.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::{types, upload};
use crate::capabilities::http::HttpCapability;
use crate::capabilities::secrets::Secrets;
use crate::cpu_clock::CallCpu;
use crate::error::CallError;
use crate::limits::{Limits, MAX_RESOURCE_HANDLES};

/// A configured connector: one tenant's component, config and capabilities.
pub struct InstanceCtx {
    /// A name for logs and metrics (the tenant id in service mode).
    pub name: String,
    pub limits: Limits,
    /// Absent for calls that need no network (metadata).
    /// Shared with the tasks that carry its requests.
    pub http: Option<Arc<HttpCapability>>,
    pub secrets: Secrets,
    /// Non-secret config values as the guest receives them.
    pub config: Vec<(String, String)>,
    /// The component's declared resource types, for upload validation.
    pub resource_types: Vec<types::ResourceType>,
    pub metrics: InstanceMetrics,
}

impl InstanceCtx {
    /// An instance with no capabilities, for reading a component's metadata.
    pub fn bare(name: &str, limits: Limits) -> Self {
        Self {
            name: name.to_string(),
            limits,
            http: None,
            secrets: Secrets::default(),
            config: Vec::new(),
            resource_types: Vec::new(),
            metrics: InstanceMetrics::default(),
        }
    }
}

/// Counters over the instance's lifetime.
#[derive(Debug, Default)]
pub struct InstanceMetrics {
    pub calls: AtomicU64,
    /// Fresh instances created; below `calls` when sync pages reuse warm ones.
    pub instantiations: AtomicU64,
    pub traps: AtomicU64,
    /// Measured CPU of all calls (see `cpu_clock`), in microseconds: guest
    /// code and bindings, without the host's work in imports.
    pub cpu_micros: AtomicU64,
    pub memory_high_water: AtomicU64,
}

impl InstanceMetrics {
    pub fn note_memory(&self, bytes: u64) {
        self.memory_high_water.fetch_max(bytes, Ordering::Relaxed);
    }
}

/// Records a call uploaded, held until the call returns successfully.
#[derive(Debug, Default)]
pub struct UploadBuffer {
    pub resources: Vec<types::Resource>,
    pub entitlements: Vec<types::Entitlement>,
    pub grants: Vec<types::Grant>,
    /// Kept as sets until the sync engine commits the call: expanding them
    /// is the host's work, not the connector's.
    pub grant_sets: Vec<types::GrantSet>,
    /// `upload.put-resources-with`: the per-resource tasks that
    /// `resources[range]` do without. Ranges are never empty and follow
    /// each other in order (each starts where `resources` ended), so there
    /// are at most as many as resources and a look-up is a binary search.
    pub skipped: Vec<(std::ops::Range<usize>, upload::SkipTasks)>,
    /// What the records above cost against the upload byte budgets
    /// (`capabilities::upload`'s `*_cost`), counted as they were put.
    pub bytes: usize,
}

impl UploadBuffer {
    /// The per-resource tasks `resources[index]` does without.
    pub fn skip_of(&self, index: usize) -> upload::SkipTasks {
        let after = self
            .skipped
            .partition_point(|(range, _)| range.end <= index);
        match self.skipped.get(after) {
            Some((range, skip)) if range.contains(&index) => *skip,
            _ => upload::SkipTasks::empty(),
        }
    }

    pub fn len(&self) -> usize {
        self.resources.len()
            + self.entitlements.len()
            + self.grants.len()
            + self
                .grant_sets
                .iter()
                .map(|s| s.principal_ids.len())
                .sum::<usize>()
    }

    /// Every grant of the call: those uploaded one by one, then the sets'.
    pub fn take_grants(&mut self) -> Vec<types::Grant> {
        let mut grants = std::mem::take(&mut self.grants);
        for s in std::mem::take(&mut self.grant_sets) {
            grants.extend(crate::capabilities::upload::expand_grant_set(s));
        }
        grants
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// This call's state.
#[derive(Default)]
pub struct CallState {
    pub upload: UploadBuffer,
    pub log_lines: usize,
    pub log_bytes: usize,
    /// The typed cause when the host ended or refused something.
    pub violation: Option<CallError>,
    /// Egress or header refusals the guest was told about.
    pub denials: Vec<String>,
    /// The call's measured CPU, read by the epoch callback to enforce the
    /// budget (see `cpu_clock`).
    pub cpu: Arc<CallCpu>,
    /// Of that CPU, what the host spent inline in this call's upload checks.
    pub host_cpu: std::time::Duration,
    /// Its place among the instance's calls: their requests queue by it.
    pub rank: u64,
}

/// Caps what a Store's memories and tables take, together, and remembers
/// that the cap was hit, so the resulting trap is reported as
/// `MemoryExceeded`, not a generic trap.
///
/// Threat: wasmtime asks the limiter about each memory and table on its
/// own, so a cap on each one lets a component with several memories (the
/// pool allows 8 per component) or big tables take several times the
/// limit. Decision: keep a running total over the Store of every growth
/// the limiter allowed, creation included (wasmtime reports a new memory or
/// table as growing from 0), and refuse any growth that would take the
/// total past the cap. Tables count [`TABLE_ELEMENT_BYTES`] per element.
/// A growth allowed here that wasmtime then fails (past a memory's declared
/// maximum, say) stays counted: that can only stop a guest early, while
/// undoing it would need to know which growth failed, and a wrong guess
/// would let a guest erase its own usage.
pub struct MemoryGuard {
    pub cap: usize,
    /// Bytes of memories and tables the Store holds now (see above).
    pub total: usize,
    /// The highest `total` seen.
    pub peak: usize,
    pub exceeded: bool,
}

/// What one table element costs the host: wasmtime keeps a function
/// reference as one pointer per element.
pub const TABLE_ELEMENT_BYTES: usize = std::mem::size_of::<usize>();

/// Elements of one table. Rust guests use one small function table (a few
/// hundred entries); 100k entries is a bomb, whatever the memory cap.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

impl MemoryGuard {
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            total: 0,
            peak: 0,
            exceeded: false,
        }
    }

    /// Admits `grow` more bytes into the Store's total, or refuses them.
    fn admit(&mut self, what: &str, grow: usize) -> wasmtime::Result<bool> {
        let total = self.total.saturating_add(grow);
        if total > self.cap {
            self.exceeded = true;
            return Err(wasmtime::format_err!(
                "guest {what} would take the Store's memories and tables to {total} bytes, \
                 over the cap of {}",
                self.cap
            ));
        }
        self.total = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }
}

impl wasmtime::ResourceLimiter for MemoryGuard {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.admit("memory", desired.saturating_sub(current))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        let grow = desired
            .saturating_sub(current)
            .saturating_mul(TABLE_ELEMENT_BYTES);
        self.admit("table", grow)
    }
}

/// The Store's data.
pub struct HostState {
    wasi: WasiCtx,
    /// The guest's resource handles (secrets), capped.
    pub(crate) table: ResourceTable,
    pub memory: MemoryGuard,
    pub instance: Arc<InstanceCtx>,
    pub call: CallState,
    /// The guest's stderr (panic messages), captured and capped.
    pub stderr: MemoryOutputPipe,
}

impl HostState {
    pub fn new(instance: Arc<InstanceCtx>) -> Self {
        let stderr = MemoryOutputPipe::new(instance.limits.stderr_bytes);
        // Deny-all WASI: no preopens, no env, no args, no sockets, no name
        // lookup; stdout discarded, stderr captured (panic messages) and capped.
        let wasi = WasiCtx::builder().stderr(stderr.clone()).build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCE_HANDLES);
        Self {
            wasi,
            table,
            memory: MemoryGuard::new(instance.limits.memory_bytes),
            call: CallState::default(),
            stderr,
            instance,
        }
    }

    /// Starts a new call on this Store: fresh counters and buffers.
    pub fn begin_call(&mut self) {
        self.call = CallState {
            rank: self
                .instance
                .http
                .as_ref()
                .map_or(0, |h| h.next_call_rank()),
            ..CallState::default()
        };
        self.memory.exceeded = false;
    }

    /// Whether the Store ended its last call clean enough to serve another:
    /// no handle left open, nothing written to stderr (a panic message must
    /// never be mixed with an earlier call's output), no limit hit.
    pub fn reusable(&self) -> bool {
        self.table.is_empty()
            && self.stderr.contents().is_empty()
            && self.call.violation.is_none()
            && self.call.denials.is_empty()
            && !self.memory.exceeded
    }

    /// Records why the host is ending the call, then returns the trap error.
    /// The first cause that ends the call wins; a refused record (which the
    /// guest was told about and may have handled) does not end it, so a
    /// limit hit afterwards replaces it: otherwise the trap would be
    /// reported as a bare `GuestTrap`.
    pub fn violate(&mut self, cause: CallError) -> wasmtime::Error {
        let message = cause.to_string();
        match &self.call.violation {
            None | Some(CallError::InvalidRecord(_)) => self.call.violation = Some(cause),
            Some(_) => {}
        }
        wasmtime::format_err!("{message}")
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    const PAGE: usize = 64 << 10;

    /// A limit that ends the call after a refused record is what the call
    /// reports; the first limit that ends it stays.
    #[test]
    fn a_limit_after_a_refused_record_is_the_cause() {
        let mut state = HostState::new(Arc::new(InstanceCtx::bare("t", Limits::default())));
        state.call.violation = Some(CallError::InvalidRecord("bad user".into()));
        let _ = state.violate(CallError::LimitExceeded("bytes".into()));
        assert!(matches!(&state.call.violation, Some(CallError::LimitExceeded(m)) if m == "bytes"));
        let _ = state.violate(CallError::LimitExceeded("later".into()));
        assert!(matches!(&state.call.violation, Some(CallError::LimitExceeded(m)) if m == "bytes"));
    }

    /// Growths of different memories and tables add up against one cap.
    #[test]
    fn the_memory_cap_holds_for_the_store_as_a_whole() {
        let mut guard = MemoryGuard::new(64 << 20);
        // Two memories of 30 MiB each: 60 MiB in all, under the cap.
        assert!(guard.memory_growing(0, 30 << 20, None).unwrap());
        assert!(guard.memory_growing(0, 30 << 20, None).unwrap());
        // The first grows by 4 MiB more: 64 MiB, at the cap.
        assert!(guard.memory_growing(30 << 20, 34 << 20, None).unwrap());
        assert_eq!(guard.total, 64 << 20);
        assert!(!guard.exceeded);
        // One more table element passes the Store's cap, though each
        // memory alone is far below it.
        let err = guard.table_growing(0, 1, None).unwrap_err();
        assert!(guard.exceeded);
        assert!(
            err.to_string().contains("over the cap of 67108864"),
            "{err}"
        );
        // A refused growth is not counted.
        assert_eq!(guard.total, 64 << 20);
        assert_eq!(guard.peak, 64 << 20);
    }

    #[test]
    fn tables_count_per_element_and_have_an_element_cap() {
        let mut guard = MemoryGuard::new(1 << 20);
        assert!(guard.table_growing(0, 1_000, None).unwrap());
        assert!(guard.table_growing(1_000, 3_000, None).unwrap());
        assert_eq!(guard.total, 3_000 * TABLE_ELEMENT_BYTES);
        assert!(
            !guard
                .table_growing(0, MAX_TABLE_ELEMENTS + 1, None)
                .unwrap()
        );
        assert_eq!(guard.total, 3_000 * TABLE_ELEMENT_BYTES);
    }

    /// A real module with two memories and a table, instantiated by
    /// wasmtime under the limiter: each memory alone fits, all together
    /// do not.
    #[test]
    fn wasmtime_counts_every_memory_and_table_of_a_store() {
        #[rustfmt::skip]
        const MODULE: &[u8] = &[
            0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
            // table section: one funcref table of at least 1,000 elements
            0x04, 0x05, 0x01, 0x70, 0x00, 0xe8, 0x07,
            // memory section: two memories of at least one page each
            0x05, 0x05, 0x02, 0x00, 0x01, 0x00, 0x01,
        ];
        let engine = wasmtime::Engine::default();
        let module = wasmtime::Module::new(&engine, MODULE).unwrap();
        let needed = 2 * PAGE + 1_000 * TABLE_ELEMENT_BYTES;
        let instantiate = |cap: usize| {
            let mut store = wasmtime::Store::new(&engine, MemoryGuard::new(cap));
            store.limiter(|g| g);
            let result = wasmtime::Instance::new(&mut store, &module, &[]);
            (result.is_ok(), store.into_data())
        };

        let (ok, guard) = instantiate(needed);
        assert!(ok, "exactly the cap is allowed");
        assert_eq!(guard.total, needed);
        assert!(!guard.exceeded);

        for cap in [needed - 1, PAGE + PAGE / 2, PAGE] {
            let (ok, guard) = instantiate(cap);
            assert!(!ok, "instantiated under a cap of {cap} bytes");
            assert!(guard.exceeded, "cap {cap}");
            assert!(guard.total <= cap, "cap {cap}: {} counted", guard.total);
        }
    }

    fn id(t: &str, r: &str) -> types::ResourceId {
        types::ResourceId {
            resource_type: t.into(),
            resource: r.into(),
        }
    }

    /// A set counts as the grants it stands for, and the sync engine gets
    /// single grants first, then each set's in order.
    #[test]
    fn grant_sets_count_and_expand_as_grants() {
        let single = types::Grant {
            entitlement_resource: id("role", "r"),
            entitlement_slug: "assigned".into(),
            principal: id("user", "u9"),
            expansion: None,
            immutable_reason: None,
            metadata_json: None,
        };
        let set = |g: &str, users: &[&str]| types::GrantSet {
            entitlement_resource: id("group", g),
            entitlement_slug: "member".into(),
            principal_type: "user".into(),
            principal_ids: users.iter().map(|u| u.to_string()).collect(),
            expansion: None,
            immutable_reason: None,
            metadata_json: Some("{}".into()),
        };
        let mut buffer = UploadBuffer {
            grants: vec![single],
            grant_sets: vec![set("g1", &["u1", "u2"]), set("g2", &[]), set("g3", &["u3"])],
            ..Default::default()
        };
        assert_eq!(buffer.len(), 4);
        let ids: Vec<String> = buffer
            .take_grants()
            .iter()
            .map(|g| {
                let entitlement =
                    crate::convert::entitlement_id(&g.entitlement_resource, &g.entitlement_slug);
                crate::convert::grant_id(&entitlement, &g.principal)
            })
            .collect();
        assert_eq!(
            ids,
            [
                "role:r:assigned:user:u9",
                "group:g1:member:user:u1",
                "group:g1:member:user:u2",
                "group:g3:member:user:u3",
            ]
        );
        assert!(buffer.is_empty());
    }

    /// Each resource's skipped tasks are those of the put that carried it,
    /// found by binary search over the puts' ranges.
    #[test]
    fn skips_are_looked_up_per_resource() {
        use upload::SkipTasks;
        let both = SkipTasks::LIST_ENTITLEMENTS | SkipTasks::LIST_GRANTS;
        let buffer = UploadBuffer {
            skipped: vec![
                (2..5, SkipTasks::LIST_GRANTS),
                (5..6, both),
                (9..12, SkipTasks::LIST_ENTITLEMENTS),
            ],
            ..Default::default()
        };
        let got: Vec<SkipTasks> = (0..13).map(|i| buffer.skip_of(i)).collect();
        let none = SkipTasks::empty();
        let (g, e) = (SkipTasks::LIST_GRANTS, SkipTasks::LIST_ENTITLEMENTS);
        assert_eq!(
            got,
            [none, none, g, g, g, both, none, none, none, e, e, e, none]
        );
    }
}
