//! Copying one finished sync out of a c1z into a c1z of its own.
//!
//! Why: a c1z the host keeps holds more than one sync (Baton's keep-two
//! cleanup leaves the previous sync beside the latest, for `diff` and for
//! resuming), but a consumer that asked for one sync, such as ConductorOne
//! receiving a sync task's upload, must get that sync alone: Baton uploads a
//! file holding only the task's sync, and a file with two is twice the bytes
//! and shows the consumer an older state it did not ask for.
//!
//! Threats and decisions:
//! * **The source may come from elsewhere.** It is decompressed into a
//!   private temporary directory and opened as the reader opens any c1z
//!   (`sqlite::open_copy`: header checked, triggers and views off, schema
//!   untrusted and vetted, then upgraded). The source file is never written.
//! * **Nothing of another sync may leak into the copy.** Every other sync's
//!   rows are deleted from each of Baton's per-sync tables; tables the crate
//!   does not know are dropped, since it cannot tell which sync their rows
//!   belong to; then the database is vacuumed, so deleted rows do not linger
//!   in free pages either (and the file is the size of its one sync).
//! * **Only a finished sync is an artifact.** An unfinished or missing sync
//!   is refused ([`C1zError::NotFound`]); nothing is written then.
//! * **A targeted copy** ([`extract_targeted`]) is what Baton's partial
//!   sync of some resources holds: every resource type, the named resources,
//!   their entitlements, the grants of those entitlements and the grants'
//!   principals (Baton fetches those "related resources" too), as a sync of
//!   type `partial` under a sync id of its own, since it is a different
//!   sync from the full one it was cut from. Nothing else of the full sync
//!   is carried: no other resource, entitlement or grant, no asset, no
//!   session row. A named resource the sync does not hold is left out and
//!   reported, as Baton skips a targeted resource its connector cannot find.
//! * **A crash mid-write.** The copy is compressed into `<dest>.tmp`,
//!   fsynced and renamed over `dest`, as the writer publishes; on error
//!   `dest` is untouched and the temporary file removed.

use std::path::{Path, PathBuf};

use rusqlite::params;

use crate::envelope;
use crate::error::{C1zError, Result, SqlContext};
use crate::pb;
use crate::reader::open_private_copy;
use crate::schema;
use crate::store::{self, SyncStats};

/// Options of [`extract_sync`].
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Where the private working copy goes (default: the system temp
    /// directory). It needs room for the uncompressed source database.
    pub temp_dir: Option<PathBuf>,
}

/// What [`extract_sync`] wrote.
#[derive(Debug, Clone)]
pub struct ExtractReport {
    pub sync_id: String,
    /// Syncs of the source left out of the copy.
    pub dropped_syncs: Vec<String>,
    /// Counts of the copied sync.
    pub stats: SyncStats,
    /// Size of the copy.
    pub c1z_bytes: u64,
    /// Named resources the sync does not hold (`<type>:<id>`); targeted
    /// copies only.
    pub missing_targets: Vec<String>,
}

/// Writes a c1z at `dest` holding only the finished sync `sync_id` of the
/// c1z `source`, with its sync run row as it was (ids, times, type, stats).
pub fn extract_sync(
    source: &Path,
    sync_id: &str,
    dest: &Path,
    opts: &ExtractOptions,
) -> Result<ExtractReport> {
    copy(source, sync_id, dest, opts, None)
}

/// Writes a c1z at `dest` holding a `partial` sync cut from the finished
/// sync `sync_id` of `source`: the resources `targets` with their
/// entitlements, those entitlements' grants and the grants' principals (see
/// the module documentation). The report's `sync_id` is the new sync's.
pub fn extract_targeted(
    source: &Path,
    sync_id: &str,
    targets: &[pb::ResourceId],
    dest: &Path,
    opts: &ExtractOptions,
) -> Result<ExtractReport> {
    copy(source, sync_id, dest, opts, Some(targets))
}

fn copy(
    source: &Path,
    sync_id: &str,
    dest: &Path,
    opts: &ExtractOptions,
    targets: Option<&[pb::ResourceId]>,
) -> Result<ExtractReport> {
    let (_dir, db, conn) = open_private_copy(source, opts.temp_dir.as_deref(), "c1z-extract-")?;
    let runs = store::list_sync_runs(&conn)?;
    if !runs.iter().any(|r| r.sync_id == sync_id && r.is_finished()) {
        return Err(C1zError::NotFound(format!(
            "finished sync {sync_id} in {}",
            source.display()
        )));
    }
    let dropped_syncs: Vec<String> = runs
        .into_iter()
        .map(|r| r.sync_id)
        .filter(|id| id != sync_id)
        .collect();
    let tables: Vec<String> = conn
        .prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite_%'")
        .and_then(|mut stmt| stmt.query_map([], |r| r.get(0))?.collect())
        .ctx(|| "listing tables".into())?;
    let tx = conn
        .unchecked_transaction()
        .ctx(|| "starting the extraction".into())?;
    // Rows of any other sync, whether or not its run row survived.
    for table in schema::ALL_TABLES {
        tx.execute(
            &format!("delete from {table} where sync_id <> ?1"),
            [sync_id],
        )
        .ctx(|| format!("deleting other syncs from {table}"))?;
    }
    for table in tables
        .iter()
        .filter(|t| !schema::ALL_TABLES.contains(&t.as_str()))
    {
        // The name comes from the file: quoted as an identifier.
        tx.execute_batch(&format!("drop table \"{}\"", table.replace('"', "\"\"")))
            .ctx(|| format!("dropping table {table}"))?;
    }
    let (sync_id, missing_targets) = match targets {
        None => (sync_id.to_string(), Vec::new()),
        Some(targets) => cut_to_targets(&tx, sync_id, targets)?,
    };
    let sync_id = sync_id.as_str();
    tx.commit().ctx(|| "committing the extraction".into())?;
    let stats = store::compute_stats(&conn, sync_id)?;
    if targets.is_some() {
        conn.execute(
            "update v1_sync_runs set stats = ?1 where sync_id = ?2",
            params![stats.to_stats_json(), sync_id],
        )
        .ctx(|| "storing the partial sync's stats".into())?;
    }
    conn.execute_batch("vacuum")
        .ctx(|| "vacuuming the copy".into())?;
    // Self-contained for Go readers, whatever journal mode the source had.
    crate::writer::make_self_contained(&conn)?;
    conn.close()
        .map_err(|(_, e)| e)
        .ctx(|| "closing the copy".into())?;

    let c1z_bytes = envelope::compress_and_publish(&db, dest)?.bytes;
    Ok(ExtractReport {
        sync_id: sync_id.to_string(),
        dropped_syncs,
        stats,
        c1z_bytes,
        missing_targets,
    })
}

/// Deletes, in a database holding only `sync_id`, everything a partial sync
/// of `targets` would not hold, and makes the rest a `partial` sync under a
/// new id. Returns that id and the targets the sync lacks.
fn cut_to_targets(
    tx: &rusqlite::Transaction<'_>,
    sync_id: &str,
    targets: &[pb::ResourceId],
) -> Result<(String, Vec<String>)> {
    let ctx = || "cutting the sync to its targets".to_string();
    tx.execute_batch(
        "create temp table host_targets (rt text not null, id text not null, primary key (rt, id)); \
         create temp table host_keep (rt text not null, id text not null, primary key (rt, id));",
    )
    .ctx(ctx)?;
    let mut missing = Vec::new();
    for t in targets {
        let present: bool = tx
            .query_row(
                "select exists (select 1 from v1_resources where resource_type_id = ?1 \
                 and external_id = ?2)",
                params![t.resource_type, t.external_id()],
                |r| r.get(0),
            )
            .ctx(ctx)?;
        if !present {
            missing.push(t.external_id());
            continue;
        }
        tx.execute(
            "insert or ignore into host_targets (rt, id) values (?1, ?2)",
            params![t.resource_type, t.resource],
        )
        .ctx(ctx)?;
    }
    tx.execute_batch(
        "insert or ignore into host_keep select rt, id from host_targets; \
         insert or ignore into host_keep select principal_resource_type_id, principal_resource_id \
           from v1_grants where (resource_type_id, resource_id) in (select rt, id from host_targets); \
         delete from v1_resources where (resource_type_id, external_id) not in \
           (select rt, rt || ':' || id from host_keep); \
         delete from v1_entitlements where (resource_type_id, resource_id) not in \
           (select rt, id from host_targets); \
         delete from v1_grants where (resource_type_id, resource_id) not in \
           (select rt, id from host_targets); \
         delete from v1_assets; \
         delete from v1_connector_sessions; \
         drop table host_targets; drop table host_keep;",
    )
    .ctx(ctx)?;
    let partial = crate::ids::new_sync_id();
    for table in schema::ALL_TABLES {
        tx.execute(
            &format!("update {table} set sync_id = ?1 where sync_id = ?2"),
            params![partial, sync_id],
        )
        .ctx(ctx)?;
    }
    tx.execute(
        "update v1_sync_runs set sync_type = 'partial', sync_token = '' where sync_id = ?1",
        [&partial],
    )
    .ctx(ctx)?;
    Ok((partial, missing))
}
