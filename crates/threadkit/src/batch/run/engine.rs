//! The engine: the threads a run's worker loops (and its progress ticker) run on. A process-wide
//! pool keeps threads between runs so that a run wakes idle threads instead of starting new
//! ones; a run that finds it full gets a pool of its own, dropped on a reaper thread.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;

use crate::executor::ThreadPool;

/// A worker loop (or the progress ticker), as the pools run it.
pub(super) type Job = Box<dyn FnOnce() + Send + 'static>;

/// The most threads the process-wide batch pool keeps: worker loops past this many at once
/// (several large runs at the same time) go to a pool of their run's own.
const SHARED_MAX_THREADS: usize = 1024;
/// How long a thread of the process-wide batch pool waits for another run before it exits.
const SHARED_IDLE: Duration = Duration::from_secs(5);

/// The process-wide pool that worker loops run on, so that a run reuses the threads earlier
/// runs left idle instead of starting its own (200 thread starts cost 20-70 ms on a small
/// machine; waking 200 idle threads costs well under 1 ms). Its threads (named `batch_N`)
/// exit after [`SHARED_IDLE`] without work.
///
/// Each worker loop holds its thread for the whole run, so a loop queued behind busy threads
/// would wait for another run to end. `busy` counts the loops running or queued on the pool
/// (a loop counts until it returns, an abandoned one included): a launch takes a place only
/// while fewer than `max_workers` are taken, which guarantees it a thread at once (an idle
/// one or a new one).
///
/// A child made by `fork` inherits the pool's bookkeeping but none of its threads, so the pool
/// belongs to the process that made it (`pid`): elsewhere each run has its own pool.
struct SharedPool {
    pool: ThreadPool,
    busy: AtomicUsize,
    pid: u32,
}

/// Gives back a place in the [`SharedPool`] when a worker loop returns (or unwinds).
struct Place(&'static AtomicUsize);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl SharedPool {
    /// The pool, made on first use; `None` when it cannot be made or in a forked child (each
    /// run then has its own).
    fn get() -> Option<&'static SharedPool> {
        static POOL: OnceLock<Option<SharedPool>> = OnceLock::new();
        POOL.get_or_init(|| {
            let pool = ThreadPool::builder()
                .max_workers(SHARED_MAX_THREADS)
                .thread_name_prefix("batch")
                .idle_timeout(SHARED_IDLE)
                // A run's worker loops end together: the threads going idle then must not
                // spin and yield while the last items still run.
                .park_when_idle(true)
                .build();
            match pool {
                Ok(pool) => Some(SharedPool {
                    pool,
                    busy: AtomicUsize::new(0),
                    pid: std::process::id(),
                }),
                Err(e) => {
                    tracing::warn!(error = %e, "batch: no shared pool, each run starts its own");
                    None
                }
            }
        })
        .as_ref()
        .filter(|shared| shared.pid == std::process::id())
    }

    /// Runs `job` on a thread of the pool, or hands it back when every place is taken or the
    /// pool refused it.
    fn try_launch(&'static self, job: Job) -> Result<(), Job> {
        let took = self
            .busy
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < SHARED_MAX_THREADS).then_some(n + 1)
            })
            .is_ok();
        if !took {
            return Err(job);
        }
        // Kept here too, so that a refused submission hands the job back.
        let slot = Arc::new(Mutex::new(Some(job)));
        let theirs = slot.clone();
        let busy = &self.busy;
        let submitted = self.pool.submit(move || {
            let _place = Place(busy);
            let job = theirs.lock().take();
            if let Some(job) = job {
                job();
            }
        });
        match submitted {
            Ok(_) => Ok(()),
            Err(e) => {
                // The closure was dropped unrun: its place was never taken over.
                busy.fetch_sub(1, Ordering::SeqCst);
                tracing::warn!(error = %e, "batch: the shared pool refused a worker");
                // Always there: the closure that takes it never ran.
                let job = slot.lock().take();
                job.map_or(Ok(()), Err)
            }
        }
    }
}

/// Runs a run's worker loops: on the [`SharedPool`] while it has room, else on a pool of the
/// run's own (made on first need, sized for the whole run), so that a run never gets fewer
/// threads than it asked for.
pub(super) struct ThreadEngine {
    /// The size of the run's own pool, if it needs one.
    threads: usize,
    state: Mutex<EngineState>,
}

struct EngineState {
    own: Option<ThreadPool>,
    closed: bool,
}

impl ThreadEngine {
    /// An engine for a run that needs at most `threads` threads at once.
    pub(super) fn new(threads: usize) -> ThreadEngine {
        ThreadEngine {
            threads: threads.max(1),
            state: Mutex::new(EngineState {
                own: None,
                closed: false,
            }),
        }
    }

    /// Refuses launches from now on, and lets go of the run's own pool, if it has one. The
    /// shared pool's threads need nothing: each goes back to the pool when its loop sees the
    /// work channel closed (a thread stuck in an abandoned call, when that call returns).
    pub(super) fn close(&self) {
        let own = {
            let mut st = self.state.lock();
            st.closed = true;
            st.own.take()
        };
        reap(own);
    }

    /// Starts `job` on a thread of its own (a worker loop runs until its work channel closes):
    /// on the shared pool while it has room, else on the run's own pool.
    ///
    /// # Errors
    ///
    /// The run is over (see [`close`](ThreadEngine::close)), or its own pool cannot start.
    pub(super) fn launch(&self, job: Job) -> Result<(), String> {
        if self.state.lock().closed {
            return Err("the run is over".into());
        }
        let job = match SharedPool::get() {
            Some(shared) => match shared.try_launch(job) {
                Ok(()) => return Ok(()),
                Err(job) => job,
            },
            None => job,
        };
        self.own_pool()?
            .submit(job)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn own_pool(&self) -> Result<crate::executor::PoolHandle, String> {
        let mut st = self.state.lock();
        if st.closed {
            return Err("the run is over".into());
        }
        if st.own.is_none() {
            let pool = ThreadPool::builder()
                .max_workers(self.threads)
                .thread_name_prefix("batch-run")
                .build()
                .map_err(|e| e.to_string())?;
            st.own = Some(pool);
        }
        Ok(st.own.as_ref().map(ThreadPool::handle).expect("just made"))
    }
}

impl Drop for ThreadEngine {
    fn drop(&mut self) {
        reap(self.state.get_mut().own.take());
    }
}

/// Hands a run's own pool to a thread that drops it (joins its threads): waiting for its idle
/// threads to exit, or for a call that never returns, is no part of the run.
fn reap(own: Option<ThreadPool>) {
    if let Some(pool) = own {
        let spawned = std::thread::Builder::new()
            .name("batch-reaper".into())
            .spawn(move || drop(pool));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "batch: could not start the reaper thread");
        }
    }
}
