// Seed: 002_5b25e44740312f42.txt, "Sharing data in Multiprocessing through Pipe" demo.
//! The parent sends 10 through a pipe; the child answers with the squares of 1..=10.
//!
//! Run with `cargo run --example process_pipe_squares`.

use threadkit::process::{self, pipe, Connection, Process};

// Child process code
fn func(conn: Connection<u64>) {
    let value = conn.recv().expect("a number");
    println!("Child received {value}");
    for i in 1..=value {
        conn.send(&(i * i)).expect("send");
    }
}

// Parent process code
fn main() {
    process::init();

    let (parent_conn, child_conn) = pipe::<u64>().expect("pipe");
    // The child's end moves into the child (the parent's copy is closed after the spawn).
    let mut child = Process::spawn(func, child_conn).expect("spawn");
    let num = 10;
    parent_conn.send(&num).expect("send");
    for _ in 0..num {
        println!("{}", parent_conn.recv().expect("square"));
    }

    child.join().expect("child");
    drop(parent_conn);
    println!("Pipe closed");
}
