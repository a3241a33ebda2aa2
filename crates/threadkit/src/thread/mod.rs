//! Threads with Python's thread model: names, daemon flags, a registry of live threads,
//! joining with a timeout, panics returned as values, per-object thread-local storage, and a
//! panic hook that names the thread.
//!
//! # Starting and joining
//!
//! [`spawn`] starts a closure, like `std::thread::spawn`; [`Builder`] sets a name, the daemon
//! flag and the stack size (Python's `Thread(target=..., name=..., daemon=...)`). The
//! [`JoinHandle`] joins, with or without a timeout, and hands back the value the thread
//! returned, or a [`ThreadPanic`] naming the thread when it panicked:
//!
//! ```
//! use std::time::Duration;
//! use threadkit::thread::{self, Builder};
//!
//! fn work(id: u32, seconds: u64) -> u32 {
//!     std::thread::sleep(Duration::from_millis(seconds));
//!     id
//! }
//!
//! // Python: t = Thread(target=work, args=(1, 10), name="worker-1"); t.start(); t.join()
//! let t = Builder::new().name("worker-1").spawn(|| work(1, 10)).unwrap();
//! assert!(t.is_alive());
//! assert_eq!(t.join().unwrap(), 1);
//!
//! // A panic comes back as a value, with the thread's name.
//! let t = Builder::new().name("doomed").spawn(|| -> u32 { panic!("no disk") }).unwrap();
//! let err = t.join().unwrap_err();
//! assert_eq!(err.message(), "no disk");
//! // Reported once, here, with where it happened (Rust's panic hook keeps quiet about it):
//! // "thread 'doomed' panicked at src/main.rs:12:55: no disk"
//! assert!(err.to_string().starts_with("thread 'doomed' panicked at "));
//!
//! // join with a timeout: the value, or the handle back to wait again.
//! let t = thread::spawn(|| work(2, 50));
//! let t = t.join_timeout(Duration::from_millis(1)).unwrap_err().into_handle().unwrap();
//! assert_eq!(t.join_timeout(Duration::from_secs(10)).unwrap(), 2);
//! ```
//!
//! Unnamed threads are called like Python's: `Thread-N` for a closure, `Thread-N (run)` when
//! the thread runs a plain function `run` (`spawn(run)`) or [`Builder::target_name`] says so,
//! `Thread-N (MyThread)` for a [`Runnable`] type `MyThread`. `N` counts process-wide.
//!
//! # A thread as a type: `Runnable`
//!
//! Python's `Thread` subclass that overrides `run()` becomes a type implementing [`Runnable`],
//! started with [`start`] or [`Builder::spawn_runnable`]:
//!
//! ```
//! use threadkit::thread::{self, Runnable};
//!
//! struct MyThread { id: u32 }
//!
//! impl Runnable for MyThread {
//!     type Output = ();
//!     fn run(self) {
//!         println!("  Running Thread {} as {}", self.id, thread::current().name());
//!     }
//! }
//!
//! thread::start(MyThread { id: 1 }).join().unwrap();
//! ```
//!
//! # The registry
//!
//! [`current`], [`main_thread`], [`enumerate`], [`active_count`], [`get_ident`] and
//! [`get_native_id`] are Python's module functions of the same names. Each returns or lists
//! [`Thread`] values: name, ident, native id, daemon flag, whether it is alive, and a
//! [`Thread::join`] that waits for it. The main thread is called `MainThread` and always
//! counted. A thread threadkit did not start (`std::thread`, another library's pool) is
//! registered as a daemon `Dummy-N` thread when it first calls [`current`], and leaves the
//! registry when it exits.
//!
//! ```
//! use threadkit::thread;
//!
//! println!("{}", thread::current().name()); // MainThread
//! for t in thread::enumerate() {
//!     println!("Thread: {} Id: {} Alive: {}", t.name(), t.ident(), t.is_alive());
//! }
//! assert!(thread::active_count() >= 1);
//! ```
//!
//! # Daemon threads and the end of `main`
//!
//! A Rust program ends when `main` returns, whatever its other threads are doing. Python's
//! ends when the main thread is done *and every non-daemon thread has finished*. To get
//! Python's rule, put `let _guard = threadkit::thread::exit_guard();` (an [`ExitGuard`]) at the
//! top of `main`, or run `main`'s body in [`thread::main`](main()): the exit then waits for every
//! non-daemon threadkit thread (also those started meanwhile), and not for daemon threads,
//! which stop wherever they are when the process exits, without running their destructors.
//! [`wait_for_non_daemon`] does the waiting on demand.
//!
//! A new thread is a daemon when [`Builder::daemon`] says so, otherwise when the thread
//! creating it is one (Python's inheritance rule): threads started from `main` are not.
//!
//! ```
//! use threadkit::thread::{self, Builder};
//!
//! fn main() {
//!     let _guard = thread::exit_guard();
//!     Builder::new().daemon(true).spawn(|| loop { std::thread::park() }).unwrap();
//!     thread::spawn(|| println!("finishing")); // waited for at the end of main
//!     println!("all done");
//! }
//! ```
//!
//! # Thread-local values: `Local<T>`
//!
//! [`Local`] is `threading.local()`: one object, a separate value in every thread, dropped when
//! the thread exits or when the `Local` is dropped.
//!
//! # Panics reported with the thread's name
//!
//! [`install_excepthook`] (Python's `threading.excepthook`) reports each panic as
//! `Exception in thread NAME: MESSAGE (at FILE:LINE:COL)`; [`set_excepthook`] installs your own
//! reporter given an [`ExceptHookArgs`]. For logging with thread names see [`crate::log`].

mod builder;
mod exit;
mod handle;
mod hook;
mod local;
mod registry;

pub use builder::{spawn, start, Builder, Runnable, SpawnError};
pub use exit::{
    exit_guard, main, wait_for_non_daemon, wait_for_non_daemon_timeout, ExitGuard, ExitWaitError,
};
pub use handle::{JoinHandle, JoinTimeoutError, ThreadPanic};
pub use hook::{
    default_excepthook, install_excepthook, print_captured_panics, reset_excepthook,
    set_excepthook, ExceptHookArgs,
};
pub use local::Local;
pub use registry::{
    active_count, current, enumerate, get_ident, get_native_id, main_thread, try_current, Thread,
    ThreadJoinError,
};
