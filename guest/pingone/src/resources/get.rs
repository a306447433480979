//! Single-resource reads (contract 0.1.3 `resource-getter.get-resource`)
//! and the per-resource grant listings they promise.
//!
//! Decisions:
//! - A user, group or population is read by id and uploaded exactly as its
//!   listing uploads it, or `false` when PingOne has no such object (404).
//!   Ids are checked as PingOne ids before they go into a path.
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

use connector_sdk::{ConnectorError, Context, PageOutcome, ResourceId, SkipTasks, resource_id};

use crate::client::api::{Api, BIG_PAGE};
use crate::client::errors;
use crate::client::idpage::parse_id_page;
use crate::client::ids::checked;
use crate::client::model::{Group, GroupMembership, IdOnly, Population, User};
use crate::client::paging::{Page, next_page, parse_one};
use crate::membership::members::NESTED_METADATA;
use crate::membership::plan::plan;
use crate::resources::groups::group_expansion;
use crate::resources::users::POPULATION_REASON;
use crate::resources::{groups, populations, users};
use crate::tokens::{Mode, Work};
use crate::upload::{Out, SetKey};
use crate::{GROUP, POPULATION, USER};

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
    let all: Vec<IdOnly> = api
        .list_one(
            "groups",
            api.groups(BIG_PAGE),
            "listing groups (GET /groups)",
        )
        .map_err(|e| e.error)?;
    let jobs = all
        .iter()
        .map(|c| {
            (
                api.group_parents(&c.id),
                format!("GET /groups/{}/memberOfGroups", c.id),
            )
        })
        .collect();
    let mut edges = Vec::new();
    for (c, res) in all.iter().zip(api.list_all_with(
        "groupMemberships",
        jobs,
        parse_id_page::<GroupMembership>,
    )) {
        match res {
            Ok(parents) if parents.iter().any(|p| p.id == gid) => {
                edges.push((c.id.clone(), gid.to_string()));
            }
            Ok(_) => {}
            Err(e) if matches!(e.error, ConnectorError::NotFound(_)) => {}
            Err(e) => return Err(e.error),
        }
    }
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
