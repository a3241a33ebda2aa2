//! Comparisons for `threadkit::executor`.
//!
//! | bench | ours | peers |
//! |---|---|---|
//! | `executor_submit` | N tiny tasks: `ThreadPool::submit` each (handles kept in a reused `Vec`), then `into_result` every `Future` | `threadpool` (`execute` + a channel to collect), `rayon` (`ThreadPool::spawn` + a channel), Python's `ThreadPoolExecutor` (100k tasks, `bench/peers/executor_submit.py`) |
//!
//! Every pool has as many workers as the machine has cores. Ours does more per task than the
//! Rust peers: each task gets a `Future` (state machine, cancel, callbacks, inline help) and
//! its panic is caught. Targets: ratio <= 1.0 vs threadpool, <= 1.5 vs rayon, <= 0.05 vs
//! python.

use super::Bench;
use crate::harness::{compare, python_peer, Ctx, Line, Peer};
use std::hint::black_box;

/// The comparisons of this module.
pub(super) fn benches() -> Vec<Bench> {
    vec![Bench {
        name: "executor_submit",
        about: "submit 1M tiny tasks then wait for all: ThreadPool vs threadpool, rayon, Python",
        run: executor_submit,
    }]
}

fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Submits `n` tasks to `pool` and waits for every future; returns the sum of the results.
/// The handles go in `futures`, a buffer the caller keeps across rounds (its capacity is
/// reused, as a program submitting batches would do), so the round measures the pool rather
/// than a fresh 16 MB allocation.
fn ours_round(
    pool: &threadkit::executor::ThreadPool,
    futures: &mut Vec<threadkit::executor::Future<u64>>,
    n: u64,
) -> u64 {
    futures.extend((0..n).map(|i| pool.submit(move || black_box(i)).expect("pool open")));
    futures
        .drain(..)
        .map(|f| f.into_result().expect("no panic"))
        .sum()
}

fn executor_submit(ctx: &Ctx) -> Vec<Line> {
    let workers = workers();
    let pool = threadkit::executor::ThreadPool::builder()
        .max_workers(workers)
        .build()
        .expect("valid pool");
    let tp = threadpool::ThreadPool::new(workers);
    let rp = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .expect("rayon pool");

    let n = ctx.scale(1_000_000, 100_000);
    let expect = n * (n - 1) / 2;
    let mut futures = Vec::with_capacity(n as usize);
    let mut lines = compare(
        ctx,
        "executor_submit",
        n,
        || assert_eq!(ours_round(&pool, &mut futures, n), expect),
        vec![
            Peer::Run(
                "threadpool",
                Box::new(|| {
                    let (tx, rx) = crossbeam_channel::unbounded();
                    for i in 0..n {
                        let tx = tx.clone();
                        tp.execute(move || tx.send(black_box(i)).expect("receiver alive"));
                    }
                    drop(tx);
                    assert_eq!(rx.iter().take(n as usize).sum::<u64>(), expect);
                }),
            ),
            Peer::Run(
                "rayon",
                Box::new(|| {
                    let (tx, rx) = crossbeam_channel::unbounded();
                    for i in 0..n {
                        let tx = tx.clone();
                        rp.spawn(move || tx.send(black_box(i)).expect("receiver alive"));
                    }
                    drop(tx);
                    assert_eq!(rx.iter().take(n as usize).sum::<u64>(), expect);
                }),
            ),
        ],
    );

    let n_py = 100_000;
    let expect_py = n_py * (n_py - 1) / 2;
    let args = vec![n_py.to_string(), workers.to_string()];
    lines.extend(compare(
        ctx,
        "executor_submit",
        n_py,
        || assert_eq!(ours_round(&pool, &mut futures, n_py), expect_py),
        vec![Peer::Timed(
            "python",
            Box::new(move || python_peer("executor_submit.py", &args)),
        )],
    ));
    lines
}
