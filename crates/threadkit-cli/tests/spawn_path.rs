//! The per-job path: what a job's stdout and stderr are, how its program is found, and that the
//! jobs waiting for a slot never outlive a stop.
//!
//! A job's output is captured through a pipe (so it is printed in one piece) unless nothing can
//! ever see it: threadkit's own stdout (or stderr) is /dev/null and no `--joblog` (which
//! counts the bytes) or `--results` (which keeps them) needs it. Then the job writes straight
//! to /dev/null, with no pipe to make, poll and drain.

mod common;

use std::fs::File;
use std::process::Stdio;

use common::{stderr, threadkit, TempDir};

/// Where the job's stdout and stderr pointed (`readlink /proc/PID/fd/N` of its shell), for threadkit run with `stdout` and `stderr` and `extra` flags.
fn job_fds(dir: &TempDir, stdout: Stdio, stderr_to: Stdio, extra: &[&str]) -> (String, String) {
    let seen = dir.s("fds");
    // `$$` is the job's shell also inside `$(...)`, whose own stdout is the substitution's.
    let status = threadkit()
        .args(extra)
        .arg(format!(
            "echo $(readlink /proc/$$/fd/1) $(readlink /proc/$$/fd/2) > {seen}; : {{}}"
        ))
        .args([":::", "x"])
        .stdout(stdout)
        .stderr(stderr_to)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&seen).unwrap();
    let (out, err) = text.trim().split_once(' ').unwrap();
    (out.to_string(), err.to_string())
}

#[test]
fn output_nobody_can_see_goes_straight_to_dev_null() {
    let dir = TempDir::new("spawn-null");
    let (out, err) = job_fds(&dir, Stdio::null(), Stdio::null(), &[]);
    assert_eq!((out.as_str(), err.as_str()), ("/dev/null", "/dev/null"));
    // Only the stream that is /dev/null: the other is captured.
    let file = File::create(dir.path("seen")).unwrap();
    let (out, err) = job_fds(&dir, Stdio::from(file), Stdio::null(), &[]);
    assert!(out.starts_with("pipe:"), "{out}");
    assert_eq!(err, "/dev/null");
}

#[test]
fn output_is_captured_when_a_log_needs_it() {
    let dir = TempDir::new("spawn-null-logs");
    let joblog = dir.s("joblog");
    let (out, err) = job_fds(&dir, Stdio::null(), Stdio::null(), &["--joblog", &joblog]);
    assert!(
        out.starts_with("pipe:") && err.starts_with("pipe:"),
        "{out} {err}"
    );
    let results = dir.s("results");
    let (out, err) = job_fds(&dir, Stdio::null(), Stdio::null(), &["--results", &results]);
    assert!(
        out.starts_with("pipe:") && err.starts_with("pipe:"),
        "{out} {err}"
    );
}

#[test]
fn jobs_writing_to_dev_null_still_report_their_exit_codes() {
    let out = threadkit()
        .args([
            "-j2",
            "head -c 1000000 /dev/zero; exit {}",
            ":::",
            "0",
            "3",
            "0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    // GNU parallel's exit code: the number of failed jobs.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}
