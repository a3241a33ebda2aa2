//! The batch task: one attempt of one job ([`Shared::attempt`]), run by the batch runner on its
//! worker threads. It waits for its turn (`--delay`), takes a `{%}` slot, renders the command,
//! runs it as a process ([`crate::job::run`]), counts its final outcome for `--halt`
//! ([`Halting::count`]) and hands back what it left ([`Ran`]) as the item's value or error.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use threadkit::batch::{CancelToken, Cause, Task};

use super::halt::Halting;
use super::jobs::JobInput;
use crate::exit;
use crate::job::{self, Attempt, Limits, LineSink, Running};
use crate::output::Printer;
use crate::template::Template;

/// What one run of a job left: its command line and what it did.
#[derive(Debug)]
pub(crate) struct Ran {
    pub(super) seq: u64,
    /// Shared with the job (an `-X` job holds tens of thousands of values).
    pub(super) args: std::sync::Arc<[Vec<u8>]>,
    pub(super) attempts: u32,
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
    /// A job that was handed over but not started (a stop came first).
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
    /// Free `{%}` slot numbers, when the command uses them.
    pub(super) slots: Option<Mutex<Vec<usize>>>,
    /// `--delay`, and when the next job may start.
    pub(super) delay: Option<(Duration, Mutex<Instant>)>,
    /// Attempts handed over and not yet returned (the driver waits for them after a stop).
    pub(super) live: AtomicUsize,
    /// `--halt`, counted by the task itself after each job's last attempt so that it acts
    /// at once (TERM for `now`, the token for `success=`/`done=`).
    pub(super) halting: Halting,
    pub(super) max_attempts: u32,
    pub(super) token: CancelToken,
    /// A job could not start for want of a resource of threadkit's own (EMFILE...).
    pub(super) own_error: Mutex<Option<String>>,
}

impl Shared {
    fn take_slot(&self) -> usize {
        match &self.slots {
            None => 1,
            Some(m) => m
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop()
                .unwrap_or(1),
        }
    }

    fn put_slot(&self, slot: usize) {
        if let Some(m) = &self.slots {
            m.lock().unwrap_or_else(|e| e.into_inner()).push(slot);
        }
    }

    fn wait_turn(&self) {
        if let Some((delay, next)) = &self.delay {
            let wait = {
                let mut n = next.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let start = (*n).max(now);
                *n = start + *delay;
                start - now
            };
            // In steps, so that Ctrl-C or a halt during a long delay is seen promptly.
            let until = Instant::now() + wait;
            while !self.running.stopping() && !self.token.is_cancelled() {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                std::thread::sleep(left.min(Duration::from_millis(20)));
            }
        }
    }

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
        self.wait_turn();
        if self.running.stopping() || self.token.is_cancelled() || self.own_error_seen() {
            // Handed over just as a stop came, or the stop came during `--delay`: do not start
            // it. The batch runner reports it as not started (not journaled).
            self.live.fetch_sub(1, Ordering::SeqCst);
            return Err(Cause::NotStarted);
        }
        let attempts = job.attempts.fetch_add(1, Ordering::Relaxed) + 1;
        let slot = self.take_slot();
        let line = self.template.render(&job.args, job.seq, slot);
        let launch = self.template.launch(&job.args, job.seq, slot);
        if self.trace {
            threadkit::progress::suspend(|| {
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(&[&line[..], b"\n"].concat());
            });
        }
        let sink = self
            .line_buffer
            .then(|| self.printer.lines(self.printer.prefix(&job.args)));
        let attempt = job::run(
            job.seq,
            &line,
            &launch,
            self.limits,
            self.running,
            sink.as_ref().map(|s| s as &dyn LineSink),
        );
        self.put_slot(slot);
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
        let ok = attempt.succeeded();
        let interrupted = !ok && self.running.stopping();
        let ran = Box::new(Ran {
            seq: job.seq,
            args: job.args.clone(),
            attempts,
            line,
            attempt,
        });
        if ok || attempts >= self.max_attempts {
            self.halting.count(
                ok && !interrupted,
                !ok && !interrupted,
                exit::job_code(&ran.attempt),
            );
        }
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
