//! GNU parallel's SQL mode on a real PostgreSQL (`THREADKIT_PG_URL`; `eval "$(scripts/postgres
//! start)"` gives one): `--sqlmaster` with `--sqlworker` processes, and `--sqlandworker`,
//! compared with a local run of the same command line (differential): the same stdout (with
//! `-k`, the same bytes), the same joblog but for times and host, the same exit code. Every
//! test uses a table (batch) of its own, so they run in parallel. Workers may start before
//! the master: they wait for the table's batch to appear, so nothing here waits on timing.
//!
//! Built with the feature `pg-tests` (scripts/test turns it on and starts a database), so that
//! a plain `cargo test --workspace` on a machine without PostgreSQL passes.
#![cfg(feature = "pg-tests")]

mod common;

use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use common::*;

/// How long a distributed run of a few jobs may take on a loaded machine.
const BOUND: Duration = Duration::from_secs(120);

fn pg_url() -> String {
    std::env::var("THREADKIT_PG_URL").unwrap_or_else(|_| {
        panic!(
            "THREADKIT_PG_URL is not set: these tests need a PostgreSQL; start a throwaway one \
             with  eval \"$(scripts/postgres start)\"  (scripts/test does it for you)"
        )
    })
}

/// A DBURL with a table no other test (or earlier run) uses.
fn dburl(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}/{test}_{}_{nanos}", pg_url(), std::process::id())
}

/// A `--sqlworker` process on `url`, `-j jobs`, in `dir` (jobs run in the worker's
/// directory).
fn worker(dir: &Path, url: &str, jobs: &str) -> Child {
    threadkit()
        .current_dir(dir)
        .args(["--sqlworker", url, "-j", jobs])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait for a worker, bounded; it must have ended well.
fn finish(mut w: Child) {
    let st = wait_bounded(&mut w, BOUND);
    let out = w.wait_with_output().unwrap();
    assert!(
        st.success(),
        "worker: {st}; stderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `threadkit --sqlmaster URL ARGS` in `dir` with `stdin`, and `workers` worker processes
/// (none: `--sqlandworker URL ARGS`).
fn distributed(dir: &Path, url: &str, args: &[&[u8]], stdin: &[u8], workers: usize) -> Output {
    let ws: Vec<Child> = (0..workers).map(|_| worker(dir, url, "2")).collect();
    let flag: &[u8] = if workers == 0 {
        b"--sqlandworker"
    } else {
        b"--sqlmaster"
    };
    let mut full: Vec<&[u8]> = vec![flag, url.as_bytes()];
    full.extend_from_slice(args);
    let out = run_bytes_in(dir, &full, stdin);
    ws.into_iter().for_each(finish);
    out
}

/// A joblog's records without the times, the host and the header, by sequence number:
/// Seq, Send, Receive, Exitval, Signal, Command (a command may hold newlines: a line that
/// does not start a record continues the one before).
fn joblog(p: &Path) -> Vec<String> {
    let mut text = std::fs::read(p).unwrap();
    if text.last() == Some(&b'\n') {
        text.pop();
    }
    let mut rows: Vec<(u64, Vec<u8>)> = Vec::new();
    for l in text.split(|&b| b == b'\n').skip(1) {
        let f: Vec<&[u8]> = l.splitn(9, |&b| b == b'\t').collect();
        let seq = std::str::from_utf8(f[0]).ok().and_then(|s| s.parse().ok());
        match (seq, f.len()) {
            (Some(seq), 9) => rows.push((seq, [f[0], f[4], f[5], f[6], f[7], f[8]].join(&b'\t'))),
            _ => {
                let last = rows.last_mut().expect("a joblog record");
                last.1.push(b'\n');
                last.1.extend_from_slice(l);
            }
        }
    }
    rows.sort();
    rows.into_iter()
        .map(|(_, l)| String::from_utf8_lossy(&l).into_owned())
        .collect()
}

/// Runs `args` locally and through the database with two workers: the same stdout bytes, the
/// same joblog (modulo times and host), the same exit code.
fn same_as_local(test: &str, args: &[&[u8]], stdin: &[u8]) {
    same_as_local_with(test, args, stdin, 2);
}

/// [`same_as_local`] with `workers` worker processes (0: `--sqlandworker`).
fn same_as_local_with(test: &str, args: &[&[u8]], stdin: &[u8], workers: usize) {
    let d = TempDir::new(test);
    let (local_log, dist_log) = (d.s("local.log"), d.s("dist.log"));
    let with_log = |log: &str| {
        let mut a: Vec<Vec<u8>> = vec![b"--joblog".to_vec(), log.as_bytes().to_vec()];
        a.extend(args.iter().map(|x| x.to_vec()));
        a
    };
    let local_args = with_log(&local_log);
    let local_args: Vec<&[u8]> = local_args.iter().map(|a| &a[..]).collect();
    let local = run_bytes_in(&d.0, &local_args, stdin);
    let dist_args = with_log(&dist_log);
    let dist_args: Vec<&[u8]> = dist_args.iter().map(|a| &a[..]).collect();
    let dist = distributed(&d.0, &dburl(test), &dist_args, stdin, workers);
    assert_eq!(
        dist.stdout,
        local.stdout,
        "stdout (distributed, then local); distributed stderr: {}",
        stderr(&dist)
    );
    assert_eq!(
        dist.status.code(),
        local.status.code(),
        "exit code; stderr: {}",
        stderr(&dist)
    );
    assert_eq!(joblog(Path::new(&dist_log)), joblog(Path::new(&local_log)));
}

#[test]
fn sqlmaster_and_two_workers_match_a_local_run_with_hostile_inputs() {
    // Non-UTF-8 bytes, quotes of both kinds, a newline inside an input (-0), a `$`, a
    // backslash; three of them fail with their own exit code.
    let stdin: &[u8] =
        b"plain\0caf\xe9 \xff\xfe\0it's \"quoted\"\0two\nlines\0$HOME \\ back\0exit3\0exit7\0exit1\0";
    same_as_local(
        "hostile",
        &[
            b"-k",
            b"-0",
            b"-j3",
            b"printf '%s|\\n' {}; echo err {#} >&2; case {} in exit3) exit 3;; exit7) exit 7;; exit1) exit 1;; esac",
        ],
        stdin,
    );
}

#[test]
fn sqlandworker_alone_matches_a_local_run() {
    let stdin: &[u8] = b"a b\nx'y\nfail\n\xc3\x28\n";
    same_as_local_with(
        "andworker",
        &[b"-k", b"echo {#} {}; test {} != fail"],
        stdin,
        0,
    );
}

#[test]
fn output_without_k_is_the_same_lines_and_results_match() {
    let d = TempDir::new("sql-results");
    let url = dburl("results");
    let args: &[&[u8]] = &[
        b"--results",
        b"r.jsonl",
        b"echo {}; echo e{} >&2",
        b":::",
        b"1",
        b"2",
        b"3",
    ];
    let dist = distributed(&d.0, &url, args, b"", 2);
    assert_eq!(dist.status.code(), Some(0), "{}", stderr(&dist));
    assert_eq!(sorted(&stdout(&dist)), ["1", "2", "3"]);
    let mut records = lines(&d.path("r.jsonl"));
    records.sort();
    assert_eq!(records.len(), 3);
    for (r, n) in records.iter().zip(1..) {
        let v: serde_json::Value = serde_json::from_str(r).unwrap();
        assert_eq!(v["stdout"], format!("{n}\n"), "{r}");
        assert_eq!(v["stderr"], format!("e{n}\n"), "{r}");
        assert_eq!(v["exit_code"], 0, "{r}");
    }
}

#[test]
fn halt_soon_fail_1_stops_every_worker_with_the_failed_jobs_code() {
    // Job 1 fails at once; the others take a while each, so most of them never start.
    let d = TempDir::new("sql-halt");
    let n = 200;
    let inputs: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    let mut args: Vec<&[u8]> = vec![
        b"--halt",
        b"soon,fail=1",
        b"--joblog",
        b"log",
        b"if [ {} = 1 ]; then exit 4; fi; sleep 0.05; echo {}",
        b":::",
    ];
    args.extend(inputs.iter().map(|s| s.as_bytes()));
    let dist = distributed(&d.0, &dburl("halt"), &args, b"", 2);
    assert_eq!(dist.status.code(), Some(4), "{}", stderr(&dist));
    let ran = joblog(&d.path("log")).len();
    assert!(
        ran < n / 2,
        "{ran} of {n} jobs ran after a halt at the first one"
    );
    assert!(joblog(&d.path("log"))[0].starts_with("1\t"));
}

#[test]
fn a_killed_sqlworkers_job_is_completed_by_the_other_worker() {
    let d = TempDir::new("sql-kill");
    let url = dburl("kill");
    // The first attempt of job 2 marks that it started and blocks; any later attempt (on
    // the other worker) sees the mark and finishes.
    let script = format!(
        "if mkdir {dir}/lock{{}} 2>/dev/null && [ {{}} = 2 ]; then echo $$ > {dir}/started; exec sleep 600; fi; echo {{}}",
        dir = d.0.display()
    );
    let mut first = threadkit()
        .args(["--sqlworker", &url, "-j1", "--sql-lease", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let master = threadkit()
        .args([
            "--sqlmaster",
            &url,
            "-k",
            "--joblog",
            &d.s("log"),
            &script,
            ":::",
            "2",
            "1",
            "3",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("job 2 started on the first worker", || {
        d.path("started").exists()
    });
    let sleeper = pid_in(&d.path("started"));
    kill("-KILL", &first.id().to_string());
    first.wait().unwrap();
    let second = worker(&d.0, &url, "2");
    let mut master = master;
    let st = wait_bounded(&mut master, BOUND);
    let out = master.wait_with_output().unwrap();
    kill("-KILL", &sleeper);
    finish(second);
    assert_eq!(st.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "2\n1\n3\n");
    let log = joblog(&d.path("log"));
    assert_eq!(log.len(), 3, "{log:?}");
}

#[test]
fn resume_failed_runs_the_tables_failed_jobs_again_and_resume_skips_the_finished() {
    let d = TempDir::new("sql-resume");
    let url = dburl("resume");
    let args: &[&[u8]] = &[b"-k", b"test -e ok{} && echo {}", b":::", b"1", b"2", b"3"];
    std::fs::write(d.path("ok1"), "").unwrap();
    std::fs::write(d.path("ok3"), "").unwrap();
    let first = distributed(&d.0, &url, args, b"", 1);
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    assert_eq!(stdout(&first), "1\n3\n");
    // `--sqlandworker URL FLAG ARGS`: its exit code and stdout.
    let resumed = |flag: &[u8]| {
        let mut a: Vec<&[u8]> = vec![b"--sqlandworker", url.as_bytes(), flag];
        a.extend_from_slice(args);
        let out = run_bytes_in(&d.0, &a, b"");
        eprintln!("{}", stderr(&out));
        (out.status.code(), stdout(&out))
    };
    // Nothing left to run: --resume prints nothing and keeps the earlier failure quiet.
    assert_eq!(resumed(b"--resume"), (Some(0), String::new()));
    // The failed job runs again, and only it.
    std::fs::write(d.path("ok2"), "").unwrap();
    assert_eq!(resumed(b"--resume-failed"), (Some(0), "2\n".to_owned()));
    // A worker that finds the batch finished exits at once, with nothing to run (as GNU
    // parallel's): a finished table runs again only with its master started first.
    let mut late = worker(&d.0, &url, "2");
    let status = wait_bounded(&mut late, BOUND);
    let late = late.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(0), "{}", stderr(&late));
    assert_eq!(stdout(&late), "");
    // Without --resume the table starts afresh: every job runs.
    let mut a: Vec<&[u8]> = vec![b"--sqlandworker", url.as_bytes()];
    a.extend_from_slice(args);
    let fresh = run_bytes_in(&d.0, &a, b"");
    assert_eq!(
        (fresh.status.code(), stdout(&fresh)),
        (Some(0), "1\n2\n3\n".to_owned())
    );
}

#[test]
fn a_dburl_that_is_not_postgresql_or_names_no_table_is_refused_before_anything_runs() {
    for (url, says) in [
        ("mysql://h/db/t", "PostgreSQL"),
        ("pg://127.0.0.1/db", "no table"),
        ("+pg://h/db/t", "appending"),
    ] {
        let out = run(&["--sqlmaster", url, "echo", ":::", "1"]);
        assert_eq!(out.status.code(), Some(255), "{url}");
        assert!(stderr(&out).contains(says), "{url}: {}", stderr(&out));
        assert_eq!(stdout(&out), "");
    }
    let out = run(&["--sqlworker", "pg://h/db/t", "echo"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(stderr(&out).contains("no command"), "{}", stderr(&out));
}

/// What job `n` of the big-output test prints: a non-UTF-8 head, then `size` bytes of lines.
fn big_job_output(n: u32, size: usize) -> Vec<u8> {
    let mut v = format!("job{n}").into_bytes();
    v.extend_from_slice(b"\xff\x00");
    let line = format!("line-{n}-{}\n", "x".repeat(40));
    v.extend(line.bytes().cycle().take(size));
    v
}

#[test]
fn big_outputs_go_through_the_database_byte_exact_in_bounded_memory_on_both_sides() {
    // 40 MiB a job, two jobs at once on the worker, -k on the master: holding an output whole
    // (as the outcome row did before blobs) needs more than 64 MiB on either side.
    let size = 40 * 1024 * 1024 * stress() as usize;
    let d = TempDir::new("sql-big");
    let url = dburl("big");
    let w = threadkit()
        .current_dir(&d.0)
        .args(["--sqlworker", &url, "-j2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let cmd = format!(
        "printf 'job{{}}\\377\\000'; yes 'line-{{}}-{}' | head -c {size}",
        "x".repeat(40)
    );
    let mut master = threadkit()
        .current_dir(&d.0)
        .args(["--sqlmaster", &url, "-k", &cmd, ":::", "1", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = master.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut v).unwrap();
        v
    });
    let (status, master_mib) = wait_peak_mib(master);
    let got = reader.join().unwrap();
    let (wstatus, worker_mib) = wait_peak_mib(w);
    assert!(status.success(), "master: {status}");
    assert!(wstatus.success(), "worker: {wstatus}");
    let mut want = big_job_output(1, size);
    want.extend(big_job_output(2, size));
    assert_eq!(got.len(), want.len());
    assert!(got == want, "the output differs");
    eprintln!(
        "2 jobs x {} MiB: master peak {master_mib:.1} MiB, worker {worker_mib:.1} MiB",
        size >> 20
    );
    assert!(master_mib <= 64.0, "master peak RSS {master_mib:.1} MiB");
    assert!(worker_mib <= 64.0, "worker peak RSS {worker_mib:.1} MiB");
}

#[test]
fn a_pgs_dburl_runs_over_tls_verified_with_pgsslrootcert_and_an_unknown_ca_is_refused() {
    let root = std::env::var("THREADKIT_PG_ROOT_CERT").unwrap_or_else(|_| {
        panic!(
            "THREADKIT_PG_ROOT_CERT is not set: this test needs the cluster from \
             eval \"$(scripts/postgres start)\", which serves TLS with a CA of its own"
        )
    });
    let d = TempDir::new("sql-tls");
    let url = dburl("tls").replacen("postgres://", "pgs://", 1);
    let args = ["-k", "echo {#} {}", ":::", "a", "b", "c"];
    let out = threadkit()
        .current_dir(&d.0)
        .env("PGSSLROOTCERT", &root)
        .arg("--sqlandworker")
        .arg(&url)
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "1 a\n2 b\n3 c\n");
    // Without the test CA the server's certificate is not trusted: refused, nothing runs.
    let out = threadkit()
        .current_dir(&d.0)
        .env_remove("PGSSLROOTCERT")
        .arg("--sqlandworker")
        .arg(dburl("tls_untrusted").replacen("postgres://", "pgs://", 1))
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert!(stderr(&out).contains("certificate"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}
