//! Users: the `user` resources, and the grants whose principal is a user
//! that only the user side can see (roles and populations).
//!
//! Decisions:
//! - `GET /users?limit=200` pages (PingOne's page cap) in a token chain; each
//!   page uploads its users and hands a follow-up `list-grants` task the
//!   page's user ids with their population ids. The `user` type has
//!   `skip-entitlements-and-grants`: users hold no entitlements, and their
//!   grants come from these follow-ups, so the host never starts one task
//!   per user.
//! - The follow-up reads every user's role assignments in one `send_batch`
//!   (there is no bulk role-assignment listing in PingOne) and emits the
//!   population grant of each user from the id the listing already gave:
//!   population membership costs no request at all.
//! - Display name: `name.formatted`, else given and family name, else the
//!   username (then the id). The user's lock state and lifecycle go in the
//!   profile and the status details; `enabled: false` is DISABLED.
//! - Accounts: the login is the username; `no-password` creates the user as
//!   is, `random-password` creates it through PingOne's import media type
//!   with a generated password that must be changed at first sign-on. A
//!   taken username answers `already-exists` with the existing user.
//!   Deleting a user that is gone answers `already-gone`.

use connector_sdk::http::Request;
use connector_sdk::{
    AccountInfo, AccountType, ConnectorError, Context, CreateAccountOutcome, CreateAccountResult,
    CredentialOption, DeleteResult, Email, PageOutcome, Resource, ResourceId, ResourceStatus,
    ResourceTrait, StructuredName, UserStatus, UserTrait, resource_id,
};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::client::api::Api;
use crate::client::errors;
use crate::client::failure::{self, send_write};
use crate::client::ids::{checked, checked_answer};
use crate::client::model::{RoleAssignment, User};
use crate::client::paging::{Page, next_page, parse_one, parse_page};
use crate::config::Settings;
use crate::membership::plan::grants_task;
use crate::resources::{finish, roles};
use crate::tokens::{NO_POPULATION, UserBatch, Work};
use crate::upload::{Out, SetKey};
use crate::{POPULATION, USER, time};

/// Immutable-reason of population grants.
pub const POPULATION_REASON: &str =
    "a user belongs to exactly one population; move the user to change it";

/// One page of `GET /users`.
pub fn list(
    cx: &connector_sdk::Context,
    api: &Api,
    token: Option<Work>,
) -> Result<PageOutcome, connector_sdk::ConnectorError> {
    let (url, empty) = match token {
        None => (api.users(), 0),
        Some(Work::UsersPage { next, empty }) => (next, empty),
        Some(other) => return Err(crate::wrong_token("list users", &other)),
    };
    let what = "listing users (GET /users)";
    let resp = api.get(&url, what)?;
    let page: Page<User> = parse_page(&resp, "users", what)?;
    let mut out = Out::new();
    let mut pops: Vec<String> = Vec::new();
    let mut users = Vec::with_capacity(page.items.len());
    for u in &page.items {
        out.resources.push(user_resource(u));
        let pop = u.population.as_ref().map_or(NO_POPULATION, |p| {
            let known = pops.iter().position(|x| *x == p.id);
            known.unwrap_or_else(|| {
                pops.push(p.id.clone());
                pops.len() - 1
            }) as u32
        });
        users.push((u.id.clone(), pop));
    }
    let mut follow_ups = Vec::new();
    if !users.is_empty() {
        let batch = Work::UserBatch(UserBatch { pops, users });
        follow_ups.push(grants_task(USER, batch.encode()));
    }
    let next = next_page(api, &url, &page, empty, what)?
        .map(|(next, empty)| Work::UsersPage { next, empty }.encode());
    finish(cx, out, next, follow_ups)
}

/// Role assignments and population grants of one page of users.
pub fn grants(
    cx: &connector_sdk::Context,
    api: &Api,
    batch: UserBatch,
) -> Result<PageOutcome, connector_sdk::ConnectorError> {
    let jobs = batch
        .users
        .iter()
        .map(|(id, _)| {
            (
                api.user_role_assignments(id),
                format!("GET /users/{id}/roleAssignments"),
            )
        })
        .collect();
    let results = api.list_all::<RoleAssignment>("roleAssignments", jobs);
    let mut out = Out::new();
    for ((uid, pop), res) in batch.users.iter().zip(results) {
        let assignments = match res {
            Ok(a) => a,
            // Deleted since the listing: nothing to grant.
            Err(e) if matches!(e.error, connector_sdk::ConnectorError::NotFound(_)) => {
                cx.log(
                    connector_sdk::Level::Debug,
                    format!("user {uid} is gone: {}", e.error.message()),
                );
                continue;
            }
            Err(e) => return Err(e.error),
        };
        let principal = resource_id(USER, uid);
        if *pop != NO_POPULATION
            && let Some(p) = batch.pops.get(*pop as usize)
        {
            let key = SetKey {
                resource_type: POPULATION,
                resource: p,
                slug: "member",
                principal_type: USER,
                expansion: None,
                immutable_reason: Some(POPULATION_REASON),
                metadata_json: None,
            };
            out.grant_in_set(&key, uid.clone());
        }
        roles::push_assignment_grants(cx, &mut out, &principal, &assignments, None, api.env_id());
    }
    finish(cx, out, None, Vec::new())
}

/// `name.formatted`, else "given family", else the username, else the id.
pub fn display_name(u: &User) -> String {
    let clean = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    if let Some(n) = &u.name {
        if let Some(f) = clean(&n.formatted) {
            return f;
        }
        let parts: Vec<String> = [clean(&n.given), clean(&n.family)]
            .into_iter()
            .flatten()
            .collect();
        if !parts.is_empty() {
            return parts.join(" ");
        }
    }
    clean(&u.username).unwrap_or_else(|| u.id.clone())
}

/// The user's profile as the c1z stores it: PingOne's attributes that have
/// no place in the USER trait, absent ones left out. Serialised straight
/// from borrowed fields (no intermediate `Value` tree: this runs once per
/// user); keys in byte order, as a JSON object map would sort them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Profile<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    account_status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    can_authenticate: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identity_provider: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_sign_on_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lifecycle_status: Option<&'a str>,
    locked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    locked_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    population_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unlock_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at: Option<&'a str>,
    user_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<&'a str>,
}

pub fn user_resource(u: &User) -> Resource {
    let enabled = u.enabled.unwrap_or(true);
    let account_status = u.account.as_ref().and_then(|a| a.status.clone());
    let locked = account_status
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("LOCKED"));
    let lifecycle = u.lifecycle.as_ref().and_then(|l| l.status.clone());

    let mut details = Vec::new();
    if !enabled {
        details.push("disabled".to_string());
    }
    if locked {
        details.push(
            match u.account.as_ref().and_then(|a| a.locked_at.as_deref()) {
                Some(at) => format!("account locked since {at}"),
                None => "account locked".to_string(),
            },
        );
    }
    if let Some(l) = lifecycle
        .as_deref()
        .filter(|l| !l.eq_ignore_ascii_case("ACCOUNT_OK"))
    {
        details.push(format!("lifecycle {l}"));
    }

    let structured_name = u.name.as_ref().map(|n| StructuredName {
        given_name: n.given.clone().unwrap_or_default(),
        family_name: n.family.clone().unwrap_or_default(),
        middle_names: n
            .middle
            .iter()
            .filter(|m| !m.trim().is_empty())
            .cloned()
            .collect(),
        prefix: n.honorific_prefix.clone().unwrap_or_default(),
        suffix: n.honorific_suffix.clone().unwrap_or_default(),
    });

    let account = u.account.as_ref();
    let last_sign_on_at = u.last_sign_on.as_ref().and_then(|s| s.at.as_deref());
    let profile = Profile {
        account_status: account_status.as_deref(),
        can_authenticate: account.and_then(|a| a.can_authenticate),
        created_at: u.created_at.as_deref(),
        email: u.email.as_deref(),
        enabled,
        external_id: u.external_id.as_deref(),
        identity_provider: u.identity_provider.as_ref().and_then(|i| i.kind.as_deref()),
        last_sign_on_at,
        lifecycle_status: lifecycle.as_deref(),
        locked,
        locked_at: account.and_then(|a| a.locked_at.as_deref()),
        mfa_enabled: u.mfa_enabled,
        population_id: u.population.as_ref().map(|p| p.id.as_str()),
        title: u.title.as_deref(),
        unlock_at: account.and_then(|a| a.unlock_at.as_deref()),
        updated_at: u.updated_at.as_deref(),
        user_id: &u.id,
        user_type: u.user_type.as_deref(),
        username: u.username.as_deref(),
    };

    let created_at = u.created_at.as_deref().and_then(time::parse);
    let (status, user_status) = match enabled {
        true => (ResourceStatus::Enabled, UserStatus::Enabled),
        false => (ResourceStatus::Disabled, UserStatus::Disabled),
    };
    let emails = u
        .email
        .iter()
        .filter(|e| !e.trim().is_empty())
        .map(|e| Email {
            address: e.clone(),
            is_primary: true,
        })
        .collect();
    Resource {
        id: resource_id(USER, &u.id),
        parent: None,
        display_name: display_name(u),
        description: None,
        external_id: Some(u.id.clone()),
        status,
        created_at,
        trait_: Some(ResourceTrait::User(UserTrait {
            emails,
            login: u.username.clone(),
            login_aliases: Vec::new(),
            status: user_status,
            status_details: (!details.is_empty()).then(|| details.join("; ")),
            account_type: AccountType::Human,
            structured_name,
            employee_ids: Vec::new(),
            profile_json: serde_json::to_string(&profile).ok(),
            created_at,
            last_login: last_sign_on_at.and_then(time::parse),
            mfa_enabled: u.mfa_enabled,
        })),
    }
}

const IMPORT_MEDIA_TYPE: &str = "application/vnd.pingidentity.user.import+json";

/// The account fields (`account-creation-schema`) read from the profile.
struct NewAccount {
    username: String,
    email: Option<String>,
    given: Option<String>,
    family: Option<String>,
    population: Option<String>,
    enabled: bool,
    /// The password the host made for a `random-password` account (the
    /// profile's `password` member), to be set as it is.
    password: Option<String>,
}

fn new_account(info: &AccountInfo) -> Result<NewAccount, ConnectorError> {
    let profile: Map<String, Value> = match info.profile_json.as_deref() {
        None => Map::new(),
        Some(p) => match serde_json::from_str(p) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Err(ConnectorError::InvalidArgument(
                    "the account profile must be a JSON object".into(),
                ));
            }
        },
    };
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| profile.get(*k).and_then(Value::as_str))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let username = text(&["username"]).unwrap_or_else(|| info.login.trim().to_string());
    if username.is_empty() {
        return Err(ConnectorError::InvalidArgument(
            "an account needs a login (the PingOne username)".into(),
        ));
    }
    let enabled = match profile.get("enabled") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(ConnectorError::InvalidArgument(format!(
                "enabled must be true or false, got {v}"
            )));
        }
    };
    Ok(NewAccount {
        username,
        email: text(&["email"]).or_else(|| info.emails.first().cloned()),
        given: text(&["given_name", "givenName"]),
        family: text(&["family_name", "familyName"]),
        population: text(&["population_id", "populationId"]),
        enabled,
        password: profile
            .get("password")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
            .map(String::from),
    })
}

pub fn create_account(
    cx: &Context,
    info: AccountInfo,
    credential: CredentialOption,
) -> Result<CreateAccountOutcome, ConnectorError> {
    let settings = Settings::from_config(cx.config)?;
    let api = Api::new(cx.host, &settings);
    let acct = new_account(&info)?;
    if let Some(p) = &acct.population {
        checked("population_id", p)?;
    }
    let mut body = json!({ "username": acct.username });
    if let Some(e) = &acct.email {
        body["email"] = json!(e);
    }
    let name: Map<String, Value> = [("given", &acct.given), ("family", &acct.family)]
        .into_iter()
        .filter_map(|(part, value)| Some((part.to_string(), json!(value.as_ref()?))))
        .collect();
    if !name.is_empty() {
        body["name"] = Value::Object(name);
    }
    if let Some(p) = &acct.population {
        body["population"] = json!({ "id": p });
    }
    let password = match credential {
        CredentialOption::NoPassword => None,
        // The host's password honours the task's length and constraints;
        // without one (an older host), the connector makes its own.
        CredentialOption::RandomPassword => {
            Some(acct.password.clone().unwrap_or_else(|| random_password(20)))
        }
    };
    let url = format!("{}/users", api.environment());
    let req = match &password {
        None => Request::post(url).json(&body),
        // Only the import media type may carry a password.
        Some(pw) => {
            body["password"] = json!({ "value": pw, "forceChange": true });
            let mut r = Request::post(url).header("content-type", IMPORT_MEDIA_TYPE);
            r.body = Some(body.to_string().into_bytes());
            r
        }
    };
    let what = format!("creating user {}", acct.username);
    let resp = send_write(&api, req, &what)?;
    if errors::is_duplicate(&resp) {
        let existing =
            find_user(&api, &acct.username)?.ok_or_else(|| errors::status_error(&resp, &what))?;
        return Ok(CreateAccountOutcome {
            status: CreateAccountResult::AlreadyExists,
            account: user_resource(&existing),
            one_time_password: None,
        });
    }
    errors::check(&resp, &what)?;
    let user: User = parse_one(&resp, &what)?;
    let mut account = user_resource(&user);
    if !acct.enabled {
        let what = format!("disabling user {}", user.id);
        let id = checked_answer("the new user's id", &user.id)?;
        let url = format!("{}/users/{id}/enabled", api.environment());
        let resp = send_write(
            &api,
            Request::put(url).json(&json!({ "enabled": false })),
            &what,
        )?;
        errors::check(&resp, &what)?;
        account.status = ResourceStatus::Disabled;
        if let Some(ResourceTrait::User(t)) = &mut account.trait_ {
            t.status = UserStatus::Disabled;
        }
    }
    Ok(CreateAccountOutcome {
        status: CreateAccountResult::Created,
        account,
        one_time_password: password,
    })
}

fn find_user(api: &Api, username: &str) -> Result<Option<User>, ConnectorError> {
    let filter = format!(
        "username eq \"{}\"",
        username.replace('\\', "\\\\").replace('"', "\\\"")
    );
    let what = format!("looking up user {username}");
    let resp = api.get(&api.users_filtered(&filter), &what)?;
    let page: Page<User> = parse_page(&resp, "users", &what)?;
    Ok(page.items.into_iter().find(|u| {
        u.username
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(username))
    }))
}

pub fn delete_resource(cx: &Context, id: ResourceId) -> Result<DeleteResult, ConnectorError> {
    let settings = Settings::from_config(cx.config)?;
    let api = Api::new(cx.host, &settings);
    if id.resource_type != USER {
        return Err(ConnectorError::Unsupported(format!(
            "only users can be deleted, not {}",
            id.resource_type
        )));
    }
    let what = format!("deleting user {}", id.resource);
    let user = checked("user id", &id.resource)?;
    let gone = failure::delete(&api, &format!("{}/users/{user}", api.environment()), &what)?;
    Ok(if gone {
        DeleteResult::AlreadyGone
    } else {
        DeleteResult::Deleted
    })
}

/// A password PingOne's default policy accepts: upper, lower, digit and
/// special characters, `len` long. Randomness comes from the standard
/// library's randomly keyed SipHash (seeded from the platform's random
/// source), so no extra crate is needed.
pub fn random_password(len: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    const CLASSES: [&[u8]; 4] = [
        b"ABCDEFGHJKLMNPQRSTUVWXYZ",
        b"abcdefghijkmnopqrstuvwxyz",
        b"23456789",
        b"!#$%*+-=?@^_",
    ];
    let state = std::collections::hash_map::RandomState::new();
    let mut counter = 0u64;
    let mut next = |bound: usize| -> usize {
        counter += 1;
        let mut h = state.build_hasher();
        h.write_u64(counter);
        (h.finish() % bound as u64) as usize
    };
    let len = len.max(CLASSES.len());
    let all: Vec<u8> = CLASSES.concat();
    let mut out: Vec<u8> = CLASSES.iter().map(|c| c[next(c.len())]).collect();
    while out.len() < len {
        out.push(all[next(all.len())]);
    }
    // Shuffle so the class order is not fixed.
    for i in (1..out.len()).rev() {
        out.swap(i, next(i + 1));
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{self, ENV, grant_ids, host, ok, page, run, status, task, urls};
    use connector_sdk::{ConnectorError, SyncOp};
    use serde_json::{Value, json};

    fn user(v: Value) -> User {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn display_name_falls_back() {
        let full = json!({"id":"u","username":"emma","name":{"formatted":"Emma Sharp","given":"E","family":"S"}});
        assert_eq!(display_name(&user(full)), "Emma Sharp");
        let parts = json!({"id":"u","username":"emma","name":{"given":"Emma","family":"Sharp","formatted":"  "}});
        assert_eq!(display_name(&user(parts)), "Emma Sharp");
        let family = json!({"id":"u","username":"emma","name":{"family":"Sharp"}});
        assert_eq!(display_name(&user(family)), "Sharp");
        assert_eq!(
            display_name(&user(json!({"id":"u","username":"svc-ci"}))),
            "svc-ci"
        );
        assert_eq!(display_name(&user(json!({"id":"u"}))), "u");
    }

    #[test]
    fn maps_a_full_user() {
        let u = user(json!({
            "id": "u1", "username": "emma.sharp", "email": "emma@example.com",
            "name": {"formatted": "Emma Sharp", "given": "Emma", "middle": "J", "family": "Sharp",
                     "honorificPrefix": "Dr."},
            "population": {"id": "p1"}, "enabled": false,
            "account": {"canAuthenticate": false, "status": "LOCKED", "lockedAt": "2021-09-08T20:18:19.419Z"},
            "lifecycle": {"status": "VERIFICATION_REQUIRED"}, "externalId": "HR-1",
            "mfaEnabled": true, "lastSignOn": {"at": "2021-09-08T20:18:19.419Z"},
            "createdAt": "2021-09-03T18:04:03.916Z", "updatedAt": "2021-09-08T20:18:19.419Z",
            "_x_extra": {"shard": 3}
        }));
        let r = user_resource(&u);
        assert_eq!(r.id, resource_id(USER, "u1"));
        assert_eq!(r.display_name, "Emma Sharp");
        assert_eq!(r.status, ResourceStatus::Disabled);
        assert_eq!(r.created_at.map(|t| t.seconds), Some(1_630_692_243));
        let Some(ResourceTrait::User(t)) = r.trait_ else {
            panic!("user trait")
        };
        assert_eq!(t.login.as_deref(), Some("emma.sharp"));
        assert_eq!(
            t.emails,
            vec![Email {
                address: "emma@example.com".into(),
                is_primary: true
            }]
        );
        assert_eq!(t.status, UserStatus::Disabled);
        assert_eq!(t.account_type, AccountType::Human);
        assert_eq!(t.mfa_enabled, Some(true));
        assert!(t.last_login.is_some());
        let details = t.status_details.unwrap();
        assert!(
            details.contains("disabled")
                && details.contains("locked")
                && details.contains("VERIFICATION_REQUIRED"),
            "{details}"
        );
        let n = t.structured_name.unwrap();
        assert_eq!(
            (
                n.given_name.as_str(),
                n.family_name.as_str(),
                n.prefix.as_str()
            ),
            ("Emma", "Sharp", "Dr.")
        );
        assert_eq!(n.middle_names, vec!["J".to_string()]);
        let profile_json = t.profile_json.unwrap();
        let p: Value = serde_json::from_str(&profile_json).unwrap();
        // Keys in byte order, as earlier releases wrote them (a JSON map).
        assert_eq!(serde_json::to_string(&p).unwrap(), profile_json);
        assert_eq!(p["populationId"], "p1");
        assert_eq!(p["externalId"], "HR-1");
        assert_eq!(p["locked"], true);
        assert_eq!(p["accountStatus"], "LOCKED");
        assert_eq!(p["lifecycleStatus"], "VERIFICATION_REQUIRED");
    }

    #[test]
    fn maps_a_minimal_user() {
        let r = user_resource(&user(json!({"id": "u2", "username": "svc"})));
        assert_eq!(r.status, ResourceStatus::Enabled);
        let Some(ResourceTrait::User(t)) = r.trait_ else {
            panic!()
        };
        assert!(t.emails.is_empty() && t.structured_name.is_none() && t.status_details.is_none());
        assert_eq!(t.status, UserStatus::Enabled);
    }

    #[test]
    fn a_short_page_with_next_keeps_paging() {
        let a = urls();
        let next = format!(
            "{}/environments/{ENV}/users?limit=200&cursor=abc",
            testutil::API.to_string() + "/v1"
        );
        let h = host(vec![(
            a.users(),
            ok(page(
                "users",
                json!([{"id": "u1", "username": "a", "population": {"id": "p1"}}]),
                Some(&next),
            )),
        )]);
        let out = run(&h, task(SyncOp::ListResources, USER, None, None)).unwrap();
        assert_eq!(h.resources.borrow().len(), 1);
        let Some(Work::UsersPage { next: n, .. }) = out
            .next_page_token
            .as_deref()
            .map(|t| Work::decode(t).unwrap())
        else {
            panic!("paging goes on after a 1-item page: {out:?}")
        };
        assert_eq!(n, next);
        // The grants of the page are deferred to a follow-up.
        let [f] = out.follow_ups.as_slice() else {
            panic!()
        };
        assert_eq!((f.op, f.resource.is_none()), (SyncOp::ListGrants, true));
        let Work::UserBatch(b) = Work::decode(f.page_token.as_deref().unwrap()).unwrap() else {
            panic!()
        };
        assert_eq!(b.users, vec![("u1".to_string(), 0)]);
        assert_eq!(b.pops, vec!["p1".to_string()]);

        // Last page: no next, no token.
        let h = host(vec![(next.clone(), ok(page("users", json!([]), None)))]);
        let t = Work::UsersPage {
            next: next.clone(),
            empty: 0,
        }
        .encode();
        let out = run(&h, task(SyncOp::ListResources, USER, None, Some(t))).unwrap();
        assert!(out.next_page_token.is_none() && out.follow_ups.is_empty());
    }

    #[test]
    fn broken_pages_fail_naming_the_endpoint() {
        let h = host(vec![(urls().users(), ok(json!({"count": 3, "size": 3})))]);
        let e = run(&h, task(SyncOp::ListResources, USER, None, None)).unwrap_err();
        assert!(
            matches!(&e, ConnectorError::Internal(m) if m.contains("GET /users") && m.contains("_embedded")),
            "{e:?}"
        );
        assert!(
            h.resources.borrow().is_empty(),
            "nothing uploaded from a broken page"
        );
        // A next link pointing back at the same page is a loop.
        let h = host(vec![(
            urls().users(),
            ok(page("users", json!([{"id": "u"}]), Some(&urls().users()))),
        )]);
        let e = run(&h, task(SyncOp::ListResources, USER, None, None)).unwrap_err();
        assert!(e.message().contains("paging loop"), "{e:?}");
        let h = host(vec![(
            urls().users(),
            status(403, json!({"code": "ACCESS_FAILED", "message": "no"})),
        )]);
        assert!(matches!(
            run(&h, task(SyncOp::ListResources, USER, None, None)),
            Err(ConnectorError::PermissionDenied(_))
        ));
    }

    #[test]
    fn batch_emits_population_and_role_grants() {
        let a = urls();
        let batch = UserBatch {
            pops: vec!["p1".into()],
            users: vec![
                ("u1".into(), 0),
                ("u2".into(), NO_POPULATION),
                ("gone".into(), 0),
            ],
        };
        let h = host(vec![
            (
                a.user_role_assignments("u1"),
                ok(page(
                    "roleAssignments",
                    json!([
                        {"id": "ra1", "role": {"id": "r1"}, "scope": {"id": ENV, "type": "ENVIRONMENT"}, "readOnly": true},
                        {"id": "ra2", "role": {"id": "r2"}, "scope": {"id": "p9", "type": "POPULATION"}, "readOnly": false}
                    ]),
                    None,
                )),
            ),
            (
                a.user_role_assignments("u2"),
                ok(page("roleAssignments", json!([]), None)),
            ),
            (
                a.user_role_assignments("gone"),
                status(404, json!({"code": "NOT_FOUND", "message": "gone"})),
            ),
        ]);
        let t = Work::UserBatch(batch).encode();
        run(&h, task(SyncOp::ListGrants, USER, None, Some(t))).unwrap();
        assert_eq!(
            grant_ids(&h),
            vec![
                "population:p1:member:user:u1",
                "role:r1:assigned:user:u1",
                "role:r2:assigned:population:p9:user:u1",
            ]
        );
        let g = h.grants.borrow();
        assert_eq!(g[0].immutable_reason.as_deref(), Some(POPULATION_REASON));
        assert!(g[1].immutable_reason.is_some(), "read-only assignment");
        assert!(g[2].immutable_reason.is_none());
        let meta: Value = serde_json::from_str(g[2].metadata_json.as_deref().unwrap()).unwrap();
        assert_eq!(
            meta["assignments"][0],
            json!({"id": "ra2", "scopeType": "POPULATION", "scopeId": "p9", "readOnly": false})
        );
    }

    #[test]
    fn passwords_meet_the_default_policy() {
        let a = random_password(20);
        let b = random_password(20);
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
        for p in [&a, &b] {
            assert!(p.chars().any(|c| c.is_ascii_uppercase()));
            assert!(p.chars().any(|c| c.is_ascii_lowercase()));
            assert!(p.chars().any(|c| c.is_ascii_digit()));
            assert!(p.chars().any(|c| !c.is_ascii_alphanumeric()));
        }
        assert_eq!(random_password(2).len(), 4);
    }

    #[test]
    fn account_fields_come_from_the_profile() {
        let info = AccountInfo {
            login: "fallback".into(),
            emails: vec!["e@x.com".into()],
            profile_json: Some(
                r#"{"username":"emma","givenName":"Emma","enabled":"false","population_id":"p"}"#
                    .into(),
            ),
        };
        let a = new_account(&info).unwrap();
        assert_eq!(
            (
                a.username.as_str(),
                a.email.as_deref(),
                a.given.as_deref(),
                a.population.as_deref(),
                a.enabled
            ),
            ("emma", Some("e@x.com"), Some("Emma"), Some("p"), false)
        );
        let bad = AccountInfo {
            login: " ".into(),
            emails: vec![],
            profile_json: None,
        };
        assert!(new_account(&bad).is_err());
        let bad = AccountInfo {
            login: "x".into(),
            emails: vec![],
            profile_json: Some("[1]".into()),
        };
        assert!(new_account(&bad).is_err());
    }
}
