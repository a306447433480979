//! The capabilities a connector component imports, one module each.

pub mod egress;
pub mod http;
pub mod limiter;
pub mod proxy;
pub mod scrub;
pub mod secrets;
pub mod upload;
pub mod url_path;
