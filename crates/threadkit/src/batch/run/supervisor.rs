//! The supervisor, present when items are tracked or a cancellation token is given: it turns
//! what stops a run (the token, Ctrl-C, the grace period running out) into stop levels, claims
//! tracked items that are overdue (the timeout) or abandoned (`NOW`), and says how often the
//! driver must wake to do so (the tick). The halt policy is evaluated where final outcomes are
//! counted ([`Shared::note`]); the driver drains what a stop leaves unscheduled.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::config::Config;
use super::shared::{Shared, NOW, REASON_CANCEL, REASON_INTERRUPT, RUN, SOON};
use crate::batch::cancel::{CancelToken, CtrlC};
use crate::batch::outcome::Cause;
use crate::batch::RunError;

/// Watches the stop sources and the clock for one run.
pub(super) struct Supervisor {
    ctrl_c: Option<CtrlC>,
    cancel: Option<CancelToken>,
    grace: Option<Duration>,
    /// When running items are abandoned after a stop, if a grace period was given.
    grace_deadline: Option<Instant>,
    timeout: Option<Duration>,
}

/// An item the supervisor took from the thread running it: reported now, its late result
/// dropped when the call returns.
pub(super) struct Claim<E> {
    pub(super) index: u64,
    /// The input's `Debug` text (the value is still in use by the call).
    pub(super) debug: String,
    pub(super) cause: Cause<E>,
    /// Whether a replacement thread is to be started (else the stuck thread is owed its
    /// place back).
    pub(super) replace: bool,
    /// The slot of the thread running it, which a replacement takes over.
    pub(super) slot: usize,
}

impl Supervisor {
    /// The supervisor `cfg` needs, if any; it installs the Ctrl-C handler when asked to.
    ///
    /// # Errors
    ///
    /// [`RunError::Signal`] when the Ctrl-C handler cannot be installed.
    pub(super) fn start(cfg: &Config) -> Result<Option<Supervisor>, RunError> {
        if !cfg.tracked() && cfg.cancel.is_none() {
            return Ok(None);
        }
        let ctrl_c = if cfg.ctrl_c {
            Some(CtrlC::watch().map_err(|e| RunError::Signal {
                message: e.to_string(),
            })?)
        } else {
            None
        };
        Ok(Some(Supervisor {
            ctrl_c,
            cancel: cfg.cancel.clone(),
            grace: cfg.grace,
            grace_deadline: None,
            timeout: cfg.timeout,
        }))
    }

    /// Raises the stop level for what happened since the last look: a cancelled token or a
    /// first Ctrl-C stops scheduling (and starts the grace period); a second Ctrl-C or the
    /// end of the grace period stops at once.
    pub(super) fn watch<K>(&mut self, sh: &Shared<K>, now: Instant) {
        if sh.level() == RUN {
            if self.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
                sh.request_stop(SOON, REASON_CANCEL);
            }
            if self.ctrl_c.as_ref().is_some_and(|c| c.presses() > 0) {
                sh.request_stop(SOON, REASON_INTERRUPT);
            }
            if sh.level() != RUN {
                self.grace_deadline = self.grace.and_then(|g| now.checked_add(g));
            }
        }
        if sh.level() == SOON {
            if self.ctrl_c.as_ref().is_some_and(|c| c.presses() > 1) {
                sh.request_stop(NOW, REASON_INTERRUPT);
            }
            if self.grace_deadline.is_some_and(|d| now >= d) {
                sh.request_stop(NOW, REASON_CANCEL);
            }
        }
    }

    /// Takes tracked items from their threads: at stop level `NOW` every running item
    /// ([`Cause::Cancelled`], no replacement: the run is over for that thread), else those
    /// past the timeout ([`Cause::Timeout`], replaced while fewer than `max_abandoned` threads
    /// are stuck).
    pub(super) fn claims<K, E>(&self, sh: &Shared<K>, level: u8, now: Instant) -> Vec<Claim<E>> {
        let mut claimed = Vec::new();
        let Some(running) = &sh.running else {
            return claimed;
        };
        let mut map = running.lock();
        if level == NOW {
            for (index, r) in map.drain() {
                // No replacement, nothing owed: the run is over for this thread.
                sh.stuck.fetch_add(1, Ordering::SeqCst);
                claimed.push(Claim {
                    index,
                    debug: r.debug,
                    cause: Cause::Cancelled,
                    replace: false,
                    slot: r.slot,
                });
            }
        } else if let Some(t) = self.timeout {
            let overdue: Vec<u64> = map
                .iter()
                .filter(|(_, r)| now.saturating_duration_since(r.started) >= t)
                .map(|(i, _)| *i)
                .collect();
            for index in overdue {
                if let Some(r) = map.remove(&index) {
                    // Decided under the lock, before the thread can see its claim.
                    let stuck = sh.stuck.fetch_add(1, Ordering::SeqCst) + 1;
                    let replace = stuck <= sh.max_abandoned;
                    if !replace {
                        sh.owed.fetch_add(1, Ordering::SeqCst);
                    }
                    claimed.push(Claim {
                        index,
                        debug: r.debug,
                        cause: Cause::Timeout { after: t },
                        replace,
                        slot: r.slot,
                    });
                }
            }
        }
        claimed
    }

    /// How long the driver may wait for results before it must look again.
    pub(super) fn tick(&self) -> Option<Duration> {
        let mut tick: Option<Duration> = None;
        let mut at_most = |d: Duration| {
            tick = Some(tick.map_or(d, |t| t.min(d)));
        };
        if self.cancel.is_some() || self.ctrl_c.is_some() || self.grace_deadline.is_some() {
            at_most(Duration::from_millis(10));
        }
        if let Some(t) = self.timeout {
            at_most((t / 4).clamp(Duration::from_millis(1), Duration::from_millis(10)));
        }
        tick
    }
}
