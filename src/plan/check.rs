//! Pass 6: checks over the finished plan. Errors stop; warnings are printed as advice.

use super::ir::{Chain, Plan, PlanOptions};
use super::passes::node_span;
use crate::error::{Error, PlanError, SpecProblem};
use crate::registry::Role;

/// Runs every check, adding warnings to the plan or failing on errors.
pub fn check(plan: &mut Plan, opts: &PlanOptions) -> Result<(), Error> {
    for chain in [&plan.left, &plan.right] {
        connector_overlay_over_listener(chain)?;
    }
    stdio_twice(plan)?;
    if plan.right.is_listener() {
        plan.warnings.push(format!(
            "the right side `{}` listens: each connection on the left waits for one incoming connection there; usually the listener goes on the left",
            plan.right.source
        ));
    }
    if plan.copy.unidirectional && plan.copy.unidirectional_reverse {
        return Err(PlanError::new(
            "-u and -U together disable both directions",
            Some("use -u to copy only left to right, or -U for right to left".into()),
        )
        .into());
    }
    unused_flags(plan, opts);
    exec_name_with_space(plan);
    Ok(())
}

/// `exec:prog arg` runs a program literally named `prog arg`: probably not what was meant.
fn exec_name_with_space(plan: &mut Plan) {
    for chain in [&plan.left, &plan.right] {
        let leaf = chain.leaf();
        if leaf.kind.name == "exec" && leaf.arg.contains(' ') && leaf.param("args").is_none() {
            plan.warnings.push(format!(
                "`exec:{}` runs a program whose name contains a space; pass arguments with --exec-args (last on the command line) or use `sh-c:`",
                leaf.arg
            ));
        }
    }
}

fn connector_overlay_over_listener(chain: &Chain) -> Result<(), Error> {
    if !chain.is_listener() {
        return Ok(());
    }
    if let Some(node) = chain
        .nodes
        .iter()
        .find(|n| n.kind.role == Role::ConnectorOverlay)
    {
        let span = node_span(chain, node);
        return Err(SpecProblem::new(
            "websocat::plan::overlay_over_listener",
            format!(
                "`{}:` manages outgoing connections and cannot wrap a listener",
                node.kind.name
            ),
            span.start,
            span.len,
        )
        .label("cannot go over a listener")
        .help("put it on the other side, which connects once per incoming connection")
        .into_error(chain.side, &chain.source)
        .into());
    }
    Ok(())
}

fn uses_stdio(chain: &Chain) -> bool {
    super::passes::is_stdio_kind(chain.leaf().kind.name)
}

fn stdio_twice(plan: &Plan) -> Result<(), Error> {
    if uses_stdio(&plan.left) && uses_stdio(&plan.right) && !plan.copy.unidirectional {
        return Err(PlanError::new(
            "standard input/output is used on both sides",
            Some("`- -` alone copies stdin to stdout; otherwise replace one side".into()),
        )
        .into());
    }
    Ok(())
}

/// Flags that also have a global meaning, so no node taking them is not worth a warning.
const GLOBAL_FLAGS: &[&str] = &["--binary", "--stdout-announce-listening-ports"];

fn unused_flags(plan: &mut Plan, opts: &PlanOptions) {
    for flag in opts.flags.keys().filter(|f| !GLOBAL_FLAGS.contains(f)) {
        let used = [&plan.left, &plan.right].iter().any(|c| {
            c.nodes
                .iter()
                .any(|n| n.kind.params.iter().any(|p| p.flag == Some(flag)))
        });
        if !used {
            plan.warnings.push(format!(
                "{flag} has no effect: no node of this command line takes it"
            ));
        }
    }
}
