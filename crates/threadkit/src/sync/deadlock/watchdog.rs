//! The stuck-thread watchdog: a background thread that looks at every thread's "waiting for"
//! slot and reports waits longer than a threshold.

use super::report::{Holder, Report, StuckThread, WaitLink};
use super::track::{self, Shared};
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct Stop {
    stopped: Mutex<bool>,
    cv: Condvar,
}

/// A background thread reporting threads blocked on a threadkit primitive ([`Lock`],
/// [`RLock`], a [`Condition`]'s lock or notification, [`Semaphore`], [`Event`], [`Barrier`])
/// for longer than a threshold, as [`Report::StuckThread`]: who waits, for what, since where,
/// and which thread holds it (and the whole cycle when the holders wait on each other).
///
/// Each wait is reported once. The watchdog runs until [`stop`](Self::stop) is called or it is
/// dropped; it is a plain `std` thread named `threadkit-deadlock-watchdog`, not listed by
/// [`thread::enumerate`](crate::thread::enumerate).
///
/// [`Lock`]: crate::sync::Lock
/// [`RLock`]: crate::sync::RLock
/// [`Condition`]: crate::sync::Condition
/// [`Semaphore`]: crate::sync::Semaphore
/// [`Event`]: crate::sync::Event
/// [`Barrier`]: crate::sync::Barrier
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::sync::deadlock::{self, Report, Watchdog};
/// use threadkit::sync::{Event, Lock};
///
/// deadlock::set_reaction(deadlock::Reaction::Report);
/// let dog = Watchdog::start(Duration::from_millis(20));
/// let lock = Lock::new(());
/// let holding = Event::new();
/// std::thread::scope(|s| {
///     let g = lock.lock();
///     s.spawn(|| {
///         // Blocks on the lock the main thread holds, for longer than the threshold.
///         assert!(lock.lock_timeout(Duration::from_millis(400)).unwrap().is_none());
///         holding.set();
///     });
///     assert!(holding.wait_timeout(Duration::from_secs(10)).unwrap());
///     drop(g);
/// });
/// dog.stop();
/// let stuck = deadlock::reports().into_iter().find_map(|r| match r {
///     Report::StuckThread(s) if s.waiting_for == lock.deadlock_resource() => Some(s),
///     _ => None,
/// });
/// let holder = stuck.unwrap().holder.unwrap();
/// assert_eq!(holder.thread, threadkit::thread::main_thread().name());
/// ```
pub struct Watchdog {
    threshold: Duration,
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watchdog")
            .field("threshold", &self.threshold)
            .finish_non_exhaustive()
    }
}

/// Starts a [`Watchdog`] reporting waits longer than `threshold` (the same as
/// [`Watchdog::start`]).
///
/// # Panics
///
/// When the operating system refuses to start the watchdog's thread.
///
/// # Examples
///
/// ```
/// let dog = threadkit::sync::deadlock::start_watchdog(std::time::Duration::from_secs(5));
/// assert_eq!(dog.threshold(), std::time::Duration::from_secs(5));
/// ```
pub fn start_watchdog(threshold: Duration) -> Watchdog {
    Watchdog::start(threshold)
}

impl Watchdog {
    /// Starts the watchdog; it checks every quarter of `threshold` (at least every
    /// millisecond, at most every 250 ms).
    ///
    /// # Panics
    ///
    /// When the operating system refuses to start the watchdog's thread.
    ///
    /// # Examples
    ///
    /// See [`Watchdog`].
    pub fn start(threshold: Duration) -> Watchdog {
        let stop = Arc::new(Stop::default());
        let theirs = Arc::clone(&stop);
        let period = (threshold / 4).clamp(Duration::from_millis(1), Duration::from_millis(250));
        let thread = std::thread::Builder::new()
            .name("threadkit-deadlock-watchdog".to_owned())
            .spawn(move || {
                let mut reported = HashMap::new();
                let mut stopped = theirs.stopped.lock();
                while !*stopped {
                    let deadline = Instant::now() + period;
                    theirs.cv.wait_until(&mut stopped, deadline);
                    if *stopped {
                        break;
                    }
                    drop(stopped);
                    for report in scan(threshold, &mut reported) {
                        // A report callback that panics must not end the watchdog (its reports
                        // would silently stop): say so once per report and carry on.
                        if let Err(message) =
                            crate::unwind::catch_message(|| super::dispatch(report))
                        {
                            eprintln!(
                                "threadkit: the deadlock report callback panicked in the \
                                 watchdog (it keeps watching): {message}"
                            );
                        }
                    }
                    stopped = theirs.stopped.lock();
                }
            })
            .expect("failed to start the deadlock watchdog thread");
        Watchdog {
            threshold,
            stop,
            thread: Some(thread),
        }
    }

    /// The threshold it was started with.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let dog = threadkit::sync::deadlock::Watchdog::start(Duration::from_millis(100));
    /// assert_eq!(dog.threshold(), Duration::from_millis(100));
    /// ```
    pub fn threshold(&self) -> Duration {
        self.threshold
    }

    /// Stops the watchdog and waits for its thread to finish (dropping it does the same).
    ///
    /// # Examples
    ///
    /// ```
    /// let dog = threadkit::sync::deadlock::Watchdog::start(std::time::Duration::from_secs(1));
    /// dog.stop();
    /// ```
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        *self.stop.stopped.lock() = true;
        self.stop.cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// One look at every thread: the waits older than `threshold` not reported yet.
fn scan(threshold: Duration, reported: &mut HashMap<u64, u64>) -> Vec<Report> {
    let threads = track::threads();
    reported.retain(|token, _| threads.iter().any(|t| t.token == *token));
    let now = Instant::now();
    let mut out = Vec::new();
    for t in &threads {
        let found = {
            let slot = t.waiting.lock();
            match &*slot {
                Some(w)
                    if now.saturating_duration_since(w.since) >= threshold
                        && reported.get(&t.token) != Some(&w.seq) =>
                {
                    Some((w.resource, w.at, w.since, w.seq, w.holder()))
                }
                _ => None,
            }
        };
        let Some((resource, at, since, seq, holder)) = found else {
            continue;
        };
        reported.insert(t.token, seq);
        let holder_info = holder.map(|(token, acquired_at)| Holder {
            thread: name_of(&threads, token),
            acquired_at,
        });
        let cycle = match holder {
            Some((token, _)) => cycle_from(&threads, t, resource, token),
            None => Vec::new(),
        };
        out.push(Report::StuckThread(StuckThread {
            thread: t.name.clone(),
            waiting_for: resource,
            wait_at: at,
            waited: now.saturating_duration_since(since),
            holder: holder_info,
            cycle,
        }));
    }
    out
}

fn name_of(threads: &[Arc<Shared>], token: u64) -> String {
    threads
        .iter()
        .find(|t| t.token == token)
        .map(|t| t.name.clone())
        .or_else(|| track::thread_name(token))
        .unwrap_or_else(|| "<exited thread>".to_owned())
}

/// Follows "waits for a resource held by" from `start` (waiting for `resource`, held by
/// `holder`): the links of the cycle when it comes back to `start`, else empty.
fn cycle_from(
    threads: &[Arc<Shared>],
    start: &Shared,
    resource: super::Resource,
    mut holder: u64,
) -> Vec<WaitLink> {
    let mut links = vec![WaitLink {
        thread: start.name.clone(),
        waiting_for: resource,
    }];
    while links.len() <= threads.len() {
        if holder == start.token {
            return links;
        }
        let Some(t) = threads.iter().find(|t| t.token == holder) else {
            break;
        };
        let next = {
            let slot = t.waiting.lock();
            slot.as_ref()
                .and_then(|w| w.holder().map(|(h, _)| (w.resource, h)))
        };
        let Some((waiting_for, next_holder)) = next else {
            break;
        };
        links.push(WaitLink {
            thread: t.name.clone(),
            waiting_for,
        });
        holder = next_holder;
    }
    Vec::new()
}
