//! JSON representations of every entity, shaped like PingOne's (§4):
//! absolute `_links`, `environment: {id}`, optional attributes omitted
//! rather than `null`, timestamps with milliseconds, and a few unknown
//! server-side fields that connectors must tolerate.
//!
//! A user's list-form JSON is rendered once and cached as bytes; a users
//! page is then a concatenation of cached slices, which is what lets the
//! simulator serve thousands of 200-user pages per second.

use axum::body::Bytes;
use serde_json::{Map, Value, json};

use crate::model::{Assignment, Group, Population, Pos, Role, Subject, User};
use crate::store::Store;
use crate::util::fmt_ts;

impl Store {
    pub fn env_url(&self) -> String {
        format!("{}/v1/environments/{}", self.base, self.env_id)
    }

    pub fn user_url(&self, u: &User) -> String {
        format!(
            "{}/v1/environments/{}/users/{}",
            self.base, self.env_id, u.id
        )
    }

    pub fn group_url(&self, g: &Group) -> String {
        format!(
            "{}/v1/environments/{}/groups/{}",
            self.base, self.env_id, g.id
        )
    }

    /// A user without `_links` (the ground-truth form).
    pub fn user_core(&self, u: &User) -> Map<String, Value> {
        let mut m = Map::new();
        u.profile.write_json(&mut m);
        if let Some(extra) = &u.server_extra {
            for (k, v) in extra.iter() {
                m.insert(k.clone(), v.clone());
            }
        }
        m.insert("id".into(), Value::String(u.id.clone()));
        m.insert("environment".into(), json!({ "id": self.env_id }));
        if let Some(p) = self.pop(u.population) {
            m.insert("population".into(), json!({ "id": p.id }));
        }
        m.insert("enabled".into(), Value::Bool(u.enabled));
        let mut account = json!({
            "canAuthenticate": u.can_authenticate(),
            "status": if u.locked_at.is_some() { "LOCKED" } else { "OK" },
        });
        if let Some(at) = u.locked_at {
            account["lockedAt"] = Value::String(fmt_ts(at));
        }
        m.insert("account".into(), account);
        m.insert("lifecycle".into(), json!({ "status": u.lifecycle }));
        let mut idp = json!({ "type": u.idp_type });
        if let Some(id) = &u.idp_id {
            idp["id"] = Value::String(id.clone());
        }
        m.insert("identityProvider".into(), idp);
        m.insert("mfaEnabled".into(), Value::Bool(u.mfa_enabled));
        m.insert(
            "verifyStatus".into(),
            Value::String(u.verify_status.clone()),
        );
        if let Some(v) = u.email_verified {
            m.insert("emailVerified".into(), Value::Bool(v));
        }
        if let Some((at, ip)) = &u.last_sign_on {
            m.insert(
                "lastSignOn".into(),
                json!({ "at": fmt_ts(*at), "remoteIp": ip }),
            );
        }
        m.insert("createdAt".into(), Value::String(fmt_ts(u.created_at)));
        m.insert("updatedAt".into(), Value::String(fmt_ts(u.updated_at)));
        m
    }

    /// A user as list items show it (only `self` is a certain link; more
    /// links would only inflate every users page).
    pub fn user_list_json(&self, u: &User) -> Map<String, Value> {
        let mut m = self.user_core(u);
        m.insert(
            "_links".into(),
            json!({ "self": { "href": self.user_url(u) } }),
        );
        m
    }

    /// Cached list-form bytes of a user.
    pub fn user_bytes(&self, u: &User) -> Bytes {
        u.cache
            .get_or_init(|| {
                Bytes::from(serde_json::to_vec(&self.user_list_json(u)).unwrap_or_default())
            })
            .clone()
    }

    /// A single read: list form plus `_embedded.password` and the
    /// `include=` extras (never present in lists, item 12).
    pub fn user_single_json(&self, pos: Pos, u: &User, ids: bool, names: bool) -> Value {
        let mut m = self.user_list_json(u);
        if let Some(ps) = &u.password_status {
            m.insert("_embedded".into(), json!({ "password": { "status": ps } }));
        }
        if ids || names {
            let groups = self.user_groups(pos);
            if ids {
                let v: Vec<Value> = groups
                    .iter()
                    .filter_map(|(g, _)| self.group(*g))
                    .map(|g| Value::String(g.id.clone()))
                    .collect();
                m.insert("memberOfGroupIDs".into(), Value::Array(v));
            }
            if names {
                let v: Vec<Value> = groups
                    .iter()
                    .filter_map(|(g, _)| self.group(*g))
                    .map(|g| Value::String(g.name.clone()))
                    .collect();
                m.insert("memberOfGroupNames".into(), Value::Array(v));
            }
        }
        Value::Object(m)
    }

    pub fn population_json(&self, p: &Population, links: bool) -> Value {
        let mut m = Map::new();
        for (k, v) in &p.extra {
            m.insert(k.clone(), v.clone());
        }
        if links {
            m.insert(
                "_links".into(),
                json!({ "self": { "href": format!("{}/populations/{}", self.env_url(), p.id) },
                        "environment": { "href": self.env_url() } }),
            );
        }
        m.insert("id".into(), Value::String(p.id.clone()));
        m.insert("environment".into(), json!({ "id": self.env_id }));
        m.insert("name".into(), Value::String(p.name.clone()));
        if let Some(d) = &p.description {
            m.insert("description".into(), Value::String(d.clone()));
        }
        m.insert("default".into(), Value::Bool(p.default));
        m.insert("userCount".into(), Value::from(p.user_count));
        m.insert("createdAt".into(), Value::String(fmt_ts(p.created_at)));
        m.insert("updatedAt".into(), Value::String(fmt_ts(p.updated_at)));
        Value::Object(m)
    }

    pub fn group_json(&self, gp: Pos, g: &Group, links: bool, total: bool) -> Value {
        let mut m = Map::new();
        if links {
            m.insert(
                "_links".into(),
                json!({ "self": { "href": self.group_url(g) } }),
            );
        }
        m.insert("id".into(), Value::String(g.id.clone()));
        m.insert("environment".into(), json!({ "id": self.env_id }));
        m.insert("name".into(), Value::String(g.name.clone()));
        if let Some(d) = &g.description {
            m.insert("description".into(), Value::String(d.clone()));
        }
        if let Some(p) = g.population.and_then(|p| self.pop(p)) {
            m.insert("population".into(), json!({ "id": p.id }));
        }
        if let Some((f, _)) = &g.user_filter {
            m.insert("userFilter".into(), Value::String(f.clone()));
        }
        if let Some(x) = &g.external_id {
            m.insert("externalId".into(), Value::String(x.clone()));
        }
        if let Some(c) = &g.custom_data {
            m.insert("customData".into(), c.clone());
        }
        m.insert(
            "directMemberCounts".into(),
            json!({ "users": g.direct_members.len() }),
        );
        if total {
            m.insert(
                "totalMemberCounts".into(),
                json!({ "users": self.members(gp).len() }),
            );
        }
        m.insert("createdAt".into(), Value::String(fmt_ts(g.created_at)));
        m.insert("updatedAt".into(), Value::String(fmt_ts(g.updated_at)));
        Value::Object(m)
    }

    /// One row of `_embedded.groupMemberships` (a user's group, or a
    /// group's parent).
    pub fn membership_json(
        &self,
        gp: Pos,
        g: &Group,
        direct: bool,
        expand: bool,
        self_href: Option<String>,
    ) -> Value {
        let mut m = Map::new();
        if let Some(h) = self_href {
            m.insert("_links".into(), json!({ "self": { "href": h } }));
        }
        m.insert("id".into(), Value::String(g.id.clone()));
        m.insert("environment".into(), json!({ "id": self.env_id }));
        m.insert("name".into(), Value::String(g.name.clone()));
        m.insert(
            "type".into(),
            Value::String(if direct { "DIRECT" } else { "INDIRECT" }.into()),
        );
        if let Some(p) = g.population.and_then(|p| self.pop(p)) {
            m.insert("population".into(), json!({ "id": p.id }));
        }
        if expand {
            m.insert(
                "_embedded".into(),
                json!({ "group": self.group_json(gp, g, true, false) }),
            );
        }
        Value::Object(m)
    }

    pub fn role_json(&self, r: &Role, env_listing: bool) -> Value {
        let mut m = Map::new();
        let self_href = if r.custom {
            format!("{}/roles/{}", self.env_url(), r.id)
        } else {
            format!("{}/v1/roles/{}", self.base, r.id)
        };
        m.insert("_links".into(), json!({ "self": { "href": self_href } }));
        m.insert("id".into(), Value::String(r.id.clone()));
        m.insert("name".into(), Value::String(r.name.clone()));
        m.insert("description".into(), Value::String(r.description.clone()));
        m.insert("applicableTo".into(), json!(r.applicable_to));
        let perms: Vec<Value> = r
            .permissions
            .iter()
            .map(|p| json!({ "id": p.id, "classifier": p.id, "description": p.description }))
            .collect();
        m.insert("permissions".into(), Value::Array(perms));
        if r.custom {
            m.insert("type".into(), json!("CUSTOM"));
            m.insert("environment".into(), json!({ "id": self.env_id }));
            let by: Vec<Value> = r
                .can_be_assigned_by
                .iter()
                .map(|id| json!({ "id": id }))
                .collect();
            m.insert("canBeAssignedBy".into(), Value::Array(by));
        } else if env_listing {
            m.insert("type".into(), json!("PLATFORM"));
        }
        Value::Object(m)
    }

    pub fn subject_url(&self, s: Subject) -> Option<String> {
        match s {
            Subject::User(p) => self.user(p).map(|u| self.user_url(u)),
            Subject::Group(p) => self.group(p).map(|g| self.group_url(g)),
        }
    }

    pub fn assignment_json(&self, a: &Assignment, expand_role: bool) -> Value {
        let mut m = Map::new();
        if let Some(base) = self.subject_url(a.subject) {
            m.insert(
                "_links".into(),
                json!({ "self": { "href": format!("{base}/roleAssignments/{}", a.id) } }),
            );
        }
        m.insert("id".into(), Value::String(a.id.clone()));
        m.insert("environment".into(), json!({ "id": self.env_id }));
        let role = &self.roles[a.role];
        m.insert("role".into(), json!({ "id": role.id }));
        m.insert(
            "scope".into(),
            json!({ "id": a.scope_id, "type": a.scope_type.as_str() }),
        );
        m.insert("readOnly".into(), Value::Bool(a.read_only));
        if let Subject::Group(g) = a.subject
            && let Some(g) = self.group(g)
        {
            m.insert("group".into(), json!({ "id": g.id }));
        }
        if expand_role {
            m.insert(
                "_embedded".into(),
                json!({ "role": self.role_json(role, false) }),
            );
        }
        Value::Object(m)
    }

    pub fn environment_json(&self, id: &str) -> Value {
        json!({
            "_links": { "self": { "href": format!("{}/v1/environments/{}", self.base, id) } },
            "id": id,
            "name": if id == self.env_id { self.env_name.clone() } else { "Simulated (other)".to_string() },
            "description": "A simulated PingOne environment",
            "organization": { "id": self.org_id },
            "license": { "id": crate::util::uuid_from_name(&format!("license:{}", self.org_id)) },
            "region": "NA",
            "type": "SANDBOX",
            "createdAt": fmt_ts(self.env_created_at),
            "updatedAt": fmt_ts(self.env_created_at),
        })
    }
}
