//! `google.rpc` messages used in task results, generated from
//! `proto/google/rpc/status.proto`.

/// `google.rpc.Status` is the error of a failed task; `google.rpc.ErrorInfo`
/// a machine-readable reason in its `details`.
pub use crate::proto::google::rpc::{ErrorInfo, Status};

/// gRPC status codes, as numbers (`google.rpc.Code`).
pub mod code {
    pub const CANCELLED: i32 = 1;
    pub const UNKNOWN: i32 = 2;
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const DEADLINE_EXCEEDED: i32 = 4;
    pub const NOT_FOUND: i32 = 5;
    pub const ALREADY_EXISTS: i32 = 6;
    pub const PERMISSION_DENIED: i32 = 7;
    pub const FAILED_PRECONDITION: i32 = 9;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
    pub const UNAUTHENTICATED: i32 = 16;
}
