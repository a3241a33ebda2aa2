//! What the pool's handle and its manager threads share: [`Shared`] (the [`Queue`] of
//! [`Job`]s under its lock and condition variable, the initializer, the settings, the live
//! workers, the worker of each started task), and a task's future as the managers see it
//! ([`Completion`], its result type erased).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::os::fd::OwnedFd;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::executor::{Future, TaskError};
use crate::primitive::{Condvar, Mutex};
use crate::process::call::Call;
use crate::process::forkserver::StartMethod;
use crate::process::spawn::Killer;
use crate::process::wire;

/// A task's future as the manager threads see it, its result type erased: they start it,
/// maybe put it back, and finish it with the worker's encoded result (decoded here, on the
/// manager thread, into the future's own type).
pub(super) trait Completion: Send + Sync {
    /// Identifies the future (for [`ProcessPool::worker_pid`]).
    fn key(&self) -> usize;
    fn is_pending(&self) -> bool;
    /// Pending to running; false when cancelled (or set) meanwhile.
    fn start(&self) -> bool;
    /// Running (started by this thread) back to pending.
    fn unstart(&self);
    /// Decodes a returned value, then finishes the future this thread started.
    fn finish_started(&self, result: Result<(Vec<u8>, Vec<OwnedFd>), TaskError>);
    /// Finishes the future if it is still pending (never started).
    fn settle(&self, error: TaskError);
}

impl<R: DeserializeOwned + Send + 'static> Completion for Future<R> {
    fn key(&self) -> usize {
        self.addr() as usize
    }
    fn is_pending(&self) -> bool {
        Future::is_pending(self)
    }
    fn start(&self) -> bool {
        Future::start(self)
    }
    fn unstart(&self) {
        Future::unstart(self);
    }
    fn finish_started(&self, result: Result<(Vec<u8>, Vec<OwnedFd>), TaskError>) {
        let outcome = result.and_then(|(bytes, fds)| {
            wire::decode(&bytes, fds).map_err(|message| TaskError::Serialization { message })
        });
        Future::finish_started(self, outcome);
    }
    fn settle(&self, error: TaskError) {
        Future::settle(self, Err(error));
    }
}

/// A task on its way to a worker. Exactly one thread holds it at a time (the submitter, the
/// queue, one manager), which is what makes `started` true: that holder started the future.
pub(super) struct Job {
    pub(super) call: Call,
    pub(super) fds: Vec<OwnedFd>,
    pub(super) timeout: Option<Duration>,
    pub(super) fut: Box<dyn Completion>,
    /// The holder moved the future to running (so it alone finishes it or puts it back).
    pub(super) started: bool,
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("call", &self.call)
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

impl Job {
    /// Finishes the task with the worker's answer (or a failure), however far it got: a task
    /// started by this holder is finished, a pending one settled, a cancelled one left alone.
    pub(super) fn finish(
        self,
        shared: &Shared,
        result: Result<(Vec<u8>, Vec<OwnedFd>), TaskError>,
    ) {
        if self.started {
            shared.forget_pid(&self);
            self.fut.finish_started(result);
        } else if let Err(error) = result {
            self.fut.settle(error);
        } else {
            unreachable!("a result comes only for a task sent to a worker, which started it");
        }
    }
}

#[derive(Debug)]
pub(super) struct Queue {
    pub(super) jobs: VecDeque<Job>,
    pub(super) shut_down: bool,
    pub(super) terminated: bool,
    pub(super) broken: Option<String>,
    /// Managers with no task in flight. While one is idle, no task is sent ahead to a busy
    /// worker: it is left for the idle one.
    pub(super) idle: usize,
}

#[derive(Debug)]
pub(super) struct Initializer {
    pub(super) call: Call,
    pub(super) fds: Vec<OwnedFd>,
}

#[derive(Debug)]
pub(super) struct Shared {
    pub(super) queue: Mutex<Queue>,
    pub(super) cv: Condvar,
    pub(super) initializer: Option<Initializer>,
    pub(super) max_tasks_per_child: Option<usize>,
    pub(super) task_timeout: Option<Duration>,
    pub(super) workers_started: AtomicUsize,
    /// Live workers by pid, for `terminate`.
    pub(super) live: Mutex<Vec<(u32, Killer)>>,
    /// The worker of each started task (by [`Completion::key`]), for
    /// [`ProcessPool::worker_pid`].
    pub(super) pids: Mutex<HashMap<usize, u32>>,
    /// `None`: the default when a worker starts.
    pub(super) start_method: Option<StartMethod>,
    /// How many tasks a worker may be sent ahead of the one it runs (0: none).
    pub(super) send_ahead: usize,
    /// The number of worker slots (manager threads).
    pub(super) workers: usize,
    /// Tasks sent ahead, counted for the tests (how many went in each batch is visible
    /// through [`Future::is_running`](crate::executor::Future::is_running) too).
    pub(super) sent_ahead: AtomicUsize,
}

impl Shared {
    /// Forgets the worker of a task that is no longer running.
    pub(super) fn forget_pid(&self, job: &Job) {
        let key = job.fut.key();
        self.pids.lock().remove(&key);
    }
}
