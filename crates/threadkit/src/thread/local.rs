//! [`Local<T>`]: per-object thread-local storage, Python's `threading.local`.

use parking_lot::Mutex;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// A value that every thread sees its own copy of: Python's `threading.local()`, as an object
/// rather than a `static` (unlike [`std::thread_local!`], you can create as many as you like,
/// at run time, and drop them).
///
/// Each thread's value is created by the `init` function the first time that thread touches
/// the `Local`, or given with [`set`](Local::set). A thread's value is dropped on that thread
/// when it exits (for threads started by threadkit: before [`JoinHandle::join`](super::JoinHandle::join) returns and
/// before it stops being [alive](super::Thread::is_alive)), and every remaining value is dropped
/// when the `Local` itself is dropped. Share a `Local` between threads with an `Arc` (or a
/// `static` built with `std::sync::LazyLock`).
///
/// Access runs through a short uncontended lock of the `Local`'s table plus a `RefCell`
/// borrow; the closure given to [`with`](Local::with) runs outside the lock.
///
/// # Examples
///
/// Seed 000/003: `mydata = threading.local(); mydata.x = 5` in each thread.
///
/// ```
/// use std::sync::Arc;
/// use threadkit::thread::{self, Local};
///
/// let mydata = Arc::new(Local::new(|| 0u32));
/// mydata.set(1); // the main thread's value
/// let handles: Vec<_> = (2..5)
///     .map(|x| {
///         let mydata = mydata.clone();
///         thread::spawn(move || {
///             assert_eq!(mydata.get(), 0); // a fresh value in each thread
///             mydata.set(x);
///             mydata.with_mut(|v| *v *= 10);
///             mydata.get()
///         })
///     })
///     .collect();
/// let seen: Vec<u32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
/// assert_eq!(seen, [20, 30, 40]);
/// assert_eq!(mydata.get(), 1); // untouched by the other threads
/// ```
pub struct Local<T: Send + 'static> {
    inner: Arc<Inner<T>>,
}

type Init<T> = Box<dyn Fn() -> T + Send + Sync>;

struct Inner<T> {
    init: Init<T>,
    /// Thread key -> that thread's value. A key stays present (with `None`) after `take`, which
    /// records that the thread already knows to clean this `Local` up at exit.
    values: Mutex<HashMap<u64, Option<Box<RefCell<T>>>>>,
}

/// What a thread's exit does for each `Local` it used.
trait Cleanup: Send + Sync {
    fn remove(&self, key: u64);
}

impl<T: Send> Cleanup for Inner<T> {
    fn remove(&self, key: u64) {
        let value = self.values.lock().remove(&key);
        // Dropped here, outside the lock: its destructor may use this `Local` again.
        drop(value);
    }
}

/// The calling thread's part of every `Local`: its key, and the `Local`s to clean up at exit.
struct ThreadState {
    key: u64,
    locals: RefCell<Vec<Weak<dyn Cleanup>>>,
    prune_at: Cell<usize>,
}

impl Drop for ThreadState {
    fn drop(&mut self) {
        for local in self.locals.get_mut().drain(..) {
            if let Some(local) = local.upgrade() {
                local.remove(self.key);
            }
        }
    }
}

static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static STATE: ThreadState = ThreadState {
        key: NEXT_KEY.fetch_add(1, Ordering::Relaxed),
        locals: RefCell::new(Vec::new()),
        prune_at: Cell::new(8),
    };
}

const BORROWED: &str = "threadkit::thread::Local: this thread's value is already borrowed \
                        (a nested with/with_mut/set/take on the same Local)";

impl<T: Send + 'static> Local<T> {
    /// A `Local` whose value in each thread starts as `init()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let names = threadkit::thread::Local::new(|| threadkit::thread::current().name().to_owned());
    /// assert_eq!(names.get(), threadkit::thread::current().name());
    /// ```
    pub fn new(init: impl Fn() -> T + Send + Sync + 'static) -> Local<T> {
        Local {
            inner: Arc::new(Inner {
                init: Box::new(init),
                values: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Calls `f` with the calling thread's value (created first if needed) and returns what
    /// `f` returns.
    ///
    /// If the thread is already being torn down (a thread-local destructor uses the `Local`),
    /// `f` sees a fresh `init()` value that is dropped right after.
    ///
    /// # Panics
    ///
    /// Panics if `f` calls [`with_mut`](Local::with_mut), [`set`](Local::set),
    /// [`replace`](Local::replace) or [`take`](Local::take) on the same `Local` (the value is
    /// borrowed), and if `init` panics.
    ///
    /// # Examples
    ///
    /// ```
    /// let buf = threadkit::thread::Local::new(|| vec![1, 2, 3]);
    /// assert_eq!(buf.with(|v| v.len()), 3);
    /// ```
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        match self.slot() {
            Some(cell) => {
                // SAFETY: see `slot`: the box is alive and only this thread reaches it.
                let cell = unsafe { &*cell };
                let value = cell.try_borrow().expect(BORROWED);
                f(&value)
            }
            None => f(&(self.inner.init)()),
        }
    }

    /// Calls `f` with mutable access to the calling thread's value (created first if needed).
    ///
    /// # Panics
    ///
    /// Panics if the value is already borrowed on this thread (a `with_mut` inside a
    /// [`with`](Local::with) of the same `Local`), and if `init` panics.
    ///
    /// # Examples
    ///
    /// ```
    /// let counter = threadkit::thread::Local::new(|| 0);
    /// counter.with_mut(|c| *c += 1);
    /// counter.with_mut(|c| *c += 1);
    /// assert_eq!(counter.get(), 2);
    /// ```
    pub fn with_mut<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        match self.slot() {
            Some(cell) => {
                // SAFETY: see `slot`: the box is alive and only this thread reaches it.
                let cell = unsafe { &*cell };
                let mut value = cell.try_borrow_mut().expect(BORROWED);
                f(&mut value)
            }
            None => f(&mut (self.inner.init)()),
        }
    }

    /// A clone of the calling thread's value (created first if needed).
    ///
    /// # Panics
    ///
    /// Panics if the value is mutably borrowed on this thread, and if `init` panics.
    ///
    /// # Examples
    ///
    /// ```
    /// let x = threadkit::thread::Local::new(|| 5);
    /// assert_eq!(x.get(), 5);
    /// ```
    pub fn get(&self) -> T
    where
        T: Clone,
    {
        self.with(T::clone)
    }

    /// Sets the calling thread's value (Python's `mydata.x = 5`), dropping the previous one.
    ///
    /// # Panics
    ///
    /// Panics if the value is borrowed on this thread (inside [`with`](Local::with)).
    ///
    /// # Examples
    ///
    /// ```
    /// let x = threadkit::thread::Local::new(|| 0);
    /// x.set(6);
    /// assert_eq!(x.get(), 6);
    /// ```
    pub fn set(&self, value: T) {
        drop(self.replace(value));
    }

    /// Sets the calling thread's value and returns the previous one, if the thread had one
    /// (`init` is not called).
    ///
    /// # Panics
    ///
    /// Panics if the value is borrowed on this thread (inside [`with`](Local::with)).
    ///
    /// # Examples
    ///
    /// ```
    /// let x = threadkit::thread::Local::new(|| 0);
    /// assert_eq!(x.replace(1), None);
    /// assert_eq!(x.replace(2), Some(1));
    /// ```
    pub fn replace(&self, value: T) -> Option<T> {
        let Some(key) = thread_key() else {
            // Thread teardown: there is nowhere to keep the value.
            return Some(value);
        };
        let mut map = self.inner.values.lock();
        match map.get_mut(&key) {
            Some(Some(cell)) => {
                let mut slot = cell.try_borrow_mut().expect(BORROWED);
                Some(std::mem::replace(&mut *slot, value))
            }
            Some(none) => {
                *none = Some(Box::new(RefCell::new(value)));
                None
            }
            None => {
                map.insert(key, Some(Box::new(RefCell::new(value))));
                drop(map);
                self.register_cleanup();
                None
            }
        }
    }

    /// Removes the calling thread's value and returns it; the next access creates a fresh one
    /// with `init` (Python's `del mydata.x`).
    ///
    /// # Panics
    ///
    /// Panics if the value is borrowed on this thread (inside [`with`](Local::with)).
    ///
    /// # Examples
    ///
    /// ```
    /// let x = threadkit::thread::Local::new(|| 0);
    /// x.set(9);
    /// assert_eq!(x.take(), Some(9));
    /// assert_eq!(x.take(), None);
    /// assert_eq!(x.get(), 0);
    /// ```
    pub fn take(&self) -> Option<T> {
        let key = thread_key()?;
        let mut map = self.inner.values.lock();
        let slot = map.get_mut(&key)?;
        if let Some(cell) = slot {
            drop(cell.try_borrow_mut().expect(BORROWED));
        }
        let value = slot.take();
        drop(map);
        value.map(|b| b.into_inner())
    }

    /// The calling thread's cell, created with `init` if needed; `None` while the thread is
    /// being torn down.
    ///
    /// The returned pointer stays valid while `self` is borrowed, on this thread: the box is
    /// only removed from the table by this thread (`take`, `replace` does not remove it, the
    /// exit cleanup runs after any access of this thread) or by dropping the `Local`, which
    /// cannot happen while `&self` is held; `take` refuses while the cell is borrowed.
    fn slot(&self) -> Option<*const RefCell<T>> {
        let key = thread_key()?;
        {
            let map = self.inner.values.lock();
            if let Some(Some(cell)) = map.get(&key) {
                return Some(&**cell as *const RefCell<T>);
            }
        }
        // Not under the lock: `init` may use this `Local` (or others) itself.
        let fresh = Box::new(RefCell::new((self.inner.init)()));
        let mut map = self.inner.values.lock();
        let (ptr, new_key, unused) = match map.get_mut(&key) {
            // `init` itself stored a value: keep that one.
            Some(Some(cell)) => (&**cell as *const RefCell<T>, false, Some(fresh)),
            Some(none) => (&**none.insert(fresh) as *const RefCell<T>, false, None),
            None => {
                let ptr = &*fresh as *const RefCell<T>;
                map.insert(key, Some(fresh));
                (ptr, true, None)
            }
        };
        drop(map);
        drop(unused);
        if new_key {
            self.register_cleanup();
        }
        Some(ptr)
    }

    /// Asks the calling thread to remove its value from this `Local` when it exits.
    fn register_cleanup(&self) {
        let weak: Weak<dyn Cleanup> = Arc::downgrade(&self.inner) as Weak<dyn Cleanup>;
        let _ = STATE.try_with(|s| {
            let mut locals = s.locals.borrow_mut();
            if locals.len() >= s.prune_at.get() {
                locals.retain(|w| w.strong_count() > 0);
                s.prune_at.set((locals.len() * 2).max(8));
            }
            locals.push(weak);
        });
    }
}

fn thread_key() -> Option<u64> {
    STATE.try_with(|s| s.key).ok()
}

impl<T: Send + 'static> Drop for Local<T> {
    fn drop(&mut self) {
        // Drop every thread's value now (on this thread), outside the lock, rather than when
        // the last exiting thread lets go of the table.
        let values = std::mem::take(&mut *self.inner.values.lock());
        drop(values);
    }
}

impl<T: Send + Default + 'static> Default for Local<T> {
    /// A `Local` whose value in each thread starts as `T::default()`.
    fn default() -> Local<T> {
        Local::new(T::default)
    }
}

impl<T: Send + 'static> fmt::Debug for Local<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let threads = self
            .inner
            .values
            .lock()
            .values()
            .filter(|v| v.is_some())
            .count();
        f.debug_struct("Local")
            .field("threads_with_values", &threads)
            .finish_non_exhaustive()
    }
}
