//! Integration tests for `threadkit::process::ProcessPool`: results, panics, crashes by signal,
//! hard timeouts, worker replacement, initializers, cancellation, shutdown.
#![cfg(not(loom))]

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use threadkit::process::{Event, ProcessPool, SubmitError, TaskError, Value};

threadkit::process::enable_test_support!();

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
    let out: Vec<_> = pool
        .starmap(|(a, b): (u64, u64)| a * b, [(2, 3), (4, 5)])
        .unwrap()
        .collect();
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
            assert_eq!(
                *r,
                Err(TaskError::Panicked {
                    message: format!("odd input {i}")
                })
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
    let pid = victim.worker_pid().expect("the victim runs");
    kill_pid(pid);
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
    // The pool replaced the worker and still works.
    let more: Vec<u64> = pool
        .map(square, 0..10)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(more.len(), 10);
    assert!(pool.workers_started() >= 3);
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
        Err(SubmitError::BrokenPool { .. })
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
    let queued = pool.submit(square, 5).unwrap();
    assert!(queued.cancel());
    assert!(queued.is_done());
    assert_eq!(started.wait_timeout(Duration::from_secs(30)), Ok(true));
    assert!(busy.is_running());
    assert!(!busy.cancel(), "a running task cannot be cancelled");
    gate.set();
    assert_eq!(busy.into_result(), Ok(1));
    assert_eq!(queued.into_result(), Err(TaskError::Cancelled));
}

#[test]
fn terminate_kills_running_and_cancels_queued() {
    let pool = ProcessPool::new(1).unwrap();
    let started = Event::new().unwrap();
    let running = pool.submit(park_after, (started.clone(), 3)).unwrap();
    let queued = pool.submit(square, 1).unwrap();
    assert_eq!(started.wait_timeout(Duration::from_secs(30)), Ok(true));
    pool.terminate();
    assert_eq!(running.into_result(), Err(TaskError::Terminated));
    assert_eq!(queued.into_result(), Err(TaskError::Cancelled));
    assert_eq!(pool.submit(square, 1).unwrap_err(), SubmitError::ShutDown);
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
    assert!(matches!(pool.submit(square, 1), Err(SubmitError::ShutDown)));
}

#[test]
fn done_callbacks_fire_for_results_crashes_and_cancellations() {
    let pool = ProcessPool::new(1).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let started = Event::new().unwrap();
    let ok = pool.submit(square, 4).unwrap();
    let crash = pool.submit(aborts, ()).unwrap();
    let blocker = pool.submit(park_after, (started.clone(), 9)).unwrap();
    let queued = pool.submit(square, 5).unwrap();
    for (name, f) in [("ok", &ok), ("queued", &queued)] {
        let tx = tx.clone();
        f.add_done_callback(move || tx.send(name).unwrap());
    }
    let tx1 = tx.clone();
    crash.add_done_callback(move || tx1.send("crash").unwrap());
    let tx2 = tx.clone();
    blocker.add_done_callback(move || tx2.send("blocker").unwrap());
    assert_eq!(started.wait_timeout(Duration::from_secs(30)), Ok(true));
    assert!(queued.cancel());
    let mut seen: Vec<&str> = (0..3)
        .map(|_| rx.recv_timeout(Duration::from_secs(30)).unwrap())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, ["crash", "ok", "queued"]);
    kill_pid(blocker.worker_pid().unwrap());
    assert_eq!(rx.recv_timeout(Duration::from_secs(30)).unwrap(), "blocker");
    // Already done: the callback runs at once.
    ok.add_done_callback(move || tx.send("late").unwrap());
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
}
