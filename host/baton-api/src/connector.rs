//! `c1.connector.v2` messages that provisioning tasks carry and their results
//! return. They are declared with the rest of Baton's schema in the c1z
//! crate's `.proto` files and generated there; this module names them as the
//! host's service mode uses them.

pub use c1z::pb::{
    AccountInfo, ConnectorMetadata, CreateAccountResponse, CredentialOptions,
    DeleteResourceResponse, EncryptedData, EncryptionConfig, Entitlement, Grant,
    GrantManagerServiceGrantResponse as GrantResponse,
    GrantManagerServiceRevokeResponse as RevokeResponse, PasswordConstraint, Resource, ResourceId,
    account_info, create_account_response, credential_options, encryption_config,
};

/// Full protobuf names of the task results, for `Any` type URLs.
pub mod names {
    pub const GRANT_RESPONSE: &str = "c1.connector.v2.GrantManagerServiceGrantResponse";
    pub const REVOKE_RESPONSE: &str = "c1.connector.v2.GrantManagerServiceRevokeResponse";
    pub const CREATE_ACCOUNT_RESPONSE: &str = "c1.connector.v2.CreateAccountResponse";
    pub const DELETE_RESOURCE_RESPONSE: &str = "c1.connector.v2.DeleteResourceResponse";
    pub const GRANT_ALREADY_EXISTS: &str = "c1.connector.v2.GrantAlreadyExists";
    pub const GRANT_ALREADY_REVOKED: &str = "c1.connector.v2.GrantAlreadyRevoked";
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Name;

    #[test]
    fn result_names_are_the_declared_full_names() {
        assert_eq!(names::GRANT_RESPONSE, GrantResponse::full_name());
        assert_eq!(names::REVOKE_RESPONSE, RevokeResponse::full_name());
        assert_eq!(
            names::CREATE_ACCOUNT_RESPONSE,
            CreateAccountResponse::full_name()
        );
        assert_eq!(
            names::DELETE_RESOURCE_RESPONSE,
            DeleteResourceResponse::full_name()
        );
        assert_eq!(
            names::GRANT_ALREADY_EXISTS,
            c1z::pb::GrantAlreadyExists::full_name()
        );
        assert_eq!(
            names::GRANT_ALREADY_REVOKED,
            c1z::pb::GrantAlreadyRevoked::full_name()
        );
    }
}
