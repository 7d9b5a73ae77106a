//! What a line typed at the interactive console means: a message to send or a slash command,
//! and how incoming messages are shown.

use crate::exec::Message;
use bytes::Bytes;
use std::time::Duration;

/// One typed line, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send this message.
    Send(Message),
    /// `/ping [data]`: send a ping with this payload.
    Ping(Bytes),
    /// `/close [code [reason]]`: end the session with a Close of this status (none: the
    /// default Close).
    Close(Option<(u16, String)>),
    /// `/help`.
    Help,
}

/// The text `/help` prints.
pub const HELP: &str = "\
Lines you type are sent as text messages. Commands:
  /ping [data]            send a ping; its pong is shown with the round-trip time
  /close [code [reason]]  send a Close (e.g. /close 1000 bye) and end the session
  /binary <hex>           send a binary message (e.g. /binary 01 02 ff)
  /text <text>            send text as it is, even when it starts with /
  /help                   this text
Ctrl-D closes the connection; Up and Down recall earlier lines.";

/// Understands one typed line.
pub fn parse(line: &str) -> Result<Command, String> {
    let Some(rest) = line.strip_prefix('/') else {
        return Ok(Command::Send(text(line)));
    };
    let (name, arg) = match rest.split_once(' ') {
        Some((name, arg)) => (name, arg),
        None => (rest, ""),
    };
    match name {
        "ping" => {
            if arg.len() > 125 {
                return Err("a ping carries at most 125 bytes".into());
            }
            Ok(Command::Ping(Bytes::copy_from_slice(arg.as_bytes())))
        }
        "close" => parse_close(arg.trim_start()),
        "binary" => parse_hex(arg).map(|b| Command::Send(Message::Binary(b))),
        "text" => Ok(Command::Send(text(arg))),
        "help" | "?" => Ok(Command::Help),
        _ => Err(format!(
            "unknown command /{name} (/help lists them; /text /{name} sends the line as text)"
        )),
    }
}

fn text(s: &str) -> Message {
    Message::Text(Bytes::copy_from_slice(s.as_bytes()))
}

fn parse_close(arg: &str) -> Result<Command, String> {
    if arg.is_empty() {
        return Ok(Command::Close(None));
    }
    let (code, reason) = match arg.split_once(' ') {
        Some((c, r)) => (c, r),
        None => (arg, ""),
    };
    let code: u16 = code
        .parse()
        .map_err(|_| format!("`{code}` is not a close status code (e.g. /close 1000 bye)"))?;
    crate::ws::control::check_close(code, reason)?;
    Ok(Command::Close(Some((code, reason.to_string()))))
}

fn parse_hex(arg: &str) -> Result<Bytes, String> {
    let digits: Vec<u8> = arg.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err("hex needs two digits per byte (e.g. /binary 01 ff)".into());
    }
    let value = |d: u8| match d {
        b'0'..=b'9' => Ok(d - b'0'),
        b'a'..=b'f' => Ok(d - b'a' + 10),
        b'A'..=b'F' => Ok(d - b'A' + 10),
        _ => Err(format!("`{}` is not a hex digit", d as char)),
    };
    digits
        .chunks(2)
        .map(|pair| Ok(value(pair[0])? << 4 | value(pair[1])?))
        .collect::<Result<Vec<u8>, String>>()
        .map(Bytes::from)
}

/// Most bytes of a binary message shown as hex.
const HEX_SHOWN: usize = 32;

/// How an incoming message is shown: text as it is (after `< `), binary as its length and
/// the first bytes in hex, so the two never look alike.
pub fn show_incoming(msg: &Message) -> String {
    match msg {
        Message::Text(t) => {
            let text = String::from_utf8_lossy(t);
            let text = text.strip_suffix('\n').unwrap_or(&text);
            format!("< {text}")
        }
        Message::Binary(b) => {
            let hex: Vec<String> = b
                .iter()
                .take(HEX_SHOWN)
                .map(|x| format!("{x:02x}"))
                .collect();
            let more = if b.len() > HEX_SHOWN { " …" } else { "" };
            format!("< [binary, {} bytes] {}{more}", b.len(), hex.join(" "))
        }
    }
}

/// How a pong is shown.
pub fn show_pong(payload: &[u8], rtt: Duration) -> String {
    let ms = rtt.as_secs_f64() * 1000.0;
    if payload.is_empty() {
        format!("< pong, rtt {ms:.3} ms")
    } else {
        format!(
            "< pong {:?}, rtt {ms:.3} ms",
            String::from_utf8_lossy(payload)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_text(s: &str) -> Command {
        Command::Send(Message::Text(Bytes::copy_from_slice(s.as_bytes())))
    }

    #[test]
    fn plain_lines_and_text_command_are_sent_as_text() {
        assert_eq!(parse("hello").unwrap(), send_text("hello"));
        assert_eq!(parse("").unwrap(), send_text(""));
        assert_eq!(parse("/text /ping x").unwrap(), send_text("/ping x"));
    }

    #[test]
    fn binary_takes_hex_with_or_without_spaces() {
        assert_eq!(
            parse("/binary 01 ff0A").unwrap(),
            Command::Send(Message::Binary(Bytes::from_static(&[1, 0xff, 0x0a])))
        );
        assert!(parse("/binary 0").is_err());
        assert!(parse("/binary zz").is_err());
    }

    #[test]
    fn close_takes_optional_code_and_reason() {
        assert_eq!(parse("/close").unwrap(), Command::Close(None));
        assert_eq!(
            parse("/close 1000 bye now").unwrap(),
            Command::Close(Some((1000, "bye now".into())))
        );
        assert_eq!(
            parse("/close 4000").unwrap(),
            Command::Close(Some((4000, String::new())))
        );
        assert!(parse("/close 1005").is_err());
        assert!(parse("/close abc").is_err());
    }

    #[test]
    fn ping_help_and_unknown_commands() {
        assert_eq!(parse("/ping").unwrap(), Command::Ping(Bytes::new()));
        assert_eq!(
            parse("/ping abc").unwrap(),
            Command::Ping(Bytes::from_static(b"abc"))
        );
        assert!(parse(&format!("/ping {}", "x".repeat(126))).is_err());
        assert_eq!(parse("/help").unwrap(), Command::Help);
        assert!(parse("/nope").unwrap_err().contains("/text /nope"));
    }

    #[test]
    fn binary_is_shown_unlike_text() {
        assert_eq!(
            show_incoming(&Message::Text(Bytes::from_static(b"hi\n"))),
            "< hi"
        );
        assert_eq!(
            show_incoming(&Message::Binary(Bytes::from_static(b"hi"))),
            "< [binary, 2 bytes] 68 69"
        );
        let long = show_incoming(&Message::Binary(Bytes::from(vec![0u8; 40])));
        assert!(long.starts_with("< [binary, 40 bytes] 00 00"), "{long}");
        assert!(long.ends_with(" …"), "{long}");
    }
}
