//! [`Plan::from_args`]: the parsed arguments turned into everything one invocation needs,
//! validated and resolved (ripgrep's "high-level arguments").
//!
//! What is resolved here, in this order (the first error wins, nothing has run yet): the
//! command line and its sources, the record separator, the job slots (after raising the
//! open-file limit), `--halt`, the command template, the opened input sources; then, unless
//! `--dry-run`, the journal and its policy (refused when it holds finished jobs and no
//! `--resume*` was given), the joblog and results files (appended to when resuming), the job
//! slots the open-file limit allows, and the output mode.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use threadkit::batch::Journal;

use crate::bytes;
use crate::dburl::DbUrl;
use crate::flags::args::Args;
use crate::flags::halt::HaltSpec;
use crate::inputs::{Inputs, Separator, SourceSpec};
use crate::job::{self, Discard, Limits};
use crate::joblog::{JobLog, Results};
use crate::output::Printer;
use crate::pack::{LineLimit, Packer, Packing};
use crate::pipe::{self as blocks, Blocks, Cut, Parts, Records, Splitter};
use crate::template::{Shape, Template};

/// Everything one invocation needs: made by [`Plan::from_args`], run by `main`.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The command, with its replacement strings.
    pub(crate) template: Template,
    /// The input sources, opened and combined.
    pub(crate) inputs: Inputs,
    /// What to do with each input.
    pub(crate) mode: Mode,
}

/// What an invocation does.
#[derive(Debug)]
pub(crate) enum Mode {
    /// `--dry-run`: print each command line, run nothing.
    DryRun,
    /// Run the jobs.
    Run(Box<RunPlan>),
}

/// How the jobs run: every flag of a real run, resolved.
#[derive(Debug)]
pub(crate) struct RunPlan {
    /// Jobs at once (`-j`, capped by the open-file limit).
    pub(crate) slots: usize,
    /// How job output reaches stdout.
    pub(crate) output: OutputMode,
    /// Where job output goes (`--tag` is its setting).
    pub(crate) printer: Printer,
    /// `--timeout`, `--term-grace`.
    pub(crate) limits: Limits,
    /// `--retries` (GNU parallel's meaning: attempts in all; 0 and 1 mean once).
    pub(crate) retries: u32,
    /// `--halt`.
    pub(crate) halt: HaltSpec,
    /// `--delay`.
    pub(crate) delay: Option<Duration>,
    /// `--bar` or `--eta`.
    pub(crate) progress: bool,
    /// `-t`.
    pub(crate) trace: bool,
    /// `--joblog`, opened.
    pub(crate) joblog: Option<JobLog>,
    /// `--results`, opened.
    pub(crate) results: Option<Results>,
    /// `--journal`, opened, and what a resume skips.
    pub(crate) journal: Option<JournalPolicy>,
    /// Jobs in all when known before the run (every source in memory): for `N%` halts.
    pub(crate) total: Option<u64>,
    /// `--sqlmaster` / `--sqlandworker`: the jobs go through PostgreSQL.
    pub(crate) sql: Option<SqlPlan>,
    /// `--pipe`, `--pipe-part`: the jobs are these blocks, fed to their stdin.
    pub(crate) pipe: Option<Blocks>,
}

/// `--sqlmaster` or `--sqlandworker`, with `--resume` / `--resume-failed`.
#[derive(Debug)]
pub(crate) struct SqlPlan {
    /// The database and the table (the batch).
    pub(crate) url: DbUrl,
    /// `--sqlandworker`: run jobs here too.
    pub(crate) and_worker: bool,
    /// `--sql-lease`, for `--sqlandworker`'s worker.
    pub(crate) lease: Duration,
    /// `--resume` or `--resume-failed`: go on with the table's batch instead of starting
    /// it afresh.
    pub(crate) resume: bool,
    /// `--resume-failed`: the failed jobs of the table run again.
    pub(crate) rerun_failed: bool,
}

/// How job output is printed; chosen once here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputMode {
    /// Each job's output in one piece as it finishes (the default).
    AsFinished,
    /// `-k`: each job's output in one piece, in input order (wins over `--line-buffer`).
    KeepOrder,
    /// `--line-buffer`: complete lines as they come.
    Lines,
}

/// `--journal` with `--resume` / `--resume-failed`.
#[derive(Debug)]
pub(crate) struct JournalPolicy {
    /// The journal, opened for this command.
    pub(crate) journal: Journal,
    /// `--resume-failed`: jobs journaled as failed run again (`--resume` skips them).
    pub(crate) rerun_failed: bool,
}

impl Plan {
    /// Resolve and validate `args`, opening the input sources and (unless `--dry-run`) the
    /// journal, the joblog and the results file.
    ///
    /// # Errors
    ///
    /// A malformed command line or flag value, an input file that cannot be opened, a
    /// journal of another command or one holding finished jobs without `--resume*`, a joblog
    /// or results file that cannot be opened. Nothing has run then.
    pub(crate) fn from_args(args: Args) -> anyhow::Result<Plan> {
        job::raise_open_file_limit();
        let cl = args.command_line()?;
        let sep = Separator(args.separator()?);
        let slots = args.job_slots()?;
        let halt = match &args.halt {
            Some(h) => HaltSpec::parse(h)?,
            None => HaltSpec::Never,
        };
        let env = JobEnv::from_args(&args)?;
        let pipe = pipe_source(&args, &cl.sources)?;
        let packing = if pipe.is_some() {
            Packing::One
        } else {
            packing(&args, cl.sources.len())?
        };
        let header = match args.header.as_deref() {
            None => false,
            Some(":") => true,
            Some(h) => anyhow::bail!(
                "--header {h:?} is not supported: use --header : (the first input of each source, \
                 or its columns with --colsep, names the rest)"
            ),
        };
        let columns = args
            .colsep
            .as_deref()
            .map(|re| {
                regex::bytes::Regex::new(re)
                    .with_context(|| format!("--colsep {re:?} is not a valid regular expression"))
            })
            .transpose()?;
        let limit = match args.max_chars {
            None => LineLimit::system(),
            Some(s) => LineLimit::system().with_max_chars(s)?,
        };
        let reads_stdin = cl
            .sources
            .iter()
            .any(|s| matches!(s, SourceSpec::File(p) if p.as_os_str() == "-"));
        if reads_stdin && std::io::stdin().is_terminal() && !args.dry_run {
            eprintln!("threadkit: reading inputs from the terminal (end with Ctrl-D; see --help for ::: and ::::)");
        }
        // With --pipe the inputs are the blocks: no values.
        let no_values = [SourceSpec::Args(Vec::new())];
        let sources = if pipe.is_some() {
            &no_values[..]
        } else {
            &cl.sources
        };
        let mut inputs = Inputs::open(sources, sep, args.link, header)?;
        let split = columns.is_some();
        if let Some(re) = columns {
            inputs.columns(re);
        }
        let names = inputs.names();
        let shape = Shape {
            quote_words: args.quote,
            positions: if pipe.is_some() {
                Some(0)
            } else {
                (!split && packing == Packing::One).then_some(cl.sources.len())
            },
            names: &names,
            context: args.context_replace || matches!(packing, Packing::Args(_)),
            multi: split || cl.sources.len() > 1 || packing != Packing::One,
        };
        let template = Template::parse(&cl.words, shape).map_err(anyhow::Error::msg)?;
        inputs.pack(Packer::new(template.clone(), packing, limit, slots));
        if args.dry_run {
            return Ok(Plan {
                template,
                inputs,
                mode: Mode::DryRun,
            });
        }
        let resuming = args.resume || args.resume_failed;
        let sql = match (&args.sqlmaster, &args.sqlandworker) {
            (Some(u), _) | (None, Some(u)) => Some(SqlPlan {
                url: DbUrl::parse(u)?,
                and_worker: args.sqlandworker.is_some(),
                lease: args.sql_lease,
                resume: resuming,
                rerun_failed: args.resume_failed,
            }),
            (None, None) => None,
        };
        let journal = match &args.journal {
            None => None,
            Some(path) => Some(open_journal(path, &cl.words, &args)?),
        };
        let joblog = args
            .joblog
            .as_deref()
            .map(|p| JobLog::open(p, resuming))
            .transpose()?;
        let results = args
            .results
            .as_deref()
            .map(|p| Results::open(p, resuming))
            .transpose()?;
        let total = match pipe {
            Some(_) => None,
            None => inputs.size_hint().1.map(|n| n as u64),
        };
        let output = match (args.keep_order, args.line_buffer) {
            (true, _) => OutputMode::KeepOrder,
            (false, true) => OutputMode::Lines,
            (false, false) => OutputMode::AsFinished,
        };
        // Output nobody sees is not captured; the joblog counts it, the results file and the
        // SQL table keep it.
        let discard = if joblog.is_none() && results.is_none() && sql.is_none() {
            Discard::detect()
        } else {
            Discard::default()
        };
        let run = RunPlan {
            slots: slots_for_open_files(slots),
            output,
            printer: Printer::new(args.tag),
            limits: Limits {
                // GNU parallel's `--timeout 0`: no timeout.
                timeout: args.timeout.filter(|t| !t.is_zero()),
                grace: args.term_grace,
                workdir: env.workdir,
                discard,
            },
            retries: args.retries,
            halt,
            delay: args.delay,
            progress: args.bar || args.eta,
            trace: args.trace,
            joblog,
            results,
            journal,
            total,
            sql,
            pipe,
        };
        Ok(Plan {
            template,
            inputs,
            mode: Mode::Run(Box::new(run)),
        })
    }
}

/// `--sqlworker`'s limits for the jobs it runs (`--timeout` comes with each job from the
/// master): `--term-grace`, `--workdir`, `--tmpdir`.
///
/// # Errors
///
/// A flag that does not hold (a missing `--workdir`).
pub(crate) fn worker_limits(args: &Args) -> anyhow::Result<Limits> {
    let env = JobEnv::from_args(args)?;
    Ok(Limits {
        timeout: None,
        grace: args.term_grace,
        workdir: env.workdir,
        discard: Discard::default(),
    })
}

/// How many inputs a job takes (`-N`, `-m`, `-X`); these take one input source, without
/// `--colsep`.
fn packing(args: &Args, sources: usize) -> anyhow::Result<Packing> {
    let (packing, flag) = match (args.max_args, args.multi, args.context_replace) {
        (Some(n), _, _) => (Packing::Args(n), "-N"),
        (None, true, _) => (Packing::Fill, "-m"),
        (None, false, true) => (Packing::Fill, "-X"),
        (None, false, false) => return Ok(Packing::One),
    };
    if sources > 1 {
        anyhow::bail!(
            "{flag} takes one input source, and there are {sources}: combine them first \
             (e.g. into one file), or drop {flag}"
        );
    }
    if args.colsep.is_some() {
        anyhow::bail!(
            "{flag} cannot be combined with --colsep: columns already are a job's values"
        );
    }
    Ok(packing)
}

/// `--pipe`, `--pipe-part`: the blocks of the input, with the flags they exclude refused.
fn pipe_source(args: &Args, sources: &[SourceSpec]) -> anyhow::Result<Option<Blocks>> {
    use std::os::unix::ffi::OsStrExt;
    let flag = match (args.pipe, args.pipe_part) {
        (true, _) => "--pipe",
        (false, true) => "--pipe-part",
        (false, false) => {
            for (given, name) in [
                (args.block.is_some(), "--block"),
                (args.recstart.is_some(), "--recstart"),
                (args.recend.is_some(), "--recend"),
            ] {
                if given {
                    anyhow::bail!("{name} only applies with --pipe or --pipe-part");
                }
            }
            return Ok(None);
        }
    };
    for (given, name, why) in [
        (args.dry_run, "--dry-run", "it would have to read the input"),
        (
            args.journal.is_some(),
            "--journal",
            "blocks of a stream are not inputs a later run can skip",
        ),
        (
            args.multi || args.context_replace,
            "-m/-X",
            "a job's input is its block",
        ),
        (
            args.colsep.is_some(),
            "--colsep",
            "a job's input is its block",
        ),
        (
            args.header.is_some(),
            "--header",
            "not implemented for blocks",
        ),
        (args.link, "--link", "there is one input"),
    ] {
        if given {
            anyhow::bail!("{name} cannot be combined with {flag}: {why}");
        }
    }
    let size = blocks::parse_size(args.block.as_deref().unwrap_or("1M"))?;
    let records = Records::new(
        args.recstart.as_deref().map(OsStrExt::as_bytes),
        args.recend.as_deref().map(OsStrExt::as_bytes),
    )?;
    let file = match sources {
        [SourceSpec::File(p)] => Some(p),
        _ => None,
    };
    if args.pipe {
        if file.is_none_or(|p| p.as_os_str() != "-") {
            anyhow::bail!("--pipe reads standard input: give no `:::`, `::::` or -a (use --pipe-part -a FILE for a file)");
        }
        let cut = match args.max_args {
            Some(0) => anyhow::bail!("-N 0 with --pipe: a block must hold at least one record"),
            Some(n) => Cut::Records(n),
            None => Cut::Size(size),
        };
        return Ok(Some(Blocks::Stdin(Splitter::new(
            Box::new(std::io::stdin()),
            records,
            cut,
        ))));
    }
    let Some(path) = file.filter(|p| p.as_os_str() != "-") else {
        anyhow::bail!("--pipe-part needs exactly one file, with -a FILE or :::: FILE (for standard input use --pipe)");
    };
    if args.max_args.is_some() {
        anyhow::bail!("-N cannot be combined with --pipe-part (parts are found by size): use --pipe -N with the file on standard input");
    }
    let f = std::fs::File::open(path)
        .with_context(|| format!("--pipe-part: cannot open {}", path.display()))?;
    Ok(Some(Blocks::File(Parts::new(
        f,
        path.display().to_string(),
        size,
        records,
    )?)))
}

/// Where and with what environment jobs run: `--workdir`, `--tmpdir`, `--env`.
#[derive(Debug)]
struct JobEnv {
    workdir: Option<&'static std::path::Path>,
}

impl JobEnv {
    /// Check the flags, and with `--tmpdir` set `TMPDIR` (for the jobs and for threadkit's own
    /// spill file, [`crate::spill`]).
    fn from_args(args: &Args) -> anyhow::Result<JobEnv> {
        if args.csv {
            anyhow::bail!(
                "--csv is not supported: threadkit does not parse quoted CSV fields. For simple \
                 files (no quoted separators or newlines) use --colsep , (add --header : for \
                 named columns)"
            );
        }
        for name in &args.env {
            let b = name.as_encoded_bytes();
            if b == b"_" {
                anyhow::bail!(
                    "--env _ is not supported (it needs GNU parallel's --record-env, for remote \
                     hosts): jobs on this machine inherit the whole environment already"
                );
            }
            let valid = !b.is_empty()
                && !b[0].is_ascii_digit()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
            if !valid {
                anyhow::bail!(
                    "--env {}: not a variable name (letters, digits and _, not starting with a digit)",
                    name.to_string_lossy()
                );
            }
        }
        let workdir = match &args.workdir {
            None => None,
            Some(d) if d.as_os_str() == "..." => anyhow::bail!(
                "--workdir ... is not supported (GNU parallel's per-job temporary directory, \
                 for remote hosts): make one in the command, e.g. 'd=$(mktemp -d) && cd \"$d\" && ...'"
            ),
            Some(d) => Some(&*Box::leak(dir_flag("--workdir", d)?.into_boxed_path())),
        };
        if let Some(d) = &args.tmpdir {
            let d = dir_flag("--tmpdir", d)?;
            // Nothing else runs yet (no thread is started before the plan is made), and jobs
            // inherit the variable, as with GNU parallel.
            std::env::set_var("TMPDIR", d);
        }
        Ok(JobEnv { workdir })
    }
}

/// An existing directory, made absolute.
fn dir_flag(flag: &str, d: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let abs = std::fs::canonicalize(d)
        .with_context(|| format!("{flag} {}: cannot use this directory", d.display()))?;
    if !abs.is_dir() {
        anyhow::bail!("{flag} {}: not a directory", d.display());
    }
    Ok(abs)
}

/// Open `--journal` for this command; refused when it already records finished jobs and
/// neither `--resume` nor `--resume-failed` says what to do with them.
fn open_journal(
    path: &std::path::Path,
    words: &[Vec<u8>],
    args: &Args,
) -> anyhow::Result<JournalPolicy> {
    let id = journal_id(words, args.quote);
    let journal = Journal::open(path, &id).with_context(|| "cannot use the journal (--journal)")?;
    let counts = journal.counts().context("cannot read the journal")?;
    if !(args.resume || args.resume_failed) && counts.done + counts.failed > 0 {
        anyhow::bail!(
            "journal {} already records {} finished jobs ({} failed): use --resume to skip them, \
             --resume-failed to skip the successful ones and rerun the failed ones, or remove the file",
            path.display(),
            counts.done + counts.failed,
            counts.failed
        );
    }
    Ok(JournalPolicy {
        journal,
        rerun_failed: args.resume_failed,
    })
}

/// The slots the open-file limit allows (each job holds a few descriptors), with a warning
/// when that is fewer than asked.
fn slots_for_open_files(slots: usize) -> usize {
    match job::slots_for_open_files(slots) {
        (n, Some(limit)) => {
            eprintln!(
                "threadkit: warning: only {n} job slot{}: the open-file limit ({limit}) allows no more; raise it with `ulimit -n`",
                if n == 1 { "" } else { "s" }
            );
            n
        }
        (n, None) => n,
    }
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
