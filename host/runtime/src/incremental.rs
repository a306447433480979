//! Incremental syncs (contract 0.1.3 `change-feed`): read what changed
//! upstream since the last sync, re-read only that, and publish a complete
//! snapshot.
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
//!   grants on its entitlements. A `principal-grants` change drops every
//!   grant the principal holds and queues `list-principal-grants`. These
//!   tasks run in the sync engine ([`crate::sync`]) with the same record
//!   checks, limits and commits as a full sync's, and resume after a kill
//!   like any sync.
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

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use c1z::{C1zWriter, ChangeMark, SyncStart, WriterOptions};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::Digest;

use crate::bindings::getter::{Change, ChangePage};
use crate::bindings::types as wit;
use crate::bindings::upload::SkipTasks;
use crate::convert;
use crate::engine::{Operation, Output, Plugin};
use crate::error::CallError;
use crate::state::{InstanceCtx, UploadBuffer};
use crate::sync::{Seed, SyncError, SyncOptions, SyncSummary, run_sync, seed_new_sync};

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
    resources: Vec<wit::ResourceId>,
    principals: Vec<wit::ResourceId>,
    record_ids: Vec<String>,
    pages: u64,
    records: u64,
    skipped: u64,
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
    let options = SyncOptions {
        writer: WriterOptions {
            resume: true,
            partial: false,
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
            let carried = writer.carry_forward(&plan.from)?;
            tracing::info!(
                from = plan.from,
                resources = carried.resources,
                grants = carried.grants,
                rereads = plan.resources.len(),
                principals = plan.principals.len(),
                "incremental sync: applying the change log to a copy of the last sync"
            );
            let mut reads = Vec::with_capacity(plan.resources.len());
            for id in &plan.resources {
                let parent = writer
                    .get_resource(&convert::resource_id(id))?
                    .and_then(|r| r.parent_resource_id)
                    .map(|p| wit::ResourceId {
                        resource_type: p.resource_type,
                        resource: p.resource,
                    });
                reads.push((id.clone(), parent));
            }
            for p in &plan.principals {
                writer.delete_grants_of_principal(&convert::resource_id(p))?;
            }
            writer.set_change_mark(&mark(plan.record_ids.clone()))?;
            let seed = Seed::Reread {
                resources: &reads,
                principals: &plan.principals,
            };
            seed_new_sync(&mut writer, plugin, &options.limits, seed)?;
            drop(writer);
            let mut sync = match run_sync(plugin, instance, file, &options).await {
                Ok(sync) => sync,
                // A re-read that fails for good would fail again on every
                // resume: this sync is dropped and a full one runs instead.
                // A stop or a deadline keeps it, to resume next time.
                Err(e) if reread_failure_falls_back(&e) => {
                    let (writer, _) = C1zWriter::open(file, options.writer.clone())?;
                    writer.abandon()?;
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
    if plugin.has_change_feed() {
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
        resources_reread: plan.resources.len() as u64,
        principals_reread: plan.principals.len() as u64,
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
    if !plugin.has_change_feed() {
        return fall("the component has no change-feed export (contract 0.1.3)".into());
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
        ..Plan::default()
    };
    let mut resources_seen = HashSet::new();
    let mut principals_seen = HashSet::new();
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
        let read_so_far = |reason: String, plan: &Plan, page: Option<&ChangePage>| {
            let mut record_ids = plan.record_ids.clone();
            remember(
                &mut record_ids,
                page.iter().flat_map(|p| p.record_ids.iter().cloned()),
            );
            Ok(Err(Fallback { reason, record_ids }))
        };
        let page = match read_page(plugin, instance, since, until_ts, &token, o, started).await {
            Ok(page) => page,
            Err(reason) => return read_so_far(reason, &plan, None),
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
            if let Some(reason) = page.changes.iter().find_map(|c| match c {
                Change::FullSync(reason) => Some(reason),
                _ => None,
            }) {
                let reason = format!("the connector asked for a full sync: {reason}");
                return read_so_far(reason, &plan, Some(&page));
            }
            for change in page.changes {
                match change {
                    Change::FullSync(_) => {}
                    Change::Resource(id) => {
                        if resources_seen.insert((id.resource_type.clone(), id.resource.clone())) {
                            plan.resources.push(id);
                        }
                    }
                    Change::PrincipalGrants(id) => {
                        if principals_seen.insert((id.resource_type.clone(), id.resource.clone())) {
                            plan.principals.push(id);
                        }
                    }
                }
            }
            if plan.resources.len() + plan.principals.len() > o.max_rereads {
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

/// One page of the log, with retries of transient failures within the
/// read's time budget; a reason to fall back otherwise.
async fn read_page(
    plugin: &Arc<Plugin>,
    instance: &Arc<InstanceCtx>,
    since: wit::Timestamp,
    until: wit::Timestamp,
    token: &Option<String>,
    o: &IncrementalOptions,
    started: Instant,
) -> Result<ChangePage, String> {
    let mut attempt = 0u32;
    loop {
        let left = o.change_read_budget.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(format!(
                "reading the change log took longer than its budget of {} s (its rate limit)",
                o.change_read_budget.as_secs()
            ));
        }
        let op = Operation::ListChanges {
            since,
            until,
            page_token: token.clone(),
        };
        let result = tokio::time::timeout(left, plugin.call(instance, op)).await;
        let error = match result {
            Err(_) => continue,
            Ok(Ok((Output::Changes(page), report))) => {
                if !report.upload.is_empty() {
                    return Err(format!(
                        "list-changes uploaded {} records; it may upload none",
                        report.upload.len()
                    ));
                }
                return Ok(*page);
            }
            Ok(Ok((other, _))) => {
                return Err(format!("list-changes returned {other:?} instead of a page"));
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
                ));
            }
            CallError::Connector {
                kind: "unsupported",
                message,
                ..
            } => {
                return Err(format!(
                    "the connector does not support incremental sync: {message}"
                ));
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
            _ => return Err(format!("reading the change log failed: {error}")),
        }
    }
}

/// A page's sizes, and the types its changes name.
fn check_page(page: &ChangePage, plugin: &Plugin) -> Result<(), String> {
    if page.changes.len() > MAX_CHANGES_PER_PAGE || page.record_ids.len() > MAX_CHANGES_PER_PAGE {
        return Err(format!(
            "a change-log page of {} changes and {} record ids, over the cap of \
             {MAX_CHANGES_PER_PAGE}",
            page.changes.len(),
            page.record_ids.len()
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
    for change in &page.changes {
        match change {
            Change::Resource(id) if !plugin.can_get(&id.resource_type) => {
                return Err(format!(
                    "a change names {}:{}, but the connector cannot read single resources of \
                     type {:?}",
                    id.resource_type, id.resource, id.resource_type
                ));
            }
            Change::PrincipalGrants(id) if !declared(&id.resource_type) => {
                return Err(format!(
                    "a change names the grants of {}:{}, of a type the connector does not declare",
                    id.resource_type, id.resource
                ));
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
    let skip = report.upload.skip_of(0);
    writer.delete_resource_row(&id)?;
    if !skip.contains(SkipTasks::LIST_GRANTS) {
        // Re-listed in the grants phase.
        writer.delete_grants_on_resource(&id)?;
    } else if skip.contains(SkipTasks::LIST_ENTITLEMENTS) {
        // Its entitlements came with it: grants on any other are stale.
        let keep: Vec<String> = report
            .upload
            .entitlements
            .iter()
            .map(|e| convert::entitlement_id(&e.resource, &e.slug))
            .collect();
        writer.delete_grants_on_resource_except(&id, &keep)?;
    }
    writer.delete_entitlements_of_resource(&id)?;
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
    fn carried(dir: &Path) -> C1zWriter {
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
        w.carry_forward(&prev).unwrap();
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
        let mut w = carried(dir.path());
        let up = report(found_group(vec![], SkipTasks::empty()));
        replace_before_reread(&mut w, &g, true, &up).unwrap();
        assert_eq!(stats(&w), (3, 1, 1));

        // Grants from elsewhere, entitlements with it: grants on an
        // entitlement it still has stay.
        let dir = tempfile::tempdir().unwrap();
        let mut w = carried(dir.path());
        let both = SkipTasks::LIST_ENTITLEMENTS | SkipTasks::LIST_GRANTS;
        let up = report(found_group(vec![member_of("g")], both));
        replace_before_reread(&mut w, &g, true, &up).unwrap();
        assert_eq!(stats(&w), (3, 1, 3));
        // ... and go with an entitlement it no longer has.
        let dir = tempfile::tempdir().unwrap();
        let mut w = carried(dir.path());
        let up = report(found_group(vec![], both));
        replace_before_reread(&mut w, &g, true, &up).unwrap();
        assert_eq!(stats(&w), (3, 1, 1));

        // Gone: with its entitlement, the grants on it and the one it holds.
        let dir = tempfile::tempdir().unwrap();
        let mut w = carried(dir.path());
        replace_before_reread(&mut w, &g, false, &report(UploadBuffer::default())).unwrap();
        assert_eq!(stats(&w), (3, 1, 0));

        // An upload breaking get-resource's rules changes nothing here (the
        // engine refuses it).
        let dir = tempfile::tempdir().unwrap();
        let mut w = carried(dir.path());
        let mut lying = found_group(vec![], SkipTasks::empty());
        lying.grants.push(grant(rid("user", "a")));
        replace_before_reread(&mut w, &g, true, &report(lying)).unwrap();
        assert_eq!(stats(&w), (4, 2, 3));
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
