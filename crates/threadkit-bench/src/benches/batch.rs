//! Comparisons for `threadkit::batch` and `threadkit::progress`.
//!
//! | bench | ours | peers | target |
//! |---|---|---|---|
//! | `batch_map_10m` | 10M trivial items (1M quick) through `Batch::run` from a range, progress on (a hidden indicatif bar), failure capture on | `rayon` `(0..n).into_par_iter().map(f).collect::<Vec<_>>()` | <= 1.25 |
//! | `batch_imbalanced` | heavy-tailed (Pareto) spin costs, `Batch::run` | `rayon` par_iter map collect | <= 1.05 |
//! | `batch_vs_python` | 100k trivial items, `Batch::run`, hidden bar | seed 000's `EnhancedThreadPool` (`bench/peers/batch_enhanced_pool.py`, needs tqdm) | <= 0.01 |
//! | `batch_io` | 2,000 items each sleeping 5 ms on 200 workers | `ideal`: total blocking / workers = 50 ms; `std-threads`: 200 threads with 10 items each | <= 1.2 vs ideal |
//! | `progress_overhead` | the `batch_map_10m` workload with the bar on (hidden target) | the same with progress `off` | <= 1.03 |
//!
//! Every Rust pool has as many workers as the machine has cores (except `batch_io`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use rayon::prelude::*;
use threadkit::batch::Batch;
use threadkit::progress::Bar;

use super::Bench;
use crate::harness::{compare, python_peer, Ctx, Line, Peer};

/// The comparisons of this module.
pub(super) fn benches() -> Vec<Bench> {
    vec![
        Bench {
            name: "batch_map_10m",
            about:
                "10M trivial items through the batch runner (progress + failure capture) vs rayon",
            run: batch_map_10m,
        },
        Bench {
            name: "batch_imbalanced",
            about: "heavy-tailed task costs through the batch runner vs rayon",
            run: batch_imbalanced,
        },
        Bench {
            name: "batch_vs_python",
            about: "100k trivial tasks: batch runner vs seed 000's EnhancedThreadPool in Python",
            run: batch_vs_python,
        },
        Bench {
            name: "batch_io",
            about: "2,000 tasks sleeping 5 ms on 200 workers vs the ideal (total / workers)",
            run: batch_io,
        },
        Bench {
            name: "progress_overhead",
            about: "the batch_map_10m workload with the progress bar on vs off",
            run: progress_overhead,
        },
    ]
}

fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

#[inline]
fn trivial(x: u64) -> u64 {
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (x >> 7)
}

fn ours_trivial(n: u64, bar: bool) -> u64 {
    let b = Batch::infallible(|x: &u64| trivial(*x)).workers(workers());
    let b = if bar {
        b.progress_sink(Arc::new(Bar::hidden()))
    } else {
        b.progress(false)
    };
    let report = b.run(0..n).expect("batch runs");
    assert_eq!(report.summary().total, n);
    let last = report
        .outcome(n as usize - 1)
        .expect("every input has an outcome");
    black_box(*last.expect("no failure"))
}

fn rayon_trivial(pool: &rayon::ThreadPool, n: u64) -> u64 {
    let v: Vec<u64> = pool.install(|| (0..n).into_par_iter().map(trivial).collect());
    assert_eq!(v.len() as u64, n);
    black_box(v[n as usize - 1])
}

fn rayon_pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(workers())
        .build()
        .expect("rayon pool")
}

fn batch_map_10m(ctx: &Ctx) -> Vec<Line> {
    let n = ctx.scale(10_000_000, 1_000_000);
    let pool = rayon_pool();
    compare(
        ctx,
        "batch_map_10m",
        n,
        || {
            ours_trivial(n, true);
        },
        vec![Peer::Run(
            "rayon",
            Box::new(|| {
                rayon_trivial(&pool, n);
            }),
        )],
    )
}

/// A deterministic heavy-tailed cost per item: Pareto(alpha = 1.5) spin counts, mean about
/// 3x the base, capped at 2,000x.
fn cost(i: u64) -> u64 {
    let h = trivial(i.wrapping_add(0x1234_5678)) >> 11;
    let u = (h as f64 + 1.0) / (1u64 << 53) as f64;
    let base = 200.0;
    (base / u.powf(1.0 / 1.5)).min(base * 2_000.0) as u64
}

fn spin(k: u64) -> u64 {
    let mut acc = k;
    for j in 0..k {
        acc = black_box(acc.wrapping_mul(31).wrapping_add(j));
    }
    acc
}

fn batch_imbalanced(ctx: &Ctx) -> Vec<Line> {
    let n = ctx.scale(200_000, 50_000);
    let pool = rayon_pool();
    compare(
        ctx,
        "batch_imbalanced",
        n,
        || {
            let r = Batch::infallible(|i: &u64| spin(cost(*i)))
                .workers(workers())
                .progress_sink(Arc::new(Bar::hidden()))
                .run(0..n)
                .expect("batch runs");
            assert_eq!(r.summary().succeeded, n);
        },
        vec![Peer::Run(
            "rayon",
            Box::new(|| {
                let v: Vec<u64> =
                    pool.install(|| (0..n).into_par_iter().map(|i| spin(cost(i))).collect());
                assert_eq!(v.len() as u64, n);
            }),
        )],
    )
}

fn batch_vs_python(ctx: &Ctx) -> Vec<Line> {
    let n = 100_000u64;
    let args = vec![n.to_string(), workers().to_string()];
    compare(
        ctx,
        "batch_vs_python",
        n,
        || {
            ours_trivial(n, true);
        },
        vec![Peer::Timed(
            "python",
            Box::new(move || python_peer("batch_enhanced_pool.py", &args)),
        )],
    )
}

fn batch_io(ctx: &Ctx) -> Vec<Line> {
    let (n, workers, each) = (2_000u64, 200usize, Duration::from_millis(5));
    let ideal = each.as_secs_f64() * n as f64 / workers as f64;
    compare(
        ctx,
        "batch_io",
        n,
        || {
            let r = Batch::infallible(move |_: &u64| std::thread::sleep(each))
                .workers(workers)
                .progress_sink(Arc::new(Bar::hidden()))
                .run(0..n)
                .expect("batch runs");
            assert_eq!(r.summary().succeeded, n);
        },
        vec![
            Peer::Timed("ideal", Box::new(move || Ok(ideal))),
            // The best a hand-written program does here: 200 threads started for the run, each
            // with its fixed tenth of the items (no queue, no results). What it loses to
            // `ideal` is thread start-up and 200 wake-ups every 5 ms on 2 cores.
            Peer::Run(
                "std-threads",
                Box::new(move || {
                    let per = n as usize / workers;
                    let threads: Vec<_> = (0..workers)
                        .map(|_| {
                            std::thread::spawn(move || {
                                for _ in 0..per {
                                    std::thread::sleep(each);
                                }
                            })
                        })
                        .collect();
                    for t in threads {
                        t.join().expect("peer thread");
                    }
                }),
            ),
        ],
    )
}

fn progress_overhead(ctx: &Ctx) -> Vec<Line> {
    let n = ctx.scale(10_000_000, 1_000_000);
    compare(
        ctx,
        "progress_overhead",
        n,
        || {
            ours_trivial(n, true);
        },
        vec![Peer::Run(
            "off",
            Box::new(|| {
                ours_trivial(n, false);
            }),
        )],
    )
}
