//! Helpers shared by several kinds that are not kinds themselves.

pub mod dgram;
#[cfg(unix)]
pub mod fd;
pub mod tls_server;
