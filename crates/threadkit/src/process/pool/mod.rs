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
//! manager sends a worker its next tasks while it runs one, so that the worker finds one
//! waiting when it sends its result: up to [`Builder::send_ahead`] (64 by default), several
//! in one write. Such tasks count as running (they can no longer be cancelled, and
//! `terminate` fails them); results come back in order, so when a worker dies only the task
//! it was running fails and those sent ahead go back to the head of the queue, for the
//! replacement worker. The hard timeout of a task sent ahead starts when the result before it
//! arrives. Unlike Python's shared call queue, a task sent ahead is bound to its worker, so
//! nothing is sent ahead while another worker is idle, at most a quarter of the worker's share
//! of the queue is sent at a time, and [`Builder::send_ahead`]`(0)` turns it off for tasks that
//! wait for other tasks of the pool.

//!
//! The files, in reading order:
//!
//! 1. `error.rs`: [`SubmitError`], [`BuildError`] and its [`BuildErrorKind`].
//! 2. `shared.rs`: what the pool's handle and its manager threads share: the queue of
//!    [`Job`](shared::Job)s (a task on its way to a worker, with its future's result type
//!    erased behind `Completion`), the initializer, the settings, the live workers and which
//!    worker runs which task.
//! 3. `builder.rs`: [`Builder`], the settings, and `build`, which starts one manager thread
//!    per worker slot.
//! 4. `mod.rs` (this file): [`ProcessPool`], submission (`submit`, `map`, `starmap`, ...),
//!    [`MapResults`], `shutdown` and `terminate`; [`cpu_count`].
//! 5. `worker.rs`: one worker process as its manager holds it: starting it (and its
//!    initializer), retiring it, killing it, and reaping it after a crash into the task's
//!    [`TaskError`].
//! 6. `manager.rs`: the manager thread's loop: takes jobs from the queue, sends them (some
//!    ahead of the running one when it may, several per write), hands results back, and on
//!    a crash or a hard timeout fails only the running task, requeues those sent ahead, starts a new
//!    worker; a failing initializer breaks the pool.

mod builder;
mod error;
mod manager;
mod shared;
mod worker;

pub use builder::Builder;
pub use error::{BuildError, BuildErrorKind, SubmitError};

use std::collections::VecDeque;
use std::fmt;
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::call::{self, Call};
use crate::executor::{Future, TaskError, TupleFn};
use crate::primitive::Mutex;
use shared::{Job, Shared};

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
        pids.get(&key).copied()
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
