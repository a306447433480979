//! Group membership: which reads settle each group's members ([`plan`]),
//! member listings turned into grants ([`members`]), direct members told
//! apart from nested and dynamic ones ([`resolve`]), and one group's user
//! grants read from that group alone ([`group_users`]).
//!
//! Decision: these modules import no resource module. The groups listing
//! ([`crate::resources::groups`]) calls the plan with what it has read; the
//! grants written here name groups and users by id alone.

pub mod group_users;
pub mod members;
pub mod plan;
pub mod resolve;
