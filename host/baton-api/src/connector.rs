//! `c1.connector.v2` messages that provisioning tasks carry and their results
//! return. The data messages (Resource, Entitlement, Grant, metadata) are the
//! c1z crate's; these are the request and response shapes around them.

pub use c1z::pb::{ConnectorMetadata, Entitlement, Grant, Resource, ResourceId};
use prost_types::{Any, Struct};

/// Full protobuf names of the task results, for `Any` type URLs.
pub mod names {
    pub const GRANT_RESPONSE: &str = "c1.connector.v2.GrantManagerServiceGrantResponse";
    pub const REVOKE_RESPONSE: &str = "c1.connector.v2.GrantManagerServiceRevokeResponse";
    pub const CREATE_ACCOUNT_RESPONSE: &str = "c1.connector.v2.CreateAccountResponse";
    pub const DELETE_RESOURCE_RESPONSE: &str = "c1.connector.v2.DeleteResourceResponse";
    pub const GRANT_ALREADY_EXISTS: &str = "c1.connector.v2.GrantAlreadyExists";
    pub const GRANT_ALREADY_REVOKED: &str = "c1.connector.v2.GrantAlreadyRevoked";
}

/// `AccountInfo`: who to create.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct AccountInfo {
    #[prost(message, repeated, tag = "1")]
    pub emails: Vec<account_info::Email>,
    #[prost(string, tag = "2")]
    pub login: String,
    #[prost(string, repeated, tag = "3")]
    pub login_aliases: Vec<String>,
    #[prost(message, optional, tag = "4")]
    pub profile: Option<Struct>,
}

pub mod account_info {
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Email {
        #[prost(string, tag = "1")]
        pub address: String,
        #[prost(bool, tag = "2")]
        pub is_primary: bool,
    }
}

/// `CredentialOptions`: how the new account's credential is chosen.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CredentialOptions {
    #[prost(bool, tag = "1")]
    pub force_change_at_next_login: bool,
    #[prost(oneof = "credential_options::Options", tags = "100, 101, 102")]
    pub options: Option<credential_options::Options>,
}

pub mod credential_options {
    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Options {
        #[prost(message, tag = "100")]
        RandomPassword(RandomPassword),
        #[prost(message, tag = "101")]
        NoPassword(NoPassword),
        #[prost(message, tag = "102")]
        Sso(Sso),
    }

    /// Baton's proto allows lengths 8 to 64.
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct RandomPassword {
        #[prost(int64, tag = "1")]
        pub length: i64,
        #[prost(message, repeated, tag = "2")]
        pub constraints: Vec<super::PasswordConstraint>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct NoPassword {}

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Sso {
        #[prost(string, tag = "1")]
        pub sso_provider: String,
    }
}

/// `PasswordConstraint`: at least `min_count` characters of a generated
/// password come from `char_set`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PasswordConstraint {
    #[prost(string, tag = "1")]
    pub char_set: String,
    #[prost(uint32, tag = "2")]
    pub min_count: u32,
}

/// `EncryptionConfig`: whom a generated secret must be encrypted to.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct EncryptionConfig {
    #[prost(message, optional, tag = "1")]
    pub principal: Option<Resource>,
    #[prost(string, tag = "2")]
    pub provider: String,
    #[prost(string, tag = "3")]
    pub key_id: String,
    #[prost(oneof = "encryption_config::Config", tags = "100, 101")]
    pub config: Option<encryption_config::Config>,
}

pub mod encryption_config {
    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Config {
        #[prost(message, tag = "100")]
        JwkPublicKeyConfig(JwkPublicKeyConfig),
        #[prost(message, tag = "101")]
        AgeRecipientConfig(AgeRecipientConfig),
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct JwkPublicKeyConfig {
        #[prost(bytes = "vec", tag = "1")]
        pub pub_key: Vec<u8>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct AgeRecipientConfig {
        #[prost(string, tag = "1")]
        pub recipient: String,
    }
}

/// `EncryptedData`: a generated secret, encrypted to one recipient.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct EncryptedData {
    #[prost(string, tag = "1")]
    pub provider: String,
    #[prost(string, tag = "2")]
    pub key_id: String,
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(string, tag = "4")]
    pub description: String,
    #[prost(string, tag = "5")]
    pub schema: String,
    #[prost(bytes = "vec", tag = "6")]
    pub encrypted_bytes: Vec<u8>,
    #[prost(string, repeated, tag = "7")]
    pub key_ids: Vec<String>,
}

/// `GrantManagerServiceGrantResponse`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct GrantResponse {
    #[prost(message, repeated, tag = "1")]
    pub annotations: Vec<Any>,
    #[prost(message, repeated, tag = "2")]
    pub grants: Vec<Grant>,
}

/// `GrantManagerServiceRevokeResponse`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct RevokeResponse {
    #[prost(message, repeated, tag = "1")]
    pub annotations: Vec<Any>,
}

/// `DeleteResourceResponse`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct DeleteResourceResponse {
    #[prost(message, repeated, tag = "1")]
    pub annotations: Vec<Any>,
}

/// `CreateAccountResponse`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CreateAccountResponse {
    #[prost(message, repeated, tag = "2")]
    pub encrypted_data: Vec<EncryptedData>,
    #[prost(message, repeated, tag = "3")]
    pub annotations: Vec<Any>,
    #[prost(oneof = "create_account_response::Result", tags = "100, 101, 102, 103")]
    pub result: Option<create_account_response::Result>,
}

pub mod create_account_response {
    use super::Resource;

    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Result {
        #[prost(message, tag = "100")]
        Success(SuccessResult),
        #[prost(message, tag = "101")]
        ActionRequired(ActionRequiredResult),
        #[prost(message, tag = "102")]
        AlreadyExists(AlreadyExistsResult),
        #[prost(message, tag = "103")]
        InProgress(InProgressResult),
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct SuccessResult {
        #[prost(message, optional, tag = "1")]
        pub resource: Option<Resource>,
        #[prost(bool, tag = "2")]
        pub is_create_account_result: bool,
        #[prost(message, optional, tag = "3")]
        pub invitation_expires_at: Option<prost_types::Timestamp>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct ActionRequiredResult {
        #[prost(message, optional, tag = "1")]
        pub resource: Option<Resource>,
        #[prost(string, tag = "2")]
        pub message: String,
        #[prost(bool, tag = "3")]
        pub is_create_account_result: bool,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct AlreadyExistsResult {
        #[prost(message, optional, tag = "1")]
        pub resource: Option<Resource>,
        #[prost(bool, tag = "2")]
        pub is_create_account_result: bool,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct InProgressResult {
        #[prost(message, optional, tag = "1")]
        pub resource: Option<Resource>,
        #[prost(bool, tag = "2")]
        pub is_create_account_result: bool,
    }
}
