//! `threadkit`: run a shell command over many inputs, GNU-parallel style, on threadkit's batch
//! runner.
//!
//! `main` only parses, plans, dispatches and maps errors to exit codes, in ripgrep's shape:
//! 1. clap parses the arguments ([`flags::args`]);
//! 2. [`Plan::from_args`] resolves and validates them and opens what the run will use
//!    (inputs, the journal, the logs): every error of the command line is found here, before
//!    any job starts, and is a message on stderr and exit code 255 with nothing started;
//! 3. the plan is dispatched: `--dry-run` prints the command lines ([`dry_run`]), a real run
//!    goes to the batch runner ([`run`]: processes in [`job`], output in [`output`], logs in
//!    [`joblog`]);
//! 4. how the run ended becomes the exit code ([`exit`], GNU parallel's codes; see
//!    docs/cli.md).
//!
//! Errors are `anyhow` here and only here.

mod bytes;
mod dburl;
mod dry_run;
mod exit;
mod flags;
mod inputs;
mod job;
mod joblog;
mod output;
mod pack;
mod pipe;
mod quote;
mod run;
mod spill;
mod template;
mod values;

use std::io::Write;

use clap::Parser;

use crate::flags::{Args, Mode, Plan};

fn main() {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                e.exit();
            }
            let _ = e.print();
            std::process::exit(exit::ERROR);
        }
    };
    let code = match args.sqlworker.clone() {
        Some(url) => run::sql::worker(&args, &url),
        None => Plan::from_args(args).and_then(dispatch),
    };
    let code = match code {
        Ok(code) => code,
        Err(err) => {
            eprintln!("threadkit: {err:#}");
            exit::ERROR
        }
    };
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}

/// Carry out `plan`; the exit code.
fn dispatch(plan: Plan) -> anyhow::Result<i32> {
    match plan.mode {
        Mode::DryRun => dry_run::print(plan.inputs, &plan.template),
        Mode::Run(run) => {
            let halt = run.halt;
            let outcome = run::run(plan.template, plan.inputs, *run)?;
            if let Some(e) = &outcome.input_error {
                eprintln!("threadkit: {e}");
            }
            Ok(exit::code(&outcome, halt))
        }
    }
}
