//! Grants in sets: one entitlement, many principals of one type.
//!
//! Decision: a member listing yields thousands of grants that differ only in
//! the principal's id. As sets (contract 0.1.1) each grant crosses the
//! boundary as one string instead of five, and the connector builds the
//! entitlement's strings once per set instead of once per grant. Built for
//! contract 0.1.0, the SDK expands sets into grants in the guest.

use crate::{Grant, ResourceId};

#[cfg(not(feature = "contract-0-1-0"))]
pub use crate::bindings::idgov::connector::types::GrantSet;

/// The contract 0.1.1 record, for components built for 0.1.0 (which lacks it).
#[cfg(feature = "contract-0-1-0")]
#[derive(Clone, Debug, PartialEq)]
pub struct GrantSet {
    pub entitlement_resource: ResourceId,
    pub entitlement_slug: String,
    pub principal_type: String,
    pub principal_ids: Vec<String>,
    pub expansion: Option<crate::GrantExpansion>,
    pub immutable_reason: Option<String>,
    pub metadata_json: Option<String>,
}

/// The grants the sets stand for: one per principal id, in order.
pub fn grant_set_grants(sets: &[GrantSet]) -> Vec<Grant> {
    sets.iter()
        .flat_map(|s| {
            s.principal_ids.iter().map(move |id| Grant {
                entitlement_resource: s.entitlement_resource.clone(),
                entitlement_slug: s.entitlement_slug.clone(),
                principal: ResourceId {
                    resource_type: s.principal_type.clone(),
                    resource: id.clone(),
                },
                expansion: s.expansion.clone(),
                immutable_reason: s.immutable_reason.clone(),
                metadata_json: s.metadata_json.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_stands_for_one_grant_per_principal_in_order() {
        let set = GrantSet {
            entitlement_resource: crate::resource_id("group", "g"),
            entitlement_slug: "member".into(),
            principal_type: "user".into(),
            principal_ids: vec!["u2".into(), "u1".into()],
            expansion: None,
            immutable_reason: None,
            metadata_json: Some("{}".into()),
        };
        let empty = GrantSet {
            principal_ids: vec![],
            ..set.clone()
        };
        let grants = grant_set_grants(&[set, empty]);
        let principals: Vec<String> = grants
            .iter()
            .map(|g| format!("{}:{}", g.principal.resource_type, g.principal.resource))
            .collect();
        assert_eq!(principals, ["user:u2", "user:u1"]);
        assert!(grants.iter().all(|g| g.entitlement_resource.resource == "g"
            && g.entitlement_slug == "member"
            && g.metadata_json.as_deref() == Some("{}")));
    }
}
