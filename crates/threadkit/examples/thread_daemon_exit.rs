// Seed: 004_cf939ae0d651d25c.txt, "Threading - without daemon" and "Threading - with daemon".
//! Daemon vs non-daemon threads at the program's exit.
//!
//! Run `cargo run --example thread_daemon_exit` for the non-daemon version: "all done" is
//! logged, then the program waits for the thread, which logs "finishing". Run it with
//! `-- --daemon` for the daemon version: the program exits right after "all done" and the
//! thread is stopped where it is (sleeping), so "finishing" is never logged.
//!
//! Python waits for non-daemon threads at exit (`threading._shutdown`); a Rust program exits
//! when `main` returns, so `threadkit::thread::exit_guard()` at the top of `main` brings
//! Python's rule back.
use std::time::Duration;

use threadkit::thread::{self, Builder};

fn thread_function(name: u32) {
    threadkit::log::info!("Thread {name}\t:\tstarting");
    std::thread::sleep(Duration::from_millis(1000)); // the seed's time.sleep(2), shortened
    threadkit::log::info!("Thread {name}\t:\tfinishing");
}

/// The seed's `if __name__ == "__main__":` block.
pub(crate) fn run(daemon: bool) {
    let _guard = thread::exit_guard();
    // format = "%(asctime)s: %(message)s", datefmt="%H:%M:%S"
    let _ = threadkit::log::Builder::new()
        .level(threadkit::log::Level::INFO)
        .writer(std::io::stdout)
        .init();
    threadkit::log::info!("Main\t\t:\tBefore creating thread");
    let builder = Builder::new().daemon(daemon);
    threadkit::log::info!("Main\t\t:\tBefore running thread");
    let _x = builder
        .spawn(|| thread_function(1))
        .expect("spawn thread_function");
    threadkit::log::info!("Main\t\t:\twait for the thread to finish");
    // x.join()
    threadkit::log::info!("Main\t\t:\tall done");
}

fn main() {
    run(std::env::args().any(|a| a == "--daemon"));
}
