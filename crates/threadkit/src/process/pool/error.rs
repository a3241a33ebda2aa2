//! The process pool's errors: [`SubmitError`] (a task refused), [`BuildError`] (a pool not
//! built) and its [`BuildErrorKind`].

use std::fmt;

/// Why a task could not be submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubmitError {
    /// The pool is shut down (Python: `cannot schedule new futures after shutdown`).
    Shutdown,
    /// The pool is broken by a failing initializer (Python's `BrokenProcessPool`).
    Broken {
        /// What the initializer's failure said.
        reason: String,
    },
    /// The function is not in the executable, or the arguments cannot be serialized.
    Call(String),
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::Shutdown => f.write_str("cannot schedule new futures after shutdown"),
            SubmitError::Broken { reason } => {
                write!(
                    f,
                    "the process pool is broken (initializer failed: {reason})"
                )
            }
            SubmitError::Call(m) => write!(f, "cannot run this call in a worker: {m}"),
        }
    }
}

impl std::error::Error for SubmitError {}

/// Why a pool could not be built: its [`kind`](BuildError::kind), and a message.
///
/// # Examples
///
/// ```
/// use threadkit::process::{BuildErrorKind, ProcessPool};
///
/// let err = ProcessPool::builder().max_workers(0).build().unwrap_err();
/// assert_eq!(err.kind(), BuildErrorKind::InvalidSetting);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    kind: BuildErrorKind,
    message: String,
}

/// The kinds of [`BuildError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildErrorKind {
    /// A setting is out of range (`max_workers(0)`), or the initializer cannot cross to a
    /// worker (not in the executable, arguments not serializable).
    InvalidSetting,
    /// The executable's `main` did not call [`init`](crate::process::init) first
    /// ([`NotInitialized`](crate::process::NotInitialized)): workers would run `main` again.
    NotInitialized,
    /// The pool's manager threads could not be started.
    Io,
}

impl BuildError {
    pub(super) fn new(kind: BuildErrorKind, message: impl Into<String>) -> BuildError {
        BuildError {
            kind,
            message: message.into(),
        }
    }

    /// What kind of error this is.
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
        write!(f, "cannot build the process pool: {}", self.message)
    }
}

impl std::error::Error for BuildError {}
