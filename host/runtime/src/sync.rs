//! The sync engine: the host owns the traversal.
//!
//! Decisions:
//! - Baton's order, as phases: every `list-resources` task, then every
//!   `list-entitlements`, then every `list-grants`. A stored resource whose
//!   type is not `skip-entitlements-and-grants` queues one entitlements and
//!   one grants task, as Baton's syncer does, except the tasks that the
//!   `put-resources-with` call which put it skipped (contract 0.1.2: its
//!   entitlements came with it, or its grants come from other tasks).
//! - The task queue lives in a side table of the working database and
//!   changes in the same transaction as the records a call produced, so a
//!   checkpoint is exact: after a kill, the rerun redoes only the calls whose
//!   results were not yet committed. The side table is dropped before the
//!   artifact is published.
//! - Calls run concurrently (each in its own Store); their results are
//!   committed one at a time by this task, which alone owns the writer.
//! - Records are checked against the artifact before they are written: an
//!   entitlement's resource and a grant's entitlement and principal must be
//!   stored already, or the sync fails with a message that names them.
//! - Transient failures (`unavailable`) are retried with backoff; a
//!   `not-found` while listing a resource's entitlements or grants is a
//!   warning (it was deleted mid-sync), as in Baton; anything else stops the
//!   sync with its checkpoint intact.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use c1z::{C1zWriter, SyncStart, WriterOptions, pb};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::bindings::upload::SkipTasks;
use crate::bindings::{sync_api, types as wit};
use crate::convert;
use crate::engine::{CallReport, Operation, Output, Plugin, WarmInstances};
use crate::error::CallError;
use crate::state::InstanceCtx;

/// The marker stored as the sync token: the real state is the queue table.
const CHECKPOINT_TOKEN: &str =
    r#"{"engine":"connector-host","queue":"host_sync_queue","version":1}"#;
/// Follow-up tasks one call may add; a page that fans out further is a bug.
const MAX_FOLLOW_UPS: usize = 10_000;
/// Entitlement owners and entitlement ids remembered to avoid lookups.
const CACHE_ENTRIES: usize = 200_000;

const QUEUE_SCHEMA: &str = "create table if not exists host_sync_queue (
    id integer primary key autoincrement,
    sync_id text not null,
    phase integer not null,
    task text not null,
    unique (sync_id, phase, task)
)";

#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Guest calls in flight. Each call may itself run a batch of requests,
    /// so 8 keeps the instance's request limiter (16) busy without waste.
    pub concurrency: usize,
    /// How often results are committed with a checkpoint. Baton uses 10 s.
    pub checkpoint_interval: Duration,
    /// Attempts of a call that fails transiently.
    pub max_attempts: u32,
    pub writer: WriterOptions,
    /// Set to stop gracefully (service drain): no new calls start, the ones
    /// in flight finish and are committed, a checkpoint is taken, and the
    /// sync returns [`SyncError::Interrupted`]; the next run resumes there.
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            concurrency: 8,
            checkpoint_interval: Duration::from_secs(5),
            max_attempts: 5,
            writer: WriterOptions::from_env(),
            stop: None,
        }
    }
}

/// The outcome of a finished sync.
#[derive(Debug, Clone, Serialize)]
pub struct SyncSummary {
    pub sync_id: String,
    pub file: PathBuf,
    pub resumed: bool,
    pub resource_types: u64,
    pub resources: Vec<(String, u64)>,
    pub entitlements: u64,
    pub grants: u64,
    pub calls: u64,
    /// Connector instances created for those calls (pages reuse warm ones).
    pub instances: u64,
    pub requests: u64,
    pub retries: u64,
    pub throttled: u64,
    pub token_exchanges: u64,
    pub warnings: Vec<String>,
    pub seconds: f64,
    /// CPU the connector's calls burned (guest code and inline host glue).
    pub connector_cpu_seconds: f64,
    /// Largest linear memory any of the connector's calls reached, in bytes.
    pub connector_memory_peak: u64,
    pub c1z_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    Artifact(#[from] c1z::C1zError),
    #[error("{task}: {error}")]
    Call { task: String, error: CallError },
    #[error("{0}")]
    Connector(String),
    #[error("stopped at a checkpoint; the next sync resumes there")]
    Interrupted,
}

impl SyncError {
    pub fn call_error(&self) -> Option<&CallError> {
        match self {
            SyncError::Call { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// A task as the queue stores it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct StoredTask {
    op: u8,
    #[serde(rename = "type")]
    resource_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

impl StoredTask {
    fn from_wit(t: &sync_api::SyncTask) -> Self {
        Self {
            op: match t.op {
                sync_api::SyncOp::ListResources => 0,
                sync_api::SyncOp::ListEntitlements => 1,
                sync_api::SyncOp::ListGrants => 2,
            },
            resource_type: t.resource_type.clone(),
            resource: t
                .resource
                .as_ref()
                .map(|r| (r.resource_type.clone(), r.resource.clone())),
            token: t.page_token.clone(),
        }
    }

    fn to_wit(&self) -> sync_api::SyncTask {
        sync_api::SyncTask {
            op: match self.op {
                0 => sync_api::SyncOp::ListResources,
                1 => sync_api::SyncOp::ListEntitlements,
                _ => sync_api::SyncOp::ListGrants,
            },
            resource_type: self.resource_type.clone(),
            resource: self.resource.as_ref().map(|(t, r)| wit::ResourceId {
                resource_type: t.clone(),
                resource: r.clone(),
            }),
            page_token: self.token.clone(),
        }
    }

    fn describe(&self) -> String {
        let op = ["list-resources", "list-entitlements", "list-grants"][self.op.min(2) as usize];
        match &self.resource {
            Some((t, r)) => format!("{op} of {t}:{r}"),
            None => format!("{op} of type {}", self.resource_type),
        }
    }
}

struct Queue {
    sync_id: String,
}

impl Queue {
    fn push(&self, writer: &C1zWriter, task: &StoredTask) -> Result<(), SyncError> {
        let json = serde_json::to_string(task).expect("task serializes");
        writer
            .connection()
            .prepare_cached(
                "insert or ignore into host_sync_queue (sync_id, phase, task) values (?1, ?2, ?3)",
            )
            .and_then(|mut s| s.execute(params![self.sync_id, task.op, json]))
            .map_err(queue_error)?;
        Ok(())
    }

    fn remove(&self, writer: &C1zWriter, id: i64) -> Result<(), SyncError> {
        writer
            .connection()
            .prepare_cached("delete from host_sync_queue where id = ?1")
            .and_then(|mut s| s.execute(params![id]))
            .map_err(queue_error)?;
        Ok(())
    }

    /// Tasks of `phase` after `after`, in insertion order.
    fn next(
        &self,
        writer: &C1zWriter,
        phase: u8,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, StoredTask)>, SyncError> {
        let mut stmt = writer
            .connection()
            .prepare_cached(
                "select id, task from host_sync_queue where sync_id = ?1 and phase = ?2 and id > ?3 \
                 order by id limit ?4",
            )
            .map_err(queue_error)?;
        let rows = stmt
            .query_map(params![self.sync_id, phase, after, limit as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(queue_error)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, json) = row.map_err(queue_error)?;
            let task = serde_json::from_str(&json).map_err(|e| {
                SyncError::Connector(format!("the working file's task queue is corrupt: {e}"))
            })?;
            out.push((id, task));
        }
        Ok(out)
    }
}

fn queue_error(e: rusqlite::Error) -> SyncError {
    SyncError::Connector(format!("sync task queue: {e}"))
}

/// Caches of what the artifact already holds, to validate records cheaply.
#[derive(Default)]
struct Known {
    owners: HashMap<String, pb::Resource>,
    entitlements: HashMap<String, pb::Resource>,
}

/// Runs a full sync of `plugin` into the c1z at `file`, resuming an
/// interrupted one if the working file holds it.
pub async fn run_sync(
    plugin: &Arc<Plugin>,
    instance: &Arc<InstanceCtx>,
    file: &Path,
    options: &SyncOptions,
) -> Result<SyncSummary, SyncError> {
    let started = Instant::now();
    let cpu_before = instance.metrics.cpu_micros.load(Ordering::Relaxed);
    let instances_before = instance.metrics.instantiations.load(Ordering::Relaxed);
    let (mut writer, start) = C1zWriter::open(file, options.writer.clone())?;
    let sync_id = start.sync_id().to_string();
    let resumed = matches!(start, SyncStart::Resumed { .. });
    writer
        .connection()
        .execute_batch(QUEUE_SCHEMA)
        .map_err(queue_error)?;
    let types: Vec<pb::ResourceType> = plugin
        .metadata
        .resource_types
        .iter()
        .map(convert::resource_type)
        .collect();
    if !resumed {
        writer
            .connection()
            .execute(
                "delete from host_sync_queue where sync_id != ?1",
                params![sync_id],
            )
            .map_err(queue_error)?;
        writer.put_resource_types(&types)?;
        let queue = Queue {
            sync_id: sync_id.clone(),
        };
        for t in &plugin.metadata.resource_types {
            queue.push(
                &writer,
                &StoredTask {
                    op: 0,
                    resource_type: t.id.clone(),
                    resource: None,
                    token: None,
                },
            )?;
        }
        writer.checkpoint(CHECKPOINT_TOKEN)?;
    } else {
        tracing::info!(sync_id, "resuming an interrupted sync from its checkpoint");
    }
    let skip: HashSet<String> = plugin
        .metadata
        .resource_types
        .iter()
        .filter(|t| t.skip_entitlements_and_grants)
        .map(|t| t.id.clone())
        .collect();

    let mut known = Known::default();
    let mut warnings = Vec::new();
    let mut calls = 0u64;
    let mut last_checkpoint = Instant::now();
    let mut last_progress = Instant::now();
    // This run's pages share warm instances (one tenant, one component).
    let warm = Arc::new(WarmInstances::new());
    for phase in 0u8..3 {
        let mut cursor = 0i64;
        let mut inflight: JoinSet<CallOutcome> = JoinSet::new();
        loop {
            let stopping = options
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed));
            // Keep `concurrency` calls in flight (none new once stopping).
            let room = if stopping {
                0
            } else {
                options.concurrency.max(1).saturating_sub(inflight.len())
            };
            if room > 0 {
                let queue = Queue {
                    sync_id: sync_id.clone(),
                };
                for (id, task) in queue.next(&writer, phase, cursor, room)? {
                    cursor = id;
                    spawn_call(
                        &mut inflight,
                        plugin,
                        instance,
                        &warm,
                        id,
                        task,
                        0,
                        Duration::ZERO,
                    );
                }
            }
            let Some(joined) = inflight.join_next().await else {
                if stopping {
                    writer.checkpoint(CHECKPOINT_TOKEN)?;
                    return Err(SyncError::Interrupted);
                }
                break; // nothing in flight and nothing queued: phase done
            };
            let (id, task, attempt, result) = joined
                .map_err(|e| SyncError::Connector(format!("a connector call task failed: {e}")))?;
            calls += 1;
            match result {
                Ok((Output::Page(page), report)) => {
                    let queue = Queue {
                        sync_id: sync_id.clone(),
                    };
                    commit_page(
                        &mut writer,
                        &queue,
                        &types,
                        &skip,
                        &mut known,
                        id,
                        &task,
                        *page,
                        report,
                        phase,
                        instance,
                    )?;
                }
                Ok((other, _)) => {
                    return Err(SyncError::Connector(format!(
                        "{}: the connector returned {other:?} instead of a page",
                        task.describe()
                    )));
                }
                Err(e) if e.is_transient() && attempt + 1 < options.max_attempts => {
                    let n = attempt + 1;
                    tracing::warn!(task = task.describe(), attempt = n, "retrying after: {e}");
                    let delay = Duration::from_millis(500u64 << n.min(6));
                    spawn_call(&mut inflight, plugin, instance, &warm, id, task, n, delay);
                }
                Err(CallError::Connector {
                    kind: "not-found",
                    message,
                    ..
                }) if phase > 0 => {
                    let w = format!("{}: skipped, not found: {message}", task.describe());
                    tracing::warn!("{w}");
                    warnings.push(w);
                    Queue {
                        sync_id: sync_id.clone(),
                    }
                    .remove(&writer, id)?;
                }
                Err(error) => {
                    inflight.abort_all();
                    // Keep everything already committed; the rerun resumes here.
                    writer.checkpoint(CHECKPOINT_TOKEN)?;
                    return Err(SyncError::Call {
                        task: task.describe(),
                        error,
                    });
                }
            }
            if last_checkpoint.elapsed() >= options.checkpoint_interval {
                writer.checkpoint(CHECKPOINT_TOKEN)?;
                last_checkpoint = Instant::now();
            }
            if last_progress.elapsed() >= Duration::from_secs(5) {
                last_progress = Instant::now();
                let phase_name = ["resources", "entitlements", "grants"][phase as usize];
                tracing::info!(phase = phase_name, calls, "sync in progress");
            }
        }
    }
    writer
        .connection()
        .execute_batch("drop table if exists host_sync_queue")
        .map_err(queue_error)?;
    let report = writer.finish()?;
    let http = instance.http.as_ref();
    let load = |f: fn(&crate::capabilities::http::HttpStats) -> &std::sync::atomic::AtomicU64| {
        http.map_or(0, |h| f(&h.stats).load(Ordering::Relaxed))
    };
    let stats = &report.stats;
    Ok(SyncSummary {
        sync_id,
        file: report.target.clone(),
        resumed,
        resource_types: stats.resource_types,
        resources: stats
            .resources_by_resource_type
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        entitlements: stats.entitlements,
        grants: stats.grants,
        calls,
        instances: instance
            .metrics
            .instantiations
            .load(Ordering::Relaxed)
            .saturating_sub(instances_before),
        requests: load(|s| &s.requests),
        retries: load(|s| &s.retries),
        throttled: load(|s| &s.throttled),
        token_exchanges: instance
            .secrets
            .broker
            .as_ref()
            .map_or(0, |b| b.exchanges.load(Ordering::Relaxed)),
        warnings,
        seconds: started.elapsed().as_secs_f64(),
        connector_cpu_seconds: instance
            .metrics
            .cpu_micros
            .load(Ordering::Relaxed)
            .saturating_sub(cpu_before) as f64
            / 1e6,
        connector_memory_peak: instance.metrics.memory_high_water.load(Ordering::Relaxed),
        c1z_bytes: report.c1z_bytes,
    })
}

/// A finished call: queue row, task, attempt, and what the call returned.
type CallOutcome = (
    i64,
    StoredTask,
    u32,
    Result<(Output, CallReport), CallError>,
);

#[allow(clippy::too_many_arguments)]
fn spawn_call(
    set: &mut JoinSet<CallOutcome>,
    plugin: &Arc<Plugin>,
    instance: &Arc<InstanceCtx>,
    warm: &Arc<WarmInstances>,
    id: i64,
    task: StoredTask,
    attempt: u32,
    delay: Duration,
) {
    let plugin = plugin.clone();
    let instance = instance.clone();
    let warm = warm.clone();
    set.spawn(async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let result = plugin
            .call_warm(&instance, Operation::Sync(task.to_wit()), &warm)
            .await;
        (id, task, attempt, result)
    });
}

#[allow(clippy::too_many_arguments)]
fn commit_page(
    writer: &mut C1zWriter,
    queue: &Queue,
    types: &[pb::ResourceType],
    skip: &HashSet<String>,
    known: &mut Known,
    id: i64,
    task: &StoredTask,
    page: sync_api::PageOutcome,
    report: CallReport,
    phase: u8,
    instance: &InstanceCtx,
) -> Result<(), SyncError> {
    let what = task.describe();
    let bad = |m: String| SyncError::Call {
        task: what.clone(),
        error: CallError::InvalidRecord(m),
    };
    // Page bookkeeping first: a broken page must not write half its records.
    if let Some(next) = &page.next_page_token {
        if Some(next) == task.token.as_ref() {
            return Err(bad(
                "returned the same page token it was given (it would loop)".into(),
            ));
        }
        if next.len() > instance.limits.page_token_bytes {
            return Err(SyncError::Call {
                task: what.clone(),
                error: CallError::LimitExceeded(format!(
                    "page token of {} bytes, over the cap of {}",
                    next.len(),
                    instance.limits.page_token_bytes
                )),
            });
        }
    }
    if page.follow_ups.len() > MAX_FOLLOW_UPS {
        return Err(SyncError::Call {
            task: what.clone(),
            error: CallError::LimitExceeded(format!(
                "{} follow-up tasks, over the cap of {MAX_FOLLOW_UPS}",
                page.follow_ups.len()
            )),
        });
    }
    let mut upload = report.upload;
    let grants = upload.take_grants();
    // Resources.
    if !upload.resources.is_empty() {
        let converted: Vec<pb::Resource> = upload.resources.iter().map(convert::resource).collect();
        writer.put_resources(&converted)?;
        for (i, r) in upload.resources.iter().enumerate() {
            if skip.contains(&r.id.resource_type) {
                continue;
            }
            // What `put-resources-with` said this resource does without.
            let without = upload.skip_of(i);
            for (op, flag) in [
                (1u8, SkipTasks::LIST_ENTITLEMENTS),
                (2, SkipTasks::LIST_GRANTS),
            ] {
                if without.contains(flag) {
                    continue;
                }
                queue.push(
                    writer,
                    &StoredTask {
                        op,
                        resource_type: r.id.resource_type.clone(),
                        resource: Some((r.id.resource_type.clone(), r.id.resource.clone())),
                        token: None,
                    },
                )?;
            }
        }
    }
    // Entitlements: their resource must be stored, and is embedded whole.
    if !upload.entitlements.is_empty() {
        let mut out = Vec::with_capacity(upload.entitlements.len());
        for e in &upload.entitlements {
            let key = format!("{}:{}", e.resource.resource_type, e.resource.resource);
            let owner = match known.owners.get(&key) {
                Some(r) => r.clone(),
                None => {
                    let r = writer
                        .get_resource(&convert::resource_id(&e.resource))?
                        .ok_or_else(|| {
                            bad(format!(
                                "entitlement {} refers to resource {key}, which this sync has not stored",
                                convert::entitlement_id(&e.resource, &e.slug)
                            ))
                        })?;
                    if known.owners.len() < CACHE_ENTRIES {
                        known.owners.insert(key, r.clone());
                    }
                    r
                }
            };
            let p = convert::entitlement(e, owner.clone(), types);
            if known.entitlements.len() < CACHE_ENTRIES {
                known.entitlements.insert(p.id.clone(), owner);
            }
            out.push(p);
        }
        writer.put_entitlements(&out)?;
    }
    // Grants: entitlement and principal must be stored.
    if !grants.is_empty() {
        let mut out = Vec::with_capacity(grants.len());
        for g in &grants {
            let ent_id = convert::entitlement_id(&g.entitlement_resource, &g.entitlement_slug);
            let owner = match known.entitlements.get(&ent_id) {
                Some(r) => r.clone(),
                None => {
                    let e = writer.get_entitlement(&ent_id)?.ok_or_else(|| {
                        bad(format!(
                            "grant {} refers to entitlement {ent_id}, which this sync has not stored",
                            convert::grant_id(&ent_id, &g.principal)
                        ))
                    })?;
                    let r = e.resource.unwrap_or_default();
                    if known.entitlements.len() < CACHE_ENTRIES {
                        known.entitlements.insert(ent_id.clone(), r.clone());
                    }
                    r
                }
            };
            if !writer.resource_exists(&g.principal.resource_type, &g.principal.resource)? {
                return Err(bad(format!(
                    "grant {} names principal {}:{}, which this sync has not stored",
                    convert::grant_id(&ent_id, &g.principal),
                    g.principal.resource_type,
                    g.principal.resource
                )));
            }
            out.push(convert::grant(g, owner));
        }
        writer.put_grants(&out)?;
    }
    // Queue bookkeeping, in the same transaction as the records.
    queue.remove(writer, id)?;
    if let Some(next) = page.next_page_token {
        queue.push(
            writer,
            &StoredTask {
                token: Some(next),
                ..task.clone()
            },
        )?;
    }
    for f in &page.follow_ups {
        let t = StoredTask::from_wit(f);
        if t.op < phase {
            return Err(bad(format!(
                "asked for {} during a later phase; follow-ups must not go back a phase",
                t.describe()
            )));
        }
        queue.push(writer, &t)?;
    }
    Ok(())
}
