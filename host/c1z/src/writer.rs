//! `C1zWriter`: the host's sync sink, with checkpoints, resume and an atomic
//! final artifact.
//!
//! Threats and decisions:
//! * **Kill mid-sync.** All writes go to a working SQLite database next to the
//!   target (`<file>.partial.db`, same file system so the final rename is
//!   atomic). It runs in WAL mode with `synchronous=NORMAL`: a committed
//!   transaction survives SIGKILL. Records are written inside one open
//!   transaction that [`C1zWriter::checkpoint`] commits *together with* the
//!   checkpoint token, so after a kill the file holds exactly the records the
//!   last checkpoint covers, and the next [`C1zWriter::open`] resumes that sync
//!   ([`SyncStart::Resumed`]) with that token.
//! * **Crash or full disk while publishing.** [`C1zWriter::finish`] compresses
//!   the working database into `<file>.tmp`, fsyncs it, renames it over
//!   `<file>` and fsyncs the directory. On any error the old `<file>` is
//!   untouched and the working file stays for the next run. With
//!   [`WriterOptions::keep_working`] the working file also stays after a
//!   successful publish, as a copy of `<file>` that the next sync builds on
//!   without decompressing (see [`crate::kept`]).
//! * **Someone else's file at `--file`.** The target is classified before
//!   anything else; a file that is not a c1z is never overwritten.
//! * **A target or working file written by someone else.** Both are opened
//!   through `sqlite.rs` (triggers and views off, schema untrusted) and
//!   refused if they carry a trigger, view or virtual table, so a resumed
//!   sync or a schema upgrade runs none of their code and none is carried
//!   into the published artifact.
//! * **Two syncs on one target.** The working database is opened with
//!   `locking_mode=EXCLUSIVE`, so a second writer fails fast instead of
//!   interleaving.
//! * **Two records, one id.** Ids are derived by joining parts with `:`
//!   (an entitlement's `<type>:<resource>:<slug>`), so different records
//!   can derive the same id (resource `a:b` slug `c`, resource `a` slug
//!   `b:c`). An upsert replaces a stored row only when its source parts (the
//!   side columns) are the same, which a retried call's re-put of a record
//!   is; otherwise nothing is written and the put fails with
//!   [`C1zError::IdCollision`] naming both records, instead of the second
//!   silently overwriting the first.
//! * **Millions of grants.** Rows are streamed into SQLite through cached
//!   prepared statements; nothing accumulates in memory, and the final
//!   compression streams the file through fixed buffers.
//! * **Go readers.** The published database is self-contained: WAL is
//!   checkpointed and the journal mode switched back to `delete` before
//!   compression, so no `-wal`/`-journal` is needed and `user_version` is 0.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, ToSql, params};

use crate::envelope::{self, FileState, TMP_SUFFIX};
use crate::error::{C1zError, Result, SqlContext};
use crate::ids;
use crate::kept::{self, Kept};
use crate::pb;
use crate::schema;
use crate::sqlite;
use crate::store::{self, SYNC_TYPE_FULL, Stored, SyncStats};

/// Suffix of the working database next to the target.
pub const WORKING_SUFFIX: &str = ".partial.db";
/// Unfinished syncs older than this are discarded instead of resumed
/// (Baton: 7 days).
pub const MAX_RESUME_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The working database path of `target`: `<target>.partial.db`.
pub fn working_path(target: &Path) -> PathBuf {
    envelope::with_suffix(target, WORKING_SUFFIX)
}

/// Knobs of the writer. `Default` matches Baton's behaviour.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Finished full syncs kept after cleanup (Baton: 2).
    pub keep_syncs: usize,
    /// Skip the cleanup of old syncs entirely.
    pub skip_cleanup: bool,
    /// Resume an unfinished full sync found in the working file (one
    /// started less than [`MAX_RESUME_AGE`] ago).
    pub resume: bool,
    /// SQLite page cache of the working database, in KiB.
    pub cache_size_kib: u32,
    /// Write a `partial` sync (Baton's targeted sync) instead of a `full`
    /// one. A partial sync is never resumed: any new sync discards the
    /// unfinished full and partial syncs it does not resume.
    pub partial: bool,
    /// Keep the working database after publishing, for the next sync to
    /// start from without decompressing the target ([`crate::kept`]).
    pub keep_working: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            keep_syncs: 2,
            skip_cleanup: false,
            resume: true,
            cache_size_kib: 64 * 1024,
            partial: false,
            keep_working: false,
        }
    }
}

impl WriterOptions {
    /// Defaults plus Baton's environment overrides `BATON_KEEP_SYNC_COUNT`
    /// and `BATON_SKIP_CLEANUP`.
    pub fn from_env() -> Self {
        let mut o = WriterOptions::default();
        if let Some(n) = std::env::var("BATON_KEEP_SYNC_COUNT")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)
        {
            o.keep_syncs = n;
        }
        if let Ok(v) = std::env::var("BATON_SKIP_CLEANUP") {
            o.skip_cleanup = matches!(v.trim(), "1" | "t" | "T" | "true" | "TRUE" | "True");
        }
        o
    }
}

/// How [`C1zWriter::open`] started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncStart {
    /// A new sync run was created.
    New { sync_id: String },
    /// An interrupted sync was found; continue from `checkpoint` (the last
    /// token passed to [`C1zWriter::checkpoint`], `""` if none was).
    Resumed { sync_id: String, checkpoint: String },
}

impl SyncStart {
    pub fn sync_id(&self) -> &str {
        match self {
            SyncStart::New { sync_id } | SyncStart::Resumed { sync_id, .. } => sync_id,
        }
    }
}

/// What [`C1zWriter::finish`] did.
#[derive(Debug, Clone)]
pub struct FinishReport {
    pub sync_id: String,
    /// The published c1z.
    pub target: PathBuf,
    /// Counts of the finished sync (also stored in `v1_sync_runs.stats`).
    pub stats: SyncStats,
    /// Size of the uncompressed database.
    pub database_bytes: u64,
    /// Size of the published c1z.
    pub c1z_bytes: u64,
}

/// Writes one sync into a c1z. See the module documentation for the
/// durability contract.
pub struct C1zWriter {
    conn: Connection,
    target: PathBuf,
    working: PathBuf,
    sync_id: String,
    opts: WriterOptions,
    buf: Vec<u8>,
    /// The sync being written is a finished one reopened to be refreshed
    /// in place ([`C1zWriter::refresh_in_place`]).
    refreshing: bool,
    /// Whether the sync may hold records: false only for a sync this
    /// writer started (under a new random id) and has stored nothing in.
    /// Asking the database instead reads every grant's index entry.
    may_hold_records: bool,
}

const SQL_PUT_RESOURCE_TYPE: &str = "insert into v1_resource_types (external_id, data, sync_id, discovered_at) \
     values (?1, ?2, ?3, ?4) on conflict (external_id, sync_id) do update set data = excluded.data";
const SQL_PUT_RESOURCE: &str = "insert into v1_resources (resource_type_id, external_id, parent_resource_type_id, \
     parent_resource_id, data, sync_id, discovered_at) values (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
     on conflict (external_id, sync_id) do update set data = excluded.data \
     where v1_resources.resource_type_id = excluded.resource_type_id";
const SQL_PUT_ENTITLEMENT: &str = "insert into v1_entitlements (resource_type_id, resource_id, external_id, data, \
     sync_id, discovered_at) values (?1, ?2, ?3, ?4, ?5, ?6) \
     on conflict (external_id, sync_id) do update set data = excluded.data \
     where v1_entitlements.resource_type_id = excluded.resource_type_id \
     and v1_entitlements.resource_id = excluded.resource_id";
const SQL_PUT_GRANT: &str = "insert into v1_grants (resource_type_id, resource_id, entitlement_id, \
     principal_resource_type_id, principal_resource_id, external_id, expansion, needs_expansion, data, \
     sync_id, discovered_at) values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
     on conflict (external_id, sync_id) do update set data = excluded.data, \
     expansion = excluded.expansion, needs_expansion = excluded.needs_expansion \
     where v1_grants.resource_type_id = excluded.resource_type_id \
     and v1_grants.resource_id = excluded.resource_id \
     and v1_grants.entitlement_id = excluded.entitlement_id \
     and v1_grants.principal_resource_type_id = excluded.principal_resource_type_id \
     and v1_grants.principal_resource_id = excluded.principal_resource_id";
/// A SQL NULL column.
const NULL: ToSqlOutput<'static> = ToSqlOutput::Owned(Value::Null);

/// A text column borrowed from the record.
fn text(s: &str) -> ToSqlOutput<'_> {
    ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))
}

fn invalid(kind: &'static str, reason: impl Into<String>) -> C1zError {
    C1zError::InvalidRecord {
        kind,
        reason: reason.into(),
    }
}

/// The parts a resource's id is derived from, as collisions name them.
fn resource_parts(r: &pb::Resource) -> String {
    let id = r.id.as_ref().map(|id| id.resource_type.as_str());
    format!("a resource of type {}", id.unwrap_or_default())
}

fn entitlement_parts(e: &pb::Entitlement) -> String {
    let rid = e.resource.as_ref().and_then(|r| r.id.clone());
    let rid = rid.unwrap_or_default().external_id();
    format!("resource {rid} slug {:?}", e.slug)
}

fn grant_parts(g: &pb::Grant) -> String {
    let ent = g.entitlement.as_ref().map(|e| e.id.as_str());
    let pid = g.principal.as_ref().and_then(|p| p.id.clone());
    let pid = pid.unwrap_or_default().external_id();
    format!("entitlement {} to {pid}", ent.unwrap_or_default())
}

fn require_id<'a>(
    kind: &'static str,
    what: &str,
    id: Option<&'a pb::ResourceId>,
) -> Result<&'a pb::ResourceId> {
    match id {
        Some(id) if !id.resource_type.is_empty() && !id.resource.is_empty() => Ok(id),
        _ => Err(invalid(
            kind,
            format!("{what} is missing or has an empty type or id"),
        )),
    }
}

impl C1zWriter {
    /// Opens (or resumes) a sync whose result will be published at `target`.
    ///
    /// * Working file `<target>.partial.db` holds an unfinished full sync →
    ///   [`SyncStart::Resumed`].
    /// * Otherwise a new sync starts, on top of the working file if one exists
    ///   (a previous publish failed, or it was kept as a copy of `target` that
    ///   `target` still matches), else on a copy of `target` (its previous
    ///   syncs are kept), else on a fresh database when `target` is missing or
    ///   empty.
    /// * `target` exists but is not a v1 c1z → [`C1zError::RefuseOverwrite`];
    ///   nothing is written.
    pub fn open(target: &Path, opts: WriterOptions) -> Result<(C1zWriter, SyncStart)> {
        let state = classify_target(target)?;
        let working = working_path(target);

        let mut has_working = match fs::metadata(&working) {
            Ok(m) => m.len() > 0,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(C1zError::io("reading metadata of", &working, e)),
        };
        if has_working && kept::classify(&working, target)? == Kept::Stale {
            has_working = false;
        }
        if !has_working {
            prepare_working(target, &working, state)?;
        }
        // Whatever happens next changes the working file: it stops being a
        // copy of the target before the first write.
        kept::forget_note(&working)?;
        let conn = open_working(&working, &opts)?;

        let mut writer = C1zWriter {
            conn,
            target: target.to_path_buf(),
            working,
            sync_id: String::new(),
            opts,
            buf: Vec::with_capacity(4096),
            refreshing: false,
            may_hold_records: true,
        };
        let start = writer.start_or_resume()?;
        writer.begin()?;
        Ok((writer, start))
    }

    fn start_or_resume(&mut self) -> Result<SyncStart> {
        let unfinished = store::latest_unfinished(&self.conn, SYNC_TYPE_FULL)?;
        if let Some(run) = unfinished
            && self.opts.resume
            && !self.opts.partial
            && Self::fresh_enough(&run.started_at)
        {
            self.sync_id = run.sync_id.clone();
            return Ok(SyncStart::Resumed {
                sync_id: run.sync_id,
                checkpoint: run.sync_token,
            });
        }
        // Unfinished syncs we will not resume are dead weight: drop them.
        let stale: Vec<String> = store::list_sync_runs(&self.conn)?
            .into_iter()
            .filter(|r| {
                !r.is_finished() && [SYNC_TYPE_FULL, "partial"].contains(&r.sync_type.as_str())
            })
            .map(|r| r.sync_id)
            .collect();
        let sync_id = ids::new_sync_id();
        let tx = self
            .conn
            .unchecked_transaction()
            .ctx(|| "starting a sync".into())?;
        for id in &stale {
            store::delete_sync(&tx, id)?;
        }
        tx.execute(
            "insert into v1_sync_runs (sync_id, started_at, sync_token, sync_type, parent_sync_id, \
             linked_sync_id, grants_backfilled) values (?1, ?2, '', ?3, '', '', 1)",
            params![
                sync_id,
                ids::now_text(),
                if self.opts.partial {
                    "partial"
                } else {
                    SYNC_TYPE_FULL
                }
            ],
        )
        .ctx(|| "inserting the sync run".into())?;
        tx.commit().ctx(|| "starting a sync".into())?;
        self.sync_id = sync_id.clone();
        self.may_hold_records = false;
        Ok(SyncStart::New { sync_id })
    }

    /// False for a sync started more than [`MAX_RESUME_AGE`] ago; true when
    /// its start cannot be read or lies ahead.
    fn fresh_enough(started_at: &str) -> bool {
        ids::parse_datetime(started_at).is_none_or(|started| {
            let age = chrono::Local::now().naive_local() - started;
            age.to_std().map_or(true, |age| age <= MAX_RESUME_AGE)
        })
    }

    fn begin(&self) -> Result<()> {
        self.conn
            .execute_batch("begin immediate")
            .map_err(|e| busy_or(e, &self.working, "beginning a transaction"))
    }

    /// The id of the sync being written.
    pub fn sync_id(&self) -> &str {
        &self.sync_id
    }

    /// The working database's connection, inside the writer's open
    /// transaction. Crate-only: the sync engine's side tables go through
    /// [`crate::sync_queue`], so SQL stays in this crate.
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Upserts resource types (`external_id` = `id`).
    pub fn put_resource_types(&mut self, items: &[pb::ResourceType]) -> Result<()> {
        let rows = items
            .iter()
            .map(|rt| {
                if rt.id.is_empty() {
                    return Err(invalid("resource type", "empty id"));
                }
                Ok((rt, rt.id.clone(), vec![text(&rt.id)]))
            })
            .collect::<Result<Vec<_>>>()?;
        // The upsert always replaces a type, so it never reports a collision.
        self.upsert("resource type", SQL_PUT_RESOURCE_TYPE, rows, |_| {
            String::new()
        })
    }

    /// Upserts resources (`external_id` = `"<type>:<id>"`, parent columns from
    /// `parent_resource_id` or NULL).
    pub fn put_resources(&mut self, items: &[pb::Resource]) -> Result<()> {
        let rows = items
            .iter()
            .map(|r| {
                let id = require_id("resource", "id", r.id.as_ref())?;
                let parent = r.parent_resource_id.as_ref();
                let external_id = id.external_id();
                let columns = vec![
                    text(&id.resource_type),
                    ToSqlOutput::from(external_id.clone()),
                    parent.map_or(NULL, |p| text(&p.resource_type)),
                    parent.map_or(NULL, |p| text(&p.resource)),
                ];
                Ok((r, external_id, columns))
            })
            .collect::<Result<Vec<_>>>()?;
        self.upsert("resource", SQL_PUT_RESOURCE, rows, resource_parts)
    }

    /// Upserts entitlements (`external_id` = `id`, resource columns from
    /// `entitlement.resource.id`).
    pub fn put_entitlements(&mut self, items: &[pb::Entitlement]) -> Result<()> {
        let rows = items
            .iter()
            .map(|e| {
                if e.id.is_empty() {
                    return Err(invalid("entitlement", "empty id"));
                }
                let rid = require_id(
                    "entitlement",
                    &format!("resource.id of {}", e.id),
                    e.resource.as_ref().and_then(|r| r.id.as_ref()),
                )?;
                let columns = vec![text(&rid.resource_type), text(&rid.resource), text(&e.id)];
                Ok((e, e.id.clone(), columns))
            })
            .collect::<Result<Vec<_>>>()?;
        self.upsert("entitlement", SQL_PUT_ENTITLEMENT, rows, entitlement_parts)
    }

    /// Upserts grants. Side columns: resource = `entitlement.resource.id`,
    /// `entitlement_id` = `entitlement.id`, principal = `principal.id`. A grant
    /// carrying a `GrantExpandable` annotation also gets that annotation's
    /// bytes in `expansion` and `needs_expansion = 1` (the annotation stays in
    /// the blob too, which older readers expect).
    pub fn put_grants(&mut self, items: &[pb::Grant]) -> Result<()> {
        let rows = items
            .iter()
            .map(|g| {
                if g.id.is_empty() {
                    return Err(invalid("grant", "empty id"));
                }
                let ent = g
                    .entitlement
                    .as_ref()
                    .filter(|e| !e.id.is_empty())
                    .ok_or_else(|| invalid("grant", format!("{} has no entitlement id", g.id)))?;
                let rid = require_id(
                    "grant",
                    &format!("entitlement.resource.id of {}", g.id),
                    ent.resource.as_ref().and_then(|r| r.id.as_ref()),
                )?;
                let pid = require_id(
                    "grant",
                    &format!("principal.id of {}", g.id),
                    g.principal.as_ref().and_then(|p| p.id.as_ref()),
                )?;
                let expansion = g
                    .annotations
                    .iter()
                    .find(|a| pb::type_url_matches::<pb::GrantExpandable>(&a.type_url))
                    .map(|a| a.value.as_slice());
                let columns = vec![
                    text(&rid.resource_type),
                    text(&rid.resource),
                    text(&ent.id),
                    text(&pid.resource_type),
                    text(&pid.resource),
                    text(&g.id),
                    expansion.map_or(NULL, ToSqlOutput::from),
                    ToSqlOutput::from(expansion.is_some() as i64),
                ];
                Ok((g, g.id.clone(), columns))
            })
            .collect::<Result<Vec<_>>>()?;
        self.upsert("grant", SQL_PUT_GRANT, rows, grant_parts)
    }

    /// Runs the upsert `sql` for each record, bound to its side columns and
    /// then its blob, the sync id and the time. All records were checked
    /// before the first is written. A row the upsert left alone is a
    /// collision, named by `parts`.
    fn upsert<T: Stored>(
        &mut self,
        kind: &'static str,
        sql: &str,
        rows: Vec<(&T, String, Vec<ToSqlOutput<'_>>)>,
        parts: fn(&T) -> String,
    ) -> Result<()> {
        let now = ids::now_text();
        self.may_hold_records = true;
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .ctx(|| format!("preparing {kind} upsert"))?;
        for (item, id, columns) in rows {
            self.buf.clear();
            item.encode(&mut self.buf).expect("Vec grows");
            let mut values: Vec<&dyn ToSql> = columns.iter().map(|c| c as &dyn ToSql).collect();
            values.extend([&self.buf as &dyn ToSql, &self.sync_id, &now]);
            let written = stmt
                .execute(values.as_slice())
                .ctx(|| format!("writing {kind} {id}"))?;
            if written == 0 {
                return Err(self.collision(kind, &id, item, parts));
            }
        }
        Ok(())
    }

    /// The error for a record whose id is already stored in this sync for
    /// different source parts (the upserts above leave such a row alone):
    /// both records, named by the parts their ids were derived from.
    fn collision<T: Stored>(
        &self,
        kind: &'static str,
        id: &str,
        new: &T,
        parts: fn(&T) -> String,
    ) -> C1zError {
        let stored = match store::get_object::<T>(&self.conn, &self.sync_id, id) {
            Ok(Some(stored)) => parts(&stored),
            Ok(None) => "unreadable: no stored row".into(),
            Err(e) => format!("unreadable: {e}"),
        };
        C1zError::IdCollision {
            kind,
            id: id.to_string(),
            stored,
            new: parts(new),
        }
    }

    /// Stores `token` as the sync's checkpoint and commits it together with
    /// every record written since the previous checkpoint. After a kill, a
    /// resumed sync sees exactly the records written before the last
    /// successful call, and this token.
    ///
    /// If this returns an error, drop the writer: the file still holds the
    /// previous checkpoint.
    pub fn checkpoint(&mut self, token: &str) -> Result<()> {
        self.conn
            .prepare_cached("update v1_sync_runs set sync_token = ?1 where sync_id = ?2")
            .and_then(|mut stmt| stmt.execute(params![token, self.sync_id]))
            .ctx(|| "storing the checkpoint token".into())?;
        self.conn
            .execute_batch("commit")
            .ctx(|| "committing a checkpoint".into())?;
        self.begin()
    }

    /// The stored resource of this sync, if any.
    pub fn get_resource(&self, id: &pb::ResourceId) -> Result<Option<pb::Resource>> {
        store::get_object(&self.conn, &self.sync_id, &id.external_id())
    }

    /// True if resource `(resource_type, resource)` is stored in this sync.
    pub fn resource_exists(&self, resource_type: &str, resource: &str) -> Result<bool> {
        store::object_exists(
            &self.conn,
            schema::RESOURCES,
            &self.sync_id,
            &format!("{resource_type}:{resource}"),
        )
    }

    /// The stored entitlement of this sync, if any.
    pub fn get_entitlement(&self, id: &str) -> Result<Option<pb::Entitlement>> {
        store::get_object(&self.conn, &self.sync_id, id)
    }

    /// Current counts of this sync.
    pub fn stats(&self) -> Result<SyncStats> {
        store::compute_stats(&self.conn, &self.sync_id)
    }

    /// Ends the sync and publishes the c1z at the target: sets `ended_at` and
    /// `stats`, clears the sync's session rows, keeps the newest
    /// `keep_syncs` finished full syncs (VACUUM if it deleted any), makes the
    /// database self-contained, then compresses it into `<target>.tmp`,
    /// fsyncs, renames over the target, fsyncs the directory and removes the
    /// working file.
    ///
    /// On error the old target is intact and the working file (with this
    /// sync, finished or not) stays for the next run.
    pub fn finish(self) -> Result<FinishReport> {
        let C1zWriter {
            conn,
            target,
            working,
            sync_id,
            opts,
            ..
        } = self;

        let stats = store::compute_stats(&conn, &sync_id)?;
        let changed = conn
            .execute(
                "update v1_sync_runs set ended_at = ?1, stats = ?2 where sync_id = ?3 and ended_at is null",
                params![ids::now_text(), stats.to_stats_json(), sync_id],
            )
            .ctx(|| "ending the sync".into())?;
        if changed != 1 {
            return Err(C1zError::NotFound(format!("unfinished sync run {sync_id}")));
        }
        conn.execute(
            "delete from v1_connector_sessions where sync_id = ?1",
            [&sync_id],
        )
        .ctx(|| "clearing the session store".into())?;
        let deleted = if opts.skip_cleanup {
            Vec::new()
        } else {
            store::cleanup(&conn, opts.keep_syncs)?
        };
        conn.execute_batch("commit")
            .ctx(|| "committing the finished sync".into())?;

        // Baton vacuums after its cleanup deleted old syncs.
        if !deleted.is_empty() {
            conn.execute_batch("vacuum")
                .ctx(|| "vacuuming after cleanup".into())?;
        }
        make_self_contained(&conn)?;
        conn.close()
            .map_err(|(_, e)| e)
            .ctx(|| "closing the working database".into())?;

        let database_bytes = fs::metadata(&working)
            .map_err(|e| C1zError::io("reading metadata of", &working, e))?
            .len();
        // The target may have been replaced while we synced: re-check it.
        classify_target(&target)?;
        let written = envelope::compress_and_publish(&working, &target)?;
        // The artifact is published. A working file left without its note
        // would be reused as the base of the next sync, which it equals, so
        // errors past this point are ignored.
        if opts.keep_working {
            let _ = kept::write_note(&working, &target, &written);
        } else {
            let _ = remove_database(&working);
        }
        let _ = envelope::sync_dir(&target);

        Ok(FinishReport {
            sync_id,
            target,
            stats,
            database_bytes,
            c1z_bytes: written.bytes,
        })
    }

    /// Drops the working database: the next open starts from the published
    /// target again. What an abandoned refresh leaves, since its changes
    /// were made to the previous sync itself.
    pub fn discard_working(self) -> Result<()> {
        let C1zWriter { conn, working, .. } = self;
        drop(conn);
        kept::forget_note(&working)?;
        remove_database(&working)
    }

    /// Makes `sync_id` (a finished sync, reopened) the one this writer
    /// writes, in place.
    pub(crate) fn reopened(&mut self, sync_id: String) {
        self.sync_id = sync_id;
        self.refreshing = true;
    }

    /// Whether the sync being written may hold records (see the field).
    pub(crate) fn may_hold_records(&self) -> bool {
        self.may_hold_records
    }

    /// Whether this writer refreshes a finished sync in place.
    pub(crate) fn is_refreshing(&self) -> bool {
        self.refreshing
    }
}

/// Classifies the target; anything but missing, empty or v1 c1z is refused.
fn classify_target(target: &Path) -> Result<FileState> {
    envelope::sniff(target).map_err(|e| refuse(target, e))
}

fn refuse(target: &Path, e: C1zError) -> C1zError {
    if e.is_corrupt_input() {
        C1zError::RefuseOverwrite {
            path: target.to_path_buf(),
            reason: Box::new(e),
        }
    } else {
        e
    }
}

/// Creates the working database: a copy of the target's database, or a
/// fresh one. Built under a temporary name and renamed, so a crash never
/// leaves a half-made working file.
fn prepare_working(target: &Path, working: &Path, state: FileState) -> Result<()> {
    // Leftovers of a vanished working file must not be applied to a new one.
    remove_database(working)?;
    kept::forget_note(working)?;
    let tmp = envelope::with_suffix(working, TMP_SUFFIX);
    remove_database(&tmp)?;
    let built = match state {
        FileState::C1z => (|| {
            envelope::decompress_to(target, &tmp, envelope::DEFAULT_MAX_DECODED)?;
            // Prove it is a database with our schema, and nothing that
            // runs, before adopting it.
            let conn = sqlite::open_copy(&tmp, target, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
            schema::check_and_upgrade(&conn, target).map_err(|e| sqlite::reclassify(e, target))
        })()
        .map_err(|e| refuse(target, e)),
        FileState::Missing | FileState::Empty => (|| {
            let conn = sqlite::open_untrusted(
                &tmp,
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.execute_batch("pragma journal_mode = delete; pragma page_size = 4096;")
                .ctx(|| "configuring the working database".into())?;
            schema::create_all(&conn)?;
            conn.close()
                .map_err(|(_, e)| e)
                .ctx(|| "closing the new database".into())
        })(),
    };
    if let Err(e) = built {
        let _ = remove_database(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, working).map_err(|e| C1zError::io("renaming into place", working, e))?;
    envelope::sync_dir(working)
}

/// Removes the database `db` and the journal files SQLite keeps beside it,
/// those that exist; the first failure is returned after trying them all.
fn remove_database(db: &Path) -> Result<()> {
    let mut result = Ok(());
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let path = envelope::with_suffix(db, suffix);
        if let Err(e) = fs::remove_file(&path)
            && e.kind() != io::ErrorKind::NotFound
        {
            result = result.and(Err(C1zError::io("removing", &path, e)));
        }
    }
    result
}

fn busy_or(e: rusqlite::Error, working: &Path, context: &str) -> C1zError {
    if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
        || e.sqlite_error_code() == Some(ErrorCode::DatabaseLocked)
    {
        C1zError::WorkingFileBusy {
            path: working.to_path_buf(),
        }
    } else {
        sqlite::classify(e, working, || context.into())
    }
}

/// Opens the working database with the pragmas the durability contract
/// needs, and checks its schema.
fn open_working(working: &Path, opts: &WriterOptions) -> Result<Connection> {
    let mut head = [0u8; 16];
    let mut f = fs::File::open(working).map_err(|e| C1zError::io("opening", working, e))?;
    let n = io::Read::read(&mut f, &mut head).map_err(|e| C1zError::io("reading", working, e))?;
    if n < 16 || &head != envelope::SQLITE_HEADER {
        return Err(C1zError::NotSqlite {
            path: working.to_path_buf(),
        });
    }
    // A working file is ours only if nobody else could write next to the
    // target: it gets the same defensive settings as any other c1z.
    let conn = sqlite::open_untrusted(working, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    conn.busy_timeout(Duration::ZERO)
        .ctx(|| "setting the busy timeout".into())?;
    // Exclusive locking before WAL: no shared-memory file, and a second
    // writer on the same target fails instead of interleaving.
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
        .map_err(|e| busy_or(e, working, "setting locking_mode"))?;
    let mode: String = conn
        .query_row("pragma journal_mode = wal", [], |r| r.get(0))
        .map_err(|e| busy_or(e, working, "switching to WAL"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(C1zError::WorkingFileBusy {
            path: working.to_path_buf(),
        });
    }
    conn.execute_batch(&format!(
        "pragma synchronous = normal; pragma cache_size = -{}; pragma temp_store = file;",
        opts.cache_size_kib.max(1024)
    ))
    .map_err(|e| busy_or(e, working, "configuring the working database"))?;
    schema::check_and_upgrade(&conn, working).map_err(|e| sqlite::reclassify(e, working))?;
    Ok(conn)
}

/// Folds the WAL into the main file and switches back to a rollback journal,
/// so the database file alone is the whole database.
pub(crate) fn make_self_contained(conn: &Connection) -> Result<()> {
    conn.query_row("pragma wal_checkpoint(truncate)", [], |r| {
        r.get::<_, i64>(0)
    })
    .ctx(|| "checkpointing the WAL".into())?;
    let mode: String = conn
        .query_row("pragma journal_mode = delete", [], |r| r.get(0))
        .ctx(|| "leaving WAL mode".into())?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(C1zError::Sqlite {
            context: format!("leaving WAL mode (journal_mode is still {mode})"),
            source: rusqlite::Error::InvalidQuery,
        });
    }
    conn.execute_batch("pragma user_version = 0;")
        .ctx(|| "setting user_version".into())?;
    Ok(())
}
