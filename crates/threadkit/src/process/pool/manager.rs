//! The manager threads, one per worker slot ([`manage`]): each takes jobs from the shared
//! queue, keeps several in flight on its worker (the running one and up to
//! [`Builder::send_ahead`](super::Builder::send_ahead) sent ahead, several in one write),
//! hands the results back in order, and supervises the worker: on a crash or a hard timeout
//! only the running task fails, those sent ahead go back to the head of the queue, and the
//! next task starts a new worker; a failing initializer breaks the pool.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
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
/// task runs, so what is sent ahead must fit in the socket's buffer (a few hundred KiB) or its
/// send would wait for the task before it; larger ones are sent when the worker is idle.
const AHEAD_MAX_PAYLOAD: usize = 16 * 1024;

/// The most argument bytes in flight on one worker for tasks to be sent ahead (see
/// [`AHEAD_MAX_PAYLOAD`]).
const AHEAD_MAX_BYTES: usize = 64 * 1024;

/// The most process handles (descriptors) in flight on one worker for tasks to be sent ahead;
/// also what one write may carry ([`wire::MAX_FDS`]).
const AHEAD_MAX_FDS: usize = wire::MAX_FDS;

/// Takes the next job that was not cancelled without waiting, for a manager with nothing in
/// flight; `None` when there is none, or the pool is broken or terminated: the manager is
/// then counted idle at once, so that no other sends a task ahead meanwhile.
fn try_next_job(shared: &Shared, idle: &mut bool) -> Option<Job> {
    let mut q = shared.queue.lock();
    if q.broken.is_none() && !q.terminated {
        while let Some(job) = q.jobs.pop_front() {
            if job.fut.is_pending() {
                if *idle {
                    q.idle -= 1;
                    *idle = false;
                }
                return Some(job);
            }
        }
    }
    if !*idle {
        q.idle += 1;
        *idle = true;
    }
    None
}

/// Takes up to `room` queued jobs to send ahead to a busy worker that has `bytes` argument
/// bytes and `fds` descriptors in flight: none while another manager is idle (its worker gets
/// the work first) or the pool is broken or terminated; at most a quarter of this worker's
/// share of the queue (so that a short queue is spread over the workers); only jobs small
/// enough to be sent ahead, within the per-worker budget ([`AHEAD_MAX_BYTES`],
/// [`AHEAD_MAX_FDS`]), in queue order (it stops at the first that does not fit).
fn take_ahead(shared: &Shared, room: usize, mut bytes: usize, mut fds: usize) -> Vec<Job> {
    let mut q = shared.queue.lock();
    if q.broken.is_some() || q.terminated || q.idle > 0 {
        return Vec::new();
    }
    let n = room.min((q.jobs.len() / shared.workers / 4).max(1));
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let Some(front) = q.jobs.front() else {
            break;
        };
        if !front.fut.is_pending() {
            q.jobs.pop_front();
            continue;
        }
        let len = front.call.payload.len();
        let nfds = front.fds.len();
        if len > AHEAD_MAX_PAYLOAD || bytes + len > AHEAD_MAX_BYTES || fds + nfds > AHEAD_MAX_FDS {
            break;
        }
        bytes += len;
        fds += nfds;
        out.extend(q.jobs.pop_front());
    }
    out
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

/// One manager thread per worker slot. It keeps several tasks in flight on its worker: the
/// one running, and those sent ahead, so that the worker finds the next one waiting when it
/// sends a result. Results come back in order, so when the worker dies the first unanswered
/// task is the one it was running: only that one fails; those sent ahead go back to the head
/// of the queue.
pub(super) fn manage(shared: &Shared) {
    let mut worker: Option<Worker> = None;
    let mut inflight: VecDeque<InFlight> = VecDeque::with_capacity(shared.send_ahead.min(64) + 1);
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
            // (After a result, the worker was fed before the result was handed over.)
            top_up(shared, &mut worker, &mut inflight, &mut idle);
        }
        let deadline = inflight.front().expect("a task is in flight").deadline;
        let w = worker.as_mut().expect("a task is in flight");
        let received = loop {
            match w.sock.recv(MAX_CONTROL_FRAME, deadline) {
                Ok((bytes, _)) if bytes.is_empty() && !w.served => {
                    // The worker's first frame: it serves (its main called `init`).
                    w.served = true;
                }
                r => break r,
            }
        };
        match received {
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

/// Feeds the worker with jobs that are already queued (never waiting for one): the first one
/// if it has nothing in flight, then, once at most half of [`Builder::send_ahead`] tasks are
/// sent ahead, a batch of them in one write ([`take_ahead`] says how many), within
/// `max_tasks_per_child`.
///
/// [`Builder::send_ahead`]: super::Builder::send_ahead
fn top_up(
    shared: &Shared,
    worker: &mut Option<Worker>,
    inflight: &mut VecDeque<InFlight>,
    idle: &mut bool,
) {
    let fits = |w: &Worker, n: usize| {
        shared
            .max_tasks_per_child
            .is_none_or(|max| w.sent + n <= max)
    };
    while inflight.is_empty() {
        if !worker.as_ref().is_some_and(|w| fits(w, 1)) {
            mark_idle(shared, idle);
            return;
        }
        let Some(mut job) = try_next_job(shared, idle) else {
            return;
        };
        match send_first(shared, worker, &mut job) {
            Ok(deadline) => inflight.push_back(InFlight { job, deadline }),
            Err(e) => fail(shared, job, e),
        }
    }
    let ahead = inflight.len() - 1;
    let most = shared.send_ahead;
    // Refill at half (a batch per write rather than a write per result); `send_ahead(1)`
    // refills at once.
    if most == 0 || ahead > most / 2 {
        return;
    }
    let Some(w) = worker.as_mut() else {
        return;
    };
    let mut room = most - ahead;
    if let Some(max) = shared.max_tasks_per_child {
        room = room.min(max.saturating_sub(w.sent));
    }
    if room == 0 {
        return;
    }
    let bytes = inflight.iter().map(|f| f.job.call.payload.len()).sum();
    let fds = inflight.iter().map(|f| f.job.fds.len()).sum();
    let jobs = take_ahead(shared, room, bytes, fds);
    if !jobs.is_empty() {
        send_ahead(shared, w, inflight, jobs);
    }
}

/// Sends `jobs` to a worker that is running another task, in one write; they count as
/// running from now on and join `inflight`. A job that cannot be encoded fails, a cancelled
/// one is dropped, and when nothing could be written they go back to the queue. A write that
/// fails halfway kills the worker: the manager then takes the crash path (the running task
/// fails, those sent ahead go back to the queue), as if the worker had died by itself.
fn send_ahead(shared: &Shared, w: &mut Worker, inflight: &mut VecDeque<InFlight>, jobs: Vec<Job>) {
    let mut frames: Vec<(Vec<u8>, Vec<OwnedFd>)> = Vec::with_capacity(jobs.len());
    let mut sent: Vec<Job> = Vec::with_capacity(jobs.len());
    let mut jobs = jobs.into_iter();
    while let Some(mut job) = jobs.next() {
        let frame = match encode_job(&job) {
            Ok(f) => f,
            Err(e) => {
                fail(shared, job, e);
                continue;
            }
        };
        let Ok(fds) = dup_fds(&job.fds) else {
            // Out of descriptors: this one and those after it wait in the queue.
            requeue(shared, std::iter::once(job).chain(jobs));
            break;
        };
        if mark_running(shared, &mut job, w.pid) {
            frames.push((frame, fds));
            sent.push(job);
        }
    }
    if sent.is_empty() {
        return;
    }
    let refs: Vec<(&[u8], &[OwnedFd])> = frames
        .iter()
        .map(|(b, f)| (b.as_slice(), f.as_slice()))
        .collect();
    // No deadline: the worker has read (or is reading) the task it runs, and these fit in the
    // socket's buffer (`AHEAD_MAX_BYTES`), so the write ends without waiting for the worker;
    // a worker that dies makes it fail at once.
    match w.sock.send_frames(&refs) {
        Ok(()) => {}
        Err((_, false)) => {
            requeue(shared, sent.into_iter());
            return;
        }
        Err((_, true)) => w.abort(),
    }
    w.sent += sent.len();
    shared.sent_ahead.fetch_add(sent.len(), Ordering::Relaxed);
    inflight.extend(sent.into_iter().map(|job| InFlight {
        job,
        deadline: None,
    }));
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
    shared.pids.lock().insert(job.fut.key(), pid);
    true
}

fn encode_job(job: &Job) -> Result<Vec<u8>, TaskError> {
    Ok(wire::encode(&job.call)
        .map_err(|message| TaskError::Serialization { message })?
        .0)
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
