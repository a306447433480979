//! Tenant deployments: a component, its configuration and the instance
//! they make, built whole or refused whole.
//!
//! Decision: a component is loaded once per source and shared by every
//! tenant that names the same bytes; each tenant still gets its own
//! instance (secrets, egress allowlist, HTTP limiter, memory/CPU limits), so
//! a tenant's failure ends that tenant's operation and nothing else. A
//! definition's fingerprint covers its secrets' values, so a rotated secret
//! redeploys the tenant.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use connector_runtime::capabilities::http::TlsOptions;
use connector_runtime::config::{build_instance, resolve};
use connector_runtime::{InstanceCtx, Limits, Operation, Output, Plugin, Runtime};
use sha2::Digest;

use crate::serve::tenants::{ComponentSource, TenantSpec};

/// A loaded component, shared by every tenant that names the same bytes.
pub struct Components {
    runtime: Arc<Runtime>,
    loaded: Mutex<HashMap<ComponentSource, Arc<Plugin>>>,
}

impl Components {
    pub fn new(runtime: Arc<Runtime>) -> Self {
        Self {
            runtime,
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
                .load(crate::component::BUNDLED_PINGONE)
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

/// Locks `m`; a panic elsewhere leaves the data whole (every critical
/// section here is a plain read or write), so poisoning is ignored.
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// [`lock`]'s shared and exclusive kinds, for an `RwLock`.
pub(super) fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
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
    let config = spec.config.keys().map(|name| (name, "config"));
    for (name, under) in config.chain(spec.secrets.keys().map(|name| (name, "secrets"))) {
        let field = meta.config_schema.iter().find(|f| &f.name == name);
        let wrong = match (under, field.map(|f| f.secret)) {
            ("config", Some(true)) => {
                "is a secret; give it under [secrets] as an env or file reference"
            }
            ("secrets", Some(false)) => "not a secret field; put it under config",
            ("secrets", None) => "unknown field",
            _ => continue,
        };
        return Err(format!("{under}.{name}: {wrong}"));
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

/// The connector's own configuration check.
pub async fn validate(d: &Deployment) -> Result<String, String> {
    match d.plugin.call(&d.instance, Operation::Validate).await {
        Ok((Output::Validation(v), _)) => Ok(v.summary),
        Ok((other, _)) => Err(format!("unexpected output {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}
