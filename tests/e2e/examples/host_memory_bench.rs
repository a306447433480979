//! Peak host memory and wall time for each hostile behaviour the host's
//! byte budgets bound (`docs/benchmarks.md`, "Method: host memory under
//! hostile components"). Run in release:
//! `cargo run --release -p e2e-tests --example host_memory_bench`.
//!
//! Method: every scenario runs in a fresh process (this example re-runs
//! itself with the scenario's number), on a runtime with the default
//! `Limits` except where the scenario says otherwise. The adversary is
//! loaded, then the peak resident set size is reset (`5` written to
//! `/proc/self/clear_refs`) and the scenario runs; its peak (`VmHWM`) is
//! read when it ends, `rss_before_mib` being the RSS at the reset. The
//! loopback body server streams one static 64 KiB buffer, so the bodies
//! it serves cost this process nothing. One JSON line per scenario.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use connector_runtime::sync::{SyncLimits, SyncOptions, run_sync};
use connector_runtime::{CallError, Limits, Plugin};
use e2e_tests::components::{self, ADVERSARY};
use e2e_tests::{instance, list_resources, runtime};
use serde_json::json;

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}

/// Serves `/<n>` with `n` bytes (and a content-length) from one static
/// buffer, on loopback.
async fn body_server() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    static CHUNK: [u8; 64 << 10] = [b'x'; 64 << 10];
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                let n: usize = line
                    .split(' ')
                    .nth(1)
                    .and_then(|p| p.trim_start_matches('/').parse().ok())
                    .unwrap_or(0);
                let head =
                    format!("HTTP/1.1 200 OK\r\ncontent-length: {n}\r\nconnection: close\r\n\r\n");
                let _ = conn.write_all(head.as_bytes()).await;
                let mut left = n;
                while left > 0 {
                    let k = left.min(CHUNK.len());
                    if conn.write_all(&CHUNK[..k]).await.is_err() {
                        return;
                    }
                    left -= k;
                }
            });
        }
    });
    base
}

fn outcome<T>(result: &Result<T, CallError>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(CallError::Connector { message, .. }) => {
            format!(
                "connector: {}",
                message.chars().take(120).collect::<String>()
            )
        }
        Err(e) => format!(
            "{}: {}",
            e.kind(),
            e.to_string().chars().take(120).collect::<String>()
        ),
    }
}

struct Scenario {
    name: &'static str,
    started: Instant,
    rss_before: u64,
}

impl Scenario {
    fn start(name: &'static str) -> Self {
        // Resets VmHWM to the current RSS (Linux 4.0+).
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        Scenario {
            name,
            started: Instant::now(),
            rss_before: status_kib("VmRSS:"),
        }
    }

    fn end(self, outcome: String) {
        let line = json!({
            "scenario": self.name,
            "outcome": outcome,
            "wall_s": (self.started.elapsed().as_secs_f64() * 100.0).round() / 100.0,
            "rss_before_mib": mib(self.rss_before),
            "peak_rss_mib": mib(status_kib("VmHWM:")),
        });
        println!("{line}");
    }
}

async fn call(plugin: &Plugin, mode: &str, extra: &[(&str, &str)], limits: Limits) -> String {
    let mut values = vec![("mode", mode)];
    values.extend_from_slice(extra);
    let inst = instance(plugin, mode, &values, limits).expect("config");
    outcome(&plugin.call(&inst, list_resources("user")).await)
}

async fn sync(plugin: &Arc<Plugin>, mode: &str, limits: Limits, file: &Path) -> String {
    let inst = instance(plugin, mode, &[("mode", mode)], limits).expect("config");
    let options = SyncOptions {
        limits: SyncLimits::default(),
        ..SyncOptions::default()
    };
    match run_sync(plugin, &inst, file, &options).await {
        Ok(s) => format!("ok: {} calls", s.calls),
        Err(e) => format!(
            "sync error: {}",
            e.to_string().chars().take(160).collect::<String>()
        ),
    }
}

const SCENARIOS: usize = 11;

fn main() {
    let Some(n) = std::env::args()
        .nth(1)
        .and_then(|a| a.parse::<usize>().ok())
    else {
        let exe = std::env::current_exe().expect("this example's path");
        for n in 0..SCENARIOS {
            let out = std::process::Command::new(&exe)
                .arg(n.to_string())
                .output()
                .expect("running a scenario");
            print!("{}", String::from_utf8_lossy(&out.stdout));
            if !out.status.success() {
                eprintln!("scenario {n}: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
        return;
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(scenario(n));
}

async fn scenario(n: usize) {
    let rt = runtime();
    let plugin = rt
        .load(&components::component_bytes(ADVERSARY))
        .await
        .expect("loading the adversary");
    let dir = tempfile::tempdir().unwrap();
    let server = body_server().await;
    let defaults = Limits::default();
    let d = || defaults.clone();
    let big = format!("{server}/{}", defaults.response_body_bytes);
    let mib1 = format!("{server}/{}", 1 << 20);
    let empty = format!("{server}/0");
    match n {
        0 => {
            let s = Scenario::start("baseline: well-behaved, 1,000 users");
            s.end(call(&plugin, "well-behaved", &[("count", "1000")], d()).await);
        }
        1 => {
            let s = Scenario::start("huge-upload: small users until the record cap");
            s.end(call(&plugin, "huge-upload", &[], d()).await);
        }
        2 => {
            let s = Scenario::start("huge-grant-sets: sets of 1,000 grants until the record cap");
            s.end(call(&plugin, "huge-grant-sets", &[], d()).await);
        }
        3 => {
            let s = Scenario::start("fat-records: 256 KiB users until the byte budget");
            s.end(call(&plugin, "fat-records", &[], d()).await);
        }
        4 => {
            let s = Scenario::start("fat-records x8 at once (a sync's default concurrency)");
            let calls: Vec<_> = (0..8)
                .map(|_| {
                    let (plugin, limits) = (plugin.clone(), d());
                    tokio::spawn(async move { call(&plugin, "fat-records", &[], limits).await })
                })
                .collect();
            let mut outcomes = Vec::new();
            for c in calls {
                outcomes.push(c.await.expect("a fat-records call"));
            }
            s.end(outcomes.swap_remove(0));
        }
        5 => {
            let s = Scenario::start("fat-pages sync: 4 MiB pages until a 1 GiB per-sync budget");
            let limits = Limits {
                upload_bytes_per_sync: 1 << 30,
                ..d()
            };
            s.end(sync(&plugin, "fat-pages", limits, &dir.path().join("fat.c1z")).await);
        }
        6 => {
            let s = Scenario::start("fat-batch: 256 requests for 16 MiB bodies");
            s.end(call(&plugin, "fat-batch", &[("allowed-url", &big)], d()).await);
        }
        7 => {
            let s = Scenario::start("fat-batch: 256 requests for 1 MiB bodies, 32 MiB budget");
            let limits = Limits {
                response_bytes_per_call: 32 << 20,
                ..d()
            };
            s.end(call(&plugin, "fat-batch", &[("allowed-url", &mib1)], limits).await);
        }
        8 => {
            let s = Scenario::start("fat-headers: one 1 MiB request header");
            s.end(call(&plugin, "fat-headers", &[("allowed-url", &empty)], d()).await);
        }
        9 => {
            let s = Scenario::start("aliased-strings: 4,096 aliases of one 1 MiB buffer");
            s.end(call(&plugin, "aliased-strings", &[], d()).await);
        }
        _ => {
            let s = Scenario::start("colliding-ids-across sync");
            let file = dir.path().join("collide.c1z");
            s.end(sync(&plugin, "colliding-ids-across", d(), &file).await);
        }
    }
}
