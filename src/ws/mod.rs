//! The WebSocket protocol (RFC 6455), all of it: the kinds in `kinds/ws_*.rs` only read their
//! parameters and call in here.
//!
//! - [`control`]: on-demand pings, the Close status to send, ping round-trip times (for the
//!   interactive console and the session summary).
//! - [`handshake`]: the HTTP/1.1 upgrade, client and server side, and the `Name: value` header
//!   parameters it sends.
//! - [`frame`]: the frame codec (masking, fragmentation, size limits, UTF-8 of text messages;
//!   RSV1 and compression of messages when permessage-deflate was negotiated; messages handed
//!   on in pieces as they arrive, and sent as fragments, where they only pass through).
//! - [`deflate`]: permessage-deflate (RFC 7692): negotiating it in both roles, and the
//!   per-connection compressor and inflater (allocated when first needed, bounded by the
//!   message limit).
//! - [`stream`]: the connection state machine over the codec: answering pings, keep-alive
//!   pings, Close as a half-close, text that is not UTF-8 sent as binary; [`stream::WsSettings`]
//!   and the parameters shared by every WebSocket kind ([`stream::COMMON_PARAMS`]).
//!
//! We implement framing ourselves so that a Close can be a half-close: after the peer's Close
//! arrives we may still send what is in flight and reply with our Close when our own sending
//! is done, which is what a relay needs (`echo hi | websocat ws://echo` must print `hi`).
//! tungstenite is used only for its key derivation helpers.

pub mod control;
pub mod deflate;
pub mod frame;
pub mod handshake;
pub mod stream;
