//! The thread registry: the `Thread` info handle, the current thread, the main thread, the
//! table of live threads, and the count of live non-daemon threads that the exit guard waits for.
//!
//! Cost per spawned thread: one `Arc` allocation, two short critical sections on the registry
//! mutex (insert at spawn, remove at exit) and one uncontended mutex/notify to mark it finished.

use parking_lot::{Condvar, Mutex};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::time::TimeoutOverflow;

/// Python's `_counter`: numbers the default names `Thread-N` and `Dummy-N`.
static NAME_COUNTER: AtomicU64 = AtomicU64::new(1);
/// Idents; 1 is reserved for the main thread.
static NEXT_IDENT: AtomicU64 = AtomicU64::new(2);
const MAIN_IDENT: u64 = 1;

/// The next default name with the given prefix: `Thread-1`, `Dummy-2`, ...
pub(crate) fn next_name(prefix: &str) -> String {
    let n = NAME_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{n}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Main,
    Spawned,
    Dummy,
}

pub(crate) struct Inner {
    name: String,
    ident: u64,
    /// The OS thread id; 0 until the thread has started running.
    native_id: AtomicU64,
    kind: Kind,
    daemon: bool,
    /// Set (under `lock`) once the thread has finished, after its thread-locals were dropped.
    finished: AtomicBool,
    lock: Mutex<()>,
    cv: Condvar,
}

/// Information about one thread, and a way to wait for it: Python's `threading.Thread` object
/// as returned by [`current`], [`main_thread`] and [`enumerate`].
///
/// A `Thread` is a cheap reference-counted handle; clones refer to the same thread and compare
/// equal. It outlives the thread it describes: after the thread has finished, [`is_alive`]
/// returns `false` and the name and ident stay readable. Its [`Display`](fmt::Display) form is
/// Python's `repr`, e.g. `<Thread(worker-1, started 7)>`.
///
/// To get the value a thread returned, keep its [`JoinHandle`](super::JoinHandle); a `Thread`
/// only waits for it to finish ([`join`](Thread::join)).
///
/// [`is_alive`]: Thread::is_alive
///
/// # Examples
///
/// ```
/// let me = threadkit::thread::current();
/// assert!(me.is_alive());
/// assert_eq!(me, threadkit::thread::current());
/// println!("{} has ident {}", me.name(), me.ident());
/// ```
#[derive(Clone)]
pub struct Thread {
    pub(crate) inner: Arc<Inner>,
}

impl Thread {
    pub(crate) fn new(name: String, kind: Kind, daemon: bool) -> Thread {
        let ident = if kind == Kind::Main {
            MAIN_IDENT
        } else {
            NEXT_IDENT.fetch_add(1, Ordering::Relaxed)
        };
        Thread {
            inner: Arc::new(Inner {
                name,
                ident,
                native_id: AtomicU64::new(0),
                kind,
                daemon,
                finished: AtomicBool::new(false),
                lock: Mutex::new(()),
                cv: Condvar::new(),
            }),
        }
    }

    /// The thread's name (Python's `Thread.name`): the one given to
    /// [`Builder::name`](super::Builder::name), else `Thread-N` or `Thread-N (target)`,
    /// `MainThread` for the main thread, `Dummy-N` for a thread threadkit did not start.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::thread::Builder;
    ///
    /// let h = Builder::new().name("First").spawn(|| ()).unwrap();
    /// assert_eq!(h.thread().name(), "First");
    /// h.join().unwrap();
    /// ```
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// A process-unique integer naming this thread (Python's `Thread.ident` and
    /// `threading.get_ident()`). Never reused within the process; the main thread's is 1.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::thread;
    ///
    /// assert_eq!(thread::main_thread().ident(), 1);
    /// let h = thread::spawn(thread::get_ident);
    /// let ident = h.ident();
    /// assert_eq!(h.join().unwrap(), ident);
    /// ```
    pub fn ident(&self) -> u64 {
        self.inner.ident
    }

    /// The operating system's id for the thread (Python's `Thread.native_id`; the Linux TID),
    /// or `None` before the thread has begun running, and on systems where threadkit cannot
    /// read it (only Linux and Android report it).
    ///
    /// # Examples
    ///
    /// ```
    /// let me = threadkit::thread::current();
    /// if cfg!(target_os = "linux") {
    ///     assert_eq!(me.native_id(), threadkit::thread::get_native_id());
    ///     assert!(me.native_id().is_some());
    /// }
    /// ```
    pub fn native_id(&self) -> Option<u64> {
        match self.inner.native_id.load(Ordering::Acquire) {
            0 => None,
            id => Some(id),
        }
    }

    /// Whether this is the main thread (the one that runs `main`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(threadkit::thread::main_thread().is_main());
    /// ```
    pub fn is_main(&self) -> bool {
        self.inner.kind == Kind::Main
    }

    /// Whether this thread was not started by threadkit (the main thread excepted): Python's
    /// `_DummyThread`, named `Dummy-N`, registered when it first asked for [`current`].
    ///
    /// # Examples
    ///
    /// ```
    /// let other = std::thread::spawn(|| threadkit::thread::current()).join().unwrap();
    /// assert!(other.is_dummy());
    /// assert!(other.name().starts_with("Dummy-"));
    /// ```
    pub fn is_dummy(&self) -> bool {
        self.inner.kind == Kind::Dummy
    }

    /// Whether the program's exit does not wait for this thread (Python's `Thread.daemon`).
    /// The main thread is not a daemon; dummy threads are (as in Python), since threadkit
    /// cannot join them.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::thread::Builder;
    ///
    /// let h = Builder::new().daemon(true).spawn(|| ()).unwrap();
    /// assert!(h.thread().is_daemon());
    /// h.join().unwrap();
    /// ```
    pub fn is_daemon(&self) -> bool {
        self.inner.daemon
    }

    /// Whether the thread is still running (Python's `Thread.is_alive()`). The main thread is
    /// always alive. A spawned thread stops being alive after its closure returned (or
    /// panicked) and its thread-locals were dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = threadkit::thread::spawn(|| ());
    /// let t = h.thread().clone();
    /// h.join().unwrap();
    /// assert!(!t.is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        !self.inner.finished.load(Ordering::Acquire)
    }

    /// Waits for the thread to finish (Python's `Thread.join()` on a thread object from
    /// [`enumerate`]). The thread's return value is not available here; use
    /// [`JoinHandle::join`](super::JoinHandle::join) for it.
    ///
    /// # Errors
    ///
    /// [`ThreadJoinError::CurrentThread`] when called for the calling thread itself (it would
    /// wait forever; Python raises "cannot join current thread"), and
    /// [`ThreadJoinError::NotJoinable`] for the main thread and dummy threads, whose end
    /// threadkit does not observe.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::thread;
    ///
    /// thread::spawn(|| std::thread::sleep(std::time::Duration::from_millis(10)));
    /// // Seed 003: join every thread but the main one.
    /// let main = thread::current();
    /// for t in thread::enumerate() {
    ///     if t != main && !t.is_dummy() {
    ///         t.join().unwrap();
    ///     }
    /// }
    /// ```
    pub fn join(&self) -> Result<(), ThreadJoinError> {
        self.check_joinable()?;
        let mut g = self.inner.lock.lock();
        while !self.inner.finished.load(Ordering::Acquire) {
            self.inner.cv.wait(&mut g);
        }
        Ok(())
    }

    /// Waits at most `timeout` for the thread to finish (Python's `Thread.join(timeout)`,
    /// with the "still running" answer as an error instead of a later `is_alive()` check).
    ///
    /// # Errors
    ///
    /// [`ThreadJoinError::Timeout`] when the thread is still running after `timeout`;
    /// [`ThreadJoinError::Overflow`] when `timeout` is too large for the clock; and the
    /// errors of [`join`](Thread::join).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::thread::{self, ThreadJoinError};
    ///
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let h = thread::spawn(move || rx.recv().ok());
    /// let t = h.thread().clone();
    /// assert_eq!(t.join_timeout(Duration::from_millis(20)), Err(ThreadJoinError::Timeout));
    /// drop(tx);
    /// assert_eq!(t.join_timeout(Duration::from_secs(10)), Ok(()));
    /// # h.join().unwrap();
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), ThreadJoinError> {
        self.check_joinable()?;
        let deadline = crate::time::deadline_after(timeout).map_err(ThreadJoinError::Overflow)?;
        if self.wait_finished_until(deadline) {
            Ok(())
        } else {
            Err(ThreadJoinError::Timeout)
        }
    }

    fn check_joinable(&self) -> Result<(), ThreadJoinError> {
        if self.inner.kind != Kind::Spawned {
            return Err(ThreadJoinError::NotJoinable {
                name: self.inner.name.clone(),
            });
        }
        if let Some(me) = try_current_ident() {
            if me == self.inner.ident {
                return Err(ThreadJoinError::CurrentThread);
            }
        }
        Ok(())
    }

    /// Waits until the thread is finished or `deadline` passes; true when finished.
    pub(crate) fn wait_finished_until(&self, deadline: Instant) -> bool {
        let mut g = self.inner.lock.lock();
        while !self.inner.finished.load(Ordering::Acquire) {
            if self.inner.cv.wait_until(&mut g, deadline).timed_out() {
                return self.inner.finished.load(Ordering::Acquire);
            }
        }
        true
    }

    pub(crate) fn set_native_id(&self, id: u64) {
        self.inner.native_id.store(id, Ordering::Release);
    }

    /// Marks the thread finished: removes it from the registry, then wakes its joiners.
    pub(crate) fn finish(&self) {
        if self.inner.kind == Kind::Main || self.inner.finished.load(Ordering::Acquire) {
            return;
        }
        unregister(self);
        let _g = self.inner.lock.lock();
        self.inner.finished.store(true, Ordering::Release);
        drop(_g);
        self.inner.cv.notify_all();
    }
}

impl PartialEq for Thread {
    fn eq(&self, other: &Thread) -> bool {
        self.inner.ident == other.inner.ident
    }
}

impl Eq for Thread {}

impl std::hash::Hash for Thread {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.inner.ident.hash(state);
    }
}

impl fmt::Debug for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thread")
            .field("name", &self.name())
            .field("ident", &self.ident())
            .field("native_id", &self.native_id())
            .field("daemon", &self.is_daemon())
            .field("main", &self.is_main())
            .field("dummy", &self.is_dummy())
            .field("alive", &self.is_alive())
            .finish()
    }
}

/// Python's `repr(thread)`: `<Thread(NAME, started IDENT)>`, `<_MainThread(MainThread,
/// started 1)>`, `<_DummyThread(Dummy-3, started daemon 9)>`, `stopped` once finished.
impl fmt::Display for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = match self.inner.kind {
            Kind::Main => "_MainThread",
            Kind::Spawned => "Thread",
            Kind::Dummy => "_DummyThread",
        };
        let status = if self.is_alive() {
            "started"
        } else {
            "stopped"
        };
        let daemon = if self.is_daemon() { " daemon" } else { "" };
        write!(
            f,
            "<{class}({}, {status}{daemon} {})>",
            self.name(),
            self.ident()
        )
    }
}

/// Why [`Thread::join`] or [`Thread::join_timeout`] did not wait.
///
/// # Examples
///
/// ```
/// use threadkit::thread::{self, ThreadJoinError};
///
/// // The main thread's end is not observable, so it cannot be joined.
/// let err = thread::main_thread().join().unwrap_err();
/// assert_eq!(err, ThreadJoinError::NotJoinable { name: "MainThread".into() });
/// // A thread cannot join itself.
/// let h = thread::spawn(|| thread::current().join());
/// assert_eq!(h.join().unwrap(), Err(ThreadJoinError::CurrentThread));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThreadJoinError {
    /// The thread is still running after the timeout.
    Timeout,
    /// A thread cannot wait for itself (Python: "cannot join current thread").
    CurrentThread,
    /// The main thread and dummy threads (not started by threadkit) cannot be joined: threadkit
    /// does not observe their end.
    NotJoinable {
        /// The thread's name.
        name: String,
    },
    /// The timeout is too large to be added to the clock.
    Overflow(TimeoutOverflow),
}

impl fmt::Display for ThreadJoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThreadJoinError::Timeout => f.write_str("timed out waiting for the thread to finish"),
            ThreadJoinError::CurrentThread => f.write_str("cannot join current thread"),
            ThreadJoinError::NotJoinable { name } => {
                write!(
                    f,
                    "cannot join thread {name:?}: it was not started by threadkit"
                )
            }
            ThreadJoinError::Overflow(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ThreadJoinError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ThreadJoinError::Overflow(e) => Some(e),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The table of live threads.

struct Table {
    /// Live threads other than the main thread, by ident (so in start order).
    live: BTreeMap<u64, Thread>,
    /// Live spawned non-daemon threads.
    non_daemon: usize,
}

static TABLE: Mutex<Table> = Mutex::new(Table {
    live: BTreeMap::new(),
    non_daemon: 0,
});
/// Notified whenever a non-daemon thread leaves the table.
static NON_DAEMON_EXITED: Condvar = Condvar::new();
static MAIN: OnceLock<Thread> = OnceLock::new();

pub(crate) fn register(t: &Thread) {
    let mut table = TABLE.lock();
    table.live.insert(t.ident(), t.clone());
    if t.inner.kind == Kind::Spawned && !t.inner.daemon {
        table.non_daemon += 1;
    }
}

fn unregister(t: &Thread) {
    let mut table = TABLE.lock();
    if table.live.remove(&t.ident()).is_some() && t.inner.kind == Kind::Spawned && !t.inner.daemon {
        table.non_daemon -= 1;
        drop(table);
        NON_DAEMON_EXITED.notify_all();
    }
}

/// Waits until no spawned non-daemon thread other than the caller is alive; with a deadline,
/// returns false if it passed first.
pub(crate) fn wait_non_daemon(deadline: Option<Instant>) -> bool {
    let me = try_current();
    let own = match &me {
        Some(t) if t.inner.kind == Kind::Spawned && !t.inner.daemon && t.is_alive() => 1,
        _ => 0,
    };
    let mut table = TABLE.lock();
    while table.non_daemon > own {
        match deadline {
            None => NON_DAEMON_EXITED.wait(&mut table),
            Some(d) => {
                if NON_DAEMON_EXITED.wait_until(&mut table, d).timed_out() {
                    return table.non_daemon <= own;
                }
            }
        }
    }
    true
}

/// The number of live spawned non-daemon threads.
pub(crate) fn non_daemon_count() -> usize {
    TABLE.lock().non_daemon
}

// ---------------------------------------------------------------------------------------------
// The current thread.

/// Holds the calling thread's `Thread`. Its destructor is the last thread-local destructor of a
/// spawned thread (it is registered first), so "finished" comes after the thread's other
/// thread-locals, such as [`Local`](super::Local) values, were dropped.
struct Slot(RefCell<Option<Thread>>);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(t) = self.0.get_mut().take() {
            t.finish();
        }
    }
}

thread_local! {
    static CURRENT: Slot = const { Slot(RefCell::new(None)) };
}

/// Installs `t` as the calling thread's `Thread` (the first thing a spawned thread does).
pub(crate) fn set_current(t: Thread) {
    // If the slot was already destroyed there is nothing to record into; the spawner's
    // bookkeeping still runs through `finish` called by the thread body's guard.
    let _ = CURRENT.try_with(|slot| *slot.0.borrow_mut() = Some(t));
}

fn try_current_ident() -> Option<u64> {
    CURRENT
        .try_with(|slot| slot.0.borrow().as_ref().map(Thread::ident))
        .ok()
        .flatten()
}

/// The OS thread id of the caller, where threadkit can read it.
pub(crate) fn os_tid() -> Option<u64> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        Some(rustix::thread::gettid().as_raw_nonzero().get() as u64)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        None
    }
}

fn is_main_os_thread() -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        rustix::thread::gettid() == rustix::process::getpid()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        std::thread::current().name() == Some("main")
    }
}

/// The `Thread` of the calling thread (Python's `threading.current_thread()`).
///
/// For a thread started by threadkit this is its registered `Thread`; for the main thread it is
/// [`main_thread()`]; any other thread (started with `std::thread` or by another library) is
/// registered on its first call as a daemon "dummy" thread named `Dummy-N`, like Python's
/// `_DummyThread`, and removed from the registry when it exits.
///
/// # Examples
///
/// ```
/// use threadkit::thread;
///
/// let name = thread::Builder::new()
///     .name("worker")
///     .spawn(|| thread::current().name().to_owned())
///     .unwrap()
///     .join()
///     .unwrap();
/// assert_eq!(name, "worker");
/// ```
pub fn current() -> Thread {
    match CURRENT.try_with(|slot| {
        if let Some(t) = slot.0.borrow().as_ref() {
            return t.clone();
        }
        let t = if is_main_os_thread() {
            main_thread()
        } else {
            let t = Thread::new(next_name("Dummy"), Kind::Dummy, true);
            t.set_native_id(os_tid().unwrap_or(0));
            register(&t);
            t
        };
        *slot.0.borrow_mut() = Some(t.clone());
        t
    }) {
        Ok(t) => t,
        // The thread is being torn down (its thread-locals are being dropped): describe it
        // without registering it.
        Err(_) => {
            if is_main_os_thread() {
                return main_thread();
            }
            let t = Thread::new(next_name("Dummy"), Kind::Dummy, true);
            t.set_native_id(os_tid().unwrap_or(0));
            t
        }
    }
}

/// The calling thread's [`Thread`] if threadkit already knows it (started by threadkit, the
/// main thread, or registered earlier by [`current`]); `None` for a foreign thread. Unlike
/// [`current`], it never registers a dummy thread, so diagnostics can call it from anywhere
/// without changing what [`enumerate`] shows.
///
/// # Examples
///
/// ```
/// use threadkit::thread;
///
/// assert!(std::thread::spawn(|| thread::try_current().is_none()).join().unwrap());
/// let name = thread::Builder::new()
///     .name("known")
///     .spawn(|| thread::try_current().map(|t| t.name().to_owned()))
///     .unwrap()
///     .join()
///     .unwrap();
/// assert_eq!(name.as_deref(), Some("known"));
/// ```
pub fn try_current() -> Option<Thread> {
    let known = CURRENT
        .try_with(|slot| slot.0.borrow().clone())
        .ok()
        .flatten();
    known.or_else(|| is_main_os_thread().then(main_thread))
}

/// The main thread, the one that runs `main` (Python's `threading.main_thread()`), named
/// `MainThread`.
///
/// On Linux the main thread is recognised by its thread id being the process id; elsewhere by
/// the name `main` that Rust's runtime gives it.
///
/// # Examples
///
/// ```
/// let main = threadkit::thread::main_thread();
/// assert_eq!(main.name(), "MainThread");
/// assert!(main.is_main() && main.is_alive() && !main.is_daemon());
/// ```
pub fn main_thread() -> Thread {
    MAIN.get_or_init(|| {
        let t = Thread::new("MainThread".to_owned(), Kind::Main, false);
        #[cfg(any(target_os = "linux", target_os = "android"))]
        t.set_native_id(rustix::process::getpid().as_raw_nonzero().get() as u64);
        t
    })
    .clone()
}

/// Every live thread threadkit knows of (Python's `threading.enumerate()`): the main thread
/// first, then threads started by threadkit and dummy threads, in the order they were
/// registered. Threads that never called into threadkit's registry are not seen.
///
/// # Examples
///
/// ```
/// use threadkit::thread;
///
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let h = thread::Builder::new().name("listed").spawn(move || rx.recv().ok()).unwrap();
/// let names: Vec<String> = thread::enumerate().iter().map(|t| t.name().to_owned()).collect();
/// assert_eq!(names[0], "MainThread");
/// assert!(names.iter().any(|n| n == "listed"));
/// drop(tx);
/// h.join().unwrap();
/// ```
pub fn enumerate() -> Vec<Thread> {
    let main = main_thread();
    let table = TABLE.lock();
    let mut v = Vec::with_capacity(table.live.len() + 1);
    v.push(main);
    v.extend(table.live.values().cloned());
    v
}

/// The number of live threads [`enumerate`] would list (Python's `threading.active_count()`);
/// the main thread is always counted.
///
/// # Examples
///
/// ```
/// assert!(threadkit::thread::active_count() >= 1);
/// ```
pub fn active_count() -> usize {
    TABLE.lock().live.len() + 1
}

/// The calling thread's ident (Python's `threading.get_ident()`); the same as
/// `current().ident()`.
///
/// # Examples
///
/// ```
/// assert_eq!(threadkit::thread::get_ident(), threadkit::thread::current().ident());
/// ```
pub fn get_ident() -> u64 {
    if let Some(id) = try_current_ident() {
        return id;
    }
    current().ident()
}

/// The calling thread's OS thread id (Python's `threading.get_native_id()`), or `None` where
/// threadkit cannot read it (only Linux and Android report it).
///
/// # Examples
///
/// ```
/// if cfg!(target_os = "linux") {
///     assert_eq!(threadkit::thread::get_native_id(), Some(std::process::id() as u64));
/// }
/// ```
pub fn get_native_id() -> Option<u64> {
    os_tid()
}
