//! # threadkit
//!
//! Python's concurrency toolbox for Rust: `threading`, `queue`, `concurrent.futures` and
//! `multiprocessing`, with Python's names and semantics where they fit Rust, and without a GIL.
//! Misuse that Python reports with an exception is a typed `Err` here; a panic in a thread or a
//! task comes back as a value carrying its message and location (and its backtrace under
//! `RUST_BACKTRACE=1`), reported there once, as Python reports a stored exception: Rust's panic
//! hook does not also print it ([`thread::print_captured_panics`] to have it printed); no timed
//! operation can panic on a huge timeout.
//!
//! This page is a tutorial in six steps. Each module's page goes further, and
//! `docs/python-mapping.md` in the repository maps every Python name to its threadkit name.
//!
//! ## 1. Threads: [`thread`]
//!
//! Threads have names, a daemon flag, and a registry you can ask about (Python's
//! `current_thread`, `enumerate`, `active_count`). A panic comes back from `join` with the
//! thread's name:
//!
//! ```
//! use std::time::Duration;
//! use threadkit::thread::{self, Builder};
//!
//! let t = Builder::new().name("First").spawn(|| (1..=5).sum::<i32>()).unwrap();
//! assert_eq!(t.name(), "First");
//! assert_eq!(t.join().unwrap(), 15);
//!
//! let t = Builder::new().name("doomed").spawn(|| -> i32 { panic!("disk full") }).unwrap();
//! let err = t.join().unwrap_err();
//! assert_eq!((err.name(), err.message()), ("doomed", "disk full"));
//! // "thread 'doomed' panicked at src/main.rs:9:60: disk full"
//! assert!(err.to_string().starts_with("thread 'doomed' panicked at "));
//!
//! assert_eq!(thread::current().name(), thread::main_thread().name());
//! assert!(thread::active_count() >= 1);
//! # let _ = Duration::ZERO;
//! ```
//!
//! A Rust program ends when `main` returns, whatever its threads are doing. Put
//! `let _exit = threadkit::thread::exit_guard();` at the top of `main` to get Python's rule
//! instead: the exit waits for every non-daemon thread, and daemon threads are stopped wherever
//! they are. [`thread::Local`] is `threading.local()`.
//!
//! ## 2. Locks and friends: [`sync`]
//!
//! [`Lock`] carries the data it protects. The guard is Python's `with lock:`; the explicit
//! `acquire()` / `release()` the Python notes use are here too, and a release of an unheld lock
//! is an error, not undefined behaviour:
//!
//! ```
//! use std::time::Duration;
//! use threadkit::Lock;
//!
//! let database = Lock::new(0);
//! std::thread::scope(|s| {
//!     for _ in 0..2 {
//!         s.spawn(|| *database.lock() += 1);
//!     }
//! });
//! assert_eq!(*database.lock(), 2);
//!
//! let lock = Lock::new(());
//! lock.acquire();
//! assert_eq!(lock.acquire_timeout(Duration::from_millis(20)), Ok(false)); // "Gave up waiting"
//! lock.release().unwrap();
//! assert_eq!(lock.release().unwrap_err().to_string(), "release unlocked lock");
//! ```
//!
//! [`RLock`], [`Condition`], [`Semaphore`], [`BoundedSemaphore`], [`Event`], [`Barrier`] and
//! [`Timer`] follow Python's semantics, timeouts and errors included: a barrier that times out,
//! is aborted or reset breaks for every waiter instead of hanging them.
//!
//! ## 3. Queues: [`queue`]
//!
//! One [`Queue`] type is Python's `Queue`, `LifoQueue`, `PriorityQueue` and `SimpleQueue`, with
//! `task_done` / `join` and Python 3.13's `shutdown`. Errors hand the item back:
//!
//! ```
//! use threadkit::Queue;
//!
//! let q = Queue::bounded(10);
//! let consumer = {
//!     let q = q.clone();
//!     std::thread::spawn(move || {
//!         let mut total = 0;
//!         for n in &q {
//!             total += n; // the loop ends when the queue is shut down and drained
//!             q.task_done().unwrap();
//!         }
//!         total
//!     })
//! };
//! for n in 1..=100 {
//!     q.put(n).unwrap();
//! }
//! q.join(); // every item has been handled
//! q.shutdown(false);
//! assert_eq!(consumer.join().unwrap(), 5050);
//! ```
//!
//! ## 4. A thread pool with futures: [`executor`]
//!
//! [`ThreadPool`] is `ThreadPoolExecutor` and `multiprocessing.pool.ThreadPool` in one:
//! `submit` returns a [`executor::Future`]; `wait`, `as_completed`, `map`, `starmap`,
//! `imap_unordered`, `apply_async` and scoped tasks are all there. A failing item never takes
//! the other results with it (the complaint of seed 000 about Python's pool):
//!
//! ```
//! use threadkit::ThreadPool;
//!
//! let pool = ThreadPool::builder().max_workers(3).build().unwrap();
//! let params: Vec<(u32, u32)> = (0..9).map(|i| (i, 10)).collect();
//! let results = pool
//!     .starmap(|i: u32, x: u32| if i == 4 { panic!("task 4 failed") } else { i * x }, params)
//!     .unwrap();
//! assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 8);
//! assert_eq!(results[4].as_ref().unwrap_err().index(), 4);
//! ```
//!
//! ## 5. The batch runner: [`batch`]
//!
//! Seed 000's `EnhancedThreadPool`, done properly: one function over many inputs (a `Vec`, a
//! range, any iterator, streamed in bounded memory), a live progress bar, and a [`batch::Report`]
//! in which every input has exactly one outcome: its value, or a failure tied to the input with
//! its cause (the function's error, a panic's message, a timeout, a cancellation). Retries, halt
//! policies (GNU parallel's `--halt`), Ctrl-C and a resumable SQLite journal are options of the
//! same builder:
//!
//! ```
//! use threadkit::Batch;
//!
//! let report = Batch::new(|n: &u32| if *n == 4 { Err("task 4 failed") } else { Ok(n * n) })
//!     .workers(4)
//!     .progress(false)
//!     .run(0..10u32)
//!     .unwrap();
//! assert_eq!(report.values().count(), 9);
//! let failed: Vec<u64> = report.failures().map(|f| f.index).collect();
//! assert_eq!(failed, [4]);
//! ```
//!
//! ## 6. Processes: [`process`]
//!
//! `multiprocessing` for Rust functions: a child process of the same binary runs a function
//! with serializable arguments; pipes, cross-process queues, shared `Value` / `Array`, and a
//! process pool that survives a crashing worker. See the module page for the one line `main`
//! needs.
//!
//! ## Feature flags
//!
//! * `journal` (on): the batch runner's SQLite journal (rusqlite with bundled SQLite).
//! * `deadlock-detection` (off): record lock order and report deadlocks
//!   ([`sync::deadlock`](crate::sync)).
//! * `postgres` (off): distributed batches on PostgreSQL, a shared queue and journal that
//!   workers on many machines take jobs from (`batch::dist`; docs/distributed.md).
//!
//! ## Logging
//!
//! [`log::init`] installs a `tracing` subscriber whose lines carry the thread name, Python's
//! `%(threadName)s`, the first tool for debugging a race.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub(crate) mod primitive;
/// What the unit tests share.
#[cfg(test)]
pub(crate) mod test_util {
    /// `THREADKIT_STRESS` (default 1, at least 1) scales the rounds of stress tests, as in the
    /// integration tests (`tests/common`).
    pub(crate) fn stress() -> usize {
        std::env::var("THREADKIT_STRESS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1usize)
            .max(1)
    }
}
mod time;
pub(crate) mod unwind;

pub mod batch;
pub mod executor;
pub mod log;
pub mod process;
pub mod progress;
pub mod queue;
pub mod sync;
pub mod thread;

pub use batch::Batch;
pub use executor::ThreadPool;
pub use queue::Queue;
pub use sync::{Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore, Timer};
pub use time::{deadline_after, TimeoutOverflow};

/// The README's code, compiled and run as doctests so that it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
