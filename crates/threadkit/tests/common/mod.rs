//! Helpers shared by the integration tests (each test file that needs them says `mod common;`).
#![allow(dead_code)]

use std::sync::{Condvar, Mutex};
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

pub(crate) mod pty;
