//! Groups: `group` resources, nesting, role assignments, and the plan that
//! turns PingOne's member listings into exactly the direct grants.
//!
//! The problem: `GET /users?filter=memberOfGroups[id eq "g"]` (a page of 200
//! members per request) returns direct members *and* everyone who reaches
//! the group through a nested group or its dynamic `userFilter`; only
//! per-user endpoints say DIRECT or INDIRECT. Baton wants a grant per direct
//! membership, a grant per nested group (with `GrantExpandable`, Baton adds
//! the nested members itself) and the dynamic members as immutable grants.
//!
//! The plan, per group, from what the groups listing already tells us
//! (`directMemberCounts.users` = d, `userFilter` = f) and the group's
//! children (groups nested in it).
//!
//! Threat: d is PingOne's word, and a count that is wrong (a stand-in or a
//! proxy that reports 0, or drops the field) must not lose or invent a
//! grant. So d is an optimisation, never the only evidence: no group is
//! skipped for its count, a group without d is settled by exact per-user
//! checks, and a d the member listings contradict is dropped for that
//! group, with a warning ([`crate::membership`]). With
//! `pingone-exact-membership` the plan ignores d altogether.
//! - static, no children: every member is direct: page the members filter
//!   (a group whose d is 0 costs that one, usually empty, page; the
//!   listing warns when it disagrees with d);
//! - dynamic (f set): its dynamic members are `GET /users?filter=(f)`
//!   (restricted to the group's population for a population group), and
//!   its resolution tells its direct members apart (a user who matches f
//!   gets the immutable dynamic grant even if also a direct member:
//!   revoking the direct membership would not take the access away).
//!   Should PingOne refuse f as a users filter, the resolution settles
//!   every member (direct members stay direct, revocable grants; see
//!   [`crate::membership`]);
//! - these listings run in batches (`MEMBERS_GROUPS` groups, first pages
//!   of at most `MEMBERS_USERS` users together): a page of each per call,
//!   in one `send_batch`, so a small group costs no call of its own;
//! - the rest (static with children, and every dynamic group) needs set
//!   algebra and, for what it cannot settle, per-user DIRECT checks: see
//!   [`crate::membership`].
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
//! per-group task (contract 0.1.2). A host that asks them anyway (a build
//! with the SDK's `contract-0-1-0` feature, whose hosts know no
//! `skip-tasks`) gets no-op calls: no request, no record twice.
//!
//! Dense nesting makes the checks above cost more than asking every user
//! once. At the end of the listing the plan compares both, from what it has
//! seen (member pages of static groups, nestings, their direct counts) and
//! the user count (`GET /users?limit=1`), and picks per tenant:
//! - by groups (the default): as above;
//! - by users: a sweep re-lists the users and reads each one's DIRECT groups
//!   (`GET /users/{id}/memberOfGroups?filter=type eq "DIRECT"`), which settles
//!   every static group at once; dynamic groups keep their own plan.

use foldhash::{HashMap, HashMapExt};

use connector_sdk::{
    ConnectorError, Context, Entitlement, EntitlementPurpose, GrantExpansion, GroupTrait, Level,
    PageOutcome, Resource, ResourceId, ResourceStatus, ResourceTrait, SkipTasks, SyncOp, SyncTask,
    entitlement_id, resource_id,
};
use serde_json::{Map, Value, json};

use crate::api::{Api, BIG_PAGE, Page, parse_page};
use crate::idpage::parse_id_page;
use crate::model::{Group, GroupMembership, IdOnly, RoleAssignment};
use crate::tokens::{
    EDGE_BUDGET, GroupMembers, GroupsChain, Mode, ResolveChunk, ResolveGroup, Sweep, Work,
};
use crate::upload::{Out, SetKey};
use crate::{GROUP, USER, errors, roles, time};

/// Groups per page in pass 1 (each costs a parents request in the same call).
pub const PASS1_PAGE: u32 = 200;
/// Edges per nesting follow-up task.
const EDGES_PER_TASK: usize = 400;
/// Bounds of one resolution task.
const RESOLVE_GROUPS: usize = 24;
const RESOLVE_DIRECT: u64 = 5_000;
const RESOLVE_CHILDREN: usize = 400;
/// Users on a full page of a member listing (`Api::users_filtered`).
const MEMBER_PAGE: u64 = crate::api::USERS_PAGE as u64;
/// Bounds of one member-listing batch: at most this many groups, and
/// first pages that hold at most this many users together (about 1.2 MB
/// of user objects: what one call holds, on every one of the host's warm
/// instances).
const MEMBERS_GROUPS: usize = 16;
const MEMBERS_USERS: u64 = 1_000;
/// Groups whose role assignments one task reads: one `send_batch` of the
/// host's usual batch size.
pub const GROUPS_PER_ROLES_TASK: usize = 100;
/// Assumed direct members of a group whose count PingOne did not report.
const UNKNOWN_DIRECT: u64 = 1_000;

pub fn member_entitlement(group: &ResourceId) -> Entitlement {
    Entitlement {
        resource: group.clone(),
        slug: "member".into(),
        display_name: "Member".into(),
        description: Some(
            "Member of the PingOne group: direct members, nested groups and the members its \
             dynamic filter selects"
                .into(),
        ),
        purpose: EntitlementPurpose::Assignment,
        grantable_to: vec![USER.into(), GROUP.into()],
        immutable: false,
        metadata_json: None,
    }
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
    put("directMemberCount", g.direct_users().map(Value::from));
    put("customData", g.custom_data.clone());
    put("createdAt", g.created_at.clone().map(Value::from));
    put("updatedAt", g.updated_at.clone().map(Value::from));
    Resource {
        id: resource_id(GROUP, &g.id),
        parent: None,
        display_name: g
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| g.id.clone()),
        description: g.description.clone().filter(|d| !d.trim().is_empty()),
        external_id: Some(g.id.clone()),
        status: ResourceStatus::Unspecified,
        created_at: g.created_at.as_deref().and_then(time::parse),
        trait_: Some(ResourceTrait::Group(GroupTrait {
            profile_json: Some(Value::Object(profile).to_string()),
        })),
    }
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
    let next = crate::next_token(
        api,
        &url,
        page.next.as_deref(),
        page.items.is_empty(),
        chain.empty,
        what,
    )?;
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
    out.flush(cx)?;
    Ok(PageOutcome {
        next_page_token,
        follow_ups,
    })
}

/// Reads the number of users (one request) and picks the cheaper way to
/// learn the direct members of static groups:
/// - by groups: Σ member pages of static groups with members, one listing
///   per nested group, and a check per candidate user, estimated as the
///   users that the nested groups' direct members cover (random overlap:
///   U·(1 − e^(−Σd/U)));
/// - by users: one DIRECT listing per user plus the users pages.
fn choose_mode(cx: &Context, api: &Api, chain: &GroupsChain) -> Result<Mode, ConnectorError> {
    if chain.static_pages == 0 {
        return Ok(Mode::ByGroups);
    }
    let what = "counting users (GET /users?limit=1)";
    let resp = api.get(&format!("{}/users?limit=1", api.environment()), what)?;
    let Some(users) = parse_id_page::<IdOnly>(&resp, "users", what)?.count else {
        return Ok(Mode::ByGroups);
    };
    let mode = mode_for(
        users,
        chain.static_pages,
        chain.nested_direct,
        chain.edge_count,
    );
    cx.log(
        Level::Info,
        format!(
            "membership plan: {mode:?} ({users} users, {} static member pages, {} nestings)",
            chain.static_pages, chain.edge_count
        ),
    );
    Ok(mode)
}

/// The cost comparison behind `choose_mode`.
pub fn mode_for(users: u64, static_pages: u64, nested_direct: u64, edges: u64) -> Mode {
    if users == 0 {
        return Mode::ByGroups;
    }
    let u = users as f64;
    let checks = if edges == 0 {
        0.0
    } else {
        u * (1.0 - (-(nested_direct as f64) / u).exp())
    };
    let by_groups = static_pages as f64 + edges as f64 + checks;
    let by_users = u + users.div_ceil(200) as f64;
    if by_users < by_groups {
        Mode::ByUsers
    } else {
        Mode::ByGroups
    }
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
    let next = crate::next_token(
        api,
        &url,
        page.next.as_deref(),
        page.items.is_empty(),
        chain.empty,
        what,
    )?
    .map(|(next, empty)| {
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

/// Mode [`Mode::ByUsers`]: one users page, each user's DIRECT groups.
pub fn sweep(cx: &Context, api: &Api, mut sw: Sweep) -> Result<PageOutcome, ConnectorError> {
    let url = sw.next.take().unwrap_or_else(|| api.users());
    let what = "listing users for their direct groups (GET /users)";
    let resp = api.get(&url, what)?;
    let page: Page<IdOnly> = parse_id_page(&resp, "users", what)?;
    let ids: Vec<String> = page.items.iter().map(|u| u.id.clone()).collect();
    let direct = crate::membership::direct_groups(cx, api, ids.clone())?;
    let mut out = Out::new();
    for (u, groups) in ids.iter().zip(direct) {
        for g in groups.into_iter().flatten() {
            if !sw.skip.contains(&g) {
                push_direct(&mut out, &g, u);
            }
        }
    }
    let next = crate::next_token(
        api,
        &url,
        page.next.as_deref(),
        page.items.is_empty(),
        sw.empty,
        what,
    )?
    .map(|(next, empty)| {
        Work::Sweep(Sweep {
            next: Some(next),
            empty,
            ..sw
        })
        .encode()
    });
    out.flush(cx)?;
    Ok(PageOutcome {
        next_page_token: next,
        follow_ups: Vec::new(),
    })
}

fn grants_task(resource_type: &str, token: String) -> SyncTask {
    SyncTask {
        op: SyncOp::ListGrants,
        resource_type: resource_type.into(),
        resource: None,
        page_token: Some(token),
    }
}

/// What each group needs to have its user grants emitted (see the module
/// docs). `edges` is `None` when the nesting graph is unknown; `exact`
/// ignores every `directMemberCounts`.
pub fn plan(
    groups: &[Group],
    edges: Option<&[(String, String)]>,
    mode: Mode,
    exact: bool,
) -> Vec<SyncTask> {
    let mut children: HashMap<&str, Vec<String>> = HashMap::new();
    for (child, parent) in edges.unwrap_or(&[]) {
        children
            .entry(parent.as_str())
            .or_default()
            .push(child.clone());
    }
    let mut tasks = Vec::new();
    let mut members: Vec<(GroupMembers, u64)> = Vec::new();
    let mut resolve: Vec<ResolveGroup> = Vec::new();
    for g in groups {
        let kids: Option<Vec<String>> =
            edges.map(|_| children.get(g.id.as_str()).cloned().unwrap_or_default());
        let leaf = kids.as_ref().is_some_and(|k| k.is_empty());
        let d = if exact { None } else { g.direct_users() };
        let population = g.population.as_ref().map(|p| p.id.clone());
        match g.dynamic_filter() {
            // A sweep over all users reads these.
            None if mode == Mode::ByUsers => {}
            // Every member is direct, whatever d says (d = 0 included).
            None if leaf => members.push(group_members(g, None, false, None, d)),
            None => resolve.push(resolve_group(g, kids, d)),
            Some(f) => {
                let (mut gm, page_users) = group_members(g, Some(f), true, population, None);
                // The resolution tells direct members from dynamic ones,
                // and settles every member should PingOne refuse the filter.
                gm.resolved = true;
                members.push((gm, page_users));
                resolve.push(resolve_group(g, kids, d));
            }
        }
    }
    // Member listings a batch at a time: one call reads a page of each.
    let mut batch: Vec<GroupMembers> = Vec::new();
    let mut users = 0;
    for (gm, page_users) in members {
        if !batch.is_empty()
            && (batch.len() >= MEMBERS_GROUPS || users + page_users > MEMBERS_USERS)
        {
            tasks.push(grants_task(
                GROUP,
                Work::Members {
                    groups: std::mem::take(&mut batch),
                }
                .encode(),
            ));
            users = 0;
        }
        users += page_users;
        batch.push(gm);
    }
    if !batch.is_empty() {
        tasks.push(grants_task(GROUP, Work::Members { groups: batch }.encode()));
    }
    // Chunks: big enough to share per-user checks between groups, small
    // enough for one call.
    let mut chunk: Vec<ResolveGroup> = Vec::new();
    let (mut direct, mut kids) = (0u64, 0usize);
    for r in resolve {
        let rd = r.direct.unwrap_or(UNKNOWN_DIRECT);
        let rk = r.children.as_ref().map_or(0, Vec::len);
        if !chunk.is_empty()
            && (chunk.len() >= RESOLVE_GROUPS
                || direct + rd > RESOLVE_DIRECT
                || kids + rk > RESOLVE_CHILDREN)
        {
            tasks.push(grants_task(
                GROUP,
                Work::Resolve(ResolveChunk {
                    groups: std::mem::take(&mut chunk),
                })
                .encode(),
            ));
            (direct, kids) = (0, 0);
        }
        direct += rd;
        kids += rk;
        chunk.push(r);
    }
    if !chunk.is_empty() {
        tasks.push(grants_task(
            GROUP,
            Work::Resolve(ResolveChunk { groups: chunk }).encode(),
        ));
    }
    tasks
}

/// A group's member listing, with the users its first page may hold (a
/// dynamic group's count is unknown: a full page; an empty group's page
/// still costs a request, so it weighs one user). `count` is the static
/// group's trusted direct count, which the listing checks.
fn group_members(
    g: &Group,
    filter: Option<&str>,
    by_filter: bool,
    population: Option<String>,
    count: Option<u64>,
) -> (GroupMembers, u64) {
    let page_users = match (filter, count) {
        (None, Some(d)) => d.clamp(1, MEMBER_PAGE),
        _ => MEMBER_PAGE,
    };
    let gm = GroupMembers {
        group: g.id.clone(),
        filter: filter.map(String::from),
        by_filter,
        population,
        next: None,
        empty: 0,
        resolved: false,
        count: if filter.is_none() { count } else { None },
    };
    (gm, page_users)
}

fn resolve_group(g: &Group, children: Option<Vec<String>>, direct: Option<u64>) -> ResolveGroup {
    ResolveGroup {
        id: g.id.clone(),
        direct,
        filter: g.dynamic_filter().map(String::from),
        population: g.population.as_ref().map(|p| p.id.clone()),
        children,
    }
}

/// The users filter that selects a dynamic group's members.
pub fn dynamic_query(filter: &str, population: Option<&str>) -> String {
    match population {
        Some(p) => format!("({filter}) and population.id eq \"{p}\""),
        None => filter.to_string(),
    }
}

/// Grant metadata of a direct member and of a nested group: one per
/// membership, so written once, not built and serialised per grant.
const DIRECT_METADATA: &str = r#"{"membership":"direct"}"#;
const NESTED_METADATA: &str = r#"{"membership":"nested-group"}"#;

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
    out.flush(cx)?;
    Ok(PageOutcome {
        next_page_token: None,
        follow_ups: Vec::new(),
    })
}

/// The set key of a user's membership grant of `group`.
fn member_key<'a>(
    group: &'a str,
    immutable_reason: Option<&'a str>,
    metadata_json: &'a str,
) -> SetKey<'a> {
    SetKey {
        resource_type: GROUP,
        resource: group,
        slug: "member",
        principal_type: USER,
        expansion: None,
        immutable_reason,
        metadata_json: Some(metadata_json),
    }
}

/// A direct member's grant.
pub fn push_direct(out: &mut Out, group: &str, user: impl Into<String>) {
    out.grant_in_set(&member_key(group, None, DIRECT_METADATA), user.into());
}

/// What a dynamic group's member grants carry: immutable, the filter grants
/// them. Built once per page of members.
pub struct DynamicGrant {
    pub filter: String,
    reason: String,
    metadata_json: String,
}

impl DynamicGrant {
    pub fn new(filter: &str) -> Self {
        DynamicGrant {
            filter: filter.to_string(),
            reason: format!("member through the group's dynamic userFilter: {filter}"),
            metadata_json: json!({ "membership": "dynamic", "userFilter": filter }).to_string(),
        }
    }
}

/// A dynamic member's grant.
pub fn push_dynamic(out: &mut Out, group: &str, user: String, dynamic: &DynamicGrant) {
    let key = member_key(group, Some(&dynamic.reason), &dynamic.metadata_json);
    out.grant_in_set(&key, user);
}

/// One page of each of several groups' members, each group's all of one
/// kind (see [`plan`]), in one `send_batch`. Groups with more pages go on
/// in the next call, as the batch's page token.
pub fn members(
    cx: &Context,
    api: &Api,
    batch: Vec<GroupMembers>,
) -> Result<PageOutcome, ConnectorError> {
    let mut out = Out::new();
    let mut rest: Vec<GroupMembers> = Vec::new();
    let mut pending = batch;
    // A refused userFilter is asked again as a members listing, in this
    // call: the second round has no filter to refuse.
    while !pending.is_empty() {
        let urls: Vec<String> = pending
            .iter()
            .map(|gm| match (&gm.next, &gm.filter, gm.by_filter) {
                (Some(n), _, _) => n.clone(),
                (None, Some(f), true) => {
                    api.users_filtered(&dynamic_query(f, gm.population.as_deref()))
                }
                (None, _, _) => api.group_members(&gm.group),
            })
            .collect();
        let results = api.send_all(&urls, "listing group members");
        let mut fallback = Vec::new();
        for ((mut gm, url), res) in pending.into_iter().zip(urls).zip(results) {
            let what = if gm.by_filter {
                format!(
                    "listing the dynamic members of group {} (GET /users?filter=userFilter)",
                    gm.group
                )
            } else {
                format!(
                    "listing the members of group {} (GET /users?filter=memberOfGroups)",
                    gm.group
                )
            };
            let resp = res?;
            if gm.by_filter && gm.resolved && errors::is_invalid_filter(&resp) {
                // The group's resolution reads its members and tells its
                // direct members from the ones the filter adds
                // ([`crate::membership`]): nothing to report here.
                cx.log(
                    Level::Debug,
                    format!(
                        "group {}: userFilter refused; left to its resolution",
                        gm.group
                    ),
                );
                continue;
            }
            if gm.by_filter && errors::is_invalid_filter(&resp) {
                // PingOne would not evaluate the userFilter as a users
                // filter, and the group has no direct member: fall back to
                // all members (nested members may then show as dynamic).
                cx.log(
                    Level::Warn,
                    format!(
                        "group {}: PingOne refused its userFilter as a users filter ({}); \
                         listing all members as dynamic instead",
                        gm.group,
                        errors::describe_body(&resp)
                    ),
                );
                gm.by_filter = false;
                gm.next = None;
                gm.empty = 0;
                fallback.push(gm);
                continue;
            }
            if resp.status == 404 {
                cx.log(Level::Debug, format!("group {} is gone", gm.group));
                continue;
            }
            errors::check(&resp, &what)?;
            let page: Page<IdOnly> = parse_id_page(&resp, "users", &what)?;
            if gm.next.is_none() {
                warn_count_mismatch(cx, &gm, &page);
            }
            let dynamic = gm.filter.as_deref().map(DynamicGrant::new);
            let empty_page = page.items.is_empty();
            for u in page.items {
                match &dynamic {
                    Some(d) => push_dynamic(&mut out, &gm.group, u.id, d),
                    None => push_direct(&mut out, &gm.group, u.id),
                }
            }
            if let Some((next, empty)) =
                crate::next_token(api, &url, page.next.as_deref(), empty_page, gm.empty, &what)?
            {
                rest.push(GroupMembers {
                    next: Some(next),
                    empty,
                    ..gm
                });
            }
        }
        pending = fallback;
    }
    out.flush(cx)?;
    Ok(PageOutcome {
        next_page_token: (!rest.is_empty()).then(|| Work::Members { groups: rest }.encode()),
        follow_ups: Vec::new(),
    })
}

/// A static group without nested groups lists exactly its direct members:
/// a reported count that says otherwise is wrong, and the listing (already
/// exact) wins. Said once, on the first page, from the listing's `count`
/// (or the page itself when it is the only one).
fn warn_count_mismatch(cx: &Context, gm: &GroupMembers, page: &Page<IdOnly>) {
    let Some(d) = gm.count else { return };
    let listed = page.count.or_else(|| {
        let n = page.items.len() as u64;
        // Without `count`, a page that goes on shows at least its items.
        (page.next.is_none() || n > d).then_some(n)
    });
    if let Some(n) = listed
        && n != d
    {
        cx.log(
            Level::Warn,
            format!(
                "group {}: PingOne reports {d} direct members but lists {n}; with no nested \
                 group or filter every member listed is direct, so the listing is used",
                gm.group
            ),
        );
    }
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
        let what =
            format!("listing role assignments of group {id} (GET /groups/{{id}}/roleAssignments)");
        let resp = res?;
        if resp.status == 404 {
            // Deleted since the listing: nothing to grant.
            cx.log(Level::Debug, format!("group {id} is gone"));
            continue;
        }
        errors::check(&resp, &what)?;
        let page: Page<RoleAssignment> = parse_page(&resp, "roleAssignments", &what)?;
        let group = resource_id(GROUP, id);
        roles::push_assignment_grants(
            cx,
            &mut out,
            &group,
            &page.items,
            Some(group_expansion(id, &[USER])),
            api.env_id(),
        );
        let next = crate::next_token(
            api,
            url,
            page.next.as_deref(),
            page.items.is_empty(),
            0,
            &what,
        )?;
        if let Some((next, empty)) = next {
            follow_ups.push(SyncTask {
                op: SyncOp::ListGrants,
                resource_type: GROUP.into(),
                resource: Some(group),
                page_token: Some(Work::GroupRolesPage { next, empty }.encode()),
            });
        }
    }
    out.flush(cx)?;
    Ok(PageOutcome {
        next_page_token: None,
        follow_ups,
    })
}

/// A group's next page of role assignments, a page a call. Without a
/// token (the per-group task, which only a host that ignores `skip-tasks`
/// asks for), nothing: [`role_grants_batch`] reads the first pages.
pub fn role_grants(
    cx: &Context,
    api: &Api,
    group: &ResourceId,
    token: Option<Work>,
) -> Result<PageOutcome, ConnectorError> {
    let (url, empty) = match token {
        None => {
            return Ok(PageOutcome {
                next_page_token: None,
                follow_ups: Vec::new(),
            });
        }
        Some(Work::GroupRolesPage { next, empty }) => (next, empty),
        Some(other) => return Err(crate::wrong_token("group role assignments", &other)),
    };
    let what = format!(
        "listing role assignments of group {} (GET /groups/{{id}}/roleAssignments)",
        group.resource
    );
    let resp = api.send(&url, &what)?;
    if resp.status == 404 {
        return Ok(PageOutcome {
            next_page_token: None,
            follow_ups: Vec::new(),
        });
    }
    errors::check(&resp, &what)?;
    let page: Page<RoleAssignment> = parse_page(&resp, "roleAssignments", &what)?;
    let mut out = Out::new();
    roles::push_assignment_grants(
        cx,
        &mut out,
        group,
        &page.items,
        Some(group_expansion(&group.resource, &[USER])),
        api.env_id(),
    );
    let next = crate::next_token(
        api,
        &url,
        page.next.as_deref(),
        page.items.is_empty(),
        empty,
        &what,
    )?
    .map(|(next, empty)| Work::GroupRolesPage { next, empty }.encode());
    out.flush(cx)?;
    Ok(PageOutcome {
        next_page_token: next,
        follow_ups: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{grant_ids, host, ok, page, run, status, task, urls};
    use connector_sdk::SyncOp;

    #[test]
    fn constant_grant_metadata_is_the_json_it_stands_for() {
        assert_eq!(DIRECT_METADATA, json!({"membership": "direct"}).to_string());
        assert_eq!(
            NESTED_METADATA,
            json!({"membership": "nested-group"}).to_string()
        );
    }

    fn group(v: Value) -> Group {
        serde_json::from_value(v).unwrap()
    }

    fn kinds(tasks: &[SyncTask]) -> Vec<Work> {
        tasks
            .iter()
            .map(|t| Work::decode(t.page_token.as_deref().unwrap()).unwrap())
            .collect()
    }

    /// The groups of every member-listing batch, in order.
    fn listed_groups(w: &[Work]) -> Vec<&GroupMembers> {
        w.iter()
            .flat_map(|w| match w {
                Work::Members { groups } => groups.iter().collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    fn groups() -> Vec<Group> {
        vec![
            group(json!({"id": "leaf", "directMemberCounts": {"users": 5}})),
            group(json!({"id": "empty", "directMemberCounts": {"users": 0}})),
            group(json!({"id": "parent", "directMemberCounts": {"users": 3}})),
            group(json!({"id": "shell", "directMemberCounts": {"users": 0}})),
            group(
                json!({"id": "dyn", "userFilter": "title eq \"Manager\"", "directMemberCounts": {"users": 0}}),
            ),
            group(
                json!({"id": "dynparent", "userFilter": "x eq \"y\"", "population": {"id": "p1"}, "directMemberCounts": {"users": 0}}),
            ),
            group(
                json!({"id": "dynmixed", "userFilter": "x eq \"z\"", "directMemberCounts": {"users": 2}}),
            ),
            group(json!({"id": "unknown"})),
        ]
    }

    fn edges() -> Vec<(String, String)> {
        vec![
            ("leaf".into(), "parent".into()),
            ("leaf".into(), "shell".into()),
            ("dyn".into(), "dynparent".into()),
        ]
    }

    #[test]
    fn plans_each_kind_of_group() {
        let e = edges();
        let w = kinds(&plan(&groups(), Some(&e), Mode::ByGroups, false));
        let members: Vec<(String, Option<String>, bool)> = listed_groups(&w)
            .into_iter()
            .map(|m| (m.group.clone(), m.filter.clone(), m.by_filter))
            .collect();
        // Six small groups: one batch. A static group whose count is 0 is
        // listed all the same (its count is checked, never relied on).
        assert!(matches!(&w[0], Work::Members { .. }) && !matches!(&w[1], Work::Members { .. }));
        assert_eq!(
            members,
            vec![
                ("leaf".into(), None, false),
                ("empty".into(), None, false),
                ("dyn".into(), Some("title eq \"Manager\"".into()), true),
                ("dynparent".into(), Some("x eq \"y\"".into()), true),
                ("dynmixed".into(), Some("x eq \"z\"".into()), true),
                ("unknown".into(), None, false),
            ]
        );
        let counts: Vec<Option<u64>> = listed_groups(&w).iter().map(|m| m.count).collect();
        assert_eq!(counts, [Some(5), Some(0), None, None, None, None]);
        let Some(Work::Resolve(r)) = w.last() else {
            panic!("{w:?}")
        };
        // Groups with nested groups, whatever their count, and every
        // dynamic group: their direct members are told apart.
        let ids: Vec<&str> = r.groups.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, ["parent", "shell", "dyn", "dynparent", "dynmixed"]);
        assert_eq!(
            r.groups[0].children.as_deref(),
            Some(&["leaf".to_string()][..])
        );
        let direct: Vec<Option<u64>> = r.groups.iter().map(|g| g.direct).collect();
        assert_eq!(direct, [Some(3), Some(0), Some(0), Some(0), Some(2)]);
    }

    #[test]
    fn exact_mode_plans_without_any_count() {
        let e = edges();
        let w = kinds(&plan(&groups(), Some(&e), Mode::ByGroups, true));
        assert!(listed_groups(&w).iter().all(|m| m.count.is_none()));
        let Some(Work::Resolve(r)) = w.last() else {
            panic!("{w:?}")
        };
        let ids: Vec<&str> = r.groups.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, ["parent", "shell", "dyn", "dynparent", "dynmixed"]);
        assert!(r.groups.iter().all(|g| g.direct.is_none()), "{r:?}");
    }

    #[test]
    fn unknown_children_send_every_group_with_members_to_resolution() {
        let w = kinds(&plan(&groups(), None, Mode::ByGroups, false));
        let Some(Work::Resolve(r)) = w.last() else {
            panic!()
        };
        let ids: Vec<&str> = r.groups.iter().map(|g| g.id.as_str()).collect();
        // Every group, whatever its count says.
        assert_eq!(
            ids,
            [
                "leaf",
                "empty",
                "parent",
                "shell",
                "dyn",
                "dynparent",
                "dynmixed",
                "unknown"
            ]
        );
        assert!(r.groups.iter().all(|g| g.children.is_none()));
    }

    #[test]
    fn by_users_mode_leaves_static_groups_to_the_sweep() {
        let e = edges();
        let w = kinds(&plan(&groups(), Some(&e), Mode::ByUsers, false));
        assert!(
            w.iter().all(|w| match w {
                Work::Members { groups } => groups.iter().all(|m| m.filter.is_some()),
                Work::Resolve(r) => r.groups.iter().all(|g| g.filter.is_some()),
                _ => false,
            }),
            "{w:?}"
        );
    }

    #[test]
    fn mode_follows_the_cost_estimate() {
        // No nesting: group listings win.
        assert_eq!(mode_for(1_000, 100, 0, 0), Mode::ByGroups);
        // Light nesting.
        assert_eq!(mode_for(1_000, 96, 1_160, 29), Mode::ByGroups);
        // Dense nesting or more groups than users: per-user listings win.
        assert_eq!(mode_for(450, 400, 750, 250), Mode::ByUsers);
        assert_eq!(mode_for(100, 300, 0, 0), Mode::ByUsers);
        assert_eq!(mode_for(0, 300, 0, 0), Mode::ByGroups);
    }

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
    fn members_pages_emit_direct_or_dynamic_grants() {
        let a = urls();
        let next = "https://api.test/v1/environments/e/users?cursor=2".to_string();
        let h = host(vec![(
            a.group_members("g1"),
            ok(page(
                "users",
                json!([{"id": "u1"}, {"id": "u2"}]),
                Some(&next),
            )),
        )]);
        let gm = GroupMembers {
            group: "g1".into(),
            filter: None,
            by_filter: false,
            population: None,
            next: None,
            empty: 0,
            resolved: false,
            count: None,
        };
        let out = run(
            &h,
            task(
                SyncOp::ListGrants,
                GROUP,
                None,
                Some(Work::GroupMembers(gm).encode()),
            ),
        )
        .unwrap();
        assert_eq!(
            grant_ids(&h),
            ["group:g1:member:user:u1", "group:g1:member:user:u2"]
        );
        assert!(
            h.grants
                .borrow()
                .iter()
                .all(|g| g.immutable_reason.is_none())
        );
        // An earlier version's single-group token goes on as a batch.
        let Work::Members { groups } = Work::decode(&out.next_page_token.unwrap()).unwrap() else {
            panic!()
        };
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].next.as_deref(), Some(next.as_str()));

        let q = a.users_filtered(&dynamic_query("title eq \"Manager\"", Some("p1")));
        assert!(q.contains("population.id%20eq%20%22p1%22"), "{q}");
        let h = host(vec![(q, ok(page("users", json!([{"id": "u3"}]), None)))]);
        let gm = GroupMembers {
            group: "g2".into(),
            filter: Some("title eq \"Manager\"".into()),
            by_filter: true,
            population: Some("p1".into()),
            next: None,
            empty: 0,
            resolved: false,
            count: None,
        };
        let out = run(
            &h,
            task(
                SyncOp::ListGrants,
                GROUP,
                None,
                Some(Work::GroupMembers(gm).encode()),
            ),
        )
        .unwrap();
        assert!(out.next_page_token.is_none());
        let g = &h.grants.borrow()[0];
        assert!(
            g.immutable_reason
                .as_deref()
                .unwrap()
                .contains("title eq \"Manager\"")
        );
        assert!(g.metadata_json.as_deref().unwrap().contains("dynamic"));
    }

    #[test]
    fn member_batches_read_a_page_of_each_group_and_carry_the_rest() {
        let a = urls();
        let next = format!("{}&cursor=2", a.group_members("g1"));
        let h = host(vec![
            (
                a.group_members("g1"),
                ok(page("users", json!([{"id": "u1"}]), Some(&next))),
            ),
            (
                a.group_members("gone"),
                status(404, json!({"code": "NOT_FOUND"})),
            ),
            (
                a.group_members("g3"),
                ok(page("users", json!([{"id": "u3"}]), None)),
            ),
            (next.clone(), ok(page("users", json!([{"id": "u2"}]), None))),
        ]);
        let gm = |g: &str| GroupMembers {
            group: g.into(),
            filter: None,
            by_filter: false,
            population: None,
            next: None,
            empty: 0,
            resolved: false,
            count: None,
        };
        let batch = Work::Members {
            groups: vec![gm("g1"), gm("gone"), gm("g3")],
        };
        let out = run(
            &h,
            task(SyncOp::ListGrants, GROUP, None, Some(batch.encode())),
        )
        .unwrap();
        assert_eq!(
            grant_ids(&h),
            ["group:g1:member:user:u1", "group:g3:member:user:u3"]
        );
        // One send_batch for the three first pages.
        assert_eq!(h.requests.borrow().len(), 3);
        let token = out.next_page_token.unwrap();
        let Work::Members { groups } = Work::decode(&token).unwrap() else {
            panic!()
        };
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].next.as_deref(), Some(next.as_str()));
        let out = run(&h, task(SyncOp::ListGrants, GROUP, None, Some(token))).unwrap();
        assert!(out.next_page_token.is_none());
        assert_eq!(grant_ids(&h).len(), 3);
    }

    #[test]
    fn a_leaf_group_listing_wins_over_its_count() {
        let a = urls();
        let h = host(vec![(
            a.group_members("g"),
            ok(page("users", json!([{"id": "u1"}, {"id": "u2"}]), None)),
        )]);
        let gm = GroupMembers {
            group: "g".into(),
            filter: None,
            by_filter: false,
            population: None,
            next: None,
            empty: 0,
            resolved: false,
            count: Some(0),
        };
        let batch = Work::Members { groups: vec![gm] }.encode();
        run(&h, task(SyncOp::ListGrants, GROUP, None, Some(batch))).unwrap();
        assert_eq!(
            grant_ids(&h),
            ["group:g:member:user:u1", "group:g:member:user:u2"]
        );
        assert!(
            h.logs
                .borrow()
                .iter()
                .any(|(l, m)| *l == Level::Warn
                    && m.contains("reports 0 direct members but lists 2")),
            "{:?}",
            h.logs
        );
    }

    #[test]
    fn member_batches_stay_within_their_bounds() {
        let many: Vec<Group> = (0..40)
            .map(|i| {
                serde_json::from_value(
                    json!({"id": format!("g{i}"), "directMemberCounts": {"users": 150}}),
                )
                .unwrap()
            })
            .collect();
        let w = kinds(&plan(&many, Some(&[]), Mode::ByGroups, false));
        let sizes: Vec<usize> = w
            .iter()
            .map(|w| match w {
                Work::Members { groups } => groups.len(),
                other => panic!("{other:?}"),
            })
            .collect();
        // 150 users a first page: six fit under MEMBERS_USERS.
        assert_eq!(sizes, [6, 6, 6, 6, 6, 6, 4]);
        let small: Vec<Group> = (0..40)
            .map(|i| {
                serde_json::from_value(
                    json!({"id": format!("s{i}"), "directMemberCounts": {"users": 3}}),
                )
                .unwrap()
            })
            .collect();
        let w = kinds(&plan(&small, Some(&[]), Mode::ByGroups, false));
        assert_eq!(listed_groups(&w).len(), 40);
        assert_eq!(w.len(), 40_usize.div_ceil(MEMBERS_GROUPS));
    }

    #[test]
    fn a_refused_user_filter_falls_back_to_the_members_listing() {
        let a = urls();
        let bad = json!({"code": "INVALID_DATA", "message": "m", "details": [{"code": "INVALID_FILTER", "target": "filter"}]});
        let h = host(vec![
            (a.users_filtered("weird pr"), status(400, bad)),
            (
                a.group_members("g"),
                ok(page("users", json!([{"id": "u"}]), None)),
            ),
        ]);
        let gm = GroupMembers {
            group: "g".into(),
            filter: Some("weird pr".into()),
            by_filter: true,
            population: None,
            next: None,
            empty: 0,
            resolved: false,
            count: None,
        };
        run(
            &h,
            task(
                SyncOp::ListGrants,
                GROUP,
                None,
                Some(Work::GroupMembers(gm).encode()),
            ),
        )
        .unwrap();
        assert_eq!(grant_ids(&h), ["group:g:member:user:u"]);
        assert!(
            h.logs
                .borrow()
                .iter()
                .any(|(l, m)| *l == Level::Warn && m.contains("refused its userFilter"))
        );
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
        // The per-group task, which the listing tells the host to skip,
        // costs nothing if a host asks it anyway.
        let h = host(vec![]);
        let out = run(&h, task(SyncOp::ListGrants, GROUP, Some("g1"), None)).unwrap();
        assert!(out.next_page_token.is_none() && out.follow_ups.is_empty());
        assert!(h.requests.borrow().is_empty() && h.grants.borrow().is_empty());
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
            json!({"groupId": "g", "populationId": "p", "userFilter": "a eq \"b\"", "dynamic": true, "externalId": "ad", "sourceType": "IDP", "directMemberCount": 4})
        );
        assert_eq!(r.display_name, "Sales");
    }
}
