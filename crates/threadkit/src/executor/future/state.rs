//! [`Core`]: the part of a task that does not depend on its closure type: the state machine
//! (one atomic byte), the outcome slot and the lock readers and registrations take, with
//! [`DoneGuard`] (proof that a task is done) and the registrations ([`Waiter`], callbacks,
//! wakers) it wakes on completion.

use crate::primitive::atomic::{AtomicU8, Ordering};
use crate::primitive::{Condvar, Mutex, MutexGuard};
use crate::unwind;
use crossbeam_channel::Sender;
#[cfg(not(loom))]
use crossbeam_utils::Backoff;
use std::cell::{Cell, UnsafeCell};
#[cfg(feature = "deadlock-detection")]
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

use super::{Future, TaskError};

pub(crate) type Callback<T> = Box<dyn FnOnce(&Future<T>) + Send>;

/// A registration of `wait` / `as_completed`: on completion, `index` is sent on `tx`.
pub(crate) struct Waiter {
    pub(crate) tx: Sender<usize>,
    pub(crate) index: usize,
    pub(crate) id: u64,
}

/// The phase bits of [`Core::state`].
const PHASE: u8 = 0b11;
/// In the queue (or not yet run): the job closure is in place.
pub(super) const PENDING: u8 = 0;
/// Claimed: running, or being cancelled / aborted by the thread that claimed it.
pub(super) const RUNNING: u8 = 1;
/// Finished: the outcome is written (and read or taken only under the lock).
const DONE: u8 = 2;
/// Someone registered interest under the lock (a blocked waiter, a callback, a `wait` /
/// `as_completed` registration): the finisher must take the lock and wake them. Without it
/// finishing a task is one atomic swap.
const WATCHED: u8 = 0b100;

/// A read-only view of a task's stage (for `wait`, `successful`, `Debug`).
pub(crate) enum Stage<'a, T> {
    Pending,
    Running,
    Done(&'a Result<T, Box<TaskError>>),
    /// Done successfully; the value was moved out (or cleared at the end of a scope).
    Taken,
}

/// The outcome slot: `None` until done, and again once a value was taken.
pub(super) type Outcome<T> = Option<Result<T, Box<TaskError>>>;

/// Callbacks and `wait` / `as_completed` registrations; allocated on first use so a plain
/// task stays small.
pub(crate) struct Extra<T> {
    pub(super) callbacks: Vec<Callback<T>>,
    waiters: Vec<Waiter>,
    /// Async tasks awaiting the future ([`Awaited`]), by registration id.
    wakers: Vec<(u64, Waker)>,
    /// Where blocked readers sleep (made by the first one; each holds a clone while asleep).
    cond: Option<Arc<Condvar>>,
}

/// The part of a task that does not depend on its closure type.
///
/// The state machine is one atomic byte (`PENDING -> RUNNING -> DONE`, plus the `WATCHED`
/// flag). Whoever moves it out of `PENDING` (a compare-and-swap) owns the job closure and is
/// the only writer of `outcome`, which it fills before publishing `DONE` with a swap. After
/// `DONE`, `outcome` is only touched while holding `lock` (so clones can read it while another
/// takes it). Waiters and callbacks register under `lock` and set `WATCHED` with a
/// read-modify-write on the same byte: either they see `DONE` (and act at once) or the
/// finisher's swap sees `WATCHED` and takes the lock to wake them; the lock orders the two.
pub(crate) struct Core<T> {
    state: AtomicU8,
    /// The pool whose workers may run this task inline (0: none). `u32` keeps tasks small.
    pub(super) pool_id: u32,
    outcome: UnsafeCell<Outcome<T>>,
    lock: Mutex<Option<Box<Extra<T>>>>,
    /// Deadlock detector hook: the thread token of the worker running the task (0: none),
    /// the "holder" a blocked waiter names, and the future's id.
    #[cfg(feature = "deadlock-detection")]
    pub(super) runner: AtomicU64,
    #[cfg(feature = "deadlock-detection")]
    deadlock_id: crate::sync::deadlock::ResourceId,
}

// SAFETY: `outcome` is written only by the thread that claimed the task, before `DONE` is
// published with release ordering, and afterwards accessed only while holding `lock` (see
// `DoneGuard`); so, as for a `Mutex<T>`, `T: Send` is enough to share the core.
unsafe impl<T: Send> Sync for Core<T> {}

/// Proof that a task is done, holding its lock: access to the outcome.
pub(crate) struct DoneGuard<'a, T> {
    outcome: &'a UnsafeCell<Outcome<T>>,
    _lock: MutexGuard<'a, Option<Box<Extra<T>>>>,
}

impl<T> DoneGuard<'_, T> {
    pub(crate) fn outcome(&self) -> &Outcome<T> {
        // SAFETY: a `DoneGuard` exists only once `DONE` was observed with acquire ordering
        // (the finisher's write happened before) and while `lock` is held; after `DONE` every
        // access to `outcome` holds `lock`, so nobody writes it now.
        unsafe { &*self.outcome.get() }
    }

    pub(crate) fn outcome_mut(&mut self) -> &mut Outcome<T> {
        // SAFETY: as in `outcome`, and `&mut self` makes this the only access through the guard.
        unsafe { &mut *self.outcome.get() }
    }
}

thread_local! {
    /// The id of the pool the current thread works for (0: not a pool worker).
    static WORKER_OF: Cell<u32> = const { Cell::new(0) };
}

/// Marks the current thread as a worker of pool `id`.
pub(crate) fn set_worker_of(id: u32) {
    WORKER_OF.with(|w| w.set(id));
}

/// The pool the current thread works for, 0 when none.
pub(crate) fn worker_of() -> u32 {
    WORKER_OF.with(|w| w.get())
}

pub(super) fn next_waiter_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

pub(super) fn new_extra<T>() -> Box<Extra<T>> {
    Box::new(Extra {
        callbacks: Vec::new(),
        waiters: Vec::new(),
        wakers: Vec::new(),
        cond: None,
    })
}

impl<T> Core<T> {
    pub(super) fn new(pool_id: u32, phase: u8) -> Self {
        Core {
            state: AtomicU8::new(phase),
            pool_id,
            outcome: UnsafeCell::new(None),
            lock: Mutex::new(None),
            #[cfg(feature = "deadlock-detection")]
            runner: AtomicU64::new(0),
            #[cfg(feature = "deadlock-detection")]
            deadlock_id: crate::sync::deadlock::ResourceId::new(),
        }
    }

    fn phase(&self) -> u8 {
        self.state.load(Ordering::Acquire) & PHASE
    }

    pub(crate) fn is_pending(&self) -> bool {
        self.phase() == PENDING
    }

    pub(crate) fn is_running(&self) -> bool {
        self.phase() == RUNNING
    }

    pub(crate) fn is_done(&self) -> bool {
        self.phase() == DONE
    }

    /// Moves the task from `PENDING` to `RUNNING`; true when this thread did (and so owns the
    /// job closure and must finish the task).
    pub(super) fn claim(&self) -> bool {
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            if cur & PHASE != PENDING {
                return false;
            }
            match self.state.compare_exchange_weak(
                cur,
                (cur & !PHASE) | RUNNING,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// Moves a claimed task back from `RUNNING` to `PENDING` (keeping `WATCHED`): only the
    /// thread whose [`claim`](Core::claim) succeeded may call it, and only while it has not
    /// finished the task. Another thread may then claim it (cancel it, or run it).
    pub(super) fn unclaim(&self) {
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            debug_assert_eq!(
                cur & PHASE,
                RUNNING,
                "unclaiming a task that is not running"
            );
            match self.state.compare_exchange_weak(
                cur,
                (cur & !PHASE) | PENDING,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => cur = now,
            }
        }
    }

    /// The outcome through exclusive access, when the task is done.
    pub(super) fn outcome_if_done(&mut self) -> Option<&mut Outcome<T>> {
        if self.is_done() {
            Some(self.outcome.get_mut())
        } else {
            None
        }
    }

    /// The lock, when the task is done.
    pub(crate) fn done_guard(&self) -> Option<DoneGuard<'_, T>> {
        if !self.is_done() {
            return None;
        }
        Some(DoneGuard {
            outcome: &self.outcome,
            _lock: self.lock.lock(),
        })
    }

    /// Takes the lock and sets `WATCHED`; the guard comes back as a [`DoneGuard`] when the
    /// task is already done (`Err`), else as the plain guard to register under (`Ok`).
    #[allow(clippy::type_complexity)]
    pub(super) fn watch(&self) -> Result<MutexGuard<'_, Option<Box<Extra<T>>>>, DoneGuard<'_, T>> {
        let guard = self.lock.lock();
        if self.state.fetch_or(WATCHED, Ordering::AcqRel) & PHASE == DONE {
            return Err(DoneGuard {
                outcome: &self.outcome,
                _lock: guard,
            });
        }
        Ok(guard)
    }

    /// Publishes `outcome` (the caller claimed the task, or made it `RUNNING`), wakes every
    /// kind of waiter, then runs the callbacks.
    pub(crate) fn finish(&self, outcome: Result<T, TaskError>, me: &dyn Fn() -> Future<T>) {
        // SAFETY: the caller moved the task out of `PENDING` (or created it `RUNNING`), so it
        // is the only thread touching `outcome` until the swap below publishes `DONE`.
        unsafe { *self.outcome.get() = Some(outcome.map_err(Box::new)) };
        let prev = self.state.swap(DONE, Ordering::AcqRel);
        debug_assert_eq!(prev & PHASE, RUNNING);
        if prev & WATCHED != 0 {
            self.wake(me);
        }
    }

    /// The slow part of [`finish`](Core::finish), when someone registered.
    #[cold]
    fn wake(&self, me: &dyn Fn() -> Future<T>) {
        // Registrations hold the lock from setting `WATCHED` until they are in place, so
        // taking it here sees them all (and blocked waiters are already asleep on its `cond`).
        let extra = self.lock.lock().take();
        if let Some(extra) = extra {
            if let Some(cond) = &extra.cond {
                cond.notify_all();
            }
            for w in extra.waiters {
                // The receiver may be gone (the waiting call returned); that is fine.
                let _ = w.tx.send(w.index);
            }
            for (_, waker) in extra.wakers {
                waker.wake();
            }
            if !extra.callbacks.is_empty() {
                let fut = me();
                run_callbacks(extra.callbacks, &fut);
            }
        }
    }

    /// Blocks until done or `deadline`; `None` when the deadline passed first.
    pub(super) fn wait_done(&self, deadline: Option<Instant>) -> Option<DoneGuard<'_, T>> {
        // Tasks are often about to finish: spin a little before sleeping on the condvar,
        // as crossbeam-channel's receivers do.
        #[cfg(not(loom))]
        {
            let backoff = Backoff::new();
            while !self.is_done() && !backoff.is_completed() {
                backoff.snooze();
            }
        }
        if let Some(done) = self.done_guard() {
            return Some(done);
        }
        // Deadlock detector hook: the watchdog sees this thread blocked on the future, held by
        // the worker running it.
        #[cfg(feature = "deadlock-detection")]
        let _waiting = crate::sync::deadlock::waiting_on(
            crate::sync::deadlock::Resource {
                kind: crate::sync::deadlock::ResourceKind::Future,
                id: self.deadlock_id.get(),
            },
            &self.runner,
        );
        let mut guard = match self.watch() {
            Ok(guard) => guard,
            Err(done) => return Some(done),
        };
        // Not done, so the finisher has not taken `Extra` yet: it will notify this condvar.
        let cond = guard
            .get_or_insert_with(new_extra)
            .cond
            .get_or_insert_with(|| Arc::new(Condvar::new()))
            .clone();
        loop {
            let timed_out = match deadline {
                Some(d) => cond.wait_until(&mut guard, d),
                None => {
                    cond.wait(&mut guard);
                    false
                }
            };
            if self.is_done() {
                return Some(DoneGuard {
                    outcome: &self.outcome,
                    _lock: guard,
                });
            }
            if timed_out {
                return None;
            }
        }
    }

    /// Registers a `wait` / `as_completed` waiter unless already done; returns whether done.
    pub(crate) fn register(&self, tx: &Sender<usize>, index: usize, id: u64) -> bool {
        match self.watch() {
            Err(_done) => true,
            Ok(mut guard) => {
                guard.get_or_insert_with(new_extra).waiters.push(Waiter {
                    tx: tx.clone(),
                    index,
                    id,
                });
                false
            }
        }
    }

    /// Removes the registrations with `id`.
    pub(crate) fn unregister(&self, id: u64) {
        if let Some(extra) = &mut *self.lock.lock() {
            extra.waiters.retain(|w| w.id != id);
        }
    }

    /// Registers (or replaces) the waker of the awaiting task `id` unless already done;
    /// when done, hands back the lock over the outcome instead.
    pub(crate) fn register_waker(&self, id: u64, waker: &Waker) -> Option<DoneGuard<'_, T>> {
        match self.watch() {
            Err(done) => Some(done),
            Ok(mut guard) => {
                let wakers = &mut guard.get_or_insert_with(new_extra).wakers;
                match wakers.iter_mut().find(|(i, _)| *i == id) {
                    Some((_, w)) => w.clone_from(waker),
                    None => wakers.push((id, waker.clone())),
                }
                None
            }
        }
    }

    /// Removes the waker of the awaiting task `id` (it stopped awaiting).
    pub(crate) fn unregister_waker(&self, id: u64) {
        if let Some(extra) = &mut *self.lock.lock() {
            extra.wakers.retain(|(i, _)| *i != id);
        }
    }

    /// Calls `f` with a view of the stage.
    pub(crate) fn with_stage<R>(&self, f: impl FnOnce(Stage<'_, T>) -> R) -> R {
        match self.phase() {
            PENDING => f(Stage::Pending),
            RUNNING => f(Stage::Running),
            _ => {
                let done = self.done_guard().expect("the phase is DONE");
                match done.outcome() {
                    Some(outcome) => f(Stage::Done(outcome)),
                    None => f(Stage::Taken),
                }
            }
        }
    }
}

pub(super) fn run_callbacks<T>(callbacks: Vec<Callback<T>>, fut: &Future<T>) {
    for cb in callbacks {
        if let Err(payload) = unwind::catch_reported(|| cb(fut)) {
            let message = unwind::into_message(payload);
            tracing::error!(
                panic = %message,
                "exception calling callback for future (a done-callback panicked)"
            );
        }
    }
}
