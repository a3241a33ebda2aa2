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
//! polling loop): the bar counts *finished* items, shows failures so far, the rate and the ETA.

use std::fmt;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

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

/// A live progress bar drawn by [`indicatif`]: done / total, failures so far, rate and ETA.
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
        Bar::with_target(ProgressDrawTarget::stderr_with_hz(10))
    }

    /// A bar that is never drawn.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(threadkit::progress::Bar::hidden().is_hidden());
    /// ```
    pub fn hidden() -> Bar {
        Bar::with_target(ProgressDrawTarget::hidden())
    }

    fn with_target(target: ProgressDrawTarget) -> Bar {
        let bar = ProgressBar::with_draw_target(None, target);
        Bar { bar }
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
        self.bar.set_position(s.done);
        let msg = if s.failed == 0 {
            String::new()
        } else {
            format!("{} failed", s.failed)
        };
        if self.bar.message() != msg {
            self.bar.set_message(msg);
        }
    }
}

const BAR_TEMPLATE: &str =
    "{elapsed_precise} [{wide_bar}] {human_pos}/{human_len} {msg} {per_sec} ETA {eta}";
const COUNTER_TEMPLATE: &str = "{spinner} {elapsed_precise} {human_pos} done {msg} {per_sec}";

impl ProgressSink for Bar {
    fn start(&self, total: Option<u64>) {
        let template = if total.is_some() {
            BAR_TEMPLATE
        } else {
            COUNTER_TEMPLATE
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            self.bar.set_style(style.progress_chars("=> "));
        }
        if let Some(t) = total {
            self.bar.set_length(t);
        }
        self.bar.reset();
    }

    fn update(&self, snapshot: Snapshot) {
        self.show(snapshot);
    }

    fn finish(&self, snapshot: Snapshot) {
        self.show(snapshot);
        self.bar.finish();
    }
}
