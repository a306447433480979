//! Measures what the host costs: instantiation latency per operation, and
//! host-to-guest overhead per uploaded record. Run in release:
//! `cargo run --release -p e2e-tests --example host_overhead`.
//!
//! Method:
//! - Per operation: `Plugin::call(Validate)` on the adversary component.
//!   Each call is what every operation pays: a fresh `Store`, instantiation
//!   from the pre-linked component (pooling allocator, copy-on-write memory
//!   image), one export call that does no I/O, and dropping the `Store`.
//!   Calls run one after another; after warm-up, each is timed.
//! - Per record: one sync call of the adversary's `well-behaved` mode,
//!   which builds N synthetic users and uploads them in pages of 1,000 via
//!   `put-resources`; the host lifts, validates and buffers each. The cost
//!   per record is (median at N - median at 0) / N, so the fixed cost of the
//!   call drops out. The same with `build-only` (records built in the guest,
//!   never uploaded) separates the guest's own work from the host boundary.

use std::time::{Duration, Instant};

use connector_runtime::{Limits, Operation, Plugin};
use e2e_tests::components::{self, ADVERSARY};
use e2e_tests::{instance, list_resources, runtime};

const WARMUP: usize = 200;
const CALLS: usize = 2_000;
const UPLOAD_REPS: usize = 31;
const RECORD_COUNTS: [u64; 2] = [1_000, 10_000];

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn median_sync(plugin: &Plugin, mode: &str, records: u64) -> Duration {
    let count = records.to_string();
    let values = [("mode", mode), ("count", count.as_str())];
    let inst = instance(plugin, "bench-upload", &values, Limits::default()).expect("config");
    let mut times = Vec::with_capacity(UPLOAD_REPS);
    for i in 0..UPLOAD_REPS + 3 {
        let started = Instant::now();
        let (_, report) = plugin
            .call(&inst, list_resources("user"))
            .await
            .expect("well-behaved sync");
        let elapsed = started.elapsed();
        let expected = if mode == "build-only" { 0 } else { records };
        assert_eq!(report.upload.resources.len() as u64, expected);
        if i >= 3 {
            times.push(elapsed);
        }
    }
    times.sort();
    percentile(&times, 0.5)
}

async fn bench() {
    let rt = runtime();
    let bytes = components::component_bytes(ADVERSARY);
    let plugin = rt.load(&bytes).await.expect("loading the adversary");
    let inst = instance(
        &plugin,
        "bench",
        &[("mode", "well-behaved")],
        Limits::default(),
    )
    .expect("config");

    for _ in 0..WARMUP {
        plugin
            .call(&inst, Operation::Validate)
            .await
            .expect("validate");
    }
    let mut times = Vec::with_capacity(CALLS);
    let all = Instant::now();
    for _ in 0..CALLS {
        let started = Instant::now();
        plugin
            .call(&inst, Operation::Validate)
            .await
            .expect("validate");
        times.push(started.elapsed());
    }
    let total = all.elapsed();
    times.sort();
    println!(
        "cores: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("## instantiation + trivial call ({CALLS} calls, {WARMUP} warm-up)");
    println!(
        "median {:.1} µs, p99 {:.1} µs, mean {:.1} µs, min {:.1} µs, max {:.1} µs",
        micros(percentile(&times, 0.5)),
        micros(percentile(&times, 0.99)),
        micros(total) / CALLS as f64,
        micros(times[0]),
        micros(times[CALLS - 1]),
    );

    println!("## per uploaded record (median of {UPLOAD_REPS} sync calls each)");
    for mode in ["well-behaved", "build-only"] {
        let base = median_sync(&plugin, mode, 0).await;
        println!("{mode}, N = 0: {:.1} µs per call", micros(base));
        for n in RECORD_COUNTS {
            let t = median_sync(&plugin, mode, n).await;
            let per = (micros(t) - micros(base)) / n as f64;
            println!(
                "{mode}, N = {n}: {:.1} µs per call, {per:.3} µs per record",
                micros(t)
            );
        }
    }
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(bench());
}
