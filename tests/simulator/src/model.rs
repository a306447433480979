//! The tenant's entities (populations, users, groups, roles, role
//! assignments) and the user profile's JSON mapping and validation.
//!
//! Users keep their client-settable attributes in a [`Profile`]: the
//! documented string attributes by dotted path (fast to filter, one table
//! for parsing, limits and rendering) plus custom ones, converted to and
//! from JSON at the edges. PingOne omits absent attributes rather than
//! sending `null` (§4.2), so an absent attribute is simply not stored.
//! Validation follows the §4.2/§11 limits and answers with `INVALID_VALUE`
//! details whose `target` is the attribute path (item 11).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use serde_json::{Map, Value, json};

use crate::errors::Detail;
use crate::filter::Expr;

/// Position of an entity in its store vector (stable, never reused).
pub type Pos = u32;

/// Client-settable user attributes (everything PUT replaces and PATCH merges).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    pub username: String,
    /// The typed attributes present ([`ATTRIBUTES`] and `photo.href`), by
    /// dotted path: `email`, `name.given`, `address.countryCode`.
    pub attrs: BTreeMap<&'static str, String>,
    /// Custom schema attributes (extra top-level keys), passed through.
    pub custom: BTreeMap<String, Value>,
}

/// Keys of a user body that the server owns or that have their own
/// endpoint; PUT/PATCH ignore them instead of failing (item 13).
pub const USER_READ_ONLY_KEYS: &[&str] = &[
    "id",
    "environment",
    "population",
    "enabled",
    "account",
    "lifecycle",
    "identityProvider",
    "mfaEnabled",
    "verifyStatus",
    "lastSignOn",
    "createdAt",
    "updatedAt",
    "emailVerified",
    "memberOfGroupIDs",
    "memberOfGroupNames",
    "password",
];

/// The typed string attributes by dotted path, with their maximum length
/// (§4.2, §11). The `name` and `address` objects take only their own.
const ATTRIBUTES: &[(&str, usize)] = &[
    ("email", 256),
    ("nickname", 256),
    ("title", 256),
    ("type", 256),
    ("externalId", 1024),
    ("accountId", 1024),
    ("primaryPhone", 32),
    ("mobilePhone", 32),
    ("locale", 256),
    ("preferredLanguage", 256),
    ("timezone", 256),
    ("name.formatted", 256),
    ("name.given", 256),
    ("name.middle", 256),
    ("name.family", 256),
    ("name.honorificPrefix", 256),
    ("name.honorificSuffix", 256),
    ("address.streetAddress", 256),
    ("address.locality", 256),
    ("address.region", 256),
    ("address.postalCode", 40),
    ("address.countryCode", 2),
];

fn attribute(path: &str) -> Option<(&'static str, usize)> {
    ATTRIBUTES.iter().find(|(p, _)| *p == path).copied()
}

impl Profile {
    pub fn set(&mut self, path: &'static str, value: impl Into<String>) {
        self.attrs.insert(path, value.into());
    }

    pub fn get(&self, path: &str) -> Option<&str> {
        self.attrs.get(path).map(String::as_str)
    }

    /// Writes the profile's attributes into a JSON object; a dotted path
    /// becomes a key of a nested object.
    pub fn write_json(&self, m: &mut Map<String, Value>) {
        for (k, v) in &self.custom {
            m.insert(k.clone(), v.clone());
        }
        m.insert("username".into(), Value::String(self.username.clone()));
        for (path, v) in &self.attrs {
            let v = Value::String(v.clone());
            match path.split_once('.') {
                Some((object, key)) => {
                    m.entry(object).or_insert_with(|| json!({}))[key] = v;
                }
                None => {
                    m.insert(path.to_string(), v);
                }
            }
        }
    }

    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        self.write_json(&mut m);
        m
    }

    /// Parses and validates a body. Read-only keys and keys starting with
    /// `_` are ignored; `null` means absent. A missing username is reported
    /// (REQUIRED_VALUE) as is a missing email when `require_email`.
    pub fn from_json(
        obj: &Map<String, Value>,
        require_email: bool,
    ) -> Result<Profile, Vec<Detail>> {
        let mut p = Profile::default();
        let mut errs = Vec::new();
        let mut username = None;
        for (k, v) in obj {
            if v.is_null() || k.starts_with('_') || USER_READ_ONLY_KEYS.contains(&k.as_str()) {
                continue;
            }
            match k.as_str() {
                "username" => username = string_attr(k, v, 128, &mut errs),
                "name" | "address" => p.object_attr(k, v, &mut errs),
                "photo" => match v.get("href").and_then(|h| h.as_str()) {
                    Some(h) if !h.is_empty() => p.set("photo.href", h),
                    _ => errs.push(Detail::invalid_value(
                        "photo.href",
                        "photo must carry a non-empty href",
                    )),
                },
                _ => match attribute(k).filter(|_| !k.contains('.')) {
                    Some((path, max)) => p.checked_attr(path, max, v, &mut errs),
                    None => {
                        p.custom.insert(k.clone(), v.clone());
                    }
                },
            }
        }
        match username {
            Some(u) => p.username = u,
            None if !errs.iter().any(|d| d.target.as_deref() == Some("username")) => {
                errs.push(Detail::required("username"))
            }
            None => {}
        }
        if require_email
            && p.get("email").is_none()
            && !errs.iter().any(|d| d.target.as_deref() == Some("email"))
        {
            errs.push(Detail::required("email"));
        }
        p.validate(&mut errs);
        if errs.is_empty() { Ok(p) } else { Err(errs) }
    }

    /// Keeps `v` as the attribute `path` if it is a valid string.
    fn checked_attr(&mut self, path: &'static str, max: usize, v: &Value, errs: &mut Vec<Detail>) {
        if let Some(s) = string_attr(path, v, max, errs) {
            self.attrs.insert(path, s);
        }
    }

    /// The `name` or `address` object: only its own attributes.
    fn object_attr(&mut self, object: &str, v: &Value, errs: &mut Vec<Detail>) {
        let Some(o) = v.as_object() else {
            errs.push(Detail::invalid_value(object, "must be an object"));
            return;
        };
        for (k, v) in o.iter().filter(|(_, v)| !v.is_null()) {
            let target = format!("{object}.{k}");
            match attribute(&target) {
                Some((path, max)) => self.checked_attr(path, max, v, errs),
                None => errs.push(Detail::invalid_value(
                    &target,
                    "is not a recognised attribute",
                )),
            }
        }
    }

    fn validate(&self, errs: &mut Vec<Detail>) {
        if let Some(e) = self.get("email")
            && !valid_email(e)
        {
            errs.push(
                Detail::invalid_value("email", "must be a well-formed email address")
                    .inner(json!({ "allowedPattern": "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$" })),
            );
        }
        for target in ["primaryPhone", "mobilePhone"] {
            if let Some(v) = self.get(target)
                && !v.chars().any(|c| c.is_ascii_digit())
            {
                errs.push(
                    Detail::invalid_value(target, "must contain at least one digit")
                        .inner(json!({ "allowedPattern": ".*\\d.*" })),
                );
            }
        }
        if let Some(tz) = self.get("timezone")
            && !valid_timezone(tz)
        {
            errs.push(
                Detail::invalid_value("timezone", "must match the pattern ^\\w+\\/\\w+$")
                    .inner(json!({ "allowedPattern": "^\\w+\\/\\w+$" })),
            );
        }
        for target in ["name.family", "name.formatted"] {
            if let Some(v) = self.get(target)
                && !v
                    .chars()
                    .all(|c| c.is_alphanumeric() || "' .-".contains(c) || is_mark(c))
            {
                errs.push(
                    Detail::invalid_value(target, "contains characters that are not allowed")
                        .inner(json!({ "allowedPattern": "^[\\p{L}\\p{M}\\p{N}' .-]*$" })),
                );
            }
        }
        if let Some(cc) = self.get("address.countryCode")
            && !(cc.len() == 2 && cc.bytes().all(|b| b.is_ascii_uppercase()))
        {
            errs.push(
                Detail::invalid_value(
                    "address.countryCode",
                    "must be a two letter ISO 3166-1 code",
                )
                .inner(json!({ "allowedPattern": "[A-Z]{2}" })),
            );
        }
    }

    /// The value of a filterable string attribute (dotted path).
    pub fn attr(&self, path: &str) -> Option<&str> {
        match path {
            "username" => Some(&self.username),
            "photo.href" => self.get(path),
            _ if attribute(path).is_some() => self.get(path),
            other => self.custom.get(other).and_then(|v| v.as_str()),
        }
    }
}

fn is_mark(c: char) -> bool {
    // Combining diacritical marks (the common \p{M} block).
    ('\u{0300}'..='\u{036f}').contains(&c)
}

fn valid_email(e: &str) -> bool {
    let mut parts = e.splitn(2, '@');
    let (Some(local), Some(domain)) = (parts.next(), parts.next()) else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn valid_timezone(tz: &str) -> bool {
    let word = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    match tz.split_once('/') {
        Some((a, b)) => word(a) && word(b),
        None => false,
    }
}

/// Checks a string attribute: type, length `1..=max`, no control characters.
fn string_attr(target: &str, v: &Value, max: usize, errs: &mut Vec<Detail>) -> Option<String> {
    let Some(s) = v.as_str() else {
        errs.push(Detail::invalid_value(target, "must be a string"));
        return None;
    };
    let n = s.chars().count();
    if n == 0 || n > max {
        errs.push(
            Detail::invalid_value(
                target,
                &format!("must be between 1 and {max} characters long"),
            )
            .inner(json!({ "rangeMinimumValue": 1, "rangeMaximumValue": max })),
        );
        return None;
    }
    // Street addresses may contain line breaks; nothing else may hold control characters.
    let allow_newlines = target == "address.streetAddress";
    if s.chars()
        .any(|c| c.is_control() && !(allow_newlines && (c == '\n' || c == '\r')))
    {
        errs.push(Detail::invalid_value(
            target,
            "must not contain control characters",
        ));
        return None;
    }
    Some(s.to_string())
}

/// RFC 7396 merge: objects merge recursively, `null` removes, the rest replaces.
pub fn merge_patch(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        match v {
            Value::Null => {
                target.remove(k);
            }
            Value::Object(p) => match target.get_mut(k) {
                Some(Value::Object(t)) => merge_patch(t, p),
                _ => {
                    let mut t = Map::new();
                    merge_patch(&mut t, p);
                    target.insert(k.clone(), Value::Object(t));
                }
            },
            other => {
                target.insert(k.clone(), other.clone());
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct Population {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub default: bool,
    pub user_count: usize,
    pub created_at: i64,
    pub updated_at: i64,
    /// Other accepted attributes (alternativeIdentifiers, preferredLanguage,
    /// passwordPolicy, theme), echoed back.
    pub extra: Map<String, Value>,
}

#[derive(Debug)]
pub struct User {
    pub id: String,
    pub population: Pos,
    pub username_lc: String,
    pub profile: Profile,
    pub enabled: bool,
    /// `Some(lockedAt)` when `account.status` is LOCKED.
    pub locked_at: Option<i64>,
    pub lifecycle: String,
    pub mfa_enabled: bool,
    /// `identityProvider`: type plus id for federated users.
    pub idp_type: String,
    pub idp_id: Option<String>,
    pub verify_status: String,
    pub email_verified: Option<bool>,
    pub last_sign_on: Option<(i64, String)>,
    pub password_status: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Unknown server-side fields that connectors must ignore.
    pub server_extra: Option<Box<Map<String, Value>>>,
    /// Direct group memberships, sorted by group position.
    pub direct_groups: Vec<Pos>,
    /// The rendered list-form JSON, built on first use and reset on change.
    pub cache: OnceLock<Bytes>,
}

impl User {
    pub fn can_authenticate(&self) -> bool {
        self.enabled && self.locked_at.is_none()
    }

    pub fn touch(&mut self, now: i64) {
        self.updated_at = now.max(self.updated_at);
        self.cache = OnceLock::new();
    }
}

#[derive(Debug)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub population: Option<Pos>,
    pub user_filter: Option<(String, Arc<Expr>)>,
    pub external_id: Option<String>,
    pub custom_data: Option<Value>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Direct user members, sorted by user position.
    pub direct_members: Vec<Pos>,
    /// Groups this group is nested in (its members are theirs, INDIRECT).
    pub parents: Vec<Pos>,
    /// Groups nested in this group.
    pub children: Vec<Pos>,
}

#[derive(Clone, Debug)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub description: String,
    pub applicable_to: Vec<String>,
    /// Permission ids (`permissions:read:users`).
    pub permissions: Vec<&'static str>,
    /// Custom roles live in the environment (`type: CUSTOM`).
    pub custom: bool,
    pub can_be_assigned_by: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    User(Pos),
    Group(Pos),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScopeType {
    Organization,
    Environment,
    Population,
    Application,
}

/// Every scope type with its spelling.
const SCOPE_TYPES: [(ScopeType, &str); 4] = [
    (ScopeType::Organization, "ORGANIZATION"),
    (ScopeType::Environment, "ENVIRONMENT"),
    (ScopeType::Population, "POPULATION"),
    (ScopeType::Application, "APPLICATION"),
];

impl ScopeType {
    pub fn as_str(self) -> &'static str {
        SCOPE_TYPES
            .iter()
            .find(|(t, _)| *t == self)
            .map_or("", |(_, s)| s)
    }

    pub fn parse(s: &str) -> Option<ScopeType> {
        SCOPE_TYPES.iter().find(|(_, n)| *n == s).map(|(t, _)| *t)
    }
}

#[derive(Clone, Debug)]
pub struct Assignment {
    pub id: String,
    pub subject: Subject,
    /// Index into the store's role vector.
    pub role: usize,
    pub scope_type: ScopeType,
    pub scope_id: String,
    pub read_only: bool,
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn profile_round_trips_and_omits_absent() {
        let body = obj(json!({
            "username": "zoë", "email": "z@example.com",
            "name": {"given": "Zoë", "family": "O'Brien-Łukasz", "middle": null},
            "enabled": false, "id": "ignored", "_links": {}, "costCenter": "42"
        }));
        let p = Profile::from_json(&body, true).unwrap();
        let out = p.to_json();
        assert_eq!(
            Value::Object(out),
            json!({"username": "zoë", "email": "z@example.com",
                   "name": {"given": "Zoë", "family": "O'Brien-Łukasz"}, "costCenter": "42"})
        );
    }

    #[test]
    fn validation_reports_targets() {
        let body = obj(json!({
            "username": "x".repeat(129), "email": "nope", "primaryPhone": "abc",
            "timezone": "Mars", "address": {"countryCode": "usa"}, "name": {"family": "Smith,"}
        }));
        let errs = Profile::from_json(&body, true).unwrap_err();
        let targets: Vec<_> = errs.iter().map(|d| d.target.clone().unwrap()).collect();
        assert_eq!(targets.len(), 6, "{targets:?}");
        for t in [
            "username",
            "email",
            "primaryPhone",
            "timezone",
            "address.countryCode",
            "name.family",
        ] {
            assert!(targets.iter().any(|x| x == t), "missing {t} in {targets:?}");
        }
    }

    #[test]
    fn required_values() {
        let errs = Profile::from_json(&obj(json!({})), true).unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].code, "REQUIRED_VALUE");
        assert_eq!(errs[0].target.as_deref(), Some("username"));
        assert!(Profile::from_json(&obj(json!({"username": "a"})), false).is_ok());
    }

    #[test]
    fn merge_patch_semantics() {
        let mut t = obj(json!({"a": 1, "n": {"x": 1, "y": 2}, "k": "v"}));
        merge_patch(&mut t, &obj(json!({"a": null, "n": {"y": null, "z": 3}})));
        assert_eq!(Value::Object(t), json!({"n": {"x": 1, "z": 3}, "k": "v"}));
    }
}
