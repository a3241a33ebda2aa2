//! [`Shared`]: what a pool's handles and its worker threads share: the job queue, the pool's
//! state under its lock, the idle and starting counts that decide when a worker is started,
//! retiring, shutdown and breaking, and the worker loop ([`worker_main`]).

use crate::primitive::{Condvar, Mutex, MutexGuard};
use crate::thread::JoinHandle;
use crate::unwind;
use crossbeam_channel::{RecvTimeoutError, TryRecvError};
use crossbeam_utils::CachePadded;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::super::future::{set_worker_of, worker_of, Future, NoScope, Run, Task, TaskError};
use super::builder::Initializer;
use super::error::SubmitError;
use super::queue::{JobQueue, PushEnd};
use super::ShutdownOptions;

/// A job in the pool's queue.
pub(crate) type Job = Arc<dyn Run>;

pub(super) struct PoolState {
    /// Whether submissions are taken (false once shut down).
    pub(super) open: bool,
    /// The queue's producers' end: pushes happen under this lock (see `JobQueue::push`).
    pub(super) push_end: PushEnd,
    pub(super) broken: Option<String>,
    /// Workers started and not retired (what `max_workers` bounds).
    pub(super) spawned: usize,
    /// Workers ever started: the next worker's name index.
    pub(super) named: usize,
    pub(super) live: usize,
    pub(super) handles: Vec<(usize, JoinHandle<()>)>,
}

pub(crate) struct Shared {
    /// Non-zero (unique among the last 2^32 - 1 pools): the worker threads' `worker_of()`.
    pub(crate) id: u32,
    /// The jobs waiting for a worker.
    pub(crate) queue: JobQueue,
    /// Locked by every submission: on a cache line of its own, so workers reading `queue` and
    /// `grown` in their loop do not steal it from the submitting thread each time.
    pub(super) state: CachePadded<Mutex<PoolState>>,
    pub(super) exited: Condvar,
    /// Workers blocked waiting for a job.
    pub(super) idle: AtomicUsize,
    /// Workers started that have not yet taken their first job or gone idle: each was started
    /// for a queued job and will take one, so the growth checks count them as capacity (a
    /// worker finding jobs queued behind it must not start another for a job whose own worker
    /// is still starting).
    pub(super) starting: AtomicUsize,
    /// Set once all `max_workers` workers were started: from then on nothing reads `idle`,
    /// so workers stop maintaining it (two read-modify-writes and a fence saved each time a
    /// worker finds the queue empty). Never set with an idle timeout: workers retire, so the
    /// pool can shrink and grow again.
    pub(super) grown: AtomicBool,
    /// Whether `max_workers` workers are running now (a hint, kept under the state lock; unlike
    /// `grown` it is cleared when a worker retires).
    pub(super) full: AtomicBool,
    pub(super) max_workers: usize,
    pub(super) prefix: String,
    pub(super) initializer: Option<Initializer>,
    pub(super) stack_size: Option<usize>,
    pub(super) idle_timeout: Option<Duration>,
    /// Whether idle workers sleep at once ([`park_when_idle`](super::Builder::park_when_idle))
    /// instead of spinning and yielding a little first: with many workers (the batch pool's
    /// 200), the ones going idle would take the CPU from those still running.
    pub(super) park_when_idle: bool,
}

thread_local! {
    static WORKER_INDEX: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

impl Shared {
    /// Puts `job` in the queue, starting a worker when none is idle.
    pub(crate) fn enqueue(self: &Arc<Self>, job: Job) -> Result<(), SubmitError> {
        let mut st = self.state.lock();
        if let Some(reason) = &st.broken {
            return Err(SubmitError::Broken {
                reason: reason.clone(),
            });
        }
        if !st.open {
            return Err(SubmitError::Shutdown);
        }
        self.queue.push(job, &mut st.push_end);
        if st.spawned == self.max_workers {
            // Fully grown (the steady state): nothing more to decide.
            return Ok(());
        }
        // Pairs with the fence in `worker_main`: either we see the worker that just left the
        // idle state as busy, or it sees our job in the queue and starts another worker.
        fence(Ordering::SeqCst);
        if st.spawned == 0 || self.idle.load(Ordering::SeqCst) == 0 {
            if let Err(e) = self.spawn_worker(&mut st) {
                if st.spawned == 0 {
                    // No worker at all: take the job back (it is the only one queued), and
                    // drop it and the dummy it replaces outside the lock.
                    let back = self.queue.pop_parts();
                    drop(st);
                    drop(back);
                    return Err(SubmitError::Spawn {
                        message: e.to_string(),
                    });
                }
                tracing::warn!(error = %e, "could not start another pool worker");
            }
        }
        Ok(())
    }

    /// Called by a worker that took a job without waiting (a new worker, or one going from
    /// job to job) while the pool can still grow: if jobs are still queued and no worker is
    /// idle, starts another. Submissions that saw an idle worker start none, and several can
    /// count on the same one (it leaves the idle state only once it has a job), so without
    /// this a job queued behind them could wait for a busy worker although the pool may grow:
    /// for jobs that hold their worker a long time (a batch run's worker loops), for good.
    fn grow_if_queued(self: &Arc<Self>) {
        // Pairs with the fence in `enqueue`, as in the idle path of `worker_main`.
        fence(Ordering::SeqCst);
        if !self.full.load(Ordering::SeqCst) && self.starved() {
            self.grow_if_starved();
        }
    }

    /// Whether more jobs are queued than there are workers to take them: idle ones, and
    /// started ones that have not taken their first job yet.
    fn starved(&self) -> bool {
        let queued = self.queue.len();
        queued > 0
            && queued > self.idle.load(Ordering::SeqCst) + self.starting.load(Ordering::SeqCst)
    }

    /// Called by a worker that just left the idle state while jobs are still queued: starts
    /// another worker if none is idle, so that no queued job waits behind a busy pool that
    /// could still grow.
    fn grow_if_starved(self: &Arc<Self>) {
        let mut st = self.state.lock();
        if st.open && st.broken.is_none() && st.spawned < self.max_workers && self.starved() {
            if let Err(e) = self.spawn_worker(&mut st) {
                tracing::warn!(error = %e, "could not start another pool worker");
            }
        }
    }

    pub(crate) fn submit<F, T>(self: &Arc<Self>, f: F) -> Result<Future<T>, SubmitError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let task = Arc::new(Task::new(f, self.id, NoScope));
        let fut = Future::from_task(task.clone());
        self.enqueue(task)?;
        Ok(fut)
    }

    fn spawn_worker(
        self: &Arc<Self>,
        st: &mut MutexGuard<'_, PoolState>,
    ) -> Result<(), crate::thread::SpawnError> {
        let index = st.named;
        let mut b = crate::thread::Builder::new()
            .name(format!("{}_{index}", self.prefix))
            .daemon(true);
        if let Some(size) = self.stack_size {
            b = b.stack_size(size);
        }
        let shared = self.clone();
        // Counted before the thread runs: it leaves `starting` on its first job or wait.
        self.starting.fetch_add(1, Ordering::SeqCst);
        let handle = match b.spawn(move || worker_main(shared, index)) {
            Ok(handle) => handle,
            Err(e) => {
                self.starting.fetch_sub(1, Ordering::SeqCst);
                return Err(e);
            }
        };
        st.spawned += 1;
        st.named += 1;
        st.live += 1;
        if st.spawned == self.max_workers {
            self.full.store(true, Ordering::SeqCst);
            if self.idle_timeout.is_none() {
                self.grown.store(true, Ordering::Relaxed);
            }
        }
        st.handles.push((index, handle));
        Ok(())
    }

    /// Lets go of the task the queue keeps as its dummy head once nothing is queued (see
    /// [`JobQueue::release_dummy`]): called by a worker about to sleep and by shutdown.
    fn release_dummy(&self) {
        let held = self.queue.release_dummy(&mut self.state.lock().push_end);
        drop(held);
    }

    pub(super) fn is_shutdown(&self) -> bool {
        !self.state.lock().open
    }

    /// Called by worker `index` after it waited the idle timeout for a task: whether it
    /// leaves. It does unless a task arrived meanwhile or the pool is shutting down (then it
    /// goes on as usual). A submission sends its task and reads `idle` under the same lock,
    /// and this worker left `idle` before taking it, so either that submission sees this
    /// worker gone (and starts another if no worker is idle) or this worker sees its task.
    fn retire(&self, index: usize) -> bool {
        let mut st = self.state.lock();
        if !st.open || !self.queue.is_empty() {
            return false;
        }
        st.spawned -= 1;
        st.live -= 1;
        self.full.store(false, Ordering::SeqCst);
        if let Some(at) = st.handles.iter().position(|(i, _)| *i == index) {
            // Detaches the thread: it is about to return.
            drop(st.handles.swap_remove(at));
        }
        true
    }

    pub(super) fn shutdown(&self, opts: ShutdownOptions) {
        let handles = {
            let mut st = self.state.lock();
            let handles = if opts.wait {
                std::mem::take(&mut st.handles)
            } else {
                Vec::new()
            };
            if st.open {
                st.open = false;
                // Under the state lock, so after the last push: workers exit once it is empty.
                self.queue.close();
            }
            handles
        };
        if opts.cancel_futures {
            while let Some(job) = self.queue.try_pop() {
                job.abort(TaskError::Cancelled);
            }
        }
        self.release_dummy();
        if !opts.wait {
            return;
        }
        let me = if worker_of() == self.id {
            // A worker shutting down its own pool runs what is left, so waiting cannot
            // deadlock on a queue only it could drain.
            while let Some(job) = self.queue.try_pop() {
                job.run();
            }
            WORKER_INDEX.with(|w| w.get())
        } else {
            usize::MAX
        };
        let own = usize::from(me != usize::MAX);
        let mut st = self.state.lock();
        while st.live > own {
            self.exited.wait(&mut st);
        }
        drop(st);
        for (index, handle) in handles {
            if index != me {
                // Workers catch every panic, so join cannot report one.
                let _ = handle.join();
            }
        }
    }

    fn mark_broken(&self, reason: String) {
        self.state.lock().broken = Some(reason.clone());
        while let Some(job) = self.queue.try_pop() {
            job.abort(TaskError::BrokenPool {
                reason: reason.clone(),
            });
        }
    }
}

fn worker_main(shared: Arc<Shared>, index: usize) {
    set_worker_of(shared.id);
    WORKER_INDEX.with(|w| w.set(index));
    let initialized = match &shared.initializer {
        Some(init) => match unwind::catch(|| init()) {
            Ok(()) => true,
            Err(payload) => {
                let reason = unwind::payload_message(&*payload);
                tracing::error!(%reason, "Exception in initializer: the pool is broken");
                shared.mark_broken(reason);
                false
            }
        },
        None => true,
    };
    let mut retired = false;
    // Whether this worker still counts in `starting` (until its first job or wait).
    let mut starting = true;
    // A worker about to sleep lets go of the task the queue keeps as its dummy head.
    let release = || shared.release_dummy();
    if initialized {
        loop {
            let job = match shared.queue.try_recv() {
                Ok(job) => {
                    if std::mem::take(&mut starting) {
                        shared.starting.fetch_sub(1, Ordering::SeqCst);
                    }
                    if !shared.grown.load(Ordering::Relaxed) {
                        shared.grow_if_queued();
                    }
                    job
                }
                Err(TryRecvError::Empty) if shared.grown.load(Ordering::Relaxed) => {
                    // Fully grown: no idle bookkeeping is needed (nor `starting`: nothing
                    // reads either once grown).
                    let Ok(job) = shared.queue.recv(None, !shared.park_when_idle, &release) else {
                        break;
                    };
                    job
                }
                Err(TryRecvError::Empty) => {
                    shared.idle.fetch_add(1, Ordering::SeqCst);
                    // Idle before it stops starting, so it never counts as neither.
                    if std::mem::take(&mut starting) {
                        shared.starting.fetch_sub(1, Ordering::SeqCst);
                    }
                    let job =
                        shared
                            .queue
                            .recv(shared.idle_timeout, !shared.park_when_idle, &release);
                    shared.idle.fetch_sub(1, Ordering::SeqCst);
                    let job = match job {
                        Ok(job) => job,
                        Err(RecvTimeoutError::Disconnected) => break,
                        Err(RecvTimeoutError::Timeout) => {
                            if shared.retire(index) {
                                retired = true;
                                break;
                            }
                            continue;
                        }
                    };
                    // Pairs with the fence in `enqueue` (see there).
                    fence(Ordering::SeqCst);
                    if shared.starved() {
                        shared.grow_if_starved();
                    }
                    job
                }
                Err(TryRecvError::Disconnected) => break,
            };
            job.run();
        }
    }
    set_worker_of(0);
    if !retired {
        let mut st = shared.state.lock();
        st.live -= 1;
        drop(st);
    }
    shared.exited.notify_all();
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};
    use std::time::{Duration, Instant};

    use super::super::queue::JobQueue;
    use super::super::ThreadPool;
    use super::Job;
    use crate::executor::future::{NoScope, Task};
    use crossbeam_channel::RecvTimeoutError;

    use crate::test_util::stress;

    const LONG: Duration = Duration::from_secs(30);

    fn parked_pool(prefix: &str, max_workers: usize, idle: Option<Duration>) -> ThreadPool {
        let b = ThreadPool::builder()
            .max_workers(max_workers)
            .thread_name_prefix(prefix)
            .park_when_idle(true);
        match idle {
            Some(t) => b.idle_timeout(t),
            None => b,
        }
        .build()
        .unwrap()
    }

    fn name() -> String {
        crate::thread::current().name().to_owned()
    }

    #[test]
    fn a_parked_wait_of_duration_max_waits_for_good() {
        let (queue, mut end) = JobQueue::new();
        let queue = Arc::new(queue);
        let waiter = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                queue
                    .recv(Some(Duration::MAX), false, &|| ())
                    .map(|job| job.run())
            })
        };
        // However long it waited so far, the waiter is still there for the task: a deadline
        // past the clock's end is no deadline (not an overflow, nor an instant timeout).
        let job: Job = Arc::new(Task::new(|| 1, 1, NoScope));
        queue.push(job, &mut end);
        assert_eq!(waiter.join().unwrap(), Ok(()));
    }

    #[test]
    fn a_parked_wait_ends_with_its_timeout_or_the_close() {
        let (queue, _end) = JobQueue::new();
        let t0 = Instant::now();
        let got = queue.recv(Some(Duration::from_millis(20)), false, &|| ());
        assert!(matches!(got, Err(RecvTimeoutError::Timeout)));
        assert!(t0.elapsed() >= Duration::from_millis(20));
        queue.close();
        assert!(matches!(
            queue.recv(None, false, &|| ()),
            Err(RecvTimeoutError::Disconnected)
        ));
    }

    #[test]
    fn an_idle_timeout_of_duration_max_never_expires() {
        for park in [false, true] {
            let prefix = format!("idle-max-{park}");
            let p = ThreadPool::builder()
                .max_workers(1)
                .thread_name_prefix(prefix.as_str())
                .idle_timeout(Duration::MAX)
                .park_when_idle(park)
                .build()
                .unwrap();
            // The same worker runs every task: it never timed out and left in between.
            for _ in 0..20 {
                let got = p.submit(name).unwrap().result_timeout(LONG).unwrap();
                assert_eq!(got, format!("{prefix}_0"));
            }
            p.shutdown();
        }
    }

    #[test]
    fn a_parked_pool_never_strands_a_task() {
        // Workers sleeping at once (and, with a zero idle timeout, retiring at once) race the
        // submissions of four threads, which let the queue run dry now and then: every task
        // runs, once.
        let idles = [None, Some(Duration::ZERO), Some(Duration::from_micros(50))];
        for (k, idle) in idles.into_iter().enumerate() {
            let p = parked_pool(&format!("park-race-{k}"), 3, idle);
            let ran = Arc::new(AtomicUsize::new(0));
            let per = 150 * stress();
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| {
                        let futures: Vec<_> = (0..per)
                            .map(|i| {
                                let ran = ran.clone();
                                let f = p.submit(move || ran.fetch_add(1, Ordering::SeqCst));
                                let f = f.unwrap();
                                if i % 8 == 0 {
                                    f.result_timeout(LONG).expect("a task was stranded");
                                }
                                f
                            })
                            .collect();
                        for f in futures {
                            f.result_timeout(LONG).expect("a task was stranded");
                        }
                    });
                }
            });
            assert_eq!(ran.load(Ordering::SeqCst), 4 * per);
            p.shutdown();
        }
    }

    #[test]
    fn long_tasks_submitted_together_each_get_a_parked_worker() {
        // Tasks that hold their worker until all have started (as a batch run's worker
        // loops do): each must get a thread of its own, woken or new, or they wait for good.
        for round in 0..5 * stress() {
            let p = parked_pool(
                &format!("park-hold-{round}"),
                8,
                Some(Duration::from_secs(5)),
            );
            for _ in 0..2 {
                let all = Arc::new(Barrier::new(8));
                let futures: Vec<_> = (0..8)
                    .map(|_| {
                        let all = all.clone();
                        p.submit(move || {
                            all.wait();
                        })
                        .unwrap()
                    })
                    .collect();
                for f in futures {
                    f.result_timeout(LONG).expect("a task found no worker");
                }
            }
            p.shutdown();
        }
    }

    #[test]
    fn a_dropped_futures_value_is_dropped_once_the_workers_are_idle() {
        // The queue keeps the task popped last as its list's head while a push may link after
        // it; a worker going to sleep lets go of it, so a value nobody will read is dropped
        // (here a sender, whose drop the receiver sees) rather than kept until the next task.
        for park in [false, true] {
            let p = ThreadPool::builder()
                .max_workers(1)
                .park_when_idle(park)
                .build()
                .unwrap();
            let (tx, rx) = crossbeam_channel::bounded::<()>(1);
            let f = p.submit(move || tx).unwrap();
            f.wait();
            drop(f);
            assert_eq!(
                rx.recv_timeout(LONG),
                Err(crossbeam_channel::RecvTimeoutError::Disconnected)
            );
            p.shutdown();
        }
    }

    #[test]
    fn shutdown_wakes_the_parked_workers() {
        let p = parked_pool("park-down", 4, None);
        let futures: Vec<_> = (0..4).map(|_| p.submit(name).unwrap()).collect();
        for f in futures {
            f.result_timeout(LONG).unwrap();
        }
        // Waits for every worker to exit: each must be woken from its sleep to see the end.
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            p.shutdown();
            let _ = done_tx.send(());
        });
        done_rx
            .recv_timeout(LONG)
            .expect("shutdown waited for workers that were never woken");
    }
}
