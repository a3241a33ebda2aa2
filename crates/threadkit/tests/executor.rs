#![cfg(not(loom))]
//! Integration tests of `threadkit::executor`.

mod common;

use common::stress;
use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};
use threadkit::executor::{
    as_completed, as_completed_timeout, wait, wait_timeout, BuildErrorKind, MapItemError,
    MapOptions, MapOptionsError, ResultTimeoutError, ReturnWhen, ShutdownOptions, SubmitError,
    TaskError, ThreadPool, TryResultError,
};

const LONG: Duration = Duration::from_secs(20);

fn pool(n: usize) -> ThreadPool {
    ThreadPool::builder().max_workers(n).build().unwrap()
}

/// A gate a task blocks on until the test opens it.
fn gate() -> (Sender<()>, Receiver<()>) {
    bounded(0)
}

/// Submits a task that reports it started and then blocks until `go` fires.
fn blocker(
    p: &ThreadPool,
) -> (
    threadkit::executor::Future<&'static str>,
    Receiver<()>,
    Sender<()>,
) {
    let (started_tx, started) = unbounded();
    let (go, go_rx) = gate();
    let f = p
        .submit(move || {
            started_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            "blocker"
        })
        .unwrap();
    (f, started, go)
}

// ---------------------------------------------------------------- builder

#[test]
fn zero_workers_is_a_typed_build_error() {
    let err = ThreadPool::builder().max_workers(0).build().unwrap_err();
    assert_eq!(err.kind(), BuildErrorKind::ZeroWorkers);
    assert_eq!(err.to_string(), "max_workers must be greater than 0");
}

#[test]
fn default_max_workers_is_pythons_formula() {
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(ThreadPool::new().unwrap().max_workers(), 32.min(cores + 4));
}

#[test]
fn workers_are_named_and_registered_threads() {
    let p = pool(2);
    let prefix = p.thread_name_prefix().to_owned();
    assert!(prefix.starts_with("ThreadPoolExecutor-"), "{prefix}");
    let barrier = Arc::new(Barrier::new(3));
    let names: Vec<_> = (0..2)
        .map(|_| {
            let b = barrier.clone();
            p.submit(move || {
                let name = threadkit::thread::current().name().to_owned();
                b.wait();
                b.wait();
                name
            })
            .unwrap()
        })
        .collect();
    barrier.wait();
    let listed: Vec<String> = threadkit::thread::enumerate()
        .iter()
        .map(|t| t.name().to_owned())
        .collect();
    assert!(listed.contains(&format!("{prefix}_0")), "{listed:?}");
    assert!(listed.contains(&format!("{prefix}_1")), "{listed:?}");
    barrier.wait();
    let mut names: Vec<String> = names
        .into_iter()
        .map(|f| f.into_result().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [format!("{prefix}_0"), format!("{prefix}_1")]);
}

#[test]
fn pools_get_distinct_default_prefixes_and_custom_prefix_works() {
    let a = ThreadPool::new().unwrap();
    let b = ThreadPool::new().unwrap();
    assert_ne!(a.thread_name_prefix(), b.thread_name_prefix());
    let c = ThreadPool::builder()
        .thread_name_prefix("dl")
        .build()
        .unwrap();
    let name = c
        .submit(|| threadkit::thread::current().name().to_owned())
        .unwrap();
    assert_eq!(name.result().unwrap(), "dl_0");
}

#[test]
fn initializer_runs_once_per_worker() {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let p = ThreadPool::builder()
        .max_workers(3)
        .initializer(move || {
            c.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    common::run_tasks_on_a_barrier(&p, 3, LONG);
    drop(p);
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[test]
fn failing_initializer_breaks_the_pool() {
    let p = ThreadPool::builder()
        .max_workers(1)
        .initializer(|| panic!("no database"))
        .build()
        .unwrap();
    let f1 = p.submit(|| 1).unwrap();
    let f2 = p.submit(|| 2);
    for f in [Ok(f1), f2].into_iter().flatten() {
        match f.result() {
            Err(TaskError::BrokenPool { reason }) => assert_eq!(reason, "no database"),
            other => panic!("unexpected {other:?}"),
        }
    }
    match p.submit(|| 3) {
        Err(SubmitError::Broken { reason }) => assert_eq!(reason, "no database"),
        other => panic!("unexpected {other:?}"),
    }
    let e = p.submit(|| 3).unwrap_err();
    assert!(e.to_string().starts_with("A thread initializer failed"));
}

#[test]
fn stack_size_is_applied() {
    let p = ThreadPool::builder()
        .stack_size(16 * 1024 * 1024)
        .build()
        .unwrap();
    let f = p
        .submit(|| {
            let big = [7u8; 8 * 1024 * 1024];
            big.iter().map(|&b| b as usize).sum::<usize>()
        })
        .unwrap();
    assert_eq!(f.result(), Ok(7 * 8 * 1024 * 1024));
}

// ---------------------------------------------------------------- future state machine

#[test]
fn future_state_machine_pending_running_done() {
    let p = pool(1);
    let (busy, started, go) = blocker(&p);
    started.recv().unwrap();
    let queued = p.submit(|| 5).unwrap();
    assert!(busy.is_running() && !busy.is_done() && !busy.is_cancelled());
    assert!(!queued.is_running() && !queued.is_done());
    assert_eq!(queued.try_result(), Err(TryResultError::NotDone));
    assert_eq!(
        queued.result_timeout(Duration::from_millis(20)),
        Err(ResultTimeoutError::Timeout)
    );
    assert_eq!(queued.wait_timeout(Duration::from_millis(1)), Ok(false));
    assert!(!busy.cancel(), "a running task cannot be cancelled");
    go.send(()).unwrap();
    assert_eq!(busy.result(), Ok("blocker"));
    assert_eq!(queued.result(), Ok(5));
    assert!(queued.is_done() && !queued.is_running() && !queued.is_cancelled());
    assert!(!queued.cancel(), "a finished task cannot be cancelled");
    assert_eq!(queued.failure(), None);
    assert_eq!(queued.try_result(), Ok(5));
}

#[test]
fn cancel_while_pending_and_closure_is_dropped_unrun() {
    let p = pool(1);
    let (busy, started, go) = blocker(&p);
    started.recv().unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let captured = Arc::new(());
    let (r, c) = (ran.clone(), captured.clone());
    let queued = p
        .submit(move || {
            let _keep = c;
            r.store(true, Ordering::SeqCst);
        })
        .unwrap();
    assert!(queued.cancel());
    assert!(queued.cancel(), "cancelling twice still reports cancelled");
    assert!(queued.is_cancelled() && queued.is_done() && !queued.is_running());
    assert_eq!(Arc::strong_count(&captured), 1, "closure dropped at cancel");
    assert_eq!(queued.result(), Err(TaskError::Cancelled));
    assert_eq!(queued.failure(), Some(TaskError::Cancelled));
    assert_eq!(
        queued.try_result(),
        Err(TryResultError::Task(TaskError::Cancelled))
    );
    go.send(()).unwrap();
    busy.wait();
    p.shutdown();
    assert!(!ran.load(Ordering::SeqCst));
}

#[test]
fn timeouts_too_large_are_typed_errors() {
    let p = pool(1);
    let f = p.submit(|| 1).unwrap();
    assert!(matches!(
        f.result_timeout(Duration::MAX),
        Err(ResultTimeoutError::TimeoutOverflow(_))
    ));
    assert!(f.wait_timeout(Duration::MAX).is_err());
    assert!(wait_timeout(
        std::slice::from_ref(&f),
        ReturnWhen::AllCompleted,
        Duration::MAX
    )
    .is_err());
    assert!(as_completed_timeout(std::slice::from_ref(&f), Duration::MAX).is_err());
    let e = p
        .map_with(|x: u8| x, [1], MapOptions::new().timeout(Duration::MAX))
        .unwrap_err();
    assert!(matches!(
        e,
        SubmitError::InvalidOptions(MapOptionsError::TimeoutOverflow(_))
    ));
}

#[test]
fn into_result_moves_out_and_clones_see_result_taken() {
    let p = pool(1);
    let f = p.submit(|| String::from("v")).unwrap();
    let g = f.clone();
    assert!(f.ptr_eq(&g));
    assert_eq!(f.into_result(), Ok("v".to_owned()));
    assert!(g.is_done());
    assert_eq!(g.result(), Err(TaskError::ResultTaken));
    assert_eq!(g.failure(), None);
    assert!(TaskError::ResultTaken.to_string().contains("into_result"));
}

#[test]
fn non_clone_results_via_into_result() {
    struct NoClone(u32);
    let p = pool(2);
    let f = p.submit(|| NoClone(9)).unwrap();
    assert_eq!(f.into_result().unwrap().0, 9);
}

#[test]
fn panic_in_task_is_captured_and_worker_survives() {
    let p = pool(1);
    let bad = p.submit(|| -> u32 { panic!("task {} failed", 7) }).unwrap();
    let Err(TaskError::Panicked {
        message, location, ..
    }) = bad.result()
    else {
        panic!("a panic expected")
    };
    assert_eq!(message, "task 7 failed");
    // Where it panicked: this file (unless another test replaced threadkit's panic hook).
    let at = location.map_or(String::new(), |l| format!(" at {l}"));
    assert!(at.is_empty() || at.contains("executor.rs:"), "{at}");
    assert_eq!(
        bad.failure().unwrap().to_string(),
        format!("task panicked{at}: task 7 failed")
    );
    let name = p
        .submit(|| threadkit::thread::current().name().to_owned())
        .unwrap()
        .result()
        .unwrap();
    assert!(
        name.ends_with("_0"),
        "the same single worker ran it: {name}"
    );
    let (tx, rx) = unbounded();
    for i in 0..10 {
        let tx = tx.clone();
        p.submit(move || {
            if i % 2 == 0 {
                panic!("even");
            }
            tx.send(i).unwrap();
        })
        .unwrap();
    }
    drop(tx);
    p.shutdown();
    assert_eq!(rx.iter().collect::<Vec<_>>(), [1, 3, 5, 7, 9]);
}

#[test]
fn debug_shows_state() {
    let p = pool(1);
    let (busy, started, go) = blocker(&p);
    started.recv().unwrap();
    let q = p.submit(|| ()).unwrap();
    assert!(format!("{busy:?}").contains("running"));
    assert!(format!("{q:?}").contains("pending"));
    q.cancel();
    assert!(format!("{q:?}").contains("cancelled"));
    go.send(()).unwrap();
    busy.wait();
    assert!(format!("{busy:?}").contains("finished"));
    assert!(format!("{p:?}").contains("ThreadPool"));
}

// ---------------------------------------------------------------- callbacks

#[test]
fn callbacks_run_in_order_on_completion_and_at_once_when_done() {
    let p = pool(1);
    let (busy, started, go) = blocker(&p);
    started.recv().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    for i in 0..3 {
        let log = log.clone();
        busy.add_done_callback(move |f| {
            log.lock()
                .unwrap()
                .push(format!("{i}:{}", f.result().unwrap()));
        });
    }
    assert!(log.lock().unwrap().is_empty());
    go.send(()).unwrap();
    busy.wait();
    // Callbacks run on the finishing thread after the state is published; wait for them.
    let deadline = Instant::now() + LONG;
    while log.lock().unwrap().len() < 3 && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(
        *log.lock().unwrap(),
        ["0:blocker", "1:blocker", "2:blocker"]
    );
    let caller = std::thread::current().id();
    let l2 = log.clone();
    busy.add_done_callback(move |_| {
        assert_eq!(std::thread::current().id(), caller);
        l2.lock().unwrap().push("late".into());
    });
    assert_eq!(log.lock().unwrap().last().unwrap(), "late");
}

#[test]
fn panicking_callback_does_not_stop_the_others() {
    let p = pool(1);
    let (busy, started, go) = blocker(&p);
    started.recv().unwrap();
    let (tx, rx) = unbounded();
    let tx1 = tx.clone();
    busy.add_done_callback(move |_| tx1.send(1).unwrap());
    busy.add_done_callback(|_| panic!("callback failed"));
    busy.add_done_callback(move |_| tx.send(3).unwrap());
    go.send(()).unwrap();
    assert_eq!(rx.recv_timeout(LONG), Ok(1));
    assert_eq!(rx.recv_timeout(LONG), Ok(3));
    // The worker survived the panicking callback.
    assert_eq!(p.submit(|| 1).unwrap().result(), Ok(1));
    // Already done: a panicking callback added now is reported, not propagated.
    busy.add_done_callback(|_| panic!("late callback failed"));
}

#[test]
fn callbacks_run_on_cancel() {
    let p = pool(1);
    let (busy, started, go) = blocker(&p);
    started.recv().unwrap();
    let q = p.submit(|| 1).unwrap();
    let (tx, rx) = unbounded();
    q.add_done_callback(move |f| tx.send(f.is_cancelled()).unwrap());
    assert!(q.cancel());
    assert_eq!(rx.try_recv(), Ok(true), "runs on the cancelling thread");
    go.send(()).unwrap();
    busy.wait();
}

// ---------------------------------------------------------------- wait / as_completed

#[test]
fn wait_first_completed() {
    let p = pool(2);
    let (slow, started, go) = blocker(&p);
    started.recv().unwrap();
    let fast = p.submit(|| "fast").unwrap();
    let fs = vec![slow.clone(), fast];
    let w = wait(&fs, ReturnWhen::FirstCompleted);
    assert_eq!(w.done, [1]);
    assert_eq!(w.not_done, [0]);
    go.send(()).unwrap();
    let w = wait(&fs, ReturnWhen::AllCompleted);
    assert_eq!((w.done, w.not_done), (vec![0, 1], vec![]));
}

#[test]
fn wait_first_exception_returns_on_failure_and_otherwise_waits_for_all() {
    let p = pool(2);
    let (slow, started, go) = blocker(&p);
    started.recv().unwrap();
    let bad = p.submit(|| -> &'static str { panic!("x") }).unwrap();
    let fs = vec![slow.clone(), bad];
    let w = wait(&fs, ReturnWhen::FirstException);
    assert_eq!((w.done, w.not_done), (vec![1], vec![0]));
    go.send(()).unwrap();
    slow.wait();

    // No failure: FIRST_EXCEPTION waits for all; a cancellation is not an exception.
    let (slow, started, go) = blocker(&p);
    started.recv().unwrap();
    let (slow2, started2, go2) = blocker(&p);
    started2.recv().unwrap();
    let cancelled = p.submit(|| "c").unwrap();
    assert!(cancelled.cancel());
    let fs = vec![slow, slow2, cancelled];
    let w = wait_timeout(&fs, ReturnWhen::FirstException, Duration::from_millis(30)).unwrap();
    assert_eq!((w.done, w.not_done), (vec![2], vec![0, 1]));
    go.send(()).unwrap();
    go2.send(()).unwrap();
    let w = wait(&fs, ReturnWhen::FirstException);
    assert_eq!(w.done, [0, 1, 2]);
}

#[test]
fn wait_with_already_finished_futures_and_duplicates() {
    let p = pool(2);
    let a = p.submit(|| 1).unwrap();
    let b = p.submit(|| 2).unwrap();
    a.wait();
    b.wait();
    for mode in [
        ReturnWhen::FirstCompleted,
        ReturnWhen::FirstException,
        ReturnWhen::AllCompleted,
    ] {
        let w = wait(&[a.clone(), b.clone(), a.clone()], mode);
        assert_eq!(w.done, [0, 1, 2], "{mode:?}");
        assert!(w.not_done.is_empty());
    }
    let empty: Vec<threadkit::executor::Future<u8>> = Vec::new();
    assert_eq!(
        wait(&empty, ReturnWhen::AllCompleted).done,
        Vec::<usize>::new()
    );
}

#[test]
fn wait_timeout_reports_not_done() {
    let p = pool(1);
    let (slow, started, go) = blocker(&p);
    started.recv().unwrap();
    let t = Instant::now();
    let w = wait_timeout(
        &[slow.clone(), slow.clone()],
        ReturnWhen::AllCompleted,
        Duration::from_millis(50),
    )
    .unwrap();
    assert!(t.elapsed() >= Duration::from_millis(40));
    assert_eq!((w.done, w.not_done), (vec![], vec![0, 1]));
    go.send(()).unwrap();
    slow.wait();
}

#[test]
fn as_completed_yields_in_completion_order_once_per_future() {
    let p = pool(4);
    let gates: Vec<_> = (0..3).map(|_| gate()).collect();
    let fs: Vec<_> = gates
        .iter()
        .enumerate()
        .map(|(i, (_, rx))| {
            let rx = rx.clone();
            p.submit(move || {
                rx.recv().unwrap();
                i
            })
            .unwrap()
        })
        .collect();
    let done_first = p.submit(|| 99).unwrap();
    done_first.wait();
    let mut all = fs.clone();
    all.push(done_first.clone());
    all.push(fs[1].clone()); // a duplicate
    let mut it = as_completed(&all);
    assert_eq!(it.next().map(|(i, _)| i), Some(3), "already done first");
    // Release in the order 2, 0, 1 and expect that order.
    for (expect, release) in [(2usize, 2usize), (0, 0), (1, 1)] {
        gates[release].0.send(()).unwrap();
        let (pos, f) = it.next().unwrap();
        assert_eq!(pos, expect);
        assert_eq!(f.result(), Ok(expect));
    }
    assert!(it.next().is_none(), "the duplicate is not yielded twice");
}

#[test]
fn as_completed_timeout_says_how_many_are_unfinished() {
    let p = pool(2);
    let (slow, started, go) = blocker(&p);
    started.recv().unwrap();
    let fast = p.submit(|| "fast").unwrap();
    let fs = vec![slow.clone(), fast, slow.clone()];
    let mut it = as_completed_timeout(&fs, Duration::from_millis(50)).unwrap();
    let (pos, _) = it.next().unwrap().unwrap();
    assert_eq!(pos, 1);
    let err = it.next().unwrap().unwrap_err();
    assert_eq!((err.unfinished, err.total), (1, 2));
    assert_eq!(err.to_string(), "1 (of 2) futures unfinished");
    assert!(it.next().is_none());
    go.send(()).unwrap();
    slow.wait();
}

// ---------------------------------------------------------------- shutdown

#[test]
fn submit_after_shutdown_is_an_error() {
    let p = pool(2);
    let h = p.handle();
    p.shutdown();
    assert!(p.is_shutdown() && h.is_shutdown());
    assert_eq!(p.submit(|| 1).unwrap_err(), SubmitError::Shutdown);
    assert_eq!(
        h.submit(|| 1).unwrap_err().to_string(),
        "cannot schedule new futures after shutdown"
    );
    assert!(p.map(|x: u8| x, [1]).is_err());
    p.shutdown(); // twice is fine
}

#[test]
fn shutdown_wait_runs_everything_queued() {
    let p = pool(2);
    let count = Arc::new(AtomicUsize::new(0));
    let n = 200 * stress::<usize>();
    for _ in 0..n {
        let c = count.clone();
        p.submit(move || {
            c.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    p.shutdown();
    assert_eq!(count.load(Ordering::SeqCst), n);
}

#[test]
fn shutdown_cancel_futures_cancels_pending_and_lets_running_finish() {
    let p = pool(1);
    let (busy, started, go) = blocker(&p);
    started.recv().unwrap();
    let queued: Vec<_> = (0..5).map(|i| p.submit(move || i).unwrap()).collect();
    // The running task finishes once the last queued task is done with: during the shutdown,
    // after it cancelled the queue (an event, not a timer racing the shutdown).
    queued[4].add_done_callback(move |_| go.send(()).unwrap());
    p.shutdown_with(ShutdownOptions {
        wait: true,
        cancel_futures: true,
    });
    assert_eq!(busy.result(), Ok("blocker"));
    for f in &queued {
        assert!(f.is_cancelled());
        assert_eq!(f.result(), Err(TaskError::Cancelled));
    }
}

#[test]
fn shutdown_without_wait_returns_at_once_and_the_queue_still_drains() {
    let p = pool(1);
    let (busy, started, go) = blocker(&p);
    started.recv().unwrap();
    let queued = p.submit(|| 7).unwrap();
    p.shutdown_with(ShutdownOptions {
        wait: false,
        cancel_futures: false,
    });
    assert!(!busy.is_done(), "returned while a task still runs");
    assert_eq!(p.submit(|| 1).unwrap_err(), SubmitError::Shutdown);
    go.send(()).unwrap();
    assert_eq!(queued.result(), Ok(7));
}

#[test]
fn shutdown_without_wait_with_cancel() {
    let p = pool(1);
    let (busy, started, go) = blocker(&p);
    started.recv().unwrap();
    let queued = p.submit(|| 7).unwrap();
    p.shutdown_with(ShutdownOptions {
        wait: false,
        cancel_futures: true,
    });
    assert!(queued.is_cancelled());
    go.send(()).unwrap();
    assert_eq!(busy.result(), Ok("blocker"));
}

#[test]
fn drop_shuts_down_and_joins_like_a_with_block() {
    let count = Arc::new(AtomicUsize::new(0));
    let h;
    {
        let p = pool(3);
        h = p.handle();
        for _ in 0..30 {
            let c = count.clone();
            p.submit(move || {
                std::thread::yield_now();
                c.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
    }
    assert_eq!(count.load(Ordering::SeqCst), 30);
    assert_eq!(h.submit(|| ()).unwrap_err(), SubmitError::Shutdown);
}

#[test]
fn workers_exit_after_shutdown() {
    let p = ThreadPool::builder()
        .max_workers(2)
        .thread_name_prefix("exit-check")
        .build()
        .unwrap();
    common::run_tasks_on_a_barrier(&p, 2, LONG);
    p.shutdown();
    assert!(!threadkit::thread::enumerate()
        .iter()
        .any(|t| t.name().starts_with("exit-check_")));
}

#[test]
fn shutdown_from_inside_a_task_does_not_deadlock() {
    let p = Arc::new(pool(1));
    let p2 = p.clone();
    let after = p.submit(|| 1);
    let f = p
        .submit(move || {
            p2.shutdown();
            "shut"
        })
        .unwrap();
    assert_eq!(f.result(), Ok("shut"));
    assert_eq!(after.unwrap().result(), Ok(1));
}

#[test]
fn pool_dropped_inside_its_own_task_does_not_deadlock() {
    let p = pool(2);
    let (tx, rx) = bounded(1);
    let (pool_tx, pool_rx) = bounded::<ThreadPool>(1);
    let f = p
        .submit(move || {
            let pool = pool_rx.recv().unwrap();
            drop(pool);
            tx.send(()).unwrap();
        })
        .unwrap();
    pool_tx.send(p).unwrap();
    assert_eq!(rx.recv_timeout(LONG), Ok(()));
    f.wait();
}

#[cfg(target_os = "linux")]
#[test]
fn idle_workers_do_not_spin() {
    /// CPU ticks (utime + stime) used so far by this process's threads named `idlechk_*`,
    /// and how many such threads there are.
    fn worker_ticks() -> (u64, usize) {
        let (mut total, mut threads) = (0, 0);
        for entry in std::fs::read_dir("/proc/self/task").unwrap() {
            let dir = entry.unwrap().path();
            let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            if !comm.starts_with("idlechk_") {
                continue;
            }
            let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
            let Some(close) = stat.rfind(')') else {
                continue;
            };
            let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
            // utime and stime are fields 14 and 15 of stat, 12th and 13th after the ')'.
            total += f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
            threads += 1;
        }
        (total, threads)
    }
    let p = ThreadPool::builder()
        .max_workers(4)
        .thread_name_prefix("idlechk")
        .build()
        .unwrap();
    common::run_tasks_on_a_barrier(&p, 4, LONG);
    let (before, threads) = worker_ticks();
    assert_eq!(threads, 4, "the four workers are found by name");
    std::thread::sleep(Duration::from_millis(500));
    let used = worker_ticks().0 - before;
    // Four spinning workers would burn about 4 x 50 ticks in half a second.
    assert!(used < 10, "idle workers used {used} ticks in 0.5 s");
}

// ---------------------------------------------------------------- map family

#[test]
fn map_is_ordered_and_keeps_every_result() {
    let p = pool(4);
    let out: Vec<_> = p
        .map(
            |x: u32| {
                if x % 5 == 3 {
                    panic!("bad {x}");
                }
                x * 2
            },
            0..20,
        )
        .unwrap()
        .collect();
    assert_eq!(out.len(), 20);
    for (i, r) in out.iter().enumerate() {
        if i % 5 == 3 {
            assert!(
                matches!(r, Err(MapItemError::Failed {
                    index,
                    error: TaskError::Panicked { message, .. }
                }) if *index == i && *message == format!("bad {i}")),
                "{r:?}"
            );
        } else {
            assert_eq!(r, &Ok(i as u32 * 2));
        }
    }
}

#[test]
fn map_with_chunks_keeps_per_item_results() {
    let p = pool(3);
    for chunk in [1usize, 2, 7, 100] {
        let opts = MapOptions::new().chunksize(std::num::NonZeroUsize::new(chunk).unwrap());
        let out: Vec<_> = p
            .map_with(
                |x: usize| if x == 10 { panic!("ten") } else { x },
                0..50,
                opts,
            )
            .unwrap()
            .collect();
        assert_eq!(out.len(), 50);
        assert_eq!(out[10].as_ref().unwrap_err().index(), 10);
        assert!(out.iter().enumerate().all(|(i, r)| i == 10 || r == &Ok(i)));
    }
}

#[test]
fn map_is_lazy_in_its_results() {
    let p = pool(2);
    let (go, go_rx) = gate();
    let mut it = p
        .map(
            move |x: u32| {
                if x == 1 {
                    go_rx.recv().unwrap();
                }
                x
            },
            0..3,
        )
        .unwrap();
    assert_eq!(
        it.next(),
        Some(Ok(0)),
        "first result available before the rest"
    );
    go.send(()).unwrap();
    assert_eq!(it.collect::<Vec<_>>(), [Ok(1), Ok(2)]);
}

#[test]
fn map_with_timeout_yields_timeout_then_ends() {
    let p = pool(1);
    let (go, go_rx) = gate();
    let opts = MapOptions::new().timeout(Duration::from_millis(50));
    let mut it = p
        .map_with(
            move |x: u32| {
                if x == 1 {
                    let _ = go_rx.recv();
                }
                x
            },
            0..4,
            opts,
        )
        .unwrap();
    assert_eq!(it.next(), Some(Ok(0)));
    let e = it.next().unwrap().unwrap_err();
    assert_eq!(e, MapItemError::Timeout { index: 1 });
    assert!(e.to_string().contains("timed out"));
    assert_eq!(it.next(), None);
    drop(go);
}

#[test]
fn imap_unordered_yields_everything_in_completion_order() {
    let p = pool(2);
    let (go, go_rx) = gate();
    let mut it = p
        .imap_unordered(
            move |x: u32| {
                if x == 0 {
                    go_rx.recv().unwrap();
                }
                if x == 2 {
                    panic!("two");
                }
                x
            },
            0..4,
        )
        .unwrap();
    let mut first = Vec::new();
    for _ in 0..3 {
        first.push(it.next().unwrap());
    }
    assert!(!first.contains(&Ok(0)), "0 is still blocked: {first:?}");
    assert!(first.iter().any(|r| matches!(r, Err(e) if e.index() == 2)));
    go.send(()).unwrap();
    assert_eq!(it.next(), Some(Ok(0)));
    assert_eq!(it.next(), None);
}

#[test]
fn starmap_nine_params_three_workers_in_input_order() {
    let p = pool(3);
    let lock = Arc::new(Mutex::new(Vec::new()));
    let params: Vec<_> = (0..9).map(|i| (i, lock.clone())).collect();
    let out = p
        .starmap(
            |idx: usize, lock: Arc<Mutex<Vec<String>>>| {
                for i in 0..3 {
                    lock.lock().unwrap().push(format!("{idx} -> {i}"));
                }
                idx
            },
            params,
        )
        .unwrap();
    let out: Vec<usize> = out.into_iter().map(Result::unwrap).collect();
    assert_eq!(out, (0..9).collect::<Vec<_>>());
    assert_eq!(lock.lock().unwrap().len(), 27);
}

#[test]
fn starmap_one_exception_loses_nothing() {
    let p = pool(3);
    let out = p
        .starmap(
            |idx: usize, tag: &'static str| {
                if idx == 4 {
                    panic!("This should have been caught");
                }
                format!("{tag}{idx}")
            },
            (0..9).map(|i| (i, "r")),
        )
        .unwrap();
    assert_eq!(out.len(), 9);
    assert_eq!(out.iter().filter(|r| r.is_ok()).count(), 8);
    assert!(
        matches!(&out[4], Err(MapItemError::Failed {
            index: 4,
            error: TaskError::Panicked { message, .. }
        }) if message == "This should have been caught"),
        "{:?}",
        out[4]
    );
    assert_eq!(out[8], Ok("r8".to_owned()));
}

#[test]
fn async_results_ready_wait_get_successful() {
    let p = pool(2);
    let (go, go_rx) = gate();
    let r = p.apply_async(move || go_rx.recv().map(|_| 5)).unwrap();
    assert!(!r.ready());
    assert_eq!(r.successful(), Err(threadkit::executor::NotReady));
    assert_eq!(r.wait_timeout(Duration::from_millis(10)), Ok(false));
    let r = match r.get_timeout(Duration::from_millis(10)) {
        Err(threadkit::executor::GetTimeoutError::Timeout(r)) => r,
        other => panic!("{other:?}"),
    };
    go.send(()).unwrap();
    r.wait();
    assert!(r.ready());
    assert_eq!(r.successful(), Ok(true));
    assert_eq!(r.get(), Ok(Ok(5)));

    let bad = p.apply_async(|| -> u8 { panic!("no") }).unwrap();
    bad.wait();
    assert_eq!(bad.successful(), Ok(false));
    assert!(matches!(bad.get(), Err(TaskError::Panicked { .. })));

    let m = p
        .starmap_async(
            |a: u32, b: u32| if a == 1 { panic!("one") } else { a + b },
            [(0, 1), (1, 1), (2, 1)],
        )
        .unwrap();
    m.wait();
    assert_eq!(m.successful(), Ok(false));
    let v = m.get().unwrap();
    assert_eq!(v[0], Ok(1));
    assert_eq!(v[1].as_ref().unwrap_err().index(), 1);
    assert_eq!(v[2], Ok(3));

    let empty = p.map_async(|x: u8| x, Vec::new()).unwrap();
    assert_eq!(empty.get(), Ok(vec![]));
}

#[test]
fn map_async_reports_cancelled_items_on_shutdown_cancel() {
    let p = pool(1);
    let (busy, started, go) = blocker(&p);
    started.recv().unwrap();
    let r = p.map_async(|x: u8| x, 0..3).unwrap();
    p.shutdown_with(ShutdownOptions {
        wait: false,
        cancel_futures: true,
    });
    go.send(()).unwrap();
    busy.wait();
    let v = r.get_timeout(LONG).unwrap();
    assert!(v.iter().all(|x| matches!(
        x,
        Err(MapItemError::Failed {
            error: TaskError::Cancelled,
            ..
        })
    )));
}

// ---------------------------------------------------------------- scope

#[test]
fn scope_tasks_borrow_and_mutate_the_callers_stack() {
    let p = pool(3);
    let mut data = vec![0u64; 64];
    let base = 10u64;
    p.scope(|s| {
        for (i, chunk) in data.chunks_mut(8).enumerate() {
            let base = &base;
            s.submit(move || {
                for x in chunk.iter_mut() {
                    *x = *base + i as u64;
                }
            })
            .unwrap();
        }
    });
    for (i, x) in data.iter().enumerate() {
        assert_eq!(*x, 10 + (i / 8) as u64);
    }
}

#[test]
fn scope_returns_values_and_tasks_can_spawn_more() {
    let p = pool(2);
    let words = ["alpha", "be", "gamma"];
    let total = AtomicUsize::new(0);
    let r = p.scope(|s| {
        for w in &words {
            let total = &total;
            s.submit(move || {
                s.submit(move || total.fetch_add(w.len(), Ordering::SeqCst))
                    .unwrap();
            })
            .unwrap();
        }
        "ok"
    });
    assert_eq!(r, "ok");
    assert_eq!(total.load(Ordering::SeqCst), 12);
}

#[test]
fn scope_waits_for_its_tasks_even_when_the_closure_panics() {
    let p = pool(2);
    let finished = AtomicBool::new(false);
    let (go, go_rx) = gate();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        p.scope(|s| {
            s.submit(|| {
                go_rx.recv().unwrap();
                finished.store(true, Ordering::SeqCst);
            })
            .unwrap();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                go.send(()).unwrap();
            });
            panic!("scope body failed");
        })
    }));
    assert!(result.is_err());
    assert!(
        finished.load(Ordering::SeqCst),
        "task finished before scope returned"
    );
}

#[test]
fn scope_task_panic_stays_in_its_future() {
    let p = pool(2);
    let s = String::from("hello");
    p.scope(|sc| {
        let bad = sc.submit(|| -> usize { panic!("scoped") }).unwrap();
        let good = sc.submit(|| s.len()).unwrap();
        assert!(matches!(bad.result(), Err(TaskError::Panicked { .. })));
        assert_eq!(good.into_result(), Ok(5));
    });
}

#[test]
fn scope_results_that_borrow_are_dropped_inside_the_scope() {
    struct Noisy<'a>(&'a AtomicUsize);
    impl Drop for Noisy<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let p = pool(2);
    let drops = AtomicUsize::new(0);
    p.scope(|s| {
        for _ in 0..10 {
            let d = &drops;
            let _ = s.submit(move || Noisy(d)).unwrap();
        }
    });
    assert_eq!(drops.load(Ordering::SeqCst), 10);
}

#[test]
fn scope_cancelled_tasks_and_shutdown_during_scope() {
    let p = pool(1);
    let (busy, started, go) = blocker(&p);
    started.recv().unwrap();
    let v = [1, 2, 3];
    p.scope(|s| {
        let f = s.submit(|| v.len()).unwrap();
        assert!(f.cancel());
        assert!(f.is_cancelled());
        let g = s.submit(|| v.len()).unwrap();
        go.send(()).unwrap();
        assert_eq!(g.result(), Ok(3));
    });
    busy.wait();
}

// ---------------------------------------------------------------- nested waits

#[test]
fn task_waiting_on_its_own_subtask_in_a_one_worker_pool() {
    let p = pool(1);
    let h = p.handle();
    let f = p
        .submit(move || {
            let inner: Vec<_> = (0..5).map(|i| h.submit(move || i * 2).unwrap()).collect();
            inner.iter().map(|f| f.result().unwrap()).sum::<i32>()
        })
        .unwrap();
    assert_eq!(f.result_timeout(LONG), Ok(20));
}

#[test]
fn nested_chain_of_waits_with_one_worker() {
    fn chain(h: threadkit::executor::PoolHandle, depth: u32) -> u32 {
        if depth == 0 {
            return 0;
        }
        let h2 = h.clone();
        h.submit(move || chain(h2, depth - 1) + 1)
            .unwrap()
            .into_result()
            .unwrap()
    }
    let p = pool(1);
    let h = p.handle();
    let f = p.submit(move || chain(h, 50)).unwrap();
    assert_eq!(f.result_timeout(LONG), Ok(50));
}

#[test]
fn wait_and_as_completed_inside_a_full_pool() {
    let p = pool(1);
    let h = p.handle();
    let f = p
        .submit(move || {
            let fs: Vec<_> = (0..4).map(|i| h.submit(move || i).unwrap()).collect();
            let w = wait(&fs, ReturnWhen::AllCompleted);
            assert_eq!(w.done.len(), 4);
            let more: Vec<_> = (0..4).map(|i| h.submit(move || i).unwrap()).collect();
            let first = wait(&more, ReturnWhen::FirstCompleted);
            assert!(!first.done.is_empty());
            let got: usize = as_completed(&more).map(|(_, f)| f.result().unwrap()).sum();
            let unordered: usize = h.scope(|s| s.submit(|| 1).unwrap().into_result().unwrap());
            got + unordered
        })
        .unwrap();
    assert_eq!(f.result_timeout(LONG), Ok(7));
}

#[test]
fn map_family_inside_a_one_worker_pool() {
    let p = Arc::new(pool(1));
    let p2 = p.clone();
    let f = p
        .submit(move || {
            let ordered: Vec<_> = p2.map(|x: u32| x + 1, 0..4).unwrap().collect();
            let unordered = p2.imap_unordered(|x: u32| x, 0..4).unwrap().count();
            let star = p2
                .starmap(|a: u32, b: u32| a * b, [(2, 3), (4, 5)])
                .unwrap();
            let gathered = p2.map_async(|x: u32| x, 0..3).unwrap().get().unwrap();
            (ordered.len(), unordered, star.len(), gathered.len())
        })
        .unwrap();
    assert_eq!(f.result_timeout(LONG), Ok((4, 4, 2, 3)));
}

#[test]
fn scope_inside_a_task_of_a_one_worker_pool() {
    let p = pool(1);
    let h = p.handle();
    let f = p
        .submit(move || {
            let mut v = [0; 8];
            h.scope(|s| {
                for (i, x) in v.iter_mut().enumerate() {
                    s.submit(move || *x = i).unwrap();
                }
            });
            v.iter().sum::<usize>()
        })
        .unwrap();
    assert_eq!(f.result_timeout(LONG), Ok(28));
}

#[test]
fn timed_wait_inside_a_full_pool_times_out_instead_of_running_inline() {
    let p = pool(1);
    let h = p.handle();
    let f = p
        .submit(move || {
            let inner = h.submit(|| 1).unwrap();
            let r = inner.result_timeout(Duration::from_millis(20));
            (r, inner)
        })
        .unwrap();
    let (r, inner) = f.into_result().unwrap();
    assert_eq!(r, Err(ResultTimeoutError::Timeout));
    assert_eq!(inner.result_timeout(LONG), Ok(1));
}

// ---------------------------------------------------------------- stress

#[test]
fn stress_many_submitters_many_tasks() {
    let p = Arc::new(pool(4));
    let n = 2_000 * stress::<usize>();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let p = p.clone();
            std::thread::spawn(move || {
                let fs: Vec<_> = (0..n)
                    .map(|i| p.submit(move || t * n + i).unwrap())
                    .collect();
                fs.into_iter()
                    .map(|f| f.into_result().unwrap())
                    .sum::<usize>()
            })
        })
        .collect();
    let total: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let all = 4 * n;
    assert_eq!(total, all * (all - 1) / 2);
}

#[test]
fn stress_cancel_races_with_workers() {
    let p = pool(2);
    for _ in 0..200 * stress::<usize>() {
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let f = p.submit(move || r.store(true, Ordering::SeqCst)).unwrap();
        let cancelled = f.cancel();
        f.wait();
        assert_eq!(cancelled, f.is_cancelled());
        if cancelled {
            assert!(!ran.load(Ordering::SeqCst));
        } else {
            assert_eq!(f.result(), Ok(()));
            assert!(ran.load(Ordering::SeqCst));
        }
    }
}

#[test]
fn stress_readers_callbacks_and_waits_racing_with_completion() {
    // The completion path takes no lock unless someone registered: race blocked readers (one
    // of which timed out first), callbacks, `wait` registrations and the finishing worker.
    let p = pool(2);
    for _ in 0..100 * stress::<usize>() {
        let (f, started, go) = blocker(&p);
        started.recv().unwrap();
        assert_eq!(
            f.result_timeout(Duration::from_millis(1)),
            Err(ResultTimeoutError::Timeout)
        );
        let (called_tx, called) = unbounded();
        let barrier = Arc::new(Barrier::new(4));
        let readers: Vec<_> = (0..3)
            .map(|i| {
                let (f, called_tx, barrier) = (f.clone(), called_tx.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    match i {
                        0 => f.result().unwrap(),
                        1 => {
                            f.add_done_callback(move |f| {
                                called_tx.send(f.is_done()).unwrap();
                            });
                            f.result_timeout(LONG).unwrap()
                        }
                        _ => {
                            let w = wait(std::slice::from_ref(&f), ReturnWhen::AllCompleted);
                            assert_eq!(w.done, vec![0]);
                            f.try_result().unwrap()
                        }
                    }
                })
            })
            .collect();
        barrier.wait();
        go.send(()).unwrap();
        for r in readers {
            assert_eq!(r.join().unwrap(), "blocker");
        }
        // The callback runs once, on the worker or at once on its thread, seeing a done future.
        assert_eq!(called.recv_timeout(LONG), Ok(true));
        assert!(called.try_recv().is_err());
        assert_eq!(f.into_result(), Ok("blocker"));
    }
}

// ---------------------------------------------------------------- idle timeout

/// The names of the registered threads starting with `prefix`.
fn threads_named(prefix: &str) -> Vec<String> {
    threadkit::thread::enumerate()
        .iter()
        .map(|t| t.name().to_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// Waits (up to `LONG`) until no registered thread's name starts with `prefix`.
fn wait_until_no_thread_named(prefix: &str) -> Vec<String> {
    let give_up = Instant::now() + LONG;
    loop {
        let left = threads_named(prefix);
        if left.is_empty() || Instant::now() > give_up {
            return left;
        }
        // Lets time pass for the idle timeout; the assertion is on the registry.
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn an_idle_worker_exits_after_the_idle_timeout_and_a_later_submit_starts_another() {
    let p = ThreadPool::builder()
        .max_workers(2)
        .thread_name_prefix("idle-exit")
        .idle_timeout(Duration::from_millis(30))
        .build()
        .unwrap();
    let name = || threadkit::thread::current().name().to_owned();
    assert_eq!(p.submit(name).unwrap().result().unwrap(), "idle-exit_0");
    assert_eq!(
        wait_until_no_thread_named("idle-exit_"),
        Vec::<String>::new()
    );
    assert!(format!("{p:?}").contains("workers: 0"), "{p:?}");
    // The pool starts a new worker on demand; names are never reused.
    assert_eq!(p.submit(name).unwrap().result().unwrap(), "idle-exit_1");
    p.shutdown();
    assert_eq!(
        wait_until_no_thread_named("idle-exit_"),
        Vec::<String>::new()
    );
}

#[test]
fn without_an_idle_timeout_idle_workers_stay() {
    let p = ThreadPool::builder()
        .max_workers(1)
        .thread_name_prefix("idle-stay")
        .build()
        .unwrap();
    p.submit(|| ()).unwrap().result().unwrap();
    // Lets time pass: an idle worker must not leave on its own.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(threads_named("idle-stay_"), ["idle-stay_0"]);
}

#[test]
fn workers_retiring_all_the_time_never_strand_a_task() {
    // With a zero idle timeout every worker leaves as soon as the queue is empty, racing the
    // submissions: each task must still run, whether a retiring worker saw it or the
    // submission saw the worker gone and started another.
    for (k, timeout) in [Duration::ZERO, Duration::from_micros(50)]
        .into_iter()
        .enumerate()
    {
        let prefix = format!("idle-race-{k}");
        let p = Arc::new(
            ThreadPool::builder()
                .max_workers(3)
                .thread_name_prefix(prefix.as_str())
                .idle_timeout(timeout)
                .build()
                .unwrap(),
        );
        let per = 150 * stress::<usize>();
        let start = Arc::new(Barrier::new(4));
        let submitters: Vec<_> = (0..4)
            .map(|t| {
                let (p, start) = (p.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    let mut futures = Vec::with_capacity(per);
                    for i in 0..per {
                        futures.push(p.submit(move || t * per + i).unwrap());
                        if i % 8 == 0 {
                            // Let the queue run dry now and then, so workers retire.
                            let f = futures.last().unwrap();
                            f.result_timeout(LONG).unwrap();
                        }
                    }
                    futures
                        .into_iter()
                        .map(|f| f.result_timeout(LONG).expect("a task was stranded"))
                        .sum::<usize>()
                })
            })
            .collect();
        let total: usize = submitters.into_iter().map(|s| s.join().unwrap()).sum();
        let n = 4 * per;
        assert_eq!(total, n * (n - 1) / 2);
        // Once the queue is empty every worker leaves; the next task gets a new one.
        let mine = format!("{prefix}_");
        assert_eq!(wait_until_no_thread_named(&mine), Vec::<String>::new());
        let last = p
            .submit(|| threadkit::thread::current().name().to_owned())
            .unwrap()
            .result_timeout(LONG)
            .unwrap();
        let index: usize = last.trim_start_matches(&mine).parse().unwrap();
        assert!(index >= 1, "{last}");
        p.shutdown();
        assert_eq!(wait_until_no_thread_named(&mine), Vec::<String>::new());
    }
}

#[test]
fn a_task_submitted_as_the_idle_timeout_expires_still_runs() {
    // One worker, and each task submitted about when the worker's idle timeout expires: the
    // worker either takes the task or leaves and the submission starts another, never
    // leaves it queued with no worker.
    let p = ThreadPool::builder()
        .max_workers(1)
        .thread_name_prefix("idle-edge")
        .idle_timeout(Duration::from_millis(1))
        .build()
        .unwrap();
    let name = || threadkit::thread::current().name().to_owned();
    for i in 0..300 * stress::<usize>() as u64 {
        // Lets time pass up to around the idle timeout (0.8 to 1.2 ms).
        std::thread::sleep(Duration::from_micros(800 + (i * 37) % 400));
        p.submit(name)
            .unwrap()
            .result_timeout(Duration::from_secs(5))
            .expect("a task was left queued with no worker");
    }
    // The worker does leave once idle, and the next task gets a new one.
    assert_eq!(
        wait_until_no_thread_named("idle-edge_"),
        Vec::<String>::new()
    );
    let last = p.submit(name).unwrap().result_timeout(LONG).unwrap();
    assert_ne!(last, "idle-edge_0");
}

#[test]
fn map_options_chain_without_unwrap_and_invalid_values_fail_when_the_map_starts() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let p = pool(2);
    // The issue's chain: plain numbers, no NonZeroUsize::new(6).unwrap(), no `?` in the middle.
    let opts = MapOptions::new()
        .chunksize(6)
        .timeout(Duration::from_secs(600));
    assert_eq!(opts.get_chunksize().get(), 6);
    assert_eq!(opts.check(), Ok(()));
    let out: Vec<u32> = p
        .map_with(|x: u32| x * 2, 0..20, opts)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, (0..20).map(|x| x * 2).collect::<Vec<_>>());

    // Invalid values are kept in the chain and reported, typed, when the map starts; nothing runs.
    let ran = Arc::new(AtomicUsize::new(0));
    let counting = {
        let ran = ran.clone();
        move |x: u32| {
            ran.fetch_add(1, Ordering::SeqCst);
            x
        }
    };
    let zero = MapOptions::new()
        .chunksize(0)
        .timeout(Duration::from_secs(1));
    assert_eq!(zero.check(), Err(MapOptionsError::ZeroChunksize));
    let e = p.map_with(counting.clone(), 0..3, zero).unwrap_err();
    assert_eq!(
        e,
        SubmitError::InvalidOptions(MapOptionsError::ZeroChunksize)
    );
    assert!(
        e.to_string().contains("chunksize must be at least 1"),
        "{e}"
    );
    let huge = MapOptions::new().timeout(Duration::MAX).chunksize(2);
    let e = p.map_with(counting, 0..3, huge).unwrap_err();
    assert!(
        matches!(
            e,
            SubmitError::InvalidOptions(MapOptionsError::TimeoutOverflow(_))
        ),
        "{e:?}"
    );
    p.shutdown();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
#[allow(deprecated)]
fn map_options_old_forms_still_compile() {
    // Before: chunksize took a NonZeroUsize and timeout returned a Result.
    let opts = MapOptions::new()
        .chunksize(std::num::NonZeroUsize::new(3).unwrap())
        .timeout(Duration::from_secs(600))
        .unwrap();
    assert_eq!(opts.get_chunksize().get(), 3);
    let out: Vec<_> = pool(1).map_with(|x: u8| x, [7, 8], opts).unwrap().collect();
    assert_eq!(out, [Ok(7), Ok(8)]);
}

// ---------------------------------------------------------------- how many workers start

/// Python's `ThreadPoolExecutor` starts a thread only when a submission finds none idle, so
/// three blocking tasks in a pool of five run on exactly three threads. A worker that takes a
/// job while others are queued must not start another for a job whose own worker is still
/// starting (that gave four threads about one run in six).
#[test]
fn three_blocking_tasks_in_a_pool_of_five_start_exactly_three_workers() {
    for run in 0..100 * stress::<usize>() {
        let prefix = format!("exact-three-{run}");
        let p = ThreadPool::builder()
            .max_workers(5)
            .thread_name_prefix(prefix.as_str())
            .build()
            .unwrap();
        let sem = Arc::new(threadkit::sync::Semaphore::new(0));
        let (started_tx, started) = unbounded();
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let sem = sem.clone();
                let started_tx = started_tx.clone();
                p.submit(move || {
                    started_tx.send(()).unwrap();
                    sem.acquire();
                })
                .unwrap()
            })
            .collect();
        for _ in 0..3 {
            started.recv_timeout(LONG).unwrap();
        }
        // Every worker decides whether to start another before it runs its job, and the pool
        // registers a thread before `spawn` returns: all three jobs running means the count
        // is final.
        let workers = threads_named(&prefix).len();
        sem.release_n(3).unwrap();
        for t in tasks {
            t.result_timeout(LONG).unwrap();
        }
        drop(p);
        assert_eq!(workers, 3, "run {run}: {workers} workers for 3 tasks");
    }
}
