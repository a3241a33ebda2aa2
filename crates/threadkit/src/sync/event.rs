//! `threading.Event`: a flag threads can wait for.

use crate::primitive::atomic::{AtomicBool, Ordering};
use crate::primitive::{Condvar, Mutex};
use crate::time::{deadline_after, TimeoutOverflow};
use std::fmt;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct State {
    flag: bool,
    /// Bumped by every `set()` that raises the flag: a waiter returns once it changes, so a
    /// `set()` immediately followed by `clear()` still wakes everyone who was waiting.
    generation: u64,
    /// Threads blocked in a wait.
    waiting: usize,
}

/// A flag that threads wait for: Python's `threading.Event`.
///
/// [`set`](Self::set) raises it and wakes every waiter, [`clear`](Self::clear) lowers it,
/// [`wait`](Self::wait) blocks until it is raised. A `set()` immediately followed by `clear()`
/// still wakes every thread that was waiting (each set starts a new generation), and their
/// `wait` reports `true`, as Python's does.
///
/// # Examples
///
/// The producer/consumer stop signal of seed 003:
///
/// ```
/// use std::time::Duration;
/// use threadkit::sync::Event;
///
/// let stop = Event::new();
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         let mut produced = 0;
///         while !stop.is_set() {
///             produced += 1;
///             std::thread::yield_now();
///         }
///         produced
///     });
///     stop.set();
/// });
/// assert!(stop.wait_timeout(Duration::from_millis(1)).unwrap());
/// ```
pub struct Event {
    state: Mutex<State>,
    cv: Condvar,
    /// Mirror of `state.flag` for the lock-free `is_set` and `wait` fast paths.
    fast: AtomicBool,
    #[cfg(feature = "deadlock-detection")]
    id: super::deadlock::ResourceId,
}

impl Event {
    /// A new event, not set.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!threadkit::sync::Event::new().is_set());
    /// ```
    pub fn new() -> Self {
        Event {
            state: Mutex::new(State {
                flag: false,
                generation: 0,
                waiting: 0,
            }),
            cv: Condvar::new(),
            fast: AtomicBool::new(false),
            #[cfg(feature = "deadlock-detection")]
            id: super::deadlock::ResourceId::new(),
        }
    }

    /// Whether the flag is raised (Python: `is_set()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = threadkit::sync::Event::new();
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    #[inline]
    pub fn is_set(&self) -> bool {
        self.fast.load(Ordering::Acquire)
    }

    /// Raises the flag and wakes every waiting thread (Python: `set()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = threadkit::sync::Event::new();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| e.wait());
    ///     e.set();
    /// });
    /// ```
    #[inline]
    pub fn set(&self) {
        let mut st = self.state.lock();
        if st.flag {
            return;
        }
        st.flag = true;
        st.generation = st.generation.wrapping_add(1);
        self.fast.store(true, Ordering::Release);
        // Under the mutex: parking_lot requeues the waiters onto it instead of waking them
        // all to contend for it.
        self.cv.notify_all();
        drop(st);
    }

    /// Lowers the flag (Python: `clear()`); later waits block until the next `set()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = threadkit::sync::Event::new();
    /// e.set();
    /// e.clear();
    /// assert!(!e.is_set());
    /// ```
    #[inline]
    pub fn clear(&self) {
        let mut st = self.state.lock();
        st.flag = false;
        self.fast.store(false, Ordering::Release);
    }

    /// The one wait path: true once the flag is raised (or was raised since we started).
    #[inline]
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    fn wait_inner(&self, deadline: Option<Instant>) -> bool {
        if self.is_set() {
            return true;
        }
        let mut st = self.state.lock();
        if st.flag {
            return true;
        }
        let start = st.generation;
        st.waiting += 1;
        #[cfg(feature = "deadlock-detection")]
        let _waiting = super::deadlock::waiting(self.deadlock_resource());
        while st.generation == start {
            match deadline {
                None => self.cv.wait(&mut st),
                Some(d) => {
                    if self.cv.wait_until(&mut st, d) {
                        break;
                    }
                }
            }
        }
        st.waiting -= 1;
        st.generation != start
    }

    /// How many threads are blocked in a wait right now (a snapshot, for diagnostics and
    /// tests).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = threadkit::sync::Event::new();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| e.wait());
    ///     while e.waiting() == 0 {
    ///         std::thread::yield_now();
    ///     }
    ///     e.set();
    /// });
    /// ```
    pub fn waiting(&self) -> usize {
        self.state.lock().waiting
    }

    /// Blocks until the flag is raised (Python: `wait()` with no timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = threadkit::sync::Event::new();
    /// e.set();
    /// e.wait(); // returns at once
    /// ```
    #[inline]
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub fn wait(&self) {
        self.wait_inner(None);
    }

    /// Blocks until the flag is raised or `timeout` passes; returns whether it was raised
    /// (Python: `wait(timeout)`).
    ///
    /// # Errors
    ///
    /// [`TimeoutOverflow`] when `timeout` does not fit in an [`Instant`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let e = threadkit::sync::Event::new();
    /// assert_eq!(e.wait_timeout(Duration::from_millis(10)), Ok(false));
    /// e.set();
    /// assert_eq!(e.wait_timeout(Duration::from_millis(10)), Ok(true));
    /// ```
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, TimeoutOverflow> {
        if self.is_set() {
            return Ok(true);
        }
        Ok(self.wait_inner(Some(deadline_after(timeout)?)))
    }

    /// Blocks until the flag is raised or `deadline` passes; returns whether it was raised.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let e = threadkit::sync::Event::new();
    /// assert!(!e.wait_until(Instant::now() + Duration::from_millis(10)));
    /// ```
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub fn wait_until(&self, deadline: Instant) -> bool {
        self.wait_inner(Some(deadline))
    }

    /// The deadlock detector's name for this event, as it appears in
    /// [reports](crate::sync::deadlock::Report) (feature `deadlock-detection`).
    ///
    /// # Examples
    ///
    /// ```
    /// let x = threadkit::sync::Event::new();
    /// assert_eq!(x.deadlock_resource().kind, threadkit::sync::deadlock::ResourceKind::Event);
    /// ```
    #[cfg(feature = "deadlock-detection")]
    pub fn deadlock_resource(&self) -> super::deadlock::Resource {
        super::deadlock::Resource {
            kind: super::deadlock::ResourceKind::Event,
            id: self.id.get(),
        }
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}
