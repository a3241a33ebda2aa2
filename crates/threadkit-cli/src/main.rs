//! `threadkit`: run a shell command over many inputs, GNU-parallel style, on threadkit's batch
//! engine.
//!
//! The runner itself lands with the CLI issue; until then the binary parses its arguments, prints
//! its help, and refuses to run jobs with exit code 255 (GNU parallel's code for "other errors")
//! rather than pretending to.

use clap::Parser;

/// Run COMMAND once per input, in parallel, GNU-parallel style.
///
/// Status: the job runner is not built yet; this binary only prints its help.
#[derive(Debug, Parser)]
#[command(name = "threadkit", version, about, long_about = None)]
struct Args {
    /// Number of jobs to run at once (N, N%, or 0 for as many as possible).
    #[arg(short = 'j', long = "jobs", value_name = "N")]
    jobs: Option<String>,

    /// The command template and its input sources (`::: a b c`, `:::: FILE`).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<String>,
}

fn main() {
    let args = Args::parse();
    let _ = args.jobs;
    if args.command.is_empty() {
        use clap::CommandFactory;
        let _ = Args::command().print_help();
        return;
    }
    eprintln!("threadkit: running jobs is not implemented yet (see `threadkit --help`)");
    std::process::exit(255);
}
