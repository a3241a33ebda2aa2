// Seed: 002_5b25e44740312f42.txt, "pass data to the target method ... args" demo
// (demo(*args) with args=('Hello') and args=(1,2,3,4,5)) and the sum_fn(*args) exercise.
//! Passing arguments to a thread's target.
//!
//! Python passes `args` as a tuple the target unpacks; in Rust the closure captures the
//! arguments and calls the target with them.
use std::fmt::Debug;

use threadkit::thread::{self, Builder};

/// def demo(*args): print(threading.current_thread().name, ' - ', args)
fn demo<T: Debug>(args: &[T]) {
    println!("{}  -  {:?}", thread::current().name(), args);
}

/// def sum_fn(*args): ... print("The sum is: ", res_sum)
fn sum_fn(args: &[i64]) -> i64 {
    let mut res_sum = 0;
    for val in args {
        res_sum += val;
    }
    println!("The sum is:  {res_sum}");
    res_sum
}

fn main() {
    // args=('Hello'): a string is unpacked into its characters.
    let hello: Vec<char> = "Hello".chars().collect();
    let t1 = Builder::new()
        .name("First")
        .spawn(move || demo(&hello))
        .expect("spawn");
    t1.join().expect("no panic");

    let t2 = Builder::new()
        .name("Second")
        .spawn(|| demo(&[1, 2, 3, 4, 5]))
        .expect("spawn");
    t2.join().expect("no panic");

    let t1 = Builder::new()
        .name("First")
        .spawn(|| sum_fn(&[1, 2, 3, 4, 5]))
        .expect("spawn");
    let t2 = Builder::new()
        .name("Second")
        .spawn(|| sum_fn(&[1, 2, 3]))
        .expect("spawn");
    assert_eq!(t1.join().expect("no panic"), 15);
    assert_eq!(t2.join().expect("no panic"), 6);
}
