//! The `inspect` subcommands, modelled on the `baton` CLI: each renders one
//! view of a c1z as an aligned console table or as JSON.
//!
//! Decisions:
//! * Rendering is a set of pure functions over a [`C1zReader`] and a writer,
//!   so the binary only hands the clap arguments to [`run_inspect`].
//! * JSON follows the shapes of Baton's `baton.v1` output messages
//!   (`ResourceListOutput{resources:[{resource, resourceType, parent}]}`, ...)
//!   rendered protojson-style; see [`crate::protojson`] for the deviations.
//!   `stats` has no Baton message; its JSON shape is documented on
//!   [`stats`].
//! * Output streams: rows are written as they are read. Console tables size
//!   their columns from the first rows (up to [`WIDTH_SAMPLE`]) so a listing of
//!   millions of grants does not have to be held in memory.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use serde_json::{Value as J, json};

use crate::error::{C1zError, Result};
use crate::pb;
use crate::protojson::{Obj, ProtoJson, timestamp_rfc3339};
use crate::reader::{C1zReader, GrantFilter, ObjectDiff};
use crate::store::SyncRun;

/// Rows used to size console columns before streaming the rest.
pub const WIDTH_SAMPLE: usize = 1000;

/// `-o/--output-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned table with a count line.
    #[default]
    Console,
    /// protojson-style JSON.
    Json,
}

/// Options shared by every subcommand.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CommonArgs {
    /// Output format.
    #[arg(short = 'o', long = "output-format", value_enum, default_value_t = OutputFormat::Console)]
    pub output_format: OutputFormat,
    /// Sync to show (default: the latest finished full sync).
    #[arg(long = "sync-id")]
    pub sync_id: Option<String>,
}

/// `inspect` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum InspectCommand {
    /// List resource types.
    ResourceTypes {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// List resources.
    Resources {
        /// Only resources of this type.
        #[arg(short = 't', long = "resource-type")]
        resource_type: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// List entitlements.
    Entitlements {
        /// Only entitlements on resources of this type.
        #[arg(short = 't', long = "resource-type")]
        resource_type: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// List grants.
    Grants {
        /// Only grants of this entitlement id.
        #[arg(short = 'e', long = "entitlement")]
        entitlement: Option<String>,
        /// Only grants on resources of this type.
        #[arg(short = 't', long = "resource-type")]
        resource_type: Option<String>,
        /// Only grants on this resource id.
        #[arg(short = 'r', long = "resource")]
        resource: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// List sync runs.
    Syncs {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Count objects per type.
    Stats {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Compare two syncs (default: the latest two finished full syncs;
    /// `--sync-id` picks the newer one).
    Diff {
        /// The older sync (default: the finished full sync before the newer).
        #[arg(long = "base-sync-id")]
        base_sync_id: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
}

impl InspectCommand {
    /// The shared options of any subcommand.
    pub fn common(&self) -> &CommonArgs {
        match self {
            InspectCommand::ResourceTypes { common }
            | InspectCommand::Resources { common, .. }
            | InspectCommand::Entitlements { common, .. }
            | InspectCommand::Grants { common, .. }
            | InspectCommand::Syncs { common }
            | InspectCommand::Stats { common }
            | InspectCommand::Diff { common, .. } => common,
        }
    }
}

/// Opens the c1z at `path` and renders `cmd` into `out`.
pub fn run_inspect<W: Write + ?Sized>(
    path: &Path,
    cmd: &InspectCommand,
    out: &mut W,
) -> Result<()> {
    let reader = C1zReader::open(path)?;
    let v = View {
        reader: &reader,
        sync_id: cmd.common().sync_id.as_deref(),
        format: cmd.common().output_format,
        out,
    };
    match cmd {
        InspectCommand::ResourceTypes { .. } => resource_types(v),
        InspectCommand::Resources { resource_type, .. } => resources(v, resource_type.as_deref()),
        InspectCommand::Entitlements { resource_type, .. } => {
            entitlements(v, resource_type.as_deref())
        }
        InspectCommand::Grants {
            entitlement,
            resource_type,
            resource,
            ..
        } => {
            let filter = GrantFilter {
                entitlement: entitlement.clone(),
                resource_type: resource_type.clone(),
                resource: resource.clone(),
                principal: None,
            };
            grants(v, &filter)
        }
        InspectCommand::Syncs { .. } => syncs(v),
        InspectCommand::Stats { .. } => stats(v),
        InspectCommand::Diff { base_sync_id, .. } => diff(v, base_sync_id.as_deref()),
    }
}

/// What every view is rendered from: the file, the `--sync-id` asked for,
/// the output format and where it goes.
struct View<'a, W: ?Sized> {
    reader: &'a C1zReader,
    sync_id: Option<&'a str>,
    format: OutputFormat,
    out: &'a mut W,
}

// ---------------------------------------------------------------------------
// Console table and JSON list writers

/// Streams an aligned table: widths come from the first rows.
struct Table<'w, W: Write + ?Sized> {
    out: &'w mut W,
    headers: Vec<&'static str>,
    pending: Vec<Vec<String>>,
    widths: Option<Vec<usize>>,
    rows: u64,
}

impl<'w, W: Write + ?Sized> Table<'w, W> {
    fn new(out: &'w mut W, headers: &[&'static str]) -> Self {
        Table {
            out,
            headers: headers.to_vec(),
            pending: Vec::new(),
            widths: None,
            rows: 0,
        }
    }

    fn row(&mut self, cells: Vec<String>) -> Result<()> {
        self.rows += 1;
        if self.widths.is_some() {
            return self.emit(&cells);
        }
        self.pending.push(cells);
        if self.pending.len() >= WIDTH_SAMPLE {
            self.flush_pending()?;
        }
        Ok(())
    }

    fn flush_pending(&mut self) -> Result<()> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.pending {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        self.widths = Some(widths);
        let headers: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        self.emit(&headers)?;
        self.emit(&rule)?;
        for r in std::mem::take(&mut self.pending) {
            self.emit(&r)?;
        }
        Ok(())
    }

    fn emit(&mut self, cells: &[String]) -> Result<()> {
        let widths = self.widths.as_ref().expect("widths set before emit");
        let mut line = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(c);
            if i + 1 < cells.len() {
                let pad = widths
                    .get(i)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(c.chars().count());
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(self.out, "{}", line.trim_end()).map_err(C1zError::Output)
    }

    fn finish(self, noun_singular: &str, noun_plural: &str) -> Result<()> {
        let noun = if self.rows == 1 {
            noun_singular
        } else {
            noun_plural
        };
        let line = format!("{} {}", self.rows, noun);
        self.finish_with(&line)
    }

    fn finish_with(mut self, footer: &str) -> Result<()> {
        if self.widths.is_none() {
            self.flush_pending()?;
        }
        writeln!(self.out, "\n{footer}").map_err(C1zError::Output)
    }
}

/// Streams `{"<key>": [ item, item, ... ]}` with pretty-printed items.
struct JsonList<'w, W: Write + ?Sized> {
    out: &'w mut W,
    first: bool,
}

impl<'w, W: Write + ?Sized> JsonList<'w, W> {
    fn new(out: &'w mut W, key: &str) -> Result<Self> {
        write!(out, "{{\n  \"{key}\": [").map_err(C1zError::Output)?;
        Ok(JsonList { out, first: true })
    }

    fn item(&mut self, v: &J) -> Result<()> {
        let text = serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into());
        let sep = if self.first { "\n" } else { ",\n" };
        self.first = false;
        let indented = text.replace('\n', "\n    ");
        write!(self.out, "{sep}    {indented}").map_err(C1zError::Output)
    }

    fn finish(self) -> Result<()> {
        let close = if self.first { "]\n}\n" } else { "\n  ]\n}\n" };
        write!(self.out, "{close}").map_err(C1zError::Output)
    }
}

fn write_json<W: Write + ?Sized>(out: &mut W, v: &J) -> Result<()> {
    let text = serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into());
    writeln!(out, "{text}").map_err(C1zError::Output)
}

// ---------------------------------------------------------------------------
// Small helpers

fn rid_text(id: &Option<pb::ResourceId>) -> String {
    id.as_ref()
        .map(pb::ResourceId::external_id)
        .unwrap_or_default()
}

/// `(type, id)` of a resource id, empty strings if there is none.
fn rid_parts(id: Option<&pb::ResourceId>) -> (String, String) {
    id.map(|i| (i.resource_type.clone(), i.resource.clone()))
        .unwrap_or_default()
}

fn trait_names(rt: &pb::ResourceType) -> String {
    rt.traits
        .iter()
        .map(|t| {
            pb::resource_type::Trait::name_of(*t)
                .map(|n| n.trim_start_matches("TRAIT_").to_lowercase())
                .unwrap_or_else(|| t.to_string())
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn purpose_name(p: i32) -> String {
    pb::entitlement::PurposeValue::name_of(p)
        .map(|n| n.trim_start_matches("PURPOSE_VALUE_").to_lowercase())
        .unwrap_or_else(|| p.to_string())
}

/// Resource types of a sync as JSON, by id, for the `resourceType` parts.
fn type_map(reader: &C1zReader, sync_id: &str) -> Result<BTreeMap<String, J>> {
    Ok(reader
        .resource_types(sync_id)?
        .into_iter()
        .map(|rt| (rt.id.clone(), rt.to_json()))
        .collect())
}

/// The JSON of the type of resource `id`, `null` if unknown.
fn type_json(types: &BTreeMap<String, J>, id: Option<&pb::ResourceId>) -> J {
    id.and_then(|id| types.get(&id.resource_type))
        .cloned()
        .unwrap_or(J::Null)
}

/// One-entry cache: grants of one entitlement arrive together.
struct Last<K, V> {
    key: Option<K>,
    value: Option<V>,
}

impl<K: PartialEq + Clone, V: Clone> Last<K, V> {
    fn new() -> Self {
        Last {
            key: None,
            value: None,
        }
    }

    fn get(&mut self, key: &K, load: impl FnOnce() -> Result<Option<V>>) -> Result<Option<V>> {
        if self.key.as_ref() != Some(key) {
            self.value = load()?;
            self.key = Some(key.clone());
        }
        Ok(self.value.clone())
    }
}

fn opt_json<T: ProtoJson>(v: &Option<T>) -> J {
    v.as_ref().map(|m| m.to_json()).unwrap_or(J::Null)
}

// ---------------------------------------------------------------------------
// Renderers

/// `inspect resource-types`.
fn resource_types<W: Write + ?Sized>(v: View<'_, W>) -> Result<()> {
    let (reader, sync_id, format, out) = (v.reader, v.sync_id, v.format, v.out);
    let sync = reader.resolve_sync(sync_id)?;
    let types = reader.resource_types(&sync.sync_id)?;
    match format {
        OutputFormat::Json => {
            let mut list = JsonList::new(out, "resourceTypes")?;
            for rt in &types {
                list.item(&json!({ "resourceType": rt.to_json() }))?;
            }
            list.finish()
        }
        OutputFormat::Console => {
            let mut t = Table::new(out, &["ID", "Display Name", "Traits", "Description"]);
            for rt in &types {
                t.row(vec![
                    rt.id.clone(),
                    rt.display_name.clone(),
                    trait_names(rt),
                    rt.description.clone(),
                ])?;
            }
            t.finish("resource type", "resource types")
        }
    }
}

/// `inspect resources [-t TYPE]`.
fn resources<W: Write + ?Sized>(v: View<'_, W>, resource_type: Option<&str>) -> Result<()> {
    let (reader, sync_id, format, out) = (v.reader, v.sync_id, v.format, v.out);
    let sync = reader.resolve_sync(sync_id)?;
    let types = type_map(reader, &sync.sync_id)?;
    match format {
        OutputFormat::Json => {
            let mut list = JsonList::new(out, "resources")?;
            for r in reader.resources(&sync.sync_id, resource_type) {
                let r = r?;
                let rt = type_json(&types, r.id.as_ref());
                let parent = match &r.parent_resource_id {
                    Some(p) => opt_json(&reader.resource_in(&sync.sync_id, p)?),
                    None => J::Null,
                };
                let item = Obj::default()
                    .raw("resource", r.to_json())
                    .raw("resourceType", rt)
                    .raw("parent", parent)
                    .build();
                list.item(&strip_nulls(item))?;
            }
            list.finish()
        }
        OutputFormat::Console => {
            let mut t = Table::new(out, &["Resource Type", "ID", "Display Name", "Parent"]);
            for r in reader.resources(&sync.sync_id, resource_type) {
                let r = r?;
                let (rt, id) = rid_parts(r.id.as_ref());
                t.row(vec![
                    rt,
                    id,
                    r.display_name.clone(),
                    rid_text(&r.parent_resource_id),
                ])?;
            }
            t.finish("resource", "resources")
        }
    }
}

/// `inspect entitlements [-t TYPE]`.
fn entitlements<W: Write + ?Sized>(v: View<'_, W>, resource_type: Option<&str>) -> Result<()> {
    let (reader, sync_id, format, out) = (v.reader, v.sync_id, v.format, v.out);
    let sync = reader.resolve_sync(sync_id)?;
    let types = type_map(reader, &sync.sync_id)?;
    match format {
        OutputFormat::Json => {
            let mut list = JsonList::new(out, "entitlements")?;
            for e in reader.entitlements(&sync.sync_id, resource_type) {
                let e = e?;
                let rid = e.resource.as_ref().and_then(|r| r.id.clone());
                let resource = match &rid {
                    Some(id) => reader
                        .resource_in(&sync.sync_id, id)?
                        .or_else(|| e.resource.clone()),
                    None => None,
                };
                let rt = type_json(&types, rid.as_ref());
                let item = Obj::default()
                    .raw("entitlement", e.to_json())
                    .raw("resource", opt_json(&resource))
                    .raw("resourceType", rt)
                    .build();
                list.item(&strip_nulls(item))?;
            }
            list.finish()
        }
        OutputFormat::Console => {
            let mut t = Table::new(
                out,
                &[
                    "ID",
                    "Display Name",
                    "Resource Type",
                    "Resource",
                    "Purpose",
                    "Grantable To",
                ],
            );
            for e in reader.entitlements(&sync.sync_id, resource_type) {
                let e = e?;
                let (rt, rid) = rid_parts(e.resource.as_ref().and_then(|r| r.id.as_ref()));
                let grantable = e
                    .grantable_to
                    .iter()
                    .map(|g| g.id.clone())
                    .collect::<Vec<_>>()
                    .join(",");
                t.row(vec![
                    e.id.clone(),
                    e.display_name.clone(),
                    rt,
                    rid,
                    purpose_name(e.purpose),
                    grantable,
                ])?;
            }
            t.finish("entitlement", "entitlements")
        }
    }
}

/// `inspect grants [-e ENTITLEMENT] [-t TYPE] [-r RESOURCE]`.
fn grants<W: Write + ?Sized>(v: View<'_, W>, filter: &GrantFilter) -> Result<()> {
    let (reader, sync_id, format, out) = (v.reader, v.sync_id, v.format, v.out);
    let sync = reader.resolve_sync(sync_id)?;
    let sid = sync.sync_id.as_str();
    match format {
        OutputFormat::Json => {
            let types = type_map(reader, sid)?;
            let mut ents: Last<String, pb::Entitlement> = Last::new();
            let mut res: Last<pb::ResourceId, pb::Resource> = Last::new();
            let mut list = JsonList::new(out, "grants")?;
            for g in reader.grants(sid, filter) {
                let g = g?;
                let eid = g
                    .entitlement
                    .as_ref()
                    .map(|e| e.id.clone())
                    .unwrap_or_default();
                let ent = ents
                    .get(&eid, || reader.get_in(sid, &eid))?
                    .or_else(|| g.entitlement.clone());
                let rid = g
                    .entitlement
                    .as_ref()
                    .and_then(|e| e.resource.as_ref())
                    .and_then(|r| r.id.clone())
                    .unwrap_or_default();
                let resource = res.get(&rid, || reader.resource_in(sid, &rid))?;
                let principal = match g.principal.as_ref().and_then(|p| p.id.as_ref()) {
                    Some(pid) => reader
                        .resource_in(sid, pid)?
                        .or_else(|| g.principal.clone()),
                    None => g.principal.clone(),
                };
                let rt = type_json(&types, Some(&rid));
                let item = Obj::default()
                    .raw("grant", g.to_json())
                    .raw("entitlement", opt_json(&ent))
                    .raw("resource", opt_json(&resource))
                    .raw("resourceType", rt)
                    .raw("principal", opt_json(&principal))
                    .build();
                list.item(&strip_nulls(item))?;
            }
            list.finish()
        }
        OutputFormat::Console => {
            let mut t = Table::new(
                out,
                &[
                    "Entitlement",
                    "Resource Type",
                    "Resource",
                    "Principal Type",
                    "Principal",
                    "Grant ID",
                ],
            );
            for g in reader.grants(sid, filter) {
                let g = g?;
                let ent = g.entitlement.as_ref();
                let (rt, rid) = rid_parts(
                    ent.and_then(|e| e.resource.as_ref())
                        .and_then(|r| r.id.as_ref()),
                );
                let (pt, pid) = rid_parts(g.principal.as_ref().and_then(|p| p.id.as_ref()));
                t.row(vec![
                    ent.map(|e| e.id.clone()).unwrap_or_default(),
                    rt,
                    rid,
                    pt,
                    pid,
                    g.id.clone(),
                ])?;
            }
            t.finish("grant", "grants")
        }
    }
}

fn sync_time_json(local: &Option<String>) -> J {
    let Some(text) = local else {
        return J::Null;
    };
    let Some(naive) = crate::ids::parse_datetime(text) else {
        return J::String(text.clone());
    };
    use chrono::TimeZone;
    match chrono::Local.from_local_datetime(&naive).earliest() {
        Some(t) => J::String(timestamp_rfc3339(&pb::Timestamp {
            seconds: t.timestamp(),
            nanos: t.timestamp_subsec_nanos() as i32,
        })),
        None => J::String(text.clone()),
    }
}

fn sync_json(s: &SyncRun) -> J {
    Obj::default()
        .str("id", &s.sync_id)
        .raw("startedAt", sync_time_json(&Some(s.started_at.clone())))
        .raw("endedAt", sync_time_json(&s.ended_at))
        .str("syncToken", &s.sync_token)
        .str("syncType", &s.sync_type)
        .str("parentSyncId", &s.parent_sync_id)
        .build()
}

/// `inspect syncs`: every sync run, oldest first (JSON: Baton's
/// `SyncListOutput`, times converted to UTC).
fn syncs<W: Write + ?Sized>(v: View<'_, W>) -> Result<()> {
    let (reader, format, out) = (v.reader, v.format, v.out);
    let syncs = reader.syncs()?;
    match format {
        OutputFormat::Json => {
            let mut list = JsonList::new(out, "syncs")?;
            for s in &syncs {
                list.item(&strip_nulls(sync_json(s)))?;
            }
            list.finish()
        }
        OutputFormat::Console => {
            let mut t = Table::new(
                out,
                &["ID", "Type", "Started", "Ended", "Status", "Checkpoint"],
            );
            for s in &syncs {
                let mut token = s.sync_token.clone();
                if token.chars().count() > 60 {
                    token = token.chars().take(57).collect::<String>() + "...";
                }
                t.row(vec![
                    s.sync_id.clone(),
                    s.sync_type.clone(),
                    s.started_at.clone(),
                    s.ended_at.clone().unwrap_or_default(),
                    if s.is_finished() {
                        "finished"
                    } else {
                        "unfinished"
                    }
                    .into(),
                    token,
                ])?;
            }
            t.finish("sync", "syncs")
        }
    }
}

/// `inspect stats`: counts of the chosen sync. JSON shape (no Baton message
/// exists for it): `{"syncId", "resourceTypes", "resources", "entitlements",
/// "grants", "resourcesByResourceType", "entitlementsByResourceType",
/// "grantsByResourceType"}` with plain numbers.
fn stats<W: Write + ?Sized>(v: View<'_, W>) -> Result<()> {
    let (reader, sync_id, format, out) = (v.reader, v.sync_id, v.format, v.out);
    let sync = reader.resolve_sync(sync_id)?;
    let s = reader.stats(&sync.sync_id)?;
    match format {
        OutputFormat::Json => write_json(
            out,
            &json!({
                "syncId": sync.sync_id,
                "resourceTypes": s.resource_types,
                "resources": s.resources,
                "entitlements": s.entitlements,
                "grants": s.grants,
                "resourcesByResourceType": s.resources_by_resource_type,
                "entitlementsByResourceType": s.entitlements_by_resource_type,
                "grantsByResourceType": s.grants_by_resource_type,
            }),
        ),
        OutputFormat::Console => {
            let mut t = Table::new(out, &["Type", "Resources", "Entitlements", "Grants"]);
            let all: BTreeSet<&String> = s
                .resources_by_resource_type
                .keys()
                .chain(s.entitlements_by_resource_type.keys())
                .chain(s.grants_by_resource_type.keys())
                .collect();
            let n =
                |m: &BTreeMap<String, u64>, k: &String| m.get(k).copied().unwrap_or(0).to_string();
            for k in all {
                t.row(vec![
                    k.clone(),
                    n(&s.resources_by_resource_type, k),
                    n(&s.entitlements_by_resource_type, k),
                    n(&s.grants_by_resource_type, k),
                ])?;
            }
            t.row(vec![
                "total".into(),
                s.resources.to_string(),
                s.entitlements.to_string(),
                s.grants.to_string(),
            ])?;
            t.finish_with(&format!(
                "sync {}: {} resource types, {} resources, {} entitlements, {} grants",
                sync.sync_id, s.resource_types, s.resources, s.entitlements, s.grants
            ))
        }
    }
}

/// `inspect diff`: from `base` (default: the finished full sync before
/// `newer`) to `newer` (default: the latest finished full sync). JSON:
/// Baton's `C1ZDiffOutput` (`created`/`deleted`/`modified`, new versions).
fn diff<W: Write + ?Sized>(v: View<'_, W>, base: Option<&str>) -> Result<()> {
    let (reader, newer, format, out) = (v.reader, v.sync_id, v.format, v.out);
    let (older, newer) = match (base, newer) {
        (Some(b), Some(n)) => (b.to_string(), n.to_string()),
        (b, n) => {
            let newer = match n {
                Some(n) => reader.resolve_sync(Some(n))?,
                None => reader
                    .latest_finished_sync(crate::store::SYNC_TYPE_FULL)?
                    .ok_or_else(|| C1zError::NotFound("a finished full sync to diff".into()))?,
            };
            let older = match b {
                Some(b) => b.to_string(),
                None => {
                    reader
                        .finished_full_before(&newer)?
                        .ok_or_else(|| {
                            C1zError::NotFound(format!(
                                "a finished full sync before {} to diff against",
                                newer.sync_id
                            ))
                        })?
                        .sync_id
                }
            };
            (older, newer.sync_id)
        }
    };
    for id in [&older, &newer] {
        reader.resolve_sync(Some(id))?;
    }
    let d = reader.diff(&older, &newer)?;
    match format {
        OutputFormat::Json => {
            fn part<T: ProtoJson>(d: &ObjectDiff<T>) -> J {
                json!({
                    "created": d.added.iter().map(|m| m.to_json()).collect::<Vec<_>>(),
                    "deleted": d.removed.iter().map(|m| m.to_json()).collect::<Vec<_>>(),
                    "modified": d.changed.iter().map(|(_, n)| n.to_json()).collect::<Vec<_>>(),
                })
            }
            write_json(
                out,
                &json!({
                    "baseSyncId": d.older,
                    "appliedSyncId": d.newer,
                    "resourceTypes": part(&d.resource_types),
                    "resources": part(&d.resources),
                    "entitlements": part(&d.entitlements),
                    "grants": part(&d.grants),
                }),
            )
        }
        OutputFormat::Console => {
            writeln!(out, "diff {} -> {}\n", d.older, d.newer).map_err(C1zError::Output)?;
            let mut t = Table::new(out, &["Change", "Kind", "ID"]);
            fn rows<T, W: Write + ?Sized>(
                t: &mut Table<'_, W>,
                kind: &str,
                d: &ObjectDiff<T>,
                id: impl Fn(&T) -> String,
            ) -> Result<()> {
                for m in &d.added {
                    t.row(vec!["added".into(), kind.into(), id(m)])?;
                }
                for m in &d.removed {
                    t.row(vec!["removed".into(), kind.into(), id(m)])?;
                }
                for (_, m) in &d.changed {
                    t.row(vec!["changed".into(), kind.into(), id(m)])?;
                }
                Ok(())
            }
            rows(&mut t, "resource type", &d.resource_types, |m| m.id.clone())?;
            rows(&mut t, "resource", &d.resources, |m| rid_text(&m.id))?;
            rows(&mut t, "entitlement", &d.entitlements, |m| m.id.clone())?;
            rows(&mut t, "grant", &d.grants, |m| m.id.clone())?;
            t.finish("change", "changes")
        }
    }
}

/// protojson omits unset message fields; drop the `null`s we used as
/// placeholders.
fn strip_nulls(v: J) -> J {
    match v {
        J::Object(m) => J::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}
