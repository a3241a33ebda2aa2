//! `threading.Semaphore` and `threading.BoundedSemaphore`, with an RAII [`Permit`].

use super::park::{Lot, Parked};
use crate::primitive::atomic::{AtomicUsize, Ordering};
use crate::time::{deadline_after, TimeoutOverflow};
use std::fmt;
use std::time::{Duration, Instant};

/// The largest value a semaphore can hold: `isize::MAX / 2` (over 4.6 * 10^18).
///
/// The value shares its word with a flag bit and an offset (acquirers of a `Semaphore`
/// subtract first and give back a unit that was not there, so the word goes below zero for an
/// instant), and `release()` adds without looking first; the headroom above this value absorbs
/// the units that concurrent releases add for an instant before they find the value too high
/// and take them back.
///
/// # Examples
///
/// ```
/// use threadkit::sync::{Semaphore, SemaphoreReleaseError, SEMAPHORE_VALUE_MAX};
///
/// let sem = Semaphore::new(SEMAPHORE_VALUE_MAX - 1);
/// sem.release();
/// assert_eq!(sem.release_n(1), Err(SemaphoreReleaseError::Overflow));
/// assert_eq!(sem.value(), SEMAPHORE_VALUE_MAX);
/// ```
pub const SEMAPHORE_VALUE_MAX: usize = (isize::MAX / 2) as usize;

/// The `state` bit saying threads may be parked on the word (set and cleared only under the
/// parking lot's queue lock, see [`Core`]).
const PARKED: usize = 1;
/// One unit in `state`.
const ONE: usize = 2;
/// The offset of the value in `state`: room below zero for the units that acquirers subtract
/// for an instant before giving back the ones that were not there (one per acquiring thread at
/// most), and as much again above [`SEMAPHORE_VALUE_MAX`] for releases over it. The word is
/// `(value + BIAS) << 1 | PARKED`: `value` runs from `-BIAS` to `3 * BIAS - 1`.
const BIAS: usize = SEMAPHORE_VALUE_MAX / 2 + 1;
/// `state` (without `PARKED`) at value zero.
const ZERO: usize = BIAS << 1;

/// The shared core: one word that is the whole truth about the value, and parking
/// (parking_lot_core's, keyed on the word's address: `sync/park.rs`) for those who wait.
///
/// * `state = (value + BIAS) << 1 | PARKED`. Units are taken by subtracting from the word and
///   given back by adding to it; nothing else counts units, so none can be lost or made up
///   between the two. A `Semaphore`'s blocking acquire subtracts first (one `fetch_sub`, never
///   retried: the hot path) and, if the value was not positive, adds the unit back as a release
///   would (waking a parked thread if the word says so) before going on. Every other take is a
///   compare-and-swap while the value is positive: `try_acquire` (which must not wake anyone)
///   and every take of a `BoundedSemaphore`, whose bound check must see the true value (a unit
///   subtracted for an instant would let a release go over the bound).
/// * An acquirer that finds the value at zero spins a little (parking_lot's `SpinWait`: 3
///   rounds of 2, 4 and 8 pauses, then yields) unless threads are parked already, trying to
///   take a unit each round; then it parks. Under the queue's lock `validate` sets `PARKED` if
///   the value is still not positive (zero, or below for the instant of a subtraction given
///   back), else the thread does not sleep and tries again.
/// * A release that finds `PARKED` in the word it changed wakes up to `n` parked threads; the
///   callback (under the queue's lock) clears `PARKED` when none are left. Setting and clearing
///   the bit happen under that lock and the release's read of it is the same read-modify-write
///   that added the unit, so a release either sees a parker's bit (and wakes it, or another)
///   or its unit is there for the parker's `validate` to see: no wake-up is lost.
/// * A woken thread tries again from the top. A running thread may take the unit first
///   ("barging"): the woken one then parks again. Python promises no wake-up order ("the
///   order in which threads are awoken should not be relied on"); letting a running thread
///   take a free unit keeps the units in use instead of idle while a sleeper wakes up.
/// * A timed wait that expires is dequeued under the lock (`timed_out` clears `PARKED` if it
///   was the last), then tries once more to take a unit, as Python looks at the value once
///   more after its wait times out.
///
/// Cache-line aligned: the word is hammered by every thread and must not share a line with
/// neighbouring data nor straddle two lines.
#[derive(Debug)]
#[repr(align(64))]
struct Core {
    /// `(value + BIAS) << 1 | PARKED`.
    state: AtomicUsize,
    /// Where waiters sleep (empty outside loom models).
    lot: Lot,
    bound: Option<usize>,
    #[cfg(feature = "deadlock-detection")]
    id: super::deadlock::ResourceId,
}

impl Core {
    /// # Panics
    ///
    /// When `value` is over [`SEMAPHORE_VALUE_MAX`].
    fn new(value: usize, bound: Option<usize>) -> Self {
        assert!(
            value <= SEMAPHORE_VALUE_MAX,
            "semaphore value {value} is over SEMAPHORE_VALUE_MAX ({SEMAPHORE_VALUE_MAX})"
        );
        Core {
            state: AtomicUsize::new((value + BIAS) << 1),
            lot: Lot::new(),
            bound,
            #[cfg(feature = "deadlock-detection")]
            id: super::deadlock::ResourceId::new(),
        }
    }

    /// The parking key: the word's address.
    fn key(&self) -> usize {
        std::ptr::from_ref(&self.state) as usize
    }

    /// Takes a free unit if there is one.
    #[inline]
    fn try_take(&self) -> bool {
        let mut cur = self.state.load(Ordering::Relaxed);
        while cur >= ZERO + ONE {
            match self.state.compare_exchange_weak(
                cur,
                cur - ONE,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
        false
    }

    /// The one acquire path.
    #[inline]
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    fn acquire(&self, deadline: Option<Instant>, block: bool) -> bool {
        if !block {
            return self.try_take();
        }
        if self.bound.is_none() {
            if self.state.fetch_sub(ONE, Ordering::Acquire) >= ZERO + ONE {
                return true;
            }
            // No unit was there: give back the one subtracted, as a release would.
            self.add_one_back();
        } else if self.try_take() {
            return true;
        }
        self.acquire_slow(deadline)
    }

    /// No unit was free: spin, then park until one is taken or `deadline` passes.
    #[cold]
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    fn acquire_slow(&self, deadline: Option<Instant>) -> bool {
        #[cfg(feature = "deadlock-detection")]
        let mut waiting = None;
        let mut spins = 0u32;
        loop {
            if self.try_take() {
                return true;
            }
            if spins < SPIN_ROUNDS && self.state.load(Ordering::Relaxed) & PARKED == 0 {
                spins += 1;
                spin(spins);
                continue;
            }
            #[cfg(feature = "deadlock-detection")]
            if waiting.is_none() {
                // Not in a closure: `waiting` names the caller's line (`track_caller`).
                waiting = Some(super::deadlock::waiting(super::deadlock::Resource {
                    kind: super::deadlock::ResourceKind::Semaphore,
                    id: self.id.get(),
                }));
            }
            let parked = self.lot.park(
                self.key(),
                || self.mark_parked(),
                |was_last| {
                    if was_last {
                        self.state.fetch_and(!PARKED, Ordering::Relaxed);
                    }
                },
                deadline,
            );
            match parked {
                Parked::Unparked => spins = 0,
                Parked::Invalid => {}
                Parked::TimedOut => return self.try_take(),
            }
        }
    }

    /// `validate` of a park (under the queue's lock): true, with `PARKED` set, while no unit
    /// is free; false (do not sleep) when one is.
    fn mark_parked(&self) -> bool {
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            if cur >= ZERO + ONE {
                return false;
            }
            if cur & PARKED != 0 {
                return true;
            }
            match self.state.compare_exchange_weak(
                cur,
                cur | PARKED,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// The one release path.
    #[inline]
    fn release(&self, n: usize) -> Result<(), SemaphoreReleaseError> {
        let old = if n == 1 && self.bound.is_none() {
            let old = self.state.fetch_add(ONE, Ordering::Release);
            if old >> 1 >= BIAS + SEMAPHORE_VALUE_MAX {
                // Over the maximum: take the unit back (the headroom above the maximum keeps
                // the word from wrapping meanwhile).
                self.state.fetch_sub(ONE, Ordering::Relaxed);
                return Err(SemaphoreReleaseError::Overflow);
            }
            old
        } else {
            self.add_checked(n)?
        };
        if old & PARKED != 0 {
            self.wake(n);
        }
        Ok(())
    }

    /// Adds `n` units after checking them against the bound and the maximum; the old word.
    fn add_checked(&self, n: usize) -> Result<usize, SemaphoreReleaseError> {
        if n == 0 {
            return Err(SemaphoreReleaseError::Zero);
        }
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            // The value Python would see: not below zero.
            let new_value = (cur >> 1)
                .saturating_sub(BIAS)
                .checked_add(n)
                .filter(|&v| v <= SEMAPHORE_VALUE_MAX)
                .ok_or(SemaphoreReleaseError::Overflow)?;
            if self.bound.is_some_and(|bound| new_value > bound) {
                return Err(SemaphoreReleaseError::TooMany);
            }
            // No overflow: the new value is at most `new_value`, and `BIAS + SEMAPHORE_VALUE_MAX`
            // is below `usize::MAX / 2`; the units subtracted for an instant and given back
            // later take it over the maximum by one per acquiring thread at most.
            let new = cur + (n << 1);
            match self
                .state
                .compare_exchange_weak(cur, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return Ok(cur),
                Err(now) => cur = now,
            }
        }
    }

    /// Gives back a unit subtracted by an acquire that found none, waking a parked thread if
    /// the word says so (a release may have added its unit in between and seen the value at
    /// zero: this addition is the one that makes it visible).
    #[cold]
    fn add_one_back(&self) {
        if self.state.fetch_add(ONE, Ordering::Release) & PARKED != 0 {
            self.wake(1);
        }
    }

    /// Wakes up to `n` parked threads (a release found `PARKED`).
    #[cold]
    fn wake(&self, n: usize) {
        self.lot.unpark_some(self.key(), n, |r| {
            if !r.have_more {
                self.state.fetch_and(!PARKED, Ordering::Relaxed);
            }
        });
    }

    fn value(&self) -> usize {
        (self.state.load(Ordering::Acquire) >> 1).saturating_sub(BIAS)
    }
}

/// Rounds of [`spin`] before parking.
const SPIN_ROUNDS: u32 = if cfg!(loom) { 0 } else { 10 };

/// Round `round` (1-based) of parking_lot's `SpinWait`: 2, 4 and 8 pauses, then `yield_now`s.
fn spin(round: u32) {
    if round <= 3 {
        for _ in 0..(1u32 << round) {
            std::hint::spin_loop();
        }
    } else {
        std::thread::yield_now();
    }
}

/// Error of a semaphore's `release`.
///
/// # Examples
///
/// ```
/// use threadkit::sync::{BoundedSemaphore, SemaphoreReleaseError};
///
/// let sem = BoundedSemaphore::new(1);
/// assert_eq!(sem.release(), Err(SemaphoreReleaseError::TooMany));
/// assert_eq!(sem.release_n(0), Err(SemaphoreReleaseError::Zero));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SemaphoreReleaseError {
    /// `release_n(0)`: Python raises `ValueError("n must be one or more")`.
    Zero,
    /// A [`BoundedSemaphore`] would exceed its initial value ("Semaphore released too many
    /// times", Python's `ValueError`). The value is unchanged.
    TooMany,
    /// The value would go over [`SEMAPHORE_VALUE_MAX`]. The value is unchanged.
    Overflow,
}

impl fmt::Display for SemaphoreReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SemaphoreReleaseError::Zero => "n must be one or more",
            SemaphoreReleaseError::TooMany => "Semaphore released too many times",
            SemaphoreReleaseError::Overflow => "semaphore value would go over SEMAPHORE_VALUE_MAX",
        })
    }
}

impl std::error::Error for SemaphoreReleaseError {}

/// A counting semaphore: Python's `threading.Semaphore`.
///
/// [`acquire`](Self::acquire) takes one unit, waiting while the value is zero;
/// [`release`](Self::release) gives one back (or creates one: an unbounded semaphore may be
/// released beyond its initial value, as in Python). [`acquire_permit`](Self::acquire_permit)
/// returns a [`Permit`] that releases when dropped (Python's `with sem:`).
///
/// # Examples
///
/// Guarding two resources among five workers (seed 001):
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use threadkit::sync::Semaphore;
///
/// let sem = Semaphore::new(2);
/// let busy = AtomicUsize::new(0);
/// std::thread::scope(|s| {
///     for _ in 0..5 {
///         s.spawn(|| {
///             let _permit = sem.acquire_permit();
///             assert!(busy.fetch_add(1, Ordering::SeqCst) < 2);
///             busy.fetch_sub(1, Ordering::SeqCst);
///         });
///     }
/// });
/// assert_eq!(sem.value(), 2);
/// ```
#[derive(Debug)]
pub struct Semaphore {
    core: Core,
}

/// A semaphore that refuses to be released beyond its initial value: Python's
/// `threading.BoundedSemaphore`.
///
/// # Examples
///
/// ```
/// let sem = threadkit::sync::BoundedSemaphore::new(1);
/// sem.acquire();
/// sem.release().unwrap();
/// assert_eq!(sem.release().unwrap_err().to_string(), "Semaphore released too many times");
/// ```
#[derive(Debug)]
pub struct BoundedSemaphore {
    core: Core,
}

/// One unit taken from a [`Semaphore`] or [`BoundedSemaphore`]; released when dropped.
///
/// # Examples
///
/// ```
/// let sem = threadkit::sync::Semaphore::new(1);
/// {
///     let _p = sem.acquire_permit();
///     assert_eq!(sem.value(), 0);
/// }
/// assert_eq!(sem.value(), 1);
/// ```
#[must_use = "if unused the permit is released at once"]
pub struct Permit<'a> {
    core: &'a Core,
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

impl Permit<'_> {
    /// Releases the unit now, reporting the error that dropping would panic with.
    ///
    /// # Errors
    ///
    /// [`SemaphoreReleaseError::TooMany`] when a [`BoundedSemaphore`] is already at its
    /// initial value (someone released units they did not take).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = threadkit::sync::BoundedSemaphore::new(1);
    /// let p = sem.acquire_permit();
    /// sem.release().unwrap(); // a stray release...
    /// assert!(p.release().is_err()); // ...leaves no room for the permit's own
    /// ```
    pub fn release(self) -> Result<(), SemaphoreReleaseError> {
        let core = self.core;
        std::mem::forget(self);
        core.release(1)
    }

    /// Keeps the unit taken for good: the semaphore's value stays one lower.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = threadkit::sync::Semaphore::new(1);
    /// sem.acquire_permit().forget();
    /// assert_eq!(sem.value(), 0);
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for Permit<'_> {
    /// # Panics
    ///
    /// When giving the unit back fails (a [`BoundedSemaphore`] already at its initial value
    /// because of stray releases), unless the thread is already panicking. Use
    /// [`Permit::release`] to handle that case as a value.
    #[inline]
    fn drop(&mut self) {
        if let Err(e) = self.core.release(1) {
            if !std::thread::panicking() {
                panic!("dropping a semaphore Permit: {e}");
            }
        }
    }
}

macro_rules! semaphore_methods {
    ($ty:ident) => {
        impl $ty {
            /// Takes one unit, waiting while none is available (Python: `acquire()`).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let sem = threadkit::sync::", stringify!($ty), "::new(1);")]
            /// sem.acquire();
            /// assert_eq!(sem.value(), 0);
            /// ```
            #[inline]
            #[cfg_attr(feature = "deadlock-detection", track_caller)]
            pub fn acquire(&self) {
                self.core.acquire(None, true);
            }

            /// Takes one unit if one is available now (Python: `acquire(blocking=False)`).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let sem = threadkit::sync::", stringify!($ty), "::new(1);")]
            /// assert!(sem.try_acquire());
            /// assert!(!sem.try_acquire());
            /// ```
            #[inline]
            #[cfg_attr(feature = "deadlock-detection", track_caller)]
            pub fn try_acquire(&self) -> bool {
                self.core.acquire(None, false)
            }

            /// Takes one unit, waiting at most `timeout`; `Ok(false)` when it timed out
            /// (Python: `acquire(timeout=...)`).
            ///
            /// # Errors
            ///
            /// [`TimeoutOverflow`] when `timeout` does not fit in an [`Instant`].
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("let sem = threadkit::sync::", stringify!($ty), "::new(0);")]
            /// assert_eq!(sem.acquire_timeout(Duration::from_millis(10)), Ok(false));
            /// assert!(sem.acquire_timeout(Duration::MAX).is_err());
            /// ```
            #[cfg_attr(feature = "deadlock-detection", track_caller)]
            pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool, TimeoutOverflow> {
                Ok(self.acquire_until(deadline_after(timeout)?))
            }

            /// Takes one unit, waiting until `deadline` at most; false when it passed.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::{Duration, Instant};
            #[doc = concat!("let sem = threadkit::sync::", stringify!($ty), "::new(1);")]
            /// assert!(sem.acquire_until(Instant::now() + Duration::from_millis(10)));
            /// ```
            #[cfg_attr(feature = "deadlock-detection", track_caller)]
            pub fn acquire_until(&self, deadline: Instant) -> bool {
                self.core.acquire(Some(deadline), true)
            }

            /// Like [`acquire`](Self::acquire), returning a [`Permit`] that releases on drop.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let sem = threadkit::sync::", stringify!($ty), "::new(1);")]
            /// let p = sem.acquire_permit();
            /// assert!(!sem.try_acquire());
            /// drop(p);
            /// assert!(sem.try_acquire());
            /// ```
            #[inline]
            #[cfg_attr(feature = "deadlock-detection", track_caller)]
            pub fn acquire_permit(&self) -> Permit<'_> {
                self.acquire();
                Permit { core: &self.core }
            }

            /// Like [`try_acquire`](Self::try_acquire), returning a [`Permit`].
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let sem = threadkit::sync::", stringify!($ty), "::new(1);")]
            /// let p = sem.try_acquire_permit().unwrap();
            /// assert!(sem.try_acquire_permit().is_none());
            /// # drop(p);
            /// ```
            #[cfg_attr(feature = "deadlock-detection", track_caller)]
            pub fn try_acquire_permit(&self) -> Option<Permit<'_>> {
                self.try_acquire().then(|| Permit { core: &self.core })
            }

            /// Like [`acquire_timeout`](Self::acquire_timeout), returning a [`Permit`].
            ///
            /// # Errors
            ///
            /// [`TimeoutOverflow`] when `timeout` does not fit in an [`Instant`].
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("let sem = threadkit::sync::", stringify!($ty), "::new(0);")]
            /// assert!(sem.acquire_permit_timeout(Duration::from_millis(10)).unwrap().is_none());
            /// ```
            #[cfg_attr(feature = "deadlock-detection", track_caller)]
            pub fn acquire_permit_timeout(
                &self,
                timeout: Duration,
            ) -> Result<Option<Permit<'_>>, TimeoutOverflow> {
                Ok(self
                    .acquire_timeout(timeout)?
                    .then(|| Permit { core: &self.core }))
            }

            /// The number of units available right now (Python's private `_value`); a snapshot.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let sem = threadkit::sync::", stringify!($ty), "::new(3);")]
            /// assert_eq!(sem.value(), 3);
            /// ```
            pub fn value(&self) -> usize {
                self.core.value()
            }

            /// The deadlock detector's name for this semaphore, as it appears in
            /// [reports](crate::sync::deadlock::Report) (feature `deadlock-detection`).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let x = threadkit::sync::", stringify!($ty), "::new(1);")]
            /// assert_eq!(x.deadlock_resource().kind, threadkit::sync::deadlock::ResourceKind::Semaphore);
            /// ```
            #[cfg(feature = "deadlock-detection")]
            pub fn deadlock_resource(&self) -> super::deadlock::Resource {
                super::deadlock::Resource {
                    kind: super::deadlock::ResourceKind::Semaphore,
                    id: self.core.id.get(),
                }
            }
        }
    };
}

semaphore_methods!(Semaphore);
semaphore_methods!(BoundedSemaphore);

impl Semaphore {
    /// A semaphore with `value` units (Python: `Semaphore(value)`; a negative value, which
    /// Python rejects at run time, cannot be written).
    ///
    /// # Panics
    ///
    /// When `value` is over [`SEMAPHORE_VALUE_MAX`].
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = threadkit::sync::Semaphore::new(2);
    /// assert_eq!(sem.value(), 2);
    /// ```
    pub fn new(value: usize) -> Self {
        Semaphore {
            core: Core::new(value, None),
        }
    }

    /// Gives one unit back, waking one waiter (Python: `release()`).
    ///
    /// # Panics
    ///
    /// When the value would go over [`SEMAPHORE_VALUE_MAX`] (use
    /// [`release_n`](Self::release_n) to get that as an `Err`).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = threadkit::sync::Semaphore::new(0);
    /// sem.release();
    /// assert!(sem.try_acquire());
    /// ```
    #[inline]
    pub fn release(&self) {
        if let Err(e) = self.core.release(1) {
            panic!("Semaphore::release: {e}");
        }
    }

    /// Gives `n` units back, waking up to `n` waiters (Python: `release(n)`).
    ///
    /// # Errors
    ///
    /// [`SemaphoreReleaseError::Zero`] for `n == 0`, [`SemaphoreReleaseError::Overflow`] when
    /// the value would go over [`SEMAPHORE_VALUE_MAX`].
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = threadkit::sync::Semaphore::new(0);
    /// sem.release_n(3).unwrap();
    /// assert_eq!(sem.value(), 3);
    /// ```
    pub fn release_n(&self, n: usize) -> Result<(), SemaphoreReleaseError> {
        self.core.release(n)
    }
}

impl Default for Semaphore {
    /// Python's default: one unit.
    fn default() -> Self {
        Semaphore::new(1)
    }
}

impl BoundedSemaphore {
    /// A bounded semaphore with `value` units, which is also its bound (Python:
    /// `BoundedSemaphore(value)`).
    ///
    /// # Panics
    ///
    /// When `value` is over [`SEMAPHORE_VALUE_MAX`].
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = threadkit::sync::BoundedSemaphore::new(2);
    /// assert_eq!(sem.value(), 2);
    /// ```
    pub fn new(value: usize) -> Self {
        BoundedSemaphore {
            core: Core::new(value, Some(value)),
        }
    }

    /// Gives one unit back, waking one waiter (Python: `release()`).
    ///
    /// # Errors
    ///
    /// [`SemaphoreReleaseError::TooMany`] when the value is already at its initial value.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = threadkit::sync::BoundedSemaphore::new(1);
    /// assert!(sem.release().is_err());
    /// sem.acquire();
    /// assert!(sem.release().is_ok());
    /// ```
    #[inline]
    pub fn release(&self) -> Result<(), SemaphoreReleaseError> {
        self.core.release(1)
    }

    /// Gives `n` units back (Python: `release(n)`); all or nothing.
    ///
    /// # Errors
    ///
    /// [`SemaphoreReleaseError::Zero`] for `n == 0`, [`SemaphoreReleaseError::TooMany`] when
    /// the value would exceed its initial value (the value is then unchanged).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = threadkit::sync::BoundedSemaphore::new(2);
    /// sem.acquire();
    /// assert!(sem.release_n(2).is_err());
    /// assert!(sem.release_n(1).is_ok());
    /// ```
    pub fn release_n(&self, n: usize) -> Result<(), SemaphoreReleaseError> {
        self.core.release(n)
    }
}

impl Default for BoundedSemaphore {
    /// Python's default: one unit.
    fn default() -> Self {
        BoundedSemaphore::new(1)
    }
}
