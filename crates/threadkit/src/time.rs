//! Deadline arithmetic shared by every timed operation.
#![allow(dead_code)]

use std::fmt;
use std::time::{Duration, Instant};

/// A timeout too large to be added to the current [`Instant`].
///
/// Returned (wrapped in each operation's own error type) by timed operations given a timeout
/// such as `Duration::MAX`, instead of panicking on overflow.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::TimeoutOverflow;
///
/// let err = threadkit::deadline_after(Duration::MAX).unwrap_err();
/// assert_eq!(err, TimeoutOverflow { timeout: Duration::MAX });
/// assert!(err.to_string().contains("overflows"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutOverflow {
    /// The timeout that was asked for.
    pub timeout: Duration,
}

impl fmt::Display for TimeoutOverflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timeout of {:?} overflows the clock (Instant)",
            self.timeout
        )
    }
}

impl std::error::Error for TimeoutOverflow {}

/// The instant `timeout` from now, or [`TimeoutOverflow`] when that is past what `Instant` holds.
///
/// # Errors
///
/// [`TimeoutOverflow`] when `Instant::now() + timeout` would overflow.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let d = threadkit::deadline_after(Duration::from_secs(1)).unwrap();
/// assert!(d > Instant::now());
/// ```
pub fn deadline_after(timeout: Duration) -> Result<Instant, TimeoutOverflow> {
    Instant::now()
        .checked_add(timeout)
        .ok_or(TimeoutOverflow { timeout })
}

/// How long a blocking operation (a lock's acquisition, a queue's put or get) may wait: the one
/// shape of "blocking, non-blocking or timed" every engine below the public handles takes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// Block until done.
    Forever,
    /// Do not block.
    No,
    /// Block until done or the instant passes.
    Until(Instant),
}
