//! Distributed batches on a real PostgreSQL (`THREADKIT_PG_URL`; `eval "$(scripts/postgres
//! start)"` gives one) with real worker processes: this test binary re-executed as a worker or
//! a submitter (the `dist_child` test, a no-op unless `THREADKIT_DIST_ROLE` is set). Every
//! test uses a batch id of its own, so they run in parallel. A child says what it is doing
//! on its stdout (`READY`, `HOLDING n`, `SERVED ...`); the parent reads those lines and never
//! sleeps for synchronization: where it waits for the database to show something, it polls
//! with a bound.
#![cfg(feature = "postgres")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use threadkit::batch::dist::{DistError, Queue, Worker};
use threadkit::batch::{FailurePolicy, Report};

const ROLE: &str = "THREADKIT_DIST_ROLE";
const BATCH: &str = "THREADKIT_DIST_BATCH";
const JOBS: &str = "THREADKIT_DIST_JOBS";
const HOLD: &str = "THREADKIT_DIST_HOLD";
const GATE: &str = "THREADKIT_DIST_GATE";
const FAIL: &str = "THREADKIT_DIST_FAIL";
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
    let fails = std::env::var(FAIL).unwrap_or_default();
    if fails.split(',').any(|f| f.parse() == Ok(x)) {
        return Err(format!("bad input {x}"));
    }
    Ok(value(x))
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
        "worker" => {
            let lease = env_u64(LEASE_MS).map_or(LEASE, Duration::from_millis);
            let w = Worker::connect(&url).unwrap().workers(2).lease(lease);
            println!("READY");
            std::io::stdout().flush().unwrap();
            let s = w.serve(&batch, job).unwrap();
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

fn count(db: &mut postgres::Client, sql: &str, batch: &str) -> i64 {
    db.query_one(sql, &[&batch]).unwrap().get(0)
}

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
fn submit_in_thread(
    batch: &str,
    n: u64,
    policy: FailurePolicy,
) -> std::thread::JoinHandle<Result<Report<u64, u64, String>, DistError>> {
    let batch = batch.to_owned();
    std::thread::spawn(move || {
        Queue::connect(&pg_url())?
            .batch(&batch)
            .on_failure(policy)
            .progress(false)
            .run(0..n)
    })
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
    let batch = batch_id("sigkill");
    let submitter = submit_in_thread(&batch, n, FailurePolicy::CollectAll);
    // The victim starts alone, so it claims job 0 first, and holds it.
    let victim = Proc::worker(&batch, &[(HOLD, "0".into())]);
    victim.expect("HOLDING 0");
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
    let batch = batch_id("sigstop");
    let submitter = submit_in_thread(&batch, n, FailurePolicy::CollectAll);
    let mut victim = Proc::worker(&batch, &[(HOLD, "0".into())]);
    victim.expect("HOLDING 0");
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
