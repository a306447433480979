//! `connector-host serve`: a long-running host for many tenants.
//!
//! The map: [`tenants`] reads and checks definitions; [`service`] turns them
//! into deployments and runs each tenant's schedule; [`upload`] publishes
//! finished syncs; [`admin`] is the authenticated HTTP API and [`metrics`]
//! its Prometheus page. This module wires them to flags, signals and the
//! reload loop.
//!
//! Decision: the admin API listens on loopback unless the operator names
//! another address (`--admin-addr`, whose default is in `args`).
//!
//! This module takes [`ServeOptions`], built from the flags by `main`, and
//! never the command line itself.

pub mod admin;
pub mod metrics;
pub mod service;
pub mod tenants;
pub mod upload;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use connector_runtime::Runtime;
use secrecy::SecretString;

use crate::component::ComponentChoice;
pub use service::ServiceOptions;
use service::{Components, Service};
use tenants::{ComponentSource, TenantLimits, TenantSpec};

/// What `serve` runs with: its own flags and the global ones it uses.
pub struct ServeOptions {
    /// Tenants file or directory; without it, [`SingleTenant`] is served.
    pub tenants: Option<PathBuf>,
    pub admin_addr: SocketAddr,
    pub admin_token_file: Option<PathBuf>,
    pub drain_grace: Duration,
    pub reload_interval: Duration,
    /// The state directory, sync slots and what each sync may spend.
    pub service: ServiceOptions,
    pub single: SingleTenant,
}

/// The single tenant of the Kubernetes-manifest case, as flags and
/// environment describe it.
pub struct SingleTenant {
    pub component: ComponentChoice,
    /// Where finished syncs are published; default `<state-dir>/out`.
    pub output_dir: Option<PathBuf>,
    /// Unset: the tenant default (1h, 15m when incremental).
    pub sync_interval: Option<Duration>,
    /// Scheduled syncs are incremental, with a full one this often.
    pub incremental: bool,
    pub full_sync_interval: Duration,
    pub limits: TenantLimits,
    pub provisioning: bool,
    pub conductorone: SingleBinding,
}

/// The ConductorOne flags of a single tenant.
pub struct SingleBinding {
    pub client_id: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    /// Whether `--client-secret` was given (serve refuses a copy of it).
    pub client_secret_given: bool,
    pub api_host: Option<String>,
    pub task_concurrency: usize,
}

/// The admin API's bearer token, if one is configured. Without one the
/// host still serves (ConductorOne's own manifests carry no such token) with
/// only the probes open: every other route answers 401.
fn admin_token(token_file: Option<&Path>) -> anyhow::Result<Option<SecretString>> {
    let token = match token_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("--admin-token-file: reading {}", path.display()))?
            .trim()
            .to_string(),
        None => std::env::var("CONNECTOR_HOST_ADMIN_TOKEN").unwrap_or_default(),
    };
    if token.is_empty() {
        tracing::warn!(
            "no admin token (CONNECTOR_HOST_ADMIN_TOKEN or --admin-token-file): \
             only /healthz and /readyz are served"
        );
        return Ok(None);
    }
    // 16 characters is ~96 bits from a base64 generator: guessing is out.
    if token.len() < 16 {
        bail!("the admin API's bearer token must have at least 16 characters");
    }
    Ok(Some(SecretString::from(token)))
}

/// The single tenant's definition.
fn single_tenant(single: &SingleTenant, state_dir: &Path) -> anyhow::Result<TenantSpec> {
    let choice = &single.component;
    let component = match (&choice.path, &choice.sha256) {
        (None, _) => ComponentSource::Builtin {
            builtin: "pingone".into(),
        },
        (Some(path), Some(sha)) => ComponentSource::File {
            path: path.clone(),
            sha256: sha.clone(),
            accept_egress: choice.accept_egress,
        },
        (Some(_), None) => bail!(
            "serve needs --component-sha256 (BATON_COMPONENT_SHA256) with --component: \
             a long-running host only runs components it can verify"
        ),
    };
    // Finished syncs are published as `<output>/default.c1z`.
    let directory = single
        .output_dir
        .clone()
        .unwrap_or_else(|| state_dir.join("out"));
    Ok(TenantSpec {
        id: "default".into(),
        component,
        config: BTreeMap::new(),
        secrets: BTreeMap::new(),
        sync_interval: single.sync_interval,
        incremental: single.incremental,
        full_sync_interval: single.incremental.then_some(single.full_sync_interval),
        limits: single.limits.clone(),
        upload: Some(tenants::UploadTarget::Directory { directory }),
        provisioning: single.provisioning,
        conductorone: single_binding(&single.conductorone)?,
    })
}

/// ConductorOne's manifest case: `BATON_CLIENT_ID` and `BATON_CLIENT_SECRET`
/// in the environment bind the one tenant to ConductorOne, which then
/// schedules its syncs and sends its provisioning tasks.
fn single_binding(flags: &SingleBinding) -> anyhow::Result<Option<tenants::ConductorOneBinding>> {
    let Some(client_id) = flags.client_id.clone().filter(|c| !c.trim().is_empty()) else {
        return Ok(None);
    };
    // The tenant re-reads its secret by reference, never from a copy here.
    let client_secret = if let Some(file) = &flags.client_secret_file {
        tenants::SecretRef::File { file: file.clone() }
    } else if std::env::var_os("BATON_CLIENT_SECRET").is_some() {
        tenants::SecretRef::Env {
            env: "BATON_CLIENT_SECRET".into(),
        }
    } else if flags.client_secret_given {
        bail!(
            "serve reads the ConductorOne client secret from BATON_CLIENT_SECRET or --client-secret-file, not from --client-secret"
        )
    } else {
        bail!("--client-id (BATON_CLIENT_ID) is set but BATON_CLIENT_SECRET is not");
    };
    crate::conductorone::credentials::ClientId::parse(&client_id)?;
    Ok(Some(tenants::ConductorOneBinding {
        client_id,
        client_secret,
        api_host: flags.api_host.clone(),
        task_concurrency: Some(flags.task_concurrency),
    }))
}

/// Loads the tenants path and applies it; a path that cannot be read at all
/// keeps the current tenants (a half-written ConfigMap is not a deletion).
async fn reload(service: &Arc<Service>, path: &Path) {
    match tenants::load(path) {
        Ok(loaded) => {
            let specs = loaded
                .tenants
                .into_iter()
                .map(|s| {
                    let v = service::values_of(&s);
                    (s, v)
                })
                .collect();
            service.apply(specs, loaded.rejected).await;
        }
        Err(e) => tracing::error!("tenants not reloaded, the current ones keep running: {e}"),
    }
}

pub async fn run(
    runtime: Arc<Runtime>,
    options: ServeOptions,
    values: BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let token = admin_token(options.admin_token_file.as_deref())?;
    service::prepare_state_dir(&options.service.state_dir)?;
    let service = Service::new(options.service, Components::new(runtime))?;

    let listener = tokio::net::TcpListener::bind(options.admin_addr)
        .await
        .with_context(|| format!("binding the admin API to {}", options.admin_addr))?;
    let bound = listener.local_addr()?;
    if !bound.ip().is_loopback() {
        tracing::info!(
            "the admin API listens on {bound}, beyond loopback, over plain HTTP: \
             limit who can reach it (NetworkPolicy, firewall)"
        );
    }
    let app = admin::router(service.clone(), token);
    let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let admin = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = admin_stopped.await;
            })
            .await
    });
    // Tests and scripts read the port from this line when given port 0.
    println!("admin API listening on {bound}");
    tracing::info!("admin API listening on {bound}");

    match &options.tenants {
        Some(path) => {
            reload(&service, path).await;
            let (service, path, every) = (service.clone(), path.clone(), options.reload_interval);
            tokio::spawn(async move {
                let mut hup =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        Some(()) = async { hup.as_mut()?.recv().await } => {
                            tracing::info!("SIGHUP: reloading tenants")
                        }
                    }
                    if service.draining.load(std::sync::atomic::Ordering::Relaxed) {
                        return;
                    }
                    reload(&service, &path).await;
                }
            });
        }
        None => {
            let spec = single_tenant(&options.single, &service.options.state_dir)?;
            service
                .apply(vec![(spec, Ok((values, "single".into())))], Vec::new())
                .await;
            if service.tenants().is_empty() {
                let why = service
                    .rejected
                    .lock()
                    .ok()
                    .and_then(|r| r.first().map(|r| r.to_string()))
                    .unwrap_or_default();
                bail!("the tenant could not start: {why}");
            }
        }
    }
    tracing::info!(tenants = service.tenants().len(), "serving");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: draining"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: draining"),
    }
    let clean = service.drain(options.drain_grace).await;
    if clean {
        tracing::info!("drained: every running sync finished or checkpointed");
    } else {
        tracing::warn!(
            running = service.running_syncs(),
            "drain grace period over; unfinished syncs resume from their last checkpoint"
        );
    }
    let _ = stop_admin.send(());
    let _ = admin.await;
    println!(
        "drained: {}",
        if clean { "clean" } else { "grace period over" }
    );
    Ok(())
}
