//! Printing job output: grouped per job (the default: a job's output appears in one piece when
//! it finishes, never interleaved with another's), in input order with `-k`, or line by line as
//! it comes with `--line-buffer`; `--tag` prefixes each line with the job's input.
//!
//! A write that fails is not ignored: the first failure stops the run (see [`Failure`]), and
//! nothing more is written after it, so the output is never silently cut in the middle.

use std::io::{self, IsTerminal, Write};
use std::sync::{Mutex, OnceLock};

use crate::job::{LineSink, Stream};
use crate::spill::Capture;
use crate::values::ValueList;

/// Why job output could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// stdout or stderr was closed by its reader (EPIPE, e.g. `| head`): the run ends quietly,
    /// as other tools do.
    Closed,
    /// Any other write error (a full disk...): reported, and the run exits 255.
    Error(String),
}

/// Called once, on the first failed write (stops the run).
type OnFailure = Box<dyn Fn(&Failure) + Send + Sync>;

/// Where job output goes (stdout and stderr of the runner).
pub(crate) struct Printer {
    tag: bool,
    /// Held while writing; holds the first failure.
    lock: Mutex<Option<Failure>>,
    on_failure: OnceLock<OnFailure>,
    /// stdout is a terminal: writing to it clears the progress bar first (`--bar`).
    stdout_tty: bool,
}

impl std::fmt::Debug for Printer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Printer").field("tag", &self.tag).finish()
    }
}

impl Printer {
    /// A printer; `tag` prefixes lines with the input.
    pub(crate) fn new(tag: bool) -> Printer {
        Printer {
            tag,
            lock: Mutex::new(None),
            on_failure: OnceLock::new(),
            stdout_tty: io::stdout().is_terminal(),
        }
    }

    /// What to do on the first failed write.
    pub(crate) fn on_failure(&self, f: OnFailure) {
        let _ = self.on_failure.set(f);
    }

    /// The first failed write, if any.
    pub(crate) fn failure(&self) -> Option<Failure> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Run `write` under the output lock unless a write failed before; note its failure.
    fn guarded(&self, what: &str, write: impl FnOnce() -> io::Result<()>) {
        let mut g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_some() {
            return;
        }
        if let Err(e) = write() {
            let failure = if e.kind() == io::ErrorKind::BrokenPipe {
                Failure::Closed
            } else {
                Failure::Error(format!("cannot write job output to {what}: {e}"))
            };
            if let Failure::Error(msg) = &failure {
                eprintln!("threadkit: {msg}; starting no more jobs");
            }
            if let Some(f) = self.on_failure.get() {
                f(&failure);
            }
            *g = Some(failure);
        }
    }

    /// The `--tag` prefix of a job: its inputs joined by spaces, then a tab.
    pub(crate) fn prefix(&self, args: &impl ValueList) -> Option<Vec<u8>> {
        self.tag.then(|| {
            let mut p = args.joined(b' ');
            p.push(b'\t');
            p
        })
    }

    /// Print one finished job's captured output: stdout, then stderr. A failure is kept
    /// (see [`Printer::failure`]) and ends the printing.
    pub(crate) fn job(&self, prefix: Option<&[u8]>, stdout: &Capture, stderr: &Capture) {
        if stdout.is_empty() && stderr.is_empty() {
            return;
        }
        let last = if stderr.is_empty() { stdout } else { stderr };
        self.around_bar(stderr.is_empty(), last.ends_line(), || {
            if !stdout.is_empty() {
                self.guarded("stdout", || {
                    write_lines(&mut io::stdout().lock(), prefix, stdout, &[])
                });
            }
            if !stderr.is_empty() {
                self.guarded("stderr", || {
                    write_lines(&mut io::stderr().lock(), prefix, stderr, &[])
                });
            }
        });
    }

    /// Runs `write` with the progress bar (`--bar`) cleared first and drawn again below the
    /// output, unless the output goes to stdout only and stdout is not a terminal. Output that
    /// does not `ends_line` gets a newline on the terminal, or the bar would be drawn over it.
    /// (Lock order: the bar's, then the printer's.)
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
        let p = self.prefix.as_deref();
        let ends_line = match complete.last() {
            Some(&b) => b == b'\n',
            None => pending.ends_line(),
        };
        let stdout_only = matches!(stream, Stream::Out);
        self.printer
            .around_bar(stdout_only, ends_line, || match stream {
                Stream::Out => self.printer.guarded("stdout", || {
                    write_lines(&mut io::stdout().lock(), p, pending, complete)
                }),
                Stream::Err => self.printer.guarded("stderr", || {
                    write_lines(&mut io::stderr().lock(), p, pending, complete)
                }),
            });
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
