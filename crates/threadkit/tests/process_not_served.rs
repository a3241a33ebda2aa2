//! A child that never serves: the parent called `threadkit::process::init()` (so starting
//! children is allowed), but the child's path through `main` never reaches it (here: the test
//! that children of a test binary run, `threadkit_process_test_child`, is defined below without
//! calling `init()`, instead of by `enable_test_support!()`). The child exits with code 0
//! without running anything; the process handle and the process pool must both report
//! `NotServed`, naming the fix, never an ordinary exit of the function.
//! (A `main` that never calls `init()` at all is refused before any child starts:
//! tests/process_no_init.rs.)
#![cfg(not(loom))]

use threadkit::process::{Process, ProcessPool, TaskError};

/// What children of this binary run: nothing (libtest then exits with code 0).
#[test]
fn threadkit_process_test_child() {}

fn double(x: u32) -> u32 {
    x * 2
}

/// The fix the error must name.
const FIX: &str = "threadkit::process::init()";

#[test]
fn a_process_that_never_serves_names_the_fix() {
    threadkit::process::init();
    let mut p = Process::spawn(double, 21).unwrap();
    let err = p.join().unwrap_err();
    assert_eq!(err, TaskError::NotServed);
    assert!(err.to_string().contains(FIX), "{err}");
}

#[test]
fn a_pool_task_on_a_worker_that_never_serves_names_the_fix() {
    threadkit::process::init();
    let pool = ProcessPool::new(1).unwrap();
    let err = pool.submit(double, 21).unwrap().into_result().unwrap_err();
    assert_eq!(err, TaskError::NotServed);
    assert!(err.to_string().contains(FIX), "{err}");
}

#[test]
fn a_pool_whose_initializer_never_runs_is_broken_with_the_fix_named() {
    threadkit::process::init();
    let pool = ProcessPool::builder()
        .max_workers(1)
        .initializer(|_: ()| {}, ())
        .build()
        .unwrap();
    let err = pool.submit(double, 21).unwrap().into_result().unwrap_err();
    assert!(matches!(&err, TaskError::BrokenPool { .. }), "{err:?}");
    assert!(err.to_string().contains(FIX), "{err}");
}
