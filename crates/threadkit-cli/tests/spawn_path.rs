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

use common::{stderr, stdout, threadkit, TempDir};

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

/// Both ways of starting a job: the own `clone3` path (the default) and std's `posix_spawn`
/// (`THREADKIT_SPAWN=std`, also the fallback on kernels without `clone3`).
const SPAWN_PATHS: [&str; 2] = ["own", "std"];

/// `threadkit ARGS` started with the spawn path `how`, in `dir`, with `path` as its `PATH`
/// when given.
fn run_spawning(
    how: &str,
    dir: &TempDir,
    path: Option<&str>,
    args: &[&str],
) -> std::process::Output {
    let mut c = threadkit();
    c.current_dir(dir.path("")).args(args);
    if how == "std" {
        c.env("THREADKIT_SPAWN", "std");
    }
    if let Some(p) = path {
        c.env("PATH", p);
    }
    c.output().unwrap()
}

/// A shell script at `path` running `body`, with permissions `mode`.
fn script(path: &std::path::Path, body: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The joblog's Exitval column of its one job.
fn joblog_exit(joblog: &str) -> String {
    let text = std::fs::read_to_string(joblog).unwrap();
    let row = text
        .lines()
        .nth(1)
        .unwrap_or_else(|| panic!("no job in {text}"));
    row.split('\t').nth(6).unwrap().to_string()
}

#[test]
fn a_job_that_cannot_start_reports_what_the_shell_would() {
    let dir = TempDir::new("spawn-fail");
    script(&dir.path("noexec"), "echo ran", 0o644);
    // Executable, but no format the kernel knows (ENOEXEC; no `#!`).
    script(&dir.path("badelf"), "", 0o755);
    std::fs::write(dir.path("badelf"), b"\x7fELF not really").unwrap();
    std::fs::create_dir(dir.path("adir")).unwrap();
    let cases = [
        (
            "no-such-program-xyz",
            "127",
            "threadkit: no-such-program-xyz: not found",
        ),
        ("./noexec", "126", "threadkit: ./noexec: permission denied"),
        ("./adir", "126", "threadkit: ./adir: permission denied"),
        (
            "./badelf",
            "255",
            "threadkit: ./badelf: cannot start: Exec format error (os error 8)",
        ),
    ];
    for how in SPAWN_PATHS {
        for (program, code, message) in cases {
            let joblog = dir.s(&format!("log-{how}-{code}"));
            let out = run_spawning(how, &dir, None, &["--joblog", &joblog, program, ":::", "x"]);
            // One failed job: exit 1 (GNU parallel's count), and the shell's code in the log.
            assert_eq!(
                out.status.code(),
                Some(1),
                "{how} {program}: {}",
                stderr(&out)
            );
            assert_eq!(stderr(&out).trim_end(), message, "{how} {program}");
            assert_eq!(joblog_exit(&joblog), code, "{how} {program}");
        }
    }
}

#[test]
fn the_program_is_searched_along_path_as_execvp_does() {
    let dir = TempDir::new("spawn-path");
    for d in ["a", "b", "c"] {
        std::fs::create_dir(dir.path(d)).unwrap();
    }
    // Not executable in `a`: skipped (execvp remembers EACCES and goes on); found in `b`.
    script(&dir.path("a/prog"), "echo a $1", 0o644);
    script(&dir.path("b/prog"), "echo b $1", 0o755);
    let path = format!("{}:{}:/usr/bin:/bin", dir.s("a"), dir.s("b"));
    // Only a non-executable one: permission denied (126), not "not found".
    script(&dir.path("c/only"), "echo c", 0o644);
    let only_path = format!("{}:/usr/bin:/bin", dir.s("c"));
    for how in SPAWN_PATHS {
        let out = run_spawning(
            how,
            &dir,
            Some(&path),
            &["-j1", "-k", "prog", ":::", "1", "2"],
        );
        assert_eq!(stdout(&out), "b 1\nb 2\n", "{how}: {}", stderr(&out));
        let out = run_spawning(how, &dir, Some(&only_path), &["only", ":::", "1"]);
        assert_eq!(
            stderr(&out).trim_end(),
            "threadkit: only: permission denied",
            "{how}"
        );
    }
}

#[test]
fn a_program_that_moves_along_path_is_found_again() {
    let dir = TempDir::new("spawn-moved");
    for d in ["a", "b"] {
        std::fs::create_dir(dir.path(d)).unwrap();
    }
    // The first job runs b/prog, which moves itself to a/: the next job must find it there
    // (where it was found last is only where the search starts).
    let (a, b) = (dir.s("a"), dir.s("b"));
    script(
        &dir.path("b/prog"),
        &format!("echo from b; mv {b}/prog {a}/prog"),
        0o755,
    );
    let path = format!("{a}:{b}:/usr/bin:/bin");
    let out = run_spawning(
        "own",
        &dir,
        Some(&path),
        &["-j1", "-k", "prog", ":::", "1", "2"],
    );
    assert_eq!(stdout(&out), "from b\nfrom b\n", "{}", stderr(&out));
    assert!(dir.path("a/prog").exists());
    // And when it is gone from everywhere, it is not found.
    let out = run_spawning(
        "own",
        &dir,
        Some(&path),
        &["-j1", "-k", &format!("prog; rm -f {a}/prog"), ":::", "1"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_spawning("own", &dir, Some(&path), &["prog", ":::", "1"]);
    assert_eq!(stderr(&out).trim_end(), "threadkit: prog: not found");
}

/// A signal set from /proc/PID/status (`SigIgn:` ...), as a bit mask.
fn sig_mask(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    u64::from_str_radix(line[field.len()..].trim(), 16).unwrap()
}

#[test]
fn a_job_has_default_signal_handlers_and_an_empty_mask() {
    // threadkit has handlers for INT, TERM and HUP; the job must have none of them, nothing
    // blocked, and nothing ignored that threadkit's own parent (this test) did not ignore.
    let ours = std::fs::read_to_string("/proc/self/status").unwrap();
    let inherited = sig_mask(&ours, "SigIgn:");
    let dir = TempDir::new("spawn-signals");
    for how in SPAWN_PATHS {
        // threadkit (the job's parent) does have those handlers while the jobs start.
        let out = run_spawning(
            how,
            &dir,
            None,
            &["exec cat /proc/$PPID/status # {}", ":::", "x"],
        );
        let parent = sig_mask(&stdout(&out), "SigCgt:");
        for sig in [libc::SIGHUP, libc::SIGINT, libc::SIGTERM] {
            assert_ne!(
                parent & (1 << (sig - 1)),
                0,
                "{how}: signal {sig} not caught by threadkit"
            );
        }
        for cmd in [
            &["cat", ":::", "/proc/self/status"][..],
            &["exec cat /proc/self/status # {}", ":::", "x"],
        ] {
            let out = run_spawning(how, &dir, None, cmd);
            assert!(out.status.success(), "{how}: {}", stderr(&out));
            let theirs = stdout(&out);
            assert_eq!(sig_mask(&theirs, "SigBlk:"), 0, "{how} {cmd:?}: {theirs}");
            let ign = sig_mask(&theirs, "SigIgn:");
            if how == "own" {
                // (glibc's posix_spawn leaves its two internal signals, 32 and 33, ignored.)
                assert_eq!(ign & !inherited, 0, "{how} {cmd:?}: {theirs}");
            }
            assert_eq!(
                ign & (1 << (13 - 1)),
                0,
                "SIGPIPE ignored ({how}): {theirs}"
            );
            assert_eq!(sig_mask(&theirs, "SigCgt:"), 0, "{how}: {theirs}");
        }
    }
}

#[test]
fn a_job_gets_its_own_process_group_stdin_and_workdir_on_both_paths() {
    let dir = TempDir::new("spawn-setup");
    std::fs::create_dir(dir.path("wd")).unwrap();
    let wd = std::fs::canonicalize(dir.path("wd")).unwrap();
    for how in SPAWN_PATHS {
        // $$ is the job's shell: the leader of its own group; stdin /dev/null; in --workdir.
        let out = run_spawning(
            how,
            &dir,
            None,
            &[
                "--workdir",
                wd.to_str().unwrap(),
                "echo $$ $(ps -o pgid= -p $$) $(readlink /proc/$$/fd/0) $(pwd) {}",
                ":::",
                "x",
            ],
        );
        assert!(out.status.success(), "{how}: {}", stderr(&out));
        let text = stdout(&out);
        let f: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(f[0], f[1], "{how}: not a group leader: {text}");
        assert_eq!(
            &f[2..],
            ["/dev/null", wd.to_str().unwrap(), "x"],
            "{how}: {text}"
        );
    }
}

#[test]
fn a_value_holding_a_nul_byte_cannot_be_an_argument() {
    let dir = TempDir::new("spawn-nul");
    for how in SPAWN_PATHS {
        let mut c = threadkit();
        c.current_dir(dir.path("")).args(["-k", "echo"]);
        if how == "std" {
            c.env("THREADKIT_SPAWN", "std");
        }
        let out = common::output_with_stdin(&mut c, b"a\0b\nok\n");
        assert_eq!(stdout(&out), "ok\n", "{how}");
        assert_eq!(
            stderr(&out).trim_end(),
            "threadkit: echo: cannot start: nul byte found in provided data",
            "{how}"
        );
        assert_eq!(out.status.code(), Some(1), "{how}");
    }
}

/// The `Cpus_allowed_list:` of each `Name:` in `status` (one or more /proc status files
/// one after the other).
fn cpus_by_name(status: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut name = String::new();
    for line in status.lines() {
        if let Some(n) = line.strip_prefix("Name:") {
            name = n.trim().to_string();
        } else if let Some(list) = line.strip_prefix("Cpus_allowed_list:") {
            found.push((name.clone(), list.trim().to_string()));
        }
    }
    found
}

/// How many CPUs a list such as `0-3,6` names.
fn cpu_count(list: &str) -> usize {
    list.split(',')
        .map(|r| match r.split_once('-') {
            Some((a, b)) => b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1,
            None => 1,
        })
        .sum()
}

#[test]
fn a_job_runs_on_threadkits_whole_cpu_set_while_its_slot_keeps_to_one_cpu() {
    let ours = std::fs::read_to_string("/proc/self/status").unwrap();
    let ours = cpus_by_name(&ours).remove(0).1;
    let n = cpu_count(&ours);
    let dir = TempDir::new("spawn-affinity");
    let inputs: Vec<String> = (0..2 * n).map(|i| i.to_string()).collect();
    for how in SPAWN_PATHS {
        // As many slots as CPUs: on the own path each slot's worker thread keeps to a CPU.
        let mut args = vec![
            "-j".to_string(),
            n.to_string(),
            "cat /proc/self/status /proc/$PPID/task/*/status # {}".to_string(),
            ":::".to_string(),
        ];
        args.extend(inputs.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_spawning(how, &dir, None, &args);
        assert!(out.status.success(), "{how}: {}", stderr(&out));
        let seen = cpus_by_name(&stdout(&out));
        let jobs: Vec<_> = seen.iter().filter(|(name, _)| name == "cat").collect();
        assert_eq!(jobs.len(), inputs.len(), "{how}: {seen:?}");
        for (_, list) in jobs {
            assert_eq!(list, &ours, "{how}: a job's CPUs");
        }
        let pinned = seen
            .iter()
            .filter(|(name, list)| name.starts_with("batch_") && cpu_count(list) == 1)
            .count();
        if how == "own" && n >= 2 && cfg!(target_arch = "x86_64") {
            assert!(pinned > 0, "{how}: no slot keeps to a CPU: {seen:?}");
        } else if n >= 2 {
            assert_eq!(pinned, 0, "{how}: {seen:?}");
        }
    }
    // More slots than CPUs, or --pipe (whose worker threads feed the jobs): none keeps to one.
    let more = (n + 1).to_string();
    let cases: [&[&str]; 2] = [
        &[
            "-j",
            &more,
            "cat /proc/$PPID/task/*/status # {}",
            ":::",
            "1",
            "2",
        ],
        &[
            "--pipe",
            "-j",
            "1",
            "cat >/dev/null; cat /proc/$PPID/task/*/status >&2",
        ],
    ];
    std::fs::write(dir.path("lines"), "a\nb\n").unwrap();
    for args in cases {
        let out = threadkit()
            .current_dir(dir.path(""))
            .args(args)
            .stdin(File::open(dir.path("lines")).unwrap())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let seen = cpus_by_name(&format!("{}{}", stdout(&out), stderr(&out)));
        assert!(
            seen.iter().any(|(name, _)| name.starts_with("batch_")),
            "{args:?}: {seen:?}"
        );
        for (name, list) in &seen {
            assert_eq!(list, &ours, "{args:?}: {name}");
        }
    }
}
