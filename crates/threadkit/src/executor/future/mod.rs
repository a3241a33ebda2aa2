//! [`Future`]: the shared handle to a task's eventual outcome, and its state machine.
//!
//! A task lives in one allocation (`Task<T, F>`, behind an `Arc`): the job closure `F`, the
//! state byte, the outcome slot, a mutex and a condition variable for blocking readers, and
//! (allocated on first use) the done-callbacks and the registrations of
//! [`wait`](super::wait) / [`as_completed`](super::as_completed). The pool's queue holds the
//! same allocation type-erased as a [`Run`]; every [`Future`] clone holds it as a `TaskRef<T>`.
//!
//! States: `PENDING -> RUNNING -> DONE(outcome)`; cancelling (or a drain on shutdown) also
//! goes through `RUNNING`, held only while the closure is dropped. A compare-and-swap moves a
//! task out of `PENDING`, so exactly one thread (a worker, a waiter running it inline,
//! `cancel`, a drain on shutdown) touches the job closure and writes the outcome, then
//! publishes `DONE` with one swap. Nobody waiting means no lock and no notify on that path;
//! see [`Core`] for how waiters and callbacks register. `DONE(Ok)` becomes taken when
//! [`Future::into_result`] moves the value out.
//!
//! The files, in reading order:
//!
//! 1. `error.rs`: what readers get instead of a value: [`TaskError`] (both pools' and a
//!    process's), [`ResultTimeoutError`], [`TryResultError`], [`InvalidStateError`].
//! 2. `state.rs`: [`Core`], the state machine above with the outcome slot and the lock,
//!    [`DoneGuard`] (proof that a task is done), the registrations it wakes, and which pool
//!    the current thread works for.
//! 3. `task.rs`: [`Task`], a core with its closure and scope, seen as a [`TaskRef`] by
//!    futures, a [`Run`] by the queue and a [`ScopedTask`] by its scope; the lifetime erasure
//!    scoped tasks go through (the `unsafe fn erase_*`, each with its contract); [`Promise`].
//! 4. `mod.rs` (this file): the public [`Future`] over a `TaskRef`.
//! 5. `loom.rs`: pool-less tasks for the loom models (`--cfg loom` only).

mod error;
#[cfg(loom)]
mod loom;
mod state;
mod task;

pub use error::{InvalidStateError, ResultTimeoutError, TaskError, TryResultError};
#[cfg(loom)]
pub use loom::{loom_completer, loom_task, LoomCompleter, LoomTask};
pub(crate) use state::{set_worker_of, worker_of, Stage};
pub(crate) use task::{
    erase_run, erase_scoped, erase_task_ref, Finished, NoScope, Promise, Run, ScopedTask, Task,
    TaskRef,
};

use state::{
    new_extra, next_waiter_id, run_callbacks, Callback, Core, DoneGuard, Outcome, PENDING,
};
use std::cell::UnsafeCell;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::time::TimeoutOverflow;

/// The outcome of a task submitted to a [`ThreadPool`](super::ThreadPool): Python's
/// `concurrent.futures.Future`.
///
/// A `Future` is a shared handle, as in Python: clones observe the same task, and any clone
/// may wait, cancel or add callbacks. The value is produced once; there are two ways to read
/// it:
///
/// - [`result`](Future::result) / [`result_timeout`](Future::result_timeout) /
///   [`try_result`](Future::try_result) clone it (they need `T: Clone`) and leave it in place,
///   so every clone can read it again;
/// - [`into_result`](Future::into_result) moves it out (any `T`); afterwards other clones get
///   [`TaskError::ResultTaken`].
///
/// The states are Python's: pending, running, then done (with a value, a panic, cancelled or
/// broken pool). [`cancel`](Future::cancel) succeeds only while pending.
///
/// # Blocking in a worker on another task's future
///
/// A task may wait on a future of its own pool (for example on tasks it submitted itself).
/// When an untimed wait ([`result`](Future::result), [`into_result`](Future::into_result),
/// [`wait`](Future::wait), [`failure`](Future::failure), untimed [`wait`](super::wait) and
/// [`as_completed`](super::as_completed)) is made on one of the pool's own worker threads for
/// a future of the same pool that is still pending, the waiting worker runs that task itself,
/// inline, instead of blocking. So a task waiting on tasks it submitted never deadlocks, even
/// in a pool of one worker. A future that is already running on another worker is waited for
/// normally; timed waits never run a task inline (they keep their bound). A cycle (task A
/// waits on B while B waits on A) still deadlocks, as it would with plain threads.
///
/// # Examples
///
/// ```
/// use threadkit::executor::ThreadPool;
///
/// let pool = ThreadPool::new().unwrap();
/// let f = pool.submit(|| 6 * 7).unwrap();
/// assert_eq!(f.result(), Ok(42));
/// assert!(f.is_done() && !f.is_cancelled());
/// ```
pub struct Future<T> {
    task: Arc<dyn TaskRef<T>>,
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future {
            task: self.task.clone(),
        }
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.task.core().with_stage(|stage| match stage {
            Stage::Pending => "pending",
            Stage::Running => "running",
            Stage::Done(Ok(_)) | Stage::Taken => "finished",
            Stage::Done(Err(e)) if **e == TaskError::Cancelled => "cancelled",
            Stage::Done(Err(_)) => "finished with an error",
        });
        f.debug_struct("Future").field("state", &state).finish()
    }
}

impl<T> Future<T> {
    pub(crate) fn from_task(task: Arc<dyn TaskRef<T>>) -> Self {
        Future { task }
    }

    pub(crate) fn core(&self) -> &Core<T> {
        self.task.core()
    }

    /// Whether both handles observe the same task.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let a = pool.submit(|| 1).unwrap();
    /// let b = pool.submit(|| 1).unwrap();
    /// assert!(a.ptr_eq(&a.clone()));
    /// assert!(!a.ptr_eq(&b));
    /// ```
    pub fn ptr_eq(&self, other: &Future<T>) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.task), Arc::as_ptr(&other.task))
    }

    pub(crate) fn addr(&self) -> *const () {
        Arc::as_ptr(&self.task) as *const ()
    }

    /// On a worker of this future's pool, runs the task here if still pending.
    pub(crate) fn help(&self) -> bool {
        let pool = self.core().pool_id;
        if pool == 0 || worker_of() != pool {
            return false;
        }
        let me = self.clone();
        self.task.run_if_pending(&|| me.clone())
    }

    /// Whether the task is still waiting in the queue (not started, not cancelled).
    pub(crate) fn is_pending(&self) -> bool {
        self.core().is_pending()
    }

    fn wait_guard(&self) -> DoneGuard<'_, T> {
        self.help();
        self.core()
            .wait_done(None)
            .expect("an untimed wait ends done")
    }

    /// Whether the task has finished: with a value, a panic, cancelled or failed (Python's
    /// `done()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let f = pool.submit(|| ()).unwrap();
    /// f.wait();
    /// assert!(f.is_done());
    /// ```
    pub fn is_done(&self) -> bool {
        self.core().is_done()
    }

    /// Whether the task is running right now (Python's `running()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc::channel;
    ///
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let (started_tx, started) = channel();
    /// let (go_tx, go) = channel::<()>();
    /// let f = pool.submit(move || { started_tx.send(()).unwrap(); go.recv().unwrap() }).unwrap();
    /// started.recv().unwrap();
    /// assert!(f.is_running());
    /// go_tx.send(()).unwrap();
    /// f.wait();
    /// assert!(!f.is_running());
    /// ```
    pub fn is_running(&self) -> bool {
        self.core().is_running()
    }

    /// Whether the future was cancelled (Python's `cancelled()`).
    ///
    /// # Examples
    ///
    /// See [`cancel`](Future::cancel).
    pub fn is_cancelled(&self) -> bool {
        self.core()
            .with_stage(|stage| matches!(stage, Stage::Done(Err(e)) if **e == TaskError::Cancelled))
    }

    /// Cancels the task if it has not started: returns `true` when the future is now (or
    /// already was) cancelled, `false` when it is running or finished (Python's `cancel()`).
    /// The closure is dropped without running; callbacks and waiters are told.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc::channel;
    /// use threadkit::executor::{TaskError, ThreadPool};
    ///
    /// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    /// let (go_tx, go) = channel::<()>();
    /// let busy = pool.submit(move || go.recv().unwrap()).unwrap();
    /// let queued = pool.submit(|| 1).unwrap();
    /// assert!(queued.cancel());
    /// assert!(queued.is_cancelled());
    /// assert_eq!(queued.result(), Err(TaskError::Cancelled));
    /// go_tx.send(()).unwrap();
    /// busy.wait();
    /// assert!(!busy.cancel());
    /// ```
    pub fn cancel(&self) -> bool {
        let me = self.clone();
        if self
            .task
            .settle_if_pending(Err(TaskError::Cancelled), &|| me.clone())
            .is_ok()
        {
            return true;
        }
        self.is_cancelled()
    }

    /// Blocks until the task is done (any outcome).
    ///
    /// On a worker of this future's pool, a still-pending task is run inline (see the
    /// type-level docs).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let f = pool.submit(|| ()).unwrap();
    /// f.wait();
    /// assert!(f.is_done());
    /// ```
    pub fn wait(&self) {
        drop(self.wait_guard());
    }

    /// Blocks until the task is done or `timeout` passes; returns whether it is done.
    ///
    /// # Errors
    ///
    /// [`TimeoutOverflow`] when `timeout` is too large for a deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let f = pool.submit(|| ()).unwrap();
    /// assert_eq!(f.wait_timeout(Duration::from_secs(10)), Ok(true));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, TimeoutOverflow> {
        let deadline = crate::time::deadline_after(timeout)?;
        Ok(self.core().wait_done(Some(deadline)).is_some())
    }

    /// Blocks until done and returns the failure, or `None` when the task produced a value
    /// (Python's `exception()`; a cancelled future gives `Some(TaskError::Cancelled)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::executor::{TaskError, ThreadPool};
    ///
    /// let pool = ThreadPool::new().unwrap();
    /// let ok = pool.submit(|| 1).unwrap();
    /// let bad = pool.submit(|| -> i32 { panic!("no") }).unwrap();
    /// assert_eq!(ok.failure(), None);
    /// assert!(matches!(bad.failure(), Some(TaskError::Panicked { message, .. }) if message == "no"));
    /// ```
    pub fn failure(&self) -> Option<TaskError> {
        match self.wait_guard().outcome() {
            Some(Err(e)) => Some((**e).clone()),
            _ => None,
        }
    }

    /// Blocks until done and moves the value out (any `T`). Later reads through other clones
    /// get [`TaskError::ResultTaken`].
    ///
    /// # Errors
    ///
    /// The [`TaskError`] when the task panicked, was cancelled, the pool broke, or the value
    /// was already taken.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let f = pool.submit(|| vec![1, 2, 3]).unwrap();
    /// assert_eq!(f.into_result(), Ok(vec![1, 2, 3]));
    /// ```
    pub fn into_result(mut self) -> Result<T, TaskError> {
        // The only handle left (the queue, the worker and every clone let go): no lock needed.
        // A task still queued or running has another handle, so this is a finished one.
        if let Some(task) = Arc::get_mut(&mut self.task) {
            if let Some(outcome) = task.core_mut().outcome_if_done() {
                return take_outcome(outcome);
            }
        }
        take_outcome(self.wait_guard().outcome_mut())
    }

    /// Registers `callback` to run with this future when it is done (Python's
    /// `add_done_callback`). Callbacks run in the order added, on the thread that finishes the
    /// task (or that cancels it); when the future is already done the callback runs at once
    /// on the calling thread. A panicking callback is reported through `tracing` (at error
    /// level) and the other callbacks still run.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc::channel;
    ///
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let (tx, rx) = channel();
    /// let f = pool.submit(|| 5).unwrap();
    /// f.add_done_callback(move |f| tx.send(f.result().unwrap()).unwrap());
    /// assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(10)), Ok(5));
    /// ```
    pub fn add_done_callback(&self, callback: impl FnOnce(&Future<T>) + Send + 'static) {
        match self.core().watch() {
            Ok(mut guard) => {
                guard
                    .get_or_insert_with(new_extra)
                    .callbacks
                    .push(Box::new(callback));
                return;
            }
            Err(done) => drop(done),
        }
        run_callbacks(vec![Box::new(callback) as Callback<T>], self);
    }
}

impl<T: Send + 'static> Future<T> {
    /// A pending future that no pool runs, to be completed by [`set_result`](Future::set_result)
    /// or [`set_exception`](Future::set_exception) (Python: `Future()`), for adapters (a
    /// callback-based API behind a future) and tests. It can be waited for, cancelled, given
    /// callbacks, passed to [`wait`](super::wait) / [`as_completed`](super::as_completed) and
    /// awaited like any other.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::executor::Future;
    ///
    /// let fut = Future::new();
    /// let completer = fut.clone();
    /// std::thread::spawn(move || completer.set_result(42).unwrap());
    /// assert_eq!(fut.into_result(), Ok(42));
    /// ```
    pub fn new() -> Future<T> {
        let task: Task<T, fn() -> T> = Task {
            core: Core::new(0, PENDING),
            job: UnsafeCell::new(None),
            scope: NoScope,
            link: super::pool::Link::new(),
        };
        Future {
            task: Arc::new(task),
        }
    }
}

/// Completion by a pool that runs the work elsewhere (the process pool): a future made by
/// [`Future::new`] is started, maybe started over, and finished by whoever started it.
impl<T> Future<T> {
    /// Moves a pending future to running (Python's `set_running_or_notify_cancel`); false when
    /// it is no longer pending (cancelled, or completed by `set_result`). Only for futures made
    /// by [`Future::new`], which have no closure to run: the caller now owns the completion.
    pub(crate) fn start(&self) -> bool {
        self.core().claim()
    }

    /// Moves a future this thread [`start`](Future::start)ed back to pending (the work did not
    /// begin after all): it can be cancelled again, and started by another.
    pub(crate) fn unstart(&self) {
        self.core().unclaim();
    }

    /// Completes a future this thread [`start`](Future::start)ed; waiters, callbacks and
    /// awaiting tasks are told.
    pub(crate) fn finish_started(&self, outcome: Result<T, TaskError>) {
        let me = self.clone();
        self.core().finish(outcome, &|| me.clone());
    }

    /// Completes a future this thread did not start, if it is still pending (a pool settling
    /// queued work); false when it was not (cancelled or completed meanwhile).
    pub(crate) fn settle(&self, outcome: Result<T, TaskError>) -> bool {
        let me = self.clone();
        self.task.settle_if_pending(outcome, &|| me.clone()).is_ok()
    }
}

impl<T: Send + 'static> Default for Future<T> {
    fn default() -> Self {
        Future::new()
    }
}

impl<T> Future<T> {
    /// Completes a pending future with `value` (Python's `set_result`); waiters, callbacks
    /// and awaiting tasks are told. On a pool's future still in the queue this settles it
    /// without running the task.
    ///
    /// # Errors
    ///
    /// [`InvalidStateError`] with `value` handed back when the future is already running,
    /// done or cancelled (Python's `InvalidStateError`): a future is completed once.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::executor::Future;
    ///
    /// let fut = Future::new();
    /// fut.set_result("done").unwrap();
    /// assert_eq!(fut.set_result("again").unwrap_err().into_inner(), "again");
    /// assert_eq!(fut.result(), Ok("done"));
    /// ```
    pub fn set_result(&self, value: T) -> Result<(), InvalidStateError<T>> {
        let me = self.clone();
        match self.task.settle_if_pending(Ok(value), &|| me.clone()) {
            Ok(()) => Ok(()),
            Err(Ok(value)) => Err(InvalidStateError(value)),
            Err(Err(_)) => unreachable!("settling hands back the outcome it was given"),
        }
    }

    /// Fails a pending future with `error` (Python's `set_exception`); readers get it as
    /// their `Err`. [`TaskError::Failed`] carries an adapter's own message.
    ///
    /// # Errors
    ///
    /// [`InvalidStateError`] with `error` handed back when the future is already running,
    /// done or cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::executor::{Future, TaskError};
    ///
    /// let fut = Future::<u32>::new();
    /// let error = TaskError::Failed { message: "connection reset".into() };
    /// fut.set_exception(error.clone()).unwrap();
    /// assert_eq!(fut.result(), Err(error));
    /// ```
    pub fn set_exception(&self, error: TaskError) -> Result<(), InvalidStateError<TaskError>> {
        let me = self.clone();
        match self.task.settle_if_pending(Err(error), &|| me.clone()) {
            Ok(()) => Ok(()),
            Err(Err(error)) => Err(InvalidStateError(error)),
            Err(Ok(_)) => unreachable!("settling hands back the outcome it was given"),
        }
    }
}

/// Moves a done task's value out (leaving `None`: taken); a failure stays in place.
pub(crate) fn take_outcome<T>(slot: &mut Outcome<T>) -> Result<T, TaskError> {
    match slot {
        Some(Err(e)) => Err((**e).clone()),
        Some(Ok(_)) => match slot.take() {
            Some(Ok(v)) => Ok(v),
            _ => unreachable!("checked just above"),
        },
        None => Err(TaskError::ResultTaken),
    }
}

fn read_outcome<T: Clone>(slot: &Outcome<T>) -> Result<T, TaskError> {
    match slot {
        Some(Ok(v)) => Ok(v.clone()),
        Some(Err(e)) => Err((**e).clone()),
        None => Err(TaskError::ResultTaken),
    }
}

impl<T: Clone> Future<T> {
    /// Blocks until done and returns a clone of the value (Python's `result()`).
    ///
    /// On a worker of this future's pool, a still-pending task is run inline (see the
    /// type-level docs), so waiting on a task you submitted does not deadlock.
    ///
    /// # Errors
    ///
    /// The [`TaskError`] when the task panicked, was cancelled, the pool broke, or the value
    /// was taken by [`into_result`](Future::into_result).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let f = pool.submit(|| String::from("hi")).unwrap();
    /// assert_eq!(f.result().as_deref(), Ok("hi"));
    /// assert_eq!(f.result().as_deref(), Ok("hi")); // still there
    /// ```
    pub fn result(&self) -> Result<T, TaskError> {
        read_outcome(self.wait_guard().outcome())
    }

    /// Like [`result`](Future::result), giving up after `timeout` (Python's
    /// `result(timeout)`). Never runs the task inline.
    ///
    /// # Errors
    ///
    /// [`ResultTimeoutError::Timeout`] when not done in time,
    /// [`ResultTimeoutError::TimeoutOverflow`] for a timeout too large, and
    /// [`ResultTimeoutError::Task`] when the task finished without a value.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let f = pool.submit(|| 3).unwrap();
    /// assert_eq!(f.result_timeout(Duration::from_secs(10)), Ok(3));
    /// ```
    pub fn result_timeout(&self, timeout: Duration) -> Result<T, ResultTimeoutError> {
        let deadline =
            crate::time::deadline_after(timeout).map_err(ResultTimeoutError::TimeoutOverflow)?;
        let Some(done) = self.core().wait_done(Some(deadline)) else {
            return Err(ResultTimeoutError::Timeout);
        };
        read_outcome(done.outcome()).map_err(ResultTimeoutError::Task)
    }

    /// The value if the task is done, without blocking.
    ///
    /// # Errors
    ///
    /// [`TryResultError::NotDone`] while pending or running, [`TryResultError::Task`] when the
    /// task finished without a value.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::executor::{ThreadPool, TryResultError};
    ///
    /// let pool = ThreadPool::new().unwrap();
    /// let f = pool.submit(|| 1).unwrap();
    /// f.wait();
    /// assert_eq!(f.try_result(), Ok(1));
    /// ```
    pub fn try_result(&self) -> Result<T, TryResultError> {
        let Some(done) = self.core().done_guard() else {
            return Err(TryResultError::NotDone);
        };
        read_outcome(done.outcome()).map_err(TryResultError::Task)
    }
}

pub(crate) fn new_waiter_id() -> u64 {
    next_waiter_id()
}
