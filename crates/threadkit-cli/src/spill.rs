//! Captured job output in bounded memory: the first [`RAM_PER_STREAM`] bytes of a stream in
//! memory, the rest in one unlinked temporary file in `$TMPDIR` shared by all jobs (what GNU
//! parallel does with a file per job).
//!
//! The spill file is created on the first spill (so runs with small outputs never touch the
//! disk), opened `O_TMPFILE` (or created and unlinked at once), so it disappears with the
//! process whatever happens. Each capture takes extents of [`EXTENT`] bytes from it and writes
//! them with `pwrite`, so jobs spill concurrently without a lock around the writes; a dropped
//! capture punches holes where its extents were (the disk space comes back as output is
//! printed), and the file is truncated whenever no extent is in use. One descriptor in all,
//! whatever the number of jobs holding output (`-k`).
//!
//! When the spill file cannot be created or written (`$TMPDIR` full or unwritable), output
//! stays in memory, after one warning: nothing is lost.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Bytes of one output stream of one job kept in memory before the rest is spilled.
pub(crate) const RAM_PER_STREAM: usize = 64 * 1024;

/// Bytes of the spill file a capture takes at a time.
const EXTENT: u64 = 1 << 20;

/// The shared spill file.
#[derive(Debug)]
struct Spill {
    state: Mutex<SpillState>,
    warned: AtomicBool,
}

#[derive(Debug, Default)]
struct SpillState {
    file: Option<Arc<File>>,
    /// Where the next extent starts.
    end: u64,
    /// Extents handed out and not yet freed.
    live: u64,
}

static SPILL: Spill = Spill {
    state: Mutex::new(SpillState {
        file: None,
        end: 0,
        live: 0,
    }),
    warned: AtomicBool::new(false),
};

impl Spill {
    fn lock(&self) -> std::sync::MutexGuard<'_, SpillState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new extent: the file and its offset. `None` when the file cannot be created.
    fn alloc(&self) -> Option<(Arc<File>, u64)> {
        let mut s = self.lock();
        if s.file.is_none() {
            match create_unlinked() {
                Ok(f) => s.file = Some(Arc::new(f)),
                Err(e) => {
                    drop(s);
                    self.warn(&e);
                    return None;
                }
            }
        }
        let off = s.end;
        s.end += EXTENT;
        s.live += 1;
        s.file.clone().map(|f| (f, off))
    }

    /// Give back the extent at `off`.
    fn free(&self, off: u64) {
        let mut s = self.lock();
        s.live -= 1;
        let Some(file) = s.file.clone() else { return };
        if s.live == 0 {
            // Nothing in use: start over at the beginning.
            s.end = 0;
            let _ = file.set_len(0);
        } else {
            let _ = rustix::fs::fallocate(
                &*file,
                rustix::fs::FallocateFlags::PUNCH_HOLE | rustix::fs::FallocateFlags::KEEP_SIZE,
                off,
                EXTENT,
            );
        }
    }

    /// Say once that output stays in memory.
    fn warn(&self, e: &io::Error) {
        if !self.warned.swap(true, Ordering::SeqCst) {
            eprintln!(
                "threadkit: warning: cannot spill job output to a temporary file in {} ({e}); keeping it in memory",
                std::env::temp_dir().display()
            );
        }
    }
}

/// An unlinked read-write file in `$TMPDIR`.
fn create_unlinked() -> io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let dir = std::env::temp_dir();
    let flags = OFlags::RDWR | OFlags::CLOEXEC;
    match rustix::fs::open(&dir, flags | OFlags::TMPFILE, Mode::RUSR | Mode::WUSR) {
        Ok(fd) => Ok(File::from(fd)),
        Err(_) => {
            // No O_TMPFILE on this file system: create a fresh name and unlink it at once.
            for n in 0..100u32 {
                let path = dir.join(format!(
                    ".threadkit-spill-{}-{n}-{}",
                    std::process::id(),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.subsec_nanos())
                ));
                match rustix::fs::open(
                    &path,
                    flags | OFlags::CREATE | OFlags::EXCL,
                    Mode::RUSR | Mode::WUSR,
                ) {
                    Ok(fd) => {
                        let _ = std::fs::remove_file(&path);
                        return Ok(File::from(fd));
                    }
                    Err(rustix::io::Errno::EXIST) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            Err(io::Error::other("no free temporary file name"))
        }
    }
}

/// A piece of a capture, in order.
enum Part {
    Mem(Vec<u8>),
    /// `len` bytes at `off` in the spill file (an extent of [`EXTENT`] bytes).
    Disk {
        file: Arc<File>,
        off: u64,
        len: u64,
    },
}

/// One captured output stream: in memory up to a limit, the rest in the spill file.
pub(crate) struct Capture {
    parts: Vec<Part>,
    len: u64,
    /// Bytes in memory.
    ram: usize,
    /// Most bytes to keep in memory.
    limit: usize,
    /// The last byte captured (whether the output ends a line).
    last: Option<u8>,
}

impl Default for Capture {
    fn default() -> Capture {
        Capture {
            parts: Vec::new(),
            len: 0,
            ram: 0,
            limit: RAM_PER_STREAM,
            last: None,
        }
    }
}

impl fmt::Debug for Capture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capture")
            .field("len", &self.len)
            .field("ram", &self.ram)
            .finish()
    }
}

impl From<Vec<u8>> for Capture {
    fn from(v: Vec<u8>) -> Capture {
        let mut c = Capture::default();
        c.push(&v);
        c
    }
}

impl Capture {
    /// Bytes captured.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// True if nothing was captured.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held in memory.
    pub(crate) fn ram(&self) -> usize {
        self.ram
    }

    /// True if the captured bytes end with a newline.
    pub(crate) fn ends_line(&self) -> bool {
        self.last == Some(b'\n')
    }

    /// Append `data`.
    pub(crate) fn push(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if let Some(&b) = data.last() {
            self.last = Some(b);
        }
        while !data.is_empty() {
            if let Some(Part::Disk { file, off, len }) = self.parts.last_mut() {
                if *len < EXTENT {
                    let n = ((EXTENT - *len) as usize).min(data.len());
                    match file.write_all_at(&data[..n], *off + *len) {
                        Ok(()) => {
                            *len += n as u64;
                            data = &data[n..];
                            continue;
                        }
                        Err(e) => {
                            SPILL.warn(&e);
                            self.limit = usize::MAX;
                        }
                    }
                }
            }
            if self.ram < self.limit {
                let n = (self.limit - self.ram).min(data.len());
                match self.parts.last_mut() {
                    Some(Part::Mem(v)) => v.extend_from_slice(&data[..n]),
                    _ => self.parts.push(Part::Mem(data[..n].to_vec())),
                }
                self.ram += n;
                data = &data[n..];
                continue;
            }
            match SPILL.alloc() {
                Some((file, off)) => self.parts.push(Part::Disk { file, off, len: 0 }),
                None => self.limit = usize::MAX,
            }
        }
    }

    /// Move what is in memory to the spill file (for output held back by `-k`).
    pub(crate) fn spill_all(&mut self) {
        if self.ram == 0 {
            return;
        }
        let parts = std::mem::take(&mut self.parts);
        let len = self.len;
        self.limit = 0;
        self.ram = 0;
        for p in parts {
            match p {
                Part::Mem(v) => self.push(&v),
                disk => self.parts.push(disk),
            }
        }
        self.len = len;
    }

    /// Hand the captured bytes, in order, to `out` (in pieces of at most 64 KiB from disk).
    ///
    /// # Errors
    ///
    /// The first error of `out`, or of reading the spill file.
    pub(crate) fn write_to(&self, out: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        let mut buf = Vec::new();
        for p in &self.parts {
            match p {
                Part::Mem(v) => out(v)?,
                Part::Disk { file, off, len } => {
                    buf.resize(64 * 1024, 0);
                    let mut done = 0;
                    while done < *len {
                        let n = ((*len - done) as usize).min(buf.len());
                        file.read_exact_at(&mut buf[..n], off + done)?;
                        out(&buf[..n])?;
                        done += n as u64;
                    }
                }
            }
        }
        Ok(())
    }

    /// The captured bytes in one buffer (for `--results`).
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len() as usize);
        let _ = self.write_to(&mut |b| {
            v.extend_from_slice(b);
            Ok(())
        });
        v
    }

    /// Forget the bytes (the spill file's extents are given back).
    pub(crate) fn clear(&mut self) {
        for p in self.parts.drain(..) {
            if let Part::Disk { off, .. } = p {
                SPILL.free(off);
            }
        }
        self.len = 0;
        self.last = None;
        self.ram = 0;
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_come_back_in_order_across_memory_and_disk() {
        let data: Vec<u8> = (0..3 * EXTENT as usize + 12345)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let mut c = Capture::default();
        for piece in data.chunks(10_007) {
            c.push(piece);
        }
        assert_eq!(c.len(), data.len() as u64);
        assert_eq!(c.ram(), RAM_PER_STREAM);
        assert_eq!(c.to_vec(), data);
        c.spill_all();
        assert_eq!(c.ram(), 0);
        assert_eq!(c.to_vec(), data);
        c.clear();
        assert!(c.is_empty());
        c.push(b"again");
        assert_eq!(c.to_vec(), b"again");
    }
}
