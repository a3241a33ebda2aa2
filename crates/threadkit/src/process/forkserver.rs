//! Start methods ([`StartMethod`]) and the fork server (Python's `forkserver` start method).
//!
//! Re-executing the program for every child ([`StartMethod::Spawn`]) pays for loading a large
//! executable each time: the dynamic loader, relocations, the Rust runtime, `main` up to
//! [`init`](super::init). The fork server pays that once: on first use the parent re-executes
//! itself into a hidden entry point that stays single-threaded and, for each child, forks a copy
//! of itself which runs the function.
//!
//! The protocol, over one stream socket between the parent and the server:
//!
//! - the server says it is ready (a fixed frame) once it has checked that it can open pidfds;
//! - a request is an empty frame carrying two descriptors: the child's end of its control socket
//!   (the very socket a re-executed child gets as standard input) and the write end of a status
//!   socket;
//! - the server forks; the child closes everything of the server's and runs the same child main
//!   as a re-executed child; the server answers with the child's pid and a pidfd of it (so the
//!   parent signals it without any risk of hitting a reused pid);
//! - the server reaps its children (it polls their pidfds) and writes each exit status (the raw
//!   `wait` status, 4 bytes) to that child's status socket, then closes it.
//!
//! The server is single-threaded, and must stay so: `fork` copies only the calling thread, so
//! a lock held by any other thread at that instant (malloc's, a stdio buffer's) would stay
//! locked forever in the child. It is started by re-executing the program into `init`, which
//! `main` calls before starting threads, and it starts none; debug builds check it before each
//! fork (see [`alone_in_process`]).
//!
//! The server ends when its socket reaches end of file, that is when the parent process ends
//! (its descriptors are close-on-exec, so no other program holds them). It ignores `SIGINT`
//! (as Python's), so that Ctrl-C in a terminal does not lose the exit statuses of children,
//! which get the program's disposition back (the default action, or ignored when the program
//! was started with `SIGINT` ignored); it also blocks it, so that a `SIGINT` sent to a child in
//! the instant before the child restored the disposition is not lost (see [`shield_sigint`]).

use std::fmt;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::net::{RecvFlags, SendFlags};
use rustix::process::{Pid, PidfdFlags, Signal, WaitOptions};

use super::call::{Start, MAX_CONTROL_FRAME};
use super::exec::exec_child;
use super::wire::{self, FrameSocket, RecvFail};

/// How a child process is started (Python's start methods, `multiprocessing.set_start_method`).
///
/// Either way the child runs a function of this executable, with the same results, errors and
/// signals; the choice is a trade-off of speed and isolation:
///
/// - [`ForkServer`](StartMethod::ForkServer), the default: on first use, one helper process is
///   started by re-executing this program; it stays single-threaded and forks a copy of itself
///   for each child. Starting a child then costs a `fork` of a small process (a few hundred
///   microseconds) instead of loading the whole executable again. Children see the
///   environment, working directory, standard output and error, and resource limits that the
///   program had **when the fork server started** (its first child), not later changes, and
///   their parent process (`getppid`) is the fork server.
/// - [`Spawn`](StartMethod::Spawn): every child is this program re-executed (through
///   `/proc/self/exe`): slower to start, but each child starts from a clean process with the
///   parent's current environment, working directory and standard streams.
///
/// When the fork server cannot start (a kernel without pidfds, before Linux 5.3, or a sandbox
/// that forbids them), children are started with [`Spawn`](StartMethod::Spawn) instead.
///
/// With both methods a child's `SIGINT` is the program's, as in Python: the default action (a
/// handler the program installed becomes the default action in the child) or, when the program
/// ignores `SIGINT`, ignored. A program started in the background of a script (`prog &`, whose
/// `SIGINT` the shell ignores) therefore has children that Ctrl-C and `kill -INT` do not end;
/// [`Process::terminate`](super::Process::terminate) (`SIGTERM`) and
/// [`Process::kill`](super::Process::kill) do.
///
/// The default can be set with [`set_start_method`], or before the program starts with the
/// environment variable `THREADKIT_START_METHOD` (`spawn` or `forkserver`); one process or
/// pool can choose its own with [`Process::spawn_with`](super::Process::spawn_with) and
/// [`ProcessPoolBuilder::start_method`](super::ProcessPoolBuilder::start_method).
///
/// # Examples
///
/// ```
/// use threadkit::process::{Process, StartMethod};
///
/// fn double(x: u32) -> u32 {
///     x * 2
/// }
///
/// threadkit::process::init();
/// for method in [StartMethod::Spawn, StartMethod::ForkServer] {
///     let mut p = Process::spawn_with(method, double, 21).unwrap();
///     assert_eq!(p.join(), Ok(42));
/// }
/// assert_eq!(StartMethod::ForkServer.as_str(), "forkserver");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StartMethod {
    /// Re-execute this program for each child (Python's `"spawn"`).
    Spawn,
    /// Fork each child from a single-threaded helper process started once (Python's
    /// `"forkserver"`, its default on Linux since Python 3.14). The default here too.
    ForkServer,
}

impl StartMethod {
    /// Python's name of the method: `"spawn"` or `"forkserver"`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadkit::process::StartMethod::Spawn.as_str(), "spawn");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            StartMethod::Spawn => "spawn",
            StartMethod::ForkServer => "forkserver",
        }
    }

    fn code(self) -> u8 {
        match self {
            StartMethod::Spawn => 1,
            StartMethod::ForkServer => 2,
        }
    }
}

impl fmt::Display for StartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The environment variable that chooses the default start method.
const ENV_METHOD: &str = "THREADKIT_START_METHOD";

/// 0: not chosen yet (the environment variable or the default decides on first use).
static METHOD: AtomicU8 = AtomicU8::new(0);

/// Sets the start method of later children and pool workers (Python's
/// `multiprocessing.set_start_method`). Children already started are not affected; a call of
/// [`Process::spawn_with`](super::Process::spawn_with) or a pool built with
/// [`ProcessPoolBuilder::start_method`](super::ProcessPoolBuilder::start_method) uses its own.
///
/// Unlike Python's, it may be called again: the last call wins.
///
/// # Examples
///
/// ```
/// use threadkit::process::{get_start_method, set_start_method, Process, StartMethod};
///
/// threadkit::process::init();
/// set_start_method(StartMethod::Spawn);
/// assert_eq!(get_start_method(), StartMethod::Spawn);
/// let mut p = Process::spawn(|x: u8| x + 1, 1).unwrap();
/// assert_eq!(p.join(), Ok(2));
/// ```
pub fn set_start_method(method: StartMethod) {
    METHOD.store(method.code(), Ordering::SeqCst);
}

/// The start method of children that do not choose one (Python's
/// `multiprocessing.get_start_method()`): the one set by [`set_start_method`], else the one
/// named by the environment variable `THREADKIT_START_METHOD` (`spawn` or `forkserver`), else
/// [`StartMethod::ForkServer`].
///
/// # Examples
///
/// ```
/// use threadkit::process::{get_start_method, StartMethod};
///
/// if std::env::var_os("THREADKIT_START_METHOD").is_none() {
///     assert_eq!(get_start_method(), StartMethod::ForkServer);
/// }
/// ```
pub fn get_start_method() -> StartMethod {
    let code = match METHOD.load(Ordering::SeqCst) {
        0 => {
            let chosen = match std::env::var(ENV_METHOD).as_deref().map(str::trim) {
                Ok("spawn") => StartMethod::Spawn,
                Ok("forkserver") | Ok("fork-server") | Ok("fork_server") => StartMethod::ForkServer,
                Ok(other) if !other.is_empty() => {
                    tracing::warn!(
                        "{ENV_METHOD}={other:?} is not a start method (spawn, forkserver); \
                         using forkserver"
                    );
                    StartMethod::ForkServer
                }
                _ => StartMethod::ForkServer,
            };
            match METHOD.compare_exchange(0, chosen.code(), Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => chosen.code(),
                Err(set) => set,
            }
        }
        c => c,
    };
    if code == StartMethod::Spawn.code() {
        StartMethod::Spawn
    } else {
        StartMethod::ForkServer
    }
}

/// The frame the server sends once it can serve.
const READY: &[u8] = b"threadkit fork server 1";

/// How long the parent waits for a new server to say it is ready (it must load the program).
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the parent waits for the answer to one request (a `fork` and a `pidfd_open`).
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// What the server changes about `SIGINT`, to give it back to each child.
struct SigintSaved {
    disposition: libc::sighandler_t,
    mask: libc::sigset_t,
}

/// Makes the server immune to `SIGINT`: ignored (for the whole process) and blocked (in this
/// thread). Blocked matters for the children: a `SIGINT` sent to a child before it restored the
/// disposition stays pending (Linux never discards a blocked signal) instead of being ignored,
/// and is delivered once [`restore_sigint`] unblocks it.
fn shield_sigint() -> SigintSaved {
    // SAFETY: `sigset_t` is plain data, for which all zeroes is a valid value (`sigemptyset`
    // then makes it the empty set).
    let mut block: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut saved = SigintSaved {
        disposition: libc::SIG_DFL,
        // SAFETY: as above; `pthread_sigmask` fills it in.
        mask: unsafe { std::mem::zeroed() },
    };
    // SAFETY: the sets are valid, writable `sigset_t`s; blocking and ignoring SIGINT install no
    // handler code. This runs before the server serves, with no other thread of ours running (a
    // test harness's main thread only waits).
    unsafe {
        libc::sigemptyset(&mut block);
        libc::sigaddset(&mut block, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut saved.mask);
        saved.disposition = libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    saved
}

/// In a forked child: `SIGINT` as the program had it (disposition first, then the mask, so that
/// a pending `SIGINT` is delivered with the program's disposition).
fn restore_sigint(saved: &SigintSaved) {
    // SAFETY: `saved` holds what `shield_sigint` read; the child is single-threaded.
    unsafe {
        libc::signal(libc::SIGINT, saved.disposition);
        libc::pthread_sigmask(libc::SIG_SETMASK, &saved.mask, std::ptr::null_mut());
    }
}

/// The connection of a parent to its fork server.
#[derive(Debug)]
struct Client {
    /// The process that started the server: a process forked from it (not by threadkit) must
    /// not talk over the same socket.
    owner: u32,
    server: Child,
    sock: FrameSocket,
}

#[derive(Debug)]
enum Slot {
    NotStarted,
    Running(Client),
    /// The server could not start: children are started with `Spawn`.
    Unavailable,
}

static SERVER: parking_lot::Mutex<Slot> = parking_lot::Mutex::new(Slot::NotStarted);

/// Why a child could not be forked by the server.
#[derive(Debug)]
pub(crate) enum ForkFail {
    /// There is no fork server (it could not start): use `Spawn`.
    Unavailable,
    /// The server could not fork (out of processes, out of memory).
    Io(io::Error),
}

impl From<io::Error> for ForkFail {
    fn from(e: io::Error) -> ForkFail {
        ForkFail::Io(e)
    }
}

/// Starts a child through the fork server; the child's process and the parent's end of its
/// control socket (nothing sent on it yet).
pub(crate) fn fork_child() -> Result<(ForkedChild, OwnedFd), ForkFail> {
    let mut slot = SERVER.lock();
    // A second attempt with a new server if the first one died.
    for _ in 0..2 {
        let me = std::process::id();
        if matches!(&*slot, Slot::Running(c) if c.owner != me) {
            // A copy of the slot in a process forked from the owner: leave the owner's server
            // alone (dropping our copy of the socket does not close the owner's).
            *slot = Slot::NotStarted;
        }
        if matches!(&*slot, Slot::NotStarted) {
            *slot = match start_server() {
                Some(c) => Slot::Running(c),
                None => Slot::Unavailable,
            };
        }
        let Slot::Running(client) = &mut *slot else {
            return Err(ForkFail::Unavailable);
        };
        let (ours, theirs) = wire::stream_pair_fds(true)?;
        let (status, status_w) = wire::stream_pair_fds(true)?;
        match request(client, theirs, status_w) {
            Ok(Ok((pid, pidfd))) => {
                return Ok((
                    ForkedChild {
                        pid,
                        pidfd,
                        status,
                        buf: [0; 4],
                        have: 0,
                    },
                    ours,
                ))
            }
            Ok(Err(message)) => return Err(ForkFail::Io(io::Error::other(message))),
            Err(()) => {
                // The server is gone or stuck: end it, reap it, start another.
                if let Slot::Running(mut c) = std::mem::replace(&mut *slot, Slot::NotStarted) {
                    let _ = c.server.kill();
                    let _ = c.server.wait();
                }
            }
        }
    }
    Err(ForkFail::Unavailable)
}

/// One round trip: `Err(())` when the server did not answer.
fn request(
    client: &Client,
    theirs: OwnedFd,
    status_w: OwnedFd,
) -> Result<Result<(u32, OwnedFd), String>, ()> {
    client
        .sock
        .send(&[], &[theirs, status_w], None)
        .map_err(|_| ())?;
    let deadline = Instant::now() + REPLY_TIMEOUT;
    let (bytes, fds) = client.sock.recv(4096, Some(deadline)).map_err(|_| ())?;
    let reply: Result<u32, String> = wire::decode(&bytes, Vec::new()).map_err(|_| ())?;
    match reply {
        Ok(pid) => match fds.into_iter().next() {
            Some(pidfd) => Ok(Ok((pid, pidfd))),
            None => Err(()),
        },
        Err(message) => Ok(Err(message)),
    }
}

/// Re-executes this program as a fork server and waits until it is ready.
fn start_server() -> Option<Client> {
    let (server, sock) = match exec_child(&Start::ForkServer, &[]) {
        Ok(x) => x,
        Err(e) => {
            tracing::debug!("the fork server could not start ({e}); using spawn");
            return None;
        }
    };
    let mut server = server;
    match sock.recv(4096, Some(Instant::now() + READY_TIMEOUT)) {
        Ok((bytes, _)) if bytes == READY => Some(Client {
            owner: std::process::id(),
            server,
            sock,
        }),
        other => {
            let why = match other {
                Err(RecvFail::Timeout) => "it did not answer in time".to_owned(),
                Err(RecvFail::Disconnected) => {
                    "it ended at once (no pidfd support, or main does not call init() first)"
                        .to_owned()
                }
                _ => "it answered something else".to_owned(),
            };
            tracing::debug!("the fork server could not start: {why}; using spawn");
            let _ = server.kill();
            let _ = server.wait();
            None
        }
    }
}

/// Reaps this process's fork server if it died (so that it does not stay a zombie until the
/// next child is started); the next child starts a new one.
fn reap_dead_server() {
    let mut slot = SERVER.lock();
    if let Slot::Running(c) = &mut *slot {
        if c.owner == std::process::id() && matches!(c.server.try_wait(), Ok(Some(_))) {
            *slot = Slot::NotStarted;
        }
    }
}

/// Ends this process's fork server, if it started one, and reaps it (so that a child that
/// started children leaves no orphan behind when it exits).
pub(crate) fn stop_server() {
    let Some(mut slot) = SERVER.try_lock() else {
        return;
    };
    if let Slot::Running(c) = std::mem::replace(&mut *slot, Slot::NotStarted) {
        let Client {
            owner,
            mut server,
            sock,
        } = c;
        drop(sock);
        if owner == std::process::id() {
            // It ends at the end of its socket.
            let _ = server.wait();
        }
    }
}

/// The wait status reported for a child whose fork server was killed: exit code 255.
const STATUS_LOST: i32 = 255 << 8;

/// A child forked by the fork server, seen from the parent.
#[derive(Debug)]
pub(crate) struct ForkedChild {
    pid: u32,
    pidfd: OwnedFd,
    /// The server writes the wait status here when it reaps the child.
    status: OwnedFd,
    buf: [u8; 4],
    have: usize,
}

impl ForkedChild {
    pub(crate) fn id(&self) -> u32 {
        self.pid
    }

    /// The exit status once the server reported it; with `block`, waits for it.
    pub(crate) fn read_status(&mut self, block: bool) -> io::Result<Option<ExitStatus>> {
        let flags = if block {
            RecvFlags::WAITALL
        } else {
            RecvFlags::DONTWAIT
        };
        loop {
            match rustix::net::recv(&self.status, &mut self.buf[self.have..], flags) {
                Ok((_, 0)) => {
                    // The server was killed: the status is lost. As Python's forkserver, report
                    // exit code 255, once the child has really ended (its pidfd says so).
                    reap_dead_server();
                    let deadline = if block { None } else { Some(Instant::now()) };
                    if !wire::wait_fd(self.pidfd.as_fd(), PollFlags::IN, deadline)? {
                        return Ok(None);
                    }
                    return Ok(Some(ExitStatus::from_raw(STATUS_LOST)));
                }
                Ok((_, n)) => {
                    self.have += n;
                    if self.have == self.buf.len() {
                        return Ok(Some(ExitStatus::from_raw(i32::from_ne_bytes(self.buf))));
                    }
                }
                Err(rustix::io::Errno::AGAIN) if !block => return Ok(None),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Sends `sig` through the pidfd (a no-op once the child was reaped).
    pub(crate) fn signal(&self, sig: Signal) -> io::Result<()> {
        match rustix::process::pidfd_send_signal(&self.pidfd, sig) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// A copy of the pidfd, to signal the child from elsewhere.
    pub(crate) fn pidfd(&self) -> io::Result<OwnedFd> {
        Ok(rustix::io::fcntl_dupfd_cloexec(&self.pidfd, 0)?)
    }
}

/// A child of the server.
struct Served {
    pid: Pid,
    pidfd: OwnedFd,
    status: OwnedFd,
}

/// Reports the exit status of every child that ended.
fn reap(children: &mut Vec<Served>) {
    loop {
        match rustix::process::waitpid(None, WaitOptions::NOHANG) {
            Ok(Some((pid, status))) => {
                if let Some(i) = children.iter().position(|c| c.pid == pid) {
                    let c = children.swap_remove(i);
                    let bytes = status.as_raw().to_ne_bytes();
                    // The parent may have dropped its end (a detached Process): nothing to do.
                    let _ = rustix::net::send(&c.status, &bytes, SendFlags::NOSIGNAL);
                }
            }
            Ok(None) => return,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return,
        }
    }
}

fn answer(sock: &FrameSocket, reply: &Result<u32, String>, fds: &[OwnedFd]) {
    let bytes = wire::encode(reply).map(|(b, _)| b).unwrap_or_default();
    if sock.send(&bytes, fds, None).is_err() {
        // The parent is gone.
        end(0)
    }
}

/// The number of threads of this process: `/proc/self/task` has one entry per thread.
fn thread_count() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
}

/// Whether the server is the only thread that can be running code when it forks.
///
/// `fork` copies only the calling thread: a lock (malloc's, stdout's, a `parking_lot` one) held
/// by another thread at that instant stays locked forever in the child, which then hangs on
/// its first use. The server is safe only because it is single-threaded: `init` runs it first
/// thing in `main`, before the program starts threads. The one exception is a test binary,
/// where the server runs in libtest's test thread while libtest's main thread only waits for
/// it (holding no lock): then there are two threads, and this one is not the main one.
fn alone_in_process() -> bool {
    let on_main_thread = rustix::thread::gettid() == rustix::process::getpid();
    let allowed = if on_main_thread { 1 } else { 2 };
    thread_count().is_none_or(|n| n <= allowed)
}

/// Ends the fork server's process, buffered output first. A server starts no fork server of its own, so there is none to stop.
fn end(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(code)
}

/// The fork server's main loop (in the re-executed program, from `init`); each forked child
/// runs `child_main` (the entry point's, passed in so that this module does not import it).
pub(crate) fn serve(sock: FrameSocket, child_main: fn(FrameSocket) -> !) -> ! {
    // Pidfds are what makes signals and reaping race-free; without them, no server.
    let me = rustix::process::getpid();
    if rustix::process::pidfd_open(me, PidfdFlags::empty()).is_err() {
        end(71)
    }
    let sigint = shield_sigint();
    if sock.send(READY, &[], None).is_err() {
        end(0)
    }
    let mut children: Vec<Served> = Vec::new();
    loop {
        if !sock.has_buffered_frame() {
            let mut fds = Vec::with_capacity(children.len() + 1);
            fds.push(PollFd::from_borrowed_fd(sock.fd(), PollFlags::IN));
            for c in &children {
                fds.push(PollFd::from_borrowed_fd(c.pidfd.as_fd(), PollFlags::IN));
            }
            match rustix::event::poll(&mut fds, None) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(_) => end(70),
            }
            let request_ready = !fds[0].revents().is_empty();
            drop(fds);
            reap(&mut children);
            if !request_ready {
                continue;
            }
        }
        let fds = match sock.recv(MAX_CONTROL_FRAME, None) {
            Ok((_, fds)) => fds,
            // The parent ended: so does the server (running children go on, as orphans).
            Err(_) => end(0),
        };
        let mut fds = fds.into_iter();
        let (Some(theirs), Some(status_w), None) = (fds.next(), fds.next(), fds.next()) else {
            answer(&sock, &Err("malformed fork request".to_owned()), &[]);
            continue;
        };
        debug_assert!(
            alone_in_process(),
            "the fork server must be single-threaded when it forks (threads: {:?})",
            thread_count()
        );
        // The C library's own `fork` (not a raw system call), so that its fork handlers run and
        // the child's C library state (malloc, thread ids) is consistent.
        // SAFETY: this process is single-threaded (but for a test harness's main thread waiting
        // for this test, which holds no lock; checked above in debug builds), so the child may
        // run any code; `fork` has no other precondition.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // The child: none of the server's descriptors, SIGINT as the program had it.
            drop(sock);
            drop(children);
            drop(status_w);
            restore_sigint(&sigint);
            child_main(FrameSocket::new(theirs))
        }
        drop(theirs);
        if pid < 0 {
            let e = io::Error::last_os_error();
            answer(&sock, &Err(format!("fork failed: {e}")), &[]);
            continue;
        }
        let pid = Pid::from_raw(pid).expect("fork returned a positive pid");
        match rustix::process::pidfd_open(pid, PidfdFlags::empty()) {
            Ok(pidfd) => {
                answer(
                    &sock,
                    &Ok(pid.as_raw_pid() as u32),
                    std::slice::from_ref(&pidfd),
                );
                children.push(Served {
                    pid,
                    pidfd,
                    status: status_w,
                });
            }
            Err(e) => {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
                let _ = rustix::process::waitpid(Some(pid), WaitOptions::empty());
                answer(&sock, &Err(format!("pidfd_open failed: {e}")), &[]);
            }
        }
    }
}
