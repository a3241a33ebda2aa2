//! [`Task`]: a task's core, its closure and its scope in one allocation, seen as a
//! [`TaskRef`] by futures, as a [`Run`] by the pool's queue and as a [`ScopedTask`] by its
//! scope; the lifetime erasure (`unsafe fn erase_*`) scoped tasks go through; and
//! [`Promise`], a future threadkit completes itself.

use crate::unwind;
use std::cell::UnsafeCell;
use std::sync::Arc;

use super::super::pool::Link;
use super::state::{worker_of, Core, PENDING, RUNNING};
use super::{Future, TaskError};

/// The closure-typed part of a task, type-erased behind `TaskRef<T>` (for futures) and `Run`
/// (for the queue).
pub(crate) trait TaskRef<T>: Send + Sync {
    fn core(&self) -> &Core<T>;
    /// The core through the only handle left.
    fn core_mut(&mut self) -> &mut Core<T>;
    /// Runs the task on this thread if it is still pending; returns whether it did.
    fn run_if_pending(&self, me: &dyn Fn() -> Future<T>) -> bool;
    /// Finishes the task with `outcome` (its closure dropped unrun) if it is still pending;
    /// hands `outcome` back when it is not.
    fn settle_if_pending(
        &self,
        outcome: Result<T, TaskError>,
        me: &dyn Fn() -> Future<T>,
    ) -> Result<(), Result<T, TaskError>>;
}

/// A queue entry: the task seen by the worker that pops it.
pub(crate) trait Run: Send + Sync {
    /// Runs the task unless someone else already moved it out of `Pending`.
    fn run(self: Arc<Self>);
    /// Finishes the task with `error` unless it already left `Pending`.
    fn abort(self: Arc<Self>, error: TaskError);
    /// The task's place in the pool's queue.
    fn link(&self) -> &Link;
}

/// A task: its state, its closure and its outcome in one allocation, which the queue (as a
/// [`Run`]) and every [`Future`] clone (as a [`TaskRef`]) share.
pub(crate) struct Task<T, F, S = NoScope> {
    pub(super) core: Core<T>,
    /// Taken exactly once, by the thread whose [`Core::claim`] succeeded.
    pub(super) job: UnsafeCell<Option<F>>,
    /// The scope this task belongs to, told when the task is completely finished.
    pub(super) scope: S,
    /// Its place in the pool's queue (the queue is threaded through the tasks).
    pub(super) link: Link,
}

/// What a task tells when it is completely finished: nothing for pool tasks (zero-sized, so
/// it costs no space), its scope's count for scoped ones.
pub(crate) trait Finished: Send + Sync {
    fn finished(&self);
}

/// The [`Finished`] of tasks outside a scope.
pub(crate) struct NoScope;

impl Finished for NoScope {
    fn finished(&self) {}
}

// SAFETY: `job` is only accessed by the one thread that moved `core` out of `PENDING` (a
// compare-and-swap only one thread wins), so the `F: Send` closure is moved to at most one
// thread; `core` is Sync when `T: Send`.
unsafe impl<T: Send, F: Send, S: Sync> Sync for Task<T, F, S> {}

impl<T, F, S> Task<T, F, S>
where
    F: FnOnce() -> T + Send,
    T: Send,
    S: Finished,
{
    pub(crate) fn new(job: F, pool_id: u32, scope: S) -> Self {
        Task {
            core: Core::new(pool_id, PENDING),
            job: UnsafeCell::new(Some(job)),
            scope,
            link: Link::new(),
        }
    }

    /// Moves the task out of `PENDING` and hands back the closure, if pending.
    fn claim(&self) -> Option<F> {
        if !self.core.claim() {
            return None;
        }
        // SAFETY: this thread won the claim: no other thread accesses `job` now or ever again
        // (only the claimant does, and a task is claimed once).
        unsafe { (*self.job.get()).take() }
    }

    fn execute(&self, me: &dyn Fn() -> Future<T>) -> bool {
        let Some(job) = self.claim() else {
            return false;
        };
        #[cfg(feature = "deadlock-detection")]
        self.core.runner.store(
            crate::primitive::thread_token(),
            std::sync::atomic::Ordering::Relaxed,
        );
        // The payload is dropped under a catch: not even a panic payload whose `Drop` panics
        // may skip `finish` (the future would stay `RUNNING`, its readers blocked forever).
        let outcome = unwind::catch(job).map_err(|payload| {
            let error = TaskError::panicked(&*payload);
            unwind::drop_payload(payload);
            error
        });
        #[cfg(feature = "deadlock-detection")]
        self.core
            .runner
            .store(0, std::sync::atomic::Ordering::Relaxed);
        self.core.finish(outcome, me);
        self.finished();
        true
    }

    /// Finishes a still-pending task with `outcome` without running it (cancel, a pool's
    /// shutdown, `set_result` / `set_exception`).
    fn settle_pending(
        &self,
        outcome: Result<T, TaskError>,
        me: &dyn Fn() -> Future<T>,
    ) -> Result<(), Result<T, TaskError>> {
        if !self.core.claim() {
            return Err(outcome);
        }
        // SAFETY: this thread won the claim: no other thread accesses `job` now or ever again
        // (only the claimant does, and a task is claimed once).
        let job = unsafe { (*self.job.get()).take() };
        // The closure's captures are dropped before anyone can see the task finished.
        if let Err(payload) = unwind::catch_reported(move || drop(job)) {
            let message = unwind::into_message(payload);
            tracing::error!(
                panic = %message,
                "dropping a cancelled task's closure panicked"
            );
        }
        self.core.finish(outcome, me);
        self.finished();
        Ok(())
    }

    fn finished(&self) {
        self.scope.finished();
    }
}

impl<T, F, S> TaskRef<T> for Task<T, F, S>
where
    F: FnOnce() -> T + Send,
    T: Send,
    S: Finished,
{
    fn core(&self) -> &Core<T> {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core<T> {
        &mut self.core
    }
    fn run_if_pending(&self, me: &dyn Fn() -> Future<T>) -> bool {
        self.execute(me)
    }
    fn settle_if_pending(
        &self,
        outcome: Result<T, TaskError>,
        me: &dyn Fn() -> Future<T>,
    ) -> Result<(), Result<T, TaskError>> {
        self.settle_pending(outcome, me)
    }
}

fn as_task_ref<'a, T: Send + 'a, F: FnOnce() -> T + Send + 'a, S: Finished + 'a>(
    task: Arc<Task<T, F, S>>,
) -> Arc<dyn TaskRef<T> + 'a> {
    task
}

/// A `Future` for a task seen through the queue. Only called when the task has callbacks.
fn queue_future<T: Send, F: FnOnce() -> T + Send, S: Finished>(
    task: &Arc<Task<T, F, S>>,
) -> Future<T> {
    // SAFETY: callbacks can only be added through a public `Future<T>`, which exists only for
    // tasks of `ThreadPool::submit` and friends, whose `F` and `T` are `'static` (the
    // lifetime is unchanged). Scoped tasks (non-`'static`) are reachable only through
    // `ScopedFuture`, which cannot add callbacks, so for them this is never called.
    Future::from_task(unsafe { erase_task_ref(as_task_ref(task.clone())) })
}

impl<T, F, S> Run for Task<T, F, S>
where
    F: FnOnce() -> T + Send,
    T: Send,
    S: Finished,
{
    fn run(self: Arc<Self>) {
        let me = || queue_future(&self);
        self.execute(&me);
    }
    fn abort(self: Arc<Self>, error: TaskError) {
        let me = || queue_future(&self);
        let _ = self.settle_pending(Err(error), &me);
    }
    fn link(&self) -> &Link {
        &self.link
    }
}

/// Extends a task handle's lifetime bound to `'static`.
///
/// # Safety
///
/// The caller must ensure that the handle (and every clone) is not used to reach the task's
/// closure or value after the data they borrow is gone: the scope that created a non-`'static`
/// task waits for it to finish and clears its value before returning, and its handles
/// (`ScopedFuture`) cannot outlive the scope.
pub(crate) unsafe fn erase_task_ref<'a, T>(
    task: Arc<dyn TaskRef<T> + 'a>,
) -> Arc<dyn TaskRef<T> + 'static> {
    // SAFETY: only the lifetime bound of the trait object changes (same layout); the caller
    // upholds the lifetime contract.
    unsafe { std::mem::transmute::<Arc<dyn TaskRef<T> + 'a>, Arc<dyn TaskRef<T> + 'static>>(task) }
}

/// Extends a queue entry's lifetime bound to `'static`.
///
/// # Safety
///
/// As [`erase_task_ref`]: the entry may outlive the borrowed data only once the task has
/// finished (its closure consumed or dropped) and its value was cleared; after that, running
/// or dropping the entry touches no borrowed data.
pub(crate) unsafe fn erase_run<'a>(job: Arc<dyn Run + 'a>) -> Arc<dyn Run + 'static> {
    // SAFETY: only the lifetime bound changes; the caller upholds the contract.
    unsafe { std::mem::transmute::<Arc<dyn Run + 'a>, Arc<dyn Run + 'static>>(job) }
}

/// A scoped task as its scope sees it.
pub(crate) trait ScopedTask: Send + Sync {
    /// On a worker of the task's pool, runs it inline if still pending.
    fn help(&self) -> bool;
    /// Drops a value nobody can read any more (the scope has ended).
    fn clear(&self);
}

impl<T, F, S> ScopedTask for Task<T, F, S>
where
    F: FnOnce() -> T + Send,
    T: Send,
    S: Finished,
{
    fn help(&self) -> bool {
        if self.core.pool_id == 0 || worker_of() != self.core.pool_id {
            return false;
        }
        self.execute(&|| unreachable!("scoped tasks have no callbacks"))
    }
    fn clear(&self) {
        let Some(mut done) = self.core.done_guard() else {
            return;
        };
        let old = match done.outcome_mut() {
            slot @ Some(Ok(_)) => slot.take(),
            _ => return,
        };
        drop(done);
        drop(old);
    }
}

/// Extends a scoped task's lifetime bound to `'static` for its scope's list.
///
/// # Safety
///
/// As [`erase_task_ref`].
pub(crate) unsafe fn erase_scoped<'a>(
    task: Arc<dyn ScopedTask + 'a>,
) -> Arc<dyn ScopedTask + 'static> {
    // SAFETY: only the lifetime bound changes; the caller upholds the contract.
    unsafe { std::mem::transmute::<Arc<dyn ScopedTask + 'a>, Arc<dyn ScopedTask + 'static>>(task) }
}

/// A promise: a future completed by threadkit itself (the gathered results of `map_async`).
pub(crate) struct Promise<T> {
    fut: Future<T>,
}

impl<T: Send + 'static> Promise<T> {
    pub(crate) fn new() -> (Promise<T>, Future<T>) {
        let task: Task<T, fn() -> T> = Task {
            // Made `RUNNING`: only `complete` finishes it (it cannot be cancelled).
            core: Core::new(0, RUNNING),
            job: UnsafeCell::new(None),
            scope: NoScope,
            link: Link::new(),
        };
        let fut = Future {
            task: Arc::new(task),
        };
        (Promise { fut: fut.clone() }, fut)
    }

    pub(crate) fn complete(self, outcome: Result<T, TaskError>) {
        let fut = &self.fut;
        fut.task.core().finish(outcome, &|| fut.clone());
    }
}
