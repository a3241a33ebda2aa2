//! `threading.Lock`: [`Lock<T>`], its guard and Python's explicit `acquire()` / `release()`.

use super::raw::RawLock;
use crate::time::Wait;
use crate::time::{deadline_after, TimeoutOverflow};
use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

/// A mutual-exclusion lock: Python's `threading.Lock`, carrying the data it protects.
///
/// `Lock<()>` is Python's plain lock; `Lock<T>` guards a `T` the Rust way. Two styles can be used,
/// and mixed safely:
///
/// * guards: [`lock`](Self::lock), [`try_lock`](Self::try_lock),
///   [`lock_timeout`](Self::lock_timeout), [`lock_until`](Self::lock_until) return a
///   [`LockGuard`] that gives access to the data and unlocks when dropped (Python's `with lock:`);
/// * Python's explicit calls: [`acquire`](Self::acquire) (and its try/timeout forms) leaves the
///   lock held with no guard, and [`release`](Self::release) gives it back, from any thread, as
///   Python allows. Releasing a lock that is not held that way is an `Err`
///   ("release unlocked lock"), never undefined behaviour: a lock held by a guard cannot be
///   released under the guard's feet, and two racing `release()` calls cannot both unlock.
///
/// The lock is not reentrant: a thread locking it twice waits forever (see [`RLock`](super::RLock));
/// with the `deadlock-detection` feature it panics with a report instead (module
/// `sync::deadlock`).
/// It is built on a raw mutex plus one flag. On Linux the raw mutex is a futex word like std's
/// `Mutex`, which is **not eventually-fair**: a thread that unlocks and locks again at once may
/// keep taking the lock ahead of a woken waiter (as with std's mutex). Elsewhere it is
/// parking_lot's raw mutex (one byte, eventually fair).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use threadkit::sync::Lock;
///
/// let counter = Arc::new(Lock::new(0u32));
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| {
///             for _ in 0..1000 {
///                 *counter.lock() += 1;
///             }
///         });
///     }
/// });
/// assert_eq!(*counter.lock(), 4000);
/// ```
pub struct Lock<T: ?Sized> {
    raw: RawLock,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `T` to one thread at a time, so it can be shared and
// sent between threads when `T` can be sent (as `std::sync::Mutex`).
unsafe impl<T: ?Sized + Send> Send for Lock<T> {}
// SAFETY: as above; `&Lock<T>` only yields `&mut T` under the lock.
unsafe impl<T: ?Sized + Send> Sync for Lock<T> {}

/// Access to the data of a [`Lock`] while it is held; unlocks when dropped.
///
/// # Examples
///
/// ```
/// use threadkit::sync::Lock;
///
/// let lock = Lock::new(vec![1]);
/// {
///     let mut guard = lock.lock();
///     guard.push(2);
///     assert!(lock.locked());
/// } // unlocked here
/// assert!(!lock.locked());
/// ```
#[must_use = "if unused the Lock will immediately unlock"]
pub struct LockGuard<'a, T: ?Sized> {
    lock: &'a Lock<T>,
    // Guards stay on the thread that locked (the deadlock detector tracks holds per thread).
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard only gives `&T`, so it may be shared when `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for LockGuard<'_, T> {}

/// Error of [`Lock::release`]: the lock was not held through [`Lock::acquire`].
///
/// Displays as Python's `RuntimeError` message, "release unlocked lock".
///
/// # Examples
///
/// ```
/// use threadkit::sync::Lock;
///
/// let lock = Lock::new(());
/// let err = lock.release().unwrap_err();
/// assert_eq!(err.to_string(), "release unlocked lock");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseError {
    locked: bool,
}

impl ReleaseError {
    /// Whether the lock was locked at the time (held by a guard, which unlocks it when dropped,
    /// or in the middle of another thread's `acquire`).
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::sync::Lock;
    ///
    /// let lock = Lock::new(());
    /// let guard = lock.lock();
    /// let err = lock.release().unwrap_err();
    /// assert!(err.was_locked());
    /// drop(guard);
    /// assert!(!lock.release().unwrap_err().was_locked());
    /// ```
    pub fn was_locked(&self) -> bool {
        self.locked
    }
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.locked {
            f.write_str(
                "release unlocked lock (it is held by a guard, which releases it when dropped)",
            )
        } else {
            f.write_str("release unlocked lock")
        }
    }
}

impl std::error::Error for ReleaseError {}

impl<T> Lock<T> {
    /// A new unlocked lock protecting `value`. `const`, so it can initialise a `static`.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::sync::Lock;
    ///
    /// static STDOUT_LOCK: Lock<()> = Lock::new(());
    /// let _g = STDOUT_LOCK.lock();
    /// println!("one thread at a time");
    /// ```
    #[cfg(not(loom))]
    pub const fn new(value: T) -> Self {
        Lock {
            raw: RawLock::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// A new unlocked lock protecting `value`.
    #[cfg(loom)]
    pub fn new(value: T) -> Self {
        Lock {
            raw: RawLock::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock and returns the data.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = threadkit::sync::Lock::new(5);
    /// assert_eq!(lock.into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Lock<T> {
    #[inline]
    fn guard(&self) -> LockGuard<'_, T> {
        LockGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// Blocks until the lock is free, then holds it until the returned guard is dropped.
    ///
    /// Python: `with lock:`. Locking a lock the calling thread already holds waits forever.
    ///
    /// # Panics
    ///
    /// With the `deadlock-detection` feature, when the calling thread already holds the lock
    /// (a self-deadlock: the message is the report, instead of a hang).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = threadkit::sync::Lock::new(String::new());
    /// lock.lock().push_str("hello");
    /// assert_eq!(*lock.lock(), "hello");
    /// ```
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> LockGuard<'_, T> {
        self.raw.acquire(Wait::Forever);
        self.guard()
    }

    /// Holds the lock if it is free right now (Python: `acquire(blocking=False)`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = threadkit::sync::Lock::new(());
    /// let g = lock.try_lock().unwrap();
    /// assert!(lock.try_lock().is_none());
    /// drop(g);
    /// assert!(lock.try_lock().is_some());
    /// ```
    #[inline]
    #[track_caller]
    pub fn try_lock(&self) -> Option<LockGuard<'_, T>> {
        self.raw.acquire(Wait::No).then(|| self.guard())
    }

    /// Waits at most `timeout` for the lock: `Ok(None)` when it timed out (the lock stays
    /// usable). Python: `acquire(timeout=...)`.
    ///
    /// # Errors
    ///
    /// [`TimeoutOverflow`] when `timeout` does not fit in an [`Instant`] (e.g. `Duration::MAX`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::sync::Lock;
    ///
    /// let lock = Lock::new(());
    /// let held = lock.lock();
    /// assert!(lock.lock_timeout(Duration::from_millis(10)).unwrap().is_none());
    /// assert!(lock.lock_timeout(Duration::MAX).is_err());
    /// drop(held);
    /// assert!(lock.lock_timeout(Duration::from_millis(10)).unwrap().is_some());
    /// ```
    #[track_caller]
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Option<LockGuard<'_, T>>, TimeoutOverflow> {
        Ok(self.lock_until(deadline_after(timeout)?))
    }

    /// Waits until `deadline` at most for the lock: `None` when it passed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let lock = threadkit::sync::Lock::new(());
    /// let deadline = Instant::now() + Duration::from_millis(10);
    /// assert!(lock.lock_until(deadline).is_some());
    /// ```
    #[track_caller]
    pub fn lock_until(&self, deadline: Instant) -> Option<LockGuard<'_, T>> {
        self.raw
            .acquire(Wait::Until(deadline))
            .then(|| self.guard())
    }

    /// Whether the lock is held right now, by anyone (Python: `locked()`). Only a snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = threadkit::sync::Lock::new(());
    /// assert!(!lock.locked());
    /// lock.acquire();
    /// assert!(lock.locked());
    /// lock.release().unwrap();
    /// ```
    pub fn locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// Python's `acquire()`: blocks until the lock is free and holds it with no guard, until
    /// some thread calls [`release`](Self::release).
    ///
    /// Prefer [`lock`](Self::lock), which cannot forget to unlock. The data is not reachable
    /// through a lock held this way (use `Lock<()>` for this style).
    ///
    /// # Panics
    ///
    /// With the `deadlock-detection` feature, when the calling thread already holds the lock
    /// (seed 004's `l.acquire(); l.acquire()`), instead of waiting forever.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = threadkit::sync::Lock::new(());
    /// lock.acquire();
    /// // ... critical section ...
    /// lock.release().unwrap();
    /// ```
    #[track_caller]
    pub fn acquire(&self) {
        self.raw.acquire(Wait::Forever);
        self.raw.detach();
    }

    /// Python's `acquire(blocking=False)`: true when the lock was free and is now held with no
    /// guard.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = threadkit::sync::Lock::new(());
    /// assert!(lock.try_acquire());
    /// assert!(!lock.try_acquire());
    /// lock.release().unwrap();
    /// ```
    #[track_caller]
    pub fn try_acquire(&self) -> bool {
        let got = self.raw.acquire(Wait::No);
        if got {
            self.raw.detach();
        }
        got
    }

    /// Python's `acquire(timeout=...)`: `Ok(false)` when the timeout passed first.
    ///
    /// # Errors
    ///
    /// [`TimeoutOverflow`] when `timeout` does not fit in an [`Instant`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lock = threadkit::sync::Lock::new(());
    /// lock.acquire();
    /// assert_eq!(lock.acquire_timeout(Duration::from_millis(20)), Ok(false));
    /// lock.release().unwrap();
    /// ```
    #[track_caller]
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool, TimeoutOverflow> {
        Ok(self.acquire_until(deadline_after(timeout)?))
    }

    /// Like [`acquire_timeout`](Self::acquire_timeout) with a deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let lock = threadkit::sync::Lock::new(());
    /// assert!(lock.acquire_until(Instant::now() + Duration::from_millis(5)));
    /// lock.release().unwrap();
    /// ```
    #[track_caller]
    pub fn acquire_until(&self, deadline: Instant) -> bool {
        let got = self.raw.acquire(Wait::Until(deadline));
        if got {
            self.raw.detach();
        }
        got
    }

    /// Python's `release()`: frees a lock held through [`acquire`](Self::acquire) (by this or any
    /// other thread). Exactly one of several racing calls succeeds.
    ///
    /// # Errors
    ///
    /// [`ReleaseError`] ("release unlocked lock") when the lock is not held through `acquire`:
    /// unlocked, or held by a [`LockGuard`] (which alone may unlock it).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = threadkit::sync::Lock::new(());
    /// lock.acquire();
    /// assert!(lock.release().is_ok());
    /// assert!(lock.release().is_err()); // second release: "release unlocked lock"
    /// ```
    pub fn release(&self) -> Result<(), ReleaseError> {
        if self.raw.release_detached() {
            Ok(())
        } else {
            Err(ReleaseError {
                locked: self.raw.is_locked(),
            })
        }
    }

    /// The data, through `&mut self` (no locking needed: no one else can hold the lock).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut lock = threadkit::sync::Lock::new(1);
    /// *lock.get_mut() += 1;
    /// assert_eq!(*lock.lock(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// The deadlock detector's name for this lock, as it appears in
    /// [reports](crate::sync::deadlock::Report) (feature `deadlock-detection`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = threadkit::sync::Lock::new(());
    /// println!("{}", lock.deadlock_resource()); // e.g. "Lock#7"
    /// ```
    #[cfg(feature = "deadlock-detection")]
    pub fn deadlock_resource(&self) -> super::deadlock::Resource {
        self.raw.resource()
    }

    pub(crate) fn raw(&self) -> &RawLock {
        &self.raw
    }
}

impl<T: Default> Default for Lock<T> {
    fn default() -> Self {
        Lock::new(T::default())
    }
}

impl<T> From<T> for Lock<T> {
    fn from(value: T) -> Self {
        Lock::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Lock");
        match self.try_lock() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

impl<'a, T: ?Sized> LockGuard<'a, T> {
    pub(crate) fn lock_ref(this: &Self) -> &'a Lock<T> {
        this.lock
    }
}

impl<T: ?Sized> Deref for LockGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the lock is held by this thread's guard (see `drop` for why
        // that holds across a `Condition` wait, panics included), so no other reference to the
        // data exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for LockGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only access through the guard.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for LockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard owns the hold it was created with (the detached flag is clear, so
        // `release()` cannot have unlocked it). The one code that gives the hold up while the
        // guard lives, a `Condition` wait borrowing the guard mutably, takes it back on every
        // path out of the wait, unwinding included (`condition::Restore`, and the detector's
        // `track::restore`, which never leaves without the lock), so the hold is ours here.
        unsafe { self.lock.raw.unlock() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
