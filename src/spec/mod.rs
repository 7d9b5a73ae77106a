//! The specifier language: AST types, the nom grammar and typed leaf arguments.
//!
//! Architecture invariant: nothing here does I/O or resolves names; parsing is a pure function
//! of the string and the registry's list of names.

pub mod args;
pub mod ast;
pub mod parse;

pub use ast::{Leaf, Node, Param, Span, Spec};
pub use parse::parse_spec;
