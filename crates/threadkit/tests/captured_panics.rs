//! Caught panics stay quiet: a panic threadkit hands back as a value (a batch item, an executor
//! task, a process-pool task, a joined thread) is reported once, in that value, with its
//! location (and its backtrace under `RUST_BACKTRACE=1`), and not also printed by Rust's panic
//! hook; other panics still print; a program's own hook keeps working; there is an opt-out.
//!
//! The panic hook is process-wide, so each case runs in a child process (this test binary
//! re-executed with [`CHILD`] naming the case) whose stdout and stderr are checked.
#![cfg(not(loom))]

use std::process::{Command, Output};

use threadkit::batch::Batch;
use threadkit::executor::ThreadPool;
use threadkit::process::ProcessPool;

threadkit::process::enable_test_support!();

const CHILD: &str = "THREADKIT_CAPTURED_PANICS_CHILD";

fn pool_task(x: u64) -> u64 {
    assert!(x != 7, "pool task seven");
    x
}

/// Panics of each kind threadkit captures, and one it does not; prints what comes back.
fn captured_and_uncaptured() {
    let report = Batch::new(|n: &u32| {
        if *n == 7 {
            panic!("batch item seven");
        }
        Ok::<_, String>(*n)
    })
    .progress(false)
    .run(0..10u32)
    .unwrap();
    println!("BATCH: {report}");

    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let f = pool.submit(|| -> u32 { panic!("executor task") }).unwrap();
    println!("EXECUTOR: {}", f.failure().unwrap());

    let procs = ProcessPool::new(1).unwrap();
    let out: Vec<_> = procs.map(pool_task, [7u64]).unwrap().collect();
    println!("PROCESS POOL: {}", out[0].as_ref().unwrap_err());

    let p = threadkit::thread::spawn(|| -> () { panic!("thread body") })
        .join()
        .unwrap_err();
    println!("THREAD: {p}");
    println!("THREAD BACKTRACE: {}", p.backtrace().is_some());

    // Not threadkit's: printed by the hook in place, as always.
    let r = std::thread::Builder::new()
        .name("plain".into())
        .spawn(|| -> () { panic!("uncaptured std thread") })
        .unwrap()
        .join();
    assert!(r.is_err());
}

/// Threads whose handles are dropped unjoined: their panics are not lost.
fn detached() {
    // Dropped before the panic.
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    // Non-daemon, so that wait_for_non_daemon below waits for its report. spawn() would make it
    // a daemon when this runs on a thread threadkit did not start (libtest's), as Python makes
    // the threads of a dummy thread, and the process could end before A printed.
    let a = threadkit::thread::Builder::new()
        .daemon(false)
        .spawn(move || -> () {
            go_rx.recv().unwrap();
            panic!("nobody joins A");
        })
        .unwrap();
    drop(a);
    go_tx.send(()).unwrap();
    // Dropped after the panic.
    let b = threadkit::thread::spawn(|| -> () { panic!("nobody joins B") });
    while b.is_alive() {
        std::thread::yield_now();
    }
    drop(b);
    threadkit::thread::wait_for_non_daemon();
}

/// Not a test of its own: the child process's program.
#[test]
fn child_program() {
    let Ok(case) = std::env::var(CHILD) else {
        return;
    };
    match case.as_str() {
        "default" => captured_and_uncaptured(),
        "user-hook" => {
            std::panic::set_hook(Box::new(|info| {
                let msg = info
                    .payload()
                    .downcast_ref::<&str>()
                    .copied()
                    .unwrap_or("(formatted)");
                eprintln!("USER HOOK: {msg}");
            }));
            captured_and_uncaptured();
        }
        "opt-out" => {
            threadkit::thread::print_captured_panics(true);
            captured_and_uncaptured();
        }
        "detached" => detached(),
        other => panic!("unknown case {other}"),
    }
}

fn run_child(case: &str, backtrace: bool) -> (String, String) {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--exact",
        "child_program",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD, case)
    .env_remove("RUST_LIB_BACKTRACE")
    .env_remove("THREADKIT_PRINT_CAPTURED_PANICS");
    if backtrace {
        c.env("RUST_BACKTRACE", "1");
    } else {
        c.env_remove("RUST_BACKTRACE");
    }
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    );
    assert!(status.success(), "{case}: {status}\n{out}\n{err}");
    (out, err)
}

/// The line of stdout that starts with `tag`.
fn line<'a>(out: &'a str, tag: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(tag))
        .unwrap_or_else(|| panic!("no {tag} line in\n{out}"))
}

const HERE: &str = "crates/threadkit/tests/captured_panics.rs:";

#[test]
fn captured_panics_are_reported_once_with_their_location() {
    let (out, err) = run_child("default", false);
    for (tag, text) in [
        ("BATCH", "batch item seven"),
        ("EXECUTOR", "executor task"),
        ("PROCESS POOL", "pool task seven"),
        ("THREAD:", "thread body"),
    ] {
        // Reported where it is handed back, with where it happened...
        let reported = if tag == "BATCH" {
            out.lines()
                .find(|l| l.contains(text))
                .unwrap_or_else(|| panic!("{out}"))
        } else {
            line(&out, tag)
        };
        assert!(
            reported.contains(&format!("panicked at {HERE}")),
            "{reported}"
        );
        // ... and only there: the panic hook printed nothing about it.
        assert!(!err.contains(text), "{text} printed by the hook:\n{err}");
    }
    assert_eq!(line(&out, "THREAD BACKTRACE"), "THREAD BACKTRACE: false");
    // A panic threadkit does not catch prints as usual.
    assert!(
        err.contains("thread 'plain'") && err.contains("uncaptured std thread"),
        "{err}"
    );
    assert_eq!(err.matches("panicked").count(), 1, "{err}");
}

#[test]
fn under_rust_backtrace_the_report_has_the_backtrace_and_stderr_stays_quiet() {
    let (out, err) = run_child("default", true);
    // The batch report ends with the item's backtrace; the thread's panic has one too.
    assert!(out.contains("item 7 panicked at "), "{out}");
    assert!(
        out.contains("captured_panics::captured_and_uncaptured"),
        "{out}"
    );
    assert_eq!(line(&out, "THREAD BACKTRACE"), "THREAD BACKTRACE: true");
    // Only the uncaptured panic went to stderr (with its backtrace, as Rust prints it).
    assert_eq!(err.matches("panicked at").count(), 1, "{err}");
    assert!(err.contains("uncaptured std thread"), "{err}");
    for text in [
        "batch item seven",
        "executor task",
        "pool task seven",
        "thread body",
    ] {
        assert!(!err.contains(text), "{text} printed by the hook:\n{err}");
    }
}

#[test]
fn a_program_hook_set_before_is_chained_for_uncaptured_panics() {
    let (out, err) = run_child("user-hook", false);
    assert!(err.contains("USER HOOK: uncaptured std thread"), "{err}");
    assert_eq!(err.matches("USER HOOK").count(), 1, "{err}");
    assert!(line(&out, "EXECUTOR").contains("executor task"), "{out}");
}

#[test]
fn print_captured_panics_is_the_opt_out() {
    let (out, err) = run_child("opt-out", false);
    for text in ["batch item seven", "executor task", "thread body"] {
        assert_eq!(err.matches(text).count(), 1, "{text}:\n{err}");
    }
    assert!(out.contains("batch item seven"), "{out}");
}

#[test]
fn a_detached_thread_s_panic_is_still_reported() {
    let (_, err) = run_child("detached", false);
    for text in ["nobody joins A", "nobody joins B"] {
        assert_eq!(err.matches(text).count(), 1, "{text}:\n{err}");
    }
    assert_eq!(
        err.matches(&format!("panicked at {HERE}")).count(),
        2,
        "{err}"
    );
}
