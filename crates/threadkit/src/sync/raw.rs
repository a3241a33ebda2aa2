//! The raw layer (DESIGN.md convention 1): lock state and the unsafe unlock, no data.
//!
//! * [`RawMutex`] is the swap point: on Linux our own futex word (the shape of std's mutex, with
//!   a parking_lot-style spin), elsewhere `parking_lot::RawMutex`, and under `--cfg loom` a model
//!   built on loom's `Mutex<bool>` + `Condvar`, so the loom tests in `tests/loom_sync.rs` check the
//!   logic of [`RawLock`] and [`RawRLock`] on top of it.
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

#[cfg(all(not(loom), target_os = "linux"))]
mod mutex {
    use crate::time::Wait;
    use rustix::thread::futex;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Instant;

    /// Free.
    const UNLOCKED: u32 = 0;
    /// Held, and no thread is (or may be) sleeping on the word: unlocking needs no system call.
    const LOCKED: u32 = 1;
    /// Held, and some thread may be sleeping on the word: unlocking wakes one.
    const CONTENDED: u32 = 2;

    /// A mutex on one futex word (Ulrich Drepper's "Futexes Are Tricky" mutex 2, the shape of
    /// std's Linux mutex): lock is one compare-exchange, unlock one swap, and the kernel is only
    /// entered when a thread has to sleep or has to be woken.
    ///
    /// It records no owner, so unlocking it from another thread than the one that locked it is
    /// fine (Python's `Lock.release()` from any thread relies on that). It is not
    /// eventually-fair: an unlocking thread may take the lock straight back (barging) ahead of
    /// a woken waiter, as with std's mutex; parking_lot's hand-off after 0.5 ms of unfairness
    /// is not reproduced (see docs/architecture.md, "lock11").
    pub(crate) struct RawMutex {
        state: AtomicU32,
    }

    impl std::fmt::Debug for RawMutex {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("RawMutex")
                .field("locked", &self.is_locked())
                .finish()
        }
    }

    impl RawMutex {
        pub(crate) const fn new() -> Self {
            RawMutex {
                state: AtomicU32::new(UNLOCKED),
            }
        }

        #[inline]
        pub(crate) fn lock(&self, wait: Wait) -> bool {
            // A strong exchange: `Wait::No` must not fail spuriously on a free lock.
            if self
                .state
                .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return true;
            }
            self.lock_contended(wait)
        }

        #[cold]
        #[inline(never)]
        fn lock_contended(&self, wait: Wait) -> bool {
            let deadline = match wait {
                Wait::No => return false,
                Wait::Forever => None,
                Wait::Until(deadline) => Some(deadline),
            };
            let mut state = self.spin();
            if state == UNLOCKED {
                match self.state.compare_exchange(
                    UNLOCKED,
                    LOCKED,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(s) => state = s,
                }
            }
            loop {
                // Take the lock marked as contended: we cannot know whether other threads
                // sleep on it, so our unlock will wake one (at worst a needless wake).
                if state != CONTENDED && self.state.swap(CONTENDED, Ordering::Acquire) == UNLOCKED {
                    return true;
                }
                // The word is CONTENDED now, so the holder's unlock will wake a sleeper.
                // Every way out of the wait (woken, timed out, interrupted, the word already
                // changed) tries to take the lock again before giving up on the deadline, so
                // a wake-up consumed by this thread is never lost to the other waiters: if we
                // do not take the lock, someone holds it with the word at CONTENDED.
                let timeout = match deadline {
                    None => None,
                    Some(deadline) => {
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            return false;
                        }
                        // Only a wait of more than 2^63 s does not fit: sleep untimed then
                        // (the deadline is re-checked after every wake-up).
                        futex::Timespec::try_from(left).ok()
                    }
                };
                // Errors are EAGAIN (the word is not CONTENDED any more), EINTR and ETIMEDOUT:
                // all mean "look at the word again".
                let _ = futex::wait(
                    &self.state,
                    futex::Flags::PRIVATE,
                    CONTENDED,
                    timeout.as_ref(),
                );
                state = self.spin();
            }
        }

        /// parking_lot's `SpinWait` while the lock is held by a thread with nobody sleeping
        /// (it is likely to be released soon): 3 rounds of 2, 4 and 8 pause instructions,
        /// then up to 7 `yield_now`s (which let the holder run on a loaded machine). Stops at
        /// once when the word is free or CONTENDED (others already sleep: join them).
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
                self.wake_one();
            }
        }

        #[cold]
        #[inline(never)]
        fn wake_one(&self) {
            // Cannot fail on a valid address; the count of woken threads is not needed.
            let _ = futex::wake(&self.state, futex::Flags::PRIVATE, 1);
        }

        #[inline]
        pub(crate) fn is_locked(&self) -> bool {
            self.state.load(Ordering::Relaxed) != UNLOCKED
        }
    }
}

#[cfg(all(not(loom), not(target_os = "linux")))]
mod mutex {
    use crate::time::Wait;
    use lock_api::{RawMutex as _, RawMutexTimed as _};

    /// parking_lot's one-byte mutex. It records no owner, so unlocking it from another thread
    /// than the one that locked it is supported by this implementation (parking_lot's
    /// `send_guard` feature relies on exactly that).
    pub(crate) struct RawMutex(parking_lot::RawMutex);

    impl std::fmt::Debug for RawMutex {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("RawMutex")
                .field("locked", &self.is_locked())
                .finish()
        }
    }

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
