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
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, ToSql};

use crate::envelope::{self, DecodeLimits};
use crate::error::{C1zError, Result, SqlContext};
use crate::pb;
use crate::schema;
use crate::sqlite;
use crate::store::{self, ObjectTable, SyncRun, SyncStats};

const PAGE: i64 = 500;

/// Options of [`C1zReader::open_with`].
#[derive(Debug, Clone, Default)]
pub struct ReaderOptions {
    /// Where the private copy goes (default: the system temp directory).
    pub temp_dir: Option<PathBuf>,
    /// Decompression limits.
    pub limits: DecodeLimits,
}

/// A c1z opened for reading.
pub struct C1zReader {
    conn: Connection,
    path: PathBuf,
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
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectDiff<T> {
    /// In the newer sync only.
    pub added: Vec<T>,
    /// In the older sync only.
    pub removed: Vec<T>,
    /// In both, with different content: `(older, newer)`.
    pub changed: Vec<(T, T)>,
}

impl<T> Default for ObjectDiff<T> {
    fn default() -> Self {
        ObjectDiff {
            added: Vec::new(),
            removed: Vec::new(),
            changed: Vec::new(),
        }
    }
}

impl<T> ObjectDiff<T> {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
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

impl SyncDiff {
    pub fn is_empty(&self) -> bool {
        self.resource_types.is_empty()
            && self.resources.is_empty()
            && self.entitlements.is_empty()
            && self.grants.is_empty()
    }
}

impl C1zReader {
    /// Opens `path` with default options.
    pub fn open(path: &Path) -> Result<C1zReader> {
        Self::open_with(path, ReaderOptions::default())
    }

    /// Validates and decompresses `path` into a private copy.
    pub fn open_with(path: &Path, opts: ReaderOptions) -> Result<C1zReader> {
        let dir = match &opts.temp_dir {
            Some(d) => tempfile::Builder::new().prefix("c1z-read-").tempdir_in(d),
            None => tempfile::Builder::new().prefix("c1z-read-").tempdir(),
        }
        .map_err(|e| C1zError::io("creating a temporary directory for", path, e))?;
        let db = dir.path().join("c1z.db");
        envelope::decompress_to(path, &db, opts.limits)?;

        // Any c1z may come from elsewhere: defensive settings, header and
        // schema vetted before anything else reads or writes it.
        let conn = sqlite::open_copy(
            &db,
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // The copy is private and disposable: its journal (only the schema
        // upgrade writes) stays in memory. Defensive mode forbids `off`.
        conn.query_row("pragma journal_mode = memory", [], |r| {
            r.get::<_, String>(0)
        })
        .map_err(|e| sqlite::classify(e, path, || "setting the journal mode".into()))?;
        schema::check_and_upgrade(&conn, path).map_err(|e| sqlite::reclassify(e, path))?;
        Ok(C1zReader {
            conn,
            path: path.to_path_buf(),
            _dir: dir,
        })
    }

    /// The c1z this reader was opened from.
    pub fn path(&self) -> &Path {
        &self.path
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

    /// The two newest finished full syncs as `(older, newer)`.
    pub fn latest_two_finished(&self) -> Result<Option<(SyncRun, SyncRun)>> {
        let mut full: Vec<SyncRun> = self
            .syncs()?
            .into_iter()
            .filter(|s| s.is_finished() && s.sync_type == store::SYNC_TYPE_FULL)
            .collect();
        full.sort_by(|a, b| {
            (a.ended_at.as_deref(), a.sync_id.as_str())
                .cmp(&(b.ended_at.as_deref(), b.sync_id.as_str()))
        });
        let n = full.len();
        if n < 2 {
            return Ok(None);
        }
        let newer = full.pop().expect("n >= 2");
        let older = full.pop().expect("n >= 2");
        Ok(Some((older, newer)))
    }

    /// Resource types of `sync_id`, in insertion order.
    pub fn resource_types(&self, sync_id: &str) -> Result<Vec<pb::ResourceType>> {
        self.rows(ObjectTable::ResourceTypes, sync_id, "", Vec::new())
            .collect()
    }

    /// Resources of `sync_id`, optionally only of one type.
    pub fn resources<'r>(
        &'r self,
        sync_id: &str,
        resource_type: Option<&str>,
    ) -> Rows<'r, pb::Resource> {
        let mut filter = String::new();
        let mut args = Vec::new();
        if let Some(t) = resource_type {
            filter.push_str(" and resource_type_id = ?");
            args.push(t.to_string());
        }
        self.rows(ObjectTable::Resources, sync_id, &filter, args)
    }

    /// Entitlements of `sync_id`, optionally only on resources of one type.
    pub fn entitlements<'r>(
        &'r self,
        sync_id: &str,
        resource_type: Option<&str>,
    ) -> Rows<'r, pb::Entitlement> {
        let mut filter = String::new();
        let mut args = Vec::new();
        if let Some(t) = resource_type {
            filter.push_str(" and resource_type_id = ?");
            args.push(t.to_string());
        }
        self.rows(ObjectTable::Entitlements, sync_id, &filter, args)
    }

    /// Entitlements of `sync_id` on one resource.
    pub fn entitlements_of<'r>(
        &'r self,
        sync_id: &str,
        resource: &pb::ResourceId,
    ) -> Rows<'r, pb::Entitlement> {
        self.rows(
            ObjectTable::Entitlements,
            sync_id,
            " and resource_type_id = ? and resource_id = ?",
            vec![resource.resource_type.clone(), resource.resource.clone()],
        )
    }

    /// Grants of `sync_id` matching `filter`.
    pub fn grants<'r>(&'r self, sync_id: &str, filter: &GrantFilter) -> Rows<'r, pb::Grant> {
        let mut sql = String::new();
        let mut args = Vec::new();
        if let Some(e) = &filter.entitlement {
            sql.push_str(" and entitlement_id = ?");
            args.push(e.clone());
        }
        if let Some(t) = &filter.resource_type {
            sql.push_str(" and resource_type_id = ?");
            args.push(t.clone());
        }
        if let Some(r) = &filter.resource {
            sql.push_str(" and resource_id = ?");
            args.push(r.clone());
        }
        if let Some(p) = &filter.principal {
            sql.push_str(" and principal_resource_type_id = ? and principal_resource_id = ?");
            args.push(p.resource_type.clone());
            args.push(p.resource.clone());
        }
        self.rows(ObjectTable::Grants, sync_id, &sql, args)
    }

    fn rows<'r, T>(
        &'r self,
        table: ObjectTable,
        sync_id: &str,
        filter: &str,
        args: Vec<String>,
    ) -> Rows<'r, T> {
        // Placeholders are numbered: ?1 sync, ?2 last id, ?3 page, then filters.
        let mut numbered = String::new();
        let mut n = 4;
        for ch in filter.chars() {
            if ch == '?' {
                numbered.push_str(&format!("?{n}"));
                n += 1;
            } else {
                numbered.push(ch);
            }
        }
        let sql = format!(
            "select id, external_id, data from {} where sync_id = ?1 and id > ?2{} order by id limit ?3",
            table.table(),
            numbered
        );
        Rows {
            conn: &self.conn,
            table,
            sql,
            sync_id: sync_id.to_string(),
            args,
            last_id: 0,
            buf: VecDeque::new(),
            done: false,
            _t: PhantomData,
        }
    }

    /// Counts of `sync_id` (computed from the rows, not the stored `stats`).
    pub fn stats(&self, sync_id: &str) -> Result<SyncStats> {
        store::compute_stats(&self.conn, sync_id)
    }

    /// A resource of `sync_id`.
    pub fn resource_in(&self, sync_id: &str, id: &pb::ResourceId) -> Result<Option<pb::Resource>> {
        store::get_object(
            &self.conn,
            ObjectTable::Resources,
            sync_id,
            &id.external_id(),
        )
    }

    /// A resource type of `sync_id`.
    pub fn resource_type_in(&self, sync_id: &str, id: &str) -> Result<Option<pb::ResourceType>> {
        store::get_object(&self.conn, ObjectTable::ResourceTypes, sync_id, id)
    }

    /// An entitlement of `sync_id`.
    pub fn entitlement_in(&self, sync_id: &str, id: &str) -> Result<Option<pb::Entitlement>> {
        store::get_object(&self.conn, ObjectTable::Entitlements, sync_id, id)
    }

    /// A grant of `sync_id`.
    pub fn grant_in(&self, sync_id: &str, id: &str) -> Result<Option<pb::Grant>> {
        store::get_object(&self.conn, ObjectTable::Grants, sync_id, id)
    }

    fn view_sync_id(&self) -> Result<String> {
        Ok(self.resolve_sync(None)?.sync_id)
    }

    /// Entitlement `id` in the default sync (for provisioning).
    pub fn entitlement(&self, id: &str) -> Result<Option<pb::Entitlement>> {
        self.entitlement_in(&self.view_sync_id()?, id)
    }

    /// Resource `(resource_type, id)` in the default sync (for provisioning).
    pub fn resource(&self, resource_type: &str, id: &str) -> Result<Option<pb::Resource>> {
        self.resource_in(
            &self.view_sync_id()?,
            &pb::ResourceId::new(resource_type, id),
        )
    }

    /// Grant `id` in the default sync (for provisioning).
    pub fn grant(&self, id: &str) -> Result<Option<pb::Grant>> {
        self.grant_in(&self.view_sync_id()?, id)
    }

    /// Differences from `older` to `newer`, matched by `external_id`. Blobs
    /// are compared decoded, so two encodings of the same message are equal.
    pub fn diff(&self, older: &str, newer: &str) -> Result<SyncDiff> {
        Ok(SyncDiff {
            older: older.to_string(),
            newer: newer.to_string(),
            resource_types: self.diff_table(ObjectTable::ResourceTypes, older, newer)?,
            resources: self.diff_table(ObjectTable::Resources, older, newer)?,
            entitlements: self.diff_table(ObjectTable::Entitlements, older, newer)?,
            grants: self.diff_table(ObjectTable::Grants, older, newer)?,
        })
    }

    fn diff_table<T>(&self, table: ObjectTable, older: &str, newer: &str) -> Result<ObjectDiff<T>>
    where
        T: prost::Message + Default + PartialEq,
    {
        let t = table.table();
        let ctx = || format!("diffing {t}");
        let mut out = ObjectDiff::default();
        let only_in = format!(
            "select a.external_id, a.data from {t} a where a.sync_id = ?1 and not exists \
             (select 1 from {t} b where b.sync_id = ?2 and b.external_id = a.external_id) order by a.id"
        );
        let mut stmt = self.conn.prepare_cached(&only_in).ctx(ctx)?;
        for (first, second, into_added) in [(newer, older, true), (older, newer, false)] {
            let mut rows = stmt.query([first, second]).ctx(ctx)?;
            while let Some(row) = rows.next().ctx(ctx)? {
                let ext: String = row.get(0).ctx(ctx)?;
                let data: Vec<u8> = row.get(1).ctx(ctx)?;
                let msg: T = store::decode_blob(t, table.message(), &ext, &data)?;
                if into_added {
                    out.added.push(msg);
                } else {
                    out.removed.push(msg);
                }
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
            let a: Vec<u8> = row.get(1).ctx(ctx)?;
            let b: Vec<u8> = row.get(2).ctx(ctx)?;
            let old: T = store::decode_blob(t, table.message(), &ext, &a)?;
            let new: T = store::decode_blob(t, table.message(), &ext, &b)?;
            if old != new {
                out.changed.push((old, new));
            }
        }
        Ok(out)
    }

    /// Decodes every blob of every table, returning the first error. Useful to
    /// validate a whole file up front.
    pub fn verify_blobs(&self) -> Result<u64> {
        let mut n = 0u64;
        for table in [
            ObjectTable::ResourceTypes,
            ObjectTable::Resources,
            ObjectTable::Entitlements,
            ObjectTable::Grants,
        ] {
            let sql = format!("select external_id, data from {}", table.table());
            let ctx = || format!("reading {}", table.table());
            let mut stmt = self.conn.prepare(&sql).ctx(ctx)?;
            let mut rows = stmt.query([]).ctx(ctx)?;
            while let Some(row) = rows.next().ctx(ctx)? {
                let ext: String = row.get(0).ctx(ctx)?;
                let data: Vec<u8> = row.get(1).ctx(ctx)?;
                match table {
                    ObjectTable::ResourceTypes => store::decode_blob::<pb::ResourceType>(
                        table.table(),
                        table.message(),
                        &ext,
                        &data,
                    )
                    .map(|_| ())?,
                    ObjectTable::Resources => store::decode_blob::<pb::Resource>(
                        table.table(),
                        table.message(),
                        &ext,
                        &data,
                    )
                    .map(|_| ())?,
                    ObjectTable::Entitlements => store::decode_blob::<pb::Entitlement>(
                        table.table(),
                        table.message(),
                        &ext,
                        &data,
                    )
                    .map(|_| ())?,
                    ObjectTable::Grants => {
                        store::decode_blob::<pb::Grant>(table.table(), table.message(), &ext, &data)
                            .map(|_| ())?
                    }
                }
                n += 1;
            }
        }
        Ok(n)
    }
}

/// A paged iterator over the rows of one table and sync. Each item is a
/// decoded message, or an error naming the row that failed.
pub struct Rows<'r, T> {
    conn: &'r Connection,
    table: ObjectTable,
    sql: String,
    sync_id: String,
    args: Vec<String>,
    last_id: i64,
    buf: VecDeque<(i64, String, Vec<u8>)>,
    done: bool,
    _t: PhantomData<T>,
}

impl<T> Rows<'_, T> {
    fn fill(&mut self) -> Result<()> {
        let ctx = || format!("reading {}", self.table.table());
        let mut stmt = self.conn.prepare_cached(&self.sql).ctx(ctx)?;
        let page = PAGE;
        let mut values: Vec<&dyn ToSql> = vec![&self.sync_id, &self.last_id, &page];
        for a in &self.args {
            values.push(a);
        }
        let mut rows = stmt.query(values.as_slice()).ctx(ctx)?;
        let mut got = 0;
        while let Some(row) = rows.next().ctx(ctx)? {
            let id: i64 = row.get(0).ctx(ctx)?;
            let ext: String = row.get(1).ctx(ctx)?;
            let data: Vec<u8> = row.get(2).ctx(ctx)?;
            self.buf.push_back((id, ext, data));
            got += 1;
        }
        if got < PAGE {
            self.done = true;
        }
        Ok(())
    }
}

impl<T: prost::Message + Default> Iterator for Rows<'_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty()
            && !self.done
            && let Err(e) = self.fill()
        {
            self.done = true;
            return Some(Err(e));
        }
        let (id, ext, data) = self.buf.pop_front()?;
        self.last_id = id;
        Some(store::decode_blob(
            self.table.table(),
            self.table.message(),
            &ext,
            &data,
        ))
    }
}
