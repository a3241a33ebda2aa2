//! `threading.Semaphore` and `threading.BoundedSemaphore`, with an RAII [`Permit`].

use crate::primitive::atomic::{AtomicIsize, Ordering};
use crate::primitive::{Condvar, Mutex};
use crate::time::{deadline_after, TimeoutOverflow};
use std::fmt;
use std::time::{Duration, Instant};

/// The largest value a semaphore can hold: `isize::MAX / 2` (over 4.6 * 10^18).
///
/// The count shares its word with the number of blocked acquirers (as a negative count), and
/// `release()` adds without looking first; the headroom above this value absorbs the units
/// that concurrent releases add for an instant before they find the value too high and take
/// them back.
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

/// The shared core: a count of units that goes below zero by one per blocked acquirer (a
/// "benaphore"), and a mutex + condvar that only blocked acquirers and the releases that wake
/// them touch.
///
/// * `count > 0`: that many units are free and nobody waits. `count <= 0`: no unit is free
///   and `-count` acquirers are waiting for one nobody has handed them yet.
/// * `acquire` is one `fetch_sub`: the old count was positive, it took a unit; otherwise it
///   has registered as a waiter by that same decrement and sleeps until `tokens` (under the
///   mutex) holds a unit for it.
/// * `release` is one `fetch_add` (a compare-and-swap loop for a bounded semaphore or
///   `release_n`, which must check the value first): when the old count was negative, up to
///   `n` of those units go to waiters: the releaser adds them to `tokens` under the mutex and
///   notifies as many. A unit handed over is never taken by a late-comer: the late-comer's
///   decrement finds the count at or below zero and it waits its turn.
/// * A waiter that times out (with the mutex held) takes a token if one is there; otherwise
///   it withdraws its registration by raising the count, but only while the count is still
///   negative (some registration has no unit yet). When the count is no longer negative, a
///   release has already counted a unit for every registered waiter, this one included, and
///   is about to post it: the waiter stays ("late") until a token is there (it returns with
///   the unit, late by the releaser's few instructions) or the count is negative again. The
///   latter happens when an acquirer that came after took the token: its own decrement made
///   the count negative, and a token taken while a waiter is late wakes every waiter, so the
///   late one looks again and withdraws. No unit is lost and no timed wait outlasts its
///   deadline by more than a release in progress.
///
/// Cache-line aligned: the count is hammered by every thread and must not share a line with
/// neighbouring data nor straddle two lines.
#[derive(Debug)]
#[repr(align(64))]
struct Core {
    /// Free units, or minus the waiters not yet handed one.
    count: AtomicIsize,
    /// Units handed to waiters and not yet taken, and the late waiters.
    waiting: Mutex<Waiting>,
    cv: Condvar,
    bound: Option<usize>,
    #[cfg(feature = "deadlock-detection")]
    id: super::deadlock::ResourceId,
}

/// What the semaphore's mutex guards.
#[derive(Debug)]
struct Waiting {
    /// Units handed to waiters and not yet taken.
    tokens: usize,
    /// Timed-out waiters that could not withdraw: a unit is on its way to them (see [`Core`]).
    late: usize,
}

/// [`SEMAPHORE_VALUE_MAX`] as the count's type.
const MAX: isize = SEMAPHORE_VALUE_MAX as isize;

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
            count: AtomicIsize::new(value as isize),
            waiting: Mutex::new(Waiting { tokens: 0, late: 0 }),
            cv: Condvar::new(),
            bound,
            #[cfg(feature = "deadlock-detection")]
            id: super::deadlock::ResourceId::new(),
        }
    }

    /// Takes a free unit if there is one, without registering as a waiter.
    fn try_take(&self) -> bool {
        let mut cur = self.count.load(Ordering::Relaxed);
        while cur > 0 {
            match self.count.compare_exchange_weak(
                cur,
                cur - 1,
                Ordering::AcqRel,
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
        if self.count.fetch_sub(1, Ordering::AcqRel) > 0 {
            return true;
        }
        self.wait_for_token(deadline)
    }

    /// A registered waiter (its decrement found no free unit) waits for a token, or until
    /// `deadline` and then withdraws (see [`Core`]).
    #[cold]
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    fn wait_for_token(&self, deadline: Option<Instant>) -> bool {
        let mut w = self.waiting.lock();
        #[cfg(feature = "deadlock-detection")]
        // Not in a closure: `waiting` names the caller's line (`track_caller`).
        let _waiting = if w.tokens == 0 {
            Some(super::deadlock::waiting(super::deadlock::Resource {
                kind: super::deadlock::ResourceKind::Semaphore,
                id: self.id.get(),
            }))
        } else {
            None
        };
        while w.tokens == 0 {
            match deadline {
                None => self.cv.wait(&mut w),
                Some(d) => {
                    if self.cv.wait_until(&mut w, d) && w.tokens == 0 {
                        if self.withdraw() {
                            return false;
                        }
                        // Late: a release counted a unit for this waiter and is about to post
                        // it (it needs the mutex this thread holds until it waits), unless a
                        // later acquirer takes it first; then this waiter can withdraw.
                        w.late += 1;
                        while w.tokens == 0 {
                            self.cv.wait(&mut w);
                            if w.tokens == 0 && self.withdraw() {
                                w.late -= 1;
                                return false;
                            }
                        }
                        w.late -= 1;
                    }
                }
            }
        }
        w.tokens -= 1;
        if w.late > 0 {
            // Maybe the token a late waiter is waiting for: let it look again.
            self.cv.notify_all();
        }
        true
    }

    /// A timed-out waiter's withdrawal: gives its registration back while the count is
    /// negative. False when every registered waiter has been counted a unit already.
    fn withdraw(&self) -> bool {
        let mut cur = self.count.load(Ordering::Relaxed);
        while cur < 0 {
            match self.count.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
        false
    }

    /// The one release path.
    #[inline]
    fn release(&self, n: usize) -> Result<(), SemaphoreReleaseError> {
        let old = if n == 1 && self.bound.is_none() {
            let old = self.count.fetch_add(1, Ordering::AcqRel);
            if old >= MAX {
                // Over the maximum: take the unit back (the headroom above `MAX` keeps the
                // count from wrapping meanwhile).
                self.count.fetch_sub(1, Ordering::AcqRel);
                return Err(SemaphoreReleaseError::Overflow);
            }
            old
        } else {
            self.add_checked(n)?
        };
        if old < 0 {
            self.hand_over(n.min(old.unsigned_abs()));
        }
        Ok(())
    }

    /// Adds `n` units after checking them against the bound and the maximum; the old count.
    fn add_checked(&self, n: usize) -> Result<isize, SemaphoreReleaseError> {
        if n == 0 {
            return Err(SemaphoreReleaseError::Zero);
        }
        let mut cur = self.count.load(Ordering::Relaxed);
        loop {
            // The value Python would see: no unit is free while acquirers wait.
            let value = cur.max(0).unsigned_abs();
            let new_value = value
                .checked_add(n)
                .filter(|&v| v <= SEMAPHORE_VALUE_MAX)
                .ok_or(SemaphoreReleaseError::Overflow)?;
            if self.bound.is_some_and(|bound| new_value > bound) {
                return Err(SemaphoreReleaseError::TooMany);
            }
            // No overflow: `cur + n` is at most `new_value` (`cur` may be negative).
            let new = cur + n as isize;
            match self
                .count
                .compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Ok(cur),
                Err(now) => cur = now,
            }
        }
    }

    /// Hands `k` units to waiters whose registrations the release found.
    #[cold]
    fn hand_over(&self, k: usize) {
        let mut w = self.waiting.lock();
        w.tokens += k;
        // Notify while still holding the mutex: parking_lot then requeues the woken thread
        // onto the mutex instead of waking it to contend for it.
        for _ in 0..k {
            if !self.cv.notify_one() {
                break;
            }
        }
    }

    fn value(&self) -> usize {
        self.count.load(Ordering::Acquire).max(0).unsigned_abs()
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
