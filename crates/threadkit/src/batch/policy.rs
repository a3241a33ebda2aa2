//! Failure policies (collect all, fail fast, GNU parallel's `--halt`) and retries.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

/// What the runner does when items fail.
///
/// # Examples
///
/// ```
/// use threadkit::batch::{FailurePolicy, Halt};
///
/// // GNU parallel's `--halt now,fail=10%`:
/// let p: FailurePolicy = "now,fail=10%".parse().unwrap();
/// assert_eq!(p, FailurePolicy::Halt(Halt::now().fail_percent(10.0)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum FailurePolicy {
    /// Run every item; failures are collected in the report (seed 000's
    /// `handle_exceptions=True`). The default.
    #[default]
    CollectAll,
    /// Stop scheduling at the first failure; items already running finish and keep their
    /// outcome, the rest are reported [`Cause::NotStarted`](crate::batch::Cause::NotStarted)
    /// (`handle_exceptions=False`, without losing the other results). Same as
    /// `Halt::soon().fail_count(1)`.
    FailFast,
    /// Stop after a number or a share of failures, successes or finished items: GNU
    /// parallel's `--halt` (see [`Halt`]).
    Halt(Halt),
}

impl FailurePolicy {
    /// The equivalent [`Halt`], if the policy ever stops a run.
    pub(crate) fn halt(&self) -> Option<Halt> {
        match self {
            FailurePolicy::CollectAll => None,
            FailurePolicy::FailFast => Some(Halt::soon().fail_count(1)),
            FailurePolicy::Halt(h) => Some(*h),
        }
    }
}

/// How abruptly a [`Halt`] stops the run.
///
/// # Examples
///
/// ```
/// use threadkit::batch::{Halt, HaltWhen};
/// assert_eq!(Halt::now().when, HaltWhen::Now);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HaltWhen {
    /// Stop scheduling; running items finish and keep their outcome (`--halt soon`).
    Soon,
    /// Stop at once: running items are reported
    /// [`Cause::Cancelled`](crate::batch::Cause::Cancelled) and their late results dropped
    /// (`--halt now`). A thread cannot be killed: the abandoned task keeps its worker thread
    /// until it returns; [`Batch::on_halt`](crate::batch::Batch::on_halt) is the place to stop
    /// what the running items wait on (the `threadkit` command kills its jobs' processes there).
    Now,
}

/// What a [`Halt`] counts: GNU parallel's `fail=`, `success=` and `done=`.
///
/// # Examples
///
/// ```
/// use threadkit::batch::{Halt, HaltOn};
/// assert_eq!(Halt::soon().success_count(2).on, HaltOn::Success);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HaltOn {
    /// Items whose function failed (an error, a panic, a timeout, a crash): `fail=`.
    Fail,
    /// Items with a value: `success=`.
    Success,
    /// Items that finished either way (not the ones cancelled or never started): `done=`.
    Done,
}

/// When a [`Halt`] triggers: after a number of items, or a percentage.
///
/// # Examples
///
/// ```
/// use threadkit::batch::Threshold;
/// assert!(Threshold::Count(3).reached(3, 10));
/// assert!(!Threshold::Percent(50.0).reached(3, 10));
/// // Of a known total: 5 of 10 is 50%.
/// assert!(Threshold::Percent(50.0).met(5, 6, Some(10)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// After this many items (`fail=N`).
    Count(u64),
    /// When this percentage of the items is reached (`fail=N%`): of the total number of
    /// inputs when it is known (GNU parallel's rule), else of the finished items, judged once
    /// at least [`Threshold::MIN_FOR_PERCENT`] items finished. See [`Threshold::met`].
    Percent(f64),
}

impl Threshold {
    /// The number of finished items a percentage threshold waits for before it judges, when
    /// the total number of inputs is not known.
    pub const MIN_FOR_PERCENT: u64 = 20;

    /// Whether `count` items out of `finished` finished items reach the threshold, the total
    /// being unknown: a count, or a share of the finished items once at least
    /// [`MIN_FOR_PERCENT`](Threshold::MIN_FOR_PERCENT) finished.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::batch::Threshold;
    /// assert!(Threshold::Percent(10.0).reached(3, 30));
    /// assert!(!Threshold::Percent(10.0).reached(1, 5)); // too early to judge
    /// ```
    pub fn reached(&self, count: u64, finished: u64) -> bool {
        self.met(count, finished, None)
    }

    /// Whether `count` counted items reach the threshold, `finished` items having finished
    /// out of `total` inputs (`None`: not known). The one place the percentage rule is:
    ///
    /// - `Count(n)`: `count >= n`;
    /// - `Percent(p)` of a known total: `count >= total * p / 100` (GNU parallel's
    ///   `halt_count = total_jobs * pct`), and at least one item counted;
    /// - `Percent(p)` of an unknown total: `count >= finished * p / 100`, once at least
    ///   [`MIN_FOR_PERCENT`](Threshold::MIN_FOR_PERCENT) items finished.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::batch::Threshold;
    /// let half = Threshold::Percent(50.0);
    /// assert!(!half.met(4, 4, Some(10)));
    /// assert!(half.met(5, 5, Some(10)));
    /// assert!(!half.met(5, 5, None)); // too early to judge
    /// assert!(half.met(10, 20, None));
    /// ```
    pub fn met(&self, count: u64, finished: u64, total: Option<u64>) -> bool {
        match *self {
            Threshold::Count(n) => count >= n.max(1),
            Threshold::Percent(p) => {
                let of = match total {
                    Some(t) => t,
                    None if finished >= Self::MIN_FOR_PERCENT => finished,
                    None => return false,
                };
                count > 0 && (count as f64) * 100.0 >= p * of as f64
            }
        }
    }
}

/// GNU parallel's `--halt soon|now,fail|success|done=N|N%`: stop the run once enough items
/// failed, succeeded, or finished.
///
/// The runner evaluates it in one place, on the thread that counted the item's final outcome
/// (after its last attempt), so `now` acts at once: scheduling stops, and with `now` the
/// running items are reported cancelled. The item that met the condition is recorded in the
/// summary ([`Summary::halted_by`](crate::batch::Summary::halted_by)), and
/// [`Batch::on_halt`](crate::batch::Batch::on_halt) is told.
///
/// `N%` is a percentage of the total number of inputs when the runner knows it (an input of
/// exact length, as a `Vec`, a slice, a range, or [`Batch::total`](crate::batch::Batch::total)),
/// as GNU parallel counts it; otherwise of the items finished so far, judged once at least
/// [`Threshold::MIN_FOR_PERCENT`] finished (see [`Threshold::met`]). `done=N%` of an unknown
/// total is never met: every finished item is done.
///
/// # Examples
///
/// ```
/// use threadkit::batch::{Halt, HaltOn, HaltWhen, Threshold};
///
/// let h = Halt::soon().fail_count(5);
/// assert_eq!((h.when, h.on, h.threshold), (HaltWhen::Soon, HaltOn::Fail, Threshold::Count(5)));
/// assert_eq!(h.to_string(), "soon,fail=5");
/// assert_eq!("now,done=50%".parse::<Halt>().unwrap(), Halt::now().done_percent(50.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Halt {
    /// How abruptly to stop.
    pub when: HaltWhen,
    /// What is counted.
    pub on: HaltOn,
    /// After how many.
    pub threshold: Threshold,
}

impl Halt {
    /// `--halt soon,fail=1`; change the condition with [`fail_count`](Halt::fail_count),
    /// [`success_percent`](Halt::success_percent) and the like.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadkit::batch::Halt::soon().to_string(), "soon,fail=1");
    /// ```
    pub fn soon() -> Halt {
        Halt {
            when: HaltWhen::Soon,
            on: HaltOn::Fail,
            threshold: Threshold::Count(1),
        }
    }

    /// `--halt now,fail=1`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadkit::batch::Halt::now().to_string(), "now,fail=1");
    /// ```
    pub fn now() -> Halt {
        Halt {
            when: HaltWhen::Now,
            ..Halt::soon()
        }
    }

    fn with(mut self, on: HaltOn, threshold: Threshold) -> Halt {
        self.on = on;
        self.threshold = match threshold {
            Threshold::Count(n) => Threshold::Count(n.max(1)),
            t => t,
        };
        self
    }

    /// Halts after `n` failures (0 is taken as 1).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadkit::batch::Halt::now().fail_count(3).to_string(), "now,fail=3");
    /// ```
    pub fn fail_count(self, n: u64) -> Halt {
        self.with(HaltOn::Fail, Threshold::Count(n))
    }

    /// Halts when `percent` % of the items failed (see [`Halt`] for what the percentage is
    /// of).
    ///
    /// # Examples
    ///
    /// ```
    /// let h = threadkit::batch::Halt::soon().fail_percent(2.5);
    /// assert_eq!(h.to_string(), "soon,fail=2.5%");
    /// ```
    pub fn fail_percent(self, percent: f64) -> Halt {
        self.with(HaltOn::Fail, Threshold::Percent(percent))
    }

    /// Halts after `n` items succeeded (0 is taken as 1).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadkit::batch::Halt::soon().success_count(2).to_string(), "soon,success=2");
    /// ```
    pub fn success_count(self, n: u64) -> Halt {
        self.with(HaltOn::Success, Threshold::Count(n))
    }

    /// Halts when `percent` % of the items succeeded.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadkit::batch::Halt::now().success_percent(50.0).to_string(), "now,success=50%");
    /// ```
    pub fn success_percent(self, percent: f64) -> Halt {
        self.with(HaltOn::Success, Threshold::Percent(percent))
    }

    /// Halts after `n` items finished, failed or not (0 is taken as 1).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadkit::batch::Halt::soon().done_count(4).to_string(), "soon,done=4");
    /// ```
    pub fn done_count(self, n: u64) -> Halt {
        self.with(HaltOn::Done, Threshold::Count(n))
    }

    /// Halts when `percent` % of the items finished (of a known total only: see [`Halt`]).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadkit::batch::Halt::soon().done_percent(10.0).to_string(), "soon,done=10%");
    /// ```
    pub fn done_percent(self, percent: f64) -> Halt {
        self.with(HaltOn::Done, Threshold::Percent(percent))
    }

    /// Whether `count` items counted (of [`on`](Halt::on)'s kind), `finished` finished, out
    /// of `total` inputs (when known), meet the condition: [`Threshold::met`], except that
    /// `done=N%` of an unknown total is never met.
    pub(crate) fn met(&self, count: u64, finished: u64, total: Option<u64>) -> bool {
        if self.on == HaltOn::Done && total.is_none() {
            if let Threshold::Percent(_) = self.threshold {
                return false;
            }
        }
        self.threshold.met(count, finished, total)
    }
}

impl fmt::Display for Halt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = match self.when {
            HaltWhen::Soon => "soon",
            HaltWhen::Now => "now",
        };
        let on = match self.on {
            HaltOn::Fail => "fail",
            HaltOn::Success => "success",
            HaltOn::Done => "done",
        };
        match self.threshold {
            Threshold::Count(n) => write!(f, "{when},{on}={n}"),
            Threshold::Percent(p) => write!(f, "{when},{on}={p}%"),
        }
    }
}

/// The condition of a [`Halt`] met during a run: which one, and by which item. Recorded in
/// the [`Summary`](crate::batch::Summary) and handed to
/// [`Batch::on_halt`](crate::batch::Batch::on_halt).
///
/// # Examples
///
/// ```
/// use threadkit::batch::{Batch, Halt, HaltOn};
///
/// let r = Batch::new(|x: &u32| if *x == 3 { Err("three") } else { Ok(*x) })
///     .halt(Halt::soon().fail_count(1))
///     .workers(1)
///     .progress(false)
///     .run(0..10u32)
///     .unwrap();
/// let h = r.summary().halted_by.unwrap();
/// assert_eq!((h.on, h.index, h.count), (HaltOn::Fail, 3, 1));
/// assert_eq!(h.to_string(), "1 failure of 10, at item 3");
/// assert!(r.summary().to_string().ends_with("halted by the halt policy (1 failure of 10, at item 3)"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HaltEvent {
    /// How abruptly the run stops.
    pub when: HaltWhen,
    /// What was counted.
    pub on: HaltOn,
    /// The index of the item whose outcome met the condition: the trigger.
    pub index: u64,
    /// The count that met it (failures, successes or finished items, per [`on`](Self::on)).
    pub count: u64,
    /// The total number of inputs the percentage was of, when known.
    pub total: Option<u64>,
}

impl fmt::Display for HaltEvent {
    /// What was met, by which item: `3 failures, at item 8`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match (self.on, self.count) {
            (HaltOn::Fail, 1) => "failure",
            (HaltOn::Fail, _) => "failures",
            (HaltOn::Success, 1) => "success",
            (HaltOn::Success, _) => "successes",
            (HaltOn::Done, _) => "done",
        };
        write!(f, "{} {what}", self.count)?;
        if let Some(t) = self.total {
            write!(f, " of {t}")?;
        }
        write!(f, ", at item {}", self.index)
    }
}

/// A `--halt` specification that could not be parsed.
///
/// # Examples
///
/// ```
/// let err = "later,fail=2".parse::<threadkit::batch::FailurePolicy>().unwrap_err();
/// assert!(err.to_string().contains("later,fail=2"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsePolicyError {
    text: String,
}

impl fmt::Display for ParsePolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid failure policy {:?}: expected `all`, `never`, `fast`, or \
             `soon|now,fail|success|done=N|N%`",
            self.text
        )
    }
}

impl std::error::Error for ParsePolicyError {}

impl FromStr for Halt {
    type Err = ParsePolicyError;

    /// Parses GNU parallel's `soon|now,fail|success|done=N|N%` (`N` at least 1, `N%` above 0
    /// and at most 100).
    fn from_str(s: &str) -> Result<Halt, ParsePolicyError> {
        let err = || ParsePolicyError { text: s.to_owned() };
        let (when, rest) = s.trim().split_once(',').ok_or_else(err)?;
        let when = match when {
            "soon" => Halt::soon(),
            "now" => Halt::now(),
            _ => return Err(err()),
        };
        let (on, value) = rest.split_once('=').ok_or_else(err)?;
        let on = match on {
            "fail" => HaltOn::Fail,
            "success" => HaltOn::Success,
            "done" => HaltOn::Done,
            _ => return Err(err()),
        };
        let threshold = if let Some(p) = value.strip_suffix('%') {
            let p: f64 = p.parse().map_err(|_| err())?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(err());
            }
            Threshold::Percent(p)
        } else {
            Threshold::Count(value.parse::<u64>().map_err(|_| err())?)
        };
        Ok(when.with(on, threshold))
    }
}

impl FromStr for FailurePolicy {
    type Err = ParsePolicyError;

    /// Parses `all` (also `never`), `fast`, or a [`Halt`]: GNU parallel's `soon,fail=N`,
    /// `now,success=N%`, `soon,done=N`...
    fn from_str(s: &str) -> Result<FailurePolicy, ParsePolicyError> {
        match s.trim() {
            "all" | "never" => Ok(FailurePolicy::CollectAll),
            "fast" => Ok(FailurePolicy::FailFast),
            _ => s.parse().map(FailurePolicy::Halt),
        }
    }
}

/// How long to wait between attempts.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::batch::Backoff;
///
/// let b = Backoff::exponential(Duration::from_millis(10), Duration::from_millis(50));
/// assert_eq!(b.delay(1), Duration::from_millis(10));
/// assert_eq!(b.delay(2), Duration::from_millis(20));
/// assert_eq!(b.delay(9), Duration::from_millis(50));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backoff {
    /// Retry at once.
    #[default]
    None,
    /// The same delay before every retry.
    Fixed(Duration),
    /// `initial`, then doubling up to `max`.
    Exponential {
        /// The delay before the first retry.
        initial: Duration,
        /// The longest delay.
        max: Duration,
    },
}

impl Backoff {
    /// Doubling delays from `initial`, capped at `max`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = threadkit::batch::Backoff::exponential(Duration::from_millis(1), Duration::from_secs(1));
    /// assert_eq!(b.delay(3), Duration::from_millis(4));
    /// ```
    pub fn exponential(initial: Duration, max: Duration) -> Backoff {
        Backoff::Exponential { initial, max }
    }

    /// The delay before retry number `retry` (1 for the first retry).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::batch::Backoff;
    /// assert_eq!(Backoff::Fixed(Duration::from_millis(5)).delay(4), Duration::from_millis(5));
    /// ```
    pub fn delay(&self, retry: u32) -> Duration {
        match *self {
            Backoff::None => Duration::ZERO,
            Backoff::Fixed(d) => d,
            Backoff::Exponential { initial, max } => {
                let shift = retry.saturating_sub(1).min(31);
                initial.checked_mul(1u32 << shift).unwrap_or(max).min(max)
            }
        }
    }
}

/// Retries for failed items: up to `retries` more attempts after the first, with a
/// [`Backoff`] between them. Errors and panics are retried; timeouts and cancellations are not.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::batch::{Backoff, Retry};
///
/// let r = Retry::new(3).backoff(Backoff::Fixed(Duration::from_millis(1)));
/// assert_eq!(r.max_attempts(), 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retry {
    retries: u32,
    backoff: Backoff,
}

impl Retry {
    /// Up to `retries` attempts after the first one, no delay.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadkit::batch::Retry::new(0).max_attempts(), 1);
    /// ```
    pub fn new(retries: u32) -> Retry {
        Retry {
            retries,
            backoff: Backoff::None,
        }
    }

    /// Waits as `backoff` says before each retry (on the worker thread).
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::batch::{Backoff, Retry};
    /// let r = Retry::new(1).backoff(Backoff::None);
    /// assert_eq!(r.max_attempts(), 2);
    /// ```
    pub fn backoff(mut self, backoff: Backoff) -> Retry {
        self.backoff = backoff;
        self
    }

    /// The first attempt plus the retries.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadkit::batch::Retry::new(2).max_attempts(), 3);
    /// ```
    pub fn max_attempts(&self) -> u32 {
        self.retries.saturating_add(1)
    }

    pub(crate) fn delay(&self, retry: u32) -> Duration {
        self.backoff.delay(retry)
    }
}
