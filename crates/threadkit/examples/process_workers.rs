// Seed: 002_5b25e44740312f42.txt, "multiprocessing" demo (two workers print their pid under a shared Lock; is_alive before and after join).
//! Two worker processes print their process id under a lock shared with the parent.
//!
//! Run with `cargo run --example process_workers`.

use threadkit::process::{self, Lock, Process};

fn worker_1((lock, _n): (Lock, u32)) {
    lock.acquire();
    println!("Worker 1, Process id:  {}", std::process::id());
    lock.release().expect("held");
}

fn worker_2((lock, _n): (Lock, u32)) {
    lock.acquire();
    println!("Worker 2, Process id:  {}", std::process::id());
    lock.release().expect("held");
}

fn main() {
    // First thing in main: lets this executable serve as its own child processes.
    process::init();

    println!("Available processors:  {}", process::cpu_count());
    println!("Main process ID:  {}", std::process::id());

    let lock = Lock::new().expect("shared memory");
    // The workers start in a fraction of a millisecond (the fork server), so they could be
    // done before the first `is_alive`: holding the lock until then makes the demo's
    // "alive before join" certain instead of a race (Python's slower start hides it).
    lock.acquire();
    // `Process::spawn` is Python's `Process(target=..., args=...)` followed by `start()`.
    let mut p1 = Process::spawn(worker_1, (lock.clone(), 10)).expect("spawn");
    let mut p2 = Process::spawn(worker_2, (lock.clone(), 10)).expect("spawn");

    println!("\nBefore Join");
    println!("Worker 1 is alive:  {}", py_bool(p1.is_alive()));
    println!("Worker 2 is alive {}", py_bool(p2.is_alive()));
    lock.release().expect("held");

    p1.join().expect("worker 1");
    println!("Process 1 ID  {}", p1.pid());
    p2.join().expect("worker 2");
    println!("Process 2 ID  {}", p2.pid());

    println!("\nAfter Join");
    println!("Worker 1 is alive:  {}", py_bool(p1.is_alive()));
    println!("Worker 2 is alive:  {}", py_bool(p2.is_alive()));

    println!("End of Main Process");
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}
