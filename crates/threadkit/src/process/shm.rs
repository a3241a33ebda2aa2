//! Shared memory segments: a sealed `memfd` mapped `MAP_SHARED`, private to the process tree
//! (reachable only through inherited or passed descriptors) and freed by the kernel when the
//! last descriptor and mapping are gone.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU32;

use rustix::fs::{MemfdFlags, SealFlags};
use rustix::mm::{MapFlags, ProtFlags};

/// A mapped, size-sealed shared memory segment.
pub(crate) struct Segment {
    fd: OwnedFd,
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is shared memory that every user accesses only through atomics; the
// pointer stays valid for the segment's life wherever the handle is moved or shared.
unsafe impl Send for Segment {}
// SAFETY: as above: `&Segment` only hands out atomics.
unsafe impl Sync for Segment {}

impl fmt::Debug for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment")
            .field("fd", &self.fd)
            .field("len", &self.len)
            .finish()
    }
}

const SEALS: SealFlags = SealFlags::SHRINK
    .union(SealFlags::GROW)
    .union(SealFlags::SEAL);

impl Segment {
    /// A new zero-filled segment of `len` bytes (at least 8).
    pub(crate) fn new(len: usize) -> io::Result<Segment> {
        let len = len.max(8);
        let fd = rustix::fs::memfd_create(
            "threadkit-shm",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )?;
        rustix::fs::ftruncate(&fd, len as u64)?;
        rustix::fs::fcntl_add_seals(&fd, SEALS)?;
        Segment::map(fd, len)
    }

    /// Maps a segment received from another process, checking it is a sealed segment of at
    /// least `min_len` bytes (so the mapping can never shrink under us).
    pub(crate) fn from_fd(fd: OwnedFd, min_len: usize) -> io::Result<Segment> {
        let seals = rustix::fs::fcntl_get_seals(&fd)?;
        if !seals.contains(SealFlags::SHRINK) {
            return Err(io::Error::other("not a threadkit shared memory segment"));
        }
        let size = rustix::fs::fstat(&fd)?.st_size as usize;
        if size < min_len.max(8) {
            return Err(io::Error::other("shared memory segment too small"));
        }
        Segment::map(fd, size)
    }

    fn map(fd: OwnedFd, len: usize) -> io::Result<Segment> {
        // SAFETY: a fresh mapping chosen by the kernel (null hint) of a sealed memfd of exactly
        // `len` bytes; nothing else is mapped over.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                0,
            )?
        };
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap"))?;
        Ok(Segment { fd, ptr, len })
    }

    pub(crate) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The atomic of type `A` at byte `offset`.
    ///
    /// # Panics
    ///
    /// When `offset` is misaligned for `A` or out of bounds (a bug in this module).
    pub(crate) fn atomic<A>(&self, offset: usize) -> &A {
        assert!(offset.is_multiple_of(std::mem::align_of::<A>()));
        assert!(offset + std::mem::size_of::<A>() <= self.len);
        // SAFETY: in bounds and aligned (checked; the mapping is page-aligned); the memory is
        // initialized (zero-filled by the kernel, then only written through atomics), lives as
        // long as `self`, and `A` is an atomic integer type valid for any bit pattern, so
        // shared references to it may alias across threads and processes.
        unsafe { &*self.ptr.as_ptr().add(offset).cast::<A>() }
    }

    pub(crate) fn word(&self, offset: usize) -> &AtomicU32 {
        self.atomic::<AtomicU32>(offset)
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, unmapped once; no reference into it outlives
        // `self` (all accessors borrow `self`).
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
