//! Member listings turned into grants: a page of each of several groups'
//! members per call, the users sweep of the by-users plan, and the grant a
//! direct or a dynamic member gets.
//!
//! Decision: a static group without nested groups lists exactly its direct
//! members, so its listing is the evidence and a reported count that says
//! otherwise is only warned about. A dynamic group's members by its filter
//! get immutable grants (the filter grants them); should PingOne refuse the
//! filter, the group's resolution ([`super::resolve`]) or, for a group with
//! no direct member, the plain member listing settles them.

use connector_sdk::{ConnectorError, Context, Level, PageOutcome};
use serde_json::json;

use crate::client::api::Api;
use crate::client::errors;
use crate::client::idpage::parse_id_page;
use crate::client::model::IdOnly;
use crate::client::paging::{Page, next_page};
use crate::membership::resolve::direct_groups;
use crate::resources::finish;
use crate::tokens::{GroupMembers, Sweep, Work};
use crate::upload::{Out, SetKey};
use crate::{GROUP, USER};

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
pub const NESTED_METADATA: &str = r#"{"membership":"nested-group"}"#;

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
/// kind (see [`super::plan::plan`]), in one `send_batch`. Groups with more pages go on
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
            let (members, filter) = match gm.by_filter {
                true => ("dynamic members", "userFilter"),
                false => ("members", "memberOfGroups"),
            };
            let what = format!(
                "listing the {members} of group {} (GET /users?filter={filter})",
                gm.group
            );
            let resp = res?;
            if gm.by_filter && gm.resolved && errors::is_invalid_filter(&resp) {
                // The group's resolution reads its members and tells its
                // direct members from the ones the filter adds
                // ([`super::resolve`]): nothing to report here.
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
            let next = next_page(api, &url, &page, gm.empty, &what)?;
            for u in page.items {
                match &dynamic {
                    Some(d) => push_dynamic(&mut out, &gm.group, u.id, d),
                    None => push_direct(&mut out, &gm.group, u.id),
                }
            }
            if let Some((next, empty)) = next {
                rest.push(GroupMembers {
                    next: Some(next),
                    empty,
                    ..gm
                });
            }
        }
        pending = fallback;
    }
    let next = (!rest.is_empty()).then(|| Work::Members { groups: rest }.encode());
    finish(cx, out, next, Vec::new())
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

/// Mode [`crate::tokens::Mode::ByUsers`]: one users page, each user's DIRECT groups.
pub fn sweep(cx: &Context, api: &Api, mut sw: Sweep) -> Result<PageOutcome, ConnectorError> {
    let url = sw.next.take().unwrap_or_else(|| api.users());
    let what = "listing users for their direct groups (GET /users)";
    let resp = api.get(&url, what)?;
    let page: Page<IdOnly> = parse_id_page(&resp, "users", what)?;
    let ids: Vec<String> = page.items.iter().map(|u| u.id.clone()).collect();
    let direct = direct_groups(cx, api, ids.clone())?;
    let mut out = Out::new();
    for (u, groups) in ids.iter().zip(direct) {
        for g in groups.into_iter().flatten() {
            if !sw.skip.contains(&g) {
                push_direct(&mut out, &g, u);
            }
        }
    }
    let next = next_page(api, &url, &page, sw.empty, what)?.map(|(next, empty)| {
        Work::Sweep(Sweep {
            next: Some(next),
            empty,
            ..sw
        })
        .encode()
    });
    finish(cx, out, next, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{grant_ids, host, ok, page, run, status, task, urls};
    use connector_sdk::SyncOp;
    use serde_json::json;

    #[test]
    fn constant_grant_metadata_is_the_json_it_stands_for() {
        assert_eq!(DIRECT_METADATA, json!({"membership": "direct"}).to_string());
        assert_eq!(
            NESTED_METADATA,
            json!({"membership": "nested-group"}).to_string()
        );
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
}
