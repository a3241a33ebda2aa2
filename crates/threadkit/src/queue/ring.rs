//! The engine of bounded FIFO queues: a lock-free ring of slots (Dmitry Vyukov's bounded MPMC
//! queue, laid out as crossbeam-channel's `array` flavour), with the books kept in the ring's
//! own counters and a waiting room per condition that is touched only when someone waits.
//!
//! - **Positions.** `head` and `tail` hold `{ lap, mark, index }`: the index of the next slot,
//!   a lap number above it, and (on `tail` only) a mark bit that means "shut down". A put
//!   reserves a slot by moving `tail` with one compare-and-swap, so once the mark is set no put
//!   can succeed any more, and a get that finds `head == tail` with the mark set knows that the
//!   queue is shut down *and* drained: no put can still be landing.
//! - **Books.** Every put that reserved a slot counts as an unfinished task, so the number of
//!   puts so far is read off `tail` (`lap * cap + index`) and the queue only counts tasks
//!   *done*: `unfinished = puts - done`. A put therefore costs no extra atomic update.
//! - **Waiting.** A thread that finds the ring full (or empty) spins very briefly, yields its
//!   core for up to [`WAIT_YIELD_FOR`], then registers in a [`Room`] (a waiter count, a mutex
//!   and a condition variable from `crate::primitive`), re-checks, and sleeps. The other side
//!   looks at the waiter count after its own update and takes the room's lock only when
//!   someone waits. The count and the positions are sequentially consistent, so of "I
//!   registered, then looked" and "I moved the position, then looked" at least one sees the
//!   other (see [`dekker_fence`]).

use super::error::Fail;
use crate::primitive::atomic::{self, AtomicU64, AtomicUsize, Ordering};
use crate::primitive::{Condvar, Mutex};
use crate::time::Wait;
use crossbeam_utils::CachePadded;
use std::time::Instant;

/// Under loom, a sequentially consistent fence between a waiter's "register, then look" and a
/// waker's "update, then look". In the C++ memory model (and so in Rust's) the `SeqCst`
/// read-modify-writes and loads on both sides already exclude the case where neither sees the
/// other; loom models `SeqCst` accesses only as acquire/release (its documented limitation) but
/// does model `SeqCst` fences, so the model gets the fence and the real build does not pay for
/// it on every put and get.
#[inline(always)]
fn dekker_fence() {
    #[cfg(loom)]
    atomic::fence(Ordering::SeqCst);
}

/// True once `deadline` has passed: a thread that keeps being woken (or finding the condition
/// true) only to lose the race for it still gives up in time. Under loom, where time is not
/// modelled, never.
#[inline]
fn passed(deadline: Option<Instant>) -> bool {
    #[cfg(not(loom))]
    return deadline.is_some_and(|d| Instant::now() >= d);
    #[cfg(loom)]
    {
        let _ = deadline;
        false
    }
}

/// While waiting for a rival (a compare-and-swap lost, a slot another thread is still writing
/// or reading), step `n` of a [`Spin`] spins `1 << n` pause instructions up to this step and
/// yields after it: crossbeam's `Backoff`, which the ring used throughout before.
#[cfg(not(loom))]
const SPIN_STEPS: u32 = 6;

/// Steps of spinning a thread that found the ring full (or empty) takes before it starts
/// yielding: 1 + 2 + ... + 32 = 63 pause instructions, about a microsecond here, which covers
/// a handoff to a thread running on another core. With 3 steps (7 pauses) the 2+2 handoff at
/// bounded(1) yielded up to once every 3 items where it had both cores to itself, and the
/// p90/p10 of its rounds was 1.9 (median of 6 runs); with 6 steps, 0.01-0.03 times an item and
/// 1.5 (docs/architecture.md, "The queue against kanal and crossbeam", round 2).
#[cfg(not(loom))]
const WAIT_SPINS: u32 = 6;

/// How long such a thread then yields its core before it sleeps in a [`Room`]: a time, not a
/// number of yields, so that the wait adapts to the machine. On an idle core a yield returns
/// within a microsecond, so the waiter keeps its core busy for up to this long, long enough
/// for the other side to come back even when it was asleep and its core has to be woken first
/// (on a VM, a halted virtual CPU). 16 yields, as before, were over in a few microseconds
/// there, and the 2+2 handoff at bounded(1) ran 10-15 ms in some rounds and 130-800 ms in
/// others on an idle machine, with a core idle much of the time. On a busy machine a yield hands the core
/// to another thread for a while, so the same time allows only a few yields and a waiter
/// sleeps soon, as it did. A thread waiting on a queue that stays empty spends about this much
/// CPU before it sleeps. crossbeam-channel spins 127 pauses then yields 4 times; kanal yields
/// 256 times (docs/architecture.md, "The queue against kanal and crossbeam").
#[cfg(not(loom))]
const WAIT_YIELD_FOR: std::time::Duration = std::time::Duration::from_micros(100);

/// Spinning while another thread finishes a step, or before sleeping. Under loom every spin is
/// a yield to the model's scheduler, and there is no pre-sleep spin at all.
struct Spin {
    #[cfg(not(loom))]
    step: std::cell::Cell<u32>,
    /// When [`Spin::before_sleep`] first yielded.
    #[cfg(not(loom))]
    yielding_since: std::cell::Cell<Option<Instant>>,
}

impl Spin {
    #[inline]
    fn new() -> Self {
        Spin {
            #[cfg(not(loom))]
            step: std::cell::Cell::new(0),
            #[cfg(not(loom))]
            yielding_since: std::cell::Cell::new(None),
        }
    }

    /// Waits a moment for a compare-and-swap rival.
    #[inline]
    fn spin(&self) {
        #[cfg(not(loom))]
        {
            let step = self.step.get().min(SPIN_STEPS);
            for _ in 0..1u32 << step {
                std::hint::spin_loop();
            }
            self.step.set(step + 1);
        }
        #[cfg(loom)]
        crate::primitive::thread::yield_now();
    }

    /// Waits a little longer, for another thread to finish writing or reading a slot: spins,
    /// then yields.
    #[inline]
    fn snooze(&self) {
        #[cfg(not(loom))]
        {
            let step = self.step.get();
            if step <= SPIN_STEPS {
                for _ in 0..1u32 << step {
                    std::hint::spin_loop();
                }
            } else {
                std::thread::yield_now();
            }
            self.step.set(step.saturating_add(1));
        }
        #[cfg(loom)]
        crate::primitive::thread::yield_now();
    }

    /// Spins (the first [`WAIT_SPINS`] calls) or yields (until [`WAIT_YIELD_FOR`] has passed
    /// since the first yield) once more before sleeping; once that time is up, returns true
    /// without waiting: time to sleep.
    #[inline]
    fn before_sleep(&self) -> bool {
        #[cfg(not(loom))]
        {
            let step = self.step.get();
            if step < WAIT_SPINS {
                for _ in 0..1u32 << step {
                    std::hint::spin_loop();
                }
                self.step.set(step + 1);
                return false;
            }
            let now = Instant::now();
            match self.yielding_since.get() {
                None => self.yielding_since.set(Some(now)),
                Some(since) if now.saturating_duration_since(since) >= WAIT_YIELD_FOR => {
                    return true
                }
                Some(_) => {}
            }
            std::thread::yield_now();
            false
        }
        #[cfg(loom)]
        true
    }
}

/// Storage for one item, with the ownership discipline kept by the ring's stamps.
mod cell {
    use std::mem::MaybeUninit;

    /// An item slot: empty or holding one `T`, as the slot's stamp says.
    pub(super) struct Cell<T> {
        #[cfg(not(loom))]
        inner: std::cell::UnsafeCell<MaybeUninit<T>>,
        #[cfg(loom)]
        inner: loom::cell::UnsafeCell<MaybeUninit<T>>,
    }

    impl<T> Cell<T> {
        pub(super) fn new() -> Self {
            Cell {
                #[cfg(not(loom))]
                inner: std::cell::UnsafeCell::new(MaybeUninit::uninit()),
                #[cfg(loom)]
                inner: loom::cell::UnsafeCell::new(MaybeUninit::uninit()),
            }
        }

        /// Stores `value` in the empty slot.
        ///
        /// # Safety
        ///
        /// The caller has reserved this empty slot (no other thread reads or writes it until the
        /// caller publishes it through the slot's stamp).
        #[inline]
        pub(super) unsafe fn write(&self, value: T) {
            #[cfg(not(loom))]
            // SAFETY: the caller has exclusive access to the slot (see `# Safety`).
            unsafe {
                (*self.inner.get()).write(value);
            }
            #[cfg(loom)]
            self.inner.with_mut(|p| {
                // SAFETY: as above; loom checks the exclusivity.
                unsafe {
                    (*p).write(value);
                }
            });
        }

        /// Moves the item out of the full slot, leaving it empty.
        ///
        /// # Safety
        ///
        /// The caller has reserved this full slot (its item was published through the stamp and
        /// no other thread touches the slot until the caller hands it back through the stamp).
        #[inline]
        pub(super) unsafe fn read(&self) -> T {
            #[cfg(not(loom))]
            // SAFETY: exclusive access to an initialized slot (see `# Safety`); the slot is
            // treated as empty afterwards, so the item is moved out exactly once.
            unsafe {
                (*self.inner.get()).assume_init_read()
            }
            #[cfg(loom)]
            self.inner.with_mut(|p| {
                // SAFETY: as above; loom checks the exclusivity.
                unsafe { (*p).assume_init_read() }
            })
        }
    }
}

struct Slot<T> {
    /// `position + 1` when the slot holds the item put at `position`; `position` when it is
    /// empty and awaits the put at `position` (positions as in `head`/`tail`, without the mark).
    stamp: AtomicU64,
    item: cell::Cell<T>,
}

/// Where threads sleep until a condition may hold: a mutex and condition variable used only by
/// sleepers and by whoever wakes them, and a count of sleepers not yet woken, which wakers read
/// without the lock.
///
/// The count drops as soon as a sleeper is notified (not when it gets to run again), so the
/// puts and gets that follow a wake-up do not take the lock for a thread that is already awake:
/// between busy threads on few cores, a woken thread may wait a while for a core.
struct Room {
    /// Sleepers not yet notified. Changed only under `lock`; read without it by wakers.
    sleepers: AtomicUsize,
    /// Threads inside [`Room::sleep`] (for `waiting_getters` and friends).
    inside: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Room {
    fn new() -> Self {
        Room {
            sleepers: AtomicUsize::new(0),
            inside: AtomicUsize::new(0),
            lock: Mutex::new(()),
            cv: Condvar::new(),
        }
    }

    /// Sleeps until woken, unless `ready()` holds once registered; `deadline` bounds the sleep.
    /// Returns true if the deadline passed. The caller re-checks its condition either way.
    fn sleep(&self, ready: impl Fn() -> bool, deadline: Option<Instant>) -> bool {
        self.inside.fetch_add(1, Ordering::Relaxed);
        let mut guard = self.lock.lock();
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        dekker_fence();
        // The lock is held from this check until the wait releases it, so a waker that saw
        // `sleepers > 0` and then takes the lock finds this thread already waiting.
        let timed_out = if ready() {
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
            false
        } else {
            let timed_out = match deadline {
                None => {
                    self.cv.wait(&mut guard);
                    false
                }
                Some(d) => self.cv.wait_until(&mut guard, d),
            };
            // A sleeper that timed out was not notified (parking_lot's condition variable has
            // no spurious wake-ups, and a notify reaching it would have cancelled the timeout),
            // so nobody took it off the count.
            if timed_out {
                self.sleepers.fetch_sub(1, Ordering::SeqCst);
            }
            timed_out
        };
        drop(guard);
        self.inside.fetch_sub(1, Ordering::Relaxed);
        timed_out
    }

    /// After making a change a sleeper may be waiting for: wakes one sleeper if there is one.
    #[inline]
    fn wake_one(&self) {
        dekker_fence();
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            self.wake_one_slow();
        }
    }

    #[cold]
    fn wake_one_slow(&self) {
        let _guard = self.lock.lock();
        if self.sleepers.load(Ordering::SeqCst) > 0 && self.cv.notify_one() {
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Same for a change every sleeper waits for.
    fn wake_all(&self) {
        dekker_fence();
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock();
            let woken = notify_all_counted(&self.cv, self.sleepers.load(Ordering::SeqCst));
            self.sleepers.fetch_sub(woken, Ordering::SeqCst);
        }
    }

    fn waiting(&self) -> usize {
        self.inside.load(Ordering::Relaxed)
    }
}

/// Notifies every thread waiting on `cv` and returns how many that was. parking_lot counts
/// them; loom's condition variable does not, but under loom no wait times out, so every one of
/// the `sleepers` counted under the lock is waiting.
#[inline]
fn notify_all_counted(cv: &Condvar, _sleepers: usize) -> usize {
    #[cfg(not(loom))]
    return cv.notify_all();
    #[cfg(loom)]
    {
        cv.notify_all();
        _sleepers
    }
}

/// A bounded FIFO queue with Python's task accounting and shutdown.
pub(super) struct Ring<T> {
    /// Position of the next get.
    head: CachePadded<AtomicU64>,
    /// Position of the next put, and the shutdown mark.
    tail: CachePadded<AtomicU64>,
    /// Tasks marked done (by `task_done`, or dropped by an immediate shutdown).
    done: CachePadded<AtomicU64>,
    slots: Box<[Slot<T>]>,
    cap: u64,
    /// The bit of `tail` set at shutdown; also one more than the largest index.
    mark_bit: u64,
    /// Added to a position to move it one lap on (`2 * mark_bit`).
    one_lap: u64,
    /// `log2(one_lap)`: a position's lap number is `position >> lap_shift`.
    lap_shift: u32,
    /// Getters wait here for an item or for shutdown. Padded, like the counters, so that
    /// sleeping and waking never write to a cache line the fast paths read.
    getters: CachePadded<Room>,
    /// Putters wait here for room or for shutdown.
    putters: CachePadded<Room>,
    /// Joiners wait here for every task to be done.
    joiners: Room,
}

// SAFETY: items move between threads through the ring (so `T: Send` is needed and enough);
// every slot is accessed by one thread at a time, as arbitrated by the stamps.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as above: shared access hands items over, never shares a `&T`.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// A ring of `cap` slots.
    ///
    /// # Panics
    ///
    /// If `cap` is 0 (callers use the lock-based engine for unbounded queues).
    pub(super) fn new(cap: usize) -> Self {
        assert!(cap > 0, "a ring needs at least one slot");
        let cap = cap as u64;
        let mark_bit = (cap + 1).next_power_of_two();
        let one_lap = mark_bit * 2;
        let slots = (0..cap)
            .map(|i| Slot {
                stamp: AtomicU64::new(i),
                item: cell::Cell::new(),
            })
            .collect();
        Ring {
            head: CachePadded::new(AtomicU64::new(0)),
            tail: CachePadded::new(AtomicU64::new(0)),
            done: CachePadded::new(AtomicU64::new(0)),
            slots,
            cap,
            mark_bit,
            one_lap,
            lap_shift: one_lap.trailing_zeros(),
            getters: CachePadded::new(Room::new()),
            putters: CachePadded::new(Room::new()),
            joiners: Room::new(),
        }
    }

    /// How many items have gone through `position` (a `head` or `tail` value).
    #[inline]
    fn count(&self, position: u64) -> u64 {
        (position >> self.lap_shift) * self.cap + (position & (self.mark_bit - 1))
    }

    /// The slot at `index` (a position's low bits), without a bounds check on the fast paths.
    #[inline(always)]
    fn slot(&self, index: u64) -> &Slot<T> {
        debug_assert!(index < self.cap);
        // SAFETY: an index is the low bits of a position, and positions are only ever made by
        // `next`, which wraps to the next lap instead of reaching `cap`; the mark bit is above
        // the index bits and masked off by the callers. So `index < cap == slots.len()`.
        unsafe { self.slots.get_unchecked(index as usize) }
    }

    /// The position after `position` (whose index is `index`).
    #[inline]
    fn next(&self, position: u64, index: u64) -> u64 {
        if index + 1 < self.cap {
            position + 1
        } else {
            (position & !(self.one_lap - 1)).wrapping_add(self.one_lap)
        }
    }

    /// One attempt to put without waiting: fails with `Full` or `ShutDown` (checked first).
    ///
    /// Always inlined into [`Ring::put`] (and `try_pop` into [`Ring::get`]), as crossbeam's
    /// `start_send` is into its `send`: as a separate function the same code ran `queue_mpmc`
    /// 1.1-2x slower than crossbeam-channel on a busy 2-core machine, inlined 0.9-1.2x
    /// (docs/architecture.md).
    #[inline(always)]
    fn try_push(&self, item: T) -> Result<(), (Fail, T)> {
        let spin = Spin::new();
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            if tail & self.mark_bit != 0 {
                return Err((Fail::ShutDown, item));
            }
            let index = tail & (self.mark_bit - 1);
            let slot = self.slot(index);
            let stamp = slot.stamp.load(Ordering::Acquire);
            if tail == stamp {
                let new_tail = self.next(tail, index);
                match self.tail.compare_exchange_weak(
                    tail,
                    new_tail,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: moving `tail` past the slot reserved it for this thread: its
                        // stamp says it is empty, and no getter takes it before the stamp below.
                        unsafe { slot.item.write(item) };
                        slot.stamp.store(tail + 1, Ordering::Release);
                        self.getters.wake_one();
                        return Ok(());
                    }
                    Err(t) => {
                        tail = t;
                        spin.spin();
                    }
                }
            } else if stamp.wrapping_add(self.one_lap) == tail + 1 {
                // The slot still holds the item put one lap ago: full, unless a getter has
                // already moved `head` past it and is reading it right now.
                atomic::fence(Ordering::SeqCst);
                let head = self.head.load(Ordering::Relaxed);
                if head.wrapping_add(self.one_lap) == tail {
                    return Err((Fail::Full, item));
                }
                spin.spin();
                tail = self.tail.load(Ordering::Relaxed);
            } else {
                // Another putter moved `tail` and has not yet published its slot.
                spin.snooze();
                tail = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// One attempt to get without waiting: fails with `ShutDown` (shut down and drained) or
    /// `Empty`. Always inlined (see [`Ring::try_push`]).
    #[inline(always)]
    fn try_pop(&self) -> Result<T, Fail> {
        let spin = Spin::new();
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let index = head & (self.mark_bit - 1);
            let slot = self.slot(index);
            let stamp = slot.stamp.load(Ordering::Acquire);
            if head + 1 == stamp {
                let new_head = self.next(head, index);
                match self.head.compare_exchange_weak(
                    head,
                    new_head,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: moving `head` past the slot reserved it for this thread: its
                        // stamp says it holds an item, and no putter reuses it before the stamp
                        // below marks it empty for the next lap.
                        let item = unsafe { slot.item.read() };
                        slot.stamp
                            .store(head.wrapping_add(self.one_lap), Ordering::Release);
                        self.putters.wake_one();
                        return Ok(item);
                    }
                    Err(h) => {
                        head = h;
                        spin.spin();
                    }
                }
            } else if stamp == head {
                // The slot awaits its put: empty, unless a putter has already moved `tail` past
                // it and is writing it right now.
                atomic::fence(Ordering::SeqCst);
                let tail = self.tail.load(Ordering::Relaxed);
                if tail & !self.mark_bit == head {
                    return Err(if tail & self.mark_bit != 0 {
                        Fail::ShutDown
                    } else {
                        Fail::Empty
                    });
                }
                spin.spin();
                head = self.head.load(Ordering::Relaxed);
            } else {
                // Another getter moved `head` and has not yet emptied its slot.
                spin.snooze();
                head = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// True if a put would not find the ring full (or the ring is shut down).
    fn putter_ready(&self) -> bool {
        let tail = self.tail.load(Ordering::SeqCst);
        let head = self.head.load(Ordering::SeqCst);
        tail & self.mark_bit != 0 || head.wrapping_add(self.one_lap) != tail
    }

    /// True if a get would not find the ring empty (or the ring is shut down).
    fn getter_ready(&self) -> bool {
        let tail = self.tail.load(Ordering::SeqCst);
        let head = self.head.load(Ordering::SeqCst);
        tail & self.mark_bit != 0 || tail != head
    }

    /// Puts `item`, waiting as `wait` says. The first attempt is inlined into the caller; the
    /// wait loop is a function of its own, so the fast path does not pay for its frame.
    #[inline]
    pub(super) fn put(&self, item: T, wait: Wait) -> Result<(), (Fail, T)> {
        match self.try_push(item) {
            Err((Fail::Full, back)) => self.put_slow(back, wait),
            done => done,
        }
    }

    #[cold]
    #[inline(never)]
    fn put_slow(&self, mut item: T, wait: Wait) -> Result<(), (Fail, T)> {
        let mut spin = Spin::new();
        let mut timed_out = false;
        loop {
            let deadline = match wait {
                Wait::No => return Err((Fail::Full, item)),
                Wait::Forever => None,
                Wait::Until(d) => Some(d),
            };
            if timed_out || passed(deadline) {
                return Err((Fail::Timeout, item));
            }
            if spin.before_sleep() {
                timed_out = self.putters.sleep(|| self.putter_ready(), deadline);
                spin = Spin::new();
            }
            match self.try_push(item) {
                Err((Fail::Full, back)) => item = back,
                done => return done,
            }
        }
    }

    /// Takes an item, waiting as `wait` says; inlined first attempt as [`Ring::put`].
    #[inline]
    pub(super) fn get(&self, wait: Wait) -> Result<T, Fail> {
        match self.try_pop() {
            Err(Fail::Empty) => self.get_slow(wait),
            done => done,
        }
    }

    #[cold]
    #[inline(never)]
    fn get_slow(&self, wait: Wait) -> Result<T, Fail> {
        let mut spin = Spin::new();
        let mut timed_out = false;
        loop {
            let deadline = match wait {
                Wait::No => return Err(Fail::Empty),
                Wait::Forever => None,
                Wait::Until(d) => Some(d),
            };
            if timed_out || passed(deadline) {
                return Err(Fail::Timeout);
            }
            if spin.before_sleep() {
                timed_out = self.getters.sleep(|| self.getter_ready(), deadline);
                spin = Spin::new();
            }
            match self.try_pop() {
                Err(Fail::Empty) => {}
                done => return done,
            }
        }
    }

    /// Puts so far (reservations of a slot: each one is a put that succeeds).
    #[inline]
    fn puts(&self) -> u64 {
        self.count(self.tail.load(Ordering::SeqCst))
    }

    pub(super) fn unfinished(&self) -> usize {
        // `done` first: both only grow and `done <= puts` always holds, so this is never
        // negative.
        let done = self.done.load(Ordering::SeqCst);
        (self.puts() - done) as usize
    }

    /// False when there was no unfinished task.
    pub(super) fn task_done(&self) -> bool {
        let mut done = self.done.load(Ordering::SeqCst);
        loop {
            // Read after `done`, so `puts > done` means an unfinished task existed.
            let puts = self.puts();
            if done >= puts {
                return false;
            }
            match self.done.compare_exchange_weak(
                done,
                done + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => {
                    if done + 1 == puts {
                        self.joiners.wake_all();
                    }
                    return true;
                }
                Err(d) => done = d,
            }
        }
    }

    /// Waits for the unfinished count to reach zero; false if `deadline` passed first.
    pub(super) fn join(&self, deadline: Option<Instant>) -> bool {
        let mut timed_out = false;
        loop {
            if self.unfinished() == 0 {
                return true;
            }
            if timed_out || passed(deadline) {
                return false;
            }
            timed_out = self.joiners.sleep(|| self.unfinished() == 0, deadline);
        }
    }

    /// Shuts down; returns the dropped items so the caller drops them outside any lock.
    pub(super) fn shutdown(&self, immediate: bool) -> Vec<T> {
        self.tail.fetch_or(self.mark_bit, Ordering::SeqCst);
        let mut dropped = Vec::new();
        if immediate {
            // No put can land any more; puts already under way are waited for by `try_pop`.
            while let Ok(item) = self.try_pop() {
                dropped.push(item);
            }
            // Count them as done, never past the number of puts (as Python, which stops
            // decrementing at zero when task_done was called for items still queued).
            let n = dropped.len() as u64;
            let puts = self.puts();
            if n > 0 {
                let _ = self
                    .done
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |done| {
                        Some((done + n).min(puts))
                    });
            }
            self.joiners.wake_all();
        }
        self.getters.wake_all();
        self.putters.wake_all();
        dropped
    }

    pub(super) fn qsize(&self) -> usize {
        // `head` first, so the difference is never negative; a put landing in between can
        // make it exceed the bound for a moment, hence the clamp.
        let gets = self.count(self.head.load(Ordering::SeqCst));
        let puts = self.puts();
        (puts - gets).min(self.cap) as usize
    }

    pub(super) fn maxsize(&self) -> usize {
        self.cap as usize
    }

    pub(super) fn is_shutdown(&self) -> bool {
        self.tail.load(Ordering::SeqCst) & self.mark_bit != 0
    }

    pub(super) fn waiting_getters(&self) -> usize {
        self.getters.waiting()
    }

    pub(super) fn waiting_putters(&self) -> usize {
        self.putters.waiting()
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // No other handle exists: every item left is taken (and dropped) in turn.
        while self.try_pop().is_ok() {}
    }
}
