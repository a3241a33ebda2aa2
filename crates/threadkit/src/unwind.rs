//! The one place where panics are caught and turned into values (rayon-core's `unwind.rs`),
//! and the panic hook that keeps those panics quiet.
//!
//! A panic that threadkit catches and hands back as a value (a batch item's
//! [`Cause::Panic`](crate::batch::Cause::Panic), an executor task's error, a process's or
//! process-pool task's error, a joined thread's [`ThreadPanic`](crate::thread::ThreadPanic)) is
//! reported there, once, with where it happened (and its backtrace when `RUST_BACKTRACE` asks
//! for one). Rust's panic hook runs at the moment of the panic, before anyone knows it will be
//! caught, and by default prints `thread '...' panicked at ...` (and a whole backtrace under
//! `RUST_BACKTRACE=1`): to a Python user, a crash. So the first [`catch`] installs a hook of
//! threadkit's in front of the one in place (Rust's default, or the program's own): while the
//! panicking thread is inside a [`catch`] (a thread-local mode, set by each catch for its
//! extent), the hook only notes the location and the backtrace for the catcher; otherwise it
//! calls the hook that was in place.
//! [`print_captured`] turns the quiet part off
//! ([`thread::print_captured_panics`](crate::thread::print_captured_panics)).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};

/// A panic payload.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

/// Whether captured panics are printed by the hook in place as well (the opt-out).
static PRINT_CAPTURED: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

/// What the innermost catch on a thread does with a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Not caught by threadkit, or caught and not handed back: the hook in place reports it.
    Report,
    /// Caught and handed back as a value: reported there.
    Capture,
    /// A thread's body: handed back by `join`, and told to threadkit's except hook.
    ThreadBody,
}

thread_local! {
    /// What the innermost threadkit catch this thread is inside does with a panic.
    static MODE: Cell<Mode> = const { Cell::new(Mode::Report) };
    /// Where the last panic caught on this thread happened, noted by the hook.
    static LAST: RefCell<Option<Origin>> = const { RefCell::new(None) };
}

/// Where a caught panic happened, and its backtrace when `RUST_BACKTRACE` (or
/// `RUST_LIB_BACKTRACE`) asks for one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Origin {
    /// `file:line:column`.
    pub(crate) location: Option<String>,
    /// The backtrace, as Rust prints it, trimmed to the panic's own frames.
    pub(crate) backtrace: Option<String>,
}

/// Returns the message a panic payload carries: the `&str` or `String` given to `panic!`, or a
/// placeholder for payloads of other types.
pub(crate) fn payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any> (a non-string panic payload)".to_owned()
    }
}

/// Runs `f`, turning a panic into `Err(payload)`; the panic is not printed by the panic hook
/// (see the module docs), and [`take_origin`] says where it happened.
///
/// The closure is wrapped in `AssertUnwindSafe`: every caller hands the payload back to the
/// user as a value and never observes state the closure may have left half-updated.
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, Payload> {
    catch_as(Mode::Capture, f)
}

/// [`catch`] for a thread's body: the panic also goes to threadkit's except hook, when one is
/// set (Python's `threading.excepthook` is told about exceptions escaping a thread).
pub(crate) fn catch_thread_body<T>(f: impl FnOnce() -> T) -> Result<T, Payload> {
    catch_as(Mode::ThreadBody, f)
}

/// Runs `f`, turning a panic into `Err(payload)` for a caller that does not hand the panic
/// back (a done-callback, a scope's body that is resumed): the panic hook reports it as usual.
pub(crate) fn catch_reported<T>(f: impl FnOnce() -> T) -> Result<T, Payload> {
    catch_as(Mode::Report, f)
}

fn catch_as<T>(mode: Mode, f: impl FnOnce() -> T) -> Result<T, Payload> {
    if mode != Mode::Report {
        INSTALL.call_once(install);
        // No stale origin: a hook that replaced threadkit's notes nothing.
        let _ = LAST.try_with(|l| l.borrow_mut().take());
    }
    /// Restores the outer catch's mode, also when `catch_unwind` itself is left by a panic in
    /// a payload's destructor.
    struct Restore(Mode);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = MODE.try_with(|m| m.set(self.0));
        }
    }
    // A thread whose thread-locals are being destroyed reports as usual.
    let _restore = Restore(MODE.try_with(|m| m.replace(mode)).unwrap_or(Mode::Report));
    panic::catch_unwind(AssertUnwindSafe(f))
}

/// Runs `f`, turning a panic into `Err(message)`. The payload is dropped here, and a payload
/// whose own `Drop` panics (`panic_any` of such a value) cannot unwind out of this call: that
/// second panic is caught and its payload dropped (see [`drop_payload`]). Callers that must
/// reach a later step whatever `f` did (publishing a future's outcome, leaving a barrier
/// consistent) use this rather than [`catch`] followed by their own drop of the payload.
pub(crate) fn catch_message<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch(f).map_err(into_message)
}

/// Drops a panic payload. A panic from its `Drop` is caught, and that panic's payload dropped
/// the same way; only a chain of more than [`PAYLOAD_DROPS`] payloads each panicking on drop
/// (which nothing but a deliberately endless chain makes) has its last payload leaked.
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    let mut payload = payload;
    for _ in 0..PAYLOAD_DROPS {
        match catch(move || drop(payload)) {
            Ok(()) => return,
            Err(again) => payload = again,
        }
    }
    std::mem::forget(payload);
}

/// How many nested payload drops [`drop_payload`] tries before it leaks one.
const PAYLOAD_DROPS: usize = 8;

/// The message of a caught panic's payload, the payload dropped as [`drop_payload`] does.
pub(crate) fn into_message(payload: Box<dyn Any + Send>) -> String {
    let message = payload_message(&*payload);
    drop_payload(payload);
    message
}

/// Where the panic last caught on this thread happened (taken: a second call says nothing).
pub(crate) fn take_origin() -> Origin {
    LAST.try_with(|l| l.borrow_mut().take())
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Whether panics that threadkit catches are printed by the panic hook as well (`true`), or
/// only reported where they are handed back (`false`, the default).
pub(crate) fn print_captured(on: bool) {
    PRINT_CAPTURED.store(on, Ordering::SeqCst);
}

/// A panic hook that can be shared.
pub(crate) type SharedHook = Arc<dyn Fn(&PanicHookInfo<'_>) + Send + Sync + 'static>;

/// The hook that was in place when threadkit's was installed (Rust's default, or the
/// program's), or the except hook set since: told about the panics threadkit does not catch.
static NEXT: parking_lot::RwLock<Option<SharedHook>> = parking_lot::RwLock::new(None);
/// The except hook set by [`crate::thread::set_excepthook`]: also told about the panics of
/// thread bodies, which threadkit catches (Python's `threading.excepthook`).
static EXCEPTHOOK: parking_lot::RwLock<Option<SharedHook>> = parking_lot::RwLock::new(None);

/// Makes `hook` threadkit's except hook: told about every panic threadkit does not catch and
/// about thread bodies' panics; `None` puts Rust's default hook back for the uncaught ones.
pub(crate) fn set_excepthook(hook: Option<SharedHook>) {
    INSTALL.call_once(install);
    let next = hook.clone().unwrap_or_else(|| {
        // `take_hook` hands back ours and registers Rust's default in its place; taking again
        // gives the default itself. Ours goes back in front.
        let ours = panic::take_hook();
        let default: SharedHook = Arc::from(panic::take_hook());
        panic::set_hook(ours);
        default
    });
    *NEXT.write() = Some(next);
    *EXCEPTHOOK.write() = hook;
}

/// Whether a thread body's panic was reported when it happened: to threadkit's except hook,
/// or by the hook in place when captured panics are printed.
pub(crate) fn reported_at_panic_time() -> bool {
    PRINT_CAPTURED.load(Ordering::SeqCst) || EXCEPTHOOK.read().is_some()
}

/// The frames of a backtrace taken in the panic hook that show the panic's own code, numbered
/// from 0, as Rust's short backtraces do: without the hook's and the panic machinery's frames
/// above the `panic!` (up to `rust_begin_unwind` / `core::panicking::*`) and without the catch
/// and what called it below. The whole text when those frames cannot be told apart.
fn user_frames(text: &str) -> String {
    // Each frame: its "N: name" line and the "at file:line" lines after it.
    let mut frames: Vec<(&str, Vec<&str>)> = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        match t.split_once(": ") {
            Some((n, name)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                frames.push((name, Vec::new()));
            }
            _ => match frames.last_mut() {
                Some((_, more)) => more.push(line),
                None => return text.to_owned(),
            },
        }
    }
    let machinery = |name: &str| {
        name.contains("rust_begin_unwind")
            || name.starts_with("core::panicking::")
            || name.starts_with("std::panicking::")
            || name.contains("threadkit::unwind::install")
            || name.contains("__rust_end_short_backtrace")
            || name.contains("PanicHookInfo")
    };
    let Some(first) = frames.iter().position(|(name, _)| !machinery(name)) else {
        return text.to_owned();
    };
    let end = frames[first..]
        .iter()
        .position(|(name, _)| name.contains("std::panicking::catch_unwind"))
        .map_or(frames.len(), |k| first + k);
    let mut out = String::new();
    for (i, (name, more)) in frames[first..end].iter().enumerate() {
        out.push_str(&format!("{i:>4}: {name}\n"));
        for line in more {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Puts threadkit's hook in front of the one in place.
fn install() {
    if std::env::var_os("THREADKIT_PRINT_CAPTURED_PANICS").is_some_and(|v| v == "1") {
        PRINT_CAPTURED.store(true, Ordering::SeqCst);
    }
    *NEXT.write() = Some(Arc::from(panic::take_hook()));
    panic::set_hook(Box::new(move |info| {
        let mode = MODE.try_with(Cell::get).unwrap_or(Mode::Report);
        if mode == Mode::Report || PRINT_CAPTURED.load(Ordering::Relaxed) {
            let next = NEXT.read().clone();
            if let Some(next) = next {
                next(info);
            }
            return;
        }
        let backtrace = std::backtrace::Backtrace::capture();
        let origin = Origin {
            location: info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column())),
            backtrace: (backtrace.status() == std::backtrace::BacktraceStatus::Captured)
                .then(|| user_frames(&backtrace.to_string())),
        };
        let _ = LAST.try_with(|l| *l.borrow_mut() = Some(origin));
        if mode == Mode::ThreadBody {
            let hook = EXCEPTHOOK.read().clone();
            if let Some(hook) = hook {
                hook(info);
            }
        }
    }));
}
