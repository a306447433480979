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
    Entitlement, Grant, GrantSet, Resource, ResourceId, ResourceTrait, ResourceTraitKind,
    ResourceType,
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

/// `put-resources-with`: every entitlement must belong to one of the
/// resources it is put with. The first one that does not, named.
pub fn entitlements_belong_to(entitlements: &[Entitlement], items: &[Resource]) -> Option<String> {
    let ids: std::collections::HashSet<(&str, &str)> = items
        .iter()
        .map(|r| (r.id.resource_type.as_str(), r.id.resource.as_str()))
        .collect();
    entitlements
        .iter()
        .find(|e| {
            !ids.contains(&(
                e.resource.resource_type.as_str(),
                e.resource.resource.as_str(),
            ))
        })
        .map(|e| {
            format!(
                "entitlement {}:{}:{} was put with resources it does not belong to \
                 (put-resources-with takes only the listed resources' entitlements)",
                e.resource.resource_type, e.resource.resource, e.slug
            )
        })
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

/// A grant set is valid when each grant it stands for would be: the shared
/// parts are checked once, then each principal id.
pub fn validate_grant_set(
    s: &GrantSet,
    types: &[ResourceType],
    max_bytes: usize,
) -> Result<(), String> {
    let name = |principal: &str| {
        format!(
            "grant of {}:{}:{} to {}:{principal}",
            s.entitlement_resource.resource_type,
            s.entitlement_resource.resource,
            s.entitlement_slug,
            s.principal_type
        )
    };
    let Some(first) = s.principal_ids.first() else {
        return Ok(());
    };
    check_id("grant entitlement resource", &s.entitlement_resource, types)?;
    if s.entitlement_slug.is_empty() {
        return Err(format!("{} has an empty entitlement slug", name(first)));
    }
    check_json(&format!("metadata of {}", name(first)), &s.metadata_json)?;
    let shared = id_bytes(&s.entitlement_resource)
        + s.entitlement_slug.len()
        + s.principal_type.len()
        + s.metadata_json.as_ref().map_or(0, String::len)
        + s.immutable_reason.as_ref().map_or(0, String::len);
    // The type once (with the first id, for the message), then each id.
    let first_principal = ResourceId {
        resource_type: s.principal_type.clone(),
        resource: first.clone(),
    };
    check_id("grant principal", &first_principal, types)?;
    for id in &s.principal_ids {
        if id.is_empty() {
            return Err(format!(
                "grant set of {}:{}:{} to {} principals has a principal with an empty id",
                s.entitlement_resource.resource_type,
                s.entitlement_resource.resource,
                s.entitlement_slug,
                s.principal_type
            ));
        }
        if shared + id.len() > max_bytes {
            return Err(format!("{} is larger than {max_bytes} bytes", name(id)));
        }
    }
    Ok(())
}

/// The grants a set stands for, in its order.
pub fn expand_grant_set(s: GrantSet) -> impl Iterator<Item = Grant> {
    let GrantSet {
        entitlement_resource,
        entitlement_slug,
        principal_type,
        principal_ids,
        expansion,
        immutable_reason,
        metadata_json,
    } = s;
    principal_ids.into_iter().map(move |id| Grant {
        entitlement_resource: entitlement_resource.clone(),
        entitlement_slug: entitlement_slug.clone(),
        principal: ResourceId {
            resource_type: principal_type.clone(),
            resource: id,
        },
        expansion: expansion.clone(),
        immutable_reason: immutable_reason.clone(),
        metadata_json: metadata_json.clone(),
    })
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

    fn set(ids: &[&str]) -> GrantSet {
        GrantSet {
            entitlement_resource: ResourceId {
                resource_type: "group".into(),
                resource: "g1".into(),
            },
            entitlement_slug: "member".into(),
            principal_type: "group".into(),
            principal_ids: ids.iter().map(|s| s.to_string()).collect(),
            expansion: None,
            immutable_reason: Some("dynamic".into()),
            metadata_json: Some(r#"{"m":1}"#.into()),
        }
    }

    /// A set is accepted or refused exactly when the grants it expands to
    /// are, and expands to one grant per principal id, in order.
    #[test]
    fn grant_sets_validate_and_expand_as_their_grants() {
        let ok = set(&["a", "bb", "c"]);
        let grants: Vec<Grant> = expand_grant_set(ok.clone()).collect();
        let ids: Vec<&str> = grants
            .iter()
            .map(|g| g.principal.resource.as_str())
            .collect();
        assert_eq!(ids, ["a", "bb", "c"]);
        assert!(grants.iter().all(|g| g.entitlement_slug == "member"
            && g.principal.resource_type == "group"
            && g.immutable_reason.as_deref() == Some("dynamic")
            && g.metadata_json.as_deref() == Some(r#"{"m":1}"#)));
        let each = |s: &GrantSet, max| {
            expand_grant_set(s.clone()).try_for_each(|g| validate_grant(&g, &types(), max))
        };
        let mut cases = vec![ok.clone(), set(&[])];
        let mut empty_id = ok.clone();
        empty_id.principal_ids[1] = String::new();
        let mut bad_type = ok.clone();
        bad_type.principal_type = "usr".into();
        let mut bad_slug = ok.clone();
        bad_slug.entitlement_slug = String::new();
        let mut bad_json = ok.clone();
        bad_json.metadata_json = Some("[1]".into());
        let mut bad_resource = ok.clone();
        bad_resource.entitlement_resource.resource = String::new();
        cases.extend([empty_id, bad_type, bad_slug, bad_json, bad_resource]);
        for s in &cases {
            for max in [1024, 34, 33] {
                let got = validate_grant_set(s, &types(), max);
                assert_eq!(got.is_ok(), each(s, max).is_ok(), "{s:?} at {max}: {got:?}");
            }
        }
        let err = validate_grant_set(&cases[2], &types(), 1024).unwrap_err();
        assert!(
            err.contains("empty id") && err.contains("group:g1:member"),
            "{err}"
        );
        let err = validate_grant_set(&cases[3], &types(), 1024).unwrap_err();
        assert!(err.contains("\"usr\""), "{err}");
        // 32 shared bytes: "a" fits in 33, "bb" does not.
        let err = validate_grant_set(&ok, &types(), 33).unwrap_err();
        assert!(err.contains("to group:bb"), "{err}");
        assert!(err.contains("larger than 33 bytes"), "{err}");
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
