//! Ctrl-C, then `--resume`: the jobs that never started run; none that finished runs again.
//!
//! With `--delay 2` and four slots, the first job starts at once and each next one two seconds
//! after the one before. The test sends SIGINT as soon as the first job's line is in the log
//! (chosen by the child's progress, not by a clock), so the other jobs never started: some
//! wait for their turn in a slot, the rest were never handed to one. Before the "not started"
//! outcome, the ones waiting in a slot were journaled as failed and `--resume` skipped them.

mod common;

use std::process::Stdio;

use common::*;

#[test]
fn ctrl_c_during_delay_then_resume_runs_the_jobs_that_never_started() {
    let d = TempDir::new("ctrl-c-resume");
    let (journal, ran) = (d.s("j.db"), d.s("ran"));
    let cmd = format!("echo {{}} >> {ran}");
    let inputs: Vec<String> = (1..=10).map(|i| i.to_string()).collect();
    let mut args = vec![
        "-j4",
        "--delay",
        "2",
        "--journal",
        journal.as_str(),
        cmd.as_str(),
        ":::",
    ];
    args.extend(inputs.iter().map(String::as_str));

    let child = threadkit()
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the first job's line", || !lines(&d.path("ran")).is_empty());
    // SAFETY: kill(2) on the pid of our own child, which has not been waited for yet.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    let before = lines(&d.path("ran"));
    assert!(
        before.len() < 10,
        "the interrupt came too late to test anything: {before:?}"
    );

    // Resume without the delay: the same command, so the same journal.
    args.drain(1..3);
    args.insert(1, "--resume");
    let out = threadkit().args(&args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = sorted_numbers(&d.path("ran"));
    assert_eq!(got, (1..=10).collect::<Vec<u32>>(), "each job exactly once");
    // The interrupted run said how many jobs it did not start.
    assert!(
        err.contains(&format!("{} jobs not started", 10 - before.len())),
        "{err}"
    );
}
