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
    for chain in [&plan.left, &plan.right] {
        if let Some(w) = reconnect_outside_reuser(chain) {
            plan.warnings.push(w);
        }
    }
    Ok(())
}

/// `autoreconnect:reuse:…` reconnects each client's view separately; the usual order is
/// `reuse:autoreconnect:…`, one shared connection that heals itself.
fn reconnect_outside_reuser(chain: &Chain) -> Option<String> {
    let pos = |names: &[&str]| {
        chain
            .nodes
            .iter()
            .position(|n| names.contains(&n.kind.name))
    };
    let reconnect = pos(&["autoreconnect"])?;
    let reuser = pos(&["broadcast", "reuse-raw"])?;
    (reconnect < reuser).then(|| {
        format!(
            "{}: `autoreconnect:` outside `{}:` reconnects to the shared connection, not the real one; \
             `{}:autoreconnect:…` is usually meant",
            chain.side, chain.nodes[reuser].kind.name, chain.nodes[reuser].kind.name
        )
    })
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
    chain.leaf().kind.name == "stdio"
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

fn unused_flags(plan: &mut Plan, opts: &PlanOptions) {
    for flag in opts.flags.keys() {
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
