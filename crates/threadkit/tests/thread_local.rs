#![cfg(not(loom))]
//! `threadkit::thread::Local<T>`: isolation between threads and both drop paths.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};

use threadkit::thread::{self, Local};

/// Counts its drops and remembers on which thread each happened.
struct Tracked {
    value: usize,
    drops: Arc<AtomicUsize>,
    dropped_on: Arc<Mutex<Vec<u64>>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        self.dropped_on.lock().unwrap().push(thread::get_ident());
    }
}

fn tracked_local(drops: &Arc<AtomicUsize>, on: &Arc<Mutex<Vec<u64>>>) -> Arc<Local<Tracked>> {
    let (drops, on) = (drops.clone(), on.clone());
    Arc::new(Local::new(move || Tracked {
        value: usize::MAX,
        drops: drops.clone(),
        dropped_on: on.clone(),
    }))
}

#[test]
fn eight_threads_each_see_their_own_value() {
    let n = 8;
    let local = Arc::new(Local::new(|| 0usize));
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (local, barrier) = (local.clone(), barrier.clone());
            thread::spawn(move || {
                assert_eq!(local.get(), 0, "fresh value in thread {i}");
                local.set(i * 100);
                barrier.wait(); // everyone has written
                for k in 0..1000 {
                    local.with_mut(|v| *v += 1);
                    if k % 100 == 0 {
                        barrier_free_check(&local, i * 100 + k + 1);
                    }
                }
                barrier.wait(); // everyone has finished writing
                local.get()
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), i * 100 + 1000);
    }
    assert_eq!(local.get(), 0, "the main thread's value is its own");
}

fn barrier_free_check(local: &Local<usize>, expected: usize) {
    assert_eq!(local.with(|v| *v), expected);
}

#[test]
fn values_are_dropped_on_their_thread_when_it_exits() {
    let drops = Arc::new(AtomicUsize::new(0));
    let on = Arc::new(Mutex::new(Vec::new()));
    let local = tracked_local(&drops, &on);
    let n = 8;
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let local = local.clone();
            thread::spawn(move || {
                local.with_mut(|t| t.value = i);
                assert_eq!(local.with(|t| t.value), i);
                thread::get_ident()
            })
        })
        .collect();
    let mut idents = Vec::new();
    for h in handles {
        idents.push(h.join().unwrap());
    }
    // join returns after the thread's values were dropped, on that thread.
    assert_eq!(drops.load(Ordering::SeqCst), n);
    let mut on = on.lock().unwrap().clone();
    on.sort_unstable();
    idents.sort_unstable();
    assert_eq!(on, idents);
    assert_eq!(format!("{local:?}"), "Local { threads_with_values: 0, .. }");
    drop(local);
    assert_eq!(drops.load(Ordering::SeqCst), n, "no double drop");
}

#[test]
fn values_are_dropped_before_the_thread_stops_being_alive() {
    let drops = Arc::new(AtomicUsize::new(0));
    let on = Arc::new(Mutex::new(Vec::new()));
    let local = tracked_local(&drops, &on);
    let l = local.clone();
    let h = thread::spawn(move || l.with(|_| ()));
    let t = h.thread().clone();
    t.join().unwrap(); // waits on the registry, not on the OS join
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    h.join().unwrap();
}

#[test]
fn dropping_the_local_drops_every_threads_value() {
    let drops = Arc::new(AtomicUsize::new(0));
    let on = Arc::new(Mutex::new(Vec::new()));
    let local = tracked_local(&drops, &on);
    let n = 8;
    let ready = Arc::new(Barrier::new(n + 1));
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Arc::new(Mutex::new(release_rx));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (local, ready, release_rx) = (local.clone(), ready.clone(), release_rx.clone());
            thread::spawn(move || {
                local.with_mut(|t| t.value = i);
                drop(local); // the thread keeps running, without the Local
                ready.wait();
                release_rx.lock().unwrap().recv().ok();
            })
        })
        .collect();
    ready.wait();
    local.with(|_| ()); // the main thread's value too
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(local); // the last reference
    assert_eq!(
        drops.load(Ordering::SeqCst),
        n + 1,
        "all values dropped now"
    );
    drop(release_tx);
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(drops.load(Ordering::SeqCst), n + 1, "nothing dropped twice");
}

#[test]
fn set_replace_take() {
    let local = Local::new(|| String::from("init"));
    assert_eq!(local.take(), None, "nothing created yet");
    assert_eq!(local.replace("a".into()), None);
    assert_eq!(local.get(), "a");
    local.set("b".into());
    assert_eq!(local.replace("c".into()).as_deref(), Some("b"));
    assert_eq!(local.take().as_deref(), Some("c"));
    assert_eq!(local.take(), None);
    assert_eq!(local.get(), "init", "re-created after take");
    let d: Local<Vec<u8>> = Local::default();
    assert!(d.with(Vec::is_empty));
}

#[test]
fn taken_values_are_not_dropped_again_at_thread_exit() {
    let drops = Arc::new(AtomicUsize::new(0));
    let on = Arc::new(Mutex::new(Vec::new()));
    let local = tracked_local(&drops, &on);
    let l = local.clone();
    let d = drops.clone();
    thread::spawn(move || {
        l.with(|_| ());
        let taken = l.take().unwrap();
        drop(taken);
        assert_eq!(d.load(Ordering::SeqCst), 1);
        l.with(|_| ()); // a second value, dropped at exit
    })
    .join()
    .unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
fn nested_mutation_panics_with_a_clear_message() {
    let local = Arc::new(Local::new(|| 1));
    let l = local.clone();
    let err = thread::spawn(move || l.with(|_| l.set(2)))
        .join()
        .unwrap_err();
    assert!(
        err.message().contains("already borrowed"),
        "{}",
        err.message()
    );
    // Reading inside reading is fine.
    assert_eq!(local.with(|a| local.with(|b| a + b)), 2);
}

#[test]
fn init_may_use_the_local_itself() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let local = Arc::new(Local::new(move || {
        c.fetch_add(1, Ordering::SeqCst);
        5
    }));
    // A value set from inside another Local's init is kept.
    let inner = local.clone();
    let outer = Local::new(move || {
        inner.set(9);
        0
    });
    assert_eq!(outer.get(), 0);
    assert_eq!(local.get(), 9);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn many_locals_in_one_long_thread_do_not_accumulate() {
    // Short-lived Locals used by one thread: each is dropped with its value.
    let drops = Arc::new(AtomicUsize::new(0));
    let on = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..200 {
        let local = tracked_local(&drops, &on);
        local.with(|_| ());
    }
    assert_eq!(drops.load(Ordering::SeqCst), 200);
}
