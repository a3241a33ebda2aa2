//! [`Worker`]: one worker process as its manager thread holds it: started with the
//! initializer run ([`start_worker`]), retired at the end of its stream, killed (a hard
//! timeout, `terminate`), or reaped after it died, its end turned into the running task's
//! [`TaskError`].

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;

use super::shared::Shared;
use crate::executor::TaskError;
use crate::process::call::{Call, Start, MAX_CONTROL_FRAME};
use crate::process::forkserver::get_start_method;
use crate::process::handle::child_ended;
use crate::process::spawn::{self, ChildProc};
use crate::process::wire::FrameSocket;

pub(super) struct Worker {
    child: ChildProc,
    pub(super) sock: FrameSocket,
    pub(super) pid: u32,
    /// Tasks sent to it (for `max_tasks_per_child`).
    pub(super) sent: usize,
    /// It sent its first (empty) frame: its `main` called `init`, so an exit with code 0
    /// is the task's own, not [`TaskError::NotServed`].
    pub(super) served: bool,
}

impl Worker {
    /// Closes the socket (the worker exits at the end of its stream) and reaps it.
    pub(super) fn retire(self, shared: &Shared) {
        let Worker {
            mut child,
            sock,
            pid,
            ..
        } = self;
        shared.live.lock().retain(|(p, _)| *p != pid);
        drop(sock);
        let _ = child.wait();
    }

    /// Kills and reaps the worker; its exit status.
    pub(super) fn kill(self, shared: &Shared) -> Option<std::process::ExitStatus> {
        let Worker { mut child, pid, .. } = self;
        shared.live.lock().retain(|(p, _)| *p != pid);
        let _ = child.signal(rustix::process::Signal::KILL);
        child.wait().ok()
    }

    /// Kills the worker without reaping it: its socket ends, and the manager takes the crash
    /// path (results it sent before are still read).
    pub(super) fn abort(&self) {
        let _ = self.child.signal(rustix::process::Signal::KILL);
    }

    /// Reaps a worker whose socket ended; the error for the task it was running.
    pub(super) fn died(self, shared: &Shared) -> TaskError {
        let Worker {
            mut child,
            pid,
            served,
            ..
        } = self;
        // Out of `live` before reaping, so that `terminate` never signals a reused pid.
        shared.live.lock().retain(|(p, _)| *p != pid);
        match child.wait() {
            Ok(s) => child_ended(s, served),
            Err(e) => TaskError::Io {
                message: e.to_string(),
            },
        }
    }
}

pub(super) fn dup_fds(fds: &[OwnedFd]) -> io::Result<Vec<OwnedFd>> {
    fds.iter().map(OwnedFd::try_clone).collect()
}

/// Starts a worker and runs the initializer; `Err(Broken)` when the initializer failed.
pub(super) fn start_worker(shared: &Shared) -> Result<Worker, StartFail> {
    let (initializer, fds) = match &shared.initializer {
        None => (None, Vec::new()),
        Some(i) => (
            Some(Call {
                runner: i.call.runner,
                func: i.call.func,
                payload: i.call.payload.clone(),
            }),
            dup_fds(&i.fds).map_err(|e| StartFail::Io(e.to_string()))?,
        ),
    };
    let has_init = initializer.is_some();
    let method = shared.start_method.unwrap_or_else(get_start_method);
    let (child, sock) = spawn::spawn_child(method, &Start::Worker { initializer }, &fds)
        .map_err(|e| StartFail::Io(e.to_string()))?;
    shared.workers_started.fetch_add(1, Ordering::SeqCst);
    let pid = child.id();
    match child.killer() {
        Ok(killer) => shared.live.lock().push((pid, killer)),
        Err(e) => {
            let _ = child.signal(rustix::process::Signal::KILL);
            let mut child = child;
            let _ = child.wait();
            return Err(StartFail::Io(e.to_string()));
        }
    }
    let mut worker = Worker {
        child,
        sock,
        pid,
        sent: 0,
        served: false,
    };
    if has_init {
        // The worker says it serves, then how its initializer went.
        match worker.sock.recv(MAX_CONTROL_FRAME, None) {
            Ok((bytes, _)) if bytes.is_empty() => worker.served = true,
            _ => {
                let e = worker.died(shared);
                return Err(StartFail::Broken(e.to_string()));
            }
        }
        match worker.sock.recv(MAX_CONTROL_FRAME, None) {
            Ok((bytes, fds)) => match crate::process::handle::decode_outcome::<()>(&bytes, fds) {
                Ok(()) => {}
                Err(e) => {
                    worker.retire(shared);
                    return Err(StartFail::Broken(e.to_string()));
                }
            },
            Err(_) => {
                let e = worker.died(shared);
                return Err(StartFail::Broken(e.to_string()));
            }
        }
    }
    Ok(worker)
}

pub(super) enum StartFail {
    Io(String),
    Broken(String),
}
