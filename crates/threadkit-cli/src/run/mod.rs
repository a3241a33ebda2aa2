//! A [`RunPlan`] run on `threadkit::batch`: one batch item per job, one attempt per call of the
//! batch task (so the batch runner's retries, `--halt` policy, `--delay` spacing, `{%}` slots,
//! cancellation token, journal, ordering and progress bar apply), the process side (spawn,
//! process groups, timeout, output) in [`crate::job`].
//!
//! The files, in reading order:
//! 1. this one: [`run`], the driver: it builds the batch from the plan, takes each job's
//!    outcome as it finishes, and tells how the run ended ([`Outcome`]);
//! 2. [`jobs`]: the inputs numbered and keyed into the batch's items; a read error comes back
//!    as a value;
//! 3. [`task`]: the batch task, one attempt of one job, on a worker thread;
//! 4. [`halt`]: what a halt the runner decided does to the jobs (TERM/KILL for `now`) and on
//!    stderr;
//! 5. [`delivery`]: what the driver does with a finished job (logs, then output).
//!
//! What the CLI adds on top of the batch runner, because the runner works with threads and
//! these are processes: TERM/KILL to process groups on timeout, `--halt now` and Ctrl-C
//! ([`Running`]).

mod delivery;
mod halt;
mod jobs;
pub(crate) mod sql;
mod task;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use threadkit::batch::{Batch, CancelToken, Cause, Durability, HaltEvent, Retry};

use self::delivery::{Delivery, Logs};
use self::jobs::{JobInput, Jobs, Keyer};
use self::task::{JobTask, Shared, Succeeded};
use crate::exit;
use crate::flags::{OutputMode, RunPlan};
use crate::inputs::{InputError, Inputs};
use crate::job::Running;
use crate::output::{Failure, Printer};
use crate::template::Template;

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
    /// The `--halt` condition met, and the job that met it (the batch runner's record).
    pub(crate) halted_by: Option<HaltEvent>,
    /// Ctrl-C (or TERM/HUP) stopped the run.
    pub(crate) interrupted: bool,
    /// Exit code of the last job that failed on its own.
    pub(crate) last_failed_exit: Option<i32>,
    /// [`exit::job_code`] of the job that met the `--halt` condition (0 if it succeeded).
    pub(crate) halt_trigger_exit: Option<i32>,
    /// Jobs in all, counted as they were read.
    pub(crate) total: u64,
    /// Output, the joblog or the results file could not be written, or a job could not start
    /// for want of a resource of threadkit's own (reported; exit 255).
    pub(crate) error: bool,
    /// An input source could not be read to its end: the jobs after it never came (exit 255).
    pub(crate) input_error: Option<InputError>,
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

/// Jobs handed to the workers and not yet taken back: besides the running ones, at least one
/// waiting per slot and at least 64 in all, so that a slot whose job ends starts the next at
/// once, on its own thread, instead of waiting for the driver to take the outcome and hand a
/// job over (two thread wake-ups, on a loaded machine the larger part of the gap between two
/// jobs of a slot). When every CPU runs a job, the driver may wait a millisecond or more for
/// one (perf sched: 0.9 ms on average, 16 ms at worst, for 5,000 `true` jobs on 2 CPUs): with
/// only one job waiting per slot, slots ran dry meanwhile; 64 last the slots that long even
/// for jobs as short as `true`, and the driver takes many outcomes per wake-up.
/// A waiting job cannot outlive a stop: a worker starts nothing once a halt or Ctrl-C is seen
/// (the batch runner's check before each item and [`Shared::attempt`]'s), and reports it not
/// started.
///
/// The same with a journal: a job's start is recorded by the slot that runs it, right before it
/// starts, and its outcome as soon as it ends, so waiting jobs are not on record (after a
/// SIGKILL the jobs recorded as started are those that were running, at most the slots).
/// Exactly the slots (no job waits) with `--pipe`, whose memory is the slots times the block.
fn window(plan: &RunPlan) -> usize {
    if plan.pipe.is_some() {
        plan.slots
    } else {
        plan.slots.saturating_mul(2).max(64)
    }
}

/// Run every job of `inputs` (the command `template` applied to each) through the batch runner.
///
/// # Errors
///
/// The Ctrl-C handler cannot be installed, the batch cannot start (its journal cannot be
/// used), or the journal could not be written during the run (which stopped it early).
pub(crate) fn run(
    template: Template,
    inputs: Inputs,
    mut plan: RunPlan,
) -> anyhow::Result<Outcome> {
    if let Some(sql) = plan.sql.take() {
        return sql::master(template, inputs, plan, sql);
    }
    let running: &'static Running = Box::leak(Box::default());
    // With --pipe a slot's worker thread feeds its job's stdin as the job runs: it must be
    // free to run wherever the job does not, so slots keep to no CPU.
    crate::job::plan_slots(if plan.pipe.is_some() { 0 } else { plan.slots });
    let token = CancelToken::new();
    let interrupted = Arc::new(AtomicBool::new(false));
    let grace = plan.limits.grace;
    install_signals(token.clone(), running, grace, interrupted.clone())?;
    let printer = Arc::new(std::mem::replace(&mut plan.printer, Printer::new(false)));
    {
        // Output that cannot be written (stdout closed, disk full): no more jobs, and the
        // running ones are stopped, since their output has nowhere to go.
        let token = token.clone();
        printer.on_failure(Box::new(move |_| {
            token.cancel();
            running.terminate_all(grace);
        }));
    }
    let shared = Arc::new(Shared {
        template,
        limits: plan.limits,
        running,
        printer: printer.clone(),
        line_buffer: plan.output == OutputMode::Lines,
        trace: plan.trace,
        keep_line: plan.joblog.is_some() || plan.results.is_some(),
        live: AtomicUsize::new(0),
        token: token.clone(),
        own_error: Mutex::new(None),
        attempts: plan.retries.max(1),
    });
    let mut batch = Batch::with_task(JobTask(shared.clone()))
        .workers(plan.slots)
        .chunk_size(1)
        .window(window(&plan))
        // The calling thread only drives (delivers output, writes the logs, commits the
        // journal) and never runs a job itself, which could keep it busy for hours. A
        // cancelled run (Ctrl-C, an error of ours) waits for its running jobs: they are
        // processes we stop ourselves (TERM, then KILL).
        .caller_runs_items(false)
        .progress(plan.progress)
        .retry(Retry::new(plan.retries.saturating_sub(1)))
        .cancel_token(token.clone())
        // Outcomes come as jobs finish, also with -k: a slow job must not hold the other slots
        // (the window counts outcomes not yet taken); `Delivery` puts the output in order.
        .unordered();
    if let Some(h) = plan.halt.halt() {
        batch = batch
            .halt(h)
            .on_halt(halt::on_halt(running, grace, interrupted.clone()));
    }
    if let Some(total) = plan.total {
        batch = batch.total(total);
    }
    if let Some(d) = plan.delay {
        batch = batch.delay(d);
    }
    let journaled = plan.journal.is_some();
    if let Some(j) = plan.journal.take() {
        // Each finished job is committed before it counts as done (before its output is printed
        // and its joblog line written), and each job's start before it starts (both by the
        // slot that runs it): after a kill -9, exactly the jobs that were running run again.
        batch = batch
            .journal(j.journal.durability(Durability::PerItem))
            .journal_key(|j: &JobInput| j.key.clone())
            .retry_failed(j.rerun_failed);
    }
    let (jobs, input_errors) = Jobs::new(inputs, plan.pipe.take(), Keyer::new(journaled));
    let mut stream = batch.stream(jobs).map_err(|e| anyhow::anyhow!("{e}"))?;
    let were_running = stream.summary().running_at_last_stop;
    if were_running > 0 {
        eprintln!(
            "threadkit: {were_running} jobs were running when the last run with this journal \
             died; they run again"
        );
    }
    let mut out = Outcome::default();
    let mut delivery = Delivery::new(plan.output);
    let mut logs = Logs {
        joblog: plan.joblog.take(),
        results: plan.results.take(),
    };
    while let Some((index, outcome)) = stream.next() {
        // The runner recorded the job that met the halt condition before its outcome came.
        let trigger =
            out.halt_trigger_exit.is_none() && stream.halted_by().is_some_and(|h| h.index == index);
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
                            out.last_failed_exit = Some(exit::job_code(&e.ran.attempt));
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
                        // The run is stopping (a halt, Ctrl-C, an error of ours).
                        out.not_started += u64::from(matches!(f.cause, Cause::NotStarted));
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
            if trigger {
                out.halt_trigger_exit = Some(if ok {
                    exit::SUCCESS
                } else {
                    exit::job_code(&ran.attempt)
                });
            }
            if !logs.write(&ran) {
                out.error = true;
                token.cancel();
            }
            Some(ran)
        };
        delivery.put(index, ran, &printer);
    }
    delivery.finish(&printer);
    out.halted_by = stream.summary().halted_by;
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
    out.input_error = input_errors.try_recv().ok();
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
