//! The planner: turns two parsed specifiers and the options into a checked [`Plan`].
//!
//! Architecture invariants: no I/O happens here; every automatic change is recorded as a
//! [`Fixup`] and shown by `--dump-spec`; the dumped command line plans back to the same plan.

pub mod check;
pub mod dump;
pub mod ir;
pub mod passes;
pub mod proxy;
pub mod proxy_env;
pub mod url;

pub use ir::{
    Chain, CopyOptions, DataMode, Fixup, Origin, Plan, PlanNode, PlanOptions, ServeOptions,
};
pub use passes::plan;
pub use proxy_env::ProxyEnv;
