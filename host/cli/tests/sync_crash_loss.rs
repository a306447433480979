//! End to end: what a `kill -9` costs. A 3,000-user PingOne sync is killed
//! once the simulator has served 60 % of a clean run's requests; the rerun
//! resumes from the working file and may redo at most a fifth of the killed
//! run's requests, and its artifact holds exactly the clean run's records.
//!
//! Redone requests are measured, not estimated: the resumed run's requests
//! minus those the killed run had not reached (the clean run's count minus
//! the killed run's). What remains is work the kill threw away (calls in
//! flight and results not yet committed) plus the rerun's own validate call
//! and token exchange.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{assert_success, host, records, run};
use pingone_sim::{ServeOptions, SimConfig, SimHandle};

/// The tenant of the guarantee: 3,000 users with the medium shape (nested
/// and dynamic groups, roles at every scope), so the connector's batched
/// calls (contract 0.1.2) are as large as they get.
fn tenant(seed: u64) -> SimConfig {
    let mut config = SimConfig {
        users: 3_000,
        groups: 300,
        ..SimConfig::medium(seed)
    };
    // A little latency, as over a network: calls overlap as they do in
    // production, and the kill lands within a few requests of its mark.
    config.faults.latency_ms = 3;
    config
}

/// Requests the simulator served since its counters were last reset.
fn served(sim: &SimHandle) -> u64 {
    sim.stats().total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_at_sixty_percent_redoes_at_most_a_fifth_of_its_requests() {
    let sim = pingone_sim::start(tenant(29), ServeOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();

    // The clean run: its records and its request count.
    let reference = dir.path().join("reference.c1z");
    sim.reset_stats();
    let out = run(host(&sim, &reference)).await;
    assert_success(&out);
    let clean = served(&sim);

    // The killed run, with the host's defaults: SIGKILL once 60 % of the
    // clean run's requests are served.
    let file = dir.path().join("sync.c1z");
    sim.reset_stats();
    let mut child = host(&sim, &file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mark = clean * 3 / 5;
    let started = Instant::now();
    while served(&sim) < mark {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the killed run never reached {mark} requests"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sync ended before it was killed"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let killed = served(&sim);
    assert!(!file.exists(), "a killed sync must not publish");
    assert!(
        c1z::working_path(&file).exists(),
        "the working file keeps what was committed"
    );

    // The rerun resumes and finishes with exactly the clean run's records.
    sim.reset_stats();
    let out = run(host(&sim, &file)).await;
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Resumed and finished"), "{stdout}");
    let resumed = served(&sim);
    assert_eq!(records(&file), records(&reference));

    let left = clean.saturating_sub(killed);
    let redone = resumed.saturating_sub(left);
    let share = redone as f64 / killed as f64;
    eprintln!(
        "clean {clean}, killed after {killed}, resumed {resumed}: redone {redone} \
         ({:.1} % of the killed run)",
        share * 100.0
    );
    assert!(
        redone * 5 <= killed,
        "the rerun redid {redone} of the killed run's {killed} requests ({:.1} %), \
         over a fifth (clean run {clean}, resumed run {resumed})",
        share * 100.0
    );
    sim.shutdown().await;
}
