//! A protojson-like rendering of the `pb` messages for `-o json` output.
//!
//! Decision: Baton's CLI prints protojson (lowerCamelCase names, enum value
//! names, `Any` inlined with an `@type` key, default values omitted). We have
//! no descriptor pool, so each message renders itself through the
//! [`ProtoJson`] trait. Known deviations, all harmless for reading:
//! * object keys come out sorted alphabetically (serde_json's map), not in
//!   field order; `@type` still sorts first;
//! * an `Any` whose type this crate does not know is dropped, as the Go CLI
//!   drops annotations it cannot resolve;
//! * `Struct` numbers that are whole are printed as integers;
//! * 64-bit integers are printed as strings, as protojson does.

use serde_json::{Map, Value as J};

use crate::pb::{self, Any};

/// Renders a message as protojson-style JSON.
pub trait ProtoJson {
    fn to_json(&self) -> J;
}

/// Builder that omits proto3 default values, like protojson.
#[derive(Default)]
pub(crate) struct Obj(Map<String, J>);

impl Obj {
    pub(crate) fn new() -> Self {
        Obj(Map::new())
    }
    pub(crate) fn str(mut self, key: &str, v: &str) -> Self {
        if !v.is_empty() {
            self.0.insert(key.into(), J::String(v.into()));
        }
        self
    }
    pub(crate) fn bool(mut self, key: &str, v: bool) -> Self {
        if v {
            self.0.insert(key.into(), J::Bool(true));
        }
        self
    }
    pub(crate) fn int(mut self, key: &str, v: i64) -> Self {
        if v != 0 {
            self.0.insert(key.into(), J::from(v));
        }
        self
    }
    pub(crate) fn msg<T: ProtoJson>(mut self, key: &str, v: &Option<T>) -> Self {
        if let Some(m) = v {
            self.0.insert(key.into(), m.to_json());
        }
        self
    }
    pub(crate) fn list<T: ProtoJson>(mut self, key: &str, v: &[T]) -> Self {
        if !v.is_empty() {
            self.0.insert(
                key.into(),
                J::Array(v.iter().map(|m| m.to_json()).collect()),
            );
        }
        self
    }
    pub(crate) fn strs(mut self, key: &str, v: &[String]) -> Self {
        if !v.is_empty() {
            self.0.insert(
                key.into(),
                J::Array(v.iter().map(|s| J::String(s.clone())).collect()),
            );
        }
        self
    }
    pub(crate) fn annotations(mut self, key: &str, v: &[Any]) -> Self {
        let items: Vec<J> = v.iter().filter_map(any_to_json).collect();
        if !items.is_empty() {
            self.0.insert(key.into(), J::Array(items));
        }
        self
    }
    pub(crate) fn enum_(
        mut self,
        key: &str,
        v: i32,
        name: fn(i32) -> Option<&'static str>,
    ) -> Self {
        if v != 0 {
            self.0.insert(key.into(), enum_json(v, name));
        }
        self
    }
    pub(crate) fn enums(
        mut self,
        key: &str,
        v: &[i32],
        name: fn(i32) -> Option<&'static str>,
    ) -> Self {
        if !v.is_empty() {
            self.0.insert(
                key.into(),
                J::Array(v.iter().map(|x| enum_json(*x, name)).collect()),
            );
        }
        self
    }
    pub(crate) fn raw(mut self, key: &str, v: J) -> Self {
        self.0.insert(key.into(), v);
        self
    }
    pub(crate) fn build(self) -> J {
        J::Object(self.0)
    }
}

fn enum_json(v: i32, name: fn(i32) -> Option<&'static str>) -> J {
    match name(v) {
        Some(n) => J::String(n.into()),
        None => J::from(v),
    }
}

impl ProtoJson for pb::Struct {
    fn to_json(&self) -> J {
        pb::struct_to_json(self)
    }
}

impl ProtoJson for pb::Timestamp {
    fn to_json(&self) -> J {
        J::String(timestamp_rfc3339(self))
    }
}

/// RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits, as protojson prints.
pub fn timestamp_rfc3339(ts: &pb::Timestamp) -> String {
    let nanos = ts.nanos.clamp(0, 999_999_999) as u32;
    match chrono::DateTime::from_timestamp(ts.seconds, nanos) {
        Some(dt) => {
            let base = dt.format("%Y-%m-%dT%H:%M:%S").to_string();
            let frac = if nanos == 0 {
                String::new()
            } else if nanos.is_multiple_of(1_000_000) {
                format!(".{:03}", nanos / 1_000_000)
            } else if nanos.is_multiple_of(1_000) {
                format!(".{:06}", nanos / 1_000)
            } else {
                format!(".{nanos:09}")
            };
            format!("{base}{frac}Z")
        }
        None => format!("{}s", ts.seconds),
    }
}

impl ProtoJson for pb::AssetRef {
    fn to_json(&self) -> J {
        Obj::new().str("id", &self.id).build()
    }
}

impl ProtoJson for pb::ResourceType {
    fn to_json(&self) -> J {
        Obj::new()
            .str("id", &self.id)
            .str("displayName", &self.display_name)
            .enums("traits", &self.traits, pb::resource_type::Trait::name_of)
            .annotations("annotations", &self.annotations)
            .str("description", &self.description)
            .bool("sourcedExternally", self.sourced_externally)
            .build()
    }
}

impl ProtoJson for pb::ResourceId {
    fn to_json(&self) -> J {
        Obj::new()
            .str("resourceType", &self.resource_type)
            .str("resource", &self.resource)
            .bool("batonResource", self.baton_resource)
            .build()
    }
}

impl ProtoJson for pb::ExternalId {
    fn to_json(&self) -> J {
        Obj::new()
            .str("id", &self.id)
            .str("link", &self.link)
            .str("description", &self.description)
            .build()
    }
}

impl ProtoJson for pb::Status {
    fn to_json(&self) -> J {
        Obj::new()
            .enum_("status", self.status, pb::status::ResourceStatus::name_of)
            .str("details", &self.details)
            .build()
    }
}

impl ProtoJson for pb::Resource {
    fn to_json(&self) -> J {
        Obj::new()
            .msg("id", &self.id)
            .msg("parentResourceId", &self.parent_resource_id)
            .str("displayName", &self.display_name)
            .annotations("annotations", &self.annotations)
            .str("description", &self.description)
            .bool("batonResource", self.baton_resource)
            .msg("externalId", &self.external_id)
            .enum_(
                "creationSource",
                self.creation_source,
                pb::resource::CreationSource::name_of,
            )
            .msg("profile", &self.profile)
            .msg("icon", &self.icon)
            .msg("status", &self.status)
            .msg("createdAt", &self.created_at)
            .build()
    }
}

impl ProtoJson for pb::Entitlement {
    fn to_json(&self) -> J {
        Obj::new()
            .msg("resource", &self.resource)
            .str("id", &self.id)
            .str("displayName", &self.display_name)
            .str("description", &self.description)
            .list("grantableTo", &self.grantable_to)
            .annotations("annotations", &self.annotations)
            .enum_(
                "purpose",
                self.purpose,
                pb::entitlement::PurposeValue::name_of,
            )
            .str("slug", &self.slug)
            .build()
    }
}

impl ProtoJson for pb::GrantSource {
    fn to_json(&self) -> J {
        Obj::new().bool("isDirect", self.is_direct).build()
    }
}

impl ProtoJson for pb::GrantSources {
    fn to_json(&self) -> J {
        let map: Map<String, J> = self
            .sources
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect();
        let mut o = Obj::new();
        if !map.is_empty() {
            o = o.raw("sources", J::Object(map));
        }
        o.build()
    }
}

impl ProtoJson for pb::Grant {
    fn to_json(&self) -> J {
        Obj::new()
            .msg("entitlement", &self.entitlement)
            .msg("principal", &self.principal)
            .str("id", &self.id)
            .msg("sources", &self.sources)
            .annotations("annotations", &self.annotations)
            .build()
    }
}

impl ProtoJson for pb::user_trait::Email {
    fn to_json(&self) -> J {
        Obj::new()
            .str("address", &self.address)
            .bool("isPrimary", self.is_primary)
            .build()
    }
}

impl ProtoJson for pb::user_trait::Status {
    fn to_json(&self) -> J {
        Obj::new()
            .enum_(
                "status",
                self.status,
                pb::user_trait::status::Status::name_of,
            )
            .str("details", &self.details)
            .build()
    }
}

impl ProtoJson for pb::user_trait::MfaStatus {
    fn to_json(&self) -> J {
        Obj::new().bool("mfaEnabled", self.mfa_enabled).build()
    }
}

impl ProtoJson for pb::user_trait::SsoStatus {
    fn to_json(&self) -> J {
        Obj::new().bool("ssoEnabled", self.sso_enabled).build()
    }
}

impl ProtoJson for pb::user_trait::StructuredName {
    fn to_json(&self) -> J {
        Obj::new()
            .str("givenName", &self.given_name)
            .str("familyName", &self.family_name)
            .strs("middleNames", &self.middle_names)
            .str("prefix", &self.prefix)
            .str("suffix", &self.suffix)
            .build()
    }
}

impl ProtoJson for pb::UserTrait {
    fn to_json(&self) -> J {
        Obj::new()
            .list("emails", &self.emails)
            .msg("status", &self.status)
            .msg("profile", &self.profile)
            .msg("icon", &self.icon)
            .enum_(
                "accountType",
                self.account_type,
                pb::user_trait::AccountType::name_of,
            )
            .str("login", &self.login)
            .strs("loginAliases", &self.login_aliases)
            .msg("createdAt", &self.created_at)
            .msg("lastLogin", &self.last_login)
            .msg("mfaStatus", &self.mfa_status)
            .msg("ssoStatus", &self.sso_status)
            .msg("structuredName", &self.structured_name)
            .strs("employeeIds", &self.employee_ids)
            .build()
    }
}

impl ProtoJson for pb::GroupTrait {
    fn to_json(&self) -> J {
        Obj::new()
            .msg("icon", &self.icon)
            .msg("profile", &self.profile)
            .build()
    }
}

impl ProtoJson for pb::RoleTrait {
    fn to_json(&self) -> J {
        Obj::new().msg("profile", &self.profile).build()
    }
}

impl ProtoJson for pb::GrantExpandable {
    fn to_json(&self) -> J {
        Obj::new()
            .strs("entitlementIds", &self.entitlement_ids)
            .bool("shallow", self.shallow)
            .strs("resourceTypeIds", &self.resource_type_ids)
            .build()
    }
}

impl ProtoJson for pb::GrantImmutable {
    fn to_json(&self) -> J {
        Obj::new()
            .str("sourceId", &self.source_id)
            .msg("metadata", &self.metadata)
            .build()
    }
}

impl ProtoJson for pb::GrantMetadata {
    fn to_json(&self) -> J {
        Obj::new().msg("metadata", &self.metadata).build()
    }
}

impl ProtoJson for pb::EntitlementImmutable {
    fn to_json(&self) -> J {
        Obj::new()
            .str("sourceId", &self.source_id)
            .msg("metadata", &self.metadata)
            .build()
    }
}

impl ProtoJson for pb::ChildResourceType {
    fn to_json(&self) -> J {
        Obj::new()
            .str("resourceTypeId", &self.resource_type_id)
            .build()
    }
}

impl ProtoJson for pb::ExternalLink {
    fn to_json(&self) -> J {
        Obj::new().str("url", &self.url).build()
    }
}

impl ProtoJson for pb::V1Identifier {
    fn to_json(&self) -> J {
        Obj::new().str("id", &self.id).build()
    }
}

impl ProtoJson for pb::RawId {
    fn to_json(&self) -> J {
        Obj::new().str("id", &self.id).build()
    }
}

macro_rules! empty_json {
    ($($ty:ty),+) => {
        $(impl ProtoJson for $ty {
            fn to_json(&self) -> J {
                J::Object(Map::new())
            }
        })+
    };
}

empty_json!(
    pb::GrantAlreadyExists,
    pb::GrantAlreadyRevoked,
    pb::SkipEntitlementsAndGrants,
    pb::SkipGrants,
    pb::SkipEntitlements
);

impl ProtoJson for pb::CapabilityPermission {
    fn to_json(&self) -> J {
        Obj::new().str("permission", &self.permission).build()
    }
}

impl ProtoJson for pb::CapabilityPermissions {
    fn to_json(&self) -> J {
        Obj::new().list("permissions", &self.permissions).build()
    }
}

impl ProtoJson for pb::ResourceTypeCapability {
    fn to_json(&self) -> J {
        Obj::new()
            .msg("resourceType", &self.resource_type)
            .enums("capabilities", &self.capabilities, pb::Capability::name_of)
            .msg("permissions", &self.permissions)
            .build()
    }
}

impl ProtoJson for pb::CredentialDetailsAccountProvisioning {
    fn to_json(&self) -> J {
        Obj::new()
            .enums(
                "supportedCredentialOptions",
                &self.supported_credential_options,
                pb::CapabilityDetailCredentialOption::name_of,
            )
            .enum_(
                "preferredCredentialOption",
                self.preferred_credential_option,
                pb::CapabilityDetailCredentialOption::name_of,
            )
            .build()
    }
}

impl ProtoJson for pb::CredentialDetailsCredentialRotation {
    fn to_json(&self) -> J {
        Obj::new()
            .enums(
                "supportedCredentialOptions",
                &self.supported_credential_options,
                pb::CapabilityDetailCredentialOption::name_of,
            )
            .enum_(
                "preferredCredentialOption",
                self.preferred_credential_option,
                pb::CapabilityDetailCredentialOption::name_of,
            )
            .build()
    }
}

impl ProtoJson for pb::CredentialDetails {
    fn to_json(&self) -> J {
        Obj::new()
            .msg(
                "capabilityAccountProvisioning",
                &self.capability_account_provisioning,
            )
            .msg(
                "capabilityCredentialRotation",
                &self.capability_credential_rotation,
            )
            .build()
    }
}

impl ProtoJson for pb::ConnectorCapabilities {
    fn to_json(&self) -> J {
        Obj::new()
            .list("resourceTypeCapabilities", &self.resource_type_capabilities)
            .enums(
                "connectorCapabilities",
                &self.connector_capabilities,
                pb::Capability::name_of,
            )
            .msg("credentialDetails", &self.credential_details)
            .build()
    }
}

impl ProtoJson for pb::connector_account_creation_schema::Field {
    fn to_json(&self) -> J {
        use pb::connector_account_creation_schema::field::Field as F;
        let mut o = Obj::new()
            .str("displayName", &self.display_name)
            .bool("required", self.required)
            .str("description", &self.description)
            .str("placeholder", &self.placeholder)
            .int("order", self.order as i64)
            .bool("deprecated", self.deprecated);
        match &self.field {
            Some(F::StringField(f)) => {
                let mut inner = Obj::new();
                if let Some(d) = &f.default_value {
                    inner = inner.raw("defaultValue", J::String(d.clone()));
                }
                o = o.raw("stringField", inner.build());
            }
            Some(F::BoolField(f)) => {
                let mut inner = Obj::new();
                if let Some(d) = f.default_value {
                    inner = inner.raw("defaultValue", J::Bool(d));
                }
                o = o.raw("boolField", inner.build());
            }
            Some(F::StringListField(f)) => {
                o = o.raw(
                    "stringListField",
                    Obj::new().strs("defaultValue", &f.default_value).build(),
                );
            }
            Some(F::IntField(f)) => {
                let mut inner = Obj::new();
                if let Some(d) = f.default_value {
                    inner = inner.raw("defaultValue", J::String(d.to_string()));
                }
                o = o.raw("intField", inner.build());
            }
            Some(F::MapField(f)) => {
                let map: Map<String, J> = f
                    .default_value
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect();
                let mut inner = Obj::new();
                if !map.is_empty() {
                    inner = inner.raw("defaultValue", J::Object(map));
                }
                o = o.raw("mapField", inner.build());
            }
            None => {}
        }
        o.build()
    }
}

impl ProtoJson for pb::ConnectorAccountCreationSchema {
    fn to_json(&self) -> J {
        let map: Map<String, J> = self
            .field_map
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect();
        let mut o = Obj::new();
        if !map.is_empty() {
            o = o.raw("fieldMap", J::Object(map));
        }
        o.build()
    }
}

impl ProtoJson for pb::ConnectorMetadata {
    fn to_json(&self) -> J {
        Obj::new()
            .str("displayName", &self.display_name)
            .str("helpUrl", &self.help_url)
            .msg("icon", &self.icon)
            .msg("logo", &self.logo)
            .msg("profile", &self.profile)
            .annotations("annotations", &self.annotations)
            .str("description", &self.description)
            .msg("capabilities", &self.capabilities)
            .msg("accountCreationSchema", &self.account_creation_schema)
            .build()
    }
}

/// Renders `msg` the way protojson renders it inside an `Any`: its fields plus
/// an `@type` key.
pub fn with_type<T: ProtoJson + prost::Name>(msg: &T) -> J {
    let mut v = msg.to_json();
    if let J::Object(map) = &mut v {
        map.insert("@type".into(), J::String(T::type_url()));
    }
    v
}

/// Renders an `Any` whose type this crate knows; `None` for unknown types and
/// for bytes that do not decode.
pub fn any_to_json(any: &Any) -> Option<J> {
    fn go<T>(any: &Any) -> Option<J>
    where
        T: prost::Message + prost::Name + Default + ProtoJson,
    {
        match pb::unpack_any::<T>(any) {
            Ok(Some(m)) => Some(with_type(&m)),
            _ => None,
        }
    }
    let name = any.type_url.rsplit('/').next().unwrap_or("");
    let short = name.strip_prefix("c1.connector.v2.")?;
    match short {
        "UserTrait" => go::<pb::UserTrait>(any),
        "GroupTrait" => go::<pb::GroupTrait>(any),
        "RoleTrait" => go::<pb::RoleTrait>(any),
        "GrantExpandable" => go::<pb::GrantExpandable>(any),
        "GrantImmutable" => go::<pb::GrantImmutable>(any),
        "GrantMetadata" => go::<pb::GrantMetadata>(any),
        "GrantAlreadyExists" => go::<pb::GrantAlreadyExists>(any),
        "GrantAlreadyRevoked" => go::<pb::GrantAlreadyRevoked>(any),
        "EntitlementImmutable" => go::<pb::EntitlementImmutable>(any),
        "ChildResourceType" => go::<pb::ChildResourceType>(any),
        "SkipEntitlementsAndGrants" => go::<pb::SkipEntitlementsAndGrants>(any),
        "SkipGrants" => go::<pb::SkipGrants>(any),
        "SkipEntitlements" => go::<pb::SkipEntitlements>(any),
        "ExternalLink" => go::<pb::ExternalLink>(any),
        "V1Identifier" => go::<pb::V1Identifier>(any),
        "RawId" => go::<pb::RawId>(any),
        "ConnectorCapabilities" => go::<pb::ConnectorCapabilities>(any),
        "ConnectorMetadata" => go::<pb::ConnectorMetadata>(any),
        "ResourceType" => go::<pb::ResourceType>(any),
        "Resource" => go::<pb::Resource>(any),
        "Entitlement" => go::<pb::Entitlement>(any),
        "Grant" => go::<pb::Grant>(any),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::*;

    #[test]
    fn renders_resource_with_trait() {
        let r = Resource {
            id: Some(ResourceId::new("user", "u1")),
            display_name: "Alice".into(),
            annotations: vec![
                pack_any(&UserTrait {
                    login: "alice".into(),
                    status: Some(user_trait::Status {
                        status: user_trait::status::Status::Enabled as i32,
                        details: String::new(),
                    }),
                    ..Default::default()
                }),
                Any {
                    type_url: "type.googleapis.com/unknown.Thing".into(),
                    value: vec![1, 2],
                },
            ],
            created_at: Some(Timestamp {
                seconds: 1_700_000_000,
                nanos: 5_000_000,
            }),
            ..Default::default()
        };
        let j = r.to_json();
        assert_eq!(j["id"]["resourceType"], "user");
        assert_eq!(j["displayName"], "Alice");
        let annos = j["annotations"].as_array().unwrap();
        assert_eq!(annos.len(), 1, "unknown Any is dropped");
        assert_eq!(
            annos[0]["@type"],
            "type.googleapis.com/c1.connector.v2.UserTrait"
        );
        assert_eq!(annos[0]["status"]["status"], "STATUS_ENABLED");
        assert_eq!(j["createdAt"], "2023-11-14T22:13:20.005Z");
        assert!(j.get("description").is_none(), "defaults are omitted");
    }

    #[test]
    fn capabilities_with_type() {
        let caps = ConnectorCapabilities {
            connector_capabilities: vec![Capability::Provision as i32, Capability::Sync as i32],
            ..Default::default()
        };
        let j = with_type(&caps);
        assert_eq!(
            j["@type"],
            "type.googleapis.com/c1.connector.v2.ConnectorCapabilities"
        );
        assert_eq!(
            j["connectorCapabilities"],
            serde_json::json!(["CAPABILITY_PROVISION", "CAPABILITY_SYNC"])
        );
    }
}
