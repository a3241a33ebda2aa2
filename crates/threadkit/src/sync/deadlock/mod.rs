//! Deadlock diagnosis (feature `deadlock-detection`): self-deadlocks, lock-order inversions and
//! stuck threads, named instead of hanging.
//!
//! Python gives a deadlocked program nothing but a hang (and `faulthandler` to dump the stacks
//! afterwards). With this feature on, every threadkit lock records, per thread, which locks it
//! holds, where (`#[track_caller]`) and in which order it took them:
//!
//! * **Self-deadlock.** A thread acquiring a [`Lock`] it already holds (seed 004's
//!   `l.acquire(); l.acquire()`) panics with a [`Report::SelfDeadlock`] message instead of
//!   waiting forever. The timed and try forms (`acquire_timeout`, `lock_timeout`, `try_lock`,
//!   ...) behave as without the feature: they cannot hang, and their "timed out" / "not
//!   acquired" result is the answer (seed 000's `acquire(timeout=3)` still gives up after its
//!   timeout).
//! * **Lock-order inversion.** Each "acquired B while holding A" is an edge of one global
//!   order graph. An edge that closes a cycle (A then B in one place, B then A in another) is
//!   reported at once as a [`Report::LockOrderInversion`] with both orders, their call sites
//!   and thread names, even when the timing did not deadlock this time, as Linux's lockdep
//!   does. [`RLock`] reentry adds no edge; try-acquisitions add none either (they cannot wait).
//! * **Stuck threads.** A [`Watchdog`] reports threads blocked on a threadkit primitive (or an
//!   executor future) longer than a threshold, with what they wait for, which thread holds it,
//!   and the cycle when holders wait on each other ([`Report::StuckThread`]).
//!
//! Reports go to [`tracing`](https://docs.rs/tracing) (target `threadkit::deadlock`, level
//! `ERROR`, `WARN` for stuck threads), to the callback of [`set_report_callback`], and into a
//! list read with [`reports`] / [`take_reports`]. What happens next is the [`Reaction`]: carry
//! on (the default), panic in the reporting thread, or abort the process (for CI:
//! `THREADKIT_DEADLOCK=abort`).
//!
//! # A short tour
//!
//! ```
//! use std::time::Duration;
//! use threadkit::sync::deadlock::{self, Report};
//! use threadkit::sync::Lock;
//!
//! deadlock::set_reaction(deadlock::Reaction::Report);
//! let accounts = Lock::new(0);
//! let audit = Lock::new(Vec::<i32>::new());
//!
//! // One code path takes `accounts` then `audit`...
//! {
//!     let a = accounts.lock();
//!     audit.lock().push(*a);
//! }
//! // ... another takes them the other way round. No deadlock happened (one thread), but two
//! // threads running these paths at once could deadlock: reported now.
//! std::thread::scope(|s| {
//!     s.spawn(|| {
//!         let log = audit.lock();
//!         *accounts.lock() += log.len() as i32;
//!     });
//! });
//! let inversion = deadlock::take_reports().into_iter().find_map(|r| match r {
//!     Report::LockOrderInversion(inv) => Some(inv),
//!     _ => None,
//! });
//! let inversion = inversion.expect("reported");
//! assert!(inversion.involves(accounts.deadlock_resource()));
//! println!("{inversion}");
//! // lock order inversion (a potential deadlock): Lock#2 -> Lock#1 -> Lock#2
//! //   now: thread '<unnamed ThreadId(2)>' acquired Lock#1 at src/main.rs:19:28 while holding Lock#2 (acquired at src/main.rs:18:25)
//! //   earlier: thread 'MainThread' acquired Lock#2 at src/main.rs:12:5 while holding Lock#1 (acquired at src/main.rs:11:22)
//!
//! // A self-deadlock panics with its report instead of hanging.
//! let lock = Lock::new(());
//! lock.acquire();
//! let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lock.acquire()));
//! let message = again.unwrap_err().downcast::<String>().unwrap();
//! assert!(message.starts_with("self-deadlock: thread"));
//! lock.release().unwrap();
//! ```
//!
//! # Costs and limits
//!
//! * Off (the default), none of this is compiled: no field, no branch.
//! * On, an uncontended lock + unlock adds a thread-local access, a few relaxed loads and
//!   stores on the lock's own cache line and a push/pop on the thread's held-lock stack
//!   (`threadkit-bench deadlock_overhead` measures it). The global graph is touched only when
//!   a lock is taken while others are held, and only for edges the thread has not seen yet.
//! * The graph is over lock *instances* (ids assigned on first use, never reused), not classes
//!   of locks as in lockdep: an inversion between two locks created by the same code for
//!   different objects is only seen when it involves the same two locks.
//! * A `Lock` held through `acquire()` and released by another thread (Python allows that) is
//!   tracked as held by its acquirer until then; re-acquiring it meanwhile from the acquiring
//!   thread is reported as a self-deadlock. Use an [`Event`] or a [`Semaphore`] to signal
//!   between threads.
//! * Semaphores, events, barriers and conditions have no owner: they take no part in the order
//!   graph, only in the watchdog's reports (with no holder).
//! * Thread names are threadkit's (`MainThread`, `Thread-1`, builder names) for threads
//!   threadkit knows, else the standard library's name, or `<unnamed ThreadId(n)>`.
//! * Executor futures: a thread blocked in `Future::result` / `wait` / `result_timeout` (and
//!   the other calls built on them) waits for [`ResourceKind::Future`], held by the worker
//!   running the task, so tasks waiting on each other's futures show up as a
//!   [`StuckThread`] whose `cycle` lists them. A future still queued has no holder (a pool
//!   starved by tasks waiting on queued tasks shows as stuck threads with no holder);
//!   `executor::wait` / `as_completed` and scoped futures are not tracked.
//!
//! [`Lock`]: crate::sync::Lock
//! [`RLock`]: crate::sync::RLock
//! [`Event`]: crate::sync::Event
//! [`Semaphore`]: crate::sync::Semaphore

#[cfg(loom)]
compile_error!("the `deadlock-detection` feature is not supported in loom model builds");

mod graph;
mod report;
mod track;
mod watchdog;

pub use report::{
    Holder, LockOrderInversion, OrderEdge, Report, Resource, ResourceKind, SelfDeadlock,
    StuckThread, WaitLink,
};
pub(crate) use track::{acquire, release, restore, waiting, waiting_on, LockMeta, ResourceId};
pub use watchdog::{start_watchdog, Watchdog};

use parking_lot::{Mutex, RwLock};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// What happens after a report has been logged, recorded and passed to the callback.
///
/// Set with [`set_reaction`]; until then it is read once from the environment variable
/// `THREADKIT_DEADLOCK` (`report`, `panic` or `abort`; anything else means `Report`).
///
/// # Examples
///
/// ```
/// use threadkit::sync::deadlock::{self, Reaction};
///
/// deadlock::set_reaction(Reaction::Panic);
/// assert_eq!(deadlock::reaction(), Reaction::Panic);
/// deadlock::set_reaction(Reaction::Report);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reaction {
    /// Carry on (the default). A self-deadlock still panics: waiting would never end.
    Report,
    /// Panic in the thread that made the report, before it blocks: the thread closing a lock
    /// cycle, or the one re-acquiring its own lock. (The watchdog's stuck-thread reports are
    /// only reported: there is no thread of theirs to panic in.) A lock acquisition that
    /// panics has not taken its lock; a [`Condition`](crate::sync::Condition) wait that
    /// panics on its way back has taken its lock again first, blocking for it if another
    /// thread holds it, so that the caller's guard never outlives its lock.
    Panic,
    /// Print the report to stderr and abort the process: for test runs, where any report must
    /// fail the run whichever thread makes it.
    Abort,
}

static REACTION: AtomicU8 = AtomicU8::new(0);

fn encode(r: Reaction) -> u8 {
    match r {
        Reaction::Report => 1,
        Reaction::Panic => 2,
        Reaction::Abort => 3,
    }
}

/// Sets what happens after each report (process-wide).
///
/// # Examples
///
/// See [`Reaction`].
pub fn set_reaction(reaction: Reaction) {
    REACTION.store(encode(reaction), Ordering::Relaxed);
}

/// The current [`Reaction`].
///
/// # Examples
///
/// See [`Reaction`].
pub fn reaction() -> Reaction {
    match REACTION.load(Ordering::Relaxed) {
        1 => Reaction::Report,
        2 => Reaction::Panic,
        3 => Reaction::Abort,
        _ => {
            let r = match std::env::var("THREADKIT_DEADLOCK").as_deref() {
                Ok("panic") => Reaction::Panic,
                Ok("abort") => Reaction::Abort,
                _ => Reaction::Report,
            };
            let _ = REACTION.compare_exchange(0, encode(r), Ordering::Relaxed, Ordering::Relaxed);
            reaction()
        }
    }
}

type Callback = Arc<dyn Fn(&Report) + Send + Sync>;

static CALLBACK: RwLock<Option<Callback>> = RwLock::new(None);

/// How many reports [`reports`] keeps (the oldest go first).
pub const KEPT_REPORTS: usize = 1024;

static REPORTS: Mutex<VecDeque<Report>> = Mutex::new(VecDeque::new());

/// Calls `callback` with every report from now on (replacing any previous callback), in the
/// thread that makes the report (the watchdog's thread for stuck threads), before the
/// [`Reaction`].
///
/// The callback may use threadkit's locks. A panic in it unwinds the reporting thread, as
/// [`Reaction::Panic`] does: from a lock acquisition, before the lock is taken (no guard is
/// made); from a [`Condition`](crate::sync::Condition)'s wait, only once the wait's lock is
/// held again (as Python's `Condition.wait` restores it in a `finally`), so the caller's guard
/// stays sound. In the [`Watchdog`]'s thread the panic is caught and printed to stderr, and
/// the watchdog keeps watching.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use threadkit::sync::{deadlock, Lock};
///
/// deadlock::set_reaction(deadlock::Reaction::Report);
/// let seen = Arc::new(AtomicUsize::new(0));
/// let counter = Arc::clone(&seen);
/// deadlock::set_report_callback(move |report| {
///     eprintln!("{report}");
///     counter.fetch_add(1, Ordering::SeqCst);
/// });
/// let (a, b) = (Lock::new(()), Lock::new(()));
/// drop((a.lock(), b.lock()));
/// drop((b.lock(), a.lock()));
/// assert_eq!(seen.load(Ordering::SeqCst), 1);
/// deadlock::clear_report_callback();
/// ```
pub fn set_report_callback(callback: impl Fn(&Report) + Send + Sync + 'static) {
    *CALLBACK.write() = Some(Arc::new(callback));
}

/// Removes the callback of [`set_report_callback`].
///
/// # Examples
///
/// ```
/// threadkit::sync::deadlock::clear_report_callback();
/// ```
pub fn clear_report_callback() {
    *CALLBACK.write() = None;
}

/// The reports made so far (the last [`KEPT_REPORTS`]), oldest first.
///
/// # Examples
///
/// ```
/// use threadkit::sync::deadlock;
///
/// // No lock was misused in this program.
/// assert!(deadlock::reports().is_empty());
/// ```
pub fn reports() -> Vec<Report> {
    REPORTS.lock().iter().cloned().collect()
}

/// Like [`reports`], and forgets them.
///
/// # Examples
///
/// ```
/// use threadkit::sync::deadlock;
///
/// let _ = deadlock::take_reports();
/// assert!(deadlock::reports().is_empty());
/// ```
pub fn take_reports() -> Vec<Report> {
    REPORTS.lock().drain(..).collect()
}

/// Logs, records and calls back with `report`, then applies the reaction.
fn dispatch(report: Report) {
    if let Report::StuckThread(_) = report {
        tracing::warn!(target: "threadkit::deadlock", "{report}");
    } else {
        tracing::error!(target: "threadkit::deadlock", "{report}");
    }
    {
        let mut kept = REPORTS.lock();
        if kept.len() == KEPT_REPORTS {
            kept.pop_front();
        }
        kept.push_back(report.clone());
    }
    let callback = CALLBACK.read().clone();
    if let Some(cb) = callback {
        cb(&report);
    }
    match reaction() {
        Reaction::Abort => {
            eprintln!("threadkit: deadlock detector report, aborting (Reaction::Abort):\n{report}");
            std::process::abort();
        }
        Reaction::Panic if !matches!(report, Report::StuckThread(_)) => panic!("{report}"),
        _ => {}
    }
}
