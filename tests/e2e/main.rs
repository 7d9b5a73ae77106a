//! End-to-end tests: the built `websocat` binary on loopback, against independent raw peers
//! (`support::ws`), real leaf resources (unix sockets, UDP, files, processes), TLS with
//! certificates made at test time, and third-party peers (python `websockets`, node `ws`,
//! headless Chromium, nginx), asserting exact bytes, opcodes, masking, headers and exit codes.
//!
//! One test binary with modules; tests run in parallel threads, so none of them may change
//! process-global state (environment variables, the current directory). Every wait is bounded
//! by `support::TIMEOUT`; children are killed on drop and by a watchdog.

mod support;

mod browser_nginx;
mod cli;
mod client;
mod deflate;
mod fanout;
mod hardening;
mod interactive;
mod interop;
mod kinds;
mod more;
mod observe;
mod overlays;
mod parity;
mod relay;
mod server;
mod shutdown;
mod streaming;
mod tls;
mod violations;
