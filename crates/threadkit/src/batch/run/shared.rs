//! What the driver, the workers and the progress ticker share: the task, the stop level and
//! its reason, the progress counters, the halt check, and the table of running items (when
//! items are tracked).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};
use parking_lot::{Condvar, Mutex};

use super::config::{Config, HaltHook};
use super::engine::ThreadEngine;
use super::spacing::Spacing;
use crate::batch::cancel::CancelToken;
use crate::batch::outcome::{Kind, StopReason};
use crate::batch::policy::{Halt, HaltEvent, HaltOn, HaltWhen, Retry};
use crate::progress::{ProgressSink, Snapshot};

/// Stop level: running.
pub(super) const RUN: u8 = 0;
/// Stop level: schedule nothing more; running items finish.
pub(super) const SOON: u8 = 1;
/// Stop level: running items are claimed (reported cancelled) at once.
pub(super) const NOW: u8 = 2;

/// Why the run stopped: not (yet).
pub(super) const REASON_NONE: u8 = 0;
/// Why the run stopped: the halt policy.
pub(super) const REASON_HALT: u8 = 1;
/// Why the run stopped: the cancellation token, a grace period over, a journal error, the
/// stream dropped.
pub(super) const REASON_CANCEL: u8 = 2;
/// Why the run stopped: Ctrl-C.
pub(super) const REASON_INTERRUPT: u8 = 3;

/// A tracked item while it runs.
pub(super) struct Running {
    /// When its current attempt started.
    pub(super) started: Instant,
    /// Its input's `Debug` text, for the report if the supervisor claims it.
    pub(super) debug: String,
    /// The slot of the thread running it ([`crate::batch::slot`]), handed to the
    /// replacement thread if the supervisor claims it.
    pub(super) slot: usize,
}

/// The state of a run that its threads share.
pub(super) struct Shared<K> {
    pub(super) task: K,
    stop: AtomicU8,
    reason: AtomicU8,
    /// Items finished (every outcome, any kind) — what the progress bar shows.
    pub(super) done: AtomicU64,
    /// Items whose function failed (error, panic, timeout).
    failed: AtomicU64,
    /// Time spent running chunks, and their items: the measured cost of an item.
    pub(super) busy_ns: AtomicU64,
    pub(super) busy_items: AtomicU64,
    pub(super) retries: AtomicU64,
    pub(super) retry: Retry,
    /// The halt policy and what it counts beyond failures (only touched when it is set).
    halt: Option<HaltState>,
    /// The number of inputs, when known: what `N%` halts are of.
    total: Option<u64>,
    /// `Batch::delay`: when the next item may start.
    pub(super) spacing: Option<Spacing>,
    /// Items running, when tracked: index -> start and `Debug` text of the input.
    pub(super) running: Option<Mutex<HashMap<u64, Running>>>,
    /// Checked before each item, so that a cancellation is seen at once.
    cancel: Option<CancelToken>,
    /// Threads running an item the driver claimed (timed out or abandoned).
    pub(super) stuck: AtomicUsize,
    /// Claimed items whose thread got no replacement: that thread resumes when it returns.
    pub(super) owed: AtomicUsize,
    pub(super) max_abandoned: usize,
    /// The next worker thread's slot ([`crate::batch::slot`]).
    next_slot: AtomicUsize,
    /// Items whose outcomes the workers sent back: what a driver waiting for everything at
    /// once waits on.
    pub(super) returned: Returned,
}

/// A count of items whose outcomes were sent to the driver, which one thread (the driver) can
/// wait to reach a target: it is woken once, when the count gets there, not for each chunk.
pub(super) struct Returned {
    count: AtomicU64,
    /// The count the waiting driver waits for; `u64::MAX` when nobody waits.
    target: AtomicU64,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Returned {
    fn new() -> Returned {
        Returned {
            count: AtomicU64::new(0),
            target: AtomicU64::new(u64::MAX),
            lock: Mutex::new(()),
            cv: Condvar::new(),
        }
    }

    /// Counts `n` more items sent back (after their outcomes are in the results channel),
    /// waking the driver if that reaches what it waits for.
    pub(super) fn add(&self, n: u64) {
        // SeqCst with `wait_for`'s store of the target and load of the count: either the
        // driver sees this count, or this sees its target (and wakes it, under the lock it
        // holds from its check until it sleeps).
        let now = self.count.fetch_add(n, Ordering::SeqCst) + n;
        if now >= self.target.load(Ordering::SeqCst) {
            let _g = self.lock.lock();
            self.cv.notify_one();
        }
    }

    /// Waits until the count reaches `target`, at most `timeout` (`Duration::MAX`: for good).
    pub(super) fn wait_for(&self, target: u64, timeout: Duration) {
        self.target.store(target, Ordering::SeqCst);
        let deadline = Instant::now().checked_add(timeout);
        let mut g = self.lock.lock();
        while self.count.load(Ordering::SeqCst) < target {
            match deadline {
                Some(deadline) => {
                    if self.cv.wait_until(&mut g, deadline).timed_out() {
                        break;
                    }
                }
                None => self.cv.wait(&mut g),
            }
        }
        drop(g);
        self.target.store(u64::MAX, Ordering::SeqCst);
    }
}

/// A run's halt policy while it runs: the policy, its counts of successes and finished
/// items (failures are counted for progress anyway), the event once it is met, the hook.
struct HaltState {
    halt: Halt,
    succeeded: AtomicU64,
    finished: AtomicU64,
    event: OnceLock<HaltEvent>,
    hook: Option<HaltHook>,
}

impl<K> Shared<K> {
    /// The shared state of a run of `cfg` over `total` inputs (when known).
    pub(super) fn new(task: K, cfg: &Config, total: Option<u64>) -> Shared<K> {
        Shared {
            task,
            stop: AtomicU8::new(RUN),
            reason: AtomicU8::new(REASON_NONE),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            busy_items: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            retry: cfg.retry,
            halt: cfg.policy.halt().map(|halt| HaltState {
                halt,
                succeeded: AtomicU64::new(0),
                finished: AtomicU64::new(0),
                event: OnceLock::new(),
                hook: cfg.on_halt.clone(),
            }),
            total,
            spacing: cfg.delay.map(Spacing::new),
            running: cfg.tracked().then(|| Mutex::new(HashMap::new())),
            cancel: cfg.cancel.clone(),
            stuck: AtomicUsize::new(0),
            owed: AtomicUsize::new(0),
            max_abandoned: cfg.max_abandoned,
            next_slot: AtomicUsize::new(1),
            returned: Returned::new(),
        }
    }

    /// A slot number for a new worker thread (the run's first threads get 1, 2, ...).
    pub(super) fn new_slot(&self) -> usize {
        self.next_slot.fetch_add(1, Ordering::SeqCst)
    }

    /// The stop level: [`RUN`], [`SOON`] or [`NOW`].
    pub(super) fn level(&self) -> u8 {
        self.stop.load(Ordering::Relaxed)
    }

    /// The stop level, read in the same total order as the requests (a tracked item checks it
    /// after registering itself, so that a `NOW` claim sees the item or the item sees `NOW`).
    pub(super) fn level_seq_cst(&self) -> u8 {
        self.stop.load(Ordering::SeqCst)
    }

    /// The stop level, after noticing a cancelled token.
    #[inline]
    pub(super) fn check(&self) -> u8 {
        let level = self.level();
        if level == RUN && self.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
            self.request_stop(SOON, REASON_CANCEL);
            return SOON;
        }
        level
    }

    /// Raises the stop level to `level`; the first reason given is kept.
    pub(super) fn request_stop(&self, level: u8, reason: u8) {
        let _ =
            self.reason
                .compare_exchange(REASON_NONE, reason, Ordering::SeqCst, Ordering::SeqCst);
        self.stop.fetch_max(level, Ordering::SeqCst);
    }

    /// Why the run stopped, if it did.
    pub(super) fn stop_reason(&self) -> Option<StopReason> {
        match self.reason.load(Ordering::SeqCst) {
            REASON_HALT => Some(StopReason::Halted),
            REASON_CANCEL => Some(StopReason::Cancelled),
            REASON_INTERRUPT => Some(StopReason::Interrupted),
            _ => None,
        }
    }

    /// Counts an item's final outcome, of kind `kind`, for progress and the halt policy, and
    /// halts the run when the policy is met: the one place the policy is evaluated. Called
    /// on the thread that made the outcome (a worker, or the driver for a timeout it
    /// claimed), so `now` acts at once. `finished_hint`: outcomes made on this thread and not
    /// yet added to [`done`](Self::done). Costs one branch for a value when no halt is set.
    #[inline]
    pub(super) fn note(&self, kind: Kind, index: u64, finished_hint: u64) {
        let failure = kind.is_failure();
        let failed = if failure {
            self.failed.fetch_add(1, Ordering::SeqCst) + 1
        } else if self.halt.is_none() {
            return;
        } else {
            0
        };
        if let Some(h) = &self.halt {
            self.judge(h, kind, failed, index, finished_hint);
        }
    }

    #[cold]
    #[inline(never)]
    fn judge(&self, h: &HaltState, kind: Kind, failed: u64, index: u64, finished_hint: u64) {
        let ran = failed > 0 || kind == Kind::Ok;
        let count = match h.halt.on {
            HaltOn::Fail if failed > 0 => failed,
            HaltOn::Success if kind == Kind::Ok => h.succeeded.fetch_add(1, Ordering::SeqCst) + 1,
            HaltOn::Done if ran => h.finished.fetch_add(1, Ordering::SeqCst) + 1,
            _ => return,
        };
        let finished = (self.done.load(Ordering::Relaxed) + finished_hint).max(count);
        if !h.halt.met(count, finished, self.total) {
            return;
        }
        let event = HaltEvent {
            when: h.halt.when,
            on: h.halt.on,
            index,
            count,
            total: self.total,
        };
        if h.event.set(event).is_err() {
            return;
        }
        let level = match h.halt.when {
            HaltWhen::Soon => SOON,
            HaltWhen::Now => NOW,
        };
        self.request_stop(level, REASON_HALT);
        if let Some(hook) = &h.hook {
            if let Err(message) = crate::unwind::catch_message(|| hook(&event)) {
                tracing::warn!(%message, "batch: the on_halt hook panicked");
            }
        }
    }

    /// The halt condition met, if it was.
    pub(super) fn halted_by(&self) -> Option<HaltEvent> {
        self.halt.as_ref().and_then(|h| h.event.get().copied())
    }

    fn snapshot(&self, total: Option<u64>) -> Snapshot {
        Snapshot {
            done: self.done.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            total,
        }
    }
}

/// The progress ticker, a loop on a thread of the engine (a reused one, like the workers'),
/// showing the shared counters on the sink.
pub(super) struct Ticker {
    /// Wakes the ticker's loop to return.
    stop: Sender<()>,
    /// Set when the ticker is stopped; each update of the sink is made under this lock after
    /// checking it, so that once [`stop`](Ticker::stop) returns the sink is no longer touched,
    /// without waiting for the ticker's thread to wake up and return (a round trip).
    stopped: Arc<Mutex<bool>>,
}

impl Ticker {
    /// Starts the ticker: `sink` shows `sh`'s counters every `every`.
    pub(super) fn start<K: Send + Sync + 'static>(
        engine: &ThreadEngine,
        sink: Arc<dyn ProgressSink>,
        sh: Arc<Shared<K>>,
        every: Duration,
        total: Option<u64>,
    ) -> Result<Ticker, String> {
        let (stop, stop_rx) = crossbeam_channel::bounded::<()>(1);
        let stopped = Arc::new(Mutex::new(false));
        let theirs = stopped.clone();
        engine.launch(Box::new(move || {
            while let Err(RecvTimeoutError::Timeout) = stop_rx.recv_timeout(every) {
                let stopped = theirs.lock();
                if *stopped {
                    return;
                }
                sink.update(sh.snapshot(total));
            }
        }))?;
        Ok(Ticker { stop, stopped })
    }

    /// Stops the ticker: it no longer touches the sink once this returns (an update under
    /// way is waited for, not the ticker's thread).
    pub(super) fn stop(self) {
        *self.stopped.lock() = true;
        let _ = self.stop.send(());
    }
}
