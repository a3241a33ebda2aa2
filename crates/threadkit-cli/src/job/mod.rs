//! Starting one job and waiting for it: its own process group, its output captured, its timeout
//! enforced with TERM then KILL to the whole group.
//!
//! A job is started by `spawn.rs` (`clone3` and a raw-syscall child; std's `posix_spawn` as the
//! fallback), in its own process group. It is waited for with one `poll(2)` over its stdout, its
//! stderr and a pidfd (Linux 5.3+; older kernels fall back to a 20 ms `waitpid(WNOHANG)` tick),
//! so a slot costs one thread and no extra reader threads.
//!
//! A job is finished when its process (the leader of its process group) has exited, as in GNU
//! parallel: what it wrote is read, and its pipes are closed even if a background process it
//! started still holds them (so a daemonizing job never hangs the run). Such a group is kept
//! as "lingering" in [`Running`] while it has members, so Ctrl-C, `--halt now` and a pending
//! timeout KILL still reach it after its leader was reaped.
//!
//! The files, in reading order:
//!
//! 1. `mod.rs` (this file): what a run of a command produced ([`Attempt`]), [`run`]: spawn
//!    the job in its own group, feed its stdin and read its output in one `poll(2)` loop,
//!    enforce its timeout, reap it; and the open-file limit that bounds the slots.
//! 2. `spawn.rs`: starting the job's process (its group, stdio, directory, signals, `PATH`).
//! 3. `groups.rs`: [`Running`], the process groups of all jobs (running and lingering), which
//!    `--halt now`, Ctrl-C and timeouts signal.

mod groups;
mod spawn;

pub(crate) use groups::Running;
pub(crate) use spawn::plan_slots;

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Duration, Instant, SystemTime};

use rustix::event::{poll, PollFd, PollFlags};
use rustix::process::{kill_process_group, Pid, Signal};

use crate::template::Argv;

use crate::pipe::Feed;
use crate::spill::Capture;
use crate::template::Launch;

/// The shell commands run under.
pub(crate) const SHELL: &str = "/bin/sh";

/// Which output stream a piece of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    /// The job's stdout.
    Out,
    /// The job's stderr.
    Err,
}

/// Receives output lines as they come (`--line-buffer`).
pub(crate) trait LineSink: Sync {
    /// Complete lines: `pending` (the start of the first one, read earlier) then `complete`,
    /// which ends with a newline (the last line of a stream may lack it).
    fn lines(&self, stream: Stream, pending: &Capture, complete: &[u8]);
}

/// What one run of a command produced.
#[derive(Debug)]
pub(crate) struct Attempt {
    /// Wall-clock start.
    pub(crate) start: SystemTime,
    /// Run time.
    pub(crate) duration: Duration,
    /// Exit code, if it exited (127/126 when a directly exec'd program is missing / not
    /// executable, as the shell reports them).
    pub(crate) exit: Option<i32>,
    /// The signal that killed it, if one did.
    pub(crate) signal: Option<i32>,
    /// It ran past `--timeout` and was killed.
    pub(crate) timed_out: bool,
    /// Captured stdout (empty when streamed with `--line-buffer`).
    pub(crate) stdout: Capture,
    /// Captured stderr (empty when streamed with `--line-buffer`).
    pub(crate) stderr: Capture,
    /// Bytes of output, also when streamed.
    pub(crate) received: u64,
    /// `--pipe`, `--pipe-part`: bytes of its input the job left unread when it exited (a
    /// failure, as in GNU parallel: no input is dropped silently).
    pub(crate) unread: u64,
}

impl Attempt {
    /// The record of a job that was never started (a stop came first).
    pub(crate) fn not_started() -> Attempt {
        Attempt {
            start: SystemTime::now(),
            duration: Duration::ZERO,
            exit: None,
            signal: None,
            timed_out: false,
            stdout: Capture::default(),
            stderr: Capture::default(),
            received: 0,
            unread: 0,
        }
    }

    /// True if the command exited with code 0 (having read all its input, with `--pipe`).
    pub(crate) fn succeeded(&self) -> bool {
        self.exit == Some(0) && !self.timed_out && self.unread == 0
    }
}

/// How to run and watch one job.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// `--timeout`.
    pub(crate) timeout: Option<Duration>,
    /// `--term-grace`.
    pub(crate) grace: Duration,
    /// `--workdir`: where jobs run (threadkit's own directory when `None`).
    pub(crate) workdir: Option<&'static std::path::Path>,
    /// Which of the job's output streams go straight to threadkit's own, uncaptured.
    pub(crate) discard: Discard,
}

/// Which of a job's output streams nobody can ever see: threadkit's own stream is /dev/null
/// and no log needs the bytes (`--joblog` counts them, `--results` keeps them). Such a stream
/// is the job's own (threadkit's /dev/null, inherited) rather than a pipe: no pipe to make,
/// poll, read and drop per job, and nothing is lost that anyone would have seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Discard {
    /// The job's stdout is threadkit's (/dev/null).
    pub(crate) stdout: bool,
    /// The job's stderr is threadkit's (/dev/null).
    pub(crate) stderr: bool,
}

impl Discard {
    /// Which of threadkit's stdout and stderr are /dev/null (the character device, whatever
    /// path it was opened by).
    pub(crate) fn detect() -> Discard {
        use rustix::fs::{fstat, stat, FileType};
        let Ok(null) = stat("/dev/null") else {
            return Discard::default();
        };
        let is_null = |fd| {
            fstat(fd).is_ok_and(|st| {
                FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice
                    && st.st_rdev == null.st_rdev
            })
        };
        Discard {
            stdout: is_null(std::io::stdout().as_fd()),
            stderr: is_null(std::io::stderr().as_fd()),
        }
    }
}

/// Run one job to completion.
///
/// `line` is the shell command line (used with [`Launch::Shell`]). Output is captured unless
/// `lines` is given, in which case complete lines are handed to it as they arrive. `feed` is
/// written to the job's stdin (`--pipe`), at the same time as its output is read; without
/// it the job's stdin is `/dev/null`.
pub(crate) fn run(
    seq: u64,
    line: &[u8],
    launch: &Launch,
    limits: Limits,
    running: &Running,
    lines: Option<&dyn LineSink>,
    feed: Option<&Feed>,
) -> Result<Attempt, io::Error> {
    let start = SystemTime::now();
    let t0 = Instant::now();
    let mut attempt = Attempt {
        start,
        ..Attempt::not_started()
    };
    let shell;
    let argv = match launch {
        Launch::Shell => {
            shell = Argv::from_words([SHELL.as_bytes(), b"-c", line]);
            &shell
        }
        Launch::Direct(argv) => argv,
    };
    let started = (|| {
        let mut feeder = feed.map(Feeder::new).transpose()?;
        let (out_r, out_w) = output_pipe(limits.discard.stdout)?.unzip();
        let (err_r, err_w) = output_pipe(limits.discard.stderr)?.unzip();
        let stdin = match &feeder {
            Some((_, theirs)) => theirs.as_fd(),
            None => spawn::dev_null()?,
        };
        let fds = spawn::Fds {
            stdin,
            stdout: out_w.as_ref().map(AsFd::as_fd),
            stderr: err_w.as_ref().map(AsFd::as_fd),
        };
        let started = start_retrying(argv, limits.workdir, fds, running)?;
        // The job's ends of its pipes (`out_w`, `err_w`, the feeder's `theirs`) are closed
        // here: the job alone has them now.
        Ok((started, out_r, err_r, feeder.take().map(|(f, _)| f)))
    })();
    let (started, out_r, err_r, mut feeder) = match started {
        Ok(s) => s,
        Err(e) if own_resource_error(&e) => return Err(e),
        Err(e) => {
            let program = match launch {
                Launch::Direct(argv) => String::from_utf8_lossy(argv.program()),
                Launch::Shell => SHELL.into(),
            };
            let (code, what) = match e.kind() {
                io::ErrorKind::NotFound => (127, "not found".to_string()),
                io::ErrorKind::PermissionDenied => (126, "permission denied".to_string()),
                _ => (255, format!("cannot start: {e}")),
            };
            let msg = format!("threadkit: {program}: {what}\n");
            attempt.received = msg.len() as u64;
            match lines {
                Some(sink) => sink.lines(Stream::Err, &Capture::default(), msg.as_bytes()),
                None => attempt.stderr = Capture::from(msg.into_bytes()),
            }
            attempt.exit = Some(code);
            attempt.unread = feed.map_or(0, Feed::len);
            attempt.duration = t0.elapsed();
            return Ok(attempt);
        }
    };
    let mut child = Child {
        pid: started.pid,
        pidfd: started.pidfd,
        stdout: out_r.map(File::from),
        stderr: err_r.map(File::from),
    };
    let pid = child.pid;
    running.register(seq, pid);
    let result = watch(
        &mut child,
        seq,
        pid,
        t0,
        limits,
        running,
        lines,
        feeder.as_mut(),
        &mut attempt,
    );
    match result {
        Ok(Some(kill_at)) => {
            // Timed out and TERMed: what is left of the group gets KILL after the grace.
            running.kill_lingering_at(pid, kill_at);
        }
        Ok(None) => {}
        Err(_) => {
            // Could not watch the child (poll failed): make sure it is gone, then reap it.
            let _ = kill_process_group(pid, Signal::KILL);
            running.unregister(seq);
            if let Ok(st) = wait_pid(pid, true) {
                attempt.exit = st.and_then(|s| s.code());
                attempt.signal = st.and_then(|s| s.signal());
            }
        }
    }
    attempt.duration = t0.elapsed();
    Ok(attempt)
}

/// A resource of threadkit's own ran out (descriptors, processes, memory): not the job's
/// failure, which must not be recorded as if the job had run.
fn own_resource_error(e: &io::Error) -> bool {
    use rustix::io::Errno;
    matches!(
        Errno::from_io_error(e),
        Some(Errno::MFILE | Errno::NFILE | Errno::AGAIN | Errno::NOMEM)
    )
}

/// Start the job, and while that fails for want of a resource of our own, wait for another
/// job to finish (which frees its descriptors and process) and retry; give up when none is
/// running or the run is being stopped.
fn start_retrying(
    argv: &Argv,
    workdir: Option<&'static std::path::Path>,
    fds: spawn::Fds<'_>,
    running: &Running,
) -> io::Result<spawn::Started> {
    loop {
        match spawn::start(argv, workdir, fds) {
            Err(e) if own_resource_error(&e) => {
                let g = running.lock();
                if g.running.is_empty() || running.stopping() {
                    return Err(e);
                }
                let _ = running
                    .wake
                    .wait_timeout(g, Duration::from_millis(50))
                    .unwrap_or_else(|e| e.into_inner());
            }
            other => return other,
        }
    }
}

/// A pipe for one of the job's output streams, unless it goes straight to threadkit's own:
/// (our read end, the job's write end), both close-on-exec.
fn output_pipe(discard: bool) -> io::Result<Option<(OwnedFd, OwnedFd)>> {
    if discard {
        return Ok(None);
    }
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    Ok(Some((r, w)))
}

/// A started job: its pid, a pidfd (when the kernel has them) and our ends of its output
/// pipes.
#[derive(Debug)]
pub(super) struct Child {
    pub(super) pid: Pid,
    pidfd: Option<OwnedFd>,
    stdout: Option<File>,
    stderr: Option<File>,
}

/// Reap `pid` if it has exited (waiting for it if `block`); `None` if it has not yet.
pub(super) fn wait_pid(pid: Pid, block: bool) -> io::Result<Option<ExitStatus>> {
    use rustix::process::{waitpid, WaitOptions};
    let opts = if block {
        WaitOptions::empty()
    } else {
        WaitOptions::NOHANG
    };
    loop {
        match waitpid(Some(pid), opts) {
            Ok(st) => return Ok(st.map(|(_, st)| ExitStatus::from_raw(st.as_raw()))),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Descriptors one job slot holds at most: its stdout and stderr pipes (both ends while it
/// starts), its stdin pipe (both ends and the job's copy while it starts, with `--pipe`) or
/// `/dev/null`, and a pidfd.
const FDS_PER_SLOT: u64 = 8;

/// Descriptors kept free for everything else: the journal, the logs, input files, the spill
/// file, the Ctrl-C handler, /proc scans.
const FDS_RESERVED: u64 = 32;

/// Raise the soft open-file limit to the hard one (as GNU parallel does).
pub(crate) fn raise_open_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let lim = getrlimit(Resource::Nofile);
    if lim.current.is_some() && lim.current != lim.maximum {
        let want = Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        };
        if setrlimit(Resource::Nofile, want).is_err() {
            // An unlimited hard limit is more than the kernel allows: try its ceiling.
            if let Some(max) = std::fs::read_to_string("/proc/sys/fs/nr_open")
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                let _ = setrlimit(
                    Resource::Nofile,
                    Rlimit {
                        current: Some(max),
                        maximum: lim.maximum,
                    },
                );
            }
        }
    }
}

/// How many of `slots` job slots the open-file limit allows, given the descriptors already
/// open; with the limit when that is fewer.
pub(crate) fn slots_for_open_files(slots: usize) -> (usize, Option<u64>) {
    let Some(limit) = rustix::process::getrlimit(rustix::process::Resource::Nofile).current else {
        return (slots, None);
    };
    let open = std::fs::read_dir("/proc/self/fd").map_or(16, |d| d.count() as u64);
    let room = limit.saturating_sub(open + FDS_RESERVED) / FDS_PER_SLOT;
    if room >= slots as u64 {
        (slots, None)
    } else {
        (room.max(1) as usize, Some(limit))
    }
}

/// Per-stream reading state.
struct Pipe<R> {
    reader: Option<R>,
    /// The output so far; with `--line-buffer`, the start of a line not yet complete.
    buf: Capture,
    stream: Stream,
}

impl<R: Read + AsFd> Pipe<R> {
    /// Read what is available; returns false at EOF.
    fn pump(&mut self, lines: Option<&dyn LineSink>, received: &mut u64) -> bool {
        let Some(r) = self.reader.as_mut() else {
            return false;
        };
        let mut chunk = [0u8; 64 * 1024];
        match r.read(&mut chunk) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => true,
            Ok(0) | Err(_) => {
                self.close(lines);
                false
            }
            Ok(n) => {
                *received += n as u64;
                let data = &chunk[..n];
                // Only the new bytes are searched for a newline: linear in a line's length.
                match lines.map(|sink| (sink, data.iter().rposition(|&b| b == b'\n'))) {
                    Some((sink, Some(nl))) => {
                        sink.lines(self.stream, &self.buf, &data[..=nl]);
                        self.buf.clear();
                        self.buf.push(&data[nl + 1..]);
                    }
                    _ => self.buf.push(data),
                }
                true
            }
        }
    }

    /// The job's leader exited: read what is in the pipe now (everything the leader wrote),
    /// then close it. Background processes of the job that still hold the pipe's other end
    /// get EPIPE (SIGPIPE) if they write later.
    fn drain(&mut self, lines: Option<&dyn LineSink>, received: &mut u64) {
        let Some(r) = &self.reader else { return };
        let mut left = rustix::io::ioctl_fionread(r).unwrap_or(0);
        while left > 0 {
            let before = *received;
            if !self.pump(lines, received) {
                return;
            }
            left = left.saturating_sub(*received - before);
        }
        self.close(lines);
    }

    /// End of this stream: hand over a last line without a newline, stop reading.
    fn close(&mut self, lines: Option<&dyn LineSink>) {
        if let Some(sink) = lines {
            if !self.buf.is_empty() {
                sink.lines(self.stream, &self.buf, &[]);
                self.buf.clear();
            }
        }
        self.reader = None;
    }
}

/// Watch the job until its leader exits: read its output, enforce its timeout. Returns the
/// time at which what is left of its group must get KILL, when a timeout's TERM is pending.
#[allow(clippy::too_many_arguments)]
fn watch(
    child: &mut Child,
    seq: u64,
    pid: Pid,
    t0: Instant,
    limits: Limits,
    running: &Running,
    lines: Option<&dyn LineSink>,
    mut feeder: Option<&mut Feeder<'_>>,
    attempt: &mut Attempt,
) -> io::Result<Option<Instant>> {
    let mut out = Pipe {
        reader: child.stdout.take(),
        buf: Capture::default(),
        stream: Stream::Out,
    };
    let mut err = Pipe {
        reader: child.stderr.take(),
        buf: Capture::default(),
        stream: Stream::Err,
    };
    let pidfd: Option<OwnedFd> = child.pidfd.take();
    let mut deadline = limits.timeout.map(|t| t0 + t);
    let mut kill_at: Option<Instant> = None;
    let status = loop {
        if pidfd.is_none() {
            if let Some(st) = running.reap(seq, pid, false)? {
                break st;
            }
        }
        let now = Instant::now();
        if let Some(d) = deadline {
            if now >= d {
                attempt.timed_out = true;
                deadline = None;
                let _ = kill_process_group(pid, Signal::TERM);
                kill_at = Some(now + limits.grace);
            }
        }
        if let Some(k) = kill_at {
            if now >= k {
                kill_at = None;
                let _ = kill_process_group(pid, Signal::KILL);
            }
        }
        let mut wait = [deadline, kill_at]
            .into_iter()
            .flatten()
            .min()
            .map(|d| d.saturating_duration_since(now));
        if pidfd.is_none() {
            wait = Some(wait.map_or(Duration::from_millis(20), |w| {
                w.min(Duration::from_millis(20))
            }));
        }
        let timeout = wait.map(|w| {
            rustix::event::Timespec::try_from(w).unwrap_or(rustix::event::Timespec {
                tv_sec: i64::MAX,
                tv_nsec: 0,
            })
        });
        let (ready_out, ready_err, ready_pid, ready_in) = {
            let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(4);
            let mut idx = [usize::MAX; 4];
            if let Some(r) = &out.reader {
                idx[0] = fds.len();
                fds.push(PollFd::new(r, PollFlags::IN));
            }
            if let Some(r) = &err.reader {
                idx[1] = fds.len();
                fds.push(PollFd::new(r, PollFlags::IN));
            }
            if let Some(p) = &pidfd {
                idx[2] = fds.len();
                fds.push(PollFd::new(p, PollFlags::IN));
            }
            if let Some(w) = feeder.as_ref().and_then(|f| f.pipe.as_ref()) {
                idx[3] = fds.len();
                fds.push(PollFd::new(w, PollFlags::OUT));
            }
            match poll(&mut fds, timeout.as_ref()) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let ready = |i: usize| i != usize::MAX && !fds[i].revents().is_empty();
            (ready(idx[0]), ready(idx[1]), ready(idx[2]), ready(idx[3]))
        };
        if ready_in {
            if let Some(f) = feeder.as_mut() {
                f.pump();
            }
        }
        if ready_out {
            out.pump(lines, &mut attempt.received);
        }
        if ready_err {
            err.pump(lines, &mut attempt.received);
        }
        if ready_pid {
            // The pidfd is readable once the leader has exited: the wait does not block.
            if let Some(st) = running.reap(seq, pid, true)? {
                break st;
            }
        }
    };
    // The job is finished when its leader has exited (as in GNU parallel): take what it wrote
    // and stop reading, also if a background process keeps the pipes open.
    out.drain(lines, &mut attempt.received);
    err.drain(lines, &mut attempt.received);
    if let Some(f) = feeder {
        attempt.unread = f.unread();
    }
    attempt.exit = status.code();
    attempt.signal = status.signal();
    if lines.is_none() {
        attempt.stdout = out.buf;
        attempt.stderr = err.buf;
    }
    Ok(kill_at)
}

/// Writes a job's input (`--pipe`) into its stdin pipe as the pipe takes it, from the job's
/// poll loop: never blocking, so the job's output is read meanwhile and a job that writes
/// before it reads cannot deadlock with us.
struct Feeder<'a> {
    feed: &'a Feed,
    /// Our (non-blocking) end; `None` once everything was written or the job cannot take more.
    pipe: Option<OwnedFd>,
    /// The pipe's read end, kept so that what the job left in the pipe can be counted.
    reader: OwnedFd,
    /// Bytes written so far.
    done: u64,
}

impl<'a> Feeder<'a> {
    /// A pipe for `feed`, and the job's end of it (its stdin).
    fn new(feed: &'a Feed) -> io::Result<(Feeder<'a>, OwnedFd)> {
        use rustix::pipe::{pipe_with, PipeFlags};
        let (reader, writer) = pipe_with(PipeFlags::CLOEXEC)?;
        rustix::fs::fcntl_setfl(&writer, rustix::fs::OFlags::NONBLOCK)?;
        // Fewer, larger writes; the default (64 KiB) stays if the system refuses.
        let _ = rustix::pipe::fcntl_setpipe_size(&writer, 1 << 20);
        let theirs = reader.try_clone()?;
        let mut feeder = Feeder {
            feed,
            pipe: Some(writer),
            reader,
            done: 0,
        };
        if feed.len() == 0 {
            feeder.pipe = None;
        }
        Ok((feeder, theirs))
    }

    /// Write what the pipe takes now.
    fn pump(&mut self) {
        use rustix::io::Errno;
        let total = self.feed.len();
        while let Some(pipe) = &self.pipe {
            let left = total - self.done;
            let wrote = match self.feed {
                Feed::Block(b) => rustix::io::write(pipe, &b[self.done as usize..]),
                Feed::Part { file, start, .. } => {
                    // File to pipe inside the kernel: the bytes never reach threadkit.
                    let mut off = start + self.done;
                    rustix::pipe::splice(
                        &**file,
                        Some(&mut off),
                        pipe,
                        None,
                        left.min(usize::MAX as u64) as usize,
                        rustix::pipe::SpliceFlags::NONBLOCK | rustix::pipe::SpliceFlags::MOVE,
                    )
                }
            };
            match wrote {
                Ok(0) => self.pipe = None,
                Ok(n) => {
                    self.done += n as u64;
                    if self.done >= total {
                        // End of input for the job.
                        self.pipe = None;
                    }
                }
                Err(Errno::AGAIN) => return,
                Err(Errno::INTR) => {}
                // The file shrank or cannot be read, or the pipe broke: the rest is unread.
                Err(_) => self.pipe = None,
            }
        }
    }

    /// Bytes the job did not read: not written yet, or still in the pipe.
    fn unread(&self) -> u64 {
        let in_pipe = rustix::io::ioctl_fionread(&self.reader).unwrap_or(0);
        self.feed.len() - self.done + in_pipe
    }
}
