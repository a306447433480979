//! Single-resource reads (contract 0.1.3 `resource-getter.get-resource`),
//! batched reads (0.1.4 `batched-change-feed.get-resources`), and the
//! per-resource grant listings they promise (0.1.4 `list-resource-grants`
//! too).
//!
//! Decisions:
//! - A user, group or population is read by id and uploaded exactly as its
//!   listing uploads it, or `false` when PingOne has no such object (404).
//!   Ids are checked as PingOne ids before they go into a path.
//! - Batched, users are read [`IDS_PER_FILTER`] at a time with one
//!   `GET /users?filter=id eq "a" or id eq "b" …` (the SCIM filter takes
//!   `id eq` joined by `or`: pingone-api.md §5.2); should PingOne refuse
//!   that filter, one `GET /users/{id}` each. Groups and populations have
//!   no such filter documented: one GET each, in one batch.
//! - A group's user grants alone (a changed `userFilter`) are read from the
//!   group's side without its children ([`crate::membership::group_users`]);
//!   its nesting grants only when asked, from every group's parents.
//! - Naming a type promises that its resources' own `list-grants` tasks
//!   yield every grant on them (a targeted sync runs only those). The
//!   listings get a group's and a population's grants from follow-ups and
//!   skip those tasks; a single read skips only `list-entitlements`, and the
//!   task then lists them all: [`group_grants`] (the nested groups, then the
//!   membership plan for that one group) and [`population_grants`] (the
//!   users whose `population.id` names it). An incremental re-read of a
//!   group thus replaces every grant on it, which is what a changed dynamic
//!   filter needs. Users hold no entitlements.
//! - Roles are not named: the grants of one role are the assignments of
//!   every user and group, which no single listing gives (a full traversal).
//! - A group's nested groups: PingOne lists a group's parents only, so the
//!   children of one group are found by reading every group's parents
//!   (`G` requests, batched); the cost of re-reading a group.

use foldhash::{HashMap, HashMapExt};

use connector_sdk::{ConnectorError, Context, PageOutcome, ResourceId, SkipTasks, resource_id};

use crate::client::api::Api;
use crate::client::errors;
use crate::client::idpage::parse_id_page;
use crate::client::ids::checked;
use crate::client::model::{Group, IdOnly, Population, User};
use crate::client::paging::{Page, next_page, parse_one, parse_page};
use crate::membership::group_users::{self, children_of};
use crate::membership::members::NESTED_METADATA;
use crate::membership::plan::plan;
use crate::resources::groups::group_expansion;
use crate::resources::users::POPULATION_REASON;
use crate::resources::{groups, populations, users};
use crate::tokens::{Mode, Work};
use crate::upload::{Out, SetKey};
use crate::{GROUP, POPULATION, ROLE, USER};

/// Ids per `GET /users?filter=id eq … or …`: the host sends a few dozen
/// per call, and 50 keep the URL near 2.5 KB, well under any proxy's limit.
pub const IDS_PER_FILTER: usize = 50;

/// `id` if it is a PingOne id. Anything else names no object PingOne could
/// hold: the read answers "not found" and sends nothing (a targeted sync
/// then warns about it, as about any missing target).
fn pingone_id<'a>(what: &str, id: &'a str) -> Option<&'a str> {
    checked(what, id).ok()
}

/// The types [`get`] reads.
pub const TYPES: &[&str] = &[USER, GROUP, POPULATION];

/// A single read's skipped tasks: its entitlement comes with it, its grants
/// from its own `list-grants` task.
const ENTITLEMENTS_ONLY: SkipTasks = SkipTasks {
    list_entitlements: true,
    list_grants: false,
};

pub fn get(cx: &Context, api: &Api, id: &ResourceId) -> Result<bool, ConnectorError> {
    let env = api.environment();
    let mut out = Out::new();
    match id.resource_type.as_str() {
        USER => {
            let Some(uid) = pingone_id("user id", &id.resource) else {
                return Ok(false);
            };
            let Some(u) = read::<User>(api, &format!("{env}/users/{uid}"), "user", uid)? else {
                return Ok(false);
            };
            out.resources.push(users::user_resource(&u));
        }
        GROUP => {
            let Some(gid) = pingone_id("group id", &id.resource) else {
                return Ok(false);
            };
            let Some(g) = read::<Group>(api, &format!("{env}/groups/{gid}"), "group", gid)? else {
                return Ok(false);
            };
            out.skip = ENTITLEMENTS_ONLY;
            let r = groups::group_resource(&g);
            let e = groups::member_entitlement(&r.id);
            out.listed(r, [e]);
        }
        POPULATION => {
            let Some(pid) = pingone_id("population id", &id.resource) else {
                return Ok(false);
            };
            let url = format!("{env}/populations/{pid}");
            let Some(p) = read::<Population>(api, &url, "population", pid)? else {
                return Ok(false);
            };
            out.skip = ENTITLEMENTS_ONLY;
            let r = populations::population_resource(&p);
            let e = populations::member_entitlement(&r.id);
            out.listed(r, [e]);
        }
        other => {
            return Err(ConnectorError::InvalidArgument(format!(
                "no single-resource read for resource type {other:?}"
            )));
        }
    }
    out.flush(cx)?;
    Ok(true)
}

/// One object, or `None` on 404.
fn read<T: serde::de::DeserializeOwned>(
    api: &Api,
    url: &str,
    kind: &str,
    id: &str,
) -> Result<Option<T>, ConnectorError> {
    let what = format!("reading {kind} {id}");
    let resp = api.send(url, &what)?;
    if resp.status == 404 {
        return Ok(None);
    }
    errors::check(&resp, &what)?;
    parse_one(&resp, &what).map(Some)
}

/// Users by id (PingOne ids only, each once): one filtered listing per
/// [`IDS_PER_FILTER`], batched; one GET each if PingOne refuses the filter.
/// Only users asked for are kept; a user absent from the answer is gone.
pub fn read_users(api: &Api, ids: &[&str]) -> Result<HashMap<String, User>, ConnectorError> {
    let mut found: HashMap<String, User> = HashMap::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(found);
    }
    let jobs: Vec<(String, String)> = ids
        .chunks(IDS_PER_FILTER)
        .map(|chunk| {
            let filter = chunk
                .iter()
                .map(|id| format!("id eq \"{id}\""))
                .collect::<Vec<_>>()
                .join(" or ");
            (
                api.users_filtered(&filter),
                format!(
                    "reading {} users by id (GET /users?filter=id eq … or …)",
                    chunk.len()
                ),
            )
        })
        .collect();
    let mut refused = Vec::new();
    for (chunk, res) in
        ids.chunks(IDS_PER_FILTER)
            .zip(api.list_all_with("users", jobs, parse_page::<User>))
    {
        match res {
            Ok(users) => {
                for u in users {
                    if chunk.contains(&u.id.as_str()) {
                        found.insert(u.id.clone(), u);
                    }
                }
            }
            Err(e) if e.invalid_filter => refused.extend_from_slice(chunk),
            Err(e) => return Err(e.error),
        }
    }
    if !refused.is_empty() {
        let env = api.environment();
        let urls: Vec<String> = refused.iter().map(|u| format!("{env}/users/{u}")).collect();
        for (id, res) in refused.iter().zip(api.send_all(&urls, "reading users")) {
            let what = format!("reading user {id}");
            let resp = res.map_err(|e| e.context(&what))?;
            if resp.status == 404 {
                continue;
            }
            errors::check(&resp, &what)?;
            let u: User = parse_one(&resp, &what)?;
            if u.id == *id {
                found.insert(u.id.clone(), u);
            }
        }
    }
    Ok(found)
}

/// Reads `ids` (users, groups, populations) and uploads each one PingOne
/// has exactly as [`get`] would, once; returns the others, once each, in
/// the order asked.
pub fn get_many(
    cx: &Context,
    api: &Api,
    ids: &[ResourceId],
) -> Result<Vec<ResourceId>, ConnectorError> {
    let mut unique: Vec<&ResourceId> = Vec::with_capacity(ids.len());
    for id in ids {
        if !TYPES.contains(&id.resource_type.as_str()) {
            return Err(ConnectorError::InvalidArgument(format!(
                "no single-resource read for resource type {:?}",
                id.resource_type
            )));
        }
        if !unique.contains(&id) {
            unique.push(id);
        }
    }
    let of_type = |t: &str| -> Vec<&str> {
        unique
            .iter()
            .filter(|id| id.resource_type == t)
            .filter_map(|id| pingone_id("id", &id.resource))
            .collect()
    };
    let users = read_users(api, &of_type(USER))?;
    let env = api.environment();
    let others: Vec<&ResourceId> = unique
        .iter()
        .copied()
        .filter(|id| id.resource_type != USER && pingone_id("id", &id.resource).is_some())
        .collect();
    let urls: Vec<String> = others
        .iter()
        .map(|id| match id.resource_type.as_str() {
            GROUP => format!("{env}/groups/{}", id.resource),
            _ => format!("{env}/populations/{}", id.resource),
        })
        .collect();
    let mut read: HashMap<String, connector_sdk::http::Response> = HashMap::new();
    for (id, res) in others
        .iter()
        .zip(api.send_all(&urls, "reading groups and populations"))
    {
        let what = format!("reading {} {}", id.resource_type, id.resource);
        let resp = res.map_err(|e| e.context(&what))?;
        if resp.status == 404 {
            continue;
        }
        errors::check(&resp, &what)?;
        read.insert(format!("{}:{}", id.resource_type, id.resource), resp);
    }
    let mut out = Out::new();
    out.skip = ENTITLEMENTS_ONLY;
    let mut missing = Vec::new();
    for id in unique {
        let key = format!("{}:{}", id.resource_type, id.resource);
        match id.resource_type.as_str() {
            USER => match users.get(&id.resource) {
                Some(u) => out.resources.push(users::user_resource(u)),
                None => missing.push(id.clone()),
            },
            GROUP => match read.get(&key) {
                Some(resp) => {
                    let g: Group = parse_one(resp, &format!("reading group {}", id.resource))?;
                    let r = groups::group_resource(&g);
                    let e = groups::member_entitlement(&r.id);
                    out.listed(r, [e]);
                }
                None => missing.push(id.clone()),
            },
            _ => match read.get(&key) {
                Some(resp) => {
                    let p: Population =
                        parse_one(resp, &format!("reading population {}", id.resource))?;
                    let r = populations::population_resource(&p);
                    let e = populations::member_entitlement(&r.id);
                    out.listed(r, [e]);
                }
                None => missing.push(id.clone()),
            },
        }
    }
    out.flush(cx)?;
    Ok(missing)
}

/// The grants on `resource`'s entitlements held by principals of
/// `principal_types`, one page (contract 0.1.4 `list-resource-grants`):
/// a group's user grants ([`group_users`]) and, when asked, its nesting
/// grants; a population's members; nothing on a user.
pub fn resource_grants(
    cx: &Context,
    api: &Api,
    resource: &ResourceId,
    principal_types: &[String],
    token: Option<String>,
) -> Result<Option<String>, ConnectorError> {
    let wants = |t: &str| principal_types.iter().any(|p| p == t);
    let token = token.as_deref().map(Work::decode).transpose()?;
    match resource.resource_type.as_str() {
        GROUP => {
            let cursor = match token {
                None => None,
                Some(Work::GroupUsers(c)) => Some(c),
                Some(other) => return Err(crate::wrong_token("group grants", &other)),
            };
            let Some(gid) = pingone_id("group id", &resource.resource) else {
                return Ok(None);
            };
            let url = format!("{}/groups/{gid}", api.environment());
            let Some(g) = read::<Group>(api, &url, "group", gid)? else {
                return Ok(None);
            };
            let mut out = Out::new();
            let mut children = None;
            if wants(GROUP) && cursor.is_none() {
                let kids = children_of(api, gid)?;
                for child in &kids {
                    out.grant(
                        resource_id(GROUP, gid),
                        "member",
                        resource_id(GROUP, child),
                        Some(group_expansion(child, &[])),
                        None,
                        Some(NESTED_METADATA.to_string()),
                    );
                }
                children = Some(kids);
            }
            let next = if wants(USER) {
                group_users::user_grants(cx, api, &g, children, cursor, &mut out)?
            } else {
                None
            };
            out.flush(cx)?;
            Ok(next.map(|c| Work::GroupUsers(c).encode()))
        }
        POPULATION if wants(USER) => {
            Ok(population_grants(cx, api, resource, token)?.next_page_token)
        }
        POPULATION | USER => Ok(None),
        ROLE => Err(ConnectorError::InvalidArgument(
            "the grants on a role are every principal's role assignments, which only a full \
             traversal reads"
                .into(),
        )),
        other => Err(ConnectorError::InvalidArgument(format!(
            "no grants are listed for resources of type {other:?}"
        ))),
    }
}

fn done(follow_ups: Vec<connector_sdk::SyncTask>) -> PageOutcome {
    PageOutcome {
        next_page_token: None,
        follow_ups,
    }
}

/// Every grant on group `group`'s `member`: the nesting grants of its
/// children, and (in follow-ups, planned as a full sync plans this group)
/// its direct and dynamic members.
pub fn group_grants(
    cx: &Context,
    api: &Api,
    group: &ResourceId,
) -> Result<PageOutcome, ConnectorError> {
    let gid = checked("group id", &group.resource)?;
    let url = format!("{}/groups/{gid}", api.environment());
    let Some(g) = read::<Group>(api, &url, "group", gid)? else {
        return Ok(done(Vec::new()));
    };
    let edges: Vec<(String, String)> = children_of(api, gid)?
        .into_iter()
        .map(|c| (c, gid.to_string()))
        .collect();
    let mut out = Out::new();
    for (child, parent) in &edges {
        out.grant(
            resource_id(GROUP, parent),
            "member",
            resource_id(GROUP, child),
            Some(group_expansion(child, &[])),
            None,
            Some(NESTED_METADATA.to_string()),
        );
    }
    out.flush(cx)?;
    Ok(done(plan(
        std::slice::from_ref(&g),
        Some(&edges),
        Mode::ByGroups,
        api.settings.exact_membership,
    )))
}

/// One page of the users in population `population`: its `member` grants.
pub fn population_grants(
    cx: &Context,
    api: &Api,
    population: &ResourceId,
    token: Option<Work>,
) -> Result<PageOutcome, ConnectorError> {
    let pid = checked("population id", &population.resource)?;
    let (url, empty) = match token {
        None => (
            api.users_filtered(&format!("population.id eq \"{pid}\"")),
            0,
        ),
        Some(Work::UsersPage { next, empty }) => (next, empty),
        Some(other) => return Err(crate::wrong_token("population members", &other)),
    };
    let what = format!("listing the users of population {pid} (GET /users?filter=population.id)");
    let resp = api.get(&url, &what)?;
    let page: Page<IdOnly> = parse_id_page(&resp, "users", &what)?;
    let next = next_page(api, &url, &page, empty, &what)?
        .map(|(next, empty)| Work::UsersPage { next, empty }.encode());
    let mut out = Out::new();
    let key = SetKey {
        resource_type: POPULATION,
        resource: pid,
        slug: "member",
        principal_type: USER,
        expansion: None,
        immutable_reason: Some(POPULATION_REASON),
        metadata_json: None,
    };
    for u in page.items {
        out.grant_in_set(&key, u.id);
    }
    out.flush(cx)?;
    Ok(PageOutcome {
        next_page_token: next,
        follow_ups: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{A1, A2, G, U, host, ok, page, status, urls, with};
    use serde_json::json;

    fn user(id: &str) -> serde_json::Value {
        json!({"id": id, "username": format!("u-{id}"), "population": {"id": A1}})
    }

    #[test]
    fn users_are_read_fifty_a_request_by_an_or_filter() {
        let a = urls();
        let ids: Vec<String> = (0..IDS_PER_FILTER + 1)
            .map(|i| format!("0f2c1e1a-0000-4000-8000-{i:012}"))
            .collect();
        let filter = |ids: &[String]| {
            a.users_filtered(
                &ids.iter()
                    .map(|id| format!("id eq \"{id}\""))
                    .collect::<Vec<_>>()
                    .join(" or "),
            )
        };
        // The first request finds all but the first id (gone), and one
        // user nobody asked for, which is not uploaded.
        let h = host(vec![
            (
                filter(&ids[..IDS_PER_FILTER]),
                ok(page(
                    "users",
                    json!(
                        ids[1..IDS_PER_FILTER]
                            .iter()
                            .map(|i| user(i))
                            .chain([user(A2)])
                            .collect::<Vec<_>>()
                    ),
                    None,
                )),
            ),
            (
                filter(&ids[IDS_PER_FILTER..]),
                ok(page("users", json!([user(&ids[IDS_PER_FILTER])]), None)),
            ),
        ]);
        let mut asked: Vec<ResourceId> = ids.iter().map(|i| resource_id(USER, i)).collect();
        asked.push(resource_id(USER, "not-an-id"));
        asked.push(asked[3].clone());
        let missing = with(&h, |cx| get_many(cx, &a_api(&h), &asked)).unwrap();
        assert_eq!(missing, [asked[0].clone(), resource_id(USER, "not-an-id")]);
        assert_eq!(h.requests.borrow().len(), 2);
        assert_eq!(h.resources.borrow().len(), IDS_PER_FILTER);
    }

    fn a_api(h: &connector_sdk::testing::MockHost) -> Api<'_> {
        static SETTINGS: std::sync::OnceLock<crate::config::Settings> = std::sync::OnceLock::new();
        Api::new(h, SETTINGS.get_or_init(crate::testutil::settings))
    }

    #[test]
    fn a_refused_id_filter_reads_each_user_and_groups_are_read_one_by_one() {
        let a = urls();
        let env = a.environment();
        let bad = json!({"code": "INVALID_DATA", "details": [{"code": "INVALID_FILTER", "target": "filter"}]});
        let h = host(vec![
            (
                a.users_filtered(&format!("id eq \"{U}\" or id eq \"{A2}\"")),
                status(400, bad),
            ),
            (format!("{env}/users/{U}"), ok(user(U))),
            (
                format!("{env}/users/{A2}"),
                status(404, json!({"code": "NOT_FOUND"})),
            ),
            (
                format!("{env}/groups/{G}"),
                ok(json!({"id": G, "name": "g"})),
            ),
            (
                format!("{env}/populations/{A1}"),
                ok(json!({"id": A1, "name": "p"})),
            ),
        ]);
        let asked = vec![
            resource_id(USER, U),
            resource_id(USER, A2),
            resource_id(GROUP, G),
            resource_id(POPULATION, A1),
        ];
        let missing = with(&h, |cx| get_many(cx, &a_api(&h), &asked)).unwrap();
        assert_eq!(missing, [resource_id(USER, A2)]);
        let got: Vec<String> = h
            .resources
            .borrow()
            .iter()
            .map(|r| format!("{}:{}", r.id.resource_type, r.id.resource))
            .collect();
        assert_eq!(
            got,
            [
                format!("user:{U}"),
                format!("group:{G}"),
                format!("population:{A1}")
            ]
        );
        // Group and population with their entitlement, grants left to
        // their own task, as a single read puts them.
        assert_eq!(h.entitlements.borrow().len(), 2);
        assert!(
            h.skipped
                .borrow()
                .iter()
                .all(|(_, s)| s.list_entitlements && !s.list_grants)
        );
        // Roles are not read singly.
        let e = with(&h, |cx| get_many(cx, &a_api(&h), &[resource_id(ROLE, G)])).unwrap_err();
        assert!(matches!(e, ConnectorError::InvalidArgument(_)));
    }
}
