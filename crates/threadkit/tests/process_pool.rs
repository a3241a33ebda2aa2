//! Integration tests for `threadkit::process::ProcessPool`: results, panics, crashes by signal,
//! hard timeouts, worker replacement, initializers, cancellation, shutdown.
#![cfg(not(loom))]

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use threadkit::process::{Event, ProcessPool, SubmitError, TaskError, Value};

threadkit::process::enable_test_support!();

mod common;
use common::block_on;

fn square(x: u64) -> u64 {
    x * x
}

fn pid(_: ()) -> u32 {
    std::process::id()
}

fn panic_on_odd(x: u64) -> u64 {
    assert!(x.is_multiple_of(2), "odd input {x}");
    x
}

/// Signals that it started, then waits forever (until killed).
fn park_after((started, _tag): (Event, u32)) -> u32 {
    started.set();
    loop {
        std::thread::park();
    }
}

fn signal_self(sig: String) {
    let me = std::process::id().to_string();
    std::process::Command::new("kill")
        .args([&format!("-{sig}"), &me])
        .status()
        .unwrap();
    loop {
        std::thread::park();
    }
}

/// A real invalid memory access (a signal sent with `kill` would only reset std's SIGSEGV
/// handler, which catches stack overflows).
fn segfaults(_: ()) {
    let p = std::hint::black_box(8usize) as *mut u8;
    // SAFETY: not sound on purpose: the point is to crash the worker with SIGSEGV.
    unsafe { p.write_volatile(1) };
}

fn aborts(_: ()) {
    std::process::abort();
}

fn exit_with(code: i32) {
    std::process::exit(code);
}

fn kill_pid(pid: u32) {
    let ok = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn map_keeps_input_order() {
    let pool = ProcessPool::new(2).unwrap();
    let out: Vec<u64> = pool
        .map(square, 0..50)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, (0..50).map(|x| x * x).collect::<Vec<_>>());
    let out = pool
        .starmap(|a: u64, b: u64| a * b, [(2, 3), (4, 5)])
        .unwrap();
    assert_eq!(out, [Ok(6), Ok(20)]);
}

#[test]
fn a_panic_fails_only_its_task_and_keeps_the_worker() {
    let pool = ProcessPool::new(1).unwrap();
    let out: Vec<_> = pool.map(panic_on_odd, 0..6).unwrap().collect();
    for (i, r) in out.iter().enumerate() {
        if i % 2 == 0 {
            assert_eq!(*r, Ok(i as u64));
        } else {
            assert!(
                matches!(r, Err(TaskError::Panicked { message, .. }) if *message == format!("odd input {i}")),
                "{r:?}"
            );
        }
    }
    assert_eq!(
        pool.workers_started(),
        1,
        "a panic does not cost the worker"
    );
}

#[test]
fn sigkill_mid_task_fails_that_task_only_and_the_pool_goes_on() {
    let pool = ProcessPool::new(2).unwrap();
    let started = Event::new().unwrap();
    let victim = pool.submit(park_after, (started.clone(), 0)).unwrap();
    let others: Vec<_> = (0..20).map(|x| pool.submit(square, x).unwrap()).collect();
    assert_eq!(started.wait_timeout(Duration::from_secs(30)), Ok(true));
    let dead = pool.worker_pid(&victim).expect("the victim runs");
    kill_pid(dead);
    assert_eq!(
        victim.into_result(),
        Err(TaskError::Signaled {
            signal: 9,
            name: "SIGKILL".into()
        })
    );
    for (x, f) in others.into_iter().enumerate() {
        assert_eq!(f.into_result(), Ok((x * x) as u64));
    }
    // The pool still works, never on the dead worker (replaced when its manager needs it).
    let more: Vec<u32> = pool
        .map(pid, vec![(); 10])
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(more.len(), 10);
    assert!(!more.contains(&dead), "{more:?}");
}

fn wait_for(e: Event) -> bool {
    e.wait_timeout(Duration::from_secs(10)).unwrap_or(false)
}

fn set(e: Event) {
    e.set();
}

#[test]
fn without_send_ahead_the_next_task_stays_queued() {
    let pool = ProcessPool::builder()
        .max_workers(1)
        .send_ahead(0)
        .build()
        .unwrap();
    let first_started = Event::new().unwrap();
    let first_gate = Event::new().unwrap();
    let first = pool
        .submit(held, (first_started, first_gate.clone()))
        .unwrap();
    let started = Event::new().unwrap();
    let gate = Event::new().unwrap();
    let busy = pool.submit(held, (started.clone(), gate.clone())).unwrap();
    let next = pool.submit(square, 2).unwrap();
    // As in `with_task_sent_ahead`: once `first` is done, `next` would have been sent.
    first_gate.set();
    assert_eq!(first.into_result(), Ok(1));
    assert!(busy.is_running());
    assert!(!next.is_running());
    assert!(next.cancel());
    let last = pool.submit(square, 3).unwrap();
    gate.set();
    assert_eq!(busy.into_result(), Ok(1));
    assert_eq!(last.into_result(), Ok(9));
    assert_eq!(next.into_result(), Err(TaskError::Cancelled));
}

#[test]
fn no_task_is_sent_ahead_while_another_worker_is_idle() {
    // A task that waits for the next one must not get it queued behind itself on its own
    // worker while the other worker is free (that would deadlock these two). A smoke test:
    // without the rule the pair usually still lands on two workers (the idle manager is
    // quick to take the second), so it cannot fail every time.
    let pool = ProcessPool::new(2).unwrap();
    for round in 0..3 {
        let e = Event::new().unwrap();
        let waiter = pool.submit(wait_for, e.clone()).unwrap();
        let setter = pool.submit(set, e).unwrap();
        assert_eq!(waiter.into_result(), Ok(true), "round {round}");
        setter.into_result().unwrap();
        // Both workers busy, then both idle again.
        let sum: u64 = pool.map(square, 0..50).unwrap().map(Result::unwrap).sum();
        assert_eq!(sum, (0..50u64).map(|x| x * x).sum::<u64>());
    }
}

#[test]
fn crashes_are_named_by_signal() {
    let pool = ProcessPool::new(2).unwrap();
    let abort = pool.submit(aborts, ()).unwrap();
    let t = Duration::from_secs(30);
    let segv = pool.submit_with_timeout(segfaults, (), t).unwrap();
    let term = pool
        .submit_with_timeout(signal_self, "TERM".to_owned(), t)
        .unwrap();
    let exit = pool.submit(exit_with, 3).unwrap();
    let fine = pool.submit(square, 9).unwrap();
    let err = abort.into_result().unwrap_err();
    assert_eq!(
        err,
        TaskError::Signaled {
            signal: 6,
            name: "SIGABRT".into()
        }
    );
    assert!(err.to_string().contains("SIGABRT"));
    assert_eq!(
        segv.into_result(),
        Err(TaskError::Signaled {
            signal: 11,
            name: "SIGSEGV".into()
        })
    );
    assert_eq!(
        term.into_result(),
        Err(TaskError::Signaled {
            signal: 15,
            name: "SIGTERM".into()
        })
    );
    assert_eq!(exit.into_result(), Err(TaskError::Exited { code: 3 }));
    assert_eq!(fine.into_result(), Ok(81));
}

#[test]
fn a_task_that_exits_with_code_0_is_an_exit_not_a_main_without_init() {
    // The worker said it serves before running anything, so code 0 is the task's own exit,
    // on its first task (fresh worker) as on a later one.
    let pool = ProcessPool::new(1).unwrap();
    let first = pool.submit(exit_with, 0).unwrap();
    assert_eq!(first.into_result(), Err(TaskError::Exited { code: 0 }));
    assert_eq!(pool.submit(square, 3).unwrap().into_result(), Ok(9));
    let later = pool.submit(exit_with, 0).unwrap();
    assert_eq!(later.into_result(), Err(TaskError::Exited { code: 0 }));
}

#[test]
fn hard_timeout_kills_and_replaces_the_worker() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let started = Event::new().unwrap();
    let slow = pool
        .submit_with_timeout(park_after, (started.clone(), 1), Duration::from_millis(200))
        .unwrap();
    let after = pool.submit(square, 3).unwrap();
    assert_eq!(
        slow.into_result(),
        Err(TaskError::TimedOut {
            timeout: Duration::from_millis(200)
        })
    );
    assert!(started.is_set());
    assert_eq!(after.into_result(), Ok(9));
    assert_eq!(pool.workers_started(), 2);
}

#[test]
fn pool_wide_task_timeout() {
    let pool = ProcessPool::builder()
        .max_workers(1)
        .task_timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    let started = Event::new().unwrap();
    let f = pool.submit(park_after, (started, 2)).unwrap();
    assert!(matches!(f.into_result(), Err(TaskError::TimedOut { .. })));
    assert_eq!(pool.submit(square, 2).unwrap().into_result(), Ok(4));
}

#[test]
fn max_tasks_per_child_replaces_workers() {
    let pool = ProcessPool::builder()
        .max_workers(1)
        .max_tasks_per_child(2)
        .build()
        .unwrap();
    let pids: Vec<u32> = (0..6)
        .map(|_| pool.submit(pid, ()).unwrap().into_result().unwrap())
        .collect();
    assert_eq!(pids[0], pids[1]);
    assert_eq!(pids[2], pids[3]);
    assert_eq!(pids[4], pids[5]);
    let distinct: HashSet<_> = pids.iter().collect();
    assert_eq!(distinct.len(), 3);
    assert_eq!(pool.workers_started(), 3);
}

static SETTING: AtomicU64 = AtomicU64::new(0);

fn init_setting(v: u64) {
    SETTING.store(v, Ordering::SeqCst);
}

fn read_setting(_: ()) -> u64 {
    SETTING.load(Ordering::SeqCst)
}

#[test]
fn initializer_runs_in_every_worker() {
    let pool = ProcessPool::builder()
        .max_workers(2)
        .max_tasks_per_child(1)
        .initializer(init_setting, 77)
        .build()
        .unwrap();
    let out: Vec<u64> = (0..4)
        .map(|_| pool.submit(read_setting, ()).unwrap())
        .map(|f| f.into_result().unwrap())
        .collect();
    assert_eq!(out, [77; 4]);
}

fn bad_init(_: ()) {
    panic!("no config");
}

#[test]
fn a_failing_initializer_breaks_the_pool_without_hanging() {
    let pool = ProcessPool::builder()
        .max_workers(2)
        .initializer(bad_init, ())
        .build()
        .unwrap();
    let futures: Vec<_> = (0..5).map(|x| pool.submit(square, x).unwrap()).collect();
    for f in futures {
        match f.into_result() {
            Err(TaskError::BrokenPool { reason }) => {
                assert!(reason.contains("no config"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        pool.submit(square, 1),
        Err(SubmitError::Broken { .. })
    ));
}

#[test]
fn cancel_a_queued_task() {
    let pool = ProcessPool::new(1).unwrap();
    let started = Event::new().unwrap();
    let gate = Event::new().unwrap();
    let busy = pool
        .submit(
            |(s, g): (Event, Event)| {
                s.set();
                g.wait();
                1u8
            },
            (started.clone(), gate.clone()),
        )
        .unwrap();
    // With one worker, the task right behind `busy` may already be sent to it.
    let next = pool.submit(square, 4).unwrap();
    let queued = pool.submit(square, 5).unwrap();
    assert!(queued.cancel());
    assert!(queued.is_done());
    assert_eq!(started.wait_timeout(Duration::from_secs(30)), Ok(true));
    assert!(busy.is_running());
    assert!(!busy.cancel(), "a running task cannot be cancelled");
    gate.set();
    assert_eq!(busy.into_result(), Ok(1));
    assert_eq!(next.into_result(), Ok(16));
    assert_eq!(queued.into_result(), Err(TaskError::Cancelled));
}

#[test]
fn terminate_kills_running_and_cancels_queued() {
    let pool = ProcessPool::new(1).unwrap();
    let started = Event::new().unwrap();
    let running = pool.submit(park_after, (started.clone(), 3)).unwrap();
    let next = pool.submit(square, 1).unwrap();
    let queued = pool.submit(square, 1).unwrap();
    assert_eq!(started.wait_timeout(Duration::from_secs(30)), Ok(true));
    pool.terminate();
    assert_eq!(running.into_result(), Err(TaskError::Terminated));
    // Sent to the worker behind `running`, or not yet.
    assert!(matches!(
        next.into_result(),
        Err(TaskError::Terminated | TaskError::Cancelled)
    ));
    assert_eq!(queued.into_result(), Err(TaskError::Cancelled));
    assert_eq!(pool.submit(square, 1).unwrap_err(), SubmitError::Shutdown);
}

fn add_to((v, n): (Value<u64>, u64)) {
    for _ in 0..n {
        let _g = v.get_lock().lock();
        v.set(v.get() + 1);
    }
}

#[test]
fn tasks_carry_shared_memory_handles() {
    let pool = ProcessPool::new(2).unwrap();
    let v = Value::new(0u64).unwrap();
    let fs: Vec<_> = (0..8)
        .map(|_| pool.submit(add_to, (v.clone(), 500)).unwrap())
        .collect();
    for f in fs {
        f.into_result().unwrap();
    }
    assert_eq!(v.get(), 4000);
}

#[test]
fn many_tiny_tasks() {
    let n = 2_000
        * std::env::var("THREADKIT_STRESS")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(1);
    let pool = ProcessPool::new(2).unwrap();
    let sum: u64 = pool.map(square, 0..n).unwrap().map(Result::unwrap).sum();
    assert_eq!(sum, (0..n).map(|x| x * x).sum::<u64>());
}

#[test]
fn shutdown_waits_for_queued_tasks() {
    let pool = ProcessPool::new(1).unwrap();
    let fs: Vec<_> = (0..5).map(|x| pool.submit(square, x).unwrap()).collect();
    pool.shutdown(true);
    let out: Vec<u64> = fs.into_iter().map(|f| f.into_result().unwrap()).collect();
    assert_eq!(out, [0, 1, 4, 9, 16]);
    assert!(matches!(pool.submit(square, 1), Err(SubmitError::Shutdown)));
}

#[test]
fn done_callbacks_fire_for_results_crashes_and_cancellations() {
    let pool = ProcessPool::new(1).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let started = Event::new().unwrap();
    let ok = pool.submit(square, 4).unwrap();
    let crash = pool.submit(aborts, ()).unwrap();
    let blocker = pool.submit(park_after, (started.clone(), 9)).unwrap();
    // May be sent to the worker behind `blocker`; it then runs on the replacement worker.
    let filler = pool.submit(square, 6).unwrap();
    let queued = pool.submit(square, 5).unwrap();
    for (name, f) in [("ok", &ok), ("queued", &queued)] {
        let tx = tx.clone();
        f.add_done_callback(move |_| tx.send(name).unwrap());
    }
    let tx1 = tx.clone();
    crash.add_done_callback(move |_| tx1.send("crash").unwrap());
    let tx2 = tx.clone();
    blocker.add_done_callback(move |_| tx2.send("blocker").unwrap());
    assert_eq!(started.wait_timeout(Duration::from_secs(30)), Ok(true));
    assert!(queued.cancel());
    let mut seen: Vec<&str> = (0..3)
        .map(|_| rx.recv_timeout(Duration::from_secs(30)).unwrap())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, ["crash", "ok", "queued"]);
    kill_pid(pool.worker_pid(&blocker).unwrap());
    assert_eq!(rx.recv_timeout(Duration::from_secs(30)).unwrap(), "blocker");
    // Already done: the callback runs at once.
    ok.add_done_callback(move |_| tx.send("late").unwrap());
    assert_eq!(rx.try_recv().unwrap(), "late");
    assert_eq!(ok.into_result(), Ok(16));
    assert!(matches!(
        crash.into_result(),
        Err(TaskError::Signaled { signal: 6, .. })
    ));
    assert!(matches!(
        blocker.into_result(),
        Err(TaskError::Signaled { signal: 9, .. })
    ));
    assert_eq!(filler.into_result(), Ok(36));
}

// Tasks sent ahead: each worker gets its next task while it runs one.

/// Waits for `gate`, then returns 1; `started` says it runs.
fn held((started, gate): (Event, Event)) -> u8 {
    started.set();
    gate.wait();
    1
}

/// A one-worker pool with `running` and then `ahead` in flight on its worker: a first task held
/// at a gate keeps them queued until its result arrives, and the manager sends the next tasks
/// before it hands a result over.
struct Ahead<A, B> {
    pool: ProcessPool,
    running: threadkit::process::Future<A>,
    ahead: threadkit::process::Future<B>,
    queued: threadkit::process::Future<u64>,
}

/// One worker, sent one task ahead at a time (as Python's call queue does).
fn one_ahead_pool() -> ProcessPool {
    ProcessPool::builder()
        .max_workers(1)
        .send_ahead(1)
        .build()
        .unwrap()
}

fn with_task_sent_ahead<A, B>(
    pool: ProcessPool,
    running: impl FnOnce(&ProcessPool) -> threadkit::process::Future<A>,
    ahead: impl FnOnce(&ProcessPool) -> threadkit::process::Future<B>,
) -> Ahead<A, B> {
    let first_started = Event::new().unwrap();
    let gate = Event::new().unwrap();
    let first = pool.submit(held, (first_started, gate.clone())).unwrap();
    let running = running(&pool);
    let ahead = ahead(&pool);
    let queued = pool.submit(square, 8).unwrap();
    gate.set();
    assert_eq!(first.wait_timeout(Duration::from_secs(30)), Ok(true));
    assert!(running.is_running());
    assert!(ahead.is_running(), "sent ahead, so it counts as running");
    assert_eq!(pool.worker_pid(&ahead), pool.worker_pid(&running));
    assert!(!queued.is_running(), "one task ahead per worker");
    Ahead {
        pool,
        running,
        ahead,
        queued,
    }
}

#[test]
fn a_task_sent_ahead_is_running_and_cannot_be_cancelled() {
    let started = Event::new().unwrap();
    let gate = Event::new().unwrap();
    let v = Value::new(0u64).unwrap();
    let t = with_task_sent_ahead(
        one_ahead_pool(),
        |p| p.submit(held, (started.clone(), gate.clone())).unwrap(),
        // It carries a descriptor (the shared value's segment).
        |p| p.submit(add_to, (v.clone(), 10)).unwrap(),
    );
    assert!(!t.ahead.cancel());
    assert!(t.queued.cancel());
    gate.set();
    assert_eq!(t.running.into_result(), Ok(1));
    assert_eq!(t.ahead.into_result(), Ok(()));
    assert_eq!(v.get(), 10);
    assert_eq!(t.queued.into_result(), Err(TaskError::Cancelled));
    assert_eq!(t.pool.workers_started(), 1);
}

#[test]
fn sigkill_fails_the_running_task_and_requeues_the_one_sent_ahead() {
    let started = Event::new().unwrap();
    let t = with_task_sent_ahead(
        one_ahead_pool(),
        |p| p.submit(park_after, (started.clone(), 5)).unwrap(),
        |p| p.submit(pid, ()).unwrap(),
    );
    assert_eq!(started.wait_timeout(Duration::from_secs(30)), Ok(true));
    let victim = t.pool.worker_pid(&t.running).unwrap();
    kill_pid(victim);
    assert_eq!(
        t.running.into_result(),
        Err(TaskError::Signaled {
            signal: 9,
            name: "SIGKILL".into()
        })
    );
    let ran_on = t.ahead.into_result().unwrap();
    assert_ne!(ran_on, victim, "it ran on the replacement worker");
    assert_eq!(t.queued.into_result(), Ok(64));
    assert_eq!(t.pool.workers_started(), 2);
}

#[test]
fn exits_and_crashes_fail_only_the_running_task() {
    type Run = fn(&ProcessPool) -> threadkit::process::Future<()>;
    let cases: [(Run, TaskError); 3] = [
        (
            |p| p.submit(exit_with, 3).unwrap(),
            TaskError::Exited { code: 3 },
        ),
        (
            |p| p.submit(aborts, ()).unwrap(),
            TaskError::Signaled {
                signal: 6,
                name: "SIGABRT".into(),
            },
        ),
        (
            |p| p.submit(segfaults, ()).unwrap(),
            TaskError::Signaled {
                signal: 11,
                name: "SIGSEGV".into(),
            },
        ),
    ];
    for (run, expected) in cases {
        // Whether the next task is sent before the crash or after it, it must not fail.
        let pool = ProcessPool::new(1).unwrap();
        let doomed = run(&pool);
        let after: Vec<_> = (0..3).map(|x| pool.submit(square, x).unwrap()).collect();
        assert_eq!(doomed.into_result(), Err(expected));
        for (x, f) in after.into_iter().enumerate() {
            assert_eq!(f.into_result(), Ok((x * x) as u64));
        }
        assert_eq!(pool.workers_started(), 2);
    }
}

#[test]
fn the_hard_timeout_of_a_task_sent_ahead_starts_at_the_result_before_it() {
    let started = Event::new().unwrap();
    let gate = Event::new().unwrap();
    let timeout = Duration::from_millis(300);
    let t = with_task_sent_ahead(
        one_ahead_pool(),
        |p| p.submit(held, (started.clone(), gate.clone())).unwrap(),
        |p| p.submit_with_timeout(square, 5, timeout).unwrap(),
    );
    // Let the ahead task's timeout pass while it waits behind `running` (time passing, not
    // synchronization).
    std::thread::sleep(timeout * 2);
    gate.set();
    assert_eq!(t.running.into_result(), Ok(1));
    assert_eq!(t.ahead.into_result(), Ok(25));
    assert_eq!(t.queued.into_result(), Ok(64));
    // A hung task still times out; the one sent behind it runs on the replacement worker.
    let hung_started = Event::new().unwrap();
    let hung = t
        .pool
        .submit_with_timeout(park_after, (hung_started, 6), timeout)
        .unwrap();
    let after = t.pool.submit(square, 9).unwrap();
    assert_eq!(hung.into_result(), Err(TaskError::TimedOut { timeout }));
    assert_eq!(after.into_result(), Ok(81));
    assert_eq!(t.pool.workers_started(), 2);
}

#[test]
fn terminate_fails_the_running_task_and_the_one_sent_ahead() {
    let started = Event::new().unwrap();
    let t = with_task_sent_ahead(
        one_ahead_pool(),
        |p| p.submit(park_after, (started.clone(), 7)).unwrap(),
        |p| p.submit(square, 3).unwrap(),
    );
    assert_eq!(started.wait_timeout(Duration::from_secs(30)), Ok(true));
    t.pool.terminate();
    assert_eq!(t.running.into_result(), Err(TaskError::Terminated));
    assert_eq!(t.ahead.into_result(), Err(TaskError::Terminated));
    assert_eq!(t.queued.into_result(), Err(TaskError::Cancelled));
}

#[test]
fn shutdown_waits_for_the_task_sent_ahead() {
    let started = Event::new().unwrap();
    let gate = Event::new().unwrap();
    let t = with_task_sent_ahead(
        one_ahead_pool(),
        |p| p.submit(held, (started.clone(), gate.clone())).unwrap(),
        |p| p.submit(square, 3).unwrap(),
    );
    t.pool.shutdown(false);
    gate.set();
    t.pool.shutdown(true);
    assert!(t.running.is_done() && t.ahead.is_done() && t.queued.is_done());
    assert_eq!(t.running.into_result(), Ok(1));
    assert_eq!(t.ahead.into_result(), Ok(9));
    assert_eq!(t.queued.into_result(), Ok(64));
}

#[test]
fn max_tasks_per_child_counts_tasks_sent_ahead() {
    let pool = ProcessPool::builder()
        .max_workers(1)
        .max_tasks_per_child(2)
        .build()
        .unwrap();
    let pids: Vec<u32> = pool
        .map(pid, vec![(); 7])
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for pair in pids.chunks(2) {
        assert!(pair.iter().all(|p| *p == pair[0]), "{pids:?}");
    }
    let distinct: HashSet<_> = pids.iter().collect();
    assert_eq!(distinct.len(), 4, "{pids:?}");
    assert_eq!(pool.workers_started(), 4);
}

#[test]
fn large_arguments_are_not_sent_ahead_but_still_run() {
    fn len(v: Vec<u8>) -> usize {
        v.len()
    }
    let pool = ProcessPool::new(1).unwrap();
    let sizes = [1usize << 20, 10, 3 << 20, 100_000, 5];
    let out: Vec<usize> = pool
        .map(len, sizes.iter().map(|&n| vec![7u8; n]))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, sizes);
}

fn wait_then_square((gate, x): (Event, u64)) -> u64 {
    gate.wait();
    x * x
}

#[test]
fn wait_and_as_completed_take_thread_pool_and_process_pool_futures_together() {
    use threadkit::executor::{as_completed, wait, ReturnWhen, ThreadPool};

    let procs = ProcessPool::new(2).unwrap();
    let threads = ThreadPool::builder().max_workers(2).build().unwrap();
    let gate = Event::new().unwrap();
    // One Vec: a process-pool future is the thread pool's own future type.
    let futures = vec![
        procs.submit(square, 3).unwrap(),
        threads.submit(|| 4 * 4).unwrap(),
        procs.submit(wait_then_square, (gate.clone(), 5)).unwrap(),
        threads.submit(|| 6 * 6).unwrap(),
    ];
    let first = wait(&futures, ReturnWhen::FirstCompleted);
    assert!(!first.done.is_empty());
    assert!(
        first.not_done.contains(&2),
        "the gated task waits: {first:?}"
    );
    gate.set();
    let mut order: Vec<usize> = as_completed(&futures).map(|(i, _)| i).collect();
    order.sort_unstable();
    assert_eq!(order, [0, 1, 2, 3]);
    let all = wait(&futures, ReturnWhen::AllCompleted);
    assert_eq!(all.done, [0, 1, 2, 3]);
    let values: Vec<u64> = futures.iter().map(|f| f.result().unwrap()).collect();
    assert_eq!(values, [9, 16, 25, 36]);
}

#[test]
fn wait_first_exception_sees_a_crashed_worker_among_thread_pool_futures() {
    use threadkit::executor::{wait, ReturnWhen, ThreadPool};

    let procs = ProcessPool::new(1).unwrap();
    let threads = ThreadPool::builder().max_workers(1).build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let futures = vec![
        threads
            .submit(move || rx.recv().map(|()| 0u64).unwrap_or(1))
            .unwrap(),
        procs
            .submit(|(): ()| -> u64 { std::process::abort() }, ())
            .unwrap(),
    ];
    let w = wait(&futures, ReturnWhen::FirstException);
    assert_eq!((w.done, w.not_done), (vec![1], vec![0]));
    assert!(matches!(
        futures[1].failure(),
        Some(TaskError::Signaled { signal: 6, .. })
    ));
    tx.send(()).unwrap();
    assert_eq!(futures[0].result(), Ok(0));
}

// The pool's futures are executor futures: awaited like the thread pool's.

fn cube(x: u64) -> u64 {
    x * x * x
}

fn wait_for_gate(gate: Event) -> u64 {
    gate.wait();
    7
}

fn crash_with_abort(_: ()) -> u64 {
    std::process::abort()
}

fn failing_initializer(_: ()) {
    panic!("no database");
}

#[test]
fn a_hand_written_executor_awaits_process_pool_futures() {
    let pool = ProcessPool::new(1).unwrap();
    assert_eq!(block_on(pool.submit(cube, 3).unwrap()), Ok(27));
    // Still running when first polled: the manager thread that gets the result wakes us.
    let gate = Event::new().unwrap();
    let fut = pool.submit(wait_for_gate, gate.clone()).unwrap();
    let opener = std::thread::spawn(move || gate.set());
    assert_eq!(block_on(fut), Ok(7));
    opener.join().unwrap();
    match block_on(pool.submit(crash_with_abort, ()).unwrap()) {
        Err(TaskError::Signaled { signal: 6, name }) => assert_eq!(name, "SIGABRT"),
        other => panic!("expected SIGABRT, got {other:?}"),
    }
}

#[test]
fn tokio_awaits_process_pool_futures_without_blocking_its_only_thread() {
    let pool = ProcessPool::new(2).unwrap();
    let threads = threadkit::executor::ThreadPool::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let gate = Event::new().unwrap();
    let gated = pool.submit(wait_for_gate, gate.clone()).unwrap();
    let other = pool.submit(cube, 4).unwrap();
    let on_threads = threads.submit(|| 5u64).unwrap();
    // One runtime thread: the first task awaits a process-pool future that only the second
    // task's work lets finish.
    let (first, second) = rt.block_on(async move {
        tokio::join!(async move { gated.await }, async move {
            let sum = other.await.unwrap() + on_threads.await.unwrap();
            gate.set();
            sum
        })
    });
    assert_eq!((first, second), (Ok(7), 69));
}

#[test]
fn awaiting_a_task_of_a_broken_process_pool_gives_the_broken_pool_error() {
    let pool = ProcessPool::builder()
        .max_workers(1)
        .initializer(failing_initializer, ())
        .build()
        .unwrap();
    let fut = pool.submit(cube, 2).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    match rt.block_on(async move { fut.await }) {
        Err(TaskError::BrokenPool { reason }) => {
            assert!(reason.contains("no database"), "{reason}")
        }
        other => panic!("expected the broken pool, got {other:?}"),
    }
    // And so does a hand-written executor, for a crashed worker's task.
    let pool = ProcessPool::new(1).unwrap();
    let crashed = pool.submit(crash_with_abort, ()).unwrap();
    assert!(matches!(
        block_on(crashed),
        Err(TaskError::Signaled { signal: 6, .. })
    ));
}

/// The repro: the tuple is spread over the parameters, as for `ThreadPool::starmap`.
fn add(counter: Value<i32>, n: i32) {
    counter.update(|c| c + n);
}

fn divide(a: i32, b: i32) -> i32 {
    a / b
}

#[test]
fn starmap_spreads_the_tuple_and_returns_after_every_call_ran() {
    let pool = ProcessPool::new(2).unwrap();
    let counter = Value::new(6).unwrap();
    let done = pool
        .starmap(add, (1..=10).map(|n| (counter.clone(), n)))
        .unwrap();
    // Eager: the results are here and the shared value has every addition, read at once.
    assert_eq!(
        format!("{done:?}"),
        format!("{:?}", vec![Ok::<(), TaskError>(()); 10])
    );
    assert_eq!(counter.get(), 61);
}

#[test]
fn starmap_keeps_each_items_result_and_failure_in_input_order() {
    let pool = ProcessPool::new(2).unwrap();
    let out = pool.starmap(divide, [(8, 2), (1, 0), (9, 3)]).unwrap();
    assert_eq!(out.len(), 3);
    assert_eq!(out[0], Ok(4));
    assert!(
        matches!(&out[1], Err(TaskError::Panicked { message, .. }) if message.contains("divide by zero")),
        "{:?}",
        out[1]
    );
    assert_eq!(out[2], Ok(3));
    // A closure that captures nothing works too, with up to 8 parameters.
    let sums = pool
        .starmap(
            |a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8, h: u8| {
                [a, b, c, d, e, f, g, h]
                    .iter()
                    .map(|&x| u32::from(x))
                    .sum::<u32>()
            },
            [(1, 2, 3, 4, 5, 6, 7, 8)],
        )
        .unwrap();
    assert_eq!(sums, [Ok(36)]);
}

#[test]
fn istarmap_is_lazy_and_yields_in_input_order() {
    let pool = ProcessPool::new(2).unwrap();
    let gate = Event::new().unwrap();
    let started = Event::new().unwrap();
    // The first item waits for the gate: istarmap returns before it finished.
    fn wait_then(gate: Event, started: Event, v: u32) -> u32 {
        started.set();
        assert!(
            gate.wait_timeout(Duration::from_secs(60)).unwrap(),
            "gate never opened"
        );
        v
    }
    let mut results = pool
        .istarmap(
            wait_then,
            [
                (gate.clone(), started.clone(), 1),
                (gate.clone(), started.clone(), 2),
            ],
        )
        .unwrap();
    assert_eq!(results.len(), 2);
    assert!(started.wait_timeout(Duration::from_secs(60)).unwrap());
    gate.set();
    assert_eq!(results.next(), Some(Ok(1)));
    assert_eq!(results.next(), Some(Ok(2)));
    assert_eq!(results.next(), None);
}

fn wait_gate((gate, x): (Event, u64)) -> u64 {
    gate.wait();
    x
}

fn count_and_square((v, x): (Value<u64>, u64)) -> u64 {
    {
        let _g = v.get_lock().lock();
        v.set(v.get() + 1);
    }
    x * x
}

#[test]
fn many_tasks_in_flight_with_workers_killed_each_task_has_exactly_one_outcome() {
    let n = 600
        * std::env::var("THREADKIT_STRESS")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(1);
    let pool = ProcessPool::new(2).unwrap();
    let runs = Value::new(0u64).unwrap();
    let fs: Vec<_> = (0..n)
        .map(|x| pool.submit(count_and_square, (runs.clone(), x)).unwrap())
        .collect();
    // Kill the worker of every 50th task that is running when we get to it (many tasks are
    // sent ahead of it on that worker).
    let mut kills = 0u64;
    for f in fs.iter().step_by(50) {
        if let Some(pid) = pool.worker_pid(f) {
            // The worker may be gone already (killed for an earlier task).
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            kills += 1;
        }
    }
    let (mut ok, mut died) = (0u64, 0u64);
    for (x, f) in fs.into_iter().enumerate() {
        match f.into_result() {
            Ok(v) => {
                assert_eq!(v, (x * x) as u64);
                ok += 1;
            }
            Err(TaskError::Signaled { signal: 9, .. }) => died += 1,
            Err(e) => panic!("task {x}: unexpected {e:?}"),
        }
    }
    assert_eq!(ok + died, n);
    assert!(died <= kills, "{died} tasks failed for {kills} kills");
    // A task that returned ran once; a failed one at most once; none ran twice.
    let ran = runs.get();
    assert!(
        ok <= ran && ran <= ok + died,
        "{ran} runs for {ok} results, {died} failed"
    );
    // The pool goes on.
    assert_eq!(pool.submit(square, 3).unwrap().into_result(), Ok(9));
}

/// How many of `fs` are running (started on a worker, or sent ahead to one).
fn running(fs: &[threadkit::process::Future<u64>]) -> usize {
    fs.iter().filter(|f| f.is_running()).count()
}

#[test]
fn a_long_queue_sends_several_tasks_ahead_but_at_most_a_quarter_of_it() {
    // One worker that retires after task `A`, the 100th: nothing is sent ahead of `A` (the
    // worker has no tasks left), so the queue behind it is full when the next worker starts,
    // whatever the timing. Then `B` goes first and the batch sent ahead of it is a quarter of
    // the 39 left; when `B`'s result comes, the next batch (before `B` is finished) is a
    // quarter of the 30 left. `C` waits for a gate, so nothing after it finishes meanwhile.
    for (ahead, expected) in [(64, 9 + 7), (4, 4), (1, 2), (0, 1)] {
        let pool = ProcessPool::builder()
            .max_workers(1)
            .max_tasks_per_child(100)
            .send_ahead(ahead)
            .build()
            .unwrap();
        let warm: Vec<_> = pool.map(square, 0..99).unwrap().collect();
        assert!(warm.iter().all(Result::is_ok));
        let (gate_a, gate_c) = (Event::new().unwrap(), Event::new().unwrap());
        let a = pool.submit(wait_gate, (gate_a.clone(), 0)).unwrap();
        let b = pool.submit(square, 1).unwrap();
        let mut rest = vec![pool.submit(wait_gate, (gate_c.clone(), 2)).unwrap()];
        rest.extend((3..41).map(|x| pool.submit(square, x).unwrap()));
        assert_eq!(running(&rest), 0, "send_ahead({ahead}): nothing ahead of A");
        gate_a.set();
        assert_eq!(a.into_result(), Ok(0));
        assert_eq!(b.into_result(), Ok(1));
        assert_eq!(running(&rest), expected, "send_ahead({ahead})");
        assert!(expected <= 1 + 39 / 4 + 30 / 4);
        gate_c.set();
        for (x, f) in (2..).zip(rest) {
            let want = if x == 2 { 2 } else { x * x };
            assert_eq!(f.into_result(), Ok(want));
        }
        assert_eq!(pool.workers_started(), 2);
    }
}
