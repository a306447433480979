//! Syncs end, whatever the component answers.
//!
//! Threat: the component decides how many pages and tasks a sync has. The
//! adversary answers page tokens that cycle (A, B, A, ...), a new page
//! token on every call, 10,000 new follow-up tasks on every call, and a
//! follow-up whose page token is 1 MiB. Each sync must end with its own
//! named error: a token cycle, a limit reached (calls, pages per task,
//! queued tasks, queue bytes), the run's deadline, or the token size cap.
//!
//! And what the next run does: a cycle or a reached limit discards the
//! sync (the next one starts over), a deadline keeps its checkpoint (the
//! next one resumes).

use std::path::Path;
use std::time::Duration;

use connector_runtime::CallError;
use connector_runtime::sync::{
    SyncBound, SyncError, SyncLimits, SyncOptions, SyncSummary, run_sync,
};
use e2e_tests::adversary;
use e2e_tests::{fast_limits, instance};

/// A full sync of the adversary in `mode` into `file`.
async fn sync(mode: &str, file: &Path, limits: SyncLimits) -> Result<SyncSummary, SyncError> {
    let plugin = adversary().await;
    let inst = instance(&plugin, mode, &[("mode", mode)], fast_limits()).expect("config");
    let options = SyncOptions {
        concurrency: 2,
        checkpoint_interval: Duration::from_millis(200),
        limits,
        ..SyncOptions::default()
    };
    run_sync(&plugin, &inst, file, &options).await
}

/// Generous limits except where a test lowers one; the deadline is far
/// beyond any test, so a missing bound shows as a hang, not a pass.
fn limits() -> SyncLimits {
    SyncLimits {
        deadline: Duration::from_secs(600),
        ..SyncLimits::default()
    }
}

const FIRST_TASK: &str = "list-resources of type user";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_cycle_ends_the_sync_and_the_next_one_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    match sync("token-cycle", &file, limits()).await {
        // Pages with tokens none, A and B; the third answer is A again.
        Err(SyncError::TokenCycle { task, pages }) => {
            assert_eq!(task, FIRST_TASK);
            assert_eq!(pages, 3);
        }
        other => panic!("expected a token cycle, got {other:?}"),
    }
    let e = sync("token-cycle", &file, limits()).await.unwrap_err();
    assert_eq!(e.bound(), Some("token-cycle"), "{e}");
    assert!(e.to_string().contains("page token cycle"), "{e}");
    // Discarded: a fixed component starts a new sync, not the old cycle.
    let summary = sync("well-behaved", &file, limits())
        .await
        .expect("a new sync");
    assert!(!summary.resumed);
    assert_eq!(summary.resources, vec![("user".to_string(), 2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_pages_reach_the_pages_per_task_limit() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    let capped = SyncLimits {
        max_pages_per_task: 200,
        ..limits()
    };
    match sync("endless-pages", &file, capped).await {
        Err(e @ SyncError::LimitReached { .. }) => {
            let SyncError::LimitReached { bound, limit, task } = &e else {
                unreachable!()
            };
            assert_eq!((*bound, *limit), (SyncBound::PagesPerTask, 200));
            assert_eq!(task, FIRST_TASK);
            let text = e.to_string();
            assert!(text.contains("--sync-max-pages-per-task"), "{text}");
        }
        other => panic!("expected the pages limit, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_pages_reach_the_call_limit() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    let capped = SyncLimits {
        max_calls: 150,
        ..limits()
    };
    match sync("endless-pages", &file, capped).await {
        Err(SyncError::LimitReached { bound, limit, .. }) => {
            assert_eq!((bound, limit), (SyncBound::Calls, 150));
        }
        other => panic!("expected the call limit, got {other:?}"),
    }
    // Discarded: the next sync starts over rather than resuming page 150.
    let summary = sync("well-behaved", &file, limits())
        .await
        .expect("a new sync");
    assert!(!summary.resumed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_pages_stop_at_the_deadline_and_the_next_sync_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    let short = SyncLimits {
        deadline: Duration::from_secs(3),
        ..limits()
    };
    match sync("endless-pages", &file, short).await {
        Err(e @ SyncError::DeadlineExceeded { .. }) => {
            assert_eq!(e.bound(), Some("sync-deadline"));
            assert!(e.to_string().contains("resumes"), "{e}");
        }
        other => panic!("expected the deadline, got {other:?}"),
    }
    // Kept: a slow sync goes on where it stopped. The well-behaved mode
    // answers the pending page with no next token, so the sync finishes.
    let summary = sync("well-behaved", &file, limits())
        .await
        .expect("resumed");
    assert!(summary.resumed);
}

/// The call limit is per sync, not per run: resuming does not refill it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_counted_across_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    let short = SyncLimits {
        deadline: Duration::from_secs(3),
        ..limits()
    };
    let e = sync("endless-pages", &file, short).await.unwrap_err();
    assert!(matches!(e, SyncError::DeadlineExceeded { .. }), "{e}");
    // One call would finish the resumed sync, but the first run spent
    // the budget already.
    let one = SyncLimits {
        max_calls: 1,
        ..limits()
    };
    match sync("well-behaved", &file, one).await {
        Err(SyncError::LimitReached { bound, .. }) => assert_eq!(bound, SyncBound::Calls),
        other => panic!("expected the call limit, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_reaches_the_queue_limits() {
    let dir = tempfile::tempdir().unwrap();
    // 10,000 follow-ups a call: the third call's would be 30,000 queued.
    let tasks = SyncLimits {
        max_queued_tasks: 25_000,
        ..limits()
    };
    match sync("fan-out", &dir.path().join("a.c1z"), tasks).await {
        Err(SyncError::LimitReached { bound, limit, .. }) => {
            assert_eq!((bound, limit), (SyncBound::QueuedTasks, 25_000));
        }
        other => panic!("expected the queued-task limit, got {other:?}"),
    }
    // Each follow-up is ~40 bytes of JSON: the first call's 10,000 of them
    // are over 256 KiB.
    let bytes = SyncLimits {
        max_queue_bytes: 256 << 10,
        ..limits()
    };
    match sync("fan-out", &dir.path().join("b.c1z"), bytes).await {
        Err(e @ SyncError::LimitReached { .. }) => {
            let SyncError::LimitReached { bound, task, .. } = &e else {
                unreachable!()
            };
            assert_eq!(*bound, SyncBound::QueueBytes);
            assert_eq!(task, FIRST_TASK);
            assert!(e.to_string().contains("--sync-max-queue-mb"), "{e}");
        }
        other => panic!("expected the queue-bytes limit, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fat_follow_up_token_hits_the_token_cap() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    match sync("fat-follow-up-token", &file, limits()).await {
        Err(SyncError::Call {
            task,
            error: CallError::LimitExceeded(m),
        }) => {
            assert_eq!(task, FIRST_TASK);
            let cap = fast_limits().page_token_bytes;
            assert!(
                m.contains(&format!("follow-up page token of {} bytes", 1 << 20))
                    && m.contains(&format!("cap of {cap}")),
                "{m}"
            );
        }
        other => panic!("expected the token cap, got {other:?}"),
    }
}
