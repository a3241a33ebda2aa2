#![cfg(not(loom))]
//! The batch runner's threads: runs reuse the worker threads earlier runs left idle, runs at
//! the same time each get all their workers, and a thread stuck in an abandoned call stays
//! out of later runs until the call returns.

mod common;

use common::{stress, Gate};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use threadkit::batch::{Batch, Cause};
use threadkit::sync::Barrier;

const LONG: Duration = Duration::from_secs(30);

/// Runs `workers` items that all wait for each other (so each runs on a thread of its own,
/// all at once) and returns the threads' idents and names. The timeout makes the run tracked:
/// every item runs on a pool thread, none on the caller's.
fn run_all_at_once(workers: usize, barrier: Arc<Barrier>) -> Vec<(u64, String)> {
    run_all_at_once_holding(workers, barrier, ())
}

/// [`run_all_at_once`] with a task that holds `held`: it is dropped with the task, once the
/// run is over and every worker loop of the run has returned.
fn run_all_at_once_holding(
    workers: usize,
    barrier: Arc<Barrier>,
    held: impl Send + Sync + 'static,
) -> Vec<(u64, String)> {
    let report = Batch::new(move |_: &usize| {
        let _ = &held;
        barrier.wait_timeout(LONG).map_err(|e| e.to_string())?;
        let me = threadkit::thread::current();
        Ok::<_, String>((me.ident(), me.name().to_owned()))
    })
    .workers(workers)
    .timeout(LONG)
    .progress(false)
    .run(0..workers)
    .unwrap();
    assert_eq!(report.summary().succeeded, workers as u64, "{report}");
    report.values().cloned().collect()
}

#[test]
fn runs_reuse_the_threads_earlier_runs_left_idle() {
    // It counts the threads of the process-wide batch pool: no other test may use the pool
    // meanwhile (under plain `cargo test` the tests of this file share a process).
    if !common::alone("runs_reuse_the_threads_earlier_runs_left_idle") {
        return;
    }
    let workers = 6;
    let runs = 10 * stress::<usize>();
    let mut seen = HashSet::new();
    for _ in 0..runs {
        let (held, task_dropped) = crossbeam_channel::bounded::<()>(0);
        let barrier = Arc::new(Barrier::new(workers).unwrap());
        let threads = run_all_at_once_holding(workers, barrier, held);
        let idents: HashSet<u64> = threads.iter().map(|(id, _)| *id).collect();
        assert_eq!(idents.len(), workers, "one thread per item: {threads:?}");
        for (_, name) in &threads {
            assert!(name.starts_with("batch_"), "{name}");
        }
        seen.extend(idents);
        // `run` returns once it has every outcome; its worker loops return a little later,
        // when they see the work channel closed. Wait for that (the last loop to return drops
        // the task), so that the next run starts after every loop of this one has ended.
        assert_eq!(
            task_dropped.recv_timeout(LONG),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected),
            "the run's worker loops did not return"
        );
    }
    // A pool per run would start `runs * workers` threads. The shared pool starts a thread
    // only for a worker loop that finds none idle. When a run starts, every thread of the
    // pool is idle but at most the previous run's `workers`, which have returned from their
    // loops and are taking their last steps back to the idle state (the threads of the runs
    // before had a whole run, `workers` threads meeting at a barrier, to take those steps).
    // So a run finds at least `threads - workers` idle and starts at most `2 * workers -
    // threads`: never more than `2 * workers` in all, whatever the number of runs.
    assert!(
        seen.len() <= 2 * workers,
        "{} threads for {runs} runs of {workers}",
        seen.len()
    );
}

#[test]
fn runs_at_the_same_time_each_get_all_their_workers() {
    // Every item of both runs waits for every other: a run short of a worker would hang
    // (and fail at the barrier's timeout).
    let workers = 5;
    let barrier = Arc::new(Barrier::new(2 * workers).unwrap());
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let b = barrier.clone();
            std::thread::spawn(move || run_all_at_once(workers, b))
        })
        .collect();
    let mut idents = HashSet::new();
    for r in runs {
        idents.extend(r.join().unwrap().into_iter().map(|(id, _)| id));
    }
    assert_eq!(idents.len(), 2 * workers);
}

#[test]
fn a_thread_stuck_in_an_abandoned_call_stays_out_until_the_call_returns() {
    let gate = Arc::new(Gate::default());
    let (stuck_tx, stuck_rx) = crossbeam_channel::bounded(1);
    let g = gate.clone();
    let report = Batch::new(move |i: &u32| {
        if *i == 0 {
            stuck_tx.send(threadkit::thread::get_ident()).unwrap();
            g.wait(LONG);
        }
        Ok::<_, String>(*i)
    })
    .workers(2)
    .timeout(Duration::from_millis(50))
    .progress(false)
    .run(0..4u32)
    .unwrap();
    let s = report.summary();
    assert_eq!((s.timeouts, s.succeeded), (1, 3), "{report}");
    assert_eq!(
        report.failures().next().unwrap().cause,
        Cause::Timeout {
            after: Duration::from_millis(50)
        }
    );
    let stuck = stuck_rx.recv_timeout(LONG).unwrap();
    // The next runs need every worker they ask for at once; the stuck thread is not one
    // of them.
    for _ in 0..3 {
        let threads = run_all_at_once(4, Arc::new(Barrier::new(4).unwrap()));
        assert!(threads.iter().all(|(id, _)| *id != stuck), "{threads:?}");
    }
    gate.open();
}

#[test]
fn a_run_larger_than_the_idle_threads_still_gets_all_its_workers() {
    // A few idle threads left by a small run, then a run that needs many more: the
    // submissions that found an idle thread must not leave the rest of the run's workers
    // queued with no thread (every item waits for every other, so a missing worker fails
    // the barrier).
    for _ in 0..5 * stress::<usize>() {
        run_all_at_once(3, Arc::new(Barrier::new(3).unwrap()));
        run_all_at_once(40, Arc::new(Barrier::new(40).unwrap()));
    }
}
