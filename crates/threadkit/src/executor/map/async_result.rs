//! [`AsyncResult`]: the pending result of `apply_async`, `map_async` and `starmap_async`
//! (`multiprocessing.pool.AsyncResult`), with its errors [`NotReady`] and
//! [`GetTimeoutError`].

use std::fmt;
use std::time::Duration;

use super::super::future::{Future, Stage, TaskError};
#[cfg(doc)]
use super::super::pool::ThreadPool;
use crate::time::TimeoutOverflow;

pub(super) type Helper = Box<dyn Fn() + Send + Sync>;

/// A pending result of [`ThreadPool::apply_async`], [`ThreadPool::map_async`] or
/// [`ThreadPool::starmap_async`] (`multiprocessing.pool.AsyncResult`).
pub struct AsyncResult<R> {
    pub(super) fut: Future<R>,
    pub(super) ok: fn(&R) -> bool,
    /// For the map variants: run the still-pending chunks inline when waited on from one of
    /// the pool's workers (see `Future`'s rule), since the gathered future has no task.
    pub(super) helpers: Vec<Helper>,
}

impl<R> fmt::Debug for AsyncResult<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("ready", &self.ready())
            .finish()
    }
}

/// [`AsyncResult::successful`] was asked before the result was ready (Python's
/// `ValueError: ... not ready`).
///
/// # Examples
///
/// ```
/// use threadkit::executor::{NotReady, ThreadPool};
///
/// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let r = pool.apply_async(move || rx.recv().unwrap()).unwrap();
/// assert_eq!(r.successful(), Err(NotReady));
/// tx.send(()).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotReady;

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the result is not ready")
    }
}

impl std::error::Error for NotReady {}

/// The error of [`AsyncResult::get_timeout`]; a timeout hands the [`AsyncResult`] back.
#[non_exhaustive]
pub enum GetTimeoutError<R> {
    /// Not ready in time (Python's `TimeoutError`); the handle, to try again.
    Timeout(AsyncResult<R>),
    /// The timeout was too large for a deadline; the handle, to try again.
    TimeoutOverflow(AsyncResult<R>, TimeoutOverflow),
    /// The task finished without a value.
    Task(TaskError),
}

impl<R> fmt::Debug for GetTimeoutError<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetTimeoutError::Timeout(_) => f.write_str("Timeout(..)"),
            GetTimeoutError::TimeoutOverflow(_, e) => write!(f, "TimeoutOverflow(.., {e:?})"),
            GetTimeoutError::Task(e) => write!(f, "Task({e:?})"),
        }
    }
}

impl<R> fmt::Display for GetTimeoutError<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetTimeoutError::Timeout(_) => f.write_str("timed out waiting for the result"),
            GetTimeoutError::TimeoutOverflow(_, e) => e.fmt(f),
            GetTimeoutError::Task(e) => e.fmt(f),
        }
    }
}

impl<R> std::error::Error for GetTimeoutError<R> {}

impl<R> AsyncResult<R> {
    fn help(&self) {
        for h in &self.helpers {
            h();
        }
    }

    /// Whether the result is ready (`ready()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let r = pool.apply_async(|| 1).unwrap();
    /// r.wait();
    /// assert!(r.ready());
    /// ```
    pub fn ready(&self) -> bool {
        self.fut.is_done()
    }

    /// Blocks until ready (`wait()`).
    ///
    /// # Examples
    ///
    /// See [`ready`](AsyncResult::ready).
    pub fn wait(&self) {
        self.help();
        self.fut.wait()
    }

    /// Blocks until ready or `timeout` passes (`wait(timeout)`); returns whether ready.
    ///
    /// # Errors
    ///
    /// [`TimeoutOverflow`] when `timeout` is too large for a deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let r = pool.apply_async(|| 1).unwrap();
    /// assert_eq!(r.wait_timeout(Duration::from_secs(10)), Ok(true));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, TimeoutOverflow> {
        self.fut.wait_timeout(timeout)
    }

    /// Whether the call completed without failure (`successful()`); for the map variants,
    /// whether every item succeeded.
    ///
    /// # Errors
    ///
    /// [`NotReady`] while the result is not ready.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let r = pool.map_async(|x: i32| if x == 1 { panic!("one") } else { x }, 0..3).unwrap();
    /// r.wait();
    /// assert_eq!(r.successful(), Ok(false));
    /// ```
    pub fn successful(&self) -> Result<bool, NotReady> {
        self.fut.core().with_stage(|stage| match stage {
            Stage::Pending | Stage::Running => Err(NotReady),
            Stage::Done(Ok(v)) => Ok((self.ok)(v)),
            Stage::Done(Err(_)) => Ok(false),
            Stage::Taken => Ok(true),
        })
    }

    /// Blocks until ready and returns the value (`get()`).
    ///
    /// # Errors
    ///
    /// The [`TaskError`] when the call panicked, was cancelled or the pool broke. (For the
    /// map variants, item failures are inside the returned vector.)
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// assert_eq!(pool.apply_async(|| "x").unwrap().get(), Ok("x"));
    /// ```
    pub fn get(self) -> Result<R, TaskError> {
        self.help();
        self.fut.into_result()
    }

    /// As [`get`](AsyncResult::get), giving up after `timeout` (`get(timeout)`).
    ///
    /// # Errors
    ///
    /// [`GetTimeoutError::Timeout`] (with the handle back) when not ready in time,
    /// [`GetTimeoutError::TimeoutOverflow`] for a timeout too large, and
    /// [`GetTimeoutError::Task`] when the call failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::executor::{GetTimeoutError, ThreadPool};
    ///
    /// let pool = threadkit::executor::ThreadPool::builder().max_workers(1).build().unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel::<u8>();
    /// let r = pool.apply_async(move || rx.recv().unwrap()).unwrap();
    /// let r = match r.get_timeout(Duration::from_millis(10)) {
    ///     Err(GetTimeoutError::Timeout(r)) => r,
    ///     other => panic!("{other:?}"),
    /// };
    /// tx.send(9).unwrap();
    /// assert_eq!(r.get_timeout(Duration::from_secs(10)).ok(), Some(9));
    /// ```
    pub fn get_timeout(self, timeout: Duration) -> Result<R, GetTimeoutError<R>> {
        match self.fut.wait_timeout(timeout) {
            Ok(true) => self.fut.into_result().map_err(GetTimeoutError::Task),
            Ok(false) => Err(GetTimeoutError::Timeout(self)),
            Err(e) => Err(GetTimeoutError::TimeoutOverflow(self, e)),
        }
    }

    /// The underlying [`Future`] (for [`wait`](crate::executor::wait), callbacks, cancel).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let r = pool.apply_async(|| 1).unwrap();
    /// assert_eq!(r.future().result(), Ok(1));
    /// ```
    pub fn future(&self) -> &Future<R> {
        &self.fut
    }
}
