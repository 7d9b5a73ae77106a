//! The interactive console: `websocat ws://…` on a terminal gets line editing and history
//! (rustyline), incoming messages printed above the prompt, and slash commands (`/ping`,
//! `/close`, `/binary`, `/text`, `/help`; see [`command`]).
//!
//! It replaces the stdio side of the session by a message connection: a thread runs the line
//! editor and sends typed messages into a bounded channel the copy engine reads; messages for
//! us go through another bounded channel to a thread that prints them with rustyline's
//! external printer (which redraws the line being typed). Pings and the Close status go
//! through the WebSocket connection's [`WsControl`].
//!
//! Pipes and files never get here: the console is used only when stdin and stdout are both
//! terminals, the plan is stdio against a WebSocket client, and `--no-interactive` is not given.

pub mod command;

use crate::exec::conn::MessagePair;
use crate::exec::{Conn, Message};
use crate::plan::ir::Origin;
use crate::plan::Plan;
use crate::registry::{Role, Trait};
use crate::ws::control::{ControlEvent, WsControl};
use command::Command;
use futures::{SinkExt, StreamExt};
use rustyline::ExternalPrinter;
use std::io;
use std::sync::{Arc, Mutex};

/// Messages typed and not yet taken by the copy engine (the editor waits when it is full).
const QUEUE: usize = 16;

/// How the console sends typed lines, as the line codec it replaces would have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// Typed lines end with a newline (`\n`), unless `--linemode-strip-newlines`.
    pub newline: bool,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings { newline: true }
    }
}

/// The console's settings when a plan can run with it: standard input and output under one
/// line codec the planner put there (text mode, newline-separated), against a WebSocket
/// client as the other side's outermost node. The caller checks that both are terminals.
pub fn console_settings(plan: &Plan) -> Option<ConsoleSettings> {
    let [codec, leaf] = plan.left.nodes.as_slice() else {
        return None;
    };
    // The line codec is the one with a `strip` parameter; `-0` sets its `separator`.
    let line_codec = matches!(codec.origin, Origin::Inserted)
        && codec.kind.param("strip").is_some()
        && codec.param("separator").is_none();
    // The WebSocket client is outermost (nothing rewrites its messages) and no connector
    // overlay reconnects under us (the control handle belongs to one connection).
    let ws_right = plan
        .right
        .nodes
        .first()
        .is_some_and(|n| n.kind.has(Trait::WebSocket) && n.kind.role == Role::Overlay)
        && plan
            .right
            .nodes
            .iter()
            .all(|n| n.kind.role != Role::ConnectorOverlay);
    let both_ways = !plan.copy.unidirectional && !plan.copy.unidirectional_reverse;
    (leaf.kind.has(Trait::Stdio) && line_codec && ws_right && both_ways).then(|| ConsoleSettings {
        newline: !codec.param_bool("strip"),
    })
}

/// Where the line history is kept: `websocat/history` in the user's data directory.
fn history_path() -> Option<std::path::PathBuf> {
    Some(dirs::data_dir()?.join("websocat").join("history"))
}

/// The terminal settings from before the line editor started, restored by
/// [`restore_terminal`] (the editor may still be waiting for a line when the session ends).
static SAVED_TERMIOS: Mutex<Option<libc::termios>> = Mutex::new(None);

fn save_terminal() {
    // SAFETY: tcgetattr only writes the struct we pass; fd 0 is checked to be a terminal.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(0, &mut t) == 0 {
            if let Ok(mut saved) = SAVED_TERMIOS.lock() {
                *saved = Some(t);
            }
        }
    }
}

/// Puts the terminal back as it was before the console started (if it did), and ends the
/// prompt line the editor may have left. Called once the session is over.
pub fn restore_terminal() {
    let saved = SAVED_TERMIOS.lock().ok().and_then(|mut s| s.take());
    if let Some(t) = saved {
        // SAFETY: restores settings read by tcgetattr from the same descriptor.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, &t);
        }
        use std::io::Write;
        // Back to the start of the prompt line, cleared; bracketed paste off again.
        let _ = io::stderr().write_all(b"\r\x1b[K\x1b[?2004l");
    }
}

/// Opens the console as the other side of `ws` (the connected WebSocket client).
pub fn open(ws: &Conn, settings: ConsoleSettings) -> io::Result<Conn> {
    let control = match ws {
        Conn::Messages(m) => m.ws_control(),
        Conn::Bytes(_) => None,
    };
    let mut editor = rustyline::DefaultEditor::new()
        .map_err(|e| io::Error::other(format!("starting the line editor: {e}")))?;
    let mut printer = editor
        .create_external_printer()
        .map_err(|e| io::Error::other(format!("starting the line editor: {e}")))?;
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    save_terminal();

    let (typed_tx, typed_rx) = futures::channel::mpsc::channel::<Message>(QUEUE);
    let (shown_tx, mut shown_rx) = futures::channel::mpsc::channel::<String>(QUEUE);

    if let Some(control) = &control {
        let pongs = Mutex::new(shown_tx.clone());
        control.observe(move |event| match event {
            ControlEvent::Pong { payload, rtt } => {
                if let Ok(mut tx) = pongs.lock() {
                    // Pongs come only for pings typed, one per line: the queue has room.
                    let _ = tx.try_send(command::show_pong(&payload, rtt));
                }
            }
        });
    }

    std::thread::Builder::new()
        .name("websocat-console-out".into())
        .spawn(move || {
            futures::executor::block_on(async {
                while let Some(line) = shown_rx.next().await {
                    if printer.print(format!("{line}\n")).is_err() {
                        eprintln!("{line}");
                    }
                }
            })
        })?;

    let editor_shown = shown_tx.clone();
    std::thread::Builder::new()
        .name("websocat-console-in".into())
        .spawn(move || {
            let lines = Lines {
                history,
                typed: typed_tx,
                shown: editor_shown,
                control,
                settings,
            };
            lines.edit(editor)
        })?;

    let sink = shown_tx
        .sink_map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the console has ended"))
        .with(|m: Message| futures::future::ready(Ok::<_, io::Error>(command::show_incoming(&m))));
    Ok(Conn::Messages(Box::new(MessagePair {
        stream: typed_rx.map(Ok),
        sink: Box::pin(sink) as crate::exec::conn::BoxMessageSink,
    })))
}

/// What the editor thread works with.
struct Lines {
    history: Option<std::path::PathBuf>,
    typed: futures::channel::mpsc::Sender<Message>,
    shown: futures::channel::mpsc::Sender<String>,
    control: Option<Arc<WsControl>>,
    settings: ConsoleSettings,
}

impl Lines {
    /// The editor thread: reads lines until Ctrl-D, Ctrl-C or `/close`, then ends the stream of
    /// typed messages (the copy engine then sends our Close).
    fn edit(self, mut editor: rustyline::DefaultEditor) {
        let Lines {
            history,
            mut typed,
            mut shown,
            control,
            settings,
        } = self;
        let mut say = |text: String| {
            let _ = futures::executor::block_on(shown.send(text));
        };
        loop {
            let line = match editor.readline("> ") {
                Ok(line) => line,
                Err(rustyline::error::ReadlineError::Eof)
                | Err(rustyline::error::ReadlineError::Interrupted) => break,
                Err(e) => {
                    say(format!("websocat: reading the terminal: {e}"));
                    break;
                }
            };
            if !line.is_empty() {
                let _ = editor.add_history_entry(line.as_str());
                // Saved at once: the session may end while the editor waits for the next line.
                save_history(&mut editor, history.as_deref());
            }
            match command::parse(&line) {
                Ok(Command::Send(m)) => {
                    let m = match m {
                        Message::Text(t) if settings.newline => {
                            let mut line = bytes::BytesMut::from(&t[..]);
                            line.extend_from_slice(b"\n");
                            Message::Text(line.freeze())
                        }
                        other => other,
                    };
                    if futures::executor::block_on(typed.send(m)).is_err() {
                        break;
                    }
                }
                Ok(Command::Ping(payload)) => match &control {
                    Some(c) => {
                        if let Err(e) = c.ping(payload) {
                            say(format!("websocat: {e}"));
                        }
                    }
                    None => say("websocat: this connection cannot send pings".into()),
                },
                Ok(Command::Close(status)) => {
                    if let (Some((code, reason)), Some(c)) = (status, &control) {
                        if let Err(e) = c.set_close(code, reason) {
                            say(format!("websocat: {e}"));
                            continue;
                        }
                    }
                    break;
                }
                Ok(Command::Help) => say(command::HELP.into()),
                Err(e) => say(format!("websocat: {e}")),
            }
        }
        // Dropping `typed` ends the stream: the copy engine sends our Close.
    }
}

fn save_history(editor: &mut rustyline::DefaultEditor, path: Option<&std::path::Path>) {
    let Some(path) = path else {
        return;
    };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = editor.save_history(path) {
        tracing::debug!("saving the history to {}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(args: &[&str]) -> Option<ConsoleSettings> {
        let plan = crate::plan_from_args(args.iter().copied()).expect("plans");
        console_settings(&plan)
    }

    #[test]
    fn a_websocket_client_with_stdio_gets_the_console() {
        let on = Some(ConsoleSettings { newline: true });
        assert_eq!(settings(&["ws://127.0.0.1:1/"]), on);
        assert_eq!(settings(&["-", "ws://127.0.0.1:1/"]), on);
        assert_eq!(settings(&["-t", "wss://127.0.0.1:1/x"]), on);
        assert_eq!(
            settings(&["--linemode-strip-newlines", "ws://127.0.0.1:1/"]),
            Some(ConsoleSettings { newline: false })
        );
    }

    #[test]
    fn other_modes_and_chains_keep_plain_stdio() {
        for args in [
            &["-b", "ws://127.0.0.1:1/"][..],
            &["-0", "ws://127.0.0.1:1/"],
            &["-u", "ws://127.0.0.1:1/"],
            &["-U", "ws://127.0.0.1:1/"],
            &["-", "autoreconnect:ws://127.0.0.1:1/"],
            &["-", "tcp:127.0.0.1:1"],
            &["ws-l:127.0.0.1:1", "-"],
            &["-s", "8080"],
            &["ws://127.0.0.1:1/", "ws://127.0.0.1:2/"],
        ] {
            assert_eq!(settings(args), None, "{args:?}");
        }
    }
}
