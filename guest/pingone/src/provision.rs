//! Provisioning: group membership and nesting, scoped admin role
//! assignments, account creation and deletion.
//!
//! Decisions:
//! - Idempotent like Baton connectors (baton.md §3.1): granting what is
//!   already held answers `already-exists` (PingOne says 400
//!   `UNIQUENESS_VIOLATION`, or 409), revoking what is gone answers
//!   `already-revoked` (PingOne says 404). A role "already held" includes a
//!   broader scope, which PingOne reports the same way. For the same reason
//!   membership and role-assignment POSTs are marked idempotent, so the host
//!   retries them after a 5xx or a lost response: a replay of an applied
//!   grant is refused as a duplicate, never applied twice. Creating a user
//!   is not (a replay would answer `already-exists` and lose the password).
//! - The entitlement slug names the scope of a role grant (see
//!   [`crate::roles`]): `assigned` is this environment,
//!   `assigned:population:<id>` that population, `assigned:organization`
//!   the environment's organization. `assigned:application` and
//!   `assigned:other-environment` do not name the application or
//!   environment, so they are not grantable here.
//! - A revoke reads the principal's current assignments (every page) and
//!   deletes those of the grant's role and scope rather than trusting the
//!   assignment ids in the stored grant, which may be stale (an assignment
//!   re-created since the sync has a new id). Read-only assignments and
//!   immutable grants (dynamic members, populations) are refused with the
//!   reason.
//! - Accounts: the login is the username; `no-password` creates the user as
//!   is, `random-password` creates it through PingOne's import media type
//!   with a generated password that must be changed at first sign-on. A
//!   taken username answers `already-exists` with the existing user.
//!   Deleting a user that is gone answers `already-gone`.
//! - Every id a request names (in its path or body) is checked as a
//!   PingOne id first ([`crate::ids`]): a hostile id such as
//!   `../groups/<gid>` is refused before anything is sent.

use connector_sdk::http::{Request, Response};
use connector_sdk::{
    AccountInfo, ConnectorError, Context, CreateAccountOutcome, CreateAccountResult,
    CredentialOption, DeleteResult, EntitlementRef, GrantRef, GrantResult, ResourceId,
    ResourceStatus, ResourceTrait, RevokeResult, UserStatus,
};
use serde_json::{Map, Value, json};

use crate::api::{Api, Page, parse_one, parse_page};
use crate::config::Settings;
use crate::errors;
use crate::ids::{checked, checked_answer};
use crate::model::{Environment, RoleAssignment, User};
use crate::{GROUP, POPULATION, ROLE, USER, roles, users};

const IMPORT_MEDIA_TYPE: &str = "application/vnd.pingidentity.user.import+json";

fn api_parts(cx: &Context) -> Result<Settings, ConnectorError> {
    Settings::from_config(cx.config)
}

/// Sends a write: only PingOne's documented propagation windows are
/// waited out, and a final 403 names the role the worker app lacks (see
/// [`crate::failure`]); 429 and 5xx are the host's to retry.
fn send(api: &Api, req: Request, what: &str) -> Result<Response, ConnectorError> {
    crate::failure::send_write(api, req, what)
}

/// PingOne's "it is already there": 409, or 400 with UNIQUENESS_VIOLATION.
fn is_duplicate(resp: &Response) -> bool {
    resp.status == 409 || (resp.status == 400 && errors::has_detail(resp, "UNIQUENESS_VIOLATION"))
}

fn env_url(api: &Api) -> String {
    api.environment()
}

pub fn grant(
    cx: &Context,
    entitlement: EntitlementRef,
    principal: ResourceId,
) -> Result<GrantResult, ConnectorError> {
    let settings = api_parts(cx)?;
    let api = Api::new(cx.host, &settings);
    let target = &entitlement.resource;
    match (target.resource_type.as_str(), entitlement.slug.as_str()) {
        (GROUP, "member") => {
            grant_membership(&api, checked("group id", &target.resource)?, &principal)
        }
        (ROLE, slug) => grant_role(&api, &entitlement, slug, &principal),
        (POPULATION, _) => Err(ConnectorError::Unsupported(
            "population membership is not provisionable: every user is in exactly one \
             population; move the user to another population in PingOne instead"
                .into(),
        )),
        (rt, slug) => Err(ConnectorError::InvalidArgument(format!(
            "entitlement {rt}:{}:{slug} is not grantable",
            target.resource
        ))),
    }
}

fn grant_membership(
    api: &Api,
    group: &str,
    principal: &ResourceId,
) -> Result<GrantResult, ConnectorError> {
    let (url, what) = match principal.resource_type.as_str() {
        USER => (
            format!(
                "{}/users/{}/memberOfGroups",
                env_url(api),
                checked("user id", &principal.resource)?
            ),
            format!("adding user {} to group {group}", principal.resource),
        ),
        GROUP => (
            format!(
                "{}/groups/{}/memberOfGroups",
                env_url(api),
                checked("group id", &principal.resource)?
            ),
            format!("nesting group {} in group {group}", principal.resource),
        ),
        other => {
            return Err(ConnectorError::InvalidArgument(format!(
                "only users and groups can be group members, not {other}"
            )));
        }
    };
    // Safe to repeat after a 5xx or a lost response: PingOne refuses a
    // duplicate membership, which answers `already-exists` (applied once).
    let req = Request::post(url)
        .json(&json!({ "id": group }))
        .idempotent(true);
    let resp = send(api, req, &what)?;
    if is_duplicate(&resp) {
        return Ok(GrantResult::AlreadyExists);
    }
    errors::check(&resp, &what)?;
    Ok(GrantResult::Granted)
}

/// (scope type, scope id) of a role entitlement slug.
fn scope_of(
    api: &Api,
    entitlement: &EntitlementRef,
    slug: &str,
) -> Result<(String, String), ConnectorError> {
    if slug == "assigned" {
        return Ok(("ENVIRONMENT".into(), api.env_id().to_string()));
    }
    if let Some(pop) = slug.strip_prefix("assigned:population:") {
        return Ok((
            "POPULATION".into(),
            checked("population id", pop)?.to_string(),
        ));
    }
    if slug == "assigned:organization" {
        let from_meta = entitlement
            .metadata_json
            .as_deref()
            .and_then(|m| serde_json::from_str::<Value>(m).ok())
            .and_then(|m| m["scopeId"].as_str().map(String::from));
        let org = match from_meta {
            Some(o) => checked(
                "organization id (scopeId of the entitlement's metadata)",
                &o,
            )?
            .to_string(),
            None => {
                let what = "reading the environment's organization (GET /environments/{env})";
                let env: Environment = parse_one(&api.get(&env_url(api), what)?, what)?;
                let org = env.organization.map(|o| o.id).ok_or_else(|| {
                    ConnectorError::Internal(format!(
                        "{what}: the environment names no organization"
                    ))
                })?;
                checked_answer("organization id", &org)?;
                org
            }
        };
        return Ok(("ORGANIZATION".into(), org));
    }
    Err(ConnectorError::InvalidArgument(format!(
        "{} does not name its scope ({slug}); assign that role in PingOne",
        entitlement.id
    )))
}

fn subject_url(api: &Api, principal: &ResourceId) -> Result<String, ConnectorError> {
    match principal.resource_type.as_str() {
        USER => Ok(format!(
            "{}/users/{}/roleAssignments",
            env_url(api),
            checked("user id", &principal.resource)?
        )),
        GROUP => Ok(format!(
            "{}/groups/{}/roleAssignments",
            env_url(api),
            checked("group id", &principal.resource)?
        )),
        other => Err(ConnectorError::InvalidArgument(format!(
            "roles are assigned to users and groups, not {other}"
        ))),
    }
}

fn grant_role(
    api: &Api,
    entitlement: &EntitlementRef,
    slug: &str,
    principal: &ResourceId,
) -> Result<GrantResult, ConnectorError> {
    let role = checked("role id", &entitlement.resource.resource)?;
    let url = subject_url(api, principal)?;
    let (kind, scope) = scope_of(api, entitlement, slug)?;
    let what = format!(
        "assigning role {role} at {kind} {scope} to {}:{}",
        principal.resource_type, principal.resource
    );
    let body = json!({ "role": { "id": role }, "scope": { "id": scope, "type": kind } });
    // Safe to repeat: a duplicate assignment is refused (`already-exists`).
    let resp = send(api, Request::post(url).json(&body).idempotent(true), &what)?;
    if is_duplicate(&resp) {
        return Ok(GrantResult::AlreadyExists);
    }
    errors::check(&resp, &what)?;
    Ok(GrantResult::Granted)
}

pub fn revoke(cx: &Context, grant: GrantRef) -> Result<RevokeResult, ConnectorError> {
    let settings = api_parts(cx)?;
    let api = Api::new(cx.host, &settings);
    let ent = &grant.entitlement;
    if let Some(reason) = &grant.immutable_reason {
        return Err(ConnectorError::InvalidArgument(format!(
            "grant {} cannot be revoked directly: {reason}",
            grant.id
        )));
    }
    let p = &grant.principal;
    match (ent.resource.resource_type.as_str(), ent.slug.as_str()) {
        (GROUP, "member") => {
            let group = checked("group id", &ent.resource.resource)?;
            let (url, what) = match p.resource_type.as_str() {
                USER => (
                    format!(
                        "{}/users/{}/memberOfGroups/{group}",
                        env_url(&api),
                        checked("user id", &p.resource)?
                    ),
                    format!("removing user {} from group {group}", p.resource),
                ),
                GROUP => (
                    format!(
                        "{}/groups/{}/memberOfGroups/{group}",
                        env_url(&api),
                        checked("group id", &p.resource)?
                    ),
                    format!("un-nesting group {} from group {group}", p.resource),
                ),
                other => {
                    return Err(ConnectorError::InvalidArgument(format!(
                        "no group membership of a {other}"
                    )));
                }
            };
            delete(&api, &url, &what).map(|gone| {
                if gone {
                    RevokeResult::AlreadyRevoked
                } else {
                    RevokeResult::Revoked
                }
            })
        }
        (ROLE, slug) => revoke_role(&api, checked("role id", &ent.resource.resource)?, slug, p),
        (POPULATION, _) => Err(ConnectorError::Unsupported(
            "population membership is not provisionable: every user is in exactly one \
             population; move the user to another population in PingOne instead"
                .into(),
        )),
        (rt, slug) => Err(ConnectorError::InvalidArgument(format!(
            "entitlement {rt}:{}:{slug} is not revocable",
            ent.resource.resource
        ))),
    }
}

/// DELETE; `Ok(true)` when it was already gone (404).
fn delete(api: &Api, url: &str, what: &str) -> Result<bool, ConnectorError> {
    let resp = send(api, Request::delete(url), what)?;
    if resp.status == 404 {
        return Ok(true);
    }
    errors::check(&resp, what)?;
    Ok(false)
}

fn revoke_role(
    api: &Api,
    role: &str,
    slug: &str,
    p: &ResourceId,
) -> Result<RevokeResult, ConnectorError> {
    let url = subject_url(api, p)?;
    let what = format!(
        "reading role assignments of {}:{}",
        p.resource_type, p.resource
    );
    // Every page: an assignment of this role and scope on a later page
    // would otherwise survive a revoke that answers `revoked`.
    let listing = api
        .list_all::<RoleAssignment>("roleAssignments", vec![(url.clone(), what)])
        .pop()
        .unwrap_or_else(|| Ok(Vec::new()));
    let assignments = match listing {
        Ok(all) => all,
        // The principal is gone, and its assignments with it.
        Err(e) if matches!(e.error, ConnectorError::NotFound(_)) => {
            return Ok(RevokeResult::AlreadyRevoked);
        }
        Err(e) => return Err(e.error),
    };
    let matching: Vec<&RoleAssignment> = assignments
        .iter()
        .filter(|a| {
            a.role.id == role && roles::scope_slug(a, api.env_id()).as_deref() == Some(slug)
        })
        .collect();
    if matching.is_empty() {
        return Ok(RevokeResult::AlreadyRevoked);
    }
    if let Some(ro) = matching.iter().find(|a| a.read_only.unwrap_or(false)) {
        return Err(ConnectorError::InvalidArgument(format!(
            "role assignment {} is read-only: PingOne manages it and refuses to delete it",
            ro.id
        )));
    }
    let mut revoked = false;
    for a in matching {
        let what = format!(
            "deleting role assignment {} of {}:{}",
            a.id, p.resource_type, p.resource
        );
        let id = checked_answer("role assignment id", &a.id)?;
        revoked |= !delete(api, &format!("{url}/{id}"), &what)?;
    }
    Ok(if revoked {
        RevokeResult::Revoked
    } else {
        RevokeResult::AlreadyRevoked
    })
}

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
    let settings = api_parts(cx)?;
    let api = Api::new(cx.host, &settings);
    let acct = new_account(&info)?;
    if let Some(p) = &acct.population {
        checked("population_id", p)?;
    }
    let mut body = json!({ "username": acct.username });
    if let Some(e) = &acct.email {
        body["email"] = json!(e);
    }
    if acct.given.is_some() || acct.family.is_some() {
        let mut name = Map::new();
        if let Some(g) = &acct.given {
            name.insert("given".into(), json!(g));
        }
        if let Some(f) = &acct.family {
            name.insert("family".into(), json!(f));
        }
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
    let url = format!("{}/users", env_url(&api));
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
    let resp = send(&api, req, &what)?;
    if is_duplicate(&resp) {
        let existing =
            find_user(&api, &acct.username)?.ok_or_else(|| errors::status_error(&resp, &what))?;
        return Ok(CreateAccountOutcome {
            status: CreateAccountResult::AlreadyExists,
            account: users::user_resource(&existing),
            one_time_password: None,
        });
    }
    errors::check(&resp, &what)?;
    let user: User = parse_one(&resp, &what)?;
    let mut account = users::user_resource(&user);
    if !acct.enabled {
        let what = format!("disabling user {}", user.id);
        let id = checked_answer("the new user's id", &user.id)?;
        let url = format!("{}/users/{id}/enabled", env_url(&api));
        let resp = send(
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
    let settings = api_parts(cx)?;
    let api = Api::new(cx.host, &settings);
    if id.resource_type != USER {
        return Err(ConnectorError::Unsupported(format!(
            "only users can be deleted, not {}",
            id.resource_type
        )));
    }
    let what = format!("deleting user {}", id.resource);
    let user = checked("user id", &id.resource)?;
    let gone = delete(&api, &format!("{}/users/{user}", env_url(&api)), &what)?;
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
    use crate::testutil::{API, ENV, config, host, ok, status};
    use connector_sdk::resource_id;

    const U: &str = "0f2c1e1a-0000-4000-8000-000000000001";
    const G: &str = "0f2c1e1a-0000-4000-8000-000000000002";
    const R: &str = "0f2c1e1a-0000-4000-8000-000000000003";
    const X: &str = "0f2c1e1a-0000-4000-8000-000000000004";
    const P1: &str = "0f2c1e1a-0000-4000-8000-000000000005";
    const ORG: &str = "0f2c1e1a-0000-4000-8000-000000000006";
    const A1: &str = "0f2c1e1a-0000-4000-8000-0000000000a1";
    const A2: &str = "0f2c1e1a-0000-4000-8000-0000000000a2";
    const A3: &str = "0f2c1e1a-0000-4000-8000-0000000000a3";

    fn ent(rt: &str, id: &str, slug: &str, meta: Option<Value>) -> EntitlementRef {
        EntitlementRef {
            id: format!("{rt}:{id}:{slug}"),
            resource: resource_id(rt, id),
            slug: slug.into(),
            metadata_json: meta.map(|m| m.to_string()),
        }
    }

    fn with<T>(h: &connector_sdk::testing::MockHost, f: impl FnOnce(&Context) -> T) -> T {
        let c = config();
        f(&Context {
            host: h,
            config: &c,
        })
    }

    #[test]
    fn duplicates_answer_already_exists() {
        let url = format!("{API}/v1/environments/{ENV}/users/{U}/memberOfGroups");
        let dup400 = json!({"code": "INVALID_DATA", "details": [{"code": "UNIQUENESS_VIOLATION", "target": "id"}]});
        for (resp, want) in [
            (status(201, json!({"id": G})), GrantResult::Granted),
            (status(400, dup400), GrantResult::AlreadyExists),
            (status(409, json!({})), GrantResult::AlreadyExists),
        ] {
            let h = host(vec![(url.clone(), resp)]);
            let got = with(&h, |cx| {
                grant(cx, ent(GROUP, G, "member", None), resource_id(USER, U))
            })
            .unwrap();
            assert_eq!(got, want);
            let r = &h.requests.borrow()[0];
            assert_eq!(
                r.body.as_deref(),
                Some(format!(r#"{{"id":"{G}"}}"#).as_bytes())
            );
            assert!(
                r.idempotent,
                "a replay is refused as a duplicate, so the host may retry a 5xx"
            );
        }
        let h = host(vec![(
            url,
            status(
                400,
                json!({"code": "INVALID_DATA", "details": [{"code": "CONSTRAINT_VIOLATION"}]}),
            ),
        )]);
        let e = with(&h, |cx| {
            grant(cx, ent(GROUP, G, "member", None), resource_id(USER, U))
        })
        .unwrap_err();
        assert!(matches!(e, ConnectorError::InvalidArgument(_)));
    }

    #[test]
    fn role_grants_carry_the_scope_of_their_slug() {
        let url = format!("{API}/v1/environments/{ENV}/groups/{G}/roleAssignments");
        let h = host(vec![(url, status(201, json!({"id": "ra"})))]);
        let meta = json!({"roleId": R, "scopeType": "ORGANIZATION", "scopeId": ORG});
        let got = with(&h, |cx| {
            grant(
                cx,
                ent(ROLE, R, "assigned:organization", Some(meta)),
                resource_id(GROUP, G),
            )
        });
        assert_eq!(got.unwrap(), GrantResult::Granted);
        let body: Value =
            serde_json::from_slice(h.requests.borrow()[0].body.as_deref().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"role": {"id": R}, "scope": {"id": ORG, "type": "ORGANIZATION"}})
        );
        let h = host(vec![]);
        let e = with(&h, |cx| {
            grant(
                cx,
                ent(ROLE, R, "assigned:application", None),
                resource_id(USER, U),
            )
        })
        .unwrap_err();
        assert!(matches!(e, ConnectorError::InvalidArgument(_)));
        let e = with(&h, |cx| {
            grant(
                cx,
                ent(POPULATION, "p", "member", None),
                resource_id(USER, U),
            )
        })
        .unwrap_err();
        assert!(matches!(e, ConnectorError::Unsupported(_)));
    }

    #[test]
    fn revoke_deletes_the_current_assignments_of_role_and_scope() {
        let base = format!("{API}/v1/environments/{ENV}/users/{U}/roleAssignments");
        let h = host(vec![
            (
                base.clone(),
                ok(json!({"_embedded": {"roleAssignments": [
                    {"id": A1, "role": {"id": R}, "scope": {"id": P1, "type": "POPULATION"}},
                    {"id": A2, "role": {"id": R}, "scope": {"id": ENV, "type": "ENVIRONMENT"}},
                    {"id": A3, "role": {"id": X}, "scope": {"id": P1, "type": "POPULATION"}}
                ]}})),
            ),
            (format!("{base}/{A1}"), status(204, json!(null))),
        ]);
        let g = GrantRef {
            id: "g".into(),
            entitlement: ent(ROLE, R, &format!("assigned:population:{P1}"), None),
            principal: resource_id(USER, U),
            metadata_json: Some(r#"{"assignments":[{"id":"stale"}]}"#.into()),
            immutable_reason: None,
        };
        assert_eq!(with(&h, |cx| revoke(cx, g)).unwrap(), RevokeResult::Revoked);
        let deleted: Vec<String> = h
            .requests
            .borrow()
            .iter()
            .filter(|r| matches!(r.method, connector_sdk::http::Method::Delete))
            .map(|r| r.url.clone())
            .collect();
        assert_eq!(deleted, [format!("{base}/{A1}")]);
    }

    /// Hostile ids in every place a provisioning call takes one: refused
    /// with an error naming the value, before any request (the host below
    /// fails the test on any request).
    #[test]
    fn hostile_ids_are_refused_before_any_request() {
        let h = host(vec![]);
        let hostile = format!("../groups/{G}");
        let names = |e: ConnectorError, what: &str| {
            assert!(
                matches!(&e, ConnectorError::InvalidArgument(m)
                    if m.starts_with(what) && m.contains(&format!("{hostile:?}"))),
                "{e:?}"
            );
        };
        let grant_ref = |ent: EntitlementRef, p: ResourceId| GrantRef {
            id: "g".into(),
            entitlement: ent,
            principal: p,
            metadata_json: None,
            immutable_reason: None,
        };
        let pop_slug = format!("assigned:population:{hostile}");
        let org_meta = json!({"scopeId": hostile});
        for (ent, p, what) in [
            (
                ent(GROUP, &hostile, "member", None),
                resource_id(USER, U),
                "group id",
            ),
            (
                ent(GROUP, G, "member", None),
                resource_id(USER, &hostile),
                "user id",
            ),
            (
                ent(GROUP, G, "member", None),
                resource_id(GROUP, &hostile),
                "group id",
            ),
            (
                ent(ROLE, &hostile, "assigned", None),
                resource_id(USER, U),
                "role id",
            ),
            (
                ent(ROLE, R, "assigned", None),
                resource_id(USER, &hostile),
                "user id",
            ),
            (
                ent(ROLE, R, "assigned", None),
                resource_id(GROUP, &hostile),
                "group id",
            ),
            (
                ent(ROLE, R, &pop_slug, None),
                resource_id(USER, U),
                "population id",
            ),
            (
                ent(ROLE, R, "assigned:organization", Some(org_meta.clone())),
                resource_id(USER, U),
                "organization id",
            ),
        ] {
            names(
                with(&h, |cx| grant(cx, ent.clone(), p.clone())).unwrap_err(),
                what,
            );
            // The population and organization of a revoke only select
            // among the principal's assignments: they name no request.
            if !matches!(what, "population id" | "organization id") {
                names(
                    with(&h, |cx| revoke(cx, grant_ref(ent, p))).unwrap_err(),
                    what,
                );
            }
        }
        names(
            with(&h, |cx| delete_resource(cx, resource_id(USER, &hostile))).unwrap_err(),
            "user id",
        );
        let info = AccountInfo {
            login: "emma".into(),
            emails: vec![],
            profile_json: Some(json!({"population_id": hostile}).to_string()),
        };
        names(
            with(&h, |cx| {
                create_account(cx, info, CredentialOption::NoPassword)
            })
            .unwrap_err(),
            "population_id",
        );
        assert!(h.requests.borrow().is_empty());
    }

    /// An id PingOne answers is checked before it goes into a path too.
    #[test]
    fn a_malformed_assignment_id_from_pingone_is_not_followed() {
        let base = format!("{API}/v1/environments/{ENV}/users/{U}/roleAssignments");
        let h = host(vec![(
            base.clone(),
            ok(json!({"_embedded": {"roleAssignments": [
                {"id": "../../groups/x", "role": {"id": R}, "scope": {"id": ENV, "type": "ENVIRONMENT"}}
            ]}})),
        )]);
        let g = GrantRef {
            id: "g".into(),
            entitlement: ent(ROLE, R, "assigned", None),
            principal: resource_id(USER, U),
            metadata_json: None,
            immutable_reason: None,
        };
        let e = with(&h, |cx| revoke(cx, g)).unwrap_err();
        assert!(
            matches!(&e, ConnectorError::Internal(m) if m.contains("../../groups/x")),
            "{e:?}"
        );
        assert_eq!(h.requests.borrow().len(), 1, "only the listing was sent");
    }

    /// Every page of the principal's assignments is read: a matching
    /// assignment on the second page is revoked too.
    #[test]
    fn revoke_reads_every_page_of_assignments() {
        let base = format!("{API}/v1/environments/{ENV}/users/{U}/roleAssignments");
        let first = base.clone();
        let second = format!("{first}?cursor=2");
        let h = host(vec![
            (
                first,
                ok(crate::testutil::page(
                    "roleAssignments",
                    json!([{"id": A1, "role": {"id": X}, "scope": {"id": ENV, "type": "ENVIRONMENT"}}]),
                    Some(&second),
                )),
            ),
            (
                second,
                ok(crate::testutil::page(
                    "roleAssignments",
                    json!([{"id": A2, "role": {"id": R}, "scope": {"id": ENV, "type": "ENVIRONMENT"}}]),
                    None,
                )),
            ),
            (format!("{base}/{A2}"), status(204, json!(null))),
        ]);
        let g = GrantRef {
            id: "g".into(),
            entitlement: ent(ROLE, R, "assigned", None),
            principal: resource_id(USER, U),
            metadata_json: None,
            immutable_reason: None,
        };
        assert_eq!(with(&h, |cx| revoke(cx, g)).unwrap(), RevokeResult::Revoked);
        assert_eq!(
            h.requests.borrow().last().unwrap().url,
            format!("{base}/{A2}")
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
