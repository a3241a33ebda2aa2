// Seed: 001_e760d7e4a4782a84.txt, "Using a Thread Pool", "Passing Multiple Values to Work",
// "Threads & Shared State" and "Synchronizing Access" (ThreadPoolExecutor demos).
//! The seed's `ThreadPoolExecutor` demos: `pool.map(work, range(workers))`, arguments passed as
//! tuples, the shared-state race and its `Lock` fix. Seconds are shortened to tenths.
//!
//! Run with `cargo run -p threadkit --example executor_pool_map`.

use std::time::Duration;
use threadkit::executor::ThreadPool;
use threadkit::sync::Lock;

/// `logging.debug` with the seed's `DEBUG:root:` format.
fn debug(msg: impl AsRef<str>) {
    println!("DEBUG:root:{}", msg.as_ref());
}

/// The seed's `work(thread_name, seconds=5)`.
fn work(thread_name: usize, tenths: u64) {
    debug(format!(
        "  Thread {thread_name} is working for {tenths} tenths of a second."
    ));
    std::thread::sleep(Duration::from_millis(100 * tenths));
    debug(format!("  Thread {thread_name} is complete."));
}

/// The seed's `Shared` class: a value read before and after some work, then incremented.
struct Shared {
    shared: std::sync::atomic::AtomicU32,
}

impl Shared {
    fn get(&self) -> u32 {
        self.shared.load(std::sync::atomic::Ordering::SeqCst)
    }
    fn increment(&self) {
        // A read-modify-write in two steps, like Python's `self.shared += 1`.
        let v = self.get();
        self.shared
            .store(v + 1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn main() {
    let workers = 5;

    // "Using a Thread Pool": the pool joins its threads when it is dropped (the `with` block).
    debug("Starting Pool");
    {
        let pool = ThreadPool::builder().max_workers(workers).build().unwrap();
        // Results are not needed: dropping the iterator does not cancel the tasks, and
        // dropping the pool waits for them.
        let _ = pool.map(|i| work(i, 5), 0..workers).unwrap();
    }
    debug("Finishing Pool");

    // "Passing Multiple Values to Work": each item is a tuple of arguments.
    let tenths = 3;
    debug("Starting Pool");
    {
        let pool = ThreadPool::builder().max_workers(workers).build().unwrap();
        let args = (0..workers).map(|i| (i, tenths));
        pool.starmap(work, args).unwrap();
    }
    debug("Finishing Pool");

    // "Threads & Shared State": without a lock the reads interleave.
    let shared = std::sync::Arc::new(Shared {
        shared: std::sync::atomic::AtomicU32::new(0),
    });
    let update = {
        let shared = shared.clone();
        move |thread_name: usize| {
            let start = shared.get();
            std::thread::sleep(Duration::from_millis(100));
            let end = shared.get();
            let valid = start == end;
            debug(format!(
                "  Thread {thread_name} : Starting {start} Ending {end} ... Valid {}",
                if valid { "True" } else { "False" }
            ));
            shared.increment();
        }
    };
    debug("Starting Pool");
    {
        let pool = ThreadPool::builder().max_workers(workers).build().unwrap();
        // Stagger the starts a little so some threads see another's increment, as in the seed.
        let _ = pool
            .map(
                move |i| {
                    std::thread::sleep(Duration::from_millis(20 * i as u64));
                    update(i)
                },
                0..workers,
            )
            .unwrap();
    }
    debug("Finishing Pool");

    // "Synchronizing Access": the same update under a Lock holding the value.
    let shared = std::sync::Arc::new(Lock::new(0u32));
    debug("Starting Pool");
    {
        let pool = ThreadPool::builder().max_workers(workers).build().unwrap();
        let s = shared.clone();
        let results = pool
            .map(
                move |thread_name: usize| {
                    debug(format!("  Thread {thread_name} : Trying to obtain lock"));
                    let mut value = s.lock();
                    debug(format!("  Thread {thread_name} : Obtained lock"));
                    let start = *value;
                    std::thread::sleep(Duration::from_millis(50));
                    let end = *value;
                    let valid = if start == end { "True" } else { "False" };
                    debug(format!(
                        "  Thread {thread_name} : Starting {start} Ending {end} Valid {valid}"
                    ));
                    *value += 1;
                    debug(format!("  Thread {thread_name} : Releasing lock"));
                },
                0..workers,
            )
            .unwrap();
        // Every item has its own result: none of them failed.
        assert!(results.into_iter().all(|r| r.is_ok()));
    }
    debug("Finishing Pool");
    assert_eq!(*shared.lock(), workers as u32);
}
