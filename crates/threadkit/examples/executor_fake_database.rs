// Seed: 004_cf939ae0d651d25c.txt, "Multiple Threads - ThreadPoolExecutor", "Race Conditions"
// and "Basic Synchronization Using Lock".
//! The seed's `ThreadPoolExecutor` demos: `executor.map(thread_function, range(3))`, then the
//! `FakeDatabase` whose unlocked update loses an increment (ending value 1), and the fix with
//! a lock (ending value 2). Sleeps are shortened.
//!
//! Run with `cargo run -p threadkit --example executor_fake_database`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use threadkit::executor::ThreadPool;
use threadkit::sync::Lock;

/// `logging.info` with the seed's `%(asctime)s: %(message)s` format.
fn info(msg: impl AsRef<str>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (h, m, s) = ((now / 3600) % 24, (now / 60) % 60, now % 60);
    println!("{h:02}:{m:02}:{s:02}: {}", msg.as_ref());
}

fn thread_function(name: usize) {
    info(format!("Thread {name}: starting"));
    std::thread::sleep(Duration::from_millis(400));
    info(format!("Thread {name}: finishing"));
}

/// The racy database: `value` is read into a local copy, incremented, and written back.
struct FakeDatabase {
    value: AtomicU32,
}

impl FakeDatabase {
    fn update(&self, name: usize) {
        info(format!("Thread {name}: starting update"));
        let mut local_copy = self.value.load(Ordering::SeqCst);
        local_copy += 1;
        std::thread::sleep(Duration::from_millis(100));
        self.value.store(local_copy, Ordering::SeqCst);
        info(format!("Thread {name}: finishing update"));
    }
}

/// The fixed database: the whole read-modify-write holds the lock.
struct LockedDatabase {
    value: Lock<u32>,
}

impl LockedDatabase {
    fn update(&self, name: usize) {
        info(format!("Thread {name}: starting update"));
        {
            let mut value = self.value.lock();
            let mut local_copy = *value;
            local_copy += 1;
            std::thread::sleep(Duration::from_millis(100));
            *value = local_copy;
        }
        info(format!("Thread {name}: finishing update"));
    }
}

fn main() {
    info("Before Thread pool");
    {
        let executor = ThreadPool::builder().max_workers(3).build().unwrap();
        let _ = executor.map(thread_function, 0..3).unwrap();
    }
    info("After Thread pool");

    let database = Arc::new(FakeDatabase {
        value: AtomicU32::new(0),
    });
    info(format!(
        "Testing update. Starting value is {}.",
        database.value.load(Ordering::SeqCst)
    ));
    {
        let executor = ThreadPool::builder().max_workers(2).build().unwrap();
        for index in 0..2 {
            // each of the threads in the pool will call database.update(index)
            let db = database.clone();
            executor.submit(move || db.update(index)).unwrap();
        }
    }
    let racy = database.value.load(Ordering::SeqCst);
    info(format!("Testing update. Ending value is {racy}."));

    let database = Arc::new(LockedDatabase {
        value: Lock::new(0),
    });
    info(format!(
        "Testing update. Starting value is {}.",
        *database.value.lock()
    ));
    {
        let executor = ThreadPool::builder().max_workers(2).build().unwrap();
        for index in 0..2 {
            let db = database.clone();
            executor.submit(move || db.update(index)).unwrap();
        }
    }
    let fixed = *database.value.lock();
    info(format!("Testing update. Ending value is {fixed}."));
    assert_eq!(fixed, 2);
}
