//! Unwinding never leaves a primitive inconsistent: after a panic in user code (a task, a
//! callback, a barrier action, a comparison, a guard's scope) is caught, another thread proves
//! the state consistent: a lock is free or held exactly once, counts add up, a barrier is
//! broken rather than stuck, a future is finished rather than running forever. (A priority
//! queue whose comparison panics: `tests/queue.rs`.)
//!
//! The deadlock detector's own unwinding paths (a reaction or report callback that panics in a
//! lock acquisition or a condition's wait) are in `tests/deadlock.rs`.
#![cfg(not(loom))]

use std::panic::{catch_unwind, panic_any, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use threadkit::executor::{ResultTimeoutError, TaskError, ThreadPool};
use threadkit::sync::{
    Barrier, BarrierWaitError, BoundedSemaphore, Condition, Lock, RLock, Semaphore, Timer,
};

/// A bound that only ends a hang: under valgrind on a loaded machine, with `RUST_BACKTRACE=1`,
/// printing one panic's backtrace took longer than 10 s (CI run of 53c33e4: the second done
/// callback had not run after 10 s because the first's panic report was still symbolizing).
const GENEROUS: Duration = Duration::from_secs(180);

/// A panic payload whose own `Drop` panics: the nastiest thing a panic can carry.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("the payload's drop panics too");
        }
    }
}

/// Spins (yielding) until `f` holds, failing after [`GENEROUS`] instead of hanging.
fn until(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < GENEROUS, "timed out: {what}");
        std::thread::yield_now();
    }
}

/// Runs `f` on another thread (the state must look right from outside the panicking one).
fn elsewhere<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().expect("the checking thread"))
}

#[test]
fn a_panic_under_a_lock_guard_frees_the_lock_exactly_once() {
    let lock = Lock::new(0u32);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut g = lock.lock();
        *g += 1;
        panic!("in the critical section");
    }));
    assert!(r.is_err());
    elsewhere(|| {
        let g = lock.try_lock().expect("free after the panic");
        assert_eq!(*g, 1, "the write before the panic stays");
        assert!(lock.try_lock().is_none(), "and held once by the new guard");
    });
    assert!(!lock.locked());
    assert!(lock.release().is_err(), "nothing left to release");
}

#[test]
fn a_panic_under_nested_rlock_levels_gives_back_every_guard_level() {
    let lock = RLock::new(());
    lock.acquire(); // a level of `acquire()`, kept across the panic
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _a = lock.lock();
        let _b = lock.lock();
        panic!("two guard levels deep");
    }));
    assert!(r.is_err());
    assert!(lock.is_owned());
    elsewhere(|| assert!(lock.try_lock().is_none(), "still ours"));
    lock.release().unwrap();
    elsewhere(|| {
        assert!(
            lock.try_lock().is_some(),
            "free once the last level is given back"
        )
    });
    assert!(lock.release().is_err());
}

#[test]
fn a_panicking_predicate_in_a_condition_wait_leaves_the_lock_free() {
    for rlock in [false, true] {
        let lock_cond = Condition::with_lock(Lock::new(0u32));
        let rlock_cond = Condition::new(0u32);
        let r = catch_unwind(AssertUnwindSafe(|| {
            if rlock {
                let mut g = rlock_cond.lock();
                let _ = rlock_cond.wait_for(&mut g, |_| panic!("predicate"));
            } else {
                let mut g = lock_cond.lock();
                let _ = lock_cond.wait_for(&mut g, |_| panic!("predicate"));
            }
        }));
        assert!(r.is_err());
        elsewhere(|| {
            if rlock {
                assert!(rlock_cond.inner_lock().try_lock().is_some());
            } else {
                assert!(lock_cond.inner_lock().try_lock().is_some());
            }
        });
    }
}

#[test]
fn a_permit_dropped_by_a_panic_goes_back() {
    let sem = Semaphore::new(2);
    let bounded = BoundedSemaphore::new(1);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _p = sem.acquire_permit();
        let _q = bounded.acquire_permit();
        panic!("holding permits");
    }));
    assert!(r.is_err());
    assert_eq!(sem.value(), 2);
    assert_eq!(bounded.value(), 1);
    assert!(
        bounded.release().is_err(),
        "the permit went back once: one more release is an over-release"
    );
}

#[test]
fn a_task_whose_panic_payload_panics_on_drop_still_finishes_its_future() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let bad = pool.submit(|| -> u32 { panic_any(Bomb) }).unwrap();
    match bad.result_timeout(GENEROUS) {
        Err(ResultTimeoutError::Task(TaskError::Panicked { .. })) => {}
        other => panic!("expected a captured panic, got {other:?}"),
    }
    // The only worker survived and runs the next task.
    let next = pool.submit(|| 7u32).unwrap();
    assert_eq!(next.result_timeout(GENEROUS).unwrap(), 7);
}

#[test]
fn a_done_callback_whose_panic_payload_panics_on_drop_stops_nothing() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let ran = std::sync::Arc::new(AtomicUsize::new(0));
    let gate = std::sync::Arc::new(threadkit::sync::Event::new());
    let g2 = std::sync::Arc::clone(&gate);
    let fut = pool
        .submit(move || {
            g2.wait();
            1u32
        })
        .unwrap();
    fut.add_done_callback(|_| panic_any(Bomb));
    let r2 = std::sync::Arc::clone(&ran);
    fut.add_done_callback(move |_| {
        r2.fetch_add(1, Ordering::SeqCst);
    });
    gate.set();
    assert_eq!(fut.result_timeout(GENEROUS).unwrap(), 1);
    until("the second callback ran", || {
        ran.load(Ordering::SeqCst) == 1
    });
    assert_eq!(pool.submit(|| 2u32).unwrap().result().unwrap(), 2);
}

#[test]
fn a_barrier_action_whose_payload_panics_on_drop_breaks_the_barrier() {
    let barrier = Barrier::builder(2)
        .action(|| panic_any(Bomb))
        .build()
        .unwrap();
    std::thread::scope(|s| {
        let other = s.spawn(|| barrier.wait_timeout(GENEROUS));
        until("one waiting", || barrier.n_waiting() == 1);
        assert!(matches!(
            barrier.wait(),
            Err(BarrierWaitError::ActionPanicked(_))
        ));
        assert_eq!(other.join().unwrap(), Err(BarrierWaitError::Broken));
    });
    assert!(barrier.broken());
    assert_eq!(barrier.n_waiting(), 0, "nobody is left inside");
    barrier.reset();
    assert!(!barrier.broken());
}

#[test]
fn a_panicking_timer_callback_is_joined_as_an_error() {
    let t = Timer::start(Duration::ZERO, || panic!("timer callback")).unwrap();
    assert_eq!(t.join().unwrap_err().message(), "timer callback");
    let done = std::sync::Arc::new(AtomicUsize::new(0));
    let d2 = std::sync::Arc::clone(&done);
    let t = Timer::start(Duration::ZERO, move || {
        d2.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    t.join().unwrap();
    assert_eq!(done.load(Ordering::SeqCst), 1);
}
