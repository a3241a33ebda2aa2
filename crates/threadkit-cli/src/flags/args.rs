//! Command-line arguments: clap for the options, then the GNU parallel-style tail
//! `COMMAND... [::: ARGS... | :::: FILES...]...` split by hand.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;

use crate::inputs::SourceSpec;

/// Run COMMAND once per input, in parallel (GNU parallel style).
///
/// Inputs come from `::: a b c` (arguments), `:::: FILE` or `-a FILE` (one per line), or stdin
/// when no source is given. Several sources are combined as a cartesian product (`--link` pairs
/// them instead). In COMMAND, `{}` is the input (shell-quoted), `{.}` without extension, `{/}`
/// basename, `{//}` dirname, `{/.}` basename without extension, `{#}` the job number, `{%}` the
/// slot, `{1}` `{2}`... one input source; with none of these the input is appended. Commands run
/// under `/bin/sh -c`. Exit status: 0 when every job succeeded, 1-100 the number of failed jobs,
/// 101 for more, 130 after Ctrl-C, 255 for other errors. See docs/cli.md.
#[derive(Debug, Parser)]
#[command(name = "threadkit", version, about, long_about, after_help = EXAMPLES)]
#[command(group(clap::ArgGroup::new("resumable").args(["journal", "sqlmaster", "sqlandworker"]).multiple(true)))]
pub(crate) struct Args {
    /// Jobs to run at once: N, N% of the CPU cores, +N / -N cores, or 0 for as many as possible.
    // allow_hyphen_values: `-j -1` takes `-1` as the value (clap reads it as a flag otherwise).
    #[arg(
        short = 'j',
        long = "jobs",
        value_name = "N",
        default_value = "100%",
        allow_hyphen_values = true
    )]
    pub(crate) jobs: String,

    /// Print job outputs in input order (still running jobs in parallel).
    #[arg(short = 'k', long = "keep-order")]
    pub(crate) keep_order: bool,

    /// Print output a line at a time as it comes (lines of different jobs may alternate, lines
    /// are never cut). Default: each job's output in one piece when it finishes.
    #[arg(long = "line-buffer", visible_alias = "lb")]
    pub(crate) line_buffer: bool,

    /// Prefix every output line with the job's input and a tab.
    #[arg(long)]
    pub(crate) tag: bool,

    /// Kill a job running longer than this: TERM to its process group, KILL after --term-grace.
    /// Seconds, or with a suffix s, m, h, d; 0 means no timeout (as in GNU parallel).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) timeout: Option<Duration>,

    /// Seconds between TERM and KILL when a job is stopped (timeout, --halt now, Ctrl-C).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1")]
    pub(crate) term_grace: Duration,

    /// Run a failing job up to N times in all (GNU parallel's meaning; 0 and 1 mean once).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) retries: u32,

    /// When to stop early: never, soon|now,fail|success|done=N|N% (GNU parallel's syntax, and
    /// its shorthands 0, 1, 2, -1, -2). `soon` starts no new jobs; `now` also kills running ones.
    #[arg(
        long = "halt",
        visible_alias = "halt-on-error",
        value_name = "WHEN,WHY=N",
        allow_hyphen_values = true
    )]
    pub(crate) halt: Option<String>,

    /// Wait this long between starting two jobs.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) delay: Option<Duration>,

    /// Write one line per finished job to FILE, in GNU parallel's tab-separated joblog format.
    #[arg(long, value_name = "FILE")]
    pub(crate) joblog: Option<PathBuf>,

    /// Record finished jobs in a journal (SQLite), keyed by their input.
    #[arg(long, value_name = "FILE")]
    pub(crate) journal: Option<PathBuf>,

    /// With --journal (or --sqlmaster): skip the inputs the journal (the table) records as
    /// finished (succeeded or failed).
    #[arg(long, requires = "resumable", conflicts_with = "resume_failed")]
    pub(crate) resume: bool,

    /// With --journal (or --sqlmaster): skip the inputs that succeeded, run the failed ones
    /// again.
    #[arg(long, requires = "resumable")]
    pub(crate) resume_failed: bool,

    /// Show a progress bar on stderr.
    #[arg(long)]
    pub(crate) bar: bool,

    /// Show the estimated time left on stderr.
    #[arg(long)]
    pub(crate) eta: bool,

    /// Print the commands that would run, run nothing.
    #[arg(long = "dry-run")]
    pub(crate) dry_run: bool,

    /// Write one JSON object per finished job to FILE (JSON lines): input, command, exit code,
    /// signal, duration, stdout, stderr.
    #[arg(long, value_name = "FILE")]
    pub(crate) results: Option<PathBuf>,

    /// Input records are separated by NUL, not newline (for `find -print0`).
    #[arg(short = '0', long = "null")]
    pub(crate) null: bool,

    /// Input records are separated by this one-byte delimiter (`\n`, `\0`, `\t` understood).
    #[arg(
        short = 'd',
        long = "delimiter",
        value_name = "CHAR",
        conflicts_with = "null"
    )]
    pub(crate) delimiter: Option<OsString>,

    /// Read inputs from FILE, one per line (like `:::: FILE`); may be repeated.
    #[arg(short = 'a', long = "arg-file", value_name = "FILE")]
    pub(crate) arg_file: Vec<PathBuf>,

    /// Pair the input sources (first with first, ...) instead of combining every one with every
    /// other; shorter sources are recycled.
    #[arg(long, visible_alias = "xapply")]
    pub(crate) link: bool,

    /// Quote the command words too, so they reach the program exactly as given.
    #[arg(short = 'q', long = "quote")]
    pub(crate) quote: bool,

    /// Print each command on stderr as it starts.
    #[arg(short = 't')]
    pub(crate) trace: bool,

    /// N inputs per job: `{1}`..`{N}` are the job's inputs, `{}` all of them (each word around
    /// `{}` repeated per input, as `-X`); the last job may get fewer. `-N 0`: no input at all.
    #[arg(short = 'N', long = "max-replace-args", value_name = "N")]
    pub(crate) max_args: Option<usize>,

    /// As many inputs per command line as fit (`-s`), space-separated where `{}` is.
    #[arg(short = 'm', conflicts_with_all = ["max_args", "context_replace"])]
    pub(crate) multi: bool,

    /// As `-m`, repeating the word around `{}` for each input (`pre{}post` ->
    /// `preapost prebpost`).
    #[arg(short = 'X', conflicts_with = "max_args")]
    pub(crate) context_replace: bool,

    /// Longest command line, in bytes (default and upper bound: what the system accepts,
    /// from `sysconf(ARG_MAX)` and the environment's size).
    #[arg(short = 's', long = "max-chars", value_name = "BYTES")]
    pub(crate) max_chars: Option<usize>,

    /// Split each input into columns at this regular expression: `{1}`, `{2}`... are the
    /// columns, `{}` all of them.
    #[arg(long = "colsep", value_name = "REGEX")]
    pub(crate) colsep: Option<String>,

    /// `:`: the first input of each source (with `--colsep`, its columns) names the rest:
    /// `{name}` is that source's (column's) value.
    #[arg(long = "header", value_name = ":")]
    pub(crate) header: Option<String>,

    /// Not supported (GNU parallel's quoted CSV fields): refused with a message.
    #[arg(long = "csv")]
    pub(crate) csv: bool,

    /// Pass the environment variable NAME to the jobs (on one machine they inherit the whole
    /// environment, so this only checks the name); may be repeated.
    #[arg(long = "env", value_name = "NAME")]
    pub(crate) env: Vec<OsString>,

    /// Run the jobs in DIR (which must exist).
    #[arg(long = "workdir", visible_alias = "wd", value_name = "DIR")]
    pub(crate) workdir: Option<PathBuf>,

    /// Where threadkit's spill files go; also `TMPDIR` for the jobs (as GNU parallel).
    #[arg(long = "tmpdir", visible_alias = "tempdir", value_name = "DIR")]
    pub(crate) tmpdir: Option<PathBuf>,

    /// Enqueue the jobs of this command line in PostgreSQL, for `--sqlworker`s on any
    /// machine, and print their output as they finish (in order with -k); --joblog, --results,
    /// --bar, --halt, --retries and the exit code work as locally. DBURL is GNU parallel's
    /// `pg://[user[:password]@][host][:port]/[database]/table` (or `postgres://`): the table
    /// names the batch. See docs/distributed.md.
    #[arg(
        long = "sqlmaster",
        visible_alias = "sql-master",
        value_name = "DBURL",
        conflicts_with_all = ["sqlworker", "sqlandworker", "journal", "pipe", "pipe_part"]
    )]
    pub(crate) sqlmaster: Option<String>,

    /// Run the jobs of the table in DBURL (enqueued by `--sqlmaster`), -j at a time, until
    /// every job of it has finished; no COMMAND or inputs.
    #[arg(
        long = "sqlworker",
        visible_alias = "sql-worker",
        value_name = "DBURL",
        conflicts_with_all = ["sqlandworker", "journal", "pipe", "pipe_part"]
    )]
    pub(crate) sqlworker: Option<String>,

    /// `--sqlmaster` and `--sqlworker` in one: enqueue the jobs and run them here too.
    #[arg(
        long = "sqlandworker",
        visible_alias = "sql-and-worker",
        value_name = "DBURL",
        conflicts_with_all = ["journal", "pipe", "pipe_part"]
    )]
    pub(crate) sqlandworker: Option<String>,

    /// A worker's lease on the jobs it runs (`--sqlworker`, `--sqlandworker`; threadkit's own,
    /// not GNU parallel's): renewed while a job runs; a worker that dies (or stalls) this
    /// long has its jobs run elsewhere.
    #[arg(long = "sql-lease", value_name = "DURATION", value_parser = parse_duration, default_value = "30")]
    pub(crate) sql_lease: Duration,
    /// Standard input is data for the jobs: cut into blocks of whole records (`--block`,
    /// `--recend`, `--recstart`, or `-N` records), each block fed to one job's stdin.
    #[arg(
        long = "pipe",
        visible_alias = "spreadstdin",
        conflicts_with = "pipe_part"
    )]
    pub(crate) pipe: bool,

    /// As `--pipe`, for the one file of `-a FILE` (or `:::: FILE`), which must be seekable:
    /// each job's stdin is a part of it, read by the kernel straight into the job's pipe.
    #[arg(long = "pipe-part")]
    pub(crate) pipe_part: bool,

    /// With `--pipe`: at most SIZE bytes per block, whole records (one longer record goes
    /// alone); with `--pipe-part`: parts end at the first record boundary after each multiple
    /// of SIZE. Suffixes k m g t (x1000) and K M G T (x1024). Default 1M.
    #[arg(long = "block", visible_alias = "block-size", value_name = "SIZE")]
    pub(crate) block: Option<String>,

    /// With `--pipe`: records start with this string (default: nothing).
    #[arg(long = "recstart", value_name = "STRING")]
    pub(crate) recstart: Option<OsString>,

    /// With `--pipe`: records end with this string (default: a newline, unless only
    /// `--recstart` is given).
    #[arg(long = "recend", value_name = "STRING")]
    pub(crate) recend: Option<OsString>,

    /// Accepted and ignored, so GNU parallel command lines run unchanged.
    #[arg(long = "will-cite", hide = true)]
    pub(crate) will_cite: bool,

    /// COMMAND and its arguments, then the input sources.
    // OsString: command words, `:::` inputs and file names need not be UTF-8.
    #[arg(trailing_var_arg = true, value_name = "COMMAND")]
    pub(crate) rest: Vec<OsString>,
}

const EXAMPLES: &str = "Examples:
  threadkit --bar -k sha256sum ::: src/*.rs
  find . -name '*.log' -print0 | threadkit -0 -j4 gzip -9
  threadkit --tag 'convert {} -resize {2} {.}_{2}.png' ::: *.jpg ::: 64 128
  threadkit --journal run.db --resume ./process.sh {} :::: urls.txt";

/// The command words and the input sources.
#[derive(Debug)]
pub(crate) struct CommandLine {
    /// The command's words (empty: each input is a command); bytes, as given.
    pub(crate) words: Vec<Vec<u8>>,
    /// The input sources in order (stdin when none was given).
    pub(crate) sources: Vec<SourceSpec>,
}

impl Args {
    /// Split the tail into the command and its sources.
    pub(crate) fn command_line(&self) -> anyhow::Result<CommandLine> {
        enum Mode {
            Command,
            Args,
            Files { seen: bool },
        }
        let mut words = Vec::new();
        let mut sources = Vec::new();
        let mut mode = Mode::Command;
        for w in &self.rest {
            let w = w.as_bytes();
            if let Mode::Files { seen: false } = mode {
                if w == b":::" || w == b"::::" {
                    bail!("`::::` must be followed by at least one file name");
                }
            }
            match w {
                b":::" => {
                    sources.push(SourceSpec::Args(Vec::new()));
                    mode = Mode::Args;
                }
                b"::::" => mode = Mode::Files { seen: false },
                b":::+" | b"::::+" => {
                    bail!(
                        "`{}` is not supported: use --link to pair input sources",
                        w.escape_ascii()
                    )
                }
                _ => match mode {
                    Mode::Command => words.push(w.to_vec()),
                    Mode::Args => {
                        if let Some(SourceSpec::Args(a)) = sources.last_mut() {
                            a.push(w.to_vec());
                        }
                    }
                    Mode::Files { .. } => {
                        sources.push(SourceSpec::File(PathBuf::from(OsString::from_vec(
                            w.to_vec(),
                        ))));
                        mode = Mode::Files { seen: true };
                    }
                },
            }
        }
        if let Mode::Files { seen: false } = mode {
            bail!("`::::` must be followed by at least one file name");
        }
        let mut all: Vec<SourceSpec> = self
            .arg_file
            .iter()
            .cloned()
            .map(SourceSpec::File)
            .collect();
        all.extend(sources);
        if all.is_empty() {
            all.push(SourceSpec::File(PathBuf::from("-")));
        }
        Ok(CommandLine {
            words,
            sources: all,
        })
    }

    /// The record separator for files and stdin.
    pub(crate) fn separator(&self) -> anyhow::Result<u8> {
        if self.null {
            return Ok(0);
        }
        match self.delimiter.as_deref().map(OsStrExt::as_bytes) {
            None => Ok(b'\n'),
            Some(b"\\n") => Ok(b'\n'),
            Some(b"\\0") => Ok(0),
            Some(b"\\t") => Ok(b'\t'),
            Some(&[d]) => Ok(d),
            Some(d) => bail!(
                "--delimiter must be one byte (or \\n, \\0, \\t), got \"{}\"",
                d.escape_ascii()
            ),
        }
    }

    /// The number of job slots.
    pub(crate) fn job_slots(&self) -> anyhow::Result<usize> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        parse_jobs(&self.jobs, cores)
    }
}

/// Upper bound for `-j 0` ("as many as possible"): one thread and one process group per slot.
pub(crate) const MAX_SLOTS: usize = 1024;

/// Parse `-j`: N, N%, +N, -N, 0.
pub(crate) fn parse_jobs(s: &str, cores: usize) -> anyhow::Result<usize> {
    let bad = || format!("invalid -j value {s:?}: expected N, N%, +N, -N or 0");
    let n = if let Some(p) = s.strip_suffix('%') {
        let p: f64 = p
            .parse()
            .ok()
            .filter(|p: &f64| p.is_finite() && *p >= 0.0)
            .with_context(bad)?;
        (cores as f64 * p / 100.0).floor() as usize
    } else if let Some(d) = s.strip_prefix('+') {
        cores + d.parse::<usize>().ok().with_context(bad)?
    } else if let Some(d) = s.strip_prefix('-') {
        cores.saturating_sub(d.parse::<usize>().ok().with_context(bad)?)
    } else {
        match s.parse::<usize>().ok().with_context(bad)? {
            0 => MAX_SLOTS,
            n => n,
        }
    };
    Ok(n.clamp(1, MAX_SLOTS))
}

/// Seconds (fractions allowed) with an optional suffix s, m, h or d.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, mult) = match s.as_bytes().last() {
        Some(b's') => (&s[..s.len() - 1], 1.0),
        Some(b'm') => (&s[..s.len() - 1], 60.0),
        Some(b'h') => (&s[..s.len() - 1], 3600.0),
        Some(b'd') => (&s[..s.len() - 1], 86400.0),
        _ => (s, 1.0),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected seconds, e.g. 2.5 or 3m"))?;
    Duration::try_from_secs_f64(v * mult)
        .map_err(|_| format!("invalid duration {s:?}: out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("threadkit").chain(v.iter().copied())).unwrap()
    }

    #[test]
    fn command_and_sources_are_split_at_separators() {
        let a = parse(&[
            "-k", "echo", "-n", "{}", ":::", "a", "b", "::::", "f1", "f2", ":::", "x",
        ]);
        assert!(a.keep_order);
        let cl = a.command_line().unwrap();
        assert_eq!(cl.words, vec![&b"echo"[..], b"-n", b"{}"]);
        assert_eq!(
            cl.sources,
            vec![
                SourceSpec::Args(vec!["a".into(), "b".into()]),
                SourceSpec::File("f1".into()),
                SourceSpec::File("f2".into()),
                SourceSpec::Args(vec!["x".into()]),
            ]
        );
    }

    #[test]
    fn stdin_is_the_default_source() {
        let cl = parse(&["gzip"]).command_line().unwrap();
        assert_eq!(cl.sources, vec![SourceSpec::File("-".into())]);
    }

    #[test]
    fn jobs_forms() {
        assert_eq!(parse_jobs("3", 8).unwrap(), 3);
        assert_eq!(parse_jobs("50%", 8).unwrap(), 4);
        assert_eq!(parse_jobs("1%", 8).unwrap(), 1);
        assert_eq!(parse_jobs("+2", 8).unwrap(), 10);
        assert_eq!(parse_jobs("-2", 8).unwrap(), 6);
        assert_eq!(parse_jobs("0", 8).unwrap(), MAX_SLOTS);
        assert!(parse_jobs("x", 8).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("1e300").is_err());
    }
}
