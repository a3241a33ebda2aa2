//! A pseudo-terminal for tests that check what a person sees: run a command with stdout and
//! stderr on a pty of a given size, collect everything it wrote, and replay those bytes on a
//! tiny terminal model (enough of VT100 for progress bars: carriage return, line feed, erase
//! line, cursor movement, autowrap, scrolling). Also used by the CLI's tests
//! (`#[path]`-included), so it depends on std and libc only.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What a command left on a terminal.
#[derive(Debug)]
pub(crate) struct Screen {
    /// Every line the terminal ever showed, scrolled-off lines included, trailing blanks trimmed.
    pub(crate) lines: Vec<String>,
    /// The raw bytes the command wrote (for failure messages).
    pub(crate) raw: Vec<u8>,
    /// The command's exit status.
    pub(crate) status: ExitStatus,
}

impl Screen {
    /// The lines that are not blank.
    pub(crate) fn text_lines(&self) -> Vec<&str> {
        self.lines
            .iter()
            .map(String::as_str)
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

/// Runs `cmd` with stdout and stderr on a new `cols` x `rows` pty (stdin empty, `TERM=xterm`) and
/// returns what the terminal shows once it exits. Panics after `deadline` (killing the command)
/// so that a test cannot hang.
pub(crate) fn run_on_pty(cmd: Command, cols: u16, rows: u16, deadline: Duration) -> Screen {
    Session::spawn(cmd, cols, rows, false).finish(deadline)
}

/// A command running on a pty, to type into while it runs.
pub(crate) struct Session {
    master: File,
    child: Child,
    raw: Vec<u8>,
    cols: u16,
    rows: u16,
}

impl Session {
    /// Starts `cmd` on a new pty. With `controlling`, the pty is also its stdin and its
    /// controlling terminal (a new session), so that typing Ctrl-C ([`Session::type_bytes`]
    /// `b"\x03"`) echoes `^C` and sends SIGINT to it, as in a shell.
    pub(crate) fn spawn(mut cmd: Command, cols: u16, rows: u16, controlling: bool) -> Session {
        let (master, slave) = open_pty(cols, rows);
        let dup = || Stdio::from(slave.try_clone().expect("dup the pty"));
        cmd.env("TERM", "xterm")
            .env_remove("NO_COLOR")
            .stdout(dup())
            .stderr(dup());
        if controlling {
            cmd.stdin(dup());
            // SAFETY: the closure runs in the child between fork and exec and calls only
            // async-signal-safe functions (setsid, ioctl), allocating nothing.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        } else {
            cmd.stdin(Stdio::null());
        }
        let child = cmd.spawn().expect("spawn the command on the pty");
        // The Command holds copies of the slave: without dropping them (and ours) the master
        // never sees the end.
        drop(cmd);
        drop(slave);
        Session {
            master: File::from(master),
            child,
            raw: Vec::new(),
            cols,
            rows,
        }
    }

    /// Reads what the command writes until `seen` holds for all of it so far; panics (killing
    /// the command) if that has not happened within `deadline` or the command ended first.
    pub(crate) fn wait_for(
        &mut self,
        what: &str,
        deadline: Duration,
        seen: impl Fn(&[u8]) -> bool,
    ) {
        let end = Instant::now() + deadline;
        while !seen(&self.raw) {
            match read_some(&self.master, end, &mut self.raw) {
                Ok(true) => {}
                Ok(false) => self.fail(&format!("the command ended before {what}")),
                Err(()) => self.fail(&format!("no {what} within {deadline:?}")),
            }
        }
    }

    /// Types `bytes` on the terminal's keyboard.
    pub(crate) fn type_bytes(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("write to the pty");
    }

    /// Waits for the command to end (at most `deadline`) and returns the screen.
    pub(crate) fn finish(mut self, deadline: Duration) -> Screen {
        let end = Instant::now() + deadline;
        loop {
            match read_some(&self.master, end, &mut self.raw) {
                Ok(true) => {}
                Ok(false) => break,
                Err(()) => self.fail(&format!("the command did not finish within {deadline:?}")),
            }
        }
        let status = self.child.wait().expect("wait for the command");
        let lines = replay(&self.raw, usize::from(self.cols), usize::from(self.rows));
        Screen {
            lines,
            raw: self.raw,
            status,
        }
    }

    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!("{why}; it wrote:\n{}", String::from_utf8_lossy(&self.raw))
    }
}

/// A pty pair (master, slave) of the given size.
fn open_pty(cols: u16, rows: u16) -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two descriptors into the two ints; a null name and termios ask
    // for the defaults; `size` outlives the call.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty succeeded, so both are open descriptors that nothing else owns.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

/// Reads once from `master` into `out`, waiting at most until `end`: `Ok(true)` when something
/// was read, `Ok(false)` when every slave is closed (EIO on Linux), `Err` once `end` has passed.
fn read_some(master: &File, end: Instant, out: &mut Vec<u8>) -> Result<bool, ()> {
    let mut buf = [0u8; 8192];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(());
        }
        let mut pfd = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let wait_ms = left.as_millis().clamp(1, 1000) as libc::c_int;
        // SAFETY: one valid pollfd, count 1.
        let ready = unsafe { libc::poll(&mut pfd, 1, wait_ms) };
        if ready <= 0 {
            continue; // timeout (check the deadline) or EINTR
        }
        match (&*master).read(&mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                return Ok(true);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Ok(false), // EIO: the last slave descriptor was closed
        }
    }
}

/// Replays terminal output on a `cols` x `rows` screen; returns every line it showed, in order.
pub(crate) fn replay(bytes: &[u8], cols: usize, rows: usize) -> Vec<String> {
    let mut t = Term {
        lines: vec![Vec::new(); rows],
        row: 0,
        col: 0,
        cols,
        rows,
        wrap_pending: false,
    };
    let text = String::from_utf8_lossy(bytes);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                Some('[') => {
                    let mut params = String::new();
                    let mut fin = None;
                    for c in chars.by_ref() {
                        if ('\x40'..='\x7e').contains(&c) {
                            fin = Some(c);
                            break;
                        }
                        params.push(c);
                    }
                    if let Some(f) = fin {
                        t.csi(&params, f);
                    }
                }
                // Two-character escapes (charset selection and the like) change nothing here.
                Some('(' | ')') => {
                    chars.next();
                }
                _ => {}
            },
            '\r' => {
                t.col = 0;
                t.wrap_pending = false;
            }
            '\n' => t.line_feed(),
            '\x08' => {
                t.col = t.col.saturating_sub(1);
                t.wrap_pending = false;
            }
            '\t' => t.col = ((t.col / 8 + 1) * 8).min(cols - 1),
            c if c.is_control() => {}
            c => t.put(c),
        }
    }
    let mut lines: Vec<String> = t
        .lines
        .iter()
        .map(|l| l.iter().collect::<String>().trim_end().to_string())
        .collect();
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}

/// The terminal model: all lines ever shown; the screen is the last `rows` of them.
struct Term {
    lines: Vec<Vec<char>>,
    /// Cursor row, an index into `lines`.
    row: usize,
    col: usize,
    cols: usize,
    rows: usize,
    /// The last column was written: the next character goes to the next line (xterm's autowrap).
    wrap_pending: bool,
}

impl Term {
    fn top(&self) -> usize {
        self.lines.len() - self.rows
    }

    fn line_feed(&mut self) {
        self.wrap_pending = false;
        if self.row + 1 == self.lines.len() {
            self.lines.push(Vec::new()); // scroll: the top line goes to the scrollback
        }
        self.row += 1;
    }

    fn put(&mut self, c: char) {
        if self.wrap_pending {
            self.col = 0;
            self.line_feed();
        }
        let line = &mut self.lines[self.row];
        if line.len() <= self.col {
            line.resize(self.col + 1, ' ');
        }
        line[self.col] = c;
        if self.col + 1 == self.cols {
            self.wrap_pending = true;
        } else {
            self.col += 1;
        }
    }

    fn csi(&mut self, params: &str, fin: char) {
        if params.starts_with('?') {
            return; // private modes: cursor visibility and the like
        }
        let nums: Vec<usize> = params.split(';').map(|p| p.parse().unwrap_or(0)).collect();
        let n = nums.first().copied().unwrap_or(0);
        let count = n.max(1);
        self.wrap_pending = false;
        match fin {
            'A' => self.row = self.row.saturating_sub(count).max(self.top()),
            'B' => self.row = (self.row + count).min(self.lines.len() - 1),
            'C' => self.col = (self.col + count).min(self.cols - 1),
            'D' => self.col = self.col.saturating_sub(count),
            'G' => self.col = (count - 1).min(self.cols - 1),
            'H' | 'f' => {
                let r = count - 1;
                let c = nums.get(1).copied().unwrap_or(0).max(1) - 1;
                self.row = (self.top() + r).min(self.lines.len() - 1);
                self.col = c.min(self.cols - 1);
            }
            'K' => {
                let line = &mut self.lines[self.row];
                match n {
                    0 => line.truncate(self.col),
                    1 => line.iter_mut().take(self.col + 1).for_each(|ch| *ch = ' '),
                    _ => line.clear(),
                }
            }
            'J' => {
                let from = match n {
                    0 => {
                        self.lines[self.row].truncate(self.col);
                        self.row + 1
                    }
                    _ => self.top(),
                };
                for l in &mut self.lines[from..] {
                    l.clear();
                }
            }
            _ => {} // colours (m) and anything else that does not move text
        }
    }
}
