//! Shared helpers for the end-to-end tests: running the built binary with a watchdog, and a
//! raw RFC 6455 peer (client and server) on `std::net::TcpStream`.

pub mod proc;
pub mod ws;

pub use proc::{refused_port, run, server, Proc};
pub use ws::{Frame, RawServer};

use std::time::Duration;

/// Longest any single wait in a test may take; the watchdog kills children after this.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A short wait used to check that something does *not* happen.
pub const QUIET: Duration = Duration::from_millis(400);
