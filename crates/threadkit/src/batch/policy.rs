//! Failure policies (collect all, fail fast, GNU parallel's `--halt`) and retries.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

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
    /// Stop after a number or a share of failures: GNU parallel's `--halt`.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaltWhen {
    /// Stop scheduling; running items finish and keep their outcome (`--halt soon`).
    Soon,
    /// Stop at once: running items are reported
    /// [`Cause::Cancelled`](crate::batch::Cause::Cancelled) and their late results dropped
    /// (`--halt now`). A thread cannot be killed: the abandoned task keeps its worker thread
    /// until it returns.
    Now,
}

/// When a [`Halt`] triggers.
///
/// # Examples
///
/// ```
/// use threadkit::batch::Threshold;
/// assert!(Threshold::Count(3).reached(3, 10));
/// assert!(!Threshold::Percent(50.0).reached(3, 10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// After this many failures (`fail=N`).
    Count(u64),
    /// When this percentage of the finished items failed (`fail=N%`), judged once at least
    /// [`Threshold::MIN_FOR_PERCENT`] items finished (or failures alone reach the percentage
    /// of the known total).
    Percent(f64),
}

impl Threshold {
    /// The number of finished items a percentage threshold waits for before it judges.
    pub const MIN_FOR_PERCENT: u64 = 20;

    /// Whether `failed` failures out of `finished` finished items reach the threshold.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::batch::Threshold;
    /// assert!(Threshold::Percent(10.0).reached(3, 30));
    /// assert!(!Threshold::Percent(10.0).reached(1, 5)); // too early to judge
    /// ```
    pub fn reached(&self, failed: u64, finished: u64) -> bool {
        match *self {
            Threshold::Count(n) => failed >= n.max(1),
            Threshold::Percent(p) => {
                finished >= Self::MIN_FOR_PERCENT
                    && failed > 0
                    && (failed as f64) * 100.0 >= p * finished as f64
            }
        }
    }
}

/// GNU parallel's `--halt soon|now,fail=N|N%`: stop the run once enough items failed.
///
/// # Examples
///
/// ```
/// use threadkit::batch::{Halt, HaltWhen, Threshold};
///
/// let h = Halt::soon().fail_count(5);
/// assert_eq!((h.when, h.threshold), (HaltWhen::Soon, Threshold::Count(5)));
/// assert_eq!(h.to_string(), "soon,fail=5");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Halt {
    /// How abruptly to stop.
    pub when: HaltWhen,
    /// After how many failures.
    pub threshold: Threshold,
}

impl Halt {
    /// `--halt soon,fail=1`; change the threshold with [`fail_count`](Halt::fail_count) or
    /// [`fail_percent`](Halt::fail_percent).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadkit::batch::Halt::soon().to_string(), "soon,fail=1");
    /// ```
    pub fn soon() -> Halt {
        Halt {
            when: HaltWhen::Soon,
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
            threshold: Threshold::Count(1),
        }
    }

    /// Halts after `n` failures (0 is taken as 1).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadkit::batch::Halt::now().fail_count(3).to_string(), "now,fail=3");
    /// ```
    pub fn fail_count(mut self, n: u64) -> Halt {
        self.threshold = Threshold::Count(n.max(1));
        self
    }

    /// Halts when `percent` % of the finished items failed.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = threadkit::batch::Halt::soon().fail_percent(2.5);
    /// assert_eq!(h.to_string(), "soon,fail=2.5%");
    /// ```
    pub fn fail_percent(mut self, percent: f64) -> Halt {
        self.threshold = Threshold::Percent(percent);
        self
    }
}

impl fmt::Display for Halt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = match self.when {
            HaltWhen::Soon => "soon",
            HaltWhen::Now => "now",
        };
        match self.threshold {
            Threshold::Count(n) => write!(f, "{when},fail={n}"),
            Threshold::Percent(p) => write!(f, "{when},fail={p}%"),
        }
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
            "invalid failure policy {:?}: expected `all`, `fast`, or `soon|now,fail=N|N%`",
            self.text
        )
    }
}

impl std::error::Error for ParsePolicyError {}

impl FromStr for FailurePolicy {
    type Err = ParsePolicyError;

    /// Parses `all` (also `never`), `fast`, or GNU parallel's `soon,fail=N`, `now,fail=N%`.
    fn from_str(s: &str) -> Result<FailurePolicy, ParsePolicyError> {
        let err = || ParsePolicyError { text: s.to_owned() };
        match s.trim() {
            "all" | "never" => return Ok(FailurePolicy::CollectAll),
            "fast" => return Ok(FailurePolicy::FailFast),
            _ => {}
        }
        let (when, rest) = s.trim().split_once(',').ok_or_else(err)?;
        let when = match when {
            "soon" => HaltWhen::Soon,
            "now" => HaltWhen::Now,
            _ => return Err(err()),
        };
        let value = rest.strip_prefix("fail=").ok_or_else(err)?;
        let threshold = if let Some(p) = value.strip_suffix('%') {
            let p: f64 = p.parse().map_err(|_| err())?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(err());
            }
            Threshold::Percent(p)
        } else {
            Threshold::Count(value.parse::<u64>().map_err(|_| err())?.max(1))
        };
        Ok(FailurePolicy::Halt(Halt { when, threshold }))
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
