//! The example plugin runs through the `connector-host` binary with
//! `--component`: a different connector, the same host build, its config
//! fields turned into flags.

use std::process::Command;

use e2e_tests::host_binary;
use e2e_tests::server::{Reply, TestServer};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_plugin_syncs_through_the_cli() {
    let server = TestServer::start().await;
    server.route(
        "/dir/users.json",
        Reply::ok(json!([
            {"id": "u1", "login": "ada", "email": "ada@example.test", "name": "Ada"},
            {"id": "u2", "login": "bob", "active": false}
        ])),
    );
    server.route(
        "/dir/groups.json",
        Reply::ok(json!([{"id": "g1", "name": "Engineering", "members": ["u1", "u2"]}])),
    );
    let component = e2e_tests::components::component("directory-connector");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("directory.c1z");
    let mut cmd = Command::new(host_binary());
    cmd.arg("--component")
        .arg(&component)
        .arg("--directory-url")
        .arg(format!("{}/dir", server.url()))
        .arg("--file")
        .arg(&file)
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Synced Static JSON directory into"),
        "{stdout}"
    );
    let line = |label: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .map(|l| l.split_whitespace().last().unwrap().to_string())
            .unwrap_or_default()
    };
    assert_eq!(line("resources: user"), "2", "{stdout}");
    assert_eq!(line("resources: group"), "1", "{stdout}");
    assert_eq!(line("grants"), "2", "{stdout}");
    assert!(file.exists());
}
