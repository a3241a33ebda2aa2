//! Integration tests for the cross-process `Lock`, `Event`, `Value`, `Array` of
//! `threadkit::process`.
#![cfg(not(loom))]

mod common;

use common::stress;
use std::time::Duration;

use threadkit::process::{
    pipe, Array, ArrayError, Connection, Event, Lock, Process, RawArray, RawValue, Value,
};

threadkit::process::enable_test_support!();

/// Non-atomic read-modify-write under the value's lock, with a yield inside the critical
/// section so that the processes really interleave.
fn increment_locked((counter, start, n): (Value<u64>, Event, u64)) {
    start.wait();
    for i in 0..n {
        let _g = counter.get_lock().lock();
        let v = counter.get();
        if i % 64 == 0 {
            std::thread::yield_now();
        }
        counter.set(v + 1);
    }
}

#[test]
fn value_counter_from_four_processes_is_exact() {
    let n = 5_000 * stress::<u64>();
    let counter = Value::new(0u64).unwrap();
    let start = Event::new().unwrap();
    let mut ps: Vec<_> = (0..4)
        .map(|_| Process::spawn(increment_locked, (counter.clone(), start.clone(), n)).unwrap())
        .collect();
    start.set();
    for p in &mut ps {
        p.join().unwrap();
    }
    assert_eq!(counter.get(), 4 * n);
}

fn fetch_adds((v, n): (RawValue<i64>, i64)) {
    for _ in 0..n {
        v.fetch_add(1);
    }
}

#[test]
fn raw_value_fetch_add_from_four_processes() {
    let n = 20_000 * stress::<u64>() as i64;
    let v = RawValue::new(0i64).unwrap();
    let mut ps: Vec<_> = (0..4)
        .map(|_| Process::spawn(fetch_adds, (v.clone(), n)).unwrap())
        .collect();
    for p in &mut ps {
        p.join().unwrap();
    }
    assert_eq!(v.get(), 4 * n);
}

/// Takes the lock, says so, and holds it until told to let go.
fn hold_lock((lock, held, go): (Lock, Event, Event)) {
    lock.acquire();
    held.set();
    go.wait();
    lock.release().unwrap();
}

#[test]
fn lock_excludes_another_process_and_times_out() {
    let lock = Lock::new().unwrap();
    let held = Event::new().unwrap();
    let go = Event::new().unwrap();
    let mut p = Process::spawn(hold_lock, (lock.clone(), held.clone(), go.clone())).unwrap();
    assert_eq!(held.wait_timeout(Duration::from_secs(30)), Ok(true));
    assert!(lock.locked());
    assert!(!lock.try_acquire());
    assert_eq!(lock.acquire_timeout(Duration::from_millis(50)), Ok(false));
    go.set();
    // Blocks until the child releases.
    let g = lock.lock_timeout(Duration::from_secs(30)).unwrap();
    assert!(g.is_some());
    drop(g);
    p.join().unwrap();
    assert!(!lock.locked());
}

#[test]
fn releasing_an_unlocked_lock_is_an_error() {
    let lock = Lock::new().unwrap();
    let err = lock.release().unwrap_err();
    assert_eq!(err.to_string(), "semaphore or lock released too many times");
    lock.acquire();
    assert!(lock.release().is_ok());
    assert!(lock.release().is_err());
    assert!(lock.acquire_timeout(Duration::MAX).is_err());
}

fn set_later((e, ready): (Event, Event)) {
    ready.wait();
    e.set();
}

#[test]
fn event_set_in_a_child_wakes_the_parent() {
    let e = Event::new().unwrap();
    let ready = Event::new().unwrap();
    let mut p = Process::spawn(set_later, (e.clone(), ready.clone())).unwrap();
    assert_eq!(e.wait_timeout(Duration::from_millis(20)), Ok(false));
    ready.set();
    assert_eq!(e.wait_timeout(Duration::from_secs(30)), Ok(true));
    assert!(e.is_set());
    e.clear();
    assert!(!e.is_set());
    p.join().unwrap();
}

fn wait_event((e, n): (Event, u32)) -> u32 {
    e.wait();
    n
}

#[test]
fn event_wakes_several_waiting_processes() {
    let e = Event::new().unwrap();
    let mut ps: Vec<_> = (0..3)
        .map(|n| Process::spawn(wait_event, (e.clone(), n)).unwrap())
        .collect();
    e.set();
    let got: Vec<u32> = ps.iter_mut().map(|p| p.join().unwrap()).collect();
    assert_eq!(got, [0, 1, 2]);
}

fn double_all(a: Array<i32>) -> usize {
    let _g = a.get_lock().lock();
    for i in 0..a.len() {
        a.set(i, a.get(i).unwrap() * 2).unwrap();
    }
    a.len()
}

#[test]
fn array_written_by_a_child() {
    let a = Array::from_slice(&[1, 2, 3, 4]).unwrap();
    assert_eq!(Process::spawn(double_all, a.clone()).unwrap().join(), Ok(4));
    assert_eq!(a.to_vec(), [2, 4, 6, 8]);
    assert_eq!(
        a.set(4, 0),
        Err(ArrayError::IndexOutOfRange { index: 4, len: 4 })
    );
    assert_eq!(
        a.copy_from_slice(&[1]),
        Err(ArrayError::LengthMismatch { given: 1, len: 4 })
    );
}

fn rewrite(s: RawArray<u8>) -> Vec<u8> {
    s.set_value(b"new string").unwrap();
    s.value()
}

#[test]
fn char_array_value_like_python() {
    let lock = Lock::new().unwrap();
    let s = Array::from_slice_with_lock(b"Hello, World!", lock.clone()).unwrap();
    assert!(s.get_lock().ptr_eq(&lock));
    assert_eq!(
        Process::spawn(rewrite, s.raw().clone())
            .unwrap()
            .join()
            .unwrap(),
        b"new string"
    );
    assert_eq!(s.value(), b"new string");
    assert_eq!(
        s.set_value(b"a string that is far too long"),
        Err(ArrayError::TooLong { given: 29, len: 13 })
    );
}

#[test]
fn float_and_bool_values() {
    let f = Value::new(1.5f64).unwrap();
    f.update(|x| x * 3.0);
    assert_eq!(f.get(), 4.5);
    let b = RawValue::new(false).unwrap();
    b.set(true);
    assert!(b.get());
    let empty = RawArray::<u16>::from_slice(&[]).unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.to_vec(), Vec::<u16>::new());
}

#[test]
fn values_travel_through_a_connection() {
    let (a, b) = pipe::<Value<u32>>().unwrap();
    let v = Value::new(7u32).unwrap();
    a.send(&v).unwrap();
    let w = b.recv().unwrap();
    w.set(8);
    assert_eq!(v.get(), 8);
    let _unused: Option<Connection<u8>> = None;
}
