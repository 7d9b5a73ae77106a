//! End-to-end tests: the built `websocat` binary on loopback, against independent raw peers
//! (`support::ws`), asserting exact bytes, opcodes, masking, headers and exit codes.
//!
//! Every wait is bounded by `support::TIMEOUT`; children are killed on drop and by a watchdog.

mod support;

mod cli;
mod client;
mod relay;
mod server;
