//! [`ThreadPool`], its [`Builder`], [`PoolHandle`] and the worker loop.

use crate::primitive::{Condvar, Mutex, MutexGuard};
use crate::thread::JoinHandle;
use crate::unwind;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use crossbeam_utils::CachePadded;
use std::fmt;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::future::{set_worker_of, worker_of, Future, NoScope, Run, Task, TaskError};

/// A job in the pool's queue.
pub(crate) type Job = Arc<dyn Run>;

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
    kind: BuildErrorKind,
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
    /// A map's [`MapOptions`](super::MapOptions) hold a value out of range (`chunksize(0)`, a
    /// timeout too large); nothing was submitted.
    InvalidOptions(super::MapOptionsError),
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

/// Options for [`ThreadPool::shutdown_with`]: Python's `shutdown(wait=True,
/// cancel_futures=False)`.
///
/// # Examples
///
/// ```
/// use threadkit::executor::{ShutdownOptions, ThreadPool};
///
/// let pool = ThreadPool::new().unwrap();
/// pool.shutdown_with(ShutdownOptions { wait: false, cancel_futures: true });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownOptions {
    /// Wait for the queued and running tasks and for the workers to exit.
    pub wait: bool,
    /// Cancel the tasks still waiting in the queue (running ones finish).
    pub cancel_futures: bool,
}

impl Default for ShutdownOptions {
    fn default() -> Self {
        ShutdownOptions {
            wait: true,
            cancel_futures: false,
        }
    }
}

type Initializer = Arc<dyn Fn() + Send + Sync>;

/// Configures a [`ThreadPool`] (Python's `ThreadPoolExecutor(max_workers, thread_name_prefix,
/// initializer)`).
///
/// # Examples
///
/// ```
/// use threadkit::executor::ThreadPool;
///
/// let pool = ThreadPool::builder()
///     .max_workers(3)
///     .thread_name_prefix("loader")
///     .stack_size(512 * 1024)
///     .initializer(|| println!("worker {} ready", threadkit::thread::current().name()))
///     .build()
///     .unwrap();
/// let name = pool.submit(|| threadkit::thread::current().name().to_owned()).unwrap();
/// assert!(name.result().unwrap().starts_with("loader_"));
/// ```
#[must_use = "a Builder does nothing until build is called"]
pub struct Builder {
    max_workers: Option<usize>,
    prefix: Option<String>,
    initializer: Option<Initializer>,
    stack_size: Option<usize>,
    idle_timeout: Option<Duration>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("max_workers", &self.max_workers)
            .field("thread_name_prefix", &self.prefix)
            .field("initializer", &self.initializer.as_ref().map(|_| ".."))
            .field("stack_size", &self.stack_size)
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

/// Python's default: `min(32, os.cpu_count() + 4)`.
fn default_max_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    32.min(cores + 4)
}

impl Builder {
    /// The defaults: `min(32, cores + 4)` workers named `ThreadPoolExecutor-N_i`, no
    /// initializer, the default stack size.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::Builder::new().build().unwrap();
    /// assert!(pool.max_workers() >= 5);
    /// ```
    pub fn new() -> Builder {
        Builder {
            max_workers: None,
            prefix: None,
            initializer: None,
            stack_size: None,
            idle_timeout: None,
        }
    }

    /// The most worker threads the pool starts. Workers are started lazily, one per submitted
    /// task while no worker is idle, up to this number (as Python's `ThreadPoolExecutor`).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::builder().max_workers(2).build().unwrap();
    /// assert_eq!(pool.max_workers(), 2);
    /// ```
    pub fn max_workers(mut self, n: usize) -> Builder {
        self.max_workers = Some(n);
        self
    }

    /// Worker names are `{prefix}_{i}` (Python's `thread_name_prefix`); the default prefix is
    /// `ThreadPoolExecutor-N`, N counting the pools of the process from 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::builder()
    ///     .thread_name_prefix("io")
    ///     .build()
    ///     .unwrap();
    /// let f = pool.submit(|| threadkit::thread::current().name().to_owned()).unwrap();
    /// assert_eq!(f.result().unwrap(), "io_0");
    /// ```
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Builder {
        self.prefix = Some(prefix.into());
        self
    }

    /// Runs `f` at the start of each worker thread (Python's `initializer`). If it panics, the
    /// pool is broken: every task still queued fails with [`TaskError::BrokenPool`] and later
    /// submissions fail with [`SubmitError::Broken`] (Python's `BrokenThreadPool`).
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::executor::{SubmitError, TaskError, ThreadPool};
    ///
    /// let pool = ThreadPool::builder().initializer(|| panic!("no config")).build().unwrap();
    /// let f = pool.submit(|| 1).unwrap();
    /// assert!(matches!(f.result(), Err(TaskError::BrokenPool { .. })));
    /// assert!(matches!(pool.submit(|| 1), Err(SubmitError::Broken { .. })));
    /// ```
    pub fn initializer(mut self, f: impl Fn() + Send + Sync + 'static) -> Builder {
        self.initializer = Some(Arc::new(f));
        self
    }

    /// The stack size in bytes of each worker thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::builder()
    ///     .stack_size(4 * 1024 * 1024)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(pool.submit(|| [0u8; 1 << 20].len()).unwrap().result(), Ok(1 << 20));
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Lets a worker that waited `timeout` for a task exit; the pool starts a new one on
    /// demand later (as for a new pool: when a task is submitted while no worker is idle).
    /// A pool that is busy now and then keeps no idle threads in between, and one that is
    /// busy all the time pays nothing for it. By default workers stay until the pool shuts
    /// down (as Python's `ThreadPoolExecutor`).
    ///
    /// A worker's [`initializer`](Builder::initializer) runs again in each new worker, and
    /// names keep counting up (`{prefix}_{i}` is never reused). `Duration::MAX` keeps workers
    /// for good, as the default does.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use threadkit::executor::ThreadPool;
    ///
    /// let pool = ThreadPool::builder()
    ///     .thread_name_prefix("brief")
    ///     .idle_timeout(Duration::from_millis(20))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(pool.submit(|| 1).unwrap().result(), Ok(1));
    /// let workers = || {
    ///     threadkit::thread::enumerate()
    ///         .iter()
    ///         .filter(|t| t.name().starts_with("brief_"))
    ///         .count()
    /// };
    /// // The worker leaves once it has been idle for 20 ms.
    /// let give_up = Instant::now() + Duration::from_secs(10);
    /// while workers() > 0 && Instant::now() < give_up {
    ///     std::thread::sleep(Duration::from_millis(5));
    /// }
    /// assert_eq!(workers(), 0);
    /// // A new one is started for the next task.
    /// assert_eq!(pool.submit(|| 2).unwrap().result(), Ok(2));
    /// ```
    pub fn idle_timeout(mut self, timeout: Duration) -> Builder {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Creates the pool. No thread is started until the first task is submitted.
    ///
    /// # Errors
    ///
    /// [`BuildError`] with [`BuildErrorKind::ZeroWorkers`] for `max_workers(0)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::builder().max_workers(4).build().unwrap();
    /// assert_eq!(pool.submit(|| 1 + 1).unwrap().result(), Ok(2));
    /// ```
    pub fn build(self) -> Result<ThreadPool, BuildError> {
        let max_workers = self.max_workers.unwrap_or_else(default_max_workers);
        if max_workers == 0 {
            return Err(BuildError {
                kind: BuildErrorKind::ZeroWorkers,
            });
        }
        static POOLS: AtomicUsize = AtomicUsize::new(0);
        let number = POOLS.fetch_add(1, Ordering::Relaxed);
        let prefix = self
            .prefix
            .unwrap_or_else(|| format!("ThreadPoolExecutor-{number}"));
        let (tx, rx) = crossbeam_channel::unbounded();
        Ok(ThreadPool {
            shared: Arc::new(Shared {
                id: (number % (u32::MAX as usize)) as u32 + 1,
                rx,
                state: CachePadded::new(Mutex::new(PoolState {
                    tx: Some(tx),
                    broken: None,
                    spawned: 0,
                    named: 0,
                    live: 0,
                    handles: Vec::new(),
                })),
                exited: Condvar::new(),
                idle: AtomicUsize::new(0),
                starting: AtomicUsize::new(0),
                grown: AtomicBool::new(false),
                full: AtomicBool::new(false),
                max_workers,
                prefix,
                initializer: self.initializer,
                stack_size: self.stack_size,
                idle_timeout: self.idle_timeout,
            }),
        })
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

struct PoolState {
    /// The queue's sending side; `None` once shut down.
    tx: Option<Sender<Job>>,
    broken: Option<String>,
    /// Workers started and not retired (what `max_workers` bounds).
    spawned: usize,
    /// Workers ever started: the next worker's name index.
    named: usize,
    live: usize,
    handles: Vec<(usize, JoinHandle<()>)>,
}

pub(crate) struct Shared {
    /// Non-zero (unique among the last 2^32 - 1 pools): the worker threads' `worker_of()`.
    pub(crate) id: u32,
    pub(crate) rx: Receiver<Job>,
    /// Locked by every submission: on a cache line of its own, so workers reading `rx` and
    /// `grown` in their loop do not steal it from the submitting thread each time.
    state: CachePadded<Mutex<PoolState>>,
    exited: Condvar,
    /// Workers blocked waiting for a job.
    idle: AtomicUsize,
    /// Workers started that have not yet taken their first job or gone idle: each was started
    /// for a queued job and will take one, so the growth checks count them as capacity (a
    /// worker finding jobs queued behind it must not start another for a job whose own worker
    /// is still starting).
    starting: AtomicUsize,
    /// Set once all `max_workers` workers were started: from then on nothing reads `idle`,
    /// so workers stop maintaining it (two read-modify-writes and a fence saved each time a
    /// worker finds the queue empty). Never set with an idle timeout: workers retire, so the
    /// pool can shrink and grow again.
    grown: AtomicBool,
    /// Whether `max_workers` workers are running now (a hint, kept under the state lock; unlike
    /// `grown` it is cleared when a worker retires).
    full: AtomicBool,
    max_workers: usize,
    prefix: String,
    initializer: Option<Initializer>,
    stack_size: Option<usize>,
    idle_timeout: Option<Duration>,
}

thread_local! {
    static WORKER_INDEX: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

impl Shared {
    /// Puts `job` in the queue, starting a worker when none is idle.
    pub(crate) fn enqueue(self: &Arc<Self>, job: Job) -> Result<(), SubmitError> {
        let mut st = self.state.lock();
        if let Some(reason) = &st.broken {
            return Err(SubmitError::Broken {
                reason: reason.clone(),
            });
        }
        if st.tx.is_none() {
            return Err(SubmitError::Shutdown);
        }
        if let Some(tx) = &st.tx {
            // Cannot fail: `self.rx` keeps the channel connected.
            let _ = tx.send(job);
        }
        if st.spawned == self.max_workers {
            // Fully grown (the steady state): nothing more to decide.
            return Ok(());
        }
        // Pairs with the fence in `worker_main`: either we see the worker that just left the
        // idle state as busy, or it sees our job in the queue and starts another worker.
        fence(Ordering::SeqCst);
        if st.spawned == 0 || self.idle.load(Ordering::SeqCst) == 0 {
            if let Err(e) = self.spawn_worker(&mut st) {
                if st.spawned == 0 {
                    // No worker at all: take the job back (it is the only one queued).
                    let _ = self.rx.try_recv();
                    return Err(SubmitError::Spawn {
                        message: e.to_string(),
                    });
                }
                tracing::warn!(error = %e, "could not start another pool worker");
            }
        }
        Ok(())
    }

    /// Called by a worker that took a job without waiting (a new worker, or one going from
    /// job to job) while the pool can still grow: if jobs are still queued and no worker is
    /// idle, starts another. Submissions that saw an idle worker start none, and several can
    /// count on the same one (it leaves the idle state only once it has a job), so without
    /// this a job queued behind them could wait for a busy worker although the pool may grow:
    /// for jobs that hold their worker a long time (a batch run's worker loops), for good.
    fn grow_if_queued(self: &Arc<Self>) {
        // Pairs with the fence in `enqueue`, as in the idle path of `worker_main`.
        fence(Ordering::SeqCst);
        if !self.full.load(Ordering::SeqCst) && self.starved() {
            self.grow_if_starved();
        }
    }

    /// Whether more jobs are queued than there are workers to take them: idle ones, and
    /// started ones that have not taken their first job yet.
    fn starved(&self) -> bool {
        let queued = self.rx.len();
        queued > 0
            && queued > self.idle.load(Ordering::SeqCst) + self.starting.load(Ordering::SeqCst)
    }

    /// Called by a worker that just left the idle state while jobs are still queued: starts
    /// another worker if none is idle, so that no queued job waits behind a busy pool that
    /// could still grow.
    fn grow_if_starved(self: &Arc<Self>) {
        let mut st = self.state.lock();
        if st.tx.is_some() && st.broken.is_none() && st.spawned < self.max_workers && self.starved()
        {
            if let Err(e) = self.spawn_worker(&mut st) {
                tracing::warn!(error = %e, "could not start another pool worker");
            }
        }
    }

    pub(crate) fn submit<F, T>(self: &Arc<Self>, f: F) -> Result<Future<T>, SubmitError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let task = Arc::new(Task::new(f, self.id, NoScope));
        let fut = Future::from_task(task.clone());
        self.enqueue(task)?;
        Ok(fut)
    }

    fn spawn_worker(
        self: &Arc<Self>,
        st: &mut MutexGuard<'_, PoolState>,
    ) -> Result<(), crate::thread::SpawnError> {
        let index = st.named;
        let mut b = crate::thread::Builder::new()
            .name(format!("{}_{index}", self.prefix))
            .daemon(true);
        if let Some(size) = self.stack_size {
            b = b.stack_size(size);
        }
        let shared = self.clone();
        // Counted before the thread runs: it leaves `starting` on its first job or wait.
        self.starting.fetch_add(1, Ordering::SeqCst);
        let handle = match b.spawn(move || worker_main(shared, index)) {
            Ok(handle) => handle,
            Err(e) => {
                self.starting.fetch_sub(1, Ordering::SeqCst);
                return Err(e);
            }
        };
        st.spawned += 1;
        st.named += 1;
        st.live += 1;
        if st.spawned == self.max_workers {
            self.full.store(true, Ordering::SeqCst);
            if self.idle_timeout.is_none() {
                self.grown.store(true, Ordering::Relaxed);
            }
        }
        st.handles.push((index, handle));
        Ok(())
    }

    fn is_shutdown(&self) -> bool {
        self.state.lock().tx.is_none()
    }

    /// Called by worker `index` after it waited the idle timeout for a task: whether it
    /// leaves. It does unless a task arrived meanwhile or the pool is shutting down (then it
    /// goes on as usual). A submission sends its task and reads `idle` under the same lock,
    /// and this worker left `idle` before taking it, so either that submission sees this
    /// worker gone (and starts another if no worker is idle) or this worker sees its task.
    fn retire(&self, index: usize) -> bool {
        let mut st = self.state.lock();
        if st.tx.is_none() || !self.rx.is_empty() {
            return false;
        }
        st.spawned -= 1;
        st.live -= 1;
        self.full.store(false, Ordering::SeqCst);
        if let Some(at) = st.handles.iter().position(|(i, _)| *i == index) {
            // Detaches the thread: it is about to return.
            drop(st.handles.swap_remove(at));
        }
        true
    }

    fn shutdown(&self, opts: ShutdownOptions) {
        let (tx, handles) = {
            let mut st = self.state.lock();
            let handles = if opts.wait {
                std::mem::take(&mut st.handles)
            } else {
                Vec::new()
            };
            (st.tx.take(), handles)
        };
        if opts.cancel_futures {
            while let Ok(job) = self.rx.try_recv() {
                job.abort(TaskError::Cancelled);
            }
        }
        // Disconnects the queue: workers exit once it is empty.
        drop(tx);
        if !opts.wait {
            return;
        }
        let me = if worker_of() == self.id {
            // A worker shutting down its own pool runs what is left, so waiting cannot
            // deadlock on a queue only it could drain.
            while let Ok(job) = self.rx.try_recv() {
                job.run();
            }
            WORKER_INDEX.with(|w| w.get())
        } else {
            usize::MAX
        };
        let own = usize::from(me != usize::MAX);
        let mut st = self.state.lock();
        while st.live > own {
            self.exited.wait(&mut st);
        }
        drop(st);
        for (index, handle) in handles {
            if index != me {
                // Workers catch every panic, so join cannot report one.
                let _ = handle.join();
            }
        }
    }

    fn mark_broken(&self, reason: String) {
        self.state.lock().broken = Some(reason.clone());
        while let Ok(job) = self.rx.try_recv() {
            job.abort(TaskError::BrokenPool {
                reason: reason.clone(),
            });
        }
    }
}

fn worker_main(shared: Arc<Shared>, index: usize) {
    set_worker_of(shared.id);
    WORKER_INDEX.with(|w| w.set(index));
    let initialized = match &shared.initializer {
        Some(init) => match unwind::catch(|| init()) {
            Ok(()) => true,
            Err(payload) => {
                let reason = unwind::payload_message(&*payload);
                tracing::error!(%reason, "Exception in initializer: the pool is broken");
                shared.mark_broken(reason);
                false
            }
        },
        None => true,
    };
    let mut retired = false;
    // Whether this worker still counts in `starting` (until its first job or wait).
    let mut starting = true;
    if initialized {
        loop {
            let job = match shared.rx.try_recv() {
                Ok(job) => {
                    if std::mem::take(&mut starting) {
                        shared.starting.fetch_sub(1, Ordering::SeqCst);
                    }
                    if !shared.grown.load(Ordering::Relaxed) {
                        shared.grow_if_queued();
                    }
                    job
                }
                Err(TryRecvError::Empty) if shared.grown.load(Ordering::Relaxed) => {
                    // Fully grown: no idle bookkeeping is needed (nor `starting`: nothing
                    // reads either once grown).
                    let Ok(job) = shared.rx.recv() else { break };
                    job
                }
                Err(TryRecvError::Empty) => {
                    shared.idle.fetch_add(1, Ordering::SeqCst);
                    // Idle before it stops starting, so it never counts as neither.
                    if std::mem::take(&mut starting) {
                        shared.starting.fetch_sub(1, Ordering::SeqCst);
                    }
                    let job = match shared.idle_timeout {
                        None => shared.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                        Some(t) => shared.rx.recv_timeout(t),
                    };
                    shared.idle.fetch_sub(1, Ordering::SeqCst);
                    let job = match job {
                        Ok(job) => job,
                        Err(RecvTimeoutError::Disconnected) => break,
                        Err(RecvTimeoutError::Timeout) => {
                            if shared.retire(index) {
                                retired = true;
                                break;
                            }
                            continue;
                        }
                    };
                    // Pairs with the fence in `enqueue` (see there).
                    fence(Ordering::SeqCst);
                    if shared.starved() {
                        shared.grow_if_starved();
                    }
                    job
                }
                Err(TryRecvError::Disconnected) => break,
            };
            job.run();
        }
    }
    set_worker_of(0);
    if !retired {
        let mut st = shared.state.lock();
        st.live -= 1;
        drop(st);
    }
    shared.exited.notify_all();
}

/// A pool of worker threads running submitted closures: Python's
/// `concurrent.futures.ThreadPoolExecutor` and `multiprocessing.pool.ThreadPool`.
///
/// Dropping the pool shuts it down and waits for its queued and running tasks (Python's
/// `with ThreadPoolExecutor() as pool:` block). To submit from inside tasks, give them a
/// [`PoolHandle`].
///
/// # Examples
///
/// ```
/// use threadkit::executor::ThreadPool;
///
/// let pool = ThreadPool::builder().max_workers(4).build().unwrap();
/// let futures: Vec<_> = (0..8).map(|i| pool.submit(move || i * i).unwrap()).collect();
/// let squares: Vec<i32> = futures.into_iter().map(|f| f.into_result().unwrap()).collect();
/// assert_eq!(squares, [0, 1, 4, 9, 16, 25, 36, 49]);
/// ```
pub struct ThreadPool {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.state.lock();
        f.debug_struct("ThreadPool")
            .field("prefix", &self.shared.prefix)
            .field("max_workers", &self.shared.max_workers)
            .field("workers", &st.live)
            .field("shutdown", &st.tx.is_none())
            .field("broken", &st.broken.is_some())
            .finish()
    }
}

impl ThreadPool {
    /// A pool with the default configuration (see [`Builder::new`]).
    ///
    /// # Errors
    ///
    /// None today; kept for symmetry with [`Builder::build`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// assert_eq!(pool.submit(|| "hi").unwrap().result(), Ok("hi"));
    /// ```
    pub fn new() -> Result<ThreadPool, BuildError> {
        Builder::new().build()
    }

    /// A [`Builder`] to configure a pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::builder().max_workers(2).build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// The most worker threads this pool starts.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::builder().max_workers(3).build().unwrap();
    /// assert_eq!(pool.max_workers(), 3);
    /// ```
    pub fn max_workers(&self) -> usize {
        self.shared.max_workers
    }

    /// The prefix of the workers' names (`{prefix}_{i}`).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// assert!(pool.thread_name_prefix().starts_with("ThreadPoolExecutor-"));
    /// ```
    pub fn thread_name_prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// Schedules `f` on a worker and returns its [`Future`] (Python's `submit(fn)`; pass
    /// arguments by capturing them). A panic in `f` is caught and kept in the future with its
    /// message; the worker carries on.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Shutdown`] after [`shutdown`](ThreadPool::shutdown),
    /// [`SubmitError::Broken`] after an initializer failed, [`SubmitError::Spawn`] when no
    /// worker could be started.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let (a, b) = (20, 22);
    /// let f = pool.submit(move || a + b).unwrap();
    /// assert_eq!(f.result(), Ok(42));
    /// ```
    pub fn submit<F, T>(&self, f: F) -> Result<Future<T>, SubmitError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.shared.submit(f)
    }

    /// A cloneable handle that can submit to this pool from anywhere, for example from inside
    /// its own tasks. It does not keep the pool open: once the pool is shut down or dropped,
    /// the handle's submissions fail with [`SubmitError::Shutdown`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::builder().max_workers(1).build().unwrap();
    /// let handle = pool.handle();
    /// let outer = pool
    ///     .submit(move || {
    ///         let inner = handle.submit(|| 20).unwrap();
    ///         inner.result().unwrap() + 1 // runs `inner` inline: no deadlock with 1 worker
    ///     })
    ///     .unwrap();
    /// assert_eq!(outer.result(), Ok(21));
    /// ```
    pub fn handle(&self) -> PoolHandle {
        PoolHandle {
            shared: self.shared.clone(),
        }
    }

    /// Whether [`shutdown`](ThreadPool::shutdown) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// assert!(!pool.is_shutdown());
    /// pool.shutdown();
    /// assert!(pool.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.shared.is_shutdown()
    }

    /// Stops accepting tasks, lets the queued and running ones finish and waits for the
    /// workers to exit (Python's `shutdown(wait=True)`; `Pool.close()` + `Pool.join()`).
    /// Calling it again is harmless. Called from one of the pool's own tasks, it runs the
    /// queued tasks itself and waits for the other workers.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{fence, AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let pool = threadkit::executor::ThreadPool::builder().max_workers(2).build().unwrap();
    /// let done = Arc::new(AtomicUsize::new(0));
    /// for _ in 0..10 {
    ///     let done = done.clone();
    ///     pool.submit(move || done.fetch_add(1, Ordering::SeqCst)).unwrap();
    /// }
    /// pool.shutdown();
    /// assert_eq!(done.load(Ordering::SeqCst), 10);
    /// ```
    pub fn shutdown(&self) {
        self.shared.shutdown(ShutdownOptions::default());
    }

    /// Shuts down with Python's options: `wait: false` returns at once (the workers finish
    /// the queue on their own); `cancel_futures: true` cancels every task still queued (their
    /// futures report [`TaskError::Cancelled`]) while running tasks finish.
    /// `Pool.terminate()` is `ShutdownOptions { wait: true, cancel_futures: true }` (running
    /// tasks cannot be killed).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc::channel;
    /// use threadkit::executor::{ShutdownOptions, TaskError, ThreadPool};
    ///
    /// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    /// let (started_tx, started) = channel();
    /// let running = pool.submit(move || started_tx.send(()).unwrap()).unwrap();
    /// started.recv().unwrap();
    /// let queued = pool.submit(|| ()).unwrap();
    /// pool.shutdown_with(ShutdownOptions { wait: true, cancel_futures: true });
    /// assert_eq!(running.result(), Ok(()));
    /// // `queued` was either cancelled or had already started.
    /// assert!(queued.is_cancelled() || queued.result() == Ok(()));
    /// ```
    pub fn shutdown_with(&self, options: ShutdownOptions) {
        self.shared.shutdown(options);
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shared.shutdown(ShutdownOptions::default());
    }
}

/// A cloneable submitter for a [`ThreadPool`], made by [`ThreadPool::handle`]; it can be
/// moved into tasks. It does not own the pool: after the pool's shutdown its submissions fail.
///
/// # Examples
///
/// ```
/// let pool = threadkit::executor::ThreadPool::new().unwrap();
/// let h = pool.handle();
/// std::thread::spawn(move || h.submit(|| 1).unwrap().result()).join().unwrap().unwrap();
/// ```
#[derive(Clone)]
pub struct PoolHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for PoolHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolHandle")
            .field("prefix", &self.shared.prefix)
            .finish()
    }
}

impl PoolHandle {
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Same as [`ThreadPool::submit`].
    ///
    /// # Errors
    ///
    /// As [`ThreadPool::submit`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// assert_eq!(pool.handle().submit(|| 2).unwrap().result(), Ok(2));
    /// ```
    pub fn submit<F, T>(&self, f: F) -> Result<Future<T>, SubmitError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.shared.submit(f)
    }

    /// Whether the pool was shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let h = pool.handle();
    /// drop(pool);
    /// assert!(h.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.shared.is_shutdown()
    }
}
