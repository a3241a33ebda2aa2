//! `threading.Timer`: a closure run after a delay on its own thread, cancellable until it fires.

use crate::primitive::{Condvar, Mutex};
use crate::thread::{Builder, JoinHandle, SpawnError, ThreadPanic};
use crate::time::{deadline_after, TimeoutOverflow};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the next firing.
    Pending,
    /// A one-shot timer has started running its closure (too late to cancel).
    Fired,
    /// Cancelled in time.
    Cancelled,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<(Phase, u64)>,
    cv: Condvar,
}

impl Shared {
    /// Sleeps until `deadline` unless cancelled; true when it is time to fire. A one-shot timer
    /// moves to `Fired` under the lock, so `cancel` afterwards reports false.
    fn wait_to_fire(&self, deadline: Instant, one_shot: bool) -> bool {
        let mut st = self.state.lock();
        while st.0 == Phase::Pending {
            if Instant::now() >= deadline || self.cv.wait_until(&mut st, deadline) {
                if st.0 != Phase::Pending {
                    break;
                }
                if one_shot {
                    st.0 = Phase::Fired;
                }
                st.1 += 1;
                return true;
            }
        }
        false
    }
}

/// Error of starting a [`Timer`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::sync::{Timer, TimerError};
///
/// let err = Timer::start(Duration::MAX, || ()).unwrap_err();
/// assert!(matches!(err, TimerError::Overflow(_)));
/// ```
#[derive(Debug)]
pub enum TimerError {
    /// The delay does not fit in an [`Instant`].
    Overflow(TimeoutOverflow),
    /// The operating system could not start the timer's thread.
    Spawn(SpawnError),
}

impl fmt::Display for TimerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimerError::Overflow(e) => fmt::Display::fmt(e, f),
            TimerError::Spawn(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for TimerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TimerError::Overflow(e) => Some(e),
            TimerError::Spawn(e) => Some(e),
        }
    }
}

/// A closure run after a delay on its own thread: Python's `threading.Timer`.
///
/// [`Timer::start`] starts the thread at once (Python: `Timer(delay, f).start()`);
/// [`cancel`](Self::cancel) stops it if it has not fired yet. [`Timer::repeating`] runs the
/// closure every interval (measured from the end of the previous run) until cancelled.
/// Threads are named like Python's, `Thread-N (timer)`, unless [`Timer::builder`] names them.
///
/// Dropping a `Timer` does not cancel it (as in Python, the thread goes on); its thread is
/// not a daemon unless the builder says so.
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
/// use std::time::Duration;
/// use threadkit::sync::Timer;
///
/// let (tx, rx) = mpsc::channel();
/// let timer = Timer::start(Duration::from_millis(20), move || tx.send("fired").unwrap()).unwrap();
/// assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok("fired"));
/// assert!(!timer.cancel()); // too late: it already fired
/// timer.join().unwrap();
/// ```
pub struct Timer {
    shared: Arc<Shared>,
    handle: JoinHandle<()>,
}

/// Configures a [`Timer`]'s thread (name, daemon flag) before starting it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let t = threadkit::sync::Timer::builder()
///     .name("reminder")
///     .start(Duration::from_millis(1), || ())
///     .unwrap();
/// assert_eq!(t.name(), "reminder");
/// t.join().unwrap();
/// ```
#[derive(Debug, Default)]
#[must_use = "a builder does nothing until started"]
pub struct TimerBuilder {
    name: Option<String>,
    daemon: Option<bool>,
}

impl TimerBuilder {
    /// Names the timer's thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let t = threadkit::sync::Timer::builder().name("tick").start(Duration::ZERO, || ()).unwrap();
    /// assert_eq!(t.name(), "tick");
    /// # t.join().unwrap();
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Whether the program's exit waits for the timer (see
    /// [`thread::Builder::daemon`](crate::thread::Builder::daemon)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let t = threadkit::sync::Timer::builder().daemon(true).start(Duration::ZERO, || ()).unwrap();
    /// # t.join().unwrap();
    /// ```
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = Some(daemon);
        self
    }

    fn thread(&self) -> Builder {
        let mut b = Builder::new().target_name("timer");
        if let Some(n) = &self.name {
            b = b.name(n.clone());
        }
        if let Some(d) = self.daemon {
            b = b.daemon(d);
        }
        b
    }

    /// Starts a one-shot timer running `f` once after `delay`.
    ///
    /// # Errors
    ///
    /// [`TimerError::Overflow`] when `delay` does not fit in an [`Instant`],
    /// [`TimerError::Spawn`] when the thread cannot be started.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let t = threadkit::sync::Timer::builder().start(Duration::from_secs(60), || ()).unwrap();
    /// assert!(t.cancel());
    /// t.join().unwrap();
    /// ```
    pub fn start(
        self,
        delay: Duration,
        f: impl FnOnce() + Send + 'static,
    ) -> Result<Timer, TimerError> {
        let deadline = deadline_after(delay).map_err(TimerError::Overflow)?;
        self.launch(move |s| {
            if s.wait_to_fire(deadline, true) {
                f();
            }
        })
    }

    /// Starts a repeating timer running `f` every `interval` (from the end of one run to the
    /// start of the next) until cancelled.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let t = threadkit::sync::Timer::builder()
    ///     .start_repeating(Duration::from_millis(1), || ())
    ///     .unwrap();
    /// while t.runs() < 3 {
    ///     std::thread::yield_now();
    /// }
    /// assert!(t.cancel());
    /// t.join().unwrap();
    /// ```
    pub fn start_repeating(
        self,
        interval: Duration,
        mut f: impl FnMut() + Send + 'static,
    ) -> Result<Timer, TimerError> {
        let first = deadline_after(interval).map_err(TimerError::Overflow)?;
        self.launch(move |s| {
            let mut deadline = first;
            while s.wait_to_fire(deadline, false) {
                f();
                match Instant::now().checked_add(interval) {
                    Some(d) => deadline = d,
                    None => return,
                }
            }
        })
    }

    /// The shared state of a new timer, and its thread running `body` over that state.
    fn launch(self, body: impl FnOnce(&Shared) + Send + 'static) -> Result<Timer, TimerError> {
        let shared = Arc::new(Shared {
            state: Mutex::new((Phase::Pending, 0)),
            cv: Condvar::new(),
        });
        let s = Arc::clone(&shared);
        let handle = self
            .thread()
            .spawn(move || body(&s))
            .map_err(TimerError::Spawn)?;
        Ok(Timer { shared, handle })
    }
}

impl Timer {
    /// Starts a timer running `f` once after `delay` on a new thread (Python:
    /// `Timer(delay, f).start()`).
    ///
    /// # Errors
    ///
    /// [`TimerError::Overflow`] when `delay` does not fit in an [`Instant`],
    /// [`TimerError::Spawn`] when the thread cannot be started.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let t = threadkit::sync::Timer::start(Duration::from_millis(5), || println!("fired")).unwrap();
    /// assert!(t.name().ends_with("(timer)"));
    /// t.join().unwrap();
    /// ```
    pub fn start(delay: Duration, f: impl FnOnce() + Send + 'static) -> Result<Timer, TimerError> {
        TimerBuilder::default().start(delay, f)
    }

    /// Starts a timer running `f` every `interval` until [`cancel`](Self::cancel)led.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let ticks = Arc::new(AtomicU32::new(0));
    /// let t2 = Arc::clone(&ticks);
    /// let t = threadkit::sync::Timer::repeating(Duration::from_millis(1), move || {
    ///     t2.fetch_add(1, Ordering::SeqCst);
    /// })
    /// .unwrap();
    /// while ticks.load(Ordering::SeqCst) < 3 {
    ///     std::thread::yield_now();
    /// }
    /// t.cancel();
    /// t.join().unwrap();
    /// ```
    pub fn repeating(
        interval: Duration,
        f: impl FnMut() + Send + 'static,
    ) -> Result<Timer, TimerError> {
        TimerBuilder::default().start_repeating(interval, f)
    }

    /// A builder to name the timer's thread or make it a daemon.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let t = threadkit::sync::Timer::builder().name("t").start(Duration::ZERO, || ()).unwrap();
    /// t.join().unwrap();
    /// ```
    pub fn builder() -> TimerBuilder {
        TimerBuilder::default()
    }

    /// Stops the timer if it has not fired yet (Python: `cancel()`). Returns whether it was
    /// cancelled in time: false when a one-shot timer has already started running its closure
    /// (which then runs to the end) or the timer was already cancelled. A repeating timer
    /// finishes the run in progress, if any, and runs no more.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let t = threadkit::sync::Timer::start(Duration::from_secs(60), || unreachable!()).unwrap();
    /// assert!(t.cancel());
    /// assert!(!t.cancel());
    /// t.join().unwrap();
    /// ```
    pub fn cancel(&self) -> bool {
        let mut st = self.shared.state.lock();
        if st.0 != Phase::Pending {
            return false;
        }
        st.0 = Phase::Cancelled;
        drop(st);
        self.shared.cv.notify_all();
        true
    }

    /// How many times the closure has started running.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let t = threadkit::sync::Timer::start(Duration::from_secs(60), || ()).unwrap();
    /// assert_eq!(t.runs(), 0);
    /// t.cancel();
    /// ```
    pub fn runs(&self) -> u64 {
        self.shared.state.lock().1
    }

    /// Whether the timer's thread is still running (waiting or running the closure).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let t = threadkit::sync::Timer::start(Duration::from_secs(60), || ()).unwrap();
    /// assert!(t.is_alive());
    /// t.cancel();
    /// ```
    pub fn is_alive(&self) -> bool {
        self.handle.is_alive()
    }

    /// The timer thread's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let t = threadkit::sync::Timer::builder().name("x").start(Duration::ZERO, || ()).unwrap();
    /// assert_eq!(t.name(), "x");
    /// # t.join().unwrap();
    /// ```
    pub fn name(&self) -> &str {
        self.handle.name()
    }

    /// Waits for the timer's thread to end: after firing (a one-shot timer), or after being
    /// cancelled. Joining a repeating timer that was not cancelled waits forever.
    ///
    /// # Errors
    ///
    /// [`ThreadPanic`] when the closure panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let t = threadkit::sync::Timer::start(Duration::ZERO, || panic!("boom")).unwrap();
    /// assert_eq!(t.join().unwrap_err().message(), "boom");
    /// ```
    pub fn join(self) -> Result<(), ThreadPanic> {
        self.handle.join()
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.state.lock();
        f.debug_struct("Timer")
            .field("name", &self.handle.name())
            .field("phase", &st.0)
            .field("runs", &st.1)
            .finish()
    }
}
