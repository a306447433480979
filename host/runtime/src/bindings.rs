//! Host bindings for contract version 0.1.4 (`wit/connector@0.1.4`).
//!
//! Decision: one bindings module serves every 0.1.x component. 0.1.1 to
//! 0.1.4 only add functions, records, flags and optional exports, and
//! wasmtime's linker and export lookup match earlier `0.1.x` names to
//! `0.1.4` definitions by semver, so a component built for an earlier 0.1.x
//! links against these bindings unchanged. The end-to-end suite runs test
//! components built for 0.1.0 and for the SDK's current version; the
//! versions between rest on the same semver matching, not on a test.
//!
//! Decision: the world the host requires is `connector-plugin-core`, which
//! lacks the optional `resource-getter`, `change-feed` (0.1.3) and
//! `batched-change-feed` (0.1.4) exports, so components built for 0.1.0 to
//! 0.1.3 still load. The optional exports are looked up per component at
//! load time through [`getter`], a second binding of the full
//! `connector-plugin` world whose imports and shared types are this
//! module's own (`with`), so only its export modules are new, and only
//! `resource_getter`, `change_feed` and `batched_change_feed` are used.
//!
//! Decision: imports are async (they do network I/O on tokio) and trappable
//! (a host function can end the call with a typed error when a guest breaks
//! a limit); exports are async so calls run under epoch yields and
//! `tokio::time::timeout`.

wasmtime::component::bindgen!({
    world: "connector-plugin-core",
    path: "../../wit/connector@0.1.4",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "idgov:connector/secrets.secret": crate::capabilities::secrets::SecretHandle,
    },
});

pub use self::{
    ConnectorPluginCore as ConnectorPlugin, ConnectorPluginCoreIndices as ConnectorPluginIndices,
    ConnectorPluginCorePre as ConnectorPluginPre,
};
pub use exports::idgov::connector::connector as meta;
pub use exports::idgov::connector::provisioning as prov;
pub use exports::idgov::connector::sync as sync_api;
pub use idgov::connector::{http, log, secrets, types, upload};

/// The optional `resource-getter` and `change-feed` exports (contract
/// 0.1.3) and `batched-change-feed` (0.1.4).
pub mod getter {
    mod full {
        wasmtime::component::bindgen!({
            world: "connector-plugin",
            path: "../../wit/connector@0.1.4",
            imports: { default: async | trappable },
            exports: { default: async },
            with: {
                "idgov:connector/types": crate::bindings::types,
                "idgov:connector/secrets": crate::bindings::secrets,
                "idgov:connector/http": crate::bindings::http,
                "idgov:connector/upload": crate::bindings::upload,
                "idgov:connector/log": crate::bindings::log,
            },
        });
        pub use exports::idgov::connector::{batched_change_feed, change_feed, resource_getter};
    }

    pub use full::batched_change_feed::{
        Change as ScopedChange, ChangePage as ScopedChangePage, GrantScope,
        Guest as BatchedChangeFeed, GuestIndices as BatchedChangeFeedIndices, PrincipalChange,
        ResourceGrantsChange,
    };

    pub use full::change_feed::{
        Change, ChangePage, Guest as ChangeFeed, GuestIndices as ChangeFeedIndices,
    };
    pub use full::resource_getter::{
        Guest as ResourceGetter, GuestIndices as ResourceGetterIndices,
    };
}
