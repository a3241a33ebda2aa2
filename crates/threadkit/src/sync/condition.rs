//! `threading.Condition`: [`Condition`] over a [`Lock`] or an [`RLock`], with its own queue of
//! waiters (one flag and condition variable each, as Python's deque of per-waiter locks).

use super::raw::{RSaved, RawLock, RawRLock};
use super::{Lock, LockGuard, RLock, RLockGuard};
use crate::primitive::{Arc, Condvar, Mutex};
use crate::time::{deadline_after, TimeoutOverflow};
use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

mod sealed {
    use super::{RSaved, RawLock, RawRLock};

    /// Which raw lock a condition releases and takes back.
    #[allow(unreachable_pub)] // sealed-trait pattern: a public name in a private module
    #[derive(Debug, Clone, Copy)]
    pub struct RawRef<'a>(Kind<'a>);

    #[derive(Debug, Clone, Copy)]
    enum Kind<'a> {
        Lock(&'a RawLock),
        RLock(&'a RawRLock),
    }

    /// A lock given back by a waiting condition, with what it takes to take it back. It names
    /// its own lock, so it cannot be restored onto another one.
    #[derive(Debug)]
    pub(crate) enum Saved<'a> {
        Lock(&'a RawLock),
        RLock(&'a RawRLock, RSaved),
    }

    impl Saved<'_> {
        /// Takes the lock back; never returns or unwinds without it (see the raw locks'
        /// `acquire_restore`).
        #[cfg_attr(feature = "deadlock-detection", track_caller)]
        pub(crate) fn acquire_restore(self) {
            match self {
                Saved::Lock(l) => l.acquire_restore(),
                Saved::RLock(r, s) => r.acquire_restore(s),
            }
        }
    }

    impl<'a> RawRef<'a> {
        pub(crate) fn lock(raw: &'a RawLock) -> Self {
            RawRef(Kind::Lock(raw))
        }

        pub(crate) fn rlock(raw: &'a RawRLock) -> Self {
            RawRef(Kind::RLock(raw))
        }

        pub(crate) fn same(self, other: RawRef<'_>) -> bool {
            match (self.0, other.0) {
                (Kind::Lock(a), Kind::Lock(b)) => std::ptr::eq(a, b),
                (Kind::RLock(a), Kind::RLock(b)) => std::ptr::eq(a, b),
                _ => false,
            }
        }

        /// Python's `_is_owned`: the owner for an RLock; "locked by anyone" for a Lock, which
        /// records no owner (as in Python).
        pub(crate) fn is_held(self) -> bool {
            match self.0 {
                Kind::Lock(l) => l.is_locked(),
                Kind::RLock(r) => r.is_owned(),
            }
        }

        /// # Safety
        ///
        /// The calling thread must hold the lock through a guard that it does not use until
        /// the returned [`Saved`] has taken the lock back.
        pub(crate) unsafe fn release_save(self) -> Saved<'a> {
            match self.0 {
                Kind::Lock(l) => {
                    // SAFETY: the caller's guard holds the lock and lends us its hold.
                    unsafe { l.unlock() };
                    Saved::Lock(l)
                }
                // SAFETY: forwarded from the caller's contract.
                Kind::RLock(r) => Saved::RLock(r, unsafe { r.release_save() }),
            }
        }
    }

    #[allow(unreachable_pub)]
    pub trait Sealed {
        /// The guard proving the lock is held.
        type Guard<'a>
        where
            Self: 'a;
        fn lock_guard(&self) -> Self::Guard<'_>;
        fn raw_ref(&self) -> RawRef<'_>;
        fn guard_raw<'a>(guard: &'a Self::Guard<'_>) -> RawRef<'a>;
    }
}

use sealed::{RawRef, Sealed};

/// A lock a [`Condition`] can be built on: [`Lock<T>`], [`RLock<T>`], or a shared reference or
/// `Arc` to one (so that several conditions can share one lock, as Python's
/// `Condition(lock)` allows). Sealed: it cannot be implemented outside threadkit.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use threadkit::sync::{Condition, Lock};
///
/// // Two conditions on one lock, as queue.Queue's not_empty / not_full.
/// let lock = Arc::new(Lock::new(Vec::<u32>::new()));
/// let not_empty = Condition::with_lock(Arc::clone(&lock));
/// let not_full = Condition::with_lock(Arc::clone(&lock));
/// let mut g = not_empty.lock();
/// g.push(1);
/// not_empty.notify(1).unwrap();
/// not_full.notify_all().unwrap();
/// ```
pub trait ConditionLock: Sealed {}

impl<T: ?Sized> Sealed for Lock<T> {
    type Guard<'a>
        = LockGuard<'a, T>
    where
        Self: 'a;
    #[track_caller]
    fn lock_guard(&self) -> LockGuard<'_, T> {
        self.lock()
    }
    fn raw_ref(&self) -> RawRef<'_> {
        RawRef::lock(self.raw())
    }
    fn guard_raw<'a>(guard: &'a LockGuard<'_, T>) -> RawRef<'a> {
        RawRef::lock(LockGuard::lock_ref(guard).raw())
    }
}
impl<T: ?Sized> ConditionLock for Lock<T> {}

impl<T: ?Sized> Sealed for RLock<T> {
    type Guard<'a>
        = RLockGuard<'a, T>
    where
        Self: 'a;
    #[track_caller]
    fn lock_guard(&self) -> RLockGuard<'_, T> {
        self.lock()
    }
    fn raw_ref(&self) -> RawRef<'_> {
        RawRef::rlock(self.raw())
    }
    fn guard_raw<'a>(guard: &'a RLockGuard<'_, T>) -> RawRef<'a> {
        RawRef::rlock(RLockGuard::lock_ref(guard).raw())
    }
}
impl<T: ?Sized> ConditionLock for RLock<T> {}

impl<L: ConditionLock + ?Sized> Sealed for &L {
    type Guard<'a>
        = L::Guard<'a>
    where
        Self: 'a;
    #[track_caller]
    fn lock_guard(&self) -> L::Guard<'_> {
        (**self).lock_guard()
    }
    fn raw_ref(&self) -> RawRef<'_> {
        (**self).raw_ref()
    }
    fn guard_raw<'a>(guard: &'a L::Guard<'_>) -> RawRef<'a> {
        L::guard_raw(guard)
    }
}
impl<L: ConditionLock + ?Sized> ConditionLock for &L {}

impl<L: ConditionLock + ?Sized> Sealed for std::sync::Arc<L> {
    type Guard<'a>
        = L::Guard<'a>
    where
        Self: 'a;
    #[track_caller]
    fn lock_guard(&self) -> L::Guard<'_> {
        (**self).lock_guard()
    }
    fn raw_ref(&self) -> RawRef<'_> {
        (**self).raw_ref()
    }
    fn guard_raw<'a>(guard: &'a L::Guard<'_>) -> RawRef<'a> {
        L::guard_raw(guard)
    }
}
impl<L: ConditionLock + ?Sized> ConditionLock for std::sync::Arc<L> {}

/// One waiting thread: woken by setting its flag (Python gives each waiter its own lock).
#[derive(Debug)]
struct Waiter {
    notified: Mutex<bool>,
    cv: Condvar,
}

impl Waiter {
    /// Waits for the flag until `deadline`; returns whether it was set.
    fn wait(&self, deadline: Option<Instant>) -> bool {
        let mut g = self.notified.lock();
        while !*g {
            match deadline {
                None => self.cv.wait(&mut g),
                Some(d) => {
                    if self.cv.wait_until(&mut g, d) {
                        return *g;
                    }
                }
            }
        }
        true
    }

    fn wake(&self) {
        *self.notified.lock() = true;
        self.cv.notify_one();
    }
}

/// Fault injection for the loom models (the deadlock detector, whose reports can unwind a
/// wait on its way back, is not built under loom): the same unwinding, at the same point.
#[cfg(loom)]
mod loom_hook {
    use std::cell::Cell;

    loom::thread_local! {
        static PANIC_AFTER_WAKE: Cell<bool> = Cell::new(false);
    }

    /// Under `--cfg loom` only: the calling thread's next [`Condition`](super::Condition) wait
    /// panics once woken, before it takes its lock back (as a deadlock report made on the way
    /// back does), so that a model can check the lock is held again before the panic leaves.
    pub fn loom_panic_after_next_wake() {
        PANIC_AFTER_WAKE.with(|p| p.set(true));
    }

    pub(super) fn maybe_panic() {
        if PANIC_AFTER_WAKE.with(|p| p.replace(false)) {
            panic!("injected: a report on the way back from a wait");
        }
    }
}

#[cfg(loom)]
#[doc(hidden)]
pub use loom_hook::loom_panic_after_next_wake;

/// A lock a waiting condition gave back: takes it back when finished or dropped, so that no
/// path out of a wait (a panic included) leaves the caller's guard without its lock, as
/// Python's `Condition.wait` restores the lock in a `finally`.
struct Restore<'a>(Option<sealed::Saved<'a>>);

impl Restore<'_> {
    /// Takes the lock back (the normal path, with the caller's location for the detector).
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    fn finish(mut self) {
        if let Some(saved) = self.0.take() {
            saved.acquire_restore();
        }
    }
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        if let Some(saved) = self.0.take() {
            saved.acquire_restore();
        }
    }
}

/// A condition variable bound to a lock: Python's `threading.Condition`.
///
/// Threads hold the lock, test a predicate over the protected data, and
/// [`wait`](Self::wait) until another thread changes the data and calls
/// [`notify`](Self::notify) / [`notify_all`](Self::notify_all). By default (as in Python) the
/// lock is a reentrant [`RLock`]; [`with_lock`](Self::with_lock) takes a [`Lock`], an
/// [`RLock`], or an `Arc`/reference to one shared with other conditions.
///
/// Waiting gives the lock back *completely* (every level of an [`RLock`], as Python's
/// `_release_save`) and takes it back before returning, which parking_lot's `Condvar` cannot do
/// for a reentrant mutex. Waiters are woken in the order they started waiting.
///
/// Waiting takes the guard, which proves the lock is held; a guard of another lock is an `Err`.
/// Notifying checks at run time that the lock is held ([`RLock`]: by the calling thread;
/// [`Lock`], which records no owner: by anyone, as Python checks).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::sync::{Condition, Lock};
///
/// let cond = Condition::with_lock(Lock::new(Vec::new()));
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         let mut items = cond.lock();
///         items.push("job");
///         cond.notify(1).unwrap();
///     });
///     let mut items = cond.lock();
///     let ready = cond
///         .wait_for_timeout(&mut items, Duration::from_secs(10), |v| !v.is_empty())
///         .unwrap();
///     assert!(ready);
///     assert_eq!(items.pop(), Some("job"));
/// });
/// ```
pub struct Condition<L = RLock<()>> {
    lock: L,
    waiters: Mutex<VecDeque<Arc<Waiter>>>,
    #[cfg(feature = "deadlock-detection")]
    id: super::deadlock::ResourceId,
}

/// Error of [`Condition::wait`] and the untimed waits: the guard is not one of this
/// condition's lock. Displays as Python's "cannot wait on un-acquired lock".
///
/// # Examples
///
/// ```
/// use threadkit::sync::{Condition, Lock};
///
/// let cond = Condition::with_lock(Lock::new(()));
/// let other = Lock::new(());
/// let mut g = other.lock();
/// let err = cond.wait(&mut g).unwrap_err();
/// assert_eq!(err.to_string(), "cannot wait on un-acquired lock");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitError;

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot wait on un-acquired lock")
    }
}

impl std::error::Error for WaitError {}

/// Error of [`Condition::wait_timeout`] and [`Condition::wait_for_timeout`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::sync::{Condition, WaitTimeoutError};
///
/// let cond = Condition::new(());
/// let mut g = cond.lock();
/// let err = cond.wait_timeout(&mut g, Duration::MAX).unwrap_err();
/// assert!(matches!(err, WaitTimeoutError::Overflow(_)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitTimeoutError {
    /// The guard is not one of this condition's lock ("cannot wait on un-acquired lock").
    NotAcquired,
    /// The timeout does not fit in an [`Instant`].
    Overflow(TimeoutOverflow),
}

impl fmt::Display for WaitTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitTimeoutError::NotAcquired => fmt::Display::fmt(&WaitError, f),
            WaitTimeoutError::Overflow(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for WaitTimeoutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WaitTimeoutError::NotAcquired => None,
            WaitTimeoutError::Overflow(e) => Some(e),
        }
    }
}

impl From<WaitError> for WaitTimeoutError {
    fn from(_: WaitError) -> Self {
        WaitTimeoutError::NotAcquired
    }
}

impl From<TimeoutOverflow> for WaitTimeoutError {
    fn from(e: TimeoutOverflow) -> Self {
        WaitTimeoutError::Overflow(e)
    }
}

/// Error of [`Condition::notify`] and [`Condition::notify_all`]: the lock is not held.
/// Displays as Python's "cannot notify on un-acquired lock".
///
/// # Examples
///
/// ```
/// let cond = threadkit::sync::Condition::new(());
/// let err = cond.notify_all().unwrap_err();
/// assert_eq!(err.to_string(), "cannot notify on un-acquired lock");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyError;

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot notify on un-acquired lock")
    }
}

impl std::error::Error for NotifyError {}

impl<T> Condition<RLock<T>> {
    /// A condition over a new [`RLock`] protecting `value` (Python: `Condition()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = threadkit::sync::Condition::new(std::cell::Cell::new(0));
    /// let g = cond.lock();
    /// g.set(1);
    /// assert_eq!(g.get(), 1);
    /// ```
    pub fn new(value: T) -> Self {
        Condition::with_lock(RLock::new(value))
    }
}

impl<T: Default> Default for Condition<RLock<T>> {
    fn default() -> Self {
        Condition::new(T::default())
    }
}

impl<L: ConditionLock> Condition<L> {
    /// A condition over `lock` (Python: `Condition(lock)`): a [`Lock`], an [`RLock`], or an
    /// `Arc` / reference to one shared with other conditions.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::sync::{Condition, Lock};
    ///
    /// let lock = Lock::new(0);
    /// let cond = Condition::with_lock(&lock);
    /// *cond.lock() += 1;
    /// assert_eq!(*lock.lock(), 1);
    /// ```
    pub fn with_lock(lock: L) -> Self {
        Condition {
            lock,
            waiters: Mutex::new(VecDeque::new()),
            #[cfg(feature = "deadlock-detection")]
            id: super::deadlock::ResourceId::new(),
        }
    }

    /// Takes the condition's lock (Python: `with cond:`); the guard derefs to the data.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = threadkit::sync::Condition::with_lock(threadkit::sync::Lock::new(1));
    /// *cond.lock() += 1;
    /// assert_eq!(*cond.lock(), 2);
    /// ```
    #[track_caller]
    pub fn lock(&self) -> L::Guard<'_> {
        self.lock.lock_guard()
    }

    /// The lock this condition is bound to (for its other methods, e.g. `try_lock`).
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = threadkit::sync::Condition::new(());
    /// assert!(!cond.inner_lock().locked());
    /// ```
    pub fn inner_lock(&self) -> &L {
        &self.lock
    }

    fn check(&self, guard: &L::Guard<'_>) -> Result<RawRef<'_>, WaitError> {
        let mine = self.lock.raw_ref();
        if mine.same(L::guard_raw(guard)) {
            Ok(mine)
        } else {
            Err(WaitError)
        }
    }

    /// The one wait path: enqueue, give the lock back entirely, wait, take it back.
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    fn wait_raw(&self, raw: RawRef<'_>, deadline: Option<Instant>) -> bool {
        let waiter = Arc::new(Waiter {
            notified: Mutex::new(false),
            cv: Condvar::new(),
        });
        self.waiters.lock().push_back(Arc::clone(&waiter));
        // SAFETY: `raw` is the lock of the guard the caller borrows mutably for the whole
        // wait, so the hold is this thread's and nothing reaches the data until we take the
        // lock back below. `Restore` takes it back on every path out of here, unwinding
        // included, before the caller's guard can be used or dropped.
        let restore = Restore(Some(unsafe { raw.release_save() }));
        #[cfg(feature = "deadlock-detection")]
        let waiting = super::deadlock::waiting(self.deadlock_resource());
        let notified = waiter.wait(deadline);
        #[cfg(feature = "deadlock-detection")]
        drop(waiting);
        #[cfg(loom)]
        loom_hook::maybe_panic();
        restore.finish();
        if notified {
            return true;
        }
        // Timed out: leave the queue, unless a notifier dequeued us meanwhile (then the
        // notification is ours, and reporting it keeps it from being lost).
        let mut q = self.waiters.lock();
        match q.iter().position(|w| Arc::ptr_eq(w, &waiter)) {
            Some(i) => {
                q.remove(i);
                false
            }
            None => true,
        }
    }

    /// Gives the lock back, waits for a notification, and takes the lock back (Python:
    /// `wait()`). Wake-ups come only from notifications; still, re-check your predicate
    /// (or use [`wait_for`](Self::wait_for)): another thread may have changed the data first.
    ///
    /// # Errors
    ///
    /// [`WaitError`] when `guard` belongs to another lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::sync::{Condition, Lock};
    ///
    /// let cond = Condition::with_lock(Lock::new(false));
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         *cond.lock() = true;
    ///         let _g = cond.lock();
    ///         cond.notify_all().unwrap();
    ///     });
    ///     let mut ready = cond.lock();
    ///     while !*ready {
    ///         cond.wait(&mut ready).unwrap();
    ///     }
    /// });
    /// ```
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub fn wait(&self, guard: &mut L::Guard<'_>) -> Result<(), WaitError> {
        let raw = self.check(guard)?;
        self.wait_raw(raw, None);
        Ok(())
    }

    /// Like [`wait`](Self::wait) for at most `timeout`: `Ok(false)` when it timed out
    /// (Python: `wait(timeout)`). The lock is held again either way.
    ///
    /// # Errors
    ///
    /// [`WaitTimeoutError::NotAcquired`] when `guard` belongs to another lock,
    /// [`WaitTimeoutError::Overflow`] when `timeout` does not fit in an [`Instant`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let cond = threadkit::sync::Condition::new(());
    /// let mut g = cond.lock();
    /// assert_eq!(cond.wait_timeout(&mut g, Duration::from_millis(10)), Ok(false));
    /// ```
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub fn wait_timeout(
        &self,
        guard: &mut L::Guard<'_>,
        timeout: Duration,
    ) -> Result<bool, WaitTimeoutError> {
        let raw = self.check(guard)?;
        let deadline = deadline_after(timeout)?;
        Ok(self.wait_raw(raw, Some(deadline)))
    }

    /// Like [`wait`](Self::wait) until `deadline` at most: `Ok(false)` when it passed.
    ///
    /// # Errors
    ///
    /// [`WaitError`] when `guard` belongs to another lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let cond = threadkit::sync::Condition::new(());
    /// let mut g = cond.lock();
    /// let deadline = Instant::now() + Duration::from_millis(10);
    /// assert_eq!(cond.wait_until(&mut g, deadline), Ok(false));
    /// ```
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub fn wait_until(
        &self,
        guard: &mut L::Guard<'_>,
        deadline: Instant,
    ) -> Result<bool, WaitError> {
        let raw = self.check(guard)?;
        Ok(self.wait_raw(raw, Some(deadline)))
    }

    /// Waits until `predicate` holds (Python: `wait_for(predicate)`). The predicate is
    /// evaluated with the lock held, first before any waiting.
    ///
    /// # Errors
    ///
    /// [`WaitError`] when `guard` belongs to another lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::sync::{Condition, Lock};
    ///
    /// let cond = Condition::with_lock(Lock::new(0));
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         for _ in 0..3 {
    ///             *cond.lock() += 1;
    ///             let _g = cond.lock();
    ///             cond.notify_all().unwrap();
    ///         }
    ///     });
    ///     let mut n = cond.lock();
    ///     cond.wait_for(&mut n, |n| **n == 3).unwrap();
    /// });
    /// ```
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub fn wait_for<'g>(
        &self,
        guard: &mut L::Guard<'g>,
        mut predicate: impl FnMut(&mut L::Guard<'g>) -> bool,
    ) -> Result<(), WaitError> {
        let raw = self.check(guard)?;
        while !predicate(guard) {
            self.wait_raw(raw, None);
        }
        Ok(())
    }

    /// Waits until `predicate` holds or `timeout` passes; returns the predicate's last value
    /// (Python: `wait_for(predicate, timeout)`).
    ///
    /// # Errors
    ///
    /// As [`wait_timeout`](Self::wait_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::sync::{Condition, Lock};
    ///
    /// let cond = Condition::with_lock(Lock::new(0));
    /// let mut n = cond.lock();
    /// let ok = cond.wait_for_timeout(&mut n, Duration::from_millis(10), |n| **n > 0);
    /// assert_eq!(ok, Ok(false));
    /// ```
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub fn wait_for_timeout<'g>(
        &self,
        guard: &mut L::Guard<'g>,
        timeout: Duration,
        mut predicate: impl FnMut(&mut L::Guard<'g>) -> bool,
    ) -> Result<bool, WaitTimeoutError> {
        let raw = self.check(guard)?;
        let deadline = deadline_after(timeout)?;
        loop {
            if predicate(guard) {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            self.wait_raw(raw, Some(deadline));
        }
    }

    /// Wakes up to `n` waiting threads, oldest first (Python: `notify(n)`); returns how many
    /// were woken. Each re-takes the lock after the notifier gives it back.
    ///
    /// # Errors
    ///
    /// [`NotifyError`] when the lock is not held (see the type docs for what "held" means for
    /// a [`Lock`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = threadkit::sync::Condition::new(());
    /// let _g = cond.lock();
    /// assert_eq!(cond.notify(1), Ok(0)); // nobody waits
    /// ```
    pub fn notify(&self, n: usize) -> Result<usize, NotifyError> {
        if !self.lock.raw_ref().is_held() {
            return Err(NotifyError);
        }
        let mut q = self.waiters.lock();
        let k = n.min(q.len());
        for w in q.drain(..k) {
            w.wake();
        }
        Ok(k)
    }

    /// Wakes every waiting thread (Python: `notify_all()`); returns how many were woken.
    ///
    /// # Errors
    ///
    /// [`NotifyError`] when the lock is not held.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = threadkit::sync::Condition::new(());
    /// let _g = cond.lock();
    /// assert_eq!(cond.notify_all(), Ok(0));
    /// ```
    pub fn notify_all(&self) -> Result<usize, NotifyError> {
        self.notify(usize::MAX)
    }

    /// The deadlock detector's name for this condition's notification (what its waiters wait
    /// for); its lock has its own (`lock().deadlock_resource()` style on the lock).
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::sync::deadlock::ResourceKind;
    ///
    /// let cond = threadkit::sync::Condition::new(());
    /// assert_eq!(cond.deadlock_resource().kind, ResourceKind::Condition);
    /// ```
    #[cfg(feature = "deadlock-detection")]
    pub fn deadlock_resource(&self) -> super::deadlock::Resource {
        super::deadlock::Resource {
            kind: super::deadlock::ResourceKind::Condition,
            id: self.id.get(),
        }
    }

    /// How many threads are waiting right now (a snapshot, for diagnostics and tests).
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = threadkit::sync::Condition::new(());
    /// assert_eq!(cond.waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.waiters.lock().len()
    }
}

impl<L: fmt::Debug> fmt::Debug for Condition<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("lock", &self.lock)
            .field("waiting", &self.waiters.lock().len())
            .finish()
    }
}
