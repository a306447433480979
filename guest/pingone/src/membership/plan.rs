//! The membership plan: which reads turn PingOne's member listings into
//! exactly the direct grants, decided per group once its children are known.
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
//! group, with a warning ([`super::resolve`]). With
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
//!   [`super::resolve`]);
//! - these listings run in batches (`MEMBERS_GROUPS` groups, first pages
//!   of at most `MEMBERS_USERS` users together): a page of each per call,
//!   in one `send_batch`, so a small group costs no call of its own;
//! - the rest (static with children, and every dynamic group) needs set
//!   algebra and, for what it cannot settle, per-user DIRECT checks: see
//!   [`super::resolve`].
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

use connector_sdk::{ConnectorError, Context, Level, SyncOp, SyncTask};

use crate::GROUP;
use crate::client::api::{Api, USERS_PAGE};
use crate::client::idpage::parse_id_page;
use crate::client::model::{Group, IdOnly};
use crate::tokens::{GroupMembers, GroupsChain, Mode, ResolveChunk, ResolveGroup, Work};

/// Bounds of one resolution task.
const RESOLVE_GROUPS: usize = 24;
const RESOLVE_DIRECT: u64 = 5_000;
const RESOLVE_CHILDREN: usize = 400;

/// Users on a full page of a member listing (`Api::users_filtered`).
const MEMBER_PAGE: u64 = USERS_PAGE as u64;

/// Bounds of one member-listing batch: at most this many groups, and
/// first pages that hold at most this many users together (about 1.2 MB
/// of user objects: what one call holds, on every one of the host's warm
/// instances).
const MEMBERS_GROUPS: usize = 16;
const MEMBERS_USERS: u64 = 1_000;

/// Assumed direct members of a group whose count PingOne did not report.
const UNKNOWN_DIRECT: u64 = 1_000;

/// Reads the number of users (one request) and picks the cheaper way to
/// learn the direct members of static groups:
/// - by groups: Σ member pages of static groups with members, one listing
///   per nested group, and a check per candidate user, estimated as the
///   users that the nested groups' direct members cover (random overlap:
///   U·(1 − e^(−Σd/U)));
/// - by users: one DIRECT listing per user plus the users pages.
pub fn choose_mode(cx: &Context, api: &Api, chain: &GroupsChain) -> Result<Mode, ConnectorError> {
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

pub fn grants_task(resource_type: &str, token: String) -> SyncTask {
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
    let member_batches = runs(members, |run, (_, users)| {
        run.len() < MEMBERS_GROUPS && run.iter().map(|m| m.1).sum::<u64>() + users <= MEMBERS_USERS
    });
    for batch in member_batches {
        let groups = batch.into_iter().map(|(gm, _)| gm).collect();
        tasks.push(grants_task(GROUP, Work::Members { groups }.encode()));
    }
    // Chunks: big enough to share per-user checks between groups, small
    // enough for one call.
    let direct = |r: &ResolveGroup| r.direct.unwrap_or(UNKNOWN_DIRECT);
    let kids = |r: &ResolveGroup| r.children.as_ref().map_or(0, Vec::len);
    let chunks = runs(resolve, |run, r| {
        run.len() < RESOLVE_GROUPS
            && run.iter().map(direct).sum::<u64>() + direct(r) <= RESOLVE_DIRECT
            && run.iter().map(kids).sum::<usize>() + kids(r) <= RESOLVE_CHILDREN
    });
    for groups in chunks {
        tasks.push(grants_task(
            GROUP,
            Work::Resolve(ResolveChunk { groups }).encode(),
        ));
    }
    tasks
}

/// `items` in consecutive runs: an item joins the last run when `fits`
/// says that run can take it, else starts the next one.
fn runs<T>(items: Vec<T>, fits: impl Fn(&[T], &T) -> bool) -> Vec<Vec<T>> {
    let mut runs: Vec<Vec<T>> = Vec::new();
    for item in items {
        match runs.last_mut() {
            Some(run) if fits(run, &item) => run.push(item),
            _ => runs.push(vec![item]),
        }
    }
    runs
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{group, kinds};
    use serde_json::json;

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
}
