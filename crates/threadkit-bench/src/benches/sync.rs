//! Comparisons for `threadkit::sync`.
//!
//! | bench | ours | peers |
//! |---|---|---|
//! | `lock_uncontended` | `Lock<u64>` lock/increment/unlock on one thread | `parking_lot::Mutex`, `std::sync::Mutex` |
//! | `lock_contended` | 2 threads x 1M increments under `Lock<u64>` | `parking_lot::Mutex`, `std::sync::Mutex` |
//! | `semaphore_cycle` | 4 threads acquire/release a `Semaphore(2)` | a semaphore from parking_lot `Mutex` + `Condvar` |
//! | `semaphore_uncontended` | one thread acquires/releases a `Semaphore(1)` | the same hand-made semaphore |
//! | `semaphore_signal` | a producer `release()`s 1M units of a `Semaphore(0)`, a consumer `acquire()`s them | the same hand-made semaphore |
//! | `barrier_generations` | 2 threads through 100k generations of a `Barrier` | `std::sync::Barrier` |
//! | `event_pingpong` | 2 threads bounce two `Event`s (set / wait / clear) | an event from parking_lot `Mutex` + `Condvar` |
//! | `deadlock_overhead` | `Lock<u64>` lock/increment/unlock with feature `deadlock-detection` on (and `_nested`: under a held outer lock) | the same with the feature off |
//!
//! `deadlock_overhead` needs the bench built with the feature
//! (`cargo run --release -p threadkit-bench --features deadlock-detection -- deadlock_overhead`);
//! otherwise it prints a `skipped` line. One binary cannot hold threadkit both with and without
//! the feature, so "off" is measured as a bare mutex lock + unlock (`parking_lot::Mutex`, what
//! threadkit's raw mutex is outside Linux; on Linux it is a futex word that `lock_uncontended`
//! shows at about the same cost, ratio about 1, in the default build). Other comparisons
//! should be run without the feature.

use super::Bench;
use crate::harness::{compare, Ctx, Line, Peer};
use std::hint::black_box;
use threadkit::sync::{Barrier, Event, Lock, Semaphore};

/// The comparisons of this module.
pub(super) fn benches() -> Vec<Bench> {
    vec![
        Bench {
            name: "lock_uncontended",
            about: "Lock<u64> lock+increment+unlock on one thread vs parking_lot and std Mutex",
            run: lock_uncontended,
        },
        Bench {
            name: "lock_contended",
            about: "2 threads x 1M increments under one lock vs parking_lot and std Mutex",
            run: lock_contended,
        },
        Bench {
            name: "semaphore_cycle",
            about: "4 threads acquire/release a Semaphore(2) vs a Mutex+Condvar semaphore",
            run: semaphore_cycle,
        },
        Bench {
            name: "semaphore_uncontended",
            about: "one thread acquires/releases a Semaphore(1) vs a Mutex+Condvar semaphore",
            run: semaphore_uncontended,
        },
        Bench {
            name: "semaphore_signal",
            about: "a producer releases 1M units to a consumer through a Semaphore(0) vs a Mutex+Condvar semaphore",
            run: semaphore_signal,
        },
        Bench {
            name: "barrier_generations",
            about: "2 threads through 100k barrier generations vs std::sync::Barrier",
            run: barrier_generations,
        },
        Bench {
            name: "event_pingpong",
            about: "2 threads ping-pong over two Events vs a Mutex+Condvar event",
            run: event_pingpong,
        },
        Bench {
            name: "deadlock_overhead",
            about: "uncontended Lock lock+unlock with feature deadlock-detection on vs off (also nested under a held lock)",
            run: deadlock_overhead,
        },
    ]
}

/// The peer of `deadlock_overhead`: a bare raw mutex, standing for threadkit's lock without
/// the feature (see the module docs).
const OFF: &str = "off (parking_lot raw mutex)";

#[cfg(not(feature = "deadlock-detection"))]
fn deadlock_overhead(_ctx: &Ctx) -> Vec<Line> {
    ["deadlock_overhead", "deadlock_overhead_nested"]
        .into_iter()
        .map(|bench| Line::Skipped {
            bench: bench.to_owned(),
            peer: OFF.to_owned(),
            skipped: "built without the feature: cargo run --release -p threadkit-bench \
                      --features deadlock-detection -- deadlock_overhead"
                .to_owned(),
        })
        .collect()
}

#[cfg(feature = "deadlock-detection")]
fn deadlock_overhead(ctx: &Ctx) -> Vec<Line> {
    let n = ctx.scale(20_000_000, 5_000_000);
    let ours = Lock::new(0u64);
    let pl = parking_lot::Mutex::new(0u64);
    let mut lines = compare(
        ctx,
        "deadlock_overhead",
        n,
        || {
            for _ in 0..n {
                *black_box(&ours).lock() += 1;
            }
        },
        vec![Peer::Run(
            OFF,
            Box::new(|| {
                for _ in 0..n {
                    *black_box(&pl).lock() += 1;
                }
            }),
        )],
    );
    // Nested: an inner lock taken under a held outer one, so each acquisition has an order
    // edge to check (known after the first time: the per-thread cache answers).
    let outer = Lock::new(());
    let pl_outer = parking_lot::Mutex::new(());
    lines.extend(compare(
        ctx,
        "deadlock_overhead_nested",
        n,
        || {
            let _o = outer.lock();
            for _ in 0..n {
                *black_box(&ours).lock() += 1;
            }
        },
        vec![Peer::Run(
            OFF,
            Box::new(|| {
                let _o = pl_outer.lock();
                for _ in 0..n {
                    *black_box(&pl).lock() += 1;
                }
            }),
        )],
    ));
    lines
}

fn lock_uncontended(ctx: &Ctx) -> Vec<Line> {
    let n = ctx.scale(20_000_000, 5_000_000);
    let ours = Lock::new(0u64);
    let pl = parking_lot::Mutex::new(0u64);
    let st = std::sync::Mutex::new(0u64);
    compare(
        ctx,
        "lock_uncontended",
        n,
        || {
            for _ in 0..n {
                *black_box(&ours).lock() += 1;
            }
        },
        vec![
            Peer::Run(
                "parking_lot",
                Box::new(|| {
                    for _ in 0..n {
                        *black_box(&pl).lock() += 1;
                    }
                }),
            ),
            Peer::Run(
                "std",
                Box::new(|| {
                    for _ in 0..n {
                        *black_box(&st).lock().unwrap() += 1;
                    }
                }),
            ),
        ],
    )
}

/// Two threads incrementing one counter `per` times each under `lock_incr`.
fn two_threads(per: u64, incr: impl Fn() + Sync) {
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..per {
                    incr();
                }
            });
        }
    });
}

fn lock_contended(ctx: &Ctx) -> Vec<Line> {
    let per = ctx.scale(1_000_000, 250_000);
    let ours = Lock::new(0u64);
    let pl = parking_lot::Mutex::new(0u64);
    let st = std::sync::Mutex::new(0u64);
    compare(
        ctx,
        "lock_contended",
        2 * per,
        || two_threads(per, || *ours.lock() += 1),
        vec![
            Peer::Run(
                "parking_lot",
                Box::new(|| two_threads(per, || *pl.lock() += 1)),
            ),
            Peer::Run(
                "std",
                Box::new(|| two_threads(per, || *st.lock().unwrap() += 1)),
            ),
        ],
    )
}

/// The semaphore a user would write by hand: a counter under a mutex plus a condvar.
struct MutexCondvarSemaphore {
    value: parking_lot::Mutex<usize>,
    cv: parking_lot::Condvar,
}

impl MutexCondvarSemaphore {
    fn acquire(&self) {
        let mut v = self.value.lock();
        while *v == 0 {
            self.cv.wait(&mut v);
        }
        *v -= 1;
    }
    fn release(&self) {
        *self.value.lock() += 1;
        self.cv.notify_one();
    }
}

fn four_threads(per: u64, cycle: impl Fn() + Sync) {
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..per {
                    cycle();
                }
            });
        }
    });
}

fn semaphore_cycle(ctx: &Ctx) -> Vec<Line> {
    let per = ctx.scale(1_000_000, 250_000);
    let ours = Semaphore::new(2);
    let peer = hand_made_semaphore(2);
    compare(
        ctx,
        "semaphore_cycle",
        4 * per,
        || {
            four_threads(per, || {
                ours.acquire();
                ours.release();
            })
        },
        vec![Peer::Run(
            "mutex-condvar",
            Box::new(|| {
                four_threads(per, || {
                    peer.acquire();
                    peer.release();
                })
            }),
        )],
    )
}

fn hand_made_semaphore(value: usize) -> MutexCondvarSemaphore {
    MutexCondvarSemaphore {
        value: parking_lot::Mutex::new(value),
        cv: parking_lot::Condvar::new(),
    }
}

fn semaphore_uncontended(ctx: &Ctx) -> Vec<Line> {
    let n = ctx.scale(10_000_000, 2_500_000);
    let ours = Semaphore::new(1);
    let peer = hand_made_semaphore(1);
    compare(
        ctx,
        "semaphore_uncontended",
        n,
        || {
            for _ in 0..n {
                black_box(&ours).acquire();
                black_box(&ours).release();
            }
        },
        vec![Peer::Run(
            "mutex-condvar",
            Box::new(|| {
                for _ in 0..n {
                    black_box(&peer).acquire();
                    black_box(&peer).release();
                }
            }),
        )],
    )
}

fn semaphore_signal(ctx: &Ctx) -> Vec<Line> {
    let n = ctx.scale(1_000_000, 250_000);
    let ours = Semaphore::new(0);
    let peer = hand_made_semaphore(0);
    compare(
        ctx,
        "semaphore_signal",
        n,
        || {
            std::thread::scope(|s| {
                s.spawn(|| (0..n).for_each(|_| ours.release()));
                s.spawn(|| (0..n).for_each(|_| ours.acquire()));
            });
        },
        vec![Peer::Run(
            "mutex-condvar",
            Box::new(|| {
                std::thread::scope(|s| {
                    s.spawn(|| (0..n).for_each(|_| peer.release()));
                    s.spawn(|| (0..n).for_each(|_| peer.acquire()));
                });
            }),
        )],
    )
}

fn barrier_generations(ctx: &Ctx) -> Vec<Line> {
    let gens = ctx.scale(100_000, 25_000);
    let ours = Barrier::new(2).expect("2 parties");
    let peer = std::sync::Barrier::new(2);
    compare(
        ctx,
        "barrier_generations",
        gens,
        || {
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        for _ in 0..gens {
                            black_box(ours.wait().expect("not broken"));
                        }
                    });
                }
            })
        },
        vec![Peer::Run(
            "std",
            Box::new(|| {
                std::thread::scope(|s| {
                    for _ in 0..2 {
                        s.spawn(|| {
                            for _ in 0..gens {
                                black_box(peer.wait());
                            }
                        });
                    }
                })
            }),
        )],
    )
}

/// The event a user would write by hand: a flag under a mutex plus a condvar.
struct MutexCondvarEvent {
    flag: parking_lot::Mutex<bool>,
    cv: parking_lot::Condvar,
}

impl MutexCondvarEvent {
    fn new() -> Self {
        MutexCondvarEvent {
            flag: parking_lot::Mutex::new(false),
            cv: parking_lot::Condvar::new(),
        }
    }
    fn set(&self) {
        *self.flag.lock() = true;
        self.cv.notify_all();
    }
    fn clear(&self) {
        *self.flag.lock() = false;
    }
    fn wait(&self) {
        let mut f = self.flag.lock();
        while !*f {
            self.cv.wait(&mut f);
        }
    }
}

/// Rounds of: A sets `ping` and waits for `pong`; B waits for `ping`, clears it, sets `pong`.
fn pingpong<E: Sync>(
    rounds: u64,
    ping: &E,
    pong: &E,
    set: impl Fn(&E) + Sync,
    wait: impl Fn(&E) + Sync,
    clear: impl Fn(&E) + Sync,
) {
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..rounds {
                set(ping);
                wait(pong);
                clear(pong);
            }
        });
        s.spawn(|| {
            for _ in 0..rounds {
                wait(ping);
                clear(ping);
                set(pong);
            }
        });
    });
}

fn event_pingpong(ctx: &Ctx) -> Vec<Line> {
    let rounds = ctx.scale(100_000, 25_000);
    let (ping, pong) = (Event::new(), Event::new());
    let (pping, ppong) = (MutexCondvarEvent::new(), MutexCondvarEvent::new());
    compare(
        ctx,
        "event_pingpong",
        rounds,
        || pingpong(rounds, &ping, &pong, Event::set, Event::wait, Event::clear),
        vec![Peer::Run(
            "mutex-condvar",
            Box::new(|| {
                pingpong(
                    rounds,
                    &pping,
                    &ppong,
                    MutexCondvarEvent::set,
                    MutexCondvarEvent::wait,
                    MutexCondvarEvent::clear,
                )
            }),
        )],
    )
}
