//! A program whose `main` forgets `threadkit::process::init()` (issue 17): the parent gets an
//! error that names the fix, and `main`'s side effects never run again in a child.
//!
//! This file has `harness = false`: its `main` is a real program's `main`, not libtest's. Run
//! plainly (`cargo test`) or by nextest (`--list --format terse`, then the test's name), it runs
//! itself again as the subject program, captures that program's output, and checks it.

use std::process::Command;
use std::time::Duration;

use threadkit::process::{BuildErrorKind, Process, ProcessPool, SpawnError};

mod common;

/// The one test of this file, as listed to test runners.
const NAME: &str = "main_without_init_gets_an_error_naming_the_fix";
/// Set in the subject program's environment.
const SUBJECT: &str = "THREADKIT_TEST_NO_INIT_SUBJECT";
/// The line the subject's `main` prints before anything else: its side effect.
const SIDE_EFFECT: &str = "main's side effect";

fn double(x: u32) -> u32 {
    x * 2
}

/// The subject program: a `main` that starts processes without calling `init()` first.
fn subject() {
    println!("{SIDE_EFFECT} (pid {})", std::process::id());
    match ProcessPool::new(2) {
        Err(e) => println!(
            "pool: {e} [not initialized: {}]",
            e.kind() == BuildErrorKind::NotInitialized
        ),
        Ok(pool) => {
            let out: Vec<_> = pool.map(double, 0..4).unwrap().collect();
            println!("pool: built; map gave {out:?}");
        }
    }
    match Process::spawn(double, 21) {
        Err(e) => println!(
            "spawn: {e} [not initialized: {}]",
            matches!(e, SpawnError::NotInitialized(_))
        ),
        Ok(mut p) => println!("spawn: started; join gave {:?}", p.join()),
    }
}

fn main() {
    if std::env::var_os(SUBJECT).is_some() {
        subject();
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if cfg!(loom) {
        // Loom's primitives work only inside its models: nothing to run (or list) here.
        return;
    }
    if args.iter().any(|a| a == "--list") {
        // libtest's listing, for nextest: one test, not ignored.
        if !args.iter().any(|a| a == "--ignored") {
            println!("{NAME}: test");
        }
        return;
    }
    let filtered_out = args
        .iter()
        .any(|a| !a.starts_with('-') && !NAME.contains(a.as_str()));
    if filtered_out || args.iter().any(|a| a == "--ignored") {
        println!("running 0 tests");
        return;
    }
    println!("running 1 test");
    the_test();
    println!("test {NAME} ... ok");
}

fn the_test() {
    // A bound, so that a regression cannot hang the suite: the subject starts (at most) a few
    // children and waits for them.
    let out = common::output_within(
        Command::new(std::env::current_exe().expect("this test's path")).env(SUBJECT, "1"),
        Duration::from_secs(300),
    )
    .expect("the subject program did not end");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = format!(
        "status {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(out.status.success(), "{report}");
    assert_eq!(
        stdout.matches(SIDE_EFFECT).count(),
        1,
        "main ran again in a child: {report}"
    );
    let line = |prefix: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line: {report}"))
            .to_owned()
    };
    for what in ["pool: ", "spawn: "] {
        let l = line(what);
        assert!(
            l.contains("call threadkit::process::init() first") && l.contains("main"),
            "the error does not name the fix: {l}\n{report}"
        );
        assert!(l.ends_with("[not initialized: true]"), "{l}\n{report}");
    }
}
