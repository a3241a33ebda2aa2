//! [`ThreadPool`], its [`Builder`], [`PoolHandle`] and the worker loop.
//!
//! The files, in reading order:
//!
//! 1. `error.rs`: [`BuildError`] and its [`BuildErrorKind`], [`SubmitError`].
//! 2. `builder.rs`: [`Builder`] (Python's `ThreadPoolExecutor` arguments, and the idle
//!    timeout), which makes the pool's [`Shared`] state.
//! 3. `queue.rs`: [`JobQueue`](queue::JobQueue), the job queue threaded through the tasks'
//!    links, with the idle workers' sleep and wake-up.
//! 4. `shared.rs`: what the pool's handles and its workers share: the job queue, the lazy
//!    growth (a worker is started when a job finds none idle, with the fences that make
//!    "submit, then look" and "go idle, then look" see each other), retiring idle workers,
//!    shutdown, and the worker loop itself.
//! 5. `mod.rs` (this file): [`ThreadPool`] with [`ShutdownOptions`], and [`PoolHandle`],
//!    the cloneable submitting side tasks can hold.

mod builder;
mod error;
mod queue;
mod shared;

pub use builder::Builder;
pub use error::{BuildError, BuildErrorKind, SubmitError};
pub(crate) use queue::Link;
#[cfg(loom)]
pub use queue::LoomQueue;
pub(crate) use shared::Shared;

use std::fmt;
use std::sync::Arc;

use super::future::Future;
#[cfg(doc)]
use super::future::TaskError;

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
            .field("shutdown", &!st.open)
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
