//! GNU parallel's SQL mode on a real PostgreSQL (`THREADKIT_PG_URL`; `eval "$(scripts/postgres
//! start)"` gives one): `--sqlmaster` with `--sqlworker` processes, and `--sqlandworker`,
//! compared with a local run of the same command line (differential): the same stdout (with
//! `-k`, the same bytes), the same joblog but for times and host, the same exit code. Every
//! test uses a table (batch) of its own, so they run in parallel. Workers may start before
//! the master: they wait for the table's batch to appear, so nothing here waits on timing.

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

/// A `--sqlworker` process on `url`, `-j jobs`.
fn worker(url: &str, jobs: &str) -> Child {
    threadkit()
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

/// `threadkit --sqlmaster URL ARGS` in `dir` with `stdin`, and `workers` worker processes.
fn distributed(dir: &Path, url: &str, args: &[&[u8]], stdin: &[u8], workers: usize) -> Output {
    let ws: Vec<Child> = (0..workers).map(|_| worker(url, "2")).collect();
    let mut full: Vec<&[u8]> = vec![b"--sqlmaster", url.as_bytes()];
    full.extend_from_slice(args);
    let out = run_bytes_in(dir, &full, stdin);
    ws.into_iter().for_each(finish);
    out
}

/// A joblog's records without the times, the host and the header, by sequence number:
/// Seq, Send, Receive, Exitval, Signal, Command (a command may hold newlines: a line that
/// does not start a record continues the one before).
fn joblog(p: &Path) -> Vec<String> {
    let text = std::fs::read(p).unwrap();
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
    let dist = distributed(&d.0, &dburl(test), &dist_args, stdin, 2);
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
