//! A failure while publishing leaves the old target intact and the work in
//! the working file; a later run picks it up.

mod common;

use std::fs;

use c1z::{C1zReader, C1zWriter, SyncStart, WriterOptions};
use common::Fixture;

#[test]
fn failed_publish_keeps_old_target_and_work() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sync.c1z");
    let fx = Fixture::pingone();
    let (first, _) = fx.write_sync(&target);
    let before = fs::read(&target).unwrap();

    // Second sync; make `<target>.tmp` impossible to create.
    let (mut w, _) = C1zWriter::open(&target, WriterOptions::default()).unwrap();
    w.put_resource_types(&fx.resource_types()).unwrap();
    w.put_resources(&fx.all_resources()).unwrap();
    w.checkpoint("done").unwrap();
    let second = w.sync_id().to_string();
    let tmp = dir.path().join("sync.c1z.tmp");
    fs::create_dir(&tmp).unwrap();
    fs::write(tmp.join("blocker"), b"x").unwrap();
    let err = w.finish().unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("sync.c1z.tmp"),
        "error names the failing file: {msg}"
    );

    assert_eq!(fs::read(&target).unwrap(), before, "old target untouched");
    assert!(c1z::working_path(&target).exists(), "working file kept");
    let r = C1zReader::open(&target).unwrap();
    assert_eq!(r.syncs().unwrap().len(), 1);
    assert_eq!(r.syncs().unwrap()[0].sync_id, first);
    drop(r);

    // The next run builds on the working file, which holds the finished
    // second sync; its publish then carries both.
    fs::remove_dir_all(&tmp).unwrap();
    let (w, start) = C1zWriter::open(&target, WriterOptions::default()).unwrap();
    assert!(matches!(start, SyncStart::New { .. }), "{start:?}");
    let third = w.sync_id().to_string();
    w.finish().unwrap();
    let r = C1zReader::open(&target).unwrap();
    let ids: Vec<String> = r.syncs().unwrap().into_iter().map(|s| s.sync_id).collect();
    assert_eq!(ids, vec![second, third]);
    assert!(!tmp.exists());
}

#[test]
fn published_file_is_self_contained() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sync.c1z");
    Fixture::pingone().write_sync(&target);
    let leftovers: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "sync.c1z")
        .collect();
    assert!(leftovers.is_empty(), "stray files: {leftovers:?}");

    let db = dir.path().join("check.db");
    c1z::envelope::decompress_to(&target, &db, c1z::envelope::DEFAULT_MAX_DECODED).unwrap();
    let raw = fs::read(&db).unwrap();
    assert_eq!(&raw[18..20], &[1, 1], "rollback-journal header, not WAL");
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let v: i64 = conn
        .query_row("pragma user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 0);
    let ok: String = conn
        .query_row("pragma integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}
