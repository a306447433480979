//! Corrupt or foreign input is rejected with an error naming the broken
//! layer, and a target that is not a c1z is never overwritten.

mod common;

use std::fs;
use std::path::Path;

use c1z::envelope::{self, MAGIC};
use c1z::{C1zError, C1zReader, C1zWriter, InspectCommand, WriterOptions, run_inspect};
use common::Fixture;

fn good_file(dir: &Path) -> std::path::PathBuf {
    let target = dir.join("good.c1z");
    Fixture::pingone().write_sync(&target);
    target
}

/// Re-wraps a modified copy of `src`'s database as a new c1z.
fn tamper(src: &Path, out: &Path, sql: &str) {
    let db = out.with_extension("db");
    envelope::decompress_to(src, &db, envelope::DEFAULT_MAX_DECODED).unwrap();
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(sql).unwrap();
    }
    envelope::compress_to(&db, out, 3).unwrap();
}

fn open_err(p: &Path) -> C1zError {
    match C1zReader::open(p) {
        Err(e) => e,
        Ok(_) => panic!("{} opened", p.display()),
    }
}

#[test]
fn wrong_magic() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.c1z");
    fs::write(&p, b"PK\x03\x04 a zip file, not a c1z").unwrap();
    let e = open_err(&p);
    assert!(matches!(e, C1zError::WrongMagic { .. }), "{e}");
    assert!(
        e.to_string().starts_with("not a c1z file: wrong magic"),
        "{e}"
    );

    fs::write(&p, b"").unwrap();
    assert!(matches!(open_err(&p), C1zError::Empty { .. }));

    fs::write(&p, b"C1Z3\0\0\0\0\x4b").unwrap();
    let e = open_err(&p);
    assert!(matches!(e, C1zError::UnsupportedFormat { .. }), "{e}");
}

#[test]
fn bad_zstd() {
    let dir = tempfile::tempdir().unwrap();
    let good = good_file(dir.path());
    let p = dir.path().join("x.c1z");
    let mut raw = fs::read(&good).unwrap();
    // Truncate the frame: the stream ends early.
    raw.truncate(raw.len() / 2);
    fs::write(&p, &raw).unwrap();
    let e = open_err(&p);
    assert!(matches!(e, C1zError::Zstd { .. }), "{e}");
    assert!(
        e.to_string().starts_with("corrupt c1z: zstd stream:"),
        "{e}"
    );

    // Garbage after the magic.
    let mut raw = MAGIC.to_vec();
    raw.extend_from_slice(b"\x00\x01\x02 not zstd");
    fs::write(&p, &raw).unwrap();
    assert!(matches!(open_err(&p), C1zError::Zstd { .. }));
}

#[test]
fn not_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.c1z");
    let mut raw = MAGIC.to_vec();
    raw.extend(zstd::encode_all(&b"{\"json\": \"is not a database\"}"[..], 3).unwrap());
    fs::write(&p, &raw).unwrap();
    let e = open_err(&p);
    assert!(matches!(e, C1zError::NotSqlite { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("corrupt c1z: not a SQLite database"),
        "{e}"
    );

    // A SQLite header followed by garbage pages.
    let mut payload = envelope::SQLITE_HEADER.to_vec();
    payload.extend(std::iter::repeat_n(0xA5u8, 8192));
    let mut raw = MAGIC.to_vec();
    raw.extend(zstd::encode_all(&payload[..], 3).unwrap());
    fs::write(&p, &raw).unwrap();
    let e = open_err(&p);
    assert!(matches!(e, C1zError::NotSqlite { .. }), "{e}");
}

#[test]
fn wrong_schema() {
    let dir = tempfile::tempdir().unwrap();
    let good = good_file(dir.path());
    let p = dir.path().join("x.c1z");
    tamper(&good, &p, "drop table v1_grants;");
    let e = open_err(&p);
    assert!(matches!(e, C1zError::Schema { .. }), "{e}");
    assert!(e.to_string().contains("missing table v1_grants"), "{e}");

    let p2 = dir.path().join("y.c1z");
    tamper(
        &good,
        &p2,
        "alter table v1_resources rename column resource_type_id to rtype;",
    );
    let e = open_err(&p2);
    assert!(
        e.to_string()
            .contains("v1_resources has no column resource_type_id"),
        "{e}"
    );

    // An unrelated SQLite database.
    let other = dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&other).unwrap();
        conn.execute_batch("create table notes (id integer primary key, body text);")
            .unwrap();
    }
    let p3 = dir.path().join("z.c1z");
    envelope::compress_to(&other, &p3, 3).unwrap();
    assert!(matches!(open_err(&p3), C1zError::Schema { .. }));
}

#[test]
fn undecodable_blob() {
    let dir = tempfile::tempdir().unwrap();
    let good = good_file(dir.path());
    let p = dir.path().join("x.c1z");
    tamper(
        &good,
        &p,
        "update v1_grants set data = x'0aff' where external_id = 'group:g-eng:member:user:u-bob';",
    );
    let r = C1zReader::open(&p).unwrap();
    let sync = r.default_sync().unwrap().unwrap();
    let err = r
        .grants(&sync.sync_id, &Default::default())
        .find_map(|g| g.err())
        .expect("a decode error");
    match &err {
        C1zError::UndecodableBlob {
            table, external_id, ..
        } => {
            assert_eq!(*table, "v1_grants");
            assert_eq!(external_id, "group:g-eng:member:user:u-bob");
        }
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains("v1_grants"), "{err}");

    let mut out = Vec::new();
    let e = run_inspect(
        &p,
        &InspectCommand::Grants {
            entitlement: None,
            resource_type: None,
            resource: None,
            common: Default::default(),
        },
        &mut out,
    )
    .unwrap_err();
    assert!(matches!(e, C1zError::UndecodableBlob { .. }), "{e}");
    // Other listings of the same file still work.
    let mut out = Vec::new();
    run_inspect(
        &p,
        &InspectCommand::Resources {
            resource_type: None,
            common: Default::default(),
        },
        &mut out,
    )
    .unwrap();
}

#[test]
fn non_c1z_target_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let good = good_file(dir.path());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("text", b"important notes, not a c1z\n".to_vec()),
        ("v3", b"C1Z3\0\0\0\0\x4b....".to_vec()),
        ("bad-zstd", {
            let mut v = MAGIC.to_vec();
            v.extend_from_slice(b"garbage");
            v
        }),
        ("not-sqlite", {
            let mut v = MAGIC.to_vec();
            v.extend(zstd::encode_all(&b"hello"[..], 3).unwrap());
            v
        }),
        ("truncated", {
            let raw = fs::read(&good).unwrap();
            raw[..raw.len() / 2].to_vec()
        }),
    ];
    for (name, content) in cases {
        let target = dir.path().join(format!("{name}.c1z"));
        fs::write(&target, &content).unwrap();
        let e = match C1zWriter::open(&target, WriterOptions::default()) {
            Err(e) => e,
            Ok(_) => panic!("{name}: writer opened a non-c1z target"),
        };
        assert!(matches!(e, C1zError::RefuseOverwrite { .. }), "{name}: {e}");
        assert!(e.to_string().starts_with("refusing to overwrite"), "{e}");
        assert_eq!(
            fs::read(&target).unwrap(),
            content,
            "{name}: target modified"
        );
        assert!(
            !c1z::working_path(&target).exists(),
            "{name}: a working file was left behind"
        );
    }

    // A target that turns foreign during the sync is not overwritten either.
    let target = dir.path().join("late.c1z");
    let (w, _) = C1zWriter::open(&target, WriterOptions::default()).unwrap();
    fs::write(&target, b"someone else's file").unwrap();
    let e = w.finish().unwrap_err();
    assert!(matches!(e, C1zError::RefuseOverwrite { .. }), "{e}");
    assert_eq!(fs::read(&target).unwrap(), b"someone else's file");
    assert!(c1z::working_path(&target).exists(), "work is kept");
}

#[test]
fn corrupt_working_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("s.c1z");
    fs::write(
        c1z::working_path(&target),
        b"not a database at all, definitely",
    )
    .unwrap();
    let e = match C1zWriter::open(&target, WriterOptions::default()) {
        Err(e) => e,
        Ok(_) => panic!("opened a corrupt working file"),
    };
    assert!(matches!(e, C1zError::NotSqlite { .. }), "{e}");
    assert!(e.to_string().contains(".partial.db"), "{e}");
}
