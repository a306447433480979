//! The tenant as it is now, in one serialisable document: what a sync's
//! output is compared against.
//!
//! Entities appear exactly as the API represents them (minus `_links`);
//! relations are flat, id-based lists in a stable order (creation order,
//! then group order), so the same seed gives byte-identical JSON and a
//! test can diff two snapshots.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::Subject;
use crate::store::Store;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentInfo {
    pub id: String,
    pub name: String,
    pub organization_id: String,
    pub other_environment_id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    pub user_id: String,
    pub group_id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct Nesting {
    /// The nested group (URL of `POST /groups/{child}/memberOfGroups`).
    pub child_group_id: String,
    /// The group that contains it (the body's `id`).
    pub parent_group_id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DynamicMembers {
    pub group_id: String,
    pub user_filter: String,
    pub user_ids: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    #[serde(rename = "type")]
    pub scope_type: String,
    pub id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentTruth {
    pub id: String,
    /// `USER` or `GROUP`.
    pub subject_type: String,
    pub subject_id: String,
    pub role_id: String,
    pub role_name: String,
    pub scope: Scope,
    pub read_only: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GroundTruth {
    pub seed: u64,
    pub environment: EnvironmentInfo,
    pub populations: Vec<Value>,
    pub users: Vec<Value>,
    pub groups: Vec<Value>,
    /// Direct user→group memberships.
    pub memberships: Vec<Membership>,
    pub nestings: Vec<Nesting>,
    /// The computed members of every dynamic group.
    pub dynamic_group_members: Vec<DynamicMembers>,
    /// Built-in roles (organization level, `GET /v1/roles`).
    pub roles: Vec<Value>,
    /// The environment's custom roles.
    pub custom_roles: Vec<Value>,
    pub role_assignments: Vec<RoleAssignmentTruth>,
}

/// Counts only (cheap to ask for on a large tenant).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub populations: usize,
    pub users: usize,
    pub groups: usize,
    pub dynamic_groups: usize,
    pub memberships: usize,
    pub nestings: usize,
    pub role_assignments: usize,
    pub custom_roles: usize,
    pub version: u64,
}

impl GroundTruth {
    pub fn user_by_username(&self, username: &str) -> Option<&Value> {
        self.users.iter().find(|u| {
            u.get("username")
                .and_then(|v| v.as_str())
                .is_some_and(|v| v.eq_ignore_ascii_case(username))
        })
    }
}

impl Store {
    pub fn ground_truth(&self) -> GroundTruth {
        let memberships = self
            .live_users_iter()
            .flat_map(|(_, u)| u.direct_groups.iter().map(move |g| (u, g)))
            .filter_map(|(u, g)| {
                let group_id = self.group(*g)?.id.clone();
                let user_id = u.id.clone();
                Some(Membership { user_id, group_id })
            })
            .collect();
        let nestings = self
            .live_groups()
            .flat_map(|(_, g)| g.parents.iter().map(move |p| (g, p)))
            .filter_map(|(g, p)| {
                Some(Nesting {
                    child_group_id: g.id.clone(),
                    parent_group_id: self.group(*p)?.id.clone(),
                })
            })
            .collect();
        let dynamic_group_members = self
            .live_groups()
            .filter_map(|(gp, g)| {
                let (text, _) = g.user_filter.as_ref()?;
                let members = self.dynamic_members(gp);
                Some(DynamicMembers {
                    group_id: g.id.clone(),
                    user_filter: text.clone(),
                    user_ids: members
                        .iter()
                        .filter_map(|u| Some(self.user(*u)?.id.clone()))
                        .collect(),
                })
            })
            .collect();
        let roles = |custom: bool| {
            self.roles
                .iter()
                .filter(|r| r.custom == custom)
                .map(|r| {
                    let mut v = self.role_json(r, false);
                    if let Some(o) = v.as_object_mut() {
                        o.remove("_links");
                    }
                    v
                })
                .collect()
        };
        let role_assignments = self
            .assignments
            .iter()
            .flatten()
            .filter_map(|a| {
                let (subject_type, subject_id) = match a.subject {
                    Subject::User(p) => ("USER", self.user(p)?.id.clone()),
                    Subject::Group(p) => ("GROUP", self.group(p)?.id.clone()),
                };
                Some(RoleAssignmentTruth {
                    id: a.id.clone(),
                    subject_type: subject_type.into(),
                    subject_id,
                    role_id: self.roles[a.role].id.clone(),
                    role_name: self.roles[a.role].name.clone(),
                    scope: Scope {
                        scope_type: a.scope_type.as_str().into(),
                        id: a.scope_id.clone(),
                    },
                    read_only: a.read_only,
                })
            })
            .collect();
        GroundTruth {
            seed: self.seed,
            environment: EnvironmentInfo {
                id: self.env_id.clone(),
                name: self.env_name.clone(),
                organization_id: self.org_id.clone(),
                other_environment_id: self.other_env_id.clone(),
            },
            populations: self
                .live_pops()
                .map(|(_, p)| self.population_json(p, false))
                .collect(),
            users: self
                .live_users_iter()
                .map(|(_, u)| Value::Object(self.user_core(u)))
                .collect(),
            groups: self
                .live_groups()
                .map(|(gp, g)| self.group_json(gp, g, false, false))
                .collect(),
            memberships,
            nestings,
            dynamic_group_members,
            roles: roles(false),
            custom_roles: roles(true),
            role_assignments,
        }
    }

    pub fn summary(&self) -> Summary {
        Summary {
            populations: self.live_pops().count(),
            users: self.live_users,
            groups: self.live_groups().count(),
            dynamic_groups: self
                .live_groups()
                .filter(|(_, g)| g.user_filter.is_some())
                .count(),
            memberships: self
                .live_users_iter()
                .map(|(_, u)| u.direct_groups.len())
                .sum(),
            nestings: self.live_groups().map(|(_, g)| g.parents.len()).sum(),
            role_assignments: self.assignments.iter().flatten().count(),
            custom_roles: self.roles.iter().filter(|r| r.custom).count(),
            version: self.version,
        }
    }
}
