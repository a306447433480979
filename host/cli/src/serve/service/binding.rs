//! Tenants bound to ConductorOne: one task loop each.
//!
//! Decision: ConductorOne schedules a bound tenant's syncs and sends its
//! provisioning tasks; the loop takes the tenant's current deployment when
//! each task starts (a hot swap affects later tasks only) and shares the
//! tenant's sync lock with its scheduled and triggered syncs, since they
//! all write the same c1z. A change of the binding (or of `provisioning`)
//! restarts the loop; removal stops it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::conductorone;
use crate::serve::tenants::read_secret;

use super::deployment::lock;
use super::options::{ServiceOptions, sync_limits_for};
use super::tenant::Tenant;

/// How long a stopping ConductorOne loop waits for its running tasks (a
/// sync stops at its next checkpoint, seconds away; a provisioning call
/// finishes).
const DRAIN_TASKS: Duration = Duration::from_secs(25);

/// A tenant's ConductorOne task loop and what it was started with.
struct ConductorOneLoop {
    /// The binding and provisioning flag it runs with; a change restarts it.
    key: String,
    shutdown: conductorone::Shutdown,
    handle: tokio::task::JoinHandle<()>,
}

/// The running loops, by tenant id.
#[derive(Default)]
pub(super) struct ConductorOneLoops {
    loops: Mutex<BTreeMap<String, ConductorOneLoop>>,
}

impl ConductorOneLoops {
    /// Starts, restarts or stops `tenant`'s ConductorOne task loop so it
    /// matches the tenant's current definition.
    pub(super) fn reconcile(&self, tenant: &Arc<Tenant>, options: &ServiceOptions) {
        let spec = tenant.current().spec.clone();
        let Some(binding) = &spec.conductorone else {
            self.stop(&tenant.id);
            return;
        };
        let key = format!("{binding:?} provisioning={}", spec.provisioning);
        let mut loops = lock(&self.loops);
        if loops.get(&tenant.id).is_some_and(|l| l.key == key) {
            return;
        }
        if let Some(old) = loops.remove(&tenant.id) {
            old.shutdown.trigger();
        }
        let secret = match read_secret("conductorone.client_secret", &binding.client_secret) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(tenant = %tenant.id, "{e}");
                lock(&tenant.status).last_error = Some(e);
                return;
            }
        };
        let settings = conductorone::Settings {
            client_id: binding.client_id.clone(),
            client_secret: secret.into(),
            api_host: binding.api_host.clone(),
            host_id: conductorone::host_id(),
            task_concurrency: binding.task_concurrency.unwrap_or(3),
            extra_roots_pem: options.tls.extra_roots_pem.clone(),
        };
        let current = tenant.clone();
        let connector = Arc::new(conductorone::Connector {
            current: Box::new(move || {
                let d = current.current();
                conductorone::Target {
                    plugin: d.plugin.clone(),
                    instance: d.instance.clone(),
                }
            }),
            provisioning: spec.provisioning,
            sync_file: options.sync_file(&tenant.id),
            sync_concurrency: spec.limits.sync_concurrency.unwrap_or(8),
            checkpoint_interval: options.checkpoint_interval,
            sync_limits: sync_limits_for(&options.sync_limits, &spec, false),
            sync_lock: tenant.running.clone(),
        });
        if let Some(dir) = connector.sync_file.parent()
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            tracing::error!(tenant = %tenant.id, "{}: {e}", dir.display());
        }
        let shutdown = conductorone::Shutdown::default();
        let (owner, stop) = (tenant.clone(), shutdown.clone());
        let handle = tokio::spawn(async move {
            // Drain waits for this loop, which waits for its tasks.
            let result = conductorone::serve(settings, connector, stop, DRAIN_TASKS).await;
            if let Err(e) = result {
                let e = format!("ConductorOne: {}", crate::errors::Chain(&e));
                tracing::error!(tenant = %owner.id, "{e}");
                lock(&owner.status).last_error = Some(e);
            }
        });
        tracing::info!(tenant = %tenant.id, "bound to ConductorOne");
        loops.insert(
            tenant.id.clone(),
            ConductorOneLoop {
                key,
                shutdown,
                handle,
            },
        );
    }

    pub(super) fn stop(&self, id: &str) {
        if let Some(l) = lock(&self.loops).remove(id) {
            l.shutdown.trigger();
        }
    }

    /// Stops every loop at once; the returned future ends when they all
    /// have (each waits for its own running tasks).
    pub(super) fn stop_all(&self) -> impl Future<Output = ()> + use<> {
        let all: Vec<ConductorOneLoop> = std::mem::take(&mut *lock(&self.loops))
            .into_values()
            .collect();
        for l in &all {
            l.shutdown.trigger();
        }
        async move {
            for l in all {
                let _ = l.handle.await;
            }
        }
    }
}
