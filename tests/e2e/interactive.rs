//! The interactive console of `websocat ws://…`, driven in a real pseudo-terminal (tmux)
//! against the raw server peer: lines typed are sent, incoming messages appear above the
//! prompt without breaking the line being typed, slash commands, history.

use crate::support::external::{available, find_program};
use crate::support::ws::{OP_BINARY, OP_PING, OP_PONG, OP_TEXT};
use crate::support::{poll, RawServer, TIMEOUT};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmux server of its own (own socket), running one session; killed on drop.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// Starts `command` (a shell command line) in a 100x30 terminal.
    fn start(dir: &Path, command: &str) -> Tmux {
        let tmux = Tmux {
            socket: dir.join("tmux.sock"),
        };
        tmux.run(&[
            "new-session",
            "-d",
            "-x",
            "100",
            "-y",
            "30",
            "-s",
            "t",
            command,
        ]);
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["-f", "/dev/null"])
            .args(args)
            .output()
            .expect("running tmux");
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types text literally.
    fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "t", "-l", text]);
    }

    /// Presses a key by its tmux name (`Enter`, `Up`).
    fn key(&self, key: &str) {
        self.run(&["send-keys", "-t", "t", key]);
    }

    /// The screen, one string per line, trailing spaces trimmed.
    fn screen(&self) -> Vec<String> {
        self.run(&["capture-pane", "-p", "-t", "t"])
            .lines()
            .map(|l| l.trim_end().to_string())
            .collect()
    }

    /// Waits until the editor shows an empty prompt on the last line: ready for typing (keys
    /// typed while it starts a line may be taken for its terminal query's answer).
    fn wait_prompt(&self) {
        self.wait_screen("an empty prompt", |s| {
            s.iter()
                .rev()
                .find(|l| !l.is_empty())
                .is_some_and(|l| l == ">")
        });
    }

    /// Waits until `pred` holds for the screen; returns it.
    fn wait_screen(&self, what: &str, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
        let found = poll(TIMEOUT, || {
            let s = self.screen();
            pred(&s).then_some(s)
        });
        found.unwrap_or_else(|| panic!("waiting for {what}; screen:\n{}", self.screen().join("\n")))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

fn has_line(screen: &[String], line: &str) -> bool {
    screen.iter().any(|l| l == line)
}

fn position(screen: &[String], pred: impl Fn(&str) -> bool) -> Option<usize> {
    screen.iter().position(|l| pred(l))
}

/// The shell command that runs our binary with `args`, its history under `data`, then shows
/// its exit status and stays (so the screen can still be read).
fn console_command(data: &Path, args: &str) -> String {
    format!(
        "env XDG_DATA_HOME={} {} {args}; echo EXIT=$?; sleep 60",
        data.display(),
        env!("CARGO_BIN_EXE_websocat")
    )
}

#[test]
fn console_sends_lines_shows_messages_pings_and_closes_with_the_code_given() {
    if !available("tmux", find_program("tmux").is_some()) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let server = RawServer::bind();
    let tmux = Tmux::start(
        dir.path(),
        &console_command(dir.path(), &server.url("/chat")),
    );
    let (mut ws, _head) = server.accept_ws(&[]);
    tmux.wait_prompt();

    // A typed line is one text message, with its newline as without the console.
    tmux.type_text("hello");
    tmux.key("Enter");
    let f = ws.recv();
    assert_eq!((f.opcode, f.text()), (OP_TEXT, "hello\n".to_string()));

    // An incoming message appears above the prompt; the half-typed line stays as it was.
    tmux.wait_prompt();
    tmux.type_text("half typed");
    tmux.wait_screen("the half-typed line", |s| has_line(s, "> half typed"));
    ws.send_text("from the server");
    let s = tmux.wait_screen("the incoming message", |s| {
        has_line(s, "< from the server") && has_line(s, "> half typed")
    });
    let msg = position(&s, |l| l == "< from the server");
    let prompt = position(&s, |l| l == "> half typed");
    assert!(
        msg < prompt,
        "message not above the prompt:\n{}",
        s.join("\n")
    );
    tmux.key("Enter");
    let f = ws.recv();
    assert_eq!((f.opcode, f.text()), (OP_TEXT, "half typed\n".to_string()));

    // Up recalls the previous line.
    tmux.wait_prompt();
    tmux.key("Up");
    tmux.wait_screen("the recalled line", |s| {
        s.iter().filter(|l| *l == "> half typed").count() == 2
    });
    tmux.key("Enter");
    let f = ws.recv();
    assert_eq!((f.opcode, f.text()), (OP_TEXT, "half typed\n".to_string()));

    // Binary both ways, shown unlike text.
    tmux.wait_prompt();
    tmux.type_text("/binary 01 ff 0a");
    tmux.key("Enter");
    let f = ws.recv();
    assert_eq!((f.opcode, f.payload), (OP_BINARY, vec![1, 0xff, 0x0a]));
    ws.send_binary(b"hi");
    tmux.wait_screen("the binary message", |s| {
        has_line(s, "< [binary, 2 bytes] 68 69")
    });

    // /text sends a line that starts with a slash.
    tmux.wait_prompt();
    tmux.type_text("/text /not a command");
    tmux.key("Enter");
    let f = ws.recv();
    assert_eq!(
        (f.opcode, f.text()),
        (OP_TEXT, "/not a command\n".to_string())
    );

    // /ping: the server sees the ping, and its pong is shown with the round-trip time.
    tmux.wait_prompt();
    tmux.type_text("/ping abc");
    tmux.key("Enter");
    let f = ws.recv();
    assert_eq!((f.opcode, f.payload.as_slice()), (OP_PING, &b"abc"[..]));
    ws.send(OP_PONG, b"abc");
    let s = tmux.wait_screen("the pong", |s| {
        s.iter()
            .any(|l| l.starts_with("< pong \"abc\", rtt ") && l.ends_with(" ms"))
    });
    assert!(has_line(&s, ">"), "no fresh prompt:\n{}", s.join("\n"));

    // /close 1000 bye: the server gets a Close with that status; the session ends cleanly.
    tmux.wait_prompt();
    tmux.type_text("/close 1000 bye");
    tmux.key("Enter");
    let (before, close) = ws.recv_until_close();
    assert!(before.is_empty(), "frames before the Close: {before:?}");
    assert_eq!(close.close_code(), Some((1000, "bye".to_string())));
    ws.send_close(Some((1000, "bye")));
    tmux.wait_screen("the exit status", |s| has_line(s, "EXIT=0"));

    // The history was kept in the user's data directory.
    let history = std::fs::read_to_string(dir.path().join("websocat").join("history"))
        .expect("reading the history file");
    assert!(history.contains("hello\n"), "{history:?}");
    assert!(history.contains("/close 1000 bye"), "{history:?}");
}

#[test]
fn console_shows_a_close_from_the_server_and_restores_the_terminal() {
    if !available("tmux", find_program("tmux").is_some()) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let server = RawServer::bind();
    let tmux = Tmux::start(
        dir.path(),
        &format!(
            "env XDG_DATA_HOME={} {} {}; stty -a | grep -o -- ' -\\?icanon' > {}; sleep 60",
            dir.path().display(),
            env!("CARGO_BIN_EXE_websocat"),
            server.url("/"),
            dir.path().join("stty").display()
        ),
    );
    let (mut ws, _head) = server.accept_ws(&[]);
    tmux.wait_prompt();
    ws.send_close(Some((1000, "done")));
    let (_, close) = ws.recv_until_close();
    assert_eq!(close.close_code().map(|c| c.0), Some(1000));
    tmux.wait_screen("the closed status line", |s| {
        has_line(s, "websocat: closed: 1000 done")
    });
    let stty = poll(TIMEOUT, || {
        std::fs::read_to_string(dir.path().join("stty"))
            .ok()
            .filter(|s| !s.is_empty())
    })
    .expect("stty output");
    // Canonical mode is back on: the line editor's raw mode did not outlive the session.
    assert_eq!(stty.trim(), "icanon");
}

#[test]
fn history_is_kept_for_the_next_session() {
    if !available("tmux", find_program("tmux").is_some()) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for round in 0..2 {
        let server = RawServer::bind();
        // A tmux server (socket) per round: the last one may still be exiting.
        let round_dir = dir.path().join(format!("round{round}"));
        std::fs::create_dir(&round_dir).expect("round dir");
        let tmux = Tmux::start(&round_dir, &console_command(dir.path(), &server.url("/")));
        let (mut ws, _head) = server.accept_ws(&[]);
        tmux.wait_prompt();
        if round == 0 {
            tmux.type_text("remember me");
        } else {
            // The line typed in the first session comes back with Up.
            tmux.key("Up");
            tmux.wait_screen("the recalled line", |s| has_line(s, "> remember me"));
        }
        tmux.key("Enter");
        let f = ws.recv();
        assert_eq!((f.opcode, f.text()), (OP_TEXT, "remember me\n".to_string()));
        tmux.wait_prompt();
        tmux.key("C-d");
        let (_, close) = ws.recv_until_close();
        assert_eq!(close.payload, b"", "Ctrl-D sends the default Close");
        ws.send_close(None);
        tmux.wait_screen("the exit status", |s| has_line(s, "EXIT=0"));
    }
}

/// Runs `[env] websocat before_url URL after_url` in a terminal and checks that it behaves as
/// plain stdio: a line starting with `/` is sent as it is, a message prints as a bare line, and
/// no history is written.
fn expect_plain_stdio(env: &str, before_url: &str, after_url: &str) {
    if !available("tmux", find_program("tmux").is_some()) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let server = RawServer::bind();
    let tmux = Tmux::start(
        dir.path(),
        &format!(
            "{env} {}",
            console_command(
                dir.path(),
                &format!("{before_url} {} {after_url}", server.url("/")),
            )
        ),
    );
    let (mut ws, _head) = server.accept_ws(&[]);
    tmux.type_text("/ping x");
    tmux.key("Enter");
    let f = ws.recv();
    // Sent as it is: no slash commands without the console.
    assert_eq!((f.opcode, f.text()), (OP_TEXT, "/ping x\n".to_string()));
    ws.send_text("plain");
    let s = tmux.wait_screen("the message", |s| has_line(s, "plain"));
    assert!(!s.iter().any(|l| l.starts_with("< ")), "{}", s.join("\n"));
    assert!(
        !dir.path().join("websocat").exists(),
        "no history without the console"
    );
}

#[test]
fn no_interactive_keeps_plain_lines_on_a_terminal() {
    expect_plain_stdio("", "--no-interactive", "");
}

#[test]
fn stdout_into_a_pipe_keeps_plain_lines() {
    expect_plain_stdio("", "", "| cat");
}

#[test]
fn a_terminal_the_editor_cannot_drive_keeps_plain_lines() {
    expect_plain_stdio("TERM=dumb", "", "");
}

#[test]
fn binary_mode_keeps_plain_stdio() {
    if !available("tmux", find_program("tmux").is_some()) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let server = RawServer::bind();
    let tmux = Tmux::start(
        dir.path(),
        &console_command(dir.path(), &format!("-b {}", server.url("/"))),
    );
    // Binary mode: what is typed goes out as it is, in binary messages.
    let (mut ws, _head) = server.accept_ws(&[]);
    tmux.type_text("/ping x");
    tmux.key("Enter");
    let f = ws.recv();
    assert_eq!((f.opcode, f.payload), (OP_BINARY, b"/ping x\n".to_vec()));
}
