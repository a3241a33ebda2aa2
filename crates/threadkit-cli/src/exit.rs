//! Exit codes, in one place: GNU parallel's, and how they stand to the batch runner's
//! ([`threadkit::batch::Summary::exit_code`]) for the same run.
//!
//! | code | constant | the CLI run | `Summary::exit_code` of its batch |
//! | --- | --- | --- | --- |
//! | 0 | [`SUCCESS`] | every job succeeded (skipped ones by `--resume` do not count) | 0, the same (1 when resumed over jobs journaled as failed: the library counts them) |
//! | 0 | [`SUCCESS`] | a `--halt ...,success=` condition was met | 3: the CLI stopped the batch through its cancellation token |
//! | 1-100 | (the count) | that many jobs failed | 1: some failed |
//! | 101 | [`MANY_FAILED`] | more than 100 jobs failed | 1 |
//! | 1-255 | (the job's) | `--halt ...,fail=1` met: the code of the job that met it, [`KILLED_JOB`] when it was killed or timed out | 2: halted by the failure policy |
//! | 1-100 | (a percentage) | `--halt ...,fail=N%` met: the percentage of jobs that failed | 2 |
//! | 0-101 | (the count) | `--halt ...,done=` met: the failed jobs counted as above | 3 |
//! | 130 | [`INTERRUPTED`] | Ctrl-C (or SIGTERM, SIGHUP) | 3: the CLI catches the signals itself and cancels the batch (the library's own `Batch::ctrl_c` gives 130, the same code) |
//! | 255 | [`ERROR`] | a bad command line, an input that cannot be read, output / `--joblog` / `--results` that cannot be written, a job that cannot start for want of a resource of ours | whatever the batch saw (the run may not have started) |
//!
//! So the two agree where they say the same thing: 0 when every job ran and succeeded, 130
//! after Ctrl-C; everywhere else the CLI keeps GNU parallel's codes (a count, a job's code, a
//! percentage) where the library has one code per kind of ending. A test below
//! (`exit_codes_agree_with_the_batch_runner`) checks every row against the library's function;
//! `tests/exit_codes.rs` runs the same jobs through the CLI and through a library batch. See
//! docs/cli.md.

use threadkit::batch::{FailurePolicy, Halt, Threshold};

use crate::flags::HaltSpec;
use crate::job::Attempt;
use crate::run::Outcome;

/// Every job succeeded, or a `--halt ...,success=` condition was met.
pub(crate) const SUCCESS: i32 = 0;
/// Failed jobs are counted in the exit code up to this many ...
pub(crate) const MAX_COUNTED: u64 = 100;
/// ... and more than [`MAX_COUNTED`] failed jobs exit with this.
pub(crate) const MANY_FAILED: i32 = 101;
/// Ctrl-C, SIGTERM or SIGHUP stopped the run (128 + SIGINT, as shells report it).
pub(crate) const INTERRUPTED: i32 = 130;
/// Any error of threadkit's own (a bad flag, an unreadable input, a failed write...).
pub(crate) const ERROR: i32 = 255;
/// The code a job killed by a signal or a timeout stands for in `--halt fail=1`'s exit status.
pub(crate) const KILLED_JOB: i32 = 255;

/// GNU parallel's exit status for a run that ended as `out` under `halt`.
pub(crate) fn code(out: &Outcome, halt: HaltSpec) -> i32 {
    if out.error || out.input_error.is_some() {
        return ERROR;
    }
    if out.interrupted {
        return INTERRUPTED;
    }
    match halt {
        HaltSpec::Count { done: false, .. } if out.halted_on_count => return SUCCESS,
        HaltSpec::Fail(FailurePolicy::Halt(Halt { threshold, .. })) if out.halted => {
            match threshold {
                // GNU parallel: `fail=1` exits with the failing job's exit code, `fail=Y%` with
                // the percentage of jobs that failed.
                // The job that reached the limit, not a later failure of a job that was
                // still running.
                Threshold::Count(1) => {
                    return out
                        .halt_trigger_exit
                        .or(out.last_failed_exit)
                        .unwrap_or(1)
                        .clamp(1, 255)
                }
                Threshold::Percent(_) if out.total > 0 => {
                    return ((out.failed * 100).div_ceil(out.total)).clamp(1, 100) as i32
                }
                _ => {}
            }
        }
        _ => {}
    }
    if out.failed > MAX_COUNTED {
        MANY_FAILED
    } else {
        out.failed as i32
    }
}

/// The exit code a failed job stands for in `--halt fail=1`'s exit status: its own, or
/// [`KILLED_JOB`] when it was killed (by a signal or a timeout).
pub(crate) fn job_code(a: &Attempt) -> i32 {
    a.exit
        .filter(|_| a.signal.is_none() && !a.timed_out)
        .unwrap_or(KILLED_JOB)
}

#[cfg(test)]
mod tests {
    use threadkit::batch::{StopReason, Summary};

    use super::*;

    fn halt(s: &str) -> HaltSpec {
        HaltSpec::parse(s).unwrap()
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
        assert_eq!(code(&out(0, false, None), HaltSpec::Never), 0);
        assert_eq!(code(&out(3, false, Some(2)), HaltSpec::Never), 3);
        assert_eq!(code(&out(100, false, Some(2)), HaltSpec::Never), 100);
        assert_eq!(code(&out(300, false, Some(2)), HaltSpec::Never), 101);
        assert_eq!(code(&out(1, true, Some(7)), halt("soon,fail=1")), 7);
        assert_eq!(code(&out(3, true, Some(7)), halt("soon,fail=20%")), 30);
        let interrupted = Outcome {
            interrupted: true,
            ..Default::default()
        };
        assert_eq!(code(&interrupted, HaltSpec::Never), 130);
    }

    /// One row of the table in the module docs: a CLI run, the summary its batch reports, and
    /// the code each gives.
    struct Row {
        what: &'static str,
        halt: HaltSpec,
        cli: Outcome,
        batch: Summary,
        cli_code: i32,
        batch_code: u8,
    }

    #[test]
    fn exit_codes_agree_with_the_batch_runner() {
        let stopped = |why| Summary {
            stopped: Some(why),
            ..Default::default()
        };
        let failed = |n| Summary {
            errors: n,
            ..Default::default()
        };
        let rows = [
            Row {
                what: "every job succeeded",
                halt: HaltSpec::Never,
                cli: Outcome::default(),
                batch: Summary::default(),
                cli_code: SUCCESS,
                batch_code: 0,
            },
            Row {
                what: "resumed over a journaled failure",
                halt: HaltSpec::Never,
                cli: Outcome {
                    skipped: 1,
                    ..Default::default()
                },
                batch: Summary {
                    journaled_failures: 1,
                    ..Default::default()
                },
                cli_code: SUCCESS,
                batch_code: 1,
            },
            Row {
                what: "success= met",
                halt: halt("soon,success=1"),
                cli: Outcome {
                    halted: true,
                    halted_on_count: true,
                    failed: 2,
                    ..Default::default()
                },
                batch: Summary {
                    errors: 2,
                    ..stopped(StopReason::Cancelled)
                },
                cli_code: SUCCESS,
                batch_code: 3,
            },
            Row {
                what: "3 failed",
                halt: HaltSpec::Never,
                cli: Outcome {
                    failed: 3,
                    ..Default::default()
                },
                batch: failed(3),
                cli_code: 3,
                batch_code: 1,
            },
            Row {
                what: "101 failed",
                halt: HaltSpec::Never,
                cli: Outcome {
                    failed: 101,
                    ..Default::default()
                },
                batch: failed(101),
                cli_code: MANY_FAILED,
                batch_code: 1,
            },
            Row {
                what: "fail=1 met by a job that exited 7",
                halt: halt("now,fail=1"),
                cli: Outcome {
                    failed: 2,
                    halted: true,
                    halt_trigger_exit: Some(7),
                    last_failed_exit: Some(9),
                    ..Default::default()
                },
                batch: Summary {
                    errors: 2,
                    ..stopped(StopReason::Halted)
                },
                cli_code: 7,
                batch_code: 2,
            },
            Row {
                what: "fail=1 met by a job killed by a signal",
                halt: halt("soon,fail=1"),
                cli: Outcome {
                    failed: 1,
                    halted: true,
                    halt_trigger_exit: Some(KILLED_JOB),
                    ..Default::default()
                },
                batch: Summary {
                    errors: 1,
                    ..stopped(StopReason::Halted)
                },
                cli_code: KILLED_JOB,
                batch_code: 2,
            },
            Row {
                what: "fail=20% met with 3 of 10 failed",
                halt: halt("soon,fail=20%"),
                cli: Outcome {
                    failed: 3,
                    total: 10,
                    halted: true,
                    ..Default::default()
                },
                batch: Summary {
                    errors: 3,
                    ..stopped(StopReason::Halted)
                },
                cli_code: 30,
                batch_code: 2,
            },
            Row {
                what: "done=2 met with 1 failed",
                halt: halt("soon,done=2"),
                cli: Outcome {
                    failed: 1,
                    succeeded: 1,
                    halted: true,
                    halted_on_count: true,
                    ..Default::default()
                },
                batch: Summary {
                    errors: 1,
                    ..stopped(StopReason::Cancelled)
                },
                cli_code: 1,
                batch_code: 3,
            },
            Row {
                what: "Ctrl-C, caught by the CLI",
                halt: HaltSpec::Never,
                cli: Outcome {
                    interrupted: true,
                    ..Default::default()
                },
                batch: stopped(StopReason::Cancelled),
                cli_code: INTERRUPTED,
                batch_code: 3,
            },
            Row {
                what: "Ctrl-C, caught by the library (Batch::ctrl_c)",
                halt: HaltSpec::Never,
                cli: Outcome {
                    interrupted: true,
                    ..Default::default()
                },
                batch: stopped(StopReason::Interrupted),
                cli_code: INTERRUPTED,
                batch_code: 130,
            },
            Row {
                what: "output that cannot be written",
                halt: HaltSpec::Never,
                cli: Outcome {
                    error: true,
                    ..Default::default()
                },
                batch: stopped(StopReason::Cancelled),
                cli_code: ERROR,
                batch_code: 3,
            },
        ];
        for r in &rows {
            assert_eq!(
                code(&r.cli, r.halt),
                r.cli_code,
                "the CLI's code: {}",
                r.what
            );
            assert_eq!(
                r.batch.exit_code(),
                r.batch_code,
                "the library's code: {}",
                r.what
            );
            // Where both say the same thing, they say it with the same number.
            let same_meaning = r.batch.failed() + r.batch.unfinished() == 0
                && r.batch.stopped.is_none()
                || r.batch.stopped == Some(StopReason::Interrupted);
            if same_meaning && !r.cli.error {
                assert_eq!(r.cli_code, i32::from(r.batch_code), "{}", r.what);
            }
        }
        assert_eq!(i32::from(Summary::default().exit_code()), SUCCESS);
        assert_eq!(
            i32::from(stopped(StopReason::Interrupted).exit_code()),
            INTERRUPTED
        );
    }
}
