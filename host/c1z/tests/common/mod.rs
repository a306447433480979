//! A small, realistic PingOne-shaped data set built the way the Baton SDK
//! helpers build records (full resource inside entitlements, minimal
//! entitlement and id-only principal inside grants).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use c1z::pb::{self, entitlement::PurposeValue, resource_type::Trait, user_trait};
use c1z::{C1zReader, C1zWriter, SyncStart, WriterOptions};

pub struct User {
    pub id: &'static str,
    pub name: &'static str,
    pub email: &'static str,
    pub enabled: bool,
}

pub struct Fixture {
    pub users: Vec<User>,
    pub groups: Vec<(&'static str, &'static str)>,
    pub populations: Vec<(&'static str, &'static str)>,
    pub roles: Vec<(&'static str, &'static str)>,
    /// (group id, user id)
    pub group_members: Vec<(&'static str, &'static str)>,
    /// (population id, user id)
    pub population_members: Vec<(&'static str, &'static str)>,
    /// (role id, principal type, principal id)
    pub role_assignments: Vec<(&'static str, &'static str, &'static str)>,
}

impl Fixture {
    pub fn pingone() -> Fixture {
        Fixture {
            users: vec![
                User {
                    id: "u-alice",
                    name: "Alice Adams",
                    email: "alice@example.com",
                    enabled: true,
                },
                User {
                    id: "u-bob",
                    name: "Bob Brown",
                    email: "bob@example.com",
                    enabled: true,
                },
                User {
                    id: "u-carol",
                    name: "Carol Chen",
                    email: "carol@example.com",
                    enabled: false,
                },
                User {
                    id: "u-dave",
                    name: "Dave Diaz",
                    email: "dave@example.com",
                    enabled: true,
                },
                User {
                    id: "u-erin",
                    name: "Erin Evans",
                    email: "erin@example.com",
                    enabled: false,
                },
            ],
            groups: vec![("g-eng", "Engineering"), ("g-ops", "Operations")],
            populations: vec![("p-default", "Default"), ("p-contractors", "Contractors")],
            roles: vec![("r-admin", "Environment Admin"), ("r-auditor", "Auditor")],
            group_members: vec![
                ("g-eng", "u-alice"),
                ("g-eng", "u-bob"),
                ("g-ops", "u-carol"),
                ("g-ops", "u-dave"),
            ],
            population_members: vec![
                ("p-default", "u-alice"),
                ("p-default", "u-bob"),
                ("p-default", "u-carol"),
                ("p-contractors", "u-dave"),
                ("p-contractors", "u-erin"),
            ],
            role_assignments: vec![
                ("r-admin", "user", "u-alice"),
                ("r-auditor", "user", "u-erin"),
                // A role assigned to a group: expandable to the group's members.
                ("r-admin", "group", "g-ops"),
            ],
        }
    }

    pub fn resource_types(&self) -> Vec<pb::ResourceType> {
        vec![
            rt("user", "User", Trait::User, true),
            rt("group", "Group", Trait::Group, false),
            rt("population", "Population", Trait::Group, false),
            rt("role", "Role", Trait::Role, false),
        ]
    }

    pub fn rt_by_id(&self, id: &str) -> pb::ResourceType {
        self.resource_types()
            .into_iter()
            .find(|r| r.id == id)
            .expect("known type")
    }

    pub fn user_resources(&self) -> Vec<pb::Resource> {
        self.users.iter().map(user_resource).collect()
    }

    pub fn group_resources(&self) -> Vec<pb::Resource> {
        self.groups
            .iter()
            .map(|(id, name)| group_like("group", id, name))
            .collect()
    }

    pub fn population_resources(&self) -> Vec<pb::Resource> {
        self.populations
            .iter()
            .map(|(id, name)| group_like("population", id, name))
            .collect()
    }

    pub fn role_resources(&self) -> Vec<pb::Resource> {
        self.roles
            .iter()
            .map(|(id, name)| {
                let profile = pb::json_to_struct(&serde_json::json!({"id": id, "name": name}));
                resource(
                    "role",
                    id,
                    name,
                    vec![pb::pack_any(&pb::RoleTrait {
                        profile,
                        ..Default::default()
                    })],
                )
            })
            .collect()
    }

    pub fn all_resources(&self) -> Vec<pb::Resource> {
        let mut v = self.user_resources();
        v.extend(self.group_resources());
        v.extend(self.population_resources());
        v.extend(self.role_resources());
        v
    }

    pub fn entitlements(&self) -> Vec<pb::Entitlement> {
        let user_rt = self.rt_by_id("user");
        let group_rt = self.rt_by_id("group");
        let mut out = Vec::new();
        for r in self.group_resources() {
            out.push(entitlement(&r, "member", vec![user_rt.clone()]));
        }
        for r in self.population_resources() {
            out.push(entitlement(&r, "member", vec![user_rt.clone()]));
        }
        for r in self.role_resources() {
            out.push(entitlement(
                &r,
                "assigned",
                vec![user_rt.clone(), group_rt.clone()],
            ));
        }
        out
    }

    pub fn grants(&self) -> Vec<pb::Grant> {
        let mut out = Vec::new();
        let find = |rt: &str, id: &str| -> pb::Resource {
            self.all_resources()
                .into_iter()
                .find(|r| r.id.as_ref().unwrap() == &pb::ResourceId::new(rt, id))
                .unwrap()
        };
        for (g, u) in &self.group_members {
            out.push(grant(&find("group", g), "member", "user", u, vec![]));
        }
        for (p, u) in &self.population_members {
            out.push(grant(&find("population", p), "member", "user", u, vec![]));
        }
        for (r, pt, pid) in &self.role_assignments {
            let mut annos = vec![];
            if *pt == "group" {
                annos.push(pb::pack_any(&pb::GrantExpandable {
                    entitlement_ids: vec![format!("group:{pid}:member")],
                    shallow: true,
                    resource_type_ids: vec![],
                }));
            }
            out.push(grant(&find("role", r), "assigned", pt, pid, annos));
        }
        out
    }

    /// Expectations for the independent Python checker.
    pub fn expectations(&self) -> serde_json::Value {
        let mut types = BTreeMap::new();
        for t in self.resource_types() {
            types.insert(t.id.clone(), t.traits.clone());
        }
        let users: BTreeMap<&str, serde_json::Value> = self
            .users
            .iter()
            .map(|u| {
                (
                    u.id,
                    serde_json::json!({
                        "emails": [u.email],
                        "login": u.email,
                        "status": if u.enabled { 1 } else { 2 },
                        "display_name": u.name,
                    }),
                )
            })
            .collect();
        let mut resources: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        resources.insert("user", self.users.iter().map(|u| u.id).collect());
        resources.insert("group", self.groups.iter().map(|g| g.0).collect());
        resources.insert("population", self.populations.iter().map(|g| g.0).collect());
        resources.insert("role", self.roles.iter().map(|g| g.0).collect());
        let grants: Vec<serde_json::Value> = self
            .grants()
            .iter()
            .map(|g| {
                let p = g.principal.as_ref().unwrap().id.as_ref().unwrap();
                serde_json::json!([
                    g.entitlement.as_ref().unwrap().id,
                    p.resource_type,
                    p.resource
                ])
            })
            .collect();
        let expandable: BTreeMap<String, serde_json::Value> = self
            .role_assignments
            .iter()
            .filter(|(_, pt, _)| *pt == "group")
            .map(|(r, pt, pid)| {
                (
                    format!("role:{r}:assigned:{pt}:{pid}"),
                    serde_json::json!({"entitlement_ids": [format!("group:{pid}:member")], "shallow": true}),
                )
            })
            .collect();
        serde_json::json!({
            "resource_types": types,
            "skip_entitlements_and_grants": ["user"],
            "group_trait_types": ["group", "population"],
            "role_trait_types": ["role"],
            "users": users,
            "resources": resources,
            "entitlements": self.entitlements().iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
            "grants": grants,
            "expandable": expandable,
        })
    }

    /// Writes the whole fixture as one sync, checkpointing between phases.
    pub fn write_sync(&self, target: &Path) -> (String, c1z::FinishReport) {
        let (mut w, start) = C1zWriter::open(target, WriterOptions::default()).unwrap();
        assert!(matches!(start, SyncStart::New { .. }), "{start:?}");
        w.put_resource_types(&self.resource_types()).unwrap();
        w.checkpoint(r#"{"actions":[{"operation":"list-resources"}]}"#)
            .unwrap();
        w.put_resources(&self.all_resources()).unwrap();
        w.checkpoint(r#"{"actions":[{"operation":"list-entitlements"}]}"#)
            .unwrap();
        w.put_entitlements(&self.entitlements()).unwrap();
        w.checkpoint(r#"{"actions":[{"operation":"list-grants"}]}"#)
            .unwrap();
        w.put_grants(&self.grants()).unwrap();
        w.checkpoint(r#"{"actions":[],"current_action":null}"#)
            .unwrap();
        let id = w.sync_id().to_string();
        let report = w.finish().unwrap();
        (id, report)
    }
}

fn rt(id: &str, name: &str, t: Trait, skip: bool) -> pb::ResourceType {
    let mut annotations = vec![];
    if skip {
        annotations.push(pb::pack_any(&pb::SkipEntitlementsAndGrants {}));
    }
    pb::ResourceType {
        id: id.into(),
        display_name: name.into(),
        traits: vec![t as i32],
        annotations,
        ..Default::default()
    }
}

pub fn resource(rt: &str, id: &str, name: &str, annotations: Vec<pb::Any>) -> pb::Resource {
    pb::Resource {
        id: Some(pb::ResourceId::new(rt, id)),
        display_name: name.into(),
        annotations,
        external_id: Some(pb::ExternalId {
            id: id.into(),
            ..Default::default()
        }),
        creation_source: pb::resource::CreationSource::ConnectorListResources as i32,
        ..Default::default()
    }
}

pub fn user_resource(u: &User) -> pb::Resource {
    let status = if u.enabled {
        user_trait::status::Status::Enabled
    } else {
        user_trait::status::Status::Disabled
    };
    let (given, family) = u.name.split_once(' ').unwrap();
    let profile = pb::json_to_struct(&serde_json::json!({
        "email": u.email, "first_name": given, "last_name": family, "user_id": u.id,
        "population": {"id": "p-default"}, "mfa_enabled": false
    }));
    let trait_ = pb::UserTrait {
        emails: vec![user_trait::Email {
            address: u.email.into(),
            is_primary: true,
        }],
        status: Some(user_trait::Status {
            status: status as i32,
            details: String::new(),
        }),
        profile,
        account_type: user_trait::AccountType::Human as i32,
        login: u.email.into(),
        created_at: Some(pb::Timestamp {
            seconds: 1_735_689_600,
            nanos: 0,
        }),
        structured_name: Some(user_trait::StructuredName {
            given_name: given.into(),
            family_name: family.into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    resource("user", u.id, u.name, vec![pb::pack_any(&trait_)])
}

pub fn group_like(rt: &str, id: &str, name: &str) -> pb::Resource {
    let profile = pb::json_to_struct(&serde_json::json!({"id": id, "name": name}));
    resource(
        rt,
        id,
        name,
        vec![pb::pack_any(&pb::GroupTrait {
            profile,
            ..Default::default()
        })],
    )
}

pub fn entitlement(
    r: &pb::Resource,
    slug: &str,
    grantable_to: Vec<pb::ResourceType>,
) -> pb::Entitlement {
    let id = r.id.as_ref().unwrap();
    pb::Entitlement {
        resource: Some(r.clone()),
        id: format!("{}:{}:{}", id.resource_type, id.resource, slug),
        display_name: format!("{} {}", r.display_name, slug),
        description: format!("{} of {}", slug, r.display_name),
        grantable_to,
        annotations: vec![],
        purpose: PurposeValue::Assignment as i32,
        slug: slug.into(),
    }
}

pub fn grant(
    r: &pb::Resource,
    slug: &str,
    principal_type: &str,
    principal_id: &str,
    annotations: Vec<pb::Any>,
) -> pb::Grant {
    let id = r.id.as_ref().unwrap();
    let ent_id = format!("{}:{}:{}", id.resource_type, id.resource, slug);
    pb::Grant {
        entitlement: Some(pb::Entitlement {
            resource: Some(r.clone()),
            id: ent_id.clone(),
            ..Default::default()
        }),
        principal: Some(pb::Resource {
            id: Some(pb::ResourceId::new(principal_type, principal_id)),
            ..Default::default()
        }),
        id: format!("{ent_id}:{principal_type}:{principal_id}"),
        annotations,
        sources: None,
    }
}

/// Every stored object of the default sync, as (table, external id, blob).
pub fn snapshot(path: &Path) -> Vec<(String, String, Vec<u8>)> {
    use prost::Message;
    let r = C1zReader::open(path).unwrap();
    let sync = r.default_sync().unwrap().unwrap();
    let mut out = Vec::new();
    for t in r.resource_types(&sync.sync_id).unwrap() {
        out.push(("rt".into(), t.id.clone(), t.encode_to_vec()));
    }
    for x in r.resources(&sync.sync_id, None) {
        let x = x.unwrap();
        out.push((
            "res".into(),
            x.id.as_ref().unwrap().external_id(),
            x.encode_to_vec(),
        ));
    }
    for x in r.entitlements(&sync.sync_id, None) {
        let x = x.unwrap();
        out.push(("ent".into(), x.id.clone(), x.encode_to_vec()));
    }
    for x in r.grants(&sync.sync_id, &Default::default()) {
        let x = x.unwrap();
        out.push(("grant".into(), x.id.clone(), x.encode_to_vec()));
    }
    out.sort();
    out
}
