//! The WebSocket message adapter shared by `ws-c:` and `ws-upgrade:`.
//!
//! Wraps a tokio-tungstenite stream into our [`MessageStream`]: pings are answered by
//! tungstenite, our own keep-alive pings are sent every `ping-interval`, a missing pong within
//! `ping-timeout` is an error, a received Close ends the stream (its code and reason are kept
//! for reporting), and closing the sink sends Close with the configured code and reason.

use crate::exec::Message;
use crate::plan::PlanNode;
use crate::registry::{ParamDef, ParamType};
use bytes::Bytes;
use futures::{Sink, Stream};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// Default `--max-ws-message-length`: 200 MiB, as websocat 1.x.
pub const DEFAULT_MAX_MESSAGE: usize = 200 << 20;
/// Default `--max-ws-frame-length`: 100 MiB, as websocat 1.x.
pub const DEFAULT_MAX_FRAME: usize = 100 << 20;

/// Parameters shared by the WebSocket client and server kinds.
pub const COMMON_PARAMS: [ParamDef; 6] = [
    ParamDef {
        name: "max-message",
        ty: ParamType::Uint,
        flag: Some("--max-ws-message-length"),
        help: "largest incoming message in bytes (default 200 MiB)",
    },
    ParamDef {
        name: "max-frame",
        ty: ParamType::Uint,
        flag: Some("--max-ws-frame-length"),
        help: "largest incoming frame in bytes (default 100 MiB)",
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
        ty: ParamType::Uint,
        flag: Some("--close-status-code"),
        help: "status code of the Close we send on EOF (default: a Close without status)",
    },
    ParamDef {
        name: "close-reason",
        ty: ParamType::Text,
        flag: Some("--close-reason"),
        help: "reason text of the Close we send on EOF",
    },
];

/// Settings read from a ws node's parameters.
#[derive(Debug, Clone)]
pub struct WsSettings {
    /// tungstenite configuration (size limits).
    pub config: WebSocketConfig,
    /// Keep-alive ping period.
    pub ping_interval: Option<Duration>,
    /// Allowed delay for a pong.
    pub ping_timeout: Option<Duration>,
    /// Close code sent on EOF; `None` sends a Close without payload, as websocat 1.x.
    pub close_code: Option<u16>,
    /// Close reason sent on EOF.
    pub close_reason: String,
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
            if !(1000..=4999).contains(&code) || matches!(code, 1004..=1006 | 1015) {
                return Err(format!(
                    "close code {code} cannot be sent (use 1000-1003, 1007-1014 or 3000-4999)"
                ));
            }
        }
        let close_reason = node.param("close-reason").unwrap_or("").to_string();
        if close_reason.len() > 123 {
            return Err("close reason is longer than the 123 bytes a Close frame can carry".into());
        }
        let config = WebSocketConfig::default()
            .max_message_size(Some(max_message))
            .max_frame_size(Some(max_frame))
            .read_buffer_size(16 * 1024)
            .write_buffer_size(0);
        Ok(WsSettings {
            config,
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
        })
    }
}

/// How a WebSocket ended, as seen by the reader.
#[derive(Debug, Clone, Default)]
pub struct CloseReport {
    /// Code and reason of the Close frame the peer sent, if any.
    pub received: Option<(u16, String)>,
}

/// Our message stream over a tungstenite WebSocket.
pub struct WsMessages<S> {
    inner: WebSocketStream<S>,
    settings: WsSettings,
    ping_timer: Option<tokio::time::Interval>,
    ping_sent_at: Option<Instant>,
    read_done: bool,
    close_sent: bool,
    warned_binary: bool,
    /// Filled when the peer's Close arrives.
    pub report: Arc<Mutex<CloseReport>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsMessages<S> {
    /// Wraps an established WebSocket.
    pub fn new(inner: WebSocketStream<S>, settings: WsSettings) -> Self {
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
            read_done: false,
            close_sent: false,
            warned_binary: false,
            report: Arc::new(Mutex::new(CloseReport::default())),
        }
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
        while timer.poll_tick(cx).is_ready() {
            if self.close_sent {
                break;
            }
            let mut inner = Pin::new(&mut self.inner);
            if inner.as_mut().poll_ready(cx).is_ready() {
                inner
                    .as_mut()
                    .start_send(WsMessage::Ping(Bytes::from_static(b"websocat")))
                    .map_err(ws_io_error)?;
                let _ = inner.poll_flush(cx);
                if self.ping_sent_at.is_none() {
                    self.ping_sent_at = Some(Instant::now());
                }
            }
        }
        Ok(())
    }
}

/// Converts a tungstenite error into an io error with a readable message.
pub fn ws_io_error(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        WsError::Capacity(c) => io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{c} (raise --max-ws-message-length / --max-ws-frame-length to allow it)"),
        ),
        WsError::Protocol(p) => io::Error::new(
            io::ErrorKind::InvalidData,
            format!("WebSocket protocol error: {p}"),
        ),
        other => io::Error::other(format!("WebSocket: {other}")),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WsMessages<S> {
    type Item = io::Result<Message>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.read_done {
            return Poll::Ready(None);
        }
        if let Err(e) = this.poll_keepalive(cx) {
            return Poll::Ready(Some(Err(e)));
        }
        loop {
            let item = ready!(Pin::new(&mut this.inner).poll_next(cx));
            match item {
                None => {
                    this.read_done = true;
                    return Poll::Ready(None);
                }
                Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => {
                    this.read_done = true;
                    return Poll::Ready(None);
                }
                Some(Err(WsError::Protocol(
                    tokio_tungstenite::tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                ))) => {
                    this.read_done = true;
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer closed the connection without a WebSocket Close",
                    ))));
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(ws_io_error(e)))),
                Some(Ok(WsMessage::Text(t))) => {
                    return Poll::Ready(Some(Ok(Message::Text(Bytes::from(t)))))
                }
                Some(Ok(WsMessage::Binary(b))) => return Poll::Ready(Some(Ok(Message::Binary(b)))),
                Some(Ok(WsMessage::Pong(_))) => {
                    this.ping_sent_at = None;
                }
                Some(Ok(WsMessage::Ping(_) | WsMessage::Frame(_))) => {}
                Some(Ok(WsMessage::Close(frame))) => {
                    if let Ok(mut r) = this.report.lock() {
                        r.received = Some(
                            frame
                                .map(|f| (u16::from(f.code), f.reason.to_string()))
                                .unwrap_or((1005, String::new())),
                        );
                    }
                    // tungstenite queued our reply; push it out now.
                    let _ = Pin::new(&mut this.inner).poll_flush(cx);
                    this.read_done = true;
                    return Poll::Ready(None);
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Send + Unpin> crate::exec::MessageStream for WsMessages<S> {
    fn eof_ends_session(&self) -> bool {
        true
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WsMessages<S> {
    type Error = io::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_ready(cx).map_err(ws_io_error)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> io::Result<()> {
        let msg = match item {
            Message::Text(b) if std::str::from_utf8(&b).is_ok() => match Utf8Bytes::try_from(b) {
                Ok(t) => WsMessage::Text(t),
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            },
            Message::Text(b) => {
                if !self.warned_binary {
                    self.warned_binary = true;
                    tracing::warn!("text data is not valid UTF-8; sending it as binary messages");
                }
                WsMessage::Binary(b)
            }
            Message::Binary(b) => WsMessage::Binary(b),
        };
        Pin::new(&mut self.inner).start_send(msg).map_err(ws_io_error)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx).map_err(ws_io_error)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.close_sent {
            ready!(Pin::new(&mut this.inner).poll_ready(cx)).map_err(ws_io_error)?;
            let frame = this.settings.close_code.map(|code| CloseFrame {
                code: CloseCode::from(code),
                reason: this.settings.close_reason.clone().into(),
            });
            match Pin::new(&mut this.inner).start_send(WsMessage::Close(frame)) {
                Ok(()) | Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {}
                Err(WsError::Protocol(
                    tokio_tungstenite::tungstenite::error::ProtocolError::SendAfterClosing,
                )) => {}
                Err(e) => return Poll::Ready(Err(ws_io_error(e))),
            }
            this.close_sent = true;
        }
        match ready!(Pin::new(&mut this.inner).poll_flush(cx)) {
            Ok(()) | Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(ws_io_error(e))),
        }
    }
}
