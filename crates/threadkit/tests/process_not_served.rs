//! A program that forgot `threadkit::process::init()`: this test binary has no
//! `enable_test_support!()` on purpose, so a child started from it runs libtest again, finds
//! no test named after the entry point, and exits with code 0 without serving. Both the
//! process handle and the process pool must say so, naming the fix, and never report it as an
//! ordinary exit of the function.
#![cfg(not(loom))]

use threadkit::process::{Process, ProcessPool, TaskError};

fn double(x: u32) -> u32 {
    x * 2
}

/// The fix the error must name.
const FIX: &str = "threadkit::process::init()";

#[test]
fn a_process_that_never_serves_names_the_fix() {
    let mut p = Process::spawn(double, 21).unwrap();
    let err = p.join().unwrap_err();
    assert_eq!(err, TaskError::NotServed);
    assert!(err.to_string().contains(FIX), "{err}");
}

#[test]
fn a_pool_task_on_a_worker_that_never_serves_names_the_fix() {
    let pool = ProcessPool::new(1).unwrap();
    let err = pool.submit(double, 21).unwrap().into_result().unwrap_err();
    assert_eq!(err, TaskError::NotServed);
    assert!(err.to_string().contains(FIX), "{err}");
}

#[test]
fn a_pool_whose_initializer_never_runs_is_broken_with_the_fix_named() {
    let pool = ProcessPool::builder()
        .max_workers(1)
        .initializer(|_: ()| {}, ())
        .build()
        .unwrap();
    let err = pool.submit(double, 21).unwrap().into_result().unwrap_err();
    assert!(matches!(&err, TaskError::BrokenPool { .. }), "{err:?}");
    assert!(err.to_string().contains(FIX), "{err}");
}
