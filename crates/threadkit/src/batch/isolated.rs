//! The isolation mode: each item runs in a worker process of a
//! [`ProcessPool`](crate::process::ProcessPool), so that a crash, an abort or a runaway item
//! costs that item only, and a timed-out item is really stopped.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Cause, Task};
use crate::process::{ProcessPool, TaskError};

/// A function run in a worker process for each input, as a [`Task`] (made by
/// [`Batch::isolated`](super::Batch::isolated)).
///
/// The batch's threads each hand one input at a time to the pool (serialized with postcard)
/// and wait for its result, so the run keeps its report, policies, retries, progress and
/// journal, while the function runs out of process. Failures that only a process has are
/// reported as causes:
///
/// | in the worker | [`Cause`] |
/// | --- | --- |
/// | `Err(e)` | [`Cause::Error`]`(e)` |
/// | a panic | [`Cause::Panic`] with its message |
/// | past the pool's [`task_timeout`](crate::process::ProcessPoolBuilder::task_timeout): the worker is killed | [`Cause::Timeout`] |
/// | killed by a signal (segfault, abort, `SIGKILL`, the OOM killer) or `exit()` | [`Cause::Crashed`], the signal named |
/// | killed by `SIGINT` (Ctrl-C reaches the whole process group) | [`Cause::Cancelled`] |
/// | cancelled or the pool terminated | [`Cause::Cancelled`] |
/// | the pool refused it (shut down, or broken by its initializer) | [`Cause::Crashed`], saying why |
///
/// The pool replaces a dead worker, so the other items go on.
///
/// # Examples
///
/// ```
/// use threadkit::batch::{Batch, Cause};
/// use threadkit::process::ProcessPool;
///
/// fn check(x: u32) -> Result<u32, String> {
///     match x {
///         3 => std::process::abort(),
///         4 => Err("four".into()),
///         _ => Ok(x * 10),
///     }
/// }
///
/// threadkit::process::init(); // at the top of main: lets the binary serve as a worker
/// let pool = ProcessPool::new(2).unwrap();
/// let report = Batch::isolated(pool, check).progress(false).run(0..6u32).unwrap();
/// assert_eq!(report.values().copied().collect::<Vec<_>>(), [0, 10, 20, 50]);
/// let causes: Vec<_> = report.failures().map(|f| (f.index, f.cause.kind())).collect();
/// assert_eq!(causes, [(3, "crashed"), (4, "error")]);
/// ```
pub struct Isolated<I, T, E> {
    pool: Arc<ProcessPool>,
    f: fn(I) -> Result<T, E>,
    _marker: PhantomData<fn(I) -> Result<T, E>>,
}

impl<I, T, E> Isolated<I, T, E> {
    /// Wraps `f` to run on `pool`.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::batch::Isolated;
    /// use threadkit::process::ProcessPool;
    ///
    /// fn double(x: u8) -> Result<u8, ()> { Ok(x * 2) }
    /// threadkit::process::init();
    /// let task = Isolated::new(ProcessPool::new(1).unwrap(), double);
    /// assert_eq!(task.pool().max_workers(), 1);
    /// ```
    pub fn new(pool: impl Into<Arc<ProcessPool>>, f: fn(I) -> Result<T, E>) -> Self {
        Isolated {
            pool: pool.into(),
            f,
            _marker: PhantomData,
        }
    }

    /// The pool the items run on.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::batch::Isolated;
    /// use threadkit::process::ProcessPool;
    ///
    /// fn id(x: u8) -> Result<u8, ()> { Ok(x) }
    /// threadkit::process::init();
    /// assert_eq!(Isolated::new(ProcessPool::new(2).unwrap(), id).pool().max_workers(), 2);
    /// ```
    pub fn pool(&self) -> &Arc<ProcessPool> {
        &self.pool
    }
}

impl<I, T, E> fmt::Debug for Isolated<I, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Isolated")
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

/// Maps what the pool says about a task to the batch's cause.
pub(crate) fn cause_of<E>(e: TaskError) -> Cause<E> {
    match e {
        TaskError::Panicked {
            message,
            location,
            backtrace,
        } => Cause::Panic {
            message,
            location,
            backtrace,
        },
        TaskError::TimedOut { timeout } => Cause::Timeout { after: timeout },
        TaskError::Signaled { signal: 2, .. } | TaskError::Cancelled | TaskError::Terminated => {
            Cause::Cancelled
        }
        TaskError::Signaled { signal, name } => Cause::Crashed {
            message: format!("the worker process was killed by {name} (signal {signal})"),
        },
        TaskError::Exited { code } => Cause::Crashed {
            message: format!("the worker process exited with code {code}"),
        },
        other => Cause::Crashed {
            message: other.to_string(),
        },
    }
}

impl<I, T, E> Task<I> for Isolated<I, T, E>
where
    I: Serialize + DeserializeOwned + Clone + 'static,
    T: Serialize + DeserializeOwned + Send + 'static,
    E: Serialize + DeserializeOwned + Send + 'static,
{
    type Output = T;
    type Error = E;

    /// Runs the item in a worker and waits for it.
    ///
    /// # Panics
    ///
    /// When the item fails in a way that is not the function's `Err` (a panic in the worker,
    /// a crashed worker, a hard timeout), this panics with the cause's text; the batch runner
    /// calls [`attempt`](Task::attempt) instead, which reports each as its [`Cause`].
    fn run(&self, input: &I) -> Result<T, E> {
        match self.attempt(input) {
            Ok(v) => Ok(v),
            Err(Cause::Error(e)) => Err(e),
            Err(cause) => {
                let text = match &cause {
                    Cause::Panic { message, .. } => message.clone(),
                    Cause::Crashed { message } => message.clone(),
                    Cause::Timeout { after } => format!("timed out after {after:?}"),
                    _ => cause.kind().to_string(),
                };
                std::panic::resume_unwind(Box::new(text))
            }
        }
    }

    fn attempt(&self, input: &I) -> Result<T, Cause<E>> {
        let future = self
            .pool
            .submit(self.f, input.clone())
            .map_err(|e| Cause::Crashed {
                message: format!("the process pool refused the item: {e}"),
            })?;
        match future.into_result() {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Cause::Error(e)),
            Err(e) => Err(cause_of(e)),
        }
    }
}
