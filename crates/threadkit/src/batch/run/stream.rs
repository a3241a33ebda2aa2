//! The driver: [`Stream`], on the caller's thread. It pulls inputs into chunks and sends them
//! to the workers while the window has room, takes their outcomes back, lets the supervisor
//! look, and hands the consumer segments of outcomes in order. It is made of named parts:
//! the intake (the caller's iterator), the crew (the workers: engine, channels, shared
//! state), the output mode and the delivery queue, the optional supervisor, and progress.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::config::Config;
use super::engine::ThreadEngine;
use super::output::{Delivery, InPlace, Output, Seg};
#[cfg(feature = "journal")]
use super::shared::SOON;
use super::shared::{Shared, Ticker, NOW, REASON_CANCEL, REASON_NONE, RUN};
use super::slot::SlotGuard;
use super::supervisor::{Claim, Supervisor};
use super::worker::{process_chunk, Chunk, Done, Ends};
use crate::batch::journal::JournalHook;
use crate::batch::outcome::{self, FailedInput, Kind, Outcome, Summary};
use crate::batch::policy::HaltEvent;
use crate::batch::task::Task;
use crate::batch::RunError;
use crate::progress::{ProgressSink, Snapshot};

type Out<K, I> = Outcome<<K as Task<I>>::Output, I, <K as Task<I>>::Error>;

/// Where the inputs come from: the caller's iterator, pulled lazily.
struct Intake<It, I> {
    inputs: It,
    /// The iterator is exhausted.
    done: bool,
    /// The index of the next input (the number pulled so far).
    next: u64,
    /// The number of inputs, when the iterator knows it exactly.
    total: Option<u64>,
    /// An input pulled past `total` by the pull that was to confirm the end (the iterator's
    /// size hint was wrong): the next input handed out.
    extra: Option<I>,
}

impl<It: Iterator<Item = I>, I> Intake<It, I> {
    fn new(inputs: It) -> Self {
        let total = match inputs.size_hint() {
            (lo, Some(hi)) if lo == hi => Some(lo as u64),
            _ => None,
        };
        Intake {
            inputs,
            done: false,
            next: 0,
            total,
            extra: None,
        }
    }

    /// Pulls up to `n` inputs onto `items` in one tight loop (a memcpy for slices and ranges).
    fn take(&mut self, items: &mut Vec<It::Item>, n: usize) {
        let before = items.len();
        if n > 0 {
            items.extend(self.extra.take());
        }
        let more = n - (items.len() - before);
        items.extend(self.inputs.by_ref().take(more));
        let got = items.len() - before;
        self.next += got as u64;
        if got < n {
            self.done = true;
        } else {
            self.confirm_end();
        }
    }

    /// Once as many inputs were pulled as the iterator said it has, one more pull confirms
    /// the end: the run then knows that everything is handed out (its workers leave when they
    /// are done, rather than wait for more), without waiting for a pull that finds nothing.
    fn confirm_end(&mut self) {
        if self.total == Some(self.next) && self.extra.is_none() {
            match self.inputs.next() {
                None => self.done = true,
                Some(input) => self.extra = Some(input),
            }
        }
    }

    /// The next input and its index.
    fn pull(&mut self) -> Option<(u64, It::Item)> {
        let Some(input) = self.extra.take().or_else(|| self.inputs.next()) else {
            self.done = true;
            return None;
        };
        let index = self.next;
        self.next += 1;
        Some((index, input))
    }
}

/// The workers as the driver sees them.
struct Crew<K: Task<I>, I> {
    /// The driver's own copy of what each worker holds: to help run chunks, to start
    /// replacements, to take back queued chunks.
    ends: Ends<K, I>,
    /// `None` once the run is torn down.
    engine: Option<Arc<ThreadEngine>>,
    /// The sending end of the work channel; `None` once the run is over (workers exit).
    work: Option<Sender<Chunk<I>>>,
    results: Receiver<Done<K::Output, I, K::Error>>,
    recycle: Receiver<Vec<I>>,
    /// Whether the driver runs queued chunks while it waits (untracked runs, unless the
    /// caller said no: the calling thread is one of the workers).
    helps: bool,
    /// The slot the calling thread holds while it runs a chunk (the last one).
    caller_slot: usize,
    /// Items whose outcomes came back from the workers (see [`Shared::returned`]).
    received: u64,
}

impl<K: Task<I>, I> Crew<K, I> {
    fn sh(&self) -> &Shared<K> {
        &self.ends.sh
    }
}

/// Progress: the sink and the ticker that refreshes it.
struct Progress {
    sink: Arc<dyn ProgressSink>,
    ticker: Option<Ticker>,
}

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
    intake: Intake<It, I>,
    crew: Crew<K, I>,
    output: Output<K, I>,
    delivery: Delivery<K::Output, I, K::Error>,
    /// The values and failures of the in-place part of a direct run, once it is complete.
    in_place: Option<InPlace<K::Output, I, K::Error>>,
    /// The segment the iterator is yielding.
    current: Option<(u64, std::vec::IntoIter<Out<K, I>>)>,
    supervisor: Option<Supervisor>,
    progress: Progress,
    summary: Summary,
    started: Instant,
    cfg: Config,
    finished: bool,
    /// The error that ended the run early (a journal that could not be written).
    error: Option<RunError>,
}

impl<K: Task<I>, I, It> fmt::Debug for Stream<K, I, It> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("next_index", &self.intake.next)
            .field("in_flight", &self.delivery.in_flight)
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
    /// Starts a run of `task` over `inputs`: the supervisor (and its Ctrl-C handler), the
    /// worker loops, the progress ticker, the journal's run. `in_place`: the caller (`run`)
    /// takes the values written in place, see [`take_in_place`](Self::take_in_place).
    pub(crate) fn start(
        task: K,
        inputs: It,
        cfg: Config,
        journal: Option<JournalHook<I, K::Output, K::Error>>,
        in_place: bool,
    ) -> Result<Self, RunError> {
        let workers = cfg.workers();
        let tracked = cfg.tracked();
        let helps = cfg.caller_helps();
        let intake = Intake::new(inputs);
        // What `N%` halts and the progress bar are of.
        let total = cfg.total.or(intake.total);
        let supervisor = Supervisor::start(&cfg)?;
        #[cfg_attr(not(feature = "journal"), allow(unused_mut))]
        let mut output = Output::choose(journal, in_place, tracked, intake.total);
        let sh = Arc::new(Shared::new(task, &cfg, total));
        let extra = if tracked { cfg.max_abandoned } else { 0 };
        // One more for the progress ticker.
        let engine = Arc::new(ThreadEngine::new(workers + extra + 1));
        let (work_tx, work_rx) = crossbeam_channel::unbounded::<Chunk<I>>();
        let (res_tx, res_rx) = crossbeam_channel::unbounded();
        let (recycle_tx, recycle_rx) = crossbeam_channel::unbounded();
        let ends = Ends {
            sh: sh.clone(),
            work: work_rx,
            results: res_tx,
            recycle: recycle_tx,
            out: output.buffer(),
            log: output.item_log(),
        };
        // Untracked runs use the calling thread as one of the workers (it runs queued chunks
        // while it waits) unless told not to, so the pool has one thread fewer and `workers`
        // bounds the number of items running at once.
        let pool_workers = if helps { workers - 1 } else { workers };
        if let Err(message) = ends.launch_crew(&engine, pool_workers) {
            engine.close();
            return Err(RunError::Engine { message });
        }
        let sink = cfg.sink();
        sink.start(total);
        let ticker = if cfg.progress_enabled() {
            match Ticker::start(&engine, sink.clone(), sh, cfg.progress_interval, total) {
                Ok(ticker) => Some(ticker),
                Err(e) => {
                    engine.close();
                    return Err(RunError::Engine {
                        message: format!("cannot start the progress ticker: {e}"),
                    });
                }
            }
        } else {
            None
        };
        #[cfg_attr(not(feature = "journal"), allow(unused_mut))]
        let mut summary = Summary::default();
        #[cfg(feature = "journal")]
        if let Output::Journaled(journal) = &mut output {
            match journal.begin_run() {
                Ok(n) => summary.running_at_last_stop = n,
                Err(e) => {
                    engine.close();
                    return Err(RunError::Journal(e));
                }
            }
        }
        Ok(Stream {
            intake,
            crew: Crew {
                ends,
                engine: Some(engine),
                work: Some(work_tx),
                results: res_rx,
                recycle: recycle_rx,
                helps,
                caller_slot: workers,
                received: 0,
            },
            output,
            delivery: Delivery::new(cfg.ordered),
            in_place: None,
            current: None,
            supervisor,
            progress: Progress { sink, ticker },
            summary,
            started: Instant::now(),
            cfg,
            finished: false,
            error: None,
        })
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

    /// Whether inputs may still be pulled in the current mode.
    fn may_pull(&self) -> bool {
        !self.intake.done && self.output.room(self.intake.next) > 0
    }

    /// Hands the items at `start..` to the workers, with their journal keys when the workers
    /// record their starts and outcomes (else `keys` is empty).
    fn send_chunk(&mut self, tx: &Sender<Chunk<I>>, start: u64, items: Vec<I>, keys: Vec<String>) {
        self.delivery.in_flight += items.len();
        let direct = self.output.is_direct();
        // Cannot fail: the stream holds a receiver.
        let _ = tx.send(Chunk {
            start,
            items,
            keys,
            direct,
        });
    }

    /// Pulls inputs into chunks while the window has room.
    fn fill(&mut self) {
        let Some(tx) = self.crew.work.clone() else {
            return;
        };
        let window = self.cfg.window();
        let in_flight_chunks_cap = self.cfg.workers() * 4;
        let mut chunks_sent = 0;
        while self.may_pull()
            && self.crew.sh().level() == RUN
            && self.delivery.held() < window
            && chunks_sent < in_flight_chunks_cap
        {
            let sh = self.crew.sh();
            let remaining = self
                .intake
                .total
                .map(|t| t.saturating_sub(self.intake.next));
            let n = self
                .cfg
                .chunk_size(
                    sh.busy_items.load(Ordering::Relaxed),
                    sh.busy_ns.load(Ordering::Relaxed),
                    remaining,
                )
                .min(window - self.delivery.held())
                .min(self.output.room(self.intake.next));
            let mut items = self.crew.recycle.try_recv().unwrap_or_default();
            items.reserve(n);
            #[cfg(feature = "journal")]
            if let Output::Journaled(_) = self.output {
                chunks_sent += self.fill_journaled(&tx, items, n);
                continue;
            }
            let start = self.intake.next;
            self.intake.take(&mut items, n);
            if !items.is_empty() {
                self.send_chunk(&tx, start, items, Vec::new());
                chunks_sent += 1;
            }
        }
        if self.intake.done {
            // Everything is handed out: closing the work channel lets each worker leave as
            // soon as the queue is empty, rather than wait for chunks that cannot come (and
            // be woken for teardown at the end).
            self.crew.work = None;
        }
    }

    /// Fills one chunk of up to `n` inputs in a journaled run: an input the journal already
    /// has is resolved here (ending the chunk before it); the others go to the workers, with
    /// their keys when the workers record their starts and outcomes (per-item durability).
    /// Returns the number of chunks sent.
    #[cfg(feature = "journal")]
    fn fill_journaled(&mut self, tx: &Sender<Chunk<I>>, mut items: Vec<I>, n: usize) -> usize {
        let mut sent = 0;
        let mut start = self.intake.next;
        let mut keys = Vec::new();
        while items.len() < n {
            let Some((index, input)) = self.intake.pull() else {
                break;
            };
            let resolved = match &mut self.output {
                Output::Journaled(journal) => journal.resolve(index, &input),
                _ => Ok(None),
            };
            match resolved {
                Ok(Some(o)) => {
                    if !items.is_empty() {
                        let keys = aligned(std::mem::take(&mut keys), items.len());
                        self.send_chunk(tx, start, std::mem::take(&mut items), keys);
                        sent += 1;
                    }
                    if o.is_ok() {
                        self.summary.skipped += 1;
                    }
                    self.deliver_local(index, vec![o]);
                    start = index + 1;
                    continue;
                }
                Ok(None) => {}
                Err(e) => self.journal_failed(e),
            }
            if let Output::Journaled(journal) = &self.output {
                keys.extend(journal.key_of(index));
            }
            items.push(input);
        }
        if !items.is_empty() {
            let keys = aligned(keys, items.len());
            self.send_chunk(tx, start, items, keys);
            sent += 1;
        }
        sent
    }

    /// Ends the journaled mode after a journal error: the run stops scheduling, and the error
    /// is what [`error`](Self::error) reports.
    #[cfg(feature = "journal")]
    fn journal_failed(&mut self, e: crate::batch::JournalError) {
        if self.error.is_none() {
            self.error = Some(RunError::Journal(e));
        }
        self.output = Output::Segments;
        self.crew.sh().request_stop(SOON, REASON_CANCEL);
    }

    /// Records outcomes in the journal of a journaled run.
    fn record(&mut self, start: u64, outcomes: &[Out<K, I>]) {
        #[cfg(feature = "journal")]
        if let Output::Journaled(journal) = &mut self.output {
            if let Err(e) = journal.record(start, outcomes) {
                self.journal_failed(e);
            }
        }
        #[cfg(not(feature = "journal"))]
        let _ = (start, outcomes);
    }

    /// Lets go of the journal keys of outcomes their worker recorded itself.
    fn recorded(&mut self, start: u64, len: usize) {
        #[cfg(feature = "journal")]
        if let Output::Journaled(journal) = &mut self.output {
            if let Err(e) = journal.recorded(start, len) {
                self.journal_failed(e);
            }
        }
        #[cfg(not(feature = "journal"))]
        let _ = (start, len);
    }

    /// With per-item durability, commits what is recorded before an outcome is yielded (it
    /// counts as done from then on). The workers record the starts and outcomes of the items
    /// they run themselves.
    fn commit_per_item(&mut self) {
        #[cfg(feature = "journal")]
        if let Output::Journaled(journal) = &mut self.output {
            if let Err(e) = journal.commit_per_item() {
                self.journal_failed(e);
            }
        }
    }

    /// Outcomes made by the driver itself (journal, stop, claims): counted for progress.
    fn deliver_local(&mut self, start: u64, outcomes: Vec<Out<K, I>>) {
        self.crew
            .sh()
            .done
            .fetch_add(outcomes.len() as u64, Ordering::Relaxed);
        for o in &outcomes {
            self.summary.count(o);
        }
        if let Output::Direct(direct) = &mut self.output {
            assert!(start + outcomes.len() as u64 <= direct.cap);
            for (k, o) in outcomes.into_iter().enumerate() {
                match o {
                    // SAFETY: in direct mode the driver only makes outcomes for indices below
                    // the buffer's capacity that no worker was given (never sent, or taken
                    // back from the work channel); each index gets one outcome. The value
                    // exists already: nothing unwinds between here and the write.
                    Ok(v) => unsafe { direct.buf.write(start as usize + k, v) },
                    Err(f) => direct.failures.push(f),
                }
            }
            return;
        }
        self.delivery.push(start, outcomes);
    }

    /// Takes a chunk's outcomes back from a worker.
    fn receive(&mut self, done: Done<K::Output, I, K::Error>) {
        self.delivery.in_flight -= done.len;
        self.crew.received += done.len as u64;
        self.summary.add_counts(&done.counts);
        if let Output::Direct(direct) = &mut self.output {
            // The values are in the buffer; these are the failures.
            direct
                .failures
                .extend(done.outcomes.into_iter().filter_map(Result::err));
            return;
        }
        if done.recorded {
            self.recorded(done.start, done.len);
        } else {
            self.record(done.start, &done.outcomes);
        }
        self.delivery.push(done.start, done.outcomes);
    }

    /// The values and failures written in place (indices `0..n`, for an input of known
    /// length), once complete: `run` takes them before the segments that follow.
    pub(crate) fn take_in_place(&mut self) -> Option<InPlace<K::Output, I, K::Error>> {
        self.in_place.take()
    }

    /// In direct mode, once every outcome below the buffer's capacity is written: hands the
    /// buffer over as the first segment and goes on (if the input is longer than its size
    /// hint said) in segment mode.
    fn end_direct_mode(&mut self) {
        let Output::Direct(direct) = std::mem::replace(&mut self.output, Output::Segments) else {
            return;
        };
        let len = self.intake.next;
        let mut failures = direct.failures;
        failures.sort_unstable_by_key(|f| f.index);
        // SAFETY: `in_flight == 0`: every index below `intake.next` was given an outcome: a
        // value written by a worker whose `Done` we received (happens-before through the
        // channel) or by this thread, or a failure (listed in `failures`, its slot never
        // written); new chunks are sent in segment mode from now on.
        let values = unsafe {
            direct
                .buf
                .take_compact(len as usize, failures.iter().map(|f| f.index as usize))
        };
        self.delivery.next_out = len;
        self.in_place = Some((values, failures));
    }

    /// Lets the supervisor look, drains what a stop left queued, and reports the items the
    /// supervisor claimed.
    fn supervise(&mut self) {
        let now = Instant::now();
        if let Some(supervisor) = &mut self.supervisor {
            supervisor.watch(self.crew.sh(), now);
        }
        let level = self.crew.sh().level();
        if level != RUN {
            self.drain_queued();
        }
        let claims = match &self.supervisor {
            Some(supervisor) => supervisor.claims(self.crew.sh(), level, now),
            None => return,
        };
        for claim in claims {
            self.report_claim(claim);
        }
    }

    /// Reports a claimed item, and starts a replacement for its thread if the claim says so.
    fn report_claim(&mut self, claim: Claim<K::Error>) {
        let Claim {
            index,
            debug,
            cause,
            replace,
            slot,
        } = claim;
        self.delivery.in_flight -= 1;
        self.crew.sh().note(Kind::of_cause(&cause), index, 1);
        let o = outcome::failed(index, FailedInput::Debug(debug), 1, cause);
        self.record(index, std::slice::from_ref(&o));
        self.deliver_local(index, vec![o]);
        if replace {
            let launched = self
                .crew
                .engine
                .as_ref()
                .map(|engine| self.crew.ends.launch_one(engine, slot));
            if !matches!(launched, Some(Ok(()))) {
                // No replacement after all: the stuck thread resumes when it returns.
                self.crew.sh().owed.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    /// Queued chunks will never start once the run stopped: reports them here, so that no
    /// hung worker can hold them back.
    fn drain_queued(&mut self) {
        while let Ok(chunk) = self.crew.ends.work.try_recv() {
            self.delivery.in_flight -= chunk.items.len();
            let start = chunk.start;
            let outcomes = chunk
                .items
                .into_iter()
                .enumerate()
                .map(|(k, input)| outcome::not_started(start + k as u64, input))
                .collect();
            self.deliver_local(start, outcomes);
        }
    }

    /// Outcomes for the inputs never scheduled because the run stopped: at most `n` at a time.
    fn drain_unscheduled(&mut self, n: usize) {
        let n = n.min(self.output.room(self.intake.next));
        let mut outcomes = Vec::new();
        let start = self.intake.next;
        while outcomes.len() < n {
            let Some((index, input)) = self.intake.pull() else {
                break;
            };
            outcomes.push(outcome::not_started(index, input));
        }
        if !outcomes.is_empty() {
            self.deliver_local(start, outcomes);
        }
    }

    /// How long the driver may block waiting for results.
    fn tick(&self) -> Option<Duration> {
        let supervisor = self.supervisor.as_ref().and_then(Supervisor::tick);
        match (supervisor, self.output.tick()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next ready segment of outcomes, or `None` at the end.
    pub(crate) fn next_segment(&mut self) -> Option<Seg<K::Output, I, K::Error>> {
        loop {
            if let Some(seg) = self.delivery.pop() {
                self.commit_per_item();
                return Some(seg);
            }
            if self.finished {
                return None;
            }
            self.supervise();
            let in_flight = self.delivery.in_flight;
            if self.output.is_direct() && in_flight == 0 && !self.may_pull() {
                self.end_direct_mode();
                continue;
            }
            if self.crew.sh().level() == RUN {
                self.fill();
            } else if in_flight == 0 && self.may_pull() {
                self.drain_unscheduled(4096);
                continue;
            }
            if self.delivery.in_flight == 0 && self.intake.done {
                if self.delivery.nothing_ready() {
                    self.finish();
                }
                continue;
            }
            if self.delivery.in_flight == 0 {
                continue;
            }
            if self.waits_for_all() {
                self.wait_all();
                continue;
            }
            match self.wait() {
                Ok(done) => {
                    self.receive(done);
                    while let Ok(more) = self.crew.results.try_recv() {
                        self.receive(more);
                    }
                }
                Err(RecvTimeoutError::Timeout) => self.commit_if_due(),
                // Cannot happen: the stream holds a sender.
                Err(RecvTimeoutError::Disconnected) => self.finish(),
            }
        }
    }

    /// Whether the driver waits for all the outcomes still out at once rather than for each
    /// chunk's: in direct mode (nothing is yielded before the end) once everything is handed
    /// out, when no supervisor needs the driver to look now and then.
    fn waits_for_all(&self) -> bool {
        self.output.is_direct() && self.intake.done && self.supervisor.is_none()
    }

    /// Waits until every item handed out has its outcome back, with one wake-up at the end
    /// rather than one per chunk (2,000 wake-ups of the driver for 2,000 slow items cost
    /// as many context switches), and takes the outcomes. The calling thread runs queued
    /// chunks first when it helps; it looks again every 100 ms in any case.
    fn wait_all(&mut self) {
        loop {
            while let Ok(done) = self.crew.results.try_recv() {
                self.receive(done);
            }
            if self.delivery.in_flight == 0 {
                return;
            }
            if self.crew.sh().level() != RUN {
                self.drain_queued();
                if self.delivery.in_flight == 0 {
                    continue;
                }
            }
            let crew = &self.crew;
            if crew.helps {
                if let Ok(chunk) = crew.ends.work.try_recv() {
                    let _slot = SlotGuard::enter(crew.caller_slot);
                    process_chunk(&crew.ends, chunk);
                    continue;
                }
            }
            let target = crew.received + self.delivery.in_flight as u64;
            crew.sh()
                .returned
                .wait_for(target, Duration::from_millis(100));
        }
    }

    /// Waits for a chunk's outcomes, at most a tick. Untracked runs help while they wait:
    /// they run queued chunks on this thread (as rayon's caller does) rather than sleep while
    /// the workers are busy.
    fn wait(&self) -> Result<Done<K::Output, I, K::Error>, RecvTimeoutError> {
        let crew = &self.crew;
        if crew.helps {
            loop {
                if let Ok(done) = crew.results.try_recv() {
                    return Ok(done);
                }
                let Ok(chunk) = crew.ends.work.try_recv() else {
                    break;
                };
                let _slot = SlotGuard::enter(crew.caller_slot);
                process_chunk(&crew.ends, chunk);
            }
        }
        match self.tick() {
            None => crew
                .results
                .recv()
                .map_err(|_| RecvTimeoutError::Disconnected),
            Some(t) => crew.results.recv_timeout(t),
        }
    }

    /// Commits the journal's open group if it is due (while the driver waits).
    fn commit_if_due(&mut self) {
        #[cfg(feature = "journal")]
        if let Output::Journaled(journal) = &mut self.output {
            if let Err(e) = journal.commit_if_due() {
                self.journal_failed(e);
            }
        }
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.summary.duration = self.started.elapsed();
        self.summary.retries = self.crew.sh().retries.load(Ordering::SeqCst);
        self.summary.stopped = self.crew.sh().stop_reason();
        self.summary.halted_by = self.crew.sh().halted_by();
        #[cfg(feature = "journal")]
        if let Output::Journaled(journal) = &mut self.output {
            if let Err(e) = journal.commit() {
                self.journal_failed(e);
            }
        }
        self.teardown(REASON_NONE);
        self.progress.sink.finish(Snapshot {
            done: self.summary.total,
            failed: self.summary.failed(),
            total: self.intake.total.or(Some(self.summary.total)),
        });
    }

    /// The halt condition met so far, and the item that met it (see [`Halt`]): known before
    /// that item's outcome is yielded, so a consumer can tell the trigger when it comes. The
    /// same as [`Summary::halted_by`] at the end.
    ///
    /// [`Halt`]: crate::batch::Halt
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::batch::{Batch, Halt};
    ///
    /// let mut s = Batch::new(|x: &u8| if *x == 2 { Err("two") } else { Ok(*x) })
    ///     .halt(Halt::soon().fail_count(1))
    ///     .workers(1)
    ///     .progress(false)
    ///     .stream(0..10u8)
    ///     .unwrap();
    /// while let Some((index, outcome)) = s.next() {
    ///     if outcome.is_err() && index == 2 {
    ///         assert_eq!(s.halted_by().unwrap().index, 2);
    ///     }
    /// }
    /// ```
    pub fn halted_by(&self) -> Option<HaltEvent> {
        self.crew.sh().halted_by()
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
        self.error.as_ref()
    }

    pub(crate) fn take_error(&mut self) -> Option<RunError> {
        self.error.take()
    }
}

impl<K: Task<I>, I, It> Stream<K, I, It> {
    /// Ends the run, at its end (`finish`) or when the stream is dropped early: stops the
    /// ticker, closes the work channel, stops the workers (`reason`: none at the end,
    /// cancelled when dropped), drops the queued chunks, hands the engine's own pool to the
    /// reaper, and drops the supervisor (its Ctrl-C handler with it). Workers go back to the
    /// shared pool as they see the work channel closed.
    fn teardown(&mut self, reason: u8) {
        if let Some(t) = self.progress.ticker.take() {
            t.stop();
        }
        self.crew.work = None;
        self.crew.sh().request_stop(NOW, reason);
        // Workers exit once the work channel is closed and empty.
        while self.crew.ends.work.try_recv().is_ok() {}
        if let Some(engine) = self.crew.engine.take() {
            engine.close();
        }
        self.supervisor = None;
    }
}

/// The keys of a chunk of `n` items, one per item; none (no start is recorded) when some item
/// has none: the journal failed while the chunk was filled, and the run is stopping.
#[cfg(feature = "journal")]
fn aligned(mut keys: Vec<String>, n: usize) -> Vec<String> {
    if keys.len() != n {
        keys.clear();
    }
    keys
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
        if !self.finished {
            self.teardown(REASON_CANCEL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Batch;

    #[test]
    fn taking_every_input_of_known_length_ends_the_intake() {
        // Taking as many inputs as the size hint said confirms the end at once.
        let mut intake = Intake::new(0..10u32);
        let mut items = Vec::new();
        intake.take(&mut items, 4);
        assert!(!intake.done);
        intake.take(&mut items, 6);
        assert!(intake.done, "the end is known without another take");
        assert_eq!(items, (0..10).collect::<Vec<_>>());
        // An iterator longer than its exact size hint: the input pulled to confirm the end is
        // kept, and handed out first.
        let mut intake = Intake::new((0..5u32).chain(5..8).filter(|_| true).take(8));
        intake.total = Some(5);
        let mut items = Vec::new();
        intake.take(&mut items, 5);
        assert!(!intake.done);
        assert_eq!(intake.extra, Some(5));
        intake.take(&mut items, 2);
        assert_eq!(intake.pull(), Some((7, 7)));
        assert_eq!(intake.pull(), None);
        assert!(intake.done);
        assert_eq!(items, (0..7).collect::<Vec<_>>());
    }

    #[test]
    fn a_worker_leaves_once_nothing_more_can_come() {
        // Two items, one each on two workers: the slow one waits until the driver has seen
        // the quick one's outcome. By then everything is handed out, so the work channel is
        // closed (a worker that finds it empty leaves instead of waiting for more).
        let (tx, rx) = crossbeam_channel::bounded::<()>(1);
        let mut s = Batch::infallible(move |i: &u32| {
            if *i == 1 {
                let _ = rx.recv_timeout(Duration::from_secs(60));
            }
            *i
        })
        .workers(2)
        .chunk_size(1)
        .caller_runs_items(false)
        .progress(false)
        .stream(0..2u32)
        .unwrap();
        let (index, first) = s.next().unwrap();
        assert_eq!((index, first.unwrap()), (0, 0));
        assert!(s.intake.done);
        assert!(s.crew.work.is_none(), "the work channel is still open");
        tx.send(()).unwrap();
        let (index, second) = s.next().unwrap();
        assert_eq!((index, second.unwrap()), (1, 1));
        assert!(s.next().is_none());
    }
}
