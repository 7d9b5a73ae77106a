//! The registry: one table ([`KINDS`]) describing every specifier kind.
//!
//! The grammar asks it which names exist and which are overlays; the planner reads roles,
//! shapes, argument types, parameters and expansions; `--help=doc`, did-you-mean and the fuzz
//! dictionary list it; the executor calls each entry's build function.

use crate::error::SpecProblem;
use crate::exec::build::BuildCtx;
use crate::exec::{ConnLayer, Connect, ConnectorLayer, Listen};
use crate::kinds;
use crate::plan::PlanNode;
use std::sync::Arc;

/// Where a kind may stand in a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Innermost element that opens connections when asked.
    Leaf,
    /// Innermost element that accepts many incoming connections.
    Listener,
    /// Wraps each connection (handshake, codec, TLS).
    Overlay,
    /// Wraps the connector itself (reuse, reconnect); not usable over a listener.
    ConnectorOverlay,
    /// Sugar that takes either an address or a sub-specifier (`ws-l:`).
    ListenerAlias,
}

/// What a kind produces, in terms of what it wraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// A leaf producing a byte stream.
    Bytes,
    /// A leaf producing messages.
    Messages,
    /// A leaf that takes whichever shape its partner has (`mirror:`).
    Any,
    /// An overlay turning bytes into messages (WebSocket, line codec).
    BytesToMessages,
    /// An overlay turning messages into bytes.
    MessagesToBytes,
    /// An overlay over bytes producing bytes (TLS).
    BytesToBytes,
    /// An overlay that keeps whatever shape it wraps (reuse, log).
    Preserve,
    /// Sugar: the shape comes from its expansion.
    Expands,
}

/// The type of a leaf's argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArgType {
    /// Nothing after the `:`.
    None,
    /// `host:port` or `[v6]:port`.
    HostPort,
    /// A listen address: `host:port`, `[v6]:port` or a bare port.
    ListenAddr,
    /// A filesystem path.
    Path,
    /// Free text, taken verbatim (may be empty).
    Text,
    /// A command line for a shell or program.
    Command,
    /// An unsigned number.
    Number,
    /// The rest of an `http:` URL: `//host[:port]/path`.
    HttpUrl,
}

impl ArgType {
    /// An example argument, for help texts and suggestions.
    pub fn example_argument(self) -> &'static str {
        match self {
            ArgType::None => "",
            ArgType::HostPort => "127.0.0.1:8080",
            ArgType::ListenAddr => "127.0.0.1:8080",
            ArgType::Path => "/tmp/socket",
            ArgType::Text => "text",
            ArgType::Command => "cat",
            ArgType::Number => "3",
            ArgType::HttpUrl => "//127.0.0.1:8080/",
        }
    }

    /// Checks an argument; problems are relative to the argument's first byte.
    pub fn validate(self, arg: &str) -> Result<(), SpecProblem> {
        match self {
            ArgType::None if !arg.is_empty() => Err(SpecProblem::new(
                "websocat::arg::unexpected",
                "this kind takes no argument",
                0,
                arg.len(),
            )
            .label("unexpected argument")),
            ArgType::HostPort => crate::spec::args::parse_host_port(arg).map(|_| ()),
            ArgType::HttpUrl => crate::kinds::http::parse_http_arg(arg).map(|_| ()),
            ArgType::ListenAddr => crate::spec::args::parse_listen_addr(arg).map(|_| ()),
            ArgType::Path | ArgType::Command if arg.is_empty() => {
                Err(
                    SpecProblem::new("websocat::arg::missing", "missing argument", 0, 0).label(
                        if self == ArgType::Path {
                            "expected a path here"
                        } else {
                            "expected a command here"
                        },
                    ),
                )
            }
            ArgType::Number if arg.parse::<u64>().is_err() => Err(SpecProblem::new(
                "websocat::arg::not_a_number",
                format!("`{arg}` is not a number"),
                0,
                arg.len(),
            )
            .label("expected a number")),
            _ => Ok(()),
        }
    }
}

/// The value type of a node parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ParamType {
    /// Any text.
    Text,
    /// Unsigned integer.
    Uint,
    /// `true` or `false`.
    Bool,
    /// Any text; may be given several times.
    Repeated,
}

/// One parameter a kind accepts in brackets, and the CLI flag that fills it by default.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ParamDef {
    /// Parameter name inside brackets.
    pub name: &'static str,
    /// Value type.
    pub ty: ParamType,
    /// The long CLI flag whose value becomes this parameter when it is not written.
    pub flag: Option<&'static str>,
    /// One-line help.
    pub help: &'static str,
}

/// How sugar kinds expand into real ones.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Expansion {
    /// Overlays put in place of the sugar, outermost first.
    pub overlays: &'static [&'static str],
    /// The leaf kind that takes the sugar's address argument (when not a sub-specifier).
    pub leaf: &'static str,
}

/// A build function: makes a `T` from a plan node, or says why it cannot.
pub type BuildFn<T> = fn(&PlanNode, &BuildCtx) -> Result<Arc<T>, String>;

/// How the executor builds a kind from its plan node. Build functions run once per session
/// on a blocking thread before anything connects or listens, so they may read small files
/// (certificates, keys) and fail early with the file's name.
#[derive(Clone, Copy)]
pub enum Build {
    /// A leaf that opens connections.
    Connector(BuildFn<dyn Connect>),
    /// A listening leaf.
    Listener(BuildFn<dyn Listen>),
    /// A per-connection overlay.
    Layer(BuildFn<dyn ConnLayer>),
    /// An overlay over a connector.
    ConnectorLayer(BuildFn<dyn ConnectorLayer>),
    /// Sugar the planner replaces; never built.
    Sugar(Expansion),
}

/// Everything the tool knows about one specifier kind.
pub struct KindDef {
    /// Canonical name, printed by `--dump-spec`.
    pub name: &'static str,
    /// Other accepted names (websocat 1.x aliases).
    pub synonyms: &'static [&'static str],
    /// Where it may stand.
    pub role: Role,
    /// What it produces.
    pub shape: Shape,
    /// Its argument type (leaves only).
    pub arg: ArgType,
    /// Bracket parameters.
    pub params: &'static [ParamDef],
    /// One-line summary.
    pub summary: &'static str,
    /// Longer description for `--help=doc`.
    pub help: &'static str,
    /// Example command lines.
    pub examples: &'static [&'static str],
    /// How to build it.
    pub build: Build,
}

impl KindDef {
    /// The parameter definition named `key`.
    pub fn param(&self, key: &str) -> Option<&'static ParamDef> {
        self.params.iter().find(|p| p.name == key)
    }
}

impl std::fmt::Debug for KindDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for KindDef {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for KindDef {}

/// Every kind the tool knows. Adding a kind = one module under `kinds/` + one line here.
pub static KINDS: &[&KindDef] = &[
    &kinds::stdio::STDIO,
    &kinds::tcp::TCP_CONNECT,
    &kinds::tcp::TCP_LISTEN,
    &kinds::ws_client::WS_CLIENT,
    &kinds::ws_server::WS_UPGRADE,
    &kinds::ws_server::WS_LISTEN,
    &kinds::ws_lowlevel::WS_LL_CLIENT,
    &kinds::ws_lowlevel::WS_LL_SERVER,
    &kinds::random::RANDOM,
    &kinds::tls::TLS_CONNECT,
    &kinds::tls::TLS_ACCEPT,
    &kinds::tls::TLS_LISTEN,
    &kinds::tls::WSS_LISTEN,
    &kinds::codecs::LINES,
    &kinds::codecs::CHUNKS,
    &kinds::mirror::MIRROR,
    &kinds::literal::LITERAL,
    &kinds::literal::LITERAL_REPLY,
    &kinds::literal::CLOGGED,
    &kinds::assert::ASSERT,
    &kinds::broadcast::BROADCAST,
    #[cfg(unix)]
    &kinds::unix::UNIX_CONNECT,
    #[cfg(unix)]
    &kinds::unix::UNIX_LISTEN,
    #[cfg(unix)]
    &kinds::unix::ABSTRACT_CONNECT,
    #[cfg(unix)]
    &kinds::unix::ABSTRACT_LISTEN,
    #[cfg(unix)]
    &kinds::unix::UNIX_DGRAM,
    #[cfg(unix)]
    &kinds::unix::ABSTRACT_DGRAM,
    #[cfg(unix)]
    &kinds::unix::L_WS_UNIX,
    #[cfg(unix)]
    &kinds::unix::L_WS_ABSTRACT,
    #[cfg(target_os = "linux")]
    &kinds::seqpacket::SEQPACKET_CONNECT,
    #[cfg(target_os = "linux")]
    &kinds::seqpacket::SEQPACKET_LISTEN,
    &kinds::udp::UDP_CONNECT,
    &kinds::udp::UDP_LISTEN,
    &kinds::files::READFILE,
    &kinds::files::WRITEFILE,
    &kinds::files::APPENDFILE,
    &kinds::files::OPEN_ASYNC,
    &kinds::files::OPEN_FD,
    &kinds::files::THREADED_STDIO,
    &kinds::files::INETD_WS,
    #[cfg(unix)]
    &kinds::process::EXEC,
    #[cfg(unix)]
    &kinds::process::SH_C,
    &kinds::reuse::REUSE_RAW,
    &kinds::autoreconnect::AUTORECONNECT,
    &kinds::preamble::PREAMBLE,
    &kinds::transforms::MSG2LINE,
    &kinds::transforms::LENGTH_PREFIXED,
    &kinds::transforms::LOG,
    &kinds::transforms::TIMESTAMP,
    &kinds::transforms::EXIT_ON_BYTE,
    &kinds::proxy::SOCKS5_CONNECT,
    &kinds::proxy::SOCKS5_BIND,
    &kinds::proxy::HTTP_CONNECT,
    &kinds::http::HTTP,
    &kinds::http::HTTP_REQUEST,
    &kinds::http_sse::HTTP_POST_SSE,
    &kinds::msgrewrite::JSONRPC,
    &kinds::msgrewrite::TYPE_PREFIX,
    &kinds::compress::COMPRESS,
    &kinds::lazy::WAITFORDATA,
    &kinds::lazy::FOREACHMSG,
];

/// Finds a kind by its canonical name or any synonym (exact match only).
pub fn lookup(name: &str) -> Option<&'static KindDef> {
    KINDS
        .iter()
        .copied()
        .find(|k| k.name == name || k.synonyms.contains(&name))
}

/// Finds a kind by canonical name; for the planner's own insertions.
pub fn kind(name: &str) -> &'static KindDef {
    lookup(name).unwrap_or_else(|| panic!("registry has no kind `{name}` (programming error)"))
}

/// Every accepted name, canonical and synonyms.
pub fn all_names() -> impl Iterator<Item = &'static str> {
    KINDS
        .iter()
        .flat_map(|k| std::iter::once(k.name).chain(k.synonyms.iter().copied()))
}

/// The closest known name to `name` by edit distance, when close enough to be a typo.
pub fn did_you_mean(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if let Some(k) = lookup(&lower) {
        return Some(k.name);
    }
    let mut best: Option<(usize, &'static str)> = None;
    for cand in all_names() {
        let d = edit_distance(&lower, cand);
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, cand));
        }
    }
    let limit = (name.len() / 3).clamp(1, 3);
    best.filter(|(d, _)| *d <= limit).map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_documented() {
        let mut seen = HashSet::new();
        for k in KINDS {
            assert!(!k.summary.is_empty(), "{} has no summary", k.name);
            assert!(!k.help.is_empty(), "{} has no help", k.name);
            assert!(!k.examples.is_empty(), "{} has no example", k.name);
            for n in std::iter::once(k.name).chain(k.synonyms.iter().copied()) {
                assert!(seen.insert(n), "name `{n}` is registered twice");
                assert!(
                    n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                    "name `{n}` is not a valid grammar name"
                );
            }
        }
    }

    #[test]
    fn shapes_fit_roles() {
        for k in KINDS {
            let ok = match k.role {
                Role::Leaf => matches!(k.shape, Shape::Bytes | Shape::Messages | Shape::Any),
                Role::Listener => matches!(k.shape, Shape::Bytes | Shape::Messages),
                Role::Overlay => !matches!(k.shape, Shape::Bytes | Shape::Messages | Shape::Any),
                Role::ConnectorOverlay => k.shape == Shape::Preserve,
                Role::ListenerAlias => k.shape == Shape::Expands,
            };
            assert!(
                ok,
                "{} has role {:?} but shape {:?}",
                k.name, k.role, k.shape
            );
            if let Build::Sugar(e) = k.build {
                assert!(
                    lookup(e.leaf).is_some(),
                    "{} expands to unknown {}",
                    k.name,
                    e.leaf
                );
                for o in e.overlays {
                    assert!(lookup(o).is_some(), "{} expands to unknown {o}", k.name);
                }
            }
        }
    }

    #[test]
    fn typo_suggestions() {
        assert_eq!(did_you_mean("tcpp"), Some("tcp"));
        assert_eq!(did_you_mean("ws-lsten"), Some("ws-listen"));
        assert_eq!(did_you_mean("zzzzzzzz"), None);
    }
}
