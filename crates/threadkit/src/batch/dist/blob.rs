//! Large bytes beside a job's outcome, in bounded memory on both sides: a job writes them
//! through a [`BlobWriter`] into chunk rows (`tk_blob`, [`CHUNK`] bytes each) under its
//! claim's attempt token, and puts the [`Blob`] it gets back into its outcome; the submitter
//! reads them back chunk by chunk with [`Queue::read_blob`](super::Queue::read_blob). A
//! command's output is the use the `threadkit` command makes of it: its outcome row stays
//! small, and neither the worker nor the master holds more than a chunk of it.
//!
//! Fencing: the chunks carry the token of the attempt that wrote them, and the submitter reads
//! those named by the recorded outcome, which only the attempt holding the job's current
//! token can record. A fenced attempt's chunks are never read; they are deleted with the
//! batch (or when `reopen` queues the job again).

use std::io;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::conn::{Conn, Target};
use super::DistError;

/// Bytes per chunk row.
pub const CHUNK: usize = 1 << 20;

/// Where a blob's chunks are: written by [`BlobWriter::finish`], read by
/// [`Queue::read_blob`](super::Queue::read_blob). Serializable, to travel in a job's outcome.
///
/// # Examples
///
/// ```no_run
/// use std::io::Write;
/// use threadkit::batch::dist::{Blob, JobContext, Worker};
///
/// Worker::connect("postgres://db.example/jobs")
///     .unwrap()
///     .serve_with("logs", |n: &u64, job: &JobContext| -> Result<Blob, String> {
///         let mut w = job.blob("log");
///         for i in 0..*n {
///             writeln!(w, "line {i}").map_err(|e| e.to_string())?;
///         }
///         w.finish().map_err(|e| e.to_string())
///     })
///     .unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blob {
    seq: u64,
    token: i64,
    name: String,
    len: u64,
    chunks: u32,
}

impl Blob {
    /// Its length in bytes.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(b: threadkit::batch::dist::Blob) {
    /// println!("{} bytes", b.len());
    /// # }
    /// ```
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when it holds no byte.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(b: threadkit::batch::dist::Blob) {
    /// if b.is_empty() { println!("nothing"); }
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The name it was written under ([`JobContext::blob`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(b: threadkit::batch::dist::Blob) {
    /// println!("{}", b.name());
    /// # }
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Idle connections for blob writes, shared by a worker's slots (a blob is written by the
/// slot running the job, outside the claimer's, recorder's and heartbeat's connections).
#[derive(Debug)]
pub(super) struct Conns {
    target: Target,
    idle: Mutex<Vec<Conn>>,
}

impl Conns {
    pub(super) fn new(target: Target) -> Conns {
        Conns {
            target,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn take(&self) -> Result<Conn, DistError> {
        match self.idle.lock().pop() {
            Some(c) => Ok(c),
            None => Conn::open(&self.target, false),
        }
    }

    fn give_back(&self, conn: Conn) {
        self.idle.lock().push(conn);
    }
}

/// The job a served function runs: its place in the batch, its attempt, and where to write
/// blobs (given by [`Worker::serve_with`](super::Worker::serve_with)).
///
/// # Examples
///
/// ```no_run
/// use threadkit::batch::dist::{JobContext, Worker};
///
/// Worker::connect("postgres://db.example/jobs")
///     .unwrap()
///     .serve_with("b", |x: &u32, job: &JobContext| -> Result<String, String> {
///         Ok(format!("{x} was job {} (attempt {})", job.seq(), job.attempt()))
///     })
///     .unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct JobContext {
    pub(super) batch: Arc<str>,
    pub(super) seq: u64,
    pub(super) attempt: u32,
    pub(super) token: i64,
    pub(super) conns: Arc<Conns>,
}

impl JobContext {
    /// The job's position in the batch, from 0.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(job: &threadkit::batch::dist::JobContext) {
    /// println!("job {}", job.seq());
    /// # }
    /// ```
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// How many times the job was claimed, this claim included (from 1).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(job: &threadkit::batch::dist::JobContext) {
    /// if job.attempt() > 1 { println!("again"); }
    /// # }
    /// ```
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// A writer of blob `name` for this attempt: bytes written go to the database a chunk
    /// ([`CHUNK`] bytes) at a time, so at most a chunk is held in memory. Keep the [`Blob`]
    /// that [`finish`](BlobWriter::finish) returns in the job's outcome: it is how the
    /// submitter finds the bytes. Writing the same name twice in one attempt replaces it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::io::Write;
    /// # fn f(job: &threadkit::batch::dist::JobContext) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut w = job.blob("stdout");
    /// w.write_all(b"hello\n")?;
    /// let blob = w.finish()?;
    /// assert_eq!(blob.len(), 6);
    /// # Ok(()) }
    /// ```
    pub fn blob(&self, name: &str) -> BlobWriter<'_> {
        BlobWriter {
            job: self,
            name: name.to_owned(),
            buf: Vec::new(),
            chunks: 0,
            len: 0,
            conn: None,
        }
    }
}

/// Writes one blob in chunk rows (made by [`JobContext::blob`]); [`finish`](BlobWriter::finish)
/// stores the last chunk and says where the bytes are.
///
/// # Examples
///
/// ```no_run
/// use std::io::Write;
/// # fn f(job: &threadkit::batch::dist::JobContext) -> Result<(), Box<dyn std::error::Error>> {
/// let mut w = job.blob("data");
/// w.write_all(&[0u8; 3 << 20])?; // three chunks go to the database as they fill
/// let blob = w.finish()?;
/// assert_eq!(blob.len(), 3 << 20);
/// # Ok(()) }
/// ```
pub struct BlobWriter<'a> {
    job: &'a JobContext,
    name: String,
    buf: Vec<u8>,
    chunks: u32,
    len: u64,
    conn: Option<Conn>,
}

impl std::fmt::Debug for BlobWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobWriter")
            .field("name", &self.name)
            .field("len", &self.len)
            .field("chunks", &self.chunks)
            .finish_non_exhaustive()
    }
}

impl BlobWriter<'_> {
    /// Stores what is buffered as the next chunk.
    fn store(&mut self) -> Result<(), DistError> {
        if self.conn.is_none() {
            self.conn = Some(self.job.conns.take()?);
        }
        let conn = self.conn.as_mut().expect("just set");
        let (job, n, bytes) = (self.job, self.chunks as i32, &self.buf);
        let seq = job.seq as i64;
        // Idempotent, so that a statement run again after a reconnect is harmless.
        conn.run(|c| {
            c.execute(
                "INSERT INTO tk_blob (batch, seq, token, name, n, bytes)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (batch, seq, token, name, n) DO UPDATE SET bytes = EXCLUDED.bytes",
                &[&&*job.batch, &seq, &job.token, &self.name, &n, bytes],
            )
        })?;
        self.chunks += 1;
        self.buf.clear();
        Ok(())
    }

    /// Stores the last chunk; where the blob is.
    ///
    /// # Errors
    ///
    /// The database could not be reached within the reconnect budget, or refused the write.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(job: &threadkit::batch::dist::JobContext) -> Result<(), threadkit::batch::dist::DistError> {
    /// let blob = job.blob("empty").finish()?;
    /// assert!(blob.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn finish(mut self) -> Result<Blob, DistError> {
        if !self.buf.is_empty() {
            self.store()?;
        }
        Ok(Blob {
            seq: self.job.seq,
            token: self.job.token,
            name: std::mem::take(&mut self.name),
            len: self.len,
            chunks: self.chunks,
        })
    }
}

impl io::Write for BlobWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() >= CHUNK {
            self.store().map_err(io::Error::other)?;
        }
        let n = (CHUNK - self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for BlobWriter<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            self.job.conns.give_back(c);
        }
    }
}

/// Reads blob `blob` of batch `batch` on `conn`, chunk by chunk, into `out`; its length.
pub(super) fn read(
    conn: &mut Conn,
    batch: &str,
    blob: &Blob,
    out: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> Result<u64, DistError> {
    let seq = blob.seq as i64;
    let mut read = 0u64;
    for n in 0..blob.chunks as i32 {
        let row = conn.run(|c| {
            c.query_opt(
                "SELECT bytes FROM tk_blob
                 WHERE batch = $1 AND seq = $2 AND token = $3 AND name = $4 AND n = $5",
                &[&batch, &seq, &blob.token, &blob.name, &n],
            )
        })?;
        let Some(row) = row else {
            return Err(DistError::Decode {
                seq: blob.seq,
                message: format!(
                    "chunk {} of {} of blob {:?} is missing (the batch was deleted or \
                     queued again meanwhile?)",
                    n + 1,
                    blob.chunks,
                    blob.name
                ),
            });
        };
        let bytes: &[u8] = row.get(0);
        read += bytes.len() as u64;
        out(bytes).map_err(|e| DistError::Write {
            message: e.to_string(),
        })?;
    }
    if read != blob.len {
        return Err(DistError::Decode {
            seq: blob.seq,
            message: format!(
                "blob {:?} has {read} bytes in the database, {} expected",
                blob.name, blob.len
            ),
        });
    }
    Ok(read)
}
