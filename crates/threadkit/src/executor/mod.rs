//! Thread-pool executor: Python's `concurrent.futures.ThreadPoolExecutor` and
//! `multiprocessing.pool.ThreadPool`, with typed results instead of exceptions.
//!
//! # Tutorial
//!
//! A [`ThreadPool`] runs closures on up to `max_workers` threads (default
//! `min(32, cores + 4)`, as Python), started lazily and named `ThreadPoolExecutor-N_i`.
//! [`submit`](ThreadPool::submit) returns a [`Future`], a shared handle to the task's outcome:
//!
//! ```
//! use threadkit::executor::ThreadPool;
//!
//! let pool = ThreadPool::builder().max_workers(4).build().unwrap();
//! let f = pool.submit(|| 6 * 7).unwrap();
//! assert_eq!(f.result(), Ok(42));
//! ```
//!
//! A panic in a task is caught and kept in its future ([`TaskError::Panicked`] with the
//! message); the worker survives. Futures can be cancelled while pending, given done-callbacks,
//! and waited on in groups with [`wait`] / [`as_completed`]. A
//! [`ProcessPool`](crate::process::ProcessPool) returns the same [`Future`] type, so one group
//! may hold futures of both pools (as Python's `concurrent.futures.wait` takes futures of both
//! executors), and `.await` works on either:
//!
//! ```
//! use threadkit::executor::{as_completed, ThreadPool};
//!
//! let pool = ThreadPool::new().unwrap();
//! let urls = ["a", "bb", "ccc"];
//! let futures: Vec<_> = urls.iter().map(|&u| pool.submit(move || u.len()).unwrap()).collect();
//! for (i, f) in as_completed(&futures) {
//!     match f.result() {
//!         Ok(n) => println!("{:?} page is {n} bytes", urls[i]),
//!         Err(e) => println!("{:?} generated an exception: {e}", urls[i]),
//!     }
//! }
//! ```
//!
//! The map family ([`map`](ThreadPool::map), [`map_with`](ThreadPool::map_with),
//! [`imap_unordered`](ThreadPool::imap_unordered), [`starmap`](ThreadPool::starmap),
//! [`map_async`](ThreadPool::map_async), [`starmap_async`](ThreadPool::starmap_async),
//! [`apply_async`](ThreadPool::apply_async)) yields one `Result` per item: a failing item never
//! loses the others' results, and its error carries the item's position.
//!
//! ```
//! use threadkit::executor::ThreadPool;
//!
//! let pool = ThreadPool::builder().max_workers(3).build().unwrap();
//! let params: Vec<(usize, &str)> = (0..5).map(|i| (i, "x")).collect();
//! let results = pool
//!     .starmap(|i: usize, _s: &str| if i == 3 { panic!("bad item") } else { i }, params)
//!     .unwrap();
//! assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 4);
//! assert_eq!(results[3].as_ref().unwrap_err().index(), 3);
//! ```
//!
//! [`scope`](ThreadPool::scope) runs tasks that borrow from the caller's stack, as
//! [`std::thread::scope`] does. Dropping the pool (or [`shutdown`](ThreadPool::shutdown))
//! stops new submissions and waits for the queued work (Python's `with` block);
//! [`shutdown_with`](ThreadPool::shutdown_with) can cancel the queued tasks or not wait.
//!
//! # Waiting inside a worker
//!
//! A task may wait on futures of its own pool. An untimed wait made on a worker thread for a
//! still-pending future of the same pool runs that task inline, so the common case (a task
//! waiting on tasks it submitted) never deadlocks, even with one worker. Timed waits never run
//! tasks inline. See [`Future`] for the exact rule.

mod awaited;
mod future;
mod map;
mod pool;
mod scope;
mod wait;

pub use awaited::Awaited;
#[cfg(loom)]
#[doc(hidden)]
pub use future::{loom_completer, loom_task, LoomCompleter, LoomTask};
pub use future::{Future, InvalidStateError, ResultTimeoutError, TaskError, TryResultError};
pub use map::{
    AsyncResult, ChunkSize, GetTimeoutError, ItemResults, MapItemError, MapOptions,
    MapOptionsError, MapResults, NotReady, TupleFn, Unordered,
};
#[cfg(loom)]
pub use pool::LoomQueue;
pub use pool::{
    BuildError, BuildErrorKind, Builder, PoolHandle, ShutdownOptions, SubmitError, ThreadPool,
};
pub use scope::{Scope, ScopedFuture};
pub use wait::{
    as_completed, as_completed_timeout, wait, wait_timeout, AsCompleted, AsCompletedTimeout,
    ReturnWhen, Waited,
};
