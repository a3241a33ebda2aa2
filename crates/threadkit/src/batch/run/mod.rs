//! The engine behind [`Batch`](crate::batch::Batch): a driver on the caller's thread that pulls
//! inputs into chunks, workers that run chunks, and the bookkeeping that gives every input
//! exactly one outcome.
//!
//! Shape of a run:
//!
//! - The driver (the thread iterating a [`Stream`], or calling `run`) pulls inputs from the
//!   caller's iterator into chunks and sends them on a work channel, keeping at most `window`
//!   items in flight: memory stays bounded however long the iterator is.
//! - `workers` long-lived loops, launched on an [`Engine`] (the executor's thread pool today;
//!   a process pool can implement the same trait), take chunks, run the function on each item
//!   (catching panics, retrying), and send the chunk's outcomes back. Counters for progress are
//!   bumped once per chunk.
//! - Chunk sizes adapt to the measured cost of an item (about 100 µs of work per chunk,
//!   shrinking near the end of a known-length input) so that a trivial function costs a few
//!   nanoseconds of overhead per item and a slow one is still spread over every worker.
//! - With a timeout, `--halt now`, a grace period or Ctrl-C, items are *tracked*: sent one at a
//!   time and registered while running, so that the driver can claim an overdue or abandoned
//!   item (report it, drop its late result) without waiting for its thread.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::cancel::{CancelToken, CtrlC};
use super::outcome::{Cause, FailedInput, Failure, Outcome, StopReason, Summary};
use super::policy::{HaltWhen, Retry, Threshold};
use super::{Config, RunError, Task};
use crate::executor::ThreadPool;
use crate::progress::{ProgressSink, Snapshot};
use crate::unwind;
use parking_lot::Mutex;

/// Where worker loops run. The thread pool is the engine today; the process pool (hard kill of
/// timed-out tasks) is meant to be another implementation.
pub(crate) trait Engine: Send + Sync {
    /// Starts `job` on a worker of its own (it runs until its work channel closes).
    fn launch(&self, job: Box<dyn FnOnce() + Send + 'static>) -> Result<(), String>;
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The most threads the process-wide batch pool keeps: worker loops past this many at once
/// (several large runs at the same time) go to a pool of their run's own.
const SHARED_MAX_THREADS: usize = 1024;
/// How long a thread of the process-wide batch pool waits for another run before it exits.
const SHARED_IDLE: Duration = Duration::from_secs(5);

/// The process-wide pool that worker loops run on, so that a run reuses the threads earlier
/// runs left idle instead of starting its own (200 thread starts cost 20-70 ms on a small
/// machine; waking 200 idle threads costs well under 1 ms). Its threads (named `batch_N`)
/// exit after [`SHARED_IDLE`] without work.
///
/// Each worker loop holds its thread for the whole run, so a loop queued behind busy threads
/// would wait for another run to end. `busy` counts the loops running or queued on the pool
/// (a loop counts until it returns, an abandoned one included): a launch takes a place only
/// while fewer than `max_workers` are taken, which guarantees it a thread at once (an idle
/// one or a new one).
///
/// A child made by `fork` inherits the pool's bookkeeping but none of its threads, so the pool
/// belongs to the process that made it (`pid`): elsewhere each run has its own pool.
struct SharedPool {
    pool: ThreadPool,
    busy: AtomicUsize,
    pid: u32,
}

/// Gives back a place in the [`SharedPool`] when a worker loop returns (or unwinds).
struct Place(&'static AtomicUsize);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl SharedPool {
    /// The pool, made on first use; `None` when it cannot be made or in a forked child (each
    /// run then has its own).
    fn get() -> Option<&'static SharedPool> {
        static POOL: OnceLock<Option<SharedPool>> = OnceLock::new();
        POOL.get_or_init(|| {
            let pool = ThreadPool::builder()
                .max_workers(SHARED_MAX_THREADS)
                .thread_name_prefix("batch")
                .idle_timeout(SHARED_IDLE)
                .build();
            match pool {
                Ok(pool) => Some(SharedPool {
                    pool,
                    busy: AtomicUsize::new(0),
                    pid: std::process::id(),
                }),
                Err(e) => {
                    tracing::warn!(error = %e, "batch: no shared pool, each run starts its own");
                    None
                }
            }
        })
        .as_ref()
        .filter(|shared| shared.pid == std::process::id())
    }

    /// Runs `job` on a thread of the pool, or hands it back when every place is taken or the
    /// pool refused it.
    fn try_launch(&'static self, job: Job) -> Result<(), Job> {
        let took = self
            .busy
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < SHARED_MAX_THREADS).then_some(n + 1)
            })
            .is_ok();
        if !took {
            return Err(job);
        }
        // Kept here too, so that a refused submission hands the job back.
        let slot = Arc::new(Mutex::new(Some(job)));
        let theirs = slot.clone();
        let busy = &self.busy;
        let submitted = self.pool.submit(move || {
            let _place = Place(busy);
            let job = theirs.lock().take();
            if let Some(job) = job {
                job();
            }
        });
        match submitted {
            Ok(_) => Ok(()),
            Err(e) => {
                // The closure was dropped unrun: its place was never taken over.
                busy.fetch_sub(1, Ordering::SeqCst);
                tracing::warn!(error = %e, "batch: the shared pool refused a worker");
                // Always there: the closure that takes it never ran.
                let job = slot.lock().take();
                job.map_or(Ok(()), Err)
            }
        }
    }
}

/// Runs a run's worker loops: on the [`SharedPool`] while it has room, else on a pool of the
/// run's own (made on first need, sized for the whole run), so that a run never gets fewer
/// threads than it asked for.
pub(crate) struct ThreadEngine {
    /// The size of the run's own pool, if it needs one.
    threads: usize,
    state: Mutex<EngineState>,
}

struct EngineState {
    own: Option<ThreadPool>,
    closed: bool,
}

impl ThreadEngine {
    pub(crate) fn new(threads: usize) -> ThreadEngine {
        ThreadEngine {
            threads: threads.max(1),
            state: Mutex::new(EngineState {
                own: None,
                closed: false,
            }),
        }
    }

    /// Refuses launches from now on, and lets go of the run's own pool, if it has one. The
    /// shared pool's threads need nothing: each goes back to the pool when its loop sees the
    /// work channel closed (a thread stuck in an abandoned call, when that call returns).
    fn close(&self) {
        let own = {
            let mut st = self.state.lock();
            st.closed = true;
            st.own.take()
        };
        reap(own);
    }

    fn own_pool(&self) -> Result<crate::executor::PoolHandle, String> {
        let mut st = self.state.lock();
        if st.closed {
            return Err("the run is over".into());
        }
        if st.own.is_none() {
            let pool = ThreadPool::builder()
                .max_workers(self.threads)
                .thread_name_prefix("batch-run")
                .build()
                .map_err(|e| e.to_string())?;
            st.own = Some(pool);
        }
        Ok(st.own.as_ref().map(ThreadPool::handle).expect("just made"))
    }
}

impl Engine for ThreadEngine {
    fn launch(&self, job: Job) -> Result<(), String> {
        if self.state.lock().closed {
            return Err("the run is over".into());
        }
        let job = match SharedPool::get() {
            Some(shared) => match shared.try_launch(job) {
                Ok(()) => return Ok(()),
                Err(job) => job,
            },
            None => job,
        };
        self.own_pool()?
            .submit(job)
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

impl Drop for ThreadEngine {
    fn drop(&mut self) {
        reap(self.state.get_mut().own.take());
    }
}

/// Hands a run's own pool to a thread that drops it (joins its threads): waiting for its idle
/// threads to exit, or for a call that never returns, is no part of the run.
fn reap(own: Option<ThreadPool>) {
    if let Some(pool) = own {
        let spawned = std::thread::Builder::new()
            .name("batch-reaper".into())
            .spawn(move || drop(pool));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "batch: could not start the reaper thread");
        }
    }
}

const RUN: u8 = 0;
const SOON: u8 = 1;
const NOW: u8 = 2;

const REASON_NONE: u8 = 0;
const REASON_HALT: u8 = 1;
const REASON_CANCEL: u8 = 2;
const REASON_INTERRUPT: u8 = 3;

/// Work per chunk the adaptive sizing aims at.
const TARGET_CHUNK_NS: u64 = 100_000;
const MAX_CHUNK: usize = 16_384;
const FIRST_CHUNK: usize = 4;

struct Running {
    started: Instant,
    debug: String,
}

pub(crate) struct Shared<K> {
    task: K,
    stop: AtomicU8,
    reason: AtomicU8,
    /// Items finished (every outcome, any kind) — what the progress bar shows.
    done: AtomicU64,
    /// Items whose function failed (error, panic, timeout).
    failed: AtomicU64,
    busy_ns: AtomicU64,
    busy_items: AtomicU64,
    retries: AtomicU64,
    live: AtomicUsize,
    retry: Retry,
    halt: Option<super::policy::Halt>,
    /// Items running, when tracked: index -> start and `Debug` text of the input.
    running: Option<Mutex<HashMap<u64, Running>>>,
    /// Checked before each item, so that a cancellation is seen at once.
    cancel: Option<CancelToken>,
    /// Threads running an item the driver claimed (timed out or abandoned).
    stuck: AtomicUsize,
    /// Claimed items whose thread got no replacement: that thread resumes when it returns.
    owed: AtomicUsize,
    max_abandoned: usize,
}

impl<K> Shared<K> {
    fn level(&self) -> u8 {
        self.stop.load(Ordering::Relaxed)
    }

    /// The stop level, after noticing a cancelled token.
    #[inline]
    fn check(&self) -> u8 {
        let level = self.level();
        if level == RUN && self.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
            self.request_stop(SOON, REASON_CANCEL);
            return SOON;
        }
        level
    }

    fn request_stop(&self, level: u8, reason: u8) {
        let _ =
            self.reason
                .compare_exchange(REASON_NONE, reason, Ordering::SeqCst, Ordering::SeqCst);
        self.stop.fetch_max(level, Ordering::SeqCst);
    }

    /// Counts a finished item's failure for progress and the halt policy; an item the run did
    /// not finish (cancelled, not started) is no failure.
    fn note_failure<E>(&self, cause: &Cause<E>, finished_hint: u64) {
        if !cause.is_failure() {
            return;
        }
        let failed = self.failed.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(h) = self.halt {
            let finished = self.done.load(Ordering::Relaxed) + finished_hint;
            let reached = match h.threshold {
                Threshold::Count(_) => h.threshold.reached(failed, finished),
                Threshold::Percent(_) => h.threshold.reached(failed, finished.max(failed)),
            };
            if reached {
                let level = match h.when {
                    HaltWhen::Soon => SOON,
                    HaltWhen::Now => NOW,
                };
                self.request_stop(level, REASON_HALT);
            }
        }
    }
}

impl<K> Shared<K> {
    /// Runs one item with retries; panics are caught.
    fn run_item<I, T, E>(&self, input: &I, index: u64) -> (Result<T, Cause<E>>, u32)
    where
        K: Task<I, Output = T, Error = E>,
    {
        let max = self.retry.max_attempts();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let cause = match unwind::catch(|| self.task.attempt(input)) {
                Ok(Ok(v)) => return (Ok(v), attempt),
                Ok(Err(Cause::NotStarted)) => return (Err(Cause::NotStarted), attempt - 1),
                Ok(Err(cause)) => cause,
                Err(payload) => panic_cause(&*payload),
            };
            if attempt >= max || self.level() != RUN || !cause.is_failure() {
                return (Err(cause), attempt);
            }
            self.retries.fetch_add(1, Ordering::Relaxed);
            let delay = self.retry.delay(attempt);
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
            if let Some(running) = &self.running {
                if let Some(r) = running.lock().get_mut(&index) {
                    r.started = Instant::now();
                } else {
                    // Claimed while backing off: the driver reported it.
                    return (Err(cause), attempt);
                }
            }
        }
    }
}

/// Starts worker loops from inside the pool, two per started worker.
struct Launcher<K: Task<I>, I> {
    engine: Arc<ThreadEngine>,
    pending: AtomicUsize,
    sh: Arc<Shared<K>>,
    work_rx: Receiver<Chunk<I>>,
    res_tx: Sender<Done<K::Output, I, K::Error>>,
    recycle_tx: Sender<Vec<I>>,
    direct: Option<Arc<OutBuf<K::Output>>>,
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
            worker_loop(
                this.sh.clone(),
                this.work_rx.clone(),
                this.res_tx.clone(),
                this.recycle_tx.clone(),
                this.direct.clone(),
            );
        }
    }
}

pub(crate) struct Chunk<I> {
    start: u64,
    items: Vec<I>,
    /// Whether the outcomes go to the run's output buffer.
    direct: bool,
}

fn failure<T, I, E>(
    index: u64,
    input: FailedInput<I>,
    attempts: u32,
    cause: Cause<E>,
) -> Outcome<T, I, E> {
    Err(Box::new(Failure {
        index,
        input,
        attempts,
        cause,
    }))
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

/// Outcome counts by kind, in [`Cause`] order after `Ok`: ok, error, panic, timeout,
/// cancelled, not started, journaled, crashed.
type Counts = [u64; 8];

fn kind<T, I, E>(o: &Outcome<T, I, E>) -> usize {
    match o {
        Ok(_) => 0,
        Err(f) => match f.cause {
            Cause::Error(_) => 1,
            Cause::Panic { .. } => 2,
            Cause::Timeout { .. } => 3,
            Cause::Cancelled => 4,
            Cause::NotStarted => 5,
            Cause::Journaled { .. } => 6,
            Cause::Crashed { .. } => 7,
        },
    }
}

pub(crate) struct Done<T, I, E> {
    start: u64,
    len: usize,
    /// The outcomes; in direct mode only the failures (the values are in the run's buffer).
    outcomes: Vec<Outcome<T, I, E>>,
    direct: bool,
    counts: Counts,
}

/// The output of a `run` over an input of known length: workers write each outcome straight
/// into its slot, so the outcomes are neither copied nor reordered.
pub(crate) struct OutBuf<O> {
    ptr: *mut O,
    cap: usize,
    taken: std::sync::atomic::AtomicBool,
}

// SAFETY: the buffer is only a place to move `O` values into from several threads, each slot
// written by exactly one thread (the driver hands each index to one worker, or keeps it);
// values cross threads, so `O: Send` is required and enough.
unsafe impl<O: Send> Sync for OutBuf<O> {}
// SAFETY: as above; the buffer owns its allocation.
unsafe impl<O: Send> Send for OutBuf<O> {}

impl<O> OutBuf<O> {
    fn new(cap: usize) -> OutBuf<O> {
        let mut v = std::mem::ManuallyDrop::new(Vec::<O>::with_capacity(cap));
        hint_huge_pages(
            v.as_mut_ptr().cast(),
            v.capacity() * std::mem::size_of::<O>(),
        );
        OutBuf {
            ptr: v.as_mut_ptr(),
            cap: v.capacity(),
            taken: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Moves `value` into slot `i`.
    ///
    /// # Safety
    ///
    /// `i < cap`, slot `i` is written once, and no other thread accesses slot `i` meanwhile.
    unsafe fn write(&self, i: usize, value: O) {
        debug_assert!(i < self.cap);
        // SAFETY: in bounds and exclusively ours, per the caller's contract.
        unsafe { self.ptr.add(i).write(value) }
    }

    /// The first `len` slots as a `Vec`, without the slots listed in `holes` (sorted, each
    /// below `len`: the failed indices, never written): the values after a hole move down
    /// over it. The buffer gives up its allocation.
    ///
    /// # Safety
    ///
    /// Slots `0..len` except `holes` were all written, every write happened-before this
    /// call, and no slot is written afterwards.
    unsafe fn take_compact(&self, len: usize, holes: impl Iterator<Item = usize>) -> Vec<O> {
        assert!(len <= self.cap && !self.taken.swap(true, Ordering::SeqCst));
        // Move each run of written slots down to `kept`, skipping the holes.
        let mut kept = 0;
        let mut from = 0;
        for hole in holes.chain(std::iter::once(len)) {
            assert!(
                hole >= from && hole <= len,
                "holes sorted, unique, below len"
            );
            let run = hole - from;
            if kept != from && run > 0 {
                // SAFETY: both ranges are inside the allocation (`hole <= len <= cap`); the
                // source slots are initialized (not holes) and are moved, never read again;
                // `copy` allows the overlap (`kept < from`).
                unsafe { std::ptr::copy(self.ptr.add(from), self.ptr.add(kept), run) };
            }
            kept += run;
            from = hole + 1;
        }
        // SAFETY: `ptr`/`cap` come from a `Vec<O>` never freed; slots `0..kept` now hold the
        // initialized values, each once; `taken` makes this happen once.
        unsafe { Vec::from_raw_parts(self.ptr, kept, self.cap) }
    }
}

/// Asks Linux to back a large output buffer with transparent huge pages: the workers fill it
/// once, front to back, so 2 MiB pages cut the page faults of a 10M-item run from ~20,000 to
/// ~40. Only the whole 2 MiB pages inside the buffer are advised; a no-op elsewhere, on small
/// buffers, and when the kernel says no.
fn hint_huge_pages(ptr: *mut u8, len: usize) {
    const HUGE: usize = 2 << 20;
    if !cfg!(target_os = "linux") || len < 4 * HUGE {
        return;
    }
    let start = (ptr as usize).next_multiple_of(HUGE);
    let end = (ptr as usize + len) & !(HUGE - 1);
    if end > start {
        #[cfg(target_os = "linux")]
        // SAFETY: advice only (no memory is unmapped or changed): `start..end` lies inside
        // the allocation the caller owns, and is page aligned.
        let _ = unsafe {
            rustix::mm::madvise(
                start as *mut std::ffi::c_void,
                end - start,
                rustix::mm::Advice::LinuxHugepage,
            )
        };
    }
}

impl<O> Drop for OutBuf<O> {
    fn drop(&mut self) {
        if !*self.taken.get_mut() {
            // A run dropped before it finished: we cannot tell which slots hold values, so
            // they are leaked; the allocation is freed.
            // SAFETY: the allocation came from a `Vec<O>` of capacity `cap`; length 0 drops
            // no element.
            drop(unsafe { Vec::from_raw_parts(self.ptr, 0, self.cap) });
        }
    }
}

/// Where a worker puts the outcomes of a chunk: every outcome in `out`, or, in direct mode,
/// values in the run's buffer and failures in `out`.
struct Emit<'a, T, I, E> {
    direct: Option<&'a OutBuf<T>>,
    out: Vec<Outcome<T, I, E>>,
    len: usize,
}

impl<T, I, E> Emit<'_, T, I, E> {
    #[inline]
    fn push(&mut self, index: u64, o: Outcome<T, I, E>) {
        self.len += 1;
        match (self.direct, o) {
            // SAFETY: the driver gave this chunk's indices to this worker alone, and checked
            // them against the buffer's capacity.
            (Some(buf), Ok(v)) => unsafe { buf.write(index as usize, v) },
            (_, o) => self.out.push(o),
        }
    }
}

fn worker_loop<K, I>(
    sh: Arc<Shared<K>>,
    work: Receiver<Chunk<I>>,
    results: Sender<Done<K::Output, I, K::Error>>,
    recycle: Sender<Vec<I>>,
    direct: Option<Arc<OutBuf<K::Output>>>,
) where
    K: Task<I>,
    I: fmt::Debug,
{
    sh.live.fetch_add(1, Ordering::SeqCst);
    while let Ok(chunk) = work.recv() {
        if !process_chunk(&sh, chunk, direct.as_deref(), &results, &recycle) {
            break;
        }
    }
    sh.live.fetch_sub(1, Ordering::SeqCst);
}

/// Runs one chunk and sends its outcomes; `false` when this thread must stop (its item was
/// abandoned, or the run is gone).
fn process_chunk<K, I>(
    sh: &Shared<K>,
    mut chunk: Chunk<I>,
    direct: Option<&OutBuf<K::Output>>,
    results: &Sender<Done<K::Output, I, K::Error>>,
    recycle: &Sender<Vec<I>>,
) -> bool
where
    K: Task<I>,
    I: fmt::Debug,
{
    let mut abandoned = false;
    {
        let t0 = Instant::now();
        let n = chunk.items.len();
        let mut counts: Counts = [0; 8];
        let mut emit = Emit {
            direct: direct.filter(|_| chunk.direct),
            out: if chunk.direct {
                Vec::new()
            } else {
                Vec::with_capacity(n)
            },
            len: 0,
        };
        // The items left for the general loop start at `base`.
        let mut base = chunk.start;
        if sh.running.is_none() && sh.retry.max_attempts() == 1 {
            base += run_plain(sh, chunk.start, &mut chunk.items, &mut emit, &mut counts) as u64;
        }
        for (k, input) in chunk.items.drain(..).enumerate() {
            let index = base + k as u64;
            if sh.check() != RUN {
                let o = failure(index, FailedInput::Value(input), 0, Cause::NotStarted);
                counts[kind(&o)] += 1;
                emit.push(index, o);
                continue;
            }
            let (res, attempts) = if let Some(running) = &sh.running {
                running.lock().insert(
                    index,
                    Running {
                        started: Instant::now(),
                        debug: format!("{input:?}"),
                    },
                );
                if sh.stop.load(Ordering::SeqCst) != RUN {
                    if running.lock().remove(&index).is_some() {
                        let o = failure(index, FailedInput::Value(input), 0, Cause::NotStarted);
                        counts[kind(&o)] += 1;
                        emit.push(index, o);
                    }
                    continue;
                }
                let r = sh.run_item(&input, index);
                if running.lock().remove(&index).is_none() {
                    // The driver claimed this item (timeout, halt now, grace over) and reported
                    // it: drop the late result. If the driver started a replacement for this
                    // thread, this one leaves; otherwise it takes its place back.
                    sh.stuck.fetch_sub(1, Ordering::SeqCst);
                    let owed = sh
                        .owed
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    abandoned = !owed;
                    break;
                }
                r
            } else {
                sh.run_item(&input, index)
            };
            match res {
                Ok(v) => {
                    counts[0] += 1;
                    emit.push(index, Ok(v));
                }
                Err(cause) => {
                    sh.note_failure(&cause, emit.len as u64 + 1);
                    let o = failure(index, FailedInput::Value(input), attempts, cause);
                    counts[kind(&o)] += 1;
                    emit.push(index, o);
                }
            }
        }
        let took = t0.elapsed().as_nanos() as u64;
        sh.busy_ns.fetch_add(took, Ordering::Relaxed);
        sh.busy_items.fetch_add(n as u64, Ordering::Relaxed);
        let _ = recycle.send(std::mem::take(&mut chunk.items));
        if emit.len > 0 {
            sh.done.fetch_add(emit.len as u64, Ordering::Relaxed);
            let done = Done {
                start: chunk.start,
                len: emit.len,
                direct: emit.direct.is_some(),
                outcomes: emit.out,
                counts,
            };
            if results.send(done).is_err() {
                return false;
            }
        }
    }
    !abandoned
}

/// The common case of [`process_chunk`]: items not tracked, no retries. The items are run in
/// place under one panic guard (set up again only after a panic), not one per item, and the
/// inputs of failed items are moved into their failures afterwards. Returns how many items
/// it took off the front of `items`: all of them, unless the run stopped (the caller reports
/// the rest).
fn run_plain<K, I>(
    sh: &Shared<K>,
    start: u64,
    items: &mut Vec<I>,
    emit: &mut Emit<'_, K::Output, I, K::Error>,
    counts: &mut Counts,
) -> usize
where
    K: Task<I>,
{
    let n = items.len();
    let mut k = 0;
    // (item, position in `emit.out`) of each failure, whose input is filled in at the end.
    let mut fix: Vec<(usize, usize)> = Vec::new();
    let mut stopped = false;
    while k < n && !stopped {
        let guarded = unwind::catch(|| {
            while k < n {
                if sh.check() != RUN {
                    stopped = true;
                    return;
                }
                let index = start + k as u64;
                match sh.task.attempt(&items[k]) {
                    Ok(v) => {
                        counts[0] += 1;
                        emit.push(index, Ok(v));
                    }
                    Err(cause) => plain_failure(sh, emit, counts, &mut fix, (k, index), cause),
                }
                k += 1;
            }
        });
        if let Err(payload) = guarded {
            let cause = panic_cause(&*payload);
            plain_failure(sh, emit, counts, &mut fix, (k, start + k as u64), cause);
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
            if let Err(f) = &mut emit.out[pos] {
                f.input = FailedInput::Value(input);
            }
        }
    }
    k
}

/// Records the failure of item `k` (input `index`) for [`run_plain`], its input to be moved in
/// later (listed in `fix`).
fn plain_failure<K, I>(
    sh: &Shared<K>,
    emit: &mut Emit<'_, K::Output, I, K::Error>,
    counts: &mut Counts,
    fix: &mut Vec<(usize, usize)>,
    (k, index): (usize, u64),
    cause: Cause<K::Error>,
) where
    K: Task<I>,
{
    sh.note_failure(&cause, emit.len as u64 + 1);
    let attempts = u32::from(!matches!(cause, Cause::NotStarted));
    let o = failure(index, FailedInput::Debug(String::new()), attempts, cause);
    counts[kind(&o)] += 1;
    fix.push((k, emit.out.len()));
    emit.push(index, o);
}

/// Journal plumbing captured by [`Batch::journal`](crate::batch::Batch::journal), where the
/// serde bounds are checked.
#[cfg(feature = "journal")]
pub(crate) struct JournalHook<I, T, E> {
    pub(crate) journal: super::Journal,
    pub(crate) key: Box<dyn Fn(&I) -> String + Send + Sync>,
    pub(crate) encode: fn(&T) -> Option<String>,
    pub(crate) decode: fn(&str) -> Option<T>,
    pub(crate) cause_text: fn(&Cause<E>) -> String,
    pub(crate) retry_failed: bool,
}

#[cfg(not(feature = "journal"))]
pub(crate) struct JournalHook<I, T, E>(PhantomData<fn(&I, T, E)>);

/// The progress ticker, a loop on a thread of the engine (a reused one, like the workers').
struct Ticker {
    stop: Sender<()>,
    /// Disconnected once the ticker's loop has returned (or its job was dropped unrun).
    done: Receiver<()>,
}

impl Ticker {
    /// Stops the ticker and waits until it no longer touches the sink.
    fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.done.recv();
    }
}

type Out<K, I> = Outcome<<K as Task<I>>::Output, I, <K as Task<I>>::Error>;
type InPlace<K, I> = (
    Vec<<K as Task<I>>::Output>,
    Vec<Box<Failure<I, <K as Task<I>>::Error>>>,
);
type Outs<K, I> = Vec<Out<K, I>>;
type Seg<K, I> = (u64, Outs<K, I>);

/// A running batch, yielding `(index, outcome)` pairs: in input order by default, in finishing
/// order when made with [`Batch::unordered`](crate::batch::Batch::unordered). Made by
/// [`Batch::stream`](crate::batch::Batch::stream).
///
/// Inputs are pulled lazily, at most the batch's window ahead of what the stream has yielded,
/// so a stream over a 100-million-item iterator runs in bounded memory. Dropping the stream
/// early stops the run: queued items are dropped, running ones finish in the background.
///
/// # Examples
///
/// ```
/// use threadkit::batch::Batch;
///
/// let stream = Batch::infallible(|x: &u64| x * 2).progress(false).stream(0..1_000_000u64).unwrap();
/// let mut sum = 0;
/// for (index, outcome) in stream {
///     sum += outcome.unwrap();
///     let _ = index;
/// }
/// assert_eq!(sum, 999_999 * 1_000_000);
/// ```
pub struct Stream<K: Task<I>, I, It> {
    inputs: It,
    input_done: bool,
    next_index: u64,
    total: Option<u64>,
    sh: Arc<Shared<K>>,
    engine: Option<Arc<ThreadEngine>>,
    work_tx: Option<Sender<Chunk<I>>>,
    work_rx: Receiver<Chunk<I>>,
    res_rx: Receiver<Done<K::Output, I, K::Error>>,
    res_tx: Sender<Done<K::Output, I, K::Error>>,
    recycle_tx: Sender<Vec<I>>,
    recycle_rx: Receiver<Vec<I>>,
    /// The output buffer while the run writes values in place (see [`OutBuf`]).
    direct: Option<Arc<OutBuf<K::Output>>>,
    /// The failures while the run writes values in place.
    direct_failures: Vec<Box<Failure<I, K::Error>>>,
    /// The values and failures of the in-place part, once it is complete.
    in_place: Option<InPlace<K, I>>,
    direct_cap: u64,
    in_flight: usize,
    buffered: usize,
    reorder: BTreeMap<u64, Outs<K, I>>,
    next_out: u64,
    ready: VecDeque<Seg<K, I>>,
    current: Option<(u64, std::vec::IntoIter<Out<K, I>>)>,
    summary: Summary,
    started: Instant,
    cfg: Config,
    workers: usize,
    ticker: Option<Ticker>,
    sink: Arc<dyn ProgressSink>,
    ctrl_c: Option<CtrlC>,
    cancel: Option<CancelToken>,
    grace_deadline: Option<Instant>,
    abandoned: usize,
    finished: bool,
    journal: Option<JournalHook<I, K::Output, K::Error>>,
    #[cfg_attr(not(feature = "journal"), allow(dead_code))]
    keys: HashMap<u64, String>,
    journal_error: Option<RunError>,
    _marker: PhantomData<fn(I)>,
}

impl<K: Task<I>, I, It> fmt::Debug for Stream<K, I, It> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("next_index", &self.next_index)
            .field("in_flight", &self.in_flight)
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

impl<K, I, It> Stream<K, I, It>
where
    K: Task<I>,
    I: fmt::Debug + Send + 'static,
    It: Iterator<Item = I>,
{
    pub(crate) fn start(
        task: K,
        inputs: It,
        cfg: Config,
        journal: Option<JournalHook<I, K::Output, K::Error>>,
        in_place: bool,
    ) -> Result<Self, RunError> {
        let workers = cfg.workers.max(1);
        let tracked = cfg.tracked();
        let total = match inputs.size_hint() {
            (lo, Some(hi)) if lo == hi => Some(lo as u64),
            _ => None,
        };
        let ctrl_c = if cfg.ctrl_c {
            Some(CtrlC::watch().map_err(|e| RunError::Signal {
                message: e.to_string(),
            })?)
        } else {
            None
        };
        let sh = Arc::new(Shared {
            task,
            stop: AtomicU8::new(RUN),
            reason: AtomicU8::new(REASON_NONE),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            busy_items: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            live: AtomicUsize::new(0),
            retry: cfg.retry,
            halt: cfg.policy.halt(),
            running: tracked.then(|| Mutex::new(HashMap::new())),
            cancel: cfg.cancel.clone(),
            stuck: AtomicUsize::new(0),
            owed: AtomicUsize::new(0),
            max_abandoned: cfg.max_abandoned,
        });
        let extra = if tracked { cfg.max_abandoned } else { 0 };
        // One more for the progress ticker.
        let engine = Arc::new(ThreadEngine::new(workers + extra + 1));
        let (work_tx, work_rx) = crossbeam_channel::unbounded::<Chunk<I>>();
        let (res_tx, res_rx) = crossbeam_channel::unbounded();
        let (recycle_tx, recycle_rx) = crossbeam_channel::unbounded();
        let direct_cap = match total {
            Some(t) if in_place && !tracked && journal.is_none() => t,
            _ => 0,
        };
        let direct = (direct_cap > 0).then(|| Arc::new(OutBuf::new(direct_cap as usize)));
        // Untracked runs use the calling thread as one of the workers (it runs queued chunks
        // while it waits), so the pool has one thread fewer and `workers` bounds the number
        // of items running at once. The first pool worker is started here (so that a pool
        // that cannot start fails the run); each started worker starts up to two more, so
        // that starting 200 threads takes a few rounds of parallel spawns, not 200 in a row.
        let pool_workers = if tracked { workers } else { workers - 1 };
        if pool_workers > 0 {
            let launcher = Arc::new(Launcher {
                engine: engine.clone(),
                pending: AtomicUsize::new(pool_workers - 1),
                sh: sh.clone(),
                work_rx: work_rx.clone(),
                res_tx: res_tx.clone(),
                recycle_tx: recycle_tx.clone(),
                direct: direct.clone(),
            });
            if let Err(message) = engine.launch(Box::new(Launcher::job(launcher))) {
                engine.close();
                return Err(RunError::Engine { message });
            }
        }
        let sink = cfg.sink();
        sink.start(total);
        let ticker = if cfg.progress_enabled() {
            let (stop, stop_rx) = crossbeam_channel::bounded::<()>(1);
            let (done_tx, done) = crossbeam_channel::bounded::<()>(0);
            let (sink2, sh2, every) = (sink.clone(), sh.clone(), cfg.progress_interval);
            let launched = engine.launch(Box::new(move || {
                let _done = done_tx;
                while let Err(RecvTimeoutError::Timeout) = stop_rx.recv_timeout(every) {
                    sink2.update(Snapshot {
                        done: sh2.done.load(Ordering::Relaxed),
                        failed: sh2.failed.load(Ordering::Relaxed),
                        total,
                    });
                }
            }));
            if let Err(e) = launched {
                engine.close();
                return Err(RunError::Engine {
                    message: format!("cannot start the progress ticker: {e}"),
                });
            }
            Some(Ticker { stop, done })
        } else {
            None
        };
        let cancel = cfg.cancel.clone();
        let mut summary = Summary::default();
        #[cfg(feature = "journal")]
        let mut journal = journal;
        #[cfg(feature = "journal")]
        if let Some(hook) = journal.as_mut().filter(|h| h.journal.per_item()) {
            match hook.journal.begin_run() {
                Ok(n) => summary.running_at_last_stop = n,
                Err(e) => {
                    engine.close();
                    return Err(RunError::Journal(e));
                }
            }
        }
        Ok(Stream {
            inputs,
            input_done: false,
            next_index: 0,
            total,
            sh,
            engine: Some(engine),
            work_tx: Some(work_tx),
            work_rx,
            res_rx,
            res_tx,
            recycle_tx,
            recycle_rx,
            direct,
            direct_failures: Vec::new(),
            in_place: None,
            direct_cap,
            in_flight: 0,
            buffered: 0,
            reorder: BTreeMap::new(),
            next_out: 0,
            ready: VecDeque::new(),
            current: None,
            summary,
            started: Instant::now(),
            cfg,
            workers,
            ticker,
            sink,
            ctrl_c,
            cancel,
            grace_deadline: None,
            abandoned: 0,
            finished: false,
            journal,
            keys: HashMap::new(),
            journal_error: None,
            _marker: PhantomData,
        })
    }

    fn launch_worker(
        engine: &ThreadEngine,
        sh: &Arc<Shared<K>>,
        work_rx: &Receiver<Chunk<I>>,
        res_tx: &Sender<Done<K::Output, I, K::Error>>,
        recycle_tx: &Sender<Vec<I>>,
        direct: &Option<Arc<OutBuf<K::Output>>>,
    ) -> Result<(), RunError> {
        let (sh, rx, tx) = (sh.clone(), work_rx.clone(), res_tx.clone());
        let (recycle, direct) = (recycle_tx.clone(), direct.clone());
        engine
            .launch(Box::new(move || worker_loop(sh, rx, tx, recycle, direct)))
            .map_err(|message| RunError::Engine { message })
    }

    /// The counts so far (final once the stream is exhausted).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut s = threadkit::batch::Batch::infallible(|x: &u8| *x).progress(false).stream(0..3u8).unwrap();
    /// s.by_ref().for_each(drop);
    /// assert_eq!(s.summary().succeeded, 3);
    /// ```
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    fn window(&self) -> usize {
        self.cfg
            .window
            .unwrap_or_else(|| (self.workers * 4 * self.chunk_cap()).clamp(64, 1 << 20))
    }

    fn chunk_cap(&self) -> usize {
        if self.cfg.tracked() {
            1
        } else {
            self.cfg.chunk.unwrap_or(MAX_CHUNK)
        }
    }

    fn chunk_size(&self) -> usize {
        if self.cfg.tracked() {
            return 1;
        }
        if let Some(c) = self.cfg.chunk {
            return c.max(1);
        }
        let items = self.sh.busy_items.load(Ordering::Relaxed);
        let ns = self.sh.busy_ns.load(Ordering::Relaxed);
        let mut c = match ns.checked_div(items) {
            None => FIRST_CHUNK,
            Some(per_item) => ((TARGET_CHUNK_NS / per_item.max(1)) as usize).clamp(1, MAX_CHUNK),
        };
        if let Some(total) = self.total {
            // Guided scheduling: smaller chunks near the end so that the workers finish
            // together, but never so small that a chunk is mostly overhead (~1/16 of the
            // target time).
            let remaining = total.saturating_sub(self.next_index) as usize;
            let floor = (c / 16).max(1);
            c = c.min((remaining / (self.workers * 4)).max(floor));
        }
        c
    }

    /// Whether inputs may still be pulled in the current mode.
    fn may_pull(&self) -> bool {
        !self.input_done && (self.direct.is_none() || self.next_index < self.direct_cap)
    }

    fn send_chunk(&mut self, tx: &Sender<Chunk<I>>, start: u64, items: Vec<I>) {
        // With per-item durability, the items' starts are on disk before they can start.
        self.commit_per_item();
        self.in_flight += items.len();
        let direct = self.direct.is_some();
        // Cannot fail: the stream holds a receiver.
        let _ = tx.send(Chunk {
            start,
            items,
            direct,
        });
    }

    /// Pulls inputs into chunks while the window has room.
    fn fill(&mut self) {
        let Some(tx) = self.work_tx.clone() else {
            return;
        };
        let window = self.window();
        let in_flight_chunks_cap = self.workers * 4;
        let mut chunks_sent = 0;
        while self.may_pull()
            && self.sh.level() == RUN
            && self.in_flight + self.buffered < window
            && chunks_sent < in_flight_chunks_cap
        {
            let mut n = self
                .chunk_size()
                .min(window - self.in_flight - self.buffered);
            if self.direct.is_some() {
                n = n.min((self.direct_cap - self.next_index) as usize);
            }
            let mut items = self.recycle_rx.try_recv().unwrap_or_default();
            items.reserve(n);
            let mut start = self.next_index;
            if self.journal.is_none() {
                // The common case, in one tight loop (a memcpy for slices and ranges).
                items.extend(self.inputs.by_ref().take(n));
                self.next_index += items.len() as u64;
                if items.len() < n {
                    self.input_done = true;
                }
            }
            while items.len() < n && !self.input_done {
                let Some(input) = self.inputs.next() else {
                    self.input_done = true;
                    break;
                };
                let index = self.next_index;
                self.next_index += 1;
                if let Some(o) = self.resolved_by_journal(index, &input) {
                    if !items.is_empty() {
                        self.send_chunk(&tx, start, std::mem::take(&mut items));
                        chunks_sent += 1;
                    }
                    self.deliver_local(index, vec![o]);
                    start = index + 1;
                    continue;
                }
                items.push(input);
            }
            if !items.is_empty() {
                self.send_chunk(&tx, start, items);
                chunks_sent += 1;
            }
        }
    }

    #[cfg(feature = "journal")]
    fn resolved_by_journal(
        &mut self,
        index: u64,
        input: &I,
    ) -> Option<Outcome<K::Output, I, K::Error>> {
        use super::journal::Entry;
        let hook = self.journal.as_mut()?;
        let key = (hook.key)(input);
        if !hook.journal.was_empty() {
            match hook.journal.lookup(&key) {
                Ok(Some(Entry::Done(v))) => {
                    if let Some(value) = (hook.decode)(&v) {
                        self.summary.skipped += 1;
                        return Some(Ok(value));
                    }
                }
                Ok(Some(Entry::Failed { message, attempts })) if !hook.retry_failed => {
                    return Some(failure(
                        index,
                        FailedInput::Debug(format!("{input:?}")),
                        attempts,
                        Cause::Journaled { message },
                    ));
                }
                Ok(_) => {}
                Err(e) => {
                    self.journal_failed(e);
                    return None;
                }
            }
        }
        if hook.journal.per_item() {
            if let Err(e) = hook.journal.record_start(&key, index) {
                self.journal_failed(e);
                return None;
            }
        }
        self.keys.insert(index, key);
        None
    }

    #[cfg(not(feature = "journal"))]
    fn resolved_by_journal(
        &mut self,
        _index: u64,
        _input: &I,
    ) -> Option<Outcome<K::Output, I, K::Error>> {
        None
    }

    #[cfg(feature = "journal")]
    fn journal_failed(&mut self, e: super::JournalError) {
        if self.journal_error.is_none() {
            self.journal_error = Some(RunError::Journal(e));
        }
        self.journal = None;
        self.sh.request_stop(SOON, REASON_CANCEL);
    }

    #[cfg(feature = "journal")]
    fn record(&mut self, start: u64, outcomes: &[Outcome<K::Output, I, K::Error>]) {
        let Some(hook) = self.journal.as_mut() else {
            return;
        };
        let mut err = None;
        for (k, o) in outcomes.iter().enumerate() {
            let index = start + k as u64;
            let Some(key) = self.keys.remove(&index) else {
                continue;
            };
            let r = match o {
                Ok(v) => match (hook.encode)(v) {
                    Some(text) => hook.journal.record(&key, index, Ok(&text), 1),
                    None => Ok(()),
                },
                Err(f) if f.cause.is_failure() => {
                    let text = (hook.cause_text)(&f.cause);
                    hook.journal.record(&key, index, Err(&text), f.attempts)
                }
                // Not finished: not recorded, so a resumed run runs it.
                Err(_) => hook.journal.forget_start(&key),
            };
            if let Err(e) = r {
                err = Some(e);
                break;
            }
        }
        if err.is_none() {
            if let Err(e) = hook.journal.commit_if_due() {
                err = Some(e);
            }
        }
        if let Some(e) = err {
            self.journal_failed(e);
        }
    }

    #[cfg(not(feature = "journal"))]
    fn record(&mut self, _start: u64, _outcomes: &[Outcome<K::Output, I, K::Error>]) {}

    /// With per-item durability, commits what is recorded: before an outcome is yielded (it
    /// counts as done from then on) and before items are handed to workers (their starts).
    #[cfg(feature = "journal")]
    fn commit_per_item(&mut self) {
        let Some(hook) = self.journal.as_mut().filter(|h| h.journal.per_item()) else {
            return;
        };
        if let Err(e) = hook.journal.commit() {
            self.journal_failed(e);
        }
    }

    #[cfg(not(feature = "journal"))]
    fn commit_per_item(&mut self) {}

    /// Outcomes made by the driver itself (journal, stop, claims): counted for progress.
    fn deliver_local(&mut self, start: u64, outcomes: Vec<Outcome<K::Output, I, K::Error>>) {
        self.sh
            .done
            .fetch_add(outcomes.len() as u64, Ordering::Relaxed);
        for o in &outcomes {
            self.summary.count(o);
        }
        if let Some(buf) = &self.direct {
            assert!(start + outcomes.len() as u64 <= self.direct_cap);
            for (k, o) in outcomes.into_iter().enumerate() {
                match o {
                    // SAFETY: in direct mode the driver only makes outcomes for indices below
                    // the buffer's capacity that no worker was given (never sent, or taken
                    // back from the work channel); each index gets one outcome.
                    Ok(v) => unsafe { buf.write(start as usize + k, v) },
                    Err(f) => self.direct_failures.push(f),
                }
            }
            return;
        }
        self.deliver(start, outcomes);
    }

    /// Queues counted outcomes for the consumer, in order unless unordered.
    fn deliver(&mut self, start: u64, outcomes: Vec<Outcome<K::Output, I, K::Error>>) {
        self.buffered += outcomes.len();
        if self.cfg.ordered {
            if start == self.next_out {
                self.next_out += outcomes.len() as u64;
                self.ready.push_back((start, outcomes));
                while let Some(seg) = self.reorder.remove(&self.next_out) {
                    let s = self.next_out;
                    self.next_out += seg.len() as u64;
                    self.ready.push_back((s, seg));
                }
            } else {
                self.reorder.insert(start, outcomes);
            }
        } else {
            self.ready.push_back((start, outcomes));
        }
    }

    fn receive(&mut self, done: Done<K::Output, I, K::Error>) {
        self.in_flight -= done.len;
        self.summary.add_counts(&done.counts);
        if done.direct {
            self.direct_failures
                .extend(done.outcomes.into_iter().filter_map(Result::err));
        } else {
            self.record(done.start, &done.outcomes);
            self.deliver(done.start, done.outcomes);
        }
    }

    /// The values and failures written in place (indices `0..n`, for an input of known
    /// length), once complete: `run` takes them before the segments that follow.
    pub(crate) fn take_in_place(&mut self) -> Option<InPlace<K, I>> {
        self.in_place.take()
    }

    /// In direct mode, once every outcome below the buffer's capacity is written: hands the
    /// buffer over as the first segment and goes on (if the input is longer than its size
    /// hint said) in segment mode.
    fn end_direct_mode(&mut self) {
        if let Some(buf) = self.direct.take() {
            let len = self.next_index;
            let mut failures = std::mem::take(&mut self.direct_failures);
            failures.sort_unstable_by_key(|f| f.index);
            // SAFETY: `in_flight == 0`: every index below `next_index` was given an outcome: a
            // value written by a worker whose `Done` we received (happens-before through the
            // channel) or by this thread, or a failure (listed in `failures`, its slot never
            // written); new chunks are sent in segment mode from now on.
            let values = unsafe {
                buf.take_compact(len as usize, failures.iter().map(|f| f.index as usize))
            };
            self.next_out = len;
            self.in_place = Some((values, failures));
        }
    }

    /// Watches the cancellation sources and the clock; claims overdue or abandoned items.
    fn watch(&mut self) {
        let now = Instant::now();
        if self.sh.level() == RUN {
            if self.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
                self.sh.request_stop(SOON, REASON_CANCEL);
            }
            if self.ctrl_c.as_ref().is_some_and(|c| c.presses() > 0) {
                self.sh.request_stop(SOON, REASON_INTERRUPT);
            }
            if self.sh.level() != RUN {
                self.grace_deadline = self.cfg.grace.and_then(|g| now.checked_add(g));
            }
        }
        if self.sh.level() == SOON {
            if self.ctrl_c.as_ref().is_some_and(|c| c.presses() > 1) {
                self.sh.request_stop(NOW, REASON_INTERRUPT);
            }
            if self.grace_deadline.is_some_and(|d| now >= d) {
                self.sh.request_stop(NOW, REASON_CANCEL);
            }
        }
        let level = self.sh.level();
        if level != RUN {
            // Queued chunks will never start: report them here, so that no hung worker can
            // hold them back.
            while let Ok(chunk) = self.work_rx.try_recv() {
                let n = chunk.items.len();
                self.in_flight -= n;
                let outcomes = chunk
                    .items
                    .into_iter()
                    .enumerate()
                    .map(|(k, input)| {
                        failure(
                            chunk.start + k as u64,
                            FailedInput::Value(input),
                            0,
                            Cause::NotStarted,
                        )
                    })
                    .collect();
                self.deliver_local(chunk.start, outcomes);
            }
        }
        let Some(running) = &self.sh.running else {
            return;
        };
        // (index, running entry, cause, start a replacement thread)
        let mut claimed: Vec<(u64, Running, Cause<K::Error>, bool)> = Vec::new();
        {
            let mut map = running.lock();
            if level == NOW {
                for (index, r) in map.drain() {
                    // No replacement, nothing owed: the run is over for this thread.
                    self.sh.stuck.fetch_add(1, Ordering::SeqCst);
                    claimed.push((index, r, Cause::Cancelled, false));
                }
            } else if let Some(t) = self.cfg.timeout {
                let overdue: Vec<u64> = map
                    .iter()
                    .filter(|(_, r)| now.saturating_duration_since(r.started) >= t)
                    .map(|(i, _)| *i)
                    .collect();
                for index in overdue {
                    if let Some(r) = map.remove(&index) {
                        // Decided under the lock, before the thread can see its claim.
                        let stuck = self.sh.stuck.fetch_add(1, Ordering::SeqCst) + 1;
                        let replace = stuck <= self.sh.max_abandoned;
                        if !replace {
                            self.sh.owed.fetch_add(1, Ordering::SeqCst);
                        }
                        claimed.push((index, r, Cause::Timeout { after: t }, replace));
                    }
                }
            }
        }
        for (index, r, cause, replace) in claimed {
            self.in_flight -= 1;
            self.abandoned += 1;
            if matches!(cause, Cause::Timeout { .. }) {
                self.sh.note_failure(&cause, 1);
            }
            let o = failure(index, FailedInput::Debug(r.debug), 1, cause);
            self.record(index, std::slice::from_ref(&o));
            self.deliver_local(index, vec![o]);
            if replace {
                let launched = self.engine.as_ref().map(|engine| {
                    Self::launch_worker(
                        engine,
                        &self.sh,
                        &self.work_rx,
                        &self.res_tx,
                        &self.recycle_tx,
                        &None,
                    )
                });
                if !matches!(launched, Some(Ok(()))) {
                    // No replacement after all: the stuck thread resumes when it returns.
                    self.sh.owed.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }

    fn tick(&self) -> Option<Duration> {
        let mut tick: Option<Duration> = None;
        let mut at_most = |d: Duration| {
            tick = Some(tick.map_or(d, |t| t.min(d)));
        };
        if self.cancel.is_some() || self.ctrl_c.is_some() || self.grace_deadline.is_some() {
            at_most(Duration::from_millis(10));
        }
        if let Some(t) = self.cfg.timeout {
            at_most((t / 4).clamp(Duration::from_millis(1), Duration::from_millis(10)));
        }
        if self.journal.is_some() {
            at_most(Duration::from_millis(50));
        }
        tick
    }

    /// Outcomes for the inputs never scheduled because the run stopped: at most `n` at a time.
    fn drain_unscheduled(&mut self, mut n: usize) {
        if self.direct.is_some() {
            n = n.min((self.direct_cap - self.next_index) as usize);
        }
        let mut outcomes = Vec::new();
        let start = self.next_index;
        while outcomes.len() < n {
            let Some(input) = self.inputs.next() else {
                self.input_done = true;
                break;
            };
            let index = self.next_index;
            self.next_index += 1;
            outcomes.push(failure(
                index,
                FailedInput::Value(input),
                0,
                Cause::NotStarted,
            ));
        }
        if !outcomes.is_empty() {
            self.deliver_local(start, outcomes);
        }
    }

    /// The next ready segment of outcomes, or `None` at the end.
    pub(crate) fn next_segment(&mut self) -> Option<Seg<K, I>> {
        loop {
            if let Some((start, seg)) = self.ready.pop_front() {
                self.buffered -= seg.len();
                self.commit_per_item();
                return Some((start, seg));
            }
            if self.finished {
                return None;
            }
            self.watch();
            if self.direct.is_some() && self.in_flight == 0 && !self.may_pull() {
                self.end_direct_mode();
                continue;
            }
            if self.sh.level() == RUN {
                self.fill();
            } else if self.in_flight == 0 && self.may_pull() {
                self.drain_unscheduled(4096);
                continue;
            }
            if self.in_flight == 0 && self.input_done {
                if self.ready.is_empty() {
                    self.finish();
                }
                continue;
            }
            if self.in_flight == 0 {
                continue;
            }
            let tick = self.tick();
            let mut got = Err(RecvTimeoutError::Timeout);
            if self.sh.running.is_none() {
                // Help while waiting: run queued chunks on this thread (as rayon's caller
                // does) rather than sleep while the workers are busy.
                loop {
                    if let Ok(d) = self.res_rx.try_recv() {
                        got = Ok(d);
                        break;
                    }
                    let Ok(chunk) = self.work_rx.try_recv() else {
                        break;
                    };
                    process_chunk(
                        &self.sh,
                        chunk,
                        self.direct.as_deref(),
                        &self.res_tx,
                        &self.recycle_tx,
                    );
                }
            }
            if got.is_err() {
                got = match tick {
                    None => self
                        .res_rx
                        .recv()
                        .map_err(|_| RecvTimeoutError::Disconnected),
                    Some(t) => self.res_rx.recv_timeout(t),
                };
            }
            let got = match got {
                Ok(d) => Ok(d),
                Err(RecvTimeoutError::Timeout) => {
                    #[cfg(feature = "journal")]
                    if let Some(hook) = self.journal.as_mut() {
                        if let Err(e) = hook.journal.commit_if_due() {
                            self.journal_failed(e);
                        }
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => Err(()),
            };
            match got {
                Ok(done) => {
                    self.receive(done);
                    while let Ok(more) = self.res_rx.try_recv() {
                        self.receive(more);
                    }
                }
                // Cannot happen: the stream holds a sender.
                Err(()) => self.finish(),
            }
        }
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.summary.duration = self.started.elapsed();
        self.summary.retries = self.sh.retries.load(Ordering::SeqCst);
        self.summary.stopped = match self.sh.reason.load(Ordering::SeqCst) {
            REASON_HALT => Some(StopReason::Halted),
            REASON_CANCEL => Some(StopReason::Cancelled),
            REASON_INTERRUPT => Some(StopReason::Interrupted),
            _ => None,
        };
        #[cfg(feature = "journal")]
        if let Some(hook) = self.journal.as_mut() {
            if let Err(e) = hook.journal.commit() {
                self.journal_failed(e);
            }
        }
        self.shutdown();
        self.sink.finish(Snapshot {
            done: self.summary.total,
            failed: self.summary.failed(),
            total: self.total.or(Some(self.summary.total)),
        });
    }

    fn shutdown(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.stop();
        }
        self.work_tx = None;
        self.sh.request_stop(NOW, REASON_NONE);
        // Workers exit once the work channel is closed and empty.
        while self.work_rx.try_recv().is_ok() {}
        // Workers go back to the shared pool as they see the work channel closed; a run's own
        // pool, if it needed one, is joined on a thread of its own.
        if let Some(engine) = self.engine.take() {
            engine.close();
        }
        self.ctrl_c = None;
    }

    /// The error that ended the stream early, if any: a journal that could not be written
    /// (the run stopped scheduling; the remaining inputs were reported cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut s = threadkit::batch::Batch::infallible(|x: &u8| *x).progress(false).stream(0..3u8).unwrap();
    /// s.by_ref().for_each(drop);
    /// assert!(s.error().is_none());
    /// ```
    pub fn error(&self) -> Option<&RunError> {
        self.journal_error.as_ref()
    }

    pub(crate) fn take_error(&mut self) -> Option<RunError> {
        self.journal_error.take()
    }
}

impl<K, I, It> Iterator for Stream<K, I, It>
where
    K: Task<I>,
    I: fmt::Debug + Send + 'static,
    It: Iterator<Item = I>,
{
    type Item = (u64, Outcome<K::Output, I, K::Error>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((index, it)) = &mut self.current {
                if let Some(o) = it.next() {
                    let i = *index;
                    *index += 1;
                    return Some((i, o));
                }
                self.current = None;
            }
            let (start, seg) = self.next_segment()?;
            self.current = Some((start, seg.into_iter()));
        }
    }
}

impl<K: Task<I>, I, It> Drop for Stream<K, I, It> {
    fn drop(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.stop();
        }
        self.work_tx = None;
        if !self.finished {
            self.sh.request_stop(NOW, REASON_CANCEL);
            while self.work_rx.try_recv().is_ok() {}
            if let Some(engine) = self.engine.take() {
                engine.close();
            }
        }
    }
}
