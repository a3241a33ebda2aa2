//! The builder users start from: [`Batch`] (what to run and how) and [`RunError`] (why a run
//! could not start or complete). It checks and records the settings; `run/` does the work.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::cancel::CancelToken;
use super::isolated::Isolated;
use super::journal::JournalHook;
#[cfg(feature = "journal")]
use super::journal::{self, Journal, JournalError};
use super::policy::{FailurePolicy, Halt, HaltEvent, Retry};
use super::report::Report;
use super::run::{self, Config, ProgressChoice, Stream};
use super::task::{Infallible, Star, Task};
use crate::progress::ProgressSink;

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
/// [`stream`](Batch::stream)) the inputs. See the [module docs](crate::batch) for a tutorial.
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
    /// worker killed and replaced, and is reported as [`Cause::Timeout`](super::Cause::Timeout). The report,
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

    /// Stops the run when `halt`'s condition is met: GNU parallel's `--halt`, on failures,
    /// successes or finished items (the same as
    /// [`on_failure(FailurePolicy::Halt(halt))`](Batch::on_failure)). The condition is judged
    /// where each item's final outcome is counted; the summary records which item met it
    /// ([`Summary::halted_by`](super::Summary::halted_by)). See [`Halt`] for what `N%` is of.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::batch::{Batch, Halt, StopReason};
    ///
    /// // Stop once 3 items have a value.
    /// let r = Batch::infallible(|x: &u32| *x)
    ///     .halt(Halt::soon().success_count(3))
    ///     .workers(1)
    ///     .progress(false)
    ///     .run(0..100u32)
    ///     .unwrap();
    /// assert_eq!(r.summary().stopped, Some(StopReason::Halted));
    /// assert_eq!(r.summary().succeeded, 3);
    /// assert_eq!(r.summary().halted_by.unwrap().index, 2);
    /// ```
    pub fn halt(mut self, halt: Halt) -> Self {
        self.cfg.policy = FailurePolicy::Halt(halt);
        self
    }

    /// Calls `hook` once when the halt policy is met, on the thread that met it (a worker, as
    /// the item's outcome is counted, before the driver hears of it), after scheduling was
    /// stopped. The runner cannot kill a thread: with `now`, the hook is where to stop what the
    /// running items wait on (the `threadkit` command sends TERM to its jobs there). Keep it
    /// short; it must not wait for the run.
    ///
    /// # Panics
    ///
    /// A panic in `hook` is caught and logged (a `tracing` warning); the run goes on halting.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use threadkit::batch::{Batch, Halt, HaltOn};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let s = seen.clone();
    /// let r = Batch::new(|x: &u32| if *x % 10 == 9 { Err(*x) } else { Ok(()) })
    ///     .halt(Halt::now().fail_count(2))
    ///     .on_halt(move |e| s.lock().unwrap().push((e.on, e.count, e.index)))
    ///     .workers(1)
    ///     .progress(false)
    ///     .run(0..100u32)
    ///     .unwrap();
    /// assert_eq!(*seen.lock().unwrap(), [(HaltOn::Fail, 2, 19)]);
    /// assert_eq!(r.summary().halted_by.unwrap().index, 19);
    /// ```
    pub fn on_halt(mut self, hook: impl Fn(&HaltEvent) + Send + Sync + 'static) -> Self {
        self.cfg.on_halt = Some(Arc::new(hook));
        self
    }

    /// The number of inputs, for an input that does not know its length: what `N%` halts and
    /// the progress bar are of. An input of exact length (a `Vec`, a slice, a range, an
    /// [`ExactSizeIterator`]) needs none; this overrides it.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::batch::{Batch, Halt};
    ///
    /// let evens = (0..1000u32).filter(|x| x % 2 == 0); // 500 items, length unknown
    /// let r = Batch::infallible(|x: &u32| *x)
    ///     .halt(Halt::soon().done_percent(10.0))
    ///     .total(500)
    ///     .workers(1)
    ///     .progress(false)
    ///     .run(evens)
    ///     .unwrap();
    /// assert_eq!(r.summary().halted_by.unwrap().count, 50);
    /// ```
    pub fn total(mut self, n: u64) -> Self {
        self.cfg.total = Some(n);
        self
    }

    /// Starts items at least `delay` apart (GNU parallel's `--delay`): each start (and each
    /// retry) waits for its turn on its worker thread. A cancellation, Ctrl-C or a halt during
    /// the wait is seen within about 10 ms, and the item is reported
    /// [`Cause::NotStarted`](super::Cause::NotStarted). The spacing is a lower bound: a busy
    /// machine may space starts further.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let t0 = Instant::now();
    /// let r = threadkit::batch::Batch::infallible(|x: &u8| *x)
    ///     .delay(Duration::from_millis(20))
    ///     .workers(4)
    ///     .progress(false)
    ///     .run(0..4u8)
    ///     .unwrap();
    /// assert!(r.is_success());
    /// assert!(t0.elapsed() >= Duration::from_millis(60));
    /// ```
    pub fn delay(mut self, delay: Duration) -> Self {
        self.cfg.delay = (!delay.is_zero()).then_some(delay);
        self
    }

    /// Whether the calling thread runs items itself (default `true`). While it waits for
    /// outcomes, the calling thread of a run that is not tracked (no timeout, grace period,
    /// Ctrl-C handling or `now` halt) runs queued items, as one of the
    /// [`workers`](Batch::workers), rather than sleep: cheapest for short items. With `false`,
    /// every item runs on a worker thread and the calling thread only drives the run (takes
    /// outcomes, writes the journal, yields them), so it is free to deliver a stream's
    /// outcomes as they come while items run for hours.
    ///
    /// # Examples
    ///
    /// ```
    /// let caller = std::thread::current().id();
    /// let r = threadkit::batch::Batch::infallible(|_: &u8| std::thread::current().id())
    ///     .caller_runs_items(false)
    ///     .progress(false)
    ///     .run(0..50u8)
    ///     .unwrap();
    /// assert!(r.values().all(|id| *id != caller));
    /// ```
    pub fn caller_runs_items(mut self, yes: bool) -> Self {
        self.cfg.caller_runs_items = yes;
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

    /// Reports an attempt still running after `timeout` as [`Cause::Timeout`](super::Cause::Timeout). The thread
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
    /// [`grace`](Batch::grace)), the rest are [`Cause::NotStarted`](super::Cause::NotStarted).
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
    /// partial report: the items stopped while running [`Cause::Cancelled`](super::Cause::Cancelled), those that never
    /// started [`Cause::NotStarted`](super::Cause::NotStarted). Outside runs, Ctrl-C keeps its default
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
    /// reported [`Cause::Cancelled`](super::Cause::Cancelled) and abandoned (their threads go on until they return).
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
    /// by default they are reported again as [`Cause::Journaled`](super::Cause::Journaled) without running.
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
