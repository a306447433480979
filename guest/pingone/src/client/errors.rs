//! PingOne answers → `ConnectorError`, with messages an operator can act on.
//!
//! Decision: the host already retried what is retryable (429, 5xx and
//! connection failures of idempotent requests) and refreshed the token once
//! on a 401, so every non-2xx the guest sees is final. The kind follows the
//! status (401 unauthenticated, 403 permission-denied, 404 not-found, 429/5xx
//! unavailable so the host may retry the whole call later); the message keeps
//! PingOne's own `code`/`message`/`details` and adds the hint that fixes the
//! usual cause: missing admin roles on the worker app, a wrong environment or
//! region, or an API URL that does not point at the management API. What a
//! body means is [`crate::client::failure::classify`]'s decision (documented codes,
//! never message phrases): a 403 without PingOne's `code` is the gateway's
//! answer to an unknown path. Writes wait out documented propagation
//! windows there, before their answer reaches this module.

use connector_sdk::ConnectorError;
use connector_sdk::http::Response;
use serde::Deserialize;

use crate::client::failure::{Detail, Failure};

/// The role hint shared by every permission message.
pub const ROLE_HINT: &str = "assign the worker application the Identity Data Read Only role \
     (sync) or Identity Data Admin (provisioning), scoped to this environment; PingOne grants API \
     permissions to worker apps through admin roles, not p1:* scopes";

#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    details: Vec<Detail>,
    /// OAuth-style bodies (token endpoint, some gateways).
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// PingOne's error envelope, rendered as one line: `CODE: message (DETAIL
/// target: message; ...)`. Falls back to a body snippet when the body is
/// not PingOne's JSON.
pub fn describe_body(resp: &Response) -> String {
    let Ok(b) = serde_json::from_slice::<ErrorBody>(&resp.body) else {
        let s = resp.body_snippet();
        return if s.trim().is_empty() {
            format!("HTTP {}", resp.status)
        } else {
            s
        };
    };
    let code = b.code.as_deref().or(b.error.as_deref());
    let message = b.message.as_deref().or(b.error_description.as_deref());
    let mut out = [code, message]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(": ");
    let details: Vec<String> = b
        .details
        .iter()
        .map(|d| {
            let mut s = d.code.clone().unwrap_or_default();
            if let Some(t) = &d.target {
                s.push_str(&format!(" {t}"));
            }
            if let Some(m) = &d.message {
                s.push_str(&format!(": {m}"));
            }
            s
        })
        .collect();
    if !details.is_empty() {
        out.push_str(&format!(" ({})", details.join("; ")));
    }
    if out.is_empty() {
        format!("HTTP {}", resp.status)
    } else {
        out
    }
}

/// True when the error body has a detail with this `code`.
pub fn has_detail(resp: &Response, code: &str) -> bool {
    serde_json::from_slice::<ErrorBody>(&resp.body)
        .map(|b| b.details.iter().any(|d| d.code.as_deref() == Some(code)))
        .unwrap_or(false)
}

/// PingOne's "it is already there": 409, or 400 with UNIQUENESS_VIOLATION.
pub fn is_duplicate(resp: &Response) -> bool {
    resp.status == 409 || (resp.status == 400 && has_detail(resp, "UNIQUENESS_VIOLATION"))
}

/// True when a 400 is a filter PingOne did not accept.
pub fn is_invalid_filter(resp: &Response) -> bool {
    Failure::of(resp) == Some(Failure::InvalidFilter)
}

/// True when a 400 refuses the `limit` query parameter.
pub fn is_invalid_limit(resp: &Response) -> bool {
    Failure::of(resp) == Some(Failure::InvalidLimit)
}

/// Maps a final non-2xx answer to an error; `what` names the call
/// ("listing users", "GET /groups/{id}/memberOfGroups").
pub fn status_error(resp: &Response, what: &str) -> ConnectorError {
    let body = describe_body(resp);
    let status = resp.status;
    match status {
        401 => ConnectorError::Unauthenticated(format!(
            "{what}: PingOne refused the access token even after a refresh ({status} {body}); \
             check {} and {}",
            crate::config::CLIENT_ID,
            crate::config::CLIENT_SECRET
        )),
        403 if Failure::of(resp) == Some(Failure::UnknownPath) => {
            ConnectorError::InvalidConfig(format!(
                "{what}: the API host answered 403 \"{body}\", which is how PingOne's gateway answers \
             an unknown path: check {} (it must be the management API base, e.g. \
             https://api.pingone.com)",
                crate::config::API_URL
            ))
        }
        403 if Failure::of(resp) == Some(Failure::Unlicensed) => {
            ConnectorError::PermissionDenied(format!(
                "{what}: {status} {body}; the environment's PingOne license does not allow this \
                 request"
            ))
        }
        403 => ConnectorError::PermissionDenied(format!(
            "{what}: {status} {body}; {ROLE_HINT} (a 403 also means the environment does not \
             exist in this region)"
        )),
        404 => ConnectorError::NotFound(format!("{what}: {status} {body}")),
        408 | 425 | 429 | 500..=599 => ConnectorError::Unavailable(format!(
            "{what}: {status} {body} (after the host's retries)"
        )),
        400..=499 => ConnectorError::InvalidArgument(format!("{what}: {status} {body}")),
        _ => ConnectorError::Internal(format!("{what}: unexpected HTTP {status}: {body}")),
    }
}

/// `Ok` for 2xx, the mapped error otherwise.
pub fn check<'a>(resp: &'a Response, what: &str) -> Result<&'a Response, ConnectorError> {
    if resp.is_success() {
        Ok(resp)
    } else {
        Err(status_error(resp, what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn statuses_map_to_kinds() {
        let b = r#"{"id":"x","code":"ACCESS_FAILED","message":"The actor attempting to perform the request is not authorized.","details":[{"code":"INSUFFICIENT_PERMISSIONS","message":"nope"}]}"#;
        let e = status_error(&resp(403, b), "listing users");
        let ConnectorError::PermissionDenied(m) = &e else {
            panic!("{e:?}")
        };
        assert!(
            m.starts_with("listing users: 403 ACCESS_FAILED: The actor"),
            "{m}"
        );
        assert!(m.contains("INSUFFICIENT_PERMISSIONS: nope"), "{m}");
        assert!(m.contains("Identity Data Read Only"), "{m}");
        assert!(matches!(
            status_error(&resp(401, b), "x"),
            ConnectorError::Unauthenticated(_)
        ));
        assert!(matches!(
            status_error(&resp(404, "{}"), "x"),
            ConnectorError::NotFound(_)
        ));
        assert!(matches!(
            status_error(&resp(429, ""), "x"),
            ConnectorError::Unavailable(_)
        ));
        assert!(matches!(
            status_error(&resp(503, "down"), "x"),
            ConnectorError::Unavailable(_)
        ));
        assert!(matches!(
            status_error(&resp(400, "{}"), "x"),
            ConnectorError::InvalidArgument(_)
        ));
        assert!(matches!(
            status_error(&resp(302, ""), "x"),
            ConnectorError::Internal(_)
        ));
    }

    #[test]
    fn a_license_403_says_so() {
        let b = r#"{"id":"x","code":"ACCESS_FAILED","message":"m","details":[{"code":"LICENSE_EXCEEDED","message":"over"}]}"#;
        let e = status_error(&resp(403, b), "creating user x");
        assert!(
            matches!(&e, ConnectorError::PermissionDenied(m) if m.contains("license") && !m.contains("Identity Data")),
            "{e:?}"
        );
    }

    #[test]
    fn gateway_403_points_at_the_api_url() {
        let b =
            r#"{"message":"Invalid key=value pair (missing equal-sign) in Authorization header"}"#;
        let e = status_error(&resp(403, b), "listing users");
        assert!(
            matches!(&e, ConnectorError::InvalidConfig(m) if m.contains("pingone-api-url")),
            "{e:?}"
        );
    }

    #[test]
    fn filter_errors_are_recognised() {
        let b = r#"{"code":"INVALID_DATA","message":"m","details":[{"code":"INVALID_FILTER","target":"filter","message":"bad"}]}"#;
        assert!(is_invalid_filter(&resp(400, b)));
        assert!(!is_invalid_filter(&resp(400, "{}")));
        assert!(has_detail(&resp(400, b), "INVALID_FILTER"));
        assert_eq!(
            describe_body(&resp(400, b)),
            "INVALID_DATA: m (INVALID_FILTER filter: bad)"
        );
        assert_eq!(describe_body(&resp(500, "")), "HTTP 500");
    }
}
