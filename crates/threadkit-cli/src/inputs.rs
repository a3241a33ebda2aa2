//! Input sources: `::: args`, `:::: FILE` (and `-a FILE`), stdin; combined as a cartesian
//! product (the last source varies fastest, as in GNU parallel) or paired with `--link`.
//!
//! The first source is streamed: 1M stdin lines go through in bounded memory, one line at a
//! time. The other sources of a product are read into memory once, since every item of the first
//! is combined with all of them; with `--link` every source is read (shorter ones are recycled,
//! GNU parallel's rule, so the longest must be known).
//!
//! An input is bytes, as read or as given on the command line: a file name that is not UTF-8
//! reaches the job unchanged (GNU parallel passes the bytes through too). A job's values are
//! one [`Values`] buffer: a streamed record is read straight into it ([`Inputs::next_value_into`]),
//! so `-X` over 100,000 lines allocates per job, not per line.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use crate::pack::Packer;
use crate::values::Values;

/// One input source as written on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SourceSpec {
    /// `::: a b c`
    Args(Vec<Vec<u8>>),
    /// `:::: FILE`, `-a FILE`; `-` is stdin.
    File(PathBuf),
}

/// How records are separated in files and stdin.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Separator(pub(crate) u8);

/// The inputs cannot go on: a source could not be read to its end (an I/O error), or an input
/// makes a command line longer than the system accepts. The jobs read before it run; the run
/// then exits 255 (see [`crate::run::Outcome::input_error`]).
#[derive(Debug)]
pub(crate) enum InputError {
    /// A source could not be read.
    Read {
        /// `stdin` or the file's name.
        source: String,
        /// What went wrong.
        error: io::Error,
    },
    /// One input alone makes a command line too long (GNU parallel's "Command line too long").
    TooLong {
        /// The input's number, from 1.
        input: u64,
        /// The command line's length with it alone, in bytes.
        len: usize,
        /// The limit (`-s`, or what the system accepts).
        max: usize,
        /// The input's first bytes.
        preview: Vec<u8>,
    },
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputError::Read { source, error } => {
                write!(f, "reading input from {source}: {error}")
            }
            InputError::TooLong {
                input,
                len,
                max,
                preview,
            } => write!(
                f,
                "command line too long ({len} >= {max} bytes, see -s) at input {input}: {}{}",
                String::from_utf8_lossy(&preview[..preview.len().min(50)]),
                if preview.len() > 50 { "..." } else { "" }
            ),
        }
    }
}

impl std::error::Error for InputError {}

/// How much a source is read at a time.
const CHUNK: usize = 64 * 1024;

/// A reader of records (lines by default), in chunks of [`CHUNK`] bytes: a record is found with
/// `memchr` in the chunk and copied once, onto the end of the job's values (cheaper per record
/// than `BufRead::read_until` through a `dyn` reader: docs/architecture.md, "cli11").
struct Records {
    reader: Box<dyn Read + Send>,
    chunk: Box<[u8]>,
    /// The unread bytes are `chunk[pos..end]`.
    pos: usize,
    end: usize,
    sep: u8,
    name: String,
}

impl Records {
    fn new(reader: Box<dyn Read + Send>, sep: u8, name: String) -> Records {
        Records {
            reader,
            chunk: vec![0; CHUNK].into_boxed_slice(),
            pos: 0,
            end: 0,
            sep,
            name,
        }
    }

    /// Append the next record to `out`, without its separator; false at the end of the input.
    /// On an error, what was appended is left for the caller to drop.
    fn read_record(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        let mut any = false;
        loop {
            let unread = &self.chunk[self.pos..self.end];
            if let Some(i) = memchr::memchr(self.sep, unread) {
                out.extend_from_slice(&unread[..i]);
                self.pos += i + 1;
                return Ok(true);
            }
            out.extend_from_slice(unread);
            any |= !unread.is_empty();
            self.pos = 0;
            self.end = 0;
            match self.reader.read(&mut self.chunk) {
                // The last record may lack its separator.
                Ok(0) => return Ok(any),
                Ok(n) => self.end = n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn next_record(&mut self) -> Option<Result<Vec<u8>, InputError>> {
        let mut buf = Vec::new();
        match self.read_record(&mut buf) {
            Ok(false) => None,
            Ok(true) => Some(Ok(buf)),
            Err(error) => Some(Err(self.read_error(error))),
        }
    }

    /// The next record, appended to `out` as its last value.
    fn next_into(&mut self, out: &mut Values) -> Option<Result<(), InputError>> {
        let mut failed = None;
        let read = out.push_with(|buf| match self.read_record(buf) {
            Ok(found) => found.then_some(()),
            Err(error) => {
                failed = Some(error);
                None
            }
        });
        match failed {
            Some(error) => Some(Err(self.read_error(error))),
            None => read.map(Ok),
        }
    }

    fn read_error(&self, error: io::Error) -> InputError {
        InputError::Read {
            source: self.name.clone(),
            error,
        }
    }
}

/// An opened source: either arguments in memory or a stream of records.
enum Opened {
    Mem(Vec<Vec<u8>>),
    Stream(Records),
}

fn open(spec: &SourceSpec, sep: Separator) -> anyhow::Result<Opened> {
    match spec {
        SourceSpec::Args(a) => Ok(Opened::Mem(a.clone())),
        SourceSpec::File(p) if p.as_os_str() == "-" => Ok(Opened::Stream(Records::new(
            Box::new(io::stdin()),
            sep.0,
            "stdin".into(),
        ))),
        SourceSpec::File(p) => {
            let f = File::open(p)
                .map_err(|e| anyhow::anyhow!("cannot open input file {}: {e}", p.display()))?;
            if f.metadata().map(|m| m.is_dir()).unwrap_or(false) {
                anyhow::bail!("cannot read input file {}: it is a directory", p.display());
            }
            Ok(Opened::Stream(Records::new(
                Box::new(f),
                sep.0,
                p.display().to_string(),
            )))
        }
    }
}

fn read_all(o: Opened) -> anyhow::Result<Vec<Vec<u8>>> {
    match o {
        Opened::Mem(v) => Ok(v),
        Opened::Stream(mut r) => {
            let mut v = Vec::new();
            while let Some(x) = r.next_record() {
                v.push(x?);
            }
            Ok(v)
        }
    }
}

/// The combined inputs: an iterator of the values of each job: a tuple (one input per source),
/// split into columns with `--colsep`, packed by [`Packer`] (`-N`, `-m`, `-X`, the line limit).
pub(crate) struct Inputs {
    /// `--header :`: the first input of each source.
    headers: Vec<Vec<u8>>,
    /// `--colsep`.
    columns: Option<regex::bytes::Regex>,
    /// The values of each job from the records.
    pack: Option<Box<Packer>>,
    first: Option<Opened>,
    mem_first_pos: usize,
    current: Option<Vec<u8>>,
    rest: Vec<Vec<Vec<u8>>>,
    odometer: Vec<usize>,
    link: Option<(usize, usize)>,
    done: bool,
    /// Tuples still to come, when known (every source in memory).
    remaining: Option<u64>,
}

impl std::fmt::Debug for Inputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inputs")
            .field("sources", &(1 + self.rest.len()))
            .finish_non_exhaustive()
    }
}

impl Inputs {
    /// Open every source (so an unreadable file fails before any job starts) and prepare the
    /// combination. `specs` must not be empty. `header`: the first input of each source is its
    /// header ([`Inputs::names`]), not a job's.
    ///
    /// # Errors
    ///
    /// A file that cannot be opened or read (the sources after the first are read here), stdin
    /// named twice.
    pub(crate) fn open(
        specs: &[SourceSpec],
        sep: Separator,
        link: bool,
        header: bool,
    ) -> anyhow::Result<Inputs> {
        let mut opened = Vec::with_capacity(specs.len());
        let stdin_uses = specs
            .iter()
            .filter(|s| matches!(s, SourceSpec::File(p) if p.as_os_str() == "-"))
            .count();
        if stdin_uses > 1 {
            anyhow::bail!("stdin (`-`) can be used as an input source only once");
        }
        for s in specs {
            opened.push(open(s, sep)?);
        }
        let mut headers = Vec::new();
        if header {
            for o in &mut opened {
                headers.push(match o {
                    Opened::Mem(v) if v.is_empty() => Vec::new(),
                    Opened::Mem(v) => v.remove(0),
                    Opened::Stream(r) => r.next_record().transpose()?.unwrap_or_default(),
                });
            }
        }
        let mut it = opened.into_iter();
        let first = it
            .next()
            .ok_or_else(|| anyhow::anyhow!("no input source"))?;
        let rest = it.map(read_all).collect::<anyhow::Result<Vec<_>>>()?;
        if link && !rest.is_empty() {
            let first = read_all(first)?;
            let mut all = vec![first];
            all.extend(rest);
            let longest = all.iter().map(Vec::len).max().unwrap_or(0);
            let any_empty = all.iter().any(Vec::is_empty);
            let mut all = all.into_iter();
            let first = all.next().unwrap_or_default();
            return Ok(Inputs {
                headers,
                columns: None,
                pack: None,
                first: Some(Opened::Mem(first)),
                mem_first_pos: 0,
                current: None,
                rest: all.collect(),
                odometer: Vec::new(),
                link: Some((0, if any_empty { 0 } else { longest })),
                done: false,
                remaining: Some(if any_empty { 0 } else { longest as u64 }),
            });
        }
        let done = rest.iter().any(Vec::is_empty);
        let remaining = match &first {
            _ if done => Some(0),
            Opened::Mem(v) => rest
                .iter()
                .try_fold(v.len() as u64, |acc, r| acc.checked_mul(r.len() as u64)),
            Opened::Stream(_) => None,
        };
        Ok(Inputs {
            headers,
            columns: None,
            pack: None,
            remaining,
            odometer: vec![0; rest.len()],
            first: Some(first),
            mem_first_pos: 0,
            current: None,
            rest,
            link: None,
            done,
        })
    }

    fn next_first(&mut self) -> Option<Result<Vec<u8>, InputError>> {
        match self.first.as_mut()? {
            Opened::Mem(v) => {
                let x = v.get(self.mem_first_pos).cloned();
                self.mem_first_pos += 1;
                x.map(Ok)
            }
            Opened::Stream(r) => r.next_record(),
        }
    }
}

impl Inputs {
    /// `--colsep`: split every input into columns at `re`.
    pub(crate) fn columns(&mut self, re: regex::bytes::Regex) {
        self.columns = Some(re);
    }

    /// Make the jobs' values with `packer`.
    pub(crate) fn pack(&mut self, packer: Packer) {
        self.pack = Some(Box::new(packer));
    }

    /// `--header :`: the name of each position: the first input of each source, or with
    /// `--colsep` each of its columns.
    pub(crate) fn names(&self) -> Vec<Vec<u8>> {
        self.split(self.headers.clone())
    }

    /// A tuple's values: its inputs, or with `--colsep` their columns, in order.
    fn split(&self, tuple: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        match &self.columns {
            None => tuple,
            // Columns lose the blanks around them (GNU parallel's `--trim lr`, its default
            // with `--colsep`).
            Some(re) => tuple
                .iter()
                .flat_map(|v| re.split(v).map(|c| c.trim_ascii().to_vec()))
                .collect(),
        }
    }

    /// True if a record is one value: a single source, without columns.
    fn single(&self) -> bool {
        self.rest.is_empty() && self.link.is_none() && self.columns.is_none()
    }

    /// The next value of a single source without columns (what `-N`, `-m`, `-X` pack), without
    /// the tuple around it, appended to `out`; other inputs give their record's values joined.
    pub(crate) fn next_value_into(&mut self, out: &mut Values) -> Option<Result<(), InputError>> {
        if !self.single() {
            return self.next_record().map(|r| {
                r.map(|t| {
                    out.push_with(|buf| {
                        t.iter().for_each(|v| buf.extend_from_slice(v));
                        Some(())
                    });
                })
            });
        }
        if self.done {
            return None;
        }
        let item = match self.first.as_mut() {
            None => None,
            Some(Opened::Mem(v)) => {
                let x = v.get(self.mem_first_pos);
                self.mem_first_pos += 1;
                x.map(|x| {
                    out.push(x);
                    Ok(())
                })
            }
            Some(Opened::Stream(r)) => r.next_into(out),
        };
        match (&item, &mut self.remaining) {
            (Some(Ok(_)), Some(n)) => *n = n.saturating_sub(1),
            (Some(Ok(_)), None) => {}
            (_, r) => {
                self.done = true;
                *r = Some(0);
            }
        }
        item
    }

    /// The next record: a tuple of the sources, split into columns with `--colsep`.
    pub(crate) fn next_record(&mut self) -> Option<Result<Vec<Vec<u8>>, InputError>> {
        let item = self.next_counted()?;
        Some(item.map(|t| self.split(t)))
    }

    /// The next record's values in one buffer (a single source's is read straight into it).
    pub(crate) fn next_values(&mut self) -> Option<Result<Values, InputError>> {
        if !self.single() {
            return self.next_record().map(|r| r.map(Values::from));
        }
        let mut out = Values::with_capacity(1, 0);
        self.next_value_into(&mut out).map(|r| r.map(|()| out))
    }
}

impl Iterator for Inputs {
    type Item = Result<Values, InputError>;

    fn size_hint(&self) -> (usize, Option<usize>) {
        let records = self.remaining.map(|n| n as usize);
        let jobs = match &self.pack {
            None => records,
            Some(p) => p.size_hint(records),
        };
        match jobs {
            Some(n) => (n, Some(n)),
            None => (0, None),
        }
    }

    fn next(&mut self) -> Option<Self::Item> {
        let Some(mut pack) = self.pack.take() else {
            return self.next_values();
        };
        let job = pack.next(self);
        self.pack = Some(pack);
        job
    }
}

impl Inputs {
    /// The next tuple, counted in `remaining`.
    fn next_counted(&mut self) -> Option<Result<Vec<Vec<u8>>, InputError>> {
        let item = self.next_tuple();
        match (&item, &mut self.remaining) {
            (Some(Ok(_)), Some(n)) => *n = n.saturating_sub(1),
            (_, r) if item.is_none() || matches!(item, Some(Err(_))) => *r = Some(0),
            _ => {}
        }
        item
    }
}

impl Inputs {
    fn next_tuple(&mut self) -> Option<Result<Vec<Vec<u8>>, InputError>> {
        if self.done {
            return None;
        }
        if let Some((i, n)) = self.link {
            if i >= n {
                self.done = true;
                return None;
            }
            self.link = Some((i + 1, n));
            let Some(Opened::Mem(first)) = &self.first else {
                return None;
            };
            let mut t = Vec::with_capacity(1 + self.rest.len());
            t.push(first[i % first.len()].clone());
            t.extend(self.rest.iter().map(|r| r[i % r.len()].clone()));
            return Some(Ok(t));
        }
        if self.rest.is_empty() {
            return match self.next_first() {
                None => {
                    self.done = true;
                    None
                }
                Some(Ok(x)) => Some(Ok(vec![x])),
                Some(Err(e)) => {
                    self.done = true;
                    Some(Err(e))
                }
            };
        }
        // Cartesian product: advance the odometer; the first source advances when it wraps.
        if self.current.is_none() {
            match self.next_first() {
                None => {
                    self.done = true;
                    return None;
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Some(Ok(x)) => self.current = Some(x),
            }
        }
        let mut t = Vec::with_capacity(1 + self.rest.len());
        t.push(self.current.clone().unwrap_or_default());
        t.extend(
            self.odometer
                .iter()
                .zip(&self.rest)
                .map(|(&o, r)| r[o].clone()),
        );
        self.advance();
        Some(Ok(t))
    }
}

impl Inputs {
    /// Step the odometer of the non-first sources; the last varies fastest.
    fn advance(&mut self) {
        for k in (0..self.rest.len()).rev() {
            self.odometer[k] += 1;
            if self.odometer[k] < self.rest[k].len() {
                return;
            }
            self.odometer[k] = 0;
        }
        // Full wrap: the next call takes a new item from the first source.
        self.current = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::ValueList;

    fn collect(specs: &[SourceSpec], link: bool) -> Vec<Vec<String>> {
        Inputs::open(specs, Separator(b'\n'), link, false)
            .unwrap()
            .map(|t| text(&t.unwrap()))
            .collect()
    }

    fn text(t: &Values) -> Vec<String> {
        t.each()
            .map(|v| String::from_utf8(v.to_vec()).unwrap())
            .collect()
    }

    fn a(v: &[&str]) -> SourceSpec {
        SourceSpec::Args(v.iter().map(|s| s.as_bytes().to_vec()).collect())
    }

    #[test]
    fn product_varies_the_last_source_fastest() {
        let got = collect(&[a(&["a", "b"]), a(&["1", "2", "3"])], false);
        let want: Vec<Vec<String>> = ["a1", "a2", "a3", "b1", "b2", "b3"]
            .iter()
            .map(|s| s.chars().map(|c| c.to_string()).collect())
            .collect();
        assert_eq!(got, want);
        assert!(collect(&[a(&["a"]), a(&[])], false).is_empty());
        assert_eq!(
            collect(&[a(&["x"]), a(&["1"]), a(&["p", "q"])], false).len(),
            2
        );
    }

    #[test]
    fn link_recycles_shorter_sources() {
        let got = collect(&[a(&["a", "b", "c"]), a(&["1", "2"])], true);
        assert_eq!(got, vec![vec!["a", "1"], vec!["b", "2"], vec!["c", "1"]]);
    }

    #[test]
    fn streamed_values_pack_into_one_buffer_byte_for_byte() {
        // An empty record, bytes that are not UTF-8, a newline inside a record, and a last
        // record without its separator, appended one after another to the same buffer.
        let path = std::env::temp_dir().join(format!("tk-values-{}", std::process::id()));
        std::fs::write(&path, b"a\0\0\xff\n\xfe\0last").unwrap();
        let mut inputs = Inputs::open(
            &[SourceSpec::File(path.clone())],
            Separator(0),
            false,
            false,
        )
        .unwrap();
        let mut values = Values::default();
        while let Some(r) = inputs.next_value_into(&mut values) {
            r.unwrap();
        }
        assert!(inputs.next_value_into(&mut values).is_none());
        let want: Vec<Vec<u8>> = vec![
            b"a".to_vec(),
            b"".to_vec(),
            b"\xff\n\xfe".to_vec(),
            b"last".to_vec(),
        ];
        assert_eq!(values.to_vecs(), want);
        assert_eq!(values.total_bytes(), 8);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn files_are_split_on_the_separator() {
        let dir = std::env::temp_dir().join(format!("tk-inputs-{}", std::process::id()));
        std::fs::write(&dir, b"x y\0z\n\xe9\0").unwrap();
        let got: Vec<_> =
            Inputs::open(&[SourceSpec::File(dir.clone())], Separator(0), false, false)
                .unwrap()
                .map(|t| t.unwrap().to_vecs())
                .collect();
        assert_eq!(got, vec![vec![b"x y".to_vec()], vec![b"z\n\xe9".to_vec()]]);
        std::fs::remove_file(&dir).unwrap();
        assert!(Inputs::open(
            &[SourceSpec::File("/nonexistent/x".into())],
            Separator(b'\n'),
            false,
            false
        )
        .is_err());
    }
}
