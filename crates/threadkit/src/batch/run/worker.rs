//! The workers: a loop that takes chunks of inputs off the work channel, runs the function on
//! each item (catching panics, retrying), and sends the chunk's outcomes back with their
//! counts. The driver runs the same [`process_chunk`] when it helps.
//!
//! How a chunk's items run is chosen by the run's shape, once per chunk:
//!
//! - untracked, no retries: `ChunkRun::plain`, the items under one panic guard (re-armed only
//!   after a panic), the common case of cheap items;
//! - untracked with retries: each item through [`run_item`];
//! - with an item log (a journaled run with per-item durability): each item's start recorded
//!   (and committed) by the worker right before the item starts, and its outcome as soon as
//!   it ends, under the key the driver put in the chunk beside it; an item that never starts
//!   has no start on record;
//! - tracked: each item registered in the running table while it runs (see
//!   [`supervisor`](super::supervisor)); an item the supervisor claimed is dropped when it
//!   returns, and its thread leaves if a replacement took its place.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use super::engine::ThreadEngine;
use super::outbuf::OutBuf;
use super::shared::{Running, Shared, REASON_CANCEL, RUN, SOON};
use super::slot::{self, SlotGuard};
use crate::batch::outcome::{self, Cause, Counts, FailedInput, Kind, Outcome};
use crate::batch::task::Task;
use crate::unwind;

/// Records the start of each item of a run right before it starts, and its outcome as soon as
/// it ends: a journaled run with per-item durability, so that after a kill the starts on
/// record are those of the items that were running, at most one per slot (see
/// [`Durability::PerItem`](crate::batch::Durability::PerItem)).
pub(crate) trait ItemLog<T, I, E>: Send + Sync {
    /// Records and commits that the item at `index`, journal key `key`, starts now (with
    /// the outcomes recorded since the last commit). `false`
    /// when it could not be recorded: the item must not start (the driver ends the run with
    /// the error).
    fn start(&self, key: &str, index: u64) -> bool;

    /// Records the outcome of the item at `index` whose start was recorded: a value or a
    /// failure, or, for an item that did not finish, the start forgotten. It is committed
    /// with the next [`start`](Self::start) (of any worker), or by the driver before the
    /// outcome is yielded. `false` when it could not be recorded (the driver ends the run with
    /// the error).
    fn finish(&self, key: &str, index: u64, outcome: &Outcome<T, I, E>) -> bool;
}

/// The [`ItemLog`] of a run of `K` over `I`.
type ItemLogOf<K, I> = dyn ItemLog<<K as Task<I>>::Output, I, <K as Task<I>>::Error>;

/// A run's [`ItemLog`], as the workers hold it.
pub(super) type ItemLogRef<K, I> = Arc<ItemLogOf<K, I>>;

/// Inputs handed to a worker: the items at indices `start..start + items.len()`.
pub(super) struct Chunk<I> {
    pub(super) start: u64,
    pub(super) items: Vec<I>,
    /// With an item log, each item's journal key (`keys[k]` for `items[k]`); else empty.
    pub(super) keys: Vec<String>,
    /// Whether the values go to the run's output buffer.
    pub(super) direct: bool,
}

/// A chunk's outcomes, sent back to the driver.
pub(super) struct Done<T, I, E> {
    pub(super) start: u64,
    pub(super) len: usize,
    /// The outcomes; for a direct chunk only the failures (the values are in the buffer).
    pub(super) outcomes: Vec<Outcome<T, I, E>>,
    pub(super) counts: Counts,
    /// The worker recorded these outcomes in the journal itself (see [`ItemLog`]).
    pub(super) recorded: bool,
}

/// What a worker loop holds: the run's shared state, its ends of the three channels, and the
/// output buffer of a direct run. Each loop gets a clone; the driver keeps one to help with.
pub(super) struct Ends<K: Task<I>, I> {
    pub(super) sh: Arc<Shared<K>>,
    pub(super) work: Receiver<Chunk<I>>,
    pub(super) results: Sender<Done<K::Output, I, K::Error>>,
    /// Emptied chunk vectors go back to the driver, which fills them again.
    pub(super) recycle: Sender<Vec<I>>,
    pub(super) out: Option<Arc<OutBuf<K::Output>>>,
    /// Where each item's start and outcome are recorded (a journaled run with per-item
    /// durability).
    pub(super) log: Option<ItemLogRef<K, I>>,
}

impl<K: Task<I>, I> Clone for Ends<K, I> {
    fn clone(&self) -> Self {
        Ends {
            sh: self.sh.clone(),
            work: self.work.clone(),
            results: self.results.clone(),
            recycle: self.recycle.clone(),
            out: self.out.clone(),
            log: self.log.clone(),
        }
    }
}

impl<K, I> Ends<K, I>
where
    K: Task<I>,
    I: fmt::Debug + Send + 'static,
{
    /// Starts `workers` worker loops on `engine`: the first here (so that an engine that
    /// cannot start fails the run), and each started loop starts up to two more, so that
    /// starting 200 threads takes a few rounds of parallel starts, not 200 in a row.
    pub(super) fn launch_crew(
        &self,
        engine: &Arc<ThreadEngine>,
        workers: usize,
    ) -> Result<(), String> {
        if workers == 0 {
            return Ok(());
        }
        let launcher = Arc::new(Launcher {
            engine: engine.clone(),
            pending: AtomicUsize::new(workers - 1),
            ends: self.clone(),
        });
        engine.launch(Box::new(Launcher::job(launcher)))
    }

    /// Starts one more worker loop on `engine`, holding `slot` (a replacement for a thread
    /// stuck in a claimed item, taking over that item's slot).
    pub(super) fn launch_one(&self, engine: &ThreadEngine, slot: usize) -> Result<(), String> {
        let ends = self.clone();
        engine.launch(Box::new(move || worker_loop(ends, slot)))
    }
}

/// Starts worker loops from inside the pool, two per started worker.
struct Launcher<K: Task<I>, I> {
    engine: Arc<ThreadEngine>,
    pending: AtomicUsize,
    ends: Ends<K, I>,
}

impl<K, I> Launcher<K, I>
where
    K: Task<I>,
    I: fmt::Debug + Send + 'static,
{
    fn job(this: Arc<Self>) -> impl FnOnce() + Send + 'static {
        move || {
            for _ in 0..2 {
                let took = this
                    .pending
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if took {
                    // A failed start leaves the run with fewer workers, not stuck: the
                    // driver runs chunks itself while it waits.
                    let _ = this.engine.launch(Box::new(Launcher::job(this.clone())));
                }
            }
            let slot = this.ends.sh.new_slot();
            worker_loop(this.ends.clone(), slot);
        }
    }
}

/// A worker holding `slot`: runs chunks until the work channel closes, or its thread must
/// leave.
fn worker_loop<K, I>(ends: Ends<K, I>, slot: usize)
where
    K: Task<I>,
    I: fmt::Debug,
{
    let _slot = SlotGuard::enter(slot);
    while let Ok(chunk) = ends.work.recv() {
        if !process_chunk(&ends, chunk) {
            break;
        }
    }
}

/// One chunk being run: the run's state, the chunk's first index, and where its outcomes go,
/// counted: every outcome in `out`, or, in a direct chunk, values in the run's buffer and
/// failures in `out`.
struct ChunkRun<'a, K: Task<I>, I> {
    sh: &'a Shared<K>,
    start: u64,
    direct: Option<&'a OutBuf<K::Output>>,
    out: Vec<Outcome<K::Output, I, K::Error>>,
    len: usize,
    counts: Counts,
    /// Where the items' starts and outcomes are recorded, with their keys (see [`ItemLog`]):
    /// when the chunk has keys.
    log: Option<(&'a ItemLogOf<K, I>, Vec<String>)>,
}

impl<K: Task<I>, I> ChunkRun<'_, K, I> {
    /// Records the start of the `k`th item of the chunk (input `index`) when the chunk's items
    /// are logged; `false` when it cannot be recorded (the item must not start: the run
    /// stops).
    #[inline]
    fn record_start(&self, k: usize, index: u64) -> bool {
        let Some((log, keys)) = &self.log else {
            return true;
        };
        if log.start(&keys[k], index) {
            return true;
        }
        self.sh.request_stop(SOON, REASON_CANCEL);
        false
    }

    /// Puts the outcome of the `k`th item, whose start was recorded, where it goes, after
    /// recording it when the chunk's items are logged.
    #[inline]
    fn push_started(&mut self, k: usize, index: u64, o: Outcome<K::Output, I, K::Error>) {
        if let Some((log, keys)) = &self.log {
            if !log.finish(&keys[k], index, &o) {
                self.sh.request_stop(SOON, REASON_CANCEL);
            }
        }
        self.push(index, o);
    }

    /// Counts the outcome of the item at `index` (for the halt policy too: see
    /// [`Shared::note`]) and puts it where it goes.
    #[inline]
    fn push(&mut self, index: u64, o: Outcome<K::Output, I, K::Error>) {
        self.len += 1;
        let kind = Kind::of(&o);
        self.counts.add(kind);
        self.sh.note(kind, index, self.len as u64);
        match (self.direct, o) {
            // SAFETY: the driver gave this chunk's indices to this worker alone, and checked
            // them against the buffer's capacity (the buffer's invariant). A panic of the
            // item function happened before its value existed: nothing unwinds here.
            (Some(buf), Ok(v)) => unsafe { buf.write(index as usize, v) },
            (_, o) => self.out.push(o),
        }
    }

    /// Reports the item at `index` as never started.
    fn not_started(&mut self, index: u64, input: I) {
        self.push(index, outcome::not_started(index, input));
    }

    /// Reports what became of the `k`th item, which ran.
    fn ran(
        &mut self,
        k: usize,
        index: u64,
        input: I,
        (res, attempts): (Result<K::Output, Cause<K::Error>>, u32),
    ) {
        let o = match res {
            Ok(v) => Ok(v),
            Err(cause) => outcome::failed(index, FailedInput::Value(input), attempts, cause),
        };
        self.push_started(k, index, o);
    }

    /// Runs untracked items: without retries or start spacing through
    /// [`plain`](Self::plain), else one by one.
    fn untracked(&mut self, items: &mut Vec<I>) {
        // The items left for the general loop start at `base`.
        let mut base = self.start;
        if self.sh.retry.max_attempts() == 1 && self.sh.spacing.is_none() && self.log.is_none() {
            base += self.plain(items) as u64;
        }
        let skip = (base - self.start) as usize;
        for (k, input) in items.drain(..).enumerate() {
            let index = base + k as u64;
            if !may_start(self.sh) || !self.record_start(skip + k, index) {
                self.not_started(index, input);
                continue;
            }
            let ran = run_item(self.sh, &input, index);
            self.ran(skip + k, index, input, ran);
        }
    }

    /// Runs tracked items, each registered in `running` while it runs; `false` when this
    /// thread must leave (the supervisor claimed its item and started a replacement).
    fn tracked(&mut self, running: &Mutex<HashMap<u64, Running>>, items: &mut Vec<I>) -> bool
    where
        I: fmt::Debug,
    {
        let sh = self.sh;
        for (k, input) in items.drain(..).enumerate() {
            let index = self.start + k as u64;
            // Its turn is waited for before it is registered: a stop meanwhile (even `NOW`)
            // finds it not started, not running.
            // Its start is on record before it is registered: a stop from here on finds it
            // running (claimed) or not started, and the driver forgets the start either way.
            if !may_start(sh) || !self.record_start(k, index) {
                self.not_started(index, input);
                continue;
            }
            running.lock().insert(
                index,
                Running {
                    started: Instant::now(),
                    debug: format!("{input:?}"),
                    slot: slot::current(),
                },
            );
            if sh.level_seq_cst() != RUN {
                if running.lock().remove(&index).is_some() {
                    self.push_started(k, index, outcome::not_started(index, input));
                }
                continue;
            }
            let ran = run_item(sh, &input, index);
            if running.lock().remove(&index).is_none() {
                // The supervisor claimed this item (timeout, halt now, grace over) and
                // reported it: drop the late result. If it started a replacement for this
                // thread, this one leaves; otherwise it takes its place back.
                sh.stuck.fetch_sub(1, Ordering::SeqCst);
                let owed = sh
                    .owed
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                return owed;
            }
            self.ran(k, index, input, ran);
        }
        true
    }

    /// The common case: items not tracked, no retries. The items are run in place under one
    /// panic guard (set up again only after a panic), not one per item, and the inputs of
    /// failed items are moved into their failures afterwards. Returns how many items it took
    /// off the front of `items`: all of them, unless the run stopped (the caller reports the
    /// rest).
    fn plain(&mut self, items: &mut Vec<I>) -> usize {
        let n = items.len();
        let mut k = 0;
        // (item, position in `out`) of each failure, whose input is filled in at the end.
        let mut fix: Vec<(usize, usize)> = Vec::new();
        let mut stopped = false;
        while k < n && !stopped {
            let guarded = unwind::catch(|| {
                while k < n {
                    if self.sh.check() != RUN {
                        stopped = true;
                        return;
                    }
                    let index = self.start + k as u64;
                    match self.sh.task.attempt(&items[k]) {
                        Ok(v) => self.push(index, Ok(v)),
                        Err(cause) => self.plain_failure(&mut fix, (k, index), cause),
                    }
                    k += 1;
                }
            });
            if let Err(payload) = guarded {
                let cause = panic_cause(&*payload);
                self.plain_failure(&mut fix, (k, self.start + k as u64), cause);
                k += 1;
            }
        }
        if fix.is_empty() {
            items.drain(..k);
            return k;
        }
        let mut fix = fix.into_iter().peekable();
        for (j, input) in items.drain(..k).enumerate() {
            if let Some((_, pos)) = fix.next_if(|(item, _)| *item == j) {
                if let Err(f) = &mut self.out[pos] {
                    f.input = FailedInput::Value(input);
                }
            }
        }
        k
    }

    /// Records the failure of item `k` (input `index`) for [`plain`](Self::plain), its
    /// input to be moved in later (listed in `fix`).
    fn plain_failure(
        &mut self,
        fix: &mut Vec<(usize, usize)>,
        (k, index): (usize, u64),
        cause: Cause<K::Error>,
    ) {
        let attempts = u32::from(!matches!(cause, Cause::NotStarted));
        let o = outcome::failed(index, FailedInput::Debug(String::new()), attempts, cause);
        fix.push((k, self.out.len()));
        self.push(index, o);
    }
}

/// Runs one chunk and sends its outcomes; `false` when this thread must stop (its item was
/// abandoned, or the run is gone).
pub(super) fn process_chunk<K, I>(ends: &Ends<K, I>, mut chunk: Chunk<I>) -> bool
where
    K: Task<I>,
    I: fmt::Debug,
{
    let sh = &*ends.sh;
    let t0 = Instant::now();
    let n = chunk.items.len();
    let mut run = ChunkRun {
        sh,
        start: chunk.start,
        direct: ends.out.as_deref().filter(|_| chunk.direct),
        out: if chunk.direct {
            Vec::new()
        } else {
            Vec::with_capacity(n)
        },
        len: 0,
        counts: Counts::default(),
        log: match &ends.log {
            Some(log) if !chunk.keys.is_empty() => Some((&**log, std::mem::take(&mut chunk.keys))),
            _ => None,
        },
    };
    let recorded = run.log.is_some();
    let stays = match &sh.running {
        None => {
            run.untracked(&mut chunk.items);
            true
        }
        Some(running) => run.tracked(running, &mut chunk.items),
    };
    let took = t0.elapsed().as_nanos() as u64;
    sh.busy_ns.fetch_add(took, Ordering::Relaxed);
    sh.busy_items.fetch_add(n as u64, Ordering::Relaxed);
    let _ = ends.recycle.send(std::mem::take(&mut chunk.items));
    if run.len > 0 {
        sh.done.fetch_add(run.len as u64, Ordering::Relaxed);
        let done = Done {
            start: chunk.start,
            len: run.len,
            outcomes: run.out,
            counts: run.counts,
            recorded,
        };
        let sent = ends.results.send(done);
        // After the send: the driver finds these outcomes in the channel once it sees them
        // counted.
        sh.returned.add(run.len as u64);
        if sent.is_err() {
            return false;
        }
    }
    stays
}

/// Whether an item may start: the run goes on, and (when starts are spaced) it still did when
/// the item's turn came.
fn may_start<K>(sh: &Shared<K>) -> bool {
    sh.check() == RUN
        && sh
            .spacing
            .as_ref()
            .is_none_or(|s| s.wait_turn(|| sh.check() != RUN))
}

/// Runs one item (which [`may_start`]) with retries, each retry in its turn when starts are
/// spaced; panics are caught. Returns the result and the attempts made.
fn run_item<K, I>(
    sh: &Shared<K>,
    input: &I,
    index: u64,
) -> (Result<K::Output, Cause<K::Error>>, u32)
where
    K: Task<I>,
{
    let max = sh.retry.max_attempts();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let cause = match unwind::catch(|| sh.task.attempt(input)) {
            Ok(Ok(v)) => return (Ok(v), attempt),
            Ok(Err(Cause::NotStarted)) => return (Err(Cause::NotStarted), attempt - 1),
            Ok(Err(cause)) => cause,
            Err(payload) => panic_cause(&*payload),
        };
        if attempt >= max || sh.level() != RUN || !cause.is_failure() {
            return (Err(cause), attempt);
        }
        sh.retries.fetch_add(1, Ordering::Relaxed);
        let delay = sh.retry.delay(attempt);
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        // Claimed while backing off (the supervisor reported it), or the run stopped while
        // the retry waited for its turn: the last failure stands.
        if !restart_clock(sh, index) || !turn(sh, index) {
            return (Err(cause), attempt);
        }
    }
}

/// With start spacing, waits for a retry's turn: `false` when the run stopped meanwhile, or
/// the supervisor claimed the item (the attempt must not start).
fn turn<K>(sh: &Shared<K>, index: u64) -> bool {
    match &sh.spacing {
        None => true,
        Some(spacing) => spacing.wait_turn(|| sh.check() != RUN) && restart_clock(sh, index),
    }
}

/// A tracked item's timeout counts from the start of its attempt, not from a wait before it
/// (a backoff, its turn): restarts its clock. `false` when the supervisor claimed it
/// meanwhile (and reported it).
fn restart_clock<K>(sh: &Shared<K>, index: u64) -> bool {
    match &sh.running {
        None => true,
        Some(running) => running
            .lock()
            .get_mut(&index)
            .map(|r| r.started = Instant::now())
            .is_some(),
    }
}

/// The cause of an item whose function panicked (just caught, on this thread).
fn panic_cause<E>(payload: &(dyn std::any::Any + Send)) -> Cause<E> {
    let origin = unwind::take_origin();
    Cause::Panic {
        message: unwind::payload_message(payload),
        location: origin.location,
        backtrace: origin.backtrace,
    }
}
