#![cfg(not(loom))]
//! Daemon vs non-daemon threads at the program's exit, checked on real child processes.
//!
//! Each check re-executes this test binary (`std::env::current_exe()`), asking libtest to run
//! only `child_program` with `THREADKIT_EXIT_CHILD` naming the program to act as. The
//! programs are the examples themselves, included below, so what is tested is exactly what
//! `cargo run --example ...` runs.

use std::process::Command;
use std::time::{Duration, Instant};

#[allow(dead_code)]
#[path = "../examples/thread_daemon_exit.rs"]
mod daemon_exit;

#[allow(dead_code)]
#[path = "../examples/thread_daemon_demo.rs"]
mod daemon_demo;

const CHILD_ENV: &str = "THREADKIT_EXIT_CHILD";

/// Not a test of its own: the entry point of the child processes (does nothing otherwise).
#[test]
fn child_program() {
    match std::env::var(CHILD_ENV).as_deref() {
        Ok("seed004-non-daemon") => daemon_exit::run(false),
        Ok("seed004-daemon") => daemon_exit::run(true),
        Ok("seed002-daemon-demo") => daemon_demo::run(),
        Ok("guard-nested") => guard_nested(),
        Ok("guard-panicking-main") => guard_panicking_main(),
        _ => {}
    }
}

/// Runs this binary as the child program `which`; returns its stdout and how long it took.
fn run_child(which: &str) -> (String, Duration, bool) {
    let start = Instant::now();
    let out = Command::new(std::env::current_exe().expect("test binary path"))
        .args([
            "--exact",
            "child_program",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, which)
        .output()
        .expect("run child");
    let took = start.elapsed();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        took,
        out.status.success(),
    )
}

fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle))
}

#[test]
fn non_daemon_thread_is_waited_for_at_exit() {
    let (out, took, ok) = run_child("seed004-non-daemon");
    assert!(ok, "{out}");
    let done = line_of(&out, "all done").expect("main logged 'all done'");
    let finishing = line_of(&out, "Thread 1\t:\tfinishing")
        .unwrap_or_else(|| panic!("the non-daemon thread was not waited for:\n{out}"));
    assert!(
        finishing > done,
        "'finishing' must come after 'all done':\n{out}"
    );
    assert!(out.contains("] Thread 1\t:\tstarting"), "{out}");
    assert!(took >= Duration::from_millis(1000), "exited after {took:?}");
}

#[test]
fn daemon_thread_is_not_waited_for_at_exit() {
    let (out, _, ok) = run_child("seed004-daemon");
    assert!(ok, "{out}");
    assert!(line_of(&out, "all done").is_some(), "{out}");
    assert!(
        !out.contains("finishing"),
        "the daemon thread ran to its end:\n{out}"
    );
    // The thread sleeps 1 s before "finishing": its missing line proves that nobody waited
    // (a bound on the child's run time would also measure how loaded the machine is).
}

#[test]
fn endless_daemon_thread_does_not_keep_the_program_alive() {
    let (out, took, ok) = run_child("seed002-daemon-demo");
    assert!(ok, "{out}");
    assert!(out.contains("\tThis is main -  9"), "{out}");
    assert!(out.contains("This is daemon"), "{out}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

/// A non-daemon thread started by a non-daemon thread after the guard began waiting. The
/// order of the three lines comes from the channels; the sleeps only make it likely that the
/// child and the grandchild start while the guard waits (the test passes either way).
fn guard_nested() {
    let _guard = threadkit::thread::exit_guard();
    let (main_done, main_rx) = std::sync::mpsc::channel::<()>();
    threadkit::thread::Builder::new()
        .daemon(false)
        .spawn(move || {
            main_rx.recv().unwrap();
            std::thread::sleep(Duration::from_millis(100));
            let (child_done, child_rx) = std::sync::mpsc::channel::<()>();
            threadkit::thread::spawn(move || {
                child_rx.recv().unwrap();
                std::thread::sleep(Duration::from_millis(100));
                println!("grandchild done");
            });
            println!("child done");
            child_done.send(()).unwrap();
        })
        .unwrap();
    println!("main done");
    main_done.send(()).unwrap();
}

#[test]
fn guard_waits_for_threads_started_while_waiting() {
    let (out, _, ok) = run_child("guard-nested");
    assert!(ok, "{out}");
    let main = line_of(&out, "main done").expect("main done");
    let child = line_of(&out, "child done").expect("child waited for");
    let grandchild = line_of(&out, "grandchild done").expect("grandchild waited for");
    assert!(main < child && child < grandchild, "{out}");
}

/// The guard also waits while a panic unwinds out of main.
fn guard_panicking_main() {
    let _guard = threadkit::thread::exit_guard();
    threadkit::thread::Builder::new()
        .daemon(false)
        .spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            println!("worker finished");
        })
        .unwrap();
    panic!("main failed");
}

#[test]
fn guard_waits_even_when_main_panics() {
    let (out, _, ok) = run_child("guard-panicking-main");
    assert!(!ok, "the child's test should fail: {out}");
    assert!(out.contains("worker finished"), "{out}");
}
