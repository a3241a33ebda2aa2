//! Every comparison, grouped by the module of threadkit it measures.

use crate::harness::{Ctx, Line};

mod batch;
mod cli;
mod dist;
mod executor;
mod process;
mod queue;
mod sync;
mod thread;

pub(crate) use process::pool_probe;
pub(crate) use queue::probe;

/// One named comparison.
pub(crate) struct Bench {
    /// The name given on the command line and in each JSON line.
    pub(crate) name: &'static str,
    /// One line for `--list`.
    pub(crate) about: &'static str,
    /// Runs the comparison, returning one line per peer.
    pub(crate) run: fn(&Ctx) -> Vec<Line>,
}

/// All comparisons, in the order `all` runs them.
pub(crate) fn all() -> Vec<Bench> {
    let mut v = Vec::new();
    v.extend(thread::benches());
    v.extend(sync::benches());
    v.extend(queue::benches());
    v.extend(executor::benches());
    v.extend(batch::benches());
    v.extend(process::benches());
    v.extend(cli::benches());
    v.extend(dist::benches());
    v
}
