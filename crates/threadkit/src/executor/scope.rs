//! Scoped tasks: [`ThreadPool::scope`], [`Scope`], [`ScopedFuture`].

use crate::primitive::{Condvar, Mutex};
use crate::unwind;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::future::{
    erase_run, erase_scoped, erase_task_ref, worker_of, Finished, Future, Run, ScopedTask, Task,
    TaskError, TaskRef,
};
use super::future::{ResultTimeoutError, TryResultError};
use super::pool::{PoolHandle, Shared, SubmitError, ThreadPool};
use crate::time::TimeoutOverflow;

struct Inner {
    /// Tasks submitted and not completely finished.
    pending: usize,
    /// Every task of the scope, in submission order.
    tasks: Vec<Arc<dyn ScopedTask>>,
}

/// The bookkeeping of one scope, shared with its tasks.
pub(crate) struct ScopeState {
    inner: Mutex<Inner>,
    cond: Condvar,
}

impl ScopeState {
    fn new() -> Self {
        ScopeState {
            inner: Mutex::new(Inner {
                pending: 0,
                tasks: Vec::new(),
            }),
            cond: Condvar::new(),
        }
    }

    /// Called by whoever finished a task, after its last use of the task's data.
    fn task_finished(&self) {
        let mut inner = self.inner.lock();
        inner.pending -= 1;
        drop(inner);
        self.cond.notify_all();
    }

    /// Waits until every task finished. On a worker of the pool, runs still-pending tasks of
    /// the scope inline so that a scope opened inside a task cannot deadlock the pool.
    fn wait_all(&self, pool_id: u32) {
        let on_worker = worker_of() == pool_id;
        let mut cursor = 0;
        let mut inner = self.inner.lock();
        while inner.pending > 0 {
            if on_worker && cursor < inner.tasks.len() {
                let task = inner.tasks[cursor].clone();
                cursor += 1;
                drop(inner);
                task.help();
                inner = self.inner.lock();
                continue;
            }
            self.cond.wait(&mut inner);
        }
    }

    /// Drops every value left in the scope's futures (nobody can read them any more) and the
    /// scope's references to its tasks.
    fn clear(&self) {
        let tasks = std::mem::take(&mut self.inner.lock().tasks);
        for t in &tasks {
            t.clear();
        }
    }
}

/// A scoped task tells its scope when it is completely finished.
impl Finished for Arc<ScopeState> {
    fn finished(&self) {
        self.task_finished();
    }
}

/// A scope for tasks that borrow from the caller's stack, made by [`ThreadPool::scope`]
/// (like [`std::thread::Scope`]).
///
/// # Examples
///
/// ```
/// let pool = threadkit::executor::ThreadPool::new().unwrap();
/// let words = vec!["a".to_string(), "bb".to_string()];
/// let total = pool.scope(|s| {
///     let lens: Vec<_> = words.iter().map(|w| s.submit(move || w.len()).unwrap()).collect();
///     lens.into_iter().map(|f| f.into_result().unwrap()).sum::<usize>()
/// });
/// assert_eq!(total, 3);
/// ```
pub struct Scope<'scope, 'env: 'scope> {
    shared: Arc<Shared>,
    state: Arc<ScopeState>,
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pending = self.state.inner.lock().pending;
        f.debug_struct("Scope").field("pending", &pending).finish()
    }
}

pub(crate) fn run_scope<'env, F, R>(shared: &Arc<Shared>, f: F) -> R
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
{
    let scope = Scope {
        shared: shared.clone(),
        state: Arc::new(ScopeState::new()),
        scope: PhantomData,
        env: PhantomData,
    };
    let result = unwind::catch_reported(|| f(&scope));
    // Sound even when `f` panicked: no task may outlive the borrowed data.
    scope.state.wait_all(shared.id);
    scope.state.clear();
    match result {
        Ok(r) => r,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Schedules `f`, which may borrow anything that outlives the scope, on the pool. The
    /// scope returns only once every task it started has finished, even if the scope's
    /// closure panics. Tasks may submit more tasks to the scope.
    ///
    /// # Errors
    ///
    /// As [`ThreadPool::submit`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let mut counts = [0usize; 4];
    /// pool.scope(|s| {
    ///     for (i, c) in counts.iter_mut().enumerate() {
    ///         s.submit(move || *c = i * 10).unwrap();
    ///     }
    /// });
    /// assert_eq!(counts, [0, 10, 20, 30]);
    /// ```
    pub fn submit<F, T>(&'scope self, f: F) -> Result<ScopedFuture<'scope, T>, SubmitError>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let task = Arc::new(Task::new(f, self.shared.id, self.state.clone()));
        let as_ref: Arc<dyn TaskRef<T> + 'scope> = task.clone();
        let as_run: Arc<dyn Run + 'scope> = task.clone();
        let as_scoped: Arc<dyn ScopedTask + 'scope> = task;
        // SAFETY: `run_scope` does not return before this task is completely finished (its
        // `pending` count covers it until whoever finished it stopped touching it) and then
        // clears its value; `ScopedFuture<'scope, T>` cannot outlive the scope. So after the
        // borrowed data is gone, the erased handles can only see a task with no closure and
        // no value.
        let (fut, job, scoped) = unsafe {
            (
                Future::from_task(erase_task_ref(as_ref)),
                erase_run(as_run),
                erase_scoped(as_scoped),
            )
        };
        {
            let mut inner = self.state.inner.lock();
            inner.pending += 1;
            inner.tasks.push(scoped);
        }
        if let Err(e) = self.shared.enqueue(job) {
            self.state.task_finished();
            return Err(e);
        }
        // Wake a scope waiting on a worker so it can run the new task inline.
        self.state.cond.notify_all();
        Ok(ScopedFuture {
            fut,
            scope: PhantomData,
        })
    }
}

impl ThreadPool {
    /// Runs `f` with a [`Scope`] whose tasks may borrow from the caller's stack (like
    /// [`std::thread::scope`] and `rayon::scope`). Returns what `f` returns once every task
    /// of the scope has finished. If `f` panics, the scope still waits for its tasks, then
    /// resumes the panic. A task's own panic stays in its [`ScopedFuture`].
    ///
    /// Called from one of this pool's tasks, the waiting worker runs the scope's still-queued
    /// tasks itself, so nested scopes do not deadlock a full pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::builder().max_workers(2).build().unwrap();
    /// let data = vec![1, 2, 3, 4];
    /// let (left, right) = data.split_at(2);
    /// let sum = pool.scope(|s| {
    ///     let a = s.submit(|| left.iter().sum::<i32>()).unwrap();
    ///     let b = s.submit(|| right.iter().sum::<i32>()).unwrap();
    ///     a.into_result().unwrap() + b.into_result().unwrap()
    /// });
    /// assert_eq!(sum, 10);
    /// ```
    pub fn scope<'env, F, R>(&self, f: F) -> R
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    {
        run_scope(&self.shared, f)
    }
}

impl PoolHandle {
    /// Same as [`ThreadPool::scope`], for use inside the pool's own tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::builder().max_workers(1).build().unwrap();
    /// let h = pool.handle();
    /// let f = pool
    ///     .submit(move || {
    ///         let v = vec![1, 2, 3];
    ///         h.scope(|s| s.submit(|| v.len()).unwrap().into_result().unwrap())
    ///     })
    ///     .unwrap();
    /// assert_eq!(f.result(), Ok(3));
    /// ```
    pub fn scope<'env, F, R>(&self, f: F) -> R
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    {
        run_scope(self.shared(), f)
    }
}

/// The future of a scoped task ([`Scope::submit`]); it cannot outlive its scope. It has the
/// reading and waiting methods of [`Future`] (not callbacks).
///
/// # Examples
///
/// ```
/// let pool = threadkit::executor::ThreadPool::new().unwrap();
/// let name = String::from("scoped");
/// pool.scope(|s| {
///     let f = s.submit(|| name.len()).unwrap();
///     assert_eq!(f.result(), Ok(6));
/// });
/// ```
pub struct ScopedFuture<'scope, T> {
    fut: Future<T>,
    scope: PhantomData<&'scope ()>,
}

impl<T> fmt::Debug for ScopedFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ScopedFuture").field(&self.fut).finish()
    }
}

impl<T> ScopedFuture<'_, T> {
    /// As [`Future::is_done`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// pool.scope(|s| {
    ///     let f = s.submit(|| ()).unwrap();
    ///     f.wait();
    ///     assert!(f.is_done());
    /// });
    /// ```
    pub fn is_done(&self) -> bool {
        self.fut.is_done()
    }

    /// As [`Future::is_running`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// pool.scope(|s| {
    ///     let f = s.submit(|| ()).unwrap();
    ///     f.wait();
    ///     assert!(!f.is_running());
    /// });
    /// ```
    pub fn is_running(&self) -> bool {
        self.fut.is_running()
    }

    /// As [`Future::is_cancelled`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// pool.scope(|s| {
    ///     let f = s.submit(|| ()).unwrap();
    ///     f.wait();
    ///     assert!(!f.is_cancelled());
    /// });
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.fut.is_cancelled()
    }

    /// As [`Future::cancel`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// pool.scope(|s| {
    ///     let f = s.submit(|| ()).unwrap();
    ///     f.wait();
    ///     assert!(!f.cancel()); // already finished
    /// });
    /// ```
    pub fn cancel(&self) -> bool {
        self.fut.cancel()
    }

    /// As [`Future::wait`].
    ///
    /// # Examples
    ///
    /// See [`is_done`](ScopedFuture::is_done).
    pub fn wait(&self) {
        self.fut.wait()
    }

    /// As [`Future::wait_timeout`].
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
    /// pool.scope(|s| {
    ///     let f = s.submit(|| ()).unwrap();
    ///     assert_eq!(f.wait_timeout(Duration::from_secs(10)), Ok(true));
    /// });
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, TimeoutOverflow> {
        self.fut.wait_timeout(timeout)
    }

    /// As [`Future::failure`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// pool.scope(|s| {
    ///     let f = s.submit(|| -> u8 { panic!("bad") }).unwrap();
    ///     assert!(f.failure().is_some());
    /// });
    /// ```
    pub fn failure(&self) -> Option<TaskError> {
        self.fut.failure()
    }

    /// As [`Future::into_result`].
    ///
    /// # Errors
    ///
    /// As [`Future::into_result`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let v = vec![1, 2];
    /// pool.scope(|s| {
    ///     let f = s.submit(|| &v[1]).unwrap();
    ///     assert_eq!(f.into_result(), Ok(&2));
    /// });
    /// ```
    pub fn into_result(self) -> Result<T, TaskError> {
        self.fut.into_result()
    }
}

impl<T: Clone> ScopedFuture<'_, T> {
    /// As [`Future::result`].
    ///
    /// # Errors
    ///
    /// As [`Future::result`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// pool.scope(|s| assert_eq!(s.submit(|| 1).unwrap().result(), Ok(1)));
    /// ```
    pub fn result(&self) -> Result<T, TaskError> {
        self.fut.result()
    }

    /// As [`Future::result_timeout`].
    ///
    /// # Errors
    ///
    /// As [`Future::result_timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// pool.scope(|s| {
    ///     let f = s.submit(|| 1).unwrap();
    ///     assert_eq!(f.result_timeout(Duration::from_secs(10)), Ok(1));
    /// });
    /// ```
    pub fn result_timeout(&self, timeout: Duration) -> Result<T, ResultTimeoutError> {
        self.fut.result_timeout(timeout)
    }

    /// As [`Future::try_result`].
    ///
    /// # Errors
    ///
    /// As [`Future::try_result`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// pool.scope(|s| {
    ///     let f = s.submit(|| 1).unwrap();
    ///     f.wait();
    ///     assert_eq!(f.try_result(), Ok(1));
    /// });
    /// ```
    pub fn try_result(&self) -> Result<T, TryResultError> {
        self.fut.try_result()
    }
}
