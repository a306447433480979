//! The tenants one host serves: their deployments, schedules and status.
//!
//! Threats and decisions:
//! - Isolation. Each tenant has its own instance (secrets, egress allowlist,
//!   HTTP limiter, memory/CPU limits) and every call its own Store, so a
//!   tenant's trap, timeout or memory blow-up ends that tenant's operation
//!   and nothing else. Failures are recorded (redacted) in its status.
//! - Fairness. Syncs wait for one of `max_concurrent_syncs` permits from a
//!   FIFO semaphore, so a tenant that syncs often cannot starve the others;
//!   a failing tenant backs off exponentially (capped at its interval), so
//!   it neither hammers its API nor holds permits. A tenant holds at most
//!   one permit (single flight, below), and never for longer than its sync
//!   deadline: by default its interval (at least [`MIN_SYNC_DEADLINE`]),
//!   at most `--sync-deadline`. An endless sync (a hostile component) is
//!   cut there and its permit goes to the next tenant in line; a slow but
//!   healthy one stops at a checkpoint, queues again behind the others, and
//!   resumes. Token cycles and the call, page and queue limits end a
//!   hostile sync sooner (`connector_runtime::sync`).
//! - Single flight. A tenant runs at most one sync at a time (scheduled or
//!   triggered); a second request is refused, never queued behind it.
//! - Hot swap. A tenant's deployment (component, config, limits) is an
//!   `Arc` swapped whole. An operation takes the current one when it starts
//!   and keeps it to the end, so in-flight work finishes on the old
//!   component while new work gets the new one. A deployment that fails to
//!   load, resolve or validate is refused and the old one keeps serving.
//! - Drain. On SIGTERM no new sync starts; running ones stop at their next
//!   call boundary, commit and checkpoint, and resume on the next start.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use connector_runtime::capabilities::http::TlsOptions;
use connector_runtime::capabilities::secrets::redact;
use connector_runtime::config::{build_instance, resolve};
use connector_runtime::sync::{SyncError, SyncLimits, SyncOptions, run_sync};
use connector_runtime::{InstanceCtx, Limits, Operation, Output, Plugin, Runtime};
use serde::Serialize;
use sha2::Digest;
use tokio::sync::{Notify, Semaphore};

use crate::serve::tenants::{ComponentSource, TenantSpec, UploadTarget};
use crate::serve::upload;

/// First retry of a failing tenant; doubles per failure up to its interval.
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
/// Syncs of many tenants started at once would hit the APIs and the host in
/// one burst: each tenant's schedule is spread by up to ±10% of its interval.
const JITTER_FRACTION: f64 = 0.1;
/// The first sync of each tenant starts within this window after start-up.
const STARTUP_SPREAD: Duration = Duration::from_secs(2);
/// The shortest default deadline of a run in serve: a tenant syncing every
/// minute still gets runs long enough to make progress (a 5,000-user
/// PingOne sync is ~10,600 requests, ~106 s at PingOne's ~100 requests/s,
/// so it finishes in one run with 3x headroom), and a run ends at least
/// that often, so a slot changes hands.
pub const MIN_SYNC_DEADLINE: Duration = Duration::from_secs(300);

/// Service-wide settings.
pub struct ServiceOptions {
    pub state_dir: PathBuf,
    pub max_concurrent_syncs: usize,
    pub tls: TlsOptions,
    pub checkpoint_interval: Duration,
    /// What each sync may spend, unless a tenant's `limits` say otherwise.
    pub sync_limits: SyncLimits,
}

/// What `spec`'s syncs may spend: its own `limits`, else the service's.
/// Scheduled syncs (`by_interval`) also stop at the tenant's interval (at
/// least [`MIN_SYNC_DEADLINE`]) unless the tenant sets its own deadline;
/// ConductorOne schedules a bound tenant's syncs and has no interval here.
pub fn sync_limits_for(service: &SyncLimits, spec: &TenantSpec, by_interval: bool) -> SyncLimits {
    let l = &spec.limits;
    let deadline = match l.sync_deadline {
        Some(d) => d,
        None if by_interval => service.deadline.min(spec.interval().max(MIN_SYNC_DEADLINE)),
        None => service.deadline,
    };
    SyncLimits {
        max_calls: l.sync_max_calls.unwrap_or(service.max_calls),
        max_pages_per_task: l
            .sync_max_pages_per_task
            .unwrap_or(service.max_pages_per_task),
        max_queued_tasks: l.sync_max_queued_tasks.unwrap_or(service.max_queued_tasks),
        max_queue_bytes: l
            .sync_max_queue_mb
            .map_or(service.max_queue_bytes, |mb| mb << 20),
        deadline,
    }
}

/// A loaded component, shared by every tenant that names the same bytes.
pub struct Components {
    runtime: Arc<Runtime>,
    builtin_pingone: &'static [u8],
    loaded: Mutex<HashMap<ComponentSource, Arc<Plugin>>>,
}

impl Components {
    pub fn new(runtime: Arc<Runtime>, builtin_pingone: &'static [u8]) -> Self {
        Self {
            runtime,
            builtin_pingone,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    pub async fn get(&self, source: &ComponentSource) -> Result<Arc<Plugin>, String> {
        if let Some(p) = lock(&self.loaded).get(source) {
            return Ok(p.clone());
        }
        let plugin = match source {
            ComponentSource::Builtin { .. } => self
                .runtime
                .load(self.builtin_pingone)
                .await
                .map_err(|e| format!("component: loading the bundled component: {e}"))?,
            ComponentSource::File { path, sha256, .. } => self
                .runtime
                .load_file(path, Some(sha256))
                .await
                .map_err(|e| format!("component: loading {}: {e}", path.display()))?,
        };
        lock(&self.loaded).insert(source.clone(), plugin.clone());
        Ok(plugin)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One version of a tenant: what its operations run with.
pub struct Deployment {
    pub spec: TenantSpec,
    /// Changes when the definition or a secret's value changes.
    pub fingerprint: String,
    pub plugin: Arc<Plugin>,
    pub instance: Arc<InstanceCtx>,
}

impl Deployment {
    pub fn digest(&self) -> &str {
        &self.plugin.digest
    }
}

/// Builds a deployment from a definition and its raw values (config and
/// secrets by field name). Errors name the field.
pub async fn build_deployment(
    components: &Components,
    spec: &TenantSpec,
    values: BTreeMap<String, String>,
    fingerprint: String,
    tls: &TlsOptions,
) -> Result<Deployment, String> {
    let plugin = components.get(&spec.component).await?;
    let meta = &plugin.metadata;
    for (name, _) in spec.config.iter() {
        if let Some(f) = meta.config_schema.iter().find(|f| &f.name == name)
            && f.secret
        {
            return Err(format!(
                "config.{name}: is a secret; give it under [secrets] as an env or file reference"
            ));
        }
    }
    for name in spec.secrets.keys() {
        match meta.config_schema.iter().find(|f| &f.name == name) {
            Some(f) if !f.secret => {
                return Err(format!(
                    "secrets.{name}: not a secret field; put it under config"
                ));
            }
            None => return Err(format!("secrets.{name}: unknown field")),
            _ => {}
        }
    }
    let resolved =
        resolve(meta, &values, spec.component.trust()).map_err(|e| format!("config: {e}"))?;
    let l = &spec.limits;
    let defaults = Limits::default();
    let limits = Limits {
        memory_bytes: l.memory_mb.map_or(defaults.memory_bytes, |m| m << 20),
        cpu_per_call: l
            .cpu_ms_per_call
            .map_or(defaults.cpu_per_call, Duration::from_millis),
        wall_per_call: l
            .wall_seconds_per_call
            .map_or(defaults.wall_per_call, Duration::from_secs),
        max_concurrent_requests: l
            .max_concurrent_requests
            .unwrap_or(defaults.max_concurrent_requests),
        requests_per_second: l.requests_per_second.or(defaults.requests_per_second),
        ..defaults
    };
    let instance = build_instance(&spec.id, meta, resolved, limits, tls)
        .map_err(|e| format!("instance: {e}"))?;
    Ok(Deployment {
        spec: spec.clone(),
        fingerprint,
        plugin,
        instance: Arc::new(instance),
    })
}

/// Raw config and secret values by field name, and their fingerprint.
pub type TenantValues = (BTreeMap<String, String>, String);

/// A tenant's definition plus the values of its secrets, fingerprinted.
pub fn values_of(spec: &TenantSpec) -> Result<TenantValues, String> {
    let secrets = spec.read_secrets()?;
    let mut h = sha2::Sha256::new();
    h.update(spec.fingerprint().as_bytes());
    for (k, v) in &secrets {
        h.update(k.as_bytes());
        h.update(sha2::Sha256::digest(v.as_bytes()));
    }
    let mut values = spec.config_strings();
    values.extend(secrets);
    Ok((values, hex::encode(h.finalize())))
}

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
    running: Arc<tokio::sync::Mutex<()>>,
    pub status: Mutex<TenantStatus>,
    pub counters: TenantCounters,
    /// Wakes the scheduler: a trigger, a swap, removal or drain.
    wake: Notify,
    removed: AtomicBool,
    memory_high_water: AtomicU64,
}

/// One sync lock per tenant id, for the life of the service: a tenant that
/// a reload removes and adds again is a new `Tenant`, but a sync of the old
/// one may still be writing the same `tenants/<id>/sync.c1z`.
#[derive(Default)]
struct SyncLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl SyncLocks {
    fn for_tenant(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.0).entry(id.to_string()).or_default().clone()
    }
}

impl Tenant {
    fn new(d: Deployment, running: Arc<tokio::sync::Mutex<()>>) -> Arc<Self> {
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
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn swap(&self, d: Deployment) {
        let digest = d.digest().to_string();
        let interval = d.spec.interval().as_secs();
        let old = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(|e| e.into_inner()),
            Arc::new(d),
        );
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
        let memory = self.memory_high_water.load(Ordering::Relaxed).max(
            current
                .instance
                .metrics
                .memory_high_water
                .load(Ordering::Relaxed),
        );
        (t, memory)
    }

    pub fn is_running(&self) -> bool {
        self.running.try_lock().is_err()
    }

    pub fn redact(&self, d: &Deployment, text: &str) -> String {
        redact(text, &d.instance.secrets)
    }
}

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
    pub rejected: Mutex<Vec<crate::serve::tenants::Rejected>>,
    sync_permits: Semaphore,
    pub draining: AtomicBool,
    /// Passed to every sync: set on drain.
    stop: Arc<AtomicBool>,
    pub ready: AtomicBool,
    upload_client: reqwest::Client,
    running_syncs: AtomicU64,
    idle: Notify,
    /// Task loops of tenants bound to ConductorOne, by tenant id.
    conductorone: Mutex<BTreeMap<String, ConductorOneLoop>>,
    sync_locks: SyncLocks,
}

/// A tenant's ConductorOne task loop and what it was started with.
struct ConductorOneLoop {
    /// The binding and provisioning flag it runs with; a change restarts it.
    key: String,
    shutdown: crate::conductorone::Shutdown,
    handle: tokio::task::JoinHandle<()>,
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
            sync_permits: Semaphore::new(permits),
            draining: AtomicBool::new(false),
            stop: Arc::new(AtomicBool::new(false)),
            ready: AtomicBool::new(false),
            upload_client: client.build()?,
            running_syncs: AtomicU64::new(0),
            idle: Notify::new(),
            conductorone: Mutex::new(BTreeMap::new()),
            sync_locks: SyncLocks::default(),
        }))
    }

    pub fn tenant(&self, id: &str) -> Option<Arc<Tenant>> {
        self.tenants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    pub fn tenants(&self) -> Vec<Arc<Tenant>> {
        self.tenants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Applies a set of definitions: new tenants start, changed ones swap
    /// (or keep serving the old deployment when the new one is refused),
    /// missing ones stop after their in-flight work.
    pub async fn apply(
        self: &Arc<Self>,
        specs: Vec<(TenantSpec, Result<TenantValues, String>)>,
        rejected: Vec<crate::serve::tenants::Rejected>,
    ) {
        let mut rejected = rejected;
        let mut keep = std::collections::BTreeSet::new();
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
                    self.tenants
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(t.id.clone(), t.clone());
                    tracing::info!(tenant = %t.id, component = %t.current().digest(), "tenant added");
                    self.reconcile_conductorone(&t);
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
                    self.reconcile_conductorone(&t);
                }
                (Err(e), existing) => self.refuse(existing.as_deref(), &spec.id, e, &mut rejected),
            }
        }
        let removed: Vec<Arc<Tenant>> = {
            let mut map = self.tenants.write().unwrap_or_else(|e| e.into_inner());
            let gone: Vec<String> = map.keys().filter(|k| !keep.contains(*k)).cloned().collect();
            gone.iter().filter_map(|k| map.remove(k)).collect()
        };
        for t in removed {
            tracing::info!(tenant = %t.id, "tenant removed");
            self.stop_conductorone(&t.id);
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
        rejected: &mut Vec<crate::serve::tenants::Rejected>,
    ) {
        if let Some(t) = existing {
            t.counters.swaps_refused.fetch_add(1, Ordering::Relaxed);
            lock(&t.status).update_error = Some(error.clone());
            tracing::warn!(
                tenant = id,
                "update refused, the previous deployment keeps serving: {error}"
            );
        } else {
            rejected.push(crate::serve::tenants::Rejected {
                tenant: id.to_string(),
                error,
            });
        }
    }

    /// The tenant's schedule: sync, wait (interval ± jitter, or backoff
    /// after a failure), repeat, until the tenant is removed or we drain.
    async fn schedule(self: Arc<Self>, tenant: Arc<Tenant>) {
        let mut wait = STARTUP_SPREAD.mul_f64(rand::random::<f64>());
        loop {
            lock(&tenant.status).next_sync_in_seconds = Some(wait.as_secs());
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = tenant.wake.notified() => {}
            }
            if self.draining.load(Ordering::Relaxed) || tenant.removed.load(Ordering::Relaxed) {
                return;
            }
            // ConductorOne schedules a bound tenant's syncs itself.
            if tenant.current().spec.conductorone.is_some() {
                wait = tenant.current().spec.interval();
                continue;
            }
            let interval = tenant.current().spec.interval();
            let jitter = 1.0 + JITTER_FRACTION * (2.0 * rand::random::<f64>() - 1.0);
            // A wake-up by a swap syncs at once: the new deployment shows
            // its effect (or its failure) without waiting a whole interval.
            let _ = self.sync_now(&tenant).await;
            let failures = lock(&tenant.status).consecutive_failures;
            wait = if failures == 0 {
                interval.mul_f64(jitter)
            } else {
                FIRST_BACKOFF
                    .saturating_mul(1 << (failures - 1).min(16))
                    .min(interval)
                    .mul_f64(jitter)
            };
        }
    }

    /// Starts a sync of `id` in the background (the admin API's trigger).
    pub fn trigger(self: &Arc<Self>, id: &str) -> Result<(), TriggerError> {
        if self.draining.load(Ordering::Relaxed) {
            return Err(TriggerError::Draining);
        }
        let tenant = self.tenant(id).ok_or(TriggerError::UnknownTenant)?;
        if tenant.is_running() {
            return Err(TriggerError::AlreadyRunning);
        }
        let me = self.clone();
        tokio::spawn(async move {
            let _ = me.sync_now(&tenant).await;
        });
        Ok(())
    }

    /// One sync of `tenant`, if it is not already syncing.
    pub async fn sync_now(&self, tenant: &Arc<Tenant>) -> Result<(), TriggerError> {
        let Ok(_running) = tenant.running.try_lock() else {
            return Err(TriggerError::AlreadyRunning);
        };
        lock(&tenant.status).state = "waiting";
        let Ok(_permit) = self.sync_permits.acquire().await else {
            lock(&tenant.status).state = "idle";
            return Err(TriggerError::Draining);
        };
        if self.draining.load(Ordering::Relaxed) {
            lock(&tenant.status).state = "idle";
            return Err(TriggerError::Draining);
        }
        self.running_syncs.fetch_add(1, Ordering::SeqCst);
        let d = tenant.current();
        lock(&tenant.status).state = "syncing";
        let started = std::time::Instant::now();
        let result = self.run_one_sync(tenant, &d).await;
        let micros = started.elapsed().as_micros() as u64;
        tenant
            .counters
            .sync_micros_sum
            .fetch_add(micros, Ordering::Relaxed);
        tenant.memory_high_water.fetch_max(
            d.instance.metrics.memory_high_water.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        let mut s = lock(&tenant.status);
        s.state = "idle";
        match result {
            Ok(last) => {
                tenant.counters.syncs_ok.fetch_add(1, Ordering::Relaxed);
                s.last_sync = Some(last);
                s.last_error = None;
                s.consecutive_failures = 0;
            }
            Err(None) => {
                tenant
                    .counters
                    .syncs_interrupted
                    .fetch_add(1, Ordering::Relaxed);
            }
            Err(Some(e)) => {
                tenant.counters.syncs_failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(tenant = %tenant.id, "sync failed: {e}");
                s.last_error = Some(e);
                s.consecutive_failures += 1;
            }
        }
        drop(s);
        if self.running_syncs.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
        Ok(())
    }

    /// `Err(None)`: stopped by a drain at a checkpoint.
    async fn run_one_sync(
        &self,
        tenant: &Tenant,
        d: &Deployment,
    ) -> Result<LastSync, Option<String>> {
        let fail = |e: String| Some(tenant.redact(d, &e));
        validate(d)
            .await
            .map_err(|e| fail(format!("validate: {e}")))?;
        let dir = self.options.state_dir.join("tenants").join(&tenant.id);
        std::fs::create_dir_all(&dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
        let file = dir.join("sync.c1z");
        let options = SyncOptions {
            concurrency: d.spec.limits.sync_concurrency.unwrap_or(8),
            checkpoint_interval: self.options.checkpoint_interval,
            stop: Some(self.stop.clone()),
            limits: sync_limits_for(&self.options.sync_limits, &d.spec, true),
            ..SyncOptions::default()
        };
        let summary = match run_sync(&d.plugin, &d.instance, &file, &options).await {
            Ok(s) => s,
            Err(SyncError::Interrupted) => return Err(None),
            Err(e) => return Err(fail(format!("sync: {e}"))),
        };
        let published_to = match &d.spec.upload {
            Some(target) => upload::publish(target, &tenant.id, &file, &self.upload_client)
                .await
                .map_err(|e| fail(format!("upload: {}", crate::errors::Chain(&e))))?,
            None => file.display().to_string(),
        };
        Ok(LastSync {
            finished_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            seconds: summary.seconds,
            sync_id: summary.sync_id,
            resumed: summary.resumed,
            resources: summary.resources.iter().map(|(_, n)| n).sum(),
            entitlements: summary.entitlements,
            grants: summary.grants,
            requests: summary.requests,
            component_sha256: d.digest().to_string(),
            published_to,
        })
    }

    /// Starts, restarts or stops `tenant`'s ConductorOne task loop so it
    /// matches the tenant's current definition.
    fn reconcile_conductorone(&self, tenant: &Arc<Tenant>) {
        let spec = tenant.current().spec.clone();
        let Some(binding) = &spec.conductorone else {
            self.stop_conductorone(&tenant.id);
            return;
        };
        let key = format!("{binding:?} provisioning={}", spec.provisioning);
        let mut loops = lock(&self.conductorone);
        if loops.get(&tenant.id).is_some_and(|l| l.key == key) {
            return;
        }
        if let Some(old) = loops.remove(&tenant.id) {
            old.shutdown.trigger();
        }
        let secret = match crate::serve::tenants::read_secret(
            "conductorone.client_secret",
            &binding.client_secret,
        ) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(tenant = %tenant.id, "{e}");
                lock(&tenant.status).last_error = Some(e);
                return;
            }
        };
        let settings = crate::conductorone::Settings {
            client_id: binding.client_id.clone(),
            client_secret: secret.into(),
            api_host: binding.api_host.clone(),
            host_id: crate::conductorone::host_id(),
            task_concurrency: binding.task_concurrency.unwrap_or(3),
            extra_roots_pem: self.options.tls.extra_roots_pem.clone(),
        };
        let current = tenant.clone();
        let connector = Arc::new(crate::conductorone::Connector {
            current: Box::new(move || {
                let d = current.current();
                crate::conductorone::Target {
                    plugin: d.plugin.clone(),
                    instance: d.instance.clone(),
                }
            }),
            provisioning: spec.provisioning,
            sync_file: self
                .options
                .state_dir
                .join("tenants")
                .join(&tenant.id)
                .join("sync.c1z"),
            sync_concurrency: spec.limits.sync_concurrency.unwrap_or(8),
            checkpoint_interval: self.options.checkpoint_interval,
            sync_limits: sync_limits_for(&self.options.sync_limits, &spec, false),
            sync_lock: tenant.running.clone(),
        });
        if let Some(dir) = connector.sync_file.parent()
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            tracing::error!(tenant = %tenant.id, "{}: {e}", dir.display());
        }
        let shutdown = crate::conductorone::Shutdown::default();
        let (owner, stop) = (tenant.clone(), shutdown.clone());
        let handle = tokio::spawn(async move {
            // Drain waits for this loop, which waits for its tasks.
            let result = crate::conductorone::serve(settings, connector, stop, DRAIN_TASKS).await;
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

    fn stop_conductorone(&self, id: &str) {
        if let Some(l) = lock(&self.conductorone).remove(id) {
            l.shutdown.trigger();
        }
    }

    /// Stops new work, lets running syncs reach a checkpoint, and waits for
    /// them up to `grace`. Returns whether everything stopped in time.
    pub async fn drain(&self, grace: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + grace;
        // ConductorOne-bound tenants: no new tasks; their syncs stop at a
        // checkpoint and report CANCELLED.
        let bound: Vec<ConductorOneLoop> = std::mem::take(&mut *lock(&self.conductorone))
            .into_values()
            .collect();
        for l in &bound {
            l.shutdown.trigger();
        }
        self.draining.store(true, Ordering::SeqCst);
        self.ready.store(false, Ordering::SeqCst);
        self.stop.store(true, Ordering::SeqCst);
        self.sync_permits.close();
        for t in self.tenants() {
            t.wake.notify_one();
        }
        let mut clean = tokio::time::timeout_at(deadline, async {
            for l in bound {
                let _ = l.handle.await;
            }
        })
        .await
        .is_ok();
        if !clean {
            tracing::warn!("ConductorOne task loops did not stop within the drain grace");
        }
        loop {
            let idle = self.idle.notified();
            if self.running_syncs.load(Ordering::SeqCst) == 0 {
                return clean;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                clean &= self.running_syncs.load(Ordering::SeqCst) == 0;
                return clean;
            }
        }
    }

    pub fn running_syncs(&self) -> u64 {
        self.running_syncs.load(Ordering::SeqCst)
    }
}

/// How long a stopping ConductorOne loop waits for its running tasks (a
/// sync stops at its next checkpoint, seconds away; a provisioning call
/// finishes).
const DRAIN_TASKS: Duration = Duration::from_secs(25);

/// The connector's own configuration check.
pub async fn validate(d: &Deployment) -> Result<String, String> {
    match d.plugin.call(&d.instance, Operation::Validate).await {
        Ok((Output::Validation(v), _)) => Ok(v.summary),
        Ok((other, _)) => Err(format!("unexpected output {other:?}")),
        Err(e) => Err(e.to_string()),
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

/// Where single-tenant mode publishes: `<output>/default.c1z`.
pub fn default_upload(output_dir: &Path) -> UploadTarget {
    UploadTarget::Directory {
        directory: output_dir.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scheduled_sync_stops_at_its_interval_unless_its_tenant_says_otherwise() {
        let spec = |interval: u64, limits| TenantSpec {
            id: "t".into(),
            component: ComponentSource::Builtin {
                builtin: "pingone".into(),
            },
            config: Default::default(),
            secrets: Default::default(),
            sync_interval: Some(Duration::from_secs(interval)),
            limits,
            upload: None,
            provisioning: false,
            conductorone: None,
        };
        let service = SyncLimits::default();
        let hour = spec(3600, Default::default());
        assert_eq!(
            sync_limits_for(&service, &hour, true).deadline,
            Duration::from_secs(3600)
        );
        // ConductorOne schedules bound tenants: the service's deadline.
        assert_eq!(sync_limits_for(&service, &hour, false), service);
        // A short interval still leaves a run time to make progress.
        let often = spec(10, Default::default());
        assert_eq!(
            sync_limits_for(&service, &often, true).deadline,
            MIN_SYNC_DEADLINE
        );
        let own = spec(
            3600,
            crate::serve::tenants::TenantLimits {
                sync_deadline: Some(Duration::from_secs(3)),
                sync_max_queue_mb: Some(2),
                ..Default::default()
            },
        );
        let l = sync_limits_for(&service, &own, true);
        assert_eq!(l.deadline, Duration::from_secs(3));
        assert_eq!(l.max_queue_bytes, 2 << 20);
        assert_eq!(l.max_calls, service.max_calls);
    }

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
