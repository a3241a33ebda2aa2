//! The child's side: the hidden entry point [`init`], and the life of a child on its control
//! socket ([`child_main`]): run one call, serve as a pool worker, or become the fork server.

use std::mem::ManuallyDrop;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use super::call::{execute, Call, Outcome, Start, ENV_CHILD, MAX_CONTROL_FRAME, STDIN_MARK};
use super::forkserver;
use super::wire::{self, FrameSocket};

static CHILD_TAKEN: AtomicBool = AtomicBool::new(false);

/// [`init`] was called in this process (or the test binary enabled test support): starting
/// children is safe, they will not run `main`'s side effects.
static INIT_CALLED: AtomicBool = AtomicBool::new(false);

/// The executable's `main` did not call [`init`] before starting a child process.
///
/// A child is this executable started again: without `init()` first in `main`, each child
/// would run the program's `main` from the start (printing, reading input, starting children of
/// its own) instead of the function it was started for. So no child is started, and
/// [`Process::spawn`](super::Process::spawn) ([`SpawnError::NotInitialized`](super::SpawnError))
/// and [`ProcessPool`](super::ProcessPool)'s builder
/// ([`BuildErrorKind::NotInitialized`](super::BuildErrorKind)) return this instead; its message
/// names the fix.
///
/// # Examples
///
/// ```
/// let e = threadkit::process::NotInitialized;
/// assert!(e.to_string().contains("call threadkit::process::init() first in main"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotInitialized;

impl std::fmt::Display for NotInitialized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "threadkit::process::init() was not called: call threadkit::process::init() first in \
             main, before anything else (in a test file: threadkit::process::enable_test_support!() \
             at its root); without it each child process would run main again",
        )
    }
}

impl std::error::Error for NotInitialized {}

/// Whether this process may start children: [`init`] ran (or test support is enabled, or this
/// is a child already).
pub(crate) fn ensure_init() -> Result<(), NotInitialized> {
    if INIT_CALLED.load(Ordering::SeqCst) || is_child() {
        Ok(())
    } else {
        Err(NotInitialized)
    }
}

/// Marks this test binary as able to serve as a child (called before `main` by
/// [`enable_test_support!`](crate::process::enable_test_support), whose test calls [`init`]
/// in children; in the parent that test may run after the others, or not at all).
#[doc(hidden)]
pub fn __enable_test_support() {
    INIT_CALLED.store(true, Ordering::SeqCst);
}

/// Makes this executable able to serve as a `threadkit::process` child. Call it first thing in
/// `main` (before parsing arguments, starting threads or printing).
///
/// Starting a child without it is refused with [`NotInitialized`] (no child is started, so
/// `main` never runs again in one); a call that comes later than the first statement of
/// `main` cannot be detected, and what `main` did before it happens again in each child.
///
/// In the parent (any process not started by `threadkit::process`) it returns at once and does
/// nothing. In a child started by [`Process::spawn`](super::Process::spawn) or a
/// [`ProcessPool`](super::ProcessPool) it never returns: it runs the function the parent asked
/// for, sends back its result (or its panic), and exits the process.
///
/// A child (or the fork server that forks children, see
/// [`StartMethod`](super::StartMethod)) is the same executable re-executed through
/// `/proc/self/exe` (so always the very file the parent runs, even if it was replaced on disk
/// since), with an environment variable naming an inherited socket. Command-line arguments for libtest are added too (see
/// [`enable_test_support!`](crate::process::enable_test_support)); a `main` that calls `init()`
/// first never sees them.
///
/// # Examples
///
/// ```
/// fn double(x: u64) -> u64 {
///     x * 2
/// }
///
/// fn main() {
///     threadkit::process::init();
///     let mut p = threadkit::process::Process::spawn(double, 21).unwrap();
///     assert_eq!(p.join().unwrap(), 42);
/// }
/// ```
pub fn init() {
    INIT_CALLED.store(true, Ordering::SeqCst);
    if std::env::var_os(ENV_CHILD).is_none_or(|v| v != STDIN_MARK) {
        return;
    }
    if CHILD_TAKEN.swap(true, Ordering::SeqCst) {
        return;
    }
    // Programs this child starts must not take it for a marker of their own.
    std::env::remove_var(ENV_CHILD);
    // SAFETY: descriptor 0 is open: the parent made the control socket this process's standard
    // input; it is only borrowed here (dropping the `ManuallyDrop` never closes it).
    let mut stdin = ManuallyDrop::new(unsafe { OwnedFd::from_raw_fd(0) });
    let Ok(fd) = rustix::io::fcntl_dupfd_cloexec(&*stdin, 3) else {
        return;
    };
    // Standard input becomes /dev/null, as in Python's multiprocessing children.
    if let Ok(null) = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) {
        let _ = rustix::io::dup2(&null, &mut stdin);
    }
    child_main(FrameSocket::new(fd))
}

/// Whether this process is a `threadkit::process` child (only true inside functions run by
/// [`Process`](super::Process) or a [`ProcessPool`](super::ProcessPool)).
///
/// # Examples
///
/// ```
/// assert!(!threadkit::process::is_child());
/// ```
pub fn is_child() -> bool {
    CHILD_TAKEN.load(Ordering::SeqCst)
}

fn send_outcome(sock: &FrameSocket, outcome: (Outcome, Vec<OwnedFd>)) -> bool {
    let (outcome, fds) = outcome;
    let bytes = match wire::encode(&outcome) {
        Ok((b, _)) => b,
        Err(_) => return false,
    };
    sock.send(&bytes, &fds, None).is_ok()
}

/// Ends a child process: its own fork server (if it started children) first, then buffered
/// output, then the process.
pub(crate) fn exit(code: i32) -> ! {
    use std::io::Write;
    forkserver::stop_server();
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(code)
}

/// The life of a child, on its control socket: the first frame says what to be.
pub(crate) fn child_main(sock: FrameSocket) -> ! {
    let Ok((bytes, fds)) = sock.recv(MAX_CONTROL_FRAME, None) else {
        exit(70)
    };
    let Ok(start) = wire::decode::<Start>(&bytes, Vec::new()) else {
        exit(70)
    };
    match start {
        Start::ForkServer => forkserver::serve(sock, child_main),
        Start::Once(call) => {
            // An empty frame tells the parent the function starts (so that an exit without a
            // result is not mistaken for a `main` without `init()`).
            let _ = sock.send(&[], &[], None);
            let outcome = execute(&call, fds);
            let code = match outcome.0 {
                Outcome::Returned(_) => 0,
                _ => 1,
            };
            send_outcome(&sock, outcome);
            exit(code)
        }
        Start::Worker { initializer } => {
            let _ = rustix::process::set_parent_process_death_signal(Some(
                rustix::process::Signal::KILL,
            ));
            // An empty frame tells the pool this worker serves (so that an exit with code 0
            // is not mistaken for a `main` without `init()`).
            let _ = sock.send(&[], &[], None);
            if let Some(call) = initializer {
                let outcome = execute(&call, fds);
                let ok = matches!(outcome.0, Outcome::Returned(_));
                if !send_outcome(&sock, outcome) || !ok {
                    exit(1)
                }
            }
            loop {
                let Ok((bytes, fds)) = sock.recv(MAX_CONTROL_FRAME, None) else {
                    exit(0)
                };
                let Ok(call) = wire::decode::<Call>(&bytes, Vec::new()) else {
                    exit(70)
                };
                if !send_outcome(&sock, execute(&call, fds)) {
                    exit(0)
                }
            }
        }
    }
}
