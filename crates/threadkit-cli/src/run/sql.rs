//! GNU parallel's SQL mode on [`threadkit::batch::dist`]: `--sqlmaster` renders the command
//! lines of this command line and submits them as a distributed batch (the DBURL's table is
//! the batch id), then takes each job's outcome as a worker records it and treats it as a
//! local run does (joblog, results, output in order with `-k`, counts for the exit code);
//! `--sqlworker` runs the jobs of that batch, each as a local job ([`crate::job::run`]), and
//! records what it left (exit, signal, times, stdout and stderr bytes) as the job's result;
//! `--sqlandworker` is both in one process. See docs/distributed.md.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use threadkit::batch::dist::{Blob, Done, JobContext, Queue, Served, Worker};
use threadkit::batch::{Cause, FailurePolicy, HaltEvent, HaltOn, Retry, StopReason, Threshold};

use super::delivery::{Delivery, Logs};
use super::jobs::{Jobs, Keyer};
use super::task::Ran;
use super::Outcome;
use crate::dburl::DbUrl;
use crate::exit;
use crate::flags::{Args, RunPlan, SqlPlan};
use crate::inputs::Inputs;
use crate::job::{self, Attempt, Limits, Running};
use crate::spill::{Capture, RAM_PER_STREAM};
use crate::template::{Launch, Template};

/// One job in the database: what a worker needs to run it.
#[derive(Debug, Serialize, Deserialize)]
struct SqlJob {
    /// `{#}`.
    seq: u64,
    /// The rendered command line (`{%}` is 1: the worker's slot is not known when rendering).
    line: Vec<u8>,
    /// The master's `--timeout`, in milliseconds.
    timeout_ms: Option<u64>,
}

/// What a job left, as stored with its result: a success is the `Ok` value, a failure (exit
/// not 0, a signal, a timeout, could not start) the `Err` value.
#[derive(Debug, Serialize, Deserialize)]
struct SqlRan {
    /// Start, in nanoseconds since the epoch (the worker's clock).
    start_ns: u64,
    duration_ns: u64,
    exit: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    stdout: Stream,
    stderr: Stream,
}

/// One output stream of a job as stored: in the outcome row when small, else in blob chunk
/// rows written a chunk at a time (neither side holds a large output whole).
#[derive(Debug, Serialize, Deserialize)]
enum Stream {
    Inline(Vec<u8>),
    Blob(Box<Blob>),
}

impl Stream {
    /// `c` as stored: inline up to what a capture keeps in memory anyway, else as blob
    /// `name` of `job`.
    fn store(c: &Capture, name: &str, job: &JobContext) -> Result<Stream, String> {
        if c.len() <= RAM_PER_STREAM as u64 {
            return Ok(Stream::Inline(c.to_vec()));
        }
        let mut w = job.blob(name);
        c.write_to(&mut |b| w.write_all(b))
            .map_err(|e| format!("cannot store its {name}: {e}"))?;
        w.finish()
            .map(|b| Stream::Blob(Box::new(b)))
            .map_err(|e| format!("cannot store its {name}: {e}"))
    }

    /// Back to a capture (output past the spill threshold goes to a spill file, as locally),
    /// reading a blob from `queue`'s batch `table` a chunk at a time.
    fn load(self, blobs: Option<(&Queue, &str)>) -> Result<Capture, String> {
        let mut c = Capture::default();
        match self {
            Stream::Inline(bytes) => c.push(&bytes),
            Stream::Blob(blob) => {
                let (queue, table) = blobs.ok_or("its output is in the database")?;
                queue
                    .read_blob(table, &blob, &mut |b| {
                        c.push(b);
                        Ok(())
                    })
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(c)
    }
}

/// For a failure's cause in a message.
impl fmt::Display for SqlRan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.exit, self.signal) {
            (_, Some(s)) => write!(f, "killed by signal {s}"),
            (Some(c), None) => write!(f, "exit code {c}"),
            (None, None) => f.write_str("did not exit"),
        }
    }
}

impl SqlRan {
    /// What `a` left, its output stored for `job`; `Err` when the output could not be
    /// stored (the database is gone): a failure saying so.
    fn from_attempt(a: &Attempt, job: &JobContext) -> Result<SqlRan, SqlRan> {
        let streams = Stream::store(&a.stdout, "stdout", job)
            .and_then(|o| Ok((o, Stream::store(&a.stderr, "stderr", job)?)));
        let (stdout, stderr) = match streams {
            Ok(s) => s,
            Err(why) => {
                return Err(SqlRan::not_run(format!(
                    "threadkit: job {}: {why}",
                    job.seq() + 1
                )))
            }
        };
        Ok(SqlRan {
            start_ns: a
                .start
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
            duration_ns: a.duration.as_nanos() as u64,
            exit: a.exit,
            signal: a.signal,
            timed_out: a.timed_out,
            stdout,
            stderr,
        })
    }

    /// A job that could not be run or whose output could not be stored: exit
    /// [`exit::ERROR`] with `message` on its stderr.
    fn not_run(message: String) -> SqlRan {
        SqlRan {
            start_ns: 0,
            duration_ns: 0,
            exit: Some(exit::ERROR),
            signal: None,
            timed_out: false,
            stdout: Stream::Inline(Vec::new()),
            stderr: Stream::Inline(format!("{message}\n").into_bytes()),
        }
    }

    /// Back to an [`Attempt`], blobs read from `queue`'s batch `table`; `Err` says why an
    /// output could not be read (the attempt then has what could).
    fn into_attempt(self, queue: &Queue, table: &str) -> (Attempt, Option<String>) {
        let mut error = None;
        let mut load = |s: Stream| {
            s.load(Some((queue, table))).unwrap_or_else(|e| {
                error.get_or_insert(e);
                Capture::default()
            })
        };
        let (stdout, stderr) = (load(self.stdout), load(self.stderr));
        let attempt = Attempt {
            start: UNIX_EPOCH + Duration::from_nanos(self.start_ns),
            duration: Duration::from_nanos(self.duration_ns),
            exit: self.exit,
            signal: self.signal,
            timed_out: self.timed_out,
            received: stdout.len() + stderr.len(),
            unread: 0,
            stdout,
            stderr,
        };
        (attempt, error)
    }
}

/// Serves `url`'s batch with `slots` jobs at once until it is over.
fn serve(
    url: &DbUrl,
    (slots, lease): (usize, Duration),
    limits: Limits,
    running: &'static Running,
) -> anyhow::Result<Served> {
    let served = Worker::connect(&url.conn)?
        .workers(slots.max(1))
        .lease(lease)
        .serve_with(&url.table, move |j: &SqlJob, cx: &JobContext| {
            let limits = Limits {
                timeout: j.timeout_ms.map(Duration::from_millis),
                ..limits
            };
            match job::run(j.seq, &j.line, &Launch::Shell, limits, running, None, None) {
                Ok(a) if a.succeeded() => SqlRan::from_attempt(&a, cx),
                Ok(a) => Err(SqlRan::from_attempt(&a, cx).unwrap_or_else(|e| e)),
                Err(e) => Err(SqlRan::not_run(format!(
                    "threadkit: cannot start job {}: {e}",
                    j.seq
                ))),
            }
        })?;
    Ok(served)
}

/// `--sqlworker DBURL`: run the jobs of the table until all have finished. Exit 0, or 255 when
/// the database failed us (the jobs held are then taken by other workers after their lease).
///
/// # Errors
///
/// A bad DBURL or flag, a COMMAND given (the commands come from the table), the database.
pub(crate) fn worker(args: &Args, url: &str) -> anyhow::Result<i32> {
    if !args.rest.is_empty() {
        anyhow::bail!("--sqlworker takes no command or inputs: they come from the table");
    }
    let url = DbUrl::parse(url)?;
    let limits = crate::flags::worker_limits(args)?;
    let running: &'static Running = Box::leak(Box::default());
    serve(&url, (args.job_slots()?, args.sql_lease), limits, running)
        .with_context(|| format!("--sqlworker on table {:?}", url.table))?;
    Ok(exit::SUCCESS)
}

/// Ctrl-C / TERM / HUP on the master: cancel the batch (workers start no more of its jobs;
/// `--resume` goes on with it).
fn install_signals(url: &DbUrl, flag: Arc<AtomicBool>) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| anyhow::anyhow!("cannot install the Ctrl-C handler: {e}"))?;
    let url = url.clone();
    std::thread::Builder::new()
        .name("threadkit-signals".into())
        .spawn(move || {
            for (n, _) in signals.forever().enumerate() {
                flag.store(true, Ordering::SeqCst);
                if n == 0 {
                    threadkit::progress::suspend(|| {
                        eprintln!("threadkit: interrupted: cancelling the batch (workers start no more of its jobs)")
                    });
                    if let Err(e) = Queue::connect(&url.conn).and_then(|q| q.cancel(&url.table)) {
                        eprintln!("threadkit: cannot cancel the batch: {e}");
                    }
                } else {
                    std::process::exit(exit::INTERRUPTED);
                }
            }
        })?;
    Ok(())
}

/// Counts the jobs as they come, for `--halt`'s trigger (the job whose outcome met a count
/// condition).
#[derive(Default)]
struct Counts {
    failed: u64,
    succeeded: u64,
}

impl Counts {
    /// Count one finished job; whether it met `threshold` on `on` just now.
    fn count(&mut self, ok: bool, on: HaltOn, threshold: Threshold) -> bool {
        if ok {
            self.succeeded += 1;
        } else {
            self.failed += 1;
        }
        let n = match on {
            HaltOn::Fail if !ok => self.failed,
            HaltOn::Success if ok => self.succeeded,
            HaltOn::Done => self.failed + self.succeeded,
            _ => return false,
        };
        matches!(threshold, Threshold::Count(t) if t == n)
    }
}

/// `--sqlmaster` / `--sqlandworker`: submit the jobs and follow them to the end.
///
/// # Errors
///
/// The database could not be used, or the table holds another command line's jobs (without
/// `--resume*` the table is started afresh, so only with them).
pub(super) fn master(
    template: Template,
    inputs: Inputs,
    mut plan: RunPlan,
    sql: SqlPlan,
) -> anyhow::Result<Outcome> {
    let url = sql.url;
    let mut out = Outcome::default();
    // Every command line is rendered first: the batch is enqueued in one transaction.
    let (jobs, input_errors) = Jobs::new(inputs, None, Keyer::new(false));
    let timeout_ms = plan.limits.timeout.map(|t| t.as_millis() as u64);
    let mut kept = Vec::new();
    let mut enqueued = Vec::new();
    for j in jobs {
        let line = template.render(&*j.args, j.seq, 1);
        enqueued.push(SqlJob {
            seq: j.seq,
            line: line.clone(),
            timeout_ms,
        });
        kept.push((j.args, line));
    }
    out.input_error = input_errors.try_recv().ok();
    out.total = kept.len() as u64;
    let queue = Queue::connect(&url.conn)?;
    if sql.resume {
        queue.reopen(&url.table, sql.rerun_failed)?;
    } else {
        queue.forget(&url.table)?;
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    install_signals(&url, interrupted.clone())?;
    let local_worker = sql.and_worker.then(|| {
        let (url, slots, limits) = (url.clone(), (plan.slots, sql.lease), plan.limits);
        std::thread::spawn(move || serve(&url, slots, limits, Box::leak(Box::default())))
    });
    let halt = plan.halt.halt();
    let mut submit = queue
        .batch(&url.table)
        .retry(Retry::new(plan.retries.saturating_sub(1)))
        .progress(plan.progress);
    if let Some(h) = halt {
        submit = submit.on_failure(FailurePolicy::Halt(h));
    }
    let printer = std::mem::replace(&mut plan.printer, crate::output::Printer::new(false));
    let mut delivery = Delivery::new(plan.output);
    let mut logs = Logs {
        joblog: plan.joblog.take(),
        results: plan.results.take(),
    };
    let mut counts = Counts::default();
    let mut trigger: Option<(u64, i32)> = None;
    let stopped = submit
        .run_each(enqueued, |d: Done<SqlRan, SqlRan>| {
            let index = d.seq;
            if d.earlier {
                // Finished in an earlier run (`--resume`): skipped, not printed, as GNU
                // parallel does with its joblog.
                out.skipped += 1;
                delivery.put(index, None, &printer);
                return;
            }
            let (ran, ok) = match d.result {
                Ok(ran) => (ran, true),
                Err(Cause::Error(ran)) => (ran, false),
                Err(Cause::NotStarted) => {
                    out.not_started += 1;
                    delivery.put(index, None, &printer);
                    return;
                }
                Err(Cause::Cancelled) => {
                    delivery.put(index, None, &printer);
                    return;
                }
                Err(other) => {
                    eprintln!("threadkit: job {}: {other}", index + 1);
                    out.failed += 1;
                    delivery.put(index, None, &printer);
                    return;
                }
            };
            let (args, line) = &kept[index as usize];
            let ran = Box::new(Ran {
                seq: index + 1,
                args: args.clone(),
                attempts: d.attempts,
                line: line.clone(),
                attempt: {
                    let (attempt, lost) = ran.into_attempt(&queue, &url.table);
                    if let Some(why) = lost {
                        eprintln!(
                            "threadkit: job {}: cannot read its output: {why}",
                            index + 1
                        );
                        out.error = true;
                    }
                    attempt
                },
            });
            let code = exit::job_code(&ran.attempt);
            if ok {
                out.succeeded += 1;
            } else {
                out.failed += 1;
                out.last_failed_exit = Some(code);
            }
            if let Some(h) = halt {
                if counts.count(ok, h.on, h.threshold) && trigger.is_none() {
                    trigger = Some((index, if ok { exit::SUCCESS } else { code }));
                }
            }
            if !logs.write(&ran) {
                out.error = true;
            }
            delivery.put(index, Some(ran), &printer);
        })
        .with_context(|| format!("--sqlmaster on table {:?}", url.table))?;
    delivery.finish(&printer);
    if let (Some(StopReason::Halted), Some(h)) = (stopped, halt) {
        out.halt_trigger_exit = trigger.map(|(_, code)| code);
        out.halted_by = Some(HaltEvent {
            when: h.when,
            on: h.on,
            index: trigger.map_or(0, |(i, _)| i),
            count: match h.on {
                HaltOn::Fail => counts.failed,
                HaltOn::Success => counts.succeeded,
                HaltOn::Done => counts.failed + counts.succeeded,
            },
            total: Some(out.total),
        });
    }
    out.interrupted = interrupted.load(Ordering::SeqCst);
    out.error |= printer
        .failure()
        .is_some_and(|f| matches!(f, crate::output::Failure::Error(_)));
    if let Some(w) = local_worker {
        match w.join() {
            Ok(r) => {
                r.context("--sqlandworker's worker")?;
            }
            Err(_) => anyhow::bail!("--sqlandworker's worker panicked"),
        }
    }
    Ok(out)
}
