//! `pingone-sim`: the simulator as a separate process, for end-to-end
//! tests, the README demo and benchmarks. Binds loopback only, logs to
//! stderr, writes a ready file once listening and exits cleanly on SIGINT
//! or SIGTERM.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use pingone_sim::{
    AuthMethod, ClientAccess, ClientConfig, DuplicateMembership, DuplicateUsername, ErrorBurst,
    ServeOptions, SimConfig,
};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Preset {
    Tiny,
    Small,
    Medium,
    Large,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Method {
    Basic,
    Post,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Access {
    Full,
    ReadOnly,
    None,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DupMembership {
    Reject400,
    Conflict409,
    Idempotent201,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DupUsername {
    Reject400,
    Conflict409,
}

/// A PingOne Platform API simulator (auth host + API host on loopback).
#[derive(Parser, Debug)]
#[command(name = "pingone-sim", version)]
struct Args {
    /// JSON file with a full SimConfig; flags below override its fields.
    #[arg(long, env = "PINGONE_SIM_CONFIG")]
    config: Option<PathBuf>,
    /// Tenant size preset (default: small).
    #[arg(long, value_enum)]
    preset: Option<Preset>,
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
    auth_method: Option<Method>,
    #[arg(long, value_enum)]
    client_access: Option<Access>,
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
    duplicate_membership: Option<DupMembership>,
    #[arg(long, value_enum)]
    duplicate_username: Option<DupUsername>,
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
        None => match a.preset.unwrap_or(Preset::Small) {
            Preset::Tiny => SimConfig::tiny(seed),
            Preset::Small => SimConfig::small(seed),
            Preset::Medium => SimConfig::medium(seed),
            Preset::Large => SimConfig::large(seed),
        },
    };
    macro_rules! set {
        ($field:ident) => {
            if let Some(v) = a.$field.clone() {
                c.$field = v;
            }
        };
    }
    set!(seed);
    set!(users);
    set!(groups);
    set!(populations);
    set!(nested_fraction);
    set!(dynamic_groups);
    set!(custom_roles);
    set!(role_assignment_density);
    set!(token_lifetime_secs);
    set!(users_page_max);
    set!(other_page_max);
    if a.memberships.is_some() {
        c.memberships = a.memberships;
    }
    if a.environment_id.is_some() {
        c.environment_id = a.environment_id.clone();
    }
    if c.clients.is_empty() {
        c.clients.push(ClientConfig::default());
    }
    let client = &mut c.clients[0];
    if let Some(v) = &a.client_id {
        client.client_id = v.clone();
    }
    if let Some(v) = &a.client_secret {
        client.client_secret = v.clone();
    }
    if let Some(m) = a.auth_method {
        client.auth_method = match m {
            Method::Basic => AuthMethod::ClientSecretBasic,
            Method::Post => AuthMethod::ClientSecretPost,
        };
    }
    if let Some(x) = a.client_access {
        client.access = match x {
            Access::Full => ClientAccess::Full,
            Access::ReadOnly => ClientAccess::ReadOnly,
            Access::None => ClientAccess::None,
        };
    }
    let f = &mut c.faults;
    macro_rules! fault {
        ($field:ident) => {
            if let Some(v) = a.$field {
                f.$field = v;
            }
        };
    }
    fault!(latency_ms);
    fault!(jitter_ms);
    fault!(error_rate);
    fault!(error_status);
    fault!(reset_rate);
    fault!(truncate_rate);
    fault!(consistency_window_ms);
    fault!(environment_warmup_ms);
    fault!(own_role_propagation_ms);
    f.refuse_limit |= a.refuse_limit;
    f.refuse_user_filters |= a.refuse_user_filters;
    f.omit_member_counts |= a.omit_member_counts;
    fault!(zero_member_counts);
    if a.rate_limit_per_sec.is_some() {
        f.rate_limit_per_sec = a.rate_limit_per_sec;
    }
    if a.rate_limit_burst.is_some() {
        f.rate_limit_burst = a.rate_limit_burst;
    }
    if let Some(b) = &a.error_burst {
        f.error_burst = Some(parse_burst(b)?);
    }
    if a.expire_tokens_after_requests.is_some() {
        f.expire_tokens_after_requests = a.expire_tokens_after_requests;
    }
    if a.fault_seed.is_some() {
        f.seed = a.fault_seed;
    }
    f.reset_after_processing |= a.reset_after_processing;
    f.short_pages |= a.short_pages;
    if a.no_require_email {
        f.require_email = false;
    }
    if let Some(d) = a.duplicate_membership {
        f.duplicate_membership = match d {
            DupMembership::Reject400 => DuplicateMembership::Reject400,
            DupMembership::Conflict409 => DuplicateMembership::Conflict409,
            DupMembership::Idempotent201 => DuplicateMembership::Idempotent201,
        };
    }
    if let Some(d) = a.duplicate_username {
        f.duplicate_username = match d {
            DupUsername::Reject400 => DuplicateUsername::Reject400,
            DupUsername::Conflict409 => DuplicateUsername::Conflict409,
        };
    }
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
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
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
