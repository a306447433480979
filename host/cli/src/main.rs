//! `connector-host`: runs a connector component with Baton's conventions.
//!
//! A plain run syncs into `--file`; subcommands print the connector's
//! capabilities and config schema, validate the configuration, or inspect a
//! c1z. Every flag `foo-bar` is also read from `BATON_FOO_BAR`; the
//! component's own config fields become flags the same way.

mod args;
mod component;
mod conductorone;
mod errors;
mod logging;
mod provision;
mod serve;
mod summary;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use connector_runtime::sync::{SyncOptions, run_sync};
use connector_runtime::{Operation, Output};

use args::Command;

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
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", errors::Chain(&e));
            ExitCode::from(1)
        }
    }
}

async fn run() -> anyhow::Result<ExitCode> {
    let argv: Vec<String> = std::env::args().collect();
    let pre = args::prescan(&argv);
    let host = component::HostRuntime::new(pre.cache_dir.as_deref())?;
    let plugin = host.load(&pre).await?;
    let (cli, connector_values) = args::parse(&argv, &plugin.metadata)?;
    logging::init(&cli.log_level, cli.log_format.as_deref())?;

    match &cli.command {
        Some(Command::Capabilities) => {
            println!("{}", component::capabilities_json(&plugin.metadata)?);
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Config) => {
            let trust = component::trust(&cli)?;
            println!("{}", component::config_json(&plugin.metadata, trust)?);
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Inspect(cmd)) => {
            let mut out = std::io::stdout().lock();
            c1z::run_inspect(&cli.file, cmd, &mut out)?;
            return Ok(ExitCode::SUCCESS);
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
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Serve(args)) => {
            serve::run(&host, &cli, &pre, connector_values, args).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Validate) | None => {}
    }

    let instance = Arc::new(component::instance(&plugin, &cli, connector_values)?);
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
            for line in component::egress_report(&plugin.metadata, &instance, &cli)? {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        None if cli.client_id.is_some() => {
            conductorone_mode(&plugin, &instance, &cli).await?;
            Ok(ExitCode::SUCCESS)
        }
        _ if provision::requested(&cli) => {
            provision::run(&plugin, &instance, &cli).await?;
            Ok(ExitCode::SUCCESS)
        }
        _ => {
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
                checkpoint_interval: std::time::Duration::from_secs_f64(
                    cli.checkpoint_interval.clamp(0.05, 3600.0),
                ),
                limits: cli.sync_limits(),
                ..SyncOptions::default()
            };
            let progress = summary::Progress::start(&instance);
            let result = run_sync(&plugin, &instance, &cli.file, &options)
                .await
                .with_context(|| format!("syncing into {}", cli.file.display()));
            progress.stop();
            let summary = result?;
            summary::print(&plugin.metadata.display_name, &summary);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// ConductorOne service mode for the one connector on the command line:
/// tasks until SIGTERM or Ctrl-C, then a drain.
async fn conductorone_mode(
    plugin: &Arc<connector_runtime::Plugin>,
    instance: &Arc<connector_runtime::InstanceCtx>,
    cli: &args::Cli,
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
        extra_roots_pem: component::tls_options(cli)?.extra_roots_pem,
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
        checkpoint_interval: std::time::Duration::from_secs_f64(
            cli.checkpoint_interval.clamp(0.05, 3600.0),
        ),
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
