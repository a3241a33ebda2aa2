//! `-j0` and large `-j` against the open-file limit: the soft limit is raised to the hard one
//! at start, slots are capped (with one warning) to what the descriptors allow, and
//! threadkit's own EMFILE never becomes a job's failure.
//!
//! Jobs wait on a file gate, so the test knows how many run at once without timing anything.

mod common;

use std::io::BufRead;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use common::*;

/// A job that notes it started and waits until the file `go` exists.
fn gated(dir: &str) -> String {
    format!("touch {dir}/s.{{}}; until [ -e {dir}/go ]; do sleep 0.05; done")
}

fn started(d: &TempDir) -> usize {
    std::fs::read_dir(d.path(""))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("s.")
        })
        .count()
}

#[test]
fn slots_are_capped_to_the_open_file_limit_with_one_warning() {
    let d = TempDir::new("fd-cap");
    let mut cmd = threadkit();
    cmd.args(["-j0", &gated(&d.s("")), ":::"])
        .args((1..=600).map(|i| i.to_string()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    limit(&mut cmd, libc::RLIMIT_NOFILE as i32, 256, Some(256));
    let mut child = cmd.spawn().unwrap();
    let err = std::io::BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in err.lines() {
            let _ = tx.send(l.unwrap());
        }
    });
    let warning = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("a warning about the open-file limit");
    let slots: usize = warning
        .split("only ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no slot count in {warning:?}"));
    assert!(warning.contains("open-file limit"), "{warning}");
    assert!((8..600).contains(&slots), "{warning}");
    wait_until("the capped slots to fill", || started(&d) >= slots);
    assert_eq!(started(&d), slots, "more jobs than slots");
    std::fs::write(d.path("go"), "").unwrap();
    let status = wait_bounded(&mut child, Duration::from_secs(120));
    assert_eq!(status.code(), Some(0), "jobs failed");
    assert_eq!(started(&d), 600);
    let more: Vec<String> = rx.try_iter().collect();
    assert!(more.is_empty(), "more on stderr: {more:?}");
}

#[test]
fn the_soft_open_file_limit_is_raised_to_the_hard_one() {
    let d = TempDir::new("fd-raise");
    let mut cmd = threadkit();
    cmd.args(["-j100", &gated(&d.s("")), ":::"])
        .args((1..=100).map(|i| i.to_string()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // 64 descriptors are too few for 100 jobs; the hard limit is not.
    limit(&mut cmd, libc::RLIMIT_NOFILE as i32, 64, None);
    let mut child = cmd.spawn().unwrap();
    wait_until("all 100 jobs to run at once", || started(&d) == 100);
    std::fs::write(d.path("go"), "").unwrap();
    let status = wait_bounded(&mut child, Duration::from_secs(120));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(err, "");
}

#[test]
fn running_out_of_descriptors_is_threadkits_error_not_the_jobs() {
    let d = TempDir::new("fd-emfile");
    let mut cmd = threadkit();
    cmd.args(["--joblog", &d.s("log"), "echo", ":::", "a", "b"]);
    // Enough to start up and open the joblog, not enough for a job's pipes.
    limit(&mut cmd, libc::RLIMIT_NOFILE as i32, 8, Some(8));
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot start job 1: Too many open files"),
        "{}",
        stderr(&out)
    );
    // Not recorded as a job that ran and failed.
    assert_eq!(
        lines(&d.path("log")).len(),
        1,
        "{:?}",
        lines(&d.path("log"))
    );
}
