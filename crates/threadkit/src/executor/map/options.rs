//! What a map is asked and how one of its items fails: [`MapOptions`] (chunk size and
//! deadline), [`MapOptionsError`], [`ChunkSize`], and [`MapItemError`].

use std::fmt;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use super::super::future::TaskError;
#[cfg(doc)]
use super::super::pool::{SubmitError, ThreadPool};
use crate::time::TimeoutOverflow;

/// Why one item of a map produced no value. Every other item keeps its own result: one
/// failure never loses the rest (unlike `multiprocessing.pool.ThreadPool.map`).
///
/// # Examples
///
/// ```
/// use threadkit::executor::{MapItemError, TaskError, ThreadPool};
///
/// let pool = ThreadPool::new().unwrap();
/// let out: Vec<_> = pool
///     .map(|x: i32| if x == 2 { panic!("two") } else { x }, 0..4)
///     .unwrap()
///     .collect();
/// assert_eq!(out[1], Ok(1));
/// assert!(matches!(
///     &out[2],
///     Err(MapItemError::Failed { index: 2, error: TaskError::Panicked { ref message, .. } }) if message == "two"
/// ));
/// assert_eq!(out[3], Ok(3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MapItemError {
    /// The item's call panicked, was cancelled, or the pool broke.
    Failed {
        /// The item's position in the input.
        index: usize,
        /// What happened.
        error: TaskError,
    },
    /// The map's deadline passed before this item's result was ready (Python's
    /// `TimeoutError` from `Executor.map(timeout=)`); the map ends here.
    Timeout {
        /// The item's position in the input.
        index: usize,
    },
}

impl MapItemError {
    /// The position in the input of the item that failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::executor::{MapItemError, TaskError};
    /// assert_eq!(MapItemError::Timeout { index: 4 }.index(), 4);
    /// ```
    pub fn index(&self) -> usize {
        match self {
            MapItemError::Failed { index, .. } | MapItemError::Timeout { index } => *index,
        }
    }
}

impl fmt::Display for MapItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapItemError::Failed { index, error } => write!(f, "item {index}: {error}"),
            MapItemError::Timeout { index } => {
                write!(f, "item {index}: timed out waiting for its result")
            }
        }
    }
}

impl std::error::Error for MapItemError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MapItemError::Failed { error, .. } => Some(error),
            MapItemError::Timeout { .. } => None,
        }
    }
}

/// Options of [`ThreadPool::map_with`]: chunk size and deadline, set in one chain of plain
/// values. A value out of range does not break the chain: it is reported as
/// [`SubmitError::InvalidOptions`] when the map starts (or by [`check`](MapOptions::check)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::executor::{MapOptions, ThreadPool};
///
/// let pool = ThreadPool::new().unwrap();
/// let opts = MapOptions::new().chunksize(64).timeout(Duration::from_secs(10));
/// let total: i64 = pool.map_with(|x: i64| x * 2, 0..1000, opts).unwrap().map(|r| r.unwrap()).sum();
/// assert_eq!(total, 999_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapOptions {
    pub(super) chunksize: NonZeroUsize,
    limit: Option<Limit>,
    /// The first setting out of range, reported when a map starts with these options.
    invalid: Option<MapOptionsError>,
}

/// When a map gives up waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    /// This long after the map starts.
    After(Duration),
    /// At this instant.
    At(Instant),
}

/// A [`MapOptions`] value out of range, reported as [`SubmitError::InvalidOptions`] when the
/// map starts (nothing is submitted then).
///
/// # Examples
///
/// ```
/// use threadkit::executor::{MapOptions, MapOptionsError};
///
/// assert_eq!(MapOptions::new().chunksize(0).check(), Err(MapOptionsError::ZeroChunksize));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MapOptionsError {
    /// `chunksize(0)`: a chunk holds at least one item (Python's `ValueError: Chunksize must be
    /// 1+.`).
    ZeroChunksize,
    /// The timeout is too large for a deadline.
    TimeoutOverflow(TimeoutOverflow),
}

impl fmt::Display for MapOptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapOptionsError::ZeroChunksize => f.write_str("chunksize must be at least 1, not 0"),
            MapOptionsError::TimeoutOverflow(e) => write!(f, "map timeout: {e}"),
        }
    }
}

impl std::error::Error for MapOptionsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MapOptionsError::TimeoutOverflow(e) => Some(e),
            MapOptionsError::ZeroChunksize => None,
        }
    }
}

/// A chunk size for [`MapOptions::chunksize`]: a `usize` (checked when the map starts) or a
/// [`NonZeroUsize`].
///
/// # Examples
///
/// ```
/// use std::num::NonZeroUsize;
/// use threadkit::executor::MapOptions;
///
/// assert_eq!(MapOptions::new().chunksize(8).get_chunksize().get(), 8);
/// assert_eq!(MapOptions::new().chunksize(NonZeroUsize::MIN).get_chunksize().get(), 1);
/// ```
pub trait ChunkSize {
    /// The size as a plain number.
    fn into_usize(self) -> usize;
}

impl ChunkSize for usize {
    fn into_usize(self) -> usize {
        self
    }
}

impl ChunkSize for NonZeroUsize {
    fn into_usize(self) -> usize {
        self.get()
    }
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions::new()
    }
}

impl MapOptions {
    /// One item per task, no deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// let opts = threadkit::executor::MapOptions::new();
    /// assert_eq!(opts.get_chunksize().get(), 1);
    /// ```
    pub fn new() -> MapOptions {
        MapOptions {
            chunksize: NonZeroUsize::MIN,
            limit: None,
            invalid: None,
        }
    }

    /// Items per task (`multiprocessing.pool.Pool.map`'s `chunksize`): larger chunks cost
    /// less per item for tiny functions. Each item still gets its own result. `0` is reported
    /// as [`MapOptionsError::ZeroChunksize`] when the map starts.
    ///
    /// # Examples
    ///
    /// ```
    /// let opts = threadkit::executor::MapOptions::new().chunksize(8);
    /// assert_eq!(opts.get_chunksize().get(), 8);
    /// ```
    pub fn chunksize(mut self, n: impl ChunkSize) -> MapOptions {
        match NonZeroUsize::new(n.into_usize()) {
            Some(n) => self.chunksize = n,
            None => self.set_invalid(MapOptionsError::ZeroChunksize),
        }
        self
    }

    /// The configured chunk size (the last valid one: `1` unless set).
    ///
    /// # Examples
    ///
    /// See [`chunksize`](MapOptions::chunksize).
    pub fn get_chunksize(&self) -> NonZeroUsize {
        self.chunksize
    }

    /// A deadline `timeout` after the map starts, for the whole map (Python's
    /// `Executor.map(timeout=)`): an item not ready by then yields [`MapItemError::Timeout`],
    /// the remaining queued items are cancelled and the iterator ends. A timeout too large
    /// for a deadline is reported as [`MapOptionsError::TimeoutOverflow`] when the map starts.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let opts = threadkit::executor::MapOptions::new().timeout(Duration::from_secs(1)).chunksize(4);
    /// assert_eq!(opts.check(), Ok(()));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> MapOptions {
        self.limit = Some(Limit::After(timeout));
        self
    }

    /// As [`timeout`](MapOptions::timeout) with an absolute deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let opts = threadkit::executor::MapOptions::new().deadline(Instant::now() + Duration::from_secs(1));
    /// # drop(opts);
    /// ```
    pub fn deadline(mut self, deadline: Instant) -> MapOptions {
        self.limit = Some(Limit::At(deadline));
        self
    }

    /// Whether the options are valid, as a map would find when it starts: the first value
    /// out of range. (A timeout is checked against the clock now; the map checks it again
    /// when it starts.)
    ///
    /// # Errors
    ///
    /// [`MapOptionsError::ZeroChunksize`] for `chunksize(0)`,
    /// [`MapOptionsError::TimeoutOverflow`] for a timeout too large for a deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::executor::{MapOptions, MapOptionsError};
    ///
    /// assert_eq!(MapOptions::new().chunksize(2).check(), Ok(()));
    /// assert!(matches!(
    ///     MapOptions::new().timeout(Duration::MAX).check(),
    ///     Err(MapOptionsError::TimeoutOverflow(_))
    /// ));
    /// ```
    pub fn check(&self) -> Result<(), MapOptionsError> {
        self.start().map(|_| ())
    }

    /// The deadline of a map starting now, or the first value out of range.
    pub(super) fn start(&self) -> Result<Option<Instant>, MapOptionsError> {
        if let Some(e) = self.invalid {
            return Err(e);
        }
        match self.limit {
            None => Ok(None),
            Some(Limit::At(d)) => Ok(Some(d)),
            Some(Limit::After(t)) => crate::time::deadline_after(t)
                .map(Some)
                .map_err(MapOptionsError::TimeoutOverflow),
        }
    }

    fn set_invalid(&mut self, e: MapOptionsError) {
        self.invalid.get_or_insert(e);
    }

    /// The options themselves: [`timeout`](MapOptions::timeout) returned a `Result` before it
    /// reported a timeout too large when the map starts; this keeps `.timeout(d).unwrap()`
    /// compiling.
    #[deprecated(note = "MapOptions::timeout no longer returns a Result: remove the `.unwrap()`")]
    #[doc(hidden)]
    pub fn unwrap(self) -> MapOptions {
        self
    }

    /// The options themselves (see [`unwrap`](MapOptions::unwrap)).
    #[deprecated(note = "MapOptions::timeout no longer returns a Result: remove the `.expect(..)`")]
    #[doc(hidden)]
    pub fn expect(self, _message: &str) -> MapOptions {
        self
    }
}
