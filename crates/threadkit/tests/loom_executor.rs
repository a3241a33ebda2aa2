//! loom models of the executor's `Future` state machine (one atomic state byte; a lock and a
//! condition variable only for registered waiters and callbacks): every interleaving of a
//! task finishing on one thread while others wait on, cancel or add callbacks to its future.
//! Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p threadkit --release --test loom_executor`.
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use threadkit::executor::{
    loom_completer, loom_task, LoomQueue, LoomTask, TaskError, TryResultError,
};

#[test]
fn a_blocked_reader_is_woken_by_the_finisher() {
    loom::model(|| {
        let (fut, task) = loom_task(|| 7);
        let worker = thread::spawn(move || task.run());
        // Blocks (registers, sleeps on the condvar) or finds it done: never misses the wakeup.
        assert_eq!(fut.result(), Ok(7));
        assert!(fut.is_done() && !fut.is_running() && !fut.is_cancelled());
        worker.join().unwrap();
    });
}

#[test]
fn cancel_racing_with_the_worker_has_one_winner() {
    loom::model(|| {
        let ran = Arc::new(AtomicUsize::new(0));
        let (fut, task) = {
            let ran = ran.clone();
            loom_task(move || ran.fetch_add(1, Ordering::SeqCst))
        };
        let worker = thread::spawn(move || task.run());
        let cancelled = fut.cancel();
        worker.join().unwrap();
        let result = fut.result();
        if cancelled {
            assert_eq!(result, Err(TaskError::Cancelled));
            assert_eq!(ran.load(Ordering::SeqCst), 0);
            assert!(fut.is_cancelled());
        } else {
            assert_eq!(result, Ok(0));
            assert_eq!(ran.load(Ordering::SeqCst), 1);
            assert!(!fut.is_cancelled());
        }
    });
}

#[test]
fn a_callback_added_during_the_run_runs_exactly_once_on_a_done_future() {
    loom::model(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let (fut, task) = loom_task(|| 5);
        let worker = thread::spawn(move || task.run());
        {
            let calls = calls.clone();
            fut.add_done_callback(move |f| {
                assert_eq!(f.try_result(), Ok(5));
                calls.fetch_add(1, Ordering::SeqCst);
            });
        }
        worker.join().unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn abort_and_a_timed_reader_and_a_taker() {
    loom::model(|| {
        let (fut, task) = loom_task(|| String::from("v"));
        let reader = {
            let fut = fut.clone();
            // Under loom a timed wait waits for the notify: it must come.
            thread::spawn(move || fut.result_timeout(std::time::Duration::from_secs(60)).ok())
        };
        let drain = thread::spawn(move || task.abort());
        let taken = fut.clone().into_result();
        drain.join().unwrap();
        let read = reader.join().unwrap();
        assert_eq!(taken, Err(TaskError::Cancelled));
        assert_eq!(read, None);
        assert_eq!(
            fut.try_result(),
            Err(TryResultError::Task(TaskError::Cancelled))
        );
    });
}

#[test]
fn a_value_is_taken_once_while_a_clone_reads_it() {
    loom::model(|| {
        let (fut, task) = loom_task(|| 9u32);
        let worker = thread::spawn(move || task.run());
        let reader = {
            let fut = fut.clone();
            thread::spawn(move || fut.result())
        };
        let taken = fut.clone().into_result();
        worker.join().unwrap();
        let read = reader.join().unwrap();
        assert_eq!(taken, Ok(9));
        // The reader either cloned the value before the take or found it taken.
        assert!(read == Ok(9) || read == Err(TaskError::ResultTaken));
        assert_eq!(
            fut.try_result(),
            Err(TryResultError::Task(TaskError::ResultTaken))
        );
    });
}

/// The process pool's path: a manager starts the future, puts it back to pending (the worker
/// it was sent ahead to died), starts it again and finishes it, while the owner cancels it and
/// a reader waits. One of cancel and the second start wins; the reader is woken either way,
/// even if it registered while the future was running before going back to pending.
#[test]
fn a_future_put_back_to_pending_is_cancelled_or_finished_once_and_wakes_its_reader() {
    loom::model(|| {
        let (fut, completer) = loom_completer::<u32>();
        assert!(completer.start());
        let manager = thread::spawn(move || {
            completer.unstart();
            if completer.start() {
                completer.finish(9);
                true
            } else {
                false
            }
        });
        let reader = {
            let fut = fut.clone();
            thread::spawn(move || fut.result())
        };
        let cancelled = fut.cancel();
        let finished = manager.join().unwrap();
        // `cancel` found it running (before `unstart`) or done and lost, and the manager
        // finished it; or it found it pending and won, and the second start failed.
        assert_eq!(finished, !cancelled);
        let expected = if finished {
            Ok(9)
        } else {
            Err(TaskError::Cancelled)
        };
        assert_eq!(reader.join().unwrap(), expected);
        assert_eq!(fut.result(), expected);
    });
}

/// A queue entry counting its runs in `ran` (its future dropped: nobody waits on it).
fn counting_task(ran: &Arc<AtomicUsize>) -> LoomTask {
    let ran = ran.clone();
    loom_task(move || ran.fetch_add(1, Ordering::SeqCst)).1
}

/// The pool's job queue (a list through the tasks' links): tasks pushed by one thread while a
/// consumer takes them (sleeping when it finds none) run once each, in order; the consumer's
/// sleep never misses a push, and the last task can leave while the next is being linked in.
#[test]
fn queue_tasks_pushed_while_a_consumer_sleeps_run_once_in_order() {
    loom::model(|| {
        let queue = Arc::new(LoomQueue::default());
        let seq = Arc::new(AtomicUsize::new(0));
        let producer = {
            let queue = queue.clone();
            let seq = seq.clone();
            thread::spawn(move || {
                for i in 0..2 {
                    let seq = seq.clone();
                    let (_fut, task) = loom_task(move || {
                        assert_eq!(seq.fetch_add(1, Ordering::SeqCst), i, "out of order");
                    });
                    queue.push(task);
                }
            })
        };
        assert!(queue.recv_run());
        assert!(queue.recv_run());
        producer.join().unwrap();
        assert_eq!(seq.load(Ordering::SeqCst), 2);
        assert!(queue.is_empty() && !queue.try_run());
    });
}

/// A consumer going to sleep puts the stub back as the list's head (letting go of the task
/// popped last) while pushes race it: no task is lost or run twice.
#[test]
fn queue_the_dummy_let_go_before_sleeping_loses_no_push() {
    loom::model(|| {
        let queue = Arc::new(LoomQueue::default());
        let ran = Arc::new(AtomicUsize::new(0));
        queue.push(counting_task(&ran));
        let consumer = {
            let queue = queue.clone();
            thread::spawn(move || {
                // The first task, then a sleep (letting go of it) or the second at once.
                assert!(queue.recv_run());
                assert!(queue.recv_run());
            })
        };
        queue.push(counting_task(&ran));
        consumer.join().unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 2);
        assert!(queue.is_empty() && !queue.try_run());
    });
}

/// Two sleeping consumers and two pushes: each task runs once and neither consumer is left
/// asleep with a task queued.
#[test]
fn queue_two_consumers_each_get_a_task() {
    loom::model(|| {
        let queue = Arc::new(LoomQueue::default());
        let ran = Arc::new(AtomicUsize::new(0));
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let queue = queue.clone();
                thread::spawn(move || queue.recv_run())
            })
            .collect();
        for _ in 0..2 {
            queue.push(counting_task(&ran));
        }
        for c in consumers {
            assert!(c.join().unwrap());
        }
        assert_eq!(ran.load(Ordering::SeqCst), 2);
        assert!(queue.is_empty());
    });
}

/// Closing wakes a sleeping consumer, which still takes what was pushed before the close and
/// then sees the end.
#[test]
fn queue_close_wakes_the_consumer_after_the_last_task() {
    loom::model(|| {
        let queue = Arc::new(LoomQueue::default());
        let consumer = {
            let queue = queue.clone();
            thread::spawn(move || {
                let mut ran = 0;
                while queue.recv_run() {
                    ran += 1;
                }
                ran
            })
        };
        let (fut, task) = loom_task(|| 5);
        queue.push(task);
        queue.close();
        assert_eq!(consumer.join().unwrap(), 1);
        assert_eq!(fut.result(), Ok(5));
        assert_eq!(queue.len(), 0);
    });
}
