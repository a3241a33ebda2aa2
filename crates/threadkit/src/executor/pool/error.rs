//! The thread pool's errors: [`BuildError`] (with its [`BuildErrorKind`]) and
//! [`SubmitError`].

use std::fmt;

#[cfg(doc)]
use super::{Builder, ThreadPool};

/// What went wrong in [`Builder::build`] (an opaque error with a [`kind`](BuildError::kind),
/// as rayon's `ThreadPoolBuildError`).
///
/// # Examples
///
/// ```
/// use threadkit::executor::{BuildErrorKind, ThreadPool};
///
/// let err = ThreadPool::builder().max_workers(0).build().unwrap_err();
/// assert_eq!(err.kind(), BuildErrorKind::ZeroWorkers);
/// assert_eq!(err.to_string(), "max_workers must be greater than 0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    pub(super) kind: BuildErrorKind,
}

/// The kinds of [`BuildError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildErrorKind {
    /// `max_workers(0)` (Python's `ValueError: max_workers must be greater than 0`).
    ZeroWorkers,
}

impl BuildError {
    /// Which configuration was refused.
    ///
    /// # Examples
    ///
    /// See [`BuildError`].
    pub fn kind(&self) -> BuildErrorKind {
        self.kind
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            BuildErrorKind::ZeroWorkers => f.write_str("max_workers must be greater than 0"),
        }
    }
}

impl std::error::Error for BuildError {}

/// Why [`ThreadPool::submit`] (and the other submitting methods) refused a task.
///
/// # Examples
///
/// ```
/// use threadkit::executor::{SubmitError, ThreadPool};
///
/// let pool = ThreadPool::new().unwrap();
/// pool.shutdown();
/// assert_eq!(pool.submit(|| 1).unwrap_err(), SubmitError::Shutdown);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubmitError {
    /// The pool was shut down (Python's `RuntimeError: cannot schedule new futures after
    /// shutdown`).
    Shutdown,
    /// A worker's initializer failed (Python's `BrokenThreadPool`).
    Broken {
        /// What the initializer's panic said.
        reason: String,
    },
    /// The pool has no worker and the operating system refused to start one.
    Spawn {
        /// The operating system's error, as text.
        message: String,
    },
    /// A map's [`MapOptions`](super::super::MapOptions) hold a value out of range (`chunksize(0)`, a
    /// timeout too large); nothing was submitted.
    InvalidOptions(super::super::MapOptionsError),
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::Shutdown => f.write_str("cannot schedule new futures after shutdown"),
            SubmitError::Broken { reason } => write!(
                f,
                "A thread initializer failed, the thread pool is not usable anymore ({reason})"
            ),
            SubmitError::Spawn { message } => {
                write!(f, "could not start a worker thread: {message}")
            }
            SubmitError::InvalidOptions(e) => write!(f, "invalid map options: {e}"),
        }
    }
}

impl std::error::Error for SubmitError {}
