//! The WebSocket message adapter shared by `ws-c:`, `ws-upgrade:` and `ws-lowlevel-*:`.
//!
//! Wraps a byte stream framed by [`crate::ws::frame::WsCodec`] into our [`MessageStream`]:
//! pings are answered with the same payload, our own keep-alive pings are sent every
//! `ping-interval`, a missing pong within `ping-timeout` is an error. Close is a half-close: a
//! received Close ends the stream (code and reason are kept for reporting) while we may still
//! send; closing our sink sends our Close (1001 "going away" when the session ends because the
//! process shuts down, else the configured code, else an echo of the peer's, else an empty one)
//! and the stream then ends at the peer's Close.
//!
//! A protocol violation by the peer fails the connection (RFC 6455 section 7.1.7): the stream
//! ends as if the peer had closed, so what was already accepted in the other direction is still
//! sent; closing our sink then sends a Close with the status the violation calls for (1002,
//! 1007 or 1009), waits up to [`FAILURE_CLOSE_WAIT`] for the peer's Close and closes the transport.
//! The session reports the violation as an error.
//!
//! Messages pass through in pieces when the copy engine asks for it (the other side takes
//! pieces, see [`MessageStream::deliver_parts`]): incoming uncompressed messages are handed on
//! as their bytes arrive, and pieces we are given go out as fragments. With permessage-deflate
//! the messages we send stay whole (each is compressed on its own), so such a connection takes
//! no pieces.

use crate::exec::conn::{Part, PeerClose};
use crate::exec::Message;
use crate::exec::{ByteStream, MessageStream};
use crate::net::poll_write_before_fin;
use crate::plan::PlanNode;
use crate::registry::{ParamDef, ParamType};
use crate::ws::deflate::{self, DeflateConfig, DeflateParams, MessageDeflate};
use crate::ws::frame::{Event, Frame, Role, Utf8Stream, Violation, WsCodec};
use bytes::BytesMut;
use futures::{Sink, Stream};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::AsyncWrite;
use tokio_util::codec::{Framed, FramedParts};

/// How long we wait for the peer's Close after failing the connection, before closing the
/// transport anyway. Shorter than [`crate::exec::copy::CLOSE_LINGER`], the session's own
/// limit for a direction that makes no progress after the peer closed.
pub const FAILURE_CLOSE_WAIT: Duration = Duration::from_millis(500);

/// Default `--max-ws-message-length`: 16 MiB, so that a connection that reassembles messages
/// holds at most about three messages' worth (under 64 MiB) whatever its peer sends
/// (websocat 1.x: 200 MiB). Messages streamed through in pieces are held by no one and not
/// limited (see [`crate::ws::frame::WsCodec::set_stream_parts`]).
pub const DEFAULT_MAX_MESSAGE: usize = 16 << 20;
/// Default `--max-ws-frame-length`: 16 MiB (websocat 1.x: 100 MiB); like the message limit,
/// it does not apply to messages streamed through.
pub const DEFAULT_MAX_FRAME: usize = 16 << 20;

/// Parameters shared by the WebSocket client and server kinds.
pub const COMMON_PARAMS: [ParamDef; 14] = [
    ParamDef {
        name: "max-message",
        ty: ParamType::Uint,
        flag: Some("--max-ws-message-length"),
        help: "largest incoming message held whole, in bytes (default 16 MiB); messages streamed through are not limited",
    },
    ParamDef {
        name: "max-frame",
        ty: ParamType::Uint,
        flag: Some("--max-ws-frame-length"),
        help: "largest incoming frame of a message held whole, in bytes (default 16 MiB)",
    },
    ParamDef {
        name: "ping-interval",
        ty: ParamType::Uint,
        flag: Some("--ping-interval"),
        help: "send a ping every N seconds",
    },
    ParamDef {
        name: "ping-timeout",
        ty: ParamType::Uint,
        flag: Some("--ping-timeout"),
        help: "fail when no pong arrives within N seconds of a ping",
    },
    ParamDef {
        name: "close-code",
        ty: ParamType::CloseCode,
        flag: Some("--close-status-code"),
        help: "status code of the Close we send on EOF (default: a Close without status)",
    },
    ParamDef {
        name: "close-reason",
        ty: ParamType::Text,
        flag: Some("--close-reason"),
        help: "reason text of the Close we send on EOF",
    },
    ParamDef {
        name: "ignore-empty",
        ty: ParamType::Bool,
        flag: Some("--websocket-ignore-zeromsg"),
        help: "drop empty messages that arrive",
    },
    ParamDef {
        name: "print-rtt",
        ty: ParamType::Bool,
        flag: Some("--print-ping-rtts"),
        help: "print `RTT <seconds> s` to stderr when a pong answers our ping",
    },
    ParamDef {
        name: "max-pongs",
        ty: ParamType::Uint,
        flag: Some("--inhibit-pongs"),
        help: "answer only this many pings, then ignore them",
    },
    ParamDef {
        name: "max-pings",
        ty: ParamType::Uint,
        flag: Some("--max-sent-pings"),
        help: "send only this many keep-alive pings",
    },
    ParamDef {
        name: "deflate",
        ty: ParamType::Bool,
        flag: Some("--permessage-deflate"),
        help: "compress messages with permessage-deflate (RFC 7692): a client offers it, a server accepts it",
    },
    ParamDef {
        name: "deflate-level",
        ty: ParamType::Uint,
        flag: Some("--permessage-deflate-level"),
        help: "permessage-deflate compression level, 0-9 (default 6); implies deflate",
    },
    ParamDef {
        name: "deflate-window-bits",
        ty: ParamType::Uint,
        flag: Some("--permessage-deflate-window-bits"),
        help: "largest permessage-deflate window in both directions, 8-15 (2^N bytes, default 15); implies deflate",
    },
    ParamDef {
        name: "deflate-no-context-takeover",
        ty: ParamType::Bool,
        flag: Some("--permessage-deflate-no-context-takeover"),
        help: "compress each message on its own in both directions (less memory, less compression); implies deflate",
    },
];

/// Settings read from a ws node's parameters.
#[derive(Debug, Clone)]
pub struct WsSettings {
    /// Largest incoming message.
    pub max_message: usize,
    /// Largest incoming frame.
    pub max_frame: usize,
    /// Keep-alive ping period.
    pub ping_interval: Option<Duration>,
    /// Allowed delay for a pong.
    pub ping_timeout: Option<Duration>,
    /// Close code sent on EOF; `None` sends a Close without payload, as websocat 1.x.
    pub close_code: Option<u16>,
    /// Close reason sent on EOF.
    pub close_reason: String,
    /// `--websocket-ignore-zeromsg`: drop empty incoming messages.
    pub ignore_empty: bool,
    /// `--print-ping-rtts`: print each ping's round-trip time to stderr.
    pub print_rtt: bool,
    /// `--inhibit-pongs`: pings answered before they are ignored.
    pub max_pongs: Option<u64>,
    /// `--max-sent-pings`: keep-alive pings sent before they stop.
    pub max_pings: Option<u64>,
    /// permessage-deflate settings, when it is enabled.
    pub deflate: Option<DeflateConfig>,
}

impl WsSettings {
    /// Reads the common parameters of `node`.
    pub fn from_node(node: &PlanNode) -> Result<Self, String> {
        let max_message = node
            .param_u64("max-message")
            .map_or(DEFAULT_MAX_MESSAGE, |v| v as usize);
        let max_frame = node
            .param_u64("max-frame")
            .map_or(DEFAULT_MAX_FRAME, |v| v as usize)
            .min(max_message);
        let close_code = node.param_u64("close-code");
        if let Some(code) = close_code {
            if !u16::try_from(code).is_ok_and(super::frame::close_code_is_valid) {
                return Err(format!(
                    "close code {code} cannot be sent (use {})",
                    super::frame::VALID_CLOSE_CODES
                ));
            }
        }
        let close_reason = node.param("close-reason").unwrap_or("").to_string();
        if close_reason.len() > 123 {
            return Err("close reason is longer than the 123 bytes a Close frame can carry".into());
        }
        let deflate = deflate_config(node)?;
        Ok(WsSettings {
            deflate,
            max_message,
            max_frame,
            ping_interval: node
                .param_u64("ping-interval")
                .filter(|v| *v > 0)
                .map(Duration::from_secs),
            ping_timeout: node
                .param_u64("ping-timeout")
                .filter(|v| *v > 0)
                .map(Duration::from_secs),
            close_code: close_code.map(|c| c as u16),
            close_reason,
            ignore_empty: node.param_bool("ignore-empty"),
            print_rtt: node.param_bool("print-rtt"),
            max_pongs: node.param_u64("max-pongs"),
            max_pings: node.param_u64("max-pings"),
        })
    }
}

/// The permessage-deflate settings of `node`: on with `deflate=true` or any of the other
/// `deflate-*` parameters (unless `deflate=false`).
fn deflate_config(node: &PlanNode) -> Result<Option<DeflateConfig>, String> {
    let level = node.param_u64("deflate-level");
    let window_bits = node.param_u64("deflate-window-bits");
    let no_context_takeover = node.param_bool("deflate-no-context-takeover");
    let enabled = match node.param("deflate") {
        Some(v) => v == "true",
        None => level.is_some() || window_bits.is_some() || no_context_takeover,
    };
    if !enabled {
        return Ok(None);
    }
    let level = level.unwrap_or(u64::from(deflate::DEFAULT_LEVEL));
    if level > 9 {
        return Err(format!(
            "permessage-deflate level {level} is not 0-9 (--permessage-deflate-level)"
        ));
    }
    let window_bits = window_bits.unwrap_or(u64::from(deflate::MAX_WINDOW_BITS));
    if !(u64::from(deflate::MIN_WINDOW_BITS)..=u64::from(deflate::MAX_WINDOW_BITS))
        .contains(&window_bits)
    {
        return Err(format!(
            "permessage-deflate window of {window_bits} bits is not 8-15 (--permessage-deflate-window-bits)"
        ));
    }
    Ok(Some(DeflateConfig {
        level: level as u32,
        window_bits: window_bits as u8,
        no_context_takeover,
    }))
}

/// Our message stream over a framed WebSocket connection.
pub struct WsMessages {
    inner: Framed<Box<dyn ByteStream>, WsCodec>,
    settings: WsSettings,
    ping_timer: Option<tokio::time::Interval>,
    ping_sent_at: Option<Instant>,
    pending_control: Option<Frame>,
    read_done: bool,
    close_sent: bool,
    /// Whether the "not valid UTF-8" warning was given on this connection.
    warned_not_utf8: bool,
    /// The peer's Close arrived (possibly an invalid one).
    peer_close_seen: bool,
    /// The peer broke the protocol: our Close carries this status.
    failure: Option<Violation>,
    /// After failing the connection: how long we still wait for the peer's Close.
    failure_wait: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Filled when the peer's Close arrives, or when we fail the connection because of the peer.
    pub report: Arc<PeerClose>,
    /// Pings on demand, the Close to send, ping statistics.
    pub control: Arc<crate::ws::control::WsControl>,
    /// The negotiated permessage-deflate, as in `Sec-WebSocket-Extensions`.
    extensions: Option<String>,
    /// An incoming message is being handed on in pieces (its first piece went out).
    receiving_parts: bool,
    /// An outgoing message is being sent in pieces: true when its first fragment went out.
    sending_parts: bool,
}

impl WsMessages {
    /// Wraps a connection whose handshake is done; `leftover` holds bytes already read past
    /// the HTTP head.
    pub fn new(
        io: Box<dyn ByteStream>,
        leftover: BytesMut,
        role: Role,
        settings: WsSettings,
    ) -> Self {
        let codec = WsCodec::new(role, settings.max_frame, settings.max_message);
        let mut parts = FramedParts::new::<Frame>(io, codec);
        // The handshake's buffer (past the HTTP head) goes on as the read buffer. `Framed`
        // tops a smaller one up to 8 KiB; it then doubles while reads fill it (see
        // [`crate::ws::frame::grow_if_full`]).
        parts.read_buf = leftover;
        let mut inner = Framed::from_parts(parts);
        // `Framed` also gives the write buffer 8 KiB up front. An idle connection needs none
        // (it is most of an idle connection's memory); the encoder reserves room for each
        // frame, and the buffer keeps what it grew to.
        *inner.write_buffer_mut() = BytesMut::new();
        inner.set_backpressure_boundary(64 * 1024);
        let ping_timer = settings.ping_interval.map(|p| {
            let mut t = tokio::time::interval_at(tokio::time::Instant::now() + p, p);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        WsMessages {
            inner,
            settings,
            ping_timer,
            ping_sent_at: None,
            pending_control: None,
            read_done: false,
            close_sent: false,
            warned_not_utf8: false,
            peer_close_seen: false,
            failure: None,
            failure_wait: None,
            report: Arc::new(PeerClose::default()),
            control: Arc::default(),
            extensions: None,
            receiving_parts: false,
            sending_parts: false,
        }
    }

    /// Compresses and inflates messages with the permessage-deflate `params` the handshake
    /// agreed on (at the level of our settings); `None` leaves the connection uncompressed.
    pub fn with_deflate(mut self, params: Option<DeflateParams>) -> Self {
        if let Some(p) = params {
            tracing::info!("WebSocket extension negotiated: {p}");
            self.extensions = Some(p.to_string());
            let level = self.settings.deflate.unwrap_or_default().level;
            let role = self.inner.codec().role();
            self.inner
                .codec_mut()
                .set_deflate(Some(MessageDeflate::new(role, &p, level)));
        }
        self
    }

    /// Sends a queued pong or ping if the sink has room; never waits.
    fn push_control(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.close_sent {
            self.pending_control = None;
            return Ok(());
        }
        if self.pending_control.is_none() {
            self.pending_control = self.control.next_ping(cx).map(Frame::Ping);
        }
        if self.pending_control.is_some() {
            if let Poll::Ready(r) = Pin::new(&mut self.inner).poll_ready(cx) {
                r?;
                if let Some(f) = self.pending_control.take() {
                    Pin::new(&mut self.inner).start_send(f)?;
                }
                let _ = Pin::new(&mut self.inner).poll_flush(cx)?;
            }
        }
        Ok(())
    }

    fn poll_keepalive(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let Some(timer) = self.ping_timer.as_mut() else {
            return Ok(());
        };
        if let (Some(sent), Some(limit)) = (self.ping_sent_at, self.settings.ping_timeout) {
            if sent.elapsed() > limit {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no pong within {}s of our ping", limit.as_secs()),
                ));
            }
        }
        let mut due = false;
        while timer.poll_tick(cx).is_ready() {
            due = true;
        }
        if due && self.settings.max_pings == Some(0) {
            tracing::debug!("--max-sent-pings reached: not sending this ping");
            due = false;
        }
        if due && !self.close_sent && self.pending_control.is_none() {
            if let Some(left) = self.settings.max_pings.as_mut() {
                *left -= 1;
            }
            let payload = bytes::Bytes::from_static(b"websocat");
            self.control.keepalive_sent(payload.clone());
            self.pending_control = Some(Frame::Ping(payload));
            if self.ping_sent_at.is_none() {
                self.ping_sent_at = Some(Instant::now());
            }
        }
        Ok(())
    }
}

impl MessageStream for WsMessages {
    fn peer_close(&self) -> Option<Arc<PeerClose>> {
        Some(self.report.clone())
    }

    fn ws_control(&self) -> Option<Arc<crate::ws::control::WsControl>> {
        Some(self.control.clone())
    }

    fn room_is_private(&self) -> bool {
        true
    }

    fn set_close_status(&mut self, code: u16, reason: &str) {
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        self.settings.close_code = Some(code);
        self.settings.close_reason = reason[..end].to_string();
    }

    fn extensions(&self) -> Option<String> {
        self.extensions.clone()
    }

    fn accepts_parts(&self) -> bool {
        !self.inner.codec().compresses()
    }

    fn deliver_parts(&mut self) -> bool {
        self.inner.codec_mut().set_stream_parts(true);
        true
    }

    fn poll_next_part(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Part>>> {
        self.poll_part(cx)
    }

    /// A piece that is the whole message is sent as one frame, as [`Sink::start_send`] does;
    /// otherwise the first non-empty piece starts a fragmented message (text that is not
    /// valid UTF-8 there makes it binary) and the last one ends it.
    fn start_send_part(&mut self, part: Part) -> io::Result<()> {
        let first = !self.sending_parts;
        if first && part.last {
            return Pin::new(self).start_send(part.data);
        }
        if self.close_sent {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "cannot send after our WebSocket Close",
            ));
        }
        let Part { data, last } = part;
        if data.payload().is_empty() && !last {
            return Ok(());
        }
        let data = if first {
            self.checked_text(data, false)
        } else {
            data
        };
        self.sending_parts = !last;
        Pin::new(&mut self.inner).start_send(Frame::Part { data, first, last })
    }
}

impl WsMessages {
    /// Text that is not valid UTF-8 goes out as binary (a peer would fail the connection on
    /// it). Of the first piece of a message (not `whole`), only what can still become valid
    /// is accepted: a character may continue in the next piece.
    fn checked_text(&mut self, item: Message, whole: bool) -> Message {
        let invalid = |b: &[u8]| {
            if whole {
                std::str::from_utf8(b).is_err()
            } else {
                !Utf8Stream::default().feed(b)
            }
        };
        match item {
            Message::Text(b) if invalid(&b) => {
                // Once per connection: random data in text mode would repeat it endlessly.
                if !std::mem::replace(&mut self.warned_not_utf8, true) {
                    tracing::warn!(
                        "text data is not valid UTF-8; sending it as binary messages (use -b for binary data)"
                    );
                }
                Message::Binary(b)
            }
            other => other,
        }
    }

    /// The next message, or piece of one when the codec streams (see
    /// [`MessageStream::deliver_parts`]); answers pings and records the peer's Close on the way.
    fn poll_part(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Part>>> {
        let this = self;
        if this.read_done {
            return Poll::Ready(None);
        }
        if let Err(e) = this.poll_keepalive(cx).and_then(|()| this.push_control(cx)) {
            return Poll::Ready(Some(Err(e)));
        }
        loop {
            let item = ready!(Pin::new(&mut this.inner).poll_next(cx));
            match item {
                None => {
                    this.read_done = true;
                    if this.close_sent {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer closed the connection without a WebSocket Close",
                    ))));
                }
                Some(Err(e)) => {
                    this.read_done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Some(Ok(Event::Message(m))) => {
                    if this.settings.ignore_empty && m.payload().is_empty() {
                        tracing::debug!("dropped an empty message (--websocket-ignore-zeromsg)");
                        continue;
                    }
                    return Poll::Ready(Some(Ok(Part::whole(m))));
                }
                Some(Ok(Event::Part { data, last })) => {
                    let whole = !std::mem::replace(&mut this.receiving_parts, !last);
                    if whole && this.settings.ignore_empty && data.payload().is_empty() {
                        tracing::debug!("dropped an empty message (--websocket-ignore-zeromsg)");
                        continue;
                    }
                    return Poll::Ready(Some(Ok(Part { data, last })));
                }
                Some(Ok(Event::Ping(_))) if this.settings.max_pongs == Some(0) => {
                    tracing::debug!("not answering a ping (--inhibit-pongs)");
                }
                Some(Ok(Event::Ping(p))) => {
                    if let Some(left) = this.settings.max_pongs.as_mut() {
                        *left -= 1;
                    }
                    this.pending_control = Some(Frame::Pong(p));
                    if let Err(e) = this.push_control(cx) {
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                Some(Ok(Event::Pong(p))) => {
                    this.control.pong_received(&p);
                    if let (true, Some(sent)) = (this.settings.print_rtt, this.ping_sent_at) {
                        let rtt = sent.elapsed();
                        eprintln!("RTT {}.{:06} s", rtt.as_secs(), rtt.subsec_micros());
                    }
                    this.ping_sent_at = None;
                }
                Some(Ok(Event::Close(frame))) => {
                    let ours = this.control.close_sent().flatten().map(|f| f.0);
                    let echo = this.close_sent && frame.as_ref().map(|f| f.0) == ours;
                    match &frame {
                        Some((c, reason)) => this.report.mark(Some(*c), reason.clone(), echo),
                        None => this.report.mark(None, String::new(), echo),
                    }
                    tracing::debug!("peer sent Close {frame:?}");
                    this.read_done = true;
                    this.peer_close_seen = true;
                    return Poll::Ready(None);
                }
                Some(Ok(Event::Violation(v))) => {
                    tracing::debug!("failing the connection with Close {}: {}", v.code, v.reason);
                    this.report
                        .fail(format!("WebSocket protocol error: {}", v.reason));
                    this.peer_close_seen |= v.in_close;
                    this.failure = Some(v);
                    this.read_done = true;
                    return Poll::Ready(None);
                }
            }
        }
    }
}

impl Stream for WsMessages {
    type Item = io::Result<Message>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match ready!(self.poll_part(cx)) {
            Some(Ok(Part { data, last: true })) => Poll::Ready(Some(Ok(data))),
            Some(Ok(Part { last: false, .. })) => Poll::Ready(Some(Err(io::Error::other(
                "internal error: a piece of a message read as a whole message",
            )))),
            other => Poll::Ready(other.map(|r| r.map(|p| p.data))),
        }
    }
}

impl Sink<Message> for WsMessages {
    type Error = io::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> io::Result<()> {
        if self.close_sent {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "cannot send after our WebSocket Close",
            ));
        }
        let item = self.checked_text(item, true);
        Pin::new(&mut self.inner).start_send(Frame::Message(item))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.close_sent {
            ready!(Pin::new(&mut this.inner).poll_ready(cx))?;
            let asked = this.control.close_to_send();
            let frame = match (&this.failure, this.settings.close_code, this.report.frame()) {
                (Some(v), _, _) => Some((v.code, close_reason(&v.reason))),
                // `/close CODE REASON` typed at the interactive console.
                (None, _, _) if asked.is_some() => asked,
                // The process shuts down and the peer has not closed: say so (RFC 6455 7.4.1).
                (None, _, None) if this.report.is_going_away() => Some((1001, "going away".into())),
                (None, Some(code), _) => Some((code, this.settings.close_reason.clone())),
                (None, None, Some((Some(code), _))) => Some((code, String::new())),
                _ => None,
            };
            this.control.record_close_sent(frame.clone());
            Pin::new(&mut this.inner).start_send(Frame::Close(frame))?;
            this.close_sent = true;
            this.pending_control = None;
        }
        if this.failure.is_some() && !this.peer_close_seen {
            // We failed the connection: our Close goes out now, then we wait a little for
            // the peer's Close (skipping whatever else it sends) before closing the transport.
            ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
            let wait = this
                .failure_wait
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(FAILURE_CLOSE_WAIT)));
            loop {
                match Pin::new(&mut this.inner).poll_next(cx) {
                    Poll::Ready(Some(Ok(Event::Close(_)))) | Poll::Ready(None) => break,
                    Poll::Ready(Some(Ok(_))) => {}
                    Poll::Ready(Some(Err(e))) => {
                        tracing::debug!("after failing the connection: {e}");
                        break;
                    }
                    Poll::Pending => {
                        ready!(wait.as_mut().poll(cx));
                        tracing::debug!("no Close from the peer within {FAILURE_CLOSE_WAIT:?}");
                        break;
                    }
                }
            }
            this.peer_close_seen = true;
        }
        if this.peer_close_seen {
            // Close handshake complete: our Close is the last thing we send, and goes out
            // with the FIN where the transport allows.
            let mut last = std::mem::take(this.inner.write_buffer_mut());
            let written = poll_write_before_fin(this.inner.get_mut().as_mut(), &mut last, cx);
            *this.inner.write_buffer_mut() = last;
            if !ready!(written)? {
                ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
            }
            let _ = ready!(Pin::new(this.inner.get_mut()).poll_shutdown(cx));
            return Poll::Ready(Ok(()));
        }
        ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
        Poll::Ready(Ok(()))
    }
}

/// The reason text of a Close we send, cut to the 123 bytes a Close frame can carry.
fn close_reason(reason: &str) -> String {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_string()
}
