// Seed: 003_51b0639b010488b3.txt, "thread local data" (mydata = threading.local();
// mydata.some_attr = 1), and 000_4e73e19a86130902.txt, "local" (thread_local_data.x = 5,
// .y = 6, printed per thread).
//! Per-thread attributes with `Local<T>` (threading.local).
use std::sync::Arc;

use threadkit::thread::{self, Local};

/// The attributes a thread sets on its threading.local().
#[derive(Debug, Default, Clone)]
struct Data {
    x: i32,
    y: i32,
}

fn main() {
    let thread_local_data: Arc<Local<Data>> = Arc::new(Local::default());

    // thread_local_data.x = 5; thread_local_data.y = 6 in the main thread.
    thread_local_data.with_mut(|d| {
        d.x = 5;
        d.y = 6;
    });
    let d = thread_local_data.get();
    println!("{} {}", d.x, d.y);

    // Each thread sets and sees its own attributes.
    let handles: Vec<_> = (1..=3)
        .map(|i| {
            let data = thread_local_data.clone();
            thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || {
                    let before = data.get();
                    data.with_mut(|d| {
                        d.x = i * 10;
                        d.y = i * 10 + 1;
                    });
                    let after = data.get();
                    println!(
                        "{}: before {} {}, after {} {}",
                        thread::current().name(),
                        before.x,
                        before.y,
                        after.x,
                        after.y
                    );
                })
                .expect("spawn")
        })
        .collect();
    for h in handles {
        h.join().expect("no panic");
    }

    // The main thread's values are untouched.
    let d = thread_local_data.get();
    println!("{} {}", d.x, d.y);
}
