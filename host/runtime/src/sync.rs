//! The sync engine: the host owns the traversal.
//!
//! Decisions:
//! - A sync that names resources (`SyncOptions::targets`) is Baton's
//!   `partial` sync ([`crate::targeted`]): its first phase reads each named
//!   resource with `get-resource` instead of listing every type; the rest
//!   is the same, for those resources only.
//! - Baton's order, as phases: every `list-resources` task, then every
//!   `list-entitlements`, then every `list-grants`. A stored resource whose
//!   type is not `skip-entitlements-and-grants` queues one entitlements and
//!   one grants task, as Baton's syncer does, except the tasks that the
//!   `put-resources-with` call which put it skipped (contract 0.1.2: its
//!   entitlements came with it, or its grants come from other tasks).
//!   One exception starts calls before their phase: the first few
//!   `list-resource-grants` re-reads an incremental sync queued are called
//!   with the first phase, and still commit in the grants phase.
//! - The task queue lives in a side table of the working database
//!   ([`c1z::sync_queue`]) and changes in the same transaction as the
//!   records a call produced, so a checkpoint is exact: after a kill, the
//!   rerun redoes only the calls whose results were not yet committed. The
//!   side table is dropped before the artifact is published.
//! - Bounded loss on a crash: a call's results commit as soon as they are
//!   written (a call that finished meanwhile joins the same commit, for at
//!   most `checkpoint_interval`); a commit of the WAL working file costs no
//!   fsync. The instance's request limiter serves requests by the age of
//!   their call, so the oldest call's requests go first and few calls are
//!   half done at any moment. A `kill -9` therefore loses only
//!   the calls in flight, mostly the one being served: a 3,000-user
//!   PingOne sync killed at 60 % redoes at most a fifth of the killed run's
//!   requests (`host/cli/tests/sync_crash_loss.rs`). The worst case is the
//!   largest single call, which the connector sizes (PingOne settles up to
//!   1,000 users' memberships in one call).
//! - Calls run concurrently (each in its own Store); their results are
//!   committed one at a time by this task, which alone owns the writer.
//! - Records are checked against the artifact before they are written: an
//!   entitlement's resource and a grant's entitlement and principal must be
//!   stored already, or the sync fails with a message that names them.
//! - Transient failures (`unavailable`) are retried with backoff; a
//!   `not-found` while listing a resource's entitlements or grants is a
//!   warning (it was deleted mid-sync), as in Baton; anything else stops the
//!   sync with its checkpoint intact. A batched grants task of an
//!   incremental sync (contract 0.1.4) is skipped on `not-found` only when
//!   what it names is gone from the artifact too (its grants went with
//!   it); skipped otherwise, it would leave grants that no answer replaced.
//! - An incremental sync's re-reads are tasks like any
//!   ([`crate::incremental`]): `get-resource` of one resource and
//!   `list-principal-grants` of one principal (0.1.3), `get-resources` of
//!   ids of one type, `list-principal-grants` of principals of one type
//!   within one scope and `list-resource-grants` of one resource (0.1.4).
//!   Each answer is checked before it commits; what it replaces is dropped
//!   and a re-read resource's copies embedded in the entitlements and
//!   grants kept on it are refreshed in the same commit.
//!
//! Threat: the component decides how long a sync goes on. Its page tokens,
//! follow-up tasks and answers are untrusted, so every way it could keep a
//! sync (and, in `serve`, a sync slot) busy forever is bounded
//! ([`SyncLimits`], each number with its arithmetic):
//! - Page-token cycles of any length (A, B, A, ...): every task queued with
//!   a page token, and every follow-up, is remembered for the rest of the
//!   sync as a digest of the task with its token, in a side table
//!   (`host_sync_seen`) that commits with the queue, so resume keeps it. A
//!   next page the sync has already queued is a cycle:
//!   [`SyncError::TokenCycle`], naming the task. A follow-up already in
//!   that set is dropped: running the same call again adds nothing, and a
//!   task that asks for itself would otherwise run forever. (Tasks without
//!   a token that the host queues itself, one per phase and resource, are
//!   not remembered: they are bounded by the records that queue them.)
//! - Calls per sync (counted across resumes, in `host_sync_state`), pages
//!   per task, queued tasks and the bytes they take: reaching one ends the
//!   sync with [`SyncError::LimitReached`], naming the limit and its flag.
//! - A deadline per run: [`SyncError::DeadlineExceeded`].
//! - Follow-up page tokens get the size cap of next-page tokens.
//!
//! What an operator gets next time: a deadline keeps the checkpoint (a
//! healthy but slow sync makes progress run after run and finishes); a
//! cycle or a reached limit discards the sync, since resuming would walk
//! into the same wall (the working file is marked, and the next run starts
//! over), so a fixed component or a raised limit takes effect at once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use c1z::{C1zWriter, SyncStart, WriterOptions, pb};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::backoff::Backoff;
use crate::bindings::upload::SkipTasks;
use crate::bindings::{sync_api, types as wit};
use crate::capabilities::http::HttpStats;
use crate::convert;
use crate::engine::{CallReport, Operation, Output, Plugin, WarmInstances};
use crate::error::CallError;
use crate::incremental::{ReadMode, ScopeSet};
use crate::state::InstanceCtx;
use crate::targeted::{self, SyncTarget};

/// The marker stored as the sync token: the real state is the queue table.
const CHECKPOINT_TOKEN: &str =
    r#"{"engine":"connector-host","queue":"host_sync_queue","version":1}"#;
/// Follow-up tasks one call may add; a page that fans out further is a bug.
const MAX_FOLLOW_UPS: usize = 10_000;
/// The sync token of a sync that hit a limit or a cycle: the next run
/// starts over instead of resuming it.
const DISCARDED_TOKEN: &str = r#"{"engine":"connector-host","discarded":true,"version":1}"#;
/// Retries of a task that failed transiently: 1 s doubling to 32 s,
/// jittered, so a burst of failed tasks does not come back as one burst.
const TASK_BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(32));
/// Entitlement owners and entitlement ids remembered to avoid lookups.
const CACHE_ENTRIES: usize = 200_000;

/// What one sync may spend, whatever the component answers. The defaults
/// are sized from a PingOne tenant of one million users, the largest we
/// plan for: a full sync there is ~2.1 million API requests (about 212,000
/// per 100,000 users) made in ~25,200 connector calls (a 5,000-user sync
/// makes 126 calls, and calls grow linearly with users: 126 x 200).
#[derive(Debug, Clone, PartialEq)]
pub struct SyncLimits {
    /// Connector calls per sync, retries included, counted across resumes.
    /// 1M-user PingOne: ~25,200, so 1,000,000 is 40x that; a connector that
    /// batches nothing (0.1.0 style, 990 calls per 5,000 users, so ~198,000
    /// per million) is still 5x under.
    pub max_calls: u64,
    /// Pages of one task (one listing, one follow-up chain). PingOne's
    /// longest chain is the user listing, 200 users a page: 5,000 pages for
    /// a million users; 100,000 is 20x that.
    pub max_pages_per_task: u64,
    /// Tasks waiting in the queue at once. Every queued task becomes a
    /// call, so 1M-user PingOne never has more than its ~25,200 calls
    /// queued; a connector that queues the two per-resource tasks Baton
    /// does for each of 1M users and ~100,000 groups holds ~2.2 million;
    /// 5,000,000 is above both.
    pub max_queued_tasks: u64,
    /// Bytes of the queued tasks (their stored JSON). A per-resource task
    /// is ~70 bytes (2.2 million of them: ~150 MiB); PingOne's largest
    /// follow-up names 100 group ids (~4 KiB), and all ~25,200 of its tasks
    /// at that size would be ~100 MiB. 512 MiB is above both, and stops a
    /// fan-out that wrote a 276 MiB queue in 20 s within a minute.
    pub max_queue_bytes: u64,
    /// Wall-clock time of one run. 2.1 million requests at PingOne's
    /// documented ~100 requests/s per client take ~21,000 s (5.8 h); 24 h
    /// is 4x that. A run that reaches it stops at a checkpoint and the next
    /// one resumes there.
    pub deadline: Duration,
}

impl Default for SyncLimits {
    fn default() -> Self {
        Self {
            max_calls: 1_000_000,
            max_pages_per_task: 100_000,
            max_queued_tasks: 5_000_000,
            max_queue_bytes: 512 << 20,
            deadline: Duration::from_secs(24 * 3600),
        }
    }
}

/// A bound of [`SyncLimits`] that a sync reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncBound {
    Calls,
    PagesPerTask,
    QueuedTasks,
    QueueBytes,
}

impl SyncBound {
    /// The limit's name, as in the tenants file's `limits` table.
    pub fn name(self) -> &'static str {
        match self {
            SyncBound::Calls => "sync_max_calls",
            SyncBound::PagesPerTask => "sync_max_pages_per_task",
            SyncBound::QueuedTasks => "sync_max_queued_tasks",
            SyncBound::QueueBytes => "sync_max_queue_mb",
        }
    }

    /// The flag that raises it: its name as a flag.
    pub fn flag(self) -> String {
        format!("--{}", self.name().replace('_', "-"))
    }
}

#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Guest calls in flight. Each call may itself run a batch of requests,
    /// so 8 keeps the instance's request limiter (16) busy without waste.
    pub concurrency: usize,
    /// The longest a finished call's results wait to be committed while
    /// further calls keep finishing (those then commit together). Results
    /// commit at once whenever no other call has finished, so this bounds
    /// only a backlog; Baton commits every 10 s whatever happens.
    pub checkpoint_interval: Duration,
    /// Attempts of a call that fails transiently.
    pub max_attempts: u32,
    pub writer: WriterOptions,
    /// Set to stop gracefully (service drain): no new calls start, the ones
    /// in flight finish and are committed, a checkpoint is taken, and the
    /// sync returns [`SyncError::Interrupted`]; the next run resumes there.
    pub stop: Option<Arc<AtomicBool>>,
    /// What the sync may spend (calls, pages, queue, time).
    pub limits: SyncLimits,
    /// Resources to sync alone, as a `partial` sync ([`crate::targeted`]);
    /// empty for a full sync.
    pub targets: Vec<SyncTarget>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            concurrency: 8,
            checkpoint_interval: Duration::from_secs(5),
            max_attempts: 5,
            writer: WriterOptions::from_env(),
            stop: None,
            limits: SyncLimits::default(),
            targets: Vec::new(),
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
    /// The component sent a page token this task already had.
    #[error(
        "{task}: page token cycle: after {pages} pages the connector returned a page token \
         this sync already had; the sync is discarded and the next one starts over"
    )]
    TokenCycle { task: String, pages: u64 },
    /// A bound of [`SyncLimits`] was reached.
    #[error(
        "{task}: the sync reached its limit {} of {limit} (raise it with {}); \
         the sync is discarded and the next one starts over",
        bound.name(),
        bound.flag()
    )]
    LimitReached {
        bound: SyncBound,
        limit: u64,
        task: String,
    },
    /// The run's wall-clock deadline passed.
    #[error(
        "the sync reached its deadline of {}s; it stopped at a checkpoint and the next sync \
         resumes there",
        deadline.as_secs_f64()
    )]
    DeadlineExceeded { deadline: Duration },
}

impl SyncError {
    pub fn call_error(&self) -> Option<&CallError> {
        match self {
            SyncError::Call { error, .. } => Some(error),
            _ => None,
        }
    }

    /// A short stable name for the ways a sync is bounded, for status and
    /// logs; `None` for the other errors.
    pub fn bound(&self) -> Option<&'static str> {
        match self {
            SyncError::TokenCycle { .. } => Some("token-cycle"),
            SyncError::LimitReached { bound, .. } => Some(bound.name()),
            SyncError::DeadlineExceeded { .. } => Some("sync-deadline"),
            _ => None,
        }
    }

    /// Whether the working sync is discarded rather than resumed: resuming
    /// would walk into the same cycle or limit.
    fn discards(&self) -> bool {
        matches!(
            self,
            SyncError::TokenCycle { .. } | SyncError::LimitReached { .. }
        )
    }
}

/// A task as the queue stores it. The fields of the batched tasks
/// (contract 0.1.4) are serialized only when set, so queues written before
/// them still parse, and tasks without them keep their digests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct StoredTask {
    op: u8,
    #[serde(rename = "type")]
    resource_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    /// Pages of this task's chain before this one (0: its first page).
    #[serde(default, skip_serializing_if = "is_zero")]
    page: u64,
    /// [`GET_RESOURCE`] only: the target's parent, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parent: Option<(String, String)>,
    /// [`GET_RESOURCES`] only: the ids of `type` it reads, each with how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reads: Option<Vec<(String, ReadMode)>>,
    /// [`SCOPED_GRANTS`] only: the principals of `type` whose grants it
    /// lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    principals: Option<Vec<String>>,
    /// [`SCOPED_GRANTS`] only: which of their grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<ScopeSet>,
    /// [`RESOURCE_GRANTS`] only (`resource`: the resource): the principal
    /// types whose grants on it it lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    principal_types: Option<Vec<String>>,
}

/// The op of a targeted sync's `get-resource` task (`resource`: the target),
/// run in the first phase.
const GET_RESOURCE: u8 = 3;
/// The op of an incremental sync's `list-principal-grants` task
/// (`resource`: the principal), run with the grants ([`crate::incremental`]).
const PRINCIPAL_GRANTS: u8 = 4;
/// The op of an incremental sync's batched `get-resources` task (`reads`:
/// ids of `type`), run in the first phase (contract 0.1.4).
const GET_RESOURCES: u8 = 5;
/// The op of an incremental sync's scoped `list-principal-grants` task
/// (`principals` of `type`, `scope`), run with the grants (0.1.4).
const SCOPED_GRANTS: u8 = 6;
/// The op of an incremental sync's `list-resource-grants` task
/// (`resource`, `principal_types`), run with the grants (0.1.4).
const RESOURCE_GRANTS: u8 = 7;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A resource id as a task stores it, and back.
fn pair(id: &wit::ResourceId) -> (String, String) {
    (id.resource_type.clone(), id.resource.clone())
}

fn unpair((resource_type, resource): &(String, String)) -> wit::ResourceId {
    wit::ResourceId {
        resource_type: resource_type.clone(),
        resource: resource.clone(),
    }
}

impl StoredTask {
    /// The first page of `op` on `resource` (and, for [`GET_RESOURCE`], its
    /// parent, if known).
    fn on(op: u8, resource: &wit::ResourceId, parent: Option<&wit::ResourceId>) -> Self {
        Self {
            op,
            resource_type: resource.resource_type.clone(),
            resource: Some(pair(resource)),
            parent: parent.map(pair),
            ..Self::default()
        }
    }

    fn from_wit(t: &sync_api::SyncTask) -> Self {
        Self {
            op: match t.op {
                sync_api::SyncOp::ListResources => 0,
                sync_api::SyncOp::ListEntitlements => 1,
                sync_api::SyncOp::ListGrants => 2,
            },
            resource_type: t.resource_type.clone(),
            resource: t.resource.as_ref().map(pair),
            token: t.page_token.clone(),
            ..Self::default()
        }
    }

    /// The phase that runs it: a target's read runs with the listings.
    fn phase(&self) -> u8 {
        match self.op {
            GET_RESOURCE | GET_RESOURCES => 0,
            PRINCIPAL_GRANTS | SCOPED_GRANTS | RESOURCE_GRANTS => 2,
            op => op,
        }
    }

    /// The component call that does it.
    fn operation(&self) -> Operation {
        let of_type = |ids: &Option<Vec<String>>| -> Vec<wit::ResourceId> {
            ids.iter()
                .flatten()
                .map(|r| unpair(&(self.resource_type.clone(), r.clone())))
                .collect()
        };
        match (self.op, &self.resource) {
            (GET_RESOURCES, _) => {
                let ids = self
                    .reads
                    .iter()
                    .flatten()
                    .map(|(r, _)| r.clone())
                    .collect();
                Operation::GetResources(of_type(&Some(ids)))
            }
            (SCOPED_GRANTS, _) => Operation::ListScopedPrincipalGrants(
                of_type(&self.principals),
                self.scope.clone().unwrap_or_default().to_wit(),
                self.token.clone(),
            ),
            (RESOURCE_GRANTS, Some(resource)) => Operation::ListResourceGrants(
                unpair(resource),
                self.principal_types.clone().unwrap_or_default(),
                self.token.clone(),
            ),
            (PRINCIPAL_GRANTS, Some(principal)) => {
                Operation::ListPrincipalGrants(unpair(principal), self.token.clone())
            }
            (GET_RESOURCE, Some(target)) => {
                Operation::GetResource(unpair(target), self.parent.as_ref().map(unpair))
            }
            _ => Operation::Sync(self.to_wit()),
        }
    }

    /// What the seen set remembers: the task and its token, not its page
    /// count (a cycle revisits a token at another count). 16 bytes of
    /// SHA-256: a collision among even 2^32 tasks has odds of 2^-64, and
    /// one a component forced would only fail its own sync.
    fn digest(&self) -> [u8; 16] {
        use sha2::Digest;
        let key = StoredTask {
            page: 0,
            ..self.clone()
        };
        let hash = sha2::Sha256::digest(serde_json::to_vec(&key).expect("task serializes"));
        hash[..16].try_into().expect("16 of its 32 bytes")
    }

    fn to_wit(&self) -> sync_api::SyncTask {
        sync_api::SyncTask {
            op: match self.op {
                0 => sync_api::SyncOp::ListResources,
                1 => sync_api::SyncOp::ListEntitlements,
                _ => sync_api::SyncOp::ListGrants,
            },
            resource_type: self.resource_type.clone(),
            resource: self.resource.as_ref().map(unpair),
            page_token: self.token.clone(),
        }
    }

    fn describe(&self) -> String {
        let op = [
            "list-resources",
            "list-entitlements",
            "list-grants",
            "get-resource",
            "list-principal-grants",
            "get-resources",
            "list-principal-grants",
            "list-resource-grants",
        ][self.op.min(RESOURCE_GRANTS) as usize];
        let first = |ids: Vec<&String>| match ids.as_slice() {
            [] => String::new(),
            [one] => format!(" ({one})"),
            [one, rest @ ..] => format!(" ({one} and {} more)", rest.len()),
        };
        match (self.op, &self.resource) {
            (GET_RESOURCES, _) => {
                let ids: Vec<&String> = self.reads.iter().flatten().map(|(r, _)| r).collect();
                let n = ids.len();
                format!("{op} of {n} {}{}", self.resource_type, first(ids))
            }
            (SCOPED_GRANTS, _) => {
                let ids: Vec<&String> = self.principals.iter().flatten().collect();
                let n = ids.len();
                format!("{op} of {n} {}{}", self.resource_type, first(ids))
            }
            (_, Some((t, r))) => format!("{op} of {t}:{r}"),
            (_, None) => format!("{op} of type {}", self.resource_type),
        }
    }

    /// For a batched grants task that the component answered "not found":
    /// whether what it names is gone from the artifact too (deleted by a
    /// re-read of this sync), so skipping it loses nothing. Otherwise the
    /// answer would leave dropped grants unread, and the sync fails.
    fn names_only_gone(&self, writer: &C1zWriter) -> bool {
        let stored = |t: &str, r: &str| writer.resource_exists(t, r).unwrap_or(true);
        match (self.op, &self.resource) {
            (SCOPED_GRANTS, _) => !self
                .principals
                .iter()
                .flatten()
                .any(|p| stored(&self.resource_type, p)),
            (RESOURCE_GRANTS, Some((t, r))) => !stored(t, r),
            _ => true,
        }
    }
}

/// The task queue of one sync (the c1z's side tables, see
/// [`c1z::sync_queue`]), with what it holds counted against the sync's
/// limits.
struct Queue {
    tasks: u64,
    bytes: u64,
    max_tasks: u64,
    max_bytes: u64,
}

impl Queue {
    /// Opens the queue of the writer's sync, counting what a resumed sync
    /// left.
    fn open(writer: &C1zWriter, limits: &SyncLimits) -> Result<Self, SyncError> {
        let totals = writer.sync_queue().totals()?;
        Ok(Self {
            tasks: totals.tasks,
            bytes: totals.bytes,
            max_tasks: limits.max_queued_tasks,
            max_bytes: limits.max_queue_bytes,
        })
    }

    /// Queues `task` unless it is queued already; `what` names the task
    /// that asked for it, for the error when a limit is reached.
    fn push(&mut self, writer: &C1zWriter, task: &StoredTask, what: &str) -> Result<(), SyncError> {
        let json = serde_json::to_string(task).expect("task serializes");
        let bytes = json.len() as u64;
        let reached = |bound, limit| SyncError::LimitReached {
            bound,
            limit,
            task: what.to_string(),
        };
        if self.tasks >= self.max_tasks {
            return Err(reached(SyncBound::QueuedTasks, self.max_tasks));
        }
        if self.bytes + bytes > self.max_bytes {
            return Err(reached(SyncBound::QueueBytes, self.max_bytes));
        }
        if writer.sync_queue().push(task.phase(), &json)? {
            self.tasks += 1;
            self.bytes += bytes;
        }
        Ok(())
    }

    fn remove(&mut self, writer: &C1zWriter, id: i64, task: &StoredTask) -> Result<(), SyncError> {
        if writer.sync_queue().remove(id)? {
            let bytes = serde_json::to_string(task).map_or(0, |j| j.len() as u64);
            self.tasks = self.tasks.saturating_sub(1);
            self.bytes = self.bytes.saturating_sub(bytes);
        }
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
        let corrupt =
            |e| SyncError::Connector(format!("the working file's task queue is corrupt: {e}"));
        let queued = writer.sync_queue().next(phase, after, limit)?;
        (queued.into_iter())
            .map(|q| Ok((q.id, serde_json::from_str(&q.task).map_err(corrupt)?)))
            .collect()
    }
}

/// Caches of what the artifact already holds, to validate records cheaply.
#[derive(Default)]
struct Known {
    owners: HashMap<String, pb::Resource>,
    entitlements: HashMap<String, pb::Resource>,
    /// What the caches hold, as [`Known::room`] counts it.
    cached_bytes: usize,
    /// Upload bytes of this sync's committed calls, across resumes
    /// (`Limits::upload_bytes_per_sync`).
    uploaded: u64,
}

/// Bytes the caches above may hold. Threat: cached owners are whole stored
/// resources, each up to a record's 256 KiB of JSON, which decodes to
/// several times that (every JSON value a 32-byte protobuf `Value`), so an
/// entry count alone let a component make the caches hold gigabytes.
/// Each entry counts 16x its encoded length; 256 MiB keeps every owner of
/// a 50,000-group PingOne tenant (~300 encoded bytes each) cached.
const CACHE_BYTES: usize = 256 << 20;

impl Known {
    /// Whether an entry of `key` for `owner` fits the caches; counts it if so.
    fn room(&mut self, key: &str, owner: &pb::Resource) -> bool {
        let cost = key.len() + 16 * prost::Message::encoded_len(owner);
        if self.cached_bytes + cost > CACHE_BYTES {
            return false;
        }
        self.cached_bytes += cost;
        true
    }
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
    targeted::check_targets(plugin, &options.targets)?;
    let writer_options = WriterOptions {
        partial: !options.targets.is_empty(),
        ..options.writer.clone()
    };
    let (mut writer, mut start) = C1zWriter::open(file, writer_options.clone())?;
    if matches!(&start, SyncStart::Resumed { checkpoint, .. } if checkpoint == DISCARDED_TOKEN) {
        // The last run hit a cycle or a limit: start over (the writer drops
        // the unfinished sync it does not resume).
        tracing::info!("the previous sync reached a limit and was discarded; starting over");
        drop(writer);
        let fresh = WriterOptions {
            resume: false,
            ..writer_options
        };
        (writer, start) = C1zWriter::open(file, fresh)?;
    }
    let sync_id = start.sync_id().to_string();
    let resumed = matches!(start, SyncStart::Resumed { .. });
    if resumed {
        writer.sync_queue().create_tables()?;
        tracing::info!(sync_id, "resuming an interrupted sync from its checkpoint");
    } else if options.targets.is_empty() {
        seed_new_sync(&mut writer, plugin, &options.limits, Seed::Full)?;
    } else {
        let seed = Seed::Targets(&options.targets);
        seed_new_sync(&mut writer, plugin, &options.limits, seed)?;
    }
    // Counted across resumes: a resumed sync has the budget it had left.
    let spent = writer.sync_queue().spent()?;
    let calls_before = spent.calls;
    let types = &plugin.metadata.resource_types;
    let mut committer = Committer {
        queue: Queue::open(&writer, &options.limits)?,
        known: Known {
            uploaded: spent.bytes,
            ..Known::default()
        },
        types: resource_types(plugin),
        skip: (types.iter().filter(|t| t.skip_entitlements_and_grants))
            .map(|t| t.id.clone())
            .collect(),
        instance,
        limits: &options.limits,
    };
    let mut warnings = Vec::new();
    // Grant principals a targeted sync found gone: their grants are skipped.
    let mut related_gone = HashSet::new();
    let mut calls = 0u64;
    let deadline = tokio::time::Instant::now() + options.limits.deadline;
    // Calls whose results are written but not yet committed, and when the
    // first of them was written.
    let mut uncommitted = 0usize;
    let mut oldest_uncommitted = Instant::now();
    let mut last_progress = Instant::now();
    // This run's pages share warm instances (one tenant, one component).
    let warm = Arc::new(WarmInstances::new());
    // Runs attempt `attempt` of a queued task after `delay`.
    let spawn = |set: &mut JoinSet<CallOutcome>, id, task: StoredTask, attempt, delay: Duration| {
        let (plugin, instance, warm) = (plugin.clone(), instance.clone(), warm.clone());
        set.spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let result = plugin.call_warm(&instance, task.operation(), &warm).await;
            (id, task, attempt, result)
        });
    };
    // An incremental sync's re-read of a resource's grants may be one long
    // listing (a dynamic group of a good part of the tenant, paged one
    // cursor after another): the first few queued start with the first
    // phase, at most half the slots, and are joined and committed in the
    // grants phase like any task.
    let mut early: JoinSet<CallOutcome> = JoinSet::new();
    let mut early_ids = HashSet::new();
    let early_slots = (options.concurrency / 2).max(1);
    for (id, task) in committer.queue.next(&writer, 2, 0, early_slots)? {
        if task.op == RESOURCE_GRANTS {
            early_ids.insert(id);
            spawn(&mut early, id, task, 0, Duration::ZERO);
        }
    }
    for phase in 0u8..3 {
        let mut cursor = 0i64;
        let mut inflight: JoinSet<CallOutcome> = if phase == 2 {
            std::mem::take(&mut early)
        } else {
            JoinSet::new()
        };
        loop {
            let stopping = options
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed));
            // Keep `concurrency` calls in flight (none new once stopping).
            let room = if stopping {
                0
            } else {
                (options.concurrency.max(1)).saturating_sub(inflight.len() + early.len())
            };
            if room > 0 {
                for (id, task) in committer.queue.next(&writer, phase, cursor, room)? {
                    cursor = id;
                    if phase == 2 && early_ids.contains(&id) {
                        continue; // started early, in flight already
                    }
                    spawn(&mut inflight, id, task, 0, Duration::ZERO);
                }
            }
            // Group commit: a call that finished while the engine wrote
            // the last one's results is written in the same transaction,
            // as long as its results do not wait longer than
            // `checkpoint_interval` nor more than `concurrency` calls
            // pile up; otherwise, and always before the engine waits, what
            // is written is committed. So a kill loses only the calls in
            // flight and the few results not yet committed.
            let mut joined = inflight.try_join_next();
            let commit_now = joined.is_none()
                || uncommitted >= options.concurrency.max(1)
                || oldest_uncommitted.elapsed() >= options.checkpoint_interval;
            if commit_now && uncommitted > 0 {
                writer.checkpoint(CHECKPOINT_TOKEN)?;
                uncommitted = 0;
            }
            if joined.is_none() {
                // The deadline ends the run even while calls hang (each may
                // take its whole wall-clock budget): what they did is redone
                // on resume, what was committed stays.
                let Ok(next) = tokio::time::timeout_at(deadline, inflight.join_next()).await else {
                    inflight.abort_all();
                    writer.checkpoint(CHECKPOINT_TOKEN)?;
                    let deadline = options.limits.deadline;
                    return Err(SyncError::DeadlineExceeded { deadline });
                };
                joined = next;
            }
            let Some(joined) = joined else {
                if stopping {
                    writer.checkpoint(CHECKPOINT_TOKEN)?;
                    return Err(SyncError::Interrupted);
                }
                break; // nothing in flight and nothing queued: phase done
            };
            let (id, task, attempt, result) = joined
                .map_err(|e| SyncError::Connector(format!("a connector call task failed: {e}")))?;
            calls += 1;
            // Every call made counts, retries too; the results of the
            // first `max_calls` are kept, a call beyond them ends the sync.
            if calls_before + calls > options.limits.max_calls {
                inflight.abort_all();
                writer.checkpoint(DISCARDED_TOKEN)?;
                return Err(SyncError::LimitReached {
                    bound: SyncBound::Calls,
                    limit: options.limits.max_calls,
                    task: task.describe(),
                });
            }
            writer.sync_queue().set_calls(calls_before + calls)?;
            // A targeted sync: a target's read commits as a page of it, and
            // a grants page first reads the principals the sync lacks.
            let result = match (result, &task.resource) {
                (Ok((Output::Found(found), report)), Some(target)) => {
                    let target = unpair(target);
                    // No targets: an incremental sync's re-read, which
                    // replaces what the previous sync held for it.
                    if options.targets.is_empty() {
                        crate::incremental::replace_before_reread(
                            &mut writer,
                            &target,
                            found,
                            &report,
                        )?;
                    }
                    targeted::found_as_page(&target, found, report, &task.describe(), &mut warnings)
                }
                (Ok((Output::Page(page), mut report)), _)
                    if phase == 2 && !options.targets.is_empty() =>
                {
                    let cx = targeted::RelatedContext {
                        plugin,
                        instance,
                        warm: &warm,
                        concurrency: options.concurrency,
                        max_attempts: options.max_attempts,
                        calls_before: calls_before + calls,
                        max_calls: options.limits.max_calls,
                    };
                    let (upload, gone) = (&mut report.upload, &mut related_gone);
                    let what = task.describe();
                    let fetched =
                        targeted::fetch_principals(cx, &mut writer, upload, gone, &what).await;
                    let reads = fetched.inspect_err(|_| inflight.abort_all())?;
                    calls += reads.calls;
                    writer.sync_queue().set_calls(calls_before + calls)?;
                    warnings.extend(reads.warnings);
                    Ok((Output::Page(page), report))
                }
                (Ok((Output::Page(page), report)), Some((t, r))) if task.op == PRINCIPAL_GRANTS => {
                    crate::incremental::check_principal_upload(&report.upload, t, r)
                        .map_err(CallError::InvalidRecord)
                        .map(|()| (Output::Page(page), report))
                }
                // Batched re-reads (contract 0.1.4): checked, and what they
                // replace dropped, before the engine commits them.
                (Ok((Output::Missing(missing), mut report)), _) if task.op == GET_RESOURCES => {
                    let reads = task.reads.as_deref().unwrap_or_default();
                    crate::incremental::apply_batched_read(
                        &mut writer,
                        &task.resource_type,
                        reads,
                        &missing,
                        &mut report.upload,
                    )?
                    .map_err(CallError::InvalidRecord)
                    .map(|()| {
                        let page = sync_api::PageOutcome {
                            next_page_token: None,
                            follow_ups: Vec::new(),
                        };
                        (Output::Page(Box::new(page)), report)
                    })
                }
                (Ok((Output::Page(page), report)), _) if task.op == SCOPED_GRANTS => {
                    crate::incremental::check_scoped_upload(
                        &report.upload,
                        &task.resource_type,
                        task.principals.as_deref().unwrap_or_default(),
                        task.scope.as_ref().unwrap_or(&ScopeSet::default()),
                    )
                    .map_err(CallError::InvalidRecord)
                    .map(|()| (Output::Page(page), report))
                }
                (Ok((Output::Page(page), report)), Some((t, r))) if task.op == RESOURCE_GRANTS => {
                    let resource = wit::ResourceId {
                        resource_type: t.clone(),
                        resource: r.clone(),
                    };
                    crate::incremental::check_resource_grants_upload(
                        &report.upload,
                        &resource,
                        task.principal_types.as_deref().unwrap_or_default(),
                    )
                    .map_err(CallError::InvalidRecord)
                    .map(|()| (Output::Page(page), report))
                }
                (result, _) => result,
            };
            match result {
                Ok((Output::Page(page), report)) => {
                    // An incremental re-read stores resources anew and may
                    // keep the records on them: the copies of each that
                    // those embed are refreshed once it is written.
                    let reread: Vec<pb::Resource> = if options.targets.is_empty()
                        && matches!(task.op, GET_RESOURCE | GET_RESOURCES)
                    {
                        report
                            .upload
                            .resources
                            .iter()
                            .map(convert::resource)
                            .collect()
                    } else {
                        Vec::new()
                    };
                    let committed = drop_what_it_replaces(&mut writer, &task)
                        .and_then(|()| {
                            commit_page(
                                &mut committer,
                                &mut writer,
                                id,
                                &task,
                                *page,
                                report,
                                phase,
                            )
                        })
                        .and_then(|()| {
                            for r in &reread {
                                writer.refresh_embedded_resource(r)?;
                            }
                            Ok(())
                        });
                    if let Err(e) = committed {
                        inflight.abort_all();
                        if e.discards() {
                            writer.checkpoint(DISCARDED_TOKEN)?;
                        }
                        return Err(e);
                    }
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
                    spawn(&mut inflight, id, task, n, TASK_BACKOFF.delay(n));
                }
                Err(CallError::Connector {
                    kind: "not-found",
                    message,
                    ..
                }) if (phase > 0 || task.op == GET_RESOURCE) && task.names_only_gone(&writer) => {
                    let w = format!("{}: skipped, not found: {message}", task.describe());
                    tracing::warn!("{w}");
                    warnings.push(w);
                    committer.queue.remove(&writer, id, &task)?;
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
            if uncommitted == 0 {
                oldest_uncommitted = Instant::now();
            }
            uncommitted += 1;
            if last_progress.elapsed() >= Duration::from_secs(5) {
                last_progress = Instant::now();
                let phase_name = ["resources", "entitlements", "grants"][phase as usize];
                tracing::info!(phase = phase_name, calls, "sync in progress");
            }
        }
    }
    writer.sync_queue().drop_tables()?;
    // Publishing a large tenant (counting, compressing, fsync) takes seconds:
    // the log says when it starts and what it wrote.
    tracing::info!(calls, "every task done; publishing");
    let report = writer.finish()?;
    tracing::info!(
        database_bytes = report.database_bytes,
        c1z_bytes = report.c1z_bytes,
        "published"
    );
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let http =
        |f: fn(&HttpStats) -> &AtomicU64| instance.http.as_ref().map_or(0, |h| load(f(&h.stats)));
    let (stats, metrics) = (&report.stats, &instance.metrics);
    Ok(SyncSummary {
        sync_id,
        file: report.target.clone(),
        resumed,
        resource_types: stats.resource_types,
        resources: stats
            .resources_by_resource_type
            .clone()
            .into_iter()
            .collect(),
        entitlements: stats.entitlements,
        grants: stats.grants,
        calls,
        instances: load(&metrics.instantiations).saturating_sub(instances_before),
        requests: http(|s| &s.requests),
        retries: http(|s| &s.retries),
        throttled: http(|s| &s.throttled),
        token_exchanges: (instance.secrets.broker.as_ref()).map_or(0, |b| load(&b.exchanges)),
        warnings,
        seconds: started.elapsed().as_secs_f64(),
        connector_cpu_seconds: load(&metrics.cpu_micros).saturating_sub(cpu_before) as f64 / 1e6,
        connector_memory_peak: load(&metrics.memory_high_water),
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

/// An incremental sync's grants task replaces what the previous sync held
/// within its scope: a principal's grants (all of them, or those on its
/// scope's resources), or a resource's grants held by some principal types.
/// They are dropped with the task's first page, in the transaction that
/// stores it, so the drop costs nothing before the re-reads start and a
/// kill leaves the previous grants until the answer replacing them commits.
/// Tasks whose scopes overlap each store what they read of the overlap, the
/// same current state.
fn drop_what_it_replaces(writer: &mut C1zWriter, task: &StoredTask) -> Result<(), SyncError> {
    if task.page > 0 {
        return Ok(());
    }
    let id = |(t, r): &(String, String)| c1z::pb::ResourceId::new(t, r);
    match (task.op, &task.resource) {
        (PRINCIPAL_GRANTS, Some(principal)) => {
            writer.delete_grants_of_principal(&id(principal))?;
        }
        (SCOPED_GRANTS, _) => {
            let scope = task.scope.clone().unwrap_or_default();
            let types: Vec<String> = scope.types.into_iter().collect();
            let resources: Vec<c1z::pb::ResourceId> = scope.resources.iter().map(id).collect();
            for p in task.principals.iter().flatten() {
                let principal = c1z::pb::ResourceId::new(&task.resource_type, p);
                writer.delete_grants_of_principal_in_scope(&principal, &types, &resources)?;
            }
        }
        (RESOURCE_GRANTS, Some(resource)) => {
            let types = task.principal_types.as_deref().unwrap_or_default();
            writer.delete_grants_on_resource_held_by(&id(resource), types)?;
        }
        _ => {}
    }
    Ok(())
}

/// What commits a sync's pages besides the writer: its queue, what the
/// artifact holds, and what records and tasks are checked against.
struct Committer<'a> {
    queue: Queue,
    known: Known,
    types: Vec<pb::ResourceType>,
    /// Types that are `skip-entitlements-and-grants`.
    skip: HashSet<String>,
    instance: &'a InstanceCtx,
    limits: &'a SyncLimits,
}

fn commit_page(
    committer: &mut Committer,
    writer: &mut C1zWriter,
    id: i64,
    task: &StoredTask,
    page: sync_api::PageOutcome,
    report: CallReport,
    phase: u8,
) -> Result<(), SyncError> {
    let (queue, known) = (&mut committer.queue, &mut committer.known);
    let what = task.describe();
    let bad = |m: String| SyncError::Call {
        task: what.clone(),
        error: CallError::InvalidRecord(m),
    };
    let over = |m: String| SyncError::Call {
        task: what.clone(),
        error: CallError::LimitExceeded(m),
    };
    let token_cap = committer.instance.limits.page_token_bytes;
    let too_long = |kind: &str, len: usize| {
        over(format!(
            "{kind} of {len} bytes, over the cap of {token_cap}"
        ))
    };
    // Page bookkeeping first: a broken page must not write half its records.
    let next_task = match page.next_page_token {
        Some(next) => {
            if next.len() > token_cap {
                return Err(too_long("page token", next.len()));
            }
            let pages = task.page + 1;
            let next = StoredTask {
                token: Some(next),
                page: pages,
                ..task.clone()
            };
            // A token this task had before, however long ago: a cycle.
            if next.token == task.token || writer.sync_queue().seen(&next.digest())? {
                return Err(SyncError::TokenCycle {
                    task: what.clone(),
                    pages,
                });
            }
            if pages >= committer.limits.max_pages_per_task {
                return Err(SyncError::LimitReached {
                    bound: SyncBound::PagesPerTask,
                    limit: committer.limits.max_pages_per_task,
                    task: what.clone(),
                });
            }
            Some(next)
        }
        None => None,
    };
    for f in &page.follow_ups {
        if let Some(t) = &f.page_token
            && t.len() > token_cap
        {
            return Err(too_long("follow-up page token", t.len()));
        }
    }
    let follow_ups = page.follow_ups.len();
    if follow_ups > MAX_FOLLOW_UPS {
        return Err(over(format!(
            "{follow_ups} follow-up tasks, over the cap of {MAX_FOLLOW_UPS}"
        )));
    }
    let mut upload = report.upload;
    // Every record's bytes count against the sync's budget, as each call's
    // did against its own (see `capabilities::upload`), across resumes.
    known.uploaded = known.uploaded.saturating_add(upload.bytes as u64);
    writer.sync_queue().set_bytes(known.uploaded)?;
    let cap = committer.instance.limits.upload_bytes_per_sync;
    if known.uploaded > cap {
        return Err(over(format!(
            "this sync's calls uploaded {} bytes of records, over the \
             upload_bytes_per_sync cap of {cap}",
            known.uploaded
        )));
    }
    // Two records whose ids collide are refused by the writer, naming both.
    let stored = |e: c1z::C1zError| match e {
        c1z::C1zError::IdCollision { .. } => bad(e.to_string()),
        e => SyncError::Artifact(e),
    };
    let grants = upload.take_grants();
    // Resources. Each record is converted and written on its own: a
    // converted record embeds decoded JSON, and entitlements and grants
    // embed their owner whole, so a batch would hold many times the bytes
    // the call was charged for.
    for r in &upload.resources {
        writer
            .put_resources(std::slice::from_ref(&convert::resource(r)))
            .map_err(stored)?;
    }
    for (i, r) in upload.resources.iter().enumerate() {
        if committer.skip.contains(&r.id.resource_type) {
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
            queue.push(writer, &StoredTask::on(op, &r.id, None), &what)?;
        }
    }
    // Entitlements: their resource must be stored, and is embedded whole.
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
                if known.owners.len() < CACHE_ENTRIES && known.room(&key, &r) {
                    known.owners.insert(key, r.clone());
                }
                r
            }
        };
        let p = convert::entitlement(e, owner.clone(), &committer.types);
        writer
            .put_entitlements(std::slice::from_ref(&p))
            .map_err(stored)?;
        if known.entitlements.len() < CACHE_ENTRIES && known.room(&p.id, &owner) {
            known.entitlements.insert(p.id, owner);
        }
    }
    // Grants: entitlement and principal must be stored.
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
                if known.entitlements.len() < CACHE_ENTRIES && known.room(&ent_id, &r) {
                    known.entitlements.insert(ent_id.clone(), r.clone());
                }
                r
            }
        };
        // The id may be stored for another entitlement whose id collides
        // with this one's (resource `a:b` slug `c`, resource `a` slug
        // `b:c`): this grant's own entitlement is then not stored.
        let (t, r) = (owner.id.as_ref())
            .map(|i| (i.resource_type.as_str(), i.resource.as_str()))
            .unwrap_or_default();
        let named = &g.entitlement_resource;
        if (t, r) != (named.resource_type.as_str(), named.resource.as_str()) {
            let other = ent_id.strip_prefix(&format!("{t}:{r}:")).unwrap_or("?");
            return Err(bad(format!(
                "grant {} names entitlement {ent_id} as resource {}:{} slug {:?}, but \
                 that id is derived from two different records: resource {t}:{r} slug \
                 {other:?} (stored) and this one",
                convert::grant_id(&ent_id, &g.principal),
                named.resource_type,
                named.resource,
                g.entitlement_slug,
            )));
        }
        if !writer.resource_exists(&g.principal.resource_type, &g.principal.resource)? {
            return Err(bad(format!(
                "grant {} names principal {}:{}, which this sync has not stored",
                convert::grant_id(&ent_id, &g.principal),
                g.principal.resource_type,
                g.principal.resource
            )));
        }
        writer
            .put_grants(std::slice::from_ref(&convert::grant(g, owner)))
            .map_err(stored)?;
    }
    // Queue bookkeeping, in the same transaction as the records.
    queue.remove(writer, id, task)?;
    if let Some(next) = next_task {
        // Remembered in the seen set, as every queued token is.
        writer.sync_queue().first_sight(&next.digest())?;
        queue.push(writer, &next, &what)?;
    }
    for f in &page.follow_ups {
        let t = StoredTask::from_wit(f);
        if t.op < phase {
            return Err(bad(format!(
                "asked for {} during a later phase; follow-ups must not go back a phase",
                t.describe()
            )));
        }
        // A follow-up this sync already queued would repeat a call (and a
        // task that asks for itself would run forever): it is dropped.
        if writer.sync_queue().first_sight(&t.digest())? {
            queue.push(writer, &t, &what)?;
        }
    }
    Ok(())
}

/// What a new sync that [`crate::incremental`] prepares starts with.
pub(crate) enum Seed<'a> {
    /// Every type's listing, as [`run_sync`] starts a full sync.
    Full,
    /// A read of every target, as [`run_sync`] starts a targeted sync.
    Targets(&'a [SyncTarget]),
    /// Re-reads, as tasks.
    Reread(&'a RereadTasks),
}

/// The re-read tasks of an incremental sync.
#[derive(Debug, Default)]
pub(crate) struct RereadTasks {
    /// Each resource (with its parent, if known) by `get-resource`
    /// (contract 0.1.3).
    pub single_reads: Vec<(wit::ResourceId, Option<wit::ResourceId>)>,
    /// Each principal's grants, all of them, by `list-principal-grants`
    /// (0.1.3).
    pub all_grants: Vec<wit::ResourceId>,
    /// Ids of one type, each with how it is read, by `get-resources`
    /// (0.1.4), at most [`crate::incremental::REREAD_BATCH`] a task.
    pub batched_reads: Vec<(String, Vec<(String, ReadMode)>)>,
    /// Principals' grants within a scope, by the batched
    /// `list-principal-grants` (0.1.4).
    pub scoped_grants: Vec<ScopedGrantsTask>,
    /// A resource's grants held by principals of some types, by
    /// `list-resource-grants` (0.1.4).
    pub resource_grants: Vec<(wit::ResourceId, Vec<String>)>,
}

/// One batched `list-principal-grants` task: principals of one type, one
/// scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScopedGrantsTask {
    pub principal_type: String,
    pub principals: Vec<String>,
    pub scope: ScopeSet,
}

/// Queues the first tasks of the writer's new sync (its queue emptied
/// first), stores the component's resource types and commits a checkpoint
/// with everything the caller wrote before: [`run_sync`] then resumes the
/// sync and runs those tasks through the same checks and commits as any.
pub(crate) fn seed_new_sync(
    writer: &mut C1zWriter,
    plugin: &Plugin,
    limits: &SyncLimits,
    seed: Seed<'_>,
) -> Result<(), SyncError> {
    let tasks: Vec<StoredTask> = match seed {
        Seed::Full => plugin
            .metadata
            .resource_types
            .iter()
            .map(|t| StoredTask {
                resource_type: t.id.clone(),
                ..StoredTask::default()
            })
            .collect(),
        Seed::Targets(targets) => targets
            .iter()
            .map(|t| StoredTask::on(GET_RESOURCE, &t.id, t.parent.as_ref()))
            .collect(),
        Seed::Reread(tasks) => {
            let reads = tasks
                .single_reads
                .iter()
                .map(|(id, parent)| StoredTask::on(GET_RESOURCE, id, parent.as_ref()));
            let batched_reads = tasks.batched_reads.iter().map(|(t, ids)| StoredTask {
                op: GET_RESOURCES,
                resource_type: t.clone(),
                reads: Some(ids.clone()),
                ..StoredTask::default()
            });
            let grants = tasks
                .all_grants
                .iter()
                .map(|p| StoredTask::on(PRINCIPAL_GRANTS, p, None));
            let scoped = tasks.scoped_grants.iter().map(|t| StoredTask {
                op: SCOPED_GRANTS,
                resource_type: t.principal_type.clone(),
                principals: Some(t.principals.clone()),
                scope: Some(t.scope.clone()),
                ..StoredTask::default()
            });
            let resource_grants = tasks.resource_grants.iter().map(|(id, types)| StoredTask {
                principal_types: Some(types.clone()),
                ..StoredTask::on(RESOURCE_GRANTS, id, None)
            });
            // A resource's grants may be a long listing (a dynamic group
            // of the whole tenant, paged): it is queued first, and starts
            // with the first phase (`run_sync`), so the other calls fill
            // the slots beside it instead of leaving it alone at the end.
            reads
                .chain(batched_reads)
                .chain(resource_grants)
                .chain(grants)
                .chain(scoped)
                .collect()
        }
    };
    writer.sync_queue().create_tables()?;
    writer.sync_queue().clear()?;
    writer.put_resource_types(&resource_types(plugin))?;
    let mut queue = Queue::open(writer, limits)?;
    for task in &tasks {
        queue.push(writer, task, "the sync's first tasks")?;
    }
    writer.checkpoint(CHECKPOINT_TOKEN)?;
    Ok(())
}

/// The component's resource types, as the artifact stores them.
fn resource_types(plugin: &Plugin) -> Vec<pb::ResourceType> {
    let types = &plugin.metadata.resource_types;
    types.iter().map(convert::resource_type).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_the_same_task_at_any_page_count() {
        let task = |token: &str, page| StoredTask {
            op: 0,
            resource_type: "user".into(),
            token: Some(token.into()),
            page,
            ..StoredTask::default()
        };
        assert_eq!(task("A", 1).digest(), task("A", 3).digest());
        assert_ne!(task("A", 1).digest(), task("B", 1).digest());
        let grants = StoredTask {
            op: 2,
            ..task("A", 1)
        };
        assert_ne!(grants.digest(), task("A", 1).digest());
        // Old checkpoints (no page count) still read.
        let old: StoredTask = serde_json::from_str(r#"{"op":0,"type":"user"}"#).unwrap();
        assert_eq!(old.page, 0);
    }

    #[test]
    fn batched_tasks_round_trip_and_older_tasks_keep_their_form() {
        // A 0.1.3 task serializes as before (and so keeps its digest).
        let old = StoredTask {
            op: PRINCIPAL_GRANTS,
            resource_type: "user".into(),
            resource: Some(("user".into(), "u1".into())),
            ..StoredTask::default()
        };
        assert_eq!(
            serde_json::to_string(&old).unwrap(),
            r#"{"op":4,"type":"user","resource":["user","u1"]}"#
        );
        let scoped = StoredTask {
            op: SCOPED_GRANTS,
            resource_type: "user".into(),
            principals: Some(vec!["u1".into(), "u2".into()]),
            scope: Some(ScopeSet {
                types: ["role".to_string()].into(),
                resources: [("group".to_string(), "g".to_string())].into(),
            }),
            token: Some("t".into()),
            ..StoredTask::default()
        };
        let json = serde_json::to_string(&scoped).unwrap();
        assert_eq!(serde_json::from_str::<StoredTask>(&json).unwrap(), scoped);
        assert_eq!(scoped.phase(), 2);
        match scoped.operation() {
            Operation::ListScopedPrincipalGrants(ids, scope, token) => {
                assert_eq!(ids.len(), 2);
                assert_eq!(ids[1].resource, "u2");
                assert_eq!(scope.resource_types, ["role"]);
                assert_eq!(scope.resources[0].resource, "g");
                assert_eq!(token.as_deref(), Some("t"));
            }
            _ => panic!("not a scoped grants call"),
        }
        assert_eq!(
            scoped.describe(),
            "list-principal-grants of 2 user (u1 and 1 more)"
        );
        let reads = StoredTask {
            op: GET_RESOURCES,
            resource_type: "user".into(),
            reads: Some(vec![("u1".into(), ReadMode::Record)]),
            ..StoredTask::default()
        };
        let json = serde_json::to_string(&reads).unwrap();
        assert_eq!(json, r#"{"op":5,"type":"user","reads":[["u1","record"]]}"#);
        assert_eq!(reads.phase(), 0);
        assert!(matches!(reads.operation(), Operation::GetResources(ids) if ids.len() == 1));
        let on_resource = StoredTask {
            op: RESOURCE_GRANTS,
            resource_type: "group".into(),
            resource: Some(("group".into(), "g".into())),
            principal_types: Some(vec!["user".into()]),
            ..StoredTask::default()
        };
        assert_eq!(on_resource.describe(), "list-resource-grants of group:g");
        assert!(matches!(
            on_resource.operation(),
            Operation::ListResourceGrants(id, types, None) if id.resource == "g" && types == ["user"]
        ));
    }

    #[test]
    fn the_defaults_leave_a_million_user_pingone_sync_room() {
        let l = SyncLimits::default();
        // 126 calls per 5,000 users, linear: ~25,200 per million.
        let calls = 126 * (1_000_000 / 5_000);
        assert!(l.max_calls >= 10 * calls);
        // The user listing, 200 a page.
        assert!(l.max_pages_per_task >= 10 * (1_000_000 / 200));
        assert!(l.max_queued_tasks >= 10 * calls);
        // ~2.1 million requests at ~100 a second.
        assert!(l.deadline >= Duration::from_secs(2 * 2_100_000 / 100));
    }
}
