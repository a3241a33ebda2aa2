//! [`pipe`] and [`Connection`]: a duplex, typed channel between two processes.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::wire::{self, FrameSocket, RecvFail, SendFail};
use crate::time::TimeoutOverflow;

/// The default largest message a [`Connection`] sends or accepts: 256 MiB.
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 256 << 20;

/// Why [`Connection::send`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The other end is closed (Python's `BrokenPipeError`).
    Disconnected,
    /// The encoded message is longer than this end's limit
    /// ([`Connection::set_max_message_len`]).
    TooLarge {
        /// The encoded length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The value could not be serialized.
    Serialization {
        /// What the serializer said.
        message: String,
    },
    /// Another I/O error.
    Io {
        /// The error's text.
        message: String,
    },
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Disconnected => f.write_str("the other end of the connection is closed"),
            SendError::TooLarge { len, max } => {
                write!(f, "message too large: {len} bytes, the limit is {max}")
            }
            SendError::Serialization { message } => write!(f, "cannot serialize: {message}"),
            SendError::Io { message } => write!(f, "I/O error: {message}"),
        }
    }
}

impl std::error::Error for SendError {}

/// Why [`Connection::send_timeout`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendTimeoutError {
    /// The other end did not make room before the timeout; nothing was sent.
    Timeout,
    /// The timeout is too large for the clock.
    Overflow(TimeoutOverflow),
    /// As [`Connection::send`].
    Failed(SendError),
}

impl fmt::Display for SendTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendTimeoutError::Timeout => f.write_str("timed out waiting to send"),
            SendTimeoutError::Overflow(e) => e.fmt(f),
            SendTimeoutError::Failed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SendTimeoutError {}

/// Why [`Connection::recv`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecvError {
    /// The other end is closed and every message it sent was received (Python's `EOFError`).
    Disconnected,
    /// The next message announces more bytes than this end accepts; the connection cannot be
    /// used for receiving any more.
    TooLarge {
        /// The announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A whole message arrived but is not a valid `T` (a peer of another type, or corrupt
    /// bytes); the message is dropped and the connection stays usable.
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

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Disconnected => f.write_str("the other end of the connection is closed"),
            RecvError::TooLarge { len, max } => {
                write!(
                    f,
                    "incoming message too large: {len} bytes, the limit is {max}"
                )
            }
            RecvError::Corrupt { message } => write!(f, "corrupt message: {message}"),
            RecvError::Io { message } => write!(f, "I/O error: {message}"),
        }
    }
}

impl std::error::Error for RecvError {}

/// Why [`Connection::recv_timeout`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecvTimeoutError {
    /// No whole message arrived before the timeout.
    Timeout,
    /// The timeout is too large for the clock.
    Overflow(TimeoutOverflow),
    /// As [`Connection::recv`].
    Failed(RecvError),
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvTimeoutError::Timeout => f.write_str("timed out waiting for a message"),
            RecvTimeoutError::Overflow(e) => e.fmt(f),
            RecvTimeoutError::Failed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for RecvTimeoutError {}

/// One end of a [`pipe`]: sends and receives values of type `T` (Python's
/// `multiprocessing.connection.Connection`).
///
/// Messages are serialized with postcard and framed with their length over a Unix stream
/// socket. A `Connection` is `Send + Sync` (one sender and one receiver at a time; others wait)
/// and can itself be sent to a child as an argument, through another connection or a queue.
/// Each process holding an end keeps it open: drop the ends a process does not use, or the
/// other side never sees [`RecvError::Disconnected`].
///
/// # Examples
///
/// ```
/// use threadkit::process::pipe;
///
/// let (a, b) = pipe::<String>().unwrap();
/// a.send(&"hello".to_owned()).unwrap();
/// assert_eq!(b.recv().unwrap(), "hello");
/// b.send(&"back".to_owned()).unwrap();
/// assert_eq!(a.recv().unwrap(), "back");
/// ```
pub struct Connection<T> {
    sock: FrameSocket,
    max_len: AtomicUsize,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> fmt::Debug for Connection<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("fd", &self.sock.fd())
            .finish_non_exhaustive()
    }
}

/// A connected pair of [`Connection`]s (Python's `multiprocessing.Pipe()`, duplex).
///
/// # Errors
///
/// The `socketpair(2)` error, if any (too many open files).
///
/// # Examples
///
/// ```no_run
/// use threadkit::process::{pipe, Connection, Process};
///
/// fn child(conn: Connection<u32>) {
///     let n = conn.recv().unwrap();
///     for i in 1..=n {
///         conn.send(&(i * i)).unwrap();
///     }
/// }
///
/// threadkit::process::init();
/// let (parent_conn, child_conn) = pipe::<u32>().unwrap();
/// let mut p = Process::spawn(child, child_conn).unwrap();
/// parent_conn.send(&3).unwrap();
/// let squares: Vec<u32> = (0..3).map(|_| parent_conn.recv().unwrap()).collect();
/// assert_eq!(squares, [1, 4, 9]);
/// p.join().unwrap();
/// ```
pub fn pipe<T>() -> io::Result<(Connection<T>, Connection<T>)> {
    let (a, b) = FrameSocket::pair()?;
    Ok((Connection::from_socket(a), Connection::from_socket(b)))
}

impl<T> Connection<T> {
    fn from_socket(sock: FrameSocket) -> Connection<T> {
        Connection {
            sock,
            max_len: AtomicUsize::new(DEFAULT_MAX_MESSAGE_LEN),
            _t: PhantomData,
        }
    }

    /// Sets the largest message this end sends or accepts (default
    /// [`DEFAULT_MAX_MESSAGE_LEN`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::process::{pipe, SendError};
    ///
    /// let (a, _b) = pipe::<Vec<u8>>().unwrap();
    /// a.set_max_message_len(10);
    /// assert!(matches!(a.send(&vec![0; 100]), Err(SendError::TooLarge { max: 10, .. })));
    /// ```
    pub fn set_max_message_len(&self, max: usize) {
        self.max_len.store(max, Ordering::Relaxed);
    }

    /// The largest message this end sends or accepts.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = threadkit::process::pipe::<u8>().unwrap();
    /// assert_eq!(a.max_message_len(), threadkit::process::DEFAULT_MAX_MESSAGE_LEN);
    /// ```
    pub fn max_message_len(&self) -> usize {
        self.max_len.load(Ordering::Relaxed)
    }

    /// Whether a message (or the end of the stream) is ready to be received, waiting at most
    /// `timeout` (Python's `poll(timeout)`; `Duration::ZERO` does not wait).
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Overflow`] for a timeout past the clock's range;
    /// [`RecvTimeoutError::Failed`] for an I/O error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (a, b) = threadkit::process::pipe::<u8>().unwrap();
    /// assert_eq!(b.poll(Duration::ZERO), Ok(false));
    /// a.send(&1).unwrap();
    /// assert_eq!(b.poll(Duration::from_secs(10)), Ok(true));
    /// ```
    pub fn poll(&self, timeout: Duration) -> Result<bool, RecvTimeoutError> {
        let deadline = crate::time::deadline_after(timeout).map_err(RecvTimeoutError::Overflow)?;
        self.sock.poll_readable(Some(deadline)).map_err(|e| {
            RecvTimeoutError::Failed(RecvError::Io {
                message: e.to_string(),
            })
        })
    }
}

impl<T: Serialize + DeserializeOwned> Connection<T> {
    fn send_until(&self, value: &T, deadline: Option<Instant>) -> Result<(), SendTimeoutError> {
        let fail = SendTimeoutError::Failed;
        let (bytes, fds) =
            wire::encode(value).map_err(|message| fail(SendError::Serialization { message }))?;
        let max = self.max_message_len();
        if bytes.len() > max {
            return Err(fail(SendError::TooLarge {
                len: bytes.len(),
                max,
            }));
        }
        self.sock.send(&bytes, &fds, deadline).map_err(|e| match e {
            SendFail::Timeout => SendTimeoutError::Timeout,
            SendFail::Disconnected => fail(SendError::Disconnected),
            SendFail::Io(e) => fail(SendError::Io {
                message: e.to_string(),
            }),
        })
    }

    /// Sends a value (Python's `send(obj)`), waiting while the other end's buffer is full.
    ///
    /// # Errors
    ///
    /// [`SendError::Disconnected`] when the other end is closed, [`SendError::TooLarge`] past
    /// the message limit, [`SendError::Serialization`] when `value` cannot be serialized.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::process::{pipe, SendError};
    ///
    /// let (a, b) = pipe::<u8>().unwrap();
    /// a.send(&7).unwrap();
    /// drop(b);
    /// assert_eq!(a.send(&8), Err(SendError::Disconnected));
    /// ```
    pub fn send(&self, value: &T) -> Result<(), SendError> {
        self.send_until(value, None).map_err(|e| match e {
            SendTimeoutError::Failed(e) => e,
            other => SendError::Io {
                message: other.to_string(),
            },
        })
    }

    /// Sends a value, waiting at most `timeout` for room.
    ///
    /// The timeout covers the wait before the message's first byte: on `Timeout` nothing of it
    /// was sent. A message that started but did not fit whole before the timeout is committed:
    /// its rest is kept by this end and written before the next message (whose own timeout
    /// then covers that wait), or when this end is dropped (which then waits for the reader).
    ///
    /// # Errors
    ///
    /// [`SendTimeoutError::Timeout`] when nothing could be written in time (nothing was sent),
    /// [`SendTimeoutError::Overflow`] for a timeout past the clock's range, and the errors of
    /// [`send`](Connection::send) as [`SendTimeoutError::Failed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::process::{pipe, SendTimeoutError};
    ///
    /// let (a, _b) = pipe::<Vec<u8>>().unwrap();
    /// let big = vec![0u8; 64 * 1024];
    /// // Nobody reads: the socket buffer fills up and a send finally times out.
    /// let mut result = Ok(());
    /// for _ in 0..1000 {
    ///     result = a.send_timeout(&big, Duration::from_millis(20));
    ///     if result.is_err() {
    ///         break;
    ///     }
    /// }
    /// assert_eq!(result, Err(SendTimeoutError::Timeout));
    /// ```
    pub fn send_timeout(&self, value: &T, timeout: Duration) -> Result<(), SendTimeoutError> {
        let deadline = crate::time::deadline_after(timeout).map_err(SendTimeoutError::Overflow)?;
        self.send_until(value, Some(deadline))
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        let fail = RecvTimeoutError::Failed;
        let max = self.max_message_len();
        let (bytes, fds) = self.sock.recv(max, deadline).map_err(|e| match e {
            RecvFail::Timeout => RecvTimeoutError::Timeout,
            RecvFail::Disconnected => fail(RecvError::Disconnected),
            RecvFail::TooLarge(len) => fail(RecvError::TooLarge { len, max }),
            RecvFail::Io(e) => fail(RecvError::Io {
                message: e.to_string(),
            }),
        })?;
        wire::decode(&bytes, fds).map_err(|message| fail(RecvError::Corrupt { message }))
    }

    /// Receives a value (Python's `recv()`), waiting for one.
    ///
    /// # Errors
    ///
    /// [`RecvError::Disconnected`] once the other end is closed and everything was received;
    /// [`RecvError::TooLarge`] / [`RecvError::Corrupt`] for a message this end cannot accept.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::process::{pipe, RecvError};
    ///
    /// let (a, b) = pipe::<u8>().unwrap();
    /// a.send(&1).unwrap();
    /// drop(a);
    /// assert_eq!(b.recv(), Ok(1));
    /// assert_eq!(b.recv(), Err(RecvError::Disconnected));
    /// ```
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_until(None).map_err(|e| match e {
            RecvTimeoutError::Failed(e) => e,
            other => RecvError::Io {
                message: other.to_string(),
            },
        })
    }

    /// Receives a value, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] when no whole message arrived in time (a partly received
    /// one is kept for the next call), [`RecvTimeoutError::Overflow`] for a timeout past the
    /// clock's range, and the errors of [`recv`](Connection::recv) as
    /// [`RecvTimeoutError::Failed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use threadkit::process::{pipe, RecvTimeoutError};
    ///
    /// let (a, b) = pipe::<u8>().unwrap();
    /// assert_eq!(b.recv_timeout(Duration::from_millis(10)), Err(RecvTimeoutError::Timeout));
    /// a.send(&5).unwrap();
    /// assert_eq!(b.recv_timeout(Duration::from_secs(10)), Ok(5));
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        let deadline = crate::time::deadline_after(timeout).map_err(RecvTimeoutError::Overflow)?;
        self.recv_until(Some(deadline))
    }
}

impl<T> AsFd for Connection<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.fd()
    }
}

impl<T> Serialize for Connection<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        wire::serialize_fd(self.sock.fd(), s)
    }
}

impl<'de, T> Deserialize<'de> for Connection<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Connection::from_socket(FrameSocket::new(
            wire::deserialize_fd(d)?,
        )))
    }
}
