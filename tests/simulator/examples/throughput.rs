//! Throughput of the simulator itself: a 100k-user tenant (100k users, 5k
//! groups, 1M memberships), no faults, hammered over loopback by N
//! concurrent keep-alive clients. Scenario 1 fetches `GET /users?limit=200`
//! pages (every page of the tenant, round-robin); scenario 2 fetches the
//! pages of a `memberOfGroups[id eq "<big group>"]` filter. Reports
//! requests/s, bytes/s and latency percentiles.
//!
//! The simulator runs on its own runtime (threads named `sim-server`) and
//! the clients on another, so the report can also give the simulator's CPU
//! time per request (Linux: per-thread counters) and from it the request
//! rate the simulator alone could sustain on two cores.
//!
//! Run in release mode:
//! `cargo run --release -p pingone-sim --example throughput -- --requests 20000 --concurrency 16`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pingone_sim::{ServeOptions, SimConfig};
use serde_json::Value;

struct Opts {
    users: usize,
    requests: usize,
    concurrency: usize,
    max_secs: u64,
    seed: u64,
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        users: 100_000,
        requests: 20_000,
        concurrency: 16,
        max_secs: 60,
        seed: 1,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i + 1 < args.len() {
        let v = &args[i + 1];
        match args[i].as_str() {
            "--users" => o.users = v.parse().expect("--users N"),
            "--requests" => o.requests = v.parse().expect("--requests N"),
            "--concurrency" => o.concurrency = v.parse().expect("--concurrency N"),
            "--max-secs" => o.max_secs = v.parse().expect("--max-secs N"),
            "--seed" => o.seed = v.parse().expect("--seed N"),
            other => panic!("unknown option {other}"),
        }
        i += 2;
    }
    o
}

fn rss_mib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// CPU seconds (user + system) consumed so far by this process's threads
/// whose name starts with `prefix`.
fn thread_cpu_secs(prefix: &str) -> Option<f64> {
    let tick = 100.0; // USER_HZ on Linux
    let mut total = 0u64;
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(entry.ok()?.path().join("stat")).ok()?;
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line.
        total += fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    }
    Some(total as f64 / tick)
}

async fn collect_pages(
    client: &reqwest::Client,
    token: &str,
    first: String,
    cap: usize,
) -> Vec<String> {
    let mut urls = vec![first.clone()];
    let mut url = first;
    while urls.len() < cap {
        let v: Value = client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        match v["_links"]["next"]["href"].as_str() {
            Some(n) => {
                url = n.to_string();
                urls.push(url.clone());
            }
            None => break,
        }
    }
    urls
}

struct Outcome {
    requests: usize,
    errors: usize,
    bytes: u64,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

async fn hammer(
    client: reqwest::Client,
    token: Arc<str>,
    urls: Arc<Vec<String>>,
    o: &Opts,
) -> Outcome {
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(o.max_secs);
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..o.concurrency {
        let (client, token, urls, next) =
            (client.clone(), token.clone(), urls.clone(), next.clone());
        let total = o.requests;
        set.spawn(async move {
            let (mut lat, mut bytes, mut errors) = (Vec::new(), 0u64, 0usize);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || Instant::now() > deadline {
                    break;
                }
                let t = Instant::now();
                match client
                    .get(&urls[i % urls.len()])
                    .bearer_auth(&*token)
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 200 => match r.bytes().await {
                        Ok(b) => bytes += b.len() as u64,
                        Err(_) => errors += 1,
                    },
                    _ => errors += 1,
                }
                lat.push(t.elapsed().as_micros() as u64);
            }
            (lat, bytes, errors)
        });
    }
    let mut out = Outcome {
        requests: 0,
        errors: 0,
        bytes: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    while let Some(r) = set.join_next().await {
        let (lat, bytes, errors) = r.unwrap();
        out.requests += lat.len();
        out.latencies_us.extend(lat);
        out.bytes += bytes;
        out.errors += errors;
    }
    out.elapsed = started.elapsed();
    out.latencies_us.sort_unstable();
    out
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn report(name: &str, o: &Outcome, pages: usize, server_cpu: Option<f64>) {
    let secs = o.elapsed.as_secs_f64();
    if let Some(cpu) = server_cpu {
        let per_req_us = cpu * 1e6 / o.requests.max(1) as f64;
        println!(
            "{name}: simulator threads used {:.2} CPU s = {:.0} us per request -> {:.0} req/s on 2 cores without the clients",
            cpu,
            per_req_us,
            2e6 / per_req_us.max(1.0)
        );
    }
    println!(
        "{name}: {} requests ({} distinct pages) in {:.2} s = {:.0} req/s, {:.0} MiB/s, errors {}, latency ms p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}",
        o.requests,
        pages,
        secs,
        o.requests as f64 / secs,
        o.bytes as f64 / secs / 1_048_576.0,
        o.errors,
        pct(&o.latencies_us, 0.50),
        pct(&o.latencies_us, 0.90),
        pct(&o.latencies_us, 0.99),
        pct(&o.latencies_us, 1.0),
    );
}

fn main() {
    let o = parse_opts();
    // Two runtimes so the simulator's own CPU time can be measured apart
    // from the clients'.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sim-server")
        .enable_all()
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .unwrap();
    let server = server_rt.handle().clone();
    rt.block_on(async move {
        let cfg = SimConfig {
            users: o.users,
            memberships: Some(o.users * 10),
            ..SimConfig::large(o.seed)
        };
        let t = Instant::now();
        let sim = server
            .spawn(pingone_sim::start(cfg, ServeOptions::default()))
            .await
            .unwrap()
            .unwrap();
        let s = sim.summary();
        println!(
            "tenant: {} users, {} groups, {} memberships, {} nestings, {} role assignments; generated and listening in {:.2} s; RSS {} MiB",
            s.users,
            s.groups,
            s.memberships,
            s.nestings,
            s.role_assignments,
            t.elapsed().as_secs_f64(),
            rss_mib().map(|m| m.to_string()).unwrap_or_else(|| "?".into())
        );
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(o.concurrency)
            .build()
            .unwrap();
        let tok: Value = client
            .post(sim.token_url())
            .basic_auth(sim.client_id(), Some(sim.client_secret()))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token: Arc<str> = tok["access_token"].as_str().unwrap().into();
        let env = format!("{}/v1/environments/{}", sim.api_base_url(), sim.environment_id());

        // Scenario 1: users pages of 200.
        let pages = collect_pages(&client, &token, format!("{env}/users?limit=200"), 10_000).await;
        let rss = rss_mib().unwrap_or(0);
        println!("warm-up: walked {} users pages; RSS {rss} MiB", pages.len());
        let n_pages = pages.len();
        let cpu0 = thread_cpu_secs("sim-server");
        let out = hammer(client.clone(), token.clone(), Arc::new(pages), &o).await;
        let cpu = thread_cpu_secs("sim-server").zip(cpu0).map(|(a, b)| a - b);
        report("users pages (limit=200)", &out, n_pages, cpu);

        // Scenario 2: the members of the largest group (nested children included).
        let gt_group = {
            let gt = sim.ground_truth();
            let mut counts = std::collections::HashMap::<&str, usize>::new();
            for m in &gt.memberships {
                *counts.entry(m.group_id.as_str()).or_default() += 1;
            }
            let parent = gt
                .nestings
                .iter()
                .map(|n| n.parent_group_id.as_str())
                .max_by_key(|g| counts.get(g).copied().unwrap_or(0));
            parent.unwrap_or(gt.groups[0]["id"].as_str().unwrap()).to_string()
        };
        let expr = format!("memberOfGroups[id eq \"{gt_group}\"]");
        let filter: String = url::form_urlencoded::byte_serialize(expr.as_bytes()).collect();
        let first = format!("{env}/users?filter={filter}&limit=200");
        let v: Value = client
            .get(&first)
            .bearer_auth(&*token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let pages = collect_pages(&client, &token, first, 10_000).await;
        println!("group {gt_group}: {} members over {} pages", v["count"], pages.len());
        let n_pages = pages.len();
        let cpu0 = thread_cpu_secs("sim-server");
        let out = hammer(client.clone(), token.clone(), Arc::new(pages), &o).await;
        let cpu = thread_cpu_secs("sim-server").zip(cpu0).map(|(a, b)| a - b);
        report("memberOfGroups filter pages (limit=200)", &out, n_pages, cpu);

        let st = sim.stats();
        println!(
            "simulator accounting: {} requests, concurrency high-water {}, statuses {:?}",
            st.total, st.concurrency_high_water, st.by_status
        );
        server.spawn(sim.shutdown()).await.unwrap();
    });
}
