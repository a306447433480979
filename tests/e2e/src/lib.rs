//! Helpers for the end-to-end tests: real components on the real runtime.
//!
//! [`components`] builds the wasm components once per test run; [`server`]
//! is a loopback HTTP server that serves static JSON, echoes requests and
//! redirects; [`logs`] captures everything the process logs; the functions
//! here wrap the runtime's config resolution and calls. There is no library
//! code beyond what the tests and the benchmark share.

pub mod components;
pub mod logs;
pub mod records;
pub mod server;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use connector_runtime::bindings::sync_api::{SyncOp, SyncTask};
use connector_runtime::bindings::types::ResourceId;
use connector_runtime::capabilities::http::TlsOptions;
use connector_runtime::{InstanceCtx, Limits, Operation, Plugin, Runtime, RuntimeOptions};

/// A runtime whose precompiled components are cached beside the built
/// components, so each test binary compiles a component at most once.
pub fn runtime() -> Arc<Runtime> {
    Runtime::new(RuntimeOptions {
        cache_dir: Some(components::target_dir().join("precompiled")),
    })
    .expect("creating the runtime")
}

/// Limits lowered so misbehaving guests are stopped quickly.
pub fn fast_limits() -> Limits {
    Limits {
        cpu_per_call: Duration::from_millis(200),
        memory_bytes: 32 << 20,
        wall_per_call: Duration::from_secs(20),
        upload_records_per_call: 5_000,
        ..Limits::default()
    }
}

/// Resolves `values` against the plugin's schema and builds an instance,
/// as for a component from a file the operator has not trusted.
pub fn instance(
    plugin: &Plugin,
    name: &str,
    values: &[(&str, &str)],
    limits: Limits,
) -> Result<Arc<InstanceCtx>, String> {
    instance_with(plugin, name, values, limits, &TlsOptions::default())
}

/// [`instance`] with explicit TLS and proxy options: a test that needs a
/// proxy passes its routes here rather than setting the process's proxy
/// variables, which every other test in the binary would read too.
pub fn instance_with(
    plugin: &Plugin,
    name: &str,
    values: &[(&str, &str)],
    limits: Limits,
    tls: &TlsOptions,
) -> Result<Arc<InstanceCtx>, String> {
    let raw: BTreeMap<String, String> = values
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let resolved = connector_runtime::config::resolve(
        &plugin.metadata,
        &raw,
        connector_runtime::config::ComponentTrust::Untrusted,
    )?;
    let ctx =
        connector_runtime::config::build_instance(name, &plugin.metadata, resolved, limits, tls)
            .map_err(|e| format!("{e:#}"))?;
    Ok(Arc::new(ctx))
}

pub fn task(
    op: SyncOp,
    resource_type: &str,
    resource: Option<ResourceId>,
    page_token: Option<String>,
) -> SyncTask {
    SyncTask {
        op,
        resource_type: resource_type.into(),
        resource,
        page_token,
    }
}

/// The first page of a resource type's listing.
pub fn list_resources(resource_type: &str) -> Operation {
    Operation::Sync(task(SyncOp::ListResources, resource_type, None, None))
}

pub fn resource_id(resource_type: &str, id: &str) -> ResourceId {
    ResourceId {
        resource_type: resource_type.into(),
        resource: id.into(),
    }
}

/// A loopback port on which nothing listens (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a probe port");
    l.local_addr().expect("probe port address").port()
}

/// Whether the effective uid is root, from procfs (no libc binding
/// needed): the network-namespace re-runs need it.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Set in a test binary re-run by [`rerun_in_empty_netns`].
pub const NETNS_CHILD: &str = "E2E_NETNS_CHILD";

/// Whether this process is a re-run inside an empty network namespace.
pub fn in_empty_netns() -> bool {
    std::env::var_os(NETNS_CHILD).is_some()
}

/// Re-runs the test `test` of this binary inside `unshare -n`, a network
/// namespace with no route anywhere, with loopback brought up when `ip` is
/// there (so a loopback server in the child can be reached); there a
/// request that got past a policy fails as a connection error (unreachable,
/// or refused on a closed loopback port) instead of being denied. Returns the child's stdout, or `None` with a note when this is
/// not root or `unshare` is missing. Panics when the re-run fails.
pub fn rerun_in_empty_netns(test: &str) -> Option<String> {
    use std::process::Command;
    let unshare_works = Command::new("unshare")
        .args(["-n", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !is_root() || !unshare_works {
        eprintln!("note: not root or no `unshare -n`, so the network-namespace re-run is skipped");
        return None;
    }
    let out = Command::new("unshare")
        .args(["-n", "--", "sh", "-c"])
        .arg(r#"ip link set lo up 2>/dev/null; exec "$0" "$@""#)
        .arg(std::env::current_exe().expect("the test binary's path"))
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(NETNS_CHILD, "1")
        .env(components::PREBUILT_ENV, components::built_dir())
        .output()
        .expect("running the test binary under unshare -n");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the re-run of {test} inside unshare -n failed:\n{stdout}\n{stderr}"
    );
    Some(stdout)
}

/// The `connector-host` binary of this build, built if a filtered test run
/// did not build it.
pub fn host_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap(); // target/<profile>
    let bin = dir.join("connector-host");
    if !bin.exists() {
        let status =
            std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["build", "-p", "connector-host"])
                .current_dir(components::workspace_root())
                .status()
                .unwrap();
        assert!(status.success(), "building connector-host");
    }
    bin
}

/// One runtime per test binary: every hostile call of that binary lands
/// on it, so a test can show the host survives what came before.
pub fn shared_runtime() -> Arc<Runtime> {
    static RUNTIME: std::sync::OnceLock<Arc<Runtime>> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(runtime).clone()
}

/// The adversary component, compiled once per test binary on
/// [`shared_runtime`].
pub async fn adversary() -> Arc<Plugin> {
    static PLUGIN: tokio::sync::OnceCell<Arc<Plugin>> = tokio::sync::OnceCell::const_new();
    PLUGIN
        .get_or_init(|| async {
            let bytes = components::component_bytes(components::ADVERSARY);
            shared_runtime()
                .load(&bytes)
                .await
                .expect("loading the adversary")
        })
        .await
        .clone()
}

/// Runs the `connector-host` binary with `args` and an empty environment
/// (only `PATH`); returns (success, stdout, stderr).
pub async fn run_host(args: Vec<String>) -> (bool, String, String) {
    let mut cmd = std::process::Command::new(host_binary());
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
