//! PingOne ids that go into URL paths.
//!
//! Threat: an id from a ConductorOne task, a CLI flag or a c1z record is
//! untrusted text, and provisioning puts it into a URL path. URL parsers
//! resolve dot-segments, so revoking the membership of user
//! `../groups/<gid>` would send `DELETE …/groups/<gid>/memberOfGroups/…`,
//! and deleting user `../groups/<gid>` would delete that group: a request
//! sent where it was not meant to go.
//!
//! Decision: every id a provisioning call puts in a path (or in a body that
//! names a PingOne object) must be a PingOne id, a UUID (the shape Ping's
//! SDK validates), checked before any request is sent; a malformed id is
//! refused with an error naming what it was meant to be and the value.
//! Ids read back from PingOne (an assignment id, a new user's id) are
//! checked the same way before they are used in a path, as an `internal`
//! error: PingOne answered something it does not send. The host refuses
//! dot-segments and encoded slashes in any guest URL as well (defence in
//! depth), so an unchecked id elsewhere cannot escape its segment either.

use connector_sdk::ConnectorError;

use crate::config::is_uuid;

/// An example of the expected shape, for error messages.
const EXAMPLE: &str = "b4f5e266-a946-4f77-9cc5-5dc91b046431";

/// `id` when it is a PingOne id; otherwise `invalid-argument` naming `what`
/// (e.g. "user id") and the value.
pub fn checked<'a>(what: &str, id: &'a str) -> Result<&'a str, ConnectorError> {
    if is_uuid(id) {
        Ok(id)
    } else {
        Err(ConnectorError::InvalidArgument(format!(
            "{what} {} is not a PingOne id (a UUID such as {EXAMPLE}); nothing was sent",
            shown(id)
        )))
    }
}

/// [`checked`] for an id PingOne sent back: `internal`, since PingOne
/// sends UUIDs only.
pub fn checked_answer<'a>(what: &str, id: &'a str) -> Result<&'a str, ConnectorError> {
    checked(what, id).map_err(|_| {
        ConnectorError::Internal(format!(
            "PingOne answered {what} {}, which is not a PingOne id (a UUID); it is not used in \
             a request",
            shown(id)
        ))
    })
}

/// The value quoted and cut to a readable length (it is untrusted text).
fn shown(id: &str) -> String {
    const MAX: usize = 120;
    match id.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &id[..cut]),
        None => format!("{id:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uuids_pass() {
        assert_eq!(checked("user id", EXAMPLE).unwrap(), EXAMPLE);
        for bad in [
            "",
            "..",
            ".",
            "../groups/b4f5e266-a946-4f77-9cc5-5dc91b046431",
            "b4f5e266-a946-4f77-9cc5-5dc91b046431/..",
            "b4f5e266%2fa946-4f77-9cc5-5dc91b046431",
            "b4f5e266-a946-4f77-9cc5-5dc91b04643",
            "b4f5e266-a946-4f77-9cc5-5dc91b046431 ",
            "b4f5e266-a946-4f77-9cc5-5dc91b04643g",
            "b4f5e266a946-4f77-9cc5-5dc91b046431-",
        ] {
            let e = checked("user id", bad).unwrap_err();
            assert!(
                matches!(&e, ConnectorError::InvalidArgument(m)
                    if m.starts_with("user id ") && m.contains(&format!("{bad:?}"))),
                "{bad:?}: {e:?}"
            );
        }
        let e = checked_answer("role assignment id", "../x").unwrap_err();
        assert!(
            matches!(&e, ConnectorError::Internal(m) if m.contains("role assignment id \"../x\"")),
            "{e:?}"
        );
    }

    #[test]
    fn long_values_are_cut() {
        let long = "a".repeat(500);
        let e = checked("group id", &long).unwrap_err();
        assert!(e.message().len() < 300, "{}", e.message());
    }
}
