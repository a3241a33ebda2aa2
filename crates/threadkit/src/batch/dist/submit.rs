//! The submitting side: [`Queue`] (a database to submit to) and [`Submit`] (one batch's
//! settings): enqueue the inputs once, follow the batch until every input has an outcome,
//! and build the same [`Report`] a local run returns.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::conn::{Conn, Target, CHANNEL};
use super::stored::{fingerprint, Settings, Stored};
use super::DistError;
use crate::batch::outcome::{failed, Summary};
use crate::batch::{Cause, FailedInput, FailurePolicy, HaltWhen, Report, Retry, StopReason};
use crate::progress::{Bar, ProgressSink, Snapshot};

/// One look at a batch being followed: $1 the batch.
const LOOK: &str = "SELECT state, total, done, failed,
                        CASE WHEN state IN ('halting', 'cancelled') THEN
                            (SELECT count(*) FROM tk_job WHERE batch = $1 AND state = 'running'
                             AND locked_until > now())
                        ELSE 0 END
                     FROM tk_batch WHERE id = $1";

/// The next page of outcomes to hand over: $1 batch, $2 the low-water mark, $3 the seqs past
/// it handed over already, $4 the page size.
const PAGE_SQL: &str = "SELECT seq, attempt, outcome, token FROM tk_job
                     WHERE batch = $1 AND state = 'done' AND seq >= $2 AND seq <> ALL($3)
                     ORDER BY seq LIMIT $4";

/// Outcomes read per statement while following a batch.
const PAGE: usize = 64;
/// The shortest time between two looks at a batch while following it: outcomes recorded
/// meanwhile are read together (each worker notifies once per recorded group).
const MIN_LOOK: Duration = Duration::from_millis(40);
/// Rows per `INSERT` when enqueueing.
const INSERT_CHUNK: usize = 5_000;
/// The longest wait between two looks at the batch while following it (also the progress
/// bar's refresh when no notification comes).
const FOLLOW_TICK: Duration = Duration::from_millis(200);

/// A PostgreSQL database to submit batches to (and cancel them).
///
/// # Examples
///
/// ```no_run
/// use threadkit::batch::dist::Queue;
///
/// let queue = Queue::connect("postgres://threadkit@db.example/jobs").unwrap();
/// let report: threadkit::batch::Report<u32, u32, String> =
///     queue.submit("squares-1", vec![1u32, 2, 3]).unwrap();
/// println!("{report}");
/// ```
pub struct Queue {
    target: Target,
    conn: parking_lot::Mutex<Conn>,
    /// For [`Queue::read_blob`], opened on first use: a callback of
    /// [`run_each`](Submit::run_each) may read blobs while `conn` follows the batch.
    blobs: parking_lot::Mutex<Option<Conn>>,
}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue").finish_non_exhaustive()
    }
}

impl Queue {
    /// Connects to the database at `url` (`postgres://user[:password]@host[:port]/database`,
    /// or libpq's `key=value` form) and creates or migrates the `tk_` tables.
    ///
    /// # Errors
    ///
    /// [`DistError::Connect`] when the URL is invalid or the database cannot be reached;
    /// [`DistError::Schema`] when the database was migrated by a newer threadkit.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::batch::dist::{DistError, Queue};
    /// let e = Queue::connect("not a url").unwrap_err();
    /// assert!(matches!(e, DistError::Connect { .. }), "{e}");
    /// ```
    pub fn connect(url: &str) -> Result<Queue, DistError> {
        let target = Target::parse(url)?;
        let conn = Conn::open(&target, false)?;
        Ok(Queue {
            target,
            conn: parking_lot::Mutex::new(conn),
            blobs: parking_lot::Mutex::new(None),
        })
    }

    /// The settings of batch `id`, to change before [`run`](Submit::run): failure policy,
    /// retries, timeout, progress.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use threadkit::batch::{dist::Queue, FailurePolicy, Report, Retry};
    ///
    /// let queue = Queue::connect("postgres://threadkit@db.example/jobs").unwrap();
    /// let report: Report<u32, u32, String> = queue
    ///     .batch("nightly-42")
    ///     .on_failure("soon,fail=5".parse::<FailurePolicy>().unwrap())
    ///     .retry(Retry::new(2))
    ///     .run(0..100u32)
    ///     .unwrap();
    /// # let _ = report;
    /// ```
    pub fn batch(&self, id: &str) -> Submit<'_> {
        Submit {
            queue: self,
            id: id.to_owned(),
            policy: FailurePolicy::CollectAll,
            retry: Retry::new(0),
            timeout: None,
            progress: Some(None),
        }
    }

    /// Submits `inputs` as batch `id` with the default settings and follows it to the end:
    /// [`batch(id)`](Queue::batch)`.`[`run(inputs)`](Submit::run).
    ///
    /// # Errors
    ///
    /// See [`Submit::run`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let queue = threadkit::batch::dist::Queue::connect("postgres://db.example/jobs").unwrap();
    /// let report: threadkit::batch::Report<u8, u8, String> = queue.submit("b", [1u8, 2]).unwrap();
    /// assert_eq!(report.len(), 2);
    /// ```
    pub fn submit<I, T, E>(
        &self,
        id: &str,
        inputs: impl IntoIterator<Item = I>,
    ) -> Result<Report<T, I, E>, DistError>
    where
        I: Serialize,
        T: DeserializeOwned,
        E: DeserializeOwned,
    {
        self.batch(id).run(inputs)
    }

    /// Cancels batch `id`: every worker stops claiming its jobs (their running jobs finish and
    /// are recorded), and its submitter reports the jobs never started as
    /// [`Cause::NotStarted`]. Whether the batch was still running (`false`: it had ended).
    ///
    /// # Errors
    ///
    /// [`DistError::UnknownBatch`] when no batch has this id; a database error.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let queue = threadkit::batch::dist::Queue::connect("postgres://db.example/jobs").unwrap();
    /// queue.cancel("nightly-42").unwrap();
    /// ```
    pub fn cancel(&self, id: &str) -> Result<bool, DistError> {
        let (changed, exists) = self.conn.lock().run(|c| {
            let mut tx = c.transaction()?;
            let changed = tx.execute(
                "UPDATE tk_batch SET state = 'cancelled' WHERE id = $1 AND state IN ('open', 'halting')",
                &[&id],
            )?;
            let exists = tx
                .query_opt("SELECT 1 FROM tk_batch WHERE id = $1", &[&id])?
                .is_some();
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &id])?;
            tx.commit()?;
            Ok((changed > 0, exists))
        })?;
        if !exists {
            return Err(DistError::UnknownBatch {
                batch: id.to_owned(),
            });
        }
        Ok(changed)
    }
}

impl Queue {
    /// Deletes batch `id` and its jobs from the database (a batch id to use afresh, as GNU
    /// parallel's `--sqlmaster` recreates its table). Whether there was such a batch. Workers
    /// serving it find no more jobs; a submitter following it fails with
    /// [`DistError::UnknownBatch`] or a database error.
    ///
    /// # Errors
    ///
    /// A database error.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let queue = threadkit::batch::dist::Queue::connect("postgres://db.example/jobs").unwrap();
    /// queue.forget("nightly-41").unwrap();
    /// ```
    pub fn forget(&self, id: &str) -> Result<bool, DistError> {
        let n = self.conn.lock().run(|c| {
            let mut tx = c.transaction()?;
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
                &[&id],
            )?;
            let n = tx.execute("DELETE FROM tk_batch WHERE id = $1", &[&id])?;
            tx.commit()?;
            Ok(n)
        })?;
        Ok(n > 0)
    }

    /// Opens batch `id` again after it stopped (halted, cancelled, or its submitter died),
    /// so that the next submitter following it has its remaining jobs run; with
    /// `rerun_failed`, the jobs recorded as failed are queued again too (their outcome and
    /// attempts cleared). How many jobs were queued again; `Ok(0)` when there is no such
    /// batch (nothing to resume).
    ///
    /// # Errors
    ///
    /// A database error.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let queue = threadkit::batch::dist::Queue::connect("postgres://db.example/jobs").unwrap();
    /// let again = queue.reopen("nightly-41", true).unwrap();
    /// println!("{again} failed jobs run again");
    /// ```
    pub fn reopen(&self, id: &str, rerun_failed: bool) -> Result<u64, DistError> {
        let n = self.conn.lock().run(|c| {
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", &[&id])?;
            let n = if rerun_failed {
                tx.execute(
                    "DELETE FROM tk_blob b USING tk_job j
                     WHERE b.batch = $1 AND j.batch = $1 AND b.seq = j.seq
                       AND j.state = 'done' AND j.failed",
                    &[&id],
                )?;
                tx.execute(
                    "UPDATE tk_job SET state = 'queued', outcome = NULL, failed = NULL, token = NULL,
                            locked_until = NULL, not_before = NULL, worker = NULL, attempt = 0
                     WHERE batch = $1 AND state = 'done' AND failed",
                    &[&id],
                )?
            } else {
                0
            };
            tx.execute(
                "UPDATE tk_batch SET done = done - $2, failed = failed - $2,
                        state = CASE WHEN done - $2 >= total THEN 'done' ELSE 'open' END,
                        opened_token = nextval('tk_token')
                 WHERE id = $1",
                &[&id, &(n as i64)],
            )?;
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &id])?;
            tx.commit()?;
            Ok(n)
        })?;
        Ok(n)
    }

    /// Reads blob `blob` of batch `id` (written by a job with
    /// [`JobContext::blob`](super::JobContext::blob), found in its outcome) and hands its bytes
    /// to `out` a chunk at a time ([`CHUNK`](super::CHUNK) bytes at most): the blob is never
    /// whole in memory. Its length. Safe to call from a [`run_each`](Submit::run_each)
    /// callback (blobs are read on a connection of their own).
    ///
    /// # Errors
    ///
    /// [`DistError::Decode`] when a chunk is missing (the batch was deleted or the job queued
    /// again meanwhile); [`DistError::Write`] with the first error of `out`; a database error.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::io::Write;
    /// use threadkit::batch::dist::{Blob, Done, Queue};
    ///
    /// let queue = Queue::connect("postgres://db.example/jobs").unwrap();
    /// queue
    ///     .batch("logs")
    ///     .run_each(vec![10u64, 20], |d: Done<Blob, String>| {
    ///         if let Ok(blob) = d.result {
    ///             let mut stdout = std::io::stdout();
    ///             queue.read_blob("logs", &blob, &mut |b| stdout.write_all(b)).unwrap();
    ///         }
    ///     })
    ///     .unwrap();
    /// ```
    pub fn read_blob(
        &self,
        id: &str,
        blob: &super::Blob,
        out: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<u64, DistError> {
        let mut slot = self.blobs.lock();
        if slot.is_none() {
            *slot = Some(Conn::open(&self.target, false)?);
        }
        super::blob::read(slot.as_mut().expect("just opened"), id, blob, out)
    }
}

/// One batch to submit: its id and settings (made by [`Queue::batch`]). The settings are part
/// of the batch: every worker reads them from the database.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use threadkit::batch::{dist::Queue, Report};
///
/// let queue = Queue::connect("postgres://db.example/jobs").unwrap();
/// let r: Report<u8, u8, String> =
///     queue.batch("b").timeout(Duration::from_secs(60)).progress(false).run([1u8]).unwrap();
/// # let _ = r;
/// ```
pub struct Submit<'q> {
    queue: &'q Queue,
    id: String,
    policy: FailurePolicy,
    retry: Retry,
    timeout: Option<Duration>,
    /// `None`: no progress; `Some(None)`: the stderr bar; `Some(Some(sink))`: that sink.
    progress: Option<Option<Arc<dyn ProgressSink>>>,
}

impl fmt::Debug for Submit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Submit")
            .field("id", &self.id)
            .field("policy", &self.policy)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// One job's outcome as [`Submit::run_each`] hands it over.
///
/// # Examples
///
/// ```no_run
/// # let queue = threadkit::batch::dist::Queue::connect("postgres://db.example/jobs").unwrap();
/// queue
///     .batch("b")
///     .run_each(0..10u64, |d: threadkit::batch::dist::Done<u64, String>| {
///         if !d.earlier {
///             println!("job {} after {} attempts: {:?}", d.seq, d.attempts, d.result);
///         }
///     })
///     .unwrap();
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Done<T, E> {
    /// The job's position in the batch, from 0.
    pub seq: u64,
    /// Its attempts (0 when it never started).
    pub attempts: u32,
    /// Its value, or its failure's cause.
    pub result: Result<T, Cause<E>>,
    /// Finished in an earlier run: claimed before the batch was last reopened
    /// ([`Queue::reopen`]: a resumed batch), or, for a batch never reopened, recorded before
    /// this submitter started following it (a batch followed again).
    pub earlier: bool,
}

/// What [`Submit::follow`] found at the end.
struct End {
    state: String,
    total: u64,
}

impl Submit<'_> {
    /// What to do when jobs fail (default [`FailurePolicy::CollectAll`]); a halt counts
    /// failures across all workers, in the database.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let queue = threadkit::batch::dist::Queue::connect("postgres://db.example/jobs").unwrap();
    /// let s = queue.batch("b").on_failure(threadkit::batch::FailurePolicy::FailFast);
    /// # let _ = s;
    /// ```
    pub fn on_failure(mut self, policy: FailurePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Retries failed attempts (errors and panics): the job goes back to the queue, not to be
    /// claimed before its backoff, by any worker.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let queue = threadkit::batch::dist::Queue::connect("postgres://db.example/jobs").unwrap();
    /// let s = queue.batch("b").retry(threadkit::batch::Retry::new(3));
    /// # let _ = s;
    /// ```
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// Reports an attempt running longer than `timeout` as [`Cause::Timeout`] (see
    /// [`Batch::timeout`](crate::batch::Batch::timeout): the worker's thread is not killed).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let queue = threadkit::batch::dist::Queue::connect("postgres://db.example/jobs").unwrap();
    /// let s = queue.batch("b").timeout(std::time::Duration::from_secs(30));
    /// # let _ = s;
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Shows the bar on stderr while following (`true`, the default; hidden anyway when stderr
    /// is not a terminal) or nothing.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let queue = threadkit::batch::dist::Queue::connect("postgres://db.example/jobs").unwrap();
    /// let s = queue.batch("b").progress(false);
    /// # let _ = s;
    /// ```
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on.then_some(None);
        self
    }

    /// Shows progress on `sink` instead of the stderr bar.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let queue = threadkit::batch::dist::Queue::connect("postgres://db.example/jobs").unwrap();
    /// let s = queue.batch("b").progress_sink(std::sync::Arc::new(threadkit::progress::Silent));
    /// # let _ = s;
    /// ```
    pub fn progress_sink(mut self, sink: Arc<dyn ProgressSink>) -> Self {
        self.progress = Some(Some(sink));
        self
    }

    /// Enqueues `inputs` as this batch (unless it was submitted before with the same inputs
    /// and settings: then it only follows it), follows it until every input has an outcome,
    /// and returns the report: every input one outcome, in input order. With a halt or a
    /// cancellation, jobs never started are [`Cause::NotStarted`]; with `--halt now`, jobs
    /// still running are [`Cause::Cancelled`].
    ///
    /// # Errors
    ///
    /// [`DistError::Mismatch`] when the id was used for other inputs or settings;
    /// [`DistError::Encode`] / [`DistError::Decode`] for values serde cannot carry (or a
    /// worker with other types); [`DistError::Lost`] when the database stays away longer
    /// than the reconnect budget (the batch goes on: submit again to resume following).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let queue = threadkit::batch::dist::Queue::connect("postgres://db.example/jobs").unwrap();
    /// let r: threadkit::batch::Report<u64, u64, String> = queue.batch("b").run(0..10u64).unwrap();
    /// assert_eq!(r.len(), 10);
    /// ```
    pub fn run<I, T, E>(
        self,
        inputs: impl IntoIterator<Item = I>,
    ) -> Result<Report<T, I, E>, DistError>
    where
        I: Serialize,
        T: DeserializeOwned,
        E: DeserializeOwned,
    {
        let started = Instant::now();
        let inputs: Vec<I> = inputs.into_iter().collect();
        let encoded = inputs
            .iter()
            .map(postcard::to_stdvec)
            .collect::<Result<Vec<Vec<u8>>, _>>()
            .map_err(|e| DistError::Encode {
                message: e.to_string(),
            })?;
        let settings = Settings::new(self.policy, self.retry, self.timeout);
        let mut conn = Conn::open(&self.queue.target, true)?;
        self.enqueue(&mut conn, &encoded, &settings)?;
        drop(encoded);
        let end = self.follow(&mut conn, &settings, &mut |_| Ok(()))?;
        let mut report = self.collect(&mut conn, inputs, &end)?;
        report.summary.duration = started.elapsed();
        Ok(report)
    }

    /// Like [`run`](Submit::run), but hands each job's outcome to `each` as soon as it is
    /// recorded (in the order they are recorded, not input order), and keeps none of them:
    /// memory does not grow with the outcomes. Every input is handed over exactly once
    /// ([`Done`]), those never started (a halt, a cancellation) at the end as
    /// [`Cause::NotStarted`] (or [`Cause::Cancelled`] when still running under `--halt
    /// now`); jobs recorded before this call are handed over first, marked
    /// [`earlier`](Done::earlier). Returns why the batch stopped early, if it did.
    ///
    /// # Errors
    ///
    /// As [`run`](Submit::run).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let queue = threadkit::batch::dist::Queue::connect("postgres://db.example/jobs").unwrap();
    /// let stopped = queue
    ///     .batch("b")
    ///     .run_each(0..10u64, |d: threadkit::batch::dist::Done<u64, String>| {
    ///         println!("{}: {:?}", d.seq, d.result);
    ///     })
    ///     .unwrap();
    /// assert!(stopped.is_none());
    /// ```
    pub fn run_each<I, T, E>(
        self,
        inputs: impl IntoIterator<Item = I>,
        mut each: impl FnMut(Done<T, E>),
    ) -> Result<Option<StopReason>, DistError>
    where
        I: Serialize,
        T: DeserializeOwned,
        E: DeserializeOwned,
    {
        let encoded = inputs
            .into_iter()
            .map(|i| postcard::to_stdvec(&i))
            .collect::<Result<Vec<Vec<u8>>, _>>()
            .map_err(|e| DistError::Encode {
                message: e.to_string(),
            })?;
        let total = encoded.len();
        let settings = Settings::new(self.policy, self.retry, self.timeout);
        let mut conn = Conn::open(&self.queue.target, true)?;
        let created = self.enqueue(&mut conn, &encoded, &settings)?;
        drop(encoded);
        let id = self.id.clone();
        // Outcomes claimed before the batch was last reopened are a resumed batch's, whenever
        // they are read: a worker may record a job queued again before this first look.
        let cutoff = if created {
            None
        } else {
            conn.run(|c| {
                let row = c.query_one("SELECT opened_token FROM tk_batch WHERE id = $1", &[&id])?;
                Ok(row.get::<_, Option<i64>>(0))
            })?
        };
        let mut seen = Seen {
            given: vec![false; total],
            low: 0,
            earlier: true,
            cutoff,
        };
        if !created {
            seen.deliver(&mut conn, &id, &mut each)?;
        }
        seen.earlier = false;
        let mut deliver =
            |conn: &mut Conn, each: &mut dyn FnMut(Done<T, E>)| seen.deliver(conn, &id, each);
        let end = self.follow(&mut conn, &settings, &mut |c| deliver(c, &mut each))?;
        deliver(&mut conn, &mut each)?;
        // The rest never got an outcome: running (abandoned by `--halt now`) or never started.
        let running: Vec<i64> = conn
            .run(|c| {
                c.query(
                    "SELECT seq FROM tk_job WHERE batch = $1 AND state = 'running'",
                    &[&id],
                )
            })?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for (seq, given) in seen.given.iter().enumerate() {
            if !given {
                let cause = if running.contains(&(seq as i64)) {
                    Cause::Cancelled
                } else {
                    Cause::NotStarted
                };
                each(Done {
                    seq: seq as u64,
                    attempts: 0,
                    result: Err(cause),
                    earlier: false,
                });
            }
        }
        Ok(match end.state.as_str() {
            "halting" => Some(StopReason::Halted),
            "cancelled" => Some(StopReason::Cancelled),
            _ => None,
        })
    }

    /// Writes the batch and its jobs in one transaction, unless the batch exists (same
    /// fingerprint: nothing to do; another one: [`DistError::Mismatch`]). Whether it wrote
    /// them.
    fn enqueue(
        &self,
        conn: &mut Conn,
        encoded: &[Vec<u8>],
        settings: &Settings,
    ) -> Result<bool, DistError> {
        let fp = fingerprint(encoded.iter().map(|v| &v[..]), settings);
        let id = self.id.as_str();
        let same = conn.run(|c| {
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", &[&id])?;
            if let Some(row) = tx.query_opt("SELECT fingerprint FROM tk_batch WHERE id = $1", &[&id])? {
                return Ok(Some(row.get::<_, &str>(0) == fp));
            }
            let timeout_ms = settings.timeout.map(|t| t.as_millis() as i64);
            // A batch without jobs is done from the start (no worker would ever say so).
            tx.execute(
                "INSERT INTO tk_batch (id, fingerprint, total, halt, max_attempts, backoff_ms, timeout_ms,
                                       state)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $3::bigint = 0 THEN 'done' ELSE 'open' END)",
                &[
                    &id,
                    &fp,
                    &(encoded.len() as i64),
                    &settings.halt_text(),
                    &(settings.max_attempts as i32),
                    &settings.backoff_ms,
                    &timeout_ms,
                ],
            )?;
            for (k, chunk) in encoded.chunks(INSERT_CHUNK).enumerate() {
                let first = (k * INSERT_CHUNK) as i64;
                let seqs: Vec<i64> = (first..first + chunk.len() as i64).collect();
                tx.execute(
                    "INSERT INTO tk_job (batch, seq, input)
                     SELECT $1, s, i FROM unnest($2::bigint[], $3::bytea[]) AS u (s, i)",
                    &[&id, &seqs, &chunk],
                )?;
            }
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &id])?;
            tx.commit()?;
            Ok(None)
        })?;
        if same == Some(false) {
            return Err(DistError::Mismatch {
                batch: self.id.clone(),
            });
        }
        Ok(same.is_none())
    }

    /// Follows the batch until it is done, or stopped (halted, cancelled) with no job still
    /// running under a live lease (with `--halt now`, at once), showing progress.
    /// `tick` runs after each look at the batch (also the last one), on the same connection.
    fn follow(
        &self,
        conn: &mut Conn,
        settings: &Settings,
        tick: &mut dyn FnMut(&mut Conn) -> Result<(), DistError>,
    ) -> Result<End, DistError> {
        let sink: Option<Arc<dyn ProgressSink>> = match &self.progress {
            None => None,
            Some(None) => Some(Arc::new(Bar::stderr())),
            Some(Some(s)) => Some(s.clone()),
        };
        let now_halt = settings.halt.is_some_and(|h| h.when == HaltWhen::Now);
        let id = self.id.as_str();
        let mut started = false;
        loop {
            let (state, total, done, failed, live) = conn.run_prepared([LOOK], |c, [look]| {
                let row = c.query_one(look, &[&id])?;
                Ok((
                    row.get::<_, String>(0),
                    row.get::<_, i64>(1) as u64,
                    row.get::<_, i64>(2) as u64,
                    row.get::<_, i64>(3) as u64,
                    row.get::<_, i64>(4),
                ))
            })?;
            let snap = Snapshot {
                done,
                failed,
                total: Some(total),
            };
            if let Some(s) = &sink {
                if !started {
                    s.start(Some(total));
                    started = true;
                }
                s.update(snap);
            }
            tick(conn)?;
            let over = match state.as_str() {
                "done" => true,
                "halting" if now_halt => true,
                "halting" | "cancelled" => live == 0,
                _ => false,
            };
            if over {
                if let Some(s) = &sink {
                    s.finish(snap);
                }
                return Ok(End { state, total });
            }
            let looked = Instant::now();
            conn.wait_notification(id, FOLLOW_TICK);
            if let Some(rest) = MIN_LOOK.checked_sub(looked.elapsed()) {
                std::thread::sleep(rest);
            }
        }
    }

    /// Reads every job's outcome, in input order, into the report.
    fn collect<I, T, E>(
        &self,
        conn: &mut Conn,
        inputs: Vec<I>,
        end: &End,
    ) -> Result<Report<T, I, E>, DistError>
    where
        T: DeserializeOwned,
        E: DeserializeOwned,
    {
        let id = self.id.as_str();
        let rows = conn.run(|c| {
            c.query(
                "SELECT seq, state, attempt, outcome FROM tk_job WHERE batch = $1 ORDER BY seq",
                &[&id],
            )
        })?;
        if rows.len() != inputs.len() || end.total != inputs.len() as u64 {
            return Err(DistError::Database {
                message: format!(
                    "batch {id:?} has {} jobs in the database, {} inputs were given",
                    rows.len(),
                    inputs.len()
                ),
            });
        }
        let mut report = Report {
            values: Vec::with_capacity(inputs.len()),
            failures: Vec::new(),
            summary: Summary::default(),
        };
        for (row, input) in rows.iter().zip(inputs) {
            let seq = row.get::<_, i64>(0) as u64;
            let attempts = row.get::<_, i32>(2).max(0) as u32;
            let input = FailedInput::Value(input);
            let outcome = match (row.get::<_, &str>(1), row.get::<_, Option<&[u8]>>(3)) {
                ("done", Some(bytes)) => {
                    let stored: Stored<T, E> =
                        postcard::from_bytes(bytes).map_err(|e| DistError::Decode {
                            seq,
                            message: e.to_string(),
                        })?;
                    match stored.into_result() {
                        Ok(v) => Ok(v),
                        Err(cause) => failed(seq, input, attempts, cause),
                    }
                }
                ("running", _) => failed(seq, input, attempts, Cause::Cancelled),
                _ => failed(seq, input, attempts, Cause::NotStarted),
            };
            report.summary.count(&outcome);
            report.summary.retries += u64::from(attempts.saturating_sub(1));
            report.extend(std::iter::once(outcome));
        }
        report.summary.stopped = match end.state.as_str() {
            "halting" => Some(StopReason::Halted),
            "cancelled" => Some(StopReason::Cancelled),
            _ => None,
        };
        Ok(report)
    }
}

/// Which outcomes [`Submit::run_each`] has handed over.
struct Seen {
    given: Vec<bool>,
    /// Every job before this one was handed over.
    low: usize,
    /// What the next hand-overs are: [`Done::earlier`] (unless `cutoff` says).
    earlier: bool,
    /// The token at which the batch was last reopened: outcomes claimed at or before it are
    /// earlier, those after it are not.
    cutoff: Option<i64>,
}

impl Seen {
    /// Hands over the outcomes recorded since the last call.
    fn deliver<T, E>(
        &mut self,
        conn: &mut Conn,
        id: &str,
        each: &mut dyn FnMut(Done<T, E>),
    ) -> Result<(), DistError>
    where
        T: DeserializeOwned,
        E: DeserializeOwned,
    {
        let low = self.low as i64;
        // Done from `low` on, less those given already (out of order), a page at a time: one
        // statement per look at the batch when few are new, and never more than a page of
        // outcomes (each at most a few hundred KiB: long outputs are blobs) in memory.
        let mut skip: Vec<i64> = (self.low..self.given.len())
            .filter(|&s| self.given[s])
            .map(|s| s as i64)
            .collect();
        loop {
            let rows = conn.run_prepared([PAGE_SQL], |c, [page]| {
                c.query(page, &[&id, &low, &skip, &(PAGE as i64)])
            })?;
            for row in &rows {
                let seq = row.get::<_, i64>(0) as u64;
                let attempts = row.get::<_, i32>(1).max(0) as u32;
                let bytes: &[u8] = row.get::<_, Option<&[u8]>>(2).unwrap_or_default();
                let stored: Stored<T, E> =
                    postcard::from_bytes(bytes).map_err(|e| DistError::Decode {
                        seq,
                        message: e.to_string(),
                    })?;
                if let Some(g) = self.given.get_mut(seq as usize) {
                    *g = true;
                }
                skip.push(seq as i64);
                let earlier = match (self.cutoff, row.get::<_, Option<i64>>(3)) {
                    (Some(cutoff), Some(token)) => token <= cutoff,
                    _ => self.earlier,
                };
                each(Done {
                    seq,
                    attempts,
                    result: stored.into_result(),
                    earlier,
                });
            }
            if rows.len() < PAGE {
                break;
            }
        }
        while self.low < self.given.len() && self.given[self.low] {
            self.low += 1;
        }
        Ok(())
    }
}
