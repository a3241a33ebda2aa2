//! The worker side: [`Worker`] serves a batch with a function. The calling thread claims jobs
//! (one statement per claim, committed before anything runs); slot threads run them through
//! the local batch runner; `record.rs` has the recorder (outcomes, fenced) and the heartbeat
//! (leases, the batch's state), each on a connection of its own.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::blob::{Conns, JobContext};
use super::conn::{Conn, Target};
use super::record::{self, Rec, RecKind};
use super::stored::{Settings, Stored};
use super::DistError;
use crate::batch::{Batch, StopReason};

/// A job lost this many times (its lease ran out: its worker died or stalled) is not run
/// again: it is recorded as [`Cause::Crashed`](crate::batch::Cause::Crashed), as a local
/// isolated run reports an item whose process died.
pub(super) const MAX_LOST: i32 = 3;

/// The longest pause between two claims when the queue is empty (LISTEN/NOTIFY usually wakes
/// the worker earlier).
const MAX_IDLE_PAUSE: Duration = Duration::from_secs(1);
/// The first such pause.
const FIRST_IDLE_PAUSE: Duration = Duration::from_millis(20);

/// The claim (see `claim_loop`): $1 batch, $2 how many, $3 the lease in seconds, $4 the
/// worker's name.
const CLAIM: &str = "WITH open AS (
                        SELECT 1 FROM tk_batch b WHERE b.id = $1 AND b.state = 'open'
                     ),
                     expired AS (
                        SELECT id, state AS was FROM tk_job
                        WHERE batch = $1 AND state = 'running' AND locked_until < now()
                          AND EXISTS (SELECT 1 FROM open)
                        ORDER BY seq
                        LIMIT $2
                        FOR UPDATE SKIP LOCKED
                     ),
                     queued AS (
                        SELECT id, state AS was FROM tk_job
                        WHERE batch = $1 AND state = 'queued'
                          AND (not_before IS NULL OR not_before <= now())
                          AND EXISTS (SELECT 1 FROM open)
                        ORDER BY seq
                        LIMIT $2
                        FOR UPDATE SKIP LOCKED
                     ),
                     c AS (
                        SELECT id, was FROM (SELECT * FROM expired UNION ALL SELECT * FROM queued) u
                        LIMIT $2
                     )
                     UPDATE tk_job j SET state = 'running', attempt = j.attempt + 1,
                        lost = j.lost + (c.was = 'running')::int, token = nextval('tk_token'),
                        locked_until = now() + $3::float8 * interval '1 second', worker = $4
                     FROM c WHERE j.id = c.id
                     RETURNING j.id, j.seq, j.token, j.attempt, j.lost, j.input";

/// A worker process's side of distributed batches: connect, set the slots and the lease,
/// [`serve`](Worker::serve) a batch.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use threadkit::batch::dist::Worker;
///
/// let served = Worker::connect("postgres://threadkit@db.example/jobs")
///     .unwrap()
///     .workers(4)
///     .lease(Duration::from_secs(20))
///     .serve("squares-1", |x: &u32| -> Result<u32, String> { Ok(x * x) })
///     .unwrap();
/// println!("{served:?}");
/// ```
#[derive(Debug, Clone)]
pub struct Worker {
    target: Target,
    workers: usize,
    /// `None`: adapted to the jobs' length (see [`Worker::prefetch`]).
    prefetch: Option<usize>,
    lease: Duration,
    name: String,
}

/// What a worker did for a batch (returned by [`Worker::serve`] when the batch is over).
///
/// # Examples
///
/// ```
/// let s = threadkit::batch::dist::Served::default();
/// assert_eq!(s.ran + s.recorded + s.fenced, 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Served {
    /// Attempts this worker ran.
    pub ran: u64,
    /// Final outcomes it recorded (an attempt that is retried is not one).
    pub recorded: u64,
    /// Results it dropped because its lease had been lost and another attempt owned the job
    /// (fencing): the job's outcome is the other attempt's.
    pub fenced: u64,
    /// Failed attempts it put back in the queue for a retry.
    pub retried: u64,
    /// Jobs it had claimed and gave back unstarted (the batch halted or was cancelled).
    pub released: u64,
    /// Why the batch ended before every job was done, if it did.
    pub stopped: Option<StopReason>,
}

/// A job claimed by this worker.
#[derive(Debug)]
pub(super) struct Claimed {
    pub(super) id: i64,
    pub(super) seq: i64,
    pub(super) token: i64,
    pub(super) attempt: i32,
    pub(super) lost: i32,
    pub(super) input: Vec<u8>,
}

/// What every slot needs to make a job's [`JobContext`].
#[derive(Debug)]
struct Env {
    batch: Arc<str>,
    conns: Arc<Conns>,
}

/// The worker's state, shared by the claimer, the slots, the recorder and the heartbeat.
#[derive(Debug, Default)]
pub(super) struct Local {
    /// Claimed, not started.
    pub(super) queue: VecDeque<Claimed>,
    /// Every job this worker holds a lease on (claimed and not yet recorded): id -> token.
    pub(super) held: HashMap<i64, i64>,
    /// The batch is over for this worker: slots start nothing more (queued jobs are released).
    pub(super) stop: Option<Option<StopReason>>,
    /// No more claims: slots end when the queue is empty.
    pub(super) closing: bool,
    /// The first fatal error (a decode error, a lost database).
    pub(super) error: Option<DistError>,
}

/// [`Local`] and its condition variable, and the counts.
#[derive(Debug, Default)]
pub(super) struct Shared {
    pub(super) local: Mutex<Local>,
    pub(super) cv: Condvar,
    pub(super) ran: AtomicU64,
    /// A moving mean of the jobs' run time in nanoseconds (0: none ran yet), for the
    /// default prefetch.
    pub(super) mean_ns: AtomicU64,
    pub(super) recorded: AtomicU64,
    pub(super) fenced: AtomicU64,
    pub(super) retried: AtomicU64,
    pub(super) released: AtomicU64,
}

impl Shared {
    /// Ends the batch for this worker (keeping the first reason and the first error).
    pub(super) fn stop(&self, reason: Option<StopReason>, error: Option<DistError>) {
        let mut l = self.local.lock();
        l.stop.get_or_insert(reason);
        if l.error.is_none() {
            l.error = error;
        }
        drop(l);
        self.cv.notify_all();
    }
}

impl Worker {
    /// Connects to the database at `url` (creating or migrating the `tk_` tables) and makes a
    /// worker with one slot per core, a 30 s lease and the name `host:pid`.
    ///
    /// # Errors
    ///
    /// [`DistError::Connect`] when the URL is invalid or the database cannot be reached;
    /// [`DistError::Schema`] when a newer threadkit migrated it.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::batch::dist::{DistError, Worker};
    /// let e = Worker::connect("postgres://nobody@127.0.0.1:1/none?connect_timeout=2").unwrap_err();
    /// assert!(matches!(e, DistError::Connect { .. }), "{e}");
    /// ```
    pub fn connect(url: &str) -> Result<Worker, DistError> {
        let target = Target::parse(url)?;
        drop(Conn::open(&target, false)?);
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".to_owned());
        Ok(Worker {
            target,
            workers,
            prefetch: None,
            lease: Duration::from_secs(30),
            name: format!("{host}:{}", std::process::id()),
        })
    }

    /// Jobs run at a time (slot threads; at least 1). More are claimed ahead (see
    /// [`prefetch`](Worker::prefetch)), so a slot that finishes finds its next job at once.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let w = threadkit::batch::dist::Worker::connect("postgres://db.example/jobs").unwrap().workers(8);
    /// # let _ = w;
    /// ```
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// Jobs claimed ahead of the free slots. More makes short jobs faster (fewer claims, each
    /// a transaction) and spreads long ones less evenly over the workers at the end of a
    /// batch; their leases are renewed while they wait. By default it follows the jobs'
    /// length: three per slot, or as many as keep the slots busy for about
    /// [`AHEAD`](Worker::AHEAD) when the jobs are short (at most 16 per slot), following a
    /// moving mean of their run time; when the jobs turn out longer, the claimed jobs past
    /// twice that are given back to the queue unstarted (their attempt does not count), so a
    /// worker does not sit on work others could run.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let w = threadkit::batch::dist::Worker::connect("postgres://db.example/jobs").unwrap().prefetch(0);
    /// # let _ = w;
    /// ```
    pub fn prefetch(mut self, n: usize) -> Self {
        self.prefetch = Some(n);
        self
    }

    /// How much work, in time, the default [`prefetch`](Worker::prefetch) claims ahead for
    /// short jobs.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(threadkit::batch::dist::Worker::AHEAD.as_millis() > 0);
    /// ```
    pub const AHEAD: Duration = Duration::from_millis(200);

    /// Jobs to hold (running and claimed ahead) now: the slots, and the prefetch, set or
    /// adapted to the mean run time seen so far.
    fn room(&self, shared: &Shared) -> usize {
        let w = self.workers;
        let ahead = self.prefetch.unwrap_or_else(|| {
            let mean = shared.mean_ns.load(Ordering::Relaxed);
            if mean == 0 {
                return 3 * w;
            }
            let per_slot = (Self::AHEAD.as_nanos() as u64 / mean).min(16) as usize;
            (per_slot * w).max(3 * w)
        });
        w + ahead
    }

    /// How long a claim holds a job without a heartbeat (default 30 s; at least 300 ms). The
    /// heartbeat renews it every third of it while the job runs, so a long job is not a dead
    /// job; a worker that dies or stalls longer than this loses its jobs to other workers,
    /// and its late results are fenced off. A job's recovery after a crash takes about one
    /// lease. (A worker stopped inside one of its short transactions has it ended by the
    /// server after 5 s, so its row locks do not hold up the others for longer.)
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let w = threadkit::batch::dist::Worker::connect("postgres://db.example/jobs")
    ///     .unwrap()
    ///     .lease(Duration::from_secs(10));
    /// # let _ = w;
    /// ```
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(300));
        self
    }

    /// The name recorded with each claim (`tk_job.worker`; default `host:pid`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let w = threadkit::batch::dist::Worker::connect("postgres://db.example/jobs").unwrap().name("gpu-3");
    /// # let _ = w;
    /// ```
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    /// How long a lost connection may take to come back before [`serve`](Worker::serve) gives
    /// up with [`DistError::Lost`] (default 5 minutes). Meanwhile running jobs go on.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let w = threadkit::batch::dist::Worker::connect("postgres://db.example/jobs")
    ///     .unwrap()
    ///     .reconnect_for(std::time::Duration::from_secs(60));
    /// # let _ = w;
    /// ```
    pub fn reconnect_for(mut self, budget: Duration) -> Self {
        self.target.reconnect_for = budget;
        self
    }

    /// Serves batch `batch` with `f` until the batch is over: every job done, or the batch
    /// halted or cancelled (then this worker's running jobs finish and are recorded first).
    /// A worker started before the submitter waits for the batch to appear.
    ///
    /// Each job runs through the local batch runner, so a panic or an error is the job's
    /// failure (the same [`Cause`](crate::batch::Cause) as locally), and the batch's timeout
    /// and retries apply.
    ///
    /// # Errors
    ///
    /// [`DistError::Decode`] when a job's input is not an `I` (it is given back to the
    /// queue); [`DistError::Lost`] when the database stays away longer than the reconnect
    /// budget; a database error. The jobs this worker held are then recovered by others
    /// after their lease.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let served = threadkit::batch::dist::Worker::connect("postgres://db.example/jobs")
    ///     .unwrap()
    ///     .serve("b", |s: &String| -> Result<usize, String> { Ok(s.len()) })
    ///     .unwrap();
    /// assert_eq!(served.fenced, 0);
    /// ```
    pub fn serve<I, T, E, F>(&self, batch: &str, f: F) -> Result<Served, DistError>
    where
        I: DeserializeOwned + fmt::Debug + Send + 'static,
        T: Serialize + Send + 'static,
        E: Serialize + Send + 'static,
        F: Fn(&I) -> Result<T, E> + Send + Sync + 'static,
    {
        self.serve_with(batch, move |x: &I, _: &JobContext| f(x))
    }

    /// [`serve`](Worker::serve) with a function that also gets the [`JobContext`] of the job it
    /// runs: its position and attempt, and [`blob`](JobContext::blob) to store large bytes
    /// beside the outcome a chunk at a time (the outcome itself is one row, held whole in
    /// memory on both sides: keep it small and put the bulk in blobs).
    ///
    /// # Errors
    ///
    /// As [`serve`](Worker::serve).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use threadkit::batch::dist::{JobContext, Worker};
    ///
    /// let served = Worker::connect("postgres://db.example/jobs")
    ///     .unwrap()
    ///     .serve_with("b", |x: &u64, job: &JobContext| -> Result<u64, String> {
    ///         Ok(x + job.seq())
    ///     })
    ///     .unwrap();
    /// # let _ = served;
    /// ```
    pub fn serve_with<I, T, E, F>(&self, batch: &str, f: F) -> Result<Served, DistError>
    where
        I: DeserializeOwned + fmt::Debug + Send + 'static,
        T: Serialize + Send + 'static,
        E: Serialize + Send + 'static,
        F: Fn(&I, &JobContext) -> Result<T, E> + Send + Sync + 'static,
    {
        let mut conn = Conn::open(&self.target, true)?;
        let settings = Arc::new(wait_for_batch(&mut conn, batch)?);
        let shared = Arc::new(Shared::default());
        let (tx, rx) = crossbeam_channel::unbounded::<Rec>();
        let ctx = record::Context {
            target: self.target.clone(),
            batch: batch.to_owned(),
            lease: self.lease,
            halt: settings.halt,
            shared: shared.clone(),
        };
        let recorder = record::spawn_recorder(ctx.clone(), rx)?;
        let (heartbeat, stop_heartbeat) = record::spawn_heartbeat(ctx)?;
        let f = Arc::new(f);
        let env = Arc::new(Env {
            batch: batch.into(),
            conns: Arc::new(Conns::new(self.target.clone())),
        });
        let mut slots = Vec::with_capacity(self.workers);
        for k in 0..self.workers {
            let (mine, settings, tx, f) = (shared.clone(), settings.clone(), tx.clone(), f.clone());
            let env = env.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("tk-dist-slot-{k}"))
                .spawn(move || slot::<I, T, E, F>(&mine, (&settings, &env), &tx, &f));
            match spawned {
                Ok(handle) => slots.push(handle),
                Err(e) => {
                    // The claim loop sees the stop at once; the slots started end as usual.
                    let message = format!("cannot start a worker slot: {e}");
                    shared.stop(None, Some(DistError::Run { message }));
                    break;
                }
            }
        }
        if let Err(e) = self.claim_loop(&mut conn, (batch, tx), &shared) {
            shared.stop(None, Some(e));
        }
        shared.local.lock().closing = true;
        shared.cv.notify_all();
        for s in slots {
            let _ = s.join();
        }
        let _ = recorder.join();
        drop(stop_heartbeat);
        let _ = heartbeat.join();
        let mut l = shared.local.lock();
        if let Some(e) = l.error.take() {
            return Err(e);
        }
        Ok(Served {
            ran: shared.ran.load(Ordering::Relaxed),
            recorded: shared.recorded.load(Ordering::Relaxed),
            fenced: shared.fenced.load(Ordering::Relaxed),
            retried: shared.retried.load(Ordering::Relaxed),
            released: shared.released.load(Ordering::Relaxed),
            stopped: l.stop.flatten(),
        })
    }

    /// Claims jobs while the batch is open and this worker has room, until the batch is over
    /// for it.
    fn claim_loop(
        &self,
        conn: &mut Conn,
        (batch, tx): (&str, crossbeam_channel::Sender<Rec>),
        shared: &Shared,
    ) -> Result<(), DistError> {
        let lease_s = self.lease.as_secs_f64();
        let name = self.name.as_str();
        let mut pause = FIRST_IDLE_PAUSE;
        loop {
            let free = {
                let mut l = shared.local.lock();
                if l.stop.is_some() {
                    return Ok(());
                }
                // Claim in batches (half the room at a time) unless idle: one statement and
                // one commit per claim is what bounds the throughput of short jobs.
                // Jobs being recorded count: what runs past a halt or a cancel is bounded
                // by the room (the recorder is where a halt is judged).
                let room = self.room(shared);
                let holding = l.held.len();
                // Jobs that turned out longer than the claim expected: give back those past
                // twice the room, unstarted, so that other workers can run them.
                let keep = 2 * room - self.workers;
                while self.prefetch.is_none() && l.queue.len() > keep {
                    let job = l.queue.pop_back().expect("longer than keep");
                    let _ = tx.send(Rec::of(&job, RecKind::Release));
                }
                let free = room.saturating_sub(holding);
                if free == 0 || (free < room.div_ceil(2) && holding > 0) {
                    shared.cv.wait_for(&mut l, Duration::from_secs(1));
                    continue;
                }
                free as i64
            };
            let claimed = conn.run_prepared([CLAIM], |c, [claim]| {
                let mut tx = c.transaction()?;
                // A claim lost in a server crash only puts the job back in the queue (its
                // token is gone, so our result would be fenced): no need to wait for the disk.
                tx.batch_execute("SET LOCAL synchronous_commit = off")?;
                // Two scans of the index (batch, state, seq), each reading only its own state:
                // one over both states with `OR` walked (batch, seq) and filtered out every
                // done job on every claim (11 ms per claim at 19,000 done of 20,000, O(n²)
                // over a batch). Expired leases first: they are the oldest work. `FOR UPDATE`
                // is not allowed under `UNION`, so each branch is a CTE of its own; CTEs
                // without writes run only as far as the outer `LIMIT` reads them.
                let rows = tx.query(claim, &[&batch, &free, &lease_s, &name])?;
                tx.commit()?;
                Ok(rows
                    .into_iter()
                    .map(|r| Claimed {
                        id: r.get(0),
                        seq: r.get(1),
                        token: r.get(2),
                        attempt: r.get(3),
                        lost: r.get(4),
                        input: r.get(5),
                    })
                    .collect::<Vec<_>>())
            })?;
            if !claimed.is_empty() {
                let mut l = shared.local.lock();
                for job in claimed {
                    l.held.insert(job.id, job.token);
                    l.queue.push_back(job);
                }
                drop(l);
                shared.cv.notify_all();
                pause = FIRST_IDLE_PAUSE;
                continue;
            }
            let state = batch_state(conn, batch)?;
            if state != "open" {
                shared.stop(record::stop_reason(&state), None);
                return Ok(());
            }
            conn.wait_notification(batch, pause);
            pause = (pause * 2).min(MAX_IDLE_PAUSE);
        }
    }
}

/// The batch's state.
fn batch_state(conn: &mut Conn, batch: &str) -> Result<String, DistError> {
    conn.run(|c| {
        let row = c.query_one("SELECT state FROM tk_batch WHERE id = $1", &[&batch])?;
        Ok(row.get(0))
    })
}

/// Waits until batch `batch` exists (a worker may start before its submitter) and reads its
/// settings.
fn wait_for_batch(conn: &mut Conn, batch: &str) -> Result<Settings, DistError> {
    let mut pause = FIRST_IDLE_PAUSE;
    loop {
        let row = conn.run(|c| {
            c.query_opt(
                "SELECT halt, max_attempts, backoff_ms, timeout_ms FROM tk_batch WHERE id = $1",
                &[&batch],
            )
        })?;
        if let Some(row) = row {
            let halt = Settings::parse_halt(row.get::<_, Option<&str>>(0))
                .map_err(|message| DistError::Database { message })?;
            return Ok(Settings {
                halt,
                max_attempts: row.get::<_, i32>(1).max(1) as u32,
                backoff_ms: row.get(2),
                timeout: row
                    .get::<_, Option<i64>>(3)
                    .map(|ms| Duration::from_millis(ms.max(0) as u64)),
            });
        }
        conn.wait_notification(batch, pause);
        pause = (pause * 2).min(MAX_IDLE_PAUSE);
    }
}

/// A slot thread: takes claimed jobs and runs them, until the worker closes; once the batch
/// is over for this worker, gives back the jobs it did not start.
fn slot<I, T, E, F>(
    shared: &Shared,
    (settings, env): (&Settings, &Env),
    tx: &crossbeam_channel::Sender<Rec>,
    f: &Arc<F>,
) where
    I: DeserializeOwned + fmt::Debug + Send + 'static,
    T: Serialize + Send + 'static,
    E: Serialize + Send + 'static,
    F: Fn(&I, &JobContext) -> Result<T, E> + Send + Sync + 'static,
{
    loop {
        let job = {
            let mut l = shared.local.lock();
            loop {
                if l.stop.is_some() {
                    while let Some(job) = l.queue.pop_front() {
                        let _ = tx.send(Rec::of(&job, RecKind::Release));
                    }
                }
                if let Some(job) = l.queue.pop_front() {
                    break job;
                }
                if l.closing || l.stop.is_some() {
                    return;
                }
                shared.cv.wait(&mut l);
            }
        };
        let kind = match run_job::<I, T, E, F>(&job, (settings, env), f, shared) {
            Ok(kind) => kind,
            Err(e) => {
                shared.stop(None, Some(e));
                RecKind::Release
            }
        };
        let _ = tx.send(Rec::of(&job, kind));
    }
}

/// Runs one job through the local batch runner (counting it in `ran`) and says what to
/// record: its outcome, a retry, or (a job that did not run) a release.
fn run_job<I, T, E, F>(
    job: &Claimed,
    (settings, env): (&Settings, &Env),
    f: &Arc<F>,
    shared: &Shared,
) -> Result<RecKind, DistError>
where
    I: DeserializeOwned + fmt::Debug + Send + 'static,
    T: Serialize + Send + 'static,
    E: Serialize + Send + 'static,
    F: Fn(&I, &JobContext) -> Result<T, E> + Send + Sync + 'static,
{
    if job.lost > MAX_LOST {
        let stored = Stored::<T, E>::Crashed {
            message: format!(
                "its worker was lost {} times (killed, or stalled past its lease)",
                job.lost
            ),
        };
        return Ok(done(stored));
    }
    let input: I = postcard::from_bytes(&job.input).map_err(|e| DistError::Decode {
        seq: job.seq as u64,
        message: e.to_string(),
    })?;
    let f = f.clone();
    let cx = JobContext {
        batch: env.batch.clone(),
        seq: job.seq as u64,
        attempt: job.attempt.max(1) as u32,
        token: job.token,
        conns: env.conns.clone(),
    };
    let mut b = Batch::new(move |x: &I| f(x, &cx))
        .workers(1)
        .chunk_size(1)
        .progress(false);
    if let Some(t) = settings.timeout {
        b = b.timeout(t);
    }
    shared.ran.fetch_add(1, Ordering::Relaxed);
    let started = std::time::Instant::now();
    let report = b.run(std::iter::once(input)).map_err(|e| DistError::Run {
        message: e.to_string(),
    });
    // A moving mean (weight 1/4 for the newest, so that jobs turning long shrink the room
    // within a job or two): slots racing here lose an update at worst, which a mean can
    // afford.
    let took = started.elapsed().as_nanos().clamp(1, u64::MAX as u128) as u64;
    let mean = shared.mean_ns.load(Ordering::Relaxed);
    let mean = if mean == 0 {
        took
    } else {
        (mean - mean / 4).saturating_add(took / 4).max(1)
    };
    shared.mean_ns.store(mean, Ordering::Relaxed);
    let report = report?;
    let stored = match report.into_outcomes().pop() {
        Some(Ok(v)) => Stored::Value(v),
        Some(Err(failure)) => match Stored::of_cause(failure.cause) {
            Some(s) => s,
            None => return Ok(RecKind::Release),
        },
        None => return Ok(RecKind::Release),
    };
    let attempts = (job.attempt - job.lost).max(1) as u32;
    if stored.retryable() && attempts < settings.max_attempts {
        return Ok(RecKind::Retry {
            after: settings.backoff(attempts),
        });
    }
    Ok(done(stored))
}

/// The record of a final outcome (an outcome that cannot be encoded is recorded as a crash
/// saying so: never lost).
fn done<T: Serialize, E: Serialize>(stored: Stored<T, E>) -> RecKind {
    let failed = !matches!(stored, Stored::Value(_));
    let bytes = postcard::to_stdvec(&stored).unwrap_or_else(|e| {
        let crash = Stored::<T, E>::Crashed {
            message: format!("the outcome could not be encoded: {e}"),
        };
        postcard::to_stdvec(&crash).unwrap_or_default()
    });
    RecKind::Done {
        outcome: bytes,
        failed: failed || matches!(stored, Stored::Crashed { .. }),
    }
}
