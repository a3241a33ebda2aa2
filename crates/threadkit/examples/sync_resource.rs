// Seed: 002_5b25e44740312f42.txt, "Resource" race and its lock (threads "First" and "Second").
//! Two named threads bump `data` and print it after a simulated context switch. Without a
//! lock both print 2; with `lock.acquire()` / `lock.release()` around the work they print 1
//! then 2.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use threadkit::sync::Lock;
use threadkit::thread::{self, Builder};

#[derive(Default)]
struct Resource {
    data: AtomicU32,
    lock: Lock<()>, // "The lock must be created for the resource"
}

impl Resource {
    fn do_something_unlocked(&self) {
        self.data.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(200));
        println!(
            "The current thread name is {}, and the value of data: {}\n",
            thread::current().name(),
            self.data.load(Ordering::SeqCst)
        );
    }

    fn do_something(&self) {
        self.lock.acquire(); // held until the job is done: the Mutex (Mutually Exclusive)
        self.data.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(200));
        println!(
            "The current thread name is {}, and the value of data: {}\n",
            thread::current().name(),
            self.data.load(Ordering::SeqCst)
        );
        self.lock.release().expect("acquired above"); // once the job is done, release
    }
}

fn run(locked: bool) {
    let resource = Arc::new(Resource::default());
    let handles: Vec<_> = ["First", "Second"]
        .into_iter()
        .map(|name| {
            let r = Arc::clone(&resource);
            Builder::new()
                .name(name)
                .spawn(move || {
                    if locked {
                        r.do_something()
                    } else {
                        r.do_something_unlocked()
                    }
                })
                .unwrap()
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
}

fn main() {
    println!("# Without Lock, all threads can access the resource at the same time");
    run(false);
    println!("# With lock, only one thread can access the resource at once");
    run(true);
}
