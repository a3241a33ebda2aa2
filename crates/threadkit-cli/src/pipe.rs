//! `--pipe` and `--pipe-part`: the input is data for the jobs' stdin, cut into blocks of whole
//! records, not arguments.
//!
//! - [`Splitter`] (`--pipe`) reads standard input a block at a time: a block is the longest run
//!   of whole records that fits in `--block` bytes, the start of the next record included
//!   (GNU parallel's rule), or with `-N n`
//!   exactly `n` records. Only the block being cut is in memory here; the jobs hold the blocks
//!   they are fed, so memory is about (slots + 1) x the block size whatever the input's size.
//! - [`Parts`] (`--pipe-part`) finds the boundaries of a seekable file's parts by reading a
//!   few bytes at a time (GNU parallel's rule: a part ends at the first record boundary whose
//!   record end starts at least `--block` bytes after the part's start); the bytes of a part go from the file to the job
//!   without passing through threadkit ([`crate::job`] splices them into the job's stdin).
//!
//! A record ends after `--recend` (default a newline) and starts with `--recstart` (default
//! nothing): a boundary is a place right after a record end and right before a record start.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use anyhow::bail;
use memchr::memmem;

use crate::inputs::InputError;

/// What a job's stdin is fed.
#[derive(Debug)]
pub(crate) enum Feed {
    /// `--pipe`: a block of standard input.
    Block(Vec<u8>),
    /// `--pipe-part`: `len` bytes of `file` from `start`.
    Part {
        /// The file (`-a FILE`), shared by every part.
        file: Arc<File>,
        /// Offset of the part's first byte.
        start: u64,
        /// Bytes in the part.
        len: u64,
    },
}

impl Feed {
    /// Bytes to feed.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Feed::Block(b) => b.len() as u64,
            Feed::Part { len, .. } => *len,
        }
    }
}

/// `--block SIZE`: bytes, with GNU parallel's unit prefixes: `k` `m` `g` `t` `p` are powers of
/// 1000, `K` `M` `G` `T` `P` powers of 1024; a decimal number is allowed (`1.5M`).
///
/// # Errors
///
/// Not a number, an unknown suffix, zero, or more than fits in memory's address space.
pub(crate) fn parse_size(s: &str) -> anyhow::Result<usize> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: f64 = match c {
                'k' => 1e3,
                'm' => 1e6,
                'g' => 1e9,
                't' => 1e12,
                'p' => 1e15,
                'K' => 1024.0,
                'M' => 1024.0 * 1024.0,
                'G' => 1024.0 * 1024.0 * 1024.0,
                'T' => 1024f64.powi(4),
                'P' => 1024f64.powi(5),
                _ => bail!("--block {s:?}: unknown unit {c:?} (use k, m, g, t, p for powers of 1000, K, M, G, T, P for powers of 1024)"),
            };
            (&t[..i], m)
        }
        _ => (t, 1.0),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("--block {s:?}: not a size (a number of bytes, e.g. 10M)"))?;
    let bytes = (n * mult).round();
    if !bytes.is_finite() || bytes < 1.0 || bytes > (isize::MAX / 4) as f64 {
        bail!("--block {s:?}: must be at least 1 byte and fit in memory");
    }
    Ok(bytes as usize)
}

/// How records are delimited (`--recstart`, `--recend`).
#[derive(Debug, Clone)]
pub(crate) struct Records {
    start: Vec<u8>,
    end: Vec<u8>,
}

impl Records {
    /// GNU parallel's defaults: with neither given, a record ends with a newline; with one
    /// given, the other is empty.
    ///
    /// # Errors
    ///
    /// Both given and empty.
    pub(crate) fn new(start: Option<&[u8]>, end: Option<&[u8]>) -> anyhow::Result<Records> {
        let (start, end) = match (start, end) {
            (None, None) => (&b""[..], &b"\n"[..]),
            (s, e) => (s.unwrap_or_default(), e.unwrap_or_default()),
        };
        if start.is_empty() && end.is_empty() {
            bail!("--recstart and --recend cannot both be empty: records would have no boundary");
        }
        Ok(Records {
            start: start.to_vec(),
            end: end.to_vec(),
        })
    }

    /// The string searched for: the record end if there is one, else the record start; and
    /// where a boundary is relative to one of its occurrences.
    fn key(&self) -> (&[u8], usize) {
        if self.end.is_empty() {
            (&self.start, 0)
        } else {
            (&self.end, self.end.len())
        }
    }

    /// Bytes past a boundary needed to tell that it is one.
    fn lookahead(&self) -> usize {
        self.start.len()
    }

    /// `p` is a boundary of `buf`: inside it, after a record end, before a record start (whose
    /// bytes must be in `buf`).
    fn is_boundary(&self, buf: &[u8], p: usize) -> bool {
        p > 0 && p < buf.len() && buf[..p].ends_with(&self.end) && buf[p..].starts_with(&self.start)
    }

    /// The last boundary `p <= limit` of `buf`.
    fn last_boundary(&self, buf: &[u8], limit: usize) -> Option<usize> {
        let (key, shift) = self.key();
        // Occurrences whose boundary is at most `limit` lie in `buf[..limit - shift + key.len()]`.
        let mut hay = (limit + key.len()).saturating_sub(shift).min(buf.len());
        let finder = memmem::FinderRev::new(key);
        while let Some(i) = finder.rfind(&buf[..hay]) {
            let p = i + shift;
            if p <= limit && self.is_boundary(buf, p) {
                return Some(p);
            }
            if i == 0 {
                return None;
            }
            hay = i + key.len() - 1;
        }
        None
    }

    /// The first boundary `p >= from` of `buf`.
    fn first_boundary(&self, buf: &[u8], from: usize) -> Option<usize> {
        let (key, shift) = self.key();
        let mut at = from.saturating_sub(shift);
        let finder = memmem::Finder::new(key);
        while let Some(i) = finder.find(buf.get(at..)?) {
            let p = at + i + shift;
            if p >= from && self.is_boundary(buf, p) {
                return Some(p);
            }
            at += i + 1;
        }
        None
    }
}

/// How `--pipe` cuts standard input into blocks.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cut {
    /// `--block SIZE`: as many whole records as fit in SIZE bytes (one record, if longer).
    Size(usize),
    /// `-N n`: `n` records per block.
    Records(usize),
}

/// `--pipe`: standard input cut into blocks of whole records, read as they are needed.
pub(crate) struct Splitter {
    reader: Box<dyn Read + Send>,
    records: Records,
    cut: Cut,
    /// Bytes read and not yet handed out, from the start of the next block.
    buf: Vec<u8>,
    eof: bool,
}

impl std::fmt::Debug for Splitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Splitter")
            .field("cut", &self.cut)
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

/// Make glibc give every block its own mapping, returned to the system when the block is freed.
///
/// glibc raises its mmap threshold to the size of the largest block freed (up to 32 MiB), after
/// which blocks come from its per-thread heaps: a block is cut on one thread and freed on
/// another, and the heaps kept the freed blocks' pages resident, which took a `--pipe --block
/// 10M` run over 1 GiB to 65 MiB instead of 25. A fixed threshold turns the adjustment off.
fn blocks_outside_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable of the allocator; it is called before the threads
    // that allocate blocks exist (the plan is made before any job starts).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

impl Splitter {
    /// Blocks of `reader`.
    pub(crate) fn new(reader: Box<dyn Read + Send>, records: Records, cut: Cut) -> Splitter {
        blocks_outside_the_heap();
        Splitter {
            reader,
            records,
            cut,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// Read until `buf` holds `want` bytes or the input ends.
    fn fill(&mut self, want: usize) -> io::Result<()> {
        while !self.eof && self.buf.len() < want {
            let need = (want - self.buf.len()) as u64;
            self.buf.reserve(want - self.buf.len());
            match self.reader.by_ref().take(need).read_to_end(&mut self.buf) {
                Ok(n) if (n as u64) < need => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The first boundary at or after `from`, reading more as needed; the end of the input if
    /// there is none.
    fn boundary_from(&mut self, from: usize) -> io::Result<usize> {
        let mut searched = from;
        loop {
            if let Some(p) = self.records.first_boundary(&self.buf, searched) {
                return Ok(p);
            }
            if self.eof {
                return Ok(self.buf.len());
            }
            // Only the tail that may still hold the start of a boundary is searched again.
            let (key, _) = self.records.key();
            searched = searched.max(
                self.buf
                    .len()
                    .saturating_sub(key.len() + self.records.lookahead()),
            );
            let grow = self.buf.len().max(64 * 1024);
            self.fill(self.buf.len() + grow)?;
        }
    }

    /// The length of the next block, with its bytes (and the lookahead after it) in `buf`.
    fn next_len(&mut self) -> io::Result<usize> {
        match self.cut {
            Cut::Size(size) => {
                self.fill(size + self.records.lookahead() + 1)?;
                if self.eof && self.buf.len() <= size {
                    return Ok(self.buf.len());
                }
                // GNU parallel's rule: the record start after the cut is inside the block's
                // bytes too.
                let limit = size.saturating_sub(self.records.lookahead());
                match self.records.last_boundary(&self.buf, limit) {
                    Some(p) => Ok(p),
                    // A record longer than a block: it goes whole, alone.
                    None => self.boundary_from(size + 1),
                }
            }
            Cut::Records(n) => {
                let mut p = 0;
                for _ in 0..n {
                    p = self.boundary_from(p + 1)?;
                    if p >= self.buf.len() {
                        break;
                    }
                }
                Ok(p)
            }
        }
    }
}

impl Iterator for Splitter {
    type Item = Result<Vec<u8>, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        let len = match self.next_len() {
            Ok(len) => len,
            Err(error) => {
                self.eof = true;
                self.buf = Vec::new();
                return Some(Err(InputError::Read {
                    source: "stdin".into(),
                    error,
                }));
            }
        };
        if len == 0 {
            return None;
        }
        let rest = self.buf[len..].to_vec();
        let mut block = std::mem::replace(&mut self.buf, rest);
        block.truncate(len);
        Some(Ok(block))
    }
}

/// `--pipe-part`: the parts of a seekable file, each found by reading from its start plus the
/// block size to the next record boundary.
#[derive(Debug)]
pub(crate) struct Parts {
    file: Arc<File>,
    name: String,
    len: u64,
    size: u64,
    records: Records,
    /// Where the next part starts.
    next: u64,
}

impl Parts {
    /// The parts of `file` (named `name` in messages), of about `size` bytes each.
    ///
    /// # Errors
    ///
    /// The file's size cannot be read, or it is not a regular file (it must be seekable).
    pub(crate) fn new(
        file: File,
        name: String,
        size: usize,
        records: Records,
    ) -> anyhow::Result<Parts> {
        let meta = file
            .metadata()
            .map_err(|e| anyhow::anyhow!("--pipe-part: {name}: {e}"))?;
        if !meta.is_file() {
            bail!("--pipe-part needs a regular (seekable) file, and {name} is not one: use --pipe with it on standard input");
        }
        Ok(Parts {
            file: Arc::new(file),
            name,
            len: meta.len(),
            size: size as u64,
            records,
            next: 0,
        })
    }

    /// The end of the first boundary whose record end starts at or after `pos` (GNU parallel
    /// searches for `--recend` followed by `--recstart` from `pos`); the file's end if there
    /// is none.
    fn boundary_at(&self, pos: u64) -> io::Result<u64> {
        let from = pos;
        let mut buf = Vec::new();
        let mut chunk = 64 * 1024;
        loop {
            let at = from + buf.len() as u64;
            let old = buf.len();
            buf.resize(old + chunk, 0);
            let n = read_at_full(&self.file, &mut buf[old..], at)?;
            buf.truncate(old + n);
            if self.records.end.is_empty() && buf.starts_with(&self.records.start) {
                // A record starts right at `pos`.
                return Ok(pos);
            }
            if let Some(p) = self
                .records
                .first_boundary(&buf, self.records.end.len().max(1))
            {
                return Ok(from + p as u64);
            }
            if n == 0 || at + n as u64 >= self.len {
                return Ok(self.len);
            }
            chunk *= 2;
        }
    }
}

/// Read into `buf` at `offset` until it is full or the file ends; the bytes read.
fn read_at_full(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

impl Iterator for Parts {
    type Item = Result<Feed, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next < self.len {
            let pos = self.next.saturating_add(self.size);
            let end = if pos >= self.len {
                Ok(self.len)
            } else {
                self.boundary_at(pos)
            };
            let end = match end {
                Ok(e) => e,
                Err(error) => {
                    self.next = self.len;
                    return Some(Err(InputError::Read {
                        source: self.name.clone(),
                        error,
                    }));
                }
            };
            let start = std::mem::replace(&mut self.next, end);
            return Some(Ok(Feed::Part {
                file: self.file.clone(),
                start,
                len: end - start,
            }));
        }
        None
    }
}

/// The jobs' stdin data: blocks of stdin or parts of a file.
#[derive(Debug)]
pub(crate) enum Blocks {
    /// `--pipe`.
    Stdin(Splitter),
    /// `--pipe-part`.
    File(Parts),
}

impl Iterator for Blocks {
    type Item = Result<Feed, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Blocks::Stdin(s) => s.next().map(|b| b.map(Feed::Block)),
            Blocks::File(p) => p.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(input: &[u8], records: Records, cut: Cut) -> Vec<Vec<u8>> {
        Splitter::new(Box::new(io::Cursor::new(input.to_vec())), records, cut)
            .map(Result::unwrap)
            .collect()
    }

    fn lines() -> Records {
        Records::new(None, None).unwrap()
    }

    #[test]
    fn sizes_take_gnu_parallels_unit_prefixes() {
        assert_eq!(parse_size("1").unwrap(), 1);
        assert_eq!(parse_size("10k").unwrap(), 10_000);
        assert_eq!(parse_size("10K").unwrap(), 10_240);
        assert_eq!(parse_size("1M").unwrap(), 1 << 20);
        assert_eq!(parse_size("1.5m").unwrap(), 1_500_000);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert!(parse_size("0").is_err());
        assert!(parse_size("x").is_err());
        assert!(parse_size("10Q").is_err());
        assert!(parse_size("-1").is_err());
    }

    #[test]
    fn a_block_is_the_whole_lines_that_fit() {
        let b = blocks(b"aa\nbb\ncc\ndd", lines(), Cut::Size(7));
        assert_eq!(b, vec![b"aa\nbb\n".to_vec(), b"cc\ndd".to_vec()]);
        // Exactly at the size.
        let b = blocks(b"aa\nbb\ncc\n", lines(), Cut::Size(6));
        assert_eq!(b, vec![b"aa\nbb\n".to_vec(), b"cc\n".to_vec()]);
    }

    #[test]
    fn a_record_longer_than_a_block_goes_whole_and_alone() {
        let b = blocks(b"a\nbbbbbbbbbb\nc\nd\n", lines(), Cut::Size(3));
        assert_eq!(
            b,
            vec![
                b"a\n".to_vec(),
                b"bbbbbbbbbb\n".to_vec(),
                b"c\n".to_vec(),
                b"d\n".to_vec()
            ]
        );
        let b = blocks(b"xxxxxxxxxx", lines(), Cut::Size(3));
        assert_eq!(b, vec![b"xxxxxxxxxx".to_vec()]);
    }

    #[test]
    fn recstart_and_recend() {
        let r = Records::new(Some(b">"), None).unwrap();
        let b = blocks(b">a\nx\n>b\ny\n>c\n", r, Cut::Size(6));
        assert_eq!(
            b,
            vec![b">a\nx\n".to_vec(), b">b\ny\n".to_vec(), b">c\n".to_vec()]
        );
        let r = Records::new(None, Some(b";;")).unwrap();
        let b = blocks(b"a;;b;;c;;", r, Cut::Size(4));
        assert_eq!(b, vec![b"a;;".to_vec(), b"b;;".to_vec(), b"c;;".to_vec()]);
        // Both: a boundary is between an end and a start only.
        let r = Records::new(Some(b"S"), Some(b"E")).unwrap();
        let b = blocks(b"SaEbESbESc", r, Cut::Size(7));
        assert_eq!(b, vec![b"SaEbE".to_vec(), b"SbESc".to_vec()]);
        assert!(Records::new(Some(b""), Some(b"")).is_err());
    }

    #[test]
    fn n_records_per_block() {
        let b = blocks(b"1\n2\n3\n4\n5", lines(), Cut::Records(2));
        assert_eq!(
            b,
            vec![b"1\n2\n".to_vec(), b"3\n4\n".to_vec(), b"5".to_vec()]
        );
        assert!(blocks(b"", lines(), Cut::Records(2)).is_empty());
    }

    #[test]
    fn long_inputs_keep_every_byte() {
        let mut input = Vec::new();
        for i in 0..20_000u32 {
            input.extend_from_slice(format!("{i}\n").as_bytes());
            if i % 997 == 0 {
                input.extend(std::iter::repeat_n(b'x', 300_000));
                input.push(b'\n');
            }
        }
        for cut in [Cut::Size(1000), Cut::Size(1 << 16), Cut::Records(7)] {
            let b = blocks(&input, lines(), cut);
            assert_eq!(b.concat(), input);
            assert!(b.iter().all(|b| b.ends_with(b"\n")));
        }
    }

    #[test]
    fn parts_end_at_the_first_boundary_after_each_multiple() {
        let dir = std::env::temp_dir().join(format!("threadkit-parts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        std::fs::write(&path, b"aaaa\nbb\ncccccccccccc\nd\ne").unwrap();
        let parts = Parts::new(File::open(&path).unwrap(), "f".into(), 5, lines()).unwrap();
        let got: Vec<(u64, u64)> = parts
            .map(|p| match p.unwrap() {
                Feed::Part { start, len, .. } => (start, len),
                Feed::Block(_) => unreachable!(),
            })
            .collect();
        // Boundaries at 5, 8, 21, 23: from 0 + 5, a newline at 5 or later ends the part at 8;
        // from 8 + 5, at 21; from 21 + 5: past the end (24).
        assert_eq!(got, vec![(0, 8), (8, 13), (21, 3)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
