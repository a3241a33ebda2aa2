//! Waiting on many futures: [`wait`], [`wait_timeout`], [`as_completed`],
//! [`as_completed_timeout`].

use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, Instant};

use super::future::{new_waiter_id, worker_of, Future, Stage, TaskError};
use crate::time::TimeoutOverflow;

/// When [`wait`] returns (Python's `return_when`).
///
/// # Examples
///
/// ```
/// use threadkit::executor::{wait, ReturnWhen, ThreadPool};
///
/// let pool = ThreadPool::new().unwrap();
/// let fs = vec![pool.submit(|| 1).unwrap(), pool.submit(|| 2).unwrap()];
/// let w = wait(&fs, ReturnWhen::AllCompleted);
/// assert_eq!(w.done, [0, 1]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as any future is done or cancelled (`FIRST_COMPLETED`).
    FirstCompleted,
    /// As soon as any future fails (panics or the pool broke; not cancellation), or when all
    /// are done (`FIRST_EXCEPTION`).
    FirstException,
    /// When every future is done (`ALL_COMPLETED`).
    AllCompleted,
}

/// The result of [`wait`]: positions in the given sequence (Python's `(done, not_done)`).
/// A future given twice has both of its positions in the same list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Waited {
    /// Positions of the futures that are done, ascending.
    pub done: Vec<usize>,
    /// Positions of the futures that are not, ascending.
    pub not_done: Vec<usize>,
}

/// Blocks until the condition `return_when` holds for `futures` (Python's
/// `concurrent.futures.wait`). Futures already done count at once.
///
/// On a worker thread of the futures' pool, still-pending futures of that pool are run inline
/// rather than waited for (see [`Future`]).
///
/// # Examples
///
/// ```
/// use threadkit::executor::{wait, ReturnWhen, ThreadPool};
///
/// let pool = ThreadPool::new().unwrap();
/// let fs: Vec<_> = (0..4).map(|i| pool.submit(move || i).unwrap()).collect();
/// let w = wait(&fs, ReturnWhen::FirstCompleted);
/// assert!(!w.done.is_empty());
/// ```
pub fn wait<T>(futures: &[Future<T>], return_when: ReturnWhen) -> Waited {
    wait_inner(futures, return_when, None)
}

/// As [`wait`], returning after `timeout` at the latest (Python's `wait(fs, timeout)`); the
/// not-done list says what is unfinished.
///
/// # Errors
///
/// [`TimeoutOverflow`] when `timeout` is too large for a deadline.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::executor::{wait_timeout, ReturnWhen, ThreadPool};
///
/// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let fs = vec![pool.submit(move || rx.recv().unwrap()).unwrap()];
/// let w = wait_timeout(&fs, ReturnWhen::AllCompleted, Duration::from_millis(10)).unwrap();
/// assert_eq!(w.not_done, [0]);
/// tx.send(()).unwrap();
/// ```
pub fn wait_timeout<T>(
    futures: &[Future<T>],
    return_when: ReturnWhen,
    timeout: Duration,
) -> Result<Waited, TimeoutOverflow> {
    let deadline = crate::time::deadline_after(timeout)?;
    Ok(wait_inner(futures, return_when, Some(deadline)))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    NotDone,
    Done,
    Failed,
}

fn status<T>(f: &Future<T>) -> Status {
    f.core().with_stage(|stage| match stage {
        Stage::Pending | Stage::Running => Status::NotDone,
        Stage::Done(Err(e)) if **e == TaskError::Cancelled => Status::Done,
        Stage::Done(Err(_)) => Status::Failed,
        Stage::Done(Ok(_)) | Stage::Taken => Status::Done,
    })
}

fn satisfied(return_when: ReturnWhen, done: usize, failed: bool, total: usize) -> bool {
    match return_when {
        ReturnWhen::FirstCompleted => done > 0,
        ReturnWhen::FirstException => failed || done == total,
        ReturnWhen::AllCompleted => done == total,
    }
}

/// Deduplicated positions: for each distinct future, its first position.
fn distinct<T>(futures: &[Future<T>]) -> Vec<usize> {
    let mut seen = HashSet::with_capacity(futures.len());
    (0..futures.len())
        .filter(|&i| seen.insert(futures[i].addr()))
        .collect()
}

fn wait_inner<T>(
    futures: &[Future<T>],
    return_when: ReturnWhen,
    deadline: Option<Instant>,
) -> Waited {
    let unique = distinct(futures);
    let total = unique.len();
    let (tx, rx) = crossbeam_channel::unbounded();
    let id = new_waiter_id();
    let mut done_set = vec![false; futures.len()];
    let mut done = 0;
    let mut failed = false;
    for &i in &unique {
        if futures[i].core().register(&tx, i, id) {
            done_set[i] = true;
            done += 1;
            failed |= status(&futures[i]) == Status::Failed;
        }
    }
    drop(tx);
    let helper = deadline.is_none() && worker_of() != 0;
    while !satisfied(return_when, done, failed, total) {
        let got = match rx.try_recv() {
            Ok(i) => Some(i),
            Err(_) => {
                if helper {
                    let pending = unique
                        .iter()
                        .copied()
                        .find(|&i| !done_set[i] && futures[i].is_pending());
                    if let Some(i) = pending {
                        if futures[i].help() {
                            continue;
                        }
                    }
                }
                match deadline {
                    None => rx.recv().ok(),
                    Some(d) => rx.recv_deadline(d).ok(),
                }
            }
        };
        let Some(i) = got else { break };
        if !done_set[i] {
            done_set[i] = true;
            done += 1;
            failed |= status(&futures[i]) == Status::Failed;
        }
    }
    for &i in &unique {
        if !done_set[i] {
            futures[i].core().unregister(id);
        }
    }
    // Positions of duplicates follow their first occurrence.
    let mut out = Waited::default();
    let mut first: std::collections::HashMap<*const (), usize> = std::collections::HashMap::new();
    for &i in &unique {
        first.insert(futures[i].addr(), i);
    }
    for (pos, f) in futures.iter().enumerate() {
        let i = first[&f.addr()];
        if done_set[i] {
            out.done.push(pos);
        } else {
            out.not_done.push(pos);
        }
    }
    out
}

/// The timeout of [`as_completed_timeout`]: Python's `TimeoutError: N (of M) futures
/// unfinished`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::executor::{as_completed_timeout, ThreadPool};
///
/// let pool = ThreadPool::builder().max_workers(1).build().unwrap();
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let fs = vec![pool.submit(move || rx.recv().unwrap()).unwrap()];
/// let mut it = as_completed_timeout(&fs, Duration::from_millis(10)).unwrap();
/// let err = it.next().unwrap().unwrap_err();
/// assert_eq!(err.to_string(), "1 (of 1) futures unfinished");
/// tx.send(()).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsCompletedTimeout {
    /// Distinct futures not yet yielded.
    pub unfinished: usize,
    /// Distinct futures given.
    pub total: usize,
}

impl fmt::Display for AsCompletedTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (of {}) futures unfinished",
            self.unfinished, self.total
        )
    }
}

impl std::error::Error for AsCompletedTimeout {}

/// The iterator of [`as_completed`] and [`as_completed_timeout`]: each distinct future once,
/// as `(position, &future)`, in the order they finish (those already done first).
pub struct AsCompleted<'a, T> {
    futures: &'a [Future<T>],
    ready: std::collections::VecDeque<usize>,
    rx: Receiver<usize>,
    id: u64,
    remaining: Vec<usize>,
    yielded: usize,
    total: usize,
    deadline: Option<Instant>,
    finished: bool,
}

impl<T> fmt::Debug for AsCompleted<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("yielded", &self.yielded)
            .field("total", &self.total)
            .finish()
    }
}

fn start<T>(futures: &[Future<T>], deadline: Option<Instant>) -> AsCompleted<'_, T> {
    let unique = distinct(futures);
    let (tx, rx) = crossbeam_channel::unbounded();
    let id = new_waiter_id();
    let mut ready = std::collections::VecDeque::new();
    let mut remaining = Vec::new();
    for &i in &unique {
        if futures[i].core().register(&tx, i, id) {
            ready.push_back(i);
        } else {
            remaining.push(i);
        }
    }
    AsCompleted {
        futures,
        ready,
        rx,
        id,
        remaining,
        yielded: 0,
        total: unique.len(),
        deadline,
        finished: false,
    }
}

/// Yields each distinct future of `futures` as it finishes, with its position (Python's
/// `concurrent.futures.as_completed(fs)`). Futures already done come first; a future given
/// twice is yielded once.
///
/// # Examples
///
/// ```
/// use threadkit::executor::{as_completed, ThreadPool};
///
/// let pool = ThreadPool::new().unwrap();
/// let fs: Vec<_> = (1..=3).map(|i| pool.submit(move || i * 10).unwrap()).collect();
/// let mut got: Vec<i32> = as_completed(&fs).map(|(_, f)| f.result().unwrap()).collect();
/// got.sort();
/// assert_eq!(got, [10, 20, 30]);
/// ```
pub fn as_completed<T>(futures: &[Future<T>]) -> impl Iterator<Item = (usize, &Future<T>)> + '_ {
    start(futures, None).map(|r| match r {
        Ok(x) => x,
        Err(_) => unreachable!("no deadline, no timeout"),
    })
}

/// As [`as_completed`] with an overall deadline `timeout` from now (Python's
/// `as_completed(fs, timeout)`). When it passes, the iterator yields one
/// [`AsCompletedTimeout`] saying how many are unfinished, then ends.
///
/// # Errors
///
/// [`TimeoutOverflow`] when `timeout` is too large for a deadline.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::executor::{as_completed_timeout, ThreadPool};
///
/// let pool = ThreadPool::new().unwrap();
/// let fs = vec![pool.submit(|| 1).unwrap()];
/// for item in as_completed_timeout(&fs, Duration::from_secs(10)).unwrap() {
///     let (pos, f) = item.unwrap();
///     assert_eq!((pos, f.result()), (0, Ok(1)));
/// }
/// ```
pub fn as_completed_timeout<T>(
    futures: &[Future<T>],
    timeout: Duration,
) -> Result<AsCompleted<'_, T>, TimeoutOverflow> {
    let deadline = crate::time::deadline_after(timeout)?;
    Ok(start(futures, Some(deadline)))
}

impl<'a, T> Iterator for AsCompleted<'a, T> {
    type Item = Result<(usize, &'a Future<T>), AsCompletedTimeout>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        loop {
            if let Some(i) = self.ready.pop_front() {
                self.yielded += 1;
                self.remaining.retain(|&r| r != i);
                return Some(Ok((i, &self.futures[i])));
            }
            if self.yielded == self.total {
                self.finished = true;
                return None;
            }
            let got = match self.deadline {
                Some(d) => match self.rx.recv_deadline(d) {
                    Ok(i) => i,
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                        self.finished = true;
                        self.unregister();
                        return Some(Err(AsCompletedTimeout {
                            unfinished: self.total - self.yielded,
                            total: self.total,
                        }));
                    }
                },
                None => {
                    if worker_of() != 0 {
                        if let Ok(i) = self.rx.try_recv() {
                            self.ready.push_back(i);
                            continue;
                        }
                        let pending = self
                            .remaining
                            .iter()
                            .copied()
                            .find(|&i| self.futures[i].is_pending());
                        if let Some(i) = pending {
                            if self.futures[i].help() {
                                continue;
                            }
                        }
                    }
                    match self.rx.recv() {
                        Ok(i) => i,
                        Err(_) => unreachable!("the iterator holds registrations until done"),
                    }
                }
            };
            self.ready.push_back(got);
        }
    }
}

impl<T> AsCompleted<'_, T> {
    fn unregister(&mut self) {
        for &i in &self.remaining {
            self.futures[i].core().unregister(self.id);
        }
        self.remaining.clear();
    }
}

impl<T> Drop for AsCompleted<'_, T> {
    fn drop(&mut self) {
        self.unregister();
    }
}
