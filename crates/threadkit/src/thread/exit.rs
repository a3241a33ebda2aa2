//! Python's exit rule: the program waits for non-daemon threads, not for daemon ones.

use std::time::Duration;

use super::registry;
use crate::time::TimeoutOverflow;

/// Makes the end of `main` wait for every live non-daemon threadkit thread, as Python's
/// interpreter does at exit (`threading._shutdown`). Create it with [`exit_guard`] as the
/// first line of `main`.
///
/// Rust ends the process as soon as `main` returns, whatever other threads are doing. While an
/// `ExitGuard` lives, nothing changes; when it is dropped (at the end of `main`, or while a
/// panic unwinds out of it) it calls [`wait_for_non_daemon`]: it waits until no non-daemon
/// thread started through [`threadkit::thread`](super) is alive, including threads that those
/// threads start in the meantime. Then `main` returns and the process exits.
///
/// **Daemon threads at exit.** Threads marked [`daemon(true)`](super::Builder::daemon) are not
/// waited for. When the process exits they simply stop wherever they are, in the middle of any
/// statement: no code of theirs runs any more, their destructors and thread-local destructors do
/// not run, locks they hold are never released, output they had not flushed is lost. Give them
/// only work that may be abandoned at any point (Python's rule for daemon threads). Threads
/// started with `std::thread` are not known to threadkit and are treated like daemon threads.
///
/// `std::process::exit` (like Python's `os._exit`) skips the guard: nothing is waited for.
///
/// # Examples
///
/// ```
/// use threadkit::thread;
///
/// fn main() {
///     let _guard = thread::exit_guard();
///     thread::spawn(|| println!("runs to the end, even though main returns first"));
///     thread::Builder::new()
///         .daemon(true)
///         .spawn(|| loop { std::thread::park() })
///         .unwrap(); // never waited for
/// } // <- waits here for the first thread only
/// ```
#[derive(Debug)]
#[must_use = "the guard waits when it is dropped; bind it with `let _guard = ...`"]
pub struct ExitGuard {
    _private: (),
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        wait_for_non_daemon();
    }
}

/// Returns an [`ExitGuard`]: `let _guard = threadkit::thread::exit_guard();` at the top of
/// `main` makes the program's exit wait for non-daemon threads, as in Python.
///
/// # Examples
///
/// ```
/// let _guard = threadkit::thread::exit_guard();
/// threadkit::thread::spawn(|| ());
/// // dropping `_guard` waits for the thread
/// ```
pub fn exit_guard() -> ExitGuard {
    ExitGuard { _private: () }
}

/// Runs `body`, then waits for every live non-daemon threadkit thread (also when `body`
/// panics), and returns what `body` returned: the entry-point form of [`ExitGuard`].
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
///
/// let done = Arc::new(AtomicBool::new(false));
/// let d = done.clone();
/// threadkit::thread::main(move || {
///     threadkit::thread::spawn(move || d.store(true, Ordering::SeqCst));
/// });
/// assert!(done.load(Ordering::SeqCst));
/// ```
pub fn main<R>(body: impl FnOnce() -> R) -> R {
    let _guard = exit_guard();
    body()
}

/// Waits until no non-daemon thread started by threadkit is alive, other than the caller
/// itself (Python's `threading._shutdown()`, without ending anything).
///
/// Threads started while it waits, by threads it waits for, are waited for too: a thread is
/// counted from the moment `spawn` returns until it has finished.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use threadkit::thread;
///
/// let n = Arc::new(AtomicUsize::new(0));
/// for _ in 0..3 {
///     let n = n.clone();
///     thread::Builder::new().daemon(false).spawn(move || { n.fetch_add(1, Ordering::SeqCst); }).unwrap();
/// }
/// thread::wait_for_non_daemon();
/// assert_eq!(n.load(Ordering::SeqCst), 3);
/// ```
pub fn wait_for_non_daemon() {
    registry::wait_non_daemon(None);
}

/// [`wait_for_non_daemon`] with a limit: waits at most `timeout`.
///
/// # Errors
///
/// [`ExitWaitError::Timeout`] with the number of non-daemon threads still running when the
/// time ran out; [`ExitWaitError::Overflow`] when `timeout` is too large for the clock.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::thread::{self, ExitWaitError};
///
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let h = thread::Builder::new().daemon(false).spawn(move || rx.recv().ok()).unwrap();
/// let r = thread::wait_for_non_daemon_timeout(Duration::from_millis(20));
/// assert!(matches!(r, Err(ExitWaitError::Timeout { running }) if running >= 1));
/// drop(tx);
/// h.join().unwrap();
/// ```
pub fn wait_for_non_daemon_timeout(timeout: Duration) -> Result<(), ExitWaitError> {
    let deadline = crate::time::deadline_after(timeout).map_err(ExitWaitError::Overflow)?;
    if registry::wait_non_daemon(Some(deadline)) {
        Ok(())
    } else {
        Err(ExitWaitError::Timeout {
            running: registry::non_daemon_count(),
        })
    }
}

/// Why [`wait_for_non_daemon_timeout`] returned early.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::thread::ExitWaitError;
///
/// let err = threadkit::thread::wait_for_non_daemon_timeout(Duration::MAX);
/// assert!(matches!(err, Err(ExitWaitError::Overflow(_))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitWaitError {
    /// Non-daemon threads were still running when the timeout passed.
    Timeout {
        /// How many non-daemon threads were still running.
        running: usize,
    },
    /// The timeout is too large to be added to the clock.
    Overflow(TimeoutOverflow),
}

impl std::fmt::Display for ExitWaitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitWaitError::Timeout { running } => write!(
                f,
                "timed out waiting for non-daemon threads ({running} still running)"
            ),
            ExitWaitError::Overflow(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ExitWaitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExitWaitError::Overflow(e) => Some(e),
            ExitWaitError::Timeout { .. } => None,
        }
    }
}
