//! What the database holds besides plain columns: a job's outcome as bytes (postcard), the
//! batch's settings as the workers read them, and the fingerprint of a submitted input list.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::batch::outcome::Cause;
use crate::batch::{FailurePolicy, Halt, Retry};

/// A recorded outcome: a value, or a failure's [`Cause`] in a form serde can carry. The
/// submitter turns it back into the report's `Outcome`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum Stored<T, E> {
    Value(T),
    Error(E),
    Panic {
        message: String,
        location: Option<String>,
        backtrace: Option<String>,
    },
    Timeout {
        after_ms: u64,
    },
    Crashed {
        message: String,
    },
}

impl<T, E> Stored<T, E> {
    /// The stored form of an attempt's failure; `None` for a cause that is not an attempt's
    /// result (cancelled, not started, journaled: the job is released, not recorded).
    pub(super) fn of_cause(cause: Cause<E>) -> Option<Stored<T, E>> {
        Some(match cause {
            Cause::Error(e) => Stored::Error(e),
            Cause::Panic {
                message,
                location,
                backtrace,
            } => Stored::Panic {
                message,
                location,
                backtrace,
            },
            Cause::Timeout { after } => Stored::Timeout {
                after_ms: after.as_millis() as u64,
            },
            Cause::Crashed { message } => Stored::Crashed { message },
            Cause::Cancelled | Cause::NotStarted | Cause::Journaled { .. } => return None,
        })
    }

    /// The value, or the failure's cause.
    pub(super) fn into_result(self) -> Result<T, Cause<E>> {
        match self {
            Stored::Value(v) => Ok(v),
            Stored::Error(e) => Err(Cause::Error(e)),
            Stored::Panic {
                message,
                location,
                backtrace,
            } => Err(Cause::Panic {
                message,
                location,
                backtrace,
            }),
            Stored::Timeout { after_ms } => Err(Cause::Timeout {
                after: Duration::from_millis(after_ms),
            }),
            Stored::Crashed { message } => Err(Cause::Crashed { message }),
        }
    }

    /// Whether another attempt may fix it, as the local runner decides: errors and panics
    /// are retried, timeouts and crashes are not.
    pub(super) fn retryable(&self) -> bool {
        matches!(self, Stored::Error(_) | Stored::Panic { .. })
    }
}

/// How a batch runs, written by the submitter into `tk_batch` and read by every worker: the
/// one place the batch's policy lives, so all workers apply the same.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Settings {
    /// The halt policy (GNU parallel's text, e.g. `soon,fail=1`), if any.
    pub(super) halt: Option<Halt>,
    /// The first attempt plus the retries.
    pub(super) max_attempts: u32,
    /// The pause before retry `k` is `backoff_ms[k - 1]` (the last one beyond the list).
    pub(super) backoff_ms: Vec<i64>,
    /// The per-attempt timeout.
    pub(super) timeout: Option<Duration>,
}

/// How many retry pauses are written out (later retries wait as long as the last one).
const BACKOFF_STEPS: u32 = 32;

impl Settings {
    /// The settings of a policy, a retry and a timeout.
    pub(super) fn new(policy: FailurePolicy, retry: Retry, timeout: Option<Duration>) -> Self {
        let retries = retry.max_attempts() - 1;
        Settings {
            halt: policy.halt(),
            max_attempts: retry.max_attempts(),
            backoff_ms: (1..=retries.min(BACKOFF_STEPS))
                .map(|k| retry.delay(k).as_millis() as i64)
                .collect(),
            timeout,
        }
    }

    /// The halt policy as text, for the `halt` column.
    pub(super) fn halt_text(&self) -> Option<String> {
        self.halt.map(|h| h.to_string())
    }

    /// Parses the `halt` column back.
    pub(super) fn parse_halt(text: Option<&str>) -> Result<Option<Halt>, String> {
        let Some(text) = text else {
            return Ok(None);
        };
        match text.parse::<FailurePolicy>() {
            Ok(p) => Ok(p.halt()),
            Err(e) => Err(format!("the batch's halt policy {text:?}: {e}")),
        }
    }

    /// The pause before retry number `retry` (1 for the first).
    pub(super) fn backoff(&self, retry: u32) -> Duration {
        let i = (retry.max(1) as usize - 1).min(self.backoff_ms.len().saturating_sub(1));
        Duration::from_millis(self.backoff_ms.get(i).copied().unwrap_or(0).max(0) as u64)
    }

    /// The settings as text, part of the batch's fingerprint.
    fn describe(&self) -> String {
        format!(
            "halt={:?};attempts={};backoff={:?};timeout={:?}",
            self.halt_text(),
            self.max_attempts,
            self.backoff_ms,
            self.timeout.map(|t| t.as_millis())
        )
    }
}

/// A fingerprint of a batch: its encoded inputs in order and its settings. Two submits of the
/// same batch id must agree on it. FNV-1a, twice with different offsets (128 bits): stable
/// across builds and platforms, which `std`'s hasher is not; a guard against mistakes, not
/// against an adversary.
pub(super) fn fingerprint<'a>(
    inputs: impl IntoIterator<Item = &'a [u8]>,
    settings: &Settings,
) -> String {
    let mut h = [0xcbf2_9ce4_8422_2325u64, 0x6c62_272e_07bb_0142u64];
    let mut eat = |bytes: &[u8]| {
        for x in &mut h {
            for &b in bytes {
                *x ^= u64::from(b);
                *x = x.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
    };
    let mut n = 0u64;
    for input in inputs {
        eat(&(input.len() as u64).to_le_bytes());
        eat(input);
        n += 1;
    }
    eat(&n.to_le_bytes());
    eat(settings.describe().as_bytes());
    format!("{:016x}{:016x}", h[0], h[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_tells_inputs_order_and_settings_apart() {
        let s = Settings::new(FailurePolicy::CollectAll, Retry::new(0), None);
        let a = fingerprint([&b"ab"[..], b"c"], &s);
        assert_eq!(a, fingerprint([&b"ab"[..], b"c"], &s));
        assert_ne!(a, fingerprint([&b"a"[..], b"bc"], &s));
        assert_ne!(a, fingerprint([&b"c"[..], b"ab"], &s));
        let s2 = Settings::new(FailurePolicy::FailFast, Retry::new(0), None);
        assert_ne!(a, fingerprint([&b"ab"[..], b"c"], &s2));
    }

    #[test]
    fn settings_keep_the_retry_pauses_and_the_halt_policy() {
        use crate::batch::Backoff;
        let retry = Retry::new(5).backoff(Backoff::exponential(
            Duration::from_millis(10),
            Duration::from_millis(30),
        ));
        let s = Settings::new(FailurePolicy::FailFast, retry, None);
        assert_eq!(s.max_attempts, 6);
        assert_eq!(s.backoff(1), Duration::from_millis(10));
        assert_eq!(s.backoff(2), Duration::from_millis(20));
        assert_eq!(s.backoff(9), Duration::from_millis(30));
        let back = Settings::parse_halt(s.halt_text().as_deref()).unwrap();
        assert_eq!(back, s.halt);
    }
}
