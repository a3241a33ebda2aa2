//! From the command line to a [`Plan`], in ripgrep's two steps (its `crates/core/flags`):
//!
//! 1. [`args`]: the low-level arguments, close to the flags: clap parses the options, and the
//!    GNU parallel-style tail `COMMAND... [::: ARGS... | :::: FILES...]...` is split by hand;
//!    values are checked for their form only (a number, a duration).
//! 2. [`halt`]: `--halt`'s little language, parsed into a [`HaltSpec`].
//! 3. [`plan`]: [`Plan::from_args`] resolves and validates everything a run needs and opens what
//!    it will use (input files, the journal, the joblog, the results file), so that every error
//!    of the command line is found before any job starts. `main` then only dispatches the plan.

pub(crate) mod args;
pub(crate) mod halt;
pub(crate) mod plan;

pub(crate) use args::Args;
pub(crate) use halt::HaltSpec;
pub(crate) use plan::{worker_limits, Mode, OutputMode, Plan, RunPlan, SqlPlan};
