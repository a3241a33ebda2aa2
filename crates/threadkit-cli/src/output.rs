//! Printing job output: grouped per job (the default: a job's output appears in one piece when
//! it finishes, never interleaved with another's), in input order with `-k`, or line by line as
//! it comes with `--line-buffer`; `--tag` prefixes each line with the job's input.

use std::io::{self, IsTerminal, Write};
use std::sync::Mutex;

use crate::job::{LineSink, Stream};

/// Where job output goes (stdout and stderr of the runner).
#[derive(Debug)]
pub(crate) struct Printer {
    tag: bool,
    lock: Mutex<()>,
    /// stdout is a terminal: writing to it clears the progress bar first (`--bar`).
    stdout_tty: bool,
}

impl Printer {
    /// A printer; `tag` prefixes lines with the input.
    pub(crate) fn new(tag: bool) -> Printer {
        Printer {
            tag,
            lock: Mutex::new(()),
            stdout_tty: io::stdout().is_terminal(),
        }
    }

    /// The `--tag` prefix of a job: its inputs joined by spaces, then a tab.
    pub(crate) fn prefix(&self, args: &[Vec<u8>]) -> Option<Vec<u8>> {
        self.tag.then(|| {
            let mut p = args.join(&b' ');
            p.push(b'\t');
            p
        })
    }

    /// Print one finished job's captured output: stdout, then stderr.
    pub(crate) fn job(&self, prefix: Option<&[u8]>, stdout: &[u8], stderr: &[u8]) {
        if stdout.is_empty() && stderr.is_empty() {
            return;
        }
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let last = if stderr.is_empty() { stdout } else { stderr };
        self.around_bar(stderr.is_empty(), last.ends_with(b"\n"), || {
            if !stdout.is_empty() {
                let mut out = io::stdout().lock();
                let _ = write_tagged(&mut out, prefix, stdout).and_then(|()| out.flush());
            }
            if !stderr.is_empty() {
                let mut err = io::stderr().lock();
                let _ = write_tagged(&mut err, prefix, stderr).and_then(|()| err.flush());
            }
        });
    }

    /// Runs `write` with the progress bar (`--bar`) cleared first and drawn again below the
    /// output, unless the output goes to stdout only and stdout is not a terminal. Output that
    /// does not `end_line` gets a newline on the terminal, or the bar would be drawn over it.
    fn around_bar<R>(&self, stdout_only: bool, ends_line: bool, write: impl FnOnce() -> R) -> R {
        if stdout_only && !self.stdout_tty {
            return write();
        }
        threadkit::progress::suspend(|| {
            let r = write();
            if !ends_line && threadkit::progress::is_drawing() {
                let _ = io::stderr().write_all(b"\n");
            }
            r
        })
    }

    /// A line sink for one job (`--line-buffer`).
    pub(crate) fn lines<'a>(&'a self, prefix: Option<Vec<u8>>) -> JobLines<'a> {
        JobLines {
            printer: self,
            prefix,
        }
    }
}

/// Write `data`, with `prefix` before every line when given.
fn write_tagged(w: &mut impl Write, prefix: Option<&[u8]>, data: &[u8]) -> io::Result<()> {
    match prefix {
        None => w.write_all(data),
        Some(p) => {
            for line in data.split_inclusive(|&b| b == b'\n') {
                w.write_all(p)?;
                w.write_all(line)?;
            }
            Ok(())
        }
    }
}

/// Output lines of one running job, printed as they complete.
#[derive(Debug)]
pub(crate) struct JobLines<'a> {
    printer: &'a Printer,
    prefix: Option<Vec<u8>>,
}

impl LineSink for JobLines<'_> {
    fn line(&self, stream: Stream, line: &[u8]) {
        let _g = self.printer.lock.lock().unwrap_or_else(|e| e.into_inner());
        let p = self.prefix.as_deref();
        let stdout_only = matches!(stream, Stream::Out);
        let ends_line = line.ends_with(b"\n");
        let _ = self
            .printer
            .around_bar(stdout_only, ends_line, || match stream {
                Stream::Out => {
                    let mut o = io::stdout().lock();
                    write_tagged(&mut o, p, line).and_then(|()| o.flush())
                }
                Stream::Err => {
                    let mut o = io::stderr().lock();
                    write_tagged(&mut o, p, line).and_then(|()| o.flush())
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_every_line() {
        let mut v = Vec::new();
        write_tagged(&mut v, Some(b"a 1\t"), b"x\ny\nz").unwrap();
        assert_eq!(v, b"a 1\tx\na 1\ty\na 1\tz");
    }
}
