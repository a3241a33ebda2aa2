//! [`Lock`] and [`Event`] that work across processes: a futex word in shared memory.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::thread::futex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::shm::Segment;
use super::wire;
use crate::time::TimeoutOverflow;

/// Waits while `word == expected`, at most until `deadline`. Spurious returns are fine.
fn futex_wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) {
    let timeout = deadline.map(|d| wire::timespec(d.saturating_duration_since(Instant::now())));
    // Shared (not private) futex: waiters and wakers are in different processes.
    let _ = futex::wait(word, futex::Flags::empty(), expected, timeout.as_ref());
}

fn futex_wake(word: &AtomicU32, n: u32) {
    let _ = futex::wake(word, futex::Flags::empty(), n);
}

fn segment_from<'de, D: Deserializer<'de>>(d: D, min_len: usize) -> Result<Segment, D::Error> {
    use serde::de::Error;
    let fd = wire::deserialize_fd(d)?;
    Segment::from_fd(fd, min_len).map_err(D::Error::custom)
}

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
const CONTENDED: u32 = 2;

/// Error of [`Lock::release`] on a lock that is not held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseError;

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Python's multiprocessing wording.
        f.write_str("semaphore or lock released too many times")
    }
}

impl std::error::Error for ReleaseError {}

/// A lock shared by processes (Python's `multiprocessing.Lock`).
///
/// The lock is one futex word in a shared memory segment; clones (and copies sent to children as
/// arguments, through connections or queues) are the same lock. Like Python's, it is not
/// reentrant and not owned: any process may [`release`](Lock::release) a lock taken with
/// [`acquire`](Lock::acquire). A process that dies holding it leaves it locked (as Python's).
///
/// # Examples
///
/// ```
/// use threadkit::process::{Lock, Process};
///
/// fn report((lock, n): (Lock, u32)) -> u32 {
///     let _guard = lock.lock();
///     println!("worker {n}, pid {}", std::process::id());
///     n
/// }
///
/// threadkit::process::init();
/// let lock = Lock::new().unwrap();
/// let mut p1 = Process::spawn(report, (lock.clone(), 1)).unwrap();
/// let mut p2 = Process::spawn(report, (lock.clone(), 2)).unwrap();
/// assert_eq!(p1.join().unwrap() + p2.join().unwrap(), 3);
/// ```
#[derive(Clone, Debug)]
pub struct Lock {
    seg: Arc<Segment>,
}

/// Holds a [`Lock`]; unlocks it when dropped.
#[derive(Debug)]
#[must_use = "the lock is released at once if the guard is not kept"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.lock.unlock();
    }
}

impl Lock {
    /// A new, unlocked lock in its own shared memory segment.
    ///
    /// # Errors
    ///
    /// The error of `memfd_create`/`mmap` (out of memory or descriptors).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = threadkit::process::Lock::new().unwrap();
    /// assert!(!lock.locked());
    /// ```
    pub fn new() -> io::Result<Lock> {
        Ok(Lock {
            seg: Arc::new(Segment::new(4)?),
        })
    }

    fn word(&self) -> &AtomicU32 {
        self.seg.word(0)
    }

    fn lock_until(&self, deadline: Option<Instant>) -> bool {
        let w = self.word();
        if w.compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return true;
        }
        // Drepper's "futexes are tricky" mutex 2: 2 means "locked, maybe waiters".
        while w.swap(CONTENDED, Ordering::Acquire) != UNLOCKED {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            futex_wait(w, CONTENDED, deadline);
        }
        true
    }

    fn unlock(&self) {
        if self.word().swap(UNLOCKED, Ordering::Release) == CONTENDED {
            futex_wake(self.word(), 1);
        }
    }

    /// Waits for the lock and returns a guard that releases it (Python's `with lock:`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = threadkit::process::Lock::new().unwrap();
    /// {
    ///     let _g = lock.lock();
    ///     assert!(lock.locked());
    /// }
    /// assert!(!lock.locked());
    /// ```
    pub fn lock(&self) -> LockGuard<'_> {
        self.lock_until(None);
        LockGuard { lock: self }
    }

    /// Takes the lock if it is free, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = threadkit::process::Lock::new().unwrap();
    /// let g = lock.try_lock().unwrap();
    /// assert!(lock.try_lock().is_none());
    /// drop(g);
    /// ```
    pub fn try_lock(&self) -> Option<LockGuard<'_>> {
        self.try_acquire().then_some(LockGuard { lock: self })
    }

    /// Waits at most `timeout` for the lock; `Ok(None)` when it stayed taken.
    ///
    /// # Errors
    ///
    /// [`TimeoutOverflow`] for a timeout past the clock's range.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lock = threadkit::process::Lock::new().unwrap();
    /// let _g = lock.lock();
    /// assert!(lock.lock_timeout(Duration::from_millis(10)).unwrap().is_none());
    /// ```
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Option<LockGuard<'_>>, TimeoutOverflow> {
        let deadline = crate::time::deadline_after(timeout)?;
        Ok(self
            .lock_until(Some(deadline))
            .then_some(LockGuard { lock: self }))
    }

    /// Takes the lock, held until [`release`](Lock::release) (Python's `acquire()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = threadkit::process::Lock::new().unwrap();
    /// lock.acquire();
    /// lock.release().unwrap();
    /// ```
    pub fn acquire(&self) {
        self.lock_until(None);
    }

    /// Takes the lock if free (Python's `acquire(blocking=False)`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = threadkit::process::Lock::new().unwrap();
    /// assert!(lock.try_acquire());
    /// assert!(!lock.try_acquire());
    /// ```
    pub fn try_acquire(&self) -> bool {
        self.word()
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Waits at most `timeout` for the lock (Python's `acquire(timeout=t)`); `Ok(false)` when it
    /// stayed taken.
    ///
    /// # Errors
    ///
    /// [`TimeoutOverflow`] for a timeout past the clock's range.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lock = threadkit::process::Lock::new().unwrap();
    /// lock.acquire();
    /// // Not reentrant: a second acquire gives up after the timeout.
    /// assert_eq!(lock.acquire_timeout(Duration::from_millis(10)), Ok(false));
    /// lock.release().unwrap();
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool, TimeoutOverflow> {
        let deadline = crate::time::deadline_after(timeout)?;
        Ok(self.lock_until(Some(deadline)))
    }

    /// Releases a lock taken with [`acquire`](Lock::acquire), by this or any other process
    /// (Python's `release()`). Do not release a lock held through a [`LockGuard`].
    ///
    /// # Errors
    ///
    /// [`ReleaseError`] when the lock is not held ("semaphore or lock released too many
    /// times").
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = threadkit::process::Lock::new().unwrap();
    /// assert!(lock.release().is_err());
    /// ```
    pub fn release(&self) -> Result<(), ReleaseError> {
        if self.word().load(Ordering::Relaxed) == UNLOCKED {
            return Err(ReleaseError);
        }
        self.unlock();
        Ok(())
    }

    /// Whether some process holds the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = threadkit::process::Lock::new().unwrap();
    /// lock.acquire();
    /// assert!(lock.locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.word().load(Ordering::Relaxed) != UNLOCKED
    }

    /// Whether `self` and `other` are the same lock (clones of one handle).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = threadkit::process::Lock::new().unwrap();
    /// assert!(a.ptr_eq(&a.clone()));
    /// assert!(!a.ptr_eq(&threadkit::process::Lock::new().unwrap()));
    /// ```
    pub fn ptr_eq(&self, other: &Lock) -> bool {
        Arc::ptr_eq(&self.seg, &other.seg)
    }
}

impl Serialize for Lock {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        wire::serialize_fd(self.seg.fd(), s)
    }
}

impl<'de> Deserialize<'de> for Lock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Lock {
            seg: Arc::new(segment_from(d, 4)?),
        })
    }
}

/// An event flag shared by processes (Python's `multiprocessing.Event`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::process::{Event, Process};
///
/// fn waiter(e: Event) -> bool {
///     e.wait_timeout(Duration::from_secs(30)).unwrap()
/// }
///
/// threadkit::process::init();
/// let e = Event::new().unwrap();
/// let mut p = Process::spawn(waiter, e.clone()).unwrap();
/// e.set();
/// assert_eq!(p.join(), Ok(true));
/// ```
#[derive(Clone, Debug)]
pub struct Event {
    seg: Arc<Segment>,
}

impl Event {
    /// A new event, not set.
    ///
    /// # Errors
    ///
    /// The error of `memfd_create`/`mmap`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!threadkit::process::Event::new().unwrap().is_set());
    /// ```
    pub fn new() -> io::Result<Event> {
        Ok(Event {
            seg: Arc::new(Segment::new(4)?),
        })
    }

    /// The word: bit 0 is the flag, the rest counts `set()` calls (so that a `set()` followed at
    /// once by `clear()` still wakes the waiters of that moment, as Python's).
    fn word(&self) -> &AtomicU32 {
        self.seg.word(0)
    }

    /// Sets the flag and wakes every waiter, in every process.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = threadkit::process::Event::new().unwrap();
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    pub fn set(&self) {
        let w = self.word();
        let mut cur = w.load(Ordering::Relaxed);
        loop {
            if cur & 1 == 1 {
                return;
            }
            match w.compare_exchange_weak(
                cur,
                cur.wrapping_add(2) | 1,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        futex_wake(w, u32::MAX >> 1);
    }

    /// Clears the flag.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = threadkit::process::Event::new().unwrap();
    /// e.set();
    /// e.clear();
    /// assert!(!e.is_set());
    /// ```
    pub fn clear(&self) {
        self.word().fetch_and(!1, Ordering::Relaxed);
    }

    /// Whether the flag is set.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!threadkit::process::Event::new().unwrap().is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.word().load(Ordering::Acquire) & 1 == 1
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let w = self.word();
        let start = w.load(Ordering::Acquire);
        if start & 1 == 1 {
            return true;
        }
        loop {
            futex_wait(w, start, deadline);
            let now = w.load(Ordering::Acquire);
            if now & 1 == 1 || (now >> 1) != (start >> 1) {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
        }
    }

    /// Waits until the flag is set (Python's `wait()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = threadkit::process::Event::new().unwrap();
    /// e.set();
    /// e.wait();
    /// ```
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Waits at most `timeout` (Python's `wait(timeout)`): `Ok(true)` when the flag was set.
    ///
    /// # Errors
    ///
    /// [`TimeoutOverflow`] for a timeout past the clock's range.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let e = threadkit::process::Event::new().unwrap();
    /// assert_eq!(e.wait_timeout(Duration::from_millis(10)), Ok(false));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, TimeoutOverflow> {
        let deadline = crate::time::deadline_after(timeout)?;
        Ok(self.wait_until(Some(deadline)))
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        wire::serialize_fd(self.seg.fd(), s)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Event {
            seg: Arc::new(segment_from(d, 4)?),
        })
    }
}
