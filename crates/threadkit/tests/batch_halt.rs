#![cfg(not(loom))]
//! Integration tests for what the batch runner took over from the `threadkit` command (issue
//! 15): the halt policy on failures, successes and finished items (counts and percentages,
//! of a known or an unknown total, `soon` and `now`, the trigger recorded, the `on_halt`
//! hook), slot numbers, start spacing, and a calling thread that runs no items.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use common::stress;
use threadkit::batch::{
    self, Batch, CancelToken, Cause, Halt, HaltEvent, HaltOn, HaltWhen, Infallible, Retry,
    StopReason,
};

/// Item `i` of the halt table fails when `i % 4 == 0`, else succeeds.
fn quarter_fails(i: &u64) -> Result<u64, u64> {
    if i.is_multiple_of(4) {
        Err(*i)
    } else {
        Ok(*i)
    }
}

/// Runs 100 items of [`quarter_fails`] on one worker (items run in input order) under `halt`,
/// with the total known or not; returns the summary and what the hook saw.
fn halt_run(halt: Halt, known_total: bool) -> (batch::Summary, Vec<HaltEvent>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let b = Batch::new(quarter_fails)
        .halt(halt)
        .on_halt(move |e| s.lock().unwrap().push(*e))
        .workers(1)
        .progress(false);
    let report = if known_total {
        b.run(0..100u64)
    } else {
        // `filter` does not know its length.
        b.run((0..100u64).filter(|_| true))
    }
    .unwrap();
    let seen = seen.lock().unwrap().clone();
    (report.summary().clone(), seen)
}

#[test]
fn each_halt_condition_stops_at_its_trigger() {
    // (halt, known total, trigger index, count at the trigger)
    let cases = [
        // Failures at 0, 4, 8: the third is item 8.
        ("soon,fail=3", true, 8, 3),
        // 10% of 100 inputs: the tenth failure, item 36.
        ("now,fail=10%", true, 36, 10),
        // Successes 1, 2, 3, 5, 6: the fifth is item 6.
        ("now,success=5", true, 6, 5),
        // 50% of 100: the 50th success (three in every four items) is item 66.
        ("soon,success=50%", true, 66, 50),
        ("soon,done=7", true, 6, 7),
        ("now,done=25%", true, 24, 25),
        // Unknown total: of the finished items, once 20 finished. Item 20 is the first
        // failure after 20 finished: 6 of 21.
        ("soon,fail=10%", false, 20, 6),
        ("now,fail=10%", false, 20, 6),
        // Item 19 is the 20th finished: 15 successes of 20.
        ("soon,success=50%", false, 19, 15),
        // Counts need no total.
        ("now,success=5", false, 6, 5),
        ("soon,done=7", false, 6, 7),
    ];
    for (spec, known, index, count) in cases {
        let halt: Halt = spec.parse().unwrap();
        let (s, seen) = halt_run(halt, known);
        let want = HaltEvent {
            when: halt.when,
            on: halt.on,
            index,
            count,
            total: known.then_some(100),
        };
        let what = format!("{spec}, total known: {known}: {s:?}");
        assert_eq!(s.stopped, Some(StopReason::Halted), "{what}");
        assert_eq!(s.halted_by, Some(want), "{what}");
        assert_eq!(seen, [want], "the hook, called once: {what}");
        // Nothing after the trigger ran (one worker, in order); every input has one outcome.
        assert_eq!(s.succeeded + s.errors, index + 1, "{what}");
        assert_eq!(s.not_started, 99 - index, "{what}");
        assert_eq!(s.cancelled, 0, "{what}");
        assert_eq!(s.total, 100, "{what}");
        assert_eq!(s.exit_code(), 2, "{what}");
    }
}

#[test]
fn done_percent_of_an_unknown_total_is_never_met() {
    let (s, seen) = halt_run(Halt::soon().done_percent(50.0), false);
    assert_eq!((s.stopped, s.halted_by), (None, None), "{s:?}");
    assert!(seen.is_empty());
    assert_eq!(s.succeeded + s.errors, 100);
    // With the total given, it is met at the 50th.
    let r = Batch::new(quarter_fails)
        .halt(Halt::soon().done_percent(50.0))
        .total(100)
        .workers(1)
        .progress(false)
        .run((0..100u64).filter(|_| true))
        .unwrap();
    assert_eq!(
        r.summary().halted_by.map(|h| (h.index, h.count)),
        Some((49, 50))
    );
}

#[test]
fn fail_percent_is_of_the_known_total() {
    // Half the items fail; 30% of 5,000 is 1,500 failures (of the finished items, the rule
    // when the total is unknown, it would halt after 20).
    let report = Batch::new(|i: &u64| if i.is_multiple_of(2) { Err(*i) } else { Ok(()) })
        .workers(2)
        .chunk_size(1)
        .halt(Halt::soon().fail_percent(30.0))
        .progress(false)
        .run(0..5_000u64)
        .unwrap();
    let s = report.summary();
    assert_eq!(s.stopped, Some(StopReason::Halted));
    let h = s.halted_by.unwrap();
    assert_eq!((h.on, h.count, h.total), (HaltOn::Fail, 1_500, Some(5_000)));
    assert_eq!(h.index % 2, 0, "a failed item met it: {h:?}");
    // The other worker's item may fail after the trigger.
    assert!((1_500..=1_501).contains(&s.errors), "{s:?}");
    assert!(s.not_started > 1_900, "{s:?}");
}

#[test]
fn halt_now_calls_the_hook_once_on_the_thread_that_met_it() {
    let workers = 4;
    let ran_on: Arc<Mutex<HashMap<u64, ThreadId>>> = Arc::default();
    let hooks: Arc<Mutex<Vec<(HaltEvent, ThreadId)>>> = Arc::default();
    let (r2, h2) = (ran_on.clone(), hooks.clone());
    let report = Batch::new(move |i: &u64| {
        r2.lock().unwrap().insert(*i, std::thread::current().id());
        if i % 7 == 3 {
            Err(*i)
        } else {
            Ok(())
        }
    })
    .halt(Halt::now().fail_count(5))
    .on_halt(move |e| h2.lock().unwrap().push((*e, std::thread::current().id())))
    .workers(workers)
    .progress(false)
    .run(0..(2_000 * stress::<u64>()))
    .unwrap();
    let s = report.summary();
    let hooks = hooks.lock().unwrap();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    let (event, thread) = hooks[0];
    assert_eq!(s.halted_by, Some(event));
    assert_eq!(
        (event.when, event.on, event.count),
        (HaltWhen::Now, HaltOn::Fail, 5)
    );
    assert_eq!(event.index % 7, 3);
    assert_eq!(ran_on.lock().unwrap()[&event.index], thread);
    // The trigger's outcome is its failure.
    let f = report.failures().find(|f| f.index == event.index).unwrap();
    assert_eq!(f.cause, Cause::Error(event.index));
    assert_eq!(s.stopped, Some(StopReason::Halted));
}

#[test]
fn a_panicking_hook_does_not_stop_the_halt() {
    let r = Batch::new(quarter_fails)
        .halt(Halt::soon().fail_count(2))
        .on_halt(|_| panic!("expected test panic in the hook"))
        .workers(1)
        .progress(false)
        .run(0..100u64)
        .unwrap();
    assert_eq!(r.summary().halted_by.map(|h| h.index), Some(4));
    assert_eq!(r.summary().not_started, 95);
}

/// `(slot, start, end)` of an item that works about 100 µs.
fn slotted(_: &u64) -> (usize, Instant, Instant) {
    let start = Instant::now();
    let slot = batch::slot().expect("a slot inside an item");
    while start.elapsed() < Duration::from_micros(100) {
        std::hint::spin_loop();
    }
    (slot, start, Instant::now())
}

fn assert_slots_exclusive(items: &[(usize, Instant, Instant)], workers: usize, what: &str) {
    let mut by_slot: HashMap<usize, Vec<(Instant, Instant)>> = HashMap::new();
    for &(slot, start, end) in items {
        assert!((1..=workers).contains(&slot), "{what}: slot {slot}");
        by_slot.entry(slot).or_default().push((start, end));
    }
    for (slot, mut spans) in by_slot {
        spans.sort();
        for w in spans.windows(2) {
            assert!(
                w[0].1 <= w[1].0,
                "{what}: two items overlapped in slot {slot}: {w:?}"
            );
        }
    }
}

#[test]
fn running_items_never_share_a_slot() {
    let n = 3_000 * stress::<u64>();
    let workers = 3;
    type Slotted = Batch<u64, Infallible<fn(&u64) -> (usize, Instant, Instant)>>;
    type Shape = fn(Slotted) -> Slotted;
    let shapes: [(&str, Shape); 4] = [
        ("the caller helps", |b| b),
        ("chunks of one", |b| b.chunk_size(1)),
        ("tracked (a timeout)", |b| {
            b.timeout(Duration::from_secs(600))
        }),
        ("the caller runs no items", |b| b.caller_runs_items(false)),
    ];
    for (what, shape) in shapes {
        let f: fn(&u64) -> (usize, Instant, Instant) = slotted;
        let b = Batch::infallible(f).workers(workers).progress(false);
        let r = shape(b).run(0..n).unwrap();
        assert!(r.is_success(), "{what}");
        let items: Vec<_> = r.values().copied().collect();
        assert_eq!(items.len() as u64, n, "{what}");
        assert_slots_exclusive(&items, workers, what);
    }
    assert_eq!(batch::slot(), None, "no slot outside items");
}

/// Asserts that start times are spaced by `delay`, counted from `began` (read before the run):
/// the runner lets the k-th start go at least k delays after the first, itself no earlier than
/// `began`, and an item reads the clock after it was let go, so the k-th earliest reading is at
/// least `began + k * delay`. (Gaps between consecutive readings prove nothing: an item
/// preempted between being let go and reading the clock shortens the gap after it.)
fn assert_spaced(began: Instant, starts: &[Instant], delay: Duration, what: &str) {
    let mut sorted = starts.to_vec();
    sorted.sort();
    for (k, start) in sorted.iter().enumerate() {
        let after = *start - began;
        assert!(
            after >= delay * k as u32,
            "{what}: start {k} came {after:?} after the run began, not {:?}",
            delay * k as u32
        );
    }
}

#[test]
fn starts_are_at_least_the_delay_apart() {
    let delay = Duration::from_millis(50);
    let began = Instant::now();
    let starts: Vec<Instant> = Batch::infallible(|_: &u8| Instant::now())
        .delay(delay)
        .workers(4)
        .chunk_size(1)
        .progress(false)
        .run(0..6u8)
        .unwrap()
        .values()
        .copied()
        .collect();
    assert_spaced(began, &starts, delay, "items");
    // Retries are starts too.
    let attempts: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let a = attempts.clone();
    let began = Instant::now();
    let r = Batch::new(move |_: &u8| -> Result<(), ()> {
        a.lock().unwrap().push(Instant::now());
        Err(())
    })
    .retry(Retry::new(2))
    .delay(delay)
    .workers(2)
    .progress(false)
    .run(0..2u8)
    .unwrap();
    assert_eq!(r.summary().errors, 2);
    let a = attempts.lock().unwrap().clone();
    assert_eq!(a.len(), 6);
    assert_spaced(began, &a, delay, "attempts");
}

#[test]
fn a_stop_ends_the_wait_for_a_turn() {
    // An hour between starts: the first item cancels the run, and the others, waiting for
    // their turns, are not started, long before the hour.
    for tracked in [false, true] {
        let token = CancelToken::new();
        let t = token.clone();
        let t0 = Instant::now();
        let mut b = Batch::infallible(move |_: &u8| t.cancel())
            .delay(Duration::from_secs(3600))
            .cancel_token(token)
            .workers(3)
            .chunk_size(1)
            .progress(false);
        if tracked {
            b = b.timeout(Duration::from_secs(7200));
        }
        let r = b.run(0..5u8).unwrap();
        let s = r.summary();
        assert_eq!(
            (s.succeeded, s.not_started),
            (1, 4),
            "tracked: {tracked}: {s:?}"
        );
        assert_eq!(s.stopped, Some(StopReason::Cancelled));
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "{:?}",
            t0.elapsed()
        );
    }
}

#[test]
fn items_waiting_for_their_turn_when_a_halt_now_comes_are_not_started() {
    // `now` claims the running items (reported cancelled); the items still waiting for their
    // turn never started, and say so. Item 1 fails in its turn while the others wait for
    // theirs (had they not begun waiting by then, they would be not started all the same).
    // Turns go to the workers in the order they ask, not in input order: on a slow machine
    // (AddressSanitizer, CI) item 1's worker can take the first turn (item 0 then never
    // starts) or the third (items 0 and 2 succeed first).
    let t0 = Instant::now();
    let r = Batch::new(|x: &u8| if *x == 1 { Err("second") } else { Ok(()) })
        .halt(Halt::now().fail_count(1))
        .delay(Duration::from_millis(300))
        .workers(3)
        .progress(false)
        .run(0..5u8)
        .unwrap();
    let s = r.summary();
    let counts = (s.succeeded, s.errors, s.cancelled, s.not_started);
    // The items whose turn came before item 1's succeeded; none was cancelled; every other
    // one never started.
    let (succeeded, errors, cancelled, not_started) = counts;
    assert!(
        errors == 1 && cancelled == 0 && succeeded + not_started == 4,
        "{counts:?}: {s:?}"
    );
    assert_eq!(s.halted_by.map(|h| h.index), Some(1));
    assert!(
        t0.elapsed() < Duration::from_secs(120),
        "{:?}",
        t0.elapsed()
    );
}

#[test]
fn the_calling_thread_runs_no_items_when_told_not_to() {
    let caller = std::thread::current().id();
    let threads = |b: Batch<u64, _>| -> Vec<ThreadId> {
        b.progress(false)
            .run(0..(2_000 * stress::<u64>()))
            .unwrap()
            .values()
            .copied()
            .collect()
    };
    let item = |_: &u64| std::thread::current().id();
    // By default a run of one worker runs its items on the calling thread...
    let default = threads(Batch::infallible(item).workers(1));
    assert!(default.iter().all(|id| *id == caller));
    // ... and with `caller_runs_items(false)` never.
    for workers in [1, 4] {
        let own = threads(
            Batch::infallible(item)
                .workers(workers)
                .caller_runs_items(false),
        );
        assert!(own.iter().all(|id| *id != caller), "workers: {workers}");
    }
}
