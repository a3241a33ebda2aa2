// Seed: 002_5b25e44740312f42.txt, "Sharing data in Multiprocessing through Queue" demo.
//! The parent puts 5 on a cross-process queue; the child gets it and puts the squares of
//! 1..=5; the parent joins the child and prints what is in the queue.
//!
//! Run with `cargo run --example process_queue_squares`.

use threadkit::process::{self, Process, Queue};

// Child process code
fn func(queue: Queue<u64>) {
    let value = queue.get().expect("a number");
    for i in 1..=value {
        queue.put(i * i).expect("put");
    }
}

// Parent process code
fn main() {
    process::init();

    let q = Queue::new().expect("queue");
    q.put(5).expect("put");
    let mut child = Process::spawn(func, q.clone()).expect("spawn");
    child.join().expect("child");

    while !q.is_empty() {
        println!("{}", q.get().expect("item"));
    }
}
