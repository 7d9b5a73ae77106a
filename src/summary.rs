//! `--summary`: one line on stderr when a session ends, saying what moved each way, how long
//! it took, the Closes of each WebSocket side and the ping round-trip times; as words or JSON.

use crate::exec::conn::PeerClose;
use crate::exec::copy::Transferred;
use crate::exec::Conn;
use crate::ws::control::WsControl;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How `--summary` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SummaryFormat {
    /// One line of words.
    Text,
    /// One line of JSON.
    Json,
}

impl std::fmt::Display for SummaryFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SummaryFormat::Text => "text",
            SummaryFormat::Json => "json",
        })
    }
}

/// What one WebSocket side of a session reports.
struct WsSide {
    control: Option<Arc<WsControl>>,
    peer_close: Option<Arc<PeerClose>>,
}

impl WsSide {
    fn of(conn: &Conn) -> Option<WsSide> {
        let Conn::Messages(m) = conn else {
            return None;
        };
        let side = WsSide {
            control: m.ws_control(),
            peer_close: m.peer_close(),
        };
        (side.control.is_some() || side.peer_close.is_some()).then_some(side)
    }
}

/// Watches one session from its start: made before the copy begins, printed after.
pub struct Watch {
    started: Instant,
    messages: bool,
    left: Option<WsSide>,
    right: Option<WsSide>,
}

impl Watch {
    /// Starts watching a session between `left` and `right`.
    pub fn start(left: &Conn, right: &Conn) -> Watch {
        Watch {
            started: Instant::now(),
            messages: matches!(left, Conn::Messages(_)),
            left: WsSide::of(left),
            right: WsSide::of(right),
        }
    }

    /// The summary of the session that ended with `t`.
    pub fn render(&self, t: &Transferred, format: SummaryFormat) -> String {
        let elapsed = self.started.elapsed();
        match format {
            SummaryFormat::Text => self.text(t, elapsed),
            SummaryFormat::Json => self.json(t, elapsed).to_string(),
        }
    }

    /// Prints the summary on stderr in one write.
    pub fn print(&self, t: &Transferred, format: SummaryFormat) {
        let line = format!("{}\n", self.render(t, format));
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn direction(&self, messages: u64, bytes: u64) -> Value {
        if self.messages {
            json!({ "messages": messages, "bytes": bytes })
        } else {
            json!({ "bytes": bytes })
        }
    }

    fn json(&self, t: &Transferred, elapsed: Duration) -> Value {
        let side = |s: &Option<WsSide>| match s {
            None => Value::Null,
            Some(s) => {
                let sent = s.control.as_ref().and_then(|c| c.close_sent());
                let received = s.peer_close.as_ref().and_then(|p| p.frame());
                let pings = s.control.as_ref().map(|c| c.ping_stats());
                json!({
                    "close_sent": sent.map(|f| close_json(f.map(|(c, r)| (Some(c), r)))),
                    "close_received": received.map(|f| close_json(Some(f))),
                    "ping_rtt_ms": pings.filter(|p| p.count > 0).map(|p| json!({
                        "count": p.count,
                        "min": ms(p.min),
                        "avg": ms(p.avg().unwrap_or_default()),
                        "max": ms(p.max),
                    })),
                })
            }
        };
        json!({
            "duration_ms": ms(elapsed),
            "forward": self.direction(t.forward, t.forward_bytes),
            "backward": self.direction(t.backward, t.backward_bytes),
            "left": side(&self.left),
            "right": side(&self.right),
        })
    }

    fn text(&self, t: &Transferred, elapsed: Duration) -> String {
        let amount = |messages: u64, bytes: u64| {
            if self.messages {
                format!("{messages} messages, {bytes} bytes")
            } else {
                format!("{bytes} bytes")
            }
        };
        let mut out = format!(
            "websocat: {:.3} s; left→right {}; right→left {}",
            elapsed.as_secs_f64(),
            amount(t.forward, t.forward_bytes),
            amount(t.backward, t.backward_bytes)
        );
        for (name, side) in [("left", &self.left), ("right", &self.right)] {
            let Some(side) = side else { continue };
            let sent = side.control.as_ref().and_then(|c| c.close_sent());
            let received = side.peer_close.as_ref().and_then(|p| p.frame());
            out.push_str(&format!(
                "; {name} WebSocket: close sent {}, received {}",
                sent.map_or("none".into(), |f| close_text(f.map(|(c, r)| (Some(c), r)))),
                received.map_or("none".into(), |f| close_text(Some(f))),
            ));
            if let Some(p) = side.control.as_ref().map(|c| c.ping_stats()) {
                if p.count > 0 {
                    out.push_str(&format!(
                        ", ping rtt min/avg/max {:.3}/{:.3}/{:.3} ms ({} pongs)",
                        ms(p.min),
                        ms(p.avg().unwrap_or_default()),
                        ms(p.max),
                        p.count
                    ));
                }
            }
        }
        out
    }
}

/// Milliseconds, to the microsecond.
fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// A Close frame as JSON: `{"code": 1000, "reason": "bye"}`, code `null` for an empty Close.
fn close_json(frame: Option<(Option<u16>, String)>) -> Value {
    match frame {
        Some((code, reason)) => json!({ "code": code, "reason": reason }),
        None => json!({ "code": null, "reason": "" }),
    }
}

/// A Close frame in words: `1000 "bye"`, `1000`, or `empty`.
fn close_text(frame: Option<(Option<u16>, String)>) -> String {
    match frame {
        Some((Some(code), reason)) if reason.is_empty() => code.to_string(),
        Some((Some(code), reason)) => format!("{code} {reason:?}"),
        _ => "empty".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_are_written_with_code_and_reason() {
        assert_eq!(close_text(Some((Some(1000), "bye".into()))), "1000 \"bye\"");
        assert_eq!(close_text(Some((Some(1001), String::new()))), "1001");
        assert_eq!(close_text(Some((None, String::new()))), "empty");
        assert_eq!(close_text(None), "empty");
        assert_eq!(
            close_json(Some((Some(1000), "bye".into()))),
            json!({"code": 1000, "reason": "bye"})
        );
    }
}
