//! Protobuf messages of package `c1.connector.v2`, written by hand.
//!
//! Decision: the structs are declared with `#[derive(prost::Message)]` and explicit
//! tags instead of being generated, because the build machines have no `protoc`
//! and the c1z contract is only the wire format (field numbers and types from
//! the Baton protos), not the generated code. prost encodes fields in ascending
//! tag order like Go, map fields use `BTreeMap` and `prost_types::Struct` is
//! BTreeMap-backed, so encoding is deterministic: the same record always gives
//! the same bytes, which sync diffs depend on.
//!
//! Fields whose wire type the reference does not pin down are left out; prost
//! skips unknown fields when decoding, so files that carry them still decode.
//!
//! Nested messages and enums live in snake_case modules named after their
//! parent, as prost-build would lay them out (`resource_type::Trait`,
//! `user_trait::Email`, `entitlement::PurposeValue`, ...).

use std::collections::BTreeMap;

pub use prost_types::{Any, ListValue, Struct, Timestamp, Value, value::Kind as ValueKind};

/// Package of every message in this module.
pub const PACKAGE: &str = "c1.connector.v2";
/// Prefix of every `Any.type_url` Baton writes.
pub const TYPE_URL_PREFIX: &str = "type.googleapis.com/";

/// Declares a proto3 enum with its protobuf value names (used by the JSON
/// rendering, which prints enum names like protojson does).
macro_rules! proto_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $num:literal => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
        #[repr(i32)]
        pub enum $name {
            $($variant = $num),+
        }

        impl $name {
            /// The value's name as declared in the `.proto` file.
            pub fn as_str_name(&self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// Parses a value name as declared in the `.proto` file.
            pub fn from_str_name(name: &str) -> Option<Self> {
                match name {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }

            /// Name of a raw wire value, if it is a known value.
            pub fn name_of(value: i32) -> Option<&'static str> {
                Self::try_from(value).ok().map(|v| v.as_str_name())
            }
        }
    };
}

/// Gives a message its protobuf full name and the Baton `Any` type URL.
macro_rules! proto_name {
    ($($ty:ty => $name:literal),+ $(,)?) => {
        $(
            impl ::prost::Name for $ty {
                const NAME: &'static str = $name;
                const PACKAGE: &'static str = PACKAGE;
                fn full_name() -> String {
                    format!("{}.{}", PACKAGE, $name)
                }
                fn type_url() -> String {
                    format!("{}{}.{}", TYPE_URL_PREFIX, PACKAGE, $name)
                }
            }
        )+
    };
}

// ---------------------------------------------------------------------------
// asset.proto

/// `c1.connector.v2.AssetRef`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct AssetRef {
    #[prost(string, tag = "1")]
    pub id: String,
}

// ---------------------------------------------------------------------------
// resource.proto

/// `c1.connector.v2.ResourceType`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ResourceType {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub display_name: String,
    /// Packed repeated enum `resource_type::Trait`.
    #[prost(enumeration = "resource_type::Trait", repeated, tag = "3")]
    pub traits: Vec<i32>,
    #[prost(message, repeated, tag = "4")]
    pub annotations: Vec<Any>,
    #[prost(string, tag = "5")]
    pub description: String,
    #[prost(bool, tag = "6")]
    pub sourced_externally: bool,
}

pub mod resource_type {
    proto_enum! {
        /// `c1.connector.v2.ResourceType.Trait`
        Trait {
            Unspecified = 0 => "TRAIT_UNSPECIFIED",
            User = 1 => "TRAIT_USER",
            Group = 2 => "TRAIT_GROUP",
            Role = 3 => "TRAIT_ROLE",
            App = 4 => "TRAIT_APP",
            Secret = 5 => "TRAIT_SECRET",
            SecurityInsight = 6 => "TRAIT_SECURITY_INSIGHT",
            ScopeBinding = 7 => "TRAIT_SCOPE_BINDING",
            Vendor = 8 => "TRAIT_VENDOR",
            VendorAgreement = 9 => "TRAIT_VENDOR_AGREEMENT",
            LicenseProfile = 10 => "TRAIT_LICENSE_PROFILE",
            Agent = 11 => "TRAIT_AGENT",
            ManagedDevice = 12 => "TRAIT_MANAGED_DEVICE",
        }
    }
}

/// `c1.connector.v2.ResourceId`
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Message)]
pub struct ResourceId {
    #[prost(string, tag = "1")]
    pub resource_type: String,
    #[prost(string, tag = "2")]
    pub resource: String,
    #[prost(bool, tag = "3")]
    pub baton_resource: bool,
}

impl ResourceId {
    /// A resource id of type `resource_type` and native id `resource`.
    pub fn new(resource_type: impl Into<String>, resource: impl Into<String>) -> Self {
        ResourceId {
            resource_type: resource_type.into(),
            resource: resource.into(),
            baton_resource: false,
        }
    }

    /// The `v1_resources.external_id` of this resource: `"<type>:<id>"`.
    pub fn external_id(&self) -> String {
        format!("{}:{}", self.resource_type, self.resource)
    }
}

/// `c1.connector.v2.Resource`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Resource {
    #[prost(message, optional, tag = "1")]
    pub id: Option<ResourceId>,
    #[prost(message, optional, tag = "2")]
    pub parent_resource_id: Option<ResourceId>,
    #[prost(string, tag = "3")]
    pub display_name: String,
    #[prost(message, repeated, tag = "4")]
    pub annotations: Vec<Any>,
    #[prost(string, tag = "5")]
    pub description: String,
    #[prost(bool, tag = "6")]
    pub baton_resource: bool,
    /// Deprecated upstream, still read.
    #[prost(message, optional, tag = "7")]
    pub external_id: Option<ExternalId>,
    /// Deprecated upstream; 2024–2026 SDKs set 1 on listed resources.
    #[prost(enumeration = "resource::CreationSource", tag = "8")]
    pub creation_source: i32,
    #[prost(message, optional, tag = "9")]
    pub profile: Option<Struct>,
    #[prost(message, optional, tag = "10")]
    pub icon: Option<AssetRef>,
    #[prost(message, optional, tag = "11")]
    pub status: Option<Status>,
    #[prost(message, optional, tag = "12")]
    pub created_at: Option<Timestamp>,
}

pub mod resource {
    proto_enum! {
        /// `c1.connector.v2.Resource.CreationSource`
        CreationSource {
            Unspecified = 0 => "CREATION_SOURCE_UNSPECIFIED",
            ConnectorListResources = 1 => "CREATION_SOURCE_CONNECTOR_LIST_RESOURCES",
            ConnectorListGrantsPrincipalJit = 2 => "CREATION_SOURCE_CONNECTOR_LIST_GRANTS_PRINCIPAL_JIT",
        }
    }
}

/// `c1.connector.v2.ExternalId`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ExternalId {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub link: String,
    #[prost(string, tag = "3")]
    pub description: String,
}

/// `c1.connector.v2.Status` (resource-level status).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Status {
    #[prost(enumeration = "status::ResourceStatus", tag = "1")]
    pub status: i32,
    #[prost(string, tag = "2")]
    pub details: String,
}

pub mod status {
    proto_enum! {
        /// `c1.connector.v2.Status.ResourceStatus`
        ResourceStatus {
            Unspecified = 0 => "RESOURCE_STATUS_UNSPECIFIED",
            Enabled = 1 => "RESOURCE_STATUS_ENABLED",
            Disabled = 2 => "RESOURCE_STATUS_DISABLED",
            Deleted = 3 => "RESOURCE_STATUS_DELETED",
        }
    }
}

// ---------------------------------------------------------------------------
// entitlement.proto

/// `c1.connector.v2.Entitlement`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Entitlement {
    /// The full resource the entitlement is on.
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(string, tag = "2")]
    pub id: String,
    #[prost(string, tag = "3")]
    pub display_name: String,
    #[prost(string, tag = "4")]
    pub description: String,
    /// Full resource types that may hold the entitlement.
    #[prost(message, repeated, tag = "5")]
    pub grantable_to: Vec<ResourceType>,
    #[prost(message, repeated, tag = "6")]
    pub annotations: Vec<Any>,
    #[prost(enumeration = "entitlement::PurposeValue", tag = "7")]
    pub purpose: i32,
    #[prost(string, tag = "8")]
    pub slug: String,
}

pub mod entitlement {
    proto_enum! {
        /// `c1.connector.v2.Entitlement.PurposeValue`
        PurposeValue {
            Unspecified = 0 => "PURPOSE_VALUE_UNSPECIFIED",
            Assignment = 1 => "PURPOSE_VALUE_ASSIGNMENT",
            Permission = 2 => "PURPOSE_VALUE_PERMISSION",
            Ownership = 3 => "PURPOSE_VALUE_OWNERSHIP",
        }
    }

    /// Short alias used by the host.
    pub type Purpose = PurposeValue;
}

// ---------------------------------------------------------------------------
// grant.proto

/// `c1.connector.v2.GrantSources`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct GrantSources {
    /// Sorted map, so encoding is deterministic.
    #[prost(btree_map = "string, message", tag = "1")]
    pub sources: BTreeMap<String, grant_sources::GrantSource>,
}

pub mod grant_sources {
    /// `c1.connector.v2.GrantSources.GrantSource`
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct GrantSource {
        #[prost(bool, tag = "1")]
        pub is_direct: bool,
    }
}

pub use grant_sources::GrantSource;

/// `c1.connector.v2.Grant`. `sources` (5) is declared before `annotations`
/// (4) upstream; prost still encodes in tag order, as Go does.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Grant {
    /// Minimal entitlement: `id` and the full resource.
    #[prost(message, optional, tag = "1")]
    pub entitlement: Option<Entitlement>,
    /// Usually only `id` is set.
    #[prost(message, optional, tag = "2")]
    pub principal: Option<Resource>,
    #[prost(string, tag = "3")]
    pub id: String,
    #[prost(message, repeated, tag = "4")]
    pub annotations: Vec<Any>,
    #[prost(message, optional, tag = "5")]
    pub sources: Option<GrantSources>,
}

// ---------------------------------------------------------------------------
// annotation_trait.proto

/// `c1.connector.v2.UserTrait`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct UserTrait {
    #[prost(message, repeated, tag = "1")]
    pub emails: Vec<user_trait::Email>,
    #[prost(message, optional, tag = "2")]
    pub status: Option<user_trait::Status>,
    #[prost(message, optional, tag = "3")]
    pub profile: Option<Struct>,
    #[prost(message, optional, tag = "4")]
    pub icon: Option<AssetRef>,
    #[prost(enumeration = "user_trait::AccountType", tag = "5")]
    pub account_type: i32,
    #[prost(string, tag = "6")]
    pub login: String,
    #[prost(string, repeated, tag = "7")]
    pub login_aliases: Vec<String>,
    #[prost(message, optional, tag = "8")]
    pub created_at: Option<Timestamp>,
    #[prost(message, optional, tag = "9")]
    pub last_login: Option<Timestamp>,
    #[prost(message, optional, tag = "10")]
    pub mfa_status: Option<user_trait::MfaStatus>,
    #[prost(message, optional, tag = "11")]
    pub sso_status: Option<user_trait::SsoStatus>,
    #[prost(message, optional, tag = "12")]
    pub structured_name: Option<user_trait::StructuredName>,
    #[prost(string, repeated, tag = "13")]
    pub employee_ids: Vec<String>,
}

pub mod user_trait {
    /// `c1.connector.v2.UserTrait.Email`
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Email {
        #[prost(string, tag = "1")]
        pub address: String,
        #[prost(bool, tag = "2")]
        pub is_primary: bool,
    }

    /// `c1.connector.v2.UserTrait.Status`
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Status {
        #[prost(enumeration = "status::Status", tag = "1")]
        pub status: i32,
        #[prost(string, tag = "2")]
        pub details: String,
    }

    pub mod status {
        proto_enum! {
            /// `c1.connector.v2.UserTrait.Status.Status`
            Status {
                Unspecified = 0 => "STATUS_UNSPECIFIED",
                Enabled = 1 => "STATUS_ENABLED",
                Disabled = 2 => "STATUS_DISABLED",
                Deleted = 3 => "STATUS_DELETED",
            }
        }
    }

    proto_enum! {
        /// `c1.connector.v2.UserTrait.AccountType`
        AccountType {
            Unspecified = 0 => "ACCOUNT_TYPE_UNSPECIFIED",
            Human = 1 => "ACCOUNT_TYPE_HUMAN",
            Service = 2 => "ACCOUNT_TYPE_SERVICE",
            System = 3 => "ACCOUNT_TYPE_SYSTEM",
        }
    }

    /// `c1.connector.v2.UserTrait.MFAStatus`
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct MfaStatus {
        #[prost(bool, tag = "1")]
        pub mfa_enabled: bool,
    }

    /// `c1.connector.v2.UserTrait.SSOStatus`
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct SsoStatus {
        #[prost(bool, tag = "1")]
        pub sso_enabled: bool,
    }

    /// `c1.connector.v2.UserTrait.StructuredName`
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct StructuredName {
        #[prost(string, tag = "1")]
        pub given_name: String,
        #[prost(string, tag = "2")]
        pub family_name: String,
        #[prost(string, repeated, tag = "3")]
        pub middle_names: Vec<String>,
        #[prost(string, tag = "4")]
        pub prefix: String,
        #[prost(string, tag = "5")]
        pub suffix: String,
    }
}

/// `c1.connector.v2.GroupTrait`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct GroupTrait {
    #[prost(message, optional, tag = "1")]
    pub icon: Option<AssetRef>,
    #[prost(message, optional, tag = "2")]
    pub profile: Option<Struct>,
}

/// `c1.connector.v2.RoleTrait`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct RoleTrait {
    #[prost(message, optional, tag = "1")]
    pub profile: Option<Struct>,
}

// ---------------------------------------------------------------------------
// annotation_grant.proto, annotation_entitlement.proto

/// `c1.connector.v2.GrantExpandable`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct GrantExpandable {
    #[prost(string, repeated, tag = "1")]
    pub entitlement_ids: Vec<String>,
    #[prost(bool, tag = "2")]
    pub shallow: bool,
    #[prost(string, repeated, tag = "3")]
    pub resource_type_ids: Vec<String>,
}

/// `c1.connector.v2.GrantImmutable`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct GrantImmutable {
    #[prost(string, tag = "1")]
    pub source_id: String,
    #[prost(message, optional, tag = "2")]
    pub metadata: Option<Struct>,
}

/// `c1.connector.v2.GrantMetadata`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct GrantMetadata {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<Struct>,
}

/// `c1.connector.v2.GrantAlreadyExists`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct GrantAlreadyExists {}

/// `c1.connector.v2.GrantAlreadyRevoked`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct GrantAlreadyRevoked {}

/// `c1.connector.v2.EntitlementImmutable`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct EntitlementImmutable {
    #[prost(string, tag = "1")]
    pub source_id: String,
    #[prost(message, optional, tag = "2")]
    pub metadata: Option<Struct>,
}

// ---------------------------------------------------------------------------
// annotation_resource_tree.proto and small annotations

/// `c1.connector.v2.ChildResourceType`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ChildResourceType {
    #[prost(string, tag = "1")]
    pub resource_type_id: String,
}

/// `c1.connector.v2.SkipEntitlementsAndGrants`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SkipEntitlementsAndGrants {}

/// `c1.connector.v2.SkipGrants`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SkipGrants {}

/// `c1.connector.v2.SkipEntitlements`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SkipEntitlements {}

/// `c1.connector.v2.ExternalLink`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ExternalLink {
    #[prost(string, tag = "1")]
    pub url: String,
}

/// `c1.connector.v2.V1Identifier`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct V1Identifier {
    #[prost(string, tag = "1")]
    pub id: String,
}

/// `c1.connector.v2.RawId`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct RawId {
    #[prost(string, tag = "1")]
    pub id: String,
}

// ---------------------------------------------------------------------------
// connector.proto (metadata and capabilities, for the `capabilities` output)

/// `c1.connector.v2.ConnectorMetadata`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ConnectorMetadata {
    #[prost(string, tag = "1")]
    pub display_name: String,
    #[prost(string, tag = "2")]
    pub help_url: String,
    #[prost(message, optional, tag = "3")]
    pub icon: Option<AssetRef>,
    #[prost(message, optional, tag = "4")]
    pub logo: Option<AssetRef>,
    #[prost(message, optional, tag = "5")]
    pub profile: Option<Struct>,
    #[prost(message, repeated, tag = "6")]
    pub annotations: Vec<Any>,
    #[prost(string, tag = "7")]
    pub description: String,
    #[prost(message, optional, tag = "8")]
    pub capabilities: Option<ConnectorCapabilities>,
    #[prost(message, optional, tag = "9")]
    pub account_creation_schema: Option<ConnectorAccountCreationSchema>,
}

/// `c1.connector.v2.ConnectorCapabilities`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ConnectorCapabilities {
    #[prost(message, repeated, tag = "1")]
    pub resource_type_capabilities: Vec<ResourceTypeCapability>,
    #[prost(enumeration = "Capability", repeated, tag = "2")]
    pub connector_capabilities: Vec<i32>,
    #[prost(message, optional, tag = "3")]
    pub credential_details: Option<CredentialDetails>,
}

/// `c1.connector.v2.ResourceTypeCapability` (fields 1–3; later fields are
/// skipped on decode).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ResourceTypeCapability {
    #[prost(message, optional, tag = "1")]
    pub resource_type: Option<ResourceType>,
    #[prost(enumeration = "Capability", repeated, tag = "2")]
    pub capabilities: Vec<i32>,
    #[prost(message, optional, tag = "3")]
    pub permissions: Option<CapabilityPermissions>,
}

/// `c1.connector.v2.CapabilityPermissions`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CapabilityPermissions {
    #[prost(message, repeated, tag = "1")]
    pub permissions: Vec<CapabilityPermission>,
}

/// `c1.connector.v2.CapabilityPermission`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CapabilityPermission {
    #[prost(string, tag = "1")]
    pub permission: String,
}

proto_enum! {
    /// `c1.connector.v2.Capability`
    Capability {
        Unspecified = 0 => "CAPABILITY_UNSPECIFIED",
        Provision = 1 => "CAPABILITY_PROVISION",
        Sync = 2 => "CAPABILITY_SYNC",
        EventFeed = 3 => "CAPABILITY_EVENT_FEED",
        Ticketing = 4 => "CAPABILITY_TICKETING",
        AccountProvisioning = 5 => "CAPABILITY_ACCOUNT_PROVISIONING",
        CredentialRotation = 6 => "CAPABILITY_CREDENTIAL_ROTATION",
        ResourceCreate = 7 => "CAPABILITY_RESOURCE_CREATE",
        ResourceDelete = 8 => "CAPABILITY_RESOURCE_DELETE",
        SyncSecrets = 9 => "CAPABILITY_SYNC_SECRETS",
        Actions = 10 => "CAPABILITY_ACTIONS",
        TargetedSync = 11 => "CAPABILITY_TARGETED_SYNC",
        EventFeedV2 = 12 => "CAPABILITY_EVENT_FEED_V2",
        ServiceModeTargetedSync = 13 => "CAPABILITY_SERVICE_MODE_TARGETED_SYNC",
        CredentialIssue = 14 => "CAPABILITY_CREDENTIAL_ISSUE",
    }
}

proto_enum! {
    /// `c1.connector.v2.CapabilityDetailCredentialOption`
    CapabilityDetailCredentialOption {
        Unspecified = 0 => "CAPABILITY_DETAIL_CREDENTIAL_OPTION_UNSPECIFIED",
        NoPassword = 1 => "CAPABILITY_DETAIL_CREDENTIAL_OPTION_NO_PASSWORD",
        RandomPassword = 2 => "CAPABILITY_DETAIL_CREDENTIAL_OPTION_RANDOM_PASSWORD",
        Sso = 3 => "CAPABILITY_DETAIL_CREDENTIAL_OPTION_SSO",
        EncryptedPassword = 4 => "CAPABILITY_DETAIL_CREDENTIAL_OPTION_ENCRYPTED_PASSWORD",
        ApiKey = 5 => "CAPABILITY_DETAIL_CREDENTIAL_OPTION_API_KEY",
        Keypair = 6 => "CAPABILITY_DETAIL_CREDENTIAL_OPTION_KEYPAIR",
        Token = 7 => "CAPABILITY_DETAIL_CREDENTIAL_OPTION_TOKEN",
        ClientSecret = 8 => "CAPABILITY_DETAIL_CREDENTIAL_OPTION_CLIENT_SECRET",
    }
}

/// `c1.connector.v2.CredentialDetails`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CredentialDetails {
    #[prost(message, optional, tag = "1")]
    pub capability_account_provisioning: Option<CredentialDetailsAccountProvisioning>,
    #[prost(message, optional, tag = "2")]
    pub capability_credential_rotation: Option<CredentialDetailsCredentialRotation>,
}

/// `c1.connector.v2.CredentialDetailsAccountProvisioning`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CredentialDetailsAccountProvisioning {
    #[prost(enumeration = "CapabilityDetailCredentialOption", repeated, tag = "1")]
    pub supported_credential_options: Vec<i32>,
    #[prost(enumeration = "CapabilityDetailCredentialOption", tag = "2")]
    pub preferred_credential_option: i32,
}

/// `c1.connector.v2.CredentialDetailsCredentialRotation`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CredentialDetailsCredentialRotation {
    #[prost(enumeration = "CapabilityDetailCredentialOption", repeated, tag = "1")]
    pub supported_credential_options: Vec<i32>,
    #[prost(enumeration = "CapabilityDetailCredentialOption", tag = "2")]
    pub preferred_credential_option: i32,
}

/// `c1.connector.v2.ConnectorAccountCreationSchema`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ConnectorAccountCreationSchema {
    #[prost(btree_map = "string, message", tag = "1")]
    pub field_map: BTreeMap<String, connector_account_creation_schema::Field>,
}

pub mod connector_account_creation_schema {
    use std::collections::BTreeMap;

    /// `c1.connector.v2.ConnectorAccountCreationSchema.Field`
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Field {
        #[prost(string, tag = "1")]
        pub display_name: String,
        #[prost(bool, tag = "2")]
        pub required: bool,
        #[prost(string, tag = "3")]
        pub description: String,
        #[prost(string, tag = "4")]
        pub placeholder: String,
        #[prost(int32, tag = "5")]
        pub order: i32,
        #[prost(bool, tag = "6")]
        pub deprecated: bool,
        #[prost(oneof = "field::Field", tags = "100, 101, 102, 103, 104")]
        pub field: Option<field::Field>,
    }

    pub mod field {
        /// The typed part of a schema field (oneof `field`).
        #[derive(Clone, PartialEq, ::prost::Oneof)]
        pub enum Field {
            #[prost(message, tag = "100")]
            StringField(super::StringField),
            #[prost(message, tag = "101")]
            BoolField(super::BoolField),
            #[prost(message, tag = "102")]
            StringListField(super::StringListField),
            #[prost(message, tag = "103")]
            IntField(super::IntField),
            #[prost(message, tag = "104")]
            MapField(super::MapField),
        }
    }

    /// `...ConnectorAccountCreationSchema.StringField`
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct StringField {
        #[prost(string, optional, tag = "1")]
        pub default_value: Option<String>,
    }

    /// `...ConnectorAccountCreationSchema.BoolField`
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct BoolField {
        #[prost(bool, optional, tag = "1")]
        pub default_value: Option<bool>,
    }

    /// `...ConnectorAccountCreationSchema.StringListField`
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct StringListField {
        #[prost(string, repeated, tag = "1")]
        pub default_value: Vec<String>,
    }

    /// `...ConnectorAccountCreationSchema.IntField`
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct IntField {
        #[prost(int64, optional, tag = "1")]
        pub default_value: Option<i64>,
    }

    /// `...ConnectorAccountCreationSchema.MapField`
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct MapField {
        #[prost(btree_map = "string, message", tag = "1")]
        pub default_value: BTreeMap<String, Field>,
    }
}

proto_name! {
    AssetRef => "AssetRef",
    ResourceType => "ResourceType",
    ResourceId => "ResourceId",
    Resource => "Resource",
    ExternalId => "ExternalId",
    Status => "Status",
    Entitlement => "Entitlement",
    GrantSources => "GrantSources",
    Grant => "Grant",
    UserTrait => "UserTrait",
    GroupTrait => "GroupTrait",
    RoleTrait => "RoleTrait",
    GrantExpandable => "GrantExpandable",
    GrantImmutable => "GrantImmutable",
    GrantMetadata => "GrantMetadata",
    GrantAlreadyExists => "GrantAlreadyExists",
    GrantAlreadyRevoked => "GrantAlreadyRevoked",
    EntitlementImmutable => "EntitlementImmutable",
    ChildResourceType => "ChildResourceType",
    SkipEntitlementsAndGrants => "SkipEntitlementsAndGrants",
    SkipGrants => "SkipGrants",
    SkipEntitlements => "SkipEntitlements",
    ExternalLink => "ExternalLink",
    V1Identifier => "V1Identifier",
    RawId => "RawId",
    ConnectorMetadata => "ConnectorMetadata",
    ConnectorCapabilities => "ConnectorCapabilities",
    ResourceTypeCapability => "ResourceTypeCapability",
    CapabilityPermissions => "CapabilityPermissions",
    CredentialDetails => "CredentialDetails",
    CredentialDetailsAccountProvisioning => "CredentialDetailsAccountProvisioning",
    ConnectorAccountCreationSchema => "ConnectorAccountCreationSchema",
}

// ---------------------------------------------------------------------------
// Any helpers

/// The Baton type URL of message `T`.
pub fn type_url_of<T: prost::Name>() -> String {
    T::type_url()
}

/// Packs `msg` into an `Any` with the Baton type URL
/// (`type.googleapis.com/c1.connector.v2.<Msg>`).
pub fn pack_any<T: prost::Message + prost::Name>(msg: &T) -> Any {
    Any {
        type_url: T::type_url(),
        value: msg.encode_to_vec(),
    }
}

/// Unpacks `any` as `T`: `Ok(None)` if the type URL names another message,
/// `Err` if it names `T` but the bytes do not decode.
pub fn unpack_any<T: prost::Message + prost::Name + Default>(
    any: &Any,
) -> Result<Option<T>, prost::DecodeError> {
    if !type_url_matches::<T>(&any.type_url) {
        return Ok(None);
    }
    T::decode(any.value.as_slice()).map(Some)
}

/// First annotation of type `T` in `annotations`, decoded.
pub fn find_annotation<T: prost::Message + prost::Name + Default>(
    annotations: &[Any],
) -> Result<Option<T>, prost::DecodeError> {
    for any in annotations {
        if let Some(msg) = unpack_any::<T>(any)? {
            return Ok(Some(msg));
        }
    }
    Ok(None)
}

/// True if `annotations` holds an annotation of type `T`.
pub fn has_annotation<T: prost::Name>(annotations: &[Any]) -> bool {
    annotations
        .iter()
        .any(|a| type_url_matches::<T>(&a.type_url))
}

/// Accepts any type-URL host (`type.googleapis.com/`, a bare `/`, ...) as long
/// as the part after the last `/` is the message's full name.
fn type_url_matches<T: prost::Name>(url: &str) -> bool {
    let name = url.rsplit('/').next().unwrap_or(url);
    name == T::full_name()
}

// ---------------------------------------------------------------------------
// JSON <-> google.protobuf.Struct

/// Converts a JSON object into a `Struct`. `None` if `json` is not an object.
/// Numbers become doubles, as in protobuf's own JSON mapping.
pub fn json_to_struct(json: &serde_json::Value) -> Option<Struct> {
    match json {
        serde_json::Value::Object(map) => Some(Struct {
            fields: map
                .iter()
                .map(|(k, v)| (k.clone(), json_to_value(v)))
                .collect(),
        }),
        _ => None,
    }
}

/// Converts any JSON value into a `google.protobuf.Value`.
pub fn json_to_value(json: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    let kind = match json {
        J::Null => ValueKind::NullValue(0),
        J::Bool(b) => ValueKind::BoolValue(*b),
        J::Number(n) => ValueKind::NumberValue(n.as_f64().unwrap_or(0.0)),
        J::String(s) => ValueKind::StringValue(s.clone()),
        J::Array(items) => ValueKind::ListValue(ListValue {
            values: items.iter().map(json_to_value).collect(),
        }),
        J::Object(_) => ValueKind::StructValue(json_to_struct(json).unwrap_or_default()),
    };
    Value { kind: Some(kind) }
}

/// Converts a `Struct` back into a JSON object.
pub fn struct_to_json(s: &Struct) -> serde_json::Value {
    serde_json::Value::Object(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), value_to_json(v)))
            .collect(),
    )
}

/// Converts a `google.protobuf.Value` into JSON. Whole-number doubles that fit
/// an i64 become JSON integers so ids stay readable.
pub fn value_to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match &v.kind {
        None | Some(ValueKind::NullValue(_)) => J::Null,
        Some(ValueKind::BoolValue(b)) => J::Bool(*b),
        Some(ValueKind::NumberValue(n)) => number_to_json(*n),
        Some(ValueKind::StringValue(s)) => J::String(s.clone()),
        Some(ValueKind::ListValue(l)) => J::Array(l.values.iter().map(value_to_json).collect()),
        Some(ValueKind::StructValue(s)) => struct_to_json(s),
    }
}

fn number_to_json(n: f64) -> serde_json::Value {
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        serde_json::Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn resource_type_traits_are_packed() {
        let rt = ResourceType {
            id: "user".into(),
            traits: vec![resource_type::Trait::User as i32],
            ..Default::default()
        };
        let bytes = rt.encode_to_vec();
        // field 1 "user", then field 3 packed: 1a 01 01
        assert_eq!(bytes, b"\x0a\x04user\x1a\x01\x01");
    }

    #[test]
    fn grant_encodes_annotations_before_sources() {
        let g = Grant {
            id: "g".into(),
            annotations: vec![pack_any(&GrantImmutable::default())],
            sources: Some(GrantSources {
                sources: [("b".to_string(), GrantSource { is_direct: true })]
                    .into_iter()
                    .collect(),
            }),
            ..Default::default()
        };
        let bytes = g.encode_to_vec();
        let pos4 = bytes.iter().position(|b| *b == 0x22).unwrap();
        let pos5 = bytes.iter().position(|b| *b == 0x2a).unwrap();
        assert!(pos4 < pos5, "tag 4 must precede tag 5: {bytes:02x?}");
    }

    #[test]
    fn map_entries_are_sorted() {
        let mut sources = BTreeMap::new();
        for k in ["zeta", "alpha", "mid"] {
            sources.insert(k.to_string(), GrantSource { is_direct: false });
        }
        let a = GrantSources { sources }.encode_to_vec();
        let mut again = BTreeMap::new();
        for k in ["mid", "zeta", "alpha"] {
            again.insert(k.to_string(), GrantSource { is_direct: false });
        }
        assert_eq!(a, GrantSources { sources: again }.encode_to_vec());
        let alpha = a.windows(5).position(|w| w == b"alpha").unwrap();
        let zeta = a.windows(4).position(|w| w == b"zeta").unwrap();
        assert!(alpha < zeta);
    }

    #[test]
    fn any_roundtrip_and_type_url() {
        let ut = UserTrait {
            login: "alice".into(),
            ..Default::default()
        };
        let any = pack_any(&ut);
        assert_eq!(
            any.type_url,
            "type.googleapis.com/c1.connector.v2.UserTrait"
        );
        assert_eq!(unpack_any::<UserTrait>(&any).unwrap(), Some(ut));
        assert_eq!(unpack_any::<GroupTrait>(&any).unwrap(), None);
        assert!(has_annotation::<UserTrait>(std::slice::from_ref(&any)));
        let bad = Any {
            type_url: any.type_url.clone(),
            value: vec![0xff, 0xff],
        };
        assert!(unpack_any::<UserTrait>(&bad).is_err());
    }

    #[test]
    fn json_struct_roundtrip_is_sorted() {
        let json = serde_json::json!({"z": 1, "a": [true, null, "x"], "m": {"k": 2.5}});
        let s = json_to_struct(&json).unwrap();
        assert_eq!(s.fields.keys().collect::<Vec<_>>(), vec!["a", "m", "z"]);
        assert_eq!(struct_to_json(&s), json);
        assert!(json_to_struct(&serde_json::json!([1])).is_none());
    }

    #[test]
    fn enum_names() {
        assert_eq!(resource_type::Trait::name_of(2), Some("TRAIT_GROUP"));
        assert_eq!(
            entitlement::PurposeValue::from_str_name("PURPOSE_VALUE_ASSIGNMENT"),
            Some(entitlement::PurposeValue::Assignment)
        );
        assert_eq!(Capability::name_of(99), None);
    }
}
