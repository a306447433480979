//! A hostile connector: each sync call misbehaves in the way its `mode`
//! config field selects, so the test suite can prove that the host ends
//! every such call with its specific typed error and survives.
//!
//! Modes and the threat each stands for:
//! - `loop`: spins forever (a CPU hog); `memory`: allocates until refused
//!   (a memory bomb); `recursion`: recurses without bound (stack exhaustion);
//!   `panic`: panics with a known message; `panic-on-group`: panics on
//!   group pages only and behaves on the others (an instance that traps
//!   midway through a sync run).
//! - `huge-upload`: uploads records until the host stops it; `log-spam`:
//!   logs until the host stops it (flooding the host's storage and logs);
//!   `huge-grant-sets`: uploads sets of 1,000 grants (contract 0.1.1) until
//!   the host stops it, to show a set counts as the grants it stands for;
//!   `long-keep-list`: asks to keep more response headers than the host
//!   caps responses at (an unbounded list for the host to scan per header).
//! - `stray-entitlement`: puts users with an entitlement of a user that is
//!   not among them (contract 0.1.2), which the host refuses; `listed`: the
//!   same done right, to show what the host keeps of it; `empty-listings`:
//!   10,000 empty such puts first (host memory no record cap would see).
//! - Host memory: `fat-records` puts users as fat as the per-record cap
//!   allows (external id, aliases, employee ids, status text) until the
//!   host stops it; `fat-pages` puts 16 new ones a page, page after page;
//!   `fat-batch` sends `count` (default 256) requests to
//!   `allowed-url`, which serves large bodies, in one batch; `fat-headers`
//!   sends a request with a 1 MiB header; `aliased-strings` puts one user
//!   whose 4,096 aliases all point at the same 1 MiB of guest memory (the
//!   canonical ABI allows it: 48 KiB of guest memory that lifts to 4 GiB
//!   on the host); `colliding-ids` puts two
//!   entitlements whose derived ids collide (resource `a:b` slug `c`,
//!   resource `a` slug `b:c`) in one call, `colliding-ids-across` the first
//!   on one page and, on the next, the first again (a re-put) and then the
//!   second; `colliding-grant` puts only the first and a grant of the
//!   second, whose entitlement id is the first's.
//! - `egress`: requests `target-url`, which the operator never allowed;
//!   `metadata-ip`: requests the cloud metadata service; `mapped-loopback`:
//!   requests loopback through its IPv4-mapped IPv6 form on `port`;
//!   `redirect`: requests `allowed-url`, gets a redirect, and requests its
//!   target itself; `set-authorization`: forges an `Authorization` header.
//! - `token-cycle`: answers page tokens A, B, A, ... (a cycle longer than
//!   one page); `endless-pages`: a new page token on every call, forever;
//!   `fan-out`: 10,000 new follow-up tasks on every call, forever (a queue
//!   without end); `fat-follow-up-token`: a follow-up task whose page token
//!   is 1 MiB. Each would keep a sync, and its slot in `serve`, busy.
//! - `grow-memory`: grows its linear memory with `memory.grow` to `count`
//!   bytes, and succeeds: at a cap of `count`, the memory fits alone but not
//!   with the Store's tables (a cap per memory instead of per Store).
//!   `refused-uploads`: puts a page of `count` users (default 20,000) again
//!   and again, its last user of an undeclared type, ignoring each refusal:
//!   CPU spent in the host's upload checks, where no epoch tick sees it.
//!   `slow-requests`: requests `allowed-url` `count` times (default 100), one
//!   after another, and succeeds: much waiting, little CPU.
//! - `loud-error`: logs [`FORGED_LOG`] (CR/LF, a fake host log line, ANSI
//!   and terminal escapes, a Unicode line separator), validates with it as
//!   its summary and warning, and fails every sync call with an
//!   `unavailable` error of 12 MiB, which the host retries (log flooding and
//!   log forging through error text).
//! - `well-behaved`: uploads `count` users (default 2) and succeeds, to show
//!   the host is fine after each of the above. Benchmarks use it too, with
//!   `build-only`, which builds the same records without uploading them.
//! - Single-resource reads (contract 0.1.3, targeted syncs): `get-another`
//!   answers a read of one user with another user; `get-gone-but-uploads`
//!   says "not found" and uploads the user anyway. Any other mode reads
//!   the user asked for.
//! - Incremental sync (contract 0.1.4 `batched-change-feed`): a full sync
//!   lists `count` users; the change log names user `u0` (as a record, and
//!   `u1` as a resource), or `u0`'s grants within the scope of resource
//!   `user:u0`. `batched-get-unasked` answers a batched read with a user
//!   not asked for too; `batched-get-both` answers each id both found and
//!   missing; `scoped-grant-outside` lists a grant of `u0` on an
//!   entitlement of `user:u1`, outside its scope; `batched-well-behaved`
//!   answers as it should; `change-feed-only` answers the batched log with
//!   `unsupported` and names `u0` through 0.1.3's `change-feed`.
//!
//! A network mode that gets a response back reports that as an internal
//! error, so a broken policy shows up as the wrong error kind.

use connector_sdk::http::Request;
use connector_sdk::{
    AccountType, Auth, Capability, Change, ChangePage, ConfigField, ConfigKind, Connector,
    ConnectorError, ConnectorMetadata, Context, Email, Entitlement, EntitlementPurpose, Grant,
    GrantScope, GrantSet, Host, Level, PageOutcome, PrincipalChange, Resource, ResourceId,
    ResourceStatus, ResourceTrait, ResourceTraitKind, ResourceType, ResourceTypeCapabilities,
    ScopedChange, ScopedChangePage, SkipTasks, SyncTask, Timestamp, UrlOptions, UserStatus,
    UserTrait, Validation, register_connector, resource_id,
};

/// The text the `panic` mode panics with; tests look for it.
pub const PANIC_MESSAGE: &str = "adversary panic: gave up on purpose";
/// What `loud-error` logs and validates with: a line break, then what
/// looks like a host log line, then terminal escapes (clear the screen, set
/// the window title) and a Unicode line separator. Tests look for it.
pub const FORGED_LOG: &str = "loud\r\n2026-01-01T00:00:00.000000Z ERROR connector_host: FORGED-BY-GUEST\x1b[2J\x1b]0;pwned\x07\u{2028}end";
const METADATA_URL: &str = "http://169.254.169.254/latest/meta-data/";

pub struct Adversary;

fn field(name: &str, description: &str, kind: ConfigKind, required: bool) -> ConfigField {
    ConfigField {
        name: name.into(),
        description: description.into(),
        kind,
        required,
        secret: false,
        default_value: None,
    }
}

impl Connector for Adversary {
    fn metadata() -> ConnectorMetadata {
        ConnectorMetadata {
            display_name: "Adversary (test component)".into(),
            description: "Misbehaves on purpose; see the mode field".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            resource_types: vec![ResourceType {
                id: "user".into(),
                display_name: "User".into(),
                description: None,
                traits: vec![ResourceTraitKind::User],
                skip_entitlements_and_grants: true,
            }],
            capabilities: vec![ResourceTypeCapabilities {
                resource_type: "user".into(),
                capabilities: vec![Capability::Sync],
            }],
            config_schema: vec![
                field(
                    "mode",
                    "The misbehaviour to perform",
                    ConfigKind::Text,
                    true,
                ),
                // Deliberately not an egress field: knowing a URL must not
                // grant the guest a way to reach it.
                field(
                    "target-url",
                    "A URL the operator did not allow",
                    ConfigKind::Url(UrlOptions { egress: false }),
                    false,
                ),
                field(
                    "allowed-url",
                    "A URL the operator allowed",
                    ConfigKind::Url(UrlOptions { egress: true }),
                    false,
                ),
                field("port", "A loopback port", ConfigKind::Integer, false),
                field(
                    "count",
                    "Records for well-behaved",
                    ConfigKind::Integer,
                    false,
                ),
            ],
            credential: None,
            account_creation_schema: vec![],
            credential_options: vec![],
        }
    }

    fn validate(cx: &Context) -> Result<Validation, ConnectorError> {
        if cx.config.get("mode") == Some("loud-error") {
            return Ok(Validation {
                summary: FORGED_LOG.into(),
                warnings: vec![FORGED_LOG.into()],
            });
        }
        Ok(Validation {
            summary: format!("adversary ready: {}", cx.config.get("mode").unwrap_or("-")),
            warnings: vec![],
        })
    }

    fn sync(cx: &Context, task: SyncTask) -> Result<PageOutcome, ConnectorError> {
        match cx.config.require("mode")? {
            "loop" => spin(),
            "memory" => hoard(),
            "recursion" => {
                // The limit is opaque to the optimiser, so the recursion is real.
                let depth = dive(0, number(cx, "count")?.unwrap_or(u64::MAX));
                Err(internal(format!("recursion returned at depth {depth}")))
            }
            "panic" => panic!("{PANIC_MESSAGE}"),
            "panic-on-group" if task.resource_type == "group" => panic!("{PANIC_MESSAGE}"),
            "panic-on-group" => well_behaved(cx, true),
            "huge-upload" => flood_uploads(cx),
            "huge-grant-sets" => flood_grant_sets(cx),
            "listed" => listed(cx, false),
            "stray-entitlement" => listed(cx, true),
            "empty-listings" => {
                for _ in 0..10_000 {
                    cx.host.put_resources_with(&[], &[], SkipTasks::BOTH)?;
                }
                listed(cx, false)
            }
            "long-keep-list" => long_keep_list(),
            "fat-records" => fat_records(cx),
            "fat-pages" => {
                // 16 new fat users a page, forever: within each call's
                // budget, never within a sync's.
                let n: u64 = task
                    .page_token
                    .as_deref()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                let page: Vec<Resource> = (n * 16..n * 16 + 16).map(fat_user).collect();
                cx.host.put_resources(&page)?;
                Ok(next_page(&(n + 1).to_string()))
            }
            "fat-batch" => fat_batch(cx),
            "fat-headers" => fat_headers(cx),
            "aliased-strings" => aliased_strings(cx),
            "colliding-ids" => colliding_ids(cx, &task, false),
            "colliding-ids-across" => colliding_ids(cx, &task, true),
            "colliding-grant" => colliding_grant(cx),
            "token-cycle" => Ok(next_page(match task.page_token.as_deref() {
                Some("A") => "B",
                _ => "A",
            })),
            "endless-pages" => {
                let n: u64 = task
                    .page_token
                    .as_deref()
                    .and_then(|t| t.strip_prefix('p'))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                Ok(next_page(&format!("p{}", n + 1)))
            }
            "fan-out" => Ok(fan_out(&task)),
            "fat-follow-up-token" => Ok(PageOutcome {
                next_page_token: None,
                follow_ups: vec![SyncTask {
                    page_token: Some("t".repeat(1 << 20)),
                    ..task
                }],
            }),
            "log-spam" => flood_logs(cx),
            "egress" => request(cx, cx.config.require("target-url")?),
            "metadata-ip" => request(cx, METADATA_URL),
            "mapped-loopback" => {
                let port = number(cx, "port")?.unwrap_or(9);
                request(cx, &format!("http://[::ffff:127.0.0.1]:{port}/"))
            }
            "redirect" => follow_redirect(cx),
            "set-authorization" => forge_authorization(cx),
            "grow-memory" => grow_memory(number(cx, "count")?.unwrap_or(0)),
            "refused-uploads" => refused_uploads(cx, number(cx, "count")?.unwrap_or(20_000)),
            "slow-requests" => slow_requests(cx, number(cx, "count")?.unwrap_or(100)),
            "loud-error" => {
                cx.log(Level::Warn, FORGED_LOG);
                Err(ConnectorError::Unavailable(format!(
                    "{FORGED_LOG} {}",
                    "E".repeat(12 << 20)
                )))
            }
            "well-behaved"
            | "batched-get-unasked"
            | "batched-get-both"
            | "scoped-grant-outside"
            | "batched-well-behaved"
            | "change-feed-only" => well_behaved(cx, true),
            "build-only" => well_behaved(cx, false),
            other => Err(ConnectorError::InvalidConfig(format!(
                "unknown mode {other:?}"
            ))),
        }
    }

    const TARGETED_TYPES: &'static [&'static str] = &["user"];

    /// A read of one user (contract 0.1.3): the user asked for, or, in the
    /// `get-another` mode, a different one, and in `get-gone-but-uploads`
    /// an answer of "not found" that uploads the user anyway.
    fn get_resource(
        cx: &Context,
        id: ResourceId,
        _parent: Option<ResourceId>,
    ) -> Result<bool, ConnectorError> {
        let n: u64 = id
            .resource
            .strip_prefix('u')
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| ConnectorError::NotFound(format!("no user {}", id.resource)))?;
        match cx.config.require("mode")? {
            "get-another" => {
                cx.host.put_resources(&[user(n + 1)])?;
                Ok(true)
            }
            "get-gone-but-uploads" => {
                cx.host.put_resources(&[user(n)])?;
                Ok(false)
            }
            _ => {
                cx.host.put_resources(&[user(n)])?;
                Ok(true)
            }
        }
    }

    /// 0.1.3's change log: `u0` changed, in `change-feed-only` mode.
    fn list_changes(
        cx: &Context,
        _since: Timestamp,
        _until: Timestamp,
        _page_token: Option<String>,
    ) -> Result<ChangePage, ConnectorError> {
        if cx.config.require("mode")? != "change-feed-only" {
            return Err(ConnectorError::Unsupported(
                "only in change-feed-only".into(),
            ));
        }
        Ok(ChangePage {
            changes: vec![Change::Resource(resource_id("user", "u0"))],
            record_ids: vec!["r1".into()],
            newest: None,
            next_page_token: None,
        })
    }

    /// The batched change log: `u0` as a record and `u1` as a resource,
    /// or, in `scoped-grant-outside`, `u0`'s grants on `user:u0`.
    fn list_scoped_changes(
        cx: &Context,
        _since: Timestamp,
        _until: Timestamp,
        _page_token: Option<String>,
    ) -> Result<ScopedChangePage, ConnectorError> {
        let changes = match cx.config.require("mode")? {
            "change-feed-only" => {
                return Err(ConnectorError::Unsupported(
                    "this adversary serves only change-feed".into(),
                ));
            }
            "scoped-grant-outside" => vec![ScopedChange::PrincipalGrants(PrincipalChange {
                principal: resource_id("user", "u0"),
                scope: GrantScope {
                    resource_types: vec![],
                    resources: vec![resource_id("user", "u0")],
                },
            })],
            _ => vec![
                ScopedChange::ResourceRecord(resource_id("user", "u0")),
                ScopedChange::Resource(resource_id("user", "u1")),
            ],
        };
        Ok(ScopedChangePage {
            changes,
            record_ids: vec!["r1".into()],
            newest: None,
            next_page_token: None,
        })
    }

    /// Reads users as `get-resource` does, or breaks the batched read's
    /// rules as the mode says.
    fn get_resources(
        cx: &Context,
        ids: Vec<ResourceId>,
    ) -> Result<Vec<ResourceId>, ConnectorError> {
        let mode = cx.config.require("mode")?;
        for id in &ids {
            Self::get_resource(cx, id.clone(), None)?;
        }
        match mode {
            "batched-get-unasked" => {
                cx.host.put_resources(&[user(77)])?;
                Ok(vec![])
            }
            "batched-get-both" => Ok(ids),
            _ => Ok(vec![]),
        }
    }

    /// `scoped-grant-outside`: a grant of the principal on an entitlement
    /// of `user:u1`, which the scope does not cover.
    fn list_scoped_principal_grants(
        cx: &Context,
        principals: Vec<ResourceId>,
        _scope: GrantScope,
        _page_token: Option<String>,
    ) -> Result<Option<String>, ConnectorError> {
        let grants: Vec<Grant> = principals
            .into_iter()
            .map(|principal| Grant {
                entitlement_resource: resource_id("user", "u1"),
                entitlement_slug: "delegate".into(),
                principal,
                expansion: None,
                immutable_reason: None,
                metadata_json: None,
            })
            .collect();
        cx.host.put_grants(&grants)?;
        Ok(None)
    }
}

register_connector!(Adversary);

fn internal(m: String) -> ConnectorError {
    ConnectorError::Internal(m)
}

fn number(cx: &Context, name: &str) -> Result<Option<u64>, ConnectorError> {
    cx.config
        .get(name)
        .map(|v| {
            v.parse()
                .map_err(|_| ConnectorError::InvalidConfig(format!("{name} must be a number")))
        })
        .transpose()
}

fn spin() -> ! {
    let mut x: u64 = 1;
    loop {
        x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
    }
}

fn hoard() -> Result<PageOutcome, ConnectorError> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&mut hoard);
    }
}

/// Not a tail call (the result is transformed after the call returns), and
/// no locals live in linear memory, so each level costs wasm stack only.
#[inline(never)]
fn dive(depth: u64, limit: u64) -> u64 {
    if depth == limit {
        return depth;
    }
    let below = dive(depth + 1, limit);
    below.rotate_left((depth % 61) as u32) ^ depth
}

fn user(n: u64) -> Resource {
    let id = format!("u{n}");
    Resource {
        id: resource_id("user", &id),
        parent: None,
        display_name: format!("User {n}"),
        description: None,
        external_id: Some(id.clone()),
        status: ResourceStatus::Enabled,
        created_at: None,
        trait_: Some(ResourceTrait::User(UserTrait {
            emails: vec![Email {
                address: format!("{id}@example.test"),
                is_primary: true,
            }],
            login: Some(id),
            login_aliases: vec![],
            status: UserStatus::Enabled,
            status_details: None,
            account_type: AccountType::Human,
            structured_name: None,
            employee_ids: vec![],
            profile_json: Some(format!("{{\"n\":{n}}}")),
            created_at: None,
            last_login: None,
            mfa_enabled: None,
        })),
    }
}

/// Builds `total` users in pages of at most 1,000 and uploads each page, as
/// a connector would (or, for the benchmark's baseline, only builds them).
fn upload_users(cx: &Context, total: u64, upload: bool) -> Result<(), ConnectorError> {
    let mut next = 0;
    while next < total {
        let end = (next + 1_000).min(total);
        let page: Vec<Resource> = (next..end).map(user).collect();
        if upload {
            cx.host.put_resources(&page)?;
        } else {
            std::hint::black_box(&page);
        }
        next = end;
    }
    Ok(())
}

fn flood_uploads(cx: &Context) -> Result<PageOutcome, ConnectorError> {
    upload_users(cx, 100_000_000, true)?;
    Err(internal("the host accepted 100 million records".into()))
}

/// Two users put with one entitlement each and both per-resource tasks
/// skipped (contract 0.1.2); with `stray`, one entitlement names a user
/// that is not among them, which the host must refuse.
fn listed(cx: &Context, stray: bool) -> Result<PageOutcome, ConnectorError> {
    let users: Vec<Resource> = (0..2).map(user).collect();
    let owner = if stray { 7 } else { 1 };
    let entitlements: Vec<Entitlement> = [0, owner]
        .into_iter()
        .map(|i| Entitlement {
            resource: user(i).id,
            slug: "member".into(),
            display_name: "Member".into(),
            description: None,
            purpose: EntitlementPurpose::Assignment,
            grantable_to: vec!["user".into()],
            immutable: false,
            metadata_json: None,
        })
        .collect();
    cx.host
        .put_resources_with(&users, &entitlements, SkipTasks::BOTH)?;
    Ok(PageOutcome {
        next_page_token: None,
        follow_ups: vec![],
    })
}

/// Sets of 1,000 grants each: the cap counts grants, not sets.
fn flood_grant_sets(cx: &Context) -> Result<PageOutcome, ConnectorError> {
    let set = GrantSet {
        entitlement_resource: resource_id("user", "u0"),
        entitlement_slug: "member".into(),
        principal_type: "user".into(),
        principal_ids: (0..1_000).map(|i| format!("u{i}")).collect(),
        expansion: None,
        immutable_reason: None,
        metadata_json: None,
    };
    for _ in 0..100_000 {
        cx.host.put_grant_sets(std::slice::from_ref(&set))?;
    }
    Err(internal("the host accepted 100 million grants".into()))
}

fn long_keep_list() -> Result<PageOutcome, ConnectorError> {
    let names: Vec<String> = (0..100_000).map(|i| format!("x-header-{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let host = connector_sdk::WasmHost::new().keeping_headers(Some(&names));
    // Loopback's discard port: were the cap broken, nothing leaves the host.
    let result = host.send(&Request::get("http://127.0.0.1:9/"), &Auth::None);
    Err(internal(format!(
        "the host took a keep list of {} names: {result:?}",
        names.len()
    )))
}

fn flood_logs(cx: &Context) -> Result<PageOutcome, ConnectorError> {
    let line = "x".repeat(100);
    for i in 0..100_000_000u64 {
        cx.log(Level::Info, format!("spam {i} {line}"));
    }
    Err(internal("the host accepted 100 million log lines".into()))
}

fn request(cx: &Context, url: &str) -> Result<PageOutcome, ConnectorError> {
    let resp = cx.host.send(&Request::get(url), &Auth::None)?;
    Err(internal(format!(
        "the host let a request to {url} through (HTTP {})",
        resp.status
    )))
}

fn follow_redirect(cx: &Context) -> Result<PageOutcome, ConnectorError> {
    let first = cx.config.require("allowed-url")?;
    let resp = cx.host.send(&Request::get(first), &Auth::None)?;
    if !(300..400).contains(&resp.status) {
        return Err(internal(format!(
            "expected a redirect, got HTTP {}",
            resp.status
        )));
    }
    let location = resp
        .header("location")
        .ok_or_else(|| internal("redirect without a location".into()))?
        .to_string();
    cx.log(
        Level::Info,
        format!("got HTTP {}; requesting {location} myself", resp.status),
    );
    request(cx, &location)
}

fn forge_authorization(cx: &Context) -> Result<PageOutcome, ConnectorError> {
    let url = cx
        .config
        .get("allowed-url")
        .unwrap_or("http://127.0.0.1:9/");
    let forged = Request::get(url).header("Authorization", "Bearer forged-by-the-guest");
    let resp = cx.host.send(&forged, &Auth::None)?;
    Err(internal(format!(
        "the host sent a guest-set Authorization header (HTTP {})",
        resp.status
    )))
}

fn well_behaved(cx: &Context, upload: bool) -> Result<PageOutcome, ConnectorError> {
    let total = number(cx, "count")?.unwrap_or(2);
    upload_users(cx, total, upload)?;
    cx.log(
        Level::Info,
        format!("built {total} users (uploaded: {upload})"),
    );
    Ok(PageOutcome {
        next_page_token: None,
        follow_ups: vec![],
    })
}

/// A page with nothing on it but the token of the next one.
fn next_page(token: &str) -> PageOutcome {
    PageOutcome {
        next_page_token: Some(token.into()),
        follow_ups: vec![],
    }
}

/// 10,000 follow-ups (the host's per-call cap), each a task no one asked
/// for before: its token extends the token of the task that queued it.
fn fan_out(task: &SyncTask) -> PageOutcome {
    let parent = task.page_token.as_deref().unwrap_or("f");
    PageOutcome {
        next_page_token: None,
        follow_ups: (0..10_000)
            .map(|i| SyncTask {
                page_token: Some(format!("{parent}.{i}")),
                ..task.clone()
            })
            .collect(),
    }
}

fn empty_page() -> PageOutcome {
    PageOutcome {
        next_page_token: None,
        follow_ups: vec![],
    }
}

/// Grows linear memory to `bytes` (whole pages) with `memory.grow` itself,
/// past the allocator, so the memory holds exactly what the test asks for.
fn grow_memory(bytes: u64) -> Result<PageOutcome, ConnectorError> {
    #[cfg(target_arch = "wasm32")]
    {
        use core::arch::wasm32::{memory_grow, memory_size};
        const PAGE: u64 = 64 << 10;
        let have = memory_size(0) as u64;
        let want = bytes.div_ceil(PAGE);
        if want > have && memory_grow(0, (want - have) as usize) == usize::MAX {
            return Err(internal(format!("memory.grow to {want} pages failed")));
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = bytes;
    Ok(empty_page())
}

/// Puts the same page forever; its last user's type is undeclared, so the
/// host checks every record, refuses the put and keeps nothing. The guest
/// does almost nothing itself: all the CPU is the host's, inside the call.
fn refused_uploads(cx: &Context, count: u64) -> Result<PageOutcome, ConnectorError> {
    let mut page: Vec<Resource> = (0..count.max(1)).map(user).collect();
    if let Some(last) = page.last_mut() {
        last.id.resource_type = "undeclared".into();
    }
    loop {
        let refused = cx.host.put_resources(&page).is_err();
        std::hint::black_box(refused);
    }
}

fn slow_requests(cx: &Context, count: u64) -> Result<PageOutcome, ConnectorError> {
    let url = cx.config.require("allowed-url")?;
    for i in 0..count {
        let resp = cx.host.send(&Request::get(url), &Auth::None)?;
        if resp.status != 200 {
            return Err(internal(format!("request {i}: HTTP {}", resp.status)));
        }
    }
    Ok(empty_page())
}

/// A user as fat as the per-record cap (256 KiB) allows, in the fields the
/// host's size count once left out: ~64 KiB of external id, 4 aliases of
/// 32 KiB, 1,000 employee ids and 4 KiB of status text.
fn fat_user(n: u64) -> Resource {
    let mut r = user(n);
    r.external_id = Some(format!("{n}-{}", "e".repeat(64 << 10)));
    if let Some(ResourceTrait::User(u)) = &mut r.trait_ {
        u.login_aliases = (0..4)
            .map(|i| format!("{i}{}", "a".repeat(32 << 10)))
            .collect();
        u.employee_ids = (0..1_000).map(|i| format!("emp-{i:027}")).collect();
        u.status_details = Some("s".repeat(4 << 10));
    }
    r
}

/// Pages of 16 fat users, put until the host stops the call: without a
/// byte budget, 50,000 of them (12 GiB) fit the record cap.
fn fat_records(cx: &Context) -> Result<PageOutcome, ConnectorError> {
    let page: Vec<Resource> = (0..16).map(fat_user).collect();
    for _ in 0..50_000 / 16 {
        cx.host.put_resources(&page)?;
    }
    Err(internal("the host accepted 50,000 fat records".into()))
}

/// One batch of `count` requests to `allowed-url`; what came back is
/// reported in the error text, for the tests to read.
fn fat_batch(cx: &Context) -> Result<PageOutcome, ConnectorError> {
    use connector_sdk::http::HttpError;
    let url = cx.config.require("allowed-url")?;
    let n = number(cx, "count")?.unwrap_or(256) as usize;
    let reqs: Vec<Request> = (0..n).map(|_| Request::get(url)).collect();
    let results = cx.host.send_batch(&reqs, &Auth::None);
    let answered: Vec<usize> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|r| r.body.len()))
        .collect();
    let over: Vec<u64> = results
        .iter()
        .filter_map(|r| match r {
            Err(HttpError::BodyTooLarge(n)) => Some(*n),
            _ => None,
        })
        .collect();
    let other = results.len() - answered.len() - over.len();
    Err(internal(format!(
        "fat-batch: {} answered ({} bytes), {} body-too-large {:?}, {other} other",
        answered.len(),
        answered.iter().sum::<usize>(),
        over.len(),
        over.first()
    )))
}

/// One user whose 4,096 login aliases share one 1 MiB buffer: each alias
/// is a `String` over the same bytes, so lowering the list passes the same
/// pointer 4,096 times. The aliases are never dropped (that would free the
/// buffer 4,096 times); the call ends right after.
#[allow(unsafe_code)]
fn aliased_strings(cx: &Context) -> Result<PageOutcome, ConnectorError> {
    let blob = std::mem::ManuallyDrop::new("a".repeat(1 << 20));
    let mut fat = user(0);
    if let Some(ResourceTrait::User(u)) = &mut fat.trait_ {
        u.login_aliases = (0..4_096)
            .map(|_| {
                // SAFETY: each alias reads the same live, valid UTF-8 buffer,
                // which is never freed or written while they exist, and none
                // of them is ever dropped (`fat` is forgotten below).
                unsafe { String::from_raw_parts(blob.as_ptr() as *mut u8, blob.len(), blob.len()) }
            })
            .collect();
    }
    let result = cx.host.put_resources(std::slice::from_ref(&fat));
    std::mem::forget(fat);
    result?;
    Err(internal("the host lifted 4 GiB of aliased strings".into()))
}

/// A request with one header of 1 MiB.
fn fat_headers(cx: &Context) -> Result<PageOutcome, ConnectorError> {
    let url = cx
        .config
        .get("allowed-url")
        .unwrap_or("http://127.0.0.1:9/");
    let fat = Request::get(url).header("x-fat", &"h".repeat(1 << 20));
    let resp = cx.host.send(&fat, &Auth::None)?;
    Err(internal(format!(
        "the host sent a 1 MiB header (HTTP {})",
        resp.status
    )))
}

/// Entitlements `user:a:b:c` twice: of resource `a:b` slug `c`, and of
/// resource `a` slug `b:c`.
fn colliding_ids(
    cx: &Context,
    task: &SyncTask,
    across: bool,
) -> Result<PageOutcome, ConnectorError> {
    let entitlement = |resource: &str, slug: &str| Entitlement {
        resource: resource_id("user", resource),
        slug: slug.into(),
        display_name: slug.into(),
        description: None,
        purpose: EntitlementPurpose::Assignment,
        grantable_to: vec![],
        immutable: false,
        metadata_json: None,
    };
    let (first, second) = (entitlement("a:b", "c"), entitlement("a", "b:c"));
    let done = PageOutcome {
        next_page_token: None,
        follow_ups: vec![],
    };
    if task.page_token.is_some() {
        // The next page: a re-put of the first, then the second.
        cx.host.put_entitlements(&[first, second])?;
        return Ok(done);
    }
    let users: Vec<Resource> = ["a", "a:b"]
        .iter()
        .map(|id| Resource {
            id: resource_id("user", id),
            ..user(0)
        })
        .collect();
    cx.host.put_resources(&users)?;
    if across {
        cx.host.put_entitlements(&[first])?;
        return Ok(next_page("second"));
    }
    cx.host.put_entitlements(&[first, second])?;
    Ok(done)
}

/// A grant of entitlement `a` / `b:c`, which was never put: its derived
/// entitlement id, `user:a:b:c`, is that of `a:b` / `c`, which was.
fn colliding_grant(cx: &Context) -> Result<PageOutcome, ConnectorError> {
    let users: Vec<Resource> = ["a", "a:b"]
        .iter()
        .map(|id| Resource {
            id: resource_id("user", id),
            ..user(0)
        })
        .collect();
    cx.host.put_resources(&users)?;
    cx.host.put_entitlements(&[Entitlement {
        resource: resource_id("user", "a:b"),
        slug: "c".into(),
        display_name: "c".into(),
        description: None,
        purpose: EntitlementPurpose::Assignment,
        grantable_to: vec![],
        immutable: false,
        metadata_json: None,
    }])?;
    cx.host.put_grants(&[Grant {
        entitlement_resource: resource_id("user", "a"),
        entitlement_slug: "b:c".into(),
        principal: resource_id("user", "a"),
        expansion: None,
        immutable_reason: None,
        metadata_json: None,
    }])?;
    Ok(PageOutcome {
        next_page_token: None,
        follow_ups: vec![],
    })
}
