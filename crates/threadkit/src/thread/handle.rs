//! [`JoinHandle`], and the errors joining reports: [`ThreadPanic`], [`JoinTimeoutError`].

use std::any::Any;
use std::fmt;
use std::time::{Duration, Instant};

use super::registry::Thread;
use crate::time::TimeoutOverflow;

type Payload = Box<dyn Any + Send + 'static>;

/// An owned permission to wait for a thread and take the value it returned (Python's `Thread`
/// object after `start()`, whose `join()` here also hands back the result).
///
/// Dropping the handle detaches the thread: it keeps running and its value is dropped when it
/// finishes (see [`ExitGuard`](super::ExitGuard) for waiting at exit).
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
    native: std::thread::JoinHandle<Result<T, Payload>>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(thread: Thread, native: std::thread::JoinHandle<Result<T, Payload>>) -> Self {
        JoinHandle { thread, native }
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
    /// assert_eq!(err.to_string(), "thread 'doomed' panicked: boom");
    /// ```
    pub fn join(self) -> Result<T, ThreadPanic> {
        let thread = self.thread;
        let result = match self.native.join() {
            Ok(r) => r,
            // threadkit catches the closure's panics itself; this is a panic in its own
            // bookkeeping, reported the same way.
            Err(payload) => Err(payload),
        };
        // The OS thread has exited, so its thread-local destructors have run; make sure the
        // registry agrees even if they could not (platforms without them).
        thread.finish();
        result.map_err(|payload| ThreadPanic::new(&thread, payload))
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
        match crate::deadline_after(timeout) {
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
}

impl ThreadPanic {
    fn new(thread: &Thread, payload: Payload) -> ThreadPanic {
        ThreadPanic {
            name: thread.name().to_owned(),
            ident: thread.ident(),
            message: crate::unwind::payload_message(&*payload),
            payload,
        }
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
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ThreadPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "thread '{}' panicked: {}", self.name, self.message)
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
