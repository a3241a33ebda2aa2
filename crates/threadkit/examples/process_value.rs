// Seed: 000_4e73e19a86130902.txt, "Shared Memory: Value" demo (Value('i'), .value, get_lock, lock=False).
//! A shared integer: set it, increment it under its own lock from the parent and from four
//! child processes, and a lock-free `RawValue` (Python's `Value('i', lock=False)`).
//!
//! Run with `cargo run --example process_value`.

use threadkit::process::{self, Process, RawValue, Value};

fn add_one_hundred(shared_int: Value<i32>) {
    for _ in 0..100 {
        // with shared_int.get_lock(): shared_int.value += 1
        let _guard = shared_int.get_lock().lock();
        shared_int.set(shared_int.get() + 1);
    }
}

fn main() {
    process::init();

    // shared_int = multiprocessing.Value('i')
    let shared_int = Value::new(0i32).expect("shared memory");
    // shared_int.value = 5
    shared_int.set(5);
    println!("shared_int.value = {}", shared_int.get());

    // with shared_int.get_lock(): shared_int.value += 1
    {
        let _guard = shared_int.get_lock().lock();
        shared_int.set(shared_int.get() + 1);
    }
    println!("after += 1 under get_lock(): {}", shared_int.get());

    let mut children: Vec<_> = (0..4)
        .map(|_| Process::spawn(add_one_hundred, shared_int.clone()).expect("spawn"))
        .collect();
    for child in &mut children {
        child.join().expect("child");
    }
    println!("after 4 processes added 100 each: {}", shared_int.get());

    // shared_int = multiprocessing.Value('i', lock=False)
    let raw = RawValue::new(0i32).expect("shared memory");
    raw.set(5);
    raw.fetch_add(1);
    println!("RawValue (lock=False): {}", raw.get());
}
