//! The planner: `simple-mode`, `lower`, then the named passes of [`PASSES`] in order, then
//! the checks ([`super::check`]).
//!
//! - `simple-mode` (before lowering): one argument, `-s`;
//! - `lower`: synonyms, sugar (`ws-l:`), URLs, argument and parameter checks;
//! - [`PASSES`], each one function over a [`Draft`]: `proxy` (URLs through proxies), `flags`
//!   (CLI flags fill node parameters), `simple-mode` (`-s` implies `-E`); the fix-ups
//!   `cat-mode`, `broadcast` and `share-file` (one shared right side behind a listener) and
//!   `bridge` (a codec where bytes meet messages); `shapes-meet` (with `--no-fixups`, an error
//!   where they still meet); `bridge` again for the shape the lazy overlays hand out; and the
//!   options that insert named kinds: `ws-options`, `jsonrpc`, `preamble`.
//!
//! Passes decide by what a kind declares ([`crate::registry::Trait`], role, shape), never by
//! its name; only the kinds they insert are named. A fix-up records each change as a
//! [`Fixup`] labelled with the pass's name from the table, and `--no-fixups` skips exactly the
//! passes marked `fixup` there.

use super::check;
use super::ir::*;
use crate::error::{Error, PlanError, Side, SpecProblem};
use crate::kinds;
use crate::registry::{self, Build, ParamType, Role, Shape, Sharing, Trait, SHAPE_PARAM};
use crate::spec::{self, Leaf, Node, Spec};

/// A plan being made: what the passes of [`PASSES`] read and change.
#[derive(Debug)]
pub struct Draft {
    /// The left chain.
    pub left: Chain,
    /// The right chain.
    pub right: Chain,
    /// Copy options, as the passes settle them.
    pub copy: CopyOptions,
    /// Accept loop options.
    pub serve: ServeOptions,
    /// Automatic changes so far, in order.
    pub fixups: Vec<Fixup>,
}

/// A pass's function: changes the draft, or says why the command line cannot work.
pub type PassFn = fn(&mut Draft, &PlanOptions) -> Result<(), Error>;

/// One named planner pass.
pub struct Pass {
    /// The name the pass's [`Fixup`]s carry (shown by `--dump-spec`).
    pub name: &'static str,
    /// An automatic change `--no-fixups` turns off.
    pub fixup: bool,
    /// What it does.
    pub run: PassFn,
}

/// The name of the simple-mode pass, which also runs before lowering.
const SIMPLE_MODE: &str = "simple-mode";

/// The passes after lowering, in the order they run.
pub const PASSES: &[Pass] = &[
    Pass {
        name: "proxy",
        fixup: false,
        run: route_proxies,
    },
    Pass {
        name: "flags",
        fixup: false,
        run: fill_from_flags,
    },
    Pass {
        name: SIMPLE_MODE,
        fixup: false,
        run: server_mode_exits_on_eof,
    },
    Pass {
        name: "cat-mode",
        fixup: true,
        run: cat_mode,
    },
    Pass {
        name: "discard-unread",
        fixup: true,
        run: discard_unread_echo,
    },
    Pass {
        name: "broadcast",
        fixup: true,
        run: broadcast_behind_listener,
    },
    Pass {
        name: "share-file",
        fixup: true,
        run: open_once_behind_listener,
    },
    Pass {
        name: "bridge",
        fixup: true,
        run: bridge_shapes,
    },
    Pass {
        name: "shapes-meet",
        fixup: false,
        run: shapes_meet,
    },
    // Named `bridge` too: it settles shapes as `bridge` does, but runs with --no-fixups,
    // because the lazy overlays cannot work without knowing their shape.
    Pass {
        name: "bridge",
        fixup: false,
        run: shape_from_inner,
    },
    Pass {
        name: "ws-options",
        fixup: false,
        run: insert_compression,
    },
    Pass {
        name: "ws-options",
        fixup: false,
        run: insert_type_prefix,
    },
    Pass {
        name: "jsonrpc",
        fixup: false,
        run: insert_jsonrpc,
    },
    Pass {
        name: "preamble",
        fixup: false,
        run: insert_preamble,
    },
];

/// Plans a session from the positional arguments and the options.
pub fn plan(positional: &[String], opts: &PlanOptions) -> Result<Plan, Error> {
    let mut fixups = Vec::new();
    let (left_src, right_src) = simple_mode(positional, opts, &mut fixups)?;
    let mut serve = opts.serve.clone();
    serve.server_banner_tls = opts.server_mode && left_src.starts_with("wss-l:");
    let mut draft = Draft {
        left: lower_side(Side::Left, &left_src)?,
        right: lower_side(Side::Right, &right_src)?,
        copy: opts.copy.clone(),
        serve,
        fixups,
    };
    for pass in PASSES {
        if pass.fixup && opts.no_fixups {
            tracing::debug!(pass = pass.name, "skipped (--no-fixups)");
            continue;
        }
        let before = draft.fixups.len();
        (pass.run)(&mut draft, opts)?;
        for f in &mut draft.fixups[before..] {
            f.pass = pass.name;
        }
        tracing::debug!(
            pass = pass.name,
            fixups = draft.fixups.len() - before,
            "ran"
        );
    }
    let mut plan = Plan {
        left: draft.left,
        right: draft.right,
        copy: draft.copy,
        serve: draft.serve,
        fixups: draft.fixups,
        warnings: Vec::new(),
    };
    check::check(&mut plan, opts)?;
    Ok(plan)
}

/// A fix-up made by the running pass; the pass loop labels it with the pass's name.
fn fixup(message: String) -> Fixup {
    Fixup { pass: "", message }
}

/// `simple-mode`, before lowering: `websocat URL`, `websocat -s PORT`.
fn simple_mode(
    positional: &[String],
    opts: &PlanOptions,
    fixups: &mut Vec<Fixup>,
) -> Result<(String, String), Error> {
    if opts.server_mode {
        let [addr] = positional else {
            return Err(PlanError::new(
                "`-s` takes exactly one argument: the port or address to serve on",
                Some("e.g. `websocat -s 8080` or `websocat -s 0.0.0.0:8080`".into()),
            )
            .into());
        };
        // With a TLS server identity, `-s` serves secure WebSocket (as websocat 1.x).
        let sugar = if serves_tls(opts) { "wss-l" } else { "ws-l" };
        let left = if spec::parse::starts_with_subspec(addr) {
            addr.clone()
        } else if !addr.is_empty() && addr.chars().all(|c| c.is_ascii_digit()) {
            format!("{sugar}:127.0.0.1:{addr}")
        } else {
            format!("{sugar}:{addr}")
        };
        fixups.push(Fixup {
            pass: SIMPLE_MODE,
            message: format!("-s {addr}: serve `{left}` and connect each client to stdio"),
        });
        return Ok((left, "-".to_string()));
    }
    match positional {
        [one] => {
            let listens = match spec::parse_spec(one) {
                Ok(s) => spec_listens(&s),
                Err(_) => false,
            };
            let (l, r) = if listens {
                (one.clone(), "-".to_string())
            } else {
                ("-".to_string(), one.clone())
            };
            fixups.push(Fixup {
                pass: SIMPLE_MODE,
                message: format!("one argument: connect `{one}` with stdio"),
            });
            Ok((l, r))
        }
        [l, r] => Ok((l.clone(), r.clone())),
        [] if opts.exec_args_given => Err(PlanError::new(
            "no specifiers given",
            Some("--exec-args takes every argument after it: put the specifiers before it, e.g. `websocat tcp-l:127.0.0.1:9000 exec:ls --exec-args -l`".into()),
        )
        .into()),
        [] => Err(PlanError::new(
            "no specifiers given",
            Some("e.g. `websocat ws://127.0.0.1:8080/` or `websocat ws-l:127.0.0.1:8080 -`; see `websocat --help`".into()),
        )
        .into()),
        _ => Err(PlanError::new(
            format!("expected at most two specifiers, got {}", positional.len()),
            Some("options go before or after the specifiers; quote arguments containing spaces".into()),
        )
        .into()),
    }
}

/// True when a TLS server identity was given on the command line.
fn serves_tls(opts: &PlanOptions) -> bool {
    opts.tls_server_identity_given
}

fn spec_listens(spec: &Spec) -> bool {
    match &spec.leaf {
        Leaf::Kind { node, .. } => kinds::lookup(&node.name).is_some_and(|k| {
            k.role == Role::Listener
                || matches!(k.build, Build::Sugar(e) if kinds::kind(e.leaf).role == Role::Listener)
        }),
        _ => false,
    }
}

/// `lower`: parses one side and lowers it into plan nodes.
pub fn lower_side(side: Side, source: &str) -> Result<Chain, Error> {
    let spec = spec::parse_spec(source).map_err(|p| p.into_error(side, source))?;
    let nodes = lower_spec(&spec).map_err(|p| p.into_error(side, source))?;
    Ok(Chain {
        side,
        source: source.to_string(),
        nodes,
    })
}

fn lower_spec(spec: &Spec) -> Result<Vec<PlanNode>, SpecProblem> {
    let mut nodes = Vec::new();
    for o in &spec.overlays {
        let kind = kinds::lookup(&o.name).ok_or_else(|| {
            SpecProblem::new(
                "websocat::spec::unknown_kind",
                "unknown kind",
                o.name_span.start,
                o.name_span.len,
            )
        })?;
        match kind.build {
            Build::Sugar(exp) => {
                let span = Origin::Expanded(o.span);
                for (i, name) in exp.overlays.iter().enumerate() {
                    let mut n = PlanNode::new(kinds::kind(name), "", span);
                    if i == 0 {
                        n.params = checked_params(n.kind, o)?;
                    }
                    nodes.push(n);
                }
            }
            _ => {
                let mut n = PlanNode::new(kind, "", Origin::Written(o.span));
                n.params = checked_params(kind, o)?;
                nodes.push(n);
            }
        }
    }
    match &spec.leaf {
        Leaf::Stdio { span } => nodes.push(PlanNode::new(
            kinds::kind(DASH_KIND),
            "",
            Origin::Written(*span),
        )),
        Leaf::Url { url, span } => {
            let lowered = super::url::lower_url(url, Origin::Expanded(*span))
                .map_err(|p| p.shifted(span.start))?;
            nodes.extend(lowered);
        }
        Leaf::Kind {
            node,
            arg,
            arg_span,
        } => {
            let kind = kinds::lookup(&node.name).ok_or_else(|| {
                SpecProblem::new(
                    "websocat::spec::unknown_kind",
                    "unknown kind",
                    node.name_span.start,
                    node.name_span.len,
                )
            })?;
            match kind.build {
                Build::Sugar(exp) => {
                    let origin = Origin::Expanded(node.span);
                    for (i, name) in exp.overlays.iter().enumerate() {
                        let mut n = PlanNode::new(kinds::kind(name), "", origin);
                        if i == 0 {
                            n.params = checked_params(n.kind, node)?;
                        }
                        nodes.push(n);
                    }
                    let leaf_kind = kinds::kind(exp.leaf);
                    leaf_kind
                        .arg
                        .validate(arg)
                        .map_err(|p| p.shifted(arg_span.start))?;
                    nodes.push(PlanNode::new(leaf_kind, arg.clone(), origin));
                }
                _ => {
                    kind.arg
                        .validate(arg)
                        .map_err(|p| p.shifted(arg_span.start))?;
                    let mut n = PlanNode::new(kind, arg.clone(), Origin::Written(node.span));
                    n.params = checked_params(kind, node)?;
                    nodes.push(n);
                }
            }
        }
    }
    Ok(nodes)
}

/// Checks bracket parameters against the kind's declarations.
fn checked_params(
    kind: &'static registry::KindDef,
    node: &Node,
) -> Result<Vec<(String, String)>, SpecProblem> {
    let mut out: Vec<(String, String)> = Vec::new();
    for p in &node.params {
        let Some(def) = kind.param(&p.key) else {
            let known: Vec<&str> = kind.params.iter().map(|d| d.name).collect();
            let help = if known.is_empty() {
                format!("`{}:` takes no parameters", kind.name)
            } else {
                format!("`{}:` accepts: {}", kind.name, known.join(", "))
            };
            return Err(SpecProblem::new(
                "websocat::spec::unknown_param",
                format!("unknown parameter `{}` for `{}:`", p.key, kind.name),
                p.span.start,
                p.key.len(),
            )
            .label("not a parameter of this kind")
            .help(help));
        };
        let bad = match def.ty {
            ParamType::Uint => p.value.parse::<u64>().is_err(),
            ParamType::Bool => p.value != "true" && p.value != "false",
            ParamType::Text | ParamType::Repeated => false,
            ParamType::CloseCode => {
                if let Some(problem) = bad_close_code(&p.value) {
                    return Err(SpecProblem::new(
                        "websocat::spec::bad_close_code",
                        format!("parameter `{}` expects {problem}", p.key),
                        p.span.start,
                        p.span.len,
                    )
                    .label(format!("`{}` cannot be sent in a Close frame", p.value))
                    .help(format!(
                        "use {} (RFC 6455, section 7.4)",
                        crate::ws::frame::VALID_CLOSE_CODES
                    )));
                }
                false
            }
        };
        if bad {
            let expected = if def.ty == ParamType::Uint {
                "a whole number"
            } else {
                "`true` or `false`"
            };
            return Err(SpecProblem::new(
                "websocat::spec::bad_param_value",
                format!("parameter `{}` expects {expected}", p.key),
                p.span.start,
                p.span.len,
            )
            .label(format!("`{}` is not {expected}", p.value)));
        }
        if def.ty != ParamType::Repeated && out.iter().any(|(k, _)| *k == p.key) {
            return Err(SpecProblem::new(
                "websocat::spec::duplicate_param",
                format!("parameter `{}` given twice", p.key),
                p.span.start,
                p.span.len,
            )
            .label("second occurrence"));
        }
        out.push((p.key.clone(), p.value.clone()));
    }
    Ok(out)
}

/// What is wrong with `value` as a WebSocket Close status code to send, if anything.
pub(crate) fn bad_close_code(value: &str) -> Option<&'static str> {
    match value.parse::<u16>() {
        Ok(code) if crate::ws::frame::close_code_is_valid(code) => None,
        Ok(_) => Some("a status code that may be sent in a Close frame"),
        Err(_) => Some("a close status code (a whole number)"),
    }
}

/// `proxy`: `--socks5`, `--proxy` and the proxy environment route URL leaves through a
/// proxy (see [`super::proxy`]). Not a fix-up, as the flags ask for it; but with
/// `--no-fixups` the environment is not read.
fn route_proxies(d: &mut Draft, opts: &PlanOptions) -> Result<(), Error> {
    let (left, right, fixups) = (&mut d.left, &mut d.right, &mut d.fixups);
    let popts = super::proxy::ProxyOptions {
        socks5: opts.socks5.as_deref(),
        proxy: opts.proxy.as_deref(),
        env: (!opts.no_fixups).then_some(&opts.proxy_env),
    };
    let before = fixups.len();
    super::proxy::route_through_proxy(left, &popts, fixups)?;
    super::proxy::route_through_proxy(right, &popts, fixups)?;
    let explicit = if opts.socks5.is_some() {
        Some("--socks5")
    } else if opts.proxy.is_some() {
        Some("--proxy")
    } else {
        None
    };
    if let (Some(flag), true) = (explicit, fixups.len() == before) {
        return Err(PlanError::new(
            format!("{flag} applies to ws:// and wss:// URLs, and there is none"),
            Some("write the URL as `ws://host:port/path`, or put `socks5-connect:` / `http-connect:` in the specifier yourself".into()),
        )
        .into());
    }
    Ok(())
}

/// `flags`: CLI flags become parameters of every node that declares them and lacks them.
fn fill_from_flags(d: &mut Draft, opts: &PlanOptions) -> Result<(), Error> {
    for node in d.left.nodes.iter_mut().chain(&mut d.right.nodes) {
        fill_node_from_flags(node, opts);
    }
    Ok(())
}

/// Fills one node's parameters from CLI flags (also for nodes inserted after `flags`).
fn fill_node_from_flags(node: &mut PlanNode, opts: &PlanOptions) {
    {
        for def in node.kind.params {
            let Some(flag) = def.flag else { continue };
            let Some(values) = opts.flags.get(flag) else {
                continue;
            };
            if node.param(def.name).is_some() {
                continue;
            }
            if def.ty == ParamType::Repeated {
                for v in values {
                    node.params.push((def.name.to_string(), v.clone()));
                }
            } else if let Some(v) = values.last() {
                node.params.push((def.name.to_string(), v.clone()));
            }
        }
    }
}

/// `simple-mode`, after lowering: `-s` implies `-E`.
fn server_mode_exits_on_eof(d: &mut Draft, opts: &PlanOptions) -> Result<(), Error> {
    if opts.server_mode && !d.copy.exit_on_eof {
        d.copy.exit_on_eof = true;
        d.fixups.push(fixup(
            "-s implies -E: a client leaving ends only its own session".into(),
        ));
    }
    Ok(())
}

fn is_bare_stdio(chain: &Chain) -> bool {
    chain.nodes.len() == 1 && chain.leaf().kind.has(Trait::Stdio)
}

/// `cat-mode`: `- -` copies stdin to stdout.
fn cat_mode(d: &mut Draft, _opts: &PlanOptions) -> Result<(), Error> {
    if is_bare_stdio(&d.left) && is_bare_stdio(&d.right) && !d.copy.unidirectional {
        d.copy.unidirectional = true;
        d.fixups
            .push(fixup("`- -`: copy stdin to stdout only (-u)".into()));
    }
    Ok(())
}

/// `discard-unread`: `-u` with `mirror:` on the right (or `-U` with it on the left): nothing
/// reads what it echoes, so once its queue is full the copy towards it would wait forever
/// (websocat 1.x fails there). The switched-off direction reads the echo and discards it.
fn discard_unread_echo(d: &mut Draft, _opts: &PlanOptions) -> Result<(), Error> {
    let mirror = kinds::kind("mirror");
    let echo = |chain: &Chain| chain.leaf().kind == mirror;
    let side = if d.copy.unidirectional && echo(&d.right) {
        "-u: what `mirror:` on the right echoes"
    } else if d.copy.unidirectional_reverse && echo(&d.left) {
        "-U: what `mirror:` on the left echoes"
    } else {
        return Ok(());
    };
    d.copy.discard_unread = true;
    d.fixups
        .push(fixup(format!("{side} is read and discarded")));
    Ok(())
}

/// `broadcast`: when a listener on the left serves many clients, a right side that exists
/// once and is read by all ([`Sharing::Broadcast`], stdio) fans out to every client through
/// `broadcast:`, outermost (as websocat 1.x).
fn broadcast_behind_listener(d: &mut Draft, opts: &PlanOptions) -> Result<(), Error> {
    share_behind_listener(d, Sharing::Broadcast, opts);
    Ok(())
}

/// `share-file`: when a listener on the left serves many clients, a right side that exists
/// once and must not be opened again ([`Sharing::OpenOnce`], a written file: each new client
/// would truncate it) is opened once through `reuse-raw:`, innermost (as websocat 1.x).
fn open_once_behind_listener(d: &mut Draft, opts: &PlanOptions) -> Result<(), Error> {
    share_behind_listener(d, Sharing::OpenOnce, opts);
    Ok(())
}

/// Inserts the sharing node; it takes its flags (`--queue-len`, the slow-client policy, …)
/// like the nodes that were written.
fn share_behind_listener(d: &mut Draft, how: Sharing, opts: &PlanOptions) {
    let right = &mut d.right;
    if !d.left.is_listener()
        || d.serve.oneshot
        || right
            .nodes
            .iter()
            .any(|n| n.kind.role == Role::ConnectorOverlay)
    {
        return;
    }
    let leaf = right.leaf().kind;
    if leaf.sharing() != Some(how) {
        return;
    }
    let (kind, at, why) = match how {
        Sharing::Broadcast => (
            "broadcast",
            0,
            "stdio behind a listener is shared by all clients".to_string(),
        ),
        Sharing::OpenOnce => (
            "reuse-raw",
            right.nodes.len() - 1,
            format!(
                "`{}:` behind a listener is opened once and shared by all clients",
                leaf.name
            ),
        ),
    };
    let mut node = PlanNode::new(kinds::kind(kind), "", Origin::Inserted);
    fill_node_from_flags(&mut node, opts);
    right.nodes.insert(at, node);
    d.fixups
        .push(fixup(format!("right side: {why} (`{kind}:`)")));
}

/// The shape a chain presents to the copy engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Top {
    Bytes,
    Messages,
    Any,
}

fn chain_shape(chain: &Chain) -> Result<Top, SpecProblem> {
    let leaf = chain.leaf();
    let mut top = match leaf.kind.shape {
        Shape::Bytes => Top::Bytes,
        Shape::Messages => Top::Messages,
        Shape::Any => match leaf.param(SHAPE_PARAM) {
            Some("messages") => Top::Messages,
            Some("bytes") => Top::Bytes,
            _ => Top::Any,
        },
        _ => Top::Bytes,
    };
    for (idx, node) in chain.nodes.iter().enumerate().rev().skip(1) {
        let needs = |want: Top, top: Top| -> Result<(), SpecProblem> {
            if top == want || top == Top::Any {
                return Ok(());
            }
            let (start, len) = node
                .origin
                .span()
                .map(|s| (s.start, s.len))
                .unwrap_or((0, chain.source.len()));
            let below = chain.nodes[idx + 1].kind.name;
            Err(SpecProblem::new(
                "websocat::plan::shape_mismatch",
                format!(
                    "`{}:` works on {} but `{below}:` under it produces {}",
                    node.kind.name,
                    if want == Top::Bytes {
                        "a byte stream"
                    } else {
                        "messages"
                    },
                    if top == Top::Bytes {
                        "a byte stream"
                    } else {
                        "messages"
                    },
                ),
                start,
                len,
            )
            .label("does not fit what is under it"))
        };
        top = match node.kind.shape {
            Shape::BytesToMessages => {
                needs(Top::Bytes, top)?;
                Top::Messages
            }
            Shape::MessagesToBytes => {
                needs(Top::Messages, top)?;
                Top::Bytes
            }
            Shape::BytesToBytes => {
                needs(Top::Bytes, top)?;
                Top::Bytes
            }
            _ => top,
        };
    }
    Ok(top)
}

fn shapes(left: &Chain, right: &Chain) -> Result<(Top, Top), Error> {
    let l = chain_shape(left).map_err(|p| p.into_error(Side::Left, &left.source))?;
    let r = chain_shape(right).map_err(|p| p.into_error(Side::Right, &right.source))?;
    Ok((l, r))
}

/// `shapes-meet`: one side's bytes cannot face the other's messages. After `bridge` they never
/// do; with `--no-fixups` nothing bridged them, and this says so.
fn shapes_meet(d: &mut Draft, _opts: &PlanOptions) -> Result<(), Error> {
    match shapes(&d.left, &d.right)? {
        (Top::Bytes, Top::Messages) | (Top::Messages, Top::Bytes) => Err(PlanError::new(
            "one side produces bytes and the other messages, and --no-fixups keeps the planner from bridging them",
            Some("add `lines:` or `chunks:` over the byte side, or drop --no-fixups".into()),
        )
        .into()),
        _ => Ok(()),
    }
}

/// `bridge`: where bytes meet messages, insert a codec on the byte side; settle `Any` leaves.
fn bridge_shapes(d: &mut Draft, opts: &PlanOptions) -> Result<(), Error> {
    let (l, r) = shapes(&d.left, &d.right)?;
    let fixups = &mut d.fixups;
    match (l, r) {
        (Top::Bytes, Top::Messages) => insert_codec(&mut d.left, opts, fixups),
        (Top::Messages, Top::Bytes) => insert_codec(&mut d.right, opts, fixups),
        (Top::Any, Top::Messages) => settle_any(&mut d.left, fixups),
        (Top::Messages, Top::Any) => settle_any(&mut d.right, fixups),
        _ => {}
    }
    Ok(())
}

fn settle_any(chain: &mut Chain, fixups: &mut Vec<Fixup>) {
    let side = chain.side;
    let leaf = chain
        .nodes
        .last_mut()
        .filter(|n| n.kind.shape == Shape::Any);
    if let Some(leaf) = leaf {
        leaf.params.push((SHAPE_PARAM.into(), "messages".into()));
        fixups.push(fixup(format!(
            "{side}: `{}:` works on whole messages, as its partner does",
            leaf.kind.name
        )));
    }
}

fn insert_codec(chain: &mut Chain, opts: &PlanOptions, fixups: &mut Vec<Fixup>) {
    let at = chain
        .nodes
        .iter()
        .position(|n| n.kind.shape != Shape::Preserve)
        .unwrap_or(chain.nodes.len() - 1);
    let mode = opts.mode.unwrap_or_default();
    let lines = mode == DataMode::Text && !opts.no_line;
    let node = if lines {
        let mut n = PlanNode::new(kinds::kind("lines"), "", Origin::Inserted);
        if opts.null_terminated {
            n = n.with_param("separator", "nul");
        }
        if opts.strip_newlines {
            n = n.with_param("strip", "true");
        }
        if let Some(b) = opts.copy.buffer_size {
            n = n.with_param("max", b.to_string());
        }
        n
    } else {
        let mut n = PlanNode::new(kinds::kind("chunks"), "", Origin::Inserted);
        if mode == DataMode::Text {
            n = n.with_param("type", "text");
        }
        // A child that is to get SIGHUP for an empty message must see it as an empty write.
        if chain
            .nodes
            .last()
            .is_some_and(|leaf| leaf.param_bool("sighup-on-zero-msg"))
        {
            n = n.with_param("empty-writes", "true");
        }
        if let Some(b) = opts.copy.buffer_size {
            n = n.with_param("max", b.to_string());
        }
        n
    };
    let what = if lines {
        "lines of its byte stream become text messages"
    } else if mode == DataMode::Text {
        "each read of its byte stream becomes a text message"
    } else {
        "each read of its byte stream becomes a binary message"
    };
    fixups.push(fixup(format!(
        "{}: inserted `{}:` ({what})",
        chain.side,
        node.display_element()
    )));
    chain.nodes.insert(at, node);
}

/// `bridge` (also with `--no-fixups`): overlays that hand out a connection before any inner
/// one exists ([`Trait::ShapeFromInner`]: `waitfordata:`, `foreachmsg:`) are told the shape
/// of what is under them ([`SHAPE_PARAM`]).
fn shape_from_inner(d: &mut Draft, _opts: &PlanOptions) -> Result<(), Error> {
    settle_shape_from_inner(&mut d.left, &mut d.fixups)?;
    settle_shape_from_inner(&mut d.right, &mut d.fixups)
}

fn settle_shape_from_inner(chain: &mut Chain, fixups: &mut Vec<Fixup>) -> Result<(), Error> {
    for i in 0..chain.nodes.len() {
        let node = &chain.nodes[i];
        if !node.kind.has(Trait::ShapeFromInner) || node.param(SHAPE_PARAM).is_some() {
            continue;
        }
        let below = Chain {
            side: chain.side,
            source: chain.source.clone(),
            nodes: chain.nodes[i + 1..].to_vec(),
        };
        let shape =
            match chain_shape(&below).map_err(|p| p.into_error(chain.side, &chain.source))? {
                Top::Messages => "messages",
                Top::Bytes | Top::Any => "bytes",
            };
        let name = chain.nodes[i].kind.name;
        chain.nodes[i]
            .params
            .push((SHAPE_PARAM.into(), shape.into()));
        fixups.push(fixup(format!(
            "{}: `{name}:` hands out {shape} before connecting (shape={shape})",
            chain.side
        )));
    }
    Ok(())
}

/// `ws-options`: `--text-prefix`, `--binary-prefix`, `--base64`, `--base64-text` put
/// `typeprefix:` over each WebSocket ([`Trait::WebSocket`]), under connector overlays.
fn insert_type_prefix(d: &mut Draft, opts: &PlanOptions) -> Result<(), Error> {
    type_prefix_over_websocket(&mut d.left, opts, &mut d.fixups);
    type_prefix_over_websocket(&mut d.right, opts, &mut d.fixups);
    Ok(())
}

fn type_prefix_over_websocket(chain: &mut Chain, opts: &PlanOptions, fixups: &mut Vec<Fixup>) {
    let wanted = opts.type_prefix_given;
    let kind = kinds::kind("typeprefix");
    let has_ws = chain.nodes.iter().any(|n| n.kind.has(Trait::WebSocket));
    if !wanted || !has_ws || chain.nodes.iter().any(|n| n.kind == kind) {
        return;
    }
    let at = chain
        .nodes
        .iter()
        .position(|n| n.kind.role != Role::ConnectorOverlay)
        .unwrap_or(0);
    let mut node = PlanNode::new(kind, "", Origin::Inserted);
    fill_node_from_flags(&mut node, opts);
    fixups.push(fixup(format!(
        "{}: inserted `{}:` over the WebSocket (prefix/base64 options)",
        chain.side,
        node.display_element()
    )));
    chain.nodes.insert(at, node);
}

/// `ws-options`: `--compress-*` / `--uncompress-*` put `compress:` right over each WebSocket
/// (so that `typeprefix:`, inserted next, sees the uncompressed messages).
fn insert_compression(d: &mut Draft, opts: &PlanOptions) -> Result<(), Error> {
    compression_over_websocket(&mut d.left, opts, &mut d.fixups);
    compression_over_websocket(&mut d.right, opts, &mut d.fixups);
    Ok(())
}

fn compression_over_websocket(chain: &mut Chain, opts: &PlanOptions, fixups: &mut Vec<Fixup>) {
    let kind = kinds::kind("compress");
    if !opts.compression_given || chain.nodes.iter().any(|n| n.kind == kind) {
        return;
    }
    let Some(at) = chain
        .nodes
        .iter()
        .position(|n| n.kind.has(Trait::WebSocket))
    else {
        return;
    };
    let mut node = PlanNode::new(kind, "", Origin::Inserted);
    fill_node_from_flags(&mut node, opts);
    fixups.push(fixup(format!(
        "{}: inserted `{}:` over the WebSocket (compression options)",
        chain.side,
        node.display_element()
    )));
    chain.nodes.insert(at, node);
}

/// `jsonrpc`: `--jsonrpc` puts `jsonrpc:` outermost over the stdio side ([`Trait::Stdio`]).
fn insert_jsonrpc(d: &mut Draft, opts: &PlanOptions) -> Result<(), Error> {
    if !opts.jsonrpc {
        return Ok(());
    }
    let chain = if d.left.leaf().kind.has(Trait::Stdio) {
        &mut d.left
    } else if d.right.leaf().kind.has(Trait::Stdio) {
        &mut d.right
    } else {
        return Err(PlanError::new(
            "--jsonrpc turns lines typed on stdin into requests, but neither side is stdio",
            Some(
                "use it as `websocat --jsonrpc ws://host/`, or write `jsonrpc:` in a specifier"
                    .into(),
            ),
        )
        .into());
    };
    let kind = kinds::kind("jsonrpc");
    if chain.nodes.iter().any(|n| n.kind == kind) {
        return Ok(());
    }
    let mut node = PlanNode::new(kind, "", Origin::Inserted);
    fill_node_from_flags(&mut node, opts);
    d.fixups.push(fixup(format!(
        "{}: inserted `{}:` (--jsonrpc: stdin lines become JSON-RPC requests)",
        chain.side,
        node.display_element()
    )));
    chain.nodes.insert(0, node);
    Ok(())
}

/// `preamble`: `-p` / `-P` texts become a `preamble:` node placed under every connector
/// overlay (so it runs on each new inner connection) and under a codec `bridge` inserted (so
/// the texts are written as they are, without a line terminator).
fn insert_preamble(d: &mut Draft, opts: &PlanOptions) -> Result<(), Error> {
    preamble_into(&mut d.right, &opts.preamble, &mut d.fixups);
    preamble_into(&mut d.left, &opts.preamble_reverse, &mut d.fixups);
    Ok(())
}

fn preamble_into(chain: &mut Chain, texts: &[String], fixups: &mut Vec<Fixup>) {
    if texts.is_empty() {
        return;
    }
    let at = chain
        .nodes
        .iter()
        .position(|n| {
            // Only `bridge` inserts an overlay turning bytes into messages.
            let inserted_codec =
                n.origin == Origin::Inserted && n.kind.shape == Shape::BytesToMessages;
            n.kind.role != Role::ConnectorOverlay && !inserted_codec
        })
        .unwrap_or(chain.nodes.len() - 1);
    let mut node = PlanNode::new(kinds::kind("preamble"), "", Origin::Inserted);
    for t in texts {
        node = node.with_param("text", t.clone());
    }
    fixups.push(fixup(format!(
        "{}: inserted `{}:` ({}: sent first on every new connection)",
        chain.side,
        node.display_element(),
        if chain.side == Side::Right {
            "-p"
        } else {
            "-P"
        }
    )));
    chain.nodes.insert(at, node);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_fixups_turns_off_exactly_the_fixup_passes() {
        let gated: Vec<&str> = PASSES.iter().filter(|p| p.fixup).map(|p| p.name).collect();
        assert_eq!(
            gated,
            [
                "cat-mode",
                "discard-unread",
                "broadcast",
                "share-file",
                "bridge"
            ]
        );
    }

    #[test]
    fn every_fixup_carries_the_name_of_the_pass_that_made_it() {
        let opts = PlanOptions {
            server_mode: true,
            preamble: vec!["hello".into()],
            ..PlanOptions::default()
        };
        let plan = plan(&["8080".to_string()], &opts).expect("plans");
        let labels: Vec<&str> = plan.fixups.iter().map(|f| f.pass).collect();
        assert_eq!(
            labels,
            [
                "simple-mode",
                "simple-mode",
                "broadcast",
                "bridge",
                "preamble"
            ]
        );
    }

    #[test]
    fn without_fixups_no_fixup_pass_leaves_a_trace() {
        let args = [
            "tcp-l:127.0.0.1:1".to_string(),
            "writefile:/tmp/x".to_string(),
        ];
        let with = plan(&args, &PlanOptions::default()).expect("plans");
        assert_eq!(with.fixups.len(), 1);
        assert_eq!(with.fixups[0].pass, "share-file");
        let opts = PlanOptions {
            no_fixups: true,
            ..PlanOptions::default()
        };
        let without = plan(&args, &opts).expect("plans");
        assert!(without.fixups.is_empty(), "{:?}", without.fixups);
        assert_eq!(without.right.nodes.len(), 1);
    }
}
