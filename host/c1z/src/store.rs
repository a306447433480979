//! SQL shared by the writer and the reader: sync runs, stats, cleanup and
//! blob decoding.
//!
//! Decision: both sides read sync runs and count rows the same way, so the
//! rules ("a sync is complete iff `ended_at` is set", "the view is the latest
//! finished full sync", "keep the newest N finished full syncs") live here
//! once. Undecodable blobs are reported with the table and `external_id`, so a
//! user can find the bad row.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::error::{C1zError, Result, SqlContext};
use crate::pb;
use crate::schema;

/// `sync_type` of a full sync.
pub const SYNC_TYPE_FULL: &str = "full";
/// Sync types Baton treats as partial (never counted as a full sync).
pub const PARTIAL_SYNC_TYPES: [&str; 3] = ["partial", "partial_upserts", "partial_deletions"];

/// One row of `v1_sync_runs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncRun {
    pub sync_id: String,
    /// Local time, `YYYY-MM-DD HH:MM:SS[.f]`.
    pub started_at: String,
    /// `None` while the sync is unfinished.
    pub ended_at: Option<String>,
    /// The opaque checkpoint token.
    pub sync_token: String,
    pub sync_type: String,
    pub parent_sync_id: String,
    /// The JSON `stats` column, if set.
    pub stats: Option<String>,
}

impl SyncRun {
    /// A sync is complete iff `ended_at` is set.
    pub fn is_finished(&self) -> bool {
        self.ended_at.is_some()
    }

    /// True for `full` and other non-partial sync types.
    pub fn is_full(&self) -> bool {
        !PARTIAL_SYNC_TYPES.contains(&self.sync_type.as_str())
    }
}

const SYNC_RUN_COLS: &str =
    "sync_id, started_at, ended_at, sync_token, sync_type, parent_sync_id, stats";

fn sync_run_from_row(r: &Row<'_>) -> rusqlite::Result<SyncRun> {
    Ok(SyncRun {
        sync_id: r.get(0)?,
        started_at: text_of(r, 1)?.unwrap_or_default(),
        ended_at: text_of(r, 2)?,
        sync_token: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
        sync_type: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
        parent_sync_id: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
        stats: r.get(6)?,
    })
}

/// Reads a `datetime` column that another writer may have stored as text or
/// as a number.
fn text_of(r: &Row<'_>, idx: usize) -> rusqlite::Result<Option<String>> {
    use rusqlite::types::ValueRef;
    Ok(match r.get_ref(idx)? {
        ValueRef::Null => None,
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
    })
}

/// All sync runs in creation order.
pub fn list_sync_runs(conn: &Connection) -> Result<Vec<SyncRun>> {
    let sql = format!("select {SYNC_RUN_COLS} from v1_sync_runs order by id");
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| stmt.query_map([], sync_run_from_row)?.collect())
        .ctx(|| "listing sync runs".into())
}

/// The first sync run `rest` (a `where` clause and ordering) selects.
fn sync_run_where(
    conn: &Connection,
    rest: &str,
    params: impl rusqlite::Params,
    what: impl FnOnce() -> String,
) -> Result<Option<SyncRun>> {
    let sql = format!("select {SYNC_RUN_COLS} from v1_sync_runs where {rest}");
    conn.query_row(&sql, params, sync_run_from_row)
        .optional()
        .ctx(what)
}

/// The sync run `sync_id`, if present.
pub fn get_sync_run(conn: &Connection, sync_id: &str) -> Result<Option<SyncRun>> {
    sync_run_where(conn, "sync_id = ?1", [sync_id], || {
        format!("reading sync run {sync_id}")
    })
}

/// The latest finished sync of `sync_type`, ordered by `ended_at` then
/// `sync_id`, both descending (Baton's order).
pub fn latest_finished(conn: &Connection, sync_type: &str) -> Result<Option<SyncRun>> {
    sync_run_where(
        conn,
        "ended_at is not null and sync_type = ?1 order by ended_at desc, sync_id desc limit 1",
        [sync_type],
        || "finding the latest finished sync".into(),
    )
}

/// The latest unfinished sync of `sync_type` (most recently started).
pub fn latest_unfinished(conn: &Connection, sync_type: &str) -> Result<Option<SyncRun>> {
    sync_run_where(
        conn,
        "ended_at is null and sync_type = ?1 order by started_at desc, id desc limit 1",
        [sync_type],
        || "finding the latest unfinished sync".into(),
    )
}

/// The sync readers show by default: the latest finished full sync, else the
/// latest unfinished one.
pub fn default_view(conn: &Connection) -> Result<Option<SyncRun>> {
    if let Some(s) = latest_finished(conn, SYNC_TYPE_FULL)? {
        return Ok(Some(s));
    }
    sync_run_where(
        conn,
        "ended_at is null order by started_at desc, id desc limit 1",
        [],
        || "finding the latest sync".into(),
    )
}

/// Counts of one sync. Serialized into `v1_sync_runs.stats` like Go's
/// `json.Marshal` of `c1.reader.v2.SyncStats` (snake_case keys, zero values
/// omitted); the per-type entitlement and grant maps are not stored, only
/// shown by `inspect stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStats {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub resource_types: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub resources: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub entitlements: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub grants: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources_by_resource_type: BTreeMap<String, u64>,
    /// Entitlements per resource type of the entitlement's resource.
    #[serde(skip)]
    pub entitlements_by_resource_type: BTreeMap<String, u64>,
    /// Grants per resource type of the granted entitlement's resource.
    #[serde(skip)]
    pub grants_by_resource_type: BTreeMap<String, u64>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl SyncStats {
    /// The JSON stored in `v1_sync_runs.stats`.
    pub fn to_stats_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

/// Rows of `table` per resource type: those of `sync_id`, or every row when
/// `all_rows` (the caller has proven they are the same).
fn count_by_type(
    conn: &Connection,
    table: &str,
    sync_id: &str,
    all_rows: bool,
) -> Result<BTreeMap<String, u64>> {
    let sql = if all_rows {
        format!(
            "select resource_type_id, count(*) from {table} where ?1 = ?1 group by resource_type_id"
        )
    } else {
        format!(
            "select resource_type_id, count(*) from {table} where sync_id = ?1 group by resource_type_id"
        )
    };
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.query_map([sync_id], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
                .collect()
        })
        .ctx(|| format!("counting {table}"))
}

/// Whether every row of the object tables belongs to `sync_id`: no other
/// sync run, and no row of another sync id. Each check is served by a
/// covering index; counting by type is then served by the type indexes,
/// where filtering by sync id would read every row (gigabytes of grants at
/// 100k users), as an incremental sync's refresh of a file's only sync does.
fn holds_only(conn: &Connection, sync_id: &str) -> Result<bool> {
    let others = |table: &str| -> Result<bool> {
        conn.prepare_cached(&format!(
            "select exists (select 1 from {table} where sync_id <> ?1)"
        ))
        .and_then(|mut stmt| stmt.query_row([sync_id], |r| r.get(0)))
        .ctx(|| format!("looking for other syncs in {table}"))
    };
    for table in [
        "v1_sync_runs",
        schema::RESOURCE_TYPES,
        schema::RESOURCES,
        schema::ENTITLEMENTS,
        schema::GRANTS,
    ] {
        if others(table)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Counts the rows of `sync_id` in every object table.
pub fn compute_stats(conn: &Connection, sync_id: &str) -> Result<SyncStats> {
    let all_rows = holds_only(conn, sync_id)?;
    let resource_types: i64 = conn
        .query_row(
            "select count(*) from v1_resource_types where sync_id = ?1",
            [sync_id],
            |r| r.get(0),
        )
        .ctx(|| "counting resource types".into())?;
    let resources_by_resource_type = count_by_type(conn, schema::RESOURCES, sync_id, all_rows)?;
    let entitlements_by_resource_type =
        count_by_type(conn, schema::ENTITLEMENTS, sync_id, all_rows)?;
    let grants_by_resource_type = count_by_type(conn, schema::GRANTS, sync_id, all_rows)?;
    Ok(SyncStats {
        resource_types: resource_types as u64,
        resources: resources_by_resource_type.values().sum(),
        entitlements: entitlements_by_resource_type.values().sum(),
        grants: grants_by_resource_type.values().sum(),
        resources_by_resource_type,
        entitlements_by_resource_type,
        grants_by_resource_type,
    })
}

/// Deletes every row of `sync_id` from all tables, the sync run included.
pub fn delete_sync(conn: &Connection, sync_id: &str) -> Result<()> {
    for table in schema::ALL_TABLES {
        conn.execute(
            &format!("delete from {table} where sync_id = ?1"),
            [sync_id],
        )
        .ctx(|| format!("deleting sync {sync_id} from {table}"))?;
    }
    Ok(())
}

/// Baton's cleanup: keep the newest `keep` finished full syncs (by creation
/// order), delete older ones, and delete partial syncs that ended before the
/// earliest kept sync started. Returns the deleted sync ids.
pub fn cleanup(conn: &Connection, keep: usize) -> Result<Vec<String>> {
    let keep = keep.max(1);
    let runs = list_sync_runs(conn)?;
    let full: Vec<&SyncRun> = runs
        .iter()
        .filter(|r| r.is_finished() && r.is_full())
        .collect();
    if full.len() <= keep {
        return Ok(Vec::new());
    }
    let mut deleted = Vec::new();
    let cut = full.len() - keep;
    for r in &full[..cut] {
        delete_sync(conn, &r.sync_id)?;
        deleted.push(r.sync_id.clone());
    }
    let earliest_kept = full[cut];
    for r in runs.iter().filter(|r| r.is_finished() && !r.is_full()) {
        if let Some(ended) = &r.ended_at
            && datetime_before(ended, &earliest_kept.started_at)
        {
            delete_sync(conn, &r.sync_id)?;
            deleted.push(r.sync_id.clone());
        }
    }
    Ok(deleted)
}

fn datetime_before(a: &str, b: &str) -> bool {
    match (crate::ids::parse_datetime(a), crate::ids::parse_datetime(b)) {
        (Some(a), Some(b)) => a < b,
        _ => a < b,
    }
}

/// A message stored in one of the object tables, which it names.
pub trait Stored: prost::Message + prost::Name + Default {
    const TABLE: &'static str;
}

impl Stored for pb::ResourceType {
    const TABLE: &'static str = schema::RESOURCE_TYPES;
}

impl Stored for pb::Resource {
    const TABLE: &'static str = schema::RESOURCES;
}

impl Stored for pb::Entitlement {
    const TABLE: &'static str = schema::ENTITLEMENTS;
}

impl Stored for pb::Grant {
    const TABLE: &'static str = schema::GRANTS;
}

/// Decodes a `data` blob, naming table, message and row on failure.
pub fn decode_blob<T: Stored>(external_id: &str, data: &[u8]) -> Result<T> {
    T::decode(data).map_err(|source| C1zError::UndecodableBlob {
        table: T::TABLE,
        message: T::full_name(),
        external_id: external_id.to_string(),
        source,
    })
}

/// Looks up and decodes one object of `sync_id` by `external_id`.
pub fn get_object<T: Stored>(
    conn: &Connection,
    sync_id: &str,
    external_id: &str,
) -> Result<Option<T>> {
    let sql = format!(
        "select data from {} where external_id = ?1 and sync_id = ?2",
        T::TABLE
    );
    let data: Option<Vec<u8>> = conn
        .prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.query_row(params![external_id, sync_id], |r| r.get(0))
                .optional()
        })
        .ctx(|| format!("looking up {external_id} in {}", T::TABLE))?;
    data.map(|data| decode_blob(external_id, &data)).transpose()
}

/// True if `external_id` exists in `sync_id` of `table`.
pub fn object_exists(
    conn: &Connection,
    table: &str,
    sync_id: &str,
    external_id: &str,
) -> Result<bool> {
    let sql = format!("select 1 from {table} where external_id = ?1 and sync_id = ?2");
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| stmt.exists(params![external_id, sync_id]))
        .ctx(|| format!("looking up {external_id} in {table}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant_row(conn: &Connection, sync_id: &str, id: &str, resource_type: &str) {
        conn.execute(
            "insert into v1_grants (resource_type_id, resource_id, entitlement_id, \
             principal_resource_type_id, principal_resource_id, external_id, data, sync_id, \
             discovered_at) values (?1, 'r', 'e', 'user', 'u', ?2, x'', ?3, '2026-01-01')",
            params![resource_type, id, sync_id],
        )
        .unwrap();
    }

    #[test]
    fn stats_count_only_the_sync_whichever_way_they_count() {
        let conn = Connection::open_in_memory().unwrap();
        schema::create_all(&conn).unwrap();
        conn.execute(
            "insert into v1_sync_runs (sync_id, started_at, sync_token) values ('a', '2026-01-01', '')",
            [],
        )
        .unwrap();
        grant_row(&conn, "a", "g1", "group");
        grant_row(&conn, "a", "g2", "group");
        grant_row(&conn, "a", "r1", "role");
        let want = |s: SyncStats| (s.grants, s.grants_by_resource_type);
        let only_a = want(compute_stats(&conn, "a").unwrap());
        assert!(holds_only(&conn, "a").unwrap());
        assert_eq!(only_a.0, 3);
        assert_eq!(only_a.1["group"], 2);
        // A row of a sync the file has no run for, then another run: both
        // are counted apart.
        grant_row(&conn, "x", "g3", "group");
        assert!(!holds_only(&conn, "a").unwrap());
        assert_eq!(want(compute_stats(&conn, "a").unwrap()), only_a);
        conn.execute("delete from v1_grants where sync_id = 'x'", [])
            .unwrap();
        conn.execute(
            "insert into v1_sync_runs (sync_id, started_at, sync_token) values ('b', '2026-01-02', '')",
            [],
        )
        .unwrap();
        assert!(!holds_only(&conn, "a").unwrap());
        assert_eq!(want(compute_stats(&conn, "a").unwrap()), only_a);
    }
}
