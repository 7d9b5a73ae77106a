//! The syntax tree of one specifier: overlays outermost-first, then one leaf.

use std::fmt;

/// A byte range inside the specifier string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Span {
    /// Offset of the first byte.
    pub start: usize,
    /// Length in bytes.
    pub len: usize,
}

impl Span {
    /// The span `start..start+len`.
    pub fn new(start: usize, len: usize) -> Self {
        Span { start, len }
    }
}

/// One `key=value` node parameter, as in `ws-c[uri=/x]:`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Param {
    /// Parameter name.
    pub key: String,
    /// Parameter value (unquoted).
    pub value: String,
    /// Span of the whole `key=value`.
    pub span: Span,
}

/// A named element of a chain: an overlay, or a leaf with its verbatim argument.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Node {
    /// The name exactly as written (synonyms are resolved by the planner).
    pub name: String,
    /// Span of the name.
    pub name_span: Span,
    /// Bracketed parameters.
    pub params: Vec<Param>,
    /// Span of the whole element, name to the end of its argument or its `:`.
    pub span: Span,
}

/// The innermost element of a specifier.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "leaf", rename_all = "lowercase")]
pub enum Leaf {
    /// `-`: standard input and output.
    Stdio {
        /// Span of the `-`.
        span: Span,
    },
    /// `ws://…` or `wss://…`.
    Url {
        /// The whole URL.
        url: String,
        /// Span of the URL.
        span: Span,
    },
    /// `name[params]:argument`.
    Kind {
        /// Name and parameters.
        node: Node,
        /// The verbatim rest of the specifier after the `:`.
        arg: String,
        /// Span of the argument.
        arg_span: Span,
    },
}

impl Leaf {
    /// Span of the whole leaf.
    pub fn span(&self) -> Span {
        match self {
            Leaf::Stdio { span } | Leaf::Url { span, .. } => *span,
            Leaf::Kind { node, .. } => node.span,
        }
    }
}

/// A parsed specifier: `{ overlay ":" } leaf`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Spec {
    /// Overlays, outermost first.
    pub overlays: Vec<Node>,
    /// The leaf.
    pub leaf: Leaf,
}

/// Quotes a parameter value when it would not read back verbatim.
pub fn quote_param_value(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| !matches!(c, ',' | ']' | '[' | '"' | '\\' | '=') && !c.is_whitespace());
    if plain {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn write_params(f: &mut fmt::Formatter<'_>, params: &[Param]) -> fmt::Result {
    if params.is_empty() {
        return Ok(());
    }
    f.write_str("[")?;
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{}={}", p.key, quote_param_value(&p.value))?;
    }
    f.write_str("]")
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for o in &self.overlays {
            f.write_str(&o.name)?;
            write_params(f, &o.params)?;
            f.write_str(":")?;
        }
        match &self.leaf {
            Leaf::Stdio { .. } => f.write_str("-"),
            Leaf::Url { url, .. } => f.write_str(url),
            Leaf::Kind { node, arg, .. } => {
                f.write_str(&node.name)?;
                write_params(f, &node.params)?;
                write!(f, ":{arg}")
            }
        }
    }
}

impl Spec {
    /// A copy with every span zeroed, for comparing trees parsed from different strings.
    pub fn without_spans(&self) -> Spec {
        fn node(n: &Node) -> Node {
            Node {
                name: n.name.clone(),
                name_span: Span::default(),
                params: n
                    .params
                    .iter()
                    .map(|p| Param {
                        key: p.key.clone(),
                        value: p.value.clone(),
                        span: Span::default(),
                    })
                    .collect(),
                span: Span::default(),
            }
        }
        Spec {
            overlays: self.overlays.iter().map(node).collect(),
            leaf: match &self.leaf {
                Leaf::Stdio { .. } => Leaf::Stdio {
                    span: Span::default(),
                },
                Leaf::Url { url, .. } => Leaf::Url {
                    url: url.clone(),
                    span: Span::default(),
                },
                Leaf::Kind { node: n, arg, .. } => Leaf::Kind {
                    node: node(n),
                    arg: arg.clone(),
                    arg_span: Span::default(),
                },
            },
        }
    }

    /// A compact one-line tree used by the grammar case files.
    pub fn dump_tree(&self) -> String {
        let mut out = String::new();
        let params = |ps: &[Param]| -> String {
            if ps.is_empty() {
                String::new()
            } else {
                let inner: Vec<String> = ps
                    .iter()
                    .map(|p| format!("{}={:?}@{}+{}", p.key, p.value, p.span.start, p.span.len))
                    .collect();
                format!("[{}]", inner.join(","))
            }
        };
        for o in &self.overlays {
            out.push_str(&format!(
                "overlay {}@{}+{}{}\n",
                o.name,
                o.name_span.start,
                o.name_span.len,
                params(&o.params)
            ));
        }
        match &self.leaf {
            Leaf::Stdio { span } => out.push_str(&format!("stdio@{}+{}\n", span.start, span.len)),
            Leaf::Url { url, span } => {
                out.push_str(&format!("url {:?}@{}+{}\n", url, span.start, span.len))
            }
            Leaf::Kind {
                node,
                arg,
                arg_span,
            } => out.push_str(&format!(
                "leaf {}@{}+{}{} arg {:?}@{}+{}\n",
                node.name,
                node.name_span.start,
                node.name_span.len,
                params(&node.params),
                arg,
                arg_span.start,
                arg_span.len
            )),
        }
        out
    }
}
