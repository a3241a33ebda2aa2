//! Pool-less tasks and futures for the loom models of the future's state machine
//! (`tests/loom_executor.rs`); compiled only under `--cfg loom`.

use std::fmt;
use std::sync::Arc;

use super::task::{NoScope, Run, Task};
use super::{Future, TaskError};

/// A task made without a pool, for the loom models of the future's state machine
/// (`tests/loom_executor.rs`): [`loom_task`] gives its [`Future`] and this queue entry, which a
/// model thread runs or aborts as a worker or a shutdown drain would.
#[cfg(loom)]
#[doc(hidden)]
pub struct LoomTask(Arc<dyn Run>);

#[cfg(loom)]
impl fmt::Debug for LoomTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LoomTask")
    }
}

#[cfg(loom)]
impl LoomTask {
    /// The queue entry itself (for the pool queue's models).
    pub(crate) fn into_job(self) -> Arc<dyn Run> {
        self.0
    }

    /// Runs the task as a worker popping it from the queue would.
    pub fn run(self) {
        self.0.run();
    }

    /// Fails the task with [`TaskError::Cancelled`] unless it already started, as
    /// `shutdown_with(cancel_futures)` does to queued tasks.
    pub fn abort(self) {
        self.0.abort(TaskError::Cancelled);
    }
}

/// A pool-less task and its future (loom models only).
#[cfg(loom)]
#[doc(hidden)]
pub fn loom_task<T, F>(f: F) -> (Future<T>, LoomTask)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let task = Arc::new(Task::new(f, 0, NoScope));
    (Future::from_task(task.clone()), LoomTask(task))
}

/// The process pool's side of a future made by [`Future::new`], for the loom models
/// (`tests/loom_executor.rs`): start it, put it back to pending, finish it, as a manager
/// thread does.
#[cfg(loom)]
#[doc(hidden)]
#[derive(Debug)]
pub struct LoomCompleter<T>(Future<T>);

#[cfg(loom)]
impl<T> LoomCompleter<T> {
    /// Pending to running; false when cancelled (or set) first.
    pub fn start(&self) -> bool {
        self.0.start()
    }

    /// Running (started here) back to pending.
    pub fn unstart(&self) {
        self.0.unstart();
    }

    /// Finishes the future started here with `value`.
    pub fn finish(&self, value: T) {
        self.0.finish_started(Ok(value));
    }
}

/// A pool-less future and its completer (loom models only).
#[cfg(loom)]
#[doc(hidden)]
pub fn loom_completer<T: Send + 'static>() -> (Future<T>, LoomCompleter<T>) {
    let fut = Future::new();
    (fut.clone(), LoomCompleter(fut))
}
