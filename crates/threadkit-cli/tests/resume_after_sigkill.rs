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

/// A journaled `threadkit -j2` run of inputs 1..=`n` in `d`, started: a job whose input meets
/// the shell test `blocks` (`{}` is the input) while the file `block` exists writes its pid
/// to `pid.INPUT` and sleeps; every job appends its input to `runs` when it goes on.
struct BlockingRun {
    journal: String,
    block: String,
    /// The command line's arguments (`--resume` goes in at 1 to resume).
    args: Vec<String>,
    child: std::process::Child,
    /// The run's batch id in the journal.
    id: String,
}

impl BlockingRun {
    fn start(d: &TempDir, blocks: &str, n: u32) -> BlockingRun {
        let (journal, runs, block) = (d.s("j.db"), d.s("runs"), d.s("block"));
        std::fs::write(&block, "").unwrap();
        let dir = d.s("");
        let cmd = format!(
            "if [ -e {block} ] && [ {blocks} ]; then echo $$ > {dir}/pid.{{}}; sleep 60; fi; echo {{}} >> {runs}"
        );
        let mut args: Vec<String> = ["-j2", "--journal", &journal, &cmd, ":::"]
            .map(String::from)
            .into();
        args.extend((1..=n).map(|i| i.to_string()));
        let child = threadkit()
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        BlockingRun {
            journal,
            block,
            args,
            child,
            id: format!("threadkit: {cmd}"),
        }
    }
}

/// SIGKILLs the process group of the blocked job of input `n` (it outlives its runner).
fn kill_blocked_job(d: &TempDir, n: &str) {
    let pgid = std::fs::read_to_string(d.path(&format!("pid.{n}")))
        .unwrap()
        .trim()
        .to_string();
    std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .status()
        .unwrap();
}

#[test]
fn resume_after_sigkill_loses_nothing_and_runs_nothing_twice() {
    let d = TempDir::new("sigkill");
    let BlockingRun {
        journal,
        block,
        mut args,
        mut child,
        id,
    } = BlockingRun::start(&d, "{} -eq 7 -o {} -eq 15", 20);
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
        kill_blocked_job(&d, n);
    }
    let before = lines(&d.path("runs"));
    assert!(!before.contains(&"7".to_string()) && !before.contains(&"15".to_string()));

    std::fs::remove_file(&block).unwrap();
    args.insert(1, "--resume".into());
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

/// A journaled run has jobs waiting besides the running ones (its window is larger than the
/// slots): killed with SIGKILL while two jobs block and 28 wait, it has recorded as started
/// only the two that were running, and the resumed run says so and runs each job once.
#[test]
fn sigkill_while_jobs_wait_records_only_the_running_ones_as_started() {
    let d = TempDir::new("sigkill-waiting");
    let BlockingRun {
        journal,
        block,
        mut args,
        mut child,
        id,
    } = BlockingRun::start(&d, "{} -gt 10", 40);
    let blocked = || {
        std::fs::read_dir(d.path(""))
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_prefix("pid.").map(str::to_owned)
            })
            .collect::<Vec<String>>()
    };
    wait_until("both slots to block and jobs 1-10 to be committed", || {
        blocked().len() == 2
            && Journal::open(&journal, &id)
                .and_then(|j| j.counts())
                .map(|c| c.done == 10)
                .unwrap_or(false)
    });
    // SIGKILL the runner (with 28 jobs handed to its workers and waiting), then the two
    // blocked jobs (their own process groups outlive it).
    child.kill().unwrap();
    child.wait().unwrap();
    let mut running = blocked();
    running.sort();
    assert_eq!(running, ["11", "12"], "jobs start in order");
    for n in &running {
        kill_blocked_job(&d, n);
    }
    assert_eq!(
        sorted_numbers(&d.path("runs")),
        (1..=10).collect::<Vec<u32>>()
    );

    std::fs::remove_file(&block).unwrap();
    args.insert(1, "--resume".into());
    let out = threadkit().args(&args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(
            "threadkit: 2 jobs were running when the last run with this journal died; they run again"
        ),
        "{err}"
    );
    let got = sorted_numbers(&d.path("runs"));
    assert_eq!(got, (1..=40).collect::<Vec<u32>>(), "each job exactly once");
}

/// Waits until no process's command line mentions `needle`: the jobs of a killed runner live
/// on in their own process groups and may still be appending to the log.
fn wait_for_orphans(needle: &str) {
    wait_until("the killed run's jobs to end", || {
        std::fs::read_dir("/proc").unwrap().flatten().all(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            !String::from_utf8_lossy(&cmdline).contains(needle)
        })
    });
}

/// `seq 3000 | threadkit -j4 --journal j.db 'echo {} >> log'`, killed with SIGKILL at five
/// random moments (chosen by the run's progress: after a random number of new lines in the
/// log) and resumed each time: every input runs, and each resumed run re-runs at most the jobs
/// that were running at the kill (at most 4), and says how many those were.
#[test]
fn sigkill_at_five_random_moments_reruns_only_the_running_jobs() {
    use std::hash::{BuildHasher, Hasher};
    let d = TempDir::new("sigkill-5");
    let (journal, log, input) = (d.s("j.db"), d.s("log"), d.path("input"));
    let n = 3000u32;
    let text: String = (1..=n).map(|i| format!("{i}\n")).collect();
    std::fs::write(&input, text).unwrap();
    let cmd = format!("echo {{}} >> {log}");
    let mut seed = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
        | 1;
    eprintln!("seed {seed}");
    let mut random = move |below: u64| {
        // xorshift64
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    let duplicates = |log: &str| {
        let all = lines(std::path::Path::new(log));
        let distinct: std::collections::HashSet<&String> = all.iter().collect();
        all.len() - distinct.len()
    };
    let mut dups_before = 0;
    for run in 0..=5 {
        let mut args = vec!["-j4", "--journal", journal.as_str(), cmd.as_str()];
        if run > 0 {
            args.insert(0, "--resume");
        }
        let err_path = d.path(&format!("stderr.{run}"));
        let mut child = threadkit()
            .args(&args)
            .stdin(std::fs::File::open(&input).unwrap())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .unwrap();
        if run < 5 {
            // Up to 5 * 450 lines: every kill lands before the end of the input.
            let target = lines(&d.path("log")).len() + 50 + random(400) as usize;
            wait_until(&format!("{target} lines in the log"), || {
                lines(&d.path("log")).len() >= target
            });
            assert!(child.try_wait().unwrap().is_none(), "run {run} ended early");
            child.kill().unwrap();
            child.wait().unwrap();
            wait_for_orphans(&log);
        } else {
            let status = child.wait().unwrap();
            let err = std::fs::read_to_string(&err_path).unwrap();
            assert_eq!(status.code(), Some(0), "{err}");
        }
        let dups = duplicates(&log);
        if run > 0 {
            let err = std::fs::read_to_string(&err_path).unwrap();
            let were_running: usize = err
                .lines()
                .find_map(|l| {
                    l.strip_prefix("threadkit: ")?
                        .strip_suffix(" jobs were running when the last run with this journal died; they run again")?
                        .parse()
                        .ok()
                })
                .unwrap_or(0);
            let reruns = dups - dups_before;
            eprintln!("run {run}: {reruns} jobs ran again, {were_running} said to be running");
            assert!(
                reruns <= were_running && were_running <= 4,
                "run {run}: {reruns} jobs ran again, {were_running} said to be running: {err}"
            );
        }
        dups_before = dups;
    }
    assert_eq!(
        sorted_numbers(&d.path("log"))
            .into_iter()
            .collect::<std::collections::BTreeSet<u32>>(),
        (1..=n).collect(),
        "every input ran"
    );
}
