// Seed: 001_e760d7e4a4782a84.txt, "Creating Multiple Worker Threads" demo, and
// 004_cf939ae0d651d25c.txt, "Multiple Threads - Manual Handeling" (create, start, then join
// each in turn), and 003_51b0639b010488b3.txt's way of joining: every thread in
// threading.enumerate() except the main one.
//! Many worker threads, joined one by one.
use std::time::Duration;

use threadkit::thread::{self, Builder};

fn work(thread_name: u32, millis: u64) {
    threadkit::log::debug!("  Thread {thread_name} is working for {millis} ms.");
    std::thread::sleep(Duration::from_millis(millis));
    threadkit::log::debug!("  Thread {thread_name} is complete.");
}

fn thread_function(name: u32) {
    threadkit::log::info!("Thread {name}: starting");
    std::thread::sleep(Duration::from_millis(300));
    threadkit::log::info!("Thread {name}: finishing");
}

fn main() {
    threadkit::log::Builder::new()
        .level(threadkit::log::Level::DEBUG)
        .writer(std::io::stdout)
        .init()
        .expect("no other logger installed");

    // 001: threads = [Thread(target=work, args=(x, 10)) for x in range(10)]
    threadkit::log::debug!("Main creating threads");
    threadkit::log::debug!("Starting all threads");
    let threads: Vec<_> = (0..10)
        .map(|x| {
            Builder::new()
                .target_name("work")
                .spawn(move || work(x, 200))
                .expect("spawn")
        })
        .collect();
    threadkit::log::debug!("Waiting for all threads to complete");
    for t in threads {
        t.join().expect("work panicked");
    }
    threadkit::log::debug!("Main finished");

    // 004: manual handling.
    let mut threads = Vec::new();
    for index in 0..3 {
        threadkit::log::info!("Main    : create and start thread {index}.");
        let x = Builder::new()
            .target_name("thread_function")
            .spawn(move || thread_function(index))
            .expect("spawn");
        threads.push(x);
    }
    for (index, thread) in threads.into_iter().enumerate() {
        threadkit::log::info!("Main    : before joining thread {index}");
        thread.join().expect("thread_function panicked");
        threadkit::log::info!("Main    : thread {index} done");
    }

    // 003: start workers without keeping handles, then join all but the main thread.
    for i in 0..2 {
        thread::spawn(move || work(i, 100));
    }
    threadkit::log::debug!("Waiting for worker threads");
    let main_thread = thread::current();
    for t in thread::enumerate() {
        if t != main_thread && !t.is_dummy() {
            t.join().expect("joinable");
        }
    }
    threadkit::log::debug!("All workers done");
}
