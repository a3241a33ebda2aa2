//! A [`RunPlan`] run on `threadkit::batch`: one batch item per job, one attempt per call of the
//! batch task (so the batch runner's retries, `--halt fail=` policy, cancellation token, journal,
//! ordering and progress bar apply), the process side (spawn, process groups, timeout, output)
//! in [`crate::job`].
//!
//! The files, in reading order:
//! 1. this one: [`run`], the driver: it builds the batch from the plan, takes each job's
//!    outcome as it finishes, and tells how the run ended ([`Outcome`]);
//! 2. [`jobs`]: the inputs numbered and keyed into the batch's items; a read error comes back
//!    as a value;
//! 3. [`task`]: the batch task, one attempt of one job, on a worker thread;
//! 4. [`halt`]: `--halt` evaluated in one place;
//! 5. [`delivery`]: what the driver does with a finished job (logs, then output).
//!
//! What the CLI adds on top of the batch runner, because the runner works with threads and
//! these are processes: TERM/KILL to process groups on timeout, `--halt now` and Ctrl-C
//! ([`Running`]); `--halt success=` and `done=` (the runner's halt counts failures only); the
//! `{%}` slot number; `--delay`.

mod delivery;
mod halt;
mod jobs;
mod task;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use threadkit::batch::{Batch, CancelToken, Cause, Durability, Retry};

use self::delivery::{Delivery, Logs};
use self::halt::Halting;
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
    let running: &'static Running = Box::leak(Box::default());
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
        slots: template
            .uses_slot()
            .then(|| Mutex::new((1..=plan.slots).rev().collect())),
        template,
        limits: plan.limits,
        running,
        printer: printer.clone(),
        line_buffer: plan.output == OutputMode::Lines,
        trace: plan.trace,
        delay: plan.delay.map(|d| (d, Mutex::new(Instant::now()))),
        live: AtomicUsize::new(0),
        halting: Halting::new(plan.halt, plan.total, token.clone(), running, grace),
        max_attempts: plan.retries.max(1),
        token: token.clone(),
        own_error: Mutex::new(None),
    });
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
        .on_failure(shared.halting.batch_policy())
        .cancel_token(token.clone())
        // Outcomes come as jobs finish, also with -k: a slow job must not hold the other slots
        // (the window counts outcomes not yet taken); `Delivery` puts the output in order.
        .unordered();
    let journaled = plan.journal.is_some();
    if let Some(j) = plan.journal.take() {
        // Each finished job is committed before it counts as done (before its output is printed
        // and its joblog line written), and each job's start before it starts: after a kill -9,
        // exactly the jobs that were running run again.
        batch = batch
            .journal(j.journal.durability(Durability::PerItem))
            .journal_key(|j: &JobInput| j.key.clone())
            .retry_failed(j.rerun_failed);
    }
    let (jobs, input_errors) = Jobs::new(inputs, Keyer::new(journaled));
    let mut stream = batch.stream(jobs).map_err(|e| anyhow::anyhow!("{e}"))?;
    let were_running = stream.summary().running_at_last_stop;
    if were_running > 0 {
        eprintln!(
            "threadkit: {were_running} jobs were running when the last run with this journal \
             died; they run again"
        );
    }
    let mut out = Outcome::default();
    let halting = &shared.halting;
    let mut delivery = Delivery::new(plan.output);
    let mut logs = Logs {
        joblog: plan.joblog.take(),
        results: plan.results.take(),
    };
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
                        if !out.halted && !interrupted.load(Ordering::SeqCst) {
                            out.halted = true;
                            halting.announce();
                        }
                        halting.stop_running();
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
            if !logs.write(&ran) {
                out.error = true;
                token.cancel();
            }
            // The task counted this job before it came here, and stopped the run if it met a
            // `success=` / `done=` condition: say so before its output.
            if !out.halted_on_count && halting.count_reached() {
                out.halted_on_count = true;
                out.halted = true;
                halting.announce();
            }
            Some(ran)
        };
        delivery.put(index, ran, &printer);
    }
    delivery.finish(&printer);
    out.halt_trigger_exit = halting.trigger_exit();
    if halting.reached() {
        if !out.halted && !interrupted.load(Ordering::SeqCst) {
            halting.announce();
        }
        out.halted = true;
        out.halted_on_count |= halting.counts_jobs();
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
