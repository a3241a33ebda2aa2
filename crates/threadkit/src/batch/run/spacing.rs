//! Start spacing ([`Batch::delay`](crate::batch::Batch::delay), GNU parallel's `--delay`):
//! consecutive item starts at least a given time apart. Starts take their turns one at a time
//! under a lock (only runs with a delay have one): the next start may happen `every` after the
//! moment the previous one was let go, measured after its wait, so that a thread that woke late
//! does not shorten the gap after it. Waiting is done in short steps, so that a stop is seen
//! within a few milliseconds, whatever the delay.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How often a waiting start looks whether the run stopped.
const STEP: Duration = Duration::from_millis(10);

/// The turns of a run's item starts.
pub(super) struct Spacing {
    every: Duration,
    /// When the next start may happen (`None`: at once).
    next: Mutex<Option<Instant>>,
}

impl Spacing {
    /// Starts at least `every` apart; the first may start at once.
    pub(super) fn new(every: Duration) -> Spacing {
        Spacing {
            every,
            next: Mutex::new(None),
        }
    }

    /// Waits for this start's turn; `false` (within [`STEP`] of the stop) when `stopped`
    /// says the run stopped meanwhile: the item must not start. Starts waiting behind this one
    /// see the stop as soon as they get their turn.
    pub(super) fn wait_turn(&self, stopped: impl Fn() -> bool) -> bool {
        let mut next = self.next.lock();
        loop {
            if stopped() {
                return false;
            }
            let now = Instant::now();
            let left = next.map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
            if left.is_zero() {
                // A delay too long for the clock is as good as forever (~35,000 years).
                let forever = Duration::from_secs(1 << 40);
                *next = Some(now.checked_add(self.every).unwrap_or(now + forever));
                return true;
            }
            std::thread::sleep(left.min(STEP));
        }
    }
}
