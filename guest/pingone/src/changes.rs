//! The change feed: PingOne's audit log
//! (`GET /environments/{env}/activities`) read as hints of what to re-read,
//! for contract 0.1.4's `batched-change-feed` (scoped changes) and 0.1.3's
//! `change-feed` (the same hints, widened).
//!
//! Decisions:
//! - A record is a hint, never data: it names what to re-read (a resource,
//!   its row only, one principal's grants within a scope, or the grants on
//!   one group held by users); the host re-reads current state. So a record
//!   repeated across pages or overlapping windows costs a repeated read,
//!   never a wrong record.
//! - One mapping ([`Hints`]) gives scoped changes; the 0.1.3 feed maps each
//!   down to the wider change that covers it ([`widen`]): a row re-read to
//!   the resource's, a scoped grants re-read to all the principal's grants,
//!   a group's user grants to the group's full re-read.
//! - The window is `recordedAt ge since and recordedAt lt until` (the
//!   filter PingOne requires), paged by `_links.next.href` as sent (newest
//!   first). PingOne serves at most 14 days directly: an older `since` is a
//!   `full-sync` naming why, never a silently shorter window.
//! - Scopes follow what each record can change, and what PingOne does not
//!   audit is recomputed from what it does:
//!   - a user created, updated, moved, locked, unlocked, enabled or
//!     disabled: its row, and its population and group grants (a changed
//!     attribute moves it in or out of dynamic groups; a move drops the
//!     memberships of the old population's groups), not its role grants
//!     (role assignments have records of their own). An update that names
//!     its attributes (`modifiedAttributes`), and a lock, re-read the
//!     grants only when a changed attribute is the population or one some
//!     group's `userFilter` reads (read once per page from the groups
//!     listing); else the row alone;
//!   - a membership of user u in group X: u's grant on X only; a nesting of
//!     child C in parent P: C's grant on P only (Baton expands the nesting
//!     grant, so no user grant changes);
//!   - a role assignment: its principal's role grants;
//!   - a group created or updated is read once, here: gone, it is a full
//!     re-read (as deleted); else its row, the grants it holds on groups and
//!     roles (a nesting PingOne records as the nested group's update), and,
//!     when it has a `userFilter`, the grants users hold on it (the filter
//!     may have changed). Not caught until the next full sync: a filter
//!     removed from a group (its dynamic grants stay), and a nesting PingOne
//!     records only as the parent's update;
//!   - a user or group deleted: the resource (gone, with every grant on it
//!     and every grant it holds).
//! - What cannot be bounded from the log is a `full-sync` with the reason:
//!   a population created, renamed or deleted (every population-scoped
//!   role has an entitlement per population, and a role's grants take a
//!   full traversal; a deleted population may take its groups without a
//!   record), a schema change (filters may select others), and any record
//!   type that is not known to leave identity data alone.
//! - Sign-on, session and password records re-read only the row of the
//!   user they name: its last sign-on and lock state are in its record.
//! - A 401/403 on the log is `permission-denied` naming
//!   `audit_reporting:read:activity`; the host falls back to a full sync.
//!   429 and 5xx are left to the host's retries.

use connector_sdk::{
    Change, ChangePage, ConnectorError, Context, GrantScope, Level, PrincipalChange,
    ResourceGrantsChange, ResourceId, ScopedChange, ScopedChangePage, Timestamp, http::encode,
    resource_id,
};
use serde::Deserialize;

use foldhash::{HashSet, HashSetExt};

use crate::client::api::{Api, BIG_PAGE};
use crate::client::errors;
use crate::client::model::Group;
use crate::client::paging::{Page, next_page, parse_one, parse_page};
use crate::config::is_uuid;
use crate::{GROUP, POPULATION, ROLE, USER, time};

/// The permission the audit log needs.
pub const AUDIT_PERMISSION: &str = "audit_reporting:read:activity";

/// PingOne serves 14 days of activities directly.
pub const MAX_WINDOW_SECS: i64 = 14 * 86_400;

/// Records per page (PingOne's default is 100; the platform bound 1000).
const PAGE_SIZE: u32 = 1000;

/// Record types that change no group, population, membership or role
/// assignment: sign-ons, sessions, passwords, MFA. They re-read the user
/// they name (its last sign-on and lock state), nothing else.
const SIGN_ON_PREFIXES: &[&str] = &[
    "SESSION.",
    "AUTHENTICATION.",
    "FLOW.",
    "OTP.",
    "PASSWORD.",
    "MFA.",
    "DEVICE.",
    "DEVICE_AUTHENTICATION.",
    "AUTHORIZATION.",
];
const SIGN_ON_TYPES: &[&str] = &["USER.ACCESS_ALLOWED", "USER.ACCESS_DENIED"];

#[derive(Debug, Deserialize)]
pub struct Activity {
    pub id: String,
    #[serde(rename = "recordedAt")]
    pub recorded_at: Option<String>,
    pub action: Option<Action>,
    #[serde(default)]
    pub resources: Vec<ActivityResource>,
    pub result: Option<ActivityResult>,
    /// `modifiedAttributes` lives here on `USER.UPDATED`; kept loose, so a
    /// shape nobody documented costs the narrowing, never the page.
    #[serde(rename = "_embedded")]
    pub embedded: Option<serde_json::Value>,
}

impl Activity {
    /// The names `_embedded.modifiedAttributes` lists, when it is a
    /// non-empty list of strings.
    fn modified_attributes(&self) -> Option<Vec<String>> {
        let list = self
            .embedded
            .as_ref()?
            .get("modifiedAttributes")?
            .as_array()?;
        let names: Option<Vec<String>> = list
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect();
        names.filter(|n| !n.is_empty())
    }
}

#[derive(Debug, Deserialize)]
pub struct Action {
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ActivityResource {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub id: Option<String>,
    pub href: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ActivityResult {
    pub status: Option<String>,
}

/// RFC 3339 with milliseconds, UTC (the literal the filter takes).
pub fn format_timestamp(t: &Timestamp) -> String {
    let secs = t.seconds;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        t.nanos / 1_000_000
    )
}

/// The first page's URL of the window `[since, until)`.
pub fn activities_url(api: &Api, since: &Timestamp, until: &Timestamp) -> String {
    let filter = format!(
        "recordedAt ge \"{}\" and recordedAt lt \"{}\"",
        format_timestamp(since),
        format_timestamp(until)
    );
    format!(
        "{}/activities?filter={}&limit={PAGE_SIZE}",
        api.environment(),
        encode(&filter)
    )
}

/// One page of scoped hints (see the module documentation).
pub fn list_scoped_changes(
    cx: &Context,
    api: &Api,
    since: Timestamp,
    until: Timestamp,
    page_token: Option<String>,
) -> Result<ScopedChangePage, ConnectorError> {
    let full = |reason: String| ScopedChangePage {
        changes: vec![ScopedChange::FullSync(reason)],
        record_ids: Vec::new(),
        newest: None,
        next_page_token: None,
    };
    if until.seconds - since.seconds > MAX_WINDOW_SECS {
        return Ok(full(format!(
            "the change window starts {} before its end; PingOne serves 14 days of \
             activities directly",
            days_text(until.seconds - since.seconds)
        )));
    }
    if until.seconds < since.seconds {
        return Err(ConnectorError::InvalidArgument(
            "the change window ends before it starts".into(),
        ));
    }
    let url = match page_token {
        None => activities_url(api, &since, &until),
        Some(t) => next_from_token(api, &t)?,
    };
    let what = "reading the audit log (GET /activities)";
    let resp = api.send(&url, what)?;
    if matches!(resp.status, 401 | 403) {
        return Err(ConnectorError::PermissionDenied(format!(
            "{what}: {} {}; the worker application needs the permission {AUDIT_PERMISSION} \
             (a role that includes it, scoped to this environment)",
            resp.status,
            errors::describe_body(&resp)
        )));
    }
    errors::check(&resp, what)?;
    let page: Page<Activity> = parse_page(&resp, "activities", what)?;
    let mut hints = Hints::default();
    let mut newest: Option<Timestamp> = None;
    let mut record_ids = Vec::with_capacity(page.items.len());
    for a in &page.items {
        record_ids.push(a.id.clone());
        if let Some(t) = a.recorded_at.as_deref().and_then(time::parse)
            && newest
                .as_ref()
                .is_none_or(|n| (t.seconds, t.nanos) > (n.seconds, n.nanos))
        {
            newest = Some(t);
        }
        hints.record(a);
        if hints.full.is_some() {
            break;
        }
    }
    if hints.full.is_none() {
        read_changed_groups(api, &mut hints)?;
        settle_attribute_changes(api, &mut hints)?;
    }
    let changes = hints.into_changes();
    cx.log(
        Level::Debug,
        format!(
            "audit log page: {} records, {} changes",
            record_ids.len(),
            changes.len()
        ),
    );
    let next_page_token = match page.next.as_deref().map(|n| api.resolve(n)) {
        Some(n) if n == url => return Err(crate::client::paging::loop_error(what)),
        next => next,
    };
    let full_sync = changes
        .iter()
        .any(|c| matches!(c, ScopedChange::FullSync(_)));
    Ok(ScopedChangePage {
        changes,
        record_ids,
        newest,
        next_page_token: if full_sync { None } else { next_page_token },
    })
}

/// One page of 0.1.3 hints: the scoped page, each change widened.
pub fn list_changes(
    cx: &Context,
    api: &Api,
    since: Timestamp,
    until: Timestamp,
    page_token: Option<String>,
) -> Result<ChangePage, ConnectorError> {
    let page = list_scoped_changes(cx, api, since, until, page_token)?;
    Ok(ChangePage {
        changes: widen(page.changes),
        record_ids: page.record_ids,
        newest: page.newest,
        next_page_token: page.next_page_token,
    })
}

/// Scoped changes as 0.1.3 says them: each as the wider change that covers
/// it, once.
pub fn widen(changes: Vec<ScopedChange>) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::with_capacity(changes.len());
    for c in changes {
        let wide = match c {
            ScopedChange::Resource(r) | ScopedChange::ResourceRecord(r) => Change::Resource(r),
            ScopedChange::PrincipalGrants(p) => Change::PrincipalGrants(p.principal),
            ScopedChange::ResourceGrants(g) => Change::Resource(g.resource),
            ScopedChange::FullSync(reason) => Change::FullSync(reason),
        };
        if !out.contains(&wide) {
            out.push(wide);
        }
    }
    out
}

/// Reads every group a `GROUP.CREATED` or `GROUP.UPDATED` named (one
/// batch): gone, it is a full re-read (as deleted); else its row, the
/// grants it holds on groups and roles, and, when it is dynamic, the
/// grants users hold on it.
fn read_changed_groups(api: &Api, hints: &mut Hints) -> Result<(), ConnectorError> {
    let ids = std::mem::take(&mut hints.groups_to_read);
    if ids.is_empty() {
        return Ok(());
    }
    let env = api.environment();
    let urls: Vec<String> = ids.iter().map(|g| format!("{env}/groups/{g}")).collect();
    for (g, res) in ids.iter().zip(api.send_all(&urls, "reading groups")) {
        let what = format!("reading group {g} (GET /groups/{{id}}) named by the audit log");
        let resp = res.map_err(|e| e.context(&what))?;
        if resp.status == 404 {
            hints.resource(GROUP, g);
            continue;
        }
        errors::check(&resp, &what)?;
        let group: Group = parse_one(&resp, &what)?;
        hints.record_of(GROUP, g);
        hints.principal(GROUP, g, GrantScope::of_types(&[GROUP, ROLE]));
        if group.dynamic_filter().is_some() {
            hints.resource_grants(GROUP, g, USER);
        }
    }
    Ok(())
}

/// Settles the users whose records named what changed: their grants on
/// populations and groups are re-read only when a changed attribute is the
/// population or one some group's `userFilter` reads (so the change may
/// move them in or out of that dynamic group). Memberships and role
/// assignments have records of their own. The filters are read once, from
/// the groups listing, and only when some record named its attributes.
fn settle_attribute_changes(api: &Api, hints: &mut Hints) -> Result<(), ConnectorError> {
    let users = std::mem::take(&mut hints.attributes_changed);
    if users.is_empty() {
        return Ok(());
    }
    let read = filters_read(api, users.len())?;
    for (user, attributes) in users {
        let moves = attributes
            .iter()
            .map(|a| attribute_root(a))
            .any(|r| r == "population" || read.as_ref().is_none_or(|all| all.contains(&r)));
        if moves {
            hints.principal(USER, &user, GrantScope::of_types(&[POPULATION, GROUP]));
        }
    }
    Ok(())
}

/// What the environment's dynamic filters read, together (`None`: any
/// change may count), from the groups listing. Each narrowed user spares at
/// least one request, so the listing may take at most `budget` pages; a
/// longer one (a tenant with far more groups than changed users) is not
/// read, and every change counts.
fn filters_read(api: &Api, budget: usize) -> Result<Option<HashSet<String>>, ConnectorError> {
    let what = "listing groups to learn what their dynamic filters read (GET /groups)";
    let mut read = HashSet::new();
    let mut url = api.groups(BIG_PAGE);
    let mut empty = 0;
    for _ in 0..budget {
        let resp = api.get(&url, what)?;
        let page: Page<Group> = parse_page(&resp, "groups", what)?;
        for f in page.items.iter().filter_map(Group::dynamic_filter) {
            match filter_attributes(f) {
                Some(roots) => read.extend(roots),
                None => return Ok(None),
            }
        }
        match next_page(api, &url, &page, empty, what)? {
            Some((next, e)) => (url, empty) = (next, e),
            None => return Ok(Some(read)),
        }
    }
    Ok(None)
}

/// A SCIM filter's words that are neither attributes nor values.
const FILTER_WORDS: &[&str] = &[
    "eq", "ne", "co", "sw", "ew", "pr", "gt", "ge", "lt", "le", "and", "or", "not", "true",
    "false", "null",
];

/// The top-level attributes (lower case) a SCIM filter reads, or `None`
/// when it reads memberships (`memberOfGroups[…]`), which any change can
/// move. Quoted values are skipped; anything else that looks like a name
/// counts, so a filter is never read as reading less than it does. An
/// extension attribute (`urn:…:name`) counts under its full path and its
/// last name.
pub fn filter_attributes(filter: &str) -> Option<HashSet<String>> {
    let mut roots = HashSet::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut escaped = false;
    let mut chars = filter.chars().chain(std::iter::once(' '));
    loop {
        let Some(c) = chars.next() else {
            return Some(roots);
        };
        if quoted {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => quoted = false,
                _ => {}
            }
            continue;
        }
        if c.is_alphanumeric() || matches!(c, '.' | '_' | '$' | ':' | '-') {
            word.push(c);
            continue;
        }
        quoted = c == '"';
        let w = std::mem::take(&mut word).to_lowercase();
        if w.is_empty()
            || FILTER_WORDS.contains(&w.as_str())
            || w.starts_with(|ch: char| ch.is_ascii_digit() || ch == '-')
        {
            continue;
        }
        if attribute_root(&w) == "memberofgroups" {
            return None;
        }
        if let Some((_, last)) = w.rsplit_once(':') {
            roots.insert(attribute_root(last));
        }
        roots.insert(attribute_root(&w));
    }
}

/// An attribute's top-level name, lower case (`name.family` → `name`).
fn attribute_root(attribute: &str) -> String {
    let end = attribute.find(['.', '[']).unwrap_or(attribute.len());
    attribute[..end].to_lowercase()
}

/// A page token is the next link PingOne sent; only links under this
/// environment's activities are followed.
fn next_from_token(api: &Api, token: &str) -> Result<String, ConnectorError> {
    let prefix = format!("{}/activities?", api.environment());
    if token.starts_with(&prefix) {
        Ok(token.to_string())
    } else {
        Err(ConnectorError::InvalidArgument(
            "change-feed page token is not a link to this environment's activities".into(),
        ))
    }
}

fn days_text(secs: i64) -> String {
    let hours = secs / 3600;
    if hours >= 48 {
        format!("{} days", hours / 24)
    } else {
        format!("{hours} hours")
    }
}

/// What one page's records ask for, before the reads some kinds need:
/// each object once, with its changes merged.
#[derive(Default, Debug)]
pub struct Hints {
    pub changes: Vec<ScopedChange>,
    pub full: Option<String>,
    /// Groups created or updated, read before their changes are known.
    pub groups_to_read: Vec<String>,
    /// Users whose records name what changed (`modifiedAttributes`, a
    /// lock), with those attributes: whether their grants are re-read too
    /// is settled against the groups' filters after the page.
    pub attributes_changed: Vec<(String, Vec<String>)>,
}

impl Hints {
    /// A full re-read of `t:id`, which covers a re-read of its row.
    fn resource(&mut self, t: &str, id: &str) {
        let r = resource_id(t, id);
        self.changes
            .retain(|c| !matches!(c, ScopedChange::ResourceRecord(x) if *x == r));
        let c = ScopedChange::Resource(r);
        if !self.changes.contains(&c) {
            self.changes.push(c);
        }
    }

    /// A re-read of `t:id`'s row, unless it is re-read in full.
    fn record_of(&mut self, t: &str, id: &str) {
        let r = resource_id(t, id);
        let covered = self.changes.iter().any(
            |c| matches!(c, ScopedChange::Resource(x) | ScopedChange::ResourceRecord(x) if *x == r),
        );
        if !covered {
            self.changes.push(ScopedChange::ResourceRecord(r));
        }
    }

    /// A re-read of `t:id`'s grants within `scope`, merged with the ones
    /// already asked for it.
    fn principal(&mut self, t: &str, id: &str, scope: GrantScope) {
        let p = resource_id(t, id);
        for c in &mut self.changes {
            if let ScopedChange::PrincipalGrants(pc) = c
                && pc.principal == p
            {
                pc.scope.merge(&scope);
                return;
            }
        }
        self.changes
            .push(ScopedChange::PrincipalGrants(PrincipalChange {
                principal: p,
                scope,
            }));
    }

    /// A re-read of the grants on `t:id` held by principals of
    /// `principal_type`.
    fn resource_grants(&mut self, t: &str, id: &str, principal_type: &str) {
        let r = resource_id(t, id);
        for c in &mut self.changes {
            if let ScopedChange::ResourceGrants(rg) = c
                && rg.resource == r
            {
                if !rg.principal_types.iter().any(|p| p == principal_type) {
                    rg.principal_types.push(principal_type.to_string());
                }
                return;
            }
        }
        self.changes
            .push(ScopedChange::ResourceGrants(ResourceGrantsChange {
                resource: r,
                principal_types: vec![principal_type.to_string()],
            }));
    }

    fn attributes_of(&mut self, user: &str, attributes: Vec<String>) {
        match self.attributes_changed.iter_mut().find(|(u, _)| u == user) {
            Some((_, known)) => known.extend(attributes),
            None => self.attributes_changed.push((user.to_string(), attributes)),
        }
    }

    fn group_to_read(&mut self, id: &str) {
        if !self.groups_to_read.iter().any(|g| g == id) {
            self.groups_to_read.push(id.to_string());
        }
    }

    fn full_sync(&mut self, reason: String) {
        if self.full.is_none() {
            self.full = Some(reason);
        }
    }

    /// Maps one record to hints.
    pub fn record(&mut self, a: &Activity) {
        let Some(kind) = a.action.as_ref().and_then(|x| x.kind.as_deref()) else {
            self.full_sync(format!("activity {} has no action type", a.id));
            return;
        };
        let kind = kind.to_ascii_uppercase();
        // A failed action changed nothing.
        if a.result
            .as_ref()
            .and_then(|r| r.status.as_deref())
            .is_some_and(|s| s.eq_ignore_ascii_case("FAILED"))
        {
            return;
        }
        if SIGN_ON_TYPES.contains(&kind.as_str())
            || SIGN_ON_PREFIXES.iter().any(|p| kind.starts_with(p))
        {
            // No grant changes, but the user's last sign-on and lock state
            // (failed passwords lock accounts) are in its record.
            if let Some(user) = subject(a, "USER", "users") {
                self.record_of(USER, &user);
            }
            return;
        }
        let unknown = |h: &mut Hints, why: &str| {
            h.full_sync(format!("activity {} ({kind}): {why}", a.id));
        };
        let (noun, verb) = kind.split_once('.').unwrap_or((kind.as_str(), ""));
        match noun {
            "USER" => {
                let Some(user) = subject(a, "USER", "users") else {
                    return unknown(self, "names no user");
                };
                // What changed, when the record says: an update names its
                // attributes; a lock changes the account state, which no
                // documented filter reads.
                let attributes = match verb {
                    "UPDATED" => a.modified_attributes(),
                    "LOCKED" | "UNLOCKED" => Some(vec!["account".to_string()]),
                    _ => None,
                };
                if let Some(attributes) = attributes {
                    self.record_of(USER, &user);
                    self.attributes_of(&user, attributes);
                    return;
                }
                match verb {
                    "DELETED" => self.resource(USER, &user),
                    // Its row, and the grants an attribute or a move
                    // changes (role assignments have their own records).
                    "CREATED" | "UPDATED" | "MOVED" | "LOCKED" | "UNLOCKED" | "ENABLED"
                    | "DISABLED" => {
                        self.record_of(USER, &user);
                        self.principal(USER, &user, GrantScope::of_types(&[POPULATION, GROUP]));
                    }
                    _ => unknown(self, "a user change this connector does not know"),
                }
            }
            // The member's grant on that group only: a nesting grant is
            // expanded by Baton, so no user's grant changes with it.
            "MEMBER_OF_GROUP" => match membership_of(a) {
                Some((member_type, member, group)) => self.principal(
                    member_type,
                    &member,
                    GrantScope::of_resources(vec![resource_id(GROUP, &group)]),
                ),
                None => unknown(self, "its href names no user or group membership"),
            },
            "GROUP" => {
                let Some(g) = subject(a, "GROUP", "groups") else {
                    return unknown(self, "names no group");
                };
                match verb {
                    "DELETED" => self.resource(GROUP, &g),
                    // Read once the page is mapped: what changes depends on
                    // whether it still exists and is dynamic.
                    "CREATED" | "UPDATED" => self.group_to_read(&g),
                    _ => unknown(self, "a group change this connector does not know"),
                }
            }
            "POPULATION" => match verb {
                // Every population-scoped role has an entitlement per
                // population, named after it: created, renamed or deleted,
                // the roles change, and a role's grants only a full
                // traversal finds. A deleted population may also take its
                // groups without a record.
                "CREATED" | "UPDATED" | "DELETED" => self.full_sync(format!(
                    "activity {} ({kind}): a population changed, and with it the entitlements \
                     of every population-scoped role",
                    a.id
                )),
                _ => unknown(self, "a population change this connector does not know"),
            },
            "ROLE_ASSIGNMENT" => match assignment_principal(a) {
                Some(Principal::Synced(t, id)) => {
                    self.principal(t, &id, GrantScope::of_types(&[ROLE]))
                }
                // Applications, gateways: not principals this connector syncs.
                Some(Principal::Other) => {}
                None => unknown(self, "names no principal"),
            },
            "SCHEMA_ATTRIBUTE" | "SCHEMA" => unknown(
                self,
                "the user schema changed, which can change whom dynamic groups select",
            ),
            _ => unknown(
                self,
                "a record type this connector cannot prove leaves identity data alone",
            ),
        }
    }

    /// The page's changes: only the full sync when one is asked for.
    pub fn into_changes(mut self) -> Vec<ScopedChange> {
        match self.full.take() {
            Some(reason) => vec![ScopedChange::FullSync(reason)],
            None => self.changes,
        }
    }
}

/// The object a record is about: its resource of `kind`, by id, or the
/// `/<collection>/<id>` segment of its href.
fn subject(a: &Activity, kind: &str, collection: &str) -> Option<String> {
    let r = a.resources.iter().find(|r| {
        r.kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case(kind))
    })?;
    if let Some(id) = r.id.as_deref().filter(|id| is_uuid(id)) {
        return Some(id.to_string());
    }
    segment_after(r.href.as_deref()?, collection)
}

/// The id after `name` in a path (`…/users/{id}/…`), if it is a PingOne id.
fn segment_after(href: &str, name: &str) -> Option<String> {
    let path = href.split(['?', '#']).next().unwrap_or(href);
    let segs: Vec<&str> = path.split('/').collect();
    segs.windows(2)
        .find(|w| w[0] == name && is_uuid(w[1]))
        .map(|w| w[1].to_string())
}

/// `…/users/{user}/memberOfGroups/{group}` is a user's membership,
/// `…/groups/{child}/memberOfGroups/{parent}` a nesting: (the member's
/// type, the member, the group). Segments are found by name (one captured
/// href lacks `/v1`).
fn membership_of(a: &Activity) -> Option<(&'static str, String, String)> {
    for r in &a.resources {
        let Some(href) = r.href.as_deref() else {
            continue;
        };
        let path = href.split(['?', '#']).next().unwrap_or(href);
        let segs: Vec<&str> = path.split('/').collect();
        for w in segs.windows(4) {
            if w[2] == "memberOfGroups" && is_uuid(w[1]) && is_uuid(w[3]) {
                match w[0] {
                    "users" => return Some((USER, w[1].to_string(), w[3].to_string())),
                    "groups" => return Some((GROUP, w[1].to_string(), w[3].to_string())),
                    _ => {}
                }
            }
        }
    }
    None
}

enum Principal {
    Synced(&'static str, String),
    Other,
}

/// A role assignment's principal: its resource (USER or GROUP), or the
/// `/users/{id}` or `/groups/{id}` segment of its href.
fn assignment_principal(a: &Activity) -> Option<Principal> {
    let r = a.resources.first()?;
    let kind = r.kind.as_deref().unwrap_or("").to_ascii_uppercase();
    let href = r.href.as_deref().unwrap_or("");
    let by_id = r.id.as_deref().filter(|id| is_uuid(id)).map(String::from);
    match kind.as_str() {
        "USER" => by_id
            .or_else(|| segment_after(href, "users"))
            .map(|id| Principal::Synced(USER, id)),
        "GROUP" => by_id
            .or_else(|| segment_after(href, "groups"))
            .map(|id| Principal::Synced(GROUP, id)),
        "" => match (segment_after(href, "users"), segment_after(href, "groups")) {
            (Some(u), _) => Some(Principal::Synced(USER, u)),
            (None, Some(g)) => Some(Principal::Synced(GROUP, g)),
            _ => None,
        },
        _ => Some(Principal::Other),
    }
}

fn rid(r: &ResourceId) -> String {
    format!("{}:{}", r.resource_type, r.resource)
}

/// A change, for tests and logs.
pub fn change_id(c: &Change) -> String {
    match c {
        Change::Resource(r) => format!("resource {}", rid(r)),
        Change::PrincipalGrants(r) => format!("grants {}", rid(r)),
        Change::FullSync(reason) => format!("full-sync {reason}"),
    }
}

/// A scoped change, for tests and logs: `grants user:u [group, group:g]`.
pub fn scoped_change_id(c: &ScopedChange) -> String {
    match c {
        ScopedChange::Resource(r) => format!("resource {}", rid(r)),
        ScopedChange::ResourceRecord(r) => format!("record {}", rid(r)),
        ScopedChange::PrincipalGrants(p) => {
            let mut scope: Vec<String> = p.scope.resource_types.clone();
            scope.extend(p.scope.resources.iter().map(rid));
            format!("grants {} [{}]", rid(&p.principal), scope.join(", "))
        }
        ScopedChange::ResourceGrants(g) => format!(
            "grants on {} by [{}]",
            rid(&g.resource),
            g.principal_types.join(", ")
        ),
        ScopedChange::FullSync(reason) => format!("full-sync {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{ENV, host, ok, status, urls};
    use serde_json::{Value, json};

    const U: &str = "11111111-1111-4111-8111-111111111111";
    const G: &str = "22222222-2222-4222-8222-222222222222";
    const G2: &str = "33333333-3333-4333-8333-333333333333";
    const P: &str = "44444444-4444-4444-8444-444444444444";

    fn ts(seconds: i64) -> Timestamp {
        Timestamp { seconds, nanos: 0 }
    }

    fn activity(id: &str, kind: &str, resources: Value) -> Value {
        json!({
            "id": id, "recordedAt": "2026-12-01T10:00:00.000Z",
            "action": {"type": kind}, "resources": resources,
            "result": {"status": "SUCCESS"}
        })
    }

    fn hints_of(records: Vec<Value>) -> Hints {
        let mut h = Hints::default();
        for r in records {
            h.record(&serde_json::from_value(r).unwrap());
        }
        h
    }

    fn ids(h: &Hints) -> Vec<String> {
        h.changes.iter().map(scoped_change_id).collect()
    }

    #[test]
    fn timestamps_format_as_the_filter_wants() {
        assert_eq!(format_timestamp(&ts(0)), "1970-01-01T00:00:00.000Z");
        let t = Timestamp {
            seconds: 1_630_692_243,
            nanos: 916_000_000,
        };
        assert_eq!(format_timestamp(&t), "2021-09-03T18:04:03.916Z");
        assert_eq!(time::parse(&format_timestamp(&t)), Some(t));
        assert_eq!(
            format_timestamp(&ts(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn user_records_re_read_the_user_and_its_grants() {
        let env = format!("https://api.test/v1/environments/{ENV}");
        let user = json!([{"type": "USER", "id": U, "href": format!("{env}/users/{U}")}]);
        let h = hints_of(vec![
            activity("a1", "USER.UPDATED", user.clone()),
            activity("a2", "USER.MOVED", user.clone()),
            activity("a3", "USER.ACCESS_ALLOWED", user.clone()),
            activity("a4", "PASSWORD.RESET", user.clone()),
        ]);
        assert_eq!(
            ids(&h),
            [
                format!("record user:{U}"),
                format!("grants user:{U} [population, group]")
            ]
        );
        assert!(h.full.is_none());
        // A sign-on re-reads only the user's row (last sign-on, lock state).
        let h = hints_of(vec![
            activity("s1", "AUTHENTICATION.CREATED", user.clone()),
            activity("s2", "SESSION.DELETED", json!([])),
        ]);
        assert_eq!(ids(&h), [format!("record user:{U}")]);
        // Deleted: the full re-read, which also covers the row.
        let h = hints_of(vec![
            activity("a4", "USER.UPDATED", user.clone()),
            activity("a5", "USER.DELETED", user.clone()),
            activity("a6", "USER.ACCESS_ALLOWED", user.clone()),
        ]);
        assert_eq!(
            ids(&h),
            [
                format!("grants user:{U} [population, group]"),
                format!("resource user:{U}")
            ]
        );
        let h = hints_of(vec![activity("a5", "USER.DELETED", user.clone())]);
        assert_eq!(ids(&h), [format!("resource user:{U}")]);
        // A failed action changed nothing.
        let mut failed = activity("a6", "USER.CREATED", user.clone());
        failed["result"]["status"] = json!("FAILED");
        assert!(hints_of(vec![failed]).changes.is_empty());
        // A user verb nobody knows, or a record type nobody knows.
        assert!(
            hints_of(vec![activity("a7", "USER.MERGED", user.clone())])
                .full
                .is_some()
        );
        let h = hints_of(vec![activity("a8", "APPLICATION.CREATED", json!([]))]);
        assert!(h.full.unwrap().contains("APPLICATION.CREATED"));
    }

    #[test]
    fn memberships_are_parsed_from_the_href_by_segment_name() {
        let h = hints_of(vec![
            activity(
                "m1",
                "MEMBER_OF_GROUP.CREATED",
                json!([{"type": "MEMBER_OF_GROUP", "id": "x", "href": format!("https://api.test/v1/environments/{ENV}/users/{U}/memberOfGroups/{G}")}]),
            ),
            // A nesting, and an href without /v1.
            activity(
                "m2",
                "MEMBER_OF_GROUP.DELETED",
                json!([{"type": "MEMBER_OF_GROUP", "id": "y", "href": format!("https://api.test/environments/{ENV}/groups/{G2}/memberOfGroups/{G}")}]),
            ),
        ]);
        assert_eq!(
            ids(&h),
            [
                format!("grants user:{U} [group:{G}]"),
                format!("grants group:{G2} [group:{G}]")
            ]
        );
        // Memberships of one user merge into one scope.
        let h = hints_of(vec![
            activity(
                "m4",
                "MEMBER_OF_GROUP.CREATED",
                json!([{"type": "MEMBER_OF_GROUP", "href": format!("https://api.test/v1/environments/{ENV}/users/{U}/memberOfGroups/{G}")}]),
            ),
            activity(
                "m5",
                "MEMBER_OF_GROUP.DELETED",
                json!([{"type": "MEMBER_OF_GROUP", "href": format!("https://api.test/v1/environments/{ENV}/users/{U}/memberOfGroups/{G2}")}]),
            ),
            activity("m6", "USER.UPDATED", json!([{"type": "USER", "id": U}])),
        ]);
        assert_eq!(
            ids(&h),
            [
                format!("grants user:{U} [population, group]"),
                format!("record user:{U}")
            ]
        );
        let h = hints_of(vec![activity(
            "m3",
            "MEMBER_OF_GROUP.CREATED",
            json!([{"type": "MEMBER_OF_GROUP", "href": "https://api.test/v1/x"}]),
        )]);
        assert!(h.full.is_some());
    }

    #[test]
    fn role_assignments_name_their_principal() {
        let h = hints_of(vec![
            activity(
                "r1",
                "ROLE_ASSIGNMENT.CREATED",
                json!([{"type": "USER", "id": U, "href": format!("https://api.test/environments/{ENV}/users/{U}/roleAssignments/abc")}]),
            ),
            activity(
                "r2",
                "ROLE_ASSIGNMENT.DELETED",
                json!([{"type": "GROUP", "id": G, "href": format!("https://api.test/environments/{ENV}/groups/{G}/roleAssignments/abc")}]),
            ),
            activity(
                "r3",
                "ROLE_ASSIGNMENT.DELETED",
                json!([{"type": "GATEWAY", "id": G2}]),
            ),
        ]);
        assert_eq!(
            ids(&h),
            [
                format!("grants user:{U} [role]"),
                format!("grants group:{G} [role]")
            ]
        );
    }

    #[test]
    fn populations_fall_back_and_groups_re_read() {
        let pop = json!([{"type": "POPULATION", "id": P}]);
        for kind in [
            "POPULATION.CREATED",
            "POPULATION.UPDATED",
            "POPULATION.DELETED",
        ] {
            let h = hints_of(vec![activity("p", kind, pop.clone())]);
            assert!(h.full.unwrap().contains("population-scoped role"), "{kind}");
        }
        let group = json!([{"type": "GROUP", "id": G}]);
        for kind in ["GROUP.CREATED", "GROUP.UPDATED"] {
            let h = hints_of(vec![activity("g1", kind, group.clone())]);
            assert!(ids(&h).is_empty());
            assert_eq!(h.groups_to_read, [G]);
        }
        let h = hints_of(vec![activity("g2", "GROUP.DELETED", group)]);
        assert_eq!(ids(&h), [format!("resource group:{G}")]);
        // A full sync asked for on a page replaces its other changes.
        let h = hints_of(vec![
            activity("u", "USER.DELETED", json!([{"type": "USER", "id": U}])),
            activity("s", "SCHEMA_ATTRIBUTE.UPDATED", json!([{"type": "SCHEMA"}])),
        ]);
        assert!(
            matches!(&h.into_changes()[..], [ScopedChange::FullSync(r)] if r.contains("schema"))
        );
    }

    fn page(items: Value, next: Option<&str>) -> Value {
        let mut links = json!({"self": {"href": "x"}});
        if let Some(n) = next {
            links["next"] = json!({ "href": n });
        }
        json!({"_links": links, "_embedded": {"activities": items}})
    }

    /// Runs `f` with a call context and a client on `h`.
    fn with_api<T>(h: &connector_sdk::testing::MockHost, f: impl FnOnce(&Context, &Api) -> T) -> T {
        let config = crate::testutil::config();
        let cx = Context {
            host: h,
            config: &config,
        };
        let settings = crate::config::Settings::from_config(&config).unwrap();
        f(&cx, &Api::new(h, &settings))
    }

    fn cx_call(
        h: &connector_sdk::testing::MockHost,
        since: i64,
        until: i64,
        token: Option<String>,
    ) -> Result<ChangePage, ConnectorError> {
        with_api(h, |cx, api| {
            list_changes(cx, api, ts(since), ts(until), token)
        })
    }

    /// The scoped changes of the window `[since, since + 60)`.
    fn scoped_page(h: &connector_sdk::testing::MockHost, since: i64) -> ScopedChangePage {
        with_api(h, |cx, api| {
            list_scoped_changes(cx, api, ts(since), ts(since + 60), None).unwrap()
        })
    }

    #[test]
    fn a_page_reads_the_window_and_links_the_next() {
        let a = urls();
        let since = 1_764_583_200; // 2025-12-01T10:00:00Z
        let first = activities_url(&a, &ts(since), &ts(since + 3600));
        assert!(
            first.contains("recordedAt%20ge%20%222025-12-01T10%3A00%3A00.000Z%22"),
            "{first}"
        );
        let next = format!("{}/activities?cursor=2", a.environment());
        let user = json!([{"type": "USER", "id": U}]);
        let h = host(vec![
            (
                first.clone(),
                ok(page(
                    json!([activity("a1", "USER.UPDATED", user.clone())]),
                    Some(&next),
                )),
            ),
            (
                next.clone(),
                ok(page(json!([activity("a0", "USER.CREATED", user)]), None)),
            ),
        ]);
        let p = cx_call(&h, since, since + 3600, None).unwrap();
        assert_eq!(p.record_ids, ["a1"]);
        assert_eq!(p.next_page_token.as_deref(), Some(next.as_str()));
        assert_eq!(p.newest.unwrap().seconds, 1_796_119_200);
        let p = cx_call(&h, since, since + 3600, p.next_page_token).unwrap();
        assert_eq!(p.record_ids, ["a0"]);
        assert!(p.next_page_token.is_none());
        // A token that is no link to this environment's activities.
        let e = cx_call(&h, since, since + 3600, Some("https://evil.test/x".into()));
        assert!(matches!(e, Err(ConnectorError::InvalidArgument(_))));
    }

    #[test]
    fn an_old_window_or_a_refusal_falls_back() {
        let h = host(vec![]);
        let p = cx_call(&h, 0, MAX_WINDOW_SECS + 10, None).unwrap();
        assert!(
            matches!(&p.changes[..], [Change::FullSync(r)] if r.contains("14 days")),
            "{p:?}"
        );
        assert!(h.requests.borrow().is_empty());
        let a = urls();
        let since = 1_764_583_200;
        let h = host(vec![(
            activities_url(&a, &ts(since), &ts(since + 60)),
            status(403, json!({"code": "ACCESS_FAILED", "message": "no"})),
        )]);
        let e = cx_call(&h, since, since + 60, None).unwrap_err();
        assert!(matches!(&e, ConnectorError::PermissionDenied(m) if m.contains(AUDIT_PERMISSION)));
        let h = host(vec![(
            activities_url(&a, &ts(since), &ts(since + 60)),
            status(429, json!({"code": "REQUEST_LIMITED"})),
        )]);
        let e = cx_call(&h, since, since + 60, None).unwrap_err();
        assert!(matches!(e, ConnectorError::Unavailable(_)));
    }

    #[test]
    fn changed_groups_are_read_once_to_scope_their_changes() {
        let a = urls();
        let since = 1_764_583_200;
        let first = activities_url(&a, &ts(since), &ts(since + 60));
        let env = a.environment();
        const GONE: &str = "55555555-5555-4555-8555-555555555555";
        let records = json!([
            activity("g1", "GROUP.UPDATED", json!([{"type": "GROUP", "id": G}])),
            activity("g2", "GROUP.CREATED", json!([{"type": "GROUP", "id": G2}])),
            activity(
                "g3",
                "GROUP.UPDATED",
                json!([{"type": "GROUP", "id": GONE}])
            ),
            activity("g4", "GROUP.UPDATED", json!([{"type": "GROUP", "id": G}])),
        ]);
        let h = host(vec![
            (first, ok(page(records, None))),
            (
                format!("{env}/groups/{G}"),
                ok(json!({"id": G, "name": "d", "userFilter": "title eq \"x\""})),
            ),
            (
                format!("{env}/groups/{G2}"),
                ok(json!({"id": G2, "name": "s"})),
            ),
            (
                format!("{env}/groups/{GONE}"),
                status(404, json!({"code": "NOT_FOUND"})),
            ),
        ]);
        let p = scoped_page(&h, since);
        let got: Vec<String> = p.changes.iter().map(scoped_change_id).collect();
        assert_eq!(
            got,
            [
                format!("record group:{G}"),
                format!("grants group:{G} [group, role]"),
                format!("grants on group:{G} by [user]"),
                format!("record group:{G2}"),
                format!("grants group:{G2} [group, role]"),
                format!("resource group:{GONE}"),
            ]
        );
        // Each group read once, in one batch after the page.
        assert_eq!(h.requests.borrow().len(), 4);
        // 0.1.3 widens them: a group's re-read covers its row and its
        // user grants.
        let wide: Vec<String> = widen(p.changes).iter().map(change_id).collect();
        assert_eq!(
            wide,
            [
                format!("resource group:{G}"),
                format!("grants group:{G}"),
                format!("resource group:{G2}"),
                format!("grants group:{G2}"),
                format!("resource group:{GONE}"),
            ]
        );
    }

    #[test]
    fn a_filter_reads_the_attributes_it_names() {
        let roots = |f: &str| {
            filter_attributes(f).map(|r| {
                let mut v: Vec<String> = r.into_iter().collect();
                v.sort();
                v
            })
        };
        assert_eq!(
            roots("department eq \"Sales\" and enabled eq true").unwrap(),
            ["department", "enabled"]
        );
        assert_eq!(
            roots("(address.countryCode eq \"US\") or (Name.Family sw \"S\")").unwrap(),
            ["address", "name"]
        );
        // Quoted values are no attributes, escaped quotes included.
        assert_eq!(
            roots(r#"title eq "a \"nickname eq\" b" and age gt 30"#).unwrap(),
            ["age", "title"]
        );
        // An extension attribute counts under its last name too.
        assert_eq!(
            roots("urn:ext:1.0:costCenter eq \"7\"").unwrap(),
            ["costcenter", "urn:ext:1"]
        );
        // A filter on memberships: any change may move a user.
        assert_eq!(
            roots("memberOfGroups[id eq \"g\"] and title eq \"x\""),
            None
        );
    }

    #[test]
    fn named_attributes_re_read_grants_only_when_a_filter_reads_them() {
        let a = urls();
        let since = 1_764_583_200;
        let first = activities_url(&a, &ts(since), &ts(since + 60));
        const U2: &str = "66666666-6666-4666-8666-666666666666";
        const U3: &str = "77777777-7777-4777-8777-777777777777";
        const U4: &str = "88888888-8888-4888-8888-888888888888";
        let user = |id: &str| json!([{"type": "USER", "id": id}]);
        let updated = |rec: &str, id: &str, attrs: Value| {
            let mut r = activity(rec, "USER.UPDATED", user(id));
            r["_embedded"] = json!({ "modifiedAttributes": attrs });
            r
        };
        let records = json!([
            // Read by no filter: the row only.
            updated("a1", U, json!(["nickname", "mobilePhone"])),
            // `name.family` is read by a filter; `name` changed.
            updated("a2", U2, json!(["name"])),
            // A lock: the account state, which no filter reads.
            activity("a3", "USER.LOCKED", user(U3)),
            // The population moves grants whatever the filters read.
            updated("a4", U4, json!(["population"])),
        ]);
        let groups = |filters: Value| ok(json!({"_links": {}, "_embedded": {"groups": filters}}));
        let listing = a.groups(BIG_PAGE);
        let run = |filters: Value| {
            let h = host(vec![
                (first.clone(), ok(page(records.clone(), None))),
                (listing.clone(), groups(filters)),
            ]);
            let p = scoped_page(&h, since);
            let got: Vec<String> = p.changes.iter().map(scoped_change_id).collect();
            (got, h.requests.borrow().len())
        };
        let (got, requests) = run(json!([
            {"id": G, "name": "d", "userFilter": "name.family sw \"S\""},
            {"id": G2, "name": "s"},
        ]));
        assert_eq!(
            got,
            [
                format!("record user:{U}"),
                format!("record user:{U2}"),
                format!("record user:{U3}"),
                format!("record user:{U4}"),
                format!("grants user:{U2} [population, group]"),
                format!("grants user:{U4} [population, group]"),
            ]
        );
        // The page, then the groups once.
        assert_eq!(requests, 2);
        // A filter on memberships: every named change re-reads grants.
        let (got, _) = run(json!([
            {"id": G, "name": "d", "userFilter": "memberOfGroups[id eq \"x\"]"},
        ]));
        assert_eq!(got.iter().filter(|c| c.starts_with("grants")).count(), 4);
        // A groups listing longer than the changed users it could spare:
        // one page read, and the change counts.
        let lone = json!([updated("b1", U, json!(["nickname"]))]);
        let more = format!("{}/groups?cursor=2", a.environment());
        let h = host(vec![
            (first.clone(), ok(page(lone, None))),
            (
                listing.clone(),
                ok(json!({"_links": {"next": {"href": more}}, "_embedded": {"groups": []}})),
            ),
        ]);
        let p = scoped_page(&h, since);
        let got: Vec<String> = p.changes.iter().map(scoped_change_id).collect();
        assert_eq!(
            got,
            [
                format!("record user:{U}"),
                format!("grants user:{U} [population, group]")
            ]
        );
        assert_eq!(h.requests.borrow().len(), 2);
    }

    #[test]
    fn the_0_1_3_feed_widens_every_scoped_change() {
        let u = resource_id(USER, U);
        let scoped = vec![
            ScopedChange::ResourceRecord(u.clone()),
            ScopedChange::PrincipalGrants(PrincipalChange {
                principal: u.clone(),
                scope: GrantScope::of_types(&[GROUP]),
            }),
            ScopedChange::PrincipalGrants(PrincipalChange {
                principal: u.clone(),
                scope: GrantScope::of_types(&[ROLE]),
            }),
            ScopedChange::Resource(u.clone()),
        ];
        assert_eq!(
            widen(scoped),
            [Change::Resource(u.clone()), Change::PrincipalGrants(u)]
        );
        assert_eq!(
            widen(vec![ScopedChange::FullSync("why".into())]),
            [Change::FullSync("why".into())]
        );
    }
}
