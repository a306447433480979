//! `connector-runtime`: runs idgov:connector components under wasmtime.
//!
//! Read `docs/architecture.md` first. In short: [`engine`] narrows wasmtime
//! to one calling style (fresh Store per operation, limits, typed errors);
//! [`capabilities`] implements what a guest may import; [`config`] turns a
//! component's schema and an operator's values into an instance.

pub mod backoff;
pub mod bindings;
pub mod capabilities;
pub mod config;
pub mod convert;
pub mod cpu_clock;
pub mod engine;
pub mod error;
pub mod guest_text;
mod imports;
pub mod incremental;
pub mod limits;
pub mod state;
pub mod sync;
pub mod targeted;

/// The artifact crate: sync options and summaries speak its types.
pub use c1z;
pub use engine::{CallReport, Operation, Output, Plugin, Runtime, RuntimeOptions, WarmInstances};
pub use error::{CallError, LoadError};
pub use limits::Limits;
pub use state::InstanceCtx;
