//! The raw layer (DESIGN.md convention 1): lock state and the unsafe unlock, no data.
//!
//! * [`RawMutex`] is the swap point: on Linux a futex word of our own (std's design: states
//!   0/1/2, unlock by swap, a short spin, then `FUTEX_WAIT`), elsewhere `parking_lot::RawMutex`,
//!   and under `--cfg loom` a model built on loom's `Mutex<bool>` + `Condvar`, so the loom tests
//!   in `tests/loom_sync.rs` check the logic of [`RawLock`] and [`RawRLock`] on top of it.
//! * [`RawLock`] is `threading.Lock`: a raw mutex plus the "held without a guard" flag that makes
//!   Python's explicit `release()` sound.
//! * [`RawRLock`] is `threading.RLock`: a raw mutex plus owner and counts.
//!
//! Every acquisition of a [`RawLock`] goes through [`RawLock::acquire`] and every release through
//! [`RawLock::unlock`] (the same for [`RawRLock`]), so that the deadlock detector (feature
//! `deadlock-detection`) has one place per lock type to hook.

#[cfg(feature = "deadlock-detection")]
use super::deadlock;
use crate::primitive::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use crate::primitive::thread_token;
use crate::time::Wait;

#[cfg(all(not(loom), not(target_os = "linux")))]
mod mutex {
    use crate::time::Wait;
    use lock_api::{RawMutex as _, RawMutexTimed as _};

    /// parking_lot's one-byte mutex. It records no owner, so unlocking it from another thread
    /// than the one that locked it is supported by this implementation (parking_lot's
    /// `send_guard` feature relies on exactly that).
    pub(crate) struct RawMutex(parking_lot::RawMutex);

    impl RawMutex {
        pub(crate) const fn new() -> Self {
            RawMutex(parking_lot::RawMutex::INIT)
        }
        #[inline]
        pub(crate) fn lock(&self, wait: Wait) -> bool {
            match wait {
                Wait::Forever => {
                    self.0.lock();
                    true
                }
                Wait::No => self.0.try_lock(),
                Wait::Until(deadline) => self.0.try_lock_until(deadline),
            }
        }
        /// # Safety
        ///
        /// The mutex must be locked, and the caller must own that locked state (no guard or
        /// other party will unlock it too).
        #[inline]
        pub(crate) unsafe fn unlock(&self) {
            // SAFETY: forwarded from the caller's contract.
            unsafe { self.0.unlock() }
        }
        #[inline]
        pub(crate) fn is_locked(&self) -> bool {
            self.0.is_locked()
        }
    }
}

/// The Linux mutex: one `AtomicU32` and the futex system call, as std's own `Mutex` on Linux.
///
/// Why not parking_lot's (used elsewhere): uncontended, a lock and unlock of parking_lot's
/// `RawMutex` plus our `Lock`'s own bookkeeping measured 1.06-1.18 x std's `Mutex`
/// (`lock_uncontended`); parking_lot's unlock is a compare-exchange that must check for parked
/// threads and its lock keeps the state of a fair hand-off. This word is 0 (unlocked), 1
/// (locked) or 2 (locked, maybe with sleepers); unlocking is one swap, and a system call only
/// when the old state was 2. Not eventually fair (parking_lot hands the lock to a sleeper
/// every 0.5 ms; here a thread that unlocks and locks again in a loop may keep winning),
/// which is what std's `Mutex` and Python's `Lock` promise too: nothing.
#[cfg(all(not(loom), target_os = "linux"))]
mod mutex {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Instant;

    use rustix::thread::futex;

    use crate::time::Wait;

    const UNLOCKED: u32 = 0;
    const LOCKED: u32 = 1;
    /// Locked, and a thread may be sleeping in `FUTEX_WAIT` (or about to): the unlock wakes one.
    const CONTENDED: u32 = 2;

    /// The mutex word. It records no owner, so unlocking it from another thread than the one
    /// that locked it is supported (a `Lock` released by another thread, as Python allows).
    pub(crate) struct RawMutex {
        /// `pub(super)`: the tests watch it to know a waiter sleeps.
        pub(super) state: AtomicU32,
    }

    impl RawMutex {
        pub(crate) const fn new() -> Self {
            RawMutex {
                state: AtomicU32::new(UNLOCKED),
            }
        }

        #[inline]
        pub(crate) fn lock(&self, wait: Wait) -> bool {
            if self
                .state
                .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return true;
            }
            match wait {
                Wait::No => false,
                Wait::Forever => self.lock_contended(None),
                Wait::Until(deadline) => self.lock_contended(Some(deadline)),
            }
        }

        /// The slow path: spin a little, then mark the word contended and sleep on it until
        /// the swap that marks it finds it unlocked, or the deadline passes.
        #[cold]
        fn lock_contended(&self, deadline: Option<Instant>) -> bool {
            let mut state = self.spin();
            if state == UNLOCKED {
                match self.state.compare_exchange(
                    UNLOCKED,
                    LOCKED,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(now) => state = now,
                }
            }
            loop {
                // Taking it with state 2 is conservative: another sleeper may exist, so the
                // unlock must wake one (at worst a wake-up finds no one).
                if state != CONTENDED && self.state.swap(CONTENDED, Ordering::Acquire) == UNLOCKED {
                    return true;
                }
                let timeout = match deadline {
                    None => None,
                    Some(d) => {
                        let now = Instant::now();
                        if now >= d {
                            return false;
                        }
                        let left = d - now;
                        Some(futex::Timespec {
                            // Any wait longer than 68 years is cut there and waited again.
                            tv_sec: left.as_secs().min(i32::MAX as u64) as i64,
                            tv_nsec: i64::from(left.subsec_nanos()),
                        })
                    }
                };
                // Sleeps only while the word is still 2. Returns on a wake-up, a change of the
                // word (EAGAIN), a signal (EINTR) or the timeout (ETIMEDOUT): each is handled by
                // looking at the word and the deadline again.
                let _ = futex::wait(
                    &self.state,
                    futex::Flags::PRIVATE,
                    CONTENDED,
                    timeout.as_ref(),
                );
                state = self.spin();
            }
        }

        /// Waits a little while the word is plainly locked (a holder about to unlock), as
        /// parking_lot's `SpinWait`: 3 rounds of 2, 4 and 8 pauses, then up to 7 `yield_now`s;
        /// returns the word as last seen (at once when it is free or already contended: others
        /// sleep, join them). The backoff and the yields matter under contention on few cores:
        /// std's spin of 100 plain loads made `lock_contended` (2 threads, 2 cores) 2.4 x
        /// parking_lot's time in a full run, this one keeps it level (docs/architecture.md).
        fn spin(&self) -> u32 {
            let mut round = 0u32;
            loop {
                let state = self.state.load(Ordering::Relaxed);
                if state != LOCKED || round == 10 {
                    return state;
                }
                round += 1;
                if round <= 3 {
                    for _ in 0..(1u32 << round) {
                        std::hint::spin_loop();
                    }
                } else {
                    std::thread::yield_now();
                }
            }
        }

        /// # Safety
        ///
        /// The mutex must be locked, and the caller must own that locked state (no guard or
        /// other party will unlock it too).
        #[inline]
        pub(crate) unsafe fn unlock(&self) {
            if self.state.swap(UNLOCKED, Ordering::Release) == CONTENDED {
                self.wake();
            }
        }

        #[cold]
        fn wake(&self) {
            // An error here (none is documented for a valid private word) wakes no one; the
            // next unlock of a contended word tries again, and a timed waiter wakes by itself.
            let _ = futex::wake(&self.state, futex::Flags::PRIVATE, 1);
        }

        #[inline]
        pub(crate) fn is_locked(&self) -> bool {
            self.state.load(Ordering::Relaxed) != UNLOCKED
        }
    }
}

#[cfg(loom)]
mod mutex {
    use crate::primitive::{Condvar, Mutex};
    use crate::time::Wait;

    /// A model of parking_lot's raw mutex on loom's primitives (timed waits are not modelled:
    /// `Wait::Until` waits like `Wait::Forever`).
    #[derive(Debug)]
    pub(crate) struct RawMutex {
        locked: Mutex<bool>,
        cv: Condvar,
    }

    impl RawMutex {
        pub(crate) fn new() -> Self {
            RawMutex {
                locked: Mutex::new(false),
                cv: Condvar::new(),
            }
        }
        pub(crate) fn lock(&self, wait: Wait) -> bool {
            let mut g = self.locked.lock();
            if matches!(wait, Wait::No) && *g {
                return false;
            }
            while *g {
                self.cv.wait(&mut g);
            }
            *g = true;
            true
        }
        /// # Safety
        ///
        /// The mutex must be locked and the caller must own that locked state.
        pub(crate) unsafe fn unlock(&self) {
            let mut g = self.locked.lock();
            assert!(*g, "unlock of an unlocked RawMutex");
            *g = false;
            drop(g);
            self.cv.notify_one();
        }
        pub(crate) fn is_locked(&self) -> bool {
            *self.locked.lock()
        }
    }
}

pub(crate) use mutex::RawMutex;

/// Whether it is locked, the one state both mutexes outside loom show (the loom model derives).
#[cfg(not(loom))]
impl std::fmt::Debug for RawMutex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawMutex")
            .field("locked", &self.is_locked())
            .finish()
    }
}

/// The state of a `threading.Lock`: a raw mutex and whether it is held *without* a guard.
///
/// A [`Lock`](super::Lock) is held either by a guard (`lock()`, `try_lock()`, ...) or "detached"
/// (`acquire()`, Python's style). `detached` is set by the acquirer right after locking and is
/// cleared by `release()` with a compare-exchange; only the thread that wins the exchange
/// unlocks, so two concurrent `release()` calls can never both unlock, and a lock held by a guard
/// (flag clear) can never be unlocked by `release()` under the guard's feet.
#[derive(Debug)]
pub(crate) struct RawLock {
    mutex: RawMutex,
    detached: AtomicBool,
    #[cfg(feature = "deadlock-detection")]
    meta: deadlock::LockMeta,
}

impl RawLock {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        RawLock {
            mutex: RawMutex::new(),
            detached: AtomicBool::new(false),
            #[cfg(feature = "deadlock-detection")]
            meta: deadlock::LockMeta::new(),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        RawLock {
            mutex: RawMutex::new(),
            detached: AtomicBool::new(false),
            #[cfg(feature = "deadlock-detection")]
            meta: deadlock::LockMeta::new(),
        }
    }

    /// THE acquire path of `Lock` (guards, `acquire()`, and a `Condition` re-acquiring).
    #[inline]
    #[track_caller]
    pub(crate) fn acquire(&self, wait: Wait) -> bool {
        #[cfg(not(feature = "deadlock-detection"))]
        return self.mutex.lock(wait);
        #[cfg(feature = "deadlock-detection")]
        return deadlock::acquire(&self.meta, deadlock::ResourceKind::Lock, wait, |w| {
            self.mutex.lock(w)
        });
    }

    /// Takes the lock back for a `Condition` after a wait. Never returns or unwinds without
    /// the lock (whatever the deadlock detector's reaction or report callback does), because
    /// the caller's guard stays alive and will unlock it.
    #[inline]
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub(crate) fn acquire_restore(&self) {
        #[cfg(not(feature = "deadlock-detection"))]
        self.mutex.lock(Wait::Forever);
        #[cfg(feature = "deadlock-detection")]
        deadlock::restore(&self.meta, deadlock::ResourceKind::Lock, |w| {
            self.mutex.lock(w)
        });
    }

    /// Marks the (just acquired) lock as held without a guard.
    #[inline]
    pub(crate) fn detach(&self) {
        self.detached.store(true, Ordering::Release);
    }

    /// Python's `release()`: unlocks only a lock held without a guard, exactly once.
    pub(crate) fn release_detached(&self) -> bool {
        if self
            .detached
            .compare_exchange(true, false, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            // SAFETY: the flag was set by the acquirer after locking and only one caller can
            // win the exchange, so this call owns the locked state and unlocks it once.
            unsafe { self.unlock() };
            true
        } else {
            false
        }
    }

    /// THE release path of `Lock`.
    ///
    /// # Safety
    ///
    /// The lock must be held and the caller must own that hold (a guard being dropped, the
    /// winner of `release_detached`, or a `Condition` that took the hold over from a guard).
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        #[cfg(feature = "deadlock-detection")]
        deadlock::release(&self.meta);
        // SAFETY: forwarded from the caller's contract.
        unsafe { self.mutex.unlock() }
    }

    #[inline]
    pub(crate) fn is_locked(&self) -> bool {
        self.mutex.is_locked()
    }

    /// The detector's name for this lock.
    #[cfg(feature = "deadlock-detection")]
    pub(crate) fn resource(&self) -> deadlock::Resource {
        deadlock::Resource {
            kind: deadlock::ResourceKind::Lock,
            id: self.meta.id(),
        }
    }
}

/// What a `Condition` saves of an [`RawRLock`] while waiting (Python's `_release_save`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RSaved {
    count: usize,
    detached: usize,
}

/// The state of a `threading.RLock`: a raw mutex, the owner's thread token (0 = none), the
/// recursion count, and how many of those levels were taken with `acquire()` rather than by a
/// guard (only those may be given back with `release()`).
///
/// `count` and `detached` are only read or written by the owner thread; they are atomics with
/// relaxed ordering only so that the type is `Sync` (the mutex orders them between owners).
#[derive(Debug)]
pub(crate) struct RawRLock {
    mutex: RawMutex,
    owner: AtomicU64,
    count: AtomicUsize,
    detached: AtomicUsize,
    #[cfg(feature = "deadlock-detection")]
    meta: deadlock::LockMeta,
}

impl RawRLock {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        RawRLock {
            mutex: RawMutex::new(),
            owner: AtomicU64::new(0),
            count: AtomicUsize::new(0),
            detached: AtomicUsize::new(0),
            #[cfg(feature = "deadlock-detection")]
            meta: deadlock::LockMeta::new(),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        RawRLock {
            mutex: RawMutex::new(),
            owner: AtomicU64::new(0),
            count: AtomicUsize::new(0),
            detached: AtomicUsize::new(0),
            #[cfg(feature = "deadlock-detection")]
            meta: deadlock::LockMeta::new(),
        }
    }

    /// Whether the calling thread holds the lock.
    #[inline]
    pub(crate) fn is_owned(&self) -> bool {
        self.owner.load(Ordering::Relaxed) == thread_token()
    }

    /// THE acquire path of `RLock`: one more level, counted as detached when `detached`.
    ///
    /// # Panics
    ///
    /// When the recursion count would overflow `usize`.
    #[inline]
    #[track_caller]
    pub(crate) fn acquire(&self, wait: Wait, detached: bool) -> bool {
        let me = thread_token();
        if self.owner.load(Ordering::Relaxed) == me {
            let c = self.count.load(Ordering::Relaxed);
            let c = c.checked_add(1).expect("RLock recursion count overflow");
            self.count.store(c, Ordering::Relaxed);
        } else {
            #[cfg(not(feature = "deadlock-detection"))]
            let got = self.mutex.lock(wait);
            #[cfg(feature = "deadlock-detection")]
            let got = deadlock::acquire(&self.meta, deadlock::ResourceKind::RLock, wait, |w| {
                self.mutex.lock(w)
            });
            if !got {
                return false;
            }
            self.owner.store(me, Ordering::Relaxed);
            self.count.store(1, Ordering::Relaxed);
        }
        if detached {
            let d = self.detached.load(Ordering::Relaxed);
            self.detached.store(d + 1, Ordering::Relaxed);
        }
        true
    }

    /// Python's `release()`: gives back one level taken with `acquire()`. False when the caller
    /// is not the owner or holds no such level.
    pub(crate) fn release_detached(&self) -> bool {
        if !self.is_owned() {
            return false;
        }
        let d = self.detached.load(Ordering::Relaxed);
        if d == 0 {
            return false;
        }
        self.detached.store(d - 1, Ordering::Relaxed);
        // SAFETY: the caller owns the lock and one of its levels (a detached one).
        unsafe { self.unlock() };
        true
    }

    /// THE release path of `RLock`: gives back one level.
    ///
    /// # Safety
    ///
    /// The calling thread must own the lock and the level being given back (a guard being
    /// dropped, or `release_detached` after its checks).
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        let c = self.count.load(Ordering::Relaxed) - 1;
        self.count.store(c, Ordering::Relaxed);
        if c == 0 {
            #[cfg(feature = "deadlock-detection")]
            deadlock::release(&self.meta);
            self.owner.store(0, Ordering::Relaxed);
            // SAFETY: the count reached zero, so the caller gives up the last level it owns.
            unsafe { self.mutex.unlock() };
        }
    }

    /// Releases every level at once and returns them (Python's `_release_save`).
    ///
    /// # Safety
    ///
    /// The calling thread must own the lock, and no reference obtained through any of its
    /// levels may be used until [`acquire_restore`](Self::acquire_restore).
    pub(crate) unsafe fn release_save(&self) -> RSaved {
        let saved = RSaved {
            count: self.count.load(Ordering::Relaxed),
            detached: self.detached.load(Ordering::Relaxed),
        };
        self.count.store(1, Ordering::Relaxed);
        self.detached.store(0, Ordering::Relaxed);
        // SAFETY: the caller owns the lock; with the count set to one this gives up all of it.
        unsafe { self.unlock() };
        saved
    }

    /// Takes the lock again with the levels [`release_save`](Self::release_save) returned.
    ///
    /// Never returns or unwinds without the lock: the owner and the levels are restored in
    /// the same step as the mutex is taken, before the deadlock detector (feature
    /// `deadlock-detection`) reports anything, so a report that unwinds leaves the lock
    /// consistently owned by this thread, for the caller's guard to give back.
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub(crate) fn acquire_restore(&self, saved: RSaved) {
        let me = thread_token();
        let take = |w: Wait| {
            let got = self.mutex.lock(w);
            if got {
                self.owner.store(me, Ordering::Relaxed);
                self.count.store(saved.count, Ordering::Relaxed);
                self.detached.store(saved.detached, Ordering::Relaxed);
            }
            got
        };
        #[cfg(not(feature = "deadlock-detection"))]
        take(Wait::Forever);
        #[cfg(feature = "deadlock-detection")]
        deadlock::restore(&self.meta, deadlock::ResourceKind::RLock, take);
    }

    #[inline]
    pub(crate) fn is_locked(&self) -> bool {
        self.mutex.is_locked()
    }

    /// The detector's name for this lock.
    #[cfg(feature = "deadlock-detection")]
    pub(crate) fn resource(&self) -> deadlock::Resource {
        deadlock::Resource {
            kind: deadlock::ResourceKind::RLock,
            id: self.meta.id(),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use super::RawMutex;
    use crate::time::Wait;

    use crate::test_util::stress;

    #[test]
    fn every_increment_under_the_mutex_is_kept_with_forever_timed_and_try_locks() {
        let m = RawMutex::new();
        let inside = AtomicBool::new(false);
        let count = AtomicU64::new(0);
        let per = 20_000 * stress() as u64;
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (m, inside, count) = (&m, &inside, &count);
                s.spawn(move || {
                    let mut done = 0;
                    while done < per {
                        let wait = match (t + done) % 3 {
                            0 => Wait::Forever,
                            1 => Wait::Until(Instant::now() + Duration::from_secs(600)),
                            _ => Wait::No,
                        };
                        if !m.lock(wait) {
                            continue;
                        }
                        // Mutual exclusion: no one else is inside.
                        assert!(!inside.swap(true, Ordering::Relaxed));
                        count.store(count.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                        inside.store(false, Ordering::Relaxed);
                        // SAFETY: locked just above by this thread, unlocked once.
                        unsafe { m.unlock() };
                        done += 1;
                    }
                });
            }
        });
        assert_eq!(count.load(Ordering::Relaxed), 4 * per);
        assert!(!m.is_locked());
    }

    #[test]
    fn a_timed_lock_of_a_held_mutex_gives_up_at_its_deadline_and_the_mutex_stays_usable() {
        let m = RawMutex::new();
        assert!(m.lock(Wait::Forever));
        let start = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(!m.lock(Wait::Until(Instant::now() + Duration::from_millis(50))));
                assert!(!m.lock(Wait::No));
            });
        });
        assert!(start.elapsed() >= Duration::from_millis(50));
        assert!(m.is_locked());
        // SAFETY: locked above by this thread.
        unsafe { m.unlock() };
        assert!(m.lock(Wait::No));
        // SAFETY: locked just above.
        unsafe { m.unlock() };
        assert!(!m.is_locked());
    }

    #[test]
    fn a_sleeping_locker_is_woken_by_an_unlock_from_another_thread() {
        let m = RawMutex::new();
        assert!(m.lock(Wait::Forever));
        let got = AtomicBool::new(false);
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                // A deadline far away: the wait must end by the unlock, not by the clock.
                assert!(m.lock(Wait::Until(Instant::now() + Duration::from_secs(3600))));
                got.store(true, Ordering::SeqCst);
                // SAFETY: locked just above by this thread.
                unsafe { m.unlock() };
            });
            // Wait until the waiter has marked the word contended (it sleeps then), without
            // sleeping as synchronisation: the unlock below must wake it.
            #[cfg(target_os = "linux")]
            while m.state.load(Ordering::SeqCst) != 2 {
                std::thread::yield_now();
            }
            assert!(!got.load(Ordering::SeqCst));
            // SAFETY: locked by this thread above; unlocking it here, on another thread than
            // the waiter's, is what a Python `Lock.release()` from any thread does.
            unsafe { m.unlock() };
            waiter.join().unwrap();
        });
        assert!(got.load(Ordering::SeqCst));
        assert!(!m.is_locked());
    }

    #[test]
    fn a_deadline_beyond_what_the_kernel_takes_still_waits_for_the_unlock() {
        let m = RawMutex::new();
        assert!(m.lock(Wait::Forever));
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let far = Instant::now() + Duration::from_secs(u64::from(u32::MAX) * 16);
                assert!(m.lock(Wait::Until(far)));
                // SAFETY: locked just above by this thread.
                unsafe { m.unlock() };
            });
            #[cfg(target_os = "linux")]
            while m.state.load(Ordering::SeqCst) != 2 {
                std::thread::yield_now();
            }
            // SAFETY: locked by this thread above.
            unsafe { m.unlock() };
            waiter.join().unwrap();
        });
    }
}
