//! Comparisons for `threadkit::queue`.

use super::Bench;
use crate::harness::{compare, Ctx, Line, Peer};
use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::{mpsc, Condvar, Mutex};
use std::thread;

/// The comparisons of this module.
pub(super) fn benches() -> Vec<Bench> {
    vec![Bench {
        name: "queue_mpmc",
        about: "2 producers, 2 consumers, items through a bounded(1024) FIFO",
        run: queue_mpmc,
    }]
}

const CAPACITY: usize = 1024;
const PRODUCERS: u64 = 2;
const CONSUMERS: u64 = 2;

/// Runs `PRODUCERS` threads calling `put(i)` for their share of `0..n` and `CONSUMERS` threads
/// calling `get()` for theirs, and checks that the sum of what came out is the sum of what went
/// in (so no implementation can skip work).
fn mpmc<P, G>(n: u64, put: P, get: G)
where
    P: Fn(u64) + Sync,
    G: Fn() -> u64 + Sync,
{
    let per_producer = n / PRODUCERS;
    let per_consumer = n / CONSUMERS;
    let total: u64 = thread::scope(|s| {
        for p in 0..PRODUCERS {
            let put = &put;
            s.spawn(move || {
                for i in p * per_producer..(p + 1) * per_producer {
                    put(i);
                }
            });
        }
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let get = &get;
                s.spawn(move || {
                    let mut sum = 0u64;
                    for _ in 0..per_consumer {
                        sum = sum.wrapping_add(get());
                    }
                    sum
                })
            })
            .collect();
        consumers.into_iter().map(|c| c.join().unwrap()).sum()
    });
    let items = per_producer * PRODUCERS;
    assert_eq!(black_box(total), items * (items - 1) / 2, "items lost");
}

/// The textbook bounded queue the issue names as a peer: `Mutex<VecDeque>` and two condition
/// variables, notifying on every operation.
struct MutexCondvarQueue {
    items: Mutex<VecDeque<u64>>,
    not_empty: Condvar,
    not_full: Condvar,
    capacity: usize,
}

impl MutexCondvarQueue {
    fn new(capacity: usize) -> Self {
        MutexCondvarQueue {
            items: Mutex::new(VecDeque::with_capacity(capacity)),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            capacity,
        }
    }

    fn put(&self, item: u64) {
        let mut q = self.items.lock().unwrap();
        while q.len() >= self.capacity {
            q = self.not_full.wait(q).unwrap();
        }
        q.push_back(item);
        drop(q);
        self.not_empty.notify_one();
    }

    fn get(&self) -> u64 {
        let mut q = self.items.lock().unwrap();
        loop {
            if let Some(item) = q.pop_front() {
                drop(q);
                self.not_full.notify_one();
                return item;
            }
            q = self.not_empty.wait(q).unwrap();
        }
    }
}

fn queue_mpmc(ctx: &Ctx) -> Vec<Line> {
    let n = ctx.scale(1_000_000, 200_000);
    compare(
        ctx,
        "queue_mpmc",
        n,
        || {
            let q = threadkit::queue::Queue::bounded(CAPACITY);
            mpmc(n, |i| q.put(i).unwrap(), || q.get().unwrap());
        },
        vec![
            Peer::Run(
                "crossbeam-channel",
                Box::new(|| {
                    let (tx, rx) = crossbeam_channel::bounded(CAPACITY);
                    mpmc(n, |i| tx.send(i).unwrap(), || rx.recv().unwrap());
                }),
            ),
            Peer::Run(
                "std-sync-channel",
                Box::new(|| {
                    let (tx, rx) = mpsc::sync_channel(CAPACITY);
                    // std's receiver is single-consumer: the consumers share it behind a lock.
                    let rx = Mutex::new(rx);
                    mpmc(
                        n,
                        |i| tx.send(i).unwrap(),
                        || rx.lock().unwrap().recv().unwrap(),
                    );
                }),
            ),
            Peer::Run(
                "mutex-condvar",
                Box::new(|| {
                    let q = MutexCondvarQueue::new(CAPACITY);
                    mpmc(n, |i| q.put(i), || q.get());
                }),
            ),
        ],
    )
}
