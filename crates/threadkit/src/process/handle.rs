//! [`Process`]: a Rust function running in a child process.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::call::{self, Outcome, Start, MAX_CONTROL_FRAME};
use super::child::{self, NotInitialized};
use super::forkserver::{get_start_method, StartMethod};
use super::spawn::{self, ChildProc};
use super::wire::{self, FrameSocket, RecvFail};
use crate::executor::TaskError;
use crate::primitive::Mutex;
use crate::time::TimeoutOverflow;

/// Why a child process gave no result: how it ended. The same enum as the process pool's
/// [`TaskError`] (and the thread pool's, [`executor::TaskError`](crate::executor::TaskError)),
/// so that a process, a process-pool task and a thread-pool task report a panic, a signal or an
/// exit alike. A [`Process`] gives [`Panicked`](TaskError::Panicked),
/// [`Signaled`](TaskError::Signaled), [`Exited`](TaskError::Exited),
/// [`NotServed`](TaskError::NotServed), [`Serialization`](TaskError::Serialization),
/// [`ResultTaken`](TaskError::ResultTaken) and [`Io`](TaskError::Io).
///
/// # Examples
///
/// ```
/// use threadkit::process::{Process, ProcessError};
///
/// fn boom(_: ()) {
///     panic!("boom");
/// }
///
/// threadkit::process::init();
/// let mut p = Process::spawn(boom, ()).unwrap();
/// assert!(matches!(p.join(), Err(ProcessError::Panicked { message, .. }) if message == "boom"));
/// ```
pub type ProcessError = TaskError;

/// How a child process ended, from its exit status, when it sent no result: a signal, an exit
/// code, or (code 0 from a child that never said it serves) a `main` without
/// [`init`](super::init). The one place where the process handle and the pool read a status.
pub(crate) fn child_ended(status: ExitStatus, served: bool) -> TaskError {
    if let Some(signal) = status.signal() {
        return TaskError::Signaled {
            signal,
            name: spawn::signal_name(signal),
        };
    }
    match status.code() {
        Some(0) | None if !served => TaskError::NotServed,
        Some(code) => TaskError::Exited { code },
        None => TaskError::Exited { code: 0 },
    }
}

/// Why a child could not be started.
#[derive(Debug)]
#[non_exhaustive]
pub enum SpawnError {
    /// The function is not part of the executable, or its arguments cannot be serialized.
    Call(String),
    /// Starting the process failed.
    Io(io::Error),
    /// The executable's `main` did not call [`init`](super::init) first: no child was started
    /// (it would have run `main` again).
    NotInitialized(NotInitialized),
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::Call(m) => write!(f, "cannot run this call in a child: {m}"),
            SpawnError::Io(e) => write!(f, "cannot start the child process: {e}"),
            SpawnError::NotInitialized(e) => write!(f, "cannot start the child process: {e}"),
        }
    }
}

impl std::error::Error for SpawnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpawnError::Io(e) => Some(e),
            SpawnError::NotInitialized(e) => Some(e),
            SpawnError::Call(_) => None,
        }
    }
}

/// The error of [`Process::join_timeout`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinTimeoutError {
    /// The child is still running.
    Timeout,
    /// The timeout is too large for the clock.
    Overflow(TimeoutOverflow),
    /// The child finished without a result.
    Failed(ProcessError),
}

impl fmt::Display for JoinTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinTimeoutError::Timeout => f.write_str("the child process is still running"),
            JoinTimeoutError::Overflow(e) => e.fmt(f),
            JoinTimeoutError::Failed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for JoinTimeoutError {}

#[derive(Debug)]
struct State<R> {
    /// `None` only once dropped.
    child: Option<ChildProc>,
    status: Option<ExitStatus>,
    outcome: Option<Result<R, ProcessError>>,
    finished: bool,
    /// The child said it started the function.
    started: bool,
}

/// A Rust function running in a child process (Python's `multiprocessing.Process`, started).
///
/// [`Process::spawn`] starts a child of this program (forked by the fork server, or the program
/// re-executed: see [`StartMethod`](super::StartMethod)) that runs `f(args)` and sends back
/// the return value; [`join`](Process::join) waits and returns it, or why there is none (a
/// panic with its message, a signal by name, an exit code). The executable must call
/// [`init`](super::init) first thing in `main`.
///
/// Dropping a `Process` that is still running leaves it running (as Python's non-daemon
/// processes); it is reaped when it ends (by the fork server, or a background thread).
///
/// # Examples
///
/// ```
/// use threadkit::process::Process;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// threadkit::process::init();
/// let mut p = Process::spawn(square, 12).unwrap();
/// println!("child pid {}", p.pid());
/// assert_eq!(p.join().unwrap(), 144);
/// assert!(!p.is_alive());
/// assert_eq!(p.exitcode(), Some(0));
/// ```
pub struct Process<R> {
    pid: u32,
    sock: FrameSocket,
    state: Mutex<State<R>>,
    _r: PhantomData<fn() -> R>,
}

impl<R> fmt::Debug for Process<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl<R: Serialize + DeserializeOwned + 'static> Process<R> {
    /// Starts `f(args)` in a child process (Python's `Process(target=f, args=args).start()`).
    ///
    /// `f` is a function (or a closure that captures nothing) of this executable; `args` is
    /// serialized with serde, so it may contain process handles ([`Connection`](super::Connection),
    /// [`Queue`](super::Queue), [`Lock`](super::Lock), [`Value`](super::Value), ...) which the
    /// child receives as working copies. Several arguments go in a tuple.
    ///
    /// # Errors
    ///
    /// [`SpawnError::Call`] when `f` is not in the executable or `args` cannot be serialized;
    /// [`SpawnError::Io`] when the process cannot be started.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::process::Process;
    ///
    /// fn add((a, b): (i32, i32)) -> i32 {
    ///     a + b
    /// }
    ///
    /// threadkit::process::init();
    /// let mut p = Process::spawn(add, (2, 3)).unwrap();
    /// assert_eq!(p.join(), Ok(5));
    /// ```
    pub fn spawn<A>(f: fn(A) -> R, args: A) -> Result<Process<R>, SpawnError>
    where
        A: Serialize + DeserializeOwned + 'static,
    {
        Process::spawn_with(get_start_method(), f, args)
    }

    /// Starts `f(args)` in a child process started with `method` rather than the default
    /// [`get_start_method`](super::get_start_method) (Python's
    /// `get_context(method).Process(target=f, args=args).start()`).
    ///
    /// With [`StartMethod::ForkServer`], when the fork server cannot start, the child is
    /// started with [`StartMethod::Spawn`].
    ///
    /// # Errors
    ///
    /// As [`spawn`](Process::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::process::{Process, StartMethod};
    ///
    /// fn square(x: u64) -> u64 {
    ///     x * x
    /// }
    ///
    /// threadkit::process::init();
    /// let mut p = Process::spawn_with(StartMethod::Spawn, square, 9).unwrap();
    /// assert_eq!(p.join(), Ok(81));
    /// ```
    pub fn spawn_with<A>(
        method: StartMethod,
        f: fn(A) -> R,
        args: A,
    ) -> Result<Process<R>, SpawnError>
    where
        A: Serialize + DeserializeOwned + 'static,
    {
        child::ensure_init().map_err(SpawnError::NotInitialized)?;
        let (call, fds) = call::make_call(f, &args).map_err(SpawnError::Call)?;
        let (child, sock) =
            spawn::spawn_child(method, &Start::Once(call), &fds).map_err(SpawnError::Io)?;
        Ok(Process {
            pid: child.id(),
            sock,
            state: Mutex::new(State {
                child: Some(child),
                status: None,
                outcome: None,
                finished: false,
                started: false,
            }),
            _r: PhantomData,
        })
    }

    /// Waits for the child to finish and returns the function's result (Python's `join()`,
    /// which also gives the return value here).
    ///
    /// # Errors
    ///
    /// A [`ProcessError`] saying why there is no result; the same error again on later calls,
    /// or [`ProcessError::ResultTaken`] after a result was returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::process::Process;
    ///
    /// fn pid(_: ()) -> u32 {
    ///     std::process::id()
    /// }
    ///
    /// threadkit::process::init();
    /// let mut p = Process::spawn(pid, ()).unwrap();
    /// assert_eq!(p.join(), Ok(p.pid()));
    /// ```
    pub fn join(&mut self) -> Result<R, ProcessError> {
        match self.join_until(None) {
            Ok(r) => Ok(r),
            Err(JoinTimeoutError::Failed(e)) => Err(e),
            Err(other) => Err(ProcessError::Io {
                message: other.to_string(),
            }),
        }
    }

    /// Waits at most `timeout` for the child to finish (Python's `join(timeout)`).
    ///
    /// # Errors
    ///
    /// [`JoinTimeoutError::Timeout`] if it is still running (the `Process` is unchanged);
    /// [`JoinTimeoutError::Overflow`] for a timeout past the clock's range;
    /// [`JoinTimeoutError::Failed`] as [`join`](Process::join).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::process::{JoinTimeoutError, Process};
    ///
    /// fn wait_forever(_: ()) {
    ///     loop {
    ///         std::thread::park();
    ///     }
    /// }
    ///
    /// threadkit::process::init();
    /// let mut p = Process::spawn(wait_forever, ()).unwrap();
    /// assert_eq!(p.join_timeout(Duration::from_millis(50)), Err(JoinTimeoutError::Timeout));
    /// p.kill().unwrap();
    /// assert!(p.join().is_err());
    /// ```
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<R, JoinTimeoutError> {
        let deadline = crate::time::deadline_after(timeout).map_err(JoinTimeoutError::Overflow)?;
        self.join_until(Some(deadline))
    }

    fn join_until(&mut self, deadline: Option<Instant>) -> Result<R, JoinTimeoutError> {
        let st = self.state.get_mut();
        if !st.finished {
            let received = loop {
                match self.sock.recv(MAX_CONTROL_FRAME, deadline) {
                    Ok((bytes, _)) if bytes.is_empty() => st.started = true,
                    Err(RecvFail::Timeout) => return Err(JoinTimeoutError::Timeout),
                    other => break other,
                }
            };
            let status = match st.status {
                Some(s) => Ok(s),
                None => match st.child.as_mut() {
                    Some(c) => c.wait(),
                    None => Err(io::Error::other("no child")),
                },
            };
            if let Ok(s) = status {
                st.status = Some(s);
            }
            st.outcome = Some(match received {
                Ok((bytes, fds)) => decode_outcome(&bytes, fds),
                Err(RecvFail::Disconnected) | Err(RecvFail::TooLarge(_)) => match status {
                    Ok(s) => Err(child_ended(s, st.started)),
                    Err(e) => Err(ProcessError::Io {
                        message: e.to_string(),
                    }),
                },
                Err(RecvFail::Timeout) => unreachable!("timeouts return above"),
                Err(RecvFail::Io(e)) => Err(ProcessError::Io {
                    message: e.to_string(),
                }),
            });
            st.finished = true;
        }
        match st.outcome.take() {
            None => Err(JoinTimeoutError::Failed(ProcessError::ResultTaken)),
            Some(Ok(r)) => Ok(r),
            Some(Err(e)) => {
                st.outcome = Some(Err(e.clone()));
                Err(JoinTimeoutError::Failed(e))
            }
        }
    }
}

pub(crate) fn decode_outcome<R: DeserializeOwned>(
    bytes: &[u8],
    fds: Vec<std::os::fd::OwnedFd>,
) -> Result<R, ProcessError> {
    let outcome: Outcome = wire::decode(bytes, Vec::new())
        .map_err(|message| ProcessError::Serialization { message })?;
    match outcome {
        Outcome::Returned(b) => {
            wire::decode(&b, fds).map_err(|message| ProcessError::Serialization { message })
        }
        Outcome::Panicked {
            message,
            location,
            backtrace,
        } => Err(ProcessError::Panicked {
            message,
            location,
            backtrace,
        }),
        Outcome::Failed(message) => Err(ProcessError::Serialization { message }),
    }
}

impl<R> Process<R> {
    /// The child's process id (Python's `pid`).
    ///
    /// # Examples
    ///
    /// ```
    /// threadkit::process::init();
    /// let p = threadkit::process::Process::spawn(|(): ()| (), ()).unwrap();
    /// assert_ne!(p.pid(), std::process::id());
    /// ```
    pub fn pid(&self) -> u32 {
        self.pid
    }

    fn poll_status(&self) -> Option<ExitStatus> {
        let mut st = self.state.lock();
        if st.status.is_none() {
            if let Some(Ok(Some(s))) = st.child.as_mut().map(ChildProc::try_wait) {
                st.status = Some(s);
            }
        }
        st.status
    }

    /// Whether the child is still running (Python's `is_alive()`).
    ///
    /// # Examples
    ///
    /// ```
    /// threadkit::process::init();
    /// let mut p = threadkit::process::Process::spawn(|(): ()| (), ()).unwrap();
    /// p.join().unwrap();
    /// assert!(!p.is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        self.poll_status().is_none()
    }

    /// The exit code (Python's `exitcode`): `None` while running, the code once exited, and
    /// `-N` when killed by signal `N`.
    ///
    /// # Examples
    ///
    /// ```
    /// threadkit::process::init();
    /// let mut p = threadkit::process::Process::spawn(|(): ()| (), ()).unwrap();
    /// p.join().unwrap();
    /// assert_eq!(p.exitcode(), Some(0));
    /// ```
    pub fn exitcode(&self) -> Option<i32> {
        self.poll_status()
            .map(|s| s.code().unwrap_or_else(|| -s.signal().unwrap_or(0)))
    }

    fn signal(&self, sig: rustix::process::Signal) -> io::Result<()> {
        // Under the status lock: a re-executed child is not reaped meanwhile, so its pid is
        // still its own (a forked one is signalled through its pidfd).
        let st = self.state.lock();
        match (&st.status, &st.child) {
            (None, Some(c)) => c.signal(sig),
            _ => Ok(()),
        }
    }

    /// Sends `SIGTERM` to the child (Python's `terminate()`); nothing if it already ended.
    ///
    /// # Errors
    ///
    /// The `kill(2)` error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::process::{Process, ProcessError};
    ///
    /// fn park(_: ()) {
    ///     loop {
    ///         std::thread::park();
    ///     }
    /// }
    ///
    /// threadkit::process::init();
    /// let mut p = Process::spawn(park, ()).unwrap();
    /// p.terminate().unwrap();
    /// assert!(matches!(p.join(), Err(ProcessError::Signaled { signal: 15, .. })));
    /// assert_eq!(p.exitcode(), Some(-15));
    /// ```
    pub fn terminate(&self) -> io::Result<()> {
        self.signal(rustix::process::Signal::TERM)
    }

    /// Sends `SIGKILL` to the child (Python's `kill()`); nothing if it already ended.
    ///
    /// # Errors
    ///
    /// The `kill(2)` error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// fn park(_: ()) {
    ///     loop {
    ///         std::thread::park();
    ///     }
    /// }
    ///
    /// threadkit::process::init();
    /// let mut p = threadkit::process::Process::spawn(park, ()).unwrap();
    /// p.kill().unwrap();
    /// assert!(p.join().unwrap_err().to_string().contains("SIGKILL"));
    /// ```
    pub fn kill(&self) -> io::Result<()> {
        self.signal(rustix::process::Signal::KILL)
    }
}

impl<R> Drop for Process<R> {
    fn drop(&mut self) {
        let st = self.state.get_mut();
        if let Some(child) = st.child.take() {
            child.detach();
        }
    }
}
