//! [`Queue`]: the shared state, the handle, and every operation.

use super::engine::{Engine, RING_MAX};
use super::error::{
    Fail, GetError, GetTimeoutError, JoinTimeoutError, PutError, PutTimeoutError, TaskDoneError,
    TryGetError, TryPutError,
};
use super::iter::{Iter, TryIter};
use super::store::{Heap, Order, Store};
use crate::primitive::Arc;
use crate::time::Wait;
use std::cmp::Ordering;
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

/// Most items a new bounded queue allocates room for up front; larger queues grow on demand.
const PREALLOCATE_MAX: usize = 4096;

/// A multi-producer, multi-consumer queue: Python's `queue.Queue`, `LifoQueue`,
/// `PriorityQueue` and `SimpleQueue` in one type.
///
/// A `Queue` is a handle: [`Clone`] it to give another thread access to the same queue (the
/// items live as long as any handle does). Items come out in the [`Order`] chosen at
/// construction; a bounded queue (`maxsize > 0`) makes `put` wait for room.
///
/// Besides items, a queue counts *unfinished tasks*: every successful put adds one,
/// [`task_done`](Queue::task_done) removes one, and [`join`](Queue::join) waits until the count
/// is zero. [`shutdown`](Queue::shutdown) ends the queue's life (Python 3.13 semantics).
///
/// See the [module documentation](super) for a tour.
///
/// # Examples
///
/// ```
/// use threadkit::queue::Queue;
///
/// let q = Queue::bounded(2);
/// let consumer = {
///     let q = q.clone();
///     std::thread::spawn(move || {
///         let mut sum = 0;
///         for n in &q {
///             sum += n; // ends once the queue is shut down and drained
///             q.task_done().unwrap();
///         }
///         sum
///     })
/// };
/// for n in 1..=10 {
///     q.put(n).unwrap(); // waits while 2 items are queued
/// }
/// q.join(); // every item has been taken and marked done
/// q.shutdown(false);
/// assert_eq!(consumer.join().unwrap(), 55);
/// ```
pub struct Queue<T> {
    shared: Arc<Engine<T>>,
}

impl<T> Queue<T> {
    fn with_store(store: Store<T>, maxsize: usize) -> Self {
        Queue {
            shared: Arc::new(Engine::locked(store, maxsize)),
        }
    }

    /// An unbounded FIFO queue: Python's `queue.Queue()` and `queue.SimpleQueue()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::queue::Queue;
    ///
    /// let q = Queue::new();
    /// q.put('a').unwrap();
    /// q.put('b').unwrap();
    /// assert_eq!(q.get(), Ok('a'));
    /// assert_eq!(q.maxsize(), 0);
    /// ```
    pub fn new() -> Self {
        Self::fifo(0)
    }

    /// A FIFO queue holding at most `maxsize` items: Python's `queue.Queue(maxsize)`. As in
    /// Python, `maxsize == 0` means unbounded. Same as [`Queue::fifo`].
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::queue::Queue;
    ///
    /// let q = Queue::bounded(1);
    /// q.put(1).unwrap();
    /// assert!(q.is_full());
    /// assert!(q.try_put(2).is_err());
    /// ```
    pub fn bounded(maxsize: usize) -> Self {
        Self::fifo(maxsize)
    }

    /// A first-in first-out queue of at most `maxsize` items (0: unbounded): Python's
    /// `queue.Queue(maxsize)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::queue::Queue;
    ///
    /// let q = Queue::fifo(0);
    /// for n in 1..=3 {
    ///     q.put(n).unwrap();
    /// }
    /// assert_eq!(q.try_iter().collect::<Vec<_>>(), [1, 2, 3]);
    /// ```
    pub fn fifo(maxsize: usize) -> Self {
        if (1..=RING_MAX).contains(&maxsize) {
            return Queue {
                shared: Arc::new(Engine::ring(maxsize)),
            };
        }
        let store = Store::Fifo(VecDeque::with_capacity(maxsize.min(PREALLOCATE_MAX)));
        Self::with_store(store, maxsize)
    }

    /// A last-in first-out queue (a stack) of at most `maxsize` items (0: unbounded): Python's
    /// `queue.LifoQueue(maxsize)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::queue::Queue;
    ///
    /// let q = Queue::lifo(0);
    /// for n in 1..=3 {
    ///     q.put(n).unwrap();
    /// }
    /// assert_eq!(q.try_iter().collect::<Vec<_>>(), [3, 2, 1]);
    /// ```
    pub fn lifo(maxsize: usize) -> Self {
        let store = Store::Lifo(Vec::with_capacity(maxsize.min(PREALLOCATE_MAX)));
        Self::with_store(store, maxsize)
    }

    /// A priority queue of at most `maxsize` items (0: unbounded): Python's
    /// `queue.PriorityQueue(maxsize)`. The smallest item (by [`Ord`]) comes out first; equal
    /// items come out in the order they were put. Wrap items in [`std::cmp::Reverse`] to get
    /// the largest first, or put `(priority, payload)` tuples as in Python.
    ///
    /// The comparison runs while the queue's lock is held: it must not use this queue. If it
    /// panics, the panic reaches the caller of `put`/`get`; the queue stays usable and loses no
    /// item still inside it, though the order may be off.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::queue::Queue;
    ///
    /// let q = Queue::priority(0);
    /// q.put((2, "write")).unwrap();
    /// q.put((1, "read")).unwrap();
    /// q.put((3, "close")).unwrap();
    /// let order: Vec<_> = q.try_iter().map(|(_, job)| job).collect();
    /// assert_eq!(order, ["read", "write", "close"]);
    /// ```
    pub fn priority(maxsize: usize) -> Self
    where
        T: Ord,
    {
        Self::priority_by(maxsize, T::cmp)
    }

    /// A priority queue ordered by `cmp` instead of [`Ord`] (smallest first, stable among
    /// equals): for items such as floats that have no total order of their own, or to order by
    /// a key alone. A closure that captures nothing will do for `cmp`.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::queue::Queue;
    ///
    /// let q = Queue::priority_by(0, f64::total_cmp);
    /// for x in [2.5, -1.0, 0.5] {
    ///     q.put(x).unwrap();
    /// }
    /// assert_eq!(q.try_iter().collect::<Vec<_>>(), [-1.0, 0.5, 2.5]);
    ///
    /// // By priority alone: jobs of equal priority come out in the order they were put.
    /// let q = Queue::priority_by(0, |a: &(u8, &str), b| a.0.cmp(&b.0));
    /// for job in [(2, "write"), (1, "read"), (2, "flush")] {
    ///     q.put(job).unwrap();
    /// }
    /// let order: Vec<_> = q.try_iter().map(|(_, job)| job).collect();
    /// assert_eq!(order, ["read", "write", "flush"]);
    /// ```
    pub fn priority_by(maxsize: usize, cmp: fn(&T, &T) -> Ordering) -> Self {
        let store = Store::Priority(Heap::new(cmp, maxsize.min(PREALLOCATE_MAX)));
        Self::with_store(store, maxsize)
    }

    // ---- put ----------------------------------------------------------------------------

    fn put_inner(&self, item: T, wait: Wait) -> Result<(), (Fail, T)> {
        self.shared.put(item, wait)
    }

    /// Puts `item` at the back of the queue, waiting for room if the queue is bounded and full:
    /// Python's `put(item)`.
    ///
    /// # Errors
    ///
    /// [`PutError`] (with the item) if the queue is shut down, before or while waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::queue::Queue;
    ///
    /// let q = Queue::bounded(1);
    /// q.put(1).unwrap();
    /// let q2 = q.clone();
    /// let t = std::thread::spawn(move || q2.put(2)); // waits for room
    /// assert_eq!(q.get_timeout(Duration::from_secs(5)), Ok(1));
    /// t.join().unwrap().unwrap();
    /// assert_eq!(q.get_timeout(Duration::from_secs(5)), Ok(2));
    /// ```
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.put_inner(item, Wait::Forever)
            .map_err(|(_, item)| PutError(item))
    }

    /// Puts `item` only if there is room right now: Python's `put_nowait(item)`.
    ///
    /// # Errors
    ///
    /// [`TryPutError::ShutDown`] if the queue is shut down (checked first, as in Python), else
    /// [`TryPutError::Full`] if it holds `maxsize` items. Both hand the item back.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::queue::{Queue, TryPutError};
    ///
    /// let q = Queue::bounded(1);
    /// assert_eq!(q.try_put("a"), Ok(()));
    /// assert_eq!(q.try_put("b"), Err(TryPutError::Full("b")));
    /// ```
    pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        self.put_inner(item, Wait::No)
            .map_err(|(why, item)| match why {
                Fail::ShutDown => TryPutError::ShutDown(item),
                _ => TryPutError::Full(item),
            })
    }

    /// Puts `item`, waiting at most `timeout` for room: Python's `put(item, timeout=t)`.
    ///
    /// # Errors
    ///
    /// [`PutTimeoutError::Timeout`] if the queue stayed full, [`PutTimeoutError::ShutDown`] if
    /// it is or becomes shut down, [`PutTimeoutError::Overflow`] if `now + timeout` overflows
    /// [`Instant`](std::time::Instant) (then nothing is tried). All hand the item back.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::queue::{PutTimeoutError, Queue};
    ///
    /// let q = Queue::bounded(1);
    /// q.put_timeout(1, Duration::from_millis(10)).unwrap();
    /// assert_eq!(
    ///     q.put_timeout(2, Duration::from_millis(10)),
    ///     Err(PutTimeoutError::Timeout(2))
    /// );
    /// ```
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutTimeoutError<T>> {
        let deadline = match crate::time::deadline_after(timeout) {
            Ok(d) => d,
            Err(o) => return Err(PutTimeoutError::Overflow(item, o)),
        };
        self.put_inner(item, Wait::Until(deadline))
            .map_err(|(why, item)| match why {
                Fail::ShutDown => PutTimeoutError::ShutDown(item),
                _ => PutTimeoutError::Timeout(item),
            })
    }

    // ---- get ----------------------------------------------------------------------------

    fn get_inner(&self, wait: Wait) -> Result<T, Fail> {
        self.shared.get(wait)
    }

    /// Takes the next item, waiting for one if the queue is empty: Python's `get()`.
    ///
    /// After [`shutdown(false)`](Queue::shutdown) the items still queued are handed out; then
    /// (and at once after `shutdown(true)`) `get` fails.
    ///
    /// # Errors
    ///
    /// [`GetError`] if the queue is shut down and empty, before or while waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::queue::Queue;
    ///
    /// let q = Queue::new();
    /// let q2 = q.clone();
    /// std::thread::spawn(move || q2.put("hello").unwrap());
    /// assert_eq!(q.get(), Ok("hello"));
    /// ```
    pub fn get(&self) -> Result<T, GetError> {
        self.get_inner(Wait::Forever).map_err(|_| GetError)
    }

    /// Takes the next item only if one is there right now: Python's `get_nowait()`.
    ///
    /// # Errors
    ///
    /// [`TryGetError::ShutDown`] if the queue is shut down and empty, else
    /// [`TryGetError::Empty`] if it is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::queue::{Queue, TryGetError};
    ///
    /// let q = Queue::new();
    /// assert_eq!(q.try_get(), Err(TryGetError::Empty));
    /// q.put(5).unwrap();
    /// assert_eq!(q.try_get(), Ok(5));
    /// ```
    pub fn try_get(&self) -> Result<T, TryGetError> {
        self.get_inner(Wait::No).map_err(|why| match why {
            Fail::ShutDown => TryGetError::ShutDown,
            _ => TryGetError::Empty,
        })
    }

    /// Takes the next item, waiting at most `timeout` for one: Python's `get(timeout=t)`.
    ///
    /// # Errors
    ///
    /// [`GetTimeoutError::Timeout`] if the queue stayed empty, [`GetTimeoutError::ShutDown`] if
    /// it is (or becomes) shut down and empty, [`GetTimeoutError::Overflow`] if
    /// `now + timeout` overflows [`Instant`](std::time::Instant) (then nothing is tried).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::queue::{GetTimeoutError, Queue};
    ///
    /// let q = Queue::<i32>::new();
    /// assert_eq!(q.get_timeout(Duration::from_millis(10)), Err(GetTimeoutError::Timeout));
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetTimeoutError> {
        let deadline = crate::time::deadline_after(timeout).map_err(GetTimeoutError::Overflow)?;
        self.get_inner(Wait::Until(deadline))
            .map_err(|why| match why {
                Fail::ShutDown => GetTimeoutError::ShutDown,
                _ => GetTimeoutError::Timeout,
            })
    }

    // ---- task accounting ----------------------------------------------------------------

    /// Marks one item taken from the queue as processed: Python's `task_done()`. When every
    /// item put has been marked done, threads waiting in [`join`](Queue::join) return.
    ///
    /// # Errors
    ///
    /// [`TaskDoneError`] ("task_done() called too many times") if there is no unfinished task;
    /// the count is left at zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::queue::Queue;
    ///
    /// let q = Queue::new();
    /// q.put(1).unwrap();
    /// let _ = q.get().unwrap();
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// q.task_done().unwrap();
    /// assert_eq!(q.unfinished_tasks(), 0);
    /// assert!(q.task_done().is_err());
    /// ```
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        if self.shared.task_done() {
            Ok(())
        } else {
            Err(TaskDoneError)
        }
    }

    /// Waits until every item ever put has been marked done with
    /// [`task_done`](Queue::task_done) (or dropped by an immediate shutdown): Python's `join()`.
    /// Any number of threads may join, any number of times; with no unfinished task it returns
    /// at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::queue::Queue;
    ///
    /// let q = Queue::new();
    /// let worker = {
    ///     let q = q.clone();
    ///     std::thread::spawn(move || {
    ///         while let Ok(job) = q.get() {
    ///             let _ = job * 2;
    ///             q.task_done().unwrap();
    ///         }
    ///     })
    /// };
    /// for job in 0..100 {
    ///     q.put(job).unwrap();
    /// }
    /// q.join();
    /// assert_eq!(q.unfinished_tasks(), 0);
    /// q.shutdown(false);
    /// worker.join().unwrap();
    /// ```
    pub fn join(&self) {
        self.shared.join(None);
    }

    /// [`join`](Queue::join), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`JoinTimeoutError::Timeout`] if tasks were still unfinished when the timeout passed;
    /// [`JoinTimeoutError::Overflow`] if `now + timeout` overflows [`Instant`](std::time::Instant).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::queue::{JoinTimeoutError, Queue};
    ///
    /// let q = Queue::new();
    /// assert_eq!(q.join_timeout(Duration::from_millis(10)), Ok(()));
    /// q.put(()).unwrap();
    /// assert_eq!(q.join_timeout(Duration::from_millis(10)), Err(JoinTimeoutError::Timeout));
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), JoinTimeoutError> {
        let deadline = crate::time::deadline_after(timeout).map_err(JoinTimeoutError::Overflow)?;
        if self.shared.join(Some(deadline)) {
            Ok(())
        } else {
            Err(JoinTimeoutError::Timeout)
        }
    }

    // ---- shutdown -----------------------------------------------------------------------

    /// Shuts the queue down: Python 3.13's `shutdown(immediate)`.
    ///
    /// Afterwards every put fails, handing its item back. With `immediate == false`, gets
    /// still hand out the items left, then fail. With `immediate == true`, the items left are
    /// dropped at once (after the lock is released), each counted as a task done, so
    /// [`join`](Queue::join) returns as soon as the items already taken are marked done; gets
    /// fail at once. Every thread blocked in a put or get wakes up to see the new state.
    /// Calling it again is allowed (a later immediate shutdown still drops what is left).
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::queue::Queue;
    ///
    /// let q = Queue::new();
    /// let consumer = {
    ///     let q = q.clone();
    ///     std::thread::spawn(move || q.iter().count()) // blocks in get until shutdown
    /// };
    /// q.put(1).unwrap();
    /// q.put(2).unwrap();
    /// q.shutdown(false);
    /// assert!(q.put(3).is_err());
    /// assert_eq!(consumer.join().unwrap(), 2); // drained, then stopped
    ///
    /// let q = Queue::new();
    /// q.put("dropped").unwrap();
    /// q.shutdown(true);
    /// assert!(q.get().is_err());
    /// q.join(); // the dropped item counts as done
    /// ```
    pub fn shutdown(&self, immediate: bool) {
        // The engine hands the dropped items back, so their destructors run here, outside any
        // lock: a destructor may use this queue.
        drop(self.shared.shutdown(immediate));
    }

    // ---- observation --------------------------------------------------------------------

    /// The number of items in the queue right now: Python's `qsize()`. Other threads may change
    /// it at any moment, so it is a hint, not a promise about the next put or get.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::queue::Queue;
    ///
    /// let q = Queue::new();
    /// q.put(1).unwrap();
    /// assert_eq!(q.qsize(), 1);
    /// ```
    pub fn qsize(&self) -> usize {
        self.shared.qsize()
    }

    /// True when the queue holds no item right now: Python's `empty()` (a hint, like
    /// [`qsize`](Queue::qsize)).
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::queue::Queue;
    ///
    /// let q = Queue::<u8>::new();
    /// assert!(q.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.qsize() == 0
    }

    /// True when the queue is bounded and holds `maxsize` items right now: Python's `full()`
    /// (a hint, like [`qsize`](Queue::qsize)). Always false for an unbounded queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::queue::Queue;
    ///
    /// let q = Queue::bounded(1);
    /// assert!(!q.is_full());
    /// q.put(()).unwrap();
    /// assert!(q.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        let max = self.maxsize();
        max > 0 && self.qsize() >= max
    }

    /// The bound given at construction, 0 meaning unbounded: Python's `maxsize` attribute.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::queue::Queue;
    ///
    /// assert_eq!(Queue::<u8>::bounded(10).maxsize(), 10);
    /// assert_eq!(Queue::<u8>::new().maxsize(), 0);
    /// ```
    pub fn maxsize(&self) -> usize {
        self.shared.maxsize()
    }

    /// The order in which items come out.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::queue::{Order, Queue};
    ///
    /// assert_eq!(Queue::<u8>::lifo(3).order(), Order::Lifo);
    /// ```
    pub fn order(&self) -> Order {
        self.shared.order()
    }

    /// The number of items put and not yet marked done: Python's `unfinished_tasks` attribute.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::queue::Queue;
    ///
    /// let q = Queue::new();
    /// q.put(1).unwrap();
    /// q.put(2).unwrap();
    /// assert_eq!(q.unfinished_tasks(), 2);
    /// ```
    pub fn unfinished_tasks(&self) -> usize {
        self.shared.unfinished()
    }

    /// True once [`shutdown`](Queue::shutdown) has been called: Python's `is_shutdown`
    /// attribute.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::queue::Queue;
    ///
    /// let q = Queue::<u8>::new();
    /// assert!(!q.is_shutdown());
    /// q.shutdown(false);
    /// assert!(q.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.shared.is_shutdown()
    }

    /// The number of threads blocked in a get right now (`get`, `get_timeout`, iteration),
    /// counting ones already woken that have not yet returned. For tests and monitoring.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use threadkit::queue::Queue;
    ///
    /// let q = Queue::<u8>::new();
    /// let q2 = q.clone();
    /// let t = std::thread::spawn(move || q2.get());
    /// let deadline = Instant::now() + Duration::from_secs(10);
    /// while q.waiting_getters() == 0 && Instant::now() < deadline {
    ///     std::thread::yield_now();
    /// }
    /// assert_eq!(q.waiting_getters(), 1);
    /// q.put(1).unwrap();
    /// assert_eq!(t.join().unwrap(), Ok(1));
    /// ```
    pub fn waiting_getters(&self) -> usize {
        self.shared.waiting_getters()
    }

    /// The number of threads blocked in a put right now, waiting for room (`put`,
    /// `put_timeout`), counting ones already woken that have not yet returned. For tests and
    /// monitoring.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::queue::Queue;
    ///
    /// let q = Queue::bounded(1);
    /// q.put(1).unwrap();
    /// assert_eq!(q.waiting_putters(), 0);
    /// ```
    pub fn waiting_putters(&self) -> usize {
        self.shared.waiting_putters()
    }

    // ---- iteration ----------------------------------------------------------------------

    /// A blocking iterator: each `next` is a [`get`](Queue::get), and iteration ends when the
    /// queue is shut down and drained. `for item in &queue` does the same.
    ///
    /// Iterating does not call [`task_done`](Queue::task_done): do that for each item if
    /// someone [`join`](Queue::join)s.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::queue::Queue;
    ///
    /// let q = Queue::new();
    /// q.put(1).unwrap();
    /// q.put(2).unwrap();
    /// q.shutdown(false);
    /// assert_eq!(q.iter().collect::<Vec<_>>(), [1, 2]);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter::new(self)
    }

    /// A non-blocking iterator: each `next` is a [`try_get`](Queue::try_get), and iteration
    /// ends at the first empty queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::queue::Queue;
    ///
    /// let q = Queue::new();
    /// q.put(1).unwrap();
    /// q.put(2).unwrap();
    /// assert_eq!(q.try_iter().sum::<i32>(), 3);
    /// assert!(q.is_empty());
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter::new(self)
    }
}

impl<T> Clone for Queue<T> {
    /// Another handle to the same queue.
    fn clone(&self) -> Self {
        Queue {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Default for Queue<T> {
    /// An unbounded FIFO queue, as [`Queue::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Queue");
        d.field("order", &self.order())
            .field("maxsize", &self.maxsize());
        // Debug may be called from a comparison running under the lock: don't wait for it.
        match self.shared.try_snapshot() {
            Some((qsize, unfinished, shutdown)) => d
                .field("qsize", &qsize)
                .field("unfinished_tasks", &unfinished)
                .field("is_shutdown", &shutdown)
                .finish(),
            None => d.finish_non_exhaustive(),
        }
    }
}
