//! Command-line and environment configuration, Baton style.
//!
//! Decision: two passes. The first finds which component to run (its config
//! schema defines flags); the second parses everything with clap, the
//! component's fields added as flags with `BATON_` environment variables.
//! Secret fields also accept `--<field>-file` (e.g. a mounted Kubernetes
//! Secret), and clap never prints secret values from the environment.
//!
//! Threat: a component names its own fields. One called `client-secret`
//! would be registered as `--client-secret` / `BATON_CLIENT_SECRET` and
//! receive the ConductorOne credential as plain config. So a field whose
//! flag, environment variable or `-file` form is the host's own (or
//! another field's) is refused before anything is parsed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use connector_runtime::bindings::meta::{ConfigKind, ConnectorMetadata};
use connector_runtime::config::env_name;
use connector_runtime::sync::SyncLimits;

#[derive(Debug, Parser)]
#[command(
    name = "connector-host",
    version,
    about = "Runs a sandboxed connector component (PingOne by default) and writes Baton-compatible c1z files",
    long_about = None
)]
pub struct Cli {
    /// The c1z file to write (sync) or read (inspect, provisioning).
    #[arg(
        short = 'f',
        long,
        env = "BATON_FILE",
        default_value = "sync.c1z",
        global = true
    )]
    pub file: PathBuf,

    /// Connector component (.wasm); default: the bundled PingOne component.
    #[arg(long, env = "BATON_COMPONENT", global = true)]
    pub component: Option<PathBuf>,

    /// Expected sha256 of --component; a mismatch refuses to run it.
    #[arg(long, env = "BATON_COMPONENT_SHA256", global = true)]
    pub component_sha256: Option<String>,

    /// Accept the origins --component's own defaults ask for (listed by
    /// `config`); needs --component-sha256. Without it, only values the
    /// operator sets define egress.
    #[arg(long, env = "BATON_ACCEPT_COMPONENT_EGRESS", global = true)]
    pub accept_component_egress: bool,

    /// Log level: error, warn, info, debug, trace.
    #[arg(long, env = "BATON_LOG_LEVEL", default_value = "info", global = true)]
    pub log_level: String,

    /// Log format: json or console (default: console on a terminal, else json).
    #[arg(long, env = "BATON_LOG_FORMAT", global = true)]
    pub log_format: Option<String>,

    /// Extra PEM CA bundle to trust (e.g. a corporate TLS proxy's CA).
    #[arg(long, env = "BATON_CA_BUNDLE", global = true)]
    pub ca_bundle: Option<PathBuf>,

    /// Where compiled components are cached.
    #[arg(long, env = "BATON_CACHE_DIR", global = true)]
    pub cache_dir: Option<PathBuf>,

    /// Connector calls in flight during a sync.
    #[arg(
        long,
        env = "BATON_SYNC_CONCURRENCY",
        default_value_t = 8,
        global = true
    )]
    pub sync_concurrency: usize,

    /// Most outbound requests in flight per connector (adaptive below this).
    #[arg(
        long,
        env = "BATON_MAX_CONCURRENT_REQUESTS",
        default_value_t = 16,
        global = true
    )]
    pub max_concurrent_requests: usize,

    /// Steady cap on outbound requests per second (default: none).
    #[arg(long, env = "BATON_REQUESTS_PER_SECOND", global = true)]
    pub requests_per_second: Option<f64>,

    /// Seconds between checkpoints of a running sync (Baton: 10).
    #[arg(
        long,
        env = "BATON_CHECKPOINT_INTERVAL",
        default_value_t = 5.0,
        global = true,
        hide = true
    )]
    pub checkpoint_interval: f64,

    /// Guest memory limit per call, in MiB.
    #[arg(
        long,
        env = "BATON_MEMORY_LIMIT_MB",
        default_value_t = 64,
        global = true
    )]
    pub memory_limit_mb: usize,

    /// Connector calls one sync may make, counted across resumes (a
    /// 1M-user PingOne sync makes ~25,000). Reaching it discards the sync.
    #[arg(
        long,
        env = "BATON_SYNC_MAX_CALLS",
        default_value_t = SyncLimits::default().max_calls,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub sync_max_calls: u64,

    /// Pages one task of a sync may have (PingOne's longest listing, the
    /// users, is 5,000 pages per million users).
    #[arg(
        long,
        env = "BATON_SYNC_MAX_PAGES_PER_TASK",
        default_value_t = SyncLimits::default().max_pages_per_task,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub sync_max_pages_per_task: u64,

    /// Tasks a sync may hold queued at once.
    #[arg(
        long,
        env = "BATON_SYNC_MAX_QUEUED_TASKS",
        default_value_t = SyncLimits::default().max_queued_tasks,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub sync_max_queued_tasks: u64,

    /// MiB the queued tasks of a sync may take.
    #[arg(
        long,
        env = "BATON_SYNC_MAX_QUEUE_MB",
        default_value_t = SyncLimits::default().max_queue_bytes >> 20,
        value_parser = clap::value_parser!(u64).range(1..=1 << 20),
        global = true
    )]
    pub sync_max_queue_mb: u64,

    /// Wall-clock time of one sync run; at it the sync stops at a
    /// checkpoint and the next run resumes. In serve, a tenant's runs also
    /// stop at its sync interval (at least 5 minutes), so a slow one yields
    /// its slot.
    #[arg(
        long,
        env = "BATON_SYNC_DEADLINE",
        default_value = "24h",
        value_parser = humantime::parse_duration,
        global = true
    )]
    pub sync_deadline: std::time::Duration,

    /// Sync only these resources, `<resource-type>:<resource-id>` (comma
    /// separated or repeated): Baton's targeted sync, written as a sync of
    /// type `partial` holding them, their entitlements and grants and the
    /// grants' principals. Needs a component that reads single resources
    /// of the targets' types and of its user and group types (contract
    /// 0.1.3).
    #[arg(
        long,
        env = "BATON_SYNC_RESOURCES",
        value_delimiter = ',',
        value_name = "TYPE:ID"
    )]
    pub sync_resources: Vec<String>,

    /// Sync incrementally: read the connector's change feed since the last
    /// sync and re-read only what changed, falling back to a full sync (and
    /// logging why) whenever the result could not be proven complete. In
    /// serve, the default tenant's scheduled syncs are incremental, with a
    /// full sync every --full-sync-interval.
    #[arg(long, env = "BATON_INCREMENTAL", global = true)]
    pub incremental: bool,

    /// Allow provisioning (implied by the one-shot flags below).
    #[arg(short = 'p', long, env = "BATON_PROVISIONING", global = true)]
    pub provisioning: bool,

    /// One-shot: grant this entitlement (an ID from the c1z).
    #[arg(long, env = "BATON_GRANT_ENTITLEMENT", requires_all = ["grant_principal", "grant_principal_type"])]
    pub grant_entitlement: Option<String>,
    /// The principal's resource id, for --grant-entitlement.
    #[arg(long, env = "BATON_GRANT_PRINCIPAL")]
    pub grant_principal: Option<String>,
    /// The principal's resource type, for --grant-entitlement.
    #[arg(long, env = "BATON_GRANT_PRINCIPAL_TYPE")]
    pub grant_principal_type: Option<String>,
    /// One-shot: revoke this grant (an ID from the c1z).
    #[arg(long, env = "BATON_REVOKE_GRANT", conflicts_with = "grant_entitlement")]
    pub revoke_grant: Option<String>,
    /// One-shot: create an account with this login.
    #[arg(long, env = "BATON_CREATE_ACCOUNT_LOGIN", conflicts_with_all = ["grant_entitlement", "revoke_grant"])]
    pub create_account_login: Option<String>,
    /// Email of the account to create.
    #[arg(long, env = "BATON_CREATE_ACCOUNT_EMAIL")]
    pub create_account_email: Option<String>,
    /// JSON object of account fields (see `config` for the schema).
    #[arg(long, env = "BATON_CREATE_ACCOUNT_PROFILE")]
    pub create_account_profile: Option<String>,
    /// random-password (Baton's default) or no-password.
    #[arg(
        long,
        env = "BATON_CREATE_ACCOUNT_CREDENTIAL",
        default_value = "random-password"
    )]
    pub create_account_credential: String,
    /// One-shot: delete this resource.
    #[arg(long, env = "BATON_DELETE_RESOURCE", requires = "delete_resource_type", conflicts_with_all = ["grant_entitlement", "revoke_grant", "create_account_login"])]
    pub delete_resource: Option<String>,
    /// The type of --delete-resource.
    #[arg(long, env = "BATON_DELETE_RESOURCE_TYPE")]
    pub delete_resource_type: Option<String>,

    /// ConductorOne service mode: the connector's client id
    /// (`<name>@<tenant>.conductor.one/<suffix>`). With it the host takes
    /// its tasks from ConductorOne instead of running once.
    #[arg(long, env = "BATON_CLIENT_ID", global = true)]
    pub client_id: Option<String>,
    /// ConductorOne service mode: the connector's client secret.
    #[arg(
        long,
        env = "BATON_CLIENT_SECRET",
        hide_env_values = true,
        global = true,
        value_name = "SECRET"
    )]
    pub client_secret: Option<String>,
    /// Read --client-secret from a file (e.g. a mounted Kubernetes Secret).
    #[arg(
        long,
        env = "BATON_CLIENT_SECRET_FILE",
        global = true,
        value_name = "PATH"
    )]
    pub client_secret_file: Option<PathBuf>,
    /// ConductorOne API `host[:port]`, instead of the client id's host.
    #[arg(long, env = "BATON_C1_API_HOST", global = true, hide = true)]
    pub c1_api_host: Option<String>,
    /// ConductorOne tasks run at once (1-100).
    #[arg(long, env = "BATON_TASK_CONCURRENCY", default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=100), global = true)]
    pub task_concurrency: u16,
    /// Where service mode keeps its checkpointed c1z (default: the OS temp directory).
    #[arg(long, env = "BATON_C1Z_TEMP_DIR", global = true)]
    pub c1z_temp_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// What each sync may spend, from the `--sync-*` flags.
    pub fn sync_limits(&self) -> SyncLimits {
        SyncLimits {
            max_calls: self.sync_max_calls,
            max_pages_per_task: self.sync_max_pages_per_task,
            max_queued_tasks: self.sync_max_queued_tasks,
            max_queue_bytes: self.sync_max_queue_mb << 20,
            deadline: self.sync_deadline,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the connector's capabilities as JSON.
    Capabilities,
    /// Print the connector's config schema as JSON.
    Config,
    /// Check the configuration against the upstream API and exit.
    Validate,
    /// Read a c1z file.
    #[command(subcommand)]
    Inspect(c1z::InspectCommand),
    /// Run as a long-lived service: scheduled syncs for one or many tenants,
    /// an admin API, metrics, hot swap of components.
    Serve(ServeArgs),
    /// Write the bundled PingOne component to a file and print its sha256
    /// (for tenants files, which pin components by digest).
    ExportComponent {
        /// Where to write the .wasm file.
        #[arg(long)]
        out: PathBuf,
    },
}

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
    /// Single-tenant mode: time between syncs (default 1h; 15m with
    /// --incremental, each then incremental).
    #[arg(long, env = "CONNECTOR_HOST_SYNC_INTERVAL", value_parser = humantime::parse_duration)]
    pub sync_interval: Option<Duration>,
    /// Single-tenant mode with --incremental: time between full syncs.
    #[arg(long, env = "CONNECTOR_HOST_FULL_SYNC_INTERVAL", default_value = "24h", value_parser = humantime::parse_duration)]
    pub full_sync_interval: Duration,
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

/// What the first pass needs: which component, and where to cache it.
#[derive(Debug, Default)]
pub struct Prescan {
    pub component: Option<PathBuf>,
    pub component_sha256: Option<String>,
    pub cache_dir: Option<PathBuf>,
}

/// Finds `--component`, `--component-sha256` and `--cache-dir` (or their
/// environment variables) without knowing the component's flags yet.
pub fn prescan(argv: &[String]) -> Prescan {
    let flag = |name: &str, env: &str| -> Option<String> {
        let long = format!("--{name}");
        let eq = format!("--{name}=");
        let mut it = argv.iter().skip(1);
        while let Some(a) = it.next() {
            if a == "--" {
                break;
            }
            if *a == long {
                return it.next().cloned();
            }
            if let Some(v) = a.strip_prefix(&eq) {
                return Some(v.to_string());
            }
        }
        std::env::var(env).ok().filter(|v| !v.is_empty())
    };
    Prescan {
        component: flag("component", "BATON_COMPONENT").map(PathBuf::from),
        component_sha256: flag("component-sha256", "BATON_COMPONENT_SHA256"),
        cache_dir: flag("cache-dir", "BATON_CACHE_DIR").map(PathBuf::from),
    }
}

/// Refuses component config fields that would shadow a host flag or its
/// environment variable, or each other, in any of their forms.
pub fn check_no_shadowing(meta: &ConnectorMetadata) -> anyhow::Result<()> {
    fn collect(cmd: &clap::Command, longs: &mut BTreeSet<String>, envs: &mut BTreeSet<String>) {
        for arg in cmd.get_arguments() {
            longs.extend(arg.get_long().map(str::to_string));
            envs.extend(arg.get_env().map(|e| e.to_string_lossy().into_owned()));
        }
        for sub in cmd.get_subcommands() {
            collect(sub, longs, envs);
        }
    }
    let (mut longs, mut envs) = (BTreeSet::new(), BTreeSet::new());
    collect(&Cli::command(), &mut longs, &mut envs);
    longs.extend(["help".to_string(), "version".to_string()]);
    let mut taken: BTreeMap<String, &str> = BTreeMap::new();
    for field in &meta.config_schema {
        let name = field.name.as_str();
        let well_formed = name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !well_formed {
            anyhow::bail!(
                "the component's config field {name:?} is not a flag name \
                 (lower-case letters, digits and '-', starting with a letter)"
            );
        }
        let mut forms = vec![name.to_string()];
        if field.secret {
            forms.push(format!("{name}-file"));
        }
        for form in forms {
            let env = env_name(&form);
            if longs.contains(&form) || envs.contains(&env) {
                anyhow::bail!(
                    "the component's config field {name:?} would shadow the host's own \
                     --{form} ({env}); the component is refused"
                );
            }
            if let Some(other) = taken.insert(env.clone(), name) {
                anyhow::bail!(
                    "the component's config fields {other:?} and {name:?} both claim \
                     --{form} ({env}); the component is refused"
                );
            }
        }
    }
    Ok(())
}

/// Parses the command line with the component's config fields as flags.
/// Returns the raw connector values by field name (secrets included; they
/// go to the host's secret store, never to the guest).
pub fn parse(
    argv: &[String],
    meta: &ConnectorMetadata,
) -> anyhow::Result<(Cli, BTreeMap<String, String>)> {
    check_no_shadowing(meta)?;
    let mut cmd = Cli::command();
    for field in &meta.config_schema {
        cmd = cmd.arg(connector_arg(field));
        if field.secret {
            let name = format!("{}-file", field.name);
            cmd = cmd.arg(
                Arg::new(name.clone())
                    .long(name.clone())
                    .env(env_name(&name))
                    .global(true)
                    .value_name("PATH")
                    .help(format!("Read --{} from a file", field.name)),
            );
        }
    }
    let matches = cmd.try_get_matches_from(argv).unwrap_or_else(|e| e.exit());
    let cli = Cli::from_arg_matches(&matches)?;
    let values = connector_values(&matches, meta)?;
    Ok((cli, values))
}

fn connector_arg(field: &connector_runtime::bindings::meta::ConfigField) -> Arg {
    let mut help = field.description.clone();
    if field.required {
        help.push_str(" [required]");
    }
    if let ConfigKind::Choice(options) = &field.kind {
        let values: Vec<&str> = options.iter().map(|o| o.value.as_str()).collect();
        help.push_str(&format!(" [one of: {}]", values.join(", ")));
    }
    if let Some(d) = &field.default_value {
        help.push_str(&format!(" [default: {d}]"));
    }
    let mut arg = Arg::new(field.name.clone())
        .long(field.name.clone())
        .env(env_name(&field.name))
        .global(true)
        .help(help)
        .action(ArgAction::Set);
    if field.secret {
        arg = arg.hide_env_values(true).value_name("SECRET");
    }
    arg
}

fn connector_values(
    matches: &ArgMatches,
    meta: &ConnectorMetadata,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for field in &meta.config_schema {
        let file_flag = format!("{}-file", field.name);
        let value = match find_value(matches, &field.name) {
            Some(v) => v,
            None => match find_value(matches, &file_flag).filter(|_| field.secret) {
                Some(path) => std::fs::read_to_string(&path)
                    .map_err(|e| {
                        let env = env_name(&file_flag);
                        anyhow::anyhow!("--{file_flag} ({env}): reading {path}: {e}")
                    })?
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
                None => continue,
            },
        };
        out.insert(field.name.clone(), value);
    }
    Ok(out)
}

/// A global arg's value, wherever on the command line it was given.
fn find_value(matches: &ArgMatches, id: &str) -> Option<String> {
    if let Ok(Some(v)) = matches.try_get_one::<String>(id) {
        return Some(v.clone());
    }
    matches
        .subcommand()
        .and_then(|(_, sub)| find_value(sub, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn prescan_finds_the_component_in_both_spellings() {
        let p = prescan(&argv(&["x", "--component", "a.wasm", "inspect", "syncs"]));
        assert_eq!(p.component, Some(PathBuf::from("a.wasm")));
        let p = prescan(&argv(&["x", "--component=b.wasm", "--component-sha256=ab"]));
        assert_eq!(p.component, Some(PathBuf::from("b.wasm")));
        assert_eq!(p.component_sha256.as_deref(), Some("ab"));
        let p = prescan(&argv(&["x", "--", "--component", "c.wasm"]));
        assert_eq!(
            p.component,
            None.or(std::env::var("BATON_COMPONENT").ok().map(PathBuf::from))
        );
    }

    #[test]
    fn sync_limit_flags_default_to_the_runtime_defaults() {
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(cli.sync_limits(), SyncLimits::default());
        let cli =
            Cli::try_parse_from(["x", "--sync-max-calls", "7", "--sync-deadline", "90s"]).unwrap();
        assert_eq!(cli.sync_limits().max_calls, 7);
        assert_eq!(
            cli.sync_limits().deadline,
            std::time::Duration::from_secs(90)
        );
        assert!(Cli::try_parse_from(["x", "--sync-max-calls", "0"]).is_err());
    }

    #[test]
    fn static_flags_match_baton() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["x", "-f", "out.c1z", "--log-level", "debug"]).unwrap();
        assert_eq!(cli.file, PathBuf::from("out.c1z"));
        assert_eq!(cli.log_level, "debug");
    }

    fn meta(fields: &[(&str, bool)]) -> ConnectorMetadata {
        use connector_runtime::bindings::meta::ConfigField;
        ConnectorMetadata {
            display_name: "t".into(),
            description: String::new(),
            version: "1".into(),
            resource_types: vec![],
            capabilities: vec![],
            config_schema: fields
                .iter()
                .map(|(name, secret)| ConfigField {
                    name: name.to_string(),
                    description: String::new(),
                    kind: ConfigKind::Text,
                    required: false,
                    secret: *secret,
                    default_value: None,
                })
                .collect(),
            credential: None,
            account_creation_schema: vec![],
            credential_options: vec![],
        }
    }

    #[test]
    fn component_fields_may_not_shadow_host_flags() {
        assert!(check_no_shadowing(&meta(&[("pingone-client-secret", true)])).is_ok());
        let refused = |fields: &[(&str, bool)]| {
            check_no_shadowing(&meta(fields))
                .expect_err("must be refused")
                .to_string()
        };
        // The host's ConductorOne credential, as a flag and as an env var.
        let e = refused(&[("client-secret", true)]);
        assert!(e.contains("\"client-secret\" would shadow the host's own --client-secret (BATON_CLIENT_SECRET)"), "{e}");
        // A secret field's -file form.
        let e = refused(&[("client-secret", false), ("x", false)]);
        assert!(e.contains("--client-secret"), "{e}");
        let e = refused(&[("admin-token", true)]);
        assert!(
            e.contains("\"admin-token\" would shadow the host's own --admin-token-file"),
            "{e}"
        );
        // A serve flag and a flag clap adds.
        assert!(refused(&[("tenants", false)]).contains("--tenants"));
        assert!(refused(&[("help", false)]).contains("--help"));
        // Two fields claiming one name, and names no flag can have.
        let e = refused(&[("api-key", true), ("api-key-file", false)]);
        assert!(e.contains("both claim --api-key-file"), "{e}");
        assert!(refused(&[("Client_Secret", false)]).contains("not a flag name"));
    }

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
