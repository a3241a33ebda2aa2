//! One small error type per queue operation. Errors of `put`-like operations hand the item back.

use crate::time::TimeoutOverflow;
use std::error::Error;
use std::fmt;

const SHUT_DOWN: &str = "queue is shut down";

/// Why an engine's put or get failed; the handle turns it into the operation's public error,
/// handing the item back where there is one.
pub(super) enum Fail {
    Full,
    Empty,
    ShutDown,
    Timeout,
}

/// The error of [`Queue::put`](super::Queue::put): the queue is shut down (Python's
/// `queue.ShutDown`). The item that could not be put is handed back.
///
/// # Examples
///
/// ```
/// use threadkit::queue::{PutError, Queue};
///
/// let q = Queue::new();
/// q.shutdown(false);
/// assert_eq!(q.put(7), Err(PutError(7)));
/// assert_eq!(PutError(7).into_inner(), 7);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PutError<T>(pub T);

impl<T> PutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PutError(..)")
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SHUT_DOWN)
    }
}

impl<T> Error for PutError<T> {}

/// The error of [`Queue::try_put`](super::Queue::try_put) (Python's `put_nowait`). The item that
/// could not be put is handed back.
///
/// # Examples
///
/// ```
/// use threadkit::queue::{Queue, TryPutError};
///
/// let q = Queue::bounded(1);
/// q.try_put(1).unwrap();
/// assert_eq!(q.try_put(2), Err(TryPutError::Full(2)));
/// q.shutdown(false);
/// assert_eq!(q.try_put(3), Err(TryPutError::ShutDown(3)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TryPutError<T> {
    /// The queue holds `maxsize` items (Python's `queue.Full`).
    Full(T),
    /// The queue is shut down (Python's `queue.ShutDown`); checked before fullness, as in Python.
    ShutDown(T),
}

impl<T> TryPutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::Full(t) | TryPutError::ShutDown(t) => t,
        }
    }

    /// True for [`TryPutError::Full`].
    pub fn is_full(&self) -> bool {
        matches!(self, TryPutError::Full(_))
    }

    /// True for [`TryPutError::ShutDown`].
    pub fn is_shutdown(&self) -> bool {
        matches!(self, TryPutError::ShutDown(_))
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("Full(..)"),
            TryPutError::ShutDown(_) => f.write_str("ShutDown(..)"),
        }
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("queue is full"),
            TryPutError::ShutDown(_) => f.write_str(SHUT_DOWN),
        }
    }
}

impl<T> Error for TryPutError<T> {}

impl<T> From<PutError<T>> for TryPutError<T> {
    fn from(e: PutError<T>) -> Self {
        TryPutError::ShutDown(e.0)
    }
}

/// The error of [`Queue::put_timeout`](super::Queue::put_timeout). The item that could not be
/// put is handed back.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::queue::{PutTimeoutError, Queue};
///
/// let q = Queue::bounded(1);
/// q.put(1).unwrap();
/// let err = q.put_timeout(2, Duration::from_millis(10)).unwrap_err();
/// assert!(err.is_timeout());
/// assert_eq!(err.into_inner(), 2);
///
/// let err = q.put_timeout(3, Duration::MAX).unwrap_err();
/// assert!(matches!(err, PutTimeoutError::Overflow(3, _)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PutTimeoutError<T> {
    /// The queue stayed full for the whole timeout (Python's `queue.Full`).
    Timeout(T),
    /// The queue is shut down, or was shut down while waiting (Python's `queue.ShutDown`).
    ShutDown(T),
    /// The timeout is too large to add to the clock: nothing was tried.
    Overflow(T, TimeoutOverflow),
}

impl<T> PutTimeoutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            PutTimeoutError::Timeout(t)
            | PutTimeoutError::ShutDown(t)
            | PutTimeoutError::Overflow(t, _) => t,
        }
    }

    /// True for [`PutTimeoutError::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, PutTimeoutError::Timeout(_))
    }

    /// True for [`PutTimeoutError::ShutDown`].
    pub fn is_shutdown(&self) -> bool {
        matches!(self, PutTimeoutError::ShutDown(_))
    }
}

impl<T> fmt::Debug for PutTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutTimeoutError::Timeout(_) => f.write_str("Timeout(..)"),
            PutTimeoutError::ShutDown(_) => f.write_str("ShutDown(..)"),
            PutTimeoutError::Overflow(_, o) => write!(f, "Overflow(.., {o:?})"),
        }
    }
}

impl<T> fmt::Display for PutTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutTimeoutError::Timeout(_) => f.write_str("timed out waiting for room in the queue"),
            PutTimeoutError::ShutDown(_) => f.write_str(SHUT_DOWN),
            PutTimeoutError::Overflow(_, o) => fmt::Display::fmt(o, f),
        }
    }
}

impl<T> Error for PutTimeoutError<T> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            PutTimeoutError::Overflow(_, o) => Some(o),
            _ => None,
        }
    }
}

impl<T> From<PutError<T>> for PutTimeoutError<T> {
    fn from(e: PutError<T>) -> Self {
        PutTimeoutError::ShutDown(e.0)
    }
}

/// The error of [`Queue::get`](super::Queue::get): the queue is shut down and has no items
/// left (Python's `queue.ShutDown`).
///
/// # Examples
///
/// ```
/// use threadkit::queue::{GetError, Queue};
///
/// let q = Queue::new();
/// q.put("last").unwrap();
/// q.shutdown(false);
/// assert_eq!(q.get(), Ok("last")); // what is left is still handed out
/// assert_eq!(q.get(), Err(GetError));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GetError;

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SHUT_DOWN)
    }
}

impl Error for GetError {}

/// The error of [`Queue::try_get`](super::Queue::try_get) (Python's `get_nowait`).
///
/// # Examples
///
/// ```
/// use threadkit::queue::{Queue, TryGetError};
///
/// let q = Queue::<u8>::new();
/// assert_eq!(q.try_get(), Err(TryGetError::Empty));
/// q.shutdown(false);
/// assert_eq!(q.try_get(), Err(TryGetError::ShutDown));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TryGetError {
    /// The queue has no items (Python's `queue.Empty`).
    Empty,
    /// The queue is shut down and has no items left (Python's `queue.ShutDown`).
    ShutDown,
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryGetError::Empty => f.write_str("queue is empty"),
            TryGetError::ShutDown => f.write_str(SHUT_DOWN),
        }
    }
}

impl Error for TryGetError {}

impl From<GetError> for TryGetError {
    fn from(_: GetError) -> Self {
        TryGetError::ShutDown
    }
}

/// The error of [`Queue::get_timeout`](super::Queue::get_timeout).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::queue::{GetTimeoutError, Queue};
///
/// let q = Queue::<u8>::new();
/// assert_eq!(q.get_timeout(Duration::from_millis(10)), Err(GetTimeoutError::Timeout));
/// assert!(matches!(q.get_timeout(Duration::MAX), Err(GetTimeoutError::Overflow(_))));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetTimeoutError {
    /// The queue stayed empty for the whole timeout (Python's `queue.Empty`).
    Timeout,
    /// The queue is shut down and has no items left (Python's `queue.ShutDown`).
    ShutDown,
    /// The timeout is too large to add to the clock: nothing was tried.
    Overflow(TimeoutOverflow),
}

impl fmt::Display for GetTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetTimeoutError::Timeout => f.write_str("timed out waiting for an item"),
            GetTimeoutError::ShutDown => f.write_str(SHUT_DOWN),
            GetTimeoutError::Overflow(o) => fmt::Display::fmt(o, f),
        }
    }
}

impl Error for GetTimeoutError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            GetTimeoutError::Overflow(o) => Some(o),
            _ => None,
        }
    }
}

impl From<GetError> for GetTimeoutError {
    fn from(_: GetError) -> Self {
        GetTimeoutError::ShutDown
    }
}

/// The error of [`Queue::task_done`](super::Queue::task_done): more calls than items put
/// (Python's `ValueError: task_done() called too many times`).
///
/// # Examples
///
/// ```
/// use threadkit::queue::Queue;
///
/// let q = Queue::<u8>::new();
/// let err = q.task_done().unwrap_err();
/// assert_eq!(err.to_string(), "task_done() called too many times");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called too many times")
    }
}

impl Error for TaskDoneError {}

/// The error of [`Queue::join_timeout`](super::Queue::join_timeout).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::queue::{JoinTimeoutError, Queue};
///
/// let q = Queue::new();
/// q.put(1).unwrap(); // one unfinished task, never marked done
/// assert_eq!(q.join_timeout(Duration::from_millis(10)), Err(JoinTimeoutError::Timeout));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinTimeoutError {
    /// Some tasks were still unfinished when the timeout passed.
    Timeout,
    /// The timeout is too large to add to the clock: nothing was waited for.
    Overflow(TimeoutOverflow),
}

impl fmt::Display for JoinTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinTimeoutError::Timeout => f.write_str("timed out waiting for every task to be done"),
            JoinTimeoutError::Overflow(o) => fmt::Display::fmt(o, f),
        }
    }
}

impl Error for JoinTimeoutError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            JoinTimeoutError::Overflow(o) => Some(o),
            JoinTimeoutError::Timeout => None,
        }
    }
}
