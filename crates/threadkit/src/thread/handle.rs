//! [`JoinHandle`], and the errors joining reports: [`ThreadPanic`], [`JoinTimeoutError`].

use std::any::Any;
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::unwind::Origin;

use super::registry::Thread;
use crate::time::TimeoutOverflow;

type Payload = Box<dyn Any + Send + 'static>;
/// What a thread's body leaves: its value, or its panic and where it happened.
type Body<T> = Result<T, (Payload, Origin)>;

/// An owned permission to wait for a thread and take the value it returned (Python's `Thread`
/// object after `start()`, whose `join()` here also hands back the result).
///
/// Dropping the handle detaches the thread: it keeps running and its value is dropped when it
/// finishes (see [`ExitGuard`](super::ExitGuard) for waiting at exit). A panic of the thread
/// is reported once: by [`join`](JoinHandle::join) as a [`ThreadPanic`] (Rust's panic hook
/// does not print it as well), or, when the handle is dropped unjoined, on standard error as
/// Rust's hook would (`thread 'NAME' panicked at FILE:LINE:COL:` and the message) when the
/// panic happens or the handle is dropped, whichever comes last.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::thread::Builder;
///
/// let h = Builder::new().name("worker").spawn(|| 2 + 2).unwrap();
/// println!("{} (ident {}) alive: {}", h.name(), h.ident(), h.is_alive());
/// assert_eq!(h.join_timeout(Duration::from_secs(10)).ok(), Some(4));
/// ```
pub struct JoinHandle<T> {
    thread: Thread,
    /// `None` once joined.
    native: Option<std::thread::JoinHandle<Body<T>>>,
    fate: Arc<Fate>,
}

/// Who reports the panic of a thread's body: the handle's owner (through `join`), or, for a
/// thread whose handle was dropped unjoined, threadkit (a panic that nobody can get back is
/// not kept quiet). Starts at 0: running, with a handle.
#[derive(Debug, Default)]
pub(crate) struct Fate(AtomicU8);

const PANICKED: u8 = 1;
const DETACHED: u8 = 2;

impl Fate {
    /// The thread's body panicked: reports it if the handle is gone.
    pub(crate) fn panicked(&self, thread: &Thread, payload: &(dyn Any + Send), origin: &Origin) {
        if self.0.swap(PANICKED, Ordering::SeqCst) == DETACHED {
            report_unjoined(thread.name(), payload, origin);
        }
    }

    /// The handle is dropped unjoined: whether the thread had already panicked (then the
    /// handle reports it).
    fn detach(&self) -> bool {
        self.0.swap(DETACHED, Ordering::SeqCst) == PANICKED
    }
}

/// Reports the panic of a thread nobody joins, as Rust's default hook would have (unless
/// threadkit's except hook was already told about it).
fn report_unjoined(name: &str, payload: &(dyn Any + Send), origin: &Origin) {
    if crate::unwind::reported_at_panic_time() {
        return;
    }
    let message = crate::unwind::payload_message(payload);
    let at = origin.location.as_deref().unwrap_or("an unknown location");
    let mut text = format!("thread '{name}' panicked at {at}:\n{message}\n");
    if let Some(trace) = &origin.backtrace {
        text.push_str(trace);
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    // Like the default hook: a closed stderr is ignored.
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), text.as_bytes());
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if self.fate.detach() {
            // The thread panicked before its handle went: its result is there (or about to
            // be, as the thread exits): take it and report it.
            if let Some(Ok(Err((payload, origin)))) = self.native.take().map(|n| n.join()) {
                report_unjoined(self.thread.name(), &*payload, &origin);
            }
            self.thread.finish();
        }
    }
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(
        thread: Thread,
        native: std::thread::JoinHandle<Body<T>>,
        fate: Arc<Fate>,
    ) -> Self {
        JoinHandle {
            thread,
            native: Some(native),
            fate,
        }
    }

    /// Waits for the thread to finish and returns its value (Python's `Thread.join()`, which
    /// here also returns what the target returned).
    ///
    /// When it returns, the thread has exited: its thread-locals (and [`Local`](super::Local)
    /// values) were dropped and it is no longer listed by [`enumerate`](super::enumerate).
    ///
    /// # Errors
    ///
    /// [`ThreadPanic`] when the thread panicked, carrying the thread's name, the panic message
    /// and the payload.
    ///
    /// # Panics
    ///
    /// Panics if called on the thread's own handle from inside that thread (it would wait
    /// forever), as [`std::thread::JoinHandle::join`] does.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::thread::Builder;
    ///
    /// let ok = Builder::new().spawn(|| 1).unwrap();
    /// assert_eq!(ok.join().unwrap(), 1);
    ///
    /// let bad = Builder::new().name("doomed").spawn(|| -> u32 { panic!("boom") }).unwrap();
    /// let err = bad.join().unwrap_err();
    /// assert_eq!(err.name(), "doomed");
    /// assert_eq!(err.message(), "boom");
    /// assert!(err.to_string().starts_with("thread 'doomed' panicked at ")); // FILE:LINE:COL: boom
    /// ```
    pub fn join(mut self) -> Result<T, ThreadPanic> {
        let thread = self.thread.clone();
        let native = self
            .native
            .take()
            .expect("joined once: join takes the handle");
        let result = match native.join() {
            Ok(r) => r,
            // threadkit catches the closure's panics itself; this is a panic in its own
            // bookkeeping, reported the same way.
            Err(payload) => Err((payload, crate::unwind::Origin::default())),
        };
        // The OS thread has exited, so its thread-local destructors have run; make sure the
        // registry agrees even if they could not (platforms without them).
        thread.finish();
        result.map_err(|(payload, origin)| ThreadPanic::new(&thread, payload, origin))
    }

    /// Waits at most `timeout` for the thread to finish (Python's `Thread.join(timeout)`).
    ///
    /// # Errors
    ///
    /// [`JoinTimeoutError::Timeout`] with this handle when the thread is still running, so the
    /// caller can [`join`](JoinHandle::join) again later; [`JoinTimeoutError::Panicked`] when
    /// it panicked; [`JoinTimeoutError::Overflow`] (with the handle) when `timeout` is too
    /// large for the clock.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::thread::{self, JoinTimeoutError};
    ///
    /// let (tx, rx) = std::sync::mpsc::channel::<u32>();
    /// let h = thread::spawn(move || rx.recv().unwrap() * 2);
    /// let h = match h.join_timeout(Duration::from_millis(20)) {
    ///     Err(JoinTimeoutError::Timeout(h)) => h, // still running: keep the handle
    ///     other => panic!("unexpected {other:?}"),
    /// };
    /// tx.send(21).unwrap();
    /// assert_eq!(h.join_timeout(Duration::from_secs(10)).unwrap(), 42);
    /// ```
    pub fn join_timeout(self, timeout: Duration) -> Result<T, JoinTimeoutError<T>> {
        match crate::time::deadline_after(timeout) {
            Ok(deadline) => self.join_until(deadline),
            Err(e) => Err(JoinTimeoutError::Overflow(self, e)),
        }
    }

    /// Waits until `deadline` at most for the thread to finish; see
    /// [`join_timeout`](JoinHandle::join_timeout).
    ///
    /// # Errors
    ///
    /// [`JoinTimeoutError::Timeout`] with this handle when the thread is still running at
    /// `deadline`; [`JoinTimeoutError::Panicked`] when it panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let h = threadkit::thread::spawn(|| "quick");
    /// let deadline = Instant::now() + Duration::from_secs(10);
    /// assert_eq!(h.join_until(deadline).unwrap(), "quick");
    /// ```
    pub fn join_until(self, deadline: Instant) -> Result<T, JoinTimeoutError<T>> {
        if self.thread.wait_finished_until(deadline) {
            self.join().map_err(JoinTimeoutError::Panicked)
        } else {
            Err(JoinTimeoutError::Timeout(self))
        }
    }

    /// Whether the thread is still running (Python's `Thread.is_alive()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let h = threadkit::thread::spawn(move || rx.recv().ok());
    /// assert!(h.is_alive());
    /// drop(tx);
    /// let t = h.thread().clone();
    /// h.join().unwrap();
    /// assert!(!t.is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        self.thread.is_alive()
    }

    /// The thread's name (Python's `Thread.name`).
    ///
    /// # Examples
    ///
    /// ```
    /// let h = threadkit::thread::Builder::new().name("Second").spawn(|| ()).unwrap();
    /// assert_eq!(h.name(), "Second");
    /// # h.join().unwrap();
    /// ```
    pub fn name(&self) -> &str {
        self.thread.name()
    }

    /// The thread's process-unique ident (Python's `Thread.ident`), known from the start.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = threadkit::thread::spawn(threadkit::thread::get_ident);
    /// let id = h.ident();
    /// assert_eq!(h.join().unwrap(), id);
    /// ```
    pub fn ident(&self) -> u64 {
        self.thread.ident()
    }

    /// The thread's OS thread id (Python's `Thread.native_id`); `None` until the new thread
    /// has begun running, and where threadkit cannot read it (only Linux and Android report it).
    ///
    /// # Examples
    ///
    /// ```
    /// let h = threadkit::thread::spawn(threadkit::thread::get_native_id);
    /// let t = h.thread().clone();
    /// let inside = h.join().unwrap();
    /// assert_eq!(t.native_id(), inside);
    /// ```
    pub fn native_id(&self) -> Option<u64> {
        self.thread.native_id()
    }

    /// Whether the program's exit does not wait for this thread (Python's `Thread.daemon`).
    ///
    /// # Examples
    ///
    /// ```
    /// let h = threadkit::thread::Builder::new().daemon(true).spawn(|| ()).unwrap();
    /// assert!(h.is_daemon());
    /// # h.join().unwrap();
    /// ```
    pub fn is_daemon(&self) -> bool {
        self.thread.is_daemon()
    }

    /// The thread's [`Thread`] information handle, which can be cloned and kept after the
    /// handle was joined.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = threadkit::thread::spawn(|| threadkit::thread::current());
    /// let t = h.thread().clone();
    /// assert_eq!(h.join().unwrap(), t);
    /// ```
    pub fn thread(&self) -> &Thread {
        &self.thread
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("thread", &self.thread)
            .finish_non_exhaustive()
    }
}

/// A thread panicked: what [`JoinHandle::join`] returns instead of the value, with the
/// thread's name and the panic message (Python's exception escaping `run()`, as
/// `threading.excepthook` would report it).
///
/// # Examples
///
/// ```
/// use threadkit::thread::Builder;
///
/// let h = Builder::new().name("parser").spawn(|| -> () { panic!("bad input {}", 7) }).unwrap();
/// let p = h.join().unwrap_err();
/// assert_eq!(p.name(), "parser");
/// assert_eq!(p.message(), "bad input 7");
/// // Re-raise it in this thread, as `std::thread::JoinHandle::join().unwrap()` would:
/// let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
///     std::panic::resume_unwind(p.into_payload())
/// }));
/// assert!(again.is_err());
/// ```
pub struct ThreadPanic {
    name: String,
    ident: u64,
    message: String,
    payload: Payload,
    origin: crate::unwind::Origin,
}

impl ThreadPanic {
    fn new(thread: &Thread, payload: Payload, origin: crate::unwind::Origin) -> ThreadPanic {
        ThreadPanic {
            name: thread.name().to_owned(),
            ident: thread.ident(),
            message: crate::unwind::payload_message(&*payload),
            payload,
            origin,
        }
    }

    /// Where the thread panicked: `file:line:column`, when Rust knows (and the program's own
    /// panic hook did not replace threadkit's).
    ///
    /// # Examples
    ///
    /// ```
    /// let h = threadkit::thread::spawn(|| -> () { panic!("x") });
    /// assert!(h.join().unwrap_err().location().unwrap().contains(".rs:"));
    /// ```
    pub fn location(&self) -> Option<&str> {
        self.origin.location.as_deref()
    }

    /// The panic's backtrace, as Rust prints it, when `RUST_BACKTRACE` (or
    /// `RUST_LIB_BACKTRACE`) was set to `1` or `full` (Python's traceback).
    ///
    /// # Examples
    ///
    /// ```
    /// let h = threadkit::thread::spawn(|| -> () { panic!("x") });
    /// let p = h.join().unwrap_err();
    /// if std::env::var_os("RUST_BACKTRACE").is_none() && std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
    ///     assert!(p.backtrace().is_none());
    /// }
    /// ```
    pub fn backtrace(&self) -> Option<&str> {
        self.origin.backtrace.as_deref()
    }

    /// The name of the thread that panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = threadkit::thread::Builder::new().name("t").spawn(|| -> () { panic!("x") }).unwrap();
    /// assert_eq!(h.join().unwrap_err().name(), "t");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The ident of the thread that panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = threadkit::thread::spawn(|| -> () { panic!("x") });
    /// let id = h.ident();
    /// assert_eq!(h.join().unwrap_err().ident(), id);
    /// ```
    pub fn ident(&self) -> u64 {
        self.ident
    }

    /// The panic message: the `&str` or `String` given to `panic!`, or a placeholder for
    /// other payload types.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = threadkit::thread::spawn(|| -> () { panic!("disk {} full", 2) });
    /// assert_eq!(h.join().unwrap_err().message(), "disk 2 full");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The panic payload, e.g. to downcast a value given to `std::panic::panic_any`.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = threadkit::thread::spawn(|| -> () { std::panic::panic_any(42u32) });
    /// let p = h.join().unwrap_err();
    /// assert_eq!(p.payload().downcast_ref::<u32>(), Some(&42));
    /// ```
    pub fn payload(&self) -> &(dyn Any + Send + 'static) {
        &*self.payload
    }

    /// The panic payload by value, for [`std::panic::resume_unwind`].
    ///
    /// # Examples
    ///
    /// ```
    /// let h = threadkit::thread::spawn(|| -> () { panic!("again") });
    /// let payload = h.join().unwrap_err().into_payload();
    /// assert_eq!(payload.downcast_ref::<&str>(), Some(&"again"));
    /// ```
    pub fn into_payload(self) -> Box<dyn Any + Send + 'static> {
        self.payload
    }
}

impl fmt::Debug for ThreadPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPanic")
            .field("name", &self.name)
            .field("ident", &self.ident)
            .field("message", &self.message)
            .field("location", &self.origin.location)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ThreadPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin.location {
            Some(at) => write!(
                f,
                "thread '{}' panicked at {at}: {}",
                self.name, self.message
            ),
            None => write!(f, "thread '{}' panicked: {}", self.name, self.message),
        }
    }
}

impl std::error::Error for ThreadPanic {}

/// Why [`JoinHandle::join_timeout`] returned without the value.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::thread::{self, JoinTimeoutError};
///
/// let h = thread::spawn(|| 5);
/// match h.join_timeout(Duration::MAX) {
///     Err(JoinTimeoutError::Overflow(h, _)) => assert_eq!(h.join().unwrap(), 5),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
pub enum JoinTimeoutError<T> {
    /// The thread is still running; here is its handle to join again.
    Timeout(JoinHandle<T>),
    /// The thread panicked.
    Panicked(ThreadPanic),
    /// The timeout is too large to be added to the clock; here is the handle back.
    Overflow(JoinHandle<T>, TimeoutOverflow),
}

impl<T> JoinTimeoutError<T> {
    /// Whether the thread was still running.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let h = threadkit::thread::spawn(move || rx.recv().ok());
    /// let e = h.join_timeout(Duration::from_millis(1)).unwrap_err();
    /// assert!(e.is_timeout());
    /// drop(tx);
    /// e.into_handle().unwrap().join().unwrap();
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, JoinTimeoutError::Timeout(_))
    }

    /// The handle, when the thread has not been joined (`Timeout`, `Overflow`).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// let h = threadkit::thread::spawn(|| 1);
    /// let e = h.join_timeout(Duration::MAX).unwrap_err();
    /// assert_eq!(e.into_handle().unwrap().join().unwrap(), 1);
    /// ```
    pub fn into_handle(self) -> Option<JoinHandle<T>> {
        match self {
            JoinTimeoutError::Timeout(h) | JoinTimeoutError::Overflow(h, _) => Some(h),
            JoinTimeoutError::Panicked(_) => None,
        }
    }
}

impl<T> fmt::Debug for JoinTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinTimeoutError::Timeout(h) => f.debug_tuple("Timeout").field(h).finish(),
            JoinTimeoutError::Panicked(p) => f.debug_tuple("Panicked").field(p).finish(),
            JoinTimeoutError::Overflow(h, e) => {
                f.debug_tuple("Overflow").field(h).field(e).finish()
            }
        }
    }
}

impl<T> fmt::Display for JoinTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinTimeoutError::Timeout(h) => {
                write!(f, "timed out waiting for thread '{}' to finish", h.name())
            }
            JoinTimeoutError::Panicked(p) => p.fmt(f),
            JoinTimeoutError::Overflow(_, e) => e.fmt(f),
        }
    }
}

impl<T> std::error::Error for JoinTimeoutError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JoinTimeoutError::Panicked(p) => Some(p),
            JoinTimeoutError::Overflow(_, e) => Some(e),
            JoinTimeoutError::Timeout(_) => None,
        }
    }
}
