// Seed: 001_e760d7e4a4782a84.txt, "Threads & Shared State" and "Synchronizing Access" demos.
//! Five workers read a shared value, "work", read it again and increment it. Without a lock
//! the reads disagree ("Valid false"); with a `Lock` every worker sees a consistent value.
//! (The seed's ThreadPoolExecutor becomes five threadkit threads; 1 s of work becomes 100 ms.)

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use threadkit::log::debug;
use threadkit::sync::Lock;
use threadkit::thread;

const WORK: Duration = Duration::from_millis(100);

/// The seed's `Shared` class without a lock: `get` and `increment` are each atomic, but the
/// read-work-read-increment sequence is not.
#[derive(Default)]
struct Shared {
    shared: AtomicU32,
}

impl Shared {
    fn get(&self) -> u32 {
        self.shared.load(Ordering::SeqCst)
    }
    fn increment(&self) {
        self.shared.fetch_add(1, Ordering::SeqCst);
    }
}

fn update(shared: &Shared, thread_name: usize) {
    let start = shared.get();
    std::thread::sleep(WORK);
    let end = shared.get();
    let valid = start == end;
    debug!("  Thread {thread_name} : Starting {start} Ending {end} ... Valid {valid}");
    shared.increment();
}

/// The fixed version: the lock owns the value, so it cannot be touched without holding it.
fn update_locked(shared: &Lock<u32>, thread_name: usize) {
    debug!("  Thread {thread_name} : Trying to obtain lock");
    let mut value = shared.lock(); // `with shared.lock:`
    debug!("  Thread {thread_name} : Obtained lock");
    let start = *value;
    std::thread::sleep(WORK);
    let end = *value;
    let valid = start == end;
    debug!("  Thread {thread_name} : Starting {start} Ending {end} Valid {valid}");
    *value += 1;
    debug!("  Thread {thread_name} : Releasing lock");
}

fn main() {
    threadkit::log::init_with(threadkit::log::Level::DEBUG).unwrap();
    let workers = 5;

    debug!("Starting Pool");
    let shared = Arc::new(Shared::default());
    let handles: Vec<_> = (0..workers)
        .map(|i| {
            let shared = Arc::clone(&shared);
            thread::spawn(move || update(&shared, i))
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    debug!("Finishing Pool");

    debug!("Starting Pool");
    let shared = Arc::new(Lock::new(0u32));
    let handles: Vec<_> = (0..workers)
        .map(|i| {
            let shared = Arc::clone(&shared);
            thread::spawn(move || update_locked(&shared, i))
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    debug!("Finishing Pool");
    assert_eq!(*shared.lock(), workers as u32);
}
