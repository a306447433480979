//! Errors of the c1z crate.
//!
//! Decision: every way a file can be wrong gets its own variant, so the CLI and
//! the host can tell a user *which* layer failed (magic, zstd, SQLite, schema,
//! protobuf blob) instead of a generic "bad file". Errors that touch the file
//! system always carry the path, because the host juggles three files per
//! target (`<file>`, `<file>.tmp`, `<file>.partial.db`).

use std::io;
use std::path::PathBuf;

/// Result alias used across the crate.
pub type Result<T, E = C1zError> = std::result::Result<T, E>;

/// Every error the crate returns.
#[derive(Debug, thiserror::Error)]
pub enum C1zError {
    /// The file does not start with `C1ZF\0`.
    #[error("not a c1z file: wrong magic ({path} starts with {found})")]
    WrongMagic { path: PathBuf, found: String },

    /// The file is empty, so it holds no c1z at all.
    #[error("not a c1z file: {path} is empty")]
    Empty { path: PathBuf },

    /// A c1z of a format this crate cannot read or extend (v3/Pebble).
    #[error("unsupported c1z format in {path}: {detail}")]
    UnsupportedFormat { path: PathBuf, detail: String },

    /// The bytes after the magic are not a valid zstd stream.
    #[error("corrupt c1z: zstd stream: {source} ({path})")]
    Zstd {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The decompressed payload is not a SQLite database.
    #[error("corrupt c1z: not a SQLite database ({path})")]
    NotSqlite { path: PathBuf },

    /// The SQLite database is damaged: its header disagrees with the file,
    /// its schema does not parse, or SQLite found corruption reading it.
    #[error("corrupt c1z: damaged SQLite database: {detail} ({path})")]
    CorruptDatabase { path: PathBuf, detail: String },

    /// The SQLite database lacks a table or column of the c1z schema, or
    /// carries an object a c1z never holds (a trigger, a view).
    #[error("corrupt c1z: wrong schema: {detail} ({path})")]
    Schema { path: PathBuf, detail: String },

    /// A `data` blob does not decode as the protobuf message its table holds.
    #[error(
        "corrupt c1z: undecodable {message} blob in {table} (external_id {external_id:?}): {source}"
    )]
    UndecodableBlob {
        table: &'static str,
        message: String,
        external_id: String,
        #[source]
        source: prost::DecodeError,
    },

    /// The writer refuses to replace a file that is not a c1z.
    #[error("refusing to overwrite {path}: {reason}")]
    RefuseOverwrite {
        path: PathBuf,
        #[source]
        reason: Box<C1zError>,
    },

    /// Another process holds the working database of this target.
    #[error("working file {path} is in use by another sync (locked)")]
    WorkingFileBusy { path: PathBuf },

    /// A record handed to the writer lacks an id the schema needs.
    #[error("invalid {kind} record: {reason}")]
    InvalidRecord { kind: &'static str, reason: String },

    /// Two different records derive the same id in one sync: storing the
    /// second would overwrite the first. Both are named by the parts their
    /// ids were derived from.
    #[error("{kind} id {id:?} is derived from two different records: {stored} (stored) and {new}")]
    IdCollision {
        kind: &'static str,
        id: String,
        stored: String,
        new: String,
    },

    /// The requested sync, entitlement, resource or grant does not exist.
    #[error("not found: {0}")]
    NotFound(String),

    /// A file-system operation failed; `op` says which step.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A SQLite call failed; `context` says what the crate was doing.
    #[error("sqlite error while {context}: {source}")]
    Sqlite {
        context: String,
        #[source]
        source: rusqlite::Error,
    },

    /// Writing rendered output failed.
    #[error("writing output: {0}")]
    Output(#[source] io::Error),
}

impl C1zError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        C1zError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// True for the variants that describe a corrupt or foreign input file.
    pub fn is_corrupt_input(&self) -> bool {
        matches!(
            self,
            C1zError::WrongMagic { .. }
                | C1zError::Empty { .. }
                | C1zError::UnsupportedFormat { .. }
                | C1zError::Zstd { .. }
                | C1zError::NotSqlite { .. }
                | C1zError::CorruptDatabase { .. }
                | C1zError::Schema { .. }
                | C1zError::UndecodableBlob { .. }
        )
    }
}

/// Attaches a context string to SQLite errors.
pub(crate) trait SqlContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> SqlContext<T> for std::result::Result<T, rusqlite::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| C1zError::Sqlite {
            context: context(),
            source,
        })
    }
}
