//! `threading.RLock`: [`RLock<T>`], a reentrant lock with an owner and a recursion count.

use super::raw::RawRLock;
use crate::time::Wait;
use crate::time::{deadline_after, TimeoutOverflow};
use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::time::{Duration, Instant};

/// A reentrant lock: Python's `threading.RLock`, carrying the data it protects.
///
/// The thread holding it may take it again without waiting; it is free for other threads once
/// it has been given back as many times as it was taken. Since one thread may hold several
/// guards at once, guards give shared access (`&T`); put a [`Cell`](std::cell::Cell) or
/// [`RefCell`](std::cell::RefCell) inside for mutation.
///
/// As with [`Lock`](super::Lock) there are guards ([`lock`](Self::lock), ...) and Python's
/// explicit [`acquire`](Self::acquire) / [`release`](Self::release). Only the owner may
/// release, and only levels it took with `acquire`: anything else is an `Err`
/// ("cannot release un-acquired lock"), as Python raises `RuntimeError`.
///
/// An `RLock` works under a [`Condition`](super::Condition) (the default lock of one), which
/// gives back every level while waiting and takes them all back afterwards.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use threadkit::sync::RLock;
///
/// let lock = RLock::new(Cell::new(0));
/// fn add(lock: &RLock<Cell<i32>>, n: i32) {
///     let g = lock.lock(); // reentrant: fine even when the caller holds it
///     g.set(g.get() + n);
/// }
/// let outer = lock.lock();
/// add(&lock, 2);
/// add(&lock, 3);
/// assert_eq!(outer.get(), 5);
/// ```
pub struct RLock<T: ?Sized> {
    raw: RawRLock,
    data: UnsafeCell<T>,
}

// SAFETY: the data is reached by one thread at a time (the owner), so sending `T` suffices, as
// for parking_lot's `ReentrantMutex`.
unsafe impl<T: ?Sized + Send> Send for RLock<T> {}
// SAFETY: as above; only the owner thread holds `&T` at any time.
unsafe impl<T: ?Sized + Send> Sync for RLock<T> {}

/// Shared access to the data of an [`RLock`] while this thread holds it; gives back one level
/// when dropped.
///
/// # Examples
///
/// ```
/// let lock = threadkit::sync::RLock::new(7);
/// let a = lock.lock();
/// let b = lock.lock();
/// assert_eq!(*a + *b, 14);
/// ```
#[must_use = "if unused the RLock will immediately give the level back"]
pub struct RLockGuard<'a, T: ?Sized> {
    lock: &'a RLock<T>,
    _not_send: PhantomData<*const ()>,
}

/// Error of [`RLock::release`]: the calling thread did not take the lock with
/// [`RLock::acquire`] (or has already given back every such level).
///
/// Displays as Python's `RuntimeError` message, "cannot release un-acquired lock".
///
/// # Examples
///
/// ```
/// let lock = threadkit::sync::RLock::new(());
/// let err = lock.release().unwrap_err();
/// assert_eq!(err.to_string(), "cannot release un-acquired lock");
/// assert!(!err.was_owner());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RLockReleaseError {
    owner: bool,
}

impl RLockReleaseError {
    /// Whether the calling thread held the lock, through guards only (which alone give their
    /// levels back, when dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = threadkit::sync::RLock::new(());
    /// let _g = lock.lock();
    /// assert!(lock.release().unwrap_err().was_owner());
    /// ```
    pub fn was_owner(&self) -> bool {
        self.owner
    }
}

impl fmt::Display for RLockReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.owner {
            f.write_str(
                "cannot release un-acquired lock (this thread holds it only through guards)",
            )
        } else {
            f.write_str("cannot release un-acquired lock")
        }
    }
}

impl std::error::Error for RLockReleaseError {}

impl<T> RLock<T> {
    /// A new free reentrant lock protecting `value`. `const`, so it can initialise a `static`.
    ///
    /// # Examples
    ///
    /// ```
    /// static LOG: threadkit::sync::RLock<()> = threadkit::sync::RLock::new(());
    /// let _a = LOG.lock();
    /// let _b = LOG.lock();
    /// ```
    #[cfg(not(loom))]
    pub const fn new(value: T) -> Self {
        RLock {
            raw: RawRLock::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// A new free reentrant lock protecting `value`.
    #[cfg(loom)]
    pub fn new(value: T) -> Self {
        RLock {
            raw: RawRLock::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock and returns the data.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadkit::sync::RLock::new(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RLock<T> {
    #[inline]
    fn guard(&self) -> RLockGuard<'_, T> {
        RLockGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// Takes the lock (again, if this thread holds it) until the guard is dropped.
    ///
    /// # Panics
    ///
    /// When the recursion count would overflow `usize`.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = threadkit::sync::RLock::new(1);
    /// let a = lock.lock();
    /// let b = lock.lock(); // does not wait: this thread owns it
    /// assert_eq!(*a, *b);
    /// ```
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> RLockGuard<'_, T> {
        self.raw.acquire(Wait::Forever, false);
        self.guard()
    }

    /// Takes the lock if this thread owns it or it is free right now.
    ///
    /// # Panics
    ///
    /// When the recursion count would overflow `usize`.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = threadkit::sync::RLock::new(());
    /// let _g = lock.lock();
    /// assert!(lock.try_lock().is_some()); // the owner may re-enter
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert!(lock.try_lock().is_none())); // others may not
    /// });
    /// ```
    #[inline]
    #[track_caller]
    pub fn try_lock(&self) -> Option<RLockGuard<'_, T>> {
        self.raw.acquire(Wait::No, false).then(|| self.guard())
    }

    /// Waits at most `timeout` for the lock; `Ok(None)` when it timed out.
    ///
    /// # Errors
    ///
    /// [`TimeoutOverflow`] when `timeout` does not fit in an [`Instant`].
    ///
    /// # Panics
    ///
    /// When the recursion count would overflow `usize`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lock = threadkit::sync::RLock::new(());
    /// let _g = lock.lock();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert!(lock.lock_timeout(Duration::from_millis(10)).unwrap().is_none()));
    /// });
    /// ```
    #[track_caller]
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Option<RLockGuard<'_, T>>, TimeoutOverflow> {
        Ok(self.lock_until(deadline_after(timeout)?))
    }

    /// Waits until `deadline` at most for the lock; `None` when it passed.
    ///
    /// # Panics
    ///
    /// When the recursion count would overflow `usize`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let lock = threadkit::sync::RLock::new(());
    /// assert!(lock.lock_until(Instant::now() + Duration::from_millis(5)).is_some());
    /// ```
    #[track_caller]
    pub fn lock_until(&self, deadline: Instant) -> Option<RLockGuard<'_, T>> {
        self.raw
            .acquire(Wait::Until(deadline), false)
            .then(|| self.guard())
    }

    /// Python's `acquire()`: takes one level with no guard; give it back with
    /// [`release`](Self::release) on this same thread.
    ///
    /// # Panics
    ///
    /// When the recursion count would overflow `usize`.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = threadkit::sync::RLock::new(());
    /// lock.acquire();
    /// lock.acquire();
    /// lock.release().unwrap();
    /// lock.release().unwrap();
    /// assert!(lock.release().is_err()); // "cannot release un-acquired lock"
    /// ```
    #[track_caller]
    pub fn acquire(&self) {
        self.raw.acquire(Wait::Forever, true);
    }

    /// Python's `acquire(blocking=False)`.
    ///
    /// # Panics
    ///
    /// When the recursion count would overflow `usize`.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = threadkit::sync::RLock::new(());
    /// assert!(lock.try_acquire());
    /// assert!(lock.try_acquire());
    /// lock.release().unwrap();
    /// lock.release().unwrap();
    /// ```
    #[track_caller]
    pub fn try_acquire(&self) -> bool {
        self.raw.acquire(Wait::No, true)
    }

    /// Python's `acquire(timeout=...)`: `Ok(false)` when the timeout passed first.
    ///
    /// # Errors
    ///
    /// [`TimeoutOverflow`] when `timeout` does not fit in an [`Instant`].
    ///
    /// # Panics
    ///
    /// When the recursion count would overflow `usize`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lock = threadkit::sync::RLock::new(());
    /// assert_eq!(lock.acquire_timeout(Duration::from_millis(5)), Ok(true));
    /// lock.release().unwrap();
    /// ```
    #[track_caller]
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool, TimeoutOverflow> {
        Ok(self.acquire_until(deadline_after(timeout)?))
    }

    /// Like [`acquire_timeout`](Self::acquire_timeout) with a deadline.
    ///
    /// # Panics
    ///
    /// When the recursion count would overflow `usize`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let lock = threadkit::sync::RLock::new(());
    /// assert!(lock.acquire_until(Instant::now() + Duration::from_millis(5)));
    /// lock.release().unwrap();
    /// ```
    #[track_caller]
    pub fn acquire_until(&self, deadline: Instant) -> bool {
        self.raw.acquire(Wait::Until(deadline), true)
    }

    /// Python's `release()`: gives back one level taken with [`acquire`](Self::acquire); the
    /// lock is free for others once every level is given back.
    ///
    /// # Errors
    ///
    /// [`RLockReleaseError`] ("cannot release un-acquired lock") when the calling thread is
    /// not the owner, or holds the lock only through guards.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = threadkit::sync::RLock::new(());
    /// lock.acquire();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert!(lock.release().is_err())); // not the owner
    /// });
    /// assert!(lock.release().is_ok());
    /// ```
    pub fn release(&self) -> Result<(), RLockReleaseError> {
        if self.raw.release_detached() {
            Ok(())
        } else {
            Err(RLockReleaseError {
                owner: self.raw.is_owned(),
            })
        }
    }

    /// Whether the calling thread holds the lock (Python's private `_is_owned()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = threadkit::sync::RLock::new(());
    /// assert!(!lock.is_owned());
    /// let _g = lock.lock();
    /// assert!(lock.is_owned());
    /// ```
    pub fn is_owned(&self) -> bool {
        self.raw.is_owned()
    }

    /// Whether any thread holds the lock right now. Only a snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = threadkit::sync::RLock::new(());
    /// assert!(!lock.locked());
    /// let _g = lock.lock();
    /// assert!(lock.locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// The data, through `&mut self` (no locking needed).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut lock = threadkit::sync::RLock::new(1);
    /// *lock.get_mut() = 2;
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
    /// let lock = threadkit::sync::RLock::new(());
    /// println!("{}", lock.deadlock_resource()); // e.g. "RLock#7"
    /// ```
    #[cfg(feature = "deadlock-detection")]
    pub fn deadlock_resource(&self) -> super::deadlock::Resource {
        self.raw.resource()
    }

    pub(crate) fn raw(&self) -> &RawRLock {
        &self.raw
    }
}

impl<T: Default> Default for RLock<T> {
    fn default() -> Self {
        RLock::new(T::default())
    }
}

impl<T> From<T> for RLock<T> {
    fn from(value: T) -> Self {
        RLock::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RLock");
        match self.try_lock() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

impl<'a, T: ?Sized> RLockGuard<'a, T> {
    pub(crate) fn lock_ref(this: &Self) -> &'a RLock<T> {
        this.lock
    }
}

impl<T: ?Sized> Deref for RLockGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard proves this thread owns the lock; only shared references are ever
        // handed out, and only to the owner thread (the guard is not `Send`).
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RLockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard owns one (non-detached) level of this thread's hold. A `Condition`
        // wait that borrowed the guard gave every level up and restored them (owner, count,
        // detached levels) in the same step as it re-took the mutex, on every path out of the
        // wait, unwinding included (`RawRLock::acquire_restore`), so the level is ours here.
        unsafe { self.lock.raw.unlock() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RLockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
