//! The `threadkit` binary before the runner lands: help works, running jobs is refused loudly.

use std::process::Command;

fn threadkit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_threadkit"))
}

#[test]
fn help_prints_usage_and_exits_zero() {
    let out = threadkit().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Usage: threadkit"), "{text}");
}

#[test]
fn running_jobs_is_refused_with_255_not_silently_ignored() {
    let out = threadkit().args(["echo", ":::", "a"]).output().unwrap();
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not implemented"));
}
