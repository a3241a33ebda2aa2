// Seed: 001_e760d7e4a4782a84.txt, "Thread Class" demo (MyThread with run), and
// 002_5b25e44740312f42.txt, "Create a thread by inheritance" (MyThread, the private-method
// MyThread, and the AddThread assignment).
//! A `Thread` subclass with `run()` as a `Runnable` type.
//!
//! Python's `class MyThread(Thread): def run(self): ...` becomes a type implementing
//! `threadkit::thread::Runnable`; `t.start()` is `thread::start(value)` (or
//! `Builder::spawn_runnable` to give a name), `t.join()` is `handle.join()`.
//! (`t1.run = t1.do_something` has no counterpart: the entry point is always `run`, which the
//! seed itself recommends.)
use std::time::Duration;

use threadkit::thread::{self, Builder, Runnable};

/// 001: logs its id when run.
struct MyThread {
    id: u32,
}

impl Runnable for MyThread {
    type Output = ();
    fn run(self) {
        threadkit::log::debug!("  Running Thread {}", self.id);
    }
}

/// 002: prints its name and the process id a few times, through a private helper.
struct PrivateMethodThread;

impl PrivateMethodThread {
    fn do_something(&self) {
        for _ in 0..3 {
            println!(
                "Thread name -  {} : Process id -  {}",
                thread::current().name(),
                std::process::id()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Runnable for PrivateMethodThread {
    type Output = ();
    fn run(self) {
        self.do_something();
    }
}

/// 002: the assignment: a thread that sums its args.
struct AddThread {
    args: Vec<i64>,
}

impl Runnable for AddThread {
    type Output = i64;
    fn run(self) -> i64 {
        let sum = self.args.iter().sum();
        println!("Here is the sum of your passed args:  {sum}");
        sum
    }
}

fn main() {
    threadkit::log::Builder::new()
        .level(threadkit::log::Level::DEBUG)
        .time(false)
        .writer(std::io::stdout)
        .init()
        .expect("no other logger installed");

    // 001
    let thread1 = MyThread { id: 1 };
    threadkit::log::debug!("Starting Thread");
    let handle = thread::start(thread1);
    threadkit::log::debug!("Joining Thread");
    handle.join().expect("MyThread panicked");
    threadkit::log::debug!("Main completed");

    // 002: t1.name = "My private method thread"; t1.start()
    let t1 = Builder::new()
        .name("My private method thread")
        .spawn_runnable(PrivateMethodThread)
        .expect("spawn");
    t1.join().expect("no panic");

    // 002: AddThread with t1.name = "Add thread"; t1.args = [1,2,3,4,5]
    let t1 = Builder::new()
        .name("Add thread")
        .spawn_runnable(AddThread {
            args: vec![1, 2, 3, 4, 5],
        })
        .expect("spawn");
    assert_eq!(t1.join().expect("no panic"), 15);
}
