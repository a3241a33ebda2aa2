//! The map family: `map`, `map_with`, `imap_unordered`, `starmap`, `map_async`,
//! `starmap_async`, `apply_async`, and [`AsyncResult`].
//!
//! The files, in reading order:
//!
//! 1. `options.rs`: what a map is asked ([`MapOptions`]: chunk size, deadline) and how one
//!    item fails ([`MapItemError`]).
//! 2. `mod.rs` (this file): the map methods of [`ThreadPool`] (items go in chunks, one task
//!    per chunk), the gathering of a map's chunks into one future, and the iterators over
//!    the results ([`MapResults`] in input order, [`Unordered`] as they complete).
//! 3. `async_result.rs`: [`AsyncResult`], what the `*_async` methods return.
//! 4. `tuple_fn.rs`: [`TupleFn`], the function `starmap` spreads a tuple over.

mod async_result;
mod options;
mod tuple_fn;

pub use async_result::{AsyncResult, GetTimeoutError, NotReady};
pub use options::{ChunkSize, MapItemError, MapOptions, MapOptionsError};
pub use tuple_fn::TupleFn;

use async_result::Helper;

use crossbeam_channel::Receiver;
use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Instant;

use super::future::{new_waiter_id, worker_of, Future, Promise, TaskError};
use super::pool::{SubmitError, ThreadPool};
use crate::primitive::Mutex;
use crate::unwind;

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
