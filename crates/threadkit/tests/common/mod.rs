//! Helpers shared by the integration tests (each test file that needs them says `mod common;`).
#![allow(dead_code)]

use std::future::{Future as _, IntoFuture};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// The stress multiplier: `THREADKIT_STRESS` (default 1, at least 1). Stress tests multiply
/// their counts by it, so that CI stays fast and a long run stays possible.
pub(crate) fn stress<T: std::str::FromStr + From<u8> + Ord>() -> T {
    std::env::var("THREADKIT_STRESS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| T::from(1))
        .max(T::from(1))
}

/// A gate tasks can wait on (with a bound, so a failed test cannot hang). Built on std, not
/// on the threadkit primitives under test.
#[derive(Default)]
pub(crate) struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    /// Opens the gate for every waiter, now and later.
    pub(crate) fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }

    /// Waits at most `max` for the gate to open; whether it is open.
    pub(crate) fn wait(&self, max: Duration) -> bool {
        let g = self.open.lock().unwrap();
        let (g, _) = self.cv.wait_timeout_while(g, max, |o| !*o).unwrap();
        *g
    }
}

/// The test binary again, running only the test `name` (exactly that one, on one thread, its
/// output not captured): for a test that needs a process of its own, or a child process to
/// kill.
pub(crate) fn this_test(name: &str) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("the test binary's path"));
    c.args(["--exact", name, "--nocapture", "--test-threads=1"]);
    c
}

/// Set to the test's name in the child process [`alone`] starts.
const ALONE_ENV: &str = "THREADKIT_TEST_ALONE";

/// For a test that needs its process to itself (one that counts the threads of a process-wide
/// pool, say): plain `cargo test` runs the tests of a file as threads of one process, nextest
/// runs each in a process of its own. Whether the caller runs the test's body here: under
/// nextest, or in the child this function started. Otherwise it runs the test `name` again in
/// a child process ([`this_test`]), asserts that the child passed, and returns false.
///
/// ```ignore
/// if !common::alone("my_test") {
///     return;
/// }
/// ```
pub(crate) fn alone(name: &str) -> bool {
    let own_process =
        std::env::var("NEXTEST_EXECUTION_MODE").is_ok_and(|m| m == "process-per-test");
    if own_process || std::env::var_os(ALONE_ENV).is_some_and(|v| v == name) {
        return true;
    }
    let out = this_test(name)
        .env(ALONE_ENV, name)
        .output()
        .expect("cannot run the test binary again");
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{name} in a process of its own: {}\n{text}",
        out.status
    );
    false
}

/// Child-process targets for the process tests: a panic with `msg`, exit with `code`, park for
/// good (until killed), abort.
pub(crate) fn panics(msg: String) {
    panic!("{msg}");
}

/// See [`panics`].
pub(crate) fn exits(code: i32) {
    std::process::exit(code);
}

/// See [`panics`].
pub(crate) fn parks(_: ()) {
    loop {
        std::thread::park();
    }
}

/// See [`panics`].
pub(crate) fn aborts(_: ()) {
    std::process::abort();
}

/// Runs `cmd` with its output captured and returns it; kills it when it has not ended after
/// `bound` (a bound against a hang, never a timing assertion). `None` when it was killed.
pub(crate) fn output_within(cmd: &mut Command, bound: Duration) -> Option<std::process::Output> {
    use std::io::Read;
    use std::process::Stdio;

    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let err = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = stderr.read_to_end(&mut b);
            b
        });
        let mut o = Vec::new();
        let _ = stdout.read_to_end(&mut o);
        let _ = tx.send((o, err.join().unwrap_or_default()));
    });
    match rx.recv_timeout(bound) {
        Ok((stdout, stderr)) => {
            let status = child.wait().expect("wait for the child");
            Some(std::process::Output {
                status,
                stdout,
                stderr,
            })
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            None
        }
    }
}

pub(crate) mod pty;

/// A rendezvous of `parties` threads with a bound on the wait (std's `Barrier` has none, so a
/// pool with too few workers would hang the test instead of failing it). Built on std.
pub(crate) struct Rendezvous {
    parties: usize,
    arrived: Mutex<usize>,
    cv: Condvar,
}

impl Rendezvous {
    pub(crate) fn new(parties: usize) -> Self {
        Rendezvous {
            parties,
            arrived: Mutex::new(0),
            cv: Condvar::new(),
        }
    }

    /// Arrives, then waits at most `max` for every party; whether all arrived.
    pub(crate) fn wait(&self, max: Duration) -> bool {
        let mut n = self.arrived.lock().unwrap();
        *n += 1;
        self.cv.notify_all();
        let (n, _) = self
            .cv
            .wait_timeout_while(n, max, |n| *n < self.parties)
            .unwrap();
        *n >= self.parties
    }
}

/// The repeated "N tasks on a barrier" setup: submits `n` tasks to `pool` that each wait for
/// all `n` to be running at once (at most `max`), and waits for them. It proves the pool ran
/// `n` workers at the same time, and leaves them started and idle; panics if they did not all
/// meet in time.
pub(crate) fn run_tasks_on_a_barrier(pool: &threadkit::ThreadPool, n: usize, max: Duration) {
    let meeting = Arc::new(Rendezvous::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let meeting = meeting.clone();
            pool.submit(move || meeting.wait(max)).unwrap()
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(
            task.into_result(),
            Ok(true),
            "task {i} of {n} did not meet the others: fewer workers than tasks?"
        );
    }
}

/// A waker that unparks a thread and counts its wake-ups.
pub(crate) struct Unpark {
    thread: std::thread::Thread,
    pub(crate) wakes: AtomicUsize,
}

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// A waker for the current thread, and its wake-up count.
pub(crate) fn unpark_waker() -> (Arc<Unpark>, Waker) {
    let w = Arc::new(Unpark {
        thread: std::thread::current(),
        wakes: AtomicUsize::new(0),
    });
    (Arc::clone(&w), Waker::from(w))
}

/// The smallest executor (a hand-written `block_on`): poll, park until woken, poll again.
pub(crate) fn block_on<F: IntoFuture>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut.into_future());
    let (_count, waker) = unpark_waker();
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
