//! Incremental syncs inside the writer: the last finished sync refreshed
//! in place, scoped deletions, and the change-log mark kept with a sync.
//!
//! Decisions:
//! * An incremental sync is a complete snapshot, not a delta: every
//!   consumer (inspect, diff, ConductorOne) reads the latest finished full
//!   sync and must see everything. Baton's format stamps every row with its
//!   sync id, so a snapshot under a new id means writing every row again,
//!   copied or relabelled, which at 100k users costs many times what the
//!   changes do (docs/benchmarks.md). So the changes are applied to the last finished
//!   sync itself ([`C1zWriter::refresh_in_place`]): it is reopened, changed
//!   and ended again, keeping its id, with `started_at` and `ended_at` of
//!   the refresh. The file's other syncs stay, so `diff` still compares the
//!   refreshed snapshot with the sync before it. Untouched rows keep their
//!   `discovered_at`: they were discovered then, not now.
//! * A refresh is never half-published: the reopened sync is unfinished
//!   until it ends, so an interrupted refresh is resumed like any sync, and
//!   one that is abandoned ([`C1zWriter::abandon`]) drops the working
//!   database, whose previous sync it has changed, so the next run starts
//!   from the published file again.
//! * Changes are applied as "drop what the previous sync held for this
//!   object, then store what the upstream says now". The deletions are
//!   scoped by the side columns Baton's readers filter on, each backed by
//!   one of the schema's indexes: a resource with its entitlements, the
//!   grants on those and the grants it holds as principal; the grants of
//!   one principal; the grants on one resource's entitlements; the
//!   entitlements of one resource. They run inside the writer's open
//!   transaction, so they commit with the records that replace them.
//! * Entitlements and grants embed a copy of their resource (a grant the
//!   minimal entitlement around it). When a re-read stores a resource anew
//!   but keeps the records on it, those copies are rewritten
//!   ([`C1zWriter::refresh_embedded_resource`]), or the snapshot would
//!   differ from a full sync's in every grant on a changed group.
//! * The change-log position (the high-water mark and the ids of the
//!   records read in the overlap window) is stored per sync in a table of
//!   its own, `host_change_marks`, which is kept in the published file: it
//!   must survive publishing, or the next run could not continue from it.
//!   Baton's readers select the tables they know by name and ignore
//!   others, and [`crate::sqlite::vet_schema`] accepts plain tables, so the
//!   file stays a c1z for every tool. The table has no trigger and no
//!   default that calls a function; its rows are keyed by sync id and rows
//!   of syncs the file no longer holds are pruned whenever a mark is
//!   written.
//! * A mark read from a file is untrusted input: a table of another shape
//!   or a row that does not parse is an error naming the problem (the
//!   caller then runs a full sync), never a guess.

use chrono::{DateTime, Utc};
use prost::Message;
use rusqlite::{OptionalExtension, params};

use crate::error::{C1zError, Result, SqlContext};
use crate::pb;
use crate::store::{self, SYNC_TYPE_FULL, SyncRun};
use crate::writer::C1zWriter;

/// The side table holding each sync's change-log mark.
pub const CHANGE_MARKS: &str = "host_change_marks";

const MARKS_SCHEMA: &str = "create table if not exists host_change_marks (
    sync_id text primary key,
    high_water_seconds integer not null,
    high_water_nanos integer not null,
    origin text not null,
    record_ids text not null
)";

/// Record ids kept with a mark at most. Ids only spare re-reads of changes
/// already applied (applying a change twice re-reads current state, which
/// is harmless), so a burst beyond this keeps the newest ids and costs a
/// few repeated reads, not correctness.
pub const MAX_MARK_RECORD_IDS: usize = 100_000;

/// Where a finished sync left the upstream's change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeMark {
    /// Every change before this instant is in the sync.
    pub high_water: DateTime<Utc>,
    /// What the sync was made from (component and configuration, as the
    /// caller fingerprints them): a mark from another origin does not
    /// describe this one's data.
    pub origin: String,
    /// Ids of change records already applied that a later, overlapping
    /// window may return again.
    pub record_ids: Vec<String>,
}

/// Rows a scoped deletion removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deleted {
    pub resources: u64,
    pub entitlements: u64,
    pub grants: u64,
}

impl std::ops::AddAssign for Deleted {
    fn add_assign(&mut self, o: Deleted) {
        self.resources += o.resources;
        self.entitlements += o.entitlements;
        self.grants += o.grants;
    }
}

/// A principal's grants on the entitlements of resources of one type.
const DELETE_PRINCIPAL_GRANTS_ON_TYPE: &str = "delete from v1_grants \
     where principal_resource_type_id = ?1 and principal_resource_id = ?2 and sync_id = ?3 \
     and resource_type_id = ?4";
/// A principal's grants on the entitlements of one resource.
const DELETE_PRINCIPAL_GRANTS_ON_RESOURCE: &str = "delete from v1_grants \
     where principal_resource_type_id = ?1 and principal_resource_id = ?2 and sync_id = ?3 \
     and resource_type_id = ?4 and resource_id = ?5";
/// The grants on one resource's entitlements held by principals of one type.
const DELETE_RESOURCE_GRANTS_OF_TYPE: &str = "delete from v1_grants \
     where resource_type_id = ?1 and resource_id = ?2 and sync_id = ?3 \
     and principal_resource_type_id = ?4";

fn as_count(n: usize) -> u64 {
    n as u64
}

impl C1zWriter {
    /// The latest finished full sync of the file other than the one being
    /// written: what an incremental sync continues from.
    pub fn latest_finished_full(&self) -> Result<Option<SyncRun>> {
        let latest = store::latest_finished(self.connection(), SYNC_TYPE_FULL)?;
        Ok(latest.filter(|r| r.sync_id != self.sync_id()))
    }

    /// Reopens the finished full sync `from` to be refreshed in place and
    /// drops this writer's own new sync, which must not hold records yet.
    /// Every later write of this writer goes to `from`'s records, and
    /// [`C1zWriter::finish`] ends it again. Its run starts anew
    /// (`started_at` now, no checkpoint, no stats until it ends) and keeps
    /// its id and type; the file's other syncs stay as they are.
    pub fn refresh_in_place(&mut self, from: &str) -> Result<()> {
        let run = store::get_sync_run(self.connection(), from)?
            .ok_or_else(|| C1zError::NotFound(format!("sync run {from}")))?;
        if from == self.sync_id() || !run.is_finished() || !run.is_full() {
            return Err(C1zError::NotFound(format!(
                "finished full sync {from} other than the one being written"
            )));
        }
        let own = self.sync_id().to_string();
        if self.may_hold_records() {
            return Err(C1zError::InvalidRecord {
                kind: "sync",
                reason: format!(
                    "sync {own} may already hold records; it cannot become a refresh of {from}"
                ),
            });
        }
        let conn = self.connection();
        conn.execute("delete from v1_sync_runs where sync_id = ?1", [&own])
            .ctx(|| "dropping the new sync run".into())?;
        conn.execute(
            "update v1_sync_runs set started_at = ?1, ended_at = null, sync_token = '', \
             stats = null where sync_id = ?2",
            params![crate::ids::now_text(), from],
        )
        .ctx(|| format!("reopening sync {from}"))?;
        self.reopened(from.to_string());
        Ok(())
    }

    /// Deletes resource `id` from this sync with its entitlements, every
    /// grant on them and every grant it holds as principal: what a resource
    /// the upstream no longer has leaves behind.
    pub fn delete_resource_scope(&mut self, id: &pb::ResourceId) -> Result<Deleted> {
        let mut d = Deleted {
            resources: self.delete_resource_row(id)?,
            ..Deleted::default()
        };
        d += self.delete_entitlements_and_their_grants(id)?;
        d.grants += self.delete_grants_of_principal(id)?;
        Ok(d)
    }

    /// Deletes resource `id`'s own row only (its entitlements and grants
    /// stay): the row is about to be stored again, with its current parent.
    pub fn delete_resource_row(&mut self, id: &pb::ResourceId) -> Result<u64> {
        self.connection()
            .prepare_cached("delete from v1_resources where external_id = ?1 and sync_id = ?2")
            .and_then(|mut s| s.execute(params![id.external_id(), self.sync_id()]))
            .map(as_count)
            .ctx(|| format!("deleting resource {}", id.external_id()))
    }

    /// Deletes the entitlements of resource `id` and every grant on them.
    pub fn delete_entitlements_and_their_grants(&mut self, id: &pb::ResourceId) -> Result<Deleted> {
        let grants = self.delete_grants_on_resource(id)?;
        let entitlements = self.delete_entitlements_of_resource(id)?;
        Ok(Deleted {
            resources: 0,
            entitlements,
            grants,
        })
    }

    /// Deletes every grant `principal` holds.
    pub fn delete_grants_of_principal(&mut self, principal: &pb::ResourceId) -> Result<u64> {
        self.connection()
            .prepare_cached(
                "delete from v1_grants where principal_resource_type_id = ?1 \
                 and principal_resource_id = ?2 and sync_id = ?3",
            )
            .and_then(|mut s| {
                s.execute(params![
                    principal.resource_type,
                    principal.resource,
                    self.sync_id()
                ])
            })
            .map(as_count)
            .ctx(|| format!("deleting the grants of {}", principal.external_id()))
    }

    /// Deletes the grants `principal` holds on the entitlements of
    /// resources of `resource_types` and on those of `resources`: what a
    /// scoped re-read of its grants replaces. One statement per type and
    /// per resource, each served by the principal index.
    pub fn delete_grants_of_principal_in_scope(
        &mut self,
        principal: &pb::ResourceId,
        resource_types: &[String],
        resources: &[pb::ResourceId],
    ) -> Result<u64> {
        let what = || format!("deleting scoped grants of {}", principal.external_id());
        let sync_id = self.sync_id().to_string();
        let conn = self.connection();
        let mut deleted = 0;
        for t in resource_types {
            deleted += conn
                .prepare_cached(DELETE_PRINCIPAL_GRANTS_ON_TYPE)
                .and_then(|mut s| {
                    s.execute(params![
                        principal.resource_type,
                        principal.resource,
                        sync_id,
                        t
                    ])
                })
                .map(as_count)
                .ctx(what)?;
        }
        for r in resources {
            deleted += conn
                .prepare_cached(DELETE_PRINCIPAL_GRANTS_ON_RESOURCE)
                .and_then(|mut s| {
                    s.execute(params![
                        principal.resource_type,
                        principal.resource,
                        sync_id,
                        r.resource_type,
                        r.resource
                    ])
                })
                .map(as_count)
                .ctx(what)?;
        }
        Ok(deleted)
    }

    /// Deletes the grants on resource `id`'s entitlements held by
    /// principals of `principal_types` (grants held by other types stay):
    /// what a re-read of a membership rule replaces. One statement per
    /// type, served by the grants' resource index.
    pub fn delete_grants_on_resource_held_by(
        &mut self,
        id: &pb::ResourceId,
        principal_types: &[String],
    ) -> Result<u64> {
        let what = || format!("deleting grants on {} by type", id.external_id());
        let sync_id = self.sync_id().to_string();
        let conn = self.connection();
        let mut deleted = 0;
        for t in principal_types {
            deleted += conn
                .prepare_cached(DELETE_RESOURCE_GRANTS_OF_TYPE)
                .and_then(|mut s| s.execute(params![id.resource_type, id.resource, sync_id, t]))
                .map(as_count)
                .ctx(what)?;
        }
        Ok(deleted)
    }

    /// Deletes every grant on an entitlement of resource `id`.
    pub fn delete_grants_on_resource(&mut self, id: &pb::ResourceId) -> Result<u64> {
        self.connection()
            .prepare_cached(
                "delete from v1_grants where resource_type_id = ?1 and resource_id = ?2 \
                 and sync_id = ?3",
            )
            .and_then(|mut s| s.execute(params![id.resource_type, id.resource, self.sync_id()]))
            .map(as_count)
            .ctx(|| format!("deleting the grants on {}", id.external_id()))
    }

    /// Deletes the grants on resource `id`'s entitlements except those on
    /// an entitlement in `keep`: what a re-read resource whose grants come
    /// from elsewhere leaves when its entitlements changed.
    pub fn delete_grants_on_resource_except(
        &mut self,
        id: &pb::ResourceId,
        keep: &[String],
    ) -> Result<u64> {
        let what = || format!("deleting the grants on {}", id.external_id());
        let held: Vec<String> = {
            let mut stmt = self
                .connection()
                .prepare_cached(
                    "select distinct entitlement_id from v1_grants where resource_type_id = ?1 \
                     and resource_id = ?2 and sync_id = ?3",
                )
                .ctx(what)?;
            let rows = stmt
                .query_map(
                    params![id.resource_type, id.resource, self.sync_id()],
                    |r| r.get::<_, String>(0),
                )
                .ctx(what)?;
            rows.collect::<rusqlite::Result<_>>().ctx(what)?
        };
        let mut deleted = 0;
        for stale in held.iter().filter(|e| !keep.contains(e)) {
            deleted += self
                .connection()
                .prepare_cached(
                    "delete from v1_grants where resource_type_id = ?1 and resource_id = ?2 \
                     and entitlement_id = ?3 and sync_id = ?4",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        id.resource_type,
                        id.resource,
                        stale,
                        self.sync_id()
                    ])
                })
                .map(as_count)
                .ctx(what)?;
        }
        Ok(deleted)
    }

    /// Rewrites the copies of `resource` that this sync's records embed:
    /// its entitlements' `resource` and, in the grants on them,
    /// `entitlement.resource`. Rows whose copy is current already are left
    /// alone. Returns the rows rewritten.
    pub fn refresh_embedded_resource(&mut self, resource: &pb::Resource) -> Result<u64> {
        let id = resource
            .id
            .as_ref()
            .ok_or_else(|| C1zError::InvalidRecord {
                kind: "resource",
                reason: "no id".into(),
            })?;
        let what = || format!("refreshing the copies of {}", id.external_id());
        let sync_id = self.sync_id().to_string();
        let conn = self.connection();
        let rows = |table: &str| -> Result<Vec<(i64, Vec<u8>)>> {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "select id, data from {table} where resource_type_id = ?1 \
                     and resource_id = ?2 and sync_id = ?3"
                ))
                .ctx(what)?;
            let rows = stmt
                .query_map(params![id.resource_type, id.resource, sync_id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .ctx(what)?;
            rows.collect::<rusqlite::Result<_>>().ctx(what)
        };
        let update = |table: &str, row: i64, data: Vec<u8>| -> Result<()> {
            conn.prepare_cached(&format!("update {table} set data = ?1 where id = ?2"))
                .and_then(|mut s| s.execute(params![data, row]))
                .ctx(what)?;
            Ok(())
        };
        let decode_error = |kind: &'static str| {
            move |e: prost::DecodeError| C1zError::InvalidRecord {
                kind,
                reason: format!("a stored row does not decode: {e}"),
            }
        };
        let mut rewritten = 0;
        for (row, data) in rows("v1_entitlements")? {
            let mut e =
                pb::Entitlement::decode(data.as_slice()).map_err(decode_error("entitlement"))?;
            if e.resource.as_ref() != Some(resource) {
                e.resource = Some(resource.clone());
                update("v1_entitlements", row, e.encode_to_vec())?;
                rewritten += 1;
            }
        }
        for (row, data) in rows("v1_grants")? {
            let mut g = pb::Grant::decode(data.as_slice()).map_err(decode_error("grant"))?;
            if let Some(e) = g.entitlement.as_mut()
                && e.resource.as_ref() != Some(resource)
            {
                e.resource = Some(resource.clone());
                update("v1_grants", row, g.encode_to_vec())?;
                rewritten += 1;
            }
        }
        Ok(rewritten)
    }

    /// The resource type ids stored with sync `sync_id`, sorted.
    pub fn resource_type_ids(&self, sync_id: &str) -> Result<Vec<String>> {
        let what = || format!("listing the resource types of sync {sync_id}");
        let mut stmt = self
            .connection()
            .prepare_cached(
                "select external_id from v1_resource_types where sync_id = ?1 order by external_id",
            )
            .ctx(what)?;
        let rows = stmt
            .query_map([sync_id], |r| r.get::<_, String>(0))
            .ctx(what)?;
        rows.collect::<rusqlite::Result<_>>().ctx(what)
    }

    /// Deletes the entitlements of resource `id` (not the grants on them).
    pub fn delete_entitlements_of_resource(&mut self, id: &pb::ResourceId) -> Result<u64> {
        self.connection()
            .prepare_cached(
                "delete from v1_entitlements where resource_type_id = ?1 and resource_id = ?2 \
                 and sync_id = ?3",
            )
            .and_then(|mut s| s.execute(params![id.resource_type, id.resource, self.sync_id()]))
            .map(as_count)
            .ctx(|| format!("deleting the entitlements of {}", id.external_id()))
    }

    /// Stores the change-log mark of this sync (replacing one stored
    /// before), keeping at most [`MAX_MARK_RECORD_IDS`] record ids (the
    /// last ones), and prunes marks of syncs the file no longer holds.
    pub fn set_change_mark(&mut self, mark: &ChangeMark) -> Result<()> {
        let conn = self.connection();
        conn.execute_batch(MARKS_SCHEMA)
            .ctx(|| format!("creating {CHANGE_MARKS}"))?;
        let skip = mark.record_ids.len().saturating_sub(MAX_MARK_RECORD_IDS);
        let ids = serde_json::to_string(&mark.record_ids[skip..]).expect("strings serialize");
        conn.execute(
            "insert into host_change_marks (sync_id, high_water_seconds, high_water_nanos, origin, \
             record_ids) values (?1, ?2, ?3, ?4, ?5) on conflict (sync_id) do update set \
             high_water_seconds = excluded.high_water_seconds, \
             high_water_nanos = excluded.high_water_nanos, origin = excluded.origin, \
             record_ids = excluded.record_ids",
            params![
                self.sync_id(),
                mark.high_water.timestamp(),
                mark.high_water.timestamp_subsec_nanos(),
                mark.origin,
                ids
            ],
        )
        .ctx(|| "storing the change-log mark".into())?;
        conn.execute(
            "delete from host_change_marks where sync_id not in (select sync_id from v1_sync_runs)",
            [],
        )
        .ctx(|| "pruning change-log marks of deleted syncs".into())?;
        Ok(())
    }

    /// The change-log mark stored with `sync_id`, if any.
    pub fn change_mark(&self, sync_id: &str) -> Result<Option<ChangeMark>> {
        read_change_mark(self.connection(), sync_id)
    }

    /// Ends this sync without publishing it: a new sync's rows are deleted
    /// and the deletion committed, so the next writer on the file starts a
    /// new sync instead of resuming an empty one; a refresh drops the
    /// working database instead. The published file is untouched.
    pub fn abandon(self) -> Result<()> {
        if self.is_refreshing() {
            return self.discard_working();
        }
        let conn = self.connection();
        store::delete_sync(conn, self.sync_id())?;
        let has_marks = table_exists(conn, CHANGE_MARKS)?;
        if has_marks {
            conn.execute(
                "delete from host_change_marks where sync_id = ?1",
                [self.sync_id()],
            )
            .ctx(|| "deleting the abandoned sync's mark".into())?;
        }
        conn.execute_batch("commit")
            .ctx(|| "committing the abandoned sync".into())
    }
}

fn table_exists(conn: &rusqlite::Connection, name: &str) -> Result<bool> {
    conn.prepare_cached("select 1 from sqlite_schema where type = 'table' and name = ?1")
        .and_then(|mut s| s.exists([name]))
        .ctx(|| format!("looking up table {name}"))
}

/// Reads the mark of `sync_id` from `conn`; `None` if the file has no mark
/// table or no mark for that sync.
pub fn read_change_mark(conn: &rusqlite::Connection, sync_id: &str) -> Result<Option<ChangeMark>> {
    if !table_exists(conn, CHANGE_MARKS)? {
        return Ok(None);
    }
    let row = conn
        .query_row(
            "select high_water_seconds, high_water_nanos, origin, record_ids \
             from host_change_marks where sync_id = ?1",
            [sync_id],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            },
        )
        .optional()
        .ctx(|| format!("reading the change-log mark of sync {sync_id}"))?;
    let Some((seconds, nanos, origin, ids)) = row else {
        return Ok(None);
    };
    let bad = |detail: String| C1zError::InvalidRecord {
        kind: "change-log mark",
        reason: format!("sync {sync_id}: {detail}"),
    };
    let high_water = u32::try_from(nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)
        .and_then(|n| DateTime::<Utc>::from_timestamp(seconds, n))
        .ok_or_else(|| {
            bad(format!(
                "high-water mark {seconds}s {nanos}ns is not a time"
            ))
        })?;
    let record_ids: Vec<String> = serde_json::from_str(&ids)
        .map_err(|e| bad(format!("record ids are not a list of strings: {e}")))?;
    if record_ids.len() > MAX_MARK_RECORD_IDS {
        return Err(bad(format!(
            "{} record ids, over the cap of {MAX_MARK_RECORD_IDS}",
            record_ids.len()
        )));
    }
    Ok(Some(ChangeMark {
        high_water,
        origin,
        record_ids,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::C1zReader;
    use crate::writer::{SyncStart, WriterOptions};
    use std::path::Path;

    fn rid(t: &str, r: &str) -> pb::ResourceId {
        pb::ResourceId::new(t, r)
    }

    fn resource(t: &str, r: &str) -> pb::Resource {
        pb::Resource {
            id: Some(rid(t, r)),
            display_name: format!("{t} {r}"),
            ..Default::default()
        }
    }

    fn member(group: &str) -> pb::Entitlement {
        pb::Entitlement {
            id: format!("group:{group}:member"),
            resource: Some(resource("group", group)),
            slug: "member".into(),
            ..Default::default()
        }
    }

    fn grant(group: &str, user: &str) -> pb::Grant {
        pb::Grant {
            id: format!("group:{group}:member:user:{user}"),
            entitlement: Some(member(group)),
            principal: Some(resource("user", user)),
            ..Default::default()
        }
    }

    fn types() -> Vec<pb::ResourceType> {
        ["user", "group"]
            .iter()
            .map(|t| pb::ResourceType {
                id: (*t).into(),
                display_name: (*t).into(),
                ..Default::default()
            })
            .collect()
    }

    /// A published file with one finished sync: users a, b; groups g, h
    /// (each with a member entitlement); a in g and h, b in g; group g is
    /// itself a member of h.
    fn first_sync(file: &Path) -> String {
        let (mut w, _) = C1zWriter::open(file, WriterOptions::default()).unwrap();
        w.put_resource_types(&types()).unwrap();
        w.put_resources(&[
            resource("user", "a"),
            resource("user", "b"),
            resource("group", "g"),
            resource("group", "h"),
        ])
        .unwrap();
        w.put_entitlements(&[member("g"), member("h")]).unwrap();
        let nested = pb::Grant {
            id: "group:h:member:group:g".into(),
            entitlement: Some(member("h")),
            principal: Some(resource("group", "g")),
            ..Default::default()
        };
        w.put_grants(&[grant("g", "a"), grant("h", "a"), grant("g", "b"), nested])
            .unwrap();
        w.finish().unwrap().sync_id
    }

    /// A writer refreshing the file's latest finished sync, and its id.
    fn second(file: &Path) -> (C1zWriter, String) {
        let (mut w, start) = C1zWriter::open(file, WriterOptions::default()).unwrap();
        assert!(matches!(start, SyncStart::New { .. }));
        let prev = w.latest_finished_full().unwrap().unwrap().sync_id;
        w.refresh_in_place(&prev).unwrap();
        (w, prev)
    }

    /// The grant ids of the sync readers show by default.
    fn grant_ids(file: &Path) -> Vec<String> {
        let r = C1zReader::open(file).unwrap();
        let view = r.default_sync().unwrap().unwrap().sync_id;
        let mut ids: Vec<String> = r
            .grants(&view, &Default::default())
            .map(|g| g.unwrap().id)
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn a_refresh_reopens_the_last_sync_and_keeps_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.c1z");
        let older = first_sync(&file);
        let last = first_sync(&file);
        let before = C1zReader::open(&file)
            .unwrap()
            .sync(&last)
            .unwrap()
            .unwrap();
        let (mut w, prev) = second(&file);
        assert_eq!(prev, last);
        assert_eq!(w.sync_id(), last);
        // Already reopened: refreshing it again is refused.
        assert!(w.refresh_in_place(&prev).is_err());
        w.delete_grants_of_principal(&rid("user", "b")).unwrap();
        let report = w.finish().unwrap();
        assert_eq!(report.sync_id, last);
        assert_eq!(report.stats.resources, 4);
        assert_eq!(report.stats.entitlements, 2);
        assert_eq!(report.stats.grants, 3);
        assert_eq!(report.stats.resource_types, 2);

        let r = C1zReader::open(&file).unwrap();
        let runs: Vec<String> = r.syncs().unwrap().into_iter().map(|s| s.sync_id).collect();
        assert_eq!(
            runs,
            [older.clone(), last.clone()],
            "no new run, none dropped"
        );
        let after = r.sync(&last).unwrap().unwrap();
        assert_eq!(after.sync_type, "full");
        assert_eq!(after.parent_sync_id, "");
        assert!(after.started_at > before.started_at, "{after:?} {before:?}");
        assert!(after.ended_at > before.ended_at);
        assert_eq!(r.default_sync().unwrap().unwrap().sync_id, last);
        assert_eq!(grant_ids(&file).len(), 3);
        // The sync before it is untouched, for diff.
        let old_grants = r.grants(&older, &Default::default()).count();
        assert_eq!(old_grants, 4);
    }

    #[test]
    fn only_a_finished_full_sync_is_refreshed_by_an_empty_writer() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.c1z");
        let (mut w, _) = C1zWriter::open(&file, WriterOptions::default()).unwrap();
        assert!(w.latest_finished_full().unwrap().is_none());
        let own = w.sync_id().to_string();
        assert!(w.refresh_in_place(&own).is_err());
        assert!(w.refresh_in_place("nope").is_err());
        drop(w);

        let prev = first_sync(&file);
        let (mut w, _) = C1zWriter::open(&file, WriterOptions::default()).unwrap();
        w.put_resource_types(&types()).unwrap();
        let e = w.refresh_in_place(&prev).unwrap_err();
        assert!(e.to_string().contains("may already hold records"), "{e}");
        drop(w);

        // A resumed sync may hold records from the run before, even when
        // this writer has stored nothing yet.
        let (mut w, start) = C1zWriter::open(&file, WriterOptions::default()).unwrap();
        assert!(matches!(start, crate::SyncStart::Resumed { .. }));
        let e = w.refresh_in_place(&prev).unwrap_err();
        assert!(e.to_string().contains("may already hold records"), "{e}");
    }

    #[test]
    fn a_deleted_resource_takes_its_entitlements_and_both_sides_of_its_grants() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.c1z");
        first_sync(&file);
        let (mut w, _) = second(&file);
        // g: its member entitlement, the grants on it (a, b) and the grant
        // it holds as principal (member of h).
        let d = w.delete_resource_scope(&rid("group", "g")).unwrap();
        assert_eq!(
            d,
            Deleted {
                resources: 1,
                entitlements: 1,
                grants: 3
            }
        );
        w.finish().unwrap();
        assert_eq!(grant_ids(&file), vec!["group:h:member:user:a"]);
        let r = C1zReader::open(&file).unwrap();
        let view = r.default_sync().unwrap().unwrap().sync_id;
        assert_eq!(r.stats(&view).unwrap().resources, 3);
        assert_eq!(r.stats(&view).unwrap().entitlements, 1);
    }

    #[test]
    fn scoped_deletions_touch_only_their_scope_and_this_sync() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.c1z");
        // The deletions go to the refreshed sync; the one before it stays.
        let first = first_sync(&file);
        first_sync(&file);
        let (mut w, _) = second(&file);
        assert_eq!(w.delete_grants_of_principal(&rid("user", "a")).unwrap(), 2);
        assert_eq!(w.delete_grants_on_resource(&rid("group", "h")).unwrap(), 1);
        assert_eq!(
            w.delete_entitlements_of_resource(&rid("group", "h"))
                .unwrap(),
            1
        );
        assert_eq!(w.delete_resource_row(&rid("user", "b")).unwrap(), 1);
        // Nothing left in scope: a second deletion removes nothing.
        assert_eq!(w.delete_grants_of_principal(&rid("user", "a")).unwrap(), 0);
        let new = w.finish().unwrap();
        assert_eq!(grant_ids(&file), vec!["group:g:member:user:b"]);
        assert_eq!(new.stats.resources, 3);
        assert_eq!(new.stats.entitlements, 1);
        // The sync before it is untouched.
        let r = C1zReader::open(&file).unwrap();
        assert_eq!(r.stats(&first).unwrap().grants, 4);
        assert_eq!(r.stats(&first).unwrap().resources, 4);
    }

    #[test]
    fn a_scoped_principal_deletion_touches_only_its_scope() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.c1z");
        // The deletions go to the refreshed sync; the one before it stays.
        let first = first_sync(&file);
        first_sync(&file);
        let (mut w, _) = second(&file);
        let a = rid("user", "a");
        let none: &[pb::ResourceId] = &[];
        // A type a holds nothing on, then one resource, then the type.
        assert_eq!(
            w.delete_grants_of_principal_in_scope(&a, &["role".into()], none)
                .unwrap(),
            0
        );
        assert_eq!(
            w.delete_grants_of_principal_in_scope(&a, &[], &[rid("group", "h")])
                .unwrap(),
            1
        );
        assert_eq!(
            w.delete_grants_of_principal_in_scope(&a, &["group".into()], none)
                .unwrap(),
            1
        );
        // An empty scope deletes nothing; another principal keeps its own.
        assert_eq!(
            w.delete_grants_of_principal_in_scope(&rid("user", "b"), &[], none)
                .unwrap(),
            0
        );
        w.finish().unwrap();
        assert_eq!(
            grant_ids(&file),
            ["group:g:member:user:b", "group:h:member:group:g"]
        );
        let r = C1zReader::open(&file).unwrap();
        assert_eq!(
            r.stats(&first).unwrap().grants,
            4,
            "the sync before it is untouched"
        );
    }

    #[test]
    fn a_resource_grants_deletion_keeps_other_principal_types() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.c1z");
        first_sync(&file);
        let (mut w, _) = second(&file);
        let (g, h) = (rid("group", "g"), rid("group", "h"));
        assert_eq!(
            w.delete_grants_on_resource_held_by(&g, &["group".into()])
                .unwrap(),
            0
        );
        assert_eq!(
            w.delete_grants_on_resource_held_by(&h, &["user".into()])
                .unwrap(),
            1
        );
        assert_eq!(w.delete_grants_on_resource_held_by(&g, &[]).unwrap(), 0);
        w.finish().unwrap();
        assert_eq!(
            grant_ids(&file),
            [
                "group:g:member:user:a",
                "group:g:member:user:b",
                "group:h:member:group:g"
            ]
        );
    }

    #[test]
    fn scoped_grant_deletions_are_served_by_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.c1z");
        first_sync(&file);
        let (w, _) = second(&file);
        for (sql, index) in [
            (
                DELETE_PRINCIPAL_GRANTS_ON_TYPE,
                "idx_grants_principal_id_v1",
            ),
            (
                DELETE_PRINCIPAL_GRANTS_ON_RESOURCE,
                "idx_grants_principal_id_v1",
            ),
            (
                DELETE_RESOURCE_GRANTS_OF_TYPE,
                "idx_grants_resource_type_id_resource_id_v1",
            ),
        ] {
            let mut stmt = w
                .connection()
                .prepare(&format!("explain query plan {sql}"))
                .unwrap();
            let n = stmt.parameter_count();
            let params: Vec<String> = (0..n).map(|i| i.to_string()).collect();
            let plan: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(params.iter()), |r| {
                    r.get::<_, String>(3)
                })
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            assert!(plan.iter().any(|d| d.contains(index)), "{sql}: {plan:?}");
            assert!(
                !plan.iter().any(|d| d.starts_with("SCAN")),
                "{sql}: {plan:?}"
            );
        }
    }

    #[test]
    fn a_resource_stored_anew_is_copied_into_the_records_on_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.c1z");
        first_sync(&file);
        let (mut w, _) = second(&file);
        let renamed = pb::Resource {
            display_name: "group g, renamed".into(),
            ..resource("group", "g")
        };
        w.put_resources(std::slice::from_ref(&renamed)).unwrap();
        // Its entitlement and the two grants on it; not the grant g holds.
        assert_eq!(w.refresh_embedded_resource(&renamed).unwrap(), 3);
        assert_eq!(w.refresh_embedded_resource(&renamed).unwrap(), 0);
        w.finish().unwrap();
        let r = C1zReader::open(&file).unwrap();
        let view = r.default_sync().unwrap().unwrap().sync_id;
        let embedded: Vec<String> = r
            .grants(&view, &Default::default())
            .map(|g| g.unwrap())
            .map(|g| {
                let e = g.entitlement.unwrap();
                format!("{} {}", g.id, e.resource.unwrap().display_name)
            })
            .collect();
        let mut embedded = embedded;
        embedded.sort();
        assert_eq!(
            embedded,
            [
                "group:g:member:user:a group g, renamed",
                "group:g:member:user:b group g, renamed",
                "group:h:member:group:g group h",
                "group:h:member:user:a group h",
            ]
        );
    }

    #[test]
    fn grants_on_kept_entitlements_stay() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.c1z");
        first_sync(&file);
        let (mut w, _) = second(&file);
        let g = rid("group", "g");
        let keep = ["group:g:member".to_string()];
        assert_eq!(w.delete_grants_on_resource_except(&g, &keep).unwrap(), 0);
        assert_eq!(w.delete_grants_on_resource_except(&g, &[]).unwrap(), 2);
        let own = w.sync_id().to_string();
        assert_eq!(w.resource_type_ids(&own).unwrap(), ["group", "user"]);
        w.finish().unwrap();
        assert_eq!(
            grant_ids(&file),
            ["group:h:member:group:g", "group:h:member:user:a"]
        );
    }

    #[test]
    fn deleted_rows_are_stored_again_with_their_current_parent() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.c1z");
        first_sync(&file);
        let (mut w, _) = second(&file);
        w.delete_resource_row(&rid("user", "b")).unwrap();
        let moved = pb::Resource {
            parent_resource_id: Some(rid("group", "h")),
            ..resource("user", "b")
        };
        w.put_resources(&[moved]).unwrap();
        w.finish().unwrap();
        let r = C1zReader::open(&file).unwrap();
        let b = r.resource("user", "b").unwrap().unwrap();
        assert_eq!(b.parent_resource_id, Some(rid("group", "h")));
    }

    #[test]
    fn a_mark_survives_publishing_and_the_file_stays_a_c1z() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.c1z");
        first_sync(&file);
        let (mut w, _) = second(&file);
        let mark = ChangeMark {
            high_water: DateTime::from_timestamp(1_700_000_000, 123_000_000).unwrap(),
            origin: "component sha256:abc".into(),
            record_ids: vec!["r1".into(), "r2".into()],
        };
        w.set_change_mark(&mark).unwrap();
        let id = w.sync_id().to_string();
        w.finish().unwrap();

        // The next writer finds the finished sync and its mark.
        let (w, _) = C1zWriter::open(&file, WriterOptions::default()).unwrap();
        let latest = w.latest_finished_full().unwrap().unwrap();
        assert_eq!(latest.sync_id, id);
        assert_eq!(w.change_mark(&id).unwrap(), Some(mark));
        w.abandon().unwrap();
        // The published file still opens with the defensive reader.
        let r = C1zReader::open(&file).unwrap();
        assert_eq!(r.default_sync().unwrap().unwrap().sync_id, id);
    }

    #[test]
    fn marks_of_deleted_syncs_are_pruned_and_ids_capped() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.c1z");
        first_sync(&file);
        let mut ids = Vec::new();
        for round in 0..3 {
            let (mut w, _) = C1zWriter::open(&file, WriterOptions::default()).unwrap();
            let many: Vec<String> = (0..MAX_MARK_RECORD_IDS + round)
                .map(|i| format!("r{i}"))
                .collect();
            w.set_change_mark(&ChangeMark {
                high_water: DateTime::from_timestamp(1_700_000_000 + round as i64, 0).unwrap(),
                origin: String::new(),
                record_ids: many,
            })
            .unwrap();
            let id = w.sync_id().to_string();
            let kept = w.change_mark(&id).unwrap().unwrap().record_ids;
            assert_eq!(kept.len(), MAX_MARK_RECORD_IDS);
            assert_eq!(
                kept.last().unwrap(),
                &format!("r{}", MAX_MARK_RECORD_IDS + round - 1)
            );
            w.finish().unwrap();
            ids.push(id);
        }
        // Keep-two cleanup removed the first of these syncs; the next mark
        // written prunes its row.
        let (mut w, _) = C1zWriter::open(&file, WriterOptions::default()).unwrap();
        w.set_change_mark(&ChangeMark {
            high_water: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            origin: String::new(),
            record_ids: Vec::new(),
        })
        .unwrap();
        assert_eq!(w.change_mark(&ids[0]).unwrap(), None);
        assert!(w.change_mark(&ids[2]).unwrap().is_some());
    }

    #[test]
    fn a_mark_that_does_not_parse_is_named() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        assert_eq!(read_change_mark(&conn, "s").unwrap(), None);
        conn.execute_batch(MARKS_SCHEMA).unwrap();
        conn.execute(
            "insert into host_change_marks values ('s', 1, 2000000000, '', '[]')",
            [],
        )
        .unwrap();
        let e = read_change_mark(&conn, "s").unwrap_err();
        assert!(e.to_string().contains("is not a time"), "{e}");
        conn.execute(
            "insert into host_change_marks values ('t', 1, 0, '', '{\"a\":1}')",
            [],
        )
        .unwrap();
        let e = read_change_mark(&conn, "t").unwrap_err();
        assert!(e.to_string().contains("not a list of strings"), "{e}");
        assert_eq!(read_change_mark(&conn, "u").unwrap(), None);
    }

    #[test]
    fn an_abandoned_sync_leaves_nothing_to_resume() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.c1z");
        first_sync(&file);
        let (mut w, _) = C1zWriter::open(&file, WriterOptions::default()).unwrap();
        w.put_resource_types(&types()).unwrap();
        let abandoned = w.sync_id().to_string();
        w.abandon().unwrap();
        let (w, start) = C1zWriter::open(&file, WriterOptions::default()).unwrap();
        assert!(matches!(start, SyncStart::New { .. }));
        assert_ne!(start.sync_id(), abandoned);
        assert_eq!(w.stats().unwrap().resource_types, 0);
    }

    #[test]
    fn an_abandoned_refresh_leaves_the_published_sync_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.c1z");
        let prev = first_sync(&file);
        let (mut w, _) = second(&file);
        assert_eq!(w.delete_grants_of_principal(&rid("user", "a")).unwrap(), 2);
        w.abandon().unwrap();
        assert!(!crate::writer::working_path(&file).exists());
        // The next writer starts from the published file: the sync is
        // finished and whole again.
        let (w, start) = C1zWriter::open(&file, WriterOptions::default()).unwrap();
        assert!(matches!(start, SyncStart::New { .. }));
        assert_eq!(w.latest_finished_full().unwrap().unwrap().sync_id, prev);
        drop(w);
        assert_eq!(grant_ids(&file).len(), 4);
    }
}
