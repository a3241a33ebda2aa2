#![cfg(not(loom))]
//! Integration tests for `threadkit::thread`: spawning, names, joining (with timeouts),
//! panics as values, the registry, dummy threads, daemon flags, stack size.

mod common;

use common::stress;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use threadkit::thread::{
    self, Builder, ExitWaitError, JoinTimeoutError, Runnable, Thread, ThreadJoinError,
};

/// The number in a default name `Thread-N` or `Thread-N (target)`.
fn default_name_number(name: &str) -> u64 {
    let rest = name.strip_prefix("Thread-").expect("default name");
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().expect("number")
}

fn work() -> String {
    thread::current().name().to_owned()
}

#[test]
fn spawn_returns_the_value_and_join_waits() {
    let h = thread::spawn(|| 40 + 2);
    assert_eq!(h.join().unwrap(), 42);
    let h = Builder::new().spawn(|| vec![1, 2, 3]).unwrap();
    assert_eq!(h.join().unwrap(), [1, 2, 3]);
}

#[test]
fn default_names_follow_python() {
    // A closure: Thread-N.
    let h = thread::spawn(work);
    let fn_name = h.join().unwrap();
    assert!(fn_name.ends_with(" (work)"), "{fn_name}");
    let closure_name = thread::spawn(|| thread::current().name().to_owned())
        .join()
        .unwrap();
    assert!(closure_name.starts_with("Thread-"), "{closure_name}");
    assert!(!closure_name.contains(' '), "{closure_name}");
    // The counter is global and increasing.
    assert!(default_name_number(&closure_name) > default_name_number(&fn_name));
    // target_name names the target explicitly (overriding the function's own name).
    let h = Builder::new().target_name("worker").spawn(work).unwrap();
    let expected = h.name().to_owned();
    assert!(expected.ends_with(" (worker)"), "{expected}");
    assert_eq!(h.join().unwrap(), expected);

    // A Runnable: Thread-N (TypeName).
    struct AddThread(Vec<i32>);
    impl Runnable for AddThread {
        type Output = (i32, String);
        fn run(self) -> (i32, String) {
            (self.0.iter().sum(), thread::current().name().to_owned())
        }
    }
    let (sum, name) = thread::start(AddThread(vec![1, 2, 3, 4, 5]))
        .join()
        .unwrap();
    assert_eq!(sum, 15);
    assert!(
        name.starts_with("Thread-") && name.ends_with(" (AddThread)"),
        "{name}"
    );
}

#[test]
fn explicit_names_are_kept_exactly() {
    for name in [
        "First",
        "join-portion-thread",
        "My First Thread",
        "a\0b",
        "",
    ] {
        let h = Builder::new().name(name).spawn(work).unwrap();
        assert_eq!(h.name(), name);
        assert_eq!(h.join().unwrap(), name);
    }
    // The OS/std name is the threadkit name too (used in Rust's own panic messages).
    let std_name = Builder::new()
        .name("os-visible")
        .spawn(|| std::thread::current().name().map(str::to_owned))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(std_name.as_deref(), Some("os-visible"));
}

#[test]
fn join_timeout_returns_the_handle_while_running() {
    let (tx, rx) = mpsc::channel::<u32>();
    let h = Builder::new()
        .name("slow")
        .spawn(move || rx.recv().unwrap() + 1)
        .unwrap();
    let start = Instant::now();
    let h = match h.join_timeout(Duration::from_millis(50)) {
        Err(JoinTimeoutError::Timeout(h)) => h,
        other => panic!("expected a timeout, got {other:?}"),
    };
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(50), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert!(h.is_alive());
    // Again, as an error value with its Display.
    let err = h.join_timeout(Duration::from_millis(1)).unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(
        err.to_string(),
        "timed out waiting for thread 'slow' to finish"
    );
    let h = err.into_handle().unwrap();
    tx.send(41).unwrap();
    assert_eq!(h.join_timeout(Duration::from_secs(10)).unwrap(), 42);
}

#[test]
fn join_timeout_of_a_finished_thread_is_immediate_and_overflow_is_typed() {
    let h = thread::spawn(|| 7);
    h.thread().join().unwrap();
    assert_eq!(h.join_timeout(Duration::ZERO).unwrap(), 7);

    let h = thread::spawn(|| 8);
    match h.join_timeout(Duration::MAX) {
        Err(JoinTimeoutError::Overflow(h, e)) => {
            assert_eq!(e.timeout, Duration::MAX);
            assert_eq!(h.join().unwrap(), 8);
        }
        other => panic!("expected overflow, got {other:?}"),
    }
}

#[test]
fn panics_come_back_with_the_thread_name_and_message() {
    let h = Builder::new()
        .name("parser-3")
        .spawn(|| -> u32 { panic!("bad record {}", std::hint::black_box(17)) })
        .unwrap();
    let ident = h.ident();
    let p = h.join().unwrap_err();
    assert_eq!(p.name(), "parser-3");
    assert_eq!(p.ident(), ident);
    assert_eq!(p.message(), "bad record 17");
    // Where: this file; reported in the error (and not printed by the panic hook).
    let at = p.location().unwrap();
    assert!(at.starts_with("crates/threadkit/tests/thread.rs:"), "{at}");
    assert_eq!(
        p.to_string(),
        format!("thread 'parser-3' panicked at {at}: bad record 17")
    );
    assert!(p.payload().downcast_ref::<String>().is_some());

    // &'static str payload, and through join_timeout.
    let h = Builder::new()
        .name("static")
        .spawn(|| -> () { panic!("plain") })
        .unwrap();
    match h.join_timeout(Duration::from_secs(10)) {
        Err(JoinTimeoutError::Panicked(p)) => {
            assert_eq!((p.name(), p.message()), ("static", "plain"));
        }
        other => panic!("expected a panic, got {other:?}"),
    }

    // A payload that is not a string.
    let h = thread::spawn(|| -> () { std::panic::panic_any(5u8) });
    let p = h.join().unwrap_err();
    assert!(p.message().contains("non-string"), "{}", p.message());
    assert_eq!(p.into_payload().downcast::<u8>().ok().map(|b| *b), Some(5));
}

#[test]
fn a_panicking_thread_leaves_the_registry() {
    let h = thread::spawn(|| -> () { panic!("gone") });
    let t = h.thread().clone();
    assert!(h.join().is_err());
    assert!(!t.is_alive());
    assert!(!thread::enumerate().contains(&t));
}

#[test]
fn is_alive_before_and_after_join() {
    let (tx, rx) = mpsc::channel::<()>();
    let h = Builder::new()
        .name("join-portion-thread")
        .spawn(move || rx.recv().ok())
        .unwrap();
    let info = h.thread().clone();
    assert!(h.is_alive() && info.is_alive());
    assert!(info
        .to_string()
        .starts_with("<Thread(join-portion-thread, started"));
    drop(tx);
    h.join().unwrap();
    assert!(!info.is_alive());
    assert!(info
        .to_string()
        .starts_with("<Thread(join-portion-thread, stopped"));
}

#[test]
fn thread_info_join_waits_and_reports_misuse() {
    let (tx, rx) = mpsc::channel::<()>();
    let h = thread::spawn(move || rx.recv().ok());
    let info = h.thread().clone();
    assert_eq!(
        info.join_timeout(Duration::from_millis(20)),
        Err(ThreadJoinError::Timeout)
    );
    drop(tx);
    info.join().unwrap();
    assert!(!info.is_alive());
    assert_eq!(info.join_timeout(Duration::ZERO), Ok(()));
    assert!(matches!(
        info.join_timeout(Duration::MAX),
        Err(ThreadJoinError::Overflow(_))
    ));
    h.join().unwrap();

    // Joining oneself, the main thread, a dummy thread.
    let own = thread::spawn(|| thread::current().join()).join().unwrap();
    assert_eq!(own, Err(ThreadJoinError::CurrentThread));
    assert_eq!(own.unwrap_err().to_string(), "cannot join current thread");
    assert!(matches!(
        thread::main_thread().join(),
        Err(ThreadJoinError::NotJoinable { .. })
    ));
    let dummy = std::thread::spawn(thread::current).join().unwrap();
    assert!(matches!(
        dummy.join(),
        Err(ThreadJoinError::NotJoinable { .. })
    ));
}

#[test]
fn registry_lists_main_first_and_live_threads_then_drops_them() {
    let n = 4;
    let gate = Arc::new(Barrier::new(n + 1));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let gate = gate.clone();
            Builder::new()
                .name(format!("listed-{i}"))
                .spawn(move || {
                    gate.wait(); // registered and running
                    gate.wait(); // until the test has looked
                })
                .unwrap()
        })
        .collect();
    gate.wait();
    let live = thread::enumerate();
    assert_eq!(live[0], thread::main_thread());
    assert_eq!(live[0].name(), "MainThread");
    for h in &handles {
        assert!(live.contains(h.thread()), "{} not listed", h.name());
        assert!(h.thread().native_id().is_some() || !cfg!(target_os = "linux"));
    }
    // Start order is kept.
    let pos: Vec<usize> = handles
        .iter()
        .map(|h| live.iter().position(|t| t == h.thread()).unwrap())
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{pos:?}");
    assert!(thread::active_count() > n);
    gate.wait();
    let threads: Vec<Thread> = handles.iter().map(|h| h.thread().clone()).collect();
    for h in handles {
        h.join().unwrap();
    }
    let after = thread::enumerate();
    for t in &threads {
        assert!(!after.contains(t), "{} still listed after join", t.name());
    }
}

#[test]
fn main_thread_is_named_and_always_counted() {
    let main = thread::main_thread();
    assert_eq!(main.name(), "MainThread");
    assert_eq!(main.ident(), 1);
    assert!(main.is_main() && main.is_alive() && !main.is_daemon() && !main.is_dummy());
    if cfg!(target_os = "linux") {
        assert_eq!(main.native_id(), Some(u64::from(std::process::id())));
    }
    assert!(thread::enumerate().contains(&main));
    assert!(thread::active_count() >= 1);
    // Seen the same from any thread.
    let seen = thread::spawn(thread::main_thread).join().unwrap();
    assert_eq!(seen, main);
    assert_eq!(main.to_string(), "<_MainThread(MainThread, started 1)>");
}

#[test]
fn foreign_threads_become_dummy_threads_until_they_exit() {
    let (tx, rx) = mpsc::channel::<()>();
    let (seen_tx, seen_rx) = mpsc::channel::<Thread>();
    let std_handle = std::thread::spawn(move || {
        let me = thread::current();
        assert_eq!(me, thread::current(), "registered once");
        assert_eq!(thread::get_ident(), me.ident());
        seen_tx.send(me).unwrap();
        rx.recv().ok();
    });
    let dummy = seen_rx.recv().unwrap();
    assert!(dummy.is_dummy() && dummy.is_daemon() && !dummy.is_main());
    assert!(dummy.name().starts_with("Dummy-"), "{}", dummy.name());
    assert!(dummy.is_alive());
    assert!(thread::enumerate().contains(&dummy));
    assert!(dummy.to_string().starts_with("<_DummyThread(Dummy-"));
    if cfg!(target_os = "linux") {
        assert!(dummy.native_id().is_some());
        assert_ne!(dummy.native_id(), thread::main_thread().native_id());
    }
    drop(tx);
    std_handle.join().unwrap(); // its thread-local destructors have run
    assert!(!dummy.is_alive());
    assert!(!thread::enumerate().contains(&dummy));
}

#[test]
fn idents_are_unique_and_match_get_ident() {
    let count = 16 * stress::<usize>();
    let handles: Vec<_> = (0..count)
        .map(|_| thread::spawn(thread::get_ident))
        .collect();
    let mut seen = std::collections::HashSet::new();
    for h in handles {
        let ident = h.ident();
        assert_eq!(h.join().unwrap(), ident);
        assert!(seen.insert(ident), "ident {ident} reused");
    }
}

#[test]
fn native_id_is_the_os_thread_id() {
    let (tx, rx) = mpsc::channel::<()>();
    let h = thread::spawn(move || {
        let id = thread::get_native_id();
        rx.recv().ok();
        id
    });
    let t = h.thread().clone();
    drop(tx);
    let inside = h.join().unwrap();
    assert_eq!(t.native_id(), inside);
    if cfg!(target_os = "linux") {
        assert!(inside.is_some());
        assert_ne!(inside, Some(u64::from(std::process::id())));
    }
}

#[test]
fn daemon_flag_is_explicit_or_inherited() {
    // From a non-daemon threadkit thread: not a daemon.
    let inner = Builder::new()
        .daemon(false)
        .spawn(|| {
            thread::spawn(|| thread::current().is_daemon())
                .join()
                .unwrap()
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(!inner);
    // From a daemon thread: a daemon.
    let inner = Builder::new()
        .daemon(true)
        .spawn(|| {
            thread::spawn(|| thread::current().is_daemon())
                .join()
                .unwrap()
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(inner);
    // From a foreign (dummy, daemon) thread: a daemon, unless said otherwise.
    let (default, explicit) = std::thread::spawn(|| {
        let a = thread::spawn(|| ()).is_daemon();
        let b = Builder::new().daemon(false).spawn(|| ()).unwrap();
        let b_daemon = b.is_daemon();
        b.join().unwrap();
        (a, b_daemon)
    })
    .join()
    .unwrap();
    assert!(default);
    assert!(!explicit);
}

#[test]
fn wait_for_non_daemon_includes_threads_started_meanwhile() {
    let done = Arc::new(AtomicUsize::new(0));
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let d = done.clone();
    Builder::new()
        .daemon(false)
        .name("parent")
        .spawn(move || {
            go_rx.recv().ok();
            for _ in 0..3 {
                let d = d.clone();
                // Inherits non-daemon from its parent.
                thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(20));
                    d.fetch_add(1, Ordering::SeqCst);
                });
            }
            d.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    // A daemon that never ends is not waited for.
    let (_never_tx, never_rx) = mpsc::channel::<()>();
    Builder::new()
        .daemon(true)
        .spawn(move || never_rx.recv().ok())
        .unwrap();
    assert!(matches!(
        thread::wait_for_non_daemon_timeout(Duration::from_millis(20)),
        Err(ExitWaitError::Timeout { running }) if running >= 1
    ));
    go_tx.send(()).unwrap();
    thread::wait_for_non_daemon();
    assert_eq!(done.load(Ordering::SeqCst), 4);
    assert_eq!(
        thread::wait_for_non_daemon_timeout(Duration::from_secs(10)),
        Ok(())
    );
}

#[test]
fn a_non_daemon_thread_waiting_for_non_daemons_does_not_wait_for_itself() {
    let r = Builder::new()
        .daemon(false)
        .spawn(|| thread::wait_for_non_daemon_timeout(Duration::from_secs(10)))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(r, Ok(()));
}

#[test]
fn main_wrapper_waits_and_returns_the_value() {
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    let v = thread::main(move || {
        Builder::new()
            .daemon(false)
            .spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                d.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        "body"
    });
    assert_eq!(v, "body");
    assert_eq!(done.load(Ordering::SeqCst), 1);
}

fn recurse(depth: usize) -> u64 {
    let frame = std::hint::black_box([depth as u8; 4096]);
    if depth == 0 {
        return u64::from(frame[0]);
    }
    recurse(depth - 1) + u64::from(std::hint::black_box(frame)[1])
}

#[test]
fn stack_size_is_applied() {
    // About 10 MiB of frames: more than the 2 MiB default, within the 64 MiB asked for.
    let depth = 2500;
    let h = Builder::new()
        .name("deep")
        .stack_size(64 * 1024 * 1024)
        .spawn(move || recurse(depth))
        .unwrap();
    assert!(h.join().unwrap() > 0);
}

#[test]
fn spawn_failure_is_a_typed_error_and_leaves_no_trace() {
    let err = Builder::new()
        .name("impossible")
        .stack_size(1 << 62)
        .spawn(|| ())
        .unwrap_err();
    assert_eq!(err.name(), "impossible");
    assert!(
        err.to_string()
            .starts_with("can't start new thread \"impossible\": "),
        "{err}"
    );
    assert!(!thread::enumerate().iter().any(|t| t.name() == "impossible"));
}

#[test]
fn many_threads_spawn_and_join_concurrently() {
    let n = 64 * stress::<usize>();
    let total = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let total = total.clone();
            Builder::new()
                .name(format!("w{i}"))
                .spawn(move || {
                    total.fetch_add(i, Ordering::Relaxed);
                    i
                })
                .unwrap()
        })
        .collect();
    let sum: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, n * (n - 1) / 2);
    assert_eq!(total.load(Ordering::Relaxed), sum);
}

#[test]
fn try_current_never_registers_a_foreign_thread() {
    let (registered, known_after) = std::thread::spawn(|| {
        let before = thread::try_current();
        let listed = thread::enumerate()
            .iter()
            .any(|t| t.native_id() == thread::get_native_id());
        let me = thread::current(); // registers this thread as a dummy
        let after = thread::try_current().map(|t| t.name().to_owned());
        assert!(before.is_none());
        (listed, after == Some(me.name().to_owned()))
    })
    .join()
    .unwrap();
    assert!(!registered, "try_current registered the thread");
    assert!(known_after, "once registered, try_current finds it");
}
