//! Integration tests for `threadkit::queue`: order, bounds, timeouts, task accounting, shutdown,
//! iteration, and many threads at once. Stress counts scale with `THREADKIT_STRESS`.
#![cfg(not(loom))]

mod common;

use common::stress;
use std::cmp::Reverse;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};
use threadkit::queue::{
    GetError, GetTimeoutError, JoinTimeoutError, Order, PutError, PutTimeoutError, Queue,
    TaskDoneError, TryGetError, TryPutError,
};

/// Generous bound for anything that should happen "soon" in a loaded CI machine.
const SOON: Duration = Duration::from_secs(20);

/// Every kind of queue with the given bound, named for failure messages. A bounded FIFO queue
/// runs on the lock-free ring; LIFO, priority and unbounded FIFO queues on the lock.
fn every_kind<T: Ord>(maxsize: usize) -> Vec<(&'static str, Queue<T>)> {
    vec![
        ("fifo", Queue::fifo(maxsize)),
        ("lifo", Queue::lifo(maxsize)),
        ("priority", Queue::priority(maxsize)),
    ]
}

/// Polls `cond` until it holds; panics after `SOON`. Used only to learn that other threads have
/// reached a blocking call (the queue reports its waiters), never to order work by time.
fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + SOON;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::yield_now();
    }
}

// ---- order ----------------------------------------------------------------------------------

#[test]
fn fifo_hands_items_out_in_put_order() {
    for q in [Queue::new(), Queue::bounded(100), Queue::fifo(1 << 20)] {
        for i in 0..50 {
            q.put(i).unwrap();
        }
        assert_eq!(
            q.try_iter().collect::<Vec<_>>(),
            (0..50).collect::<Vec<_>>()
        );
        assert_eq!(q.order(), Order::Fifo);
    }
}

#[test]
fn lifo_hands_the_newest_item_out_first() {
    let q = Queue::lifo(0);
    for i in 0..50 {
        q.put(i).unwrap();
    }
    assert_eq!(
        q.try_iter().collect::<Vec<_>>(),
        (0..50).rev().collect::<Vec<_>>()
    );
}

#[test]
fn priority_hands_the_smallest_first_and_is_stable_among_equals() {
    let q = Queue::priority(0);
    // Python's idiom: (priority, payload) tuples. Payloads of equal priority keep put order
    // only if comparing by priority alone, so compare by the key with priority_by as well.
    let jobs = [(3, 'a'), (1, 'b'), (2, 'c'), (1, 'd'), (3, 'e'), (2, 'f')];
    for j in jobs {
        q.put(j).unwrap();
    }
    let out: Vec<_> = q.try_iter().collect();
    let mut sorted = jobs.to_vec();
    sorted.sort();
    assert_eq!(out, sorted);

    fn by_priority(a: &(u32, char), b: &(u32, char)) -> std::cmp::Ordering {
        a.0.cmp(&b.0)
    }
    let q = Queue::priority_by(0, by_priority);
    let jobs = [(2, 'z'), (1, 'y'), (2, 'a'), (1, 'b'), (2, 'm')];
    for j in jobs {
        q.put(j).unwrap();
    }
    let out: String = q.try_iter().map(|(_, c)| c).collect();
    assert_eq!(out, "ybzam", "equal priorities must come out in put order");
}

#[test]
fn priority_with_reverse_hands_the_largest_first() {
    let q = Queue::priority(0);
    for n in [5, 1, 9, 3] {
        q.put(Reverse(n)).unwrap();
    }
    assert_eq!(q.try_iter().map(|r| r.0).collect::<Vec<_>>(), [9, 5, 3, 1]);
}

/// An `Ord` that panics on any comparison with 13; counts its drops.
#[derive(Debug, PartialEq, Eq)]
struct Touchy(u32);

static TOUCHY_DROPPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Drop for Touchy {
    fn drop(&mut self) {
        TOUCHY_DROPPED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl PartialOrd for Touchy {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Touchy {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        assert!(self.0 != 13 && other.0 != 13, "unlucky");
        self.0.cmp(&other.0)
    }
}

#[test]
fn priority_survives_a_panicking_comparison() {
    let q = Queue::priority(0);
    q.put(Touchy(2)).unwrap();
    q.put(Touchy(1)).unwrap();
    let q2 = q.clone();
    let r = thread::spawn(move || q2.put(Touchy(13))).join();
    assert!(r.is_err(), "the comparison's panic reaches the caller");
    // The queue is still usable and lost nothing (the panicking item was stored).
    assert_eq!(q.qsize(), 3);
    assert_eq!(q.unfinished_tasks(), 3);
    // A get whose comparison panics loses nothing either (Python's heappop loses its top).
    let q2 = q.clone();
    let before = TOUCHY_DROPPED.load(std::sync::atomic::Ordering::SeqCst);
    assert!(thread::spawn(move || q2.get()).join().is_err());
    assert_eq!(q.qsize(), 3);
    assert_eq!(q.unfinished_tasks(), 3);
    assert_eq!(
        TOUCHY_DROPPED.load(std::sync::atomic::Ordering::SeqCst),
        before,
        "no item was dropped"
    );
    q.shutdown(true);
    assert_eq!(
        TOUCHY_DROPPED.load(std::sync::atomic::Ordering::SeqCst),
        before + 3
    );
}

// ---- bounds and non-blocking calls ------------------------------------------------------------

#[test]
fn try_put_on_a_full_queue_hands_the_item_back() {
    for (kind, q) in every_kind(2) {
        q.try_put(1).unwrap();
        q.try_put(2).unwrap();
        assert!(q.is_full(), "{kind}");
        assert_eq!(q.try_put(3), Err(TryPutError::Full(3)), "{kind}");
        assert_eq!(q.qsize(), 2, "{kind}");
        assert_eq!(q.maxsize(), 2, "{kind}");
        assert_eq!(
            q.unfinished_tasks(),
            2,
            "a failed put is not a task: {kind}"
        );
        q.try_get().unwrap();
        assert!(!q.is_full(), "{kind}");
        q.try_put(3).unwrap();
    }
}

#[test]
fn maxsize_zero_is_unbounded() {
    for (kind, q) in every_kind(0) {
        for i in 0..5000 {
            q.try_put(i).unwrap();
        }
        assert!(!q.is_full(), "{kind}");
        assert_eq!(q.qsize(), 5000, "{kind}");
    }
    assert_eq!(Queue::<u8>::bounded(0).maxsize(), 0);
}

#[test]
fn try_get_on_an_empty_queue_is_empty() {
    for (kind, q) in every_kind::<u8>(3) {
        assert!(q.is_empty(), "{kind}");
        assert_eq!(q.try_get(), Err(TryGetError::Empty), "{kind}");
    }
}

#[test]
fn a_queue_larger_than_the_channel_bound_still_bounds() {
    let q = Queue::bounded((1 << 16) + 1);
    for i in 0..(1 << 16) + 1 {
        q.try_put(i).unwrap();
    }
    assert!(q.is_full());
    assert!(q.try_put(0).unwrap_err().is_full());
}

#[test]
fn bounds_either_side_of_the_ring_limit_hold_exactly() {
    // 4096 is the largest bound served by the ring engine, 4097 the smallest served by the lock.
    for bound in [1, 2, 3, 4095, 4096, 4097] {
        let q = Queue::bounded(bound);
        for i in 0..bound {
            assert_eq!(q.try_put(i), Ok(()), "bound {bound}");
        }
        assert!(q.is_full(), "bound {bound}");
        assert_eq!(q.qsize(), bound);
        assert_eq!(
            q.try_put(bound),
            Err(TryPutError::Full(bound)),
            "bound {bound}"
        );
        assert_eq!(q.try_get(), Ok(0));
        assert!(!q.is_full());
        assert_eq!(q.try_put(bound), Ok(()));
        assert_eq!(q.unfinished_tasks(), bound + 1);
    }
}

#[test]
fn fifo_keeps_order_and_books_across_many_laps_of_a_small_bound() {
    // Bound 3 wraps its slots every three items: fill and drain by varying amounts so the
    // positions cross lap boundaries at every offset, checking order, qsize and the books.
    let q = Queue::bounded(3);
    let (mut next_in, mut next_out, mut done) = (0u64, 0u64, 0usize);
    for step in 0..300u64 {
        let n_in = step % 4;
        for _ in 0..n_in {
            match q.try_put(next_in) {
                Ok(()) => next_in += 1,
                Err(e) => {
                    assert!(e.is_full());
                    assert_eq!(next_in - next_out, 3);
                    assert!(q.is_full());
                }
            }
        }
        assert_eq!(q.qsize() as u64, next_in - next_out);
        for _ in 0..(step * 7) % 4 {
            match q.try_get() {
                Ok(v) => {
                    assert_eq!(v, next_out);
                    next_out += 1;
                    q.task_done().unwrap();
                    done += 1;
                }
                Err(e) => {
                    assert_eq!(e, TryGetError::Empty);
                    assert!(q.is_empty());
                }
            }
        }
        assert_eq!(q.unfinished_tasks() as u64, next_in - done as u64);
    }
    assert!(next_in > 200, "the loop exercised many laps");
}

// ---- timeouts ---------------------------------------------------------------------------------

#[test]
fn get_timeout_waits_then_times_out() {
    for (kind, q) in every_kind::<u8>(1) {
        let start = Instant::now();
        assert_eq!(
            q.get_timeout(Duration::from_millis(30)),
            Err(GetTimeoutError::Timeout),
            "{kind}"
        );
        assert!(start.elapsed() >= Duration::from_millis(30), "{kind}");
    }
}

#[test]
fn put_timeout_waits_then_hands_the_item_back() {
    for (kind, q) in every_kind(1) {
        q.put(1).unwrap();
        let start = Instant::now();
        assert_eq!(
            q.put_timeout(2, Duration::from_millis(30)),
            Err(PutTimeoutError::Timeout(2)),
            "{kind}"
        );
        assert!(start.elapsed() >= Duration::from_millis(30), "{kind}");
        assert_eq!(q.qsize(), 1, "{kind}");
        assert_eq!(q.unfinished_tasks(), 1, "{kind}");
    }
}

#[test]
fn timeouts_too_large_for_the_clock_are_typed_errors() {
    for (kind, q) in every_kind(1) {
        let err = q.put_timeout(1, Duration::MAX).unwrap_err();
        assert!(matches!(err, PutTimeoutError::Overflow(1, _)), "{kind}");
        assert!(err.to_string().contains("overflows"), "{kind}");
        assert!(std::error::Error::source(&err).is_some(), "{kind}");
        assert!(matches!(
            q.get_timeout(Duration::MAX),
            Err(GetTimeoutError::Overflow(_))
        ));
        assert!(matches!(
            q.join_timeout(Duration::MAX),
            Err(JoinTimeoutError::Overflow(_))
        ));
    }
}

#[test]
fn timed_calls_succeed_when_the_other_side_arrives() {
    for (kind, q) in every_kind(1) {
        let q2 = q.clone();
        let getter = thread::spawn(move || q2.get_timeout(SOON));
        wait_for("a getter", || q.waiting_getters() == 1);
        q.put_timeout(7, SOON).unwrap();
        assert_eq!(getter.join().unwrap(), Ok(7), "{kind}");

        q.put(1).unwrap();
        let q2 = q.clone();
        let putter = thread::spawn(move || q2.put_timeout(2, SOON));
        wait_for("a putter", || q.waiting_putters() == 1);
        assert_eq!(q.get_timeout(SOON), Ok(1), "{kind}");
        putter.join().unwrap().unwrap();
        assert_eq!(q.get_timeout(SOON), Ok(2), "{kind}");
    }
}

// ---- blocking ---------------------------------------------------------------------------------

#[test]
fn put_blocks_while_full_and_get_releases_it() {
    for (kind, q) in every_kind(1) {
        q.put(1).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let (q2, done2) = (q.clone(), done.clone());
        let putter = thread::spawn(move || {
            q2.put(2).unwrap();
            done2.store(true, Ordering::SeqCst);
        });
        wait_for("the putter to block", || q.waiting_putters() == 1);
        assert!(
            !done.load(Ordering::SeqCst),
            "put returned on a full queue: {kind}"
        );
        assert_eq!(q.get(), Ok(1), "{kind}");
        putter.join().unwrap();
        assert!(done.load(Ordering::SeqCst));
        assert_eq!(q.get(), Ok(2), "{kind}");
    }
}

#[test]
fn get_blocks_while_empty_and_put_releases_it() {
    for (kind, q) in every_kind(0) {
        let q2 = q.clone();
        let getter = thread::spawn(move || q2.get());
        wait_for("the getter to block", || q.waiting_getters() == 1);
        q.put("x").unwrap();
        assert_eq!(getter.join().unwrap(), Ok("x"), "{kind}");
        assert_eq!(q.waiting_getters(), 0);
    }
}

/// CPU time the calling thread has used so far.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID needs nothing else.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A bounded FIFO queue's waiters spin and yield for a moment before they sleep (so that a
/// handoff does not pay for a futex sleep and wake-up): that moment must stay short. A getter on
/// an empty queue and a putter on a full one each reach the waiting room (or the test times
/// out) having used far less CPU than a busy wait would; the bound is hundreds of times the
/// yielding phase, for loaded machines.
#[test]
fn an_idle_ring_waiter_sleeps_after_a_short_yielding_phase() {
    const MOST_CPU: Duration = Duration::from_millis(50);
    let q = Queue::bounded(1);
    let q2 = q.clone();
    let getter = thread::spawn(move || {
        let start = thread_cpu_time();
        let item = q2.get();
        (item, thread_cpu_time() - start)
    });
    wait_for("the getter to sleep", || q.waiting_getters() == 1);
    q.put(1).unwrap();
    let (item, cpu) = getter.join().unwrap();
    assert_eq!(item, Ok(1));
    assert!(cpu < MOST_CPU, "an idle getter used {cpu:?} of CPU");

    q.put(2).unwrap();
    let q2 = q.clone();
    let putter = thread::spawn(move || {
        let start = thread_cpu_time();
        let put = q2.put(3);
        (put, thread_cpu_time() - start)
    });
    wait_for("the putter to sleep", || q.waiting_putters() == 1);
    assert_eq!(q.get(), Ok(2));
    let (put, cpu) = putter.join().unwrap();
    assert_eq!(put, Ok(()));
    assert!(
        cpu < MOST_CPU,
        "a putter on a full queue used {cpu:?} of CPU"
    );
    assert_eq!(q.get(), Ok(3));
}

// ---- task accounting --------------------------------------------------------------------------

#[test]
fn task_done_too_many_times_is_python_s_value_error() {
    for (kind, q) in every_kind(0) {
        assert_eq!(q.task_done(), Err(TaskDoneError), "{kind}");
        q.put(1).unwrap();
        q.get().unwrap();
        q.task_done().unwrap();
        let err = q.task_done().unwrap_err();
        assert_eq!(err.to_string(), "task_done() called too many times");
        assert_eq!(q.unfinished_tasks(), 0, "{kind}");
    }
}

#[test]
fn join_returns_at_once_with_nothing_unfinished() {
    for (_, q) in every_kind::<u8>(0) {
        q.join();
        q.join_timeout(Duration::ZERO).unwrap();
    }
}

#[test]
fn join_waits_for_every_task_done_in_several_threads_more_than_once() {
    for (kind, q) in every_kind(0) {
        for round in 0..2 {
            let n = 20;
            for i in 0..n {
                q.put(i).unwrap();
            }
            let joiners_in = Arc::new(AtomicUsize::new(0));
            let finished = Arc::new(AtomicUsize::new(0));
            let joiners: Vec<_> = (0..3)
                .map(|_| {
                    let (q, finished) = (q.clone(), finished.clone());
                    let joiners_in = joiners_in.clone();
                    thread::spawn(move || {
                        joiners_in.fetch_add(1, Ordering::SeqCst);
                        q.join();
                        // Every task must be done by the time join returns.
                        assert_eq!(q.unfinished_tasks(), 0);
                        finished.fetch_add(1, Ordering::SeqCst);
                    })
                })
                .collect();
            wait_for("the joiners", || joiners_in.load(Ordering::SeqCst) == 3);
            let mut got = 0;
            while got < n {
                q.get().unwrap();
                got += 1;
                if got < n {
                    assert_eq!(q.unfinished_tasks(), n - got + 1);
                    q.task_done().unwrap();
                }
            }
            assert_eq!(
                q.join_timeout(Duration::from_millis(20)),
                Err(JoinTimeoutError::Timeout),
                "{kind} round {round}: one task is still unfinished"
            );
            assert_eq!(
                finished.load(Ordering::SeqCst),
                0,
                "{kind}: join returned early"
            );
            q.task_done().unwrap();
            for j in joiners {
                j.join().unwrap();
            }
            assert_eq!(finished.load(Ordering::SeqCst), 3);
        }
    }
}

#[test]
fn task_done_right_after_get_never_reports_too_many() {
    // One producer, one consumer marking each item done as soon as it has it: on the FIFO engine
    // the consumer often takes an item before its put has counted it.
    let n = 20_000 * stress::<usize>();
    for (kind, q) in every_kind(0) {
        let q2 = q.clone();
        let consumer = thread::spawn(move || {
            for _ in 0..n {
                q2.get().unwrap();
                q2.task_done().unwrap();
            }
        });
        for i in 0..n {
            q.put(i).unwrap();
        }
        consumer.join().unwrap();
        q.join_timeout(SOON).unwrap();
        assert_eq!(q.task_done(), Err(TaskDoneError), "{kind}");
    }
}

// ---- shutdown ---------------------------------------------------------------------------------

#[test]
fn shutdown_refuses_puts_and_drains_gets() {
    for (kind, q) in every_kind(2) {
        q.put(1).unwrap();
        q.put(2).unwrap();
        q.shutdown(false);
        assert!(q.is_shutdown(), "{kind}");
        assert_eq!(q.put(3), Err(PutError(3)), "{kind}");
        // ShutDown wins over Full, as in Python.
        assert_eq!(q.try_put(4), Err(TryPutError::ShutDown(4)), "{kind}");
        assert_eq!(
            q.put_timeout(5, Duration::from_millis(1)),
            Err(PutTimeoutError::ShutDown(5))
        );
        let mut left = vec![q.get().unwrap(), q.try_get().unwrap()];
        left.sort();
        assert_eq!(left, [1, 2], "{kind}");
        assert_eq!(q.get(), Err(GetError), "{kind}");
        assert_eq!(q.try_get(), Err(TryGetError::ShutDown), "{kind}");
        assert_eq!(
            q.get_timeout(SOON),
            Err(GetTimeoutError::ShutDown),
            "{kind}"
        );
        // Shutdown does not touch the task count: the two items were taken, not done.
        assert_eq!(q.unfinished_tasks(), 2, "{kind}");
        q.shutdown(false); // again: allowed
    }
}

#[test]
fn immediate_shutdown_drops_items_counts_them_done_and_wakes_join() {
    struct Tracked(Arc<AtomicUsize>);
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    impl PartialEq for Tracked {
        fn eq(&self, _: &Self) -> bool {
            true
        }
    }
    impl Eq for Tracked {}
    impl PartialOrd for Tracked {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Tracked {
        fn cmp(&self, _: &Self) -> std::cmp::Ordering {
            std::cmp::Ordering::Equal
        }
    }
    for (kind, q) in every_kind(0) {
        let drops = Arc::new(AtomicUsize::new(0));
        for _ in 0..5 {
            q.put(Tracked(drops.clone())).unwrap();
        }
        let taken = q.get().unwrap(); // one item out, not yet done
        let q2 = q.clone();
        let joiner = thread::spawn(move || q2.join());
        q.shutdown(true);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            4,
            "{kind}: the 4 left are dropped"
        );
        assert_eq!(q.qsize(), 0);
        assert_eq!(
            q.unfinished_tasks(),
            1,
            "{kind}: dropped items count as done"
        );
        assert!(q.get().is_err(), "{kind}");
        drop(taken);
        q.task_done().unwrap();
        joiner.join().unwrap();
        assert_eq!(q.task_done(), Err(TaskDoneError));
    }
}

#[test]
fn immediate_shutdown_runs_destructors_outside_the_lock() {
    // A destructor that uses its queue would deadlock if run under the queue's lock.
    struct UsesQueue(Queue<UsesQueue>, Arc<AtomicUsize>);
    impl Drop for UsesQueue {
        fn drop(&mut self) {
            let _ = self.0.qsize();
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }
    for q in [Queue::new(), Queue::lifo(0), Queue::fifo(1 << 20)] {
        let drops = Arc::new(AtomicUsize::new(0));
        q.put(UsesQueue(q.clone(), drops.clone())).unwrap();
        q.put(UsesQueue(q.clone(), drops.clone())).unwrap();
        q.shutdown(true);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }
}

#[test]
fn shutdown_wakes_every_blocked_getter() {
    let n = 16;
    for (kind, q) in every_kind::<u32>(4) {
        let getters: Vec<_> = (0..n)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || q.get())
            })
            .collect();
        wait_for("the getters to block", || q.waiting_getters() == n);
        q.shutdown(false);
        for g in getters {
            assert_eq!(g.join().unwrap(), Err(GetError), "{kind}");
        }
    }
}

#[test]
fn shutdown_wakes_every_blocked_putter_and_keeps_the_queued_items() {
    let n = 16;
    for immediate in [false, true] {
        for (kind, q) in every_kind(2) {
            q.put(1000).unwrap();
            q.put(1001).unwrap();
            let putters: Vec<_> = (0..n)
                .map(|i| {
                    let q = q.clone();
                    thread::spawn(move || q.put(i))
                })
                .collect();
            wait_for("the putters to block", || q.waiting_putters() == n);
            q.shutdown(immediate);
            let mut handed_back: Vec<_> = putters
                .into_iter()
                .map(|p| p.join().unwrap().unwrap_err().into_inner())
                .collect();
            handed_back.sort();
            assert_eq!(handed_back, (0..n).collect::<Vec<_>>(), "{kind}");
            let left: Vec<_> = q.iter().collect();
            if immediate {
                assert!(left.is_empty(), "{kind}");
                q.join_timeout(SOON).unwrap();
            } else {
                assert_eq!(left.len(), 2, "{kind}: queued items are still handed out");
                assert_eq!(q.unfinished_tasks(), 2);
            }
        }
    }
}

#[test]
fn shutdown_while_many_threads_block_in_put_and_get() {
    // Two queues chained: workers block getting from `empty` and others block putting into
    // `full`; one shutdown of each wakes them all.
    let n = 12 * stress::<usize>().min(4);
    let empty = Queue::<usize>::bounded(3);
    let full = Queue::<usize>::bounded(3);
    for i in 0..3 {
        full.put(i).unwrap();
    }
    let start = Arc::new(Barrier::new(2 * n + 1));
    let mut handles = Vec::new();
    for i in 0..n {
        let (empty, full, start) = (empty.clone(), full.clone(), start.clone());
        handles.push(thread::spawn(move || {
            start.wait();
            (empty.get().is_err(), full.put(i).is_err())
        }));
    }
    let mut putters = Vec::new();
    for i in 0..n {
        let (full, start) = (full.clone(), start.clone());
        putters.push(thread::spawn(move || {
            start.wait();
            full.put(100 + i).unwrap_err().into_inner()
        }));
    }
    start.wait();
    wait_for("getters and putters to block", || {
        empty.waiting_getters() == n && full.waiting_putters() == n
    });
    full.shutdown(false);
    empty.shutdown(false);
    for h in handles {
        assert_eq!(h.join().unwrap(), (true, true));
    }
    let mut back: Vec<_> = putters.into_iter().map(|p| p.join().unwrap()).collect();
    back.sort();
    assert_eq!(back, (100..100 + n).collect::<Vec<_>>());
    assert_eq!(full.iter().count(), 3);
}

// ---- iteration and handles --------------------------------------------------------------------

#[test]
fn iteration_ends_at_shutdown_after_draining() {
    for (kind, q) in every_kind(0) {
        let consumer = {
            let q = q.clone();
            thread::spawn(move || {
                let mut v: Vec<u32> = (&q).into_iter().collect();
                v.sort();
                v
            })
        };
        for i in 0..100 {
            q.put(i).unwrap();
        }
        q.shutdown(false);
        assert_eq!(
            consumer.join().unwrap(),
            (0..100).collect::<Vec<_>>(),
            "{kind}"
        );
        // Fused: still nothing.
        assert_eq!(q.iter().next(), None);
    }
    let q = Queue::new();
    q.put(1).unwrap();
    q.shutdown(false);
    assert_eq!(q.into_iter().collect::<Vec<_>>(), [1]);
}

#[test]
fn handles_are_send_sync_clone_and_debug() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Queue<String>>();
    let q = Queue::lifo(3);
    q.put(1).unwrap();
    let s = format!("{q:?}");
    assert!(
        s.contains("Lifo") && s.contains("qsize: 1") && s.contains("maxsize: 3"),
        "{s}"
    );
    let s = format!("{:?}", Queue::<u8>::new());
    assert!(s.contains("Fifo") && s.contains("maxsize: 0"), "{s}");
    assert!(format!("{:?}", q.iter()).contains("Iter"));
    assert_eq!(format!("{:?}", TryPutError::Full(vec![1u8])), "Full(..)");
    assert_eq!(TryGetError::Empty.to_string(), "queue is empty");
    assert_eq!(GetError.to_string(), "queue is shut down");
}

// ---- many threads -----------------------------------------------------------------------------

/// 25 producers and 25 consumers move `per_producer` distinct items each through `q`; every
/// item must come out exactly once (a seen-bitmap, a count and a sum check it), every item is
/// marked done, and join then shutdown end the run.
fn fifty_threads(kind: &str, q: Queue<u64>) {
    const PRODUCERS: u64 = 25;
    const CONSUMERS: usize = 25;
    let per_producer = 400 * stress::<usize>() as u64;
    let total = PRODUCERS * per_producer;
    let seen: Arc<Vec<AtomicBool>> = Arc::new((0..total).map(|_| AtomicBool::new(false)).collect());
    let start = Arc::new(Barrier::new(PRODUCERS as usize + CONSUMERS));
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let (q, seen, start) = (q.clone(), seen.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                let (mut count, mut sum) = (0u64, 0u64);
                for item in &q {
                    assert!(
                        !seen[item as usize].swap(true, Ordering::SeqCst),
                        "item {item} came out twice"
                    );
                    count += 1;
                    sum += item;
                    q.task_done().unwrap();
                }
                (count, sum)
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (q, start) = (q.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                for i in p * per_producer..(p + 1) * per_producer {
                    q.put(i).unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    q.join_timeout(SOON)
        .unwrap_or_else(|e| panic!("{kind}: join: {e}"));
    q.shutdown(false);
    let (count, sum) = consumers
        .into_iter()
        .map(|c| c.join().unwrap())
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    assert_eq!(count, total, "{kind}: items lost");
    assert_eq!(sum, total * (total - 1) / 2, "{kind}: checksum");
    assert!(seen.iter().all(|s| s.load(Ordering::SeqCst)), "{kind}");
    assert_eq!(q.unfinished_tasks(), 0);
}

#[test]
fn fifty_threads_fifo_bounded() {
    fifty_threads("fifo(8)", Queue::bounded(8));
}

#[test]
fn fifty_threads_fifo_unbounded() {
    fifty_threads("fifo(0)", Queue::new());
}

#[test]
fn fifty_threads_fifo_large_bound() {
    fifty_threads("fifo(2^20)", Queue::bounded(1 << 20));
}

#[test]
fn fifty_threads_lifo_bounded() {
    fifty_threads("lifo(8)", Queue::lifo(8));
}

#[test]
fn fifty_threads_priority_bounded() {
    fifty_threads("priority(8)", Queue::priority(8));
}

#[test]
fn fifty_threads_with_timeouts_and_try_calls() {
    // Mixed flavours: producers use put_timeout / try_put, consumers get_timeout / try_get,
    // retrying on Timeout / Full / Empty; nothing may be lost or duplicated.
    let q = Queue::bounded(4);
    let per = 200 * stress::<usize>() as u64;
    let producers: Vec<_> = (0..25u64)
        .map(|p| {
            let q = q.clone();
            thread::spawn(move || {
                for i in p * per..(p + 1) * per {
                    let mut item = i;
                    loop {
                        let r = if i % 2 == 0 {
                            q.try_put(item).map_err(TryPutError::into_inner)
                        } else {
                            q.put_timeout(item, Duration::from_micros(50))
                                .map_err(PutTimeoutError::into_inner)
                        };
                        match r {
                            Ok(()) => break,
                            Err(back) => {
                                item = back;
                                thread::yield_now();
                            }
                        }
                    }
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..25)
        .map(|c| {
            let q = q.clone();
            thread::spawn(move || {
                let mut sum = 0u64;
                let mut count = 0u64;
                loop {
                    let r = if c % 2 == 0 {
                        q.try_get().map_err(|e| e == TryGetError::ShutDown)
                    } else {
                        q.get_timeout(Duration::from_micros(50))
                            .map_err(|e| e == GetTimeoutError::ShutDown)
                    };
                    match r {
                        Ok(v) => {
                            sum += v;
                            count += 1;
                        }
                        Err(true) => return (count, sum),
                        Err(false) => thread::yield_now(),
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    q.shutdown(false);
    let (count, sum) = consumers
        .into_iter()
        .map(|c| c.join().unwrap())
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let total = 25 * per;
    assert_eq!(count, total);
    assert_eq!(sum, total * (total - 1) / 2);
}

/// An item that adds its value to `sink` when dropped while still armed: the items an
/// immediate shutdown drops are summed there, and whoever takes an item out disarms it.
#[derive(Debug)]
struct Tracked {
    value: u64,
    sink: Option<Arc<AtomicU64>>,
}

impl Tracked {
    fn disarm(mut self) -> u64 {
        self.sink = None;
        self.value
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(sink) = &self.sink {
            sink.fetch_add(self.value, Ordering::SeqCst);
        }
    }
}

impl PartialEq for Tracked {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Eq for Tracked {}

impl PartialOrd for Tracked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Tracked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}

#[test]
fn immediate_shutdown_racing_with_puts_gets_and_task_done_balances_the_books() {
    // Producers put until refused, consumers get and mark done until refused, and an immediate
    // shutdown lands mid-flight: every successful put is either got or dropped, exactly once,
    // and join returns because the dropped items count as done.
    for round in 0..5 * stress::<usize>() {
        for (kind, q) in every_kind::<Tracked>(if round % 2 == 0 { 4 } else { 0 }) {
            let dropped = Arc::new(AtomicU64::new(0));
            let taken = Arc::new(AtomicUsize::new(0));
            let start = Arc::new(Barrier::new(7));
            let producers: Vec<_> = (0..3u64)
                .map(|p| {
                    let (q, start, dropped) = (q.clone(), start.clone(), dropped.clone());
                    thread::spawn(move || {
                        start.wait();
                        let mut sum = 0u64;
                        for i in 1.. {
                            let value = p * 1_000_000_000 + i;
                            let item = Tracked {
                                value,
                                sink: Some(dropped.clone()),
                            };
                            if let Err(PutError(refused)) = q.put(item) {
                                refused.disarm();
                                break;
                            }
                            sum += value;
                        }
                        sum
                    })
                })
                .collect();
            let consumers: Vec<_> = (0..3)
                .map(|_| {
                    let (q, start, taken) = (q.clone(), start.clone(), taken.clone());
                    thread::spawn(move || {
                        start.wait();
                        let mut sum = 0u64;
                        while let Ok(item) = q.get() {
                            sum += item.disarm();
                            q.task_done().unwrap();
                            taken.fetch_add(1, Ordering::SeqCst);
                        }
                        sum
                    })
                })
                .collect();
            start.wait();
            // A count, not a sleep: let some items flow, then shut down at once.
            wait_for("some traffic", || taken.load(Ordering::SeqCst) >= 50);
            q.shutdown(true);
            let put: u64 = producers.into_iter().map(|h| h.join().unwrap()).sum();
            let got: u64 = consumers.into_iter().map(|h| h.join().unwrap()).sum();
            q.join_timeout(SOON)
                .unwrap_or_else(|e| panic!("{kind} round {round}: join: {e}"));
            assert_eq!(q.unfinished_tasks(), 0, "{kind} round {round}");
            assert!(q.is_empty(), "{kind} round {round}");
            assert_eq!(
                put,
                got + dropped.load(Ordering::SeqCst),
                "{kind} round {round}: every item put is got or dropped, once"
            );
        }
    }
}

#[test]
fn shutdown_racing_with_puts_and_gets_loses_nothing() {
    // Producers put until refused; consumers get until refused; shutdown lands in the middle.
    // Every item whose put succeeded must be got exactly once.
    for round in 0..5 * stress::<usize>() {
        for (kind, q) in every_kind::<u64>(if round % 2 == 0 { 4 } else { 0 }) {
            let start = Arc::new(Barrier::new(9));
            let producers: Vec<_> = (0..4u64)
                .map(|p| {
                    let (q, start) = (q.clone(), start.clone());
                    thread::spawn(move || {
                        start.wait();
                        let (mut n, mut sum) = (0u64, 0u64);
                        for i in 0.. {
                            let v = p * 1_000_000_000 + i;
                            if q.put(v).is_err() {
                                break;
                            }
                            n += 1;
                            sum += v;
                        }
                        (n, sum)
                    })
                })
                .collect();
            let consumers: Vec<_> = (0..4)
                .map(|_| {
                    let (q, start) = (q.clone(), start.clone());
                    thread::spawn(move || {
                        start.wait();
                        q.iter().fold((0u64, 0u64), |a, v| (a.0 + 1, a.1 + v))
                    })
                })
                .collect();
            start.wait();
            // Let some items flow (a count, not a sleep), then shut down.
            wait_for("some traffic", || q.unfinished_tasks() >= 100);
            q.shutdown(false);
            let put = producers
                .into_iter()
                .map(|h| h.join().unwrap())
                .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
            let got = consumers
                .into_iter()
                .map(|h| h.join().unwrap())
                .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
            assert_eq!(put, got, "{kind} round {round}");
            assert_eq!(q.unfinished_tasks() as u64, put.0, "{kind}");
        }
    }
}
