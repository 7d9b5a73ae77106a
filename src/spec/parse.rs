//! The nom grammar of `grammar/specifier.ebnf`, one function per rule.
//!
//! Spans are byte offsets into the whole specifier, computed from slice positions.

use super::ast::{Leaf, Node, Param, Span, Spec};
use crate::error::SpecProblem;
use crate::kinds;
use crate::registry::Role;
use nom::branch::alt;
use nom::bytes::complete::{escaped_transform, is_not, tag, take_while1};
use nom::character::complete::{char, none_of};
use nom::combinator::{opt, value};
use nom::multi::separated_list1;
use nom::sequence::{delimited, separated_pair};
use nom::{IResult, Parser};

/// Parses one specifier string into its syntax tree.
///
/// The registry is consulted only for names: to know whether a name is an overlay (the chain
/// goes on) or a leaf (the rest is its verbatim argument).
pub fn parse_spec(input: &str) -> Result<Spec, SpecProblem> {
    if input.is_empty() {
        return Err(
            SpecProblem::new("websocat::spec::empty", "empty specifier", 0, 0)
                .label("nothing here")
                .help("use `-` for standard input/output, or e.g. `ws://127.0.0.1:8080/`"),
        );
    }
    let mut overlays = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &input[pos..];
        if rest.is_empty() {
            let last: &Node = overlays.last().ok_or_else(|| {
                SpecProblem::new("websocat::spec::empty", "empty specifier", pos, 0)
            })?;
            return Err(SpecProblem::new(
                "websocat::spec::overlay_without_leaf",
                format!("`{}:` needs something to wrap after it", last.name),
                last.span.start,
                last.span.len,
            )
            .label("this overlay has no leaf")
            .help(format!(
                "put an endpoint after it, e.g. `{}:tcp:127.0.0.1:8080` or `{}:-`",
                last.name, last.name
            )));
        }
        if let Some(leaf) = stdio_leaf(rest, pos)? {
            return Ok(Spec { overlays, leaf });
        }
        if let Some(leaf) = url_leaf(rest, pos) {
            return Ok(Spec { overlays, leaf });
        }
        let (node, after) = element(input, pos)?;
        let kind = match kinds::lookup(&node.name) {
            Some(k) => k,
            None => return Err(unknown_kind(input, &node, after)),
        };
        let arg = &input[after..];
        let is_overlay = match kind.role {
            Role::Overlay | Role::ConnectorOverlay => true,
            Role::ListenerAlias => starts_with_subspec(arg),
            Role::Leaf | Role::Listener => false,
        };
        if is_overlay {
            overlays.push(node);
            pos = after;
        } else {
            let mut node = node;
            node.span = Span::new(node.span.start, input.len() - node.span.start);
            return Ok(Spec {
                overlays,
                leaf: Leaf::Kind {
                    node,
                    arg: arg.to_string(),
                    arg_span: Span::new(after, arg.len()),
                },
            });
        }
    }
}

/// `stdio = "-"`; anything else starting with `-` is an error.
fn stdio_leaf(rest: &str, pos: usize) -> Result<Option<Leaf>, SpecProblem> {
    if rest == "-" {
        return Ok(Some(Leaf::Stdio {
            span: Span::new(pos, 1),
        }));
    }
    if rest.starts_with('-') {
        return Err(SpecProblem::new(
            "websocat::spec::bad_stdio",
            "`-` (standard input/output) takes nothing after it",
            pos,
            rest.len(),
        )
        .label("unexpected text")
        .help("write `-` alone; an option here would have to come before the specifiers or be spelled with `--`"));
    }
    Ok(None)
}

/// `url = ("ws" | "wss") "://" rest`.
fn url_leaf(rest: &str, pos: usize) -> Option<Leaf> {
    let lower = rest.get(..6).unwrap_or(rest).to_ascii_lowercase();
    if lower.starts_with("ws://") || lower.starts_with("wss://") {
        return Some(Leaf::Url {
            url: rest.to_string(),
            span: Span::new(pos, rest.len()),
        });
    }
    None
}

/// `name = letter { letter | digit | "-" | "_" }`
fn name(i: &str) -> IResult<&str, &str> {
    take_while1(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_').parse(i)
}

/// `value = quoted | bare` where bare runs to the next `,` or `]`.
fn param_value(i: &str) -> IResult<&str, String> {
    let quoted = delimited(
        char('"'),
        opt(escaped_transform(
            none_of("\\\""),
            '\\',
            alt((value("\\", tag("\\")), value("\"", tag("\"")))),
        )),
        char('"'),
    )
    .map(|s: Option<String>| s.unwrap_or_default());
    let bare = is_not(",]\"").map(|s: &str| s.to_string());
    alt((quoted, bare)).parse(i)
}

/// `param = name "=" value`
fn param(i: &str) -> IResult<&str, (&str, String)> {
    separated_pair(name, char('='), param_value).parse(i)
}

/// `params = "[" param { "," param } "]"`
fn params(i: &str) -> IResult<&str, Vec<(&str, String)>> {
    delimited(char('['), separated_list1(char(','), param), char(']')).parse(i)
}

/// `element = name [ params ] ":"`; returns the node and the offset just after its `:`.
fn element(input: &str, pos: usize) -> Result<(Node, usize), SpecProblem> {
    let rest = &input[pos..];
    let Ok((after_name, nm)) = name(rest) else {
        return Err(not_a_name(input, pos));
    };
    let name_end = pos + nm.len();
    let mut node = Node {
        name: nm.to_string(),
        name_span: Span::new(pos, nm.len()),
        params: Vec::new(),
        span: Span::new(pos, 0),
    };
    let mut cursor = name_end;
    if after_name.starts_with('[') {
        match params(after_name) {
            Ok((after_params, list)) => {
                // Recover each parameter's span by re-scanning the bracket text in order.
                let bracket = &after_name[..after_name.len() - after_params.len()];
                let mut offset = name_end + 1;
                let mut scan = &bracket[1..];
                for (key, value) in list {
                    let consumed = match param(scan) {
                        Ok((r, _)) => scan.len() - r.len(),
                        Err(_) => 0,
                    };
                    node.params.push(Param {
                        key: key.to_string(),
                        value,
                        span: Span::new(offset, consumed),
                    });
                    offset += consumed + 1;
                    scan = scan.get(consumed + 1..).unwrap_or("");
                }
                cursor = name_end + bracket.len();
            }
            Err(_) => {
                let close = after_name.find(']');
                let len = close.map(|c| c + 1).unwrap_or(after_name.len());
                return Err(SpecProblem::new(
                    "websocat::spec::bad_params",
                    format!("malformed parameters after `{nm}`"),
                    name_end,
                    len,
                )
                .label("expected `[key=value,…]`")
                .help("parameters look like `ws-c[uri=/path,protocol=chat]:`; quote values containing `,` or `]` with double quotes"));
            }
        }
    }
    if !input[cursor..].starts_with(':') {
        return Err(missing_colon(input, &node, cursor));
    }
    node.span = Span::new(pos, cursor + 1 - pos);
    Ok((node, cursor + 1))
}

/// True when an argument begins with `knownname:` or `knownname[`, or is `-` or a URL:
/// the rule that makes `ws-l:tcp-l:…` a chain and `ws-l:127.0.0.1:80` an address.
pub fn starts_with_subspec(arg: &str) -> bool {
    if arg == "-" || url_leaf(arg, 0).is_some() {
        return true;
    }
    match name(arg) {
        Ok((after, nm)) => {
            (after.starts_with(':') || after.starts_with('[')) && kinds::lookup(nm).is_some()
        }
        Err(_) => false,
    }
}

fn word_at(input: &str, pos: usize) -> &str {
    let rest = &input[pos..];
    let end = rest.find(':').unwrap_or(rest.len());
    &rest[..end]
}

fn not_a_name(input: &str, pos: usize) -> SpecProblem {
    let rest = &input[pos..];
    if rest.starts_with('[') || rest.parse::<std::net::SocketAddr>().is_ok() {
        return SpecProblem::new(
            "websocat::spec::missing_kind",
            "an address needs a kind in front of it",
            pos,
            rest.len(),
        )
        .label("which kind of endpoint is this?")
        .help(format!(
            "write e.g. `tcp:{rest}` to connect or `tcp-l:{rest}` to listen"
        ));
    }
    let word = word_at(input, pos);
    let len = word
        .chars()
        .next()
        .map(char::len_utf8)
        .unwrap_or(0)
        .max(word.len().min(1));
    SpecProblem::new(
        "websocat::spec::bad_name",
        "expected a specifier kind name such as `tcp`, `ws-l` or `-`",
        pos,
        len,
    )
    .label("unexpected character")
    .help("a specifier looks like `kind:argument`, e.g. `tcp:127.0.0.1:80`; `websocat --help=doc` lists the kinds")
}

fn missing_colon(input: &str, node: &Node, cursor: usize) -> SpecProblem {
    let rest = &input[cursor..];
    if rest.is_empty() {
        if let Some(kind) = kinds::lookup(&node.name) {
            return SpecProblem::new(
                "websocat::spec::missing_colon",
                format!("`{}` must be followed by `:`", node.name),
                node.name_span.start,
                node.name_span.len,
            )
            .label("missing `:` after this")
            .help(format!(
                "write `{}:{}`",
                node.name,
                kind.arg.example_argument()
            ));
        }
        return unknown_kind(input, node, cursor);
    }
    if looks_like_host_port(&input[node.span.start..]) {
        return bare_address(input, node.span.start);
    }
    SpecProblem::new(
        "websocat::spec::bad_name",
        format!(
            "unexpected `{}` after the kind name `{}`",
            rest.chars().next().unwrap_or(' '),
            node.name
        ),
        cursor,
        rest.chars().next().map(char::len_utf8).unwrap_or(0),
    )
    .label("expected `:` or `[`")
}

fn looks_like_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && port.parse::<u16>().is_ok()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        }
        None => false,
    }
}

fn bare_address(input: &str, pos: usize) -> SpecProblem {
    let rest = &input[pos..];
    SpecProblem::new(
        "websocat::spec::missing_kind",
        "an address needs a kind in front of it",
        pos,
        rest.len(),
    )
    .label("which kind of endpoint is this?")
    .help(format!(
        "write e.g. `tcp:{rest}` to connect, `tcp-l:{rest}` to listen, or `ws://{rest}/` for a WebSocket"
    ))
}

fn unknown_kind(input: &str, node: &Node, after: usize) -> SpecProblem {
    let nm = node.name.as_str();
    let start = node.span.start;
    let arg = input.get(after..).unwrap_or("");
    let lower = nm.to_ascii_lowercase();
    if lower == "ws" || lower == "wss" {
        let rest = arg.trim_start_matches('/');
        return SpecProblem::new(
            "websocat::spec::url_without_slashes",
            format!("`{nm}:` is not a kind; WebSocket URLs are written `{lower}://`"),
            start,
            node.span.len,
        )
        .label("missing `//`")
        .help(format!("did you mean `{lower}://{rest}`?"));
    }
    if lower == "http" || lower == "https" {
        return SpecProblem::new(
            "websocat::spec::http_url",
            format!("`{nm}://` URLs are not WebSocket endpoints"),
            start,
            node.span.len,
        )
        .label("use ws:// or wss://")
        .help(if lower == "http" {
            format!("did you mean `ws:{arg}`, or `http:{arg}` for a plain HTTP request?")
        } else {
            format!("did you mean `wss:{arg}`? (`http://` requests are plain HTTP only)")
        });
    }
    if looks_like_host_port(&input[start..]) && nm.chars().any(|c| c == '.') || nm == "localhost" {
        return bare_address(input, start);
    }
    if nm.chars().all(|c| c.is_ascii_digit()) && looks_like_host_port(&input[start..]) {
        return bare_address(input, start);
    }
    let mut p = SpecProblem::new(
        "websocat::spec::unknown_kind",
        format!("unknown specifier kind `{nm}`"),
        node.name_span.start,
        node.name_span.len,
    )
    .label("not a known kind");
    p = match kinds::did_you_mean(nm) {
        Some(s) => p.help(format!("did you mean `{s}:`?")),
        None => p.help("`websocat --help=doc` lists every kind"),
    };
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(s: &str) -> String {
        match parse_spec(s) {
            Ok(spec) => spec.dump_tree(),
            Err(p) => format!("error {} {:?}", p.code, p.span),
        }
    }

    #[test]
    fn leaf_argument_keeps_colons() {
        assert_eq!(
            tree("tcp:127.0.0.1:22"),
            "leaf tcp@0+3 arg \"127.0.0.1:22\"@4+12\n"
        );
    }

    #[test]
    fn ws_l_with_address_is_a_leaf_and_with_subspec_an_overlay() {
        assert_eq!(
            tree("ws-l:[::1]:80"),
            "leaf ws-l@0+4 arg \"[::1]:80\"@5+8\n"
        );
        assert_eq!(
            tree("ws-l:tcp-l:127.0.0.1:80"),
            "overlay ws-l@0+4\nleaf tcp-l@5+5 arg \"127.0.0.1:80\"@11+12\n"
        );
    }

    #[test]
    fn quoted_params_unescape() {
        let spec = parse_spec(r#"ws-c[header="A: b,c",uri=/x]:tcp:h:1"#).unwrap();
        assert_eq!(spec.overlays[0].params[0].value, "A: b,c");
        assert_eq!(spec.overlays[0].params[1].value, "/x");
        assert_eq!(spec.overlays[0].params[1].span, Span::new(21, 6));
    }

    #[test]
    fn overlay_without_leaf_is_an_error() {
        assert_eq!(
            tree("broadcast:"),
            "error websocat::spec::overlay_without_leaf (0, 10)"
        );
    }
}
