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
    //! Raw bindings for the contract in `wit/connector@0.1.3`, or with the
    //! `contract-0-1-0` feature for `wit/connector@0.1.0` (a component for
    //! hosts that predate 0.1.1; the SDK then does in the guest what the
    //! 0.1.1 functions do in the host, and uploads what 0.1.2's
    //! `put-resources-with` takes as separate lists, skipping no task, and
    //! exports no `resource-getter` and no `change-feed`).
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
    generate_for!("../../wit/connector@0.1.3");
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

/// Change-feed records (contract 0.1.3).
#[cfg(not(feature = "contract-0-1-0"))]
pub use bindings::exports::idgov::connector::change_feed::{Change, ChangePage};
/// Change-feed records, for a connector built for 0.1.0: the same shapes as
/// 0.1.3's, so one connector source builds for both (and native builds of
/// the workspace, where this feature may be on for everyone). Never
/// exported: a 0.1.0 host has no change feed.
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
pub use change_feed_0_1_0::{Change, ChangePage};

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

            $crate::__export_0_1_3!();

            $crate::bindings::export_connector_plugin!(Export);
        }
    };
}

/// The exports contract 0.1.3 adds to [`register_connector!`]:
/// `resource-getter` and `change-feed`. Expanded inside its module.
#[doc(hidden)]
#[cfg(not(feature = "contract-0-1-0"))]
#[macro_export]
macro_rules! __export_0_1_3 {
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
    };
}

/// A component for contract 0.1.0 exports neither.
#[doc(hidden)]
#[cfg(feature = "contract-0-1-0")]
#[macro_export]
macro_rules! __export_0_1_3 {
    () => {};
}
