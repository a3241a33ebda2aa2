//! Parking threads on an address, parking_lot_core's way: a crate-private seam so that the
//! primitives built on it ([`Semaphore`](super::Semaphore)) can be loom-checked.
//!
//! The contract is parking_lot_core's: [`Lot::park`] runs `validate` under the queue's lock and
//! enqueues the thread only if it returns true; [`Lot::unpark_some`] dequeues up to `n` parked
//! threads and runs its callback under that same lock, telling it whether threads are left;
//! a timed-out parker's `timed_out` runs under the lock too, told whether it was the last one.
//! The state word a primitive keeps (e.g. a "someone is parked" bit) is therefore only set and
//! cleared while the queue is locked, and no wake-up can slip between a check and the sleep.
//!
//! In a normal build [`Lot`] is empty and forwards to parking_lot_core's global table, keyed by
//! the address of the primitive's word. Under `--cfg loom` it is a model on
//! [`crate::primitive`]'s mutex and condvar (one per primitive): a count of parked threads and
//! of wake-ups handed out, with the callbacks run under the model's mutex, which is the
//! guarantee above. The primitive's own algorithm is what loom then checks.

/// How a [`Lot::park`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parked {
    /// Woken by an [`Lot::unpark_some`].
    Unparked,
    /// `validate` returned false: the thread did not sleep.
    Invalid,
    /// The deadline passed first (`timed_out` ran).
    TimedOut,
}

/// What an unpark did, as its callback sees it (under the queue's lock).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unparked {
    /// Threads woken by this call.
    #[allow(dead_code)]
    pub(crate) threads: usize,
    /// Whether threads are still parked on the key after this call.
    pub(crate) have_more: bool,
}

pub(crate) use imp::Lot;

#[cfg(not(loom))]
mod imp {
    use super::{Parked, Unparked};
    use parking_lot_core::{FilterOp, ParkResult, DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN};
    use std::time::Instant;

    /// The parking lot of one primitive: nothing of its own, the queues are parking_lot_core's.
    #[derive(Debug, Default)]
    pub(crate) struct Lot;

    impl Lot {
        pub(crate) const fn new() -> Self {
            Lot
        }

        /// Parks the calling thread on `key` unless `validate` (run under the queue's lock)
        /// returns false, until woken or `deadline` passes; then `timed_out(was_last)` runs
        /// under the lock.
        ///
        /// `key` must be the address of a word the caller owns (nothing else parks on it), and
        /// neither closure may panic or call into parking_lot.
        #[inline]
        pub(crate) fn park(
            &self,
            key: usize,
            validate: impl FnOnce() -> bool,
            timed_out: impl FnOnce(bool),
            deadline: Option<Instant>,
        ) -> Parked {
            // SAFETY: `key` is the address of the calling primitive's own state word, which
            // only that primitive parks on (parking_lot's own primitives key on theirs, and
            // two live objects have distinct addresses). `validate` and `timed_out` are atomic
            // operations on that word (the callers' contract above): they neither panic nor
            // call into parking_lot, so no unwinding can leave the queue locked.
            let r = unsafe {
                parking_lot_core::park(
                    key,
                    validate,
                    || {},
                    |_, was_last| timed_out(was_last),
                    DEFAULT_PARK_TOKEN,
                    deadline,
                )
            };
            match r {
                ParkResult::Unparked(_) => Parked::Unparked,
                ParkResult::Invalid => Parked::Invalid,
                ParkResult::TimedOut => Parked::TimedOut,
            }
        }

        /// Wakes up to `n` threads parked on `key` (oldest first); `callback` runs under the
        /// queue's lock before they wake. Same contract on `key` and `callback` as
        /// [`park`](Self::park).
        #[inline]
        pub(crate) fn unpark_some(&self, key: usize, n: usize, callback: impl FnOnce(Unparked)) {
            let callback = |r: parking_lot_core::UnparkResult| {
                callback(Unparked {
                    threads: r.unparked_threads,
                    have_more: r.have_more_threads,
                });
                DEFAULT_UNPARK_TOKEN
            };
            if n == 1 {
                // SAFETY: as in `park`: our own key; the callback is atomic operations only.
                unsafe { parking_lot_core::unpark_one(key, callback) };
            } else {
                let mut left = n;
                // SAFETY: as in `park`; the filter only counts.
                unsafe {
                    parking_lot_core::unpark_filter(
                        key,
                        |_| {
                            if left == 0 {
                                FilterOp::Stop
                            } else {
                                left -= 1;
                                FilterOp::Unpark
                            }
                        },
                        callback,
                    )
                };
            }
        }
    }
}

#[cfg(loom)]
mod imp {
    use super::{Parked, Unparked};
    use crate::primitive::{Condvar, Mutex};
    use std::time::Instant;

    /// The model of a parking lot for one primitive.
    #[derive(Debug, Default)]
    pub(crate) struct Lot {
        queue: Mutex<Queue>,
        cv: Condvar,
    }

    #[derive(Debug, Default)]
    struct Queue {
        /// Threads parked and not yet handed a wake-up.
        parked: usize,
        /// Wake-ups handed out and not yet taken by a parked thread.
        wakeups: usize,
    }

    impl Lot {
        pub(crate) fn new() -> Self {
            Lot::default()
        }

        pub(crate) fn park(
            &self,
            _key: usize,
            validate: impl FnOnce() -> bool,
            timed_out: impl FnOnce(bool),
            deadline: Option<Instant>,
        ) -> Parked {
            let mut q = self.queue.lock();
            if !validate() {
                return Parked::Invalid;
            }
            q.parked += 1;
            loop {
                if q.wakeups > 0 {
                    q.wakeups -= 1;
                    return Parked::Unparked;
                }
                match deadline {
                    None => self.cv.wait(&mut q),
                    Some(d) => {
                        // The shim times out only on a deadline already passed.
                        if self.cv.wait_until(&mut q, d) && q.wakeups == 0 {
                            q.parked -= 1;
                            timed_out(q.parked == 0);
                            return Parked::TimedOut;
                        }
                    }
                }
            }
        }

        pub(crate) fn unpark_some(&self, _key: usize, n: usize, callback: impl FnOnce(Unparked)) {
            let mut q = self.queue.lock();
            let k = n.min(q.parked);
            q.parked -= k;
            q.wakeups += k;
            callback(Unparked {
                threads: k,
                have_more: q.parked > 0,
            });
            drop(q);
            for _ in 0..k {
                self.cv.notify_one();
            }
        }
    }
}
