//! What a PingOne failure means, decided from the error envelope's
//! documented `code` and `details[]` (pingone-api.md §6.1–6.2), and which
//! failures of a write are worth waiting out.
//!
//! Threat: a rule keyed on message phrases retries whatever happens to
//! match, such as every ordinary missing-role 403, whose text is that of a
//! propagating role. PingOne's docs say to key client logic on `code`, not
//! on the status or the text (§6.1).
//!
//! Decisions:
//! - [`classify`] is the one mapping from (status, `code`, `details`) to a
//!   [`Failure`]. Only detail *codes* and targets decide, with a single
//!   exception: the role-scope refusal, whose documented signal is the
//!   detail message prefix "Must have role at the same or broader scope"
//!   (§6.2; Terraform keys its retry on exactly that).
//! - Two propagation windows are documented (§7 quirks 1 and 2) and only
//!   they are retried, each confirmed by a documented fact rather than by
//!   the body, which is the same as a permanent failure's:
//!   - a new environment (DOCS-8830): 403 `ACCESS_FAILED` or 404
//!     `NOT_FOUND` while the environment's `createdAt` is less than
//!     [`NEW_ENVIRONMENT_SECS`] old (the rule Ping's own SDK applies). The
//!     age is read once per write (`GET /environments/{env}`), only after
//!     such a failure;
//!   - the actor's own role still propagating: the role-scope refusal on
//!     a role assignment, retried for at most [`OWN_ROLE_WAITS_MS`].
//! - Anything else fails at once. A 403 on a write names the role the
//!   worker app lacks: Identity Data Admin for users and memberships; for
//!   a role assignment, the role being granted, at the same or a broader
//!   scope (§2.4).
//! - Retrying a refused write cannot apply it twice: a 403/404 or a refusal
//!   means nothing was applied.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use connector_sdk::http::{Request, Response};
use connector_sdk::{Auth, ConnectorError};
use serde::Deserialize;

use crate::client::api::Api;
use crate::client::errors;

/// Age under which an environment may still answer 403/404 for objects
/// it holds (DOCS-8830: Ping's SDK retries while `createdAt` is < 17 s old).
pub const NEW_ENVIRONMENT_SECS: f64 = 17.0;
/// Waits inside the new-environment window, the last one repeated until the
/// window closes.
#[cfg(not(test))]
const ENVIRONMENT_WAITS_MS: [u64; 4] = [250, 500, 1_000, 2_000];
/// Waits while the actor's own role propagates (7.75 s in all).
#[cfg(not(test))]
pub const OWN_ROLE_WAITS_MS: [u64; 5] = [250, 500, 1_000, 2_000, 4_000];
// Unit tests count the attempts, not the time.
#[cfg(test)]
const ENVIRONMENT_WAITS_MS: [u64; 4] = [1, 1, 1, 2];
#[cfg(test)]
pub const OWN_ROLE_WAITS_MS: [u64; 5] = [1, 1, 1, 1, 1];
/// The documented start of the role-scope refusal's detail message.
const ROLE_SCOPE_PREFIX: &str = "Must have role at the same or broader scope";

/// One entry of the envelope's `details[]`.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Detail {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Envelope {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    details: Vec<Detail>,
}

/// What a non-2xx answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 409, or 400 with `UNIQUENESS_VIOLATION`: it is already there.
    Duplicate,
    /// 400 with `INVALID_FILTER`: PingOne would not evaluate the filter.
    InvalidFilter,
    /// 400 with a detail whose target is `limit`: the page size is refused.
    InvalidLimit,
    /// The actor does not hold the role it grants at that scope (yet).
    RoleScope,
    /// Any other 400 (or 4xx): the request is wrong.
    Invalid,
    /// 401 `ACCESS_FAILED`: the token (the host has refreshed it once).
    Unauthenticated,
    /// 403 `ACCESS_FAILED` (`INSUFFICIENT_PERMISSIONS` or no detail): a role
    /// the actor lacks, a missing environment, or a new one.
    Forbidden,
    /// 403 with `LICENSE_EXCEEDED`.
    Unlicensed,
    /// 403 outside PingOne's envelope (no `code`): the API gateway's answer
    /// to a path it does not know (§7 quirk 9).
    UnknownPath,
    /// 404 (`NOT_FOUND`).
    NotFound,
    /// 408, 425, 429 (`REQUEST_LIMITED`), 5xx: transient, after the host's
    /// retries.
    Transient,
    /// Any other status.
    Unexpected,
}

/// Which documented propagation window could explain a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Nothing is propagating: the failure is final.
    None,
    /// Final unless the environment is new (DOCS-8830).
    NewEnvironment,
    /// The actor's own role may still be propagating.
    OwnRole,
}

fn has(details: &[Detail], code: &str) -> bool {
    details.iter().any(|d| d.code.as_deref() == Some(code))
}

/// The one classification of a failed answer.
pub fn classify(status: u16, code: Option<&str>, details: &[Detail]) -> Failure {
    let role_scope = details.iter().any(|d| {
        d.message
            .as_deref()
            .is_some_and(|m| m.trim_start().starts_with(ROLE_SCOPE_PREFIX))
    });
    match status {
        409 => Failure::Duplicate,
        400 | 403 if role_scope => Failure::RoleScope,
        400 if has(details, "UNIQUENESS_VIOLATION") => Failure::Duplicate,
        400 if has(details, "INVALID_FILTER") => Failure::InvalidFilter,
        400 if details.iter().any(|d| d.target.as_deref() == Some("limit")) => {
            Failure::InvalidLimit
        }
        401 => Failure::Unauthenticated,
        403 if code.is_none() => Failure::UnknownPath,
        403 if has(details, "LICENSE_EXCEEDED") => Failure::Unlicensed,
        403 => Failure::Forbidden,
        404 => Failure::NotFound,
        408 | 425 | 429 | 500..=599 => Failure::Transient,
        400..=499 => Failure::Invalid,
        _ => Failure::Unexpected,
    }
}

impl Failure {
    /// The failure of a non-2xx response (`None` for a 2xx).
    pub fn of(resp: &Response) -> Option<Failure> {
        if resp.is_success() {
            return None;
        }
        let env: Envelope = serde_json::from_slice(&resp.body).unwrap_or_default();
        Some(classify(resp.status, env.code.as_deref(), &env.details))
    }

    /// The documented window that could explain this failure of a write.
    pub fn window(self) -> Window {
        match self {
            Failure::Forbidden | Failure::NotFound => Window::NewEnvironment,
            Failure::RoleScope => Window::OwnRole,
            _ => Window::None,
        }
    }
}

/// The environment's age in seconds, from its `createdAt` (`None` when it
/// cannot be read: then no window is assumed).
fn environment_age(api: &Api) -> Option<f64> {
    #[derive(Deserialize)]
    struct Created {
        #[serde(rename = "createdAt")]
        created_at: Option<String>,
    }
    let resp = api
        .send(&api.environment(), "reading the environment")
        .ok()?;
    if !resp.is_success() {
        return None;
    }
    let created = serde_json::from_slice::<Created>(&resp.body)
        .ok()?
        .created_at?;
    let t = crate::time::parse(&created)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    let created = t.seconds as f64 + f64::from(t.nanos) / 1e9;
    Some(now.as_secs_f64() - created)
}

/// Sends a write, waiting out only the documented propagation windows, and
/// turns a final 403 into an error naming the role the worker app lacks.
/// Other answers are the caller's to interpret.
pub fn send_write(api: &Api, req: Request, what: &str) -> Result<Response, ConnectorError> {
    let started = Instant::now();
    // (age when read, read at): read once, after the first 403/404.
    let mut env_age: Option<Option<(f64, Instant)>> = None;
    let mut env_waits = ENVIRONMENT_WAITS_MS
        .iter()
        .copied()
        .chain(std::iter::repeat(ENVIRONMENT_WAITS_MS[3]));
    let mut role_waits = OWN_ROLE_WAITS_MS.iter().copied();
    loop {
        let resp = api
            .host
            .send(&req, &Auth::OAuth2)
            .map_err(|e| ConnectorError::from(e).context(what))?;
        let Some(failure) = Failure::of(&resp) else {
            return Ok(resp);
        };
        let wait = match failure.window() {
            Window::None => None,
            Window::OwnRole => role_waits.next(),
            Window::NewEnvironment => {
                let age = *env_age
                    .get_or_insert_with(|| environment_age(api).map(|a| (a, Instant::now())));
                // Clock skew can make a new environment look older or
                // younger; the window is also bounded by local time.
                let open = age
                    .is_some_and(|(a, at)| a + at.elapsed().as_secs_f64() < NEW_ENVIRONMENT_SECS)
                    && started.elapsed().as_secs_f64() < NEW_ENVIRONMENT_SECS;
                if open { env_waits.next() } else { None }
            }
        };
        match wait {
            Some(ms) => std::thread::sleep(Duration::from_millis(ms)),
            None if failure == Failure::Forbidden || failure == Failure::RoleScope => {
                return Err(permission_error(&req, &resp, what, failure));
            }
            None => return Ok(resp),
        }
    }
}

/// A final 403 (or role-scope refusal) of a write, naming the missing role.
/// A DELETE sent as a write; `Ok(true)` when it was already gone (404).
pub fn delete(api: &Api, url: &str, what: &str) -> Result<bool, ConnectorError> {
    let resp = send_write(api, Request::delete(url), what)?;
    if resp.status == 404 {
        return Ok(true);
    }
    errors::check(&resp, what)?;
    Ok(false)
}

fn permission_error(req: &Request, resp: &Response, what: &str, f: Failure) -> ConnectorError {
    let body = errors::describe_body(resp);
    let status = resp.status;
    let need = if req.url.contains("/roleAssignments") {
        "the role it is assigning, at the same or a broader scope (PingOne lets an actor \
         assign only roles it holds), and Identity Data Admin"
    } else {
        "the Identity Data Admin role"
    };
    let waited = if f == Failure::RoleScope {
        " (still refused after waiting for the role to propagate)"
    } else {
        ""
    };
    ConnectorError::PermissionDenied(format!(
        "{what}: {status} {body}{waited}; the worker application lacks {need}: assign it to \
         the application, scoped to this environment (PingOne grants worker apps API \
         permissions through admin roles, not p1:* scopes; a 403 also means the environment \
         does not exist in this region)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(code: &str, target: Option<&str>, message: Option<&str>) -> Detail {
        Detail {
            code: Some(code.into()),
            target: target.map(String::from),
            message: message.map(String::from),
        }
    }

    #[test]
    fn each_documented_case_has_its_decision() {
        let c = |s, code, ds: &[Detail]| classify(s, code, ds);
        let inv = Some("INVALID_DATA");
        let acc = Some("ACCESS_FAILED");
        // §6.2 and §6.3: duplicates, as 400 or 409.
        assert_eq!(
            c(400, inv, &[d("UNIQUENESS_VIOLATION", Some("role"), None)]),
            Failure::Duplicate
        );
        assert_eq!(c(409, None, &[]), Failure::Duplicate);
        assert_eq!(
            c(400, inv, &[d("INVALID_FILTER", Some("filter"), None)]),
            Failure::InvalidFilter
        );
        for code in ["INVALID_VALUE", "OUT_OF_RANGE", "INVALID_PARAMETER"] {
            assert_eq!(
                c(400, inv, &[d(code, Some("limit"), None)]),
                Failure::InvalidLimit
            );
        }
        assert_eq!(
            c(400, inv, &[d("INVALID_VALUE", Some("scope"), None)]),
            Failure::Invalid
        );
        assert_eq!(c(400, Some("INVALID_REQUEST"), &[]), Failure::Invalid);
        assert_eq!(c(415, Some("INVALID_REQUEST"), &[]), Failure::Invalid);
        // The role-scope refusal, whatever its code and status.
        let scope = d(
            "INVALID_VALUE",
            Some("scope"),
            Some("Must have role at the same or broader scope"),
        );
        assert_eq!(
            c(400, inv, std::slice::from_ref(&scope)),
            Failure::RoleScope
        );
        assert_eq!(c(403, acc, &[scope]), Failure::RoleScope);
        assert_eq!(
            c(401, acc, &[d("INVALID_TOKEN", None, None)]),
            Failure::Unauthenticated
        );
        assert_eq!(
            c(403, acc, &[d("INSUFFICIENT_PERMISSIONS", None, None)]),
            Failure::Forbidden
        );
        assert_eq!(c(403, acc, &[]), Failure::Forbidden);
        assert_eq!(
            c(403, acc, &[d("LICENSE_EXCEEDED", None, None)]),
            Failure::Unlicensed
        );
        // The gateway's 403 carries no PingOne code.
        assert_eq!(c(403, None, &[]), Failure::UnknownPath);
        assert_eq!(c(404, Some("NOT_FOUND"), &[]), Failure::NotFound);
        assert_eq!(
            c(
                429,
                Some("REQUEST_LIMITED"),
                &[d("LIMIT_EXCEEDED", None, None)]
            ),
            Failure::Transient
        );
        assert_eq!(c(500, Some("UNEXPECTED_ERROR"), &[]), Failure::Transient);
        assert_eq!(c(503, None, &[]), Failure::Transient);
        assert_eq!(c(302, None, &[]), Failure::Unexpected);
    }

    #[test]
    fn only_documented_windows_are_waited_out() {
        use Failure::*;
        for f in [Forbidden, NotFound] {
            assert_eq!(f.window(), Window::NewEnvironment, "{f:?}");
        }
        assert_eq!(RoleScope.window(), Window::OwnRole);
        for f in [
            Duplicate,
            InvalidFilter,
            InvalidLimit,
            Invalid,
            Unauthenticated,
            Unlicensed,
            UnknownPath,
            Transient,
            Unexpected,
        ] {
            assert_eq!(f.window(), Window::None, "{f:?}");
        }
    }

    fn forbidden() -> serde_json::Value {
        serde_json::json!({"id": "x", "code": "ACCESS_FAILED",
            "message": "The actor attempting to perform the request is not authorized.",
            "details": [{"code": "INSUFFICIENT_PERMISSIONS",
                "message": "You do not have permissions or are not licensed to make this request."}]})
    }

    fn environment(created: &str) -> serde_json::Value {
        serde_json::json!({"id": crate::testutil::ENV, "createdAt": created})
    }

    fn rfc3339(secs_ago: u64) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - secs_ago;
        // Days and seconds since the epoch → a UTC timestamp.
        let (days, rem) = ((now / 86_400) as i64, now % 86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    }

    fn write(h: &connector_sdk::testing::MockHost, url: &str) -> Result<Response, ConnectorError> {
        let s = crate::testutil::settings();
        let api = Api::new(h, &s);
        send_write(
            &api,
            Request::post(url).json(&serde_json::json!({"id": "g"})),
            "adding",
        )
    }

    #[test]
    fn a_permission_403_fails_at_once_naming_the_role() {
        use crate::testutil::{API, ENV, host, ok, status};
        let env_url = format!("{API}/v1/environments/{ENV}");
        let member = format!("{env_url}/users/u/memberOfGroups");
        let roles = format!("{env_url}/users/u/roleAssignments");
        let h = host(vec![
            (member.clone(), status(403, forbidden())),
            (roles.clone(), status(403, forbidden())),
            (env_url.clone(), ok(environment("2021-09-03T18:04:03.916Z"))),
        ]);
        let started = Instant::now();
        let e = write(&h, &member).unwrap_err();
        let ConnectorError::PermissionDenied(m) = &e else {
            panic!("{e:?}")
        };
        assert!(m.contains("lacks the Identity Data Admin role"), "{m}");
        assert!(m.contains("INSUFFICIENT_PERMISSIONS"), "{m}");
        let e = write(&h, &roles).unwrap_err();
        assert!(
            e.message()
                .contains("the role it is assigning, at the same or a broader scope"),
            "{e:?}"
        );
        assert!(started.elapsed() < Duration::from_millis(200), "no waiting");
        let sent: Vec<String> = h.requests.borrow().iter().map(|r| r.url.clone()).collect();
        // Each write once, and the environment's age read once per write.
        assert_eq!(sent, [member.clone(), env_url.clone(), roles, env_url]);
    }

    #[test]
    fn a_new_environment_is_waited_out() {
        use crate::testutil::{API, ENV, ok, status};
        let env_url = format!("{API}/v1/environments/{ENV}");
        let member = format!("{env_url}/users/u/memberOfGroups");
        let created = rfc3339(1);
        let writes = std::cell::Cell::new(0);
        let h = connector_sdk::testing::MockHost::new(move |req, _| {
            if req.url == env_url {
                return ok(environment(&created));
            }
            writes.set(writes.get() + 1);
            match writes.get() {
                1 => status(
                    404,
                    serde_json::json!({"id": "x", "code": "NOT_FOUND", "message": "m"}),
                ),
                2 => status(403, forbidden()),
                _ => status(201, serde_json::json!({"id": "g"})),
            }
        });
        let r = write(&h, &member).unwrap();
        assert_eq!(r.status, 201);
        let sent: Vec<String> = h.requests.borrow().iter().map(|r| r.url.clone()).collect();
        assert_eq!(
            sent.len(),
            4,
            "{sent:?}: three writes, one environment read"
        );
    }

    #[test]
    fn the_actors_own_role_is_waited_out_then_named() {
        use crate::testutil::{API, ENV, status};
        let url = format!("{API}/v1/environments/{ENV}/users/u/roleAssignments");
        let body = serde_json::json!({"id": "x", "code": "INVALID_DATA",
            "message": "The request could not be completed. One or more validation errors were in the request.",
            "details": [{"code": "INVALID_VALUE", "target": "scope",
                "message": "Must have role at the same or broader scope"}]});
        let h = connector_sdk::testing::MockHost::new(move |_, _| status(400, body.clone()));
        let e = write(&h, &url).unwrap_err();
        assert!(
            matches!(&e, ConnectorError::PermissionDenied(m) if m.contains("after waiting")),
            "{e:?}"
        );
        assert_eq!(h.requests.borrow().len(), 1 + OWN_ROLE_WAITS_MS.len());
    }

    #[test]
    fn message_phrases_decide_nothing() {
        // The phrases an older rule matched: they change no decision.
        for m in [
            "The actor attempting to perform the request is not authorized.",
            "The referenced resource is not yet available; this may be due to eventual consistency",
            "The role assignment has not propagated yet.",
        ] {
            let body = serde_json::json!({"code": "ACCESS_FAILED", "message": m,
                "details": [{"code": "INSUFFICIENT_PERMISSIONS", "message": m}]});
            let r = Response {
                status: 403,
                headers: vec![],
                body: body.to_string().into_bytes(),
            };
            assert_eq!(Failure::of(&r), Some(Failure::Forbidden));
        }
        let ok = Response {
            status: 201,
            headers: vec![],
            body: vec![],
        };
        assert_eq!(Failure::of(&ok), None);
        let garbage = Response {
            status: 403,
            headers: vec![],
            body: b"<html>".to_vec(),
        };
        assert_eq!(Failure::of(&garbage), Some(Failure::UnknownPath));
    }
}
