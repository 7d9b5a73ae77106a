//! The registry's types: [`KindDef`] and what it is made of, describing one specifier kind.
//!
//! The table of every kind, and the look-ups by name, live with the kinds
//! ([`crate::kinds::KINDS`]), so that this module depends on no kind. The grammar asks the
//! table which names exist and which are overlays; the planner reads roles, shapes, traits,
//! argument types, parameters and expansions; `--help=doc`, did-you-mean and the fuzz
//! dictionary list it; the executor calls each entry's build function.

use crate::error::{Side, SpecProblem};
use crate::exec::conn::{ConnLayer, Connect, ConnectorLayer, Listen};
use crate::spec::Span;
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

/// The parameter through which the planner tells a kind the shape it cannot know by itself:
/// a [`Shape::Any`] leaf (`mirror:`) or a [`Trait::ShapeFromInner`] overlay (`waitfordata:`).
pub const SHAPE_PARAM: &str = "shape";

/// A property of a kind that planner passes and checks ask about, so that a new kind gets
/// their behaviour by declaring it in its own [`KindDef`] rather than by name in the planner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trait {
    /// The process's standard input and output: there is one, so only `- -` (cat mode) may
    /// use it on both sides, and `--jsonrpc` goes over it.
    Stdio,
    /// Exists once per process, so behind a listener serving many clients it is shared, in the
    /// way given (unless `--oneshot` or a connector overlay is written over it).
    SharedBehindListener(Sharing),
    /// Shares one inner connection among many users (`broadcast:`, `reuse-raw:`).
    SharesInner,
    /// Makes a new inner connection when one fails; usually meant under a
    /// [`Trait::SharesInner`] overlay, not over it.
    Reconnects,
    /// A WebSocket endpoint made by a handshake: the message options (`--text-prefix`,
    /// `--binary-prefix`, `--base64`) apply over it. The low-level framers, meant for
    /// hand-built chains, do not have it.
    WebSocket,
    /// Hands out a connection before any inner one exists, so the planner tells it the shape
    /// of what is under it through [`SHAPE_PARAM`].
    ShapeFromInner,
    /// Holds a TLS identity in the parameters `pkcs12`, `cert` and `key` (whose flags name it in
    /// messages); `required` when it cannot work without one; `what` says what it identifies.
    TlsIdentity {
        /// The kind cannot work without an identity.
        required: bool,
        /// What the identity is, for messages (`a TLS server`).
        what: &'static str,
    },
    /// A TLS client that checks the server's name against its `domain` parameter (and skips
    /// the check with `insecure`).
    ChecksServerName,
    /// Runs the program named by its argument, with arguments from its `args` parameter
    /// (`--exec-args`, which cannot say which of two such nodes it is for).
    ProgramWithArgs,
}

/// How a kind that exists once is shared behind a listener ([`Trait::SharedBehindListener`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Every client reads what it produces and writes into it (`broadcast:`, outermost).
    Broadcast,
    /// Opened once and used by every client in turn (`reuse-raw:`, innermost), so that a new
    /// client does not, e.g., truncate a file again.
    OpenOnce,
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
            ArgType::HttpUrl => crate::spec::args::parse_http_arg(arg).map(|_| ()),
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
    /// A WebSocket Close status code that may be sent (RFC 6455 section 7.4); checked by the
    /// planner, read as [`ParamType::Uint`].
    CloseCode,
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

/// The number of parameters in `lists` together: the length of [`concat_params`]'s result.
pub const fn params_len(lists: &[&[ParamDef]]) -> usize {
    let mut total = 0;
    let mut i = 0;
    while i < lists.len() {
        total += lists[i].len();
        i += 1;
    }
    total
}

/// Joins parameter lists, in order, at compile time: for a kind whose parameters are its own
/// plus a shared set (such as the WebSocket ones), without copying entries by index:
/// `const PARAMS: [ParamDef; params_len(LISTS)] = concat_params(LISTS);`
pub const fn concat_params<const N: usize>(lists: &[&[ParamDef]]) -> [ParamDef; N] {
    assert!(
        params_len(lists) == N,
        "concat_params: the result length must be params_len of the lists"
    );
    let filler = ParamDef {
        name: "",
        ty: ParamType::Text,
        flag: None,
        help: "",
    };
    let mut out = [filler; N];
    let mut at = 0;
    let mut i = 0;
    while i < lists.len() {
        let mut j = 0;
        while j < lists[i].len() {
            out[at] = lists[i][j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    out
}

/// How sugar kinds expand into real ones.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Expansion {
    /// Overlays put in place of the sugar, outermost first.
    pub overlays: &'static [&'static str],
    /// The leaf kind that takes the sugar's address argument (when not a sub-specifier).
    pub leaf: &'static str,
}

/// What a kind's build function may know besides its own node.
#[derive(Debug, Clone)]
pub struct BuildCtx {
    /// Which side is being built.
    pub side: Side,
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
    /// The properties planner passes and checks ask about.
    pub traits: &'static [Trait],
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

    /// True when the kind declares `t` (for traits without data).
    pub fn has(&self, t: Trait) -> bool {
        self.traits.contains(&t)
    }

    /// How the kind is shared behind a listener, if it exists once.
    pub fn sharing(&self) -> Option<Sharing> {
        self.traits.iter().find_map(|t| match t {
            Trait::SharedBehindListener(s) => Some(*s),
            _ => None,
        })
    }

    /// The kind's TLS identity: (required, what it identifies).
    pub fn tls_identity(&self) -> Option<(bool, &'static str)> {
        self.traits.iter().find_map(|t| match t {
            Trait::TlsIdentity { required, what } => Some((*required, *what)),
            _ => None,
        })
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

/// Where a plan node came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Written by the user at this span.
    Written(Span),
    /// Produced by expanding sugar written at this span.
    Expanded(Span),
    /// Inserted by a planner pass.
    Inserted,
}

impl Origin {
    /// The user's span this node relates to, if any.
    pub fn span(self) -> Option<Span> {
        match self {
            Origin::Written(s) | Origin::Expanded(s) => Some(s),
            Origin::Inserted => None,
        }
    }
}

/// One resolved element of a chain.
#[derive(Debug, Clone)]
pub struct PlanNode {
    /// The kind, synonyms resolved.
    pub kind: &'static KindDef,
    /// Parameters in the order written or filled.
    pub params: Vec<(String, String)>,
    /// The leaf argument (empty for overlays).
    pub arg: String,
    /// Where it came from.
    pub origin: Origin,
}

impl PartialEq for PlanNode {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.params == other.params && self.arg == other.arg
    }
}

impl PlanNode {
    /// A node of `kind` with no parameters.
    pub fn new(kind: &'static KindDef, arg: impl Into<String>, origin: Origin) -> Self {
        PlanNode {
            kind,
            params: Vec::new(),
            arg: arg.into(),
            origin,
        }
    }

    /// Adds a parameter.
    pub fn with_param(mut self, key: &str, value: impl Into<String>) -> Self {
        self.params.push((key.to_string(), value.into()));
        self
    }

    /// The first value of parameter `key`.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// All values of a repeatable parameter.
    pub fn params_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.params
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Parameter `key` as a number (validated by the planner).
    pub fn param_u64(&self, key: &str) -> Option<u64> {
        self.param(key).and_then(|v| v.parse().ok())
    }

    /// Parameter `key` as a boolean (validated by the planner); absent means false.
    pub fn param_bool(&self, key: &str) -> bool {
        self.param(key) == Some("true")
    }

    /// True when this node is a listening leaf.
    pub fn is_listener(&self) -> bool {
        self.kind.role == Role::Listener
    }

    /// The node written as a specifier element: `name[params]` (plus `:arg` for leaves).
    pub fn display_element(&self) -> String {
        let mut s = String::from(self.kind.name);
        if !self.params.is_empty() {
            s.push('[');
            for (i, (k, v)) in self.params.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str(k);
                s.push('=');
                s.push_str(&crate::spec::ast::quote_param_value(v));
            }
            s.push(']');
        }
        s
    }
}
