//! The terminal row a live [`Bar`](super::Bar) occupies, and who may write to it.
//!
//! indicatif renders the bar's frames; instead of writing them to stderr itself it hands them to
//! a [`LineTerm`] (its `TermLike` hook), and a [`Line`] decides when a frame reaches the
//! terminal. That lets a writer ([`super::suspend`]) clear the bar with one short write and leave
//! it cleared while output streams, instead of indicatif's forced clear-and-redraw around every
//! write, which made `--bar --line-buffer` eight times slower on a flood of lines. The bar is
//! drawn again right after a write while writes are sparse (a bucket of [`BURST`] redraws,
//! refilled at [`REDRAWS_PER_SEC`]); in a flood it comes back at that rate, or with the ticker's
//! next frame.
//!
//! The bar is one row: a frame is `\r`, the text, erase to the end of the row, with the cursor
//! left at the end of the text. Clearing is `\r` and erase the row; the writer's output then
//! starts on that row.

use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use indicatif::TermLike;

/// Redraws after writes that may follow each other at once (a group of jobs finishing together
/// keeps the bar on screen)...
const BURST: f64 = 4.0;
/// ... and the sustained rate of redraws after writes (a flood of lines costs at most this many
/// bar draws a second).
const REDRAWS_PER_SEC: f64 = 50.0;

/// Columns left free at the end of the bar's row: the terminal's `^C` echo fits there.
const ECHO_ROOM: u16 = 3;

/// The terminal row of one live bar on stderr.
#[derive(Debug)]
pub(super) struct Line {
    state: Mutex<State>,
}

#[derive(Debug)]
pub(super) struct State {
    /// The frame indicatif is writing (since its last flush).
    frame: String,
    /// The last complete frame, trailing blanks trimmed.
    latest: String,
    /// `latest` is on the terminal and the cursor sits at its end.
    shown: bool,
    /// Redraws after writes still allowed now (a token bucket: [`BURST`], [`REDRAWS_PER_SEC`]).
    tokens: f64,
    /// When `tokens` was last refilled.
    refilled_at: Instant,
    /// The bar is finished or gone: its last frame stays, nothing more is drawn.
    closed: bool,
}

impl Line {
    /// A line on stderr, if stderr is a terminal that can move its cursor (indicatif's own
    /// test: a terminal, and `TERM` is not `dumb`).
    pub(super) fn stderr() -> Option<Arc<Line>> {
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        (io::stderr().is_terminal() && !dumb).then(|| {
            Arc::new(Line {
                state: Mutex::new(State {
                    frame: String::new(),
                    latest: String::new(),
                    shown: false,
                    tokens: BURST,
                    refilled_at: Instant::now(),
                    closed: false,
                }),
            })
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Draws the last frame again if it is not on the terminal (called by the ticker, so that
    /// a bar cleared by a writer comes back even when indicatif has no new frame).
    pub(super) fn refresh(&self) {
        let mut s = self.lock();
        if !s.shown && !s.closed && !s.latest.is_empty() {
            s.draw();
        }
    }

    /// The bar is over: its last frame stays as the summary, the cursor goes to the next row,
    /// and later frames are ignored.
    pub(super) fn close(&self) {
        let mut s = self.lock();
        if !s.closed {
            if !s.shown && !s.latest.is_empty() {
                s.draw();
            }
            if s.shown {
                s.emit(b"\n");
                s.shown = false;
            }
            s.closed = true;
        }
    }
}

impl State {
    /// Takes the bar off the terminal (the cursor goes to the start of its row).
    pub(super) fn clear(&mut self) {
        if self.shown {
            self.emit(b"\r\x1b[K");
            self.shown = false;
        }
    }

    /// After a writer: the bar again, unless writes come faster than the redraw budget (then
    /// a later write or the next frame draws it).
    pub(super) fn restore(&mut self) {
        let now = Instant::now();
        let refill = now.duration_since(self.refilled_at).as_secs_f64() * REDRAWS_PER_SEC;
        self.tokens = (self.tokens + refill).min(BURST);
        self.refilled_at = now;
        if !self.closed && !self.latest.is_empty() && self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.draw();
        }
    }

    fn draw(&mut self) {
        let width = usize::from(stderr_size().1.saturating_sub(ECHO_ROOM)).max(1);
        let text: String = self.latest.chars().take(width).collect();
        self.emit(format!("\r{text}\x1b[K").as_bytes());
        self.shown = true;
    }

    fn emit(&self, bytes: &[u8]) {
        // A bar that cannot be drawn is not worth an error: the run's results do not depend
        // on it.
        let mut err = io::stderr().lock();
        let _ = err.write_all(bytes).and_then(|()| err.flush());
    }
}

/// indicatif's view of a [`Line`]: collects each frame and hands it over on `flush`.
#[derive(Debug)]
pub(super) struct LineTerm(pub(super) Arc<Line>);

impl TermLike for LineTerm {
    fn width(&self) -> u16 {
        // Short of the row by the `^C` the terminal echoes at the cursor on Ctrl-C, so that the
        // echo stays on the bar's row (and is cleared with it) instead of wrapping below it.
        stderr_size().1.saturating_sub(ECHO_ROOM).max(1)
    }

    fn height(&self) -> u16 {
        stderr_size().0
    }

    fn move_cursor_up(&self, _n: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_down(&self, _n: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_right(&self, _n: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_left(&self, _n: usize) -> io::Result<()> {
        Ok(())
    }

    fn write_line(&self, s: &str) -> io::Result<()> {
        let mut st = self.0.lock();
        st.frame.push_str(s);
        st.frame.push(' ');
        Ok(())
    }

    fn write_str(&self, s: &str) -> io::Result<()> {
        self.0.lock().frame.push_str(s);
        Ok(())
    }

    fn clear_line(&self) -> io::Result<()> {
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        let mut st = self.0.lock();
        let frame = std::mem::take(&mut st.frame);
        st.latest = frame.trim_end().to_string();
        if !st.closed {
            st.draw();
        }
        Ok(())
    }
}

/// stderr's size as (rows, columns); 24 x 80 when it cannot be read.
fn stderr_size() -> (u16, u16) {
    // SAFETY: all-zero bytes are a valid `winsize` (four integers).
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which points at `ws`; fd 2
    // is only read, and an invalid one makes the call fail with EBADF.
    let r = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) };
    if r == 0 && ws.ws_col > 0 && ws.ws_row > 0 {
        (ws.ws_row, ws.ws_col)
    } else {
        (24, 80)
    }
}
