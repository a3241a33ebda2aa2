// Seed: 000_4e73e19a86130902.txt, "Shared Memory: Array" demo (Array('c', b'Hello, World!', lock=lock), .value).
//! A shared character array guarded by an existing lock; a child process rewrites it.
//!
//! Run with `cargo run --example process_array`.

use threadkit::process::{self, Array, Lock, Process};

fn rewrite(shared_string: Array<u8>) {
    let _guard = shared_string.get_lock().lock();
    // shared_string.value = b'new string'
    shared_string.set_value(b"new string").expect("fits");
}

fn main() {
    process::init();

    let lock = Lock::new().expect("shared memory");
    // shared_string = multiprocessing.Array('c', b'Hello, World!', lock=lock)
    let shared_string = Array::from_slice_with_lock(b"Hello, World!", lock).expect("shared memory");
    println!("b'{}'", String::from_utf8_lossy(&shared_string.value()));

    Process::spawn(rewrite, shared_string.clone())
        .expect("spawn")
        .join()
        .expect("child");
    // print(shared_string.value)
    println!("b'{}'", String::from_utf8_lossy(&shared_string.value()));
}
