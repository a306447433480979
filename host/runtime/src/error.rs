//! The typed outcome of a failed guest call.
//!
//! Decision: every way a call can end badly has its own variant, so callers
//! (CLI, scheduler, admin API, tests) act on the kind — retry, quarantine,
//! report — without parsing messages, and a trap never takes the host down.

use std::time::Duration;

/// Why a guest call did not return a value.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("the connector ran out of its wall-clock budget of {0:?}")]
    Timeout(Duration),
    #[error("the connector used up its CPU budget of {0:?}")]
    CpuExhausted(Duration),
    #[error("the connector exceeded its memory limit of {0} bytes")]
    MemoryExceeded(usize),
    #[error("the connector overflowed its stack")]
    StackOverflow,
    #[error("the connector panicked: {0}")]
    GuestPanic(String),
    #[error("the connector trapped: {0}")]
    GuestTrap(String),
    #[error("policy denied: {0}")]
    PolicyDenied(String),
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    #[error("the connector sent an invalid record: {0}")]
    InvalidRecord(String),
    #[error("the connector reported {kind}: {message}")]
    Connector {
        kind: &'static str,
        message: String,
        transient: bool,
    },
    #[error("host error: {0}")]
    Host(String),
}

impl CallError {
    /// A stable short name, used in metrics labels and JSON status.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Timeout(_) => "timeout",
            CallError::CpuExhausted(_) => "cpu",
            CallError::MemoryExceeded(_) => "memory",
            CallError::StackOverflow => "stack-overflow",
            CallError::GuestPanic(_) => "panic",
            CallError::GuestTrap(_) => "trap",
            CallError::PolicyDenied(_) => "policy-denied",
            CallError::LimitExceeded(_) => "limit-exceeded",
            CallError::InvalidRecord(_) => "invalid-record",
            CallError::Connector { kind, .. } => kind,
            CallError::Host(_) => "host",
        }
    }

    /// Whether repeating the same call may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CallError::Connector {
                transient: true,
                ..
            }
        )
    }

    /// The same error with each text a guest could have shaped passed
    /// through `f` (the engine sanitizes them, see `guest_text`): its panic
    /// and error messages, and the refusals that quote its URLs, headers or
    /// records. `Host` holds only the host's own text.
    pub fn map_text(mut self, f: impl Fn(&str) -> String) -> Self {
        use CallError as E;
        match &mut self {
            E::GuestPanic(m)
            | E::GuestTrap(m)
            | E::PolicyDenied(m)
            | E::LimitExceeded(m)
            | E::InvalidRecord(m)
            | E::Connector { message: m, .. } => *m = f(m),
            E::Timeout(_) | E::CpuExhausted(_) | E::MemoryExceeded(_) | E::StackOverflow => {}
            E::Host(_) => {}
        }
        self
    }

    /// A guest-side fault the host contained (counts as a trap in metrics).
    pub fn is_trap(&self) -> bool {
        matches!(
            self,
            CallError::CpuExhausted(_)
                | CallError::MemoryExceeded(_)
                | CallError::StackOverflow
                | CallError::GuestPanic(_)
                | CallError::GuestTrap(_)
                | CallError::Timeout(_)
        )
    }
}

/// Why a component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("component imports {0:?}, which is not part of the connector contract")]
    ForbiddenImport(String),
    #[error("not a valid connector component: {0}")]
    Invalid(String),
    #[error("component metadata is invalid: {0}")]
    BadMetadata(String),
    #[error("reading component {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("component digest mismatch: expected sha256 {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error(transparent)]
    Call(#[from] CallError),
}
