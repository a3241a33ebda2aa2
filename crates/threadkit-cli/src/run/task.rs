//! The batch task: one attempt of one job ([`Shared::attempt`]), run by the batch runner on its
//! worker threads, in its turn (`--delay` is the runner's [`Batch::delay`]). It renders the
//! command with the runner's slot number as `{%}` ([`threadkit::batch::slot`]), runs it as a
//! process ([`crate::job::run`]) and hands back what it left ([`Ran`]) as the item's value or
//! error; the runner counts it for `--halt`.
//!
//! [`Batch::delay`]: threadkit::batch::Batch::delay

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use threadkit::batch::{self, CancelToken, Cause, Task};

use super::jobs::JobInput;
use crate::job::{self, Attempt, Limits, LineSink, Running};
use crate::output::Printer;
use crate::template::{Launch, Template};
use crate::values::Values;

/// What one run of a job left: its command line and what it did.
#[derive(Debug)]
pub(crate) struct Ran {
    pub(super) seq: u64,
    /// Shared with the job (an `-X` job holds tens of thousands of values).
    pub(super) args: std::sync::Arc<Values>,
    pub(super) attempts: u32,
    /// The command line as rendered; empty when nothing needs it (see [`Shared::keep_line`]).
    pub(super) line: Vec<u8>,
    pub(super) attempt: Attempt,
}

/// A job that succeeded. Journaled as `{"exit":0}`; its output is not kept in the journal, so a
/// job skipped by `--resume` comes back with `ran: None` and prints nothing (as in GNU parallel).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Succeeded {
    exit: i32,
    #[serde(skip)]
    pub(super) ran: Option<Box<Ran>>,
}

/// A job whose command failed (non-zero exit, signal, timeout, could not start).
#[derive(Debug)]
pub(crate) struct JobFailed {
    pub(super) ran: Box<Ran>,
    /// Stopped by `--halt now` or Ctrl-C rather than failing on its own.
    pub(super) interrupted: bool,
}

impl JobFailed {
    /// A job that was handed over but not started (a stop came first), for [`Task::run`]
    /// alone: the batch runner reports such a job as [`Cause::NotStarted`].
    fn not_started(job: &JobInput, attempts: u32) -> JobFailed {
        JobFailed {
            ran: Box::new(Ran {
                seq: job.seq,
                args: job.args.clone(),
                attempts,
                line: Vec::new(),
                attempt: Attempt::not_started(),
            }),
            interrupted: true,
        }
    }
}

impl fmt::Display for JobFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = &self.ran.attempt;
        if a.timed_out {
            write!(f, "timed out after {:.3}s", a.duration.as_secs_f64())
        } else if let Some(s) = a.signal {
            write!(f, "killed by signal {s}")
        } else {
            write!(f, "exit code {}", a.exit.unwrap_or(-1))
        }
    }
}

/// State shared by the batch task (on worker threads) and the driver.
pub(super) struct Shared {
    pub(super) template: Template,
    pub(super) limits: Limits,
    pub(super) running: &'static Running,
    pub(super) printer: Arc<Printer>,
    /// `--line-buffer` (and not `-k`): lines go to the printer as they come.
    pub(super) line_buffer: bool,
    pub(super) trace: bool,
    /// The command line is rendered even for a job run without a shell: `--joblog` and
    /// `--results` record it (`-t` and a shell job need it anyway). Rendering quotes every
    /// value, which an `-X` job of tens of thousands of values pays for nothing otherwise.
    pub(super) keep_line: bool,
    /// Attempts handed over and not yet returned (the driver waits for them after a stop).
    pub(super) live: AtomicUsize,
    pub(super) token: CancelToken,
    /// Attempts a job gets in all (`--retries`, at least 1).
    pub(super) attempts: u32,
    /// A job could not start for want of a resource of threadkit's own (EMFILE...).
    pub(super) own_error: Mutex<Option<String>>,
}

impl Shared {
    /// True once a job could not start for want of a resource of ours.
    pub(super) fn own_error_seen(&self) -> bool {
        self.own_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// One attempt of one job: the batch task.
    fn attempt(&self, job: &JobInput) -> Result<Succeeded, Cause<JobFailed>> {
        self.live.fetch_add(1, Ordering::SeqCst);
        if self.running.stopping() || self.token.is_cancelled() || self.own_error_seen() {
            // Handed over just as a stop came (TERM sent to the running jobs, an error of
            // ours): do not start it. The batch runner reports it as not started (not
            // journaled).
            self.live.fetch_sub(1, Ordering::SeqCst);
            return Err(Cause::NotStarted);
        }
        let attempts = job.attempts.fetch_add(1, Ordering::Relaxed) + 1;
        // GNU parallel's `{%}`: the runner's slot, unique among the running jobs.
        let slot = batch::slot().unwrap_or(1);
        let launch = self.template.launch(&*job.args, job.seq, slot);
        let line = if self.keep_line || self.trace || matches!(launch, Launch::Shell) {
            self.template.render(&*job.args, job.seq, slot)
        } else {
            Vec::new()
        };
        if self.trace {
            threadkit::progress::suspend(|| {
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(&[&line[..], b"\n"].concat());
            });
        }
        let sink = self
            .line_buffer
            .then(|| self.printer.lines(self.printer.prefix(&*job.args)));
        let feed = job.feed.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let attempt = job::run(
            job.seq,
            &line,
            &launch,
            self.limits,
            self.running,
            sink.as_ref().map(|s| s as &dyn LineSink),
            feed.as_deref(),
        );
        let attempt = match attempt {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors or processes with no job left to free any: our error,
                // not the job's, which is not recorded as run (unless a stop came meanwhile).
                let mut own = self.own_error.lock().unwrap_or_else(|p| p.into_inner());
                if own.is_none() && !self.running.stopping() {
                    eprintln!(
                        "threadkit: cannot start job {}: {e}; starting no more jobs (it did not run)",
                        job.seq
                    );
                    *own = Some(e.to_string());
                    self.token.cancel();
                }
                drop(own);
                self.live.fetch_sub(1, Ordering::SeqCst);
                return Err(Cause::NotStarted);
            }
        };
        if attempt.unread > 0 && attempt.exit == Some(0) {
            // GNU parallel counts such a job as failed (its joblog says signal 13, the
            // SIGPIPE its writer got); say why, since the job itself reported success.
            threadkit::progress::suspend(|| {
                eprintln!(
                    "threadkit: job {} exited without reading {} of the {} bytes of its input: counted as failed",
                    job.seq,
                    attempt.unread,
                    feed.as_deref().map_or(0, crate::pipe::Feed::len)
                );
            });
        }
        let ok = attempt.succeeded();
        if ok || attempts >= self.attempts {
            // No attempt will need the block again: free it now (memory is slots x block).
            *job.feed.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        let interrupted = !ok && self.running.stopping();
        let ran = Box::new(Ran {
            seq: job.seq,
            args: job.args.clone(),
            attempts,
            line,
            attempt,
        });
        self.live.fetch_sub(1, Ordering::SeqCst);
        if ok {
            Ok(Succeeded {
                exit: 0,
                ran: Some(ran),
            })
        } else {
            Err(Cause::Error(JobFailed { ran, interrupted }))
        }
    }
}

/// The batch task: one attempt of one job, which may find the run stopped before it starts.
pub(super) struct JobTask(pub(super) Arc<Shared>);

impl Task<JobInput> for JobTask {
    type Output = Succeeded;
    type Error = JobFailed;

    /// The batch runner calls [`attempt`](Task::attempt) only, and makes the "not started"
    /// outcome itself from the [`Cause::NotStarted`] it returns; `run`, which the trait
    /// requires, has no such cause to give, so a job that did not start is a failed job here.
    fn run(&self, job: &JobInput) -> Result<Succeeded, JobFailed> {
        self.0.attempt(job).map_err(|cause| match cause {
            Cause::Error(e) => e,
            _ => JobFailed::not_started(job, job.attempts.load(Ordering::Relaxed)),
        })
    }

    fn attempt(&self, job: &JobInput) -> Result<Succeeded, Cause<JobFailed>> {
        self.0.attempt(job)
    }
}
