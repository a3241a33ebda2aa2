//! A failed write of job output (a full disk: /dev/full) or of `--joblog` / `--results` is an
//! error with a message and exit status 255; a closed stdout (`| head`) ends the run quietly.

mod common;

use std::io::BufRead;
use std::process::Stdio;
use std::time::Duration;

use common::*;

#[test]
fn output_to_a_full_disk_is_an_error() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = threadkit()
        .args(["echo", ":::", "a", "b"])
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot write job output to stdout"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_results_file_that_cannot_be_written_is_an_error() {
    let out = run(&["--results", "/dev/full", "echo", ":::", "a"]);
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot write the results file"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "a\n");
}

#[test]
fn a_joblog_that_fills_up_mid_run_is_an_error() {
    let d = TempDir::new("wf-joblog");
    let mut cmd = threadkit();
    cmd.args(["-j1", "--joblog", &d.s("log"), "echo", ":::"]);
    cmd.args((1..=30).map(|i| i.to_string()));
    // The header and a few lines fit, then writes fail with EFBIG.
    limit(&mut cmd, libc::RLIMIT_FSIZE as i32, 300, None);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot write the joblog"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    let d = TempDir::new("wf-epipe");
    let dir = d.s("");
    // Each job writes more than half a pipe: once the reader is gone, writes must fail.
    let mut child = threadkit()
        .args(["-j2", &format!("touch {dir}/ran.{{}}; seq 10000"), ":::"])
        .args((1..=2000).map(|i| i.to_string()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "1\n");
    drop(out); // `| head -1`
    let status = wait_bounded(&mut child, Duration::from_secs(60));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(err, "");
    assert_eq!(status.code(), Some(0));
    let ran = std::fs::read_dir(d.path("")).unwrap().count();
    assert!(ran < 100, "{ran} jobs ran after stdout was closed");
}

#[test]
fn dry_run_to_a_full_disk_is_an_error() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = threadkit()
        .args(["--dry-run", "echo", ":::", "a"])
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot write"), "{}", stderr(&out));
}
