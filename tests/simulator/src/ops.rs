//! Provisioning: every write the API allows, with PingOne's rules and
//! error answers (checklist items 9–11, 13–17, 19, 21–24).
//!
//! Each operation validates first and mutates only when it will succeed,
//! then bumps the store version so derived lists and rendered users are
//! rebuilt. Side effects follow the reference: moving a user drops
//! memberships in the old population's groups (§3.1), deleting a user or a
//! group removes its memberships, nestings and role assignments, and
//! populations keep `userCount` current.

use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use crate::audit::changed_attributes;
use crate::config::{DuplicateMembership, DuplicateUsername, Faults};
use crate::errors::{ApiError, ApiResult, Detail};
use crate::filter;
use crate::model::{
    Assignment, Group, Population, Pos, Profile, ScopeType, Subject, USER_READ_ONLY_KEYS, User,
    merge_patch,
};
use crate::store::{Store, sorted_insert, sorted_remove};
use crate::util::now_ms;

fn str_field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(|v| v.as_str())
}

/// Reads `obj.<key>.id` as a string; errors name `target`.
fn nested_id(obj: &Map<String, Value>, key: &str, target: &str) -> ApiResult<Option<String>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => match o.get("id") {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            None | Some(Value::Null) => Err(Detail::required(target).into()),
            Some(_) => Err(Detail::invalid_value(target, "must be a string").into()),
        },
        Some(_) => Err(Detail::invalid_value(key, "must be an object").into()),
    }
}

fn optional_string(obj: &Map<String, Value>, key: &str, max: usize) -> ApiResult<Option<String>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Ok(Some(s.clone())),
        Some(_) => Err(Detail::invalid_value(
            key,
            &format!("must be a string of 1 to {max} characters"),
        )
        .inner(serde_json::json!({ "rangeMinimumValue": 1, "rangeMaximumValue": max }))
        .into()),
    }
}

impl Store {
    fn user_mut(&mut self, pos: Pos) -> &mut User {
        self.users[pos as usize].as_mut().expect("live user")
    }

    fn group_mut(&mut self, pos: Pos) -> &mut Group {
        self.groups[pos as usize].as_mut().expect("live group")
    }

    /// The population a body refers to; errors name `target`.
    fn referenced_pop(&self, id: &str, target: &str) -> ApiResult<Pos> {
        let missing = || Detail::invalid_value(target, "The referenced population does not exist.");
        Ok(self.pop_pos(id).ok_or_else(missing)?)
    }

    fn username_taken(&self, lc: &str, except: Option<Pos>) -> bool {
        self.user_by_name
            .get(lc)
            .is_some_and(|p| Some(*p) != except)
    }

    fn duplicate_username(&self, mode: DuplicateUsername) -> ApiError {
        let msg = "A user with this username already exists in the environment.";
        match mode {
            DuplicateUsername::Reject400 => Detail::uniqueness("username", msg).into(),
            DuplicateUsername::Conflict409 => ApiError::conflict("username", msg),
        }
    }

    /// `POST /users` (item 9). `import` is the user-import media type, which
    /// may also set `lifecycle.status` and a password.
    pub fn create_user(
        &mut self,
        body: &Map<String, Value>,
        import: bool,
        f: &Faults,
    ) -> ApiResult<Pos> {
        let profile = Profile::from_json(body, f.require_email).map_err(ApiError::invalid_data)?;
        let pop = match nested_id(body, "population", "population.id")? {
            Some(id) => self.referenced_pop(&id, "population.id")?,
            None => self.default_pop().ok_or_else(|| {
                Detail::required("population.id").inner(serde_json::json!({
                    "reason": "the environment has no default population"
                }))
            })?,
        };
        let lc = profile.username.to_lowercase();
        if self.username_taken(&lc, None) {
            return Err(self.duplicate_username(f.duplicate_username));
        }
        let mfa = body
            .get("mfaEnabled")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let mut lifecycle = "ACCOUNT_OK".to_string();
        let mut password_status = "NO_PASSWORD".to_string();
        if import {
            if let Some(s) = body
                .get("lifecycle")
                .and_then(|l| l.get("status"))
                .and_then(|s| s.as_str())
            {
                if s != "ACCOUNT_OK" && s != "VERIFICATION_REQUIRED" {
                    return Err(Detail::invalid_value("lifecycle.status", "must be ACCOUNT_OK or VERIFICATION_REQUIRED")
                            .inner(serde_json::json!({ "allowedValues": ["ACCOUNT_OK", "VERIFICATION_REQUIRED"] })).into());
                }
                lifecycle = s.to_string();
            }
            if body.get("password").is_some_and(|p| !p.is_null()) {
                password_status = "OK".into();
            }
        }
        let now = now_ms();
        let id = self.new_id();
        let pos = self.users.len() as Pos;
        self.users.push(Some(User {
            id: id.clone(),
            population: pop,
            username_lc: lc.clone(),
            profile,
            enabled: true,
            locked_at: None,
            lifecycle,
            mfa_enabled: mfa,
            idp_type: "PING_ONE".into(),
            idp_id: None,
            verify_status: "NOT_INITIATED".into(),
            email_verified: None,
            last_sign_on: None,
            password_status: Some(password_status),
            created_at: now,
            updated_at: now,
            server_extra: None,
            direct_groups: Vec::new(),
            cache: OnceLock::new(),
        }));
        self.user_by_id.insert(id.clone(), pos);
        self.user_by_name.insert(lc, pos);
        self.live_users += 1;
        if let Some(Some(p)) = self.populations.get_mut(pop as usize) {
            p.user_count += 1;
        }
        self.note_created(&id);
        self.bump();
        self.record_user(pos, "USER.CREATED", |n| format!("Created User {n}"), None);
        if self.audit.config.dynamic_membership {
            self.record_dynamic_changes(pos, Some(Vec::new()));
        }
        Ok(pos)
    }

    fn set_profile(&mut self, pos: Pos, profile: Profile, f: &Faults) -> ApiResult<()> {
        let lc = profile.username.to_lowercase();
        if self.username_taken(&lc, Some(pos)) {
            return Err(self.duplicate_username(f.duplicate_username));
        }
        let now = now_ms();
        let before_json = self.user(pos).expect("live user").profile.to_json();
        let dynamic_before = self.dynamic_before(pos);
        let user = self.user_mut(pos);
        if user.username_lc != lc {
            let old = std::mem::replace(&mut user.username_lc, lc.clone());
            self.user_by_name.remove(&old);
            self.user_by_name.insert(lc, pos);
        }
        let user = self.user_mut(pos);
        user.profile = profile;
        user.touch(now);
        self.bump();
        let after_json = self.user(pos).expect("live user").profile.to_json();
        self.record_user_update(pos, changed_attributes(&before_json, &after_json));
        self.record_dynamic_changes(pos, dynamic_before);
        Ok(())
    }

    /// `PUT /users/{id}`: replace; omitted attributes are removed, read-only
    /// ones ignored (item 13).
    pub fn replace_user(
        &mut self,
        pos: Pos,
        body: &Map<String, Value>,
        f: &Faults,
    ) -> ApiResult<()> {
        let profile = Profile::from_json(body, f.require_email).map_err(ApiError::invalid_data)?;
        self.set_profile(pos, profile, f)
    }

    /// `PATCH /users/{id}`: merge; omitted untouched, `null` removes.
    pub fn patch_user(&mut self, pos: Pos, body: &Map<String, Value>, f: &Faults) -> ApiResult<()> {
        let user = self.user(pos).expect("live user");
        let mut merged = user.profile.to_json();
        let mut patch = body.clone();
        patch.retain(|k, _| !k.starts_with('_') && !USER_READ_ONLY_KEYS.contains(&k.as_str()));
        merge_patch(&mut merged, &patch);
        // Email is only demanded if this patch removes it.
        let require_email = f.require_email && matches!(body.get("email"), Some(Value::Null));
        let profile = Profile::from_json(&merged, require_email).map_err(ApiError::invalid_data)?;
        self.set_profile(pos, profile, f)
    }

    /// `DELETE /users/{id}` (item 16): gone from groups and assignments too.
    pub fn delete_user(&mut self, pos: Pos) {
        if self.user(pos).is_none() {
            return;
        }
        self.record_user(pos, "USER.DELETED", |n| format!("Deleted User {n}"), None);
        let Some(user) = self.users[pos as usize].take() else {
            return;
        };
        for g in &user.direct_groups {
            if let Some(Some(gr)) = self.groups.get_mut(*g as usize) {
                sorted_remove(&mut gr.direct_members, pos);
            }
        }
        self.remove_assignments_of(Subject::User(pos));
        self.user_by_id.remove(&user.id);
        self.user_by_name.remove(&user.username_lc);
        self.live_users -= 1;
        if let Some(Some(p)) = self.populations.get_mut(user.population as usize) {
            p.user_count = p.user_count.saturating_sub(1);
        }
        self.bump();
    }

    fn remove_assignments_of(&mut self, s: Subject) {
        if let Some(list) = self.ra_by_subject.remove(&s) {
            for i in list {
                if let Some(a) = self.assignments[i].take() {
                    self.ra_by_id.remove(&a.id);
                }
            }
        }
    }

    /// `PUT /users/{id}/enabled` (item 14).
    pub fn set_enabled(&mut self, pos: Pos, enabled: bool) {
        let user = self.user_mut(pos);
        if user.enabled != enabled {
            let dynamic_before = self.dynamic_before(pos);
            let user = self.user_mut(pos);
            user.enabled = enabled;
            user.touch(now_ms());
            self.bump();
            self.record_user_update(pos, vec!["enabled".into()]);
            self.record_dynamic_changes(pos, dynamic_before);
        }
    }

    /// Account lock/unlock through the custom media types.
    pub fn set_locked(&mut self, pos: Pos, locked: bool) {
        let user = self.user_mut(pos);
        let now = now_ms();
        let was_locked = user.locked_at.is_some();
        user.locked_at = if locked {
            Some(user.locked_at.unwrap_or(now))
        } else {
            None
        };
        user.touch(now);
        self.bump();
        match (was_locked, locked) {
            (false, true) => {
                self.record_user(pos, "USER.LOCKED", |n| format!("Locked User {n}"), None)
            }
            (true, false) => {
                self.record_user(pos, "USER.UNLOCKED", |n| format!("Unlocked User {n}"), None)
            }
            _ => {}
        }
    }

    /// `PUT /users/{id}/population` (item 15).
    pub fn move_user(&mut self, pos: Pos, pop_id: &str) -> ApiResult<()> {
        let new = self.referenced_pop(pop_id, "id")?;
        let old = self.user(pos).expect("live user").population;
        if old == new {
            return Ok(());
        }
        let dynamic_before = self.dynamic_before(pos);
        let direct = self.user(pos).expect("live user").direct_groups.clone();
        let mut keep = Vec::with_capacity(direct.len());
        let mut dropped = Vec::new();
        for g in direct {
            let in_old_pop = self.group(g).is_some_and(|gr| gr.population == Some(old));
            if in_old_pop {
                dropped.push(g);
                if let Some(Some(gr)) = self.groups.get_mut(g as usize) {
                    sorted_remove(&mut gr.direct_members, pos);
                }
            } else {
                keep.push(g);
            }
        }
        let user = self.user_mut(pos);
        user.direct_groups = keep;
        user.population = new;
        user.touch(now_ms());
        for (p, delta) in [(old, -1i64), (new, 1)] {
            if let Some(Some(pp)) = self.populations.get_mut(p as usize) {
                pp.user_count = (pp.user_count as i64 + delta).max(0) as usize;
            }
        }
        self.bump();
        self.record_user(pos, "USER.MOVED", |n| format!("Moved User {n}"), None);
        if self.audit.config.cascades {
            for g in dropped {
                self.record_membership(pos, g, false);
            }
        }
        self.record_dynamic_changes(pos, dynamic_before);
        Ok(())
    }

    /// A relation that already exists: refused, or (`Idempotent201`)
    /// answered as if it had been created.
    fn duplicate_relation(mode: DuplicateMembership, what: &str) -> ApiResult<()> {
        let msg = format!("The {what} already exists.");
        match mode {
            DuplicateMembership::Reject400 => Err(Detail::uniqueness("id", &msg).into()),
            DuplicateMembership::Conflict409 => Err(ApiError::conflict("id", &msg)),
            DuplicateMembership::Idempotent201 => Ok(()),
        }
    }

    /// `POST /users/{id}/memberOfGroups` (item 17). The group must exist
    /// (checked by the caller).
    pub fn add_membership(&mut self, u: Pos, g: Pos, mode: DuplicateMembership) -> ApiResult<()> {
        let user = self.user(u).expect("live user");
        let group = self.group(g).expect("live group");
        if let Some(gp) = group.population
            && gp != user.population
        {
            return Err(Detail::constraint(
                Some("id"),
                "A population group can contain users from its own population only.",
            )
            .into());
        }
        if user.direct_groups.binary_search(&g).is_ok() {
            return Self::duplicate_relation(mode, "group membership");
        }
        sorted_insert(&mut self.user_mut(u).direct_groups, g);
        sorted_insert(&mut self.group_mut(g).direct_members, u);
        self.bump();
        self.record_membership(u, g, true);
        Ok(())
    }

    /// `DELETE /users/{id}/memberOfGroups/{gid}` (item 19): direct only.
    pub fn remove_membership(&mut self, u: Pos, g: Pos) -> bool {
        let removed = sorted_remove(&mut self.user_mut(u).direct_groups, g);
        if removed {
            if let Some(Some(gr)) = self.groups.get_mut(g as usize) {
                sorted_remove(&mut gr.direct_members, u);
            }
            self.bump();
            self.record_membership(u, g, false);
        }
        removed
    }

    fn group_name_clash(&self, name: &str, pop: Option<Pos>, except: Option<Pos>) -> bool {
        self.live_groups().any(|(gp, g)| {
            Some(gp) != except
                && g.name.eq_ignore_ascii_case(name)
                && (g.population.is_none() || pop.is_none() || g.population == pop)
        })
    }

    fn parse_group_body(&self, body: &Map<String, Value>) -> ApiResult<GroupBody> {
        let name = optional_string(body, "name", 256)?.ok_or_else(|| Detail::required("name"))?;
        let user_filter = match body.get("userFilter") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                let expr = filter::parse(s, &filter::USERS)
                    .map_err(|e| Detail::new("INVALID_FILTER", Some("userFilter"), &e.message))?;
                if expr.uses_member_of() {
                    return Err(Detail::new(
                        "INVALID_FILTER",
                        Some("userFilter"),
                        "A dynamic group filter cannot refer to group membership.",
                    )
                    .into());
                }
                Some((s.clone(), Arc::new(expr)))
            }
            Some(_) => {
                return Err(Detail::invalid_value("userFilter", "must be a string").into());
            }
        };
        let custom_data = match body.get("customData") {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(v.clone()),
            Some(_) => {
                return Err(Detail::invalid_value("customData", "must be an object").into());
            }
        };
        Ok(GroupBody {
            name,
            description: optional_string(body, "description", 1024)?,
            external_id: optional_string(body, "externalId", 1024)?,
            population: nested_id(body, "population", "population.id")?,
            user_filter,
            custom_data,
        })
    }

    /// `POST /groups` (item 21).
    pub fn create_group(&mut self, body: &Map<String, Value>) -> ApiResult<Pos> {
        let b = self.parse_group_body(body)?;
        let pop = b
            .population
            .as_deref()
            .map(|id| self.referenced_pop(id, "population.id"))
            .transpose()?;
        if self.group_name_clash(&b.name, pop, None) {
            return Err(
                Detail::uniqueness("name", "A group with this name already exists.").into(),
            );
        }
        let now = now_ms();
        let id = self.new_id();
        let pos = self.groups.len() as Pos;
        self.groups.push(Some(Group {
            id: id.clone(),
            name: b.name,
            description: b.description,
            population: pop,
            user_filter: b.user_filter,
            external_id: b.external_id,
            custom_data: b.custom_data,
            created_at: now,
            updated_at: now,
            direct_members: Vec::new(),
            parents: Vec::new(),
            children: Vec::new(),
        }));
        self.group_by_id.insert(id.clone(), pos);
        self.note_created(&id);
        self.bump();
        self.record_group(pos, "GROUP.CREATED", "Created");
        self.record_filter_changes(pos, Vec::new());
        Ok(pos)
    }

    /// `PUT /groups/{id}`: replace; the population cannot change.
    pub fn replace_group(&mut self, gp: Pos, body: &Map<String, Value>) -> ApiResult<()> {
        let b = self.parse_group_body(body)?;
        let current = self.group(gp).expect("live group");
        let current_pop = current
            .population
            .and_then(|p| self.pop(p))
            .map(|p| p.id.clone());
        if b.population.is_some() && b.population != current_pop {
            return Err(Detail::invalid_value(
                "population.id",
                "A group cannot be moved to another population or between population and environment scope.",
            ).into());
        }
        if self.group_name_clash(&b.name, current.population, Some(gp)) {
            return Err(
                Detail::uniqueness("name", "A group with this name already exists.").into(),
            );
        }
        let members_before = self.filter_members_before(gp);
        let g = self.group_mut(gp);
        g.name = b.name;
        g.description = b.description;
        g.external_id = b.external_id;
        g.user_filter = b.user_filter;
        g.custom_data = b.custom_data;
        g.updated_at = now_ms().max(g.updated_at);
        self.bump();
        self.record_group(gp, "GROUP.UPDATED", "Updated");
        if let Some(before) = members_before {
            self.record_filter_changes(gp, before);
        }
        Ok(())
    }

    /// `DELETE /groups/{id}`: memberships, nestings and assignments go too.
    pub fn delete_group(&mut self, gp: Pos) {
        self.record_group(gp, "GROUP.DELETED", "Deleted");
        self.remove_group(gp);
    }

    /// Removes a group and its relations without recording anything.
    fn remove_group(&mut self, gp: Pos) {
        let Some(g) = self.groups[gp as usize].take() else {
            return;
        };
        for u in &g.direct_members {
            if let Some(Some(user)) = self.users.get_mut(*u as usize) {
                sorted_remove(&mut user.direct_groups, gp);
            }
        }
        for p in &g.parents {
            if let Some(Some(pg)) = self.groups.get_mut(*p as usize) {
                pg.children.retain(|c| *c != gp);
            }
        }
        for c in &g.children {
            if let Some(Some(cg)) = self.groups.get_mut(*c as usize) {
                cg.parents.retain(|p| *p != gp);
            }
        }
        self.remove_assignments_of(Subject::Group(gp));
        self.group_by_id.remove(&g.id);
        self.bump();
    }

    /// `POST /groups/{child}/memberOfGroups` (item 22).
    pub fn nest(&mut self, child: Pos, parent: Pos, mode: DuplicateMembership) -> ApiResult<()> {
        if child == parent || self.ancestors(parent).contains(&child) {
            return Err(Detail::constraint(
                Some("id"),
                "Nesting this group would create a circular reference.",
            )
            .into());
        }
        let (c, p) = (
            self.group(child).expect("live group"),
            self.group(parent).expect("live group"),
        );
        if let Some(pp) = p.population
            && c.population != Some(pp)
        {
            return Err(Detail::constraint(
                Some("id"),
                "A population group can contain groups from its own population only.",
            )
            .into());
        }
        if c.parents.contains(&parent) {
            return Self::duplicate_relation(mode, "group nesting");
        }
        self.group_mut(child).parents.push(parent);
        self.group_mut(parent).children.push(child);
        self.bump();
        self.record_nesting(child, parent, true);
        Ok(())
    }

    pub fn unnest(&mut self, child: Pos, parent: Pos) -> bool {
        let c = self.group_mut(child);
        let before = c.parents.len();
        c.parents.retain(|p| *p != parent);
        if c.parents.len() == before {
            return false;
        }
        if let Some(Some(p)) = self.groups.get_mut(parent as usize) {
            p.children.retain(|x| *x != child);
        }
        self.bump();
        self.record_nesting(child, parent, false);
        true
    }

    fn parse_population_body(
        &self,
        body: &Map<String, Value>,
        except: Option<Pos>,
    ) -> ApiResult<PopulationBody> {
        let name = match body.get("name") {
            None | Some(Value::Null) => {
                return Err(Detail::required("name").into());
            }
            Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 256 => s.clone(),
            Some(_) => {
                return Err(Detail::invalid_value(
                    "name",
                    "must be a string of 1 to 256 characters",
                )
                .into());
            }
        };
        if self
            .live_pops()
            .any(|(pp, p)| Some(pp) != except && p.name.eq_ignore_ascii_case(&name))
        {
            return Err(
                Detail::uniqueness("name", "A population with this name already exists.").into(),
            );
        }
        let default = match body.get("default") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                return Err(Detail::invalid_value("default", "must be a boolean").into());
            }
        };
        let mut extra = Map::new();
        for k in [
            "alternativeIdentifiers",
            "preferredLanguage",
            "passwordPolicy",
            "theme",
        ] {
            if let Some(v) = body.get(k).filter(|v| !v.is_null()) {
                extra.insert(k.to_string(), v.clone());
            }
        }
        Ok(PopulationBody {
            name,
            description: optional_string(body, "description", 1024)?,
            default,
            extra,
        })
    }

    fn make_only_default(&mut self, pp: Pos) {
        for (i, p) in self.populations.iter_mut().enumerate() {
            if let Some(p) = p {
                p.default = i as Pos == pp;
            }
        }
    }

    /// `POST /populations`.
    pub fn create_population(&mut self, body: &Map<String, Value>) -> ApiResult<Pos> {
        let b = self.parse_population_body(body, None)?;
        let now = now_ms();
        let id = self.new_id();
        let pos = self.populations.len() as Pos;
        // The first population of an empty environment becomes its default.
        let default = b.default.unwrap_or(false) || self.default_pop().is_none();
        self.populations.push(Some(Population {
            id: id.clone(),
            name: b.name,
            description: b.description,
            default: false,
            user_count: 0,
            created_at: now,
            updated_at: now,
            extra: b.extra,
        }));
        if default {
            self.make_only_default(pos);
        }
        self.pop_by_id.insert(id.clone(), pos);
        self.note_created(&id);
        self.bump();
        let p = self.pop(pos).expect("created").clone();
        self.record_population(&p, "POPULATION.CREATED", "Created");
        Ok(pos)
    }

    /// `PUT /populations/{id}`: `default: true` moves the default here; the
    /// default cannot be switched off (there must always be one).
    pub fn replace_population(&mut self, pp: Pos, body: &Map<String, Value>) -> ApiResult<()> {
        let b = self.parse_population_body(body, Some(pp))?;
        let p = self.populations[pp as usize]
            .as_mut()
            .expect("live population");
        p.name = b.name;
        p.description = b.description;
        p.extra = b.extra;
        p.updated_at = now_ms().max(p.updated_at);
        if b.default == Some(true) {
            self.make_only_default(pp);
        }
        self.bump();
        let p = self.pop(pp).expect("live population").clone();
        self.record_population(&p, "POPULATION.UPDATED", "Updated");
        Ok(())
    }

    /// `DELETE /populations/{id}` (item 23): refused while it has users or
    /// is the default; its (empty) population groups go with it.
    pub fn delete_population(&mut self, pp: Pos) -> ApiResult<()> {
        let p = self.pop(pp).expect("live population");
        if p.default {
            return Err(
                Detail::constraint(None, "The default population cannot be deleted.").into(),
            );
        }
        if p.user_count > 0 {
            return Err(Detail::constraint(
                None,
                "A population that contains users cannot be deleted.",
            )
            .into());
        }
        let groups: Vec<Pos> = self
            .live_groups()
            .filter(|(_, g)| g.population == Some(pp))
            .map(|(gp, _)| gp)
            .collect();
        let cascades = self.audit.config.cascades;
        for g in groups {
            if cascades {
                self.delete_group(g);
            } else {
                self.remove_group(g);
            }
        }
        let p = self.populations[pp as usize]
            .take()
            .expect("live population");
        self.pop_by_id.remove(&p.id);
        self.bump();
        self.record_population(&p, "POPULATION.DELETED", "Deleted");
        Ok(())
    }

    /// `POST /users|groups/{id}/roleAssignments` (item 24).
    pub fn create_assignment(
        &mut self,
        subject: Subject,
        body: &Map<String, Value>,
    ) -> ApiResult<usize> {
        let role_id =
            nested_id(body, "role", "role.id")?.ok_or_else(|| Detail::required("role.id"))?;
        let scope = match body.get("scope") {
            Some(Value::Object(o)) => o,
            _ => return Err(Detail::required("scope").into()),
        };
        let scope_id = str_field(scope, "id")
            .ok_or_else(|| Detail::required("scope.id"))?
            .to_string();
        let scope_type_s =
            str_field(scope, "type").ok_or_else(|| Detail::required("scope.type"))?;
        let scope_type = ScopeType::parse(scope_type_s).ok_or_else(|| {
            Detail::invalid_value("scope.type", "is not a valid scope type").inner(
                serde_json::json!({
                    "allowedValues": ["ORGANIZATION", "ENVIRONMENT", "POPULATION", "APPLICATION"]
                }),
            )
        })?;
        let role = self.role_index(&role_id).ok_or_else(|| {
            Detail::invalid_value("role.id", "The referenced role does not exist.")
        })?;
        if !self.roles[role]
            .applicable_to
            .iter()
            .any(|a| a == scope_type.as_str())
        {
            return Err(Detail::invalid_value(
                "scope",
                &format!(
                    "The role '{}' cannot be assigned at scope type {}.",
                    self.roles[role].name,
                    scope_type.as_str()
                ),
            )
            .inner(serde_json::json!({ "allowedValues": self.roles[role].applicable_to }))
            .into());
        }
        let scope_ok = match scope_type {
            ScopeType::Environment => scope_id == self.env_id,
            ScopeType::Population => self.pop_pos(&scope_id).is_some(),
            ScopeType::Organization => scope_id == self.org_id,
            ScopeType::Application => crate::util::is_uuid(&scope_id),
        };
        if !scope_ok {
            return Err(Detail::invalid_value(
                "scope.id",
                "The scope does not exist or is not in this environment.",
            )
            .into());
        }
        let duplicate = self.assignments_of(subject).into_iter().any(|i| {
            let Some(a) = &self.assignments[i] else {
                return false;
            };
            a.role == role
                && ((a.scope_type == scope_type && a.scope_id == scope_id)
                    || a.scope_type == ScopeType::Organization
                    || (a.scope_type == ScopeType::Environment
                        && scope_type == ScopeType::Population))
        });
        if duplicate {
            return Err(Detail::uniqueness("role", "May not assign duplicate Role").into());
        }
        let idx = self.insert_assignment(subject, role, scope_type, scope_id, false, now_ms());
        let a = self.assignments[idx].clone().expect("created");
        self.note_created(&a.id);
        self.record_assignment(&a, true);
        Ok(idx)
    }

    pub fn insert_assignment(
        &mut self,
        subject: Subject,
        role: usize,
        scope_type: ScopeType,
        scope_id: String,
        read_only: bool,
        created_at: i64,
    ) -> usize {
        let id = self.new_id();
        let idx = self.assignments.len();
        self.assignments.push(Some(Assignment {
            id: id.clone(),
            subject,
            role,
            scope_type,
            scope_id,
            read_only,
            created_at,
        }));
        self.ra_by_id.insert(id, idx);
        self.ra_by_subject.entry(subject).or_default().push(idx);
        self.bump();
        idx
    }

    /// `DELETE .../roleAssignments/{id}`: read-only ones are refused.
    pub fn delete_assignment(&mut self, idx: usize) -> ApiResult<()> {
        let a = self.assignments[idx].as_ref().expect("live assignment");
        if a.read_only {
            let msg = format!(
                "Role assignment {} cannot be deleted as it is read only",
                a.id
            );
            let mut e = ApiError::from(Detail::constraint(Some("readOnly"), &msg));
            e.body["message"] = Value::String(msg);
            return Err(e);
        }
        let live = self.assignments[idx].clone().expect("live assignment");
        self.record_assignment(&live, false);
        let a = self.assignments[idx].take().expect("live assignment");
        self.ra_by_id.remove(&a.id);
        if let Some(v) = self.ra_by_subject.get_mut(&a.subject) {
            v.retain(|i| *i != idx);
        }
        self.bump();
        Ok(())
    }
}

struct GroupBody {
    name: String,
    description: Option<String>,
    external_id: Option<String>,
    population: Option<String>,
    user_filter: Option<(String, Arc<filter::Expr>)>,
    custom_data: Option<Value>,
}

struct PopulationBody {
    name: String,
    description: Option<String>,
    default: Option<bool>,
    extra: Map<String, Value>,
}
