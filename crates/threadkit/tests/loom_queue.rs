//! loom models of `threadkit::queue`: every interleaving of small bounded queues shared by two
//! or three threads. `Queue::bounded(n)` runs on the lock-free ring engine, `Queue::lifo(n)` and
//! `Queue::priority(n)` on the lock-based one; the lifecycle models run on both. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p threadkit --release --test loom_queue`.
#![cfg(loom)]

use loom::thread;
use threadkit::queue::{GetError, PutError, Queue, TaskDoneError};

#[test]
fn put_and_get_hand_over_through_a_queue_of_one() {
    loom::model(|| {
        let q = Queue::bounded(1);
        let producer = {
            let q = q.clone();
            thread::spawn(move || {
                q.put(1).unwrap();
                q.put(2).unwrap(); // waits until the consumer took 1
            })
        };
        assert_eq!(q.get(), Ok(1));
        assert_eq!(q.get(), Ok(2));
        producer.join().unwrap();
        assert!(q.is_empty());
    });
}

#[test]
fn lifo_and_priority_hand_over_too() {
    loom::model(|| {
        for q in [Queue::lifo(1), Queue::priority(1)] {
            let producer = {
                let q = q.clone();
                thread::spawn(move || q.put(9).unwrap())
            };
            assert_eq!(q.get(), Ok(9));
            producer.join().unwrap();
        }
    });
}

#[test]
fn join_returns_only_after_task_done() {
    loom::model(|| {
        let q = Queue::bounded(1);
        join_then_task_done(q);
    });
}

#[test]
fn join_returns_only_after_task_done_lock_engine() {
    loom::model(|| join_then_task_done(Queue::lifo(1)));
}

fn join_then_task_done(q: Queue<i32>) {
    {
        q.put(7).unwrap();
        let consumer = {
            let q = q.clone();
            thread::spawn(move || {
                assert_eq!(q.get(), Ok(7));
                q.task_done().unwrap();
            })
        };
        q.join();
        assert_eq!(q.unfinished_tasks(), 0);
        assert_eq!(q.task_done(), Err(TaskDoneError));
        consumer.join().unwrap();
    }
}

#[test]
fn two_joiners_both_wake() {
    loom::model(|| {
        let q = Queue::bounded(1);
        q.put(()).unwrap();
        let joiner = {
            let q = q.clone();
            thread::spawn(move || q.join())
        };
        let worker = {
            let q = q.clone();
            thread::spawn(move || {
                q.get().unwrap();
                q.task_done().unwrap();
            })
        };
        q.join();
        joiner.join().unwrap();
        worker.join().unwrap();
    });
}

#[test]
fn racing_task_done_calls_succeed_once_per_task() {
    loom::model(|| {
        let q = Queue::bounded(1);
        q.put(()).unwrap();
        q.get().unwrap();
        let other = {
            let q = q.clone();
            thread::spawn(move || q.task_done().is_ok())
        };
        let mine = q.task_done().is_ok();
        let theirs = other.join().unwrap();
        assert!(
            mine ^ theirs,
            "exactly one of two task_done calls for one task succeeds"
        );
    });
}

#[test]
fn shutdown_wakes_a_blocked_getter() {
    loom::model(|| {
        let q = Queue::<u8>::bounded(1);
        let getter = {
            let q = q.clone();
            thread::spawn(move || q.get())
        };
        q.shutdown(false);
        assert_eq!(getter.join().unwrap(), Err(GetError));
    });
}

#[test]
fn shutdown_lets_a_getter_drain_first() {
    loom::model(|| {
        let q = Queue::bounded(1);
        let getter = {
            let q = q.clone();
            thread::spawn(move || (q.get(), q.get()))
        };
        q.put(5).unwrap();
        q.shutdown(false);
        assert_eq!(getter.join().unwrap(), (Ok(5), Err(GetError)));
    });
}

#[test]
fn shutdown_wakes_a_blocked_putter_and_keeps_the_item() {
    loom::model(|| shutdown_with_a_blocked_putter(Queue::bounded(1)));
}

#[test]
fn shutdown_wakes_a_blocked_putter_and_keeps_the_item_lock_engine() {
    loom::model(|| shutdown_with_a_blocked_putter(Queue::lifo(1)));
}

fn shutdown_with_a_blocked_putter(q: Queue<i32>) {
    {
        q.put(1).unwrap();
        let putter = {
            let q = q.clone();
            thread::spawn(move || q.put(2))
        };
        q.shutdown(false);
        assert_eq!(putter.join().unwrap(), Err(PutError(2)));
        assert_eq!(q.get(), Ok(1));
        assert_eq!(q.get(), Err(GetError));
    }
}

#[test]
fn immediate_shutdown_wakes_join_and_getters() {
    loom::model(|| immediate_shutdown_with_a_joiner(Queue::bounded(1)));
}

#[test]
fn immediate_shutdown_wakes_join_and_getters_lock_engine() {
    loom::model(|| immediate_shutdown_with_a_joiner(Queue::lifo(1)));
}

fn immediate_shutdown_with_a_joiner(q: Queue<i32>) {
    {
        q.put(1).unwrap();
        let joiner = {
            let q = q.clone();
            thread::spawn(move || q.join())
        };
        q.shutdown(true);
        joiner.join().unwrap();
        assert_eq!(q.unfinished_tasks(), 0);
        assert_eq!(q.get(), Err(GetError));
    }
}

#[test]
fn put_racing_shutdown_is_either_refused_or_delivered() {
    loom::model(|| {
        let q = Queue::bounded(1);
        let putter = {
            let q = q.clone();
            thread::spawn(move || q.put(3).is_ok())
        };
        let getter = {
            let q = q.clone();
            thread::spawn(move || q.get().ok())
        };
        q.shutdown(false);
        let put = putter.join().unwrap();
        let got = getter.join().unwrap();
        // A successful put is handed out; a refused one is not; nothing is left behind.
        assert_eq!(got.is_some(), put);
        assert!(q.is_empty());
    });
}

#[test]
fn producer_consumer_join_then_shutdown() {
    // The whole lifecycle with three threads: a producer blocked on a full queue of one, a
    // consumer marking items done, main joining and then shutting down to end the consumer.
    loom::model(|| {
        let q = Queue::bounded(1);
        let producer = {
            let q = q.clone();
            thread::spawn(move || {
                q.put(1).unwrap();
                q.put(2).unwrap();
            })
        };
        let consumer = {
            let q = q.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                while let Ok(item) = q.get() {
                    got.push(item);
                    q.task_done().unwrap();
                }
                got
            })
        };
        producer.join().unwrap();
        q.join();
        assert_eq!(q.unfinished_tasks(), 0);
        q.shutdown(false);
        assert_eq!(consumer.join().unwrap(), [1, 2]);
    });
}

#[test]
fn two_putters_through_one_slot_wrap_the_ring() {
    // Two putters race for the single slot (one compare-and-swap wins, the other waits for the
    // next lap); the getter sees both items, each once.
    loom::model(|| {
        let q = Queue::bounded(1);
        let putters: Vec<_> = [1, 2]
            .into_iter()
            .map(|v| {
                let q = q.clone();
                thread::spawn(move || q.put(v).unwrap())
            })
            .collect();
        let a = q.get().unwrap();
        let b = q.get().unwrap();
        assert_eq!(a + b, 3);
        for p in putters {
            p.join().unwrap();
        }
        assert_eq!(q.unfinished_tasks(), 2);
    });
}

#[test]
fn immediate_shutdown_racing_a_put_and_a_get_balances_the_books() {
    // A put and a get (with task_done) race an immediate shutdown: the item is refused, got or
    // dropped; in every case join returns and nothing stays unfinished or queued.
    loom::model(|| {
        let q = Queue::bounded(1);
        let putter = {
            let q = q.clone();
            thread::spawn(move || q.put(1).is_ok())
        };
        let getter = {
            let q = q.clone();
            thread::spawn(move || match q.get() {
                Ok(v) => {
                    q.task_done().unwrap();
                    Some(v)
                }
                Err(GetError) => None,
            })
        };
        q.shutdown(true);
        let put = putter.join().unwrap();
        let got = getter.join().unwrap();
        assert!(put || got.is_none(), "only a put item can be got");
        q.join();
        assert_eq!(q.unfinished_tasks(), 0);
        assert!(q.is_empty());
    });
}

#[test]
fn task_done_racing_a_put_counts_both() {
    // task_done reads the number of puts off the ring's tail while a put moves it.
    loom::model(|| {
        let q = Queue::bounded(2);
        q.put(1).unwrap();
        assert_eq!(q.get(), Ok(1));
        let putter = {
            let q = q.clone();
            thread::spawn(move || q.put(2).unwrap())
        };
        assert_eq!(q.task_done(), Ok(()));
        putter.join().unwrap();
        assert_eq!(q.unfinished_tasks(), 1);
        assert_eq!(q.qsize(), 1);
    });
}
