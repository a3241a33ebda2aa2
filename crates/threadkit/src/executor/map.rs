//! The map family: `map`, `map_with`, `imap_unordered`, `starmap`, `map_async`,
//! `starmap_async`, `apply_async`, and [`AsyncResult`].

use crossbeam_channel::Receiver;
use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::future::{new_waiter_id, worker_of, Future, Promise, Stage, TaskError};
use super::pool::{SubmitError, ThreadPool};
use crate::primitive::Mutex;
use crate::time::TimeoutOverflow;
use crate::unwind;

/// Why one item of a map produced no value. Every other item keeps its own result: one
/// failure never loses the rest (unlike `multiprocessing.pool.ThreadPool.map`).
///
/// # Examples
///
/// ```
/// use threadkit::executor::{MapItemError, TaskError, ThreadPool};
///
/// let pool = ThreadPool::new().unwrap();
/// let out: Vec<_> = pool
///     .map(|x: i32| if x == 2 { panic!("two") } else { x }, 0..4)
///     .unwrap()
///     .collect();
/// assert_eq!(out[1], Ok(1));
/// assert!(matches!(
///     &out[2],
///     Err(MapItemError::Failed { index: 2, error: TaskError::Panicked { ref message, .. } }) if message == "two"
/// ));
/// assert_eq!(out[3], Ok(3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MapItemError {
    /// The item's call panicked, was cancelled, or the pool broke.
    Failed {
        /// The item's position in the input.
        index: usize,
        /// What happened.
        error: TaskError,
    },
    /// The map's deadline passed before this item's result was ready (Python's
    /// `TimeoutError` from `Executor.map(timeout=)`); the map ends here.
    Timeout {
        /// The item's position in the input.
        index: usize,
    },
}

impl MapItemError {
    /// The position in the input of the item that failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::executor::{MapItemError, TaskError};
    /// assert_eq!(MapItemError::Timeout { index: 4 }.index(), 4);
    /// ```
    pub fn index(&self) -> usize {
        match self {
            MapItemError::Failed { index, .. } | MapItemError::Timeout { index } => *index,
        }
    }
}

impl fmt::Display for MapItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapItemError::Failed { index, error } => write!(f, "item {index}: {error}"),
            MapItemError::Timeout { index } => {
                write!(f, "item {index}: timed out waiting for its result")
            }
        }
    }
}

impl std::error::Error for MapItemError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MapItemError::Failed { error, .. } => Some(error),
            MapItemError::Timeout { .. } => None,
        }
    }
}

/// Options of [`ThreadPool::map_with`]: chunk size and deadline, set in one chain of plain
/// values. A value out of range does not break the chain: it is reported as
/// [`SubmitError::InvalidOptions`] when the map starts (or by [`check`](MapOptions::check)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::executor::{MapOptions, ThreadPool};
///
/// let pool = ThreadPool::new().unwrap();
/// let opts = MapOptions::new().chunksize(64).timeout(Duration::from_secs(10));
/// let total: i64 = pool.map_with(|x: i64| x * 2, 0..1000, opts).unwrap().map(|r| r.unwrap()).sum();
/// assert_eq!(total, 999_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapOptions {
    chunksize: NonZeroUsize,
    limit: Option<Limit>,
    /// The first setting out of range, reported when a map starts with these options.
    invalid: Option<MapOptionsError>,
}

/// When a map gives up waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    /// This long after the map starts.
    After(Duration),
    /// At this instant.
    At(Instant),
}

/// A [`MapOptions`] value out of range, reported as [`SubmitError::InvalidOptions`] when the
/// map starts (nothing is submitted then).
///
/// # Examples
///
/// ```
/// use threadkit::executor::{MapOptions, MapOptionsError};
///
/// assert_eq!(MapOptions::new().chunksize(0).check(), Err(MapOptionsError::ZeroChunksize));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MapOptionsError {
    /// `chunksize(0)`: a chunk holds at least one item (Python's `ValueError: Chunksize must be
    /// 1+.`).
    ZeroChunksize,
    /// The timeout is too large for a deadline.
    TimeoutOverflow(TimeoutOverflow),
}

impl fmt::Display for MapOptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapOptionsError::ZeroChunksize => f.write_str("chunksize must be at least 1, not 0"),
            MapOptionsError::TimeoutOverflow(e) => write!(f, "map timeout: {e}"),
        }
    }
}

impl std::error::Error for MapOptionsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MapOptionsError::TimeoutOverflow(e) => Some(e),
            MapOptionsError::ZeroChunksize => None,
        }
    }
}

/// A chunk size for [`MapOptions::chunksize`]: a `usize` (checked when the map starts) or a
/// [`NonZeroUsize`].
///
/// # Examples
///
/// ```
/// use std::num::NonZeroUsize;
/// use threadkit::executor::MapOptions;
///
/// assert_eq!(MapOptions::new().chunksize(8).get_chunksize().get(), 8);
/// assert_eq!(MapOptions::new().chunksize(NonZeroUsize::MIN).get_chunksize().get(), 1);
/// ```
pub trait ChunkSize {
    /// The size as a plain number.
    fn into_usize(self) -> usize;
}

impl ChunkSize for usize {
    fn into_usize(self) -> usize {
        self
    }
}

impl ChunkSize for NonZeroUsize {
    fn into_usize(self) -> usize {
        self.get()
    }
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions::new()
    }
}

impl MapOptions {
    /// One item per task, no deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// let opts = threadkit::executor::MapOptions::new();
    /// assert_eq!(opts.get_chunksize().get(), 1);
    /// ```
    pub fn new() -> MapOptions {
        MapOptions {
            chunksize: NonZeroUsize::MIN,
            limit: None,
            invalid: None,
        }
    }

    /// Items per task (`multiprocessing.pool.Pool.map`'s `chunksize`): larger chunks cost
    /// less per item for tiny functions. Each item still gets its own result. `0` is reported
    /// as [`MapOptionsError::ZeroChunksize`] when the map starts.
    ///
    /// # Examples
    ///
    /// ```
    /// let opts = threadkit::executor::MapOptions::new().chunksize(8);
    /// assert_eq!(opts.get_chunksize().get(), 8);
    /// ```
    pub fn chunksize(mut self, n: impl ChunkSize) -> MapOptions {
        match NonZeroUsize::new(n.into_usize()) {
            Some(n) => self.chunksize = n,
            None => self.set_invalid(MapOptionsError::ZeroChunksize),
        }
        self
    }

    /// The configured chunk size (the last valid one: `1` unless set).
    ///
    /// # Examples
    ///
    /// See [`chunksize`](MapOptions::chunksize).
    pub fn get_chunksize(&self) -> NonZeroUsize {
        self.chunksize
    }

    /// A deadline `timeout` after the map starts, for the whole map (Python's
    /// `Executor.map(timeout=)`): an item not ready by then yields [`MapItemError::Timeout`],
    /// the remaining queued items are cancelled and the iterator ends. A timeout too large
    /// for a deadline is reported as [`MapOptionsError::TimeoutOverflow`] when the map starts.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let opts = threadkit::executor::MapOptions::new().timeout(Duration::from_secs(1)).chunksize(4);
    /// assert_eq!(opts.check(), Ok(()));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> MapOptions {
        self.limit = Some(Limit::After(timeout));
        self
    }

    /// As [`timeout`](MapOptions::timeout) with an absolute deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let opts = threadkit::executor::MapOptions::new().deadline(Instant::now() + Duration::from_secs(1));
    /// # drop(opts);
    /// ```
    pub fn deadline(mut self, deadline: Instant) -> MapOptions {
        self.limit = Some(Limit::At(deadline));
        self
    }

    /// Whether the options are valid, as a map would find when it starts: the first value
    /// out of range. (A timeout is checked against the clock now; the map checks it again
    /// when it starts.)
    ///
    /// # Errors
    ///
    /// [`MapOptionsError::ZeroChunksize`] for `chunksize(0)`,
    /// [`MapOptionsError::TimeoutOverflow`] for a timeout too large for a deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::executor::{MapOptions, MapOptionsError};
    ///
    /// assert_eq!(MapOptions::new().chunksize(2).check(), Ok(()));
    /// assert!(matches!(
    ///     MapOptions::new().timeout(Duration::MAX).check(),
    ///     Err(MapOptionsError::TimeoutOverflow(_))
    /// ));
    /// ```
    pub fn check(&self) -> Result<(), MapOptionsError> {
        self.start().map(|_| ())
    }

    /// The deadline of a map starting now, or the first value out of range.
    fn start(&self) -> Result<Option<Instant>, MapOptionsError> {
        if let Some(e) = self.invalid {
            return Err(e);
        }
        match self.limit {
            None => Ok(None),
            Some(Limit::At(d)) => Ok(Some(d)),
            Some(Limit::After(t)) => crate::time::deadline_after(t)
                .map(Some)
                .map_err(MapOptionsError::TimeoutOverflow),
        }
    }

    fn set_invalid(&mut self, e: MapOptionsError) {
        self.invalid.get_or_insert(e);
    }

    /// The options themselves: [`timeout`](MapOptions::timeout) returned a `Result` before it
    /// reported a timeout too large when the map starts; this keeps `.timeout(d).unwrap()`
    /// compiling.
    #[deprecated(note = "MapOptions::timeout no longer returns a Result: remove the `.unwrap()`")]
    #[doc(hidden)]
    pub fn unwrap(self) -> MapOptions {
        self
    }

    /// The options themselves (see [`unwrap`](MapOptions::unwrap)).
    #[deprecated(note = "MapOptions::timeout no longer returns a Result: remove the `.expect(..)`")]
    #[doc(hidden)]
    pub fn expect(self, _message: &str) -> MapOptions {
        self
    }
}

/// An item's value, or its task error (boxed: a successful item costs what its value costs).
type Chunk<T> = Vec<Result<T, Box<TaskError>>>;

/// Every item's result, in input order: the value of [`ThreadPool::starmap`] and of the
/// [`AsyncResult`] of [`ThreadPool::map_async`] / [`ThreadPool::starmap_async`].
pub type ItemResults<T> = Vec<Result<T, MapItemError>>;

type UnorderedSlot<T> = (usize, usize, Option<Future<Chunk<T>>>);

struct Submitted<T> {
    /// (first item's position, number of items, future) per chunk, in input order.
    chunks: Vec<(usize, usize, Future<Chunk<T>>)>,
}

fn item_result<T>(index: usize, r: Result<T, Box<TaskError>>) -> Result<T, MapItemError> {
    r.map_err(|error| MapItemError::Failed {
        index,
        error: *error,
    })
}

fn chunk_results<T>(
    start: usize,
    len: usize,
    outcome: Result<Chunk<T>, TaskError>,
) -> Vec<Result<T, MapItemError>> {
    match outcome {
        Ok(items) => items
            .into_iter()
            .enumerate()
            .map(|(k, r)| item_result(start + k, r))
            .collect(),
        Err(error) => (start..start + len)
            .map(|index| {
                Err(MapItemError::Failed {
                    index,
                    error: error.clone(),
                })
            })
            .collect(),
    }
}

impl ThreadPool {
    fn submit_chunks<A, T, F>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A>,
        chunksize: NonZeroUsize,
    ) -> Result<Submitted<T>, SubmitError>
    where
        F: Fn(A) -> T + Send + Sync + 'static,
        A: Send + 'static,
        T: Send + 'static,
    {
        let f = Arc::new(f);
        let mut chunks = Vec::new();
        let mut items = items.into_iter();
        let mut start = 0;
        loop {
            let chunk: Vec<A> = items.by_ref().take(chunksize.get()).collect();
            if chunk.is_empty() {
                break;
            }
            let len = chunk.len();
            let f = f.clone();
            let fut = self.submit(move || {
                chunk
                    .into_iter()
                    .map(|a| unwind::catch(|| f(a)).map_err(|p| Box::new(TaskError::panicked(&*p))))
                    .collect::<Chunk<T>>()
            });
            match fut {
                Ok(fut) => chunks.push((start, len, fut)),
                Err(e) => {
                    for (_, _, c) in &chunks {
                        c.cancel();
                    }
                    return Err(e);
                }
            }
            start += len;
        }
        Ok(Submitted { chunks })
    }

    /// Calls `f` on every item on the pool and returns the results in input order (Python's
    /// `Executor.map` / `Pool.imap`). All items are submitted at once (as Python does); the
    /// returned iterator is lazy and yields each result as soon as it and those before it are
    /// ready. Each item yields its own `Result`: a panic in one item never loses the others.
    /// Dropping the iterator does not cancel the tasks.
    ///
    /// # Errors
    ///
    /// As [`submit`](ThreadPool::submit); tasks already submitted are cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let out: Vec<i32> = pool.map(|x: i32| x * x, 1..=4).unwrap().map(Result::unwrap).collect();
    /// assert_eq!(out, [1, 4, 9, 16]);
    /// ```
    pub fn map<A, T, F>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A>,
    ) -> Result<MapResults<T>, SubmitError>
    where
        F: Fn(A) -> T + Send + Sync + 'static,
        A: Send + 'static,
        T: Send + 'static,
    {
        self.map_with(f, items, MapOptions::new())
    }

    /// [`map`](ThreadPool::map) with a chunk size and a deadline ([`MapOptions`]).
    ///
    /// # Errors
    ///
    /// As [`map`](ThreadPool::map), and [`SubmitError::InvalidOptions`] for options out of
    /// range (`chunksize(0)`, a timeout too large): then nothing is submitted.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::executor::{MapItemError, MapOptions, ThreadPool};
    ///
    /// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    /// let (tx, rx) = crossbeam_channel::bounded::<()>(0);
    /// let opts = MapOptions::new().timeout(Duration::from_millis(50));
    /// let mut it = pool.map_with(move |_: ()| rx.recv().unwrap(), [()], opts).unwrap();
    /// assert_eq!(it.next(), Some(Err(MapItemError::Timeout { index: 0 })));
    /// assert_eq!(it.next(), None);
    /// drop(tx);
    /// ```
    pub fn map_with<A, T, F>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A>,
        options: MapOptions,
    ) -> Result<MapResults<T>, SubmitError>
    where
        F: Fn(A) -> T + Send + Sync + 'static,
        A: Send + 'static,
        T: Send + 'static,
    {
        let deadline = options.start().map_err(SubmitError::InvalidOptions)?;
        let sub = self.submit_chunks(f, items, options.chunksize)?;
        Ok(MapResults {
            chunks: sub.chunks.into(),
            current: Vec::new().into_iter(),
            next_index: 0,
            deadline,
            ended: false,
        })
    }

    /// Calls `f` on every item on the pool and yields the results as they complete, in any
    /// order (`Pool.imap_unordered`). Failed items carry their input position.
    ///
    /// # Errors
    ///
    /// As [`map`](ThreadPool::map).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let mut out: Vec<i32> = pool.imap_unordered(|x: i32| x + 1, 0..5).unwrap().map(Result::unwrap).collect();
    /// out.sort();
    /// assert_eq!(out, [1, 2, 3, 4, 5]);
    /// ```
    pub fn imap_unordered<A, T, F>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Unordered<T>, SubmitError>
    where
        F: Fn(A) -> T + Send + Sync + 'static,
        A: Send + 'static,
        T: Send + 'static,
    {
        let sub = self.submit_chunks(f, items, NonZeroUsize::MIN)?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let id = new_waiter_id();
        let mut chunks = Vec::with_capacity(sub.chunks.len());
        for (c, (start, len, fut)) in sub.chunks.into_iter().enumerate() {
            if fut.core().register(&tx, c, id) {
                let _ = tx.send(c);
            }
            chunks.push((start, len, Some(fut)));
        }
        Ok(Unordered {
            remaining: chunks.len(),
            chunks,
            rx,
            current: Vec::new().into_iter(),
        })
    }

    /// Calls `f` with each tuple's fields as its arguments and blocks until every call is
    /// done, returning the results in input order (`Pool.starmap`). Every item keeps its own
    /// `Result`: one panic does not lose the other results (the seed's complaint about
    /// `ThreadPool.starmap`), and the failed item's position ties it to its arguments.
    ///
    /// # Errors
    ///
    /// As [`map`](ThreadPool::map).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::builder().max_workers(3).build().unwrap();
    /// let params: Vec<(i32, i32)> = (0..5).map(|i| (i, 10)).collect();
    /// let out = pool.starmap(|a: i32, b: i32| a * b, params).unwrap();
    /// let out: Vec<i32> = out.into_iter().map(Result::unwrap).collect();
    /// assert_eq!(out, [0, 10, 20, 30, 40]);
    /// ```
    pub fn starmap<Args, F>(
        &self,
        f: F,
        items: impl IntoIterator<Item = Args>,
    ) -> Result<ItemResults<F::Output>, SubmitError>
    where
        F: TupleFn<Args>,
        Args: Send + 'static,
    {
        Ok(self.map(move |args| f.call(args), items)?.collect())
    }

    /// [`starmap`](ThreadPool::starmap) without blocking: returns an [`AsyncResult`]
    /// (`Pool.starmap_async`).
    ///
    /// # Errors
    ///
    /// As [`map`](ThreadPool::map).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let r = pool.starmap_async(|a: u8, b: u8| a + b, [(1, 2), (3, 4)]).unwrap();
    /// r.wait();
    /// assert!(r.ready() && r.successful() == Ok(true));
    /// assert_eq!(r.get().unwrap(), [Ok(3), Ok(7)]);
    /// ```
    pub fn starmap_async<Args, F>(
        &self,
        f: F,
        items: impl IntoIterator<Item = Args>,
    ) -> Result<AsyncResult<ItemResults<F::Output>>, SubmitError>
    where
        F: TupleFn<Args>,
        Args: Send + 'static,
    {
        self.map_async(move |args| f.call(args), items)
    }

    /// [`map`](ThreadPool::map) gathered into one [`AsyncResult`] (`Pool.map_async`); its
    /// value lists every item's result in input order.
    ///
    /// # Errors
    ///
    /// As [`map`](ThreadPool::map).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let r = pool.map_async(|x: u32| x * 3, 0..3).unwrap();
    /// assert_eq!(r.get().unwrap(), [Ok(0), Ok(3), Ok(6)]);
    /// ```
    pub fn map_async<A, T, F>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A>,
    ) -> Result<AsyncResult<ItemResults<T>>, SubmitError>
    where
        F: Fn(A) -> T + Send + Sync + 'static,
        A: Send + 'static,
        T: Send + 'static,
    {
        let sub = self.submit_chunks(f, items, NonZeroUsize::MIN)?;
        Ok(AsyncResult {
            helpers: sub
                .chunks
                .iter()
                .map(|(_, _, f)| {
                    let f = f.clone();
                    Box::new(move || {
                        f.help();
                    }) as Helper
                })
                .collect(),
            fut: gather(sub.chunks),
            ok: |v| v.iter().all(Result::is_ok),
        })
    }

    /// Submits `f` and returns an [`AsyncResult`] (`Pool.apply_async`; pass arguments by
    /// capturing them).
    ///
    /// # Errors
    ///
    /// As [`submit`](ThreadPool::submit).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let r = pool.apply_async(|| 6 * 7).unwrap();
    /// assert_eq!(r.get_timeout(Duration::from_secs(10)).ok(), Some(42));
    /// ```
    pub fn apply_async<F, T>(&self, f: F) -> Result<AsyncResult<T>, SubmitError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        Ok(AsyncResult {
            fut: self.submit(f)?,
            ok: |_| true,
            helpers: Vec::new(),
        })
    }
}

fn gather<T: Send + 'static>(
    chunks: Vec<(usize, usize, Future<Chunk<T>>)>,
) -> Future<Vec<Result<T, MapItemError>>> {
    type Gathered<T> = Vec<Result<T, MapItemError>>;
    struct Gather<T> {
        slots: Vec<Option<Gathered<T>>>,
        remaining: usize,
        promise: Option<Promise<Gathered<T>>>,
    }
    let (promise, fut) = Promise::new();
    if chunks.is_empty() {
        promise.complete(Ok(Vec::new()));
        return fut;
    }
    let g = Arc::new(Mutex::new(Gather {
        slots: (0..chunks.len()).map(|_| None).collect(),
        remaining: chunks.len(),
        promise: Some(promise),
    }));
    for (c, (start, len, chunk)) in chunks.into_iter().enumerate() {
        let g = g.clone();
        chunk.add_done_callback(move |f| {
            let items = chunk_results(start, len, f.clone().into_result());
            let mut st = g.lock();
            st.slots[c] = Some(items);
            st.remaining -= 1;
            if st.remaining > 0 {
                return;
            }
            let all: Gathered<T> = st
                .slots
                .iter_mut()
                .flat_map(|s| s.take().unwrap_or_default())
                .collect();
            let promise = st.promise.take();
            drop(st);
            if let Some(p) = promise {
                p.complete(Ok(all));
            }
        });
    }
    fut
}

/// The ordered, lazy results of [`ThreadPool::map`] / [`ThreadPool::map_with`]: one
/// `Result` per input item, in input order.
pub struct MapResults<T> {
    chunks: VecDeque<(usize, usize, Future<Chunk<T>>)>,
    current: std::vec::IntoIter<Result<T, MapItemError>>,
    next_index: usize,
    deadline: Option<Instant>,
    ended: bool,
}

impl<T> fmt::Debug for MapResults<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapResults")
            .field("next_index", &self.next_index)
            .field("chunks_left", &self.chunks.len())
            .finish()
    }
}

impl<T> MapResults<T> {
    /// Cancels every item not started yet (Python cancels them when its map generator is
    /// closed). Their results come out as [`TaskError::Cancelled`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let it = pool.map(|x: u8| x, 0..3).unwrap();
    /// it.cancel_remaining();
    /// ```
    pub fn cancel_remaining(&self) {
        for (_, _, f) in &self.chunks {
            f.cancel();
        }
    }
}

impl<T> Iterator for MapResults<T> {
    type Item = Result<T, MapItemError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.current.next() {
                self.next_index += 1;
                return Some(r);
            }
            if self.ended {
                return None;
            }
            let (start, len, fut) = self.chunks.pop_front()?;
            if let Some(d) = self.deadline {
                let left = d.saturating_duration_since(Instant::now());
                if !matches!(fut.wait_timeout(left), Ok(true)) {
                    self.ended = true;
                    fut.cancel();
                    self.cancel_remaining();
                    self.chunks.clear();
                    return Some(Err(MapItemError::Timeout { index: start }));
                }
            }
            self.current = chunk_results(start, len, fut.into_result()).into_iter();
        }
    }
}

/// The results of [`ThreadPool::imap_unordered`], in completion order.
pub struct Unordered<T> {
    chunks: Vec<UnorderedSlot<T>>,
    remaining: usize,
    rx: Receiver<usize>,
    current: std::vec::IntoIter<Result<T, MapItemError>>,
}

impl<T> fmt::Debug for Unordered<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unordered")
            .field("chunks_left", &self.remaining)
            .finish()
    }
}

impl<T> Iterator for Unordered<T> {
    type Item = Result<T, MapItemError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.current.next() {
                return Some(r);
            }
            if self.remaining == 0 {
                return None;
            }
            let c = match self.rx.try_recv() {
                Ok(c) => c,
                Err(_) => {
                    if worker_of() != 0 {
                        let pending = self
                            .chunks
                            .iter()
                            .find_map(|(_, _, f)| f.as_ref().filter(|f| f.is_pending()).cloned());
                        if let Some(f) = pending {
                            if f.help() {
                                continue;
                            }
                        }
                    }
                    self.rx.recv().ok()?
                }
            };
            let (start, len, fut) = &mut self.chunks[c];
            let Some(fut) = fut.take() else { continue };
            self.remaining -= 1;
            self.current = chunk_results(*start, *len, fut.into_result()).into_iter();
        }
    }
}

type Helper = Box<dyn Fn() + Send + Sync>;

/// A pending result of [`ThreadPool::apply_async`], [`ThreadPool::map_async`] or
/// [`ThreadPool::starmap_async`] (`multiprocessing.pool.AsyncResult`).
pub struct AsyncResult<R> {
    fut: Future<R>,
    ok: fn(&R) -> bool,
    /// For the map variants: run the still-pending chunks inline when waited on from one of
    /// the pool's workers (see `Future`'s rule), since the gathered future has no task.
    helpers: Vec<Helper>,
}

impl<R> fmt::Debug for AsyncResult<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("ready", &self.ready())
            .finish()
    }
}

/// [`AsyncResult::successful`] was asked before the result was ready (Python's
/// `ValueError: ... not ready`).
///
/// # Examples
///
/// ```
/// use threadkit::executor::{NotReady, ThreadPool};
///
/// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let r = pool.apply_async(move || rx.recv().unwrap()).unwrap();
/// assert_eq!(r.successful(), Err(NotReady));
/// tx.send(()).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotReady;

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the result is not ready")
    }
}

impl std::error::Error for NotReady {}

/// The error of [`AsyncResult::get_timeout`]; a timeout hands the [`AsyncResult`] back.
#[non_exhaustive]
pub enum GetTimeoutError<R> {
    /// Not ready in time (Python's `TimeoutError`); the handle, to try again.
    Timeout(AsyncResult<R>),
    /// The timeout was too large for a deadline; the handle, to try again.
    TimeoutOverflow(AsyncResult<R>, TimeoutOverflow),
    /// The task finished without a value.
    Task(TaskError),
}

impl<R> fmt::Debug for GetTimeoutError<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetTimeoutError::Timeout(_) => f.write_str("Timeout(..)"),
            GetTimeoutError::TimeoutOverflow(_, e) => write!(f, "TimeoutOverflow(.., {e:?})"),
            GetTimeoutError::Task(e) => write!(f, "Task({e:?})"),
        }
    }
}

impl<R> fmt::Display for GetTimeoutError<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetTimeoutError::Timeout(_) => f.write_str("timed out waiting for the result"),
            GetTimeoutError::TimeoutOverflow(_, e) => e.fmt(f),
            GetTimeoutError::Task(e) => e.fmt(f),
        }
    }
}

impl<R> std::error::Error for GetTimeoutError<R> {}

impl<R> AsyncResult<R> {
    fn help(&self) {
        for h in &self.helpers {
            h();
        }
    }

    /// Whether the result is ready (`ready()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let r = pool.apply_async(|| 1).unwrap();
    /// r.wait();
    /// assert!(r.ready());
    /// ```
    pub fn ready(&self) -> bool {
        self.fut.is_done()
    }

    /// Blocks until ready (`wait()`).
    ///
    /// # Examples
    ///
    /// See [`ready`](AsyncResult::ready).
    pub fn wait(&self) {
        self.help();
        self.fut.wait()
    }

    /// Blocks until ready or `timeout` passes (`wait(timeout)`); returns whether ready.
    ///
    /// # Errors
    ///
    /// [`TimeoutOverflow`] when `timeout` is too large for a deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let r = pool.apply_async(|| 1).unwrap();
    /// assert_eq!(r.wait_timeout(Duration::from_secs(10)), Ok(true));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, TimeoutOverflow> {
        self.fut.wait_timeout(timeout)
    }

    /// Whether the call completed without failure (`successful()`); for the map variants,
    /// whether every item succeeded.
    ///
    /// # Errors
    ///
    /// [`NotReady`] while the result is not ready.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let r = pool.map_async(|x: i32| if x == 1 { panic!("one") } else { x }, 0..3).unwrap();
    /// r.wait();
    /// assert_eq!(r.successful(), Ok(false));
    /// ```
    pub fn successful(&self) -> Result<bool, NotReady> {
        self.fut.core().with_stage(|stage| match stage {
            Stage::Pending | Stage::Running => Err(NotReady),
            Stage::Done(Ok(v)) => Ok((self.ok)(v)),
            Stage::Done(Err(_)) => Ok(false),
            Stage::Taken => Ok(true),
        })
    }

    /// Blocks until ready and returns the value (`get()`).
    ///
    /// # Errors
    ///
    /// The [`TaskError`] when the call panicked, was cancelled or the pool broke. (For the
    /// map variants, item failures are inside the returned vector.)
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// assert_eq!(pool.apply_async(|| "x").unwrap().get(), Ok("x"));
    /// ```
    pub fn get(self) -> Result<R, TaskError> {
        self.help();
        self.fut.into_result()
    }

    /// As [`get`](AsyncResult::get), giving up after `timeout` (`get(timeout)`).
    ///
    /// # Errors
    ///
    /// [`GetTimeoutError::Timeout`] (with the handle back) when not ready in time,
    /// [`GetTimeoutError::TimeoutOverflow`] for a timeout too large, and
    /// [`GetTimeoutError::Task`] when the call failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::executor::{GetTimeoutError, ThreadPool};
    ///
    /// let pool = threadkit::executor::ThreadPool::builder().max_workers(1).build().unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel::<u8>();
    /// let r = pool.apply_async(move || rx.recv().unwrap()).unwrap();
    /// let r = match r.get_timeout(Duration::from_millis(10)) {
    ///     Err(GetTimeoutError::Timeout(r)) => r,
    ///     other => panic!("{other:?}"),
    /// };
    /// tx.send(9).unwrap();
    /// assert_eq!(r.get_timeout(Duration::from_secs(10)).ok(), Some(9));
    /// ```
    pub fn get_timeout(self, timeout: Duration) -> Result<R, GetTimeoutError<R>> {
        match self.fut.wait_timeout(timeout) {
            Ok(true) => self.fut.into_result().map_err(GetTimeoutError::Task),
            Ok(false) => Err(GetTimeoutError::Timeout(self)),
            Err(e) => Err(GetTimeoutError::TimeoutOverflow(self, e)),
        }
    }

    /// The underlying [`Future`] (for [`wait`](super::wait), callbacks, cancel).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = threadkit::executor::ThreadPool::new().unwrap();
    /// let r = pool.apply_async(|| 1).unwrap();
    /// assert_eq!(r.future().result(), Ok(1));
    /// ```
    pub fn future(&self) -> &Future<R> {
        &self.fut
    }
}

/// A function called with a tuple's fields as its arguments, for
/// [`ThreadPool::starmap`]: implemented for every `Fn(A, B, ...) -> R + Send + Sync +
/// 'static` of up to 8 arguments, with `Args = (A, B, ...)`.
///
/// # Examples
///
/// ```
/// use threadkit::executor::TupleFn;
///
/// fn add(a: i32, b: i32) -> i32 { a + b }
/// assert_eq!(add.call((2, 3)), 5);
/// ```
pub trait TupleFn<Args>: Send + Sync + 'static {
    /// What the function returns.
    type Output: Send + 'static;
    /// Calls the function with `args`' fields.
    fn call(&self, args: Args) -> Self::Output;
}

macro_rules! tuple_fn {
    ($($a:ident),*) => {
        impl<Func, Ret, $($a),*> TupleFn<($($a,)*)> for Func
        where
            Func: Fn($($a),*) -> Ret + Send + Sync + 'static,
            Ret: Send + 'static,
        {
            type Output = Ret;
            #[allow(non_snake_case)]
            fn call(&self, ($($a,)*): ($($a,)*)) -> Ret {
                self($($a),*)
            }
        }
    };
}

tuple_fn!();
tuple_fn!(A);
tuple_fn!(A, B);
tuple_fn!(A, B, C);
tuple_fn!(A, B, C, D);
tuple_fn!(A, B, C, D, E);
tuple_fn!(A, B, C, D, E, G);
tuple_fn!(A, B, C, D, E, G, H);
tuple_fn!(A, B, C, D, E, G, H, I);
