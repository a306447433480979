//! Guest SDK for `idgov:connector` components.
//!
//! A connector author implements [`Connector`] and calls
//! [`register_connector!`]; this crate owns the WIT bindings, the ABI glue and
//! the helpers every connector needs (HTTP with JSON, paging tokens, config
//! access, typed errors).
//!
//! Decision: connector logic talks to the host only through the [`Host`]
//! trait. In a component, [`WasmHost`] forwards to the imported capabilities;
//! natively, tests and benchmarks supply their own `Host` (see
//! [`testing::MockHost`]), so the same logic compiles and runs outside wasm.
//!
//! Instances: the host may serve several pages of one sync run with the
//! same instance (never another tenant's, never after a failed call), or
//! each with a fresh one. Keep no state between calls that a call's input
//! does not carry: a cache may speed a call up, never change its result.
//!
//! OAuth2 client authentication: the [`CredentialRecipe`]'s `auth-method`
//! is fixed in the metadata, but an upstream app is often set to one method
//! and refuses the other. Declare a config field named
//! `<group>-token-auth-method`, where `<group>` is the first word of the
//! recipe's client secret field (`pingone-client-secret` →
//! `pingone-token-auth-method`), as a `choice` of `CLIENT_SECRET_BASIC` and
//! `CLIENT_SECRET_POST`; the host then uses its value (operator-set, or the
//! field's default) over the recipe's method, and refuses any other value.

pub mod bindings {
    //! Raw bindings for the contract in `wit/connector@0.1.4`, or with the
    //! `contract-0-1-0` feature for `wit/connector@0.1.0` (a component for
    //! hosts that predate 0.1.1; the SDK then does in the guest what the
    //! 0.1.1 functions do in the host, and uploads what 0.1.2's
    //! `put-resources-with` takes as separate lists, skipping no task, and
    //! exports no `resource-getter`, no `change-feed` and no
    //! `batched-change-feed`).
    macro_rules! generate_for {
        ($path:tt) => {
            wit_bindgen::generate!({
                world: "connector-plugin",
                path: $path,
                pub_export_macro: true,
                export_macro_name: "export_connector_plugin",
                default_bindings_module: "connector_sdk::bindings",
                additional_derives: [PartialEq],
            });
        };
    }
    #[cfg(not(feature = "contract-0-1-0"))]
    generate_for!("../../wit/connector@0.1.4");
    #[cfg(feature = "contract-0-1-0")]
    generate_for!("../../wit/connector@0.1.0");
}

mod config;
mod error;
mod grant_set;
mod host;
pub mod http;
pub mod paging;
pub mod testing;

pub use config::Config;
pub use error::ConnectorError;
pub use grant_set::{GrantSet, grant_set_grants};
pub use host::{Auth, Host, SkipTasks, WasmHost};

/// Batched change-feed records (contract 0.1.4): a change scoped to what
/// it may have touched, and a page of them.
#[cfg(not(feature = "contract-0-1-0"))]
pub use bindings::exports::idgov::connector::batched_change_feed::{
    Change as ScopedChange, ChangePage as ScopedChangePage, GrantScope, PrincipalChange,
    ResourceGrantsChange,
};
/// Change-feed records (contract 0.1.3).
#[cfg(not(feature = "contract-0-1-0"))]
pub use bindings::exports::idgov::connector::change_feed::{Change, ChangePage};
/// Change-feed records, for a connector built for 0.1.0: the same shapes as
/// 0.1.3's and 0.1.4's, so one connector source builds for both (and native
/// builds of the workspace, where this feature may be on for everyone).
/// Never exported: a 0.1.0 host has no change feed.
#[cfg(feature = "contract-0-1-0")]
mod change_feed_0_1_0 {
    use crate::bindings::idgov::connector::types::{ResourceId, Timestamp};

    /// As 0.1.3's `change-feed.change`.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Change {
        Resource(ResourceId),
        PrincipalGrants(ResourceId),
        FullSync(String),
    }

    /// As 0.1.3's `change-feed.change-page`.
    #[derive(Debug, Clone, PartialEq)]
    pub struct ChangePage {
        pub changes: Vec<Change>,
        pub record_ids: Vec<String>,
        pub newest: Option<Timestamp>,
        pub next_page_token: Option<String>,
    }

    /// As 0.1.4's `batched-change-feed.grant-scope`.
    #[derive(Debug, Clone, PartialEq)]
    pub struct GrantScope {
        pub resource_types: Vec<String>,
        pub resources: Vec<ResourceId>,
    }

    /// As 0.1.4's `batched-change-feed.principal-change`.
    #[derive(Debug, Clone, PartialEq)]
    pub struct PrincipalChange {
        pub principal: ResourceId,
        pub scope: GrantScope,
    }

    /// As 0.1.4's `batched-change-feed.resource-grants-change`.
    #[derive(Debug, Clone, PartialEq)]
    pub struct ResourceGrantsChange {
        pub resource: ResourceId,
        pub principal_types: Vec<String>,
    }

    /// As 0.1.4's `batched-change-feed.change`.
    #[derive(Debug, Clone, PartialEq)]
    pub enum ScopedChange {
        Resource(ResourceId),
        ResourceRecord(ResourceId),
        PrincipalGrants(PrincipalChange),
        ResourceGrants(ResourceGrantsChange),
        FullSync(String),
    }

    /// As 0.1.4's `batched-change-feed.change-page`.
    #[derive(Debug, Clone, PartialEq)]
    pub struct ScopedChangePage {
        pub changes: Vec<ScopedChange>,
        pub record_ids: Vec<String>,
        pub newest: Option<Timestamp>,
        pub next_page_token: Option<String>,
    }
}

impl GrantScope {
    /// A scope of whole resource types.
    pub fn of_types(types: &[&str]) -> GrantScope {
        GrantScope {
            resource_types: types.iter().map(|t| t.to_string()).collect(),
            resources: Vec::new(),
        }
    }

    /// A scope of single resources.
    pub fn of_resources(resources: Vec<ResourceId>) -> GrantScope {
        GrantScope {
            resource_types: Vec::new(),
            resources,
        }
    }

    /// Whether a grant on an entitlement of `resource` is in the scope: its
    /// type is one of the scope's types, or it is one of its resources.
    pub fn covers(&self, resource: &ResourceId) -> bool {
        self.resource_types.contains(&resource.resource_type)
            || self.resources.iter().any(|r| r == resource)
    }

    /// Whether the scope may cover some resource of `resource_type`.
    pub fn touches_type(&self, resource_type: &str) -> bool {
        self.resource_types.iter().any(|t| t == resource_type)
            || self
                .resources
                .iter()
                .any(|r| r.resource_type == resource_type)
    }

    /// Adds `other`'s types and resources (a union), keeping no resource
    /// its types already cover.
    pub fn merge(&mut self, other: &GrantScope) {
        for t in &other.resource_types {
            if !self.resource_types.contains(t) {
                self.resource_types.push(t.clone());
            }
        }
        let types = &self.resource_types;
        self.resources.retain(|r| !types.contains(&r.resource_type));
        for r in &other.resources {
            if !self.covers(r) {
                self.resources.push(r.clone());
            }
        }
    }
}
/// Metadata records.
pub use bindings::exports::idgov::connector::connector::{
    AccountField, AccountFieldKind, Capability, ClientAuthMethod, ConfigChoice, ConfigField,
    ConfigKind, ConnectorMetadata, CredentialOption, CredentialRecipe, Oauth2ClientCredentials,
    ResourceTypeCapabilities, UrlOptions, Validation,
};
/// Provisioning records.
pub use bindings::exports::idgov::connector::provisioning::{
    AccountInfo, CreateAccountOutcome, CreateAccountResult, DeleteResult, EntitlementRef, GrantRef,
    GrantResult, RevokeResult,
};
/// Sync records.
pub use bindings::exports::idgov::connector::sync::{PageOutcome, SyncOp, SyncTask};
/// Log levels.
pub use bindings::idgov::connector::log::Level;
/// The contract's shared records.
pub use bindings::idgov::connector::types::{
    AccountType, Email, Entitlement, EntitlementPurpose, Grant, GrantExpansion, GroupTrait,
    Resource, ResourceId, ResourceStatus, ResourceTrait, ResourceTraitKind, ResourceType,
    RoleTrait, StructuredName, Timestamp, UserStatus, UserTrait,
};
#[cfg(feature = "contract-0-1-0")]
pub use change_feed_0_1_0::{
    Change, ChangePage, GrantScope, PrincipalChange, ResourceGrantsChange, ScopedChange,
    ScopedChangePage,
};

/// Everything a connector call gets: the host's capabilities and the
/// resolved, non-secret configuration.
pub struct Context<'a> {
    pub host: &'a dyn Host,
    pub config: &'a Config,
}

impl Context<'_> {
    pub fn log(&self, level: Level, message: impl AsRef<str>) {
        self.host.log(level, message.as_ref());
    }
}

/// A connector: the logic behind one component.
///
/// Every method is one short, bounded call. Nothing survives between calls:
/// sync state lives in page tokens and follow-up tasks, which the host keeps.
pub trait Connector {
    /// The response headers this connector reads (lowercase names), or
    /// `None` for all of them. With a list, the host drops the others before
    /// they reach the component (contract 0.1.1), so each response costs
    /// two fewer allocations per header the connector would never read.
    const RESPONSE_HEADERS: Option<&'static [&'static str]> = None;

    /// Static description; must not depend on configuration.
    fn metadata() -> ConnectorMetadata;

    /// One cheap call that tells the operator what is wrong, if anything.
    fn validate(cx: &Context) -> Result<Validation, ConnectorError>;

    /// One page of one sync task; records go through `cx.host.put_*`.
    fn sync(cx: &Context, task: SyncTask) -> Result<PageOutcome, ConnectorError>;

    /// Resource types whose resources [`Connector::get_resource`] reads
    /// (contract 0.1.3, Baton's targeted sync). Empty, the default: the
    /// host syncs named resources by a full sync and cuts them out of it.
    /// A type named here must get all of a resource's entitlements and
    /// grants from that resource's own `list-entitlements` and
    /// `list-grants` tasks, which are all a targeted sync runs for it.
    const TARGETED_TYPES: &'static [&'static str] = &[];

    /// Reads the one resource `id` (of a type in
    /// [`Connector::TARGETED_TYPES`]; `parent` when the host knows it) and
    /// uploads it as a listing would (`cx.host.put_resources`, or
    /// `put_resources_with` with its entitlements and skipped tasks), and
    /// nothing else. `Ok(false)`, uploading nothing, when there is no such
    /// resource. The host then lists its entitlements and grants as usual.
    fn get_resource(
        _cx: &Context,
        _id: ResourceId,
        _parent: Option<ResourceId>,
    ) -> Result<bool, ConnectorError> {
        unsupported("reading single resources (targeted sync)")
    }

    /// One page of the changes the upstream recorded in `[since, until)`
    /// (contract 0.1.3, incremental sync). Each [`Change`] is a hint the
    /// host acts on by re-reading current state: `Resource` through
    /// [`Connector::get_resource`] and the resource's entitlement and grant
    /// listings, `PrincipalGrants` through
    /// [`Connector::list_principal_grants`]. Answer `FullSync(reason)`
    /// whenever the log cannot prove the changes complete (the window is
    /// older than the log keeps, a record type that touches identity data
    /// is not understood, a change's effects are not audited); a missing
    /// permission is a `PermissionDenied` naming it. The default: not
    /// supported, so the host runs full syncs.
    fn list_changes(
        _cx: &Context,
        _since: Timestamp,
        _until: Timestamp,
        _page_token: Option<String>,
    ) -> Result<ChangePage, ConnectorError> {
        unsupported("incremental sync (a change feed)")
    }

    /// Uploads every grant `principal` holds, with `put_grants` or
    /// `put_grant_sets` only and exactly as a full sync produces them
    /// (contract 0.1.3); returns the next page token, if any.
    fn list_principal_grants(
        _cx: &Context,
        _principal: ResourceId,
        _page_token: Option<String>,
    ) -> Result<Option<String>, ConnectorError> {
        unsupported("listing one principal's grants (incremental sync)")
    }

    /// One page of the changes recorded in `[since, until)`, each scoped to
    /// what it may have touched (contract 0.1.4, `batched-change-feed`):
    /// `ResourceRecord` re-reads only a resource's row, `PrincipalGrants`
    /// only a principal's grants within a [`GrantScope`], `ResourceGrants`
    /// only the grants on a resource held by principals of some types. The
    /// same rules as [`Connector::list_changes`] otherwise. The default:
    /// not supported, so the host reads the 0.1.3 change feed instead.
    fn list_scoped_changes(
        _cx: &Context,
        _since: Timestamp,
        _until: Timestamp,
        _page_token: Option<String>,
    ) -> Result<ScopedChangePage, ConnectorError> {
        Err(ConnectorError::Unsupported(
            "scoped changes (a batched change feed) are not supported by this connector".into(),
        ))
    }

    /// Reads the resources `ids` (all of one type in
    /// [`Connector::TARGETED_TYPES`]) and uploads each one the upstream has
    /// exactly as [`Connector::get_resource`] would, at most one put each
    /// and nothing else; returns the ids it has no resource for (contract
    /// 0.1.4). The default reads them one by one with `get_resource`.
    fn get_resources(
        cx: &Context,
        ids: Vec<ResourceId>,
    ) -> Result<Vec<ResourceId>, ConnectorError> {
        let mut missing = Vec::new();
        for id in ids {
            if !Self::get_resource(cx, id.clone(), None)? {
                missing.push(id);
            }
        }
        Ok(missing)
    }

    /// Uploads the grants within `scope` that each of `principals` (all of
    /// one type) holds, with `put_grants` or `put_grant_sets` only and
    /// exactly as a full sync produces them (contract 0.1.4); returns the
    /// next page token, if any. The host refuses a grant of another
    /// principal or outside the scope.
    fn list_scoped_principal_grants(
        _cx: &Context,
        _principals: Vec<ResourceId>,
        _scope: GrantScope,
        _page_token: Option<String>,
    ) -> Result<Option<String>, ConnectorError> {
        Err(ConnectorError::Unsupported(
            "listing principals' grants within a scope (incremental sync) is not supported by \
             this connector"
                .into(),
        ))
    }

    /// Uploads every grant on the entitlements of `resource` held by a
    /// principal of one of `principal_types`, exactly as a full sync
    /// produces them (contract 0.1.4); returns the next page token, if any.
    fn list_resource_grants(
        _cx: &Context,
        _resource: ResourceId,
        _principal_types: Vec<String>,
        _page_token: Option<String>,
    ) -> Result<Option<String>, ConnectorError> {
        Err(ConnectorError::Unsupported(
            "listing a resource's grants by principal type (incremental sync) is not supported \
             by this connector"
                .into(),
        ))
    }

    fn grant(
        _cx: &Context,
        _entitlement: EntitlementRef,
        _principal: ResourceId,
    ) -> Result<GrantResult, ConnectorError> {
        unsupported("grant")
    }

    fn revoke(_cx: &Context, _grant: GrantRef) -> Result<RevokeResult, ConnectorError> {
        unsupported("revoke")
    }

    fn create_account(
        _cx: &Context,
        _info: AccountInfo,
        _credential: CredentialOption,
    ) -> Result<CreateAccountOutcome, ConnectorError> {
        unsupported("account creation")
    }

    fn delete_resource(_cx: &Context, _id: ResourceId) -> Result<DeleteResult, ConnectorError> {
        unsupported("resource deletion")
    }
}

/// The default answer of a [`Connector`] method the connector leaves out.
fn unsupported<T>(what: &str) -> Result<T, ConnectorError> {
    Err(ConnectorError::Unsupported(format!(
        "{what} is not supported by this connector"
    )))
}

/// The entitlement ID Baton derives: `<resource-type>:<resource>:<slug>`.
pub fn entitlement_id(resource: &ResourceId, slug: &str) -> String {
    format!("{}:{}:{}", resource.resource_type, resource.resource, slug)
}

/// Shorthand for a [`ResourceId`].
pub fn resource_id(resource_type: &str, id: &str) -> ResourceId {
    ResourceId {
        resource_type: resource_type.to_string(),
        resource: id.to_string(),
    }
}

#[doc(hidden)]
pub mod __private {
    //! Glue used by [`register_connector!`](crate::register_connector).
    use super::*;

    /// Runs one exported call of `C` with the call's configuration and a
    /// host that keeps `C`'s response headers.
    pub fn call<C: Connector, T>(
        config: Vec<(String, String)>,
        f: impl FnOnce(&Context) -> Result<T, ConnectorError>,
    ) -> Result<T, ConnectorError> {
        let config = Config::new(config);
        let host = WasmHost::new().keeping_headers(C::RESPONSE_HEADERS);
        f(&Context {
            host: &host,
            config: &config,
        })
    }
}

/// Exports a [`Connector`] implementation as the component's entry points.
///
/// Only expands to anything on wasm32, so the connector crate can also build
/// natively (as an rlib) for unit tests and benchmarks.
#[macro_export]
macro_rules! register_connector {
    ($connector:ty) => {
        #[cfg(target_arch = "wasm32")]
        mod __connector_export {
            use super::*;
            use $crate::__private::call;
            use $crate::bindings::exports::idgov::connector as contract;
            use $crate::{Connector, ConnectorError, ResourceId};

            type Plugin = $connector;
            type ConfigValues = Vec<(String, String)>;

            pub struct Export;

            impl contract::connector::Guest for Export {
                fn metadata() -> $crate::ConnectorMetadata {
                    <Plugin as Connector>::metadata()
                }
                fn validate(config: ConfigValues) -> Result<$crate::Validation, ConnectorError> {
                    call::<Plugin, _>(config, <Plugin as Connector>::validate)
                }
            }

            impl contract::sync::Guest for Export {
                fn run(
                    config: ConfigValues,
                    task: $crate::SyncTask,
                ) -> Result<$crate::PageOutcome, ConnectorError> {
                    call::<Plugin, _>(config, |cx| <Plugin as Connector>::sync(cx, task))
                }
            }

            impl contract::provisioning::Guest for Export {
                fn grant(
                    config: ConfigValues,
                    entitlement: $crate::EntitlementRef,
                    principal: ResourceId,
                ) -> Result<$crate::GrantResult, ConnectorError> {
                    call::<Plugin, _>(config, |cx| {
                        <Plugin as Connector>::grant(cx, entitlement, principal)
                    })
                }
                fn revoke(
                    config: ConfigValues,
                    grant: $crate::GrantRef,
                ) -> Result<$crate::RevokeResult, ConnectorError> {
                    call::<Plugin, _>(config, |cx| <Plugin as Connector>::revoke(cx, grant))
                }
                fn create_account(
                    config: ConfigValues,
                    info: $crate::AccountInfo,
                    credential: $crate::CredentialOption,
                ) -> Result<$crate::CreateAccountOutcome, ConnectorError> {
                    call::<Plugin, _>(config, |cx| {
                        <Plugin as Connector>::create_account(cx, info, credential)
                    })
                }
                fn delete_resource(
                    config: ConfigValues,
                    id: ResourceId,
                ) -> Result<$crate::DeleteResult, ConnectorError> {
                    call::<Plugin, _>(config, |cx| <Plugin as Connector>::delete_resource(cx, id))
                }
            }

            $crate::__export_optional!();

            $crate::bindings::export_connector_plugin!(Export);
        }
    };
}

/// The optional exports of [`register_connector!`]: `resource-getter` and
/// `change-feed` (contract 0.1.3) and `batched-change-feed` (0.1.4).
/// Expanded inside its module.
#[doc(hidden)]
#[cfg(not(feature = "contract-0-1-0"))]
#[macro_export]
macro_rules! __export_optional {
    () => {
        impl contract::resource_getter::Guest for Export {
            fn targeted_types() -> Vec<String> {
                <Plugin as Connector>::TARGETED_TYPES
                    .iter()
                    .map(|t| t.to_string())
                    .collect()
            }
            fn get_resource(
                config: ConfigValues,
                id: ResourceId,
                parent: Option<ResourceId>,
            ) -> Result<bool, ConnectorError> {
                call::<Plugin, _>(config, |cx| {
                    <Plugin as Connector>::get_resource(cx, id, parent)
                })
            }
        }

        impl contract::change_feed::Guest for Export {
            fn list_changes(
                config: ConfigValues,
                since: $crate::Timestamp,
                until: $crate::Timestamp,
                page_token: Option<String>,
            ) -> Result<$crate::ChangePage, ConnectorError> {
                call::<Plugin, _>(config, |cx| {
                    <Plugin as Connector>::list_changes(cx, since, until, page_token)
                })
            }
            fn list_principal_grants(
                config: ConfigValues,
                principal: ResourceId,
                page_token: Option<String>,
            ) -> Result<Option<String>, ConnectorError> {
                call::<Plugin, _>(config, |cx| {
                    <Plugin as Connector>::list_principal_grants(cx, principal, page_token)
                })
            }
        }

        impl contract::batched_change_feed::Guest for Export {
            fn list_changes(
                config: ConfigValues,
                since: $crate::Timestamp,
                until: $crate::Timestamp,
                page_token: Option<String>,
            ) -> Result<$crate::ScopedChangePage, ConnectorError> {
                call::<Plugin, _>(config, |cx| {
                    <Plugin as Connector>::list_scoped_changes(cx, since, until, page_token)
                })
            }
            fn get_resources(
                config: ConfigValues,
                ids: Vec<ResourceId>,
            ) -> Result<Vec<ResourceId>, ConnectorError> {
                call::<Plugin, _>(config, |cx| <Plugin as Connector>::get_resources(cx, ids))
            }
            fn list_principal_grants(
                config: ConfigValues,
                principals: Vec<ResourceId>,
                scope: $crate::GrantScope,
                page_token: Option<String>,
            ) -> Result<Option<String>, ConnectorError> {
                call::<Plugin, _>(config, |cx| {
                    <Plugin as Connector>::list_scoped_principal_grants(
                        cx, principals, scope, page_token,
                    )
                })
            }
            fn list_resource_grants(
                config: ConfigValues,
                resource: ResourceId,
                principal_types: Vec<String>,
                page_token: Option<String>,
            ) -> Result<Option<String>, ConnectorError> {
                call::<Plugin, _>(config, |cx| {
                    <Plugin as Connector>::list_resource_grants(
                        cx,
                        resource,
                        principal_types,
                        page_token,
                    )
                })
            }
        }
    };
}

/// A component for contract 0.1.0 exports none of them.
#[doc(hidden)]
#[cfg(feature = "contract-0-1-0")]
#[macro_export]
macro_rules! __export_optional {
    () => {};
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MockHost;

    #[test]
    fn a_scope_covers_its_types_and_its_resources() {
        let mut s = GrantScope::of_types(&["population"]);
        assert!(s.covers(&resource_id("population", "p")));
        assert!(!s.covers(&resource_id("group", "g")));
        assert!(!s.touches_type("group"));
        s.merge(&GrantScope::of_resources(vec![
            resource_id("group", "g"),
            resource_id("population", "p2"),
        ]));
        assert!(s.covers(&resource_id("group", "g")));
        assert!(!s.covers(&resource_id("group", "h")));
        assert!(s.touches_type("group"));
        // A resource its types already cover is not repeated.
        assert_eq!(s.resources, [resource_id("group", "g")]);
        s.merge(&GrantScope::of_types(&["group", "population"]));
        assert_eq!(s.resource_types, ["population", "group"]);
        assert!(s.covers(&resource_id("group", "h")));
        assert!(s.resources.is_empty());
    }

    /// Finds only ids that start with "x".
    struct Getter;

    impl Connector for Getter {
        fn metadata() -> ConnectorMetadata {
            unimplemented!()
        }
        fn validate(_: &Context) -> Result<Validation, ConnectorError> {
            unimplemented!()
        }
        fn sync(_: &Context, _: SyncTask) -> Result<PageOutcome, ConnectorError> {
            unimplemented!()
        }
        fn get_resource(
            cx: &Context,
            id: ResourceId,
            _parent: Option<ResourceId>,
        ) -> Result<bool, ConnectorError> {
            if id.resource == "boom" {
                return Err(ConnectorError::Unavailable("down".into()));
            }
            let found = id.resource.starts_with('x');
            if found {
                cx.host.log(Level::Info, &id.resource);
            }
            Ok(found)
        }
    }

    #[test]
    fn batched_defaults_read_one_by_one_or_say_unsupported() {
        let host = MockHost::new(|_, _| unreachable!());
        let config = Config::new(Vec::new());
        let cx = Context {
            host: &host,
            config: &config,
        };
        let ids = ["x1", "y", "x2", "z"].map(|i| resource_id("user", i));
        let missing = Getter::get_resources(&cx, ids.to_vec()).unwrap();
        assert_eq!(missing, [ids[1].clone(), ids[3].clone()]);
        let read: Vec<String> = host.logs.borrow().iter().map(|l| l.1.clone()).collect();
        assert_eq!(read, ["x1", "x2"]);
        let e = Getter::get_resources(&cx, vec![resource_id("user", "boom")]).unwrap_err();
        assert!(matches!(e, ConnectorError::Unavailable(_)));
        let t = Timestamp {
            seconds: 0,
            nanos: 0,
        };
        let unsupported = |e: ConnectorError| matches!(e, ConnectorError::Unsupported(_));
        assert!(unsupported(
            Getter::list_scoped_changes(&cx, t, t, None).unwrap_err()
        ));
        assert!(unsupported(
            Getter::list_scoped_principal_grants(
                &cx,
                vec![ids[0].clone()],
                GrantScope::of_types(&["group"]),
                None
            )
            .unwrap_err()
        ));
        assert!(unsupported(
            Getter::list_resource_grants(&cx, ids[0].clone(), vec!["user".into()], None)
                .unwrap_err()
        ));
    }
}
