// Seed: 001_e760d7e4a4782a84.txt, "Barrier" demo.
//! Three workers and the main thread meet at a barrier of four; the main thread goes on only
//! when every worker has completed its work. (5 s of work becomes 500 ms.)

use std::sync::Arc;
use std::time::Duration;
use threadkit::log::debug;
use threadkit::sync::Barrier;
use threadkit::thread::{Builder, Runnable};

/// The seed's `MyThread(threading.Thread)` subclass with its `run` method.
struct MyThread {
    id: usize,
    barrier: Arc<Barrier>,
}

impl Runnable for MyThread {
    type Output = ();
    fn run(self) {
        debug!("  Running Thread {}", self.id);
        std::thread::sleep(Duration::from_millis(500));
        debug!("  Work Completed {}", self.id);
        self.barrier.wait().expect("barrier broken");
    }
}

fn main() {
    threadkit::log::init_with(threadkit::log::Level::DEBUG).unwrap();
    let workers = 3;
    let barrier = Arc::new(Barrier::new(workers + 1).unwrap());

    debug!("Main creating threads");
    let threads: Vec<_> = (0..workers)
        .map(|id| MyThread {
            id,
            barrier: Arc::clone(&barrier),
        })
        .collect();

    debug!("Starting all threads");
    let handles: Vec<_> = threads
        .into_iter()
        .map(|t| Builder::new().spawn_runnable(t).unwrap())
        .collect();

    debug!("Main Waiting for barrier to be reached");
    barrier.wait().unwrap();
    debug!("Main Barrier reached");

    debug!("Joining all threads");
    handles.into_iter().for_each(|h| h.join().unwrap());
}
