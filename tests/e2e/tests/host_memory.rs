//! What a component can make the host hold is bounded in bytes, and
//! records whose derived ids collide are refused, naming both.
//!
//! Threats: records as fat as the per-record cap allows, in fields the size
//! count once left out (`fat-records`), page after page (`fat-pages`); one
//! batch of requests whose bodies together dwarf the guest's memory
//! (`fat-batch`); a 1 MiB request header (`fat-headers`); a list of strings
//! aliasing the same guest bytes, which would lift to 4 GiB
//! (`aliased-strings`); two entitlements
//! whose ids collide, in one call and across calls of one sync
//! (`colliding-ids`, `colliding-ids-across`), and a grant naming an
//! entitlement that was never put but whose id collides with one that was
//! (`colliding-grant`). Each ends with its own typed
//! error naming the budget or both records, and the host serves the next
//! call. Peak RSS and wall time of each are in docs/benchmarks.md
//! (`examples/host_memory_bench.rs`).

use std::path::Path;
use std::time::Duration;

use connector_runtime::sync::{SyncError, SyncLimits, SyncOptions, SyncSummary, run_sync};
use connector_runtime::{CallError, CallReport, Limits, Output};
use e2e_tests::adversary;
use e2e_tests::server::{Reply, TestServer};
use e2e_tests::{fast_limits, instance, list_resources};

/// One sync call of the adversary in `mode`.
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

/// A full sync of the adversary in `mode` into `file`.
async fn sync(mode: &str, file: &Path, limits: Limits) -> Result<SyncSummary, SyncError> {
    let plugin = adversary().await;
    let inst = instance(&plugin, mode, &[("mode", mode)], limits).expect("config");
    let options = SyncOptions {
        concurrency: 2,
        checkpoint_interval: Duration::from_millis(200),
        limits: SyncLimits {
            deadline: Duration::from_secs(600),
            ..SyncLimits::default()
        },
        ..SyncOptions::default()
    };
    run_sync(&plugin, &inst, file, &options).await
}

async fn assert_host_survives() {
    let (_, report) = run("well-behaved", &[], fast_limits())
        .await
        .expect("a well-behaved call after a hostile one");
    assert_eq!(report.upload.resources.len(), 2);
}

fn connector_message(result: Result<(Output, CallReport), CallError>) -> String {
    match result {
        Err(CallError::Connector { message, .. }) => message,
        other => panic!("expected a connector error, got {other:?}"),
    }
}

/// Records under the record cap but fat in every field end the call once
/// their bytes pass the per-call budget, long before the record cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fat_records_hit_the_per_call_byte_budget() {
    let limits = fast_limits();
    let cap = limits.upload_bytes_per_call;
    match run("fat-records", &[], limits).await {
        Err(CallError::LimitExceeded(m)) => {
            assert!(
                m.contains(&format!("over the upload_bytes_per_call cap of {cap}")),
                "{m}"
            );
        }
        other => panic!("expected LimitExceeded, got {other:?}"),
    }
    assert_host_survives().await;
}

/// 4,096 aliases of one 1 MiB buffer would lift to 4 GiB of host memory;
/// lifting stops at the import-argument cap, before any import runs, and
/// the call ends naming that cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliased_strings_hit_the_import_argument_cap() {
    let limits = fast_limits();
    let cap = limits.import_argument_bytes;
    match run("aliased-strings", &[], limits).await {
        Err(CallError::LimitExceeded(m)) => assert!(
            m.contains(&format!("over the import_argument_bytes cap of {cap}")),
            "{m}"
        ),
        other => panic!("expected LimitExceeded, got {other:?}"),
    }
    assert_host_survives().await;
    // The cap is the one configured: a page of 16 fat users (4 MiB of
    // strings) passes no import under a 1 MiB cap.
    let small = Limits {
        import_argument_bytes: 1 << 20,
        ..fast_limits()
    };
    match run("fat-records", &[], small).await {
        Err(CallError::LimitExceeded(m)) => assert!(
            m.contains(&format!(
                "over the import_argument_bytes cap of {}",
                1 << 20
            )),
            "{m}"
        ),
        other => panic!("expected LimitExceeded, got {other:?}"),
    }
}

/// Pages each within a call's budget add up against the sync's, which
/// ends the sync naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fat_pages_hit_the_per_sync_byte_budget() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        upload_bytes_per_sync: 40 << 20,
        ..fast_limits()
    };
    match sync("fat-pages", &dir.path().join("sync.c1z"), limits).await {
        Err(SyncError::Call {
            error: CallError::LimitExceeded(m),
            ..
        }) => assert!(
            m.contains(&format!(
                "over the upload_bytes_per_sync cap of {}",
                40 << 20
            )),
            "{m}"
        ),
        other => panic!("expected a per-sync LimitExceeded, got {other:?}"),
    }
    assert_host_survives().await;
}

/// The per-sync budget counts what earlier runs of the same sync uploaded:
/// a sync cut off by its deadline does not get a fresh budget on resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_sync_byte_budget_survives_a_resume() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    let plugin = adversary().await;
    let run = |mode: &'static str, limits: Limits, deadline: Duration| {
        let plugin = plugin.clone();
        let file = file.clone();
        async move {
            let inst = instance(&plugin, mode, &[("mode", mode)], limits).expect("config");
            let options = SyncOptions {
                concurrency: 2,
                checkpoint_interval: Duration::from_millis(100),
                limits: SyncLimits {
                    deadline,
                    ..SyncLimits::default()
                },
                ..SyncOptions::default()
            };
            run_sync(&plugin, &inst, &file, &options).await
        }
    };
    // Fat pages until the deadline: megabytes committed, budget ample.
    let first = run("fat-pages", fast_limits(), Duration::from_secs(2)).await;
    assert!(
        matches!(first, Err(SyncError::DeadlineExceeded { .. })),
        "{first:?}"
    );
    // The resumed sync's own records are a few hundred bytes, well within
    // 1 MiB; with the first run's bytes it is over.
    let small = Limits {
        upload_bytes_per_sync: 1 << 20,
        ..fast_limits()
    };
    match run("well-behaved", small, Duration::from_secs(600)).await {
        Err(SyncError::Call {
            error: CallError::LimitExceeded(m),
            ..
        }) => assert!(m.contains("upload_bytes_per_sync"), "{m}"),
        other => panic!("expected the per-sync byte budget, got {other:?}"),
    }
}

/// The bodies of one batch share the per-call budget: the requests that
/// fit are answered, the rest get `body-too-large` naming the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fat_batch_is_held_to_the_response_budget() {
    let server = TestServer::start().await;
    // A JSON string of 1 MiB - 2 characters: exactly 1 MiB with its quotes.
    server.route(
        "/big",
        Reply::ok(serde_json::Value::String("x".repeat((1 << 20) - 2))),
    );
    let url = format!("{}/big", server.url());
    let limits = Limits {
        response_bytes_per_call: 8 << 20,
        ..fast_limits()
    };
    let message = connector_message(
        run(
            "fat-batch",
            &[("allowed-url", &url), ("count", "16")],
            limits,
        )
        .await,
    );
    assert_eq!(
        message,
        format!(
            "fat-batch: 8 answered ({} bytes), 8 body-too-large Some({}), 0 other",
            8 << 20,
            8 << 20
        )
    );
    assert_host_survives().await;
}

/// A 1 MiB header never leaves the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fat_header_is_refused_before_sending() {
    let server = TestServer::start().await;
    let url = format!("{}/headers", server.url());
    let message =
        connector_message(run("fat-headers", &[("allowed-url", &url)], fast_limits()).await);
    assert!(
        message.contains(&format!(
            "headers total {} bytes, over the cap of {}",
            "x-fat".len() + (1 << 20),
            Limits::default().request_header_bytes
        )),
        "{message}"
    );
    assert!(server.seen().is_empty(), "the fat header left the host");
    assert_host_survives().await;
}

const COLLISION: &str = "entitlement id \"user:a:b:c\" is derived from two different records: \
     resource user:a:b slug \"c\" (stored) and resource user:a slug \"b:c\"";

/// Two entitlements of one call whose ids collide: refused, naming both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colliding_ids_in_one_call_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    match sync("colliding-ids", &dir.path().join("sync.c1z"), fast_limits()).await {
        Err(SyncError::Call {
            error: CallError::InvalidRecord(m),
            ..
        }) => assert!(m.contains(COLLISION), "{m}"),
        other => panic!("expected InvalidRecord, got {other:?}"),
    }
}

/// Across calls: the second page re-puts the first entitlement (accepted,
/// as a retried call's would be) and then puts the colliding one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colliding_ids_across_calls_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    match sync(
        "colliding-ids-across",
        &dir.path().join("sync.c1z"),
        fast_limits(),
    )
    .await
    {
        Err(SyncError::Call {
            error: CallError::InvalidRecord(m),
            ..
        }) => assert!(m.contains(COLLISION), "{m}"),
        other => panic!("expected InvalidRecord, got {other:?}"),
    }
}

/// A grant whose entitlement was never put, but whose derived entitlement
/// id is that of one that was: refused, naming both, not attached to the
/// other entitlement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_of_a_colliding_entitlement_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    match sync(
        "colliding-grant",
        &dir.path().join("sync.c1z"),
        fast_limits(),
    )
    .await
    {
        Err(SyncError::Call {
            error: CallError::InvalidRecord(m),
            ..
        }) => assert!(
            m.contains(
                "grant user:a:b:c:user:a names entitlement user:a:b:c as resource user:a \
                 slug \"b:c\", but that id is derived from two different records: resource \
                 user:a:b slug \"c\" (stored) and this one"
            ),
            "{m}"
        ),
        other => panic!("expected InvalidRecord, got {other:?}"),
    }
}
