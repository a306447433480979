//! Runs a full PingOne sync natively (the connector as a Rust library, no
//! wasm) through the same host-like driver the tests use, and prints one
//! JSON line: the baseline for the native-vs-wasm comparison.
//!
//! ```text
//! cargo run --release -p pingone-connector --example native_sync -- [--preset medium] [--seed 1]
//! cargo run --release -p pingone-connector --example native_sync -- --ready <simulator ready-file>
//! cargo run --release -p pingone-connector --example native_sync -- --sync-concurrency 8 [...]
//! ```
//!
//! `--sync-concurrency N` runs up to N calls at once on a pool of N
//! threads, as the host runs N calls at once (default 1: every call on the
//! driver thread); the connector CPU is then summed over the pool's
//! threads. `--concurrency` is the requests one batch sends at once.
//!
//! With `--ready`, it syncs a simulator started separately (its ready-file
//! names the URLs and credentials), so the simulator's CPU is not counted;
//! otherwise it starts one in-process. `--check` compares the result with the
//! simulator's ground truth (in-process only). The driver thread's CPU (it
//! runs the connector logic; its blocking HTTP client does the I/O on
//! another thread) is read from the same nanosecond thread CPU clock the
//! host meters wasm calls with; the whole process's from `/proc/self/stat`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::{Driver, Transport, sim_config};
use serde_json::{Value, json};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// CPU time of the calling thread, in seconds (the clock the host's
/// `cpu_clock` reads around wasm calls).
fn thread_cpu() -> Option<f64> {
    Some(common::thread_cpu_time().as_secs_f64())
}

/// utime + stime of a `/proc/.../stat` file, in seconds.
fn cpu(path: &str) -> Option<f64> {
    let s = std::fs::read_to_string(path).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let concurrency: usize = arg(&args, "--concurrency")
        .and_then(|c| c.parse().ok())
        .unwrap_or(8);
    // Calls at once, as the host's `--sync-concurrency` (default here: one).
    let calls_at_once: usize = arg(&args, "--sync-concurrency")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);

    let mut _runtime = None;
    let mut _sim = None;
    let (config, token_url, client_id, secret, truth) = match arg(&args, "--ready") {
        Some(path) => {
            let ready: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).expect("ready file"))
                    .expect("ready file JSON");
            let s = |k: &str| ready[k].as_str().unwrap_or_default().to_string();
            let config = sim_config(
                &s("api_base_url"),
                &s("auth_base_url"),
                &s("environment_id"),
                &s("client_id"),
            );
            (
                config,
                s("token_url"),
                s("client_id"),
                s("client_secret"),
                None,
            )
        }
        None => {
            let preset = arg(&args, "--preset").unwrap_or_else(|| "medium".into());
            let seed = arg(&args, "--seed")
                .and_then(|s| s.parse().ok())
                .unwrap_or(1);
            let sim_config_ = pingone_sim::SimConfig::preset(&preset, seed)
                .expect("preset: tiny, small, medium or large");
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            let sim = rt
                .block_on(pingone_sim::start(sim_config_, Default::default()))
                .expect("simulator");
            let config = sim_config(
                sim.api_base_url(),
                sim.auth_base_url(),
                sim.environment_id(),
                sim.client_id(),
            );
            let out = (
                config,
                sim.token_url(),
                sim.client_id().to_string(),
                sim.client_secret().to_string(),
                Some(sim.ground_truth()),
            );
            _runtime = Some(rt);
            _sim = Some(sim);
            out
        }
    };

    let mut transport = Transport::new(&token_url, &client_id, &secret);
    transport.concurrency = concurrency;
    let driver = Driver::new(&transport, config);
    let (thread0, proc0) = (thread_cpu(), cpu("/proc/self/stat"));
    let (store, report) = match driver.run_with(calls_at_once) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sync failed: {e}");
            std::process::exit(1);
        }
    };
    let (thread1, proc1) = (thread_cpu(), cpu("/proc/self/stat"));
    let c = transport.counters();
    let secs = |d: Duration| (d.as_secs_f64() * 1000.0).round() / 1000.0;
    let diff =
        |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| ((b - a) * 1000.0).round() / 1000.0);
    let mut out = json!({
        "mode": "native",
        "resources": store.resources.len(),
        "entitlements": store.entitlements.len(),
        "grants": store.grants.len(),
        "calls": report.calls,
        "calls_at_once": calls_at_once,
        "calls_by_phase": report.calls_by_phase,
        "requests": c.logical,
        "requests_by_route": c.by_route,
        "http_attempts": c.attempts,
        "token_requests": c.token_requests,
        "max_batch": c.max_batch,
        "max_token_bytes": report.max_token_bytes,
        "elapsed_s": secs(report.elapsed),
        "in_calls_s": secs(report.in_calls),
        "logic_cpu_s": secs(report.logic_cpu),
        "driver_thread_cpu_s": diff(thread0, thread1),
        "process_cpu_s": diff(proc0, proc1),
    });
    if let Some(truth) = &truth {
        let bound = pingone_sim::lower_bound(truth).api;
        let plan = common::expect::planned(truth).total;
        let ratio = |n: u64| json!((c.logical as f64 / n as f64 * 1000.0).round() / 1000.0);
        out["lower_bound_requests"] = json!(bound);
        out["requests_over_lower_bound"] = ratio(bound);
        out["planned_requests"] = json!(plan);
        out["requests_over_planned"] = ratio(plan);
        if args.iter().any(|a| a == "--check") {
            let want = common::expect::expected(truth);
            let ok = want.resources.len() == store.resources.len()
                && want.entitlements.len() == store.entitlements.len()
                && want.grants.keys().all(|k| store.grants.contains_key(k))
                && want.grants.len() == store.grants.len();
            out["matches_ground_truth"] = json!(ok);
        }
    }
    println!("{out}");
}
