//! Baton-compatible c1z artifacts: writer, reader, resume and inspect.
//!
//! A c1z (v1) is the magic `C1ZF\0` followed by one zstd frame holding a
//! SQLite database whose tables (`v1_resource_types`, `v1_resources`,
//! `v1_entitlements`, `v1_grants`, `v1_sync_runs`, ...) store protobuf blobs of
//! `c1.connector.v2` messages plus side columns Baton's readers filter on.
//! This crate is the only place in the host that knows that layout:
//!
//! * [`writer::C1zWriter`] — the sync sink: checkpoints, resume after a kill,
//!   keep-two cleanup and an atomic publish of `--file`;
//! * [`reader::C1zReader`] — validated read access (corrupt input is rejected
//!   with an error naming the broken layer), diffs and provisioning look-ups;
//! * [`extract::extract_sync`] — one finished sync copied into a c1z of its
//!   own (what a consumer that asked for that sync receives);
//! * [`inspect`] — the `inspect` subcommands as pure render functions;
//! * [`pb`] / [`protojson`] — the protobuf messages and their JSON rendering;
//! * [`sync_queue`] — the sync engine's task queue, seen set and spending,
//!   side tables that commit with the records and are dropped before publish;
//! * [`carry`] — incremental syncs: the last finished sync refreshed in
//!   place, scoped deletions, and the change-log mark kept with each sync;
//! * [`kept`] — the working database kept after publishing (incremental
//!   syncs), and the note that ties it to the published c1z;
//! * [`sqlite`] — the one way a c1z's database is opened: SQLite's defensive
//!   settings (no triggers, no views, untrusted schema), since any c1z may
//!   come from elsewhere.

pub mod carry;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod ids;
pub mod inspect;
pub mod kept;
pub mod pb;
pub mod protojson;
pub mod reader;
pub mod schema;
pub mod sqlite;
pub mod store;
pub mod sync_queue;
pub mod writer;

pub use carry::{ChangeMark, Deleted};
pub use error::{C1zError, Result};
pub use extract::{ExtractOptions, ExtractReport, extract_sync, extract_targeted};
pub use inspect::{CommonArgs, InspectCommand, OutputFormat, run_inspect};
pub use reader::{C1zReader, GrantFilter, ObjectDiff, SyncDiff};
pub use store::{SyncRun, SyncStats};
pub use sync_queue::{QueueTotals, QueuedTask, Spent, SyncQueue};
pub use writer::{C1zWriter, FinishReport, SyncStart, WriterOptions, working_path};
