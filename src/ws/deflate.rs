//! permessage-deflate (RFC 7692): negotiating its parameters in both roles, and compressing
//! and decompressing the messages of one connection.
//!
//! - [`DeflateConfig`] is what the user asked for (the `deflate*` WebSocket parameters).
//! - [`client_offer`] is the `Sec-WebSocket-Extensions` value a client sends;
//!   [`accept_offer`] picks the first acceptable offer on the server side and
//!   [`check_response`] validates the server's answer on the client side. Both give the
//!   [`DeflateParams`] the connection then uses.
//! - [`MessageDeflate`] compresses outgoing messages and inflates incoming ones; the frame
//!   codec calls it. Its zlib state is allocated when the first message needs it and dropped
//!   after every message in a direction without context takeover.
//!
//! The backend is zlib-rs through `flate2`: it takes a window size for raw DEFLATE (miniz_oxide
//! cannot), and it is memory-safe Rust. Like zlib it cannot compress raw DEFLATE with a
//! 256-byte window (8 bits): when 8 is negotiated we compress with 9 bits, whose longest
//! back-reference (512 - 262 = 250 bytes) still fits in a 256-byte window, as zlib itself does
//! for its zlib-wrapped streams. Inflating with a window larger than negotiated is always
//! correct, so 8 becomes 9 there too.

use crate::ws::frame::{Role, Violation, INVALID_PAYLOAD, TOO_BIG};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::fmt;

/// The name of the extension in `Sec-WebSocket-Extensions`.
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// Default compression level (zlib's own default).
pub const DEFAULT_LEVEL: u32 = 6;

/// The largest LZ77 window, as a power of two (32 KiB), and the default.
pub const MAX_WINDOW_BITS: u8 = 15;

/// The smallest window RFC 7692 allows (256 bytes).
pub const MIN_WINDOW_BITS: u8 = 8;

/// What a compressed message ends with after a sync flush; it is left out on the wire
/// (RFC 7692 section 7.2.1) and put back before inflating.
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The user's permessage-deflate settings for one WebSocket node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Compression level 0–9.
    pub level: u32,
    /// Largest LZ77 window (base-2 logarithm, 8–15) in both directions: ours, and the one we
    /// ask the peer to use.
    pub window_bits: u8,
    /// Compress every message on its own, in both directions.
    pub no_context_takeover: bool,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            level: DEFAULT_LEVEL,
            window_bits: MAX_WINDOW_BITS,
            no_context_takeover: false,
        }
    }
}

/// The parameters a connection agreed on (as in the server's response). A window of `None`
/// was not limited (15 bits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server compresses every message on its own.
    pub server_no_context_takeover: bool,
    /// The client compresses every message on its own.
    pub client_no_context_takeover: bool,
    /// The server's largest window.
    pub server_max_window_bits: Option<u8>,
    /// The client's largest window.
    pub client_max_window_bits: Option<u8>,
}

impl DeflateParams {
    /// What both ends of a connection without a handshake (`ws-lowlevel-*:`) assume: `config`
    /// applied to both directions.
    pub fn assumed(config: &DeflateConfig) -> Self {
        let bits = (config.window_bits < MAX_WINDOW_BITS).then_some(config.window_bits);
        DeflateParams {
            server_no_context_takeover: config.no_context_takeover,
            client_no_context_takeover: config.no_context_takeover,
            server_max_window_bits: bits,
            client_max_window_bits: bits,
        }
    }
}

/// The extension as written in `Sec-WebSocket-Extensions` (the server's response).
impl fmt::Display for DeflateParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXTENSION_NAME)?;
        if self.server_no_context_takeover {
            f.write_str("; server_no_context_takeover")?;
        }
        if self.client_no_context_takeover {
            f.write_str("; client_no_context_takeover")?;
        }
        if let Some(bits) = self.server_max_window_bits {
            write!(f, "; server_max_window_bits={bits}")?;
        }
        if let Some(bits) = self.client_max_window_bits {
            write!(f, "; client_max_window_bits={bits}")?;
        }
        Ok(())
    }
}

/// The `Sec-WebSocket-Extensions` value a client with `config` sends: it always lets the
/// server limit the client's window (`client_max_window_bits`), asks for a smaller server
/// window when `config` has one, and asks for no context takeover both ways when configured.
pub fn client_offer(config: &DeflateConfig) -> String {
    let mut offer = String::from(EXTENSION_NAME);
    if config.no_context_takeover {
        offer.push_str("; client_no_context_takeover; server_no_context_takeover");
    }
    if config.window_bits < MAX_WINDOW_BITS {
        offer.push_str(&format!(
            "; server_max_window_bits={0}; client_max_window_bits={0}",
            config.window_bits
        ));
    } else {
        offer.push_str("; client_max_window_bits");
    }
    offer
}

/// One element of a `Sec-WebSocket-Extensions` list: a name and its `;` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// Extension name, e.g. `permessage-deflate`.
    pub name: String,
    /// Parameters in order; a parameter without `=` has no value.
    pub params: Vec<(String, Option<String>)>,
}

/// Splits `text` at `sep` where it is not inside a quoted string.
fn split_unquoted(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&text[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&text[start..]);
    parts
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Parses the values of every `Sec-WebSocket-Extensions` header (RFC 6455 section 9.1).
pub fn parse_extensions<'a>(
    values: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<Extension>, String> {
    let mut list = Vec::new();
    for value in values {
        for element in split_unquoted(value, ',') {
            if element.trim().is_empty() {
                continue; // HTTP lists may have empty elements
            }
            let mut parts = split_unquoted(element, ';').into_iter();
            let name = parts.next().unwrap_or_default().trim();
            if !is_token(name) {
                return Err(format!("`{}` is not an extension name", name));
            }
            let mut params = Vec::new();
            for param in parts {
                let (key, value) = match param.split_once('=') {
                    Some((k, v)) => {
                        let v = v.trim();
                        let v = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                            Some(inner) => inner.replace('\\', ""),
                            None => v.to_string(),
                        };
                        (k.trim(), Some(v))
                    }
                    None => (param.trim(), None),
                };
                if !is_token(key) {
                    return Err(format!("`{}` is not an extension parameter", param.trim()));
                }
                params.push((key.to_ascii_lowercase(), value));
            }
            list.push(Extension {
                name: name.to_ascii_lowercase(),
                params,
            });
        }
    }
    Ok(list)
}

/// A window size parameter's value: a decimal 8–15 without leading zeros.
fn window_bits_value(name: &str, value: &str) -> Result<u8, String> {
    match value.parse::<u8>() {
        Ok(bits)
            if (MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&bits) && !value.starts_with('0') =>
        {
            Ok(bits)
        }
        _ => Err(format!("{name}={value} is not a window size (8-15)")),
    }
}

/// The four parameters of one permessage-deflate offer or response, each at most once.
#[derive(Debug, Default)]
struct Parsed {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: the parameter without a value.
    client_max_window_bits: Option<Option<u8>>,
}

fn parse_params(params: &[(String, Option<String>)]) -> Result<Parsed, String> {
    let mut parsed = Parsed::default();
    for (i, (name, value)) in params.iter().enumerate() {
        if params[..i].iter().any(|(n, _)| n == name) {
            return Err(format!("{name} is given twice"));
        }
        let flag = |v: &Option<String>| match v {
            None => Ok(true),
            Some(v) => Err(format!("{name} takes no value (got {v})")),
        };
        match name.as_str() {
            "server_no_context_takeover" => parsed.server_no_context_takeover = flag(value)?,
            "client_no_context_takeover" => parsed.client_no_context_takeover = flag(value)?,
            "server_max_window_bits" => {
                let v = value
                    .as_deref()
                    .ok_or_else(|| format!("{name} needs a value"))?;
                parsed.server_max_window_bits = Some(window_bits_value(name, v)?);
            }
            "client_max_window_bits" => {
                parsed.client_max_window_bits = Some(match value.as_deref() {
                    None => None,
                    Some(v) => Some(window_bits_value(name, v)?),
                });
            }
            other => return Err(format!("unknown parameter {other}")),
        }
    }
    Ok(parsed)
}

/// The response to one client offer, or why we decline it.
fn answer_offer(config: &DeflateConfig, offer: &Extension) -> Result<DeflateParams, String> {
    let asked = parse_params(&offer.params)?;
    let ours = config.window_bits;
    Ok(DeflateParams {
        // Given when asked for, and when we want it ourselves.
        server_no_context_takeover: asked.server_no_context_takeover || config.no_context_takeover,
        // The client proposes to reset its context or we want it: either way it saves our
        // inflater's memory between messages.
        client_no_context_takeover: asked.client_no_context_takeover || config.no_context_takeover,
        // At most what the client asked for, and at most ours.
        server_max_window_bits: match asked.server_max_window_bits {
            Some(bits) => Some(bits.min(ours)),
            None => (ours < MAX_WINDOW_BITS).then_some(ours),
        },
        // Only when the client says it can limit its window (RFC 7692 section 7.1.2.2).
        client_max_window_bits: match asked.client_max_window_bits {
            None => None,
            Some(None) => (ours < MAX_WINDOW_BITS).then_some(ours),
            Some(Some(bits)) => Some(bits.min(ours)),
        },
    })
}

/// Server side: the parameters of the first permessage-deflate offer in the client's
/// `Sec-WebSocket-Extensions` values that we can accept, or `None` (the connection is then
/// uncompressed). Offers with unknown, repeated or invalid parameters are declined.
pub fn accept_offer<'a>(
    config: &DeflateConfig,
    header_values: impl IntoIterator<Item = &'a str>,
) -> Option<DeflateParams> {
    let offers = match parse_extensions(header_values) {
        Ok(offers) => offers,
        Err(e) => {
            tracing::debug!("ignoring a malformed Sec-WebSocket-Extensions: {e}");
            return None;
        }
    };
    for offer in offers.iter().filter(|o| o.name == EXTENSION_NAME) {
        match answer_offer(config, offer) {
            Ok(params) => return Some(params),
            Err(e) => tracing::debug!("declining a permessage-deflate offer: {e}"),
        }
    }
    None
}

/// Client side: checks the server's `Sec-WebSocket-Extensions` values against our offer
/// ([`client_offer`] of `config`). No extension means an uncompressed connection; anything we
/// did not offer, or parameters outside what we offered, fail the connection.
pub fn check_response<'a>(
    config: &DeflateConfig,
    header_values: impl IntoIterator<Item = &'a str>,
) -> Result<Option<DeflateParams>, String> {
    let list = parse_extensions(header_values)?;
    let [answer] = list.as_slice() else {
        return match list.len() {
            0 => Ok(None),
            n => Err(format!(
                "the server answered with {n} extensions; we offered only {EXTENSION_NAME}"
            )),
        };
    };
    if answer.name != EXTENSION_NAME {
        return Err(format!(
            "the server answered with extension {}, which we did not offer",
            answer.name
        ));
    }
    let got = parse_params(&answer.params).map_err(|e| format!("{EXTENSION_NAME}: {e}"))?;
    let client_max_window_bits = match got.client_max_window_bits {
        None => None,
        Some(Some(bits)) => Some(bits),
        Some(None) => {
            return Err(format!(
                "{EXTENSION_NAME}: client_max_window_bits needs a value in a response"
            ))
        }
    };
    if let Some(bits) = got.server_max_window_bits {
        if bits > config.window_bits {
            return Err(format!(
                "{EXTENSION_NAME}: server_max_window_bits={bits} is larger than the {} we offered",
                config.window_bits
            ));
        }
    }
    Ok(Some(DeflateParams {
        server_no_context_takeover: got.server_no_context_takeover,
        client_no_context_takeover: got.client_no_context_takeover,
        server_max_window_bits: got.server_max_window_bits,
        client_max_window_bits,
    }))
}

/// A window size flate2 (zlib) can work with: 8 becomes 9 (see the module docs).
fn usable_window(bits: Option<u8>) -> u8 {
    bits.unwrap_or(MAX_WINDOW_BITS)
        .clamp(MIN_WINDOW_BITS + 1, MAX_WINDOW_BITS)
}

/// Compression state of one connection: what we send and what we receive.
pub struct MessageDeflate {
    level: Compression,
    send_window: u8,
    send_reset: bool,
    recv_window: u8,
    recv_reset: bool,
    /// Allocated for the first message we compress; dropped after each one with `send_reset`.
    compressor: Option<Compress>,
    /// Allocated for the first compressed message we receive; dropped after each one with
    /// `recv_reset` or when the peer ended its DEFLATE stream.
    decompressor: Option<Decompress>,
    /// The peer's DEFLATE stream ended (a final block) inside the current message: the rest
    /// of the message is ignored and the next one starts a new stream.
    stream_ended: bool,
    /// Payload bytes of the current incoming message so far.
    message_input: usize,
}

impl fmt::Debug for MessageDeflate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageDeflate")
            .field("level", &self.level.level())
            .field("send_window", &self.send_window)
            .field("send_reset", &self.send_reset)
            .field("recv_window", &self.recv_window)
            .field("recv_reset", &self.recv_reset)
            .field("compressing", &self.compressor.is_some())
            .field("inflating", &self.decompressor.is_some())
            .finish()
    }
}

/// What [`MessageDeflate::compress`] made of a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Compressed {
    /// The payload of a compressed message (sent with RSV1).
    Deflated(Vec<u8>),
    /// Compressing did not make it smaller and the context is not kept: send it as it is.
    Unchanged,
}

impl MessageDeflate {
    /// The state for our `role` on a connection with `params`, compressing at `level`.
    pub fn new(role: Role, params: &DeflateParams, level: u32) -> Self {
        let (ours, theirs) = match role {
            Role::Server => (
                (
                    params.server_max_window_bits,
                    params.server_no_context_takeover,
                ),
                (
                    params.client_max_window_bits,
                    params.client_no_context_takeover,
                ),
            ),
            Role::Client => (
                (
                    params.client_max_window_bits,
                    params.client_no_context_takeover,
                ),
                (
                    params.server_max_window_bits,
                    params.server_no_context_takeover,
                ),
            ),
        };
        MessageDeflate {
            level: Compression::new(level.min(9)),
            send_window: usable_window(ours.0),
            send_reset: ours.1,
            recv_window: usable_window(theirs.0),
            recv_reset: theirs.1,
            compressor: None,
            decompressor: None,
            stream_ended: false,
            message_input: 0,
        }
    }

    /// True while zlib state for sending or receiving is allocated.
    pub fn holds_state(&self) -> (bool, bool) {
        (self.compressor.is_some(), self.decompressor.is_some())
    }

    /// Compresses one outgoing message.
    pub fn compress(&mut self, data: &[u8]) -> std::io::Result<Compressed> {
        let (level, window) = (self.level, self.send_window);
        let c = self
            .compressor
            .get_or_insert_with(|| Compress::new_with_window_bits(level, false, window));
        let start = c.total_in();
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        loop {
            if out.capacity() - out.len() < 16 {
                out.reserve(out.capacity().max(256));
            }
            let consumed = (c.total_in() - start) as usize;
            c.compress_vec(&data[consumed..], &mut out, FlushCompress::Sync)
                .map_err(|e| std::io::Error::other(format!("compressing a message: {e}")))?;
            let consumed = (c.total_in() - start) as usize;
            // A sync flush is complete when all input is taken and output room is left.
            if consumed == data.len() && out.len() < out.capacity() {
                break;
            }
        }
        if out.ends_with(&SYNC_TAIL) {
            out.truncate(out.len() - SYNC_TAIL.len());
        }
        if out.is_empty() {
            // An empty message right after a flush makes no output at all; the payload
            // must still hold a block: an empty stored block's header (RFC 7692 7.2.3.6).
            out.push(0x00);
        }
        if self.send_reset {
            self.compressor = None;
            if out.len() >= data.len() {
                return Ok(Compressed::Unchanged);
            }
        }
        Ok(Compressed::Deflated(out))
    }

    /// Inflates a piece of a compressed message's payload onto `out`, which may grow to
    /// `limit` bytes and no further: a message inflating past it fails with 1009 before more
    /// is allocated. Invalid DEFLATE data fails with 1007.
    pub fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), Violation> {
        self.message_input += input.len();
        if self.stream_ended {
            return Ok(());
        }
        let window = self.recv_window;
        let d = self
            .decompressor
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, window));
        let mut input = input;
        loop {
            if out.len() == out.capacity() {
                // Double, from 4 KiB, up to one byte past the limit (to notice going over).
                let allowed = limit.saturating_sub(out.len()).saturating_add(1);
                out.reserve_exact(out.len().max(4096).min(allowed));
            }
            let (in_before, out_before) = (d.total_in(), out.len());
            let status = d
                .decompress_vec(input, out, FlushDecompress::None)
                .map_err(|e| Violation {
                    code: INVALID_PAYLOAD,
                    reason: format!("compressed message is not valid DEFLATE data: {e}"),
                    in_close: false,
                })?;
            let consumed = (d.total_in() - in_before) as usize;
            input = &input[consumed..];
            if out.len() > limit {
                return Err(Violation {
                    code: TOO_BIG,
                    reason: format!(
                        "message inflates to more than the limit of {limit} bytes (--max-ws-message-length)"
                    ),
                    in_close: false,
                });
            }
            if status == Status::StreamEnd {
                self.stream_ended = true;
                return Ok(());
            }
            let room_left = out.len() < out.capacity();
            let progress = consumed > 0 || out.len() > out_before;
            if room_left && (input.is_empty() || !progress) {
                return Ok(());
            }
        }
    }

    /// Ends an incoming compressed message: inflates the sync-flush tail the sender left out
    /// and releases the inflater when the peer does not keep its context.
    pub fn finish_message(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), Violation> {
        // An empty payload (not a valid block) is taken as an empty message.
        if self.message_input > 0 {
            self.inflate(&SYNC_TAIL, out, limit)?;
        }
        self.message_input = 0;
        if self.recv_reset || self.stream_ended {
            self.decompressor = None;
            self.stream_ended = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(text: &str) -> Extension {
        parse_extensions([text]).unwrap().remove(0)
    }

    #[test]
    fn extension_lists_parse_with_quotes_spaces_and_several_headers() {
        let got = parse_extensions([
            "permessage-deflate; client_max_window_bits, permessage-deflate ;server_max_window_bits=\"10\"",
            "x-other",
        ])
        .unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].params, [("client_max_window_bits".into(), None)]);
        assert_eq!(
            got[1].params,
            [("server_max_window_bits".into(), Some("10".into()))]
        );
        assert_eq!(got[2].name, "x-other");
        assert!(parse_extensions(["permessage-deflate; a b"]).is_err());
    }

    #[test]
    fn server_answers_each_parameter_as_rfc_7692_says() {
        let config = DeflateConfig::default();
        let answer = |offer: &str| answer_offer(&config, &params(offer));
        assert_eq!(
            answer("permessage-deflate").unwrap().to_string(),
            "permessage-deflate"
        );
        assert_eq!(
            answer("permessage-deflate; client_max_window_bits").unwrap(),
            DeflateParams::default(),
            "no value and no wish of ours: no limit"
        );
        assert_eq!(
            answer("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=12")
                .unwrap()
                .to_string(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=12"
        );
        for bad in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; client_max_window_bits=x",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; mystery",
        ] {
            assert!(answer(bad).is_err(), "{bad}");
        }
        // The first acceptable offer wins; bad ones are skipped.
        let got = accept_offer(
            &config,
            ["x-foo, permessage-deflate; bogus, permessage-deflate; server_max_window_bits=10"],
        );
        assert_eq!(got.unwrap().server_max_window_bits, Some(10));
        assert_eq!(accept_offer(&config, ["x-foo"]), None);
    }

    #[test]
    fn our_own_limits_go_into_offer_and_answer() {
        let config = DeflateConfig {
            level: 1,
            window_bits: 10,
            no_context_takeover: true,
        };
        assert_eq!(
            client_offer(&config),
            "permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=10"
        );
        assert_eq!(
            client_offer(&DeflateConfig::default()),
            "permessage-deflate; client_max_window_bits"
        );
        let got = answer_offer(
            &config,
            &params("permessage-deflate; client_max_window_bits; server_max_window_bits=12"),
        )
        .unwrap();
        assert_eq!(
            got.to_string(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=10"
        );
        // The client cannot be limited when it did not say it can be.
        let got = answer_offer(&config, &params("permessage-deflate")).unwrap();
        assert_eq!(got.client_max_window_bits, None);
    }

    #[test]
    fn client_checks_the_response() {
        let config = DeflateConfig {
            window_bits: 12,
            ..DeflateConfig::default()
        };
        assert_eq!(check_response(&config, []), Ok(None));
        let ok = check_response(
            &config,
            ["permessage-deflate; server_max_window_bits=9; client_max_window_bits=8; client_no_context_takeover"],
        )
        .unwrap()
        .unwrap();
        assert_eq!(ok.server_max_window_bits, Some(9));
        assert_eq!(ok.client_max_window_bits, Some(8));
        assert!(ok.client_no_context_takeover);
        for bad in [
            "x-foo",
            "permessage-deflate, permessage-deflate",
            "permessage-deflate; server_max_window_bits=13",
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; what",
        ] {
            assert!(check_response(&config, [bad]).is_err(), "{bad}");
        }
    }

    fn roundtrip(params: DeflateParams, messages: &[&[u8]]) {
        let mut ends = [
            MessageDeflate::new(Role::Server, &params, 6),
            MessageDeflate::new(Role::Client, &params, 6),
        ];
        for (i, m) in messages.iter().enumerate() {
            for direction in 0..2 {
                let [a, b] = &mut ends;
                let (from, to) = if direction == 0 { (a, b) } else { (b, a) };
                let wire = match from.compress(m).unwrap() {
                    Compressed::Deflated(w) => w,
                    Compressed::Unchanged => continue,
                };
                let mut out = Vec::new();
                // In pieces of 3 bytes: any split inflates the same.
                for piece in wire.chunks(3) {
                    to.inflate(piece, &mut out, 1 << 20).unwrap();
                }
                to.finish_message(&mut out, 1 << 20).unwrap();
                assert_eq!(&out[..], *m, "message {i} with {params}");
            }
        }
    }

    #[test]
    fn messages_roundtrip_with_every_window_and_context_mode() {
        let text = b"Hello, hello, hello! permessage-deflate keeps context across messages.";
        let noise: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let messages: [&[u8]; 5] = [text, text, b"", &noise, text];
        for bits in [None, Some(8), Some(9), Some(12), Some(15)] {
            for reset in [false, true] {
                let p = DeflateParams {
                    server_no_context_takeover: reset,
                    client_no_context_takeover: reset,
                    server_max_window_bits: bits,
                    client_max_window_bits: bits,
                };
                roundtrip(p, &messages);
            }
        }
    }

    #[test]
    fn context_takeover_makes_a_repeated_message_tiny_and_reset_releases_state() {
        let text = b"a message long enough to be worth compressing, a message long enough";
        let mut keep = MessageDeflate::new(Role::Server, &DeflateParams::default(), 6);
        let first = keep.compress(text).unwrap();
        let second = keep.compress(text).unwrap();
        let (Compressed::Deflated(first), Compressed::Deflated(second)) = (first, second) else {
            panic!("both compressed");
        };
        assert!(second.len() < first.len() / 3, "{first:?} {second:?}");
        assert_eq!(keep.holds_state(), (true, false));
        let reset = DeflateParams {
            server_no_context_takeover: true,
            ..DeflateParams::default()
        };
        let mut fresh = MessageDeflate::new(Role::Server, &reset, 6);
        assert_eq!(fresh.holds_state(), (false, false), "nothing before use");
        assert_eq!(fresh.compress(text).unwrap(), Compressed::Deflated(first));
        assert_eq!(
            fresh.holds_state(),
            (false, false),
            "released after the message"
        );
        assert_eq!(fresh.compress(b"x").unwrap(), Compressed::Unchanged);
    }

    #[test]
    fn a_bomb_stops_at_the_limit_without_allocating_past_it() {
        let mut sender = MessageDeflate::new(Role::Client, &DeflateParams::default(), 9);
        let Compressed::Deflated(bomb) = sender.compress(&vec![0u8; 10 << 20]).unwrap() else {
            panic!("compressed");
        };
        assert!(bomb.len() < 20_000, "{}", bomb.len());
        let mut receiver = MessageDeflate::new(Role::Server, &DeflateParams::default(), 6);
        let mut out = Vec::new();
        let err = receiver.inflate(&bomb, &mut out, 100_000).unwrap_err();
        assert_eq!(err.code, TOO_BIG);
        assert!(out.capacity() <= 100_001, "{}", out.capacity());
    }

    #[test]
    fn a_message_ending_its_deflate_stream_is_followed_by_a_fresh_stream() {
        // A peer may end a message with a final block (BFINAL) and start over for the next.
        let mut receiver = MessageDeflate::new(Role::Server, &DeflateParams::default(), 6);
        for text in [&b"first message, first message"[..], b"second"] {
            let mut c = Compress::new(Compression::default(), false);
            let mut wire = Vec::with_capacity(256);
            c.compress_vec(text, &mut wire, FlushCompress::Finish)
                .unwrap();
            let mut out = Vec::new();
            receiver.inflate(&wire, &mut out, 1000).unwrap();
            receiver.finish_message(&mut out, 1000).unwrap();
            assert_eq!(out, text);
        }
        assert_eq!(receiver.holds_state(), (false, false));
    }

    #[test]
    fn garbage_is_invalid_payload() {
        let mut receiver = MessageDeflate::new(Role::Server, &DeflateParams::default(), 6);
        let mut out = Vec::new();
        let err = receiver
            .inflate(&[0xff, 0xff, 0xff, 0xff], &mut out, 1000)
            .unwrap_err();
        assert_eq!(err.code, INVALID_PAYLOAD);
    }
}
