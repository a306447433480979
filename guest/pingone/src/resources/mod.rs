//! The resource types, one module each with its listing, entitlements,
//! grants and what can be provisioned: [`users`], [`groups`],
//! [`populations`], [`roles`]. This module routes grants and revokes to
//! the resource type of the entitlement.
//!
//! Provisioning decisions:
//! - Idempotent like Baton connectors (baton.md §3.1): granting what is
//!   already held answers `already-exists` (PingOne says 400
//!   `UNIQUENESS_VIOLATION`, or 409), revoking what is gone answers
//!   `already-revoked` (PingOne says 404). A role "already held" includes a
//!   broader scope, which PingOne reports the same way. For the same reason
//!   membership and role-assignment POSTs are marked idempotent, so the host
//!   retries them after a 5xx or a lost response: a replay of an applied
//!   grant is refused as a duplicate, never applied twice. Creating a user
//!   is not (a replay would answer `already-exists` and lose the password).
//! - The entitlement slug names the scope of a role grant ([`roles`]);
//!   the slugs that do not name their scope are not grantable.
//! - A revoke reads the principal's current assignments (every page) and
//!   deletes those of the grant's role and scope rather than trusting the
//!   assignment ids in the stored grant, which may be stale (an assignment
//!   re-created since the sync has a new id). Read-only assignments and
//!   immutable grants (dynamic members, populations) are refused with the
//!   reason.
//! - Every id a request names (in its path or body) is checked as a
//!   PingOne id first ([`crate::client::ids`]): a hostile id such as
//!   `../groups/<gid>` is refused before anything is sent.

pub mod get;
pub mod groups;
pub mod populations;
pub mod roles;
pub mod users;

use connector_sdk::{
    ConnectorError, Context, Entitlement, EntitlementPurpose, EntitlementRef, GrantRef,
    GrantResult, PageOutcome, Resource, ResourceId, ResourceStatus, ResourceTrait, RevokeResult,
    SyncTask, resource_id,
};

use crate::client::api::Api;
use crate::client::ids::checked;
use crate::config::Settings;
use crate::upload::Out;
use crate::{GROUP, POPULATION, ROLE, USER};

/// Uploads what a call put in `out` and answers its outcome.
pub fn finish(
    cx: &Context,
    out: Out,
    next_page_token: Option<String>,
    follow_ups: Vec<SyncTask>,
) -> Result<PageOutcome, ConnectorError> {
    out.flush(cx)?;
    Ok(PageOutcome {
        next_page_token,
        follow_ups,
    })
}

/// The `member` entitlement of a group or a population.
pub fn member(
    resource: &ResourceId,
    description: &str,
    grantable_to: &[&str],
    immutable: bool,
) -> Entitlement {
    Entitlement {
        resource: resource.clone(),
        slug: "member".into(),
        display_name: "Member".into(),
        description: Some(description.into()),
        purpose: EntitlementPurpose::Assignment,
        grantable_to: grantable_to.iter().map(|t| t.to_string()).collect(),
        immutable,
        metadata_json: None,
    }
}

/// The text when it is not blank.
pub fn non_blank(text: &Option<String>) -> Option<String> {
    text.clone().filter(|t| !t.trim().is_empty())
}

/// A group, population or role resource: PingOne's id is the external id,
/// a blank name shows the id, a blank description none.
pub fn named_resource(
    resource_type: &str,
    id: &str,
    name: &Option<String>,
    description: &Option<String>,
    created_at: Option<&str>,
    trait_: ResourceTrait,
) -> Resource {
    Resource {
        id: resource_id(resource_type, id),
        parent: None,
        display_name: non_blank(name).unwrap_or_else(|| id.to_string()),
        description: non_blank(description),
        external_id: Some(id.to_string()),
        status: ResourceStatus::Unspecified,
        created_at: created_at.and_then(crate::time::parse),
        trait_: Some(trait_),
    }
}

/// `{environment}/users/{id}{rest}` or `{environment}/groups/{id}{rest}` for
/// a user or group principal, its id checked; `None` for another type.
pub fn principal_url(
    api: &Api,
    principal: &ResourceId,
    rest: &str,
) -> Result<Option<String>, ConnectorError> {
    let (path, what) = match principal.resource_type.as_str() {
        USER => ("users", "user id"),
        GROUP => ("groups", "group id"),
        _ => return Ok(None),
    };
    let id = checked(what, &principal.resource)?;
    Ok(Some(format!("{}/{path}/{id}{rest}", api.environment())))
}

/// Grants an entitlement through the module of its resource type.
pub fn grant(
    cx: &Context,
    entitlement: EntitlementRef,
    principal: ResourceId,
) -> Result<GrantResult, ConnectorError> {
    let settings = Settings::from_config(cx.config)?;
    let api = Api::new(cx.host, &settings);
    let target = &entitlement.resource;
    match (target.resource_type.as_str(), entitlement.slug.as_str()) {
        (GROUP, "member") => {
            groups::grant_member(&api, checked("group id", &target.resource)?, &principal)
        }
        (ROLE, slug) => roles::grant(&api, &entitlement, slug, &principal),
        (POPULATION, _) => Err(populations::not_provisionable()),
        (rt, slug) => Err(ConnectorError::InvalidArgument(format!(
            "entitlement {rt}:{}:{slug} is not grantable",
            target.resource
        ))),
    }
}

/// Revokes a grant through the module of its entitlement's resource type;
/// an immutable grant is refused with its reason.
pub fn revoke(cx: &Context, grant: GrantRef) -> Result<RevokeResult, ConnectorError> {
    let settings = Settings::from_config(cx.config)?;
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
            groups::revoke_member(&api, checked("group id", &ent.resource.resource)?, p)
        }
        (ROLE, slug) => roles::revoke(&api, checked("role id", &ent.resource.resource)?, slug, p),
        (POPULATION, _) => Err(populations::not_provisionable()),
        (rt, slug) => Err(ConnectorError::InvalidArgument(format!(
            "entitlement {rt}:{}:{slug} is not revocable",
            ent.resource.resource
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::USER;
    use crate::resources::users::{create_account, delete_resource};
    use crate::testutil::*;
    use connector_sdk::{AccountInfo, CredentialOption, resource_id};
    use serde_json::json;

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
}
