//! `--dump-spec`: the plan as a command line that plans back to the same plan, and as JSON.

use super::ir::{session_args, Chain, Plan};
use serde_json::json;

/// Quotes an argument for a POSIX shell when needed.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '_' | '.' | '/' | ':' | '@' | '%' | '+' | ',' | '=')
        });
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The options of the plan that are not inside the chains, as CLI arguments.
pub fn global_args(plan: &Plan) -> Vec<String> {
    session_args(&plan.copy, &plan.serve)
}

/// The canonical argument vector (without the program name) for this plan.
pub fn canonical_args(plan: &Plan) -> Vec<String> {
    let mut a = global_args(plan);
    a.push(plan.left.to_spec_string());
    a.push(plan.right.to_spec_string());
    a
}

/// Human-readable dump: the command line, then one line per automatic change and warning.
pub fn dump_text(plan: &Plan) -> String {
    let mut out = String::from("websocat");
    for arg in canonical_args(plan) {
        out.push(' ');
        out.push_str(&shell_quote(&arg));
    }
    out.push('\n');
    for f in &plan.fixups {
        out.push_str(&format!("# {}: {}\n", f.pass, f.message));
    }
    for w in &plan.warnings {
        out.push_str(&format!("# warning: {w}\n"));
    }
    out
}

fn chain_json(chain: &Chain) -> serde_json::Value {
    json!({
        "spec": chain.to_spec_string(),
        "nodes": chain.nodes.iter().map(|n| json!({
            "kind": n.kind.name,
            "role": n.kind.role,
            "params": n.params.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            "arg": n.arg,
            "inserted": matches!(n.origin, super::ir::Origin::Inserted),
        })).collect::<Vec<_>>(),
    })
}

/// Machine-readable dump for tools.
pub fn dump_json(plan: &Plan) -> String {
    let v = json!({
        "args": canonical_args(plan),
        "left": chain_json(&plan.left),
        "right": chain_json(&plan.right),
        "fixups": plan.fixups,
        "warnings": plan.warnings,
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}
