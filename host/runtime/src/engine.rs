//! The one calling style we support: load a component once, run each
//! operation in a fresh Store under limits, map every failure to a type.
//!
//! Decisions:
//! - One `Engine` per process, with epoch interruption (a 10 ms ticker
//!   thread) for CPU deadlines and cooperative yields, and the pooling
//!   allocator so a fresh instance per operation costs microseconds.
//! - Components are compiled once and cached precompiled on disk, keyed by
//!   the component's sha256 and the engine's compatibility hash
//!   ([`ComponentCache`]). Loading an entry is `Component::deserialize`,
//!   which takes its input for machine code the host compiled: whoever can
//!   write the cache can run code in this process. So the cache directory
//!   is used only while it is owned by the process's effective uid and not
//!   writable by group or others, checked before every read and every write
//!   (a mode can change while a server runs), and an entry only if the
//!   opened file is a regular file with the same owner and no group or
//!   other write bit; its bytes are then read from that same handle, so
//!   the file checked is the file loaded. A cache that fails a check is not
//!   an error: it is an optimisation, so the host logs a warning naming the
//!   directory or entry and the reason, and compiles instead. It never
//!   `chmod`s or `chown`s a directory into shape, since the directory may
//!   already hold someone else's files: the operator fixes it (`chown` to
//!   the service user, `chmod 0700`, or a fresh directory).
//! - Before anything runs, the component's imports are checked against the
//!   contract; anything else (wasi:http, sockets, a foreign interface) is
//!   refused with an error that names it.
//! - A fresh Store per operation, dropped afterwards, always after a trap;
//!   only the pages of one sync run may reuse a clean one ([`WarmInstances`]).

use std::collections::HashMap;
use std::fs::{self, Metadata, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

use crate::bindings::getter::{
    BatchedChangeFeed, BatchedChangeFeedIndices, ChangeFeed, ChangeFeedIndices, ChangePage,
    GrantScope, ResourceGetter, ResourceGetterIndices, ScopedChange, ScopedChangePage,
};
use crate::bindings::{
    ConnectorPlugin, ConnectorPluginIndices, ConnectorPluginPre, meta, prov, sync_api, types,
};
use crate::cpu_clock::CpuMetered;
use crate::error::{CallError, LoadError};
use crate::guest_text;
use crate::limits::{EPOCH_TICK, Limits, MAX_WASM_STACK};
use crate::state::{HostState, InstanceCtx, UploadBuffer};

/// Interfaces a component may import: the contract, and the WASI p2
/// interfaces Rust's std links (all denied by the empty `WasiCtx`).
const ALLOWED_IMPORT_PREFIXES: &[&str] = &[
    "idgov:connector/types@0.1.",
    "idgov:connector/secrets@0.1.",
    "idgov:connector/http@0.1.",
    "idgov:connector/upload@0.1.",
    "idgov:connector/log@0.1.",
    "wasi:cli/environment@0.2.",
    "wasi:cli/exit@0.2.",
    "wasi:cli/stdin@0.2.",
    "wasi:cli/stdout@0.2.",
    "wasi:cli/stderr@0.2.",
    "wasi:cli/terminal-input@0.2.",
    "wasi:cli/terminal-output@0.2.",
    "wasi:cli/terminal-stdin@0.2.",
    "wasi:cli/terminal-stdout@0.2.",
    "wasi:cli/terminal-stderr@0.2.",
    "wasi:io/error@0.2.",
    "wasi:io/poll@0.2.",
    "wasi:io/streams@0.2.",
    "wasi:clocks/monotonic-clock@0.2.",
    "wasi:clocks/wall-clock@0.2.",
    "wasi:random/random@0.2.",
    "wasi:random/insecure@0.2.",
    "wasi:random/insecure-seed@0.2.",
    "wasi:filesystem/types@0.2.",
    "wasi:filesystem/preopens@0.2.",
];

/// Options for the process-wide runtime.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// Where precompiled components are cached; `None` compiles every load.
    /// A directory not owned by this process's user, or writable by group
    /// or others, is not used (a warning says why).
    pub cache_dir: Option<PathBuf>,
}

/// The process-wide engine, linker and component cache.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    cache: Option<ComponentCache>,
    loaded: Mutex<HashMap<String, Arc<Plugin>>>,
}

/// A loaded, vetted, pre-instantiated component.
pub struct Plugin {
    pub digest: String,
    pre: ConnectorPluginPre<HostState>,
    indices: ConnectorPluginIndices,
    /// The optional `resource-getter` export (contract 0.1.3), if present.
    getter: Option<ResourceGetterIndices>,
    /// The optional `change-feed` export (contract 0.1.3), if present.
    change_feed: Option<ChangeFeedIndices>,
    /// The optional `batched-change-feed` export (contract 0.1.4), if
    /// present.
    batched_change_feed: Option<BatchedChangeFeedIndices>,
    pub metadata: meta::ConnectorMetadata,
    /// Resource types whose resources the component reads one at a time
    /// (`resource-getter.targeted-types`); empty without the export.
    pub targeted_types: Vec<String>,
}

/// An operation on a component.
pub enum Operation {
    Metadata,
    Validate,
    Sync(sync_api::SyncTask),
    Grant(prov::EntitlementRef, types::ResourceId),
    Revoke(prov::GrantRef),
    CreateAccount(prov::AccountInfo, meta::CredentialOption),
    DeleteResource(types::ResourceId),
    /// `resource-getter.targeted-types` (contract 0.1.3).
    TargetedTypes,
    /// `resource-getter.get-resource` of a resource and its parent, if
    /// known (contract 0.1.3). A component without the export answers
    /// `unsupported`.
    GetResource(types::ResourceId, Option<types::ResourceId>),
    /// `change-feed.list-changes` of `[since, until)` and a page token
    /// (contract 0.1.3). A component without the export answers
    /// `unsupported`.
    ListChanges {
        since: types::Timestamp,
        until: types::Timestamp,
        page_token: Option<String>,
    },
    /// `change-feed.list-principal-grants` of a principal and a page token
    /// (contract 0.1.3); its output is a [`Output::Page`] with that next
    /// token and no follow-ups, so the sync engine commits it as a page.
    ListPrincipalGrants(types::ResourceId, Option<String>),
    /// `batched-change-feed.list-changes` of `[since, until)` and a page
    /// token (contract 0.1.4). A component without the export answers
    /// `unsupported`, as one that supports only `change-feed` does.
    ListScopedChanges {
        since: types::Timestamp,
        until: types::Timestamp,
        page_token: Option<String>,
    },
    /// `batched-change-feed.get-resources` of ids of one type (contract
    /// 0.1.4); its output is [`Output::Missing`].
    GetResources(Vec<types::ResourceId>),
    /// `batched-change-feed.list-principal-grants` of principals of one
    /// type within a scope, and a page token (contract 0.1.4); its output
    /// is a [`Output::Page`] with that next token and no follow-ups.
    ListScopedPrincipalGrants(Vec<types::ResourceId>, GrantScope, Option<String>),
    /// `batched-change-feed.list-resource-grants` of a resource, the
    /// principal types whose grants it lists, and a page token (contract
    /// 0.1.4); its output is a [`Output::Page`] as above.
    ListResourceGrants(types::ResourceId, Vec<String>, Option<String>),
}

/// What an operation returned.
#[derive(Debug)]
pub enum Output {
    Metadata(Box<meta::ConnectorMetadata>),
    Validation(meta::Validation),
    Page(Box<sync_api::PageOutcome>),
    Granted(prov::GrantResult),
    Revoked(prov::RevokeResult),
    AccountCreated(Box<prov::CreateAccountOutcome>),
    Deleted(prov::DeleteResult),
    TargetedTypes(Vec<String>),
    /// Whether the resource exists (and was uploaded).
    Found(bool),
    /// One page of `change-feed.list-changes`, its reasons sanitized.
    Changes(Box<ChangePage>),
    /// One page of `batched-change-feed.list-changes`, its reasons
    /// sanitized.
    ScopedChanges(Box<ScopedChangePage>),
    /// The ids `get-resources` found no resource for (the others were
    /// uploaded).
    Missing(Vec<types::ResourceId>),
}

/// What a successful call cost and produced besides its output.
#[derive(Debug, Default)]
pub struct CallReport {
    pub upload: UploadBuffer,
    /// CPU the call burned: guest code and bindings, without the host's own
    /// work in imports (HTTP, upload checks). The CPU budget charges the
    /// upload checks too (see `cpu_clock`).
    pub cpu: Duration,
    pub wall: Duration,
    /// The most bytes the Store's memories and tables held together.
    pub memory_peak: usize,
    pub log_lines: usize,
}

impl Runtime {
    pub fn new(options: RuntimeOptions) -> anyhow::Result<Arc<Self>> {
        let engine = build_engine()?;
        // The epoch ticker: one thread per engine, exits when the engine goes.
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })?;
        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        ConnectorPlugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
        let cache = options.cache_dir.as_deref().and_then(ComponentCache::open);
        Ok(Arc::new(Self {
            engine,
            linker,
            cache,
            loaded: Mutex::new(HashMap::new()),
        }))
    }

    /// Loads a component from a file, checking its digest if one is given.
    pub async fn load_file(
        &self,
        path: &Path,
        expected_sha256: Option<&str>,
    ) -> Result<Arc<Plugin>, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.display().to_string(),
            source,
        })?;
        if let Some(expected) = expected_sha256 {
            let actual = sha256_hex(&bytes);
            if !actual.eq_ignore_ascii_case(expected.trim_start_matches("sha256:")) {
                return Err(LoadError::DigestMismatch {
                    expected: expected.to_string(),
                    actual,
                });
            }
        }
        self.load(&bytes).await
    }

    /// Loads component bytes: cached by digest, compiled at most once.
    pub async fn load(&self, bytes: &[u8]) -> Result<Arc<Plugin>, LoadError> {
        let digest = sha256_hex(bytes);
        if let Some(p) = self.loaded.lock().unwrap().get(&digest) {
            return Ok(p.clone());
        }
        let component = self.compile(bytes, &digest)?;
        vet_imports(&self.engine, &component)?;
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        let indices = ConnectorPluginIndices::new(&instance_pre)
            .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        // Optional: components built before 0.1.3 lack it.
        let getter = ResourceGetterIndices::new(&instance_pre).ok();
        let change_feed = ChangeFeedIndices::new(&instance_pre).ok();
        // Optional: components built before 0.1.4 lack it.
        let batched_change_feed = BatchedChangeFeedIndices::new(&instance_pre).ok();
        let pre = ConnectorPluginPre::new(instance_pre)
            .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        let mut plugin = Plugin {
            digest: digest.clone(),
            pre,
            indices,
            getter,
            change_feed,
            batched_change_feed,
            metadata: empty_metadata(),
            targeted_types: Vec::new(),
        };
        let bare = Arc::new(InstanceCtx::bare("metadata", Limits::default()));
        let Output::Metadata(metadata) = plugin.call(&bare, Operation::Metadata).await?.0 else {
            unreachable!("metadata call returns metadata")
        };
        // The reason quotes the component's own names: bounded, one line.
        check_metadata(&metadata)
            .map_err(|m| LoadError::BadMetadata(guest_text::escape_and_cap(&m)))?;
        plugin.metadata = sanitize_metadata(*metadata);
        if plugin.getter.is_some() {
            let Output::TargetedTypes(types) =
                plugin.call(&bare, Operation::TargetedTypes).await?.0
            else {
                unreachable!("targeted-types returns types")
            };
            plugin.targeted_types = check_targeted_types(types, &plugin.metadata)
                .map_err(|m| LoadError::BadMetadata(guest_text::escape_and_cap(&m)))?;
        }
        let plugin = Arc::new(plugin);
        self.loaded.lock().unwrap().insert(digest, plugin.clone());
        Ok(plugin)
    }

    fn compile(&self, bytes: &[u8], digest: &str) -> Result<Component, LoadError> {
        let invalid = |e: wasmtime::Error| LoadError::Invalid(format!("{e:#}"));
        let Some(cache) = &self.cache else {
            return Component::new(&self.engine, bytes).map_err(invalid);
        };
        let path = cache.entry_path(&self.engine, digest);
        if let Some(component) = cache.load(&self.engine, &path) {
            return Ok(component);
        }
        let component = Component::new(&self.engine, bytes).map_err(invalid)?;
        cache.store(&path, &component);
        Ok(component)
    }
}

/// The on-disk cache of precompiled components. Every entry is machine
/// code this process will run, so the directory and each entry must be
/// private to the process's effective uid (see the module documentation);
/// when they are not, the cache is not used and the component is compiled.
struct ComponentCache {
    dir: PathBuf,
}

impl ComponentCache {
    /// The cache at `dir`, created (mode 0700) if missing; `None`, with a
    /// warning naming the directory and the reason, if it cannot be created
    /// or is not private to this process's user.
    fn open(dir: &Path) -> Option<Self> {
        if let Err(e) = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
        {
            tracing::warn!(
                "not using the component cache {}: it cannot be created: {e}; compiling instead",
                dir.display()
            );
            return None;
        }
        let cache = Self {
            dir: dir.to_path_buf(),
        };
        cache
            .dir_ok("using", "; compiling instead")
            .then_some(cache)
    }

    /// [`Self::check_dir`], with a warning that the cache is not `doing`
    /// (and what the host does `instead`) when the directory fails it.
    fn dir_ok(&self, doing: &str, instead: &str) -> bool {
        let Err(reason) = self.check_dir() else {
            return true;
        };
        let dir = self.dir.display();
        tracing::warn!("not {doing} the component cache {dir}: {reason}{instead}");
        false
    }

    /// The directory is ours alone: owned by our effective uid, no group or
    /// other write bit (which would let another user plant or swap entries).
    fn check_dir(&self) -> Result<(), String> {
        let meta =
            fs::metadata(&self.dir).map_err(|e| format!("its metadata is unreadable: {e}"))?;
        if !meta.is_dir() {
            return Err("it is not a directory".into());
        }
        private_to_us(&meta)
    }

    /// The entry of `digest` for this engine: the name binds the file to the
    /// component's content and to the engine's compilation settings.
    fn entry_path(&self, engine: &Engine, digest: &str) -> PathBuf {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        let key = std::hash::Hasher::finish(&hasher);
        self.dir.join(format!("{digest}-{key:016x}.cwasm"))
    }

    /// The component cached at `path`, if the directory and the entry pass
    /// the ownership checks and the entry deserialises.
    fn load(&self, engine: &Engine, path: &Path) -> Option<Component> {
        if !self.dir_ok("reading", "; compiling instead") {
            return None;
        }
        // `Ok(None)`: no entry; `Err`: why the entry is ignored.
        let read = || -> Result<Option<Component>, String> {
            // No symlink: the entry itself must be the checked file.
            let opened = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path);
            let mut file = match opened {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(format!("it cannot be opened: {e}")),
            };
            // Checked on the open handle, so a file swapped in after the
            // check is not the one read.
            let meta = (file.metadata()).map_err(|e| format!("its metadata is unreadable: {e}"))?;
            if !meta.is_file() {
                return Err("it is not a regular file".into());
            }
            private_to_us(&meta)?;
            let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
            (file.read_to_end(&mut bytes)).map_err(|e| format!("it cannot be read: {e}"))?;
            // SAFETY: these bytes come from a regular file owned by this
            // process's user and writable by no one else, in a directory
            // with the same guarantees, read through the handle that was
            // checked; only `store` below writes such files, from
            // `Component::serialize` of this engine (the name binds the
            // engine's compatibility hash, and wasmtime re-checks it while
            // deserialising).
            let component = unsafe { Component::deserialize(engine, &bytes) };
            (component.map(Some)).map_err(|e| format!("it does not deserialise: {e}"))
        };
        read().unwrap_or_else(|reason| {
            let path = path.display();
            tracing::warn!("ignoring component cache entry {path}: {reason}");
            None
        })
    }

    /// Writes `component` to `path`, atomically (a private temporary file,
    /// then a rename), unless the directory fails its check. Failures only
    /// cost the next load a compilation, so they are logged, not returned.
    fn store(&self, path: &Path, component: &Component) {
        if !self.dir_ok("writing to", "") {
            return;
        }
        let Ok(serialized) = component.serialize() else {
            return;
        };
        let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
        let _ = fs::remove_file(&tmp);
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .and_then(|mut f| f.write_all(&serialized))
            .and_then(|()| fs::rename(&tmp, path));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            tracing::warn!("not caching component {}: {e}", path.display());
        }
    }
}

/// The effective uid of this process: the only owner a cache directory or
/// entry may have.
fn effective_uid() -> u32 {
    // SAFETY: geteuid takes no arguments, touches no memory and cannot fail.
    unsafe { libc::geteuid() }
}

/// `Ok` if `meta` is owned by this process's effective uid and not
/// writable by group or others; otherwise the reason, for the warning.
fn private_to_us(meta: &Metadata) -> Result<(), String> {
    let euid = effective_uid();
    if meta.uid() != euid {
        return Err(format!(
            "it is owned by uid {}, not by this process's uid {euid}",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "it is writable by group or others (mode {:04o})",
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

fn build_engine() -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.max_wasm_stack(MAX_WASM_STACK);
    config.memory_init_cow(true);
    let mut pool = PoolingAllocationConfig::new();
    // 1,000 concurrent instances per process: 50+ tenants x 16 concurrent
    // calls with headroom; each slot reserves address space, not memory.
    pool.total_component_instances(1_000)
        .total_core_instances(4_000)
        .total_memories(2_000)
        .total_tables(2_000)
        .total_stacks(1_000)
        // Hard per-memory ceiling above any per-tenant `memory_bytes`.
        .max_memory_size(512 << 20)
        .max_memories_per_component(8)
        .max_tables_per_component(8)
        .max_core_instances_per_component(32)
        .linear_memory_keep_resident(1 << 20);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    match Engine::new(&config) {
        Ok(e) => Ok(e),
        Err(e) => {
            // Some sandboxes cap virtual address space; fall back rather than fail.
            tracing::warn!("pooling allocator unavailable ({e}); using on-demand instances");
            config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            Ok(Engine::new(&config)?)
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Refuses a component whose imports fall outside the contract.
fn vet_imports(engine: &Engine, component: &Component) -> Result<(), LoadError> {
    for (name, _) in component.component_type().imports(engine) {
        if !ALLOWED_IMPORT_PREFIXES.iter().any(|p| name.starts_with(p)) {
            return Err(LoadError::ForbiddenImport(name.to_string()));
        }
    }
    Ok(())
}

fn empty_metadata() -> meta::ConnectorMetadata {
    meta::ConnectorMetadata {
        display_name: String::new(),
        description: String::new(),
        version: String::new(),
        resource_types: Vec::new(),
        capabilities: Vec::new(),
        config_schema: Vec::new(),
        credential: None,
        account_creation_schema: Vec::new(),
        credential_options: Vec::new(),
    }
}

/// The component's free text about itself, bounded and on one line: the
/// CLI prints its name, version and descriptions (help, summaries, the
/// capabilities document). Ids and field names are checked, not rewritten.
fn sanitize_metadata(mut m: meta::ConnectorMetadata) -> meta::ConnectorMetadata {
    let clean = |s: &mut String| *s = guest_text::escape_and_cap(s);
    clean(&mut m.display_name);
    clean(&mut m.description);
    clean(&mut m.version);
    for t in &mut m.resource_types {
        clean(&mut t.display_name);
        t.description.as_mut().map(clean);
    }
    for f in &mut m.config_schema {
        clean(&mut f.description);
    }
    m
}

/// Structural checks on what a component says about itself.
fn check_metadata(m: &meta::ConnectorMetadata) -> Result<(), String> {
    if m.display_name.is_empty() {
        return Err("display name is empty".into());
    }
    if m.resource_types.is_empty() {
        return Err("no resource types".into());
    }
    let mut seen = std::collections::HashSet::new();
    for t in &m.resource_types {
        if t.id.is_empty() || t.id.contains(':') {
            return Err(format!(
                "resource type id {:?} is empty or contains ':'",
                t.id
            ));
        }
        if !seen.insert(&t.id) {
            return Err(format!("resource type {:?} is declared twice", t.id));
        }
    }
    let mut fields = std::collections::HashSet::new();
    for f in &m.config_schema {
        let ok = !f.name.is_empty()
            && f.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            return Err(format!(
                "config field {:?} must be lowercase letters, digits and '-'",
                f.name
            ));
        }
        if !fields.insert(&f.name) {
            return Err(format!("config field {:?} is declared twice", f.name));
        }
    }
    Ok(())
}

/// The targeted types a component declared, deduplicated, each a type its
/// metadata declares: the host trusts them to route targeted syncs.
fn check_targeted_types(
    types: Vec<String>,
    m: &meta::ConnectorMetadata,
) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for t in types {
        if !m.resource_types.iter().any(|d| d.id == t) {
            return Err(format!(
                "targeted type {t:?} is not a resource type the metadata declares"
            ));
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

/// Calls one warm instance serves before it is replaced. A guest may hold
/// state between calls (a leaky cache, a fragmented heap); replacing the
/// instance every 256 calls bounds that to a few seconds of a sync while
/// the fresh instantiation (~0.1 ms, docs/benchmarks.md) is amortised to
/// well under 1 µs per call.
const WARM_INSTANCE_CALLS: u32 = 256;

/// Instances kept warm between the calls of one sync run.
///
/// Decision: instantiating per call costs ~0.1 ms, and a fresh instance
/// starts with a cold heap that the guest faults in again on every page
/// (a fifth of the connector's CPU in docs/benchmarks.md). The pages
/// of one sync run belong to one tenant, one config and one component, so
/// an instance that finished a page cleanly may serve the next one. Threats
/// and answers:
/// - cross-tenant leakage: a pool belongs to one sync run (`sync::run_sync`)
///   and dies with it, an instance only ever serves the `InstanceCtx` it
///   was created for, and provisioning, validation and metadata calls
///   never use a pool;
/// - a poisoned instance: after a trap, an error, a timeout, a host
///   refusal, a limit, output on stderr or an open handle, the Store is
///   dropped, never returned;
/// - state building up: an instance serves at most `WARM_INSTANCE_CALLS`
///   calls, and its memory stays under the same per-Store cap;
/// - correctness: the contract still gives every call its whole input, so
///   a guest that caches across calls gains speed, never meaning.
#[derive(Default)]
pub struct WarmInstances {
    idle: Mutex<Vec<WarmInstance>>,
}

struct WarmInstance {
    store: Store<HostState>,
    bindings: Bindings,
    calls: u32,
}

/// One instance's exports: the required ones and the optional getter.
struct Bindings {
    plugin: ConnectorPlugin,
    getter: Option<ResourceGetter>,
    change_feed: Option<ChangeFeed>,
    batched_change_feed: Option<BatchedChangeFeed>,
}

impl WarmInstances {
    pub fn new() -> Self {
        Self::default()
    }

    /// Instances idle in the pool.
    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap().len()
    }

    /// An idle instance that serves `instance`; any other is dropped, so a
    /// pool handed the wrong tenant by mistake starts fresh instead of
    /// lending one tenant's Store (HTTP client, secrets) to another.
    fn take(&self, instance: &Arc<InstanceCtx>) -> Option<WarmInstance> {
        let mut idle = self.idle.lock().unwrap();
        idle.retain(|w| Arc::ptr_eq(&w.store.data().instance, instance));
        idle.pop()
    }

    fn put(&self, warm: WarmInstance) {
        self.idle.lock().unwrap().push(warm);
    }
}

impl Plugin {
    /// Whether the component reads single resources of `resource_type`
    /// (`resource-getter`, contract 0.1.3).
    pub fn can_get(&self, resource_type: &str) -> bool {
        self.targeted_types.iter().any(|t| t == resource_type)
    }

    /// Whether the component exports `change-feed` (contract 0.1.3). A
    /// component built with the SDK always does; whether it supports it is
    /// known only from its first `list-changes` answer.
    pub fn has_change_feed(&self) -> bool {
        self.change_feed.is_some()
    }

    /// Whether the component exports `batched-change-feed` (contract
    /// 0.1.4). As with `change-feed`, an SDK component always does; an
    /// `unsupported` answer to its `list-changes` means "use `change-feed`".
    pub fn has_batched_change_feed(&self) -> bool {
        self.batched_change_feed.is_some()
    }

    /// Whether the component exports either change feed.
    pub fn has_any_change_feed(&self) -> bool {
        self.has_change_feed() || self.has_batched_change_feed()
    }

    /// Whether a targeted sync of resources of `types` can read them alone:
    /// the component reads single resources of each of those types and of
    /// every type that holds principals (a user or group trait), since the
    /// grants on the targets name principals the sync must store too.
    pub fn can_target<'t>(&self, types: impl IntoIterator<Item = &'t str>) -> bool {
        use crate::bindings::types::ResourceTraitKind as Kind;
        let principals_readable = self
            .metadata
            .resource_types
            .iter()
            .filter(|t| {
                t.traits
                    .iter()
                    .any(|k| matches!(k, Kind::User | Kind::Group))
            })
            .all(|t| self.can_get(&t.id));
        principals_readable && types.into_iter().all(|t| self.can_get(t))
    }

    /// The types a targeted sync can read alone ([`Plugin::can_target`]):
    /// what Hello and `capabilities` claim as targeted sync. A task naming
    /// another type still gets a correct partial sync, cut from a full one.
    pub fn targetable_types(&self) -> Vec<String> {
        self.metadata
            .resource_types
            .iter()
            .filter(|t| self.can_target([t.id.as_str()]))
            .map(|t| t.id.clone())
            .collect()
    }

    /// Runs one operation in a fresh Store under the instance's limits.
    pub async fn call(
        &self,
        instance: &Arc<InstanceCtx>,
        op: Operation,
    ) -> Result<(Output, CallReport), CallError> {
        self.call_in(instance, op, None).await
    }

    /// Runs one operation on an idle instance of `warm` (a fresh one if none
    /// is idle) and returns the instance to `warm` if it ended cleanly.
    pub async fn call_warm(
        &self,
        instance: &Arc<InstanceCtx>,
        op: Operation,
        warm: &WarmInstances,
    ) -> Result<(Output, CallReport), CallError> {
        self.call_in(instance, op, Some(warm)).await
    }

    fn new_store(&self, instance: &Arc<InstanceCtx>) -> Store<HostState> {
        let limits = &instance.limits;
        let mut store = Store::new(self.pre.engine(), HostState::new(instance.clone()));
        store.limiter(|s| &mut s.memory);
        // Arguments are lifted before any import sees them; the fuel bounds
        // what lifting copies, aliased strings included.
        store.set_hostcall_fuel(limits.import_argument_bytes);
        // CPU budget: at every tick while wasm runs, compare the call's
        // measured CPU (its polls so far, this one included: guest code and
        // the host's work on the call's thread, never time spent pending on
        // I/O) with the budget, and stop the guest once it is spent;
        // otherwise yield to tokio so one guest cannot hog a worker thread.
        // Host work inside an import cannot be interrupted, but it is
        // charged, and the guest is stopped at its next tick in wasm.
        let budget = limits.cpu_per_call;
        store.epoch_deadline_callback(move |cx| {
            if cx.data().call.cpu.spent() > budget {
                Ok(wasmtime::UpdateDeadline::Interrupt)
            } else {
                Ok(wasmtime::UpdateDeadline::Yield(1))
            }
        });
        store
    }

    async fn call_in(
        &self,
        instance: &Arc<InstanceCtx>,
        op: Operation,
        warm: Option<&WarmInstances>,
    ) -> Result<(Output, CallReport), CallError> {
        let limits = instance.limits.clone();
        let metrics = &instance.metrics;
        let reused = warm.and_then(|w| w.take(instance));
        let served = reused.as_ref().map_or(0, |w| w.calls);
        let (mut store, ready) = match reused {
            Some(w) => (w.store, Some(w.bindings)),
            None => (self.new_store(instance), None),
        };
        store.data_mut().begin_call();
        store.set_epoch_deadline(1);
        let started = Instant::now();
        let config = instance.config.clone();
        let meter = store.data().call.cpu.clone();
        let (result, cpu) = CpuMetered::with_meter(
            tokio::time::timeout(limits.wall_per_call, async {
                let bindings = match ready {
                    Some(b) => b,
                    None => {
                        metrics.instantiations.fetch_add(1, Ordering::Relaxed);
                        let instance = self
                            .pre
                            .instance_pre()
                            .instantiate_async(&mut store)
                            .await?;
                        let getter = self.getter.as_ref();
                        let change_feed = self.change_feed.as_ref();
                        Bindings {
                            plugin: self.indices.load(&mut store, &instance)?,
                            getter: getter.map(|g| g.load(&mut store, &instance)).transpose()?,
                            change_feed: change_feed
                                .map(|f| f.load(&mut store, &instance))
                                .transpose()?,
                            batched_change_feed: self
                                .batched_change_feed
                                .as_ref()
                                .map(|f| f.load(&mut store, &instance))
                                .transpose()?,
                        }
                    }
                };
                let output = run_operation(&bindings, &mut store, config, op).await?;
                wasmtime::Result::Ok((output, bindings))
            }),
            meter,
        )
        .await;
        let wall = started.elapsed();
        let state = store.data_mut();
        // The budget charged all of `cpu`; reports and metrics keep the
        // connector's share apart from the host's upload checks.
        let cpu = cpu.saturating_sub(state.call.host_cpu);
        metrics.calls.fetch_add(1, Ordering::Relaxed);
        let micros = cpu.as_micros() as u64;
        metrics.cpu_micros.fetch_add(micros, Ordering::Relaxed);
        metrics.note_memory(state.memory.peak as u64);
        let outcome = match result {
            Err(_elapsed) => Err(CallError::Timeout(limits.wall_per_call)),
            Ok(Err(trap)) => Err(classify_trap(trap, state, &limits)),
            Ok(Ok((Err(guest_error), _))) => Err(classify_guest_error(guest_error, state)),
            Ok(Ok((Ok(output), bindings))) => Ok((output, bindings)),
        };
        // Guest text leaves the call bounded and on one line (`guest_text`).
        let secrets = &state.instance.secrets;
        let (output, bindings) = match outcome {
            Ok(done) => done,
            Err(e) => {
                if e.is_trap() {
                    metrics.traps.fetch_add(1, Ordering::Relaxed);
                }
                // The Store is dropped here: never reused after a failure.
                return Err(e.map_text(|t| guest_text::sanitize(t, secrets)));
            }
        };
        let output = sanitize_output(output, secrets);
        let report = CallReport {
            upload: std::mem::take(&mut state.call.upload),
            cpu,
            wall,
            memory_peak: state.memory.peak,
            log_lines: state.call.log_lines,
        };
        if let Some(warm) = warm
            && served + 1 < WARM_INSTANCE_CALLS
            && state.reusable()
        {
            let calls = served + 1;
            warm.put(WarmInstance {
                store,
                bindings,
                calls,
            });
        }
        Ok((output, report))
    }
}

/// The output with its free text sanitized: a validation's summary and
/// warnings reach the operator's terminal and logs. Records are the upload
/// checks' business and go to the c1z, not to a log.
fn sanitize_output(output: Output, secrets: &crate::capabilities::secrets::Secrets) -> Output {
    match output {
        Output::Validation(mut v) => {
            v.summary = guest_text::sanitize(&v.summary, secrets);
            for w in &mut v.warnings {
                *w = guest_text::sanitize(w, secrets);
            }
            Output::Validation(v)
        }
        // A fallback's reason is logged: guest text like any other.
        Output::Changes(mut page) => {
            for c in &mut page.changes {
                if let crate::bindings::getter::Change::FullSync(reason) = c {
                    *reason = guest_text::sanitize(reason, secrets);
                }
            }
            Output::Changes(page)
        }
        Output::ScopedChanges(mut page) => {
            for c in &mut page.changes {
                if let ScopedChange::FullSync(reason) = c {
                    *reason = guest_text::sanitize(reason, secrets);
                }
            }
            Output::ScopedChanges(page)
        }
        other => other,
    }
}

async fn run_operation(
    bindings: &Bindings,
    store: &mut Store<HostState>,
    config: Vec<(String, String)>,
    op: Operation,
) -> wasmtime::Result<Result<Output, types::ConnectorError>> {
    let connector = bindings.plugin.idgov_connector_connector();
    let sync = bindings.plugin.idgov_connector_sync();
    let prov = bindings.plugin.idgov_connector_provisioning();
    let missing = |can: &str, export: &str| {
        let why = format!("this component cannot {can} (it has no {export} export)");
        types::ConnectorError::Unsupported(why)
    };
    let no_getter = || missing("read single resources", "resource-getter");
    let no_feed = || missing("list changes", "change-feed");
    let no_batched_feed = || missing("list scoped changes", "batched-change-feed");
    let as_page = |next: Option<String>| {
        Output::Page(Box::new(sync_api::PageOutcome {
            next_page_token: next,
            follow_ups: Vec::new(),
        }))
    };
    Ok(match op {
        Operation::Metadata => Ok(Output::Metadata(Box::new(
            connector.call_metadata(&mut *store).await?,
        ))),
        Operation::Validate => connector
            .call_validate(&mut *store, &config)
            .await?
            .map(Output::Validation),
        Operation::Sync(task) => sync
            .call_run(&mut *store, &config, &task)
            .await?
            .map(|p| Output::Page(Box::new(p))),
        Operation::Grant(e, p) => prov
            .call_grant(&mut *store, &config, &e, &p)
            .await?
            .map(Output::Granted),
        Operation::Revoke(g) => prov
            .call_revoke(&mut *store, &config, &g)
            .await?
            .map(Output::Revoked),
        Operation::CreateAccount(info, cred) => prov
            .call_create_account(&mut *store, &config, &info, cred)
            .await?
            .map(|o| Output::AccountCreated(Box::new(o))),
        Operation::DeleteResource(id) => prov
            .call_delete_resource(&mut *store, &config, &id)
            .await?
            .map(Output::Deleted),
        Operation::TargetedTypes => match &bindings.getter {
            Some(g) => Ok(Output::TargetedTypes(
                g.call_targeted_types(&mut *store).await?,
            )),
            None => Err(no_getter()),
        },
        Operation::GetResource(id, parent) => match &bindings.getter {
            Some(g) => g
                .call_get_resource(&mut *store, &config, &id, parent.as_ref())
                .await?
                .map(Output::Found),
            None => Err(no_getter()),
        },
        Operation::ListChanges {
            since,
            until,
            page_token,
        } => match &bindings.change_feed {
            Some(f) => f
                .call_list_changes(&mut *store, &config, since, until, page_token.as_deref())
                .await?
                .map(|p| Output::Changes(Box::new(p))),
            None => Err(no_feed()),
        },
        Operation::ListPrincipalGrants(principal, page_token) => match &bindings.change_feed {
            Some(f) => f
                .call_list_principal_grants(&mut *store, &config, &principal, page_token.as_deref())
                .await?
                .map(as_page),
            None => Err(no_feed()),
        },
        Operation::ListScopedChanges {
            since,
            until,
            page_token,
        } => match &bindings.batched_change_feed {
            Some(f) => f
                .call_list_changes(&mut *store, &config, since, until, page_token.as_deref())
                .await?
                .map(|p| Output::ScopedChanges(Box::new(p))),
            None => Err(no_batched_feed()),
        },
        Operation::GetResources(ids) => match &bindings.batched_change_feed {
            Some(f) => f
                .call_get_resources(&mut *store, &config, &ids)
                .await?
                .map(Output::Missing),
            None => Err(no_batched_feed()),
        },
        Operation::ListScopedPrincipalGrants(principals, scope, page_token) => {
            match &bindings.batched_change_feed {
                Some(f) => f
                    .call_list_principal_grants(
                        &mut *store,
                        &config,
                        &principals,
                        &scope,
                        page_token.as_deref(),
                    )
                    .await?
                    .map(as_page),
                None => Err(no_batched_feed()),
            }
        }
        Operation::ListResourceGrants(resource, principal_types, page_token) => {
            match &bindings.batched_change_feed {
                Some(f) => f
                    .call_list_resource_grants(
                        &mut *store,
                        &config,
                        &resource,
                        &principal_types,
                        page_token.as_deref(),
                    )
                    .await?
                    .map(as_page),
                None => Err(no_batched_feed()),
            }
        }
    })
}

/// Maps a trap to its typed cause: a limit the host recorded first, then
/// the trap code, then the guest's panic message from stderr.
fn classify_trap(err: wasmtime::Error, state: &mut HostState, limits: &Limits) -> CallError {
    if let Some(v) = state.call.violation.take()
        && !matches!(v, CallError::InvalidRecord(_))
    {
        return v;
    }
    if state.memory.exceeded {
        return CallError::MemoryExceeded(limits.memory_bytes);
    }
    if is_hostcall_fuel_exhausted(&err) {
        return CallError::LimitExceeded(format!(
            "an import call's arguments are over the import_argument_bytes cap of {} \
             (as the host would hold them; list elements may alias guest memory)",
            limits.import_argument_bytes
        ));
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => CallError::CpuExhausted(limits.cpu_per_call),
        Some(Trap::StackOverflow) => CallError::StackOverflow,
        Some(Trap::UnreachableCodeReached) => {
            let stderr = String::from_utf8_lossy(&state.stderr.contents()).to_string();
            if stderr.contains("memory allocation of") {
                return CallError::MemoryExceeded(limits.memory_bytes);
            }
            let message = panic_message(&stderr);
            CallError::GuestPanic(crate::capabilities::secrets::redact(
                &message,
                &state.instance.secrets,
            ))
        }
        Some(other) => CallError::GuestTrap(other.to_string()),
        None => CallError::GuestTrap(format!("{err:#}")),
    }
}

/// Whether lifting an import call's arguments ran out of hostcall fuel.
/// wasmtime's error type for it is private, so its text is matched; the
/// e2e test `aliased_strings_hit_the_import_argument_cap` notices if an
/// upgrade changes it.
fn is_hostcall_fuel_exhausted(err: &wasmtime::Error) -> bool {
    err.chain().any(|e| {
        e.to_string()
            .contains("fuel allocated for hostcalls has been exhausted")
    })
}

/// The panic line of a Rust guest's stderr, or a placeholder.
fn panic_message(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    if let Some(i) = lines.iter().position(|l| l.contains("panicked at")) {
        let mut msg = lines[i].trim().to_string();
        if let Some(next) = lines.get(i + 1) {
            msg.push(' ');
            msg.push_str(next.trim());
        }
        return msg.chars().take(1_000).collect();
    }
    match lines.last() {
        Some(l) => l.chars().take(1_000).collect(),
        None => "unreachable code reached (no message)".into(),
    }
}

fn classify_guest_error(e: types::ConnectorError, state: &mut HostState) -> CallError {
    use types::ConnectorError as E;
    // A guest that failed after the host refused it a capability or a
    // record failed because of that refusal: report the refusal.
    if let Some(v) = state.call.violation.take() {
        return v;
    }
    if let Some(denial) = state.call.denials.first()
        && matches!(e, E::HostDenied(_) | E::Unavailable(_) | E::Internal(_))
    {
        return CallError::PolicyDenied(denial.clone());
    }
    let (kind, message, transient) = match e {
        E::InvalidConfig(m) => ("invalid-config", m, false),
        E::Unauthenticated(m) => ("unauthenticated", m, false),
        E::PermissionDenied(m) => ("permission-denied", m, false),
        E::NotFound(m) => ("not-found", m, false),
        E::AlreadyExists(m) => ("already-exists", m, false),
        E::InvalidArgument(m) => ("invalid-argument", m, false),
        E::Unavailable(m) => ("unavailable", m, true),
        E::HostDenied(m) => return CallError::PolicyDenied(m),
        E::Unsupported(m) => ("unsupported", m, false),
        E::Internal(m) => ("internal", m, false),
    };
    let message = crate::capabilities::secrets::redact(&message, &state.instance.secrets);
    CallError::Connector {
        kind,
        message,
        transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// The smallest valid component: an empty one (preamble only).
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";

    fn engine() -> Engine {
        Engine::new(&Config::new()).unwrap()
    }

    fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A private cache holding the empty component's entry.
    fn filled_cache(engine: &Engine, dir: &Path) -> (ComponentCache, PathBuf) {
        let cache = ComponentCache::open(dir).expect("a fresh directory is private");
        let path = cache.entry_path(engine, "empty");
        cache.store(&path, &Component::new(engine, EMPTY_COMPONENT).unwrap());
        assert!(path.exists(), "the entry was written");
        (cache, path)
    }

    #[test]
    fn a_private_directory_is_used() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nested").join("cache");
        let engine = engine();
        let (cache, path) = filled_cache(&engine, &dir);
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert!(cache.load(&engine, &path).is_some(), "the entry is read");
        let missing = cache.entry_path(&engine, "other");
        assert!(cache.load(&engine, &missing).is_none());
        // No temporary file is left beside the entry.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn the_runtime_uses_a_private_cache_and_compiles_without_a_refused_one() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache");
        let runtime = Runtime::new(RuntimeOptions {
            cache_dir: Some(dir.clone()),
        })
        .unwrap();
        let cache = runtime.cache.as_ref().expect("the cache is used");
        runtime.compile(EMPTY_COMPONENT, "empty").unwrap();
        let path = cache.entry_path(&runtime.engine, "empty");
        assert!(cache.load(&runtime.engine, &path).is_some());
        drop(runtime);

        chmod(&dir, 0o777);
        let runtime = Runtime::new(RuntimeOptions {
            cache_dir: Some(dir.clone()),
        })
        .unwrap();
        assert!(runtime.cache.is_none(), "a world-writable cache is refused");
        runtime.compile(EMPTY_COMPONENT, "fresh").unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "nothing written");
    }

    #[test]
    fn a_world_or_group_writable_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache");
        fs::create_dir(&dir).unwrap();
        chmod(&dir, 0o777);
        assert!(ComponentCache::open(&dir).is_none());
        let reason = ComponentCache { dir: dir.clone() }.check_dir().unwrap_err();
        assert!(reason.contains("writable by group or others"), "{reason}");
        assert!(reason.contains("0777"), "{reason}");
        // Not repaired behind the operator's back.
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o777);

        // A cache that turns writable while in use is no longer read or
        // written.
        let engine = engine();
        let dir = tmp.path().join("later");
        let (cache, path) = filled_cache(&engine, &dir);
        for mode in [0o777, 0o770, 0o702] {
            chmod(&dir, mode);
            assert!(cache.load(&engine, &path).is_none(), "mode {mode:o}");
            let other = cache.entry_path(&engine, "other");
            cache.store(&other, &Component::new(&engine, EMPTY_COMPONENT).unwrap());
            assert!(!other.exists(), "written at mode {mode:o}");
        }
        chmod(&dir, 0o700);
        assert!(cache.load(&engine, &path).is_some());
    }

    #[test]
    fn a_writable_or_linked_entry_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let engine = engine();
        let (cache, path) = filled_cache(&engine, &tmp.path().join("cache"));
        chmod(&path, 0o666);
        assert!(cache.load(&engine, &path).is_none());
        chmod(&path, 0o600);
        assert!(cache.load(&engine, &path).is_some());

        // A symlink is not followed, even to a good entry.
        let link = cache.entry_path(&engine, "link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(cache.load(&engine, &link).is_none());
    }

    #[test]
    fn a_directory_or_entry_of_another_user_is_refused() {
        if effective_uid() != 0 {
            eprintln!(
                "skipped: changing a file's owner needs root; this runs as uid {}",
                effective_uid()
            );
            return;
        }
        const NOBODY: u32 = 65534;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("theirs");
        fs::create_dir(&dir).unwrap();
        chmod(&dir, 0o700);
        std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
        assert!(ComponentCache::open(&dir).is_none());
        let reason = ComponentCache { dir: dir.clone() }.check_dir().unwrap_err();
        assert!(reason.contains("owned by uid 65534"), "{reason}");

        // An entry of another user in our own directory.
        let engine = engine();
        let (cache, path) = filled_cache(&engine, &tmp.path().join("ours"));
        std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY)).unwrap();
        assert!(cache.load(&engine, &path).is_none());
        // Storing again replaces it with our own.
        cache.store(&path, &Component::new(&engine, EMPTY_COMPONENT).unwrap());
        assert_eq!(fs::metadata(&path).unwrap().uid(), 0);
        assert!(cache.load(&engine, &path).is_some());
    }
}
