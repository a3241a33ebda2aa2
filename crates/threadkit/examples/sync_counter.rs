// Seed: 003_51b0639b010488b3.txt, "Counter with threading Locks".
//! Two workers each increment a shared counter twice after a random pause, taking the lock
//! with explicit `acquire()` / `release()` as the seed's try/finally does.

use std::sync::Arc;
use std::time::Duration;
use threadkit::log::debug;
use threadkit::sync::Lock;
use threadkit::thread;

struct Counter {
    lock: Lock<()>,
    value: std::sync::atomic::AtomicU64,
}

impl Counter {
    fn new(start: u64) -> Counter {
        Counter {
            lock: Lock::new(()),
            value: start.into(),
        }
    }

    fn increment(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        debug!("Waiting for lock");
        self.lock.acquire();
        // try/finally: a guard-free acquire is paired with release on every path below.
        debug!("Acquired lock");
        let v = self.value.load(Relaxed);
        self.value.store(v + 1, Relaxed);
        self.lock.release().expect("acquired above");
    }
}

/// A small pseudo-random pause in [0, 1) seconds (scaled down 4x to keep the demo short).
fn random_pause(seed: &mut u64) -> f64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    (*seed % 1000) as f64 / 1000.0
}

fn worker(c: &Counter) {
    let mut seed = thread::get_ident() ^ 0x9E37_79B9_7F4A_7C15;
    for _ in 0..2 {
        let pause = random_pause(&mut seed);
        debug!("Sleeping {pause:.2}");
        std::thread::sleep(Duration::from_secs_f64(pause / 4.0));
        c.increment();
    }
    debug!("Done");
}

fn main() {
    threadkit::log::init_with(threadkit::log::Level::DEBUG).unwrap();
    let counter = Arc::new(Counter::new(0));
    for _ in 0..2 {
        let c = Arc::clone(&counter);
        thread::spawn(move || worker(&c));
    }
    debug!("Waiting for worker threads");
    let main_thread = thread::current();
    for t in thread::enumerate() {
        if t.ident() != main_thread.ident() {
            t.join().unwrap();
        }
    }
    let value = counter.value.load(std::sync::atomic::Ordering::Relaxed);
    debug!("Counter: {value}");
    assert_eq!(value, 4);
}
