//! One module per specifier kind (or small family): its registry entry, build function and
//! unit tests.

pub mod assert;
pub mod autoreconnect;
pub mod broadcast;
pub mod codecs;
pub mod compress;
pub mod dgram;
pub mod files;
pub mod http;
pub mod http_sse;
pub mod lazy;
pub mod literal;
pub mod mirror;
pub mod msgrewrite;
pub mod preamble;
#[cfg(unix)]
pub mod process;
pub mod proxy;
pub mod random;
pub mod reuse;
#[cfg(target_os = "linux")]
pub mod seqpacket;
pub mod share;
pub mod stdio;
pub mod tcp;
pub mod tls;
pub mod transforms;
pub mod udp;
#[cfg(unix)]
pub mod unix;
pub mod ws_client;
pub mod ws_lowlevel;
pub mod ws_server;
pub mod ws_stream;
