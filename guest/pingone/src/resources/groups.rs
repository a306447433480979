//! Groups: `group` resources with their `member` entitlement, the nestings
//! between them, their role assignments, and membership granted and
//! revoked.
//!
//! Children are only known once every group's parents are read
//! (`GET /groups/{id}/memberOfGroups`, one request per group: there is no
//! bulk nesting listing). So the groups listing reads the parents of each
//! page's groups in one `send_batch` and carries the edges from page to
//! page; on the last page it plans every group (when the groups fit one page
//! of 200) or starts a second, cheap pass over `GET /groups?limit=1000` that
//! plans each page with every edge known. Each groups page also queues the
//! reads of its groups' role assignments (one request per group, batched a
//! task of [`GROUPS_PER_ROLES_TASK`] groups at a time); the page puts its
//! groups with their `member` entitlement and tells the host to ask no
//! per-group task (contract 0.1.2). That task, without a page token, is
//! left to the host only by a single read, and lists every grant on the
//! group ([`crate::resources::get`]).
//!
//! Which member listings and checks then settle each group's direct
//! members is the membership plan's ([`crate::membership`]).

use connector_sdk::http::{Request, Response};
use connector_sdk::{
    ConnectorError, Context, Entitlement, GrantExpansion, GrantResult, GroupTrait, Level,
    PageOutcome, Resource, ResourceId, ResourceTrait, RevokeResult, SkipTasks, SyncTask,
    entitlement_id, resource_id,
};
use serde_json::{Map, Value, json};

use crate::client::api::{Api, BIG_PAGE};
use crate::client::errors;
use crate::client::failure::{self, send_write};
use crate::client::idpage::parse_id_page;
use crate::client::model::{Group, GroupMembership, RoleAssignment};
use crate::client::paging::{Page, next_page, parse_page};
use crate::membership::members::NESTED_METADATA;
use crate::membership::plan::{choose_mode, grants_task, plan};
use crate::resources::{finish, member, named_resource, principal_url, roles};
use crate::tokens::{EDGE_BUDGET, GroupsChain, Mode, Sweep, Work};
use crate::upload::Out;
use crate::{GROUP, USER};

/// Groups per page in pass 1 (each costs a parents request in the same call).
pub const PASS1_PAGE: u32 = 200;

/// Edges per nesting follow-up task.
const EDGES_PER_TASK: usize = 400;

/// Groups whose role assignments one task reads: one `send_batch` of the
/// host's usual batch size.
pub const GROUPS_PER_ROLES_TASK: usize = 100;

pub fn member_entitlement(group: &ResourceId) -> Entitlement {
    let description = "Member of the PingOne group: direct members, nested groups and the \
                       members its dynamic filter selects";
    member(group, description, &[USER, GROUP], false)
}

pub fn group_resource(g: &Group) -> Resource {
    let mut profile = Map::new();
    profile.insert("groupId".into(), json!(g.id));
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            profile.insert(k.to_string(), v);
        }
    };
    put("populationId", g.population.as_ref().map(|p| json!(p.id)));
    put("userFilter", g.dynamic_filter().map(Value::from));
    put("dynamic", Some(json!(g.dynamic_filter().is_some())));
    put("externalId", g.external_id.clone().map(Value::from));
    put("sourceType", g.source_type.clone().map(Value::from));
    put("customData", g.custom_data.clone());
    put("createdAt", g.created_at.clone().map(Value::from));
    put("updatedAt", g.updated_at.clone().map(Value::from));
    let profile_json = Some(Value::Object(profile).to_string());
    named_resource(
        GROUP,
        &g.id,
        &g.name,
        &g.description,
        g.created_at.as_deref(),
        ResourceTrait::Group(GroupTrait { profile_json }),
    )
}

/// The expansion of a grant whose principal is group `g`.
pub fn group_expansion(group_id: &str, resource_types: &[&str]) -> GrantExpansion {
    GrantExpansion {
        entitlement_ids: vec![entitlement_id(&resource_id(GROUP, group_id), "member")],
        shallow: false,
        resource_type_ids: resource_types.iter().map(|s| s.to_string()).collect(),
    }
}

/// Pass 1: one page of groups, their parents, and (last page) the plan.
pub fn list(cx: &Context, api: &Api, token: Option<&str>) -> Result<PageOutcome, ConnectorError> {
    let mut chain = match token {
        None => GroupsChain {
            pass: 1,
            ..GroupsChain::default()
        },
        Some(t) => GroupsChain::decode(t)?,
    };
    let url = chain.next.take().unwrap_or_else(|| api.groups(PASS1_PAGE));
    let what = "listing groups (GET /groups)";
    let resp = api.get(&url, what)?;
    let page: Page<Group> = parse_page(&resp, "groups", what)?;

    let jobs = page
        .items
        .iter()
        .map(|g| {
            (
                api.group_parents(&g.id),
                format!("GET /groups/{}/memberOfGroups", g.id),
            )
        })
        .collect();
    let parents = api.list_all_with("groupMemberships", jobs, parse_id_page::<GroupMembership>);
    let mut edges = Vec::new();
    for (g, res) in page.items.iter().zip(parents) {
        let ps = match res {
            Ok(ps) => ps,
            // Deleted since the listing: no nesting to report.
            Err(e) if matches!(e.error, ConnectorError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e.error),
        };
        chain.nested_direct += g.direct_users().unwrap_or(0) * ps.len() as u64;
        edges.extend(ps.into_iter().map(|p| (g.id.clone(), p.id)));
        // Counts only steer the choice between two exact methods here: a
        // static group costs at least one page whatever its count says.
        match (g.dynamic_filter(), g.direct_users()) {
            (Some(_), _) => chain.dynamic.push(g.id.clone()),
            (None, d) => chain.static_pages += d.unwrap_or(1).div_ceil(200).max(1),
        }
    }
    chain.edge_count += edges.len() as u64;

    // Every grant of a group comes from the follow-ups (nesting, members,
    // role assignments): the host asks no per-group task.
    let mut out = Out::new();
    out.skip = SkipTasks::BOTH;
    for g in &page.items {
        let r = group_resource(g);
        let e = member_entitlement(&r.id);
        out.listed(r, [e]);
    }
    let mut follow_ups: Vec<SyncTask> = edges
        .chunks(EDGES_PER_TASK)
        .map(|c| grants_task(GROUP, Work::Nesting { edges: c.to_vec() }.encode()))
        .collect();
    follow_ups.extend(page.items.chunks(GROUPS_PER_ROLES_TASK).map(|c| {
        let groups = c.iter().map(|g| g.id.clone()).collect();
        grants_task(GROUP, Work::GroupRoles { groups }.encode())
    }));

    if !chain.overflow {
        chain.edges.extend(edges);
        if GroupsChain::edge_bytes(&chain.edges) > EDGE_BUDGET {
            cx.log(
                Level::Warn,
                format!(
                    "{} group nestings are too many to carry between pages; direct members of \
                     groups with members will be settled without knowing their nested groups \
                     (more requests)",
                    chain.edges.len()
                ),
            );
            chain.overflow = true;
            chain.edges.clear();
        }
    }
    let next = next_page(api, &url, &page, chain.empty, what)?;
    let next_page_token = match next {
        Some((next, empty)) => Some(
            GroupsChain {
                pass: 1,
                next: Some(next),
                empty,
                pages: chain.pages + 1,
                ..chain
            }
            .encode(),
        ),
        None => {
            chain.mode = choose_mode(cx, api, &chain)?;
            if chain.mode == Mode::ByUsers {
                let sweep = Sweep {
                    next: None,
                    empty: 0,
                    skip: chain.dynamic.clone(),
                };
                follow_ups.push(grants_task(GROUP, Work::Sweep(sweep).encode()));
            }
            if chain.pages == 0 {
                // Every group was on this page: plan them now.
                let edges = (!chain.overflow).then_some(chain.edges.as_slice());
                follow_ups.extend(plan(
                    &page.items,
                    edges,
                    chain.mode,
                    api.settings.exact_membership,
                ));
            } else {
                let pass2 = GroupsChain {
                    pass: 2,
                    next: None,
                    empty: 0,
                    pages: 0,
                    dynamic: Vec::new(),
                    ..chain
                };
                follow_ups.push(grants_task(GROUP, pass2.encode()));
            }
            None
        }
    };
    finish(cx, out, next_page_token, follow_ups)
}

/// Pass 2: re-list groups (1,000 a page) and plan each page with every edge known.
pub fn pass2(api: &Api, chain: GroupsChain) -> Result<PageOutcome, ConnectorError> {
    let url = chain.next.clone().unwrap_or_else(|| api.groups(BIG_PAGE));
    let what = "listing groups for membership planning (GET /groups)";
    let resp = api.get(&url, what)?;
    let page: Page<Group> = parse_page(&resp, "groups", what)?;
    let edges = (!chain.overflow).then_some(chain.edges.as_slice());
    let follow_ups = plan(
        &page.items,
        edges,
        chain.mode,
        api.settings.exact_membership,
    );
    let next = next_page(api, &url, &page, chain.empty, what)?.map(|(next, empty)| {
        GroupsChain {
            next: Some(next),
            empty,
            pages: chain.pages + 1,
            ..chain
        }
        .encode()
    });
    Ok(PageOutcome {
        next_page_token: next,
        follow_ups,
    })
}

/// Grants `group:<parent>:member` → `group:<child>`, expandable.
pub fn nesting_grants(
    cx: &Context,
    edges: &[(String, String)],
) -> Result<PageOutcome, ConnectorError> {
    let mut out = Out::new();
    for (child, parent) in edges {
        out.grant(
            resource_id(GROUP, parent),
            "member",
            resource_id(GROUP, child),
            Some(group_expansion(child, &[])),
            None,
            Some(NESTED_METADATA.to_string()),
        );
    }
    finish(cx, out, None, Vec::new())
}

/// The first page of many groups' role assignments, in one `send_batch`;
/// a group with more pages goes on in a follow-up of its own, a page a
/// call ([`role_grants`]).
pub fn role_grants_batch(
    cx: &Context,
    api: &Api,
    groups: &[String],
) -> Result<PageOutcome, ConnectorError> {
    let urls: Vec<String> = groups
        .iter()
        .map(|id| api.group_role_assignments(id))
        .collect();
    let results = api.send_all(&urls, "listing group role assignments");
    let mut out = Out::new();
    let mut follow_ups = Vec::new();
    for ((id, url), res) in groups.iter().zip(&urls).zip(results) {
        if let Some((next, empty)) = role_page(cx, api, &mut out, id, url, res?, 0)? {
            let mut task = grants_task(GROUP, Work::GroupRolesPage { next, empty }.encode());
            task.resource = Some(resource_id(GROUP, id));
            follow_ups.push(task);
        }
    }
    finish(cx, out, None, follow_ups)
}

/// A group's next page of role assignments, a page a call
/// ([`role_grants_batch`] reads the first pages; the per-group task
/// without a token is [`crate::resources::get::group_grants`]).
pub fn role_grants(
    cx: &Context,
    api: &Api,
    group: &ResourceId,
    token: Option<Work>,
) -> Result<PageOutcome, ConnectorError> {
    let (url, empty) = match token {
        None => return finish(cx, Out::new(), None, Vec::new()),
        Some(Work::GroupRolesPage { next, empty }) => (next, empty),
        Some(other) => return Err(crate::wrong_token("group role assignments", &other)),
    };
    let resp = api.send(&url, &role_listing(&group.resource))?;
    let mut out = Out::new();
    let next = role_page(cx, api, &mut out, &group.resource, &url, resp, empty)?
        .map(|(next, empty)| Work::GroupRolesPage { next, empty }.encode());
    finish(cx, out, next, Vec::new())
}

fn role_listing(group: &str) -> String {
    format!("listing role assignments of group {group} (GET /groups/{{id}}/roleAssignments)")
}

/// The grants of one page of group `id`'s role assignments, read from
/// `url`, and the page after it; a group deleted since the listing has
/// nothing to grant.
fn role_page(
    cx: &Context,
    api: &Api,
    out: &mut Out,
    id: &str,
    url: &str,
    resp: Response,
    empty: u32,
) -> Result<Option<(String, u32)>, ConnectorError> {
    if resp.status == 404 {
        cx.log(Level::Debug, format!("group {id} is gone"));
        return Ok(None);
    }
    let what = role_listing(id);
    errors::check(&resp, &what)?;
    let page: Page<RoleAssignment> = parse_page(&resp, "roleAssignments", &what)?;
    roles::push_assignment_grants(
        cx,
        out,
        &resource_id(GROUP, id),
        &page.items,
        Some(group_expansion(id, &[USER])),
        api.env_id(),
    );
    next_page(api, url, &page, empty, &what)
}

/// Adds a user to a group, or nests a group in it.
pub fn grant_member(
    api: &Api,
    group: &str,
    principal: &ResourceId,
) -> Result<GrantResult, ConnectorError> {
    let Some(url) = principal_url(api, principal, "/memberOfGroups")? else {
        return Err(ConnectorError::InvalidArgument(format!(
            "only users and groups can be group members, not {}",
            principal.resource_type
        )));
    };
    let what = match principal.resource_type.as_str() {
        USER => format!("adding user {} to group {group}", principal.resource),
        _ => format!("nesting group {} in group {group}", principal.resource),
    };
    // Safe to repeat after a 5xx or a lost response: PingOne refuses a
    // duplicate membership, which answers `already-exists` (applied once).
    let req = Request::post(url)
        .json(&json!({ "id": group }))
        .idempotent(true);
    let resp = send_write(api, req, &what)?;
    if errors::is_duplicate(&resp) {
        return Ok(GrantResult::AlreadyExists);
    }
    errors::check(&resp, &what)?;
    Ok(GrantResult::Granted)
}

/// Removes a user from a group, or un-nests a group from it.
pub fn revoke_member(
    api: &Api,
    group: &str,
    p: &ResourceId,
) -> Result<RevokeResult, ConnectorError> {
    let Some(url) = principal_url(api, p, &format!("/memberOfGroups/{group}"))? else {
        return Err(ConnectorError::InvalidArgument(format!(
            "no group membership of a {}",
            p.resource_type
        )));
    };
    let what = match p.resource_type.as_str() {
        USER => format!("removing user {} from group {group}", p.resource),
        _ => format!("un-nesting group {} from group {group}", p.resource),
    };
    failure::delete(api, &url, &what).map(|gone| {
        if gone {
            RevokeResult::AlreadyRevoked
        } else {
            RevokeResult::Revoked
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{grant_ids, group, host, kinds, ok, page, run, status, task, urls};
    use connector_sdk::SyncOp;

    #[test]
    fn nested_groups_are_expandable_grants() {
        let h = host(vec![]);
        let t = Work::Nesting {
            edges: vec![("child".into(), "parent".into())],
        }
        .encode();
        run(&h, task(SyncOp::ListGrants, GROUP, None, Some(t))).unwrap();
        assert_eq!(grant_ids(&h), ["group:parent:member:group:child"]);
        let g = &h.grants.borrow()[0];
        let x = g.expansion.as_ref().unwrap();
        assert_eq!(x.entitlement_ids, ["group:child:member"]);
        assert!(!x.shallow && g.immutable_reason.is_none());
    }

    #[test]
    fn group_role_assignments_expand_to_members() {
        let a = urls();
        let h = host(vec![(
            a.group_role_assignments("g1"),
            ok(page(
                "roleAssignments",
                json!([{"id": "ra", "role": {"id": "r"}, "scope": {"id": crate::testutil::ENV, "type": "ENVIRONMENT"}, "group": {"id": "g1"}}]),
                None,
            )),
        )]);
        let batch = Work::GroupRoles {
            groups: vec!["g1".into()],
        }
        .encode();
        run(&h, task(SyncOp::ListGrants, GROUP, None, Some(batch))).unwrap();
        assert_eq!(grant_ids(&h), ["role:r:assigned:group:g1"]);
        let x = h.grants.borrow()[0].expansion.clone().unwrap();
        assert_eq!(
            (x.entitlement_ids, x.resource_type_ids),
            (vec!["group:g1:member".to_string()], vec![USER.to_string()])
        );
        // A group deleted since the listing has no grants.
        let h = host(vec![(
            a.group_role_assignments("g2"),
            status(404, json!({"code": "NOT_FOUND"})),
        )]);
        let batch = Work::GroupRoles {
            groups: vec!["g2".into()],
        }
        .encode();
        run(&h, task(SyncOp::ListGrants, GROUP, None, Some(batch))).unwrap();
        assert!(h.grants.borrow().is_empty());
    }

    #[test]
    fn single_page_listing_reads_parents_and_plans() {
        let a = urls();
        let h = host(vec![
            (
                a.groups(PASS1_PAGE),
                ok(page(
                    "groups",
                    json!([
                        {"id": "p", "name": "Parent", "directMemberCounts": {"users": 1}},
                        {"id": "c", "name": "Child", "description": "kids", "directMemberCounts": {"users": 2}}
                    ]),
                    None,
                )),
            ),
            (
                a.group_parents("p"),
                ok(page("groupMemberships", json!([]), None)),
            ),
            (
                a.group_parents("c"),
                ok(page(
                    "groupMemberships",
                    json!([{"id": "p", "type": "DIRECT"}]),
                    None,
                )),
            ),
            (
                format!("{}/users?limit=1", a.environment()),
                ok(json!({"_embedded": {"users": [{"id": "u"}]}, "count": 500})),
            ),
        ]);
        let out = run(&h, task(SyncOp::ListResources, GROUP, None, None)).unwrap();
        assert!(out.next_page_token.is_none());
        assert_eq!(h.resources.borrow()[1].description.as_deref(), Some("kids"));
        let w = kinds(&out.follow_ups);
        assert!(
            matches!(&w[0], Work::Nesting { edges } if edges == &vec![("c".to_string(), "p".to_string())])
        );
        assert!(matches!(&w[1], Work::GroupRoles { groups } if groups == &["p", "c"]));
        assert!(
            matches!(&w[2], Work::Members { groups } if groups.len() == 1 && groups[0].group == "c")
        );
        assert!(matches!(&w[3], Work::Resolve(r) if r.groups[0].id == "p"));
        // Each group goes with its member entitlement, and the host is told
        // to ask no per-group task.
        let ents: Vec<String> = h
            .entitlements
            .borrow()
            .iter()
            .map(|e| format!("{}:{}", e.resource.resource, e.slug))
            .collect();
        assert_eq!(ents, ["p:member", "c:member"]);
        assert_eq!(
            *h.skipped.borrow(),
            [(
                vec!["group:p".to_string(), "group:c".to_string()],
                SkipTasks::BOTH
            )]
        );
    }

    #[test]
    fn role_assignments_of_many_groups_come_in_one_batch() {
        let a = urls();
        let next = format!("{}&cursor=2", a.group_role_assignments("g1"));
        let assignment = |id: &str, role: &str| json!({"id": id, "role": {"id": role}, "scope": {"type": "ENVIRONMENT", "id": crate::testutil::ENV}});
        let h = host(vec![
            (
                a.group_role_assignments("g1"),
                ok(page(
                    "roleAssignments",
                    json!([assignment("a1", "r1")]),
                    Some(&next),
                )),
            ),
            (
                next.clone(),
                ok(page(
                    "roleAssignments",
                    json!([assignment("a2", "r2")]),
                    None,
                )),
            ),
            (
                a.group_role_assignments("gone"),
                status(404, json!({"code": "NOT_FOUND"})),
            ),
            (
                a.group_role_assignments("g3"),
                ok(page("roleAssignments", json!([]), None)),
            ),
        ]);
        let token = Work::GroupRoles {
            groups: vec!["g1".into(), "gone".into(), "g3".into()],
        }
        .encode();
        let out = run(&h, task(SyncOp::ListGrants, GROUP, None, Some(token))).unwrap();
        // First pages in one batch; nothing for the vanished group.
        assert_eq!(h.requests.borrow().len(), 3);
        assert_eq!(grant_ids(&h), ["role:r1:assigned:group:g1"]);
        assert!(out.next_page_token.is_none());
        // g1's next page goes on in a follow-up of its own.
        let [f] = out.follow_ups.as_slice() else {
            panic!("{:?}", out.follow_ups)
        };
        assert_eq!(f.resource.as_ref().map(|r| r.resource.as_str()), Some("g1"));
        let out = run(&h, f.clone()).unwrap();
        assert!(out.next_page_token.is_none());
        assert_eq!(
            grant_ids(&h),
            ["role:r1:assigned:group:g1", "role:r2:assigned:group:g1"]
        );
        assert!(h.grants.borrow().iter().all(|g| g.expansion.is_some()));
    }

    #[test]
    fn multi_page_listing_carries_edges_to_a_second_pass() {
        let a = urls();
        let next = format!("{}&cursor=2", a.groups(PASS1_PAGE));
        let h = host(vec![
            (
                a.groups(PASS1_PAGE),
                ok(page(
                    "groups",
                    json!([{"id": "c", "directMemberCounts": {"users": 2}}]),
                    Some(&next),
                )),
            ),
            (
                a.group_parents("c"),
                ok(page("groupMemberships", json!([{"id": "p"}]), None)),
            ),
        ]);
        let out = run(&h, task(SyncOp::ListResources, GROUP, None, None)).unwrap();
        let t = out.next_page_token.unwrap();
        let chain = GroupsChain::decode(&t).unwrap();
        assert_eq!(chain.edges, vec![("c".to_string(), "p".to_string())]);
        assert_eq!(
            (chain.pages, chain.static_pages, chain.nested_direct),
            (1, 1, 2)
        );

        let h = host(vec![
            (
                next.clone(),
                ok(page(
                    "groups",
                    json!([{"id": "p", "directMemberCounts": {"users": 0}}]),
                    None,
                )),
            ),
            (
                a.group_parents("p"),
                ok(page("groupMemberships", json!([]), None)),
            ),
            (
                format!("{}/users?limit=1", a.environment()),
                ok(json!({"_embedded": {"users": []}, "count": 10})),
            ),
        ]);
        let out = run(&h, task(SyncOp::ListResources, GROUP, None, Some(t))).unwrap();
        assert!(out.next_page_token.is_none());
        let pass2 = out.follow_ups.last().unwrap().page_token.clone().unwrap();
        let chain = GroupsChain::decode(&pass2).unwrap();
        assert_eq!((chain.pass, chain.edges.len()), (2, 1));

        // Pass 2 plans with every edge known.
        let h = host(vec![(
            a.groups(BIG_PAGE),
            ok(page(
                "groups",
                json!([
                    {"id": "c", "directMemberCounts": {"users": 2}}, {"id": "p", "directMemberCounts": {"users": 4}}
                ]),
                None,
            )),
        )]);
        let out = run(&h, task(SyncOp::ListGrants, GROUP, None, Some(pass2))).unwrap();
        let w = kinds(&out.follow_ups);
        assert!(
            matches!(&w[0], Work::Members { groups } if groups.len() == 1 && groups[0].group == "c")
        );
        assert!(
            matches!(&w[1], Work::Resolve(r) if r.groups[0].children == Some(vec!["c".to_string()]))
        );
    }

    #[test]
    fn too_many_edges_switch_to_unknown_children() {
        let a = urls();
        let parents: Vec<Value> = (0..2_300)
            .map(|i| json!({"id": format!("00000000-0000-4000-8000-{i:012}"), "type": "DIRECT"}))
            .collect();
        let h = host(vec![
            (
                a.groups(PASS1_PAGE),
                ok(page(
                    "groups",
                    json!([{"id": "c", "directMemberCounts": {"users": 2}}]),
                    None,
                )),
            ),
            (
                a.group_parents("c"),
                ok(page("groupMemberships", Value::Array(parents), None)),
            ),
            (
                format!("{}/users?limit=1", a.environment()),
                ok(json!({"_embedded": {"users": []}, "count": 100000})),
            ),
        ]);
        let out = run(&h, task(SyncOp::ListResources, GROUP, None, None)).unwrap();
        assert!(
            h.logs
                .borrow()
                .iter()
                .any(|(l, m)| *l == Level::Warn && m.contains("too many to carry"))
        );
        let w = kinds(&out.follow_ups);
        let nest: usize = w
            .iter()
            .map(|w| {
                if let Work::Nesting { edges } = w {
                    edges.len()
                } else {
                    0
                }
            })
            .sum();
        assert_eq!(
            nest, 2_300,
            "nesting grants do not depend on carrying edges"
        );
        let Some(Work::Resolve(r)) = w.last() else {
            panic!("{:?}", w.last())
        };
        assert_eq!(
            (r.groups[0].id.as_str(), r.groups[0].children.is_none()),
            ("c", true)
        );
    }

    #[test]
    fn group_profile_keeps_the_dynamic_filter() {
        let r = group_resource(&group(
            json!({"id": "g", "name": "Sales", "userFilter": "a eq \"b\"", "population": {"id": "p"}, "externalId": "ad", "sourceType": "IDP", "directMemberCounts": {"users": 4}}),
        ));
        let Some(ResourceTrait::Group(t)) = r.trait_ else {
            panic!()
        };
        let p: Value = serde_json::from_str(&t.profile_json.unwrap()).unwrap();
        assert_eq!(
            p,
            json!({"groupId": "g", "populationId": "p", "userFilter": "a eq \"b\"", "dynamic": true, "externalId": "ad", "sourceType": "IDP"})
        );
        assert_eq!(r.display_name, "Sales");
    }
}
