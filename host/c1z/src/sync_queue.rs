//! The sync engine's resumable state, kept in side tables of the writer's
//! working database: the task queue (`host_sync_queue`), the set of tasks
//! seen with a page token (`host_sync_seen`) and what the sync has spent
//! (`host_sync_state`).
//!
//! Decisions:
//! * The tables live in the working database, inside the writer's open
//!   transaction, so they commit with the records a call produced at each
//!   [`C1zWriter::checkpoint`]: after a kill, queue and records agree.
//! * This crate alone speaks SQL to a c1z. The engine sees a typed API;
//!   tasks are opaque strings (the engine owns their shape) and seen-set
//!   entries opaque digests.
//! * The tables are not part of Baton's schema: [`SyncQueue::drop_tables`]
//!   removes them before the artifact is published.
//! * Rows are keyed by the writer's sync id, so a queue left by another
//!   sync is never read as this one's.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Result, SqlContext};
use crate::writer::C1zWriter;

const QUEUE_SCHEMA: &str = "create table if not exists host_sync_queue (
    id integer primary key autoincrement,
    sync_id text not null,
    phase integer not null,
    task text not null,
    unique (sync_id, phase, task)
)";
/// Tasks the sync has queued with a page token, and follow-ups, as digests.
/// Only this sync's rows exist: a new sync clears the table.
const SEEN_SCHEMA: &str = "create table if not exists host_sync_seen (
    digest blob primary key
) without rowid";
/// What must survive a resume besides the queue: calls made so far and
/// the record bytes they uploaded.
const STATE_SCHEMA: &str = "create table if not exists host_sync_state (
    sync_id text primary key,
    calls integer not null,
    bytes integer not null default 0
)";

/// One queued task: its row id (insertion order) and its stored text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedTask {
    pub id: i64,
    pub task: String,
}

/// What the queue of a sync holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueTotals {
    pub tasks: u64,
    /// Sum of the tasks' stored lengths.
    pub bytes: u64,
}

/// What a sync has spent across its resumes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spent {
    pub calls: u64,
    pub bytes: u64,
}

/// The side tables of the writer's sync. Get one with
/// [`C1zWriter::sync_queue`]; it borrows the writer for one statement or a
/// few, so records and queue changes interleave in the same transaction.
pub struct SyncQueue<'w> {
    conn: &'w Connection,
    sync_id: &'w str,
}

impl C1zWriter {
    /// The sync engine's side tables of this writer's sync.
    pub fn sync_queue(&self) -> SyncQueue<'_> {
        SyncQueue {
            conn: self.connection(),
            sync_id: self.sync_id(),
        }
    }
}

fn non_negative(n: i64) -> u64 {
    n.max(0) as u64
}

impl SyncQueue<'_> {
    /// Creates the side tables if they are missing (a new working file, or
    /// one from before they existed).
    pub fn create_tables(&self) -> Result<()> {
        for schema in [QUEUE_SCHEMA, SEEN_SCHEMA, STATE_SCHEMA] {
            self.conn
                .execute_batch(schema)
                .ctx(|| "creating the sync task queue".into())?;
        }
        Ok(())
    }

    /// Empties every side table: a new sync starts with no queue, no seen
    /// set and nothing spent, whatever an abandoned sync left.
    pub fn clear(&self) -> Result<()> {
        self.conn
            .execute_batch(
                "delete from host_sync_queue; delete from host_sync_seen; \
                 delete from host_sync_state;",
            )
            .ctx(|| "clearing the sync task queue".into())
    }

    /// Drops the side tables, so the published file has Baton's schema only.
    pub fn drop_tables(&self) -> Result<()> {
        self.conn
            .execute_batch(
                "drop table if exists host_sync_queue; drop table if exists host_sync_seen; \
                 drop table if exists host_sync_state;",
            )
            .ctx(|| "dropping the sync task queue".into())
    }

    /// Tasks queued for this sync and their stored bytes.
    pub fn totals(&self) -> Result<QueueTotals> {
        let (tasks, bytes) = self
            .conn
            .query_row(
                "select count(*), coalesce(sum(length(task)), 0) from host_sync_queue \
                 where sync_id = ?1",
                params![self.sync_id],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
            )
            .ctx(|| "counting the sync task queue".into())?;
        Ok(QueueTotals {
            tasks: non_negative(tasks),
            bytes: non_negative(bytes),
        })
    }

    /// Queues `task` in `phase`; false if that task is queued already.
    pub fn push(&self, phase: u8, task: &str) -> Result<bool> {
        let added = self
            .conn
            .prepare_cached(
                "insert or ignore into host_sync_queue (sync_id, phase, task) values (?1, ?2, ?3)",
            )
            .and_then(|mut s| s.execute(params![self.sync_id, phase, task]))
            .ctx(|| "queueing a sync task".into())?;
        Ok(added > 0)
    }

    /// Removes the task with row id `id`; false if it was not queued.
    pub fn remove(&self, id: i64) -> Result<bool> {
        let removed = self
            .conn
            .prepare_cached("delete from host_sync_queue where id = ?1 and sync_id = ?2")
            .and_then(|mut s| s.execute(params![id, self.sync_id]))
            .ctx(|| "removing a sync task".into())?;
        Ok(removed > 0)
    }

    /// Up to `limit` tasks of `phase` with a row id above `after`, in
    /// insertion order.
    pub fn next(&self, phase: u8, after: i64, limit: usize) -> Result<Vec<QueuedTask>> {
        let limit = saturating_i64(limit as u64);
        self.conn
            .prepare_cached(
                "select id, task from host_sync_queue where sync_id = ?1 and phase = ?2 \
                 and id > ?3 order by id limit ?4",
            )
            .and_then(|mut stmt| {
                let task = |r: &rusqlite::Row<'_>| {
                    Ok(QueuedTask {
                        id: r.get(0)?,
                        task: r.get(1)?,
                    })
                };
                stmt.query_map(params![self.sync_id, phase, after, limit], task)?
                    .collect()
            })
            .ctx(|| "reading the sync task queue".into())
    }

    /// Adds `digest` to the seen set; false if it was there already.
    pub fn first_sight(&self, digest: &[u8]) -> Result<bool> {
        let added = self
            .conn
            .prepare_cached("insert or ignore into host_sync_seen (digest) values (?1)")
            .and_then(|mut s| s.execute(params![digest]))
            .ctx(|| "remembering a sync task".into())?;
        Ok(added > 0)
    }

    /// Whether the seen set holds `digest`.
    pub fn seen(&self, digest: &[u8]) -> Result<bool> {
        self.conn
            .prepare_cached("select 1 from host_sync_seen where digest = ?1")
            .and_then(|mut s| s.exists(params![digest]))
            .ctx(|| "looking up a sync task".into())
    }

    /// Calls made and record bytes uploaded by this sync before now (zeros
    /// for a sync that has recorded none).
    pub fn spent(&self) -> Result<Spent> {
        let row: Option<(i64, i64)> = self
            .conn
            .query_row(
                "select calls, bytes from host_sync_state where sync_id = ?1",
                params![self.sync_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .ctx(|| "reading what the sync has spent".into())?;
        let (calls, bytes) = row.unwrap_or((0, 0));
        Ok(Spent {
            calls: non_negative(calls),
            bytes: non_negative(bytes),
        })
    }

    /// Records the calls this sync has made so far.
    pub fn set_calls(&self, calls: u64) -> Result<()> {
        self.conn
            .prepare_cached(
                "insert into host_sync_state (sync_id, calls) values (?1, ?2) \
                 on conflict (sync_id) do update set calls = excluded.calls",
            )
            .and_then(|mut s| s.execute(params![self.sync_id, saturating_i64(calls)]))
            .ctx(|| "recording the sync's calls".into())?;
        Ok(())
    }

    /// Records the record bytes this sync has uploaded so far.
    pub fn set_bytes(&self, bytes: u64) -> Result<()> {
        self.conn
            .prepare_cached(
                "insert into host_sync_state (sync_id, calls, bytes) values (?1, 0, ?2) \
                 on conflict (sync_id) do update set bytes = excluded.bytes",
            )
            .and_then(|mut s| s.execute(params![self.sync_id, saturating_i64(bytes)]))
            .ctx(|| "recording the sync's uploaded bytes".into())?;
        Ok(())
    }
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::{SyncStart, WriterOptions};

    fn open(target: &std::path::Path) -> (C1zWriter, SyncStart) {
        C1zWriter::open(target, WriterOptions::default()).unwrap()
    }

    #[test]
    fn a_queue_pushes_pages_and_removes_in_insertion_order() {
        let dir = tempfile::tempdir().unwrap();
        let (w, _) = open(&dir.path().join("s.c1z"));
        let q = w.sync_queue();
        q.create_tables().unwrap();
        assert_eq!(q.totals().unwrap(), QueueTotals::default());
        assert!(q.push(0, "a").unwrap());
        assert!(q.push(1, "bb").unwrap());
        assert!(q.push(0, "ccc").unwrap());
        // The same task in the same phase is queued once.
        assert!(!q.push(0, "a").unwrap());
        assert!(q.push(2, "a").unwrap());
        assert_eq!(q.totals().unwrap(), QueueTotals { tasks: 4, bytes: 7 });

        let phase0 = q.next(0, 0, 10).unwrap();
        let texts: Vec<&str> = phase0.iter().map(|t| t.task.as_str()).collect();
        assert_eq!(texts, ["a", "ccc"]);
        // Paging by row id.
        let rest = q.next(0, phase0[0].id, 10).unwrap();
        assert_eq!(rest, phase0[1..]);
        assert_eq!(q.next(0, 0, 1).unwrap(), phase0[..1]);

        assert!(q.remove(phase0[0].id).unwrap());
        assert!(!q.remove(phase0[0].id).unwrap());
        assert_eq!(q.totals().unwrap(), QueueTotals { tasks: 3, bytes: 6 });
        assert_eq!(q.next(1, 0, 10).unwrap()[0].task, "bb");
    }

    #[test]
    fn the_seen_set_remembers_digests() {
        let dir = tempfile::tempdir().unwrap();
        let (w, _) = open(&dir.path().join("s.c1z"));
        let q = w.sync_queue();
        q.create_tables().unwrap();
        let d = [7u8; 16];
        assert!(!q.seen(&d).unwrap());
        assert!(q.first_sight(&d).unwrap());
        assert!(!q.first_sight(&d).unwrap());
        assert!(q.seen(&d).unwrap());
        assert!(!q.seen(&[8u8; 16]).unwrap());
    }

    #[test]
    fn spent_counts_start_at_zero_and_update_independently() {
        let dir = tempfile::tempdir().unwrap();
        let (w, _) = open(&dir.path().join("s.c1z"));
        let q = w.sync_queue();
        q.create_tables().unwrap();
        assert_eq!(q.spent().unwrap(), Spent::default());
        q.set_calls(3).unwrap();
        q.set_bytes(100).unwrap();
        q.set_calls(4).unwrap();
        assert_eq!(
            q.spent().unwrap(),
            Spent {
                calls: 4,
                bytes: 100
            }
        );
        // Bytes first (no calls row yet) works too.
        q.clear().unwrap();
        q.set_bytes(9).unwrap();
        assert_eq!(q.spent().unwrap(), Spent { calls: 0, bytes: 9 });
    }

    /// The queue commits with the checkpoint and survives a dropped writer
    /// (a kill): the resumed sync reads it back; what came after the last
    /// checkpoint is gone, like the records.
    #[test]
    fn the_queue_resumes_with_its_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("s.c1z");
        let (mut w, start) = open(&target);
        let q = w.sync_queue();
        q.create_tables().unwrap();
        q.push(0, "kept").unwrap();
        q.first_sight(b"seen-digest").unwrap();
        q.set_calls(2).unwrap();
        w.checkpoint("token").unwrap();
        let q = w.sync_queue();
        q.push(0, "lost").unwrap();
        q.set_calls(5).unwrap();
        drop(w);

        let (w, resumed) = open(&target);
        assert_eq!(
            resumed,
            SyncStart::Resumed {
                sync_id: start.sync_id().to_string(),
                checkpoint: "token".into()
            }
        );
        let q = w.sync_queue();
        q.create_tables().unwrap();
        let tasks: Vec<String> = q
            .next(0, 0, 10)
            .unwrap()
            .into_iter()
            .map(|t| t.task)
            .collect();
        assert_eq!(tasks, ["kept"]);
        assert!(q.seen(b"seen-digest").unwrap());
        assert_eq!(q.spent().unwrap().calls, 2);
    }

    /// Rows of another sync are not this sync's queue.
    #[test]
    fn another_syncs_rows_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let (w, _) = open(&dir.path().join("s.c1z"));
        let q = w.sync_queue();
        q.create_tables().unwrap();
        w.connection()
            .execute(
                "insert into host_sync_queue (sync_id, phase, task) values ('other', 0, 'x')",
                [],
            )
            .unwrap();
        assert_eq!(q.totals().unwrap(), QueueTotals::default());
        assert!(q.next(0, 0, 10).unwrap().is_empty());
        let other_id: i64 = w
            .connection()
            .query_row("select id from host_sync_queue", [], |r| r.get(0))
            .unwrap();
        assert!(!q.remove(other_id).unwrap());
    }

    /// The published artifact carries none of the side tables.
    #[test]
    fn dropped_tables_are_not_published() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("s.c1z");
        let (w, _) = open(&target);
        let q = w.sync_queue();
        q.create_tables().unwrap();
        q.push(0, "t").unwrap();
        q.drop_tables().unwrap();
        w.finish().unwrap();
        let db = dir.path().join("out.db");
        crate::envelope::decompress_to(&target, &db, crate::envelope::DEFAULT_MAX_DECODED).unwrap();
        let conn = rusqlite::Connection::open(&db).unwrap();
        let n: i64 = conn
            .query_row(
                "select count(*) from sqlite_master where name like 'host_sync%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 0);
    }
}
