//! `--browser-console`: a WebSocket server answers a plain HTTP `GET` (no Upgrade) with a small
//! self-contained page that connects back to the same address and path, and lets a person
//! send messages (text, or binary from hex) and see what comes back. No external assets.
//!
//! For automated checks the page sends the text after `#send=` in its address once connected,
//! through the same code path as the Send button.

use std::io;

/// The page. Received text is shown as `← text`, binary as its length and hex, sent
/// messages as `→ …`, Closes with their code and reason.
pub const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>websocat console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{margin:0;height:100vh;display:flex;flex-direction:column;font:14px/1.4 system-ui,sans-serif}
header{padding:.5em 1em;background:#20252b;color:#eee}
#status{float:right;color:#9cf}
#log{flex:1;overflow:auto;margin:0;padding:.5em 1em;font:13px/1.45 ui-monospace,monospace;white-space:pre-wrap}
.in{color:#05612a}.out{color:#1a4f91}.bin{color:#9a5200}.sys{color:#777}
form{display:flex;gap:.5em;align-items:center;padding:.5em 1em;border-top:1px solid #ccc}
#msg{flex:1;font:inherit;padding:.35em}
</style></head>
<body>
<header>websocat console <span id="status">connecting…</span></header>
<div id="log"></div>
<form id="form">
<input id="msg" autocomplete="off" placeholder="message" autofocus>
<label title="send the input as binary, written in hex"><input type="checkbox" id="hex"> hex</label>
<button id="send">Send</button><button type="button" id="close">Close</button>
</form>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
  location.pathname + location.search;
const MAX_HEX = 64;
function show(cls, text) {
  const line = document.createElement("div");
  line.className = cls;
  line.textContent = text;
  $("log").appendChild(line);
  $("log").scrollTop = $("log").scrollHeight;
}
function hex(bytes) {
  const shown = Array.from(bytes.slice(0, MAX_HEX), (b) => b.toString(16).padStart(2, "0"));
  return "[binary, " + bytes.length + " bytes] " + shown.join(" ") +
    (bytes.length > MAX_HEX ? " …" : "");
}
function parseHex(text) {
  const digits = text.replace(/\s+/g, "");
  if (!/^([0-9a-fA-F]{2})*$/.test(digits)) throw new Error("hex needs two digits per byte");
  return new Uint8Array(digits.match(/../g) || [], (d) => parseInt(d, 16));
}
const ws = new WebSocket(url);
ws.binaryType = "arraybuffer";
ws.onopen = () => {
  $("status").textContent = "connected to " + url;
  show("sys", "connected to " + url);
  const auto = location.hash.match(/^#send=(.*)$/);
  if (auto) { $("msg").value = decodeURIComponent(auto[1]); send(); }
};
ws.onmessage = (e) => {
  if (typeof e.data === "string") show("in", "← " + e.data);
  else show("in bin", "← " + hex(new Uint8Array(e.data)));
};
ws.onerror = () => show("sys", "connection error");
ws.onclose = (e) => {
  $("status").textContent = "closed";
  show("sys", "closed: code " + e.code + (e.reason ? " " + JSON.stringify(e.reason) : ""));
};
function send() {
  const text = $("msg").value;
  try {
    if ($("hex").checked) {
      const bytes = parseHex(text);
      ws.send(bytes);
      show("out bin", "→ " + hex(bytes));
    } else {
      ws.send(text);
      show("out", "→ " + text);
    }
    $("msg").value = "";
  } catch (err) {
    show("sys", "not sent: " + err.message);
  }
}
$("form").onsubmit = (e) => { e.preventDefault(); send(); };
$("close").onclick = () => ws.close(1000, "closed from the browser console");
</script>
</body></html>
"#;

/// Why a connection ended without a WebSocket: the console page was served on it. The accept
/// loop treats it as a finished request, not as a failure.
#[derive(Debug)]
pub struct PageServed;

impl std::fmt::Display for PageServed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("served the browser console page")
    }
}

impl std::error::Error for PageServed {}

/// True when `e` says the page was served (see [`PageServed`]).
pub fn is_page_served(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<PageServed>())
}

/// True when a request head is a plain `GET` (no `Upgrade: websocket`), which the page answers.
pub fn wants_page(head: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    if !matches!(req.parse(head), Ok(httparse::Status::Complete(_))) {
        return false;
    }
    req.method == Some("GET")
        && !req.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("upgrade")
                && String::from_utf8_lossy(h.value)
                    .to_ascii_lowercase()
                    .contains("websocket")
        })
}

/// The HTTP response carrying the page; the connection closes after it.
pub fn response() -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        PAGE.len()
    )
    .into_bytes();
    out.extend_from_slice(PAGE.as_bytes());
    out
}

/// Writes the page to `stream` and returns the [`PageServed`] error that ends the connection.
pub async fn serve<S: tokio::io::AsyncWrite + Unpin + ?Sized>(stream: &mut S) -> io::Error {
    use tokio::io::AsyncWriteExt;
    let written = async {
        stream.write_all(&response()).await?;
        stream.flush().await?;
        stream.shutdown().await
    };
    match written.await {
        Ok(()) => io::Error::other(PageServed),
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_gets_get_the_page_upgrades_do_not() {
        assert!(wants_page(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(wants_page(b"GET /chat?a=1 HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(!wants_page(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        ));
        assert!(!wants_page(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(!wants_page(b"GET / HTTP/1.1\r\nHost: x\r\n"));
    }

    #[test]
    fn the_page_needs_nothing_from_elsewhere() {
        for external in ["src=", "href=", "http://", "https://", "@import", "url("] {
            assert!(!PAGE.contains(external), "{external}");
        }
        let r = response();
        let head_end = r.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert_eq!(r.len() - head_end, PAGE.len());
    }

    #[test]
    fn served_marker_is_found_through_io_errors() {
        let e = io::Error::other(PageServed);
        assert!(is_page_served(&e));
        assert!(!is_page_served(&io::Error::other("x")));
    }
}
