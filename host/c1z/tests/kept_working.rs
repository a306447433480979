//! The working database kept after publishing (`WriterOptions::keep_working`):
//! the next sync builds on it while the target is the file it was published
//! as, and never once the target has changed.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use c1z::envelope::{self, DEFAULT_MAX_DECODED};
use c1z::kept::NOTE_SUFFIX;
use c1z::{C1zWriter, SyncStart, WriterOptions, working_path};
use common::Fixture;

fn keep() -> WriterOptions {
    WriterOptions {
        keep_working: true,
        ..WriterOptions::default()
    }
}

fn note(target: &Path) -> PathBuf {
    envelope::with_suffix(&working_path(target), NOTE_SUFFIX)
}

/// Plants a table no sync writes in `db`: whichever file it turns up in
/// was built on `db`.
fn plant_marker(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("create table test_marker (x integer)")
        .unwrap();
}

/// Whether the c1z at `target` holds the planted table.
fn has_marker(target: &Path) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    envelope::decompress_to(target, &db, DEFAULT_MAX_DECODED).unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.query_row(
        "select count(*) from sqlite_schema where name = 'test_marker'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
        == 1
}

/// Opens `target` and ends the (new or resumed) sync at once.
fn sync(target: &Path, opts: WriterOptions) -> (SyncStart, String) {
    let (w, start) = C1zWriter::open(target, opts).unwrap();
    let id = w.finish().unwrap().sync_id;
    (start, id)
}

#[test]
fn a_kept_copy_is_built_on_while_the_target_is_the_file_it_was_published_as() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("t.c1z");
    let working = working_path(&target);
    Fixture::pingone().write_sync(&target);
    // Without the option nothing stays beside the target.
    assert!(!working.exists() && !note(&target).exists());
    let first_file = fs::read(&target).unwrap();

    sync(&target, keep());
    assert!(working.exists() && note(&target).exists());

    // The next sync starts from the copy (the marker reaches its file) and
    // drops the note before its first write.
    plant_marker(&working);
    let (w, start) = C1zWriter::open(&target, keep()).unwrap();
    assert!(matches!(start, SyncStart::New { .. }));
    assert!(!note(&target).exists());
    let interrupted = w.sync_id().to_string();
    drop(w);
    // Interrupted: without its note the copy is newer than the target, so
    // it is resumed from, as any working file.
    let (start, _) = sync(&target, keep());
    assert_eq!(
        start,
        SyncStart::Resumed {
            sync_id: interrupted,
            checkpoint: String::new()
        }
    );
    assert!(has_marker(&target));
    assert!(note(&target).exists());

    // The target replaced by an older file: the copy is stale and dropped.
    fs::write(&target, &first_file).unwrap();
    sync(&target, keep());
    assert!(!has_marker(&target));

    // The target deleted: the copy is dropped too, and a new file starts.
    plant_marker(&working);
    fs::remove_file(&target).unwrap();
    sync(&target, WriterOptions::default());
    assert!(!has_marker(&target));
    // A writer without the option removes the copy and its note.
    assert!(!working.exists() && !note(&target).exists());
}
