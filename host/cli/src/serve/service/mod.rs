//! The tenants one host serves: their deployments, schedules and status.
//!
//! Each decision sits in the module that carries it out: isolation in
//! `deployment` (an instance per tenant, a Store per call), fairness in
//! `slots`, `schedule` and `options`, single flight and hot swap in
//! `tenant`, refusal of bad definitions and the drain in `registry`, and
//! ConductorOne's task loops in `binding`.
//!
//! Layering: `options`, `slots` and `deployment` depend on nothing here;
//! `tenant` on `deployment`; `binding` on those; `registry` (the `Service`)
//! on all of them; `schedule` adds `Service`'s scheduling methods.

mod binding;
mod deployment;
mod options;
mod registry;
mod schedule;
mod slots;
mod tenant;

pub use deployment::{Components, values_of};
pub use options::ServiceOptions;
pub use registry::{Service, TriggerError, prepare_state_dir};
pub use tenant::{RetiredTotals, Tenant};
