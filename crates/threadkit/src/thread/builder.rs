//! Starting threads: [`Builder`], [`spawn`], [`start`], the [`Runnable`] trait and
//! [`SpawnError`].

use std::fmt;
use std::io;

use super::handle::JoinHandle;
use super::registry::{self, Kind, Thread};

/// Python's `Thread` subclass with a `run()` method: a value that is the thread's work.
///
/// Implement it for a struct holding the thread's inputs, and start it with [`start`] or
/// [`Builder::spawn_runnable`]. The value moves into the new thread, `run` consumes it there,
/// and its output comes back from [`JoinHandle::join`]. A thread started this way without an
/// explicit name is called `Thread-N (TypeName)`.
///
/// # Examples
///
/// Seed 002's `AddThread`, whose `run` sums its args:
///
/// ```
/// use threadkit::thread::{self, Runnable};
///
/// struct AddThread {
///     args: Vec<i64>,
/// }
///
/// impl Runnable for AddThread {
///     type Output = i64;
///     fn run(self) -> i64 {
///         self.args.iter().sum()
///     }
/// }
///
/// let h = thread::Builder::new()
///     .name("Add thread")
///     .spawn_runnable(AddThread { args: vec![1, 2, 3, 4, 5] })
///     .unwrap();
/// assert_eq!(h.join().unwrap(), 15);
/// ```
pub trait Runnable: Send + 'static {
    /// What `run` returns; handed back by [`JoinHandle::join`].
    type Output: Send + 'static;

    /// The thread's work, run on the new thread.
    fn run(self) -> Self::Output;
}

/// Configures a thread before starting it: Python's `Thread(name=..., daemon=...)` plus
/// `threading.stack_size`.
///
/// # Examples
///
/// ```
/// use threadkit::thread::Builder;
///
/// let h = Builder::new()
///     .name("join-portion-thread")
///     .daemon(false)
///     .stack_size(256 * 1024)
///     .spawn(|| 6 * 7)
///     .unwrap();
/// assert_eq!(h.name(), "join-portion-thread");
/// assert_eq!(h.join().unwrap(), 42);
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a Builder does nothing until spawn is called"]
pub struct Builder {
    name: Option<String>,
    target_name: Option<String>,
    daemon: Option<bool>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with no name, the daemon flag inherited from the calling thread, and the
    /// default stack size.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = threadkit::thread::Builder::new().spawn(|| ()).unwrap();
    /// assert!(h.name().starts_with("Thread-"));
    /// h.join().unwrap();
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the thread (Python's `name=`). Any string is allowed; it is also given to the
    /// operating system (truncated by it, e.g. to 15 bytes on Linux) unless it contains a NUL
    /// byte. Without a name the thread is called `Thread-N`, or `Thread-N (target)` as
    /// described at [`target_name`](Builder::target_name).
    ///
    /// # Examples
    ///
    /// ```
    /// let h = threadkit::thread::Builder::new().name("First").spawn(|| ()).unwrap();
    /// assert_eq!(h.name(), "First");
    /// h.join().unwrap();
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// The name of the thread's target, used in the default name `Thread-N (target)` as
    /// Python does for `Thread(target=fn)`.
    ///
    /// Without it, threadkit uses the function's own name when the spawned value is a plain
    /// function or method (`spawn(run)` is called `Thread-N (run)`), the type's name for a
    /// [`Runnable`], and just `Thread-N` for a closure, which has no name. Ignored when
    /// [`name`](Builder::name) is given.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::thread::Builder;
    ///
    /// fn work(seconds: u64) -> u64 { seconds }
    ///
    /// let h = Builder::new().target_name("work").spawn(|| work(1)).unwrap();
    /// assert!(h.name().starts_with("Thread-") && h.name().ends_with(" (work)"));
    /// h.join().unwrap();
    /// ```
    pub fn target_name(mut self, target: impl Into<String>) -> Builder {
        self.target_name = Some(target.into());
        self
    }

    /// Whether the program's exit waits for this thread: a daemon thread is not waited for
    /// by [`ExitGuard`](super::ExitGuard) / [`wait_for_non_daemon`](super::wait_for_non_daemon)
    /// (Python's `daemon=`). When not set, the flag is inherited from the calling thread, as in
    /// Python: threads started from the main thread are not daemons; threads started from a
    /// thread threadkit did not create (a dummy thread) are.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = threadkit::thread::Builder::new().daemon(true).spawn(|| ()).unwrap();
    /// assert!(h.is_daemon());
    /// h.join().unwrap();
    /// ```
    pub fn daemon(mut self, daemon: bool) -> Builder {
        self.daemon = Some(daemon);
        self
    }

    /// The size in bytes of the new thread's stack (Python's `threading.stack_size(size)`, set
    /// per thread). The operating system may round it up to its minimum or page size.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = threadkit::thread::Builder::new()
    ///     .stack_size(8 * 1024 * 1024)
    ///     .spawn(|| {
    ///         let big = [1u8; 4 * 1024 * 1024];
    ///         big.iter().map(|&b| b as u32).sum::<u32>()
    ///     })
    ///     .unwrap();
    /// assert_eq!(h.join().unwrap(), 4 * 1024 * 1024);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts a thread running `f` (Python's `Thread(target=f).start()`), returning its
    /// handle. The thread is registered (listed by [`enumerate`](super::enumerate), alive)
    /// before this returns.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] when the operating system cannot create the thread (out of memory or
    /// thread limit; Python's "can't start new thread").
    ///
    /// # Examples
    ///
    /// ```
    /// let h = threadkit::thread::Builder::new().name("First").spawn(|| "done").unwrap();
    /// assert_eq!(h.join().unwrap(), "done");
    /// ```
    pub fn spawn<F, T>(self, f: F) -> Result<JoinHandle<T>, SpawnError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let target = fn_item_name(std::any::type_name::<F>());
        self.spawn_inner(target, f)
    }

    /// Starts a thread running `runnable.run()` (Python's `MyThread().start()` for a `Thread`
    /// subclass). Unnamed, it is called `Thread-N (TypeName)`.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] when the operating system cannot create the thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::thread::{Builder, Runnable};
    ///
    /// struct MyThread;
    /// impl Runnable for MyThread {
    ///     type Output = String;
    ///     fn run(self) -> String {
    ///         threadkit::thread::current().name().to_owned()
    ///     }
    /// }
    ///
    /// let h = Builder::new().spawn_runnable(MyThread).unwrap();
    /// let name = h.join().unwrap();
    /// assert!(name.starts_with("Thread-") && name.ends_with(" (MyThread)"));
    /// ```
    pub fn spawn_runnable<R: Runnable>(
        self,
        runnable: R,
    ) -> Result<JoinHandle<R::Output>, SpawnError> {
        let target = type_short_name(std::any::type_name::<R>());
        self.spawn_inner(target, move || runnable.run())
    }

    fn spawn_inner<F, T>(self, target: Option<&str>, f: F) -> Result<JoinHandle<T>, SpawnError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let name = match self.name {
            Some(n) => n,
            None => {
                let base = registry::next_name("Thread");
                match self.target_name.as_deref().or(target) {
                    Some(t) => format!("{base} ({t})"),
                    None => base,
                }
            }
        };
        let daemon = match self.daemon {
            Some(d) => d,
            None => registry::current().is_daemon(),
        };
        let thread = Thread::new(name, Kind::Spawned, daemon);

        let mut std_builder = std::thread::Builder::new();
        if !thread.name().contains('\0') {
            std_builder = std_builder.name(thread.name().to_owned());
        }
        if let Some(size) = self.stack_size {
            std_builder = std_builder.stack_size(size);
        }

        let their = thread.clone();
        let fate = std::sync::Arc::new(super::handle::Fate::default());
        let their_fate = fate.clone();
        registry::register(&thread);
        let spawned = std_builder.spawn(move || {
            if let Some(tid) = registry::os_tid() {
                their.set_native_id(tid);
            }
            // First thread-local touched by this thread, so it is destroyed last: "finished"
            // is announced after the thread's other thread-locals were dropped.
            registry::set_current(their.clone());
            crate::unwind::catch_thread_body(f).map_err(|p| {
                let origin = crate::unwind::take_origin();
                // Nobody will join a detached thread: its panic is reported here.
                their_fate.panicked(&their, &*p, &origin);
                (p, origin)
            })
        });
        match spawned {
            Ok(native) => Ok(JoinHandle::new(thread, native, fate)),
            Err(source) => {
                thread.finish();
                Err(SpawnError {
                    name: thread.name().to_owned(),
                    source,
                })
            }
        }
    }
}

/// Starts a thread running `f` with default settings (Python's
/// `threading.Thread(target=f).start()`), like [`std::thread::spawn`].
///
/// The thread is named `Thread-N`, or `Thread-N (f)` when `f` is a plain function such as
/// `spawn(run)`; it is a daemon exactly when the calling thread is one (see
/// [`Builder::daemon`]).
///
/// # Panics
///
/// Panics if the operating system cannot create the thread, as `std::thread::spawn` does; use
/// [`Builder::spawn`] to get a [`SpawnError`] instead.
///
/// # Examples
///
/// ```
/// use threadkit::thread;
///
/// fn run() -> String {
///     thread::current().name().to_owned()
/// }
///
/// let name = thread::spawn(run).join().unwrap();
/// assert!(name.starts_with("Thread-") && name.ends_with(" (run)"));
/// ```
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match Builder::new().spawn(f) {
        Ok(h) => h,
        Err(e) => panic!("failed to spawn thread: {e}"),
    }
}

/// Starts a thread running `runnable.run()` with default settings (Python's `t.start()` on a
/// `Thread` subclass).
///
/// # Panics
///
/// Panics if the operating system cannot create the thread; use
/// [`Builder::spawn_runnable`] to get a [`SpawnError`] instead.
///
/// # Examples
///
/// ```
/// use threadkit::thread::{self, Runnable};
///
/// struct MyThread { id: u32 }
/// impl Runnable for MyThread {
///     type Output = u32;
///     fn run(self) -> u32 { self.id * 10 }
/// }
///
/// assert_eq!(thread::start(MyThread { id: 1 }).join().unwrap(), 10);
/// ```
pub fn start<R: Runnable>(runnable: R) -> JoinHandle<R::Output> {
    match Builder::new().spawn_runnable(runnable) {
        Ok(h) => h,
        Err(e) => panic!("failed to spawn thread: {e}"),
    }
}

/// The operating system could not create a thread (Python's `RuntimeError: can't start new
/// thread`).
///
/// # Examples
///
/// ```
/// use threadkit::thread::{Builder, SpawnError};
///
/// fn start_worker() -> Result<u32, Box<dyn std::error::Error>> {
///     let h = Builder::new().name("worker").spawn(|| 7)?;
///     Ok(h.join()?)
/// }
/// assert_eq!(start_worker().unwrap(), 7);
/// ```
#[derive(Debug)]
pub struct SpawnError {
    name: String,
    source: io::Error,
}

impl SpawnError {
    /// The name the thread would have had.
    ///
    /// # Examples
    ///
    /// ```
    /// # use threadkit::thread::Builder;
    /// if let Err(e) = Builder::new().name("w").spawn(|| ()) {
    ///     assert_eq!(e.name(), "w");
    /// }
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operating system's error.
    ///
    /// # Examples
    ///
    /// ```
    /// # use threadkit::thread::Builder;
    /// if let Err(e) = Builder::new().spawn(|| ()) {
    ///     eprintln!("{:?}", e.io_error().kind());
    /// }
    /// ```
    pub fn io_error(&self) -> &io::Error {
        &self.source
    }

    /// The operating system's error, by value.
    ///
    /// # Examples
    ///
    /// ```
    /// # use threadkit::thread::Builder;
    /// let r: std::io::Result<_> = Builder::new().spawn(|| ()).map_err(|e| e.into_io_error());
    /// r.unwrap().join().unwrap();
    /// ```
    pub fn into_io_error(self) -> io::Error {
        self.source
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "can't start new thread {:?}: {}", self.name, self.source)
    }
}

impl std::error::Error for SpawnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The last path segment of a type name, without generic arguments:
/// `app::jobs::AddThread<u8>` -> `AddThread`, `app::Pool<u8>::run` -> `run`.
fn type_short_name(full: &str) -> Option<&str> {
    // The last `::` outside angle brackets starts the last segment.
    let mut depth = 0usize;
    let mut start = 0;
    let bytes = full.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'<' => depth += 1,
            b'>' => depth = depth.saturating_sub(1),
            b':' if depth == 0 && i + 1 < bytes.len() && bytes[i + 1] == b':' => start = i + 2,
            _ => {}
        }
    }
    let last = &full[start.min(full.len())..];
    let last = match last.find('<') {
        Some(i) => &last[..i],
        None => last,
    };
    if last.is_empty() || !last.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    Some(last)
}

/// The function's name when `F` is a function item (`app::run`), `None` for closures
/// (`app::main::{{closure}}`), function pointers (`fn() -> u32`) and anything else.
/// Best effort: relies on the form of `std::any::type_name`, which Rust does not guarantee.
pub(crate) fn fn_item_name(full: &str) -> Option<&str> {
    if full.contains("{{") || full.starts_with("fn(") || full.starts_with('&') {
        return None;
    }
    type_short_name(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() {}

    #[test]
    fn names_from_type_names() {
        assert_eq!(fn_item_name(std::any::type_name_of_val(&run)), Some("run"));
        let c = || ();
        assert_eq!(fn_item_name(std::any::type_name_of_val(&c)), None);
        let p: fn() = run;
        assert_eq!(fn_item_name(std::any::type_name_of_val(&p)), None);
        assert_eq!(
            type_short_name("a::b::AddThread<u8, c::D>"),
            Some("AddThread")
        );
        assert_eq!(type_short_name("(u8, u8)"), None);
        assert_eq!(type_short_name("a::Pool<b::C<u8>>::run"), Some("run"));
        assert_eq!(type_short_name("<a::B as c::D>::go"), Some("go"));
        assert_eq!(type_short_name("Plain"), Some("Plain"));
    }
}
