//! The set of tenants: applying definitions, and refusing bad ones.
//!
//! Decision: a definition that fails to load, resolve or validate is
//! refused and the tenant's old deployment keeps serving; a new tenant that
//! fails is listed as rejected. A tenant missing from the definitions stops
//! after its in-flight work.
//!
//! Drain (SIGTERM): no new sync or ConductorOne task starts; running syncs
//! stop at their next call boundary, commit and checkpoint, and resume on
//! the next start. The drain waits for them up to its grace.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::serve::tenants::{Rejected, TenantSpec};

use super::binding::ConductorOneLoops;
use super::deployment::{Components, TenantValues, build_deployment, lock, read, validate, write};
use super::options::ServiceOptions;
use super::slots::SyncSlots;
use super::tenant::{SyncLocks, Tenant};

/// Why a sync did not run.
#[derive(Debug, PartialEq, Eq)]
pub enum TriggerError {
    UnknownTenant,
    AlreadyRunning,
    Draining,
}

pub struct Service {
    pub options: ServiceOptions,
    pub components: Components,
    tenants: RwLock<BTreeMap<String, Arc<Tenant>>>,
    /// Tenants the latest load refused, with the reason.
    pub rejected: Mutex<Vec<Rejected>>,
    /// The sync slots all tenants share, first come first served.
    pub(super) slots: SyncSlots,
    pub draining: AtomicBool,
    /// Passed to every sync: set on drain.
    pub(super) stop: Arc<AtomicBool>,
    pub ready: AtomicBool,
    pub(super) upload_client: reqwest::Client,
    /// Task loops of tenants bound to ConductorOne, by tenant id.
    pub(super) conductorone: ConductorOneLoops,
    sync_locks: SyncLocks,
}

impl Service {
    pub fn new(options: ServiceOptions, components: Components) -> anyhow::Result<Arc<Self>> {
        let permits = options.max_concurrent_syncs.max(1);
        let client = connector_runtime::capabilities::http::with_extra_roots(
            reqwest::Client::builder().use_rustls_tls(),
            &options.tls.extra_roots_pem,
        )?;
        Ok(Arc::new(Self {
            options,
            components,
            tenants: RwLock::new(BTreeMap::new()),
            rejected: Mutex::new(Vec::new()),
            slots: SyncSlots::new(permits),
            draining: AtomicBool::new(false),
            stop: Arc::new(AtomicBool::new(false)),
            ready: AtomicBool::new(false),
            upload_client: client.build()?,
            conductorone: ConductorOneLoops::default(),
            sync_locks: SyncLocks::default(),
        }))
    }

    pub fn tenant(&self, id: &str) -> Option<Arc<Tenant>> {
        read(&self.tenants).get(id).cloned()
    }

    pub fn tenants(&self) -> Vec<Arc<Tenant>> {
        read(&self.tenants).values().cloned().collect()
    }

    /// Applies a set of definitions: new tenants start, changed ones swap
    /// (or keep serving the old deployment when the new one is refused),
    /// missing ones stop after their in-flight work.
    pub async fn apply(
        self: &Arc<Self>,
        specs: Vec<(TenantSpec, Result<TenantValues, String>)>,
        rejected: Vec<Rejected>,
    ) {
        let mut rejected = rejected;
        let mut keep = BTreeSet::new();
        for (spec, values) in specs {
            keep.insert(spec.id.clone());
            let existing = self.tenant(&spec.id);
            let (values, fingerprint) = match values {
                Ok(v) => v,
                Err(e) => {
                    self.refuse(existing.as_deref(), &spec.id, e, &mut rejected);
                    continue;
                }
            };
            if let Some(t) = &existing
                && t.current().fingerprint == fingerprint
            {
                continue;
            }
            let built = build_deployment(
                &self.components,
                &spec,
                values,
                fingerprint,
                &self.options.tls,
            )
            .await;
            match (built, existing) {
                (Ok(d), None) => {
                    let lock = self.sync_locks.for_tenant(&d.spec.id);
                    let t = Tenant::new(d, lock);
                    write(&self.tenants).insert(t.id.clone(), t.clone());
                    tracing::info!(tenant = %t.id, component = %t.current().digest(), "tenant added");
                    self.conductorone.reconcile(&t, &self.options);
                    tokio::spawn(self.clone().schedule(t));
                }
                (Ok(d), Some(t)) => {
                    // A new component must prove itself before it serves.
                    if d.digest() != t.current().digest()
                        && let Err(e) = validate(&d).await
                    {
                        let e = format!("component {}: validation failed: {e}", d.digest());
                        let e = t.redact(&d, &e);
                        self.refuse(Some(&t), &spec.id, e, &mut rejected);
                        continue;
                    }
                    tracing::info!(tenant = %t.id, component = %d.digest(), "tenant updated");
                    t.swap(d);
                    self.conductorone.reconcile(&t, &self.options);
                }
                (Err(e), existing) => self.refuse(existing.as_deref(), &spec.id, e, &mut rejected),
            }
        }
        let removed: Vec<Arc<Tenant>> = {
            let mut map = write(&self.tenants);
            let gone: Vec<String> = map.keys().filter(|k| !keep.contains(*k)).cloned().collect();
            gone.iter().filter_map(|k| map.remove(k)).collect()
        };
        for t in removed {
            tracing::info!(tenant = %t.id, "tenant removed");
            self.conductorone.stop(&t.id);
            t.removed.store(true, Ordering::Relaxed);
            t.wake.notify_one();
        }
        for r in &rejected {
            tracing::error!("{r}");
        }
        *lock(&self.rejected) = rejected;
        self.ready.store(true, Ordering::Relaxed);
    }

    fn refuse(
        &self,
        existing: Option<&Tenant>,
        id: &str,
        error: String,
        rejected: &mut Vec<Rejected>,
    ) {
        if let Some(t) = existing {
            t.counters.swaps_refused.fetch_add(1, Ordering::Relaxed);
            lock(&t.status).update_error = Some(error.clone());
            tracing::warn!(
                tenant = id,
                "update refused, the previous deployment keeps serving: {error}"
            );
        } else {
            rejected.push(Rejected {
                tenant: id.to_string(),
                error,
            });
        }
    }
}

impl Service {
    /// Stops new work, lets running syncs reach a checkpoint, and waits for
    /// them up to `grace`. Returns whether everything stopped in time.
    pub async fn drain(&self, grace: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + grace;
        // ConductorOne-bound tenants: no new tasks; their syncs stop at a
        // checkpoint and report CANCELLED.
        let bound_stopped = self.conductorone.stop_all();
        self.draining.store(true, Ordering::SeqCst);
        self.ready.store(false, Ordering::SeqCst);
        self.stop.store(true, Ordering::SeqCst);
        self.slots.close();
        for t in self.tenants() {
            t.wake.notify_one();
        }
        let clean = tokio::time::timeout_at(deadline, bound_stopped)
            .await
            .is_ok();
        if !clean {
            tracing::warn!("ConductorOne task loops did not stop within the drain grace");
        }
        let idle = self.slots.wait_idle(deadline).await;
        clean && idle
    }

    pub fn running_syncs(&self) -> u64 {
        self.slots.running()
    }
}

/// The state directory must be writable before anything is scheduled.
pub fn prepare_state_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("tenants"))
        .map_err(|e| anyhow::anyhow!("state directory {}: {e}", dir.display()))?;
    let probe = dir.join(".write-probe");
    std::fs::write(&probe, b"")
        .map_err(|e| anyhow::anyhow!("state directory {} is not writable: {e}", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}
