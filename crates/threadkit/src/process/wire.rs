//! The transport under every cross-process channel: postcard encoding with file descriptors
//! carried beside the bytes (`SCM_RIGHTS`), length-prefixed frames over a stream socket, and
//! whole messages over a `SOCK_SEQPACKET` socket.
//!
//! A handle that owns a file descriptor (a [`Connection`](super::Connection), a shared
//! [`Value`](super::Value), a [`Lock`](super::Lock), ...) serializes as an index into the list of
//! descriptors sent with the message; the receiver gets its own copies of those descriptors from
//! the kernel and the handle deserializes from its index. This is what makes such handles
//! sendable to a child as arguments, through a pipe, a queue, or to a pool task.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::primitive::Mutex;

/// Largest number of descriptors one message may carry (the kernel's `SCM_MAX_FD` is 253).
pub(crate) const MAX_FDS: usize = 64;

thread_local! {
    static OUT_FDS: RefCell<Option<Vec<OwnedFd>>> = const { RefCell::new(None) };
    static IN_FDS: RefCell<Option<Vec<Option<OwnedFd>>>> = const { RefCell::new(None) };
}

/// Serializes `value` with postcard, collecting the descriptors of the handles inside it.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<(Vec<u8>, Vec<OwnedFd>), String> {
    let previous = OUT_FDS.with(|c| c.borrow_mut().replace(Vec::new()));
    let bytes = postcard::to_stdvec(value);
    let fds = OUT_FDS.with(|c| std::mem::replace(&mut *c.borrow_mut(), previous));
    let fds = fds.unwrap_or_default();
    let bytes = bytes.map_err(|e| e.to_string())?;
    if fds.len() > MAX_FDS {
        return Err(format!(
            "a message may carry at most {MAX_FDS} process handles, this one has {}",
            fds.len()
        ));
    }
    Ok((bytes, fds))
}

/// Deserializes a value encoded by [`encode`], handing `fds` to the handles inside it.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], fds: Vec<OwnedFd>) -> Result<T, String> {
    let table = fds.into_iter().map(Some).collect();
    let previous = IN_FDS.with(|c| c.borrow_mut().replace(table));
    let value = postcard::from_bytes(bytes);
    IN_FDS.with(|c| *c.borrow_mut() = previous);
    value.map_err(|e| e.to_string())
}

/// Serializes a descriptor as an index into the message's descriptor list.
pub(crate) fn serialize_fd<S: Serializer>(fd: BorrowedFd<'_>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::Error;
    let index = OUT_FDS.with(|c| -> Result<u32, String> {
        let mut c = c.borrow_mut();
        let list = c.as_mut().ok_or_else(|| {
            "a threadkit::process handle can only be serialized by threadkit::process \
             (as a process argument, or through a Connection, Queue or ProcessPool)"
                .to_owned()
        })?;
        let dup = rustix::io::fcntl_dupfd_cloexec(fd, 0).map_err(|e| e.to_string())?;
        list.push(dup);
        Ok(list.len() as u32 - 1)
    });
    index.map_err(S::Error::custom)?.serialize(s)
}

/// Deserializes a descriptor written by [`serialize_fd`].
pub(crate) fn deserialize_fd<'de, D: Deserializer<'de>>(d: D) -> Result<OwnedFd, D::Error> {
    use serde::de::Error;
    let index = u32::deserialize(d)? as usize;
    IN_FDS.with(|c| {
        c.borrow_mut()
            .as_mut()
            .and_then(|table| table.get_mut(index))
            .and_then(Option::take)
            .ok_or_else(|| D::Error::custom("a process handle without its file descriptor"))
    })
}

/// Waits until `fd` is ready for `events` or `deadline` passes; `Ok(false)` on timeout.
pub(crate) fn wait_fd(
    fd: BorrowedFd<'_>,
    events: PollFlags,
    deadline: Option<Instant>,
) -> io::Result<bool> {
    loop {
        let timeout = match deadline {
            None => None,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                Some(timespec(left))
            }
        };
        let mut fds = [PollFd::from_borrowed_fd(fd, events)];
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(0) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(false);
                }
            }
            Ok(_) => return Ok(true),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

pub(crate) fn timespec(d: Duration) -> rustix::thread::futex::Timespec {
    rustix::thread::futex::Timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: d.subsec_nanos().into(),
    }
}

/// Why a frame could not be sent.
#[derive(Debug)]
pub(crate) enum SendFail {
    /// Nothing was written before the deadline.
    Timeout,
    /// The other end is closed.
    Disconnected,
    /// Another I/O error.
    Io(io::Error),
}

/// Why a frame could not be received.
#[derive(Debug)]
pub(crate) enum RecvFail {
    /// No whole frame arrived before the deadline (a partial one is kept for the next call).
    Timeout,
    /// The other end is closed.
    Disconnected,
    /// The header announced a frame longer than the limit; the stream cannot be resynchronized.
    TooLarge(usize),
    /// Another I/O error.
    Io(io::Error),
}

/// Flags of one send: without a deadline the call may block in the kernel (one system call
/// instead of a failed attempt, a `poll` and a retry); with one it never blocks.
fn send_flags(block: bool) -> SendFlags {
    if block {
        SendFlags::NOSIGNAL
    } else {
        SendFlags::DONTWAIT | SendFlags::NOSIGNAL
    }
}

fn recv_flags(block: bool) -> RecvFlags {
    if block {
        RecvFlags::CMSG_CLOEXEC
    } else {
        RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC
    }
}

/// Sends `iov` with `fds` attached in one `sendmsg`; returns the bytes written.
fn sendmsg_fds(
    fd: BorrowedFd<'_>,
    iov: &[IoSlice<'_>],
    fds: &[OwnedFd],
    block: bool,
) -> rustix::io::Result<usize> {
    let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(|f| f.as_fd()).collect();
    sendmsg_borrowed(fd, iov, &borrowed, block)
}

/// [`sendmsg_fds`] with borrowed descriptors (at most [`MAX_FDS`]).
fn sendmsg_borrowed(
    fd: BorrowedFd<'_>,
    iov: &[IoSlice<'_>],
    borrowed: &[BorrowedFd<'_>],
    block: bool,
) -> rustix::io::Result<usize> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS + 2))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !borrowed.is_empty() {
        let pushed = control.push(SendAncillaryMessage::ScmRights(borrowed));
        debug_assert!(pushed);
    }
    rustix::net::sendmsg(fd, iov, &mut control, send_flags(block))
}

/// Receives into `buf`, appending received descriptors to `fds`; returns the bytes read.
fn recvmsg_fds(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut VecDeque<OwnedFd>,
    block: bool,
) -> rustix::io::Result<(usize, bool)> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS + 2))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = rustix::net::recvmsg(fd, &mut iov, &mut control, recv_flags(block))?;
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = m {
            fds.extend(rights);
        }
    }
    let truncated = msg.flags.contains(rustix::net::ReturnFlags::TRUNC);
    Ok((msg.bytes, truncated))
}

fn is_disconnect(e: rustix::io::Errno) -> bool {
    matches!(
        e,
        rustix::io::Errno::PIPE | rustix::io::Errno::CONNRESET | rustix::io::Errno::NOTCONN
    )
}

const HEADER: usize = 8;

/// What was read from a [`FrameSocket`] and not handed out yet: the bytes `buf[start..end]`
/// (the buffer is kept between calls, so one read takes in many small frames, and a frame
/// handed out costs no move of those after it) and the descriptors that came with them.
#[derive(Debug, Default)]
struct ReadState {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    fds: VecDeque<OwnedFd>,
    broken: Option<usize>,
}

impl ReadState {
    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The announced length of the next frame, once its header is read.
    fn next_len(&self) -> Option<usize> {
        let p = self.pending();
        (p.len() >= HEADER).then(|| u32::from_le_bytes(p[..4].try_into().unwrap()) as usize)
    }

    /// Whether the whole next frame (its bytes, not necessarily its descriptors) is read.
    fn has_frame(&self) -> bool {
        self.next_len()
            .is_some_and(|len| self.end - self.start >= HEADER + len)
    }

    /// Makes room for at least `want` more bytes after `end`.
    fn reserve(&mut self, want: usize) {
        if self.buf.len() - self.end >= want {
            return;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < want {
            self.buf.resize(self.end + want, 0);
        }
    }
}

/// A stream socket carrying length-prefixed frames (`u32` length, `u32` descriptor count, bytes),
/// usable from several threads (one reader and one writer at a time).
#[derive(Debug)]
pub(crate) struct FrameSocket {
    fd: OwnedFd,
    rd: Mutex<ReadState>,
    /// The unsent rest of a frame whose send timed out after it had started.
    wr: Mutex<Vec<u8>>,
}

impl FrameSocket {
    pub(crate) fn new(fd: OwnedFd) -> FrameSocket {
        FrameSocket {
            fd,
            rd: Mutex::new(ReadState::default()),
            wr: Mutex::new(Vec::new()),
        }
    }

    /// A connected pair.
    pub(crate) fn pair() -> io::Result<(FrameSocket, FrameSocket)> {
        let (a, b) = stream_pair_fds(true)?;
        Ok((FrameSocket::new(a), FrameSocket::new(b)))
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Sends one frame. `deadline` bounds the wait before the first byte of the frame is
    /// written (`Err(Timeout)`: nothing of it was sent). When the deadline passes after the frame
    /// has started, its rest is kept and written before the next frame (or when the socket is
    /// dropped), and the send counts as done.
    pub(crate) fn send(
        &self,
        bytes: &[u8],
        fds: &[OwnedFd],
        deadline: Option<Instant>,
    ) -> Result<(), SendFail> {
        let len = u32::try_from(bytes.len()).map_err(|_| {
            SendFail::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame too large",
            ))
        })?;
        let mut header = [0u8; HEADER];
        header[..4].copy_from_slice(&len.to_le_bytes());
        header[4..].copy_from_slice(&(fds.len() as u32).to_le_bytes());
        let block = deadline.is_none();
        let mut pending = self.wr.lock();
        self.flush(&mut pending, deadline)?;
        let total = HEADER + bytes.len();
        let mut written = 0usize;
        while written < total {
            let result = if written == 0 {
                sendmsg_fds(
                    self.fd(),
                    &[IoSlice::new(&header), IoSlice::new(bytes)],
                    fds,
                    block,
                )
            } else if written < HEADER {
                rustix::net::send(self.fd(), &header[written..], send_flags(block))
            } else {
                rustix::net::send(self.fd(), &bytes[written - HEADER..], send_flags(block))
            };
            match result {
                Ok(n) => written += n,
                Err(rustix::io::Errno::AGAIN) => match wait_fd(self.fd(), PollFlags::OUT, deadline)
                {
                    Ok(true) => {}
                    Ok(false) if written == 0 => return Err(SendFail::Timeout),
                    Ok(false) => {
                        if written < HEADER {
                            pending.extend_from_slice(&header[written..]);
                            pending.extend_from_slice(bytes);
                        } else {
                            pending.extend_from_slice(&bytes[written - HEADER..]);
                        }
                        return Ok(());
                    }
                    Err(e) => return Err(SendFail::Io(e)),
                },
                Err(rustix::io::Errno::INTR) => {}
                Err(e) if is_disconnect(e) => return Err(SendFail::Disconnected),
                Err(e) => return Err(SendFail::Io(e.into())),
            }
        }
        Ok(())
    }

    /// Writes the rest of a started frame.
    fn flush(&self, pending: &mut Vec<u8>, deadline: Option<Instant>) -> Result<(), SendFail> {
        while !pending.is_empty() {
            match rustix::net::send(self.fd(), pending, send_flags(deadline.is_none())) {
                Ok(n) => {
                    pending.drain(..n);
                }
                Err(rustix::io::Errno::AGAIN) => match wait_fd(self.fd(), PollFlags::OUT, deadline)
                {
                    Ok(true) => {}
                    Ok(false) => return Err(SendFail::Timeout),
                    Err(e) => return Err(SendFail::Io(e)),
                },
                Err(rustix::io::Errno::INTR) => {}
                Err(e) if is_disconnect(e) => {
                    pending.clear();
                    return Err(SendFail::Disconnected);
                }
                Err(e) => return Err(SendFail::Io(e.into())),
            }
        }
        Ok(())
    }

    /// Sends several frames (`(bytes, descriptors)`) in one write, blocking until all are
    /// written. `Err((why, partial))`: `partial` when some of them was written (the stream to
    /// the other end is then cut in the middle of a frame, and the socket must be dropped).
    pub(crate) fn send_frames(
        &self,
        frames: &[(&[u8], &[OwnedFd])],
    ) -> Result<(), (SendFail, bool)> {
        let mut buf = Vec::with_capacity(frames.iter().map(|f| HEADER + f.0.len()).sum());
        let mut fds: Vec<BorrowedFd<'_>> = Vec::new();
        for (bytes, frame_fds) in frames {
            let len = u32::try_from(bytes.len()).map_err(|_| {
                let e = io::Error::new(io::ErrorKind::InvalidInput, "frame too large");
                (SendFail::Io(e), false)
            })?;
            buf.extend_from_slice(&len.to_le_bytes());
            buf.extend_from_slice(&(frame_fds.len() as u32).to_le_bytes());
            buf.extend_from_slice(bytes);
            fds.extend(frame_fds.iter().map(|f| f.as_fd()));
        }
        if fds.len() > MAX_FDS {
            let e = io::Error::new(io::ErrorKind::InvalidInput, "too many descriptors");
            return Err((SendFail::Io(e), false));
        }
        let mut pending = self.wr.lock();
        self.flush(&mut pending, None).map_err(|e| (e, false))?;
        let mut written = 0usize;
        while written < buf.len() {
            let result = if written == 0 {
                sendmsg_borrowed(self.fd(), &[IoSlice::new(&buf)], &fds, true)
            } else {
                rustix::net::send(self.fd(), &buf[written..], send_flags(true))
            };
            match result {
                Ok(n) => written += n,
                Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => {}
                Err(e) if is_disconnect(e) => return Err((SendFail::Disconnected, written > 0)),
                Err(e) => return Err((SendFail::Io(e.into()), written > 0)),
            }
        }
        Ok(())
    }

    /// Receives one frame of at most `max_len` bytes.
    pub(crate) fn recv(
        &self,
        max_len: usize,
        deadline: Option<Instant>,
    ) -> Result<(Vec<u8>, Vec<OwnedFd>), RecvFail> {
        let mut st = self.rd.lock();
        if let Some(len) = st.broken {
            return Err(RecvFail::TooLarge(len));
        }
        loop {
            let have = st.end - st.start;
            if let Some(len) = st.next_len() {
                let p = st.pending();
                let nfds = u32::from_le_bytes(p[4..8].try_into().unwrap()) as usize;
                if len > max_len || nfds > MAX_FDS {
                    st.broken = Some(len);
                    return Err(RecvFail::TooLarge(len));
                }
                if have >= HEADER + len && st.fds.len() >= nfds {
                    let bytes = p[HEADER..HEADER + len].to_vec();
                    st.start += HEADER + len;
                    if st.start == st.end {
                        st.start = 0;
                        st.end = 0;
                    }
                    let fds = st.fds.drain(..nfds).collect();
                    return Ok((bytes, fds));
                }
            }
            let needed = match st.next_len() {
                Some(len) => (HEADER + len).saturating_sub(have).min(1 << 20),
                None => HEADER - have,
            };
            // Read ahead: later frames (and their descriptors, queued in order behind this
            // one's) come in with the same read.
            st.reserve(needed.max(16 * 1024));
            let ReadState { buf, end, fds, .. } = &mut *st;
            let r = recvmsg_fds(self.fd.as_fd(), &mut buf[*end..], fds, deadline.is_none());
            match r {
                Ok((0, _)) => return Err(RecvFail::Disconnected),
                Ok((n, _)) => st.end += n,
                Err(rustix::io::Errno::AGAIN) => {
                    match wait_fd(self.fd(), PollFlags::IN, deadline) {
                        Ok(true) => {}
                        Ok(false) => return Err(RecvFail::Timeout),
                        Err(e) => return Err(RecvFail::Io(e)),
                    }
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) if is_disconnect(e) => return Err(RecvFail::Disconnected),
                Err(e) => return Err(RecvFail::Io(e.into())),
            }
        }
    }

    /// Whether a whole frame is already read ahead (so `poll` on the socket would not see it).
    pub(crate) fn has_buffered_frame(&self) -> bool {
        self.rd.lock().has_frame()
    }

    /// Whether a frame (or the end of the stream) can be read without waiting.
    pub(crate) fn poll_readable(&self, deadline: Option<Instant>) -> io::Result<bool> {
        if self.rd.lock().has_frame() {
            return Ok(true);
        }
        wait_fd(self.fd(), PollFlags::IN, deadline)
    }
}

impl Drop for FrameSocket {
    fn drop(&mut self) {
        let mut pending = std::mem::take(self.wr.get_mut());
        let _ = self.flush(&mut pending, None);
    }
}

/// A connected pair of stream sockets, close-on-exec.
pub(crate) fn stream_pair_fds(cloexec: bool) -> io::Result<(OwnedFd, OwnedFd)> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let flags = if cloexec {
        SocketFlags::CLOEXEC
    } else {
        SocketFlags::empty()
    };
    Ok(rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        flags,
        None,
    )?)
}

/// Sends one whole message on a `SOCK_SEQPACKET` socket (no waiting).
pub(crate) fn send_packet(
    fd: BorrowedFd<'_>,
    bytes: &[u8],
    fds: &[OwnedFd],
) -> rustix::io::Result<usize> {
    sendmsg_fds(fd, &[IoSlice::new(bytes)], fds, false)
}

/// Receives one whole message from a `SOCK_SEQPACKET` socket (no waiting) into `buf`.
pub(crate) fn recv_packet(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
) -> rustix::io::Result<(usize, bool, Vec<OwnedFd>)> {
    let mut fds = VecDeque::new();
    let (n, truncated) = recvmsg_fds(fd, buf, &mut fds, false)?;
    Ok((n, truncated, fds.into()))
}
