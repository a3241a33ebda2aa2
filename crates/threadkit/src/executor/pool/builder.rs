//! [`Builder`]: a thread pool's settings; `build` makes the pool's shared state (its workers
//! start lazily, with the first submissions).

use crossbeam_utils::CachePadded;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[cfg(doc)]
use super::super::future::TaskError;
#[cfg(doc)]
use super::error::SubmitError;
use super::error::{BuildError, BuildErrorKind};
use super::queue::JobQueue;
use super::shared::{PoolState, Shared};
use super::ThreadPool;
use crate::primitive::{Condvar, Mutex};

pub(super) type Initializer = Arc<dyn Fn() + Send + Sync>;

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
    park_when_idle: bool,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("max_workers", &self.max_workers)
            .field("thread_name_prefix", &self.prefix)
            .field("initializer", &self.initializer.as_ref().map(|_| ".."))
            .field("stack_size", &self.stack_size)
            .field("idle_timeout", &self.idle_timeout)
            .field("park_when_idle", &self.park_when_idle)
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
            park_when_idle: false,
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

    /// Makes idle workers sleep at once rather than spin and yield for a while first (as the
    /// pool's queue does by default, like a channel's receiver, betting on a task coming
    /// within microseconds). For a pool whose
    /// tasks hold their worker a long time and come in bursts (a batch run's worker loops: 200
    /// of them end within a few milliseconds on a machine of 2 cores), the spinning and
    /// yielding of the threads that went idle only takes CPU time from those still working.
    /// Either way a submission that finds a worker asleep wakes it (one lock and a
    /// notification).
    pub(crate) fn park_when_idle(mut self, yes: bool) -> Builder {
        self.park_when_idle = yes;
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
        let (queue, push_end) = JobQueue::new();
        Ok(ThreadPool {
            shared: Arc::new(Shared {
                id: (number % (u32::MAX as usize)) as u32 + 1,
                queue,
                state: CachePadded::new(Mutex::new(PoolState {
                    open: true,
                    push_end,
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
                park_when_idle: self.park_when_idle,
            }),
        })
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}
