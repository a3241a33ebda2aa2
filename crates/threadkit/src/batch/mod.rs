//! The batch runner: one function over many inputs on a pool, and a report in which every input
//! has exactly one outcome. Seed 000's `EnhancedThreadPool`, done properly.
//!
//! # Tutorial
//!
//! Build a [`Batch`] from the function, set what you need, and [`run`](Batch::run) it over a
//! `Vec`, an array, a range or any iterator. The function takes the input by reference (so a
//! failed input can be handed back to you, and retried) and returns a `Result`; a panic is
//! caught and reported as the item's failure with its message and location (and its
//! backtrace under `RUST_BACKTRACE=1`), not lost, and reported only there: Rust's panic hook
//! does not also print it (see [`thread::print_captured_panics`](crate::thread::print_captured_panics)):
//!
//! ```
//! use threadkit::batch::{Batch, Cause};
//!
//! let report = Batch::new(|n: &u32| {
//!     if *n == 4 {
//!         return Err(format!("cannot handle {n}"));
//!     }
//!     if *n == 7 {
//!         panic!("seven");
//!     }
//!     Ok(n * 10)
//! })
//! .workers(4)
//! .progress(false) // no bar in a doctest; on by default (hidden when stderr is not a terminal)
//! .run(0..10u32)
//! .unwrap();
//!
//! // Outcomes in input order; each failure tied to its input.
//! assert_eq!(report.values().count(), 8);
//! let failures: Vec<_> = report.failures().map(|f| (f.index, f.cause.kind())).collect();
//! assert_eq!(failures, [(4, "error"), (7, "panic")]);
//! assert_eq!(report.exit_code(), 1);
//! println!("{report}"); // summary + a table of the failures: index, input, cause, attempts
//! ```
//!
//! Tuples of arguments go through [`Batch::starmap`] (Python's `pool.starmap(func, params)`),
//! structs through [`Batch::new`] with a function of the struct; a function that cannot fail
//! through [`Batch::infallible`].
//!
//! ## Failures: collect, fail fast, halt
//!
//! By default every input runs and failures are collected ([`FailurePolicy::CollectAll`], the
//! seed's `handle_exceptions=True`). [`FailurePolicy::FailFast`] stops scheduling at the first
//! failure; items already running finish, and the rest are reported [`Cause::NotStarted`] — still
//! one outcome per input. GNU parallel's `--halt` is there too:
//! `"soon,fail=5"` / `"now,fail=10%"` parse into a [`FailurePolicy`] ([`Halt`]). With `now`,
//! running items are reported [`Cause::Cancelled`] at once.
//!
//! ```
//! use threadkit::batch::{Batch, Cause, FailurePolicy};
//!
//! let report = Batch::new(|n: &u32| if *n == 3 { Err("bad") } else { Ok(*n) })
//!     .workers(1)
//!     .chunk_size(1)
//!     .on_failure(FailurePolicy::FailFast)
//!     .progress(false)
//!     .run(0..100u32)
//!     .unwrap();
//! assert_eq!(report.summary().total, 100);
//! assert!(report.failures().any(|f| f.cause == Cause::NotStarted));
//! assert_eq!(report.exit_code(), 2); // halted
//! ```
//!
//! ## Retries and timeouts
//!
//! [`Batch::retry`] reruns an item whose function failed or panicked, with a [`Backoff`];
//! [`Failure::attempts`] says how many tries it had. [`Batch::timeout`] reports an attempt that
//! runs too long as [`Cause::Timeout`]. **A thread cannot be killed**: the timed-out call keeps
//! running on its thread until it returns, and its late result is dropped. The runner starts a
//! replacement thread (up to [`max_abandoned`](Batch::max_abandoned) of them), so the run keeps
//! its parallelism and finishes; only the abandoned threads stay busy. For a task that must
//! really be stopped, run the batch in isolation mode ([`Batch::isolated`]): a worker process
//! can be killed.
//!
//! ## Isolation: items in worker processes
//!
//! [`Batch::isolated`] runs each item in a worker of a
//! [`ProcessPool`](crate::process::ProcessPool) instead of on a thread: a segfault, an abort,
//! an out-of-memory kill or a runaway loop then costs that item only (reported as
//! [`Cause::Crashed`] with the signal named, or [`Cause::Timeout`] past the pool's hard
//! timeout, its worker killed), and the report, policies, retries, progress and journal are
//! the same. The function is a plain `fn` whose input, value and error are serde types; the
//! binary calls [`process::init`](crate::process::init) first thing in `main`. See
//! [`Isolated`] and the `batch_isolated` example.
//!
//! ## Progress, cancellation, Ctrl-C
//!
//! A live bar ([`progress::Bar`](crate::progress::Bar)) on stderr shows done / total, failures
//! so far, the rate and the ETA; it counts finished items, is hidden when stderr is not a
//! terminal, and costs nothing measurable: workers bump atomic counters once per chunk and a
//! ticker thread redraws (no lock per item). [`Batch::progress_sink`] takes any
//! [`ProgressSink`]. An item function that prints while the bar is drawn uses
//! [`progress::write`](crate::progress::write) (Python's `tqdm.write`): the line appears above
//! the bar instead of on its row.
//!
//! A [`CancelToken`] stops a run from anywhere: scheduling stops, running items finish (or are
//! abandoned after [`grace`](Batch::grace), reported [`Cause::Cancelled`]), the rest are
//! [`Cause::NotStarted`]. [`Batch::ctrl_c`] does the same on the first Ctrl-C and stops at
//! once on the second; the partial report comes back as usual and [`Report::exit_code`] is 130.
//!
//! An item that never started is not a failure: [`Summary::not_started`] counts it apart from
//! [`Summary::failed`], the journal does not record it, and a resumed run runs it. A task that
//! waits for its turn before it really starts (a rate limit, a delay) can say it never started
//! by returning [`Cause::NotStarted`] from [`Task::attempt`]:
//!
//! ```
//! use threadkit::batch::{Batch, CancelToken, Cause, Task};
//!
//! struct Polite(CancelToken);
//! impl Task<u32> for Polite {
//!     type Output = u32;
//!     type Error = String;
//!     fn run(&self, x: &u32) -> Result<u32, String> {
//!         Ok(x * 2)
//!     }
//!     fn attempt(&self, x: &u32) -> Result<u32, Cause<String>> {
//!         // ... wait for a turn here; then, if the run was stopped meanwhile:
//!         if self.0.is_cancelled() {
//!             return Err(Cause::NotStarted);
//!         }
//!         self.run(x).map_err(Cause::Error)
//!     }
//! }
//!
//! let token = CancelToken::new();
//! token.cancel();
//! let r = Batch::with_task(Polite(token)).progress(false).run(0..3u32).unwrap();
//! assert_eq!((r.summary().not_started, r.summary().failed()), (3, 0));
//! ```
//!
//! ## Threads
//!
//! A run's workers run on threads of a process-wide pool: worker threads are kept for a few
//! seconds after a run and reused by the next one, so a program that runs many batches starts
//! threads only when none are idle (starting 200 threads takes tens of milliseconds on a small
//! machine; waking 200 idle ones, well under one). Each run still has exactly the
//! [`workers`](Batch::workers) it asked for: when several large runs at once would take more
//! than the shared pool holds (1,024 threads), the rest start on a pool of their own. A thread
//! stuck in a timed-out call (see above) goes back to the pool only when that call returns.
//! Pool threads are named `batch_N` and are daemon threads.
//!
//! ## Streaming and bounded memory
//!
//! [`Batch::stream`] returns an iterator of `(index, outcome)` pairs, in input order, or in
//! finishing order with [`Batch::unordered`]. Inputs are pulled lazily, a bounded window ahead,
//! so a stream over a 100-million-item iterator runs in constant memory (`run` keeps every
//! outcome, so its report grows with the input).
//!
//! ```
//! use threadkit::batch::Batch;
//!
//! let mut stream = Batch::infallible(|x: &u64| x % 7).unordered().progress(false).stream(0..100_000u64).unwrap();
//! let total: u64 = stream.by_ref().map(|(_, o)| o.unwrap()).sum();
//! assert_eq!(stream.summary().total, 100_000);
//! assert!(total > 0);
//! ```
//!
//! ## The journal: resume a killed run
//!
//! With feature `journal` (on by default), [`Batch::journal`] records each finished outcome in
//! an SQLite file under a stable key per input ([`Batch::journal_key`], by default a hash of the
//! input's `Debug` text). Run the same batch again with the same journal and the inputs already
//! done are skipped (their values come from the journal); failed ones are reported again, or
//! rerun with [`Batch::retry_failed`].
//!
//! What runs again on resume:
//!
//! - **Items that did not finish** run again: those never started ([`Cause::NotStarted`]:
//!   after Ctrl-C, a cancellation, a halt) and those stopped while running
//!   ([`Cause::Cancelled`]) are not recorded.
//! - **After a kill** (SIGKILL, a crash), it depends on the journal's [`Durability`]. With
//!   [`Durability::PerItem`] each outcome is committed before the run yields it and each
//!   item's start before a worker gets it: exactly the items handed to workers and not yet
//!   yielded run again (with [`chunk_size(1)`](Batch::chunk_size) and a
//!   [`window`](Batch::window) of one item per worker, the items that were running), and the
//!   resumed run counts them in [`Summary::running_at_last_stop`]. With the default
//!   [`Durability::Group`], outcomes are committed in groups (2,048 outcomes or 200 ms):
//!   a kill also re-runs the items finished in the last group window.
//! - Nothing recorded as done runs again, and a kill never leaves an item recorded as done
//!   that did not finish, nor a corrupt file.
//!
//! # Python
//!
//! | Python (seed 000) | threadkit |
//! | --- | --- |
//! | `EnhancedThreadPool(num_workers=4)` | `Batch::new(f).workers(4)` |
//! | `etp.parralelize(func, args, kwargs)` | `.run(inputs)` / `Batch::starmap(f).run(args)` |
//! | `handle_exceptions=True` / `False` | `FailurePolicy::CollectAll` / `FailFast` |
//! | `EnhancedThreadPoolException(func, params, e)` | [`Failure`] { index, input, attempts, cause } |
//! | `tqdm` bar polled every 0.5 s | [`progress::Bar`](crate::progress::Bar), a ticker thread |
//!
//! # Inside
//!
//! The files of this module, in reading order:
//!
//! - `mod.rs`: this tutorial, the [`Batch`] builder, [`RunError`].
//! - `task.rs`: [`Task`] and its adapters [`Infallible`] and [`Star`].
//! - `policy.rs`, `cancel.rs`: failure policies and retries; [`CancelToken`] and the Ctrl-C
//!   watch.
//! - `run/`: the engine, in rooms of one job each (its `mod.rs` lists them): the run's
//!   configuration, the state its threads share, the threads, the worker loop, the output
//!   buffer, the output mode, the supervisor (timeouts, stop requests), and the driver,
//!   [`Stream`].
//! - `outcome.rs`: [`Outcome`], [`Failure`], [`Cause`], the [`Summary`] and the counts of
//!   outcomes by kind; `report.rs`: the [`Report`], assembled from the stream.
//! - `journal/`: the SQLite journal file and the glue between a run and it.
//! - `isolated.rs`: the isolation mode, a [`Task`] that runs each item on a process pool.
//!
//! The path of one input through [`Batch::run`]:
//!
//! 1. `run` starts a [`Stream`] (`run/stream.rs`): the output mode is chosen (values in place
//!    for an input of known length, else segments, journaled with a journal), the supervisor
//!    is made if items are tracked, worker loops start on the engine (`run/engine.rs`).
//! 2. The driver pulls the input from the iterator into a chunk while the window has room;
//!    in a journaled run the journal may resolve it on the spot (`journal/hook.rs`).
//! 3. A worker takes the chunk and runs the task on the input, catching a panic and retrying
//!    as asked (`run/worker.rs`); a failure is counted toward the halt policy
//!    (`run/shared.rs`).
//! 4. A value goes into its slot of the output buffer (`run/outbuf.rs`); failures (and, in
//!    segment mode, values) go back to the driver with the chunk's counts.
//! 5. The driver counts the outcome, records it in the journal, and queues it in input order
//!    (`run/output.rs`); if the item ran too long, the supervisor has claimed and reported it
//!    already (`run/supervisor.rs`), and its late result is dropped.
//! 6. [`Report`] takes the values written in place and any later segments (`report.rs`).

mod cancel;
mod isolated;
mod journal;
mod outcome;
mod policy;
mod report;
mod run;
mod task;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use cancel::CancelToken;
pub use isolated::Isolated;
#[cfg(feature = "journal")]
pub use journal::{Durability, Journal, JournalCounts, JournalError};
pub use outcome::{Cause, FailedInput, Failure, Outcome, StopReason, Summary};
pub use policy::{Backoff, FailurePolicy, Halt, HaltWhen, ParsePolicyError, Retry, Threshold};
pub use report::{Outcomes, Report};
pub use run::Stream;
pub use task::{Infallible, Star, Task};

use crate::progress::ProgressSink;
use journal::JournalHook;
use run::{Config, ProgressChoice};

/// Why a run could not start or complete.
///
/// # Examples
///
/// ```
/// use threadkit::batch::RunError;
/// let e = RunError::Signal { message: "no".into() };
/// assert!(e.to_string().contains("Ctrl-C"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum RunError {
    /// The worker pool could not be started.
    Engine {
        /// The pool's error.
        message: String,
    },
    /// The Ctrl-C handler could not be installed.
    Signal {
        /// The error.
        message: String,
    },
    /// The journal could not be written; the run stopped scheduling at that point.
    #[cfg(feature = "journal")]
    Journal(JournalError),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Engine { message } => write!(f, "cannot start the batch workers: {message}"),
            RunError::Signal { message } => {
                write!(f, "cannot install the Ctrl-C handler: {message}")
            }
            #[cfg(feature = "journal")]
            RunError::Journal(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            #[cfg(feature = "journal")]
            RunError::Journal(e) => Some(e),
            _ => None,
        }
    }
}

/// A batch: a function, how to run it, and (with [`run`](Batch::run) or
/// [`stream`](Batch::stream)) the inputs. See the [module docs](self) for a tutorial.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::batch::{Backoff, Batch, Retry};
///
/// let report = Batch::new(|url: &String| -> Result<usize, String> { Ok(url.len()) })
///     .workers(8)
///     .retry(Retry::new(2).backoff(Backoff::Fixed(Duration::from_millis(10))))
///     .timeout(Duration::from_secs(30))
///     .progress(false)
///     .run(vec!["a".to_string(), "bb".to_string()])
///     .unwrap();
/// assert_eq!(report.values().copied().collect::<Vec<_>>(), [1, 2]);
/// ```
pub struct Batch<I, K: Task<I>> {
    task: K,
    cfg: Config,
    journal: Option<JournalHook<I, K::Output, K::Error>>,
}

impl<I, K: Task<I>> fmt::Debug for Batch<I, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("config", &self.cfg)
            .field("journal", &self.journal.is_some())
            .finish_non_exhaustive()
    }
}

impl<I, F> Batch<I, F>
where
    F: Task<I>,
{
    /// A batch of `f`, a function of a reference to the input returning a `Result`.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::new(|s: &&str| s.parse::<i32>())
    ///     .progress(false)
    ///     .run(["1", "x", "3"])
    ///     .unwrap();
    /// assert_eq!(r.summary().errors, 1);
    /// ```
    pub fn new<T, E>(f: F) -> Batch<I, F>
    where
        F: Fn(&I) -> Result<T, E> + Send + Sync + 'static,
    {
        Batch::with_task(f)
    }
}

impl<I, F> Batch<I, Infallible<F>>
where
    Infallible<F>: Task<I>,
{
    /// A batch of a function that cannot fail (it may still panic; panics are failures).
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::infallible(|x: &u32| x + 1).progress(false).run(vec![1, 2]).unwrap();
    /// assert_eq!(r.values().copied().collect::<Vec<_>>(), [2, 3]);
    /// ```
    pub fn infallible<T>(f: F) -> Batch<I, Infallible<F>>
    where
        F: Fn(&I) -> T + Send + Sync + 'static,
    {
        Batch::with_task(Infallible(f))
    }
}

impl<Args, F> Batch<Args, Star<F>>
where
    Star<F>: Task<Args>,
{
    /// A batch of a function of several arguments, run on tuples (Python's `starmap`). Each
    /// call gets a clone of the tuple, so the input is still there for the report and retries.
    ///
    /// # Examples
    ///
    /// ```
    /// fn div(a: i32, b: i32) -> Result<i32, String> {
    ///     if b == 0 { Err(format!("{a} / 0")) } else { Ok(a / b) }
    /// }
    /// let r = threadkit::batch::Batch::starmap(div).progress(false).run([(6, 3), (1, 0)]).unwrap();
    /// let f = r.failures().next().unwrap();
    /// assert_eq!(f.input.value(), Some(&(1, 0)));
    /// ```
    pub fn starmap(f: F) -> Batch<Args, Star<F>> {
        Batch::with_task(Star(f))
    }
}

impl<I, T, E> Batch<I, Isolated<I, T, E>>
where
    I: serde::Serialize + serde::de::DeserializeOwned + Clone + 'static,
    T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    E: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    /// A batch whose items each run in a worker process of `pool` (the isolation mode; see
    /// [`Isolated`] for how process failures are reported). `f` is a plain `fn` (not a
    /// closure: it is called by address in the worker) taking the input by value; inputs,
    /// values and errors cross the process boundary with serde, and the binary must call
    /// [`process::init`](crate::process::init) at the top of `main`.
    ///
    /// One batch thread per pool worker hands items over one at a time
    /// ([`workers`](Batch::workers) defaults to the pool's size and
    /// [`chunk_size`](Batch::chunk_size) to 1). For a hard per-item timeout, build the pool
    /// with [`task_timeout`](crate::process::ProcessPoolBuilder::task_timeout): an item past it has its
    /// worker killed and replaced, and is reported as [`Cause::Timeout`]. The report,
    /// policies, retries, progress and journal are the same as for threads.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::batch::{Batch, Cause};
    /// use threadkit::process::ProcessPool;
    ///
    /// fn slow_square(x: u64) -> Result<u64, String> {
    ///     if x == 2 {
    ///         std::thread::sleep(Duration::from_secs(60)); // killed at the timeout
    ///     }
    ///     Ok(x * x)
    /// }
    ///
    /// threadkit::process::init();
    /// let pool = ProcessPool::builder()
    ///     .max_workers(2)
    ///     .task_timeout(Duration::from_millis(500))
    ///     .build()
    ///     .unwrap();
    /// let report = Batch::isolated(pool, slow_square).progress(false).run(0..4u64).unwrap();
    /// assert_eq!(report.values().copied().collect::<Vec<_>>(), [0, 1, 9]);
    /// assert!(matches!(report.failures().next().unwrap().cause, Cause::Timeout { .. }));
    /// ```
    pub fn isolated(
        pool: impl Into<std::sync::Arc<crate::process::ProcessPool>>,
        f: fn(I) -> Result<T, E>,
    ) -> Batch<I, Isolated<I, T, E>> {
        let task = Isolated::new(pool, f);
        let workers = task.pool().max_workers();
        Batch::with_task(task).workers(workers).chunk_size(1)
    }
}

impl<I, K: Task<I>> Batch<I, K> {
    /// A batch of any [`Task`].
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::batch::{Batch, Infallible};
    /// let r = Batch::with_task(Infallible(|x: &u8| *x)).progress(false).run([5u8]).unwrap();
    /// assert!(r.is_success());
    /// ```
    pub fn with_task(task: K) -> Batch<I, K> {
        Batch {
            task,
            cfg: Config::default(),
            journal: None,
        }
    }

    /// Worker threads (default: the number of cores; at least 1). For blocking work (I/O,
    /// sleeps) use many more than cores.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = threadkit::batch::Batch::infallible(|x: &u8| *x).workers(3);
    /// # let _ = b;
    /// ```
    pub fn workers(mut self, n: usize) -> Self {
        self.cfg.workers = n.max(1);
        self
    }

    /// Items handed to a worker at a time. By default the size adapts to the cost of an item
    /// (about 100 µs of work per chunk) and shrinks near the end of an input of known length.
    /// With a timeout, a grace period, Ctrl-C or `--halt now` items go one at a time.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = threadkit::batch::Batch::infallible(|x: &u8| *x).chunk_size(1);
    /// # let _ = b;
    /// ```
    pub fn chunk_size(mut self, n: usize) -> Self {
        self.cfg.chunk = Some(n.max(1));
        self
    }

    /// At most this many inputs taken from the iterator and not yet yielded (default: 4
    /// chunks per worker, at most 2^20 items).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = threadkit::batch::Batch::infallible(|x: &u8| *x).window(1000);
    /// # let _ = b;
    /// ```
    pub fn window(mut self, items: usize) -> Self {
        self.cfg.window = Some(items.max(1));
        self
    }

    /// [`stream`](Batch::stream) yields outcomes as they finish, not in input order (each
    /// still carries its index). [`run`](Batch::run) always returns input order.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut idx: Vec<u64> = threadkit::batch::Batch::infallible(|x: &u8| *x)
    ///     .unordered()
    ///     .progress(false)
    ///     .stream(0..50u8)
    ///     .unwrap()
    ///     .map(|(i, _)| i)
    ///     .collect();
    /// idx.sort();
    /// assert_eq!(idx, (0..50).collect::<Vec<u64>>());
    /// ```
    pub fn unordered(mut self) -> Self {
        self.cfg.ordered = false;
        self
    }

    /// What to do when items fail (default [`FailurePolicy::CollectAll`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::batch::{Batch, FailurePolicy};
    /// let b = Batch::infallible(|x: &u8| *x).on_failure("soon,fail=3".parse::<FailurePolicy>().unwrap());
    /// # let _ = b;
    /// ```
    pub fn on_failure(mut self, policy: FailurePolicy) -> Self {
        self.cfg.policy = policy;
        self
    }

    /// Retries failed items (errors and panics).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use threadkit::batch::{Batch, Retry};
    ///
    /// let calls = AtomicU32::new(0);
    /// let calls = Box::leak(Box::new(calls));
    /// let r = Batch::new(|_: &u8| if calls.fetch_add(1, Ordering::SeqCst) < 2 { Err("flaky") } else { Ok(()) })
    ///     .retry(Retry::new(3))
    ///     .workers(1)
    ///     .progress(false)
    ///     .run([0u8])
    ///     .unwrap();
    /// assert!(r.is_success());
    /// assert_eq!(r.summary().retries, 2);
    /// ```
    pub fn retry(mut self, retry: Retry) -> Self {
        self.cfg.retry = retry;
        self
    }

    /// Reports an attempt still running after `timeout` as [`Cause::Timeout`]. The thread
    /// running it cannot be killed: it goes on until the function returns, its late result is
    /// dropped, and a replacement thread takes its place (up to
    /// [`max_abandoned`](Batch::max_abandoned)). Use a process pool to really stop such work.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::batch::{Batch, Cause};
    ///
    /// let r = Batch::infallible(|ms: &u64| std::thread::sleep(Duration::from_millis(*ms)))
    ///     .timeout(Duration::from_millis(50))
    ///     .progress(false)
    ///     .run([0u64, 2_000])
    ///     .unwrap();
    /// assert!(matches!(r.failures().next().unwrap().cause, Cause::Timeout { .. }));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.cfg.timeout = Some(timeout);
        self
    }

    /// How many threads stuck in timed-out calls may have a replacement at a time (default
    /// 64). Beyond that, a timed-out thread takes its place back when its call returns, and
    /// the run goes on with fewer workers meanwhile; if every worker is stuck in a call that
    /// never returns, the run waits for one of them.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = threadkit::batch::Batch::infallible(|x: &u8| *x).max_abandoned(4);
    /// # let _ = b;
    /// ```
    pub fn max_abandoned(mut self, n: usize) -> Self {
        self.cfg.max_abandoned = n;
        self
    }

    /// Shows the live bar on stderr (`true`, the default; hidden anyway when stderr is not a
    /// terminal) or nothing (`false`).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = threadkit::batch::Batch::infallible(|x: &u8| *x).progress(false);
    /// # let _ = b;
    /// ```
    pub fn progress(mut self, on: bool) -> Self {
        self.cfg.progress = if on {
            ProgressChoice::Auto
        } else {
            ProgressChoice::Off
        };
        self
    }

    /// Shows progress on `sink` instead of the stderr bar.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use threadkit::progress::Bar;
    /// let b = threadkit::batch::Batch::infallible(|x: &u8| *x).progress_sink(Arc::new(Bar::hidden()));
    /// # let _ = b;
    /// ```
    pub fn progress_sink(mut self, sink: Arc<dyn ProgressSink>) -> Self {
        self.cfg.progress = ProgressChoice::Sink(sink);
        self
    }

    /// How often the ticker thread refreshes the progress sink (default 100 ms).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = threadkit::batch::Batch::infallible(|x: &u8| *x).progress_interval(Duration::from_millis(500));
    /// # let _ = b;
    /// ```
    pub fn progress_interval(mut self, every: Duration) -> Self {
        self.cfg.progress_interval = every.max(Duration::from_millis(1));
        self
    }

    /// Stops the run when `token` is cancelled: scheduling stops, running items finish (see
    /// [`grace`](Batch::grace)), the rest are [`Cause::NotStarted`].
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::batch::{Batch, CancelToken};
    ///
    /// let token = CancelToken::new();
    /// token.cancel();
    /// let r = Batch::infallible(|x: &u8| *x).cancel_token(token).progress(false).run(0..10u8).unwrap();
    /// assert_eq!(r.summary().not_started, 10);
    /// ```
    pub fn cancel_token(mut self, token: CancelToken) -> Self {
        self.cfg.cancel = Some(token);
        self
    }

    /// Handles Ctrl-C (SIGINT) during the run: the first stops scheduling and gives running
    /// items the grace period (default 10 s), the second stops at once; the run returns its
    /// partial report: the items stopped while running [`Cause::Cancelled`], those that never
    /// started [`Cause::NotStarted`]. Outside runs, Ctrl-C keeps its default
    /// action (the process ends).
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::infallible(|x: &u8| *x).ctrl_c(true).progress(false).run([1u8]).unwrap();
    /// assert!(r.is_success());
    /// ```
    pub fn ctrl_c(mut self, on: bool) -> Self {
        self.cfg.ctrl_c = on;
        if on && self.cfg.grace.is_none() {
            self.cfg.grace = Some(Duration::from_secs(10));
        }
        self
    }

    /// After a cancellation or Ctrl-C, how long running items may go on before they are
    /// reported [`Cause::Cancelled`] and abandoned (their threads go on until they return).
    /// Without it, a cancelled run waits for its running items.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = threadkit::batch::Batch::infallible(|x: &u8| *x).grace(Duration::from_secs(2));
    /// # let _ = b;
    /// ```
    pub fn grace(mut self, grace: Duration) -> Self {
        self.cfg.grace = Some(grace);
        self
    }

    /// Runs the batch over `inputs` and returns every outcome in input order.
    ///
    /// # Errors
    ///
    /// [`RunError::Engine`] when no worker thread can be started, [`RunError::Signal`] when
    /// the Ctrl-C handler cannot be installed, [`RunError::Journal`] when the journal cannot be
    /// written (the run stops scheduling then).
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::infallible(|x: &i64| x * x).progress(false).run(vec![1, 2, 3]).unwrap();
    /// assert_eq!(r.values().copied().collect::<Vec<_>>(), [1, 4, 9]);
    /// ```
    pub fn run<It>(self, inputs: It) -> Result<Report<K::Output, I, K::Error>, RunError>
    where
        It: IntoIterator<Item = I>,
        I: fmt::Debug + Send + 'static,
    {
        let mut cfg = self.cfg;
        cfg.ordered = true;
        let iter = inputs.into_iter();
        let cap = iter.size_hint().0;
        let stream = run::Stream::start(self.task, iter, cfg, self.journal, true)?;
        Report::from_stream(stream, cap)
    }

    /// Runs the batch over `inputs` and returns its cloned values: for a slice.
    ///
    /// # Errors
    ///
    /// As [`run`](Batch::run).
    ///
    /// # Examples
    ///
    /// ```
    /// let data = [3u32, 4, 5];
    /// let r = threadkit::batch::Batch::infallible(|x: &u32| x * 2).progress(false).run_slice(&data).unwrap();
    /// assert_eq!(r.values().copied().collect::<Vec<_>>(), [6, 8, 10]);
    /// ```
    pub fn run_slice(self, inputs: &[I]) -> Result<Report<K::Output, I, K::Error>, RunError>
    where
        I: Clone + fmt::Debug + Send + 'static,
    {
        self.run(inputs.iter().cloned())
    }

    /// Starts the batch and returns a [`Stream`] of `(index, outcome)` pairs.
    ///
    /// # Errors
    ///
    /// As [`run`](Batch::run), for starting; a journal write error ends the stream early
    /// (see [`Stream::error`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = threadkit::batch::Batch::infallible(|x: &u8| *x).progress(false).stream(0..3u8).unwrap();
    /// assert_eq!(s.map(|(i, o)| (i, o.unwrap())).collect::<Vec<_>>(), [(0, 0), (1, 1), (2, 2)]);
    /// ```
    pub fn stream<It>(self, inputs: It) -> Result<Stream<K, I, It::IntoIter>, RunError>
    where
        It: IntoIterator<Item = I>,
        I: fmt::Debug + Send + 'static,
    {
        run::Stream::start(self.task, inputs.into_iter(), self.cfg, self.journal, false)
    }
}

#[cfg(feature = "journal")]
impl<I, K> Batch<I, K>
where
    K: Task<I>,
    K::Output: serde::Serialize + serde::de::DeserializeOwned,
    K::Error: fmt::Display,
    I: fmt::Debug,
{
    /// Records outcomes in `journal` and skips the inputs it already has as done (their values
    /// are read back from it). Values are stored as JSON. The key of an input is a hash of its
    /// `Debug` text unless [`journal_key`](Batch::journal_key) says otherwise.
    ///
    /// # Examples
    ///
    /// See [`Journal`].
    pub fn journal(mut self, journal: Journal) -> Self {
        let old_key = self.journal.take().map(|h| h.key);
        self.journal = Some(JournalHook {
            journal,
            key: old_key.unwrap_or_else(|| Box::new(|i: &I| journal::debug_key(&format!("{i:?}")))),
            encode: |v| serde_json::to_string(v).ok(),
            decode: |s| serde_json::from_str(s).ok(),
            cause_text: |c| c.to_string(),
            retry_failed: false,
        });
        self
    }

    /// The journal key of an input (call after [`journal`](Batch::journal)). Keys must be
    /// stable across runs and distinct between inputs.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tk-doc-journal-key-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// use threadkit::batch::{Batch, Journal};
    /// let r = Batch::new(|p: &String| -> Result<usize, String> { Ok(p.len()) })
    ///     .journal(Journal::open(dir.join("k.db"), "lengths").unwrap())
    ///     .journal_key(|p: &String| p.clone())
    ///     .progress(false)
    ///     .run(vec!["a/b".to_string()])
    ///     .unwrap();
    /// assert!(r.is_success());
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn journal_key(mut self, key: impl Fn(&I) -> String + Send + Sync + 'static) -> Self {
        if let Some(h) = &mut self.journal {
            h.key = Box::new(key);
        }
        self
    }

    /// Reruns the inputs the journal records as failed (GNU parallel's `--resume-failed`);
    /// by default they are reported again as [`Cause::Journaled`] without running.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tk-doc-journal-rf-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// use threadkit::batch::{Batch, Journal};
    /// let path = dir.join("rf.db");
    /// let first = Batch::new(|x: &u8| if *x == 1 { Err("no") } else { Ok(*x) })
    ///     .journal(Journal::open(&path, "rf").unwrap()).progress(false).run(0..3u8).unwrap();
    /// assert_eq!(first.summary().errors, 1);
    /// let second = Batch::new(|x: &u8| -> Result<u8, &str> { Ok(*x) })
    ///     .journal(Journal::open(&path, "rf").unwrap()).retry_failed(true).progress(false).run(0..3u8).unwrap();
    /// assert!(second.is_success());
    /// assert_eq!(second.summary().skipped, 2);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn retry_failed(mut self, yes: bool) -> Self {
        if let Some(h) = &mut self.journal {
            h.retry_failed = yes;
        }
        self
    }
}
