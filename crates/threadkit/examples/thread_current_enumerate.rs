// Seed: 001_e760d7e4a4782a84.txt, "Current Thread", "Thread Count" and "Enumerating Active Threads" demos
// (also 003_51b0639b010488b3.txt, "Threading Module: module level functions").
//! The registry: current thread, active count, enumerate.
//!
//! Python:
//!     print(threading.current_thread().name)
//!     print(threading.active_count())
//!     for thread in threading.enumerate():
//!         print(f'Thread: {thread.name} Id: {thread.ident} Alive: {thread.is_alive()}')
use std::sync::{Arc, Barrier};

use threadkit::thread::{self, Builder};

fn main() {
    let _guard = thread::exit_guard();

    // Current Thread
    println!("{}", thread::current().name());

    // A few background threads, so the registry has something to show (the notebook had
    // IPython's own threads running): two with the default names (Thread-N) and one named for
    // its job. They wait until we have looked.
    let gate = Arc::new(Barrier::new(4));
    for i in 1..=3 {
        let gate = gate.clone();
        let b = Builder::new();
        let b = if i == 3 { b.name("waits-for-main") } else { b };
        b.spawn(move || {
            gate.wait();
        })
        .expect("spawn");
    }

    // Thread Count
    println!("{}", thread::active_count());

    // Enumerating Active Threads
    for t in thread::enumerate() {
        println!(
            "Thread: {} Id: {} Alive: {}",
            t.name(),
            t.ident(),
            t.is_alive()
        );
    }

    // 003: the other module-level functions.
    println!("get_ident: {}", thread::get_ident());
    println!("main_thread: {}", thread::main_thread());
    println!("get_native_id: {:?}", thread::get_native_id());

    gate.wait(); // let the background threads finish; the guard waits for them
}
