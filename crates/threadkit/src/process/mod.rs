//! Processes (Python's `multiprocessing`): Rust functions in child processes, pipes, queues,
//! shared memory, locks and events that work across processes, and a crash-proof process pool.
//!
//! # Setting up: `init()` first in `main`
//!
//! A child process is this same executable started again (through `/proc/self/exe`, so always
//! the very file the parent runs) with a hidden marker in its environment. The call to
//! [`init`] at the start of `main` notices the marker, runs the function the parent asked for,
//! sends the result back and exits; in the parent it returns at once. By default the program is
//! started again only once, as a fork server that forks every child (see
//! [Start methods](#start-methods)).
//!
//! ```
//! // The first statement of `main`: never returns in a child.
//! threadkit::process::init();
//! // ... the program ...
//! ```
//!
//! A function crosses to the child as its offset from a known function of the executable
//! (the same file maps the same code at the same offsets, whatever the address randomization),
//! checked to lie within the executable; its arguments and result cross serialized with serde
//! (postcard). So the function is a plain `fn` or a closure that captures nothing, and its
//! arguments and result implement `Serialize` and `Deserialize` (several arguments: a tuple).
//!
//! ## In tests
//!
//! A test binary's `main` is libtest's. Put [`enable_test_support!`] at the root of the test
//! file: it defines a test named `threadkit_process_test_child` that calls [`init`], and
//! children are started with that name as libtest's filter. Works with `cargo test` and
//! `cargo nextest run`; doctests call `init()` on their first line.
//!
//! ```ignore
//! threadkit::process::enable_test_support!();
//!
//! #[test]
//! fn runs_in_a_child() {
//!     let mut p = threadkit::process::Process::spawn(|x: u32| x + 1, 1).unwrap();
//!     assert_eq!(p.join(), Ok(2));
//! }
//! ```
//!
//! # Processes
//!
//! [`Process::spawn`] starts `f(args)` in a child; [`Process::join`] returns its result, or a
//! [`ProcessError`]: the panic's message, the signal by name (`SIGKILL`), the exit code.
//! `pid`, `is_alive`, `exitcode`, `terminate`, `kill` and `join_timeout` work as in Python.
//!
//! ```
//! use threadkit::process::{Process, ProcessError};
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! fn fail(why: String) {
//!     panic!("{why}");
//! }
//!
//! threadkit::process::init();
//! let mut p = Process::spawn(square, 7).unwrap();
//! assert_eq!(p.join(), Ok(49));
//! assert!(!p.is_alive());
//!
//! let mut q = Process::spawn(fail, "no luck".to_owned()).unwrap();
//! assert!(matches!(q.join(), Err(ProcessError::Panicked { message, .. }) if message == "no luck"));
//! ```
//!
//! # Start methods
//!
//! As in Python, a [`StartMethod`] says how children are started:
//!
//! - [`StartMethod::ForkServer`] (the default, as Python's on Linux since 3.14): the first child
//!   starts a helper process, this program re-executed into a hidden entry point, which stays
//!   single-threaded and forks a copy of itself for each child. A child then starts in a few
//!   hundred microseconds whatever the size of the program, faster than `fork` + `exec` of
//!   `/bin/true`. Children get the environment, working directory and standard streams the
//!   program had when the helper started. The helper reaps the children and reports their exit
//!   statuses, and ends when this process ends.
//! - [`StartMethod::Spawn`]: every child is the program re-executed, with the parent's
//!   current environment; several times slower to start for a large program.
//!
//! [`set_start_method`] changes the default (or the environment variable
//! `THREADKIT_START_METHOD=spawn`); [`Process::spawn_with`] and
//! [`ProcessPoolBuilder::start_method`] choose for one process or pool. Results, errors, exit
//! codes, signals and handles work the same either way. When the fork server cannot start (no
//! pidfds: Linux before 5.3, or a sandbox), children are started with `Spawn`.
//!
//! ```
//! use threadkit::process::{Process, StartMethod};
//!
//! threadkit::process::init();
//! let mut forked = Process::spawn_with(StartMethod::ForkServer, |x: u32| x * 2, 4).unwrap();
//! let mut spawned = Process::spawn_with(StartMethod::Spawn, |x: u32| x * 3, 4).unwrap();
//! assert_eq!(forked.join(), Ok(8));
//! assert_eq!(spawned.join(), Ok(12));
//! ```
//!
//! # Talking between processes
//!
//! - [`pipe`] gives two [`Connection`]s: a typed, duplex channel with `send`/`recv` and their
//!   timeouts, where the other end closing is [`RecvError::Disconnected`].
//! - [`Queue`] is a FIFO for many producer and consumer processes, with `put`/`get`,
//!   timeouts and an optional `maxsize`, as the thread [`crate::queue`]'s.
//! - [`Lock`] and [`Event`] synchronize processes; [`Value`] and [`Array`] hold numbers in
//!   shared memory with a lock ([`Value::get_lock`]), [`RawValue`] and [`RawArray`] without.
//!
//! All of these are handles that can be sent to a child: as arguments, through a connection,
//! a queue, or to a pool task. Under the hood their file descriptors travel beside the bytes
//! (`SCM_RIGHTS`), and shared memory is a sealed `memfd`: private to the processes that got a
//! handle, and freed when the last one is dropped.
//!
//! ```
//! use threadkit::process::{Process, Queue, Value};
//!
//! fn worker((q, total): (Queue<u64>, Value<u64>)) {
//!     while let Ok(n) = q.get() {
//!         if n == 0 {
//!             break;
//!         }
//!         total.update(|t| t + n);
//!     }
//! }
//!
//! threadkit::process::init();
//! let q = Queue::new().unwrap();
//! let total = Value::new(0u64).unwrap();
//! let mut workers: Vec<_> =
//!     (0..2).map(|_| Process::spawn(worker, (q.clone(), total.clone())).unwrap()).collect();
//! for n in 1..=100 {
//!     q.put(n).unwrap();
//! }
//! q.put(0).unwrap();
//! q.put(0).unwrap();
//! for w in &mut workers {
//!     w.join().unwrap();
//! }
//! assert_eq!(total.get(), 5050);
//! ```
//!
//! # A pool that survives its workers
//!
//! [`ProcessPool`] has the thread pool's shape: `submit` returns a [`Future`], the thread
//! pool's own future type, so [`executor::wait`](crate::executor::wait),
//! [`executor::as_completed`](crate::executor::as_completed) and `.await` take the futures of
//! both pools (as Python's `concurrent.futures.wait` does); `map` and `starmap` return results
//! in input order, each its own `Result`. Each worker has a private
//! socket and a manager thread in the parent, so a worker that dies (a segfault, an abort, the
//! OOM killer, `SIGKILL`) fails only the task it ran, with [`TaskError::Signaled`] naming the
//! signal, and is replaced; a hard per-task timeout kills and replaces the worker the same way
//! ([`TaskError::TimedOut`]). Nothing is shared with a worker that could stay locked or
//! half-written when it dies, which is how Python's pools hang (cpython#96062, pebble#97).
//!
//! ```
//! use std::time::Duration;
//! use threadkit::process::{ProcessPool, TaskError};
//!
//! fn risky(n: u32) -> u32 {
//!     if n == 3 {
//!         std::process::abort();
//!     }
//!     n * 2
//! }
//!
//! threadkit::process::init();
//! let pool = ProcessPool::builder()
//!     .max_workers(2)
//!     .task_timeout(Duration::from_secs(60))
//!     .build()
//!     .unwrap();
//! let out: Vec<_> = pool.map(risky, 0..5).unwrap().collect();
//! assert_eq!(out[2], Ok(4));
//! assert_eq!(out[3], Err(TaskError::Signaled { signal: 6, name: "SIGABRT".into() }));
//! assert_eq!(out[4], Ok(8));
//! ```
//!
//! # Platform
//!
//! Linux: children are started from `/proc/self/exe` (and forked by the fork server, which
//! needs pidfds, Linux 5.3); shared memory is `memfd`; locks, events and bounded queues wait on
//! futexes. A process that dies holding a [`Lock`] leaves it locked
//! (as in Python). Children's standard input is `/dev/null` (as in Python); standard output
//! and error are inherited.

mod call;
mod child;
mod exec;
mod forkserver;
mod handle;
mod lock;
mod pipe;
mod pool;
mod queue;
mod shm;
mod spawn;
mod value;
mod wire;

/// The process pool's futures are the thread pool's: [`executor::Future`](crate::executor::Future)
/// (so [`executor::wait`](crate::executor::wait), [`executor::as_completed`](crate::executor::as_completed)
/// and `.await` take both), and so are their errors.
pub use crate::executor::{Future, TaskError};
#[doc(hidden)]
pub use child::__enable_test_support;
pub use child::{init, is_child, NotInitialized};
pub use forkserver::{get_start_method, set_start_method, StartMethod};
pub use handle::{JoinTimeoutError, Process, ProcessError, SpawnError};
pub use lock::{Event, Lock, LockGuard, ReleaseError};
pub use pipe::{
    pipe, Connection, RecvError, RecvTimeoutError, SendError, SendTimeoutError,
    DEFAULT_MAX_MESSAGE_LEN,
};
pub use pool::{
    cpu_count, BuildError, BuildErrorKind, Builder as ProcessPoolBuilder, MapResults, ProcessPool,
    SubmitError,
};
pub use queue::{GetError, GetTimeoutError, PutError, PutTimeoutError, Queue};
pub use value::{Array, ArrayError, AtomicElement, Element, RawArray, RawValue, Value};

#[doc(hidden)]
#[macro_export]
macro_rules! __threadkit_process_enable_test_support {
    () => {
        /// Tells threadkit, before `main` (libtest's) runs, that this test binary serves as a
        /// `threadkit::process` child (the test below may run after the others, or not at all
        /// under a filter), so that starting children is not refused as a `main` without
        /// `init()`.
        #[used]
        #[cfg_attr(
            any(target_os = "linux", target_os = "android", target_os = "freebsd"),
            unsafe(link_section = ".init_array")
        )]
        static THREADKIT_PROCESS_TEST_SUPPORT: extern "C" fn() = {
            extern "C" fn threadkit_process_test_support() {
                $crate::process::__enable_test_support();
            }
            threadkit_process_test_support
        };

        /// Serves as the entry point of `threadkit::process` children of this test binary.
        #[test]
        fn threadkit_process_test_child() {
            $crate::process::init();
        }
    };
}

/// Lets a test binary (whose `main` is libtest's) serve as a `threadkit::process` child.
///
/// Invoke it once at the root of the integration-test file (or of the crate's unit tests). It
/// defines a test named `threadkit_process_test_child` that calls [`init`]: children are started
/// with that name as libtest's filter, so a child runs only that test, which runs the function
/// the parent asked for. In the parent the test does nothing and passes. Works with `cargo test`
/// and `cargo nextest run`.
///
/// # Examples
///
/// ```ignore
/// // tests/my_processes.rs
/// threadkit::process::enable_test_support!();
///
/// fn double(x: u32) -> u32 { x * 2 }
///
/// #[test]
/// fn doubles_in_a_child() {
///     let mut p = threadkit::process::Process::spawn(double, 21).unwrap();
///     assert_eq!(p.join(), Ok(42));
/// }
/// ```
pub use crate::__threadkit_process_enable_test_support as enable_test_support;
