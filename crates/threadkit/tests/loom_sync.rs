//! loom model tests of `threadkit::sync`: every interleaving (up to LOOM_MAX_PREEMPTIONS) of
//! small scenarios, run on the real code over loom's primitives.
//!
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p threadkit --release --test loom_sync`

#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use std::time::Duration;
use threadkit::sync::{Barrier, BarrierWaitError, Condition, Event, Lock, RLock, Semaphore};

/// A read-modify-write that is only correct under mutual exclusion.
fn bump(a: &AtomicUsize) {
    let v = a.load(Ordering::Relaxed);
    a.store(v + 1, Ordering::Relaxed);
}

#[test]
fn lock_excludes_and_racing_releases_unlock_once() {
    loom::model(|| {
        let lock = Arc::new(Lock::new(()));
        let n = Arc::new(AtomicUsize::new(0));
        let (l2, n2) = (Arc::clone(&lock), Arc::clone(&n));
        let t = thread::spawn(move || {
            l2.acquire();
            bump(&n2);
            l2.release().is_ok()
        });
        let released_by_main = {
            let _g = lock.lock();
            bump(&n);
            // Held by our guard: release() must refuse, whatever the other thread does.
            lock.release().is_ok()
        };
        assert!(!released_by_main);
        assert!(t.join().unwrap());
        assert_eq!(n.load(Ordering::Relaxed), 2);
        assert!(lock.release().is_err());
    });
}

#[test]
fn lock_two_releasers_one_wins() {
    loom::model(|| {
        let lock = Arc::new(Lock::new(()));
        lock.acquire();
        let l2 = Arc::clone(&lock);
        let t = thread::spawn(move || l2.release().is_ok());
        let mine = lock.release().is_ok();
        let theirs = t.join().unwrap();
        assert!(mine ^ theirs, "exactly one release succeeds");
        assert!(!lock.locked());
    });
}

#[test]
fn rlock_reentry_excludes_and_checks_owner() {
    loom::model(|| {
        let lock = Arc::new(RLock::new(()));
        let n = Arc::new(AtomicUsize::new(0));
        let (l2, n2) = (Arc::clone(&lock), Arc::clone(&n));
        let t = thread::spawn(move || {
            let _a = l2.lock();
            l2.acquire();
            bump(&n2);
            l2.release().unwrap();
        });
        {
            lock.acquire();
            let _b = lock.lock();
            bump(&n);
            lock.release().unwrap();
            // Only guard levels left: release refuses.
            assert!(lock.release().is_err());
        }
        t.join().unwrap();
        assert_eq!(n.load(Ordering::Relaxed), 2);
        assert!(!lock.locked());
    });
}

#[test]
fn rlock_non_owner_cannot_release() {
    loom::model(|| {
        let lock = Arc::new(RLock::new(()));
        lock.acquire();
        let l2 = Arc::clone(&lock);
        let t = thread::spawn(move || l2.release().is_err());
        assert!(t.join().unwrap());
        lock.release().unwrap();
    });
}

#[test]
fn condition_over_rlock_gives_back_every_level() {
    loom::model(|| {
        let cond = Arc::new(Condition::new(AtomicUsize::new(0)));
        let c2 = Arc::clone(&cond);
        let t = thread::spawn(move || {
            let g = c2.lock();
            g.store(1, Ordering::Relaxed);
            c2.notify_all().unwrap();
        });
        cond.inner_lock().acquire(); // depth 2 while waiting
        let mut g = cond.lock();
        cond.wait_for(&mut g, |g| g.load(Ordering::Relaxed) == 1)
            .unwrap();
        assert!(cond.inner_lock().is_owned());
        cond.inner_lock().release().unwrap();
        drop(g);
        t.join().unwrap();
        assert!(!cond.inner_lock().locked());
    });
}

#[test]
fn condition_over_lock_no_lost_wakeup() {
    loom::model(|| {
        let cond = Arc::new(Condition::with_lock(Lock::new(false)));
        let c2 = Arc::clone(&cond);
        let t = thread::spawn(move || {
            let mut g = c2.lock();
            *g = true;
            c2.notify(1).unwrap();
        });
        let mut g = cond.lock();
        while !*g {
            cond.wait(&mut g).unwrap();
        }
        drop(g);
        t.join().unwrap();
    });
}

/// `threads` threads (the model's main one included) through a `Semaphore(1)`, each bumping
/// a counter under a permit: mutual exclusion holds (the unsynchronised read-modify-write loses
/// no update) and nobody hangs (a lost wake-up leaves a parked thread blocked: loom reports the
/// deadlock).
fn semaphore_one_unit_excludes(threads: usize) {
    loom::model(move || {
        let sem = Arc::new(Semaphore::new(1));
        let n = Arc::new(AtomicUsize::new(0));
        let ts: Vec<_> = (1..threads)
            .map(|_| {
                let (s, n) = (Arc::clone(&sem), Arc::clone(&n));
                thread::spawn(move || {
                    let _p = s.acquire_permit();
                    bump(&n);
                })
            })
            .collect();
        {
            let _p = sem.acquire_permit();
            bump(&n);
        }
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(n.load(Ordering::Relaxed), threads);
        assert_eq!(sem.value(), 1);
    });
}

#[test]
fn semaphore_excludes_and_wakes() {
    semaphore_one_unit_excludes(2);
}

#[test]
fn semaphore_one_unit_three_threads_exclude() {
    semaphore_one_unit_excludes(3);
}

#[test]
fn semaphore_release_wakes_a_blocked_acquirer() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let s2 = Arc::clone(&sem);
        let t = thread::spawn(move || s2.acquire());
        sem.release();
        t.join().unwrap();
        assert_eq!(sem.value(), 0);
    });
}

/// An acquirer whose timeout expires just as a release adds a unit and wakes it: one release,
/// one acquisition, whichever side of the release the timeout falls on (the word is the only
/// count: a unit is neither lost nor taken twice).
#[test]
fn semaphore_timeout_racing_a_release_keeps_the_unit() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let s2 = Arc::clone(&sem);
        let t = thread::spawn(move || s2.acquire_timeout(Duration::ZERO).unwrap());
        sem.release();
        let got = usize::from(t.join().unwrap());
        let more = (0..2)
            .filter(|_| sem.acquire_timeout(Duration::ZERO).unwrap())
            .count();
        assert_eq!(got + more, 1, "one release, one acquisition");
        assert_eq!(sem.value(), 0);
    });
}

/// A release wakes a parked acquirer, but the releasing thread takes the unit back first
/// (barging): the woken thread must park again and be woken by the next release, not sleep
/// through it.
#[test]
fn semaphore_woken_acquirer_beaten_to_the_unit_parks_again() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let s2 = Arc::clone(&sem);
        let t = thread::spawn(move || {
            s2.acquire();
            s2.release();
        });
        sem.release();
        sem.acquire();
        sem.release();
        t.join().unwrap();
        assert_eq!(sem.value(), 1);
    });
}

/// A `Semaphore(1)`'s unit moves between the two shards of a model (thread `i` keeps to shard
/// `i % 2`, the main thread to shard 0): threads 1 and 2 take it and give it back each on its
/// own shard while the other may be parked. A release to a shard that misses a parker's mark
/// (no `SeqCst` fence pair) leaves it blocked: loom reports the deadlock.
#[test]
fn semaphore_unit_moving_between_shards_wakes_parked_acquirers() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let s = Arc::clone(&sem);
                thread::spawn(move || {
                    s.acquire();
                    s.release();
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(sem.value(), 1);
    });
}

/// `Semaphore(2)` with both shards full (one unit each in models): a release on a full shard
/// goes to the central word, where an acquirer on the other shard finds it or is woken by it.
#[test]
fn semaphore_release_to_a_full_shard_reaches_the_central_word() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(2));
        sem.acquire();
        sem.acquire();
        sem.release(); // back to shard 0
        let s = Arc::clone(&sem);
        let t = thread::spawn(move || {
            s.acquire();
            s.acquire();
        });
        sem.release(); // shard 0 is full: the central word
        t.join().unwrap();
        assert_eq!(sem.value(), 0);
        assert!(sem.try_acquire() == false);
    });
}

/// Units released on shard 0 (by threads 0 and 2, which can both find room and leave two
/// units there) taken by thread 1 from shard 1: it takes all of shard 0's units at once and
/// puts the spare one on its own shard, while thread 3 (also on shard 1) may have looked at
/// every shard with the spare in no word and parked. Putting it back must wake thread 3, or
/// it stays blocked (loom reports the deadlock).
#[test]
fn semaphore_units_taken_in_a_batch_from_another_shard_are_all_found() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let s1 = Arc::clone(&sem);
        let taker = thread::spawn(move || s1.acquire());
        let s2 = Arc::clone(&sem);
        let releaser = thread::spawn(move || s2.release());
        let s3 = Arc::clone(&sem);
        let waiter = thread::spawn(move || s3.acquire());
        sem.release();
        releaser.join().unwrap();
        taker.join().unwrap();
        waiter.join().unwrap();
        assert_eq!(sem.value(), 0);
    });
}

/// Two releases of a `BoundedSemaphore(1)` holding one unit taken: exactly one succeeds,
/// the other is `Err(TooMany)`, and the value ends at the bound.
#[test]
fn bounded_semaphore_racing_over_release_is_an_err() {
    loom::model(|| {
        let sem = Arc::new(threadkit::sync::BoundedSemaphore::new(1));
        sem.acquire();
        let s2 = Arc::clone(&sem);
        let t = thread::spawn(move || s2.release().is_ok());
        let mine = sem.release();
        let theirs = t.join().unwrap();
        assert!(
            mine.is_ok() ^ theirs,
            "exactly one release fits under the bound"
        );
        if let Err(e) = mine {
            assert_eq!(e, threadkit::sync::SemaphoreReleaseError::TooMany);
        }
        assert_eq!(sem.value(), 1);
    });
}

/// A waiter that times out and one that waits share the releases: whatever the timed one got,
/// the other is woken by a unit of its own (a lost unit leaves it blocked: loom reports the
/// deadlock).
#[test]
fn semaphore_timed_and_untimed_waiters_both_served() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let (sa, sb) = (Arc::clone(&sem), Arc::clone(&sem));
        let a = thread::spawn(move || sa.acquire());
        let b = thread::spawn(move || sb.acquire_timeout(Duration::ZERO).unwrap());
        sem.release();
        if b.join().unwrap() {
            sem.release();
        }
        a.join().unwrap();
        assert_eq!(sem.value(), 0);
    });
}

/// As above with two untimed waiters sharing `release_n(2)` with the timed one, which can be
/// woken by that release and take a unit or time out just as it comes. Every acquirer
/// finishes and no unit is made up.
#[test]
fn semaphore_timed_waiter_and_two_untimed_share_two_units() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let s = Arc::clone(&sem);
                thread::spawn(move || s.acquire())
            })
            .collect();
        let s = Arc::clone(&sem);
        let timed = thread::spawn(move || s.acquire_timeout(Duration::ZERO).unwrap());
        sem.release_n(2).unwrap();
        if timed.join().unwrap() {
            sem.release();
        }
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(sem.value(), 0);
    });
}

#[test]
fn event_set_wakes_waiter() {
    loom::model(|| {
        let ev = Arc::new(Event::new());
        let e2 = Arc::clone(&ev);
        let t = thread::spawn(move || e2.wait());
        ev.set();
        t.join().unwrap();
        assert!(ev.is_set());
    });
}

#[test]
fn event_set_then_clear_wakes_a_pending_waiter() {
    loom::model(|| {
        let ev = Arc::new(Event::new());
        let e2 = Arc::clone(&ev);
        let t = thread::spawn(move || e2.wait());
        while ev.waiting() == 0 {
            thread::yield_now();
        }
        ev.set();
        ev.clear();
        t.join().unwrap();
        assert!(!ev.is_set());
    });
}

#[test]
fn barrier_indices_and_action() {
    loom::model(|| {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&runs);
        let b = Arc::new(
            Barrier::builder(2)
                .action(move || {
                    r.fetch_add(1, Ordering::SeqCst);
                })
                .build()
                .unwrap(),
        );
        let b2 = Arc::clone(&b);
        let runs2 = Arc::clone(&runs);
        let t = thread::spawn(move || {
            let i = b2.wait().unwrap();
            assert_eq!(runs2.load(Ordering::SeqCst), 1);
            i
        });
        let mine = b.wait().unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let theirs = t.join().unwrap();
        assert_eq!(mine + theirs, 1);
    });
}

#[test]
fn barrier_abort_never_leaves_a_waiter_hanging() {
    loom::model(|| {
        let b = Arc::new(Barrier::new(2).unwrap());
        let b2 = Arc::clone(&b);
        let t = thread::spawn(move || b2.wait());
        b.abort();
        assert_eq!(t.join().unwrap(), Err(BarrierWaitError::Broken));
        assert!(b.broken());
    });
}

#[test]
fn barrier_reset_while_waiting_then_reusable() {
    loom::model(|| {
        let b = Arc::new(Barrier::new(2).unwrap());
        let b2 = Arc::clone(&b);
        let t = thread::spawn(move || b2.wait());
        while b.n_waiting() == 0 {
            thread::yield_now();
        }
        b.reset();
        assert_eq!(t.join().unwrap(), Err(BarrierWaitError::Broken));
        assert!(!b.broken());
        assert_eq!(b.n_waiting(), 0);
    });
}

#[test]
fn condition_notify_one_twice_wakes_both_waiters() {
    loom::model(|| {
        let cond = Arc::new(Condition::with_lock(Lock::new(0usize)));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let c = Arc::clone(&cond);
                thread::spawn(move || {
                    let mut g = c.lock();
                    c.wait_for(&mut g, |g| **g > 0).unwrap();
                    *g -= 1;
                })
            })
            .collect();
        for _ in 0..2 {
            let mut g = cond.lock();
            *g += 1;
            cond.notify(1).unwrap();
        }
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(*cond.lock(), 0);
    });
}

#[test]
fn semaphore_release_n_wakes_every_waiter() {
    loom::model(|| {
        let sem = Arc::new(threadkit::sync::BoundedSemaphore::new(2));
        sem.acquire();
        sem.acquire();
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let s = Arc::clone(&sem);
                thread::spawn(move || s.acquire())
            })
            .collect();
        sem.release_n(2).unwrap();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(sem.value(), 0);
        assert!(sem.release_n(3).is_err());
    });
}

/// A wait that unwinds on its way back (as a deadlock report can) takes its lock back before
/// the panic leaves it: the caller's guard then unlocks a lock it holds, never one another
/// thread holds. Without that, the guard's unlock of the lock model fails its "locked" check
/// or breaks the exclusion the counter checks.
#[test]
fn condition_wait_that_unwinds_takes_its_lock_back_first() {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    loom::model(|| {
        let cond = Arc::new(Condition::with_lock(Lock::new(AtomicUsize::new(0))));
        let c2 = Arc::clone(&cond);
        let t = thread::spawn(move || {
            let g = c2.lock();
            bump(&g);
            c2.notify(1).unwrap();
        });
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut g = cond.lock();
            threadkit::sync::loom_panic_after_next_wake();
            while g.load(Ordering::Relaxed) == 0 {
                cond.wait(&mut g).unwrap();
            }
            bump(&g);
        }));
        t.join().unwrap();
        // Either the wait unwound (and the counter saw only the other thread) or it never had
        // to wait (the other thread went first) and both bumps happened.
        let n = cond.lock().load(Ordering::Relaxed);
        match outcome {
            Err(_) => assert_eq!(n, 1),
            Ok(()) => assert_eq!(n, 2),
        }
        assert!(!cond.inner_lock().locked());
    });
}
