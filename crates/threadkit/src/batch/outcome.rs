//! What became of each item: its [`Outcome`] (a value or a [`Failure`] with its [`Cause`]), the
//! [`Kind`] and [`Counts`] of outcomes, and the run's [`Summary`]. The [`Report`](super::Report)
//! that holds them is in `report.rs`.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::policy::HaltEvent;

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
    /// token, Ctrl-C, a journal that could not be written; [`Summary::stopped`] says which;
    /// also while the item waited for its [`delay`](crate::batch::Batch::delay) turn), or the
    /// task itself said so (a task that waits for something before it really starts returns
    /// it from [`Task::attempt`] when the run stops meanwhile, as the `threadkit` command's
    /// task does for a job handed over just as it stops its jobs).
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
        Kind::of_cause(self).name()
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
        Kind::of_cause(self).is_failure()
    }
}

impl<E> Cause<E> {
    /// A panic's location and backtrace, if this is a panic that has them.
    pub(crate) fn panic_origin(&self) -> (Option<&str>, Option<&str>) {
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

/// The outcome of an item that failed or did not finish.
pub(crate) fn failed<T, I, E>(
    index: u64,
    input: FailedInput<I>,
    attempts: u32,
    cause: Cause<E>,
) -> Outcome<T, I, E> {
    Err(Box::new(Failure {
        index,
        input,
        attempts,
        cause,
    }))
}

/// The outcome of an item the run never started (it stopped first): the one place this
/// failure is made, by the workers, the supervisor and the driver alike.
pub(crate) fn not_started<T, I, E>(index: u64, input: I) -> Outcome<T, I, E> {
    failed(index, FailedInput::Value(input), 0, Cause::NotStarted)
}

/// What became of an item, as the counts see it: a value, or the kind of its [`Cause`]. The
/// one place a failure's kind is decided; [`Cause::kind`], [`Cause::is_failure`] and the
/// [`Summary`] counts all read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Ok,
    Error,
    Panic,
    Timeout,
    Cancelled,
    NotStarted,
    Journaled,
    Crashed,
}

impl Kind {
    const ALL: [Kind; 8] = [
        Kind::Ok,
        Kind::Error,
        Kind::Panic,
        Kind::Timeout,
        Kind::Cancelled,
        Kind::NotStarted,
        Kind::Journaled,
        Kind::Crashed,
    ];

    /// The kind of a failure's cause.
    pub(crate) fn of_cause<E>(cause: &Cause<E>) -> Kind {
        match cause {
            Cause::Error(_) => Kind::Error,
            Cause::Panic { .. } => Kind::Panic,
            Cause::Timeout { .. } => Kind::Timeout,
            Cause::Cancelled => Kind::Cancelled,
            Cause::NotStarted => Kind::NotStarted,
            Cause::Journaled { .. } => Kind::Journaled,
            Cause::Crashed { .. } => Kind::Crashed,
        }
    }

    /// The kind of an outcome.
    #[inline]
    pub(crate) fn of<T, I, E>(outcome: &Outcome<T, I, E>) -> Kind {
        match outcome {
            Ok(_) => Kind::Ok,
            Err(f) => Kind::of_cause(&f.cause),
        }
    }

    /// The name [`Cause::kind`] gives.
    fn name(self) -> &'static str {
        match self {
            Kind::Ok => "ok",
            Kind::Error => "error",
            Kind::Panic => "panic",
            Kind::Timeout => "timeout",
            Kind::Cancelled => "cancelled",
            Kind::NotStarted => "not-started",
            Kind::Journaled => "journaled",
            Kind::Crashed => "crashed",
        }
    }

    /// Whether the function ran and failed (see [`Cause::is_failure`]).
    pub(crate) fn is_failure(self) -> bool {
        !matches!(self, Kind::Ok | Kind::Cancelled | Kind::NotStarted)
    }
}

/// Outcome counts by [`Kind`]: what a worker counts over a chunk, added to the [`Summary`]
/// by the driver in one step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts([u64; 8]);

impl Counts {
    /// Counts one outcome of kind `kind`.
    #[inline]
    pub(crate) fn add(&mut self, kind: Kind) {
        self.0[kind as usize] += 1;
    }

    fn get(&self, kind: Kind) -> u64 {
        self.0[kind as usize]
    }
}

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
    /// The halt policy (fail fast, [`Batch::halt`](crate::batch::Batch::halt)) was met;
    /// [`Summary::halted_by`] says which condition and which item.
    Halted,
    /// The cancellation token was triggered.
    Cancelled,
    /// Ctrl-C (SIGINT) was received.
    Interrupted,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopReason::Halted => "halted by the halt policy",
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
    /// items an earlier run with this journal was running when it died (killed: their start
    /// was recorded, their outcome not), at most one per worker. Those in this run's input run
    /// again; nothing else that earlier run started does. 0 otherwise.
    pub running_at_last_stop: u64,
    /// Retries made (attempts beyond the first), over all items.
    pub retries: u64,
    /// Wall-clock time of the run.
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
    /// Why the run stopped early, if it did.
    pub stopped: Option<StopReason>,
    /// The halt condition met, and the item that met it (the trigger), if the run's
    /// [`Halt`](crate::batch::Halt) policy was met. Set whenever `stopped` is
    /// [`StopReason::Halted`]; also set if the policy was met after another stop (a
    /// cancellation) had already stopped scheduling.
    pub halted_by: Option<HaltEvent>,
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

    /// Adds a chunk's counts.
    pub(crate) fn add_counts(&mut self, c: &Counts) {
        for kind in Kind::ALL {
            let n = c.get(kind);
            self.total += n;
            *self.of_kind(kind) += n;
        }
    }

    /// Counts one outcome.
    pub(crate) fn count<T, I, E>(&mut self, o: &Outcome<T, I, E>) {
        self.total += 1;
        *self.of_kind(Kind::of(o)) += 1;
    }

    /// The count of the outcomes of `kind`.
    fn of_kind(&mut self, kind: Kind) -> &mut u64 {
        match kind {
            Kind::Ok => &mut self.succeeded,
            Kind::Error => &mut self.errors,
            Kind::Panic => &mut self.panics,
            Kind::Timeout => &mut self.timeouts,
            Kind::Cancelled => &mut self.cancelled,
            Kind::NotStarted => &mut self.not_started,
            Kind::Journaled => &mut self.journaled_failures,
            Kind::Crashed => &mut self.crashes,
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
        if let Some(h) = self.halted_by {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}
