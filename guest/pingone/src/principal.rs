//! One principal's grants (contract 0.1.3
//! `change-feed.list-principal-grants`): exactly the grants a full sync
//! gives that principal, read from the principal's side.
//!
//! What a full sync grants (see the README's grants table):
//! - a user: its population's `member` (immutable); `member` of each group
//!   it is a DIRECT member of; of each dynamic group whose filter (within
//!   the group's population) selects it, the immutable dynamic grant
//!   instead (whether or not it is also direct); nothing for a group it
//!   reaches only through a nested group (Baton expands the nesting
//!   grant); one grant per (role, scope) of its role assignments.
//! - a group: `member` of each parent group (expandable over its own
//!   `member`); its role assignments (expandable to its users).
//! - populations and roles hold no grants.
//!
//! Reads for a user: the user (population), `memberOfGroups?expand=group`
//! (every row, DIRECT and INDIRECT, with the group's filter), role
//! assignments, and one `GET /users?filter=(<userFilter>) and id eq "<u>"`
//! per dynamic group it is in. Should PingOne refuse a filter, the full
//! sync's fallback rule applies: a direct member keeps its direct grant, and
//! one neither direct nor in a group nested in the dynamic group gets the
//! dynamic grant (the nested groups are found from the parents of the
//! user's other groups).
//!
//! A principal that is gone has no grants: nothing is uploaded.

use connector_sdk::{ConnectorError, Context, ResourceId, resource_id};
use serde::Deserialize;

use crate::client::api::{Api, BIG_PAGE};
use crate::client::errors;
use crate::client::idpage::parse_id_page;
use crate::client::ids::checked;
use crate::client::model::{Group, GroupMembership, IdOnly, RoleAssignment, User};
use crate::client::paging::{ListError, parse_one, parse_page};
use crate::membership::members::{
    DynamicGrant, NESTED_METADATA, dynamic_query, push_direct, push_dynamic,
};
use crate::resources::groups::group_expansion;
use crate::resources::roles;
use crate::resources::users::POPULATION_REASON;
use crate::upload::{Out, SetKey};
use crate::{GROUP, POPULATION, ROLE, USER};

/// A membership row with its group (`expand=group`).
#[derive(Debug, Deserialize)]
struct Row {
    id: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(rename = "_embedded")]
    embedded: Option<Embedded>,
}

#[derive(Debug, Deserialize)]
struct Embedded {
    group: Option<Group>,
}

impl Row {
    fn direct(&self) -> bool {
        self.kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case("DIRECT"))
    }
}

pub fn list_principal_grants(
    cx: &Context,
    api: &Api,
    principal: &ResourceId,
) -> Result<Option<String>, ConnectorError> {
    let mut out = Out::new();
    match principal.resource_type.as_str() {
        USER => user_grants(cx, api, &principal.resource, &mut out)?,
        GROUP => group_grants(cx, api, &principal.resource, &mut out)?,
        POPULATION | ROLE => {}
        other => {
            return Err(ConnectorError::InvalidArgument(format!(
                "no grants are listed for principals of type {other:?}"
            )));
        }
    }
    out.flush(cx)?;
    Ok(None)
}

fn not_found(e: &ListError) -> bool {
    matches!(e.error, ConnectorError::NotFound(_))
}

fn user_grants(cx: &Context, api: &Api, id: &str, out: &mut Out) -> Result<(), ConnectorError> {
    let id = checked("user id", id)?;
    let env = api.environment();
    let what = format!("reading user {id} (GET /users/{{id}})");
    let resp = api.send(&format!("{env}/users/{id}"), &what)?;
    if resp.status == 404 {
        return Ok(());
    }
    errors::check(&resp, &what)?;
    let user: User = parse_one(&resp, &what)?;
    let rows_url = format!("{env}/users/{id}/memberOfGroups?expand=group&limit={BIG_PAGE}");
    let jobs = vec![(
        rows_url,
        format!("listing the groups of user {id} (GET /users/{{id}}/memberOfGroups)"),
    )];
    let rows: Vec<Row> = match api
        .list_all_with("groupMemberships", jobs, parse_page::<Row>)
        .pop()
        .unwrap_or_else(|| Ok(Vec::new()))
    {
        Ok(r) => r,
        Err(e) if not_found(&e) => return Ok(()),
        Err(e) => return Err(e.error),
    };
    let assignments: Vec<RoleAssignment> = match api.list_one(
        "roleAssignments",
        api.user_role_assignments(id),
        &format!("listing the role assignments of user {id}"),
    ) {
        Ok(a) => a,
        Err(e) if not_found(&e) => return Ok(()),
        Err(e) => return Err(e.error),
    };

    // Each dynamic group the user is in: does its filter select the user?
    let dynamic: Vec<(&Row, &Group, &str)> = rows
        .iter()
        .filter_map(|r| {
            let g = r.embedded.as_ref()?.group.as_ref()?;
            Some((r, g, g.dynamic_filter()?))
        })
        .collect();
    let jobs: Vec<(String, String)> = dynamic
        .iter()
        .map(|(_, g, f)| {
            let q = format!(
                "({}) and id eq \"{id}\"",
                dynamic_query(f, g.population.as_ref().map(|p| p.id.as_str()))
            );
            (
                api.users_filtered(&q),
                format!(
                    "checking the dynamic filter of group {} for user {id}",
                    g.id
                ),
            )
        })
        .collect();
    let checks = api.list_all_with("users", jobs, parse_id_page::<IdOnly>);
    let mut refused: Vec<usize> = Vec::new();
    let mut selected: Vec<bool> = Vec::with_capacity(dynamic.len());
    for (i, res) in checks.into_iter().enumerate() {
        match res {
            Ok(users) => selected.push(users.iter().any(|u| u.id == id)),
            Err(e) if e.invalid_filter => {
                refused.push(i);
                selected.push(false);
            }
            Err(e) if not_found(&e) => selected.push(false),
            Err(e) => return Err(e.error),
        }
    }
    // A refused filter: is the user in a group nested in that group?
    let nested_in = if refused.is_empty() {
        Vec::new()
    } else {
        nested_parents(api, &rows)?
    };

    if let Some(p) = user.population.as_ref() {
        let key = SetKey {
            resource_type: POPULATION,
            resource: &p.id,
            slug: "member",
            principal_type: USER,
            expansion: None,
            immutable_reason: Some(POPULATION_REASON),
            metadata_json: None,
        };
        out.grant_in_set(&key, id.to_string());
    }
    for r in &rows {
        let d = dynamic.iter().position(|(row, _, _)| std::ptr::eq(*row, r));
        match d {
            Some(i) if selected[i] => {
                push_dynamic(out, &r.id, id.to_string(), &DynamicGrant::new(dynamic[i].2));
            }
            Some(i) if refused.contains(&i) => {
                if r.direct() {
                    push_direct(out, &r.id, id);
                } else if !nested_in.iter().any(|p| p == &r.id) {
                    push_dynamic(out, &r.id, id.to_string(), &DynamicGrant::new(dynamic[i].2));
                }
            }
            _ if r.direct() => push_direct(out, &r.id, id),
            _ => {}
        }
    }
    roles::push_assignment_grants(
        cx,
        out,
        &resource_id(USER, id),
        &assignments,
        None,
        api.env_id(),
    );
    Ok(())
}

/// The parents of every group in `rows`: a group nested in g that holds
/// the user is one of the user's groups whose parents include g.
fn nested_parents(api: &Api, rows: &[Row]) -> Result<Vec<String>, ConnectorError> {
    let jobs = rows
        .iter()
        .map(|r| {
            (
                api.group_parents(&r.id),
                format!("GET /groups/{}/memberOfGroups", r.id),
            )
        })
        .collect();
    let mut parents = Vec::new();
    for res in api.list_all_with("groupMemberships", jobs, parse_id_page::<GroupMembership>) {
        match res {
            Ok(ps) => parents.extend(ps.into_iter().map(|p| p.id)),
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(e.error),
        }
    }
    Ok(parents)
}

fn group_grants(cx: &Context, api: &Api, id: &str, out: &mut Out) -> Result<(), ConnectorError> {
    let id = checked("group id", id)?;
    let parents_job = vec![(
        api.group_parents(id),
        format!("listing the parents of group {id} (GET /groups/{{id}}/memberOfGroups)"),
    )];
    let parents = match api
        .list_all_with(
            "groupMemberships",
            parents_job,
            parse_id_page::<GroupMembership>,
        )
        .pop()
        .unwrap_or_else(|| Ok(Vec::new()))
    {
        Ok(p) => p,
        Err(e) if not_found(&e) => return Ok(()),
        Err(e) => return Err(e.error),
    };
    let assignments: Vec<RoleAssignment> = match api.list_one(
        "roleAssignments",
        api.group_role_assignments(id),
        &format!("listing the role assignments of group {id}"),
    ) {
        Ok(a) => a,
        Err(e) if not_found(&e) => return Ok(()),
        Err(e) => return Err(e.error),
    };
    for p in parents {
        out.grant(
            resource_id(GROUP, &p.id),
            "member",
            resource_id(GROUP, id),
            Some(group_expansion(id, &[])),
            None,
            Some(NESTED_METADATA.to_string()),
        );
    }
    roles::push_assignment_grants(
        cx,
        out,
        &resource_id(GROUP, id),
        &assignments,
        Some(group_expansion(id, &[USER])),
        api.env_id(),
    );
    Ok(())
}
