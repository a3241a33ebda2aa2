#![cfg(not(loom))]
//! Integration tests of `threadkit::sync`, with threads contending for real.
//!
//! Ordering between threads uses barriers, events, channels and the primitives' own
//! `waiting()` counts; sleeps appear only to let a timeout pass. Iteration counts scale with
//! `THREADKIT_STRESS` (default 1).

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use threadkit::sync::{
    Barrier, BarrierWaitError, BoundedSemaphore, Condition, Event, Lock, NotifyError, RLock,
    Semaphore, SemaphoreReleaseError, Timer, TimerError, WaitError, WaitTimeoutError,
    SEMAPHORE_VALUE_MAX,
};

fn stress(n: usize) -> usize {
    let k = std::env::var("THREADKIT_STRESS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    n * k
}

/// Spins (yielding) until `f` holds, failing after 10 s instead of hanging.
fn until(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out: {what}"
        );
        std::thread::yield_now();
    }
}

const SHORT: Duration = Duration::from_millis(60);
const LONG: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- Lock

#[test]
fn lock_guards_serialize_increments() {
    let n = stress(20_000);
    let lock = Lock::new(0usize);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..n {
                    *lock.lock() += 1;
                }
            });
        }
    });
    assert_eq!(lock.into_inner(), 4 * n);
}

#[test]
fn lock_acquire_release_serializes_a_non_atomic_update() {
    // The seeds' style: a plain lock around a read-modify-write that is not atomic by itself.
    let n = stress(20_000);
    let lock = Lock::new(());
    let value = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..n {
                    lock.acquire();
                    let v = value.load(Ordering::Relaxed);
                    value.store(v + 1, Ordering::Relaxed);
                    lock.release().unwrap();
                }
            });
        }
    });
    assert_eq!(value.load(Ordering::Relaxed), 4 * n);
    assert!(!lock.locked());
}

#[test]
fn lock_release_unlocked_is_an_error() {
    let lock = Lock::new(());
    let err = lock.release().unwrap_err();
    assert_eq!(err.to_string(), "release unlocked lock");
    assert!(!err.was_locked());
    lock.acquire();
    lock.release().unwrap();
    assert!(lock.release().is_err());
    // Still fully usable.
    assert!(lock.try_lock().is_some());
}

#[test]
fn lock_release_cannot_unlock_a_guard() {
    let lock = Lock::new(5);
    let mut g = lock.lock();
    let err = lock.release().unwrap_err();
    assert!(err.was_locked());
    assert!(err.to_string().starts_with("release unlocked lock"));
    // The guard still holds the lock: nobody else can take it.
    std::thread::scope(|s| {
        s.spawn(|| assert!(lock.try_lock().is_none()));
    });
    *g += 1;
    drop(g);
    assert_eq!(*lock.lock(), 6);
}

#[test]
fn lock_released_from_another_thread() {
    let lock = Lock::new(());
    lock.acquire();
    std::thread::scope(|s| {
        s.spawn(|| lock.release().unwrap()).join().unwrap();
    });
    assert!(!lock.locked());
    // And the other way round: a thread acquires, main releases.
    std::thread::scope(|s| {
        s.spawn(|| lock.acquire()).join().unwrap();
    });
    assert!(lock.locked());
    lock.release().unwrap();
}

#[test]
fn lock_racing_releases_unlock_exactly_once() {
    let rounds = stress(2_000);
    let lock = Lock::new(());
    let start = std::sync::Barrier::new(3);
    let done = std::sync::Barrier::new(3);
    let oks = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..rounds {
                    start.wait();
                    if lock.release().is_ok() {
                        oks.fetch_add(1, Ordering::SeqCst);
                    }
                    done.wait();
                }
            });
        }
        for r in 0..rounds {
            lock.acquire();
            start.wait();
            done.wait();
            assert_eq!(oks.load(Ordering::SeqCst), r + 1, "round {r}");
            assert!(!lock.locked());
        }
    });
}

#[test]
fn lock_timeout_gives_up_and_lock_stays_usable() {
    let lock = Lock::new(());
    lock.acquire();
    // Seed 000: "Got lock, Getting lock again ..." then "Gave up waiting".
    let t = Instant::now();
    assert_eq!(lock.acquire_timeout(SHORT), Ok(false));
    assert!(t.elapsed() >= SHORT);
    let t = Instant::now();
    assert!(lock.lock_timeout(SHORT).unwrap().is_none());
    assert!(t.elapsed() >= SHORT);
    assert!(lock.lock_until(Instant::now() + SHORT).is_none());
    lock.release().unwrap();
    assert!(lock.lock_timeout(SHORT).unwrap().is_some());
    assert_eq!(lock.acquire_timeout(SHORT), Ok(true));
    lock.release().unwrap();
}

#[test]
fn lock_timeout_succeeds_when_released_in_time() {
    let lock = Lock::new(0);
    let held = Event::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut g = lock.lock();
            held.set();
            *g = 1;
        });
        held.wait();
        let g = lock.lock_timeout(LONG).unwrap().expect("released in time");
        assert_eq!(*g, 1);
    });
}

/// Waiters that time out must not swallow the wake-up meant for a waiter that stays: on Linux
/// the lock is a futex word and a timed-out sleeper leaves it marked contended.
#[test]
fn lock_timed_out_waiters_do_not_strand_a_waiter_that_stays() {
    for round in 0..stress(20) {
        let lock = Lock::new(0u32);
        lock.acquire();
        std::thread::scope(|s| {
            let (tx, rx) = mpsc::channel();
            let lock = &lock;
            s.spawn(move || {
                *lock.lock() += 1;
                tx.send(()).unwrap();
            });
            let quitters: Vec<_> = (0..3u64)
                .map(|i| {
                    s.spawn(move || {
                        lock.lock_timeout(Duration::from_millis(1 + i))
                            .unwrap()
                            .is_none()
                    })
                })
                .collect();
            for q in quitters {
                assert!(
                    q.join().unwrap(),
                    "round {round}: the lock was held throughout"
                );
            }
            lock.release().unwrap();
            rx.recv_timeout(LONG)
                .unwrap_or_else(|_| panic!("round {round}: the staying waiter never got the lock"));
        });
        assert_eq!(*lock.lock(), 1);
    }
}

/// Blocking and timed lockers mixed on one lock: no lost update, no lost wake-up (every thread
/// finishes), and the lock ends free.
#[test]
fn lock_mixed_blocking_and_timed_lockers_lose_nothing() {
    let per_thread = stress(5_000);
    let lock = Lock::new(0usize);
    std::thread::scope(|s| {
        for t in 0..4usize {
            let lock = &lock;
            s.spawn(move || {
                for i in 0..per_thread {
                    let mut g = if (t + i) % 2 == 0 {
                        lock.lock()
                    } else {
                        loop {
                            let timeout = Duration::from_micros(((t * 7 + i) % 50) as u64);
                            if let Some(g) = lock.lock_timeout(timeout).unwrap() {
                                break g;
                            }
                        }
                    };
                    let v = *g;
                    if i % 64 == 0 {
                        std::thread::yield_now();
                    }
                    *g = v + 1;
                }
            });
        }
    });
    assert!(!lock.locked());
    assert_eq!(*lock.lock(), 4 * per_thread);
}

#[test]
fn lock_timeout_overflow_is_a_typed_error() {
    let lock = Lock::new(());
    let e = lock.lock_timeout(Duration::MAX).unwrap_err();
    assert_eq!(e.timeout, Duration::MAX);
    assert!(lock.acquire_timeout(Duration::MAX).is_err());
    assert!(!lock.locked());
}

#[test]
fn lock_try_lock_and_locked_across_threads() {
    let lock = Lock::new(());
    assert!(!lock.locked());
    let g = lock.lock();
    std::thread::scope(|s| {
        s.spawn(|| {
            assert!(lock.locked());
            assert!(lock.try_lock().is_none());
            assert!(!lock.try_acquire());
        });
    });
    drop(g);
    assert!(lock.try_acquire());
    lock.release().unwrap();
}

// ---------------------------------------------------------------- RLock

#[test]
fn rlock_reentry_and_contention() {
    let n = stress(5_000);
    let lock = RLock::new(Cell::new(0usize));
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..n {
                    let outer = lock.lock();
                    let inner = lock.lock();
                    lock.acquire();
                    inner.set(inner.get() + 1);
                    lock.release().unwrap();
                    drop(inner);
                    outer.set(outer.get() + 1);
                }
            });
        }
    });
    assert_eq!(lock.into_inner().get(), 8 * n);
}

#[test]
fn rlock_release_errors_like_python() {
    let lock = RLock::new(());
    lock.acquire();
    lock.acquire();
    lock.acquire();
    lock.release().unwrap();
    lock.release().unwrap();
    lock.release().unwrap();
    let err = lock.release().unwrap_err();
    assert_eq!(err.to_string(), "cannot release un-acquired lock");
    assert!(!lock.locked());
}

#[test]
fn rlock_release_by_non_owner_is_an_error_and_changes_nothing() {
    let lock = RLock::new(());
    lock.acquire();
    std::thread::scope(|s| {
        s.spawn(|| {
            let err = lock.release().unwrap_err();
            assert!(!err.was_owner());
            assert!(lock.try_lock().is_none());
        });
    });
    assert!(lock.is_owned());
    lock.release().unwrap();
    assert!(!lock.is_owned());
}

#[test]
fn rlock_release_cannot_give_back_a_guard_level() {
    let lock = RLock::new(1);
    let g = lock.lock();
    let err = lock.release().unwrap_err();
    assert!(err.was_owner());
    assert_eq!(*g, 1);
    assert!(lock.is_owned());
    drop(g);
    assert!(!lock.locked());
}

#[test]
fn rlock_other_threads_wait_for_the_last_level() {
    let lock = &RLock::new(());
    let (to_main, from_worker) = mpsc::channel();
    let (to_worker, from_main) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        s.spawn(move || {
            lock.acquire();
            lock.acquire();
            to_main.send(()).unwrap();
            from_main.recv().unwrap();
            lock.release().unwrap(); // one level left
            to_main.send(()).unwrap();
            from_main.recv().unwrap();
            lock.release().unwrap();
            to_main.send(()).unwrap();
        });
        from_worker.recv().unwrap();
        assert!(lock.try_lock().is_none());
        to_worker.send(()).unwrap();
        from_worker.recv().unwrap();
        assert!(lock.try_lock().is_none());
        assert!(lock.lock_timeout(SHORT).unwrap().is_none());
        to_worker.send(()).unwrap();
        from_worker.recv().unwrap();
        assert!(lock.lock_timeout(LONG).unwrap().is_some());
    });
}

#[test]
fn rlock_timeouts_and_overflow() {
    let lock = RLock::new(());
    assert!(lock.acquire_timeout(Duration::MAX).is_err());
    assert!(lock.lock_timeout(Duration::MAX).is_err());
    assert!(!lock.locked());
    let _g = lock.lock();
    assert_eq!(lock.acquire_timeout(SHORT), Ok(true)); // owner: no wait
    lock.release().unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            let t = Instant::now();
            assert_eq!(lock.acquire_timeout(SHORT), Ok(false));
            assert!(t.elapsed() >= SHORT);
            assert!(!lock.try_acquire());
        });
    });
}

// ---------------------------------------------------------------- Condition

#[test]
fn condition_producers_consumers_over_a_lock() {
    let per = stress(2_000);
    let cond = Condition::with_lock(Lock::new((Vec::<usize>::new(), 0usize)));
    let consumed = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for p in 0..2 {
            let cond = &cond;
            s.spawn(move || {
                for i in 0..per {
                    let mut g = cond.lock();
                    g.0.push(p * per + i);
                    cond.notify(1).unwrap();
                }
                let mut g = cond.lock();
                g.1 += 1;
                cond.notify_all().unwrap();
            });
        }
        for _ in 0..2 {
            s.spawn(|| loop {
                let mut g = cond.lock();
                cond.wait_for(&mut g, |g| !g.0.is_empty() || g.1 == 2)
                    .unwrap();
                match g.0.pop() {
                    Some(_) => {
                        consumed.fetch_add(1, Ordering::SeqCst);
                    }
                    None => return,
                }
            });
        }
    });
    assert_eq!(consumed.load(Ordering::SeqCst), 2 * per);
}

#[test]
fn condition_wait_releases_every_rlock_level_and_restores_them() {
    let cond = Condition::new(Cell::new(false));
    let lock = cond.inner_lock();
    std::thread::scope(|s| {
        lock.acquire(); // a detached level
        let mut g = cond.lock(); // and a guard level: depth 2
        s.spawn(|| {
            until("main waits", || cond.waiting() == 1);
            // Possible only because the wait gave back both levels.
            let g = cond.lock();
            g.set(true);
            cond.notify(1).unwrap();
        });
        cond.wait_for(&mut g, |g| g.get()).unwrap();
        assert!(lock.is_owned());
        lock.release().unwrap(); // the detached level came back
        assert!(lock.release().is_err()); // the guard's level is the guard's
        drop(g);
        assert!(!lock.locked());
    });
}

#[test]
fn condition_notify_without_the_lock_is_an_error() {
    let cond = Condition::new(());
    assert_eq!(cond.notify(1), Err(NotifyError));
    assert_eq!(cond.notify_all(), Err(NotifyError));
    let g = cond.lock();
    std::thread::scope(|s| {
        // Held, but by another thread: an RLock knows its owner.
        s.spawn(|| assert_eq!(cond.notify(1), Err(NotifyError)));
    });
    assert_eq!(cond.notify(1), Ok(0));
    drop(g);
    let plain = Condition::with_lock(Lock::new(()));
    assert_eq!(plain.notify_all(), Err(NotifyError));
    assert!(NotifyError.to_string().contains("un-acquired lock"));
}

#[test]
fn condition_wait_with_a_guard_of_another_lock_is_an_error() {
    let cond = Condition::with_lock(Lock::new(()));
    let other = Lock::new(());
    let mut g = other.lock();
    assert_eq!(cond.wait(&mut g), Err(WaitError));
    assert_eq!(
        cond.wait_timeout(&mut g, SHORT),
        Err(WaitTimeoutError::NotAcquired)
    );
    assert_eq!(cond.wait_for(&mut g, |_| false), Err(WaitError));
    let rcond = Condition::new(());
    let other = RLock::new(());
    let mut g = other.lock();
    assert_eq!(rcond.wait(&mut g), Err(WaitError));
}

#[test]
fn condition_wait_timeout_reports_false_and_holds_the_lock_again() {
    let cond = Condition::with_lock(Lock::new(0));
    let mut g = cond.lock();
    let t = Instant::now();
    assert_eq!(cond.wait_timeout(&mut g, SHORT), Ok(false));
    assert!(t.elapsed() >= SHORT);
    assert!(cond.inner_lock().locked());
    *g += 1;
    assert_eq!(cond.wait_for_timeout(&mut g, SHORT, |g| **g > 5), Ok(false));
    assert!(matches!(
        cond.wait_timeout(&mut g, Duration::MAX),
        Err(WaitTimeoutError::Overflow(_))
    ));
    assert_eq!(cond.waiting(), 0);
}

#[test]
fn condition_notify_n_wakes_exactly_n_oldest_first() {
    let cond = Condition::with_lock(Lock::new(Vec::<usize>::new()));
    let (first_woken, still_waiting) = std::thread::scope(|s| {
        for id in 0..3 {
            let cond = &cond;
            s.spawn(move || {
                let mut g = cond.lock();
                // Timed, so that a failing assertion below cannot hang the test.
                assert_eq!(cond.wait_timeout(&mut g, LONG), Ok(true));
                g.push(id);
            });
            until("waiter queued", || cond.waiting() == id + 1);
        }
        {
            let _g = cond.lock();
            assert_eq!(cond.notify(2), Ok(2));
        }
        until("two woke", || cond.lock().len() == 2);
        let first_woken = cond.lock().clone();
        let still_waiting = cond.waiting();
        let _g = cond.lock();
        assert_eq!(cond.notify_all(), Ok(1));
        (first_woken, still_waiting)
    });
    // The two oldest waiters were woken (in whatever order they re-took the lock).
    let mut first_woken = first_woken;
    first_woken.sort();
    assert_eq!(first_woken, [0, 1]);
    assert_eq!(still_waiting, 1);
    assert_eq!(cond.lock().last(), Some(&2));
}

#[test]
fn condition_wait_for_timeout_sees_the_change() {
    let cond = Condition::with_lock(Lock::new(0));
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..5 {
                let mut g = cond.lock();
                *g += 1;
                cond.notify_all().unwrap();
            }
        });
        let mut g = cond.lock();
        assert_eq!(cond.wait_for_timeout(&mut g, LONG, |g| **g == 5), Ok(true));
    });
}

#[test]
fn two_conditions_share_one_lock() {
    // queue.Queue's shape: not_empty and not_full over one mutex, capacity 1.
    let lock = Arc::new(Lock::new(Option::<usize>::None));
    let not_empty = Condition::with_lock(Arc::clone(&lock));
    let not_full = Condition::with_lock(Arc::clone(&lock));
    let n = stress(2_000);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..n {
                let mut g = not_full.lock();
                not_full.wait_for(&mut g, |g| g.is_none()).unwrap();
                *g = Some(i);
                not_empty.notify(1).unwrap();
            }
        });
        for i in 0..n {
            let mut g = lock.lock();
            not_empty.wait_for(&mut g, |g| g.is_some()).unwrap();
            assert_eq!(g.take(), Some(i));
            not_full.notify(1).unwrap();
        }
    });
}

#[test]
fn condition_notifications_are_not_lost_under_timeouts() {
    // Waiters with short timeouts race notifiers; every notify(1) that reports a wake-up must
    // correspond to a waiter that returned true.
    let rounds = stress(300);
    let cond = Condition::with_lock(Lock::new(()));
    let woken_true = AtomicUsize::new(0);
    let reported = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..rounds {
                    let mut g = cond.lock();
                    if cond
                        .wait_timeout(&mut g, Duration::from_micros(200))
                        .unwrap()
                    {
                        woken_true.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
        s.spawn(|| {
            for _ in 0..rounds {
                let _g = cond.lock();
                reported.fetch_add(cond.notify(1).unwrap(), Ordering::SeqCst);
                drop(_g);
                std::thread::yield_now();
            }
        });
    });
    assert_eq!(
        woken_true.load(Ordering::SeqCst),
        reported.load(Ordering::SeqCst)
    );
}

// ---------------------------------------------------------------- Semaphore

#[test]
fn semaphore_limits_concurrency() {
    let n = stress(300);
    let sem = Semaphore::new(3);
    let inside = AtomicUsize::new(0);
    let max = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..n {
                    let _p = sem.acquire_permit();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(now, Ordering::SeqCst);
                    std::thread::yield_now();
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
            });
        }
    });
    assert!(max.load(Ordering::SeqCst) <= 3);
    assert_eq!(sem.value(), 3);
}

#[test]
fn semaphore_release_wakes_blocked_acquirers() {
    let sem = Semaphore::new(0);
    let got = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                assert_eq!(sem.acquire_timeout(LONG), Ok(true));
                got.fetch_add(1, Ordering::SeqCst);
            });
        }
        sem.release();
        sem.release_n(2).unwrap();
    });
    assert_eq!(got.load(Ordering::SeqCst), 3);
    assert_eq!(sem.value(), 0);
}

#[test]
fn semaphore_timeouts_and_errors() {
    let sem = Semaphore::new(0);
    let t = Instant::now();
    assert_eq!(sem.acquire_timeout(SHORT), Ok(false));
    assert!(t.elapsed() >= SHORT);
    assert!(sem.acquire_timeout(Duration::MAX).is_err());
    assert!(sem.acquire_permit_timeout(SHORT).unwrap().is_none());
    assert!(!sem.try_acquire());
    assert_eq!(sem.release_n(0), Err(SemaphoreReleaseError::Zero));
    assert_eq!(
        SemaphoreReleaseError::Zero.to_string(),
        "n must be one or more"
    );
    sem.release_n(SEMAPHORE_VALUE_MAX).unwrap();
    assert_eq!(sem.release_n(1), Err(SemaphoreReleaseError::Overflow));
    assert_eq!(sem.value(), SEMAPHORE_VALUE_MAX);
    let released = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sem.release()));
    assert!(released.is_err(), "release() over the maximum panics");
    assert_eq!(
        sem.value(),
        SEMAPHORE_VALUE_MAX,
        "and leaves the value as it was"
    );
    assert!(std::panic::catch_unwind(|| Semaphore::new(SEMAPHORE_VALUE_MAX + 1)).is_err());
    // An unbounded semaphore may grow past its initial value, as in Python.
    let sem = Semaphore::new(1);
    sem.release();
    assert_eq!(sem.value(), 2);
}

/// Timed acquirers giving up while units are released: every unit released is taken exactly
/// once, whichever side of a release a timeout falls on (none lost, none made up).
#[test]
fn semaphore_timeouts_racing_releases_lose_no_unit() {
    let rounds = stress(3000);
    for bounded in [false, true] {
        let (unbounded, bounded_sem) = (Semaphore::new(0), BoundedSemaphore::new(rounds));
        for _ in 0..rounds {
            bounded_sem.acquire();
        }
        let acquire = |t: Duration| {
            if bounded {
                bounded_sem.acquire_timeout(t).unwrap()
            } else {
                unbounded.acquire_timeout(t).unwrap()
            }
        };
        let taken = AtomicUsize::new(0);
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            for i in 0..3 {
                let (acquire, taken, done) = (&acquire, &taken, &done);
                s.spawn(move || {
                    // One acquirer waits long enough to be woken most times, the others give
                    // up after a few microseconds, often just as a unit arrives.
                    let t = Duration::from_micros(if i == 0 { 2000 } else { 20 });
                    while !done.load(Ordering::SeqCst) {
                        if acquire(t) {
                            taken.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            }
            s.spawn(|| {
                for _ in 0..rounds {
                    if bounded {
                        bounded_sem.release().unwrap();
                    } else {
                        unbounded.release();
                    }
                    std::thread::yield_now();
                }
                done.store(true, Ordering::SeqCst);
            });
        });
        let mut left = 0;
        while if bounded {
            bounded_sem.try_acquire()
        } else {
            unbounded.try_acquire()
        } {
            left += 1;
        }
        assert_eq!(
            taken.load(Ordering::SeqCst) + left,
            rounds,
            "bounded: {bounded}: units taken plus units left must be the units released"
        );
    }
}

/// Many threads through a `Semaphore(k)` / `BoundedSemaphore(k)` with blocking, timed and
/// non-blocking acquires mixed: at no moment more than `k` holders (a gauge every holder raises
/// while it holds a unit), nobody hangs, and at the end every unit is back.
#[test]
fn semaphore_stress_mixed_acquires_never_exceed_k_holders() {
    let cycles = stress(2000);
    for (k, bounded) in [(1, false), (2, false), (3, true)] {
        let (sem, bsem) = (Semaphore::new(k), BoundedSemaphore::new(k));
        let holders = AtomicUsize::new(0);
        let held = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for t in 0..6usize {
                let (sem, bsem, holders, held) = (&sem, &bsem, &holders, &held);
                s.spawn(move || {
                    for i in 0..cycles {
                        let got = match (t + i) % 3 {
                            0 if bounded => {
                                bsem.acquire();
                                true
                            }
                            0 => {
                                sem.acquire();
                                true
                            }
                            1 if bounded => {
                                bsem.acquire_timeout(Duration::from_micros(50)).unwrap()
                            }
                            1 => sem.acquire_timeout(Duration::from_micros(50)).unwrap(),
                            _ if bounded => bsem.try_acquire(),
                            _ => sem.try_acquire(),
                        };
                        if !got {
                            continue;
                        }
                        let now = holders.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(now <= k, "{now} holders of a semaphore of {k}");
                        held.fetch_add(1, Ordering::Relaxed);
                        if i % 7 == 0 {
                            std::thread::yield_now();
                        }
                        holders.fetch_sub(1, Ordering::SeqCst);
                        if bounded {
                            bsem.release().unwrap();
                        } else {
                            sem.release();
                        }
                    }
                });
            }
        });
        assert!(
            held.load(Ordering::Relaxed) >= 6 * cycles / 3,
            "every blocking acquire got through"
        );
        let value = if bounded { bsem.value() } else { sem.value() };
        assert_eq!(value, k, "k {k}, bounded {bounded}: every unit back");
        if bounded {
            assert_eq!(bsem.release(), Err(SemaphoreReleaseError::TooMany));
        }
    }
}

/// Timed acquirers with tiny timeouts racing `release_n` of 1-3 units, each acquirer keeping
/// some units and giving others back: the final `value()` is exactly the units released minus
/// the units kept (a timeout falling on either side of a release or a wake-up loses or makes
/// up none).
#[test]
fn semaphore_stress_timeouts_racing_releases_leave_the_exact_value() {
    let rounds = stress(3000);
    let sem = Semaphore::new(0);
    let kept = AtomicUsize::new(0);
    let released = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..3u64 {
            let (sem, kept, done) = (&sem, &kept, &done);
            s.spawn(move || {
                let mut i = 0u64;
                while !done.load(Ordering::SeqCst) {
                    i += 1;
                    if sem
                        .acquire_timeout(Duration::from_micros((i + t) % 4 * 10))
                        .unwrap()
                    {
                        if (i + t).is_multiple_of(2) {
                            kept.fetch_add(1, Ordering::SeqCst);
                        } else {
                            sem.release();
                        }
                    }
                }
            });
        }
        s.spawn(|| {
            for i in 0..rounds {
                let n = i % 3 + 1;
                sem.release_n(n).unwrap();
                released.fetch_add(n, Ordering::SeqCst);
                if i % 4 == 0 {
                    std::thread::yield_now();
                }
            }
            done.store(true, Ordering::SeqCst);
        });
    });
    let (released, kept) = (released.load(Ordering::SeqCst), kept.load(Ordering::SeqCst));
    assert!(kept > 0, "some acquisitions succeeded");
    assert_eq!(sem.value(), released - kept);
}

/// More units than one CPU's shard of a `Semaphore` holds (65,536): the rest goes to the
/// central word. Every unit is there and can be taken, and no more; the same for a value
/// that large given at creation (spread over the shards and the central word).
#[test]
fn semaphore_units_past_a_shards_room_are_all_there() {
    let n = 200_000;
    let sem = Semaphore::new(0);
    for _ in 0..n {
        sem.release();
    }
    assert_eq!(sem.value(), n);
    assert!(
        (0..n).all(|_| sem.try_acquire()),
        "every unit released is there"
    );
    assert!(!sem.try_acquire());
    assert_eq!(sem.value(), 0);
    let sem = Semaphore::new(n);
    assert_eq!(sem.value(), n);
    assert!((0..n).all(|_| sem.try_acquire()));
    assert!(!sem.try_acquire());
    sem.release_n(3).unwrap();
    assert_eq!(sem.value(), 3);
}

/// At the maximum with units in the shards: a unit taken can be given back (to its shard or
/// the central word), one more cannot, and the value stays exact.
#[test]
fn semaphore_at_the_maximum_with_full_shards() {
    let sem = Semaphore::new(SEMAPHORE_VALUE_MAX);
    assert_eq!(sem.value(), SEMAPHORE_VALUE_MAX);
    assert_eq!(sem.release_n(1), Err(SemaphoreReleaseError::Overflow));
    for _ in 0..3 {
        sem.acquire();
    }
    sem.release_n(2).unwrap();
    sem.release();
    assert_eq!(sem.value(), SEMAPHORE_VALUE_MAX);
    assert_eq!(sem.release_n(1), Err(SemaphoreReleaseError::Overflow));
    assert_eq!(sem.value(), SEMAPHORE_VALUE_MAX);
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity writes at most its
    // size into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Pins the calling thread to `cpu` (best effort: a failure leaves it where it is).
fn pin_to(cpu: usize) {
    // SAFETY: as in `allowed_cpus`; the set names one CPU of ours.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Threads that move from CPU to CPU while they hold units, so that a unit taken from one
/// CPU's shard of a `Semaphore(2)` is given back to another's and waiters park and wake across
/// shards: never more than 2 holders, nobody hangs, and both units are back at the end.
#[test]
fn semaphore_stress_threads_moving_between_cpus_keep_the_units() {
    let cycles = stress(3000);
    let cpus = allowed_cpus();
    let sem = Semaphore::new(2);
    let holders = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..4usize {
            let (sem, holders, cpus) = (&sem, &holders, &cpus);
            s.spawn(move || {
                for i in 0..cycles {
                    let got = match (t + i) % 3 {
                        0 => {
                            sem.acquire();
                            true
                        }
                        1 => sem.acquire_timeout(Duration::from_micros(50)).unwrap(),
                        _ => sem.try_acquire(),
                    };
                    if !cpus.is_empty() && i % 16 == t {
                        // Taken on one CPU, given back on the next.
                        pin_to(cpus[(i / 16 + t) % cpus.len()]);
                    }
                    if got {
                        let now = holders.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(now <= 2, "{now} holders of a semaphore of 2");
                        holders.fetch_sub(1, Ordering::SeqCst);
                        sem.release();
                    }
                }
            });
        }
    });
    assert_eq!(sem.value(), 2, "every unit back");
    assert!(sem.try_acquire() && sem.try_acquire() && !sem.try_acquire());
}

#[test]
fn bounded_semaphore_refuses_extra_releases() {
    let sem = BoundedSemaphore::new(2);
    assert_eq!(sem.release(), Err(SemaphoreReleaseError::TooMany));
    assert_eq!(
        sem.release().unwrap_err().to_string(),
        "Semaphore released too many times"
    );
    std::thread::scope(|s| {
        s.spawn(|| {
            sem.acquire();
            sem.acquire();
        });
    });
    assert_eq!(sem.release_n(3), Err(SemaphoreReleaseError::TooMany));
    assert_eq!(sem.value(), 0); // all or nothing
    sem.release_n(2).unwrap();
    assert_eq!(sem.value(), 2);
}

#[test]
fn bounded_semaphore_permit_reports_a_stray_release() {
    let sem = BoundedSemaphore::new(1);
    let p = sem.acquire_permit();
    sem.release().unwrap();
    assert_eq!(p.release(), Err(SemaphoreReleaseError::TooMany));
    let p = sem.try_acquire_permit().unwrap();
    sem.release().unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(p)));
    let msg = panicked.unwrap_err();
    let msg = msg.downcast_ref::<String>().unwrap();
    assert!(msg.contains("Semaphore released too many times"), "{msg}");
    assert_eq!(sem.value(), 1);
}

// ---------------------------------------------------------------- Event

#[test]
fn event_set_wakes_every_waiter() {
    let ev = Event::new();
    let woke = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                assert_eq!(ev.wait_timeout(LONG), Ok(true));
                woke.fetch_add(1, Ordering::SeqCst);
            });
        }
        until("4 waiting", || ev.waiting() == 4);
        ev.set();
    });
    assert_eq!(woke.load(Ordering::SeqCst), 4);
    assert!(ev.is_set());
}

#[test]
fn event_set_then_clear_still_wakes_pending_waiters() {
    for _ in 0..stress(50) {
        let ev = Event::new();
        std::thread::scope(|s| {
            let hs: Vec<_> = (0..3).map(|_| s.spawn(|| ev.wait_timeout(LONG))).collect();
            until("3 waiting", || ev.waiting() == 3);
            ev.set();
            ev.clear();
            for h in hs {
                assert_eq!(h.join().unwrap(), Ok(true));
            }
        });
        assert!(!ev.is_set());
    }
}

#[test]
fn event_timeouts() {
    let ev = Event::new();
    let t = Instant::now();
    assert_eq!(ev.wait_timeout(SHORT), Ok(false));
    assert!(t.elapsed() >= SHORT);
    assert!(!ev.wait_until(Instant::now() + Duration::from_millis(5)));
    assert!(ev.wait_timeout(Duration::MAX).is_err());
    ev.set();
    assert_eq!(ev.wait_timeout(Duration::MAX), Ok(true)); // already set: no deadline needed
    ev.clear();
    assert!(!ev.is_set());
    assert_eq!(ev.waiting(), 0);
}

// ---------------------------------------------------------------- Barrier

#[test]
fn barrier_indices_are_distinct_every_generation_and_action_runs_once() {
    let gens = stress(200);
    let actions = Arc::new(AtomicUsize::new(0));
    let a = Arc::clone(&actions);
    let barrier = Barrier::builder(4)
        .action(move || {
            a.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let seen = Lock::new(vec![0u32; gens]);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for g in 0..gens {
                    let i = barrier.wait().unwrap();
                    assert!(i < 4);
                    // Action of generation g has run before anyone is released.
                    assert!(actions.load(Ordering::SeqCst) > g);
                    seen.lock()[g] |= 1 << i;
                }
            });
        }
    });
    assert!(seen.lock().iter().all(|&m| m == 0b1111));
    assert_eq!(actions.load(Ordering::SeqCst), gens);
}

#[test]
fn barrier_timeout_breaks_it_for_everyone() {
    let barrier = Barrier::new(3).unwrap();
    std::thread::scope(|s| {
        let patient = s.spawn(|| barrier.wait_timeout(LONG));
        until("one waiting", || barrier.n_waiting() == 1);
        let t = Instant::now();
        assert_eq!(barrier.wait_timeout(SHORT), Err(BarrierWaitError::TimedOut));
        assert!(t.elapsed() >= SHORT);
        assert_eq!(patient.join().unwrap(), Err(BarrierWaitError::Broken));
    });
    assert!(barrier.broken());
    assert_eq!(barrier.wait(), Err(BarrierWaitError::Broken));
    barrier.reset();
    assert!(!barrier.broken());
}

#[test]
fn barrier_default_timeout() {
    let barrier = Barrier::builder(2).timeout(SHORT).build().unwrap();
    let t = Instant::now();
    assert_eq!(barrier.wait(), Err(BarrierWaitError::TimedOut));
    assert!(t.elapsed() >= SHORT);
    barrier.reset();
    // A per-call timeout overrides the default.
    std::thread::scope(|s| {
        let h = s.spawn(|| barrier.wait_timeout(LONG));
        until("one waiting", || barrier.n_waiting() == 1);
        assert_eq!(barrier.wait_timeout(LONG), Ok(1));
        assert_eq!(h.join().unwrap(), Ok(0));
    });
}

#[test]
fn barrier_abort_wakes_waiters() {
    let barrier = Barrier::new(3).unwrap();
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| s.spawn(|| barrier.wait_timeout(LONG)))
            .collect();
        until("two waiting", || barrier.n_waiting() == 2);
        barrier.abort();
        for h in hs {
            assert_eq!(h.join().unwrap(), Err(BarrierWaitError::Broken));
        }
    });
    assert!(barrier.broken());
    assert_eq!(barrier.n_waiting(), 0);
}

#[test]
fn barrier_reset_while_waiting_breaks_the_waiters_then_is_usable() {
    let barrier = Barrier::new(2).unwrap();
    std::thread::scope(|s| {
        let h = s.spawn(|| barrier.wait_timeout(LONG));
        until("one waiting", || barrier.n_waiting() == 1);
        barrier.reset();
        assert_eq!(h.join().unwrap(), Err(BarrierWaitError::Broken));
    });
    assert!(!barrier.broken());
    std::thread::scope(|s| {
        let h = s.spawn(|| barrier.wait());
        let mine = barrier.wait().unwrap();
        let theirs = h.join().unwrap().unwrap();
        assert_eq!(mine + theirs, 1);
    });
}

#[test]
fn barrier_panicking_action_breaks_it_and_reports_the_message() {
    let barrier = Barrier::builder(2)
        .action(|| panic!("action failed"))
        .build()
        .unwrap();
    std::thread::scope(|s| {
        let h = s.spawn(|| barrier.wait_timeout(LONG));
        until("one waiting", || barrier.n_waiting() == 1);
        let err = barrier.wait().unwrap_err();
        assert_eq!(
            err,
            BarrierWaitError::ActionPanicked("action failed".into())
        );
        assert!(err.to_string().contains("action failed"));
        assert_eq!(h.join().unwrap(), Err(BarrierWaitError::Broken));
    });
    assert!(barrier.broken());
}

#[test]
fn barrier_bad_arguments() {
    assert_eq!(
        Barrier::new(0).unwrap_err().to_string(),
        "parties must be > 0"
    );
    assert!(Barrier::builder(0).build().is_err());
    let b = Barrier::new(2).unwrap();
    assert!(matches!(
        b.wait_timeout(Duration::MAX),
        Err(BarrierWaitError::Overflow(_))
    ));
    assert!(!b.broken());
    assert_eq!(b.n_waiting(), 0);
    assert_eq!(b.parties(), 2);
}

// ---------------------------------------------------------------- Timer

#[test]
fn timer_fires_after_the_delay_on_a_named_thread() {
    let (tx, rx) = mpsc::channel();
    let t0 = Instant::now();
    let timer = Timer::start(SHORT, move || {
        tx.send((t0.elapsed(), threadkit::thread::current().name().to_owned()))
            .unwrap();
    })
    .unwrap();
    let (elapsed, name) = rx.recv_timeout(LONG).unwrap();
    assert!(elapsed >= SHORT);
    assert!(
        name.starts_with("Thread-") && name.ends_with(" (timer)"),
        "{name}"
    );
    assert!(!timer.cancel());
    assert_eq!(timer.runs(), 1);
    timer.join().unwrap();
}

#[test]
fn timer_cancel_in_time_prevents_the_call() {
    let ran = Arc::new(AtomicBool::new(false));
    let r = Arc::clone(&ran);
    let timer = Timer::start(Duration::from_secs(30), move || {
        r.store(true, Ordering::SeqCst)
    })
    .unwrap();
    assert!(timer.is_alive());
    assert!(timer.cancel());
    assert!(!timer.cancel());
    timer.join().unwrap();
    assert!(!ran.load(Ordering::SeqCst));
}

#[test]
fn timer_cancel_races_firing_and_answers_truthfully() {
    for _ in 0..stress(50) {
        let ran = Arc::new(AtomicBool::new(false));
        let r = Arc::clone(&ran);
        let timer = Timer::start(Duration::from_micros(100), move || {
            r.store(true, Ordering::SeqCst)
        })
        .unwrap();
        let cancelled = timer.cancel();
        timer.join().unwrap();
        assert_eq!(cancelled, !ran.load(Ordering::SeqCst));
    }
}

#[test]
fn repeating_timer_runs_until_cancelled() {
    let ticks = Arc::new(AtomicUsize::new(0));
    let t2 = Arc::clone(&ticks);
    let timer = Timer::builder()
        .name("ticker")
        .start_repeating(Duration::from_millis(2), move || {
            t2.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    assert_eq!(timer.name(), "ticker");
    until("3 ticks", || ticks.load(Ordering::SeqCst) >= 3);
    assert!(timer.cancel());
    let runs = timer.runs();
    timer.join().unwrap();
    // No run starts after cancel returned (one may have been in progress).
    assert!(ticks.load(Ordering::SeqCst) as u64 <= runs);
    assert!(runs >= 3);
}

#[test]
fn timer_errors() {
    assert!(matches!(
        Timer::start(Duration::MAX, || ()),
        Err(TimerError::Overflow(_))
    ));
    assert!(matches!(
        Timer::repeating(Duration::MAX, || ()),
        Err(TimerError::Overflow(_))
    ));
    let t = Timer::start(Duration::ZERO, || panic!("timer boom")).unwrap();
    assert_eq!(t.join().unwrap_err().message(), "timer boom");
}

#[test]
fn barrier_action_may_abort_its_own_barrier() {
    static B: std::sync::OnceLock<Barrier> = std::sync::OnceLock::new();
    let b = B.get_or_init(|| {
        Barrier::builder(2)
            .action(|| B.get().expect("built").abort())
            .build()
            .unwrap()
    });
    std::thread::scope(|s| {
        let h = s.spawn(|| b.wait_timeout(LONG));
        let mine = b.wait();
        let theirs = h.join().unwrap();
        assert_eq!(mine, Err(BarrierWaitError::Broken));
        assert_eq!(theirs, Err(BarrierWaitError::Broken));
    });
    assert!(b.broken());
    b.reset();
    assert!(!b.broken());
}
