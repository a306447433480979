//! What a sync of a simulated tenant must produce, derived from the
//! simulator's ground truth with the connector's documented data model, and
//! the requests the connector's own plan makes for it (`planned`: a
//! regression check of the plan, not an efficiency yardstick; that is
//! `pingone_sim::lower_bound`).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use pingone_sim::GroundTruth;

/// An expected grant's properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantSpec {
    pub immutable: bool,
    /// Entitlement ids of `GrantExpandable`.
    pub expansion: Option<Vec<String>>,
}

#[derive(Debug, Default)]
pub struct Expected {
    pub resources: BTreeSet<String>,
    pub entitlements: BTreeSet<String>,
    pub grants: BTreeMap<String, GrantSpec>,
}

fn s(v: &serde_json::Value, k: &str) -> String {
    v.get(k)
        .and_then(|x| x.as_str())
        .unwrap_or_default()
        .to_string()
}

pub fn scope_slug(kind: &str, id: &str, env: &str) -> String {
    match kind {
        "ENVIRONMENT" if id == env => "assigned".into(),
        "ENVIRONMENT" => "assigned:other-environment".into(),
        "POPULATION" => format!("assigned:population:{id}"),
        "ORGANIZATION" => "assigned:organization".into(),
        "APPLICATION" => "assigned:application".into(),
        other => panic!("unknown scope type {other}"),
    }
}

pub fn expected(t: &GroundTruth) -> Expected {
    let env = &t.environment.id;
    let mut e = Expected::default();
    let pops: Vec<String> = t.populations.iter().map(|p| s(p, "id")).collect();
    for p in &pops {
        e.resources.insert(format!("population:{p}"));
        e.entitlements.insert(format!("population:{p}:member"));
    }
    for u in &t.users {
        let id = s(u, "id");
        e.resources.insert(format!("user:{id}"));
        let pop = u["population"]["id"].as_str().unwrap_or_default();
        e.grants.insert(
            format!("population:{pop}:member:user:{id}"),
            GrantSpec {
                immutable: true,
                expansion: None,
            },
        );
    }
    for g in &t.groups {
        let id = s(g, "id");
        e.resources.insert(format!("group:{id}"));
        e.entitlements.insert(format!("group:{id}:member"));
    }
    for r in t.roles.iter().chain(&t.custom_roles) {
        let id = s(r, "id");
        e.resources.insert(format!("role:{id}"));
        let scopes: Vec<String> = r["applicableTo"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        for sc in &scopes {
            match sc.as_str() {
                "ENVIRONMENT" => {
                    e.entitlements.insert(format!("role:{id}:assigned"));
                    e.entitlements
                        .insert(format!("role:{id}:assigned:other-environment"));
                }
                "POPULATION" => {
                    for p in &pops {
                        e.entitlements
                            .insert(format!("role:{id}:assigned:population:{p}"));
                    }
                }
                "ORGANIZATION" => {
                    e.entitlements
                        .insert(format!("role:{id}:assigned:organization"));
                }
                "APPLICATION" => {
                    e.entitlements
                        .insert(format!("role:{id}:assigned:application"));
                }
                _ => {}
            }
        }
    }
    let dynamic: HashMap<&str, HashSet<&str>> = t
        .dynamic_group_members
        .iter()
        .map(|d| {
            (
                d.group_id.as_str(),
                d.user_ids.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    for m in &t.memberships {
        let is_dynamic = dynamic
            .get(m.group_id.as_str())
            .is_some_and(|y| y.contains(m.user_id.as_str()));
        e.grants.insert(
            format!("group:{}:member:user:{}", m.group_id, m.user_id),
            GrantSpec {
                immutable: is_dynamic,
                expansion: None,
            },
        );
    }
    for (g, users) in &dynamic {
        for u in users {
            e.grants.insert(
                format!("group:{g}:member:user:{u}"),
                GrantSpec {
                    immutable: true,
                    expansion: None,
                },
            );
        }
    }
    for n in &t.nestings {
        e.grants.insert(
            format!(
                "group:{}:member:group:{}",
                n.parent_group_id, n.child_group_id
            ),
            GrantSpec {
                immutable: false,
                expansion: Some(vec![format!("group:{}:member", n.child_group_id)]),
            },
        );
    }
    // Role grants: one per (subject, role, scope slug); immutable when every
    // assignment behind it is read-only.
    let mut roles: BTreeMap<String, (bool, Option<Vec<String>>)> = BTreeMap::new();
    for a in &t.role_assignments {
        let slug = scope_slug(&a.scope.scope_type, &a.scope.id, env);
        let (principal, expansion) = match a.subject_type.as_str() {
            "USER" => (format!("user:{}", a.subject_id), None),
            _ => (
                format!("group:{}", a.subject_id),
                Some(vec![format!("group:{}:member", a.subject_id)]),
            ),
        };
        let id = format!("role:{}:{slug}:{principal}", a.role_id);
        let entry = roles.entry(id).or_insert((true, expansion));
        entry.0 &= a.read_only;
    }
    for (id, (immutable, expansion)) in roles {
        e.grants.insert(
            id,
            GrantSpec {
                immutable,
                expansion,
            },
        );
    }
    e
}

fn pages(n: usize, size: usize) -> u64 {
    n.div_ceil(size).max(1) as u64
}

/// The connector's planned requests for this tenant, and how they split.
#[derive(Debug, Clone)]
pub struct Planned {
    /// Listings, per-user role assignments, per-group parents and role assignments.
    pub base: u64,
    /// Membership by group listings + set algebra + deduplicated per-user checks.
    pub by_groups: u64,
    /// Membership by one DIRECT listing per user + dynamic filter listings.
    pub by_users: u64,
    pub total: u64,
}

/// The connector's planned requests, re-derived from its documented plan
/// (not a lower bound: it assumes the connector's own choices): every
/// listing at its largest page (users 200,
/// others 1,000; roles are two listings, platform roles at `/roles` and the
/// environment's custom roles), one role-assignment read per user and per
/// group and one parents read per group (PingOne has no bulk form of
/// either), plus the
/// cheaper of the two complete ways to know direct and dynamic members:
/// - by users: one DIRECT listing per user, plus each dynamic group's
///   filter listing;
/// - by groups: each group's member listing where it has direct members or
///   a filter, each nested group's listing once, and for the groups whose
///   counts leave a doubt, one check per candidate user (shared across
///   groups). That is what the API forces in the worst case: nothing lists
///   a group's direct members in bulk, and when candidates come in an
///   adversarial order every one of them must be read. Stopping early (as
///   the connector does) can beat it on a friendly order.
pub fn planned(t: &GroundTruth) -> Planned {
    let u = t.users.len();
    let g = t.groups.len();
    let p = t.populations.len();
    let base = pages(u, 200) + pages(g, 1000) + pages(p, 1000) + 2 + u as u64 + 2 * g as u64;

    let mut direct: HashMap<&str, HashSet<&str>> = HashMap::new();
    for m in &t.memberships {
        direct
            .entry(m.group_id.as_str())
            .or_default()
            .insert(m.user_id.as_str());
    }
    let dynamic: HashMap<&str, HashSet<&str>> = t
        .dynamic_group_members
        .iter()
        .map(|d| {
            (
                d.group_id.as_str(),
                d.user_ids.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
    for n in &t.nestings {
        children
            .entry(n.parent_group_id.as_str())
            .or_default()
            .push(n.child_group_id.as_str());
    }
    let members = |root: &str| -> HashSet<String> {
        let mut out = HashSet::new();
        let mut stack = vec![root.to_string()];
        let mut seen = HashSet::new();
        while let Some(x) = stack.pop() {
            if !seen.insert(x.clone()) {
                continue;
            }
            for set in [direct.get(x.as_str()), dynamic.get(x.as_str())]
                .into_iter()
                .flatten()
            {
                out.extend(set.iter().map(|s| s.to_string()));
            }
            for c in children.get(x.as_str()).into_iter().flatten() {
                stack.push(c.to_string());
            }
        }
        out
    };

    let mut by_groups = 0u64;
    let mut listed_children: HashSet<String> = HashSet::new();
    let mut checked_users: HashSet<String> = HashSet::new();
    let mut dyn_pages = 0u64;
    for gr in &t.groups {
        let id = s(gr, "id");
        let d = direct.get(id.as_str()).map_or(0, HashSet::len);
        let y = dynamic.get(id.as_str());
        let kids = children.get(id.as_str()).cloned().unwrap_or_default();
        let m = members(&id);
        if let Some(y) = y {
            dyn_pages += pages(y.len(), 200);
        }
        match (y, kids.is_empty(), d) {
            (None, _, 0) => {}
            (None, true, _) => by_groups += pages(m.len(), 200),
            (Some(y), true, 0) => by_groups += pages(y.len(), 200),
            (y, _, _) => {
                if let Some(y) = y {
                    by_groups += pages(y.len(), 200);
                    if d == 0 {
                        continue;
                    }
                }
                by_groups += pages(m.len(), 200);
                let mut inner: HashSet<String> = HashSet::new();
                for c in &kids {
                    let mc = members(c);
                    if listed_children.insert(c.to_string()) {
                        by_groups += pages(mc.len(), 200);
                    }
                    inner.extend(mc);
                }
                let ys: HashSet<String> = y
                    .map(|y| y.iter().map(|s| s.to_string()).collect())
                    .unwrap_or_default();
                let sure = m
                    .iter()
                    .filter(|x| !inner.contains(*x) && !ys.contains(*x))
                    .count();
                let cand: Vec<&String> = m
                    .iter()
                    .filter(|x| inner.contains(*x) && !ys.contains(*x))
                    .collect();
                let k = d as i64 - sure as i64;
                let exact = y.is_none();
                let settled = k <= 0 || (exact && k as usize >= cand.len());
                if !settled {
                    checked_users.extend(cand.into_iter().cloned());
                }
            }
        }
    }
    by_groups += checked_users.len() as u64;
    let by_users = u as u64 + dyn_pages;
    Planned {
        base,
        by_groups,
        by_users,
        total: base + by_groups.min(by_users),
    }
}

/// The membership grants of dynamic groups when PingOne refuses their
/// `userFilter` as a users filter: nothing shows which members the filter
/// matches, so a direct member stays a direct (revocable) grant even if the
/// filter matches it too; a member neither direct nor reached through a
/// nested group is a dynamic (immutable) one. A group without direct
/// members reports every member as dynamic, as before.
pub fn with_refused_filters(t: &GroundTruth, e: &mut Expected) {
    fn members(
        g: &str,
        t: &GroundTruth,
        dynamic: &HashMap<&str, Vec<String>>,
        out: &mut BTreeSet<String>,
    ) {
        out.extend(
            t.memberships
                .iter()
                .filter(|m| m.group_id == g)
                .map(|m| m.user_id.clone()),
        );
        out.extend(dynamic.get(g).into_iter().flatten().cloned());
        for n in t.nestings.iter().filter(|n| n.parent_group_id == g) {
            members(&n.child_group_id, t, dynamic, out);
        }
    }
    let dynamic: HashMap<&str, Vec<String>> = t
        .dynamic_group_members
        .iter()
        .map(|d| (d.group_id.as_str(), d.user_ids.clone()))
        .collect();
    for d in &t.dynamic_group_members {
        let g = d.group_id.as_str();
        let prefix = format!("group:{g}:member:user:");
        e.grants.retain(|id, _| !id.starts_with(&prefix));
        let direct: BTreeSet<String> = t
            .memberships
            .iter()
            .filter(|m| m.group_id == g)
            .map(|m| m.user_id.clone())
            .collect();
        let mut all = BTreeSet::new();
        members(g, t, &dynamic, &mut all);
        let mut nested = BTreeSet::new();
        for n in t.nestings.iter().filter(|n| n.parent_group_id == g) {
            members(&n.child_group_id, t, &dynamic, &mut nested);
        }
        for u in &all {
            let immutable = if direct.is_empty() {
                true
            } else if direct.contains(u) {
                false
            } else if nested.contains(u) {
                continue;
            } else {
                true
            };
            e.grants.insert(
                format!("{prefix}{u}"),
                GrantSpec {
                    immutable,
                    expansion: None,
                },
            );
        }
    }
}
