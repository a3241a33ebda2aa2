//! Integration tests for the cross-process `threadkit::process::Queue`.
#![cfg(not(loom))]

mod common;

use common::stress;
use std::collections::HashSet;
use std::time::Duration;

use threadkit::process::{Event, GetTimeoutError, Lock, Process, PutTimeoutError, Queue};

threadkit::process::enable_test_support!();

fn produce((q, id, n): (Queue<Option<(u64, u64)>>, u64, u64)) {
    for i in 0..n {
        q.put(Some((id, i))).unwrap();
    }
}

fn consume(q: Queue<Option<(u64, u64)>>) -> Vec<(u64, u64)> {
    let mut got = Vec::new();
    while let Some(item) = q.get().unwrap() {
        got.push(item);
    }
    got
}

#[test]
fn four_producers_four_consumers_lose_nothing() {
    let n = 2_000 * stress::<u64>();
    let q = Queue::new().unwrap();
    let mut consumers: Vec<_> = (0..4)
        .map(|_| Process::spawn(consume, q.clone()).unwrap())
        .collect();
    let mut producers: Vec<_> = (0..4)
        .map(|id| Process::spawn(produce, (q.clone(), id, n)).unwrap())
        .collect();
    for p in &mut producers {
        p.join().unwrap();
    }
    for _ in 0..4 {
        q.put(None).unwrap();
    }
    let mut all = Vec::new();
    let mut per_consumer = Vec::new();
    for c in &mut consumers {
        let got = c.join().unwrap();
        // Each consumer sees each producer's items in order (FIFO).
        for id in 0..4 {
            let seq: Vec<u64> = got
                .iter()
                .filter(|(p, _)| *p == id)
                .map(|(_, i)| *i)
                .collect();
            assert!(seq.windows(2).all(|w| w[0] < w[1]));
        }
        per_consumer.push(got.len());
        all.extend(got);
    }
    assert_eq!(all.len() as u64, 4 * n, "per consumer: {per_consumer:?}");
    let unique: HashSet<_> = all.into_iter().collect();
    assert_eq!(unique.len() as u64, 4 * n);
    assert_eq!(q.qsize(), 0);
    assert!(q.is_empty());
}

fn squares(q: Queue<u64>) {
    let n = q.get().unwrap();
    for i in 1..=n {
        q.put(i * i).unwrap();
    }
}

#[test]
fn squares_through_a_queue_like_the_seed() {
    let q = Queue::new().unwrap();
    q.put(5).unwrap();
    let mut child = Process::spawn(squares, q.clone()).unwrap();
    child.join().unwrap();
    let mut got = Vec::new();
    while !q.is_empty() {
        got.push(q.get().unwrap());
    }
    assert_eq!(got, [1, 4, 9, 16, 25]);
}

fn fill((q, full): (Queue<u32>, Event)) {
    q.put(1).unwrap();
    q.put(2).unwrap();
    full.set();
    // Waits until the parent takes one.
    q.put(3).unwrap();
}

#[test]
fn bounded_queue_blocks_a_producer_process() {
    let q = Queue::bounded(2).unwrap();
    let full = Event::new().unwrap();
    let mut p = Process::spawn(fill, (q.clone(), full.clone())).unwrap();
    assert_eq!(full.wait_timeout(Duration::from_secs(30)), Ok(true));
    assert!(q.is_full());
    assert_eq!(
        q.put_timeout(9, Duration::from_millis(20)),
        Err(PutTimeoutError::Timeout(9))
    );
    assert_eq!(q.get(), Ok(1));
    p.join().unwrap();
    assert_eq!(q.get(), Ok(2));
    assert_eq!(q.get(), Ok(3));
    assert_eq!(q.try_get(), Err(GetTimeoutError::Timeout));
}

#[test]
fn timeouts_and_errors() {
    let q = Queue::<Vec<u8>>::new().unwrap();
    assert_eq!(
        q.get_timeout(Duration::from_millis(10)),
        Err(GetTimeoutError::Timeout)
    );
    assert!(matches!(
        q.get_timeout(Duration::MAX),
        Err(GetTimeoutError::Overflow(_))
    ));
    assert!(
        matches!(q.put_timeout(vec![1], Duration::MAX), Err(PutTimeoutError::Overflow(v, _)) if v == vec![1])
    );
    // Large items go through a memfd: no size limit, no mixing with small ones.
    let large: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    q.put(vec![1]).unwrap();
    q.put(large.clone()).unwrap();
    q.put(vec![2]).unwrap();
    assert_eq!(q.get().unwrap(), [1]);
    assert!(q.get().unwrap() == large, "large item differs");
    assert_eq!(q.get().unwrap(), [2]);
    assert_eq!(q.qsize(), 0);
}

fn locked_put((q, lock, n): (Queue<Lock>, Lock, u32)) -> u32 {
    // Handles travel through queues too.
    q.put(lock).unwrap();
    n
}

#[test]
fn handles_travel_through_a_queue() {
    let q = Queue::new().unwrap();
    let lock = Lock::new().unwrap();
    let mut p = Process::spawn(locked_put, (q.clone(), lock.clone(), 1)).unwrap();
    let back = q.get_timeout(Duration::from_secs(30)).unwrap();
    back.acquire();
    assert!(lock.locked());
    back.release().unwrap();
    assert_eq!(p.join(), Ok(1));
}
