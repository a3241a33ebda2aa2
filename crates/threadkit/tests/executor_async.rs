//! Awaiting executor futures from async code (tokio and a minimal hand-written executor), and
//! futures made and completed by hand (`Future::new`, `set_result`, `set_exception`). The
//! process pool's futures (the same type) are awaited in tests/process_pool.rs, since this
//! binary starts no child process (valgrind runs it).
#![cfg(not(loom))]

use std::future::{Future as _, IntoFuture};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use threadkit::executor::{as_completed, Future, TaskError, ThreadPool};
use threadkit::sync::Event;

mod common;
use common::{block_on, unpark_waker};

const GENEROUS: Duration = Duration::from_secs(10);

#[test]
fn a_hand_written_executor_awaits_a_pool_task_finished_later() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let gate = Arc::new(Event::new());
    let g2 = Arc::clone(&gate);
    let fut = pool
        .submit(move || {
            g2.wait();
            String::from("done")
        })
        .unwrap();
    let opener = std::thread::spawn(move || gate.set());
    assert_eq!(block_on(fut), Ok("done".to_string()));
    opener.join().unwrap();
    let bad = pool.submit(|| -> u8 { panic!("no") }).unwrap();
    match block_on(bad) {
        Err(TaskError::Panicked { message, .. }) => assert_eq!(message, "no"),
        other => panic!("expected the panic, got {other:?}"),
    }
}

#[test]
fn the_waker_is_called_by_the_finishing_thread_and_only_once() {
    let fut = Future::<u32>::new();
    let mut awaited = IntoFuture::into_future(fut.clone());
    let (count, waker) = unpark_waker();
    let mut cx = Context::from_waker(&waker);
    let mut pinned = std::pin::Pin::new(&mut awaited);
    assert!(pinned.as_mut().poll(&mut cx).is_pending());
    assert!(
        pinned.as_mut().poll(&mut cx).is_pending(),
        "a second poll re-registers"
    );
    let f2 = fut.clone();
    std::thread::spawn(move || f2.set_result(5).unwrap())
        .join()
        .unwrap();
    assert_eq!(count.wakes.load(Ordering::SeqCst), 1, "one waker, replaced");
    assert_eq!(pinned.as_mut().poll(&mut cx), Poll::Ready(Ok(5)));
}

#[test]
fn dropping_an_await_does_not_cancel_the_work_nor_keep_its_waker() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let gate = Arc::new(Event::new());
    let g2 = Arc::clone(&gate);
    let fut = pool
        .submit(move || {
            g2.wait();
            9u8
        })
        .unwrap();
    let (count, waker) = unpark_waker();
    {
        let mut awaited = IntoFuture::into_future(fut.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(std::pin::Pin::new(&mut awaited).poll(&mut cx).is_pending());
    } // dropped: the async side gave up
    gate.set();
    assert_eq!(fut.result_timeout(GENEROUS), Ok(9), "the work still ran");
    assert_eq!(
        count.wakes.load(Ordering::SeqCst),
        0,
        "the dropped await's waker left"
    );
}

#[test]
fn tokio_awaits_without_blocking_its_only_thread() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let handoff = Future::<u64>::new();
    let h2 = handoff.clone();
    let work = pool.submit(|| (1..=100u64).sum::<u64>()).unwrap();
    // One runtime thread, two tasks: the first awaits a future that only the second completes.
    // If an await blocked the thread, the second task could never run.
    let (first, second) = rt.block_on(async move {
        tokio::join!(async move { handoff.await }, async move {
            let sum = work.await.unwrap();
            h2.set_result(sum * 2).unwrap();
            sum
        })
    });
    assert_eq!(second, 5050);
    assert_eq!(first, Ok(10100));
    // Many awaits at once, each woken by a worker.
    let futs: Vec<_> = (0..50u64)
        .map(|i| pool.submit(move || i * i).unwrap())
        .collect();
    let total = rt.block_on(async move {
        let mut total = 0;
        for f in futs {
            total += f.await.unwrap();
        }
        total
    });
    assert_eq!(total, (0..50u64).map(|i| i * i).sum::<u64>());
}

#[test]
fn a_hand_made_future_is_completed_once_and_tells_everyone() {
    let fut = Future::<&str>::new();
    assert!(!fut.is_done());
    let seen = Arc::new(AtomicUsize::new(0));
    let s2 = Arc::clone(&seen);
    fut.add_done_callback(move |f| {
        assert_eq!(f.result(), Ok("first"));
        s2.fetch_add(1, Ordering::SeqCst);
    });
    let waiter = {
        let f = fut.clone();
        std::thread::spawn(move || f.result_timeout(GENEROUS))
    };
    fut.set_result("first").unwrap();
    let again = fut.set_result("second").unwrap_err();
    assert_eq!(again.into_inner(), "second", "the value comes back");
    assert!(fut
        .set_exception(TaskError::Failed {
            message: "late".into()
        })
        .is_err());
    assert_eq!(waiter.join().unwrap(), Ok("first"));
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    assert!(!fut.cancel(), "done futures cannot be cancelled");
    // as_completed takes hand-made futures like pool futures.
    let a = Future::<u8>::new();
    let b = Future::<u8>::new();
    b.set_result(2).unwrap();
    let both = [a.clone(), b.clone()];
    let mut order = as_completed(&both);
    let (i, first) = order.next().unwrap();
    assert_eq!((i, first.result()), (1, Ok(2)));
    a.set_exception(TaskError::Failed {
        message: "adapter".into(),
    })
    .unwrap();
    let (i, last) = order.next().unwrap();
    assert_eq!(i, 0);
    assert_eq!(
        last.result().unwrap_err().to_string(),
        "task failed: adapter"
    );
}

#[test]
fn a_cancelled_hand_made_future_refuses_a_result() {
    let fut = Future::<u8>::new();
    assert!(fut.cancel());
    assert!(fut.is_cancelled());
    assert_eq!(fut.set_result(1).unwrap_err().into_inner(), 1);
    assert_eq!(block_on(fut), Err(TaskError::Cancelled));
}
