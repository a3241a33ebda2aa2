//! Queues between threads: Python's `queue.Queue`, `LifoQueue`, `PriorityQueue` and
//! `SimpleQueue`, as one type, [`Queue<T>`].
//!
//! # A tour
//!
//! **Kinds.** Pick the order and the bound when you make the queue; `maxsize == 0` means
//! unbounded, as in Python:
//!
//! | Python | threadkit |
//! |---|---|
//! | `queue.Queue()`, `queue.SimpleQueue()` | [`Queue::new()`](Queue::new) |
//! | `queue.Queue(maxsize=10)` | [`Queue::bounded(10)`](Queue::bounded) (or [`Queue::fifo(10)`](Queue::fifo)) |
//! | `queue.LifoQueue(maxsize)` | [`Queue::lifo(maxsize)`](Queue::lifo) |
//! | `queue.PriorityQueue(maxsize)` | [`Queue::priority(maxsize)`](Queue::priority) (smallest first, stable among equals) |
//!
//! **Handles.** A `Queue` is a cheap handle to shared state: [`clone`](Clone::clone) it for
//! each producer and consumer thread.
//!
//! **Putting and getting.** Each comes in three flavours, and the failures are values that hand
//! the item back when there is one:
//!
//! | | waits | never waits | waits at most |
//! |---|---|---|---|
//! | put | [`put`](Queue::put) | [`try_put`](Queue::try_put) (`Full(item)`) | [`put_timeout`](Queue::put_timeout) (`Timeout(item)`) |
//! | get | [`get`](Queue::get) | [`try_get`](Queue::try_get) (`Empty`) | [`get_timeout`](Queue::get_timeout) (`Timeout`) |
//!
//! ```
//! use std::time::Duration;
//! use threadkit::queue::{Queue, TryPutError};
//!
//! let q = Queue::bounded(2);
//! q.put(1).unwrap();
//! q.put(2).unwrap();
//! assert_eq!(q.try_put(3), Err(TryPutError::Full(3))); // the item comes back
//! assert_eq!(q.get_timeout(Duration::from_secs(1)), Ok(1));
//! assert_eq!((q.qsize(), q.is_empty(), q.is_full()), (1, false, false));
//! ```
//!
//! **Task accounting.** Every put adds an unfinished task; a consumer calls
//! [`task_done`](Queue::task_done) after handling an item, and [`join`](Queue::join) waits for
//! the count to reach zero: "wait until all the work I handed out is finished".
//!
//! **Shutdown** (Python 3.13). [`shutdown(false)`](Queue::shutdown) refuses further puts and lets
//! consumers drain what is left; after that their gets fail, so a consumer loop simply ends.
//! [`shutdown(true)`](Queue::shutdown) drops the items left as well (counting them as done, so
//! `join` wakes up). Every thread blocked in a put or get wakes up either way. Iterating
//! (`for item in &queue`) gets until the queue is shut down and drained:
//!
//! ```
//! use threadkit::queue::Queue;
//!
//! let jobs = Queue::bounded(10);
//! let results = Queue::new();
//! let workers: Vec<_> = (0..4)
//!     .map(|_| {
//!         let (jobs, results) = (jobs.clone(), results.clone());
//!         std::thread::spawn(move || {
//!             for n in &jobs {
//!                 results.put(n * n).unwrap();
//!                 jobs.task_done().unwrap();
//!             }
//!         })
//!     })
//!     .collect();
//! for n in 1..=100u64 {
//!     jobs.put(n).unwrap();
//! }
//! jobs.join(); // every job handled
//! jobs.shutdown(false); // the workers' loops end
//! for w in workers {
//!     w.join().unwrap();
//! }
//! assert_eq!(results.try_iter().sum::<u64>(), (1..=100u64).map(|n| n * n).sum::<u64>());
//! ```
//!
//! # How it works
//!
//! A bounded FIFO queue (`Queue::bounded(n)` with `n` up to 4096, the common case between
//! producer and consumer threads) runs on a lock-free ring of slots: Dmitry Vyukov's bounded
//! MPMC queue, laid out as crossbeam-channel's array flavour. A put reserves a slot with one
//! compare-and-swap on the tail position and a get with one on the head, so producers and
//! consumers do not wait for each other's lock. The books cost nothing extra: the number of
//! puts so far is read off the tail position, so the queue only counts tasks *done*, and
//! shutdown is a mark bit in the tail, so a get that finds the ring empty and marked knows no
//! put can still be landing. A thread that finds the ring full (or empty) spins and yields
//! briefly, then sleeps on a condition variable; the other side looks at a count of sleepers
//! after each put or get and takes that lock only when someone sleeps.
//!
//! Every other queue (unbounded, LIFO, priority, or bounded above 4096) is one
//! [`parking_lot`](https://docs.rs/parking_lot) mutex over the items (a `VecDeque`, a `Vec` or
//! a stable binary heap), the task count and the shutdown flag, with three condition variables
//! (not empty, not full, all done), waiter counts so nobody notifies when nobody waits, and the
//! same brief spin before sleeping.
//!
//! Both engines have the same semantics, down to the order of checks (a put to a full queue
//! that is shut down reports the shutdown, as Python does). Under `--cfg loom` the same code
//! runs on loom's atomics, cells, mutex and condition variable (without the spin), which is how
//! `tests/loom_queue.rs` model-checks both. The `threadkit-bench queue_mpmc` comparison
//! measures the ring against crossbeam-channel, std's `sync_channel` and a textbook
//! mutex-and-condvar queue.

mod engine;
mod error;
mod handle;
mod iter;
mod locked;
mod ring;
mod store;

pub use error::{
    GetError, GetTimeoutError, JoinTimeoutError, PutError, PutTimeoutError, TaskDoneError,
    TryGetError, TryPutError,
};
pub use handle::Queue;
pub use iter::{IntoIter, Iter, TryIter};
pub use store::Order;
