//! The PingOne management API as the connector reads and writes it, kept
//! apart from what the connector does with the answers: endpoint URLs and
//! batched requests ([`api`]), HAL collection paging, the one place a
//! listing moves from page to page ([`paging`]), the id-only scanner for
//! member and group lists ([`idpage`]), payload shapes ([`model`]),
//! status to error ([`errors`]), what a failure means and which writes wait
//! out propagation ([`failure`]), and ids checked before they go into a URL
//! path ([`ids`]).

pub mod api;
pub mod errors;
pub mod failure;
pub mod idpage;
pub mod ids;
pub mod model;
pub mod paging;
