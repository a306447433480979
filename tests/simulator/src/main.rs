//! `pingone-sim`: the simulator as a separate process, for end-to-end
//! tests, the README demo and benchmarks. Binds loopback only, logs to
//! stderr, writes a ready file once listening and exits cleanly on SIGINT
//! or SIGTERM.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use pingone_sim::{
    AuthMethod, ClientAccess, ClientConfig, DuplicateMembership, DuplicateUsername, ErrorBurst,
    ServeOptions, SimConfig,
};

/// A PingOne Platform API simulator (auth host + API host on loopback).
#[derive(Parser, Debug)]
#[command(name = "pingone-sim", version)]
struct Args {
    /// JSON file with a full SimConfig; flags below override its fields.
    #[arg(long, env = "PINGONE_SIM_CONFIG")]
    config: Option<PathBuf>,
    /// Tenant size preset (default: small).
    #[arg(long, value_parser = ["tiny", "small", "medium", "large"])]
    preset: Option<String>,
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long)]
    users: Option<usize>,
    #[arg(long)]
    groups: Option<usize>,
    #[arg(long)]
    populations: Option<usize>,
    /// Total direct user→group memberships.
    #[arg(long)]
    memberships: Option<usize>,
    #[arg(long)]
    nested_fraction: Option<f64>,
    #[arg(long)]
    dynamic_groups: Option<usize>,
    #[arg(long)]
    custom_roles: Option<usize>,
    #[arg(long)]
    role_assignment_density: Option<f64>,
    /// Fixed environment id (default: derived from the seed).
    #[arg(long)]
    environment_id: Option<String>,
    #[arg(long)]
    client_id: Option<String>,
    #[arg(long)]
    client_secret: Option<String>,
    #[arg(long, value_enum)]
    auth_method: Option<AuthMethod>,
    #[arg(long, value_enum)]
    client_access: Option<ClientAccess>,
    #[arg(long)]
    token_lifetime_secs: Option<u64>,
    #[arg(long)]
    users_page_max: Option<usize>,
    #[arg(long)]
    other_page_max: Option<usize>,
    #[arg(long, default_value_t = 0)]
    api_port: u16,
    #[arg(long, default_value_t = 0)]
    auth_port: u16,
    /// Serve HTTPS with a generated CA.
    #[arg(long)]
    tls: bool,
    /// Where to write the CA certificate (PEM) in TLS mode.
    #[arg(long)]
    ca_out: Option<PathBuf>,
    /// Write the generated tenant's ground truth (JSON) here at start.
    #[arg(long)]
    ground_truth_out: Option<PathBuf>,
    /// Write connection details (JSON) here once listening.
    #[arg(long)]
    ready_file: Option<PathBuf>,
    // Faults.
    #[arg(long)]
    latency_ms: Option<u64>,
    #[arg(long)]
    jitter_ms: Option<u64>,
    #[arg(long)]
    rate_limit_per_sec: Option<f64>,
    #[arg(long)]
    rate_limit_burst: Option<f64>,
    #[arg(long)]
    error_rate: Option<f64>,
    /// 500 or 503.
    #[arg(long)]
    error_status: Option<u16>,
    /// Deterministic 5xx bursts: EVERY:LENGTH[:STATUS], e.g. 50:3:503.
    #[arg(long)]
    error_burst: Option<String>,
    #[arg(long)]
    reset_rate: Option<f64>,
    #[arg(long)]
    reset_after_processing: bool,
    #[arg(long)]
    truncate_rate: Option<f64>,
    #[arg(long)]
    short_pages: bool,
    #[arg(long)]
    consistency_window_ms: Option<u64>,
    #[arg(long)]
    environment_warmup_ms: Option<u64>,
    /// The actor's own role still propagating: role grants refused this long.
    #[arg(long)]
    own_role_propagation_ms: Option<u64>,
    /// Refuse `limit` on every collection.
    #[arg(long)]
    refuse_limit: bool,
    /// Refuse every users filter but `memberOfGroups[...]`.
    #[arg(long)]
    refuse_user_filters: bool,
    /// Serve groups without `directMemberCounts`.
    #[arg(long)]
    omit_member_counts: bool,
    /// Fraction of groups whose direct member count reads 0.
    #[arg(long)]
    zero_member_counts: Option<f64>,
    #[arg(long)]
    expire_tokens_after_requests: Option<u64>,
    #[arg(long, value_enum)]
    duplicate_membership: Option<DuplicateMembership>,
    #[arg(long, value_enum)]
    duplicate_username: Option<DuplicateUsername>,
    /// Accept users without an email.
    #[arg(long)]
    no_require_email: bool,
    #[arg(long)]
    fault_seed: Option<u64>,
}

fn parse_burst(s: &str) -> anyhow::Result<ErrorBurst> {
    let parts: Vec<&str> = s.split(':').collect();
    let num = |i: usize| -> anyhow::Result<u64> {
        parts
            .get(i)
            .context("expected EVERY:LENGTH[:STATUS]")?
            .parse::<u64>()
            .context("not a number")
    };
    Ok(ErrorBurst {
        every: num(0)?,
        length: num(1)?,
        status: if parts.len() > 2 { num(2)? as u16 } else { 500 },
    })
}

fn build_config(a: &Args) -> anyhow::Result<SimConfig> {
    let seed = a.seed.unwrap_or(1);
    let mut c = match &a.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            serde_json::from_str::<SimConfig>(&text)
                .with_context(|| format!("parsing {}", p.display()))?
        }
        None => SimConfig::preset(a.preset.as_deref().unwrap_or("small"), seed)
            .context("unknown preset")?,
    };
    // A flag given overrides the file's or the preset's value.
    macro_rules! set {
        ($to:expr; $($field:ident),+) => {$(
            if let Some(v) = a.$field.clone() {
                $to.$field = v;
            }
        )+};
        ($to:expr; Some $($field:ident),+) => {$(
            if let Some(v) = a.$field.clone() {
                $to.$field = Some(v);
            }
        )+};
    }
    set!(c; seed, users, groups, populations, nested_fraction, dynamic_groups, custom_roles);
    set!(c; role_assignment_density, token_lifetime_secs, users_page_max, other_page_max);
    set!(c; Some memberships, environment_id);
    if c.clients.is_empty() {
        c.clients.push(ClientConfig::default());
    }
    let client = &mut c.clients[0];
    set!(client; client_id, client_secret, auth_method);
    if let Some(x) = a.client_access {
        client.access = x;
    }
    let f = &mut c.faults;
    set!(f; latency_ms, jitter_ms, error_rate, error_status, reset_rate, truncate_rate);
    set!(f; consistency_window_ms, environment_warmup_ms, own_role_propagation_ms);
    set!(f; zero_member_counts, duplicate_membership, duplicate_username);
    set!(f; Some rate_limit_per_sec, rate_limit_burst, expire_tokens_after_requests);
    if let Some(b) = &a.error_burst {
        f.error_burst = Some(parse_burst(b)?);
    }
    if a.fault_seed.is_some() {
        f.seed = a.fault_seed;
    }
    f.refuse_limit |= a.refuse_limit;
    f.refuse_user_filters |= a.refuse_user_filters;
    f.omit_member_counts |= a.omit_member_counts;
    f.reset_after_processing |= a.reset_after_processing;
    f.short_pages |= a.short_pages;
    f.require_email &= !a.no_require_email;
    Ok(c)
}

fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        return;
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let config = build_config(&args)?;
    let started = std::time::Instant::now();
    let sim = pingone_sim::start(
        config,
        ServeOptions {
            api_port: args.api_port,
            auth_port: args.auth_port,
            tls: args.tls,
        },
    )
    .await?;
    let summary = sim.summary();
    tracing::info!(
        users = summary.users,
        groups = summary.groups,
        memberships = summary.memberships,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "tenant generated"
    );
    let mut ca_path = None;
    if let (Some(pem), Some(path)) = (sim.ca_pem(), &args.ca_out) {
        write_atomic(path, pem.as_bytes())?;
        ca_path = Some(path.display().to_string());
    } else if args.ca_out.is_some() {
        tracing::warn!("--ca-out has no effect without --tls");
    }
    if let Some(path) = &args.ground_truth_out {
        write_atomic(path, &serde_json::to_vec(&sim.ground_truth())?)?;
        tracing::info!(path = %path.display(), "ground truth written");
    }
    let ready = sim.ready_info(ca_path);
    if let Some(path) = &args.ready_file {
        write_atomic(path, &serde_json::to_vec_pretty(&ready)?)?;
    }
    tracing::info!(
        api = %ready.api_base_url,
        auth = %ready.auth_base_url,
        environment = %ready.environment_id,
        client_id = %ready.client_id,
        "pingone-sim listening"
    );
    wait_for_signal().await;
    tracing::info!("shutting down");
    sim.shutdown().await;
    Ok(())
}
