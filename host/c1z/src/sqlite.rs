//! Opening a c1z's SQLite database, which may come from elsewhere.
//!
//! Threat: a SQLite file carries code as well as data. Triggers run on the
//! host's own inserts and updates (the schema upgrade of an old file, a
//! resumed sync, a checkpoint), views run whatever query they hold when
//! read, and schema expressions (CHECK, DEFAULT, generated columns,
//! expression indexes) call SQL functions. A c1z handed to `inspect`,
//! `diff` or provisioning, the writer's target, or a working file left on
//! disk by a previous run may all have been written by someone else, and
//! none of them may make the host run that code.
//!
//! Decisions:
//! * Every connection on a c1z's database comes from [`open_untrusted`],
//!   which, before any statement runs, turns `SQLITE_DBCONFIG_DEFENSIVE` on
//!   (no `writable_schema`, no `journal_mode=off`, no writes to shadow
//!   tables), turns triggers and views off (`SQLITE_DBCONFIG_ENABLE_TRIGGER`,
//!   `SQLITE_DBCONFIG_ENABLE_VIEW`), untrusts the schema (`trusted_schema =
//!   OFF`: schema expressions may call innocuous functions only) and has
//!   SQLite check b-tree cells as it reads pages (`cell_size_check`). The
//!   host's own schema (`schema.rs`, and the sync engine's queue table)
//!   uses no trigger and no view, so the working database the host writes
//!   gets the same settings: there is one way to open a c1z database, not a
//!   trusting one beside it.
//! * Baton writes no trigger, view or virtual table, so a file holding one is
//!   not a c1z as written. [`vet_schema`] refuses it with an error naming the
//!   object instead of ignoring it, because the writer would otherwise carry
//!   it into the artifact it publishes, which Go readers open with SQLite's
//!   default trust. Tables the host does not know are kept and never read:
//!   newer SDKs add tables, and a table without a trigger runs nothing.
//! * Damage is reported by what it is: [`check_header`] compares the
//!   header's page size and page count with the decompressed file before
//!   SQLite reads it (a header claiming billions of pages is named as such),
//!   and a schema SQLite cannot parse, or any other corruption it finds,
//!   becomes [`C1zError::CorruptDatabase`] carrying SQLite's own message.

use std::io::Read;
use std::path::Path;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::error::{C1zError, Result, SqlContext};

/// The connection-level settings [`open_untrusted`] applies, with the value
/// each must have.
const SETTINGS: [(DbConfig, bool, &str); 4] = [
    (DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true, "defensive mode"),
    (DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, false, "triggers"),
    (DbConfig::SQLITE_DBCONFIG_ENABLE_VIEW, false, "views"),
    (
        DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA,
        false,
        "trusted_schema",
    ),
];

/// Opens the SQLite database `db` with the defensive settings of the module
/// documentation applied before any statement runs. Use this for every
/// connection on a c1z's database, the host's own working file included.
///
/// Nothing is read from the file here; call [`vet_schema`] (done by
/// [`crate::schema::check_and_upgrade`]) before using the connection.
pub fn open_untrusted(db: &Path, flags: OpenFlags) -> Result<Connection> {
    let conn =
        Connection::open_with_flags(db, flags).ctx(|| format!("opening {}", db.display()))?;
    for (option, wanted, name) in SETTINGS {
        let applied = conn
            .set_db_config(option, wanted)
            .ctx(|| format!("setting {name} on {}", db.display()))?;
        // Fail closed: a SQLite build that ignored the option must not be
        // used on a file from elsewhere.
        if applied != wanted {
            return Err(C1zError::Sqlite {
                context: format!(
                    "setting {name} on {} (SQLite kept it {})",
                    db.display(),
                    if applied { "on" } else { "off" }
                ),
                source: rusqlite::Error::InvalidQuery,
            });
        }
    }
    // A flag pragma: it changes the connection and reads nothing from the
    // file, so it cannot run anything the file holds.
    conn.execute_batch("pragma cell_size_check = on;")
        .ctx(|| format!("setting cell_size_check on {}", db.display()))?;
    Ok(conn)
}

/// Checks the decompressed database `db` (from the c1z `source`), then
/// opens it with [`open_untrusted`] and refuses it unless [`vet_schema`]
/// accepts it.
pub(crate) fn open_copy(db: &Path, source: &Path, flags: OpenFlags) -> Result<Connection> {
    check_header(db, source)?;
    let conn = open_untrusted(db, flags)?;
    vet_schema(&conn, source)?;
    Ok(conn)
}

/// Checks the 100-byte header of the SQLite file `db` (decompressed from
/// `source`, named in errors) against the file's length: a page size SQLite
/// allows, at least one whole page, and no more pages than the file holds.
///
/// Only for a file SQLite has not touched: the main file of a database in
/// WAL mode may legitimately lag its header until the WAL is recovered.
pub fn check_header(db: &Path, source: &Path) -> Result<()> {
    let mut f = std::fs::File::open(db).map_err(|e| C1zError::io("opening", db, e))?;
    let len = f
        .metadata()
        .map_err(|e| C1zError::io("reading metadata of", db, e))?
        .len();
    let mut head = [0u8; 100];
    let not_sqlite = || C1zError::NotSqlite {
        path: source.to_path_buf(),
    };
    if len < head.len() as u64 {
        return Err(not_sqlite());
    }
    f.read_exact(&mut head)
        .map_err(|e| C1zError::io("reading", db, e))?;
    if &head[..16] != crate::envelope::SQLITE_HEADER {
        return Err(not_sqlite());
    }
    let page_size = match u16::from_be_bytes([head[16], head[17]]) {
        1 => 65_536u64,
        n if (512..=32_768).contains(&n) && n.is_power_of_two() => u64::from(n),
        // SQLite itself calls such a file "not a database".
        _ => return Err(not_sqlite()),
    };
    let damaged = |detail: String| C1zError::CorruptDatabase {
        path: source.to_path_buf(),
        detail,
    };
    if len < page_size {
        return Err(damaged(format!(
            "the database holds {len} bytes, less than its first page of {page_size} bytes"
        )));
    }
    // SQLite trusts the in-header page count only when it is non-zero and
    // the change counter matches the version-valid-for number.
    let pages = u64::from(u32::from_be_bytes([head[28], head[29], head[30], head[31]]));
    if pages != 0 && head[24..28] == head[92..96] && pages.saturating_mul(page_size) > len {
        return Err(damaged(format!(
            "the header declares {pages} pages of {page_size} bytes but the database holds \
             {len} bytes ({} pages)",
            len / page_size
        )));
    }
    Ok(())
}

/// Reads the schema of `conn` (a database from the c1z `source`, named in
/// errors) and refuses what a c1z never holds: triggers, views, virtual
/// tables and entries of any other kind than tables and indexes.
pub fn vet_schema(conn: &Connection, source: &Path) -> Result<()> {
    let ctx = || "reading the database schema".to_string();
    let sql = "select coalesce(cast(type as text), ''), coalesce(cast(name as text), ''), \
               coalesce(cast(tbl_name as text), ''), coalesce(cast(sql as text), '') \
               from sqlite_schema";
    let mut stmt = conn.prepare(sql).map_err(|e| classify(e, source, ctx))?;
    let mut rows = stmt.query([]).map_err(|e| classify(e, source, ctx))?;
    while let Some(row) = rows.next().map_err(|e| classify(e, source, ctx))? {
        let field = |i| {
            row.get::<_, String>(i)
                .map_err(|e| classify(e, source, ctx))
        };
        let (kind, name, table, sql) = (field(0)?, field(1)?, field(2)?, field(3)?);
        let refused = match kind.as_str() {
            "trigger" => format!("trigger {} on table {}", shown(&name), shown(&table)),
            "view" => format!("view {}", shown(&name)),
            "table" if is_virtual(&sql) => format!("virtual table {}", shown(&name)),
            "table" | "index" => continue,
            other => format!("schema entry {} of type {}", shown(&name), shown(other)),
        };
        return Err(C1zError::Schema {
            path: source.to_path_buf(),
            detail: format!(
                "the database carries {refused}; a c1z holds no triggers, views or virtual \
                 tables, and none are run"
            ),
        });
    }
    Ok(())
}

/// Names a SQLite error by what it says about the file `source`: not a
/// database, damaged, or (anything else) a failure while doing `context`.
pub fn classify(e: rusqlite::Error, source: &Path, context: impl FnOnce() -> String) -> C1zError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => C1zError::NotSqlite {
            path: source.to_path_buf(),
        },
        Some(ErrorCode::DatabaseCorrupt) => C1zError::CorruptDatabase {
            path: source.to_path_buf(),
            detail: e.to_string(),
        },
        _ => C1zError::Sqlite {
            context: context(),
            source: e,
        },
    }
}

/// [`classify`] for an error already wrapped as [`C1zError::Sqlite`].
pub(crate) fn reclassify(e: C1zError, source: &Path) -> C1zError {
    match e {
        C1zError::Sqlite { context, source: s } => classify(s, source, || context),
        other => other,
    }
}

fn is_virtual(sql: &str) -> bool {
    let words: Vec<String> = sql
        .split_whitespace()
        .take(3)
        .map(str::to_ascii_lowercase)
        .collect();
    words == ["create", "virtual", "table"]
}

/// A name from the file, quoted and cut short: it is attacker-controlled.
fn shown(name: &str) -> String {
    const MAX: usize = 64;
    if name.chars().count() <= MAX {
        format!("{name:?}")
    } else {
        let cut: String = name.chars().take(MAX).collect();
        format!("{cut:?}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw() -> OpenFlags {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
    }

    #[test]
    fn settings_are_applied() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_untrusted(&dir.path().join("a.db"), rw()).unwrap();
        for (option, wanted, name) in SETTINGS {
            assert_eq!(conn.db_config(option).unwrap(), wanted, "{name}");
        }
        let trusted: i64 = conn
            .query_row("pragma trusted_schema", [], |r| r.get(0))
            .unwrap();
        assert_eq!(trusted, 0);
        let cells: i64 = conn
            .query_row("pragma cell_size_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(cells, 1);
    }

    /// Everything the writer and the sync engine do to their own working
    /// database still works under the settings.
    #[test]
    fn host_statements_still_work() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.db");
        let conn = open_untrusted(&db, rw()).unwrap();
        conn.execute_batch("pragma journal_mode = delete; pragma page_size = 4096;")
            .unwrap();
        crate::schema::create_all(&conn).unwrap();
        vet_schema(&conn, &db).unwrap();
        let mode: String = conn
            .query_row("pragma journal_mode = wal", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        conn.execute_batch(
            "create table if not exists host_sync_queue (id integer primary key autoincrement,
               sync_id text not null, phase integer not null, task text not null,
               unique (sync_id, phase, task));
             insert or ignore into host_sync_queue (sync_id, phase, task) values ('s', 0, 't');
             insert into v1_resource_types (external_id, data, sync_id, discovered_at)
               values ('user', x'0a0475736572', 's', '2025-01-01 00:00:00')
               on conflict (external_id, sync_id) do update set data = excluded.data;
             drop table host_sync_queue;
             pragma wal_checkpoint(truncate);
             pragma journal_mode = delete;
             vacuum;",
        )
        .unwrap();
        vet_schema(&conn, &db).unwrap();
    }

    #[test]
    fn header_claiming_more_pages_than_the_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("h.db");
        {
            let conn = Connection::open(&db).unwrap();
            crate::schema::create_all(&conn).unwrap();
        }
        check_header(&db, Path::new("h.c1z")).unwrap();
        let mut raw = std::fs::read(&db).unwrap();
        raw[28..32].copy_from_slice(&u32::MAX.to_be_bytes());
        std::fs::write(&db, &raw).unwrap();
        let e = check_header(&db, Path::new("h.c1z")).unwrap_err();
        assert!(matches!(e, C1zError::CorruptDatabase { .. }), "{e}");
        assert!(e.to_string().contains("declares 4294967295 pages"), "{e}");
        // SQLite agrees that the file is damaged, and says so without a panic.
        let conn = open_untrusted(&db, OpenFlags::SQLITE_OPEN_READ_WRITE).unwrap();
        let e = vet_schema(&conn, Path::new("h.c1z")).unwrap_err();
        assert!(matches!(e, C1zError::CorruptDatabase { .. }), "{e}");

        raw[16..18].copy_from_slice(&1000u16.to_be_bytes());
        std::fs::write(&db, &raw).unwrap();
        let e = check_header(&db, Path::new("h.c1z")).unwrap_err();
        assert!(matches!(e, C1zError::NotSqlite { .. }), "{e}");
    }

    #[test]
    fn virtual_tables_are_recognised() {
        assert!(is_virtual("CREATE VIRTUAL TABLE x USING fts5(a)"));
        assert!(is_virtual(
            "create\n  virtual\ttable x using rtree(id, a, b)"
        ));
        assert!(!is_virtual(
            "create table v1_grants (id integer primary key)"
        ));
        assert!(!is_virtual(""));
    }

    #[test]
    fn long_names_are_cut() {
        let s = shown(&"x".repeat(500));
        assert!(s.len() < 80, "{s}");
        assert_eq!(shown("evil\n"), "\"evil\\n\"");
    }
}
