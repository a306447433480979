//! The v1 c1z SQLite schema, exactly as the Baton SDK (HEAD) creates it.
//!
//! Threat handled: Go readers select named columns and filter on the side
//! columns and index names they expect, so the table, column and index names
//! here are copied from the reference, creation order included. Note the
//! resources indexes: their *names* are swapped relative to their columns
//! (`idx_resources_external_sync_v1` indexes the parent columns, while the
//! unique (external_id, sync_id) index is `idx_resources_parent_resource_id_v1`).
//! That quirk is part of the format and is kept on purpose.
//!
//! Older files (v0.2/v0.3 era) lack some columns. Like Baton, we upgrade them
//! with `ALTER TABLE ... ADD COLUMN` in a private copy (the reader) or in the
//! working file (the writer); a missing *required* column is a schema error.
//! The upgrade writes to a file from elsewhere, so it runs only on
//! connections opened by [`crate::sqlite::open_untrusted`] (no triggers fire)
//! and only after the schema was vetted.

use rusqlite::Connection;

use crate::error::{C1zError, Result, SqlContext};

/// Table names.
pub const RESOURCE_TYPES: &str = "v1_resource_types";
pub const RESOURCES: &str = "v1_resources";
pub const ENTITLEMENTS: &str = "v1_entitlements";
pub const SYNC_RUNS: &str = "v1_sync_runs";
pub const GRANTS: &str = "v1_grants";
pub const ASSETS: &str = "v1_assets";
pub const CONNECTOR_SESSIONS: &str = "v1_connector_sessions";

/// Tables that hold per-sync rows, in Baton's creation order.
pub const ALL_TABLES: [&str; 7] = [
    RESOURCE_TYPES,
    RESOURCES,
    ENTITLEMENTS,
    SYNC_RUNS,
    GRANTS,
    ASSETS,
    CONNECTOR_SESSIONS,
];

/// Tables newer SDKs added; created when absent instead of failing.
const NEWER_TABLES: [&str; 2] = [ASSETS, CONNECTOR_SESSIONS];

struct Table {
    name: &'static str,
    /// One column per line, each `name definition`, as Baton writes it.
    create: &'static str,
    /// Columns older SDKs lack, added with their definition from `create`;
    /// a file without any other column is refused.
    added_later: &'static [&'static str],
    indexes: &'static str,
}

impl Table {
    /// `(name, definition)` of each column, in order.
    fn columns(&self) -> impl Iterator<Item = (&'static str, &'static str)> {
        self.create
            .lines()
            .skip(1)
            .filter_map(|line| line.trim().trim_end_matches(',').split_once(' '))
    }
}

const TABLES: [Table; 7] = [
    Table {
        name: RESOURCE_TYPES,
        create: "create table if not exists v1_resource_types (
    id integer primary key,
    external_id text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);",
        added_later: &[],
        indexes: "create unique index if not exists idx_resource_types_external_sync_v1 on v1_resource_types (external_id, sync_id);",
    },
    Table {
        name: RESOURCES,
        create: "create table if not exists v1_resources (
    id integer primary key,
    resource_type_id text not null,
    external_id text not null,
    parent_resource_type_id text,
    parent_resource_id text,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);",
        added_later: &[],
        // Names swapped relative to columns, as in the SDK (see module doc).
        indexes: "create index if not exists idx_resources_resource_type_id_v1 on v1_resources (resource_type_id);
create index if not exists idx_resources_external_sync_v1 on v1_resources (parent_resource_type_id, parent_resource_id);
create unique index if not exists idx_resources_parent_resource_id_v1 on v1_resources (external_id, sync_id);",
    },
    Table {
        name: ENTITLEMENTS,
        create: "create table if not exists v1_entitlements (
    id integer primary key,
    resource_type_id text not null,
    resource_id text not null,
    external_id text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);",
        added_later: &[],
        indexes: "create index if not exists idx_entitlements_resource_id_v1 on v1_entitlements (resource_type_id, resource_id);
create unique index if not exists idx_entitlements_external_sync_v1 on v1_entitlements (external_id, sync_id);",
    },
    Table {
        name: SYNC_RUNS,
        create: "create table if not exists v1_sync_runs (
    id integer primary key,
    sync_id text not null,
    started_at datetime not null,
    ended_at datetime,
    sync_token text not null,
    sync_type text not null default 'full',
    parent_sync_id text not null default '',
    linked_sync_id text not null default '',
    supports_diff integer not null default 0,
    grants_backfilled integer not null default 0,
    stats text,
    ingest_invariant_generation text not null default '',
    ingest_invariant_coverage text not null default '',
    ingest_invariant_mode text not null default ''
);",
        added_later: &[
            "sync_type",
            "parent_sync_id",
            "linked_sync_id",
            "supports_diff",
            "grants_backfilled",
            "stats",
            "ingest_invariant_generation",
            "ingest_invariant_coverage",
            "ingest_invariant_mode",
        ],
        indexes: "create unique index if not exists idx_sync_runs_sync_id_v1 on v1_sync_runs (sync_id);",
    },
    Table {
        name: GRANTS,
        create: "create table if not exists v1_grants (
    id integer primary key,
    resource_type_id text not null,
    resource_id text not null,
    entitlement_id text not null,
    principal_resource_type_id text not null,
    principal_resource_id text not null,
    external_id text not null,
    expansion blob,
    needs_expansion integer not null default 0,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);",
        added_later: &["expansion", "needs_expansion"],
        indexes: "create index if not exists idx_grants_resource_type_id_resource_id_v1 on v1_grants (resource_type_id, resource_id);
create index if not exists idx_grants_principal_id_v1 on v1_grants (principal_resource_type_id, principal_resource_id);
create index if not exists idx_grants_entitlement_id_principal_id_v1 on v1_grants (entitlement_id, principal_resource_type_id, principal_resource_id);
create unique index if not exists idx_grants_external_sync_v1 on v1_grants (external_id, sync_id);
create index if not exists idx_grants_entitlement_sync_grant_v1 on v1_grants (entitlement_id, sync_id, id);
create index if not exists idx_grants_sync_expansion_v1 on v1_grants (sync_id) where expansion is not null;
create index if not exists idx_grants_sync_needs_expansion_v1 on v1_grants (sync_id) where needs_expansion = 1;",
    },
    Table {
        name: ASSETS,
        create: "create table if not exists v1_assets (
    id integer primary key,
    external_id text not null,
    content_type text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);",
        added_later: &[],
        indexes: "create unique index if not exists idx_assets_external_sync_v1 on v1_assets (external_id, sync_id);",
    },
    Table {
        name: CONNECTOR_SESSIONS,
        create: "create table if not exists v1_connector_sessions (
    id integer primary key,
    sync_id text not null,
    key text not null,
    value blob not null
);",
        added_later: &[],
        indexes: "create unique index if not exists idx_session_store_sync_key_v1 on v1_connector_sessions (sync_id, key);",
    },
];

/// Creates every table and index on an empty database, in Baton's order
/// (each table immediately followed by its indexes).
pub fn create_all(conn: &Connection) -> Result<()> {
    for t in &TABLES {
        conn.execute_batch(t.create)
            .ctx(|| format!("creating table {}", t.name))?;
        conn.execute_batch(t.indexes)
            .ctx(|| format!("creating indexes of {}", t.name))?;
    }
    Ok(())
}

/// Checks that `conn` holds a c1z v1 schema and adds what newer SDKs expect.
/// A missing required table or column is [`C1zError::Schema`], naming it, and
/// so is a trigger, view or virtual table ([`crate::sqlite::vet_schema`]),
/// refused before anything is changed.
pub fn check_and_upgrade(conn: &Connection, path: &std::path::Path) -> Result<()> {
    crate::sqlite::vet_schema(conn, path)?;
    for t in &TABLES {
        let cols = table_columns(conn, t.name)?;
        if cols.is_empty() {
            if NEWER_TABLES.contains(&t.name) {
                conn.execute_batch(t.create)
                    .ctx(|| format!("creating table {}", t.name))?;
            } else {
                return Err(C1zError::Schema {
                    path: path.to_path_buf(),
                    detail: format!("missing table {}", t.name),
                });
            }
        } else {
            for (name, definition) in t.columns() {
                if cols.iter().any(|have| have == name) {
                    continue;
                }
                if !t.added_later.contains(&name) {
                    return Err(C1zError::Schema {
                        path: path.to_path_buf(),
                        detail: format!("table {} has no column {name}", t.name),
                    });
                }
                conn.execute_batch(&format!(
                    "alter table {} add column {name} {definition};",
                    t.name
                ))
                .ctx(|| format!("adding column {}.{name}", t.name))?;
            }
            if t.name == SYNC_RUNS
                && !cols.iter().any(|c| c == "sync_type")
                && cols.iter().any(|c| c == "is_partial")
            {
                // v0.2 files marked partial syncs with a boolean.
                conn.execute_batch(
                    "update v1_sync_runs set sync_type = 'partial' where is_partial = 1;",
                )
                .ctx(|| "migrating v1_sync_runs.is_partial".into())?;
            }
        }
        conn.execute_batch(t.indexes)
            .ctx(|| format!("creating indexes of {}", t.name))?;
    }
    Ok(())
}

/// Column names of `table`, empty if the table does not exist.
pub fn table_columns(conn: &Connection, table: &str) -> Result<Vec<String>> {
    conn.prepare(&format!("pragma table_info({table})"))
        .and_then(|mut stmt| stmt.query_map([], |r| r.get(1))?.collect())
        .ctx(|| format!("reading columns of {table}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_columns(conn: &Connection, index: &str) -> Vec<String> {
        let mut stmt = conn
            .prepare(&format!("pragma index_info({index})"))
            .unwrap();
        stmt.query_map([], |r| r.get::<_, String>(2))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn columns_come_from_the_create_statements() {
        let runs = TABLES.iter().find(|t| t.name == SYNC_RUNS).unwrap();
        let columns: Vec<_> = runs.columns().collect();
        assert_eq!(columns.len(), 14);
        assert_eq!(columns[0], ("id", "integer primary key"));
        assert_eq!(columns[3], ("ended_at", "datetime"));
        assert_eq!(columns[5], ("sync_type", "text not null default 'full'"));
        for t in &TABLES {
            let conn = Connection::open_in_memory().unwrap();
            conn.execute_batch(t.create).unwrap();
            let names: Vec<_> = t.columns().map(|(name, _)| name.to_string()).collect();
            assert_eq!(names, table_columns(&conn, t.name).unwrap(), "{}", t.name);
            for late in t.added_later {
                assert!(names.iter().any(|n| n == late), "{late}");
            }
        }
    }

    #[test]
    fn creates_swapped_resource_index_names() {
        let conn = Connection::open_in_memory().unwrap();
        create_all(&conn).unwrap();
        assert_eq!(
            index_columns(&conn, "idx_resources_parent_resource_id_v1"),
            vec!["external_id", "sync_id"]
        );
        assert_eq!(
            index_columns(&conn, "idx_resources_external_sync_v1"),
            vec!["parent_resource_type_id", "parent_resource_id"]
        );
        let schema = |conn: &Connection| -> Vec<String> {
            let mut stmt = conn
                .prepare("select sql from sqlite_schema order by name")
                .unwrap();
            stmt.query_map([], |r| r.get(0))
                .unwrap()
                .map(|r| r.unwrap())
                .collect()
        };
        let before = schema(&conn);
        check_and_upgrade(&conn, std::path::Path::new("mem")).unwrap();
        assert_eq!(schema(&conn), before, "a current file is left as it is");
    }

    #[test]
    fn upgrades_old_grants_and_sync_runs() {
        let conn = Connection::open_in_memory().unwrap();
        create_all(&conn).unwrap();
        conn.execute_batch(
            "drop table v1_grants; drop table v1_sync_runs; drop table v1_connector_sessions;
             create table v1_grants (id integer primary key, resource_type_id text not null,
               resource_id text not null, entitlement_id text not null,
               principal_resource_type_id text not null, principal_resource_id text not null,
               external_id text not null, data blob not null, sync_id text not null,
               discovered_at datetime not null);
             create table v1_sync_runs (id integer primary key, sync_id text not null,
               started_at datetime not null, ended_at datetime, sync_token text not null,
               is_partial boolean not null default false);
             insert into v1_sync_runs (sync_id, started_at, sync_token, is_partial)
               values ('a', '2025-01-01 00:00:00', '', 1);",
        )
        .unwrap();
        check_and_upgrade(&conn, std::path::Path::new("mem")).unwrap();
        let grants = table_columns(&conn, GRANTS).unwrap();
        assert!(grants.iter().any(|c| c == "needs_expansion"), "{grants:?}");
        assert!(!table_columns(&conn, CONNECTOR_SESSIONS).unwrap().is_empty());
        let t: String = conn
            .query_row("select sync_type from v1_sync_runs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(t, "partial");
    }

    #[test]
    fn missing_required_column_is_named() {
        let conn = Connection::open_in_memory().unwrap();
        create_all(&conn).unwrap();
        conn.execute_batch(
            "drop table v1_entitlements; create table v1_entitlements (id integer primary key,
               external_id text not null, data blob not null, sync_id text not null,
               discovered_at datetime not null);",
        )
        .unwrap();
        let err = check_and_upgrade(&conn, std::path::Path::new("x.c1z")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("v1_entitlements has no column resource_type_id"),
            "{msg}"
        );
        let conn = Connection::open_in_memory().unwrap();
        create_all(&conn).unwrap();
        conn.execute_batch("drop table v1_grants").unwrap();
        let err = check_and_upgrade(&conn, std::path::Path::new("x.c1z")).unwrap_err();
        assert!(err.to_string().contains("missing table v1_grants"), "{err}");
    }
}
