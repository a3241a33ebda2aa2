//! Integration tests for the batch runner's isolation mode (`Batch::isolated`): each item in a
//! worker process, crashes and hard timeouts reported per input, retries, the journal.
#![cfg(not(loom))]

mod common;

use common::stress;
use std::path::PathBuf;
use std::time::Duration;

use threadkit::batch::{Batch, Cause, FailurePolicy, Journal, Retry, Task};
use threadkit::process::ProcessPool;

threadkit::process::enable_test_support!();

/// Sends `sig` to the worker itself and waits to die.
fn die_by(sig: &str) -> ! {
    let me = std::process::id().to_string();
    std::process::Command::new("kill")
        .args([&format!("-{sig}"), &me])
        .status()
        .unwrap();
    loop {
        std::thread::park();
    }
}

/// Every seventh input returns `Err`, every eleventh panics, 25 aborts, 40 is SIGKILLed.
fn mixed(x: u64) -> Result<u64, String> {
    match x {
        25 => std::process::abort(),
        40 => die_by("KILL"),
        _ if x % 11 == 5 => panic!("eleven {x}"),
        _ if x % 7 == 3 => Err(format!("seven {x}")),
        _ => Ok(x * 2),
    }
}

#[test]
fn every_failure_is_tied_to_its_input_and_nothing_else_is_lost() {
    let n = 60 * stress::<u64>();
    let pool = ProcessPool::new(2).unwrap();
    let report = Batch::isolated(pool, mixed)
        .progress(false)
        .run(0..n)
        .unwrap();
    assert_eq!(report.summary().total, n);
    for (i, outcome) in report.outcomes().enumerate() {
        let x = i as u64;
        match outcome {
            Ok(v) => {
                assert_eq!(*v, x * 2);
                assert!(
                    x != 25 && x != 40 && x % 11 != 5 && x % 7 != 3,
                    "{x} succeeded"
                );
            }
            Err(f) => {
                assert_eq!(f.index, x);
                assert_eq!(f.input.value(), Some(&x));
                assert_eq!(f.attempts, 1);
                match &f.cause {
                    Cause::Crashed { message } if x == 25 => {
                        assert!(message.contains("SIGABRT"), "{message}")
                    }
                    Cause::Crashed { message } if x == 40 => {
                        assert!(message.contains("SIGKILL"), "{message}")
                    }
                    Cause::Panic { message, .. } => {
                        assert_eq!(x % 11, 5);
                        assert_eq!(message, &format!("eleven {x}"));
                    }
                    Cause::Error(e) => {
                        assert_eq!(x % 7, 3);
                        assert_eq!(e, &format!("seven {x}"));
                    }
                    other => panic!("input {x}: unexpected {other:?}"),
                }
            }
        }
    }
    let s = report.summary();
    assert_eq!(s.crashes, 2);
    assert_eq!(
        s.succeeded + s.errors + s.panics + s.crashes,
        n,
        "every input has one outcome: {s:?}"
    );
    assert_eq!(report.exit_code(), 1);
}

fn sleepy(x: u64) -> Result<u64, ()> {
    if x == 1 {
        loop {
            std::thread::park(); // never returns: the pool must kill it
        }
    }
    Ok(x)
}

#[test]
fn a_hard_timeout_kills_the_item_and_the_run_goes_on() {
    let pool = ProcessPool::builder()
        .max_workers(2)
        .task_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let pool = std::sync::Arc::new(pool);
    let report = Batch::isolated(pool.clone(), sleepy)
        .progress(false)
        .run(0..6u64)
        .unwrap();
    let failures: Vec<_> = report.failures().collect();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].index, 1);
    assert_eq!(
        failures[0].cause,
        Cause::Timeout {
            after: Duration::from_millis(300)
        }
    );
    assert_eq!(
        report.values().copied().collect::<Vec<_>>(),
        [0, 2, 3, 4, 5]
    );
    // The pool is still whole: both workers serve again after the kill.
    let again = Batch::isolated(pool, sleepy)
        .progress(false)
        .run([10u64, 11, 12, 13])
        .unwrap();
    assert!(again.is_success());
}

/// Crashes on the first attempt for each input (a marker file remembers the attempt).
fn crash_once((dir, x): (PathBuf, u64)) -> Result<u64, String> {
    let marker = dir.join(format!("seen-{x}"));
    if !marker.exists() {
        std::fs::write(&marker, b"1").map_err(|e| e.to_string())?;
        std::process::abort();
    }
    Ok(x + 100)
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tk-isolated-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_crash_is_retried_like_any_failure() {
    let dir = temp_dir("retry");
    let inputs: Vec<(PathBuf, u64)> = (0..4).map(|x| (dir.clone(), x)).collect();
    let report = Batch::isolated(ProcessPool::new(2).unwrap(), crash_once)
        .retry(Retry::new(1))
        .progress(false)
        .run(inputs)
        .unwrap();
    assert!(report.is_success(), "{}", report.summary());
    assert_eq!(
        report.values().copied().collect::<Vec<_>>(),
        [100, 101, 102, 103]
    );
    assert_eq!(report.summary().retries, 4);
    let _ = std::fs::remove_dir_all(&dir);
}

fn fail_from_three(x: u64) -> Result<u64, String> {
    if x >= 3 {
        std::process::abort();
    }
    Ok(x)
}

#[test]
fn fail_fast_counts_a_crash_as_a_failure() {
    let report = Batch::isolated(ProcessPool::new(1).unwrap(), fail_from_three)
        .workers(1)
        .on_failure(FailurePolicy::FailFast)
        .progress(false)
        .run(0..20u64)
        .unwrap();
    let s = report.summary();
    assert_eq!(s.succeeded, 3);
    assert_eq!(s.crashes, 1);
    assert_eq!(s.not_started, 16, "{s:?}");
    assert_eq!(report.exit_code(), 2);
}

fn interrupted(_: u64) -> Result<u64, String> {
    // SIGINT's default action, whatever this worker inherited: a test run started in the
    // background of a script ignores SIGINT, and so do the children it starts.
    // SAFETY: the default action installs no handler code; nothing else in this worker
    // process sets SIGINT's disposition.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_DFL) };
    die_by("INT")
}

#[test]
fn a_worker_killed_by_sigint_reports_cancelled() {
    let report = Batch::isolated(ProcessPool::new(1).unwrap(), interrupted)
        .progress(false)
        .run([7u64])
        .unwrap();
    assert_eq!(report.failures().next().unwrap().cause, Cause::Cancelled);
}

fn triple(x: u64) -> Result<u64, String> {
    Ok(x * 3)
}

#[test]
fn the_journal_skips_done_items_without_starting_a_worker() {
    let dir = temp_dir("journal");
    let path = dir.join("j.sqlite");
    let first = Batch::isolated(ProcessPool::new(2).unwrap(), triple)
        .journal(Journal::open(&path, "isolated-triple").unwrap())
        .progress(false)
        .run(0..50u64)
        .unwrap();
    assert!(first.is_success());
    let pool = std::sync::Arc::new(ProcessPool::new(2).unwrap());
    let second = Batch::isolated(pool.clone(), triple)
        .journal(Journal::open(&path, "isolated-triple").unwrap())
        .progress(false)
        .run(0..50u64)
        .unwrap();
    assert_eq!(second.summary().skipped, 50);
    assert_eq!(
        second.values().copied().collect::<Vec<_>>(),
        (0..50u64).map(|x| x * 3).collect::<Vec<_>>()
    );
    assert_eq!(pool.workers_started(), 0, "nothing ran again");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_on_the_task_directly_panics_with_the_crash() {
    let task = threadkit::batch::Isolated::new(ProcessPool::new(1).unwrap(), fail_from_three);
    assert_eq!(task.run(&1), Ok(1));
    assert!(matches!(task.attempt(&3), Err(Cause::Crashed { .. })));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.run(&4)));
    let payload = caught.unwrap_err();
    let text = payload.downcast_ref::<String>().unwrap();
    assert!(text.contains("SIGABRT"), "{text}");
}

#[test]
fn a_shut_down_pool_fails_every_item_with_the_reason() {
    let pool = std::sync::Arc::new(ProcessPool::new(1).unwrap());
    pool.shutdown(true);
    let report = Batch::isolated(pool, triple)
        .progress(false)
        .run(0..3u64)
        .unwrap();
    assert_eq!(report.summary().crashes, 3);
    for f in report.failures() {
        assert!(
            matches!(&f.cause, Cause::Crashed { message } if message.contains("after shutdown")),
            "{:?}",
            f.cause
        );
    }
}
