//! The deadlock detector (feature `deadlock-detection`): self-deadlock, lock-order inversion,
//! RLock reentry, the stuck-thread watchdog, and no false reports from correct code.
//!
//! Reports are process-wide, so every test takes the `serial()` guard and looks only at the
//! reports that name its own locks.
#![cfg(all(feature = "deadlock-detection", not(loom)))]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use threadkit::sync::deadlock::{self, Reaction, Report, Resource, ResourceKind, Watchdog};
use threadkit::sync::{Barrier, Condition, Event, Lock, RLock, Semaphore};
use threadkit::thread::Builder;

const GENEROUS: Duration = Duration::from_secs(10);

/// Serialises the tests (the reaction and the callback are process-wide) and makes reports
/// values, whatever `THREADKIT_DEADLOCK` says.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    deadlock::set_reaction(Reaction::Report);
    deadlock::clear_report_callback();
    g
}

/// Every report from now on, through the callback.
fn report_channel() -> Receiver<Report> {
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    deadlock::set_report_callback(move |r| {
        let _ = tx.lock().unwrap().send(r.clone());
    });
    rx
}

fn reports_about(r: Resource) -> Vec<Report> {
    deadlock::reports()
        .into_iter()
        .filter(|rep| rep.involves(r))
        .collect()
}

fn named<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    Builder::new().name(name).spawn(f).unwrap().join().unwrap()
}

#[test]
fn ab_ba_inversion_is_reported_without_a_deadlock() {
    let _s = serial();
    let a = Arc::new(Lock::new(()));
    let b = Arc::new(Lock::new(()));
    let (ra, rb) = (a.deadlock_resource(), b.deadlock_resource());
    let (a1, b1) = (Arc::clone(&a), Arc::clone(&b));
    named("first", move || {
        let _ga = a1.lock();
        let _gb = b1.lock(); // A then B
    });
    assert!(reports_about(ra).is_empty(), "one order alone is fine");
    let (a2, b2) = (Arc::clone(&a), Arc::clone(&b));
    named("second", move || {
        let _gb = b2.lock();
        let _ga = a2.lock(); // B then A: closes the cycle; no deadlock (first is done)
    });
    let found = reports_about(ra);
    assert_eq!(found.len(), 1, "{found:?}");
    let Report::LockOrderInversion(inv) = &found[0] else {
        panic!("not an inversion: {}", found[0]);
    };
    assert_eq!(inv.cycle.len(), 2);
    let (now, earlier) = (&inv.cycle[0], &inv.cycle[1]);
    assert_eq!((now.from, now.to), (rb, ra));
    assert_eq!(now.thread, "second");
    assert_eq!((earlier.from, earlier.to), (ra, rb));
    assert_eq!(earlier.thread, "first");
    for site in [now.from_at, now.to_at, earlier.from_at, earlier.to_at] {
        assert!(site.file().ends_with("deadlock.rs"), "{site}");
    }
    assert!(now.to_at.line() > earlier.to_at.line());
    let text = found[0].to_string();
    assert!(text.starts_with("lock order inversion"), "{text}");
    assert!(
        text.contains("'first'") && text.contains("'second'"),
        "{text}"
    );
    assert!(text.contains(&ra.to_string()) && text.contains(&rb.to_string()));

    // Taking the same orders again reports nothing new.
    drop((b.lock(), a.lock()));
    drop((a.lock(), b.lock()));
    assert_eq!(reports_about(ra).len(), 1);
}

#[test]
fn three_lock_cycle_is_reported_with_every_edge() {
    let _s = serial();
    let rx = report_channel();
    let (a, b, c) = (Lock::new(()), RLock::new(()), Lock::new(()));
    drop((a.lock(), b.lock()));
    drop((b.lock(), c.lock()));
    assert!(rx.try_recv().is_err());
    drop((c.lock(), a.lock()));
    let Report::LockOrderInversion(inv) = rx.recv_timeout(GENEROUS).unwrap() else {
        panic!("expected an inversion");
    };
    let kinds: Vec<_> = inv.cycle.iter().map(|e| e.to.kind).collect();
    assert_eq!(
        kinds,
        [ResourceKind::Lock, ResourceKind::RLock, ResourceKind::Lock]
    );
    assert_eq!(inv.cycle[0].from, c.deadlock_resource());
    for w in inv.cycle.windows(2) {
        assert_eq!(w[0].to, w[1].from);
    }
    assert_eq!(inv.cycle[2].to, inv.cycle[0].from);
}

#[test]
fn self_deadlock_on_acquire_panics_instead_of_hanging() {
    let _s = serial();
    // Seed 004: `l.acquire(); l.acquire()`.
    let lock = Lock::new(());
    lock.acquire();
    let err = catch_unwind(AssertUnwindSafe(|| lock.acquire())).unwrap_err();
    let message = err.downcast::<String>().unwrap();
    assert!(message.starts_with("self-deadlock: thread"), "{message}");
    assert!(message.contains("already holds it"), "{message}");
    let found = reports_about(lock.deadlock_resource());
    let [Report::SelfDeadlock(s)] = found.as_slice() else {
        panic!("{found:?}");
    };
    assert!(s.again_at.line() > s.held_at.line());
    assert!(s.held_at.file().ends_with("deadlock.rs"));
    // The lock is still held once (the second acquire never happened) and works afterwards.
    lock.release().unwrap();
    assert!(lock.release().is_err());
    drop(lock.lock());
}

#[test]
fn self_deadlock_through_a_guard_and_through_a_condition_lock() {
    let _s = serial();
    let lock = Lock::new(1);
    let g = lock.lock();
    let err = catch_unwind(AssertUnwindSafe(|| *lock.lock() + 1)).unwrap_err();
    assert!(err.downcast::<String>().unwrap().contains("self-deadlock"));
    drop(g);
    let cond = Condition::with_lock(Lock::new(()));
    let g = cond.lock();
    let err = catch_unwind(AssertUnwindSafe(|| drop(cond.lock()))).unwrap_err();
    assert!(err.downcast::<String>().unwrap().contains("self-deadlock"));
    drop(g);
    drop(cond.lock());
}

#[test]
fn timed_and_try_self_acquire_behave_as_without_the_feature() {
    let _s = serial();
    // Seed 000: "Got lock, Getting lock again ..." then "Gave up waiting".
    let lock = Lock::new(());
    lock.acquire();
    assert_eq!(lock.acquire_timeout(Duration::from_millis(30)), Ok(false));
    assert!(!lock.try_acquire());
    assert!(lock.try_lock().is_none());
    lock.release().unwrap();
    assert!(reports_about(lock.deadlock_resource()).is_empty());
}

#[test]
fn rlock_reentry_is_not_reported() {
    let _s = serial();
    let r = RLock::new(());
    let inner = Lock::new(());
    r.acquire();
    r.acquire();
    {
        let _g = r.lock();
        let _i = inner.lock();
        let _g2 = r.lock(); // reentry while holding `inner`: no edge inner -> r
    }
    r.release().unwrap();
    r.release().unwrap();
    drop((r.lock(), inner.lock()));
    assert!(reports_about(r.deadlock_resource()).is_empty());
    assert!(reports_about(inner.deadlock_resource()).is_empty());
}

#[test]
fn lock_released_by_another_thread_is_not_a_self_deadlock() {
    let _s = serial();
    let lock = Arc::new(Lock::new(()));
    let other = Lock::new(());
    lock.acquire();
    let l2 = Arc::clone(&lock);
    named("releaser", move || l2.release().unwrap());
    // No longer held by this thread: taking it again (and nesting) is fine.
    let g = lock.lock();
    drop(other.lock());
    drop(g);
    drop((other.lock(), lock.try_lock()));
    assert!(reports_about(lock.deadlock_resource()).is_empty());
    assert!(reports_about(other.deadlock_resource()).is_empty());
}

#[test]
fn condition_wait_and_consistent_nesting_give_no_false_report() {
    let _s = serial();
    let outer = Lock::new(());
    let inner = Arc::new(Lock::new(()));
    let cond = Arc::new(Condition::with_lock(Lock::new(false)));
    let (i2, c2) = (Arc::clone(&inner), Arc::clone(&cond));
    let notifier = Builder::new()
        .name("notifier")
        .spawn(move || {
            let mut g = c2.lock();
            *g = true;
            drop(i2.lock()); // cond's lock -> inner
            c2.notify_all().unwrap();
        })
        .unwrap();
    {
        let _o = outer.lock();
        let mut ready = cond.lock(); // outer -> cond's lock
                                     // The wait gives the condition's lock back and takes it again while `outer` is held.
        assert!(cond
            .wait_for_timeout(&mut ready, GENEROUS, |r| **r)
            .unwrap());
        drop(inner.lock()); // cond's lock -> inner, again
    }
    notifier.join().unwrap();
    drop((outer.lock(), inner.lock()));
    for r in [outer.deadlock_resource(), inner.deadlock_resource()] {
        assert!(reports_about(r).is_empty());
    }
}

#[test]
fn inversion_reaction_panic_panics_before_blocking() {
    let _s = serial();
    let (a, b) = (Lock::new(()), Lock::new(()));
    drop((a.lock(), b.lock()));
    deadlock::set_reaction(Reaction::Panic);
    let gb = b.lock();
    let err = catch_unwind(AssertUnwindSafe(|| drop(a.lock()))).unwrap_err();
    deadlock::set_reaction(Reaction::Report);
    assert!(err
        .downcast::<String>()
        .unwrap()
        .starts_with("lock order inversion"));
    // `a` was not taken; `b` is still held by its guard.
    assert!(!a.locked());
    drop(gb);
    assert!(!b.locked());
}

#[test]
fn watchdog_names_the_waiter_and_the_holder() {
    let _s = serial();
    let rx = report_channel();
    let dog = Watchdog::start(Duration::from_millis(50));
    let lock = Arc::new(Lock::new(()));
    let held = Arc::new(Event::new());
    let go = Arc::new(Event::new());
    let (l1, h1, g1) = (Arc::clone(&lock), Arc::clone(&held), Arc::clone(&go));
    let holder = Builder::new()
        .name("holder")
        .spawn(move || {
            let _g = l1.lock();
            h1.set();
            assert!(g1.wait_timeout(GENEROUS).unwrap());
        })
        .unwrap();
    let (l2, h2) = (Arc::clone(&lock), Arc::clone(&held));
    let waiter = Builder::new()
        .name("waiter")
        .spawn(move || {
            assert!(h2.wait_timeout(GENEROUS).unwrap());
            l2.lock_timeout(GENEROUS).unwrap().is_some()
        })
        .unwrap();
    let want = lock.deadlock_resource();
    let stuck = loop {
        match rx
            .recv_timeout(GENEROUS)
            .expect("the watchdog reported the waiter")
        {
            Report::StuckThread(s) if s.waiting_for == want => break s,
            _ => continue,
        }
    };
    go.set();
    assert!(waiter.join().unwrap());
    holder.join().unwrap();
    dog.stop();
    assert_eq!(stuck.thread, "waiter");
    assert!(stuck.waited >= Duration::from_millis(50));
    assert!(stuck.wait_at.file().ends_with("deadlock.rs"));
    let h = stuck.holder.clone().expect("a lock has a holder");
    assert_eq!(h.thread, "holder");
    assert!(h.acquired_at.unwrap().file().ends_with("deadlock.rs"));
    assert!(
        stuck.cycle.is_empty(),
        "the holder waits on an Event, no cycle"
    );
    let text = Report::StuckThread(stuck).to_string();
    assert!(
        text.contains("'waiter'") && text.contains("held by thread 'holder'"),
        "{text}"
    );
}

#[test]
fn watchdog_reports_a_real_ab_ba_deadlock_as_a_cycle() {
    let _s = serial();
    let rx = report_channel();
    let dog = Watchdog::start(Duration::from_millis(50));
    let a = Arc::new(Lock::new(()));
    let b = Arc::new(Lock::new(()));
    // Both threads hold their first lock before either asks for the second.
    let both = Arc::new(Barrier::new(2).unwrap());
    let spawn = |name: &str, first: &Arc<Lock<()>>, second: &Arc<Lock<()>>| {
        let (f, s, both) = (Arc::clone(first), Arc::clone(second), Arc::clone(&both));
        Builder::new()
            .name(name)
            .spawn(move || {
                let _g = f.lock();
                both.wait_timeout(GENEROUS).unwrap();
                // Deadlocked until the timeout breaks it.
                s.lock_timeout(Duration::from_secs(2)).unwrap().is_some()
            })
            .unwrap()
    };
    let t1 = spawn("ab", &a, &b);
    let t2 = spawn("ba", &b, &a);
    let cycle = loop {
        match rx
            .recv_timeout(GENEROUS)
            .expect("the watchdog reported the deadlock")
        {
            Report::StuckThread(s) if !s.cycle.is_empty() => break s.cycle,
            _ => continue,
        }
    };
    let got = [t1.join().unwrap(), t2.join().unwrap()];
    dog.stop();
    assert!(got.contains(&false), "at least one of them timed out");
    assert_eq!(cycle.len(), 2);
    let mut names: Vec<_> = cycle.iter().map(|l| l.thread.as_str()).collect();
    names.sort();
    assert_eq!(names, ["ab", "ba"]);
    let mut res: Vec<_> = cycle.iter().map(|l| l.waiting_for).collect();
    res.sort_by_key(|r| r.id);
    let mut want = [a.deadlock_resource(), b.deadlock_resource()];
    want.sort_by_key(|r| r.id);
    assert_eq!(res, want);
    // The inversion itself was reported the moment the second order was taken.
    assert!(reports_about(a.deadlock_resource())
        .iter()
        .any(|r| matches!(r, Report::LockOrderInversion(_))));
}

#[test]
fn watchdog_reports_semaphore_barrier_and_condition_waits_without_holder() {
    let _s = serial();
    let rx = report_channel();
    let dog = Watchdog::start(Duration::from_millis(50));
    let sem = Arc::new(Semaphore::new(0));
    let barrier = Arc::new(Barrier::new(2).unwrap());
    let cond = Arc::new(Condition::with_lock(Lock::new(false)));
    let (s1, b1, c1) = (Arc::clone(&sem), Arc::clone(&barrier), Arc::clone(&cond));
    let h = Builder::new()
        .name("blocked")
        .spawn(move || {
            assert_eq!(s1.acquire_timeout(GENEROUS), Ok(true));
            b1.wait_timeout(GENEROUS).unwrap();
            let mut g = c1.lock();
            assert!(c1.wait_for_timeout(&mut g, GENEROUS, |v| **v).unwrap());
        })
        .unwrap();
    let mut seen = Vec::new();
    for (resource, release) in [
        (
            sem.deadlock_resource(),
            Box::new(|| sem.release()) as Box<dyn Fn()>,
        ),
        (
            barrier.deadlock_resource(),
            Box::new(|| {
                barrier.wait_timeout(GENEROUS).unwrap();
            }),
        ),
        (
            cond.deadlock_resource(),
            Box::new(|| {
                let mut g = cond.lock();
                *g = true;
                cond.notify_all().unwrap();
            }),
        ),
    ] {
        let stuck = loop {
            match rx.recv_timeout(GENEROUS).expect("reported") {
                Report::StuckThread(s) if s.waiting_for == resource => break s,
                _ => continue,
            }
        };
        assert_eq!(stuck.thread, "blocked");
        assert!(stuck.holder.is_none());
        // The call site is the test's own line (#[track_caller] down to the wait).
        assert!(
            stuck.wait_at.file().ends_with("deadlock.rs"),
            "{}",
            stuck.wait_at
        );
        seen.push(stuck.waiting_for.kind);
        release();
    }
    h.join().unwrap();
    dog.stop();
    assert_eq!(
        seen,
        [
            ResourceKind::Semaphore,
            ResourceKind::Barrier,
            ResourceKind::Condition
        ]
    );
}

#[test]
fn dropping_a_held_lock_and_many_locks_stays_consistent() {
    let _s = serial();
    let keep = Lock::new(());
    for _ in 0..1000 {
        let l = Lock::new(());
        let _k = keep.lock();
        l.acquire(); // keep -> l, then l is dropped while held
    }
    // Every dropped lock left this thread's stack: a new lock taken under `keep` is fine.
    let other = Lock::new(());
    drop((keep.lock(), other.lock()));
    assert!(reports_about(keep.deadlock_resource()).is_empty());
}

#[test]
fn watchdog_reports_executor_tasks_waiting_on_each_other() {
    use threadkit::executor::{Future, ThreadPool};
    let _s = serial();
    let rx = report_channel();
    let dog = Watchdog::start(Duration::from_millis(50));
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    // Each task waits for the other's future: a cycle through two workers.
    let slots: Arc<[Mutex<Option<Future<bool>>>; 2]> =
        Arc::new([Mutex::new(None), Mutex::new(None)]);
    let submitted = Arc::new(Event::new());
    let task = |other: usize| {
        let (slots, submitted) = (Arc::clone(&slots), Arc::clone(&submitted));
        move || {
            assert!(submitted.wait_timeout(GENEROUS).unwrap());
            let f = slots[other].lock().unwrap().clone().unwrap();
            // Deadlocked until this timeout breaks it.
            f.result_timeout(Duration::from_secs(2)).is_ok()
        }
    };
    let f0 = pool.submit(task(1)).unwrap();
    let f1 = pool.submit(task(0)).unwrap();
    *slots[0].lock().unwrap() = Some(f0.clone());
    *slots[1].lock().unwrap() = Some(f1.clone());
    submitted.set();
    let cycle = loop {
        match rx
            .recv_timeout(GENEROUS)
            .expect("the watchdog reported the tasks")
        {
            Report::StuckThread(s) if s.waiting_for.kind == ResourceKind::Future => {
                if !s.cycle.is_empty() {
                    break s.cycle;
                }
            }
            _ => continue,
        }
    };
    let _ = (f0.result_timeout(GENEROUS), f1.result_timeout(GENEROUS));
    dog.stop();
    assert_eq!(cycle.len(), 2);
    assert!(cycle
        .iter()
        .all(|l| l.waiting_for.kind == ResourceKind::Future));
    assert_ne!(cycle[0].thread, cycle[1].thread);
}

/// What `.ci/run` relies on: with `THREADKIT_DEADLOCK=abort` any report fails the test process.
#[test]
fn env_abort_makes_any_report_fail_the_process() {
    const CHILD: &str = "THREADKIT_DEADLOCK_TEST_CHILD";
    if std::env::var_os(CHILD).is_some() {
        // In the child: no `serial()`, so the reaction comes from the environment.
        let (a, b) = (Lock::new(()), Lock::new(()));
        drop((a.lock(), b.lock()));
        drop((b.lock(), a.lock()));
        std::process::exit(0); // not reached: the inversion aborts
    }
    let _s = serial();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "env_abort_makes_any_report_fail_the_process",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("THREADKIT_DEADLOCK", "abort")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(6), "SIGABRT; {stderr}");
    }
    assert!(stderr.contains("lock order inversion"), "{stderr}");
}

/// Runs `f` when dropped: a probe that looks at a lock while a panic unwinds past it.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// How the report of a lock-order inversion unwinds the reporting thread.
#[derive(Debug, Clone, Copy)]
enum Unwinds {
    /// `Reaction::Panic`.
    Reaction,
    /// A report callback that panics (the reaction is `Report`).
    Callback,
}

/// The soundness issue's scenario, on a condition over `L`: thread `t1` takes the condition's
/// lock A, then B, and waits. Taking A back while holding B closes the cycle A -> B -> A, and
/// the report unwinds `t1`. With `contended`, the main thread holds A when `t1` is notified (the
/// wait must block for A on its way out); otherwise the wait times out with A free.
///
/// Whatever the path, the wait must not leave without A: a probe dropped during the unwinding
/// (before `t1`'s guard) checks with `held` that `t1` holds A, after the main thread let A go.
/// Before the fix, the wait unwound without A and the guard then unlocked a lock it did not
/// hold.
fn wait_unwinding_from_a_report_keeps_its_lock<L>(
    cond: &Condition<L>,
    a: Resource,
    held: impl Fn(&Condition<L>) -> bool + Sync,
    unwinds: Unwinds,
    contended: bool,
) where
    L: threadkit::sync::ConditionLock + Sync,
{
    let b = Lock::new(());
    let reports = match unwinds {
        Unwinds::Reaction => {
            deadlock::set_reaction(Reaction::Panic);
            report_channel()
        }
        Unwinds::Callback => {
            let (tx, rx) = channel();
            let tx = Mutex::new(tx);
            deadlock::set_report_callback(move |r| {
                let _ = tx.lock().unwrap().send(r.clone());
                panic!("report callback panics: {r}");
            });
            rx
        }
    };
    wait_scenario(cond, a, &b, &held, reports, contended);
    deadlock::set_reaction(Reaction::Report);
}

fn wait_scenario<L>(
    cond: &Condition<L>,
    a: Resource,
    b: &Lock<()>,
    held: &(impl Fn(&Condition<L>) -> bool + Sync),
    reports: Receiver<Report>,
    contended: bool,
) where
    L: threadkit::sync::ConditionLock + Sync,
{
    let (released_tx, released_rx) = channel::<()>();
    let released_rx = Mutex::new(released_rx);
    let (holding_tx, holding_rx) = channel::<()>();
    let holding_tx = Mutex::new(holding_tx);
    let held_while_unwinding = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let t1 = s.spawn(|| {
            catch_unwind(AssertUnwindSafe(|| {
                let mut ga = cond.lock();
                let _gb = b.lock(); // A then B
                holding_tx.lock().unwrap().send(()).unwrap();
                let _probe = OnDrop(|| {
                    if contended {
                        // Look only once the main thread has let A go.
                        let _ = released_rx.lock().unwrap().recv_timeout(GENEROUS);
                    }
                    held_while_unwinding.store(held(cond), std::sync::atomic::Ordering::SeqCst);
                });
                if contended {
                    cond.wait(&mut ga).unwrap();
                } else {
                    let _ = cond
                        .wait_timeout(&mut ga, Duration::from_millis(1))
                        .unwrap();
                }
            }))
        });
        holding_rx.recv_timeout(GENEROUS).expect("t1 holds A and B");
        if contended {
            let gm = cond.lock(); // only once t1's wait has given A back (t1 waits by then)
            cond.notify(1).unwrap();
            let report = reports
                .recv_timeout(GENEROUS)
                .expect("the inversion is reported");
            assert!(report.involves(a), "{report}");
            drop(gm);
            released_tx.send(()).unwrap();
        }
        let outcome = t1.join().expect("t1's panic is caught inside it");
        assert!(outcome.is_err(), "the report unwound t1's wait");
    });
    assert!(
        held_while_unwinding.load(std::sync::atomic::Ordering::SeqCst),
        "the wait unwound without its lock (contended: {contended})"
    );
    // t1's guards gave A and B back exactly once: each is free and can be held once.
    std::thread::scope(|s| {
        s.spawn(|| {
            let g = cond.lock();
            assert!(held(cond));
            drop(g);
            assert!(!held(cond));
            let gb = b.try_lock().expect("B is free");
            assert!(b.try_lock().is_none());
            drop(gb);
        });
    });
    assert!(!b.locked());
    deadlock::clear_report_callback();
}

#[test]
fn condition_wait_on_a_lock_never_unwinds_without_it() {
    let _s = serial();
    for unwinds in [Unwinds::Reaction, Unwinds::Callback] {
        for contended in [true, false] {
            let cond = Condition::with_lock(Lock::new(()));
            let a = cond.inner_lock().deadlock_resource();
            // A `Lock` records no owner: "held by me" is "t1 cannot take it", asked from t1.
            let held = |c: &Condition<Lock<()>>| c.inner_lock().try_lock().is_none();
            wait_unwinding_from_a_report_keeps_its_lock(&cond, a, held, unwinds, contended);
            assert!(!cond.inner_lock().locked());
        }
    }
}

#[test]
fn condition_wait_on_an_rlock_never_unwinds_without_it() {
    let _s = serial();
    for unwinds in [Unwinds::Reaction, Unwinds::Callback] {
        for contended in [true, false] {
            let cond = Condition::new(()); // over an RLock, as Python's default
            let a = cond.inner_lock().deadlock_resource();
            let held = |c: &Condition<RLock<()>>| c.inner_lock().is_owned();
            wait_unwinding_from_a_report_keeps_its_lock(&cond, a, held, unwinds, contended);
            assert!(!cond.inner_lock().locked());
        }
    }
}

#[test]
fn rlock_levels_survive_a_wait_that_unwinds() {
    let _s = serial();
    let cond = Condition::new(());
    let b = Lock::new(());
    deadlock::set_reaction(Reaction::Panic);
    let rlock = cond.inner_lock();
    // Two levels: one taken with `acquire()` (to give back with `release()`), one guard.
    rlock.acquire();
    let err = catch_unwind(AssertUnwindSafe(|| {
        let mut g = cond.lock();
        let _gb = b.lock();
        let _ = cond.wait_timeout(&mut g, Duration::from_millis(1));
    }));
    deadlock::set_reaction(Reaction::Report);
    assert!(err.is_err(), "the inversion on the way back panicked");
    // The guard gave back its level; the `acquire()` level is still ours, and only that one.
    assert!(rlock.is_owned());
    rlock.release().unwrap();
    assert!(!rlock.locked());
    assert!(rlock.release().is_err());
}

#[test]
fn a_report_callback_that_panics_does_not_stop_the_watchdog() {
    let _s = serial();
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    deadlock::set_report_callback(move |r| {
        let _ = tx.lock().unwrap().send(r.clone());
        panic!("report callback panics: {r}");
    });
    let dog = Watchdog::start(Duration::from_millis(50));
    let sem = Arc::new(Semaphore::new(0));
    let s1 = Arc::clone(&sem);
    let h = Builder::new()
        .name("blocked twice")
        .spawn(move || {
            assert_eq!(s1.acquire_timeout(GENEROUS), Ok(true));
            assert_eq!(s1.acquire_timeout(GENEROUS), Ok(true));
        })
        .unwrap();
    // Two separate waits, each reported although the callback panicked on the first.
    for _ in 0..2 {
        loop {
            match rx
                .recv_timeout(GENEROUS)
                .expect("the watchdog still reports")
            {
                Report::StuckThread(s) if s.waiting_for == sem.deadlock_resource() => break,
                _ => continue,
            }
        }
        sem.release();
    }
    h.join().unwrap();
    dog.stop();
    deadlock::clear_report_callback();
}
