// Seed: 002_5b25e44740312f42.txt, "Daemon Threads" (daemon_demo.py): a daemon thread prints
// forever; the program still ends when main's loop is done, because the daemon thread is not
// waited for (it is stopped wherever it is when the process exits).
//! A daemon thread that never ends does not keep the program alive.
use std::time::Duration;

use threadkit::thread::{self, Builder};

fn daemon_task(args: &[&str]) {
    loop {
        println!("{}", args[0]);
        std::thread::sleep(Duration::from_millis(100)); // time.sleep(1), shortened
    }
}

/// The body of daemon_demo.py.
pub(crate) fn run() {
    let _guard = thread::exit_guard(); // waits for non-daemon threads only
    let _t1 = Builder::new()
        .daemon(true)
        .spawn(|| daemon_task(&["This is daemon"]))
        .expect("spawn daemon_task");
    for i in 0..10 {
        println!("\tThis is main -  {i}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn main() {
    run();
}
