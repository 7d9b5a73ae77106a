//! Error types for every stage: the specifier grammar, the planner and the run.
//!
//! Grammar and planner errors are [`miette::Diagnostic`]s that carry the specifier text and a
//! label on the exact characters that are wrong. Run errors say which side, which kind and which
//! address failed.

use miette::{Diagnostic, NamedSource, SourceSpan};
use std::fmt;
use thiserror::Error;

/// Which command-line specifier an error or a node belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The first positional argument.
    Left,
    /// The second positional argument.
    Right,
}

impl Side {
    /// The opposite side.
    pub fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Left => "left side",
            Side::Right => "right side",
        })
    }
}

/// A problem found while parsing or planning one specifier, with the offending span.
#[derive(Debug, Error, Diagnostic)]
#[error("{message}")]
pub struct SpecError {
    /// One-line description of what is wrong.
    pub message: String,
    /// Stable error code, e.g. `websocat::spec::unknown_kind`.
    #[diagnostic(code)]
    pub code: &'static str,
    /// The specifier text the span points into.
    #[source_code]
    pub src: NamedSource<String>,
    /// The exact characters that are wrong.
    #[label("{label}")]
    pub span: SourceSpan,
    /// Text shown under the label.
    pub label: String,
    /// A suggestion, when we can guess what was meant.
    #[help]
    pub help: Option<String>,
}

/// Builder for [`SpecError`]: the grammar and the planner create errors before they know the
/// display name of the specifier, so the source is attached afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecProblem {
    /// One-line description of what is wrong.
    pub message: String,
    /// Stable error code.
    pub code: &'static str,
    /// Byte range within the specifier.
    pub span: (usize, usize),
    /// Text shown under the label.
    pub label: String,
    /// Optional suggestion.
    pub help: Option<String>,
}

impl SpecProblem {
    /// A problem at `start..start+len` with the given code and message.
    pub fn new(code: &'static str, message: impl Into<String>, start: usize, len: usize) -> Self {
        let message = message.into();
        SpecProblem {
            label: "here".to_string(),
            message,
            code,
            span: (start, len),
            help: None,
        }
    }

    /// Sets the label text.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Sets the help text.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Shifts the span right by `offset` bytes (for problems found in a sub-string).
    pub fn shifted(mut self, offset: usize) -> Self {
        self.span.0 += offset;
        self
    }

    /// Attaches the specifier text, giving a renderable diagnostic.
    pub fn into_error(self, side: Side, source: &str) -> SpecError {
        let name = match side {
            Side::Left => "left specifier",
            Side::Right => "right specifier",
        };
        let mut start = self.span.0.min(source.len());
        let mut len = self.span.1.min(source.len() - start);
        // miette draws no label for an empty span at the very end of the text (e.g. the
        // missing port of `tcp:host:`); point at the last character instead.
        if len == 0 && start == source.len() {
            if let Some(last) = source.chars().next_back() {
                start -= last.len_utf8();
                len = last.len_utf8();
            }
        }
        SpecError {
            message: self.message,
            code: self.code,
            src: NamedSource::new(name, source.to_string()),
            span: SourceSpan::new(start.into(), len),
            label: self.label,
            help: self.help,
        }
    }
}

/// A problem with the combination of the two specifiers and the options.
#[derive(Debug, Error, Diagnostic)]
#[error("{message}")]
#[diagnostic(code(websocat::plan))]
pub struct PlanError {
    /// One-line description.
    pub message: String,
    /// Optional suggestion.
    #[help]
    pub help: Option<String>,
}

impl PlanError {
    /// A plan error with a message and optional help.
    pub fn new(message: impl Into<String>, help: Option<String>) -> Self {
        PlanError {
            message: message.into(),
            help,
        }
    }
}

/// Any error the command can report: the binary renders it with miette.
#[derive(Debug, Error, Diagnostic)]
pub enum Error {
    /// A specifier did not parse or did not make sense.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Spec(Box<SpecError>),
    /// The pair of specifiers and options cannot work together.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Plan(#[from] PlanError),
    /// Something failed while running.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Run(#[from] RunError),
    /// Bad command-line usage that clap did not catch (exit code 2); never a run-time failure.
    #[error("{0}")]
    #[diagnostic(code(websocat::usage))]
    Usage(String),
}

impl From<SpecError> for Error {
    fn from(e: SpecError) -> Self {
        Error::Spec(Box::new(e))
    }
}

/// A failure while running a session, with the side, the node and the address involved.
#[derive(Debug, Error, Diagnostic)]
#[error("{what} {node} ({side}): {cause}")]
#[diagnostic(code(websocat::run))]
pub struct RunError {
    /// What we were doing, e.g. "connecting", "listening on", "serving".
    pub what: &'static str,
    /// The node as the user would write it, e.g. `tcp:127.0.0.1:80`.
    pub node: String,
    /// Which side of the command line.
    pub side: Side,
    /// The underlying failure (already part of the message).
    pub cause: std::io::Error,
}

impl RunError {
    /// A failure of our own while running (a connection task that panicked, a limiter that
    /// closed): reported like any run-time failure, with exit code 1, never as bad usage.
    pub fn internal(
        what: &'static str,
        node: impl Into<String>,
        side: Side,
        detail: impl fmt::Display,
    ) -> Self {
        RunError {
            what,
            node: node.into(),
            side,
            cause: std::io::Error::other(format!("internal error: {detail}")),
        }
    }
}
