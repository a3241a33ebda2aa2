//! [`Future`]: the shared handle to a task's eventual outcome, and its state machine.
//!
//! A task lives in one allocation (`Task<T, F>`): the job closure `F`, the state behind a
//! mutex, a condition variable for blocking readers, the done-callbacks and the registrations
//! of [`wait`](super::wait) / [`as_completed`](super::as_completed). The pool's queue holds the
//! same allocation type-erased as a [`Run`]; every [`Future`] clone holds it as a `TaskRef<T>`.
//!
//! States: `Pending -> Running -> Done(outcome)`, `Pending -> Done(Cancelled | BrokenPool)`;
//! `Done(Ok)` becomes `Taken` when [`Future::into_result`] moves the value out. Whoever moves
//! the task out of `Pending` (a worker, a waiter running it inline, `cancel`, a drain on
//! shutdown) is the only one to touch the job closure, and finishes the task.

use crate::primitive::{Condvar, Mutex, MutexGuard};
use crate::unwind;
use crossbeam_channel::Sender;
use crossbeam_utils::Backoff;
use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::scope::ScopeState;
use crate::TimeoutOverflow;

/// Why a task produced no value: the error side of [`Future::result`].
///
/// Python raises the task's own exception from `result()`, `CancelledError` for a cancelled
/// future and `BrokenThreadPool` when a worker's initializer failed; threadkit returns them as
/// values.
///
/// # Examples
///
/// ```
/// use threadkit::executor::{TaskError, ThreadPool};
///
/// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
/// let f = pool.submit(|| -> u32 { panic!("boom") }).unwrap();
/// match f.result() {
///     Err(TaskError::Panicked { message }) => assert_eq!(message, "boom"),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskError {
    /// The task panicked (Python: the task raised). The panic message is kept.
    Panicked {
        /// The panic's message (`panic!`'s string, or a placeholder for other payloads).
        message: String,
    },
    /// The future was cancelled before it started (Python's `CancelledError`).
    Cancelled,
    /// The pool was broken by a failing initializer before the task could run (Python's
    /// `BrokenThreadPool`).
    BrokenPool {
        /// What the initializer's panic said.
        reason: String,
    },
    /// The value was already moved out by [`Future::into_result`] through another clone of
    /// this future.
    ResultTaken,
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Panicked { message } => write!(f, "task panicked: {message}"),
            TaskError::Cancelled => f.write_str("the future was cancelled"),
            TaskError::BrokenPool { reason } => write!(
                f,
                "A thread initializer failed, the thread pool is not usable anymore ({reason})"
            ),
            TaskError::ResultTaken => {
                f.write_str("the result was already taken by Future::into_result")
            }
        }
    }
}

impl std::error::Error for TaskError {}

/// The error of [`Future::result_timeout`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::executor::{ResultTimeoutError, ThreadPool};
///
/// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let f = pool.submit(move || rx.recv().unwrap()).unwrap();
/// assert_eq!(f.result_timeout(Duration::from_millis(10)), Err(ResultTimeoutError::Timeout));
/// tx.send(()).unwrap();
/// assert_eq!(f.result_timeout(Duration::from_secs(10)), Ok(()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResultTimeoutError {
    /// The task did not finish in time (Python's `TimeoutError`); the future is unchanged.
    Timeout,
    /// The timeout was too large to compute a deadline.
    TimeoutOverflow(TimeoutOverflow),
    /// The task finished without a value.
    Task(TaskError),
}

impl fmt::Display for ResultTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResultTimeoutError::Timeout => f.write_str("timed out waiting for the future's result"),
            ResultTimeoutError::TimeoutOverflow(e) => e.fmt(f),
            ResultTimeoutError::Task(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ResultTimeoutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ResultTimeoutError::Timeout => None,
            ResultTimeoutError::TimeoutOverflow(e) => Some(e),
            ResultTimeoutError::Task(e) => Some(e),
        }
    }
}

/// The error of [`Future::try_result`].
///
/// # Examples
///
/// ```
/// use threadkit::executor::{ThreadPool, TryResultError};
///
/// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let f = pool.submit(move || rx.recv().unwrap()).unwrap();
/// assert_eq!(f.try_result(), Err(TryResultError::NotDone));
/// tx.send(()).unwrap();
/// f.wait();
/// assert_eq!(f.try_result(), Ok(()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryResultError {
    /// The task is pending or running.
    NotDone,
    /// The task finished without a value.
    Task(TaskError),
}

impl fmt::Display for TryResultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryResultError::NotDone => f.write_str("the future is not done yet"),
            TryResultError::Task(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for TryResultError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TryResultError::NotDone => None,
            TryResultError::Task(e) => Some(e),
        }
    }
}

pub(crate) type Callback<T> = Box<dyn FnOnce(&Future<T>) + Send>;

/// A registration of `wait` / `as_completed`: on completion, `index` is sent on `tx`.
pub(crate) struct Waiter {
    pub(crate) tx: Sender<usize>,
    pub(crate) index: usize,
    pub(crate) id: u64,
}

pub(crate) enum Stage<T> {
    Pending,
    Running,
    /// The failure is boxed to keep plain tasks small.
    Done(Result<T, Box<TaskError>>),
    /// Done successfully; the value was moved out (or cleared at the end of a scope).
    Taken,
}

pub(crate) struct State<T> {
    pub(crate) stage: Stage<T>,
    /// Callbacks and `wait` / `as_completed` registrations; allocated on first use so a
    /// plain task stays small.
    extra: Option<Box<Extra<T>>>,
}

pub(crate) struct Extra<T> {
    callbacks: Vec<Callback<T>>,
    waiters: Vec<Waiter>,
}

impl<T> State<T> {
    fn extra(&mut self) -> &mut Extra<T> {
        self.extra.get_or_insert_with(|| {
            Box::new(Extra {
                callbacks: Vec::new(),
                waiters: Vec::new(),
            })
        })
    }

    pub(crate) fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done(_) | Stage::Taken)
    }
}

/// The part of a task that does not depend on its closure type.
pub(crate) struct Core<T> {
    pub(crate) state: Mutex<State<T>>,
    cond: Condvar,
    /// Set (after the stage) when the task is done: lets waiters spin briefly without the lock.
    done: AtomicBool,
    /// The pool whose workers may run this task inline (0: none). `u32` keeps tasks small.
    pool_id: u32,
    /// Deadlock detector hook: the thread token of the worker running the task (0: none),
    /// the "holder" a blocked waiter names, and the future's id.
    #[cfg(feature = "deadlock-detection")]
    runner: AtomicU64,
    #[cfg(feature = "deadlock-detection")]
    deadlock_id: crate::sync::deadlock::ResourceId,
}

thread_local! {
    /// The id of the pool the current thread works for (0: not a pool worker).
    static WORKER_OF: Cell<u32> = const { Cell::new(0) };
}

/// Marks the current thread as a worker of pool `id`.
pub(crate) fn set_worker_of(id: u32) {
    WORKER_OF.with(|w| w.set(id));
}

/// The pool the current thread works for, 0 when none.
pub(crate) fn worker_of() -> u32 {
    WORKER_OF.with(|w| w.get())
}

fn next_waiter_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl<T> Core<T> {
    fn new(pool_id: u32, stage: Stage<T>) -> Self {
        Core {
            state: Mutex::new(State { stage, extra: None }),
            cond: Condvar::new(),
            done: AtomicBool::new(false),
            pool_id,
            #[cfg(feature = "deadlock-detection")]
            runner: AtomicU64::new(0),
            #[cfg(feature = "deadlock-detection")]
            deadlock_id: crate::sync::deadlock::ResourceId::new(),
        }
    }

    /// Publishes `outcome`, wakes every kind of waiter, then runs the callbacks.
    pub(crate) fn finish(
        &self,
        mut st: MutexGuard<'_, State<T>>,
        outcome: Result<T, TaskError>,
        me: &dyn Fn() -> Future<T>,
    ) {
        st.stage = Stage::Done(outcome.map_err(Box::new));
        self.done.store(true, Ordering::Release);
        let extra = st.extra.take();
        drop(st);
        // Cheap when nobody waits (parking_lot checks an atomic first).
        self.cond.notify_all();
        if let Some(extra) = extra {
            for w in extra.waiters {
                // The receiver may be gone (the waiting call returned); that is fine.
                let _ = w.tx.send(w.index);
            }
            if !extra.callbacks.is_empty() {
                let fut = me();
                run_callbacks(extra.callbacks, &fut);
            }
        }
    }

    /// Blocks until done or `deadline`; returns the guard and whether it is done.
    fn wait_done(&self, deadline: Option<Instant>) -> (MutexGuard<'_, State<T>>, bool) {
        // Tasks are often about to finish: spin a little before sleeping on the condvar,
        // as crossbeam-channel's receivers do.
        let backoff = Backoff::new();
        while !self.done.load(Ordering::Acquire) && !backoff.is_completed() {
            backoff.snooze();
        }
        // Deadlock detector hook: the watchdog sees this thread blocked on the future, held by
        // the worker running it.
        #[cfg(feature = "deadlock-detection")]
        let _waiting = crate::sync::deadlock::waiting_on(
            crate::sync::deadlock::Resource {
                kind: crate::sync::deadlock::ResourceKind::Future,
                id: self.deadlock_id.get(),
            },
            &self.runner,
        );
        let mut st = self.state.lock();
        while !st.is_done() {
            let timed_out = match deadline {
                Some(d) => self.cond.wait_until(&mut st, d),
                None => {
                    self.cond.wait(&mut st);
                    false
                }
            };
            if timed_out && !st.is_done() {
                return (st, false);
            }
        }
        (st, true)
    }

    /// Registers a `wait` / `as_completed` waiter unless already done; returns whether done.
    pub(crate) fn register(&self, tx: &Sender<usize>, index: usize, id: u64) -> bool {
        let mut st = self.state.lock();
        if st.is_done() {
            return true;
        }
        st.extra().waiters.push(Waiter {
            tx: tx.clone(),
            index,
            id,
        });
        false
    }

    /// Removes the registrations with `id`.
    pub(crate) fn unregister(&self, id: u64) {
        let mut st = self.state.lock();
        if let Some(extra) = &mut st.extra {
            extra.waiters.retain(|w| w.id != id);
        }
    }
}

fn run_callbacks<T>(callbacks: Vec<Callback<T>>, fut: &Future<T>) {
    for cb in callbacks {
        if let Err(payload) = unwind::catch(|| cb(fut)) {
            tracing::error!(
                panic = %unwind::payload_message(&*payload),
                "exception calling callback for future (a done-callback panicked)"
            );
        }
    }
}

/// The closure-typed part of a task, type-erased behind `TaskRef<T>` (for futures) and `Run`
/// (for the queue).
pub(crate) trait TaskRef<T>: Send + Sync {
    fn core(&self) -> &Core<T>;
    /// Runs the task on this thread if it is still pending; returns whether it did.
    fn run_if_pending(&self, me: &dyn Fn() -> Future<T>) -> bool;
    /// Finishes the task with `error` if it is still pending; returns whether it did.
    fn abort_if_pending(&self, error: TaskError, me: &dyn Fn() -> Future<T>) -> bool;
}

/// A queue entry: the task seen by the worker that pops it.
pub(crate) trait Run: Send + Sync {
    /// Runs the task unless someone else already moved it out of `Pending`.
    fn run(self: Arc<Self>);
    /// Finishes the task with `error` unless it already left `Pending`.
    fn abort(self: Arc<Self>, error: TaskError);
}

pub(crate) struct Task<T, F> {
    core: Core<T>,
    /// Taken exactly once, under `core.state`'s lock, by whoever moves the task out of
    /// `Pending`.
    job: UnsafeCell<Option<F>>,
    /// The scope this task belongs to, told when the task is completely finished.
    scope: Option<Arc<ScopeState>>,
}

// SAFETY: `job` is only accessed while holding `core.state`'s lock (see `claim`), so the
// `F: Send` closure is moved to at most one thread; `core` is Sync when `T: Send` (a mutex).
unsafe impl<T: Send, F: Send> Sync for Task<T, F> {}

impl<T, F> Task<T, F>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    pub(crate) fn new(job: F, pool_id: u32, scope: Option<Arc<ScopeState>>) -> Self {
        Task {
            core: Core::new(pool_id, Stage::Pending),
            job: UnsafeCell::new(Some(job)),
            scope,
        }
    }

    /// Moves the task out of `Pending` into `next` and hands back the closure, if pending.
    fn claim(&self, st: &mut MutexGuard<'_, State<T>>, next: Stage<T>) -> Option<F> {
        if !matches!(st.stage, Stage::Pending) {
            return None;
        }
        st.stage = next;
        // SAFETY: we hold `core.state`'s lock (`st` borrows it) and the stage was `Pending`,
        // which only the holder of that lock can leave; so no other thread accesses `job`
        // now, and no one will again (the stage is no longer `Pending`).
        unsafe { (*self.job.get()).take() }
    }

    fn execute(&self, me: &dyn Fn() -> Future<T>) -> bool {
        let job = {
            let mut st = self.core.state.lock();
            match self.claim(&mut st, Stage::Running) {
                Some(job) => job,
                None => return false,
            }
        };
        #[cfg(feature = "deadlock-detection")]
        self.core
            .runner
            .store(crate::primitive::thread_token(), Ordering::Relaxed);
        let outcome = unwind::catch(job).map_err(|payload| TaskError::Panicked {
            message: unwind::payload_message(&*payload),
        });
        #[cfg(feature = "deadlock-detection")]
        self.core.runner.store(0, Ordering::Relaxed);
        let st = self.core.state.lock();
        self.core.finish(st, outcome, me);
        self.finished();
        true
    }

    fn abort_pending(&self, error: TaskError, me: &dyn Fn() -> Future<T>) -> bool {
        let mut st = self.core.state.lock();
        let Some(job) = self.claim(&mut st, Stage::Running) else {
            return false;
        };
        drop(st);
        // The closure's captures are dropped before anyone can see the task finished.
        if let Err(payload) = unwind::catch(move || drop(job)) {
            tracing::error!(
                panic = %unwind::payload_message(&*payload),
                "dropping a cancelled task's closure panicked"
            );
        }
        let st = self.core.state.lock();
        self.core.finish(st, Err(error), me);
        self.finished();
        true
    }

    fn finished(&self) {
        if let Some(scope) = &self.scope {
            scope.task_finished();
        }
    }
}

impl<T, F> TaskRef<T> for Task<T, F>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn core(&self) -> &Core<T> {
        &self.core
    }
    fn run_if_pending(&self, me: &dyn Fn() -> Future<T>) -> bool {
        self.execute(me)
    }
    fn abort_if_pending(&self, error: TaskError, me: &dyn Fn() -> Future<T>) -> bool {
        self.abort_pending(error, me)
    }
}

fn as_task_ref<'a, T: Send + 'a, F: FnOnce() -> T + Send + 'a>(
    task: Arc<Task<T, F>>,
) -> Arc<dyn TaskRef<T> + 'a> {
    task
}

/// A `Future` for a task seen through the queue. Only called when the task has callbacks.
fn queue_future<T: Send, F: FnOnce() -> T + Send>(task: &Arc<Task<T, F>>) -> Future<T> {
    // SAFETY: callbacks can only be added through a public `Future<T>`, which exists only for
    // tasks of `ThreadPool::submit` and friends, whose `F` and `T` are `'static` (the
    // lifetime is unchanged). Scoped tasks (non-`'static`) are reachable only through
    // `ScopedFuture`, which cannot add callbacks, so for them this is never called.
    Future::from_task(unsafe { erase_task_ref(as_task_ref(task.clone())) })
}

impl<T, F> Run for Task<T, F>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn run(self: Arc<Self>) {
        let me = || queue_future(&self);
        self.execute(&me);
    }
    fn abort(self: Arc<Self>, error: TaskError) {
        let me = || queue_future(&self);
        self.abort_pending(error, &me);
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

impl<T, F> ScopedTask for Task<T, F>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn help(&self) -> bool {
        if self.core.pool_id == 0 || worker_of() != self.core.pool_id {
            return false;
        }
        self.execute(&|| unreachable!("scoped tasks have no callbacks"))
    }
    fn clear(&self) {
        let mut st = self.core.state.lock();
        let old = match st.stage {
            Stage::Done(Ok(_)) => std::mem::replace(&mut st.stage, Stage::Taken),
            _ => return,
        };
        drop(st);
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
            core: Core::new(0, Stage::Running),
            job: UnsafeCell::new(None),
            scope: None,
        };
        let fut = Future {
            task: Arc::new(task),
        };
        (Promise { fut: fut.clone() }, fut)
    }

    pub(crate) fn complete(self, outcome: Result<T, TaskError>) {
        let core = self.fut.task.core();
        let st = core.state.lock();
        let fut = &self.fut;
        core.finish(st, outcome, &|| fut.clone());
    }
}

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
        let st = self.task.core().state.lock();
        let state = match &st.stage {
            Stage::Pending => "pending",
            Stage::Running => "running",
            Stage::Done(Ok(_)) | Stage::Taken => "finished",
            Stage::Done(Err(e)) if **e == TaskError::Cancelled => "cancelled",
            Stage::Done(Err(_)) => "finished with an error",
        };
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
        matches!(self.core().state.lock().stage, Stage::Pending)
    }

    fn wait_guard(&self) -> MutexGuard<'_, State<T>> {
        self.help();
        self.core().wait_done(None).0
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
        self.core().state.lock().is_done()
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
        matches!(self.core().state.lock().stage, Stage::Running)
    }

    /// Whether the future was cancelled (Python's `cancelled()`).
    ///
    /// # Examples
    ///
    /// See [`cancel`](Future::cancel).
    pub fn is_cancelled(&self) -> bool {
        matches!(
            self.core().state.lock().stage,
            Stage::Done(Err(ref e)) if **e == TaskError::Cancelled
        )
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
            .abort_if_pending(TaskError::Cancelled, &|| me.clone())
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
        let deadline = crate::deadline_after(timeout)?;
        Ok(self.core().wait_done(Some(deadline)).1)
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
    /// assert_eq!(bad.failure(), Some(TaskError::Panicked { message: "no".into() }));
    /// ```
    pub fn failure(&self) -> Option<TaskError> {
        let st = self.wait_guard();
        match &st.stage {
            Stage::Done(Err(e)) => Some((**e).clone()),
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
    pub fn into_result(self) -> Result<T, TaskError> {
        let mut st = self.wait_guard();
        take_outcome(&mut st)
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
        let mut st = self.core().state.lock();
        if !st.is_done() {
            st.extra().callbacks.push(Box::new(callback));
            return;
        }
        drop(st);
        run_callbacks(vec![Box::new(callback) as Callback<T>], self);
    }
}

pub(crate) fn take_outcome<T>(st: &mut State<T>) -> Result<T, TaskError> {
    match std::mem::replace(&mut st.stage, Stage::Taken) {
        Stage::Done(Ok(v)) => Ok(v),
        Stage::Done(Err(e)) => {
            let err = (*e).clone();
            st.stage = Stage::Done(Err(e));
            Err(err)
        }
        Stage::Taken => Err(TaskError::ResultTaken),
        other => {
            st.stage = other;
            unreachable!("take_outcome on an unfinished task")
        }
    }
}

fn read_outcome<T: Clone>(st: &State<T>) -> Result<T, TaskError> {
    match &st.stage {
        Stage::Done(Ok(v)) => Ok(v.clone()),
        Stage::Done(Err(e)) => Err((**e).clone()),
        Stage::Taken => Err(TaskError::ResultTaken),
        Stage::Pending | Stage::Running => unreachable!("read_outcome on an unfinished task"),
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
        read_outcome(&self.wait_guard())
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
            crate::deadline_after(timeout).map_err(ResultTimeoutError::TimeoutOverflow)?;
        let (st, done) = self.core().wait_done(Some(deadline));
        if !done {
            return Err(ResultTimeoutError::Timeout);
        }
        read_outcome(&st).map_err(ResultTimeoutError::Task)
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
        let st = self.core().state.lock();
        if !st.is_done() {
            return Err(TryResultError::NotDone);
        }
        read_outcome(&st).map_err(TryResultError::Task)
    }
}

pub(crate) fn new_waiter_id() -> u64 {
    next_waiter_id()
}
