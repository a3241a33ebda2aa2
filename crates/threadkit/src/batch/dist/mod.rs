//! Distributed batches on PostgreSQL (feature `postgres`): the database is the queue and the
//! journal, and workers on any number of machines take jobs from it. No coordinator of our
//! own: claims, leases, heartbeats and fencing are SQL. See `docs/distributed.md` for setting
//! it up on several machines and for what is guaranteed.
//!
//! # Tutorial
//!
//! The submitter enqueues the inputs under a batch id and follows the batch until every input
//! has one recorded outcome; it gets the same [`Report`](crate::batch::Report) a local
//! [`Batch::run`](crate::batch::Batch::run) returns (values in input order, failures tied to
//! their inputs, [`exit_code`](crate::batch::Report::exit_code)), with the same progress bar
//! (done / total / failures across all workers). Each worker process serves the batch with a
//! function; inputs, values and errors cross the database with serde (postcard), so both
//! sides must agree on the types.
//!
//! ```no_run
//! use std::time::Duration;
//! use threadkit::batch::dist::{Queue, Worker};
//!
//! # fn main() -> Result<(), threadkit::batch::dist::DistError> {
//! let url = "postgres://threadkit@db.example/jobs";
//!
//! // On each worker machine (started before or after the submitter):
//! let counts = Worker::connect(url)?
//!     .workers(8)
//!     .lease(Duration::from_secs(30))
//!     .serve("thumbnails-2024-06", |n: &u64| -> Result<u64, String> { Ok(n * n) })?;
//! println!("ran {}, recorded {}, fenced {}", counts.ran, counts.recorded, counts.fenced);
//!
//! // On the submitting machine: the same report as a local run.
//! let queue = Queue::connect(url)?;
//! let report: threadkit::batch::Report<u64, u64, String> =
//!     queue.submit("thumbnails-2024-06", 0..10_000u64)?;
//! assert_eq!(report.len(), 10_000);
//! std::process::exit(report.exit_code().into());
//! # }
//! ```
//!
//! Submitting again with the same id and the same inputs does not enqueue anything: it
//! follows the batch where it is (a submitter that died is simply run again). A different
//! input list under an id already used is an error ([`DistError::Mismatch`]).
//!
//! # How it works
//!
//! - **Claim**: a worker claims up to as many jobs as it has free slots in one statement (a
//!   CTE selecting `FOR UPDATE SKIP LOCKED LIMIT n`, and an `UPDATE` marking them running
//!   with a fresh attempt token and a lease, `locked_until`), commits, then runs them outside
//!   any transaction. A job whose lease expired (its worker died or stalled) is claimable
//!   again; its attempt counts.
//! - **Heartbeat**: a thread of the worker, on a connection of its own, renews the leases of
//!   its jobs every third of the lease, and reads the batch's state (halt, cancel).
//! - **Fencing**: an outcome is recorded only `WHERE id = $1 AND token = $2 AND state =
//!   'running'`; a worker that lost its lease gets zero rows, drops the result and counts it
//!   ([`Served::fenced`]). Every input ends with exactly one recorded outcome; execution is
//!   at least once.
//! - **Recording** happens in short batched transactions on a third connection, with the
//!   batch's counters (done, failed) in the same transaction; the halt policy is judged
//!   there, so `fail=N` counts failures across all workers.
//! - **Large bytes** go beside the outcome, not in it: a function served with
//!   [`Worker::serve_with`] writes them through [`JobContext::blob`] in chunk rows of
//!   [`CHUNK`] bytes under its attempt's token and returns the [`Blob`]; the submitter reads
//!   them with [`Queue::read_blob`] a chunk at a time (the command stores long job output
//!   this way, so neither side holds it whole).
//! - **Waking**: `LISTEN tk_jobs` / `NOTIFY` (payload: the batch id) wakes idle workers and
//!   the submitter; polling with backoff is the fallback.
//! - **Lost connections**: every connection reconnects with backoff and runs its statement
//!   again; running jobs go on, and are recorded when the database is back (or fenced if the
//!   lease ran out meanwhile and another worker took them).
//!
//! Each job runs through the local batch runner ([`Batch`](crate::batch::Batch), one item at
//! a time on each worker slot), so panics, errors and timeouts are the same
//! [`Cause`](crate::batch::Cause) values as in a local run. Retries go back through the
//! database: a failed attempt with retries left is queued again, not before its backoff, and
//! any worker may take it.

mod blob;
mod conn;
mod record;
mod schema;
mod stored;
mod submit;
mod worker;

use std::fmt;
use std::time::Duration;

pub use blob::{Blob, BlobWriter, JobContext, CHUNK};
pub use submit::{Done, Queue, Submit};
pub use worker::{Served, Worker};

/// Why a distributed operation failed.
///
/// # Examples
///
/// ```
/// use threadkit::batch::dist::DistError;
/// let e = DistError::Mismatch { batch: "b1".into() };
/// assert!(e.to_string().contains("different inputs"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum DistError {
    /// The database could not be reached at all (a wrong URL, the server down at start).
    Connect {
        /// The client's error.
        message: String,
    },
    /// The connection was lost and did not come back within the reconnect budget.
    Lost {
        /// The last error.
        message: String,
        /// How long reconnecting was tried.
        after: Duration,
    },
    /// The database refused a statement (not a lost connection).
    Database {
        /// The server's or the client's error.
        message: String,
    },
    /// The schema in the database is newer than this build knows.
    Schema {
        /// The version found.
        found: i32,
        /// The newest version this build writes.
        supported: i32,
    },
    /// The batch id was used before for a different input list (or different settings).
    Mismatch {
        /// The batch id.
        batch: String,
    },
    /// No batch with this id exists.
    UnknownBatch {
        /// The batch id.
        batch: String,
    },
    /// An input, value or error could not be encoded for the database.
    Encode {
        /// The serde error.
        message: String,
    },
    /// Bytes in the database could not be decoded as the expected type (the worker and the
    /// submitter disagree on the types).
    Decode {
        /// The job's position in the batch.
        seq: u64,
        /// What failed.
        message: String,
    },
    /// The local batch runner could not run a job.
    Run {
        /// The runner's error.
        message: String,
    },
    /// The bytes of a blob could not be handed on (the consumer given to
    /// [`Queue::read_blob`] failed).
    Write {
        /// The consumer's error.
        message: String,
    },
}

impl fmt::Display for DistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DistError::Connect { message } => {
                write!(f, "cannot connect to the database: {message}")
            }
            DistError::Lost { message, after } => write!(
                f,
                "lost the database connection and could not reconnect for {after:.1?}: {message}"
            ),
            DistError::Database { message } => write!(f, "database error: {message}"),
            DistError::Schema { found, supported } => write!(
                f,
                "the database schema is at version {found}, newer than this threadkit \
                 (version {supported}): upgrade threadkit"
            ),
            DistError::Mismatch { batch } => write!(
                f,
                "batch {batch:?} was submitted before with different inputs or settings: \
                 use a new batch id"
            ),
            DistError::UnknownBatch { batch } => write!(f, "no batch {batch:?} in the database"),
            DistError::Encode { message } => write!(f, "cannot encode for the database: {message}"),
            DistError::Decode { seq, message } => write!(
                f,
                "cannot decode job {seq} from the database (do the worker and the submitter \
                 use the same types?): {message}"
            ),
            DistError::Run { message } => write!(f, "cannot run a job: {message}"),
            DistError::Write { message } => write!(f, "cannot hand on a blob's bytes: {message}"),
        }
    }
}

impl std::error::Error for DistError {}

impl DistError {
    /// A database error that is not a lost connection.
    fn from_db(e: postgres::Error) -> DistError {
        let message = match e.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => e.to_string(),
        };
        DistError::Database { message }
    }
}
