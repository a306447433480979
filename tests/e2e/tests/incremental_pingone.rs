//! The proof for PingOne's incremental sync: over many seeds, the host
//! syncs the simulator fully, the simulator applies a random change
//! sequence (recording its audit log late, with duplicated page
//! boundaries), the host syncs incrementally from the audit log, and the
//! published snapshot equals a fresh full sync's record for record
//! (resource types, resources, entitlements, grants).
//!
//! A run the connector answers with `full-sync` (a population changed) is
//! a full sync and trivially equal; the test checks that most runs are
//! incremental, and that every one compares equal.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use connector_runtime::c1z::pb;
use connector_runtime::incremental::{
    IncrementalOptions, IncrementalSummary, SyncMode, run_incremental_sync,
};
use connector_runtime::sync::{SyncError, SyncOptions};
use connector_runtime::{InstanceCtx, Limits, Plugin};
use e2e_tests::components::{self, PINGONE};
use e2e_tests::{instance, runtime};
use pingone_sim::{AuditConfig, NestingAudit, SimConfig, SimHandle};

use e2e_tests::records::SyncRecords as Records;

/// The default (latest full) sync's records, sorted.
fn records(file: &Path) -> Records {
    let r = e2e_tests::records::default_sync(file);
    assert_eq!(r.sync_type, "full");
    r
}

fn pingone_instance(plugin: &Plugin, sim: &SimHandle) -> Arc<InstanceCtx> {
    let values = [
        ("pingone-client-id", sim.client_id()),
        ("pingone-client-secret", sim.client_secret()),
        ("pingone-environment-id", sim.environment_id()),
        ("pingone-api-url", sim.api_base_url()),
        ("pingone-auth-url", sim.auth_base_url()),
    ];
    instance(plugin, "pingone", &values, Limits::default())
        .unwrap_or_else(|e| panic!("PingOne config: {e}"))
}

async fn sync(plugin: &Arc<Plugin>, inst: &Arc<InstanceCtx>, file: &Path) -> IncrementalSummary {
    let options = SyncOptions {
        concurrency: 4,
        ..SyncOptions::default()
    };
    run_incremental_sync(plugin, inst, file, &options, &IncrementalOptions::default())
        .await
        .expect("sync")
}

/// Differences between two record sets, by id, for the failure message.
fn diff(got: &Records, want: &Records) -> String {
    fn ids<T>(xs: &[T], id: impl Fn(&T) -> String) -> std::collections::BTreeSet<String> {
        xs.iter().map(id).collect()
    }
    let rid = |r: &pb::Resource| format!("{:?}", r.id);
    let (g, w) = (ids(&got.resources, rid), ids(&want.resources, rid));
    let gi = |g: &pb::Grant| g.id.clone();
    let (gg, wg) = (ids(&got.grants, gi), ids(&want.grants, gi));
    let ei = |e: &pb::Entitlement| e.id.clone();
    let (ge, we) = (ids(&got.entitlements, ei), ids(&want.entitlements, ei));
    // Records on both sides whose contents differ.
    fn changed<T: PartialEq + std::fmt::Debug>(
        got: &[T],
        want: &[T],
        id: impl Fn(&T) -> String,
    ) -> Vec<String> {
        got.iter()
            .filter_map(|g| {
                let w = want.iter().find(|w| id(w) == id(g))?;
                (w != g).then(|| format!("{g:?} instead of {w:?}"))
            })
            .collect()
    }
    format!(
        "resources extra {:?} missing {:?}; entitlements extra {:?} missing {:?}; grants extra \
         {:?} missing {:?}; resource types differ: {}; changed: {:?} {:?} {:?}",
        g.difference(&w).collect::<Vec<_>>(),
        w.difference(&g).collect::<Vec<_>>(),
        ge.difference(&we).collect::<Vec<_>>(),
        we.difference(&ge).collect::<Vec<_>>(),
        gg.difference(&wg).collect::<Vec<_>>(),
        wg.difference(&gg).collect::<Vec<_>>(),
        got.resource_types != want.resource_types,
        changed(&got.resources, &want.resources, rid),
        changed(&got.entitlements, &want.entitlements, ei),
        changed(&got.grants, &want.grants, gi),
    )
}

/// The bundled PingOne component, built and loaded.
async fn load_pingone() -> Arc<Plugin> {
    let path = match components::try_component(PINGONE) {
        Ok(path) => path,
        Err(why) => panic!("the PingOne component does not build:\n{why}"),
    };
    runtime()
        .load_file(&path, None)
        .await
        .expect("loading PingOne")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pingone_incremental_syncs_equal_fresh_full_syncs() {
    let plugin = load_pingone().await;
    let seeds: u64 = std::env::var("E2E_INCREMENTAL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let mut incremental = 0;
    let mut fallbacks = Vec::new();
    for seed in 0..seeds {
        let sim = pingone_sim::start(SimConfig::tiny(300 + seed), Default::default())
            .await
            .expect("starting the simulator");
        sim.set_audit_config(AuditConfig::varied(seed));
        let inst = pingone_instance(&plugin, &sim);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.c1z");
        let first = sync(&plugin, &inst, &file).await;
        assert_eq!(first.mode, SyncMode::Full);

        let applied = sim.apply_random_changes(seed, 8);
        // Past the audit log's delay: the records are visible.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let second = sync(&plugin, &inst, &file).await;
        let fresh_file = dir.path().join("fresh.c1z");
        let fresh = sync(&plugin, &inst, &fresh_file).await;
        assert_eq!(fresh.mode, SyncMode::Full);

        let (got, want) = (records(&file), records(&fresh_file));
        let kinds: Vec<_> = applied.iter().map(|c| c.kind).collect();
        assert!(
            got == want,
            "seed {seed} {kinds:?} ({:?}, {:?}): {}",
            second.mode,
            second.fallback,
            diff(&got, &want)
        );
        match second.mode {
            SyncMode::Incremental => {
                incremental += 1;
                // PingOne's batched feed (contract 0.1.4), not change-feed.
                assert!(second.batched, "seed {seed}");
                eprintln!(
                    "seed {seed}: incremental in {} calls ({} re-reads), a full sync {}",
                    second.sync.calls,
                    second.resources_reread
                        + second.principals_reread
                        + second.resource_grants_reread,
                    fresh.sync.calls
                );
            }
            _ => fallbacks.push((seed, second.fallback.clone())),
        }
        sim.shutdown().await;
    }
    eprintln!("{incremental} incremental; fallbacks: {fallbacks:?}");
    assert!(
        incremental * 2 >= seeds,
        "too few incremental runs: {fallbacks:?}"
    );
}

/// An incremental sync stopped after it queued its batched re-reads (and
/// dropped what they replace) is finished by the next run, and equals a
/// fresh full sync: the queued tasks and the deletions survive a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_batched_sync_resumes_to_a_full_syncs_records() {
    let plugin = load_pingone().await;
    let mut resumed = 0;
    for seed in [1u64, 2, 3, 4] {
        let sim = pingone_sim::start(SimConfig::tiny(500 + seed), Default::default())
            .await
            .expect("starting the simulator");
        // Every change recorded, so an incremental sync can see it.
        sim.set_audit_config(AuditConfig {
            rate_limit_per_sec: Some(1000.0),
            nesting: NestingAudit::MemberOfGroup,
            dynamic_membership: seed % 2 == 0,
            ..AuditConfig::default()
        });
        let inst = pingone_instance(&plugin, &sim);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.c1z");
        sync(&plugin, &inst, &file).await;
        let default_sync = |file: &std::path::Path| {
            let reader = connector_runtime::c1z::C1zReader::open(file).unwrap();
            reader.default_sync().unwrap().unwrap().sync_id
        };
        let first = default_sync(&file);
        sim.apply_random_changes(seed, 8);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let stopped = SyncOptions {
            concurrency: 4,
            stop: Some(Arc::new(AtomicBool::new(true))),
            ..SyncOptions::default()
        };
        match run_incremental_sync(&plugin, &inst, &file, &stopped, &Default::default()).await {
            Err(SyncError::Interrupted) => {}
            // A full sync asked for by the log is stopped the same way.
            other => panic!("seed {seed}: {:?}", other.map(|s| s.mode)),
        }
        let finished = sync(&plugin, &inst, &file).await;
        assert_eq!(finished.mode, SyncMode::Resumed, "seed {seed}");
        let fresh_file = dir.path().join("fresh.c1z");
        sync(&plugin, &inst, &fresh_file).await;
        let (got, want) = (records(&file), records(&fresh_file));
        assert!(got == want, "seed {seed}: {}", diff(&got, &want));
        // A resumed incremental sync refreshed the sync it continued, in
        // place; a full one made a new sync.
        if default_sync(&file) == first {
            resumed += 1;
        }
        sim.shutdown().await;
    }
    assert!(
        resumed >= 2,
        "too few of the stopped syncs were incremental"
    );
}
