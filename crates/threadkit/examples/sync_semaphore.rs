// Seed: 001_e760d7e4a4782a84.txt, "Semaphore" demo.
//! Five workers share two scarce resources: at most two work at a time, the others wait at
//! `acquire` until one releases. (5 s of work becomes 300 ms.)

use std::sync::Arc;
use std::time::Duration;
use threadkit::log::debug;
use threadkit::sync::Semaphore;
use threadkit::thread;

fn sema_work(sema: &Semaphore, thread_name: usize, seconds: Duration) {
    debug!("  Thread {thread_name} is attempting to acquire resource.");
    sema.acquire();
    debug!("  Thread {thread_name} is working for {seconds:?}.");
    std::thread::sleep(seconds);
    debug!("  Thread {thread_name} is complete.");
    sema.release();
}

fn main() {
    threadkit::log::init_with(threadkit::log::Level::DEBUG).unwrap();
    let max_resources = 2;
    let sema = Arc::new(Semaphore::new(max_resources));
    let workers = 5;

    debug!("Starting Pool");
    let handles: Vec<_> = (0..workers)
        .map(|i| {
            let sema = Arc::clone(&sema);
            thread::spawn(move || sema_work(&sema, i, Duration::from_millis(300)))
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    debug!("Finishing Pool");

    // The Rust idiom for the same: a permit released when dropped, even on panic.
    {
        let _permit = sema.acquire_permit();
        debug!("Holding one of {max_resources} resources with a Permit");
    }
    assert_eq!(sema.value(), max_resources);
}
