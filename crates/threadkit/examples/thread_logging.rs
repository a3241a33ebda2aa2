// Seed: 003_51b0639b010488b3.txt, "Debugging" (a formatter with %(threadName)s) and
// "Counter with threading Locks" (format='(%(threadName)-10s) %(message)s'), and
// 001_e760d7e4a4782a84.txt, "Logging" (logging.basicConfig(stream=sys.stdout, level=DEBUG)).
//! Logging with thread names.
//!
//! `threadkit::log` puts the threadkit thread name in every line, which is what makes logs of
//! racing threads readable.
use std::sync::Arc;
use std::time::Duration;

use threadkit::sync::Lock;
use threadkit::thread;

/// class Counter: `self.lock = threading.Lock()` guarding `self.value` (threadkit's `Lock`
/// holds the value it guards).
#[derive(Default)]
struct Counter {
    value: Lock<u32>,
}

impl Counter {
    fn increment(&self) {
        threadkit::log::debug!("Waiting for lock");
        let mut v = self.value.lock(); // released at the end of the scope (Python's finally)
        threadkit::log::debug!("Acquired lock");
        *v += 1;
    }
}

fn worker(c: Arc<Counter>) {
    for i in 0..2u64 {
        // random.random() pauses, shortened and made deterministic
        let pause = 0.05 + 0.03 * ((thread::get_ident() + i) % 3) as f64;
        threadkit::log::debug!("Sleeping {pause:0.02}");
        std::thread::sleep(Duration::from_secs_f64(pause));
        c.increment();
    }
    threadkit::log::debug!("Done");
}

fn main() {
    let _guard = thread::exit_guard();
    threadkit::log::Builder::new()
        .level(threadkit::log::Level::DEBUG)
        .writer(std::io::stdout)
        .init()
        .expect("no other logger installed");
    threadkit::log::debug!("Hello");

    let counter = Arc::new(Counter::default());
    for _ in 0..2 {
        let c = counter.clone();
        thread::Builder::new()
            .target_name("worker")
            .spawn(move || worker(c))
            .expect("spawn");
    }
    threadkit::log::debug!("Waiting for worker threads");
    let main_thread = thread::current();
    for t in thread::enumerate() {
        if t != main_thread {
            t.join().expect("joinable");
        }
    }
    threadkit::log::debug!("Counter: {}", *counter.value.lock());
}
