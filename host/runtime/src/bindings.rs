//! Host bindings for contract version 0.1.2 (`wit/connector@0.1.2`).
//!
//! Decision: one bindings module serves every 0.1.x component. 0.1.1 and
//! 0.1.2 only add functions, records and flags, and wasmtime's linker and
//! export lookup match `0.1.0` and `0.1.1` names to `0.1.2` definitions by
//! semver, so a component built for an earlier 0.1.x links against these
//! bindings unchanged. The end-to-end suite runs test components built for
//! 0.1.0 and 0.1.2; no 0.1.1 component is left in it (every one moved to
//! 0.1.2), so 0.1.1 rests on the same semver matching, not on a test.
//!
//! Decision: imports are async (they do network I/O on tokio) and trappable
//! (a host function can end the call with a typed error when a guest breaks
//! a limit); exports are async so calls run under epoch yields and
//! `tokio::time::timeout`.

wasmtime::component::bindgen!({
    world: "connector-plugin",
    path: "../../wit/connector@0.1.2",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "idgov:connector/secrets.secret": crate::capabilities::secrets::SecretHandle,
    },
});

pub use exports::idgov::connector::connector as meta;
pub use exports::idgov::connector::provisioning as prov;
pub use exports::idgov::connector::sync as sync_api;
pub use idgov::connector::{http, log, secrets, types, upload};
