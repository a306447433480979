//! The tenants one host serves: their deployments, schedules and status.
//!
//! Threats and decisions, each in the module that carries it out:
//! - Isolation (`deployment`): each tenant has its own instance (secrets,
//!   egress allowlist, HTTP limiter, memory/CPU limits) and every call its
//!   own Store, so a tenant's trap, timeout or memory blow-up ends that
//!   tenant's operation and nothing else. Failures are recorded (redacted)
//!   in its status (`tenant`).
//! - Fairness (`slots`, `schedule`, `options`): syncs wait for one of
//!   `max_concurrent_syncs` slots in FIFO order; a failing tenant backs off
//!   exponentially; a tenant holds at most one slot, never for longer than
//!   its sync deadline. Token cycles and the call, page and queue limits
//!   end a hostile sync sooner (`connector_runtime::sync`).
//! - Single flight and hot swap (`tenant`): one sync per tenant at a time;
//!   a deployment is swapped whole, in-flight work keeps the old one.
//! - Refusal (`registry`): a definition that fails to load, resolve or
//!   validate is refused and the old deployment keeps serving.
//! - ConductorOne (`binding`): a bound tenant's task loop.
//! - Drain (`drain`): on SIGTERM no new sync starts; running ones stop at
//!   their next call boundary, commit and checkpoint, and resume on the
//!   next start.
//!
//! Layering: `options`, `slots` and `deployment` depend on nothing here;
//! `tenant` on `deployment`; `binding` on those; `registry` (the `Service`)
//! on all of them; `schedule` and `drain` add `Service`'s methods for their
//! concern.

mod binding;
mod deployment;
mod drain;
mod options;
mod registry;
mod schedule;
mod slots;
mod tenant;

pub use deployment::{Components, values_of};
pub use drain::{default_upload, prepare_state_dir};
pub use options::ServiceOptions;
pub use registry::{Service, TriggerError};
pub use tenant::{RetiredTotals, Tenant};
