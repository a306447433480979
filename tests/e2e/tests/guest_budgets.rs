//! A component's budgets hold for what it really spends, and its text
//! reaches the operator's logs bounded and on one line.
//!
//! Threats covered:
//! - memory held across several memories and tables of one Store, each
//!   under the cap but together over it;
//! - CPU spent inside host calls (the host checking records), which epoch
//!   ticks in wasm do not see, so the guest ran several times its budget;
//! - the reverse: a call waiting on many slow answers, stopped for CPU it
//!   never used because every await that spanned a tick cost a tick;
//! - an error text of 12 MiB logged on every retry, and log, error and
//!   validation text that forges host log lines with CR/LF and rewrites the
//!   terminal with escapes, in both log formats of the real binary.
//!
//! The CPU tests compare CPU with CPU (the call's measured thread CPU with
//! its budget), never with the wall clock, so a slow machine changes how
//! long they take, not what they find. All traffic stays on loopback.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use connector_runtime::cpu_clock::thread_cpu_time;
use connector_runtime::{CallError, CallReport, Limits, Output};
use e2e_tests::adversary;
use e2e_tests::components::{self, ADVERSARY};
use e2e_tests::{fast_limits, host_binary, instance, list_resources};

/// What the adversary's `loud-error` mode logs (its `FORGED_LOG`).
const FORGED_LOG: &str = "loud\r\n2026-01-01T00:00:00.000000Z ERROR connector_host: FORGED-BY-GUEST\x1b[2J\x1b]0;pwned\x07\u{2028}end";
/// The same text as the host must show it: escaped, on one line.
const FORGED_ESCAPED: &str = r"loud\r\n2026-01-01T00:00:00.000000Z ERROR connector_host: FORGED-BY-GUEST\u{1b}[2J\u{1b}]0;pwned\u{7}\u{2028}end";
/// Where the forged line would begin if a line break got through.
const FORGED_LINE_START: &str = "2026-01-01T00:00:00.000000Z";

/// One sync call of the adversary in `mode` under `limits`.
async fn run(
    mode: &str,
    extra: &[(&str, &str)],
    limits: Limits,
) -> Result<(Output, CallReport), CallError> {
    let plugin = adversary().await;
    let mut values = vec![("mode", mode)];
    values.extend_from_slice(extra);
    let inst = instance(&plugin, mode, &values, limits).expect("adversary config");
    plugin.call(&inst, list_resources("user")).await
}

/// The memory alone fits the cap; with the Store's tables it does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memories_and_tables_share_one_cap() {
    let cap: usize = 32 << 20;
    let limits = Limits {
        memory_bytes: cap,
        ..fast_limits()
    };
    let at_cap = cap.to_string();
    let result = run("grow-memory", &[("count", &at_cap)], limits.clone()).await;
    assert!(
        matches!(result, Err(CallError::MemoryExceeded(n)) if n == cap),
        "a linear memory of exactly the cap, plus tables: {result:?}"
    );

    // 1 MiB below the cap, memory and tables fit, and the reported peak
    // counts the tables too.
    let below = cap - (1 << 20);
    let (_, report) = run("grow-memory", &[("count", &below.to_string())], limits)
        .await
        .expect("a memory 1 MiB under the cap");
    assert!(
        report.memory_peak > below && report.memory_peak <= cap,
        "peak {} for a memory of {below} bytes",
        report.memory_peak
    );
}

/// The host's work inside the guest's calls counts: a guest that spends
/// its CPU there is stopped near its budget. Before, such a guest ran
/// several times its budget (each host call cost at most one tick).
///
/// Single-threaded on purpose: the call runs on this thread, so the
/// thread's CPU clock measures what the call spent.
#[tokio::test]
async fn cpu_spent_in_host_calls_is_charged() {
    let budget = Duration::from_millis(400);
    let limits = Limits {
        cpu_per_call: budget,
        memory_bytes: 64 << 20,
        wall_per_call: Duration::from_secs(120),
        // Refused puts count against the upload caps too; lifted here so
        // that only the CPU budget can stop the call.
        upload_records_per_call: usize::MAX,
        upload_bytes_per_call: usize::MAX,
        ..fast_limits()
    };
    // Loaded first, so the compile is not measured.
    adversary().await;
    let before = thread_cpu_time();
    let result = run("refused-uploads", &[], limits).await;
    let spent = thread_cpu_time().saturating_sub(before);
    assert!(
        matches!(result, Err(CallError::CpuExhausted(d)) if d == budget),
        "{result:?} after {spent:?} of CPU"
    );
    // The budget plus at most one put (a few tens of ms) and one tick;
    // three times the budget is far above that and far below the overrun.
    assert!(
        spent < budget * 3,
        "stopped after {spent:?} of CPU on a budget of {budget:?}"
    );
    assert!(
        spent >= budget,
        "stopped after {spent:?}, before its budget"
    );
}

/// With the upload caps in place, the same guest is stopped by the byte
/// budget its refused puts count against, and the call says so (a limit
/// hit after a refused record is the cause, not a bare trap).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_puts_still_count_against_the_upload_bytes() {
    let limits = Limits {
        cpu_per_call: Duration::from_secs(60),
        memory_bytes: 64 << 20,
        wall_per_call: Duration::from_secs(120),
        upload_records_per_call: usize::MAX,
        upload_bytes_per_call: 8 << 20,
        ..fast_limits()
    };
    match run("refused-uploads", &[("count", "1000")], limits).await {
        Err(CallError::LimitExceeded(m)) => assert!(m.contains("upload_bytes_per_call"), "{m}"),
        other => panic!("expected LimitExceeded, got {other:?}"),
    }
}

/// A loopback server answering `/slow` after `delay`, counting requests.
async fn slow_server(delay: Duration) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/slow",
        axum::routing::get(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding the slow server");
    let url = format!("http://{}/slow", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, hits)
}

/// Waiting is not CPU: 100 answers 30 ms apart take at least 3 s of wall
/// time, ten times the budget, and the call is not stopped. Before, each
/// await that spanned an epoch tick cost a tick, 100 ticks in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_on_slow_answers_costs_no_cpu() {
    let budget = Duration::from_millis(300);
    let requests = 100;
    let delay = Duration::from_millis(30);
    let (url, hits) = slow_server(delay).await;
    let limits = Limits {
        cpu_per_call: budget,
        wall_per_call: Duration::from_secs(120),
        ..fast_limits()
    };
    adversary().await;
    let started = Instant::now();
    let result = run(
        "slow-requests",
        &[("allowed-url", &url), ("count", &requests.to_string())],
        limits,
    )
    .await;
    let wall = started.elapsed();
    let (_, report) = result.expect("a call that mostly waits is not stopped for CPU");
    assert_eq!(hits.load(Ordering::SeqCst), requests);
    // Sequential waits: a lower bound that no machine speed changes.
    assert!(wall >= delay * requests as u32, "{wall:?}");
    assert!(wall > budget * 10, "{wall:?}");
    assert!(report.cpu < budget, "the call's own CPU: {:?}", report.cpu);
}

/// Runs the CLI on the adversary's `loud-error` mode in `format`: its
/// validation summary, a log line and five attempts at a sync page, each
/// failing with a 12 MiB error that the host logs before each retry.
async fn loud_cli(format: &str) -> (bool, String) {
    let component = components::component(ADVERSARY);
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(host_binary());
    cmd.arg("--component")
        .arg(&component)
        .args(["--mode", "loud-error", "--log-format", format])
        .arg("--file")
        .arg(dir.path().join("loud.c1z"))
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    drop(dir);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What must hold in either format.
fn assert_bounded_and_unforged(stderr: &str) {
    // Five 12 MiB errors were 60 MiB of stderr; now each is cut to 4 KiB.
    assert!(stderr.len() < 128 << 10, "{} bytes of stderr", stderr.len());
    assert!(
        stderr.matches(" bytes cut]").count() >= 5,
        "the 12 MiB error, cut, before each retry and at the end:\n{}",
        &stderr[..stderr.len().min(4_000)]
    );
    for line in stderr.split(['\n', '\r']) {
        assert!(line.len() < 8 << 10, "a line of {} bytes", line.len());
        assert!(
            !line.starts_with(FORGED_LINE_START) && !line.starts_with("ERROR connector_host"),
            "a forged line got through: {line:?}"
        );
    }
    for raw in ["\x1b[2J", "\x1b]0;", "\x07", "\u{2028}"] {
        assert!(!stderr.contains(raw), "{raw:?} reached the log");
    }
    assert!(!stderr.contains(FORGED_LOG));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_text_is_capped_and_escaped_in_console_logs() {
    let (ok, stderr) = loud_cli("console").await;
    assert!(!ok, "the sync should fail:\n{stderr}");
    assert_bounded_and_unforged(&stderr);
    // The log line, the validation summary and each error show the text,
    // escaped, on the line of the host's own prefix.
    assert!(
        stderr.matches(FORGED_ESCAPED).count() >= 7,
        "{}",
        &stderr[..stderr.len().min(8_000)]
    );
    let line = stderr
        .lines()
        .find(|l| l.contains("validated: "))
        .expect("the validation summary is logged");
    assert!(line.contains(FORGED_ESCAPED), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_text_is_capped_and_escaped_in_json_logs() {
    let (ok, stderr) = loud_cli("json").await;
    assert!(!ok, "the sync should fail:\n{stderr}");
    assert_bounded_and_unforged(&stderr);
    let mut messages = Vec::new();
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        if line.starts_with("error: ") {
            // The process's last word, printed as text.
            assert!(line.contains(FORGED_ESCAPED), "{line}");
            continue;
        }
        let event: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line:?}"));
        let message = event["fields"]["message"].as_str().unwrap_or_default();
        messages.push(message.to_string());
    }
    let guest_log = messages
        .iter()
        .find(|m| m.starts_with("loud"))
        .expect("the guest's log line");
    assert_eq!(guest_log, FORGED_ESCAPED);
    let retries: Vec<&String> = messages
        .iter()
        .filter(|m| m.starts_with("retrying after"))
        .collect();
    assert_eq!(retries.len(), 4, "{messages:?}");
    for m in retries {
        assert!(m.contains(FORGED_ESCAPED), "{m}");
        assert!(m.ends_with(" bytes cut]"), "{}", &m[m.len() - 100..]);
        assert!(m.len() < 5 << 10, "{} bytes", m.len());
    }
}
