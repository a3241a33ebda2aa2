//! [`Queue`]: a typed FIFO shared by processes (Python's `multiprocessing.Queue`).

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::event::PollFlags;
use rustix::thread::futex;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::shm::Segment;
use super::wire;
use crate::primitive::Mutex;
use crate::time::TimeoutOverflow;

/// Why [`Queue::put`] failed; the item is handed back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PutError<T> {
    /// The item could not be serialized.
    Serialization {
        /// The item.
        value: T,
        /// What the serializer said.
        message: String,
    },
    /// Another I/O error.
    Io {
        /// The item.
        value: T,
        /// The error's text.
        message: String,
    },
}

impl<T> PutError<T> {
    /// The item that was not put.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::process::{PutError, Queue};
    ///
    /// // More process handles than one message can carry.
    /// let q = Queue::<Vec<Queue<u8>>>::new().unwrap();
    /// let many: Vec<Queue<u8>> = (0..30).map(|_| Queue::new().unwrap()).collect();
    /// let err = q.put(many).unwrap_err();
    /// assert!(matches!(err, PutError::Serialization { .. }));
    /// assert_eq!(err.into_inner().len(), 30);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            PutError::Serialization { value, .. } | PutError::Io { value, .. } => value,
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Serialization { message, .. } => write!(f, "cannot serialize: {message}"),
            PutError::Io { message, .. } => write!(f, "I/O error: {message}"),
        }
    }
}

impl<T: fmt::Debug> std::error::Error for PutError<T> {}

/// Why [`Queue::put_timeout`] failed; the item is handed back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PutTimeoutError<T> {
    /// The queue stayed full until the timeout (Python's `queue.Full`).
    Timeout(T),
    /// The timeout is too large for the clock.
    Overflow(T, TimeoutOverflow),
    /// As [`Queue::put`].
    Failed(PutError<T>),
}

impl<T> fmt::Display for PutTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutTimeoutError::Timeout(_) => f.write_str("timed out: the queue is full"),
            PutTimeoutError::Overflow(_, e) => e.fmt(f),
            PutTimeoutError::Failed(e) => e.fmt(f),
        }
    }
}

impl<T: fmt::Debug> std::error::Error for PutTimeoutError<T> {}

/// Why [`Queue::get`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GetError {
    /// An item arrived that is not a valid `T` (it is dropped; the queue goes on).
    Corrupt {
        /// What the deserializer said.
        message: String,
    },
    /// Another I/O error.
    Io {
        /// The error's text.
        message: String,
    },
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::Corrupt { message } => write!(f, "corrupt queue item: {message}"),
            GetError::Io { message } => write!(f, "I/O error: {message}"),
        }
    }
}

impl std::error::Error for GetError {}

/// Why [`Queue::get_timeout`] or [`Queue::try_get`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GetTimeoutError {
    /// No item came before the timeout (Python's `queue.Empty`).
    Timeout,
    /// The timeout is too large for the clock.
    Overflow(TimeoutOverflow),
    /// As [`Queue::get`].
    Failed(GetError),
}

impl fmt::Display for GetTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetTimeoutError::Timeout => f.write_str("timed out: the queue is empty"),
            GetTimeoutError::Overflow(e) => e.fmt(f),
            GetTimeoutError::Failed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for GetTimeoutError {}

#[derive(Debug)]
struct Inner {
    /// Every handle writes here...
    tx: OwnedFd,
    /// ...and reads whole messages here (`SOCK_SEQPACKET`: one `recv` is one item).
    rx: OwnedFd,
    /// Word 0: items put and not yet got (reserved slots, for `maxsize`); word 1: `maxsize`.
    counts: Segment,
    /// Receive buffer, as long as the largest message.
    buf: Mutex<Vec<u8>>,
}

/// Items encoded to more bytes than this go through a memfd whose descriptor is sent instead
/// (a large `SOCK_SEQPACKET` message needs a large contiguous kernel allocation).
const INLINE_MAX: usize = 32 * 1024;
const TAG_INLINE: u8 = 0;
const TAG_MEMFD: u8 = 1;

fn to_memfd(bytes: &[u8]) -> io::Result<OwnedFd> {
    use std::io::Write;
    let fd = rustix::fs::memfd_create("threadkit-queue-item", rustix::fs::MemfdFlags::CLOEXEC)?;
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes)?;
    Ok(file.into())
}

fn from_memfd(fd: OwnedFd) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::from(fd);
    let len = file.metadata()?.len() as usize;
    let mut bytes = vec![0u8; len];
    file.read_exact_at(&mut bytes, 0)?;
    Ok(bytes)
}

/// A FIFO queue of `T` shared by processes (Python's `multiprocessing.Queue`): many
/// producers and many consumers, in any processes that got a copy of the handle (as a process
/// argument, through a connection, another queue, or a pool task).
///
/// Items are serialized with postcard and sent as one `SOCK_SEQPACKET` message each, so
/// producers and consumers never interleave partial items and no lock is needed. The kernel
/// buffers a few hundred small items before `put` waits for a consumer — as with Python's, a
/// process that puts many items should not be joined before they are consumed. With a
/// `maxsize` ([`Queue::bounded`]), `put` waits while that many items are in the queue. Items
/// larger than 32 KiB once encoded travel in a memfd of their own, so there is no size limit.
///
/// # Examples
///
/// ```
/// use threadkit::process::{Process, Queue};
///
/// fn squares(q: Queue<u64>) {
///     let n = q.get().unwrap();
///     for i in 1..=n {
///         q.put(i * i).unwrap();
///     }
/// }
///
/// threadkit::process::init();
/// let q = Queue::new().unwrap();
/// q.put(5).unwrap();
/// let mut child = Process::spawn(squares, q.clone()).unwrap();
/// child.join().unwrap();
/// let mut got = Vec::new();
/// while let Ok(v) = q.try_get() {
///     got.push(v);
/// }
/// assert_eq!(got, [1, 4, 9, 16, 25]);
/// ```
pub struct Queue<T> {
    inner: Arc<Inner>,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            inner: self.inner.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("qsize", &self.qsize())
            .field("maxsize", &self.maxsize())
            .finish()
    }
}

impl<T> Queue<T> {
    /// A queue without a size limit (Python's `Queue()`; see the type's docs for the kernel's
    /// buffering).
    ///
    /// # Errors
    ///
    /// The error of `socketpair`/`memfd_create`/`mmap` (out of descriptors or memory).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = threadkit::process::Queue::<u8>::new().unwrap();
    /// assert!(q.is_empty());
    /// ```
    pub fn new() -> io::Result<Queue<T>> {
        Queue::bounded(0)
    }

    /// A queue holding at most `maxsize` items (Python's `Queue(maxsize)`); 0 means no limit.
    ///
    /// # Errors
    ///
    /// As [`Queue::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q = threadkit::process::Queue::bounded(1).unwrap();
    /// q.put(1u8).unwrap();
    /// assert!(q.is_full());
    /// ```
    pub fn bounded(maxsize: usize) -> io::Result<Queue<T>> {
        use rustix::net::{AddressFamily, SocketFlags, SocketType};
        let (tx, rx) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )?;
        // As much room as the system allows (capped by net.core.wmem_max).
        let _ = rustix::net::sockopt::set_socket_send_buffer_size(&tx, 1 << 20);
        let counts = Segment::new(8)?;
        let max = u32::try_from(maxsize).unwrap_or(u32::MAX);
        counts.word(4).store(max, Ordering::Relaxed);
        Ok(Queue::from_parts(tx, rx, counts))
    }

    fn from_parts(tx: OwnedFd, rx: OwnedFd, counts: Segment) -> Queue<T> {
        Queue {
            inner: Arc::new(Inner {
                tx,
                rx,
                counts,
                buf: Mutex::new(vec![0; INLINE_MAX + 1]),
            }),
            _t: PhantomData,
        }
    }

    fn count(&self) -> &AtomicU32 {
        self.inner.counts.word(0)
    }

    /// The size limit; 0 for none.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadkit::process::Queue::<u8>::bounded(3).unwrap().maxsize(), 3);
    /// ```
    pub fn maxsize(&self) -> usize {
        self.inner.counts.word(4).load(Ordering::Relaxed) as usize
    }

    /// The number of items in the queue, in every process (Python's `qsize()`; approximate while
    /// others put and get).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = threadkit::process::Queue::new().unwrap();
    /// q.put('a').unwrap();
    /// assert_eq!(q.qsize(), 1);
    /// ```
    pub fn qsize(&self) -> usize {
        self.count().load(Ordering::SeqCst) as usize
    }

    /// Whether no item can be got at this moment (Python's `empty()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = threadkit::process::Queue::<u8>::new().unwrap();
    /// assert!(q.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        !wire::wait_fd(self.inner.rx.as_fd(), PollFlags::IN, Some(Instant::now())).unwrap_or(false)
    }

    /// Whether a bounded queue holds `maxsize` items (Python's `full()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = threadkit::process::Queue::<u8>::new().unwrap();
    /// assert!(!q.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        let max = self.maxsize();
        max > 0 && self.qsize() >= max
    }

    /// Reserves a slot (bounded queues); `false` on timeout.
    fn reserve(&self, deadline: Option<Instant>) -> bool {
        let max = self.maxsize() as u32;
        let c = self.count();
        let mut cur = c.load(Ordering::SeqCst);
        loop {
            if max == 0 || cur < max {
                match c.compare_exchange_weak(cur, cur + 1, Ordering::SeqCst, Ordering::SeqCst) {
                    Ok(_) => return true,
                    Err(now) => cur = now,
                }
                continue;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            let timeout =
                deadline.map(|d| wire::timespec(d.saturating_duration_since(Instant::now())));
            let _ = futex::wait(c, futex::Flags::empty(), cur, timeout.as_ref());
            cur = c.load(Ordering::SeqCst);
        }
    }

    fn unreserve(&self) {
        self.count().fetch_sub(1, Ordering::SeqCst);
        if self.maxsize() > 0 {
            let _ = futex::wake(self.count(), futex::Flags::empty(), 1);
        }
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    fn put_until(&self, value: T, deadline: Option<Instant>) -> Result<(), PutTimeoutError<T>> {
        let (mut bytes, mut fds) = match wire::encode(&value) {
            Ok(x) => x,
            Err(message) => {
                return Err(PutTimeoutError::Failed(PutError::Serialization {
                    value,
                    message,
                }))
            }
        };
        if bytes.len() > INLINE_MAX {
            match to_memfd(&bytes) {
                Ok(fd) => fds.push(fd),
                Err(e) => {
                    let message = e.to_string();
                    return Err(PutTimeoutError::Failed(PutError::Io { value, message }));
                }
            }
            bytes = vec![TAG_MEMFD];
        } else {
            bytes.insert(0, TAG_INLINE);
        }
        if !self.reserve(deadline) {
            return Err(PutTimeoutError::Timeout(value));
        }
        loop {
            match wire::send_packet(self.inner.tx.as_fd(), &bytes, &fds) {
                Ok(_) => return Ok(()),
                Err(rustix::io::Errno::AGAIN) => {
                    match wire::wait_fd(self.inner.tx.as_fd(), PollFlags::OUT, deadline) {
                        Ok(true) => {}
                        Ok(false) => {
                            self.unreserve();
                            return Err(PutTimeoutError::Timeout(value));
                        }
                        Err(e) => {
                            self.unreserve();
                            let message = e.to_string();
                            return Err(PutTimeoutError::Failed(PutError::Io { value, message }));
                        }
                    }
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    self.unreserve();
                    let message = e.to_string();
                    return Err(PutTimeoutError::Failed(PutError::Io { value, message }));
                }
            }
        }
    }

    /// Puts an item at the back (Python's `put(obj)`), waiting while a bounded queue is full or
    /// the kernel's buffer is.
    ///
    /// # Errors
    ///
    /// [`PutError`] (with the item) when it is too large or cannot be serialized.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = threadkit::process::Queue::new().unwrap();
    /// q.put("x".to_owned()).unwrap();
    /// assert_eq!(q.get().unwrap(), "x");
    /// ```
    pub fn put(&self, value: T) -> Result<(), PutError<T>> {
        self.put_until(value, None).map_err(|e| match e {
            PutTimeoutError::Failed(e) => e,
            PutTimeoutError::Timeout(value) | PutTimeoutError::Overflow(value, _) => PutError::Io {
                value,
                message: "unexpected timeout".into(),
            },
        })
    }

    /// Puts an item, waiting at most `timeout` for room (Python's `put(obj, timeout=t)`).
    ///
    /// # Errors
    ///
    /// [`PutTimeoutError::Timeout`] (Python's `Full`) with the item when there was no room in
    /// time, [`PutTimeoutError::Overflow`] for a timeout past the clock's range, and
    /// [`PutTimeoutError::Failed`] as [`put`](Queue::put).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::process::{PutTimeoutError, Queue};
    ///
    /// let q = Queue::bounded(1).unwrap();
    /// q.put(1).unwrap();
    /// assert_eq!(q.put_timeout(2, Duration::from_millis(10)), Err(PutTimeoutError::Timeout(2)));
    /// ```
    pub fn put_timeout(&self, value: T, timeout: Duration) -> Result<(), PutTimeoutError<T>> {
        let deadline = match crate::time::deadline_after(timeout) {
            Ok(d) => d,
            Err(e) => return Err(PutTimeoutError::Overflow(value, e)),
        };
        self.put_until(value, Some(deadline))
    }

    /// Puts an item only if there is room now (Python's `put_nowait`).
    ///
    /// # Errors
    ///
    /// As [`put_timeout`](Queue::put_timeout), `Timeout` meaning full.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = threadkit::process::Queue::bounded(1).unwrap();
    /// assert!(q.try_put(1).is_ok());
    /// assert!(q.try_put(2).is_err());
    /// ```
    pub fn try_put(&self, value: T) -> Result<(), PutTimeoutError<T>> {
        self.put_until(value, Some(Instant::now()))
    }

    fn get_until(&self, deadline: Option<Instant>) -> Result<T, GetTimeoutError> {
        let fail = |e: rustix::io::Errno| {
            GetTimeoutError::Failed(GetError::Io {
                message: e.to_string(),
            })
        };
        loop {
            let received = {
                let mut buf = self.inner.buf.lock();
                match wire::recv_packet(self.inner.rx.as_fd(), &mut buf) {
                    Ok((n, truncated, fds)) => Some((buf[..n].to_vec(), truncated, fds)),
                    Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => None,
                    Err(e) => return Err(fail(e)),
                }
            };
            if let Some((bytes, truncated, mut fds)) = received {
                self.unreserve();
                let corrupt =
                    |message: String| GetTimeoutError::Failed(GetError::Corrupt { message });
                if truncated {
                    return Err(corrupt("item truncated".into()));
                }
                let bytes = match bytes.first() {
                    Some(&TAG_INLINE) => bytes[1..].to_vec(),
                    Some(&TAG_MEMFD) if bytes.len() == 1 => match fds.pop() {
                        Some(fd) => from_memfd(fd).map_err(|e| corrupt(e.to_string()))?,
                        None => return Err(corrupt("item without its memfd".into())),
                    },
                    _ => return Err(corrupt("unknown item tag".into())),
                };
                return wire::decode(&bytes, fds).map_err(corrupt);
            }
            match wire::wait_fd(self.inner.rx.as_fd(), PollFlags::IN, deadline) {
                Ok(true) => {}
                Ok(false) => return Err(GetTimeoutError::Timeout),
                Err(e) => {
                    return Err(GetTimeoutError::Failed(GetError::Io {
                        message: e.to_string(),
                    }))
                }
            }
        }
    }

    /// Removes and returns the item at the front, waiting for one (Python's `get()`).
    ///
    /// # Errors
    ///
    /// [`GetError::Corrupt`] for an item that is not a valid `T` (dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = threadkit::process::Queue::new().unwrap();
    /// q.put(3u8).unwrap();
    /// assert_eq!(q.get(), Ok(3));
    /// ```
    pub fn get(&self) -> Result<T, GetError> {
        self.get_until(None).map_err(|e| match e {
            GetTimeoutError::Failed(e) => e,
            other => GetError::Io {
                message: other.to_string(),
            },
        })
    }

    /// Waits at most `timeout` for an item (Python's `get(timeout=t)`).
    ///
    /// # Errors
    ///
    /// [`GetTimeoutError::Timeout`] (Python's `Empty`), [`GetTimeoutError::Overflow`] for a
    /// timeout past the clock's range, [`GetTimeoutError::Failed`] as [`get`](Queue::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::process::{GetTimeoutError, Queue};
    ///
    /// let q = Queue::<u8>::new().unwrap();
    /// assert_eq!(q.get_timeout(Duration::from_millis(10)), Err(GetTimeoutError::Timeout));
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetTimeoutError> {
        let deadline = crate::time::deadline_after(timeout).map_err(GetTimeoutError::Overflow)?;
        self.get_until(Some(deadline))
    }

    /// Returns an item if one is there now (Python's `get_nowait()`).
    ///
    /// # Errors
    ///
    /// As [`get_timeout`](Queue::get_timeout), `Timeout` meaning empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = threadkit::process::Queue::<u8>::new().unwrap();
    /// assert!(q.try_get().is_err());
    /// ```
    pub fn try_get(&self) -> Result<T, GetTimeoutError> {
        self.get_until(Some(Instant::now()))
    }
}

/// Serializes a descriptor.
struct FdOut<'a>(std::os::fd::BorrowedFd<'a>);

impl Serialize for FdOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        wire::serialize_fd(self.0, s)
    }
}

struct FdIn(OwnedFd);

impl<'de> Deserialize<'de> for FdIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        wire::deserialize_fd(d).map(FdIn)
    }
}

impl<T> Serialize for Queue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (
            FdOut(self.inner.tx.as_fd()),
            FdOut(self.inner.rx.as_fd()),
            FdOut(self.inner.counts.fd()),
        )
            .serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for Queue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let (tx, rx, counts) = <(FdIn, FdIn, FdIn)>::deserialize(d)?;
        let counts = Segment::from_fd(counts.0, 8).map_err(D::Error::custom)?;
        Ok(Queue::from_parts(tx.0, rx.0, counts))
    }
}
