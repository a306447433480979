//! `c1.connectorapi.baton.v1`: the BatonService requests, responses and
//! tasks (field numbers from `baton.proto`).

use crate::connector::{
    AccountInfo, ConnectorMetadata, CredentialOptions, EncryptionConfig, Entitlement, Grant,
    Resource, ResourceId,
};
use crate::rpc::Status;
use prost_types::{Any, Duration, Timestamp};

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct BuildInfo {
    #[prost(string, tag = "1")]
    pub lang_version: String,
    #[prost(string, tag = "2")]
    pub package: String,
    #[prost(string, tag = "3")]
    pub package_version: String,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct OsInfo {
    #[prost(string, tag = "1")]
    pub hostname: String,
    #[prost(string, tag = "2")]
    pub os: String,
    #[prost(string, tag = "3")]
    pub platform: String,
    #[prost(string, tag = "4")]
    pub platform_version: String,
    #[prost(string, tag = "5")]
    pub platform_family: String,
    #[prost(string, tag = "6")]
    pub kernel_version: String,
    #[prost(string, tag = "7")]
    pub kernel_arch: String,
    #[prost(string, tag = "8")]
    pub virtualization_system: String,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct HelloRequest {
    #[prost(string, tag = "1")]
    pub host_id: String,
    #[prost(string, tag = "2")]
    pub task_id: String,
    #[prost(message, optional, tag = "3")]
    pub build_info: Option<BuildInfo>,
    #[prost(message, optional, tag = "4")]
    pub os_info: Option<OsInfo>,
    #[prost(message, optional, tag = "5")]
    pub connector_metadata: Option<ConnectorMetadata>,
    #[prost(message, repeated, tag = "6")]
    pub annotations: Vec<Any>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct HelloResponse {
    #[prost(message, repeated, tag = "1")]
    pub annotations: Vec<Any>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct GetTaskRequest {
    #[prost(string, tag = "1")]
    pub host_id: String,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct GetTaskResponse {
    #[prost(message, optional, tag = "1")]
    pub task: Option<Task>,
    #[prost(message, optional, tag = "2")]
    pub next_poll: Option<Duration>,
    #[prost(message, optional, tag = "3")]
    pub next_heartbeat: Option<Duration>,
    #[prost(message, repeated, tag = "4")]
    pub annotations: Vec<Any>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct HeartbeatRequest {
    #[prost(string, tag = "1")]
    pub host_id: String,
    #[prost(string, tag = "2")]
    pub task_id: String,
    #[prost(message, repeated, tag = "3")]
    pub annotations: Vec<Any>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct HeartbeatResponse {
    #[prost(message, optional, tag = "1")]
    pub next_heartbeat: Option<Duration>,
    #[prost(bool, tag = "2")]
    pub cancelled: bool,
    #[prost(message, repeated, tag = "3")]
    pub annotations: Vec<Any>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct UploadAssetRequest {
    #[prost(oneof = "upload_asset_request::Msg", tags = "100, 101, 102")]
    pub msg: Option<upload_asset_request::Msg>,
}

pub mod upload_asset_request {
    use prost_types::Any;

    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Msg {
        #[prost(message, tag = "100")]
        Metadata(UploadMetadata),
        #[prost(message, tag = "101")]
        Data(UploadData),
        #[prost(message, tag = "102")]
        Eof(UploadEof),
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct UploadMetadata {
        #[prost(string, tag = "1")]
        pub host_id: String,
        #[prost(string, tag = "2")]
        pub task_id: String,
        #[prost(message, repeated, tag = "4")]
        pub annotations: Vec<Any>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct UploadData {
        #[prost(bytes = "vec", tag = "1")]
        pub data: Vec<u8>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct UploadEof {
        #[prost(bytes = "vec", tag = "1")]
        pub sha256_checksum: Vec<u8>,
        #[prost(message, repeated, tag = "2")]
        pub annotations: Vec<Any>,
    }
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct UploadAssetResponse {
    #[prost(message, repeated, tag = "1")]
    pub annotations: Vec<Any>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct FinishTaskRequest {
    #[prost(string, tag = "1")]
    pub host_id: String,
    #[prost(string, tag = "2")]
    pub task_id: String,
    #[prost(message, optional, tag = "3")]
    pub status: Option<Status>,
    #[prost(oneof = "finish_task_request::FinalState", tags = "100, 101")]
    pub final_state: Option<finish_task_request::FinalState>,
}

pub mod finish_task_request {
    use prost_types::Any;

    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum FinalState {
        #[prost(message, tag = "100")]
        Error(Error),
        #[prost(message, tag = "101")]
        Success(Success),
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Error {
        #[prost(bool, tag = "1")]
        pub non_retryable: bool,
        #[prost(message, repeated, tag = "2")]
        pub annotations: Vec<Any>,
        #[prost(message, optional, tag = "3")]
        pub response: Option<Any>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Success {
        #[prost(message, repeated, tag = "1")]
        pub annotations: Vec<Any>,
        #[prost(message, optional, tag = "2")]
        pub response: Option<Any>,
    }
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct FinishTaskResponse {
    #[prost(message, repeated, tag = "1")]
    pub annotations: Vec<Any>,
}

/// A unit of work ConductorOne hands out.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Task {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(int32, tag = "2")]
    pub status: i32,
    #[prost(bool, tag = "3")]
    pub debug: bool,
    #[prost(
        oneof = "task::TaskType",
        tags = "100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 119, 120"
    )]
    pub task_type: Option<task::TaskType>,
}

pub mod task {
    use super::*;

    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum TaskType {
        #[prost(message, tag = "100")]
        None(NoneTask),
        #[prost(message, tag = "101")]
        Hello(HelloTask),
        #[prost(message, tag = "102")]
        SyncFull(SyncFullTask),
        #[prost(message, tag = "103")]
        Grant(GrantTask),
        #[prost(message, tag = "104")]
        Revoke(RevokeTask),
        #[prost(message, tag = "105")]
        CreateAccount(CreateAccountTask),
        #[prost(message, tag = "106")]
        CreateResource(CreateResourceTask),
        #[prost(message, tag = "107")]
        DeleteResource(DeleteResourceTask),
        #[prost(message, tag = "108")]
        RotateCredentials(RotateCredentialsTask),
        #[prost(message, tag = "109")]
        EventFeed(EventFeedTask),
        #[prost(message, tag = "119")]
        CreateSyncDiff(CreateSyncDiffTask),
        #[prost(message, tag = "120")]
        CompactSyncs(CompactSyncsTask),
    }

    impl TaskType {
        /// The oneof's name in `baton.proto`, for logs and errors.
        pub fn name(&self) -> &'static str {
            match self {
                TaskType::None(_) => "none",
                TaskType::Hello(_) => "hello",
                TaskType::SyncFull(_) => "sync_full",
                TaskType::Grant(_) => "grant",
                TaskType::Revoke(_) => "revoke",
                TaskType::CreateAccount(_) => "create_account",
                TaskType::CreateResource(_) => "create_resource",
                TaskType::DeleteResource(_) => "delete_resource",
                TaskType::RotateCredentials(_) => "rotate_credentials",
                TaskType::EventFeed(_) => "event_feed",
                TaskType::CreateSyncDiff(_) => "create_sync_diff",
                TaskType::CompactSyncs(_) => "compact_syncs",
            }
        }
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct NoneTask {
        #[prost(message, repeated, tag = "1")]
        pub annotations: Vec<Any>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct HelloTask {
        #[prost(message, repeated, tag = "1")]
        pub annotations: Vec<Any>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct SyncFullTask {
        #[prost(message, repeated, tag = "1")]
        pub annotations: Vec<Any>,
        #[prost(bool, tag = "2")]
        pub skip_expand_grants: bool,
        #[prost(bool, tag = "3")]
        pub skip_entitlements_and_grants: bool,
        #[prost(message, repeated, tag = "4")]
        pub targeted_sync_resources: Vec<Resource>,
        #[prost(string, repeated, tag = "5")]
        pub sync_resource_type_ids: Vec<String>,
        #[prost(bool, tag = "6")]
        pub skip_grants: bool,
        #[prost(string, tag = "7")]
        pub storage_engine: String,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct GrantTask {
        #[prost(message, optional, tag = "1")]
        pub entitlement: Option<Entitlement>,
        #[prost(message, optional, tag = "2")]
        pub principal: Option<Resource>,
        #[prost(message, repeated, tag = "3")]
        pub annotations: Vec<Any>,
        #[prost(message, optional, tag = "4")]
        pub duration: Option<Duration>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct RevokeTask {
        #[prost(message, optional, tag = "1")]
        pub grant: Option<Grant>,
        #[prost(message, repeated, tag = "2")]
        pub annotations: Vec<Any>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct CreateAccountTask {
        #[prost(message, optional, tag = "1")]
        pub account_info: Option<AccountInfo>,
        #[prost(message, optional, tag = "2")]
        pub credential_options: Option<CredentialOptions>,
        #[prost(message, repeated, tag = "3")]
        pub encryption_configs: Vec<EncryptionConfig>,
        #[prost(string, optional, tag = "4")]
        pub resource_type_id: Option<String>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct CreateResourceTask {
        #[prost(message, optional, tag = "1")]
        pub resource: Option<Resource>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct DeleteResourceTask {
        #[prost(message, optional, tag = "1")]
        pub resource_id: Option<ResourceId>,
        #[prost(message, optional, tag = "2")]
        pub parent_resource_id: Option<ResourceId>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct RotateCredentialsTask {
        #[prost(message, optional, tag = "1")]
        pub resource_id: Option<ResourceId>,
        #[prost(message, optional, tag = "2")]
        pub credential_options: Option<CredentialOptions>,
        #[prost(message, repeated, tag = "3")]
        pub encryption_configs: Vec<EncryptionConfig>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct EventFeedTask {
        #[prost(message, repeated, tag = "1")]
        pub annotations: Vec<Any>,
        #[prost(message, optional, tag = "2")]
        pub start_at: Option<Timestamp>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct CreateSyncDiffTask {
        #[prost(string, tag = "1")]
        pub base_sync_id: String,
        #[prost(string, tag = "2")]
        pub new_sync_id: String,
        #[prost(message, repeated, tag = "3")]
        pub annotations: Vec<Any>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct CompactSyncsTask {
        #[prost(message, repeated, tag = "1")]
        pub compactable_syncs: Vec<CompactableSync>,
        #[prost(message, repeated, tag = "2")]
        pub annotations: Vec<Any>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct CompactableSync {
        #[prost(string, tag = "1")]
        pub file_path: String,
        #[prost(string, tag = "2")]
        pub sync_id: String,
    }
}
