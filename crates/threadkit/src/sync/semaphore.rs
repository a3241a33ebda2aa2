//! `threading.Semaphore` and `threading.BoundedSemaphore`, with an RAII [`Permit`].

use crate::primitive::{Condvar, Mutex};
use crate::time::{deadline_after, TimeoutOverflow};
use std::fmt;
use std::time::{Duration, Instant};

/// The shared core: a counter under a mutex, a condition variable, and the bound (if any).
/// Cache-line aligned: the mutex and the condvar are hammered together by every thread, and
/// must not share a line with neighbouring data nor straddle two lines.
#[derive(Debug)]
#[repr(align(64))]
struct Core {
    value: Mutex<usize>,
    cv: Condvar,
    bound: Option<usize>,
    #[cfg(feature = "deadlock-detection")]
    id: super::deadlock::ResourceId,
}

impl Core {
    fn new(value: usize, bound: Option<usize>) -> Self {
        Core {
            value: Mutex::new(value),
            cv: Condvar::new(),
            bound,
            #[cfg(feature = "deadlock-detection")]
            id: super::deadlock::ResourceId::new(),
        }
    }

    /// The one acquire path.
    #[inline]
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    fn acquire(&self, deadline: Option<Instant>, block: bool) -> bool {
        let mut v = self.value.lock();
        if *v == 0 && !block {
            return false;
        }
        #[cfg(feature = "deadlock-detection")]
        let _waiting = if *v == 0 {
            Some(super::deadlock::waiting(super::deadlock::Resource {
                kind: super::deadlock::ResourceKind::Semaphore,
                id: self.id.get(),
            }))
        } else {
            None
        };
        while *v == 0 {
            match deadline {
                None => self.cv.wait(&mut v),
                Some(d) => {
                    if self.cv.wait_until(&mut v, d) && *v == 0 {
                        return false;
                    }
                }
            }
        }
        *v -= 1;
        true
    }

    /// The one release path.
    #[inline]
    fn release(&self, n: usize) -> Result<(), SemaphoreReleaseError> {
        if n == 0 {
            return Err(SemaphoreReleaseError::Zero);
        }
        let mut v = self.value.lock();
        let new = v.checked_add(n).ok_or(SemaphoreReleaseError::Overflow)?;
        if let Some(bound) = self.bound {
            if new > bound {
                return Err(SemaphoreReleaseError::TooMany);
            }
        }
        *v = new;
        // Notify while still holding the mutex: parking_lot then requeues the woken thread
        // onto the mutex instead of waking it to contend for it (measured faster here).
        if n == 1 {
            self.cv.notify_one();
        } else {
            for _ in 0..n {
                if !self.cv.notify_one() {
                    break;
                }
            }
        }
        drop(v);
        Ok(())
    }

    fn value(&self) -> usize {
        *self.value.lock()
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
    /// The value would overflow `usize`. The value is unchanged.
    Overflow,
}

impl fmt::Display for SemaphoreReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SemaphoreReleaseError::Zero => "n must be one or more",
            SemaphoreReleaseError::TooMany => "Semaphore released too many times",
            SemaphoreReleaseError::Overflow => "semaphore value would overflow usize",
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
    /// When the value would overflow `usize` (use [`release_n`](Self::release_n) to get that
    /// as an `Err`).
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
    /// the value would overflow `usize`.
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
