//! `threadkit`: run a shell command over many inputs, GNU-parallel style, on threadkit's batch
//! runner.
//!
//! The shape of `main` is: arguments ([`args`]) -> inputs ([`inputs`]) and a command template
//! ([`template`]) -> a job plan -> the batch runner ([`run`], processes in [`job`], output in
//! [`output`], logs in [`joblog`]) -> an exit code. Errors are `anyhow` here and only here; any
//! error before the first job starts (a bad flag, an unreadable input file, a journal of
//! another command) is a message on stderr and exit code 255, with nothing started.
//!
//! Exit codes (GNU parallel's): 0 when every job succeeded (or a `--halt success=` condition was
//! met), 1-100 the number of failed jobs, 101 for more than 100, 130 after Ctrl-C, 255 for
//! other errors. See docs/cli.md.

mod args;
mod bytes;
mod inputs;
mod job;
mod joblog;
mod output;
mod quote;
mod run;
mod template;

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::Parser;
use threadkit::batch::Journal;

use crate::args::Args;
use crate::inputs::{Inputs, Separator};
use crate::job::Limits;
use crate::output::Printer;
use crate::run::{HaltSpec, JobInput, Keyer, Plan};
use crate::template::Template;

/// Exit code for errors other than failed jobs (GNU parallel's).
const EXIT_ERROR: i32 = 255;

fn main() {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                e.exit();
            }
            let _ = e.print();
            std::process::exit(EXIT_ERROR);
        }
    };
    let code = match try_main(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("threadkit: {err:#}");
            EXIT_ERROR
        }
    };
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}

/// Jobs from the combined inputs; a read error ends the jobs and is kept for the exit code.
struct Jobs {
    inputs: Inputs,
    keyer: Keyer,
    error: Arc<Mutex<Option<anyhow::Error>>>,
}

impl Iterator for Jobs {
    type Item = JobInput;

    fn next(&mut self) -> Option<JobInput> {
        match self.inputs.next()? {
            Ok(args) => Some(self.keyer.job(args)),
            Err(e) => {
                *self.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inputs.size_hint()
    }
}

fn try_main(args: Args) -> anyhow::Result<i32> {
    let cl = args.command_line()?;
    let sep = Separator(args.separator()?);
    let slots = args.job_slots()?;
    let halt = match &args.halt {
        Some(h) => HaltSpec::parse(h)?,
        None => HaltSpec::Never,
    };
    let template =
        Template::parse(&cl.words, args.quote, cl.sources.len()).map_err(anyhow::Error::msg)?;
    let reads_stdin = cl
        .sources
        .iter()
        .any(|s| matches!(s, inputs::SourceSpec::File(p) if p.as_os_str() == "-"));
    if reads_stdin && std::io::stdin().is_terminal() && !args.dry_run {
        eprintln!("threadkit: reading inputs from the terminal (end with Ctrl-D; see --help for ::: and ::::)");
    }
    let inputs = Inputs::open(&cl.sources, sep, args.link)?;

    if args.dry_run {
        return dry_run(inputs, &template);
    }

    let resuming = args.resume || args.resume_failed;
    let journal = match &args.journal {
        None => None,
        Some(path) => {
            let id = journal_id(&cl.words, args.quote);
            let j =
                Journal::open(path, &id).with_context(|| "cannot use the journal (--journal)")?;
            let counts = j.counts().context("cannot read the journal")?;
            if !resuming && counts.done + counts.failed > 0 {
                anyhow::bail!(
                    "journal {} already records {} finished jobs ({} failed): use --resume to skip them, \
                     --resume-failed to skip the successful ones and rerun the failed ones, or remove the file",
                    path.display(),
                    counts.done + counts.failed,
                    counts.failed
                );
            }
            Some((j, args.resume_failed))
        }
    };
    let joblog = args
        .joblog
        .as_deref()
        .map(|p| joblog::JobLog::open(p, resuming))
        .transpose()?;
    let results = args
        .results
        .as_deref()
        .map(|p| joblog::Results::open(p, resuming))
        .transpose()?;
    let total = inputs.size_hint().1.map(|n| n as u64);
    let plan = Plan {
        template,
        slots,
        keep_order: args.keep_order,
        line_buffer: args.line_buffer,
        limits: Limits {
            // GNU parallel's `--timeout 0`: no timeout.
            timeout: args.timeout.filter(|t| !t.is_zero()),
            grace: args.term_grace,
        },
        retries: args.retries,
        halt,
        delay: args.delay,
        progress: args.bar || args.eta,
        trace: args.trace,
        printer: Printer::new(args.tag),
        joblog,
        results,
        total,
        journal,
    };
    let error = Arc::new(Mutex::new(None));
    let jobs = Jobs {
        inputs,
        keyer: Keyer::new(args.journal.is_some()),
        error: error.clone(),
    };
    let outcome = run::run(plan, jobs)?;
    if let Some(e) = error.lock().unwrap_or_else(|p| p.into_inner()).take() {
        eprintln!("threadkit: {e:#}");
        return Ok(EXIT_ERROR);
    }
    Ok(outcome.exit_code(halt))
}

/// The journal's batch id: the command, so a journal made for another command is refused. A
/// word that is not UTF-8 is written as [`bytes::Bytes`] JSON, so no two commands share an id.
fn journal_id(words: &[Vec<u8>], quote: bool) -> String {
    let mut id = String::from("threadkit:");
    for w in words {
        id.push(' ');
        match std::str::from_utf8(w) {
            Ok(w) => id.push_str(w),
            Err(_) => id.push_str(&serde_json::to_string(&bytes::Bytes(w)).unwrap_or_default()),
        }
    }
    if quote {
        id.push_str(" (-q)");
    }
    id
}

/// `--dry-run`: print each command line, in order, and run nothing (streamed: bounded memory).
fn dry_run(inputs: Inputs, template: &Template) -> anyhow::Result<i32> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    for (seq, args) in inputs.enumerate() {
        let args = args?;
        let line = template.render(&args, seq as u64 + 1, 1);
        if out
            .write_all(&line)
            .and_then(|()| out.write_all(b"\n"))
            .is_err()
        {
            return Ok(0); // stdout closed (e.g. `| head`): stop quietly.
        }
    }
    let _ = out.flush();
    Ok(0)
}
