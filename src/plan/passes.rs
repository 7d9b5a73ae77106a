//! The planner's ordered, named passes.
//!
//! 1. `simple-mode`: one argument, `-s`;
//! 2. `lower`: synonyms, sugar (`ws-l:`), URLs, argument and parameter checks;
//!    then `proxy`: `--socks5`, `--proxy` and HTTP(S)_PROXY route URL leaves through a proxy
//!    ([`super::proxy`]);
//! 3. `flags`: CLI flags fill node parameters that were not written;
//! 4. `cat-mode`, `broadcast` and `share-file`: one shared right side behind a listener;
//! 5. `bridge`: a line or chunk codec where bytes meet messages; the inner shape of
//!    `waitfordata:` / `foreachmsg:`;
//! 6. `ws-options` (`typeprefix:` for --text-prefix/--binary-prefix/--base64), `jsonrpc`
//!    (--jsonrpc) and `preamble` (-p/-P, placed under connector overlays so it is sent on
//!    every new inner connection);
//! 7. checks (see [`super::check`]).

use super::check;
use super::ir::*;
use crate::error::{Error, PlanError, Side, SpecProblem};
use crate::registry::{self, Build, ParamType, Role, Shape};
use crate::spec::{self, Leaf, Node, Span, Spec};

/// Plans a session from the positional arguments and the options.
pub fn plan(positional: &[String], opts: &PlanOptions) -> Result<Plan, Error> {
    let mut fixups = Vec::new();
    let (left_src, right_src) = simple_mode(positional, opts, &mut fixups)?;
    let mut left = lower_side(Side::Left, &left_src)?;
    let mut right = lower_side(Side::Right, &right_src)?;
    route_proxies(&mut left, &mut right, opts, &mut fixups)?;
    fill_from_flags(&mut left, opts);
    fill_from_flags(&mut right, opts);
    let mut copy = opts.copy.clone();
    let mut serve = opts.serve.clone();
    serve.server_banner_tls = opts.server_mode && left_src.starts_with("wss-l:");
    if opts.server_mode && !copy.exit_on_eof {
        copy.exit_on_eof = true;
        fixups.push(Fixup {
            pass: "simple-mode",
            message: "-s implies -E: a client leaving ends only its own session".into(),
        });
    }
    if !opts.no_fixups {
        cat_mode(&left, &right, &mut copy, &mut fixups);
        discard_unread_echo(&left, &right, &mut copy, &mut fixups);
        share_behind_listener(&left, &mut right, &serve, &mut fixups);
        bridge_shapes(&mut left, &mut right, opts, &mut fixups)?;
    } else {
        check_shapes_match(&left, &right)?;
    }
    settle_lazy_shapes(&mut left, &mut fixups)?;
    settle_lazy_shapes(&mut right, &mut fixups)?;
    insert_compression(&mut left, opts, &mut fixups);
    insert_compression(&mut right, opts, &mut fixups);
    insert_type_prefix(&mut left, opts, &mut fixups);
    insert_type_prefix(&mut right, opts, &mut fixups);
    insert_jsonrpc(&mut left, &mut right, opts, &mut fixups)?;
    insert_preamble(&mut right, &opts.preamble, &mut fixups);
    insert_preamble(&mut left, &opts.preamble_reverse, &mut fixups);
    let mut plan = Plan {
        left,
        right,
        copy,
        serve,
        fixups,
        warnings: Vec::new(),
    };
    check::check(&mut plan, opts)?;
    Ok(plan)
}

/// Pass 1: `websocat URL`, `websocat -s PORT`.
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
            pass: "simple-mode",
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
                pass: "simple-mode",
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
        Leaf::Kind { node, .. } => registry::lookup(&node.name).is_some_and(|k| {
            k.role == Role::Listener
                || matches!(k.build, Build::Sugar(e) if registry::kind(e.leaf).role == Role::Listener)
        }),
        _ => false,
    }
}

/// Pass 2: parse and lower one side into plan nodes.
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
        let kind = registry::lookup(&o.name).ok_or_else(|| {
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
                    let mut n = PlanNode::new(registry::kind(name), "", span);
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
            registry::kind("stdio"),
            "",
            Origin::Written(*span),
        )),
        Leaf::Url { url, span } => {
            let lowered = crate::kinds::ws_client::lower_url(url, Origin::Expanded(*span))
                .map_err(|p| p.shifted(span.start))?;
            nodes.extend(lowered);
        }
        Leaf::Kind {
            node,
            arg,
            arg_span,
        } => {
            let kind = registry::lookup(&node.name).ok_or_else(|| {
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
                        let mut n = PlanNode::new(registry::kind(name), "", origin);
                        if i == 0 {
                            n.params = checked_params(n.kind, node)?;
                        }
                        nodes.push(n);
                    }
                    let leaf_kind = registry::kind(exp.leaf);
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

/// Pass 2b: `--socks5`, `--proxy` and the proxy environment route URL leaves through a
/// proxy (see [`super::proxy`]).
fn route_proxies(
    left: &mut Chain,
    right: &mut Chain,
    opts: &PlanOptions,
    fixups: &mut Vec<Fixup>,
) -> Result<(), Error> {
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

/// Pass 3: CLI flags become parameters of every node that declares them and lacks them.
fn fill_from_flags(chain: &mut Chain, opts: &PlanOptions) {
    for node in &mut chain.nodes {
        fill_node_from_flags(node, opts);
    }
}

/// Fills one node's parameters from CLI flags (also for nodes inserted after pass 3).
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

/// Kinds the stdio special cases apply to (as websocat 1.x: `-`/`stdio:` and `threadedstdio:`).
pub(crate) fn is_stdio_kind(name: &str) -> bool {
    name == "stdio" || name == "threadedstdio"
}

fn is_bare_stdio(chain: &Chain) -> bool {
    chain.nodes.len() == 1 && is_stdio_kind(chain.leaf().kind.name)
}

/// Pass 4a: `- -` copies stdin to stdout.
fn cat_mode(left: &Chain, right: &Chain, copy: &mut CopyOptions, fixups: &mut Vec<Fixup>) {
    if is_bare_stdio(left) && is_bare_stdio(right) && !copy.unidirectional {
        copy.unidirectional = true;
        fixups.push(Fixup {
            pass: "cat-mode",
            message: "`- -`: copy stdin to stdout only (-u)".into(),
        });
    }
}

/// Pass 4a': `-u` with `mirror:` on the right (or `-U` with it on the left): nothing reads
/// what it echoes, so once its queue is full the copy towards it would wait forever (websocat
/// 1.x fails there). The switched-off direction reads the echo and discards it instead.
fn discard_unread_echo(
    left: &Chain,
    right: &Chain,
    copy: &mut CopyOptions,
    fixups: &mut Vec<Fixup>,
) {
    let echo = |chain: &Chain| chain.leaf().kind.name == "mirror";
    let side = if copy.unidirectional && echo(right) {
        "-u: what `mirror:` on the right echoes"
    } else if copy.unidirectional_reverse && echo(left) {
        "-U: what `mirror:` on the left echoes"
    } else {
        return;
    };
    copy.discard_unread = true;
    fixups.push(Fixup {
        pass: "discard-unread",
        message: format!("{side} is read and discarded"),
    });
}

/// Pass 4b: when a listener on the left serves many clients, a right side that exists once is
/// shared: stdio fans out to every client (`broadcast:`, outermost), and a written file is
/// opened once (`reuse-raw:`, innermost) so that each new client does not truncate it again
/// (websocat 1.x does both).
fn share_behind_listener(
    left: &Chain,
    right: &mut Chain,
    serve: &ServeOptions,
    fixups: &mut Vec<Fixup>,
) {
    if !left.is_listener()
        || serve.oneshot
        || right
            .nodes
            .iter()
            .any(|n| n.kind.role == Role::ConnectorOverlay)
    {
        return;
    }
    let leaf = right.leaf().kind.name;
    let (kind, at, pass, why) = if is_stdio_kind(leaf) {
        (
            "broadcast",
            0,
            "broadcast",
            "stdio behind a listener is shared by all clients".to_string(),
        )
    } else if matches!(leaf, "writefile" | "appendfile") {
        (
            "reuse-raw",
            right.nodes.len() - 1,
            "share-file",
            format!("`{leaf}:` behind a listener is opened once and shared by all clients"),
        )
    } else {
        return;
    };
    right.nodes.insert(
        at,
        PlanNode::new(registry::kind(kind), "", Origin::Inserted),
    );
    fixups.push(Fixup {
        pass,
        message: format!("right side: {why} (`{kind}:`)"),
    });
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
        Shape::Any => match leaf.param("shape") {
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

fn check_shapes_match(left: &Chain, right: &Chain) -> Result<(), Error> {
    match shapes(left, right)? {
        (Top::Bytes, Top::Messages) | (Top::Messages, Top::Bytes) => Err(PlanError::new(
            "one side produces bytes and the other messages, and --no-fixups keeps the planner from bridging them",
            Some("add `lines:` or `chunks:` over the byte side, or drop --no-fixups".into()),
        )
        .into()),
        _ => Ok(()),
    }
}

/// Pass 5: where bytes meet messages, insert a codec on the byte side; settle `Any` leaves.
fn bridge_shapes(
    left: &mut Chain,
    right: &mut Chain,
    opts: &PlanOptions,
    fixups: &mut Vec<Fixup>,
) -> Result<(), Error> {
    let (l, r) = shapes(left, right)?;
    match (l, r) {
        (Top::Bytes, Top::Messages) => insert_codec(left, opts, fixups),
        (Top::Messages, Top::Bytes) => insert_codec(right, opts, fixups),
        (Top::Any, Top::Messages) => settle_any(left, fixups),
        (Top::Messages, Top::Any) => settle_any(right, fixups),
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
        leaf.params.push(("shape".into(), "messages".into()));
        fixups.push(Fixup {
            pass: "bridge",
            message: format!(
                "{side}: `{}:` works on whole messages, as its partner does",
                leaf.kind.name
            ),
        });
    }
}

fn insert_codec(chain: &mut Chain, opts: &PlanOptions, fixups: &mut Vec<Fixup>) {
    let at = chain
        .nodes
        .iter()
        .position(|n| n.kind.shape != Shape::Preserve)
        .unwrap_or(chain.nodes.len() - 1);
    let mode = opts.mode.unwrap_or_default();
    let node = if mode == DataMode::Text && !opts.no_line {
        let mut n = PlanNode::new(registry::kind("lines"), "", Origin::Inserted);
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
        let mut n = PlanNode::new(registry::kind("chunks"), "", Origin::Inserted);
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
    let what = if node.kind.name == "lines" {
        "lines of its byte stream become text messages"
    } else if mode == DataMode::Text {
        "each read of its byte stream becomes a text message"
    } else {
        "each read of its byte stream becomes a binary message"
    };
    fixups.push(Fixup {
        pass: "bridge",
        message: format!(
            "{}: inserted `{}:` ({what})",
            chain.side,
            node.display_element()
        ),
    });
    chain.nodes.insert(at, node);
}

/// Pass 5b: `waitfordata:` and `foreachmsg:` hand out a connection before any inner one
/// exists, so they are told the shape of what is under them (`shape` parameter).
fn settle_lazy_shapes(chain: &mut Chain, fixups: &mut Vec<Fixup>) -> Result<(), Error> {
    for i in 0..chain.nodes.len() {
        let node = &chain.nodes[i];
        if !matches!(node.kind.name, "waitfordata" | "foreachmsg") || node.param("shape").is_some()
        {
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
        chain.nodes[i].params.push(("shape".into(), shape.into()));
        fixups.push(Fixup {
            pass: "bridge",
            message: format!(
                "{}: `{name}:` hands out {shape} before connecting (shape={shape})",
                chain.side
            ),
        });
    }
    Ok(())
}

/// Pass 6a: `--text-prefix`, `--binary-prefix`, `--base64`, `--base64-text` put
/// `typeprefix:` over each WebSocket (under connector overlays).
fn insert_type_prefix(chain: &mut Chain, opts: &PlanOptions, fixups: &mut Vec<Fixup>) {
    let wanted = opts.type_prefix_given;
    let has_ws = chain
        .nodes
        .iter()
        .any(|n| matches!(n.kind.name, "ws-c" | "ws-upgrade"));
    if !wanted || !has_ws || chain.nodes.iter().any(|n| n.kind.name == "typeprefix") {
        return;
    }
    let at = chain
        .nodes
        .iter()
        .position(|n| n.kind.role != Role::ConnectorOverlay)
        .unwrap_or(0);
    let mut node = PlanNode::new(registry::kind("typeprefix"), "", Origin::Inserted);
    fill_node_from_flags(&mut node, opts);
    fixups.push(Fixup {
        pass: "ws-options",
        message: format!(
            "{}: inserted `{}:` over the WebSocket (prefix/base64 options)",
            chain.side,
            node.display_element()
        ),
    });
    chain.nodes.insert(at, node);
}

/// Pass 6a': `--compress-*` / `--uncompress-*` put `compress:` right over each WebSocket
/// (so that `typeprefix:`, inserted next, sees the uncompressed messages).
fn insert_compression(chain: &mut Chain, opts: &PlanOptions, fixups: &mut Vec<Fixup>) {
    if !opts.compression_given || chain.nodes.iter().any(|n| n.kind.name == "compress") {
        return;
    }
    let Some(at) = chain
        .nodes
        .iter()
        .position(|n| matches!(n.kind.name, "ws-c" | "ws-upgrade"))
    else {
        return;
    };
    let mut node = PlanNode::new(registry::kind("compress"), "", Origin::Inserted);
    fill_node_from_flags(&mut node, opts);
    fixups.push(Fixup {
        pass: "ws-options",
        message: format!(
            "{}: inserted `{}:` over the WebSocket (compression options)",
            chain.side,
            node.display_element()
        ),
    });
    chain.nodes.insert(at, node);
}

/// Pass 6b: `--jsonrpc` puts `jsonrpc:` outermost over the stdio side.
fn insert_jsonrpc(
    left: &mut Chain,
    right: &mut Chain,
    opts: &PlanOptions,
    fixups: &mut Vec<Fixup>,
) -> Result<(), Error> {
    if !opts.jsonrpc {
        return Ok(());
    }
    let chain = if left.leaf().kind.name == "stdio" {
        left
    } else if right.leaf().kind.name == "stdio" {
        right
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
    if chain.nodes.iter().any(|n| n.kind.name == "jsonrpc") {
        return Ok(());
    }
    let mut node = PlanNode::new(registry::kind("jsonrpc"), "", Origin::Inserted);
    fill_node_from_flags(&mut node, opts);
    fixups.push(Fixup {
        pass: "jsonrpc",
        message: format!(
            "{}: inserted `{}:` (--jsonrpc: stdin lines become JSON-RPC requests)",
            chain.side,
            node.display_element()
        ),
    });
    chain.nodes.insert(0, node);
    Ok(())
}

/// Pass 6: `-p` / `-P` texts become a `preamble:` node placed under every connector overlay
/// (so it runs on each new inner connection) and under an inserted codec (so the texts are
/// written as they are, without a line terminator).
fn insert_preamble(chain: &mut Chain, texts: &[String], fixups: &mut Vec<Fixup>) {
    if texts.is_empty() {
        return;
    }
    let at = chain
        .nodes
        .iter()
        .position(|n| {
            let inserted_codec =
                n.origin == Origin::Inserted && matches!(n.kind.name, "lines" | "chunks");
            n.kind.role != Role::ConnectorOverlay && !inserted_codec
        })
        .unwrap_or(chain.nodes.len() - 1);
    let mut node = PlanNode::new(registry::kind("preamble"), "", Origin::Inserted);
    for t in texts {
        node = node.with_param("text", t.clone());
    }
    fixups.push(Fixup {
        pass: "preamble",
        message: format!(
            "{}: inserted `{}:` ({}: sent first on every new connection)",
            chain.side,
            node.display_element(),
            if chain.side == Side::Right {
                "-p"
            } else {
                "-P"
            }
        ),
    });
    chain.nodes.insert(at, node);
}

/// Span helper for checks: the user's span of a node, or the whole specifier.
pub(crate) fn node_span(chain: &Chain, node: &PlanNode) -> Span {
    node.origin
        .span()
        .unwrap_or(Span::new(0, chain.source.len()))
}
