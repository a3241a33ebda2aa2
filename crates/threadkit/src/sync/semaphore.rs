//! `threading.Semaphore` and `threading.BoundedSemaphore`, with an RAII [`Permit`].

use super::park::{Lot, Parked};
#[cfg(loom)]
use crate::primitive::atomic::fence;
use crate::primitive::atomic::{AtomicUsize, Ordering};
use crate::time::{deadline_after, TimeoutOverflow};
use crossbeam_utils::CachePadded;
use std::fmt;
use std::time::{Duration, Instant};

/// The largest value a semaphore can hold: `isize::MAX / 2` (over 4.6 * 10^18).
///
/// A release that would take the value over it fails with
/// [`SemaphoreReleaseError::Overflow`] and changes nothing. (A [`Semaphore`] keeps some of its
/// units in per-CPU shards, at most 65,536 in each; releases racing each other on different
/// CPUs right at the limit may pass it by that many units per shard, never enough to come
/// near wrapping.)
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

/// The central word's bit saying threads may be parked on it (set by parkers under the
/// parking lot's queue lock, cleared under that lock when the last one leaves, see [`Core`]).
const PARKED: usize = 1;
/// One unit in the central word (`value << 1 | PARKED`).
const ONE: usize = 2;
/// The most units one shard holds. A release to a full shard goes to the central word. (One in
/// loom models, so that they reach the central word's paths with a handful of units.)
const SHARD_CAP: usize = if cfg!(loom) { 1 } else { 1 << 16 };
/// The most shards a [`Semaphore`] has (fewer on machines with fewer CPUs).
const MAX_SHARDS: usize = 16;
/// A release goes to a shard only while the central word holds at most this many units, so
/// that the shards (at most `MAX_SHARDS * SHARD_CAP` units) cannot take the value over
/// [`SEMAPHORE_VALUE_MAX`]; above it every release goes through the exact check of
/// [`Core::add_checked`].
const GATE: usize = SEMAPHORE_VALUE_MAX - MAX_SHARDS * SHARD_CAP;

/// The shared core: the units, counted in a central word and (for a [`Semaphore`]) in per-CPU
/// shards, and parking (parking_lot_core's, keyed on the central word's address:
/// `sync/park.rs`) for those who wait.
///
/// * The value is the central word's count plus the shards' counts. Each unit is in exactly
///   one of those words or held by a thread: the one that took it, or one moving spare units
///   to its own shard. A take subtracts one from a word that holds one (compare-and-swap,
///   never below zero) or empties another shard (one swap, see
///   [`try_take_elsewhere`](Core::try_take_elsewhere)); a release adds to one word. Nothing
///   else counts units, so none can be lost or made up.
/// * A [`BoundedSemaphore`] has no shards: its bound check must see the exact value.
/// * A [`Semaphore`] has a shard per CPU (up to [`MAX_SHARDS`]; each on its own cache line).
///   A thread takes from its CPU's shard first, then the central word, then the other shards
///   (all of one's units at once, keeping one and moving the rest to its own shard);
///   `release()` adds to its CPU's shard (while that holds under [`SHARD_CAP`] and the central
///   word is under [`GATE`]), anything else goes to the central word after the exact checks.
///   Threads that acquire and release on the same CPU therefore touch only their CPU's cache
///   line: two or more CPUs cycling through a semaphore no longer pass one line back and forth
///   on every operation.
/// * An acquirer that finds no unit spins a little (parking_lot's `SpinWait`: 3 rounds of 2, 4
///   and 8 pauses, then yields) unless threads are parked already, trying to take a unit each
///   round; then it parks. Under the queue's lock `validate` sets `PARKED` in the central word
///   with a `SeqCst` read-modify-write, then looks at every shard with `SeqCst` loads: if a
///   unit is there, the thread does not sleep and tries again.
/// * A release to the central word reads `PARKED` in the same read-modify-write that adds its
///   units; a release to a shard adds with a `SeqCst` read-modify-write and then reads the
///   central word with a `SeqCst` load. All four are in the single total order of `SeqCst`
///   operations: if the releaser's load misses the parker's mark, it comes before the mark in
///   that order, so the add comes before the parker's look, which therefore sees the unit
///   (the store-buffering pattern, which `SeqCst` rules out). Either the parker sees the unit
///   or the releaser sees `PARKED` and wakes a parked thread: no wake-up is lost. (In loom
///   models [`dekker_fence`] stands in for the total order.) The bit is cleared only under
///   the queue's lock when no thread is left parked.
/// * A woken thread tries again from the top. A running thread may take the unit first
///   ("barging"): the woken one then parks again. Python promises no wake-up order ("the
///   order in which threads are awoken should not be relied on"); letting a running thread
///   take a free unit keeps the units in use instead of idle while a sleeper wakes up.
/// * A timed wait that expires is dequeued under the lock (`timed_out` clears `PARKED` if it
///   was the last), then tries once more to take a unit, as Python looks at the value once
///   more after its wait times out.
/// * `try_acquire` looks at each word once. While other threads move units between words (a
///   unit taken from one shard and released to another behind the look) it may find none
///   although the value never was zero, as C++20's `counting_semaphore::try_acquire` may;
///   a blocking or timed acquire parks only after the marked look above, so it cannot miss a
///   unit for good.
///
/// Cache-line aligned: for a [`BoundedSemaphore`] the word is hammered by every thread and
/// must not share a line with neighbouring data nor straddle two lines.
#[derive(Debug)]
#[repr(align(64))]
struct Core {
    /// The central word: `value << 1 | PARKED`.
    state: AtomicUsize,
    /// Per-CPU counts of units (a power of two of them; none for a bounded semaphore).
    shards: Box<[CachePadded<AtomicUsize>]>,
    /// Where waiters sleep (empty outside loom models).
    lot: Lot,
    bound: Option<usize>,
    #[cfg(feature = "deadlock-detection")]
    id: super::deadlock::ResourceId,
}

/// Nothing in a normal build: there the `SeqCst` accesses of the parker's mark-then-look and
/// of a shard release's add-then-look are in one total order, which is what rules out both
/// missing each other (see [`Core`]), and on x86 a `SeqCst` load is a plain load. loom
/// models `SeqCst` accesses as acquire/release only (its documented limit), so in models a
/// `SeqCst` fence between each pair's two accesses gives the same guarantee; taking either
/// fence out makes three semaphore models deadlock.
#[inline]
fn dekker_fence() {
    #[cfg(loom)]
    fence(Ordering::SeqCst);
}

/// Takes one `unit` from `word` if it holds one.
#[inline]
fn take_from(word: &AtomicUsize, unit: usize) -> bool {
    let mut cur = word.load(Ordering::Relaxed);
    while cur >= unit {
        match word.compare_exchange_weak(cur, cur - unit, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(now) => cur = now,
        }
    }
    false
}

/// How many shards a [`Semaphore`] gets: the CPUs threadkit may run on, up to
/// [`MAX_SHARDS`], rounded up to a power of two (computed once).
#[cfg(not(loom))]
fn shard_count() -> usize {
    static COUNT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *COUNT.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .min(MAX_SHARDS)
            .next_power_of_two()
    })
}

/// Two shards in loom models, so that they cover units moving between shards.
#[cfg(loom)]
fn shard_count() -> usize {
    2
}

/// The CPU the calling thread runs on (any number will do: it only picks a shard).
#[cfg(all(not(loom), target_os = "linux"))]
#[inline]
fn current_cpu() -> usize {
    // SAFETY: `sched_getcpu` takes no arguments and writes no memory of ours (glibc reads the
    // thread's rseq area or calls the vDSO); it returns -1 on failure, which picks some shard
    // all the same. A C function does not unwind.
    let cpu = unsafe { libc::sched_getcpu() };
    cpu as usize
}

/// Elsewhere a number fixed per thread stands in for the CPU.
#[cfg(all(not(loom), not(target_os = "linux")))]
#[inline]
fn current_cpu() -> usize {
    crate::primitive::thread_token() as usize
}

/// In loom models the modelled thread's index (the main thread is 0, then 1, 2...), so that a
/// model decides which threads share a shard.
#[cfg(loom)]
fn current_cpu() -> usize {
    let id = format!("{:?}", loom::thread::current().id());
    id.trim_start_matches("ThreadId(")
        .trim_end_matches(')')
        .parse()
        .unwrap_or(0)
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
        let count = if bound.is_some() { 0 } else { shard_count() };
        // The units spread over the shards (up to their cap), the rest in the central word.
        let mut rest = value;
        let shards = (0..count)
            .map(|i| {
                let share = rest.div_ceil(count - i).min(SHARD_CAP);
                rest -= share;
                CachePadded::new(AtomicUsize::new(share))
            })
            .collect();
        Core {
            state: AtomicUsize::new(rest << 1),
            shards,
            lot: Lot::new(),
            bound,
            #[cfg(feature = "deadlock-detection")]
            id: super::deadlock::ResourceId::new(),
        }
    }

    /// The parking key: the central word's address.
    fn key(&self) -> usize {
        std::ptr::from_ref(&self.state) as usize
    }

    /// The index of the calling thread's shard (there is at least one).
    #[inline]
    fn home(&self) -> usize {
        current_cpu() & (self.shards.len() - 1)
    }

    /// Takes a free unit if there is one: the caller's shard, the central word, the other
    /// shards.
    #[inline]
    fn try_take(&self) -> bool {
        if self.shards.is_empty() {
            return take_from(&self.state, ONE);
        }
        let home = self.home();
        take_from(&self.shards[home], 1) || self.try_take_elsewhere(home)
    }

    /// The central word, then the shards other than `home`. From another shard it takes all
    /// the units there (one swap, which no releaser on that shard can make fail), keeps one and
    /// moves the rest to `home`: a thread that keeps finding its units released on another
    /// CPU (a consumer fed by a producer) then takes most of them from its own cache line.
    fn try_take_elsewhere(&self, home: usize) -> bool {
        if take_from(&self.state, ONE) {
            return true;
        }
        let mask = self.shards.len() - 1;
        for i in 1..self.shards.len() {
            let shard = &self.shards[(home + i) & mask];
            if shard.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let got = shard.swap(0, Ordering::Acquire);
            if got > 0 {
                if got > 1 {
                    self.put_back(home, got - 1);
                }
                return true;
            }
        }
        false
    }

    /// `n` units taken off another shard go to `home` (or the central word if `home` has no
    /// room), as a release would put them: a parker may have looked while they were in no word
    /// (see [`Core`]).
    #[cold]
    fn put_back(&self, home: usize, n: usize) {
        let shard = &self.shards[home];
        if shard.load(Ordering::Relaxed) + n <= SHARD_CAP {
            self.add_to_shard(shard, n);
        } else if self.state.fetch_add(n << 1, Ordering::SeqCst) & PARKED != 0 {
            // No check against the maximum: these units are counted in the value already.
            self.wake(n);
        }
    }

    /// Adds `n` units to `shard`, then wakes up to `n` parked threads if the central word
    /// says some may be parked.
    #[inline]
    fn add_to_shard(&self, shard: &AtomicUsize, n: usize) {
        shard.fetch_add(n, Ordering::SeqCst);
        // This add and the load below pair with `mark_parked`'s: see [`Core`].
        dekker_fence();
        if self.state.load(Ordering::SeqCst) & PARKED != 0 {
            self.wake(n);
        }
    }

    /// The one acquire path.
    #[inline]
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    fn acquire(&self, deadline: Option<Instant>, block: bool) -> bool {
        if self.try_take() {
            return true;
        }
        if !block {
            return false;
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
        if self.state.load(Ordering::Relaxed) >= ONE {
            return false;
        }
        // A read-modify-write even when the bit is set already: it is this thread's own
        // write, ahead of its fence, that a shard release's fence-then-read must see.
        if self.state.fetch_or(PARKED, Ordering::SeqCst) >= ONE {
            // A unit reached the central word meanwhile. The bit stays set for the moment:
            // the next release's wake-up finds no one parked (or someone) and clears it.
            return false;
        }
        if self.shards.is_empty() {
            return true;
        }
        // The fetch_or above and these loads pair with `add_to_shard`'s: see [`Core`].
        dekker_fence();
        self.shards.iter().all(|s| s.load(Ordering::SeqCst) == 0)
    }

    /// The one release path.
    #[inline]
    fn release(&self, n: usize) -> Result<(), SemaphoreReleaseError> {
        if n == 1 && !self.shards.is_empty() && self.release_to_shard() {
            return Ok(());
        }
        let old = self.add_checked(n)?;
        if old & PARKED != 0 {
            self.wake(n);
        }
        Ok(())
    }

    /// One unit to the caller's shard, if it has room and the central word is under
    /// [`GATE`]; false (nothing done) otherwise.
    #[inline]
    fn release_to_shard(&self) -> bool {
        let shard = &self.shards[self.home()];
        if shard.load(Ordering::Relaxed) >= SHARD_CAP
            || self.state.load(Ordering::Relaxed) >> 1 > GATE
        {
            return false;
        }
        // One read-modify-write that cannot fail (a compare-and-swap would, against the
        // threads taking units from this shard). Releases racing on one shard may each have
        // seen room: the shard then holds a few units over its cap, which only matters right
        // at the maximum (see SEMAPHORE_VALUE_MAX).
        self.add_to_shard(shard, 1);
        true
    }

    /// Adds `n` units to the central word after checking the value they make against the
    /// bound and the maximum; the old central word.
    fn add_checked(&self, n: usize) -> Result<usize, SemaphoreReleaseError> {
        if n == 0 {
            return Err(SemaphoreReleaseError::Zero);
        }
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            // At most MAX_SHARDS * SHARD_CAP: no overflow.
            let cached: usize = self.shards.iter().map(|s| s.load(Ordering::Relaxed)).sum();
            let new_value = (cur >> 1)
                .checked_add(cached)
                .and_then(|v| v.checked_add(n))
                .filter(|&v| v <= SEMAPHORE_VALUE_MAX)
                .ok_or(SemaphoreReleaseError::Overflow)?;
            if self.bound.is_some_and(|bound| new_value > bound) {
                return Err(SemaphoreReleaseError::TooMany);
            }
            // No overflow: the central count stays at most SEMAPHORE_VALUE_MAX, whose double
            // plus the bit fits a usize.
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

    /// Wakes up to `n` parked threads (a release found `PARKED`).
    #[cold]
    fn wake(&self, n: usize) {
        self.lot.unpark_some(self.key(), n, |r| {
            if !r.have_more {
                self.state.fetch_and(!PARKED, Ordering::Relaxed);
            }
        });
    }

    /// The central count plus the shards' (a snapshot word by word: exact when no thread
    /// is acquiring or releasing).
    fn value(&self) -> usize {
        let cached: usize = self.shards.iter().map(|s| s.load(Ordering::Acquire)).sum();
        (self.state.load(Ordering::Acquire) >> 1) + cached
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
            /// A [`Semaphore`] keeps its units in per-CPU shards and looks at each once: while
            /// other threads take and release units it may return false although the value
            /// never dropped to zero (as C++20's `counting_semaphore::try_acquire` may). With
            /// no other thread moving units, false means the value is zero. A
            /// [`BoundedSemaphore`] keeps one word and never fails that way.
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
            /// A [`Semaphore`] sums its per-CPU shards one by one: exact when no other thread
            /// is acquiring or releasing, approximate while they are.
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
