//! The tenant's entities (populations, users, groups, roles, role
//! assignments) and the user profile's JSON mapping and validation.
//!
//! Users keep their client-settable attributes in a typed [`Profile`]
//! (compact for 100k users, fast to filter) and convert to and from JSON at
//! the edges. PingOne omits absent attributes rather than sending `null`
//! (§4.2), so every optional attribute is an `Option` that is skipped when
//! `None`. Validation follows the §4.2/§11 limits and answers with
//! `INVALID_VALUE` details whose `target` is the attribute path (item 11).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use serde_json::{Map, Value, json};

use crate::errors::Detail;
use crate::filter::Expr;

/// Position of an entity in its store vector (stable, never reused).
pub type Pos = u32;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Name {
    pub formatted: Option<String>,
    pub given: Option<String>,
    pub middle: Option<String>,
    pub family: Option<String>,
    pub honorific_prefix: Option<String>,
    pub honorific_suffix: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Address {
    pub street_address: Option<String>,
    pub locality: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country_code: Option<String>,
}

/// Client-settable user attributes (everything PUT replaces and PATCH merges).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    pub username: String,
    pub email: Option<String>,
    pub name: Option<Name>,
    pub nickname: Option<String>,
    pub title: Option<String>,
    pub user_type: Option<String>,
    pub external_id: Option<String>,
    pub account_id: Option<String>,
    pub primary_phone: Option<String>,
    pub mobile_phone: Option<String>,
    pub address: Option<Address>,
    pub locale: Option<String>,
    pub preferred_language: Option<String>,
    pub timezone: Option<String>,
    pub photo: Option<String>,
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

fn put_opt(m: &mut Map<String, Value>, k: &str, v: &Option<String>) {
    if let Some(v) = v {
        m.insert(k.to_string(), Value::String(v.clone()));
    }
}

impl Name {
    pub fn is_empty(&self) -> bool {
        *self == Name::default()
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        put_opt(&mut m, "formatted", &self.formatted);
        put_opt(&mut m, "given", &self.given);
        put_opt(&mut m, "middle", &self.middle);
        put_opt(&mut m, "family", &self.family);
        put_opt(&mut m, "honorificPrefix", &self.honorific_prefix);
        put_opt(&mut m, "honorificSuffix", &self.honorific_suffix);
        Value::Object(m)
    }
}

impl Address {
    pub fn is_empty(&self) -> bool {
        *self == Address::default()
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        put_opt(&mut m, "streetAddress", &self.street_address);
        put_opt(&mut m, "locality", &self.locality);
        put_opt(&mut m, "region", &self.region);
        put_opt(&mut m, "postalCode", &self.postal_code);
        put_opt(&mut m, "countryCode", &self.country_code);
        Value::Object(m)
    }
}

impl Profile {
    /// Writes the profile's attributes into a JSON object.
    pub fn write_json(&self, m: &mut Map<String, Value>) {
        for (k, v) in &self.custom {
            m.insert(k.clone(), v.clone());
        }
        m.insert("username".into(), Value::String(self.username.clone()));
        put_opt(m, "email", &self.email);
        if let Some(n) = &self.name {
            m.insert("name".into(), n.to_json());
        }
        put_opt(m, "nickname", &self.nickname);
        put_opt(m, "title", &self.title);
        put_opt(m, "type", &self.user_type);
        put_opt(m, "externalId", &self.external_id);
        put_opt(m, "accountId", &self.account_id);
        put_opt(m, "primaryPhone", &self.primary_phone);
        put_opt(m, "mobilePhone", &self.mobile_phone);
        if let Some(a) = &self.address {
            m.insert("address".into(), a.to_json());
        }
        put_opt(m, "locale", &self.locale);
        put_opt(m, "preferredLanguage", &self.preferred_language);
        put_opt(m, "timezone", &self.timezone);
        if let Some(p) = &self.photo {
            m.insert("photo".into(), json!({ "href": p }));
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
                "email" => p.email = string_attr(k, v, 256, &mut errs),
                "nickname" => p.nickname = string_attr(k, v, 256, &mut errs),
                "title" => p.title = string_attr(k, v, 256, &mut errs),
                "type" => p.user_type = string_attr(k, v, 256, &mut errs),
                "externalId" => p.external_id = string_attr(k, v, 1024, &mut errs),
                "accountId" => p.account_id = string_attr(k, v, 1024, &mut errs),
                "primaryPhone" => p.primary_phone = string_attr(k, v, 32, &mut errs),
                "mobilePhone" => p.mobile_phone = string_attr(k, v, 32, &mut errs),
                "locale" => p.locale = string_attr(k, v, 256, &mut errs),
                "preferredLanguage" => p.preferred_language = string_attr(k, v, 256, &mut errs),
                "timezone" => p.timezone = string_attr(k, v, 256, &mut errs),
                "name" => p.name = name_attr(v, &mut errs),
                "address" => p.address = address_attr(v, &mut errs),
                "photo" => match v
                    .as_object()
                    .and_then(|o| o.get("href"))
                    .and_then(|h| h.as_str())
                {
                    Some(h) if !h.is_empty() => p.photo = Some(h.to_string()),
                    _ => errs.push(Detail::invalid_value(
                        "photo.href",
                        "photo must carry a non-empty href",
                    )),
                },
                _ => {
                    p.custom.insert(k.clone(), v.clone());
                }
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
            && p.email.is_none()
            && !errs.iter().any(|d| d.target.as_deref() == Some("email"))
        {
            errs.push(Detail::required("email"));
        }
        p.validate(&mut errs);
        if errs.is_empty() { Ok(p) } else { Err(errs) }
    }

    fn validate(&self, errs: &mut Vec<Detail>) {
        if let Some(e) = &self.email
            && !valid_email(e)
        {
            errs.push(
                Detail::invalid_value("email", "must be a well-formed email address")
                    .inner(json!({ "allowedPattern": "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$" })),
            );
        }
        for (target, v) in [
            ("primaryPhone", &self.primary_phone),
            ("mobilePhone", &self.mobile_phone),
        ] {
            if let Some(v) = v
                && !v.chars().any(|c| c.is_ascii_digit())
            {
                errs.push(
                    Detail::invalid_value(target, "must contain at least one digit")
                        .inner(json!({ "allowedPattern": ".*\\d.*" })),
                );
            }
        }
        if let Some(tz) = &self.timezone
            && !valid_timezone(tz)
        {
            errs.push(
                Detail::invalid_value("timezone", "must match the pattern ^\\w+\\/\\w+$")
                    .inner(json!({ "allowedPattern": "^\\w+\\/\\w+$" })),
            );
        }
        if let Some(n) = &self.name {
            for (target, v) in [("name.family", &n.family), ("name.formatted", &n.formatted)] {
                if let Some(v) = v
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
        }
        if let Some(a) = &self.address
            && let Some(cc) = &a.country_code
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
        let name = || self.name.as_ref();
        let addr = || self.address.as_ref();
        match path {
            "username" => Some(&self.username),
            "email" => self.email.as_deref(),
            "nickname" => self.nickname.as_deref(),
            "title" => self.title.as_deref(),
            "type" => self.user_type.as_deref(),
            "externalId" => self.external_id.as_deref(),
            "accountId" => self.account_id.as_deref(),
            "primaryPhone" => self.primary_phone.as_deref(),
            "mobilePhone" => self.mobile_phone.as_deref(),
            "locale" => self.locale.as_deref(),
            "preferredLanguage" => self.preferred_language.as_deref(),
            "timezone" => self.timezone.as_deref(),
            "photo.href" => self.photo.as_deref(),
            "name.formatted" => name()?.formatted.as_deref(),
            "name.given" => name()?.given.as_deref(),
            "name.middle" => name()?.middle.as_deref(),
            "name.family" => name()?.family.as_deref(),
            "name.honorificPrefix" => name()?.honorific_prefix.as_deref(),
            "name.honorificSuffix" => name()?.honorific_suffix.as_deref(),
            "address.streetAddress" => addr()?.street_address.as_deref(),
            "address.locality" => addr()?.locality.as_deref(),
            "address.region" => addr()?.region.as_deref(),
            "address.postalCode" => addr()?.postal_code.as_deref(),
            "address.countryCode" => addr()?.country_code.as_deref(),
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

fn sub_obj<'a>(
    target: &str,
    v: &'a Value,
    errs: &mut Vec<Detail>,
) -> Option<&'a Map<String, Value>> {
    match v.as_object() {
        Some(o) => Some(o),
        None => {
            errs.push(Detail::invalid_value(target, "must be an object"));
            None
        }
    }
}

fn name_attr(v: &Value, errs: &mut Vec<Detail>) -> Option<Name> {
    let o = sub_obj("name", v, errs)?;
    let mut n = Name::default();
    for (k, v) in o {
        if v.is_null() {
            continue;
        }
        let target = format!("name.{k}");
        let slot = match k.as_str() {
            "formatted" => &mut n.formatted,
            "given" => &mut n.given,
            "middle" => &mut n.middle,
            "family" => &mut n.family,
            "honorificPrefix" => &mut n.honorific_prefix,
            "honorificSuffix" => &mut n.honorific_suffix,
            _ => {
                errs.push(Detail::invalid_value(
                    &target,
                    "is not a recognised attribute",
                ));
                continue;
            }
        };
        *slot = string_attr(&target, v, 256, errs);
    }
    if n.is_empty() { None } else { Some(n) }
}

fn address_attr(v: &Value, errs: &mut Vec<Detail>) -> Option<Address> {
    let o = sub_obj("address", v, errs)?;
    let mut a = Address::default();
    for (k, v) in o {
        if v.is_null() {
            continue;
        }
        let target = format!("address.{k}");
        let (slot, max) = match k.as_str() {
            "streetAddress" => (&mut a.street_address, 256),
            "locality" => (&mut a.locality, 256),
            "region" => (&mut a.region, 256),
            "postalCode" => (&mut a.postal_code, 40),
            "countryCode" => (&mut a.country_code, 2),
            _ => {
                errs.push(Detail::invalid_value(
                    &target,
                    "is not a recognised attribute",
                ));
                continue;
            }
        };
        *slot = string_attr(&target, v, max, errs);
    }
    if a.is_empty() { None } else { Some(a) }
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
pub struct Permission {
    pub id: String,
    pub description: String,
}

#[derive(Clone, Debug)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub description: String,
    pub applicable_to: Vec<String>,
    pub permissions: Vec<Permission>,
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

impl ScopeType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeType::Organization => "ORGANIZATION",
            ScopeType::Environment => "ENVIRONMENT",
            ScopeType::Population => "POPULATION",
            ScopeType::Application => "APPLICATION",
        }
    }

    pub fn parse(s: &str) -> Option<ScopeType> {
        Some(match s {
            "ORGANIZATION" => ScopeType::Organization,
            "ENVIRONMENT" => ScopeType::Environment,
            "POPULATION" => ScopeType::Population,
            "APPLICATION" => ScopeType::Application,
            _ => return None,
        })
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
