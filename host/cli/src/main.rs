//! `connector-host`: runs a connector component with Baton's conventions.
//!
//! A plain run syncs into `--file`; subcommands print the connector's
//! capabilities and config schema, validate the configuration, or inspect a
//! c1z. Every flag `foo-bar` is also read from `BATON_FOO_BAR`; the
//! component's own config fields become flags the same way.

mod args;
mod component;
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
            eprintln!("error: {e:#}");
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
            println!("{}", component::config_json(&plugin.metadata)?);
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
