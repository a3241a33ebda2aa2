//! [`Builder`]: the pool's settings, and `build`, which checks them and starts one manager
//! thread per worker slot (workers themselves start with the first tasks).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::{BuildError, BuildErrorKind};
use super::manager::manage;
use super::shared::{Initializer, Queue, Shared};
use super::ProcessPool;
#[cfg(doc)]
use crate::executor::TaskError;
use crate::primitive::{Condvar, Mutex};
use crate::process::call;
use crate::process::child;
use crate::process::forkserver::StartMethod;

/// The default of [`Builder::send_ahead`].
const DEFAULT_SEND_AHEAD: usize = 64;

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
    send_ahead: Option<usize>,
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

    /// How many tasks a worker may be sent ahead of the one it runs (default 64; 0 turns it
    /// off, 1 sends one at a time, as Python's call queue does). Tasks sent ahead save the
    /// worker a wait for each task and the manager a system call for each: the manager sends
    /// several queued tasks in one write, and tiny tasks run several times faster.
    ///
    /// The manager sends ahead only what keeps the pool fair and the sockets unblocked: never
    /// while another worker is idle (an idle worker gets work first), at most a quarter of the
    /// worker's share of the queue at a time (`queue length / workers / 4`, at least one),
    /// only tasks with at most 16 KiB of arguments, and at most 64 KiB of arguments and 64
    /// process handles in flight per worker.
    ///
    /// A task sent ahead counts as running ([`Future::is_running`](crate::executor::Future::is_running)):
    /// it can no longer be cancelled, [`ProcessPool::terminate`] fails it with
    /// [`TaskError::Terminated`], and it is bound to its worker: it waits for the tasks before
    /// it even if another worker becomes free meanwhile. If the worker dies, only the task it
    /// was running fails; those sent ahead go back to the head of the queue. Use 0 when tasks
    /// wait for other tasks of the pool, and a small number when their durations vary widely.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::process::ProcessPool;
    ///
    /// threadkit::process::init();
    /// let pool = ProcessPool::builder().max_workers(2).send_ahead(0).build().unwrap();
    /// let out: Vec<_> = pool.map(|x: u32| x + 1, [1, 2, 3]).unwrap().collect();
    /// assert_eq!(out, [Ok(2), Ok(3), Ok(4)]);
    /// ```
    pub fn send_ahead(mut self, n: usize) -> Builder {
        self.send_ahead = Some(n);
        self
    }

    /// How workers are started (Python's `context` argument): by default the
    /// [`get_start_method`](crate::process::get_start_method) of the moment each worker starts.
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
    /// `main` did not call [`init`](crate::process::init) first
    /// ([`BuildErrorKind::NotInitialized`]: workers would run `main` again), or when a manager
    /// thread cannot start ([`BuildErrorKind::Io`]).
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
            pids: Mutex::new(HashMap::new()),
            start_method: self.start_method,
            send_ahead: self.send_ahead.unwrap_or(DEFAULT_SEND_AHEAD),
            workers: n,
            sent_ahead: AtomicUsize::new(0),
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
