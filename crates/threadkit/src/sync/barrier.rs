//! `threading.Barrier`: a fixed number of threads meet, an optional action runs, all go on.

use crate::primitive::{thread_token, Condvar, Mutex};
use crate::time::{deadline_after, TimeoutOverflow};
use crate::unwind;
use std::fmt;
use std::time::{Duration, Instant};

type Action = Box<dyn Fn() + Send + Sync + 'static>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Threads are arriving.
    Filling,
    /// The last thread is running the action (outside the mutex); everyone else waits.
    Action,
    /// `reset()` was called while threads waited: they leave with `Broken`, the last one out
    /// makes the barrier usable again; arrivals wait meanwhile.
    Resetting,
    /// Broken until `reset()`.
    Broken,
}

#[derive(Debug)]
struct State {
    /// Threads that arrived in the current generation and have not left.
    count: usize,
    /// Bumped each time the barrier releases its threads; a waiter is released normally when
    /// it changes, so the releasing thread can arrive again at once (no draining phase).
    generation: u64,
    phase: Phase,
    /// The thread running the action (its `abort`/`reset` must not wait for the action).
    action_thread: u64,
}

/// Threads meeting at a point: Python's `threading.Barrier`.
///
/// Each of `parties` threads calls [`wait`](Self::wait); all block until the last arrives, the
/// optional action runs once on that last thread, then all are released and the barrier can be
/// used again. `wait` returns an index in `0..parties`, different for each thread of a
/// generation (the last arrival gets `parties - 1`).
///
/// A timeout, an [`abort`](Self::abort), a [`reset`](Self::reset) while threads wait, or a
/// panicking action *breaks* the barrier: every waiting thread and every later `wait` gets an
/// `Err` instead of hanging, until `reset()`.
///
/// # Examples
///
/// Three workers and the main thread meet (seed 001):
///
/// ```
/// use threadkit::sync::Barrier;
///
/// let barrier = Barrier::new(4).unwrap();
/// let mut indices = std::thread::scope(|s| {
///     let workers: Vec<_> = (0..3).map(|_| s.spawn(|| barrier.wait().unwrap())).collect();
///     let mut v = vec![barrier.wait().unwrap()];
///     v.extend(workers.into_iter().map(|h| h.join().unwrap()));
///     v
/// });
/// indices.sort();
/// assert_eq!(indices, [0, 1, 2, 3]);
/// ```
pub struct Barrier {
    parties: usize,
    action: Option<Action>,
    timeout: Option<Duration>,
    state: Mutex<State>,
    cv: Condvar,
    #[cfg(feature = "deadlock-detection")]
    id: super::deadlock::ResourceId,
}

/// Builds a [`Barrier`] with an action and/or a default timeout.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use threadkit::sync::Barrier;
///
/// let runs = Arc::new(AtomicUsize::new(0));
/// let r = Arc::clone(&runs);
/// let barrier = Barrier::builder(2)
///     .action(move || {
///         r.fetch_add(1, Ordering::SeqCst);
///     })
///     .timeout(Duration::from_secs(10))
///     .build()
///     .unwrap();
/// std::thread::scope(|s| {
///     s.spawn(|| barrier.wait().unwrap());
///     barrier.wait().unwrap();
/// });
/// assert_eq!(runs.load(Ordering::SeqCst), 1);
/// ```
#[must_use = "a builder does nothing until built"]
pub struct BarrierBuilder {
    parties: usize,
    action: Option<Action>,
    timeout: Option<Duration>,
}

/// Error of building a [`Barrier`]: zero parties (Python: `ValueError`).
///
/// # Examples
///
/// ```
/// let err = threadkit::sync::Barrier::new(0).unwrap_err();
/// assert_eq!(err.to_string(), "parties must be > 0");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierBuildError {
    _private: (),
}

impl fmt::Display for BarrierBuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("parties must be > 0")
    }
}

impl std::error::Error for BarrierBuildError {}

/// Error of [`Barrier::wait`] and its timed forms.
///
/// # Examples
///
/// ```
/// use threadkit::sync::{Barrier, BarrierWaitError};
///
/// let b = Barrier::new(2).unwrap();
/// b.abort();
/// assert_eq!(b.wait(), Err(BarrierWaitError::Broken));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BarrierWaitError {
    /// The barrier is broken, or was broken or reset while this thread waited (Python:
    /// `BrokenBarrierError`).
    Broken,
    /// This thread's timeout passed first; the barrier is now broken for everyone.
    TimedOut,
    /// This thread ran the action and it panicked with this message; the barrier is now
    /// broken for everyone.
    ActionPanicked(String),
    /// The timeout does not fit in an [`Instant`]; nothing happened.
    Overflow(TimeoutOverflow),
}

impl BarrierWaitError {
    /// Whether the barrier is broken because of this error (all but [`Overflow`](Self::Overflow)).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(threadkit::sync::BarrierWaitError::TimedOut.is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        !matches!(self, BarrierWaitError::Overflow(_))
    }
}

impl fmt::Display for BarrierWaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BarrierWaitError::Broken => f.write_str("barrier is broken"),
            BarrierWaitError::TimedOut => {
                f.write_str("timed out waiting at the barrier, which is now broken")
            }
            BarrierWaitError::ActionPanicked(m) => {
                write!(f, "barrier action panicked: {m}; the barrier is now broken")
            }
            BarrierWaitError::Overflow(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for BarrierWaitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BarrierWaitError::Overflow(e) => Some(e),
            _ => None,
        }
    }
}

impl BarrierBuilder {
    /// Runs `action` once per generation, on the last thread to arrive, before any thread is
    /// released (Python: `Barrier(parties, action=...)`). A panic in it breaks the barrier.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = threadkit::sync::Barrier::builder(1).action(|| println!("all here")).build().unwrap();
    /// assert_eq!(b.wait(), Ok(0));
    /// ```
    pub fn action(mut self, action: impl Fn() + Send + Sync + 'static) -> Self {
        self.action = Some(Box::new(action));
        self
    }

    /// The timeout [`Barrier::wait`] uses (Python: `Barrier(parties, timeout=...)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::sync::{Barrier, BarrierWaitError};
    ///
    /// let b = Barrier::builder(2).timeout(Duration::from_millis(10)).build().unwrap();
    /// assert_eq!(b.wait(), Err(BarrierWaitError::TimedOut));
    /// assert!(b.broken());
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The barrier.
    ///
    /// # Errors
    ///
    /// [`BarrierBuildError`] when `parties` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(threadkit::sync::Barrier::builder(0).build().is_err());
    /// ```
    pub fn build(self) -> Result<Barrier, BarrierBuildError> {
        if self.parties == 0 {
            return Err(BarrierBuildError { _private: () });
        }
        Ok(Barrier {
            parties: self.parties,
            action: self.action,
            timeout: self.timeout,
            state: Mutex::new(State {
                count: 0,
                generation: 0,
                phase: Phase::Filling,
                action_thread: 0,
            }),
            #[cfg(feature = "deadlock-detection")]
            id: super::deadlock::ResourceId::new(),
            cv: Condvar::new(),
        })
    }
}

impl fmt::Debug for BarrierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierBuilder")
            .field("parties", &self.parties)
            .field("action", &self.action.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Barrier {
    /// A barrier for `parties` threads, with no action and no default timeout.
    ///
    /// # Errors
    ///
    /// [`BarrierBuildError`] when `parties` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = threadkit::sync::Barrier::new(3).unwrap();
    /// assert_eq!(b.parties(), 3);
    /// ```
    pub fn new(parties: usize) -> Result<Barrier, BarrierBuildError> {
        Barrier::builder(parties).build()
    }

    /// A builder for a barrier with an action or a default timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = threadkit::sync::Barrier::builder(2).build().unwrap();
    /// assert_eq!(b.parties(), 2);
    /// ```
    pub fn builder(parties: usize) -> BarrierBuilder {
        BarrierBuilder {
            parties,
            action: None,
            timeout: None,
        }
    }

    /// Waits for all parties, with the default timeout if one was built in (Python:
    /// `wait()`). Returns this thread's arrival index in `0..parties`.
    ///
    /// # Errors
    ///
    /// [`BarrierWaitError::Broken`] if the barrier is or gets broken, `TimedOut` when the
    /// default timeout passes (breaking it), `ActionPanicked` for the thread whose action
    /// panicked, `Overflow` when the default timeout does not fit in an [`Instant`].
    ///
    /// # Examples
    ///
    /// ```
    /// let b = threadkit::sync::Barrier::new(1).unwrap();
    /// assert_eq!(b.wait(), Ok(0));
    /// assert_eq!(b.wait(), Ok(0)); // reusable
    /// ```
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub fn wait(&self) -> Result<usize, BarrierWaitError> {
        match self.timeout {
            None => self.wait_inner(None),
            Some(t) => self.wait_timeout(t),
        }
    }

    /// Like [`wait`](Self::wait) with this call's own `timeout` (Python: `wait(timeout)`).
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::sync::{Barrier, BarrierWaitError};
    ///
    /// let b = Barrier::new(2).unwrap();
    /// assert_eq!(b.wait_timeout(Duration::from_millis(10)), Err(BarrierWaitError::TimedOut));
    /// assert_eq!(b.wait(), Err(BarrierWaitError::Broken));
    /// b.reset();
    /// assert!(!b.broken());
    /// ```
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize, BarrierWaitError> {
        let deadline = deadline_after(timeout).map_err(BarrierWaitError::Overflow)?;
        self.wait_inner(Some(deadline))
    }

    /// Like [`wait`](Self::wait) until `deadline` at most.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait), without `Overflow`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let b = threadkit::sync::Barrier::new(1).unwrap();
    /// assert_eq!(b.wait_until(Instant::now() + Duration::from_millis(10)), Ok(0));
    /// ```
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub fn wait_until(&self, deadline: Instant) -> Result<usize, BarrierWaitError> {
        self.wait_inner(Some(deadline))
    }

    fn leave(&self, st: &mut State) {
        st.count -= 1;
        if st.count == 0 && st.phase == Phase::Resetting {
            st.phase = Phase::Filling;
            self.cv.notify_all();
        }
    }

    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    fn wait_inner(&self, deadline: Option<Instant>) -> Result<usize, BarrierWaitError> {
        let mut st = self.state.lock();
        while matches!(st.phase, Phase::Resetting | Phase::Action) {
            self.cv.wait(&mut st);
        }
        if st.phase == Phase::Broken {
            return Err(BarrierWaitError::Broken);
        }
        let index = st.count;
        st.count += 1;
        let generation = st.generation;
        if st.count == self.parties {
            if let Some(action) = &self.action {
                st.phase = Phase::Action;
                st.action_thread = thread_token();
                drop(st);
                // `catch_message`: the barrier's state is set right below whatever the action
                // (or the drop of its panic's payload) does.
                let outcome = unwind::catch_message(action);
                st = self.state.lock();
                st.action_thread = 0;
                if outcome.is_ok() && st.phase != Phase::Action {
                    // The action itself called abort() or reset(): this generation is broken.
                    self.leave(&mut st);
                    drop(st);
                    self.cv.notify_all();
                    return Err(BarrierWaitError::Broken);
                }
                if let Err(message) = outcome {
                    st.phase = Phase::Broken;
                    self.leave(&mut st);
                    drop(st);
                    self.cv.notify_all();
                    return Err(BarrierWaitError::ActionPanicked(message));
                }
            }
            st.count = 0;
            st.generation = st.generation.wrapping_add(1);
            st.phase = Phase::Filling;
            // Under the mutex: parking_lot requeues the waiters onto it rather than waking them
            // all to contend for it.
            self.cv.notify_all();
            drop(st);
            return Ok(index);
        }
        #[cfg(feature = "deadlock-detection")]
        let _waiting = super::deadlock::waiting(self.deadlock_resource());
        loop {
            if st.generation != generation {
                return Ok(index);
            }
            match st.phase {
                Phase::Broken | Phase::Resetting => {
                    self.leave(&mut st);
                    return Err(BarrierWaitError::Broken);
                }
                // While the action runs the barrier is full: timeouts no longer apply.
                Phase::Action => self.cv.wait(&mut st),
                Phase::Filling => match deadline {
                    None => self.cv.wait(&mut st),
                    Some(d) => {
                        if self.cv.wait_until(&mut st, d)
                            && st.generation == generation
                            && st.phase == Phase::Filling
                        {
                            st.phase = Phase::Broken;
                            self.leave(&mut st);
                            drop(st);
                            self.cv.notify_all();
                            return Err(BarrierWaitError::TimedOut);
                        }
                    }
                },
            }
        }
    }

    /// The deadlock detector's name for this barrier, as it appears in
    /// [reports](crate::sync::deadlock::Report) (feature `deadlock-detection`).
    ///
    /// # Examples
    ///
    /// ```
    /// let x = threadkit::sync::Barrier::new(2).unwrap();
    /// assert_eq!(x.deadlock_resource().kind, threadkit::sync::deadlock::ResourceKind::Barrier);
    /// ```
    #[cfg(feature = "deadlock-detection")]
    pub fn deadlock_resource(&self) -> super::deadlock::Resource {
        super::deadlock::Resource {
            kind: super::deadlock::ResourceKind::Barrier,
            id: self.id.get(),
        }
    }

    /// Puts the barrier back to its initial state (Python: `reset()`): threads waiting now
    /// get [`BarrierWaitError::Broken`]; once they have left, the barrier is usable again
    /// (threads arriving meanwhile wait for that). Also repairs a broken barrier.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = threadkit::sync::Barrier::new(2).unwrap();
    /// b.abort();
    /// assert!(b.broken());
    /// b.reset();
    /// assert!(!b.broken());
    /// ```
    pub fn reset(&self) {
        let mut st = self.state.lock();
        while st.phase == Phase::Action && st.action_thread != thread_token() {
            self.cv.wait(&mut st);
        }
        st.phase = if st.count > 0 {
            Phase::Resetting
        } else {
            Phase::Filling
        };
        drop(st);
        self.cv.notify_all();
    }

    /// Breaks the barrier (Python: `abort()`): waiting threads and later `wait` calls get
    /// [`BarrierWaitError::Broken`] until [`reset`](Self::reset).
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::sync::{Barrier, BarrierWaitError};
    ///
    /// let b = Barrier::new(2).unwrap();
    /// std::thread::scope(|s| {
    ///     let waiter = s.spawn(|| b.wait());
    ///     while b.n_waiting() == 0 {
    ///         std::thread::yield_now();
    ///     }
    ///     b.abort();
    ///     assert_eq!(waiter.join().unwrap(), Err(BarrierWaitError::Broken));
    /// });
    /// ```
    pub fn abort(&self) {
        let mut st = self.state.lock();
        while st.phase == Phase::Action && st.action_thread != thread_token() {
            self.cv.wait(&mut st);
        }
        st.phase = Phase::Broken;
        drop(st);
        self.cv.notify_all();
    }

    /// The number of threads required (Python: `parties`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadkit::sync::Barrier::new(5).unwrap().parties(), 5);
    /// ```
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// How many threads are waiting right now (Python: `n_waiting`); a snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadkit::sync::Barrier::new(2).unwrap().n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        let st = self.state.lock();
        if st.phase == Phase::Filling {
            st.count
        } else {
            0
        }
    }

    /// Whether the barrier is broken (Python: `broken`).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = threadkit::sync::Barrier::new(2).unwrap();
    /// assert!(!b.broken());
    /// b.abort();
    /// assert!(b.broken());
    /// ```
    pub fn broken(&self) -> bool {
        self.state.lock().phase == Phase::Broken
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.lock();
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("n_waiting", &st.count)
            .field("phase", &st.phase)
            .field("action", &self.action.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}
