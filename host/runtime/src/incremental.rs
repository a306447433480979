//! Incremental syncs (contract 0.1.3 `change-feed`, 0.1.4
//! `batched-change-feed`): read what changed upstream since the last sync,
//! re-read only that, and publish a complete snapshot.
//!
//! Decisions:
//! - The result is a full sync (type `full`, parent: the sync it continues)
//!   that starts as a copy of the last finished sync's records
//!   ([`c1z::carry`]), so inspect, diff and ConductorOne see a complete
//!   snapshot, never a delta.
//! - A change is a hint, never data: the host re-reads current state. A
//!   `resource` change is a `get-resource` task; when it commits, what the
//!   previous sync held for the resource is replaced ([`replace_before_reread`]):
//!   gone upstream, the resource goes with its entitlements, the grants on
//!   them and the grants it holds; found, its row and entitlements are
//!   stored anew and, unless its put skipped `list-grants`, so are the
//!   grants on its entitlements. A `principal-grants` change queues
//!   `list-principal-grants`, whose answer replaces every grant the
//!   principal holds. These
//!   tasks run in the sync engine ([`crate::sync`]) with the same record
//!   checks, limits and commits as a full sync's, and resume after a kill
//!   like any sync.
//! - Contract 0.1.4: a component exporting `batched-change-feed` has its
//!   log read through it (an `unsupported` answer to its first
//!   `list-changes` means "use `change-feed`", and then every re-read goes
//!   through 0.1.3's functions, as for a 0.1.3 component). Both logs become
//!   one plan ([`Rereads`]), merged per object: a resource with a mode
//!   (`resource` wins over `resource-record`, which replaces the row and
//!   keeps the grants on it), a principal with the union of its scopes (a
//!   0.1.3 hint's scope is "all its grants"), a resource with the union of
//!   the principal types whose grants on it are re-listed. `max_rereads`
//!   counts these objects. What a grants task replaces (a principal's
//!   grants within its scope, a resource's grants held by those types) is
//!   dropped in the transaction that stores its answer, not before the
//!   re-reads start (`sync::drop_what_it_replaces`). The batched re-reads are
//!   tasks of many objects of one type ([`REREAD_BATCH`]), checked on
//!   commit like any (`check_batched_read`, `check_scoped_upload`,
//!   `check_resource_grants_upload`): a read that uploads an id not asked,
//!   or one both found and missing, and a grant outside its task's scope
//!   are refused, and the incremental sync falls back to a full one.
//! - Never silently stale: whenever the host cannot prove the copy plus the
//!   changes complete, it runs a full sync instead and logs why
//!   ([`Fallback`]): no finished sync or no mark to continue from; a mark
//!   older than the change log keeps ([`IncrementalOptions::max_mark_age`])
//!   or from another component or configuration; resource types that
//!   changed; no `change-feed` or no single-resource reads for a type a
//!   change names; the connector's own `full-sync` answer; a refused or
//!   failed read of the log (a permission it lacks is named in the
//!   connector's error); a read beyond its budget of pages or time (the
//!   log's rate limit); more changes than a full sync would cost; a
//!   re-read that fails for good (a resume would fail the same way, so the
//!   incremental sync is dropped; a stop or a deadline keeps it to resume).
//! - The log is read from the mark minus an overlap (records the upstream
//!   lists late), and a page whose record ids were all applied by the
//!   previous run is dropped. A full sync run as a fallback keeps the ids
//!   the log read had reached: it reads state after its mark, so those
//!   records are in it, and a `full-sync` answer in the overlap is not
//!   obeyed twice. Applying a change twice only repeats a read, so ids are a
//!   saving, not a correctness condition.
//! - Every sync this driver writes stores a mark (full ones too, as the
//!   time they started), so the run after a full sync can be incremental.
//!
//! Threat: the change log comes from the component. Pages, changes, ids
//! and tokens are capped; a repeated page token is a cycle; a `full-sync`
//! reason is guest text (sanitized by the engine) and only logged; a
//! change naming a type the metadata does not declare falls back.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use c1z::{C1zWriter, ChangeMark, SyncStart, WriterOptions};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::bindings::getter::{Change, ChangePage, GrantScope, ScopedChange, ScopedChangePage};
use crate::bindings::types as wit;
use crate::bindings::upload::SkipTasks;
use crate::convert;
use crate::engine::{Operation, Output, Plugin};
use crate::error::CallError;
use crate::state::{InstanceCtx, UploadBuffer};
use crate::sync::{
    RereadTasks, ScopedGrantsTask, Seed, SyncError, SyncOptions, SyncSummary, run_sync,
    seed_new_sync,
};

/// Changes one `list-changes` page may carry (and record ids likewise).
pub const MAX_CHANGES_PER_PAGE: usize = 10_000;
/// Bytes of one record id.
pub const MAX_RECORD_ID_BYTES: usize = 256;
/// Record ids one run remembers for the next run's overlap. Ids only spare
/// repeated reads (a change applied twice is read twice, nothing worse),
/// so past this the rest are forgotten rather than held: a component could
/// otherwise make the host keep 1,000 pages of 10,000 ids (GiBs). 100,000
/// is far more than a five-minute overlap of a busy tenant's log, and at
/// most ~28 MiB.
pub const MAX_REMEMBERED_RECORD_IDS: usize = 100_000;
/// Objects one batched re-read task names: ids of one type for
/// `get-resources`, principals of one type for `list-principal-grants`.
/// The contract promises "a few dozen"; 50 PingOne ids make one filtered
/// request of ~2.5 KB of URL (well under common URL limits), 50 users'
/// records stay far below a call's upload caps, and a kill loses at most
/// one such call per slot.
pub const REREAD_BATCH: usize = 50;
/// Resources one principal task's scope names. Past it the scope widens
/// to those resources' types: re-reading a superset of the grants that
/// changed is still exact, and the task (stored in the queue, read by the
/// component) stays small.
pub const MAX_SCOPE_RESOURCES: usize = 100;
/// Scope entries (types and resources of principal scopes, principal types
/// of resource-grants hints) one `list-changes` page may carry.
pub const MAX_SCOPE_ENTRIES_PER_PAGE: usize = 10_000;

/// How an incremental sync reads the change log and when it gives up.
#[derive(Debug, Clone)]
pub struct IncrementalOptions {
    /// Read the log from this long before the mark: records the upstream
    /// indexes late are still seen. 5 minutes.
    pub overlap: Duration,
    /// A mark older than this falls back: PingOne keeps activities 14 days.
    pub max_mark_age: Duration,
    /// Pages of the log one run reads at most.
    pub max_change_pages: u64,
    /// Time the log read may take (retries included): past it the log's
    /// rate limit costs more than the sync saves.
    pub change_read_budget: Duration,
    /// Distinct re-reads (resources and principals) beyond which a full
    /// sync is run instead.
    pub max_rereads: usize,
    /// Run a full sync (storing a mark) for this reason: `serve`'s
    /// periodic full sync.
    pub force_full: Option<String>,
}

impl Default for IncrementalOptions {
    fn default() -> Self {
        Self {
            overlap: Duration::from_secs(5 * 60),
            max_mark_age: Duration::from_secs(14 * 24 * 3600),
            max_change_pages: 1_000,
            change_read_budget: Duration::from_secs(5 * 60),
            max_rereads: 50_000,
            force_full: None,
        }
    }
}

/// What ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncMode {
    Incremental,
    Full,
    /// An interrupted sync found in the working file was finished.
    Resumed,
}

/// The outcome of [`run_incremental_sync`].
#[derive(Debug, Clone, Serialize)]
pub struct IncrementalSummary {
    pub mode: SyncMode,
    /// Why a full sync ran instead, if one did.
    pub fallback: Option<String>,
    /// `list-changes` calls (included in `sync.calls`).
    pub change_pages: u64,
    /// Change records read and not already applied.
    pub change_records: u64,
    /// Change records the previous run had applied (the overlap).
    pub skipped_records: u64,
    /// Resources re-read.
    pub resources_reread: u64,
    /// Principals whose grants were re-read.
    pub principals_reread: u64,
    /// Resources whose grants held by some principal types were re-read
    /// (contract 0.1.4).
    pub resource_grants_reread: u64,
    /// Whether the log was read (and its re-reads made) through
    /// `batched-change-feed` (contract 0.1.4) rather than `change-feed`.
    pub batched: bool,
    pub sync: SyncSummary,
}

/// A full sync instead of an incremental one, why, and the ids of the
/// change records read before the decision (the full sync covers them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    pub reason: String,
    pub record_ids: Vec<String>,
}

impl Fallback {
    fn new(reason: String) -> Self {
        Self {
            reason,
            record_ids: Vec::new(),
        }
    }
}

/// What the log says to re-read.
#[derive(Debug, Default)]
struct Plan {
    from: String,
    /// Whether the log is read (and its re-reads made) through
    /// `batched-change-feed`.
    batched: bool,
    rereads: Rereads,
    record_ids: Vec<String>,
    pages: u64,
    records: u64,
    skipped: u64,
}

/// How a resource the change log names is re-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ReadMode {
    /// `resource`: its row, its entitlements and (unless its put skips
    /// `list-grants`) the grants on them are replaced.
    Resource,
    /// `resource-record`: its row (and its entitlements, when its put
    /// carries them all) is replaced; the grants on it stay.
    Record,
}

/// Which of a principal's grants a re-read replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    /// Every grant it holds: a 0.1.3 `principal-grants` hint.
    All,
    /// Those on the entitlements of resources of these types or of these
    /// resources.
    Within(ScopeSet),
}

/// A grant scope as the host keeps it: sorted, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct ScopeSet {
    pub types: BTreeSet<String>,
    pub resources: BTreeSet<(String, String)>,
}

impl ScopeSet {
    fn from_wit(scope: &GrantScope) -> Self {
        let mut s = Self {
            types: scope.resource_types.iter().cloned().collect(),
            resources: scope
                .resources
                .iter()
                .map(|r| (r.resource_type.clone(), r.resource.clone()))
                .collect(),
        };
        s.normalize();
        s
    }

    fn is_empty(&self) -> bool {
        self.types.is_empty() && self.resources.is_empty()
    }

    /// Adds `other`'s types and resources.
    fn union(&mut self, other: &ScopeSet) {
        self.types.extend(other.types.iter().cloned());
        self.resources.extend(other.resources.iter().cloned());
        self.normalize();
    }

    /// Drops the resources whose type the scope names (they are in it
    /// already) and, past [`MAX_SCOPE_RESOURCES`], widens the rest to
    /// their types.
    fn normalize(&mut self) {
        let types = &self.types;
        self.resources.retain(|(t, _)| !types.contains(t));
        if self.resources.len() > MAX_SCOPE_RESOURCES {
            let widened: Vec<String> = self.resources.iter().map(|(t, _)| t.clone()).collect();
            self.types.extend(widened);
            self.resources.clear();
        }
    }

    /// Whether a grant on an entitlement of `resource` lies within.
    pub(crate) fn covers(&self, resource: &wit::ResourceId) -> bool {
        self.types.contains(&resource.resource_type)
            || self
                .resources
                .contains(&(resource.resource_type.clone(), resource.resource.clone()))
    }

    pub(crate) fn to_wit(&self) -> GrantScope {
        GrantScope {
            resource_types: self.types.iter().cloned().collect(),
            resources: self.resources.iter().map(|(t, r)| rid_of(t, r)).collect(),
        }
    }

    fn describe(&self) -> String {
        let mut parts: Vec<String> = self.types.iter().map(|t| format!("type {t}")).collect();
        parts.extend(self.resources.iter().map(|(t, r)| format!("{t}:{r}")));
        parts.join(", ")
    }
}

fn rid_of(t: &str, r: &str) -> wit::ResourceId {
    wit::ResourceId {
        resource_type: t.to_string(),
        resource: r.to_string(),
    }
}

fn same(a: &wit::ResourceId, b: &wit::ResourceId) -> bool {
    a.resource_type == b.resource_type && a.resource == b.resource
}

fn key(id: &wit::ResourceId) -> (String, String) {
    (id.resource_type.clone(), id.resource.clone())
}

/// One change-log hint, whichever interface it came through.
#[derive(Debug, Clone)]
enum Hint {
    Resource(wit::ResourceId, ReadMode),
    Principal(wit::ResourceId, Scope),
    ResourceGrants(wit::ResourceId, Vec<String>),
    FullSync(String),
}

impl From<Change> for Hint {
    fn from(c: Change) -> Self {
        match c {
            Change::Resource(id) => Hint::Resource(id, ReadMode::Resource),
            Change::PrincipalGrants(id) => Hint::Principal(id, Scope::All),
            Change::FullSync(reason) => Hint::FullSync(reason),
        }
    }
}

impl From<ScopedChange> for Hint {
    fn from(c: ScopedChange) -> Self {
        match c {
            ScopedChange::Resource(id) => Hint::Resource(id, ReadMode::Resource),
            ScopedChange::ResourceRecord(id) => Hint::Resource(id, ReadMode::Record),
            ScopedChange::PrincipalGrants(p) => {
                Hint::Principal(p.principal, Scope::Within(ScopeSet::from_wit(&p.scope)))
            }
            ScopedChange::ResourceGrants(g) => Hint::ResourceGrants(g.resource, g.principal_types),
            ScopedChange::FullSync(reason) => Hint::FullSync(reason),
        }
    }
}

/// One page of the change log, whichever interface it came through.
#[derive(Debug, Default)]
struct LogPage {
    hints: Vec<Hint>,
    record_ids: Vec<String>,
    next_page_token: Option<String>,
}

impl From<ChangePage> for LogPage {
    fn from(p: ChangePage) -> Self {
        Self {
            hints: p.changes.into_iter().map(Hint::from).collect(),
            record_ids: p.record_ids,
            next_page_token: p.next_page_token,
        }
    }
}

impl From<ScopedChangePage> for LogPage {
    fn from(p: ScopedChangePage) -> Self {
        Self {
            hints: p.changes.into_iter().map(Hint::from).collect(),
            record_ids: p.record_ids,
            next_page_token: p.next_page_token,
        }
    }
}

/// What the log says to re-read, merged per object (see the module
/// documentation), in the order the log first named each.
#[derive(Debug, Default)]
struct Rereads {
    resources: Vec<(wit::ResourceId, ReadMode)>,
    resource_at: HashMap<(String, String), usize>,
    principals: Vec<(wit::ResourceId, Scope)>,
    principal_at: HashMap<(String, String), usize>,
    resource_grants: Vec<(wit::ResourceId, BTreeSet<String>)>,
    resource_grants_at: HashMap<(String, String), usize>,
}

impl Rereads {
    /// Merges one hint in (a `full-sync` hint is the caller's business).
    fn add(&mut self, hint: Hint) {
        match hint {
            Hint::FullSync(_) => {}
            Hint::Resource(id, mode) => match self.resource_at.get(&key(&id)) {
                Some(&i) => {
                    if mode == ReadMode::Resource {
                        self.resources[i].1 = ReadMode::Resource;
                    }
                }
                None => {
                    self.resource_at.insert(key(&id), self.resources.len());
                    self.resources.push((id, mode));
                }
            },
            Hint::Principal(id, scope) => {
                if matches!(&scope, Scope::Within(s) if s.is_empty()) {
                    return; // nothing of its grants can have changed
                }
                match self.principal_at.get(&key(&id)) {
                    Some(&i) => {
                        let held = &mut self.principals[i].1;
                        match (held, scope) {
                            (Scope::All, _) => {}
                            (held, Scope::All) => *held = Scope::All,
                            (Scope::Within(held), Scope::Within(more)) => held.union(&more),
                        }
                    }
                    None => {
                        self.principal_at.insert(key(&id), self.principals.len());
                        self.principals.push((id, scope));
                    }
                }
            }
            Hint::ResourceGrants(id, types) => {
                if types.is_empty() {
                    return;
                }
                match self.resource_grants_at.get(&key(&id)) {
                    Some(&i) => self.resource_grants[i].1.extend(types),
                    None => {
                        self.resource_grants_at
                            .insert(key(&id), self.resource_grants.len());
                        self.resource_grants.push((id, types.into_iter().collect()));
                    }
                }
            }
        }
    }

    /// Distinct objects to re-read: what `max_rereads` bounds.
    fn objects(&self) -> usize {
        self.resources.len() + self.principals.len() + self.resource_grants.len()
    }

    /// The batched tasks these re-reads make (0.1.4), and the principals
    /// whose grants are all re-read one by one (0.1.3 hints). Resources
    /// are left out: without the batched interface the caller reads them
    /// one by one, with their parents.
    fn batched_tasks(&self) -> RereadTasks {
        let mut tasks = RereadTasks::default();
        // get-resources: ids of one type, in the order the log named them.
        let mut by_type: Vec<(String, Vec<(String, ReadMode)>)> = Vec::new();
        for (id, mode) in &self.resources {
            match by_type.iter_mut().find(|(t, _)| *t == id.resource_type) {
                Some((_, ids)) => ids.push((id.resource.clone(), *mode)),
                None => {
                    by_type.push((id.resource_type.clone(), vec![(id.resource.clone(), *mode)]))
                }
            }
        }
        for (t, ids) in by_type {
            for chunk in ids.chunks(REREAD_BATCH) {
                tasks.batched_reads.push((t.clone(), chunk.to_vec()));
            }
        }
        // Principals: those of one type whose scopes name the same types
        // share tasks, their resources united (a resource-scoped hint, the
        // most common, costs the component about the same in one task as
        // alone, so fewer calls cost no more requests).
        // (principal type, scope types) -> (principal, its scope).
        type Group = ((String, BTreeSet<String>), Vec<(String, ScopeSet)>);
        let mut groups: Vec<Group> = Vec::new();
        for (id, scope) in &self.principals {
            let scope = match scope {
                Scope::All => {
                    tasks.all_grants.push(id.clone());
                    continue;
                }
                Scope::Within(s) => s,
            };
            let group = (id.resource_type.clone(), scope.types.clone());
            let entry = (id.resource.clone(), scope.clone());
            match groups.iter_mut().find(|(g, _)| *g == group) {
                Some((_, members)) => members.push(entry),
                None => groups.push((group, vec![entry])),
            }
        }
        for ((principal_type, _), members) in groups {
            let mut task: Option<ScopedGrantsTask> = None;
            for (principal, scope) in members {
                if let Some(t) = &mut task {
                    let mut united = t.scope.clone();
                    united.union(&scope);
                    // United resources past the cap would widen the scope
                    // to types for every member: a new task instead.
                    if t.principals.len() < REREAD_BATCH && united.types == t.scope.types {
                        t.principals.push(principal);
                        t.scope = united;
                        continue;
                    }
                    tasks.scoped_grants.push(task.take().expect("checked"));
                }
                task = Some(ScopedGrantsTask {
                    principal_type: principal_type.clone(),
                    principals: vec![principal],
                    scope,
                });
            }
            tasks.scoped_grants.extend(task);
        }
        tasks.resource_grants = self
            .resource_grants
            .iter()
            .map(|(id, types)| (id.clone(), types.iter().cloned().collect()))
            .collect();
        tasks
    }
}

/// Runs an incremental sync of `plugin` into the c1z at `file`, or a full
/// one (logging why) when the change log cannot prove the result complete.
/// An interrupted sync in the working file is resumed first.
pub async fn run_incremental_sync(
    plugin: &Arc<Plugin>,
    instance: &Arc<InstanceCtx>,
    file: &Path,
    options: &SyncOptions,
    incremental: &IncrementalOptions,
) -> Result<IncrementalSummary, SyncError> {
    if !options.targets.is_empty() {
        return Err(SyncError::Connector(
            "an incremental sync covers the whole tenant; it names no resources".into(),
        ));
    }
    // The sync this run prepares is finished by `run_sync` resuming it.
    // The working database stays after publishing: the next run refreshes
    // it instead of decompressing the file again.
    let options = SyncOptions {
        writer: WriterOptions {
            resume: true,
            partial: false,
            keep_working: true,
            ..options.writer.clone()
        },
        ..options.clone()
    };
    let (mut writer, start) = C1zWriter::open(file, options.writer.clone())?;
    if let SyncStart::Resumed { .. } = start {
        drop(writer);
        tracing::info!("an interrupted sync is in the working file; finishing it first");
        let sync = run_sync(plugin, instance, file, &options).await?;
        return Ok(summary(SyncMode::Resumed, None, &Plan::default(), sync));
    }
    let until = Utc::now();
    let origin = origin(plugin, instance);
    let planned = match &incremental.force_full {
        Some(reason) => Ok(Err(Fallback::new(reason.clone()))),
        // The writer is read before the log is (a borrow of it must not
        // live across the log read's awaits: it is not `Sync`).
        None => match continue_from(&writer, plugin, &origin, until, incremental) {
            Ok(Ok((from, mark))) => {
                read_log(plugin, instance, from, mark, until, incremental).await
            }
            Ok(Err(fallback)) => Ok(Err(fallback)),
            Err(e) => Err(e),
        },
    };
    let planned = match planned {
        Ok(p) => p,
        Err(e) => {
            writer.abandon()?;
            return Err(e);
        }
    };
    let mark = |record_ids: Vec<String>| ChangeMark {
        high_water: until,
        origin: origin.clone(),
        record_ids,
    };
    match planned {
        Err(Fallback { reason, record_ids }) => {
            full_instead(
                writer,
                plugin,
                instance,
                file,
                &options,
                reason,
                mark(record_ids),
            )
            .await
        }
        Ok(plan) => {
            writer.refresh_in_place(&plan.from)?;
            let rereads = &plan.rereads;
            tracing::info!(
                sync_id = plan.from,
                rereads = rereads.resources.len(),
                principals = rereads.principals.len(),
                resource_grants = rereads.resource_grants.len(),
                batched = plan.batched,
                "incremental sync: applying the change log to the last sync, in place"
            );
            let mut tasks = rereads.batched_tasks();
            if !plan.batched {
                // 0.1.3: one get-resource per resource, with its parent.
                tasks.batched_reads.clear();
                for (id, _) in &rereads.resources {
                    let parent = writer
                        .get_resource(&convert::resource_id(id))?
                        .and_then(|r| r.parent_resource_id)
                        .map(|p| rid_of(&p.resource_type, &p.resource));
                    tasks.single_reads.push((id.clone(), parent));
                }
            }
            writer.set_change_mark(&mark(plan.record_ids.clone()))?;
            seed_new_sync(&mut writer, plugin, &options.limits, Seed::Reread(&tasks))?;
            drop(writer);
            let mut sync = match run_sync(plugin, instance, file, &options).await {
                Ok(sync) => sync,
                // A re-read that fails for good would fail again on every
                // resume: this sync is dropped and a full one runs instead.
                // A stop or a deadline keeps it, to resume next time.
                Err(e) if reread_failure_falls_back(&e) => {
                    // The refresh changed the last sync itself: the full
                    // sync starts from the published file instead.
                    let (writer, _) = C1zWriter::open(file, options.writer.clone())?;
                    writer.discard_working()?;
                    let (writer, _) = C1zWriter::open(file, options.writer.clone())?;
                    let reason = format!("re-reading what the change log names failed: {e}");
                    let mark = mark(plan.record_ids.clone());
                    return full_instead(writer, plugin, instance, file, &options, reason, mark)
                        .await;
                }
                Err(e) => return Err(e),
            };
            sync.resumed = false;
            sync.calls += plan.pages;
            Ok(summary(SyncMode::Incremental, None, &plan, sync))
        }
    }
}

/// Whether a failed re-read phase should give way to a full sync: any
/// failure but a stop, a deadline (both resume next time), and the
/// sync-wide bounds, which a full sync would reach too.
fn reread_failure_falls_back(e: &SyncError) -> bool {
    !matches!(
        e,
        SyncError::Interrupted
            | SyncError::DeadlineExceeded { .. }
            | SyncError::TokenCycle { .. }
            | SyncError::LimitReached { .. }
            | SyncError::Artifact(_)
    )
}

/// Runs a full sync in `writer`'s new sync, logging `reason`, and stores
/// `mark` with it so the next run can be incremental again.
async fn full_instead(
    mut writer: C1zWriter,
    plugin: &Arc<Plugin>,
    instance: &Arc<InstanceCtx>,
    file: &Path,
    options: &SyncOptions,
    reason: String,
    mark: ChangeMark,
) -> Result<IncrementalSummary, SyncError> {
    tracing::warn!(%reason, "running a full sync instead of an incremental one");
    if plugin.has_any_change_feed() {
        writer.set_change_mark(&mark)?;
    }
    seed_new_sync(&mut writer, plugin, &options.limits, Seed::Full)?;
    drop(writer);
    let sync = run_sync(plugin, instance, file, options).await?;
    Ok(summary(
        SyncMode::Full,
        Some(reason),
        &Plan::default(),
        sync,
    ))
}

fn summary(
    mode: SyncMode,
    fallback: Option<String>,
    plan: &Plan,
    sync: SyncSummary,
) -> IncrementalSummary {
    IncrementalSummary {
        mode,
        fallback,
        change_pages: plan.pages,
        change_records: plan.records,
        skipped_records: plan.skipped,
        resources_reread: plan.rereads.resources.len() as u64,
        principals_reread: plan.rereads.principals.len() as u64,
        resource_grants_reread: plan.rereads.resource_grants.len() as u64,
        batched: plan.batched,
        sync,
    }
}

/// What a mark was made from: the component and its non-secret
/// configuration. A mark from another origin describes other data.
fn origin(plugin: &Plugin, instance: &InstanceCtx) -> String {
    origin_of(&plugin.digest, &instance.config)
}

fn origin_of(component_digest: &str, config: &[(String, String)]) -> String {
    let mut config = config.to_vec();
    config.sort();
    let mut h = sha2::Sha256::new();
    h.update(component_digest.as_bytes());
    for (k, v) in &config {
        h.update((k.len() as u64).to_le_bytes());
        h.update(k.as_bytes());
        h.update((v.len() as u64).to_le_bytes());
        h.update(v.as_bytes());
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

fn timestamp(t: DateTime<Utc>) -> wit::Timestamp {
    wit::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos(),
    }
}

fn age_text(d: chrono::TimeDelta) -> String {
    let hours = d.num_hours();
    if hours >= 48 {
        format!("{} days", hours / 24)
    } else {
        format!("{hours} hours")
    }
}

/// The finished sync an incremental sync continues from and its mark, or
/// why it cannot. `Err` only for an artifact error.
fn continue_from(
    writer: &C1zWriter,
    plugin: &Plugin,
    origin: &str,
    until: DateTime<Utc>,
    o: &IncrementalOptions,
) -> Result<Result<(String, ChangeMark), Fallback>, SyncError> {
    let fall = |reason: String| Ok(Err(Fallback::new(reason)));
    let Some(prev) = writer.latest_finished_full()? else {
        return fall("the file holds no finished sync to continue from".into());
    };
    if !plugin.has_any_change_feed() {
        return fall(
            "the component has no change-feed export (contract 0.1.3) nor a \
             batched-change-feed one (0.1.4)"
                .into(),
        );
    }
    if plugin.targeted_types.is_empty() {
        return fall("the component reads no single resources (resource-getter)".into());
    }
    let mark = match writer.change_mark(&prev.sync_id) {
        Ok(Some(m)) => m,
        Ok(None) => {
            return fall(format!(
                "the last finished sync {} stored no change-log mark",
                prev.sync_id
            ));
        }
        Err(e) => return fall(format!("the last sync's change-log mark is unusable: {e}")),
    };
    if mark.origin != origin {
        return fall("the last sync was made by another component or configuration".into());
    }
    let age = until - mark.high_water;
    let max_age = chrono::TimeDelta::from_std(o.max_mark_age).unwrap_or(chrono::TimeDelta::MAX);
    if age > max_age {
        return fall(format!(
            "the last sync's change-log mark is {} old, beyond the {} the log keeps",
            age_text(age),
            age_text(max_age)
        ));
    }
    if age < chrono::TimeDelta::zero() {
        return fall("the last sync's change-log mark lies in the future (clock skew)".into());
    }
    let mut declared: Vec<String> = plugin
        .metadata
        .resource_types
        .iter()
        .map(|t| t.id.clone())
        .collect();
    declared.sort();
    if writer.resource_type_ids(&prev.sync_id)? != declared {
        return fall("the component's resource types changed since the last sync".into());
    }
    Ok(Ok((prev.sync_id, mark)))
}

/// Reads the change log since `mark` and decides between an incremental
/// sync (what to re-read) and a fallback. `Err` only for an artifact
/// error; every reason to run a full sync is `Ok(Err(Fallback))`.
async fn read_log(
    plugin: &Arc<Plugin>,
    instance: &Arc<InstanceCtx>,
    from: String,
    mark: ChangeMark,
    until: DateTime<Utc>,
    o: &IncrementalOptions,
) -> Result<Result<Plan, Fallback>, SyncError> {
    let fall = |reason: String| Ok(Err(Fallback::new(reason)));
    let overlap = chrono::TimeDelta::from_std(o.overlap).unwrap_or_default();
    let since = timestamp(mark.high_water - overlap);
    let until_ts = timestamp(until);
    let applied: HashSet<&str> = mark.record_ids.iter().map(String::as_str).collect();
    let mut plan = Plan {
        from,
        batched: plugin.has_batched_change_feed(),
        ..Plan::default()
    };
    let mut tokens = HashSet::new();
    let mut token: Option<String> = None;
    let started = Instant::now();
    loop {
        if plan.pages >= o.max_change_pages {
            return fall(format!(
                "the change log took more than {} pages to read",
                o.max_change_pages
            ));
        }
        // From here, a fallback's full sync covers the records read so far.
        let read_so_far = |reason: String, plan: &Plan, page: Option<&LogPage>| {
            let mut record_ids = plan.record_ids.clone();
            remember(
                &mut record_ids,
                page.iter().flat_map(|p| p.record_ids.iter().cloned()),
            );
            Ok(Err(Fallback { reason, record_ids }))
        };
        let read = read_page(
            plugin,
            instance,
            plan.batched,
            since,
            until_ts,
            &token,
            o,
            started,
        )
        .await;
        let page = match read {
            Ok(page) => page,
            // The negotiation: a component whose batched feed answers
            // `unsupported` is read through `change-feed`, re-reads too.
            Err(failure) if failure.unsupported && plan.batched && plan.pages == 0 => {
                if !plugin.has_change_feed() {
                    return read_so_far(failure.reason, &plan, None);
                }
                tracing::info!(
                    "the connector's batched change feed is unsupported; reading its change-feed"
                );
                plan.batched = false;
                continue;
            }
            Err(failure) => return read_so_far(failure.reason, &plan, None),
        };
        plan.pages += 1;
        if let Err(reason) = check_page(&page, plugin) {
            return fall(reason);
        }
        let already = !page.record_ids.is_empty()
            && page
                .record_ids
                .iter()
                .all(|id| applied.contains(id.as_str()));
        if already {
            plan.skipped += page.record_ids.len() as u64;
        } else {
            plan.records += page.record_ids.len() as u64;
            if let Some(reason) = page.hints.iter().find_map(|c| match c {
                Hint::FullSync(reason) => Some(reason),
                _ => None,
            }) {
                let reason = format!("the connector asked for a full sync: {reason}");
                return read_so_far(reason, &plan, Some(&page));
            }
            for hint in page.hints {
                plan.rereads.add(hint);
            }
            if plan.rereads.objects() > o.max_rereads {
                return fall(format!(
                    "the change log names more than {} objects to re-read; a full sync is \
                     cheaper",
                    o.max_rereads
                ));
            }
        }
        remember(&mut plan.record_ids, page.record_ids);
        match page.next_page_token {
            None => break,
            Some(next) => {
                if next.len() > instance.limits.page_token_bytes {
                    return fall(format!(
                        "a change-log page token of {} bytes, over the cap of {}",
                        next.len(),
                        instance.limits.page_token_bytes
                    ));
                }
                if !tokens.insert(next.clone()) {
                    return fall(format!(
                        "the change log's page token repeated after {} pages (a cycle)",
                        plan.pages
                    ));
                }
                token = Some(next);
            }
        }
    }
    Ok(Ok(plan))
}

/// Why a page of the log could not be read.
#[derive(Debug)]
struct ReadFailure {
    reason: String,
    /// The component answered `unsupported`.
    unsupported: bool,
}

impl From<String> for ReadFailure {
    fn from(reason: String) -> Self {
        Self {
            reason,
            unsupported: false,
        }
    }
}

/// One page of the log (through `batched-change-feed` when `batched`),
/// with retries of transient failures within the read's time budget; a
/// reason to fall back otherwise.
#[allow(clippy::too_many_arguments)]
async fn read_page(
    plugin: &Arc<Plugin>,
    instance: &Arc<InstanceCtx>,
    batched: bool,
    since: wit::Timestamp,
    until: wit::Timestamp,
    token: &Option<String>,
    o: &IncrementalOptions,
    started: Instant,
) -> Result<LogPage, ReadFailure> {
    let mut attempt = 0u32;
    loop {
        let left = o.change_read_budget.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(format!(
                "reading the change log took longer than its budget of {} s (its rate limit)",
                o.change_read_budget.as_secs()
            )
            .into());
        }
        let page_token = token.clone();
        let op = if batched {
            Operation::ListScopedChanges {
                since,
                until,
                page_token,
            }
        } else {
            Operation::ListChanges {
                since,
                until,
                page_token,
            }
        };
        let result = tokio::time::timeout(left, plugin.call(instance, op)).await;
        let error = match result {
            Err(_) => continue,
            Ok(Ok((output, report))) => {
                if !report.upload.is_empty() {
                    return Err(format!(
                        "list-changes uploaded {} records; it may upload none",
                        report.upload.len()
                    )
                    .into());
                }
                return match output {
                    Output::Changes(page) if !batched => Ok(LogPage::from(*page)),
                    Output::ScopedChanges(page) if batched => Ok(LogPage::from(*page)),
                    other => {
                        Err(format!("list-changes returned {other:?} instead of a page").into())
                    }
                };
            }
            Ok(Err(e)) => e,
        };
        match &error {
            CallError::Connector {
                kind: "permission-denied",
                message,
                ..
            } => {
                return Err(format!(
                    "the connector may not read the change log (a missing permission): {message}"
                )
                .into());
            }
            CallError::Connector {
                kind: "unsupported",
                message,
                ..
            } => {
                return Err(ReadFailure {
                    reason: format!("the connector does not support incremental sync: {message}"),
                    unsupported: true,
                });
            }
            e if e.is_transient() => {
                attempt += 1;
                let delay = crate::backoff::Backoff::new(
                    Duration::from_millis(500),
                    Duration::from_secs(30),
                )
                .delay(attempt);
                tracing::warn!(attempt, "reading the change log again after: {error}");
                tokio::time::sleep(
                    delay.min(o.change_read_budget.saturating_sub(started.elapsed())),
                )
                .await;
            }
            _ => return Err(format!("reading the change log failed: {error}").into()),
        }
    }
}

/// A page's sizes, and the types its changes name.
fn check_page(page: &LogPage, plugin: &Plugin) -> Result<(), String> {
    if page.hints.len() > MAX_CHANGES_PER_PAGE || page.record_ids.len() > MAX_CHANGES_PER_PAGE {
        return Err(format!(
            "a change-log page of {} changes and {} record ids, over the cap of \
             {MAX_CHANGES_PER_PAGE}",
            page.hints.len(),
            page.record_ids.len()
        ));
    }
    let entries: usize = page
        .hints
        .iter()
        .map(|h| match h {
            Hint::Principal(_, Scope::Within(s)) => s.types.len() + s.resources.len(),
            Hint::ResourceGrants(_, types) => types.len(),
            _ => 0,
        })
        .sum();
    if entries > MAX_SCOPE_ENTRIES_PER_PAGE {
        return Err(format!(
            "a change-log page whose scopes name {entries} types and resources, over the cap \
             of {MAX_SCOPE_ENTRIES_PER_PAGE}"
        ));
    }
    if let Some(id) = page
        .record_ids
        .iter()
        .find(|id| id.len() > MAX_RECORD_ID_BYTES)
    {
        return Err(format!(
            "a change record id of {} bytes, over the cap of {MAX_RECORD_ID_BYTES}",
            id.len()
        ));
    }
    let declared = |t: &str| plugin.metadata.resource_types.iter().any(|d| d.id == t);
    let undeclared = |what: String, t: &str| {
        Err(format!(
            "a change names {what}, of type {t:?}, which the connector does not declare"
        ))
    };
    for hint in &page.hints {
        match hint {
            Hint::Resource(id, _) if !plugin.can_get(&id.resource_type) => {
                return Err(format!(
                    "a change names {}:{}, but the connector cannot read single resources of \
                     type {:?}",
                    id.resource_type, id.resource, id.resource_type
                ));
            }
            Hint::Principal(id, scope) => {
                if !declared(&id.resource_type) {
                    let what = format!("the grants of {}:{}", id.resource_type, id.resource);
                    return undeclared(what, &id.resource_type);
                }
                if let Scope::Within(s) = scope {
                    let types = s.types.iter().chain(s.resources.iter().map(|(t, _)| t));
                    if let Some(t) = types.into_iter().find(|t| !declared(t)) {
                        let what = format!("a grant scope of {}:{}", id.resource_type, id.resource);
                        return undeclared(what, t);
                    }
                }
            }
            Hint::ResourceGrants(id, types) => {
                let what = format!("the grants on {}:{}", id.resource_type, id.resource);
                if !declared(&id.resource_type) {
                    return undeclared(what, &id.resource_type);
                }
                if let Some(t) = types.iter().find(|t| !declared(t)) {
                    return undeclared(format!("{what} held by principals"), t);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Before an incremental sync stores a re-read resource: drops what the
/// previous sync held for it (see the module documentation). An upload
/// that breaks `get-resource`'s rules is left to the engine to refuse.
pub(crate) fn replace_before_reread(
    writer: &mut C1zWriter,
    target: &wit::ResourceId,
    found: bool,
    report: &crate::engine::CallReport,
) -> Result<(), SyncError> {
    if crate::targeted::check_get_upload(&report.upload, target, found).is_err() {
        return Ok(());
    }
    let id = convert::resource_id(target);
    if !found {
        writer.delete_resource_scope(&id)?;
        return Ok(());
    }
    let keep = entitlements_of(&report.upload, target);
    replace_resource(writer, &id, report.upload.skip_of(0), &keep)?;
    Ok(())
}

/// The ids of the entitlements `upload` carries for `resource`.
fn entitlements_of(upload: &UploadBuffer, resource: &wit::ResourceId) -> Vec<String> {
    upload
        .entitlements
        .iter()
        .filter(|e| same(&e.resource, resource))
        .map(|e| convert::entitlement_id(&e.resource, &e.slug))
        .collect()
}

/// A found `resource` re-read: drops its row, its entitlements and the
/// grants on them that its put (`skip`, carrying `keep`) says are listed
/// again or gone. Returns whether the last sync held its row.
fn replace_resource(
    writer: &mut C1zWriter,
    id: &c1z::pb::ResourceId,
    skip: SkipTasks,
    keep: &[String],
) -> Result<bool, SyncError> {
    let held = writer.delete_resource_row(id)? > 0;
    if !skip.contains(SkipTasks::LIST_GRANTS) {
        // Re-listed in the grants phase.
        writer.delete_grants_on_resource(id)?;
    } else if skip.contains(SkipTasks::LIST_ENTITLEMENTS) {
        // Its entitlements came with it: grants on any other are stale.
        writer.delete_grants_on_resource_except(id, keep)?;
    }
    writer.delete_entitlements_of_resource(id)?;
    Ok(held)
}

/// A found `resource-record` re-read: drops its row and, when its put
/// carries all its entitlements (`skip` has `list-entitlements`), those
/// entitlements and the grants on any it no longer has; the other grants
/// on it stay. Returns whether the last sync held its row.
fn replace_record(
    writer: &mut C1zWriter,
    id: &c1z::pb::ResourceId,
    skip: SkipTasks,
    keep: &[String],
) -> Result<bool, SyncError> {
    let held = writer.delete_resource_row(id)? > 0;
    if skip.contains(SkipTasks::LIST_ENTITLEMENTS) {
        writer.delete_grants_on_resource_except(id, keep)?;
        writer.delete_entitlements_of_resource(id)?;
    }
    Ok(held)
}

/// What a `get-resources` call of `reads` (ids of `resource_type`) may
/// have uploaded and answered: each id either uploaded (once) or missing,
/// never both; no other resource, no grant, entitlements only of the
/// resources it uploaded.
pub(crate) fn check_batched_read(
    upload: &UploadBuffer,
    resource_type: &str,
    reads: &[(String, ReadMode)],
    missing: &[wit::ResourceId],
) -> Result<(), String> {
    let asked: HashSet<&str> = reads.iter().map(|(id, _)| id.as_str()).collect();
    let call = format!("get-resources of {} {resource_type}", reads.len());
    if !upload.grants.is_empty() || !upload.grant_sets.is_empty() {
        return Err(format!("{call} uploaded grants"));
    }
    let mut gone = HashSet::new();
    for m in missing {
        if m.resource_type != resource_type || !asked.contains(m.resource.as_str()) {
            return Err(format!(
                "{call} answered {}:{} missing, which it was not asked for",
                m.resource_type, m.resource
            ));
        }
        if !gone.insert(m.resource.as_str()) {
            return Err(format!(
                "{call} answered {}:{} missing twice",
                m.resource_type, m.resource
            ));
        }
    }
    let mut found = HashSet::new();
    for r in &upload.resources {
        let name = format!("{}:{}", r.id.resource_type, r.id.resource);
        if r.id.resource_type != resource_type || !asked.contains(r.id.resource.as_str()) {
            return Err(format!(
                "{call} uploaded resource {name}, which it was not asked for"
            ));
        }
        if gone.contains(r.id.resource.as_str()) {
            return Err(format!("{call} answered {name} both found and missing"));
        }
        if !found.insert(r.id.resource.as_str()) {
            return Err(format!("{call} uploaded {name} twice"));
        }
    }
    if let Some((id, _)) = reads
        .iter()
        .find(|(id, _)| !found.contains(id.as_str()) && !gone.contains(id.as_str()))
    {
        return Err(format!(
            "{call} neither uploaded {resource_type}:{id} nor answered it missing"
        ));
    }
    if let Some(e) = upload.entitlements.iter().find(|e| {
        e.resource.resource_type != resource_type || !found.contains(e.resource.resource.as_str())
    }) {
        return Err(format!(
            "{call} uploaded entitlement {} of a resource it did not upload",
            convert::entitlement_id(&e.resource, &e.slug)
        ));
    }
    Ok(())
}

/// Applies a checked `get-resources` answer before the engine commits its
/// upload: a missing resource goes with everything of it; a found one is
/// replaced as its mode says ([`replace_resource`], [`replace_record`]).
/// A `resource-record` read never queues `list-grants`: the hint says who
/// holds the resource's entitlements did not change, and a resource the
/// last sync did not hold had no grants to keep (the records that give it
/// some name them as changes of their own; listing a new group's grants
/// would cost PingOne a read of every group's parents). A new one's
/// entitlements are listed unless its put carried them; a held one keeps
/// its entitlements unless the put carried new ones. `Err` only for an
/// artifact error; a refused answer is `Ok(Err)`.
pub(crate) fn apply_batched_read(
    writer: &mut C1zWriter,
    resource_type: &str,
    reads: &[(String, ReadMode)],
    missing: &[wit::ResourceId],
    upload: &mut UploadBuffer,
) -> Result<Result<(), String>, SyncError> {
    if let Err(refused) = check_batched_read(upload, resource_type, reads, missing) {
        return Ok(Err(refused));
    }
    for id in missing {
        writer.delete_resource_scope(&convert::resource_id(id))?;
    }
    let modes: HashMap<&str, ReadMode> = reads.iter().map(|(id, m)| (id.as_str(), *m)).collect();
    let mut flags = Vec::with_capacity(upload.resources.len());
    let mut changed = false;
    for (i, r) in upload.resources.iter().enumerate() {
        let skip = upload.skip_of(i);
        let keep = entitlements_of(upload, &r.id);
        let id = convert::resource_id(&r.id);
        match modes.get(r.id.resource.as_str()) {
            Some(ReadMode::Record) => {
                let without = if replace_record(writer, &id, skip, &keep)? {
                    SkipTasks::LIST_ENTITLEMENTS | SkipTasks::LIST_GRANTS
                } else {
                    skip | SkipTasks::LIST_GRANTS
                };
                changed |= without != skip;
                flags.push(without);
            }
            _ => {
                replace_resource(writer, &id, skip, &keep)?;
                flags.push(skip);
            }
        }
    }
    if changed {
        upload.skipped = flags
            .into_iter()
            .enumerate()
            .filter(|(_, f)| *f != SkipTasks::empty())
            .map(|(i, f)| (i..i + 1, f))
            .collect();
    }
    Ok(Ok(()))
}

/// What a scoped `list-principal-grants` call may upload: grants (one by
/// one or as sets) that one of `principals` (of `principal_type`) holds on
/// an entitlement within `scope`, nothing else.
pub(crate) fn check_scoped_upload(
    upload: &UploadBuffer,
    principal_type: &str,
    principals: &[String],
    scope: &ScopeSet,
) -> Result<(), String> {
    let asked: HashSet<&str> = principals.iter().map(String::as_str).collect();
    let call = format!(
        "list-principal-grants of {} {principal_type} in scope [{}]",
        principals.len(),
        scope.describe()
    );
    if !upload.resources.is_empty() || !upload.entitlements.is_empty() {
        return Err(format!(
            "{call} uploaded resources or entitlements; it may upload grants only"
        ));
    }
    let outside = |e: &wit::ResourceId, slug: &str| {
        format!(
            "{call} uploaded a grant on {}, outside its scope",
            convert::entitlement_id(e, slug)
        )
    };
    for g in &upload.grants {
        if g.principal.resource_type != principal_type
            || !asked.contains(g.principal.resource.as_str())
        {
            return Err(format!(
                "{call} uploaded a grant to {}:{}",
                g.principal.resource_type, g.principal.resource
            ));
        }
        if !scope.covers(&g.entitlement_resource) {
            return Err(outside(&g.entitlement_resource, &g.entitlement_slug));
        }
    }
    for s in &upload.grant_sets {
        if s.principal_type != principal_type
            || s.principal_ids.iter().any(|p| !asked.contains(p.as_str()))
        {
            return Err(format!(
                "{call} uploaded a grant set to other principals of type {}",
                s.principal_type
            ));
        }
        if !scope.covers(&s.entitlement_resource) {
            return Err(outside(&s.entitlement_resource, &s.entitlement_slug));
        }
    }
    Ok(())
}

/// What a `list-resource-grants` call of `resource` may upload: grants on
/// its entitlements held by principals of `principal_types`, nothing else.
pub(crate) fn check_resource_grants_upload(
    upload: &UploadBuffer,
    resource: &wit::ResourceId,
    principal_types: &[String],
) -> Result<(), String> {
    let call = format!(
        "list-resource-grants of {}:{} for {}",
        resource.resource_type,
        resource.resource,
        principal_types.join(", ")
    );
    if !upload.resources.is_empty() || !upload.entitlements.is_empty() {
        return Err(format!(
            "{call} uploaded resources or entitlements; it may upload grants only"
        ));
    }
    let typed = |t: &str| principal_types.iter().any(|p| p == t);
    let grants = upload
        .grants
        .iter()
        .map(|g| {
            (
                &g.entitlement_resource,
                &g.entitlement_slug,
                &g.principal.resource_type,
            )
        })
        .chain(upload.grant_sets.iter().map(|s| {
            (
                &s.entitlement_resource,
                &s.entitlement_slug,
                &s.principal_type,
            )
        }));
    for (on, slug, principal_type) in grants {
        if !same(on, resource) {
            return Err(format!(
                "{call} uploaded a grant on {}, of another resource",
                convert::entitlement_id(on, slug)
            ));
        }
        if !typed(principal_type) {
            return Err(format!(
                "{call} uploaded a grant held by a principal of type {principal_type}"
            ));
        }
    }
    Ok(())
}

/// What a `list-principal-grants` call of `principal` may upload: grants
/// (one by one or as sets) that principal holds, nothing else.
pub(crate) fn check_principal_upload(
    upload: &UploadBuffer,
    principal_type: &str,
    principal: &str,
) -> Result<(), String> {
    let name = format!("{principal_type}:{principal}");
    if !upload.resources.is_empty() || !upload.entitlements.is_empty() {
        return Err(format!(
            "list-principal-grants of {name} uploaded resources or entitlements; it may upload \
             grants only"
        ));
    }
    if let Some(g) = upload
        .grants
        .iter()
        .find(|g| g.principal.resource_type != principal_type || g.principal.resource != principal)
    {
        return Err(format!(
            "list-principal-grants of {name} uploaded a grant to {}:{}",
            g.principal.resource_type, g.principal.resource
        ));
    }
    if let Some(s) = upload.grant_sets.iter().find(|s| {
        s.principal_type != principal_type || s.principal_ids.iter().any(|p| p != principal)
    }) {
        return Err(format!(
            "list-principal-grants of {name} uploaded a grant set to other principals of type {}",
            s.principal_type
        ));
    }
    Ok(())
}

/// Adds `more` to `ids` up to [`MAX_REMEMBERED_RECORD_IDS`].
fn remember(ids: &mut Vec<String>, more: impl IntoIterator<Item = String>) {
    let room = MAX_REMEMBERED_RECORD_IDS.saturating_sub(ids.len());
    ids.extend(more.into_iter().take(room));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rid(t: &str, r: &str) -> wit::ResourceId {
        wit::ResourceId {
            resource_type: t.into(),
            resource: r.into(),
        }
    }

    fn grant(principal: wit::ResourceId) -> wit::Grant {
        wit::Grant {
            entitlement_resource: rid("group", "g"),
            entitlement_slug: "member".into(),
            principal,
            expansion: None,
            immutable_reason: None,
            metadata_json: None,
        }
    }

    /// Compiled, never run: `serve` spawns syncs on its worker threads, so
    /// the driver's future must be `Send`.
    #[allow(dead_code)]
    fn the_driver_future_is_send(
        plugin: &Arc<Plugin>,
        instance: &Arc<InstanceCtx>,
        file: &Path,
        options: &SyncOptions,
        incremental: &IncrementalOptions,
    ) {
        fn send<T: Send>(_: &T) {}
        send(&run_incremental_sync(
            plugin,
            instance,
            file,
            options,
            incremental,
        ));
    }

    #[test]
    fn principal_grants_may_name_only_that_principal() {
        let mut upload = UploadBuffer::default();
        upload.grants.push(grant(rid("user", "u1")));
        assert_eq!(check_principal_upload(&upload, "user", "u1"), Ok(()));
        upload.grants.push(grant(rid("user", "u2")));
        let e = check_principal_upload(&upload, "user", "u1").unwrap_err();
        assert!(e.contains("a grant to user:u2"), "{e}");

        let mut sets = UploadBuffer::default();
        sets.grant_sets.push(wit::GrantSet {
            entitlement_resource: rid("group", "g"),
            entitlement_slug: "member".into(),
            principal_type: "user".into(),
            principal_ids: vec!["u1".into(), "u9".into()],
            expansion: None,
            immutable_reason: None,
            metadata_json: None,
        });
        let e = check_principal_upload(&sets, "user", "u1").unwrap_err();
        assert!(e.contains("grant set"), "{e}");

        let mut resources = UploadBuffer::default();
        resources.entitlements.push(wit::Entitlement {
            resource: rid("group", "g"),
            slug: "member".into(),
            display_name: String::new(),
            description: None,
            purpose: wit::EntitlementPurpose::Assignment,
            grantable_to: vec![],
            immutable: false,
            metadata_json: None,
        });
        assert!(check_principal_upload(&resources, "user", "u1").is_err());
    }

    fn wit_resource(t: &str, r: &str) -> wit::Resource {
        wit::Resource {
            id: rid(t, r),
            parent: None,
            display_name: r.into(),
            description: None,
            external_id: None,
            status: wit::ResourceStatus::Enabled,
            created_at: None,
            trait_: None,
        }
    }

    fn member_of(group: &str) -> wit::Entitlement {
        wit::Entitlement {
            resource: rid("group", group),
            slug: "member".into(),
            display_name: String::new(),
            description: None,
            purpose: wit::EntitlementPurpose::Assignment,
            grantable_to: vec![],
            immutable: false,
            metadata_json: None,
        }
    }

    /// A published c1z holding users a, b and group g with its member
    /// entitlement, a and b members, g itself a member of group h; then a
    /// writer on a new sync carrying it.
    fn refreshing(dir: &Path) -> C1zWriter {
        let file = dir.join("s.c1z");
        let types: Vec<c1z::pb::ResourceType> = ["user", "group"]
            .iter()
            .map(|t| c1z::pb::ResourceType {
                id: (*t).into(),
                ..Default::default()
            })
            .collect();
        let (mut w, _) = C1zWriter::open(&file, WriterOptions::default()).unwrap();
        w.put_resource_types(&types).unwrap();
        let resources: Vec<c1z::pb::Resource> =
            [("user", "a"), ("user", "b"), ("group", "g"), ("group", "h")]
                .iter()
                .map(|(t, r)| convert::resource(&wit_resource(t, r)))
                .collect();
        w.put_resources(&resources).unwrap();
        let owner = |g: &str| {
            resources
                .iter()
                .find(|r| r.id.as_ref().unwrap().resource == g)
        };
        let ents: Vec<c1z::pb::Entitlement> = ["g", "h"]
            .iter()
            .map(|g| convert::entitlement(&member_of(g), owner(g).unwrap().clone(), &types))
            .collect();
        w.put_entitlements(&ents).unwrap();
        let grants: Vec<c1z::pb::Grant> =
            [("g", "user", "a"), ("g", "user", "b"), ("h", "group", "g")]
                .iter()
                .map(|(g, pt, p)| {
                    convert::grant(&grant_to(g, rid(pt, p)), owner(g).unwrap().clone())
                })
                .collect();
        w.put_grants(&grants).unwrap();
        w.finish().unwrap();
        let (mut w, _) = C1zWriter::open(&file, WriterOptions::default()).unwrap();
        let prev = w.latest_finished_full().unwrap().unwrap().sync_id;
        w.refresh_in_place(&prev).unwrap();
        w
    }

    fn grant_to(group: &str, principal: wit::ResourceId) -> wit::Grant {
        wit::Grant {
            entitlement_resource: rid("group", group),
            ..grant(principal)
        }
    }

    fn report(upload: UploadBuffer) -> crate::engine::CallReport {
        crate::engine::CallReport {
            upload,
            cpu: Duration::ZERO,
            wall: Duration::ZERO,
            memory_peak: 0,
            log_lines: 0,
        }
    }

    fn found_group(entitlements: Vec<wit::Entitlement>, skip: SkipTasks) -> UploadBuffer {
        let mut upload = UploadBuffer::default();
        upload.resources.push(wit_resource("group", "g"));
        upload.entitlements = entitlements;
        if skip != SkipTasks::empty() {
            upload.skipped.push((0..1, skip));
        }
        upload
    }

    #[test]
    fn a_re_read_replaces_what_the_last_sync_held() {
        let g = rid("group", "g");
        let stats = |w: &C1zWriter| {
            let s = w.stats().unwrap();
            (s.resources, s.entitlements, s.grants)
        };
        let dir = tempfile::tempdir().unwrap();

        // Grants re-listed: the grants on g go, the grant g holds stays.
        let mut w = refreshing(dir.path());
        let up = report(found_group(vec![], SkipTasks::empty()));
        replace_before_reread(&mut w, &g, true, &up).unwrap();
        assert_eq!(stats(&w), (3, 1, 1));

        // Grants from elsewhere, entitlements with it: grants on an
        // entitlement it still has stay.
        let dir = tempfile::tempdir().unwrap();
        let mut w = refreshing(dir.path());
        let both = SkipTasks::LIST_ENTITLEMENTS | SkipTasks::LIST_GRANTS;
        let up = report(found_group(vec![member_of("g")], both));
        replace_before_reread(&mut w, &g, true, &up).unwrap();
        assert_eq!(stats(&w), (3, 1, 3));
        // ... and go with an entitlement it no longer has.
        let dir = tempfile::tempdir().unwrap();
        let mut w = refreshing(dir.path());
        let up = report(found_group(vec![], both));
        replace_before_reread(&mut w, &g, true, &up).unwrap();
        assert_eq!(stats(&w), (3, 1, 1));

        // Gone: with its entitlement, the grants on it and the one it holds.
        let dir = tempfile::tempdir().unwrap();
        let mut w = refreshing(dir.path());
        replace_before_reread(&mut w, &g, false, &report(UploadBuffer::default())).unwrap();
        assert_eq!(stats(&w), (3, 1, 0));

        // An upload breaking get-resource's rules changes nothing here (the
        // engine refuses it).
        let dir = tempfile::tempdir().unwrap();
        let mut w = refreshing(dir.path());
        let mut lying = found_group(vec![], SkipTasks::empty());
        lying.grants.push(grant(rid("user", "a")));
        replace_before_reread(&mut w, &g, true, &report(lying)).unwrap();
        assert_eq!(stats(&w), (4, 2, 3));
    }

    fn within(types: &[&str], resources: &[(&str, &str)]) -> Scope {
        Scope::Within(ScopeSet::from_wit(&GrantScope {
            resource_types: types.iter().map(|t| t.to_string()).collect(),
            resources: resources.iter().map(|(t, r)| rid(t, r)).collect(),
        }))
    }

    #[test]
    fn hints_merge_per_object() {
        let mut r = Rereads::default();
        // A resource: `resource` wins over `resource-record`, either order.
        r.add(Hint::Resource(rid("user", "a"), ReadMode::Record));
        r.add(Hint::Resource(rid("user", "a"), ReadMode::Resource));
        r.add(Hint::Resource(rid("user", "a"), ReadMode::Record));
        r.add(Hint::Resource(rid("user", "b"), ReadMode::Record));
        assert_eq!(
            r.resources
                .iter()
                .map(|(id, m)| (id.resource.as_str(), *m))
                .collect::<Vec<_>>(),
            [("a", ReadMode::Resource), ("b", ReadMode::Record)]
        );
        // A principal: its scopes unite; a resource within a named type is
        // dropped; "all" (0.1.3) absorbs any scope.
        r.add(Hint::Principal(
            rid("user", "a"),
            within(&[], &[("group", "x")]),
        ));
        r.add(Hint::Principal(
            rid("user", "a"),
            within(&["role"], &[("group", "y")]),
        ));
        r.add(Hint::Principal(rid("user", "a"), within(&["group"], &[])));
        let (_, scope) = &r.principals[0];
        let Scope::Within(s) = scope else {
            panic!("{scope:?}")
        };
        assert_eq!(
            s.types.iter().map(String::as_str).collect::<Vec<_>>(),
            ["group", "role"]
        );
        assert!(s.resources.is_empty(), "{s:?}");
        r.add(Hint::Principal(rid("user", "b"), Scope::All));
        r.add(Hint::Principal(rid("user", "b"), within(&["role"], &[])));
        r.add(Hint::Principal(rid("user", "c"), within(&["role"], &[])));
        r.add(Hint::Principal(rid("user", "c"), Scope::All));
        assert_eq!(r.principals[1].1, Scope::All);
        assert_eq!(r.principals[2].1, Scope::All);
        // An empty scope changes nothing.
        r.add(Hint::Principal(rid("user", "d"), within(&[], &[])));
        assert_eq!(r.principals.len(), 3);
        // Resource grants: principal types unite.
        r.add(Hint::ResourceGrants(rid("group", "g"), vec!["user".into()]));
        r.add(Hint::ResourceGrants(
            rid("group", "g"),
            vec!["group".into(), "user".into()],
        ));
        r.add(Hint::ResourceGrants(rid("group", "h"), vec![]));
        assert_eq!(r.resource_grants.len(), 1);
        assert_eq!(r.resource_grants[0].1.len(), 2);
        // Objects, as max_rereads counts them: 2 resources, 3 principals,
        // 1 resource's grants.
        assert_eq!(r.objects(), 6);
        r.add(Hint::FullSync("ignored here".into()));
        assert_eq!(r.objects(), 6);
    }

    #[test]
    fn a_scope_past_its_resource_cap_widens_to_their_types() {
        let many: Vec<(String, String)> = (0..=MAX_SCOPE_RESOURCES)
            .map(|i| ("group".to_string(), format!("g{i}")))
            .collect();
        let refs: Vec<(&str, &str)> = many.iter().map(|(t, r)| (t.as_str(), r.as_str())).collect();
        let Scope::Within(s) = within(&["role"], &refs) else {
            unreachable!()
        };
        assert!(s.resources.is_empty());
        assert!(s.types.contains("group") && s.types.contains("role"));
        assert!(s.covers(&rid("group", "anything")));
        let Scope::Within(s) = within(&[], &refs[..MAX_SCOPE_RESOURCES]) else {
            unreachable!()
        };
        assert_eq!(s.resources.len(), MAX_SCOPE_RESOURCES);
        assert!(s.covers(&rid("group", "g0")) && !s.covers(&rid("group", "other")));
    }

    #[test]
    fn batched_tasks_hold_one_type_and_at_most_a_batch() {
        let mut r = Rereads::default();
        for i in 0..(REREAD_BATCH + 3) {
            r.add(Hint::Resource(
                rid("user", &format!("u{i}")),
                ReadMode::Record,
            ));
        }
        r.add(Hint::Resource(rid("group", "g"), ReadMode::Resource));
        // Users whose scopes name the same types share tasks, resources
        // united; other types of scope, or of principal, do not.
        for i in 0..(REREAD_BATCH + 1) {
            let x = format!("x{}", i % 3);
            r.add(Hint::Principal(
                rid("user", &format!("u{i}")),
                within(&[], &[("group", &x)]),
            ));
        }
        r.add(Hint::Principal(rid("user", "v"), within(&["role"], &[])));
        r.add(Hint::Principal(
            rid("group", "g"),
            within(&[], &[("group", "x0")]),
        ));
        r.add(Hint::Principal(rid("user", "w"), Scope::All));
        r.add(Hint::ResourceGrants(rid("group", "g"), vec!["user".into()]));
        let t = r.batched_tasks();
        let reads: Vec<(&str, usize)> = t
            .batched_reads
            .iter()
            .map(|(ty, ids)| (ty.as_str(), ids.len()))
            .collect();
        assert_eq!(reads, [("user", REREAD_BATCH), ("user", 3), ("group", 1)]);
        assert!(
            t.batched_reads[0]
                .1
                .iter()
                .all(|(_, m)| *m == ReadMode::Record)
        );
        let scoped: Vec<(&str, usize, usize, usize)> = t
            .scoped_grants
            .iter()
            .map(|g| {
                (
                    g.principal_type.as_str(),
                    g.principals.len(),
                    g.scope.types.len(),
                    g.scope.resources.len(),
                )
            })
            .collect();
        assert_eq!(
            scoped,
            [
                ("user", REREAD_BATCH, 0, 3),
                ("user", 1, 0, 1),
                ("user", 1, 1, 0),
                ("group", 1, 0, 1)
            ]
        );
        assert_eq!(t.all_grants.len(), 1);
        let [(on, types)] = t.resource_grants.as_slice() else {
            panic!("{:?}", t.resource_grants)
        };
        assert!(same(on, &rid("group", "g")) && types == &["user".to_string()]);
    }

    fn both() -> SkipTasks {
        SkipTasks::LIST_ENTITLEMENTS | SkipTasks::LIST_GRANTS
    }

    fn reads(modes: &[(&str, ReadMode)]) -> Vec<(String, ReadMode)> {
        modes.iter().map(|(id, m)| (id.to_string(), *m)).collect()
    }

    #[test]
    fn a_batched_read_replaces_each_resource_as_its_mode_says() {
        let stats = |w: &C1zWriter| {
            let s = w.stats().unwrap();
            (s.resources, s.entitlements, s.grants)
        };
        let dir = tempfile::tempdir().unwrap();
        let mut w = refreshing(dir.path());
        // g as a record (its put carries nothing: entitlements and grants
        // stay, and it queues no task), h as a resource (carrying its
        // entitlement, grants from elsewhere), n new (a record read of a
        // resource the last sync lacked lists the entitlements its put
        // leaves, never its grants: they come as changes of their own).
        let mut upload = UploadBuffer::default();
        for g in ["g", "h", "n"] {
            upload.resources.push(wit_resource("group", g));
        }
        upload.entitlements.push(member_of("h"));
        upload.skipped.push((1..2, both()));
        let asked = reads(&[
            ("g", ReadMode::Record),
            ("h", ReadMode::Resource),
            ("n", ReadMode::Record),
        ]);
        apply_batched_read(&mut w, "group", &asked, &[], &mut upload)
            .unwrap()
            .unwrap();
        // Rows of g and h dropped (the commit stores them again), h's
        // entitlement replaced; every grant stays.
        assert_eq!(stats(&w), (2, 1, 3));
        assert_eq!(upload.skip_of(0), both());
        assert_eq!(upload.skip_of(1), both());
        assert_eq!(upload.skip_of(2), SkipTasks::LIST_GRANTS);

        // Missing: gone with everything of it; found as a record: its row.
        let dir = tempfile::tempdir().unwrap();
        let mut w = refreshing(dir.path());
        let mut upload = UploadBuffer::default();
        upload.resources.push(wit_resource("user", "b"));
        let asked = reads(&[("a", ReadMode::Resource), ("b", ReadMode::Record)]);
        apply_batched_read(&mut w, "user", &asked, &[rid("user", "a")], &mut upload)
            .unwrap()
            .unwrap();
        assert_eq!(stats(&w), (2, 2, 2));

        // A refused answer changes nothing.
        let dir = tempfile::tempdir().unwrap();
        let mut w = refreshing(dir.path());
        let mut upload = UploadBuffer::default();
        upload.resources.push(wit_resource("user", "a"));
        let refused = apply_batched_read(&mut w, "user", &asked, &[rid("user", "a")], &mut upload)
            .unwrap()
            .unwrap_err();
        assert!(refused.contains("both found and missing"), "{refused}");
        assert_eq!(stats(&w), (4, 2, 3));
    }

    #[test]
    fn a_batched_read_answers_each_id_once_and_nothing_else() {
        let asked = reads(&[("a", ReadMode::Resource), ("b", ReadMode::Record)]);
        let users = |ids: &[&str]| {
            let mut up = UploadBuffer::default();
            for id in ids {
                up.resources.push(wit_resource("user", id));
            }
            up
        };
        let check = |up: &UploadBuffer, missing: &[wit::ResourceId]| {
            check_batched_read(up, "user", &asked, missing)
        };
        assert_eq!(check(&users(&["a", "b"]), &[]), Ok(()));
        assert_eq!(check(&users(&["b"]), &[rid("user", "a")]), Ok(()));
        assert_eq!(
            check(&users(&[]), &[rid("user", "a"), rid("user", "b")]),
            Ok(())
        );
        for (up, missing, expected) in [
            (
                users(&["a", "b", "c"]),
                vec![],
                "user:c, which it was not asked for",
            ),
            (
                users(&["a"]),
                vec![],
                "neither uploaded user:b nor answered it missing",
            ),
            (users(&["a", "a", "b"]), vec![], "uploaded user:a twice"),
            (
                users(&["a", "b"]),
                vec![rid("user", "b")],
                "user:b both found and missing",
            ),
            (
                users(&["a"]),
                vec![rid("user", "z")],
                "user:z missing, which it was not",
            ),
            (
                users(&["a"]),
                vec![rid("user", "b"), rid("user", "b")],
                "missing twice",
            ),
            (
                users(&["b"]),
                vec![rid("group", "a")],
                "group:a missing, which it was not",
            ),
        ] {
            let e = check(&up, &missing).unwrap_err();
            assert!(e.contains(expected), "{e} (expected {expected:?})");
        }
        let mut granted = users(&["a", "b"]);
        granted.grants.push(grant(rid("user", "a")));
        assert!(
            check(&granted, &[])
                .unwrap_err()
                .contains("uploaded grants")
        );
        let mut stray = users(&["a", "b"]);
        stray.entitlements.push(member_of("g"));
        let e = check(&stray, &[]).unwrap_err();
        assert!(e.contains("entitlement group:g:member"), "{e}");
    }

    #[test]
    fn scoped_principal_grants_stay_within_their_principals_and_scope() {
        let principals = ["a".to_string(), "b".to_string()];
        let Scope::Within(scope) = within(&["role"], &[("group", "g")]) else {
            unreachable!()
        };
        let check = |up: &UploadBuffer| check_scoped_upload(up, "user", &principals, &scope);
        let on = |t: &str, r: &str, p: &str| wit::Grant {
            entitlement_resource: rid(t, r),
            ..grant(rid("user", p))
        };
        let mut ok = UploadBuffer::default();
        ok.grants.push(on("group", "g", "a"));
        ok.grants.push(on("role", "admin", "b"));
        assert_eq!(check(&ok), Ok(()));

        let mut other = UploadBuffer::default();
        other.grants.push(on("group", "g", "c"));
        assert!(check(&other).unwrap_err().contains("a grant to user:c"));
        let mut outside = UploadBuffer::default();
        outside.grants.push(on("group", "h", "a"));
        let e = check(&outside).unwrap_err();
        assert!(e.contains("group:h:member, outside its scope"), "{e}");

        let set = |r: &str, ids: &[&str]| wit::GrantSet {
            entitlement_resource: rid("group", r),
            entitlement_slug: "member".into(),
            principal_type: "user".into(),
            principal_ids: ids.iter().map(|i| i.to_string()).collect(),
            expansion: None,
            immutable_reason: None,
            metadata_json: None,
        };
        let mut sets = UploadBuffer::default();
        sets.grant_sets.push(set("g", &["a", "b"]));
        assert_eq!(check(&sets), Ok(()));
        sets.grant_sets.push(set("g", &["a", "x"]));
        assert!(check(&sets).unwrap_err().contains("grant set"));
        let mut outside = UploadBuffer::default();
        outside.grant_sets.push(set("h", &["a"]));
        assert!(check(&outside).unwrap_err().contains("outside its scope"));

        let mut rows = UploadBuffer::default();
        rows.resources.push(wit_resource("user", "a"));
        assert!(check(&rows).unwrap_err().contains("grants only"));
    }

    #[test]
    fn resource_grants_stay_on_their_resource_and_principal_types() {
        let g = rid("group", "g");
        let types = ["user".to_string()];
        let mut ok = UploadBuffer::default();
        ok.grants.push(grant(rid("user", "a")));
        assert_eq!(check_resource_grants_upload(&ok, &g, &types), Ok(()));
        let mut nested = UploadBuffer::default();
        nested.grants.push(grant(rid("group", "h")));
        let e = check_resource_grants_upload(&nested, &g, &types).unwrap_err();
        assert!(e.contains("principal of type group"), "{e}");
        let mut elsewhere = UploadBuffer::default();
        elsewhere.grants.push(grant_to("h", rid("user", "a")));
        let e = check_resource_grants_upload(&elsewhere, &g, &types).unwrap_err();
        assert!(e.contains("group:h:member, of another resource"), "{e}");
        let mut rows = UploadBuffer::default();
        rows.entitlements.push(member_of("g"));
        assert!(check_resource_grants_upload(&rows, &g, &types).is_err());
    }

    #[test]
    fn the_origin_changes_with_component_and_configuration_only() {
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        let a = [pair("url", "https://a"), pair("env", "e1")];
        let reordered = [pair("env", "e1"), pair("url", "https://a")];
        assert_eq!(origin_of("x", &a), origin_of("x", &reordered));
        assert!(origin_of("x", &a).starts_with("sha256:"));
        // Lengths are framed: moving a byte between key and value differs.
        let shifted = [pair("urlh", "ttps://a"), pair("env", "e1")];
        assert_ne!(origin_of("x", &a), origin_of("x", &shifted));
        assert_ne!(origin_of("x", &a), origin_of("y", &a));
        assert_ne!(origin_of("x", &a), origin_of("x", &a[..1]));
    }

    #[test]
    fn defaults_follow_the_design() {
        let o = IncrementalOptions::default();
        assert_eq!(o.overlap, Duration::from_secs(300));
        assert_eq!(o.max_mark_age, Duration::from_secs(14 * 86_400));
        assert!(o.force_full.is_none());
    }

    #[test]
    fn remembered_record_ids_stop_at_their_cap() {
        let mut ids: Vec<String> = (0..MAX_REMEMBERED_RECORD_IDS - 2)
            .map(|i| i.to_string())
            .collect();
        remember(&mut ids, (0..10).map(|i| format!("new-{i}")));
        assert_eq!(ids.len(), MAX_REMEMBERED_RECORD_IDS);
        assert_eq!(ids.last().unwrap(), "new-1");
        remember(&mut ids, ["more".to_string()]);
        assert_eq!(ids.len(), MAX_REMEMBERED_RECORD_IDS);
    }
}
