//! What each store change writes to the audit log: the record shapes of
//! pingone-activities.md §3, built from the store's entities at the moment
//! of the change (a delete is described before the object is gone).
//!
//! The operations in `ops.rs` call these after they succeed, so API writes
//! and scripted changes record alike; what the reference leaves unknown
//! (nesting, dynamic membership, side effects) is recorded only when
//! [`crate::config::AuditConfig`] asks for it.

use std::collections::BTreeSet;

use crate::activity::{ActivityResource, Draft};
use crate::config::NestingAudit;
use crate::model::{Assignment, Group, Population, Pos, Subject, User};
use crate::store::Store;

impl Store {
    fn user_resource(&self, u: &User) -> ActivityResource {
        ActivityResource {
            kind: "USER",
            id: u.id.clone(),
            name: u.profile.username.clone(),
            href: self.user_url(u),
            population_id: self.pop(u.population).map(|p| p.id.clone()),
        }
    }

    fn group_resource(&self, g: &Group) -> ActivityResource {
        ActivityResource {
            kind: "GROUP",
            id: g.id.clone(),
            name: g.name.clone(),
            href: self.group_url(g),
            population_id: None,
        }
    }

    /// A `USER.*` record about the user at `u` as it is now.
    pub(crate) fn record_user(
        &mut self,
        u: Pos,
        action_type: &'static str,
        description: impl FnOnce(&str) -> String,
        modified_attributes: Option<Vec<String>>,
    ) {
        let Some(user) = self.user(u) else {
            return;
        };
        let draft = Draft {
            action_type,
            resource: self.user_resource(user),
            description: description(&user.profile.username),
            modified_attributes,
            admin_identity: !self.assignments_of(Subject::User(u)).is_empty(),
        };
        self.audit.record(draft);
    }

    /// `USER.UPDATED` naming the attributes that changed (names only).
    pub(crate) fn record_user_update(&mut self, u: Pos, attrs: Vec<String>) {
        if attrs.is_empty() {
            return;
        }
        let list = attrs.join(", ");
        self.record_user(
            u,
            "USER.UPDATED",
            |name| format!("Updated {list} for User {name}"),
            Some(attrs),
        );
    }

    /// A `GROUP.*` record about the group at `g` as it is now.
    pub(crate) fn record_group(&mut self, g: Pos, action_type: &'static str, verb: &str) {
        let Some(group) = self.group(g) else {
            return;
        };
        let description = format!("{verb} Group {}", group.name);
        let draft = Draft::new(action_type, self.group_resource(group), description);
        self.audit.record(draft);
    }

    /// A `POPULATION.*` record.
    pub(crate) fn record_population(
        &mut self,
        p: &Population,
        action_type: &'static str,
        verb: &str,
    ) {
        let resource = ActivityResource {
            kind: "POPULATION",
            id: p.id.clone(),
            name: p.name.clone(),
            href: format!("{}/populations/{}", self.env_url(), p.id),
            population_id: None,
        };
        let description = format!("{verb} Population {}", p.name);
        self.audit
            .record(Draft::new(action_type, resource, description));
    }

    /// `MEMBER_OF_GROUP.CREATED|DELETED` for a user.
    pub(crate) fn record_membership(&mut self, u: Pos, g: Pos, created: bool) {
        if let Some(user) = self.user(u) {
            self.record_member_of(format!("users/{}", user.id), g, created);
        }
    }

    /// One `MEMBER_OF_GROUP.*` resource whose `name` is the group's and
    /// whose href alone carries both ids (`member` is `users/{id}` or
    /// `groups/{id}`).
    fn record_member_of(&mut self, member: String, g: Pos, created: bool) {
        let Some(group) = self.group(g) else {
            return;
        };
        let href = format!("{}/{member}/memberOfGroups/{}", self.env_url(), group.id);
        let name = group.name.clone();
        let (action_type, verb) = if created {
            ("MEMBER_OF_GROUP.CREATED", "Created")
        } else {
            ("MEMBER_OF_GROUP.DELETED", "Deleted")
        };
        let description = format!("{verb} Member Of Group {name}");
        let resource = ActivityResource {
            kind: "MEMBER_OF_GROUP",
            id: self.audit.opaque_id(),
            name,
            href,
            population_id: None,
        };
        self.audit
            .record(Draft::new(action_type, resource, description));
    }

    /// A nesting change, as [`NestingAudit`] says.
    pub(crate) fn record_nesting(&mut self, child: Pos, parent: Pos, created: bool) {
        match self.audit.config.nesting {
            NestingAudit::NotRecorded => {}
            NestingAudit::GroupUpdated => self.record_group(child, "GROUP.UPDATED", "Updated"),
            NestingAudit::MemberOfGroup => {
                if let Some(c) = self.group(child) {
                    self.record_member_of(format!("groups/{}", c.id), parent, created);
                }
            }
        }
    }

    /// The dynamic groups whose `userFilter` takes the user at `u`.
    pub(crate) fn dynamic_groups_of(&self, u: Pos) -> Vec<Pos> {
        self.live_groups()
            .filter(|(_, g)| g.user_filter.is_some())
            .map(|(gp, _)| gp)
            .filter(|gp| self.dynamic_members(*gp).binary_search(&u).is_ok())
            .collect()
    }

    /// The dynamic groups of `u` before a change, when the configuration
    /// records dynamic-membership changes (else nothing is computed).
    pub(crate) fn dynamic_before(&self, u: Pos) -> Option<Vec<Pos>> {
        self.audit
            .config
            .dynamic_membership
            .then(|| self.dynamic_groups_of(u))
    }

    /// Records the dynamic joins and leaves since `before`.
    pub(crate) fn record_dynamic_changes(&mut self, u: Pos, before: Option<Vec<Pos>>) {
        if let Some(before) = before {
            let after = self.dynamic_groups_of(u);
            self.record_joins_and_leaves(&before, &after, |g| (u, g));
        }
    }

    /// Who a group's `userFilter` takes before a change, when the
    /// configuration records dynamic-membership changes.
    pub(crate) fn filter_members_before(&self, g: Pos) -> Option<Vec<Pos>> {
        self.audit
            .config
            .dynamic_membership
            .then(|| self.dynamic_members(g).as_ref().clone())
    }

    /// Records who a group's filter took in or let go since `before`.
    pub(crate) fn record_filter_changes(&mut self, g: Pos, before: Vec<Pos>) {
        if self.audit.config.dynamic_membership {
            let after = self.dynamic_members(g);
            self.record_joins_and_leaves(&before, &after, |u| (u, g));
        }
    }

    /// Records the joins (in `after` only) and then the leaves (in `before`
    /// only) of two sorted position lists; `pair` names the (user, group).
    fn record_joins_and_leaves(
        &mut self,
        before: &[Pos],
        after: &[Pos],
        pair: impl Fn(Pos) -> (Pos, Pos),
    ) {
        for (side, other, created) in [(after, before, true), (before, after, false)] {
            for &x in side.iter().filter(|x| other.binary_search(x).is_err()) {
                let (u, g) = pair(x);
                self.record_membership(u, g, created);
            }
        }
    }

    /// `ROLE_ASSIGNMENT.CREATED|DELETED`: the principal is the resource;
    /// the role is named only in the description, and not at all on delete.
    pub(crate) fn record_assignment(&mut self, a: &Assignment, created: bool) {
        let principal = match a.subject {
            Subject::User(u) => self.user(u).map(|x| self.user_resource(x)),
            Subject::Group(g) => self.group(g).map(|x| self.group_resource(x)),
        };
        let Some(mut resource) = principal else {
            return;
        };
        resource.href = format!("{}/roleAssignments/{}", resource.href, a.id);
        if self.audit.config.role_assignment_href_without_v1 {
            resource.href = resource.href.replacen("/v1/", "/", 1);
        }
        let scope = a.scope_type.as_str();
        let (action_type, description) = if created {
            let role = &self.roles[a.role].id;
            let described = format!(
                "Created role assignment '{}' for role '{role}' scoped for {scope} '{}'",
                a.id, a.scope_id
            );
            ("ROLE_ASSIGNMENT.CREATED", described)
        } else {
            let who = format!("{}:'{}'", resource.kind.to_ascii_lowercase(), resource.id);
            let described = format!(
                "Deleted role assignment '{}' scoped for {scope} for {who}",
                a.id
            );
            ("ROLE_ASSIGNMENT.DELETED", described)
        };
        let draft = Draft {
            action_type,
            resource,
            description,
            modified_attributes: None,
            admin_identity: matches!(a.subject, Subject::User(_)),
        };
        self.audit.record(draft);
    }
}

/// Names of the top-level user attributes that differ between two JSON
/// renderings of a profile (sorted, as the map is).
pub fn changed_attributes(
    before: &serde_json::Map<String, serde_json::Value>,
    after: &serde_json::Map<String, serde_json::Value>,
) -> Vec<String> {
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use crate::activity::Actor;
    use crate::config::{AuditConfig, DuplicateMembership, NestingAudit, SimConfig};
    use crate::model::Pos;
    use crate::store::Store;

    fn store(audit: AuditConfig) -> Store {
        let mut st = crate::generator::generate(
            &SimConfig {
                audit,
                ..SimConfig::tiny(21)
            },
            "http://127.0.0.1:0",
        );
        st.audit.begin(Actor::ConsoleAdmin);
        st
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn types(st: &Store, from: usize) -> Vec<&'static str> {
        st.audit.all()[from..]
            .iter()
            .map(|a| a.draft.action_type)
            .collect()
    }

    /// A population group with a member, and another population to move to.
    fn population_group_with_member(st: &mut Store) -> (Pos, Pos, Pos) {
        let (gp, g) = st
            .live_groups()
            .find(|(_, g)| g.population.is_some() && g.user_filter.is_none())
            .map(|(gp, g)| (gp, g.population.unwrap()))
            .expect("a population group");
        let u = st
            .live_users_iter()
            .find(|(_, u)| u.population == g)
            .map(|(p, _)| p)
            .expect("a user in that population");
        let _ = st.add_membership(u, gp, DuplicateMembership::Idempotent201);
        let other = st.live_pops().find(|(p, _)| *p != g).unwrap().0;
        (u, gp, other)
    }

    #[test]
    fn a_population_move_records_dropped_memberships_only_with_cascades() {
        for cascades in [false, true] {
            let mut st = store(AuditConfig {
                cascades,
                ..AuditConfig::default()
            });
            let (u, gp, other) = population_group_with_member(&mut st);
            let from = st.audit.all().len();
            let other_id = st.pop(other).unwrap().id.clone();
            st.move_user(u, &other_id).unwrap();
            let got = types(&st, from);
            assert_eq!(got[0], "USER.MOVED");
            let dropped = got
                .iter()
                .filter(|t| **t == "MEMBER_OF_GROUP.DELETED")
                .count();
            assert_eq!(dropped > 0, cascades, "{got:?}");
            if cascades {
                let gid = st.group(gp).unwrap().id.clone();
                assert!(st.audit.all()[from..].iter().any(|a| {
                    a.draft
                        .resource
                        .href
                        .ends_with(&format!("/memberOfGroups/{gid}"))
                }));
            }
        }
    }

    #[test]
    fn a_population_delete_records_its_groups_only_with_cascades() {
        for cascades in [false, true] {
            let mut st = store(AuditConfig {
                cascades,
                ..AuditConfig::default()
            });
            let p = st
                .create_population(&obj(json!({"name": "Short lived"})))
                .unwrap();
            let pid = st.pop(p).unwrap().id.clone();
            st.create_group(&obj(json!({"name": "Inside", "population": {"id": pid}})))
                .unwrap();
            let from = st.audit.all().len();
            st.delete_population(p).unwrap();
            let expected: &[&str] = if cascades {
                &["GROUP.DELETED", "POPULATION.DELETED"]
            } else {
                &["POPULATION.DELETED"]
            };
            assert_eq!(types(&st, from), expected);
        }
    }

    #[test]
    fn nesting_is_recorded_as_configured() {
        for (mode, expected) in [
            (NestingAudit::NotRecorded, vec![]),
            (
                NestingAudit::GroupUpdated,
                vec!["GROUP.UPDATED", "GROUP.UPDATED"],
            ),
            (
                NestingAudit::MemberOfGroup,
                vec!["MEMBER_OF_GROUP.CREATED", "MEMBER_OF_GROUP.DELETED"],
            ),
        ] {
            let mut st = store(AuditConfig {
                nesting: mode,
                ..AuditConfig::default()
            });
            let a = st.create_group(&obj(json!({"name": "A"}))).unwrap();
            let b = st.create_group(&obj(json!({"name": "B"}))).unwrap();
            let from = st.audit.all().len();
            st.nest(b, a, DuplicateMembership::Reject400).unwrap();
            assert!(st.unnest(b, a));
            assert_eq!(types(&st, from), expected, "{mode:?}");
            if mode == NestingAudit::GroupUpdated {
                let bid = st.group(b).unwrap().id.clone();
                assert!(
                    st.audit.all()[from..]
                        .iter()
                        .all(|x| x.draft.resource.id == bid)
                );
            }
        }
    }

    #[test]
    fn user_state_changes_record_only_real_changes() {
        let mut st = store(AuditConfig::default());
        let u = st
            .live_users_iter()
            .find(|(_, u)| u.enabled && u.locked_at.is_none())
            .unwrap()
            .0;
        let from = st.audit.all().len();
        st.set_enabled(u, true); // no change
        st.set_locked(u, true);
        st.set_locked(u, true); // no change
        st.set_locked(u, false);
        st.set_enabled(u, false);
        let username = st.user(u).unwrap().profile.username.clone();
        st.patch_user(
            u,
            &obj(json!({"username": username})),
            &crate::config::Faults::default(),
        )
        .unwrap(); // no change
        assert_eq!(
            types(&st, from),
            ["USER.LOCKED", "USER.UNLOCKED", "USER.UPDATED"]
        );
    }
}
