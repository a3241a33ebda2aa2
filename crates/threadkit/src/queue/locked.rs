//! The engine of unbounded, LIFO and priority queues (and of FIFO bounds too large for the
//! ring): one mutex over the store and the books, three condition variables, waiter counts so
//! that nobody notifies when nobody waits, and a short spin before sleeping.

use super::error::Fail;
use super::store::{Order, Store};
use crate::primitive::{Condvar, Mutex, MutexGuard};
use crate::time::Wait;
use std::time::Instant;

pub(super) struct Locked<T> {
    state: Mutex<State<T>>,
    /// Getters wait here for an item (or for shutdown).
    not_empty: Condvar,
    /// Putters wait here for room (or for shutdown).
    not_full: Condvar,
    /// Joiners wait here for the unfinished count to reach zero.
    all_done: Condvar,
    /// 0 means unbounded, as in Python.
    maxsize: usize,
    order: Order,
    /// A copy of the item count, written under the lock, read without it by threads spinning
    /// briefly before they sleep (not under loom, where spinning would only add states).
    #[cfg(not(loom))]
    len_hint: std::sync::atomic::AtomicUsize,
}

struct State<T> {
    store: Store<T>,
    unfinished: usize,
    shutdown: bool,
    /// Threads inside `not_empty.wait` (including ones notified but not yet back on the lock).
    /// Kept so that a put notifies only when someone waits: a notify is then never skipped
    /// when it could matter, and costs nothing when nobody waits.
    getters: usize,
    /// Same for `not_full`.
    putters: usize,
    /// Same for `all_done`.
    joiners: usize,
}

impl<T> Locked<T> {
    pub(super) fn new(store: Store<T>, maxsize: usize) -> Self {
        Locked {
            order: store.order(),
            state: Mutex::new(State {
                store,
                unfinished: 0,
                shutdown: false,
                getters: 0,
                putters: 0,
                joiners: 0,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            all_done: Condvar::new(),
            maxsize,
            #[cfg(not(loom))]
            len_hint: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    #[inline]
    fn set_len_hint(&self, _st: &State<T>) {
        #[cfg(not(loom))]
        self.len_hint
            .store(_st.store.len(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Before sleeping on a condition variable, lets go of the lock and spins (then yields) a
    /// little while `busy(item count)` holds: a short wait then costs no futex calls. The caller
    /// re-checks everything under the lock afterwards.
    #[inline]
    fn spin_while(&self, _st: &mut MutexGuard<'_, State<T>>, _busy: impl Fn(usize) -> bool) {
        #[cfg(not(loom))]
        MutexGuard::unlocked(_st, || {
            let backoff = crossbeam_utils::Backoff::new();
            while _busy(self.len_hint.load(std::sync::atomic::Ordering::Relaxed))
                && !backoff.is_completed()
            {
                backoff.snooze();
            }
        });
    }

    pub(super) fn put(&self, item: T, wait: Wait) -> Result<(), (Fail, T)> {
        let mut st = self.state.lock();
        let mut timed_out = false;
        let mut spun = false;
        loop {
            if st.shutdown {
                return Err((Fail::ShutDown, item));
            }
            if self.maxsize == 0 || st.store.len() < self.maxsize {
                break;
            }
            match wait {
                Wait::No => return Err((Fail::Full, item)),
                _ if timed_out => return Err((Fail::Timeout, item)),
                _ if !spun => {
                    spun = true;
                    self.spin_while(&mut st, |len| len >= self.maxsize);
                }
                Wait::Forever => {
                    st.putters += 1;
                    self.not_full.wait(&mut st);
                    st.putters -= 1;
                }
                Wait::Until(deadline) => {
                    st.putters += 1;
                    timed_out = self.not_full.wait_until(&mut st, deadline);
                    st.putters -= 1;
                }
            }
        }
        // Count and notify before storing: storing may run a user comparison that panics,
        // and the item is in the store before any comparison runs, so the books stay right.
        st.unfinished += 1;
        if st.getters > 0 {
            self.not_empty.notify_one();
        }
        st.store.push(item);
        self.set_len_hint(&st);
        Ok(())
    }

    pub(super) fn get(&self, wait: Wait) -> Result<T, Fail> {
        let mut st = self.state.lock();
        let mut timed_out = false;
        let mut spun = false;
        loop {
            if !st.store.is_empty() {
                // Notify before taking (the putter runs once we unlock): see `put`.
                if st.putters > 0 {
                    self.not_full.notify_one();
                }
                if let Some(item) = st.store.pop() {
                    self.set_len_hint(&st);
                    return Ok(item);
                }
            }
            if st.shutdown {
                return Err(Fail::ShutDown);
            }
            match wait {
                Wait::No => return Err(Fail::Empty),
                _ if timed_out => return Err(Fail::Timeout),
                _ if !spun => {
                    spun = true;
                    self.spin_while(&mut st, |len| len == 0);
                }
                Wait::Forever => {
                    st.getters += 1;
                    self.not_empty.wait(&mut st);
                    st.getters -= 1;
                }
                Wait::Until(deadline) => {
                    st.getters += 1;
                    timed_out = self.not_empty.wait_until(&mut st, deadline);
                    st.getters -= 1;
                }
            }
        }
    }

    /// False when there was no unfinished task.
    pub(super) fn task_done(&self) -> bool {
        let mut st = self.state.lock();
        if st.unfinished == 0 {
            return false;
        }
        st.unfinished -= 1;
        if st.unfinished == 0 && st.joiners > 0 {
            self.all_done.notify_all();
        }
        true
    }

    /// Waits for the unfinished count to reach zero; false if `deadline` passed first.
    pub(super) fn join(&self, deadline: Option<Instant>) -> bool {
        let mut st = self.state.lock();
        while st.unfinished > 0 {
            st.joiners += 1;
            let timed_out = match deadline {
                None => {
                    self.all_done.wait(&mut st);
                    false
                }
                Some(d) => self.all_done.wait_until(&mut st, d),
            };
            st.joiners -= 1;
            if timed_out && st.unfinished > 0 {
                return false;
            }
        }
        true
    }

    /// Shuts down; returns the dropped items so the caller drops them after the lock is gone.
    pub(super) fn shutdown(&self, immediate: bool) -> Option<Store<T>> {
        let mut st = self.state.lock();
        st.shutdown = true;
        let dropped = if immediate {
            let taken = st.store.take();
            st.unfinished = st.unfinished.saturating_sub(taken.len());
            self.set_len_hint(&st);
            if st.unfinished == 0 && st.joiners > 0 {
                self.all_done.notify_all();
            }
            Some(taken)
        } else {
            None
        };
        if st.getters > 0 {
            self.not_empty.notify_all();
        }
        if st.putters > 0 {
            self.not_full.notify_all();
        }
        dropped
    }

    pub(super) fn qsize(&self) -> usize {
        self.state.lock().store.len()
    }

    pub(super) fn order(&self) -> Order {
        self.order
    }

    pub(super) fn maxsize(&self) -> usize {
        self.maxsize
    }

    pub(super) fn unfinished(&self) -> usize {
        self.state.lock().unfinished
    }

    pub(super) fn is_shutdown(&self) -> bool {
        self.state.lock().shutdown
    }

    pub(super) fn waiting_getters(&self) -> usize {
        self.state.lock().getters
    }

    pub(super) fn waiting_putters(&self) -> usize {
        self.state.lock().putters
    }

    /// `(qsize, unfinished, shutdown)` if the lock is free right now (for `Debug`, which may
    /// run inside a comparison that holds the lock).
    pub(super) fn try_snapshot(&self) -> Option<(usize, usize, bool)> {
        let st = self.state.try_lock()?;
        Some((st.store.len(), st.unfinished, st.shutdown))
    }
}
