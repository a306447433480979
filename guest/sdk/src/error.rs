//! The connector's error type is the contract's `connector-error` variant.
//!
//! Decision: one error type end to end, so a connector never loses the kind
//! of a failure (transient `unavailable` versus an operator's `invalid-config`)
//! on its way to the host, which retries or reports by kind.

use crate::bindings::idgov::connector::http::HttpError;
pub use crate::bindings::idgov::connector::types::ConnectorError;
use crate::bindings::idgov::connector::upload::UploadError;

impl ConnectorError {
    /// The message without the kind.
    pub fn message(&self) -> &str {
        match self {
            ConnectorError::InvalidConfig(m)
            | ConnectorError::Unauthenticated(m)
            | ConnectorError::PermissionDenied(m)
            | ConnectorError::NotFound(m)
            | ConnectorError::AlreadyExists(m)
            | ConnectorError::InvalidArgument(m)
            | ConnectorError::Unavailable(m)
            | ConnectorError::HostDenied(m)
            | ConnectorError::Unsupported(m)
            | ConnectorError::Internal(m) => m,
        }
    }

    /// A short, stable name of the kind, for logs and reports.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectorError::InvalidConfig(_) => "invalid-config",
            ConnectorError::Unauthenticated(_) => "unauthenticated",
            ConnectorError::PermissionDenied(_) => "permission-denied",
            ConnectorError::NotFound(_) => "not-found",
            ConnectorError::AlreadyExists(_) => "already-exists",
            ConnectorError::InvalidArgument(_) => "invalid-argument",
            ConnectorError::Unavailable(_) => "unavailable",
            ConnectorError::HostDenied(_) => "host-denied",
            ConnectorError::Unsupported(_) => "unsupported",
            ConnectorError::Internal(_) => "internal",
        }
    }

    /// `kind: message`, for operators (the bindings' `Display` is `Debug`).
    pub fn describe(&self) -> String {
        format!("{}: {}", self.kind(), self.message())
    }

    /// Prefixes the message with what was being done.
    pub fn context(self, what: impl std::fmt::Display) -> Self {
        let wrap = |m: String| format!("{what}: {m}");
        match self {
            ConnectorError::InvalidConfig(m) => ConnectorError::InvalidConfig(wrap(m)),
            ConnectorError::Unauthenticated(m) => ConnectorError::Unauthenticated(wrap(m)),
            ConnectorError::PermissionDenied(m) => ConnectorError::PermissionDenied(wrap(m)),
            ConnectorError::NotFound(m) => ConnectorError::NotFound(wrap(m)),
            ConnectorError::AlreadyExists(m) => ConnectorError::AlreadyExists(wrap(m)),
            ConnectorError::InvalidArgument(m) => ConnectorError::InvalidArgument(wrap(m)),
            ConnectorError::Unavailable(m) => ConnectorError::Unavailable(wrap(m)),
            ConnectorError::HostDenied(m) => ConnectorError::HostDenied(wrap(m)),
            ConnectorError::Unsupported(m) => ConnectorError::Unsupported(wrap(m)),
            ConnectorError::Internal(m) => ConnectorError::Internal(wrap(m)),
        }
    }
}

impl From<HttpError> for ConnectorError {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::PolicyDenied(m) => ConnectorError::HostDenied(format!("egress denied: {m}")),
            HttpError::ForbiddenHeader(h) => {
                ConnectorError::HostDenied(format!("header {h:?} may not be set by a connector"))
            }
            HttpError::InvalidRequest(m) => {
                ConnectorError::Internal(format!("invalid request: {m}"))
            }
            HttpError::Timeout => ConnectorError::Unavailable("request timed out".into()),
            HttpError::Connection(m) => ConnectorError::Unavailable(format!("connection: {m}")),
            HttpError::BodyTooLarge(n) => ConnectorError::Internal(format!(
                "response body larger than the host's cap of {n} bytes"
            )),
            HttpError::Credential(m) => ConnectorError::Unauthenticated(m),
        }
    }
}

impl From<UploadError> for ConnectorError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::Invalid(m) => ConnectorError::Internal(format!("record refused: {m}")),
            UploadError::LimitExceeded(m) => {
                ConnectorError::Internal(format!("upload limit exceeded: {m}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_the_kind() {
        let e = ConnectorError::Unavailable("503".into()).context("listing users");
        assert_eq!(e, ConnectorError::Unavailable("listing users: 503".into()));
        assert_eq!(e.describe(), "unavailable: listing users: 503");
    }

    #[test]
    fn http_errors_map_by_kind() {
        assert_eq!(
            ConnectorError::from(HttpError::Timeout).kind(),
            "unavailable"
        );
        assert_eq!(
            ConnectorError::from(HttpError::PolicyDenied("host x".into())).kind(),
            "host-denied"
        );
    }
}
