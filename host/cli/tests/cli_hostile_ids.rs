//! End to end: an id that would climb out of its URL path segment, given
//! to the binary's one-shot delete, is refused before any request. Without
//! the checks, deleting user `../groups/<gid>` would send
//! `DELETE …/users/../groups/<gid>`, which URL parsing turns into
//! `DELETE …/groups/<gid>`: the group would be deleted.

use std::path::Path;
use std::process::Command;

use pingone_sim::{ServeOptions, SimConfig, SimHandle};

async fn delete_user(sim: &SimHandle, cache: &Path, file: &Path, id: &str) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_connector-host"));
    cmd.arg("--file")
        .arg(file)
        .arg("--log-format")
        .arg("json")
        .arg("--cache-dir")
        .arg(cache)
        .args(["--delete-resource", id, "--delete-resource-type", "user"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("BATON_PINGONE_CLIENT_ID", sim.client_id())
        .env("BATON_PINGONE_CLIENT_SECRET", sim.client_secret())
        .env("BATON_PINGONE_ENVIRONMENT_ID", sim.environment_id())
        .env("BATON_PINGONE_API_URL", sim.api_base_url())
        .env("BATON_PINGONE_AUTH_URL", sim.auth_base_url());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_climbing_user_id_deletes_nothing() {
    let sim = pingone_sim::start(SimConfig::tiny(43), ServeOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    let file = dir.path().join("sync.c1z");
    let before = sim.ground_truth();
    let gid = before.groups[0]["id"].as_str().unwrap().to_string();
    let uid = before.users[0]["id"].as_str().unwrap().to_string();
    sim.reset_stats();
    for bad in [
        format!("../groups/{gid}"),
        format!("{uid}/../../groups/{gid}"),
        format!("%2e%2e%2fgroups%2f{gid}"),
    ] {
        let (ok, text) = delete_user(&sim, &cache, &file, &bad).await;
        assert!(!ok, "{bad}: {text}");
        assert!(
            text.contains("not a PingOne id") && text.contains(&gid),
            "{bad}: {text}"
        );
    }
    assert_eq!(sim.stats().total, 0, "no request reached the simulator");
    assert_eq!(sim.ground_truth(), before);
    sim.shutdown().await;
}
