//! The child side: the hidden entry point [`init`], how a function crosses to a child (as an
//! offset from a known symbol of the same executable), and how children are started.

use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::forkserver::{self, ForkFail, ForkedChild, StartMethod};
use super::wire::{self, FrameSocket};
use crate::executor::TupleFn;
use crate::unwind::{catch, payload_message};

/// The environment variable that tells [`init`] it runs in a child.
pub(crate) const ENV_CHILD: &str = "THREADKIT_PROCESS_CHILD";

/// The value of [`ENV_CHILD`]: the control socket is the child's standard input (passed that
/// way so that `std::process::Command` can use `posix_spawn`, which is much faster than `fork`).
const STDIN_MARK: &str = "stdin";

/// The name of the test that [`enable_test_support!`](crate::process::enable_test_support)
/// defines; children of a test binary are started with it as libtest's filter.
pub(crate) const TEST_ENTRY: &str = "threadkit_process_test_child";

/// Largest control frame (arguments, results, pool tasks): 1 GiB.
pub(crate) const MAX_CONTROL_FRAME: usize = 1 << 30;

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

/// A call of a function in a child: which monomorphized runner, which function, which arguments.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Call {
    pub(crate) runner: isize,
    pub(crate) func: isize,
    pub(crate) payload: Vec<u8>,
}

/// The first frame a child receives.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Start {
    /// Run one call, send its outcome, exit.
    Once(Call),
    /// Be a pool worker: run the initializer, then calls until the socket closes.
    Worker { initializer: Option<Call> },
    /// Be the fork server: fork a child for each request until the socket closes.
    ForkServer,
}

/// What a call came to, as sent back to the parent.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Outcome {
    /// The encoded return value (its descriptors travel with the frame).
    Returned(Vec<u8>),
    /// The function panicked with this message, there, with this backtrace.
    Panicked {
        message: String,
        location: Option<String>,
        backtrace: Option<String>,
    },
    /// The arguments or the result could not be (de)serialized.
    Failed(String),
}

/// A frame from a worker: acknowledgement of the initializer, or a task's outcome.
pub(crate) type Runner = fn(usize, &[u8], Vec<OwnedFd>) -> (Outcome, Vec<OwnedFd>);

fn anchor() -> usize {
    init as fn() as usize
}

/// The executable's own address range (code of the main program, not of shared libraries).
fn exe_range() -> Option<(usize, usize)> {
    static RANGE: OnceLock<Option<(usize, usize)>> = OnceLock::new();
    *RANGE.get_or_init(|| {
        let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
        let at = anchor();
        let parse = |line: &str| -> Option<(usize, usize, String)> {
            let mut parts = line.split_whitespace();
            let range = parts.next()?;
            let (lo, hi) = range.split_once('-')?;
            let path = parts.nth(4).unwrap_or("").to_owned();
            Some((
                usize::from_str_radix(lo, 16).ok()?,
                usize::from_str_radix(hi, 16).ok()?,
                path,
            ))
        };
        let entries: Vec<_> = maps.lines().filter_map(parse).collect();
        let path = entries
            .iter()
            .find(|(lo, hi, _)| (*lo..*hi).contains(&at))
            .map(|e| e.2.clone())
            .filter(|p| !p.is_empty())?;
        let lo = entries.iter().filter(|e| e.2 == path).map(|e| e.0).min()?;
        let hi = entries.iter().filter(|e| e.2 == path).map(|e| e.1).max()?;
        Some((lo, hi))
    })
}

/// The offset of a function address from the anchor, checked to be in this executable.
pub(crate) fn offset_of(addr: usize) -> Result<isize, String> {
    let (lo, hi) = exe_range().ok_or("cannot read this executable's mappings")?;
    if !(lo..hi).contains(&addr) {
        return Err(
            "the function is not in the main executable (a dynamically loaded library?); \
             only functions of the executable itself can run in a child"
                .to_owned(),
        );
    }
    Ok(addr.wrapping_sub(anchor()) as isize)
}

/// The [`Call`] of `f(args)`.
pub(crate) fn make_call<A, R>(f: fn(A) -> R, args: &A) -> Result<(Call, Vec<OwnedFd>), String>
where
    A: Serialize + DeserializeOwned + 'static,
    R: Serialize + DeserializeOwned + 'static,
{
    let runner = offset_of(run_call::<A, R> as Runner as usize)?;
    let func = offset_of(f as usize)?;
    let (payload, fds) =
        wire::encode(args).map_err(|e| format!("could not serialize the arguments: {e}"))?;
    Ok((
        Call {
            runner,
            func,
            payload,
        },
        fds,
    ))
}

/// The [`Call`] of `f(a, b, ...)` with `args = (a, b, ...)` spread over the parameters of `f`,
/// a function item or a closure that captures nothing (a zero-sized `Copy` type: it crosses to
/// the child as its type alone, in the monomorphized runner).
pub(crate) fn make_star_call<F, Args>(args: &Args) -> Result<(Call, Vec<OwnedFd>), String>
where
    F: TupleFn<Args> + Copy,
    Args: Serialize + DeserializeOwned + 'static,
    F::Output: Serialize + DeserializeOwned,
{
    const {
        assert!(
            std::mem::size_of::<F>() == 0,
            "a function run in a child process must be a fn item or a closure that captures \
             nothing"
        )
    };
    let runner = offset_of(run_star::<F, Args> as Runner as usize)?;
    let (payload, fds) =
        wire::encode(args).map_err(|e| format!("could not serialize the arguments: {e}"))?;
    Ok((
        Call {
            runner,
            func: 0,
            payload,
        },
        fds,
    ))
}

/// Runs `f(args)` in this (child) process, `f` and `args` as the parent sent them.
fn run_call<A, R>(func: usize, payload: &[u8], fds: Vec<OwnedFd>) -> (Outcome, Vec<OwnedFd>)
where
    A: Serialize + DeserializeOwned + 'static,
    R: Serialize + DeserializeOwned + 'static,
{
    // SAFETY: the parent made `func` from a `fn(A) -> R` of this very executable (children run
    // `/proc/self/exe`, the parent's own file, so code sits at the same offsets from `anchor`),
    // checked it lies in the executable's mapping, and paired it with this instantiation
    // `run_call::<A, R>` in the same `Call`, so the pointer has exactly this type.
    let f = unsafe { std::mem::transmute::<*const (), fn(A) -> R>(func as *const ()) };
    run_decoded(payload, fds, f)
}

/// Runs the zero-sized function `F` with the tuple `Args` spread over its parameters (see
/// [`make_star_call`]).
fn run_star<F, Args>(_func: usize, payload: &[u8], fds: Vec<OwnedFd>) -> (Outcome, Vec<OwnedFd>)
where
    F: TupleFn<Args> + Copy,
    Args: Serialize + DeserializeOwned + 'static,
    F::Output: Serialize + DeserializeOwned,
{
    // SAFETY: `make_star_call` checked that `F` is zero-sized, and the parent held a value of
    // `F` (so `F` is inhabited): a zero-sized inhabited type has exactly one value, made of no
    // bytes (so "all zeroes" is that value). Making it here is a copy of the parent's, which
    // `F: Copy` allows.
    let f: F = unsafe { std::mem::zeroed() };
    run_decoded(payload, fds, move |args: Args| f.call(args))
}

/// Decodes the arguments, runs `f` on them with panics caught, and encodes the outcome.
fn run_decoded<A, R>(
    payload: &[u8],
    fds: Vec<OwnedFd>,
    f: impl FnOnce(A) -> R,
) -> (Outcome, Vec<OwnedFd>)
where
    A: DeserializeOwned,
    R: Serialize,
{
    let args: A = match wire::decode(payload, fds) {
        Ok(a) => a,
        Err(e) => {
            return (
                Outcome::Failed(format!("could not deserialize the arguments: {e}")),
                Vec::new(),
            )
        }
    };
    match catch(move || f(args)) {
        Ok(r) => match wire::encode(&r) {
            Ok((bytes, fds)) => (Outcome::Returned(bytes), fds),
            Err(e) => (
                Outcome::Failed(format!("could not serialize the result: {e}")),
                Vec::new(),
            ),
        },
        Err(p) => {
            let origin = crate::unwind::take_origin();
            let outcome = Outcome::Panicked {
                message: payload_message(&*p),
                location: origin.location,
                backtrace: origin.backtrace,
            };
            (outcome, Vec::new())
        }
    }
}

/// Runs a [`Call`] received from the parent.
pub(crate) fn execute(call: &Call, fds: Vec<OwnedFd>) -> (Outcome, Vec<OwnedFd>) {
    let base = anchor();
    let runner = base.wrapping_add(call.runner as usize);
    let func = base.wrapping_add(call.func as usize);
    // SAFETY: `runner` is the relocated offset of a `Runner` (`run_call::<A, R>`) computed by
    // the parent from the same executable (see `run_call`).
    let runner = unsafe { std::mem::transmute::<*const (), Runner>(runner as *const ()) };
    runner(func, &call.payload, fds)
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
        Start::ForkServer => forkserver::serve(sock),
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

/// Starts a child with `method` (falling back to re-executing when there is no fork server)
/// and sends it `start` (with `fds` attached).
pub(crate) fn spawn_child(
    method: StartMethod,
    start: &Start,
    fds: &[OwnedFd],
) -> io::Result<(ChildProc, FrameSocket)> {
    ensure_init().map_err(io::Error::other)?;
    if method == StartMethod::ForkServer {
        match forkserver::fork_child() {
            Ok((forked, ours)) => {
                let sock = FrameSocket::new(ours);
                send_start(&sock, start, fds)?;
                return Ok((
                    ChildProc {
                        pid: forked.id(),
                        kind: Kind::Forked(forked),
                        status: None,
                    },
                    sock,
                ));
            }
            Err(ForkFail::Io(e)) => return Err(e),
            Err(ForkFail::Unavailable) => {}
        }
    }
    let (child, sock) = exec_child(start, fds)?;
    Ok((
        ChildProc {
            pid: child.id(),
            kind: Kind::Spawned(child),
            status: None,
        },
        sock,
    ))
}

fn send_start(sock: &FrameSocket, start: &Start, fds: &[OwnedFd]) -> io::Result<()> {
    let (bytes, _) = wire::encode(start).map_err(io::Error::other)?;
    if let Err(e) = sock.send(&bytes, fds, None) {
        // The child died at once; the caller finds out from its exit status.
        let _ = e;
    }
    Ok(())
}

/// Starts a child by re-executing this executable and sends it `start` (with `fds` attached).
pub(crate) fn exec_child(start: &Start, fds: &[OwnedFd]) -> io::Result<(Child, FrameSocket)> {
    if !is_child() && std::env::var_os(ENV_CHILD).is_some() {
        // Started as a child, but `main` did not call `init()` first: starting children from
        // here would start the whole program again, recursively.
        return Err(io::Error::other(
            "this process was started as a threadkit::process child but main did not call \
             threadkit::process::init() first; refusing to start children recursively",
        ));
    }
    let (ours, theirs) = wire::stream_pair_fds(true)?;
    let mut cmd = Command::new("/proc/self/exe");
    if let Some(arg0) = std::env::args_os().next() {
        cmd.arg0(arg0);
    }
    cmd.args([TEST_ENTRY, "--nocapture", "--test-threads=1", "-q"]);
    cmd.env(ENV_CHILD, STDIN_MARK);
    // The child's standard input is its end of the control socket (dup2'ed by the spawn, so
    // without close-on-exec there and only there); `init` moves it away from descriptor 0.
    cmd.stdin(std::process::Stdio::from(theirs));
    let child = cmd.spawn()?;
    let sock = FrameSocket::new(ours);
    send_start(&sock, start, fds)?;
    Ok((child, sock))
}

/// A child process however it was started: its pid, its exit status once known, signals.
#[derive(Debug)]
pub(crate) struct ChildProc {
    pid: u32,
    kind: Kind,
    status: Option<ExitStatus>,
}

#[derive(Debug)]
enum Kind {
    /// Re-executed by this process: its own child, reaped with `wait`.
    Spawned(Child),
    /// Forked by the fork server, which reaps it and reports its status.
    Forked(ForkedChild),
}

impl ChildProc {
    /// The process id.
    pub(crate) fn id(&self) -> u32 {
        self.pid
    }

    /// The exit status if the child ended (it is reaped then).
    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = match &mut self.kind {
                Kind::Spawned(c) => c.try_wait()?,
                Kind::Forked(f) => f.read_status(false)?,
            };
        }
        Ok(self.status)
    }

    /// Waits for the child to end; its exit status.
    pub(crate) fn wait(&mut self) -> io::Result<ExitStatus> {
        if let Some(s) = self.status {
            return Ok(s);
        }
        let s = match &mut self.kind {
            Kind::Spawned(c) => c.wait()?,
            Kind::Forked(f) => match f.read_status(true)? {
                Some(s) => s,
                None => return Err(io::Error::other("no exit status")),
            },
        };
        self.status = Some(s);
        Ok(s)
    }

    /// Sends `sig`; nothing once the child is known to have ended. Never signals another
    /// process: a re-executed child is not reaped before its status is known here, and a
    /// forked one is signalled through its pidfd.
    pub(crate) fn signal(&self, sig: rustix::process::Signal) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        match &self.kind {
            Kind::Spawned(_) => Killer::Pid(self.pid).signal(sig),
            Kind::Forked(f) => f.signal(sig),
        }
    }

    /// Something that can kill the child from another thread (a pool's `terminate`).
    pub(crate) fn killer(&self) -> io::Result<Killer> {
        Ok(match &self.kind {
            Kind::Spawned(_) => Killer::Pid(self.pid),
            Kind::Forked(f) => Killer::PidFd(f.pidfd()?),
        })
    }

    /// Lets the child run on unwatched: a re-executed one is reaped by a background thread
    /// when it ends (the fork server reaps the others).
    pub(crate) fn detach(mut self) {
        if matches!(self.try_wait(), Ok(Some(_))) {
            return;
        }
        if let Kind::Spawned(mut child) = self.kind {
            let _ = std::thread::Builder::new()
                .name("threadkit-reaper".into())
                .spawn(move || {
                    let _ = child.wait();
                });
        }
    }
}

/// Signals a child from elsewhere than its [`ChildProc`].
#[derive(Debug)]
pub(crate) enum Killer {
    /// By pid: valid only while the child is not reaped (its owner must drop the killer first).
    Pid(u32),
    /// By pidfd: always safe.
    PidFd(OwnedFd),
}

impl Killer {
    /// Sends `sig`, ignoring a process that already ended.
    pub(crate) fn signal(&self, sig: rustix::process::Signal) -> io::Result<()> {
        let r = match self {
            Killer::Pid(pid) => {
                let pid = rustix::process::Pid::from_raw(*pid as i32)
                    .ok_or_else(|| io::Error::other("invalid pid"))?;
                rustix::process::kill_process(pid, sig)
            }
            Killer::PidFd(fd) => rustix::process::pidfd_send_signal(fd, sig),
        };
        match r {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The name of signal `n` (`"SIGKILL"`), or `"signal N"` for one without a common name.
pub(crate) fn signal_name(n: i32) -> String {
    let name = match n {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        31 => "SIGSYS",
        _ => return format!("signal {n}"),
    };
    name.to_owned()
}
