//! Example connector: users, groups and group memberships of a tiny fake
//! SaaS that publishes its directory as static JSON over HTTP.
//!
//! It exists to prove that connectors are plugins: it shares nothing with
//! the PingOne connector but the SDK, and the same host runs either.
//!
//! # The directory format
//!
//! Files live under the configured `directory-url`:
//!
//! - `users.json`: users, `{"id", "login", "email", "name", "active",
//!   "attributes"}`. Only `id` is required; `active` defaults to `true`;
//!   `attributes`, a JSON object, becomes the user's profile.
//! - `groups.json`: groups, `{"id", "name", "description", "members"}`,
//!   where `members` lists user ids.
//!
//! Each file is one page: either a bare JSON array of records, or an object
//! `{"items": [...], "next": "users.json?page=2"}`. `next`, when present,
//! names the following page relative to `directory-url`, so a directory can
//! be plain static files (`users-2.json`) or an app that reads `?page=N`.
//!
//! A targeted sync reads one user or group with `get-resource` (contract
//! 0.1.3): the directory has no per-record URL, so the call scans the file's
//! pages until it meets the record. A directory is small; an API with a
//! record URL would make one request.
//!
//! An incremental sync reads `changes.json` (contract 0.1.3 `change-feed`),
//! paged like the other files: `{"id", "at", "kind", "target"}` records,
//! `at` in Unix seconds. `kind` `user` or `group` says that record was
//! created, updated or deleted (the host re-reads it), `membership` that
//! the groups user `target` belongs to changed (the host re-reads that
//! user's grants). Any other kind is not understood and asks for a full
//! sync, as a connector must rather than guess. A directory that publishes
//! no `changes.json` gets full syncs (the host logs why).
//!
//! With the optional secret `directory-token` configured, every request
//! carries it as a bearer token. The host adds the header; this code only
//! names the secret and never sees its value.

use connector_sdk::http::{HttpError, Request, Response};
use connector_sdk::{
    AccountType, Auth, Capability, Change, ChangePage, ConfigField, ConfigKind, Connector,
    ConnectorError, ConnectorMetadata, Context, Email, Entitlement, EntitlementPurpose, Grant,
    GroupTrait, PageOutcome, Resource, ResourceId, ResourceStatus, ResourceTrait,
    ResourceTraitKind, ResourceType, ResourceTypeCapabilities, SyncOp, SyncTask, Timestamp,
    UrlOptions, UserStatus, UserTrait, Validation, paging, register_connector, resource_id,
};
use serde::{Deserialize, Serialize};

pub const USER: &str = "user";
pub const GROUP: &str = "group";
pub const MEMBER: &str = "member";
const URL_FIELD: &str = "directory-url";
const TOKEN_FIELD: &str = "directory-token";

/// The connector behind the component.
pub struct Directory;

/// A user as the directory publishes it.
#[derive(Debug, Deserialize)]
pub struct User {
    pub id: String,
    pub login: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

fn yes() -> bool {
    true
}

/// A group as the directory publishes it.
#[derive(Debug, Deserialize)]
pub struct Group {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub members: Vec<String>,
}

/// One record of `changes.json`: what changed, when.
#[derive(Debug, Deserialize)]
pub struct ChangeRecord {
    pub id: String,
    /// Unix seconds.
    pub at: i64,
    pub kind: String,
    #[serde(default)]
    pub target: String,
}

/// One file: a bare array, or items with a link to the next page.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PageDoc<T> {
    Paged { items: Vec<T>, next: Option<String> },
    Bare(Vec<T>),
}

/// What the host keeps between pages: the next file to read.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Cursor {
    next: String,
}

impl Connector for Directory {
    fn metadata() -> ConnectorMetadata {
        let sync_only = |t: &str| ResourceTypeCapabilities {
            resource_type: t.into(),
            capabilities: vec![Capability::Sync],
        };
        ConnectorMetadata {
            display_name: "Static JSON directory".into(),
            description: "Users, groups and memberships from users.json and groups.json".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            resource_types: vec![
                ResourceType {
                    id: USER.into(),
                    display_name: "User".into(),
                    description: Some("A person in the directory".into()),
                    traits: vec![ResourceTraitKind::User],
                    skip_entitlements_and_grants: true,
                },
                ResourceType {
                    id: GROUP.into(),
                    display_name: "Group".into(),
                    description: Some("A group of users; membership is its entitlement".into()),
                    traits: vec![ResourceTraitKind::Group],
                    skip_entitlements_and_grants: false,
                },
            ],
            capabilities: vec![sync_only(USER), sync_only(GROUP)],
            config_schema: vec![
                ConfigField {
                    name: URL_FIELD.into(),
                    description: "Base URL of the directory (users.json and groups.json)".into(),
                    kind: ConfigKind::Url(UrlOptions { egress: true }),
                    required: true,
                    secret: false,
                    default_value: None,
                },
                ConfigField {
                    name: TOKEN_FIELD.into(),
                    description: "Bearer token for the directory, if it needs one".into(),
                    kind: ConfigKind::Text,
                    required: false,
                    secret: true,
                    default_value: None,
                },
            ],
            credential: None,
            account_creation_schema: vec![],
            credential_options: vec![],
        }
    }

    fn validate(cx: &Context) -> Result<Validation, ConnectorError> {
        let (users, next) = fetch::<User>(cx, "users.json")?;
        let more = if next.is_some() { " (first page)" } else { "" };
        Ok(Validation {
            summary: format!("directory reachable: {} users{more}", users.len()),
            warnings: vec![],
        })
    }

    fn sync(cx: &Context, task: SyncTask) -> Result<PageOutcome, ConnectorError> {
        // Every paged task reads users.json or, for groups, groups.json.
        let file = match task.resource_type.as_str() {
            USER => "users.json",
            _ => "groups.json",
        };
        let path = page_path(task.page_token.as_deref(), file)?;
        match (task.op, task.resource_type.as_str()) {
            (SyncOp::ListResources, USER) => list(cx, &path, user_resource),
            (SyncOp::ListResources, GROUP) => list(cx, &path, group_resource),
            (SyncOp::ListEntitlements, GROUP) => {
                let group = task
                    .resource
                    .ok_or_else(|| missing_resource("list-entitlements"))?;
                cx.host.put_entitlements(&[member_entitlement(&group)])?;
                Ok(done(None))
            }
            (SyncOp::ListGrants, GROUP) => group_grants(cx, task.resource, &path),
            // Users declare skip-entitlements-and-grants: nothing to report.
            (SyncOp::ListEntitlements | SyncOp::ListGrants, USER) => Ok(done(None)),
            (_, other) => Err(ConnectorError::InvalidArgument(format!(
                "unknown resource type {other:?}"
            ))),
        }
    }

    const TARGETED_TYPES: &'static [&'static str] = &[USER, GROUP];

    fn get_resource(
        cx: &Context,
        id: ResourceId,
        _parent: Option<ResourceId>,
    ) -> Result<bool, ConnectorError> {
        let record = match id.resource_type.as_str() {
            USER => {
                find::<User>(cx, "users.json", |u| u.id == id.resource)?.map(|u| user_resource(&u))
            }
            GROUP => find::<Group>(cx, "groups.json", |g| g.id == id.resource)?
                .map(|g| group_resource(&g)),
            other => {
                return Err(ConnectorError::InvalidArgument(format!(
                    "unknown resource type {other:?}"
                )));
            }
        };
        if let Some(r) = &record {
            cx.host.put_resources(std::slice::from_ref(r))?;
        }
        Ok(record.is_some())
    }

    fn list_changes(
        cx: &Context,
        since: Timestamp,
        until: Timestamp,
        page_token: Option<String>,
    ) -> Result<ChangePage, ConnectorError> {
        let path = page_path(page_token.as_deref(), "changes.json")?;
        let (mut records, next) = fetch::<ChangeRecord>(cx, &path)?;
        records.retain(|r| {
            let at = (r.at, 0u32);
            at >= (since.seconds, since.nanos) && at < (until.seconds, until.nanos)
        });
        Ok(ChangePage {
            changes: records.iter().map(Directory::change_of).collect(),
            record_ids: records.iter().map(|r| r.id.clone()).collect(),
            newest: records
                .iter()
                .map(|r| r.at)
                .max()
                .map(|seconds| Timestamp { seconds, nanos: 0 }),
            next_page_token: done(next).next_page_token,
        })
    }

    /// A user's grants are the groups listing it as a member: one page of
    /// `groups.json` per call.
    fn list_principal_grants(
        cx: &Context,
        principal: ResourceId,
        page_token: Option<String>,
    ) -> Result<Option<String>, ConnectorError> {
        if principal.resource_type != USER {
            return Err(ConnectorError::InvalidArgument(format!(
                "only users hold grants here, not {:?}",
                principal.resource_type
            )));
        }
        let path = page_path(page_token.as_deref(), "groups.json")?;
        let (groups, next) = fetch::<Group>(cx, &path)?;
        let grants: Vec<Grant> = groups
            .iter()
            .filter(|g| g.members.contains(&principal.resource))
            .map(|g| member_grant(&resource_id(GROUP, &g.id), &principal.resource))
            .collect();
        if !grants.is_empty() {
            cx.host.put_grants(&grants)?;
        }
        Ok(done(next).next_page_token)
    }
}

impl Directory {
    /// The change a record asks for: a kind it does not know asks for a
    /// full sync.
    pub fn change_of(record: &ChangeRecord) -> Change {
        match record.kind.as_str() {
            USER | GROUP if !record.target.is_empty() => {
                Change::Resource(resource_id(&record.kind, &record.target))
            }
            "membership" if !record.target.is_empty() => {
                Change::PrincipalGrants(resource_id(USER, &record.target))
            }
            other => Change::FullSync(format!(
                "change {}: kind {other:?} with target {:?} is not understood",
                record.id, record.target
            )),
        }
    }
}

/// Scans a file's pages for the first record `wanted` accepts. Pages are
/// bounded as a listing's are: each link must make progress, and a link
/// seen before ends the scan with an error rather than a loop.
fn find<T: serde::de::DeserializeOwned>(
    cx: &Context,
    first: &str,
    wanted: impl Fn(&T) -> bool,
) -> Result<Option<T>, ConnectorError> {
    let mut path = first.to_string();
    let mut seen = std::collections::HashSet::new();
    loop {
        if !seen.insert(path.clone()) {
            return Err(ConnectorError::InvalidArgument(format!(
                "{first}: page {path:?} links back to an earlier page"
            )));
        }
        let (items, next) = fetch::<T>(cx, &path)?;
        if let Some(found) = items.into_iter().find(|i| wanted(i)) {
            return Ok(Some(found));
        }
        match next {
            Some(n) => path = n,
            None => return Ok(None),
        }
    }
}

register_connector!(Directory);

fn done(next: Option<String>) -> PageOutcome {
    PageOutcome {
        next_page_token: next.map(|next| paging::encode(&Cursor { next })),
        follow_ups: vec![],
    }
}

/// One page of a file's records, uploaded as resources.
fn list<T: serde::de::DeserializeOwned>(
    cx: &Context,
    path: &str,
    resource: fn(&T) -> Resource,
) -> Result<PageOutcome, ConnectorError> {
    let (items, next) = fetch::<T>(cx, path)?;
    let records: Vec<Resource> = items.iter().map(resource).collect();
    cx.host.put_resources(&records)?;
    Ok(done(next))
}

/// Memberships live on the group records, so this scans `groups.json` page
/// by page until it meets the group: one page per call, like any listing.
fn group_grants(
    cx: &Context,
    group: Option<ResourceId>,
    path: &str,
) -> Result<PageOutcome, ConnectorError> {
    let group = group.ok_or_else(|| missing_resource("list-grants"))?;
    let (groups, next) = fetch::<Group>(cx, path)?;
    let Some(found) = groups.iter().find(|g| g.id == group.resource) else {
        return Ok(done(next));
    };
    let grants: Vec<Grant> = found
        .members
        .iter()
        .map(|uid| member_grant(&group, uid))
        .collect();
    cx.host.put_grants(&grants)?;
    Ok(done(None))
}

fn missing_resource(op: &str) -> ConnectorError {
    ConnectorError::InvalidArgument(format!("{op} needs the group resource"))
}

/// The file a page token names; `first` without a token.
fn page_path(token: Option<&str>, first: &str) -> Result<String, ConnectorError> {
    Ok(paging::decode::<Cursor>(token)?.map_or_else(|| first.to_string(), |c| c.next))
}

/// Fetches one page and returns its records and the next page's path.
fn fetch<T: serde::de::DeserializeOwned>(
    cx: &Context,
    path: &str,
) -> Result<(Vec<T>, Option<String>), ConnectorError> {
    let base = cx.config.require(URL_FIELD)?.trim_end_matches('/');
    let url = format!("{base}/{path}");
    let resp = send(cx, &Request::get(&url).header("accept", "application/json"))?;
    check_status(&resp, path)?;
    let (items, next) = match resp.json::<PageDoc<T>>().map_err(|e| e.context(path))? {
        PageDoc::Paged { items, next } => (items, next),
        PageDoc::Bare(items) => (items, None),
    };
    let next = next.filter(|n| !n.is_empty());
    if let Some(n) = &next {
        // A page link must stay under the directory and make progress, or a
        // broken (or hostile) directory would keep the sync going forever.
        if n.contains("://") || n.starts_with('/') {
            return Err(ConnectorError::InvalidArgument(format!(
                "{path}: next page {n:?} must be relative to {URL_FIELD}"
            )));
        }
        if n == path {
            return Err(ConnectorError::InvalidArgument(format!(
                "{path}: next page points to itself"
            )));
        }
    }
    Ok((items, next))
}

/// Sends with the directory token when one is configured. The guest cannot
/// tell whether an optional secret is set, so it asks the host to use it and
/// falls back to no credential when the host says there is none.
fn send(cx: &Context, req: &Request) -> Result<Response, ConnectorError> {
    match cx.host.send(req, &Auth::SecretField(TOKEN_FIELD.into())) {
        Err(HttpError::Credential(_)) => Ok(cx.host.send(req, &Auth::None)?),
        other => Ok(other?),
    }
}

fn check_status(resp: &Response, path: &str) -> Result<(), ConnectorError> {
    let status = resp.status;
    let why = || format!("{path}: HTTP {status}: {}", resp.body_snippet());
    match status {
        200..=299 => Ok(()),
        401 => Err(ConnectorError::Unauthenticated(format!(
            "{} (check {TOKEN_FIELD})",
            why()
        ))),
        403 => Err(ConnectorError::PermissionDenied(why())),
        404 => Err(ConnectorError::NotFound(why())),
        408 | 429 | 500..=599 => Err(ConnectorError::Unavailable(why())),
        _ => Err(ConnectorError::Internal(why())),
    }
}

pub fn user_resource(u: &User) -> Resource {
    let (status, resource_status) = match u.active {
        true => (UserStatus::Enabled, ResourceStatus::Enabled),
        false => (UserStatus::Disabled, ResourceStatus::Disabled),
    };
    let display_name = u
        .name
        .clone()
        .or_else(|| u.login.clone())
        .unwrap_or_else(|| u.id.clone());
    let profile = u
        .attributes
        .as_ref()
        .map(|a| serde_json::Value::Object(a.clone()).to_string());
    Resource {
        id: resource_id(USER, &u.id),
        parent: None,
        display_name,
        description: None,
        external_id: Some(u.id.clone()),
        status: resource_status,
        created_at: None,
        trait_: Some(ResourceTrait::User(UserTrait {
            emails: u
                .email
                .iter()
                .map(|e| Email {
                    address: e.clone(),
                    is_primary: true,
                })
                .collect(),
            login: u.login.clone(),
            login_aliases: vec![],
            status,
            status_details: None,
            account_type: AccountType::Human,
            structured_name: None,
            employee_ids: vec![],
            profile_json: profile,
            created_at: None,
            last_login: None,
            mfa_enabled: None,
        })),
    }
}

pub fn group_resource(g: &Group) -> Resource {
    let profile = serde_json::json!({ "member_count": g.members.len() });
    Resource {
        id: resource_id(GROUP, &g.id),
        parent: None,
        display_name: g.name.clone().unwrap_or_else(|| g.id.clone()),
        description: g.description.clone(),
        external_id: Some(g.id.clone()),
        status: ResourceStatus::Enabled,
        created_at: None,
        trait_: Some(ResourceTrait::Group(GroupTrait {
            profile_json: Some(profile.to_string()),
        })),
    }
}

pub fn member_entitlement(group: &ResourceId) -> Entitlement {
    Entitlement {
        resource: group.clone(),
        slug: MEMBER.into(),
        display_name: format!("{} member", group.resource),
        description: Some("Member of the group".into()),
        purpose: EntitlementPurpose::Assignment,
        grantable_to: vec![USER.into()],
        immutable: false,
        metadata_json: None,
    }
}

pub fn member_grant(group: &ResourceId, user_id: &str) -> Grant {
    Grant {
        entitlement_resource: group.clone(),
        entitlement_slug: MEMBER.into(),
        principal: resource_id(USER, user_id),
        expansion: None,
        immutable_reason: None,
        metadata_json: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_sdk::Config;
    use connector_sdk::testing::MockHost;
    use serde_json::json;

    const BASE: &str = "http://127.0.0.1:9/dir";

    fn config() -> Config {
        Config::new(vec![(URL_FIELD.into(), format!("{BASE}/"))])
    }

    /// A directory of two user pages and one group page.
    fn directory() -> MockHost {
        MockHost::new(|req, _auth| {
            let path = req
                .url
                .strip_prefix(&format!("{BASE}/"))
                .unwrap_or(&req.url);
            match path {
                "users.json" => MockHost::json(
                    200,
                    json!({"items": [
                        {"id": "u1", "login": "ada", "email": "ada@example.test", "name": "Ada",
                         "attributes": {"dept": "eng"}},
                        {"id": "u2", "login": "bob", "active": false}
                    ], "next": "users.json?page=2"}),
                ),
                "users.json?page=2" => MockHost::json(200, json!([{"id": "u3"}])),
                "changes.json" => MockHost::json(
                    200,
                    json!({"items": [
                        {"id": "c1", "at": 100, "kind": "user", "target": "u1"},
                        {"id": "c2", "at": 150, "kind": "membership", "target": "u3"}
                    ], "next": "changes.json?page=2"}),
                ),
                "changes.json?page=2" => MockHost::json(
                    200,
                    json!([{"id": "c3", "at": 200, "kind": "policy", "target": "p1"}]),
                ),
                "groups.json" => MockHost::json(
                    200,
                    json!([{"id": "g1", "name": "Eng", "members": ["u1", "u3"]},
                           {"id": "g2", "members": []}]),
                ),
                _ => MockHost::json(404, json!({"error": "no such file"})),
            }
        })
    }

    fn task(op: SyncOp, rt: &str, resource: Option<ResourceId>, token: Option<String>) -> SyncTask {
        SyncTask {
            op,
            resource_type: rt.into(),
            resource,
            page_token: token,
        }
    }

    #[test]
    fn users_are_paged_by_next_links() {
        let host = directory();
        let config = config();
        let cx = Context {
            host: &host,
            config: &config,
        };
        let first = Directory::sync(&cx, task(SyncOp::ListResources, USER, None, None)).unwrap();
        let token = first.next_page_token.expect("a second page");
        let second =
            Directory::sync(&cx, task(SyncOp::ListResources, USER, None, Some(token))).unwrap();
        assert_eq!(second.next_page_token, None);
        let users = host.resources.borrow();
        let ids: Vec<&str> = users.iter().map(|r| r.id.resource.as_str()).collect();
        assert_eq!(ids, ["u1", "u2", "u3"]);
        let Some(ResourceTrait::User(ada)) = &users[0].trait_ else {
            panic!("user trait")
        };
        assert_eq!(ada.login.as_deref(), Some("ada"));
        assert_eq!(ada.emails[0].address, "ada@example.test");
        assert_eq!(ada.profile_json.as_deref(), Some(r#"{"dept":"eng"}"#));
        assert_eq!(users[1].status, ResourceStatus::Disabled);
        assert_eq!(users[2].display_name, "u3");
        // Every request stayed under the configured directory.
        assert!(
            host.requests
                .borrow()
                .iter()
                .all(|r| r.url.starts_with(BASE))
        );
    }

    #[test]
    fn groups_carry_a_member_entitlement_and_grants() {
        let host = directory();
        let config = config();
        let cx = Context {
            host: &host,
            config: &config,
        };
        Directory::sync(&cx, task(SyncOp::ListResources, GROUP, None, None)).unwrap();
        assert_eq!(host.resources.borrow().len(), 2);
        let g1 = resource_id(GROUP, "g1");
        Directory::sync(
            &cx,
            task(SyncOp::ListEntitlements, GROUP, Some(g1.clone()), None),
        )
        .unwrap();
        let ents = host.entitlements.borrow();
        assert_eq!(ents[0].slug, MEMBER);
        assert_eq!(ents[0].grantable_to, [USER]);
        Directory::sync(&cx, task(SyncOp::ListGrants, GROUP, Some(g1), None)).unwrap();
        let grants = host.grants.borrow();
        let members: Vec<&str> = grants
            .iter()
            .map(|g| g.principal.resource.as_str())
            .collect();
        assert_eq!(members, ["u1", "u3"]);
    }

    #[test]
    fn one_user_or_group_is_read_by_id() {
        let host = directory();
        let config = config();
        let cx = Context {
            host: &host,
            config: &config,
        };
        // u3 is on the second page of users.json.
        assert!(Directory::get_resource(&cx, resource_id(USER, "u3"), None).unwrap());
        assert!(Directory::get_resource(&cx, resource_id(GROUP, "g1"), None).unwrap());
        assert!(!Directory::get_resource(&cx, resource_id(USER, "nobody"), None).unwrap());
        let got: Vec<String> = host
            .resources
            .borrow()
            .iter()
            .map(|r| format!("{}:{}", r.id.resource_type, r.id.resource))
            .collect();
        assert_eq!(got, ["user:u3", "group:g1"]);
        let e = Directory::get_resource(&cx, resource_id("role", "r1"), None).unwrap_err();
        assert_eq!(e.kind(), "invalid-argument");
    }

    #[test]
    fn the_token_is_named_never_read_and_optional() {
        // Without a configured token the host refuses the handle; the
        // connector retries without credentials.
        let host = MockHost::new(|_req, auth| match auth {
            Auth::SecretField(_) => Err(HttpError::Credential("not configured".into())),
            _ => MockHost::json(200, json!([])),
        });
        let config = config();
        let cx = Context {
            host: &host,
            config: &config,
        };
        let v = Directory::validate(&cx).unwrap();
        assert_eq!(v.summary, "directory reachable: 0 users");
        assert_eq!(host.requests.borrow().len(), 2);
    }

    #[test]
    fn failures_keep_their_kind() {
        let host = MockHost::new(|req, _| {
            if req.url.ends_with("users.json") {
                MockHost::json(401, json!({"error": "bad token"}))
            } else {
                MockHost::json(503, json!({}))
            }
        });
        let config = config();
        let cx = Context {
            host: &host,
            config: &config,
        };
        let e = Directory::sync(&cx, task(SyncOp::ListResources, USER, None, None)).unwrap_err();
        assert_eq!(e.kind(), "unauthenticated");
        assert!(e.message().contains("directory-token"), "{e:?}");
        let e = Directory::sync(&cx, task(SyncOp::ListResources, GROUP, None, None)).unwrap_err();
        assert_eq!(e.kind(), "unavailable");
        let none = Config::default();
        let cx = Context {
            host: &host,
            config: &none,
        };
        let e = Directory::validate(&cx).unwrap_err();
        assert_eq!(e.kind(), "invalid-config");
    }

    #[test]
    fn page_links_must_stay_relative_and_progress() {
        for next in [
            "http://127.0.0.1:1/users.json",
            "/etc/users.json",
            "users.json",
        ] {
            let host =
                MockHost::new(move |_, _| MockHost::json(200, json!({"items": [], "next": next})));
            let config = config();
            let cx = Context {
                host: &host,
                config: &config,
            };
            let e =
                Directory::sync(&cx, task(SyncOp::ListResources, USER, None, None)).unwrap_err();
            assert_eq!(e.kind(), "invalid-argument", "{next}: {e:?}");
        }
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp { seconds, nanos: 0 }
    }

    #[test]
    fn changes_in_the_window_become_hints_and_unknown_kinds_ask_for_a_full_sync() {
        let host = directory();
        let config = config();
        let cx = Context {
            host: &host,
            config: &config,
        };
        let first = Directory::list_changes(&cx, at(100), at(150), None).unwrap();
        assert_eq!(
            first.changes,
            vec![Change::Resource(resource_id(USER, "u1"))]
        );
        assert_eq!(first.record_ids, vec!["c1".to_string()]);
        assert_eq!(first.newest, Some(at(100)));
        let second =
            Directory::list_changes(&cx, at(100), at(300), first.next_page_token.clone()).unwrap();
        assert_eq!(second.next_page_token, None);
        assert!(
            matches!(&second.changes[..], [Change::FullSync(why)] if why.contains("\"policy\"")),
            "{:?}",
            second.changes
        );
        let all = Directory::list_changes(&cx, at(0), at(300), None).unwrap();
        assert_eq!(
            all.changes,
            vec![
                Change::Resource(resource_id(USER, "u1")),
                Change::PrincipalGrants(resource_id(USER, "u3"))
            ]
        );
    }

    #[test]
    fn a_users_grants_are_the_groups_listing_it() {
        let host = directory();
        let config = config();
        let cx = Context {
            host: &host,
            config: &config,
        };
        let next = Directory::list_principal_grants(&cx, resource_id(USER, "u3"), None).unwrap();
        assert_eq!(next, None);
        assert_eq!(
            *host.grants.borrow(),
            vec![member_grant(&resource_id(GROUP, "g1"), "u3")]
        );
        let e = Directory::list_principal_grants(&cx, resource_id(GROUP, "g1"), None).unwrap_err();
        assert!(matches!(e, ConnectorError::InvalidArgument(_)), "{e:?}");
    }
}
