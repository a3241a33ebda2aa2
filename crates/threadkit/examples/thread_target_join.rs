// Seed: 001_e760d7e4a4782a84.txt, "Threads & Functions: Creating & Joining a Thread" demo, and
// 002_5b25e44740312f42.txt, "Creating new Threads" (target=run, then join() with is_alive()
// before and after, the two named threads First-Thread / Second-Thread, and the thread that
// outlives the main thread's "Main thread exit").
//! A target function, join, and is_alive before and after; and seed 002's point that the main
//! thread can finish first: a thread it does not join goes on after `main`'s last line, and
//! (not being a daemon) keeps the program alive until it ends.
use std::sync::Arc;
use std::time::Duration;

use threadkit::sync::Event;
use threadkit::thread::{self, Builder};

/// 001: work(thread_name, seconds) (seconds shortened to tenths).
fn work(thread_name: u32, tenths: u64) {
    threadkit::log::debug!("  Thread {thread_name} is working for {tenths} tenths of a second.");
    std::thread::sleep(Duration::from_millis(tenths * 100));
    threadkit::log::debug!("  Thread {thread_name} is complete.");
}

/// 002: run() prints the thread's name and the process id.
fn run() {
    for _ in 0..3 {
        println!(
            "Thread name -  {}  - Process id  {}",
            thread::current().name(),
            std::process::id()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn main() {
    // Python's exit waits for non-daemon threads; this guard does the same when main returns.
    let _guard = thread::exit_guard();
    threadkit::log::Builder::new()
        .level(threadkit::log::Level::DEBUG)
        .time(false)
        .writer(std::io::stdout)
        .init()
        .expect("no other logger installed");

    // 001: t = threading.Thread(target=work, args=(1,10)); t.start(); t.join()
    threadkit::log::debug!("Main creating thread");
    let t = Builder::new()
        .target_name("work")
        .spawn(|| work(1, 3))
        .expect("spawn");
    threadkit::log::debug!("Starting thread");
    threadkit::log::debug!("Waiting to complete");
    t.join().expect("work panicked");
    threadkit::log::debug!("Main finished");

    // 002: print("Program enter"); os.getpid(); current_thread().name
    println!("Program enter");
    println!("Process id -  {}", std::process::id());
    println!("Current thread name:  {}", thread::current().name());

    // 002: t1 = threading.Thread(target=run); named "Thread-N (run)" like Python's.
    println!("Main thread enter - Process id -  {}", std::process::id());
    let t1 = thread::spawn(run);
    t1.join().expect("run panicked");
    println!("Main thread exit");

    // 002: name="join-portion-thread", is_alive() before and after join().
    let t1 = Builder::new()
        .name("join-portion-thread")
        .spawn(run)
        .expect("spawn");
    println!("{} is alive - {}", t1.name(), capitalize(t1.is_alive()));
    let info = t1.thread().clone();
    t1.join().expect("run panicked");
    println!("{} is alive - {}", info.name(), capitalize(info.is_alive()));
    println!("Main thread exit");

    // 002: two named threads running the same function at the same time.
    let t1 = Builder::new()
        .name("First-Thread")
        .spawn(run)
        .expect("spawn");
    let t2 = Builder::new()
        .name("Second-Thread")
        .spawn(run)
        .expect("spawn");
    t1.join().expect("no panic");
    t2.join().expect("no panic");

    // 002: t1.start(); print("Main thread exit") without join(): the main thread finishes
    // first. (The thread waits for main's last line, where the seed's thread slept a second.)
    println!("Main thread enter - Process id -  {}", std::process::id());
    let main_done = Arc::new(Event::new());
    let _not_joined = {
        let main_done = main_done.clone();
        // Named "Thread-N (run)" as Python names a thread by its target.
        Builder::new().target_name("run").spawn(move || {
            main_done.wait();
            run();
            println!(
                "{} ends after main's last line: a non-daemon thread keeps the program alive",
                thread::current().name()
            );
        })
    }
    .expect("spawn");
    println!("Main thread exit");
    println!("Program exit");
    main_done.set();
    // main returns here; the exit guard waits for the thread (a daemon thread would be cut off).
}

/// Python prints booleans as True / False.
fn capitalize(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}
