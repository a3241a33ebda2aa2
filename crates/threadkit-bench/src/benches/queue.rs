//! Comparisons for `threadkit::queue`, each a shape of producers and consumers through a bounded
//! FIFO:
//!
//! * `queue_mpmc`: 2 producers, 2 consumers, `bounded(1024)`, 1M `u64` (200k under `--quick`),
//!   against crossbeam-channel, std's `sync_channel`, a mutex-condvar queue, kanal and flume. Its
//!   lines also carry the run-to-run spread (p90 / p10 of the round times) of ours and the peer.
//! * `queue_spsc`: 1 producer, 1 consumer, `bounded(1024)`, 1M (200k), against kanal and
//!   crossbeam-channel.
//! * `queue_handoff`: 2 producers, 2 consumers, `bounded(1)` (every item a handoff), 200k (50k),
//!   against crossbeam-channel and kanal.
//! * `queue_handoff_1p1c`: the same with 1 producer and 1 consumer.
//!
//! `threadkit-bench probe CHANNEL PRODUCERS CONSUMERS CAPACITY N [ROUNDS]` runs one channel
//! alone (no peer in the same process), for `perf stat`, `strace -c` or callgrind: see [`probe`].
//!
//! Every thread holds its own clone of the handle, as users do, and every run checks that what
//! came out is what went in (count and sum), for ours and every peer.

use super::Bench;
use crate::harness::{compare, Ctx, Line, Peer};
use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;

/// The comparisons of this module.
pub(super) fn benches() -> Vec<Bench> {
    vec![
        Bench {
            name: "queue_mpmc",
            about: "2 producers, 2 consumers, items through a bounded(1024) FIFO",
            run: queue_mpmc,
        },
        Bench {
            name: "queue_spsc",
            about: "1 producer, 1 consumer, items through a bounded(1024) FIFO",
            run: queue_spsc,
        },
        Bench {
            name: "queue_handoff",
            about: "2 producers, 2 consumers through a bounded(1) FIFO: every item a handoff",
            run: queue_handoff,
        },
        Bench {
            name: "queue_handoff_1p1c",
            about: "1 producer, 1 consumer through a bounded(1) FIFO: every item a handoff",
            run: queue_handoff_1p1c,
        },
    ]
}

/// One queue workload: how many threads on each side, the queue's capacity, the items.
#[derive(Debug, Clone, Copy)]
struct Shape {
    producers: u64,
    consumers: u64,
    capacity: usize,
    /// The items `0..n`, split evenly between the producers.
    n: u64,
}

/// What each producer sends after its share, once per consumer: a consumer stops after one from
/// each producer, so a lost item shows as a wrong sum, never as a consumer waiting forever.
const END: u64 = u64::MAX;

/// A bounded channel as its users hold it: one handle clone per thread.
trait Channel {
    /// A producer's handle.
    type Tx: Clone + Send;
    /// A consumer's handle.
    type Rx: Clone + Send;
    /// A new channel holding at most `capacity` items.
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx);
    /// Sends `item`, waiting while the channel is full.
    fn send(tx: &Self::Tx, item: u64);
    /// Receives an item, waiting while the channel is empty.
    fn recv(rx: &Self::Rx) -> u64;
}

/// Runs `shape` through a new `C`: each producer thread sends its share of `0..n` and then one
/// [`END`] per consumer; each consumer thread receives until it has one [`END`] per producer.
///
/// # Panics
///
/// When what came out (count and sum) is not what went in, or when `n` does not split evenly
/// between the producers.
fn run<C: Channel>(shape: Shape) {
    let Shape {
        producers,
        consumers,
        capacity,
        n,
    } = shape;
    assert_eq!(
        n % producers,
        0,
        "{n} items do not split between {producers} producers"
    );
    let share = n / producers;
    let (tx, rx) = C::bounded(capacity);
    let (count, sum) = thread::scope(|s| {
        for p in 0..producers {
            let tx = tx.clone();
            s.spawn(move || {
                for i in p * share..(p + 1) * share {
                    C::send(&tx, i);
                }
                for _ in 0..consumers {
                    C::send(&tx, END);
                }
            });
        }
        let takers: Vec<_> = (0..consumers)
            .map(|_| {
                let rx = rx.clone();
                s.spawn(move || {
                    let (mut count, mut sum, mut ends) = (0u64, 0u64, 0);
                    while ends < producers {
                        match C::recv(&rx) {
                            END => ends += 1,
                            item => {
                                count += 1;
                                sum = sum.wrapping_add(item);
                            }
                        }
                    }
                    (count, sum)
                })
            })
            .collect();
        takers
            .into_iter()
            .map(|t| t.join().expect("a consumer panicked"))
            .fold((0u64, 0u64), |(c, s), (tc, ts)| {
                (c + tc, s.wrapping_add(ts))
            })
    });
    assert_eq!(
        black_box((count, sum)),
        (n, n * n.saturating_sub(1) / 2),
        "{}: (count, sum) out differs from what went in: items lost",
        std::any::type_name::<C>()
    );
}

/// A peer named `name` running `shape` through `C`.
fn peer<'a, C: Channel>(name: &'a str, shape: Shape) -> Peer<'a> {
    Peer::Run(name, Box::new(move || run::<C>(shape)))
}

/// `threadkit::queue::Queue`, the side being measured.
struct Threadkit;

impl Channel for Threadkit {
    type Tx = threadkit::queue::Queue<u64>;
    type Rx = threadkit::queue::Queue<u64>;
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        let q = threadkit::queue::Queue::bounded(capacity);
        (q.clone(), q)
    }
    fn send(tx: &Self::Tx, item: u64) {
        tx.put(item).expect("threadkit put");
    }
    fn recv(rx: &Self::Rx) -> u64 {
        rx.get().expect("threadkit get")
    }
}

/// Implements [`Channel`] as `$name` for a crate whose `bounded(capacity)` gives a `Sender` and a
/// `Receiver` with `send(item)` and `recv()` returning `Result`s: crossbeam-channel, kanal, flume.
macro_rules! crate_channel {
    ($name:ident, $krate:ident) => {
        #[doc = concat!("`", stringify!($krate), "::bounded`.")]
        struct $name;

        impl Channel for $name {
            type Tx = $krate::Sender<u64>;
            type Rx = $krate::Receiver<u64>;
            fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
                $krate::bounded(capacity)
            }
            fn send(tx: &Self::Tx, item: u64) {
                tx.send(item).expect(concat!(stringify!($krate), " send"));
            }
            fn recv(rx: &Self::Rx) -> u64 {
                rx.recv().expect(concat!(stringify!($krate), " recv"))
            }
        }
    };
}

crate_channel!(Crossbeam, crossbeam_channel);
crate_channel!(Kanal, kanal);
crate_channel!(Flume, flume);

/// std's `sync_channel`, whose receiver is single-consumer: the consumers share it behind a lock.
struct StdSync;

impl Channel for StdSync {
    type Tx = mpsc::SyncSender<u64>;
    type Rx = Arc<Mutex<mpsc::Receiver<u64>>>;
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        let (tx, rx) = mpsc::sync_channel(capacity);
        (tx, Arc::new(Mutex::new(rx)))
    }
    fn send(tx: &Self::Tx, item: u64) {
        tx.send(item).expect("std send");
    }
    fn recv(rx: &Self::Rx) -> u64 {
        rx.lock()
            .expect("std receiver lock")
            .recv()
            .expect("std recv")
    }
}

/// The textbook bounded queue the issue names as a peer: `Mutex<VecDeque>` and two condition
/// variables, notifying on every operation.
struct MutexCondvarQueue {
    items: Mutex<VecDeque<u64>>,
    not_empty: Condvar,
    not_full: Condvar,
    capacity: usize,
}

impl Channel for MutexCondvarQueue {
    type Tx = Arc<Self>;
    type Rx = Arc<Self>;
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        let q = Arc::new(MutexCondvarQueue {
            items: Mutex::new(VecDeque::with_capacity(capacity)),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            capacity,
        });
        (q.clone(), q)
    }

    fn send(q: &Arc<Self>, item: u64) {
        let mut items = q.items.lock().unwrap();
        while items.len() >= q.capacity {
            items = q.not_full.wait(items).unwrap();
        }
        items.push_back(item);
        drop(items);
        q.not_empty.notify_one();
    }

    fn recv(q: &Arc<Self>) -> u64 {
        let mut items = q.items.lock().unwrap();
        loop {
            if let Some(item) = items.pop_front() {
                drop(items);
                q.not_full.notify_one();
                return item;
            }
            items = q.not_empty.wait(items).unwrap();
        }
    }
}

/// `bench`: `shape` through threadkit's queue against each of `peers`.
fn compare_shape(ctx: &Ctx, bench: &str, shape: Shape, peers: Vec<Peer<'_>>) -> Vec<Line> {
    compare(ctx, bench, shape.n, || run::<Threadkit>(shape), peers)
}

impl Shape {
    fn new(producers: u64, consumers: u64, capacity: usize, n: u64) -> Shape {
        Shape {
            producers,
            consumers,
            capacity,
            n,
        }
    }
}

fn queue_mpmc(ctx: &Ctx) -> Vec<Line> {
    let shape = Shape::new(2, 2, 1024, ctx.scale(1_000_000, 200_000));
    let peers = vec![
        peer::<Crossbeam>("crossbeam-channel", shape),
        peer::<StdSync>("std-sync-channel", shape),
        peer::<MutexCondvarQueue>("mutex-condvar", shape),
        peer::<Kanal>("kanal", shape),
        peer::<Flume>("flume", shape),
    ];
    compare_shape(&ctx.with_spread(), "queue_mpmc", shape, peers)
}

fn queue_spsc(ctx: &Ctx) -> Vec<Line> {
    let shape = Shape::new(1, 1, 1024, ctx.scale(1_000_000, 200_000));
    let peers = vec![
        peer::<Kanal>("kanal", shape),
        peer::<Crossbeam>("crossbeam-channel", shape),
    ];
    compare_shape(ctx, "queue_spsc", shape, peers)
}

fn queue_handoff(ctx: &Ctx) -> Vec<Line> {
    handoff(ctx, "queue_handoff", 2)
}

fn queue_handoff_1p1c(ctx: &Ctx) -> Vec<Line> {
    handoff(ctx, "queue_handoff_1p1c", 1)
}

/// `threads` producers and as many consumers through `bounded(1)`: every item a handoff.
fn handoff(ctx: &Ctx, bench: &str, threads: u64) -> Vec<Line> {
    let shape = Shape::new(threads, threads, 1, ctx.scale(200_000, 50_000));
    let peers = vec![
        peer::<Crossbeam>("crossbeam-channel", shape),
        peer::<Kanal>("kanal", shape),
    ];
    compare_shape(ctx, bench, shape, peers)
}

/// `threadkit-bench probe CHANNEL PRODUCERS CONSUMERS CAPACITY N [ROUNDS]`: runs one shape
/// through one channel (`threadkit`, `kanal`, `crossbeam-channel` or `flume`) `ROUNDS` times
/// (default 5) and prints each round's time in seconds, one a line. Nothing else runs in the
/// process, so counters taken over it (`perf stat`, `strace -f -c`, callgrind) are that
/// channel's alone.
///
/// # Errors
///
/// An unknown channel, a missing or malformed number, or `N` not divisible by `PRODUCERS`.
pub(crate) fn probe(args: &[String]) -> anyhow::Result<()> {
    use anyhow::{bail, Context};
    let usage = "usage: threadkit-bench probe CHANNEL PRODUCERS CONSUMERS CAPACITY N [ROUNDS]";
    let number = |i: usize| -> anyhow::Result<u64> {
        let arg = args.get(i).with_context(|| usage.to_owned())?;
        arg.parse()
            .with_context(|| format!("{arg:?} is not a number\n{usage}"))
    };
    let (producers, consumers) = (number(1)?, number(2)?);
    let shape = Shape::new(producers, consumers, number(3)? as usize, number(4)?);
    let rounds = if args.len() > 5 { number(5)? } else { 5 };
    if producers == 0 || consumers == 0 || !shape.n.is_multiple_of(producers) {
        bail!("need at least one producer and one consumer, and N divisible by PRODUCERS");
    }
    let run: fn(Shape) = match args[0].as_str() {
        "threadkit" => run::<Threadkit>,
        "kanal" => run::<Kanal>,
        "crossbeam-channel" => run::<Crossbeam>,
        "flume" => run::<Flume>,
        other => bail!("unknown channel {other:?}: threadkit, kanal, crossbeam-channel or flume"),
    };
    for _ in 0..rounds {
        let start = std::time::Instant::now();
        run(shape);
        println!("{:.6}", start.elapsed().as_secs_f64());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Items per run: small, scaled by THREADKIT_STRESS like the library's stress tests.
    fn items() -> u64 {
        let stress = std::env::var("THREADKIT_STRESS")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(1)
            .max(1);
        20_000 * stress
    }

    /// The three shapes of the benches, at test size.
    fn shapes() -> [Shape; 4] {
        let n = items();
        [(2, 2, 1024), (1, 1, 1024), (2, 2, 1), (1, 1, 1)]
            .map(|(p, c, capacity)| Shape::new(p, c, capacity, n))
    }

    #[test]
    fn every_channel_passes_every_item_in_every_shape() {
        for shape in shapes() {
            run::<Threadkit>(shape);
            run::<Crossbeam>(shape);
            run::<Kanal>(shape);
            run::<Flume>(shape);
            run::<StdSync>(shape);
            run::<MutexCondvarQueue>(shape);
        }
    }

    /// crossbeam-channel, except that it drops item 7 on the floor.
    struct LosesSeven;

    impl Channel for LosesSeven {
        type Tx = <Crossbeam as Channel>::Tx;
        type Rx = <Crossbeam as Channel>::Rx;
        fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
            Crossbeam::bounded(capacity)
        }
        fn send(tx: &Self::Tx, item: u64) {
            if item != 7 {
                Crossbeam::send(tx, item);
            }
        }
        fn recv(rx: &Self::Rx) -> u64 {
            Crossbeam::recv(rx)
        }
    }

    #[test]
    fn a_channel_that_loses_an_item_fails_the_run_instead_of_hanging() {
        for shape in shapes() {
            let failed = std::panic::catch_unwind(|| run::<LosesSeven>(shape))
                .expect_err("a lost item went unnoticed");
            let message = failed
                .downcast_ref::<String>()
                .expect("a formatted panic message");
            assert!(message.contains("items lost"), "{message}");
        }
    }
}
