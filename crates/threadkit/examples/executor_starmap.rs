// Seed: 000_4e73e19a86130902.txt, "ThreadPool" (starmap with a lock around printing), the
// exception that loses every result, and the EnhancedThreadPool (progress, per-task errors).
//! `multiprocessing.pool.ThreadPool(processes=3).starmap(my_func, params)` over 9 parameter
//! tuples, results in input order; then the same with `idx == 4` failing: Python loses every
//! result and does not say which parameters failed, threadkit keeps the other 8 results and
//! ties the failure to its parameters; then the seed's `EnhancedThreadPool.parralelize`:
//! `starmap_async` polled with `ready()` to draw progress. Sleeps are shortened.
//!
//! Run with `cargo run -p threadkit --example executor_starmap`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use threadkit::executor::ThreadPool;
use threadkit::sync::Lock;

type PrintLock = Arc<Lock<()>>;

/// The seed's `my_func(idx, lock)`: prints three lines under the lock, returns `idx`.
fn my_func(idx: usize, lock: PrintLock) -> usize {
    for i in 0..3 {
        let guard = lock.lock();
        println!("{idx} -> {i}");
        drop(guard);
        std::thread::sleep(Duration::from_millis(60));
    }
    idx
}

/// The failing variant: item 4 raises.
fn my_failing_func(idx: usize, lock: PrintLock) -> usize {
    if idx == 4 {
        panic!("This should have been caught");
    }
    my_func(idx, lock)
}

fn main() {
    // Failing items are reported in their results, once: threadkit keeps Rust's panic hook
    // from printing them as well.
    let lock: PrintLock = Arc::new(Lock::new(()));
    let my_pool = ThreadPool::builder().max_workers(3).build().unwrap();

    // Create nine sets of parameters; results come back in input order.
    let params: Vec<_> = (0..9).map(|idx| (idx, lock.clone())).collect();
    let apply_result: Vec<usize> = my_pool
        .starmap(my_func, params)
        .unwrap()
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    println!("{apply_result:?}");
    assert_eq!(apply_result, (0..9).collect::<Vec<_>>());

    // One item fails. Python's ThreadPool.starmap raises once and every result is lost;
    // here each item keeps its own Result, and the failure names its position.
    let params: Vec<_> = (0..9).map(|idx| (idx, lock.clone())).collect();
    let results = my_pool.starmap(my_failing_func, params).unwrap();
    let shown: Vec<String> = results
        .iter()
        .map(|r| match r {
            Ok(v) => v.to_string(),
            Err(e) => format!("Error({e})"),
        })
        .collect();
    println!("[{}]", shown.join(", "));
    for r in &results {
        if let Err(e) = r {
            println!("parameters ({}, lock) raised: {e}", e.index());
        }
    }
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 8);

    // The EnhancedThreadPool: a progress count of completed operations while starmap_async
    // runs, exceptions captured per task and results in input order.
    let num_ops = 10;
    let completed = Arc::new(AtomicUsize::new(0));
    let pool = ThreadPool::builder().max_workers(4).build().unwrap();
    let done = completed.clone();
    let arg_set: Vec<_> = (0..num_ops).map(|idx| (idx, lock.clone())).collect();
    let apply_result = pool
        .starmap_async(
            move |idx: usize, lock: PrintLock| {
                // The wrapper's `finally`: count the operation whatever happens.
                struct Count(Arc<AtomicUsize>);
                impl Drop for Count {
                    fn drop(&mut self) {
                        self.0.fetch_add(1, Ordering::SeqCst);
                    }
                }
                let _count = Count(done.clone());
                my_failing_func(idx, lock)
            },
            arg_set,
        )
        .unwrap();
    while !apply_result.ready() {
        let n = completed.load(Ordering::SeqCst);
        let guard = lock.lock();
        println!("Completed Ops: {n}/{num_ops}");
        drop(guard);
        let _ = apply_result.wait_timeout(Duration::from_millis(150));
    }
    println!(
        "Completed Ops: {}/{num_ops}",
        completed.load(Ordering::SeqCst)
    );
    println!(" ");
    let results = apply_result.get().unwrap();
    let shown: Vec<String> = results
        .iter()
        .map(|r| match r {
            Ok(v) => v.to_string(),
            Err(e) => format!("EnhancedThreadPoolException({e})"),
        })
        .collect();
    println!("[{}]", shown.join(", "));
    assert_eq!(results.len(), num_ops);
    assert!(results[4].is_err());
}
