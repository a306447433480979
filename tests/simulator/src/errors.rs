//! PingOne's management-API error envelope (§6.1) and the status ↔ code
//! table (§6.2), as one `ApiError` type that every handler returns.
//!
//! Bodies are `{"id": <uuid>, "code", "message", "details": [...]}` with the
//! messages real clients have captured or the docs' tables give, used
//! verbatim; a case PingOne does not tell apart in its body (why a 403 is a
//! 403) is not told apart here either. The one exception is
//! the API gateway's 403 for an unknown path, which carries only a
//! `message` (it does not come from PingOne's services).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::util::{error_id, fmt_ts, now_ms};

pub const MSG_INVALID_DATA: &str =
    "The request could not be completed. One or more validation errors were in the request.";

/// One entry of `details[]`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Detail {
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub message: String,
    #[serde(rename = "innerError", skip_serializing_if = "Option::is_none")]
    pub inner_error: Option<Value>,
}

impl Detail {
    pub fn new(code: &str, target: Option<&str>, message: &str) -> Detail {
        Detail {
            code: code.into(),
            target: target.map(String::from),
            message: message.into(),
            inner_error: None,
        }
    }

    pub fn invalid_value(target: &str, message: &str) -> Detail {
        Detail::new("INVALID_VALUE", Some(target), message)
    }

    pub fn required(target: &str) -> Detail {
        Detail::new(
            "REQUIRED_VALUE",
            Some(target),
            &format!("{target} is required"),
        )
    }

    pub fn uniqueness(target: &str, message: &str) -> Detail {
        Detail::new("UNIQUENESS_VIOLATION", Some(target), message)
    }

    pub fn constraint(target: Option<&str>, message: &str) -> Detail {
        Detail::new("CONSTRAINT_VIOLATION", target, message)
    }

    pub fn inner(mut self, v: Value) -> Detail {
        self.inner_error = Some(v);
        self
    }
}

/// 400 INVALID_DATA with one validation detail.
impl From<Detail> for ApiError {
    fn from(d: Detail) -> ApiError {
        ApiError::invalid_data(vec![d])
    }
}

/// An error response: status, JSON body and extra headers.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn with(status: StatusCode, code: &str, message: &str, details: Vec<Detail>) -> ApiError {
        let mut body = json!({ "id": error_id(), "code": code, "message": message });
        if !details.is_empty() {
            body["details"] = serde_json::to_value(details).unwrap_or(Value::Null);
        }
        ApiError {
            status,
            body,
            retry_after: None,
        }
    }

    /// 400 INVALID_DATA with validation details.
    pub fn invalid_data(details: Vec<Detail>) -> ApiError {
        Self::with(
            StatusCode::BAD_REQUEST,
            "INVALID_DATA",
            MSG_INVALID_DATA,
            details,
        )
    }

    /// 400 (or 415) INVALID_REQUEST: the request itself is malformed.
    pub fn invalid_request(status: StatusCode, message: &str) -> ApiError {
        Self::with(status, "INVALID_REQUEST", message, vec![])
    }

    pub fn unsupported_media_type(got: &str) -> ApiError {
        Self::invalid_request(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!(
                "The request could not be completed. Content type '{got}' is not supported for this resource."
            ),
        )
    }

    pub fn not_found(message: &str) -> ApiError {
        Self::with(StatusCode::NOT_FOUND, "NOT_FOUND", message, vec![])
    }

    /// 401 for a missing, malformed, unknown or expired bearer token.
    pub fn invalid_token(detail: &str) -> ApiError {
        Self::with(
            StatusCode::UNAUTHORIZED,
            "ACCESS_FAILED",
            "The request could not be completed. You do not have access to this resource.",
            vec![Detail::new("INVALID_TOKEN", None, detail)],
        )
    }

    /// 403 for a missing role, another environment, a missing environment,
    /// a new one (DOCS-8830) or a role still propagating. PingOne's body is
    /// the same for all of them (§6.2, §7 quirks 1–3), so it carries
    /// documented wording alone and callers say the case in a comment.
    pub fn forbidden() -> ApiError {
        Self::with(
            StatusCode::FORBIDDEN,
            "ACCESS_FAILED",
            "The actor attempting to perform the request is not authorized.",
            // The docs' response-code table wording for a 403.
            vec![Detail::new(
                "INSUFFICIENT_PERMISSIONS",
                None,
                "You do not have permissions or are not licensed to make this request.",
            )],
        )
    }

    /// 409 for configured duplicate behaviours; keeps the 400's code so a
    /// connector keyed on `code` handles both.
    pub fn conflict(target: &str, message: &str) -> ApiError {
        Self::with(
            StatusCode::CONFLICT,
            "INVALID_DATA",
            MSG_INVALID_DATA,
            vec![Detail::uniqueness(target, message)],
        )
    }

    /// 429 for a bucket that has a token again in `wait` seconds.
    pub fn rate_limited(wait: f64) -> ApiError {
        let retry_at = fmt_ts(now_ms() + (wait * 1000.0).ceil() as i64);
        let mut e = Self::with(
            StatusCode::TOO_MANY_REQUESTS,
            "REQUEST_LIMITED",
            "The request could not be completed. The request was rate limited.",
            vec![
                Detail::new(
                    "LIMIT_EXCEEDED",
                    None,
                    "The rate limit for this resource has been exceeded.",
                )
                .inner(json!({ "retryAfter": retry_at })),
            ],
        );
        e.retry_after = Some(wait.ceil().max(1.0) as u64);
        e
    }

    /// 500 UNEXPECTED_ERROR, or 503. The reference documents no PingOne
    /// body for 502/503 (a gateway or outage answer, "generic"), so a 503
    /// body carries no PingOne `code`.
    pub fn server_error(status: u16) -> ApiError {
        if status != 503 {
            let message = "An unexpected error occurred.";
            return Self::with(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNEXPECTED_ERROR",
                message,
                vec![],
            );
        }
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: json!({ "message": "Service Unavailable" }),
            retry_after: Some(1),
        }
    }

    pub fn method_not_allowed() -> ApiError {
        Self::invalid_request(
            StatusCode::METHOD_NOT_ALLOWED,
            "The request could not be completed. The request method is not supported for this resource.",
        )
    }

    /// The API gateway's answer to an unknown `/v1` path (§7 quirk 9).
    pub fn gateway_forbidden() -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            body: json!({ "message": "Invalid key=value pair (missing equal-sign) in Authorization header" }),
            retry_after: None,
        }
    }
}

/// `body` as `application/json` with `status`.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, serde_json::to_vec(body).unwrap_or_default()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = json_response(self.status, &self.body);
        let h = resp.headers_mut();
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
