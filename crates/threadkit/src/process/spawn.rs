//! The parent's side of a child: [`spawn_child`] starts one with a start method (forked by the
//! fork server, or re-executed), and [`ChildProc`] is the child however it was started (its
//! pid, its exit status, signals); [`Killer`] signals it from another thread.

use std::io;
use std::os::fd::OwnedFd;
use std::process::{Child, ExitStatus};

use super::call::{Start, ENV_CHILD};
use super::child::{ensure_init, is_child};
use super::exec::{exec_child, send_start};
use super::forkserver::{self, ForkFail, ForkedChild, StartMethod};
use super::wire::FrameSocket;

/// Starts a child with `method` (falling back to re-executing when there is no fork server)
/// and sends it `start` (with `fds` attached).
pub(crate) fn spawn_child(
    method: StartMethod,
    start: &Start,
    fds: &[OwnedFd],
) -> io::Result<(ChildProc, FrameSocket)> {
    ensure_init().map_err(io::Error::other)?;
    if !is_child() && std::env::var_os(ENV_CHILD).is_some() {
        // Started as a child, but `main` did not call `init()` first: starting children from
        // here (or a fork server, which starts by re-executing) would start the whole program
        // again, recursively.
        return Err(io::Error::other(
            "this process was started as a threadkit::process child but main did not call \
             threadkit::process::init() first; refusing to start children recursively",
        ));
    }
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
