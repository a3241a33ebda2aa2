//! The job plan run on `threadkit::batch`: one batch item per job, one attempt per call of the
//! batch task (so the batch runner's retries, `--halt fail=` policy, cancellation token, journal,
//! ordering and progress bar apply), the process side (spawn, process groups, timeout, output)
//! in [`crate::job`].
//!
//! What the CLI adds on top of the batch runner, because the runner works with threads and
//! these are processes: TERM/KILL to process groups on timeout, `--halt now` and Ctrl-C
//! ([`Running`]); `--halt success=` and `done=` (the runner's halt counts failures only); the
//! `{%}` slot number; `--delay`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use threadkit::batch::{
    Batch, CancelToken, Cause, Durability, FailurePolicy, Halt, HaltWhen, Journal, Retry, Task,
    Threshold,
};

use crate::job::{self, Attempt, Limits, LineSink, Running};
use crate::joblog::{JobLog, Results};
use crate::output::{Failure, Printer};
use crate::template::Template;

/// One job: its number, its inputs (one per source) and its journal key.
#[derive(Debug)]
pub(crate) struct JobInput {
    /// `{#}`: position in the input, from 1.
    pub(crate) seq: u64,
    /// One value per input source (bytes, as read).
    pub(crate) args: Vec<Vec<u8>>,
    /// Stable journal key: the inputs as a JSON array ([`crate::bytes::List`]: lossless for
    /// inputs that are not UTF-8), `#N` appended for the Nth repeat of the same inputs. Not the sequence number: adding or removing inputs does not shift it.
    pub(crate) key: String,
    /// Attempts so far (retries).
    attempts: AtomicU32,
}

/// Builds [`JobInput`]s with keys that are stable across runs.
#[derive(Debug, Default)]
pub(crate) struct Keyer {
    seen: Option<HashMap<u64, u32>>,
    seq: u64,
}

impl Keyer {
    /// `track_repeats`: count repeated inputs (needed with a journal; costs about 16 bytes
    /// per distinct input).
    pub(crate) fn new(track_repeats: bool) -> Keyer {
        Keyer {
            seen: track_repeats.then(HashMap::new),
            seq: 0,
        }
    }

    /// The next job of these inputs.
    pub(crate) fn job(&mut self, args: Vec<Vec<u8>>) -> JobInput {
        self.seq += 1;
        let mut key = String::new();
        if let Some(seen) = &mut self.seen {
            key = serde_json::to_string(&crate::bytes::List(&args)).unwrap_or_default();
            let mut h = std::hash::DefaultHasher::new();
            key.hash(&mut h);
            let n = seen.entry(h.finish()).or_insert(0);
            *n += 1;
            if *n > 1 {
                key.push_str(&format!("#{n}"));
            }
        }
        JobInput {
            seq: self.seq,
            args,
            key,
            attempts: AtomicU32::new(0),
        }
    }
}

/// What one run of a job left: its command line and what it did.
#[derive(Debug)]
pub(crate) struct Ran {
    seq: u64,
    args: Vec<Vec<u8>>,
    attempts: u32,
    line: Vec<u8>,
    attempt: Attempt,
}

/// A job that succeeded. Journaled as `{"exit":0}`; its output is not kept in the journal, so a
/// job skipped by `--resume` comes back with `ran: None` and prints nothing (as in GNU parallel).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Succeeded {
    exit: i32,
    #[serde(skip)]
    ran: Option<Box<Ran>>,
}

/// A job whose command failed (non-zero exit, signal, timeout, could not start).
#[derive(Debug)]
pub(crate) struct JobFailed {
    ran: Box<Ran>,
    /// Stopped by `--halt now` or Ctrl-C rather than failing on its own.
    interrupted: bool,
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

/// `--halt`: the batch runner's failure policy, or a CLI-side stop on successes / finished jobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum HaltSpec {
    /// Never halt.
    Never,
    /// `fail=`: the batch runner's policy.
    Fail(FailurePolicy),
    /// `success=` (`done: false`) or `done=` (`done: true`).
    Count {
        when: HaltWhen,
        threshold: Threshold,
        done: bool,
    },
}

impl HaltSpec {
    /// Parse GNU parallel's `--halt` values, shorthands included. Errors name the flag and
    /// its forms (not the batch runner's policy syntax); a limit of 0 is refused, since it
    /// would halt before any job ran (`never` is the way to never halt).
    pub(crate) fn parse(s: &str) -> anyhow::Result<HaltSpec> {
        let s = s.trim();
        let expanded = match s {
            "0" | "never" => return Ok(HaltSpec::Never),
            "1" => "soon,fail=1".to_string(),
            "2" => "now,fail=1".to_string(),
            "-1" => "soon,success=1".to_string(),
            "-2" => "now,success=1".to_string(),
            p if p.ends_with('%') && !p.contains(',') => format!("soon,fail={p}"),
            other => other.to_string(),
        };
        let bad = |why: &str| {
            anyhow::anyhow!(
                "invalid --halt {s:?}: {why} (forms: never, soon|now,fail|success|done=N|N%, \
                 or the shorthands 0, 1, 2, -1, -2)"
            )
        };
        let (when, why) = expanded
            .split_once(',')
            .ok_or_else(|| bad("expected WHEN,WHY=N"))?;
        let when = match when {
            "soon" => HaltWhen::Soon,
            "now" => HaltWhen::Now,
            _ => return Err(bad("WHEN is soon or now")),
        };
        let (what, value) = why
            .split_once('=')
            .ok_or_else(|| bad("expected WHEN,WHY=N"))?;
        if !matches!(what, "fail" | "success" | "done") {
            return Err(bad("WHY is fail, success or done"));
        }
        let threshold = match value.strip_suffix('%') {
            Some(p) => Threshold::Percent(
                p.parse()
                    .ok()
                    .filter(|p: &f64| (0.0..=100.0).contains(p))
                    .ok_or_else(|| bad("N% is a percentage from 1 to 100"))?,
            ),
            None => Threshold::Count(
                value
                    .parse::<u64>()
                    .map_err(|_| bad("N is a whole number of jobs"))?,
            ),
        };
        if matches!(threshold, Threshold::Count(0)) || threshold == Threshold::Percent(0.0) {
            anyhow::bail!(
                "--halt {s}: a limit of 0 would halt before any job ran; give at least 1 \
                 (or 1%), or use --halt never to never halt"
            );
        }
        Ok(match what {
            "fail" => HaltSpec::Fail(FailurePolicy::Halt(Halt { when, threshold })),
            _ => HaltSpec::Count {
                when,
                threshold,
                done: what == "done",
            },
        })
    }

    fn when(&self) -> Option<HaltWhen> {
        match self {
            HaltSpec::Never => None,
            HaltSpec::Fail(FailurePolicy::Halt(Halt { when, .. })) => Some(*when),
            HaltSpec::Fail(_) => Some(HaltWhen::Soon),
            HaltSpec::Count { when, .. } => Some(*when),
        }
    }
}

/// Everything needed to run the jobs.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) template: Template,
    pub(crate) slots: usize,
    pub(crate) keep_order: bool,
    pub(crate) line_buffer: bool,
    pub(crate) limits: Limits,
    pub(crate) retries: u32,
    pub(crate) halt: HaltSpec,
    pub(crate) delay: Option<Duration>,
    pub(crate) progress: bool,
    pub(crate) trace: bool,
    pub(crate) printer: Printer,
    pub(crate) joblog: Option<JobLog>,
    pub(crate) results: Option<Results>,
    pub(crate) journal: Option<(Journal, bool)>,
    /// Total number of jobs when known in advance (for percentages).
    pub(crate) total: Option<u64>,
}

/// How the run ended.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Jobs that ran and failed on their own (not stopped by halt now / Ctrl-C).
    pub(crate) failed: u64,
    /// Jobs that succeeded in this run.
    pub(crate) succeeded: u64,
    /// Jobs skipped thanks to the journal.
    pub(crate) skipped: u64,
    /// Jobs never started because the run stopped first (Ctrl-C, a halt): not journaled, so
    /// `--resume` runs them.
    pub(crate) not_started: u64,
    /// A `--halt success=`/`done=` condition was met.
    pub(crate) halted_on_count: bool,
    /// The run was halted (any `--halt`).
    pub(crate) halted: bool,
    /// Ctrl-C (or TERM/HUP) stopped the run.
    pub(crate) interrupted: bool,
    /// Exit code of the last job that failed on its own.
    pub(crate) last_failed_exit: Option<i32>,
    /// Exit code of the failure that reached the `--halt fail=` limit.
    pub(crate) halt_trigger_exit: Option<i32>,
    /// Jobs in all, counted as they were read.
    pub(crate) total: u64,
    /// Output, the joblog or the results file could not be written, or a job could not start
    /// for want of a resource of threadkit's own (reported; exit 255).
    pub(crate) error: bool,
}

/// State shared by the batch task (on worker threads) and the driver.
struct Shared {
    template: Template,
    limits: Limits,
    running: &'static Running,
    printer: Arc<Printer>,
    line_buffer: bool,
    trace: bool,
    slots: Option<Mutex<Vec<usize>>>,
    delay: Option<(Duration, Mutex<Instant>)>,
    live: AtomicUsize,
    /// `--halt` as given, checked by the task itself after each job's last attempt: the batch
    /// runner's calling thread runs jobs too, so the driver loop may be busy inside a long job
    /// when the condition is met; the task acts at once (TERM for `now`, the token for
    /// `success=`/`done=`).
    halt: HaltSpec,
    max_attempts: u32,
    total: Option<u64>,
    token: CancelToken,
    counts: HaltCounts,
    /// A job could not start for want of a resource of threadkit's own (EMFILE...).
    own_error: Mutex<Option<String>>,
}

/// Jobs finished (after their last attempt), counted by the task for `--halt`.
#[derive(Debug, Default)]
struct HaltCounts {
    finished: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    reached: AtomicBool,
    /// [`failure_code`] of the failure that reached a `fail=` limit.
    trigger_exit: OnceLock<i32>,
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

    /// Count a job's final outcome and act on `--halt` when its condition is met; `code` is the
    /// job's [`failure_code`] when it failed.
    fn count_final(&self, succeeded: bool, failed: bool, code: i32) {
        let c = &self.counts;
        let finished = c.finished.fetch_add(1, Ordering::SeqCst) + 1;
        let ok = c
            .succeeded
            .fetch_add(u64::from(succeeded), Ordering::SeqCst)
            + u64::from(succeeded);
        let bad = c.failed.fetch_add(u64::from(failed), Ordering::SeqCst) + u64::from(failed);
        let (when, reached, ours) = match self.halt {
            HaltSpec::Never => return,
            HaltSpec::Fail(p) => match p {
                FailurePolicy::Halt(h) => {
                    (h.when, failed && h.threshold.reached(bad, finished), false)
                }
                // Not produced by --halt; the batch runner handles it.
                _ => return,
            },
            HaltSpec::Count {
                when,
                threshold,
                done,
            } => {
                let n = if done { finished } else { ok };
                let hit = (done || succeeded)
                    && match threshold {
                        Threshold::Count(k) => n >= k,
                        Threshold::Percent(p) => self
                            .total
                            .is_some_and(|t| t > 0 && n as f64 * 100.0 >= p * t as f64),
                    };
                (when, hit, true)
            }
        };
        if reached && !c.reached.swap(true, Ordering::SeqCst) {
            if !ours {
                let _ = c.trigger_exit.set(code);
            }
            if ours {
                self.token.cancel();
            }
            if when == HaltWhen::Now {
                self.running.terminate_all(self.limits.grace);
            }
        }
    }

    /// True once a job could not start for want of a resource of ours.
    fn own_error_seen(&self) -> bool {
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
            self.count_final(
                ok && !interrupted,
                !ok && !interrupted,
                failure_code(&ran.attempt),
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
struct JobTask(Arc<Shared>);

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

/// Ctrl-C / TERM / HUP: the first stops starting jobs and sends TERM to the running ones (KILL
/// after the grace period); the second sends KILL at once.
fn install_signals(
    token: CancelToken,
    running: &'static Running,
    grace: Duration,
    flag: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| anyhow::anyhow!("cannot install the Ctrl-C handler: {e}"))?;
    std::thread::Builder::new().name("threadkit-signals".into()).spawn(move || {
        for (n, _) in signals.forever().enumerate() {
            if n == 0 {
                flag.store(true, Ordering::SeqCst);
                token.cancel();
                threadkit::progress::suspend(|| eprintln!("threadkit: interrupted: starting no more jobs, sending TERM to the running ones (Ctrl-C again to KILL)"));
                running.terminate_all(grace);
            } else {
                running.kill_all();
            }
        }
    })?;
    Ok(())
}

/// Run every job of `inputs` through the batch runner.
pub(crate) fn run(
    mut plan: Plan,
    inputs: impl Iterator<Item = JobInput> + Send + 'static,
) -> anyhow::Result<Outcome> {
    let running: &'static Running = Box::leak(Box::default());
    let token = CancelToken::new();
    let interrupted = Arc::new(AtomicBool::new(false));
    install_signals(
        token.clone(),
        running,
        plan.limits.grace,
        interrupted.clone(),
    )?;
    let printer = Arc::new(std::mem::replace(&mut plan.printer, Printer::new(false)));
    {
        // Output that cannot be written (stdout closed, disk full): no more jobs, and the
        // running ones are stopped, since their output has nowhere to go.
        let token = token.clone();
        let grace = plan.limits.grace;
        printer.on_failure(Box::new(move |_| {
            token.cancel();
            running.terminate_all(grace);
        }));
    }
    let uses_slot = plan.template.uses_slot();
    let shared = Arc::new(Shared {
        template: plan.template.clone(),
        limits: plan.limits,
        running,
        printer: printer.clone(),
        line_buffer: plan.line_buffer && !plan.keep_order,
        trace: plan.trace,
        slots: uses_slot.then(|| Mutex::new((1..=plan.slots).rev().collect())),
        delay: plan.delay.map(|d| (d, Mutex::new(Instant::now()))),
        live: AtomicUsize::new(0),
        halt: plan.halt,
        max_attempts: plan.retries.max(1),
        total: plan.total,
        token: token.clone(),
        counts: HaltCounts::default(),
        own_error: Mutex::new(None),
    });
    let policy = match plan.halt {
        HaltSpec::Fail(p) => p,
        _ => FailurePolicy::CollectAll,
    };
    let mut batch = Batch::with_task(JobTask(shared.clone()))
        .workers(plan.slots)
        .chunk_size(1)
        // No job waits in a queue: a job is handed to a worker only when a slot is free, so a
        // halt or Ctrl-C seen by the driver stops everything not yet started.
        .window(plan.slots)
        // A cancelled run (Ctrl-C, a CLI-side halt) waits for its running jobs: they are
        // processes we stop ourselves (TERM, then KILL). Setting a grace also makes the run
        // "tracked", so the calling thread only drives (delivers output, commits the journal,
        // applies halts) and never runs a job itself, which could keep it busy for hours.
        .grace(Duration::from_secs(100 * 365 * 24 * 3600))
        .progress(plan.progress)
        .retry(Retry::new(plan.retries.saturating_sub(1)))
        .on_failure(policy)
        .cancel_token(token.clone());
    // Outcomes come as jobs finish, also with -k: a slow job must not hold the other slots
    // (the window counts outcomes not yet taken); `Delivery` puts the output in order.
    batch = batch.unordered();
    let journaled = plan.journal.is_some();
    if let Some((journal, retry_failed)) = plan.journal.take() {
        // Each finished job is committed before it counts as done (before its output is printed
        // and its joblog line written), and each job's start before it starts: after a kill -9,
        // exactly the jobs that were running run again.
        batch = batch
            .journal(journal.durability(Durability::PerItem))
            .journal_key(|j: &JobInput| j.key.clone())
            .retry_failed(retry_failed);
    }
    let mut stream = batch.stream(inputs).map_err(|e| anyhow::anyhow!("{e}"))?;
    let were_running = stream.summary().running_at_last_stop;
    if were_running > 0 {
        eprintln!(
            "threadkit: {were_running} jobs were running when the last run with this journal \
             died; they run again"
        );
    }
    let mut out = Outcome::default();
    let halt_now = plan.halt.when() == Some(HaltWhen::Now);
    let mut finished = 0u64;
    let mut delivery = Delivery::new(plan.keep_order, shared.line_buffer);
    // `finished` counts only the outcomes that get past the `break 'job`s, not every one.
    #[allow(clippy::explicit_counter_loop)]
    for (index, outcome) in &mut stream {
        // The job's record: printed now, or with -k once the jobs before it are printed.
        let ran = 'job: {
            let (ran, ok) = match outcome {
                Ok(Succeeded { ran: Some(ran), .. }) => (ran, true),
                Ok(Succeeded { ran: None, .. }) => {
                    out.skipped += 1;
                    break 'job None;
                }
                Err(f) => match f.cause {
                    Cause::Error(e) => {
                        if !e.interrupted {
                            out.failed += 1;
                            out.last_failed_exit = Some(failure_code(&e.ran.attempt));
                        }
                        (e.ran, false)
                    }
                    Cause::Panic { message, .. } => {
                        eprintln!(
                            "threadkit: internal error in job {}: {message}",
                            f.index + 1
                        );
                        out.failed += 1;
                        break 'job None;
                    }
                    Cause::Timeout { .. } | Cause::Crashed { .. } => {
                        out.failed += 1;
                        break 'job None;
                    }
                    Cause::Cancelled | Cause::NotStarted => {
                        out.not_started += u64::from(matches!(f.cause, Cause::NotStarted));
                        if !out.halted && !interrupted.load(Ordering::SeqCst) {
                            out.halted = true;
                            halt_message(plan.halt, halt_now);
                        }
                        if halt_now {
                            running.terminate_all(plan.limits.grace);
                        }
                        break 'job None;
                    }
                    Cause::Journaled { .. } => {
                        out.skipped += 1;
                        break 'job None;
                    }
                },
            };
            if ok {
                out.succeeded += 1;
            }
            finished += 1;
            if !log(&mut plan, &ran) {
                out.error = true;
                token.cancel();
            }
            if let HaltSpec::Count {
                when,
                threshold,
                done,
            } = plan.halt
            {
                let count = if done { finished } else { out.succeeded };
                let reached = match threshold {
                    Threshold::Count(n) => count >= n,
                    Threshold::Percent(p) => plan
                        .total
                        .is_some_and(|t| t > 0 && count as f64 * 100.0 >= p * t as f64),
                };
                if reached && !out.halted_on_count {
                    out.halted_on_count = true;
                    out.halted = true;
                    halt_message(plan.halt, when == HaltWhen::Now);
                    token.cancel();
                    if when == HaltWhen::Now {
                        running.terminate_all(plan.limits.grace);
                    }
                }
            }
            Some(ran)
        };
        delivery.put(index, ran, &printer);
    }
    delivery.finish(&printer);
    out.halt_trigger_exit = shared.counts.trigger_exit.get().copied();
    if shared.counts.reached.load(Ordering::SeqCst) {
        if !out.halted && !interrupted.load(Ordering::SeqCst) {
            halt_message(plan.halt, plan.halt.when() == Some(HaltWhen::Now));
        }
        out.halted = true;
        out.halted_on_count |= matches!(plan.halt, HaltSpec::Count { .. });
    }
    // A journal that could not be written stops the run early.
    let journal_error = stream.error().map(|e| e.to_string());
    // Jobs abandoned by the batch runner on `--halt now` are still being killed: wait for them so
    // that no process outlives the run.
    while shared.live.load(Ordering::SeqCst) > 0 && running.stopping() {
        std::thread::sleep(Duration::from_millis(5));
    }
    if running.stopping() {
        running.wait_lingering();
    }
    out.interrupted = interrupted.load(Ordering::SeqCst);
    out.error |= matches!(printer.failure(), Some(Failure::Error(_))) || shared.own_error_seen();
    out.total = stream.summary().total;
    // With a journal, say what a resume will do; without one (GNU parallel says nothing on
    // Ctrl-C either) and after a closed stdout (which ends the run quietly), stay silent.
    if out.not_started > 0 && journaled && printer.failure() != Some(Failure::Closed) {
        eprintln!(
            "threadkit: {} jobs not started; --resume runs them",
            out.not_started
        );
    }
    if let Some(e) = journal_error {
        anyhow::bail!("{e}; the run stopped early");
    }
    Ok(out)
}

impl Outcome {
    /// GNU parallel's exit status for this run (see docs/cli.md).
    pub(crate) fn exit_code(&self, halt: HaltSpec) -> i32 {
        if self.error {
            return 255;
        }
        if self.interrupted {
            return 130;
        }
        match halt {
            HaltSpec::Count { done: false, .. } if self.halted_on_count => return 0,
            HaltSpec::Fail(FailurePolicy::Halt(Halt { threshold, .. })) if self.halted => {
                match threshold {
                    // GNU parallel: `fail=1` exits with the failing job's exit code, `fail=Y%` with
                    // the percentage of jobs that failed.
                    // The job that reached the limit, not a later failure of a job that was
                    // still running.
                    Threshold::Count(1) => {
                        return self
                            .halt_trigger_exit
                            .or(self.last_failed_exit)
                            .unwrap_or(1)
                            .clamp(1, 255)
                    }
                    Threshold::Percent(_) if self.total > 0 => {
                        return ((self.failed * 100).div_ceil(self.total)).clamp(1, 100) as i32
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        self.failed.min(101) as i32
    }
}

/// The exit code a failed job stands for in `--halt fail=1`'s exit status: its own, or 255 when
/// it was killed (by a signal or a timeout).
fn failure_code(a: &Attempt) -> i32 {
    a.exit
        .filter(|_| a.signal.is_none() && !a.timed_out)
        .unwrap_or(255)
}

fn halt_message(h: HaltSpec, now: bool) {
    let what = match h {
        HaltSpec::Fail(_) => "the failure limit",
        HaltSpec::Count { done: false, .. } => "the success count",
        HaltSpec::Count { done: true, .. } => "the done count",
        HaltSpec::Never => return,
    };
    let then = if now {
        "killing the running jobs"
    } else {
        "waiting for the running jobs, starting no more"
    };
    threadkit::progress::suspend(|| eprintln!("threadkit: halting: {what} was reached; {then}"));
}

/// Bytes of held-back output (`-k`) kept in memory in all; past this, output that has to
/// wait is moved to the spill file.
const HELD_RAM: usize = 8 << 20;

/// Prints finished jobs' output: at once, or with `-k` in input order, holding back the
/// output of jobs that finished before an earlier one (spilled to disk past [`HELD_RAM`]).
/// Output is printed here, on the driver thread, so it is never interleaved.
struct Delivery {
    keep_order: bool,
    streamed: bool,
    /// The index of the next job to print (`-k`).
    next: u64,
    waiting: BTreeMap<u64, Option<Box<Ran>>>,
    ram: usize,
}

impl Delivery {
    fn new(keep_order: bool, streamed: bool) -> Delivery {
        Delivery {
            keep_order,
            streamed,
            next: 0,
            waiting: BTreeMap::new(),
            ram: 0,
        }
    }

    /// The job at `index` finished (`None`: it has nothing to print).
    fn put(&mut self, index: u64, ran: Option<Box<Ran>>, printer: &Printer) {
        if !self.keep_order {
            if let Some(r) = ran {
                self.print(&r, printer);
            }
            return;
        }
        if index != self.next {
            let mut ran = ran;
            if let Some(r) = &mut ran {
                let a = &mut r.attempt;
                if self.ram + a.stdout.ram() + a.stderr.ram() > HELD_RAM {
                    a.stdout.spill_all();
                    a.stderr.spill_all();
                }
                self.ram += a.stdout.ram() + a.stderr.ram();
            }
            self.waiting.insert(index, ran);
            return;
        }
        if let Some(r) = ran {
            self.print(&r, printer);
        }
        self.next += 1;
        while let Some(e) = self.waiting.first_entry() {
            if *e.key() != self.next {
                break;
            }
            if let Some(r) = e.remove() {
                self.ram -= r.attempt.stdout.ram() + r.attempt.stderr.ram();
                self.print(&r, printer);
            }
            self.next += 1;
        }
    }

    /// The run ended: print what still waits (behind jobs that never ran), in order.
    fn finish(&mut self, printer: &Printer) {
        for r in std::mem::take(&mut self.waiting).into_values().flatten() {
            self.print(&r, printer);
        }
    }

    fn print(&self, ran: &Ran, printer: &Printer) {
        if !self.streamed {
            let a = &ran.attempt;
            printer.job(printer.prefix(&ran.args).as_deref(), &a.stdout, &a.stderr);
        }
    }
}

/// Write a finished job's joblog / results lines (as it finishes, also with `-k`, so a killed
/// run leaves a log of everything that finished). A failed write is reported, that log is
/// closed, and the result is false: the caller stops the run, which exits 255.
fn log(plan: &mut Plan, ran: &Ran) -> bool {
    let a = &ran.attempt;
    let mut ok = true;
    if let Some(log) = &mut plan.joblog {
        if let Err(e) = log.write(ran.seq, a, &ran.line) {
            eprintln!("threadkit: cannot write the joblog: {e}; starting no more jobs");
            plan.joblog = None;
            ok = false;
        }
    }
    if let Some(res) = &mut plan.results {
        let (stdout, stderr) = (a.stdout.to_vec(), a.stderr.to_vec());
        if let Err(e) = res.write(&Results::record(
            ran.seq,
            &ran.args,
            &ran.line,
            a,
            (&stdout, &stderr),
            ran.attempts,
        )) {
            eprintln!("threadkit: cannot write the results file: {e}; starting no more jobs");
            plan.results = None;
            ok = false;
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halt_specs_parse_like_gnu_parallel() {
        assert_eq!(HaltSpec::parse("never").unwrap(), HaltSpec::Never);
        assert_eq!(HaltSpec::parse("0").unwrap(), HaltSpec::Never);
        let soon1 = HaltSpec::Fail(FailurePolicy::Halt(Halt::soon().fail_count(1)));
        assert_eq!(HaltSpec::parse("1").unwrap(), soon1);
        assert_eq!(HaltSpec::parse("soon,fail=1").unwrap(), soon1);
        assert_eq!(
            HaltSpec::parse("2").unwrap(),
            HaltSpec::Fail(FailurePolicy::Halt(Halt::now().fail_count(1)))
        );
        assert_eq!(
            HaltSpec::parse("now,success=3").unwrap(),
            HaltSpec::Count {
                when: HaltWhen::Now,
                threshold: Threshold::Count(3),
                done: false
            }
        );
        assert_eq!(
            HaltSpec::parse("-1").unwrap(),
            HaltSpec::Count {
                when: HaltWhen::Soon,
                threshold: Threshold::Count(1),
                done: false
            }
        );
        assert_eq!(
            HaltSpec::parse("soon,done=50%").unwrap(),
            HaltSpec::Count {
                when: HaltWhen::Soon,
                threshold: Threshold::Percent(50.0),
                done: true
            }
        );
        for bad in [
            "",
            "later,fail=1",
            "soon",
            "soon,fail",
            "soon,fail=x",
            "now,success=0%",
            "soon,fail=0",
            "now,done=0",
            "soon,boom=1",
        ] {
            assert!(HaltSpec::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keys_are_inputs_with_repeat_counts() {
        let mut k = Keyer::new(true);
        let a = k.job(vec![b"a".to_vec(), b"1".to_vec()]);
        let b = k.job(vec![b"a".to_vec(), b"1".to_vec()]);
        let c = k.job(vec![b"b".to_vec()]);
        assert_eq!((a.seq, a.key.as_str()), (1, r#"["a","1"]"#));
        assert_eq!((b.seq, b.key.as_str()), (2, r#"["a","1"]#2"#));
        assert_eq!((c.seq, c.key.as_str()), (3, r#"["b"]"#));
        // Not UTF-8: lossless, so apart from its U+FFFD lookalike.
        let d = k.job(vec![b"\xe9".to_vec()]);
        let e = k.job(vec!["\u{FFFD}".as_bytes().to_vec()]);
        assert_eq!(d.key, "[{\"hex\":\"e9\",\"lossy\":\"\u{FFFD}\"}]");
        assert_eq!(e.key, "[\"\u{FFFD}\"]");
    }

    #[test]
    fn exit_codes_follow_gnu_parallel() {
        let out = |failed, halted, last| Outcome {
            failed,
            halted,
            last_failed_exit: last,
            total: 10,
            ..Default::default()
        };
        assert_eq!(out(0, false, None).exit_code(HaltSpec::Never), 0);
        assert_eq!(out(3, false, Some(2)).exit_code(HaltSpec::Never), 3);
        assert_eq!(out(300, false, Some(2)).exit_code(HaltSpec::Never), 101);
        let fail1 = HaltSpec::parse("soon,fail=1").unwrap();
        assert_eq!(out(1, true, Some(7)).exit_code(fail1), 7);
        let pct = HaltSpec::parse("soon,fail=20%").unwrap();
        assert_eq!(out(3, true, Some(7)).exit_code(pct), 30);
        let interrupted = Outcome {
            interrupted: true,
            ..Default::default()
        };
        assert_eq!(interrupted.exit_code(HaltSpec::Never), 130);
    }
}
