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

/// Installs `hook` as the process's except hook, called with the panicking thread's threadkit
/// name and ident, the message and the location: Python's `threading.excepthook = hook`.
///
/// Not installed automatically. It is told, at the moment of the panic and in the panicking
/// thread, about every panic threadkit does not catch (the main thread's, a `std` thread's,
/// one caught by the program's own `catch_unwind`) and about the panics of threadkit threads'
/// bodies (which [`JoinHandle::join`](super::JoinHandle::join) also returns as a
/// [`ThreadPanic`](super::ThreadPanic)). Like Python's, it is not told about the panics
/// threadkit hands back as values elsewhere (batch items, executor and process-pool tasks):
/// see [`print_captured_panics`]. It replaces Rust's default message (and any hook set
/// before); [`reset_excepthook`] brings Rust's back.
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
    crate::unwind::set_excepthook(Some(std::sync::Arc::new(move |info| {
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
    })));
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

/// Whether a panic that threadkit catches and hands back as a value is also printed by the
/// panic hook (`true`), or only reported where it is handed back (`false`, the default).
///
/// The values that carry such a panic: a batch item's
/// [`Cause::Panic`](crate::batch::Cause::Panic) (shown by the report), an executor task's and
/// a process-pool task's `TaskError::Panicked`, a process's
/// [`ProcessError::Panicked`](crate::process::ProcessError::Panicked), a joined thread's
/// [`ThreadPanic`](super::ThreadPanic); each has the message, the location, and the backtrace
/// when `RUST_BACKTRACE` asks for one. Rust's panic hook, which runs at the moment of the
/// panic, would print it a second time (`thread '...' panicked at ...`, and a whole backtrace
/// under `RUST_BACKTRACE=1`), which reads as a crash; so threadkit puts a hook of its own in
/// front of the one in place (Rust's default, or the program's) the first time it catches a
/// panic. That hook stays quiet for the panics threadkit catches and calls the hook in place
/// for every other panic: those still print as usual, and a hook the program set before keeps
/// working for them. A hook the program sets with [`std::panic::set_hook`] *after* threadkit's
/// replaces it, and then sees every panic, caught ones included. Setting the environment
/// variable `THREADKIT_PRINT_CAPTURED_PANICS=1` does the same as `print_captured_panics(true)`.
///
/// A thread whose handle is dropped unjoined reports its panic itself (see
/// [`JoinHandle`](super::JoinHandle)); a done-callback's panic, which nobody gets back, prints
/// as usual.
///
/// # Examples
///
/// ```
/// // While debugging: print every panic where it happens, caught or not.
/// threadkit::thread::print_captured_panics(true);
/// let h = threadkit::thread::spawn(|| -> () { panic!("printed, and returned") });
/// assert!(h.join().is_err());
/// threadkit::thread::print_captured_panics(false);
/// ```
pub fn print_captured_panics(on: bool) {
    crate::unwind::print_captured(on);
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
    crate::unwind::set_excepthook(None);
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
