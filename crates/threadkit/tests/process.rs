//! Integration tests for `threadkit::process::Process`: children, results, panics, signals.
#![cfg(not(loom))]

mod common;

use common::{aborts, exits, panics, parks};
use std::time::Duration;

use threadkit::process::{JoinTimeoutError, Process, ProcessError};

threadkit::process::enable_test_support!();

fn square(x: u64) -> u64 {
    x * x
}

fn my_pid(_: ()) -> u32 {
    std::process::id()
}

fn nested(x: u64) -> u64 {
    let mut p = Process::spawn(square, x).unwrap();
    p.join().unwrap() + 1
}

#[test]
fn returns_the_result() {
    let mut p = Process::spawn(square, 12).unwrap();
    assert_eq!(p.join(), Ok(144));
    assert!(!p.is_alive());
    assert_eq!(p.exitcode(), Some(0));
    assert_eq!(p.join(), Err(ProcessError::ResultTaken));
}

#[test]
fn runs_in_another_process() {
    let mut p = Process::spawn(my_pid, ()).unwrap();
    let pid = p.pid();
    assert_ne!(pid, std::process::id());
    assert_eq!(p.join(), Ok(pid));
}

#[test]
fn closures_without_captures_work() {
    let mut p = Process::spawn(
        |(a, b): (String, Vec<u8>)| format!("{a}{}", b.len()),
        ("x".to_owned(), vec![1, 2, 3]),
    )
    .unwrap();
    assert_eq!(p.join().unwrap(), "x3");
}

#[test]
fn a_panic_comes_back_with_its_message() {
    let mut p = Process::spawn(panics, "boom 42".to_owned()).unwrap();
    let first = p.join();
    let Err(ProcessError::Panicked {
        message, location, ..
    }) = &first
    else {
        panic!("a panic expected: {first:?}")
    };
    assert_eq!(message, "boom 42");
    // Where it panicked, in the child: the target function.
    assert!(
        location
            .as_deref()
            .unwrap()
            .contains("tests/common/mod.rs:"),
        "{first:?}"
    );
    assert_eq!(p.exitcode(), Some(1));
    // The error is kept for later joins.
    assert_eq!(p.join(), first);
}

#[test]
fn an_exit_code_without_result() {
    let mut p = Process::spawn(exits, 7).unwrap();
    assert_eq!(p.join(), Err(ProcessError::Exited { code: 7 }));
    assert_eq!(p.exitcode(), Some(7));
}

#[test]
fn exit_zero_inside_the_function_is_not_mistaken_for_a_missing_init() {
    let mut p = Process::spawn(exits, 0).unwrap();
    assert_eq!(p.join(), Err(ProcessError::Exited { code: 0 }));
}

#[test]
fn kill_reports_sigkill_by_name() {
    let mut p = Process::spawn(parks, ()).unwrap();
    assert!(p.is_alive());
    assert_eq!(p.exitcode(), None);
    assert_eq!(
        p.join_timeout(Duration::from_millis(20)),
        Err(JoinTimeoutError::Timeout)
    );
    p.kill().unwrap();
    let err = p.join().unwrap_err();
    assert_eq!(
        err,
        ProcessError::Signaled {
            signal: 9,
            name: "SIGKILL".into()
        }
    );
    assert!(err.to_string().contains("SIGKILL"));
    assert_eq!(p.exitcode(), Some(-9));
    assert!(!p.is_alive());
    // Signalling an ended process is a no-op.
    p.kill().unwrap();
    p.terminate().unwrap();
}

#[test]
fn terminate_sends_sigterm() {
    let mut p = Process::spawn(parks, ()).unwrap();
    p.terminate().unwrap();
    assert_eq!(
        p.join(),
        Err(ProcessError::Signaled {
            signal: 15,
            name: "SIGTERM".into()
        })
    );
    assert_eq!(p.exitcode(), Some(-15));
}

#[test]
fn abort_reports_sigabrt() {
    let mut p = Process::spawn(aborts, ()).unwrap();
    assert!(
        matches!(p.join(), Err(ProcessError::Signaled { signal: 6, ref name }) if name == "SIGABRT")
    );
}

#[test]
fn join_timeout_overflow_is_an_error() {
    let mut p = Process::spawn(square, 2).unwrap();
    assert!(matches!(
        p.join_timeout(Duration::MAX),
        Err(JoinTimeoutError::Overflow(_))
    ));
    assert_eq!(p.join_timeout(Duration::from_secs(30)), Ok(4));
}

#[test]
fn children_can_spawn_children() {
    let mut p = Process::spawn(nested, 5).unwrap();
    assert_eq!(p.join(), Ok(26));
}

#[test]
fn parent_is_not_a_child() {
    assert!(!threadkit::process::is_child());
}

#[test]
fn large_arguments_and_results() {
    let data: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
    let mut p = Process::spawn(
        |v: Vec<u8>| v.iter().rev().copied().collect::<Vec<u8>>(),
        data.clone(),
    )
    .unwrap();
    let back = p.join().unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back.iter().eq(data.iter().rev()));
}
