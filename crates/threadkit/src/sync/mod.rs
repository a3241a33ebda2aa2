//! Synchronization primitives with Python's semantics: [`Lock`], [`RLock`], [`Condition`],
//! [`Semaphore`], [`BoundedSemaphore`], [`Event`], [`Barrier`] and [`Timer`].
//!
//! Python's `threading` names, Rust's habits: locks carry the data they protect and hand out
//! guards (Python's `with lock:`), every timed operation has a `*_timeout(Duration)` and a
//! `*_until(Instant)` form, and every misuse Python reports with an exception is a typed `Err`
//! here, with Python's message: releasing an unheld lock, releasing an `RLock` one is not the
//! owner of, notifying a condition without its lock, releasing a bounded semaphore too often,
//! a barrier with zero parties, a timeout that overflows the clock. Nothing is undefined
//! behaviour and nothing silently does nothing.
//!
//! # A short tour
//!
//! ## Locks: the fix for a race
//!
//! ```
//! use threadkit::sync::Lock;
//!
//! // Python: `self.lock = threading.Lock()` next to `self.value`; here the lock owns the value.
//! let database = Lock::new(0);
//! std::thread::scope(|s| {
//!     for _ in 0..2 {
//!         s.spawn(|| {
//!             let mut value = database.lock(); // `with self._lock:`
//!             let local_copy = *value + 1;
//!             *value = local_copy;
//!         });
//!     }
//! });
//! assert_eq!(*database.lock(), 2);
//! ```
//!
//! Python's explicit style works too, soundly: [`Lock::acquire`] holds the lock with no guard,
//! [`Lock::release`] gives it back (from any thread), and a second `release` is
//! `Err("release unlocked lock")`:
//!
//! ```
//! use std::time::Duration;
//! use threadkit::sync::Lock;
//!
//! let lock = Lock::new(());
//! lock.acquire();
//! // A second acquire would deadlock; with a timeout it gives up (seed 000).
//! assert_eq!(lock.acquire_timeout(Duration::from_millis(50)), Ok(false));
//! lock.release().unwrap();
//! assert_eq!(lock.release().unwrap_err().to_string(), "release unlocked lock");
//! ```
//!
//! [`RLock`] may be taken again by its owner; only the owner may release it:
//!
//! ```
//! use threadkit::sync::RLock;
//!
//! let lock = RLock::new(());
//! lock.acquire();
//! lock.acquire(); // no deadlock
//! lock.release().unwrap();
//! lock.release().unwrap();
//! assert_eq!(lock.release().unwrap_err().to_string(), "cannot release un-acquired lock");
//! ```
//!
//! ## Waiting for something: Condition, Event, Semaphore, Barrier
//!
//! ```
//! use std::time::Duration;
//! use threadkit::sync::{Barrier, Condition, Event, Lock, Semaphore};
//!
//! // A condition over a Lock holding a queue of jobs.
//! let jobs = Condition::with_lock(Lock::new(Vec::new()));
//! // An event to say "stop", a semaphore admitting two workers at a time, a barrier for three.
//! let stop = Event::new();
//! let slots = Semaphore::new(2);
//! let start = Barrier::new(3).unwrap();
//! std::thread::scope(|s| {
//!     for _ in 0..2 {
//!         s.spawn(|| {
//!             start.wait().unwrap();
//!             let _slot = slots.acquire_permit();
//!             let mut q = jobs.lock();
//!             let got = jobs
//!                 .wait_for_timeout(&mut q, Duration::from_secs(10), |q| !q.is_empty())
//!                 .unwrap();
//!             assert!(got);
//!             q.pop();
//!         });
//!     }
//!     start.wait().unwrap();
//!     let mut q = jobs.lock();
//!     q.extend([1, 2]);
//!     jobs.notify_all().unwrap();
//!     drop(q);
//!     stop.set();
//! });
//! assert!(jobs.lock().is_empty());
//! ```
//!
//! ## Timers
//!
//! [`Timer`] runs a closure on its own named thread after a delay, unless cancelled first;
//! [`Timer::repeating`] runs it every interval until cancelled.
//!
//! # Design notes
//!
//! * **Raw state apart from the safe wrapper** (DESIGN.md convention 1). `Lock` and `RLock` are
//!   a raw lock (state and the unsafe unlock, in `raw.rs`) plus an `UnsafeCell<T>`, as lock_api's
//!   `RawMutex` + `Mutex<R, T>`. The raw mutex is, on Linux, a futex word of our own (std's
//!   shape: 0/1/2, unlock by one swap; no owner), parking_lot's elsewhere, and a loom model
//!   under `--cfg loom` so `tests/loom_sync.rs` checks the logic above it. Neither is fair: a
//!   thread that unlocks and locks again at once may keep the lock (parking_lot, off Linux,
//!   hands it to a sleeper every 0.5 ms; the futex word never does, as std's `Mutex`).
//! * **Sound `release()`.** A `Lock` is held either by a guard or "detached" (by
//!   [`Lock::acquire`]). `acquire` sets an atomic *detached* flag after locking; `release`
//!   clears it with a compare-exchange and only the winner unlocks. So two racing `release`
//!   calls never both unlock, and `release` can never unlock a lock a guard holds (the flag is
//!   clear then): both are `Err(ReleaseError)`. Unlocking from another thread than the locker
//!   is fine for both raw mutexes, which record no owner.
//! * **`RLock`** keeps its owner's thread token, a recursion count, and how many levels were
//!   taken by `acquire` (only those can be `release`d; guards give theirs back on drop).
//! * **`Condition`** keeps its own FIFO queue of waiters (each a flag and a condition variable,
//!   as Python's deque of per-waiter locks), so it can give an `RLock` back entirely while
//!   waiting and restore its count afterwards (Python's `_release_save` /
//!   `_acquire_restore`), which parking_lot's `Condvar` cannot (parking_lot#452). A waiter
//!   that times out while being notified reports the notification, so none is lost.
//! * **One acquire path and one release path per lock type** (`RawLock::acquire` /
//!   `RawLock::unlock`, the same on `RawRLock`), with `#[track_caller]` on the public entry
//!   points, for the deadlock detector (feature `deadlock-detection`) to hook.
//! * **`Event`** counts generations: a `set()` immediately followed by `clear()` still wakes
//!   every thread that was waiting.
//! * **`Barrier`** releases a generation by bumping a counter (no draining phase, so the last
//!   thread can arrive again at once), and keeps Python's broken / resetting states. Its action
//!   runs outside the internal mutex, on the last thread to arrive.

mod barrier;
mod condition;
#[cfg(feature = "deadlock-detection")]
pub mod deadlock;
mod event;
mod lock;
mod park;
mod raw;
mod rlock;
mod semaphore;
mod timer;

pub use barrier::{Barrier, BarrierBuildError, BarrierBuilder, BarrierWaitError};
#[cfg(loom)]
#[doc(hidden)]
pub use condition::loom_panic_after_next_wake;
pub use condition::{Condition, ConditionLock, NotifyError, WaitError, WaitTimeoutError};
pub use event::Event;
pub use lock::{Lock, LockGuard, ReleaseError};
pub use rlock::{RLock, RLockGuard, RLockReleaseError};
pub use semaphore::{
    BoundedSemaphore, Permit, Semaphore, SemaphoreReleaseError, SEMAPHORE_VALUE_MAX,
};
pub use timer::{Timer, TimerBuilder, TimerError};
