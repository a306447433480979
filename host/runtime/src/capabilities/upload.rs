//! Validation of records a guest uploads.
//!
//! Threat: a connector's records end up in artifacts other tools trust. A
//! record with an empty id, an undeclared resource type, a missing trait or
//! a profile that is not a JSON object would break Baton's joins or its
//! trait checks later, far from the cause. Decisions: check each record
//! here, at the boundary, with a message that names the record and the rule;
//! cap records and bytes per call (see `Limits`) so a guest cannot make the
//! host buffer without bound. Referential checks (an entitlement's resource
//! exists, a grant's entitlement exists) need the artifact and happen when
//! the sync engine commits the call.

use crate::bindings::types::{
    Entitlement, Grant, Resource, ResourceId, ResourceTrait, ResourceTraitKind, ResourceType,
};

/// Approximate bytes a record makes the host hold (strings and JSON).
pub fn resource_bytes(r: &Resource) -> usize {
    let t = match &r.trait_ {
        Some(ResourceTrait::User(u)) => {
            u.profile_json.as_ref().map_or(0, String::len)
                + u.emails.iter().map(|e| e.address.len()).sum::<usize>()
                + u.login.as_ref().map_or(0, String::len)
        }
        Some(ResourceTrait::Group(g)) => g.profile_json.as_ref().map_or(0, String::len),
        Some(ResourceTrait::Role(g)) => g.profile_json.as_ref().map_or(0, String::len),
        None => 0,
    };
    id_bytes(&r.id) + r.display_name.len() + r.description.as_ref().map_or(0, String::len) + t
}

fn id_bytes(id: &ResourceId) -> usize {
    id.resource_type.len() + id.resource.len()
}

pub fn entitlement_bytes(e: &Entitlement) -> usize {
    id_bytes(&e.resource)
        + e.slug.len()
        + e.display_name.len()
        + e.description.as_ref().map_or(0, String::len)
        + e.metadata_json.as_ref().map_or(0, String::len)
}

pub fn grant_bytes(g: &Grant) -> usize {
    id_bytes(&g.entitlement_resource)
        + g.entitlement_slug.len()
        + id_bytes(&g.principal)
        + g.metadata_json.as_ref().map_or(0, String::len)
        + g.immutable_reason.as_ref().map_or(0, String::len)
}

fn check_id(what: &str, id: &ResourceId, types: &[ResourceType]) -> Result<(), String> {
    if id.resource.is_empty() {
        return Err(format!("{what} has an empty id"));
    }
    if !types.iter().any(|t| t.id == id.resource_type) {
        return Err(format!(
            "{what} {}:{} has resource type {:?}, which the connector's metadata does not declare",
            id.resource_type, id.resource, id.resource_type
        ));
    }
    Ok(())
}

fn check_json(what: &str, json: &Option<String>) -> Result<(), String> {
    if let Some(text) = json {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(_)) => {}
            Ok(_) => return Err(format!("{what} is not a JSON object")),
            Err(e) => return Err(format!("{what} is not valid JSON: {e}")),
        }
    }
    Ok(())
}

pub fn validate_resource(
    r: &Resource,
    types: &[ResourceType],
    max_bytes: usize,
) -> Result<(), String> {
    let name = format!("resource {}:{}", r.id.resource_type, r.id.resource);
    check_id("resource", &r.id, types)?;
    if let Some(p) = &r.parent {
        check_id(&format!("parent of {name}"), p, types)?;
    }
    if resource_bytes(r) > max_bytes {
        return Err(format!("{name} is larger than {max_bytes} bytes"));
    }
    let declared = types
        .iter()
        .find(|t| t.id == r.id.resource_type)
        .map(|t| t.traits.as_slice())
        .unwrap_or(&[]);
    // Baton fails a sync whose resource lacks its type's trait; fail here instead.
    let has = |k: ResourceTraitKind| {
        matches!(
            (&r.trait_, k),
            (Some(ResourceTrait::User(_)), ResourceTraitKind::User)
                | (Some(ResourceTrait::Group(_)), ResourceTraitKind::Group)
                | (Some(ResourceTrait::Role(_)), ResourceTraitKind::Role)
        )
    };
    for k in declared {
        if *k != ResourceTraitKind::App && !has(*k) {
            let k = match k {
                ResourceTraitKind::User => "user",
                ResourceTraitKind::Group => "group",
                ResourceTraitKind::Role => "role",
                ResourceTraitKind::App => "app",
            };
            return Err(format!("{name} lacks the {k} trait its type declares"));
        }
    }
    match &r.trait_ {
        Some(ResourceTrait::User(u)) => check_json(&format!("profile of {name}"), &u.profile_json)?,
        Some(ResourceTrait::Group(g)) => {
            check_json(&format!("profile of {name}"), &g.profile_json)?
        }
        Some(ResourceTrait::Role(g)) => check_json(&format!("profile of {name}"), &g.profile_json)?,
        None => {}
    }
    Ok(())
}

pub fn validate_entitlement(
    e: &Entitlement,
    types: &[ResourceType],
    max_bytes: usize,
) -> Result<(), String> {
    let name = format!(
        "entitlement {}:{}:{}",
        e.resource.resource_type, e.resource.resource, e.slug
    );
    check_id("entitlement resource", &e.resource, types)?;
    if e.slug.is_empty() {
        return Err(format!("{name} has an empty slug"));
    }
    for t in &e.grantable_to {
        if !types.iter().any(|d| &d.id == t) {
            return Err(format!(
                "{name} is grantable to undeclared resource type {t:?}"
            ));
        }
    }
    if entitlement_bytes(e) > max_bytes {
        return Err(format!("{name} is larger than {max_bytes} bytes"));
    }
    check_json(&format!("metadata of {name}"), &e.metadata_json)
}

pub fn validate_grant(g: &Grant, types: &[ResourceType], max_bytes: usize) -> Result<(), String> {
    let name = format!(
        "grant of {}:{}:{} to {}:{}",
        g.entitlement_resource.resource_type,
        g.entitlement_resource.resource,
        g.entitlement_slug,
        g.principal.resource_type,
        g.principal.resource
    );
    check_id("grant entitlement resource", &g.entitlement_resource, types)?;
    check_id("grant principal", &g.principal, types)?;
    if g.entitlement_slug.is_empty() {
        return Err(format!("{name} has an empty entitlement slug"));
    }
    if grant_bytes(g) > max_bytes {
        return Err(format!("{name} is larger than {max_bytes} bytes"));
    }
    check_json(&format!("metadata of {name}"), &g.metadata_json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::types::{GroupTrait, ResourceStatus};

    fn types() -> Vec<ResourceType> {
        vec![ResourceType {
            id: "group".into(),
            display_name: "Group".into(),
            description: None,
            traits: vec![ResourceTraitKind::Group],
            skip_entitlements_and_grants: false,
        }]
    }

    fn group(id: &str, profile: Option<&str>) -> Resource {
        Resource {
            id: ResourceId {
                resource_type: "group".into(),
                resource: id.into(),
            },
            parent: None,
            display_name: "G".into(),
            description: None,
            external_id: None,
            status: ResourceStatus::Unspecified,
            created_at: None,
            trait_: Some(ResourceTrait::Group(GroupTrait {
                profile_json: profile.map(Into::into),
            })),
        }
    }

    #[test]
    fn accepts_a_well_formed_group() {
        assert_eq!(
            validate_resource(&group("g1", Some("{\"a\":1}")), &types(), 1024),
            Ok(())
        );
    }

    #[test]
    fn names_the_record_and_the_rule() {
        let err = validate_resource(&group("", None), &types(), 1024).unwrap_err();
        assert!(err.contains("empty id"), "{err}");
        let err = validate_resource(&group("g1", Some("[1]")), &types(), 1024).unwrap_err();
        assert!(
            err.contains("group:g1") && err.contains("not a JSON object"),
            "{err}"
        );
        let mut r = group("g1", None);
        r.trait_ = None;
        let err = validate_resource(&r, &types(), 1024).unwrap_err();
        assert!(err.contains("lacks the group trait"), "{err}");
        let mut r = group("g1", None);
        r.id.resource_type = "gruop".into();
        let err = validate_resource(&r, &types(), 1024).unwrap_err();
        assert!(err.contains("does not declare"), "{err}");
        let err =
            validate_resource(&group("g1", Some(&"x".repeat(2000))), &types(), 1024).unwrap_err();
        assert!(err.contains("larger than"), "{err}");
    }
}
