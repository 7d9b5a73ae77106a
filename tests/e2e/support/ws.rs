//! A small, independent RFC 6455 peer on blocking `std::net::TcpStream`: the client and
//! server handshakes (with the `Sec-WebSocket-Accept` check) and frame encoding/decoding with
//! masking, so tests can see opcodes, masks, headers and exact payloads.

use super::TIMEOUT;
use base64::Engine;
use sha1::{Digest, Sha1};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Continuation frame.
pub const OP_CONT: u8 = 0x0;
/// Text frame.
pub const OP_TEXT: u8 = 0x1;
/// Binary frame.
pub const OP_BINARY: u8 = 0x2;
/// Close frame.
pub const OP_CLOSE: u8 = 0x8;
/// Ping frame.
pub const OP_PING: u8 = 0x9;
/// Pong frame.
pub const OP_PONG: u8 = 0xA;

/// The fixed GUID of RFC 6455 section 1.3.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// The key our raw client sends (the RFC's example nonce).
pub const CLIENT_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// The mask our raw client uses (non-zero, so unmasking is really exercised).
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// `Sec-WebSocket-Accept` for a key: base64(SHA-1(key + GUID)).
pub fn accept_key(key: &str) -> String {
    let digest = Sha1::digest(format!("{key}{GUID}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// One WebSocket frame as it was on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// FIN bit.
    pub fin: bool,
    /// Opcode (see the `OP_*` constants).
    pub opcode: u8,
    /// Whether the frame carried a masking key.
    pub masked: bool,
    /// Unmasked payload.
    pub payload: Vec<u8>,
}

impl Frame {
    /// The payload as text (lossy), for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    /// For a Close frame: the status code and reason, if the payload has them.
    pub fn close_code(&self) -> Option<(u16, String)> {
        if self.payload.len() < 2 {
            return None;
        }
        let code = u16::from_be_bytes([self.payload[0], self.payload[1]]);
        Some((
            code,
            String::from_utf8_lossy(&self.payload[2..]).into_owned(),
        ))
    }
}

/// An HTTP request or response head.
#[derive(Debug, Clone)]
pub struct HttpHead {
    /// The first line (`GET /x HTTP/1.1` or `HTTP/1.1 101 Switching Protocols`).
    pub first_line: String,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
}

impl HttpHead {
    fn parse(raw: &[u8]) -> HttpHead {
        let text = String::from_utf8_lossy(raw);
        let mut lines = text.split("\r\n");
        let first_line = lines.next().unwrap_or_default().to_string();
        let headers = lines
            .filter(|l| !l.is_empty())
            .map(|l| match l.split_once(':') {
                Some((k, v)) => (k.to_string(), v.trim().to_string()),
                None => (l.to_string(), String::new()),
            })
            .collect();
        HttpHead {
            first_line,
            headers,
        }
    }

    /// The first value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in order.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The status code of a response.
    pub fn status(&self) -> u16 {
        self.first_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not a status line: {:?}", self.first_line))
    }

    /// The request target of a request (`/path?query`).
    pub fn target(&self) -> &str {
        self.first_line.split(' ').nth(1).unwrap_or("")
    }
}

/// Connects to 127.0.0.1:`port` with read and write timeouts.
pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("connecting to 127.0.0.1:{port}: {e}"));
    set_timeouts(&s);
    s
}

/// Plain TCP: connects to 127.0.0.1:`port`, sends `input`, half-closes and reads everything
/// back until EOF. Returns the reply and the stream (for its local address).
pub fn tcp_exchange(port: u16, input: &[u8]) -> (Vec<u8>, TcpStream) {
    let mut c = connect(port);
    c.write_all(input).expect("sending over TCP");
    c.shutdown(std::net::Shutdown::Write)
        .expect("half-closing the TCP connection");
    let mut out = Vec::new();
    c.read_to_end(&mut out).expect("reading the TCP reply");
    (out, c)
}

fn set_timeouts(s: &TcpStream) {
    s.set_read_timeout(Some(TIMEOUT))
        .expect("setting a read timeout");
    s.set_write_timeout(Some(TIMEOUT))
        .expect("setting a write timeout");
    let _ = s.set_nodelay(true);
}

/// Reads an HTTP head (up to the blank line); returns it and any bytes read past it.
pub fn read_head(stream: &mut TcpStream) -> io::Result<(HttpHead, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let rest = buf[end + 4..].to_vec();
            return Ok((HttpHead::parse(&buf[..end]), rest));
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "connection closed inside an HTTP head: {:?}",
                    String::from_utf8_lossy(&buf)
                ),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Sends `request` verbatim and reads the response head and body (by Content-Length, or to
/// EOF).
pub fn http_exchange(port: u16, request: &[u8]) -> (HttpHead, Vec<u8>) {
    let mut s = connect(port);
    s.write_all(request).expect("sending an HTTP request");
    let (head, mut body) = read_head(&mut s).expect("reading the HTTP response head");
    match head
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        Some(len) => {
            while body.len() < len {
                let mut chunk = vec![0u8; len - body.len()];
                let n = s.read(&mut chunk).expect("reading the HTTP body");
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        }
        None => {
            let _ = s.read_to_end(&mut body);
        }
    }
    (head, body)
}

/// Builds a client handshake request for `path` with extra headers.
pub fn upgrade_request(port: u16, path: &str, extra: &[(&str, &str)]) -> String {
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {CLIENT_KEY}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req
}

/// Sends a handshake and returns the response head without judging it, plus the connection
/// (as a client-side [`WsConn`]) if the answer was 101.
pub fn try_ws_connect(port: u16, path: &str, extra: &[(&str, &str)]) -> (HttpHead, Option<WsConn>) {
    let mut s = connect(port);
    s.write_all(upgrade_request(port, path, extra).as_bytes())
        .expect("sending the WebSocket handshake");
    let (head, rest) = read_head(&mut s).expect("reading the handshake response");
    if head.status() != 101 {
        return (head, None);
    }
    (
        head,
        Some(WsConn {
            stream: s,
            pending: rest,
            client: true,
        }),
    )
}

/// Asserts the `Upgrade: websocket` and `Connection: Upgrade` headers of a handshake head
/// (request or response).
fn assert_upgrade_headers(head: &HttpHead) {
    assert!(
        head.header("upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket")),
        "no `Upgrade: websocket` in {head:?}"
    );
    assert!(
        head.header("connection")
            .is_some_and(|v| v.to_ascii_lowercase().contains("upgrade")),
        "no `Connection: Upgrade` in {head:?}"
    );
}

/// Connects as a WebSocket client; asserts a correct 101 answer (Upgrade, Connection and
/// `Sec-WebSocket-Accept`).
pub fn ws_connect(port: u16, path: &str, extra: &[(&str, &str)]) -> (WsConn, HttpHead) {
    let (head, conn) = try_ws_connect(port, path, extra);
    let conn = conn.unwrap_or_else(|| panic!("handshake refused: {head:?}"));
    assert_upgrade_headers(&head);
    assert_eq!(
        head.header("sec-websocket-accept"),
        Some(accept_key(CLIENT_KEY).as_str()),
        "wrong Sec-WebSocket-Accept"
    );
    (conn, head)
}

/// One end of a WebSocket connection. Client ends mask what they send; every received frame
/// is checked to be masked exactly when it comes from a client.
pub struct WsConn {
    stream: TcpStream,
    pending: Vec<u8>,
    client: bool,
}

impl WsConn {
    /// A second handle on the same connection, to send from one thread while another
    /// receives (frames are written whole, so the two never interleave within a frame).
    pub fn try_clone(&self) -> WsConn {
        WsConn {
            stream: self
                .stream
                .try_clone()
                .expect("cloning the test connection"),
            pending: Vec::new(),
            client: self.client,
        }
    }

    /// Sends one frame with FIN set.
    pub fn send(&mut self, opcode: u8, payload: &[u8]) {
        self.send_frame(true, opcode, payload);
    }

    /// Sends one frame.
    pub fn send_frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) {
        self.send_frame_byte0(if fin { 0x80 } else { 0 } | opcode, payload);
    }

    /// Sends one frame whose first header byte (FIN, RSV1-3, opcode) is `byte0` verbatim, so
    /// tests can set reserved bits and reserved opcodes.
    pub fn send_frame_byte0(&mut self, byte0: u8, payload: &[u8]) {
        let mut out = Vec::with_capacity(payload.len() + 14);
        out.push(byte0);
        let mask_bit = if self.client { 0x80 } else { 0 };
        let len = payload.len();
        if len < 126 {
            out.push(mask_bit | len as u8);
        } else if len <= 0xffff {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        if self.client {
            out.extend_from_slice(&MASK);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
        } else {
            out.extend_from_slice(payload);
        }
        self.stream.write_all(&out).expect("sending a frame");
    }

    /// Sends the header of one frame with FIN and `opcode` announcing `len` payload bytes, and
    /// returns a writer for its (masked, if we are the client) payload, to send in pieces.
    pub fn start_frame(&mut self, opcode: u8, len: usize) -> PayloadWriter<'_> {
        let mut out = vec![0x80 | opcode];
        let mask_bit = if self.client { 0x80 } else { 0 };
        assert!(len < 126, "start_frame is for short frames");
        out.push(mask_bit | len as u8);
        if self.client {
            out.extend_from_slice(&MASK);
        }
        self.stream.write_all(&out).expect("sending a frame header");
        PayloadWriter {
            conn: self,
            sent: 0,
        }
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) {
        self.send(OP_TEXT, text.as_bytes());
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, data: &[u8]) {
        self.send(OP_BINARY, data);
    }

    /// Sends a Close frame, with a status code and reason or empty.
    pub fn send_close(&mut self, code: Option<(u16, &str)>) {
        let mut payload = Vec::new();
        if let Some((c, reason)) = code {
            payload.extend_from_slice(&c.to_be_bytes());
            payload.extend_from_slice(reason.as_bytes());
        }
        self.send(OP_CLOSE, &payload);
    }

    /// Sends a Close frame but tolerates a peer that already went away (for the end of a
    /// test, when the process under test may have exited).
    pub fn send_close_if_open(&mut self, code: Option<(u16, &str)>) {
        let mut payload = Vec::new();
        if let Some((c, reason)) = code {
            payload.extend_from_slice(&c.to_be_bytes());
            payload.extend_from_slice(reason.as_bytes());
        }
        let mask_bit = if self.client { 0x80 } else { 0 };
        let mut out = vec![0x80 | OP_CLOSE, mask_bit | payload.len() as u8];
        if self.client {
            out.extend_from_slice(&MASK);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
        } else {
            out.extend_from_slice(&payload);
        }
        let _ = self.stream.write_all(&out);
    }

    fn read_exact_buf(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.pending.len() < n {
            let mut chunk = [0u8; 4096];
            let got = self.stream.read(&mut chunk)?;
            if got == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed",
                ));
            }
            self.pending.extend_from_slice(&chunk[..got]);
        }
        Ok(self.pending.drain(..n).collect())
    }

    /// Reads one frame; `Ok(None)` on a clean EOF before the frame started. Reserved bits
    /// must be clear (no extension is negotiated).
    pub fn try_recv(&mut self) -> io::Result<Option<Frame>> {
        let got = self.try_recv_with_rsv()?;
        if let Some((rsv, frame)) = &got {
            assert_eq!(*rsv, 0, "reserved bits set in frame {frame:?}");
        }
        Ok(got.map(|(_, frame)| frame))
    }

    /// Reads one frame and its reserved bits (`0x70` of the first header byte), for tests of
    /// extensions; panics on EOF, error or timeout.
    pub fn recv_with_rsv(&mut self) -> (u8, Frame) {
        match self.try_recv_with_rsv() {
            Ok(Some(f)) => f,
            Ok(None) => panic!("connection closed while waiting for a frame"),
            Err(e) => panic!("reading a frame: {e}"),
        }
    }

    fn try_recv_with_rsv(&mut self) -> io::Result<Option<(u8, Frame)>> {
        if self.pending.is_empty() {
            let mut chunk = [0u8; 4096];
            let got = self.stream.read(&mut chunk)?;
            if got == 0 {
                return Ok(None);
            }
            self.pending.extend_from_slice(&chunk[..got]);
        }
        let h = self.read_exact_buf(2)?;
        let fin = h[0] & 0x80 != 0;
        let rsv = h[0] & 0x70;
        let opcode = h[0] & 0x0f;
        let masked = h[1] & 0x80 != 0;
        let len = match h[1] & 0x7f {
            126 => {
                let b = self.read_exact_buf(2)?;
                u16::from_be_bytes([b[0], b[1]]) as usize
            }
            127 => {
                let b = self.read_exact_buf(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(&b);
                u64::from_be_bytes(a) as usize
            }
            n => n as usize,
        };
        let key = if masked {
            let k = self.read_exact_buf(4)?;
            Some([k[0], k[1], k[2], k[3]])
        } else {
            None
        };
        let mut payload = self.read_exact_buf(len)?;
        if let Some(k) = key {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= k[i % 4];
            }
        }
        let frame = Frame {
            fin,
            opcode,
            masked,
            payload,
        };
        // RFC 6455 5.1: clients mask every frame, servers never do.
        assert_eq!(
            frame.masked,
            !self.client,
            "frame from the {} is {}masked: {frame:?}",
            if self.client { "server" } else { "client" },
            if frame.masked { "" } else { "not " }
        );
        Ok(Some((rsv, frame)))
    }

    /// Reads one frame; panics on EOF, error or timeout.
    pub fn recv(&mut self) -> Frame {
        match self.try_recv() {
            Ok(Some(f)) => f,
            Ok(None) => panic!("connection closed while waiting for a frame"),
            Err(e) => panic!("reading a frame: {e}"),
        }
    }

    /// Reads frames until a Close (returned) and collects everything before it. Panics on
    /// EOF before the Close.
    pub fn recv_until_close(&mut self) -> (Vec<Frame>, Frame) {
        let mut before = Vec::new();
        loop {
            let f = self.recv();
            if f.opcode == OP_CLOSE {
                return (before, f);
            }
            before.push(f);
        }
    }

    /// Asserts that nothing arrives for `quiet` (no frame, no EOF).
    pub fn expect_silence(&mut self, quiet: Duration) {
        assert!(self.pending.is_empty(), "unexpected data pending");
        self.stream
            .set_read_timeout(Some(quiet))
            .expect("setting a read timeout");
        let mut b = [0u8; 1];
        let r = self.stream.read(&mut b);
        self.stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("setting a read timeout");
        match r {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Ok(0) => panic!("the connection was closed, expected it to stay silent and open"),
            Ok(_) => panic!("unexpected data {b:?}, expected silence"),
            Err(e) => panic!("expected silence, got error {e}"),
        }
    }

    /// Waits for the TCP connection to be closed by the peer (EOF), allowing no further frame.
    pub fn expect_eof(&mut self) {
        match self.try_recv() {
            Ok(None) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Ok(Some(f)) => panic!("expected the connection to close, got {f:?}"),
            Err(e) => panic!("expected the connection to close, got error {e}"),
        }
    }
}

/// Sends the payload of a frame started by [`WsConn::start_frame`] piece by piece.
pub struct PayloadWriter<'a> {
    conn: &'a mut WsConn,
    sent: usize,
}

impl PayloadWriter<'_> {
    /// Sends the next piece of the payload.
    pub fn send(&mut self, piece: &[u8]) {
        let client = self.conn.client;
        let out: Vec<u8> = piece
            .iter()
            .enumerate()
            .map(|(i, b)| {
                if client {
                    b ^ MASK[(self.sent + i) % 4]
                } else {
                    *b
                }
            })
            .collect();
        self.sent += piece.len();
        self.conn
            .stream
            .write_all(&out)
            .expect("sending part of a payload");
    }
}

/// A raw WebSocket server on 127.0.0.1 with an ephemeral port.
pub struct RawServer {
    listener: TcpListener,
}

impl RawServer {
    /// Binds 127.0.0.1:0.
    pub fn bind() -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the raw server");
        listener
            .set_nonblocking(true)
            .expect("making the raw server non-blocking");
        RawServer { listener }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .expect("raw server address")
            .port()
    }

    /// `ws://127.0.0.1:PORT/` plus `path` (without its leading `/`).
    pub fn url(&self, path: &str) -> String {
        format!(
            "ws://127.0.0.1:{}/{}",
            self.port(),
            path.trim_start_matches('/')
        )
    }

    /// Accepts one TCP connection within [`TIMEOUT`].
    pub fn accept_tcp(&self) -> TcpStream {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false)
                        .expect("making the stream blocking");
                    set_timeouts(&s);
                    return s;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(
                        Instant::now() < deadline,
                        "no connection to the raw server within {TIMEOUT:?}"
                    );
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("accepting on the raw server: {e}"),
            }
        }
    }

    /// Accepts a WebSocket client: checks its handshake (Upgrade, Connection, version 13, a
    /// 16-byte key) and answers 101 with the right `Sec-WebSocket-Accept` and `extra` headers.
    /// Returns the connection and the request head.
    pub fn accept_ws(&self, extra: &[(&str, &str)]) -> (WsConn, HttpHead) {
        let mut s = self.accept_tcp();
        let (req, rest) = read_head(&mut s).expect("reading the client's handshake");
        assert!(
            req.first_line.starts_with("GET ") && req.first_line.ends_with(" HTTP/1.1"),
            "bad request line {:?}",
            req.first_line
        );
        assert_upgrade_headers(&req);
        assert_eq!(req.header("sec-websocket-version"), Some("13"));
        let key = req
            .header("sec-websocket-key")
            .unwrap_or_else(|| panic!("no Sec-WebSocket-Key in {req:?}"))
            .to_string();
        let raw_key = base64::engine::general_purpose::STANDARD
            .decode(&key)
            .unwrap_or_default();
        assert_eq!(
            raw_key.len(),
            16,
            "Sec-WebSocket-Key {key:?} is not 16 bytes of base64"
        );
        let mut resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n",
            accept_key(&key)
        );
        for (k, v) in extra {
            resp.push_str(&format!("{k}: {v}\r\n"));
        }
        resp.push_str("\r\n");
        s.write_all(resp.as_bytes())
            .expect("sending the 101 response");
        (
            WsConn {
                stream: s,
                pending: rest,
                client: false,
            },
            req,
        )
    }
}

#[test]
fn accept_key_matches_rfc_example() {
    assert_eq!(accept_key(CLIENT_KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

/// Opens a WebSocket connection to `port` (request sent, 101 read) for writing frames by hand.
pub fn raw_client(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    s.write_all(upgrade_request(port, "/", &[]).as_bytes())
        .expect("sending the handshake");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).expect("reading the 101"), 1, "{head:?}");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "), "{head:?}");
    s
}
