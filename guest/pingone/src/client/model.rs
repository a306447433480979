//! Serde shapes of the PingOne payloads the connector reads.
//!
//! Decision: only `id` is required. PingOne omits absent attributes instead
//! of sending `null`, environments can make `email` optional, and servers add
//! fields over time, so every other field is optional and unknown fields are
//! ignored. A payload without an `id` is structurally broken and fails to
//! decode (the caller names the endpoint).

use serde::Deserialize;
use serde::de::IgnoredAny;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Name {
    pub formatted: Option<String>,
    pub given: Option<String>,
    pub middle: Option<String>,
    pub family: Option<String>,
    pub honorific_prefix: Option<String>,
    pub honorific_suffix: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub status: Option<String>,
    pub can_authenticate: Option<bool>,
    pub locked_at: Option<String>,
    pub unlock_at: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Status {
    pub status: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct IdentityProvider {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct SignOn {
    pub at: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub name: Option<Name>,
    pub population: Option<IdOnly>,
    pub enabled: Option<bool>,
    pub account: Option<Account>,
    pub lifecycle: Option<Status>,
    pub identity_provider: Option<IdentityProvider>,
    pub external_id: Option<String>,
    pub title: Option<String>,
    #[serde(rename = "type")]
    pub user_type: Option<String>,
    pub mfa_enabled: Option<bool>,
    pub last_sign_on: Option<SignOn>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct MemberCounts {
    pub users: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub population: Option<IdOnly>,
    pub user_filter: Option<String>,
    pub external_id: Option<String>,
    pub source_type: Option<String>,
    pub direct_member_counts: Option<MemberCounts>,
    pub custom_data: Option<serde_json::Value>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

impl Group {
    /// Direct user members, when PingOne reported the count.
    pub fn direct_users(&self) -> Option<u64> {
        self.direct_member_counts.as_ref().and_then(|c| c.users)
    }

    /// The dynamic membership filter, if the group has a non-empty one.
    pub fn dynamic_filter(&self) -> Option<&str> {
        self.user_filter
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Population {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub default: Option<bool>,
    pub user_count: Option<u64>,
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub applicable_to: Option<Vec<String>>,
    pub permissions: Option<Vec<IgnoredAny>>,
    /// `PLATFORM` or `CUSTOM` on environment role listings.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Scope {
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    pub id: String,
    pub role: IdOnly,
    pub scope: Scope,
    pub read_only: Option<bool>,
}

/// A row of `_embedded.groupMemberships`: a user's group or a group's parent.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct GroupMembership {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// Only the id of an object: a listed one (member listings), and every
/// reference (`{"id": "..."}`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct IdOnly {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    pub id: Option<String>,
    pub name: Option<String>,
    pub region: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub organization: Option<IdOnly>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerates_unknown_and_missing_fields() {
        let u: User =
            serde_json::from_str(r#"{"id":"u1","_x_extra":{"a":1},"costCenter":"7"}"#).unwrap();
        assert_eq!(u.id, "u1");
        assert!(u.username.is_none() && u.name.is_none());
        let g: Group = serde_json::from_str(
            r#"{"id":"g","userFilter":"  ","directMemberCounts":{"users":3}}"#,
        )
        .unwrap();
        assert_eq!(g.dynamic_filter(), None);
        assert_eq!(g.direct_users(), Some(3));
        let r: Role =
            serde_json::from_str(r#"{"id":"r","permissions":[{"id":"p"},{"id":"q"}]}"#).unwrap();
        assert_eq!(r.permissions.map(|p| p.len()), Some(2));
    }

    #[test]
    fn id_is_required() {
        assert!(serde_json::from_str::<User>(r#"{"username":"x"}"#).is_err());
        assert!(serde_json::from_str::<RoleAssignment>(r#"{"id":"a","scope":{}}"#).is_err());
    }
}
