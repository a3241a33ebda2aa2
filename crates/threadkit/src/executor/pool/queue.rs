//! [`JobQueue`]: the pool's queue of jobs, a linked list threaded through the tasks themselves
//! (each task carries a [`Link`]), with the workers' sleep and wake-up.
//!
//! It replaced a crossbeam unbounded channel (see "exec13" in docs/architecture.md): the
//! channel copied every job into a slot of a 31-slot block it allocated (752 bytes, `calloc`ed
//! by the submitting thread, freed by a worker), and a send was a compare-and-swap on the tail
//! index plus a read-modify-write of the slot's state. Here a push is two plain stores and a
//! fence, and nothing is allocated: the task's own allocation is the node.
//!
//! The list is Michael and Scott's two-lock queue: producers append at the tail under their
//! lock (the pool's state lock, which every push already holds: [`PushEnd`] lives under it,
//! and the `&mut` a push takes proves it), consumers take from the head under the queue's
//! consumer lock. The head is a dummy: the queue's own stub at first, then the task popped
//! last, whose handle the queue keeps until the next pop (a producer may still be writing its
//! `next`, and only a node whose `next` is set is ever let go, so a producer never writes to a
//! task that was freed). Each link's `next` is written once, by the producer appending after
//! it, with release ordering; the consumer reads it with acquire ordering.
//!
//! Counting: `pushed` (written by producers under their lock, after the link is in place) and
//! `popped` (under the consumer lock) are each written by one thread at a time, without
//! read-modify-writes; `len` is their difference. A task counted in `pushed` is linked, so a
//! consumer that sees it counted finds it.
//!
//! Sleep and wake-up (no lost wake-up): a worker that finds nothing counts itself in
//! `sleepers`, then (after a `SeqCst` fence) looks at `len` once more before it sleeps, all
//! under the `sleep` lock; a push writes `pushed`, then (after a `SeqCst` fence) reads
//! `sleepers`, and if it is not zero takes the `sleep` lock and notifies one. By the fences,
//! either the worker sees the push or the push sees the worker, who then holds the lock until
//! it is asleep. `close` sets `closed` and notifies every sleeper under the lock.

use crate::primitive::atomic::{fence, AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use crate::primitive::{Condvar, Mutex};
use crossbeam_channel::{RecvTimeoutError, TryRecvError};
use crossbeam_utils::CachePadded;
use std::cell::UnsafeCell;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::super::future::Run;
use super::shared::Job;

/// A task's place in a [`JobQueue`]: its successor, and the queue's handle on the task.
pub(crate) struct Link {
    next: AtomicPtr<Link>,
    /// The queued job itself (`Arc::into_raw` of the handle pushed): written by the producer
    /// before the link is published, read by the consumer that pops it.
    job: UnsafeCell<Option<NonNull<dyn Run>>>,
}

// SAFETY: `job` is written only by the one producer pushing the link, before a release store
// publishes it, and read only by the one consumer (under the consumer lock) that popped it
// after an acquire load saw it; `next` is atomic. The pointer it holds is an `Arc<dyn Run>`,
// which is `Send + Sync`.
unsafe impl Send for Link {}
// SAFETY: as for `Send`.
unsafe impl Sync for Link {}

impl Link {
    pub(crate) fn new() -> Link {
        Link {
            next: AtomicPtr::new(ptr::null_mut()),
            job: UnsafeCell::new(None),
        }
    }
}

/// The producers' end of a [`JobQueue`], kept under the lock all pushes take.
pub(crate) struct PushEnd {
    /// The link pushed last (the queue's stub before any): kept alive by the queue.
    tail: *const Link,
    pushed: usize,
    /// The queue this end belongs to (its stub's address).
    queue: *const Link,
}

// SAFETY: the pointers are only followed by the thread holding `&mut PushEnd`, and what they
// point to (the stub, queued or dummy tasks) is kept alive by the queue and is `Sync`.
unsafe impl Send for PushEnd {}

/// The consumers' end: the dummy head and the handle that keeps it alive.
struct PopEnd {
    dummy: *const Link,
    /// The task that is the dummy (`None`: the stub).
    held: Option<Job>,
}

// SAFETY: as for `PushEnd`: followed only under the consumer lock.
unsafe impl Send for PopEnd {}

/// The pool's job queue: an unbounded FIFO through the tasks' [`Link`]s, producers one at a
/// time (under their own lock), consumers one at a time (under the queue's), with sleeping
/// and waking of idle consumers.
pub(crate) struct JobQueue {
    head: CachePadded<Mutex<PopEnd>>,
    /// Tasks pushed so far (see [`PushEnd`]).
    pushed: CachePadded<AtomicUsize>,
    /// Tasks popped so far (written under the consumer lock).
    popped: AtomicUsize,
    /// The first dummy; boxed, so its address is stable (the queue may move).
    stub: Box<Link>,
    closed: AtomicBool,
    /// Consumers about to sleep or asleep (counted under `sleep`).
    sleepers: CachePadded<AtomicUsize>,
    sleep: Mutex<()>,
    wake: Condvar,
}

impl JobQueue {
    /// An empty queue and its producers' end, which the caller keeps under a lock.
    pub(crate) fn new() -> (JobQueue, PushEnd) {
        let stub = Box::new(Link::new());
        let stub_ptr: *const Link = &*stub;
        let queue = JobQueue {
            head: CachePadded::new(Mutex::new(PopEnd {
                dummy: stub_ptr,
                held: None,
            })),
            pushed: CachePadded::new(AtomicUsize::new(0)),
            popped: AtomicUsize::new(0),
            stub,
            closed: AtomicBool::new(false),
            sleepers: CachePadded::new(AtomicUsize::new(0)),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
        };
        let end = PushEnd {
            tail: stub_ptr,
            pushed: 0,
            queue: stub_ptr,
        };
        (queue, end)
    }

    /// Queues `job`, from the producers' end `end` (made with this queue).
    ///
    /// Nothing can panic between taking the handle apart and publishing it (no allocation, no
    /// user code), so the job is always either queued or still owned by the caller.
    ///
    /// # Panics
    ///
    /// If `end` belongs to another queue.
    pub(crate) fn push(&self, job: Job, end: &mut PushEnd) {
        assert!(
            ptr::eq(end.queue, &*self.stub),
            "a push through another queue's end"
        );
        let link: *const Link = job.link();
        let raw = NonNull::from(&*job);
        // The handle now lives on as `raw` (the same pointer), until a pop rebuilds it.
        let _ = Arc::into_raw(job);
        // SAFETY: the link is part of the task just turned into `raw`, alive as long as the
        // queue holds that handle; a task is queued at most once, so nobody else reads or
        // writes `job` until the release store below publishes it.
        unsafe { *(*link).job.get() = Some(raw) };
        // SAFETY: `end.tail` is the stub or the task pushed last, both kept alive by the
        // queue (the stub is its own; a task stays the list's node, then the dummy whose
        // handle the queue holds, until a pop finds its `next` set, which only this store
        // does); `&mut end` makes this the only producer.
        unsafe { (*end.tail).next.store(link as *mut Link, Ordering::Release) };
        end.tail = link;
        // Counted once linked in, so that a consumer seeing it counted finds it.
        end.pushed += 1;
        self.pushed.store(end.pushed, Ordering::Release);
        // Pairs with the fence in `wait`: either that consumer sees `pushed`, or this sees it
        // counted in `sleepers` (and it holds `sleep` until it is asleep).
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::Relaxed) > 0 {
            drop(self.sleep.lock());
            // After letting go of the lock, so the woken worker does not block on it at once.
            self.wake.notify_one();
        }
    }

    /// Jobs queued (pushed and not popped): exact while the caller holds the push lock and
    /// nobody pops, else a snapshot.
    pub(crate) fn len(&self) -> usize {
        // `popped` first. (A consumer may pop a task linked but not yet counted, so `popped`
        // can pass `pushed` for a moment: the difference is then 0.)
        let popped = self.popped.load(Ordering::Acquire);
        self.pushed.load(Ordering::Acquire).saturating_sub(popped)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the oldest job, if any.
    pub(crate) fn try_pop(&self) -> Option<Job> {
        let (job, old) = self.pop_parts()?;
        // This may be the old dummy's last handle (its value is dropped): not under the lock.
        drop(old);
        Some(job)
    }

    /// Takes the oldest job, if any, with the handle of the dummy it replaces (to be dropped
    /// by the caller, outside its locks: it may be the last handle on a task and its value).
    pub(crate) fn pop_parts(&self) -> Option<(Job, Option<Job>)> {
        if self.is_empty() {
            // Nothing pushed that was not popped (idle workers look here without the lock).
            return None;
        }
        let mut end = self.head.lock();
        // SAFETY: the dummy is the stub or a task whose handle `end.held` keeps.
        let next = unsafe { (*end.dummy).next.load(Ordering::Acquire) };
        if next.is_null() {
            return None;
        }
        // SAFETY: `next` is a queued task's link (alive: the queue holds its handle); the
        // acquire load above saw the release store that published it, after its `job` was
        // written, and only this consumer (under the lock) reads it now.
        let raw = unsafe { *(*next).job.get() }.expect("a queued task's link carries its job");
        // SAFETY: `raw` came from `Arc::into_raw` in `push`; that handle is rebuilt once,
        // here, and kept as the new dummy's.
        let held = unsafe { Arc::from_raw(raw.as_ptr() as *const dyn Run) };
        let job = held.clone();
        end.dummy = next;
        // The old dummy's `next` is set (it is `next`): no producer writes to it again.
        let old = end.held.replace(held);
        self.popped
            .store(self.popped.load(Ordering::Relaxed) + 1, Ordering::Release);
        drop(end);
        Some((job, old))
    }

    /// Lets go of the task popped last (the dummy head, which the queue keeps while a producer
    /// may still link after it) when nothing is queued after it: the stub becomes the dummy
    /// again. Called with the producers' end, so that no push is under way; hands back the
    /// handle for the caller to drop outside its locks. Without this, a task whose future was
    /// dropped would keep its value alive until the next task is popped.
    pub(crate) fn release_dummy(&self, end: &mut PushEnd) -> Option<Job> {
        let mut head = self.head.lock();
        head.held.as_ref()?;
        // SAFETY: the dummy is a task whose handle `head.held` keeps.
        if !unsafe { (*head.dummy).next.load(Ordering::Acquire) }.is_null() {
            return None;
        }
        // Nothing after the dummy and no push under way (`end` is ours): it is the tail.
        debug_assert!(ptr::eq(end.tail, head.dummy));
        // The stub is not in the list (it was the dummy once and was left behind), so only
        // this thread touches its `next`; the next push, under the producers' lock after us,
        // links after it.
        self.stub.next.store(ptr::null_mut(), Ordering::Relaxed);
        let stub: *const Link = &*self.stub;
        end.tail = stub;
        head.dummy = stub;
        head.held.take()
    }

    /// Like a channel's `try_recv`: a job, or `Empty`, or `Disconnected` once closed and empty.
    pub(crate) fn try_recv(&self) -> Result<Job, TryRecvError> {
        match self.try_pop() {
            Some(job) => Ok(job),
            None if self.closed.load(Ordering::Acquire) && self.is_empty() => {
                Err(TryRecvError::Disconnected)
            }
            None => Err(TryRecvError::Empty),
        }
    }

    /// Takes a job, waiting for one until `timeout` passes (`None`, or too long for the clock:
    /// no timeout); `Disconnected` once closed and empty. With `spin`, spins and yields a
    /// little first (crossbeam's `Backoff`, as a channel's `recv` did) before sleeping;
    /// `before_sleep` is called each time it is about to sleep (the pool lets go of the dummy
    /// there: [`JobQueue::release_dummy`]).
    pub(crate) fn recv(
        &self,
        timeout: Option<Duration>,
        spin: bool,
        before_sleep: &dyn Fn(),
    ) -> Result<Job, RecvTimeoutError> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        #[cfg(not(loom))]
        let backoff = crossbeam_utils::Backoff::new();
        loop {
            match self.try_recv() {
                Ok(job) => return Ok(job),
                Err(TryRecvError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
                Err(TryRecvError::Empty) => {}
            }
            #[cfg(not(loom))]
            if spin && !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            #[cfg(loom)]
            let _ = spin;
            before_sleep();
            if self.wait(deadline) {
                // One last look: a job queued as the wait ended is taken, not left behind.
                return self.try_recv().map_err(|e| match e {
                    TryRecvError::Empty => RecvTimeoutError::Timeout,
                    TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                });
            }
        }
    }

    /// Sleeps until notified or `deadline`, unless a job or the close came meanwhile; returns
    /// whether the deadline passed.
    fn wait(&self, deadline: Option<Instant>) -> bool {
        let mut guard = self.sleep.lock();
        self.sleepers.fetch_add(1, Ordering::Relaxed);
        // Pairs with the fence in `push` (see the module docs).
        fence(Ordering::SeqCst);
        let timed_out = if !self.is_empty() || self.closed.load(Ordering::Relaxed) {
            false
        } else {
            match deadline {
                Some(deadline) => self.wake.wait_until(&mut guard, deadline),
                None => {
                    self.wake.wait(&mut guard);
                    false
                }
            }
        };
        self.sleepers.fetch_sub(1, Ordering::Relaxed);
        timed_out
    }

    /// Closes the queue: consumers finding it empty from now on get `Disconnected`; every
    /// sleeper is woken. Pushes must have stopped (the caller closes under its push lock).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        // Under the lock: a consumer between its look at `closed` and its sleep holds it.
        let _guard = self.sleep.lock();
        self.wake.notify_all();
    }
}

impl Drop for JobQueue {
    fn drop(&mut self) {
        // Releases the handles of jobs still queued (a pool dropped with tasks queued after
        // its workers left): their futures stay pending, as with a dropped channel. The
        // dummy's handle goes with `head`.
        while self.try_pop().is_some() {}
    }
}

/// The queue alone, for its loom models (`tests/loom_executor.rs`).
#[cfg(loom)]
#[doc(hidden)]
pub struct LoomQueue {
    queue: JobQueue,
    end: Mutex<PushEnd>,
}

#[cfg(loom)]
impl std::fmt::Debug for LoomQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoomQueue")
    }
}

#[cfg(loom)]
impl Default for LoomQueue {
    fn default() -> Self {
        let (queue, end) = JobQueue::new();
        LoomQueue {
            queue,
            end: Mutex::new(end),
        }
    }
}

#[cfg(loom)]
impl LoomQueue {
    /// Queues a task (pushes serialized by a lock, as the pool's state lock does).
    pub fn push(&self, task: super::super::future::LoomTask) {
        let mut end = self.end.lock();
        self.queue.push(task.into_job(), &mut end);
    }

    /// Takes a task if one is there, and runs it; whether it did.
    pub fn try_run(&self) -> bool {
        match self.queue.try_pop() {
            Some(job) => {
                job.run();
                true
            }
            None => false,
        }
    }

    /// Waits for a task (sleeping at once, as a parked worker does) and runs it; false once
    /// the queue is closed and empty.
    pub fn recv_run(&self) -> bool {
        let release = || drop(self.queue.release_dummy(&mut self.end.lock()));
        match self.queue.recv(None, false, &release) {
            Ok(job) => {
                job.run();
                true
            }
            Err(_) => false,
        }
    }

    /// Closes the queue (after the last push).
    pub fn close(&self) {
        let _end = self.end.lock();
        self.queue.close();
    }

    /// Tasks queued.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no task is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}
