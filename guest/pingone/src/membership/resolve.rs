//! Telling direct members apart where the member listing mixes them with
//! nested and dynamic ones.
//!
//! For a group g with members M (the `memberOfGroups` filter), direct count
//! d, children C (groups nested in g) and, if dynamic, filter matches Y:
//! - I = members of the children; a member outside I ∪ Y can only be direct
//!   (S, no check needed);
//! - the candidates are members inside I and outside Y (members in Y get the
//!   dynamic grant anyway); k = d − |S| of them are direct;
//! - static group: k = 0 → none is, k = |candidates| → all are; otherwise,
//!   and for dynamic groups with k > 0, each candidate's direct groups are
//!   read with `GET /users/{id}/memberOfGroups?filter=type eq "DIRECT"`.
//!
//! Threat: d is PingOne's word, not evidence. A count that is missing
//! gives no k: every candidate is checked. A count the listings contradict
//! (d < |S|: fewer than the members that must be direct; or d more than
//! every member that could be direct, |S| + candidates + direct members the
//! filter matches) is wrong, so it settles nothing for that group: every
//! candidate is checked, with a warning. Only a count the listings cannot
//! contradict spares checks; with `pingone-exact-membership` the plan
//! passes no count at all ([`crate::membership::plan::plan`]).
//!
//! Decision: the per-user check is shared by every group of the task (one
//! request settles a user for all of them), users in more groups go first,
//! and a group stops needing checks as soon as its k direct members are
//! found or its remaining candidates are all direct. A task settles up to
//! [`IN_CALL_CHECKS`] users itself; beyond that it hands chunks of users to
//! follow-up tasks (without early stopping), so every call stays short.
//! When the nesting graph is unknown (too many edges to carry), every member
//! is a candidate and only the counts can spare checks.
//!
//! A dynamic group whose `userFilter` PingOne refuses as a users filter
//! (400 `INVALID_FILTER`) has no Y. Its members are still told apart,
//! never all reported as dynamic (that made direct members immutable and
//! so unrevocable): each member is checked like a candidate; a direct one
//! is a direct grant, and one that is not direct and not reached through a
//! nested group (outside I, or anywhere when I is unknown) is there by the
//! filter: an immutable dynamic grant. A direct member the filter also
//! matches stays direct, since nothing can show the match.

// Keys are PingOne ids from one tenant; foldhash is several times cheaper
// than SipHash in wasm and still seeded per instance.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use connector_sdk::{ConnectorError, Context, Level, PageOutcome};

use crate::GROUP;
use crate::client::api::{Api, MAX_BATCH};
use crate::client::idpage::parse_id_page;
use crate::client::model::{GroupMembership, IdOnly};
use crate::membership::members::{DynamicGrant, dynamic_query, push_direct, push_dynamic};
use crate::membership::plan::grants_task;
use crate::resources::finish;
use crate::tokens::{CheckChunk, DYNAMIC_UNLESS_DIRECT, ResolveChunk, Work};
use crate::upload::Out;

/// Users a resolution task checks itself.
pub const IN_CALL_CHECKS: usize = 1_000;

/// Users per follow-up check task.
const CHECKS_PER_TASK: usize = MAX_BATCH;

enum Job {
    Members(usize),
    Dynamic(usize),
    Child(usize),
}

/// One group's state while it is being settled.
struct Pending {
    id: String,
    /// Candidates not yet checked.
    open: HashSet<String>,
    /// Direct members still to find among them; `None` when unknown.
    left: Option<i64>,
    /// `left` is exact (static group), so `left == open.len()` means all.
    exact: bool,
    /// A group whose filter PingOne refused: the open candidates that,
    /// when not direct, are dynamic members, and their grant.
    refused: Option<(HashSet<String>, DynamicGrant)>,
}

pub fn resolve(
    cx: &Context,
    api: &Api,
    chunk: ResolveChunk,
) -> Result<PageOutcome, ConnectorError> {
    let groups = chunk.groups;
    let mut children: Vec<String> = Vec::new();
    for c in groups.iter().flat_map(|g| g.children.iter().flatten()) {
        if !children.contains(c) {
            children.push(c.clone());
        }
    }
    let mut jobs = Vec::new();
    let mut kinds = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        jobs.push((
            api.group_members(&g.id),
            format!("listing the members of group {}", g.id),
        ));
        kinds.push(Job::Members(i));
        if let Some(f) = &g.filter {
            jobs.push((
                api.users_filtered(&dynamic_query(f, g.population.as_deref())),
                format!("listing the dynamic members of group {}", g.id),
            ));
            kinds.push(Job::Dynamic(i));
        }
    }
    for (i, c) in children.iter().enumerate() {
        jobs.push((
            api.group_members(c),
            format!("listing the members of nested group {c}"),
        ));
        kinds.push(Job::Child(i));
    }
    let results = api.list_all_with("users", jobs, parse_id_page::<IdOnly>);

    let mut members: Vec<Option<Vec<String>>> = vec![None; groups.len()];
    let mut dynamic: Vec<Option<HashSet<String>>> = vec![None; groups.len()];
    let mut child_members: Vec<HashSet<String>> = vec![HashSet::new(); children.len()];
    let mut refused = vec![false; groups.len()];
    for (kind, res) in kinds.into_iter().zip(results) {
        let ids = match res {
            Ok(items) => items.into_iter().map(|u| u.id).collect::<Vec<_>>(),
            Err(e) if matches!(e.error, ConnectorError::NotFound(_)) => continue,
            Err(e) if e.invalid_filter && matches!(kind, Job::Dynamic(_)) => {
                let Job::Dynamic(i) = kind else { continue };
                cx.log(
                    Level::Warn,
                    format!(
                        "group {}: PingOne refused its userFilter as a users filter ({}); \
                         its direct members are read per user, the others it holds not \
                         through a nested group are reported as dynamic",
                        groups[i].id,
                        e.error.message()
                    ),
                );
                refused[i] = true;
                continue;
            }
            Err(e) => return Err(e.error),
        };
        match kind {
            Job::Members(i) => members[i] = Some(ids),
            Job::Dynamic(i) => dynamic[i] = Some(ids.into_iter().collect()),
            Job::Child(i) => child_members[i] = ids.into_iter().collect(),
        }
    }

    let mut out = Out::new();
    let mut pending: Vec<Pending> = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        // A deleted group, or a dynamic one whose filter PingOne refused.
        let Some(m) = &members[i] else { continue };
        if g.filter.is_some() && dynamic[i].is_none() && !refused[i] {
            continue;
        }
        let refused = match (&g.filter, refused[i]) {
            (Some(f), true) => Some((HashSet::new(), DynamicGrant::new(f))),
            _ => None,
        };
        let y = dynamic[i].as_ref();
        // Sets sized up front: growing one re-hashes every id it holds, and
        // hashing is the costly part of a set of ids in wasm.
        let inner: Option<HashSet<&str>> = g.children.as_ref().map(|cs| {
            let of_children: Vec<usize> = cs
                .iter()
                .filter_map(|c| children.iter().position(|x| x == c))
                .collect();
            let mut inner =
                HashSet::with_capacity(of_children.iter().map(|&ci| child_members[ci].len()).sum());
            inner.extend(
                of_children
                    .iter()
                    .flat_map(|&ci| child_members[ci].iter().map(String::as_str)),
            );
            inner
        });
        let mut sure = 0i64;
        let mut matched = 0i64;
        let mut open = HashSet::with_capacity(m.len());
        let mut refused = refused;
        for u in m {
            if y.is_some_and(|y| y.contains(u)) {
                matched += 1;
                continue;
            }
            let outside = inner.as_ref().map(|inner| !inner.contains(u.as_str()));
            match (&mut refused, outside) {
                // Outside I (or I unknown): direct, or there by the filter.
                (Some((fallback, _)), Some(true) | None) => {
                    fallback.insert(u.clone());
                    open.insert(u.clone());
                }
                (None, Some(true)) => {
                    push_direct(&mut out, &g.id, u);
                    sure += 1;
                }
                _ => {
                    open.insert(u.clone());
                }
            }
        }
        let left = match g.direct.map(|d| d as i64) {
            Some(d) if d < sure || d > sure + open.len() as i64 + matched => {
                cx.log(
                    Level::Warn,
                    format!(
                        "group {}: PingOne reports {d} direct members, but its member listings \
                         show at least {sure} and at most {}; the count is ignored and its \
                         members are checked one by one",
                        g.id,
                        sure + open.len() as i64 + matched
                    ),
                );
                None
            }
            d => d.map(|d| d - sure),
        };
        let mut p = Pending {
            id: g.id.clone(),
            open,
            left,
            exact: g.filter.is_none(),
            refused,
        };
        settle(&mut p, &mut out);
        if !p.open.is_empty() {
            pending.push(p);
        }
    }

    // Users to check, with the groups each one settles.
    let mut by_user: HashMap<String, Vec<usize>> =
        HashMap::with_capacity(pending.iter().map(|p| p.open.len()).sum());
    for (gi, p) in pending.iter().enumerate() {
        for u in &p.open {
            by_user.entry(u.clone()).or_default().push(gi);
        }
    }
    let mut users: Vec<(String, Vec<usize>)> = by_user.into_iter().collect();
    users.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));

    let mut follow_ups = Vec::new();
    if users.len() > IN_CALL_CHECKS {
        let ids: Vec<String> = pending.iter().map(|p| p.id.clone()).collect();
        let mut filters: Vec<Option<String>> = pending
            .iter()
            .map(|p| p.refused.as_ref().map(|(_, d)| d.filter.clone()))
            .collect();
        if filters.iter().all(Option::is_none) {
            filters.clear();
        }
        for c in users.chunks(CHECKS_PER_TASK) {
            let work = Work::Check(CheckChunk {
                groups: ids.clone(),
                users: c
                    .iter()
                    .map(|(u, gs)| {
                        let flagged = gs.iter().map(|g| {
                            let dynamic = pending[*g]
                                .refused
                                .as_ref()
                                .is_some_and(|(f, _)| f.contains(u));
                            *g as u32 | if dynamic { DYNAMIC_UNLESS_DIRECT } else { 0 }
                        });
                        (u.clone(), flagged.collect())
                    })
                    .collect(),
                filters: filters.clone(),
            });
            follow_ups.push(grants_task(GROUP, work.encode()));
        }
    } else {
        let mut queue = users.into_iter();
        loop {
            // The next round: users that still settle an open group.
            let round: Vec<(String, Vec<usize>)> = queue
                .by_ref()
                .filter(|(u, gs)| gs.iter().any(|g| pending[*g].open.contains(u)))
                .take(MAX_BATCH)
                .collect();
            if round.is_empty() {
                break;
            }
            let direct = direct_groups(cx, api, round.iter().map(|(u, _)| u.clone()).collect())?;
            for ((u, gs), dg) in round.iter().zip(direct) {
                for gi in gs {
                    let p = &mut pending[*gi];
                    if !p.open.remove(u) {
                        continue;
                    }
                    if dg.as_ref().is_some_and(|d| d.contains(&p.id)) {
                        push_direct(&mut out, &p.id, u);
                        p.left = p.left.map(|l| l - 1);
                    } else if let Some((fallback, grant)) = &p.refused
                        && dg.is_some()
                        && fallback.contains(u)
                    {
                        push_dynamic(&mut out, &p.id, u.clone(), grant);
                    }
                    settle(p, &mut out);
                }
            }
        }
    }
    finish(cx, out, None, follow_ups)
}

/// Closes a group when its counts leave no doubt about the open candidates.
fn settle(p: &mut Pending, out: &mut Out) {
    match p.left {
        Some(l) if l <= 0 => {
            // Every direct member is found: the rest outside I are there
            // by the refused filter.
            if let Some((fallback, grant)) = &p.refused {
                let mut rest: Vec<&String> =
                    p.open.iter().filter(|u| fallback.contains(*u)).collect();
                rest.sort();
                for u in rest {
                    push_dynamic(out, &p.id, u.clone(), grant);
                }
            }
            p.open.clear()
        }
        Some(l) if p.exact && l as usize >= p.open.len() => {
            let mut all: Vec<String> = p.open.drain().collect();
            all.sort();
            for u in all {
                push_direct(out, &p.id, &u);
            }
            p.left = Some(0);
        }
        _ => {}
    }
}

/// Each user's DIRECT group ids (`None` for a user deleted meanwhile).
pub fn direct_groups(
    cx: &Context,
    api: &Api,
    users: Vec<String>,
) -> Result<Vec<Option<HashSet<String>>>, ConnectorError> {
    let jobs = users
        .iter()
        .map(|u| {
            (
                api.user_direct_groups(u),
                format!("GET /users/{u}/memberOfGroups?filter=type eq \"DIRECT\""),
            )
        })
        .collect();
    let mut out = Vec::with_capacity(users.len());
    for (u, res) in users.iter().zip(api.list_all_with(
        "groupMemberships",
        jobs,
        parse_id_page::<GroupMembership>,
    )) {
        match res {
            Ok(rows) => {
                // Sized for every row: a filtered iterator gives no size
                // hint, and each growth re-hashes the ids already in.
                let mut direct = HashSet::with_capacity(rows.len());
                direct.extend(
                    rows.into_iter()
                        // The filter already asks for DIRECT; keep a server that ignores it honest.
                        .filter(|r| {
                            r.kind
                                .as_deref()
                                .is_none_or(|k| k.eq_ignore_ascii_case("DIRECT"))
                        })
                        .map(|r| r.id),
                );
                out.push(Some(direct));
            }
            Err(e) if matches!(e.error, ConnectorError::NotFound(_)) => {
                cx.log(Level::Debug, format!("user {u} is gone"));
                out.push(None);
            }
            Err(e) => return Err(e.error),
        }
    }
    Ok(out)
}

/// A follow-up chunk of per-user checks.
pub fn check(cx: &Context, api: &Api, chunk: CheckChunk) -> Result<PageOutcome, ConnectorError> {
    let direct = direct_groups(
        cx,
        api,
        chunk.users.iter().map(|(u, _)| u.clone()).collect(),
    )?;
    let mut out = Out::new();
    // No filters at all when no group of the chunk had one refused.
    let grants: Vec<Option<DynamicGrant>> = chunk
        .filters
        .iter()
        .map(|f| f.as_deref().map(DynamicGrant::new))
        .collect();
    for ((u, gs), dg) in chunk.users.iter().zip(direct) {
        let Some(dg) = dg else { continue };
        for gi in gs {
            let i = (gi & !DYNAMIC_UNLESS_DIRECT) as usize;
            let Some(g) = chunk.groups.get(i) else {
                continue;
            };
            if dg.contains(g) {
                push_direct(&mut out, g, u);
            } else if gi & DYNAMIC_UNLESS_DIRECT != 0
                && let Some(Some(grant)) = grants.get(i)
            {
                push_dynamic(&mut out, g, u.clone(), grant);
            }
        }
    }
    finish(cx, out, None, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{direct_rows, grant_ids, host, ok, page, run, status, task, urls, users};
    use crate::tokens::ResolveGroup;
    use connector_sdk::SyncOp;
    use connector_sdk::SyncTask;
    use serde_json::json;

    fn resolve_task(groups: Vec<ResolveGroup>) -> SyncTask {
        task(
            SyncOp::ListGrants,
            GROUP,
            None,
            Some(Work::Resolve(ResolveChunk { groups }).encode()),
        )
    }

    fn static_group(id: &str, direct: u64, children: &[&str]) -> ResolveGroup {
        ResolveGroup {
            id: id.into(),
            direct: Some(direct),
            filter: None,
            population: None,
            children: Some(children.iter().map(|c| c.to_string()).collect()),
        }
    }

    #[test]
    fn members_outside_the_children_are_direct_and_counts_settle_the_rest() {
        let a = urls();
        // p1: members u1..u4, child c holds u3, u4; d = 2 → u1, u2 direct, none of c's.
        // p2: members u3, u4, u5; child c; d = 3 → u5 sure, u3 and u4 direct by count.
        let h = host(vec![
            (
                a.group_members("p1"),
                ok(page("users", users(&["u1", "u2", "u3", "u4"]), None)),
            ),
            (
                a.group_members("p2"),
                ok(page("users", users(&["u3", "u4", "u5"]), None)),
            ),
            (
                a.group_members("c"),
                ok(page("users", users(&["u3", "u4"]), None)),
            ),
        ]);
        run(
            &h,
            resolve_task(vec![
                static_group("p1", 2, &["c"]),
                static_group("p2", 3, &["c"]),
            ]),
        )
        .unwrap();
        let mut got = grant_ids(&h);
        got.sort();
        assert_eq!(
            got,
            [
                "group:p1:member:user:u1",
                "group:p1:member:user:u2",
                "group:p2:member:user:u3",
                "group:p2:member:user:u4",
                "group:p2:member:user:u5"
            ]
        );
        assert_eq!(
            h.requests.borrow().len(),
            3,
            "no per-user checks were needed"
        );
    }

    #[test]
    fn ambiguous_candidates_are_checked_once_per_user_and_stop_early() {
        let a = urls();
        // p: members u1..u4, all also in child c; d = 1: one of them is direct.
        // q: members u1..u4, child c; d = 3.
        let h = host(vec![
            (
                a.group_members("p"),
                ok(page("users", users(&["u1", "u2", "u3", "u4"]), None)),
            ),
            (
                a.group_members("q"),
                ok(page("users", users(&["u1", "u2", "u3", "u4"]), None)),
            ),
            (
                a.group_members("c"),
                ok(page("users", users(&["u1", "u2", "u3", "u4"]), None)),
            ),
            (
                a.user_direct_groups("u1"),
                ok(page("groupMemberships", direct_rows(&["c", "q"]), None)),
            ),
            (
                a.user_direct_groups("u2"),
                ok(page(
                    "groupMemberships",
                    direct_rows(&["c", "p", "q"]),
                    None,
                )),
            ),
            (
                a.user_direct_groups("u3"),
                ok(page("groupMemberships", direct_rows(&["c"]), None)),
            ),
            (
                a.user_direct_groups("u4"),
                ok(page("groupMemberships", direct_rows(&["c", "q"]), None)),
            ),
        ]);
        run(
            &h,
            resolve_task(vec![
                static_group("p", 1, &["c"]),
                static_group("q", 3, &["c"]),
            ]),
        )
        .unwrap();
        let mut got = grant_ids(&h);
        got.sort();
        assert_eq!(
            got,
            [
                "group:p:member:user:u2",
                "group:q:member:user:u1",
                "group:q:member:user:u2",
                "group:q:member:user:u4"
            ]
        );
        let checks = h
            .requests
            .borrow()
            .iter()
            .filter(|r| r.url.contains("memberOfGroups?filter"))
            .count();
        assert_eq!(checks, 4, "each user read once for both groups");
    }

    #[test]
    fn dynamic_members_are_left_to_the_filter_listing() {
        let a = urls();
        // A dynamic group with 1 direct member: u9 (not matched by the filter).
        let g = ResolveGroup {
            id: "d".into(),
            direct: Some(1),
            filter: Some("title eq \"Manager\"".into()),
            population: None,
            children: Some(vec![]),
        };
        let h = host(vec![
            (
                a.group_members("d"),
                ok(page("users", users(&["u1", "u2", "u9"]), None)),
            ),
            (
                a.users_filtered("title eq \"Manager\""),
                ok(page("users", users(&["u1", "u2"]), None)),
            ),
        ]);
        run(&h, resolve_task(vec![g])).unwrap();
        assert_eq!(grant_ids(&h), ["group:d:member:user:u9"]);
    }

    #[test]
    fn a_refused_filter_keeps_direct_members_direct() {
        let a = urls();
        let f = "title pr";
        // d: members u1, u2, u9 and u5 (through child c); one direct: u9.
        let g = ResolveGroup {
            id: "d".into(),
            direct: Some(1),
            filter: Some(f.into()),
            population: None,
            children: Some(vec!["c".into()]),
        };
        let bad = json!({"code": "INVALID_DATA", "details": [{"code": "INVALID_FILTER", "target": "filter"}]});
        let h = host(vec![
            (
                a.group_members("d"),
                ok(page("users", users(&["u1", "u2", "u5", "u9"]), None)),
            ),
            (a.users_filtered(f), status(400, bad)),
            (
                a.group_members("c"),
                ok(page("users", users(&["u5"]), None)),
            ),
            (
                a.user_direct_groups("u1"),
                ok(page("groupMemberships", direct_rows(&[]), None)),
            ),
            (
                a.user_direct_groups("u2"),
                ok(page("groupMemberships", direct_rows(&["x"]), None)),
            ),
            (
                a.user_direct_groups("u5"),
                ok(page("groupMemberships", direct_rows(&["c"]), None)),
            ),
            (
                a.user_direct_groups("u9"),
                ok(page("groupMemberships", direct_rows(&["d"]), None)),
            ),
        ]);
        run(&h, resolve_task(vec![g])).unwrap();
        let mut got: Vec<(String, bool)> = h
            .grants
            .borrow()
            .iter()
            .map(|g| (g.principal.resource.clone(), g.immutable_reason.is_some()))
            .collect();
        got.sort();
        // u9 direct (revocable); u1, u2 by the filter (immutable); u5 only
        // through the nested group (its nesting grant expands to it).
        let want = [("u1", true), ("u2", true), ("u9", false)];
        assert_eq!(
            got,
            want.map(|(u, i)| (u.to_string(), i)),
            "{:?}",
            h.requests
                .borrow()
                .iter()
                .map(|r| &r.url)
                .collect::<Vec<_>>()
        );

        // The same through follow-up check tasks: the flags carry it.
        let chunk = CheckChunk {
            groups: vec!["d".into()],
            users: vec![
                ("u1".into(), vec![DYNAMIC_UNLESS_DIRECT]),
                ("u5".into(), vec![0]),
                ("u9".into(), vec![DYNAMIC_UNLESS_DIRECT]),
            ],
            filters: vec![Some(f.into())],
        };
        let h2 = host(vec![
            (
                a.user_direct_groups("u1"),
                ok(page("groupMemberships", direct_rows(&[]), None)),
            ),
            (
                a.user_direct_groups("u5"),
                ok(page("groupMemberships", direct_rows(&["c"]), None)),
            ),
            (
                a.user_direct_groups("u9"),
                ok(page("groupMemberships", direct_rows(&["d"]), None)),
            ),
        ]);
        run(
            &h2,
            task(
                SyncOp::ListGrants,
                GROUP,
                None,
                Some(Work::Check(chunk).encode()),
            ),
        )
        .unwrap();
        let mut got: Vec<(String, bool)> = h2
            .grants
            .borrow()
            .iter()
            .map(|g| (g.principal.resource.clone(), g.immutable_reason.is_some()))
            .collect();
        got.sort();
        assert_eq!(got, [("u1".to_string(), true), ("u9".to_string(), false)]);
    }

    fn warned(h: &connector_sdk::testing::MockHost, what: &str) -> bool {
        h.logs
            .borrow()
            .iter()
            .any(|(l, m)| *l == Level::Warn && m.contains(what))
    }

    #[test]
    fn a_count_below_the_sure_members_is_ignored_and_candidates_checked() {
        let a = urls();
        // p reports 0 direct members, yet u1 is outside its child c: the
        // count is wrong, so c's members u2, u3 are checked, not dropped.
        let h = host(vec![
            (
                a.group_members("p"),
                ok(page("users", users(&["u1", "u2", "u3"]), None)),
            ),
            (
                a.group_members("c"),
                ok(page("users", users(&["u2", "u3"]), None)),
            ),
            (
                a.user_direct_groups("u2"),
                ok(page("groupMemberships", direct_rows(&["c", "p"]), None)),
            ),
            (
                a.user_direct_groups("u3"),
                ok(page("groupMemberships", direct_rows(&["c"]), None)),
            ),
        ]);
        run(&h, resolve_task(vec![static_group("p", 0, &["c"])])).unwrap();
        let mut got = grant_ids(&h);
        got.sort();
        assert_eq!(got, ["group:p:member:user:u1", "group:p:member:user:u2"]);
        assert!(warned(&h, "reports 0 direct members"), "{:?}", h.logs);
    }

    #[test]
    fn a_count_above_every_possible_member_is_ignored() {
        let a = urls();
        // p reports 5 direct members but holds only u1 (outside c) and u2
        // (in c): the count cannot make u2 direct; its check does.
        let h = host(vec![
            (
                a.group_members("p"),
                ok(page("users", users(&["u1", "u2"]), None)),
            ),
            (
                a.group_members("c"),
                ok(page("users", users(&["u2"]), None)),
            ),
            (
                a.user_direct_groups("u2"),
                ok(page("groupMemberships", direct_rows(&["c"]), None)),
            ),
        ]);
        run(&h, resolve_task(vec![static_group("p", 5, &["c"])])).unwrap();
        assert_eq!(grant_ids(&h), ["group:p:member:user:u1"]);
        assert!(warned(&h, "at most 2"), "{:?}", h.logs);
    }

    #[test]
    fn a_missing_count_checks_every_candidate() {
        let a = urls();
        let mut g = static_group("p", 0, &["c"]);
        g.direct = None;
        let h = host(vec![
            (
                a.group_members("p"),
                ok(page("users", users(&["u1", "u2"]), None)),
            ),
            (
                a.group_members("c"),
                ok(page("users", users(&["u1", "u2"]), None)),
            ),
            (
                a.user_direct_groups("u1"),
                ok(page("groupMemberships", direct_rows(&["p", "c"]), None)),
            ),
            (
                a.user_direct_groups("u2"),
                ok(page("groupMemberships", direct_rows(&["c"]), None)),
            ),
        ]);
        run(&h, resolve_task(vec![g])).unwrap();
        assert_eq!(grant_ids(&h), ["group:p:member:user:u1"]);
        assert!(h.logs.borrow().iter().all(|(l, _)| *l != Level::Warn));
    }

    #[test]
    fn unknown_children_rely_on_counts_then_checks() {
        let a = urls();
        let g = |id: &str, d| ResolveGroup {
            id: id.into(),
            direct: Some(d),
            filter: None,
            population: None,
            children: None,
        };
        let h = host(vec![
            (
                a.group_members("all"),
                ok(page("users", users(&["u1", "u2"]), None)),
            ),
            (
                a.group_members("some"),
                ok(page("users", users(&["u1", "u2"]), None)),
            ),
            (
                a.user_direct_groups("u1"),
                ok(page(
                    "groupMemberships",
                    direct_rows(&["all", "some"]),
                    None,
                )),
            ),
            (
                a.user_direct_groups("u2"),
                status(404, json!({"code": "NOT_FOUND"})),
            ),
        ]);
        run(&h, resolve_task(vec![g("all", 2), g("some", 1)])).unwrap();
        let mut got = grant_ids(&h);
        got.sort();
        // "all": the count says every member is direct; "some": u1 is its
        // one direct member (u2 vanished meanwhile).
        assert_eq!(
            got,
            [
                "group:all:member:user:u1",
                "group:all:member:user:u2",
                "group:some:member:user:u1"
            ]
        );
    }

    #[test]
    fn big_resolutions_split_into_check_tasks() {
        let a = urls();
        let many: Vec<String> = (0..IN_CALL_CHECKS + 5).map(|i| format!("u{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let h = host(vec![
            (a.group_members("p"), ok(page("users", users(&refs), None))),
            (a.group_members("c"), ok(page("users", users(&refs), None))),
        ]);
        let out = run(&h, resolve_task(vec![static_group("p", 7, &["c"])])).unwrap();
        assert_eq!(
            out.follow_ups.len(),
            (IN_CALL_CHECKS + 5).div_ceil(CHECKS_PER_TASK)
        );
        let Work::Check(c) =
            Work::decode(out.follow_ups[0].page_token.as_deref().unwrap()).unwrap()
        else {
            panic!()
        };
        assert_eq!(c.groups, ["p"]);
        assert!(grant_ids(&h).is_empty());

        let h = host(vec![(
            a.user_direct_groups(&c.users[0].0),
            ok(page("groupMemberships", direct_rows(&["p"]), None)),
        )]);
        let one = CheckChunk {
            groups: c.groups.clone(),
            users: vec![c.users[0].clone()],
            filters: Vec::new(),
        };
        run(
            &h,
            task(
                SyncOp::ListGrants,
                GROUP,
                None,
                Some(Work::Check(one).encode()),
            ),
        )
        .unwrap();
        assert_eq!(
            grant_ids(&h),
            [format!("group:p:member:user:{}", c.users[0].0)]
        );
    }
}
