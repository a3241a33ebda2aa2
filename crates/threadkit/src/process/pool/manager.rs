//! The manager threads, one per worker slot ([`manage`]): each takes jobs from the shared
//! queue, keeps up to two in flight on its worker (the running one and one sent ahead),
//! hands the results back in order, and supervises the worker: on a crash or a hard timeout
//! only the running task fails, the one sent ahead goes back to the head of the queue, and
//! the next task starts a new worker; a failing initializer breaks the pool.

use std::collections::VecDeque;
use std::time::Instant;

use super::shared::{Job, Shared};
use super::worker::{dup_fds, start_worker, StartFail, Worker};
use crate::executor::TaskError;
use crate::process::call::{Outcome, MAX_CONTROL_FRAME};
use crate::process::wire::{self, RecvFail, SendFail};

/// Takes the next job that was not cancelled; `None` when the pool is shut down and drained.
/// `idle` says whether this manager is counted in [`Queue::idle`].
fn next_job(shared: &Shared, idle: &mut bool) -> Option<Job> {
    let mut q = shared.queue.lock();
    if !*idle {
        q.idle += 1;
        *idle = true;
    }
    loop {
        while let Some(job) = q.jobs.pop_front() {
            if job.fut.is_pending() {
                q.idle -= 1;
                *idle = false;
                return Some(job);
            }
        }
        if q.shut_down {
            return None;
        }
        shared.cv.wait(&mut q);
    }
}

/// The largest argument payload sent ahead of a running task. The worker reads nothing while a
/// task runs, so a task sent ahead must fit in the socket's buffer (a few hundred KiB) or its
/// send would wait for the task before it; larger ones are sent when the worker is idle.
const AHEAD_MAX_PAYLOAD: usize = 16 * 1024;

/// Takes the next job that was not cancelled without waiting; `None` when there is none, or the
/// pool is broken or terminated, or (`ahead`) another manager is idle or the next job is too
/// large to be sent ahead. Without `ahead` (this manager has nothing in flight) and no job, it
/// counts the manager idle at once, so that no other sends a task ahead meanwhile.
fn try_next_job(shared: &Shared, ahead: bool, idle: &mut bool) -> Option<Job> {
    let mut q = shared.queue.lock();
    if !ahead && (q.broken.is_some() || q.terminated || q.jobs.is_empty()) {
        if !*idle {
            q.idle += 1;
            *idle = true;
        }
        return None;
    }
    if q.broken.is_some() || q.terminated || (ahead && q.idle > 0) {
        return None;
    }
    loop {
        let Some(front) = q.jobs.front() else {
            if !ahead && !*idle {
                q.idle += 1;
                *idle = true;
            }
            return None;
        };
        if !front.fut.is_pending() {
            q.jobs.pop_front();
            continue;
        }
        if ahead && front.call.payload.len() > AHEAD_MAX_PAYLOAD {
            return None;
        }
        if *idle {
            q.idle -= 1;
            *idle = false;
        }
        return q.jobs.pop_front();
    }
}

/// Counts this manager idle (it has nothing in flight).
fn mark_idle(shared: &Shared, idle: &mut bool) {
    if !*idle {
        shared.queue.lock().idle += 1;
        *idle = true;
    }
}

/// Puts tasks that were sent to a worker that is gone, and never answered, back at the head of
/// the queue in their order (their results come in order, so none of them had started); when the
/// pool is terminated they fail with [`TaskError::Terminated`] instead.
fn requeue(shared: &Shared, jobs: impl DoubleEndedIterator<Item = Job>) {
    let mut q = shared.queue.lock();
    if q.terminated {
        drop(q);
        for job in jobs {
            job.finish(shared, Err(TaskError::Terminated));
        }
        return;
    }
    for mut job in jobs.rev() {
        if job.started {
            shared.forget_pid(&job);
            job.fut.unstart();
            job.started = false;
        }
        if job.fut.is_pending() {
            q.jobs.push_front(job);
        }
    }
    drop(q);
    shared.cv.notify_all();
}

fn break_pool(shared: &Shared, reason: &str) {
    let jobs: Vec<Job> = {
        let mut q = shared.queue.lock();
        q.broken.get_or_insert_with(|| reason.to_owned());
        q.jobs.drain(..).collect()
    };
    for job in jobs {
        job.finish(
            shared,
            Err(TaskError::BrokenPool {
                reason: reason.to_owned(),
            }),
        );
    }
}

/// A task sent to the worker whose result has not come back yet.
struct InFlight {
    job: Job,
    /// Its hard deadline, counted from the moment its result is the next one expected: when
    /// it is sent to an idle worker, or when the result of the task before it arrives.
    deadline: Option<Instant>,
}

fn deadline_of(job: &Job) -> Option<Instant> {
    job.timeout.and_then(|t| Instant::now().checked_add(t))
}

fn fail(shared: &Shared, job: Job, err: TaskError) {
    if let TaskError::BrokenPool { reason } = &err {
        break_pool(shared, reason);
    }
    job.finish(shared, Err(err));
}

/// One manager thread per worker slot. It keeps up to two tasks in flight on its worker, as
/// Python's call queue does: the one running, and the next one sent ahead, so that the worker
/// finds it waiting when it sends a result. Results come back in order, so when the worker
/// dies the first unanswered task is the one it was running: only that one fails; the one sent
/// ahead goes back to the head of the queue.
pub(super) fn manage(shared: &Shared) {
    let mut worker: Option<Worker> = None;
    let mut inflight: VecDeque<InFlight> = VecDeque::with_capacity(2);
    // Counted in `Queue::idle` (as every manager is at the start).
    let mut idle = true;
    loop {
        if inflight.is_empty() {
            let Some(job) = next_job(shared, &mut idle) else {
                break;
            };
            if let Some(reason) = shared.queue.lock().broken.clone() {
                job.finish(shared, Err(TaskError::BrokenPool { reason }));
                continue;
            }
            let mut job = job;
            match send_first(shared, &mut worker, &mut job) {
                Ok(deadline) => inflight.push_back(InFlight { job, deadline }),
                Err(e) => {
                    fail(shared, job, e);
                    continue;
                }
            }
        }
        top_up(shared, &mut worker, &mut inflight, &mut idle);
        let deadline = inflight.front().expect("a task is in flight").deadline;
        let w = worker.as_mut().expect("a task is in flight");
        match w.sock.recv(MAX_CONTROL_FRAME, deadline) {
            Ok((bytes, _)) if bytes.is_empty() && !w.served => {
                // The worker's first frame: it serves (its main called `init`).
                w.served = true;
            }
            Ok((bytes, fds)) => {
                let done = inflight.pop_front().expect("in flight");
                let result = match wire::decode::<Outcome>(&bytes, Vec::new()) {
                    Ok(Outcome::Returned(b)) => Ok((b, fds)),
                    Ok(Outcome::Panicked {
                        message,
                        location,
                        backtrace,
                    }) => Err(TaskError::Panicked {
                        message,
                        location,
                        backtrace,
                    }),
                    Ok(Outcome::Failed(message)) => Err(TaskError::Serialization { message }),
                    Err(message) => Err(TaskError::Serialization { message }),
                };
                if let Some(next) = inflight.front_mut() {
                    next.deadline = deadline_of(&next.job);
                }
                if inflight.is_empty()
                    && shared
                        .max_tasks_per_child
                        .is_some_and(|max| worker.as_ref().is_some_and(|w| w.sent >= max))
                {
                    worker.take().expect("some").retire(shared);
                }
                // Feed the worker before handing this result over.
                top_up(shared, &mut worker, &mut inflight, &mut idle);
                done.job.finish(shared, result);
            }
            Err(RecvFail::Timeout) => {
                worker.take().expect("some").kill(shared);
                let done = inflight.pop_front().expect("in flight");
                requeue(shared, inflight.drain(..).map(|f| f.job));
                mark_idle(shared, &mut idle);
                let timeout = done.job.timeout.unwrap_or_default();
                done.job
                    .finish(shared, Err(TaskError::TimedOut { timeout }));
            }
            Err(RecvFail::Disconnected) | Err(RecvFail::TooLarge(_)) | Err(RecvFail::Io(_)) => {
                let err = worker.take().expect("some").died(shared);
                let done = inflight.pop_front().expect("in flight");
                requeue(shared, inflight.drain(..).map(|f| f.job));
                mark_idle(shared, &mut idle);
                if shared.queue.lock().terminated {
                    done.job.finish(shared, Err(TaskError::Terminated));
                } else {
                    done.job.finish(shared, Err(err));
                }
            }
        }
    }
    if let Some(w) = worker.take() {
        if shared.queue.lock().terminated {
            w.kill(shared);
        } else {
            w.retire(shared);
        }
    }
}

/// Fills the worker's pipeline up to two tasks with jobs that are already queued (never
/// waiting for one), within `max_tasks_per_child`; a task is sent ahead only while no other
/// manager is idle, so that a task never waits behind another while a worker is free for it.
fn top_up(
    shared: &Shared,
    worker: &mut Option<Worker>,
    inflight: &mut VecDeque<InFlight>,
    idle: &mut bool,
) {
    let most = if shared.send_ahead { 2 } else { 1 };
    while inflight.len() < most {
        let ahead = !inflight.is_empty();
        let usable = worker
            .as_ref()
            .is_some_and(|w| shared.max_tasks_per_child.is_none_or(|max| w.sent < max));
        if !usable {
            if !ahead {
                mark_idle(shared, idle);
            }
            return;
        }
        let Some(mut job) = try_next_job(shared, ahead, idle) else {
            return;
        };
        if !ahead {
            match send_first(shared, worker, &mut job) {
                Ok(deadline) => inflight.push_back(InFlight { job, deadline }),
                Err(e) => fail(shared, job, e),
            }
            continue;
        }
        let w = worker.as_mut().expect("usable");
        match send_ahead(shared, w, &mut job) {
            Ahead::Sent => inflight.push_back(InFlight {
                job,
                deadline: None,
            }),
            Ahead::Gone => {}
            Ahead::Failed(e) => fail(shared, job, e),
            Ahead::NotSent => {
                requeue(shared, std::iter::once(job));
                return;
            }
        }
    }
}

/// Marks the task running on the worker `pid` (again, if it was already: a retry on a new
/// worker); false when it was cancelled meanwhile.
fn mark_running(shared: &Shared, job: &mut Job, pid: u32) -> bool {
    if !job.started {
        if !job.fut.start() {
            return false;
        }
        job.started = true;
    }
    let key = job.fut.key();
    let mut pids = shared.pids.lock();
    match pids.iter_mut().find(|(k, _)| *k == key) {
        Some(entry) => entry.1 = pid,
        None => pids.push((key, pid)),
    }
    true
}

fn encode_job(job: &Job) -> Result<Vec<u8>, TaskError> {
    Ok(wire::encode(&job.call)
        .map_err(|message| TaskError::Serialization { message })?
        .0)
}

enum Ahead {
    Sent,
    /// Cancelled before it was marked running.
    Gone,
    Failed(TaskError),
    /// Not sent (the worker is gone, or the socket failed): the job goes back to the queue.
    NotSent,
}

/// Sends `job` to a worker that is running another task; it counts as running from now on.
fn send_ahead(shared: &Shared, w: &mut Worker, job: &mut Job) -> Ahead {
    let frame = match encode_job(job) {
        Ok(f) => f,
        Err(e) => return Ahead::Failed(e),
    };
    let Ok(fds) = dup_fds(&job.fds) else {
        return Ahead::NotSent;
    };
    if !mark_running(shared, job, w.pid) {
        return Ahead::Gone;
    }
    // No deadline: the worker has read (or is reading) the task before this one, and this
    // one fits in the socket's buffer (`AHEAD_MAX_PAYLOAD`), so the send ends without waiting
    // for the worker; a worker that dies makes it fail at once.
    match w.sock.send(&frame, &fds, None) {
        Ok(()) => {
            w.sent += 1;
            Ahead::Sent
        }
        Err(_) => Ahead::NotSent,
    }
}

/// Sends `job` to an idle worker, starting one if there is none; the task's hard deadline.
fn send_first(
    shared: &Shared,
    worker: &mut Option<Worker>,
    job: &mut Job,
) -> Result<Option<Instant>, TaskError> {
    let frame = encode_job(job)?;
    // A worker that died between tasks never started this one: try once more on a new one.
    for attempt in 0..2 {
        if worker.is_none() {
            *worker = Some(match start_worker(shared) {
                Ok(w) => w,
                Err(StartFail::Broken(reason)) => return Err(TaskError::BrokenPool { reason }),
                Err(StartFail::Io(message)) => return Err(TaskError::Io { message }),
            });
        }
        let w = worker.as_mut().expect("started above");
        if !mark_running(shared, job, w.pid) {
            return Err(TaskError::Cancelled);
        }
        if shared.queue.lock().terminated {
            return Err(TaskError::Terminated);
        }
        let deadline = deadline_of(job);
        let fds = dup_fds(&job.fds).map_err(|e| TaskError::Io {
            message: e.to_string(),
        })?;
        match w.sock.send(&frame, &fds, deadline) {
            Ok(()) => {
                w.sent += 1;
                return Ok(deadline);
            }
            Err(SendFail::Disconnected) if attempt == 0 => {
                let _ = worker.take().map(|w| w.died(shared));
                continue;
            }
            Err(SendFail::Disconnected) => return Err(worker.take().expect("some").died(shared)),
            Err(SendFail::Timeout) => {
                worker.take().expect("some").kill(shared);
                return Err(TaskError::TimedOut {
                    timeout: job.timeout.unwrap_or_default(),
                });
            }
            Err(SendFail::Io(e)) => {
                worker.take().expect("some").kill(shared);
                return Err(TaskError::Io {
                    message: e.to_string(),
                });
            }
        }
    }
    unreachable!("the second attempt returns")
}
