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

/// The members of object `v` that are not `null`: PingOne omits an absent
/// attribute rather than sending `null` (§4.2).
fn present(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(mut m) => {
            m.retain(|_, x| !x.is_null());
            m
        }
        _ => Map::new(),
    }
}

/// `permissions:read:users` → `Read users`.
fn describe_permission(id: &str) -> String {
    let mut parts = id.split(':').skip(1);
    let verb = parts.next().unwrap_or("use");
    let what = parts.next().unwrap_or("resources");
    let mut v = verb.to_string();
    if let Some(c) = v.get_mut(0..1) {
        c.make_ascii_uppercase();
    }
    format!("{v} {what}")
}

impl Store {
    pub fn env_url(&self) -> String {
        format!("{}/v1/environments/{}", self.base, self.env_id)
    }

    pub fn user_url(&self, u: &User) -> String {
        format!("{}/users/{}", self.env_url(), u.id)
    }

    pub fn group_url(&self, g: &Group) -> String {
        format!("{}/groups/{}", self.env_url(), g.id)
    }

    fn pop_ref(&self, p: Option<Pos>) -> Option<Value> {
        p.and_then(|p| self.pop(p)).map(|p| json!({ "id": p.id }))
    }

    /// A user without `_links` (the ground-truth form).
    pub fn user_core(&self, u: &User) -> Map<String, Value> {
        let mut m = u.profile.to_json();
        if let Some(extra) = &u.server_extra {
            m.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let status = if u.locked_at.is_some() {
            "LOCKED"
        } else {
            "OK"
        };
        m.extend(present(json!({
            "id": u.id,
            "environment": { "id": self.env_id },
            "population": self.pop_ref(Some(u.population)),
            "enabled": u.enabled,
            "account": present(json!({
                "canAuthenticate": u.can_authenticate(),
                "status": status,
                "lockedAt": u.locked_at.map(fmt_ts),
            })),
            "lifecycle": { "status": u.lifecycle },
            "identityProvider": present(json!({ "type": u.idp_type, "id": u.idp_id })),
            "mfaEnabled": u.mfa_enabled,
            "verifyStatus": u.verify_status,
            "emailVerified": u.email_verified,
            "lastSignOn": u.last_sign_on.as_ref().map(|(at, ip)| {
                json!({ "at": fmt_ts(*at), "remoteIp": ip })
            }),
            "createdAt": fmt_ts(u.created_at),
            "updatedAt": fmt_ts(u.updated_at),
        })));
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
    pub fn user_single_json(&self, pos: Pos, ids: bool, names: bool) -> Value {
        let u = self.user(pos).expect("live user");
        let mut m = self.user_list_json(u);
        if let Some(ps) = &u.password_status {
            m.insert("_embedded".into(), json!({ "password": { "status": ps } }));
        }
        let groups = || {
            let groups = self.user_groups(pos).into_iter();
            groups.filter_map(|(g, _)| self.group(g))
        };
        if ids {
            let v = groups().map(|g| json!(g.id)).collect();
            m.insert("memberOfGroupIDs".into(), v);
        }
        if names {
            let v = groups().map(|g| json!(g.name)).collect();
            m.insert("memberOfGroupNames".into(), v);
        }
        Value::Object(m)
    }

    pub fn population_json(&self, p: &Population, links: bool) -> Value {
        let mut m = p.extra.clone();
        m.extend(present(json!({
            "_links": links.then(|| json!({
                "self": { "href": format!("{}/populations/{}", self.env_url(), p.id) },
                "environment": { "href": self.env_url() },
            })),
            "id": p.id,
            "environment": { "id": self.env_id },
            "name": p.name,
            "description": p.description,
            "default": p.default,
            "userCount": p.user_count,
            "createdAt": fmt_ts(p.created_at),
            "updatedAt": fmt_ts(p.updated_at),
        })));
        Value::Object(m)
    }

    pub fn group_json(&self, gp: Pos, g: &Group, links: bool, total: bool) -> Value {
        Value::Object(present(json!({
            "_links": links.then(|| json!({ "self": { "href": self.group_url(g) } })),
            "id": g.id,
            "environment": { "id": self.env_id },
            "name": g.name,
            "description": g.description,
            "population": self.pop_ref(g.population),
            "userFilter": g.user_filter.as_ref().map(|(f, _)| f),
            "externalId": g.external_id,
            "customData": g.custom_data,
            "directMemberCounts": { "users": g.direct_members.len() },
            "totalMemberCounts": total.then(|| json!({ "users": self.members(gp).len() })),
            "createdAt": fmt_ts(g.created_at),
            "updatedAt": fmt_ts(g.updated_at),
        })))
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
        Value::Object(present(json!({
            "_links": self_href.map(|h| json!({ "self": { "href": h } })),
            "id": g.id,
            "environment": { "id": self.env_id },
            "name": g.name,
            "type": if direct { "DIRECT" } else { "INDIRECT" },
            "population": self.pop_ref(g.population),
            "_embedded": expand.then(|| json!({ "group": self.group_json(gp, g, true, false) })),
        })))
    }

    pub fn role_json(&self, r: &Role, env_listing: bool) -> Value {
        let self_href = if r.custom {
            format!("{}/roles/{}", self.env_url(), r.id)
        } else {
            format!("{}/v1/roles/{}", self.base, r.id)
        };
        let permissions: Vec<Value> = r
            .permissions
            .iter()
            .map(|p| json!({ "id": p, "classifier": p, "description": describe_permission(p) }))
            .collect();
        let role_type = match (r.custom, env_listing) {
            (true, _) => Some("CUSTOM"),
            (false, true) => Some("PLATFORM"),
            (false, false) => None,
        };
        let assigned_by =
            |by: &Vec<String>| -> Vec<Value> { by.iter().map(|id| json!({ "id": id })).collect() };
        Value::Object(present(json!({
            "_links": { "self": { "href": self_href } },
            "id": r.id,
            "name": r.name,
            "description": r.description,
            "applicableTo": r.applicable_to,
            "permissions": permissions,
            "type": role_type,
            "environment": r.custom.then(|| json!({ "id": self.env_id })),
            "canBeAssignedBy": r.custom.then(|| assigned_by(&r.can_be_assigned_by)),
        })))
    }

    pub fn subject_url(&self, s: Subject) -> Option<String> {
        match s {
            Subject::User(p) => self.user(p).map(|u| self.user_url(u)),
            Subject::Group(p) => self.group(p).map(|g| self.group_url(g)),
        }
    }

    pub fn assignment_json(&self, a: &Assignment, expand_role: bool) -> Value {
        let role = &self.roles[a.role];
        let group = match a.subject {
            Subject::Group(g) => self.group(g).map(|g| json!({ "id": g.id })),
            Subject::User(_) => None,
        };
        let self_href = self
            .subject_url(a.subject)
            .map(|base| json!({ "self": { "href": format!("{base}/roleAssignments/{}", a.id) } }));
        Value::Object(present(json!({
            "_links": self_href,
            "id": a.id,
            "environment": { "id": self.env_id },
            "role": { "id": role.id },
            "scope": { "id": a.scope_id, "type": a.scope_type.as_str() },
            "readOnly": a.read_only,
            "group": group,
            "_embedded": expand_role.then(|| json!({ "role": self.role_json(role, false) })),
        })))
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
