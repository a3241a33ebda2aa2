//! [`ProcessPool`]: a pool of worker processes whose crashes fail only their own task.
//!
//! Each worker has a private socket to its own manager thread in the parent; nothing is
//! shared between workers, so a worker that dies (abort, segfault, `SIGKILL`, the OOM killer)
//! cannot leave a lock or a half-written message behind (cpython#96062, pebble#97). The
//! manager sees the death as the end of the socket, reaps the process, fails the task it was
//! running with the signal by name, and starts a new worker for the next task. A task past its
//! hard timeout gets its worker killed and replaced the same way.
//!
//! Like Python's `ProcessPoolExecutor` (whose call queue holds `max_workers + 1` calls), the
//! manager sends a worker its next task while it runs one, so that the worker finds it waiting
//! when it sends its result. Such a task counts as running (it can no longer be cancelled);
//! results come back in order, so when a worker dies only the task it was running fails and
//! the one sent ahead goes back to the head of the queue, for the replacement worker. The hard
//! timeout of a task sent ahead starts when the result before it arrives. Unlike Python's shared
//! call queue, a task sent ahead is bound to its worker, so nothing is sent ahead while another
//! worker is idle, and [`Builder::send_ahead`]`(false)` turns it off for tasks that wait for
//! other tasks of the pool.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::call::{self, Call, Outcome, Start, MAX_CONTROL_FRAME};
use super::child;
use super::forkserver::{get_start_method, StartMethod};
use super::handle::child_ended;
use super::spawn::{self, ChildProc, Killer};
use super::wire::{self, FrameSocket, RecvFail, SendFail};
use crate::executor::{Future, TaskError, TupleFn};
use crate::primitive::{Condvar, Mutex};

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
    /// The executable's `main` did not call [`init`](super::init) first
    /// ([`NotInitialized`](super::NotInitialized)): workers would run `main` again.
    NotInitialized,
    /// The pool's manager threads could not be started.
    Io,
}

impl BuildError {
    fn new(kind: BuildErrorKind, message: impl Into<String>) -> BuildError {
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

/// A task's future as the manager threads see it, its result type erased: they start it,
/// maybe put it back, and finish it with the worker's encoded result (decoded here, on the
/// manager thread, into the future's own type).
trait Completion: Send + Sync {
    /// Identifies the future (for [`ProcessPool::worker_pid`]).
    fn key(&self) -> usize;
    fn is_pending(&self) -> bool;
    /// Pending to running; false when cancelled (or set) meanwhile.
    fn start(&self) -> bool;
    /// Running (started by this thread) back to pending.
    fn unstart(&self);
    /// Decodes a returned value, then finishes the future this thread started.
    fn finish_started(&self, result: Result<(Vec<u8>, Vec<OwnedFd>), TaskError>);
    /// Finishes the future if it is still pending (never started).
    fn settle(&self, error: TaskError);
}

impl<R: DeserializeOwned + Send + 'static> Completion for Future<R> {
    fn key(&self) -> usize {
        self.addr() as usize
    }
    fn is_pending(&self) -> bool {
        Future::is_pending(self)
    }
    fn start(&self) -> bool {
        Future::start(self)
    }
    fn unstart(&self) {
        Future::unstart(self);
    }
    fn finish_started(&self, result: Result<(Vec<u8>, Vec<OwnedFd>), TaskError>) {
        let outcome = result.and_then(|(bytes, fds)| {
            wire::decode(&bytes, fds).map_err(|message| TaskError::Serialization { message })
        });
        Future::finish_started(self, outcome);
    }
    fn settle(&self, error: TaskError) {
        Future::settle(self, Err(error));
    }
}

/// The results of [`ProcessPool::map`] and [`ProcessPool::istarmap`], in input order, each its
/// own `Result`: a lazy iterator (each `next` waits for that item's result only).
pub struct MapResults<R> {
    futures: VecDeque<Future<R>>,
}

impl<R> fmt::Debug for MapResults<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapResults")
            .field("remaining", &self.futures.len())
            .finish()
    }
}

impl<R: DeserializeOwned> Iterator for MapResults<R> {
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Result<R, TaskError>> {
        self.futures.pop_front().map(Future::into_result)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.futures.len(), Some(self.futures.len()))
    }
}

impl<R: DeserializeOwned> ExactSizeIterator for MapResults<R> {}

/// A task on its way to a worker. Exactly one thread holds it at a time (the submitter, the
/// queue, one manager), which is what makes `started` true: that holder started the future.
struct Job {
    call: Call,
    fds: Vec<OwnedFd>,
    timeout: Option<Duration>,
    fut: Box<dyn Completion>,
    /// The holder moved the future to running (so it alone finishes it or puts it back).
    started: bool,
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("call", &self.call)
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

impl Job {
    /// Finishes the task with the worker's answer (or a failure), however far it got: a task
    /// started by this holder is finished, a pending one settled, a cancelled one left alone.
    fn finish(self, shared: &Shared, result: Result<(Vec<u8>, Vec<OwnedFd>), TaskError>) {
        if self.started {
            shared.forget_pid(&self);
            self.fut.finish_started(result);
        } else if let Err(error) = result {
            self.fut.settle(error);
        } else {
            unreachable!("a result comes only for a task sent to a worker, which started it");
        }
    }
}

#[derive(Debug)]
struct Queue {
    jobs: VecDeque<Job>,
    shut_down: bool,
    terminated: bool,
    broken: Option<String>,
    /// Managers with no task in flight. While one is idle, no task is sent ahead to a busy
    /// worker: it is left for the idle one.
    idle: usize,
}

#[derive(Debug)]
struct Initializer {
    call: Call,
    fds: Vec<OwnedFd>,
}

#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    cv: Condvar,
    initializer: Option<Initializer>,
    max_tasks_per_child: Option<usize>,
    task_timeout: Option<Duration>,
    workers_started: AtomicUsize,
    /// Live workers by pid, for `terminate`.
    live: Mutex<Vec<(u32, Killer)>>,
    /// The worker of each started task (by [`Completion::key`]), for
    /// [`ProcessPool::worker_pid`].
    pids: Mutex<Vec<(usize, u32)>>,
    /// `None`: the default when a worker starts.
    start_method: Option<StartMethod>,
    /// Whether a worker gets its next task while it runs one.
    send_ahead: bool,
}

impl Shared {
    /// Forgets the worker of a task that is no longer running.
    fn forget_pid(&self, job: &Job) {
        let key = job.fut.key();
        self.pids.lock().retain(|(k, _)| *k != key);
    }
}

/// Builds a [`ProcessPool`] (Python's `ProcessPoolExecutor(...)` / `Pool(...)` arguments).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::process::ProcessPool;
///
/// fn setup(tag: String) {
///     assert_eq!(tag, "ready");
/// }
///
/// threadkit::process::init();
/// let pool = ProcessPool::builder()
///     .max_workers(2)
///     .max_tasks_per_child(100)
///     .task_timeout(Duration::from_secs(60))
///     .initializer(setup, "ready".to_owned())
///     .build()
///     .unwrap();
/// assert_eq!(pool.submit(|x: i32| -x, 5).unwrap().into_result(), Ok(-5));
/// ```
#[derive(Debug, Default)]
pub struct Builder {
    max_workers: Option<usize>,
    max_tasks_per_child: Option<usize>,
    task_timeout: Option<Duration>,
    initializer: Option<Result<Initializer, String>>,
    start_method: Option<StartMethod>,
    send_ahead: Option<bool>,
}

impl Builder {
    /// The number of worker processes (default: [`cpu_count`](super::cpu_count)).
    ///
    /// # Examples
    ///
    /// ```
    /// threadkit::process::init();
    /// let pool = threadkit::process::ProcessPool::builder().max_workers(3).build().unwrap();
    /// assert_eq!(pool.max_workers(), 3);
    /// ```
    pub fn max_workers(mut self, n: usize) -> Builder {
        self.max_workers = Some(n);
        self
    }

    /// Replace each worker after it ran `n` tasks (Python's `max_tasks_per_child` /
    /// `maxtasksperchild`).
    ///
    /// # Examples
    ///
    /// ```
    /// threadkit::process::init();
    /// let pool = threadkit::process::ProcessPool::builder()
    ///     .max_workers(1)
    ///     .max_tasks_per_child(1)
    ///     .build()
    ///     .unwrap();
    /// let a = pool.submit(|(): ()| std::process::id(), ()).unwrap().into_result().unwrap();
    /// let b = pool.submit(|(): ()| std::process::id(), ()).unwrap().into_result().unwrap();
    /// assert_ne!(a, b);
    /// ```
    pub fn max_tasks_per_child(mut self, n: usize) -> Builder {
        self.max_tasks_per_child = Some(n.max(1));
        self
    }

    /// A hard timeout for every task: past it, the worker is killed (`SIGKILL`) and replaced,
    /// and the task fails with [`TaskError::TimedOut`]. Per task:
    /// [`ProcessPool::submit_with_timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// threadkit::process::init();
    /// let pool = threadkit::process::ProcessPool::builder()
    ///     .task_timeout(Duration::from_secs(30))
    ///     .build()
    ///     .unwrap();
    /// # drop(pool);
    /// ```
    pub fn task_timeout(mut self, timeout: Duration) -> Builder {
        self.task_timeout = Some(timeout);
        self
    }

    /// A function each worker runs once when it starts (Python's `initializer`, `initargs`).
    /// If it panics, the pool is broken: queued and later tasks fail with
    /// [`TaskError::BrokenPool`].
    ///
    /// # Examples
    ///
    /// ```
    /// threadkit::process::init();
    /// let pool = threadkit::process::ProcessPool::builder()
    ///     .initializer(|n: u8| assert_eq!(n, 1), 1)
    ///     .build()
    ///     .unwrap();
    /// # drop(pool);
    /// ```
    pub fn initializer<A>(mut self, f: fn(A), args: A) -> Builder
    where
        A: Serialize + DeserializeOwned + 'static,
    {
        self.initializer =
            Some(call::make_call::<A, ()>(f, &args).map(|(call, fds)| Initializer { call, fds }));
        self
    }

    /// Whether a worker gets its next task while it runs one (the default, as Python's call
    /// queue does): it saves the worker a wait for each task, so tiny tasks run about twice as
    /// fast. A task sent ahead is bound to its worker: it waits for the task before it even if
    /// another worker becomes free meanwhile (it is never sent ahead while a worker is idle).
    /// Turn it off when tasks wait for other tasks of the pool, or when their durations vary
    /// widely.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::process::ProcessPool;
    ///
    /// threadkit::process::init();
    /// let pool = ProcessPool::builder().max_workers(2).send_ahead(false).build().unwrap();
    /// let out: Vec<_> = pool.map(|x: u32| x + 1, [1, 2, 3]).unwrap().collect();
    /// assert_eq!(out, [Ok(2), Ok(3), Ok(4)]);
    /// ```
    pub fn send_ahead(mut self, on: bool) -> Builder {
        self.send_ahead = Some(on);
        self
    }

    /// How workers are started (Python's `context` argument): by default the
    /// [`get_start_method`](super::get_start_method) of the moment each worker starts.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::process::{ProcessPool, StartMethod};
    ///
    /// threadkit::process::init();
    /// let pool = ProcessPool::builder()
    ///     .max_workers(1)
    ///     .start_method(StartMethod::Spawn)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(pool.submit(|x: u32| x + 1, 1).unwrap().into_result(), Ok(2));
    /// ```
    pub fn start_method(mut self, method: StartMethod) -> Builder {
        self.start_method = Some(method);
        self
    }

    /// Builds the pool. Workers start when the first tasks arrive.
    ///
    /// # Errors
    ///
    /// [`BuildError`] for zero workers, an initializer not in the executable or with arguments
    /// that cannot be serialized ([`BuildErrorKind::InvalidSetting`]), when the executable's
    /// `main` did not call [`init`](super::init) first ([`BuildErrorKind::NotInitialized`]:
    /// workers would run `main` again), or when a manager thread cannot start
    /// ([`BuildErrorKind::Io`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = threadkit::process::ProcessPool::builder().max_workers(0).build().unwrap_err();
    /// assert!(err.to_string().contains("max_workers must be greater than 0"));
    /// ```
    pub fn build(self) -> Result<ProcessPool, BuildError> {
        let n = self.max_workers.unwrap_or_else(super::cpu_count);
        if n == 0 {
            return Err(BuildError::new(
                BuildErrorKind::InvalidSetting,
                "max_workers must be greater than 0",
            ));
        }
        let initializer = match self.initializer {
            None => None,
            Some(Ok(i)) => Some(i),
            Some(Err(message)) => {
                return Err(BuildError::new(BuildErrorKind::InvalidSetting, message))
            }
        };
        if let Err(e) = child::ensure_init() {
            return Err(BuildError::new(
                BuildErrorKind::NotInitialized,
                e.to_string(),
            ));
        }
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                shut_down: false,
                terminated: false,
                broken: None,
                idle: n,
            }),
            cv: Condvar::new(),
            initializer,
            max_tasks_per_child: self.max_tasks_per_child,
            task_timeout: self.task_timeout,
            workers_started: AtomicUsize::new(0),
            live: Mutex::new(Vec::new()),
            pids: Mutex::new(Vec::new()),
            start_method: self.start_method,
            send_ahead: self.send_ahead.unwrap_or(true),
        });
        let mut managers = Vec::with_capacity(n);
        for i in 0..n {
            let s = shared.clone();
            let t = std::thread::Builder::new()
                .name(format!("threadkit-process-pool-{i}"))
                .spawn(move || manage(&s));
            match t {
                Ok(t) => managers.push(t),
                Err(e) => {
                    let pool = ProcessPool {
                        shared,
                        managers: Mutex::new(managers),
                        max_workers: n,
                    };
                    pool.shutdown(true);
                    return Err(BuildError::new(BuildErrorKind::Io, e.to_string()));
                }
            }
        }
        Ok(ProcessPool {
            shared,
            managers: Mutex::new(managers),
            max_workers: n,
        })
    }
}

/// A pool of worker processes running Rust functions (Python's
/// `concurrent.futures.ProcessPoolExecutor` and `multiprocessing.Pool`), crash-proof.
///
/// Tasks are functions of this executable with serializable arguments and results, as for
/// [`Process`](super::Process); the executable calls [`init`](super::init) first in `main`.
/// A worker that dies fails only the task it was running ([`TaskError::Signaled`] names the
/// signal) and is replaced; other tasks go on. Dropping the pool waits for queued tasks and
/// stops the workers.
///
/// # Examples
///
/// ```
/// use threadkit::process::ProcessPool;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// threadkit::process::init();
/// let pool = ProcessPool::new(2).unwrap();
/// let squares: Vec<u64> = pool.map(square, 1..=5).unwrap().map(Result::unwrap).collect();
/// assert_eq!(squares, [1, 4, 9, 16, 25]);
/// ```
pub struct ProcessPool {
    shared: Arc<Shared>,
    managers: Mutex<Vec<std::thread::JoinHandle<()>>>,
    max_workers: usize,
}

impl fmt::Debug for ProcessPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPool")
            .field("max_workers", &self.max_workers)
            .finish_non_exhaustive()
    }
}

impl ProcessPool {
    /// A pool of `max_workers` processes with default settings.
    ///
    /// # Errors
    ///
    /// As [`Builder::build`].
    ///
    /// # Examples
    ///
    /// ```
    /// threadkit::process::init();
    /// let pool = threadkit::process::ProcessPool::new(2).unwrap();
    /// assert_eq!(pool.max_workers(), 2);
    /// ```
    pub fn new(max_workers: usize) -> Result<ProcessPool, BuildError> {
        Builder::default().max_workers(max_workers).build()
    }

    /// A [`Builder`] for the other settings.
    ///
    /// # Examples
    ///
    /// ```
    /// threadkit::process::init();
    /// let pool = threadkit::process::ProcessPool::builder().max_workers(1).build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The number of workers.
    ///
    /// # Examples
    ///
    /// ```
    /// threadkit::process::init();
    /// assert_eq!(threadkit::process::ProcessPool::new(1).unwrap().max_workers(), 1);
    /// ```
    pub fn max_workers(&self) -> usize {
        self.max_workers
    }

    /// How many worker processes were started so far (replacements included).
    ///
    /// # Examples
    ///
    /// ```
    /// threadkit::process::init();
    /// let pool = threadkit::process::ProcessPool::new(1).unwrap();
    /// assert_eq!(pool.workers_started(), 0);
    /// pool.submit(|(): ()| (), ()).unwrap().into_result().unwrap();
    /// assert_eq!(pool.workers_started(), 1);
    /// ```
    pub fn workers_started(&self) -> usize {
        self.shared.workers_started.load(Ordering::SeqCst)
    }

    /// The pid of the worker running `future`'s task, while it runs (or is sent to a worker
    /// behind the task it runs); `None` when pending, done, or not a task of this pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::process::{Event, ProcessPool};
    ///
    /// threadkit::process::init();
    /// let pool = ProcessPool::new(1).unwrap();
    /// let started = Event::new().unwrap();
    /// let gate = Event::new().unwrap();
    /// let f = pool
    ///     .submit(|(started, gate): (Event, Event)| { started.set(); gate.wait(); std::process::id() }, (started.clone(), gate.clone()))
    ///     .unwrap();
    /// started.wait();
    /// let pid = pool.worker_pid(&f);
    /// gate.set();
    /// assert_eq!(pid, f.result().ok());
    /// assert_eq!(pool.worker_pid(&f), None);
    /// ```
    pub fn worker_pid<R>(&self, future: &Future<R>) -> Option<u32> {
        let key = future.addr() as usize;
        let pids = self.shared.pids.lock();
        pids.iter().find(|(k, _)| *k == key).map(|(_, pid)| *pid)
    }

    fn enqueue<A, R>(
        &self,
        f: fn(A) -> R,
        args: &A,
        timeout: Option<Duration>,
    ) -> Result<Future<R>, SubmitError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let (call, fds) = call::make_call(f, args).map_err(SubmitError::Call)?;
        self.enqueue_call(call, fds, timeout)
    }

    fn enqueue_call<R: DeserializeOwned + Send + 'static>(
        &self,
        call: Call,
        fds: Vec<OwnedFd>,
        timeout: Option<Duration>,
    ) -> Result<Future<R>, SubmitError> {
        let fut = Future::new();
        let mut q = self.shared.queue.lock();
        if let Some(reason) = &q.broken {
            return Err(SubmitError::Broken {
                reason: reason.clone(),
            });
        }
        if q.shut_down {
            return Err(SubmitError::Shutdown);
        }
        q.jobs.push_back(Job {
            call,
            fds,
            timeout: timeout.or(self.shared.task_timeout),
            fut: Box::new(fut.clone()),
            started: false,
        });
        drop(q);
        self.shared.cv.notify_one();
        Ok(fut)
    }

    /// Runs `f(args)` on a worker (Python's `submit(fn, *args)`).
    ///
    /// # Errors
    ///
    /// [`SubmitError::Shutdown`] after [`shutdown`](ProcessPool::shutdown),
    /// [`SubmitError::Broken`] after a failed initializer, [`SubmitError::Call`] when `f`
    /// is not in the executable or `args` cannot be serialized.
    ///
    /// # Examples
    ///
    /// ```
    /// threadkit::process::init();
    /// let pool = threadkit::process::ProcessPool::new(1).unwrap();
    /// let f = pool.submit(|(a, b): (u8, u8)| a + b, (2, 3)).unwrap();
    /// assert_eq!(f.into_result(), Ok(5));
    /// ```
    pub fn submit<A, R>(&self, f: fn(A) -> R, args: A) -> Result<Future<R>, SubmitError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.enqueue(f, &args, None)
    }

    /// [`submit`](ProcessPool::submit) with a hard timeout for this task (overriding the
    /// pool's): past it the worker is killed and replaced and the task fails with
    /// [`TaskError::TimedOut`].
    ///
    /// # Errors
    ///
    /// As [`submit`](ProcessPool::submit).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::process::{ProcessPool, TaskError};
    ///
    /// fn forever(_: ()) {
    ///     loop {
    ///         std::thread::park();
    ///     }
    /// }
    ///
    /// threadkit::process::init();
    /// let pool = ProcessPool::new(1).unwrap();
    /// let f = pool.submit_with_timeout(forever, (), Duration::from_millis(100)).unwrap();
    /// assert_eq!(f.into_result(), Err(TaskError::TimedOut { timeout: Duration::from_millis(100) }));
    /// ```
    pub fn submit_with_timeout<A, R>(
        &self,
        f: fn(A) -> R,
        args: A,
        timeout: Duration,
    ) -> Result<Future<R>, SubmitError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.enqueue(f, &args, Some(timeout))
    }

    /// Calls `f` on every item (Python's `Executor.map` / `Pool.map` with chunk size 1) and
    /// returns the results in input order, each its own `Result`: a crash or panic in one item
    /// never loses the others.
    ///
    /// # Errors
    ///
    /// As [`submit`](ProcessPool::submit); items already submitted are cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// threadkit::process::init();
    /// let pool = threadkit::process::ProcessPool::new(2).unwrap();
    /// let out: Vec<_> = pool.map(|x: i32| x * 10, [1, 2, 3]).unwrap().collect();
    /// assert_eq!(out, [Ok(10), Ok(20), Ok(30)]);
    /// ```
    pub fn map<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<MapResults<R>, SubmitError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.submit_all(items, |item| self.submit(f, item))
    }

    /// Submits every item with `submit`; on an error, cancels those already submitted.
    fn submit_all<A, R>(
        &self,
        items: impl IntoIterator<Item = A>,
        submit: impl Fn(A) -> Result<Future<R>, SubmitError>,
    ) -> Result<MapResults<R>, SubmitError> {
        let mut futures = VecDeque::new();
        for item in items {
            match submit(item) {
                Ok(fut) => futures.push_back(fut),
                Err(e) => {
                    for fut in &futures {
                        fut.cancel();
                    }
                    return Err(e);
                }
            }
        }
        Ok(MapResults { futures })
    }

    /// Calls `f` with each tuple's fields as its arguments and blocks until every call is done,
    /// returning the results in input order (Python's `Pool.starmap`, and the same shape as
    /// [`ThreadPool::starmap`](crate::executor::ThreadPool::starmap)): `f(a, b)` for each
    /// `(a, b)`. Every item keeps its own `Result`: a crash or panic in one never loses the
    /// others. [`istarmap`](ProcessPool::istarmap) is the lazy form.
    ///
    /// `f` is a function item or a closure that captures nothing (it crosses to the workers as
    /// its type; a capturing closure is refused at compile time), of up to 8 parameters; the
    /// tuple's fields cross serialized, and may be process handles ([`Value`](super::Value),
    /// [`Queue`](super::Queue), ...).
    ///
    /// # Errors
    ///
    /// As [`map`](ProcessPool::map): nothing runs and the items already submitted are
    /// cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::process::{ProcessPool, Value};
    ///
    /// fn add(counter: Value<i32>, n: i32) {
    ///     counter.update(|c| c + n);
    /// }
    ///
    /// threadkit::process::init();
    /// let pool = ProcessPool::new(2).unwrap();
    /// let counter = Value::new(6).unwrap();
    /// let done = pool.starmap(add, (1..=10).map(|n| (counter.clone(), n))).unwrap();
    /// assert!(done.iter().all(Result::is_ok));
    /// assert_eq!(counter.get(), 61); // every call ran before starmap returned
    /// ```
    ///
    /// A closure that captures a value cannot cross to a worker (pass the value in the tuple):
    ///
    /// ```compile_fail
    /// threadkit::process::init();
    /// let pool = threadkit::process::ProcessPool::new(1).unwrap();
    /// let offset = 1u32;
    /// let _ = pool.starmap(move |a: u32| a + offset, [(1,)]);
    /// ```
    pub fn starmap<Args, F>(
        &self,
        f: F,
        items: impl IntoIterator<Item = Args>,
    ) -> Result<Vec<Result<F::Output, TaskError>>, SubmitError>
    where
        F: TupleFn<Args> + Copy,
        Args: Serialize + DeserializeOwned + 'static,
        F::Output: Serialize + DeserializeOwned + Send + 'static,
    {
        Ok(self.istarmap(f, items)?.collect())
    }

    /// The lazy [`starmap`](ProcessPool::starmap) (Python's `Pool.imap` with the tuple spread
    /// over the parameters): every item is submitted at once, and the returned iterator yields
    /// each result, in input order, as soon as it and those before it are ready. Nothing
    /// waits until the iterator is consumed; dropping it does not cancel the tasks.
    ///
    /// # Errors
    ///
    /// As [`map`](ProcessPool::map).
    ///
    /// # Examples
    ///
    /// ```
    /// fn power(base: u32, exp: u32) -> u32 {
    ///     base.pow(exp)
    /// }
    ///
    /// threadkit::process::init();
    /// let pool = threadkit::process::ProcessPool::new(2).unwrap();
    /// let mut results = pool.istarmap(power, [(2, 3), (3, 2)]).unwrap();
    /// assert_eq!(results.next(), Some(Ok(8))); // waits for this item only
    /// assert_eq!(results.next(), Some(Ok(9)));
    /// assert_eq!(results.next(), None);
    /// ```
    pub fn istarmap<Args, F>(
        &self,
        _f: F,
        items: impl IntoIterator<Item = Args>,
    ) -> Result<MapResults<F::Output>, SubmitError>
    where
        F: TupleFn<Args> + Copy,
        Args: Serialize + DeserializeOwned + 'static,
        F::Output: Serialize + DeserializeOwned + Send + 'static,
    {
        self.submit_all(items, |args| {
            let (call, fds) = call::make_star_call::<F, Args>(&args).map_err(SubmitError::Call)?;
            self.enqueue_call(call, fds, None)
        })
    }

    /// Stops accepting tasks (Python's `shutdown(wait)` / `close()`); queued tasks still run.
    /// With `wait`, returns once they are done and every worker has exited (Python's
    /// `join()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::process::{ProcessPool, SubmitError};
    ///
    /// threadkit::process::init();
    /// let pool = ProcessPool::new(1).unwrap();
    /// let f = pool.submit(|(): ()| 7u8, ()).unwrap();
    /// pool.shutdown(true);
    /// assert_eq!(f.into_result(), Ok(7));
    /// assert_eq!(pool.submit(|(): ()| 7u8, ()).unwrap_err(), SubmitError::Shutdown);
    /// ```
    pub fn shutdown(&self, wait: bool) {
        self.shared.queue.lock().shut_down = true;
        self.shared.cv.notify_all();
        if wait {
            let managers = std::mem::take(&mut *self.managers.lock());
            for m in managers {
                let _ = m.join();
            }
        }
    }

    /// Cancels queued tasks and kills the workers (Python's `Pool.terminate()`); running tasks
    /// (including those already sent to a worker behind the one it runs, see
    /// [`Future::is_running`]) fail with [`TaskError::Terminated`]. Waits until every worker
    /// is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::process::{Event, ProcessPool, TaskError};
    ///
    /// fn stuck(started: Event) {
    ///     started.set();
    ///     loop {
    ///         std::thread::park();
    ///     }
    /// }
    ///
    /// threadkit::process::init();
    /// let pool = ProcessPool::new(1).unwrap();
    /// let started = Event::new().unwrap();
    /// let running = pool.submit(stuck, started.clone()).unwrap();
    /// let next = pool.submit(|(): ()| (), ()).unwrap();
    /// let queued = pool.submit(|(): ()| (), ()).unwrap();
    /// started.wait();
    /// pool.terminate();
    /// assert_eq!(running.into_result(), Err(TaskError::Terminated));
    /// // Sent to the worker behind `running`, or still queued.
    /// assert!(matches!(next.into_result(), Err(TaskError::Terminated | TaskError::Cancelled)));
    /// assert_eq!(queued.into_result(), Err(TaskError::Cancelled));
    /// ```
    pub fn terminate(&self) {
        let cancelled: Vec<Job> = {
            let mut q = self.shared.queue.lock();
            q.shut_down = true;
            q.terminated = true;
            q.jobs.drain(..).collect()
        };
        for job in cancelled {
            job.finish(&self.shared, Err(TaskError::Cancelled));
        }
        self.shared.cv.notify_all();
        for (_, killer) in self.shared.live.lock().iter() {
            let _ = killer.signal(rustix::process::Signal::KILL);
        }
        self.shutdown(true);
    }
}

impl Drop for ProcessPool {
    fn drop(&mut self) {
        self.shutdown(true);
    }
}

struct Worker {
    child: ChildProc,
    sock: FrameSocket,
    pid: u32,
    /// Tasks sent to it (for `max_tasks_per_child`).
    sent: usize,
    /// It sent its first (empty) frame: its `main` called `init`, so an exit with code 0
    /// is the task's own, not [`TaskError::NotServed`].
    served: bool,
}

impl Worker {
    /// Closes the socket (the worker exits at the end of its stream) and reaps it.
    fn retire(self, shared: &Shared) {
        let Worker {
            mut child,
            sock,
            pid,
            ..
        } = self;
        shared.live.lock().retain(|(p, _)| *p != pid);
        drop(sock);
        let _ = child.wait();
    }

    /// Kills and reaps the worker; its exit status.
    fn kill(self, shared: &Shared) -> Option<std::process::ExitStatus> {
        let Worker { mut child, pid, .. } = self;
        shared.live.lock().retain(|(p, _)| *p != pid);
        let _ = child.signal(rustix::process::Signal::KILL);
        child.wait().ok()
    }

    /// Reaps a worker whose socket ended; the error for the task it was running.
    fn died(self, shared: &Shared) -> TaskError {
        let Worker {
            mut child,
            pid,
            served,
            ..
        } = self;
        // Out of `live` before reaping, so that `terminate` never signals a reused pid.
        shared.live.lock().retain(|(p, _)| *p != pid);
        match child.wait() {
            Ok(s) => child_ended(s, served),
            Err(e) => TaskError::Io {
                message: e.to_string(),
            },
        }
    }
}

fn dup_fds(fds: &[OwnedFd]) -> io::Result<Vec<OwnedFd>> {
    fds.iter().map(OwnedFd::try_clone).collect()
}

/// Starts a worker and runs the initializer; `Err(Broken)` when the initializer failed.
fn start_worker(shared: &Shared) -> Result<Worker, StartFail> {
    let (initializer, fds) = match &shared.initializer {
        None => (None, Vec::new()),
        Some(i) => (
            Some(Call {
                runner: i.call.runner,
                func: i.call.func,
                payload: i.call.payload.clone(),
            }),
            dup_fds(&i.fds).map_err(|e| StartFail::Io(e.to_string()))?,
        ),
    };
    let has_init = initializer.is_some();
    let method = shared.start_method.unwrap_or_else(get_start_method);
    let (child, sock) = spawn::spawn_child(method, &Start::Worker { initializer }, &fds)
        .map_err(|e| StartFail::Io(e.to_string()))?;
    shared.workers_started.fetch_add(1, Ordering::SeqCst);
    let pid = child.id();
    match child.killer() {
        Ok(killer) => shared.live.lock().push((pid, killer)),
        Err(e) => {
            let _ = child.signal(rustix::process::Signal::KILL);
            let mut child = child;
            let _ = child.wait();
            return Err(StartFail::Io(e.to_string()));
        }
    }
    let mut worker = Worker {
        child,
        sock,
        pid,
        sent: 0,
        served: false,
    };
    if has_init {
        // The worker says it serves, then how its initializer went.
        match worker.sock.recv(MAX_CONTROL_FRAME, None) {
            Ok((bytes, _)) if bytes.is_empty() => worker.served = true,
            _ => {
                let e = worker.died(shared);
                return Err(StartFail::Broken(e.to_string()));
            }
        }
        match worker.sock.recv(MAX_CONTROL_FRAME, None) {
            Ok((bytes, fds)) => match super::handle::decode_outcome::<()>(&bytes, fds) {
                Ok(()) => {}
                Err(e) => {
                    worker.retire(shared);
                    return Err(StartFail::Broken(e.to_string()));
                }
            },
            Err(_) => {
                let e = worker.died(shared);
                return Err(StartFail::Broken(e.to_string()));
            }
        }
    }
    Ok(worker)
}

enum StartFail {
    Io(String),
    Broken(String),
}

/// Takes the next job that was not cancelled; `None` when the pool is shut down and drained.
/// `idle` says whether this manager is counted in [`Queue::idle`].
fn next_job(shared: &Shared, idle: &mut bool) -> Option<Job> {
    let mut q = shared.queue.lock();
    if !*idle {
        q.idle += 1;
        *idle = true;
    }
    loop {
        while let Some(job) = q.jobs.pop_front() {
            if job.fut.is_pending() {
                q.idle -= 1;
                *idle = false;
                return Some(job);
            }
        }
        if q.shut_down {
            return None;
        }
        shared.cv.wait(&mut q);
    }
}

/// The largest argument payload sent ahead of a running task. The worker reads nothing while a
/// task runs, so a task sent ahead must fit in the socket's buffer (a few hundred KiB) or its
/// send would wait for the task before it; larger ones are sent when the worker is idle.
const AHEAD_MAX_PAYLOAD: usize = 16 * 1024;

/// Takes the next job that was not cancelled without waiting; `None` when there is none, or the
/// pool is broken or terminated, or (`ahead`) another manager is idle or the next job is too
/// large to be sent ahead. Without `ahead` (this manager has nothing in flight) and no job, it
/// counts the manager idle at once, so that no other sends a task ahead meanwhile.
fn try_next_job(shared: &Shared, ahead: bool, idle: &mut bool) -> Option<Job> {
    let mut q = shared.queue.lock();
    if !ahead && (q.broken.is_some() || q.terminated || q.jobs.is_empty()) {
        if !*idle {
            q.idle += 1;
            *idle = true;
        }
        return None;
    }
    if q.broken.is_some() || q.terminated || (ahead && q.idle > 0) {
        return None;
    }
    loop {
        let Some(front) = q.jobs.front() else {
            if !ahead && !*idle {
                q.idle += 1;
                *idle = true;
            }
            return None;
        };
        if !front.fut.is_pending() {
            q.jobs.pop_front();
            continue;
        }
        if ahead && front.call.payload.len() > AHEAD_MAX_PAYLOAD {
            return None;
        }
        if *idle {
            q.idle -= 1;
            *idle = false;
        }
        return q.jobs.pop_front();
    }
}

/// Counts this manager idle (it has nothing in flight).
fn mark_idle(shared: &Shared, idle: &mut bool) {
    if !*idle {
        shared.queue.lock().idle += 1;
        *idle = true;
    }
}

/// Puts tasks that were sent to a worker that is gone, and never answered, back at the head of
/// the queue in their order (their results come in order, so none of them had started); when the
/// pool is terminated they fail with [`TaskError::Terminated`] instead.
fn requeue(shared: &Shared, jobs: impl DoubleEndedIterator<Item = Job>) {
    let mut q = shared.queue.lock();
    if q.terminated {
        drop(q);
        for job in jobs {
            job.finish(shared, Err(TaskError::Terminated));
        }
        return;
    }
    for mut job in jobs.rev() {
        if job.started {
            shared.forget_pid(&job);
            job.fut.unstart();
            job.started = false;
        }
        if job.fut.is_pending() {
            q.jobs.push_front(job);
        }
    }
    drop(q);
    shared.cv.notify_all();
}

fn break_pool(shared: &Shared, reason: &str) {
    let jobs: Vec<Job> = {
        let mut q = shared.queue.lock();
        q.broken.get_or_insert_with(|| reason.to_owned());
        q.jobs.drain(..).collect()
    };
    for job in jobs {
        job.finish(
            shared,
            Err(TaskError::BrokenPool {
                reason: reason.to_owned(),
            }),
        );
    }
}

/// A task sent to the worker whose result has not come back yet.
struct InFlight {
    job: Job,
    /// Its hard deadline, counted from the moment its result is the next one expected: when
    /// it is sent to an idle worker, or when the result of the task before it arrives.
    deadline: Option<Instant>,
}

fn deadline_of(job: &Job) -> Option<Instant> {
    job.timeout.and_then(|t| Instant::now().checked_add(t))
}

fn fail(shared: &Shared, job: Job, err: TaskError) {
    if let TaskError::BrokenPool { reason } = &err {
        break_pool(shared, reason);
    }
    job.finish(shared, Err(err));
}

/// One manager thread per worker slot. It keeps up to two tasks in flight on its worker, as
/// Python's call queue does: the one running, and the next one sent ahead, so that the worker
/// finds it waiting when it sends a result. Results come back in order, so when the worker
/// dies the first unanswered task is the one it was running: only that one fails; the one sent
/// ahead goes back to the head of the queue.
fn manage(shared: &Shared) {
    let mut worker: Option<Worker> = None;
    let mut inflight: VecDeque<InFlight> = VecDeque::with_capacity(2);
    // Counted in `Queue::idle` (as every manager is at the start).
    let mut idle = true;
    loop {
        if inflight.is_empty() {
            let Some(job) = next_job(shared, &mut idle) else {
                break;
            };
            if let Some(reason) = shared.queue.lock().broken.clone() {
                job.finish(shared, Err(TaskError::BrokenPool { reason }));
                continue;
            }
            let mut job = job;
            match send_first(shared, &mut worker, &mut job) {
                Ok(deadline) => inflight.push_back(InFlight { job, deadline }),
                Err(e) => {
                    fail(shared, job, e);
                    continue;
                }
            }
        }
        top_up(shared, &mut worker, &mut inflight, &mut idle);
        let deadline = inflight.front().expect("a task is in flight").deadline;
        let w = worker.as_mut().expect("a task is in flight");
        match w.sock.recv(MAX_CONTROL_FRAME, deadline) {
            Ok((bytes, _)) if bytes.is_empty() && !w.served => {
                // The worker's first frame: it serves (its main called `init`).
                w.served = true;
            }
            Ok((bytes, fds)) => {
                let done = inflight.pop_front().expect("in flight");
                let result = match wire::decode::<Outcome>(&bytes, Vec::new()) {
                    Ok(Outcome::Returned(b)) => Ok((b, fds)),
                    Ok(Outcome::Panicked {
                        message,
                        location,
                        backtrace,
                    }) => Err(TaskError::Panicked {
                        message,
                        location,
                        backtrace,
                    }),
                    Ok(Outcome::Failed(message)) => Err(TaskError::Serialization { message }),
                    Err(message) => Err(TaskError::Serialization { message }),
                };
                if let Some(next) = inflight.front_mut() {
                    next.deadline = deadline_of(&next.job);
                }
                if inflight.is_empty()
                    && shared
                        .max_tasks_per_child
                        .is_some_and(|max| worker.as_ref().is_some_and(|w| w.sent >= max))
                {
                    worker.take().expect("some").retire(shared);
                }
                // Feed the worker before handing this result over.
                top_up(shared, &mut worker, &mut inflight, &mut idle);
                done.job.finish(shared, result);
            }
            Err(RecvFail::Timeout) => {
                worker.take().expect("some").kill(shared);
                let done = inflight.pop_front().expect("in flight");
                requeue(shared, inflight.drain(..).map(|f| f.job));
                mark_idle(shared, &mut idle);
                let timeout = done.job.timeout.unwrap_or_default();
                done.job
                    .finish(shared, Err(TaskError::TimedOut { timeout }));
            }
            Err(RecvFail::Disconnected) | Err(RecvFail::TooLarge(_)) | Err(RecvFail::Io(_)) => {
                let err = worker.take().expect("some").died(shared);
                let done = inflight.pop_front().expect("in flight");
                requeue(shared, inflight.drain(..).map(|f| f.job));
                mark_idle(shared, &mut idle);
                if shared.queue.lock().terminated {
                    done.job.finish(shared, Err(TaskError::Terminated));
                } else {
                    done.job.finish(shared, Err(err));
                }
            }
        }
    }
    if let Some(w) = worker.take() {
        if shared.queue.lock().terminated {
            w.kill(shared);
        } else {
            w.retire(shared);
        }
    }
}

/// Fills the worker's pipeline up to two tasks with jobs that are already queued (never
/// waiting for one), within `max_tasks_per_child`; a task is sent ahead only while no other
/// manager is idle, so that a task never waits behind another while a worker is free for it.
fn top_up(
    shared: &Shared,
    worker: &mut Option<Worker>,
    inflight: &mut VecDeque<InFlight>,
    idle: &mut bool,
) {
    let most = if shared.send_ahead { 2 } else { 1 };
    while inflight.len() < most {
        let ahead = !inflight.is_empty();
        let usable = worker
            .as_ref()
            .is_some_and(|w| shared.max_tasks_per_child.is_none_or(|max| w.sent < max));
        if !usable {
            if !ahead {
                mark_idle(shared, idle);
            }
            return;
        }
        let Some(mut job) = try_next_job(shared, ahead, idle) else {
            return;
        };
        if !ahead {
            match send_first(shared, worker, &mut job) {
                Ok(deadline) => inflight.push_back(InFlight { job, deadline }),
                Err(e) => fail(shared, job, e),
            }
            continue;
        }
        let w = worker.as_mut().expect("usable");
        match send_ahead(shared, w, &mut job) {
            Ahead::Sent => inflight.push_back(InFlight {
                job,
                deadline: None,
            }),
            Ahead::Gone => {}
            Ahead::Failed(e) => fail(shared, job, e),
            Ahead::NotSent => {
                requeue(shared, std::iter::once(job));
                return;
            }
        }
    }
}

/// Marks the task running on the worker `pid` (again, if it was already: a retry on a new
/// worker); false when it was cancelled meanwhile.
fn mark_running(shared: &Shared, job: &mut Job, pid: u32) -> bool {
    if !job.started {
        if !job.fut.start() {
            return false;
        }
        job.started = true;
    }
    let key = job.fut.key();
    let mut pids = shared.pids.lock();
    match pids.iter_mut().find(|(k, _)| *k == key) {
        Some(entry) => entry.1 = pid,
        None => pids.push((key, pid)),
    }
    true
}

fn encode_job(job: &Job) -> Result<Vec<u8>, TaskError> {
    Ok(wire::encode(&job.call)
        .map_err(|message| TaskError::Serialization { message })?
        .0)
}

enum Ahead {
    Sent,
    /// Cancelled before it was marked running.
    Gone,
    Failed(TaskError),
    /// Not sent (the worker is gone, or the socket failed): the job goes back to the queue.
    NotSent,
}

/// Sends `job` to a worker that is running another task; it counts as running from now on.
fn send_ahead(shared: &Shared, w: &mut Worker, job: &mut Job) -> Ahead {
    let frame = match encode_job(job) {
        Ok(f) => f,
        Err(e) => return Ahead::Failed(e),
    };
    let Ok(fds) = dup_fds(&job.fds) else {
        return Ahead::NotSent;
    };
    if !mark_running(shared, job, w.pid) {
        return Ahead::Gone;
    }
    // No deadline: the worker has read (or is reading) the task before this one, and this
    // one fits in the socket's buffer (`AHEAD_MAX_PAYLOAD`), so the send ends without waiting
    // for the worker; a worker that dies makes it fail at once.
    match w.sock.send(&frame, &fds, None) {
        Ok(()) => {
            w.sent += 1;
            Ahead::Sent
        }
        Err(_) => Ahead::NotSent,
    }
}

/// Sends `job` to an idle worker, starting one if there is none; the task's hard deadline.
fn send_first(
    shared: &Shared,
    worker: &mut Option<Worker>,
    job: &mut Job,
) -> Result<Option<Instant>, TaskError> {
    let frame = encode_job(job)?;
    // A worker that died between tasks never started this one: try once more on a new one.
    for attempt in 0..2 {
        if worker.is_none() {
            *worker = Some(match start_worker(shared) {
                Ok(w) => w,
                Err(StartFail::Broken(reason)) => return Err(TaskError::BrokenPool { reason }),
                Err(StartFail::Io(message)) => return Err(TaskError::Io { message }),
            });
        }
        let w = worker.as_mut().expect("started above");
        if !mark_running(shared, job, w.pid) {
            return Err(TaskError::Cancelled);
        }
        if shared.queue.lock().terminated {
            return Err(TaskError::Terminated);
        }
        let deadline = deadline_of(job);
        let fds = dup_fds(&job.fds).map_err(|e| TaskError::Io {
            message: e.to_string(),
        })?;
        match w.sock.send(&frame, &fds, deadline) {
            Ok(()) => {
                w.sent += 1;
                return Ok(deadline);
            }
            Err(SendFail::Disconnected) if attempt == 0 => {
                let _ = worker.take().map(|w| w.died(shared));
                continue;
            }
            Err(SendFail::Disconnected) => return Err(worker.take().expect("some").died(shared)),
            Err(SendFail::Timeout) => {
                worker.take().expect("some").kill(shared);
                return Err(TaskError::TimedOut {
                    timeout: job.timeout.unwrap_or_default(),
                });
            }
            Err(SendFail::Io(e)) => {
                worker.take().expect("some").kill(shared);
                return Err(TaskError::Io {
                    message: e.to_string(),
                });
            }
        }
    }
    unreachable!("the second attempt returns")
}

/// The number of CPUs this process may use (Python's `os.cpu_count()` /
/// `multiprocessing.cpu_count()`, though counting the affinity mask as
/// `os.process_cpu_count()` does); at least 1.
///
/// # Examples
///
/// ```
/// assert!(threadkit::process::cpu_count() >= 1);
/// ```
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
