//! One tenant: its current deployment, status and counters.
//!
//! Decisions:
//! - Hot swap. A tenant's deployment (component, config, limits) is an
//!   `Arc` swapped whole. An operation takes the current one when it starts
//!   and keeps it to the end, so in-flight work finishes on the old
//!   component while new work gets the new one.
//! - Single flight. A tenant runs at most one sync at a time (scheduled,
//!   triggered or ConductorOne's); its sync lock outlives the tenant, so a
//!   tenant removed and added again waits for the old one's sync of the same
//!   c1z.
//! - Status never holds a secret: errors pass through the tenant's
//!   redaction before they are stored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use connector_runtime::InstanceCtx;
use connector_runtime::capabilities::secrets::redact;
use serde::Serialize;
use tokio::sync::Notify;

use super::deployment::{Deployment, lock, read, write};

/// What `GET /v1/tenants/{id}` shows. Never holds a secret: errors pass
/// through the tenant's redaction before they are stored.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TenantStatus {
    pub id: String,
    pub state: &'static str,
    pub component_sha256: String,
    pub sync_interval_seconds: u64,
    pub last_sync: Option<LastSync>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    pub next_sync_in_seconds: Option<u64>,
    pub swaps: u64,
    /// Why the latest change to this tenant's definition was refused.
    pub update_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastSync {
    pub finished_at: String,
    pub seconds: f64,
    pub sync_id: String,
    pub resumed: bool,
    pub resources: u64,
    pub entitlements: u64,
    pub grants: u64,
    pub requests: u64,
    pub component_sha256: String,
    pub published_to: String,
}

/// Counters per tenant, monotonic across swaps (for `/metrics`).
#[derive(Default)]
pub struct TenantCounters {
    pub syncs_ok: AtomicU64,
    pub syncs_failed: AtomicU64,
    pub syncs_interrupted: AtomicU64,
    pub sync_micros_sum: AtomicU64,
    pub swaps_applied: AtomicU64,
    pub swaps_refused: AtomicU64,
    /// Totals of instances that were swapped out, folded in once unused.
    pub retired: Mutex<RetiredTotals>,
}

#[derive(Default, Clone, Copy)]
pub struct RetiredTotals {
    pub requests: u64,
    pub throttled: u64,
    pub retries: u64,
    pub cpu_micros: u64,
    pub traps: u64,
    pub calls: u64,
}

impl RetiredTotals {
    pub fn add_instance(&mut self, i: &InstanceCtx) {
        let m = &i.metrics;
        self.cpu_micros += m.cpu_micros.load(Ordering::Relaxed);
        self.traps += m.traps.load(Ordering::Relaxed);
        self.calls += m.calls.load(Ordering::Relaxed);
        if let Some(h) = &i.http {
            self.requests += h.stats.requests.load(Ordering::Relaxed);
            self.throttled += h.stats.throttled.load(Ordering::Relaxed);
            self.retries += h.stats.retries.load(Ordering::Relaxed);
        }
    }
}

pub struct Tenant {
    pub id: String,
    current: RwLock<Arc<Deployment>>,
    /// Swapped-out instances whose counters are not folded in yet.
    retiring: Mutex<Vec<Arc<InstanceCtx>>>,
    /// Held while the tenant syncs, by the scheduler, the admin API's
    /// trigger and a bound ConductorOne connector alike: they all write the
    /// same c1z.
    pub(super) running: Arc<tokio::sync::Mutex<()>>,
    pub status: Mutex<TenantStatus>,
    pub counters: TenantCounters,
    /// Wakes the scheduler: a trigger, a swap, removal or drain.
    pub(super) wake: Notify,
    pub(super) removed: AtomicBool,
    pub(super) memory_high_water: AtomicU64,
}

/// One sync lock per tenant id, for the life of the service: a tenant that
/// a reload removes and adds again is a new `Tenant`, but a sync of the old
/// one may still be writing the same `tenants/<id>/sync.c1z`.
#[derive(Default)]
pub(super) struct SyncLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl SyncLocks {
    pub(super) fn for_tenant(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.0).entry(id.to_string()).or_default().clone()
    }
}

impl Tenant {
    pub(super) fn new(d: Deployment, running: Arc<tokio::sync::Mutex<()>>) -> Arc<Self> {
        let status = TenantStatus {
            id: d.spec.id.clone(),
            state: "idle",
            component_sha256: d.digest().to_string(),
            sync_interval_seconds: d.spec.interval().as_secs(),
            ..TenantStatus::default()
        };
        Arc::new(Self {
            id: d.spec.id.clone(),
            current: RwLock::new(Arc::new(d)),
            retiring: Mutex::new(Vec::new()),
            running,
            status: Mutex::new(status),
            counters: TenantCounters::default(),
            wake: Notify::new(),
            removed: AtomicBool::new(false),
            memory_high_water: AtomicU64::new(0),
        })
    }

    pub fn current(&self) -> Arc<Deployment> {
        read(&self.current).clone()
    }

    pub(super) fn swap(&self, d: Deployment) {
        let digest = d.digest().to_string();
        let interval = d.spec.interval().as_secs();
        let old = std::mem::replace(&mut *write(&self.current), Arc::new(d));
        lock(&self.retiring).push(old.instance.clone());
        let mut s = lock(&self.status);
        s.component_sha256 = digest;
        s.sync_interval_seconds = interval;
        s.update_error = None;
        s.swaps += 1;
        drop(s);
        self.counters.swaps_applied.fetch_add(1, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// Counters of this tenant's live and retired instances.
    pub fn totals(&self) -> (RetiredTotals, u64) {
        let mut retiring = lock(&self.retiring);
        let mut base = lock(&self.counters.retired);
        retiring.retain(|i| {
            if Arc::strong_count(i) == 1 {
                base.add_instance(i);
                false
            } else {
                true
            }
        });
        let mut t = *base;
        for i in retiring.iter() {
            t.add_instance(i);
        }
        let current = self.current();
        t.add_instance(&current.instance);
        let live = current
            .instance
            .metrics
            .memory_high_water
            .load(Ordering::Relaxed);
        let memory = self.memory_high_water.load(Ordering::Relaxed).max(live);
        (t, memory)
    }

    pub fn is_running(&self) -> bool {
        self.running.try_lock().is_err()
    }

    pub fn redact(&self, d: &Deployment, text: &str) -> String {
        redact(text, &d.instance.secrets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_re_added_tenant_waits_for_the_old_ones_sync() {
        let locks = SyncLocks::default();
        let old = locks.for_tenant("acme");
        let syncing = old.try_lock().expect("the old tenant syncs");
        // Removed and added again: the new tenant cannot start a sync of
        // the same c1z while the old one's runs; another tenant can.
        assert!(locks.for_tenant("acme").try_lock().is_err());
        assert!(locks.for_tenant("globex").try_lock().is_ok());
        drop(syncing);
        assert!(locks.for_tenant("acme").try_lock().is_ok());
    }
}
