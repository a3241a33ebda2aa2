//! Progress reporting for long runs: one [`ProgressSink`] trait, a live terminal bar
//! ([`Bar`], drawn by [`indicatif`]) and a sink that shows nothing ([`Silent`]).
//!
//! # Tutorial
//!
//! A sink is told how far a run has come; it never sits on the hot path. The batch runner
//! ([`crate::batch`]) counts finished items in atomic counters that its workers bump once per
//! chunk, and a ticker thread reads them a few times a second and hands a [`Snapshot`] to the
//! sink. So a bar costs the same whether the run has ten items or ten million: there is no lock
//! taken per item (the trap described in indicatif issue #170, where a bar updated from every
//! worker on every item serialised the whole run).
//!
//! ```
//! use threadkit::progress::{Bar, ProgressSink, Snapshot};
//!
//! // A bar on stderr; it draws nothing when stderr is not a terminal (a pipe, a CI log).
//! let bar = Bar::stderr();
//! bar.start(Some(100));
//! bar.update(Snapshot { done: 40, failed: 1, total: Some(100) });
//! bar.finish(Snapshot { done: 100, failed: 3, total: Some(100) });
//! ```
//!
//! Your own sink only needs the three methods; `update` is called from the ticker thread, never
//! from a worker:
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use threadkit::progress::{ProgressSink, Snapshot};
//!
//! #[derive(Debug, Default)]
//! struct LastSeen(AtomicU64);
//!
//! impl ProgressSink for LastSeen {
//!     fn start(&self, _total: Option<u64>) {}
//!     fn update(&self, s: Snapshot) {
//!         self.0.store(s.done, Ordering::Relaxed);
//!     }
//!     fn finish(&self, s: Snapshot) {
//!         self.0.store(s.done, Ordering::Relaxed);
//!     }
//! }
//!
//! let sink = LastSeen::default();
//! sink.finish(Snapshot { done: 7, failed: 0, total: Some(7) });
//! assert_eq!(sink.0.load(Ordering::Relaxed), 7);
//! ```
//!
//! This is Python's `tqdm` around a pool (seed 000's `EnhancedThreadPool` draws one from a
//! polling loop): the bar counts *finished* items, shows failures so far, the rate
//! ([`format_rate`]: `1,012/s`, `3.4/s`) and, once an item has finished, the ETA.
//!
//! # Printing while a bar is drawn
//!
//! A plain `println!` from an item function lands on the bar's row, and the next redraw leaves
//! a stale copy of the bar above the following lines. [`write()`] is Python's `tqdm.write`: it
//! clears the live bar, prints the line on stdout and draws the bar again below it, so the
//! terminal shows the lines in order and one bar at the bottom. [`suspend`] does the same around
//! any code that writes to the terminal (stderr, several lines, a child's output). Both work
//! from any thread and simply write when no bar is drawn (stderr is not a terminal, progress is
//! off), so an item function can always use them:
//!
//! ```
//! use threadkit::batch::Batch;
//! use threadkit::progress;
//!
//! let report = Batch::new(|n: &u32| -> Result<u32, std::io::Error> {
//!     progress::write(format_args!("checking {n}"))?; // above the bar, never on it
//!     Ok(n * 2)
//! })
//! .run(1..=3u32)
//! .unwrap();
//! assert_eq!(report.values().count(), 3);
//! ```

use std::cell::Cell;
use std::fmt;
use std::io::{self, IsTerminal, Write as _};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use indicatif::{
    HumanCount, HumanDuration, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle,
};

use line::{Line, LineTerm};

mod line;

/// How far a run has come: what a [`ProgressSink`] is shown.
///
/// # Examples
///
/// ```
/// let s = threadkit::progress::Snapshot { done: 3, failed: 1, total: Some(10) };
/// assert_eq!(s.fraction(), Some(0.3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Items finished, successfully or not.
    pub done: u64,
    /// Of those, the items that failed.
    pub failed: u64,
    /// How many items the run has in all, when that is known in advance.
    pub total: Option<u64>,
}

impl Snapshot {
    /// `done / total`, when the total is known and not zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::progress::Snapshot;
    /// assert_eq!(Snapshot { done: 1, failed: 0, total: None }.fraction(), None);
    /// assert_eq!(Snapshot { done: 1, failed: 0, total: Some(4) }.fraction(), Some(0.25));
    /// ```
    pub fn fraction(&self) -> Option<f64> {
        match self.total {
            Some(t) if t > 0 => Some(self.done as f64 / t as f64),
            _ => None,
        }
    }
}

/// Something that shows a run's progress. Called from one ticker thread at a steady rate (never
/// once per item), so an implementation may take locks or write to a terminal.
///
/// # Examples
///
/// ```
/// use threadkit::progress::{ProgressSink, Silent, Snapshot};
///
/// fn report(sink: &dyn ProgressSink) {
///     sink.start(Some(2));
///     sink.finish(Snapshot { done: 2, failed: 0, total: Some(2) });
/// }
/// report(&Silent);
/// ```
pub trait ProgressSink: Send + Sync + fmt::Debug {
    /// The run starts; `total` is the number of items when known.
    fn start(&self, total: Option<u64>);
    /// The run has come this far.
    fn update(&self, snapshot: Snapshot);
    /// The run is over; `snapshot.done` is the final count (every item that got an outcome).
    fn finish(&self, snapshot: Snapshot);
}

/// A sink that shows nothing (progress turned off).
///
/// # Examples
///
/// ```
/// use threadkit::progress::{ProgressSink, Silent, Snapshot};
/// Silent.update(Snapshot::default());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl ProgressSink for Silent {
    fn start(&self, _total: Option<u64>) {}
    fn update(&self, _snapshot: Snapshot) {}
    fn finish(&self, _snapshot: Snapshot) {}
}

/// Prints `line` and a newline on stdout above the live progress bar (Python's `tqdm.write`).
///
/// The bars being drawn are cleared first and drawn again after the line, so the line never
/// lands on a bar's row and no stale bar is left above it. With no bar on the terminal this is
/// a locked `println!` that reports errors instead of panicking. Safe to call from any thread,
/// including a batch's item functions; lines from different threads never mix.
///
/// # Errors
///
/// Writing to stdout failed (a closed pipe, a full disk).
///
/// # Examples
///
/// ```
/// use threadkit::progress;
///
/// progress::write("starting")?;
/// progress::write(format_args!("{} of {}", 1, 3))?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write(line: impl fmt::Display) -> io::Result<()> {
    let print = || {
        let mut out = io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()
    };
    // Redirected to a file or a pipe, the line does not reach the terminal: the bar stays.
    if io::stdout().is_terminal() {
        suspend(print)
    } else {
        print()
    }
}

/// Runs `f` with every live progress bar cleared from the terminal, then draws them again
/// below what `f` wrote: at once, unless writes come in a flood (then at most 50 times a second,
/// so a flood costs one short clear per write, not a redraw each).
///
/// Use it around any write to the terminal while a bar may be drawn: several lines at once,
/// stderr, a subprocess that inherits the terminal. `f` runs while the bars are held, so keep
/// it short (a bar is not redrawn until it returns). Calls from several threads run one at a
/// time; a call inside `f` (on the same thread) just runs its own closure. With no bar on the
/// terminal, `f` simply runs. End what `f` writes with a newline: the bar is drawn again from
/// the start of the cursor's row (see [`is_drawing`]). `f` must not finish a bar that is drawn
/// (end a batch run that shows one): the bar waits for the writer, and the writer for `f`.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use threadkit::progress;
///
/// let written = progress::suspend(|| {
///     let mut err = std::io::stderr().lock();
///     writeln!(err, "warning: input 3 is empty").is_ok()
/// });
/// # let _ = written;
/// ```
pub fn suspend<R>(f: impl FnOnce() -> R) -> R {
    thread_local! {
        static INSIDE: Cell<bool> = const { Cell::new(false) };
    }
    if LIVE.load(Ordering::Acquire) == 0 || INSIDE.with(Cell::get) {
        return f();
    }
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            INSIDE.with(|c| c.set(false));
        }
    }
    // The registry and the bars' rows stay locked until the bars are restored: a bar cannot
    // finish (or draw a frame) while it is cleared, and writers take turns.
    let live = live_bars();
    let mut rows: Vec<_> = live.iter().map(|(_, line)| line.lock()).collect();
    INSIDE.with(|c| c.set(true));
    let _reset = Reset;
    rows.iter_mut().for_each(|r| r.clear());
    let out = f();
    rows.iter_mut().for_each(|r| r.restore());
    out
}

/// Whether a progress bar is drawn on the terminal now (started on a terminal, not yet
/// finished).
///
/// A bar drawn again after [`suspend`] starts at the beginning of the cursor's row, so a
/// writer whose output ends mid-line can use this to end the line on the terminal first (as
/// the `threadkit` command does), rather than have the bar cover it.
///
/// # Examples
///
/// ```
/// // No bar under a test harness (stderr is not a terminal).
/// assert!(!threadkit::progress::is_drawing());
/// ```
pub fn is_drawing() -> bool {
    LIVE.load(Ordering::Acquire) > 0
}

/// The bars drawn on a terminal right now (started, not yet finished), with their ids.
static BARS: Mutex<Vec<(u64, Arc<Line>)>> = Mutex::new(Vec::new());
/// `BARS.len()`, read without the lock so that [`suspend`] costs one load when no bar is drawn.
static LIVE: AtomicUsize = AtomicUsize::new(0);

fn live_bars() -> MutexGuard<'static, Vec<(u64, Arc<Line>)>> {
    BARS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Takes bar `id` out of the registry of live bars (it is finished or dropped).
fn retire(bars: &mut Vec<(u64, Arc<Line>)>, id: u64) {
    bars.retain(|(b, _)| *b != id);
    LIVE.store(bars.len(), Ordering::Release);
}

/// Formats a rate of items per second with a precision a person can read at a glance:
/// whole numbers with thousands separators from 100 up, no decimals from 10 up, one decimal
/// from 1 up, two significant digits below 1, and `0/s` for no progress (or a rate that is not a
/// finite positive number).
///
/// # Examples
///
/// ```
/// use threadkit::progress::format_rate;
///
/// assert_eq!(format_rate(1012.4255), "1,012/s");
/// assert_eq!(format_rate(42.7), "43/s");
/// assert_eq!(format_rate(3.4189), "3.4/s");
/// assert_eq!(format_rate(0.25), "0.25/s");
/// assert_eq!(format_rate(0.0), "0/s");
/// ```
pub fn format_rate(per_sec: f64) -> String {
    // The thresholds sit where rounding would carry into the next range (9.96 shows as `10/s`,
    // not `10.0/s`).
    if !per_sec.is_finite() || per_sec < 1e-6 {
        "0/s".to_string()
    } else if per_sec >= 99.5 {
        format!("{}/s", HumanCount(per_sec.round() as u64))
    } else if per_sec >= 9.95 {
        format!("{per_sec:.0}/s")
    } else if per_sec >= 0.995 {
        format!("{per_sec:.1}/s")
    } else {
        let decimals = (1 - per_sec.log10().floor() as i32).clamp(2, 7) as usize;
        format!("{per_sec:.decimals$}/s")
    }
}

/// A live progress bar drawn by [`indicatif`]: done / total, failures so far, rate and ETA, for
/// example `00:00:04 [=====>    ] 1,200/2,400 (3 failed) 301/s ETA 4s`.
///
/// The ETA appears once an item has finished (before that there is nothing to estimate from),
/// and the finished bar keeps the final count and the average rate as the run's summary line.
/// While the bar is drawn, print through [`write()`] or [`suspend`] so that output never lands on
/// the bar's row.
///
/// [`Bar::stderr`] draws on stderr and hides itself when stderr is not a terminal;
/// [`Bar::hidden`] draws nowhere (it still does all the bookkeeping, which is what a benchmark
/// of the bar's cost wants).
///
/// # Examples
///
/// ```
/// use threadkit::progress::{Bar, ProgressSink, Snapshot};
///
/// let bar = Bar::hidden();
/// bar.start(None); // unknown total: a counter with a spinner
/// bar.update(Snapshot { done: 5, failed: 0, total: None });
/// bar.finish(Snapshot { done: 9, failed: 0, total: None });
/// assert_eq!(bar.position(), 9);
/// ```
#[derive(Debug)]
pub struct Bar {
    bar: ProgressBar,
    /// The terminal row the bar is drawn on; `None` when it is drawn nowhere.
    line: Option<Arc<Line>>,
    /// Failures so far, read by the bar's `{stats}` key.
    failed: Arc<AtomicU64>,
    /// This bar's key in the registry of live bars.
    id: u64,
}

impl Bar {
    /// A bar on stderr, refreshed at most 10 times a second; hidden when stderr is not a
    /// terminal.
    ///
    /// # Examples
    ///
    /// ```
    /// let bar = threadkit::progress::Bar::stderr();
    /// # let _ = bar;
    /// ```
    pub fn stderr() -> Bar {
        match Line::stderr() {
            Some(line) => {
                let term = Box::new(LineTerm(line.clone()));
                Bar::with_target(ProgressDrawTarget::term_like_with_hz(term, 10), Some(line))
            }
            None => Bar::hidden(),
        }
    }

    /// A bar that is never drawn.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(threadkit::progress::Bar::hidden().is_hidden());
    /// ```
    pub fn hidden() -> Bar {
        Bar::with_target(ProgressDrawTarget::hidden(), None)
    }

    fn with_target(target: ProgressDrawTarget, line: Option<Arc<Line>>) -> Bar {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Bar {
            bar: ProgressBar::with_draw_target(None, target),
            line,
            failed: Arc::new(AtomicU64::new(0)),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Whether nothing is drawn (hidden target, or stderr is not a terminal).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(threadkit::progress::Bar::hidden().is_hidden());
    /// ```
    pub fn is_hidden(&self) -> bool {
        self.bar.is_hidden()
    }

    /// The count last shown.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::progress::{Bar, ProgressSink, Snapshot};
    /// let bar = Bar::hidden();
    /// bar.update(Snapshot { done: 3, failed: 0, total: Some(5) });
    /// assert_eq!(bar.position(), 3);
    /// ```
    pub fn position(&self) -> u64 {
        self.bar.position()
    }

    fn show(&self, s: Snapshot) {
        if let Some(t) = s.total {
            if self.bar.length() != Some(t) {
                self.bar.set_length(t);
            }
        }
        self.failed.store(s.failed, Ordering::Relaxed);
        self.bar.set_position(s.done);
    }

    /// The `{stats}` key: `40/100 (1 failed) 3.4/s ETA 12s`, each part only when it means
    /// something, one space between parts.
    fn stats_key(&self) -> impl Fn(&ProgressState, &mut dyn fmt::Write) + Send + Sync + Clone {
        let failed = self.failed.clone();
        move |state: &ProgressState, w: &mut dyn fmt::Write| {
            let _ = write_stats(state, failed.load(Ordering::Relaxed), w);
        }
    }
}

fn write_stats(state: &ProgressState, failed: u64, w: &mut dyn fmt::Write) -> fmt::Result {
    let pos = state.pos();
    match state.len() {
        Some(len) => write!(w, "{}/{}", HumanCount(pos), HumanCount(len))?,
        None => write!(w, "{} done", HumanCount(pos))?,
    }
    if failed > 0 {
        write!(w, " ({} failed)", HumanCount(failed))?;
    }
    if pos == 0 {
        return Ok(()); // No rate or ETA before the first item finishes.
    }
    let rate = if state.is_finished() {
        // The run's average, for the summary line.
        pos as f64 / state.elapsed().as_secs_f64().max(1e-9)
    } else {
        state.per_sec()
    };
    write!(w, " {}", format_rate(rate))?;
    let running = !state.is_finished() && state.len().is_some_and(|len| pos < len);
    let eta = state.eta();
    // An ETA that would read `0s` says nothing.
    if running && eta >= Duration::from_millis(500) {
        write!(w, " ETA {:#}", HumanDuration(eta))?;
    }
    Ok(())
}

const BAR_TEMPLATE: &str = "{elapsed_precise} [{wide_bar}] {stats}";
const COUNTER_TEMPLATE: &str = "{spinner} {elapsed_precise} {stats}";
/// The counter's summary line: a finished spinner would only leave a blank column.
const COUNTER_DONE_TEMPLATE: &str = "{elapsed_precise} {stats}";

impl Bar {
    fn set_template(&self, template: &str) {
        if let Ok(style) = ProgressStyle::with_template(template) {
            self.bar.set_style(
                style
                    .with_key("stats", self.stats_key())
                    .progress_chars("=> "),
            );
        }
    }
}

impl ProgressSink for Bar {
    fn start(&self, total: Option<u64>) {
        self.set_template(if total.is_some() {
            BAR_TEMPLATE
        } else {
            COUNTER_TEMPLATE
        });
        if let Some(t) = total {
            self.bar.set_length(t);
        }
        self.failed.store(0, Ordering::Relaxed);
        if let Some(line) = &self.line {
            let mut bars = live_bars();
            if !bars.iter().any(|(id, _)| *id == self.id) {
                bars.push((self.id, line.clone()));
            }
            LIVE.store(bars.len(), Ordering::Release);
        }
        self.bar.reset();
    }

    fn update(&self, snapshot: Snapshot) {
        self.show(snapshot);
        if let Some(line) = &self.line {
            line.refresh();
        }
    }

    fn finish(&self, snapshot: Snapshot) {
        // Under the registry's lock (for a drawn bar): a writer in `suspend` has put the bar
        // back before the final draw, and a writer after it finds the bar gone and writes below
        // the summary line.
        let bars = self.line.as_ref().map(|_| live_bars());
        if self.bar.length().is_none() {
            self.set_template(COUNTER_DONE_TEMPLATE);
        }
        self.show(snapshot);
        self.bar.finish();
        if let (Some(line), Some(mut bars)) = (&self.line, bars) {
            line.close();
            retire(&mut bars, self.id);
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        // A bar dropped unfinished (a stream dropped early) keeps its last frame too. A bar
        // drawn nowhere never joined the registry.
        if let Some(line) = &self.line {
            let mut bars = live_bars();
            line.close();
            retire(&mut bars, self.id);
        }
    }
}
