//! The output buffer of a `run` over an input of known length: workers move each value
//! straight into its slot, so values are neither copied nor reordered. This is the runner's only
//! raw-pointer code.
//!
//! # Invariant
//!
//! The buffer is a `Vec<O>`'s allocation of `cap` slots, owned by the [`OutBuf`] until
//! [`take_compact`](OutBuf::take_compact) turns it back into a `Vec` (once: `taken`). Each slot
//! is written at most once, by the one thread its index was given to: the driver hands each
//! index below `cap` to exactly one chunk (one worker), or keeps it and writes it itself. A
//! slot whose item failed is never written (a hole; the failure is kept on the side). Nothing
//! reads a slot before `take_compact`, which runs after every write happened-before it (the
//! writer's `Done` message went through a channel) and moves the written slots together.
//!
//! Unwinding: no user code runs inside this file. An item function that panics is caught per
//! chunk by the worker, before its value exists: its slot stays a hole. A run that unwinds or
//! is dropped before `take_compact` leaks the values written (it cannot tell which slots hold
//! one) and frees the allocation; no slot is ever dropped twice or read uninitialized.

use std::sync::atomic::{AtomicBool, Ordering};

/// The output of a `run` over an input of known length: `cap` slots, each written once by the
/// thread its index was given to (see the module's invariant).
pub(super) struct OutBuf<O> {
    ptr: *mut O,
    cap: usize,
    taken: AtomicBool,
}

// SAFETY: the buffer is only a place to move `O` values into from several threads, each slot
// written by exactly one thread (the invariant above); values cross threads, so `O: Send` is
// required and enough.
unsafe impl<O: Send> Sync for OutBuf<O> {}
// SAFETY: as above; the buffer owns its allocation.
unsafe impl<O: Send> Send for OutBuf<O> {}

impl<O> OutBuf<O> {
    /// A buffer of at least `cap` slots, none written.
    pub(super) fn new(cap: usize) -> OutBuf<O> {
        let mut v = std::mem::ManuallyDrop::new(Vec::<O>::with_capacity(cap));
        hint_huge_pages(
            v.as_mut_ptr().cast(),
            v.capacity() * std::mem::size_of::<O>(),
        );
        OutBuf {
            ptr: v.as_mut_ptr(),
            cap: v.capacity(),
            taken: AtomicBool::new(false),
        }
    }

    /// Moves `value` into slot `i`.
    ///
    /// # Safety
    ///
    /// `i < cap`, slot `i` is written once, and no other thread accesses slot `i` meanwhile.
    pub(super) unsafe fn write(&self, i: usize, value: O) {
        debug_assert!(i < self.cap);
        // SAFETY: in bounds and exclusively ours, per the caller's contract. `ptr::write`
        // drops nothing and runs no user code, so nothing can unwind half-way through it.
        unsafe { self.ptr.add(i).write(value) }
    }

    /// The first `len` slots as a `Vec`, without the slots listed in `holes` (sorted, each
    /// below `len`: the failed indices, never written): the values after a hole move down
    /// over it. The buffer gives up its allocation.
    ///
    /// # Safety
    ///
    /// Slots `0..len` except `holes` were all written, every write happened-before this
    /// call, and no slot is written afterwards.
    pub(super) unsafe fn take_compact(
        &self,
        len: usize,
        holes: impl Iterator<Item = usize>,
    ) -> Vec<O> {
        assert!(len <= self.cap && !self.taken.swap(true, Ordering::SeqCst));
        // Move each run of written slots down to `kept`, skipping the holes.
        let mut kept = 0;
        let mut from = 0;
        for hole in holes.chain(std::iter::once(len)) {
            assert!(
                hole >= from && hole <= len,
                "holes sorted, unique, below len"
            );
            let run = hole - from;
            if kept != from && run > 0 {
                // SAFETY: both ranges are inside the allocation (`hole <= len <= cap`); the
                // source slots are initialized (not holes) and are moved, never read again;
                // `copy` allows the overlap (`kept < from`). It runs no user code; if an
                // `assert!` of this loop unwinds, `taken` is already set, so `Drop` frees
                // nothing and the moved values leak rather than being dropped twice.
                unsafe { std::ptr::copy(self.ptr.add(from), self.ptr.add(kept), run) };
            }
            kept += run;
            from = hole + 1;
        }
        // SAFETY: `ptr`/`cap` come from a `Vec<O>` never freed; slots `0..kept` now hold the
        // initialized values, each once; `taken` makes this happen once. Nothing since the
        // last copy can unwind.
        unsafe { Vec::from_raw_parts(self.ptr, kept, self.cap) }
    }
}

/// Asks Linux to back a large output buffer with transparent huge pages: the workers fill it
/// once, front to back, so 2 MiB pages cut the page faults of a 10M-item run from ~20,000 to
/// ~40. Only the whole 2 MiB pages inside the buffer are advised; a no-op elsewhere, on small
/// buffers, and when the kernel says no.
fn hint_huge_pages(ptr: *mut u8, len: usize) {
    const HUGE: usize = 2 << 20;
    if !cfg!(target_os = "linux") || len < 4 * HUGE {
        return;
    }
    let start = (ptr as usize).next_multiple_of(HUGE);
    let end = (ptr as usize + len) & !(HUGE - 1);
    if end > start {
        #[cfg(target_os = "linux")]
        // SAFETY: advice only (no memory is unmapped or changed): `start..end` lies inside
        // the allocation the caller owns, and is page aligned.
        let _ = unsafe {
            rustix::mm::madvise(
                start as *mut std::ffi::c_void,
                end - start,
                rustix::mm::Advice::LinuxHugepage,
            )
        };
    }
}

impl<O> Drop for OutBuf<O> {
    fn drop(&mut self) {
        if !*self.taken.get_mut() {
            // A run dropped before it finished: we cannot tell which slots hold values, so
            // they are leaked; the allocation is freed.
            // SAFETY: the allocation came from a `Vec<O>` of capacity `cap` and is still ours
            // (`taken` unset: `take_compact` never started); length 0 drops no element, so
            // this runs no user code and cannot unwind.
            drop(unsafe { Vec::from_raw_parts(self.ptr, 0, self.cap) });
        }
    }
}
