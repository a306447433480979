//! End to end: the worker app's token endpoint auth method. PingOne lets a
//! worker app be set to CLIENT_SECRET_BASIC or CLIENT_SECRET_POST and
//! refuses the other with `invalid_client` "Unsupported authentication
//! method"; the simulator enforces the method of its registered client.
//! `--pingone-token-auth-method` picks the one the host uses, and
//! `validate` names the flag when the app is set to the other.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use pingone_sim::{AuthMethod, ClientConfig, ServeOptions, SimConfig, SimHandle};

const BASIC: &str = "CLIENT_SECRET_BASIC";
const POST: &str = "CLIENT_SECRET_POST";

async fn sim(method: AuthMethod) -> SimHandle {
    let config = SimConfig {
        clients: vec![ClientConfig {
            auth_method: method,
            ..ClientConfig::default()
        }],
        ..SimConfig::tiny(41)
    };
    pingone_sim::start(config, ServeOptions::default())
        .await
        .unwrap()
}

/// One compiled-component cache for the test binary.
fn cache_dir() -> &'static Path {
    static CACHE: OnceLock<tempfile::TempDir> = OnceLock::new();
    CACHE.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// The binary with the simulator's settings, `flag` as the auth method
/// (unset when `None`), and nothing else from the environment.
async fn run(sim: &SimHandle, file: &Path, flag: Option<&str>, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_connector-host"));
    cmd.arg("--file")
        .arg(file)
        .arg("--log-format")
        .arg("json")
        .arg("--cache-dir")
        .arg(cache_dir())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("BATON_PINGONE_CLIENT_ID", sim.client_id())
        .env("BATON_PINGONE_CLIENT_SECRET", sim.client_secret())
        .env("BATON_PINGONE_ENVIRONMENT_ID", sim.environment_id())
        .env("BATON_PINGONE_API_URL", sim.api_base_url())
        .env("BATON_PINGONE_AUTH_URL", sim.auth_base_url());
    if let Some(m) = flag {
        cmd.arg(format!("--pingone-token-auth-method={m}"));
    }
    cmd.args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Each app method against each flag: only the matching pair validates,
/// and a mismatch names the flag and the app's method.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_names_the_method_the_app_is_set_to() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    for (app, app_name, other) in [
        (AuthMethod::ClientSecretBasic, BASIC, POST),
        (AuthMethod::ClientSecretPost, POST, BASIC),
    ] {
        let sim = sim(app).await;
        let default_is_app = app_name == BASIC;
        for (flag, matches) in [
            (None, default_is_app),
            (Some(app_name), true),
            (Some(other), false),
        ] {
            let (ok, text) = run(&sim, &file, flag, &["validate"]).await;
            assert_eq!(ok, matches, "app {app_name}, flag {flag:?}: {text}");
            if !matches {
                assert!(
                    text.contains(&format!("set --pingone-token-auth-method {app_name}"))
                        && text.contains("Unsupported authentication method"),
                    "app {app_name}, flag {flag:?}: {text}"
                );
                assert!(!text.contains(sim.client_secret()), "{text}");
            }
        }
        sim.shutdown().await;
    }
}

/// A whole run (validate, then sync) with an app set to CLIENT_SECRET_POST;
/// a value that is neither method is refused, naming the flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_app_syncs_and_other_methods_are_refused() {
    let sim = sim(AuthMethod::ClientSecretPost).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    let (ok, text) = run(&sim, &file, Some(POST), &[]).await;
    assert!(ok && text.contains("Synced PingOne into"), "{text}");
    let (ok, text) = run(&sim, &file, Some("PRIVATE_KEY_JWT"), &["validate"]).await;
    assert!(
        !ok && text.contains("--pingone-token-auth-method"),
        "{text}"
    );
    sim.shutdown().await;
}
