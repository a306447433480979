//! Validation of records a guest uploads.
//!
//! Threat: a connector's records end up in artifacts other tools trust. A
//! record with an empty id, an undeclared resource type, a missing trait or
//! a profile that is not a JSON object would break Baton's joins or its
//! trait checks later, far from the cause. Decisions: check each record
//! here, at the boundary, with a message that names the record and the rule;
//! cap records and bytes per call (see `Limits`) so a guest cannot make the
//! host buffer without bound. Bytes count every string a record carries, a
//! `String`'s overhead per list element and the record's own struct (the
//! `*_cost` functions), so no field and no empty record is free; a
//! grant set costs the grants it expands to. Referential checks (an entitlement's resource
//! exists, a grant's entitlement exists) need the artifact and happen when
//! the sync engine commits the call.

use crate::bindings::types::{
    Entitlement, Grant, GrantExpansion, GrantSet, Resource, ResourceId, ResourceTrait,
    ResourceTraitKind, ResourceType,
};

/// What the host holds for each element of a list of strings besides its
/// bytes (a `String`'s pointer, length and capacity): a list of a million
/// empty aliases is 24 MiB of host memory, not nothing.
pub const STRING_OVERHEAD: usize = std::mem::size_of::<String>();

fn opt(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, String::len)
}

fn list(l: &[String]) -> usize {
    l.iter().map(|s| STRING_OVERHEAD + s.len()).sum()
}

fn expansion_bytes(x: &Option<GrantExpansion>) -> usize {
    x.as_ref()
        .map_or(0, |x| list(&x.entitlement_ids) + list(&x.resource_type_ids))
}

/// Bytes of one resource as the per-record cap sees it: every string it
/// carries, and a `String`'s overhead for each element of its lists.
pub fn resource_bytes(r: &Resource) -> usize {
    let t = match &r.trait_ {
        Some(ResourceTrait::User(u)) => {
            opt(&u.profile_json)
                + u.emails
                    .iter()
                    .map(|e| STRING_OVERHEAD + e.address.len())
                    .sum::<usize>()
                + opt(&u.login)
                + list(&u.login_aliases)
                + opt(&u.status_details)
                + u.structured_name.as_ref().map_or(0, |n| {
                    n.given_name.len()
                        + n.family_name.len()
                        + list(&n.middle_names)
                        + n.prefix.len()
                        + n.suffix.len()
                })
                + list(&u.employee_ids)
        }
        Some(ResourceTrait::Group(g)) => opt(&g.profile_json),
        Some(ResourceTrait::Role(g)) => opt(&g.profile_json),
        None => 0,
    };
    id_bytes(&r.id)
        + r.parent.as_ref().map_or(0, id_bytes)
        + r.display_name.len()
        + opt(&r.description)
        + opt(&r.external_id)
        + t
}

fn id_bytes(id: &ResourceId) -> usize {
    id.resource_type.len() + id.resource.len()
}

pub fn entitlement_bytes(e: &Entitlement) -> usize {
    id_bytes(&e.resource)
        + e.slug.len()
        + e.display_name.len()
        + opt(&e.description)
        + list(&e.grantable_to)
        + opt(&e.metadata_json)
}

pub fn grant_bytes(g: &Grant) -> usize {
    id_bytes(&g.entitlement_resource)
        + g.entitlement_slug.len()
        + id_bytes(&g.principal)
        + expansion_bytes(&g.expansion)
        + opt(&g.immutable_reason)
        + opt(&g.metadata_json)
}

/// What every grant of a set shares: all its strings but the principal ids.
fn grant_set_shared_bytes(s: &GrantSet) -> usize {
    id_bytes(&s.entitlement_resource)
        + s.entitlement_slug.len()
        + s.principal_type.len()
        + expansion_bytes(&s.expansion)
        + opt(&s.immutable_reason)
        + opt(&s.metadata_json)
}

/// What a record costs against the per-call and per-sync upload budgets:
/// its bytes plus what the host holds besides its strings, the record's
/// own struct (a lifted `resource` takes about 520 bytes, a `grant` about
/// 200), charged to every record and to every grant a set stands for, so
/// records with empty fields still cost what they occupy.
pub fn resource_cost(r: &Resource) -> usize {
    size_of::<Resource>() + resource_bytes(r)
}

pub fn entitlement_cost(e: &Entitlement) -> usize {
    size_of::<Entitlement>() + entitlement_bytes(e)
}

pub fn grant_cost(g: &Grant) -> usize {
    size_of::<Grant>() + grant_bytes(g)
}

/// A set costs what the host holds while it waits (its shared strings and
/// ids) plus what it expands to when the sync engine commits it: one grant,
/// shared strings and overhead included, per principal. An empty set
/// still costs its own struct and strings.
pub fn grant_set_cost(s: &GrantSet) -> usize {
    let shared = grant_set_shared_bytes(s);
    let each = size_of::<Grant>() + shared;
    s.principal_ids
        .iter()
        .fold(size_of::<GrantSet>() + shared, |sum, id| {
            sum.saturating_add(each + STRING_OVERHEAD + id.len())
        })
}

/// Ids and slugs end up in Baton ids, log lines and error messages, where a
/// control character (CR, LF, ESC) could forge or garble a line.
fn check_plain(what: &str, text: &str) -> Result<(), String> {
    if text.chars().any(char::is_control) {
        return Err(format!("{what} {text:?} contains a control character"));
    }
    Ok(())
}

fn check_id(what: &str, id: &ResourceId, types: &[ResourceType]) -> Result<(), String> {
    if id.resource.is_empty() {
        return Err(format!("{what} has an empty id"));
    }
    check_plain(&format!("{what} id"), &id.resource)?;
    check_plain(&format!("{what} type"), &id.resource_type)?;
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
    let profile = match &r.trait_ {
        Some(ResourceTrait::User(u)) => &u.profile_json,
        Some(ResourceTrait::Group(g)) => &g.profile_json,
        Some(ResourceTrait::Role(g)) => &g.profile_json,
        None => &None,
    };
    check_json(&format!("profile of {name}"), profile)
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
    check_plain("entitlement slug", &e.slug)?;
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
    check_plain("grant entitlement slug", &g.entitlement_slug)?;
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
    let (owner, slug) = (&s.entitlement_resource, &s.entitlement_slug);
    let entitlement = format!("{}:{}:{slug}", owner.resource_type, owner.resource);
    let name =
        |principal: &str| format!("grant of {entitlement} to {}:{principal}", s.principal_type);
    let shared = grant_set_shared_bytes(s);
    let Some(first) = s.principal_ids.first() else {
        // Nothing to store, but its strings are held until the call ends.
        if shared > max_bytes {
            return Err(format!(
                "grant set of {entitlement} to no principals is larger than {max_bytes} bytes"
            ));
        }
        return Ok(());
    };
    check_id("grant entitlement resource", &s.entitlement_resource, types)?;
    check_plain("grant entitlement slug", &s.entitlement_slug)?;
    if s.entitlement_slug.is_empty() {
        return Err(format!("{} has an empty entitlement slug", name(first)));
    }
    check_json(&format!("metadata of {}", name(first)), &s.metadata_json)?;
    // The type once (with the first id, for the message), then each id.
    let first_principal = ResourceId {
        resource_type: s.principal_type.clone(),
        resource: first.clone(),
    };
    check_id("grant principal", &first_principal, types)?;
    for id in &s.principal_ids {
        check_plain("grant principal id", id)?;
        if id.is_empty() {
            return Err(format!(
                "grant set of {entitlement} to {} principals has a principal with an empty id",
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
    use crate::bindings::types::{
        AccountType, Email, EntitlementPurpose, GroupTrait, ResourceStatus, StructuredName,
        UserStatus, UserTrait,
    };

    fn user_types() -> Vec<ResourceType> {
        vec![ResourceType {
            id: "user".into(),
            display_name: "User".into(),
            description: None,
            traits: vec![ResourceTraitKind::User],
            skip_entitlements_and_grants: false,
        }]
    }

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

    fn user(id: &str) -> Resource {
        Resource {
            id: ResourceId {
                resource_type: "user".into(),
                resource: id.into(),
            },
            parent: None,
            display_name: "U".into(),
            description: None,
            external_id: None,
            status: ResourceStatus::Unspecified,
            created_at: None,
            trait_: Some(ResourceTrait::User(UserTrait {
                emails: vec![],
                login: None,
                login_aliases: vec![],
                status: UserStatus::Enabled,
                status_details: None,
                account_type: AccountType::Human,
                structured_name: None,
                employee_ids: vec![],
                profile_json: None,
                created_at: None,
                last_login: None,
                mfa_enabled: None,
            })),
        }
    }

    /// Every string of a record counts, and each element of a list costs
    /// at least a `String`'s overhead, so a list of empty strings is not free.
    #[test]
    fn every_string_of_a_record_counts() {
        let base = user("u1");
        let plain = resource_bytes(&base);
        assert_eq!(plain, "user".len() + "u1".len() + "U".len());
        let mut fat = base.clone();
        fat.external_id = Some("e".repeat(1000));
        fat.parent = Some(ResourceId {
            resource_type: "user".into(),
            resource: "p".repeat(10),
        });
        fat.description = Some("d".repeat(7));
        let Some(ResourceTrait::User(u)) = &mut fat.trait_ else {
            unreachable!()
        };
        u.login_aliases = vec!["a".repeat(100); 3];
        u.employee_ids = vec![String::new(); 1000];
        u.status_details = Some("s".repeat(5));
        u.emails = vec![Email {
            address: "x@y".into(),
            is_primary: true,
        }];
        u.structured_name = Some(StructuredName {
            given_name: "g".into(),
            family_name: "f".into(),
            middle_names: vec!["m".into()],
            prefix: String::new(),
            suffix: String::new(),
        });
        let s = STRING_OVERHEAD;
        let expected =
            plain + 1000 + 14 + 7 + 3 * (s + 100) + 1000 * s + 5 + (s + 3) + (1 + 1 + s + 1);
        assert_eq!(resource_bytes(&fat), expected);
        assert_eq!(resource_cost(&fat), size_of::<Resource>() + expected);
        // A thousand empty employee ids break a cap they would slip under
        // if only their bytes counted.
        let err = validate_resource(&fat, &user_types(), 20_000).unwrap_err();
        assert!(err.contains("user:u1 is larger than 20000 bytes"), "{err}");

        let e = Entitlement {
            resource: base.id.clone(),
            slug: "member".into(),
            display_name: "M".into(),
            description: None,
            purpose: EntitlementPurpose::Assignment,
            grantable_to: vec![String::new(); 10],
            immutable: false,
            metadata_json: Some("{}".into()),
        };
        assert_eq!(entitlement_bytes(&e), 6 + 6 + 1 + 10 * s + 2);
        let g = Grant {
            entitlement_resource: base.id.clone(),
            entitlement_slug: "member".into(),
            principal: base.id.clone(),
            expansion: Some(GrantExpansion {
                entitlement_ids: vec!["x".into(); 2],
                shallow: false,
                resource_type_ids: vec![String::new()],
            }),
            immutable_reason: Some("r".into()),
            metadata_json: None,
        };
        assert_eq!(grant_bytes(&g), 6 + 6 + 6 + 2 * (s + 1) + s + 1);
    }

    /// The overhead charged per record is the struct the host holds, and
    /// an empty record costs it.
    #[test]
    fn an_empty_record_costs_its_struct() {
        let empty = user("");
        assert_eq!(
            resource_cost(&empty),
            std::mem::size_of::<Resource>() + "user".len() + "U".len()
        );
        assert!(resource_cost(&empty) > 400, "{}", resource_cost(&empty));
    }

    /// A set costs at least the grants it expands to, and an empty set its
    /// own strings: neither is free, and an oversized empty set is refused.
    #[test]
    fn grant_sets_cost_what_they_expand_to() {
        let mut s = set(&["a", "bb", "c"]);
        s.expansion = Some(GrantExpansion {
            entitlement_ids: vec!["group:g2:member".into()],
            shallow: true,
            resource_type_ids: vec![],
        });
        let expanded: usize = expand_grant_set(s.clone()).map(|g| grant_cost(&g)).sum();
        assert!(
            grant_set_cost(&s) >= expanded,
            "{} < {expanded}",
            grant_set_cost(&s)
        );
        let mut empty = set(&[]);
        assert!(grant_set_cost(&empty) > size_of::<GrantSet>());
        empty.metadata_json = Some(format!("{{\"x\":\"{}\"}}", "y".repeat(2000)));
        let err = validate_grant_set(&empty, &types(), 1024).unwrap_err();
        assert!(
            err.contains("grant set of group:g1:member to no principals is larger than 1024"),
            "{err}"
        );
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
        let err = validate_resource(&group("g1\r\nINFO forged", None), &types(), 1024).unwrap_err();
        assert_eq!(
            err,
            r#"resource id "g1\r\nINFO forged" contains a control character"#
        );
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
