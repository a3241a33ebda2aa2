//! A panic hook that names the thread, like Python's `threading.excepthook`.

use std::any::Any;
use std::io::Write;
use std::panic::Location;

use super::registry::{self, Thread};

/// What the except hook is told about a panic (Python's `threading.ExceptHookArgs`).
///
/// # Examples
///
/// ```
/// use threadkit::thread::ExceptHookArgs;
///
/// fn report(args: &ExceptHookArgs<'_>) {
///     eprintln!("{} (ident {}) failed: {}", args.thread_name, args.ident, args.message);
/// }
/// # let _ = report;
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct ExceptHookArgs<'a> {
    /// The panicking thread's threadkit name (`MainThread`, `Thread-3 (worker)`, `Dummy-2`).
    pub thread_name: &'a str,
    /// The panicking thread's ident.
    pub ident: u64,
    /// The panicking thread.
    pub thread: &'a Thread,
    /// The panic message, or a placeholder for a payload that is not a string.
    pub message: &'a str,
    /// Where the panic happened, when Rust knows.
    pub location: Option<&'a Location<'a>>,
    /// The panic payload.
    pub payload: &'a (dyn Any + Send),
}

/// Installs `hook` as the process's panic hook (Rust's [`std::panic::set_hook`]), called with
/// the panicking thread's threadkit name and ident, the message and the location: Python's
/// `threading.excepthook = hook`.
///
/// Not installed automatically. Unlike Python's, which only sees exceptions that escape a
/// thread's `run()`, a Rust panic hook runs at the moment of every panic, in the panicking
/// thread, also for panics that are caught later (by `catch_unwind`, or returned by
/// [`JoinHandle::join`](super::JoinHandle::join) as a [`ThreadPanic`](super::ThreadPanic)),
/// and for the main thread. It replaces any previous hook (including Rust's default message);
/// [`reset_excepthook`] brings Rust's back.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use threadkit::thread;
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let s = seen.clone();
/// thread::set_excepthook(move |args| {
///     s.lock().unwrap().push(format!("{}: {}", args.thread_name, args.message));
/// });
/// let h = thread::Builder::new().name("worker").spawn(|| -> () { panic!("oops") }).unwrap();
/// assert!(h.join().is_err());
/// thread::reset_excepthook();
/// assert_eq!(seen.lock().unwrap().as_slice(), ["worker: oops"]);
/// ```
pub fn set_excepthook(hook: impl Fn(&ExceptHookArgs<'_>) + Send + Sync + 'static) {
    std::panic::set_hook(Box::new(move |info| {
        let thread = registry::current();
        let message = crate::unwind::payload_message(info.payload());
        hook(&ExceptHookArgs {
            thread_name: thread.name(),
            ident: thread.ident(),
            thread: &thread,
            message: &message,
            location: info.location(),
            payload: info.payload(),
        });
    }));
}

/// Installs [`default_excepthook`] as the panic hook: every panic is reported as
/// `Exception in thread NAME: MESSAGE (at FILE:LINE:COL)` on standard error.
///
/// # Examples
///
/// ```
/// threadkit::thread::install_excepthook();
/// let h = threadkit::thread::Builder::new().name("w").spawn(|| -> () { panic!("boom") }).unwrap();
/// // stderr: Exception in thread w: boom (at src/main.rs:3:70)
/// assert_eq!(h.join().unwrap_err().name(), "w");
/// threadkit::thread::reset_excepthook();
/// ```
pub fn install_excepthook() {
    set_excepthook(default_excepthook);
}

/// Puts Rust's default panic hook back (`thread 'NAME' panicked at ...`).
///
/// # Examples
///
/// ```
/// threadkit::thread::install_excepthook();
/// threadkit::thread::reset_excepthook();
/// ```
pub fn reset_excepthook() {
    drop(std::panic::take_hook());
}

/// The report [`install_excepthook`] prints (Python's `threading.__excepthook__`): one line
/// `Exception in thread NAME: MESSAGE (at FILE:LINE:COL)` on standard error.
///
/// # Examples
///
/// ```
/// // Print the report, then do something more.
/// threadkit::thread::set_excepthook(|args| {
///     threadkit::thread::default_excepthook(args);
///     // ... count failures, alert, ...
/// });
/// # threadkit::thread::reset_excepthook();
/// ```
pub fn default_excepthook(args: &ExceptHookArgs<'_>) {
    let line = format_report(args);
    // Like Python's hook, reporting must not fail: a closed stderr is ignored.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

fn format_report(args: &ExceptHookArgs<'_>) -> String {
    match args.location {
        Some(loc) => format!(
            "Exception in thread {}: {} (at {}:{}:{})\n",
            args.thread_name,
            args.message,
            loc.file(),
            loc.line(),
            loc.column()
        ),
        None => format!(
            "Exception in thread {}: {}\n",
            args.thread_name, args.message
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_format() {
        let t = registry::current();
        let payload: Box<dyn Any + Send> = Box::new("boom");
        let args = ExceptHookArgs {
            thread_name: "Thread-1 (work)",
            ident: 5,
            thread: &t,
            message: "boom",
            location: None,
            payload: &*payload,
        };
        assert_eq!(
            format_report(&args),
            "Exception in thread Thread-1 (work): boom\n"
        );
        let loc = Location::caller();
        let args = ExceptHookArgs {
            location: Some(loc),
            ..args
        };
        assert!(format_report(&args).starts_with("Exception in thread Thread-1 (work): boom (at "));
    }
}
