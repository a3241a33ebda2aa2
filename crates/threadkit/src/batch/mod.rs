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
//! one outcome per input. GNU parallel's `--halt` is there too ([`Batch::halt`]): stop after a
//! number or a percentage of failures, successes or finished items (`"soon,fail=5"`,
//! `"now,success=10%"`, `"soon,done=100"` parse into a [`Halt`]; `N%` is of the total number of
//! inputs when it is known). With `now`, running items are reported [`Cause::Cancelled`] at once,
//! and [`Batch::on_halt`] is where to stop what they wait on. The summary records which item met
//! the condition ([`Summary::halted_by`]).
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
//! ## Slots and start spacing
//!
//! Inside an item, [`slot()`] is its slot number, from 1 to [`workers`](Batch::workers), held by
//! no other item running at the same time (GNU parallel's `{%}`: a scratch directory or a device
//! per running item). [`Batch::delay`] starts items at least a given time apart (GNU parallel's
//! `--delay`, a crude rate limit). [`Batch::caller_runs_items`] says whether the calling thread
//! helps run items while it waits (by default it does, when items are not tracked).
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
//! [`ProgressSink`](crate::progress::ProgressSink). An item function that prints while the bar is drawn uses
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
//!   [`Durability::PerItem`] the worker that runs an item commits its start right before it
//!   starts and its outcome as soon as it ends (before the run yields it): exactly the items
//!   that were running run again (at most one per worker; items waiting in the queue have no
//!   start on record), and the resumed run counts them in [`Summary::running_at_last_stop`].
//!   With the default
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
//! - `mod.rs`: this tutorial and this map.
//! - `builder.rs`: the [`Batch`] builder (what to run and how) and [`RunError`].
//! - `task.rs`: [`Task`] and its adapters [`Infallible`] and [`Star`].
//! - `policy.rs`, `cancel.rs`: failure policies, the [`Halt`] policy and retries;
//!   [`CancelToken`] and the Ctrl-C watch.
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
//! 3. A worker takes the chunk and runs the task on the input, in its turn when starts are
//!    spaced, catching a panic and retrying as asked (`run/worker.rs`); the final outcome is
//!    counted toward the halt policy, judged there, in one place (`run/shared.rs`).
//! 4. A value goes into its slot of the output buffer (`run/outbuf.rs`); failures (and, in
//!    segment mode, values) go back to the driver with the chunk's counts.
//! 5. The driver counts the outcome, records it in the journal, and queues it in input order
//!    (`run/output.rs`); if the item ran too long, the supervisor has claimed and reported it
//!    already (`run/supervisor.rs`), and its late result is dropped.
//! 6. [`Report`] takes the values written in place and any later segments (`report.rs`).

mod builder;
mod cancel;
#[cfg(feature = "postgres")]
pub mod dist;
mod isolated;
mod journal;
mod outcome;
mod policy;
mod report;
mod run;
mod task;

pub use cancel::CancelToken;
pub use isolated::Isolated;
#[cfg(feature = "journal")]
pub use journal::{Durability, Journal, JournalCounts, JournalError};
pub use outcome::{Cause, FailedInput, Failure, Outcome, StopReason, Summary};
pub use policy::{
    Backoff, FailurePolicy, Halt, HaltEvent, HaltOn, HaltWhen, ParsePolicyError, Retry, Threshold,
};
pub use report::{Outcomes, Report};
pub use run::{slot, Stream};
pub use task::{Infallible, Star, Task};

pub use builder::{Batch, RunError};
