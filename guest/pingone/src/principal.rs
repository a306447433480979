//! Principals' grants (contract 0.1.3 `change-feed.list-principal-grants`
//! and 0.1.4 `batched-change-feed.list-principal-grants`): exactly the
//! grants a full sync gives each principal, read from the principal's side,
//! within a scope.
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
//! Reads for a call's users, only those its scope needs: their rows
//! (population) with one `GET /users?filter=id eq … or …` per
//! [`IDS_PER_FILTER`] users; each user's `memberOfGroups?expand=group`
//! (every row, DIRECT and INDIRECT, with the group's filter); for each
//! dynamic group in scope, one `GET /users?filter=(<userFilter>) and (id eq
//! … or …)` for the call's users that have a row for it; each user's role
//! assignments. Per-user reads go out in one batch. Should PingOne refuse a
//! filter, the full sync's fallback rule applies: a direct member keeps its
//! direct grant, and one neither direct nor in a group nested in the
//! dynamic group gets the dynamic grant (the nested groups are found from
//! the parents of the user's other groups). Groups: their parents and role
//! assignments, as the scope needs.
//!
//! Only grants within the scope are uploaded. A principal that is gone has
//! no grants: nothing is uploaded for it.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use connector_sdk::{ConnectorError, Context, GrantScope, ResourceId, resource_id};
use serde::Deserialize;

use crate::client::api::{Api, BIG_PAGE};
use crate::client::idpage::parse_id_page;
use crate::client::ids::checked;
use crate::client::model::{Group, GroupMembership, IdOnly, RoleAssignment};
use crate::client::paging::{ListError, parse_page};
use crate::membership::members::{
    DynamicGrant, NESTED_METADATA, dynamic_query, push_direct, push_dynamic,
};
use crate::resources::get::{IDS_PER_FILTER, read_users};
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

/// Every grant `principal` holds (contract 0.1.3).
pub fn list_principal_grants(
    cx: &Context,
    api: &Api,
    principal: &ResourceId,
) -> Result<Option<String>, ConnectorError> {
    let all = GrantScope::of_types(&[POPULATION, GROUP, ROLE]);
    list_scoped(cx, api, std::slice::from_ref(principal), &all)
}

/// The grants within `scope` that each of `principals` holds, in one call.
pub fn list_scoped(
    cx: &Context,
    api: &Api,
    principals: &[ResourceId],
    scope: &GrantScope,
) -> Result<Option<String>, ConnectorError> {
    let mut users: Vec<&str> = Vec::new();
    let mut groups: Vec<&str> = Vec::new();
    for p in principals {
        let (list, id) = match p.resource_type.as_str() {
            USER => (&mut users, checked("user id", &p.resource)?),
            GROUP => (&mut groups, checked("group id", &p.resource)?),
            POPULATION | ROLE => continue,
            other => {
                return Err(ConnectorError::InvalidArgument(format!(
                    "no grants are listed for principals of type {other:?}"
                )));
            }
        };
        if !list.contains(&id) {
            list.push(id);
        }
    }
    let mut out = Out::new();
    if !users.is_empty() {
        user_grants(cx, api, &users, scope, &mut out)?;
    }
    if !groups.is_empty() {
        group_grants(cx, api, &groups, scope, &mut out)?;
    }
    out.retain_grants(|r| scope.covers(r));
    out.flush(cx)?;
    Ok(None)
}

fn not_found(e: &ListError) -> bool {
    matches!(e.error, ConnectorError::NotFound(_))
}

/// Every page of one listing per id, batched: `None` for an id whose
/// object is gone (404).
fn per_id<T>(
    api: &Api,
    key: &str,
    jobs: Vec<(String, String)>,
    parse: impl Fn(
        &connector_sdk::http::Response,
        &str,
        &str,
    ) -> Result<crate::client::paging::Page<T>, ConnectorError>,
) -> Result<Vec<Option<Vec<T>>>, ConnectorError> {
    api.list_all_with(key, jobs, parse)
        .into_iter()
        .map(|res| match res {
            Ok(items) => Ok(Some(items)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e.error),
        })
        .collect()
}

/// When `wanted`, one listing per id (`job` gives its URL and what it
/// reads), with an id PingOne no longer has marked in `gone`; else nothing
/// read and every list empty.
fn each_id<T>(
    api: &Api,
    wanted: bool,
    ids: &[&str],
    gone: &mut [bool],
    key: &str,
    job: impl Fn(&str) -> (String, String),
    parse: impl Fn(
        &connector_sdk::http::Response,
        &str,
        &str,
    ) -> Result<crate::client::paging::Page<T>, ConnectorError>,
) -> Result<Vec<Vec<T>>, ConnectorError> {
    if !wanted {
        return Ok(ids.iter().map(|_| Vec::new()).collect());
    }
    let jobs = ids.iter().map(|id| job(id)).collect();
    Ok(per_id(api, key, jobs, parse)?
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            gone[i] |= r.is_none();
            r.unwrap_or_default()
        })
        .collect())
}

/// What a call learnt of one dynamic group in scope.
struct Dynamic<'a> {
    group: &'a Group,
    filter: &'a str,
    /// Users of the call with a row for it (indexes).
    users: Vec<usize>,
    /// Of those, the ones its filter selects.
    selected: HashSet<usize>,
    /// PingOne refused its filter as a users filter.
    refused: bool,
}

fn user_grants(
    cx: &Context,
    api: &Api,
    ids: &[&str],
    scope: &GrantScope,
    out: &mut Out,
) -> Result<(), ConnectorError> {
    let env = api.environment();
    let mut gone = vec![false; ids.len()];
    let rows: Vec<Vec<Row>> = each_id(
        api,
        scope.touches_type(GROUP),
        ids,
        &mut gone,
        "groupMemberships",
        |id| {
            (
                format!("{env}/users/{id}/memberOfGroups?expand=group&limit={BIG_PAGE}"),
                format!("listing the groups of user {id} (GET /users/{{id}}/memberOfGroups)"),
            )
        },
        parse_page::<Row>,
    )?;
    let assignments: Vec<Vec<RoleAssignment>> = each_id(
        api,
        scope.touches_type(ROLE),
        ids,
        &mut gone,
        "roleAssignments",
        |id| {
            (
                api.user_role_assignments(id),
                format!("listing the role assignments of user {id}"),
            )
        },
        parse_page::<RoleAssignment>,
    )?;
    let populations: Option<Vec<Option<String>>> = if scope.touches_type(POPULATION) {
        let found = read_users(api, ids)?;
        Some(
            ids.iter()
                .enumerate()
                .map(|(i, id)| match found.get(*id) {
                    Some(u) => u.population.as_ref().map(|p| p.id.clone()),
                    None => {
                        gone[i] = true;
                        None
                    }
                })
                .collect(),
        )
    } else {
        None
    };

    let dynamic = dynamic_checks(cx, api, ids, &rows, &gone, scope)?;
    // A refused filter: the groups nested in it that hold the user are
    // the user's groups whose parents include it.
    let needs_parents: Vec<usize> = (0..ids.len())
        .filter(|i| dynamic.iter().any(|d| d.refused && d.users.contains(i)))
        .collect();
    let nested_in = nested_parents(api, &rows, &needs_parents)?;

    if let Some(pops) = &populations {
        for (i, p) in pops.iter().enumerate() {
            let Some(p) = p.as_deref().filter(|_| !gone[i]) else {
                continue;
            };
            let key = SetKey {
                resource_type: POPULATION,
                resource: p,
                slug: "member",
                principal_type: USER,
                expansion: None,
                immutable_reason: Some(POPULATION_REASON),
                metadata_json: None,
            };
            out.grant_in_set(&key, ids[i].to_string());
        }
    }
    for (i, user_rows) in rows.iter().enumerate() {
        if gone[i] {
            continue;
        }
        let id = ids[i];
        for r in user_rows {
            if !scope.covers(&resource_id(GROUP, &r.id)) {
                continue;
            }
            match dynamic.iter().find(|d| d.group.id == r.id) {
                Some(d) if d.selected.contains(&i) => {
                    push_dynamic(out, &r.id, id.to_string(), &DynamicGrant::new(d.filter));
                }
                Some(d) if d.refused => {
                    let nested = nested_in.get(&i).is_some_and(|ps| ps.contains(&r.id));
                    if r.direct() {
                        push_direct(out, &r.id, id);
                    } else if !nested {
                        push_dynamic(out, &r.id, id.to_string(), &DynamicGrant::new(d.filter));
                    }
                }
                _ if r.direct() => push_direct(out, &r.id, id),
                _ => {}
            }
        }
    }
    for (i, a) in assignments.iter().enumerate() {
        if !gone[i] && !a.is_empty() {
            roles::push_assignment_grants(
                cx,
                out,
                &resource_id(USER, ids[i]),
                a,
                None,
                api.env_id(),
            );
        }
    }
    Ok(())
}

/// Whether each dynamic group in scope selects the call's users that have
/// a row for it: one filtered request per group and [`IDS_PER_FILTER`]
/// users, in one batch.
fn dynamic_checks<'a>(
    cx: &Context,
    api: &Api,
    ids: &[&str],
    rows: &'a [Vec<Row>],
    gone: &[bool],
    scope: &GrantScope,
) -> Result<Vec<Dynamic<'a>>, ConnectorError> {
    let mut dynamic: Vec<Dynamic<'a>> = Vec::new();
    for (i, user_rows) in rows.iter().enumerate() {
        if gone[i] {
            continue;
        }
        for r in user_rows {
            let Some(g) = r.embedded.as_ref().and_then(|e| e.group.as_ref()) else {
                continue;
            };
            let Some(filter) = g.dynamic_filter() else {
                continue;
            };
            if !scope.covers(&resource_id(GROUP, &r.id)) {
                continue;
            }
            match dynamic.iter_mut().find(|d| d.group.id == r.id) {
                Some(d) => d.users.push(i),
                None => dynamic.push(Dynamic {
                    group: g,
                    filter,
                    users: vec![i],
                    selected: HashSet::new(),
                    refused: false,
                }),
            }
        }
    }
    let mut jobs = Vec::new();
    let mut of_job = Vec::new();
    for (di, d) in dynamic.iter().enumerate() {
        let within = dynamic_query(d.filter, d.group.population.as_ref().map(|p| p.id.as_str()));
        for chunk in d.users.chunks(IDS_PER_FILTER) {
            let ids_filter = chunk
                .iter()
                .map(|&i| format!("id eq \"{}\"", ids[i]))
                .collect::<Vec<_>>()
                .join(" or ");
            jobs.push((
                api.users_filtered(&format!("({within}) and ({ids_filter})")),
                format!(
                    "checking the dynamic filter of group {} for {} users",
                    d.group.id,
                    chunk.len()
                ),
            ));
            of_job.push(di);
        }
    }
    for (di, res) in
        of_job
            .into_iter()
            .zip(api.list_all_with("users", jobs, parse_id_page::<IdOnly>))
    {
        let d = &mut dynamic[di];
        match res {
            Ok(users) => {
                let hits: Vec<usize> = d
                    .users
                    .iter()
                    .copied()
                    .filter(|&i| users.iter().any(|u| u.id == ids[i]))
                    .collect();
                d.selected.extend(hits);
            }
            Err(e) if e.invalid_filter => {
                if !d.refused {
                    cx.log(
                        connector_sdk::Level::Debug,
                        format!(
                            "group {}: PingOne refused its userFilter ({}); its members are \
                             settled by the fallback rule",
                            d.group.id,
                            e.error.message()
                        ),
                    );
                }
                d.refused = true;
            }
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(e.error),
        }
    }
    Ok(dynamic)
}

/// For each user of `which`, the parents of every group in its rows (one
/// read per group, shared by the users, in one batch).
fn nested_parents(
    api: &Api,
    rows: &[Vec<Row>],
    which: &[usize],
) -> Result<HashMap<usize, HashSet<String>>, ConnectorError> {
    let mut groups: Vec<&str> = Vec::new();
    for &i in which {
        for r in &rows[i] {
            if !groups.contains(&r.id.as_str()) {
                groups.push(&r.id);
            }
        }
    }
    let jobs = groups
        .iter()
        .map(|g| {
            (
                api.group_parents(g),
                format!("GET /groups/{g}/memberOfGroups"),
            )
        })
        .collect();
    let parents: Vec<Vec<String>> = per_id(
        api,
        "groupMemberships",
        jobs,
        parse_id_page::<GroupMembership>,
    )?
    .into_iter()
    .map(|ps| ps.unwrap_or_default().into_iter().map(|p| p.id).collect())
    .collect();
    let mut out = HashMap::with_capacity(which.len());
    for &i in which {
        let mut set = HashSet::new();
        for r in &rows[i] {
            if let Some(gi) = groups.iter().position(|g| *g == r.id) {
                set.extend(parents[gi].iter().cloned());
            }
        }
        out.insert(i, set);
    }
    Ok(out)
}

fn group_grants(
    cx: &Context,
    api: &Api,
    ids: &[&str],
    scope: &GrantScope,
    out: &mut Out,
) -> Result<(), ConnectorError> {
    let mut gone = vec![false; ids.len()];
    let parents: Vec<Vec<GroupMembership>> = each_id(
        api,
        scope.touches_type(GROUP),
        ids,
        &mut gone,
        "groupMemberships",
        |id| {
            (
                api.group_parents(id),
                format!("listing the parents of group {id} (GET /groups/{{id}}/memberOfGroups)"),
            )
        },
        parse_id_page::<GroupMembership>,
    )?;
    let assignments: Vec<Vec<RoleAssignment>> = each_id(
        api,
        scope.touches_type(ROLE),
        ids,
        &mut gone,
        "roleAssignments",
        |id| {
            (
                api.group_role_assignments(id),
                format!("listing the role assignments of group {id}"),
            )
        },
        parse_page::<RoleAssignment>,
    )?;
    for (i, id) in ids.iter().enumerate() {
        if gone[i] {
            continue;
        }
        for p in &parents[i] {
            out.grant(
                resource_id(GROUP, &p.id),
                "member",
                resource_id(GROUP, id),
                Some(group_expansion(id, &[])),
                None,
                Some(NESTED_METADATA.to_string()),
            );
        }
        if !assignments[i].is_empty() {
            roles::push_assignment_grants(
                cx,
                out,
                &resource_id(GROUP, id),
                &assignments[i],
                Some(group_expansion(id, &[USER])),
                api.env_id(),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{A1, A2, A3, G, U, X, grant_ids, host, ok, page, settings, urls, with};
    use serde_json::json;

    #[test]
    fn a_scope_reads_only_what_it_covers_and_checks_filters_in_one_request() {
        let a = urls();
        let env = a.environment();
        let f = "title eq \"Boss\"";
        let rows = |dynamic_direct: &str| {
            json!([
                {"id": G, "type": "DIRECT", "_embedded": {"group": {"id": G, "name": "g"}}},
                {"id": X, "type": "DIRECT", "_embedded": {"group": {"id": X, "name": "x"}}},
                {"id": A3, "type": dynamic_direct, "_embedded": {"group": {"id": A3, "name": "d", "userFilter": f}}},
            ])
        };
        let rows_url = |u: &str| format!("{env}/users/{u}/memberOfGroups?expand=group&limit=1000");
        let h = host(vec![
            (
                rows_url(U),
                ok(page("groupMemberships", rows("DIRECT"), None)),
            ),
            (
                rows_url(A2),
                ok(page("groupMemberships", rows("INDIRECT"), None)),
            ),
            (
                a.users_filtered(&format!("({f}) and (id eq \"{U}\" or id eq \"{A2}\")")),
                ok(page("users", json!([{"id": A2}]), None)),
            ),
        ]);
        // Groups G and A3 only: no user rows, no role assignments, and one
        // filter check for both users.
        let scope = GrantScope::of_resources(vec![resource_id(GROUP, G), resource_id(GROUP, A3)]);
        let s = settings();
        let principals = [resource_id(USER, U), resource_id(USER, A2)];
        with(&h, |cx| {
            list_scoped(cx, &Api::new(&h, &s), &principals, &scope)
        })
        .unwrap();
        let mut got = grant_ids(&h);
        got.sort();
        let mut want = vec![
            format!("group:{G}:member:user:{U}"),
            format!("group:{G}:member:user:{A2}"),
            // U direct in the dynamic group, not selected: direct.
            format!("group:{A3}:member:user:{U}"),
            // A2 selected: the dynamic grant.
            format!("group:{A3}:member:user:{A2}"),
        ];
        want.sort();
        assert_eq!(got, want);
        assert_eq!(h.requests.borrow().len(), 3);
        let immutable: Vec<String> = h
            .grants
            .borrow()
            .iter()
            .filter(|g| g.immutable_reason.is_some())
            .map(|g| g.principal.resource.clone())
            .collect();
        assert_eq!(immutable, [A2]);

        // Population only: one users request for both, nothing else.
        let h = host(vec![(
            a.users_filtered(&format!("id eq \"{U}\" or id eq \"{A2}\"")),
            ok(page(
                "users",
                json!([{"id": U, "population": {"id": A1}}]),
                None,
            )),
        )]);
        let scope = GrantScope::of_types(&[POPULATION]);
        with(&h, |cx| {
            list_scoped(cx, &Api::new(&h, &s), &principals, &scope)
        })
        .unwrap();
        // A2 is gone: nothing for it.
        assert_eq!(grant_ids(&h), [format!("population:{A1}:member:user:{U}")]);
    }
}
