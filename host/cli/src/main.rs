//! `connector-host`: runs a connector component with Baton's conventions.
//!
//! A plain run syncs into `--file`; subcommands print the connector's
//! capabilities and config schema, validate the configuration, or inspect a
//! c1z. Every flag `foo-bar` is also read from `BATON_FOO_BAR`; the
//! component's own config fields become flags the same way.
//!
//! Decision: this file is the only one that reads [`args::Cli`]. Each
//! command gets a small options struct built here (`component`'s
//! `InstanceOptions`, a `provision::Request`, `serve::ServeOptions`, the
//! ConductorOne `Settings` and `Connector`), so the modules that do the work
//! never see the command line and `args` imports nothing from the crate.

mod args;
mod component;
mod conductorone;
mod errors;
mod logging;
#[cfg(test)]
mod module_graph;
mod provision;
mod serve;
mod summary;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use connector_runtime::incremental::{IncrementalOptions, run_incremental_sync};
use connector_runtime::sync::{SyncOptions, run_sync};
use connector_runtime::{Operation, Output};

use args::{Cli, Command, Prescan, ServeArgs};
use component::{ComponentChoice, InstanceOptions};

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", errors::Chain(&e));
            ExitCode::from(1)
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().collect();
    let pre = args::prescan(&argv);
    let host = component::runtime(pre.cache_dir.as_deref())?;
    let plugin = component::load(
        &host,
        pre.component.as_deref(),
        pre.component_sha256.as_deref(),
    )
    .await?;
    let (cli, connector_values) = args::parse(&argv, &plugin.metadata)?;
    logging::init(&cli.log_level, cli.log_format.as_deref())?;

    match &cli.command {
        Some(Command::Capabilities) => {
            println!(
                "{}",
                component::capabilities_json(&plugin.metadata, &plugin.targetable_types())?
            );
            return Ok(());
        }
        Some(Command::Config) => {
            let trust = component_choice(&cli).trust()?;
            println!("{}", component::config_json(&plugin.metadata, trust)?);
            return Ok(());
        }
        Some(Command::Inspect(cmd)) => {
            let mut out = std::io::stdout().lock();
            c1z::run_inspect(&cli.file, cmd, &mut out)?;
            return Ok(());
        }
        Some(Command::ExportComponent { out }) => {
            use sha2::Digest;
            std::fs::write(out, component::BUNDLED_PINGONE)
                .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "{}  {}",
                hex::encode(sha2::Sha256::digest(component::BUNDLED_PINGONE)),
                out.display()
            );
            return Ok(());
        }
        Some(Command::Serve(args)) => {
            return serve::run(host, serve_options(&cli, &pre, args)?, connector_values).await;
        }
        Some(Command::Validate) | None => {}
    }

    let instance = Arc::new(component::instance(
        &plugin,
        &instance_options(&cli)?,
        connector_values,
    )?);
    match &cli.command {
        Some(Command::Validate) => {
            let (output, _) = plugin
                .call(&instance, Operation::Validate)
                .await
                .map_err(|e| anyhow::anyhow!("validation failed: {e}"))?;
            if let Output::Validation(v) = output {
                println!("ok: {}", v.summary);
                for w in v.warnings {
                    println!("warning: {w}");
                }
            }
            let trust = component_choice(&cli).trust()?;
            for line in component::egress_report(&plugin.metadata, &instance, trust)? {
                println!("{line}");
            }
            Ok(())
        }
        None if cli.client_id.is_some() => conductorone_mode(&plugin, &instance, &cli).await,
        _ => {
            if let Some(request) = provision_request(&cli)? {
                return provision::run(&plugin, &instance, &request, &cli.file).await;
            }
            // Baton validates before every sync: fail fast with the reason.
            let (output, _) = plugin
                .call(&instance, Operation::Validate)
                .await
                .map_err(|e| anyhow::anyhow!("the connector's configuration check failed: {e}"))?;
            if let Output::Validation(v) = &output {
                tracing::info!("validated: {}", v.summary);
            }
            let options = SyncOptions {
                concurrency: cli.sync_concurrency,
                checkpoint_interval: checkpoint_interval(&cli),
                limits: cli.sync_limits(),
                targets: sync_targets(&cli.sync_resources, &plugin)?,
                ..SyncOptions::default()
            };
            let progress = summary::Progress::start(&instance);
            let result = if cli.incremental {
                run_incremental_sync(
                    &plugin,
                    &instance,
                    &cli.file,
                    &options,
                    &IncrementalOptions::default(),
                )
                .await
                .map(|s| {
                    print!("{}", summary::render_mode(&s));
                    s.sync
                })
            } else {
                run_sync(&plugin, &instance, &cli.file, &options).await
            }
            .with_context(|| format!("syncing into {}", cli.file.display()));
            progress.stop();
            let summary = result?;
            print!(
                "{}",
                summary::render(&plugin.metadata.display_name, &summary)
            );
            Ok(())
        }
    }
}

/// `--sync-resources`: a targeted sync's resources. Refused, naming why,
/// for a component that cannot read single resources of the targets' types
/// and of its principal types: it could not fetch the targets or their
/// grants' principals.
fn sync_targets(
    names: &[String],
    plugin: &connector_runtime::Plugin,
) -> anyhow::Result<Vec<connector_runtime::targeted::SyncTarget>> {
    let targets = names
        .iter()
        .map(|n| connector_runtime::targeted::SyncTarget::parse(n))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("--sync-resources (BATON_SYNC_RESOURCES): {e}"))?;
    if !targets.is_empty()
        && !plugin.can_target(targets.iter().map(|t| t.id.resource_type.as_str()))
    {
        anyhow::bail!(
            "--sync-resources (BATON_SYNC_RESOURCES): {} cannot read single resources of \
             the targets' types and of every type that holds principals (contract 0.1.3 \
             resource-getter), so it cannot run this targeted sync; sync without \
             --sync-resources",
            plugin.metadata.display_name
        );
    }
    Ok(targets)
}

/// ConductorOne service mode for the one connector on the command line:
/// tasks until SIGTERM or Ctrl-C, then a drain.
async fn conductorone_mode(
    plugin: &Arc<connector_runtime::Plugin>,
    instance: &Arc<connector_runtime::InstanceCtx>,
    cli: &Cli,
) -> anyhow::Result<()> {
    let secret = match (&cli.client_secret, &cli.client_secret_file) {
        (Some(s), _) => s.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("--client-secret-file: reading {}", path.display()))?
            .trim()
            .to_string(),
        (None, None) => anyhow::bail!(
            "--client-id (BATON_CLIENT_ID) is set but --client-secret (BATON_CLIENT_SECRET) is not"
        ),
    };
    let dir = cli
        .c1z_temp_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir)
        .join("connector-host-c1");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let settings = conductorone::Settings {
        client_id: cli.client_id.clone().unwrap_or_default(),
        client_secret: secret.into(),
        api_host: cli.c1_api_host.clone(),
        host_id: conductorone::host_id(),
        task_concurrency: cli.task_concurrency.into(),
        extra_roots_pem: component::tls_options(cli.ca_bundle.as_deref())?.extra_roots_pem,
    };
    let connector = Arc::new(conductorone::Connector {
        current: {
            let target = conductorone::Target {
                plugin: plugin.clone(),
                instance: instance.clone(),
            };
            Box::new(move || target.clone())
        },
        provisioning: cli.provisioning,
        sync_file: dir.join("sync.c1z"),
        sync_concurrency: cli.sync_concurrency,
        checkpoint_interval: checkpoint_interval(cli),
        sync_limits: cli.sync_limits(),
        sync_lock: Default::default(),
    });
    let shutdown = conductorone::Shutdown::default();
    {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!("cannot listen for SIGTERM: {e}");
                        return;
                    }
                };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            tracing::info!("stopping: no new tasks; running syncs stop at a checkpoint");
            shutdown.trigger();
        });
    }
    conductorone::serve(
        settings,
        connector,
        shutdown,
        std::time::Duration::from_secs(30),
    )
    .await
}

/// `--checkpoint-interval`, within sane bounds.
fn checkpoint_interval(cli: &Cli) -> std::time::Duration {
    std::time::Duration::from_secs_f64(cli.checkpoint_interval.clamp(0.05, 3600.0))
}

fn component_choice(cli: &Cli) -> ComponentChoice {
    ComponentChoice {
        path: cli.component.clone(),
        sha256: cli.component_sha256.clone(),
        accept_egress: cli.accept_component_egress,
    }
}

fn instance_options(cli: &Cli) -> anyhow::Result<InstanceOptions> {
    Ok(InstanceOptions {
        trust: component_choice(cli).trust()?,
        limits: connector_runtime::Limits {
            memory_bytes: cli.memory_limit_mb.max(8) << 20,
            max_concurrent_requests: cli.max_concurrent_requests.max(1),
            requests_per_second: cli.requests_per_second,
            ..connector_runtime::Limits::default()
        },
        tls: component::tls_options(cli.ca_bundle.as_deref())?,
    })
}

/// The one-shot provisioning operation the flags ask for, if any (Baton's
/// precedence: grant, revoke, create account, delete).
fn provision_request(cli: &Cli) -> anyhow::Result<Option<provision::Request>> {
    use provision::Request;
    if let Some(ent) = &cli.grant_entitlement {
        let (Some(principal), Some(ptype)) = (&cli.grant_principal, &cli.grant_principal_type)
        else {
            anyhow::bail!("--grant-entitlement needs --grant-principal and --grant-principal-type");
        };
        return Ok(Some(Request::Grant {
            entitlement: ent.clone(),
            principal: principal.clone(),
            principal_type: ptype.clone(),
        }));
    }
    if let Some(grant) = &cli.revoke_grant {
        return Ok(Some(Request::Revoke {
            grant: grant.clone(),
        }));
    }
    if cli.create_account_login.is_some() || cli.create_account_profile.is_some() {
        let profile = match &cli.create_account_profile {
            Some(p) => Some(serde_json::from_str(p).context(
                "--create-account-profile (BATON_CREATE_ACCOUNT_PROFILE) must be a JSON object",
            )?),
            None => None,
        };
        return Ok(Some(Request::CreateAccount {
            login: cli.create_account_login.clone(),
            email: cli.create_account_email.clone(),
            profile,
            credential: cli.create_account_credential.clone(),
        }));
    }
    if let Some(id) = &cli.delete_resource {
        let Some(rtype) = &cli.delete_resource_type else {
            anyhow::bail!("--delete-resource needs --delete-resource-type");
        };
        return Ok(Some(Request::Delete {
            resource: id.clone(),
            resource_type: rtype.clone(),
        }));
    }
    Ok(None)
}

/// `serve`'s options: its own flags, and the global ones that describe the
/// single tenant when there is no tenants file. The component is the one
/// the first pass found (and loaded).
fn serve_options(
    cli: &Cli,
    pre: &Prescan,
    args: &ServeArgs,
) -> anyhow::Result<serve::ServeOptions> {
    Ok(serve::ServeOptions {
        tenants: args.tenants.clone(),
        admin_addr: args.admin_addr,
        admin_token_file: args.admin_token_file.clone(),
        drain_grace: args.drain_grace,
        reload_interval: args.reload_interval,
        service: serve::ServiceOptions {
            state_dir: args.state_dir.clone(),
            max_concurrent_syncs: args.max_concurrent_syncs,
            tls: component::tls_options(cli.ca_bundle.as_deref())?,
            checkpoint_interval: checkpoint_interval(cli),
            sync_limits: cli.sync_limits(),
        },
        single: serve::SingleTenant {
            component: ComponentChoice {
                path: pre.component.clone(),
                sha256: pre.component_sha256.clone(),
                accept_egress: cli.accept_component_egress,
            },
            output_dir: args.output_dir.clone(),
            sync_interval: args.sync_interval,
            incremental: cli.incremental,
            full_sync_interval: args.full_sync_interval,
            limits: serve::tenants::TenantLimits {
                memory_mb: Some(cli.memory_limit_mb),
                max_concurrent_requests: Some(cli.max_concurrent_requests),
                requests_per_second: cli.requests_per_second,
                sync_concurrency: Some(cli.sync_concurrency),
                ..Default::default()
            },
            provisioning: cli.provisioning,
            conductorone: serve::SingleBinding {
                client_id: cli.client_id.clone(),
                client_secret_file: cli.client_secret_file.clone(),
                client_secret_given: cli.client_secret.is_some(),
                api_host: cli.c1_api_host.clone(),
                task_concurrency: cli.task_concurrency.into(),
            },
        },
    })
}
