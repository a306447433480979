//! `connector-host serve`: a long-running host for many tenants.
//!
//! The map: [`tenants`] reads and checks definitions; [`service`] turns them
//! into deployments and runs each tenant's schedule; [`upload`] publishes
//! finished syncs; [`admin`] is the authenticated HTTP API and [`metrics`]
//! its Prometheus page. This module wires them to flags, signals and the
//! reload loop.
//!
//! Decision: the admin API listens on loopback by default
//! ([`DEFAULT_ADMIN_ADDR`]); any other address is an explicit choice.

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
use secrecy::SecretString;

use crate::args::{Cli, Prescan};
use service::{Components, Service, ServiceOptions};
use tenants::{ComponentSource, TenantLimits, TenantSpec};

/// The admin API can change access in every tenant's system and speaks
/// plain HTTP, so it is reachable from other hosts only when an operator
/// names another address.
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:8080";

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Tenants file or directory (TOML or YAML). Without it, one tenant is
    /// configured by the same flags and BATON_* variables as a one-shot run.
    #[arg(long, env = "CONNECTOR_HOST_TENANTS")]
    pub tenants: Option<PathBuf>,
    /// Address of the admin API (probes, metrics, status, triggers,
    /// provisioning). Loopback unless set: in a pod, set 0.0.0.0:8080 so
    /// the kubelet's probes reach it.
    #[arg(
        long,
        env = "CONNECTOR_HOST_ADMIN_ADDR",
        default_value = DEFAULT_ADMIN_ADDR
    )]
    pub admin_addr: SocketAddr,
    /// File holding the admin API's bearer token (or set
    /// CONNECTOR_HOST_ADMIN_TOKEN).
    #[arg(long, env = "CONNECTOR_HOST_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// Working files and checkpoints, one folder per tenant.
    #[arg(
        long,
        env = "CONNECTOR_HOST_STATE_DIR",
        default_value = "/var/lib/connector-host"
    )]
    pub state_dir: PathBuf,
    /// Single-tenant mode: where finished syncs are published
    /// (`<dir>/default.c1z`); default `<state-dir>/out`.
    #[arg(long, env = "CONNECTOR_HOST_OUTPUT_DIR")]
    pub output_dir: Option<PathBuf>,
    /// Single-tenant mode: time between syncs.
    #[arg(long, env = "CONNECTOR_HOST_SYNC_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub sync_interval: Duration,
    /// Syncs running at once across all tenants.
    #[arg(long, env = "CONNECTOR_HOST_MAX_CONCURRENT_SYNCS", default_value_t = 4)]
    pub max_concurrent_syncs: usize,
    /// On SIGTERM, how long running syncs get to reach a checkpoint.
    #[arg(long, env = "CONNECTOR_HOST_DRAIN_GRACE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub drain_grace: Duration,
    /// How often the tenants file is re-read (SIGHUP re-reads at once).
    #[arg(long, env = "CONNECTOR_HOST_RELOAD_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration)]
    pub reload_interval: Duration,
}

/// The admin API's bearer token, if one is configured. Without one the
/// host still serves (ConductorOne's own manifests carry no such token) with
/// only the probes open: every other route answers 401.
fn admin_token(args: &ServeArgs) -> anyhow::Result<Option<SecretString>> {
    let token = match &args.admin_token_file {
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

/// The single tenant of the Kubernetes-manifest case, from flags and env.
fn single_tenant(cli: &Cli, pre: &Prescan, args: &ServeArgs) -> anyhow::Result<TenantSpec> {
    let component = match (&pre.component, &pre.component_sha256) {
        (None, _) => ComponentSource::Builtin {
            builtin: "pingone".into(),
        },
        (Some(path), Some(sha)) => ComponentSource::File {
            path: path.clone(),
            sha256: sha.clone(),
            accept_egress: cli.accept_component_egress,
        },
        (Some(_), None) => bail!(
            "serve needs --component-sha256 (BATON_COMPONENT_SHA256) with --component: \
             a long-running host only runs components it can verify"
        ),
    };
    let output = args
        .output_dir
        .clone()
        .unwrap_or_else(|| args.state_dir.join("out"));
    Ok(TenantSpec {
        id: "default".into(),
        component,
        config: BTreeMap::new(),
        secrets: BTreeMap::new(),
        sync_interval: Some(args.sync_interval),
        limits: TenantLimits {
            memory_mb: Some(cli.memory_limit_mb),
            max_concurrent_requests: Some(cli.max_concurrent_requests),
            requests_per_second: cli.requests_per_second,
            sync_concurrency: Some(cli.sync_concurrency),
            ..TenantLimits::default()
        },
        upload: Some(service::default_upload(&output)),
        provisioning: cli.provisioning,
        conductorone: single_binding(cli)?,
    })
}

/// ConductorOne's manifest case: `BATON_CLIENT_ID` and `BATON_CLIENT_SECRET`
/// in the environment bind the one tenant to ConductorOne, which then
/// schedules its syncs and sends its provisioning tasks.
fn single_binding(cli: &Cli) -> anyhow::Result<Option<tenants::ConductorOneBinding>> {
    let Some(client_id) = cli.client_id.clone().filter(|c| !c.trim().is_empty()) else {
        return Ok(None);
    };
    // The tenant re-reads its secret by reference, never from a copy here.
    let client_secret = if let Some(file) = &cli.client_secret_file {
        tenants::SecretRef::File { file: file.clone() }
    } else if std::env::var_os("BATON_CLIENT_SECRET").is_some() {
        tenants::SecretRef::Env {
            env: "BATON_CLIENT_SECRET".into(),
        }
    } else if cli.client_secret.is_some() {
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
        api_host: cli.c1_api_host.clone(),
        task_concurrency: Some(cli.task_concurrency.into()),
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
    host: &crate::component::HostRuntime,
    cli: &Cli,
    pre: &Prescan,
    values: BTreeMap<String, String>,
    args: &ServeArgs,
) -> anyhow::Result<()> {
    let token = admin_token(args)?;
    service::prepare_state_dir(&args.state_dir)?;
    let tls = crate::component::tls_options(cli)?;
    let service = Service::new(
        ServiceOptions {
            state_dir: args.state_dir.clone(),
            max_concurrent_syncs: args.max_concurrent_syncs,
            tls,
            checkpoint_interval: Duration::from_secs_f64(
                cli.checkpoint_interval.clamp(0.05, 3600.0),
            ),
            sync_limits: cli.sync_limits(),
        },
        Components::new(host.runtime(), crate::component::BUNDLED_PINGONE),
    )?;

    let listener = tokio::net::TcpListener::bind(args.admin_addr)
        .await
        .with_context(|| format!("binding the admin API to {}", args.admin_addr))?;
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

    match &args.tenants {
        Some(path) => {
            reload(&service, path).await;
            let (service, path, every) = (service.clone(), path.clone(), args.reload_interval);
            tokio::spawn(async move {
                let mut hup =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
                loop {
                    let hup_recv = async {
                        match hup.as_mut() {
                            Some(h) => {
                                h.recv().await;
                            }
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = hup_recv => tracing::info!("SIGHUP: reloading tenants"),
                    }
                    if service.draining.load(std::sync::atomic::Ordering::Relaxed) {
                        return;
                    }
                    reload(&service, &path).await;
                }
            });
        }
        None => {
            let spec = single_tenant(cli, pre, args)?;
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
    let count = service.tenants().len();
    tracing::info!(tenants = count, "serving");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: draining"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: draining"),
    }
    let clean = service.drain(args.drain_grace).await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory as _, Parser as _};

    #[derive(clap::Parser)]
    struct Serve {
        #[command(flatten)]
        args: ServeArgs,
    }

    #[test]
    fn the_admin_api_binds_to_loopback_unless_told_otherwise() {
        let command = Serve::command();
        let arg = command
            .get_arguments()
            .find(|a| a.get_id() == "admin_addr")
            .unwrap();
        let defaults: Vec<_> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        assert_eq!(defaults, [DEFAULT_ADMIN_ADDR]);
        assert_eq!(
            arg.get_env().map(|e| e.to_string_lossy().into_owned()),
            Some("CONNECTOR_HOST_ADMIN_ADDR".into())
        );
        let default: SocketAddr = DEFAULT_ADMIN_ADDR.parse().unwrap();
        assert!(default.ip().is_loopback(), "{default}");
        // Parsed without the flag (and without its variable, when the
        // environment running the test does not set it).
        if std::env::var_os("CONNECTOR_HOST_ADMIN_ADDR").is_none() {
            let parsed = Serve::try_parse_from(["serve"]).unwrap();
            assert_eq!(parsed.args.admin_addr, default);
        }
        // Any other address is an explicit choice.
        let parsed = Serve::try_parse_from(["serve", "--admin-addr", "0.0.0.0:8080"]).unwrap();
        assert_eq!(parsed.args.admin_addr.to_string(), "0.0.0.0:8080");
    }
}
