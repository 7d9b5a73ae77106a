//! One module per specifier kind (or small family): its registry entry, build function and
//! unit tests.

pub mod assert;
pub mod broadcast;
pub mod codecs;
pub mod dgram;
pub mod files;
pub mod literal;
pub mod mirror;
#[cfg(unix)]
pub mod process;
pub mod stdio;
pub mod tcp;
pub mod tls;
pub mod udp;
#[cfg(unix)]
pub mod unix;
pub mod ws_client;
pub mod ws_server;
pub mod ws_stream;
