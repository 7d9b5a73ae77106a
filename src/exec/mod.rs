//! The executor: connections, codecs, the copy engine and the accept loop.
//!
//! Architecture invariant: nothing here reads CLI arguments or matches kind names; every
//! endpoint is built from its own plan node by the registry's build function.

pub mod build;
pub mod codec;
pub mod conn;
pub mod copy;
pub mod queue;
pub mod serve;
pub mod share;

pub use conn::{
    Accept, ByteStream, Conn, ConnInfo, ConnLayer, Connect, ConnectorLayer, Listen, Message,
    MessageStream, TlsPeerIdentity,
};
