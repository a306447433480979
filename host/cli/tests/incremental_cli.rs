//! The incremental-sync proof through the binary operators run: over many
//! seeds, `connector-host --incremental` syncs the simulator fully, the
//! simulator applies a random change sequence (its audit log late, with
//! duplicated records), `connector-host --incremental` runs again, and the
//! published snapshot equals a fresh `connector-host` full sync's, record
//! for record (every resource, entitlement and grant, byte for byte).
//!
//! A run the connector answers with `full-sync` (a population changed) is a
//! full sync and trivially equal; most runs must be incremental.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{assert_success, host, records, run};
use pingone_sim::{AuditConfig, SimConfig};

/// What the run says it did: `incremental`, or `full` with the reason.
fn mode(stdout: &str) -> (&'static str, String) {
    for line in stdout.lines() {
        if let Some(why) = line.strip_prefix("full sync instead of an incremental one: ") {
            return ("full", why.to_string());
        }
        if line.starts_with("incremental sync: ") {
            return ("incremental", String::new());
        }
    }
    panic!("no incremental-sync line in the output:\n{stdout}");
}

fn diff(got: &BTreeMap<String, Vec<u8>>, want: &BTreeMap<String, Vec<u8>>) -> String {
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let changed: Vec<_> = got
        .iter()
        .filter(|(k, v)| want.get(*k).is_some_and(|w| w != *v))
        .map(|(k, _)| k)
        .collect();
    format!("extra {extra:?}; missing {missing:?}; changed {changed:?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binarys_incremental_syncs_equal_fresh_full_syncs() {
    let seeds: u64 = std::env::var("CLI_INCREMENTAL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let mut incremental = 0;
    let mut fallbacks = Vec::new();
    for seed in 0..seeds {
        let sim = pingone_sim::start(SimConfig::tiny(500 + seed), Default::default())
            .await
            .expect("starting the simulator");
        sim.set_audit_config(AuditConfig::varied(seed));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tenant.c1z");

        let mut first = host(&sim, &file);
        first.arg("--incremental");
        let out = run(first).await;
        assert_success(&out);
        let (m, why) = mode(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(m, "full", "the first run has nothing to continue from");
        assert!(why.contains("no finished sync"), "{why}");

        let applied = sim.apply_random_changes(seed, 8);
        // Past the audit log's delay: the records are visible.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut second = host(&sim, &file);
        second.arg("--incremental");
        let out = run(second).await;
        assert_success(&out);
        let (m, why) = mode(&String::from_utf8_lossy(&out.stdout));

        let fresh_file = dir.path().join("fresh.c1z");
        assert_success(&run(host(&sim, &fresh_file)).await);

        let (got, want) = (records(&file), records(&fresh_file));
        let kinds: Vec<_> = applied.iter().map(|c| c.kind).collect();
        assert!(
            got == want,
            "seed {seed} {kinds:?} ({m}: {why}): {}",
            diff(&got, &want)
        );
        if m == "incremental" {
            incremental += 1;
        } else {
            fallbacks.push((seed, why));
        }
        sim.shutdown().await;
    }
    eprintln!("{incremental} incremental; fallbacks: {fallbacks:?}");
    assert!(
        incremental * 2 >= seeds,
        "too few incremental runs: {fallbacks:?}"
    );
}
