#![cfg(not(loom))]
//! The except hook (`threading.excepthook`): what it is told, and the default report.
//!
//! The panic hook is process-wide, so the in-process checks run in one test; the default
//! report is checked on a child process (this binary re-executed) to read its stderr.

use std::process::Command;
use std::sync::{Arc, Mutex};

use threadkit::thread::{self, Builder};

#[derive(Debug, Clone, PartialEq)]
struct Seen {
    name: String,
    ident: u64,
    message: String,
    file: Option<String>,
    thread_matches: bool,
}

#[test]
fn hook_is_told_the_thread_name_ident_message_and_location() {
    let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
    let s = seen.clone();
    thread::set_excepthook(move |args| {
        s.lock().unwrap().push(Seen {
            name: args.thread_name.to_owned(),
            ident: args.ident,
            message: args.message.to_owned(),
            file: args.location.map(|l| l.file().to_owned()),
            thread_matches: args.thread.name() == args.thread_name
                && args.thread.ident() == args.ident
                && args.payload.is::<String>() == args.message.starts_with("formatted"),
        });
    });

    let h = Builder::new()
        .name("worker")
        .spawn(|| -> () { panic!("boom") })
        .unwrap();
    let ident = h.ident();
    let p = h.join().unwrap_err();
    assert_eq!(p.message(), "boom");

    // A foreign thread reports as its dummy name.
    let dummy = std::thread::spawn(|| {
        let me = thread::current();
        let r = std::panic::catch_unwind(|| panic!("formatted {}", std::hint::black_box(1)));
        assert!(r.is_err());
        me
    })
    .join()
    .unwrap();
    thread::reset_excepthook();

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].name, "worker");
    assert_eq!(seen[0].ident, ident);
    assert_eq!(seen[0].message, "boom");
    assert!(seen[0].file.as_deref().unwrap().ends_with("thread_hook.rs"));
    assert!(seen[0].thread_matches);
    assert_eq!(seen[1].name, dummy.name());
    assert_eq!(seen[1].message, "formatted 1");
    assert!(seen[1].thread_matches);
}

const CHILD_ENV: &str = "THREADKIT_HOOK_CHILD";

/// Not a test of its own: the child process's program.
#[test]
fn child_program() {
    if std::env::var(CHILD_ENV).as_deref() != Ok("default-hook") {
        return;
    }
    thread::install_excepthook();
    let h = Builder::new()
        .name("Thread-7 (worker)")
        .spawn(|| -> () { panic!("division by zero") })
        .unwrap();
    assert!(h.join().is_err());
}

#[test]
fn default_hook_reports_exception_in_thread_name() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_program",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "default-hook")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("Exception in thread "))
        .unwrap_or_else(|| panic!("no report in:\n{stderr}"));
    assert!(
        line.starts_with("Exception in thread Thread-7 (worker): division by zero (at "),
        "{line}"
    );
    assert!(line.contains("thread_hook.rs:"), "{line}");
    // Rust's own "thread '...' panicked at" message is replaced, not added to.
    assert!(!stderr.contains("panicked at"), "{stderr}");
}
