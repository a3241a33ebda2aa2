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

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn turns_are_let_go_at_least_the_delay_apart_even_after_stalls() {
        let every = Duration::from_millis(20);
        let spacing = Spacing::new(every);
        // (clock read before asking for the turn, clock read once it was let go)
        let mut turns: Vec<(Instant, Instant)> = Vec::new();
        for k in 0..6 {
            if k % 2 == 1 {
                // A stall longer than the delay between two starts: the next turn is still
                // counted from when the previous one was let go, not from the stall.
                std::thread::sleep(every + every / 2);
            }
            let asked = Instant::now();
            assert!(spacing.wait_turn(|| false));
            turns.push((asked, Instant::now()));
        }
        for w in turns.windows(2) {
            // Turn k was let go after it was asked for; turn k + 1 at least `every` later.
            let (asked, _) = w[0];
            let (_, next) = w[1];
            assert!(
                next - asked >= every,
                "a turn let go {:?} after the previous was asked for",
                next - asked
            );
        }
    }

    #[test]
    fn a_delay_too_long_for_the_clock_lets_the_first_start_go_and_no_other() {
        let spacing = Spacing::new(Duration::MAX);
        let began = Instant::now();
        assert!(spacing.wait_turn(|| false), "the first start goes at once");
        // The second waits for good: only the stop (seen on its third look) ends its wait.
        let looks = Cell::new(0);
        let stopped = || {
            looks.set(looks.get() + 1);
            looks.get() >= 3
        };
        assert!(!spacing.wait_turn(stopped), "a second start went");
        assert_eq!(looks.get(), 3);
        assert!(began.elapsed() < Duration::from_secs(30));
    }
}
