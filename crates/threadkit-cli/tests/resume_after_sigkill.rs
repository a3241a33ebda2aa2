//! Resume after the runner is killed with SIGKILL: no job lost, none run twice.
//!
//! Two of the jobs block (while a marker file exists) so that the kill lands at a known point:
//! every other started job has finished and its outcome is committed to the journal (the test
//! reads the journal to know), the two blocked ones have not finished. The runner and the two
//! blocked process groups are then killed with SIGKILL, and the same command line is run again
//! with `--resume`. Every job appends its input to a file when it completes, so the file shows
//! how many times each one ran.

mod common;

use std::process::Stdio;

use common::*;
use threadkit::batch::Journal;

#[test]
fn resume_after_sigkill_loses_nothing_and_runs_nothing_twice() {
    let d = TempDir::new("sigkill");
    let (journal, runs, block) = (d.s("j.db"), d.s("runs"), d.s("block"));
    std::fs::write(&block, "").unwrap();
    let dir = d.s("");
    let cmd = format!(
        "if [ -e {block} ] && [ {{}} -eq 7 -o {{}} -eq 15 ]; then echo $$ > {dir}/pid.{{}}; sleep 60; fi; echo {{}} >> {runs}"
    );
    let inputs: Vec<String> = (1..=20).map(|i| i.to_string()).collect();
    let mut args = vec!["-j2", "--journal", journal.as_str(), cmd.as_str(), ":::"];
    args.extend(inputs.iter().map(String::as_str));

    let mut child = threadkit()
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let id = format!("threadkit: {cmd}");
    wait_until(
        "both slots to block and the other jobs to be committed",
        || {
            d.path("pid.7").exists()
                && d.path("pid.15").exists()
                && Journal::open(&journal, &id)
                    .and_then(|j| j.counts())
                    .map(|c| c.done >= 13)
                    .unwrap_or(false)
        },
    );
    // SIGKILL the runner, then the two blocked jobs (their own process groups outlive it).
    child.kill().unwrap();
    child.wait().unwrap();
    for n in ["7", "15"] {
        let pgid = std::fs::read_to_string(d.path(&format!("pid.{n}")))
            .unwrap()
            .trim()
            .to_string();
        std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .status()
            .unwrap();
    }
    let before = lines(&d.path("runs"));
    assert!(!before.contains(&"7".to_string()) && !before.contains(&"15".to_string()));

    std::fs::remove_file(&block).unwrap();
    args.insert(1, "--resume");
    let out = threadkit().args(&args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let got = sorted_numbers(&d.path("runs"));
    assert_eq!(got, (1..=20).collect::<Vec<u32>>(), "each job exactly once");
}
