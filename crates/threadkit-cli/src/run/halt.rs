//! `--halt` during a run. The batch runner evaluates the policy (the [`Halt`] that
//! [`crate::flags::HaltSpec`] holds), stops scheduling, and records which condition was met and
//! by which job ([`threadkit::batch::Summary::halted_by`]); the exit code follows from that
//! record in [`crate::exit`]. What is left here is what the runner cannot do, in its
//! [`on_halt`](threadkit::batch::Batch::on_halt) hook ([`on_halt`]), called once on the worker
//! thread that met the condition: say so on stderr and, for `now`, kill the running jobs (the
//! runner works with threads, which it cannot kill; these are processes).
//!
//! [`Halt`]: threadkit::batch::Halt

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use threadkit::batch::{HaltEvent, HaltOn, HaltWhen};

use crate::job::Running;

/// The batch runner's `on_halt` hook: announces the halt (unless Ctrl-C came first: that was
/// announced already) and, with `now`, sends TERM to every running job (KILL after `grace`).
pub(crate) fn on_halt(
    running: &'static Running,
    grace: Duration,
    interrupted: Arc<AtomicBool>,
) -> impl Fn(&HaltEvent) + Send + Sync + 'static {
    move |event| {
        if !interrupted.load(Ordering::SeqCst) {
            threadkit::progress::suspend(|| eprintln!("{}", message(event)));
        }
        if event.when == HaltWhen::Now {
            running.terminate_all(grace);
        }
    }
}

/// The line that says the run is halting, why, and what happens to the running jobs.
fn message(event: &HaltEvent) -> String {
    let what = match event.on {
        HaltOn::Fail => "the failure limit",
        HaltOn::Success => "the success count",
        HaltOn::Done => "the done count",
    };
    let then = match event.when {
        HaltWhen::Now => "killing the running jobs",
        HaltWhen::Soon => "waiting for the running jobs, starting no more",
    };
    format!(
        "threadkit: halting: {what} was reached (job {}); {then}",
        event.index + 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_condition_the_job_and_what_happens_next() {
        let event = |when, on| HaltEvent {
            when,
            on,
            index: 6,
            count: 3,
            total: None,
        };
        assert_eq!(
            message(&event(HaltWhen::Soon, HaltOn::Fail)),
            "threadkit: halting: the failure limit was reached (job 7); waiting for the \
             running jobs, starting no more"
        );
        assert_eq!(
            message(&event(HaltWhen::Now, HaltOn::Success)),
            "threadkit: halting: the success count was reached (job 7); killing the running jobs"
        );
        assert!(message(&event(HaltWhen::Soon, HaltOn::Done)).contains("the done count"));
    }
}
