//! Outcomes, failures and the report.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// Why an item failed.
///
/// # Examples
///
/// ```
/// use threadkit::batch::Cause;
///
/// let c: Cause<String> = Cause::Panic { message: "boom".into(), location: None, backtrace: None };
/// assert_eq!(c.kind(), "panic");
/// assert_eq!(c.to_string(), "panicked: boom");
/// let at = Some("src/main.rs:7:9".to_string());
/// let c: Cause<String> = Cause::Panic { message: "boom".into(), location: at, backtrace: None };
/// assert_eq!(c.to_string(), "panicked at src/main.rs:7:9: boom");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause<E> {
    /// The function returned `Err`.
    Error(E),
    /// The function panicked: the panic's message, where it happened, and its backtrace when
    /// `RUST_BACKTRACE` asks for one. This is the panic's one report: threadkit keeps Rust's
    /// panic hook from printing it as well (see [`thread::print_captured_panics`]).
    ///
    /// [`thread::print_captured_panics`]: crate::thread::print_captured_panics
    Panic {
        /// The message given to `panic!`.
        message: String,
        /// Where: `file:line:column` (`None` for a panic in a worker process of the
        /// isolation mode, or when the program's own panic hook replaced threadkit's).
        location: Option<String>,
        /// The backtrace, as Rust prints it, when `RUST_BACKTRACE` (or `RUST_LIB_BACKTRACE`)
        /// is set to `1` or `full`.
        backtrace: Option<String>,
    },
    /// An attempt ran longer than the per-task timeout. The thread running it cannot be
    /// killed: it runs on until the function returns and its late result is dropped.
    Timeout {
        /// The timeout that was exceeded.
        after: Duration,
    },
    /// The item was running when the run stopped at once (`--halt now`, a second Ctrl-C, the
    /// [`grace`](crate::batch::Batch::grace) period over): its late result, if any, is dropped.
    /// Not a failure of the function, and not journaled: a resumed run runs it again.
    Cancelled,
    /// The item never started: the run stopped first (a failure policy, the cancellation
    /// token, Ctrl-C, a journal that could not be written; [`Summary::stopped`] says which),
    /// or the task itself said so (a task that waits for its turn, as the `threadkit`
    /// command's `--delay`, returns it from [`Task::attempt`] when the run stops meanwhile).
    /// Not a failure: counted apart ([`Summary::not_started`]), never retried, never
    /// journaled, so a resumed run runs it.
    ///
    /// [`Task::attempt`]: crate::batch::Task::attempt
    NotStarted,
    /// The journal records this item as failed in an earlier run, and the run was not asked to
    /// retry failures; the earlier cause as text.
    Journaled {
        /// The earlier failure, as it was written.
        message: String,
    },
    /// The process running the item died (killed by a signal, or exited) or could not be
    /// reached: only in the process-pool isolation mode ([`Batch::isolated`]). The pool
    /// replaced the worker; the other items went on.
    ///
    /// [`Batch::isolated`]: crate::batch::Batch::isolated
    Crashed {
        /// What happened, with the signal named (`"... killed by SIGKILL (signal 9)"`).
        message: String,
    },
}

impl<E> Cause<E> {
    /// A short name: `error`, `panic`, `timeout`, `cancelled`, `not-started`, `journaled`,
    /// `crashed`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadkit::batch::Cause::<()>::NotStarted.kind(), "not-started");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Cause::Error(_) => "error",
            Cause::Panic { .. } => "panic",
            Cause::Timeout { .. } => "timeout",
            Cause::Cancelled => "cancelled",
            Cause::NotStarted => "not-started",
            Cause::Journaled { .. } => "journaled",
            Cause::Crashed { .. } => "crashed",
        }
    }

    /// Whether the function ran and failed (error, panic, timeout, crash, or failed in an
    /// earlier run), as opposed to an item the run did not finish (cancelled, not started):
    /// only failures are journaled.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::batch::Cause;
    /// assert!(Cause::Error(1).is_failure());
    /// assert!(!Cause::<i32>::Cancelled.is_failure());
    /// assert!(!Cause::<i32>::NotStarted.is_failure());
    /// ```
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Cause::Error(_)
                | Cause::Panic { .. }
                | Cause::Timeout { .. }
                | Cause::Journaled { .. }
                | Cause::Crashed { .. }
        )
    }
}

impl<E> Cause<E> {
    /// A panic's location and backtrace, if this is a panic that has them.
    fn panic_origin(&self) -> (Option<&str>, Option<&str>) {
        match self {
            Cause::Panic {
                location,
                backtrace,
                ..
            } => (location.as_deref(), backtrace.as_deref()),
            _ => (None, None),
        }
    }
}

impl<E: fmt::Display> fmt::Display for Cause<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Error(e) => write!(f, "error: {e}"),
            Cause::Panic {
                message,
                location: Some(at),
                ..
            } => write!(f, "panicked at {at}: {message}"),
            Cause::Panic { message, .. } => write!(f, "panicked: {message}"),
            Cause::Timeout { after } => write!(f, "timed out after {after:?}"),
            Cause::Cancelled => f.write_str("cancelled while running"),
            Cause::NotStarted => f.write_str("not started (the run stopped first)"),
            Cause::Journaled { message } => write!(f, "failed in an earlier run: {message}"),
            Cause::Crashed { message } => write!(f, "crashed: {message}"),
        }
    }
}

/// The input of a failed item: the value itself, or its `Debug` text when the value is held by
/// a task that did not return (a timed-out or abandoned item).
///
/// # Examples
///
/// ```
/// use threadkit::batch::FailedInput;
///
/// let a = FailedInput::Value((4, "x"));
/// assert_eq!(a.value(), Some(&(4, "x")));
/// assert_eq!(a.to_string(), r#"(4, "x")"#);
/// let b: FailedInput<u8> = FailedInput::Debug("7".into());
/// assert_eq!((b.value(), b.to_string()), (None, "7".to_string()));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum FailedInput<I> {
    /// The input value.
    Value(I),
    /// The input's `Debug` form (the value is still in use by a task that did not return).
    Debug(String),
}

impl<I> FailedInput<I> {
    /// The value, when it is here.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadkit::batch::FailedInput::Value(1).value(), Some(&1));
    /// ```
    pub fn value(&self) -> Option<&I> {
        match self {
            FailedInput::Value(v) => Some(v),
            FailedInput::Debug(_) => None,
        }
    }

    /// The value, when it is here.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadkit::batch::FailedInput::Value(1).into_value(), Some(1));
    /// ```
    pub fn into_value(self) -> Option<I> {
        match self {
            FailedInput::Value(v) => Some(v),
            FailedInput::Debug(_) => None,
        }
    }
}

impl<I: fmt::Debug> fmt::Debug for FailedInput<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailedInput::Value(v) => v.fmt(f),
            FailedInput::Debug(s) => f.write_str(s),
        }
    }
}

impl<I: fmt::Debug> fmt::Display for FailedInput<I> {
    /// The input's `Debug` form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One item that did not produce a value: which one, its input, how many attempts it had and
/// why it failed. Seed 000's `EnhancedThreadPoolException`, with the parameters kept.
///
/// # Examples
///
/// ```
/// use threadkit::batch::{Batch, Cause};
///
/// let report = Batch::new(|x: &u32| if *x == 2 { Err("two") } else { Ok(*x) })
///     .progress(false)
///     .run(0..4u32)
///     .unwrap();
/// let f = report.failures().next().unwrap();
/// assert_eq!((f.index, f.input.value(), f.attempts), (2, Some(&2), 1));
/// assert_eq!(f.cause, Cause::Error("two"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure<I, E> {
    /// The item's position in the input (0-based).
    pub index: u64,
    /// The item's input.
    pub input: FailedInput<I>,
    /// How many times the function was called for it (0 when it never ran; for
    /// [`Cause::NotStarted`], the attempts made before the run stopped, if it was retried).
    pub attempts: u32,
    /// Why it failed.
    pub cause: Cause<E>,
}

impl<I: fmt::Debug, E: fmt::Display> fmt::Display for Failure<I, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "item {} {}: {} (attempts: {})",
            self.index, self.input, self.cause, self.attempts
        )
    }
}

impl<I: fmt::Debug, E: fmt::Debug + fmt::Display> std::error::Error for Failure<I, E> {}

/// One item's outcome: its value, or a boxed [`Failure`] (boxed so that a successful outcome
/// costs little more than the value).
pub type Outcome<T, I, E> = Result<T, Box<Failure<I, E>>>;

/// Why a run stopped before scheduling every item.
///
/// # Examples
///
/// ```
/// use threadkit::batch::StopReason;
/// assert_eq!(StopReason::Interrupted.to_string(), "interrupted (Ctrl-C)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// A failure policy (fail fast, `--halt`) was triggered.
    Halted,
    /// The cancellation token was triggered.
    Cancelled,
    /// Ctrl-C (SIGINT) was received.
    Interrupted,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopReason::Halted => "halted by the failure policy",
            StopReason::Cancelled => "cancelled",
            StopReason::Interrupted => "interrupted (Ctrl-C)",
        })
    }
}

/// The counts of a run.
///
/// # Examples
///
/// ```
/// use threadkit::batch::Batch;
///
/// let report = Batch::new(|x: &i32| if *x < 0 { Err("negative") } else { Ok(*x) })
///     .progress(false)
///     .run(vec![1, -1, 2])
///     .unwrap();
/// let s = report.summary();
/// assert_eq!((s.total, s.succeeded, s.failed()), (3, 2, 1));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Items seen (each has exactly one outcome).
    pub total: u64,
    /// Items with a value (including ones taken from the journal).
    pub succeeded: u64,
    /// Items whose function returned `Err`.
    pub errors: u64,
    /// Items whose function panicked.
    pub panics: u64,
    /// Items that timed out.
    pub timeouts: u64,
    /// Items stopped while running ([`Cause::Cancelled`]: `--halt now`, a second Ctrl-C, the
    /// grace period over). Not failures.
    pub cancelled: u64,
    /// Items that never started because the run stopped first ([`Cause::NotStarted`]). Not
    /// failures: a resumed run runs them.
    pub not_started: u64,
    /// Items the journal recorded as failed in an earlier run (not retried).
    pub journaled_failures: u64,
    /// Items whose worker process died (isolation mode only).
    pub crashes: u64,
    /// Items skipped because the journal already had their outcome.
    pub skipped: u64,
    /// With a journal of [`Durability::PerItem`](crate::batch::Durability::PerItem): the
    /// items an earlier run with this journal had handed to its workers and not finished when
    /// it died (killed: their start was recorded, their outcome not); with one item per
    /// worker, the items that were running. Those in this run's input run again; nothing else
    /// that earlier run started does. 0 otherwise.
    pub running_at_last_stop: u64,
    /// Retries made (attempts beyond the first), over all items.
    pub retries: u64,
    /// Wall-clock time of the run.
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
    /// Why the run stopped early, if it did.
    pub stopped: Option<StopReason>,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Summary {
    /// Items that failed ([`Cause::is_failure`]): errors, panics, timeouts, crashes, and
    /// failures journaled by an earlier run. Items the run did not finish (cancelled, not
    /// started) are counted apart: see [`unfinished`](Summary::unfinished).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = threadkit::batch::Summary { errors: 2, panics: 1, not_started: 5, ..Default::default() };
    /// assert_eq!(s.failed(), 3);
    /// ```
    pub fn failed(&self) -> u64 {
        self.errors + self.panics + self.timeouts + self.journaled_failures + self.crashes
    }

    /// Items the run did not finish: stopped while running, or never started. A resumed run
    /// (with the same journal) runs them.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = threadkit::batch::Summary { cancelled: 1, not_started: 5, ..Default::default() };
    /// assert_eq!((s.failed(), s.unfinished()), (0, 6));
    /// ```
    pub fn unfinished(&self) -> u64 {
        self.cancelled + self.not_started
    }

    /// The process exit code for this run, for a `main` that ends with it:
    /// 0 when every item succeeded, 1 when some failed or did not finish, 2 when a failure
    /// policy halted the run,
    /// 130 (128 + SIGINT, as shells report) when Ctrl-C interrupted it, 3 when cancelled by
    /// the token.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::batch::{StopReason, Summary};
    /// assert_eq!(Summary::default().exit_code(), 0);
    /// assert_eq!(Summary { errors: 1, ..Default::default() }.exit_code(), 1);
    /// let s = Summary { stopped: Some(StopReason::Interrupted), ..Default::default() };
    /// assert_eq!(s.exit_code(), 130);
    /// ```
    pub fn exit_code(&self) -> u8 {
        match self.stopped {
            Some(StopReason::Interrupted) => 130,
            Some(StopReason::Halted) => 2,
            Some(StopReason::Cancelled) => 3,
            None if self.failed() + self.unfinished() > 0 => 1,
            None => 0,
        }
    }

    /// Adds counts by kind: ok, error, panic, timeout, cancelled, not started, journaled,
    /// crashed.
    pub(crate) fn add_counts(&mut self, c: &[u64; 8]) {
        self.total += c.iter().sum::<u64>();
        self.succeeded += c[0];
        self.errors += c[1];
        self.panics += c[2];
        self.timeouts += c[3];
        self.cancelled += c[4];
        self.not_started += c[5];
        self.journaled_failures += c[6];
        self.crashes += c[7];
    }

    pub(crate) fn count<T, I, E>(&mut self, o: &Outcome<T, I, E>) {
        self.total += 1;
        match o {
            Ok(_) => self.succeeded += 1,
            Err(f) => match f.cause {
                Cause::Error(_) => self.errors += 1,
                Cause::Panic { .. } => self.panics += 1,
                Cause::Timeout { .. } => self.timeouts += 1,
                Cause::Cancelled => self.cancelled += 1,
                Cause::NotStarted => self.not_started += 1,
                Cause::Journaled { .. } => self.journaled_failures += 1,
                Cause::Crashed { .. } => self.crashes += 1,
            },
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} items in {:.3?}: {} succeeded, {} failed",
            self.total,
            self.duration,
            self.succeeded,
            self.failed()
        )?;
        let parts = [
            ("errors", self.errors),
            ("panics", self.panics),
            ("timeouts", self.timeouts),
            ("crashes", self.crashes),
            ("failed earlier", self.journaled_failures),
        ];
        let detail: Vec<String> = parts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{n} {name}"))
            .collect();
        if !detail.is_empty() {
            write!(f, " ({})", detail.join(", "))?;
        }
        if self.cancelled > 0 {
            write!(f, ", {} cancelled while running", self.cancelled)?;
        }
        if self.not_started > 0 {
            write!(f, ", {} not started", self.not_started)?;
        }
        if self.skipped > 0 {
            write!(f, "; {} taken from the journal", self.skipped)?;
        }
        if self.running_at_last_stop > 0 {
            write!(
                f,
                "; {} were running when an earlier run died, and ran again",
                self.running_at_last_stop
            )?;
        }
        if self.retries > 0 {
            write!(f, "; {} retries", self.retries)?;
        }
        if let Some(r) = self.stopped {
            write!(f, "; {r}")?;
        }
        Ok(())
    }
}

/// Every item's outcome in input order, and the [`Summary`].
///
/// `Display` prints the summary and a failures table (input, cause, attempts);
/// [`to_json`](Report::to_json) exports the same; [`exit_code`](Report::exit_code) maps it to
/// a process exit code.
///
/// # Examples
///
/// ```
/// use threadkit::batch::Batch;
///
/// let report = Batch::new(|x: &u8| if *x == 1 { Err("odd one") } else { Ok(x * 10) })
///     .progress(false)
///     .run([0u8, 1, 2])
///     .unwrap();
/// assert_eq!(report.values().collect::<Vec<_>>(), [&0, &20]);
/// assert_eq!(report.exit_code(), 1);
/// println!("{report}");
/// ```
#[derive(Debug)]
pub struct Report<T, I, E> {
    /// The successful values, in input order (failed indices leave no gap).
    pub(crate) values: Vec<T>,
    /// The failures, by index.
    pub(crate) failures: Vec<Box<Failure<I, E>>>,
    pub(crate) summary: Summary,
}

impl<T, I, E> Report<T, I, E> {
    /// Appends outcomes (the next indices).
    pub(crate) fn extend(&mut self, outcomes: impl IntoIterator<Item = Outcome<T, I, E>>) {
        let it = outcomes.into_iter();
        self.values.reserve(it.size_hint().0);
        for o in it {
            match o {
                Ok(v) => self.values.push(v),
                Err(f) => self.failures.push(f),
            }
        }
    }

    /// The number of items (every input has exactly one outcome).
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::infallible(|x: &u8| *x).progress(false).run(0..5u8).unwrap();
    /// assert_eq!(r.len(), 5);
    /// ```
    pub fn len(&self) -> usize {
        self.values.len() + self.failures.len()
    }

    /// Whether the run had no input at all.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::infallible(|x: &u8| *x).progress(false).run(Vec::new()).unwrap();
    /// assert!(r.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The outcome of the input at `index`: its value or its failure; `None` past the end.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::new(|x: &u8| if *x == 1 { Err("one") } else { Ok(*x) })
    ///     .progress(false)
    ///     .run(0..3u8)
    ///     .unwrap();
    /// assert_eq!(r.outcome(2).unwrap().ok(), Some(&2));
    /// assert_eq!(r.outcome(1).unwrap().unwrap_err().index, 1);
    /// assert!(r.outcome(3).is_none());
    /// ```
    pub fn outcome(&self, index: usize) -> Option<Result<&T, &Failure<I, E>>> {
        let k = self.failures.partition_point(|f| f.index < index as u64);
        match self.failures.get(k) {
            Some(f) if f.index == index as u64 => Some(Err(f)),
            _ => self.values.get(index - k).map(Ok),
        }
    }

    /// Every item's outcome, in input order: `Ok(&value)` or `Err(&failure)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::infallible(|x: &u8| x + 1).progress(false).run([1u8]).unwrap();
    /// let all: Vec<_> = r.outcomes().collect();
    /// assert_eq!(all[0].ok(), Some(&2));
    /// ```
    pub fn outcomes(&self) -> Outcomes<'_, T, I, E> {
        Outcomes {
            values: self.values.iter(),
            failures: self.failures.iter().peekable(),
            next: 0,
        }
    }

    /// The outcomes, by value, in input order.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::infallible(|x: &u8| x + 1).progress(false).run([1u8]).unwrap();
    /// assert_eq!(r.into_outcomes().pop().unwrap().ok(), Some(2));
    /// ```
    pub fn into_outcomes(self) -> Vec<Outcome<T, I, E>> {
        let mut out = Vec::with_capacity(self.len());
        let mut failures = self.failures.into_iter().peekable();
        for v in self.values {
            while let Some(f) = failures.next_if(|f| f.index == out.len() as u64) {
                out.push(Err(f));
            }
            out.push(Ok(v));
        }
        out.extend(failures.map(Err));
        out
    }

    /// The values of the items that succeeded, in input order.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::infallible(|x: &u8| x * 2).progress(false).run(0..3u8).unwrap();
    /// assert_eq!(r.values().copied().collect::<Vec<_>>(), [0, 2, 4]);
    /// ```
    pub fn values(&self) -> std::slice::Iter<'_, T> {
        self.values.iter()
    }

    /// The values of the items that succeeded, in input order, by value (no copy: this is
    /// how the report stores them).
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::infallible(|x: &u8| x * 2).progress(false).run(0..3u8).unwrap();
    /// assert_eq!(r.into_values(), [0, 2, 4]);
    /// ```
    pub fn into_values(self) -> Vec<T> {
        self.values
    }

    /// The failures, in input order.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::new(|x: &u8| if *x > 0 { Err(*x) } else { Ok(()) })
    ///     .progress(false)
    ///     .run(0..3u8)
    ///     .unwrap();
    /// assert_eq!(r.failures().map(|f| f.index).collect::<Vec<_>>(), [1, 2]);
    /// ```
    pub fn failures(&self) -> impl ExactSizeIterator<Item = &Failure<I, E>> + '_ {
        self.failures.iter().map(|b| &**b)
    }

    /// The counts.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::infallible(|x: &u8| *x).progress(false).run(0..3u8).unwrap();
    /// assert_eq!(r.summary().succeeded, 3);
    /// ```
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Whether every item succeeded (none failed, none was left unfinished).
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::infallible(|x: &u8| *x).progress(false).run(0..3u8).unwrap();
    /// assert!(r.is_success());
    /// ```
    pub fn is_success(&self) -> bool {
        self.summary.failed() + self.summary.unfinished() == 0
    }

    /// See [`Summary::exit_code`].
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::infallible(|x: &u8| *x).progress(false).run(0..3u8).unwrap();
    /// assert_eq!(r.exit_code(), 0);
    /// ```
    pub fn exit_code(&self) -> u8 {
        self.summary.exit_code()
    }
}

/// The outcomes of a [`Report`] in input order (made by [`Report::outcomes`]).
///
/// # Examples
///
/// ```
/// let r = threadkit::batch::Batch::new(|x: &u8| if *x == 0 { Err(()) } else { Ok(*x) })
///     .progress(false)
///     .run(0..3u8)
///     .unwrap();
/// let mut it = r.outcomes();
/// assert_eq!(it.len(), 3);
/// assert!(it.next().unwrap().is_err());
/// assert_eq!(it.next().unwrap().ok(), Some(&1));
/// ```
pub struct Outcomes<'a, T, I, E> {
    values: std::slice::Iter<'a, T>,
    failures: std::iter::Peekable<std::slice::Iter<'a, Box<Failure<I, E>>>>,
    next: u64,
}

impl<T, I, E> fmt::Debug for Outcomes<'_, T, I, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outcomes")
            .field("next", &self.next)
            .field("remaining", &self.len())
            .finish()
    }
}

impl<'a, T, I, E> Iterator for Outcomes<'a, T, I, E> {
    type Item = Result<&'a T, &'a Failure<I, E>>;

    fn next(&mut self) -> Option<Self::Item> {
        let index = self.next;
        self.next += 1;
        if let Some(f) = self.failures.next_if(|f| f.index == index) {
            return Some(Err(&**f));
        }
        match self.values.next() {
            Some(v) => Some(Ok(v)),
            None => self.failures.next().map(|f| Err(&**f)),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.values.len() + self.failures.len();
        (n, Some(n))
    }
}

impl<T, I, E> ExactSizeIterator for Outcomes<'_, T, I, E> {}

#[derive(Serialize)]
struct JsonFailure<'a> {
    index: u64,
    input: String,
    cause: &'static str,
    message: String,
    attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backtrace: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    summary: &'a Summary,
    failures: Vec<JsonFailure<'a>>,
}

impl<T, I: fmt::Debug, E: fmt::Display> Report<T, I, E> {
    /// The summary and the failures (index, input as `Debug` text, cause, message, attempts;
    /// for a panic its `location`, and its `backtrace` when one was taken) as one JSON object;
    /// durations in seconds.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::new(|x: &u8| if *x == 1 { Err("bad") } else { Ok(()) })
    ///     .progress(false)
    ///     .run(0..2u8)
    ///     .unwrap();
    /// let json = r.to_json();
    /// assert!(json.contains(r#""cause":"error","message":"error: bad","attempts":1"#), "{json}");
    /// ```
    pub fn to_json(&self) -> String {
        let failures = self
            .failures()
            .map(|f| JsonFailure {
                index: f.index,
                input: f.input.to_string(),
                cause: f.cause.kind(),
                message: f.cause.to_string(),
                attempts: f.attempts,
                location: f.cause.panic_origin().0,
                backtrace: f.cause.panic_origin().1,
            })
            .collect();
        let doc = JsonReport {
            summary: &self.summary,
            failures,
        };
        // Cannot fail: plain strings and numbers.
        serde_json::to_string(&doc).unwrap_or_default()
    }
}

impl<T, I: fmt::Debug, E: fmt::Display> fmt::Display for Report<T, I, E> {
    /// The summary line, then one line per failure: index, input, cause, attempts; then the
    /// backtraces of the panics that have one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.summary)?;
        let rows: Vec<(String, String, String, String)> = self
            .failures()
            .map(|x| {
                (
                    x.index.to_string(),
                    x.input.to_string(),
                    x.cause.to_string(),
                    x.attempts.to_string(),
                )
            })
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        let w = |sel: fn(&(String, String, String, String)) -> usize, head: &str| {
            rows.iter().map(sel).max().unwrap_or(0).max(head.len())
        };
        let (wi, wn, wc) = (
            w(|r| r.0.len(), "index"),
            w(|r| r.1.chars().count().min(60), "input"),
            w(|r| r.2.chars().count().min(80), "cause"),
        );
        writeln!(
            f,
            "{:>wi$}  {:<wn$}  {:<wc$}  attempts",
            "index", "input", "cause"
        )?;
        for (i, input, cause, attempts) in &rows {
            let input = clip(input, 60);
            let cause = clip(cause, 80);
            writeln!(f, "{i:>wi$}  {input:<wn$}  {cause:<wc$}  {attempts}")?;
        }
        for x in self.failures() {
            if let (Some(at), Some(trace)) = x.cause.panic_origin() {
                writeln!(
                    f,
                    "item {} panicked at {at}:\n{}",
                    x.index,
                    trace.trim_end()
                )?;
            }
        }
        Ok(())
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(3)).collect();
        t.push_str("...");
        t
    }
}
