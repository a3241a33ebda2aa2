//! Comparisons for `threadkit::thread`.
//!
//! | bench | ours | peers |
//! |---|---|---|
//! | `thread_spawn_join` | 10k `threadkit::thread::spawn` + `join`, 50 threads alive at a time | `std::thread::spawn` + `join` |
//!
//! Ours does more per thread than std: it registers the thread (name `Thread-N`, ident,
//! native id, daemon flag) in the registry, gives the OS thread its name, catches the panic
//! to name the thread in it, and marks the thread finished for `is_alive` / `join_timeout` /
//! the exit guard. The target is a ratio of at most 1.15.

use super::Bench;
use crate::harness::{compare, Ctx, Line, Peer};
use std::hint::black_box;

/// The comparisons of this module.
pub(super) fn benches() -> Vec<Bench> {
    vec![Bench {
        name: "thread_spawn_join",
        about: "spawn + join 10k threads (50 at a time): threadkit::thread vs std::thread",
        run: thread_spawn_join,
    }]
}

/// Threads alive at once: enough to overlap creation and exit, few enough for 2 cores.
const BATCH: u64 = 50;

fn thread_spawn_join(ctx: &Ctx) -> Vec<Line> {
    let n = ctx.scale(10_000, 10_000);
    compare(
        ctx,
        "thread_spawn_join",
        n,
        || {
            let mut done = 0;
            while done < n {
                let handles: Vec<_> = (done..(done + BATCH).min(n))
                    .map(|i| threadkit::thread::spawn(move || black_box(i)))
                    .collect();
                for h in handles {
                    done += 1;
                    black_box(h.join().expect("no panic"));
                }
            }
        },
        vec![Peer::Run(
            "std",
            Box::new(move || {
                let mut done = 0;
                while done < n {
                    let handles: Vec<_> = (done..(done + BATCH).min(n))
                        .map(|i| std::thread::spawn(move || black_box(i)))
                        .collect();
                    for h in handles {
                        done += 1;
                        black_box(h.join().expect("no panic"));
                    }
                }
            }),
        )],
    )
}
