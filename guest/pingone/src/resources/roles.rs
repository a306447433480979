//! Admin roles and their assignments, with the scope kept in the ID.
//!
//! Decisions:
//! - Each kind of role is read from its documented endpoint, both in one
//!   batch: the platform (built-in) roles from `GET /v1/roles` (organization
//!   level, no environment in the path), the environment's custom roles from
//!   `GET /environments/{env}/roles?filter=type eq "CUSTOM"`. Whether the
//!   environment listing also shows platform roles is not something the
//!   connector relies on: the filter keeps custom roles only, and a role
//!   seen on both is listed once.
//! - A PingOne role assignment is a role *at a scope*, and one principal can
//!   hold the same role at several scopes. The scope is therefore part of
//!   the entitlement, so that every (role, scope) pair is its own grantable,
//!   revocable Baton entitlement:
//!   - `role:<rid>:assigned`: ENVIRONMENT scope, this environment;
//!   - `role:<rid>:assigned:population:<popId>`: POPULATION scope, one
//!     entitlement per population of the environment;
//!   - `role:<rid>:assigned:organization`: ORGANIZATION scope;
//!   - `role:<rid>:assigned:application`: APPLICATION scope (the
//!     application id is in the grant's metadata);
//!   - `role:<rid>:assigned:other-environment`: ENVIRONMENT scope on another
//!     environment (its id is in the grant's metadata).
//! - Entitlements are declared from the role's `applicableTo` before any
//!   assignment is read (the host stores entitlements before grants).
//! - Every role grant carries `metadata-json`
//!   `{"assignments":[{"id","scopeType","scopeId","readOnly"}]}`: what a
//!   revoke needs. Two assignments that map to one grant (one role on two
//!   applications) share it and both are listed. Read-only assignments are
//!   immutable (PingOne refuses to delete them). Group assignments are
//!   grants to the group with `GrantExpandable` over `group:<gid>:member`.
//! - The role listing also reads the populations (one request) and hands
//!   the scoped entitlements to follow-up `list-entitlements` tasks; the
//!   host's per-role tasks have nothing left to do.
//! - Provisioning assigns a role at the scope its slug names and revokes
//!   every current assignment of that role and scope (see
//!   [`crate::resources`]).

use connector_sdk::http::Request;
use connector_sdk::{
    ConnectorError, Context, Entitlement, EntitlementPurpose, EntitlementRef, GrantExpansion,
    GrantResult, Level, PageOutcome, Resource, ResourceId, ResourceTrait, RevokeResult, RoleTrait,
    SkipTasks, SyncOp, resource_id,
};
use serde_json::{Value, json};

use crate::client::api::Api;
use crate::client::errors;
use crate::client::failure::{self, send_write};
use crate::client::ids::{checked, checked_answer};
use crate::client::model::{Environment, Population, Role, RoleAssignment};
use crate::client::paging::parse_one;
use crate::membership::plan::grants_task;
use crate::resources::{finish, named_resource, non_blank, principal_url};
use crate::tokens::{RoleEntitlements, RoleSpec, Work};
use crate::upload::Out;
use crate::{GROUP, ROLE, USER};

pub const SCOPE_TYPES: &[&str] = &["ENVIRONMENT", "POPULATION", "ORGANIZATION", "APPLICATION"];

/// Roles per follow-up entitlements task, and populations per task.
const ROLES_PER_TASK: usize = 50;
const POPS_PER_TASK: usize = 400;

pub const READ_ONLY_REASON: &str =
    "read-only role assignment: PingOne manages it and refuses to delete it";

/// The entitlement slug of an assignment's scope; `None` for a scope type
/// this connector does not know (logged and skipped by the caller).
pub fn scope_slug(a: &RoleAssignment, env_id: &str) -> Option<String> {
    let kind = a.scope.kind.as_deref()?.to_ascii_uppercase();
    let id = a.scope.id.as_deref().unwrap_or("");
    Some(match kind.as_str() {
        "ENVIRONMENT" if id.eq_ignore_ascii_case(env_id) => "assigned".to_string(),
        "ENVIRONMENT" => "assigned:other-environment".to_string(),
        "POPULATION" if !id.is_empty() => format!("assigned:population:{id}"),
        "ORGANIZATION" => "assigned:organization".to_string(),
        "APPLICATION" => "assigned:application".to_string(),
        _ => return None,
    })
}

/// Grants for one principal's assignments: one grant per (role, scope
/// slug), listing every assignment behind it.
pub fn push_assignment_grants(
    cx: &Context,
    out: &mut Out,
    principal: &ResourceId,
    assignments: &[RoleAssignment],
    expansion: Option<GrantExpansion>,
    env_id: &str,
) {
    // (role, slug) → assignments, in first-seen order.
    let mut merged: Vec<((String, String), Vec<&RoleAssignment>)> = Vec::new();
    for a in assignments {
        let Some(slug) = scope_slug(a, env_id) else {
            cx.log(
                Level::Warn,
                format!(
                    "skipped role assignment {} of {}:{}: unknown scope {:?}",
                    a.id, principal.resource_type, principal.resource, a.scope.kind
                ),
            );
            continue;
        };
        let key = (a.role.id.clone(), slug);
        match merged.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(a),
            None => merged.push((key, vec![a])),
        }
    }
    for ((role, slug), list) in merged {
        let read_only = list.iter().all(|a| a.read_only.unwrap_or(false));
        let meta: Vec<Value> = list
            .iter()
            .map(|a| {
                json!({
                    "id": a.id,
                    "scopeType": a.scope.kind,
                    "scopeId": a.scope.id,
                    "readOnly": a.read_only.unwrap_or(false),
                })
            })
            .collect();
        out.grant(
            resource_id(ROLE, &role),
            slug,
            principal.clone(),
            expansion.clone(),
            read_only.then(|| READ_ONLY_REASON.to_string()),
            Some(json!({ "assignments": meta }).to_string()),
        );
    }
}

/// The role resources, in one call (roles and populations are few).
pub fn list(cx: &Context, api: &Api) -> Result<PageOutcome, ConnectorError> {
    let roles = read_roles(api)?;
    let pops: Vec<Population> = api
        .list_one(
            "populations",
            api.populations(),
            "listing populations for role scopes (GET /populations)",
        )
        .map_err(|e| e.error)?;
    // Role entitlements come from the follow-ups below (they need the
    // scopes), role grants from the users' and groups' tasks: the host asks
    // neither task per role.
    let mut out = Out::new();
    out.skip = SkipTasks::BOTH;
    for r in &roles {
        out.listed(role_resource(r), []);
    }
    let specs: Vec<RoleSpec> = roles
        .iter()
        .map(|r| RoleSpec {
            id: r.id.clone(),
            name: role_name(r),
            scopes: applicable_scopes(r),
        })
        .collect();
    let pops: Vec<(String, String)> = pops
        .into_iter()
        .map(|p| {
            let name = p.name.clone().unwrap_or_else(|| p.id.clone());
            (p.id, name)
        })
        .collect();
    let mut follow_ups = Vec::new();
    for roles in specs.chunks(ROLES_PER_TASK) {
        let needs_pops = roles
            .iter()
            .any(|r| r.scopes.iter().any(|s| s == "POPULATION"));
        let pop_chunks: Vec<&[(String, String)]> = if needs_pops && !pops.is_empty() {
            pops.chunks(POPS_PER_TASK).collect()
        } else {
            vec![&[]]
        };
        for (i, chunk) in pop_chunks.into_iter().enumerate() {
            let work = Work::RoleEntitlements(RoleEntitlements {
                base: i == 0,
                pops: chunk.to_vec(),
                roles: roles.to_vec(),
            });
            let mut task = grants_task(ROLE, work.encode());
            task.op = SyncOp::ListEntitlements;
            follow_ups.push(task);
        }
    }
    finish(cx, out, None, follow_ups)
}

/// Platform roles, then custom roles, each from its own endpoint (one
/// batch), every page of both.
fn read_roles(api: &Api) -> Result<Vec<Role>, ConnectorError> {
    let jobs = vec![
        (
            api.builtin_roles(),
            "listing platform roles (GET /roles)".to_string(),
        ),
        (
            api.custom_roles(),
            "listing custom roles (GET /environments/{env}/roles?filter=type eq \"CUSTOM\")"
                .to_string(),
        ),
    ];
    let mut roles: Vec<Role> = Vec::new();
    for listing in api.list_all::<Role>("roles", jobs) {
        for r in listing.map_err(|e| e.error)? {
            if !roles.iter().any(|x| x.id == r.id) {
                roles.push(r);
            }
        }
    }
    Ok(roles)
}

fn role_name(r: &Role) -> String {
    non_blank(&r.name).unwrap_or_else(|| r.id.clone())
}

/// `applicableTo`, upper-cased; every scope type when PingOne omits it.
pub fn applicable_scopes(r: &Role) -> Vec<String> {
    let mut s: Vec<String> = r
        .applicable_to
        .iter()
        .flatten()
        .map(|s| s.to_ascii_uppercase())
        .filter(|s| SCOPE_TYPES.contains(&s.as_str()))
        .collect();
    if s.is_empty() {
        s = SCOPE_TYPES.iter().map(|s| s.to_string()).collect();
    }
    s.dedup();
    s
}

pub fn role_resource(r: &Role) -> Resource {
    let profile = json!({
        "roleId": r.id,
        "type": r.kind.clone().unwrap_or_else(|| "PLATFORM".into()),
        "applicableTo": applicable_scopes(r),
        "permissionCount": r.permissions.as_ref().map(|p| p.len()),
    });
    named_resource(
        ROLE,
        &r.id,
        &r.name,
        &r.description,
        None,
        ResourceTrait::Role(RoleTrait {
            profile_json: Some(profile.to_string()),
        }),
    )
}

/// The entitlements of a role's scopes other than populations: (scope
/// type, slug, name label, what it is scoped to, immutable). The immutable
/// ones do not name their scope, so they are not grantable.
const BASE_ENTITLEMENTS: [(&str, &str, &str, &str, bool); 4] = [
    (
        "ENVIRONMENT",
        "assigned",
        "this environment",
        "this environment",
        false,
    ),
    (
        "ENVIRONMENT",
        "assigned:other-environment",
        "other environments",
        "another environment; the grant's metadata names it",
        true,
    ),
    (
        "ORGANIZATION",
        "assigned:organization",
        "organization",
        "the organization",
        false,
    ),
    (
        "APPLICATION",
        "assigned:application",
        "applications",
        "an application; the grant's metadata names it",
        true,
    ),
];

/// The scoped entitlements of a set of roles.
pub fn entitlements(cx: &Context, work: RoleEntitlements) -> Result<PageOutcome, ConnectorError> {
    let mut out = Out::new();
    let grantable = vec![USER.to_string(), GROUP.to_string()];
    let env_id = cx.config.get(crate::config::ENVIRONMENT_ID).unwrap_or("");
    for r in &work.roles {
        let rid = resource_id(ROLE, &r.id);
        let mut ent = |slug: String, name: String, desc: String, immutable: bool, meta: Value| {
            out.entitlements.push(Entitlement {
                resource: rid.clone(),
                slug,
                display_name: name,
                description: Some(desc),
                purpose: EntitlementPurpose::Assignment,
                grantable_to: grantable.clone(),
                immutable,
                metadata_json: Some(meta.to_string()),
            });
        };
        let has = |s: &str| r.scopes.iter().any(|x| x == s);
        for (scope, slug, label, scoped_to, immutable) in BASE_ENTITLEMENTS {
            if !work.base || !has(scope) {
                continue;
            }
            let mut meta = json!({ "roleId": r.id, "scopeType": scope });
            if slug == "assigned" {
                meta["scopeId"] = json!(env_id);
            }
            ent(
                slug.into(),
                format!("{} ({label})", r.name),
                format!("Holds the {} role scoped to {scoped_to}", r.name),
                immutable,
                meta,
            );
        }
        if has("POPULATION") {
            for (pid, pname) in &work.pops {
                ent(
                    format!("assigned:population:{pid}"),
                    format!("{} (population {pname})", r.name),
                    format!("Holds the {} role scoped to the population {pname}", r.name),
                    false,
                    json!({ "roleId": r.id, "scopeType": "POPULATION", "scopeId": pid }),
                );
            }
        }
    }
    finish(cx, out, None, Vec::new())
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
                let env: Environment = parse_one(&api.get(&api.environment(), what)?, what)?;
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
    principal_url(api, principal, "/roleAssignments")?.ok_or_else(|| {
        ConnectorError::InvalidArgument(format!(
            "roles are assigned to users and groups, not {}",
            principal.resource_type
        ))
    })
}

/// Assigns the role at the scope its entitlement names.
pub fn grant(
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
    let resp = send_write(api, Request::post(url).json(&body).idempotent(true), &what)?;
    if errors::is_duplicate(&resp) {
        return Ok(GrantResult::AlreadyExists);
    }
    errors::check(&resp, &what)?;
    Ok(GrantResult::Granted)
}

/// Deletes the principal's current assignments of the role at the scope
/// the slug names.
pub fn revoke(
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
    let assignments = match api.list_one::<RoleAssignment>("roleAssignments", url.clone(), &what) {
        Ok(all) => all,
        // The principal is gone, and its assignments with it.
        Err(e) if matches!(e.error, ConnectorError::NotFound(_)) => {
            return Ok(RevokeResult::AlreadyRevoked);
        }
        Err(e) => return Err(e.error),
    };
    let matching: Vec<&RoleAssignment> = assignments
        .iter()
        .filter(|a| a.role.id == role && scope_slug(a, api.env_id()).as_deref() == Some(slug))
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
        revoked |= !failure::delete(api, &format!("{url}/{id}"), &what)?;
    }
    Ok(if revoked {
        RevokeResult::Revoked
    } else {
        RevokeResult::AlreadyRevoked
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::POPULATION;
    use crate::resources::{grant, revoke};
    use crate::testutil::*;
    use connector_sdk::{GrantRef, SyncOp};
    use serde_json::json;

    fn ra(id: &str, role: &str, kind: &str, scope: &str, read_only: bool) -> RoleAssignment {
        serde_json::from_value(json!({"id": id, "role": {"id": role}, "scope": {"id": scope, "type": kind}, "readOnly": read_only})).unwrap()
    }

    #[test]
    fn every_scope_has_its_slug() {
        let slug = |kind, id| scope_slug(&ra("a", "r", kind, id, false), ENV);
        assert_eq!(slug("ENVIRONMENT", ENV).as_deref(), Some("assigned"));
        assert_eq!(
            slug("ENVIRONMENT", "other-env").as_deref(),
            Some("assigned:other-environment")
        );
        assert_eq!(
            slug("POPULATION", "p1").as_deref(),
            Some("assigned:population:p1")
        );
        assert_eq!(
            slug("ORGANIZATION", "o").as_deref(),
            Some("assigned:organization")
        );
        assert_eq!(
            slug("APPLICATION", "app").as_deref(),
            Some("assigned:application")
        );
        assert_eq!(slug("GATEWAY", "x"), None);
    }

    #[test]
    fn assignments_on_one_scope_share_a_grant_and_keep_their_ids() {
        let h = host(vec![]);
        let config = crate::testutil::config();
        let cx = Context {
            host: &h,
            config: &config,
        };
        let mut out = Out::new();
        let principal = resource_id(USER, "u");
        let list = vec![
            ra("a1", "r", "APPLICATION", "app1", true),
            ra("a2", "r", "APPLICATION", "app2", false),
            ra("a3", "r", "ENVIRONMENT", ENV, true),
            ra("a4", "r", "GATEWAY", "gw", false),
        ];
        push_assignment_grants(&cx, &mut out, &principal, &list, None, ENV);
        assert_eq!(out.grants.len(), 2);
        let app = &out.grants[0];
        assert_eq!(app.entitlement_slug, "assigned:application");
        assert!(
            app.immutable_reason.is_none(),
            "one of the two can be deleted"
        );
        let meta: Value = serde_json::from_str(app.metadata_json.as_deref().unwrap()).unwrap();
        assert_eq!(meta["assignments"].as_array().unwrap().len(), 2);
        assert_eq!(meta["assignments"][1]["scopeId"], "app2");
        assert_eq!(
            out.grants[1].immutable_reason.as_deref(),
            Some(READ_ONLY_REASON)
        );
        assert!(
            h.logs
                .borrow()
                .iter()
                .any(|(l, m)| *l == Level::Warn && m.contains("a4"))
        );
    }

    #[test]
    fn listing_reads_roles_and_populations_and_defers_entitlements() {
        let a = urls();
        let h = host(vec![
            (
                a.builtin_roles(),
                ok(page(
                    "roles",
                    json!([
                        {"id": "r1", "name": "Identity Data Admin", "applicableTo": ["ENVIRONMENT", "POPULATION"], "permissions": [{"id": "x"}]}
                    ]),
                    None,
                )),
            ),
            (
                a.custom_roles(),
                ok(page(
                    "roles",
                    json!([
                        {"id": "r2", "name": "Auditor", "applicableTo": ["ENVIRONMENT"], "type": "CUSTOM"}
                    ]),
                    None,
                )),
            ),
            (
                a.populations(),
                ok(page(
                    "populations",
                    json!([{"id": "p1", "name": "Staff"}, {"id": "p2"}]),
                    None,
                )),
            ),
        ]);
        let out = run(&h, task(SyncOp::ListResources, ROLE, None, None)).unwrap();
        let r = h.resources.borrow();
        assert_eq!(r.len(), 2);
        let Some(ResourceTrait::Role(t)) = &r[0].trait_ else {
            panic!()
        };
        let p: Value = serde_json::from_str(t.profile_json.as_deref().unwrap()).unwrap();
        assert_eq!(
            (p["permissionCount"].as_u64(), p["type"].as_str()),
            (Some(1), Some("PLATFORM"))
        );
        let [f] = out.follow_ups.as_slice() else {
            panic!()
        };
        assert_eq!(f.op, SyncOp::ListEntitlements);

        let h2 = host(vec![]);
        run(&h2, f.clone()).unwrap();
        let ids: Vec<String> = h2
            .entitlements
            .borrow()
            .iter()
            .map(|e| format!("{}:{}", e.resource.resource, e.slug))
            .collect();
        assert_eq!(
            ids,
            [
                "r1:assigned",
                "r1:assigned:other-environment",
                "r1:assigned:population:p1",
                "r1:assigned:population:p2",
                "r2:assigned",
                "r2:assigned:other-environment"
            ]
        );
        let e = &h2.entitlements.borrow()[2];
        assert_eq!(e.display_name, "Identity Data Admin (population Staff)");
        assert_eq!(e.grantable_to, [USER, GROUP]);
    }

    /// Platform roles from `/roles`, custom ones from the environment's
    /// filtered listing, every page of each; a role both list is kept once.
    #[test]
    fn each_kind_of_role_comes_from_its_own_endpoint() {
        let a = urls();
        let custom2 = format!("{}&cursor=2", a.custom_roles());
        let h = host(vec![
            (
                a.builtin_roles(),
                ok(page(
                    "roles",
                    json!([{"id": "b", "name": "Environment Admin", "applicableTo": ["ORGANIZATION"]}]),
                    None,
                )),
            ),
            (
                a.custom_roles(),
                ok(page(
                    "roles",
                    json!([{"id": "c", "name": "Auditor", "type": "CUSTOM"}]),
                    Some(&custom2),
                )),
            ),
            (
                custom2.clone(),
                ok(page(
                    "roles",
                    json!([{"id": "d", "name": "Helper", "type": "CUSTOM"}, {"id": "b", "type": "PLATFORM"}]),
                    None,
                )),
            ),
            (a.populations(), ok(page("populations", json!([]), None))),
        ]);
        run(&h, task(SyncOp::ListResources, ROLE, None, None)).unwrap();
        let ids: Vec<String> = h
            .resources
            .borrow()
            .iter()
            .map(|r| r.id.resource.clone())
            .collect();
        assert_eq!(ids, ["b", "c", "d"]);
        assert!(a.custom_roles().contains("filter=type%20eq%20%22CUSTOM%22"));
    }

    #[test]
    fn a_role_without_applicable_to_gets_every_scope() {
        let r: Role = serde_json::from_value(json!({"id": "r"})).unwrap();
        assert_eq!(applicable_scopes(&r), SCOPE_TYPES);
        let r: Role =
            serde_json::from_value(json!({"id": "r", "applicableTo": ["population", "NOPE"]}))
                .unwrap();
        assert_eq!(applicable_scopes(&r), ["POPULATION"]);
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
}
