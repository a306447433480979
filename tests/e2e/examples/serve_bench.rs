//! The service-mode benchmarks of `docs/benchmarks.md`: memory per idle
//! tenant, tenants per 2 GB, and syncs per minute for small tenants.
//!
//! ```text
//! cargo build --release -p connector-host
//! cargo run --release -p e2e-tests --example serve_bench -- [tenant counts...]
//! ```
//!
//! Method: one simulator (the `tiny` preset: 12 users, 6 groups, every
//! relation kind) runs in this process; the release `connector-host serve`
//! runs as a child with N tenants on it, each with its own secret file,
//! config, instance and upload directory, and a 1 h interval so only the
//! start-up sync and the benchmark's triggers run. For each N:
//! - idle RSS: `VmRSS` of the host once every tenant's first sync has been
//!   published and nothing runs; memory per idle tenant is the slope of
//!   idle RSS against N (two or more N);
//! - syncs per minute: every tenant is triggered at once through the admin
//!   API (8 syncs at a time, the default of 4 raised to use the cores'
//!   waiting time), and the clock stops when the last one is published.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pingone_sim::{ServeOptions, SimConfig, SimHandle};
use serde_json::{Value, json};

const TOKEN: &str = "serve-bench-admin-token-000000";

fn tenants_file(sim: &SimHandle, n: usize, dir: &Path) -> std::path::PathBuf {
    let secret = dir.join("secret");
    std::fs::write(&secret, sim.client_secret()).expect("secret file");
    let mut s = String::new();
    for i in 0..n {
        s += &format!(
            r#"
[[tenant]]
id = "t{i:04}"
component = {{ builtin = "pingone" }}
sync_interval = "1h"
[tenant.config]
pingone-client-id = "{}"
pingone-environment-id = "{}"
pingone-api-url = "{}"
pingone-auth-url = "{}"
[tenant.secrets]
pingone-client-secret = {{ file = "{}" }}
[tenant.upload]
directory = "{}"
"#,
            sim.client_id(),
            sim.environment_id(),
            sim.api_base_url(),
            sim.auth_base_url(),
            secret.display(),
            dir.join("out").display()
        );
    }
    let path = dir.join("tenants.toml");
    std::fs::write(&path, s).expect("tenants file");
    path
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn status(client: &reqwest::Client, base: &str) -> Vec<Value> {
    let v: Value = client
        .get(format!("{base}/v1/tenants"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("admin API")
        .json()
        .await
        .expect("JSON");
    v["tenants"].as_array().cloned().unwrap_or_default()
}

async fn wait_all(client: &reqwest::Client, base: &str, n: usize, done: impl Fn(&Value) -> bool) {
    loop {
        let s = status(client, base).await;
        if s.len() == n && s.iter().all(&done) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn one(sim: &SimHandle, n: usize) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let tenants = tenants_file(sim, n, dir.path());
    let host = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/connector-host");
    let mut child: Child = Command::new(&host)
        .args([
            "--log-level",
            "warn",
            "serve",
            "--admin-addr",
            "127.0.0.1:0",
        ])
        .args(["--max-concurrent-syncs", "8"])
        .arg("--tenants")
        .arg(&tenants)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .env("CONNECTOR_HOST_ADMIN_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("release connector-host (cargo build --release -p connector-host)");
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).expect("admin line");
    let addr = line
        .trim()
        .strip_prefix("admin API listening on ")
        .expect("admin address")
        .to_string();
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();
    let pid = child.id();

    let started = Instant::now();
    wait_all(&client, &base, n, |t| {
        !t["last_sync"].is_null() && t["state"] == "idle"
    })
    .await;
    let first_round = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss_kib(pid);

    // Every tenant at once.
    let before: Vec<Value> = status(&client, &base)
        .await
        .iter()
        .map(|t| t["last_sync"]["sync_id"].clone())
        .collect();
    let started = Instant::now();
    for i in 0..n {
        let r = client
            .post(format!("{base}/v1/tenants/t{i:04}/sync"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("trigger");
        assert_eq!(r.status().as_u16(), 202);
    }
    let mut peak = 0;
    loop {
        peak = peak.max(rss_kib(pid));
        let s = status(&client, &base).await;
        if s.iter()
            .zip(&before)
            .all(|(t, b)| t["last_sync"]["sync_id"] != *b && t["state"] == "idle")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let round = started.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    json!({
        "tenants": n,
        "first_round_s": (first_round.as_secs_f64() * 100.0).round() / 100.0,
        "idle_rss_mib": (idle as f64 / 1024.0 * 10.0).round() / 10.0,
        "peak_rss_during_round_mib": (peak as f64 / 1024.0 * 10.0).round() / 10.0,
        "round_s": (round.as_secs_f64() * 100.0).round() / 100.0,
        "syncs_per_minute": (n as f64 / round.as_secs_f64() * 60.0).round(),
    })
}

fn main() {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("tenant counts"))
        .collect();
    let counts = if counts.is_empty() {
        vec![1, 50, 200]
    } else {
        counts
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let sim = pingone_sim::start(SimConfig::tiny(1), ServeOptions::default())
            .await
            .expect("simulator");
        let mut rows = Vec::new();
        for n in counts {
            let row = one(&sim, n).await;
            println!("{row}");
            rows.push(row);
        }
        if rows.len() >= 2 {
            let (a, b) = (&rows[0], &rows[rows.len() - 1]);
            let per = (b["idle_rss_mib"].as_f64().unwrap() - a["idle_rss_mib"].as_f64().unwrap())
                / (b["tenants"].as_f64().unwrap() - a["tenants"].as_f64().unwrap());
            let base = a["idle_rss_mib"].as_f64().unwrap() - per * a["tenants"].as_f64().unwrap();
            println!(
                "{}",
                json!({
                    "idle_mib_per_tenant": (per * 1000.0).round() / 1000.0,
                    "base_mib": (base * 10.0).round() / 10.0,
                    "tenants_within_2_gib": ((2048.0 - base) / per).floor(),
                })
            );
        }
        sim.shutdown().await;
    });
}
