#![cfg(not(loom))]
//! Integration tests for `threadkit::batch`: outcomes, policies, retries, timeouts,
//! cancellation, progress, streaming.

mod common;

use common::{stress, Gate};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use threadkit::batch::{
    Backoff, Batch, CancelToken, Cause, FailedInput, FailurePolicy, Halt, Retry, StopReason,
};
use threadkit::progress::{ProgressSink, Snapshot};

const EXPECTED: &str = "expected test panic";

#[test]
fn every_input_has_one_outcome_with_errors_and_panics() {
    let n = 100_000 * stress::<u64>();
    let report = Batch::new(|i: &u64| {
        if i % 10 == 3 {
            Err(format!("error {i}"))
        } else if i % 20 == 7 {
            panic!("{EXPECTED} {i}");
        } else {
            Ok(i * 2)
        }
    })
    .workers(4)
    .progress(false)
    .run(0..n)
    .unwrap();
    let outcomes = report.outcomes();
    assert_eq!(outcomes.len() as u64, n);
    let (mut errors, mut panics) = (0, 0);
    for (i, o) in outcomes.enumerate() {
        let i = i as u64;
        match o {
            Ok(v) => {
                assert!(i % 10 != 3 && i % 20 != 7, "item {i} should have failed");
                assert_eq!(*v, i * 2);
            }
            Err(f) => {
                assert_eq!(f.index, i);
                assert_eq!(f.input, FailedInput::Value(i));
                assert_eq!(f.attempts, 1);
                match &f.cause {
                    Cause::Error(e) => {
                        assert_eq!(i % 10, 3);
                        assert_eq!(e, &format!("error {i}"));
                        errors += 1;
                    }
                    Cause::Panic { message, .. } => {
                        assert_eq!(i % 20, 7);
                        assert_eq!(message, &format!("{EXPECTED} {i}"));
                        panics += 1;
                    }
                    other => panic!("unexpected cause {other:?}"),
                }
            }
        }
    }
    assert_eq!(errors, n / 10);
    assert_eq!(panics, n / 20);
    let s = report.summary();
    assert_eq!((s.total, s.errors, s.panics), (n, errors, panics));
    assert_eq!(s.succeeded, n - errors - panics);
    assert_eq!(report.exit_code(), 1);
    let json = report.to_json();
    assert!(json.contains(r#""cause":"panic""#));
}

#[test]
fn fail_fast_stops_scheduling_and_reports_the_rest_as_not_started() {
    let n = 10_000u64;
    let report = Batch::new(|i: &u64| if *i == 100 { Err("boom") } else { Ok(*i) })
        .workers(2)
        .chunk_size(4)
        .on_failure(FailurePolicy::FailFast)
        .progress(false)
        .run(0..n)
        .unwrap();
    let s = report.summary();
    assert_eq!(s.total, n);
    assert_eq!(s.errors, 1);
    assert!(s.not_started > 0, "{s:?}");
    assert_eq!(s.succeeded + s.errors + s.not_started, n);
    assert_eq!(s.stopped, Some(StopReason::Halted));
    assert_eq!(report.exit_code(), 2);
    for (i, o) in report.outcomes().enumerate() {
        match o {
            Ok(v) => assert_eq!(*v, i as u64),
            Err(f) => {
                assert_eq!(f.index, i as u64);
                match f.cause {
                    Cause::Error(_) => assert_eq!(i, 100),
                    Cause::NotStarted => {
                        assert_eq!(f.attempts, 0);
                        assert_eq!(f.input.value(), Some(&(i as u64)));
                    }
                    ref c => panic!("unexpected {c:?}"),
                }
            }
        }
    }
}

#[test]
fn halt_soon_after_n_failures() {
    let workers = 2;
    let report = Batch::new(|i: &u64| if i.is_multiple_of(3) { Err(*i) } else { Ok(()) })
        .workers(workers)
        .chunk_size(1)
        .on_failure("soon,fail=5".parse().unwrap())
        .progress(false)
        .run(0..3_000u64)
        .unwrap();
    let s = report.summary();
    assert!(s.errors >= 5, "{s:?}");
    // Items already running when the fifth failure landed may fail too.
    assert!(s.errors <= 5 + workers as u64, "{s:?}");
    assert!(s.not_started > 2_000, "{s:?}");
    assert_eq!(s.total, 3_000);
}

#[test]
fn halt_percent_of_finished_items() {
    // An input of unknown length (`filter`): the percentage is of the finished items (of a
    // known total, see `batch_halt.rs`).
    let report = Batch::new(|i: &u64| if i.is_multiple_of(2) { Err(*i) } else { Ok(()) })
        .workers(2)
        .chunk_size(1)
        .on_failure(FailurePolicy::Halt(Halt::soon().fail_percent(30.0)))
        .progress(false)
        .run((0..5_000u64).filter(|_| true))
        .unwrap();
    let s = report.summary();
    assert_eq!(s.stopped, Some(StopReason::Halted));
    assert!(s.not_started > 4_000, "{s:?}");
}

#[test]
fn halt_now_cancels_running_items_without_waiting_for_them() {
    let started = Arc::new(Gate::default());
    let release = Arc::new(Gate::default());
    let (s2, r2) = (started.clone(), release.clone());
    let t0 = Instant::now();
    let report = Batch::new(move |i: &u64| match *i {
        0 => {
            assert!(s2.wait(Duration::from_secs(10)));
            Err("first failure")
        }
        1 => {
            s2.open();
            r2.wait(Duration::from_secs(30));
            Ok(())
        }
        _ => Ok(()),
    })
    .workers(2)
    .on_failure("now,fail=1".parse().unwrap())
    .progress(false)
    .run(0..10u64)
    .unwrap();
    assert!(t0.elapsed() < Duration::from_secs(10));
    let o: Vec<_> = report.outcomes().collect();
    assert!(matches!(o[0].unwrap_err().cause, Cause::Error(_)));
    let f1 = o[1].unwrap_err();
    assert_eq!(f1.cause, Cause::Cancelled);
    assert_eq!(f1.input, FailedInput::Debug("1".into()));
    assert_eq!(report.summary().total, 10);
    for x in &o[2..] {
        let f = x.unwrap_err();
        assert!(f.cause == Cause::NotStarted, "{f:?}");
    }
    release.open();
}

#[test]
fn retries_a_flaky_function() {
    let n = 200u64;
    let calls: Arc<Vec<AtomicU32>> = Arc::new((0..n).map(|_| AtomicU32::new(0)).collect());
    let c = calls.clone();
    let flaky = move |i: &u64| {
        let k = c[*i as usize].fetch_add(1, Ordering::SeqCst);
        if k < 2 {
            Err(format!("attempt {k} of {i} failed"))
        } else {
            Ok(*i)
        }
    };
    let report = Batch::new(flaky.clone())
        .workers(4)
        .retry(Retry::new(3).backoff(Backoff::Fixed(Duration::from_millis(1))))
        .progress(false)
        .run(0..n)
        .unwrap();
    assert!(report.is_success(), "{report}");
    assert!(calls.iter().all(|c| c.load(Ordering::SeqCst) == 3));

    for c in calls.iter() {
        c.store(0, Ordering::SeqCst);
    }
    let report = Batch::new(flaky)
        .workers(4)
        .retry(Retry::new(1))
        .progress(false)
        .run(0..n)
        .unwrap();
    assert_eq!(report.summary().errors, n);
    assert_eq!(report.summary().retries, n);
    for f in report.failures() {
        assert_eq!(f.attempts, 2);
        assert_eq!(
            f.cause,
            Cause::Error(format!("attempt 1 of {} failed", f.index))
        );
    }
}

#[test]
fn timeout_reports_the_item_and_the_run_goes_on() {
    let release = Arc::new(Gate::default());
    let late = Arc::new(AtomicBool::new(false));
    let (r2, l2) = (release.clone(), late.clone());
    let t0 = Instant::now();
    let report = Batch::new(move |i: &u64| {
        if *i == 3 {
            r2.wait(Duration::from_secs(30));
            l2.store(true, Ordering::SeqCst);
        }
        Ok::<_, String>(*i)
    })
    .workers(1)
    .timeout(Duration::from_millis(100))
    .progress(false)
    .run(0..20u64)
    .unwrap();
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    let s = report.summary();
    assert_eq!((s.total, s.timeouts, s.succeeded), (20, 1, 19), "{s:?}");
    let f = report.failures().next().unwrap();
    assert_eq!(f.index, 3);
    assert_eq!(f.input, FailedInput::Debug("3".into()));
    assert_eq!(
        f.cause,
        Cause::Timeout {
            after: Duration::from_millis(100)
        }
    );
    // The abandoned call is still running; its late result goes nowhere.
    assert!(!late.load(Ordering::SeqCst));
    release.open();
}

#[test]
fn cancel_token_stops_the_run() {
    let token = CancelToken::new();
    let t2 = token.clone();
    let n = 2_000u64;
    let report = Batch::new(move |i: &u64| {
        if *i == 50 {
            t2.cancel();
        }
        Ok::<_, ()>(*i)
    })
    .workers(2)
    .chunk_size(1)
    .cancel_token(token)
    .progress(false)
    .run(0..n)
    .unwrap();
    let s = report.summary();
    assert_eq!(s.total, n);
    assert_eq!(s.stopped, Some(StopReason::Cancelled));
    assert_eq!(report.exit_code(), 3);
    assert!(s.not_started > n / 2, "{s:?}");
    assert_eq!(s.succeeded + s.not_started, n);
    assert_eq!(s.failed(), 0, "items that never started are no failures");
    assert!(report.outcome(50).unwrap().is_ok());
    for (i, o) in report.outcomes().enumerate() {
        if let Err(f) = o {
            assert_eq!(f.index, i as u64);
            assert_eq!(f.cause, Cause::NotStarted);
            assert_eq!(f.attempts, 0);
        }
    }
}

#[test]
fn cancel_with_grace_abandons_running_items() {
    let token = CancelToken::new();
    let release = Arc::new(Gate::default());
    let (t2, r2) = (token.clone(), release.clone());
    let t0 = Instant::now();
    let report = Batch::new(move |i: &u64| {
        if *i == 0 {
            t2.cancel();
            r2.wait(Duration::from_secs(30));
        }
        Ok::<_, ()>(*i)
    })
    .workers(1)
    .cancel_token(token)
    .grace(Duration::from_millis(100))
    .progress(false)
    .run(0..5u64)
    .unwrap();
    assert!(t0.elapsed() < Duration::from_secs(10));
    let s = report.summary();
    assert_eq!((s.total, s.cancelled, s.not_started), (5, 1, 4), "{s:?}");
    release.open();
}

#[derive(Debug, Default)]
struct Recorder {
    started: Mutex<Option<Option<u64>>>,
    updates: Mutex<Vec<Snapshot>>,
    last: Mutex<Option<Snapshot>>,
}

impl ProgressSink for Recorder {
    fn start(&self, total: Option<u64>) {
        *self.started.lock().unwrap() = Some(total);
    }
    fn update(&self, s: Snapshot) {
        self.updates.lock().unwrap().push(s);
    }
    fn finish(&self, s: Snapshot) {
        *self.last.lock().unwrap() = Some(s);
    }
}

#[test]
fn progress_counter_ends_exactly_at_the_total() {
    let rec = Arc::new(Recorder::default());
    let n = 20_000u64;
    let report = Batch::new(|i: &u64| {
        if i.is_multiple_of(100) {
            return Err("bad");
        }
        if i % 1000 == 1 {
            panic!("{EXPECTED}");
        }
        std::hint::black_box(*i);
        Ok(())
    })
    .workers(2)
    .progress_sink(rec.clone())
    .progress_interval(Duration::from_millis(1))
    .run(0..n)
    .unwrap();
    assert_eq!(*rec.started.lock().unwrap(), Some(Some(n)));
    let last = rec.last.lock().unwrap().unwrap();
    assert_eq!(last.done, n);
    assert_eq!(last.total, Some(n));
    assert_eq!(last.failed, report.summary().failed());
    assert_eq!(last.failed, n / 100 + n / 1000);
    let ups = rec.updates.lock().unwrap();
    for w in ups.windows(2) {
        assert!(w[0].done <= w[1].done);
    }
    assert!(ups.iter().all(|u| u.done <= n));
}

#[test]
fn stream_keeps_a_bounded_window() {
    let pulled = Arc::new(AtomicU64::new(0));
    let p2 = pulled.clone();
    let n = 1_000_000 * stress::<u64>();
    let window = 5_000u64;
    let inputs = (0..n).inspect(move |_| {
        p2.fetch_add(1, Ordering::Relaxed);
    });
    let stream = Batch::infallible(|x: &u64| x + 1)
        .workers(2)
        .window(window as usize)
        .progress(false)
        .stream(inputs)
        .unwrap();
    let mut consumed = 0u64;
    let mut max_ahead = 0;
    for (i, o) in stream {
        assert_eq!(i, consumed);
        assert_eq!(o.unwrap(), i + 1);
        consumed += 1;
        let ahead = pulled.load(Ordering::Relaxed) - consumed;
        max_ahead = max_ahead.max(ahead);
    }
    assert_eq!(consumed, n);
    assert!(max_ahead <= window, "{max_ahead} items pulled ahead");
}

#[test]
fn unordered_stream_yields_every_index_once() {
    let stream = Batch::infallible(|x: &u32| {
        if x.is_multiple_of(97) {
            std::thread::sleep(Duration::from_micros(200));
        }
        *x
    })
    .workers(3)
    .unordered()
    .progress(false)
    .stream((0..20_000u32).collect::<Vec<_>>())
    .unwrap();
    let mut seen = HashSet::new();
    for (i, o) in stream {
        assert_eq!(o.unwrap() as u64, i);
        assert!(seen.insert(i));
    }
    assert_eq!(seen.len(), 20_000);
}

#[test]
fn starmap_ties_the_failure_to_its_arguments() {
    fn my_func(idx: usize, tag: &'static str) -> Result<usize, String> {
        if idx == 4 {
            Err(format!("This should have been caught ({tag})"))
        } else {
            Ok(idx)
        }
    }
    let params: Vec<(usize, &'static str)> = (0..10).map(|i| (i, "lock")).collect();
    let report = Batch::starmap(my_func)
        .workers(4)
        .progress(false)
        .run(params)
        .unwrap();
    assert_eq!(
        report.values().copied().collect::<Vec<_>>(),
        [0, 1, 2, 3, 5, 6, 7, 8, 9]
    );
    let f = report.failures().next().unwrap();
    assert_eq!(f.input.value(), Some(&(4, "lock")));
    assert!(report.to_string().contains("(4, \"lock\")"));
}

#[test]
fn dropping_a_stream_early_does_not_hang() {
    let mut stream = Batch::infallible(|x: &u64| {
        std::thread::sleep(Duration::from_micros(50));
        *x
    })
    .workers(2)
    .progress(false)
    .stream(0..1_000_000u64)
    .unwrap();
    assert_eq!(stream.next().map(|(i, _)| i), Some(0));
    let t0 = Instant::now();
    drop(stream);
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[test]
fn empty_input_gives_an_empty_report() {
    let report = Batch::infallible(|x: &u8| *x)
        .progress(false)
        .run(Vec::<u8>::new())
        .unwrap();
    assert_eq!(report.summary().total, 0);
    assert_eq!(report.exit_code(), 0);
}

#[test]
fn policy_strings_parse_like_gnu_parallel() {
    assert_eq!(
        "soon,fail=3".parse::<FailurePolicy>().unwrap(),
        FailurePolicy::Halt(Halt::soon().fail_count(3))
    );
    assert_eq!(
        "now,fail=25%".parse::<FailurePolicy>().unwrap(),
        FailurePolicy::Halt(Halt::now().fail_percent(25.0))
    );
    assert!("now,fail=0%".parse::<FailurePolicy>().is_err());
    assert_eq!(
        "soon,success=1".parse::<FailurePolicy>().unwrap(),
        FailurePolicy::Halt(Halt::soon().success_count(1))
    );
    assert_eq!(
        "now,done=5%".parse::<FailurePolicy>().unwrap(),
        FailurePolicy::Halt(Halt::now().done_percent(5.0))
    );
    assert!("soon,boom=1".parse::<FailurePolicy>().is_err());
    assert!("soon,success=x".parse::<FailurePolicy>().is_err());
    assert_eq!(
        "fast".parse::<FailurePolicy>().unwrap(),
        FailurePolicy::FailFast
    );
}

/// An iterator whose exact size hint is wrong.
struct Liar {
    next: u64,
    real: u64,
    claimed: usize,
}

impl Iterator for Liar {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        (self.next < self.real).then(|| {
            self.next += 1;
            self.next - 1
        })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.claimed, Some(self.claimed))
    }
}

#[test]
fn a_wrong_size_hint_loses_nothing() {
    for (real, claimed) in [(10_000, 100), (100, 10_000), (0, 5), (5, 0)] {
        let report = Batch::infallible(|x: &u64| x * 2)
            .workers(2)
            .progress(false)
            .run(Liar {
                next: 0,
                real,
                claimed,
            })
            .unwrap();
        assert_eq!(report.summary().total, real);
        let values: Vec<u64> = report.values().copied().collect();
        assert_eq!(values, (0..real).map(|x| x * 2).collect::<Vec<_>>());
    }
}

#[test]
fn workers_bounds_the_items_running_at_once() {
    for (workers, token) in [(1, false), (1, true), (3, false), (3, true)] {
        let running = Arc::new(AtomicU64::new(0));
        let peak = Arc::new(AtomicU64::new(0));
        let (r2, p2) = (running.clone(), peak.clone());
        let mut b = Batch::infallible(move |_: &u32| {
            let now = r2.fetch_add(1, Ordering::SeqCst) + 1;
            p2.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2));
            r2.fetch_sub(1, Ordering::SeqCst);
        })
        .workers(workers)
        .progress(false);
        if token {
            b = b.cancel_token(CancelToken::new());
        }
        let report = b.run(0..60u32).unwrap();
        assert!(report.is_success());
        let peak = peak.load(Ordering::SeqCst);
        assert!(
            peak <= workers as u64,
            "{peak} running at once with {workers} workers"
        );
        if workers > 1 {
            assert!(peak > 1, "no parallelism with {workers} workers");
        }
    }
}

/// Timeouts, a halt and a cancellation racing with running items: every input still gets
/// exactly one outcome, at its own index.
#[test]
fn tracked_runs_under_churn_give_one_outcome_per_input() {
    let rounds = 3 * stress::<u64>();
    for round in 0..rounds {
        let n = 600u64;
        let token = CancelToken::new();
        let t2 = token.clone();
        let mut b = Batch::new(move |i: &u64| {
            let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 59; // 0..32
            if *i == 400 {
                t2.cancel();
            }
            if h == 7 {
                panic!("{EXPECTED} {i}");
            }
            std::thread::sleep(Duration::from_micros(h * 300));
            if h == 3 {
                Err(format!("error {i}"))
            } else {
                Ok(*i)
            }
        })
        .workers(6)
        .timeout(Duration::from_millis(6))
        .grace(Duration::from_millis(5))
        .cancel_token(token)
        .retry(Retry::new(1))
        .progress(false);
        if round % 2 == 1 {
            b = b.on_failure("now,fail=40".parse().unwrap());
        }
        if round % 3 == 2 {
            // Few replacement threads: timed-out threads resume their place when they return.
            b = b.max_abandoned(1);
        }
        let report = b.run(0..n).unwrap();
        let s = report.summary();
        assert_eq!(s.total, n);
        assert_eq!(report.outcomes().len() as u64, n);
        for (i, o) in report.outcomes().enumerate() {
            match o {
                Ok(v) => assert_eq!(*v, i as u64),
                Err(f) => {
                    assert_eq!(f.index, i as u64);
                    match &f.input {
                        FailedInput::Value(v) => assert_eq!(*v, i as u64),
                        FailedInput::Debug(d) => assert_eq!(d, &i.to_string()),
                    }
                }
            }
        }
        assert_eq!(
            s.succeeded + s.errors + s.panics + s.timeouts + s.cancelled + s.not_started,
            n,
            "{s:?}"
        );
        assert!(s.stopped.is_some(), "{s:?}");
    }
}

/// Failures at the start, in runs, and at the end of an in-place run: the values around them
/// keep their order, and every accessor agrees (values are `String`s, so a bad move would
/// show as a wrong or freed value).
#[test]
fn report_accessors_agree_around_runs_of_failures() {
    let failing = [0u64, 1, 2, 10, 11, 500, 998, 999];
    let n = 1000u64;
    let report = Batch::new(move |x: &u64| {
        if failing.contains(x) {
            Err(format!("bad {x}"))
        } else {
            Ok(format!("v{x}"))
        }
    })
    .workers(3)
    .chunk_size(7)
    .progress(false)
    .run(0..n)
    .unwrap();
    assert_eq!(report.len() as u64, n);
    assert_eq!(report.outcomes().len() as u64, n);
    let expect_ok: Vec<String> = (0..n)
        .filter(|x| !failing.contains(x))
        .map(|x| format!("v{x}"))
        .collect();
    assert_eq!(report.values().cloned().collect::<Vec<_>>(), expect_ok);
    assert_eq!(
        report.failures().map(|f| f.index).collect::<Vec<_>>(),
        failing
    );
    for (i, o) in report.outcomes().enumerate() {
        let by_index = report.outcome(i).unwrap();
        match (o, by_index) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a, &format!("v{i}"));
                assert_eq!(a, b);
            }
            (Err(a), Err(b)) => {
                assert_eq!(a.index, i as u64);
                assert_eq!(b.index, i as u64);
                assert_eq!(a.cause, Cause::Error(format!("bad {i}")));
            }
            other => panic!("index {i}: {other:?}"),
        }
    }
    assert!(report.outcome(n as usize).is_none());
    let all = report.into_outcomes();
    assert_eq!(all.len() as u64, n);
    for (i, o) in all.into_iter().enumerate() {
        match o {
            Ok(v) => assert_eq!(v, format!("v{i}")),
            Err(f) => assert_eq!(f.index, i as u64),
        }
    }
}

/// A run over an input of known length with no supervisor has its driver wait for all the
/// outcomes at once once every input is handed out (one wake-up, not one per chunk), and its
/// workers leave as soon as the queue is empty. Every input still gets exactly one outcome, in
/// its place, whatever the items do (values, errors, panics), when a halt stops the run midway,
/// and when the input's exact size hint is wrong.
#[test]
fn runs_whose_driver_waits_for_everything_at_once_lose_nothing() {
    let n = 1_000 * stress::<u64>();
    let f = |i: &u64| -> Result<u64, u64> {
        match i % 7 {
            3 => Err(*i),
            5 => panic!("item {i} panics"),
            _ => Ok(i * 2),
        }
    };
    type Inputs = fn(u64) -> Box<dyn Iterator<Item = u64>>;
    let inputs: [(&str, Inputs); 3] = [
        ("a range", |n| Box::new(0..n)),
        ("a size hint too short", |n| {
            Box::new(Liar {
                next: 0,
                real: n,
                claimed: (n - 3) as usize,
            })
        }),
        ("a size hint too long", |n| {
            Box::new(Liar {
                next: 0,
                real: n,
                claimed: (n + 3) as usize,
            })
        }),
    ];
    for (what, input) in inputs {
        for workers in [1, 2, 7, 64] {
            for halt in [None, Some(Halt::soon().fail_count(40))] {
                let mut b = Batch::new(f).workers(workers).progress(false);
                if let Some(h) = halt {
                    b = b.halt(h);
                }
                let r = b.run(input(n)).unwrap();
                let total = r.summary().total;
                let outcomes = r.into_outcomes();
                let case = format!("{what}, {workers} workers, halt {halt:?}");
                assert_eq!(outcomes.len() as u64, n, "{case}");
                assert_eq!(total, n, "{case}");
                let mut not_started = 0;
                for (k, o) in outcomes.into_iter().enumerate() {
                    let k = k as u64;
                    match o {
                        Ok(v) => assert_eq!(v, k * 2, "{case}"),
                        Err(e) => {
                            assert_eq!(e.index, k, "{case}");
                            match e.cause {
                                Cause::Error(i) => assert_eq!(i, k, "{case}"),
                                Cause::Panic { .. } => assert_eq!(k % 7, 5, "{case}"),
                                Cause::NotStarted => not_started += 1,
                                other => panic!("{case}: item {k}: {other:?}"),
                            }
                        }
                    }
                }
                if halt.is_none() {
                    assert_eq!(not_started, 0, "{case}");
                }
            }
        }
    }
}
