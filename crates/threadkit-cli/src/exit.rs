//! Exit codes, in one place: GNU parallel's, and how they stand to the batch runner's
//! ([`threadkit::batch::Summary::exit_code`]) for the same run.
//!
//! | code | constant | the CLI run | `Summary::exit_code` of its batch |
//! | --- | --- | --- | --- |
//! | 0 | [`SUCCESS`] | every job succeeded (skipped ones by `--resume` do not count) | 0, the same (1 when resumed over jobs journaled as failed: the library counts them) |
//! | 0 | [`SUCCESS`] | a `--halt ...,success=` condition was met | 2: halted by the halt policy |
//! | 1-100 | (the count) | that many jobs failed | 1: some failed |
//! | 101 | [`MANY_FAILED`] | more than 100 jobs failed | 1 |
//! | 1-255 | (the job's) | `--halt ...,fail=1` met: the code of the job that met it, [`KILLED_JOB`] when it was killed or timed out | 2 |
//! | 0-255 | (the job's) | `--halt ...,done=1` met: the code of the job that met it (0 if it succeeded) | 2 |
//! | 1-100 | (a percentage) | `--halt ...,fail=N%` or `done=N%` met: the percentage of the jobs (of all of them) that failed, rounded up | 2 |
//! | 0-101 | (the count) | `--halt ...,fail=N` or `done=N` met: the failed jobs counted as above | 2 |
//! | 130 | [`INTERRUPTED`] | Ctrl-C (or SIGTERM, SIGHUP) | 3: the CLI catches the signals itself and cancels the batch (the library's own `Batch::ctrl_c` gives 130, the same code) |
//! | 255 | [`ERROR`] | a bad command line, an input that cannot be read, output / `--joblog` / `--results` that cannot be written, a job that cannot start for want of a resource of ours | whatever the batch saw (the run may not have started) |
//!
//! So the two agree where they say the same thing: 0 when every job ran and succeeded, 130
//! after Ctrl-C; everywhere else the CLI keeps GNU parallel's codes (a count, a job's code, a
//! percentage) where the library has one code per kind of ending. The halt rows are GNU
//! parallel's `should_we_halt` (in `/usr/bin/parallel`); which condition was met and by which
//! job comes from the batch runner ([`threadkit::batch::Summary::halted_by`]). A test below
//! (`exit_codes_agree_with_the_batch_runner`) checks every row against the library's function;
//! `tests/exit_codes.rs` runs the same jobs through the CLI and through a library batch. See
//! docs/cli.md.

use threadkit::batch::{HaltEvent, HaltOn, Threshold};

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
    let halted = out.halted_by.zip(halt.halt());
    if let Some(code) = halted.and_then(|(event, h)| halt_code(out, event, h.threshold)) {
        return code;
    }
    if out.failed > MAX_COUNTED {
        MANY_FAILED
    } else {
        out.failed as i32
    }
}

/// GNU parallel's exit status for a run that `event` halted, `threshold` being the condition's
/// (`None`: the failed jobs counted, as for any run): `success=` exits 0; `fail=1` and `done=1`
/// with the code of the job that met the condition (not a later failure of a job that was
/// still running); `N%` with the percentage of all the jobs that failed, rounded up.
fn halt_code(out: &Outcome, event: HaltEvent, threshold: Threshold) -> Option<i32> {
    match (event.on, threshold) {
        (HaltOn::Success, _) => Some(SUCCESS),
        (HaltOn::Fail, Threshold::Count(1)) => Some(
            out.halt_trigger_exit
                .or(out.last_failed_exit)?
                .clamp(1, 255),
        ),
        (HaltOn::Done, Threshold::Count(1)) => out.halt_trigger_exit,
        (_, Threshold::Percent(_)) if out.total > 0 => {
            Some((out.failed * 100).div_ceil(out.total).min(100) as i32)
        }
        _ => None,
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

    /// The runner's record of `spec`'s condition met (by job index 0).
    fn met(spec: &str) -> Option<HaltEvent> {
        let h = halt(spec).halt().unwrap();
        Some(HaltEvent {
            when: h.when,
            on: h.on,
            index: 0,
            count: 1,
            total: None,
        })
    }

    #[test]
    fn exit_codes_follow_gnu_parallel() {
        let out = |failed, halted_by, last| Outcome {
            failed,
            halted_by,
            last_failed_exit: last,
            halt_trigger_exit: last,
            total: 10,
            ..Default::default()
        };
        assert_eq!(code(&out(0, None, None), HaltSpec::Never), 0);
        assert_eq!(code(&out(3, None, Some(2)), HaltSpec::Never), 3);
        assert_eq!(code(&out(100, None, Some(2)), HaltSpec::Never), 100);
        assert_eq!(code(&out(300, None, Some(2)), HaltSpec::Never), 101);
        let fail1 = "soon,fail=1";
        assert_eq!(code(&out(1, met(fail1), Some(7)), halt(fail1)), 7);
        let pct = "soon,fail=20%";
        assert_eq!(code(&out(3, met(pct), Some(7)), halt(pct)), 30);
        let count = "now,fail=2";
        assert_eq!(code(&out(300, met(count), Some(7)), halt(count)), 101);
        let done1 = "soon,done=1";
        assert_eq!(code(&out(0, met(done1), Some(0)), halt(done1)), 0);
        assert_eq!(code(&out(1, met(done1), Some(4)), halt(done1)), 4);
        let donep = "soon,done=50%";
        assert_eq!(code(&out(0, met(donep), None), halt(donep)), 0);
        assert_eq!(code(&out(1, met(donep), Some(3)), halt(donep)), 10);
        let success = "now,success=1";
        assert_eq!(code(&out(4, met(success), Some(3)), halt(success)), 0);
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
                    halted_by: met("soon,success=1"),
                    failed: 2,
                    ..Default::default()
                },
                batch: Summary {
                    errors: 2,
                    ..stopped(StopReason::Halted)
                },
                cli_code: SUCCESS,
                batch_code: 2,
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
                    halted_by: met("now,fail=1"),
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
                    halted_by: met("soon,fail=1"),
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
                    halted_by: met("soon,fail=20%"),
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
                    halted_by: met("soon,done=2"),
                    ..Default::default()
                },
                batch: Summary {
                    errors: 1,
                    ..stopped(StopReason::Halted)
                },
                cli_code: 1,
                batch_code: 2,
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
