//! Single-resource reads (contract 0.1.3 `resource-getter.get-resource`):
//! one user, group, population or role, uploaded exactly as its listing
//! uploads it, or `false` when PingOne has no such object (404).
//!
//! Decisions:
//! - A group or population goes with its `member` entitlement and a role
//!   with every scoped entitlement (the per-population ones need the
//!   populations: one more listing), each skipping both per-resource tasks
//!   as the listings do. So an incremental re-read replaces the resource
//!   and its entitlements and keeps the grants on the entitlements it still
//!   has: who holds them changes only through principal re-reads (users'
//!   and groups' grants), which the change feed asks for.
//! - A role id is looked up among the platform roles (`GET /roles/{id}`)
//!   and the environment's custom roles (`GET /environments/{env}/roles/{id}`)
//!   in one batch; a role is gone when neither has it.
//! - Ids are checked as PingOne ids before they go into a path.

use connector_sdk::{ConnectorError, Context, ResourceId, SkipTasks};

use crate::client::api::{Api, BIG_PAGE};
use crate::client::errors;
use crate::client::ids::checked;
use crate::client::model::{Group, Population, Role, User};
use crate::client::paging::parse_one;
use crate::resources::{groups, populations, roles, users};
use crate::tokens::{RoleEntitlements, RoleSpec};
use crate::upload::Out;
use crate::{GROUP, POPULATION, ROLE, USER};

/// The types [`get`] reads.
pub const TYPES: &[&str] = &[USER, GROUP, POPULATION, ROLE];

pub fn get(cx: &Context, api: &Api, id: &ResourceId) -> Result<bool, ConnectorError> {
    let env = api.environment();
    let mut out = Out::new();
    match id.resource_type.as_str() {
        USER => {
            let uid = checked("user id", &id.resource)?;
            let Some(u) = read::<User>(api, &format!("{env}/users/{uid}"), "user", uid)? else {
                return Ok(false);
            };
            out.resources.push(users::user_resource(&u));
        }
        GROUP => {
            let gid = checked("group id", &id.resource)?;
            let Some(g) = read::<Group>(api, &format!("{env}/groups/{gid}"), "group", gid)? else {
                return Ok(false);
            };
            out.skip = SkipTasks::BOTH;
            let r = groups::group_resource(&g);
            let e = groups::member_entitlement(&r.id);
            out.listed(r, [e]);
        }
        POPULATION => {
            let pid = checked("population id", &id.resource)?;
            let url = format!("{env}/populations/{pid}");
            let Some(p) = read::<Population>(api, &url, "population", pid)? else {
                return Ok(false);
            };
            out.skip = SkipTasks::BOTH;
            let r = populations::population_resource(&p);
            let e = populations::member_entitlement(&r.id);
            out.listed(r, [e]);
        }
        ROLE => {
            let rid = checked("role id", &id.resource)?;
            let Some(role) = read_role(api, rid)? else {
                return Ok(false);
            };
            let pops: Vec<(String, String)> = if roles::applicable_scopes(&role)
                .iter()
                .any(|s| s == "POPULATION")
            {
                api.list_one::<Population>(
                    "populations",
                    api.populations(BIG_PAGE),
                    "listing populations for role scopes (GET /populations)",
                )
                .map_err(|e| e.error)?
                .into_iter()
                .map(|p| {
                    let name = p.name.clone().unwrap_or_else(|| p.id.clone());
                    (p.id, name)
                })
                .collect()
            } else {
                Vec::new()
            };
            let work = RoleEntitlements {
                base: true,
                pops,
                roles: vec![RoleSpec {
                    id: role.id.clone(),
                    name: role
                        .name
                        .clone()
                        .filter(|n| !n.trim().is_empty())
                        .unwrap_or_else(|| role.id.clone()),
                    scopes: roles::applicable_scopes(&role),
                }],
            };
            out.skip = SkipTasks::BOTH;
            out.listed(
                roles::role_resource(&role),
                roles::scoped_entitlements(api.env_id(), &work),
            );
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

fn read_role(api: &Api, id: &str) -> Result<Option<Role>, ConnectorError> {
    let urls = [
        format!("{}/roles/{id}", api.settings.api_base),
        format!("{}/roles/{id}", api.environment()),
    ];
    let what = format!("reading role {id}");
    for res in api.send_all(&urls, &what) {
        let resp = res?;
        if resp.status == 404 {
            continue;
        }
        errors::check(&resp, &what)?;
        return parse_one(&resp, &what).map(Some);
    }
    Ok(None)
}
