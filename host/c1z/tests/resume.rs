//! Resume contract: records written before `checkpoint(token)` are durable
//! together with `token`; after a kill the next `open` resumes the same sync
//! with that token, and finishing it gives exactly the records of an
//! uninterrupted run while re-fetching only what was not checkpointed.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use c1z::pb;
use c1z::{C1zError, C1zReader, C1zWriter, SyncStart, WriterOptions};
use common::{Fixture, snapshot};

const PAGE: usize = 3;

/// A fake connector: grants come in pages; the checkpoint token is the index
/// of the next page to fetch.
struct Source {
    pages: Vec<Vec<pb::Grant>>,
    fetched: Vec<usize>,
}

impl Source {
    fn new(fx: &Fixture) -> Self {
        Source {
            pages: fx.grants().chunks(PAGE).map(|c| c.to_vec()).collect(),
            fetched: Vec::new(),
        }
    }

    fn fetch(&mut self, page: usize) -> Vec<pb::Grant> {
        self.fetched.push(page);
        self.pages[page].clone()
    }
}

fn token(next_page: usize) -> String {
    format!(r#"{{"phase":"grants","next_page":{next_page}}}"#)
}

fn parse_token(t: &str) -> Option<usize> {
    let v: serde_json::Value = serde_json::from_str(t).ok()?;
    v["next_page"].as_u64().map(|n| n as usize)
}

/// Writes everything up to the grants phase and checkpoints.
fn write_prefix(w: &mut C1zWriter, fx: &Fixture) {
    w.put_resource_types(&fx.resource_types()).unwrap();
    w.put_resources(&fx.all_resources()).unwrap();
    w.put_entitlements(&fx.entitlements()).unwrap();
    w.checkpoint(&token(0)).unwrap();
}

/// Fetches and writes pages from `from`, checkpointing after each.
fn write_pages(w: &mut C1zWriter, src: &mut Source, from: usize) {
    for p in from..src.pages.len() {
        let page = src.fetch(p);
        w.put_grants(&page).unwrap();
        w.checkpoint(&token(p + 1)).unwrap();
    }
}

fn uninterrupted(dir: &Path) -> Vec<(String, String, Vec<u8>)> {
    let fx = Fixture::pingone();
    let target = dir.join("clean.c1z");
    let (mut w, _) = C1zWriter::open(&target, WriterOptions::default()).unwrap();
    write_prefix(&mut w, &fx);
    let mut src = Source::new(&fx);
    write_pages(&mut w, &mut src, 0);
    w.finish().unwrap();
    snapshot(&target)
}

#[test]
fn dropped_writer_resumes_from_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sync.c1z");
    let fx = Fixture::pingone();
    let mut src = Source::new(&fx);
    assert!(src.pages.len() >= 4, "fixture needs several pages");

    // First run: two pages checkpointed, a third written but not checkpointed.
    let (mut w, start) = C1zWriter::open(&target, WriterOptions::default()).unwrap();
    let sync_id = match start {
        SyncStart::New { sync_id } => sync_id,
        other => panic!("expected a new sync, got {other:?}"),
    };
    write_prefix(&mut w, &fx);
    for p in 0..2 {
        let page = src.fetch(p);
        w.put_grants(&page).unwrap();
        w.checkpoint(&token(p + 1)).unwrap();
    }
    let lost = src.fetch(2);
    w.put_grants(&lost).unwrap();
    drop(w); // simulated kill: no finish, no checkpoint after page 2
    assert!(!target.exists(), "nothing is published before finish");
    assert!(c1z::working_path(&target).exists(), "working file kept");

    // Second run resumes the same sync at the checkpoint.
    let (mut w, start) = C1zWriter::open(&target, WriterOptions::default()).unwrap();
    assert_eq!(
        start,
        SyncStart::Resumed {
            sync_id: sync_id.clone(),
            checkpoint: token(2)
        }
    );
    assert_eq!(w.sync_id(), sync_id);
    // Uncheckpointed page 2 was rolled back, checkpointed ones are there.
    assert!(w.resource_exists("user", "u-alice").unwrap());
    assert!(w.get_entitlement("group:g-eng:member").unwrap().is_some());
    let stats = w.stats().unwrap();
    assert_eq!(
        stats.grants,
        (2 * PAGE) as u64,
        "only checkpointed grants survive"
    );

    let next = parse_token(match &start {
        SyncStart::Resumed { checkpoint, .. } => checkpoint,
        _ => unreachable!(),
    })
    .unwrap();
    src.fetched.clear();
    write_pages(&mut w, &mut src, next);
    assert_eq!(
        src.fetched,
        (2..src.pages.len()).collect::<Vec<_>>(),
        "only what was not checkpointed is fetched again"
    );
    let report = w.finish().unwrap();
    assert_eq!(report.sync_id, sync_id);
    assert!(!c1z::working_path(&target).exists(), "working file removed");

    assert_eq!(snapshot(&target), uninterrupted(dir.path()));
    let r = C1zReader::open(&target).unwrap();
    let syncs = r.syncs().unwrap();
    assert_eq!(syncs.len(), 1);
    assert!(syncs[0].is_finished());
    assert_eq!(syncs[0].sync_id, sync_id);
}

#[test]
fn resumed_writer_reads_stored_resources() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sync.c1z");
    let fx = Fixture::pingone();
    let (mut w, _) = C1zWriter::open(&target, WriterOptions::default()).unwrap();
    w.put_resource_types(&fx.resource_types()).unwrap();
    w.put_resources(&fx.all_resources()).unwrap();
    w.checkpoint("after resources").unwrap();
    drop(w);

    let (w, start) = C1zWriter::open(&target, WriterOptions::default()).unwrap();
    assert!(matches!(start, SyncStart::Resumed { .. }));
    let got = w
        .get_resource(&pb::ResourceId::new("group", "g-eng"))
        .unwrap()
        .unwrap();
    assert_eq!(got.display_name, "Engineering");
    assert!(
        w.get_resource(&pb::ResourceId::new("group", "nope"))
            .unwrap()
            .is_none()
    );
}

#[test]
fn stale_unfinished_sync_is_not_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sync.c1z");
    let fx = Fixture::pingone();
    let (mut w, start) = C1zWriter::open(&target, WriterOptions::default()).unwrap();
    let old_id = start.sync_id().to_string();
    write_prefix(&mut w, &fx);
    drop(w);
    {
        let conn = rusqlite::Connection::open(c1z::working_path(&target)).unwrap();
        conn.execute(
            "update v1_sync_runs set started_at = '2020-01-01 00:00:00' where sync_id = ?1",
            [&old_id],
        )
        .unwrap();
    }
    let (w, start) = C1zWriter::open(&target, WriterOptions::default()).unwrap();
    let SyncStart::New { sync_id } = start else {
        panic!("a week-old sync must not be resumed: {start:?}")
    };
    assert_ne!(sync_id, old_id);
    assert!(!w.resource_exists("user", "u-alice").unwrap());
    let report = w.finish().unwrap();
    assert_eq!(report.stats.resources, 0);
    let r = C1zReader::open(&target).unwrap();
    assert_eq!(r.syncs().unwrap().len(), 1, "stale sync dropped");

    // With resume disabled, even a fresh unfinished sync starts over.
    let (mut w, _) = C1zWriter::open(&target, WriterOptions::default()).unwrap();
    write_prefix(&mut w, &fx);
    drop(w);
    let opts = WriterOptions {
        resume: false,
        ..Default::default()
    };
    let (_w, start) = C1zWriter::open(&target, opts).unwrap();
    assert!(matches!(start, SyncStart::New { .. }));
}

#[test]
fn second_writer_on_same_target_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sync.c1z");
    let (_w, _) = C1zWriter::open(&target, WriterOptions::default()).unwrap();
    match C1zWriter::open(&target, WriterOptions::default()) {
        Err(C1zError::WorkingFileBusy { .. }) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("two writers opened the same working file"),
    }
}

const CHILD_ENV: &str = "C1Z_TEST_KILL_CHILD_TARGET";
const KILL_AFTER_PAGES: usize = 3;

/// Runs only as the child of `sigkill_mid_sync_then_resume`: writes and
/// checkpoints part of a sync, writes one more page without a checkpoint,
/// reports READY and waits to be killed.
#[test]
fn kill_child_entry() {
    let Some(target) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let target = std::path::PathBuf::from(target);
    let fx = Fixture::pingone();
    let mut src = Source::new(&fx);
    let (mut w, start) = C1zWriter::open(&target, WriterOptions::default()).unwrap();
    assert!(matches!(start, SyncStart::New { .. }));
    write_prefix(&mut w, &fx);
    for p in 0..KILL_AFTER_PAGES {
        let page = src.fetch(p);
        w.put_grants(&page).unwrap();
        w.checkpoint(&token(p + 1)).unwrap();
    }
    let page = src.fetch(KILL_AFTER_PAGES);
    w.put_grants(&page).unwrap();
    println!("READY {}", w.sync_id());
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

#[test]
fn sigkill_mid_sync_then_resume() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sync.c1z");
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "kill_child_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &target)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // libtest prints "test kill_child_entry ... " before our line.
            if let Some(pos) = line.find("READY ") {
                let _ = tx.send(line[pos + 6..].trim().to_string());
                break;
            }
        }
    });
    let child_sync = match rx.recv_timeout(std::time::Duration::from_secs(120)) {
        Ok(id) => id,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child never reported READY: {e}");
        }
    };
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());

    let fx = Fixture::pingone();
    let mut src = Source::new(&fx);
    let (mut w, start) = C1zWriter::open(&target, WriterOptions::default()).unwrap();
    let SyncStart::Resumed {
        sync_id,
        checkpoint,
    } = start
    else {
        panic!("expected resume after SIGKILL, got {start:?}")
    };
    assert_eq!(sync_id, child_sync);
    assert_eq!(checkpoint, token(KILL_AFTER_PAGES));
    assert_eq!(
        w.stats().unwrap().grants,
        (KILL_AFTER_PAGES * PAGE) as u64,
        "the uncheckpointed page died with the process"
    );
    let next = parse_token(&checkpoint).unwrap();
    write_pages(&mut w, &mut src, next);
    assert_eq!(
        src.fetched,
        (KILL_AFTER_PAGES..src.pages.len()).collect::<Vec<_>>()
    );
    w.finish().unwrap();
    assert_eq!(snapshot(&target), uninterrupted(dir.path()));
}
