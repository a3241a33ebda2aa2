//! Printing job output: grouped per job (the default: a job's output appears in one piece when
//! it finishes, never interleaved with another's), in input order with `-k`, or line by line as
//! it comes with `--line-buffer`; `--tag` prefixes each line with the job's input.

use std::io::{self, Write};
use std::sync::Mutex;

use crate::job::{LineSink, Stream};
use crate::spill::Capture;

/// Where job output goes (stdout and stderr of the runner).
#[derive(Debug)]
pub(crate) struct Printer {
    tag: bool,
    lock: Mutex<()>,
}

impl Printer {
    /// A printer; `tag` prefixes lines with the input.
    pub(crate) fn new(tag: bool) -> Printer {
        Printer {
            tag,
            lock: Mutex::new(()),
        }
    }

    /// The `--tag` prefix of a job: its inputs joined by spaces, then a tab.
    pub(crate) fn prefix(&self, args: &[String]) -> Option<Vec<u8>> {
        self.tag.then(|| {
            let mut p = args.join(" ").into_bytes();
            p.push(b'\t');
            p
        })
    }

    /// Print one finished job's captured output: stdout, then stderr.
    ///
    /// # Errors
    ///
    /// The first error writing to stdout or stderr (or reading spilled output back).
    pub(crate) fn job(
        &self,
        prefix: Option<&[u8]>,
        stdout: &Capture,
        stderr: &Capture,
    ) -> io::Result<()> {
        if stdout.is_empty() && stderr.is_empty() {
            return Ok(());
        }
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if !stdout.is_empty() {
            write_lines(&mut io::stdout().lock(), prefix, stdout, &[])?;
        }
        if !stderr.is_empty() {
            write_lines(&mut io::stderr().lock(), prefix, stderr, &[])?;
        }
        Ok(())
    }

    /// A line sink for one job (`--line-buffer`).
    pub(crate) fn lines<'a>(&'a self, prefix: Option<Vec<u8>>) -> JobLines<'a> {
        JobLines {
            printer: self,
            prefix,
        }
    }
}

/// Writes data with a prefix at the start of every line (`--tag`), across calls.
struct Tagger<'a> {
    prefix: Option<&'a [u8]>,
    at_line_start: bool,
}

impl<'a> Tagger<'a> {
    fn new(prefix: Option<&'a [u8]>) -> Tagger<'a> {
        Tagger {
            prefix,
            at_line_start: true,
        }
    }

    fn write(&mut self, w: &mut impl Write, data: &[u8]) -> io::Result<()> {
        let Some(p) = self.prefix else {
            return w.write_all(data);
        };
        for line in data.split_inclusive(|&b| b == b'\n') {
            if self.at_line_start {
                w.write_all(p)?;
            }
            w.write_all(line)?;
            self.at_line_start = line.ends_with(b"\n");
        }
        Ok(())
    }
}

/// Write `head` then `tail` (tagged when `prefix` is given) and flush.
fn write_lines(
    w: &mut impl Write,
    prefix: Option<&[u8]>,
    head: &Capture,
    tail: &[u8],
) -> io::Result<()> {
    let mut t = Tagger::new(prefix);
    head.write_to(&mut |b| t.write(w, b))?;
    t.write(w, tail)?;
    w.flush()
}

/// Output lines of one running job, printed as they complete.
#[derive(Debug)]
pub(crate) struct JobLines<'a> {
    printer: &'a Printer,
    prefix: Option<Vec<u8>>,
}

impl LineSink for JobLines<'_> {
    fn lines(&self, stream: Stream, pending: &Capture, complete: &[u8]) {
        let _g = self.printer.lock.lock().unwrap_or_else(|e| e.into_inner());
        let p = self.prefix.as_deref();
        let _ = match stream {
            Stream::Out => write_lines(&mut io::stdout().lock(), p, pending, complete),
            Stream::Err => write_lines(&mut io::stderr().lock(), p, pending, complete),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_every_line_across_pieces() {
        let mut v = Vec::new();
        let mut t = Tagger::new(Some(b"a 1\t"));
        t.write(&mut v, b"x\ny").unwrap();
        t.write(&mut v, b"y\nz").unwrap();
        assert_eq!(v, b"a 1\tx\na 1\tyy\na 1\tz");
    }
}
