//! `C1zReader`: validated, read-only access to a c1z, for `inspect`, diffs and
//! provisioning look-ups.
//!
//! Threats and decisions:
//! * **Foreign or corrupt input.** Every layer is checked in order and reported
//!   by its own error: magic, zstd stream, SQLite header, schema (missing
//!   table/column named), and, when rows are read, each protobuf blob (table
//!   and `external_id` named).
//! * **A file from elsewhere carries code.** The copy is opened through
//!   [`sqlite::open_copy`]: triggers and views off, schema untrusted, and a
//!   file holding a trigger, view or virtual table refused by name (see
//!   `sqlite.rs`), so neither the upgrade below nor any read runs its code.
//! * **The user's file is never modified.** The database is decompressed into
//!   a private temporary directory, removed when the reader is dropped. Old
//!   schemas are upgraded in that copy only, as Baton's readers do.
//! * **Large files.** Row access is paged by row id (500 rows per query)
//!   behind iterators, so listing millions of grants uses constant memory.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, ToSql};

use crate::envelope;
use crate::error::{C1zError, Result, SqlContext};
use crate::pb;
use crate::schema;
use crate::sqlite;
use crate::store::{self, Stored, SyncRun, SyncStats};

/// Rows per query of a [`Rows`] walk.
const PAGE: usize = 500;

/// A c1z opened for reading.
pub struct C1zReader {
    conn: Connection,
    _dir: tempfile::TempDir,
}

/// Filters of [`C1zReader::grants`]; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct GrantFilter {
    /// Only grants of this entitlement id.
    pub entitlement: Option<String>,
    /// Only grants on resources of this type.
    pub resource_type: Option<String>,
    /// Only grants on this resource id (of `resource_type`, if given).
    pub resource: Option<String>,
    /// Only grants to this principal `(type, id)`.
    pub principal: Option<pb::ResourceId>,
}

/// What changed for one kind of object between two syncs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObjectDiff<T> {
    /// In the newer sync only.
    pub added: Vec<T>,
    /// In the older sync only.
    pub removed: Vec<T>,
    /// In both, with different content: `(older, newer)`.
    pub changed: Vec<(T, T)>,
}

/// Differences between two syncs, matched by `external_id`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SyncDiff {
    pub older: String,
    pub newer: String,
    pub resource_types: ObjectDiff<pb::ResourceType>,
    pub resources: ObjectDiff<pb::Resource>,
    pub entitlements: ObjectDiff<pb::Entitlement>,
    pub grants: ObjectDiff<pb::Grant>,
}

/// Decompresses the c1z `path` into a private temporary directory (named
/// `prefix...`, under `temp_dir`, else the system's) and opens the copy as any c1z from
/// elsewhere is opened: header and schema vetted, then upgraded. The copy's
/// journal stays in memory: the copy is private and disposable (defensive
/// mode forbids `off`). Returns the directory, the copy and its connection.
pub(crate) fn open_private_copy(
    path: &Path,
    temp_dir: Option<&Path>,
    prefix: &str,
) -> Result<(tempfile::TempDir, PathBuf, Connection)> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    let dir = match temp_dir {
        Some(d) => builder.tempdir_in(d),
        None => builder.tempdir(),
    }
    .map_err(|e| C1zError::io("creating a temporary directory for", path, e))?;
    let db = dir.path().join("c1z.db");
    envelope::decompress_to(path, &db, envelope::DEFAULT_MAX_DECODED)?;
    let conn = sqlite::open_copy(
        &db,
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.query_row("pragma journal_mode = memory", [], |r| {
        r.get::<_, String>(0)
    })
    .map_err(|e| sqlite::classify(e, path, || "setting the journal mode".into()))?;
    schema::check_and_upgrade(&conn, path).map_err(|e| sqlite::reclassify(e, path))?;
    Ok((dir, db, conn))
}

impl C1zReader {
    /// Validates and decompresses `path` into a private copy.
    pub fn open(path: &Path) -> Result<C1zReader> {
        let (dir, _, conn) = open_private_copy(path, None, "c1z-read-")?;
        Ok(C1zReader { conn, _dir: dir })
    }

    /// All sync runs, oldest first.
    pub fn syncs(&self) -> Result<Vec<SyncRun>> {
        store::list_sync_runs(&self.conn)
    }

    /// The sync run `sync_id`.
    pub fn sync(&self, sync_id: &str) -> Result<Option<SyncRun>> {
        store::get_sync_run(&self.conn, sync_id)
    }

    /// The latest finished sync of type `sync_type` (usually `"full"`).
    pub fn latest_finished_sync(&self, sync_type: &str) -> Result<Option<SyncRun>> {
        store::latest_finished(&self.conn, sync_type)
    }

    /// The finished full sync before `newer` (by `ended_at`, then
    /// `sync_id`): what `newer` is compared with by default.
    pub fn finished_full_before(&self, newer: &SyncRun) -> Result<Option<SyncRun>> {
        let key = |s: &SyncRun| (s.ended_at.clone(), s.sync_id.clone());
        Ok(self
            .syncs()?
            .into_iter()
            .filter(|s| {
                s.is_finished()
                    && s.sync_type == store::SYNC_TYPE_FULL
                    && s.sync_id != newer.sync_id
                    && key(s) <= key(newer)
            })
            .max_by_key(key))
    }

    /// The sync shown by default: latest finished full sync, else the latest
    /// unfinished one.
    pub fn default_sync(&self) -> Result<Option<SyncRun>> {
        store::default_view(&self.conn)
    }

    /// `sync_id` if given (must exist), else [`default_sync`](Self::default_sync).
    pub fn resolve_sync(&self, sync_id: Option<&str>) -> Result<SyncRun> {
        match sync_id {
            Some(id) => self
                .sync(id)?
                .ok_or_else(|| C1zError::NotFound(format!("sync {id}"))),
            None => self
                .default_sync()?
                .ok_or_else(|| C1zError::NotFound("any sync run in the file".into())),
        }
    }

    /// Resource types of `sync_id`, in insertion order.
    pub fn resource_types(&self, sync_id: &str) -> Result<Vec<pb::ResourceType>> {
        self.rows(sync_id, &[]).collect()
    }

    /// Resources of `sync_id`, optionally only of one type.
    pub fn resources<'r>(
        &'r self,
        sync_id: &str,
        resource_type: Option<&str>,
    ) -> impl Iterator<Item = Result<pb::Resource>> + use<'r> {
        self.rows(sync_id, &[("resource_type_id", resource_type)])
    }

    /// Entitlements of `sync_id`, optionally only on resources of one type.
    pub fn entitlements<'r>(
        &'r self,
        sync_id: &str,
        resource_type: Option<&str>,
    ) -> impl Iterator<Item = Result<pb::Entitlement>> + use<'r> {
        self.rows(sync_id, &[("resource_type_id", resource_type)])
    }

    /// Grants of `sync_id` matching `filter`.
    pub fn grants<'r>(
        &'r self,
        sync_id: &str,
        filter: &GrantFilter,
    ) -> impl Iterator<Item = Result<pb::Grant>> + use<'r> {
        let principal = filter.principal.as_ref();
        self.rows(
            sync_id,
            &[
                ("entitlement_id", filter.entitlement.as_deref()),
                ("resource_type_id", filter.resource_type.as_deref()),
                ("resource_id", filter.resource.as_deref()),
                (
                    "principal_resource_type_id",
                    principal.map(|p| p.resource_type.as_str()),
                ),
                (
                    "principal_resource_id",
                    principal.map(|p| p.resource.as_str()),
                ),
            ],
        )
    }

    /// The rows of `T`'s table in `sync_id` whose columns equal the given
    /// values (a `None` value matches any), read a page at a time. Each item
    /// is a decoded message, or an error naming the row that failed.
    fn rows<'r, T: Stored>(
        &'r self,
        sync_id: &str,
        filters: &[(&str, Option<&str>)],
    ) -> impl Iterator<Item = Result<T>> + use<'r, T> {
        // Placeholders: ?1 sync, ?2 last id, then the filters in order.
        let mut sql = format!(
            "select id, external_id, data from {} where sync_id = ?1 and id > ?2",
            T::TABLE
        );
        let mut args = vec![sync_id.to_string()];
        for (column, value) in filters {
            if let Some(value) = value {
                args.push(value.to_string());
                sql.push_str(&format!(" and {column} = ?{}", args.len() + 1));
            }
        }
        sql.push_str(&format!(" order by id limit {PAGE}"));
        let (mut last_id, mut page, mut done) = (0, VecDeque::new(), false);
        std::iter::from_fn(move || {
            if page.is_empty() && !done {
                match self.page(&sql, &args, last_id, T::TABLE) {
                    Ok(rows) => {
                        done = rows.len() < PAGE;
                        page.extend(rows);
                    }
                    Err(e) => {
                        done = true;
                        return Some(Err(e));
                    }
                }
            }
            let (id, ext, data): (i64, String, Vec<u8>) = page.pop_front()?;
            last_id = id;
            Some(store::decode_blob(&ext, &data))
        })
    }

    /// One page of [`rows`](Self::rows): `args` are the sync id and the
    /// filter values, `last_id` the row id the page starts after.
    fn page(
        &self,
        sql: &str,
        args: &[String],
        last_id: i64,
        table: &str,
    ) -> Result<Vec<(i64, String, Vec<u8>)>> {
        let mut values: Vec<&dyn ToSql> = vec![&args[0], &last_id];
        values.extend(args[1..].iter().map(|a| a as &dyn ToSql));
        self.conn
            .prepare_cached(sql)
            .and_then(|mut stmt| {
                stmt.query_map(values.as_slice(), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            })
            .ctx(|| format!("reading {table}"))
    }

    /// Counts of `sync_id` (computed from the rows, not the stored `stats`).
    pub fn stats(&self, sync_id: &str) -> Result<SyncStats> {
        store::compute_stats(&self.conn, sync_id)
    }

    /// The record `external_id` of `sync_id` (a resource's is `<type>:<id>`).
    pub fn get_in<T: Stored>(&self, sync_id: &str, external_id: &str) -> Result<Option<T>> {
        store::get_object(&self.conn, sync_id, external_id)
    }

    /// A resource of `sync_id`.
    pub fn resource_in(&self, sync_id: &str, id: &pb::ResourceId) -> Result<Option<pb::Resource>> {
        self.get_in(sync_id, &id.external_id())
    }

    /// The record `external_id` in the default sync (for provisioning).
    fn get_in_view<T: Stored>(&self, external_id: &str) -> Result<Option<T>> {
        self.get_in(&self.resolve_sync(None)?.sync_id, external_id)
    }

    /// Entitlement `id` in the default sync (for provisioning).
    pub fn entitlement(&self, id: &str) -> Result<Option<pb::Entitlement>> {
        self.get_in_view(id)
    }

    /// Resource `(resource_type, id)` in the default sync (for provisioning).
    pub fn resource(&self, resource_type: &str, id: &str) -> Result<Option<pb::Resource>> {
        self.get_in_view(&pb::ResourceId::new(resource_type, id).external_id())
    }

    /// Grant `id` in the default sync (for provisioning).
    pub fn grant(&self, id: &str) -> Result<Option<pb::Grant>> {
        self.get_in_view(id)
    }

    /// Differences from `older` to `newer`, matched by `external_id`. Blobs
    /// are compared decoded, so two encodings of the same message are equal.
    pub fn diff(&self, older: &str, newer: &str) -> Result<SyncDiff> {
        Ok(SyncDiff {
            older: older.to_string(),
            newer: newer.to_string(),
            resource_types: self.diff_table(older, newer)?,
            resources: self.diff_table(older, newer)?,
            entitlements: self.diff_table(older, newer)?,
            grants: self.diff_table(older, newer)?,
        })
    }

    fn diff_table<T: Stored + PartialEq>(&self, older: &str, newer: &str) -> Result<ObjectDiff<T>> {
        let t = T::TABLE;
        let ctx = || format!("diffing {t}");
        let mut out = ObjectDiff::default();
        let only_in = format!(
            "select a.external_id, a.data from {t} a where a.sync_id = ?1 and not exists \
             (select 1 from {t} b where b.sync_id = ?2 and b.external_id = a.external_id) order by a.id"
        );
        let mut stmt = self.conn.prepare_cached(&only_in).ctx(ctx)?;
        for (first, second, into) in [
            (newer, older, &mut out.added),
            (older, newer, &mut out.removed),
        ] {
            let mut rows = stmt.query([first, second]).ctx(ctx)?;
            while let Some(row) = rows.next().ctx(ctx)? {
                let ext: String = row.get(0).ctx(ctx)?;
                let data: Vec<u8> = row.get(1).ctx(ctx)?;
                into.push(store::decode_blob(&ext, &data)?);
            }
        }
        let both = format!(
            "select b.external_id, a.data, b.data from {t} b join {t} a \
             on a.external_id = b.external_id and a.sync_id = ?1 \
             where b.sync_id = ?2 and a.data != b.data order by b.id"
        );
        let mut stmt = self.conn.prepare_cached(&both).ctx(ctx)?;
        let mut rows = stmt.query([older, newer]).ctx(ctx)?;
        while let Some(row) = rows.next().ctx(ctx)? {
            let ext: String = row.get(0).ctx(ctx)?;
            let old: T = store::decode_blob(&ext, &row.get::<_, Vec<u8>>(1).ctx(ctx)?)?;
            let new: T = store::decode_blob(&ext, &row.get::<_, Vec<u8>>(2).ctx(ctx)?)?;
            if old != new {
                out.changed.push((old, new));
            }
        }
        Ok(out)
    }
}
