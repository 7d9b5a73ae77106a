//! The plan: resolved chains of kinds with their parameters, and the session options.

use crate::cli::Cli;
use crate::error::Side;
pub use crate::registry::{Origin, PlanNode};
use crate::spec::Span;
use std::collections::BTreeMap;

/// The kind a bare `-` stands for, and that a chain prints back as `-`.
pub const DASH_KIND: &str = "stdio";

/// One side's chain: overlays outermost first, the leaf last.
#[derive(Debug, Clone)]
pub struct Chain {
    /// Which side it is.
    pub side: Side,
    /// The specifier text as written (for diagnostics).
    pub source: String,
    /// The nodes; never empty once planned.
    pub nodes: Vec<PlanNode>,
}

impl PartialEq for Chain {
    fn eq(&self, other: &Self) -> bool {
        self.side == other.side && self.nodes == other.nodes
    }
}

impl Chain {
    /// The innermost node.
    pub fn leaf(&self) -> &PlanNode {
        &self.nodes[self.nodes.len() - 1]
    }

    /// The user's span of `node` (one of this chain's nodes), or the whole specifier for an
    /// inserted node; for diagnostics.
    pub fn span_of(&self, node: &PlanNode) -> Span {
        node.origin
            .span()
            .unwrap_or(Span::new(0, self.source.len()))
    }

    /// True when the leaf listens for many connections.
    pub fn is_listener(&self) -> bool {
        self.nodes.last().is_some_and(PlanNode::is_listener)
    }

    /// The canonical specifier string of this chain.
    pub fn to_spec_string(&self) -> String {
        let mut out = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let is_leaf = i + 1 == self.nodes.len();
            if is_leaf && n.kind.name == DASH_KIND && n.params.is_empty() {
                out.push('-');
            } else {
                out.push_str(&n.display_element());
                out.push(':');
                if is_leaf {
                    out.push_str(&n.arg);
                }
            }
        }
        out
    }
}

/// Text or binary mode (`-t` / `-b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DataMode {
    /// Lines become text messages (the default).
    #[default]
    Text,
    /// Chunks become binary messages.
    Binary,
}

/// Options of the copy engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyOptions {
    /// `-u`: copy only left to right.
    pub unidirectional: bool,
    /// `-U`: copy only right to left.
    pub unidirectional_reverse: bool,
    /// `-E`: end the session when either direction ends.
    pub exit_on_eof: bool,
    /// `-n`: do not half-close (no WebSocket Close) on EOF.
    pub no_close: bool,
    /// `--max-messages`: stop left→right after this many messages.
    pub max_messages: Option<u64>,
    /// `--max-messages-rev`: stop right→left after this many messages.
    pub max_messages_rev: Option<u64>,
    /// `-B`: buffer size for byte copies.
    pub buffer_size: Option<usize>,
    /// The direction `-u`/`-U` switches off still reads its source and discards what it reads
    /// (set by the planner for an echo such as `mirror:`, which would otherwise stall once its
    /// unread answers fill its queue). Not an option: the planner derives it again.
    pub discard_unread: bool,
    /// For the left and the right side: whether what that side sends may still come in reply
    /// to our half-close of it (a socket's peer, a process, `mirror:`), so that after the other
    /// side's WebSocket Close its direction keeps going until it ends or has been silent for
    /// [`CLOSE_LINGER`](crate::exec::copy::CLOSE_LINGER). False for stdio, whose input does not
    /// answer its output: the Close is then answered at once. Not a command-line option: the
    /// executor derives it from the leaves' [`Trait::Stdio`](crate::registry::Trait::Stdio).
    pub source_may_answer: [bool; 2],
}

/// Options of the accept loop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServeOptions {
    /// `--oneshot` / `-1`: serve one connection, then exit.
    pub oneshot: bool,
    /// `--conncap`: at most this many simultaneous connections.
    pub conncap: Option<usize>,
    /// `--stdout-announce-listening-ports`.
    pub announce: bool,
    /// `-s`: print `Listening on ws://…/` to stderr once bound.
    pub server_banner: bool,
    /// Print `connected`/`closed` status lines on stderr (stdin and stderr are terminals).
    pub interactive: bool,
    /// Run the interactive console instead of the stdio side (set by the caller, who knows
    /// whether stdin and stdout are terminals; see [`crate::interactive::console_settings`]).
    pub console: Option<crate::interactive::ConsoleSettings>,
    /// `--metrics`: serve Prometheus metrics on this address (servers only).
    pub metrics: Option<String>,
    /// `--summary`: print a summary line when a single session ends.
    pub summary: Option<crate::summary::SummaryFormat>,
    /// `-s` serving over TLS: the banner says `wss://`.
    pub server_banner_tls: bool,
}

/// How the plan holds one [`SessionOption`], for writing it back as an argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// At its default: not written.
    Absent,
    /// A switch that is on: written as `-s` (its short name) or `--long`.
    Switch,
    /// A value: written as `--long=VALUE`.
    Value(String),
}

/// One option of the copy engine or the accept loop, defined once: its name on the command
/// line, how the parsed command line sets it, and how `--dump-spec` writes it back.
pub struct SessionOption {
    /// Long name of its clap option, without `--`.
    pub long: &'static str,
    /// Its clap short name; `--dump-spec` writes a switch that has one by it.
    pub short: Option<char>,
    /// Sets it from the parsed command line (applied in table order).
    pub apply: fn(&Cli, &mut CopyOptions, &mut ServeOptions),
    /// What the plan holds, for `--dump-spec` and plan equality.
    pub written: fn(&CopyOptions, &ServeOptions) -> Written,
}

fn switch(on: bool) -> Written {
    if on {
        Written::Switch
    } else {
        Written::Absent
    }
}

fn value<T: ToString>(v: Option<T>) -> Written {
    v.map_or(Written::Absent, |v| Written::Value(v.to_string()))
}

/// The copy and accept loop options, in the order `--dump-spec` writes them. Adding one: a
/// clap field, a field of [`CopyOptions`] or [`ServeOptions`], one entry here.
pub const SESSION_OPTIONS: &[SessionOption] = &[
    SessionOption {
        long: "unidirectional",
        short: Some('u'),
        apply: |cli, c, _| c.unidirectional = cli.unidirectional,
        written: |c, _| switch(c.unidirectional),
    },
    SessionOption {
        long: "unidirectional-reverse",
        short: Some('U'),
        apply: |cli, c, _| c.unidirectional_reverse = cli.unidirectional_reverse,
        written: |c, _| switch(c.unidirectional_reverse),
    },
    SessionOption {
        long: "exit-on-eof",
        short: Some('E'),
        apply: |cli, c, _| c.exit_on_eof = cli.exit_on_eof,
        written: |c, _| switch(c.exit_on_eof),
    },
    SessionOption {
        long: "no-close",
        short: Some('n'),
        apply: |cli, c, _| c.no_close = cli.no_close,
        written: |c, _| switch(c.no_close),
    },
    SessionOption {
        long: "max-messages",
        short: None,
        apply: |cli, c, _| c.max_messages = cli.max_messages,
        written: |c, _| value(c.max_messages),
    },
    SessionOption {
        long: "max-messages-rev",
        short: None,
        apply: |cli, c, _| c.max_messages_rev = cli.max_messages_rev,
        written: |c, _| value(c.max_messages_rev),
    },
    SessionOption {
        long: "one-message",
        short: Some('1'),
        // After the two above: an explicit count wins. Written back as those two.
        apply: |cli, c, _| {
            if cli.one_message {
                c.max_messages.get_or_insert(1);
                c.max_messages_rev.get_or_insert(1);
            }
        },
        written: |_, _| Written::Absent,
    },
    SessionOption {
        long: "buffer-size",
        short: Some('B'),
        apply: |cli, c, _| c.buffer_size = cli.buffer_size,
        written: |c, _| value(c.buffer_size),
    },
    SessionOption {
        long: "oneshot",
        short: None,
        apply: |cli, _, s| s.oneshot = cli.oneshot,
        written: |_, s| switch(s.oneshot),
    },
    SessionOption {
        long: "conncap",
        short: None,
        apply: |cli, _, s| s.conncap = cli.conncap,
        written: |_, s| value(s.conncap),
    },
    SessionOption {
        long: "stdout-announce-listening-ports",
        short: None,
        apply: |cli, _, s| s.announce = cli.announce,
        written: |_, s| switch(s.announce),
    },
    SessionOption {
        long: "metrics",
        short: None,
        apply: |cli, _, s| s.metrics = cli.metrics.clone(),
        written: |_, s| value(s.metrics.as_ref()),
    },
    SessionOption {
        long: "summary",
        short: None,
        apply: |cli, _, s| s.summary = cli.summary,
        written: |_, s| value(s.summary),
    },
    SessionOption {
        long: "server-mode",
        short: Some('s'),
        // The banner only decorates stderr; what `-s` means for the plan is in the chains.
        apply: |cli, _, s| s.server_banner = cli.server_mode,
        written: |_, _| Written::Absent,
    },
];

/// The session options that differ from the defaults, as command-line arguments.
pub fn session_args(copy: &CopyOptions, serve: &ServeOptions) -> Vec<String> {
    SESSION_OPTIONS
        .iter()
        .filter_map(|o| match (o.written)(copy, serve) {
            Written::Absent => None,
            Written::Switch => Some(match o.short {
                Some(c) => format!("-{c}"),
                None => format!("--{}", o.long),
            }),
            Written::Value(v) => Some(format!("--{}={v}", o.long)),
        })
        .collect()
}

/// Everything the planner needs besides the two specifier strings.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `-t` / `-b`; `None` = default (text).
    pub mode: Option<DataMode>,
    /// `--no-line`: chunks instead of lines even in text mode.
    pub no_line: bool,
    /// `-0`: lines end with NUL instead of newline.
    pub null_terminated: bool,
    /// `--linemode-strip-newlines`.
    pub strip_newlines: bool,
    /// `-s`: the single argument is a port or address to serve on.
    pub server_mode: bool,
    /// `--no-fixups`: skip automatic changes (cat mode, broadcast, codecs).
    pub no_fixups: bool,
    /// Values of CLI flags that fill node parameters, by the registry's `ParamDef::flag`
    /// (e.g. `--protocol`).
    pub flags: BTreeMap<&'static str, Vec<String>>,
    /// The node flags given that mean nothing besides filling node parameters: each is
    /// warned about when no node of the plan takes it.
    pub flags_warned_if_unused: Vec<&'static str>,
    /// `--exec-args` was given (it swallows every argument after it, specifiers included).
    pub exec_args_given: bool,
    /// A TLS server identity was given (`--pkcs12-der` or `--tls-cert`).
    pub tls_server_identity_given: bool,
    /// `--tls-domain`: the name a TLS client checks.
    pub tls_domain: Option<String>,
    /// `--text-prefix`, `--binary-prefix`, `--base64` or `--base64-text` was given.
    pub type_prefix_given: bool,
    /// A `--compress-*` or `--uncompress-*` flag was given.
    pub compression_given: bool,
    /// `--jsonrpc`: put `jsonrpc:` over the stdio side.
    pub jsonrpc: bool,
    /// `-p`: texts sent first on every new right-side connection.
    pub preamble: Vec<String>,
    /// `-P`: texts sent first on every new left-side connection.
    pub preamble_reverse: Vec<String>,
    /// `--socks5`: route a `ws://`/`wss://` URL through this SOCKS5 proxy.
    pub socks5: Option<String>,
    /// `--proxy`: route `ws://`/`wss://` URLs through this proxy URL.
    pub proxy: Option<String>,
    /// Proxy environment variables, read by the caller (the planner does no I/O).
    pub proxy_env: super::proxy_env::ProxyEnv,
    /// Copy engine options (passed through).
    pub copy: CopyOptions,
    /// Accept loop options (passed through).
    pub serve: ServeOptions,
}

/// One automatic change made by a planner pass.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fixup {
    /// Name of the pass that made it.
    pub pass: &'static str,
    /// What changed, in words.
    pub message: String,
}

/// The resolved, checked plan the executor runs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The first specifier (accepts or opens the first connection).
    pub left: Chain,
    /// The second specifier (opened once per left connection).
    pub right: Chain,
    /// Copy options.
    pub copy: CopyOptions,
    /// Accept loop options.
    pub serve: ServeOptions,
    /// Automatic changes, in order.
    pub fixups: Vec<Fixup>,
    /// Warnings from checks.
    pub warnings: Vec<String>,
}

impl PartialEq for Plan {
    fn eq(&self, other: &Self) -> bool {
        // The session options mean what the canonical command line writes of them (the `-s`
        // banner and the interactive status lines only decorate stderr).
        self.left == other.left
            && self.right == other.right
            && session_args(&self.copy, &self.serve) == session_args(&other.copy, &other.serve)
    }
}
