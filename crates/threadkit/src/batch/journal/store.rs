//! The journal file: finished outcomes (and, per item, starts) in an SQLite file, and the checks
//! that refuse a file that is not this batch's journal without touching it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

const MAGIC: &[u8; 16] = b"SQLite format 3\0";
const SCHEMA_VERSION: &str = "1";
/// The longest a connection waits for another's lock (a creator's commit, a switch to WAL).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How [`Journal::inspect`] reads the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Locking {
    /// Without locks: `immutable`, or read-only with a read-only `-shm`.
    No,
    /// Read-only, in one read transaction under SQLite's shared lock (rollback mode only).
    Shared,
}

/// What the first bytes of an existing file say.
enum Header {
    /// An SQLite database; `wal`: in WAL mode (header bytes 18-19).
    Sqlite { wal: bool },
    /// Not an SQLite database: why.
    NotSqlite(String),
}

/// Whether the file at `path` is missing or empty (an empty file is a database to create).
fn is_empty(path: &Path) -> Result<bool, JournalError> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.len() == 0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(source) => Err(JournalError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Reads the first bytes of the existing file at `path`: the SQLite magic, and the read and
/// write versions (1: rollback journal, 2: WAL).
fn read_header(path: &Path) -> Result<Header, JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    let mut head = [0u8; 20];
    read_start(path, &mut head).map_err(io)?;
    let head = &head[..head.len().min(len as usize)];
    Ok(if head.len() < MAGIC.len() {
        Header::NotSqlite("file too short for SQLite".into())
    } else if head[..MAGIC.len()] != MAGIC[..] {
        Header::NotSqlite("no SQLite header".into())
    } else {
        Header::Sqlite {
            wal: head.len() == 20 && (head[18] == 2 || head[19] == 2),
        }
    })
}

/// Reads the first `buf.len()` bytes of the file at `path` (zeros past its end) through
/// SQLite's default VFS, opened read-only as a main database file.
///
/// Not with `std::fs`: closing a descriptor of a file drops every POSIX lock the process holds
/// on it, those of this process's SQLite connections included (a writer's lock, and another
/// process could write at the same time). SQLite's unix VFS knows the file's other
/// descriptors in this process and, while they hold locks, keeps this one open until they let
/// go, as it does for its own connections.
fn read_start(path: &Path, buf: &mut [u8]) -> std::io::Result<()> {
    use rusqlite::ffi;
    use std::ffi::{c_char, c_int, CString};
    use std::os::unix::ffi::OsStrExt;

    let failed =
        |what: &str, rc: c_int| std::io::Error::other(format!("{what}: SQLite error {rc}"));
    let name = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let empty = c"";

    /// Frees what SQLite allocated and closes what it opened, on every path out (a panic
    /// included).
    struct Opened {
        methods_file: *mut ffi::sqlite3_file,
        filename: *const c_char,
    }
    impl Drop for Opened {
        fn drop(&mut self) {
            // SAFETY: `methods_file` is null or the file `xOpen` was given, still allocated
            // (the owner, `file` below, is dropped after this guard: declared before it), whose
            // `pMethods` `xOpen` set: the contract is that `xClose` is then called once, which
            // happens here only (the field is set only after `xOpen`). `filename` is null or
            // was returned by `sqlite3_create_filename` and is freed once, after the close (the
            // VFS keeps a pointer to it until then).
            unsafe {
                if !self.methods_file.is_null() {
                    let methods = (*self.methods_file).pMethods;
                    if !methods.is_null() {
                        if let Some(close) = (*methods).xClose {
                            close(self.methods_file);
                        }
                    }
                }
                if !self.filename.is_null() {
                    ffi::sqlite3_free_filename(self.filename);
                }
            }
        }
    }

    // SAFETY: `sqlite3_vfs_find(null)` returns the default VFS (initializing SQLite if need be)
    // or null; a registered VFS lives for the process (threadkit unregisters none).
    let vfs = unsafe { ffi::sqlite3_vfs_find(std::ptr::null()) };
    if vfs.is_null() {
        return Err(failed("no SQLite VFS", 0));
    }
    // SAFETY: `vfs` is a valid VFS (above); its fields are read-only after registration.
    let (size, max_path, full_pathname, open) = unsafe {
        (
            (*vfs).szOsFile,
            (*vfs).mxPathname,
            (*vfs).xFullPathname,
            (*vfs).xOpen,
        )
    };
    let (Some(full_pathname), Some(open)) = (full_pathname, open) else {
        return Err(failed("an SQLite VFS without xOpen", 0));
    };
    let mut full = vec![0 as c_char; max_path.max(1) as usize + 1];
    // SAFETY: `name` is a NUL-terminated string; `full` has room for `max_path + 1` bytes,
    // the size passed.
    let rc = unsafe { full_pathname(vfs, name.as_ptr(), full.len() as c_int, full.as_mut_ptr()) };
    // SQLITE_OK_SYMLINK (a symbolic link resolved) is success too.
    if rc & 0xff != ffi::SQLITE_OK {
        return Err(failed("xFullPathname", rc));
    }
    // The 8-byte-aligned, zeroed room the VFS's file object needs.
    let mut file = vec![0u64; (size.max(0) as usize).div_ceil(8).max(1)];
    let mut guard = Opened {
        methods_file: std::ptr::null_mut(),
        filename: std::ptr::null(),
    };
    // SAFETY: `full` and `empty` are NUL-terminated strings; no query parameters. The result
    // is a database file name in the layout `xOpen` expects (`sqlite3_uri_parameter` may read
    // around it), or null when out of memory; the guard frees it.
    guard.filename = unsafe {
        ffi::sqlite3_create_filename(
            full.as_ptr(),
            empty.as_ptr(),
            empty.as_ptr(),
            0,
            std::ptr::null_mut(),
        )
    };
    if guard.filename.is_null() {
        return Err(failed("sqlite3_create_filename", ffi::SQLITE_NOMEM));
    }
    let pfile = file.as_mut_ptr().cast::<ffi::sqlite3_file>();
    let mut out_flags: c_int = 0;
    // SAFETY: `pfile` points to `size` zeroed, aligned bytes that outlive the guard's close;
    // `guard.filename` stays valid until after the close (the guard frees it last).
    let rc = unsafe {
        open(
            vfs,
            guard.filename,
            pfile,
            ffi::SQLITE_OPEN_READONLY | ffi::SQLITE_OPEN_MAIN_DB,
            &mut out_flags,
        )
    };
    guard.methods_file = pfile;
    if rc != ffi::SQLITE_OK {
        return Err(failed("cannot open the file", rc));
    }
    // SAFETY: `xOpen` succeeded, so `pMethods` is set and valid until `xClose`; `buf` is
    // writable for its length.
    let rc = unsafe {
        match (*(*pfile).pMethods).xRead {
            Some(read) => read(pfile, buf.as_mut_ptr().cast(), buf.len() as c_int, 0),
            None => ffi::SQLITE_IOERR_READ,
        }
    };
    drop(guard);
    drop(file);
    match rc {
        // A short read fills the rest with zeros.
        ffi::SQLITE_OK | ffi::SQLITE_IOERR_SHORT_READ => Ok(()),
        rc => Err(failed("cannot read the file", rc)),
    }
}

/// When the journal commits what it records: the trade between what a killed process can lose
/// and what each outcome costs.
///
/// Either way the file stays consistent after a kill (SQLite in WAL mode) and never records an
/// input that did not finish; what differs is how many finished inputs a SIGKILL (or a power
/// loss, see below) can leave unrecorded, and so run again on resume.
///
/// - [`Durability::Group`] (the default): outcomes are committed in groups, at most `max` per
///   transaction and at most `window` after the group's first (checked as outcomes arrive and
///   every 50 ms while the run waits), and at the end of the run. A killed process loses at
///   most the outcomes of the last `window` (200 ms by default) or `max` (2,048): those inputs
///   run again on resume. About a microsecond an outcome: for runs of millions of cheap items.
/// - [`Durability::PerItem`]: the worker that runs an item commits its start right before the
///   item starts, and its outcome as soon as it ends, before the run counts it as done (before
///   [`Stream`](crate::batch::Stream) yields it, before `run` returns it). A killed process
///   loses no outcome it had yielded; what runs again on resume is exactly the items that were
///   running (at most one per worker, however many items wait in the queue: see
///   [`Batch::window`](crate::batch::Batch::window)), and the resumed run says how many those
///   were ([`Summary::running_at_last_stop`](crate::batch::Summary::running_at_last_stop)).
///   A few tens of microseconds an item (two commits, on the item's worker): for items that
///   cost far more, such as processes (the `threadkit` command uses it).
///
/// Commits do not wait for the disk (`synchronous=NORMAL`): a process kill loses nothing
/// committed, an operating-system crash or power loss may lose the last commits.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::batch::{Durability, Journal};
///
/// # let dir = std::env::temp_dir().join(format!("tk-doc-durability-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let j = Journal::open(dir.join("j.db"), "jobs").unwrap().durability(Durability::PerItem);
/// assert_eq!(j.durability_setting(), Durability::PerItem);
/// let group = Durability::Group { window: Duration::from_millis(50), max: 500 };
/// let j = j.durability(group);
/// assert_eq!(j.durability_setting(), group);
/// # drop(j); std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Each outcome committed before it counts as done; each start committed before the item
    /// starts (both by the item's worker).
    PerItem,
    /// Outcomes committed in groups.
    Group {
        /// The longest an outcome waits for its commit.
        window: Duration,
        /// The most outcomes in one transaction.
        max: usize,
    },
}

impl Default for Durability {
    /// Groups of at most 2,048 outcomes or 200 ms.
    fn default() -> Self {
        Durability::Group {
            window: Duration::from_millis(200),
            max: 2048,
        }
    }
}

/// Why a journal could not be opened or written.
///
/// # Examples
///
/// ```
/// use threadkit::batch::{Journal, JournalError};
///
/// let dir = std::env::temp_dir().join(format!("tk-doc-journal-err-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("not-a-journal.db");
/// std::fs::write(&path, b"hello, not SQLite").unwrap();
/// let err = Journal::open(&path, "resize-v1").unwrap_err();
/// assert!(matches!(err, JournalError::NotAJournal { .. }));
/// assert_eq!(std::fs::read(&path).unwrap(), b"hello, not SQLite"); // left untouched
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum JournalError {
    /// The file exists but is not a threadkit journal (not SQLite, or SQLite without the
    /// journal's tables). The file was not modified.
    NotAJournal {
        /// The file.
        path: PathBuf,
        /// What was found wrong.
        reason: String,
    },
    /// The file is an SQLite database that fails its integrity check. The file was not
    /// modified.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// SQLite's report.
        reason: String,
    },
    /// The journal belongs to another batch (its batch id differs). The file was not modified.
    OtherBatch {
        /// The file.
        path: PathBuf,
        /// The id the caller gave.
        expected: String,
        /// The id stored in the file.
        found: String,
    },
    /// Reading or writing the file failed.
    Sqlite {
        /// The file.
        path: PathBuf,
        /// The error.
        source: rusqlite::Error,
    },
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::NotAJournal { path, reason } => write!(
                f,
                "{} is not a threadkit batch journal ({reason}); it was left untouched",
                path.display()
            ),
            JournalError::Corrupt { path, reason } => write!(
                f,
                "batch journal {} is corrupt ({reason}); it was left untouched",
                path.display()
            ),
            JournalError::OtherBatch {
                path,
                expected,
                found,
            } => write!(
                f,
                "batch journal {} belongs to batch {found:?}, not {expected:?}; \
                 use another file or the batch id {found:?}",
                path.display()
            ),
            JournalError::Sqlite { path, source } => {
                write!(f, "batch journal {}: {source}", path.display())
            }
            JournalError::Io { path, source } => {
                write!(f, "batch journal {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for JournalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JournalError::Sqlite { source, .. } => Some(source),
            JournalError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// What the journal knows about one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// Finished with this value (JSON).
    Done(String),
    /// Failed; the cause as text and the attempts.
    Failed { message: String, attempts: u32 },
}

/// Counts of the outcomes a journal holds.
///
/// # Examples
///
/// ```
/// let c = threadkit::batch::JournalCounts { done: 2, failed: 1 };
/// assert_eq!(c.done + c.failed, 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JournalCounts {
    /// Inputs finished with a value.
    pub done: u64,
    /// Inputs that failed.
    pub failed: u64,
}

/// An SQLite file recording each finished input's outcome under a stable key, so that a batch
/// can be resumed: a later run given the same journal skips the inputs already done (and, on
/// request, reruns the failed ones).
///
/// The file is in WAL mode with `synchronous=NORMAL`. Outcomes are committed in groups (every
/// 2,048 outcomes or 200 ms) or one by one, as [`durability`](Journal::durability) says: a
/// killed process loses at most the outcomes not yet committed (with [`Durability::PerItem`],
/// none it had counted as done), never corrupts the file, and never records an input that
/// did not finish. Items that did not finish (cancelled while running, or never started) are
/// not recorded, so a resumed run runs them.
/// The journal stores the batch id it was created with; opening it for another batch, or
/// opening a file that is not a journal or is corrupt, is a [`JournalError`] that leaves the
/// file untouched: an existing file is inspected read-only first (an SQLite database of another
/// application in WAL mode keeps its `-wal` and `-shm` as they were, byte for byte), and opened
/// for writing only once it is known to be this batch's journal.
///
/// # Examples
///
/// ```
/// use threadkit::batch::{Batch, Journal};
///
/// let dir = std::env::temp_dir().join(format!("tk-doc-journal-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("squares.db");
/// # let _ = std::fs::remove_file(&path);
///
/// let square = |x: &u64| -> Result<u64, String> { Ok(x * x) };
/// let first = Batch::new(square)
///     .progress(false)
///     .journal(Journal::open(&path, "squares-v1").unwrap())
///     .run(0..10u64)
///     .unwrap();
/// assert_eq!(first.summary().skipped, 0);
///
/// // Same batch again: everything comes from the journal.
/// let again = Batch::new(square)
///     .progress(false)
///     .journal(Journal::open(&path, "squares-v1").unwrap())
///     .run(0..10u64)
///     .unwrap();
/// assert_eq!(again.summary().skipped, 10);
/// assert_eq!(again.values().copied().collect::<Vec<_>>(), first.values().copied().collect::<Vec<_>>());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub struct Journal {
    conn: Connection,
    path: PathBuf,
    batch_id: String,
    in_tx: bool,
    pending: usize,
    tx_started: Instant,
    empty_at_open: bool,
    durability: Durability,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("batch_id", &self.batch_id)
            .finish()
    }
}

impl Journal {
    /// Opens the journal at `path` for the batch `batch_id`, creating it when the file does not
    /// exist. The batch id names what the batch does (for example `"resize-images-v2"`): a
    /// journal made for another id is refused.
    ///
    /// Openers of the same file at the same moment (threads, processes) each get the journal
    /// or the error a later opener would get: the file goes from empty to a whole journal in
    /// one commit, so the first creator's batch id is the file's, and every opener for
    /// another id gets [`JournalError::OtherBatch`]. An opener that finds the file while its
    /// creator writes it waits for the commit (each wait bounded by SQLite's busy timeout,
    /// 5 s).
    ///
    /// # Errors
    ///
    /// [`JournalError::NotAJournal`] for a file that is not a journal,
    /// [`JournalError::Corrupt`] for one that fails SQLite's integrity check,
    /// [`JournalError::OtherBatch`] for a journal of another batch (the file is left untouched
    /// in these three cases); [`JournalError::Sqlite`] / [`JournalError::Io`] when the file
    /// cannot be read or created.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::batch::{Journal, JournalError};
    ///
    /// let dir = std::env::temp_dir().join(format!("tk-doc-journal-open-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("j.db");
    /// # let _ = std::fs::remove_file(&path);
    /// drop(Journal::open(&path, "a").unwrap());
    /// let err = Journal::open(&path, "b").unwrap_err();
    /// assert!(matches!(err, JournalError::OtherBatch { ref found, .. } if found == "a"));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn open(path: impl AsRef<Path>, batch_id: &str) -> Result<Journal, JournalError> {
        let path = path.as_ref().to_path_buf();
        let sql = |source| JournalError::Sqlite {
            path: path.clone(),
            source,
        };
        if !is_empty(&path)? {
            return Self::open_existing(path, batch_id);
        }
        // No file, or an empty one: create the journal. Another opener may be creating it at
        // this very moment (another thread, another process): the tables and the batch id are
        // created in one immediate transaction, before the switch to WAL, so that the file
        // goes in one commit from empty to a whole journal; a second creator waits for the
        // first's commit (the busy timeout) and then finds the tables there.
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
        // Content written since the look above (this connection has read nothing yet, so
        // closing it leaves the file as it is): an existing file after all.
        if !is_empty(&path)? || !Self::create(&conn, batch_id).map_err(sql)? {
            drop(conn);
            return Self::open_existing(path, batch_id);
        }
        Self::tune(&conn).map_err(sql)?;
        Self::opened(conn, path, batch_id)
    }

    /// In one immediate transaction: when the database has no schema at all, creates the
    /// journal's tables and stores the batch id (true); otherwise changes nothing (false: the
    /// file is to be inspected as an existing one).
    fn create(conn: &Connection, batch_id: &str) -> rusqlite::Result<bool> {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let created = (|| {
            let objects: i64 =
                conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
            if objects > 0 {
                return Ok(false);
            }
            conn.execute_batch(
                "CREATE TABLE tk_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 CREATE TABLE tk_outcomes (
                     key TEXT PRIMARY KEY,
                     idx INTEGER NOT NULL,
                     ok INTEGER NOT NULL,
                     value TEXT,
                     cause TEXT,
                     attempts INTEGER NOT NULL
                 );",
            )?;
            conn.execute(
                "INSERT INTO tk_meta (key, value) VALUES ('batch_id', ?1), ('schema', ?2)",
                [batch_id, SCHEMA_VERSION],
            )?;
            Ok(true)
        })();
        match created {
            Ok(true) => conn.execute_batch("COMMIT").map(|()| true),
            Ok(false) => conn.execute_batch("ROLLBACK").map(|()| false),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Opens the existing (non-empty) file at `path` once
    /// [`inspect_existing`](Journal::inspect_existing) has found it to be a sound journal of
    /// `batch_id`.
    fn open_existing(path: PathBuf, batch_id: &str) -> Result<Journal, JournalError> {
        let wal = match read_header(&path)? {
            Header::Sqlite { wal } => wal,
            Header::NotSqlite(reason) => return Err(JournalError::NotAJournal { path, reason }),
        };
        // Decide on a read-only connection first: a read-write one checkpoints another
        // application's WAL into its database and deletes its -wal/-shm when it closes.
        Self::inspect_existing(&path, batch_id, wal)?;
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| JournalError::Sqlite {
            path: path.clone(),
            source,
        })?;
        Self::tune(&conn).map_err(|source| JournalError::Sqlite {
            path: path.clone(),
            source,
        })?;
        Self::opened(conn, path, batch_id)
    }

    fn opened(conn: Connection, path: PathBuf, batch_id: &str) -> Result<Journal, JournalError> {
        let empty: bool = conn
            .query_row("SELECT NOT EXISTS (SELECT 1 FROM tk_outcomes)", [], |r| {
                r.get(0)
            })
            .map_err(|source| JournalError::Sqlite {
                path: path.clone(),
                source,
            })?;
        Ok(Journal::new(conn, path, batch_id, empty))
    }

    /// [`inspect`](Journal::inspect)s the existing file, in the way that sees a journal being
    /// created or closed by another opener at that moment as it will be (`wal`: whether its
    /// header says WAL mode; it is not read again, since a journal goes from rollback mode to
    /// WAL only, by its creator's switch, and each read of the file outside SQLite is a
    /// descriptor whose close drops the POSIX locks SQLite holds on it in this process):
    /// - rollback mode (a creator may be writing its one transaction, and a read without a lock
    ///   can see a torn file): on a read-only connection under SQLite's shared lock, which waits
    ///   (the busy timeout) for the commit. A rollback-mode database gets no side file from a
    ///   read-only connection, and a hot journal is not rolled back by one: that, or a lock
    ///   held past the timeout, is no verdict, and the look without a lock decides;
    /// - WAL mode (the journal's tables are in the main file, or, for a journal of an earlier
    ///   version, maybe in its WAL only): without a lock, as a connection that may create the
    ///   `-wal` and `-shm` must not be opened on another application's database; when that
    ///   refuses the file, once more, with a fresh look at the `-wal` and `-shm` (the last
    ///   connection's close may have removed them since).
    fn inspect_existing(path: &Path, batch_id: &str, wal: bool) -> Result<(), JournalError> {
        if !wal {
            match Self::inspect(path, batch_id, Locking::Shared) {
                Err(JournalError::Sqlite { .. }) => {}
                verdict => return verdict,
            }
            return Self::inspect(path, batch_id, Locking::No);
        }
        let first = match Self::inspect(path, batch_id, Locking::No) {
            Err(
                e @ (JournalError::NotAJournal { .. }
                | JournalError::Corrupt { .. }
                | JournalError::Sqlite { .. }),
            ) => e,
            done => return done,
        };
        match Self::inspect(path, batch_id, Locking::No) {
            Err(JournalError::Sqlite { .. }) => Err(first),
            again => again,
        }
    }

    /// Checks that the existing SQLite file at `path` is a sound journal of `batch_id`, without
    /// modifying anything: not the file, not its `-wal` and `-shm`, and creating no file.
    ///
    /// With no (or an empty) `-wal`, the file is opened `immutable` (no locks, no side files).
    /// With a `-wal`, whose pages may hold the journal's tables (a run killed before its first
    /// checkpoint), it is opened read-only with a read-only `-shm`: SQLite then reads the WAL
    /// into private memory rather than rebuilding the shared index, and a read-only connection
    /// never checkpoints. A `-wal` without a `-shm` cannot be read that way (SQLite would create
    /// the `-shm`), so then only the main file is read. The schema is checked before the integrity of the whole file, so a
    /// large database of another application is refused without being scanned.
    ///
    /// With [`Locking::Shared`] (for a file in rollback mode only: in WAL mode such a
    /// connection would create the `-wal` and `-shm`), the file is opened read-only without
    /// `immutable`, and read in one read transaction: SQLite's shared lock, waited for up to
    /// the busy timeout, sees the file between whole commits.
    fn inspect(path: &Path, batch_id: &str, locking: Locking) -> Result<(), JournalError> {
        let not_a_journal = |reason: String| JournalError::NotAJournal {
            path: path.to_path_buf(),
            reason,
        };
        // A query of the schema that fails: a damaged file, or not a journal; under a lock, a
        // failure to read (a lock held past the busy timeout, a hot journal a read-only
        // connection cannot roll back) is no verdict.
        let unreadable = |e: rusqlite::Error| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
                JournalError::Corrupt {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                }
            }
            _ if locking == Locking::Shared => JournalError::Sqlite {
                path: path.to_path_buf(),
                source: e,
            },
            _ => not_a_journal(e.to_string()),
        };
        let side = |suffix: &str| {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            std::fs::metadata(p)
        };
        let has_wal = locking == Locking::No && side("-wal").is_ok_and(|m| m.len() > 0);
        // SQLite cannot read a WAL without its -shm (not even read-only) unless it may create
        // one; with none, only the main file is read.
        let wal_unreadable = has_wal && side("-shm").is_err();
        let params = if locking == Locking::Shared {
            "mode=ro"
        } else if has_wal && !wal_unreadable {
            "mode=ro&readonly_shm=1"
        } else {
            "immutable=1"
        };
        let no_batch_id = || {
            not_a_journal(if wal_unreadable {
                "no batch id in the main file, and its -wal cannot be read without its -shm".into()
            } else {
                "no batch id".into()
            })
        };
        let conn = Connection::open_with_flags(
            sqlite_uri(path, params),
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| JournalError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
        if locking == Locking::Shared {
            conn.busy_timeout(BUSY_TIMEOUT)
                .and_then(|()| conn.execute_batch("BEGIN"))
                .map_err(|source| JournalError::Sqlite {
                    path: path.to_path_buf(),
                    source,
                })?;
        }
        let tables: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name IN ('tk_meta', 'tk_outcomes')",
            )
            .and_then(|mut st| {
                st.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(unreadable)?;
        if !tables.iter().any(|t| t == "tk_meta") {
            return Err(no_batch_id());
        }
        let found: Option<String> = conn
            .query_row(
                "SELECT value FROM tk_meta WHERE key = 'batch_id'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(unreadable)?;
        let Some(found) = found else {
            return Err(no_batch_id());
        };
        if found != batch_id {
            return Err(JournalError::OtherBatch {
                path: path.to_path_buf(),
                expected: batch_id.to_owned(),
                found,
            });
        }
        if !tables.iter().any(|t| t == "tk_outcomes") {
            return Err(not_a_journal("no outcomes table".into()));
        }
        let check = conn.query_row("PRAGMA quick_check", [], |r| r.get::<_, String>(0));
        match check {
            Ok(s) if s == "ok" => Ok(()),
            Ok(reason) => Err(JournalError::Corrupt {
                path: path.to_path_buf(),
                reason,
            }),
            Err(e) => Err(JournalError::Corrupt {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }),
        }
    }

    fn new(conn: Connection, path: PathBuf, batch_id: &str, empty: bool) -> Journal {
        Journal {
            conn,
            path,
            batch_id: batch_id.to_owned(),
            in_tx: false,
            pending: 0,
            tx_started: Instant::now(),
            empty_at_open: empty,
            durability: Durability::default(),
        }
    }

    /// Sets when outcomes are committed (default [`Durability::Group`] of 2,048 outcomes or
    /// 200 ms); see [`Durability`].
    ///
    /// # Examples
    ///
    /// See [`Durability`].
    pub fn durability(mut self, durability: Durability) -> Journal {
        if let Durability::Group { max, .. } = durability {
            debug_assert!(max > 0, "a group of at least one outcome");
        }
        self.durability = durability;
        self
    }

    /// When outcomes are committed.
    ///
    /// # Examples
    ///
    /// See [`Durability`].
    pub fn durability_setting(&self) -> Durability {
        self.durability
    }

    /// WAL mode, `synchronous=NORMAL`, the busy timeout.
    ///
    /// The switch to WAL upgrades a read lock to a write lock, for which SQLite does not call
    /// the busy handler (two connections doing so could wait for each other): it fails at once
    /// while another connection holds a write lock (a second creator in its immediate
    /// transaction, another opener switching). It is retried here, with pauses of 1 to 10 ms,
    /// for at most the busy timeout.
    fn tune(conn: &Connection) -> rusqlite::Result<()> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let deadline = Instant::now() + BUSY_TIMEOUT;
        let mut pause = Duration::from_millis(1);
        loop {
            match conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(())) {
                Err(e)
                    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                        && Instant::now() < deadline =>
                {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(10));
                }
                switched => break switched?,
            }
        }
        conn.execute_batch("PRAGMA synchronous = NORMAL;")
    }

    /// The file.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tk-doc-journal-path-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let path = dir.join("j.db");
    /// let j = threadkit::batch::Journal::open(&path, "x").unwrap();
    /// assert_eq!(j.path(), path);
    /// # drop(j); std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The batch id the journal was opened with.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tk-doc-journal-id-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// let j = threadkit::batch::Journal::open(dir.join("j.db"), "resize-v2").unwrap();
    /// assert_eq!(j.batch_id(), "resize-v2");
    /// # drop(j); std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn batch_id(&self) -> &str {
        &self.batch_id
    }

    /// How many committed outcomes the journal holds.
    ///
    /// # Errors
    ///
    /// [`JournalError::Sqlite`] when the file cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tk-doc-journal-counts-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// let j = threadkit::batch::Journal::open(dir.join("j.db"), "x").unwrap();
    /// assert_eq!(j.counts().unwrap().done, 0);
    /// # drop(j); std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn counts(&self) -> Result<JournalCounts, JournalError> {
        let (done, failed): (i64, i64) = self
            .conn
            .query_row(
                "SELECT coalesce(sum(ok), 0), coalesce(sum(1 - ok), 0) FROM tk_outcomes",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.err(e))?;
        Ok(JournalCounts {
            done: done as u64,
            failed: failed as u64,
        })
    }

    /// The keys of the inputs recorded as done.
    ///
    /// # Errors
    ///
    /// [`JournalError::Sqlite`] when the file cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("tk-doc-journal-keys-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// let j = threadkit::batch::Journal::open(dir.join("j.db"), "x").unwrap();
    /// assert!(j.done_keys().unwrap().is_empty());
    /// # drop(j); std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn done_keys(&self) -> Result<Vec<String>, JournalError> {
        let mut st = self
            .conn
            .prepare("SELECT key FROM tk_outcomes WHERE ok = 1")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    fn err(&self, source: rusqlite::Error) -> JournalError {
        JournalError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Whether lookups can be skipped (nothing was recorded before this run).
    pub(crate) fn was_empty(&self) -> bool {
        self.empty_at_open
    }

    pub(crate) fn lookup(&self, key: &str) -> Result<Option<Entry>, JournalError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT ok, value, cause, attempts FROM tk_outcomes WHERE key = ?1")
            .map_err(|e| self.err(e))?;
        let row = st
            .query_row([key], |r| {
                let ok: bool = r.get(0)?;
                Ok(if ok {
                    Entry::Done(r.get::<_, Option<String>>(1)?.unwrap_or_default())
                } else {
                    Entry::Failed {
                        message: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                        attempts: r.get::<_, i64>(3)? as u32,
                    }
                })
            })
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(row)
    }

    /// Whether each outcome and each start is committed on its own (by the item's worker).
    pub(crate) fn per_item(&self) -> bool {
        self.durability == Durability::PerItem
    }

    fn begin(&mut self) -> Result<(), JournalError> {
        if !self.in_tx {
            self.conn.execute_batch("BEGIN").map_err(|e| self.err(e))?;
            self.in_tx = true;
            self.tx_started = Instant::now();
        }
        Ok(())
    }

    /// At the start of a run with per-item durability: how many items an earlier run recorded
    /// as started and never finished (it was killed while they ran); their start records are
    /// cleared (each runs again if it is in this run's input, and is recorded again).
    pub(crate) fn begin_run(&mut self) -> Result<u64, JournalError> {
        self.begin()?;
        self.conn
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS tk_started (
                     key TEXT PRIMARY KEY,
                     idx INTEGER NOT NULL
                 ) WITHOUT ROWID",
            )
            .map_err(|e| self.err(e))?;
        let running: i64 = self
            .conn
            .query_row("SELECT count(*) FROM tk_started", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        self.conn
            .execute_batch("DELETE FROM tk_started")
            .map_err(|e| self.err(e))?;
        self.commit()?;
        Ok(running as u64)
    }

    /// Records that the item `key` is about to start (per-item durability; committed by the
    /// item's worker before the item starts).
    pub(crate) fn record_start(&mut self, key: &str, index: u64) -> Result<(), JournalError> {
        self.begin()?;
        let mut st = self
            .conn
            .prepare_cached("INSERT OR REPLACE INTO tk_started (key, idx) VALUES (?1, ?2)")
            .map_err(|e| self.err(e))?;
        st.execute(rusqlite::params![key, index as i64])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Forgets the start of the item `key`, which ended without an outcome to record
    /// (cancelled while running, or it never started after all).
    pub(crate) fn forget_start(&mut self, key: &str) -> Result<(), JournalError> {
        if !self.per_item() {
            return Ok(());
        }
        self.begin()?;
        let mut st = self
            .conn
            .prepare_cached("DELETE FROM tk_started WHERE key = ?1")
            .map_err(|e| self.err(e))?;
        st.execute([key]).map_err(|e| self.err(e))?;
        Ok(())
    }

    pub(crate) fn record(
        &mut self,
        key: &str,
        index: u64,
        value: Result<&str, &str>,
        attempts: u32,
    ) -> Result<(), JournalError> {
        self.forget_start(key)?;
        self.begin()?;
        let (ok, v, cause) = match value {
            Ok(v) => (true, Some(v), None),
            Err(c) => (false, None, Some(c)),
        };
        let mut st = self
            .conn
            .prepare_cached(
                "INSERT OR REPLACE INTO tk_outcomes (key, idx, ok, value, cause, attempts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(|e| self.err(e))?;
        st.execute(rusqlite::params![
            key,
            index as i64,
            ok,
            v,
            cause,
            i64::from(attempts)
        ])
        .map_err(|e| self.err(e))?;
        drop(st);
        self.pending += 1;
        if let Durability::Group { max, .. } = self.durability {
            if self.pending >= max {
                self.commit()?;
            }
        }
        Ok(())
    }

    /// Commits when the open transaction is older than the group window; with per-item
    /// durability, whenever one is open.
    pub(crate) fn commit_if_due(&mut self) -> Result<(), JournalError> {
        let due = match self.durability {
            Durability::PerItem => true,
            Durability::Group { window, .. } => self.tx_started.elapsed() >= window,
        };
        if self.in_tx && due {
            self.commit()?;
        }
        Ok(())
    }

    pub(crate) fn commit(&mut self) -> Result<(), JournalError> {
        if self.in_tx {
            self.conn.execute_batch("COMMIT").map_err(|e| self.err(e))?;
            self.in_tx = false;
            self.pending = 0;
        }
        Ok(())
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.commit();
    }
}

/// An SQLite `file:` URI for `path` with the query `params`: every byte but unreserved ones
/// percent-encoded, so any file name (`?`, `#`, `%`, non-UTF-8 bytes) names the same file.
fn sqlite_uri(path: &Path, params: &str) -> PathBuf {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let mut uri = b"file:".to_vec();
    if path.is_absolute() {
        // `file:///abs`: an empty authority, so a path starting with `//` is not one.
        uri.extend_from_slice(b"//");
    }
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(b);
        } else {
            uri.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    uri.push(b'?');
    uri.extend_from_slice(params.as_bytes());
    PathBuf::from(std::ffi::OsString::from_vec(uri))
}

/// The default key of an input: a 128-bit FNV-1a hash of its `Debug` text, in hex.
pub(crate) fn debug_key(text: &str) -> String {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut h = OFFSET;
    for b in text.as_bytes() {
        h ^= u128::from(*b);
        h = h.wrapping_mul(PRIME);
    }
    format!("{h:032x}")
}
