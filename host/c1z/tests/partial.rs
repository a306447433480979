//! A targeted sync is written as Baton's `partial` sync.
//!
//! Decisions under test: the writer records `sync_type = 'partial'`; a
//! partial sync is never resumed (its targets are the caller's, not the
//! file's), and starting any sync drops the unfinished partial or full
//! syncs it does not resume; readers keep showing the latest full sync,
//! and cleanup keeps counting full syncs only.

mod common;

use c1z::{C1zReader, C1zWriter, SyncStart, WriterOptions};
use common::Fixture;

fn write_prefix(w: &mut C1zWriter, fx: &Fixture) {
    w.put_resource_types(&fx.resource_types()).unwrap();
    w.put_resources(&fx.all_resources()).unwrap();
    w.put_entitlements(&fx.entitlements()).unwrap();
}

fn partial() -> WriterOptions {
    WriterOptions {
        partial: true,
        ..Default::default()
    }
}

#[test]
fn a_partial_sync_is_recorded_as_such_and_never_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sync.c1z");
    let fx = Fixture::pingone();

    // A finished full sync, then a finished partial one beside it.
    let (mut w, _) = C1zWriter::open(&target, WriterOptions::default()).unwrap();
    write_prefix(&mut w, &fx);
    let full = w.finish().unwrap().sync_id;
    let (mut w, start) = C1zWriter::open(&target, partial()).unwrap();
    assert!(matches!(start, SyncStart::New { .. }));
    write_prefix(&mut w, &fx);
    let first_partial = w.finish().unwrap().sync_id;
    let r = C1zReader::open(&target).unwrap();
    let types: Vec<(String, String)> = r
        .syncs()
        .unwrap()
        .into_iter()
        .map(|s| (s.sync_id, s.sync_type))
        .collect();
    assert_eq!(
        types,
        [
            (full.clone(), "full".to_string()),
            (first_partial.clone(), "partial".to_string())
        ]
    );
    // Readers still show the full sync by default.
    assert_eq!(r.default_sync().unwrap().unwrap().sync_id, full);
    drop(r);

    // An interrupted partial sync is not resumed by the next partial one,
    // nor by a full one; each drops it.
    let (mut w, _) = C1zWriter::open(&target, partial()).unwrap();
    write_prefix(&mut w, &fx);
    w.checkpoint("{}").unwrap();
    let interrupted = w.sync_id().to_string();
    drop(w);
    let (mut w, start) = C1zWriter::open(&target, partial()).unwrap();
    let SyncStart::New { sync_id } = start else {
        panic!("a partial sync must not be resumed: {start:?}")
    };
    assert_ne!(sync_id, interrupted);
    assert!(!w.resource_exists("user", "u-alice").unwrap());
    w.checkpoint("{}").unwrap();
    let second_interrupted = sync_id;
    drop(w);
    let (w, start) = C1zWriter::open(&target, WriterOptions::default()).unwrap();
    assert!(
        matches!(start, SyncStart::New { .. }),
        "a full sync does not resume a partial one: {start:?}"
    );
    w.finish().unwrap();
    let ids: Vec<String> = C1zReader::open(&target)
        .unwrap()
        .syncs()
        .unwrap()
        .into_iter()
        .map(|s| s.sync_id)
        .collect();
    assert!(!ids.contains(&interrupted), "{ids:?}");
    assert!(!ids.contains(&second_interrupted), "{ids:?}");
    assert!(
        ids.contains(&first_partial),
        "finished syncs are kept: {ids:?}"
    );
}
