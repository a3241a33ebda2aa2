//! Awaiting a [`Future`] from async code (Python: `asyncio.wrap_future` /
//! `loop.run_in_executor`): `.await` on a future yields its outcome, and the async task is
//! woken by the thread that finishes the work, so no thread blocks while it waits.

use super::future::{take_outcome, Future, TaskError};
use std::pin::Pin;
use std::task::{Context, Poll};

/// What `.await` on a [`Future`] runs (its [`IntoFuture`](std::future::IntoFuture)). Ready
/// with the outcome once the task is done, moving the value out as
/// [`Future::into_result`] does (other clones then read [`TaskError::ResultTaken`]).
///
/// Dropping it (the async task gave up, or a `select!` chose another branch) does not cancel
/// the work: call [`Future::cancel`] on a clone for that.
///
/// # Examples
///
/// With any async executor (here a minimal one; tokio, smol or async-std work the same):
///
/// ```
/// use std::sync::Arc;
/// use std::task::{Context, Poll, Wake, Waker};
/// use threadkit::executor::ThreadPool;
///
/// // A minimal `block_on`: parks the thread until the future's waker unparks it.
/// struct Unpark(std::thread::Thread);
/// impl Wake for Unpark {
///     fn wake(self: Arc<Self>) {
///         self.0.unpark();
///     }
/// }
/// fn block_on<F: std::future::Future>(fut: F) -> F::Output {
///     let mut fut = std::pin::pin!(fut);
///     let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
///     let mut cx = Context::from_waker(&waker);
///     loop {
///         if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
///             return v;
///         }
///         std::thread::park();
///     }
/// }
///
/// let pool = ThreadPool::new().unwrap();
/// let blocking_work = pool.submit(|| std::fs::read_dir(".").map(|d| d.count()).unwrap_or(0)).unwrap();
/// let entries = block_on(async { blocking_work.await }).unwrap();
/// println!("{entries} entries");
/// ```
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Awaited<T> {
    fut: Future<T>,
    /// This await's waker registration (an id per `Awaited`).
    id: u64,
    registered: bool,
    done: bool,
}

impl<T> std::future::IntoFuture for Future<T> {
    type Output = Result<T, TaskError>;
    type IntoFuture = Awaited<T>;

    fn into_future(self) -> Awaited<T> {
        Awaited {
            fut: self,
            id: super::future::new_waiter_id(),
            registered: false,
            done: false,
        }
    }
}

impl<T> std::future::Future for Awaited<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "an Awaited was polled after it completed");
        let core = this.fut.core();
        let done = match core.done_guard() {
            Some(done) => Some(done),
            None => {
                this.registered = true;
                core.register_waker(this.id, cx.waker())
            }
        };
        match done {
            Some(mut done) => {
                this.done = true;
                Poll::Ready(take_outcome(done.outcome_mut()))
            }
            None => Poll::Pending,
        }
    }
}

impl<T> Drop for Awaited<T> {
    fn drop(&mut self) {
        if self.registered && !self.done {
            self.fut.core().unregister_waker(self.id);
        }
    }
}
