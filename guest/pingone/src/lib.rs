//! The PingOne connector: users, groups, populations and admin roles of one
//! PingOne environment, synced as Baton records through the host.
//!
//! Data model (Baton IDs):
//! - resources `user:<id>` (USER trait), `group:<id>` (GROUP), `population:<id>`
//!   (GROUP), `role:<id>` (ROLE: platform and custom admin roles);
//! - entitlements `group:<id>:member`, `population:<id>:member`, and per role
//!   one per scope: `role:<id>:assigned` (this environment),
//!   `role:<id>:assigned:population:<popId>`, `role:<id>:assigned:organization`,
//!   `role:<id>:assigned:application`, `role:<id>:assigned:other-environment`
//!   (see [`roles`]);
//! - grants: direct group members, nested groups (expandable), dynamic group
//!   members (immutable), population members (immutable), role assignments
//!   of users and of groups (expandable).
//!
//! Request plan (see the README for the cost formula): list users, groups,
//! populations and roles; read each user's role assignments in batches of a
//! users page; read each group's parents (with the group listing) and role
//! assignments; list each group's members only where that says who is a
//! direct member, and settle the rest with set algebra and per-user checks
//! ([`membership`]).
//!
//! Provisioning ([`resources`]): group membership and nesting, admin role
//! assignments at the scope the entitlement names, account creation and
//! deletion, all idempotent.
//!
//! Module map: [`client`] (the PingOne API: URLs and batches, paging and
//! the id-only page scanner, payload shapes, errors, ids), [`resources`] (one module per resource
//! type: its listing, entitlements, grants and provisioning),
//! [`membership`] (the plan and the reads that settle group members; it
//! imports no resource module), [`tokens`] (page tokens and follow-ups),
//! [`config`] (fields, regions), [`validate`], [`upload`], [`time`].

#![forbid(unsafe_code)]

pub mod changes;
pub mod client;
pub mod config;
pub mod membership;
pub mod principal;
pub mod resources;
pub mod time;
pub mod tokens;
pub mod upload;
pub mod validate;

#[cfg(test)]
mod testutil;

use connector_sdk::{
    AccountField, AccountFieldKind, AccountInfo, Capability, ChangePage, Connector, ConnectorError,
    ConnectorMetadata, Context, CreateAccountOutcome, CredentialOption, DeleteResult,
    EntitlementRef, GrantRef, GrantResult, GrantScope, PageOutcome, ResourceId, ResourceTraitKind,
    ResourceType, ResourceTypeCapabilities, RevokeResult, ScopedChangePage, SyncOp, SyncTask,
    Timestamp, Validation,
};

use crate::client::api::Api;
use crate::config::Settings;
use crate::membership::{members, resolve};
use crate::resources::{groups, populations, roles, users};
use crate::tokens::{GroupsChain, Work};

pub const USER: &str = "user";
pub const GROUP: &str = "group";
pub const POPULATION: &str = "population";
pub const ROLE: &str = "role";

pub struct PingOne;

impl Connector for PingOne {
    /// None: the host handles `retry-after` and the connector reads no
    /// header, so responses cross the boundary as status and body alone.
    const RESPONSE_HEADERS: Option<&'static [&'static str]> = Some(&[]);

    /// Users, groups and populations ([`resources::get`]); not roles,
    /// whose grants only a full traversal finds.
    const TARGETED_TYPES: &'static [&'static str] = resources::get::TYPES;

    fn metadata() -> ConnectorMetadata {
        metadata()
    }

    fn get_resource(
        cx: &Context,
        id: ResourceId,
        _parent: Option<ResourceId>,
    ) -> Result<bool, ConnectorError> {
        let settings = Settings::from_config(cx.config)?;
        resources::get::get(cx, &Api::new(cx.host, &settings), &id)
    }

    fn list_changes(
        cx: &Context,
        since: Timestamp,
        until: Timestamp,
        page_token: Option<String>,
    ) -> Result<ChangePage, ConnectorError> {
        let settings = Settings::from_config(cx.config)?;
        let api = Api::new(cx.host, &settings);
        changes::list_changes(cx, &api, since, until, page_token)
    }

    fn list_principal_grants(
        cx: &Context,
        principal: ResourceId,
        _page_token: Option<String>,
    ) -> Result<Option<String>, ConnectorError> {
        let settings = Settings::from_config(cx.config)?;
        principal::list_principal_grants(cx, &Api::new(cx.host, &settings), &principal)
    }

    fn list_scoped_changes(
        cx: &Context,
        since: Timestamp,
        until: Timestamp,
        page_token: Option<String>,
    ) -> Result<ScopedChangePage, ConnectorError> {
        let settings = Settings::from_config(cx.config)?;
        let api = Api::new(cx.host, &settings);
        changes::list_scoped_changes(cx, &api, since, until, page_token)
    }

    fn get_resources(
        cx: &Context,
        ids: Vec<ResourceId>,
    ) -> Result<Vec<ResourceId>, ConnectorError> {
        let settings = Settings::from_config(cx.config)?;
        resources::get::get_many(cx, &Api::new(cx.host, &settings), &ids)
    }

    fn list_scoped_principal_grants(
        cx: &Context,
        principals: Vec<ResourceId>,
        scope: GrantScope,
        _page_token: Option<String>,
    ) -> Result<Option<String>, ConnectorError> {
        let settings = Settings::from_config(cx.config)?;
        principal::list_scoped(cx, &Api::new(cx.host, &settings), &principals, &scope)
    }

    fn list_resource_grants(
        cx: &Context,
        resource: ResourceId,
        principal_types: Vec<String>,
        page_token: Option<String>,
    ) -> Result<Option<String>, ConnectorError> {
        let settings = Settings::from_config(cx.config)?;
        let api = Api::new(cx.host, &settings);
        resources::get::resource_grants(cx, &api, &resource, &principal_types, page_token)
    }

    fn validate(cx: &Context) -> Result<Validation, ConnectorError> {
        validate::validate(cx)
    }

    fn sync(cx: &Context, task: SyncTask) -> Result<PageOutcome, ConnectorError> {
        let settings = Settings::from_config(cx.config)?;
        let api = Api::new(cx.host, &settings);
        run(cx, &api, task)
    }

    fn grant(
        cx: &Context,
        entitlement: EntitlementRef,
        principal: ResourceId,
    ) -> Result<GrantResult, ConnectorError> {
        resources::grant(cx, entitlement, principal)
    }

    fn revoke(cx: &Context, grant: GrantRef) -> Result<RevokeResult, ConnectorError> {
        resources::revoke(cx, grant)
    }

    fn create_account(
        cx: &Context,
        info: AccountInfo,
        credential: CredentialOption,
    ) -> Result<CreateAccountOutcome, ConnectorError> {
        users::create_account(cx, info, credential)
    }

    fn delete_resource(cx: &Context, id: ResourceId) -> Result<DeleteResult, ConnectorError> {
        users::delete_resource(cx, id)
    }
}

pub fn metadata() -> ConnectorMetadata {
    let rt = |id: &str, name: &str, desc: &str, kind: ResourceTraitKind, skip: bool| ResourceType {
        id: id.into(),
        display_name: name.into(),
        description: Some(desc.into()),
        traits: vec![kind],
        skip_entitlements_and_grants: skip,
    };
    ConnectorMetadata {
        display_name: "PingOne".into(),
        description:
            "Syncs the users, groups (direct, nested and dynamic membership), populations \
                      and admin role assignments (with their scope) of a PingOne environment"
                .into(),
        version: env!("CARGO_PKG_VERSION").into(),
        resource_types: vec![
            rt(
                USER,
                "User",
                "A PingOne user of the environment",
                ResourceTraitKind::User,
                true,
            ),
            rt(
                GROUP,
                "Group",
                "A PingOne group (static or dynamic)",
                ResourceTraitKind::Group,
                false,
            ),
            rt(
                POPULATION,
                "Population",
                "A PingOne population; every user belongs to exactly one",
                ResourceTraitKind::Group,
                false,
            ),
            rt(
                ROLE,
                "Role",
                "A PingOne admin role (built-in or custom), assigned at a scope",
                ResourceTraitKind::Role,
                false,
            ),
        ],
        capabilities: vec![
            caps(
                USER,
                &[
                    Capability::Sync,
                    Capability::AccountProvisioning,
                    Capability::ResourceDelete,
                ],
            ),
            caps(GROUP, &[Capability::Sync, Capability::Provision]),
            caps(POPULATION, &[Capability::Sync]),
            caps(ROLE, &[Capability::Sync, Capability::Provision]),
        ],
        config_schema: config::schema(),
        credential: Some(config::credential_recipe()),
        account_creation_schema: account_schema(),
        credential_options: vec![
            CredentialOption::NoPassword,
            CredentialOption::RandomPassword,
        ],
    }
}

fn caps(resource_type: &str, capabilities: &[Capability]) -> ResourceTypeCapabilities {
    ResourceTypeCapabilities {
        resource_type: resource_type.into(),
        capabilities: capabilities.to_vec(),
    }
}

/// Fields of `--create-account-profile`; the login is the username.
fn account_schema() -> Vec<AccountField> {
    let field = |name: &str,
                 display: &str,
                 description: &str,
                 kind,
                 required,
                 placeholder: Option<&str>| {
        AccountField {
            name: name.into(),
            display_name: display.into(),
            description: description.into(),
            kind,
            required,
            placeholder: placeholder.map(String::from),
        }
    };
    vec![
        field(
            "username",
            "Username",
            "PingOne username (unique in the environment, case-insensitive); defaults to the login",
            AccountFieldKind::Text,
            true,
            Some("emma.sharp"),
        ),
        field(
            "email",
            "Email",
            "Primary email address",
            AccountFieldKind::Text,
            false,
            Some("emma@example.com"),
        ),
        field(
            "given_name",
            "Given name",
            "First name",
            AccountFieldKind::Text,
            false,
            Some("Emma"),
        ),
        field(
            "family_name",
            "Family name",
            "Last name",
            AccountFieldKind::Text,
            false,
            Some("Sharp"),
        ),
        field(
            "population_id",
            "Population ID",
            "Population to create the user in; the environment's default population when empty",
            AccountFieldKind::Text,
            false,
            None,
        ),
        field(
            "enabled",
            "Enabled",
            "Whether the user can sign on (default true)",
            AccountFieldKind::Boolean,
            false,
            None,
        ),
    ]
}

fn nothing() -> Result<PageOutcome, ConnectorError> {
    Ok(PageOutcome {
        next_page_token: None,
        follow_ups: Vec::new(),
    })
}

/// Routes one task to its handler.
pub fn run(cx: &Context, api: &Api, task: SyncTask) -> Result<PageOutcome, ConnectorError> {
    let rt = task.resource_type.as_str();
    let token = task.page_token.as_deref();
    let decode = |t: Option<&str>| t.map(Work::decode).transpose();
    match (task.op, rt, &task.resource) {
        (SyncOp::ListResources, USER, None) => users::list(cx, api, decode(token)?),
        (SyncOp::ListResources, GROUP, None) => groups::list(cx, api, token),
        (SyncOp::ListResources, POPULATION, None) => populations::list(cx, api, decode(token)?),
        (SyncOp::ListResources, ROLE, None) => roles::list(cx, api),

        // The listings put groups and populations with their `member`
        // entitlement, and the roles' entitlements (which need the role's
        // scopes) come from the role listing's follow-ups; they tell the
        // host to skip these tasks, which cost nothing if asked anyway.
        (SyncOp::ListEntitlements, GROUP | POPULATION | ROLE | USER, Some(_)) => nothing(),
        (SyncOp::ListEntitlements, _, None) => match decode(token)? {
            Some(Work::RoleEntitlements(w)) => roles::entitlements(cx, w),
            Some(other) => Err(wrong_token("list entitlements", &other)),
            None => Err(no_resource(&task)),
        },

        // A group's next page of role assignments (its first pages are
        // read in batches by the groups listing's follow-ups); without a
        // token, every grant on the group: the task only a single read
        // ([`resources::get`]) leaves to the host, which listings skip.
        (SyncOp::ListGrants, GROUP, Some(r)) => match decode(token)? {
            None => resources::get::group_grants(cx, api, r),
            page => groups::role_grants(cx, api, r, page),
        },
        (SyncOp::ListGrants, POPULATION, Some(r)) => {
            resources::get::population_grants(cx, api, r, decode(token)?)
        }
        // User grants come from the users' follow-ups, role grants from the
        // users' and groups' tasks.
        (SyncOp::ListGrants, ROLE | USER, Some(_)) => nothing(),
        (SyncOp::ListGrants, _, None) => match token {
            Some(t) if GroupsChain::is_chain_token(t) => {
                groups::pass2(api, GroupsChain::decode(t)?)
            }
            Some(t) => match Work::decode(t)? {
                Work::UserBatch(b) => users::grants(cx, api, b),
                Work::Nesting { edges } => groups::nesting_grants(cx, &edges),
                Work::GroupRoles { groups } => groups::role_grants_batch(cx, api, &groups),
                Work::GroupMembers(m) => members::members(cx, api, vec![m]),
                Work::Members { groups } => members::members(cx, api, groups),
                Work::Resolve(r) => resolve::resolve(cx, api, r),
                Work::Check(c) => resolve::check(cx, api, c),
                Work::Sweep(w) => members::sweep(cx, api, w),
                other => Err(wrong_token("list grants", &other)),
            },
            None => Err(no_resource(&task)),
        },
        _ => Err(ConnectorError::InvalidArgument(format!(
            "unsupported task {:?} for resource type {rt:?} (resource {})",
            task.op,
            if task.resource.is_some() {
                "set"
            } else {
                "unset"
            }
        ))),
    }
}

fn no_resource(task: &SyncTask) -> ConnectorError {
    ConnectorError::InvalidArgument(format!(
        "{:?} task for {:?} has neither a resource nor a page token",
        task.op, task.resource_type
    ))
}

/// A token of the wrong kind for the task it came with.
pub fn wrong_token(what: &str, w: &Work) -> ConnectorError {
    let kind = serde_json::to_value(w)
        .ok()
        .and_then(|v| v.get("k").and_then(|k| k.as_str()).map(String::from))
        .unwrap_or_default();
    ConnectorError::InvalidArgument(format!("{what}: unexpected page token of kind {kind:?}"))
}

connector_sdk::register_connector!(PingOne);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{host, run, task};

    #[test]
    fn metadata_declares_what_works() {
        let m = metadata();
        assert_eq!(m.display_name, "PingOne");
        let ids: Vec<&str> = m.resource_types.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, [USER, GROUP, POPULATION, ROLE]);
        assert!(m.resource_types[0].skip_entitlements_and_grants);
        assert!(
            m.resource_types[1..]
                .iter()
                .all(|t| !t.skip_entitlements_and_grants)
        );
        let caps = |t: &str| {
            let c = m.capabilities.iter().find(|c| c.resource_type == t);
            c.map(|c| c.capabilities.clone()).unwrap_or_default()
        };
        assert_eq!(
            caps(USER),
            [
                Capability::Sync,
                Capability::AccountProvisioning,
                Capability::ResourceDelete
            ]
        );
        assert_eq!(caps(GROUP), [Capability::Sync, Capability::Provision]);
        assert_eq!(caps(POPULATION), [Capability::Sync]);
        assert_eq!(caps(ROLE), [Capability::Sync, Capability::Provision]);
        assert!(
            m.account_creation_schema
                .iter()
                .any(|f| f.name == "username" && f.required)
        );
        assert_eq!(
            m.credential_options,
            [
                CredentialOption::NoPassword,
                CredentialOption::RandomPassword
            ]
        );
        let names: Vec<&str> = m.config_schema.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                config::CLIENT_ID,
                config::CLIENT_SECRET,
                config::ENVIRONMENT_ID,
                config::REGION,
                config::API_URL,
                config::AUTH_URL,
                config::TOKEN_AUTH_METHOD,
                config::EXACT_MEMBERSHIP
            ]
        );
        assert!(
            m.config_schema
                .iter()
                .filter(|f| f.secret)
                .map(|f| f.name.as_str())
                .eq([config::CLIENT_SECRET])
        );
    }

    #[test]
    fn tasks_route_or_fail_clearly() {
        let h = host(vec![]);
        let e = run(&h, task(SyncOp::ListResources, "app", None, None)).unwrap_err();
        assert!(matches!(e, ConnectorError::InvalidArgument(_)));
        let e = run(&h, task(SyncOp::ListGrants, GROUP, None, None)).unwrap_err();
        assert!(e.message().contains("neither a resource nor a page token"));
        let wrong = Work::Nesting { edges: vec![] }.encode();
        let e = run(&h, task(SyncOp::ListResources, USER, None, Some(wrong))).unwrap_err();
        assert!(e.message().contains("\"nest\""), "{e:?}");
        let e = run(
            &h,
            task(SyncOp::ListGrants, USER, None, Some("garbage!".into())),
        )
        .unwrap_err();
        assert!(matches!(e, ConnectorError::InvalidArgument(_)));
        // Tasks the plan makes no-ops (and tells the host to skip) cost
        // nothing: no request, no record.
        for (op, rt) in [
            (SyncOp::ListEntitlements, ROLE),
            (SyncOp::ListEntitlements, GROUP),
            (SyncOp::ListEntitlements, POPULATION),
            (SyncOp::ListGrants, ROLE),
            (SyncOp::ListGrants, USER),
        ] {
            let out = run(&h, task(op, rt, Some("x"), None)).unwrap();
            assert!(out.next_page_token.is_none() && out.follow_ups.is_empty());
        }
        assert!(h.requests.borrow().is_empty());
        assert!(h.entitlements.borrow().is_empty() && h.grants.borrow().is_empty());
    }
}
