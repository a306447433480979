//! The PingOne sync benchmarks of `docs/benchmarks.md`: the release
//! `connector-host` (wasm component) against the simulator, one JSON line per
//! measurement.
//!
//! ```text
//! cargo build --release -p connector-host -p pingone-connector --bins --examples
//! cargo run --release -p e2e-tests --example sync_bench -- [efficiency|throughput|memory|cpu|incremental [USERS]]...
//! ```
//!
//! Method, per scenario:
//! - `efficiency`: seeded tenants (nesting, dynamic groups, every role
//!   scope); requests are the simulator's count minus token exchanges and
//!   the one validate call, against the lower bound from the tenant's shape
//!   alone (`pingone_sim::lower_bound`, also used by the tests) and,
//!   separately, the connector's planned requests
//!   (`guest/pingone/tests/common/expect.rs`).
//! - `throughput`: 20k users, 50 ms latency on every request, a 100 req/s
//!   token bucket per client (PingOne's answer when exceeded: 429 with
//!   Retry-After). Wall time of the sync against requests ÷ 100, and
//!   against the same plan run one request at a time
//!   (`--sync-concurrency 1 --max-concurrent-requests 1`).
//! - `memory`: 100k users, 5k groups, 1M memberships, no latency; the
//!   host's peak RSS as the host reports it (`VmHWM` at exit). Not
//!   `ru_maxrss`, the host's or `wait4`'s: Linux carries it across fork and
//!   exec, and this process holds a 100k-user simulator.
//! - `cpu`: a 5k-user tenant synced by the wasm component (the host's
//!   "connector CPU": thread CPU of every call's polls, minus the host's own
//!   inline HTTP work) and by the same
//!   connector built natively (`native_sync`: CPU of the thread inside the
//!   connector's calls minus its CPU inside the HTTP transport, the same
//!   clock and the same subtraction as the host's), against the same
//!   simulator. Each side runs twice: with the host's default 8 calls at
//!   once and with one call at a time (the native driver with a pool of 8
//!   threads, its connector CPU summed over them, and on its own thread);
//!   `wasm_over_native` keeps the older pairing of the host's default with
//!   the native driver one call at a time. With
//!   two or more CPUs (and `CPU_PIN` not `0`), every measured process runs
//!   on one CPU and this process, the simulator, on another, for both
//!   sides alike, so the simulator's work does not land on the measured
//!   core.
//! - `incremental`: a tenant shaped like `memory`'s (100k users unless a
//!   user count follows the word), synced fully with `--incremental` (no
//!   sync to continue: a full sync that stores a mark), then 1 % as many
//!   changes as users in [`REALISTIC_CHANGE_MIX`], then synced with
//!   `--incremental` again at 50 ms latency and the audit API's 10 req/s,
//!   with no limit on the other endpoints (the issue's conditions), or
//!   `INCREMENTAL_RATE` req/s per client when that is set (PingOne's limit
//!   for the directory endpoints is not published; 100 is the figure Ping
//!   gives for its sync product). Requests of each sync as in
//!   `efficiency`; the full sync runs without latency, as its count does
//!   not depend on it. The file holds that one sync, or two with
//!   `INCREMENTAL_SYNCS=2` (a plain full sync first, as Baton keeps two);
//!   `INCREMENTAL_HOST_ARGS` adds host flags to the measured run.
//!
//! Outside `cpu`, the simulator shares the machine's cores with the host, as
//! it would not in production; wall times are therefore pessimistic.

#[path = "../../../guest/pingone/tests/common/expect.rs"]
mod expect;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pingone_sim::{AuditConfig, ChangeKind, Faults, ServeOptions, SimConfig, SimHandle};
use serde_json::{Value, json};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn release_bin(rel: &str) -> PathBuf {
    let p = workspace().join("target/release").join(rel);
    assert!(
        p.exists(),
        "{} is missing: cargo build --release -p connector-host -p pingone-connector --bins --examples",
        p.display()
    );
    p
}

/// The CPU measured child processes are pinned to, while the `cpu`
/// scenario runs.
static PIN_CHILDREN: std::sync::Mutex<Option<usize>> = std::sync::Mutex::new(None);

fn cpu_set(cpu: usize) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain data; CPU_SET writes one bit of it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set
}

/// The CPUs this thread may use.
fn current_affinity() -> Option<libc::cpu_set_t> {
    // SAFETY: sched_getaffinity writes only the set it is given.
    let mut allowed: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    (unsafe { libc::sched_getaffinity(0, size, &mut allowed) } == 0).then_some(allowed)
}

/// The first two CPUs of `allowed`, unless `CPU_PIN=0`.
fn choose_pinning(allowed: &libc::cpu_set_t) -> Option<(usize, usize)> {
    if std::env::var("CPU_PIN").is_ok_and(|v| v == "0") {
        return None;
    }
    let mut cpus =
        (0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, allowed) });
    Some((cpus.next()?, cpus.next()?))
}

/// Moves every thread of this process (the simulator's runtime included)
/// to `set`.
fn set_process_affinity(set: &libc::cpu_set_t) {
    let size = std::mem::size_of::<libc::cpu_set_t>();
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<libc::pid_t>().ok())
        {
            // SAFETY: sched_setaffinity reads the set it is given.
            unsafe { libc::sched_setaffinity(tid, size, set) };
        }
    }
}

/// What one run of a child process cost.
struct Run {
    stdout: String,
    /// The host's log (its timestamps time an incremental sync's phases).
    stderr: String,
    wall: Duration,
    max_rss_kib: u64,
    cpu: Duration,
}

/// Runs `cmd` to completion and reads its rusage with `wait4`.
// Reaped by `wait4` below, which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn run_measured(mut cmd: Command) -> Run {
    if let Some(measured) = *PIN_CHILDREN.lock().expect("pin lock") {
        use std::os::unix::process::CommandExt;
        let set = cpu_set(measured);
        // SAFETY: the closure only makes one async-signal-safe syscall.
        unsafe {
            cmd.pre_exec(move || {
                let size = std::mem::size_of::<libc::cpu_set_t>();
                if libc::sched_setaffinity(0, size, &set) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let started = Instant::now();
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.expect("stdout");
    let mut stderr = child.stderr.expect("stderr");
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut s).ok();
        s
    });
    let mut out = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut out).ok();
    let err = err_reader.join().unwrap_or_default();
    let mut status = 0;
    // SAFETY: wait4 writes only the status and the zeroed rusage it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert!(
        rc == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "run failed (status {status}):\n{out}\n{err}"
    );
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Run {
        stdout: out,
        stderr: err,
        wall,
        max_rss_kib: usage.ru_maxrss as u64,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
    }
}

/// A number from a summary row such as `  API requests      1,975`.
fn summary_number(summary: &str, label: &str) -> f64 {
    summary
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .and_then(|l| l.split_whitespace().last())
        .map(|v| v.trim_end_matches('s').replace(',', ""))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {label:?} in summary:\n{summary}"))
}

/// The sync's own duration, from `Synced PingOne into F in 2.7 s (...)`.
fn sync_seconds(summary: &str) -> f64 {
    summary
        .lines()
        .find_map(|l| l.strip_prefix("Synced PingOne into "))
        .and_then(|l| l.rsplit_once(" in "))
        .and_then(|(_, rest)| rest.split_once(" ("))
        .and_then(|(shown, _)| duration_seconds(shown))
        .unwrap_or(f64::NAN)
}

/// A duration row of the summary (`connector CPU   240 ms`), in seconds.
fn summary_duration(summary: &str, label: &str) -> f64 {
    summary
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .and_then(|v| duration_seconds(v.trim()))
        .unwrap_or_else(|| panic!("no {label:?} in summary:\n{summary}"))
}

/// Reads the summary's durations: `240 ms`, `1.2 s`, `3 min 05 s`,
/// `2 h 07 min`.
fn duration_seconds(shown: &str) -> Option<f64> {
    let words: Vec<&str> = shown.split_whitespace().collect();
    let mut total = 0.0;
    for pair in words.chunks(2) {
        let [n, unit] = pair else { return None };
        let n: f64 = n.parse().ok()?;
        total += n * match *unit {
            "ms" => 0.001,
            "s" => 1.0,
            "min" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
    }
    Some(total)
}

fn host_sync(sim: &SimHandle, dir: &Path, extra: &[&str]) -> Run {
    let file = dir.join(format!("bench-{}.c1z", rand_suffix()));
    let run = host_sync_into(sim, &file, dir, extra);
    let _ = std::fs::remove_file(&file);
    run
}

/// One sync into `file`, which is kept (an incremental sync continues it).
fn host_sync_into(sim: &SimHandle, file: &Path, dir: &Path, extra: &[&str]) -> Run {
    let mut cmd = Command::new(release_bin("connector-host"));
    cmd.arg("--file")
        .arg(file)
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(extra)
        .env_clear()
        .env("BATON_PINGONE_CLIENT_ID", sim.client_id())
        .env("BATON_PINGONE_CLIENT_SECRET", sim.client_secret())
        .env("BATON_PINGONE_ENVIRONMENT_ID", sim.environment_id())
        .env("BATON_PINGONE_API_URL", sim.api_base_url())
        .env("BATON_PINGONE_AUTH_URL", sim.auth_base_url());
    run_measured(cmd)
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// API requests of the last sync, by the simulator's count.
fn api_requests(sim: &SimHandle) -> u64 {
    let s = sim.stats();
    s.total - s.tokens_issued - 1
}

fn efficiency(rt: &tokio::runtime::Runtime, dir: &Path) {
    let dense = SimConfig {
        users: 450,
        groups: 430,
        avg_groups_per_user: 3.0,
        nested_fraction: 0.5,
        dynamic_groups: 5,
        ..SimConfig::small(4)
    };
    for (name, config) in [
        ("small seed 1", SimConfig::small(1)),
        ("small seed 2", SimConfig::small(2)),
        ("medium seed 1", SimConfig::medium(1)),
        ("medium seed 3", SimConfig::medium(3)),
        ("dense nesting", dense),
    ] {
        let sim = rt
            .block_on(pingone_sim::start(config, ServeOptions::default()))
            .expect("simulator");
        let truth = sim.ground_truth();
        sim.reset_stats();
        host_sync(&sim, dir, &[]);
        let used = api_requests(&sim);
        let bound = pingone_sim::lower_bound(&truth);
        let plan = expect::planned(&truth);
        println!(
            "{}",
            json!({
                "scenario": "efficiency",
                "tenant": name,
                "users": truth.users.len(),
                "groups": truth.groups.len(),
                "requests": used,
                "lower_bound": bound.api,
                "ratio": round3(used as f64 / bound.api as f64),
                "planned": plan.total,
                "ratio_to_planned": round3(used as f64 / plan.total as f64),
            })
        );
        rt.block_on(sim.shutdown());
    }
}

fn throughput_config() -> SimConfig {
    SimConfig {
        users: 20_000,
        groups: 1_000,
        avg_groups_per_user: 3.0,
        faults: Faults {
            latency_ms: 50,
            rate_limit_per_sec: Some(100.0),
            ..Faults::default()
        },
        ..SimConfig::medium(20)
    }
}

fn throughput(rt: &tokio::runtime::Runtime, dir: &Path, sequential: bool) {
    let sim = rt
        .block_on(pingone_sim::start(
            throughput_config(),
            ServeOptions::default(),
        ))
        .expect("simulator");
    let mut runs: Vec<(&str, Vec<&str>)> = vec![("adaptive", vec![])];
    if sequential {
        runs.push((
            "sequential",
            vec!["--sync-concurrency", "1", "--max-concurrent-requests", "1"],
        ));
    }
    for (mode, args) in runs {
        sim.reset_stats();
        // A fresh bucket per run.
        sim.set_faults(throughput_config().faults);
        let run = host_sync(&sim, dir, &args);
        let stats = sim.stats();
        let requests = stats.total;
        let bound = requests as f64 / 100.0;
        println!(
            "{}",
            json!({
                "scenario": "throughput",
                "mode": mode,
                "users": 20_000,
                "requests_incl_tokens_and_429s": requests,
                "rate_limited_429": stats.rate_limited,
                "api_requests": stats.total - stats.tokens_issued - stats.rate_limited - 1,
                "sync_seconds": sync_seconds(&run.stdout),
                "process_wall_s": round3(run.wall.as_secs_f64()),
                "bound_s": round3(bound),
                "wall_over_bound": round3(run.wall.as_secs_f64() / bound),
            })
        );
    }
    rt.block_on(sim.shutdown());
}

fn memory(rt: &tokio::runtime::Runtime, dir: &Path) {
    let sim = rt
        .block_on(pingone_sim::start(
            SimConfig::large(1),
            ServeOptions::default(),
        ))
        .expect("simulator");
    let truth = sim.ground_truth();
    sim.reset_stats();
    let run = host_sync(&sim, dir, &[]);
    println!(
        "{}",
        json!({
            "scenario": "memory",
            "users": truth.users.len(),
            "groups": truth.groups.len(),
            "memberships": truth.memberships.len(),
            "grants": summary_number(&run.stdout, "grants"),
            "api_requests": api_requests(&sim),
            "wall_s": round3(run.wall.as_secs_f64()),
            "host_cpu_s": round3(run.cpu.as_secs_f64()),
            // The host's own VmHWM at exit, from its summary: any
            // ru_maxrss would count this (simulator-sized) process, as
            // Linux carries it across fork and exec.
            "host_peak_rss_mib": round3(summary_number(&run.stdout, "host peak memory KiB") / 1024.0),
            "wait4_maxrss_mib_inflated_by_fork": round3(run.max_rss_kib as f64 / 1024.0),
            "connector_memory_kib": summary_number(&run.stdout, "connector memory KiB"),
        })
    );
    rt.block_on(sim.shutdown());
}

fn cpu(rt: &tokio::runtime::Runtime, dir: &Path) {
    // 5k users: enough connector work that the native side's 10 ms CPU
    // clock ticks are a small error.
    let config = SimConfig {
        users: 5_000,
        groups: 300,
        ..SimConfig::medium(1)
    };
    let sim = rt
        .block_on(pingone_sim::start(config, ServeOptions::default()))
        .expect("simulator");
    let original = current_affinity();
    let pinning = original.as_ref().and_then(choose_pinning);
    if let Some((measured, simulator)) = pinning {
        set_process_affinity(&cpu_set(simulator));
        *PIN_CHILDREN.lock().expect("pin lock") = Some(measured);
    }
    let ready = dir.join("ready.json");
    std::fs::write(
        &ready,
        serde_json::to_vec(&sim.ready_info(None)).expect("ready info"),
    )
    .expect("ready file");
    let rounds: usize = std::env::var("CPU_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut ratios = (Vec::new(), Vec::new(), Vec::new());
    // Summed CPU per side: a second estimate of the ratio, steadier than the
    // median of per-round ratios when single rounds swing by a third.
    let mut totals = (0.0, 0.0, 0.0, 0.0);
    for round in 0..rounds {
        // Both schedules on both sides: the host's default (8 calls at
        // once) and one call at a time, so each ratio compares the same
        // schedule.
        let native_sync = |calls_at_once: &str| -> Value {
            let out = run_measured({
                let mut c = Command::new(release_bin("examples/native_sync"));
                c.arg("--ready").arg(&ready);
                c.args(["--sync-concurrency", calls_at_once]);
                c
            });
            serde_json::from_str(out.stdout.trim()).expect("native JSON")
        };
        // Odd rounds run the native side first, so neither side always
        // runs on what the other left warm (or hot).
        let (wasm, wasm_sequential, native, native_parallel) = if round % 2 == 0 {
            let wasm = host_sync(&sim, dir, &[]);
            let sequential = host_sync(&sim, dir, &["--sync-concurrency", "1"]);
            (wasm, sequential, native_sync("1"), native_sync("8"))
        } else {
            let (native, parallel) = (native_sync("1"), native_sync("8"));
            let wasm = host_sync(&sim, dir, &[]);
            let sequential = host_sync(&sim, dir, &["--sync-concurrency", "1"]);
            (wasm, sequential, native, parallel)
        };
        let wasm_cpu = summary_duration(&wasm.stdout, "connector CPU");
        let sequential_cpu = summary_duration(&wasm_sequential.stdout, "connector CPU");
        let native_cpu = native["logic_cpu_s"].as_f64().unwrap_or(f64::NAN);
        let native_parallel_cpu = native_parallel["logic_cpu_s"].as_f64().unwrap_or(f64::NAN);
        ratios.0.push(wasm_cpu / native_cpu);
        ratios.1.push(sequential_cpu / native_cpu);
        ratios.2.push(wasm_cpu / native_parallel_cpu);
        totals.0 += wasm_cpu;
        totals.1 += sequential_cpu;
        totals.2 += native_cpu;
        totals.3 += native_parallel_cpu;
        println!(
            "{}",
            json!({
                "scenario": "cpu",
                "round": round,
                "users": 5_000,
                "wasm_connector_cpu_s": wasm_cpu,
                "wasm_sequential_connector_cpu_s": sequential_cpu,
                "native_connector_cpu_s": native_cpu,
                "native_8_at_once_connector_cpu_s": native_parallel_cpu,
                "wasm_over_native": round3(wasm_cpu / native_cpu),
                "wasm_over_native_8_at_once": round3(wasm_cpu / native_parallel_cpu),
                "wasm_sequential_over_native": round3(sequential_cpu / native_cpu),
                "wasm_connector_calls": summary_number(&wasm.stdout, "connector calls"),
                "wasm_instances": summary_number(&wasm.stdout, "instances"),
                "wasm_host_process_cpu_s": round3(wasm.cpu.as_secs_f64()),
                "native_driver_thread_cpu_s": native["driver_thread_cpu_s"],
                "native_process_cpu_s": native["process_cpu_s"],
                "pinned_cpus": pinning.map(|(m, s)| json!({"measured": m, "simulator": s})),
            })
        );
    }
    println!(
        "{}",
        json!({
            "scenario": "cpu",
            "rounds": rounds,
            "median_wasm_over_native": round3(median(&mut ratios.0)),
            "median_wasm_sequential_over_native": round3(median(&mut ratios.1)),
            "median_wasm_over_native_8_at_once": round3(median(&mut ratios.2)),
            "total_wasm_over_native": round3(totals.0 / totals.2),
            "total_wasm_sequential_over_native": round3(totals.1 / totals.2),
            "total_wasm_over_native_8_at_once": round3(totals.0 / totals.3),
        })
    );
    rt.block_on(sim.shutdown());
    if let (Some(_), Some(original)) = (pinning, original) {
        *PIN_CHILDREN.lock().expect("pin lock") = None;
        set_process_affinity(&original);
    }
}

/// A day's administration rather than `apply_random_changes`' default mix,
/// which exercises every kind and so creates and deletes populations and
/// groups at a rate no tenant sees: mostly profile edits and membership
/// changes, some joiners, leavers and disables, a few role assignments and
/// group edits; no population or nesting changes. Weights are per 100.
const REALISTIC_CHANGE_MIX: &[(ChangeKind, u32)] = &[
    (ChangeKind::UpdateUser, 34),
    (ChangeKind::DynamicAttribute, 4),
    (ChangeKind::DisableUser, 4),
    (ChangeKind::EnableUser, 2),
    (ChangeKind::LockUser, 1),
    (ChangeKind::UnlockUser, 1),
    (ChangeKind::CreateUser, 6),
    (ChangeKind::DeleteUser, 2),
    (ChangeKind::MoveUser, 1),
    (ChangeKind::AddMembership, 24),
    (ChangeKind::RemoveMembership, 15),
    (ChangeKind::AssignUserRole, 2),
    (ChangeKind::AssignGroupRole, 1),
    (ChangeKind::RemoveRoleAssignment, 1),
    (ChangeKind::CreateGroup, 1),
    (ChangeKind::UpdateGroup, 1),
];

/// 50 ms latency, the audit API's 10 req/s, and `INCREMENTAL_RATE` req/s
/// per client on the other endpoints when set.
fn incremental_faults() -> (Faults, AuditConfig) {
    let rate = std::env::var("INCREMENTAL_RATE").ok().map(|r| {
        r.parse::<f64>()
            .expect("INCREMENTAL_RATE: requests per second")
    });
    let faults = Faults {
        latency_ms: 50,
        rate_limit_per_sec: rate,
        ..Faults::default()
    };
    let audit = AuditConfig {
        rate_limit_per_sec: Some(10.0),
        ..AuditConfig::default()
    };
    (faults, audit)
}

/// The line `--incremental` prints before its summary: what ran, or why a
/// full sync ran instead.
fn sync_mode(stdout: &str) -> (&'static str, Option<String>) {
    for line in stdout.lines() {
        if let Some(why) = line.strip_prefix("full sync instead of an incremental one: ") {
            return ("full", Some(why.to_string()));
        }
        if line.starts_with("incremental sync: ") {
            return ("incremental", None);
        }
    }
    ("full", None)
}

fn incremental(rt: &tokio::runtime::Runtime, dir: &Path, users: usize) {
    let config = SimConfig {
        users,
        groups: (users / 20).max(10),
        memberships: Some(users * 10),
        ..SimConfig::large(1)
    };
    let sim = rt
        .block_on(pingone_sim::start(config, ServeOptions::default()))
        .expect("simulator");
    let file = dir.join(format!("incremental-{}.c1z", rand_suffix()));
    // `INCREMENTAL_SYNCS=2`: the file holds two syncs, as Baton keeps by
    // default, so publishing compresses both. A plain sync stores no mark:
    // the `--incremental` one after it is a full sync too.
    let syncs_in_file = match std::env::var("INCREMENTAL_SYNCS").as_deref() {
        Ok("2") => 2,
        Ok("1") | Err(_) => 1,
        Ok(other) => panic!("INCREMENTAL_SYNCS: 1 or 2, not {other}"),
    };
    if syncs_in_file == 2 {
        host_sync_into(&sim, &file, dir, &[]);
    }
    sim.reset_stats();
    let full_run = host_sync_into(&sim, &file, dir, &["--incremental"]);
    let full = api_requests(&sim);
    let (full_mode, full_why) = sync_mode(&full_run.stdout);

    let steps = (users / 100).max(1);
    let applied = sim.apply_weighted_changes(7, steps, REALISTIC_CHANGE_MIX);
    let (faults, audit) = incremental_faults();
    let rate_limit = faults.rate_limit_per_sec;
    sim.set_faults(faults);
    sim.set_audit_config(audit);
    sim.reset_stats();
    // `INCREMENTAL_HOST_ARGS`: host flags for the measured run only (for
    // example more requests in flight than the default 16).
    let host_args = std::env::var("INCREMENTAL_HOST_ARGS").unwrap_or_default();
    let mut args = vec!["--incremental"];
    args.extend(host_args.split_whitespace());
    let run = host_sync_into(&sim, &file, dir, &args);
    let stats = sim.stats();
    let audit_requests: u64 = stats
        .routes
        .iter()
        .filter(|(route, _)| route.contains("/activities"))
        .map(|(_, r)| r.count)
        .sum();
    let requests = stats.total - stats.tokens_issued - stats.rate_limited - 1;
    let (mode, fallback) = sync_mode(&run.stdout);
    let mode_line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("incremental sync: ") || l.starts_with("full sync instead"))
        .unwrap_or("");
    println!(
        "{}",
        json!({
            "scenario": "incremental",
            "users": users,
            "syncs_in_file": syncs_in_file,
            "host_args": host_args,
            "rate_limit_per_sec": rate_limit,
            "changes": applied.len(),
            "full_sync": {"mode": full_mode, "why": full_why, "requests": full,
                "wall_s": round3(full_run.wall.as_secs_f64())},
            "incremental": {
                "mode": mode,
                "fallback": fallback,
                "report": mode_line,
                "requests": requests,
                "audit_requests": audit_requests,
                "rate_limited_429": stats.rate_limited,
                // Where the requests went: what dominates the cost.
                "by_route": stats.routes.iter()
                    .map(|(route, r)| (route.clone(), json!(r.count)))
                    .collect::<serde_json::Map<_, _>>(),
                "sync_seconds": sync_seconds(&run.stdout),
                "process_wall_s": round3(run.wall.as_secs_f64()),
                // The host's own log lines, whose timestamps time the phases
                // (reading the log, copying the last sync, re-reads, publish).
                "log": run.stderr.lines().filter(|l| !l.contains("DEBUG")).collect::<Vec<_>>(),
            },
            "requests_over_full": round3(requests as f64 / full as f64),
        })
    );
    let _ = std::fs::remove_file(&file);
    rt.block_on(sim.shutdown());
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn main() {
    let mut scenarios: Vec<String> = std::env::args().skip(1).collect();
    if scenarios.is_empty() {
        scenarios = ["efficiency", "cpu", "memory", "throughput"]
            .map(String::from)
            .to_vec();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut args = scenarios.iter().peekable();
    while let Some(s) = args.next() {
        match s.as_str() {
            "incremental" => {
                let users = args
                    .next_if(|a| a.parse::<usize>().is_ok())
                    .map_or(100_000, |a| a.parse().expect("checked"));
                incremental(&rt, dir.path(), users)
            }
            "efficiency" => efficiency(&rt, dir.path()),
            "throughput" => throughput(&rt, dir.path(), true),
            "throughput-adaptive" => throughput(&rt, dir.path(), false),
            "memory" => memory(&rt, dir.path()),
            "cpu" => cpu(&rt, dir.path()),
            other => panic!("unknown scenario {other}"),
        }
    }
}
