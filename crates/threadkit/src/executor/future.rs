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

use crate::primitive::atomic::{AtomicU8, Ordering};
use crate::primitive::{Condvar, Mutex, MutexGuard};
use crate::unwind;
use crossbeam_channel::Sender;
#[cfg(not(loom))]
use crossbeam_utils::Backoff;
use std::cell::{Cell, UnsafeCell};
use std::fmt;
#[cfg(feature = "deadlock-detection")]
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::time::TimeoutOverflow;

/// Why a task produced no value: the error side of [`Future::result`], for tasks of a
/// [`ThreadPool`](super::ThreadPool) and of a [`ProcessPool`](crate::process::ProcessPool)
/// alike, and how a [`Process`](crate::process::Process) ended without a result (the same enum
/// is [`process::ProcessError`](crate::process::ProcessError) and
/// [`process::TaskError`](crate::process::TaskError)).
///
/// Python raises the task's own exception from `result()`, `CancelledError` for a cancelled
/// future and `BrokenThreadPool` / `BrokenProcessPool` when a worker's initializer failed;
/// threadkit returns them as values. The variants from [`Signaled`](TaskError::Signaled) on
/// come only from tasks that ran in another process.
///
/// # Examples
///
/// ```
/// use threadkit::executor::{TaskError, ThreadPool};
///
/// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
/// let f = pool.submit(|| -> u32 { panic!("boom") }).unwrap();
/// match f.result() {
///     Err(TaskError::Panicked { message, location, .. }) => {
///         assert_eq!(message, "boom");
///         assert!(location.unwrap().contains(".rs:")); // where it panicked
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskError {
    /// The task panicked (Python: the task raised), in this process or in a child. The panic
    /// message is kept, with where it happened and its backtrace when `RUST_BACKTRACE` asks for
    /// one: this is the panic's one report (Rust's panic hook does not print it as well; see
    /// [`thread::print_captured_panics`](crate::thread::print_captured_panics)).
    Panicked {
        /// The panic's message (`panic!`'s string, or a placeholder for other payloads).
        message: String,
        /// Where: `file:line:column` (`None` when the program's own panic hook replaced
        /// threadkit's).
        location: Option<String>,
        /// The backtrace, as Rust prints it, when `RUST_BACKTRACE` (or `RUST_LIB_BACKTRACE`)
        /// is `1` or `full`.
        backtrace: Option<String>,
    },
    /// The future was cancelled before it started (Python's `CancelledError`).
    Cancelled,
    /// The pool was broken by a failing worker initializer before the task could run
    /// (Python's `BrokenThreadPool`, `BrokenProcessPool`).
    BrokenPool {
        /// What the initializer's failure said.
        reason: String,
    },
    /// The value was already moved out by [`Future::into_result`] through another clone of
    /// this future (or by an earlier `join` of a [`Process`](crate::process::Process)).
    ResultTaken,
    /// The future was failed by [`Future::set_exception`] (an adapter's or a test's error;
    /// Python: an exception set with `set_exception`).
    Failed {
        /// What the error said.
        message: String,
    },
    /// The process running the task was killed by a signal (a crash, `SIGKILL`, the OOM
    /// killer; Python's negative `exitcode`). A pool replaces the worker.
    Signaled {
        /// The signal's number.
        signal: i32,
        /// The signal's name, as `"SIGKILL"`.
        name: String,
    },
    /// The process running the task exited with this code before sending a result (the
    /// function called `std::process::exit`, for instance). A pool replaces the worker.
    Exited {
        /// The exit code.
        code: i32,
    },
    /// The child process exited with code 0 without ever serving: the executable's `main`
    /// does not call [`process::init`](crate::process::init) first (in tests: no
    /// [`enable_test_support!`](crate::process::enable_test_support) at the root of the test
    /// file).
    NotServed,
    /// The task ran past its hard timeout; its worker process was killed and replaced.
    TimedOut {
        /// The timeout.
        timeout: Duration,
    },
    /// The arguments or the result could not be serialized or deserialized.
    Serialization {
        /// What the serializer said.
        message: String,
    },
    /// The process pool was terminated while the task ran.
    Terminated,
    /// Starting the worker process or talking to it failed.
    Io {
        /// The error's text.
        message: String,
    },
}

impl TaskError {
    /// The error of a task whose panic (with this payload) was just caught on this thread.
    pub(crate) fn panicked(payload: &(dyn std::any::Any + Send)) -> TaskError {
        let origin = unwind::take_origin();
        TaskError::Panicked {
            message: unwind::payload_message(payload),
            location: origin.location,
            backtrace: origin.backtrace,
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Panicked {
                message,
                location: Some(at),
                ..
            } => write!(f, "task panicked at {at}: {message}"),
            TaskError::Panicked { message, .. } => write!(f, "task panicked: {message}"),
            TaskError::Cancelled => f.write_str("the future was cancelled"),
            TaskError::BrokenPool { reason } => write!(
                f,
                "A worker initializer failed, the pool is not usable anymore ({reason})"
            ),
            TaskError::ResultTaken => {
                f.write_str("the result was already taken by Future::into_result")
            }
            TaskError::Failed { message } => write!(f, "task failed: {message}"),
            TaskError::Signaled { signal, name } => write!(
                f,
                "the process running the task was killed by {name} (signal {signal})"
            ),
            TaskError::Exited { code } => write!(
                f,
                "the process running the task exited with code {code} without a result"
            ),
            TaskError::NotServed => f.write_str(
                "the child process exited without running the function: call \
                 threadkit::process::init() first in main (in tests: \
                 threadkit::process::enable_test_support!() at the root of the test file)",
            ),
            TaskError::TimedOut { timeout } => write!(
                f,
                "the task ran past its hard timeout of {timeout:?}; its worker was killed"
            ),
            TaskError::Serialization { message } => write!(f, "serialization failed: {message}"),
            TaskError::Terminated => f.write_str("the pool was terminated while the task ran"),
            TaskError::Io { message } => {
                write!(f, "I/O error with the process running the task: {message}")
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

/// The phase bits of [`Core::state`].
const PHASE: u8 = 0b11;
/// In the queue (or not yet run): the job closure is in place.
const PENDING: u8 = 0;
/// Claimed: running, or being cancelled / aborted by the thread that claimed it.
const RUNNING: u8 = 1;
/// Finished: the outcome is written (and read or taken only under the lock).
const DONE: u8 = 2;
/// Someone registered interest under the lock (a blocked waiter, a callback, a `wait` /
/// `as_completed` registration): the finisher must take the lock and wake them. Without it
/// finishing a task is one atomic swap.
const WATCHED: u8 = 0b100;

/// A read-only view of a task's stage (for `wait`, `successful`, `Debug`).
pub(crate) enum Stage<'a, T> {
    Pending,
    Running,
    Done(&'a Result<T, Box<TaskError>>),
    /// Done successfully; the value was moved out (or cleared at the end of a scope).
    Taken,
}

/// The outcome slot: `None` until done, and again once a value was taken.
type Outcome<T> = Option<Result<T, Box<TaskError>>>;

/// Callbacks and `wait` / `as_completed` registrations; allocated on first use so a plain
/// task stays small.
pub(crate) struct Extra<T> {
    callbacks: Vec<Callback<T>>,
    waiters: Vec<Waiter>,
    /// Async tasks awaiting the future ([`Awaited`]), by registration id.
    wakers: Vec<(u64, Waker)>,
    /// Where blocked readers sleep (made by the first one; each holds a clone while asleep).
    cond: Option<Arc<Condvar>>,
}

/// The part of a task that does not depend on its closure type.
///
/// The state machine is one atomic byte (`PENDING -> RUNNING -> DONE`, plus the `WATCHED`
/// flag). Whoever moves it out of `PENDING` (a compare-and-swap) owns the job closure and is
/// the only writer of `outcome`, which it fills before publishing `DONE` with a swap. After
/// `DONE`, `outcome` is only touched while holding `lock` (so clones can read it while another
/// takes it). Waiters and callbacks register under `lock` and set `WATCHED` with a
/// read-modify-write on the same byte: either they see `DONE` (and act at once) or the
/// finisher's swap sees `WATCHED` and takes the lock to wake them; the lock orders the two.
pub(crate) struct Core<T> {
    state: AtomicU8,
    /// The pool whose workers may run this task inline (0: none). `u32` keeps tasks small.
    pool_id: u32,
    outcome: UnsafeCell<Outcome<T>>,
    lock: Mutex<Option<Box<Extra<T>>>>,
    /// Deadlock detector hook: the thread token of the worker running the task (0: none),
    /// the "holder" a blocked waiter names, and the future's id.
    #[cfg(feature = "deadlock-detection")]
    runner: AtomicU64,
    #[cfg(feature = "deadlock-detection")]
    deadlock_id: crate::sync::deadlock::ResourceId,
}

// SAFETY: `outcome` is written only by the thread that claimed the task, before `DONE` is
// published with release ordering, and afterwards accessed only while holding `lock` (see
// `DoneGuard`); so, as for a `Mutex<T>`, `T: Send` is enough to share the core.
unsafe impl<T: Send> Sync for Core<T> {}

/// Proof that a task is done, holding its lock: access to the outcome.
pub(crate) struct DoneGuard<'a, T> {
    outcome: &'a UnsafeCell<Outcome<T>>,
    _lock: MutexGuard<'a, Option<Box<Extra<T>>>>,
}

impl<T> DoneGuard<'_, T> {
    pub(crate) fn outcome(&self) -> &Outcome<T> {
        // SAFETY: a `DoneGuard` exists only once `DONE` was observed with acquire ordering
        // (the finisher's write happened before) and while `lock` is held; after `DONE` every
        // access to `outcome` holds `lock`, so nobody writes it now.
        unsafe { &*self.outcome.get() }
    }

    pub(crate) fn outcome_mut(&mut self) -> &mut Outcome<T> {
        // SAFETY: as in `outcome`, and `&mut self` makes this the only access through the guard.
        unsafe { &mut *self.outcome.get() }
    }
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
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn new_extra<T>() -> Box<Extra<T>> {
    Box::new(Extra {
        callbacks: Vec::new(),
        waiters: Vec::new(),
        wakers: Vec::new(),
        cond: None,
    })
}

impl<T> Core<T> {
    fn new(pool_id: u32, phase: u8) -> Self {
        Core {
            state: AtomicU8::new(phase),
            pool_id,
            outcome: UnsafeCell::new(None),
            lock: Mutex::new(None),
            #[cfg(feature = "deadlock-detection")]
            runner: AtomicU64::new(0),
            #[cfg(feature = "deadlock-detection")]
            deadlock_id: crate::sync::deadlock::ResourceId::new(),
        }
    }

    fn phase(&self) -> u8 {
        self.state.load(Ordering::Acquire) & PHASE
    }

    pub(crate) fn is_pending(&self) -> bool {
        self.phase() == PENDING
    }

    pub(crate) fn is_running(&self) -> bool {
        self.phase() == RUNNING
    }

    pub(crate) fn is_done(&self) -> bool {
        self.phase() == DONE
    }

    /// Moves the task from `PENDING` to `RUNNING`; true when this thread did (and so owns the
    /// job closure and must finish the task).
    fn claim(&self) -> bool {
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            if cur & PHASE != PENDING {
                return false;
            }
            match self.state.compare_exchange_weak(
                cur,
                (cur & !PHASE) | RUNNING,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// Moves a claimed task back from `RUNNING` to `PENDING` (keeping `WATCHED`): only the
    /// thread whose [`claim`](Core::claim) succeeded may call it, and only while it has not
    /// finished the task. Another thread may then claim it (cancel it, or run it).
    fn unclaim(&self) {
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            debug_assert_eq!(
                cur & PHASE,
                RUNNING,
                "unclaiming a task that is not running"
            );
            match self.state.compare_exchange_weak(
                cur,
                (cur & !PHASE) | PENDING,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => cur = now,
            }
        }
    }

    /// The outcome through exclusive access, when the task is done.
    fn outcome_if_done(&mut self) -> Option<&mut Outcome<T>> {
        if self.is_done() {
            Some(self.outcome.get_mut())
        } else {
            None
        }
    }

    /// The lock, when the task is done.
    pub(crate) fn done_guard(&self) -> Option<DoneGuard<'_, T>> {
        if !self.is_done() {
            return None;
        }
        Some(DoneGuard {
            outcome: &self.outcome,
            _lock: self.lock.lock(),
        })
    }

    /// Takes the lock and sets `WATCHED`; the guard comes back as a [`DoneGuard`] when the
    /// task is already done (`Err`), else as the plain guard to register under (`Ok`).
    #[allow(clippy::type_complexity)]
    fn watch(&self) -> Result<MutexGuard<'_, Option<Box<Extra<T>>>>, DoneGuard<'_, T>> {
        let guard = self.lock.lock();
        if self.state.fetch_or(WATCHED, Ordering::AcqRel) & PHASE == DONE {
            return Err(DoneGuard {
                outcome: &self.outcome,
                _lock: guard,
            });
        }
        Ok(guard)
    }

    /// Publishes `outcome` (the caller claimed the task, or made it `RUNNING`), wakes every
    /// kind of waiter, then runs the callbacks.
    pub(crate) fn finish(&self, outcome: Result<T, TaskError>, me: &dyn Fn() -> Future<T>) {
        // SAFETY: the caller moved the task out of `PENDING` (or created it `RUNNING`), so it
        // is the only thread touching `outcome` until the swap below publishes `DONE`.
        unsafe { *self.outcome.get() = Some(outcome.map_err(Box::new)) };
        let prev = self.state.swap(DONE, Ordering::AcqRel);
        debug_assert_eq!(prev & PHASE, RUNNING);
        if prev & WATCHED != 0 {
            self.wake(me);
        }
    }

    /// The slow part of [`finish`](Core::finish), when someone registered.
    #[cold]
    fn wake(&self, me: &dyn Fn() -> Future<T>) {
        // Registrations hold the lock from setting `WATCHED` until they are in place, so
        // taking it here sees them all (and blocked waiters are already asleep on its `cond`).
        let extra = self.lock.lock().take();
        if let Some(extra) = extra {
            if let Some(cond) = &extra.cond {
                cond.notify_all();
            }
            for w in extra.waiters {
                // The receiver may be gone (the waiting call returned); that is fine.
                let _ = w.tx.send(w.index);
            }
            for (_, waker) in extra.wakers {
                waker.wake();
            }
            if !extra.callbacks.is_empty() {
                let fut = me();
                run_callbacks(extra.callbacks, &fut);
            }
        }
    }

    /// Blocks until done or `deadline`; `None` when the deadline passed first.
    fn wait_done(&self, deadline: Option<Instant>) -> Option<DoneGuard<'_, T>> {
        // Tasks are often about to finish: spin a little before sleeping on the condvar,
        // as crossbeam-channel's receivers do.
        #[cfg(not(loom))]
        {
            let backoff = Backoff::new();
            while !self.is_done() && !backoff.is_completed() {
                backoff.snooze();
            }
        }
        if let Some(done) = self.done_guard() {
            return Some(done);
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
        let mut guard = match self.watch() {
            Ok(guard) => guard,
            Err(done) => return Some(done),
        };
        // Not done, so the finisher has not taken `Extra` yet: it will notify this condvar.
        let cond = guard
            .get_or_insert_with(new_extra)
            .cond
            .get_or_insert_with(|| Arc::new(Condvar::new()))
            .clone();
        loop {
            let timed_out = match deadline {
                Some(d) => cond.wait_until(&mut guard, d),
                None => {
                    cond.wait(&mut guard);
                    false
                }
            };
            if self.is_done() {
                return Some(DoneGuard {
                    outcome: &self.outcome,
                    _lock: guard,
                });
            }
            if timed_out {
                return None;
            }
        }
    }

    /// Registers a `wait` / `as_completed` waiter unless already done; returns whether done.
    pub(crate) fn register(&self, tx: &Sender<usize>, index: usize, id: u64) -> bool {
        match self.watch() {
            Err(_done) => true,
            Ok(mut guard) => {
                guard.get_or_insert_with(new_extra).waiters.push(Waiter {
                    tx: tx.clone(),
                    index,
                    id,
                });
                false
            }
        }
    }

    /// Removes the registrations with `id`.
    pub(crate) fn unregister(&self, id: u64) {
        if let Some(extra) = &mut *self.lock.lock() {
            extra.waiters.retain(|w| w.id != id);
        }
    }

    /// Registers (or replaces) the waker of the awaiting task `id` unless already done;
    /// when done, hands back the lock over the outcome instead.
    pub(crate) fn register_waker(&self, id: u64, waker: &Waker) -> Option<DoneGuard<'_, T>> {
        match self.watch() {
            Err(done) => Some(done),
            Ok(mut guard) => {
                let wakers = &mut guard.get_or_insert_with(new_extra).wakers;
                match wakers.iter_mut().find(|(i, _)| *i == id) {
                    Some((_, w)) => w.clone_from(waker),
                    None => wakers.push((id, waker.clone())),
                }
                None
            }
        }
    }

    /// Removes the waker of the awaiting task `id` (it stopped awaiting).
    pub(crate) fn unregister_waker(&self, id: u64) {
        if let Some(extra) = &mut *self.lock.lock() {
            extra.wakers.retain(|(i, _)| *i != id);
        }
    }

    /// Calls `f` with a view of the stage.
    pub(crate) fn with_stage<R>(&self, f: impl FnOnce(Stage<'_, T>) -> R) -> R {
        match self.phase() {
            PENDING => f(Stage::Pending),
            RUNNING => f(Stage::Running),
            _ => {
                let done = self.done_guard().expect("the phase is DONE");
                match done.outcome() {
                    Some(outcome) => f(Stage::Done(outcome)),
                    None => f(Stage::Taken),
                }
            }
        }
    }
}

fn run_callbacks<T>(callbacks: Vec<Callback<T>>, fut: &Future<T>) {
    for cb in callbacks {
        if let Err(payload) = unwind::catch_reported(|| cb(fut)) {
            let message = unwind::into_message(payload);
            tracing::error!(
                panic = %message,
                "exception calling callback for future (a done-callback panicked)"
            );
        }
    }
}

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
}

/// A task: its state, its closure and its outcome in one allocation, which the queue (as a
/// [`Run`]) and every [`Future`] clone (as a [`TaskRef`]) share.
pub(crate) struct Task<T, F, S = NoScope> {
    core: Core<T>,
    /// Taken exactly once, by the thread whose [`Core::claim`] succeeded.
    job: UnsafeCell<Option<F>>,
    /// The scope this task belongs to, told when the task is completely finished.
    scope: S,
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

/// Error of [`Future::set_result`] and [`Future::set_exception`]: the future is already
/// running, done or cancelled (Python's `InvalidStateError`). Hands the value back.
///
/// # Examples
///
/// ```
/// let fut = threadkit::executor::Future::new();
/// assert!(fut.cancel());
/// let err = fut.set_result(1).unwrap_err();
/// assert_eq!(err.to_string(), "the future is already running, done or cancelled");
/// assert_eq!(err.into_inner(), 1);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct InvalidStateError<V>(pub V);

impl<V> InvalidStateError<V> {
    /// The value that was not set.
    ///
    /// # Examples
    ///
    /// See [`InvalidStateError`].
    pub fn into_inner(self) -> V {
        self.0
    }
}

impl<V> fmt::Debug for InvalidStateError<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvalidStateError(..)")
    }
}

impl<V> fmt::Display for InvalidStateError<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the future is already running, done or cancelled")
    }
}

impl<V> std::error::Error for InvalidStateError<V> {}

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
