//! The WebSocket protocol (RFC 6455): handshakes and framing.
//!
//! We implement framing ourselves so that a Close can be a half-close: after the peer's Close
//! arrives we may still send what is in flight and reply with our Close when our own sending
//! is done, which is what a relay needs (`echo hi | websocat ws://echo` must print `hi`).
//! tungstenite is used only for its key derivation helpers.

pub mod frame;
pub mod handshake;
pub mod stream;
