//! A c1z from elsewhere runs none of the code its database carries.
//!
//! Each hostile file is first shown to be armed: on a plain SQLite
//! connection (SQLite's default trust) its trigger fires or its view
//! answers. Then the reader, `inspect`, `diff`, the writer's adoption of the
//! target and the resume of a working file are shown to refuse it with an
//! error naming the object, without the trigger's side effect and without
//! touching the user's files.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use c1z::envelope;
use c1z::{C1zError, C1zReader, C1zWriter, InspectCommand, SyncStart, WriterOptions, run_inspect};
use common::Fixture;
use rusqlite::{Connection, OpenFlags};

/// A trigger that, once the host updates a sync run (the schema upgrade of
/// an old file, a checkpoint), plants a grant for "mallory" and records that
/// it ran.
const INJECT: &str = "
create table if not exists evil (note text);
create trigger inject after update on v1_sync_runs begin
  insert into evil values ('fired');
  insert into v1_grants (resource_type_id, resource_id, entitlement_id,
    principal_resource_type_id, principal_resource_id, external_id, data,
    sync_id, discovered_at)
  select 'role', 'r-admin', 'role:r-admin:member', 'user', 'mallory',
    'role:r-admin:member:user:mallory', x'', new.sync_id, '2025-01-01 00:00:00';
end;";

fn good_file(dir: &Path) -> PathBuf {
    let target = dir.join("good.c1z");
    Fixture::pingone().write_sync(&target);
    target
}

/// Re-wraps `src`'s database, changed by `sql` on a plain connection, as the
/// c1z `out`; returns the changed database, kept beside it.
fn tamper(src: &Path, out: &Path, sql: &str) -> PathBuf {
    let db = out.with_extension("db");
    envelope::decompress_to(src, &db, envelope::DEFAULT_MAX_DECODED).unwrap();
    Connection::open(&db).unwrap().execute_batch(sql).unwrap();
    envelope::compress_to(&db, out, 3).unwrap();
    db
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// On a copy of `db` with SQLite's default trust, `sql` fires the trigger:
/// the file is armed, so a refusal below is the defence at work.
fn assert_armed(db: &Path, sql: &str) {
    let copy = db.with_extension("armed.db");
    fs::copy(db, &copy).unwrap();
    let conn = Connection::open(&copy).unwrap();
    conn.execute_batch(sql).unwrap();
    assert!(
        count(&conn, "select count(*) from evil") > 0,
        "the trigger does not fire on a plain connection: the test proves nothing"
    );
    assert_eq!(
        count(
            &conn,
            "select count(*) from v1_grants where principal_resource_id = 'mallory'"
        ),
        1
    );
}

fn assert_names_trigger(e: &C1zError, path: &Path) {
    let msg = e.to_string();
    assert!(
        msg.contains("trigger \"inject\" on table \"v1_sync_runs\""),
        "{msg}"
    );
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}

/// The connection-level defence alone, without the schema vetting: under
/// `open_untrusted` a trigger does not fire, a view cannot be read and the
/// schema is untrusted, where a plain connection fires and reads them.
#[test]
fn open_untrusted_runs_no_trigger_and_reads_no_view() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("armed.db");
    {
        let conn = Connection::open(&db).unwrap();
        c1z::schema::create_all(&conn).unwrap();
        conn.execute_batch(INJECT).unwrap();
        conn.execute_batch(
            "create view sneaky as select sqlite_version() as v, randomblob(8) as r;
             insert into v1_sync_runs (sync_id, started_at, sync_token)
               values ('s1', '2025-01-01 00:00:00', '');",
        )
        .unwrap();
    }
    assert_armed(&db, "update v1_sync_runs set sync_token = 'x';");
    {
        let plain = Connection::open(&db).unwrap();
        assert_eq!(count(&plain, "select count(*) from sneaky"), 1);
    }

    let conn = c1z::sqlite::open_untrusted(&db, OpenFlags::SQLITE_OPEN_READ_WRITE).unwrap();
    conn.execute_batch("update v1_sync_runs set sync_token = 'x';")
        .unwrap();
    assert_eq!(count(&conn, "select count(*) from evil"), 0, "trigger ran");
    assert_eq!(
        count(
            &conn,
            "select count(*) from v1_grants where principal_resource_id = 'mallory'"
        ),
        0
    );
    let e = conn
        .query_row("select count(*) from sneaky", [], |r| r.get::<_, i64>(0))
        .unwrap_err();
    assert!(e.to_string().contains("view"), "{e}");
    assert_eq!(count(&conn, "pragma trusted_schema"), 0);

    // And the vetting names both objects' kind before anything is used.
    let e = c1z::sqlite::vet_schema(&conn, &db).unwrap_err();
    assert!(matches!(e, C1zError::Schema { .. }), "{e}");
}

/// An old file whose schema upgrade (the `is_partial` migration updates
/// `v1_sync_runs`) would fire the trigger in the reader's copy.
#[test]
fn reader_inspect_and_diff_refuse_a_trigger_the_upgrade_would_fire() {
    let dir = tempfile::tempdir().unwrap();
    let good = good_file(dir.path());
    // A second sync, so `diff` has two to compare.
    Fixture::pingone().write_sync(&good);
    let p = dir.path().join("old-armed.c1z");
    let db = tamper(
        &good,
        &p,
        &format!(
            "alter table v1_sync_runs drop column sync_type;
             alter table v1_sync_runs add column is_partial boolean not null default false;
             update v1_sync_runs set is_partial = 1 where id = (select min(id) from v1_sync_runs);
             {INJECT}"
        ),
    );
    assert_armed(
        &db,
        "alter table v1_sync_runs add column sync_type text not null default 'full';
         update v1_sync_runs set sync_type = 'partial' where is_partial = 1;",
    );
    let before = fs::read(&p).unwrap();

    let e = match C1zReader::open(&p) {
        Err(e) => e,
        Ok(r) => {
            let planted: usize = r
                .syncs()
                .unwrap()
                .iter()
                .map(|s| {
                    r.grants(&s.sync_id, &Default::default())
                        .filter_map(|g| g.ok())
                        .filter(|g| {
                            g.principal
                                .as_ref()
                                .and_then(|p| p.id.as_ref())
                                .is_some_and(|id| id.resource == "mallory")
                        })
                        .count()
                })
                .sum();
            panic!("the reader opened an armed file ({planted} planted grants in it)");
        }
    };
    assert!(matches!(e, C1zError::Schema { .. }), "{e}");
    assert!(e.is_corrupt_input());
    assert_names_trigger(&e, &p);

    for cmd in [
        InspectCommand::Diff {
            base_sync_id: None,
            common: Default::default(),
        },
        InspectCommand::Grants {
            entitlement: None,
            resource_type: None,
            resource: None,
            common: Default::default(),
        },
        InspectCommand::Syncs {
            common: Default::default(),
        },
    ] {
        let mut out = Vec::new();
        let e = run_inspect(&p, &cmd, &mut out).unwrap_err();
        assert_names_trigger(&e, &p);
        assert!(out.is_empty(), "{cmd:?} printed something");
    }
    assert_eq!(fs::read(&p).unwrap(), before, "the user's file changed");
}

/// A view standing in for a table the reader lists: the attacker's rows
/// would be read as the file's resource types.
#[test]
fn reader_refuses_a_view_in_place_of_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let good = good_file(dir.path());
    let p = dir.path().join("view.c1z");
    let db = tamper(
        &good,
        &p,
        "alter table v1_resource_types rename to real_resource_types;
         create view v1_resource_types as
           select id, external_id, data, sync_id, discovered_at, sqlite_version() as v
           from real_resource_types union all
           select 999, 'planted', x'0a07706c616e746564', sync_id, discovered_at, ''
           from real_resource_types limit 100;",
    );
    {
        let plain = Connection::open(&db).unwrap();
        assert!(
            count(
                &plain,
                "select count(*) from v1_resource_types where external_id = 'planted'"
            ) > 0,
            "the view does not answer on a plain connection: the test proves nothing"
        );
    }
    let e = match C1zReader::open(&p) {
        Err(e) => e,
        Ok(_) => panic!("the reader opened a file whose table is a view"),
    };
    assert!(matches!(e, C1zError::Schema { .. }), "{e}");
    assert!(e.to_string().contains("view \"v1_resource_types\""), "{e}");
}

/// The writer adopts an existing target as the base of the next sync: an
/// armed target is refused (its checkpoints would fire the trigger, and the
/// trigger would be published to Go readers), and left as it was.
#[test]
fn writer_refuses_an_armed_target() {
    let dir = tempfile::tempdir().unwrap();
    let good = good_file(dir.path());
    let p = dir.path().join("armed.c1z");
    let db = tamper(&good, &p, INJECT);
    assert_armed(&db, "update v1_sync_runs set sync_token = 'x';");
    let before = fs::read(&p).unwrap();

    let e = match C1zWriter::open(&p, WriterOptions::default()) {
        Err(e) => e,
        Ok(_) => panic!("the writer adopted an armed target"),
    };
    assert!(matches!(e, C1zError::RefuseOverwrite { .. }), "{e}");
    assert!(e.to_string().starts_with("refusing to overwrite"), "{e}");
    assert_names_trigger(&e, &p);
    assert_eq!(fs::read(&p).unwrap(), before, "the target changed");
    assert!(
        !c1z::working_path(&p).exists(),
        "a working file was left behind"
    );
}

/// A trigger planted in the working file of an interrupted sync would fire
/// on the resumed sync's first checkpoint. The resume is refused, naming
/// the trigger and the working file, and nothing is lost: once the trigger
/// is gone the sync resumes from its checkpoint.
#[test]
fn resume_refuses_an_armed_working_file_and_keeps_its_work() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("s.c1z");
    let fx = Fixture::pingone();
    let sync_id = {
        let (mut w, start) = C1zWriter::open(&target, WriterOptions::default()).unwrap();
        assert!(matches!(start, SyncStart::New { .. }));
        w.put_resource_types(&fx.resource_types()).unwrap();
        w.put_resources(&fx.all_resources()).unwrap();
        w.checkpoint("after-resources").unwrap();
        w.sync_id().to_string()
        // Dropped without finishing: an interrupted sync.
    };
    let working = c1z::working_path(&target);
    Connection::open(&working)
        .unwrap()
        .execute_batch(INJECT)
        .unwrap();
    assert_armed(&working, "update v1_sync_runs set sync_token = 'x';");

    let e = match C1zWriter::open(&target, WriterOptions::default()) {
        Err(e) => e,
        Ok(_) => panic!("resumed an armed working file"),
    };
    assert!(matches!(e, C1zError::Schema { .. }), "{e}");
    assert_names_trigger(&e, &working);

    let conn = Connection::open(&working).unwrap();
    assert_eq!(count(&conn, "select count(*) from evil"), 0, "trigger ran");
    assert_eq!(
        count(&conn, "select count(*) from v1_resources"),
        fx.all_resources().len() as i64,
        "records of the interrupted sync were lost"
    );
    conn.execute_batch("drop trigger inject; drop table evil;")
        .unwrap();
    drop(conn);

    let (w, start) = C1zWriter::open(&target, WriterOptions::default()).unwrap();
    assert_eq!(
        start,
        SyncStart::Resumed {
            sync_id,
            checkpoint: "after-resources".into()
        }
    );
    assert_eq!(
        w.stats().unwrap().resources,
        fx.all_resources().len() as u64
    );
}

/// A header claiming far more pages than the file holds, and a schema
/// SQLite cannot parse, are named, not panicked on.
#[test]
fn damaged_headers_and_schemas_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let good = good_file(dir.path());

    let db = dir.path().join("pages.db");
    envelope::decompress_to(&good, &db, envelope::DEFAULT_MAX_DECODED).unwrap();
    let mut raw = fs::read(&db).unwrap();
    raw[28..32].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    fs::write(&db, &raw).unwrap();
    let p = dir.path().join("pages.c1z");
    envelope::compress_to(&db, &p, 3).unwrap();
    let e = match C1zReader::open(&p) {
        Err(e) => e,
        Ok(_) => panic!("opened a file whose header claims 2^31 pages"),
    };
    assert!(matches!(e, C1zError::CorruptDatabase { .. }), "{e}");
    assert!(e.to_string().contains("declares 2147483647 pages"), "{e}");
    let e = match C1zWriter::open(&p, WriterOptions::default()) {
        Err(e) => e,
        Ok(_) => panic!("adopted a file whose header claims 2^31 pages"),
    };
    assert!(matches!(e, C1zError::RefuseOverwrite { .. }), "{e}");

    // A schema entry that does not parse (written the only way SQLite
    // allows: writable_schema on a plain connection).
    let p = dir.path().join("schema.c1z");
    tamper(
        &good,
        &p,
        "pragma writable_schema = on;
         insert into sqlite_schema (type, name, tbl_name, rootpage, sql)
           values ('table', 'broken', 'broken', 0, 'create table broken (');
         pragma writable_schema = off;",
    );
    let e = match C1zReader::open(&p) {
        Err(e) => e,
        Ok(_) => panic!("opened a file with a malformed schema"),
    };
    assert!(matches!(e, C1zError::CorruptDatabase { .. }), "{e}");
    assert!(e.to_string().contains("malformed database schema"), "{e}");
}

/// Tables the host does not know run nothing and are kept: a file from a
/// newer SDK still opens.
#[test]
fn unknown_tables_are_tolerated() {
    let dir = tempfile::tempdir().unwrap();
    let good = good_file(dir.path());
    let p = dir.path().join("newer.c1z");
    tamper(
        &good,
        &p,
        "create table v2_future (id integer primary key, data blob);
         insert into v2_future (data) values (x'00');",
    );
    let r = C1zReader::open(&p).unwrap();
    let sync = r.default_sync().unwrap().unwrap();
    assert_eq!(
        r.resources(&sync.sync_id, None).count(),
        Fixture::pingone().all_resources().len()
    );
}
