//! `--joblog FILE` (GNU parallel's tab-separated format) and `--results FILE` (JSON lines).
//!
//! Joblog columns: `Seq Host Starttime JobRuntime Send Receive Exitval Signal Command`, with
//! `Host` `:` (local), `Starttime` seconds since the epoch with 3 decimals (`%10.3f`),
//! `JobRuntime` seconds (`%10.3f`), `Send` 0, `Receive` bytes of output, `Exitval` the exit code
//! (-1 when killed by a signal or by `--timeout`, as GNU parallel writes it) and `Signal` the signal number (0 for
//! none). One line per job (its last attempt), flushed as the job finishes, so `tail -f` works
//! and a killed run leaves a complete log of what finished. `Command` is the command line's
//! bytes, as run (GNU parallel's too), UTF-8 or not.
//!
//! In `--results`, the input, the command and the output are JSON strings when they are UTF-8
//! and [`Bytes`] objects (exact hex, plus lossy text) when not: nothing is lost.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::UNIX_EPOCH;

use anyhow::Context;
use serde::Serialize;

use crate::bytes::{Bytes, List};
use crate::job::Attempt;
use crate::values::Values;

/// The joblog header line.
pub(crate) const HEADER: &str =
    "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

/// A `--joblog` writer.
#[derive(Debug)]
pub(crate) struct JobLog {
    file: File,
}

impl JobLog {
    /// Create (truncate) the joblog, or with `append` add to it (for `--resume`); the header is
    /// written when the file is empty.
    pub(crate) fn open(path: &Path, append: bool) -> anyhow::Result<JobLog> {
        let mut file = if append {
            OpenOptions::new().create(true).append(true).open(path)
        } else {
            File::create(path)
        }
        .with_context(|| format!("cannot open joblog {}", path.display()))?;
        if file.metadata().map(|m| m.len() == 0).unwrap_or(true) {
            file.write_all(HEADER.as_bytes())
                .with_context(|| format!("cannot write joblog {}", path.display()))?;
        }
        Ok(JobLog { file })
    }

    /// Append one job.
    pub(crate) fn write(&mut self, seq: u64, a: &Attempt, command: &[u8]) -> std::io::Result<()> {
        let start = a
            .start
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        // A timed-out job was killed (TERM, maybe KILL) even if its main process exited first.
        let killed = a.signal.or(a.timed_out.then_some(15));
        let exit = if killed.is_some() {
            -1
        } else {
            a.exit.unwrap_or(-1)
        };
        let mut line = format!(
            "{seq}\t:\t{start:10.3}\t{:10.3}\t0\t{}\t{exit}\t{}\t",
            a.duration.as_secs_f64(),
            a.received,
            killed.unwrap_or(0),
        )
        .into_bytes();
        line.extend_from_slice(command);
        line.push(b'\n');
        self.file.write_all(&line)
    }
}

/// One `--results` record.
#[derive(Debug, Serialize)]
pub(crate) struct ResultRecord<'a> {
    /// Job number (`{#}`).
    pub(crate) seq: u64,
    /// The inputs, one per source.
    pub(crate) input: List<'a, Values>,
    /// The command line run.
    pub(crate) command: Bytes<'a>,
    /// Exit code, `null` when killed by a signal.
    pub(crate) exit_code: Option<i32>,
    /// Signal number that killed the job, `null` if none.
    pub(crate) signal: Option<i32>,
    /// The job ran past `--timeout`.
    pub(crate) timed_out: bool,
    /// Attempts made (more than 1 with `--retries`).
    pub(crate) attempts: u32,
    /// Start time, seconds since the epoch.
    pub(crate) start: f64,
    /// Run time of the last attempt in seconds.
    pub(crate) duration_s: f64,
    /// Captured stdout.
    pub(crate) stdout: Bytes<'a>,
    /// Captured stderr.
    pub(crate) stderr: Bytes<'a>,
}

/// A `--results` writer (JSON lines).
#[derive(Debug)]
pub(crate) struct Results {
    out: BufWriter<File>,
}

impl Results {
    /// Create (truncate) or, for `--resume`, append to the results file.
    pub(crate) fn open(path: &Path, append: bool) -> anyhow::Result<Results> {
        let file = if append {
            OpenOptions::new().create(true).append(true).open(path)
        } else {
            File::create(path)
        }
        .with_context(|| format!("cannot open results file {}", path.display()))?;
        Ok(Results {
            out: BufWriter::new(file),
        })
    }

    /// Append one record and flush it.
    pub(crate) fn write(&mut self, r: &ResultRecord<'_>) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, r)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    /// The record of one attempt, with its captured (stdout, stderr) read back into memory.
    pub(crate) fn record<'a>(
        seq: u64,
        input: &'a Values,
        command: &'a [u8],
        a: &'a Attempt,
        output: (&'a [u8], &'a [u8]),
        attempts: u32,
    ) -> ResultRecord<'a> {
        ResultRecord {
            seq,
            input: List(input),
            command: Bytes(command),
            exit_code: a.exit.filter(|_| a.signal.is_none()),
            signal: a.signal,
            timed_out: a.timed_out,
            attempts,
            start: a
                .start
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            duration_s: a.duration.as_secs_f64(),
            stdout: Bytes(output.0),
            stderr: Bytes(output.1),
        }
    }
}
