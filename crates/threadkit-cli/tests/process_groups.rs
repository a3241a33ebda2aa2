//! A job is finished when its main process (the leader of its process group) exits, even if a
//! background process it started still holds its stdout; Ctrl-C, a second Ctrl-C, `--timeout`
//! and `--halt now` still reach that job's whole process group, background processes
//! included, also after the leader was reaped.
//!
//! Jobs write the pids of their background processes to files; the tests wait for those files
//! (never for a fixed time) before they send a signal.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;

/// Kills a background process a test started through threadkit if the test fails early.
struct Reap(Vec<String>);

impl Drop for Reap {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", pid])
                .stderr(Stdio::null())
                .status();
        }
    }
}

const BOUND: Duration = Duration::from_secs(30);

/// Start threadkit with `args`, stdout discarded, stderr piped or discarded.
fn start(args: &[&str], stderr: bool) -> std::process::Child {
    threadkit()
        .args(args)
        .stdout(Stdio::null())
        .stderr(if stderr {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .spawn()
        .unwrap()
}

/// A background process that ignores TERM and writes its pid to `DIR/bg`.
fn stubborn(dir: &str) -> String {
    format!("sh -c \"trap '' TERM; echo \\$\\$ > {dir}/bg.tmp; mv {dir}/bg.tmp {dir}/bg; exec sleep 300\"")
}

/// The pid a job wrote to `path`, killed when the test ends.
fn background(path: &std::path::Path) -> (String, Reap) {
    let pid = pid_in(path);
    (pid.clone(), Reap(vec![pid]))
}

#[test]
fn a_background_process_holding_stdout_does_not_hang_the_run() {
    let d = TempDir::new("pg-daemon");
    let bg = d.s("bg");
    // GNU parallel returns at once here: the job is done when `sh` exits.
    let mut child = threadkit()
        .args([
            "--joblog",
            &d.s("log"),
            &format!("sleep 300 & echo $! > {bg}; echo started {{}}"),
            ":::",
            "1",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let _reap = Reap(vec![pid_in(&d.path("bg"))]);
    let status = wait_bounded(&mut child, BOUND);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(out, "started 1\n");
    assert_eq!(lines(&d.path("log")).len(), 2);
}

#[test]
fn output_written_before_the_leader_exits_is_all_printed() {
    let d = TempDir::new("pg-drain");
    let bg = d.s("bg");
    // More than a pipe holds, so the leader blocks on its writes until they are read.
    let out = {
        let mut child = threadkit()
            .args([
                &format!("sleep 300 & echo $! > {bg}; seq {{}}"),
                ":::",
                "100000",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let _reap = Reap(vec![pid_in(&d.path("bg"))]);
        let mut out = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
        assert_eq!(wait_bounded(&mut child, BOUND).code(), Some(0));
        out
    };
    let want: String = (1..=100_000).map(|i| format!("{i}\n")).collect();
    assert!(out == want, "{} bytes instead of {}", out.len(), want.len());
}

#[test]
fn ctrl_c_kills_background_processes_of_finished_jobs() {
    let d = TempDir::new("pg-ctrlc");
    let dir = d.s("");
    let mut child = start(
        &[
            "-j1",
            ":::",
            &format!("sleep 300 & echo $! > {dir}/bg"),
            &format!("echo $$ > {dir}/second; exec sleep 300"),
        ],
        false,
    );
    let (bg, _reap) = background(&d.path("bg"));
    // The second job runs, so the first one counts as finished.
    let second = pid_in(&d.path("second"));
    kill("-INT", &child.id().to_string());
    assert_eq!(wait_bounded(&mut child, BOUND).code(), Some(130));
    wait_until("the first job's background process to die", || !alive(&bg));
    wait_until("the second job to die", || !alive(&second));
}

#[test]
fn a_second_ctrl_c_kills_background_processes_that_ignore_term() {
    let d = TempDir::new("pg-ctrlc2");
    let dir = d.s("");
    let mut child = start(
        &[
            "-j1",
            "--term-grace",
            "600",
            ":::",
            &format!("{} &", stubborn(&dir)),
            &format!("trap '' TERM; echo $$ > {dir}/second; sleep 300"),
        ],
        true,
    );
    let (bg, _reap) = background(&d.path("bg"));
    pid_in(&d.path("second"));
    let pid = child.id().to_string();
    kill("-INT", &pid);
    // Signals do not queue: send the second once the first was handled.
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut err, &mut line).unwrap();
    assert!(line.contains("interrupted"), "{line}");
    assert!(
        alive(&bg),
        "TERM is ignored: still running before the second Ctrl-C"
    );
    kill("-INT", &pid);
    assert_eq!(wait_bounded(&mut child, BOUND).code(), Some(130));
    wait_until("the background process to die", || !alive(&bg));
}

#[test]
fn timeout_kills_a_background_process_left_when_the_leader_died_of_term() {
    let d = TempDir::new("pg-timeout");
    let dir = d.s("");
    // The leader dies of the timeout's TERM; its background process ignores TERM and has
    // closed its copy of the job's output, so only KILL to the group after the grace stops it.
    let script = format!(
        "{} > /dev/null 2>&1 & while [ ! -e {dir}/bg ]; do sleep 0.01; done; wait # {{}}",
        stubborn(&dir)
    );
    let mut child = start(
        &["--timeout", "1", "--term-grace", "0.3", &script, ":::", "x"],
        false,
    );
    let (bg, _reap) = background(&d.path("bg"));
    assert_eq!(wait_bounded(&mut child, BOUND).code(), Some(1));
    wait_until("the background process to die", || !alive(&bg));
}

#[test]
fn halt_now_kills_background_processes_of_finished_jobs() {
    let d = TempDir::new("pg-halt");
    let dir = d.s("");
    let mut child = start(
        &[
            "-j1",
            "--halt",
            "now,fail=1",
            ":::",
            &format!("sleep 300 & echo $! > {dir}/bg"),
            "exit 3",
        ],
        false,
    );
    let (bg, _reap) = background(&d.path("bg"));
    assert_eq!(wait_bounded(&mut child, BOUND).code(), Some(3));
    wait_until("the background process to die", || !alive(&bg));
}
