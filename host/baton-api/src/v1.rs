//! `c1.connectorapi.baton.v1`: the BatonService requests, responses, tasks
//! and client, generated from `proto/c1/connectorapi/baton/v1/baton.proto`.
//! The messages keep Baton's names (`BatonServiceHelloRequest`, ...) and are
//! also exported under the short names the host uses.

pub use crate::proto::c1::connectorapi::baton::v1::*;
pub use crate::proto::c1::connectorapi::baton::v1::{
    BatonServiceFinishTaskRequest as FinishTaskRequest,
    BatonServiceFinishTaskResponse as FinishTaskResponse,
    BatonServiceGetTaskRequest as GetTaskRequest, BatonServiceGetTaskResponse as GetTaskResponse,
    BatonServiceGetTasksRequest as GetTasksRequest,
    BatonServiceGetTasksResponse as GetTasksResponse,
    BatonServiceHeartbeatRequest as HeartbeatRequest,
    BatonServiceHeartbeatResponse as HeartbeatResponse, BatonServiceHelloRequest as HelloRequest,
    BatonServiceHelloResponse as HelloResponse,
    BatonServiceUploadAssetRequest as UploadAssetRequest,
    BatonServiceUploadAssetResponse as UploadAssetResponse, BuildInfo, OsInfo,
    StartDebuggingRequest, StartDebuggingResponse, Task,
    baton_service_finish_task_request as finish_task_request,
    baton_service_upload_asset_request as upload_asset_request, task,
};

impl task::TaskType {
    /// The oneof's name in `baton.proto`, for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Self::None(_) => "none",
            Self::Hello(_) => "hello",
            Self::SyncFull(_) => "sync_full",
            Self::Grant(_) => "grant",
            Self::Revoke(_) => "revoke",
            Self::CreateAccount(_) => "create_account",
            Self::CreateResource(_) => "create_resource",
            Self::DeleteResource(_) => "delete_resource",
            Self::RotateCredentials(_) => "rotate_credentials",
            Self::EventFeed(_) => "event_feed",
            Self::CreateSyncDiff(_) => "create_sync_diff",
            Self::CompactSyncs(_) => "compact_syncs",
        }
    }
}
