//! Slot numbers (GNU parallel's `{%}`): each worker thread of a run holds a number from 1 to
//! the run's `workers` for as long as it runs the run's items, so that no two items running at
//! the same time have the same one. Numbers are handed out once per thread (not per item), so
//! they cost nothing per item: a thread-local set when a worker loop starts (and when the
//! calling thread runs a chunk), restored when it ends.

use std::cell::Cell;

thread_local! {
    /// The slot of the batch item running on this thread; 0 outside batch items.
    static SLOT: Cell<usize> = const { Cell::new(0) };
}

/// The slot of the batch item running on this thread: a number from 1 to the run's
/// [`workers`](crate::batch::Batch::workers) that no other item of the run holds while this one
/// runs (GNU parallel's `{%}`: a job slot, to give each running item a scratch directory, a
/// GPU, a port of its own). `None` outside a batch item (a nested batch's items see their own
/// run's slot).
///
/// Each worker thread holds one slot for the whole run; when the calling thread runs items
/// (see [`caller_runs_items`](crate::batch::Batch::caller_runs_items)) it holds the last one.
/// A thread that replaces one stuck in a timed-out item takes over that item's slot: the
/// abandoned call is no longer one of the run's running items.
///
/// # Examples
///
/// ```
/// use threadkit::batch::{self, Batch};
///
/// let r = Batch::infallible(|_: &u32| batch::slot().unwrap())
///     .workers(3)
///     .progress(false)
///     .run(0..100u32)
///     .unwrap();
/// assert!(r.values().all(|s| (1..=3).contains(s)));
/// assert_eq!(batch::slot(), None);
/// ```
pub fn slot() -> Option<usize> {
    Some(SLOT.with(Cell::get)).filter(|&s| s > 0)
}

/// The slot of this thread (0: none).
pub(super) fn current() -> usize {
    SLOT.with(Cell::get)
}

/// While alive, this thread holds a slot; dropping it restores the slot it held before (a
/// pool thread goes back to none; a worker of an outer run, running a nested run's chunk as
/// that run's caller, back to its own).
pub(super) struct SlotGuard {
    before: usize,
}

impl SlotGuard {
    pub(super) fn enter(slot: usize) -> SlotGuard {
        SlotGuard {
            before: SLOT.with(|s| s.replace(slot)),
        }
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        SLOT.with(|s| s.set(self.before));
    }
}
