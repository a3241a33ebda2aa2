//! `--halt` during a run: one object, [`Halting`], counts each job's final outcome, decides
//! when the condition is met (the one place with the `N%` formula), and acts on it (the one
//! place a halt stops running jobs, and the one place it is announced).
//!
//! `fail=` is also the batch runner's own failure policy ([`Halting::batch_policy`]): the
//! runner stops scheduling, and `Halting` keeps the exit code of the job that met the limit and
//! kills the running processes for `now` (the runner works with threads, which it cannot
//! kill). `success=` and `done=` are the CLI's (the runner's policy counts failures only):
//! `Halting` stops the run through the cancellation token.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use threadkit::batch::{CancelToken, FailurePolicy, Halt, HaltWhen, Threshold};

use crate::flags::HaltSpec;
use crate::job::Running;

/// The `--halt` policy of one run, shared by the batch task (which counts) and the driver
/// (which reports).
#[derive(Debug)]
pub(crate) struct Halting {
    spec: HaltSpec,
    /// Jobs in all, when known before the run (for `N%` of `success=` / `done=`).
    total: Option<u64>,
    finished: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    reached: AtomicBool,
    /// [`crate::exit::job_code`] of the failure that met a `fail=` limit.
    trigger_exit: OnceLock<i32>,
    announced: AtomicBool,
    token: CancelToken,
    running: &'static Running,
    grace: Duration,
}

impl Halting {
    /// The policy `spec` for a run of `total` jobs (when known), stopping it through `token`
    /// and `running` (TERM, then KILL after `grace`).
    pub(crate) fn new(
        spec: HaltSpec,
        total: Option<u64>,
        token: CancelToken,
        running: &'static Running,
        grace: Duration,
    ) -> Halting {
        Halting {
            spec,
            total,
            finished: AtomicU64::new(0),
            succeeded: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            reached: AtomicBool::new(false),
            trigger_exit: OnceLock::new(),
            announced: AtomicBool::new(false),
            token,
            running,
            grace,
        }
    }

    /// The batch runner's failure policy: `fail=`'s, else collect every failure.
    pub(crate) fn batch_policy(&self) -> FailurePolicy {
        match self.spec {
            HaltSpec::Fail(p) => p,
            _ => FailurePolicy::CollectAll,
        }
    }

    /// `--halt now,...`: running jobs are killed when the condition is met.
    fn now(&self) -> bool {
        self.spec.when() == Some(HaltWhen::Now)
    }

    /// Count a job's final outcome (after its last attempt; neither `succeeded` nor `failed`
    /// when a stop interrupted it) and act when this outcome meets the condition: the token
    /// for `success=` / `done=`, TERM to the running jobs for `now`. `code` is the job's
    /// [`crate::exit::job_code`] when it failed. Called on the worker thread that ran the job,
    /// so the halt acts at once, before the driver hears of the job.
    pub(crate) fn count(&self, succeeded: bool, failed: bool, code: i32) {
        let finished = self.finished.fetch_add(1, Ordering::SeqCst) + 1;
        let ok = self
            .succeeded
            .fetch_add(u64::from(succeeded), Ordering::SeqCst)
            + u64::from(succeeded);
        let bad = self.failed.fetch_add(u64::from(failed), Ordering::SeqCst) + u64::from(failed);
        let met = match self.spec {
            HaltSpec::Never => return,
            HaltSpec::Fail(FailurePolicy::Halt(Halt { threshold, .. })) => {
                failed && threshold.reached(bad, finished)
            }
            // Not produced by --halt; the batch runner handles it.
            HaltSpec::Fail(_) => return,
            HaltSpec::Count {
                threshold, done, ..
            } => (done || succeeded) && self.met(threshold, if done { finished } else { ok }),
        };
        if met && !self.reached.swap(true, Ordering::SeqCst) {
            match self.spec {
                // The batch runner stops scheduling on its own.
                HaltSpec::Fail(_) => {
                    let _ = self.trigger_exit.set(code);
                }
                _ => self.token.cancel(),
            }
            self.stop_running();
        }
    }

    /// Whether `n` jobs meet `threshold` of a `success=` / `done=` condition: `N` jobs, or
    /// `N%` of the total (never when the total is not known in advance).
    fn met(&self, threshold: Threshold, n: u64) -> bool {
        match threshold {
            Threshold::Count(k) => n >= k,
            Threshold::Percent(p) => self
                .total
                .is_some_and(|t| t > 0 && n as f64 * 100.0 >= p * t as f64),
        }
    }

    /// Whether the condition was met.
    pub(crate) fn reached(&self) -> bool {
        self.reached.load(Ordering::SeqCst)
    }

    /// Whether a `success=` / `done=` condition was met.
    pub(crate) fn count_reached(&self) -> bool {
        self.reached() && self.counts_jobs()
    }

    /// `success=` or `done=`: a condition the CLI counts (not the batch runner's policy).
    pub(crate) fn counts_jobs(&self) -> bool {
        matches!(self.spec, HaltSpec::Count { .. })
    }

    /// The exit code of the failure that met a `fail=` limit.
    pub(crate) fn trigger_exit(&self) -> Option<i32> {
        self.trigger_exit.get().copied()
    }

    /// With `now`: TERM to every running job (KILL after the grace period). The one place a
    /// halt stops running jobs; a no-op with `soon`.
    pub(crate) fn stop_running(&self) {
        if self.now() {
            self.running.terminate_all(self.grace);
        }
    }

    /// Say on stderr, once, that the run is halting and what happens to the running jobs.
    pub(crate) fn announce(&self) {
        let what = match self.spec {
            HaltSpec::Fail(_) => "the failure limit",
            HaltSpec::Count { done: false, .. } => "the success count",
            HaltSpec::Count { done: true, .. } => "the done count",
            HaltSpec::Never => return,
        };
        if self.announced.swap(true, Ordering::SeqCst) {
            return;
        }
        let then = if self.now() {
            "killing the running jobs"
        } else {
            "waiting for the running jobs, starting no more"
        };
        threadkit::progress::suspend(|| {
            eprintln!("threadkit: halting: {what} was reached; {then}")
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn halting(spec: &str, total: Option<u64>) -> (Halting, CancelToken) {
        let token = CancelToken::new();
        let running: &'static Running = Box::leak(Box::default());
        let h = Halting::new(
            HaltSpec::parse(spec).unwrap(),
            total,
            token.clone(),
            running,
            Duration::from_secs(1),
        );
        (h, token)
    }

    #[test]
    fn success_counts_successes_and_stops_the_run_through_the_token() {
        let (h, token) = halting("soon,success=2", None);
        h.count(true, false, 0);
        h.count(false, true, 3);
        // Interrupted (neither): not a success.
        h.count(false, false, 0);
        assert!(!h.reached() && !token.is_cancelled());
        h.count(true, false, 0);
        assert!(h.reached() && h.count_reached() && token.is_cancelled());
        assert_eq!(h.trigger_exit(), None);
    }

    #[test]
    fn done_percent_is_of_the_total_known_in_advance() {
        let (h, token) = halting("soon,done=50%", Some(4));
        h.count(false, true, 1);
        assert!(!h.reached());
        h.count(false, false, 0);
        assert!(h.count_reached() && token.is_cancelled());
        // Without a total, a percentage is never met.
        let (h, _) = halting("soon,done=50%", None);
        for _ in 0..10 {
            h.count(true, false, 0);
        }
        assert!(!h.reached());
    }

    #[test]
    fn fail_keeps_the_code_of_the_job_that_met_it_and_leaves_stopping_to_the_runner() {
        let (h, token) = halting("soon,fail=1", None);
        assert_eq!(
            h.batch_policy(),
            FailurePolicy::Halt(Halt::soon().fail_count(1))
        );
        h.count(true, false, 0);
        assert!(!h.reached());
        h.count(false, true, 7);
        h.count(false, true, 9);
        assert!(h.reached() && !h.count_reached());
        assert_eq!(h.trigger_exit(), Some(7));
        // The batch runner's own policy stops scheduling; the token stays for Ctrl-C.
        assert!(!token.is_cancelled());
        let (h, _) = halting("never", None);
        assert_eq!(h.batch_policy(), FailurePolicy::CollectAll);
        h.count(false, true, 1);
        assert!(!h.reached());
    }
}
