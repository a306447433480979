//! WIT records to Baton's protobuf messages.
//!
//! Decision: the host, not each connector, applies Baton's ID conventions
//! and embedding rules, so every plugin's artifact joins correctly:
//! entitlement id `<type>:<resource>:<slug>` with the full stored resource
//! and full grantable resource types; grant id
//! `<entitlement-id>:<principal-type>:<principal-id>` with a minimal
//! entitlement (id and full resource) and a principal that is only an id;
//! traits, status and profile inside the trait annotation (what Baton's
//! 2025 tools read); `creation_source = 1` as the 2025 SDK set it.

use c1z::pb;
use prost_types::{Any, Struct, Timestamp};

use crate::bindings::prov;
use crate::bindings::types as wit;

pub fn resource_id(id: &wit::ResourceId) -> pb::ResourceId {
    pb::ResourceId::new(id.resource_type.clone(), id.resource.clone())
}

pub fn entitlement_id(resource: &wit::ResourceId, slug: &str) -> String {
    format!("{}:{}:{}", resource.resource_type, resource.resource, slug)
}

pub fn grant_id(entitlement_id: &str, principal: &wit::ResourceId) -> String {
    format!(
        "{entitlement_id}:{}:{}",
        principal.resource_type, principal.resource
    )
}

/// A grant id's parts, `(entitlement id, principal type, principal id)`:
/// the inverse of [`grant_id`]. The entitlement id may itself hold `:`, so
/// the split is from the right. `None` when there are fewer than three parts.
pub fn split_grant_id(grant_id: &str) -> Option<(&str, &str, &str)> {
    let mut parts = grant_id.rsplitn(3, ':');
    let principal = parts.next()?;
    let principal_type = parts.next()?;
    let entitlement = parts.next()?;
    Some((entitlement, principal_type, principal))
}

fn timestamp(t: &wit::Timestamp) -> Timestamp {
    Timestamp {
        seconds: t.seconds,
        nanos: t.nanos.min(999_999_999) as i32,
    }
}

/// Parses a JSON object field already checked by upload validation.
fn object(json: &Option<String>) -> Option<Struct> {
    let value: serde_json::Value = serde_json::from_str(json.as_deref()?).ok()?;
    pb::json_to_struct(&value)
}

fn any_struct(s: &Struct) -> Any {
    Any {
        type_url: "type.googleapis.com/google.protobuf.Struct".into(),
        value: prost::Message::encode_to_vec(s),
    }
}

pub fn resource_type(t: &wit::ResourceType) -> pb::ResourceType {
    let traits = t
        .traits
        .iter()
        .map(|k| match k {
            wit::ResourceTraitKind::User => pb::resource_type::Trait::User,
            wit::ResourceTraitKind::Group => pb::resource_type::Trait::Group,
            wit::ResourceTraitKind::Role => pb::resource_type::Trait::Role,
            wit::ResourceTraitKind::App => pb::resource_type::Trait::App,
        } as i32)
        .collect();
    let mut annotations = Vec::new();
    if t.skip_entitlements_and_grants {
        annotations.push(pb::pack_any(&pb::SkipEntitlementsAndGrants {}));
    }
    pb::ResourceType {
        id: t.id.clone(),
        display_name: t.display_name.clone(),
        traits,
        annotations,
        description: t.description.clone().unwrap_or_default(),
        sourced_externally: false,
    }
}

pub fn resource(r: &wit::Resource) -> pb::Resource {
    let mut annotations = Vec::new();
    match &r.trait_ {
        Some(wit::ResourceTrait::User(u)) => annotations.push(pb::pack_any(&user_trait(u))),
        Some(wit::ResourceTrait::Group(g)) => annotations.push(pb::pack_any(&pb::GroupTrait {
            profile: object(&g.profile_json),
            ..Default::default()
        })),
        Some(wit::ResourceTrait::Role(g)) => annotations.push(pb::pack_any(&pb::RoleTrait {
            profile: object(&g.profile_json),
            ..Default::default()
        })),
        None => {}
    }
    let status = match r.status {
        wit::ResourceStatus::Unspecified => None,
        wit::ResourceStatus::Enabled => Some(pb::status::ResourceStatus::Enabled),
        wit::ResourceStatus::Disabled => Some(pb::status::ResourceStatus::Disabled),
        wit::ResourceStatus::Deleted => Some(pb::status::ResourceStatus::Deleted),
    };
    pb::Resource {
        id: Some(resource_id(&r.id)),
        parent_resource_id: r.parent.as_ref().map(resource_id),
        display_name: r.display_name.clone(),
        annotations,
        description: r.description.clone().unwrap_or_default(),
        baton_resource: false,
        external_id: r.external_id.as_ref().map(|id| pb::ExternalId {
            id: id.clone(),
            link: String::new(),
            description: String::new(),
        }),
        creation_source: pb::resource::CreationSource::ConnectorListResources as i32,
        profile: None,
        icon: None,
        status: status.map(|s| pb::Status {
            status: s as i32,
            details: String::new(),
        }),
        created_at: r.created_at.as_ref().map(timestamp),
    }
}

fn user_trait(u: &wit::UserTrait) -> pb::UserTrait {
    use pb::user_trait::status::Status as S;
    let status = match u.status {
        wit::UserStatus::Unspecified => S::Unspecified,
        wit::UserStatus::Enabled => S::Enabled,
        wit::UserStatus::Disabled => S::Disabled,
        wit::UserStatus::Deleted => S::Deleted,
    };
    let account_type = match u.account_type {
        wit::AccountType::Unspecified => pb::user_trait::AccountType::Unspecified,
        wit::AccountType::Human => pb::user_trait::AccountType::Human,
        wit::AccountType::Service => pb::user_trait::AccountType::Service,
        wit::AccountType::System => pb::user_trait::AccountType::System,
    };
    pb::UserTrait {
        emails: u
            .emails
            .iter()
            .map(|e| pb::user_trait::Email {
                address: e.address.clone(),
                is_primary: e.is_primary,
            })
            .collect(),
        status: Some(pb::user_trait::Status {
            status: status as i32,
            details: u.status_details.clone().unwrap_or_default(),
        }),
        profile: object(&u.profile_json),
        icon: None,
        account_type: account_type as i32,
        login: u.login.clone().unwrap_or_default(),
        login_aliases: u.login_aliases.clone(),
        created_at: u.created_at.as_ref().map(timestamp),
        last_login: u.last_login.as_ref().map(timestamp),
        mfa_status: u
            .mfa_enabled
            .map(|mfa_enabled| pb::user_trait::MfaStatus { mfa_enabled }),
        sso_status: None,
        structured_name: u
            .structured_name
            .as_ref()
            .map(|n| pb::user_trait::StructuredName {
                given_name: n.given_name.clone(),
                family_name: n.family_name.clone(),
                middle_names: n.middle_names.clone(),
                prefix: n.prefix.clone(),
                suffix: n.suffix.clone(),
            }),
        employee_ids: u.employee_ids.clone(),
    }
}

/// An entitlement embedding its full stored resource and grantable types.
pub fn entitlement(
    e: &wit::Entitlement,
    resource: pb::Resource,
    types: &[pb::ResourceType],
) -> pb::Entitlement {
    let purpose = match e.purpose {
        wit::EntitlementPurpose::Unspecified => pb::entitlement::PurposeValue::Unspecified,
        wit::EntitlementPurpose::Assignment => pb::entitlement::PurposeValue::Assignment,
        wit::EntitlementPurpose::Permission => pb::entitlement::PurposeValue::Permission,
        wit::EntitlementPurpose::Ownership => pb::entitlement::PurposeValue::Ownership,
    };
    let mut annotations = Vec::new();
    if e.immutable {
        annotations.push(pb::pack_any(&pb::EntitlementImmutable {
            source_id: String::new(),
            metadata: None,
        }));
    }
    if let Some(s) = object(&e.metadata_json) {
        annotations.push(any_struct(&s));
    }
    pb::Entitlement {
        resource: Some(resource),
        id: entitlement_id(&e.resource, &e.slug),
        display_name: e.display_name.clone(),
        description: e.description.clone().unwrap_or_default(),
        grantable_to: e
            .grantable_to
            .iter()
            .filter_map(|id| types.iter().find(|t| &t.id == id).cloned())
            .collect(),
        annotations,
        purpose: purpose as i32,
        slug: e.slug.clone(),
    }
}

/// A grant with a minimal entitlement and an id-only principal.
pub fn grant(g: &wit::Grant, entitlement_resource: pb::Resource) -> pb::Grant {
    let ent_id = entitlement_id(&g.entitlement_resource, &g.entitlement_slug);
    let mut annotations = Vec::new();
    if let Some(x) = &g.expansion {
        annotations.push(pb::pack_any(&pb::GrantExpandable {
            entitlement_ids: x.entitlement_ids.clone(),
            shallow: x.shallow,
            resource_type_ids: x.resource_type_ids.clone(),
        }));
    }
    if let Some(reason) = &g.immutable_reason {
        annotations.push(pb::pack_any(&pb::GrantImmutable {
            source_id: String::new(),
            metadata: pb::json_to_struct(&serde_json::json!({ "reason": reason })),
        }));
    }
    if let Some(metadata) = object(&g.metadata_json) {
        annotations.push(pb::pack_any(&pb::GrantMetadata {
            metadata: Some(metadata),
        }));
    }
    pb::Grant {
        id: grant_id(&ent_id, &g.principal),
        entitlement: Some(pb::Entitlement {
            resource: Some(entitlement_resource),
            id: ent_id,
            ..Default::default()
        }),
        principal: Some(pb::Resource {
            id: Some(resource_id(&g.principal)),
            ..Default::default()
        }),
        annotations,
        sources: None,
    }
}

// Baton's records back to the component's references, for provisioning:
// the one-shot flags and ConductorOne's tasks name objects as a c1z holds
// them.

/// The component's resource id for a stored one.
pub fn wit_resource_id(id: &pb::ResourceId) -> wit::ResourceId {
    wit::ResourceId {
        resource_type: id.resource_type.clone(),
        resource: id.resource.clone(),
    }
}

/// The component's view of a stored entitlement.
pub fn entitlement_ref(e: &pb::Entitlement) -> anyhow::Result<prov::EntitlementRef> {
    let resource = e
        .resource
        .as_ref()
        .and_then(|r| r.id.as_ref())
        .ok_or_else(|| anyhow::anyhow!("entitlement {} has no resource in the c1z", e.id))?;
    Ok(prov::EntitlementRef {
        id: e.id.clone(),
        resource: wit_resource_id(resource),
        slug: e.slug.clone(),
        // The metadata, as `any_struct` wrote it.
        metadata_json: (e.annotations.iter())
            .find(|a| a.type_url.ends_with("/google.protobuf.Struct"))
            .and_then(|a| <Struct as prost::Message>::decode(a.value.as_slice()).ok())
            .map(|s| pb::struct_to_json(&s).to_string()),
    })
}

/// The component's view of grant `g` of entitlement `ent`: its metadata,
/// and why it cannot be revoked when the grant says it is immutable or is
/// held only through expansion.
pub fn grant_ref(g: &pb::Grant, ent: &pb::Entitlement) -> anyhow::Result<prov::GrantRef> {
    let principal = g
        .principal
        .as_ref()
        .and_then(|p| p.id.as_ref())
        .ok_or_else(|| anyhow::anyhow!("grant {} has no principal", g.id))?;
    let metadata = pb::find_annotation::<pb::GrantMetadata>(&g.annotations)
        .ok()
        .flatten()
        .and_then(|m| m.metadata)
        .map(|s| pb::struct_to_json(&s).to_string());
    let immutable = pb::find_annotation::<pb::GrantImmutable>(&g.annotations)
        .ok()
        .flatten()
        .map(|i| {
            i.metadata
                .map(|s| {
                    pb::struct_to_json(&s)["reason"]
                        .as_str()
                        .unwrap_or("")
                        .to_string()
                })
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "the grant is inherited".into())
        })
        .or_else(|| expanded_only(g, &ent.id));
    Ok(prov::GrantRef {
        id: g.id.clone(),
        entitlement: entitlement_ref(ent)?,
        principal: wit_resource_id(principal),
        metadata_json: metadata,
        immutable_reason: immutable,
    })
}

/// Why a grant held only through grant expansion cannot be revoked, when a
/// c1z that Baton expanded records it: its `sources` name other
/// entitlements only (a direct grant lists itself or a direct source).
fn expanded_only(g: &pb::Grant, ent_id: &str) -> Option<String> {
    let sources = &g.sources.as_ref()?.sources;
    if sources.is_empty() || sources.contains_key(ent_id) || sources.values().any(|s| s.is_direct) {
        return None;
    }
    let via: Vec<&str> = sources.keys().map(String::as_str).collect();
    Some(format!(
        "it is inherited through {}, not held directly; revoke it there",
        via.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expandable(sources: &[(&str, bool)]) -> pb::Grant {
        pb::Grant {
            id: "group:p:member:user:u".into(),
            sources: Some(pb::GrantSources {
                sources: sources
                    .iter()
                    .map(|(k, d)| (k.to_string(), pb::GrantSource { is_direct: *d }))
                    .collect(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn only_grants_held_solely_through_expansion_are_refused() {
        let ent = "group:p:member";
        let why = expanded_only(&expandable(&[("group:c:member", false)]), ent).unwrap();
        assert!(why.contains("inherited through group:c:member"), "{why}");
        // Direct, or direct as well: revocable.
        assert_eq!(expanded_only(&expandable(&[]), ent), None);
        assert_eq!(expanded_only(&expandable(&[(ent, false)]), ent), None);
        assert_eq!(
            expanded_only(&expandable(&[("group:c:member", false), (ent, false)]), ent),
            None
        );
        assert_eq!(
            expanded_only(&expandable(&[("group:c:member", true)]), ent),
            None
        );
        assert_eq!(expanded_only(&pb::Grant::default(), ent), None);
    }

    #[test]
    fn grant_ids_split_back_into_their_parts() {
        let principal = rid("user", "u1");
        let ent = entitlement_id(&rid("group", "g:1"), "member");
        let id = grant_id(&ent, &principal);
        assert_eq!(
            split_grant_id(&id),
            Some(("group:g:1:member", "user", "u1"))
        );
        assert_eq!(split_grant_id("a:b"), None);
    }

    fn rid(t: &str, id: &str) -> wit::ResourceId {
        wit::ResourceId {
            resource_type: t.into(),
            resource: id.into(),
        }
    }

    #[test]
    fn ids_follow_baton_conventions() {
        let g = wit::Grant {
            entitlement_resource: rid("group", "g1"),
            entitlement_slug: "member".into(),
            principal: rid("user", "u1"),
            expansion: None,
            immutable_reason: Some("dynamic group".into()),
            metadata_json: Some(r#"{"assignment":"a1"}"#.into()),
        };
        let owner = pb::Resource {
            id: Some(pb::ResourceId::new("group", "g1")),
            display_name: "Group One".into(),
            ..Default::default()
        };
        let p = grant(&g, owner.clone());
        assert_eq!(p.id, "group:g1:member:user:u1");
        let e = p.entitlement.unwrap();
        assert_eq!(e.id, "group:g1:member");
        assert_eq!(e.resource.unwrap().display_name, "Group One");
        assert_eq!(p.principal.unwrap().id.unwrap().external_id(), "user:u1");
        assert!(pb::has_annotation::<pb::GrantImmutable>(&p.annotations));
        assert!(pb::has_annotation::<pb::GrantMetadata>(&p.annotations));
    }
}
