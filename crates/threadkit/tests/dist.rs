//! Distributed batches on a real PostgreSQL (`THREADKIT_PG_URL`; `eval "$(scripts/postgres
//! start)"` gives one) with real worker processes: this test binary re-executed as a worker or
//! a submitter (the `dist_child` test, a no-op unless `THREADKIT_DIST_ROLE` is set). Every
//! test uses a batch id of its own, so they run in parallel. A child says what it is doing
//! on its stdout (`READY`, `HOLDING n`, `SERVED ...`); the parent reads those lines and never
//! sleeps for synchronization: where it waits for the database to show something, it polls
//! with a bound.
//!
//! Built with the feature `pg-tests` (scripts/test turns it on and provides the database), so
//! that a plain `cargo test --workspace` on a machine without PostgreSQL passes.
#![cfg(feature = "pg-tests")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use threadkit::batch::dist::{Blob, DistError, Done, JobContext, Queue, Submit, Worker, CHUNK};
use threadkit::batch::{Cause, FailurePolicy, Report, Retry, StopReason};

const ROLE: &str = "THREADKIT_DIST_ROLE";
const BATCH: &str = "THREADKIT_DIST_BATCH";
const JOBS: &str = "THREADKIT_DIST_JOBS";
const HOLD: &str = "THREADKIT_DIST_HOLD";
const GATE: &str = "THREADKIT_DIST_GATE";
const FAIL: &str = "THREADKIT_DIST_FAIL";
const PANIC: &str = "THREADKIT_DIST_PANIC";
const LEASE_MS: &str = "THREADKIT_DIST_LEASE_MS";

/// The bound on any wait of a test (against a hang, never a timing assertion).
const BOUND: Duration = Duration::from_secs(240);

/// The lease the tests' workers use: short, so a lost job comes back soon.
const LEASE: Duration = Duration::from_millis(1500);

fn pg_url() -> String {
    std::env::var("THREADKIT_PG_URL").unwrap_or_else(|_| {
        panic!(
            "THREADKIT_PG_URL is not set: these tests need a PostgreSQL; start a throwaway one \
             with  eval \"$(scripts/postgres start)\"  (scripts/test does it for you)"
        )
    })
}

/// A batch id no other test (or earlier run) uses.
fn batch_id(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{test}-{}-{nanos}", std::process::id())
}

/// The value a job computes (checked by the tests).
fn value(x: u64) -> u64 {
    x * 2 + 1
}

/// The test function of every worker: `value(x)`; an error for the inputs listed in
/// `THREADKIT_DIST_FAIL`; for `THREADKIT_DIST_HOLD`, says `HOLDING x` and waits for a line on
/// stdin; for inputs from `THREADKIT_DIST_GATE`'s number on, waits for its file to exist.
fn job(x: &u64) -> Result<u64, String> {
    let x = *x;
    if env_u64(HOLD) == Some(x) {
        println!("HOLDING {x}");
        std::io::stdout().flush().unwrap();
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
    }
    if let Ok(gate) = std::env::var(GATE) {
        let (from, file) = gate.split_once(':').unwrap();
        if x >= from.parse::<u64>().unwrap() {
            wait_for(|| Path::new(file).exists(), "the gate file");
        }
    }
    if listed(FAIL, x) {
        return Err(format!("bad input {x}"));
    }
    if listed(PANIC, x) {
        panic!("cannot take {x}");
    }
    Ok(value(x))
}

/// Byte `i` of job `x`'s blob (not text: every byte value occurs).
fn blob_byte(x: u64, i: u64) -> u8 {
    (i.wrapping_mul(31).wrapping_add(x * 7) % 251) as u8
}

/// Job `x`'s blob length: over two chunks for the odd inputs, empty for 0.
fn blob_len(x: u64) -> u64 {
    if x % 2 == 1 {
        2 * CHUNK as u64 + 1000 * x
    } else {
        100 * x
    }
}

/// The blob workers' function: writes `blob_len(x)` bytes in pieces of 10,000 and returns the
/// blob.
fn blob_job(x: &u64, job: &JobContext) -> Result<Blob, String> {
    let mut w = job.blob("out");
    let mut piece = Vec::new();
    let mut i = 0;
    while i < blob_len(*x) {
        piece.clear();
        piece.extend((i..blob_len(*x).min(i + 10_000)).map(|k| blob_byte(*x, k)));
        w.write_all(&piece).map_err(|e| e.to_string())?;
        i += piece.len() as u64;
    }
    w.finish().map_err(|e| e.to_string())
}

/// Whether `x` is in the comma-separated list in env var `name`.
fn listed(name: &str, x: u64) -> bool {
    let list = std::env::var(name).unwrap_or_default();
    list.split(',').any(|f| f.parse() == Ok(x))
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Polls `cond` until it holds (at most [`BOUND`]).
fn wait_for(mut cond: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + BOUND;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Not a test of its own: the worker or submitter process the tests start (see the top).
#[test]
fn dist_child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let url = pg_url();
    let batch = std::env::var(BATCH).unwrap();
    match role.as_str() {
        "worker" | "blob-worker" => {
            let lease = env_u64(LEASE_MS).map_or(LEASE, Duration::from_millis);
            let w = Worker::connect(&url).unwrap().workers(2).lease(lease);
            println!("READY");
            std::io::stdout().flush().unwrap();
            let s = if role == "worker" {
                w.serve(&batch, job)
            } else {
                w.serve_with(&batch, blob_job)
            }
            .unwrap();
            println!(
                "SERVED {} {} {} {} {:?}",
                s.ran, s.recorded, s.fenced, s.retried, s.stopped
            );
        }
        "submit" => {
            let n = env_u64(JOBS).unwrap();
            let report: Report<u64, u64, String> = Queue::connect(&url)
                .unwrap()
                .batch(&batch)
                .progress(false)
                .run(0..n)
                .unwrap();
            println!("REPORT {}", report.len());
        }
        other => panic!("unknown role {other}"),
    }
}

/// A child process of this test binary and its stdout, line by line.
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    fn start(role: &str, batch: &str, env: &[(&str, String)]) -> Proc {
        let mut cmd = common::this_test("dist_child");
        cmd.env(ROLE, role)
            .env(BATCH, batch)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("cannot start the test binary again");
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc {
            child,
            stdin,
            lines,
        }
    }

    fn worker(batch: &str, env: &[(&str, String)]) -> Proc {
        let p = Proc::start("worker", batch, env);
        p.expect("READY");
        p
    }

    /// Waits for a line with `prefix`; the line from there.
    fn expect(&self, prefix: &str) -> String {
        let deadline = Instant::now() + BOUND;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                // The harness's `test dist_child ... ` may start the line.
                Ok(line) => match line.find(prefix) {
                    Some(at) => return line[at..].to_owned(),
                    None => continue,
                },
                Err(e) => panic!("no {prefix:?} line from the child: {e}"),
            }
        }
    }

    /// Waits for the worker's `SERVED` line and its exit: (ran, recorded, fenced, stopped).
    fn served(mut self) -> (u64, u64, u64, String) {
        let line = self.expect("SERVED");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the worker failed: {status}");
        let f: Vec<&str> = line.split_whitespace().collect();
        (
            f[1].parse().unwrap(),
            f[2].parse().unwrap(),
            f[3].parse().unwrap(),
            f[5].to_owned(),
        )
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the pid of a child we started and have not reaped.
        let r = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(r, 0, "kill({sig})");
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // A failed test leaves no process behind (one already reaped gives an error: fine).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain connection to look at the tables.
fn db() -> postgres::Client {
    postgres::Client::connect(&pg_url(), postgres::NoTls).expect("connect to THREADKIT_PG_URL")
}

/// The number `sql` (with `$1` = `batch`) returns.
fn count(db: &mut postgres::Client, sql: &str, batch: &str) -> i64 {
    db.query_one(sql, &[&batch]).unwrap().get(0)
}

/// Waits until `sql` (with `$1` = `batch`) returns at least `min`.
fn wait_count(sql: &str, batch: &str, min: i64) {
    let mut db = db();
    wait_for(|| count(&mut db, sql, batch) >= min, sql);
}

/// Jobs of a batch recorded as done.
const DONE: &str = "SELECT count(*) FROM tk_job WHERE batch = $1 AND state = 'done'";

/// Every job of `batch` has exactly one recorded outcome.
fn assert_recorded_once(batch: &str, n: u64) {
    let mut db = db();
    let jobs = count(
        &mut db,
        "SELECT count(*) FROM tk_job WHERE batch = $1",
        batch,
    );
    assert_eq!(jobs, n as i64, "jobs in the table");
    let bad = count(
        &mut db,
        "SELECT count(*) FROM tk_job WHERE batch = $1 AND (state <> 'done' OR recorded <> 1)",
        batch,
    );
    assert_eq!(bad, 0, "jobs not recorded exactly once");
}

/// A submitter on a thread of this process: its report when joined.
type Submitter = std::thread::JoinHandle<Result<Report<u64, u64, String>, DistError>>;

/// Every input has its one correct outcome.
fn assert_all_values(report: &Report<u64, u64, String>, n: u64) {
    assert_eq!(report.len() as u64, n, "{report}");
    assert!(report.is_success(), "{report}");
    assert_eq!(report.exit_code(), 0);
    for (i, v) in report.values().enumerate() {
        assert_eq!(*v, value(i as u64), "the value of input {i}");
    }
    assert_eq!(report.summary().total, n);
}

/// Submits `0..n` as `batch` on a thread of this process; the report when joined.
fn submit_in_thread(batch: &str, n: u64, policy: FailurePolicy) -> Submitter {
    submit_with(&pg_url(), batch, n, policy, Retry::new(0))
}

/// Submits `0..n` as `batch` to the database at `url` on a thread of this process.
fn submit_with(url: &str, batch: &str, n: u64, policy: FailurePolicy, retry: Retry) -> Submitter {
    submit_inputs(url, batch, 0..n, move |s| s.on_failure(policy).retry(retry))
}

/// Submits `inputs` as `batch` to the database at `url`, with the settings `set` gives, on a
/// thread of this process.
fn submit_inputs(
    url: &str,
    batch: &str,
    inputs: std::ops::Range<u64>,
    set: impl for<'q> FnOnce(Submit<'q>) -> Submit<'q> + Send + 'static,
) -> Submitter {
    let (url, batch) = (url.to_owned(), batch.to_owned());
    std::thread::spawn(move || {
        let queue = Queue::connect(&url)?;
        set(queue.batch(&batch).progress(false)).run(inputs)
    })
}

/// A gate for the jobs from `from` on: the env pair for the workers, and the file that
/// opens it.
fn gate(test: &str, from: u64) -> ((&'static str, String), PathBuf) {
    let file = std::env::temp_dir().join(format!("{}.gate", batch_id(test)));
    ((GATE, format!("{from}:{}", file.display())), file)
}

fn open(gate: &Path) {
    std::fs::write(gate, b"open").unwrap();
}

/// A batch of `0..n` being submitted on a thread, and a worker process holding its job 0
/// (started alone, so it claims job 0 first; with `env` besides): the batch id, the
/// submitter, the worker.
fn worker_holding_job_0(
    test: &str,
    n: u64,
    policy: FailurePolicy,
    env: &[(&str, String)],
) -> (String, Submitter, Proc) {
    let batch = batch_id(test);
    let submitter = submit_in_thread(&batch, n, policy);
    let mut env = env.to_vec();
    env.push((HOLD, "0".into()));
    let holder = Proc::worker(&batch, &env);
    holder.expect("HOLDING 0");
    (batch, submitter, holder)
}

#[test]
fn three_worker_processes_ten_thousand_jobs_each_one_outcome() {
    let n = env_u64(JOBS).unwrap_or(10_000) * common::stress::<u64>();
    let batch = batch_id("three_workers");
    let workers: Vec<Proc> = (0..3).map(|_| Proc::worker(&batch, &[])).collect();
    let started = Instant::now();
    let report = submit_in_thread(&batch, n, FailurePolicy::CollectAll)
        .join()
        .unwrap()
        .unwrap();
    let took = started.elapsed();
    assert_all_values(&report, n);
    let served: Vec<_> = workers.into_iter().map(Proc::served).collect();
    let recorded: u64 = served.iter().map(|s| s.1).sum();
    assert_eq!(recorded, n, "recorded by the workers: {served:?}");
    assert!(
        served.iter().all(|s| s.2 == 0),
        "nothing fenced: {served:?}"
    );
    assert_recorded_once(&batch, n);
    eprintln!(
        "{n} jobs, 3 worker processes: {took:.2?} ({:.0} jobs/s); per worker (ran, recorded, fenced): {:?}",
        n as f64 / took.as_secs_f64(),
        served.iter().map(|s| (s.0, s.1, s.2)).collect::<Vec<_>>()
    );
}

#[test]
fn a_sigkilled_worker_s_job_is_claimed_by_another_after_its_lease_and_recorded_once() {
    let n = 200;
    let (batch, submitter, victim) =
        worker_holding_job_0("sigkill", n, FailurePolicy::CollectAll, &[]);
    let others: Vec<Proc> = (0..2).map(|_| Proc::worker(&batch, &[])).collect();
    victim.kill();
    let report = submitter.join().unwrap().unwrap();
    assert_all_values(&report, n);
    assert_recorded_once(&batch, n);
    let mut db = db();
    let attempts: i32 = db
        .query_one(
            "SELECT attempt FROM tk_job WHERE batch = $1 AND seq = 0",
            &[&batch],
        )
        .unwrap()
        .get(0);
    assert!(
        attempts >= 2,
        "job 0 ran again elsewhere: attempts {attempts}"
    );
    for w in others {
        let (_, _, fenced, _) = w.served();
        assert_eq!(fenced, 0);
    }
}

#[test]
fn a_worker_stopped_past_its_lease_is_fenced_off_when_it_comes_back() {
    let n = 200;
    let (batch, submitter, mut victim) =
        worker_holding_job_0("sigstop", n, FailurePolicy::CollectAll, &[]);
    victim.signal(libc::SIGSTOP);
    let others: Vec<Proc> = (0..2).map(|_| Proc::worker(&batch, &[])).collect();
    // Another worker takes job 0 once the victim's lease ran out, and records it.
    let mut db = db();
    wait_for(
        || {
            count(
                &mut db,
                "SELECT count(*) FROM tk_job WHERE batch = $1 AND seq = 0 AND state = 'done'",
                &batch,
            ) == 1
        },
        "job 0 recorded by another worker",
    );
    // The victim comes back and finishes job 0: too late.
    victim.signal(libc::SIGCONT);
    writeln!(victim.stdin.take().unwrap(), "go").unwrap();
    let report = submitter.join().unwrap().unwrap();
    assert_all_values(&report, n);
    let (_, _, fenced, _) = victim.served();
    assert!(fenced >= 1, "the late result of job 0 was fenced off");
    for w in others {
        w.served();
    }
    assert_recorded_once(&batch, n);
    let fenced_in_db = count(&mut db, "SELECT fenced FROM tk_batch WHERE id = $1", &batch);
    assert!(fenced_in_db >= 1);
}

#[test]
fn a_worker_started_before_the_submitter_waits_for_the_batch() {
    let batch = batch_id("early_worker");
    // READY comes before serve: the batch does not exist yet.
    let worker = Proc::worker(&batch, &[]);
    let mut db = db();
    assert_eq!(
        count(
            &mut db,
            "SELECT count(*) FROM tk_batch WHERE id = $1",
            &batch
        ),
        0
    );
    let report = submit_in_thread(&batch, 50, FailurePolicy::CollectAll)
        .join()
        .unwrap()
        .unwrap();
    assert_all_values(&report, 50);
    let (ran, recorded, fenced, stopped) = worker.served();
    assert_eq!(
        (ran, recorded, fenced, stopped.as_str()),
        (50, 50, 0, "None")
    );
}

#[test]
fn errors_and_panics_are_failures_tied_to_their_inputs_and_retried_through_the_queue() {
    let batch = batch_id("failures");
    let worker = Proc::worker(&batch, &[(FAIL, "7".into()), (PANIC, "9".into())]);
    let report = submit_with(
        &pg_url(),
        &batch,
        20,
        FailurePolicy::CollectAll,
        Retry::new(2),
    )
    .join()
    .unwrap()
    .unwrap();
    assert_eq!(report.len(), 20);
    let failures: Vec<_> = report
        .failures()
        .map(|f| {
            (
                f.index,
                f.input.value().copied(),
                f.cause.kind(),
                f.attempts,
            )
        })
        .collect();
    assert_eq!(
        failures,
        [(7, Some(7), "error", 3), (9, Some(9), "panic", 3)],
        "{report}"
    );
    let f7 = report.failures().next().unwrap();
    assert_eq!(f7.cause, Cause::Error("bad input 7".to_string()));
    assert!(report
        .failures()
        .nth(1)
        .unwrap()
        .cause
        .to_string()
        .contains("cannot take 9"));
    assert_eq!((report.summary().retries, report.exit_code()), (4, 1));
    let (ran, recorded, _, _) = worker.served();
    assert_eq!((ran, recorded), (24, 20), "18 + 2 x 3 attempts");
    assert_recorded_once(&batch, 20);
}

#[test]
fn halt_fail_1_stops_every_worker_and_reports_the_rest_not_started() {
    let n = 300;
    let batch = batch_id("halt");
    // Jobs from 60 on wait until the batch is halting: the halt cannot come too late.
    let (gate_env, gate_file) = gate("halt", 60);
    let env = [(FAIL, "50".to_string()), gate_env];
    let workers: Vec<Proc> = (0..2).map(|_| Proc::worker(&batch, &env)).collect();
    let submitter = submit_in_thread(&batch, n, "soon,fail=1".parse().unwrap());
    wait_count(
        "SELECT count(*) FROM tk_batch WHERE id = $1 AND state = 'halting'",
        &batch,
        1,
    );
    open(&gate_file);
    let report = submitter.join().unwrap().unwrap();
    let s = report.summary().clone();
    assert_eq!(report.len() as u64, n);
    assert_eq!(s.stopped, Some(StopReason::Halted), "{report}");
    assert_eq!(report.exit_code(), 2);
    assert_eq!(s.errors, 1);
    assert_eq!(report.failures().next().unwrap().index, 50);
    // What ran past job 60 is what the workers held when they learned of the halt: at most
    // each one's room, 2 slots and a prefetch of up to 16 a slot (short jobs).
    assert!(s.not_started >= n - 60 - 2 * (2 + 2 * 16), "{report}");
    assert_eq!(s.succeeded + s.errors + s.not_started + s.cancelled, n);
    for w in workers {
        assert_eq!(w.served().3, "Some(Halted)");
    }
    let mut db = db();
    let twice = count(
        &mut db,
        "SELECT count(*) FROM tk_job WHERE batch = $1 AND recorded > 1",
        &batch,
    );
    assert_eq!(twice, 0);
    let _ = std::fs::remove_file(gate_file);
}

#[test]
fn cancel_from_the_submitter_side_reaches_every_worker() {
    let n = 100;
    let batch = batch_id("cancel");
    let (gate_env, gate_file) = gate("cancel", 10);
    let workers: Vec<Proc> = (0..2)
        .map(|_| Proc::worker(&batch, std::slice::from_ref(&gate_env)))
        .collect();
    let submitter = submit_in_thread(&batch, n, FailurePolicy::CollectAll);
    wait_count(DONE, &batch, 10);
    let queue = Queue::connect(&pg_url()).unwrap();
    assert!(queue.cancel(&batch).unwrap(), "the batch was running");
    open(&gate_file);
    let report = submitter.join().unwrap().unwrap();
    assert_eq!(report.len() as u64, n);
    assert_eq!(report.summary().stopped, Some(StopReason::Cancelled));
    assert_eq!(report.exit_code(), 3);
    assert!(report.summary().not_started > 0, "{report}");
    for w in workers {
        assert_eq!(w.served().3, "Some(Cancelled)");
    }
    assert!(!queue.cancel(&batch).unwrap(), "cancelled already");
    assert!(matches!(
        queue.cancel("no-such-batch-anywhere"),
        Err(DistError::UnknownBatch { .. })
    ));
    let _ = std::fs::remove_file(gate_file);
}

#[test]
fn the_same_batch_id_with_other_inputs_is_a_typed_error() {
    let batch = batch_id("mismatch");
    let worker = Proc::worker(&batch, &[]);
    let report = submit_in_thread(&batch, 5, FailurePolicy::CollectAll)
        .join()
        .unwrap()
        .unwrap();
    assert_all_values(&report, 5);
    let queue = Queue::connect(&pg_url()).unwrap();
    let again: Report<u64, u64, String> = queue.batch(&batch).progress(false).run(0..5u64).unwrap();
    assert_all_values(&again, 5);
    let e = queue
        .batch(&batch)
        .progress(false)
        .run::<u64, u64, String>(0..6u64)
        .unwrap_err();
    assert!(matches!(e, DistError::Mismatch { .. }), "{e}");
    assert!(e.to_string().contains("different inputs"), "{e}");
    worker.served();
}

#[test]
fn a_killed_submitter_run_again_resumes_following_the_same_batch() {
    let n = 100;
    let batch = batch_id("resume");
    let (gate_env, gate_file) = gate("resume", 50);
    let worker = Proc::worker(&batch, &[gate_env]);
    let submitter = Proc::start("submit", &batch, &[(JOBS, n.to_string())]);
    wait_count(DONE, &batch, 50);
    submitter.kill();
    open(&gate_file);
    let report: Report<u64, u64, String> = Queue::connect(&pg_url())
        .unwrap()
        .batch(&batch)
        .progress(false)
        .run(0..n)
        .unwrap();
    assert_all_values(&report, n);
    assert_recorded_once(&batch, n);
    worker.served();
    let _ = std::fs::remove_file(gate_file);
}

#[test]
fn a_postgres_restart_mid_run_loses_nothing_and_records_nothing_twice() {
    // A cluster of its own: a restart cuts every connection, and the other tests share theirs.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/postgres");
    let out = Command::new(script).arg("start").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let var = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .unwrap()
            .to_owned()
    };
    let (url, dir) = (var("THREADKIT_PG_URL"), var("THREADKIT_PG_DIR"));
    struct Stop<'a>(&'a str, &'a str);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = Command::new(self.0).args(["stop", self.1]).status();
        }
    }
    let _stop = Stop(script, &dir);

    let n = 2_000;
    let batch = batch_id("restart");
    let (gate_env, gate_file) = gate("restart", n / 2);
    let env = [gate_env, ("THREADKIT_PG_URL", url.clone())];
    let workers: Vec<Proc> = (0..3).map(|_| Proc::worker(&batch, &env)).collect();
    let submitter = submit_with(&url, &batch, n, FailurePolicy::CollectAll, Retry::new(0));
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    wait_for(
        || count(&mut db, DONE, &batch) >= (n / 2) as i64,
        "half the jobs done",
    );
    drop(db);
    let st = Command::new(script)
        .args(["restart", &dir])
        .status()
        .unwrap();
    assert!(st.success());
    open(&gate_file);
    let report = submitter.join().unwrap().unwrap();
    assert_all_values(&report, n);
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let bad = count(
        &mut db,
        "SELECT count(*) FROM tk_job WHERE batch = $1 AND (state <> 'done' OR recorded <> 1)",
        &batch,
    );
    assert_eq!(bad, 0, "jobs not recorded exactly once");
    let recorded: u64 = workers.into_iter().map(|w| w.served().1).sum();
    assert_eq!(recorded, n);
    let _ = std::fs::remove_file(gate_file);
}

#[test]
fn an_empty_batch_is_done_at_once() {
    let batch = batch_id("empty");
    let queue = Queue::connect(&pg_url()).unwrap();
    let report: Report<u64, u64, String> =
        queue.batch(&batch).progress(false).run(Vec::new()).unwrap();
    assert!(report.is_empty());
    assert_eq!(report.exit_code(), 0);
}

#[test]
fn heartbeats_keep_a_job_longer_than_its_lease() {
    let n = 20;
    let (batch, submitter, mut holder) =
        worker_holding_job_0("heartbeat", n, FailurePolicy::CollectAll, &[]);
    // Another worker would take job 0 if its lease ran out.
    let other = Proc::worker(&batch, &[]);
    let mut db = db();
    let lease_end = |db: &mut postgres::Client| -> f64 {
        db.query_one(
            "SELECT extract(epoch FROM locked_until)::float8 FROM tk_job WHERE batch = $1 AND seq = 0",
            &[&batch],
        )
        .unwrap()
        .get(0)
    };
    let first = lease_end(&mut db);
    // Renewed until more than two leases after the first one ran out: it was kept that long.
    wait_for(
        || lease_end(&mut db) > first + 2.0 * LEASE.as_secs_f64(),
        "the lease of job 0 renewed past two more leases",
    );
    let attempt: i32 = db
        .query_one(
            "SELECT attempt FROM tk_job WHERE batch = $1 AND seq = 0",
            &[&batch],
        )
        .unwrap()
        .get(0);
    assert_eq!(attempt, 1, "job 0 was not taken from its worker");
    writeln!(holder.stdin.take().unwrap(), "go").unwrap();
    let report = submitter.join().unwrap().unwrap();
    assert_all_values(&report, n);
    assert_eq!(holder.served().2, 0, "nothing fenced");
    other.served();
    assert_recorded_once(&batch, n);
}

#[test]
fn halt_now_reports_the_running_jobs_cancelled_without_waiting_for_them() {
    let n = 100;
    let fail = [(FAIL, "5".to_string())];
    let (batch, submitter, mut holder) =
        worker_holding_job_0("halt_now", n, "now,fail=1".parse().unwrap(), &fail);
    // Job 0 runs (held) while job 5 fails, on either worker.
    let other = Proc::worker(&batch, &fail);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(submitter.join().unwrap());
    });
    let report = rx
        .recv_timeout(BOUND)
        .expect("the submitter returned while job 0 was still running")
        .unwrap();
    writeln!(holder.stdin.take().unwrap(), "go").unwrap();
    let s = report.summary().clone();
    assert_eq!(report.len() as u64, n);
    assert_eq!(
        (s.stopped, report.exit_code()),
        (Some(StopReason::Halted), 2)
    );
    assert_eq!(s.errors, 1, "{report}");
    let first = report.failures().next().unwrap();
    assert_eq!(
        (first.index, &first.cause),
        (0, &Cause::Cancelled),
        "{report}"
    );
    assert_eq!(s.succeeded + s.errors + s.not_started + s.cancelled, n);
    assert_eq!(holder.served().3, "Some(Halted)");
    assert_eq!(other.served().3, "Some(Halted)");
}

/// `THREADKIT_PG_URL` with its own schema first in the search path (created here): a
/// database of its own, as far as threadkit's tables go.
fn url_with_schema(schema: &str) -> String {
    db().batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    let url = pg_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-csearch_path%3D{schema}")
}

#[test]
fn processes_starting_at_once_migrate_the_schema_once() {
    let schema = batch_id("mig").replace('-', "_");
    let url = url_with_schema(&schema);
    let meeting = std::sync::Arc::new(common::Rendezvous::new(8));
    let starts: Vec<_> = (0..8)
        .map(|_| {
            let (url, meeting) = (url.clone(), meeting.clone());
            std::thread::spawn(move || {
                assert!(meeting.wait(BOUND));
                Queue::connect(&url).map(drop)
            })
        })
        .collect();
    for s in starts {
        s.join().unwrap().unwrap();
    }
    let mut db = db();
    let versions: Vec<i32> = db
        .query(
            &format!("SELECT version FROM {schema}.tk_schema_version"),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, [1, 2, 3]);
    // A schema from a newer threadkit is refused, not written.
    db.execute(
        &format!("INSERT INTO {schema}.tk_schema_version VALUES (99)"),
        &[],
    )
    .unwrap();
    let e = Queue::connect(&url).unwrap_err();
    assert!(
        matches!(
            e,
            DistError::Schema {
                found: 99,
                supported: 3
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("upgrade threadkit"), "{e}");
}

#[test]
fn without_threadkit_pg_url_the_tests_fail_saying_how_to_start_a_database() {
    if std::env::var_os(ROLE).is_some() {
        return;
    }
    let out = common::output_within(
        common::this_test("an_empty_batch_is_done_at_once").env_remove("THREADKIT_PG_URL"),
        BOUND,
    )
    .expect("the test binary ended");
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(r#"eval "$(scripts/postgres start)""#),
        "{text}"
    );
}

#[test]
fn a_job_past_the_batch_timeout_is_a_timeout_failure() {
    let batch = batch_id("timeout");
    let submitter = submit_inputs(&pg_url(), &batch, 0..5, |s| {
        s.timeout(Duration::from_millis(300))
    });
    // Alone, the worker claims job 0 first; it holds it until told to go: past the timeout.
    let worker = Proc::worker(&batch, &[(HOLD, "0".into())]);
    worker.expect("HOLDING 0");
    let report = submitter.join().unwrap().unwrap();
    let failures: Vec<_> = report
        .failures()
        .map(|f| (f.index, f.cause.clone()))
        .collect();
    assert_eq!(
        failures,
        [(
            0,
            Cause::Timeout {
                after: Duration::from_millis(300)
            }
        )],
        "{report}"
    );
    assert_eq!(report.values().copied().collect::<Vec<_>>(), [3, 5, 7, 9]);
    worker.served();
}

#[test]
fn a_worker_of_another_input_type_gives_the_job_back_with_a_typed_error() {
    let batch = batch_id("wrong_type");
    let submitter = submit_inputs(&pg_url(), &batch, 1..4, |s| s);
    // Strings, where the batch has u64s: postcard reads 1's varint as the length of a string
    // whose byte is not there. (Postcard is not self-describing: 0 would read as "", so a
    // type mismatch is caught only when the bytes do not decode; docs/distributed.md says so.)
    let wrong = Worker::connect(&pg_url())
        .unwrap()
        .workers(1)
        .prefetch(0)
        .serve(&batch, |s: &String| -> Result<usize, String> {
            Ok(s.len())
        });
    assert!(
        matches!(wrong, Err(DistError::Decode { seq: 0, .. })),
        "{wrong:?}"
    );
    let right = Worker::connect(&pg_url())
        .unwrap()
        .workers(1)
        .serve(&batch, job)
        .unwrap();
    let report = submitter.join().unwrap().unwrap();
    assert_eq!(report.values().copied().collect::<Vec<_>>(), [3, 5, 7]);
    assert_recorded_once(&batch, 3);
    assert_eq!(right.recorded, 3);
    let mut db = db();
    let attempts = count(
        &mut db,
        "SELECT attempt::bigint FROM tk_job WHERE batch = $1 AND seq = 0",
        &batch,
    );
    assert_eq!(
        attempts, 1,
        "the given-back claim did not count as an attempt"
    );
}

#[test]
fn a_percent_halt_counts_the_failures_of_every_worker() {
    let n = 400;
    let batch = batch_id("halt_percent");
    // Every job fails: 25% of the batch's 400 jobs (of the total, known, as GNU parallel and a
    // local run judge it) is met at the 100th failure, whichever worker records it.
    let all: Vec<String> = (0..n).map(|x| x.to_string()).collect();
    let env = [(FAIL, all.join(","))];
    let workers: Vec<Proc> = (0..2).map(|_| Proc::worker(&batch, &env)).collect();
    let report = submit_in_thread(&batch, n, "soon,fail=25%".parse().unwrap())
        .join()
        .unwrap()
        .unwrap();
    let s = report.summary().clone();
    assert_eq!(report.len() as u64, n);
    assert_eq!(
        (s.stopped, report.exit_code()),
        (Some(StopReason::Halted), 2)
    );
    assert!(s.errors >= 100, "{report}");
    // At most what the two workers held when the 100th failure was recorded ran on.
    assert!(s.not_started >= n / 2, "{report}");
    assert_eq!(s.errors + s.not_started + s.cancelled, n);
    for w in workers {
        assert_eq!(w.served().3, "Some(Halted)");
    }
}

#[test]
fn blobs_of_several_chunks_come_back_byte_exact_and_a_deleted_batch_s_are_an_error() {
    let batch = batch_id("blob");
    let n = 6u64;
    let workers: Vec<Proc> = (0..2)
        .map(|_| Proc::start("blob-worker", &batch, &[]))
        .collect();
    for w in &workers {
        w.expect("READY");
    }
    let queue = Queue::connect(&pg_url()).unwrap();
    let mut blobs = Vec::new();
    let stopped = queue
        .batch(&batch)
        .progress(false)
        .run_each(0..n, |d: Done<Blob, String>| {
            let blob = d.result.expect("a blob");
            // Read from inside the callback, while the batch is followed.
            let mut got = Vec::new();
            let len = queue
                .read_blob(&batch, &blob, &mut |b| {
                    assert!(b.len() <= CHUNK, "a piece of {} bytes", b.len());
                    got.extend_from_slice(b);
                    Ok(())
                })
                .unwrap();
            assert_eq!(len, blob_len(d.seq));
            assert_eq!(blob.len(), blob_len(d.seq));
            assert!(
                got.iter()
                    .enumerate()
                    .all(|(i, &b)| b == blob_byte(d.seq, i as u64)),
                "job {}'s bytes differ",
                d.seq
            );
            blobs.push(blob);
        })
        .unwrap();
    assert_eq!(stopped, None);
    assert_eq!(blobs.len() as u64, n);
    for w in workers {
        w.served();
    }
    // A consumer's error is the caller's, typed.
    let big = blobs.iter().find(|b| b.len() > CHUNK as u64).unwrap();
    let e = queue
        .read_blob(&batch, big, &mut |_| {
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
    assert!(
        matches!(e, DistError::Write { .. }) && e.to_string().contains("disk full"),
        "{e}"
    );
    // The chunks go with the batch.
    assert!(queue.forget(&batch).unwrap());
    let e = queue.read_blob(&batch, big, &mut |_| Ok(())).unwrap_err();
    assert!(
        matches!(e, DistError::Decode { .. }) && e.to_string().contains("missing"),
        "{e}"
    );
    assert_eq!(
        count(
            &mut db(),
            "SELECT count(*) FROM tk_blob WHERE batch = $1",
            &batch
        ),
        0
    );
}

#[test]
fn claimed_jobs_that_turn_out_long_are_given_back_unstarted() {
    // 40 instant jobs make the default prefetch claim far ahead (16 for the one slot), and
    // while job 40 runs the worker fills its room again. Jobs from 40 on take 250 ms each
    // (the workload, not a synchronization), so the moving mean rises with the first of them
    // and the worker gives back what it holds past twice its new room. Every job still ends
    // with one outcome, a given-back job's attempt not counted.
    let n = 52u64;
    let batch = batch_id("giveback");
    let url = pg_url();
    let b = batch.clone();
    let worker = std::thread::spawn(move || {
        Worker::connect(&url)
            .unwrap()
            .workers(1)
            .serve(&b, |x: &u64| -> Result<u64, String> {
                if *x >= 40 {
                    std::thread::sleep(Duration::from_millis(250));
                }
                Ok(value(*x))
            })
            .unwrap()
    });
    let report: Report<u64, u64, String> = Queue::connect(&pg_url())
        .unwrap()
        .batch(&batch)
        .progress(false)
        .run(0..n)
        .unwrap();
    let served = worker.join().unwrap();
    assert_all_values(&report, n);
    assert!(served.released > 0, "nothing was given back: {served:?}");
    assert_eq!(served.recorded, n, "{served:?}");
    assert_eq!(report.summary().retries, 0, "{report}");
}

/// The throwaway cluster's CA (`scripts/postgres start` makes one and serves TLS with it).
fn root_cert() -> String {
    std::env::var("THREADKIT_PG_ROOT_CERT").unwrap_or_else(|_| {
        panic!(
            "THREADKIT_PG_ROOT_CERT is not set: the TLS test needs the cluster from \
             eval \"$(scripts/postgres start)\", which serves TLS with a CA of its own"
        )
    })
}

/// `THREADKIT_PG_URL` with `params` added to its query.
fn url_with(params: &str) -> String {
    let url = pg_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{params}")
}

#[test]
fn sslmode_require_runs_a_batch_over_verified_tls_and_refuses_an_unknown_ca() {
    let url = url_with(&format!("sslmode=verify-full&sslrootcert={}", root_cert()));
    let batch = batch_id("tls");
    let (u, b) = (url.clone(), batch.clone());
    let worker = std::thread::spawn(move || {
        Worker::connect(&u)
            .unwrap()
            .workers(2)
            .name("tls-worker")
            .serve(&b, job)
            .unwrap()
    });
    let queue = Queue::connect(&url).unwrap();
    let report: Report<u64, u64, String> = queue.batch(&batch).progress(false).run(0..50).unwrap();
    assert_all_values(&report, 50);
    assert_eq!(worker.join().unwrap().recorded, 50);
    // The server saw this process's connections encrypted (pg_stat_ssl, from a plain one).
    let encrypted = db()
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = 'threadkit' AND s.ssl",
            &[],
        )
        .unwrap()
        .get::<_, i64>(0);
    assert!(encrypted >= 1, "no TLS connection of ours on the server");
    // The certificate is verified: the system's roots do not know the test CA.
    let e = Queue::connect(&url_with("sslmode=require")).unwrap_err();
    assert!(matches!(e, DistError::Connect { .. }), "{e}");
    assert!(e.to_string().contains("certificate"), "{e}");
    // A root file that does not exist is a clear error, before any connection.
    let e =
        Queue::connect(&url_with("sslmode=require&sslrootcert=/nonexistent/ca.crt")).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/ca.crt"), "{e}");
}

#[test]
fn a_job_queued_again_and_recorded_before_its_submitter_looks_is_not_earlier() {
    // A resume: job 1 failed, the batch is reopened with its failures, and a worker runs job
    // 1 again before the submitter follows the batch. Only jobs 0 and 2 finished in the
    // earlier run; job 1's new outcome is this run's (the command prints it).
    let batch = batch_id("reopen_race");
    let failing = Proc::worker(&batch, &[(FAIL, "1".to_string())]);
    let first = submit_in_thread(&batch, 3, FailurePolicy::CollectAll)
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(first.summary().errors, 1, "{first}");
    failing.served();
    let queue = Queue::connect(&pg_url()).unwrap();
    assert_eq!(queue.reopen(&batch, true).unwrap(), 1);
    let worker = Proc::worker(&batch, &[]);
    wait_count(DONE, &batch, 3);
    let mut seen = Vec::new();
    queue
        .batch(&batch)
        .progress(false)
        .run_each(0..3u64, |d: Done<u64, String>| {
            seen.push((d.seq, d.earlier, d.result.ok()))
        })
        .unwrap();
    seen.sort();
    assert_eq!(
        seen,
        [
            (0, true, Some(value(0))),
            (1, false, Some(value(1))),
            (2, true, Some(value(2)))
        ]
    );
    worker.served();
}
