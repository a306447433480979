//! A lower bound on the requests any correct connector needs to read a
//! tenant through PingOne's documented API (pingone-api.md), from the
//! tenant's shape alone: no connector's plan goes into it, so a sync's
//! requests divided by it is an honest efficiency ratio (always ≥ 1).
//!
//! Each term is argued below, the usual way: if a connector made fewer
//! requests of a kind, some other tenant would answer every request it did
//! make identically yet need a different output. Where the reference leaves
//! room for a cleverer read than the one argued, the term takes the smaller
//! count, so the bound may be loose but is never too high.

use std::collections::{HashMap, HashSet};

use crate::ground_truth::GroundTruth;

/// Documented page maximum of `GET /environments/{env}/users` (§5.1: "the
/// page size limit of 200"; the spec's 1..1000 is capped by it).
pub const USERS_PAGE_MAX: usize = 200;

/// The bound and its terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LowerBound {
    /// One token exchange: every API call needs a bearer token (§2).
    pub token: u64,
    /// Users listing and membership reads together; see [`lower_bound`].
    pub users_and_membership: u64,
    /// Requests that must name a group or a user to learn direct
    /// memberships (part of `users_and_membership`).
    pub membership: u64,
    /// Groups, populations, platform roles, custom roles: one listing each.
    pub listings: u64,
    /// One role-assignment listing per user and per group.
    pub role_assignments: u64,
    /// One parents listing per group whose nesting nothing else shows.
    pub parents: u64,
    /// Everything but the token: what a sync's API requests compare to.
    pub api: u64,
}

/// The lower bound for `t`. Terms:
///
/// - **Completeness listings (4).** Only a listing that ends
///   without `next` shows that no other group, population, platform role
///   or custom role exists (reads by id or embedded objects never do), so
///   each of `GET /groups`, `GET /populations`, `GET /roles` and
///   `GET /environments/{env}/roles` costs at least one request. More pages
///   of groups are not counted: `expand=group` on membership listings could
///   in principle carry group objects.
/// - **Users and membership.** User objects come only from users listings
///   (≤ 200 a page) or single reads, so at least ⌈U/200⌉ requests return
///   users. Separately, a direct membership is shown only by a request that
///   names its group (`memberOfGroups[id eq g]`, a pair read) or its user
///   (the user's `memberOfGroups`, `include=memberOfGroupIDs`). Take the
///   groups nested in no other group and named in no `userFilter` (so no
///   other group's member listing shows their members) with fewer than
///   U/2 direct members. If such a group g and one of its members u are
///   both never named, the
///   `directMemberCounts` in the groups listing pin u's membership only if
///   every unnamed user is in g, which leaves more than U/2 users named;
///   otherwise moving u's membership of g to another unnamed user changes
///   no response. So the named groups and users cover every membership of
///   those groups, or more than U/2 users are named: at least
///   min(ν, ⌊U/2⌋) requests, ν the size of a maximum matching between those
///   groups and their direct members (a cover is at least a matching).
///   Dynamic memberships are left out: a connector could evaluate a
///   `userFilter` on the listed users itself. Combined filters (`or` across
///   groups) return unions that attribute no user to a group, and are not
///   counted as naming. The users term is the larger of ⌈U/200⌉ and
///   that count, not their sum, since a group's member listing also
///   returns user objects (and population `userCount`s might show the
///   users complete without an unfiltered listing).
/// - **Role assignments (U + G).** Assignments are listed only per user and
///   per group (§3.6, no bulk form), and a principal with none looks the
///   same as one with some to every other request; no `limit` is
///   documented, so one page each. Users inherit their groups' roles, but
///   the reference documents no listing that shows an inherited
///   assignment, let alone the group it came from.
/// - **Parents (groups without members).** A nesting is listed only by the
///   nested group's `GET /groups/{id}/memberOfGroups`. For a group with no
///   members (direct, dynamic or nested), adding or removing one of its
///   nestings changes no member listing or count, so its parents must be
///   read. For a group with members, set algebra over member listings might
///   in principle reveal its nestings, so it is not counted.
pub fn lower_bound(t: &GroundTruth) -> LowerBound {
    let u = t.users.len();
    let id = |v: &serde_json::Value| v["id"].as_str().unwrap_or_default().to_string();
    let groups: Vec<String> = t.groups.iter().map(id).collect();

    let users_pages = u.div_ceil(USERS_PAGE_MAX).max(1) as u64;
    let membership = membership_cover(t, u);
    let users_and_membership = users_pages.max(membership);

    let role_assignments = (u + groups.len()) as u64;
    let parents = memberless_groups_with_movable_nesting(t, &groups);
    let listings = 4;
    let api = users_and_membership + listings + role_assignments + parents;
    LowerBound {
        token: 1,
        users_and_membership,
        membership,
        listings,
        role_assignments,
        parents,
        api,
    }
}

/// min(maximum matching, ⌊U/2⌋) over the direct memberships of groups that
/// are nested in none, named in no `userFilter`, and have fewer than U/2
/// direct members.
fn membership_cover(t: &GroundTruth, users: usize) -> u64 {
    let nested: HashSet<&str> = t
        .nestings
        .iter()
        .map(|n| n.child_group_id.as_str())
        .collect();
    let mut members: HashMap<&str, Vec<&str>> = HashMap::new();
    let in_a_filter = |g: &str| {
        t.dynamic_group_members
            .iter()
            .any(|d| d.user_filter.contains(g))
    };
    for m in &t.memberships {
        if !nested.contains(m.group_id.as_str()) && !in_a_filter(&m.group_id) {
            members
                .entry(m.group_id.as_str())
                .or_default()
                .push(m.user_id.as_str());
        }
    }
    let adj: Vec<Vec<&str>> = members
        .into_values()
        .filter(|v| 2 * v.len() < users)
        .collect();
    // Augmenting paths (Kuhn): groups on the left, users on the right.
    let mut owner: HashMap<&str, usize> = HashMap::new();
    fn augment<'a>(
        g: usize,
        adj: &[Vec<&'a str>],
        seen: &mut HashSet<&'a str>,
        owner: &mut HashMap<&'a str, usize>,
    ) -> bool {
        for &u in &adj[g] {
            if seen.insert(u) {
                let free = match owner.get(u) {
                    None => true,
                    Some(&h) => augment(h, adj, seen, owner),
                };
                if free {
                    owner.insert(u, g);
                    return true;
                }
            }
        }
        false
    }
    let mut matched = 0u64;
    for g in 0..adj.len() {
        if augment(g, &adj, &mut HashSet::new(), &mut owner) {
            matched += 1;
        }
    }
    matched.min((users / 2) as u64)
}

/// Groups with no member at all (direct, dynamic or through nested groups)
/// that either have a parent (which could be removed) or could be nested
/// in some group that is not among their descendants.
fn memberless_groups_with_movable_nesting(t: &GroundTruth, groups: &[String]) -> u64 {
    let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut has_parent: HashSet<&str> = HashSet::new();
    for n in &t.nestings {
        children
            .entry(n.parent_group_id.as_str())
            .or_default()
            .push(n.child_group_id.as_str());
        has_parent.insert(n.child_group_id.as_str());
    }
    let mut populated: HashSet<&str> = t.memberships.iter().map(|m| m.group_id.as_str()).collect();
    populated.extend(
        t.dynamic_group_members
            .iter()
            .filter(|d| !d.user_ids.is_empty())
            .map(|d| d.group_id.as_str()),
    );
    let descendants = |root: &str| -> HashSet<&str> {
        let mut out = HashSet::new();
        let mut stack = vec![root];
        while let Some(x) = stack.pop() {
            for &c in children.get(x).into_iter().flatten() {
                if out.insert(c) {
                    stack.push(c);
                }
            }
        }
        out
    };
    groups
        .iter()
        .filter(|g| {
            let below = descendants(g);
            if populated.contains(g.as_str()) || below.iter().any(|d| populated.contains(d)) {
                return false;
            }
            has_parent.contains(g.as_str())
                || groups
                    .iter()
                    .any(|o| o != *g && !below.contains(o.as_str()))
        })
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Membership, Nesting, SimConfig, generate_ground_truth};

    fn ids(v: &[serde_json::Value]) -> Vec<String> {
        v.iter()
            .map(|x| x["id"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn terms_follow_the_shape() {
        let mut t = generate_ground_truth(&SimConfig::small(1));
        let (users, groups) = (ids(&t.users), ids(&t.groups));
        let (u, g) = (users.len() as u64, groups.len() as u64);
        assert!(u >= 8 && g >= 4, "{u} users, {g} groups");
        t.memberships.clear();
        t.nestings.clear();
        t.dynamic_group_members.clear();
        let member = |u: &str, g: &str| Membership {
            user_id: u.into(),
            group_id: g.into(),
        };
        // Two groups sharing their only candidate for a matching: u0.
        t.memberships = vec![
            member(&users[0], &groups[0]),
            member(&users[1], &groups[0]),
            member(&users[0], &groups[1]),
            // Nested group's members: shown by its parent's listing, so
            // not counted.
            member(&users[2], &groups[2]),
        ];
        t.nestings = vec![Nesting {
            child_group_id: groups[2].clone(),
            parent_group_id: groups[3].clone(),
        }];
        let b = lower_bound(&t);
        assert_eq!(b.membership, 2);
        assert_eq!(b.users_and_membership, 2.max(u.div_ceil(200)));
        assert_eq!(b.role_assignments, u + g);
        // Every group but the three with members and the parent of one.
        assert_eq!(b.parents, g - 4);
        assert_eq!(b.listings, 4);
        assert_eq!(
            b.api,
            b.users_and_membership + b.listings + b.role_assignments + b.parents
        );
    }

    /// A group holding more than half the users could be settled by its
    /// count once the others are named, so it adds nothing.
    #[test]
    fn a_group_of_most_users_is_not_counted() {
        let mut t = generate_ground_truth(&SimConfig::small(2));
        let (users, groups) = (ids(&t.users), ids(&t.groups));
        t.nestings.clear();
        t.dynamic_group_members.clear();
        t.memberships = users
            .iter()
            .map(|u| Membership {
                user_id: u.clone(),
                group_id: groups[0].clone(),
            })
            .collect();
        assert_eq!(lower_bound(&t).membership, 0);
    }
}
