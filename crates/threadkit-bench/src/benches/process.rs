//! Comparisons for `threadkit::process`.
//!
//! - `process_pool_roundtrip`: tiny tasks through a 2-worker `ProcessPool` (`map`, one task per
//!   item) vs Python's `multiprocessing.Pool.map(chunksize=1)` with 2 workers.
//! - `process_spawn`: spawn + join of a child process running a trivial Rust function vs
//!   fork-exec + wait of `/bin/true` through `std::process::Command`.
//!
//! The children are this very binary: `main` calls `threadkit::process::init()` first.

use super::Bench;
use crate::harness::{compare, python_peer, Ctx, Line, Peer};
use threadkit::process::{Process, ProcessPool};

/// The comparisons of this module.
pub(super) fn benches() -> Vec<Bench> {
    vec![
        Bench {
            name: "process_pool_roundtrip",
            about: "20k tiny tasks through a 2-process ProcessPool vs multiprocessing.Pool.map(chunksize=1)",
            run: process_pool_roundtrip,
        },
        Bench {
            name: "process_spawn",
            about: "spawn + join a child running a trivial Rust fn vs Command(/bin/true) fork-exec",
            run: process_spawn,
        },
    ]
}

fn tiny(i: u64) -> u64 {
    i
}

fn process_pool_roundtrip(ctx: &Ctx) -> Vec<Line> {
    let n = ctx.scale(20_000, 5_000);
    let expect = n * (n - 1) / 2;
    let pool = match ProcessPool::new(2) {
        Ok(p) => p,
        Err(e) => {
            return vec![Line::Skipped {
                bench: "process_pool_roundtrip".into(),
                peer: "python".into(),
                skipped: format!("cannot build the pool: {e}"),
            }]
        }
    };
    // Start both workers outside the timed rounds.
    let warm: u64 = pool
        .map(tiny, 0..4)
        .expect("map")
        .map(|r| r.expect("task"))
        .sum();
    assert_eq!(warm, 6);
    let args = vec![n.to_string()];
    compare(
        ctx,
        "process_pool_roundtrip",
        n,
        || {
            let total: u64 = pool
                .map(tiny, 0..n)
                .expect("map")
                .map(|r| r.expect("task"))
                .sum();
            assert_eq!(total, expect);
        },
        vec![Peer::Timed(
            "python",
            Box::new(move || python_peer("process_pool.py", &args)),
        )],
    )
}

fn trivial(x: u32) -> u32 {
    x + 1
}

fn process_spawn(ctx: &Ctx) -> Vec<Line> {
    let n = ctx.scale(300, 100);
    let truth = std::path::Path::new("/bin/true");
    let mut peers = Vec::new();
    if truth.exists() {
        peers.push(Peer::Run(
            "fork-exec",
            Box::new(move || {
                for _ in 0..n {
                    let status = std::process::Command::new(truth)
                        .status()
                        .expect("/bin/true");
                    assert!(status.success());
                }
            }),
        ));
    } else {
        return vec![Line::Skipped {
            bench: "process_spawn".into(),
            peer: "fork-exec".into(),
            skipped: "/bin/true is missing".into(),
        }];
    }
    compare(
        ctx,
        "process_spawn",
        n,
        || {
            for i in 0..n as u32 {
                let mut p = Process::spawn(trivial, i).expect("spawn");
                assert_eq!(p.join(), Ok(i + 1));
            }
        },
        peers,
    )
}

/// `threadkit-bench pool-probe N [ROUNDS] [SEND_AHEAD]`: runs N tiny tasks through a 2-worker
/// `ProcessPool` (as `process_pool_roundtrip` does, workers started beforehand) ROUNDS times
/// (default 5) and prints the seconds of each round, for quick A/B runs of the pool alone.
/// SEND_AHEAD sets [`threadkit::process::ProcessPoolBuilder::send_ahead`] (default: the pool's).
///
/// # Errors
///
/// A missing or malformed number, or a pool that cannot be built.
pub(crate) fn pool_probe(args: &[String]) -> anyhow::Result<()> {
    use anyhow::Context;
    let usage = "usage: threadkit-bench pool-probe N [ROUNDS] [SEND_AHEAD]";
    let number = |i: usize| -> anyhow::Result<Option<u64>> {
        args.get(i)
            .map(|arg| {
                arg.parse()
                    .with_context(|| format!("{arg:?} is not a number\n{usage}"))
            })
            .transpose()
    };
    let n = number(0)?.with_context(|| usage.to_owned())?;
    let rounds = number(1)?.unwrap_or(5);
    let mut builder = ProcessPool::builder().max_workers(2);
    if let Some(ahead) = number(2)? {
        builder = builder.send_ahead(ahead as usize);
    }
    let pool = builder.build().context("cannot build the pool")?;
    let warm: u64 = pool.map(tiny, 0..4)?.map(|r| r.expect("task")).sum();
    assert_eq!(warm, 6);
    for _ in 0..rounds {
        let start = std::time::Instant::now();
        let total: u64 = pool.map(tiny, 0..n)?.map(|r| r.expect("task")).sum();
        assert_eq!(total, n * n.saturating_sub(1) / 2);
        println!("{:.6}", start.elapsed().as_secs_f64());
    }
    Ok(())
}
