//! The errors of the [`Future`] API: [`TaskError`] (why a task produced no value, for both
//! pools and for a process), [`ResultTimeoutError`], [`TryResultError`] and
//! [`InvalidStateError`].

use crate::time::TimeoutOverflow;
use crate::unwind;
use std::fmt;
use std::time::Duration;

#[cfg(doc)]
use super::Future;

/// Why a task produced no value: the error side of [`Future::result`], for tasks of a
/// [`ThreadPool`](crate::executor::ThreadPool) and of a
/// [`ProcessPool`](crate::process::ProcessPool) alike, and how a
/// [`Process`](crate::process::Process) ended without a result (the same enum
/// is [`process::ProcessError`](crate::process::ProcessError) and
/// [`process::TaskError`](crate::process::TaskError)).
///
/// Python raises the task's own exception from `result()`, `CancelledError` for a cancelled
/// future and `BrokenThreadPool` / `BrokenProcessPool` when a worker's initializer failed;
/// threadkit returns them as values. The variants from [`Signaled`](TaskError::Signaled) on
/// come only from tasks that ran in another process.
///
/// # Examples
///
/// ```
/// use threadkit::executor::{TaskError, ThreadPool};
///
/// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
/// let f = pool.submit(|| -> u32 { panic!("boom") }).unwrap();
/// match f.result() {
///     Err(TaskError::Panicked { message, location, .. }) => {
///         assert_eq!(message, "boom");
///         assert!(location.unwrap().contains(".rs:")); // where it panicked
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskError {
    /// The task panicked (Python: the task raised), in this process or in a child. The panic
    /// message is kept, with where it happened and its backtrace when `RUST_BACKTRACE` asks for
    /// one: this is the panic's one report (Rust's panic hook does not print it as well; see
    /// [`thread::print_captured_panics`](crate::thread::print_captured_panics)).
    Panicked {
        /// The panic's message (`panic!`'s string, or a placeholder for other payloads).
        message: String,
        /// Where: `file:line:column` (`None` when the program's own panic hook replaced
        /// threadkit's).
        location: Option<String>,
        /// The backtrace, as Rust prints it, when `RUST_BACKTRACE` (or `RUST_LIB_BACKTRACE`)
        /// is `1` or `full`.
        backtrace: Option<String>,
    },
    /// The future was cancelled before it started (Python's `CancelledError`).
    Cancelled,
    /// The pool was broken by a failing worker initializer before the task could run
    /// (Python's `BrokenThreadPool`, `BrokenProcessPool`).
    BrokenPool {
        /// What the initializer's failure said.
        reason: String,
    },
    /// The value was already moved out by [`Future::into_result`] through another clone of
    /// this future (or by an earlier `join` of a [`Process`](crate::process::Process)).
    ResultTaken,
    /// The future was failed by [`Future::set_exception`] (an adapter's or a test's error;
    /// Python: an exception set with `set_exception`).
    Failed {
        /// What the error said.
        message: String,
    },
    /// The process running the task was killed by a signal (a crash, `SIGKILL`, the OOM
    /// killer; Python's negative `exitcode`). A pool replaces the worker.
    Signaled {
        /// The signal's number.
        signal: i32,
        /// The signal's name, as `"SIGKILL"`.
        name: String,
    },
    /// The process running the task exited with this code before sending a result (the
    /// function called `std::process::exit`, for instance). A pool replaces the worker.
    Exited {
        /// The exit code.
        code: i32,
    },
    /// The child process exited with code 0 without ever serving: the executable's `main`
    /// does not call [`process::init`](crate::process::init) first (in tests: no
    /// [`enable_test_support!`](crate::process::enable_test_support) at the root of the test
    /// file).
    NotServed,
    /// The task ran past its hard timeout; its worker process was killed and replaced.
    TimedOut {
        /// The timeout.
        timeout: Duration,
    },
    /// The arguments or the result could not be serialized or deserialized.
    Serialization {
        /// What the serializer said.
        message: String,
    },
    /// The process pool was terminated while the task ran.
    Terminated,
    /// Starting the worker process or talking to it failed.
    Io {
        /// The error's text.
        message: String,
    },
}

impl TaskError {
    /// The error of a task whose panic (with this payload) was just caught on this thread.
    pub(crate) fn panicked(payload: &(dyn std::any::Any + Send)) -> TaskError {
        let origin = unwind::take_origin();
        TaskError::Panicked {
            message: unwind::payload_message(payload),
            location: origin.location,
            backtrace: origin.backtrace,
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Panicked {
                message,
                location: Some(at),
                ..
            } => write!(f, "task panicked at {at}: {message}"),
            TaskError::Panicked { message, .. } => write!(f, "task panicked: {message}"),
            TaskError::Cancelled => f.write_str("the future was cancelled"),
            TaskError::BrokenPool { reason } => write!(
                f,
                "A worker initializer failed, the pool is not usable anymore ({reason})"
            ),
            TaskError::ResultTaken => {
                f.write_str("the result was already taken by Future::into_result")
            }
            TaskError::Failed { message } => write!(f, "task failed: {message}"),
            TaskError::Signaled { signal, name } => write!(
                f,
                "the process running the task was killed by {name} (signal {signal})"
            ),
            TaskError::Exited { code } => write!(
                f,
                "the process running the task exited with code {code} without a result"
            ),
            TaskError::NotServed => f.write_str(
                "the child process exited without running the function: call \
                 threadkit::process::init() first in main (in tests: \
                 threadkit::process::enable_test_support!() at the root of the test file)",
            ),
            TaskError::TimedOut { timeout } => write!(
                f,
                "the task ran past its hard timeout of {timeout:?}; its worker was killed"
            ),
            TaskError::Serialization { message } => write!(f, "serialization failed: {message}"),
            TaskError::Terminated => f.write_str("the pool was terminated while the task ran"),
            TaskError::Io { message } => {
                write!(f, "I/O error with the process running the task: {message}")
            }
        }
    }
}

impl std::error::Error for TaskError {}

/// The error of [`Future::result_timeout`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::executor::{ResultTimeoutError, ThreadPool};
///
/// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let f = pool.submit(move || rx.recv().unwrap()).unwrap();
/// assert_eq!(f.result_timeout(Duration::from_millis(10)), Err(ResultTimeoutError::Timeout));
/// tx.send(()).unwrap();
/// assert_eq!(f.result_timeout(Duration::from_secs(10)), Ok(()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResultTimeoutError {
    /// The task did not finish in time (Python's `TimeoutError`); the future is unchanged.
    Timeout,
    /// The timeout was too large to compute a deadline.
    TimeoutOverflow(TimeoutOverflow),
    /// The task finished without a value.
    Task(TaskError),
}

impl fmt::Display for ResultTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResultTimeoutError::Timeout => f.write_str("timed out waiting for the future's result"),
            ResultTimeoutError::TimeoutOverflow(e) => e.fmt(f),
            ResultTimeoutError::Task(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ResultTimeoutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ResultTimeoutError::Timeout => None,
            ResultTimeoutError::TimeoutOverflow(e) => Some(e),
            ResultTimeoutError::Task(e) => Some(e),
        }
    }
}

/// The error of [`Future::try_result`].
///
/// # Examples
///
/// ```
/// use threadkit::executor::{ThreadPool, TryResultError};
///
/// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let f = pool.submit(move || rx.recv().unwrap()).unwrap();
/// assert_eq!(f.try_result(), Err(TryResultError::NotDone));
/// tx.send(()).unwrap();
/// f.wait();
/// assert_eq!(f.try_result(), Ok(()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryResultError {
    /// The task is pending or running.
    NotDone,
    /// The task finished without a value.
    Task(TaskError),
}

impl fmt::Display for TryResultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryResultError::NotDone => f.write_str("the future is not done yet"),
            TryResultError::Task(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for TryResultError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TryResultError::NotDone => None,
            TryResultError::Task(e) => Some(e),
        }
    }
}

/// Error of [`Future::set_result`] and [`Future::set_exception`]: the future is already
/// running, done or cancelled (Python's `InvalidStateError`). Hands the value back.
///
/// # Examples
///
/// ```
/// let fut = threadkit::executor::Future::new();
/// assert!(fut.cancel());
/// let err = fut.set_result(1).unwrap_err();
/// assert_eq!(err.to_string(), "the future is already running, done or cancelled");
/// assert_eq!(err.into_inner(), 1);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct InvalidStateError<V>(pub V);

impl<V> InvalidStateError<V> {
    /// The value that was not set.
    ///
    /// # Examples
    ///
    /// See [`InvalidStateError`].
    pub fn into_inner(self) -> V {
        self.0
    }
}

impl<V> fmt::Debug for InvalidStateError<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvalidStateError(..)")
    }
}

impl<V> fmt::Display for InvalidStateError<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the future is already running, done or cancelled")
    }
}

impl<V> std::error::Error for InvalidStateError<V> {}
