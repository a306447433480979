//! The wire contract between a Baton connector in service mode and
//! ConductorOne: the `c1.connectorapi.baton.v1.BatonService` messages and
//! client, the `c1.connector.v2` provisioning messages its tasks carry, and
//! `google.rpc.Status`.
//!
//! Decision: the messages are declared once, in `.proto` files written from
//! the field numbers in the reference notes, and generated at build time
//! with a pure-Rust compiler (a fresh machine has no `protoc`). Only the task
//! types the host runs are declared; prost skips unknown fields, so a task
//! type the file does not declare decodes with no `task_type` and is
//! finished as unsupported, exactly as the Go SDK does for a task with no
//! oneof set.
//!
//! The host's client (`connector-host`) and the fake service the tests run
//! both use this crate, so a field number typo shows up as a failing test
//! only if both sides agree on it; `tests/wire.rs` therefore pins the
//! encoding of each message against bytes worked out from the `.proto`.

/// The generated code, laid out by package as prost refers across packages.
#[allow(clippy::all, clippy::pedantic)]
mod proto {
    pub mod c1 {
        pub mod connectorapi {
            pub mod baton {
                pub mod v1 {
                    include!(concat!(env!("OUT_DIR"), "/c1.connectorapi.baton.v1.rs"));
                }
            }
        }
    }
    pub mod google {
        pub mod rpc {
            include!(concat!(env!("OUT_DIR"), "/google.rpc.rs"));
        }
    }
}

pub mod connector;
pub mod rpc;
pub mod v1;

/// Method paths, as gRPC puts them in `:path`: what the tests' fake service
/// (which has no generated server) routes by. The generated client carries
/// the same strings; `tests/client_paths.rs` pins that they agree.
pub mod method {
    pub const HELLO: &str = "/c1.connectorapi.baton.v1.BatonService/Hello";
    pub const GET_TASK: &str = "/c1.connectorapi.baton.v1.BatonService/GetTask";
    pub const HEARTBEAT: &str = "/c1.connectorapi.baton.v1.BatonService/Heartbeat";
    pub const FINISH_TASK: &str = "/c1.connectorapi.baton.v1.BatonService/FinishTask";
    pub const UPLOAD_ASSET: &str = "/c1.connectorapi.baton.v1.BatonService/UploadAsset";
}

/// `type.googleapis.com/<full name>`: the type URL of an `Any`.
pub fn type_url(full_name: &str) -> String {
    format!("type.googleapis.com/{full_name}")
}

/// Packs `msg` into an `Any` under `full_name` (e.g. `c1.connector.v2.GrantManagerServiceGrantResponse`).
pub fn pack<M: prost::Message>(full_name: &str, msg: &M) -> prost_types::Any {
    prost_types::Any {
        type_url: type_url(full_name),
        value: msg.encode_to_vec(),
    }
}
